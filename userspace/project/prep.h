/* SPDX-License-Identifier: MIT */
/*
 * azds prep's generator: from a detected project (detect.h), the files
 * Dev Spaces' prep wrote: Dockerfile, Dockerfile.develop, .dockerignore,
 * azds.yaml and a Helm chart under charts/<name>/. It never replaces a
 * file: one that exists is kept and named. Planning and writing are
 * separate, so tests can read what would be written without a folder to
 * write in. Nothing here needs the controller.
 *
 * Rules beyond "keep what exists":
 * - charts/<name>/Chart.yaml exists: the chart is the developer's; none of
 *   its files is written (an extra deployment.yaml would deploy twice).
 * - Dockerfile exists and Dockerfile.develop does not: Dockerfile.develop
 *   is not written and azds.yaml develops with the developer's Dockerfile
 *   (a generated one would silently replace what they run). With the
 *   develop Dockerfile theirs, azds.yaml leaves out the command and build
 *   commands that only fit the generated one. A Dockerfile that starts with
 *   the header azds prep writes for this service and language counts as
 *   generated, not theirs.
 * - Every file is written under a temporary name in its own folder, synced,
 *   then renamed without replacing (renameat2 RENAME_NOREPLACE, else
 *   link()): a half-written file never carries the real name, and a file
 *   created meanwhile is kept, not overwritten.
 */
#ifndef AZDS_PROJECT_PREP_H
#define AZDS_PROJECT_PREP_H

#include <stdbool.h>
#include "detect.h"

#define AZDS_PREP_FILES_MAX 16

enum azds_prep_action {
	AZDS_PREP_PLANNED, /* to be written */
	AZDS_PREP_WROTE,
	AZDS_PREP_KEPT,    /* it exists (why: "exists") */
	AZDS_PREP_SKIPPED, /* not written for a reason in why */
};

struct azds_prep_file {
	char path[192]; /* relative to the folder: "charts/web/values.yaml" */
	enum azds_prep_action action;
	char why[160];
	char *text; /* what is (or would have been) written */
};

struct azds_prep_opts {
	const char *dir;     /* the project's folder */
	const char *name;    /* the service's name; NULL: derived (detect.h) */
	unsigned port;       /* the program's port; 0: the language's default */
	bool ingress;        /* values.yaml ingress.enabled */
	enum azds_lang lang; /* AZDS_LANG_NONE: detected */
};

struct azds_prep {
	struct azds_project proj; /* proj.name is the service's name, --name applied */
	unsigned port;
	bool ingress;
	bool own_develop; /* the generated Dockerfile.develop is azds.yaml's develop image */
	struct azds_prep_file files[AZDS_PREP_FILES_MAX];
	int nfiles;
	int wrote, kept, skipped;
};

/* the port a language's program listens on unless --port: 80, and Java's 8080 (as Dev Spaces' prep wrote) */
unsigned azds_prep_default_port(enum azds_lang l);

/* detects, names and renders every file; nothing is written. 0 or -errno with e set */
int azds_prep_plan(const struct azds_prep_opts *o, struct azds_prep *r, struct azds_err *e);
/* writes the planned files; on an error the files before it stay written (whole) */
int azds_prep_write(struct azds_prep *r, struct azds_err *e);
/* plan, then write */
int azds_prep_run(const struct azds_prep_opts *o, struct azds_prep *r, struct azds_err *e);
void azds_prep_free(struct azds_prep *r);

/* the file at a relative path, NULL when not among them */
const struct azds_prep_file *azds_prep_find(const struct azds_prep *r, const char *path);
const char *azds_prep_action_name(enum azds_prep_action a); /* "wrote", "kept", ... */

#endif
