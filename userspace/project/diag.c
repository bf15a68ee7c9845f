// SPDX-License-Identifier: MIT
/* Diagnostics: see diag.h. */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void azds_diags_init(struct azds_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void azds_diags_free(struct azds_diags *d)
{
	free(d->items);
	memset(d, 0, sizeof(*d));
}

static void copy_cut(char *dst, size_t sz, const char *src)
{
	size_t n;

	if (!src) {
		dst[0] = '\0';
		return;
	}
	n = strnlen(src, sz - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Room for one more, growing up to AZDS_DIAG_MAX; NULL when full. */
static struct azds_diag *diag_slot(struct azds_diags *d)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct azds_diag *items;

		if (cap > AZDS_DIAG_MAX)
			cap = AZDS_DIAG_MAX;
		if (cap == d->cap)
			return NULL;
		items = realloc(d->items, cap * sizeof(*items));
		if (!items)
			return NULL;
		d->items = items;
		d->cap = cap;
	}
	return &d->items[d->n++];
}

void azds_diag_add(struct azds_diags *d, enum azds_diag_sev sev, const char *file, unsigned line, unsigned column,
		   const char *key, const char *fmt, ...)
{
	struct azds_diag *g;
	va_list ap;

	if (!d)
		return;
	if ((unsigned)sev > AZDS_DIAG_ERROR)
		sev = AZDS_DIAG_ERROR;
	d->count[sev]++;
	g = diag_slot(d);
	if (!g) {
		d->dropped++;
		return;
	}
	g->sev = sev;
	copy_cut(g->file, sizeof(g->file), file);
	g->line = line;
	g->column = column;
	copy_cut(g->key, sizeof(g->key), key);
	va_start(ap, fmt);
	vsnprintf(g->msg, sizeof(g->msg), fmt, ap);
	va_end(ap);
}

const char *azds_diag_sev_name(enum azds_diag_sev sev)
{
	switch (sev) {
	case AZDS_DIAG_NOTE:
		return "note";
	case AZDS_DIAG_WARNING:
		return "warning";
	default:
		return "error";
	}
}

int azds_diag_format(const struct azds_diag *g, char *buf, size_t len)
{
	char where[AZDS_DIAG_FILE_SZ + 16];

	if (g->file[0] && g->line)
		snprintf(where, sizeof(where), "%s:%u: ", g->file, g->line);
	else if (g->file[0])
		snprintf(where, sizeof(where), "%s: ", g->file);
	else
		where[0] = '\0';
	return snprintf(buf, len, "%s%s: %s%s%s", where, azds_diag_sev_name(g->sev), g->key, g->key[0] ? ": " : "",
			g->msg);
}

size_t azds_diags_print(const struct azds_diags *d, FILE *f, enum azds_diag_sev min_sev)
{
	char line[AZDS_DIAG_FILE_SZ + AZDS_DIAG_KEY_SZ + AZDS_DIAG_MSG_SZ + 64];
	size_t printed = 0;

	for (size_t i = 0; i < d->n; i++) {
		if (d->items[i].sev < min_sev)
			continue;
		azds_diag_format(&d->items[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
		printed++;
	}
	if (d->dropped) {
		fprintf(f, "... and %zu more diagnostic%s not shown\n", d->dropped, d->dropped == 1 ? "" : "s");
		printed++;
	}
	return printed;
}

const struct azds_diag *azds_diags_first(const struct azds_diags *d, enum azds_diag_sev sev)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].sev == sev)
			return &d->items[i];
	return NULL;
}
