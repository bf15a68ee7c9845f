// SPDX-License-Identifier: MIT
/* The local ingress's naming (ingress.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "ingress.h"

/* a DNS label as names.c takes one: [a-z0-9-], no '-' at either end */
static bool label_ok(const char *s, size_t n)
{
	if (n == 0 || n >= AZDS_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

struct labels {
	const char *p[AZDS_DEPTH_HARD_MAX + 3]; /* children, "s", root, service */
	size_t len[AZDS_DEPTH_HARD_MAX + 3];
	size_t n;
};

static int split(const char *h, size_t len, struct labels *l)
{
	const char *p = h, *end = h + len;

	l->n = 0;
	while (p <= end) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);

		if (!label_ok(p, n) || l->n == sizeof(l->p) / sizeof(l->p[0]))
			return -EINVAL;
		l->p[l->n] = p;
		l->len[l->n++] = n;
		if (!dot)
			break;
		p = dot + 1;
	}
	return 0;
}

/* labels[0..k), most specific first, as a path below root: "alice/x" */
static int child_path(const struct labels *l, size_t k, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = 0;
	for (size_t i = k; i-- > 0;) {
		int n = snprintf(out + o, cap - o, "%s%.*s", o ? "/" : "", (int)l->len[i], l->p[i]);

		if (n < 0 || (size_t)n >= cap - o)
			return -ENAMETOOLONG;
		o += (size_t)n;
	}
	return 0;
}

int ingress_parse_host(const char *host, size_t len, struct ingress_target *t)
{
	const size_t sl = sizeof(INGRESS_HOST_SUFFIX) - 1;
	const char *colon;
	struct labels l = { .n = 0 };
	char h[256];
	size_t n;
	int err;

	memset(t, 0, sizeof(*t));
	if (len && host[0] == '[')
		return -EINVAL; /* an IPv6 literal */
	colon = memchr(host, ':', len);
	if (colon)
		len = (size_t)(colon - host);
	if (len && host[len - 1] == '.')
		len--;
	if (len >= sizeof(h))
		return -ENAMETOOLONG;
	for (size_t i = 0; i < len; i++)
		h[i] = host[i] >= 'A' && host[i] <= 'Z' ? (char)(host[i] - 'A' + 'a') : host[i];
	if (len <= sl || memcmp(h + len - sl, INGRESS_HOST_SUFFIX, sl))
		return -EINVAL;
	if (split(h, len - sl, &l) || l.n == 0)
		return -EINVAL;
	n = l.n;
	snprintf(t->service, sizeof(t->service), "%.*s", (int)l.len[n - 1], l.p[n - 1]);
	if (n == 1) {
		snprintf(t->space, sizeof(t->space), "default");
		return 0;
	}
	if (n == 2) {
		snprintf(t->space, sizeof(t->space), "%.*s", (int)l.len[0], l.p[0]);
		return 0;
	}
	/* <children...>.s.<root>.<service> */
	if (n < 4 || l.len[n - 3] != 1 || l.p[n - 3][0] != 's')
		return -EINVAL;
	err = child_path(&l, n - 3, t->route_as, sizeof(t->route_as));
	if (err)
		return err;
	n = (size_t)snprintf(t->space, sizeof(t->space), "%.*s/%s", (int)l.len[n - 2], l.p[n - 2], t->route_as);
	return n < sizeof(t->space) ? 0 : -ENAMETOOLONG;
}

int ingress_preamble_start(const char *buf, size_t len)
{
	const size_t kl = sizeof(INGRESS_PREAMBLE) - 1;

	if (memcmp(buf, INGRESS_PREAMBLE, len < kl ? len : kl))
		return -1;
	return len >= kl ? 1 : 0;
}

/* a space path's every level a label */
static bool path_ok(const char *p, size_t len)
{
	const char *end = p + len;

	if (len == 0 || len >= AZDS_PATH_MAX)
		return false;
	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);

		if (!label_ok(p, n))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

int ingress_parse_preamble(const char *buf, size_t len, struct ingress_target *t, const char **why)
{
	const size_t kl = sizeof(INGRESS_PREAMBLE) - 1;
	const char *lf, *svc, *sp, *sep, *slash;
	size_t line;

	memset(t, 0, sizeof(*t));
	*why = NULL;
	lf = memchr(buf, '\n', len < INGRESS_PREAMBLE_MAX ? len : INGRESS_PREAMBLE_MAX);
	if (!lf) {
		if (len < INGRESS_PREAMBLE_MAX)
			return 0;
		*why = "the forward preamble is longer than 512 bytes";
		return -EINVAL;
	}
	line = (size_t)(lf - buf);
	if (line < kl + 1 || buf[line - 1] != '\r') {
		*why = "the forward preamble must end with CRLF";
		return -EINVAL;
	}
	svc = buf + kl;
	sep = memchr(svc, ' ', (size_t)(buf + line - 1 - svc));
	if (!sep) {
		*why = "the forward preamble is \"AZDS-FORWARD <service> <space-path>\"";
		return -EINVAL;
	}
	sp = sep + 1;
	if (!label_ok(svc, (size_t)(sep - svc))) {
		*why = "the forward preamble's service is no name (a-z, 0-9 and '-')";
		return -EINVAL;
	}
	if (!path_ok(sp, (size_t)(buf + line - 1 - sp))) {
		*why = "the forward preamble's space is no space path (levels of a-z, 0-9 and '-', separated by '/')";
		return -EINVAL;
	}
	snprintf(t->service, sizeof(t->service), "%.*s", (int)(sep - svc), svc);
	snprintf(t->space, sizeof(t->space), "%.*s", (int)(buf + line - 1 - sp), sp);
	slash = strchr(t->space, '/');
	if (slash)
		snprintf(t->route_as, sizeof(t->route_as), "%s", slash + 1);
	return (int)line + 1;
}
