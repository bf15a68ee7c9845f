// SPDX-License-Identifier: MIT
/*
 * The router unit (routerd.h): the listeners stay with the controller
 * (and the router's shim); router processes come and go on top of them.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "azds.h"
#include "listeners.h"
#include "routerd.h"
#include "store.h"

#define ROUTERD_BACKOFF_FIRST_MS 0 /* a dead router is replaced at once: its connections wait */
#define ROUTERD_BACKOFF_MAX_MS 2000

static void args_free(struct routerd *rd)
{
	for (int i = 0; rd->args[i]; i++) {
		free(rd->args[i]);
		rd->args[i] = NULL;
	}
}

static int args_set(struct routerd *rd, char *const *args, struct azds_err *e)
{
	int n = 0;

	args_free(rd);
	for (; args && args[n]; n++) {
		if (n >= ROUTERD_MAX_ARGS) {
			args_free(rd);
			return azds_err(e, E2BIG, "router: at most %d extra arguments", ROUTERD_MAX_ARGS);
		}
		rd->args[n] = strdup(args[n]);
		if (!rd->args[n]) {
			args_free(rd);
			return azds_err(e, ENOMEM, "router: out of memory");
		}
	}
	return 0;
}

/* workers 0: a --workers in the router's arguments, else the usable CPUs */
static unsigned pick_workers(const struct routerd *rd, unsigned workers)
{
	cpu_set_t set;
	int n;

	for (int i = 0; !workers && rd->args[i] && rd->args[i + 1]; i++)
		if (!strcmp(rd->args[i], "--workers"))
			workers = (unsigned)strtoul(rd->args[i + 1], NULL, 10);
	if (!workers) {
		n = sched_getaffinity(0, sizeof(set), &set) ? 1 : CPU_COUNT(&set);
		workers = n > 0 ? (unsigned)n : 1;
	}
	/* the shim hands over at most SUP_MAX_FDS: the ingress takes one */
	if (rd->ingress_port && workers > SUP_MAX_FDS - 1)
		workers = SUP_MAX_FDS - 1;
	return workers > ROUTERD_MAX_WORKERS ? ROUTERD_MAX_WORKERS : workers;
}

/* The ingress listener on 127.0.0.1:ingress_port, here (the host's
 * namespace); its absence is said in ingress_error, never a failure. */
static void ingress_open(struct routerd *rd)
{
	int fd;

	rd->ingress_error[0] = 0;
	if (!rd->ingress_port || rd->ingress_fd >= 0)
		return;
	if (rd->n + 1 > SUP_MAX_FDS) {
		snprintf(rd->ingress_error, sizeof(rd->ingress_error),
			 "ingress 127.0.0.1:%u: the router has %u workers, at most %d with an ingress", rd->ingress_port,
			 rd->n, SUP_MAX_FDS - 1);
		return;
	}
	fd = azds_ingress_listen("127.0.0.1", rd->ingress_port);
	if (fd < 0) {
		snprintf(rd->ingress_error, sizeof(rd->ingress_error), "ingress 127.0.0.1:%u: %s%s", rd->ingress_port,
			 strerror(-fd),
			 fd == -EADDRINUSE ? " (another instance's ingress? azds-controller run --ingress-port P "
					     "picks another port, 0 turns the ingress off)"
					   : "");
		return;
	}
	rd->ingress_fd = fd;
}

/* Every fd a listening socket? (taken from a shim: it should be) */
static bool all_listening(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int v = 0;
		socklen_t len = sizeof(v);

		if (getsockopt(fds[i], SOL_SOCKET, SO_ACCEPTCONN, &v, &len) || !v)
			return false;
	}
	return true;
}

/* The unit's spec; the strings live in the caller's buffers. */
struct spec_buf {
	char *argv[10 + ROUTERD_MAX_ARGS + 1];
	char nfds[16], ingress[16], log[300], cgroup[300];
	int fds[ROUTERD_MAX_WORKERS + 1]; /* the workers', then the ingress */
	struct sup_spec sp;
};

static struct sup_spec *build_spec(struct routerd *rd, struct spec_buf *b)
{
	int argc = 0;

	memset(b, 0, sizeof(*b));
	snprintf(b->nfds, sizeof(b->nfds), "%u", rd->n);
	snprintf(b->log, sizeof(b->log), "%s/router.log", rd->in.run_dir);
	b->argv[argc++] = rd->bin;
	b->argv[argc++] = "--instance";
	b->argv[argc++] = rd->in.name;
	if (rd->in.node_ns[0]) { /* "": the controller's own (the Kubernetes mode) */
		b->argv[argc++] = "--netns";
		b->argv[argc++] = rd->in.node_ns;
	}
	b->argv[argc++] = "--listen-fds";
	b->argv[argc++] = b->nfds;
	memcpy(b->fds, rd->fds, sizeof(int) * rd->n);
	b->sp.nfds = (int)rd->n;
	if (rd->ingress_fd >= 0) {
		/* inherited fds are 3, 4, ...: the ingress comes right after the workers' */
		snprintf(b->ingress, sizeof(b->ingress), "%u", 3 + rd->n);
		b->argv[argc++] = "--ingress-fd";
		b->argv[argc++] = b->ingress;
		b->fds[b->sp.nfds++] = rd->ingress_fd;
	}
	for (int i = 0; rd->args[i]; i++)
		b->argv[argc++] = rd->args[i];
	b->argv[argc] = NULL;
	snprintf(b->sp.name, sizeof(b->sp.name), "%s", ROUTERD_UNIT);
	b->sp.argv = b->argv;
	b->sp.log_path = b->log;
	b->sp.fds = b->fds;
	b->sp.policy = ST_RESTART_ALWAYS;
	b->sp.backoff_first_ms = ROUTERD_BACKOFF_FIRST_MS;
	b->sp.backoff_max_ms = ROUTERD_BACKOFF_MAX_MS;
	b->sp.notify_ready = true;
	/* the router lives in the instance cgroup so that sockops sees its
	 * sockets (sockmap); connect4 ignores it: it is not a pod */
	if (rd->in.cgroup_dir[0]) {
		snprintf(b->cgroup, sizeof(b->cgroup), "%s/_router", rd->in.cgroup_dir);
		azds_mkdir_p(b->cgroup, 0755);
		b->sp.cgroup = b->cgroup;
	}
	return &b->sp;
}

/*
 * A recovered router's last fd is its ingress when it is a socket of our
 * own namespace (the workers' are the node's). Kept when it is the one
 * asked for; otherwise closed, and *respawn says the router must be
 * replaced by one with the right ingress (or none).
 */
static void recover_ingress(struct routerd *rd, bool *respawn)
{
	int last = rd->n ? rd->fds[rd->n - 1] : -1;
	bool had = rd->in.node_ns[0] && last >= 0 && azds_sock_here(last); /* none in the Kubernetes mode */

	if (had) {
		rd->fds[--rd->n] = -1;
		if (rd->ingress_port && azds_sock_port(last) == rd->ingress_port) {
			rd->ingress_fd = last;
			return;
		}
		close(last);
	}
	*respawn = had || rd->ingress_port;
}

/* The listeners of a router that outlived the last controller, if any. */
static int recover(struct routerd *rd, bool *respawn, struct azds_err *e)
{
	struct sup_status st;
	int err;

	if (sup_status(rd->sup, ROUTERD_UNIT, &st) || st.state != SUP_RUNNING || st.nfds < 1 ||
	    st.nfds > ROUTERD_MAX_WORKERS + 1)
		return 0;
	err = sup_getfds(rd->sup, ROUTERD_UNIT, rd->fds, st.nfds);
	if (err)
		return azds_err(e, err, "router: take the listeners back from its shim: %s", strerror(-err));
	rd->n = (unsigned)st.nfds;
	recover_ingress(rd, respawn);
	if (!rd->n || !all_listening(rd->fds, rd->n)) {
		for (unsigned i = 0; i < rd->n; i++)
			close(rd->fds[i]);
		rd->n = 0;
		return azds_err(e, EBADF, "router: the running router's shim holds no listeners");
	}
	/* the same sockets; registered again in case the maps were reloaded */
	err = azds_dp_listeners_set(rd->in.pin_dir, rd->fds, rd->n);
	if (err)
		return azds_err(e, err, "router: register its listeners with the data plane: %s", strerror(-err));
	return 1;
}

int routerd_start(struct routerd *rd, struct sup *s, const struct azds_inst *in, const char *bin_dir,
		  char *const *router_args, unsigned workers, struct azds_err *e)
{
	struct spec_buf b;
	struct azds_maps m;
	struct azds_config cfg;
	unsigned ingress_port = rd->ingress_port;
	bool fresh, respawn = false;
	int err;

	memset(rd, 0, sizeof(*rd));
	for (unsigned i = 0; i <= ROUTERD_MAX_WORKERS; i++)
		rd->fds[i] = -1;
	rd->ingress_port = ingress_port;
	rd->ingress_fd = -1;
	rd->sup = s;
	rd->in = *in;
	snprintf(rd->bin, sizeof(rd->bin), "%s/azds-router", bin_dir);
	err = args_set(rd, router_args, e);
	if (err)
		return err;
	err = azds_maps_open(in, &m, e);
	if (err)
		goto fail;
	err = azds_config_get(&m, &cfg);
	azds_maps_close(&m);
	if (err) {
		azds_err(e, err, "instance \"%s\": read the data plane's config: %s", in->name, strerror(-err));
		goto fail;
	}
	rd->port = cfg.router_port;
	err = recover(rd, &respawn, e);
	if (err < 0)
		goto fail;
	fresh = err == 0;
	if (fresh) {
		rd->n = pick_workers(rd, workers);
		err = azds_router_listeners_open(in, rd->n, rd->port, rd->fds);
		if (err) {
			azds_err(e, err, "router: %u listeners on port %u in %s: %s%s", rd->n, rd->port, in->node_ns,
				 strerror(-err),
				 err == -EADDRINUSE ? " (a router started by 'azds-controller start' still runs?)" : "");
			goto fail;
		}
	}
	ingress_open(rd);
	err = sup_start(s, build_spec(rd, &b));
	if (err) {
		azds_err(e, err, "router: start %s: %s", rd->bin, strerror(-err));
		if (fresh)
			azds_router_listeners_close(in, rd->fds, rd->n);
		goto fail;
	}
	if (respawn) {
		pid_t old, new;

		/* the running router has another ingress than the one asked
		 * for (or had): a new one on the same listeners takes over, the
		 * old drains, so the ingress is what the status says */
		err = sup_replace(s, build_spec(rd, &b), 10000, &old, &new);
		if (err)
			snprintf(rd->ingress_error, sizeof(rd->ingress_error),
				 "ingress: the running router could not be replaced by one with the ingress (%s); "
				 "azds controller restart-router tries again", strerror(-err));
	}
	return 0;
fail:
	for (unsigned i = 0; i < rd->n; i++)
		if (rd->fds[i] >= 0)
			close(rd->fds[i]);
	rd->n = 0;
	if (rd->ingress_fd >= 0)
		close(rd->ingress_fd);
	rd->ingress_fd = -1;
	args_free(rd);
	return err;
}

int routerd_restart(struct routerd *rd, char *const *router_args, int ready_timeout_ms, pid_t *old_pid,
		    pid_t *new_pid, struct azds_err *e)
{
	struct spec_buf b;
	int err;

	if (!rd->n)
		return azds_err(e, ENOENT, "router: not started");
	if (router_args) {
		err = args_set(rd, router_args, e);
		if (err)
			return err;
	}
	err = sup_replace(rd->sup, build_spec(rd, &b), ready_timeout_ms, old_pid, new_pid);
	if (err == -ECHILD)
		return azds_err(e, err, "router: the new router exited before it was ready (see %s/router.log); "
				"the old one still serves", rd->in.run_dir);
	if (err)
		return azds_err(e, err, "router: start a new router: %s", strerror(-err));
	return 0;
}

int routerd_stop(struct routerd *rd, int timeout_ms)
{
	int err = sup_stop(rd->sup, ROUTERD_UNIT, timeout_ms);

	if (rd->n)
		azds_router_listeners_close(&rd->in, rd->fds, rd->n);
	rd->n = 0;
	if (rd->ingress_fd >= 0)
		close(rd->ingress_fd);
	rd->ingress_fd = -1;
	args_free(rd);
	return err == -ENOENT ? 0 : err;
}

void routerd_free(struct routerd *rd)
{
	for (unsigned i = 0; i < rd->n; i++)
		if (rd->fds[i] >= 0)
			close(rd->fds[i]);
	rd->n = 0;
	if (rd->ingress_fd >= 0)
		close(rd->ingress_fd);
	rd->ingress_fd = -1;
	args_free(rd);
}
