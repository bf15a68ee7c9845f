// SPDX-License-Identifier: MIT
/* Aligned tables; widths come from the content. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "table.h"

#define TABLE_MAXCOLS 16
#define TABLE_GAP 3

struct table {
	int ncols;
	struct {
		const char *name;
		unsigned flags;
	} cols[TABLE_MAXCOLS];
	char **cells; /* row-major, ncols per row */
	size_t ncells, cap;
};

struct table *table_new(void)
{
	return calloc(1, sizeof(struct table));
}

int table_col(struct table *t, const char *name, unsigned flags)
{
	if (t->ncols >= TABLE_MAXCOLS || t->ncells)
		return -EINVAL;
	t->cols[t->ncols].name = name;
	t->cols[t->ncols].flags = flags;
	t->ncols++;
	return 0;
}

int table_cell(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	t->cells[t->ncells++] = s;
	return 0;
}

static bool shown(const struct table *t, int c, bool wide)
{
	return wide || !(t->cols[c].flags & TABLE_WIDE);
}

static void print_row(const struct table *t, FILE *f, bool wide, const size_t *width, const char *const *row)
{
	int last = -1;

	for (int c = 0; c < t->ncols; c++)
		if (shown(t, c, wide))
			last = c;
	for (int c = 0; c < t->ncols; c++) {
		if (!shown(t, c, wide))
			continue;
		/* the last column is not padded: no trailing blanks */
		if (c == last)
			fprintf(f, "%s\n", row[c]);
		else
			fprintf(f, "%-*s", (int)(width[c] + TABLE_GAP), row[c]);
	}
}

void table_print(const struct table *t, FILE *f, bool wide)
{
	size_t width[TABLE_MAXCOLS] = { 0 }, rows;
	const char *head[TABLE_MAXCOLS];

	if (!t || !t->ncols)
		return;
	rows = t->ncells / t->ncols;
	for (int c = 0; c < t->ncols; c++) {
		head[c] = t->cols[c].name;
		width[c] = strlen(head[c]);
		for (size_t r = 0; r < rows; r++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);

			if (n > width[c])
				width[c] = n;
		}
	}
	print_row(t, f, wide, width, head);
	for (size_t r = 0; r < rows; r++)
		print_row(t, f, wide, width, (const char *const *)t->cells + r * t->ncols);
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

const char *table_age(long long since, char *buf, size_t len)
{
	long long d = (long long)time(NULL) - since;

	if (since <= 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	if (d < 0)
		d = 0;
	if (d < 120)
		snprintf(buf, len, "%llds", d);
	else if (d < 2 * 3600)
		snprintf(buf, len, "%lldm", d / 60);
	else if (d < 2 * 86400)
		snprintf(buf, len, "%lldh", d / 3600);
	else
		snprintf(buf, len, "%lldd", d / 86400);
	return buf;
}
