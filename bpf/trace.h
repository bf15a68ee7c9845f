/* SPDX-License-Identifier: MIT */
/*
 * HTTP trace capture (issue 9): the records that trace.bpf.c publishes to
 * the trace_rb ring buffer for the pods' TCP sockets, shared with the
 * controller's reader (userspace/trace). One definition on both sides;
 * docs/trace.md documents every field.
 *
 * A pod's socket is one whose local IPv4 address is a pod's (the pods map)
 * and whose cgroup is that pod's or one below it. For each such socket:
 *   - AZDS_TR_OPEN when it becomes established (connect or accept);
 *   - AZDS_TR_DATA for each send or receive call that moved bytes and whose
 *     first byte is an ASCII capital letter (where every request line and
 *     status line starts), with the first AZDS_TRACE_CAP bytes of it;
 *     other calls only advance the stream offsets;
 *   - AZDS_TR_CLOSE when it closes, with the bytes moved each way.
 * Bodies are never read past AZDS_TRACE_CAP bytes of a call that starts
 * like a head; userspace parses heads only and drops the rest.
 */
#ifndef AZDS_TRACE_H
#define AZDS_TRACE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AZDS_TRACE_CAP 512                    /* bytes captured of one call */
#define AZDS_TRACE_DEF_RING_BYTES (16u << 20) /* trace_rb, a power of two */

/* record types */
#define AZDS_TR_OPEN 1u
#define AZDS_TR_CLOSE 2u
#define AZDS_TR_DATA 3u

/* DATA: direction, from the pod's side */
#define AZDS_TR_SEND 0u
#define AZDS_TR_RECV 1u

/* flags */
#define AZDS_TR_F_ACTIVE 0x1u /* OPEN: the pod connected (else it accepted) */
#define AZDS_TR_F_FAULT 0x2u  /* DATA: the bytes could not be read (cap is 0) */

struct azds_trace_rec {
	__u64 ts_ns;  /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cookie; /* the socket's cookie (bpf_get_socket_cookie): one connection */
	__u64 seq;    /* DATA: stream offset of data[0]: bytes moved this way before the call */
	__u64 sent;   /* CLOSE: bytes the pod sent over the connection; else 0 */
	__u64 recvd;  /* CLOSE: bytes the pod received; else 0 */
	__u32 type;   /* AZDS_TR_* */
	__u32 dir;    /* DATA: AZDS_TR_SEND or AZDS_TR_RECV */
	__u32 len;    /* DATA: bytes the call moved (its return value) */
	__u32 cap;    /* DATA: bytes in data[], min(len, AZDS_TRACE_CAP) or 0 */
	__u32 space;  /* the pod's space id */
	__u32 flags;  /* AZDS_TR_F_* */
	__be32 laddr; /* local IPv4 address: the pod's (IPv4-mapped IPv6 as IPv4) */
	__be32 raddr; /* remote IPv4 address */
	__be16 lport; /* local port */
	__be16 rport; /* remote port */
	__u32 pad;
	char data[AZDS_TRACE_CAP]; /* DATA only: OPEN and CLOSE records end before it */
};
/*
 * A DATA record is AZDS_TRACE_HDR_BYTES + 128, + 256 or + AZDS_TRACE_CAP
 * bytes long (the smallest that holds cap): read its size from the ring,
 * never past it.
 */

#define AZDS_TRACE_HDR_BYTES 80u /* offsetof(struct azds_trace_rec, data) */

/*
 * trace_counts: per-CPU array, AZDS_TC__COUNT slots of __u64.
 * emitted + dropped is every record the programs meant to publish.
 */
#define AZDS_TC_EMITTED 0u /* records submitted to trace_rb */
#define AZDS_TC_DROPPED 1u /* records lost: trace_rb was full */
#define AZDS_TC_FAULTS 2u  /* DATA records whose bytes could not be read */
#define AZDS_TC__COUNT 4u

/*
 * trace_off: hash, key __u32 space id -> __u32 (any value): spaces whose
 * pods are not captured. A space that is not in it is captured.
 */
#define AZDS_TRACE_DEF_MAX_OFF 4096

#ifndef __bpf__
_Static_assert(sizeof(struct azds_trace_rec) == AZDS_TRACE_HDR_BYTES + AZDS_TRACE_CAP, "azds_trace_rec layout");
#endif

#endif
