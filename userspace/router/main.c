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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include "router.h"

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
	S("max-conns", max_conns, 20000, 16, 1000000, "client + upstream connections"),
	S("max-head-bytes", max_head_bytes, 16384, 1024, 1048576, "request head size; above: 431"),
	S("max-headers", max_headers, 100, 8, 126, "request header count; above: 431"),
	S("max-body-bytes", max_body_bytes, 1ULL << 30, 0, 1ULL << 40, "declared Content-Length; above: 413 (0: no limit)"),
	S("header-timeout-ms", header_timeout_ms, 10000, 100, 600000, "time to receive a request head; then 408"),
	S("idle-timeout-ms", idle_timeout_ms, 60000, 100, 3600000, "keep-alive idle time of client and pooled connections"),
	S("tunnel-idle-timeout-ms", tunnel_idle_timeout_ms, 3600000, 1000, 86400000, "idle time of upgraded (websocket) and tunnelled connections"),
	S("upstream-timeout-ms", upstream_timeout_ms, 60000, 100, 3600000, "time for a backend's response head; then 504"),
	S("max-idle-upstreams", max_idle_upstreams, 1024, 0, 100000, "pooled idle upstream connections"),
};
#undef S

static struct router R;

static void usage(FILE *f)
{
	fprintf(f, "usage: azds-router [--instance NAME] [--netns NAME] [--access-log] [--SETTING VALUE]...\n\n"
		   "The node's HTTP router. Reads the pinned maps of instance NAME (default \"%s\").\n"
		   "  --instance NAME   azds instance whose maps to read\n"
		   "  --netns NAME      network namespace to run in (the node's)\n"
		   "  --access-log      one line per request on stderr\n"
		   "  --redirect-mode   take the original destination from SO_ORIGINAL_DST (behind an\n"
		   "                    iptables REDIRECT; only for the benchmark's sidecar baseline)\n"
		   "Settings (default, bounds):\n",
		AZDS_INSTANCE_DEFAULT);
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		fprintf(f, "  --%-20s %s (%llu, %llu..%llu)\n", settings[i].name, settings[i].help, settings[i].def,
			settings[i].min, settings[i].max);
}

static void set_value(const struct setting *s, unsigned long long v)
{
	char *p = (char *)&R.cfg + s->off;

	if (s->size == 8)
		*(uint64_t *)p = v;
	else
		*(unsigned *)p = (unsigned)v;
}

static int parse_args(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		set_value(&settings[i], settings[i].def);
	snprintf(R.cfg.instance, sizeof(R.cfg.instance), "%s", AZDS_INSTANCE_DEFAULT);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool found = false;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(a, "--access-log")) {
			R.cfg.access_log = true;
			continue;
		}
		if (!strcmp(a, "--redirect-mode")) {
			R.cfg.redirect_mode = true;
			continue;
		}
		if (strncmp(a, "--", 2) || i + 1 >= argc) {
			fprintf(stderr, "azds-router: unknown or incomplete option \"%s\" (see --help)\n", a);
			return -1;
		}
		if (!strcmp(a, "--instance")) {
			snprintf(R.cfg.instance, sizeof(R.cfg.instance), "%s", argv[++i]);
			continue;
		}
		if (!strcmp(a, "--netns")) {
			snprintf(R.cfg.netns, sizeof(R.cfg.netns), "%s", argv[++i]);
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

static int listen_transparent(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* IP_TRANSPARENT lets the accepted sockets carry the service's
	 * virtual address as their local address (what getsockname reads) */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (!R.cfg.redirect_mode && setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void on_signal(int sig)
{
	(void)sig;
	R.stop = 1;
}

int main(int argc, char **argv)
{
	struct epoll_event evs[256], lev = { .events = EPOLLIN };
	struct azds_config dpcfg;
	struct azds_inst in;
	struct azds_err e;
	struct rlimit rl;
	uint64_t last_sweep = 0;
	int err, saved = -1;

	if (parse_args(argc, argv))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (azds_inst_init(&in, R.cfg.instance, &e)) {
		fprintf(stderr, "azds-router: %s\n", e.msg);
		return 1;
	}
	if (azds_maps_open(&in, &R.rm.m, &e)) {
		fprintf(stderr, "azds-router: %s\n", e.msg);
		return 1;
	}
	R.rm.max_depth = AZDS_DEPTH_DEFAULT;
	if (route_init(&R.rm)) {
		fprintf(stderr, "azds-router: out of memory\n");
		return 1;
	}
	if (azds_config_get(&R.rm.m, &dpcfg) == 0) {
		R.rm.max_depth = dpcfg.max_depth;
		if (dpcfg.router_port != R.cfg.port)
			fprintf(stderr, "azds-router: warning: data plane steers to port %u, listening on %u\n",
				dpcfg.router_port, R.cfg.port);
	}
	if (R.cfg.netns[0] && (err = azds_netns_enter(R.cfg.netns, &saved))) {
		fprintf(stderr, "azds-router: netns \"%s\": %s\n", R.cfg.netns, strerror(-err));
		return 1;
	}
	if (saved >= 0)
		close(saved);
	/* room for every connection the settings allow; where the hard limit
	 * is lower and cannot be raised, the connection limit follows it */
	rl.rlim_cur = rl.rlim_max = R.cfg.max_conns + 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)R.cfg.max_conns + 64 && rl.rlim_cur > 128) {
			fprintf(stderr, "azds-router: descriptor limit %llu: --max-conns lowered from %u to %llu\n",
				(unsigned long long)rl.rlim_cur, R.cfg.max_conns, (unsigned long long)rl.rlim_cur - 64);
			R.cfg.max_conns = (unsigned)(rl.rlim_cur - 64);
		}
	}
	R.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	R.lfd = listen_transparent(R.cfg.port);
	if (R.lfd < 0) {
		fprintf(stderr, "azds-router: listen on port %u: %s\n", R.cfg.port, strerror(-R.lfd));
		return 1;
	}
	R.epfd = epoll_create1(EPOLL_CLOEXEC);
	lev.data.ptr = NULL;
	epoll_ctl(R.epfd, EPOLL_CTL_ADD, R.lfd, &lev);
	fprintf(stderr, "azds-router: instance %s, listening on port %u\n", in.name, R.cfg.port);
	while (!R.stop) {
		int n = epoll_wait(R.epfd, evs, 256, 250);

		R.now_ms = router_now_ms();
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr)
				router_accept(&R);
			else
				router_event(&R, evs[i].data.ptr, evs[i].events);
		}
		router_reap(&R);
		if (R.now_ms - last_sweep >= 250) {
			router_sweep(&R);
			last_sweep = R.now_ms;
			router_log_flush(&R);
		}
	}
	router_shutdown(&R);
	router_log_flush(&R);
	close(R.lfd);
	azds_maps_close(&R.rm.m);
	fprintf(stderr, "azds-router: stopped after %llu requests\n", (unsigned long long)R.requests);
	return 0;
}
