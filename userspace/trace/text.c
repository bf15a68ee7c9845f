// SPDX-License-Identifier: MIT
/*
 * One emitted request as JSON text (docs/trace.md lists the fields),
 * written straight into one buffer: no tree of allocations. The controller
 * keeps requests as this text; azds_trace_req_json (json.c) parses it.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asm_int.h"

/* room for n more bytes and the final NUL: false (o->oom set) when there is none */
bool __attribute__((noinline)) azds_tr_out_grow(struct tr_out *o, size_t n)
{
	size_t nc = o->cap ? o->cap : 4096;
	char *np;

	if (o->oom)
		return false;
	while (nc < o->len + n + 1)
		nc *= 2;
	np = realloc(o->p, nc);
	if (!np) {
		o->oom = true;
		return false;
	}
	o->p = np;
	o->cap = nc;
	return true;
}

static void puts_(struct tr_out *o, const char *s)
{
	tr_put(o, s, strlen(s));
}

/* an unsigned number in decimal (no printf: this runs for every field of every request) */
static void put_u64(struct tr_out *o, uint64_t v)
{
	char b[24];
	size_t i = sizeof(b);

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	tr_put(o, b + i, sizeof(b) - i);
}

static void put_i64(struct tr_out *o, int64_t v)
{
	if (v < 0) {
		tr_put(o, "-", 1);
		put_u64(o, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(o, (uint64_t)v);
	}
}

static void __attribute__((format(printf, 2, 3))) putf(struct tr_out *o, const char *fmt, ...)
{
	char b[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n > 0)
		tr_put(o, b, (size_t)n < sizeof(b) ? (size_t)n : sizeof(b) - 1);
}

/*
 * The next code point of valid UTF-8 at s (as jansson accepts it: no
 * overlong forms, no surrogates, at most U+10FFFF): its length, 0 if
 * invalid.
 */
static size_t utf8_next(const unsigned char *s, unsigned *cp)
{
	unsigned c = s[0], n, v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, v = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, v = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, v = c & 0x07, min = 0x10000;
	else
		return 0;
	for (unsigned i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

static bool utf8_ok(const char *s)
{
	unsigned cp;

	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_next(p, &cp);

		if (!n)
			return false;
		p += n;
	}
	return true;
}

/* s as a JSON string, ASCII only (as httpd's dumps: JSON_ENSURE_ASCII); s is valid UTF-8 */
static void str_valid(struct tr_out *o, const char *s)
{
	unsigned cp;

	tr_put(o, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		const unsigned char *run = p;
		size_t n;

		/* a run of plain characters goes in one copy */
		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p > run) {
			tr_put(o, (const char *)run, (size_t)(p - run));
			continue;
		}
		n = utf8_next(p, &cp);
		p += n ? n : 1;
		if (cp == '"')
			puts_(o, "\\\"");
		else if (cp == '\\')
			puts_(o, "\\\\");
		else if (cp == '\n')
			puts_(o, "\\n");
		else if (cp == '\r')
			puts_(o, "\\r");
		else if (cp == '\t')
			puts_(o, "\\t");
		else if (cp == '\b')
			puts_(o, "\\b");
		else if (cp == '\f')
			puts_(o, "\\f");
		else if (cp < 0x10000)
			putf(o, "\\u%04X", cp);
		else
			putf(o, "\\u%04X\\u%04X", 0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
	}
	tr_put(o, "\"", 1);
}

/* a pod's bytes as a JSON string: invalid UTF-8 becomes '?' (a value must not lose its hop) */
static void str(struct tr_out *o, const char *s)
{
	char buf[AZDS_TRACE_TARGET_MAX];
	size_t i;

	if (utf8_ok(s)) {
		str_valid(o, s);
		return;
	}
	for (i = 0; s[i] && i < sizeof(buf) - 1; i++)
		buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	buf[i] = 0;
	str_valid(o, buf);
}

static void key(struct tr_out *o, const char *k, bool first)
{
	if (!first)
		tr_put(o, ",", 1);
	tr_put(o, "\"", 1);
	puts_(o, k);
	tr_put(o, "\":", 2);
}

static void ms(struct tr_out *o, __u64 from, __u64 to)
{
	double v = to >= from ? (double)(to - from) / 1e6 : 0;

	putf(o, "%.3f", round(v * 1000) / 1000);
}

/* a name's value: repeated fields are merged, their values in order, comma separated */
struct merged {
	char value[AZDS_TRACE_HEADERS_MAX * (AZDS_TRACE_VALUE_MAX + 2)];
};

static void sanitize(char *v, size_t cap)
{
	if (utf8_ok(v))
		return;
	for (size_t i = 0; v[i]; i++)
		if (i >= AZDS_TRACE_TARGET_MAX - 1 || i >= cap - 1) {
			v[i] = 0;
			break;
		} else if ((unsigned char)v[i] >= 0x80) {
			v[i] = '?';
		}
}

static void headers(struct tr_out *o, const struct azds_trace_msg *m)
{
	static __thread struct merged u;
	unsigned n = m->nheaders < AZDS_TRACE_HEADERS_MAX ? m->nheaders : AZDS_TRACE_HEADERS_MAX;
	bool first = true;

	tr_put(o, "{", 1);
	for (unsigned i = 0; i < n; i++) {
		const struct azds_trace_header *h = &m->headers[i];
		unsigned j;
		size_t len;

		if (!utf8_ok(h->name))
			continue; /* not a JSON key (names are tokens: never in practice) */
		/* a name seen before went out with its first occurrence */
		for (j = 0; j < i && strcmp(m->headers[j].name, h->name); j++)
			;
		if (j < i)
			continue;
		if (!first)
			tr_put(o, ",", 1);
		first = false;
		str_valid(o, h->name);
		tr_put(o, ":", 1);
		for (j = i + 1; j < n && strcmp(m->headers[j].name, h->name); j++)
			;
		if (j == n) {
			/* seen once (the usual): its value as it is */
			str(o, h->value);
			continue;
		}
		/* a repeated field: its values in order, comma separated (RFC 9110 5.3) */
		len = strnlen(h->value, sizeof(h->value) - 1);
		memcpy(u.value, h->value, len);
		u.value[len] = 0;
		sanitize(u.value, sizeof(u.value));
		len = strlen(u.value);
		for (; j < n; j++) {
			size_t nl;

			if (strcmp(m->headers[j].name, h->name))
				continue;
			nl = strnlen(m->headers[j].value, sizeof(m->headers[j].value) - 1);
			if (len + 2 + nl >= sizeof(u.value))
				continue;
			memcpy(u.value + len, ", ", 2);
			memcpy(u.value + len + 2, m->headers[j].value, nl);
			u.value[len + 2 + nl] = 0;
			/* made valid again after each value joins */
			sanitize(u.value, sizeof(u.value));
			len = strlen(u.value);
		}
		str_valid(o, u.value);
	}
	tr_put(o, "}", 1);
}

static void hop(struct tr_out *o, const struct azds_trace_hop *h, const struct azds_trace_json_opts *jo)
{
	char target[AZDS_TRACE_TARGET_MAX];
	char *q;

	memcpy(target, h->target, sizeof(target));
	target[sizeof(target) - 1] = 0;
	if (!jo->show_query && (q = strchr(target, '?')))
		*q = 0;
	tr_put(o, "{", 1);
	key(o, "id", true);
	put_u64(o, h->id);
	key(o, "parent", false);
	put_u64(o, h->parent);
	key(o, "caller", false);
	str(o, h->caller);
	key(o, "caller_pod", false);
	str(o, h->caller_pod);
	key(o, "caller_space", false);
	str(o, h->caller_space);
	key(o, "service", false);
	str(o, h->service);
	key(o, "pod", false);
	str(o, h->pod);
	key(o, "space", false);
	str(o, h->space);
	key(o, "asked_space", false);
	str(o, h->asked_space);
	key(o, "reason", false);
	str(o, h->reason);
	key(o, "method", false);
	str(o, h->method);
	key(o, "target", false);
	str(o, target);
	key(o, "route_as", false);
	str(o, h->route_as);
	key(o, "traceparent", false);
	str(o, h->traceparent);
	key(o, "status", false);
	put_i64(o, h->status);
	key(o, "start_ms", false);
	put_i64(o, ((__s64)h->start_ns + jo->mono_to_unix_ns) / 1000000);
	key(o, "duration_ms", false);
	ms(o, h->start_ns, h->end_ns);
	key(o, "server_ms", false);
	if (h->server_start_ns)
		ms(o, h->server_start_ns, h->server_end_ns);
	else
		puts_(o, "null");
	key(o, "req_bytes", false);
	put_u64(o, h->req_bytes);
	key(o, "resp_bytes", false);
	put_u64(o, h->resp_bytes);
	key(o, "truncated", false);
	puts_(o, h->truncated || h->req.truncated || h->resp.truncated ? "true" : "false");
	key(o, "request_headers", false);
	headers(o, &h->req);
	key(o, "response_headers", false);
	headers(o, &h->resp);
	tr_put(o, "}", 1);
}

char *azds_trace_req_text(const struct azds_trace_req *req, const struct azds_trace_json_opts *jo, __u64 seq)
{
	static const struct azds_trace_json_opts dflt;
	struct tr_out o = { 0 };
	__s64 t = 0;

	if (!req)
		return NULL;
	if (!jo)
		jo = &dflt;
	if (!utf8_ok(req->trace_id))
		return NULL; /* not a JSON string (the assembler's ids are hex) */
	if (req->nhops && req->hops[0])
		t = ((__s64)req->hops[0]->start_ns + jo->mono_to_unix_ns) / 1000000;
	tr_put(&o, "{", 1);
	key(&o, "trace_id", true);
	str_valid(&o, req->trace_id);
	key(&o, "time", false);
	put_i64(&o, t);
	key(&o, "hops", false);
	tr_put(&o, "[", 1);
	for (unsigned i = 0; i < req->nhops && i < AZDS_TRACE_HOPS_MAX; i++) {
		if (!req->hops[i]) {
			free(o.p);
			return NULL; /* a request with a hole is not given out */
		}
		if (i)
			tr_put(&o, ",", 1);
		hop(&o, req->hops[i], jo);
	}
	tr_put(&o, "]", 1);
	if (seq) {
		key(&o, "seq", false);
		put_u64(&o, seq);
	}
	tr_put(&o, "}", 1);
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	o.p[o.len] = 0; /* put keeps room for it */
	return o.p;
}
