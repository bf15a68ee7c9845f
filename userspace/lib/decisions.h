/* SPDX-License-Identifier: MIT */
/*
 * The router's side of azds trace (issue 9): one record when the router
 * routes a request or answers it itself, and one when the routed request's
 * response head comes back, in a shared-memory file the router writes and
 * the controller's trace reader maps (<run_dir>/decisions.<pid>, mode
 * 0600). No syscall on the request path: a worker stores a slot and bumps
 * its head.
 *
 * Each record carries the message head as the router received it (the
 * client's request, the backend's response), up to AZDS_DEC_HEAD_MAX
 * bytes, so a hop that crosses the router is told by the router alone: the
 * kernel's capture leaves the sockets on either side of the router alone
 * (bpf/trace.bpf.c) and records only what never crosses it (pod to pod).
 * Heads are stored only while the reader says someone watches
 * (azds_dec_file.want): otherwise a worker stores nothing.
 *
 * Layout: struct azds_dec_file, then nworkers rings, each a struct
 * azds_dec_ring header (64 bytes) and azds_dec_file.slots slots of
 * AZDS_DEC_SLOT_BYTES. Each worker is the only writer of its ring. A slot
 * carries its sequence number (n + 1 for the n-th record of that ring)
 * stored last, with release; the reader copies a slot and checks the
 * number before and after, so a slot overwritten while it was read counts
 * as missed, never as garbage. A reader that falls more than
 * slots behind misses the oldest: the writer never waits. The slots of all
 * rings together are AZDS_DEC_TOTAL_SLOTS (azds_dec_ring_slots): the
 * workers share the node's requests, so each needs that much less room.
 */
#ifndef AZDS_DECISIONS_H
#define AZDS_DECISIONS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>

#define AZDS_DEC_MAGIC 0x617a6463u /* "azdc" */
#define AZDS_DEC_VERSION 2u
#define AZDS_DEC_TOTAL_SLOTS 16384u /* of all rings together (16 MiB) */
#define AZDS_DEC_MIN_SLOTS 1024u    /* of one ring */
#define AZDS_DEC_SLOT_BYTES 1024u
#define AZDS_DEC_HEAD_MAX (AZDS_DEC_SLOT_BYTES - 80u) /* bytes of a head kept in a slot */
#define AZDS_DEC_MAX_WORKERS 64u /* rings in one file: a router's workers (ROUTER_MAX_WORKERS) */
#define AZDS_DEC_FILE "decisions"

/* why the router sent the request where it did */
#define AZDS_DEC_OWN 1u      /* the space the request asked for has the service */
#define AZDS_DEC_FALLBACK 2u /* an ancestor's copy served it (served_space) */
#define AZDS_DEC_REPLY 3u    /* no backend: the router answered (status) */

/* record kinds (struct azds_dec_slot.kind) */
#define AZDS_DEC_K_REQ 1u  /* a request: routed (OWN, FALLBACK: its RESP follows) or answered (REPLY) */
#define AZDS_DEC_K_RESP 2u /* the response to the routed request numbered xid */

/* flags */
#define AZDS_DEC_F_INGRESS 0x1u /* from the local ingress (the host), not from a pod */
#define AZDS_DEC_F_CUT 0x2u     /* the head was longer than the slot holds */
#define AZDS_DEC_F_ROUTER 0x4u  /* RESP: no response from the backend; the router answered status (0: none) */
#define AZDS_DEC_F_ACCEPT 0x8u  /* REQ, REPLY: refused at accept (the caller's per-pod limit); the head, if any, as peeked */

struct azds_dec {
	_Atomic __u64 seq;   /* n + 1 for the ring's n-th record; stored last */
	__u64 ts_ns;         /* CLOCK_MONOTONIC: REQ when the request was routed, RESP when its response head came */
	__be32 cli_addr;     /* the client: a pod's address (ingress: the host peer) */
	__be32 vaddr;        /* the service address it connected to (ingress: 0) */
	__be16 cli_port;
	__be16 vport;
	__be16 up_lport;     /* the router's end of the upstream connection */
	__be16 up_rport;     /* the backend pod's port */
	__be32 up_raddr;     /* the backend pod's address (0: no upstream) */
	__u32 caller_space;  /* the client pod's space (0: ingress) */
	__u32 start_space;   /* the space the request asked for (route-as, else the caller's) */
	__u32 served_space;  /* the space whose backend was chosen (0: none) */
	__u32 svc;           /* service id (struct azds_vip.svc) */
	__u16 reason;        /* AZDS_DEC_* */
	__u16 status;        /* REPLY: the status the router answered; RESP: the response's */
	__u32 flags;         /* AZDS_DEC_F_* */
};

/* one slot: the record, then the head it carries */
struct azds_dec_slot {
	struct azds_dec d;
	__u64 xid;      /* the exchange: a REQ of reason OWN or FALLBACK and its RESP share it (unique per router) */
	__u16 kind;     /* AZDS_DEC_K_* */
	__u16 head_len; /* bytes in head[] */
	__u32 pad;
	char head[AZDS_DEC_HEAD_MAX];
};

struct azds_dec_ring {
	_Atomic __u64 head; /* records written so far */
	__u64 pad[7];
};

#define AZDS_DEC_OFF_MAX 240u /* spaces switched off that the file names; more: every record omitted */

struct azds_dec_file {
	__u32 magic;
	__u32 version;
	__u32 nworkers;
	__u32 slots;     /* per ring: azds_dec_ring_slots(nworkers), a power of two */
	__u64 start_ns;  /* CLOCK_MONOTONIC when the router created the file */
	_Atomic __u32 want; /* written by the reader: 1 while someone watches (records wanted) */
	/*
	 * The spaces switched off (azds trace off -s), written by the reader
	 * so that their requests' heads never reach the file: off_gen is odd
	 * while it rewrites off[] (a writer that reads an odd or changed
	 * generation omits the record), off_n UINT32_MAX when more are off
	 * than fit (every record omitted; the reader keeps what it may).
	 */
	_Atomic __u32 off_gen;
	_Atomic __u32 off_n;
	__u32 pad0;
	__u64 pad[3];
	_Atomic __u32 off[AZDS_DEC_OFF_MAX];
};

_Static_assert(sizeof(struct azds_dec) == 64, "azds_dec layout");
_Static_assert(sizeof(struct azds_dec_slot) == AZDS_DEC_SLOT_BYTES, "azds_dec_slot layout");
_Static_assert(sizeof(struct azds_dec_ring) == 64, "azds_dec_ring layout");
_Static_assert(sizeof(struct azds_dec_file) == 1024, "azds_dec_file layout");

/* each ring's slots: a power of two, AZDS_DEC_TOTAL_SLOTS shared out, at least AZDS_DEC_MIN_SLOTS */
static inline __u32 azds_dec_ring_slots(__u32 nworkers)
{
	__u32 n = AZDS_DEC_TOTAL_SLOTS;

	while (n > AZDS_DEC_MIN_SLOTS && (__u64)n * (nworkers ? nworkers : 1) > AZDS_DEC_TOTAL_SLOTS)
		n >>= 1;
	return n;
}

/*
 * The spaces a record names for the off switch, the same for the writer
 * and the reader: a routed request's serving space and its caller's (0
 * from the ingress); a request the router answered, its caller's (else the
 * space it asked for) alone (*b 0). A record is left out when each space
 * it names is off or absent.
 */
static inline void azds_dec_ends(const struct azds_dec *d, __u32 *a, __u32 *b)
{
	__u32 caller = d->flags & AZDS_DEC_F_INGRESS ? 0 : d->caller_space;

	if (d->reason == AZDS_DEC_REPLY) {
		*a = caller ? caller : d->start_space;
		*b = 0;
	} else {
		*a = d->served_space;
		*b = caller;
	}
}

/* The writer: may this request's record be written? Not when its spaces are off, nor while the list changes. */
static inline bool azds_dec_allowed(const struct azds_dec_file *f, const struct azds_dec *d)
{
	__u32 g = atomic_load_explicit(&f->off_gen, memory_order_acquire), n, i, a, b;
	bool off_a = false, off_b = false;

	n = atomic_load_explicit(&f->off_n, memory_order_relaxed);
	if (!n)
		return !(g & 1);
	if ((g & 1) || n > AZDS_DEC_OFF_MAX)
		return false;
	azds_dec_ends(d, &a, &b);
	for (i = 0; i < n; i++) {
		__u32 x = atomic_load_explicit(&f->off[i], memory_order_relaxed);

		off_a |= x == a;
		off_b |= x == b;
	}
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&f->off_gen, memory_order_relaxed) != g)
		return false;
	return !((off_a || !a) && (off_b || !b));
}

static inline size_t azds_dec_file_bytes(__u32 nworkers)
{
	__u32 slots = azds_dec_ring_slots(nworkers);

	return sizeof(struct azds_dec_file) +
	       (size_t)nworkers * (sizeof(struct azds_dec_ring) + slots * sizeof(struct azds_dec_slot));
}

static inline struct azds_dec_ring *azds_dec_ring_of(void *base, __u32 worker, __u32 slots)
{
	return (struct azds_dec_ring *)((char *)base + sizeof(struct azds_dec_file) +
					(size_t)worker * (sizeof(struct azds_dec_ring) +
							  slots * sizeof(struct azds_dec_slot)));
}

static inline struct azds_dec_slot *azds_dec_slots(struct azds_dec_ring *r)
{
	return (struct azds_dec_slot *)(r + 1);
}

#define AZDS_DEC_SLOT_HDR offsetof(struct azds_dec_slot, head)

/* The writer (one per ring): s->d.seq is ignored and set here; head_len bytes of the head are stored. */
static inline void azds_dec_put(struct azds_dec_ring *r, __u32 slots, const struct azds_dec_slot *in)
{
	__u64 n = atomic_load_explicit(&r->head, memory_order_relaxed);
	struct azds_dec_slot *s = &azds_dec_slots(r)[n & (slots - 1)];
	size_t len = AZDS_DEC_SLOT_HDR + (in->head_len < AZDS_DEC_HEAD_MAX ? in->head_len : AZDS_DEC_HEAD_MAX);

	/* mark the slot as being rewritten first, so a reader that copies it
	 * meanwhile sees a number that is not the one it expects */
	atomic_store_explicit(&s->d.seq, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy((char *)s + sizeof(s->d.seq), (const char *)in + sizeof(in->d.seq), len - sizeof(in->d.seq));
	atomic_store_explicit(&s->d.seq, n + 1, memory_order_release);
	atomic_store_explicit(&r->head, n + 1, memory_order_release);
}

/*
 * The reader: the record number *next (0-based) of ring r into *out (its
 * head_len bytes of head, never more than AZDS_DEC_HEAD_MAX). Returns 1
 * (got it, *next advanced), 0 (nothing new yet), or -1 (it was
 * overwritten: *next is moved to the oldest record still there and
 * *missed grows by how many were lost).
 */
static inline int azds_dec_get(struct azds_dec_ring *r, __u32 slots, __u64 *next, struct azds_dec_slot *out,
			       __u64 *missed)
{
	__u64 head = atomic_load_explicit(&r->head, memory_order_acquire);
	struct azds_dec_slot *s;
	__u64 want;
	size_t hl;

	if (*next >= head)
		return 0;
	if (head - *next > slots) {
		*missed += head - slots - *next;
		*next = head - slots;
		return -1;
	}
	s = &azds_dec_slots(r)[*next & (slots - 1)];
	want = *next + 1;
	if (atomic_load_explicit(&s->d.seq, memory_order_acquire) != want)
		goto lost;
	memcpy((char *)out + sizeof(out->d.seq), (const char *)s + sizeof(s->d.seq),
	       AZDS_DEC_SLOT_HDR - sizeof(out->d.seq));
	hl = out->head_len < AZDS_DEC_HEAD_MAX ? out->head_len : AZDS_DEC_HEAD_MAX;
	memcpy(out->head, s->head, hl);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->d.seq, memory_order_relaxed) != want) {
		memset(out->head, 0, hl); /* what was copied of an overwritten slot does not stay */
		goto lost;
	}
	out->head_len = (__u16)hl;
	atomic_store_explicit(&out->d.seq, want, memory_order_relaxed);
	(*next)++;
	return 1;
lost:
	(*missed)++;
	(*next)++;
	return -1;
}

#endif
