/* SPDX-License-Identifier: MIT */
/* A few check macros for the k8s client's unit tests: count, print, go on. */
#ifndef KT_H
#define KT_H

#include <stdio.h>
#include <string.h>

static int kt_failed, kt_passed;

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		if (cond) {                                                                                            \
			kt_passed++;                                                                                   \
		} else {                                                                                               \
			kt_failed++;                                                                                   \
			fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond);                             \
			fprintf(stderr, __VA_ARGS__);                                                                  \
			fputc('\n', stderr);                                                                           \
		}                                                                                                      \
	} while (0)

/* The error message holds NEEDLE. */
#define CHECK_MSG(e, needle)                                                                                           \
	CHECK(strstr((e)->msg, (needle)) != NULL, "message \"%s\" lacks \"%s\"", (e)->msg, (needle))

static inline int kt_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, kt_passed, kt_failed);
	return kt_failed ? 1 : 0;
}

#endif
