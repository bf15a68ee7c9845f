/* SPDX-License-Identifier: MIT */
/*
 * The sync set of a folder: which of its files go to a workspace, as
 * .dockerignore, .gitignore (nested ones too, and those of the git
 * repository around the folder), azds.yaml's build.ignore and its
 * container.sync globs decide (docs/sync.md has the rules and their order).
 * The walk never follows a symlink: a link is an entry of its own, kept
 * when its target stays inside the folder (read as text, not resolved),
 * skipped with a warning otherwise. Directories are not entries: a
 * workspace has a directory where it has a file below it.
 *
 * Also here, for the client and the controller alike: what a workspace
 * path may be (azds_sync_path_check), SHA-256 of a file (OpenSSL EVP).
 */
#ifndef AZDS_PROJECT_SYNCSET_H
#define AZDS_PROJECT_SYNCSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "azds.h"

#define AZDS_SYNC_MAX_FILES 200000          /* entries of one workspace */
#define AZDS_SYNC_PATH_MAX 1024             /* bytes of a relative path, with NUL */
#define AZDS_SYNC_NAME_MAX 255              /* bytes of one component */
#define AZDS_SYNC_DEPTH_MAX 64              /* components of a path */
#define AZDS_SYNC_FILE_MAX (256ULL << 20)   /* bytes of one file */
#define AZDS_SYNC_IGNORE_FILE_MAX (1u << 20) /* bytes of one .gitignore or .dockerignore */

/* what azds.yaml says about the sync (configurations.develop) */
struct azds_sync_rules {
	const char *const *sync;   /* container.sync: globs in order, '!' excludes; none: everything */
	size_t nsync;
	const char *const *ignore; /* build.ignore: .gitignore lines applied last ('!' re-includes) */
	size_t nignore;
	bool use_gitignore;        /* build.useGitIgnore */
	bool no_dockerignore;      /* .dockerignore at the folder's root is honoured unless set */
};

enum azds_sync_type { AZDS_SYNC_FILE = 1, AZDS_SYNC_LINK = 2 };

struct azds_sync_entry {
	char *path;       /* relative, '/'-separated, valid UTF-8 */
	int type;         /* enum azds_sync_type */
	uint32_t mode;    /* files 0644 or 0755 (the owner's execute bit); links 0777 */
	uint64_t size;    /* a link's: the target's length */
	int64_t mtime_ns;
	char *target;     /* a link's */
};

struct azds_syncset {
	struct azds_sync_entry *v; /* sorted by path (bytewise) */
	size_t n, cap;
	uint64_t bytes;   /* of the files */
	size_t ignored;   /* left out by the rules (a pruned directory counts once) */
	size_t skipped;   /* links leading out, names not UTF-8, sockets, fifos, devices, unreadable dirs */
};

typedef void (*azds_sync_warn_fn)(void *ctx, const char *msg);

/*
 * Walk dir into s (zeroed by the caller or freed before). Warnings (a
 * link skipped, an unreadable directory) go to warn when it is set.
 * Errors: a bad pattern (e names the file and line), a path or tree past
 * the limits above, a file larger than AZDS_SYNC_FILE_MAX, I/O.
 */
int azds_syncset_scan(struct azds_syncset *s, const char *dir, const struct azds_sync_rules *r,
		      azds_sync_warn_fn warn, void *ctx, struct azds_err *e);
void azds_syncset_free(struct azds_syncset *s);
/* the entry of path, or NULL (binary search) */
const struct azds_sync_entry *azds_syncset_find(const struct azds_syncset *s, const char *path);

/*
 * One path's verdict without a walk (for a watcher): 1 when path (relative
 * to dir; a file when !is_dir) is in the sync set, 0 when the rules leave
 * it or a directory above it out, -errno on error. The .gitignore files on
 * the way are read at each call.
 */
struct azds_sync_filter;
int azds_sync_filter_new(struct azds_sync_filter **out, const char *dir, const struct azds_sync_rules *r,
			 struct azds_err *e);
int azds_sync_filter_path(struct azds_sync_filter *f, const char *path, bool is_dir, struct azds_err *e);
void azds_sync_filter_free(struct azds_sync_filter *f);

/*
 * A workspace path: relative, '/'-separated, no empty, "." or ".."
 * component, no NUL or control character, valid UTF-8, at most
 * AZDS_SYNC_PATH_MAX - 1 bytes, AZDS_SYNC_NAME_MAX per component and
 * AZDS_SYNC_DEPTH_MAX components. 0, or -EINVAL with why filled.
 */
int azds_sync_path_check(const char *path, size_t len, char *why, size_t wlen);
/* a link at path whose target, read as text from the link's directory, stays at or below the root */
bool azds_sync_link_inside(const char *path, const char *target);
bool azds_utf8_valid(const char *s, size_t n);

/* SHA-256 of what fd holds from its current offset to its end */
int azds_sha256_fd(int fd, unsigned char out[32], uint64_t *len);
void azds_sha256_buf(const void *buf, size_t len, unsigned char out[32]);
void azds_sha256_hex(const unsigned char sha[32], char hex[65]);
/* 0, or -EINVAL when hex is not 64 hex digits */
int azds_sha256_parse(const char *hex, unsigned char out[32]);

#endif
