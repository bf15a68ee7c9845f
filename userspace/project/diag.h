/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics of the inner loop's file checks (azds.yaml, the Dockerfile):
 * a bounded list of notes, warnings and errors, each naming the file, the
 * line and the key it is about, printed the way gcc prints its own:
 *
 *   azds.yaml:12: error: configurations.develop.container.sync[2]: expected a string, got a mapping
 *   Dockerfile:7: warning: EXPOSE: 53/udp: host mode routes TCP only; the port is not exposed
 *   Dockerfile:1: note: FROM node:lts: host mode pulls no image; the service runs the host's node (Debian's nodejs)
 *
 * The parsers only add to the list; the boundary (the CLI) prints it once.
 * Adding never fails: past AZDS_DIAG_MAX entries a diagnostic is counted
 * but not kept, and the printer says how many were left out.
 */
#ifndef AZDS_PROJECT_DIAG_H
#define AZDS_PROJECT_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum azds_diag_sev {
	AZDS_DIAG_NOTE = 0, /* what host mode does instead; nothing is wrong */
	AZDS_DIAG_WARNING,  /* accepted, but probably not what was meant */
	AZDS_DIAG_ERROR,    /* refused: the file cannot be used as it is */
};

#define AZDS_DIAG_MAX	  100 /* diagnostics kept; more are only counted */
#define AZDS_DIAG_FILE_SZ 256
#define AZDS_DIAG_KEY_SZ  192
#define AZDS_DIAG_MSG_SZ  512

struct azds_diag {
	enum azds_diag_sev sev;
	char file[AZDS_DIAG_FILE_SZ]; /* "" when not about a file */
	unsigned line;		      /* 1-based; 0 = the whole file */
	unsigned column;	      /* 1-based; 0 = unknown (not printed) */
	char key[AZDS_DIAG_KEY_SZ];   /* key path or instruction; "" = none */
	char msg[AZDS_DIAG_MSG_SZ];
};

struct azds_diags {
	struct azds_diag *items; /* kept ones, in the order they were added */
	size_t n;
	size_t cap;
	size_t dropped;	 /* added past AZDS_DIAG_MAX (or when out of memory) */
	size_t count[3]; /* per severity, dropped ones included */
};

void azds_diags_init(struct azds_diags *d);
void azds_diags_free(struct azds_diags *d);

/* Adds one diagnostic; file, key may be NULL. Strings too long are cut. */
void azds_diag_add(struct azds_diags *d, enum azds_diag_sev sev, const char *file, unsigned line, unsigned column,
		   const char *key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static inline size_t azds_diags_errors(const struct azds_diags *d)
{
	return d->count[AZDS_DIAG_ERROR];
}

static inline size_t azds_diags_warnings(const struct azds_diags *d)
{
	return d->count[AZDS_DIAG_WARNING];
}

static inline size_t azds_diags_notes(const struct azds_diags *d)
{
	return d->count[AZDS_DIAG_NOTE];
}

/* "error", "warning", "note" */
const char *azds_diag_sev_name(enum azds_diag_sev sev);

/*
 * Formats one as "FILE:LINE: SEV: KEY: MSG" (":LINE" left out when line is
 * 0, "KEY: " when key is empty, "FILE:" when file is). Returns what
 * snprintf returns.
 */
int azds_diag_format(const struct azds_diag *g, char *buf, size_t len);

/*
 * Prints every kept diagnostic at or above min_sev, one a line, then
 * "... and N more diagnostics not shown" if some were dropped. Returns the
 * number of lines printed.
 */
size_t azds_diags_print(const struct azds_diags *d, FILE *f, enum azds_diag_sev min_sev);

/* The first kept diagnostic of severity sev (NULL if none): for tests and one-line summaries. */
const struct azds_diag *azds_diags_first(const struct azds_diags *d, enum azds_diag_sev sev);

#endif
