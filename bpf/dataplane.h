/* SPDX-License-Identifier: MIT */
/*
 * Structs and constants shared by the azds BPF programs (dataplane.bpf.c)
 * and userspace (controller, init, router, tests). One definition compiled
 * on both sides; layouts are pinned with static asserts at the bottom.
 * docs/maps.md documents every map and field.
 */
#ifndef AZDS_DATAPLANE_H
#define AZDS_DATAPLANE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AZDS_NAME_MAX 64        /* one path component or service name (a DNS label, 1-63), with NUL */
#define AZDS_PATH_MAX 256       /* a whole space path "dev/alice/x" (at most 255), with NUL */
#define AZDS_DEPTH_HARD_MAX 16  /* bound of every chain walk (BPF loop bound) */
#define AZDS_DEPTH_DEFAULT 8    /* default configured maximum chain depth */
#define AZDS_MAX_BACKENDS 32    /* backend pods per (space, service) */
#define AZDS_MAX_WORKERS 1024   /* router listeners TC can pick from (router_socks) */
#define AZDS_CGROUP_LEVELS_MAX 32 /* cgroup levels walked to find a caller's pod */

#define AZDS_SPACE_NONE 0u      /* space id 0: "no parent" */

/* addressing of the embedded node (host order; azds.h has the text forms) */
#define AZDS_VIP_PREFIX 0x0a600000u /* 10.96.0.0/16: services' virtual addresses */
#define AZDS_VIP_MASK 0xffff0000u
#define AZDS_GW_IP 0xa9fe0101u      /* 169.254.1.1: node gateway, DNS, router's source */

/* service kinds */
#define AZDS_KIND_HTTP 1u
#define AZDS_KIND_TCP 2u

/* pod flags */
#define AZDS_POD_MANAGED 0x1u

/* runtime switches, in struct azds_config.flags */
#define AZDS_CFG_KERNEL_LB 0x1u  /* balance plain-TCP services in connect4 */
#define AZDS_CFG_STEER 0x2u      /* steer HTTP services into the router */
#define AZDS_CFG_EVENTS 0x4u     /* publish connection events */
#define AZDS_CFG_SOCKMAP 0x8u    /* sk_msg redirection between local sockets */
#define AZDS_CFG_TRACE 0x10u     /* HTTP trace capture (trace.bpf.c; the controller attaches it) */
#define AZDS_CFG_SOCKMAP_PODS 0x20u /* with SOCKMAP: the router's sends to pods redirected too (on by default) */
#define AZDS_CFG_SPLICE_GUARD 0x40u /* set by the loader alone: the splice guard is attached; SOCKMAP_PODS needs it */
#define AZDS_CFG_GUARD_FENTRY 0x80u /* set by the loader alone: the guard is on fentry, not on syscall tracepoints */

/* default map sizes (overridden at load time) */
#define AZDS_DEF_MAX_SPACES 4096
#define AZDS_DEF_MAX_PODS 16384
#define AZDS_DEF_MAX_SERVICES 65536
#define AZDS_DEF_MAX_VIPS 16384
#define AZDS_DEF_RINGBUF_BYTES (256 * 1024)
#define AZDS_DEF_MAX_SOCKS 65536

/* spaces: key __u32 space id (>0) */
struct azds_space {
	__u32 parent; /* AZDS_SPACE_NONE for a root space */
	__u32 depth;  /* 0 for a root space */
	char path[AZDS_PATH_MAX];
};

/* space_ids: key char[AZDS_PATH_MAX] path (NUL padded) -> __u32 id */

/* pods: key __be32 pod address */
struct azds_pod {
	__u32 space;
	__u32 flags;
	__u64 cgroup_id; /* cgroup v2 id of the pod's cgroup, 0 if none */
	char name[AZDS_NAME_MAX];
};

/* pod_cgroups: key __u64 cgroup id -> __be32 pod address */

/* vips: key struct azds_vip_key -> struct azds_vip */
struct azds_vip_key {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct azds_vip {
	__u32 svc;  /* service id: one per service name, shared by all spaces */
	__u32 kind; /* AZDS_KIND_* */
	char name[AZDS_NAME_MAX];
};

/* services: key struct azds_svc_key -> struct azds_service */
struct azds_svc_key {
	__u32 space;
	__u32 svc;
};

struct azds_service {
	__be32 addr;  /* the service's virtual address (same in every space) */
	__u16 port;   /* virtual port, host order */
	__u16 target_port; /* port on the backend pods, host order */
	__u32 kind;
	__u32 pad;
	char name[AZDS_NAME_MAX];
};

/* backends: key struct azds_svc_key -> struct azds_backends */
struct azds_backends {
	__u32 count;
	__u16 target_port; /* host order */
	__u16 pad;
	__be32 addrs[AZDS_MAX_BACKENDS];
};

/*
 * sock_hash and router_rx: key struct azds_sock_key -> socket. Established
 * IPv4 sockets of the router's paths while the sockmap switch is on: the
 * pods' ends in sock_hash (their sends run sk_msg), the router's ends in
 * router_rx. A message a pod sends may go straight into the receive queue
 * of the router's socket whose key is the reverse tuple.
 */
struct azds_sock_key {
	__be32 local_ip;
	__be32 remote_ip;
	__u32 local_port;  /* host order */
	__u32 remote_port; /* host order */
};

/*
 * The router's sends toward a pod (sockets admitted while sockmap-pods is
 * on also enter router_tx, which carries azds_msg_router): a
 * message goes into the pod socket's redirected queue only while no stack
 * byte of the flow is pending, and then every later one too until that
 * queue is empty again, so a pod reader that stops at a short read never
 * misses bytes. Nothing in the kernel can bound that queue without breaking
 * the order, so the router bounds it: it sends at most AZDS_POD_RX_BYTES
 * bytes and AZDS_POD_RX_MSGS messages beyond what it knows the pod has read,
 * and learns what the pod holds by running azds_peer_queue (a syscall
 * program, BPF_PROG_RUN) with the pod socket's key. Messages larger than
 * AZDS_POD_RX_SMALL go through the stack when the queue is empty (bulk is
 * faster there, and the TCP window bounds it).
 */
#define AZDS_POD_RX_BYTES 65536u
#define AZDS_POD_RX_MSGS 32u
#define AZDS_POD_RX_SMALL 16384u

struct azds_peer_q {
	struct azds_sock_key key; /* in: the pod socket's tuple (its local = the pod) */
	__u32 redirects;          /* out: 1 if the router's socket of the flow runs azds_msg_router */
	__u32 bytes;              /* out: redirected bytes it has not read (of the messages walked) */
	__u32 msgs;               /* out: its unread messages; AZDS_POD_RX_MSGS + 1 means at least that */
	__u32 stack;              /* in: 1 makes the flow stack-only (AZDS_SP_STACK) from now on;
				   * out: 1 if the pod socket is mapped and stack-only */
};

/*
 * sock_ptrs flags (the value's flags word, set by the kernel side only):
 * AZDS_SP_STACK, the router's sends toward this pod socket go through the
 * TCP stack once its redirected queue is empty, never into it again. Set
 * for a flow the router tunnels (a non-HTTP stream, an upgrade: its reader
 * may splice), for a socket its pod reads with splice() or
 * TCP_ZEROCOPY_RECEIVE (neither sees a redirected queue), and at admission
 * for every socket of a pod seen doing so (splice_pods).
 */
#define AZDS_SP_STACK 0x1u

/* sock_ptrs' value (dataplane.bpf.c says what the map is for) */
struct azds_sock_ptr {
	__u64 sk;    /* the socket's address, for probe reads of its queues */
	__u32 tx;    /* a router socket in router_tx: its sends run azds_msg_router */
	__u32 flags; /* AZDS_SP_*: a pod socket's; on the router's end, a mark its pod end inherits */
};

/*
 * router_socks: key __u32 worker index -> the router worker's listening
 * socket (sockmap). Filled by the router (azds_dp_listeners_set) together
 * with azds_config.router_workers; a closed socket leaves the map by itself.
 */

/*
 * router_spread: array with one element, mmapable, written by the router
 * alone: TC gives new connections to the first `active` of the
 * router_workers listeners (0, or not below router_workers: to all). The
 * router packs new connections onto few loops while one keeps up and
 * opens more only while a loop is busy and the node has a CPU to spare
 * (docs/architecture.md, "Event loops").
 */
struct azds_spread {
	__u32 active;
	__u32 pad;
};

/* config: array with one element */
struct azds_config {
	__u32 flags;       /* AZDS_CFG_* */
	__u32 max_depth;   /* chain walk limit, <= AZDS_DEPTH_HARD_MAX */
	__u16 router_port; /* transparent listener port, host order */
	__u16 pad;
	__u32 router_workers; /* listeners in router_socks[0..n): TC picks one by flow hash; 0 = look up router_port */
};

/*
 * Verdicts and reasons: one table shared by BPF counters (stats map,
 * per-CPU array indexed by reason), the CLI and the docs.
 */
#define AZDS_REASONS(X)                                                   \
	X(AZDS_R_NOT_IPV4_TCP, "not_ipv4_tcp", "not IPv4 TCP, passed")        \
	X(AZDS_R_NOT_POD, "not_pod", "SYN from a source that is not a managed pod, passed") \
	X(AZDS_R_NOT_SERVICE, "not_service", "SYN to a destination that is not a service, passed") \
	X(AZDS_R_STEERED, "steered", "SYN assigned to the router listener")  \
	X(AZDS_R_ROUTER_DOWN, "router_down", "no router listener: refused at once") \
	X(AZDS_R_ASSIGN_FAILED, "assign_failed", "bpf_sk_assign failed")     \
	X(AZDS_R_LB_BALANCED, "lb_balanced", "connect() rewritten to a backend") \
	X(AZDS_R_LB_NO_BACKEND, "lb_no_backend", "no backend in the chain: refused") \
	X(AZDS_R_LB_HTTP_PASS, "lb_http_pass", "HTTP service left for the router") \
	X(AZDS_R_TCP_UNBALANCED, "unsteered", "service SYN neither steered nor balanced: reset by the node") \
	X(AZDS_R_SOCK_ADDED, "sock_added", "established socket added to sock_hash or router_rx (sockmap on)") \
	X(AZDS_R_MSG_REDIRECTED, "msg_redirected", "sk_msg redirected to the router's socket of the flow") \
	X(AZDS_R_FRAGMENT, "fragment", "IP fragment past the first (no TCP header), passed") \
	X(AZDS_R_NOT_LISTENER, "not_listener", "the router port's tuple belongs to a connection: passed") \
	X(AZDS_R_SOCK_REFUSED, "sock_refused", "socket kept out of sock_hash: not the router's nor its own pod's address") \
	X(AZDS_R_MSG_PASSED, "msg_passed", "sk_msg through the stack: peer unmapped, stack bytes unacked/unread, redirected bytes past the bound, or sockmap off") \
	X(AZDS_R_MSG_TO_POD, "msg_to_pod", "sk_msg of the router redirected to the pod's socket of the flow") \
	X(AZDS_R_MSG_TO_POD_PASSED, "msg_to_pod_passed", "sk_msg of the router through the stack: peer unmapped, stack bytes unacked/unread, a large message, a stack-only flow, or sockmap off") \
	X(AZDS_R_SPLICE_SEEN, "splice_seen", "a pod read a socket with splice() or TCP_ZEROCOPY_RECEIVE: its flows toward the router are stack-only from now on")

#define AZDS_REASON_ENUM(id, name, text) id,
enum azds_reason { AZDS_REASONS(AZDS_REASON_ENUM) AZDS_R__COUNT };
#undef AZDS_REASON_ENUM

/* ring buffer events */
#define AZDS_EV_BALANCED 1u   /* connect4 rewrote a TCP service connect */
#define AZDS_EV_NO_BACKEND 2u /* connect4 found no backend in the chain */
#define AZDS_EV_STEERED 3u    /* TC steered a SYN to the router */
#define AZDS_EV_ROUTER_DOWN 4u
#define AZDS_EV_ESTABLISHED 5u /* sockops: a pod's outbound connection is up */

struct azds_event {
	__u64 ts_ns;
	__u32 type;
	__u32 space;  /* caller's space */
	__u32 svc;    /* service id, 0 if none */
	__u32 target_space; /* space whose backend was chosen, 0 if none */
	__be32 src;   /* caller pod address */
	__be32 dst;   /* original destination address */
	__be32 new_dst; /* chosen backend (balanced) */
	__be16 dport; /* original destination port */
	__be16 new_dport;
};

#ifndef __bpf__
_Static_assert(sizeof(struct azds_space) == 264, "azds_space layout");
_Static_assert(sizeof(struct azds_pod) == 80, "azds_pod layout");
_Static_assert(sizeof(struct azds_vip_key) == 8, "azds_vip_key layout");
_Static_assert(sizeof(struct azds_vip) == 72, "azds_vip layout");
_Static_assert(sizeof(struct azds_svc_key) == 8, "azds_svc_key layout");
_Static_assert(sizeof(struct azds_service) == 80, "azds_service layout");
_Static_assert(sizeof(struct azds_backends) == 8 + 4 * AZDS_MAX_BACKENDS, "azds_backends layout");
_Static_assert(sizeof(struct azds_config) == 16, "azds_config layout");
_Static_assert(sizeof(struct azds_event) == 40, "azds_event layout");
_Static_assert(sizeof(struct azds_sock_key) == 16, "azds_sock_key layout");
_Static_assert(sizeof(struct azds_sock_ptr) == 16, "azds_sock_ptr layout");
#else
_Static_assert(sizeof(struct azds_space) == 264, "azds_space layout");
_Static_assert(sizeof(struct azds_pod) == 80, "azds_pod layout");
_Static_assert(sizeof(struct azds_event) == 40, "azds_event layout");
#endif

#endif
