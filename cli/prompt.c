// SPDX-License-Identifier: MIT
/* Questions asked on the terminal before a change the user may not expect. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "opts.h"

/* a question needs someone to read it and someone to answer */
bool interactive(void)
{
	return isatty(STDIN_FILENO) && isatty(STDERR_FILENO);
}

bool ask_yes(const char *fmt, ...)
{
	char line[32];
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" [y/N] ", stderr);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = 0;
	return !strcmp(line, "y") || !strcmp(line, "Y") || !strcmp(line, "yes");
}
