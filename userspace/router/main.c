// SPDX-License-Identifier: MIT
/*
 * azds-router: one HTTP router per node. Pods' connections to HTTP services
 * arrive on a transparent listener (steered by the TC program); the router
 * picks the backend of the nearest space in the request's route-as chain.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <time.h>
#include <sys/mman.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "dataplane_load.h"
#include "listeners.h"
#include "router.h"
#include "spread.h"

/* Settings: name, default, bounds; one table, used by --help too. */
struct setting {
	const char *name;
	unsigned long long def, min, max;
	const char *help;
	size_t off;
	int size; /* 4 or 8 */
};

#define S(n, f, d, lo, hi, h) { n, d, lo, hi, h, offsetof(struct router_cfg, f), sizeof(((struct router_cfg *)0)->f) }
static const struct setting settings[] = {
	S("port", port, 15001, 1, 65535, "transparent listener port (must match the data plane's)"),
	S("workers", workers, 0, 0, ROUTER_MAX_WORKERS, "event loops, one per core (0: the CPUs the router may run on)"),
	S("spread-busy", spread_busy_pct, 70, 0, 101, "percent of a CPU an event loop open to new connections must be busy before one more loop opens to them, while the router's CPUs have --spread-idle to spare (0: all loops open at once, the flow hash over all; 101: never)"),
	S("spread-idle", spread_idle_pct, 70, 0, 100000, "percent of a CPU that must be idle among the CPUs the router may run on for one more loop to open"),
	S("max-conns", max_conns, 20000, 16, 1000000, "client + upstream connections, all workers"),
	S("max-conns-per-pod", max_conns_per_pod, 0, 0, 1000000, "client connections (tunnels and upgrades too) of one caller; above: 503 (0: max-conns / 4)"),
	S("max-head-bytes", max_head_bytes, 16384, 1024, 1048576, "request head size; above: 431"),
	S("max-headers", max_headers, 100, 8, 126, "request header count; above: 431"),
	S("max-body-bytes", max_body_bytes, 1ULL << 30, 0, 1ULL << 40, "request body, declared or chunked; above: 413 (0: no limit)"),
	S("header-timeout-ms", header_timeout_ms, 10000, 100, 600000, "time to receive a request head; then 408"),
	S("idle-timeout-ms", idle_timeout_ms, 60000, 100, 3600000, "keep-alive idle time of client connections, and the longest an exchange may stay silent both ways (a backend pausing mid-response, a client not reading or not sending its body): then the client's connection is reset (a response already under way) or gets 408 (its body stalled)"),
	S("tunnel-idle-timeout-ms", tunnel_idle_timeout_ms, 300000, 1000, 86400000, "idle time of upgraded (websocket) and tunnelled connections"),
	S("connect-timeout-ms", connect_timeout_ms, 5000, 100, 600000, "time to connect to a backend; then 504"),
	S("upstream-timeout-ms", upstream_timeout_ms, 60000, 100, 3600000, "time for a backend's response head; then 504"),
	S("max-idle-upstreams", max_idle_upstreams, 1024, 0, 100000, "pooled idle upstream connections, per worker"),
	S("max-idle-per-backend", max_idle_per_backend, 256, 0, 100000, "pooled idle upstream connections to one backend, per worker"),
	S("pool-idle-timeout-ms", pool_idle_timeout_ms, 30000, 100, 3600000, "idle time of a pooled upstream connection"),
	S("access-log-bytes", access_log_bytes, 16ULL << 20, 4096, 1ULL << 40, "access log size before it is rotated to FILE.1"),
	S("drain-timeout-ms", drain_timeout_ms, 10000, 0, 3600000, "after SIGTERM: time for in-flight exchanges and tunnels to end (0: stop at once)"),
	S("drain-idle-ms", drain_idle_ms, 500, 0, 3600000, "draining: time an idle client connection has to send one more request (answered, then closed)"),
	S("listen-fds", listen_fds, 0, 0, ROUTER_MAX_WORKERS, "listeners inherited as fds 3..3+N-1, listening and registered by their owner: one worker each (0: make our own)"),
	S("ingress-fd", ingress_fd, 0, 0, 65535, "an inherited listener of the local ingress (in the host's namespace), served by every worker: Host names service and space (0: none)"),
};
#undef S

static struct router_shared SH;
static struct router W[ROUTER_MAX_WORKERS];
static struct spread SPREAD = { .fd = -1 };
_Static_assert(SPREAD_MAX_LOOPS >= ROUTER_MAX_WORKERS, "spread.c keeps a CPU clock per loop");

static void usage(FILE *f)
{
	fprintf(f, "usage: azds-router [--instance NAME] [--netns NAME] [--access-log FILE] [--SETTING VALUE]...\n\n"
		   "The node's HTTP router. Reads the pinned maps of instance NAME (default \"%s\").\n"
		   "  --instance NAME     azds instance whose maps to read\n"
		   "  --netns NAME        network namespace to run in (the node's)\n"
		   "  --access-log FILE   one line per request and refusal in FILE (mode 0640, rotated\n"
		   "                      to FILE.1 at --access-log-bytes); off by default\n"
		   "  --access-log-query  log request targets with their query strings (default: cut)\n"
		   "  --redirect-mode   take the original destination from SO_ORIGINAL_DST (behind an\n"
		   "                    iptables REDIRECT; only for the benchmark's sidecar baseline)\n"
		   "  --ingress ADDR:PORT  make a local ingress listener there, in the namespace the\n"
		   "                    router starts in (before --netns): <space>.<service>.localhost\n"
		   "                    and the AZDS-FORWARD preamble (docs/ingress.md); or inherit one\n"
		   "                    with --ingress-fd FD\n"
		   "With --listen-fds N the listeners belong to whoever started the router (the\n"
		   "controller): the router neither makes, registers nor unregisters them, and a new\n"
		   "router can take over while this one drains. AZDS_READY_FD=FD in the environment:\n"
		   "one byte is written to FD once every worker runs. SIGTERM (or SIGINT) drains:\n"
		   "no new connections, exchanges in flight finish (their responses say Connection:\n"
		   "close), idle clients are closed after a short grace, tunnels get the drain\n"
		   "timeout; a second signal stops at once.\n"
		   "Settings (default, bounds):\n",
		AZDS_INSTANCE_DEFAULT);
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		fprintf(f, "  --%-20s %s (%llu, %llu..%llu)\n", settings[i].name, settings[i].help, settings[i].def,
			settings[i].min, settings[i].max);
}

static void set_value(const struct setting *s, unsigned long long v)
{
	char *p = (char *)&SH.cfg + s->off;

	if (s->size == 8)
		*(uint64_t *)p = v;
	else
		*(unsigned *)p = (unsigned)v;
}

static int parse_args(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		set_value(&settings[i], settings[i].def);
	snprintf(SH.cfg.instance, sizeof(SH.cfg.instance), "%s", AZDS_INSTANCE_DEFAULT);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool found = false;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(a, "--access-log-query")) {
			SH.cfg.access_log_query = true;
			continue;
		}
		if (!strcmp(a, "--redirect-mode")) {
			SH.cfg.redirect_mode = true;
			continue;
		}
		if (strncmp(a, "--", 2) || i + 1 >= argc) {
			fprintf(stderr, "azds-router: unknown or incomplete option \"%s\" (see --help)\n", a);
			return -1;
		}
		if (!strcmp(a, "--instance")) {
			snprintf(SH.cfg.instance, sizeof(SH.cfg.instance), "%s", argv[++i]);
			continue;
		}
		if (!strcmp(a, "--access-log")) {
			const char *v = argv[++i];

			if (!*v || strlen(v) >= sizeof(SH.cfg.access_log)) {
				fprintf(stderr, "azds-router: --access-log \"%s\": must be a file path\n", v);
				return -1;
			}
			snprintf(SH.cfg.access_log, sizeof(SH.cfg.access_log), "%s", v);
			continue;
		}
		if (!strcmp(a, "--ingress")) {
			const char *v = argv[++i];

			if (!*v || strlen(v) >= sizeof(SH.cfg.ingress) || !strchr(v, ':')) {
				fprintf(stderr, "azds-router: --ingress \"%s\": must be ADDR:PORT (127.0.0.1:15080)\n", v);
				return -1;
			}
			snprintf(SH.cfg.ingress, sizeof(SH.cfg.ingress), "%s", v);
			continue;
		}
		if (!strcmp(a, "--netns")) {
			snprintf(SH.cfg.netns, sizeof(SH.cfg.netns), "%s", argv[++i]);
			continue;
		}
		for (size_t k = 0; k < sizeof(settings) / sizeof(settings[0]); k++) {
			const struct setting *s = &settings[k];
			char *end;
			unsigned long long v;

			if (strcmp(a + 2, s->name))
				continue;
			errno = 0;
			v = strtoull(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] || v < s->min || v > s->max) {
				fprintf(stderr, "azds-router: --%s \"%s\": must be a number in %llu..%llu\n", s->name,
					argv[i], s->min, s->max);
				return -1;
			}
			set_value(s, v);
			found = true;
		}
		if (!found) {
			fprintf(stderr, "azds-router: unknown option \"%s\" (see --help)\n", a);
			return -1;
		}
	}
	return 0;
}

/*
 * The workers' listeners, one each (userspace/lib/listeners.h): worker 0
 * on the router port, the others on loopback, all transparent, for TC to
 * pick from once registered. Behind iptables REDIRECT (the benchmark's
 * sidecar baseline) there is no TC: all share the port (SO_REUSEPORT).
 */
static int make_listeners(int *fds)
{
	return azds_router_listeners_make(SH.nworkers, SH.cfg.port, SH.cfg.redirect_mode ? AZDS_LISTEN_REDIRECT : 0,
					  fds);
}

/* Tell TC about every worker's listener (n = 0: forget them); never
 * for listeners we were given: their owner registered them. */
static int register_listeners(const struct azds_inst *in, unsigned n)
{
	int fds[ROUTER_MAX_WORKERS];

	if (SH.cfg.redirect_mode || SH.cfg.listen_fds)
		return 0;
	for (unsigned i = 0; i < n; i++)
		fds[i] = W[i].lfd;
	return azds_dp_listeners_set(in->pin_dir, fds, n);
}

/*
 * --listen-fds N: fds 3..3+N-1, taken before anything else is opened. Each
 * must be a listening IPv4 TCP socket; the port is worker 0's.
 */
static int take_listeners(int *fds)
{
	for (unsigned i = 0; i < SH.cfg.listen_fds; i++) {
		int fd = 3 + (int)i, v = 0, fl;
		socklen_t len = sizeof(v);
		struct sockaddr_in a;
		socklen_t al = sizeof(a);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) || !v ||
		    getsockname(fd, (struct sockaddr *)&a, &al) || a.sin_family != AF_INET) {
			fprintf(stderr, "azds-router: --listen-fds %u: fd %d is not a listening IPv4 TCP socket\n",
				SH.cfg.listen_fds, fd);
			return -1;
		}
		/* the file description is the owner's too: non-blocking suits it */
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) || fcntl(fd, F_SETFD, FD_CLOEXEC))
			return -1;
		if (i == 0)
			SH.cfg.port = ntohs(a.sin_port);
		fds[i] = fd;
	}
	return 0;
}

/*
 * The ingress: --ingress-fd FD (inherited, checked as the worker listeners
 * are), or --ingress ADDR:PORT (made here, before the router enters the
 * node's namespace: the developer is in the one we start in).
 */
static int take_ingress(void)
{
	int fd = (int)SH.cfg.ingress_fd, v = 0, fl;
	socklen_t len = sizeof(v);
	char addr[64], *colon, *end;
	unsigned long port;

	SH.ingress_fd = -1;
	if (SH.cfg.ingress_fd && SH.cfg.ingress[0]) {
		fprintf(stderr, "azds-router: --ingress-fd and --ingress: one ingress at most\n");
		return -1;
	}
	if (SH.cfg.ingress_fd) {
		if (fd < 3 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) || !v || !azds_sock_port(fd)) {
			fprintf(stderr, "azds-router: --ingress-fd %d: not a listening IPv4 TCP socket\n", fd);
			return -1;
		}
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) || fcntl(fd, F_SETFD, FD_CLOEXEC))
			return -1;
		SH.ingress_fd = fd;
		return 0;
	}
	if (!SH.cfg.ingress[0])
		return 0;
	snprintf(addr, sizeof(addr), "%s", SH.cfg.ingress);
	colon = strrchr(addr, ':');
	*colon = 0;
	port = strtoul(colon + 1, &end, 10);
	fd = azds_ingress_listen(addr, !*end && port <= 65535 ? (unsigned)port : 0);
	if (fd < 0) {
		fprintf(stderr, "azds-router: --ingress %s: %s\n", SH.cfg.ingress,
			fd == -EINVAL ? "must be an IPv4 ADDR:PORT with a port in 1..65535" : strerror(-fd));
		return -1;
	}
	SH.ingress_fd = fd;
	SH.own_ingress = true;
	return 0;
}

/* AZDS_READY_FD: whoever waits for us (the supervisor) hears once. */
static int ready_fd(void)
{
	const char *v = getenv("AZDS_READY_FD");
	char *end;
	long fd;

	if (!v)
		return -1;
	fd = strtol(v, &end, 10);
	unsetenv("AZDS_READY_FD");
	if (*end || end == v || fd < 3 || fd > INT_MAX || fcntl((int)fd, F_SETFD, FD_CLOEXEC))
		return -1;
	return (int)fd;
}

/* The CPUs this process may run on: the default number of workers. */
static unsigned usable_cpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	n = CPU_COUNT(&set);
	if (n < 1)
		return 1;
	return n > ROUTER_MAX_WORKERS ? ROUTER_MAX_WORKERS : (unsigned)n;
}

static void *worker_run(void *arg)
{
	struct router *r = arg;
	struct epoll_event evs[256];
	uint64_t last_sweep = 0;

	while (!r->sh->stop) {
		int t = r->again ? 0 : r->draining ? 50 : 250, rt = router_rx_timeout(r);
		int n = epoll_wait(r->epfd, evs, 256, rt >= 0 && rt < t ? rt : t);

		r->now_ms = router_now_ms();
		router_note_events(r, evs, n);
		for (int i = 0; i < n; i++) {
			if (!evs[i].events)
				continue; /* spent by router_note_events */
			if (!evs[i].data.ptr)
				router_accept(r, r->lfd, false);
			else if (evs[i].data.ptr == &r->sh->ingress_fd)
				router_accept(r, r->sh->ingress_fd, true);
			else if (evs[i].data.ptr == &r->wakefd)
				eventfd_read(r->wakefd, &(eventfd_t){ 0 }); /* woken for the drain: below */
			else
				router_event(evs[i].data.ptr);
		}
		if (r->rx_wait)
			router_rx_retry(r);
		router_again(r);
		router_reap(r);
		if (r->sh->draining && !r->draining)
			router_drain_begin(r, r->sh->cfg.listen_fds == 0);
		if (r->draining) {
			router_drain(r); /* reaped after the next router_again */
			/* done: nothing left, or the time is up (tunnels too) */
			if ((!r->sessions && !r->again) || r->now_ms >= r->sh->drain_deadline_ms)
				break;
		}
		if (r->now_ms - last_sweep >= 250) {
			router_sweep(r);
			last_sweep = r->now_ms;
			router_log_flush(r);
		}
	}
	router_shutdown(r);
	router_log_flush(r);
	buf_spare_drop();
	atomic_fetch_add(&r->sh->workers_done, 1);
	return NULL;
}

/* Everything one event loop owns: listener, epoll, caches, pool. */
static int worker_init(struct router *r, unsigned id, int lfd, const struct azds_maps *m, __u32 max_depth)
{
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event wev = { .events = EPOLLIN, .data.ptr = &r->wakefd };
	/* one listener in every worker's epoll: EPOLLEXCLUSIVE wakes one of
	 * them per connection, not all (the accept is non-blocking either way) */
	struct epoll_event iev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &SH.ingress_fd };

	r->cfg = SH.cfg;
	r->sh = &SH;
	r->id = id;
	r->rm.m = *m;
	r->rm.max_depth = max_depth;
	r->dec_slots = azds_dec_ring_slots(SH.nworkers);
	r->dec = SH.dec ? azds_dec_ring_of(SH.dec, id, r->dec_slots) : NULL;
	r->dec_file = SH.dec;
	/* exchange numbers: the worker in the low bits, counting by AZDS_DEC_MAX_WORKERS above them */
	r->dec_xid = (__u64)getpid() << 40 | id;
	if (route_init(&r->rm))
		return -ENOMEM;
	r->pool_gen = r->rm.seen_gen;
	r->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	r->lfd = lfd;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->epfd < 0 || r->wakefd < 0 || epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd, &lev) ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &wev) ||
	    (SH.ingress_fd >= 0 && epoll_ctl(r->epfd, EPOLL_CTL_ADD, SH.ingress_fd, &iev)))
		return -errno;
	return 0;
}

/*
 * Wait for SIGTERM or SIGINT, then drain: the workers stop accepting and
 * finish what they hold; a second signal, or the drain timeout, ends it.
 */
static void wait_and_drain(const struct azds_inst *in)
{
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* between signals: how many loops take new connections (spread.c) */
	for (;;) {
		struct timespec t = { 0, SPREAD_TICK_MS * 1000 * 1000 };

		sig = sigtimedwait(&set, NULL, &t);
		if (sig > 0)
			break;
		spread_tick(&SPREAD);
	}
	if (SH.cfg.drain_timeout_ms == 0) {
		SH.stop = 1;
		register_listeners(in, 0); /* TC falls back to the router port while we stop */
		return;
	}
	/* our own listeners leave TC first, so new connections go elsewhere
	 * (the router port's fallback); a given listener stays its owner's */
	register_listeners(in, 0);
	SH.drain_deadline_ms = router_now_ms() + SH.cfg.drain_timeout_ms;
	SH.draining = 1;
	for (unsigned i = 0; i < SH.nworkers; i++)
		if (eventfd_write(W[i].wakefd, 1)) {
			/* it looks at least every 250 ms anyway */
		}
	/* said once every worker has stopped accepting: from this line on,
	 * a request on a kept-alive connection is answered to close it */
	for (int i = 0; i < 1000 && atomic_load(&SH.drain_begun) < SH.nworkers; i++)
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
	fprintf(stderr, "azds-router: %s: draining (at most %u ms)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
		SH.cfg.drain_timeout_ms);
	while (atomic_load(&SH.workers_done) < SH.nworkers) {
		if (sigtimedwait(&set, NULL, &tick) > 0) {
			fprintf(stderr, "azds-router: second signal: stopping now\n");
			SH.stop = 1;
			break;
		}
	}
}

/* room for every connection the settings allow; where the hard limit is
 * lower and cannot be raised, the connection limit follows it */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)SH.cfg.max_conns + 64 + 8 * SH.nworkers;

	rl.rlim_cur = rl.rlim_max = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < want && rl.rlim_cur > 128 + 8 * SH.nworkers) {
			unsigned lowered = (unsigned)(rl.rlim_cur - 64 - 8 * SH.nworkers);

			fprintf(stderr, "azds-router: descriptor limit %llu: --max-conns lowered from %u to %u\n",
				(unsigned long long)rl.rlim_cur, SH.cfg.max_conns, lowered);
			SH.cfg.max_conns = lowered;
		}
	}
}

static void decisions_close(void)
{
	if (SH.dec) {
		munmap(SH.dec, SH.dec_len);
		SH.dec = NULL;
	}
	if (SH.dec_path[0])
		unlink(SH.dec_path);
	SH.dec_path[0] = 0;
}

/*
 * The decisions file for azds trace (decisions.h): <run_dir>/decisions.<pid>,
 * one per router process (a router handing over to its successor still
 * writes its own). Without a run directory (a router started by hand) there
 * is none, and nothing else changes.
 */
static void decisions_open(const struct azds_inst *in)
{
	struct timespec ts;
	int fd;
	void *p;

	if (snprintf(SH.dec_path, sizeof(SH.dec_path), "%s/" AZDS_DEC_FILE ".%d", in->run_dir, (int)getpid()) >=
	    (int)sizeof(SH.dec_path))
		return;
	unlink(SH.dec_path); /* a crashed router's with our pid */
	fd = open(SH.dec_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		SH.dec_path[0] = 0;
		return;
	}
	SH.dec_len = azds_dec_file_bytes(SH.nworkers);
	if (ftruncate(fd, (off_t)SH.dec_len) ||
	    (p = mmap(NULL, SH.dec_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		fprintf(stderr, "azds-router: %s: %s (no decisions for azds trace)\n", SH.dec_path, strerror(errno));
		close(fd);
		unlink(SH.dec_path);
		SH.dec_path[0] = 0;
		return;
	}
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	((struct azds_dec_file *)p)->nworkers = SH.nworkers;
	((struct azds_dec_file *)p)->slots = azds_dec_ring_slots(SH.nworkers);
	((struct azds_dec_file *)p)->version = AZDS_DEC_VERSION;
	((struct azds_dec_file *)p)->start_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	/* the magic last: a reader takes the file once it is there */
	atomic_thread_fence(memory_order_release);
	((struct azds_dec_file *)p)->magic = AZDS_DEC_MAGIC;
	SH.dec = p;
	atexit(decisions_close); /* also on the error returns of main */
}

int main(int argc, char **argv)
{
	struct azds_config dpcfg;
	struct azds_maps maps;
	struct azds_inst in;
	struct azds_err e;
	__u32 max_depth = AZDS_DEPTH_DEFAULT;
	uint64_t requests = 0, connects = 0;
	char err_msg[512];
	int err, saved = -1;
	sigset_t all, old;

	int lfds[ROUTER_MAX_WORKERS], ready;

	if (parse_args(argc, argv))
		return 2;
	if (SH.cfg.listen_fds && SH.cfg.workers && SH.cfg.workers != SH.cfg.listen_fds) {
		fprintf(stderr, "azds-router: --workers %u with --listen-fds %u: one worker per listener\n",
			SH.cfg.workers, SH.cfg.listen_fds);
		return 2;
	}
	if (take_listeners(lfds) || take_ingress())
		return 1;
	ready = ready_fd();
	SH.nworkers = SH.cfg.listen_fds ? SH.cfg.listen_fds : SH.cfg.workers ? SH.cfg.workers : usable_cpus();
	signal(SIGPIPE, SIG_IGN);
	if (azds_inst_init(&in, SH.cfg.instance, &e) || azds_maps_open(&in, &maps, &e)) {
		fprintf(stderr, "azds-router: %s\n", e.msg);
		return 1;
	}
	{
		char path[PATH_MAX];

		/* conn_write's bound on what goes to a pod's redirected queue */
		snprintf(path, sizeof(path), "%s/prog_peer_queue", in.pin_dir);
		SH.peer_queue_fd = bpf_obj_get(path);
		if (SH.peer_queue_fd >= 0)
			fcntl(SH.peer_queue_fd, F_SETFD, FD_CLOEXEC);
	}
	if (azds_config_get(&maps, &dpcfg) == 0) {
		max_depth = dpcfg.max_depth;
		if (dpcfg.router_port != SH.cfg.port)
			fprintf(stderr, "azds-router: warning: data plane steers to port %u, listening on %u\n",
				dpcfg.router_port, SH.cfg.port);
	}
	decisions_open(&in);
	SH.callers = callers_new();
	if (!SH.callers) {
		fprintf(stderr, "azds-router: out of memory\n");
		return 1;
	}
	/* the access log is opened where the router was started, before it
	 * enters the node's namespace: the path is the caller's */
	if (SH.cfg.access_log[0]) {
		SH.alog = alog_open(SH.cfg.access_log, SH.cfg.access_log_bytes, err_msg, sizeof(err_msg));
		if (!SH.alog) {
			fprintf(stderr, "azds-router: %s\n", err_msg);
			return 1;
		}
	}
	if (SH.cfg.netns[0] && (err = azds_netns_enter(SH.cfg.netns, &saved))) {
		fprintf(stderr, "azds-router: netns \"%s\": %s\n", SH.cfg.netns, strerror(-err));
		return 1;
	}
	if (saved >= 0)
		close(saved);
	raise_fd_limit();
	if (!SH.cfg.max_conns_per_pod)
		SH.cfg.max_conns_per_pod = SH.cfg.max_conns / 4; /* the default share */
	if (!SH.cfg.listen_fds && (err = make_listeners(lfds))) {
		fprintf(stderr, "azds-router: %u worker listeners on port %u: %s\n", SH.nworkers, SH.cfg.port,
			strerror(-err));
		return 1;
	}
	for (unsigned i = 0; i < SH.nworkers; i++) {
		err = worker_init(&W[i], i, lfds[i], &maps, max_depth);
		if (err) {
			fprintf(stderr, "azds-router: worker %u: %s\n", i, strerror(-err));
			return 1;
		}
	}
	err = register_listeners(&in, SH.nworkers);
	if (err) {
		fprintf(stderr, "azds-router: register %u worker listeners with the data plane: %s\n", SH.nworkers,
			strerror(-err));
		return 1;
	}
	/* which loops TC gives new connections to; without TC (--redirect-mode)
	 * the kernel's reuseport group picks */
	if (!SH.cfg.redirect_mode && SH.nworkers > 1) {
		err = spread_open(&SPREAD, in.pin_dir, SH.nworkers, SH.cfg.spread_busy_pct, SH.cfg.spread_idle_pct);
		if (err)
			fprintf(stderr, "azds-router: %s/router_spread: %s: new connections go to every loop\n", in.pin_dir,
				strerror(-err));
	}
	/* workers take no signals: the main thread does, and tells them */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < SH.nworkers; i++) {
		err = pthread_create(&W[i].thread, NULL, worker_run, &W[i]);
		if (err) {
			fprintf(stderr, "azds-router: start worker %u: %s\n", i, strerror(err));
			return 1;
		}
	}
	{
		pthread_t th[ROUTER_MAX_WORKERS];

		for (unsigned i = 0; i < SH.nworkers; i++)
			th[i] = W[i].thread;
		spread_start(&SPREAD, th);
	}
	fprintf(stderr, "azds-router: instance %s, listening on port %u, %u worker%s%s\n", in.name, SH.cfg.port,
		SH.nworkers, SH.nworkers == 1 ? "" : "s", SH.cfg.listen_fds ? " (inherited listeners)" : "");
	if (SH.ingress_fd >= 0)
		fprintf(stderr, "azds-router: local ingress on port %u%s\n", azds_sock_port(SH.ingress_fd),
			SH.own_ingress ? "" : " (inherited)");
	if (ready >= 0) {
		if (write(ready, "R", 1) != 1)
			fprintf(stderr, "azds-router: AZDS_READY_FD: %s\n", strerror(errno));
		close(ready);
	}
	/* signals stay blocked here too: sigwait takes them without a race */
	wait_and_drain(&in);
	for (unsigned i = 0; i < SH.nworkers; i++) {
		pthread_join(W[i].thread, NULL);
		if (W[i].lfd >= 0)
			close(W[i].lfd);
		requests += W[i].requests;
		connects += W[i].upstream_connects;
	}
	if (SH.ingress_fd >= 0)
		close(SH.ingress_fd);
	alog_close(SH.alog);
	decisions_close();
	callers_free(SH.callers);
	azds_maps_close(&maps);
	fprintf(stderr, "azds-router: stopped after %llu requests, %llu upstream connections\n",
		(unsigned long long)requests, (unsigned long long)connects);
	for (unsigned i = 0; i < SH.nworkers; i++)
		fprintf(stderr, "azds-router: worker %u: %llu requests, %llu upstream connections, %llu idle clients closed for newcomers\n", i,
			(unsigned long long)W[i].requests, (unsigned long long)W[i].upstream_connects,
			(unsigned long long)W[i].evicted);
	if (SPREAD.mem)
		fprintf(stderr, "azds-router: new connections went to at most %u of %u loops (%u changes; --spread-busy %u)\n",
			SPREAD.most, SH.nworkers, SPREAD.changes, SH.cfg.spread_busy_pct);
	spread_close(&SPREAD);
	return 0;
}
