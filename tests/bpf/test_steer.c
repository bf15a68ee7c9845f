// SPDX-License-Identifier: MIT
/*
 * Unit tests of azds_steer (TC) without attaching it: each row is a packet
 * run through bpf_prog_test_run_opts, with the verdict, the counter that
 * must move, and whether the packet must come out unchanged. Runs in a
 * private network namespace so the "router listener" row is ours alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "dataplane.h"
#include "dataplane_load.h"
#include "dataplane.skel.h"

#define POD "10.77.0.2"
#define OUTSIDER "10.1.2.3"
#define VIP_HTTP "10.96.0.1"
#define VIP_TCP "10.96.0.2"
#define ROUTER_PORT 15001

static int failures;

struct pkt {
	struct ethhdr eth;
	struct iphdr ip;
	struct tcphdr tcp;
} __attribute__((packed));

static struct pkt make(const char *src, const char *dst, int dport, int proto, int syn, int ack)
{
	struct pkt p;

	memset(&p, 0, sizeof(p));
	p.eth.h_proto = htons(ETH_P_IP);
	p.ip.version = 4;
	p.ip.ihl = 5;
	p.ip.ttl = 64;
	p.ip.protocol = (__u8)proto;
	p.ip.tot_len = htons(sizeof(p) - sizeof(p.eth));
	p.ip.saddr = inet_addr(src);
	p.ip.daddr = inet_addr(dst);
	p.tcp.source = htons(40000);
	p.tcp.dest = htons((uint16_t)dport);
	p.tcp.doff = 5;
	p.tcp.syn = (__u16)syn;
	p.tcp.ack = (__u16)ack;
	return p;
}

static __u64 counter(struct dataplane *skel, __u32 reason)
{
	return azds_dp_counter(bpf_map__fd(skel->maps.stats), reason);
}

struct row {
	const char *name;
	struct pkt pkt;
	size_t len;          /* bytes of pkt to feed (truncation rows) */
	__u32 reason;        /* counter that must increase by one */
};

static int events_seen;

static int on_event(void *ctx, void *data, size_t len)
{
	(void)ctx;
	(void)data;
	if (len == sizeof(struct azds_event))
		events_seen++;
	return 0;
}

static void run_row(struct dataplane *skel, const struct row *r)
{
	char out[256];
	__u64 before[AZDS_R__COUNT];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = &r->pkt, .data_size_in = (__u32)r->len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);
	bool moved = true;
	int err;

	for (__u32 i = 0; i < AZDS_R__COUNT; i++)
		before[i] = counter(skel, i);
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.azds_steer), &o);
	/* exactly this counter moved, by one, and no other */
	for (__u32 i = 0; i < AZDS_R__COUNT; i++)
		if (counter(skel, i) != before[i] + (i == r->reason))
			moved = false;

	if (err || o.retval != TC_ACT_OK || !moved || o.data_size_out != r->len || memcmp(out, &r->pkt, r->len)) {
		fprintf(stderr, "FAIL %-36s err=%d retval=%u want only %s +1, unchanged=%d; moved:", r->name, err,
			o.retval, azds_reason_names[r->reason], o.data_size_out == r->len && !memcmp(out, &r->pkt, r->len));
		for (__u32 i = 0; i < AZDS_R__COUNT; i++)
			if (counter(skel, i) != before[i])
				fprintf(stderr, " %s +%llu", azds_reason_names[i],
					(unsigned long long)(counter(skel, i) - before[i]));
		fprintf(stderr, "\n");
		failures++;
	} else {
		printf("ok   %-36s -> %s\n", r->name, azds_reason_names[r->reason]);
	}
}

static int listen_router(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ROUTER_PORT) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8)) {
		perror("listen");
		return -1;
	}
	return fd;
}

/* a connection from src:sport to dst:dport (addresses on lo), or -1 */
static int connect_from(const char *src, int sport, const char *dst, int dport)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)sport) };
	struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons((uint16_t)dport) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = inet_addr(src);
	b.sin_addr.s_addr = inet_addr(dst);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || connect(fd, (struct sockaddr *)&b, sizeof(b))) {
		perror("connect_from");
		close(fd);
		return -1;
	}
	return fd;
}

int main(void)
{
	struct dataplane *skel;
	struct azds_config cfg = { .flags = AZDS_CFG_STEER | AZDS_CFG_EVENTS | AZDS_CFG_KERNEL_LB,
				   .max_depth = 8, .router_port = ROUTER_PORT };
	struct azds_pod pod = { .space = 1, .flags = AZDS_POD_MANAGED, .name = "web" };
	struct azds_vip vhttp = { .svc = 1, .kind = AZDS_KIND_HTTP, .name = "api" };
	struct azds_vip vtcp = { .svc = 2, .kind = AZDS_KIND_TCP, .name = "db" };
	struct azds_vip_key k1 = { .addr = inet_addr(VIP_HTTP), .port = htons(80) };
	struct azds_vip_key k2 = { .addr = inet_addr(VIP_TCP), .port = htons(5432) };
	__be32 podaddr = inet_addr(POD);
	struct ring_buffer *rb;
	struct bpf_map *map;
	__u32 zero = 0;
	int lfd;

	if (unshare(CLONE_NEWNET)) {
		perror("unshare(CLONE_NEWNET) (run as root)");
		return 1;
	}
	if (system("ip link set lo up && ip addr add " POD "/32 dev lo && ip addr add " VIP_HTTP "/32 dev lo")) {
		fprintf(stderr, "cannot configure lo\n");
		return 1;
	}
	skel = dataplane__open();
	if (!skel)
		return 1;
	/* unit test: private, unpinned maps */
	bpf_object__for_each_map(map, skel->obj)
		bpf_map__set_pin_path(map, NULL);
	if (dataplane__load(skel)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	bpf_map_update_elem(bpf_map__fd(skel->maps.dp_config), &zero, &cfg, BPF_ANY);
	bpf_map_update_elem(bpf_map__fd(skel->maps.pods), &podaddr, &pod, BPF_ANY);
	bpf_map_update_elem(bpf_map__fd(skel->maps.vips), &k1, &vhttp, BPF_ANY);
	bpf_map_update_elem(bpf_map__fd(skel->maps.vips), &k2, &vtcp, BPF_ANY);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);

	struct pkt arp = make(POD, VIP_HTTP, 80, IPPROTO_TCP, 1, 0);
	arp.eth.h_proto = htons(ETH_P_ARP);
	struct pkt badihl = make(POD, VIP_HTTP, 80, IPPROTO_TCP, 1, 0);
	badihl.ip.ihl = 4;
	/* a later fragment whose payload happens to look like a SYN to the
	 * service: it has no TCP header, so it must never be steered */
	struct pkt frag = make(POD, VIP_HTTP, 80, IPPROTO_TCP, 1, 0);
	frag.ip.frag_off = htons(1); /* offset 8 bytes, last fragment */
	struct pkt fragmf = make(POD, VIP_HTTP, 80, IPPROTO_TCP, 1, 0);
	fragmf.ip.frag_off = htons(0x2000 | 185); /* offset 1480, more follow */
	/* a first fragment (offset 0, more follow) carries the TCP header */
	struct pkt first = make(POD, VIP_HTTP, 80, IPPROTO_TCP, 1, 0);
	first.ip.frag_off = htons(0x2000);
	const struct row rows[] = {
		{ "non-IPv4 frame passes", arp, sizeof(arp), AZDS_R_NOT_IPV4_TCP },
		{ "UDP passes", make(POD, VIP_HTTP, 80, IPPROTO_UDP, 0, 0), sizeof(struct pkt), AZDS_R_NOT_IPV4_TCP },
		{ "IP header length < 5 passes", badihl, sizeof(badihl), AZDS_R_NOT_IPV4_TCP },
		{ "truncated TCP header passes", make(POD, VIP_HTTP, 80, IPPROTO_TCP, 1, 0),
		  sizeof(struct ethhdr) + sizeof(struct iphdr) + 4, AZDS_R_NOT_IPV4_TCP },
		{ "unmanaged source untouched", make(OUTSIDER, VIP_HTTP, 80, IPPROTO_TCP, 1, 0), sizeof(struct pkt),
		  AZDS_R_NOT_POD },
		{ "pod to a non-service passes", make(POD, "10.77.0.9", 80, IPPROTO_TCP, 1, 0), sizeof(struct pkt),
		  AZDS_R_NOT_SERVICE },
		{ "pod to service on other port passes", make(POD, VIP_HTTP, 81, IPPROTO_TCP, 1, 0), sizeof(struct pkt),
		  AZDS_R_NOT_SERVICE },
		{ "SYN to HTTP service, no router", make(POD, VIP_HTTP, 80, IPPROTO_TCP, 1, 0), sizeof(struct pkt),
		  AZDS_R_ROUTER_DOWN },
		{ "SYN to TCP service (connect4's job)", make(POD, VIP_TCP, 5432, IPPROTO_TCP, 1, 0), sizeof(struct pkt),
		  AZDS_R_TCP_UNBALANCED },
		{ "last fragment (offset 8) is not TCP", frag, sizeof(frag), AZDS_R_FRAGMENT },
		{ "middle fragment (offset 1480, MF)", fragmf, sizeof(fragmf), AZDS_R_FRAGMENT },
		{ "first fragment is parsed as TCP", first, sizeof(first), AZDS_R_ROUTER_DOWN },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(skel, &rows[i]);

	/* established packets are left to the ordinary socket lookup */
	{
		struct pkt p = make(POD, VIP_HTTP, 80, IPPROTO_TCP, 0, 1);
		char out[256];
		__u64 st = counter(skel, AZDS_R_STEERED), rd = counter(skel, AZDS_R_ROUTER_DOWN);
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = &p, .data_size_in = sizeof(p), .data_out = out,
			    .data_size_out = sizeof(out), .repeat = 1);

		if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.azds_steer), &o) || o.retval != TC_ACT_OK ||
		    counter(skel, AZDS_R_STEERED) != st || counter(skel, AZDS_R_ROUTER_DOWN) != rd) {
			fprintf(stderr, "FAIL ACK to HTTP service is not steered again\n");
			failures++;
		} else {
			printf("ok   %-36s -> no steering counter\n", "ACK to HTTP service passes");
		}
	}

	/*
	 * With a listener on the router port the SYN finds it and calls
	 * bpf_sk_assign. A test run's skb is not at TC ingress, so the helper
	 * refuses it (-EOPNOTSUPP) and assign_failed is the only outcome here:
	 * this row shows the lookup found the listener (not router_down, not
	 * not_listener). test_steer_veth sends real SYNs through a veth and
	 * asserts that they are steered and accepted with the VIP as address.
	 */
	lfd = listen_router();
	if (lfd >= 0) {
		const struct row r = { "SYN to HTTP service, router listening", make(POD, VIP_HTTP, 80, IPPROTO_TCP, 1, 0),
				       sizeof(struct pkt), AZDS_R_ASSIGN_FAILED };
		const struct row r2 = { "later fragment, router listening", frag, sizeof(frag), AZDS_R_FRAGMENT };
		const struct row r3 = { "tuple owned by an established socket", make(POD, VIP_HTTP, 80, IPPROTO_TCP, 1, 0),
					sizeof(struct pkt), AZDS_R_NOT_LISTENER };
		int cfd, afd;

		run_row(skel, &r);
		run_row(skel, &r2);
		/* the listener check: a connection POD:40000 -> VIP:router_port
		 * exists, so the lookup finds it, not the listener, and the SYN
		 * must be left alone rather than assigned to a non-listener */
		cfd = connect_from(POD, 40000, VIP_HTTP, ROUTER_PORT);
		afd = cfd >= 0 ? accept(lfd, NULL, NULL) : -1;
		if (afd < 0) {
			fprintf(stderr, "FAIL set up an established POD:40000 -> %s:%d\n", VIP_HTTP, ROUTER_PORT);
			failures++;
		} else {
			run_row(skel, &r3);
		}
		if (afd >= 0)
			close(afd);
		if (cfd >= 0)
			close(cfd);
		close(lfd);
	} else {
		failures++;
	}

	/* switch off steering at run time: the SYN is no longer steered */
	cfg.flags &= ~AZDS_CFG_STEER;
	bpf_map_update_elem(bpf_map__fd(skel->maps.dp_config), &zero, &cfg, BPF_ANY);
	{
		const struct row r = { "steer switch off: HTTP SYN passes", make(POD, VIP_HTTP, 80, IPPROTO_TCP, 1, 0),
				       sizeof(struct pkt), AZDS_R_TCP_UNBALANCED };
		run_row(skel, &r);
	}

	if (rb) {
		ring_buffer__consume(rb);
		if (events_seen < 1) {
			fprintf(stderr, "FAIL no ring buffer event for the router-down SYN\n");
			failures++;
		} else {
			printf("ok   %-36s -> %d events\n", "ring buffer events published", events_seen);
		}
		ring_buffer__free(rb);
	}
	dataplane__destroy(skel);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
