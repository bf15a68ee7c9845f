/* SPDX-License-Identifier: MIT */
/*
 * The assembler's insides (trace.h is the interface): connections and
 * their streams (stream.c), heads (head.c), decisions, joins and trees
 * (join.c), the emitted form (emit.c, json.c).
 */
#ifndef AZDS_TRACE_ASM_INT_H
#define AZDS_TRACE_ASM_INT_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "trace.h"
/* userspace/trace/trace.h's own #include "trace.h" names itself (the same
 * directory comes first), so the capture's layout is included by path. */
#include "../../bpf/trace.h"
#include "http_parse.h"

/* A doubly linked list, circular with a head node. */
struct tlist {
	struct tlist *prev, *next;
};

static inline void tlist_init(struct tlist *l)
{
	l->prev = l->next = l;
}

static inline bool tlist_empty(const struct tlist *l)
{
	return l->next == l;
}

static inline void tlist_del(struct tlist *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = e;
}

static inline void tlist_add_tail(struct tlist *l, struct tlist *e)
{
	e->prev = l->prev;
	e->next = l;
	l->prev->next = e;
	l->prev = e;
}

#define tlist_entry(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* A hash chain node: unlinked in O(1) whatever the chain's length. */
struct hnode {
	struct hnode *next, **pprev;
};

static inline void hnode_add(struct hnode **head, struct hnode *n)
{
	n->next = *head;
	if (*head)
		(*head)->pprev = &n->next;
	*head = n;
	n->pprev = head;
}

static inline void hnode_del(struct hnode *n)
{
	if (!n->pprev)
		return;
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
	n->next = NULL;
	n->pprev = NULL;
}

/* A kept head: names and values, credentials already "[redacted]". */
struct kept_msg {
	char *blob; /* nh pairs "name\0value\0": one of the asm's blocks, or malloc'd when longer; NULL when none */
	unsigned nh;
	bool truncated;
	bool pooled; /* blob is a KEPT_BLOCK of the asm's (azds_tr_kept_free gives it back) */
};

/* Kept heads of up to KEPT_BLOCK bytes (most) take a block the asm keeps
 * for reuse: the reader's intake and emission allocate and free two a
 * request, in batches larger than malloc's own caches. At most
 * KEPT_SPARE_MAX are kept (8 MiB); none under ASan, which must see a use
 * after free. */
#define KEPT_BLOCK 512
#define KEPT_SPARE_MAX 16384
struct kept_blk {
	struct kept_blk *next;
};

#if defined(__SANITIZE_ADDRESS__)
#define TR_REUSE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TR_REUSE 0
#endif
#endif
#ifndef TR_REUSE
#define TR_REUSE 1
#endif

/* What a parsed head leaves for the hop. */
struct head_info {
	bool is_request;
	char method[16];
	char target[AZDS_TRACE_TARGET_MAX];
	bool target_cut;
	int status;
	int minor_version;
	bool have_cl;
	__u64 content_length;
	char route_as[AZDS_TRACE_NAME_MAX];
	char traceparent[56];
	bool is_head, is_connect, upgrade;
	enum azds_http_body body;
	size_t head_len; /* bytes of the head in the buffer (0 for a cut head) */
	struct kept_msg kept;
};

/* Exchange halves: a pod's view of one request and its response. */
#define XH_TARGET_IN 96 /* targets shorter than this live in the half itself */
#define XH_SPARE_MAX 16384 /* freed halves kept for reuse, about 10 MB at most (a tick under load frees more than 4,096); none under ASan, which must see a use after free */
enum { XH_SERVER = 0, XH_CLIENT = 1 };
enum {
	XS_OPEN = 0, /* waiting for the response */
	XS_DONE,     /* response seen (or given up): waiting for its joins */
	XS_READY,    /* joined and placed in a tree */
	XS_GHOST,    /* emitted: kept a while as a parent for late children */
};

struct conn;
struct dent;

struct xh {
	struct tlist link;  /* the asm's open, done, ready or ghost list */
	struct hnode pod_n; /* server halves: chain by serving pod address */
	struct hnode cli_n; /* client halves not yet claimed: chain by tuple */
	struct hnode xid_n; /* routed halves waiting for their response: chain by xid */
	__u64 xid;
	__u8 side, state;
	bool routed; /* told by the router's records alone (nothing of the kernel's to wait for) */
	__u8 raddr_pod; /* server half: is its peer a pod? 0 not asked yet, 1 yes, 2 no (asked once) */
	__u64 id;
	/* the tree */
	struct xh *parent;
	struct xh *child, *sibling;
	__u64 parent_id; /* for a hop whose parent went out before it */
	char trace_id[33];
	/* where */
	__u64 cookie;
	__be32 laddr, raddr;
	__be16 lport, rport;
	__u32 space;
	/* pairing on its connection */
	struct conn *conn;
	/* times of this half */
	__u64 start_ns, end_ns;
	/* joins */
	struct xh *peer;     /* server half: the caller's client half it claimed */
	struct dent *dent;   /* client: the decision bound to it; server: the one joined */
	__u64 dent_gen;	     /* server: dent's generation when joined */
	struct azds_dec dec; /* server: its decision; client: its bound one */
	bool have_dec;
	bool claimed; /* client half: a server half took it */
	/* the exchange */
	char method[16];
	char *target; /* target_in, or malloc'd when longer; cut at AZDS_TRACE_TARGET_MAX - 1 */
	char target_in[XH_TARGET_IN];
	char route_as[AZDS_TRACE_NAME_MAX];
	char traceparent[56];
	int status, minor_version;
	bool is_head, is_connect;
	__u64 req_bytes, resp_bytes;
	bool truncated;
	struct kept_msg req, resp;
};

/* Per connection and direction: where the next message starts. */
struct dirst {
	bool known; /* next is where the next message starts */
	__u64 next;
	__u64 end; /* the stream offset after the last record this way */
	/* a head that continues in the next call (redacted copy) */
	char *part;
	size_t part_len;
	__u64 part_end; /* stream offset just past the bytes held */
	__u64 part_ts;
	bool part_skip; /* the continuation's first line is a credential's value */
	bool part_name; /* the held tail is a header name that may be a credential's */
};

struct pq_slot {
	struct xh *h; /* NULL: a request not tracked (limits) or given up */
	bool is_head, is_connect;
};

/* Requests waiting for their responses, in order. */
struct pq {
	struct pq_slot *s;
	size_t cap, head, n;
	size_t skip; /* requests past max_pending, after all of s[]: their responses are dropped */
};

struct conn {
	__u64 cookie;
	struct conn *cookie_next;
	struct tlist lru;
	__be32 laddr, raddr;
	__be16 lport, rport;
	__u32 space;
	bool tunnel;	       /* after a 101 or a CONNECT: no more HTTP */
	struct dirst d[2];     /* by AZDS_TR_SEND / AZDS_TR_RECV */
	struct pq serve, call; /* requests received / sent */
};

/* A decision as kept. */
struct dent {
	struct azds_dec d;
	bool used;
	struct hnode up_n;  /* chain by upstream tuple, newest first */
	struct hnode cli_n; /* chain by client tuple while not bound */
	struct xh *bound;   /* the client half it names */
	__u64 gen;	    /* bumped each time the slot is rewritten */
};

struct azds_trace_asm {
	struct azds_trace_model m;
	struct azds_trace_limits lim;
	azds_trace_emit_fn emit;
	void *emit_ctx;
	struct azds_trace_stats st;
	__u64 now;
	__u64 next_id;
	__u64 tid_seed, tid_n;

	/* connections */
	struct conn **cookie_b;
	size_t nbuckets;
	struct tlist lru; /* most recent first */
	size_t nconns;

	/* hops */
	size_t nhops; /* live halves (open, done, ready) */
	struct tlist open, done, ready;
	struct tlist ghosts;
	size_t nghosts;
	struct hnode **pod_b; /* server halves by pod address, newest first */
	struct hnode **cli_b; /* unclaimed client halves by tuple, oldest first */
	struct hnode ***cli_endp; /* each cli_b chain's end: the last node's next, or the bucket */

	/* decisions: a ring */
	struct dent *dec;
	size_t ndec_cap, ndec_head, ndec;
	struct hnode **up_b;
	struct hnode **dcli_b;
	struct hnode **xid_b; /* routed halves by xid */

	/* freed halves for reuse (linked by sibling) */
	struct xh *spare;
	size_t nspare;
	/* freed kept-head blocks for reuse */
	struct kept_blk *kept_spare;
	size_t nkept_spare;

	/* emission scratch */
	struct azds_trace_hop *out;
	const struct kept_msg *(*out_src)[2]; /* each out hop's request and response headers, for the packer */
	struct xh **order;
	azds_trace_emit_packed_fn emit_packed;
	void *emit_packed_ctx;
	char *pack;
	size_t pack_cap;
};

#define GHOSTS_MAX 4096
#define PART_MAX   2048 /* a head held across calls */

/* A growing output buffer (text.c's JSON, pack.c's packed form): after a
 * failed growth oom is set and every later put does nothing. */
struct tr_out {
	char *p;
	size_t len, cap;
	bool oom;
};

bool azds_tr_out_grow(struct tr_out *o, size_t n); /* text.c */
/* pack.c: req packed into b; src, when not NULL, gives each hop's request
 * and response headers from the halves (the hops' own tables unused) */
void azds_tr_pack(const struct azds_trace_req *req, const struct kept_msg *const (*src)[2], struct tr_out *b,
		  bool *hole);

/* n bytes appended; room is kept for a final NUL */
static inline void tr_put(struct tr_out *o, const void *s, size_t n)
{
	if (o->len + n + 1 > o->cap && !azds_tr_out_grow(o, n))
		return;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* head.c */
bool azds_tr_looks_like_head(const char *p, size_t n, bool cut);
bool azds_tr_is_credential(const char *name, size_t n);
int azds_tr_parse_head(struct azds_trace_asm *a, const char *buf, size_t avail, bool cut, bool want_response,
		       bool req_is_head, bool req_is_connect, struct head_info *hi);
int azds_tr_parse_request_line(const char *buf, size_t n, struct head_info *hi);
void azds_tr_kept_free(struct azds_trace_asm *a, struct kept_msg *k);
void azds_tr_kept_fini(struct azds_trace_asm *a);
size_t azds_tr_redact_into(struct dirst *ds, const char *p, size_t n);

/* stream.c */
void azds_tr_conn_free(struct azds_trace_asm *a, struct conn *c, bool evicted);
void azds_tr_conn_gone(struct azds_trace_asm *a, struct xh *h);
void azds_tr_pq_forget(struct conn *c, struct xh *h);
int azds_tr_conns_init(struct azds_trace_asm *a);
void azds_tr_conns_fini(struct azds_trace_asm *a);

/* join.c */
int azds_tr_join_init(struct azds_trace_asm *a);
void azds_tr_join_fini(struct azds_trace_asm *a);
void azds_tr_ghost_prune(struct azds_trace_asm *a, bool all);
struct xh *azds_tr_xh_new(struct azds_trace_asm *a, struct conn *c, int side, __u64 ts, const struct head_info *hi);
void azds_tr_xh_done(struct azds_trace_asm *a, struct xh *h);
void azds_tr_xh_free(struct azds_trace_asm *a, struct xh *h);
void azds_tr_cli_add(struct azds_trace_asm *a, struct xh *h);
struct xh *azds_tr_xh_routed(struct azds_trace_asm *a, int side, const struct azds_dec *d, const struct head_info *hi);
void azds_tr_run(struct azds_trace_asm *a, bool force);

/* emit.c */
void azds_tr_emit_top(struct azds_trace_asm *a, struct xh *top);

static inline __u64 sat_add(__u64 a, __u64 b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static inline size_t hash64(__u64 k, size_t nb)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return (size_t)(k & (nb - 1));
}

static inline __u64 tuple_key(__be32 a1, __be16 p1, __be32 a2, __be16 p2)
{
	return ((__u64)a1 << 32 | a2) ^ ((__u64)p1 << 48 | (__u64)p2 << 16) * 0x9e3779b97f4a7c15ULL;
}

#endif
