// SPDX-License-Identifier: MIT
/* Names of spaces, services, pods and instances: DNS-label rules. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "azds.h"

static bool label_ok(const char *s, size_t n)
{
	if (n == 0 || n >= AZDS_NAME_MAX)
		return false;
	if (s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* a name as an error message shows it: at most 64 bytes (the rule that
 * follows must fit the message), and a byte a terminal would act on (an
 * escape sequence) as '?' */
static const char *shown(const char *s, char *buf, size_t cap)
{
	size_t n = strlen(s), o = 0, keep = n > 64 ? 60 : n;

	for (size_t i = 0; i < keep && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (keep < n && o + 4 < cap) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = 0;
	return buf;
}

int azds_name_valid(const char *what, const char *name, struct azds_err *e)
{
	char b[72];

	if (!name || !label_ok(name, strlen(name)))
		return azds_err(e, EINVAL,
				"%s \"%s\": must be 1-%d characters of a-z, 0-9 and '-', not starting or ending with '-'",
				what, shown(name ? name : "", b, sizeof(b)), AZDS_NAME_MAX - 1);
	return 0;
}

int azds_space_path_valid(const char *path, struct azds_err *e)
{
	size_t len = path ? strlen(path) : 0;
	const char *p = path, *slash;

	char b[72];

	if (len == 0 || len >= AZDS_PATH_MAX)
		return azds_err(e, EINVAL, "space \"%s\": path must be 1-%d characters (this one has %zu)",
				shown(path ? path : "", b, sizeof(b)), AZDS_PATH_MAX - 1, len);
	for (;;) {
		slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (!label_ok(p, n))
			return azds_err(e, EINVAL,
					"space \"%s\": each level must be 1-%d characters of a-z, 0-9 and '-', not starting or ending with '-' (levels are separated by '/')",
					shown(path, b, sizeof(b)), AZDS_NAME_MAX - 1);
		if (!slash)
			break;
		p = slash + 1;
	}
	return 0;
}

void azds_space_dns(const char *path, char *buf, size_t len)
{
	const char *end = path + strlen(path);
	size_t o = 0;

	/* dev/alice/x -> x.alice.dev.azds: most specific label first */
	while (end > path && o < len) {
		const char *start = end;

		while (start > path && start[-1] != '/')
			start--;
		o += snprintf(buf + o, len - o, "%.*s.", (int)(end - start), start);
		end = start > path ? start - 1 : path;
	}
	if (o < len)
		snprintf(buf + o, len - o, "%s", AZDS_DNS_DOMAIN);
}
