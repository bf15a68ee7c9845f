/* SPDX-License-Identifier: MIT */
/*
 * The router's routing decisions, for azds trace (issue 9): one record per
 * request the router routes or answers itself, in a shared-memory file the
 * router writes and the controller's trace reader maps read-only
 * (<run_dir>/decisions, mode 0600). No syscall on the request path: a
 * worker stores a 64-byte slot and bumps its head.
 *
 * Layout: struct azds_dec_file, then nworkers rings, each a struct
 * azds_dec_ring header (64 bytes) and AZDS_DEC_SLOTS slots. Each worker
 * is the only writer of its ring. A slot carries its sequence number
 * (n + 1 for the n-th record of that ring) stored last, with release;
 * the reader copies a slot and checks the number before and after, so a
 * slot overwritten while it was read counts as missed, never as garbage.
 * A reader that falls more than AZDS_DEC_SLOTS behind misses the oldest:
 * the writer never waits.
 *
 * The reader joins a pod's server-side records to a decision by the
 * upstream tuple (up_lport, up_raddr, up_rport: the backend pod sees the
 * router's connection from AZDS_GW_IP:up_lport), and a pod's client-side
 * records by the client tuple (cli_addr, cli_port, vaddr, vport).
 */
#ifndef AZDS_DECISIONS_H
#define AZDS_DECISIONS_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>

#define AZDS_DEC_MAGIC 0x617a6463u /* "azdc" */
#define AZDS_DEC_VERSION 1u
#define AZDS_DEC_SLOTS 8192u /* per worker, a power of two */
#define AZDS_DEC_MAX_WORKERS 64u /* rings in one file: a router's workers (ROUTER_MAX_WORKERS) */
#define AZDS_DEC_FILE "decisions"

/* why the router sent the request where it did */
#define AZDS_DEC_OWN 1u      /* the space the request asked for has the service */
#define AZDS_DEC_FALLBACK 2u /* an ancestor's copy served it (served_space) */
#define AZDS_DEC_REPLY 3u    /* no backend: the router answered (status) */

/* flags */
#define AZDS_DEC_F_INGRESS 0x1u /* from the local ingress (the host), not from a pod */

struct azds_dec {
	_Atomic __u64 seq;   /* n + 1 for the ring's n-th record; stored last */
	__u64 ts_ns;         /* CLOCK_MONOTONIC when the request was routed */
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
	__u16 status;        /* AZDS_DEC_REPLY: the status the router answered */
	__u32 flags;         /* AZDS_DEC_F_* */
};

struct azds_dec_ring {
	_Atomic __u64 head; /* records written so far */
	__u64 pad[7];
};

struct azds_dec_file {
	__u32 magic;
	__u32 version;
	__u32 nworkers;
	__u32 slots;     /* AZDS_DEC_SLOTS */
	__u64 start_ns;  /* CLOCK_MONOTONIC when the router created the file */
	__u64 pad[5];
};

_Static_assert(sizeof(struct azds_dec) == 64, "azds_dec layout");
_Static_assert(sizeof(struct azds_dec_ring) == 64, "azds_dec_ring layout");
_Static_assert(sizeof(struct azds_dec_file) == 64, "azds_dec_file layout");

static inline size_t azds_dec_file_bytes(__u32 nworkers)
{
	return sizeof(struct azds_dec_file) +
	       (size_t)nworkers * (sizeof(struct azds_dec_ring) + AZDS_DEC_SLOTS * sizeof(struct azds_dec));
}

static inline struct azds_dec_ring *azds_dec_ring_of(void *base, __u32 worker)
{
	return (struct azds_dec_ring *)((char *)base + sizeof(struct azds_dec_file) +
					(size_t)worker * (sizeof(struct azds_dec_ring) +
							  AZDS_DEC_SLOTS * sizeof(struct azds_dec)));
}

static inline struct azds_dec *azds_dec_slots(struct azds_dec_ring *r)
{
	return (struct azds_dec *)(r + 1);
}

/* The writer (one per ring): d->seq is ignored and set here. */
static inline void azds_dec_put(struct azds_dec_ring *r, const struct azds_dec *d)
{
	__u64 n = atomic_load_explicit(&r->head, memory_order_relaxed);
	struct azds_dec *s = &azds_dec_slots(r)[n & (AZDS_DEC_SLOTS - 1)];

	/* mark the slot as being rewritten first, so a reader that copies it
	 * meanwhile sees a number that is not the one it expects */
	atomic_store_explicit(&s->seq, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy((char *)s + sizeof(s->seq), (const char *)d + sizeof(d->seq), sizeof(*d) - sizeof(d->seq));
	atomic_store_explicit(&s->seq, n + 1, memory_order_release);
	atomic_store_explicit(&r->head, n + 1, memory_order_release);
}

/*
 * The reader: the record number *next (0-based) of ring r into *out.
 * Returns 1 (got it, *next advanced), 0 (nothing new yet), or -1 (it was
 * overwritten: *next is moved to the oldest record still there and
 * *missed grows by how many were lost).
 */
static inline int azds_dec_get(struct azds_dec_ring *r, __u64 *next, struct azds_dec *out, __u64 *missed)
{
	__u64 head = atomic_load_explicit(&r->head, memory_order_acquire);
	struct azds_dec *s;
	__u64 want;

	if (*next >= head)
		return 0;
	if (head - *next > AZDS_DEC_SLOTS) {
		*missed += head - AZDS_DEC_SLOTS - *next;
		*next = head - AZDS_DEC_SLOTS;
		return -1;
	}
	s = &azds_dec_slots(r)[*next & (AZDS_DEC_SLOTS - 1)];
	want = *next + 1;
	if (atomic_load_explicit(&s->seq, memory_order_acquire) != want)
		goto lost;
	memcpy((char *)out + sizeof(out->seq), (const char *)s + sizeof(s->seq), sizeof(*out) - sizeof(out->seq));
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->seq, memory_order_relaxed) != want)
		goto lost;
	atomic_store_explicit(&out->seq, want, memory_order_relaxed);
	(*next)++;
	return 1;
lost:
	(*missed)++;
	(*next)++;
	return -1;
}

#endif
