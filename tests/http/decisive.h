/* SPDX-License-Identifier: MIT */
/*
 * Shared by the parser's unit tests and its fuzzer. Bytes after which the
 * plain parser's answer is final, found without the scanner's code: the end
 * of the head, a bare CR or LF, a control byte, or max_head bytes buffered.
 * Up to there the _inc variant may still say INCOMPLETE where the plain
 * parser already refuses; from there on it must agree with it exactly.
 */
#ifndef AZDS_TEST_DECISIVE_H
#define AZDS_TEST_DECISIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static inline bool decisive(const char *in, size_t len, size_t max_head)
{
	size_t lim = len < max_head ? len : max_head, i;

	if (len >= max_head)
		return true;
	for (i = 0; i < lim; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\n' && (i == 0 || in[i - 1] != '\r'))
			return true;
		if (c == '\r' && i + 1 < lim && in[i + 1] != '\n')
			return true;
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			return true;
		if (i >= 3 && memcmp(in + i - 3, "\r\n\r\n", 4) == 0)
			return true;
	}
	return false;
}

#endif
