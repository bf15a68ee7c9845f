/* SPDX-License-Identifier: MIT */
/*
 * Supervision of the processes the controller runs: the router, DNS and
 * every pod. Each process runs under a small shim (`azds-controller shim`,
 * a child of the controller that outlives it): the shim starts the
 * process, copies its output into the unit's log (bounded, rotated) and
 * writes its exit status into the unit's state directory. A controller
 * that restarts after a crash adopts the running shims (pidfd) and reads
 * the exit status of what ended while it was down.
 *
 * Restart policies are Always, OnFailure and Never (enum st_restart) with
 * capped exponential backoff: the first restart after backoff_first_ms,
 * then double the last delay (at least SUP_BACKOFF_STEP_MS) up to
 * backoff_max_ms; a process that ran SUP_BACKOFF_RESET_MS starts the
 * sequence again. Everything runs in the controller's event loop: sup_fd()
 * is polled, sup_dispatch() handles exits, timers and readiness.
 *
 * State, per unit: <state_dir>/<name>/current -> run.<N>/ holds shim.pid
 * (the shim: pid, start time, restarts, nfds; written by the controller),
 * pid (the process, written by the shim) and status (its exit, written by
 * the shim; files replaced atomically). A replaced process keeps its own
 * run.<N> until it has drained.
 */
#ifndef AZDS_SUPERVISE_H
#define AZDS_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SUP_NAME_MAX 96
#define SUP_MAX_FDS 64
#define SUP_LOG_MAX_DEFAULT (8ULL << 20) /* a unit's log is rotated to <log>.1 above this */
#define SUP_BACKOFF_STEP_MS 100          /* the least second delay when the first is 0 */
#define SUP_BACKOFF_RESET_MS 60000       /* ran this long: the next restart is a first one */

struct sup;

struct sup_spec {
	char name[SUP_NAME_MAX];   /* "router", "dns", "pod-api": unique, a file name */
	char *const *argv;         /* run by the shim: argv[0] an absolute path */
	char *const *envp;         /* NULL: the controller's environment */
	const char *log_path;      /* stdout and stderr go here (0640, rotated) */
	const int *fds;            /* handed to the process as fds 3, 4, ... */
	int nfds;
	int policy;                /* enum st_restart */
	uint32_t backoff_first_ms; /* delay before the first restart (0: at once) */
	uint32_t backoff_max_ms;   /* the cap of the doubling delay */
	bool notify_ready;         /* the process gets AZDS_READY_FD and writes a byte when ready */
	const char *cgroup;        /* v2 cgroup directory the process runs in (NULL: the controller's) */
	uint64_t log_max_bytes;    /* rotate above this (0: SUP_LOG_MAX_DEFAULT) */
	uint32_t backoff_reset_ms; /* ran this long: backoff starts again (0: SUP_BACKOFF_RESET_MS) */
};

enum sup_state { SUP_RUNNING = 1, SUP_BACKOFF = 2, SUP_EXITED = 3, SUP_STOPPED = 4 };

struct sup_status {
	int state;          /* enum sup_state */
	pid_t pid;          /* the process (not the shim), 0 if none */
	int restarts;
	int exit_code;      /* of the last exit, -1 if none or signalled */
	int signal;         /* of the last exit, 0 if none */
	int64_t started_ms; /* unix ms */
	int64_t finished_ms;
	char reason[128];   /* "exited 3", "killed by SIGKILL", "start failed: ..." */
	bool ready;         /* notify_ready: the process said so (adopted: assumed) */
	int nfds;           /* fds the shim holds (sup_getfds) */
	bool adopted;       /* found running or exited at sup_new; no spec until sup_start */
	uint32_t backoff_ms; /* SUP_BACKOFF: the delay chosen before this restart */
};

/* Called after every start, exit and restart decision of a unit. */
typedef void (*sup_event_cb)(void *ctx, const char *name, const struct sup_status *st);

/* state_dir: /run/azds/<instance>/units (one directory per unit);
 * shim_exe: the azds-controller binary (run as "shim"). */
int sup_new(struct sup **out, const char *state_dir, const char *shim_exe, sup_event_cb cb, void *ctx);
void sup_free(struct sup *s); /* forgets the units; their processes keep running */
int sup_fd(struct sup *s);    /* readable when sup_dispatch has work */
void sup_dispatch(struct sup *s);

/* Start the unit, or adopt it when a shim of that name still runs (then
 * spec replaces the stored spec for later restarts). A unit found exited
 * at sup_new is judged by spec's policy as if it had just exited
 * (restarted at once, or left EXITED). Idempotent: for a unit running
 * under this supervisor, spec replaces the stored one and 0 is returned. */
int sup_start(struct sup *s, const struct sup_spec *spec);
/* SIGTERM, then SIGKILL after timeout_ms; no restart; waits for the exit. */
int sup_stop(struct sup *s, const char *name, int timeout_ms);
/* sup_stop, then forget the unit (its restart count too): a unit of that
 * name started later is a new one. */
int sup_forget(struct sup *s, const char *name, int timeout_ms);
/* Start a second process for the unit from spec; once it is ready (or
 * ready_timeout_ms passed) SIGTERM the old one, which drains; the unit is
 * then the new process. If the new process exits before it is ready, the
 * old one stays the unit and -ECHILD is returned. */
int sup_replace(struct sup *s, const struct sup_spec *spec, int ready_timeout_ms, pid_t *old_pid, pid_t *new_pid);
int sup_status(struct sup *s, const char *name, struct sup_status *st); /* -ENOENT: unknown */
/* Copies of the fds the unit's shim holds (pidfd_getfd): how a restarted
 * controller gets the router's listeners back. */
int sup_getfds(struct sup *s, const char *name, int *fds, int n);
/* Every unit known: those found at sup_new (an earlier controller's, still
 * running or exited while it was down: st->adopted) and those started
 * since. A non-zero return of cb ends the walk and is returned. */
int sup_each(struct sup *s, int (*cb)(void *ctx, const char *name, const struct sup_status *st), void *ctx);
/* Wait (running the dispatch meanwhile) until a notify_ready unit said it
 * is ready: 0, -ETIMEDOUT, or -ESRCH when it exited first. */
int sup_wait_ready(struct sup *s, const char *name, int timeout_ms);

/* Unix time in ms; the start time of process pid (clock ticks since boot,
 * /proc/<pid>/stat), 0 if it is gone: with the pid, a process's identity. */
int64_t sup_now_ms(void);
unsigned long long sup_proc_start(pid_t pid);

/* The shim's main (azds-controller shim ...). */
int sup_shim_main(int argc, char **argv);

#endif
