// SPDX-License-Identifier: MIT
/*
 * 10,000 two-hop calls (web -> api -> data, through the router) with
 * about 20 in flight at any time, their records and decisions merged in
 * time order: each comes out as one request of two hops, each hop with
 * its own records (targets match), the child under its parent, the trace
 * id the traceparent's.
 */
#include "tt.h"

#define CALLS	    10000
#define CONNS	    32
#define EV_PER_CALL 10

struct ev {
	__u64 ts;
	struct tc *c; /* NULL: a decision */
	__u32 dir;
	char *buf;
	struct azds_dec d;
};

static int ev_cmp(const void *x, const void *y)
{
	const struct ev *a = x, *b = y;

	return a->ts < b->ts ? -1 : a->ts > b->ts;
}

struct check {
	size_t reqs, right;
};

static void check_emit(void *ctx, const struct azds_trace_req *req)
{
	struct check *k = ctx;
	const struct azds_trace_hop *r, *c;
	char want[40];
	int i;

	k->reqs++;
	if (req->nhops != 2)
		return;
	r = req->hops[0];
	c = req->hops[1];
	if (sscanf(r->target, "/bikes/%d", &i) != 1)
		return;
	snprintf(want, sizeof(want), "%032x", i + 1);
	char child[32];
	snprintf(child, sizeof(child), "/stock/%d", i);
	if (strcmp(req->trace_id, want) == 0 && strcmp(c->target, child) == 0 && c->parent == r->id && r->parent == 0 &&
	    !strcmp(r->caller, "web") && !strcmp(r->pod, "api-1") && !strcmp(c->caller, "api") &&
	    !strcmp(c->pod, "data-1") && r->end_ns - r->start_ns == 2100000 && c->end_ns - c->start_ns == 1100000)
		k->right++;
}

int main(void)
{
	static struct tc wc[CONNS], as[CONNS], ac[CONNS], ds[CONNS];
	struct ev *ev = calloc((size_t)CALLS * EV_PER_CALL, sizeof(*ev));
	struct check k = {0};
	struct azds_trace_asm *a = azds_trace_asm_new(&tt_model, NULL, check_emit, &k);
	struct azds_trace_stats st;
	char **owned = calloc((size_t)CALLS * 4, sizeof(*owned));
	size_t n = 0, nowned = 0;

	if (!ev || !a || !owned)
		return 1;
	for (int i = 0; i < CONNS; i++) {
		tc_init(&wc[i], a, WEB, (__u16)(41000 + i), VIP_API, 80);
		tc_init(&as[i], a, API, 8080, GW, (__u16)(51000 + i));
		tc_init(&ac[i], a, API, (__u16)(42000 + i), VIP_DATA, 80);
		tc_init(&ds[i], a, DATA, 8080, GW, (__u16)(52000 + i));
	}
	for (int i = 0; i < CALLS; i++) {
		int j = i % CONNS;
		__u64 t = MS(1) + (__u64)i * 100000; /* one every 100 us, each 2.1 ms long */
		char *r1, *r2, *p1, *p2;

		if (asprintf(&r1, "GET /bikes/%d HTTP/1.1\r\nHost: api\r\ntraceparent: 00-%032x-%016x-01\r\n\r\n", i,
			     i + 1, i + 1) < 0 ||
		    asprintf(&r2, "GET /stock/%d HTTP/1.1\r\nHost: data\r\ntraceparent: 00-%032x-%016x-01\r\n\r\n", i,
			     i + 1, i + 0x100000) < 0 ||
		    asprintf(&p1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") < 0 ||
		    asprintf(&p2, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") < 0)
			return 1;
		owned[nowned++] = r1;
		owned[nowned++] = r2;
		owned[nowned++] = p1;
		owned[nowned++] = p2;
		ev[n++] = (struct ev){t, &wc[j], AZDS_TR_SEND, r1, {0}};
		ev[n++] = (struct ev){t + 100000, NULL, 0, NULL,
				      tt_dec(t + 100000, &wc[j], &as[j], AZDS_DEC_OWN, 1, 1, SVC_API)};
		ev[n++] = (struct ev){t + 200000, &as[j], AZDS_TR_RECV, r1, {0}};
		ev[n++] = (struct ev){t + 500000, &ac[j], AZDS_TR_SEND, r2, {0}};
		ev[n++] = (struct ev){t + 600000, NULL, 0, NULL,
				      tt_dec(t + 600000, &ac[j], &ds[j], AZDS_DEC_OWN, 1, 1, SVC_DATA)};
		ev[n++] = (struct ev){t + 700000, &ds[j], AZDS_TR_RECV, r2, {0}};
		ev[n++] = (struct ev){t + 1500000, &ds[j], AZDS_TR_SEND, p2, {0}};
		ev[n++] = (struct ev){t + 1600000, &ac[j], AZDS_TR_RECV, p2, {0}};
		ev[n++] = (struct ev){t + 2000000, &as[j], AZDS_TR_SEND, p1, {0}};
		ev[n++] = (struct ev){t + 2100000, &wc[j], AZDS_TR_RECV, p1, {0}};
	}
	qsort(ev, n, sizeof(*ev), ev_cmp);
	for (size_t i = 0; i < n; i++) {
		if (ev[i].c)
			tc_ios(ev[i].c, ev[i].dir, ev[i].ts, ev[i].buf);
		else
			azds_trace_asm_decision(a, &ev[i].d);
		if (i % 100 == 99)
			azds_trace_asm_tick(a, ev[i].ts);
	}
	azds_trace_asm_tick(a, ev[n - 1].ts + 1);
	azds_trace_asm_flush(a);
	azds_trace_asm_stats(a, &st);
	printf("concurrent: %zu requests out, %zu right; %llu hops, %llu unparsed, %llu unanswered\n", k.reqs, k.right,
	       (unsigned long long)st.hops, (unsigned long long)st.unparsed, (unsigned long long)st.unanswered);
	CHECK_INT(k.reqs, CALLS);
	CHECK_INT(k.right, CALLS);
	CHECK_INT(st.hops, 2 * CALLS);
	CHECK_INT(st.unparsed, 0);
	CHECK_INT(st.unanswered, 0);
	azds_trace_asm_free(a);
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(ev);
	return tt_done("trace_concurrent");
}
