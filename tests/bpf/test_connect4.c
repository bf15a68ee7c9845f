// SPDX-License-Identifier: MIT
/*
 * Unit tests of azds_connect4 and azds_sockops. The kernel offers no
 * bpf_prog_test_run for cgroup/connect4 or sock_ops, so each row makes a
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

/* connect to addr:port; returns the peer address seen, or "" on failure */
static const char *try_connect(const char *addr, int port, char *peer, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) }, p;
	socklen_t pl = sizeof(p);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	peer[0] = 0;
	a.sin_addr.s_addr = inet_addr(addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getpeername(fd, (struct sockaddr *)&p, &pl) == 0)
		snprintf(peer, len, "%s:%u", inet_ntoa(p.sin_addr), ntohs(p.sin_port));
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
	char peer[64];
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

static int count_event(void *ctx, void *data, size_t len)
{
	(void)data;
	if (len == sizeof(struct azds_event))
		(*(int *)ctx)++;
	return 0;
}

static char cgdir[512], cgparent[512];

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

static int cg2_root(char *buf, size_t len)
{
	char line[512], dev[128], mnt[160], type[64];
	FILE *f = fopen("/proc/mounts", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %159s %63s", dev, mnt, type) == 3 && !strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", mnt);
			fclose(f);
			return 0;
		}
	if (f)
		fclose(f);
	return -1;
}

/* empty test cgroups left by a crashed earlier run */
static void remove_stale(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *de;
	char path[512];

	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, "azds-unit-", 10)) {
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
	if (cg2_root(root, sizeof(root))) {
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
	int l1 = listener("127.0.1.1", 7001), l2 = listener("127.0.2.1", 7002);

	move_self(cgdir);
	const struct row rows[] = {
		{ "caller in dev -> dev's backend", 1, "10.96.0.2", 5432, "127.0.1.1:7001", AZDS_R_LB_BALANCED },
		{ "caller in dev/alice -> alice's backend", 2, "10.96.0.2", 5432, "127.0.2.1:7002", AZDS_R_LB_BALANCED },
		{ "dev/alice/x (declared, no pods) -> alice's", 3, "10.96.0.2", 5432, "127.0.2.1:7002",
		  AZDS_R_LB_BALANCED },
		{ "space with no backend in its chain -> refused", 4, "10.96.0.2", 5432, "", AZDS_R_LB_NO_BACKEND },
		{ "HTTP service left for the router", 1, "10.96.0.1", 80, "", AZDS_R_LB_HTTP_PASS },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(&rows[i]);

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
	if (events < 3) {
		fprintf(stderr, "FAIL expected balanced + established events, got %d\n", events);
		failures++;
	} else {
		printf("ok   %-48s -> %d events\n", "ring buffer: balanced/established events", events);
	}

	move_self(cgparent);
	close(l1);
	close(l2);
	close(cgfd);
	dataplane__destroy(skel);
	rmdir(cgdir);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
