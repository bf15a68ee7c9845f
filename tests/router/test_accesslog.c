// SPDX-License-Identifier: MIT
/*
 * The router's access log (userspace/router/accesslog.c): a batch of lines
 * larger than the size bound keeps its newest whole lines, never a cut
 * line, never past the bound; a single line longer than the bound is not
 * kept; rotation keeps the file within its bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "router.h"

static int failures;

#define CHECK(c, ...)                                                                                            \
	do {                                                                                                     \
		if (c) {                                                                                         \
			printf("ok   ");                                                                         \
		} else {                                                                                         \
			printf("FAIL ");                                                                         \
			failures++;                                                                              \
		}                                                                                                \
		printf(__VA_ARGS__);                                                                             \
		printf("\n");                                                                                    \
	} while (0)

static size_t slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = 0;
	fclose(f);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/azds-alog-XXXXXX", path[256], rot[270], err[256], *batch, got[65536];
	struct access_log *l;
	size_t len = 0, n;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/access.log", dir);
	snprintf(rot, sizeof(rot), "%s.1", path);
	l = alog_open(path, 4096, err, sizeof(err));
	CHECK(l != NULL, "open with a 4096-byte bound (%s)", l ? "" : err);
	if (!l)
		return 1;

	/* 100 lines of 100 bytes in one batch: 10,000 bytes for a 4,096 bound */
	batch = malloc(100 * 100 + 1);
	for (int i = 0; i < 100; i++)
		len += (size_t)sprintf(batch + len, "line-%03d %090d\n", i, 0);
	alog_write(l, batch, len);
	n = slurp(path, got, sizeof(got));
	CHECK(n > 0 && n <= 4096, "a batch over the bound is written within it (%zu bytes)", n);
	CHECK(n >= 100 && !strncmp(got + n - 100, "line-099 ", 9), "... with its newest line last");
	CHECK(!strncmp(got, "line-", 5) && (n % 100) == 0, "... and whole lines only (%zu of them)", n / 100);

	/* a line longer than the bound on its own is not kept, and nothing is cut */
	char *huge = malloc(5000);
	memset(huge, 'x', 4999);
	huge[4999] = '\n';
	alog_write(l, huge, 5000);
	CHECK(slurp(path, got, sizeof(got)) == n, "a single line longer than the bound is not kept");

	/* a line that fits is added; the next that would pass the bound rotates first */
	alog_write(l, "after\n", 6);
	n = slurp(path, got, sizeof(got));
	CHECK(n == 4006 && !strcmp(got + 4000, "after\n"), "a line that fits is added (%zu bytes)", n);
	alog_write(l, batch, 100);
	n = slurp(path, got, sizeof(got));
	struct stat st;
	CHECK(n == 100 && !strncmp(got, "line-000 ", 9), "the next one rotates: the new file holds it alone (%zu bytes)",
	      n);
	CHECK(stat(rot, &st) == 0 && st.st_size == 4006, "the rotated file holds what was there (%lld bytes)",
	      (long long)st.st_size);
	alog_close(l);
	unlink(path);
	unlink(rot);
	rmdir(dir);
	free(batch);
	free(huge);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
