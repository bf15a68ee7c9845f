/* SPDX-License-Identifier: MIT */
/*
 * The controller's durable state: one SQLite database per instance under
 * /var/lib/azds/<instance>/state.db, WAL mode, synchronous=FULL, a versioned
 * schema migrated forward at open. It is the source of truth; the pinned
 * maps, namespaces, veths, cgroups, DNS records and processes are derived
 * from it by the reconciler. A change is acknowledged once store_commit()
 * returned 0. Schema: docs/store.md.
 *
 * Every function returns 0 or -errno (-ENOENT: no such row, -EEXIST: a
 * unique key is taken) and, on failure, leaves a one-line cause in
 * store_errmsg(). Strings in the structs are NUL-terminated and bounded;
 * longer input is refused with -ENAMETOOLONG before any write.
 */
#ifndef AZDS_STORE_H
#define AZDS_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define ST_PATH_MAX 256   /* a space path "dev/alice", with NUL */
#define ST_NAME_MAX 64    /* a DNS label (1-63 characters), with NUL */
#define ST_MAX_POD_SERVICES 16
#define ST_ARGV_MAX 64    /* command words of a pod */
#define ST_ENV_MAX 64     /* environment entries of a pod */
#define ST_ARG_MAX 4096   /* bytes of one command word or env entry */
#define ST_LABELS_MAX 16
#define ST_SETTING_KEY_MAX 128    /* bytes of a setting's key, with NUL */
#define ST_SETTING_VALUE_MAX 4096 /* bytes of a setting's value, with NUL */
#define STORE_SCHEMA_VERSION 2

struct store;

struct st_label {
	char key[ST_NAME_MAX * 2];
	char value[ST_PATH_MAX];
};

struct st_space {
	int64_t id;                /* row id (stable, never reused) */
	char path[ST_PATH_MAX];    /* "dev/alice" */
	char parent[ST_PATH_MAX];  /* "dev"; "" for a root space */
	int64_t created;           /* unix seconds */
	struct st_label labels[ST_LABELS_MAX];
	int nlabels;               /* azds.io/space=true, azds.io/parent-space=<parent> */
};

enum st_kind { ST_KIND_HTTP = 1, ST_KIND_TCP = 2 };

struct st_service {
	char space[ST_PATH_MAX];
	char name[ST_NAME_MAX];
	int kind;                  /* enum st_kind */
	uint16_t port;             /* the service's port */
	uint16_t target_port;      /* the pods' port */
	uint32_t vip;              /* network order; 0 until the reconciler allocated it */
	int64_t created;
};

enum st_restart { ST_RESTART_ALWAYS = 0, ST_RESTART_ONFAILURE = 1, ST_RESTART_NEVER = 2 };

enum st_phase {
	ST_PHASE_PENDING = 0,  /* stored, not started yet */
	ST_PHASE_RUNNING = 1,
	ST_PHASE_BACKOFF = 2,  /* exited, waiting to be restarted */
	ST_PHASE_SUCCEEDED = 3,/* exited 0, not restarted (policy) */
	ST_PHASE_FAILED = 4,   /* exited non-zero or signalled, not restarted */
	ST_PHASE_STOPPED = 5,  /* stopped on request */
};

struct st_limits {
	uint64_t memory_bytes; /* default 512 MiB */
	uint32_t pids;         /* default 512 */
	uint32_t cpu_millis;   /* 1000 = one CPU; default 1000 */
};

/* What the user asked for. */
struct st_pod {
	char name[ST_NAME_MAX];
	char space[ST_PATH_MAX];
	char services[ST_MAX_POD_SERVICES][ST_NAME_MAX];
	int nservices;
	char *argv[ST_ARGV_MAX + 1]; /* NULL-terminated; argc 0: no process (a bare pod, e.g. azds-init add) */
	int argc;
	char *env[ST_ENV_MAX + 1];   /* "KEY=VALUE", NULL-terminated */
	int nenv;
	char workdir[ST_PATH_MAX * 2]; /* host directory bound writable at mount ("" = the pod's own under the state dir) */
	char mount[ST_PATH_MAX];       /* where the workdir appears in the pod ("" = /workspace) */
	int restart;                 /* enum st_restart */
	struct st_limits limits;
	uint32_t uid;                /* host uid the pod runs as (allocated by store_pod_add) */
	uint32_t addr;               /* pod address, network order (allocated by the reconciler, then kept) */
	int64_t created;
};

/* What happened to it (written by the supervisor). */
struct st_pod_status {
	int phase;          /* enum st_phase */
	pid_t pid;          /* of the running process, 0 if none */
	int restarts;       /* times it was restarted */
	int last_exit_code; /* -1: never exited */
	int last_signal;    /* 0: not signalled */
	int64_t started;    /* unix ms of the last start, 0 if never */
	int64_t finished;   /* unix ms of the last exit, 0 if never */
	char reason[128];   /* e.g. "exited 3", "killed by SIGKILL", "sandbox: ..." */
};

/* Open (creating dir 0700 and the database if missing) and migrate.
 * Refuses a file that is not an azds database and one whose schema is
 * newer than STORE_SCHEMA_VERSION (-EPROTO). On failure *out is NULL and
 * store_errmsg(NULL) gives the cause (per thread). One store is used by
 * one thread at a time. */
int store_open(struct store **out, const char *dir);
void store_close(struct store *s); /* rolls back an open transaction */
const char *store_errmsg(const struct store *s);
int store_schema_version(struct store *s); /* PRAGMA user_version */

/* Transactions: changes between begin and commit land together or not at
 * all. Every write below outside a transaction is its own transaction.
 * Transactions do not nest (-EBUSY). A write that fails inside one undoes
 * only itself; if SQLite had to drop the whole transaction (I/O error,
 * disk full), later writes and the commit fail with -ECANCELED. A commit
 * that fails leaves nothing of the transaction. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* Spaces. store_space_add refuses a missing parent (-ENOENT) and an
 * existing path (-EEXIST); validation of names is the caller's. */
int store_space_add(struct store *s, const char *path, const char *parent);
int store_space_get(struct store *s, const char *path, struct st_space *out);
/* -ENOTEMPTY if it has children, services or pods (remove those first:
 * they hold VIPs, uids and processes); takes its labels and the
 * selections of it along. */
int store_space_remove(struct store *s, const char *path);
/* all spaces, parents before children (by depth, then path); cb returns
 * non-zero to stop. In every _each, the struct given to cb lives only
 * until cb returns, and cb may call the store (reads and writes; rows it
 * changes may or may not be seen by the walk). */
int store_space_each(struct store *s, int (*cb)(void *ctx, const struct st_space *sp), void *ctx);
int store_space_count(struct store *s, int64_t *n);
int store_space_children(struct store *s, const char *path, int64_t *n);

/* Services, keyed by (space, name). store_service_put inserts or replaces
 * kind and ports (-ENOENT: no such space); created is kept on replace
 * (0 on insert: now). A VIP belongs to the name: every copy of a name, in
 * any space, has the same one (0 until set), a new copy has it at once,
 * and two names never share one (-EEXIST). put with vip 0 leaves it; put
 * with a vip sets it for every copy, like set_vip. */
int store_service_put(struct store *s, const struct st_service *svc);
int store_service_get(struct store *s, const char *space, const char *name, struct st_service *out);
int store_service_remove(struct store *s, const char *space, const char *name);
/* every space's copy; -ENOENT: no copy; vip 0 clears it */
int store_service_set_vip(struct store *s, const char *name, uint32_t vip);
/* space NULL: all; cb returns non-zero to stop */
int store_service_each(struct store *s, const char *space,
		       int (*cb)(void *ctx, const struct st_service *svc), void *ctx);
int store_service_count(struct store *s, int64_t *n);

/* Pods, keyed by name (unique on the node). store_pod_add allocates uid
 * (the lowest free one from uid_base) and stores the spec and a PENDING
 * status; -EEXIST if the name is taken. The strings of argv/env in a
 * struct st_pod filled by get/each belong to the struct: st_pod_free(). */
int store_pod_add(struct store *s, struct st_pod *p, uint32_t uid_base);
int store_pod_get(struct store *s, const char *name, struct st_pod *out, struct st_pod_status *st);
int store_pod_remove(struct store *s, const char *name);
int store_pod_set_addr(struct store *s, const char *name, uint32_t addr); /* -EEXIST: another pod's */
int store_pod_set_status(struct store *s, const char *name, const struct st_pod_status *st);
/* space NULL: all (by space, then name). The store frees p's strings
 * after cb returns: copy what must outlive the call. */
int store_pod_each(struct store *s, const char *space,
		   int (*cb)(void *ctx, const struct st_pod *p, const struct st_pod_status *st), void *ctx);
int store_pod_count(struct store *s, int64_t *n);
void st_pod_free(struct st_pod *p); /* frees argv/env strings, leaves NULLs (safe twice) */

/* The space each user (by uid) selected. */
int store_selection_set(struct store *s, uint32_t uid, const char *path);
int store_selection_get(struct store *s, uint32_t uid, char *path, size_t len); /* -ENOENT: none, -ERANGE: len short */
int store_selection_clear_space(struct store *s, const char *path); /* the space was removed */

/* Node settings: switches, limits, router arguments ("key" -> text). */
int store_setting_set(struct store *s, const char *key, const char *value);
/* -ENOENT: unset, -ERANGE: len is too short */
int store_setting_get(struct store *s, const char *key, char *value, size_t len);
int store_setting_remove(struct store *s, const char *key); /* -ENOENT: unset */
int store_setting_each(struct store *s, int (*cb)(void *ctx, const char *key, const char *value), void *ctx);

#endif
