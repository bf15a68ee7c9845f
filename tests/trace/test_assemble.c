// SPDX-License-Identifier: MIT
/*
 * The assembler on synthetic records: routed hops (own, fallback),
 * two-hop calls with and without traceparent, query strings, late
 * decisions, and the stream cases (pipelining, split and cut heads,
 * bodies that look like heads, chunked responses).
 */
#include <math.h>

#include "tt.h"

static struct azds_trace_asm *new_asm(struct tt_got *g)
{
	struct azds_trace_asm *a;

	tt_got_clear(g);
	g->keep_json = true;
	a = tt_asm_new(NULL, g);
	if (!a) {
		fprintf(stderr, "azds_trace_asm_new failed\n");
		exit(1);
	}
	return a;
}

#define RESP_OK "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

/*
 * A caller pod's call through the router to a backend pod: the caller's
 * connection (to the service address), the backend's (from the router),
 * the decision. t: the caller's send; the rest follows at fixed offsets.
 */
struct call {
	struct tc cli, srv;
	double t;
};

static void routed_call(struct azds_trace_asm *a, struct call *k, __be32 caller, __u16 cport, __be32 vip,
			__be32 backend, __u16 up_lport, double t, const char *req, const char *resp, __u16 reason,
			__u32 start_space, __u32 served_space, __u32 svc, bool feed_decision)
{
	struct azds_dec d;

	tc_init(&k->cli, a, caller, cport, vip, 80);
	tc_init(&k->srv, a, backend, 8080, GW, up_lport);
	k->srv.space = served_space ? served_space : 1;
	k->t = t;
	tc_open(&k->cli, true, MS(t - 0.01));
	tc_ios(&k->cli, AZDS_TR_SEND, MS(t), req);
	d = tt_dec(MS(t + 0.1), &k->cli, &k->srv, reason, start_space, served_space, svc);
	if (feed_decision)
		azds_trace_asm_decision(a, &d);
	tc_open(&k->srv, false, MS(t + 0.15));
	tc_ios(&k->srv, AZDS_TR_RECV, MS(t + 0.2), req);
	tc_ios(&k->srv, AZDS_TR_SEND, MS(t + 3.0), resp);
	tc_ios(&k->cli, AZDS_TR_RECV, MS(t + 3.1), resp);
}

static void test_routed_own(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = new_asm(&g);
	struct azds_trace_stats st;
	struct call k;
	json_t *h;

	routed_call(a, &k, WEB, 40000, VIP_API, API, 50000, 0,
		    "GET /bikes?color=red HTTP/1.1\r\nHost: api\r\nAccept: */*\r\n\r\n", RESP_OK, AZDS_DEC_OWN, 1, 1,
		    SVC_API, true);
	azds_trace_asm_tick(a, MS(4));
	CHECK_INT(g.n, 1);
	CHECK_INT(tt_nhops(&g, 0), 1);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "caller"), "web");
	CHECK_STR(tt_s(h, "caller_pod"), "web-1");
	CHECK_STR(tt_s(h, "caller_space"), "dev");
	CHECK_STR(tt_s(h, "service"), "api");
	CHECK_STR(tt_s(h, "pod"), "api-1");
	CHECK_STR(tt_s(h, "space"), "dev");
	CHECK_STR(tt_s(h, "asked_space"), "dev");
	CHECK_STR(tt_s(h, "reason"), "own");
	CHECK_STR(tt_s(h, "method"), "GET");
	CHECK_STR(tt_s(h, "target"), "/bikes"); /* the query is cut by default */
	CHECK_INT(tt_i(h, "status"), 200);
	CHECK_INT(tt_i(h, "parent"), 0);
	CHECK_INT(tt_i(h, "resp_bytes"), 2);
	CHECK(fabs(tt_f(h, "duration_ms") - 3.1) < 1e-9); /* the caller's view */
	CHECK(fabs(tt_f(h, "server_ms") - 2.8) < 1e-9);
	CHECK_STR(tt_h(h, "request_headers", "Accept"), "*/*");
	CHECK_STR(tt_h(h, "response_headers", "Content-Length"), "2");
	CHECK(json_is_false(json_object_get(h, "truncated")));
	CHECK_INT(strlen(json_string_value(json_object_get(g.req[0], "trace_id"))), 32);
	CHECK_INT(json_integer_value(json_object_get(g.req[0], "time")), (long long)(MS(0) / 1000000));

	/* nothing else comes out later: the caller's half went into the hop */
	azds_trace_asm_tick(a, MS(100000));
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 1);
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.hops, 1);
	CHECK_INT(st.requests, 1);
	CHECK_INT(st.unparsed, 0);
	CHECK_INT(st.unanswered, 0);
	CHECK_INT(st.bad_records, 0);
	CHECK_INT(st.decisions, 1);
	azds_trace_asm_free(a);

	/* the same with the query shown */
	a = new_asm(&g);
	g.show_query = true;
	routed_call(a, &k, WEB, 40000, VIP_API, API, 50000, 0, "GET /bikes?color=red HTTP/1.1\r\nHost: api\r\n\r\n",
		    RESP_OK, AZDS_DEC_OWN, 1, 1, SVC_API, true);
	azds_trace_asm_tick(a, MS(4));
	CHECK_INT(g.n, 1);
	CHECK_STR(tt_s(tt_hop(&g, 0, 0), "target"), "/bikes?color=red");
	g.show_query = false;
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

static void test_routed_fallback(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = new_asm(&g);
	struct call k;
	json_t *h;

	/* alice's web asks for dev/alice's data, which dev/alice has not: dev's serves */
	routed_call(a, &k, WEB_ALICE, 40001, VIP_DATA, DATA, 50001, 0,
		    "GET /stock HTTP/1.1\r\nHost: data\r\nazds-route-as: alice\r\n\r\n",
		    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", AZDS_DEC_FALLBACK, 2, 1, SVC_DATA,
		    true);
	azds_trace_asm_tick(a, MS(10));
	CHECK_INT(g.n, 1);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "caller"), "web");
	CHECK_STR(tt_s(h, "caller_pod"), "web-alice");
	CHECK_STR(tt_s(h, "caller_space"), "dev/alice");
	CHECK_STR(tt_s(h, "service"), "data");
	CHECK_STR(tt_s(h, "pod"), "data-1");
	CHECK_STR(tt_s(h, "space"), "dev");
	CHECK_STR(tt_s(h, "asked_space"), "dev/alice");
	CHECK_STR(tt_s(h, "reason"), "fell back to dev");
	CHECK_STR(tt_s(h, "route_as"), "alice");
	CHECK_STR(tt_s(h, "target"), "/stock");
	CHECK_INT(tt_i(h, "status"), 503);
	CHECK(fabs(tt_f(h, "duration_ms") - 3.1) < 1e-9);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* web -> api -> data: each call through the router */
static void two_hop(struct tt_got *g, const char *tp_web, const char *tp_api, bool tick_each)
{
	struct azds_trace_asm *a = new_asm(g);
	struct tc wc, as, ac, ds;
	struct azds_dec d1, d2;
	char req1[256], req2[256];
	const char *resp2 = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndata";
	const char *resp1 = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\napi";
	__u64 now = MS(0);

#define STEP(x)                                                                                                        \
	do {                                                                                                           \
		x;                                                                                                     \
		if (tick_each)                                                                                         \
			azds_trace_asm_tick(a, now);                                                                   \
	} while (0)

	snprintf(req1, sizeof(req1), "GET /bikes HTTP/1.1\r\nHost: api\r\n%s%s%s\r\n", tp_web ? "traceparent: " : "",
		 tp_web ? tp_web : "", tp_web ? "\r\n" : "");
	snprintf(req2, sizeof(req2), "GET /stock/7 HTTP/1.1\r\nHost: data\r\n%s%s%s\r\n", tp_api ? "traceparent: " : "",
		 tp_api ? tp_api : "", tp_api ? "\r\n" : "");
	tc_init(&wc, a, WEB, 41000, VIP_API, 80);
	tc_init(&as, a, API, 8080, GW, 51000);
	tc_init(&ac, a, API, 42000, VIP_DATA, 80);
	tc_init(&ds, a, DATA, 8080, GW, 52000);
	d1 = tt_dec(MS(0.1), &wc, &as, AZDS_DEC_OWN, 1, 1, SVC_API);
	d2 = tt_dec(MS(0.6), &ac, &ds, AZDS_DEC_OWN, 1, 1, SVC_DATA);
	STEP(tc_open(&wc, true, now = MS(0)));
	STEP(tc_ios(&wc, AZDS_TR_SEND, now = MS(0), req1));
	STEP(azds_trace_asm_decision(a, &d1));
	STEP(tc_open(&as, false, now = MS(0.15)));
	STEP(tc_ios(&as, AZDS_TR_RECV, now = MS(0.2), req1));
	STEP(tc_open(&ac, true, now = MS(0.45)));
	STEP(tc_ios(&ac, AZDS_TR_SEND, now = MS(0.5), req2));
	STEP(azds_trace_asm_decision(a, &d2));
	STEP(tc_open(&ds, false, now = MS(0.65)));
	STEP(tc_ios(&ds, AZDS_TR_RECV, now = MS(0.7), req2));
	STEP(tc_ios(&ds, AZDS_TR_SEND, now = MS(1.5), resp2));
	STEP(tc_ios(&ac, AZDS_TR_RECV, now = MS(1.6), resp2));
	STEP(tc_ios(&as, AZDS_TR_SEND, now = MS(2.0), resp1));
	STEP(tc_ios(&wc, AZDS_TR_RECV, now = MS(2.1), resp1));
	azds_trace_asm_tick(a, MS(2.2));
	azds_trace_asm_tick(a, MS(10000));
	azds_trace_asm_flush(a);
	azds_trace_asm_free(a);
#undef STEP
}

static void check_two_hop(struct tt_got *g, const char *trace_id)
{
	json_t *r, *c;

	CHECK_INT(g->n, 1);
	CHECK_INT(tt_nhops(g, 0), 2);
	r = tt_hop(g, 0, 0);
	c = tt_hop(g, 0, 1);
	CHECK_STR(tt_s(r, "caller"), "web");
	CHECK_STR(tt_s(r, "service"), "api");
	CHECK_STR(tt_s(r, "pod"), "api-1");
	CHECK_STR(tt_s(r, "target"), "/bikes");
	CHECK_INT(tt_i(r, "parent"), 0);
	CHECK(fabs(tt_f(r, "duration_ms") - 2.1) < 1e-9);
	CHECK_STR(tt_s(c, "caller"), "api");
	CHECK_STR(tt_s(c, "caller_pod"), "api-1");
	CHECK_STR(tt_s(c, "service"), "data");
	CHECK_STR(tt_s(c, "pod"), "data-1");
	CHECK_STR(tt_s(c, "reason"), "own");
	CHECK_STR(tt_s(c, "target"), "/stock/7");
	CHECK_INT(tt_i(c, "parent"), tt_i(r, "id"));
	CHECK(tt_i(c, "id") != tt_i(r, "id"));
	CHECK(fabs(tt_f(c, "duration_ms") - 1.1) < 1e-9);
	if (trace_id && g->n)
		CHECK_STR(json_string_value(json_object_get(g->req[0], "trace_id")), trace_id);
}

static void test_two_hop(void)
{
	static const char tid[] = "4bf92f3577b34da6a3ce929d0e0e4736";
	struct tt_got g = {0};

	for (int each = 0; each < 2; each++) {
		printf("two_hop: tick after each event: %d\n", each);
		two_hop(&g, NULL, NULL, each);
		check_two_hop(&g, NULL);
		two_hop(&g, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			"00-4bf92f3577b34da6a3ce929d0e0e4736-a0f067aa0ba902b8-01", each);
		check_two_hop(&g, tid);
		CHECK_STR(tt_s(tt_hop(&g, 0, 1), "traceparent"),
			  "00-4bf92f3577b34da6a3ce929d0e0e4736-a0f067aa0ba902b8-01");
	}
	tt_got_clear(&g);
}

/* a decision that comes after the records: within the window it joins, after it the hop goes without */
static void test_late_decision(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = new_asm(&g);
	struct call k;
	struct azds_dec d;
	json_t *h;

	routed_call(a, &k, WEB, 40002, VIP_API, API, 50002, 0, "GET /late HTTP/1.1\r\nHost: api\r\n\r\n", RESP_OK,
		    AZDS_DEC_OWN, 1, 1, SVC_API, false);
	azds_trace_asm_tick(a, MS(500));
	CHECK_INT(g.n, 0); /* still waiting for the decision */
	d = tt_dec(MS(0.1), &k.cli, &k.srv, AZDS_DEC_OWN, 1, 1, SVC_API);
	azds_trace_asm_decision(a, &d);
	azds_trace_asm_tick(a, MS(501));
	CHECK_INT(g.n, 1);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "caller"), "web");
	CHECK_STR(tt_s(h, "reason"), "own");
	CHECK(fabs(tt_f(h, "duration_ms") - 3.1) < 1e-9);
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 1);
	azds_trace_asm_free(a);

	a = new_asm(&g);
	routed_call(a, &k, WEB, 40003, VIP_API, API, 50003, 0, "GET /later HTTP/1.1\r\nHost: api\r\n\r\n", RESP_OK,
		    AZDS_DEC_OWN, 1, 1, SVC_API, false);
	azds_trace_asm_tick(a, MS(3.0 + 2000 + 1));
	/* out without it: the backend's hop (no caller known) and the caller's unanswered-by-a-pod call */
	CHECK(g.n >= 1);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "pod"), "api-1");
	CHECK_STR(tt_s(h, "caller"), "");
	CHECK_STR(tt_s(h, "reason"), "");
	CHECK_STR(tt_s(h, "target"), "/later");
	CHECK(fabs(tt_f(h, "duration_ms") - 2.8) < 1e-9); /* the server's view */
	d = tt_dec(MS(0.1), &k.cli, &k.srv, AZDS_DEC_OWN, 1, 1, SVC_API);
	azds_trace_asm_decision(a, &d);
	size_t n = g.n;
	azds_trace_asm_tick(a, MS(10000));
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, n); /* the late decision changes nothing */
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* a router answer: the caller's half and a REPLY decision make the hop */
static void test_router_reply(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = new_asm(&g);
	struct tc c;
	struct azds_dec d;
	json_t *h;

	tc_init(&c, a, WEB, 40010, VIP_API, 80);
	tc_open(&c, true, MS(0));
	tc_ios(&c, AZDS_TR_SEND, MS(0.1), "GET /none HTTP/1.1\r\nHost: api\r\n\r\n");
	d = tt_dec(MS(0.2), &c, NULL, AZDS_DEC_REPLY, 1, 0, SVC_API);
	d.flags = 0;
	d.cli_addr = c.la;
	d.cli_port = c.lp;
	d.status = 503;
	azds_trace_asm_decision(a, &d);
	tc_ios(&c, AZDS_TR_RECV, MS(0.4), "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
	azds_trace_asm_tick(a, MS(0.5));
	CHECK_INT(g.n, 1);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "reason"), "router");
	CHECK_STR(tt_s(h, "pod"), "");
	CHECK_STR(tt_s(h, "caller"), "web");
	CHECK_STR(tt_s(h, "service"), "api");
	CHECK_INT(tt_i(h, "status"), 503);
	CHECK(fabs(tt_f(h, "duration_ms") - 0.3) < 1e-9);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* pod to pod without the router: two pipelined requests in one call, their responses in one */
static void test_pipelined_direct(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = new_asm(&g);
	struct tc c, s;
	const char *reqs =
	    "GET /a HTTP/1.1\r\nHost: api\r\n\r\nPOST /b HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\n\r\n"
	    "hello";
	const char *resps = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 404 Not Found\r\n"
			    "Content-Length: 0\r\n\r\n";
	json_t *h;

	tc_init(&c, a, WEB, 43000, API, 8080);
	tc_init(&s, a, API, 8080, WEB, 43000);
	tc_open(&c, true, MS(0));
	tc_open(&s, false, MS(0));
	tc_ios(&c, AZDS_TR_SEND, MS(0.1), reqs);
	tc_ios(&s, AZDS_TR_RECV, MS(0.2), reqs);
	tc_ios(&s, AZDS_TR_SEND, MS(1.0), resps);
	tc_ios(&c, AZDS_TR_RECV, MS(1.1), resps);
	azds_trace_asm_tick(a, MS(1.2));
	CHECK_INT(g.n, 2);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "target"), "/a");
	CHECK_INT(tt_i(h, "status"), 200);
	CHECK_STR(tt_s(h, "reason"), "direct");
	CHECK_STR(tt_s(h, "caller"), "web");
	CHECK_STR(tt_s(h, "caller_pod"), "web-1");
	CHECK_STR(tt_s(h, "service"), "api");
	CHECK_STR(tt_s(h, "pod"), "api-1");
	CHECK(fabs(tt_f(h, "duration_ms") - 1.0) < 1e-9);
	h = tt_hop(&g, 1, 0);
	CHECK_STR(tt_s(h, "target"), "/b");
	CHECK_STR(tt_s(h, "method"), "POST");
	CHECK_INT(tt_i(h, "req_bytes"), 5);
	CHECK_INT(tt_i(h, "status"), 404);
	CHECK_STR(tt_s(h, "reason"), "direct");

	/* a third request on the same connection is still found after the bodies */
	tc_ios(&c, AZDS_TR_SEND, MS(2.0), "GET /c HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_ios(&s, AZDS_TR_RECV, MS(2.1), "GET /c HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(2.5), "HTTP/1.1 204 No Content\r\n\r\n");
	tc_ios(&c, AZDS_TR_RECV, MS(2.6), "HTTP/1.1 204 No Content\r\n\r\n");
	tc_close(&c, MS(3));
	tc_close(&s, MS(3));
	azds_trace_asm_tick(a, MS(3));
	CHECK_INT(g.n, 3);
	CHECK_STR(tt_s(tt_hop(&g, 2, 0), "target"), "/c");
	CHECK_INT(tt_i(tt_hop(&g, 2, 0), "status"), 204);
	struct azds_trace_stats st;
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.unparsed, 0);
	CHECK_INT(st.unanswered, 0);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* the server's side only, from an address outside the pods: it goes out at once */
struct solo {
	struct tc s;
};

static struct azds_trace_asm *solo_start(struct tt_got *g, struct tc *s)
{
	struct azds_trace_asm *a = new_asm(g);

	tc_init(s, a, API, 8080, IP(192, 168, 7, 7), 33333);
	tc_open(s, false, MS(0));
	return a;
}

static void test_split_head(void)
{
	struct tt_got g = {0};
	struct tc s;
	struct azds_trace_asm *a = solo_start(&g, &s);
	json_t *h;

	tc_ios(&s, AZDS_TR_RECV, MS(0.1), "GET /split HTTP/1.1\r\nHost: api\r\n");
	tc_ios(&s, AZDS_TR_RECV, MS(0.2), "X-Two: 2\r\nContent-Length: 3\r\n\r\nabc");
	tc_ios(&s, AZDS_TR_SEND, MS(0.5), RESP_OK);
	azds_trace_asm_tick(a, MS(1));
	CHECK_INT(g.n, 1);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "target"), "/split");
	CHECK_STR(tt_h(h, "request_headers", "Host"), "api");
	CHECK_STR(tt_h(h, "request_headers", "X-Two"), "2");
	CHECK_INT(tt_i(h, "req_bytes"), 3);
	CHECK_INT(tt_i(h, "status"), 200);
	CHECK_STR(tt_s(h, "caller"), "192.168.7.7");
	CHECK(json_is_false(json_object_get(h, "truncated")));
	CHECK(fabs(tt_f(h, "duration_ms") - 0.4) < 1e-9); /* from the head's first call */
	/* the next request, after the split one's body, is where it should be */
	tc_ios(&s, AZDS_TR_RECV, MS(2), "DELETE /x HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(2.5), RESP_OK);
	azds_trace_asm_tick(a, MS(3));
	CHECK_INT(g.n, 2);
	CHECK_STR(tt_s(tt_hop(&g, 1, 0), "method"), "DELETE");
	struct azds_trace_stats st;
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.unparsed, 0);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

static void test_cut_head(void)
{
	struct tt_got g = {0};
	struct tc s;
	struct azds_trace_asm *a = solo_start(&g, &s);
	char req[2048], filler[301];
	json_t *h;

	memset(filler, 'x', 300);
	filler[300] = 0;
	snprintf(req, sizeof(req),
		 "GET /long HTTP/1.1\r\nHost: api\r\nX-First: 1\r\nX-Filler: %s\r\nX-Cut: %s\r\nX-Lost: 1\r\n\r\n",
		 filler, filler);
	CHECK(strlen(req) > AZDS_TRACE_CAP);
	tc_ios(&s, AZDS_TR_RECV, MS(0.1), req);
	tc_ios(&s, AZDS_TR_SEND, MS(0.5), RESP_OK);
	azds_trace_asm_tick(a, MS(1));
	CHECK_INT(g.n, 1);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "method"), "GET");
	CHECK_STR(tt_s(h, "target"), "/long");
	CHECK(json_is_true(json_object_get(h, "truncated")));
	CHECK_STR(tt_h(h, "request_headers", "Host"), "api");
	CHECK_STR(tt_h(h, "request_headers", "X-First"), "1");
	/* a value is kept up to AZDS_TRACE_VALUE_MAX - 1 bytes */
	CHECK_INT(strlen(tt_h(h, "request_headers", "X-Filler")), AZDS_TRACE_VALUE_MAX - 1);
	CHECK(!json_object_get(json_object_get(h, "request_headers"), "X-Cut"));
	CHECK(!json_object_get(json_object_get(h, "request_headers"), "X-Lost"));
	CHECK_INT(tt_i(h, "status"), 200);

	/* a target longer than the capture */
	char lt[1024];
	memset(lt, 'a', 700);
	lt[0] = '/';
	lt[700] = 0;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: api\r\n\r\n", lt);
	tc_ios(&s, AZDS_TR_RECV, MS(2), req);
	tc_ios(&s, AZDS_TR_SEND, MS(2.5), RESP_OK);
	azds_trace_asm_tick(a, MS(3));
	CHECK_INT(g.n, 2);
	h = tt_hop(&g, 1, 0);
	CHECK(json_is_true(json_object_get(h, "truncated")));
	CHECK_STR(tt_s(h, "method"), "GET");
	CHECK(strlen(tt_s(h, "target")) > 400 && strncmp(tt_s(h, "target"), "/aaaa", 5) == 0);
	CHECK_INT(tt_i(h, "status"), 200);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* a body that starts like a head, in its own call, is body when Content-Length says so */
static void test_body_like_head(void)
{
	struct tt_got g = {0};
	struct tc s;
	struct azds_trace_asm *a = solo_start(&g, &s);
	const char *body = "GET /fake HTTP/1.1\r\n\r\n", *rbody = "HTTP/1.1 299 Not a head\r\n\r\n";
	char req[256];
	struct azds_trace_stats st;

	snprintf(req, sizeof(req), "POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: %zu\r\n\r\n", strlen(body));
	tc_ios(&s, AZDS_TR_RECV, MS(0.1), req);
	tc_ios(&s, AZDS_TR_RECV, MS(0.2), body);
	snprintf(req, sizeof(req), "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\n\r\n", strlen(rbody));
	tc_ios(&s, AZDS_TR_SEND, MS(0.5), req);
	tc_ios(&s, AZDS_TR_SEND, MS(0.6), rbody); /* body again */
	tc_ios(&s, AZDS_TR_RECV, MS(1.0), "GET /next HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(1.5), RESP_OK);
	azds_trace_asm_tick(a, MS(2));
	CHECK_INT(g.n, 2);
	CHECK_STR(tt_s(tt_hop(&g, 0, 0), "target"), "/upload");
	CHECK_INT(tt_i(tt_hop(&g, 0, 0), "status"), 201);
	CHECK_STR(tt_s(tt_hop(&g, 1, 0), "target"), "/next");
	CHECK_INT(tt_i(tt_hop(&g, 1, 0), "status"), 200);
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.unparsed, 0);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

static void test_chunked(void)
{
	struct tt_got g = {0};
	struct tc s;
	struct azds_trace_asm *a = solo_start(&g, &s);

	/* the body in later calls: the next response is found by its status line */
	tc_ios(&s, AZDS_TR_RECV, MS(0.1), "GET /1 HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(0.5), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(0.6), "5\r\nhello\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(0.7), "0\r\n\r\n");
	tc_ios(&s, AZDS_TR_RECV, MS(1.0), "GET /2 HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(1.5), "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
	/* a whole chunked body in the call of its head, the next response right behind it */
	tc_ios(&s, AZDS_TR_RECV, MS(2.0), "GET /3 HTTP/1.1\r\nHost: api\r\n\r\nGET /4 HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(2.5),
	       "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
	       "HTTP/1.1 203 OK\r\nContent-Length: 0\r\n\r\n");
	azds_trace_asm_tick(a, MS(3));
	CHECK_INT(g.n, 4);
	CHECK_INT(tt_i(tt_hop(&g, 0, 0), "status"), 200);
	CHECK_INT(tt_i(tt_hop(&g, 1, 0), "status"), 201);
	CHECK_STR(tt_s(tt_hop(&g, 1, 0), "target"), "/2");
	CHECK_INT(tt_i(tt_hop(&g, 2, 0), "status"), 202);
	CHECK_STR(tt_s(tt_hop(&g, 3, 0), "target"), "/4");
	CHECK_INT(tt_i(tt_hop(&g, 3, 0), "status"), 203);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* HEAD and 304 responses have no body even with Content-Length; 100 Continue is interim */
static void test_no_body_responses(void)
{
	struct tt_got g = {0};
	struct tc s;
	struct azds_trace_asm *a = solo_start(&g, &s);

	tc_ios(&s, AZDS_TR_RECV, MS(0.1), "HEAD /h HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(0.2), "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
	tc_ios(&s, AZDS_TR_RECV, MS(0.3),
	       "PUT /p HTTP/1.1\r\nHost: api\r\nExpect: 100-continue\r\n"
	       "Content-Length: 4\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(0.4), "HTTP/1.1 100 Continue\r\n\r\n");
	tc_ios(&s, AZDS_TR_RECV, MS(0.5), "Data");
	tc_ios(&s, AZDS_TR_SEND, MS(0.6), "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
	tc_ios(&s, AZDS_TR_RECV, MS(0.7), "GET /after HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(0.8), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	azds_trace_asm_tick(a, MS(1));
	CHECK_INT(g.n, 3);
	CHECK_STR(tt_s(tt_hop(&g, 0, 0), "method"), "HEAD");
	CHECK_INT(tt_i(tt_hop(&g, 0, 0), "status"), 200);
	CHECK_STR(tt_s(tt_hop(&g, 1, 0), "method"), "PUT");
	CHECK_INT(tt_i(tt_hop(&g, 1, 0), "status"), 304);
	CHECK_STR(tt_s(tt_hop(&g, 2, 0), "target"), "/after");
	struct azds_trace_stats st;
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.unparsed, 0);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* no response: given up after hop_timeout_ns, or at CLOSE */
static void test_unanswered(void)
{
	struct tt_got g = {0};
	struct tc s;
	struct azds_trace_asm *a = solo_start(&g, &s);
	struct azds_trace_stats st;

	tc_ios(&s, AZDS_TR_RECV, MS(0.1), "GET /slow HTTP/1.1\r\nHost: api\r\n\r\n");
	azds_trace_asm_tick(a, MS(59000));
	CHECK_INT(g.n, 0);
	azds_trace_asm_tick(a, MS(60000.2));
	CHECK_INT(g.n, 1);
	CHECK_INT(tt_i(tt_hop(&g, 0, 0), "status"), 0);
	CHECK(fabs(tt_f(tt_hop(&g, 0, 0), "duration_ms") - 60000) < 1e-6);
	/* its late response pairs with nothing, and does not take the next request's place */
	tc_ios(&s, AZDS_TR_SEND, MS(60001), RESP_OK);
	tc_ios(&s, AZDS_TR_RECV, MS(60002), "GET /gone HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_close(&s, MS(60003));
	azds_trace_asm_tick(a, MS(60004));
	CHECK_INT(g.n, 2);
	CHECK_STR(tt_s(tt_hop(&g, 1, 0), "target"), "/gone");
	CHECK_INT(tt_i(tt_hop(&g, 1, 0), "status"), 0);
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.unanswered, 2);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* an ingress request to web, which calls api: one request, ingress at the root */
static void test_ingress_root(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = new_asm(&g);
	struct tc ws, wc, as;
	struct azds_dec d0, d1;
	const char *r0 = "GET / HTTP/1.1\r\nHost: alice.s.dev.web.localhost\r\nazds-route-as: alice\r\n\r\n";
	const char *r1 = "GET /api/bikes HTTP/1.1\r\nHost: api\r\nazds-route-as: alice\r\n\r\n";

	tc_init(&ws, a, WEB, 8080, GW, 53000);
	tc_init(&wc, a, WEB, 44000, VIP_API, 80);
	tc_init(&as, a, API_ALICE, 8080, GW, 53001);
	as.space = 2;
	d0 = tt_dec(MS(0), NULL, &ws, AZDS_DEC_FALLBACK, 2, 1, SVC_WEB);
	d1 = tt_dec(MS(0.5), &wc, &as, AZDS_DEC_OWN, 2, 2, SVC_API);
	azds_trace_asm_decision(a, &d0);
	tc_ios(&ws, AZDS_TR_RECV, MS(0.1), r0);
	tc_ios(&wc, AZDS_TR_SEND, MS(0.4), r1);
	azds_trace_asm_decision(a, &d1);
	tc_ios(&as, AZDS_TR_RECV, MS(0.6), r1);
	tc_ios(&as, AZDS_TR_SEND, MS(1.0), RESP_OK);
	tc_ios(&wc, AZDS_TR_RECV, MS(1.1), RESP_OK);
	tc_ios(&ws, AZDS_TR_SEND, MS(1.5), RESP_OK);
	azds_trace_asm_tick(a, MS(2));
	CHECK_INT(g.n, 1);
	CHECK_INT(tt_nhops(&g, 0), 2);
	json_t *r = tt_hop(&g, 0, 0), *c = tt_hop(&g, 0, 1);
	CHECK_STR(tt_s(r, "caller"), "ingress");
	CHECK_STR(tt_s(r, "caller_pod"), "");
	CHECK_STR(tt_s(r, "service"), "web");
	CHECK_STR(tt_s(r, "asked_space"), "dev/alice");
	CHECK_STR(tt_s(r, "reason"), "fell back to dev");
	CHECK(fabs(tt_f(r, "duration_ms") - 1.4) < 1e-9);
	CHECK_STR(tt_s(c, "caller"), "web");
	CHECK_STR(tt_s(c, "pod"), "api-alice");
	CHECK_STR(tt_s(c, "space"), "dev/alice");
	CHECK_STR(tt_s(c, "reason"), "own");
	CHECK_INT(tt_i(c, "parent"), tt_i(r, "id"));
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* a call that completes after its root has gone out goes out alone, with the root's trace id and its parent */
static void test_late_child(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = new_asm(&g);
	struct tc ws, wc, as;
	struct azds_dec d0, d1;
	const char *r0 = "GET /async HTTP/1.1\r\nHost: web\r\n\r\n";
	const char *r1 = "POST /jobs HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\n\r\n";

	tc_init(&ws, a, WEB, 8080, GW, 54000);
	tc_init(&wc, a, WEB, 45000, VIP_API, 80);
	tc_init(&as, a, API, 8080, GW, 54001);
	d0 = tt_dec(MS(0), NULL, &ws, AZDS_DEC_OWN, 1, 1, SVC_WEB);
	d1 = tt_dec(MS(0.5), &wc, &as, AZDS_DEC_OWN, 1, 1, SVC_API);
	azds_trace_asm_decision(a, &d0);
	tc_ios(&ws, AZDS_TR_RECV, MS(0.1), r0);
	tc_ios(&wc, AZDS_TR_SEND, MS(0.4), r1);
	azds_trace_asm_decision(a, &d1);
	tc_ios(&as, AZDS_TR_RECV, MS(0.6), r1);
	tc_ios(&ws, AZDS_TR_SEND, MS(1.0), RESP_OK);
	azds_trace_asm_tick(a, MS(100));
	CHECK_INT(g.n, 0); /* the root waits: a call it made is still open */
	azds_trace_asm_tick(a, MS(2001.1));
	CHECK_INT(g.n, 1);
	CHECK_INT(tt_nhops(&g, 0), 1);
	CHECK_STR(tt_s(tt_hop(&g, 0, 0), "target"), "/async");
	tc_ios(&as, AZDS_TR_SEND, MS(3000), "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
	tc_ios(&wc, AZDS_TR_RECV, MS(3000.1), "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
	azds_trace_asm_tick(a, MS(3001));
	CHECK_INT(g.n, 2);
	json_t *c = tt_hop(&g, 1, 0);
	CHECK_STR(tt_s(c, "target"), "/jobs");
	CHECK_STR(tt_s(c, "caller"), "web");
	CHECK_INT(tt_i(c, "status"), 202);
	CHECK_INT(tt_i(c, "parent"), tt_i(tt_hop(&g, 0, 0), "id"));
	CHECK_STR(json_string_value(json_object_get(g.req[1], "trace_id")),
		  json_string_value(json_object_get(g.req[0], "trace_id")));
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* a call through the router whose server is not seen and whose decision never came */
static void test_no_server_seen(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = new_asm(&g);
	struct tc c;
	json_t *h;

	tc_init(&c, a, WEB, 40020, VIP_DATA, 80);
	tc_open(&c, true, MS(0));
	tc_ios(&c, AZDS_TR_SEND, MS(0.1), "GET /q HTTP/1.1\r\nHost: data\r\n\r\n");
	tc_ios(&c, AZDS_TR_RECV, MS(0.6), "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
	azds_trace_asm_tick(a, MS(1000));
	CHECK_INT(g.n, 0); /* a serving pod's records may still come */
	azds_trace_asm_tick(a, MS(2001));
	CHECK_INT(g.n, 1);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "reason"), "router");
	CHECK_STR(tt_s(h, "service"), "data"); /* from the service address */
	CHECK_STR(tt_s(h, "pod"), "");
	CHECK_STR(tt_s(h, "caller"), "web");
	CHECK_INT(tt_i(h, "status"), 502);
	CHECK(json_is_null(json_object_get(h, "server_ms")));
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* a request of more hops than AZDS_TRACE_HOPS_MAX goes out in parts, all with its trace id */
static void test_many_hops(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = new_asm(&g);
	struct tc ws, wc, as;
	struct azds_dec d0;

	tc_init(&ws, a, WEB, 8080, GW, 55000);
	d0 = tt_dec(MS(0), NULL, &ws, AZDS_DEC_OWN, 1, 1, SVC_WEB);
	azds_trace_asm_decision(a, &d0);
	tc_ios(&ws, AZDS_TR_RECV, MS(0.1), "GET /fan HTTP/1.1\r\nHost: web\r\n\r\n");
	/* 40 calls, pod to pod, on one keep-alive connection */
	tc_init(&wc, a, WEB, 46000, API, 8080);
	tc_init(&as, a, API, 8080, WEB, 46000);
	for (int i = 0; i < 40; i++) {
		char r[64];
		double t = 1 + i;

		snprintf(r, sizeof(r), "GET /part/%d HTTP/1.1\r\n\r\n", i);
		tc_ios(&wc, AZDS_TR_SEND, MS(t), r);
		tc_ios(&as, AZDS_TR_RECV, MS(t + 0.1), r);
		tc_ios(&as, AZDS_TR_SEND, MS(t + 0.5), RESP_OK);
		tc_ios(&wc, AZDS_TR_RECV, MS(t + 0.6), RESP_OK);
		azds_trace_asm_tick(a, MS(t + 0.7));
	}
	tc_ios(&ws, AZDS_TR_SEND, MS(50), RESP_OK);
	azds_trace_asm_tick(a, MS(51));
	CHECK_INT(g.n, 2);
	CHECK_INT(tt_nhops(&g, 0), AZDS_TRACE_HOPS_MAX);
	CHECK_INT(tt_nhops(&g, 1), 41 - AZDS_TRACE_HOPS_MAX);
	CHECK_STR(tt_s(tt_hop(&g, 0, 0), "target"), "/fan");
	CHECK_STR(tt_s(tt_hop(&g, 0, 1), "target"), "/part/0");
	CHECK_STR(tt_s(tt_hop(&g, 1, 0), "target"), "/part/31");
	CHECK_INT(tt_i(tt_hop(&g, 1, 8), "parent"), tt_i(tt_hop(&g, 0, 0), "id"));
	CHECK_STR(json_string_value(json_object_get(g.req[1], "trace_id")),
		  json_string_value(json_object_get(g.req[0], "trace_id")));
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* header values of every kind of byte: the JSON text and tree agree (tt_emit checks), and say the same */
static void test_header_bytes(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = new_asm(&g);
	struct tc c;
	json_t *h, *rh;

	tc_init(&c, a, WEB, 40021, VIP_DATA, 80);
	tc_open(&c, true, MS(0));
	tc_ios(&c, AZDS_TR_SEND, MS(0.1),
	       "GET /q%22?a=1 HTTP/1.1\r\nHost: data\r\nX-Name: caf\xc3\xa9 \xf0\x9f\x98\x80\r\n"
	       "X-Raw: a\xff\xc3\xa9" "b\r\nX-Tab: a\tb \"q\" \\ end\r\nX-Rep: 1\r\nX-Rep: 2\r\n\r\n");
	tc_ios(&c, AZDS_TR_RECV, MS(0.6), "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
	azds_trace_asm_tick(a, MS(2001));
	CHECK_INT(g.n, 1);
	h = tt_hop(&g, 0, 0);
	rh = json_object_get(h, "request_headers");
	CHECK_STR(json_string_value(json_object_get(rh, "X-Name")), "caf\xc3\xa9 \xf0\x9f\x98\x80");
	CHECK_STR(json_string_value(json_object_get(rh, "X-Raw")), "a???b"); /* not UTF-8: each byte past ASCII a ? */
	CHECK_STR(json_string_value(json_object_get(rh, "X-Tab")), "a\tb \"q\" \\ end");
	CHECK_STR(json_string_value(json_object_get(rh, "X-Rep")), "1, 2");
	CHECK_STR(tt_s(h, "target"), "/q%22");
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

int main(void)
{
	test_routed_own();
	test_routed_fallback();
	test_two_hop();
	test_late_decision();
	test_router_reply();
	test_pipelined_direct();
	test_split_head();
	test_cut_head();
	test_body_like_head();
	test_chunked();
	test_no_body_responses();
	test_unanswered();
	test_ingress_root();
	test_late_child();
	test_no_server_seen();
	test_many_hops();
	test_header_bytes();
	return tt_done("trace_assemble");
}
