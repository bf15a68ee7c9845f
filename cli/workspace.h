/* SPDX-License-Identifier: MIT */
/*
 * The client side of the file sync (docs/sync.md): a folder into a
 * workspace of the controller, through its API only, so that a remote
 * controller is served the same way. What goes is what differs from the
 * workspace's manifest (SHA-256 of the content; size, mode and mtime
 * spare the reading of files the workspace already has; bytes it holds at
 * another path are copied there, not sent), zlib-compressed,
 * in batches the API takes (under its 1 MiB body limit), big files in
 * parts. Paths the folder no longer has are deleted there.
 */
#ifndef AZDS_CLI_WORKSPACE_H
#define AZDS_CLI_WORKSPACE_H

#include <stddef.h>
#include <stdint.h>
#include "syncset.h"

struct azds_sync_stats {
	size_t scanned;        /* files and links in the sync set */
	size_t sent;           /* of them, sent with their content */
	size_t copied;         /* of them, copied by the workspace from a path with the same bytes */
	size_t deleted;        /* paths removed from the workspace */
	size_t updated;        /* mode or mtime recorded, no content sent */
	size_t hashed;         /* files read to compare their hash */
	size_t ignored;        /* left out by the rules (a pruned directory counts once) */
	size_t skipped;        /* links leading out, special files, names not UTF-8 */
	size_t batches;        /* POST .../sync requests */
	uint64_t bytes_raw;    /* of the content sent */
	uint64_t bytes_compressed;
	size_t files;          /* the workspace's, after the sync */
	uint64_t bytes;
	int64_t ms;            /* the whole sync, scan included */
};

/*
 * Sync dir into workspace name of space (created, owned by the caller,
 * when missing). rules may be NULL (every file, .dockerignore honoured).
 * Warnings (links skipped) go to stderr; the error, if any, is printed
 * once ("azds: ..."). 0 or -errno; st is filled as far as the sync got.
 */
int azds_ws_sync(const char *space, const char *name, const char *dir, const struct azds_sync_rules *rules,
		 struct azds_sync_stats *st);

/*
 * The same for some paths only (a watcher's events), without reading the
 * workspace's manifest: each path (relative to dir) that is in the sync set
 * and exists is sent whole; one that does not exist, or that the rules
 * leave out, is deleted there (with what is below it, for a directory). A
 * directory that exists is walked. Same return and printing.
 */
int azds_ws_sync_paths(const char *space, const char *name, const char *dir, const struct azds_sync_rules *rules,
		       const char *const *paths, size_t npaths, struct azds_sync_stats *st);

#endif
