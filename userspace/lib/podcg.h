/* SPDX-License-Identifier: MIT */
/*
 * A pod's resource limits: its memory, pids and cpu cgroups.
 *
 * The pod's own cgroup v2 directory (azds_pod_cgroup, made by azds_pod_add)
 * is where the data plane's cgroup programs find it; it exists on every
 * layout. Where the limits live depends on the host:
 *   hybrid (v1 controllers, a v2 tree without them, e.g. this project's
 *           Debian 12 machines): <v1 mount of ctrl>/azds-<inst>/<pod>
 *   unified (controllers in the v2 tree): the pod's v2 directory itself
 *           (memory.max, pids.max, cpu.max)
 * Each controller is looked up on its own, at every call, from /proc/mounts.
 * A pod's processes belong to both: azds_podcg_join puts a process into
 * every one of the pod's cgroups.
 */
#ifndef AZDS_PODCG_H
#define AZDS_PODCG_H

#include <stdint.h>
#include <sys/types.h>
#include "azds.h"

#define AZDS_POD_MEMORY_DEFAULT (512ULL << 20) /* 512Mi */
#define AZDS_POD_PIDS_DEFAULT 512
#define AZDS_POD_CPU_DEFAULT 1000 /* millicpus: one CPU */

/* Bounds azds_podcg_setup enforces. A sandboxed pod has three tasks before
 * its command forks (bwrap outside, bwrap's init, the command); the
 * kernel's smallest cfs quota is 1 ms per 100 ms period (10 millicpus). */
#define AZDS_POD_MEMORY_MIN (4ULL << 20)
#define AZDS_POD_PIDS_MIN 4
#define AZDS_POD_PIDS_MAX 4194304 /* the kernel's PID_MAX_LIMIT */
#define AZDS_POD_CPU_MIN 10
#define AZDS_POD_CPU_MAX 1024000
#define AZDS_POD_CPU_PERIOD_US 100000

struct azds_podcg_limits {
	uint64_t memory_bytes; /* 0: AZDS_POD_MEMORY_DEFAULT */
	uint32_t pids;         /* 0: AZDS_POD_PIDS_DEFAULT */
	uint32_t cpu_millis;   /* 0: AZDS_POD_CPU_DEFAULT */
};

/* The limits with defaults filled in; -EINVAL (and e) when out of bounds. */
int azds_podcg_limits_check(struct azds_podcg_limits *l, struct azds_err *e);

/* Create the pod's limit cgroups (hybrid) or enable the controllers down to
 * its v2 directory (unified), and write the limits. Idempotent: run again,
 * it rewrites them. -ENOENT when a controller exists nowhere. */
int azds_podcg_setup(const struct azds_inst *in, const char *pod, const struct azds_podcg_limits *l,
		     struct azds_err *e);

/* Move pid (0: the caller) into each of the pod's limit cgroups and its v2
 * directory. */
int azds_podcg_join(const struct azds_inst *in, const char *pod, pid_t pid);

/* SIGKILL what is left in the pod's v1 limit cgroups, wait for it to end,
 * remove them. The v2 directory is azds_pod_del's. Missing is not an error.
 * -ETIMEDOUT when processes survive 10 s. */
int azds_podcg_remove(const struct azds_inst *in, const char *pod);

/* The same for <v1 mount>/azds-<inst> and every pod below it. */
int azds_podcg_remove_instance(const struct azds_inst *in);

/* Where controller ctrl ("memory", "pids", "cpu") keeps the pod's files
 * (for tests and status: memory.oom_control, pids.events...). */
int azds_podcg_dir(const struct azds_inst *in, const char *pod, const char *ctrl, char *buf, size_t len);

/*
 * A graceful stop. SIGTERM every process in the pod's cgroup v2 directory
 * except keep (the supervised bwrap, whose SIGTERM would kill the pod at
 * once: --die-with-parent) and except bwrap's init (pid 1 of the pod's PID
 * namespace: it only waits for the command), then poll until nothing but
 * keep is left: the command and whatever it started have exited, and bwrap
 * exits with the command's status. keep 0: none is spared. Each process is
 * signalled once, through a pidfd, after checking it is still in the pod's
 * cgroup (a pid read from cgroup.procs may have been reused).
 * 0 when they exited within timeout_ms (bounded polling, every 10 ms);
 * -ETIMEDOUT when some are left (the caller then stops it the hard way);
 * -ENOENT when the pod has no cgroup v2 directory; -EINVAL for a bad name.
 */
int azds_podcg_term(const struct azds_inst *in, const char *pod, pid_t keep, int timeout_ms);

/*
 * A workdir the caller gave (docs/sandbox.md): the pod's uid is let in
 * through POSIX ACLs, never by a chown or chmod. azds_workdir_grant adds
 * the access entry u:UID:rwX to dir and to every directory and regular
 * file below it that belongs to dir's owner (rwx on a directory, rw on a
 * file plus x when the file has an execute bit), and the default entry
 * u:UID:rwx to each such directory, so what is made there later is the
 * pod's too. The mask grows to let the entry through (the group bits that
 * ls shows are the mask; the group's own entry is unchanged). Entries of
 * anyone else, symlinks (never followed), sockets, fifos, devices and
 * other filesystems are left alone, and directories of anyone but the
 * owner or UID are not entered: root grants only what the owner could.
 * Unchanged ACLs are not rewritten. dir is opened without following a
 * last symlink; one owned by root is refused (-EPERM), as are a filesystem
 * without ACLs (-EOPNOTSUPP) and a tree deeper than 256 (-ELOOP); e says
 * which path and why. azds_workdir_grant_fd does the same on an open
 * directory (the sandbox's, checked before: nothing is looked up again).
 */
int azds_workdir_grant(const char *dir, uid_t uid, struct azds_err *e);
int azds_workdir_grant_fd(int dirfd, uid_t uid, struct azds_err *e);
/* The same for a synced workspace (azds's own copy of a developer's folder,
 * docs/sync.md): root's files too when root synced it, and those of the
 * pods that ran in it before. */
int azds_workspace_grant_fd(int dirfd, uid_t uid, struct azds_err *e);
/* A synced workspace (azds's own copy, docs/sync.md) is shared by the pods
 * made from it, one after another (its build, then the service, whose uids
 * differ): there every file is let in, whoever made it, and revoked alike. */
int azds_workspace_revoke(const char *dir, uid_t uid);
/* next to a workspace tree: the uid the last full grant walk let in */
#define AZDS_WS_GRANTED "granted-uid"

/*
 * The reverse, when the pod is deleted: removes exactly the u:UID access
 * and default entries, recursively, from what belongs to dir's owner or
 * to UID (what the pod made), and recomputes the mask; an ACL left with
 * only the base entries disappears (the mode is as before the grant), and
 * so does a default ACL left with only a copy of the directory's mode
 * (what grant seeded). Other entries stay. Best effort: it goes on past an
 * error and returns the first (-ENOENT: dir is gone).
 */
int azds_workdir_revoke(const char *dir, uid_t uid);

/*
 * Where a pod's workdir may appear inside it (a Dockerfile's WORKDIR): an
 * absolute, plain path (no "//", ".", ".." or trailing "/"), not "/", not
 * under /proc, /dev or /sys, and not one that would hide the host's tools
 * (it may not be, or contain, /usr/bin, /usr/lib, /bin, /lib, /etc, ...).
 * 0, or -EINVAL with why filled in.
 */
int azds_mount_path_check(const char *path, char *why, size_t len);

#endif
