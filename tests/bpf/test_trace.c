// SPDX-License-Identifier: MIT
/*
 * Tests of the trace capture (bpf/trace.bpf.c through bpf/trace.c) with
 * real sockets: a private network namespace with the pods' addresses on
 * lo, a private cgroup tree <cgroup2>/azds-unit-trace[-<prefix>]/
 * {poda,poda/child,podb,other}, the data plane loaded into a private pin
 * dir /sys/fs/bpf/azds-unit-trace[-<prefix>] (its pods map holds pod A,
 * 10.77.0.2 in space 11 with cgroup poda, and pod B, 10.77.0.5 in space 12
 * with cgroup podb), and capture attached to that pin dir. Records are
 * read with libbpf's ring_buffer and checked field by field.
 * A socket belongs to the cgroup its creator was in (accepted sockets to
 * their listener's), so the test moves itself before making each one.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "azds.h"
#include "dataplane.h"
#include "dataplane_load.h"
#include "trace_load.h"

#define PODA "10.77.0.2"
#define PODB "10.77.0.5"
#define OTHER "10.77.0.9"
#define GWADDR "169.254.1.1"   /* AZDS_GW_IP: the router's side of a backend's connection */
#define VIPHTTP "10.96.7.1"    /* an HTTP service's address (vips: steered into the router) */
#define VIPTCP "10.96.7.2"     /* a plain-TCP service's address (connect4's to balance) */
#define SPACE_A 11u
#define SPACE_B 12u
#define MAX_RECS 512
#define WAIT_MS 5000 /* bound for asynchronous records (closes): a hang, not a timing */

static const char req[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

static int failures;
static char cgtop[512], pin[256];
enum { CG_A, CG_ACHILD, CG_B, CG_OTHER, CG_N };
static const char *const cg_names[] = { "poda", "poda/child", "podb", "other" };
static char cg_path[CG_N][700];

static struct azds_trace_rec recs[MAX_RECS];
static size_t nrecs, lost_recs;
static struct ring_buffer *rb;
static struct azds_trace_bpf *tr;

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

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int on_rec(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (nrecs >= MAX_RECS) {
		lost_recs++;
		return 0;
	}
	memset(&recs[nrecs], 0, sizeof(recs[0]));
	memcpy(&recs[nrecs], data, size < sizeof(recs[0]) ? size : sizeof(recs[0]));
	nrecs++;
	return 0;
}

static void drain(void)
{
	if (rb)
		ring_buffer__consume(rb);
}

static void reset(void)
{
	drain();
	nrecs = 0;
}

static void move_self(const char *dir)
{
	char path[800], pid[32];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, pid, strlen(pid)) < 0)
		die(path);
	close(fd);
}

/* a socket made while in cgroup cg (-1: the test's top cgroup, a host one) */
static int sock_in(int cg, int family)
{
	int fd, one = 1;

	if (cg >= 0)
		move_self(cg_path[cg]);
	fd = socket(family, SOCK_STREAM, 0);
	move_self(cgtop);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	return fd;
}

static socklen_t sa(struct sockaddr_storage *s, int family, const char *v4, int port)
{
	memset(s, 0, sizeof(*s));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)s;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = inet_addr(v4);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)s;
	char mapped[64];

	a->sin6_family = AF_INET6;
	a->sin6_port = htons((uint16_t)port);
	snprintf(mapped, sizeof(mapped), "::ffff:%s", v4);
	if (!v4)
		a->sin6_addr = in6addr_any;
	else if (inet_pton(AF_INET6, mapped, &a->sin6_addr) != 1)
		die("inet_pton");
	return sizeof(*a);
}

static int listen_in(int cg, int family, const char *addr, int port)
{
	struct sockaddr_storage s;
	int fd = sock_in(cg, family);
	socklen_t len = sa(&s, family, addr, port);

	if (bind(fd, (struct sockaddr *)&s, len) || listen(fd, 16))
		die("listen");
	return fd;
}

static int connect_in(int cg, int family, const char *src, const char *dst, int port)
{
	struct sockaddr_storage a, b;
	int fd = sock_in(cg, family);
	socklen_t la = sa(&a, family, src, 0), lb = sa(&b, family, dst, port);

	if (bind(fd, (struct sockaddr *)&a, la) || connect(fd, (struct sockaddr *)&b, lb))
		die("connect");
	return fd;
}

struct conn {
	int l, c, a;         /* listener, client, accepted */
	__u64 ck_c, ck_a;    /* their cookies */
	__be16 cport, sport; /* client's port, server's port (network order) */
};

static __u64 cookie(int fd)
{
	__u64 v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &v, &len))
		die("SO_COOKIE");
	return v;
}

static __be16 local_port(int fd)
{
	struct sockaddr_storage s;
	socklen_t len = sizeof(s);

	if (getsockname(fd, (struct sockaddr *)&s, &len))
		die("getsockname");
	return s.ss_family == AF_INET ? ((struct sockaddr_in *)&s)->sin_port : ((struct sockaddr_in6 *)&s)->sin6_port;
}

static void conn_open(struct conn *k, int cgc, int cgs, int family, const char *src, const char *dst, int port,
		      int lfamily)
{
	k->l = listen_in(cgs, lfamily, lfamily == AF_INET ? dst : NULL, port);
	k->c = connect_in(cgc, family, src, dst, port);
	k->a = accept(k->l, NULL, NULL);
	if (k->a < 0)
		die("accept");
	k->ck_c = cookie(k->c);
	k->ck_a = cookie(k->a);
	k->cport = local_port(k->c);
	k->sport = htons((uint16_t)port);
}

static void conn_close(struct conn *k)
{
	close(k->c);
	close(k->a);
	close(k->l);
}

/* the records of one socket, in order */
static size_t of(__u64 ck, const struct azds_trace_rec **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < nrecs && n < max; i++)
		if (recs[i].cookie == ck)
			out[n++] = &recs[i];
	return n;
}

static size_t count_type(__u64 ck, __u32 type)
{
	size_t n = 0;

	for (size_t i = 0; i < nrecs; i++)
		n += recs[i].cookie == ck && recs[i].type == type;
	return n;
}

/* a socket's records, on stderr, when a check of them failed */
static void dump(__u64 ck)
{
	for (size_t i = 0; i < nrecs; i++) {
		const struct azds_trace_rec *r = &recs[i];

		if (r->cookie != ck)
			continue;
		fprintf(stderr, "  type %u dir %u seq %llu len %u cap %u flags %#x space %u sent %llu recvd %llu "
				"%08x:%u -> %08x:%u \"%.*s\"\n",
			r->type, r->dir, (unsigned long long)r->seq, r->len, r->cap, r->flags, r->space,
			(unsigned long long)r->sent, (unsigned long long)r->recvd, ntohl(r->laddr), ntohs(r->lport),
			ntohl(r->raddr), ntohs(r->rport), (int)(r->cap > 40 ? 40 : r->cap), r->data);
	}
}

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

/* closes complete in softirq: wait (bounded) for both CLOSE records */
static void wait_closed(__u64 ck1, __u64 ck2)
{
	__u64 end = now_ms() + WAIT_MS;

	while (now_ms() < end) {
		ring_buffer__poll(rb, 50);
		ring_buffer__consume(rb); /* the programs wake no reader per record */
		if (count_type(ck1, AZDS_TR_CLOSE) && count_type(ck2, AZDS_TR_CLOSE))
			return;
	}
}

static bool data_is(const struct azds_trace_rec *r, __u32 dir, __u64 seq, __u32 len, const char *bytes,
		    __u32 cap)
{
	return r->type == AZDS_TR_DATA && r->dir == dir && r->seq == seq && r->len == len && r->cap == cap &&
	       !r->flags && !memcmp(r->data, bytes, cap) && !r->sent && !r->recvd;
}

static bool addrs_are(const struct azds_trace_rec *r, const char *l, __be16 lport, const char *rm, __be16 rport,
		      __u32 space)
{
	return r->laddr == inet_addr(l) && r->raddr == inet_addr(rm) && r->lport == lport && r->rport == rport &&
	       r->space == space && r->ts_ns;
}

static ssize_t recv_all(int fd, char *buf, size_t len, int flags)
{
	return recv(fd, buf, len, flags | MSG_WAITALL);
}

/* 1. one exchange between pods A and B, both sides, exactly */
/* the client sends req, the server reads it, the records are drained */
static void req_once(struct conn *k)
{
	char buf[256];

	send(k->c, req, strlen(req), 0);
	recv_all(k->a, buf, strlen(req), 0);
	drain();
}

static void exchange(void)
{
	const struct azds_trace_rec *c[8], *a[8];
	struct conn k;
	char buf[256];
	size_t nc, na;
	ssize_t got;
	bool ok;

	reset();
	conn_open(&k, CG_A, CG_B, AF_INET, PODA, PODB, 8080, AF_INET);
	send(k.c, req, strlen(req), 0);
	got = recv_all(k.a, buf, strlen(req), 0);
	send(k.a, resp, strlen(resp), 0);
	got += recv_all(k.c, buf, strlen(resp), 0);
	close(k.c);
	recv(k.a, buf, sizeof(buf), 0); /* end of stream: 0 bytes, no record */
	close(k.a);
	close(k.l);
	wait_closed(k.ck_c, k.ck_a);
	nc = of(k.ck_c, c, 8);
	na = of(k.ck_a, a, 8);
	check(got == (ssize_t)(strlen(req) + strlen(resp)), "exchange: bytes delivered");
	ok = nc == 4 && c[0]->type == AZDS_TR_OPEN && c[0]->flags == AZDS_TR_F_ACTIVE &&
	     addrs_are(c[0], PODA, k.cport, PODB, k.sport, SPACE_A) &&
	     data_is(c[1], AZDS_TR_SEND, 0, strlen(req), req, strlen(req)) &&
	     addrs_are(c[1], PODA, k.cport, PODB, k.sport, SPACE_A) &&
	     data_is(c[2], AZDS_TR_RECV, 0, strlen(resp), resp, strlen(resp)) && c[3]->type == AZDS_TR_CLOSE &&
	     c[3]->sent == strlen(req) && c[3]->recvd == strlen(resp) &&
	     addrs_are(c[3], PODA, k.cport, PODB, k.sport, SPACE_A);
	check(ok, "%-60s -> %zu records", "client in A: OPEN active, SEND req, RECV resp, CLOSE", nc);
	if (!ok)
		dump(k.ck_c);
	ok = na == 4 && a[0]->type == AZDS_TR_OPEN && a[0]->flags == 0 &&
	     addrs_are(a[0], PODB, k.sport, PODA, k.cport, SPACE_B) &&
	     data_is(a[1], AZDS_TR_RECV, 0, strlen(req), req, strlen(req)) &&
	     data_is(a[2], AZDS_TR_SEND, 0, strlen(resp), resp, strlen(resp)) &&
	     addrs_are(a[2], PODB, k.sport, PODA, k.cport, SPACE_B) && a[3]->type == AZDS_TR_CLOSE &&
	     a[3]->sent == strlen(resp) && a[3]->recvd == strlen(req);
	check(ok, "%-60s -> %zu records", "server in B: OPEN passive, RECV req, SEND resp, CLOSE", na);
	if (!ok)
		dump(k.ck_a);
	check(k.ck_c != k.ck_a, "the two ends have their own cookies");
}

/* 2-4. bodies, writev, split reads, peeks */
static void offsets(void)
{
	static const char post[] = "POST /p HTTP/1.1\r\nContent-Length: 7\r\n\r\n";
	static const char body[] = "{\"a\":1}";
	static const char get[] = "GET /y HTTP/1.1\r\n\r\n";
	static const char split[] = "GET /split HTTP/1.1\r\nHost: b\r\n\r\n";
	const size_t cut = strlen("GET /split HTTP/1.1\r\n");
	const struct azds_trace_rec *c[16], *a[16];
	struct iovec iov[2] = { { (void *)post, strlen(post) }, { (void *)body, strlen(body) } };
	size_t lp = strlen(post), lb = strlen(body), lg = strlen(get), ls = strlen(split), nc, na, s1, s2;
	struct conn k;
	char buf[256], pb[128];
	bool ok;

	reset();
	conn_open(&k, CG_A, CG_B, AF_INET, PODA, PODB, 8081, AF_INET);
	send(k.c, post, lp, 0);
	send(k.c, body, lb, 0);
	send(k.c, get, lg, 0);
	recv_all(k.a, buf, lp, 0);
	recv_all(k.a, buf, lb, 0);
	recv_all(k.a, buf, lg, 0);
	drain();
	nc = of(k.ck_c, c, 16);
	na = of(k.ck_a, a, 16);
	ok = nc == 3 && data_is(c[1], AZDS_TR_SEND, 0, lp, post, lp) &&
	     data_is(c[2], AZDS_TR_SEND, lp + lb, lg, get, lg);
	check(ok, "%-60s -> %zu records", "a body send ('{') emits nothing, the next head's seq counts it", nc);
	ok = na == 3 && data_is(a[1], AZDS_TR_RECV, 0, lp, post, lp) &&
	     data_is(a[2], AZDS_TR_RECV, lp + lb, lg, get, lg);
	check(ok, "%-60s -> %zu records", "same on the receiving side", na);

	/* writev(head, body): the head is captured, len counts both */
	s1 = lp + lb + lg;
	if (writev(k.c, iov, 2) != (ssize_t)(lp + lb))
		die("writev");
	recv_all(k.a, buf, lp + lb, 0);
	drain();
	nc = of(k.ck_c, c, 16);
	ok = nc == 4 && data_is(c[3], AZDS_TR_SEND, s1, lp + lb, post, lp);
	check(ok, "%-60s -> %zu records", "writev(head, body): len of both, cap and bytes of the head", nc);

	/* a head read in two parts: two records, consecutive seq */
	s2 = s1 + lp + lb;
	send(k.c, split, ls, 0);
	/* a peek first: no record, no offset moved */
	if (recv(k.a, buf, 8, MSG_PEEK | MSG_WAITALL) != 8)
		die("peek");
	recv_all(k.a, buf, cut, 0);
	recv_all(k.a, buf, ls - cut, 0);
	drain();
	na = of(k.ck_a, a, 16);
	/* OPEN, post, get, the writev's bytes, then the two parts */
	snprintf(pb, sizeof(pb), "%s%s", post, body);
	ok = na == 6 && data_is(a[3], AZDS_TR_RECV, s1, lp + lb, pb, lp + lb) &&
	     data_is(a[4], AZDS_TR_RECV, s2, cut, split, cut) &&
	     data_is(a[5], AZDS_TR_RECV, s2 + cut, ls - cut, split + cut, ls - cut);
	check(ok, "%-60s -> %zu records", "MSG_PEEK: nothing; a head read in two: consecutive seq", na);
	if (!ok)
		dump(k.ck_a);
	conn_close(&k);
}

/* one connection from src (cgroup cgc) to dst:port (cgs listening): the request, the response if
 * reply, closed; then the client's CLOSE waited for (closes) or the ring drained */
static void exchange_once(struct conn *k, int cgc, int cgs, const char *src, const char *dst, int port, bool reply,
			  bool closes)
{
	char buf[256];

	reset();
	conn_open(k, cgc, cgs, AF_INET, src, dst, port, AF_INET);
	send(k->c, req, strlen(req), 0);
	recv_all(k->a, buf, strlen(req), 0);
	if (reply) {
		send(k->a, resp, strlen(resp), 0);
		recv_all(k->c, buf, strlen(resp), 0);
	}
	close(k->c);
	close(k->a);
	close(k->l);
	if (closes)
		wait_closed(k->ck_c, k->ck_c);
	else
		drain();
}

/*
 * The router records what crosses it (userspace/lib/decisions.h): a pod's
 * socket whose other end is the router (from AZDS_GW_IP, or to an HTTP
 * service's address) publishes nothing; one to a plain-TCP service's
 * address (no router there) is captured as any other.
 */
static void routed(void)
{
	struct { const char *addr; __u32 kind; } vip[] = { { VIPHTTP, AZDS_KIND_HTTP }, { VIPTCP, AZDS_KIND_TCP } };
	struct conn k;
	int fd = azds_trace_map_open(pin, "vips");

	if (fd < 0)
		die("vips");
	for (size_t i = 0; i < 2; i++) {
		struct azds_vip_key key = { .addr = inet_addr(vip[i].addr), .port = htons(80) };
		struct azds_vip v = { .svc = 70 + (__u32)i, .kind = vip[i].kind };

		if (bpf_map_update_elem(fd, &key, &v, BPF_ANY))
			die("vips update");
	}
	close(fd);

	/* a backend pod (B) serving the router's connection from the gateway address */
	exchange_once(&k, CG_OTHER, CG_B, GWADDR, PODB, 8090, true, false);
	check(!count_type(k.ck_a, AZDS_TR_OPEN) && !count_type(k.ck_a, AZDS_TR_DATA) &&
		      !count_type(k.ck_a, AZDS_TR_CLOSE),
	      "%-60s", "a backend's connection from the router: no records");

	/* a caller pod (A) to an HTTP service's address: the router's side */
	exchange_once(&k, CG_A, CG_OTHER, PODA, VIPHTTP, 80, true, false);
	check(!count_type(k.ck_c, AZDS_TR_OPEN) && !count_type(k.ck_c, AZDS_TR_DATA) &&
		      !count_type(k.ck_c, AZDS_TR_CLOSE),
	      "%-60s", "a caller's connection to an HTTP service: no records");

	/* the same to a plain-TCP service's address: captured */
	exchange_once(&k, CG_A, CG_OTHER, PODA, VIPTCP, 80, false, true);
	check(count_type(k.ck_c, AZDS_TR_OPEN) == 1 && count_type(k.ck_c, AZDS_TR_DATA) == 1 &&
		      count_type(k.ck_c, AZDS_TR_CLOSE) == 1,
	      "%-60s", "a caller's connection to a plain-TCP service: captured");
	if (count_type(k.ck_c, AZDS_TR_DATA) != 1)
		dump(k.ck_c);
}

/* 5. IPv6 sockets on IPv4-mapped addresses are IPv4 pods' */
static void mapped(void)
{
	const struct azds_trace_rec *c[8], *a[8];
	struct conn k;
	size_t nc, na;
	bool ok;

	reset();
	conn_open(&k, CG_A, CG_B, AF_INET6, PODA, PODB, 8082, AF_INET6);
	req_once(&k);
	nc = of(k.ck_c, c, 8);
	na = of(k.ck_a, a, 8);
	ok = nc == 2 && c[0]->type == AZDS_TR_OPEN && c[0]->flags == AZDS_TR_F_ACTIVE &&
	     addrs_are(c[0], PODA, k.cport, PODB, k.sport, SPACE_A) &&
	     data_is(c[1], AZDS_TR_SEND, 0, strlen(req), req, strlen(req)) &&
	     addrs_are(c[1], PODA, k.cport, PODB, k.sport, SPACE_A);
	check(ok, "%-60s -> %zu records", "IPv6 client on ::ffff:" PODA " to ::ffff:" PODB ": as IPv4", nc);
	ok = na == 2 && a[0]->type == AZDS_TR_OPEN && !a[0]->flags &&
	     data_is(a[1], AZDS_TR_RECV, 0, strlen(req), req, strlen(req)) &&
	     addrs_are(a[1], PODB, k.sport, PODA, k.cport, SPACE_B);
	check(ok, "%-60s -> %zu records", "accepted by a dual-stack [::] listener in B: as IPv4", na);
	conn_close(&k);
}

/* 6. who is captured: not another cgroup, not the host; a child cgroup is */
static void who(void)
{
	const struct azds_trace_rec *c[8];
	struct conn k, h, ch;
	char buf[256];
	size_t nc;
	bool ok;

	reset();
	/* A's address from a cgroup of no pod, to a server of no pod */
	conn_open(&k, CG_OTHER, CG_OTHER, AF_INET, PODA, OTHER, 8083, AF_INET);
	send(k.c, req, strlen(req), 0);
	recv_all(k.a, buf, strlen(req), 0);
	/* a host process on loopback */
	conn_open(&h, -1, -1, AF_INET, "127.0.0.1", "127.0.0.1", 8084, AF_INET);
	send(h.c, req, strlen(req), 0);
	recv_all(h.a, buf, strlen(req), 0);
	conn_close(&k);
	conn_close(&h);
	usleep(100000); /* no record must come: give the closes their softirqs */
	drain();
	check(nrecs == 0, "%-60s -> %zu records", "A's address in another cgroup, and a host socket: nothing", nrecs);

	reset();
	conn_open(&ch, CG_ACHILD, CG_OTHER, AF_INET, PODA, OTHER, 8085, AF_INET);
	send(ch.c, req, strlen(req), 0);
	recv_all(ch.a, buf, strlen(req), 0);
	drain();
	nc = of(ch.ck_c, c, 8);
	ok = nc == 2 && c[0]->type == AZDS_TR_OPEN && data_is(c[1], AZDS_TR_SEND, 0, strlen(req), req, strlen(req)) &&
	     c[1]->space == SPACE_A && !count_type(ch.ck_a, AZDS_TR_OPEN) && !count_type(ch.ck_a, AZDS_TR_DATA);
	check(ok, "%-60s -> %zu records", "a child cgroup of A's is A's; its no-pod peer is not captured", nc);
	conn_close(&ch);
}

/* 7. trace_off */
static void switched_off(void)
{
	const struct azds_trace_rec *c[8], *a[8];
	struct conn k;
	size_t nc, na;
	int err;

	reset();
	conn_open(&k, CG_A, CG_B, AF_INET, PODA, PODB, 8086, AF_INET);
	err = azds_trace_space_set(pin, SPACE_A, false);
	req_once(&k);
	nc = of(k.ck_c, c, 8);
	na = of(k.ck_a, a, 8);
	check(!err && nc == 1 && na == 2, "%-60s -> A %zu, B %zu records", "space A off: A's send not captured, B's recv is",
	      nc, na);
	err = azds_trace_space_set(pin, SPACE_A, true);
	req_once(&k);
	nc = of(k.ck_c, c, 8);
	check(!err && nc == 2 && data_is(c[1], AZDS_TR_SEND, strlen(req), strlen(req), req, strlen(req)),
	      "%-60s -> %zu records", "on again: captured, seq counts the send made while off", nc);
	check(azds_trace_space_set(pin, SPACE_A, true) == 0, "turning on a space that is on is fine");
	conn_close(&k);
}

/*
 * 7b. nobody watching (azds_trace_bpf_publish off): the send and receive
 * programs are detached and nothing is published; on again, they are
 * attached again (a tracing program attached a second time) and publish
 */
static void nobody_watching(void)
{
	const struct azds_trace_rec *c[8], *a[8];
	struct conn k;
	size_t nc, na;
	int err;

	reset();
	conn_open(&k, CG_A, CG_B, AF_INET, PODA, PODB, 8087, AF_INET);
	err = azds_trace_bpf_publish(tr, false);
	req_once(&k);
	nc = of(k.ck_c, c, 8);
	na = of(k.ck_a, a, 8);
	check(!err && nc == 1 && na == 1, "%-60s -> %d, A %zu, B %zu records (the OPENs)",
	      "publish off: no DATA from either side", err, nc, na);
	err = azds_trace_bpf_publish(tr, true);
	req_once(&k);
	nc = of(k.ck_c, c, 8);
	na = of(k.ck_a, a, 8);
	check(!err && nc == 2 && na == 2 && c[1]->type == AZDS_TR_DATA && a[1]->type == AZDS_TR_DATA,
	      "%-60s -> %d, A %zu, B %zu records", "publish on: the programs attached again, both sides seen", err, nc,
	      na);
	check(azds_trace_bpf_publish(tr, true) == 0, "publish on when on is fine");
	conn_close(&k);
}

/* 8. a full ring: every record meant is emitted or counted dropped */
static void full_ring(void)
{
	__u64 before[AZDS_TC__COUNT], after[AZDS_TC__COUNT];
	const int n = 64;
	struct conn k;
	int err;

	ring_buffer__free(rb);
	rb = NULL;
	azds_trace_bpf_detach(tr);
	tr = NULL;
	err = azds_trace_bpf_attach(pin, 4096, &tr);
	check(!err, "re-attach with a 4096-byte ring -> %d", err);
	if (err)
		return;
	rb = ring_buffer__new(azds_trace_bpf_ring_fd(tr), on_rec, NULL, NULL);
	conn_open(&k, CG_A, CG_OTHER, AF_INET, PODA, OTHER, 8087, AF_INET);
	reset();
	azds_trace_counts(pin, before);
	for (int i = 0; i < n; i++)
		send(k.c, req, strlen(req), 0);
	err = azds_trace_counts(pin, after);
	drain();
	__u64 em = after[AZDS_TC_EMITTED] - before[AZDS_TC_EMITTED], dr = after[AZDS_TC_DROPPED] - before[AZDS_TC_DROPPED];

	check(!err && em + dr == (__u64)n && dr > 0 && nrecs == em && !lost_recs,
	      "%-60s -> emitted %llu + dropped %llu, read %zu", "64 sends into a full ring", (unsigned long long)em,
	      (unsigned long long)dr, nrecs);
	conn_close(&k);
}

static bool prog_alive(__u32 id)
{
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* 9. detach: nothing left attached, nothing captured */
static void detached(void)
{
	__u32 ids[AZDS_TRACE_PROGS_MAX], link = 0;
	__u64 before[AZDS_TC__COUNT], after[AZDS_TC__COUNT];
	int n = azds_trace_bpf_prog_ids(tr, ids, AZDS_TRACE_PROGS_MAX), ours = 0, alive = 0;
	struct conn k;

	ring_buffer__free(rb);
	rb = NULL;
	azds_trace_bpf_detach(tr);
	tr = NULL;
	conn_open(&k, CG_A, CG_B, AF_INET, PODA, PODB, 8088, AF_INET);
	azds_trace_counts(pin, before);
	send(k.c, req, strlen(req), 0);
	azds_trace_counts(pin, after);
	conn_close(&k);
	check(!memcmp(before, after, sizeof(before)), "after detach: sends count nothing");
	while (!bpf_link_get_next_id(link, &link)) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_link_get_fd_by_id(link);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len))
			for (int i = 0; i < n; i++)
				ours += info.prog_id == ids[i];
		close(fd);
	}
	/* programs are freed after an RCU grace period: wait for it, bounded */
	for (__u64 end = now_ms() + WAIT_MS; now_ms() < end; usleep(20000)) {
		alive = 0;
		for (int i = 0; i < n; i++)
			alive += prog_alive(ids[i]);
		if (!alive)
			break;
	}
	check(n >= 3 && !ours && !alive, "%-60s -> %d programs, %d links left, %d alive", "after detach", n, ours, alive);
}

static void rm_pins(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[600];

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

static void rm_cgroups(void)
{
	for (int i = CG_N - 1; i >= 0; i--) {
		char path[800];

		snprintf(path, sizeof(path), "%s/%s", cgtop, cg_names[i]);
		rmdir(path);
	}
	rmdir(cgtop);
}

int main(void)
{
	const char *prefix = getenv("AZDS_TEST_PREFIX");
	struct azds_dp_opts o;
	char root[200], why[256];
	int err;

	if (!azds_trace_bpf_supported(why, sizeof(why))) {
		fprintf(stderr, "trace unavailable: %s\n", why);
		return 1;
	}
	if (unshare(CLONE_NEWNET)) {
		perror("unshare (run as root)");
		return 1;
	}
	if (system("ip link set lo up && ip addr add " PODA "/32 dev lo && ip addr add " PODB "/32 dev lo && "
		   "ip addr add " OTHER "/32 dev lo && ip addr add " GWADDR "/32 dev lo && "
		   "ip addr add " VIPHTTP "/32 dev lo && ip addr add " VIPTCP "/32 dev lo")) {
		fprintf(stderr, "cannot configure lo\n");
		return 1;
	}
	if (azds_cgroup2_root(root, sizeof(root))) {
		fprintf(stderr, "no cgroup2 mount\n");
		return 1;
	}
	/* fixed names: what a crashed run left is removed first */
	snprintf(cgtop, sizeof(cgtop), "%s/azds-unit-trace%s%s", root, prefix ? "-" : "", prefix ? prefix : "");
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/azds-unit-trace%s%s", prefix ? "-" : "", prefix ? prefix : "");
	rm_cgroups();
	rm_pins(pin);
	if (mkdir(cgtop, 0755))
		die(cgtop);
	for (int i = 0; i < CG_N; i++) {
		snprintf(cg_path[i], sizeof(cg_path[i]), "%s/%s", cgtop, cg_names[i]);
		if (mkdir(cg_path[i], 0755))
			die(cg_path[i]);
	}
	move_self(cgtop);

	err = azds_trace_bpf_attach(pin, 0, &tr);
	check(err == -ENOENT && !tr, "attach before the data plane is loaded -> %d (-ENOENT)", err);
	azds_dp_default_opts(&o, pin);
	if (azds_dp_load(&o)) {
		fprintf(stderr, "data plane load failed\n");
		return 1;
	}
	for (int i = 0; i < CG_N; i++) {
		struct azds_pod pod = { .flags = AZDS_POD_MANAGED };
		struct stat st;
		__be32 a;
		int fd;

		if (i != CG_A && i != CG_B)
			continue;
		if (stat(cg_path[i], &st))
			die(cg_path[i]);
		pod.space = i == CG_A ? SPACE_A : SPACE_B;
		pod.cgroup_id = st.st_ino;
		snprintf(pod.name, sizeof(pod.name), "%s", cg_names[i]);
		a = inet_addr(i == CG_A ? PODA : PODB);
		fd = azds_trace_map_open(pin, "pods");
		if (fd < 0 || bpf_map_update_elem(fd, &a, &pod, BPF_ANY))
			die("pods");
		close(fd);
	}
	err = azds_trace_bpf_attach(pin, 0, &tr);
	check(!err, "attach -> %d", err);
	if (err)
		return 1;
	rb = ring_buffer__new(azds_trace_bpf_ring_fd(tr), on_rec, NULL, NULL);
	if (!rb)
		die("ring_buffer__new");

	exchange();
	offsets();
	routed();
	mapped();
	who();
	switched_off();
	nobody_watching();
	full_ring();
	if (tr)
		detached();

	ring_buffer__free(rb);
	azds_trace_bpf_detach(tr);
	move_self(root);
	rm_cgroups();
	rm_pins(pin);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
