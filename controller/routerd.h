/* SPDX-License-Identifier: MIT */
/*
 * The router as a supervised unit. The controller owns the router's
 * listeners (userspace/lib/listeners.h): they are made once, registered
 * with the data plane, and handed to every router process as inherited
 * fds (azds-router --listen-fds N), so connections that arrive while a
 * router restarts wait in the listeners' backlog instead of being refused.
 * A controller that restarts takes them back from the running router's
 * shim (sup_getfds).
 *
 * The local ingress (docs/ingress.md) is one more listener the controller
 * keeps: 127.0.0.1:<ingress_port> in the controller's own network
 * namespace (the host's), handed over after the workers' as
 * azds-router --ingress-fd 3+N; it outlives router processes the same way.
 */
#ifndef AZDS_ROUTERD_H
#define AZDS_ROUTERD_H

#include <limits.h>
#include <sys/types.h>
#include "azds.h"
#include "supervise.h"

#define ROUTERD_UNIT "router"
#define ROUTERD_MAX_ARGS 32
#define ROUTERD_MAX_WORKERS 64 /* the router's ROUTER_MAX_WORKERS */

struct routerd {
	struct sup *sup;
	struct azds_inst in;
	char bin[PATH_MAX];
	char *args[ROUTERD_MAX_ARGS + 1]; /* the extra router arguments (owned copies) */
	int fds[ROUTERD_MAX_WORKERS + 1]; /* the controller's copies of the listeners (+1: recovery reads the ingress here) */
	unsigned n;                       /* listeners = router workers */
	unsigned port;                    /* the data plane's router port */
	unsigned ingress_port;            /* set before routerd_start, kept by it; 0: no ingress */
	int ingress_fd;                   /* the controller's copy, -1: none */
	char ingress_error[256];          /* why there is none although one was asked for */
};

/*
 * Open (or, from the live router's shim, recover) the listeners and start
 * the unit "router" (policy Always, backoff 0 ms doubling to 2 s,
 * notify_ready, log <run_dir>/router.log, cgroup <cgroup_dir>/_router):
 * <bin_dir>/azds-router --instance I --netns <node ns> --listen-fds N
 * [router_args]. workers 0: a --workers in router_args, else the CPUs the
 * controller may run on; a recovered router keeps its number of listeners.
 * rd is filled; the caller keeps it. Returns 0 or -errno with a message in
 * e. Readiness: sup_wait_ready(s, ROUTERD_UNIT, ms).
 * With rd->ingress_port set, the ingress is opened (or recovered) too; an
 * ingress that cannot be had (the port is taken) is no failure of the
 * router: rd->ingress_error says why, rd->ingress_fd stays -1. A recovered
 * router whose ingress is not the one asked for is replaced (drained) by
 * one that has it.
 */
int routerd_start(struct routerd *rd, struct sup *s, const struct azds_inst *in, const char *bin_dir,
		  char *const *router_args, unsigned workers, struct azds_err *e);
/*
 * A new router on the same listeners (router_args: new extra arguments, or
 * NULL to keep them); the old one drains once the new one is ready.
 */
int routerd_restart(struct routerd *rd, char *const *router_args, int ready_timeout_ms, pid_t *old_pid,
		    pid_t *new_pid, struct azds_err *e);
/* Stop the router (SIGTERM: it drains; SIGKILL after timeout_ms), then
 * unregister and close the listeners. */
int routerd_stop(struct routerd *rd, int timeout_ms);
/* Forget rd (the controller exits): close its copies; the router runs on. */
void routerd_free(struct routerd *rd);

#endif
