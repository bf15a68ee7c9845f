// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * azds trace capture (issue 9): records of the pods' TCP sockets, published
 * to trace_rb (bpf/trace.h has the record layout and which sockets count).
 *
 * Two ways into the send and receive calls, one chosen at load time:
 *
 *  - where the kernel has them (6.3 on), the socket layer's tracepoints
 *    sock:sock_send_length and sock:sock_recv_length (azds_tr_sent,
 *    azds_tr_rcvd), which fire after every sendmsg and recvmsg with the
 *    bytes moved: the caller's buffer is found from its system call's
 *    registers (read, write, readv, writev, sendto, recvfrom, sendmsg,
 *    recvmsg; anything else, io_uring or sendfile, only moves the offsets).
 *    One program per call, no trampoline: the kernels that refuse fentry
 *    (some hardened VMs) still run them;
 *  - otherwise fentry and fexit on inet_sendmsg, inet6_sendmsg,
 *    inet_recvmsg and inet6_recvmsg: entry remembers where the caller's
 *    buffer starts (from the iov_iter, in task storage: a blocking call may
 *    sleep between entry and exit, and several threads may use one
 *    socket), exit emits with the return value.
 *
 * Either advances the socket's stream offset by the bytes moved and
 * publishes a DATA record when they start like an HTTP head.
 * azds_tr_state (tp_btf/inet_sock_set_state) publishes OPEN when a pod's
 * socket becomes established and CLOSE with the byte counts when it closes.
 *
 * Stream offsets are ours (trace_socks), not TCP's sequence numbers: bytes
 * the data plane redirects with sk_msg (tcp_bpf) never move those.
 *
 * Every TCP send and receive of the machine enters these programs, so the
 * miss path is kept to a few loads and one hash lookup: protocol and family
 * first, then the socket's local address in pods, then its trace_socks
 * entry (a pod's socket is classified once and remembered there); the
 * cgroup walk runs only for a socket whose address is a pod's, once.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "dataplane.h"
#include "trace.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define MSG_PEEK 0x2
#define MSG_TRUNC 0x20
#define MSG_ERRQUEUE 0x2000

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* the data plane's pods map, reused by name from the pin dir (read only) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_DEF_MAX_PODS); /* set to the pinned map's before load */
	__type(key, __be32);
	__type(value, struct azds_pod);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pods SEC(".maps");

/* the data plane's vips map, the same way: a pod's socket to an HTTP
 * service's address is one the router stands behind */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_DEF_MAX_VIPS); /* set to the pinned map's before load */
	__type(key, struct azds_vip_key);
	__type(value, struct azds_vip);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, AZDS_TRACE_DEF_RING_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} trace_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AZDS_TC__COUNT);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} trace_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AZDS_TRACE_DEF_MAX_OFF);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} trace_off SEC(".maps");

/* a pod's socket: its pod's space and the bytes moved each way */
struct trace_sock {
	__u64 sent;
	__u64 recvd;
	__u32 space;
	/* the tuple when first seen: by CLOSE the kernel may have released
	 * the local port */
	__be32 laddr, raddr;
	__be16 lport, rport;
	__u32 routed; /* the router is the other end: it records these exchanges itself */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct trace_sock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} trace_socks SEC(".maps");

/* one call in progress, from entry to exit */
struct trace_call {
	__u64 sk;  /* the socket (0: nothing to capture) */
	__u64 buf; /* user address of the first byte the call moves */
	__u32 lim; /* bytes readable from buf (the first iovec's rest) */
	__u32 pad;
};

struct trace_task {
	struct trace_call call[2]; /* by AZDS_TR_SEND / AZDS_TR_RECV */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct trace_task);
} trace_task SEC(".maps");

/* struct iov_iter before 6.4 named its iovec pointer iov, then __iov */
struct iov_iter___iov {
	const struct iovec *iov;
} __attribute__((preserve_access_index));

struct iov_iter___uiov {
	const struct iovec *__iov;
} __attribute__((preserve_access_index));

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&trace_counts, &idx);

	/* atomic: tracing programs run preemptible (migrate_disable only) */
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* the socket's local IPv4 address, or 0 if it has none (IPv6 proper) */
static __always_inline __be32 local_v4(const struct sock *sk, __u16 family)
{
	if (family == AF_INET)
		return sk->__sk_common.skc_rcv_saddr;
	if (family != AF_INET6)
		return 0;
	/* v4-mapped: the IPv4 fields hold the addresses; an IPv6 socket
	 * proper has a placeholder there (LOOPBACK4_IPV6) */
	const __u32 *a6 = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32;

	if (a6[0] || a6[1] || a6[2] != bpf_htonl(0xffff))
		return 0;
	return sk->__sk_common.skc_rcv_saddr;
}

/* is the socket's cgroup the pod's, or below it? */
static __always_inline bool in_pod_cgroup(const struct sock *sk, __u64 want)
{
	struct cgroup *cg = sk->sk_cgrp_data.cgroup;

	if (!want)
		return true;
	for (int i = 0; i < AZDS_CGROUP_LEVELS_MAX; i++) {
		struct cgroup_subsys_state *css;

		if (!cg)
			return false;
		if (cg->kn->id == want)
			return true;
		css = cg->self.parent;
		if (!css)
			return false;
		cg = css->cgroup;
	}
	return false;
}

/*
 * Does the router stand at the other end? A backend's connection from the
 * router comes from AZDS_GW_IP; a caller's connection to an HTTP service's
 * address is steered into the router (TC, bpf_sk_assign: the caller's
 * socket keeps the service address). The router's own records
 * (userspace/lib/decisions.h) tell those exchanges, heads included, so
 * capture leaves such sockets alone: nothing on their sends and receives
 * but this flag's test. A plain-TCP service's connection was rewritten to
 * its pod by connect4 and is pod to pod.
 */
static __always_inline __u32 router_peer(const struct sock *sk)
{
	struct azds_vip_key k = {};
	struct azds_vip *v;

	k.addr = sk->__sk_common.skc_daddr;
	if (k.addr == bpf_htonl(AZDS_GW_IP))
		return 1;
	k.port = sk->__sk_common.skc_dport;
	v = bpf_map_lookup_elem(&vips, &k);
	return v && v->kind == AZDS_KIND_HTTP;
}

static __always_inline void keep_tuple(struct trace_sock *st, const struct sock *sk)
{
	st->laddr = sk->__sk_common.skc_rcv_saddr;
	st->raddr = sk->__sk_common.skc_daddr;
	st->lport = bpf_htons(sk->__sk_common.skc_num);
	st->rport = sk->__sk_common.skc_dport;
	st->routed = router_peer(sk);
}

/*
 * Whether records are wanted at all: the controller's reader clears it
 * while nobody watches (azds_trace_bpf_publish; trace_load.h), and also
 * detaches the programs on the send and receive calls then, so this is
 * what the connection-state program reads (it takes on no new socket and
 * publishes nothing) and what closes the moment between the two. A global
 * in the object's own data: one load, no map call, set by a store to the
 * mapped page.
 */
volatile __u32 azds_trace_publish = 1;

/*
 * The socket's trace_socks entry when it is a pod's TCP socket: found, or
 * made when the socket is seen for the first time. NULL for every other
 * socket, as early as possible. *fresh set when the entry was made now.
 */
static __always_inline struct trace_sock *pod_sock_new(struct sock *sk, bool *fresh)
{
	struct trace_sock *st;
	struct azds_pod *pod;
	__u16 family;
	__be32 addr;

	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return NULL;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	/* a socket taken on has its entry (only capture makes them: a
	 * socket of no pod has no storage at all, and the helper returns at
	 * once); while nobody watches, no new socket is taken on, so that
	 * the sockets of no pod cost this one call */
	st = bpf_sk_storage_get(&trace_socks, sk, NULL, 0);
	if (st || !azds_trace_publish)
		return st;
	addr = local_v4(sk, family);
	/* the router's own sockets (a steered connection keeps the service
	 * address, an upstream comes from the gateway's) are no pod's: told
	 * without the lookup, the most frequent miss while recording */
	if (!addr || addr == bpf_htonl(AZDS_GW_IP) || (addr & bpf_htonl(AZDS_VIP_MASK)) == bpf_htonl(AZDS_VIP_PREFIX))
		return NULL;
	pod = bpf_map_lookup_elem(&pods, &addr);
	if (!pod)
		return NULL;
	if (!in_pod_cgroup(sk, pod->cgroup_id))
		return NULL;
	st = bpf_sk_storage_get(&trace_socks, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (st) {
		st->space = pod->space;
		keep_tuple(st, sk);
		*fresh = true;
	}
	return st;
}

static __always_inline struct trace_sock *pod_sock(struct sock *sk)
{
	bool fresh = false;

	return pod_sock_new(sk, &fresh);
}


/* no records for this space's pods (offsets only): nobody watches, or it is switched off */
static __always_inline bool unrecorded(__u32 space)
{
	return !azds_trace_publish || bpf_map_lookup_elem(&trace_off, &space) != NULL;
}

static __always_inline void fill_addrs(struct azds_trace_rec *r, const struct sock *sk, const struct trace_sock *st)
{
	r->ts_ns = bpf_ktime_get_ns();
	r->cookie = bpf_get_socket_cookie((void *)sk);
	r->space = st->space;
	r->laddr = sk->__sk_common.skc_rcv_saddr;
	r->raddr = sk->__sk_common.skc_daddr;
	r->lport = bpf_htons(sk->__sk_common.skc_num);
	r->rport = sk->__sk_common.skc_dport;
}

/*
 * Where the call's bytes start in user memory: a single buffer (send,
 * recv, read, write since 6.0 or so) or the first iovec (sendmsg, writev,
 * and all of them before). Anything else (kernel buffers, pages) is not
 * captured.
 */
static __always_inline bool user_start(struct msghdr *msg, __u64 *buf, __u32 *lim)
{
	struct iov_iter *it = &msg->msg_iter;
	const struct iovec *iov;
	__u64 off, len;
	__u8 type;

	if (!bpf_core_field_exists(it->iter_type))
		return false;
	type = BPF_CORE_READ(it, iter_type);
	off = BPF_CORE_READ(it, iov_offset);
	if (bpf_core_enum_value_exists(enum iter_type, ITER_UBUF) &&
	    type == bpf_core_enum_value(enum iter_type, ITER_UBUF)) {
		*buf = (__u64)BPF_CORE_READ(it, ubuf) + off;
		*lim = AZDS_TRACE_CAP;
		return true;
	}
	if (type != bpf_core_enum_value(enum iter_type, ITER_IOVEC))
		return false;
	if (bpf_core_field_exists(((struct iov_iter___uiov *)it)->__iov))
		iov = BPF_CORE_READ((struct iov_iter___uiov *)it, __iov);
	else
		iov = BPF_CORE_READ((struct iov_iter___iov *)it, iov);
	*buf = (__u64)BPF_CORE_READ(iov, iov_base) + off;
	len = BPF_CORE_READ(iov, iov_len);
	*lim = len > off ? (len - off > AZDS_TRACE_CAP ? AZDS_TRACE_CAP : (__u32)(len - off)) : 0;
	return true;
}

static __always_inline void call_enter(struct socket *sock, struct msghdr *msg, __u32 dir)
{
	struct sock *sk = sock->sk;
	struct trace_sock *st = pod_sock(sk);
	struct trace_task *tt;
	__u64 buf;
	__u32 lim;

	if (!st || st->routed || unrecorded(st->space) || !user_start(msg, &buf, &lim) || !lim)
		return;
	tt = bpf_task_storage_get(&trace_task, bpf_get_current_task_btf(), NULL,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!tt)
		return;
	dir &= 1;
	tt->call[dir].sk = (__u64)sk;
	tt->call[dir].buf = buf;
	tt->call[dir].lim = lim;
}

/*
 * No reader wake-up per record: the reader polls every few milliseconds,
 * and is woken only once the ring holds WAKE_BYTES. A wake-up per record
 * was a context switch on the sender's path (+100 us at p50 measured).
 */
#define WAKE_BYTES (1u << 20)

static __always_inline __u64 wake_flags(void)
{
	return bpf_ringbuf_query(&trace_rb, BPF_RB_AVAIL_DATA) > WAKE_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

#define DATA_SMALL 128u  /* data bytes of the small record size */
#define DATA_MEDIUM 256u /* and of the medium one; the large is AZDS_TRACE_CAP */

/* the rest of a DATA record, and its submission: r is reserved, n bounded */
static __always_inline void data_submit(struct azds_trace_rec *r, struct sock *sk, const struct trace_sock *st,
					__u32 dir, __u64 seq, __u32 len, __u32 n, __u32 flags)
{
	if (flags) {
		n = 0;
		count(AZDS_TC_FAULTS);
	}
	fill_addrs(r, sk, st);
	r->seq = seq;
	r->sent = 0;
	r->recvd = 0;
	r->type = AZDS_TR_DATA;
	r->dir = dir;
	r->len = len;
	r->cap = n;
	r->flags = flags;
	r->pad = 0;
	bpf_ringbuf_submit(r, wake_flags());
	count(AZDS_TC_EMITTED);
}

/*
 * Three record sizes: a head of a few dozen bytes takes a 208-byte slot,
 * not 592, so the ring holds about three times as many of the common ones
 * before it is full. Each reservation needs a constant size, hence one
 * block per size, each reserving, reading and submitting on its own (6.1's
 * verifier loses the reservation when the three paths merge before the
 * submit); the very register passed on is bounded in each (the verifier
 * checks it).
 */
#define DATA_RECORD(room)                                                                   \
	do {                                                                                \
		struct azds_trace_rec *r = bpf_ringbuf_reserve(&trace_rb, AZDS_TRACE_HDR_BYTES + (room), 0); \
		if (!r) {                                                                   \
			count(AZDS_TC_DROPPED);                                             \
			return;                                                             \
		}                                                                           \
		barrier_var(n);                                                             \
		if (n > (room))                                                             \
			n = (room);                                                         \
		if (!flags && bpf_probe_read_user(r->data, n, (void *)buf))                 \
			flags = AZDS_TR_F_FAULT;                                            \
		data_submit(r, sk, st, dir, seq, len, (__u32)n, flags);                     \
		return;                                                                     \
	} while (0)

static __always_inline void emit_data(struct sock *sk, const struct trace_sock *st, __u32 dir, __u64 seq,
				      __u32 len, __u64 buf, __u32 lim)
{
	__u32 flags = 0;
	char first = 0;
	__u64 n;

	if (bpf_probe_read_user(&first, 1, (void *)buf))
		flags = AZDS_TR_F_FAULT;
	else if (first < 'A' || first > 'Z')
		return;
	n = len < lim ? len : lim;
	if (n <= DATA_SMALL)
		DATA_RECORD(DATA_SMALL);
	if (n <= DATA_MEDIUM)
		DATA_RECORD(DATA_MEDIUM);
	DATA_RECORD(AZDS_TRACE_CAP);
}

/*
 * A call on sk moved ret bytes (<= 0: nothing). buf and lim: where the
 * first of them are in user memory, lim 0 or buf 0 when unknown.
 */
static __always_inline void moved(struct sock *sk, struct trace_sock *st, __u32 dir, int ret, __u64 buf,
				  __u32 lim)
{
	__u64 seq;

	if (ret <= 0)
		return;
	if (dir == AZDS_TR_SEND)
		seq = __sync_fetch_and_add(&st->sent, (__u64)ret);
	else
		seq = __sync_fetch_and_add(&st->recvd, (__u64)ret);
	if (buf) /* given only when a record is wanted (the callers asked unrecorded()) */
		emit_data(sk, st, dir, seq, (__u32)ret, buf, lim);
}

static __always_inline void call_exit(struct socket *sock, int ret, __u32 dir)
{
	struct sock *sk = sock->sk;
	struct trace_sock *st;
	struct trace_task *tt;
	struct trace_call c = {};

	if (!sk)
		return;
	/* only a pod's socket has an entry: one load for all others */
	st = bpf_sk_storage_get(&trace_socks, sk, NULL, 0);
	if (!st || st->routed)
		return;
	tt = bpf_task_storage_get(&trace_task, bpf_get_current_task_btf(), NULL, 0);
	dir &= 1;
	if (tt && tt->call[dir].sk == (__u64)sk) {
		c = tt->call[dir];
		tt->call[dir].sk = 0;
	}
	moved(sk, st, dir, ret, c.sk ? c.buf : 0, c.lim);
}

/* receives that move no stream bytes (peeks, the error queue) are left alone */
static __always_inline bool recv_skipped(int flags)
{
	return flags & (MSG_PEEK | MSG_ERRQUEUE);
}

SEC("fentry/inet_sendmsg")
int BPF_PROG(azds_tr_send_entry, struct socket *sock, struct msghdr *msg, size_t size)
{
	call_enter(sock, msg, AZDS_TR_SEND);
	return 0;
}

SEC("fexit/inet_sendmsg")
int BPF_PROG(azds_tr_send_exit, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	call_exit(sock, ret, AZDS_TR_SEND);
	return 0;
}

SEC("fentry/inet6_sendmsg")
int BPF_PROG(azds_tr_send6_entry, struct socket *sock, struct msghdr *msg, size_t size)
{
	call_enter(sock, msg, AZDS_TR_SEND);
	return 0;
}

SEC("fexit/inet6_sendmsg")
int BPF_PROG(azds_tr_send6_exit, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	call_exit(sock, ret, AZDS_TR_SEND);
	return 0;
}

SEC("fentry/inet_recvmsg")
int BPF_PROG(azds_tr_recv_entry, struct socket *sock, struct msghdr *msg, size_t size, int flags)
{
	/* MSG_TRUNC discards the bytes: they count, but are not in the buffer */
	if (!recv_skipped(flags) && !(flags & MSG_TRUNC))
		call_enter(sock, msg, AZDS_TR_RECV);
	return 0;
}

SEC("fexit/inet_recvmsg")
int BPF_PROG(azds_tr_recv_exit, struct socket *sock, struct msghdr *msg, size_t size, int flags, int ret)
{
	if (!recv_skipped(flags))
		call_exit(sock, ret, AZDS_TR_RECV);
	return 0;
}

SEC("fentry/inet6_recvmsg")
int BPF_PROG(azds_tr_recv6_entry, struct socket *sock, struct msghdr *msg, size_t size, int flags)
{
	if (!recv_skipped(flags) && !(flags & MSG_TRUNC))
		call_enter(sock, msg, AZDS_TR_RECV);
	return 0;
}

SEC("fexit/inet6_recvmsg")
int BPF_PROG(azds_tr_recv6_exit, struct socket *sock, struct msghdr *msg, size_t size, int flags, int ret)
{
	if (!recv_skipped(flags))
		call_exit(sock, ret, AZDS_TR_RECV);
	return 0;
}

/*
 * The tracepoint way: the caller's buffer from its system call's
 * arguments, which the task's saved user registers still hold.
 */
#if defined(__TARGET_ARCH_x86)
#define SYSCALL_NR(r) ((r)->orig_ax)
#define SYSCALL_ARG2(r) ((r)->si)
#define SYSCALL_ARG3(r) ((r)->dx)
enum { NR_READ = 0, NR_WRITE = 1, NR_READV = 19, NR_WRITEV = 20, NR_SENDTO = 44, NR_RECVFROM = 45,
       NR_SENDMSG = 46, NR_RECVMSG = 47 };
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(r) ((r)->syscallno)
#define SYSCALL_ARG2(r) ((r)->regs[1])
#define SYSCALL_ARG3(r) ((r)->regs[2])
enum { NR_READ = 63, NR_WRITE = 64, NR_READV = 65, NR_WRITEV = 66, NR_SENDTO = 206, NR_RECVFROM = 207,
       NR_SENDMSG = 211, NR_RECVMSG = 212 };
#else
#error "system call numbers of this architecture"
#endif

#define IOV_SCAN 4 /* empty iovecs skipped to find the first byte */

/* the first non-empty iovec of a user array */
static __always_inline bool first_iov(__u64 uiov, __u64 n, __u64 *buf, __u32 *lim)
{
	for (int i = 0; i < IOV_SCAN; i++) {
		struct iovec v;

		if ((__u64)i >= n || bpf_probe_read_user(&v, sizeof(v), (void *)(uiov + i * sizeof(v))))
			return false;
		if (v.iov_len) {
			*buf = (__u64)v.iov_base;
			*lim = v.iov_len > AZDS_TRACE_CAP ? AZDS_TRACE_CAP : (__u32)v.iov_len;
			return true;
		}
	}
	return false;
}

static __always_inline bool syscall_buf(__u32 dir, __u64 *buf, __u32 *lim)
{
	struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	struct user_msghdr m;
	long nr;

	if (!r)
		return false;
	nr = (long)SYSCALL_NR(r);
	if (nr == (dir == AZDS_TR_SEND ? NR_WRITE : NR_READ) || nr == (dir == AZDS_TR_SEND ? NR_SENDTO : NR_RECVFROM)) {
		*buf = SYSCALL_ARG2(r);
		*lim = SYSCALL_ARG3(r) > AZDS_TRACE_CAP ? AZDS_TRACE_CAP : (__u32)SYSCALL_ARG3(r);
		return true;
	}
	if (nr == (dir == AZDS_TR_SEND ? NR_WRITEV : NR_READV))
		return first_iov(SYSCALL_ARG2(r), SYSCALL_ARG3(r), buf, lim);
	if (nr == (dir == AZDS_TR_SEND ? NR_SENDMSG : NR_RECVMSG)) {
		if (bpf_probe_read_user(&m, sizeof(m), (void *)SYSCALL_ARG2(r)))
			return false;
		return first_iov((__u64)m.msg_iov, m.msg_iovlen, buf, lim);
	}
	return false; /* io_uring, sendfile, splice, a kernel socket: offsets only */
}

static __always_inline void traced(struct sock *sk, int ret, int flags, __u32 dir)
{
	struct trace_sock *st;
	__u64 buf = 0;
	__u32 lim = 0;

	if (ret <= 0)
		return;
	st = pod_sock(sk);
	if (!st || st->routed)
		return;
	/* MSG_TRUNC discards the bytes: they count, but are not in the
	 * buffer; and no record wanted, no buffer looked for */
	if ((dir == AZDS_TR_RECV && (flags & MSG_TRUNC)) || unrecorded(st->space) || !syscall_buf(dir, &buf, &lim))
		lim = 0;
	moved(sk, st, dir, ret, lim ? buf : 0, lim);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(azds_tr_sent, struct sock *sk, int ret, int flags)
{
	traced(sk, ret, flags, AZDS_TR_SEND);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(azds_tr_rcvd, struct sock *sk, int ret, int flags)
{
	if (!recv_skipped(flags))
		traced(sk, ret, flags, AZDS_TR_RECV);
	return 0;
}


static __always_inline void emit_conn(struct sock *sk, const struct trace_sock *st, __u32 type, __u32 flags)
{
	struct azds_trace_rec *r;

	/* OPEN and CLOSE end before data[] */
	r = bpf_ringbuf_reserve(&trace_rb, AZDS_TRACE_HDR_BYTES, 0);
	if (!r) {
		count(AZDS_TC_DROPPED);
		return;
	}
	fill_addrs(r, sk, st);
	if (type == AZDS_TR_CLOSE) {
		r->laddr = st->laddr;
		r->raddr = st->raddr;
		r->lport = st->lport;
		r->rport = st->rport;
	}
	r->seq = 0;
	r->sent = type == AZDS_TR_CLOSE ? st->sent : 0;
	r->recvd = type == AZDS_TR_CLOSE ? st->recvd : 0;
	r->type = type;
	r->dir = 0;
	r->len = 0;
	r->cap = 0;
	r->flags = flags;
	r->pad = 0;
	bpf_ringbuf_submit(r, wake_flags());
	count(AZDS_TC_EMITTED);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(azds_tr_state, struct sock *sk, int oldstate, int newstate)
{
	struct trace_sock *st;

	if (newstate == TCP_ESTABLISHED) {
		bool fresh = false;

		st = pod_sock_new(sk, &fresh);
		if (!st)
			return 0;
		/* a socket connected again after a disconnect starts over (a new one was just classified) */
		st->sent = 0;
		st->recvd = 0;
		if (!fresh)
			keep_tuple(st, sk);
		if (!st->routed && !unrecorded(st->space))
			emit_conn(sk, st, AZDS_TR_OPEN, oldstate == TCP_SYN_SENT ? AZDS_TR_F_ACTIVE : 0);
	} else if (newstate == TCP_CLOSE && oldstate != TCP_CLOSE && oldstate != TCP_SYN_SENT) {
		/* (a failed connect never opened: no CLOSE for it) */
		if (!sk || sk->sk_protocol != IPPROTO_TCP)
			return 0;
		st = bpf_sk_storage_get(&trace_socks, sk, NULL, 0);
		if (st && !st->routed && !unrecorded(st->space))
			emit_conn(sk, st, AZDS_TR_CLOSE, 0);
	}
	return 0;
}
