// SPDX-License-Identifier: MIT
/*
 * azds-controller run: the daemon. It holds the instance's writer lock,
 * opens the store, brings the node to it (reconcile_all), then serves the
 * API and supervises the router, DNS and pods in one event loop until
 * SIGTERM or POST /v1/shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "ctl.h"
#include "tracer.h"
#include "runtime.h"
#include "podcg.h"
#include "listeners.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: azds-controller [-i INSTANCE] run [OPTIONS]\n\n"
		"Runs the controller in the foreground (for systemd or any supervisor; `azds controller start`\n"
		"starts it in the background). It serves the API on /run/azds/<instance>/api.sock, keeps its\n"
		"state in /var/lib/azds/<instance>/state.db and supervises the router, DNS and every pod.\n"
		"Limits and switches given here are stored and kept by later runs that do not give them.\n\n"
		"  --state-dir DIR        default /var/lib/azds/<instance>\n"
		"  --group NAME           the API socket's group (default azds; created if missing)\n"
		"  --max-depth N          levels of a space path (default 8, at most 16)\n"
		"  --max-spaces N         default 4096\n"
		"  --max-services N       (space, service) pairs, default 65536\n"
		"  --max-pods N           default 1024\n"
		"  --router-workers N     router event loops (default: one per CPU)\n"
		"  --ingress-port P       the local ingress on 127.0.0.1:P, in this (the host's) network\n"
		"                         namespace: <space>.<service>.localhost (docs/ingress.md); default\n"
		"                         15080, 0: none\n"
		"  --pod-memory SIZE, --pod-pids N, --pod-cpu CPU\n"
		"                         a pod's limits unless it sets its own (default 512Mi, 512, 1000m)\n"
		"  --router-arg ARG       passed to azds-router (repeat: --router-arg --max-conns --router-arg 5000)\n"
		"  --no-kernel-lb, --no-sockmap   start with these data-plane switches off\n"
		"  --no-router            do not run azds-router (tests of the control plane alone)\n"
		"  --verbose              libbpf's messages on stderr\n");
}

static unsigned long num(const char *opt, const char *v, unsigned long lo, unsigned long hi, int *bad)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || end == v || n < lo || n > hi) {
		fprintf(stderr, "azds-controller: %s \"%s\": must be a number in %lu..%lu\n", opt, v, lo, hi);
		*bad = 1;
	}
	return n;
}

/* what a setting is: as given on the command line, else as stored, else dflt */
static uint32_t setting_peek(struct ctl *c, const char *key, uint32_t val, bool given, uint32_t dflt)
{
	char buf[32];

	if (given)
		return val;
	if (store_setting_get(c->st, key, buf, sizeof(buf)) == 0)
		return (uint32_t)strtoul(buf, NULL, 10);
	return dflt;
}

/* a setting given on the command line is stored, for later starts */
static void setting_store(struct ctl *c, const char *key, uint32_t val, bool given)
{
	char buf[32];

	if (!given)
		return;
	snprintf(buf, sizeof(buf), "%u", val);
	store_setting_set(c->st, key, buf);
}

static void setting_u32(struct ctl *c, const char *key, uint32_t *val, bool given, uint32_t dflt)
{
	*val = setting_peek(c, key, *val, given, dflt);
	setting_store(c, key, *val, given);
}

/* the size of the instance's pinned map NAME, 0 when there is none */
static uint32_t pinned_size(const struct ctl *c, const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[300];
	uint32_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "%.128s/%s", c->in.pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		n = info.max_entries;
	close(fd);
	return n;
}

/*
 * Limits the node cannot take, refused before any is stored: fewer than
 * the store already holds, or sizes other than those of the maps the
 * instance has pinned (a map's size is fixed when it is made; the node
 * keeps serving from the pinned maps while the daemon is down, so they
 * are not swapped under it). 0 or 1 (refused, said on stderr).
 */
static int limits_refused(struct ctl *c, bool g_spaces, bool g_svcs, bool g_pods)
{
	const struct {
		const char *flag, *key, *map, *what;
		uint32_t want;
		bool given;
		int (*count)(struct store *, int64_t *);
	} lim[3] = {
		{ "--max-spaces", "max_spaces", "spaces", "spaces", c->cfg.max_spaces, g_spaces, store_space_count },
		{ "--max-services", "max_services", "services", "services", c->cfg.max_services, g_svcs, store_service_count },
		{ "--max-pods", "max_pods", "pods", "pods", c->cfg.max_pods, g_pods, store_pod_count },
	};
	const char *dash = strcmp(c->in.name, AZDS_INSTANCE_DEFAULT) ? " -i " : "";
	const char *iname = strcmp(c->in.name, AZDS_INSTANCE_DEFAULT) ? c->in.name : "";

	for (int i = 0; i < 3; i++) {
		int64_t have = 0;
		uint32_t pinned;

		if (lim[i].count(c->st, &have) == 0 && have > (int64_t)lim[i].want) {
			fprintf(stderr, "azds-controller: %s %u: the store holds %lld %s; remove some first, or give a limit of at least %lld\n",
				lim[i].given ? lim[i].flag : lim[i].key, lim[i].want, (long long)have, lim[i].what,
				(long long)have);
			return 1;
		}
		pinned = pinned_size(c, lim[i].map);
		if (pinned && pinned != lim[i].want) {
			fprintf(stderr,
				"azds-controller: %s %u: instance \"%s\"'s node was built for %u %s (its pinned maps keep that size, "
				"and the node serves from them while the daemon is down). To rebuild it with the new limit: "
				"azds-controller%s%s purge --keep-state (the node goes, the store stays), then start again with %s %u: "
				"every space, service and pod comes back from the store\n",
				lim[i].given ? lim[i].flag : lim[i].key, lim[i].want, c->in.name, pinned, lim[i].what, dash,
				iname, lim[i].flag, lim[i].want);
			return 1;
		}
	}
	return 0;
}

static int ensure_group(const char *name, gid_t *gid)
{
	struct group *g = getgrnam(name);

	if (!g) {
		char *argv[] = { "groupadd", "--system", (char *)name, NULL };

		if (azds_run(argv, true) == 0)
			g = getgrnam(name);
	}
	if (!g)
		return -ENOENT;
	*gid = g->gr_gid;
	return 0;
}

static int take_lock(struct ctl *c)
{
	char path[300];
	int fd;

	if (azds_mkdir_p(c->in.run_dir, 0755))
		return -EIO;
	snprintf(path, sizeof(path), "%s/lock", c->in.run_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* a one-shot command may hold it for a moment; another daemon holds it for good */
	for (int i = 0; i < 100; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		usleep(100000);
	}
	close(fd);
	return -EBUSY;
}

static void apply_switches(struct ctl *c)
{
	static const char *const names[] = { "kernel-lb", "steer", "events", "sockmap", "trace", "sockmap-pods" };
	static const __u32 bits[] = { AZDS_CFG_KERNEL_LB, AZDS_CFG_STEER, AZDS_CFG_EVENTS, AZDS_CFG_SOCKMAP,
				      AZDS_CFG_TRACE, AZDS_CFG_SOCKMAP_PODS };
	struct azds_config cfg;
	char key[64], val[8];
	bool changed = false;

	if (!c->maps_open || azds_config_get(&c->m, &cfg))
		return;
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		snprintf(key, sizeof(key), "switch.%s", names[i]);
		if (store_setting_get(c->st, key, val, sizeof(val)))
			continue;
		if (!strcmp(val, "on") && !(cfg.flags & bits[i]))
			cfg.flags |= bits[i], changed = true;
		else if (!strcmp(val, "off") && (cfg.flags & bits[i]))
			cfg.flags &= ~bits[i], changed = true;
	}
	if (changed) {
		azds_config_set(&c->m, &cfg);
		azds_gen_bump(&c->m);
	}
}

void ctl_on_unit(void *ctx, const char *name, const struct sup_status *ss)
{
	struct ctl *c = ctx;
	struct st_pod_status st = {};
	char pidf[300], buf[32];

	/* the router and dnsmasq keep pid files: the one-shot tools and
	 * libazds (DNS reload, node removal) find them there */
	if (!strcmp(name, "router") || !strcmp(name, "dns")) {
		snprintf(pidf, sizeof(pidf), "%s/%s.pid", c->in.run_dir, !strcmp(name, "dns") ? "dnsmasq" : "router");
		if (ss->state == SUP_RUNNING && ss->pid) {
			snprintf(buf, sizeof(buf), "%d\n", (int)ss->pid);
			azds_write_file(pidf, buf);
		}
		return;
	}
	if (strncmp(name, "pod-", 4) || store_pod_get(c->st, name + 4, NULL, &st))
		return;
	/* a stop of a process that had already finished keeps how it finished */
	if (ss->state == SUP_STOPPED && (st.phase == ST_PHASE_SUCCEEDED || st.phase == ST_PHASE_FAILED))
		return;
	switch (ss->state) {
	case SUP_RUNNING: st.phase = ST_PHASE_RUNNING; break;
	case SUP_BACKOFF: st.phase = ST_PHASE_BACKOFF; break;
	case SUP_STOPPED: st.phase = ST_PHASE_STOPPED; break;
	default: st.phase = ss->exit_code == 0 && !ss->signal ? ST_PHASE_SUCCEEDED : ST_PHASE_FAILED; break;
	}
	st.pid = ss->state == SUP_RUNNING ? ss->pid : 0;
	st.restarts = ss->restarts;
	st.last_exit_code = ss->exit_code;
	st.last_signal = ss->signal;
	st.started = ss->started_ms;
	st.finished = ss->finished_ms;
	snprintf(st.reason, sizeof(st.reason), "%s", ss->reason);
	store_pod_set_status(c->st, name + 4, &st);
}

struct stop_ctx {
	struct ctl *c;
	char (*names)[SUP_NAME_MAX];
	int n;
};

static int collect_unit(void *ctx, const char *name, const struct sup_status *st)
{
	struct stop_ctx *x = ctx;
	void *nv;

	if (st->state != SUP_RUNNING && st->state != SUP_BACKOFF)
		return 0; /* nothing to stop */
	nv = realloc(x->names, (size_t)(x->n + 1) * sizeof(*x->names));
	if (!nv)
		return 1;
	x->names = nv;
	snprintf(x->names[x->n++], SUP_NAME_MAX, "%s", name);
	return 0;
}

static void stop_everything(struct ctl *c)
{
	struct stop_ctx x = { c, NULL, 0 };

	sup_each(c->sup, collect_unit, &x);
	/* pods first, then DNS and the router: traffic ends last */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < x.n; i++)
			if ((pass == 0) == !strncmp(x.names[i], "pod-", 4))
				sup_stop(c->sup, x.names[i], 5000);
	free(x.names);
}

int ctl_run(int argc, char **argv, const char *self_exe, const char *bin_dir)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, 0, 'S' },   { "group", required_argument, 0, 'g' },
		{ "max-depth", required_argument, 0, 'd' },   { "max-spaces", required_argument, 0, 's' },
		{ "max-services", required_argument, 0, 'v' }, { "max-pods", required_argument, 0, 'p' },
		{ "router-workers", required_argument, 0, 'w' }, { "router-arg", required_argument, 0, 'A' },
		{ "no-kernel-lb", no_argument, 0, 'K' },      { "no-sockmap", no_argument, 0, 'M' },
		{ "no-router", no_argument, 0, 'R' },         { "verbose", no_argument, 0, 'x' },
		{ "instance", required_argument, 0, 'i' },    { "help", no_argument, 0, 'h' },
		{ "pod-memory", required_argument, 0, 'm' },  { "pod-pids", required_argument, 0, 'P' },
		{ "pod-cpu", required_argument, 0, 'C' },     { "ingress-port", required_argument, 0, 'I' },
		{ 0, 0, 0, 0 }
	};
	static struct ctl ctl;
	struct ctl *c = &ctl;
	const char *instance = getenv("AZDS_INSTANCE"), *state_dir = NULL;
	const char *pod_mem = NULL, *pod_pids = NULL, *pod_cpu = NULL;
	bool g_depth = false, g_spaces = false, g_svcs = false, g_pods = false, g_workers = false, g_ingress = false;
	struct azds_err e;
	sigset_t mask;
	gid_t gid = 0;
	int opt, bad = 0, err;
	char path[300];

	snprintf(c->cfg.group, sizeof(c->cfg.group), "azds");
	optind = 1;
	while ((opt = getopt_long(argc, argv, "hi:", opts, NULL)) != -1) {
		switch (opt) {
		case 'S': state_dir = optarg; break;
		case 'g':
			/* what groupadd takes: [a-z_][a-z0-9_-]*, at most 32 */
			if (!*optarg || strlen(optarg) > 32 || strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(optarg) ||
			    optarg[0] == '-' || (optarg[0] >= '0' && optarg[0] <= '9')) {
				fprintf(stderr, "azds-controller: --group \"%s\": a group name is 1-32 of a-z, 0-9, '_' and '-', starting with a letter or '_'\n",
					optarg);
				bad = 1;
			}
			snprintf(c->cfg.group, sizeof(c->cfg.group), "%s", optarg);
			break;
		case 'd': c->cfg.max_depth = (uint32_t)num("--max-depth", optarg, 8, AZDS_DEPTH_HARD_MAX, &bad), g_depth = true; break;
		case 's': c->cfg.max_spaces = (uint32_t)num("--max-spaces", optarg, 1, 1u << 20, &bad), g_spaces = true; break;
		case 'v': c->cfg.max_services = (uint32_t)num("--max-services", optarg, 1, 1u << 22, &bad), g_svcs = true; break;
		case 'p': c->cfg.max_pods = (uint32_t)num("--max-pods", optarg, 1, 65000, &bad), g_pods = true; break;
		case 'w': c->cfg.router_workers = (uint32_t)num("--router-workers", optarg, 1, 64, &bad), g_workers = true; break;
		case 'I': c->cfg.ingress_port = (uint32_t)num("--ingress-port", optarg, 0, 65535, &bad), g_ingress = true; break;
		case 'A':
			if (c->cfg.nrouter_args >= CTL_MAX_ROUTER_ARGS) {
				fprintf(stderr, "azds-controller: at most %d --router-arg\n", CTL_MAX_ROUTER_ARGS);
				return 2;
			}
			c->cfg.router_args[c->cfg.nrouter_args++] = optarg;
			break;
		case 'K': c->cfg.no_kernel_lb = true; break;
		case 'M': c->cfg.no_sockmap = true; break;
		case 'R': c->cfg.no_router = true; break;
		case 'x': c->cfg.verbose = true; break;
		case 'i': instance = optarg; break;
		case 'm': pod_mem = optarg; break;
		case 'P': pod_pids = optarg; break;
		case 'C': pod_cpu = optarg; break;
		case 'h': usage(stdout); return 0;
		default: return 2;
		}
	}
	c->cfg.pod_limits = (struct st_limits){ AZDS_POD_MEMORY_DEFAULT, AZDS_POD_PIDS_DEFAULT, AZDS_POD_CPU_DEFAULT };
	if (api_default_limits(pod_mem, pod_pids, pod_cpu, &c->cfg.pod_limits))
		bad = 1;
	if (bad)
		return 2;
	if (optind < argc) {
		fprintf(stderr, "azds-controller: run: unexpected argument \"%s\" (see run --help)\n", argv[optind]);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "azds-controller: must run as root (it loads BPF programs and creates namespaces)\n");
		return 1;
	}
	if (azds_inst_init(&c->in, instance, &e)) {
		fprintf(stderr, "azds-controller: %s\n", e.msg);
		return 1;
	}
	snprintf(c->self_exe, sizeof(c->self_exe), "%s", self_exe);
	snprintf(c->bin_dir, sizeof(c->bin_dir), "%s", bin_dir);
	if (state_dir)
		snprintf(c->state_dir, sizeof(c->state_dir), "%s", state_dir);
	else
		snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/azds/%.32s", c->in.name);
	c->rt = &runtime_local;
	c->lockfd = take_lock(c);
	if (c->lockfd < 0) {
		fprintf(stderr, "azds-controller: instance \"%s\": another controller runs it (the lock %s/lock is held)\n",
			c->in.name, c->in.run_dir);
		return 1;
	}
	/* one daemon per store, too: the run directory's lock does not
	 * survive someone removing /run/azds/<instance> under a live daemon */
	{
		char lp[PATH_MAX];
		int lfd;

		azds_mkdir_p(c->state_dir, 0700);
		snprintf(lp, sizeof(lp), "%.200s/daemon.lock", c->state_dir);
		lfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB)) {
			fprintf(stderr, "azds-controller: store %s: another controller has it open (%s)\n", c->state_dir,
				lfd < 0 ? strerror(errno) : "daemon.lock is held");
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%.128s/controller.pid", c->in.run_dir);
	{
		char buf[32];

		snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		azds_write_file(path, buf);
	}
	err = store_open(&c->st, c->state_dir);
	if (err) {
		fprintf(stderr, "azds-controller: store in %s: %s\n", c->state_dir, c->st ? store_errmsg(c->st) : strerror(-err));
		return 1;
	}
	/* the map sizes: checked against the store and the pinned node
	 * before a given one is stored */
	c->cfg.max_spaces = setting_peek(c, "max_spaces", c->cfg.max_spaces, g_spaces, 4096);
	c->cfg.max_services = setting_peek(c, "max_services", c->cfg.max_services, g_svcs, 65536);
	c->cfg.max_pods = setting_peek(c, "max_pods", c->cfg.max_pods, g_pods, 1024);
	if (limits_refused(c, g_spaces, g_svcs, g_pods))
		return 1;
	setting_u32(c, "max_depth", &c->cfg.max_depth, g_depth, AZDS_DEPTH_DEFAULT);
	setting_store(c, "max_spaces", c->cfg.max_spaces, g_spaces);
	setting_store(c, "max_services", c->cfg.max_services, g_svcs);
	setting_store(c, "max_pods", c->cfg.max_pods, g_pods);
	setting_u32(c, "router_workers", &c->cfg.router_workers, g_workers, 0);
	setting_u32(c, "ingress_port", &c->cfg.ingress_port, g_ingress, AZDS_INGRESS_PORT_DEFAULT);
	c->rd.ingress_port = c->cfg.ingress_port; /* routerd_start keeps it */
	setting_u32(c, "pod_pids", &c->cfg.pod_limits.pids, pod_pids != NULL, AZDS_POD_PIDS_DEFAULT);
	setting_u32(c, "pod_cpu", &c->cfg.pod_limits.cpu_millis, pod_cpu != NULL, AZDS_POD_CPU_DEFAULT);
	{
		char buf[32];

		if (pod_mem) {
			snprintf(buf, sizeof(buf), "%llu", (unsigned long long)c->cfg.pod_limits.memory_bytes);
			store_setting_set(c->st, "pod_memory", buf);
		} else if (store_setting_get(c->st, "pod_memory", buf, sizeof(buf)) == 0) {
			c->cfg.pod_limits.memory_bytes = strtoull(buf, NULL, 10);
		}
	}
	{
		/* router arguments: given ones replace the stored list */
		static char stored[4096];

		if (c->cfg.nrouter_args) {
			size_t o = 0;

			for (int i = 0; i < c->cfg.nrouter_args; i++) {
				int n = snprintf(stored + o, sizeof(stored) - o, "%s\n", c->cfg.router_args[i]);

				if (n < 0 || (size_t)n >= sizeof(stored) - o) {
					fprintf(stderr, "azds-controller: --router-arg: at most %zu bytes in all\n",
						sizeof(stored) - 1);
					return 2;
				}
				o += (size_t)n;
			}
			store_setting_set(c->st, "router_args", stored);
		} else if (store_setting_get(c->st, "router_args", stored, sizeof(stored)) == 0) {
			for (char *p = stored, *nl; *p && c->cfg.nrouter_args < CTL_MAX_ROUTER_ARGS; p = nl + 1) {
				nl = strchr(p, '\n');
				if (!nl)
					break;
				*nl = 0;
				c->cfg.router_args[c->cfg.nrouter_args++] = p;
			}
		}
	}
	if (c->cfg.no_kernel_lb)
		store_setting_set(c->st, "switch.kernel-lb", "off");
	if (c->cfg.no_sockmap)
		store_setting_set(c->st, "switch.sockmap", "off");
	c->cfg.max_vips = c->cfg.max_services < 65534 ? c->cfg.max_services : 65534;
	/* a deeper store than the limit asks for must not be cut */
	if (store_space_get(c->st, CTL_DEFAULT_SPACE, &(struct st_space){}) == -ENOENT &&
	    store_space_add(c->st, CTL_DEFAULT_SPACE, "")) {
		fprintf(stderr, "azds-controller: store: %s\n", store_errmsg(c->st));
		return 1;
	}
	if (ensure_group(c->cfg.group, &gid)) {
		fprintf(stderr, "azds-controller: --group \"%s\": no such group, and groupadd could not create it\n",
			c->cfg.group);
		return 1;
	}
	snprintf(path, sizeof(path), "%.128s/units", c->in.run_dir);
	azds_mkdir_p(path, 0700);
	err = sup_new(&c->sup, path, c->self_exe, ctl_on_unit, c);
	if (err) {
		fprintf(stderr, "azds-controller: supervisor in %s: %s\n", path, strerror(-err));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	c->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);

	ctl_trash_sweep(c);
	err = reconcile_all(c);
	apply_switches(c);
	if (tracer_start(&c->tr, &c->in))
		fprintf(stderr, "azds-controller: no trace reader: out of memory\n");
	ctl_trace_apply(c);
	if (err)
		fprintf(stderr, "azds-controller: the first reconcile left errors (last: %s); serving anyway\n", c->last_error);
	if (c->rd.ingress_error[0])
		fprintf(stderr, "azds-controller: no local ingress: %s\n", c->rd.ingress_error);
	snprintf(path, sizeof(path), "%.128s/api.sock", c->in.run_dir);
	err = httpd_open(&c->api, path, gid, api_handle, c);
	if (err) {
		fprintf(stderr, "azds-controller: API socket %s: %s\n", path, strerror(-err));
		return 1;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &c->sigfd };
		struct epoll_event sev = { .events = EPOLLIN, .data.ptr = c->sup };

		epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->sigfd, &ev);
		epoll_ctl(c->epfd, EPOLL_CTL_ADD, sup_fd(c->sup), &sev);
		httpd_epoll(c->api, c->epfd);
	}
	c->ready = true;
	fprintf(stderr, "azds-controller: instance %s ready: API on %s, state in %s\n", c->in.name, path, c->state_dir);

	while (!c->stopping) {
		struct epoll_event evs[64];
		int timeout = httpd_next_deadline_ms(c->api, c->dns_dirty ? 50 : 1000);
		int n = epoll_wait(c->epfd, evs, 64, timeout);

		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &c->sigfd) {
				struct signalfd_siginfo si;

				while (read(c->sigfd, &si, sizeof(si)) == sizeof(si))
					if (si.ssi_signo != SIGHUP)
						c->stopping = true;
			} else if (p == c->sup) {
				sup_dispatch(c->sup);
			} else if (httpd_owns(c->api, p)) {
				httpd_event(c->api, p, evs[i].events);
			}
		}
		httpd_tick(c->api);
		reconcile_dns_flush(c, false);
	}
	/* answer what is parked, then go */
	httpd_tick(c->api);
	reconcile_dns_flush(c, true);
	if (c->stop_all)
		stop_everything(c);
	httpd_close(c->api);
	tracer_stop(c->tr);
	c->tr = NULL;
	sup_free(c->sup);
	store_close(c->st);
	snprintf(path, sizeof(path), "%.128s/controller.pid", c->in.run_dir);
	unlink(path);
	fprintf(stderr, "azds-controller: instance %s: stopped%s\n", c->in.name,
		c->stop_all ? " with its router, DNS and pods" : "; the router, DNS and pods keep running");
	return 0;
}
