/* SPDX-License-Identifier: MIT */
/*
 * Path patterns in the three dialects a sync honours (docs/sync.md):
 *
 * - git (.gitignore, .git/info/exclude, azds.yaml's build.ignore): git's
 *   rules. A pattern without a slash (a trailing one aside) matches the
 *   last component at any depth below its file's directory; with one, the
 *   whole path relative to that directory. A trailing '/' matches
 *   directories only; '!' re-includes; "**" between slashes (or at either
 *   end) spans directories, elsewhere it is a '*'; "[!a-z]" and "[^a-z]"
 *   negate a class; '\' quotes. Trailing spaces are dropped unless quoted.
 * - docker (.dockerignore): moby's rules. Patterns are cleaned
 *   (filepath.Clean) and always relative to the context root; a pattern
 *   excludes what it matches and everything below; the last pattern that
 *   matches a path or one of its parents decides; "**" spans directories
 *   wherever it stands; "[^a-z]" negates.
 * - sync (azds.yaml's container.sync): globs on the whole relative path,
 *   in order, '!' excludes, the last match decides; "{a,b}" alternatives;
 *   without any positive pattern everything is included.
 *
 * Every list is bounded (AZDS_GLOB_MAX_PATTERNS, AZDS_GLOB_MAX_LEN); a bad
 * pattern is an error naming its source and line.
 */
#ifndef AZDS_PROJECT_GLOB_H
#define AZDS_PROJECT_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include "azds.h"

#define AZDS_GLOB_MAX_PATTERNS 10000 /* per list (file) */
#define AZDS_GLOB_MAX_LEN 1024       /* bytes of one pattern */
#define AZDS_GLOB_MAX_BRACES 256     /* patterns one sync glob expands to */

/* azds_glob_match flags ('*', '?' and classes never match '/') */
#define AZDS_GLOB_STARSTAR_ANY 1u /* a "**" not between slashes spans '/' (docker) */
#define AZDS_GLOB_BANG_CLASS 2u   /* "[!...]" negates, as "[^...]" does (git, sync) */

/* 1 when text matches pattern whole, else 0 */
int azds_glob_match(const char *pattern, const char *text, unsigned flags);

enum azds_glob_dialect { AZDS_GLOB_GIT = 1, AZDS_GLOB_DOCKER, AZDS_GLOB_SYNC };

struct azds_glob_pat {
	char *pat;       /* as matched: '!', anchoring '/' and a trailing '/' removed */
	bool negate;     /* '!': re-include */
	bool dironly;    /* git: a trailing '/' */
	bool basename;   /* git: no slash, matches the last component */
	int line;        /* in its source, for messages */
};

struct azds_glob_list {
	enum azds_glob_dialect dialect;
	struct azds_glob_pat *v;
	size_t n, cap;
	bool any_negate, any_positive;
	char source[256]; /* "src/.gitignore", "azds.yaml sync" */
};

enum { AZDS_GLOB_NONE = 0, AZDS_GLOB_EXCLUDE = 1, AZDS_GLOB_INCLUDE = 2 };

void azds_glob_list_init(struct azds_glob_list *l, enum azds_glob_dialect d, const char *source);
void azds_glob_list_free(struct azds_glob_list *l);
/* a whole file's text (comments, blank lines, CRLF, a BOM) */
int azds_glob_parse(struct azds_glob_list *l, const char *text, size_t len, struct azds_err *e);
/* one pattern as written (a line of the file, or one entry of a YAML list) */
int azds_glob_add(struct azds_glob_list *l, const char *pattern, int line, struct azds_err *e);

/*
 * git: what the last pattern matching path (relative to the list's
 * directory, no leading or trailing '/') says: AZDS_GLOB_EXCLUDE, _INCLUDE
 * or _NONE. Parents are the caller's: git never looks below an excluded
 * directory.
 */
int azds_glob_git(const struct azds_glob_list *l, const char *path, bool is_dir);
/* docker: the same, a pattern matching a parent of path counting as matching it */
int azds_glob_docker(const struct azds_glob_list *l, const char *path);
/* sync: true when path is in the set the globs select */
bool azds_glob_sync(const struct azds_glob_list *l, const char *path);

#endif
