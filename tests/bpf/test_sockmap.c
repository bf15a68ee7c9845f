// SPDX-License-Identifier: MIT
/*
 * Unit tests of the sockmap path (azds_sockops inserting into sock_hash,
 * azds_msg_redirect moving messages between local peers). Private network
 * namespaces, a private cgroup tree and private (unpinned) maps:
 *   <cgroup2>/azds-unit-sm-<pid>/{router,podc,podb,forger}
 * with sockops on the top one, like the instance cgroup. Addresses on lo:
 * 169.254.1.1 (the node's, the router's source), 10.96.0.1 (a service),
 * 10.77.0.2 (client pod), 10.77.0.5 (backend pod), 10.77.0.9 (forger pod).
 * A socket belongs to the cgroup its creator was in (accepted sockets to
 * their listener's), so the test moves itself before making each one.
 *
 *   1. redirect: pod -> router bytes go through azds_msg_redirect, router
 *      -> pod bytes through azds_msg_router, both intact.
 *   2. forgery: a pod that makes, in a namespace of its own, sockets with
 *      the tuple of a router <-> backend flow (the backend's address and
 *      port, the router's source address and port) must not get the
 *      router's bytes, nor keep the real sockets out of the map.
 *   3. flood: a pod writes toward a router that does not read (and the
 *      router toward a backend that does not read) until the writer is
 *      stopped or WRITE_CAP; then the reader takes it all: the router the
 *      way the router does (edge-triggered epoll, reading until EAGAIN),
 *      the backend pod the way nginx does (stopping at a short read).
 *      Every byte must arrive, in order, with no edge missing. With
 *      sockmap on, the pod's flow redirects until the router's redirected
 *      queue passes its bound, then goes through the stack, so the writer
 *      is stopped by socket buffers as with sockmap off: the bytes it got
 *      rid of and TCP memory (/proc/net/sockstat) stay within a small
 *      multiple of the off figures; once all is read the flow redirects
 *      again. Toward a pod the writer is the router, which keeps the
 *      pod's redirected queue within AZDS_POD_RX_BYTES (azds_pod_budget):
 *      small sends stop there, bulk ones go through the stack.
 *   3b. mixed: the router sends 8 MiB of small and large messages toward a
 *      pod reading concurrently the nginx way (edge-triggered, stopping at
 *      a short read), following the budget: some are redirected, some go
 *      through the stack, and every byte arrives in order with no edge
 *      missing (a stack byte queued behind a redirected one would hang).
 *   3c. sockmap-pods off, or on without the splice guard: the router's sends are not
 *      redirected, so a pod reading with splice gets them.
 *   3d. a reset from the router after bytes the pod has not read yet: the
 *      pod reads the bytes, then ECONNRESET (never a clean end), with the
 *      router's sends through the stack and redirected.
 *   3e. the splice guard: a pod's splice makes its flow, and its later
 *      sockets, stack-only, so the router's sends reach a splice reader.
 *   3f. a tunnel: the router's flow goes stack-only once the pod has read
 *      what was redirected to it.
 *   4. switch off mid-flow: a flow whose redirected bytes are unread keeps
 *      redirecting after 'set sockmap off', so the same reader gets all.
 *   5. sock_ptrs entries go with their sockets: none left once all closed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "azds.h"
#include "dataplane.h"
#include "dataplane_load.h"
#include "dataplane.skel.h"

#define GW "169.254.1.1"
#define VIP "10.96.0.1"
#define PODC "10.77.0.2"
#define PODB "10.77.0.5"
#define FORGER "10.77.0.9"
#define CHUNK (64 * 1024)
#define WRITE_CAP (32u << 20) /* a writer that gets this far is not stopped by socket buffers */
#define READ_LEN 1000003 /* reader's buffer: no multiple of any message size */
#define EDGE_WAIT_MS 5000 /* no edge for this long while bytes are missing: a hang */

static int failures, ns_node;
static struct dataplane *skel;
static char cgtop[512];
static const char *const cg_names[] = { "router", "podc", "podb", "forger" };
enum { CG_ROUTER, CG_PODC, CG_PODB, CG_FORGER, CG_N };
static char cg_path[CG_N][600];

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

static __u64 counter(__u32 reason)
{
	return azds_dp_counter(bpf_map__fd(skel->maps.stats), reason);
}

static void move_self(const char *dir)
{
	char path[700], pid[32];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, pid, strlen(pid)) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* a socket made while in the given cgroup (it stays that cgroup's) */
static int sock_in(int cg)
{
	int fd;

	move_self(cg_path[cg]);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	move_self(cgtop);
	return fd;
}

static void sa(struct sockaddr_in *a, const char *addr, int port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	a->sin_addr.s_addr = inet_addr(addr);
}

static int listen_in(int cg, const char *addr, int port)
{
	struct sockaddr_in a;
	int one = 1, fd = sock_in(cg);

	sa(&a, addr, port);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16)) {
		perror("listen");
		exit(1);
	}
	return fd;
}

static int connect_in(int cg, const char *src, int sport, const char *dst, int dport)
{
	struct sockaddr_in a, b;
	int one = 1, fd = sock_in(cg);

	sa(&a, src, sport);
	sa(&b, dst, dport);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || connect(fd, (struct sockaddr *)&b, sizeof(b))) {
		perror("connect");
		exit(1);
	}
	return fd;
}

/* read up to len bytes that arrive within ms milliseconds (0 if none) */
static ssize_t read_within(int fd, char *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) <= 0)
		return 0;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

/* test cgroups left by a crashed earlier run (empty once its process died) */
static void remove_stale(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *de;
	char path[800];

	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, "azds-unit-sm-", 13)) {
			for (int i = 0; i < CG_N; i++) {
				snprintf(path, sizeof(path), "%s/%s/%s", root, de->d_name, cg_names[i]);
				rmdir(path);
			}
			snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
			rmdir(path);
		}
	if (d)
		closedir(d);
}

/* sockmap-pods, on for all but pods_off(); the splice guard, attached by
 * main() (the loader's AZDS_CFG_SPLICE_GUARD), for all but pods_off(true) */
static __u32 pods_flag = AZDS_CFG_SOCKMAP_PODS, guard_flag = AZDS_CFG_SPLICE_GUARD;

static void set_sockmap(bool on)
{
	struct azds_config cfg = { .flags = AZDS_CFG_EVENTS | guard_flag | (on ? AZDS_CFG_SOCKMAP | pods_flag : 0),
				   .max_depth = 8, .router_port = 15001 };
	__u32 zero = 0;

	bpf_map_update_elem(bpf_map__fd(skel->maps.dp_config), &zero, &cfg, BPF_ANY);
}

static void redirect(void)
{
	__u64 added = counter(AZDS_R_SOCK_ADDED), red = counter(AZDS_R_MSG_REDIRECTED),
	      to_pod = counter(AZDS_R_MSG_TO_POD);
	int l = listen_in(CG_ROUTER, VIP, 80), c = connect_in(CG_PODC, PODC, 0, VIP, 80), a = accept(l, NULL, NULL);
	char buf[64] = "";
	bool ok;

	ok = write(c, "hello", 5) == 5 && read_within(a, buf, sizeof(buf), 5000) == 5 && !memcmp(buf, "hello", 5) &&
	     write(a, "world", 5) == 5 && read_within(c, buf, sizeof(buf), 5000) == 5 && !memcmp(buf, "world", 5);
	/* each way one message, redirected to the other end */
	check(ok && counter(AZDS_R_SOCK_ADDED) == added + 2 && counter(AZDS_R_MSG_REDIRECTED) == red + 1 &&
		      counter(AZDS_R_MSG_TO_POD) == to_pod + 1,
	      "%-46s -> bytes %s, sock_added +%llu, msg_redirected +%llu, msg_to_pod +%llu",
	      "pod <-> router through sk_msg", ok ? "intact" : "LOST",
	      (unsigned long long)(counter(AZDS_R_SOCK_ADDED) - added),
	      (unsigned long long)(counter(AZDS_R_MSG_REDIRECTED) - red),
	      (unsigned long long)(counter(AZDS_R_MSG_TO_POD) - to_pod));
	close(a);
	close(c);
	close(l);
}

static void forgery(void)
{
	__u64 refused = counter(AZDS_R_SOCK_REFUSED);
	int ns_forger, fl, fc, fs, bl, r, s;
	char buf[64] = "";
	ssize_t n;

	/* the forger's own namespace (a pod may do anything inside its own) */
	if (unshare(CLONE_NEWNET) || system("ip link set lo up && ip addr add " GW "/32 dev lo && "
					    "ip addr add " PODB "/32 dev lo")) {
		check(false, "forger namespace");
		return;
	}
	ns_forger = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	/* the tuple of the router <-> backend flow below: GW:41000 <-> PODB:8080 */
	fl = listen_in(CG_FORGER, PODB, 8080);
	fc = connect_in(CG_FORGER, GW, 41000, PODB, 8080);
	fs = accept(fl, NULL, NULL);
	/* the forged "router" end goes: the router's own socket can enter the
	 * map, and its messages look for the peer (PODB:8080 -> GW:41000) */
	close(fc);
	if (setns(ns_node, CLONE_NEWNET)) {
		perror("setns");
		exit(1);
	}
	bl = listen_in(CG_PODB, PODB, 8080);
	r = connect_in(CG_ROUTER, GW, 41000, PODB, 8080);
	s = accept(bl, NULL, NULL);
	if (write(r, "GET /secret", 11) != 11)
		perror("write");
	n = read_within(s, buf, sizeof(buf), 3000);
	check(n == 11 && !memcmp(buf, "GET /secret", 11), "%-46s -> backend read %zd bytes", "router -> backend",
	      n);
	/* the forger's socket must exist for this to mean anything; its
	 * peer is closed, so it reads the end (0) unless the router's bytes
	 * were misdelivered to it first */
	n = fs < 0 ? -1 : read_within(fs, buf, sizeof(buf), 200);
	check(fs >= 0 && n == 0, "%-46s -> forger read %zd bytes", "the forged backend socket gets nothing", n);
	n = write(s, "200 OK", 6) == 6 ? read_within(r, buf, sizeof(buf), 3000) : -1;
	check(n == 6 && !memcmp(buf, "200 OK", 6), "%-46s -> router read %zd bytes", "backend -> router", n);
	/* the forger's two sockets: a "router end" owned by a pod, and a "pod
	 * end" whose local address is another pod's */
	check(counter(AZDS_R_SOCK_REFUSED) == refused + 2, "%-46s -> sock_refused +%llu",
	      "both forged sockets kept out of sock_hash", (unsigned long long)(counter(AZDS_R_SOCK_REFUSED) - refused));
	close(s);
	close(r);
	close(bl);
	close(fs);
	close(fl);
	close(ns_forger);
}

/* TCP memory in use (pages), from /proc/net/sockstat */
static long tcp_mem_pages(void)
{
	char line[256];
	long mem = -1;
	FILE *f = fopen("/proc/net/sockstat", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *m = strstr(line, " mem ");

		if (!strncmp(line, "TCP:", 4) && m)
			mem = atol(m + 5);
	}
	if (f)
		fclose(f);
	return mem;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 4093);
}

struct flood {
	size_t written;
	long mem_delta; /* bytes */
	bool intact;
	__u64 passed_during;
	__u64 redirected_during;
	bool redirects_after;
};

/*
 * Read want bytes under edge-triggered epoll: until EAGAIN (the router) or
 * until a short read (nginx and many others), then wait for the next edge.
 * True if all of them came, each equal to pattern(); a missing edge shows
 * as a wait that never ends.
 */
static bool et_read_all(int fd, size_t want, size_t *got_out, bool until_eagain)
{
	static unsigned char buf[READ_LEN];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	bool intact = true;
	size_t got = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		perror("epoll");
		return false;
	}
	while (got < want && intact) {
		ssize_t n;

		if (epoll_wait(ep, &ev, 1, EDGE_WAIT_MS) != 1)
			break;
		do {
			n = recv(fd, buf, sizeof(buf), 0);
			for (ssize_t i = 0; i < n && intact; i++)
				if (buf[i] != pattern(got + (size_t)i))
					intact = false;
			if (n > 0)
				got += (size_t)n;
		} while (until_eagain ? n > 0 : n == (ssize_t)sizeof(buf));
	}
	close(ep);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*got_out = got;
	return intact && got == want;
}

/* read want bytes that continue the pattern at offset from (blocking, 5 s) */
static bool et_read_all_from(int fd, size_t from, size_t want, size_t *got_out)
{
	unsigned char buf[4096];
	size_t got = 0;

	while (got < want) {
		ssize_t n = read_within(fd, (char *)buf, want - got < sizeof(buf) ? want - got : sizeof(buf), 5000);

		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(from + got + (size_t)i))
				return false;
		got += (size_t)n;
	}
	*got_out = got;
	return got == want;
}

static int block_ms = 1000; /* budget_write_until_blocked: blocked this long is "stopped" */

/*
 * Write the pattern from pos on in sends of chunk bytes, without blocking,
 * up to cap bytes in all; returns the new offset. With b, the router's way
 * toward a pod: each send within azds_pod_budget. Stops once the writer
 * stays blocked for a second (the bound, or the socket buffer).
 */
static size_t budget_write_until_blocked(int fd, struct azds_pod_budget *b, size_t pos, size_t cap, size_t chunk)
{
	static unsigned char buf[CHUNK];
	int waited = 0, err;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (pos < cap && waited < block_ms) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		size_t want = cap - pos < chunk ? cap - pos : chunk, may;
		ssize_t n;

		may = !b ? want : azds_pod_budget_take(b, bpf_program__fd(skel->progs.azds_peer_queue), fd, want, &err);
		if (may == 0) {
			usleep(1000);
			waited++;
			continue;
		}
		for (size_t i = 0; i < may; i++)
			buf[i] = pattern(pos + i);
		n = write(fd, buf, may);
		if (n > 0) {
			if (b)
				azds_pod_budget_sent(b, (size_t)n);
			pos += (size_t)n;
			waited = 0;
			continue;
		}
		if (n < 0 && errno != EAGAIN) {
			perror("flood write");
			break;
		}
		if (poll(&p, 1, 1000) == 0)
			break;
	}
	fcntl(fd, F_SETFL, 0);
	return pos;
}

/* a pod's way (or the router's with sockmap-pods off): the socket bounds it */
static size_t write_until_blocked(int fd, size_t pos, size_t cap)
{
	return budget_write_until_blocked(fd, NULL, pos, cap, CHUNK);
}

/* a connected pair: c writes, a reads (pod -> router, or router -> backend) */
static void pair(bool to_backend, int port, int *l, int *c, int *a)
{
	if (to_backend) {
		*l = listen_in(CG_PODB, PODB, port);
		*c = connect_in(CG_ROUTER, GW, 0, PODB, port);
	} else {
		*l = listen_in(CG_ROUTER, VIP, port);
		*c = connect_in(CG_PODC, PODC, 0, VIP, port);
	}
	*a = accept(*l, NULL, NULL);
}

/*
 * Once every stack byte is acknowledged and read the flow redirects again.
 * The last acknowledgement may still be on its way when the reader is done,
 * so small messages go one by one until one is redirected (each must arrive
 * intact either way), at most 200 of them.
 */
static bool redirects_again(int c, int a, bool *intact)
{
	char b[8];

	for (int i = 0; i < 200; i++) {
		__u64 red = counter(AZDS_R_MSG_REDIRECTED);

		if (write(c, "t", 1) != 1 || read_within(a, b, sizeof(b), 5000) != 1 || b[0] != 't') {
			*intact = false;
			return false;
		}
		if (counter(AZDS_R_MSG_REDIRECTED) > red)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * The writer writes toward a reader that does not read, until it is
 * blocked for a second (or WRITE_CAP); then the reader reads it all.
 */
static struct flood flood(bool sockmap, bool to_backend, size_t chunk)
{
	struct azds_pod_budget b;
	struct flood f = { 0 };
	__u64 passed, red;
	long mem0;
	int l, c, a;
	size_t got;
	char hb[8];

	set_sockmap(sockmap);
	pair(to_backend, to_backend ? (chunk < CHUNK ? 8082 : 8081) : 80, &l, &c, &a);
	azds_pod_budget_init(&b);
	/* a first exchange: with sockmap on the flow redirects from here on */
	f.intact = write(c, "hi", 2) == 2 && read_within(a, hb, sizeof(hb), 5000) == 2 && !memcmp(hb, "hi", 2);
	azds_pod_budget_sent(&b, 2);
	passed = counter(to_backend ? AZDS_R_MSG_TO_POD_PASSED : AZDS_R_MSG_PASSED);
	red = counter(to_backend ? AZDS_R_MSG_TO_POD : AZDS_R_MSG_REDIRECTED);
	mem0 = tcp_mem_pages();
	f.written = to_backend ? budget_write_until_blocked(c, &b, 0, WRITE_CAP, chunk) : write_until_blocked(c, 0, WRITE_CAP);
	f.mem_delta = (tcp_mem_pages() - mem0) * 4096;
	f.passed_during = counter(to_backend ? AZDS_R_MSG_TO_POD_PASSED : AZDS_R_MSG_PASSED) - passed;
	f.redirected_during = counter(to_backend ? AZDS_R_MSG_TO_POD : AZDS_R_MSG_REDIRECTED) - red;
	/* the router reads until EAGAIN, a pod may stop at a short read */
	f.intact = et_read_all(a, f.written, &got, !to_backend) && f.intact;
	if (!f.intact)
		fprintf(stderr, "     read %zu of %zu bytes\n", got, f.written);
	if (sockmap && !to_backend)
		f.redirects_after = redirects_again(c, a, &f.intact);
	if (sockmap && to_backend && chunk < CHUNK) {
		/* all read: the whole bound again, and the next send redirected */
		__u64 r0 = counter(AZDS_R_MSG_TO_POD);
		size_t more = budget_write_until_blocked(c, &b, f.written, f.written + 100, chunk);

		f.redirects_after = more == f.written + 100 && counter(AZDS_R_MSG_TO_POD) > r0 &&
				    et_read_all_from(a, f.written, 100, &got);
	}
	close(a);
	close(c);
	close(l);
	return f;
}

static void flooded(bool to_backend, size_t chunk)
{
	const char *dir = !to_backend ? "pod -> router" : chunk < CHUNK ? "router -> pod, 4K" : "router -> pod, 64K";
	struct flood off = flood(false, to_backend, chunk), on = flood(true, to_backend, chunk);
	/* on may hold the router's redirected queue (its receive buffer, a
	 * few hundred KiB) on top of what off holds: a small multiple */
	size_t lim = 2 * off.written + (1u << 20);
	long mlim = 2 * (off.mem_delta > 0 ? off.mem_delta : 0) + (1l << 20);

	printf("     %s, sockmap off: writer got rid of %zu KiB, TCP memory +%ld KiB\n", dir, off.written >> 10,
	       off.mem_delta >> 10);
	printf("     %s, sockmap on:  writer got rid of %zu KiB, TCP memory +%ld KiB (redirected %llu, "
	       "through the stack %llu messages)\n",
	       dir, on.written >> 10, on.mem_delta >> 10, (unsigned long long)on.redirected_during,
	       (unsigned long long)on.passed_during);
	check(off.intact, "%-18s %-34s -> %zu bytes in order", dir, "off: every byte arrives", off.written);
	check(on.intact, "%-18s %-34s -> %zu bytes in order", dir, "on: every byte, edge-triggered", on.written);
	check(off.written < WRITE_CAP && on.written <= lim, "%-18s %-34s -> %zu KiB (limit %zu KiB)", dir,
	      "on: writer stopped like off", on.written >> 10, lim >> 10);
	check(on.mem_delta <= mlim, "%-18s %-34s -> +%ld KiB (limit %ld KiB)", dir, "on: TCP memory like off",
	      on.mem_delta >> 10, mlim >> 10);
	if (to_backend && chunk < CHUNK) {
		/* small sends: redirected up to the bound, then the writer waits */
		check(on.redirected_during >= 1 && on.written <= AZDS_POD_RX_BYTES, "%-18s %-34s -> %zu bytes, +%llu "
		      "redirected", dir, "on: the pod's queue kept to the bound", on.written,
		      (unsigned long long)on.redirected_during);
		check(on.redirects_after, "%-18s %-34s -> %s", dir, "on: redirected again once read",
		      on.redirects_after ? "yes" : "no");
	} else if (to_backend) {
		/* bulk: through the stack, bounded by the TCP window */
		check(on.passed_during >= 1 && on.written > AZDS_POD_RX_BYTES, "%-18s %-34s -> %zu KiB, +%llu through the "
		      "stack", dir, "on: bulk through the stack", on.written >> 10, (unsigned long long)on.passed_during);
	} else {
		check(on.redirected_during >= 1 && on.passed_during >= 1, "%-18s %-34s -> +%llu, then +%llu", dir,
		      "on: redirected, then the stack", (unsigned long long)on.redirected_during,
		      (unsigned long long)on.passed_during);
		check(on.redirects_after, "%-18s %-34s -> %s", dir, "on: redirected again once read",
		      on.redirects_after ? "yes" : "no");
	}
}

/*
 * 3b. The router sends toward a pod that reads concurrently, the nginx way:
 * message sizes cycle from 1 byte to 200 KiB so that the flow goes back and
 * forth between redirected and the stack; every byte must arrive in order.
 */
static void mixed(void)
{
	static const size_t sizes[] = { 1, 700, 5000, 16384, 200000, 3, 70000, 9000, 100, 131072, 16385, 12 };
	const size_t total = 8u << 20;
	__u64 red = counter(AZDS_R_MSG_TO_POD), passed = counter(AZDS_R_MSG_TO_POD_PASSED);
	struct azds_pod_budget b;
	size_t pos = 0, got = 0;
	int l, c, a, st = 0;
	pid_t kid;
	bool ok = true;

	set_sockmap(true);
	block_ms = 10000; /* a stuck reader, not a slow machine */
	pair(true, 8083, &l, &c, &a);
	kid = fork();
	if (kid == 0) {
		close(c);
		_exit(et_read_all(a, total, &got, false) ? 0 : 1);
	}
	azds_pod_budget_init(&b);
	for (size_t i = 0; pos < total && ok; i++) {
		size_t want = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
		size_t end = pos + want > total ? total : pos + want;

		while (pos < end) {
			size_t n = budget_write_until_blocked(c, &b, pos, end, CHUNK);

			if (n == pos) {
				ok = false; /* blocked for a second: the reader is stuck */
				break;
			}
			pos = n;
		}
	}
	block_ms = 1000;
	ok = waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0 && ok;
	red = counter(AZDS_R_MSG_TO_POD) - red;
	passed = counter(AZDS_R_MSG_TO_POD_PASSED) - passed;
	check(ok && red >= 1 && passed >= 1, "%-53s -> %zu of %zu bytes sent, reader %s; +%llu redirected, +%llu stack",
	      "router -> pod, mixed sizes, nginx-style reader: all in order", pos, total, ok ? "got all" : "FAILED",
	      (unsigned long long)red, (unsigned long long)passed);
	close(a);
	close(c);
	close(l);
}

/*
 * sockmap on, sockmap-pods off, or on without the splice guard attached
 * (no_guard): the router's sends are not redirected, so a pod reading with
 * splice (Go's io.Copy between TCP connections, HAProxy's splice), which
 * never sees a redirected queue, gets every byte; the pod's own sends are
 * still redirected.
 */
static void pods_off(bool no_guard)
{
	__u64 to_pod = counter(AZDS_R_MSG_TO_POD), red = counter(AZDS_R_MSG_REDIRECTED);
	char buf[64] = "";
	int l, c, a, p[2] = { -1, -1 };
	ssize_t n = -1;
	bool ok;

	if (no_guard)
		guard_flag = 0;
	else
		pods_flag = 0;
	set_sockmap(true);
	pair(false, no_guard ? 87 : 82, &l, &c, &a); /* c: the client pod, a: the router */
	ok = write(c, "hello", 5) == 5 && read_within(a, buf, sizeof(buf), 5000) == 5 && write(a, "world", 5) == 5;
	if (ok && pipe(p) == 0) {
		struct pollfd pf = { .fd = c, .events = POLLIN };

		/* non-blocking: a splice that cannot see the bytes says EAGAIN
		 * (a blocking one would wait for ever) */
		fcntl(c, F_SETFL, O_NONBLOCK);
		if (poll(&pf, 1, 5000) == 1)
			n = splice(c, NULL, p[1], NULL, sizeof(buf), SPLICE_F_NONBLOCK);
		if (n == 5)
			n = read(p[0], buf, sizeof(buf));
	}
	check(ok && n == 5 && !memcmp(buf, "world", 5) && counter(AZDS_R_MSG_TO_POD) == to_pod &&
		      counter(AZDS_R_MSG_REDIRECTED) == red + 1,
	      "%-53s -> spliced %zd bytes, msg_to_pod +%llu, msg_redirected +%llu",
	      no_guard ? "sockmap-pods on, no guard: a splice reader gets all" :
			 "sockmap-pods off: the router's sends reach a splice reader",
	      n,
	      (unsigned long long)(counter(AZDS_R_MSG_TO_POD) - to_pod),
	      (unsigned long long)(counter(AZDS_R_MSG_REDIRECTED) - red));
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	close(a);
	close(c);
	close(l);
	pods_flag = AZDS_CFG_SOCKMAP_PODS;
	guard_flag = AZDS_CFG_SPLICE_GUARD;
	set_sockmap(true);
}

/* the sock_ptrs flags of the client pod's socket c (to VIP:port) */
static __u32 pod_flags(int c, int port)
{
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	struct azds_sock_key k = { .remote_ip = inet_addr(VIP), .remote_port = (__u32)port };
	struct azds_sock_ptr v = { 0 };

	if (getsockname(c, (struct sockaddr *)&me, &ml))
		return ~0u;
	k.local_ip = me.sin_addr.s_addr;
	k.local_port = ntohs(me.sin_port);
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.sock_ptrs), &k, &v))
		return ~0u;
	return v.flags;
}

/* a non-blocking splice of up to len bytes from fd, by a process of cgroup cg, into buf */
static ssize_t splice_in(int cg, int fd, char *buf, size_t len)
{
	int p[2];
	ssize_t n;

	if (pipe(p))
		return -1;
	move_self(cg_path[cg]);
	n = splice(fd, NULL, p[1], NULL, len, SPLICE_F_NONBLOCK);
	move_self(cgtop);
	if (n > 0)
		n = read(p[0], buf, (size_t)n);
	close(p[0]);
	close(p[1]);
	return n;
}

/* the splice guard forgets a pod, for the tests that follow */
static void forget_splicer(const char *pod)
{
	__be32 addr = inet_addr(pod);

	bpf_map_delete_elem(bpf_map__fd(skel->maps.splice_pods), &addr);
}

/*
 * 3e. The splice guard (sockmap-pods on, the default). A client pod reads
 * one answer with recv, then calls splice on the same socket (nothing
 * there yet: EAGAIN, as Go's io.Copy does before it waits): the flow goes
 * stack-only, so the router's next send reaches the splice; and the pod's
 * next connection is stack-only from the start.
 */
static void splice_guard(void)
{
	__u64 seen = counter(AZDS_R_SPLICE_SEEN), to_pod, passed;
	struct pollfd pf;
	char buf[64] = "";
	int l, c, a, l2, c2, a2;
	ssize_t n = -1, n2 = -1;
	bool ok;

	set_sockmap(true);
	pair(false, 85, &l, &c, &a); /* c: the client pod, a: the router */
	to_pod = counter(AZDS_R_MSG_TO_POD);
	ok = write(c, "GET", 3) == 3 && read_within(a, buf, sizeof(buf), 5000) == 3 && write(a, "first", 5) == 5 &&
	     read_within(c, buf, sizeof(buf), 5000) == 5 && !memcmp(buf, "first", 5);
	check(ok && counter(AZDS_R_MSG_TO_POD) == to_pod + 1 && pod_flags(c, 85) == 0, "%-53s -> %s, msg_to_pod +%llu",
	      "splice guard: a recv reader gets redirected bytes", ok ? "read" : "LOST",
	      (unsigned long long)(counter(AZDS_R_MSG_TO_POD) - to_pod));
	fcntl(c, F_SETFL, O_NONBLOCK);
	n = splice_in(CG_PODC, c, buf, sizeof(buf));
	check(n < 0 && errno == EAGAIN && counter(AZDS_R_SPLICE_SEEN) == seen + 1 && pod_flags(c, 85) == AZDS_SP_STACK,
	      "%-53s -> splice_seen +%llu, flags %#x", "splice guard: the pod's splice makes its flow stack-only",
	      (unsigned long long)(counter(AZDS_R_SPLICE_SEEN) - seen), pod_flags(c, 85));
	to_pod = counter(AZDS_R_MSG_TO_POD);
	passed = counter(AZDS_R_MSG_TO_POD_PASSED);
	n = -1;
	pf = (struct pollfd){ .fd = c, .events = POLLIN };
	if (write(a, "world", 5) == 5 && poll(&pf, 1, 5000) == 1)
		n = splice_in(CG_PODC, c, buf, sizeof(buf));
	check(n == 5 && !memcmp(buf, "world", 5) && counter(AZDS_R_MSG_TO_POD) == to_pod &&
		      counter(AZDS_R_MSG_TO_POD_PASSED) == passed + 1,
	      "%-53s -> spliced %zd bytes, msg_to_pod +%llu, msg_to_pod_passed +%llu",
	      "splice guard: the router's next send reaches the splice", n,
	      (unsigned long long)(counter(AZDS_R_MSG_TO_POD) - to_pod),
	      (unsigned long long)(counter(AZDS_R_MSG_TO_POD_PASSED) - passed));
	/* the same pod's next connection: stack-only from its admission */
	pair(false, 86, &l2, &c2, &a2);
	to_pod = counter(AZDS_R_MSG_TO_POD);
	fcntl(c2, F_SETFL, O_NONBLOCK);
	pf = (struct pollfd){ .fd = c2, .events = POLLIN };
	if (write(c2, "GET", 3) == 3 && read_within(a2, buf, sizeof(buf), 5000) == 3 && write(a2, "again", 5) == 5 &&
	    poll(&pf, 1, 5000) == 1)
		n2 = splice_in(CG_PODC, c2, buf, sizeof(buf));
	check(n2 == 5 && !memcmp(buf, "again", 5) && counter(AZDS_R_MSG_TO_POD) == to_pod &&
		      pod_flags(c2, 86) == AZDS_SP_STACK,
	      "%-53s -> flags %#x, spliced %zd bytes, msg_to_pod +%llu",
	      "splice guard: the pod's new sockets are stack-only", pod_flags(c2, 86), n2,
	      (unsigned long long)(counter(AZDS_R_MSG_TO_POD) - to_pod));
	forget_splicer(PODC);
	close(a2);
	close(c2);
	close(l2);
	close(a);
	close(c);
	close(l);
}

/*
 * 3e'. The same guard for TCP_ZEROCOPY_RECEIVE, which also reads the
 * receive queue alone: the pod's getsockopt (whatever it returns) makes its
 * flow stack-only and marks the pod. Another socket level or option does not.
 */
static void zerocopy_guard(void)
{
	__u64 seen = counter(AZDS_R_SPLICE_SEEN);
	struct tcp_zerocopy_receive zc;
	socklen_t zl = sizeof(zc);
	int l, c, a, one = 0;
	socklen_t ol = sizeof(one);
	bool ok;

	set_sockmap(true);
	pair(false, 88, &l, &c, &a);
	move_self(cg_path[CG_PODC]);
	getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, &ol); /* not a zerocopy read */
	ok = pod_flags(c, 88) == 0 && counter(AZDS_R_SPLICE_SEEN) == seen;
	memset(&zc, 0, sizeof(zc));
	getsockopt(c, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, &zc, &zl); /* no mapping: fails, as it may */
	move_self(cgtop);
	check(ok && counter(AZDS_R_SPLICE_SEEN) == seen + 1 && pod_flags(c, 88) == AZDS_SP_STACK,
	      "%-53s -> splice_seen +%llu, flags %#x", "zerocopy guard: TCP_ZEROCOPY_RECEIVE makes the flow stack-only",
	      (unsigned long long)(counter(AZDS_R_SPLICE_SEEN) - seen), pod_flags(c, 88));
	forget_splicer(PODC);
	close(a);
	close(c);
	close(l);
}

/*
 * 3f. A tunnel (azds_pod_budget_stack): the router has redirected a head
 * the backend pod has not read yet; from the switch on, the router's next
 * send waits until the pod has read it, then goes through the stack, where
 * a splice reader gets it.
 */
static void tunnel_stack(void)
{
	int qfd = bpf_program__fd(skel->progs.azds_peer_queue), l, c, a, err;
	__u64 to_pod = counter(AZDS_R_MSG_TO_POD), passed;
	struct azds_pod_budget b;
	struct pollfd pf;
	char buf[64] = "";
	size_t waiting, after = 0;
	ssize_t n = -1;
	bool ok;

	set_sockmap(true);
	pair(true, 8085, &l, &c, &a); /* c: the router, a: the backend pod */
	azds_pod_budget_init(&b);
	ok = azds_pod_budget_take(&b, qfd, c, 4, &err) == 4 && write(c, "HEAD", 4) == 4;
	azds_pod_budget_sent(&b, 4);
	pf = (struct pollfd){ .fd = a, .events = POLLIN };
	ok = ok && poll(&pf, 1, 5000) == 1 && counter(AZDS_R_MSG_TO_POD) == to_pod + 1;
	azds_pod_budget_stack(&b);
	waiting = azds_pod_budget_take(&b, qfd, c, 6, &err);
	check(ok && waiting == 0 && err == 0, "%-53s -> may send %zu (%s)",
	      "tunnel: waits while the pod holds redirected bytes", waiting, err ? strerror(-err) : "asked");
	if (read_within(a, buf, sizeof(buf), 5000) == 4)
		after = azds_pod_budget_take(&b, qfd, c, 6, &err);
	passed = counter(AZDS_R_MSG_TO_POD_PASSED);
	to_pod = counter(AZDS_R_MSG_TO_POD);
	fcntl(a, F_SETFL, O_NONBLOCK);
	if (after == 6 && write(c, "tunnel", 6) == 6 && poll(&pf, 1, 5000) == 1)
		n = splice_in(CG_PODB, a, buf, sizeof(buf));
	check(after == 6 && b.unlimited && n == 6 && !memcmp(buf, "tunnel", 6) && counter(AZDS_R_MSG_TO_POD) == to_pod &&
		      counter(AZDS_R_MSG_TO_POD_PASSED) == passed + 1,
	      "%-53s -> may send %zu, spliced %zd bytes, msg_to_pod_passed +%llu",
	      "tunnel: once read, the stack (a splice reader gets it)", after, n,
	      (unsigned long long)(counter(AZDS_R_MSG_TO_POD_PASSED) - passed));
	forget_splicer(PODB);
	close(a);
	close(c);
	close(l);
}

/*
 * The router resets a client pod's connection after some bytes (a response
 * cut short): the pod reads the bytes, then ECONNRESET, never a clean end,
 * or a truncated close-delimited body would pass for a whole one.
 */
static void reset_seen(bool pods)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char buf[64] = "";
	int l, c, a, err = 0;
	ssize_t n, m = -2;

	pods_flag = pods ? AZDS_CFG_SOCKMAP_PODS : 0;
	set_sockmap(true);
	pair(false, pods ? 84 : 83, &l, &c, &a);
	n = write(c, "GET", 3) == 3 && read_within(a, buf, sizeof(buf), 5000) == 3 && write(a, "partial", 7) == 7 ?
		    7 :
		    -1;
	if (n == 7) {
		/* the bytes are in (or redirected) before the reset, unread */
		struct pollfd pf = { .fd = c, .events = POLLIN };

		if (poll(&pf, 1, 5000) != 1)
			n = -1;
	}
	setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(a);
	if (n == 7)
		n = read_within(c, buf, sizeof(buf), 5000);
	for (int i = 0; i < 50; i++) {
		struct pollfd pf = { .fd = c, .events = POLLIN };

		if (poll(&pf, 1, 5000) != 1)
			break;
		m = read(c, buf, sizeof(buf));
		err = m < 0 ? errno : 0;
		if (m <= 0)
			break;
	}
	check(n == 7 && m < 0 && err == ECONNRESET, "%-53s -> %zd bytes, then %s",
	      pods ? "a reset after redirected bytes reads as a reset" : "a reset after stack bytes reads as a reset", n,
	      m == 0 ? "a clean EOF" : m < 0 ? strerror(err) : "more bytes");
	close(c);
	close(l);
	pods_flag = AZDS_CFG_SOCKMAP_PODS;
	set_sockmap(true);
}

/*
 * 'set sockmap off' while a flow's redirected bytes are unread: the flow
 * keeps redirecting until they are read, so nothing lands in the receive
 * queue behind them.
 */
static void off_midflow(void)
{
	__u64 red;
	int l, c, a;
	size_t pos, got;
	bool ok;

	set_sockmap(true);
	pair(false, 81, &l, &c, &a);
	/* small writes: all of them delivered at once, whichever way they go,
	 * so no later arrival raises an edge that would hide a lost one */
	pos = write_until_blocked(c, 0, 1000);
	set_sockmap(false);
	red = counter(AZDS_R_MSG_REDIRECTED);
	pos = write_until_blocked(c, pos, 2000);
	red = counter(AZDS_R_MSG_REDIRECTED) - red;
	ok = et_read_all(a, pos, &got, true);
	check(ok && red >= 1, "%-53s -> %zu of %zu bytes in order, msg_redirected +%llu",
	      "off with redirected bytes unread: the flow keeps them", got, pos, (unsigned long long)red);
	set_sockmap(true);
	close(a);
	close(c);
	close(l);
}

static unsigned int map_entries(int fd)
{
	struct azds_sock_key k, next;
	unsigned int n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/* every socket is closed: their last states (LAST_ACK, ...) end within
 * loopback round trips, so wait a bounded while for the count to reach 0 */
static void ptrs_released(void)
{
	unsigned int n = 0;

	for (int i = 0; i < 100; i++) {
		n = map_entries(bpf_map__fd(skel->maps.sock_ptrs));
		if (!n)
			break;
		usleep(20000);
	}
	check(n == 0, "%-53s -> %u left", "sock_ptrs entries go when their sockets close", n);
}

int main(void)
{
	struct bpf_map *map;
	char root[200];
	bool fentry;
	int cgfd;

	if (unshare(CLONE_NEWNET)) {
		perror("unshare (run as root)");
		return 1;
	}
	ns_node = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (system("ip link set lo up && ip addr add " GW "/32 dev lo && ip addr add " VIP "/32 dev lo && "
		   "ip addr add " PODC "/32 dev lo && ip addr add " PODB "/32 dev lo")) {
		fprintf(stderr, "cannot configure lo\n");
		return 1;
	}
	if (azds_cgroup2_root(root, sizeof(root))) {
		fprintf(stderr, "no cgroup2 mount\n");
		return 1;
	}
	remove_stale(root);
	snprintf(cgtop, sizeof(cgtop), "%s/azds-unit-sm-%d", root, (int)getpid());
	if (mkdir(cgtop, 0755)) {
		perror(cgtop);
		return 1;
	}
	skel = dataplane__open();
	if (!skel)
		return 1;
	bpf_object__for_each_map(map, skel->obj)
		bpf_map__set_pin_path(map, NULL);
	/* the guard the loader would pick: fentry where the kernel takes it
	 * (Debian's 6.1 in vm-tests), else the syscall tracepoints */
	fentry = azds_dp_fentry_ok();
	bpf_program__set_autoload(skel->progs.azds_splice_fentry, fentry);
	bpf_program__set_autoload(skel->progs.azds_zerocopy_fentry, fentry);
	if (dataplane__load(skel)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	/* pods: client, backend, forger; the router's cgroup is no pod's */
	for (int i = 0; i < CG_N; i++) {
		static const char *const addrs[] = { NULL, PODC, PODB, FORGER };
		struct azds_pod pod = { .space = 1, .flags = AZDS_POD_MANAGED };
		struct stat st;
		__be32 a;
		__u64 id;

		snprintf(cg_path[i], sizeof(cg_path[i]), "%s/%s", cgtop, cg_names[i]);
		if (mkdir(cg_path[i], 0755) || stat(cg_path[i], &st)) {
			perror(cg_path[i]);
			return 1;
		}
		if (!addrs[i])
			continue;
		id = st.st_ino;
		a = inet_addr(addrs[i]);
		pod.cgroup_id = id;
		snprintf(pod.name, sizeof(pod.name), "%s", cg_names[i]);
		bpf_map_update_elem(bpf_map__fd(skel->maps.pods), &a, &pod, BPF_ANY);
		bpf_map_update_elem(bpf_map__fd(skel->maps.pod_cgroups), &id, &a, BPF_ANY);
	}
	cgfd = open(cgtop, O_RDONLY | O_DIRECTORY);
	if (bpf_prog_attach(bpf_program__fd(skel->progs.azds_sockops), cgfd, BPF_CGROUP_SOCK_OPS, 0) ||
	    bpf_prog_attach(bpf_program__fd(skel->progs.azds_msg_redirect), bpf_map__fd(skel->maps.sock_hash),
			    BPF_SK_MSG_VERDICT, 0) ||
	    bpf_prog_attach(bpf_program__fd(skel->progs.azds_msg_router), bpf_map__fd(skel->maps.router_tx),
			    BPF_SK_MSG_VERDICT, 0)) {
		perror("attach");
		return 1;
	}
	if (fentry) {
		if (!(skel->links.azds_splice_fentry = bpf_program__attach(skel->progs.azds_splice_fentry)) ||
		    !(skel->links.azds_zerocopy_fentry = bpf_program__attach(skel->progs.azds_zerocopy_fentry))) {
			perror("attach the splice guard (fentry)");
			return 1;
		}
	} else {
		char tracefs[64];

		if (azds_dp_tracefs(tracefs, sizeof(tracefs)) ||
		    !(skel->links.azds_splice_guard = bpf_program__attach(skel->progs.azds_splice_guard)) ||
		    !(skel->links.azds_zerocopy_guard = bpf_program__attach(skel->progs.azds_zerocopy_guard))) {
			perror("attach the splice guard");
			return 1;
		}
	}
	printf("the splice guard on %s\n", fentry ? "fentry (tcp_splice_read, tcp_getsockopt)" : "syscall tracepoints");
	move_self(cgtop);
	set_sockmap(true);

	redirect();
	forgery();
	flooded(false, CHUNK);
	flooded(true, 4096);
	flooded(true, CHUNK);
	mixed();
	pods_off(false);
	pods_off(true);
	reset_seen(false);
	reset_seen(true);
	off_midflow();
	splice_guard();
	zerocopy_guard();
	tunnel_stack();
	ptrs_released();

	move_self(root);
	for (int i = 0; i < CG_N; i++)
		rmdir(cg_path[i]);
	close(cgfd);
	dataplane__destroy(skel);
	rmdir(cgtop);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
