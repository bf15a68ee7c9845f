// SPDX-License-Identifier: MIT
/*
 * azds_steer attached for real. A test run (test_steer) cannot show that
 * bpf_sk_assign works: its skb is not at TC ingress and the helper refuses
 * it. Here a veth pair joins two private network namespaces laid out like
 * the embedded node: "node" (TC on its veth end, the service range as a
 * local route, the router's transparent listeners on 0.0.0.0:15001) and
 * "pod" (eth0 with the pod address, default route via 169.254.1.1). Real
 * SYNs from the pod to a service address must reach a router listener,
 * which accepts them with the service address as the local address:
 *   - one listener: AF_INET, and AF_INET6 to the v4-mapped address (Java's
 *     default): the SYN is IPv4 on the wire, so TC steers it the same way;
 *   - the listener check: a SYN whose lookup tuple belongs to a connection
 *     is left alone (not_listener) and the node resets it;
 *   - no listener: refused at once (router_down);
 *   - the router's worker listeners: 64 connections must be spread so that
 *     every one of 4 listeners accepts at least one, each with the service
 *     address as local address. A SO_REUSEPORT group on the router port
 *     does that on 6.5+; before 6.5 bpf_sk_assign refuses reuseport sockets
 *     (each SYN is reset: asserted too), so the router registers plain
 *     listeners in router_socks (azds_dp_listeners_set) and TC picks one by
 *     flow hash: asserted on every kernel.
 * Everything lives in two anonymous namespaces that end with the process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "dataplane.h"
#include "dataplane_load.h"
#include "dataplane.skel.h"

#define POD "10.77.0.2"
#define GW "169.254.1.1"
#define VIP "10.96.0.1"
#define VIP_PORT 80
#define ROUTER_PORT 15001
#define WORKERS 4
#define SPREAD_CONNS 64

static int failures, ns_node, ns_pod;
static struct dataplane *skel;

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(ok ? "ok   " : "FAIL ", ok ? stdout : stderr);
	vfprintf(ok ? stdout : stderr, fmt, ap);
	fputc('\n', ok ? stdout : stderr);
	va_end(ap);
	if (!ok)
		failures++;
}

static void in_ns(int fd)
{
	if (setns(fd, CLONE_NEWNET)) {
		perror("setns");
		exit(1);
	}
}

static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd)) {
		fprintf(stderr, "failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

static __u64 counter(__u32 reason)
{
	return azds_dp_counter(bpf_map__fd(skel->maps.stats), reason);
}

/* a router listener on 0.0.0.0:ROUTER_PORT in the node namespace */
static int router_listener(bool reuseport)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ROUTER_PORT) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 128)) {
		perror("router listener");
		exit(1);
	}
	return fd;
}

/*
 * A connection from the pod namespace to VIP:port (the socket is made in
 * the pod namespace; bind and connect act on the socket's own namespace).
 * Returns the connected socket, or -errno of the connect.
 */
static int pod_connect(int family, int port, int sport)
{
	struct sockaddr_storage ss = {};
	socklen_t len;
	struct timeval tv = { .tv_sec = 10 }; /* a hang is a failure, not a wait */
	int one = 1, fd, err;

	in_ns(ns_pod);
	fd = socket(family, SOCK_STREAM, 0);
	in_ns(ns_node);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sport) {
		struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons((uint16_t)sport) };

		b.sin_addr.s_addr = inet_addr(POD);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&b, sizeof(b))) {
			err = -errno;
			close(fd);
			return err;
		}
	}
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = inet_addr(VIP);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, "::ffff:" VIP, &a->sin6_addr);
		len = sizeof(*a);
	}
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* the local port of a connected socket of either family */
static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
				       : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* one accepted connection: its local address must be the VIP */
struct accepted {
	int fd;
	char local[64];
	int peer_port;
};

/* accept from any of n listeners until want connections came (or 10 s without one) */
static int accept_n(const int *lfd, int n, int want, struct accepted *out, int *per_listener)
{
	int got = 0;

	while (got < want) {
		struct pollfd p[WORKERS];
		int r;

		for (int i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = lfd[i], .events = POLLIN };
		r = poll(p, (nfds_t)n, 10000);
		if (r <= 0)
			break;
		for (int i = 0; i < n; i++) {
			struct sockaddr_in l, pe;
			socklen_t ll = sizeof(l), pl = sizeof(pe);
			int fd;

			while (got < want && (fd = accept(lfd[i], (struct sockaddr *)&pe, &pl)) >= 0) {
				getsockname(fd, (struct sockaddr *)&l, &ll);
				out[got].fd = fd;
				snprintf(out[got].local, sizeof(out[got].local), "%s:%u", inet_ntoa(l.sin_addr),
					 ntohs(l.sin_port));
				out[got].peer_port = ntohs(pe.sin_port);
				got++;
				per_listener[i]++;
				ll = sizeof(l);
				pl = sizeof(pe);
			}
		}
	}
	return got;
}

/* bytes both ways on a client/accepted pair */
static bool exchange(int cfd, int afd)
{
	char buf[16] = "";

	if (write(cfd, "ping", 4) != 4 || read(afd, buf, sizeof(buf)) != 4 || memcmp(buf, "ping", 4))
		return false;
	if (write(afd, "pong", 4) != 4 || read(cfd, buf, sizeof(buf)) != 4 || memcmp(buf, "pong", 4))
		return false;
	return true;
}

static void one_listener(int family, const char *what)
{
	struct accepted a = { .fd = -1 };
	int per[1] = { 0 }, lfd = router_listener(false), cfd;
	__u64 st = counter(AZDS_R_STEERED);
	bool ok;

	cfd = pod_connect(family, VIP_PORT, 0);
	ok = cfd >= 0 && accept_n(&lfd, 1, 1, &a, per) == 1;
	check(ok && !strcmp(a.local, VIP ":80") && a.peer_port == local_port(cfd) && exchange(cfd, a.fd) &&
		      counter(AZDS_R_STEERED) == st + 1,
	      "%-44s -> accepted as %s, steered +%llu", what, ok ? a.local : (cfd < 0 ? strerror(-cfd) : "none"),
	      (unsigned long long)(counter(AZDS_R_STEERED) - st));
	if (a.fd >= 0)
		close(a.fd);
	if (cfd >= 0)
		close(cfd);
	close(lfd);
}

/* the lookup tuple (POD:sport -> VIP:ROUTER_PORT) belongs to a connection */
static void tuple_owned(void)
{
	struct accepted a = { .fd = -1 };
	int per[1] = { 0 }, lfd = router_listener(false), c1, c2;
	__u64 nl = counter(AZDS_R_NOT_LISTENER), st = counter(AZDS_R_STEERED);

	/* VIP:ROUTER_PORT is no service: the stack delivers it to the listener */
	c1 = pod_connect(AF_INET, ROUTER_PORT, 40001);
	if (c1 < 0 || accept_n(&lfd, 1, 1, &a, per) != 1) {
		check(false, "set up POD:40001 -> " VIP ":%d: %s", ROUTER_PORT, c1 < 0 ? strerror(-c1) : "not accepted");
		goto out;
	}
	c2 = pod_connect(AF_INET, VIP_PORT, 40001);
	check(c2 == -ECONNREFUSED && counter(AZDS_R_NOT_LISTENER) == nl + 1 && counter(AZDS_R_STEERED) == st,
	      "%-44s -> %s, not_listener +%llu", "SYN whose tuple a connection owns",
	      c2 >= 0 ? "connected (hijacked)" : strerror(-c2), (unsigned long long)(counter(AZDS_R_NOT_LISTENER) - nl));
	if (c2 >= 0)
		close(c2);
	close(a.fd);
	close(c1);
out:
	close(lfd);
}

static void router_down(void)
{
	__u64 rd = counter(AZDS_R_ROUTER_DOWN);
	int c = pod_connect(AF_INET, VIP_PORT, 0);

	check(c == -ECONNREFUSED && counter(AZDS_R_ROUTER_DOWN) == rd + 1, "%-44s -> %s", "no router listener",
	      c >= 0 ? "connected" : strerror(-c));
	if (c >= 0)
		close(c);
}

/* a worker listener for the registered set: loopback, any free port */
static int loopback_listener(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 128)) {
		perror("loopback listener");
		exit(1);
	}
	return fd;
}

/*
 * SPREAD_CONNS connections from the pod to the VIP, accepted on the n
 * listeners: every one accepted once, as VIP:80, and every listener got
 * at least one. With refused, every connection must instead be refused and
 * counted assign_failed (a kernel that cannot assign to these listeners).
 */
static void spread(const char *what, const int *lfd, int n, bool refused)
{
	static struct accepted a[SPREAD_CONNS];
	int per[WORKERS] = { 0 }, cfd[SPREAD_CONNS], got, bad_local = 0, unmatched = 0, nrefused = 0;
	__u64 st = counter(AZDS_R_STEERED), af = counter(AZDS_R_ASSIGN_FAILED);
	bool all_served = true;
	char line[128] = "";

	for (int i = 0; i < SPREAD_CONNS; i++) {
		cfd[i] = pod_connect(AF_INET, VIP_PORT, 0);
		if (cfd[i] == -ECONNREFUSED)
			nrefused++;
	}
	if (refused) {
		check(nrefused == SPREAD_CONNS && counter(AZDS_R_ASSIGN_FAILED) == af + SPREAD_CONNS &&
			      counter(AZDS_R_STEERED) == st,
		      "%-44s -> %d of %d refused, assign_failed +%llu", what, nrefused, SPREAD_CONNS,
		      (unsigned long long)(counter(AZDS_R_ASSIGN_FAILED) - af));
		got = 0;
		goto out;
	}
	got = accept_n(lfd, n, SPREAD_CONNS, a, per);
	for (int i = 0; i < got; i++) {
		bool found = false;

		if (strcmp(a[i].local, VIP ":80"))
			bad_local++;
		for (int j = 0; j < SPREAD_CONNS && !found; j++)
			found = cfd[j] >= 0 && local_port(cfd[j]) == a[i].peer_port;
		if (!found)
			unmatched++;
	}
	for (int i = 0; i < n; i++) {
		if (per[i] == 0)
			all_served = false;
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%d", i ? "/" : "", per[i]);
	}
	check(got == SPREAD_CONNS && bad_local == 0 && unmatched == 0 && counter(AZDS_R_STEERED) == st + SPREAD_CONNS,
	      "%-44s -> %d of %d accepted, %d not as " VIP ":80, %d unknown", what, got, SPREAD_CONNS, bad_local,
	      unmatched);
	check(all_served, "%-44s -> per listener %s", what, line);
out:
	for (int i = 0; i < got; i++)
		close(a[i].fd);
	for (int i = 0; i < SPREAD_CONNS; i++)
		if (cfd[i] >= 0)
			close(cfd[i]);
}

/* 6.5 ("net: Support sk_assign with reuseport") lets bpf_sk_assign take a reuseport socket */
static bool kernel_assigns_reuseport(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 5);
}

/* one SO_REUSEPORT group on the router port, found by the TC lookup */
static void reuseport_group(void)
{
	bool assigns = kernel_assigns_reuseport();
	int lfd[WORKERS];

	for (int i = 0; i < WORKERS; i++)
		lfd[i] = router_listener(true);
	spread(assigns ? "reuseport group (6.5+): spread by the kernel" : "reuseport group (< 6.5): sk_assign refuses",
	       lfd, WORKERS, !assigns);
	/* the registration refuses such sockets, on every kernel */
	{
		int err = azds_dp_listeners_set_fd(bpf_map__fd(skel->maps.router_socks),
						   bpf_map__fd(skel->maps.dp_config), lfd, WORKERS);

		check(err == -EINVAL, "%-44s -> %s", "registering reuseport listeners refused", strerror(-err));
	}
	for (int i = 0; i < WORKERS; i++)
		close(lfd[i]);
}

/* the router's workers: registered listeners, one of them on the router port */
static void registered(void)
{
	int lfd[WORKERS], err, socks = bpf_map__fd(skel->maps.router_socks), conf = bpf_map__fd(skel->maps.dp_config);
	struct azds_config c;
	__u32 zero = 0;

	lfd[0] = router_listener(false);
	for (int i = 1; i < WORKERS; i++)
		lfd[i] = loopback_listener();
	err = azds_dp_listeners_set_fd(socks, conf, lfd, WORKERS);
	bpf_map_lookup_elem(conf, &zero, &c);
	check(err == 0 && c.router_workers == WORKERS, "%-44s -> %s, router_workers %u", "register 4 worker listeners",
	      strerror(-err), c.router_workers);
	spread("registered listeners: picked by flow hash", lfd, WORKERS, false);
	/* the router's spread (router_spread): only the first `active` take new connections */
	{
		struct azds_spread sp = { .active = 2 };
		int spf = bpf_map__fd(skel->maps.router_spread), left = 0;

		bpf_map_update_elem(spf, &zero, &sp, BPF_ANY);
		spread("router_spread active 2: the first two only", lfd, 2, false);
		for (int i = 2; i < WORKERS; i++) {
			int c = accept4(lfd[i], NULL, NULL, SOCK_NONBLOCK);

			if (c >= 0) {
				left++;
				close(c);
			}
		}
		check(left == 0, "%-44s -> %d accepted there", "router_spread active 2: listeners 3 and 4", left);
		sp.active = 0;
		bpf_map_update_elem(spf, &zero, &sp, BPF_ANY);
	}
	/* unregistered: the router port's listener takes everything again */
	err = azds_dp_listeners_set_fd(socks, conf, NULL, 0);
	bpf_map_lookup_elem(conf, &zero, &c);
	check(err == 0 && c.router_workers == 0, "%-44s -> router_workers %u", "unregister", c.router_workers);
	for (int i = 0; i < WORKERS; i++)
		close(lfd[i]);
	one_listener(AF_INET, "after unregistering: the router port");
}

int main(void)
{
	struct azds_config cfg = { .flags = AZDS_CFG_STEER | AZDS_CFG_EVENTS, .max_depth = 8, .router_port = ROUTER_PORT };
	struct azds_pod pod = { .space = 1, .flags = AZDS_POD_MANAGED, .name = "web" };
	struct azds_vip vhttp = { .svc = 1, .kind = AZDS_KIND_HTTP, .name = "api" };
	struct azds_vip_key k = { .addr = inet_addr(VIP), .port = htons(VIP_PORT) };
	__be32 podaddr = inet_addr(POD);
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, tco, .handle = 1, .priority = 1);
	struct bpf_map *map;
	__u32 zero = 0;

	if (unshare(CLONE_NEWNET)) {
		perror("unshare (run as root)");
		return 1;
	}
	ns_node = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (unshare(CLONE_NEWNET)) {
		perror("unshare");
		return 1;
	}
	ns_pod = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns_node < 0 || ns_pod < 0) {
		perror("netns");
		return 1;
	}
	/* the pod namespace: eth0 = pod end of the veth */
	in_ns(ns_node);
	if (sh("ip link set lo up && ip addr add " GW "/32 dev lo && "
	       "ip route add local 10.96.0.0/16 dev lo table local && "
	       "ip link add azh0 type veth peer name azp0 && ip link set azp0 netns /proc/%d/fd/%d",
	       (int)getpid(), ns_pod))
		return 1;
	in_ns(ns_pod);
	if (sh("ip link set lo up && ip link set azp0 name eth0 && ip addr add " POD "/32 dev eth0 && "
	       "ip link set eth0 up && ip route add " GW " dev eth0 scope link && "
	       "ip route add default via " GW " dev eth0"))
		return 1;
	in_ns(ns_node);
	if (sh("ip link set azh0 up && ip route add " POD "/32 dev azh0 scope link"))
		return 1;

	skel = dataplane__open();
	if (!skel)
		return 1;
	bpf_object__for_each_map(map, skel->obj)
		bpf_map__set_pin_path(map, NULL);
	if (dataplane__load(skel)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	bpf_map_update_elem(bpf_map__fd(skel->maps.dp_config), &zero, &cfg, BPF_ANY);
	bpf_map_update_elem(bpf_map__fd(skel->maps.pods), &podaddr, &pod, BPF_ANY);
	bpf_map_update_elem(bpf_map__fd(skel->maps.vips), &k, &vhttp, BPF_ANY);
	hook.ifindex = (int)if_nametoindex("azh0");
	tco.prog_fd = bpf_program__fd(skel->progs.azds_steer);
	if (!hook.ifindex || (bpf_tc_hook_create(&hook) && errno != EEXIST) || bpf_tc_attach(&hook, &tco)) {
		fprintf(stderr, "attach TC to azh0 failed\n");
		return 1;
	}

	one_listener(AF_INET, "AF_INET SYN to the VIP, one listener");
	one_listener(AF_INET6, "AF_INET6 to ::ffff:VIP, one listener");
	tuple_owned();
	router_down();
	reuseport_group();
	registered();

	dataplane__destroy(skel);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
