/* SPDX-License-Identifier: MIT */
/*
 * azds trace's assembler (issue 9): turns the kernel's capture records
 * (bpf/trace.h) and the router's decisions (userspace/lib/decisions.h)
 * into hops and requests. No I/O of its own: the controller's trace
 * reader feeds it and takes what it emits. docs/trace.md describes the
 * model and the JSON fields.
 *
 * A hop is one HTTP exchange served by a pod: the request and its response
 * as the serving pod saw them (its receive and send calls), joined with
 *   - the router's decision when the request came through the router
 *     (the backend sees the router's upstream connection: the decision with
 *     that upstream tuple and the nearest earlier time), which names the
 *     caller, the service asked for, and why that space served it ("own",
 *     "fell back to dev");
 *   - or, when it came straight from another pod (pod-to-pod, the kernel's
 *     balancer), the calling pod ("direct");
 *   - and the caller's own view where the caller is a pod: its send of the
 *     request and receive of the response head give the duration the caller
 *     saw, which is the one shown.
 * A request the router answered itself (no backend: 502, 503, 504, its 400s)
 * is a hop with reason "router", from the caller's records and the
 * decision.
 *
 * A request is a tree of hops: a hop's parent is the hop whose serving pod
 * made this call while it was serving it. A W3C traceparent shared by both
 * ties them exactly (same trace id); otherwise the call must come from the
 * parent's serving pod, carry the same route-as value (or none on both),
 * and start within the parent's server-side window (its request received,
 * its response not yet sent). A request is emitted once its root hop is
 * complete; hops that complete after their root are emitted on their own,
 * with the root's trace id.
 *
 * Heads are parsed with userspace/http's parser from the captured bytes:
 * per connection and direction, the assembler tracks where the next
 * message starts (from Content-Length; a chunked or until-close body, a
 * head cut by the capture, or a head it could not parse make it look for
 * the next record that starts like a head). Pipelined requests pair with
 * responses in order. Nothing in a record can make it crash, loop or grow
 * past its limits: bad input is counted and skipped.
 *
 * Privacy: the values of Authorization, Proxy-Authorization, Cookie and
 * Set-Cookie are replaced by "[redacted]" as they are parsed; nothing else
 * of them is kept. The target keeps its query string; azds_trace_req_json
 * removes it unless asked.
 */
#ifndef AZDS_TRACE_ASM_H
#define AZDS_TRACE_ASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <linux/types.h>
#include "../../bpf/trace.h" /* struct azds_trace_rec (the name trace.h is also this file's) */
#include "decisions.h" /* userspace/lib: struct azds_dec */

#define AZDS_TRACE_NAME_MAX 64
#define AZDS_TRACE_PATH_MAX 256
#define AZDS_TRACE_TARGET_MAX 512  /* longer targets are cut, with "truncated" set */
#define AZDS_TRACE_HEADERS_MAX 24  /* headers kept per message (after redaction) */
#define AZDS_TRACE_VALUE_MAX 128   /* of each kept header value, cut beyond */
#define AZDS_TRACE_HOPS_MAX 32     /* hops per emitted request; more go out on their own */

/* What the assembler asks of the controller's model. Each returns false when it does not know. */
struct azds_trace_model {
	void *ctx;
	/* a pod by address: its name, space id and first service ("" if none) */
	bool (*pod)(void *ctx, __be32 addr, char name[AZDS_TRACE_NAME_MAX], __u32 *space,
		    char service[AZDS_TRACE_NAME_MAX]);
	/* a space's path by id ("dev/alice") */
	bool (*space_path)(void *ctx, __u32 id, char path[AZDS_TRACE_PATH_MAX]);
	/* a service's name by id (struct azds_dec.svc) */
	bool (*service_name)(void *ctx, __u32 svc, char name[AZDS_TRACE_NAME_MAX]);
	/* a service's name by virtual address and port (pod-to-pod calls to a
	 * kernel-balanced service keep only the pod they reached; NULL allowed) */
	bool (*vip_name)(void *ctx, __be32 addr, __u16 port, char name[AZDS_TRACE_NAME_MAX]);
};

struct azds_trace_limits {
	size_t max_conns;     /* connections tracked at once (default 65536); the oldest idle one goes */
	size_t max_pending;   /* unanswered requests per connection (default 64) */
	size_t max_hops;      /* hops waiting for a root or a join (default 65536) */
	__u64 join_window_ns; /* how long a hop waits for its decision or caller records (default 2 s) */
	__u64 hop_timeout_ns; /* an unanswered request is given up after this (default 60 s) */
};

struct azds_trace_header {
	char name[AZDS_TRACE_NAME_MAX];  /* as sent (case kept) */
	char value[AZDS_TRACE_VALUE_MAX]; /* "[redacted]" for credentials */
};

struct azds_trace_msg {
	struct azds_trace_header headers[AZDS_TRACE_HEADERS_MAX];
	unsigned nheaders;
	bool truncated;        /* the head did not fit the capture: some headers are missing */
};

struct azds_trace_hop {
	__u64 id;              /* unique for the assembler's life, from 1 */
	__u64 parent;          /* 0 for a root */
	char trace_id[33];     /* 32 hex digits: the traceparent's, or one of the assembler's own */
	/* times, CLOCK_MONOTONIC ns: the caller's view where there is one, else the server's */
	__u64 start_ns, end_ns;
	__u64 server_start_ns, server_end_ns; /* the serving pod's view (0 when none) */
	/* the caller */
	char caller[AZDS_TRACE_NAME_MAX];       /* its service, else its pod name; "ingress" from the host */
	char caller_pod[AZDS_TRACE_NAME_MAX];   /* "" when not a pod */
	char caller_space[AZDS_TRACE_PATH_MAX]; /* "" when not a pod */
	/* what served it */
	char service[AZDS_TRACE_NAME_MAX];      /* the service asked for (else the serving pod's) */
	char pod[AZDS_TRACE_NAME_MAX];          /* the serving pod; "" when the router answered */
	char space[AZDS_TRACE_PATH_MAX];        /* the serving pod's space */
	char asked_space[AZDS_TRACE_PATH_MAX];  /* the space the request asked for */
	char reason[AZDS_TRACE_PATH_MAX + 16];  /* "own", "fell back to dev", "direct", "router" */
	/* the exchange */
	char method[16];
	char target[AZDS_TRACE_TARGET_MAX];     /* as sent, with its query */
	char route_as[AZDS_TRACE_NAME_MAX];
	char traceparent[56];
	int status;                             /* 0: no response (timed out, closed) */
	int minor_version;
	__u64 req_bytes, resp_bytes;            /* Content-Length, when given */
	struct azds_trace_msg req, resp;
	bool truncated;                         /* target cut, or a head cut by the capture */
};

struct azds_trace_req {
	char trace_id[33];
	unsigned nhops;
	const struct azds_trace_hop *hops[AZDS_TRACE_HOPS_MAX]; /* root first, then depth-first */
};

struct azds_trace_stats {
	__u64 records, decisions;  /* taken in */
	__u64 hops, requests;      /* emitted */
	__u64 unparsed;            /* heads the parser refused or that were not heads */
	__u64 unanswered;          /* requests given up (timeout, closed without a response) */
	__u64 evicted;             /* state dropped at a limit */
	__u64 bad_records;         /* records too short or inconsistent */
};

/* called for each completed request; req and its hops are valid during the call only */
typedef void (*azds_trace_emit_fn)(void *ctx, const struct azds_trace_req *req);
/*
 * The same, packed (azds_trace_req_pack's bytes, valid during the call
 * only), for a caller that keeps requests packed: the packed form is
 * written straight from the assembler's own halves, and req's hops carry
 * every field but their headers (nheaders 0; the headers are in the packed
 * bytes) unless a struct emit function is set too.
 */
typedef void (*azds_trace_emit_packed_fn)(void *ctx, const struct azds_trace_req *req, const char *packed,
					  size_t len);

struct azds_trace_asm;

/* lim may be NULL (defaults); returns NULL on ENOMEM */
struct azds_trace_asm *azds_trace_asm_new(const struct azds_trace_model *m, const struct azds_trace_limits *lim,
					  azds_trace_emit_fn emit, void *emit_ctx);
void azds_trace_asm_free(struct azds_trace_asm *a);
/* emit packed too (fn NULL: no longer); with emit NULL in azds_trace_asm_new, packed only */
void azds_trace_asm_set_packed(struct azds_trace_asm *a, azds_trace_emit_packed_fn fn, void *ctx);
/* one ring-buffer record as read (len: its size; short ones are counted and skipped) */
void azds_trace_asm_record(struct azds_trace_asm *a, const void *rec, size_t len);
void azds_trace_asm_decision(struct azds_trace_asm *a, const struct azds_dec *d);
/* one slot of a router's decisions file (decisions.h): a routed request with
 * its head (its response follows by xid), a request the router answered, or
 * a routed request's response. The hops these make wait for no capture record. */
void azds_trace_asm_slot(struct azds_trace_asm *a, const struct azds_dec_slot *s);
/* time passes (CLOCK_MONOTONIC ns): joins that waited long enough are made
 * without what did not come, unanswered requests time out */
void azds_trace_asm_tick(struct azds_trace_asm *a, __u64 now_ns);
/* everything still held is emitted as it stands (shutdown, tests) */
void azds_trace_asm_flush(struct azds_trace_asm *a);
void azds_trace_asm_stats(const struct azds_trace_asm *a, struct azds_trace_stats *out);

/* JSON of one request (docs/trace.md); show_query false cuts each target at '?' */
struct azds_trace_json_opts {
	bool show_query;
	__s64 mono_to_unix_ns; /* added to CLOCK_MONOTONIC times to give unix time */
};
json_t *azds_trace_req_json(const struct azds_trace_req *req, const struct azds_trace_json_opts *o);
/* the same as JSON text (ASCII, compact), with "seq": seq appended unless 0; malloc'd, NULL on ENOMEM */
char *azds_trace_req_text(const struct azds_trace_req *req, const struct azds_trace_json_opts *o, __u64 seq);

/* A request packed small (pack.c), for keeping until a reader asks: its
 * length (*out malloc'd), 0 on ENOMEM or a request with a hole. */
size_t azds_trace_req_pack(const struct azds_trace_req *req, char **out);
/* the same into *buf (*cap bytes, grown with realloc; *buf NULL to start),
 * for a caller that packs many: the length, 0 on ENOMEM or a hole (*buf kept) */
size_t azds_trace_req_pack_buf(const struct azds_trace_req *req, char **buf, size_t *cap);
/* ... and back, into hops[AZDS_TRACE_HOPS_MAX] that req then points into;
 * false for bytes that are not a whole packed request */
bool azds_trace_req_unpack(const char *p, size_t n, struct azds_trace_hop *hops, struct azds_trace_req *req);

#endif
