/* SPDX-License-Identifier: MIT */
/*
 * What the assembler's tests share: a small model (pods, spaces,
 * services), connections that produce capture records the way the
 * kernel does (a record only for calls that start with a capital letter,
 * at most AZDS_TRACE_CAP bytes of each), decisions, and an emit callback
 * that keeps each request's JSON.
 */
#ifndef AZDS_TRACE_TT_H
#define AZDS_TRACE_TT_H

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"
#include "../../bpf/trace.h"
#include "../../bpf/dataplane.h"

static int tt_failed;

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                       \
			tt_failed++;                                                                                   \
		}                                                                                                      \
	} while (0)

#define CHECK_STR(got, want)                                                                                           \
	do {                                                                                                           \
		const char *g_ = (got), *w_ = (want);                                                                  \
		if (!g_ || strcmp(g_, w_) != 0) {                                                                      \
			fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n", __FILE__, __LINE__, #got,                \
				g_ ? g_ : "(null)", w_);                                                               \
			tt_failed++;                                                                                   \
		}                                                                                                      \
	} while (0)

#define CHECK_INT(got, want)                                                                                           \
	do {                                                                                                           \
		long long g_ = (long long)(got), w_ = (long long)(want);                                               \
		if (g_ != w_) {                                                                                        \
			fprintf(stderr, "%s:%d: %s is %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_);           \
			tt_failed++;                                                                                   \
		}                                                                                                      \
	} while (0)

/* ---- the model ---- */

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TT_BE32(x) __builtin_bswap32(x)
#else
#define TT_BE32(x) (x)
#endif
/* constant expressions, for the tables below */
#define IP(a, b, c, d) TT_BE32((__u32)(a) << 24 | (__u32)(b) << 16 | (__u32)(c) << 8 | (__u32)(d))
#define GW	       TT_BE32(AZDS_GW_IP)

struct tt_pod {
	const char *name;
	__be32 addr;
	__u32 space;
	const char *service;
};

static const struct tt_pod tt_pods[] = {
    {"web-1", IP(10, 1, 0, 2), 1, "web"},     {"api-1", IP(10, 1, 0, 3), 1, "api"},
    {"data-1", IP(10, 1, 0, 4), 1, "data"},   {"api-alice", IP(10, 1, 1, 3), 2, "api"},
    {"web-alice", IP(10, 1, 1, 2), 2, "web"}, {"worker", IP(10, 1, 0, 9), 1, ""},
};

#define WEB	  IP(10, 1, 0, 2)
#define API	  IP(10, 1, 0, 3)
#define DATA	  IP(10, 1, 0, 4)
#define API_ALICE IP(10, 1, 1, 3)
#define WEB_ALICE IP(10, 1, 1, 2)
#define WORKER	  IP(10, 1, 0, 9)
#define VIP_API	  IP(10, 96, 0, 3)
#define VIP_DATA  IP(10, 96, 0, 4)
#define SVC_WEB	  1
#define SVC_API	  2
#define SVC_DATA  3

static inline bool tt_pod(void *ctx, __be32 addr, char name[AZDS_TRACE_NAME_MAX], __u32 *space,
			  char service[AZDS_TRACE_NAME_MAX])
{
	(void)ctx;
	for (size_t i = 0; i < sizeof(tt_pods) / sizeof(tt_pods[0]); i++)
		if (tt_pods[i].addr == addr) {
			snprintf(name, AZDS_TRACE_NAME_MAX, "%s", tt_pods[i].name);
			snprintf(service, AZDS_TRACE_NAME_MAX, "%s", tt_pods[i].service);
			*space = tt_pods[i].space;
			return true;
		}
	return false;
}

static inline bool tt_space(void *ctx, __u32 id, char path[AZDS_TRACE_PATH_MAX])
{
	static const char *const p[] = {NULL, "dev", "dev/alice"};

	(void)ctx;
	if (id < 1 || id > 2)
		return false;
	snprintf(path, AZDS_TRACE_PATH_MAX, "%s", p[id]);
	return true;
}

static inline bool tt_service(void *ctx, __u32 svc, char name[AZDS_TRACE_NAME_MAX])
{
	static const char *const s[] = {NULL, "web", "api", "data"};

	(void)ctx;
	if (svc < 1 || svc > 3)
		return false;
	snprintf(name, AZDS_TRACE_NAME_MAX, "%s", s[svc]);
	return true;
}

/* port in host order */
static inline bool tt_vip(void *ctx, __be32 addr, __u16 port, char name[AZDS_TRACE_NAME_MAX])
{
	(void)ctx;
	if (port != 80 || (addr != VIP_API && addr != VIP_DATA))
		return false;
	snprintf(name, AZDS_TRACE_NAME_MAX, "%s", addr == VIP_API ? "api" : "data");
	return true;
}

static const struct azds_trace_model tt_model = {NULL, tt_pod, tt_space, tt_service, tt_vip};

/* ---- time ---- */

#define T0    1000000000000ull
#define MS(x) (T0 + (__u64)((x)*1000000.0))

/* ---- what was emitted ---- */

#define TT_MAX_REQS 256

struct tt_got {
	json_t *req[TT_MAX_REQS];
	size_t n;
	size_t total_hops;
	bool show_query;
	const char *const *secrets; /* NULL-terminated: must appear in no emitted byte */
	size_t secret_hits;
	bool keep_json;
	size_t emitted, packed; /* calls of tt_emit and tt_packed: one each a request */
};

static inline bool tt_mem_has(const void *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

static inline void tt_emit(void *ctx, const struct azds_trace_req *req)
{
	struct tt_got *g = ctx;
	const struct azds_trace_json_opts o = {.show_query = g->show_query, .mono_to_unix_ns = 0};
	json_t *j;

	g->total_hops += req->nhops;
	g->emitted++;
	for (unsigned i = 0; g->secrets && i < req->nhops; i++)
		for (const char *const *s = g->secrets; *s; s++)
			if (tt_mem_has(req->hops[i], sizeof(*req->hops[i]), *s))
				g->secret_hits++;
	if (!g->keep_json && !g->secrets)
		return;
	{
		/* what the controller keeps (pack.c) gives the same text */
		static struct azds_trace_hop hops[AZDS_TRACE_HOPS_MAX];
		struct azds_trace_req back;
		char *pk = NULL, *t1 = azds_trace_req_text(req, &o, 7), *t2 = NULL;
		size_t n = azds_trace_req_pack(req, &pk);

		if (n && azds_trace_req_unpack(pk, n, hops, &back))
			t2 = azds_trace_req_text(&back, &o, 7);
		if (!t1 || !t2 || strcmp(t1, t2)) {
			fprintf(stderr, "packed and unpacked, the request reads differently:\n%s\n%s\n", t1 ? t1 : "-",
				t2 ? t2 : "-");
			tt_failed++;
		}
		if (n > 2 && azds_trace_req_unpack(pk, n - 1, hops, &back))
			tt_failed++; /* a cut one is refused */
		free(pk);
		free(t1);
		free(t2);
	}
	j = azds_trace_req_json(req, &o);
	if (!j)
		return;
	if (g->secrets) {
		char *d = json_dumps(j, 0);

		for (const char *const *s = g->secrets; d && *s; s++)
			if (strstr(d, *s))
				g->secret_hits++;
		free(d);
	}
	if (getenv("TT_DUMP")) {
		char *d = json_dumps(j, JSON_INDENT(1));

		fprintf(stderr, "%s\n", d ? d : "?");
		free(d);
	}
	if (g->keep_json && g->n < TT_MAX_REQS)
		g->req[g->n++] = j;
	else
		json_decref(j);
}

/* the packed form the controller keeps, written straight from the halves, is the struct form packed */
static inline void tt_packed(void *ctx, const struct azds_trace_req *req, const char *p, size_t n)
{
	struct tt_got *g = ctx;
	char *pk = NULL;
	size_t m = azds_trace_req_pack(req, &pk);

	g->packed++;
	if (m != n || memcmp(pk, p, n)) {
		fprintf(stderr, "FAIL: the packed emission (%zu bytes) is not the emitted request packed (%zu)\n", n, m);
		tt_failed++;
	}
	free(pk);
}

/* an assembler emitting to g both ways */
static inline struct azds_trace_asm *tt_asm_new(const struct azds_trace_limits *lim, struct tt_got *g)
{
	struct azds_trace_asm *a = azds_trace_asm_new(&tt_model, lim, tt_emit, g);

	if (a)
		azds_trace_asm_set_packed(a, tt_packed, g);
	return a;
}

static inline void tt_got_clear(struct tt_got *g)
{
	if (g->emitted != g->packed) {
		fprintf(stderr, "FAIL: %zu requests emitted, %zu packed\n", g->emitted, g->packed);
		tt_failed++;
	}
	g->emitted = g->packed = 0;
	for (size_t i = 0; i < g->n; i++)
		json_decref(g->req[i]);
	g->n = 0;
	g->total_hops = 0;
	g->secret_hits = 0;
}

static inline json_t *tt_hop(struct tt_got *g, size_t req, size_t hop)
{
	if (req >= g->n)
		return NULL;
	return json_array_get(json_object_get(g->req[req], "hops"), hop);
}

static inline size_t tt_nhops(struct tt_got *g, size_t req)
{
	return req < g->n ? json_array_size(json_object_get(g->req[req], "hops")) : 0;
}

static inline const char *tt_s(json_t *hop, const char *field)
{
	return json_string_value(json_object_get(hop, field));
}

static inline long long tt_i(json_t *hop, const char *field)
{
	return json_integer_value(json_object_get(hop, field));
}

static inline double tt_f(json_t *hop, const char *field)
{
	return json_number_value(json_object_get(hop, field));
}

static inline const char *tt_h(json_t *hop, const char *which, const char *name)
{
	return json_string_value(json_object_get(json_object_get(hop, which), name));
}

/* ---- connections ---- */

struct tc {
	struct azds_trace_asm *a;
	__u64 cookie;
	__be32 la, ra;
	__be16 lp, rp;
	__u32 space;
	__u64 seq[2];
};

static __u64 tt_next_cookie = 1;

static inline void tt_rec(struct tc *c, __u32 type, __u32 dir, __u64 ts, const char *buf, size_t n, __u32 flags)
{
	struct azds_trace_rec r;
	size_t cap = n < AZDS_TRACE_CAP ? n : AZDS_TRACE_CAP;

	memset(&r, 0, sizeof(r));
	r.ts_ns = ts;
	r.cookie = c->cookie;
	r.type = type;
	r.dir = dir;
	r.space = c->space;
	r.flags = flags;
	r.laddr = c->la;
	r.raddr = c->ra;
	r.lport = c->lp;
	r.rport = c->rp;
	if (type == AZDS_TR_DATA) {
		r.seq = c->seq[dir];
		r.len = (__u32)n;
		r.cap = (__u32)cap;
		memcpy(r.data, buf, cap);
		c->seq[dir] += n;
		azds_trace_asm_record(c->a, &r, AZDS_TRACE_HDR_BYTES + cap);
	} else {
		if (type == AZDS_TR_CLOSE) {
			r.sent = c->seq[AZDS_TR_SEND];
			r.recvd = c->seq[AZDS_TR_RECV];
		}
		azds_trace_asm_record(c->a, &r, AZDS_TRACE_HDR_BYTES);
	}
	memset(&r, 0, sizeof(r));
}

static inline void tc_init(struct tc *c, struct azds_trace_asm *a, __be32 la, __u16 lp, __be32 ra, __u16 rp)
{
	memset(c, 0, sizeof(*c));
	c->a = a;
	c->cookie = tt_next_cookie++;
	c->la = la;
	c->lp = htons(lp);
	c->ra = ra;
	c->rp = htons(rp);
	c->space = 1;
}

static inline void tc_open(struct tc *c, bool active, __u64 ts)
{
	tt_rec(c, AZDS_TR_OPEN, 0, ts, NULL, 0, active ? AZDS_TR_F_ACTIVE : 0);
}

/* one send or receive call: a record only when it starts with a capital letter, as the kernel does */
static inline void tc_io(struct tc *c, __u32 dir, __u64 ts, const char *buf, size_t n)
{
	if (n && buf[0] >= 'A' && buf[0] <= 'Z')
		tt_rec(c, AZDS_TR_DATA, dir, ts, buf, n, 0);
	else
		c->seq[dir] += n;
}

static inline void tc_ios(struct tc *c, __u32 dir, __u64 ts, const char *s)
{
	tc_io(c, dir, ts, s, strlen(s));
}

static inline void tc_close(struct tc *c, __u64 ts)
{
	tt_rec(c, AZDS_TR_CLOSE, 0, ts, NULL, 0, 0);
}

static inline struct azds_dec tt_dec(__u64 ts, const struct tc *client, const struct tc *server, __u16 reason,
				     __u32 start_space, __u32 served_space, __u32 svc)
{
	struct azds_dec d;

	memset(&d, 0, sizeof(d));
	d.ts_ns = ts;
	if (client) {
		d.cli_addr = client->la;
		d.cli_port = client->lp;
		d.vaddr = client->ra;
		d.vport = client->rp;
		d.caller_space = client->space;
	} else {
		d.flags = AZDS_DEC_F_INGRESS;
		d.cli_addr = IP(127, 0, 0, 1);
		d.cli_port = htons(55555);
	}
	if (server) {
		d.up_lport = server->rp;
		d.up_rport = server->lp;
		d.up_raddr = server->la;
	}
	d.start_space = start_space;
	d.served_space = served_space;
	d.svc = svc;
	d.reason = reason;
	return d;
}

static inline int tt_done(const char *name)
{
	if (tt_failed) {
		fprintf(stderr, "%s: %d checks failed\n", name, tt_failed);
		return 1;
	}
	printf("%s: ok\n", name);
	return 0;
}

#endif
