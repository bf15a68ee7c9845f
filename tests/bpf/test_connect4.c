// SPDX-License-Identifier: MIT
/*
 * Unit tests of azds_connect4, azds_connect6 and azds_sockops. The kernel
 * offers no bpf_prog_test_run for cgroup/connect or sock_ops, so each row makes a
 * real connect() from a private cgroup inside a private network namespace,
 * with private (unpinned) maps: caller's space, service -> expected peer
 * (or refusal) and counter. Backends are listeners on 127.0.x.1.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "azds.h"
#include "dataplane.h"
#include "dataplane_load.h"
#include "dataplane.skel.h"

static int failures;
static struct dataplane *skel;

static __u64 counter(__u32 reason)
{
	return azds_dp_counter(bpf_map__fd(skel->maps.stats), reason);
}

static void put_space(__u32 id, __u32 parent, const char *path)
{
	struct azds_space sp = { .parent = parent };

	snprintf(sp.path, sizeof(sp.path), "%s", path);
	bpf_map_update_elem(bpf_map__fd(skel->maps.spaces), &id, &sp, BPF_ANY);
}

static void put_backend(__u32 space, __u32 svc, const char *addr, __u16 port)
{
	struct azds_svc_key k = { .space = space, .svc = svc };
	struct azds_backends be = { .count = addr ? 1 : 0, .target_port = port };

	if (addr)
		be.addrs[0] = inet_addr(addr);
	bpf_map_update_elem(bpf_map__fd(skel->maps.backends), &k, &be, BPF_ANY);
}

static int listener(const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = inet_addr(addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16)) {
		perror("listener");
		exit(1);
	}
	return fd;
}

static int listener6(const char *addr, int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET6, SOCK_STREAM, 0);

	inet_pton(AF_INET6, addr, &a.sin6_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16)) {
		perror("listener6");
		exit(1);
	}
	return fd;
}

/* connect to addr:port (IPv6 when addr has a ':'); the peer address seen, or "" on failure */
static const char *try_connect(const char *addr, int port, char *peer, size_t len)
{
	struct sockaddr_storage a = {}, p;
	socklen_t al, pl = sizeof(p);
	char buf[INET6_ADDRSTRLEN];
	int fd;

	peer[0] = 0;
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &a6->sin6_addr);
		al = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&a;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		a4->sin_addr.s_addr = inet_addr(addr);
		al = sizeof(*a4);
	}
	fd = socket(a.ss_family, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, al) == 0 && getpeername(fd, (struct sockaddr *)&p, &pl) == 0) {
		if (p.ss_family == AF_INET6) {
			struct sockaddr_in6 *p6 = (struct sockaddr_in6 *)&p;

			inet_ntop(AF_INET6, &p6->sin6_addr, buf, sizeof(buf));
			snprintf(peer, len, "[%s]:%u", buf, ntohs(p6->sin6_port));
		} else {
			struct sockaddr_in *p4 = (struct sockaddr_in *)&p;

			snprintf(peer, len, "%s:%u", inet_ntoa(p4->sin_addr), ntohs(p4->sin_port));
		}
	}
	close(fd);
	return peer;
}

struct row {
	const char *name;
	__u32 caller_space;
	const char *dst;
	int port;
	const char *expect_peer; /* "" = connection must fail */
	__u32 reason;
};

static __be32 caller_addr;
static int balanced_to_alice, established;

/* the service connect is left alone: refused, and no balancing counted */
static void expect_not_balanced(const char *name)
{
	char peer[64];
	__u64 before = counter(AZDS_R_LB_BALANCED);

	try_connect("10.96.0.2", 5432, peer, sizeof(peer));
	if (peer[0] || counter(AZDS_R_LB_BALANCED) != before) {
		fprintf(stderr, "FAIL %s (balanced to %s)\n", name, peer);
		failures++;
	} else {
		printf("ok   %-48s -> refused\n", name);
	}
}

static void run_row(const struct row *r)
{
	struct azds_pod pod = { .flags = AZDS_POD_MANAGED, .name = "caller" };
	char peer[80];
	__u64 before = counter(r->reason);

	pod.space = r->caller_space;
	bpf_map_update_elem(bpf_map__fd(skel->maps.pods), &caller_addr, &pod, BPF_ANY);
	try_connect(r->dst, r->port, peer, sizeof(peer));
	if (strcmp(peer, r->expect_peer) || counter(r->reason) != before + 1) {
		fprintf(stderr, "FAIL %-48s peer=[%s] want [%s], counter %s moved %llu\n", r->name, peer,
			r->expect_peer, azds_reason_names[r->reason],
			(unsigned long long)(counter(r->reason) - before));
		failures++;
	} else {
		printf("ok   %-48s -> %s\n", r->name, peer[0] ? peer : "refused");
	}
}

/* a connect no balancing counter may see: the peer is expect_peer ("" = fails) */
static void expect_untouched(const char *name, const char *dst, int port, const char *expect_peer)
{
	static const __u32 lb[] = { AZDS_R_LB_BALANCED, AZDS_R_LB_NO_BACKEND, AZDS_R_LB_HTTP_PASS };
	__u64 before[3];
	char peer[80];
	bool moved = false;

	for (int i = 0; i < 3; i++)
		before[i] = counter(lb[i]);
	try_connect(dst, port, peer, sizeof(peer));
	for (int i = 0; i < 3; i++)
		moved |= counter(lb[i]) != before[i];
	if (moved || strcmp(peer, expect_peer)) {
		fprintf(stderr, "FAIL %-48s peer=[%s] want [%s], balancing counters moved=%d\n", name, peer,
			expect_peer, moved);
		failures++;
	} else {
		printf("ok   %-48s -> %s\n", name, peer[0] ? peer : "refused");
	}
}

static int count_event(void *ctx, void *data, size_t len)
{
	const struct azds_event *ev = data;

	if (len == sizeof(struct azds_event)) {
		(*(int *)ctx)++;
		if (ev->type == AZDS_EV_BALANCED && ev->new_dst == inet_addr("127.0.2.1"))
			balanced_to_alice++;
		if (ev->type == AZDS_EV_ESTABLISHED)
			established++;
	}
	return 0;
}

static char cgdir[512], cgchild[600], cgparent[512];

static void move_self(const char *dir)
{
	char path[600], pid[32];
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

/* empty test cgroups left by a crashed earlier run */
static void remove_stale(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *de;
	char path[512];

	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, "azds-unit-", 10)) {
			snprintf(path, sizeof(path), "%s/%s/child", root, de->d_name);
			rmdir(path);
			snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
			rmdir(path);
		}
	if (d)
		closedir(d);
}

int main(void)
{
	struct azds_config cfg = { .flags = AZDS_CFG_STEER | AZDS_CFG_EVENTS | AZDS_CFG_KERNEL_LB,
				   .max_depth = 8, .router_port = 15001 };
	struct azds_vip vtcp = { .svc = 2, .kind = AZDS_KIND_TCP, .name = "db" };
	struct azds_vip vhttp = { .svc = 1, .kind = AZDS_KIND_HTTP, .name = "api" };
	struct azds_vip_key ktcp = { .addr = inet_addr("10.96.0.2"), .port = htons(5432) };
	struct azds_vip_key khttp = { .addr = inet_addr("10.96.0.1"), .port = htons(80) };
	struct bpf_map *map;
	char root[200];
	__u32 zero = 0;
	__u64 cgid;
	struct stat st;
	int cgfd, events = 0;

	if (unshare(CLONE_NEWNET)) {
		perror("unshare (run as root)");
		return 1;
	}
	system("ip link set lo up");
	if (azds_cgroup2_root(root, sizeof(root))) {
		fprintf(stderr, "no cgroup2 mount\n");
		return 1;
	}
	remove_stale(root);
	snprintf(cgdir, sizeof(cgdir), "%s/azds-unit-%d", root, (int)getpid());
	snprintf(cgparent, sizeof(cgparent), "%s", root);
	if (mkdir(cgdir, 0755) && errno != EEXIST) {
		perror(cgdir);
		return 1;
	}
	stat(cgdir, &st);
	cgid = st.st_ino;

	skel = dataplane__open();
	bpf_object__for_each_map(map, skel->obj)
		bpf_map__set_pin_path(map, NULL);
	if (!skel || dataplane__load(skel)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	cgfd = open(cgdir, O_RDONLY | O_DIRECTORY);
	if (bpf_prog_attach(bpf_program__fd(skel->progs.azds_connect4), cgfd, BPF_CGROUP_INET4_CONNECT, 0) ||
	    bpf_prog_attach(bpf_program__fd(skel->progs.azds_connect6), cgfd, BPF_CGROUP_INET6_CONNECT, 0) ||
	    bpf_prog_attach(bpf_program__fd(skel->progs.azds_sockops), cgfd, BPF_CGROUP_SOCK_OPS, 0)) {
		perror("attach");
		return 1;
	}
	caller_addr = inet_addr("127.0.0.1");
	bpf_map_update_elem(bpf_map__fd(skel->maps.dp_config), &zero, &cfg, BPF_ANY);
	bpf_map_update_elem(bpf_map__fd(skel->maps.pod_cgroups), &cgid, &caller_addr, BPF_ANY);
	bpf_map_update_elem(bpf_map__fd(skel->maps.vips), &ktcp, &vtcp, BPF_ANY);
	bpf_map_update_elem(bpf_map__fd(skel->maps.vips), &khttp, &vhttp, BPF_ANY);
	/* dev(1) <- dev/alice(2) <- dev/alice/x(3); other(4) has nothing */
	put_space(1, 0, "dev");
	put_space(2, 1, "dev/alice");
	put_space(3, 2, "dev/alice/x");
	put_space(4, 0, "other");
	put_backend(1, 2, "127.0.1.1", 7001);
	put_backend(2, 2, "127.0.2.1", 7002);
	put_backend(3, 2, NULL, 7003); /* declared, no pods: falls through */
	int l1 = listener("127.0.1.1", 7001), l2 = listener("127.0.2.1", 7002), l6 = listener6("::1", 7009);

	move_self(cgdir);
	const struct row rows[] = {
		{ "caller in dev -> dev's backend", 1, "10.96.0.2", 5432, "127.0.1.1:7001", AZDS_R_LB_BALANCED },
		{ "caller in dev/alice -> alice's backend", 2, "10.96.0.2", 5432, "127.0.2.1:7002", AZDS_R_LB_BALANCED },
		{ "dev/alice/x (declared, no pods) -> alice's", 3, "10.96.0.2", 5432, "127.0.2.1:7002",
		  AZDS_R_LB_BALANCED },
		{ "space with no backend in its chain -> refused", 4, "10.96.0.2", 5432, "", AZDS_R_LB_NO_BACKEND },
		{ "HTTP service left for the router", 1, "10.96.0.1", 80, "", AZDS_R_LB_HTTP_PASS },
		/* connect6: an IPv6 socket to the IPv4-mapped service address */
		{ "AF_INET6 ::ffff:VIP, caller in dev -> dev's", 1, "::ffff:10.96.0.2", 5432, "[::ffff:127.0.1.1]:7001",
		  AZDS_R_LB_BALANCED },
		{ "AF_INET6 ::ffff:VIP, dev/alice/x -> alice's", 3, "::ffff:10.96.0.2", 5432,
		  "[::ffff:127.0.2.1]:7002", AZDS_R_LB_BALANCED },
		{ "AF_INET6 ::ffff:VIP, no backend -> refused", 4, "::ffff:10.96.0.2", 5432, "", AZDS_R_LB_NO_BACKEND },
		{ "AF_INET6 ::ffff:VIP of HTTP: left for router", 1, "::ffff:10.96.0.1", 80, "", AZDS_R_LB_HTTP_PASS },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(&rows[i]);
	/* native IPv6 destinations are never rewritten, even one whose low 32
	 * bits spell a service address (fd00::a60:2 ends in 10.96.0.2) */
	expect_untouched("native IPv6 [::1]:7009 untouched", "::1", 7009, "[::1]:7009");
	expect_untouched("native IPv6 ending in a VIP untouched", "fd00::a60:2", 5432, "");

	/* a process in a child cgroup of the pod's is the pod's */
	snprintf(cgchild, sizeof(cgchild), "%s/child", cgdir);
	if (mkdir(cgchild, 0755) && errno != EEXIST) {
		perror(cgchild);
		failures++;
	} else {
		const struct row c4 = { "child cgroup of the pod, AF_INET -> alice's", 2, "10.96.0.2", 5432,
					"127.0.2.1:7002", AZDS_R_LB_BALANCED };
		const struct row c6 = { "child cgroup of the pod, AF_INET6 -> alice's", 2, "::ffff:10.96.0.2", 5432,
					"[::ffff:127.0.2.1]:7002", AZDS_R_LB_BALANCED };
		char grandchild[700];

		move_self(cgchild);
		run_row(&c4);
		run_row(&c6);
		/* and a grandchild */
		snprintf(grandchild, sizeof(grandchild), "%s/deeper", cgchild);
		if (mkdir(grandchild, 0755) == 0 || errno == EEXIST) {
			const struct row c = { "grandchild cgroup of the pod -> alice's", 2, "10.96.0.2", 5432,
					       "127.0.2.1:7002", AZDS_R_LB_BALANCED };

			move_self(grandchild);
			run_row(&c);
			move_self(cgchild);
			rmdir(grandchild);
		}
		move_self(cgdir);
	}

	/* max_depth bounds the chain: with 1, only the caller's own space */
	cfg.max_depth = 1;
	bpf_map_update_elem(bpf_map__fd(skel->maps.dp_config), &zero, &cfg, BPF_ANY);
	{
		const struct row r = { "max_depth 1: only the caller's own space", 3, "10.96.0.2", 5432, "",
				       AZDS_R_LB_NO_BACKEND };
		run_row(&r);
	}
	cfg.max_depth = 8;
	cfg.flags &= ~AZDS_CFG_KERNEL_LB;
	bpf_map_update_elem(bpf_map__fd(skel->maps.dp_config), &zero, &cfg, BPF_ANY);
	expect_not_balanced("kernel-lb switch off: not balanced");
	/* unmanaged caller: remove the cgroup index, nothing is rewritten */
	cfg.flags |= AZDS_CFG_KERNEL_LB;
	bpf_map_update_elem(bpf_map__fd(skel->maps.dp_config), &zero, &cfg, BPF_ANY);
	bpf_map_delete_elem(bpf_map__fd(skel->maps.pod_cgroups), &cgid);
	expect_not_balanced("unmanaged caller untouched");
	/* ring buffer: balanced and established events were published */
	{
		struct ring_buffer *r2 = ring_buffer__new(bpf_map__fd(skel->maps.events), count_event, &events, NULL);

		if (r2) {
			ring_buffer__consume(r2);
			ring_buffer__free(r2);
		}
	}
	/* one established event per connection made to a backend: 5 over
	 * AF_INET, 3 over AF_INET6 to IPv4-mapped addresses */
	if (balanced_to_alice != 6 || established != 8) {
		fprintf(stderr, "FAIL events: %d balanced to alice's (want 6), %d established (want 8), %d in all\n",
			balanced_to_alice, established, events);
		failures++;
	} else {
		printf("ok   %-48s -> %d events, %d balanced to alice's, %d established\n",
		       "ring buffer: balanced/established events", events, balanced_to_alice, established);
	}

	move_self(cgparent);
	rmdir(cgchild);
	close(l1);
	close(l2);
	close(l6);
	close(cgfd);
	dataplane__destroy(skel);
	rmdir(cgdir);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
