// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * azds data plane.
 *
 *  - azds_steer (TC ingress on each pod's node-side veth): a SYN from a
 *    managed pod to an HTTP service's virtual address is assigned to the
 *    node router's transparent listener with bpf_sk_assign; the router
 *    reads the original destination with getsockname(). If no router
 *    listens, the SYN is left alone and the local route for the virtual
 *    range answers with a reset: the client fails at once, never hangs.
 *  - azds_connect4 / azds_connect6 (cgroup/connect4 and connect6 on the
 *    instance cgroup): a connect() from a pod (or a child cgroup of one) to
 *    a plain-TCP service, IPv4 or IPv4-mapped IPv6, is rewritten to a
 *    backend pod of the nearest space in the caller's chain. No per-packet
 *    work, no NAT table.
 *  - azds_sockops: publishes "established" events for pods' connections.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "dataplane.h"

_Static_assert(AZDS_MAX_BACKENDS == 32, "the index mask below assumes 32 backends");

#define ETH_P_IP 0x0800
#define IP_OFFSET 0x1fff /* fragment offset bits of frag_off */
#define TC_ACT_OK 0
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_DEF_MAX_SPACES);
	__type(key, __u32);
	__type(value, struct azds_space);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} spaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_DEF_MAX_SPACES);
	__type(key, char[AZDS_PATH_MAX]);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} space_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_DEF_MAX_PODS);
	__type(key, __be32);
	__type(value, struct azds_pod);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pods SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_DEF_MAX_PODS);
	__type(key, __u64);
	__type(value, __be32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_DEF_MAX_VIPS);
	__type(key, struct azds_vip_key);
	__type(value, struct azds_vip);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_DEF_MAX_SERVICES);
	__type(key, struct azds_svc_key);
	__type(value, struct azds_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_DEF_MAX_SERVICES);
	__type(key, struct azds_svc_key);
	__type(value, struct azds_backends);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct azds_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dp_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AZDS_R__COUNT);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, AZDS_DEF_RINGBUF_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

/*
 * generation: bumped (atomically, through mmap) by every writer of the
 * routing maps after its writes; the router keeps a cache of routing
 * decisions and drops it when the generation moves.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} generation SEC(".maps");

/*
 * Two socket maps. sock_hash holds the pods' ends of the router's paths and
 * carries azds_msg_redirect, run by a pod's sends; router_rx holds the
 * router's ends and carries azds_msg_router, run by the router's sends.
 * Toward the router (which reads until EAGAIN) the kernel bounds what is
 * redirected (may_redirect); toward a pod the router bounds it
 * (may_redirect_to_pod, azds_peer_queue).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, AZDS_DEF_MAX_SOCKS);
	__type(key, struct azds_sock_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, AZDS_DEF_MAX_SOCKS);
	__type(key, struct azds_sock_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} router_rx SEC(".maps");

/*
 * router_tx: the router's ends admitted while sockmap-pods is on, also in
 * router_rx. It carries azds_msg_router, so only those sockets' sends run
 * it; the others send through the plain TCP path.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, AZDS_DEF_MAX_SOCKS);
	__type(key, struct azds_sock_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} router_tx SEC(".maps");

/*
 * sock_ptrs: the address of the socket behind each router_rx and sock_hash
 * key, so that sk_msg (which may not take a reference with a sockhash
 * lookup) can read its peer's queues with probe reads before it redirects
 * to it, and whether a router socket is in router_tx. Written before the
 * socket enters a socket map (a socket whose entry cannot be written is not
 * admitted, one whose map insert fails loses it again), deleted when that
 * socket closes (sockops state callback): a mapped socket always has its
 * entry, which the order rules toward a pod rely on. A plain hash, twice
 * the socket maps' size (both ends of every flow): never evicted.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_DEF_MAX_SOCKS);
	__type(key, struct azds_sock_key);
	__type(value, struct azds_sock_ptr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_ptrs SEC(".maps");

/*
 * splice_pods: pods (by address) seen reading a socket with splice() or
 * TCP_ZEROCOPY_RECEIVE, which never see a redirected queue: their new
 * sockets are admitted stack-only (AZDS_SP_STACK). An LRU: a pod it forgets
 * is marked again at its next such call.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AZDS_DEF_MAX_PODS);
	__type(key, __be32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} splice_pods SEC(".maps");

/*
 * router_socks: the router's per-worker listeners, which TC picks from by
 * flow hash. Kernels before 6.5 refuse bpf_sk_assign to a socket of a
 * SO_REUSEPORT group (-ESOCKTNOSUPPORT), so N workers cannot share one
 * reuseport port there; they register N plain listeners here instead.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, AZDS_MAX_WORKERS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} router_socks SEC(".maps");

/* router_spread (dataplane.h): how many of the listeners take new connections */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct azds_spread);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} router_spread SEC(".maps");

#define READ_ONCE_U32(x) (*(volatile __u32 *)&(x))

static __always_inline void count(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &reason);

	if (v)
		*v += 1;
}

static __always_inline struct azds_config *get_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&dp_config, &zero);
}

static __always_inline void emit(struct azds_config *cfg, struct azds_event *ev)
{
	if (!(cfg->flags & AZDS_CFG_EVENTS))
		return;
	ev->ts_ns = bpf_ktime_get_ns();
	/* best effort: a full ring drops the event, never the connection */
	bpf_ringbuf_output(&events, ev, sizeof(*ev), 0);
}

/*
 * Walk the caller's space chain (space, parent, grandparent, ...) and
 * return the backends of the nearest space that has some for svc.
 */
static __always_inline struct azds_backends *nearest_backends(__u32 space, __u32 svc, __u32 max_depth,
							      __u32 *found_space)
{
	struct azds_svc_key key = { .svc = svc };
	struct azds_backends *be;
	struct azds_space *sp;

	for (int i = 0; i < AZDS_DEPTH_HARD_MAX; i++) {
		if ((__u32)i >= max_depth || space == AZDS_SPACE_NONE)
			break;
		key.space = space;
		be = bpf_map_lookup_elem(&backends, &key);
		if (be && be->count > 0) {
			*found_space = space;
			return be;
		}
		sp = bpf_map_lookup_elem(&spaces, &space);
		if (!sp)
			break;
		space = sp->parent;
	}
	return NULL;
}

SEC("tc")
int azds_steer(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct azds_event ev = {};
	struct bpf_sock_tuple tuple = {};
	struct azds_vip_key vk = {};
	struct azds_config *cfg;
	struct azds_pod *pod;
	struct azds_vip *vip;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	struct bpf_sock *sk, *skc;
	__u32 n, idx;
	long err;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		goto not_tcp;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl < 5)
		goto not_tcp;
	/* a fragment past the first starts with payload, not a TCP header:
	 * never read ports or flags from it (a first fragment, offset 0,
	 * does carry the header and is handled like any segment) */
	if (ip->frag_off & bpf_htons(IP_OFFSET)) {
		count(AZDS_R_FRAGMENT);
		return TC_ACT_OK;
	}
	tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > end)
		goto not_tcp;
	/* only a connection's first packet is steered: the later ones find
	 * the router's accepted socket by the ordinary lookup (the virtual
	 * range is a local route), so they skip the maps altogether */
	if (!tcp->syn || tcp->ack)
		return TC_ACT_OK;

	pod = bpf_map_lookup_elem(&pods, &ip->saddr);
	if (!pod) {
		count(AZDS_R_NOT_POD);
		return TC_ACT_OK;
	}
	vk.addr = ip->daddr;
	vk.port = tcp->dest;
	vip = bpf_map_lookup_elem(&vips, &vk);
	if (!vip) {
		count(AZDS_R_NOT_SERVICE);
		return TC_ACT_OK;
	}
	cfg = get_config();
	if (!cfg)
		return TC_ACT_OK;
	if (vip->kind != AZDS_KIND_HTTP || !(cfg->flags & AZDS_CFG_STEER)) {
		count(AZDS_R_TCP_UNBALANCED);
		return TC_ACT_OK;
	}

	ev.space = pod->space;
	ev.svc = vip->svc;
	ev.src = ip->saddr;
	ev.dst = ip->daddr;
	ev.dport = tcp->dest;

	/* a registered worker listener, picked by flow hash (a retransmitted
	 * SYN has the same hash, so it goes to the same listener while the
	 * router's spread holds), among the first `active` */
	n = READ_ONCE_U32(cfg->router_workers);
	sk = NULL;
	if (n > 0) {
		struct azds_spread *sp;
		__u32 zero = 0, act;

		if (n > AZDS_MAX_WORKERS)
			n = AZDS_MAX_WORKERS;
		sp = bpf_map_lookup_elem(&router_spread, &zero);
		if (sp) {
			act = READ_ONCE_U32(sp->active);
			if (act > 0 && act < n)
				n = act;
		}
		idx = bpf_get_hash_recalc(skb) % n;
		sk = bpf_map_lookup_elem(&router_socks, &idx);
	}
	/* or whatever listens on the router port (one listener, or on 6.5+
	 * a SO_REUSEPORT group, whose member the kernel picks) */
	if (!sk) {
		tuple.ipv4.saddr = ip->saddr;
		tuple.ipv4.sport = tcp->source;
		tuple.ipv4.daddr = ip->daddr;
		tuple.ipv4.dport = bpf_htons(cfg->router_port);
		skc = bpf_skc_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
		if (!skc) {
			count(AZDS_R_ROUTER_DOWN);
			ev.type = AZDS_EV_ROUTER_DOWN;
			emit(cfg, &ev);
			return TC_ACT_OK;
		}
		/* one pointer type on both paths for the verifier; a listener
		 * is a full socket (a request or time-wait socket is not) */
		sk = bpf_sk_fullsock(skc);
		if (!sk) {
			bpf_sk_release(skc);
			count(AZDS_R_NOT_LISTENER);
			return TC_ACT_OK;
		}
	}
	if (sk->state != BPF_TCP_LISTEN) {
		/* a connection owns that tuple, not the listener: do not hijack
		 * it (the SYN goes on to the stack, which resets it) */
		bpf_sk_release(sk);
		count(AZDS_R_NOT_LISTENER);
		return TC_ACT_OK;
	}
	err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		count(AZDS_R_ASSIGN_FAILED);
		return TC_ACT_OK;
	}
	count(AZDS_R_STEERED);
	ev.type = AZDS_EV_STEERED;
	emit(cfg, &ev);
	return TC_ACT_OK;

not_tcp:
	count(AZDS_R_NOT_IPV4_TCP);
	return TC_ACT_OK;
}

/*
 * The pod of the calling process: the pod whose cgroup it is in, or whose
 * cgroup is an ancestor of its cgroup (a process in a child cgroup of the
 * pod: systemd units, a build step, a container runtime's scope).
 */
static __always_inline __be32 *caller_pod(void)
{
	__u64 self = bpf_get_current_cgroup_id(), id;
	__be32 *addr = bpf_map_lookup_elem(&pod_cgroups, &self);

	if (addr)
		return addr;
	/* from the root down; ancestor ids past the current level are 0 */
	for (int level = 1; level < AZDS_CGROUP_LEVELS_MAX; level++) {
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (id == 0 || id == self)
			break;
		addr = bpf_map_lookup_elem(&pod_cgroups, &id);
		if (addr)
			return addr;
	}
	return NULL;
}

/*
 * connect() of a pod to the IPv4 service address vaddr:vport (network
 * order): the backend to use instead, in *new_addr / *new_port, or 0 to
 * leave the connect alone. One path for connect4 and connect6 (IPv4-mapped
 * destinations), so both count and publish the same way.
 */
static __always_inline int lb_pick(__be32 vaddr, __be16 vport, __be32 *new_addr, __be16 *new_port)
{
	struct azds_event ev = {};
	struct azds_vip_key vk = {};
	struct azds_backends *be;
	struct azds_config *cfg;
	struct azds_pod *pod;
	struct azds_vip *vip;
	__u32 target_space = 0, n, idx;
	__be32 *addr;

	addr = caller_pod();
	if (!addr)
		return 0;
	pod = bpf_map_lookup_elem(&pods, addr);
	if (!pod)
		return 0;
	vk.addr = vaddr;
	vk.port = vport;
	vip = bpf_map_lookup_elem(&vips, &vk);
	if (!vip)
		return 0;
	cfg = get_config();
	if (!cfg)
		return 0;
	if (vip->kind != AZDS_KIND_TCP) {
		count(AZDS_R_LB_HTTP_PASS);
		return 0;
	}
	if (!(cfg->flags & AZDS_CFG_KERNEL_LB))
		return 0;

	ev.space = pod->space;
	ev.svc = vip->svc;
	ev.src = *addr;
	ev.dst = vk.addr;
	ev.dport = vk.port;
	be = nearest_backends(pod->space, vip->svc, cfg->max_depth, &target_space);
	if (!be) {
		/* leave the virtual address: the node answers with a reset */
		count(AZDS_R_LB_NO_BACKEND);
		ev.type = AZDS_EV_NO_BACKEND;
		emit(cfg, &ev);
		return 0;
	}
	/* read once: the entry may be replaced while we look at it */
	n = READ_ONCE_U32(be->count);
	if (n == 0)
		return 0;
	if (n > AZDS_MAX_BACKENDS)
		n = AZDS_MAX_BACKENDS;
	idx = bpf_get_prandom_u32() % n;
	/* the compiler knows idx < 32 and would drop a plain check; the
	 * verifier does not, so bound it in a way the compiler keeps */
	asm volatile("%0 &= 31" : "+r"(idx));
	*new_addr = be->addrs[idx];
	*new_port = bpf_htons(be->target_port);
	count(AZDS_R_LB_BALANCED);
	ev.type = AZDS_EV_BALANCED;
	ev.target_space = target_space;
	ev.new_dst = *new_addr;
	ev.new_dport = *new_port;
	emit(cfg, &ev);
	return 1;
}

SEC("cgroup/connect4")
int azds_connect4(struct bpf_sock_addr *ctx)
{
	__be32 addr;
	__be16 port;

	if (ctx->type != SOCK_STREAM || ctx->family != AF_INET)
		return 1;
	if (lb_pick(ctx->user_ip4, (__be16)ctx->user_port, &addr, &port)) {
		ctx->user_ip4 = addr;
		ctx->user_port = port;
	}
	return 1;
}

/*
 * An IPv6 socket connecting to an IPv4-mapped address (::ffff:10.96.x.y,
 * Java's default and often Node's) is an IPv4 connection on the wire, and
 * connect4 does not run for it: balance it here the same way, rewriting to
 * ::ffff:<backend>. Native IPv6 destinations pass untouched; an HTTP
 * service is left for TC, which sees the IPv4 SYN.
 */
SEC("cgroup/connect6")
int azds_connect6(struct bpf_sock_addr *ctx)
{
	__be32 addr;
	__be16 port;

	if (ctx->type != SOCK_STREAM || ctx->family != AF_INET6)
		return 1;
	if (ctx->user_ip6[0] != 0 || ctx->user_ip6[1] != 0 || ctx->user_ip6[2] != bpf_htonl(0xffff))
		return 1;
	if (lb_pick(ctx->user_ip6[3], (__be16)ctx->user_port, &addr, &port)) {
		ctx->user_ip6[3] = addr;
		ctx->user_port = port;
	}
	return 1;
}

static __always_inline bool node_side(__be32 addr)
{
	__u32 a = bpf_ntohl(addr);

	return (a & AZDS_VIP_MASK) == AZDS_VIP_PREFIX || a == AZDS_GW_IP;
}

/*
 * The pod a socket belongs to: the pod whose cgroup is the socket's, or an
 * ancestor of it (the cgroup of the process that made the socket; an
 * accepted socket has its listener's). 0 for a socket of no pod (the
 * router's), -1 when it cannot be told. A process cannot choose the cgroup
 * of its sockets, while inside its own network namespace a pod can give a
 * socket any address and port: this is what sock_hash trusts.
 */
static __always_inline __s64 sock_pod(struct bpf_sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	struct cgroup_subsys_state *css;
	struct cgroup *cg;
	__be32 *addr;
	__u64 id;

	if (!tp)
		return -1;
	cg = tp->inet_conn.icsk_inet.sk.sk_cgrp_data.cgroup;
	for (int i = 0; i < AZDS_CGROUP_LEVELS_MAX; i++) {
		if (!cg)
			break;
		id = cg->kn->id;
		addr = bpf_map_lookup_elem(&pod_cgroups, &id);
		if (addr)
			return *addr;
		css = cg->self.parent;
		if (!css)
			break;
		cg = css->cgroup;
	}
	return cg ? 0 : -1;
}

/*
 * May this established socket enter sock_hash? Only the two ends of the
 * router's paths, each checked against who owns it, because a message is
 * redirected to whatever socket holds the reverse tuple:
 *   - the router's end (local address a service's or the node's): the
 *     socket must belong to no pod;
 *   - a pod's end (remote address a service's or the node's): the socket
 *     must belong to the pod whose address is its local address.
 * A pod that forges, in its own namespace, the tuple of a router <-> backend
 * flow (or of another pod's connection) fails both checks.
 */
static __always_inline bool sock_admitted(struct bpf_sock_ops *ctx, __be32 local, __be32 remote)
{
	struct bpf_sock *sk = ctx->sk;
	__s64 owner;

	if (!sk)
		return false;
	owner = sock_pod(sk);
	if (node_side(local))
		return owner == 0;
	return owner > 0 && (__be32)owner == local;
}

/*
 * An admitted socket closes: its sock_ptrs entry goes (only if it is still
 * this socket's), so the LRU never has to evict live entries to make room.
 */
static __always_inline void sock_closed(struct bpf_sock_ops *ctx)
{
	struct azds_sock_key key = {};
	struct azds_sock_ptr *pp;

	if (ctx->args[1] != BPF_TCP_CLOSE || ctx->family != AF_INET)
		return;
	key.local_ip = ctx->local_ip4;
	key.remote_ip = ctx->remote_ip4;
	key.local_port = ctx->local_port;
	key.remote_port = bpf_ntohl(ctx->remote_port);
	pp = bpf_map_lookup_elem(&sock_ptrs, &key);
	if (pp && pp->sk == (__u64)ctx->sk)
		bpf_map_delete_elem(&sock_ptrs, &key);
}

/*
 * A flow goes stack-only. Not atomic: AZDS_SP_STACK is the only flag and
 * every writer sets it, so no update is lost.
 */
static __always_inline void set_stack(struct azds_sock_ptr *pp)
{
	if (!(READ_ONCE_U32(pp->flags) & AZDS_SP_STACK))
		*(volatile __u32 *)&pp->flags = READ_ONCE_U32(pp->flags) | AZDS_SP_STACK;
}

/* the other end's key of the flow whose one end is k */
static __always_inline void reverse_key(struct azds_sock_key *r, const struct azds_sock_key *k)
{
	r->local_ip = k->remote_ip;
	r->remote_ip = k->local_ip;
	r->local_port = k->remote_port;
	r->remote_port = k->local_port;
}

/* has the router marked this pod end's flow stack-only (on its own end)? */
static __always_inline bool peer_stack(const struct azds_sock_key *key)
{
	struct azds_sock_key r = {};
	struct azds_sock_ptr *pp;

	reverse_key(&r, key);
	pp = bpf_map_lookup_elem(&sock_ptrs, &r);

	return pp && (READ_ONCE_U32(pp->flags) & AZDS_SP_STACK);
}

/*
 * An admitted socket enters its maps: a pod's end sock_hash (its sends run
 * azds_msg_redirect), the router's end router_rx (a redirect target) and,
 * with sockmap-pods on, router_tx (its sends run azds_msg_router). Its
 * sock_ptrs entry comes first and goes again if the socket map is full.
 */
static __always_inline void admit(struct bpf_sock_ops *ctx, struct azds_sock_key *key, bool router_end, bool pods)
{
	struct azds_sock_ptr v = { .tx = router_end && pods };

	v.sk = (__u64)ctx->sk;
	/* a pod known to splice, or a flow the router made stack-only before
	 * this end was admitted: its socket never gets redirected bytes */
	if (!router_end && (bpf_map_lookup_elem(&splice_pods, &key->local_ip) || peer_stack(key)))
		v.flags = AZDS_SP_STACK;
	if (bpf_map_update_elem(&sock_ptrs, key, &v, BPF_ANY))
		return;
	/* to drop the sock_ptrs entry when it closes */
	bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	if (bpf_sock_hash_update(ctx, router_end ? (void *)&router_rx : (void *)&sock_hash, key, BPF_NOEXIST)) {
		bpf_map_delete_elem(&sock_ptrs, key);
		return;
	}
	/* the router may have marked the flow between the look above and the
	 * write: looked at again, so no mark is lost (azds_peer_queue marks
	 * the router's end before it looks for this one) */
	if (!router_end && !v.flags && peer_stack(key)) {
		struct azds_sock_ptr *e = bpf_map_lookup_elem(&sock_ptrs, key);

		if (e)
			set_stack(e);
	}
	if (router_end && pods && bpf_sock_hash_update(ctx, &router_tx, key, BPF_NOEXIST)) {
		/* not in router_tx: its sends never redirect, say so */
		struct azds_sock_ptr *e = bpf_map_lookup_elem(&sock_ptrs, key);

		if (e)
			e->tx = 0;
	}
	count(AZDS_R_SOCK_ADDED);
}

SEC("sockops")
int azds_sockops(struct bpf_sock_ops *ctx)
{
	struct azds_sock_key key = {};
	struct azds_event ev = {};
	struct azds_config *cfg;
	struct azds_pod *pod;
	__be32 local, remote;

	if (ctx->op == BPF_SOCK_OPS_STATE_CB) {
		sock_closed(ctx);
		return 1;
	}
	if (ctx->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && ctx->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	cfg = get_config();
	if (!cfg)
		return 1;
	local = ctx->local_ip4;
	remote = ctx->remote_ip4;
	/* an IPv6 socket connected to an IPv4-mapped address is IPv4 on the
	 * wire (its *_ip4 fields hold the addresses): it publishes the same
	 * event; it stays out of sock_hash, whose sk_msg handles AF_INET only */
	if (ctx->family == AF_INET6 && ctx->remote_ip6[0] == 0 && ctx->remote_ip6[1] == 0 &&
	    ctx->remote_ip6[2] == bpf_htonl(0xffff))
		goto event;
	if (ctx->family != AF_INET)
		return 1;
	/* only the router's paths: pod <-> router (one end a service address)
	 * and router <-> backend (one end the node address); pod-to-pod TCP
	 * streams run faster through the stack (see docs/performance.md) */
	if ((cfg->flags & AZDS_CFG_SOCKMAP) && (node_side(local) || node_side(remote))) {
		if (!sock_admitted(ctx, local, remote)) {
			count(AZDS_R_SOCK_REFUSED);
		} else {
			/* remote_port holds the network-order port in its upper half */
			key.local_ip = local;
			key.remote_ip = remote;
			key.local_port = ctx->local_port;
			key.remote_port = bpf_ntohl(ctx->remote_port);
			admit(ctx, &key, node_side(local), cfg->flags & AZDS_CFG_SOCKMAP_PODS);
		}
	}
event:
	if (ctx->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	pod = bpf_map_lookup_elem(&pods, &local);
	if (!pod)
		return 1;
	ev.type = AZDS_EV_ESTABLISHED;
	ev.space = pod->space;
	ev.src = local;
	ev.dst = remote;
	ev.dport = (__be16)(ctx->remote_port >> 16);
	emit(cfg, &ev);
	return 1;
}

/*
 * What the socket's queue of redirected messages (psock ingress_msg) holds:
 * RX_EMPTY (or no psock left), RX_SOME, RX_FULL (more than bound bytes, or
 * more than RX_WALK messages), RX_UNKNOWN (unreadable). Probe reads of a
 * socket that may be gone or changing; see may_redirect for why the answer
 * is reliable where it matters.
 */
#define SK_USER_DATA_FLAGS 7ul /* low bits of sk_user_data tag the psock pointer */
#define RX_WALK 32	       /* messages counted at most; more is "full" */
enum { RX_EMPTY, RX_SOME, RX_FULL, RX_UNKNOWN };

/*
 * The head of a socket's redirected queue (psock ingress_msg) and its first
 * entry: -1 unreadable, 0 empty (or no psock left), 1 something queued.
 */
static __always_inline int psock_queue(struct sock *sk, struct list_head **head, struct list_head **next)
{
	struct sk_psock *ps;
	unsigned long ud;

	if (bpf_core_read(&ud, sizeof(ud), &sk->sk_user_data))
		return -1;
	ps = (struct sk_psock *)(ud & ~SK_USER_DATA_FLAGS);
	if (!ps)
		return 0;
	*head = &ps->ingress_msg;
	if (bpf_core_read(next, sizeof(*next), &(*head)->next))
		return -1;
	return *next != *head;
}

static __always_inline int psock_ingress(struct sock *sk, __u32 bound)
{
	__u32 off = bpf_core_field_offset(struct sk_msg, list);
	struct list_head *head, *next;
	__u64 sum = 0;
	int rc;

	rc = psock_queue(sk, &head, &next);
	if (rc <= 0)
		return rc < 0 ? RX_UNKNOWN : RX_EMPTY;
	for (int i = 0; i < RX_WALK; i++) {
		struct sk_msg *m = (struct sk_msg *)((char *)next - off);
		__u32 size;

		if (bpf_core_read(&size, sizeof(size), &m->sg.size) ||
		    bpf_core_read(&next, sizeof(next), &m->list.next))
			return RX_UNKNOWN;
		sum += size;
		if (sum > bound)
			return RX_FULL;
		if (next == head)
			return RX_SOME;
	}
	return RX_FULL;
}

/* the key of the other end of a message's flow: its reverse tuple */
static __always_inline void msg_peer_key(const struct sk_msg_md *msg, struct azds_sock_key *peer)
{
	peer->local_ip = msg->remote_ip4;
	peer->remote_ip = msg->local_ip4;
	peer->local_port = bpf_ntohl(msg->remote_port);
	peer->remote_port = msg->local_port;
}

/*
 * The rule: a router socket may hold unread bytes of a flow in both its
 * queues, redirected messages (ingress_msg) and the ordinary receive queue,
 * only with every redirected byte older than every stack byte.
 * tcp_bpf_recvmsg serves ingress_msg while it has anything and the receive
 * queue once it is empty, so a reader that reads until EAGAIN (the router;
 * the only socket ever redirected to) then gets the bytes in order. A
 * reader that stops at a short read would not: that is why nothing is ever
 * redirected toward a pod.
 *   - Stack bytes of this flow are unacknowledged, or acknowledged and
 *     unread (the peer's receive queue is not empty): through the stack,
 *     so no redirected byte overtakes them.
 *   - Otherwise, redirected bytes unread past the bound (the peer's
 *     receive buffer): through the stack, where the TCP window stops the
 *     writer as it would with sockmap off. The flow redirects again only
 *     once those stack bytes are acknowledged and read (the first rule).
 *   - Otherwise, redirected bytes unread: redirect, even with the switch
 *     off (a message queues behind them at no cost).
 *   - Otherwise redirect when the switch is on.
 * The reads are sound where it matters: only this socket's sends fill the
 * peer's ingress_msg and advance write_seq, under this socket's lock, and
 * the peer only ever empties its queues. A stale "not empty" receive queue
 * or "full" ingress sends through the stack, which is always in order; a
 * stale "some" rather than "full" only lets the queue pass the bound by one
 * message.
 */
static __always_inline bool may_redirect(struct bpf_sock *me, const struct azds_sock_key *peer, bool on)
{
	struct tcp_sock *mt = bpf_skc_to_tcp_sock(me);
	struct azds_sock_ptr *pp = bpf_map_lookup_elem(&sock_ptrs, peer);
	struct sock *psk;
	__u32 qlen;
	int bound, rx;

	if (!mt || !pp || !pp->sk)
		return false;
	psk = (struct sock *)pp->sk;
	if (mt->snd_una != mt->write_seq)
		return false;
	if (bpf_core_read(&qlen, sizeof(qlen), &psk->sk_receive_queue.qlen) || qlen)
		return false;
	if (bpf_core_read(&bound, sizeof(bound), &psk->sk_rcvbuf) || bound <= 0)
		return false;
	rx = psock_ingress(psk, (__u32)bound);
	if (rx == RX_SOME)
		return true;
	return rx == RX_EMPTY && on;
}

/*
 * A pod's sockets in sock_hash: a message goes straight to the router's
 * socket of the flow (the reverse tuple, in router_rx) when may_redirect
 * says so; otherwise through the TCP stack as usual. With the switch off,
 * only a flow whose redirected bytes are still unread keeps redirecting.
 */
SEC("sk_msg")
int azds_msg_redirect(struct sk_msg_md *msg)
{
	struct azds_sock_key peer = {};
	struct azds_config *cfg = get_config();
	struct bpf_sock *me = msg->sk;

	if (!cfg || msg->family != AF_INET || !me)
		return SK_PASS;
	msg_peer_key(msg, &peer);
	if (!may_redirect(me, &peer, cfg->flags & AZDS_CFG_SOCKMAP)) {
		count(AZDS_R_MSG_PASSED);
		return SK_PASS;
	}
	/* the verdict is SK_PASS either way: a miss must not drop data */
	if (bpf_msg_redirect_hash(msg, &router_rx, &peer, BPF_F_INGRESS) == SK_PASS)
		count(AZDS_R_MSG_REDIRECTED);
	return SK_PASS;
}

/*
 * The router's send toward a pod: the same order rule as may_redirect, from
 * the other side, with the bound left to the router.
 *   - The pod's redirected queue holds something: redirect, whatever the
 *     switch or the size, so no stack byte queues behind a redirected one
 *     (a reader that stops at a short read would never read it). The
 *     router keeps that queue within AZDS_POD_RX_BYTES/AZDS_POD_RX_MSGS.
 *   - The flow is stack-only (AZDS_SP_STACK: a tunnel, a splicing pod):
 *     through the stack.
 *   - Stack bytes of this flow are unacknowledged, or acknowledged and
 *     unread: through the stack.
 *   - Otherwise redirect when the switch is on and the message is small;
 *     bulk goes through the stack, where the TCP window bounds it.
 * The reads are sound for the reasons may_redirect gives: only this
 * socket's sends fill the pod socket's queues, under this socket's lock.
 */
static __always_inline bool may_redirect_to_pod(struct bpf_sock *me, const struct azds_sock_key *peer, bool on,
						__u32 size)
{
	struct tcp_sock *mt = bpf_skc_to_tcp_sock(me);
	struct azds_sock_ptr *pp = bpf_map_lookup_elem(&sock_ptrs, peer);
	struct list_head *head, *next;
	struct sock *psk;
	__u32 qlen;
	int rx;

	if (!mt || !pp || !pp->sk)
		return false;
	psk = (struct sock *)pp->sk;
	rx = psock_queue(psk, &head, &next);
	if (rx != 0)
		return rx > 0;
	if (READ_ONCE_U32(pp->flags) & AZDS_SP_STACK)
		return false;
	if (mt->snd_una != mt->write_seq)
		return false;
	if (bpf_core_read(&qlen, sizeof(qlen), &psk->sk_receive_queue.qlen) || qlen)
		return false;
	return on && size <= AZDS_POD_RX_SMALL;
}

/* toward pods only with sockmap, sockmap-pods and the splice guard attached */
#define POD_FLAGS (AZDS_CFG_SOCKMAP | AZDS_CFG_SOCKMAP_PODS | AZDS_CFG_SPLICE_GUARD)

SEC("sk_msg")
int azds_msg_router(struct sk_msg_md *msg)
{
	struct azds_sock_key peer = {};
	struct azds_config *cfg = get_config();
	struct bpf_sock *me = msg->sk;

	if (!cfg || msg->family != AF_INET || !me)
		return SK_PASS;
	msg_peer_key(msg, &peer);
	if (!may_redirect_to_pod(me, &peer, (cfg->flags & POD_FLAGS) == POD_FLAGS, msg->size)) {
		count(AZDS_R_MSG_TO_POD_PASSED);
		return SK_PASS;
	}
	/* the verdict is SK_PASS either way: a miss must not drop data */
	if (bpf_msg_redirect_hash(msg, &sock_hash, &peer, BPF_F_INGRESS) == SK_PASS)
		count(AZDS_R_MSG_TO_POD);
	return SK_PASS;
}

/*
 * azds_peer_queue (BPF_PROG_RUN from the router): what the pod socket with
 * the given key holds in its redirected queue, walked up to
 * AZDS_POD_RX_MSGS + 1 messages, and with q->stack set makes the flow
 * stack-only first. Probe reads of a socket that may be closing: a stale
 * answer errs only while the flow is ending.
 */
SEC("syscall")
int azds_peer_queue(struct azds_peer_q *q)
{
	__u32 off = bpf_core_field_offset(struct sk_msg, list);
	struct azds_sock_key key = {};
	struct list_head *head, *next;
	struct sock *psk;
	struct azds_sock_ptr *pp;
	int rc;
	__u64 sum = 0;
	__u32 n = 0;

	q->redirects = 0;
	q->bytes = 0;
	q->msgs = 0;
	/* the router's end first: does it run azds_msg_router at all? */
	reverse_key(&key, &q->key);
	pp = bpf_map_lookup_elem(&sock_ptrs, &key);
	if (!pp || !pp->tx) {
		q->stack = 0;
		return 0;
	}
	q->redirects = 1;
	/* a pod end admitted from now on inherits the mark (admit) */
	if (q->stack)
		set_stack(pp);
	key.local_ip = q->key.local_ip;
	key.remote_ip = q->key.remote_ip;
	key.local_port = q->key.local_port;
	key.remote_port = q->key.remote_port;
	pp = bpf_map_lookup_elem(&sock_ptrs, &key);
	if (!pp || !pp->sk)
		return 0; /* not mapped (yet): never redirected to, so empty; q->stack
			   * stays as asked, the pod end inheriting it when admitted */
	if (q->stack)
		set_stack(pp);
	q->stack = !!(READ_ONCE_U32(pp->flags) & AZDS_SP_STACK);
	psk = (struct sock *)pp->sk;
	rc = psock_queue(psk, &head, &next);
	if (rc < 0)
		goto full;
	if (rc == 0)
		return 0;
	for (__u32 i = 0; i <= AZDS_POD_RX_MSGS; i++) {
		struct sk_msg *m = (struct sk_msg *)((char *)next - off);
		__u32 size;

		if (next == head)
			break;
		if (bpf_core_read(&size, sizeof(size), &m->sg.size) ||
		    bpf_core_read(&next, sizeof(next), &m->list.next))
			goto full;
		sum += size;
		n++;
	}
	q->bytes = sum > AZDS_POD_RX_BYTES ? AZDS_POD_RX_BYTES : (__u32)sum;
	q->msgs = n;
	return 0;
full:
	/* unreadable: as if full, so the router waits and asks again */
	q->bytes = AZDS_POD_RX_BYTES;
	q->msgs = AZDS_POD_RX_MSGS + 1;
	return 0;
}

/*
 * The splice guard. A pod socket's redirected queue is served only by
 * read/recv (tcp_bpf_recvmsg); splice() and TCP_ZEROCOPY_RECEIVE read the
 * receive queue alone and would never see those bytes. So a pod that calls
 * either on a socket makes that socket's flow stack-only (its queue still
 * drains through read, or the bytes already there are the reader's to
 * fetch with read), and every socket it makes from then on is admitted
 * stack-only (splice_pods).
 *
 * Two ways in, the loader's choice (dataplane.c, attach_guard):
 *   - fentry on tcp_splice_read and tcp_getsockopt, where the kernel takes
 *     trampolines: they run only for those calls, with the socket at hand;
 *   - else syscall tracepoints on splice and getsockopt, which every
 *     kernel we run allows, but which put every task of the node on the
 *     slow system-call path while attached (about 55 ns a call on this
 *     project's machine, docs/performance.md).
 */
static __always_inline void stack_reader_sk(struct sock *sk)
{
	struct azds_sock_key key = {};
	struct azds_sock_ptr *pp;
	__be32 *pod;
	__u16 family;
	__u64 now;

	pod = caller_pod();
	if (!pod || !sk)
		return; /* no pod's process: nothing to guard */
	if (bpf_core_read(&family, sizeof(family), &sk->__sk_common.skc_family) ||
	    (family != AF_INET && family != AF_INET6))
		return; /* not a socket read: a file or a pipe */
	/* a reader of sockets with splice: its later sockets are stack-only */
	now = bpf_ktime_get_ns();
	/* looked up first: a failing update of an LRU map still takes a node
	 * and a lock, and only a lookup keeps a pod that splices all the
	 * time from ageing out */
	if (!bpf_map_lookup_elem(&splice_pods, pod) && !bpf_map_update_elem(&splice_pods, pod, &now, BPF_NOEXIST))
		count(AZDS_R_SPLICE_SEEN);
	if (family != AF_INET)
		return; /* sock_hash holds IPv4 sockets only */
	key.local_ip = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	key.remote_ip = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	key.local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	key.remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	pp = bpf_map_lookup_elem(&sock_ptrs, &key);
	if (pp && pp->sk == (__u64)sk)
		set_stack(pp);
}

/* the syscall tracepoints' way: the socket behind the call's descriptor */
static __always_inline void stack_reader(int fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct file **fds, *f = NULL;
	struct socket *so = NULL;
	struct sock *sk = NULL;
	unsigned int max;

	if (fd < 0 || !caller_pod())
		return; /* no pod's process: nothing to guard (and no fd walk) */
	max = BPF_CORE_READ(t, files, fdt, max_fds);
	if ((unsigned int)fd >= max)
		return;
	fds = BPF_CORE_READ(t, files, fdt, fd);
	if (bpf_core_read(&f, sizeof(f), &fds[fd]) || !f)
		return;
	/* a socket's file points at its struct socket; anything else fails
	 * the family check in stack_reader_sk */
	if (bpf_core_read(&so, sizeof(so), &f->private_data) || !so)
		return;
	if (bpf_core_read(&sk, sizeof(sk), &so->sk) || !sk)
		return;
	stack_reader_sk(sk);
}

SEC("tracepoint/syscalls/sys_enter_splice")
int azds_splice_guard(struct trace_event_raw_sys_enter *ctx)
{
	stack_reader((int)ctx->args[0]); /* fd_in */
	return 0;
}

#define SOL_TCP 6
#define TCP_ZEROCOPY_RECEIVE 35

SEC("tracepoint/syscalls/sys_enter_getsockopt")
int azds_zerocopy_guard(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[1] == SOL_TCP && ctx->args[2] == TCP_ZEROCOPY_RECEIVE)
		stack_reader((int)ctx->args[0]);
	return 0;
}

/* the fentry way ('?': loaded only where the loader found trampolines
 * work). Every TCP splice read (the syscall, io_uring, any path) enters
 * tcp_splice_read, an empty receive queue included; TCP_ZEROCOPY_RECEIVE
 * enters tcp_getsockopt, sockmap's sockets included (tcp_bpf keeps it) */
SEC("?fentry/tcp_splice_read")
int BPF_PROG(azds_splice_fentry, struct socket *sock)
{
	stack_reader_sk(BPF_CORE_READ(sock, sk));
	return 0;
}

SEC("?fentry/tcp_getsockopt")
int BPF_PROG(azds_zerocopy_fentry, struct sock *sk, int level, int optname)
{
	if (level == SOL_TCP && optname == TCP_ZEROCOPY_RECEIVE)
		stack_reader_sk(sk);
	return 0;
}
