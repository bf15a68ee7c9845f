/* SPDX-License-Identifier: MIT */
/*
 * /v1/workspaces: the synced copies of developers' folders (docs/sync.md,
 * docs/api.md). A workspace lives in
 * <state>/workspaces/<space id>/<name>/: tree/ (the files, owned by the
 * workspace's owner, modes 0644/0755, directories 0755), manifest.log (what
 * the sync wrote there: path -> sha256, size, mode, the client's mtime and
 * the inode and mtime it left in tree/), summary, meta.json, staging/.
 */
#ifndef AZDS_API_SYNC_H
#define AZDS_API_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include "ctl.h"

#define WS_MAX_PER_NODE 1024
#define WS_MAX_PER_OWNER 64         /* of one uid but root's: each may hold WS_MAX_BYTES */
#define WS_MAX_BYTES (8ULL << 30)   /* of one workspace's files */
#define WS_MAX_BATCH_ENTRIES 8192  /* files plus deletes in one POST .../sync */
#define WS_MANIFEST_PAGE 5000      /* entries per GET .../manifest answer */

/* rest: the path after /v1/workspaces/ ("" for the list) */
void api_workspaces(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w);

/* <state>/workspaces/<space id>/<name>/tree (the directory a pod is lent),
 * whether or not it exists */
void api_workspace_tree(const struct ctl *c, int64_t space_id, const char *name, char *buf, size_t len);

/* is path inside <state>/workspaces/ (a synced workspace, azds's own copy)? */
bool api_workspace_path(const struct ctl *c, const char *path);

/* a space was removed: its workspaces go too (call after the store committed) */
void api_workspaces_space_gone(struct ctl *c, int64_t space_id);

#endif
