// SPDX-License-Identifier: MIT
/*
 * Hops told by the router's own records (userspace/lib/decisions.h): a
 * routed request with its head, its response's head by exchange number,
 * the router's own answers, the tree across two routed hops, a pod-to-pod
 * call below a routed hop, and what hostile or partial slots do (nothing
 * but counters).
 */
#include "tt.h"

static struct azds_dec_slot slot;

/* a REQ slot: caller pod cli (port cport) to the VIP, served by pod srv (0: the router answered) */
static const struct azds_dec_slot *req(__u64 ts, __u64 xid, __be32 cli, __u16 cport, __be32 vip, __be32 srv,
				       __u16 reason, __u32 start, __u32 served, __u32 svc, const char *head)
{
	memset(&slot, 0, sizeof(slot));
	slot.kind = AZDS_DEC_K_REQ;
	slot.xid = xid;
	slot.d.ts_ns = ts;
	slot.d.cli_addr = cli;
	slot.d.cli_port = htons(cport);
	slot.d.vaddr = vip;
	slot.d.vport = htons(80);
	slot.d.caller_space = 1;
	slot.d.start_space = start;
	slot.d.svc = svc;
	slot.d.reason = reason;
	if (srv) {
		slot.d.up_raddr = srv;
		slot.d.up_rport = htons(8080);
		slot.d.up_lport = htons((__u16)(40000 + xid % 1000));
		slot.d.served_space = served;
	}
	size_t n = strlen(head);

	if (n > AZDS_DEC_HEAD_MAX) {
		n = AZDS_DEC_HEAD_MAX;
		slot.d.flags |= AZDS_DEC_F_CUT;
	}
	memcpy(slot.head, head, n);
	slot.head_len = (__u16)n;
	return &slot;
}

static const struct azds_dec_slot *resp(__u64 ts, __u64 xid, int status, const char *head)
{
	memset(&slot, 0, sizeof(slot));
	slot.kind = AZDS_DEC_K_RESP;
	slot.xid = xid;
	slot.d.ts_ns = ts;
	slot.d.status = (__u16)status;
	if (!head) {
		slot.d.flags = AZDS_DEC_F_ROUTER;
	} else {
		slot.head_len = (__u16)strlen(head);
		memcpy(slot.head, head, slot.head_len);
	}
	return &slot;
}

/* api-alice's own routed call to data (it falls back to dev's), made
 * while it serves a request: the inner hop of the two-hop tests */
static void alice_calls_data(struct azds_trace_asm *a, __u64 ts, __u64 xid, __u16 cport, const char *target)
{
	char head[256];

	snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: data\r\nazds-route-as: alice\r\n\r\n", target);
	req(ts, xid, API_ALICE, cport, VIP_DATA, DATA, AZDS_DEC_FALLBACK, 2, 1, SVC_DATA, head);
	slot.d.caller_space = 2;
	azds_trace_asm_slot(a, &slot);
}

/* the backend's empty 200 for exchange xid */
static const struct azds_dec_slot *ok0(__u64 ts, __u64 xid)
{
	return resp(ts, xid, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

static struct azds_trace_asm *fresh(struct tt_got *g)
{
	tt_got_clear(g);
	g->keep_json = true;
	return tt_asm_new(NULL, g);
}

static void test_own_and_fallback(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = fresh(&g);
	json_t *h;

	azds_trace_asm_slot(a, req(MS(0), 1, WEB, 50000, VIP_API, API_ALICE, AZDS_DEC_OWN, 2, 2, SVC_API,
				   "GET /bikes?c=1 HTTP/1.1\r\nHost: api\r\nazds-route-as: alice\r\n"
				   "Authorization: Bearer SECRET1\r\n\r\n"));
	azds_trace_asm_slot(a, resp(MS(3.1), 1, 0, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: s=SECRET2\r\n\r\n"));
	azds_trace_asm_slot(a, req(MS(10), 2, WEB, 50000, VIP_DATA, DATA, AZDS_DEC_FALLBACK, 2, 1, SVC_DATA,
				   "POST /stock HTTP/1.1\r\nHost: data\r\nContent-Length: 3\r\nazds-route-as: alice\r\n\r\nabc"));
	azds_trace_asm_slot(a, resp(MS(11), 2, 0, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"));
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 2);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "caller"), "web");
	CHECK_STR(tt_s(h, "caller_space"), "dev");
	CHECK_STR(tt_s(h, "service"), "api");
	CHECK_STR(tt_s(h, "pod"), "api-alice");
	CHECK_STR(tt_s(h, "space"), "dev/alice");
	CHECK_STR(tt_s(h, "asked_space"), "dev/alice");
	CHECK_STR(tt_s(h, "reason"), "own");
	CHECK_STR(tt_s(h, "method"), "GET");
	CHECK_STR(tt_s(h, "target"), "/bikes"); /* query strings cut unless asked */
	CHECK_STR(tt_s(h, "route_as"), "alice");
	CHECK_INT(tt_i(h, "status"), 200);
	CHECK(tt_f(h, "duration_ms") > 3.0 && tt_f(h, "duration_ms") < 3.2);
	CHECK_STR(tt_h(h, "request_headers", "Authorization"), "[redacted]");
	CHECK_STR(tt_h(h, "response_headers", "Set-Cookie"), "[redacted]");
	{
		char *d = json_dumps(g.req[0], 0);

		CHECK(d && !strstr(d, "SECRET"));
		free(d);
	}
	h = tt_hop(&g, 1, 0);
	CHECK_STR(tt_s(h, "reason"), "fell back to dev");
	CHECK_STR(tt_s(h, "space"), "dev");
	CHECK_STR(tt_s(h, "method"), "POST");
	CHECK_INT(tt_i(h, "status"), 201);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* web -> api (routed) -> data (routed): one request, by route-as and time; then by traceparent */
static void test_two_hops(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = fresh(&g);
	const char *tp = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n";
	char head[512];
	json_t *r, *c;

	azds_trace_asm_slot(a, req(MS(0), 10, WEB, 50001, VIP_API, API_ALICE, AZDS_DEC_OWN, 2, 2, SVC_API,
				   "GET /call HTTP/1.1\r\nHost: api\r\nazds-route-as: alice\r\n\r\n"));
	/* api-alice's own call, made while it serves the one above */
	alice_calls_data(a, MS(1), 11, 50002, "/leaf");
	azds_trace_asm_slot(a, ok0(MS(2), 11));
	azds_trace_asm_slot(a, ok0(MS(3), 10));
	azds_trace_asm_tick(a, MS(3.5));
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 1);
	CHECK_INT(tt_nhops(&g, 0), 2);
	r = tt_hop(&g, 0, 0);
	c = tt_hop(&g, 0, 1);
	CHECK_STR(tt_s(r, "target"), "/call");
	CHECK_STR(tt_s(c, "target"), "/leaf");
	CHECK_STR(tt_s(c, "caller"), "api");
	CHECK_STR(tt_s(c, "reason"), "fell back to dev");
	CHECK_INT(tt_i(c, "parent"), tt_i(r, "id"));

	tt_got_clear(&g);
	snprintf(head, sizeof(head), "GET /tp HTTP/1.1\r\nHost: api\r\n%s\r\n", tp);
	azds_trace_asm_slot(a, req(MS(10), 20, WEB, 50001, VIP_API, API_ALICE, AZDS_DEC_OWN, 2, 2, SVC_API, head));
	/* another route-as, the same trace id: tied by the traceparent */
	snprintf(head, sizeof(head), "GET /tp-leaf HTTP/1.1\r\nHost: data\r\n%s\r\n", tp);
	azds_trace_asm_slot(a, req(MS(11), 21, API_ALICE, 50003, VIP_DATA, DATA, AZDS_DEC_OWN, 1, 1, SVC_DATA, head));
	azds_trace_asm_slot(a, resp(MS(12), 21, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
	azds_trace_asm_slot(a, resp(MS(13), 20, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 1);
	CHECK_INT(tt_nhops(&g, 0), 2);
	CHECK_STR(json_string_value(json_object_get(g.req[0], "trace_id")), "4bf92f3577b34da6a3ce929d0e0e4736");
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* a routed hop whose pod calls another pod straight (the kernel's records) */
static void test_direct_below_routed(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = fresh(&g);
	struct tc cli, srv;

	azds_trace_asm_slot(a, req(MS(0), 30, WEB, 50001, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API,
				   "GET /outer HTTP/1.1\r\nHost: api\r\n\r\n"));
	tc_init(&cli, a, API, 41000, DATA, 8080);
	tc_init(&srv, a, DATA, 8080, API, 41000);
	tc_open(&cli, true, MS(0.5));
	tc_open(&srv, false, MS(0.5));
	tc_ios(&cli, AZDS_TR_SEND, MS(1), "GET /inner HTTP/1.1\r\nHost: data\r\n\r\n");
	tc_ios(&srv, AZDS_TR_RECV, MS(1.1), "GET /inner HTTP/1.1\r\nHost: data\r\n\r\n");
	tc_ios(&srv, AZDS_TR_SEND, MS(1.5), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	tc_ios(&cli, AZDS_TR_RECV, MS(1.6), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	azds_trace_asm_slot(a, resp(MS(2), 30, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 1);
	CHECK_INT(tt_nhops(&g, 0), 2);
	CHECK_STR(tt_s(tt_hop(&g, 0, 1), "target"), "/inner");
	CHECK_STR(tt_s(tt_hop(&g, 0, 1), "reason"), "direct");
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* a routed hop waits while a routed call its pod made is still open, and
 * takes it as its child once it is done (may_have_more's routed branch:
 * without it the outer hop went out alone at the first tick) */
static void test_waits_for_routed_call(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = fresh(&g);

	azds_trace_asm_slot(a, req(MS(0), 40, WEB, 50011, VIP_API, API_ALICE, AZDS_DEC_OWN, 2, 2, SVC_API,
				   "GET /outer HTTP/1.1\r\nHost: api\r\nazds-route-as: alice\r\n\r\n"));
	alice_calls_data(a, MS(1), 41, 50012, "/slow");
	/* the outer response comes first: its pod's call is not answered yet */
	azds_trace_asm_slot(a, ok0(MS(3), 40));
	azds_trace_asm_tick(a, MS(3.5));
	CHECK_INT(g.n, 0);
	azds_trace_asm_slot(a, ok0(MS(4), 41));
	azds_trace_asm_tick(a, MS(4.5));
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 1);
	CHECK_INT(tt_nhops(&g, 0), 2);
	CHECK_STR(tt_s(tt_hop(&g, 0, 0), "target"), "/outer");
	CHECK_STR(tt_s(tt_hop(&g, 0, 1), "target"), "/slow");
	CHECK_INT(tt_i(tt_hop(&g, 0, 1), "parent"), tt_i(tt_hop(&g, 0, 0), "id"));
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* the sizes a routed hop reports, and a head the router's slot cut
 * (AZDS_DEC_F_CUT): whole lines kept, the hop marked truncated */
static void test_sizes_and_cut(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = fresh(&g);
	char head[AZDS_DEC_HEAD_MAX + 200];
	size_t o;
	json_t *h;

	azds_trace_asm_slot(a, req(MS(0), 50, WEB, 50021, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API,
				   "PUT /item HTTP/1.1\r\nHost: api\r\nContent-Length: 4321\r\n\r\n"));
	azds_trace_asm_slot(a, resp(MS(1), 50, 0, "HTTP/1.1 200 OK\r\nContent-Length: 98765\r\n\r\n"));
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 1);
	h = tt_hop(&g, 0, 0);
	CHECK_INT(tt_i(h, "req_bytes"), 4321);
	CHECK_INT(tt_i(h, "resp_bytes"), 98765);
	CHECK(json_is_false(json_object_get(h, "truncated")));

	tt_got_clear(&g);
	g.keep_json = true;
	o = (size_t)snprintf(head, sizeof(head), "GET /long HTTP/1.1\r\nHost: api\r\n");
	for (int i = 0; o + 40 < sizeof(head) - 1; i++)
		o += (size_t)snprintf(head + o, sizeof(head) - o, "X-Filler-%03d: %020d\r\n", i, i);
	snprintf(head + o, sizeof(head) - o, "\r\n");
	CHECK(strlen(head) > AZDS_DEC_HEAD_MAX);
	azds_trace_asm_slot(a, req(MS(10), 51, WEB, 50022, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API, head));
	CHECK(slot.d.flags & AZDS_DEC_F_CUT);
	azds_trace_asm_slot(a, resp(MS(11), 51, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 1);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "target"), "/long");
	CHECK_INT(tt_i(h, "status"), 200);
	CHECK(json_is_true(json_object_get(h, "truncated")));
	CHECK_STR(tt_h(h, "request_headers", "X-Filler-000"), "00000000000000000000");
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

static void test_router_answers(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = fresh(&g);
	struct azds_trace_stats st;
	json_t *h;

	/* no backend: the router's 503, its caller named */
	req(MS(0), 0, WEB, 50001, VIP_API, 0, AZDS_DEC_REPLY, 1, 0, SVC_API, "GET /none HTTP/1.1\r\nHost: empty\r\n\r\n");
	slot.d.status = 503;
	azds_trace_asm_slot(a, &slot);
	/* routed, then the backend never answered: the router's 504 */
	azds_trace_asm_slot(a, req(MS(5), 40, WEB, 50002, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API,
				   "GET /slow HTTP/1.1\r\nHost: api\r\n\r\n"));
	azds_trace_asm_slot(a, resp(MS(9), 40, 504, NULL));
	/* the client went away: nobody answered */
	azds_trace_asm_slot(a, req(MS(10), 41, WEB, 50003, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API,
				   "GET /gone HTTP/1.1\r\nHost: api\r\n\r\n"));
	azds_trace_asm_slot(a, resp(MS(11), 41, 0, NULL));
	/* refused as malformed (a bad Content-Length): the hop still says what and the router's 400 */
	req(MS(12), 0, WEB, 50004, VIP_API, 0, AZDS_DEC_REPLY, 1, 0, SVC_API,
	    "POST /bad HTTP/1.1\r\nHost: api\r\nContent-Length: x1\r\nAuthorization: Bearer SECRET9\r\n\r\n");
	slot.d.status = 400;
	azds_trace_asm_slot(a, &slot);
	/* refused at accept, past its per-pod limit, before a byte came: who and the 503, no request line */
	req(MS(14), 0, WEB, 50005, VIP_API, 0, AZDS_DEC_REPLY, 1, 0, SVC_API, "");
	slot.d.status = 503;
	azds_trace_asm_slot(a, &slot);
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 5);
	h = tt_hop(&g, 4, 0);
	CHECK_INT(tt_i(h, "status"), 503);
	CHECK_STR(tt_s(h, "reason"), "router");
	CHECK_STR(tt_s(h, "caller"), "web");
	CHECK_STR(tt_s(h, "service"), "api");
	CHECK_STR(tt_s(h, "method"), "");
	CHECK_STR(tt_s(h, "target"), "");
	CHECK(json_is_true(json_object_get(h, "truncated")));
	/* refused at accept with bytes that are no request line (a tunnel's): a hop all the same */
	req(MS(15), 0, WEB, 50006, VIP_API, 0, AZDS_DEC_REPLY, 1, 0, SVC_API, "\x16\x03\x01 hello");
	slot.d.status = 503;
	slot.d.flags |= AZDS_DEC_F_ACCEPT;
	azds_trace_asm_slot(a, &slot);
	azds_trace_asm_flush(a);
	CHECK_INT(g.n, 6);
	h = tt_hop(&g, 5, 0);
	CHECK_INT(tt_i(h, "status"), 503);
	CHECK_STR(tt_s(h, "method"), "");
	h = tt_hop(&g, 3, 0);
	CHECK_STR(tt_s(h, "method"), "POST");
	CHECK_STR(tt_s(h, "target"), "/bad");
	CHECK_INT(tt_i(h, "status"), 400);
	CHECK_STR(tt_s(h, "reason"), "router");
	{
		char *d = json_dumps(g.req[3], 0);

		CHECK(d && !strstr(d, "SECRET"));
		free(d);
	}
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_s(h, "reason"), "router");
	CHECK_INT(tt_i(h, "status"), 503);
	CHECK_STR(tt_s(h, "caller"), "web");
	CHECK_STR(tt_s(h, "target"), "/none");
	CHECK_STR(tt_s(h, "pod"), "");
	h = tt_hop(&g, 1, 0);
	CHECK_INT(tt_i(h, "status"), 504);
	CHECK_STR(tt_s(h, "pod"), "api-1");
	h = tt_hop(&g, 2, 0);
	CHECK_INT(tt_i(h, "status"), 0);
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.unanswered, 1);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* nothing in a slot can crash it, make a hop from nothing, or hold a response for another exchange */
static void test_hostile(void)
{
	struct tt_got g = {0};
	struct azds_trace_asm *a = fresh(&g);
	struct azds_trace_stats st;
	char big[AZDS_DEC_HEAD_MAX + 200];

	/* garbage head, empty head, unknown kind and reason, a response to no request */
	azds_trace_asm_slot(a, req(MS(0), 50, WEB, 1, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API, "\x01\x02 not http"));
	azds_trace_asm_slot(a, req(MS(0), 51, WEB, 1, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API, ""));
	azds_trace_asm_slot(a, req(MS(0), 52, WEB, 1, VIP_API, API, 9, 1, 1, SVC_API, "GET / HTTP/1.1\r\n\r\n"));
	req(MS(0), 53, WEB, 1, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API, "GET / HTTP/1.1\r\n\r\n");
	slot.kind = 77;
	azds_trace_asm_slot(a, &slot);
	azds_trace_asm_slot(a, resp(MS(1), 999, 0, "HTTP/1.1 200 OK\r\n\r\n"));
	/* a response head where the request was, and a request where the response was */
	azds_trace_asm_slot(a, req(MS(2), 54, WEB, 1, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API, "HTTP/1.1 200 OK\r\n\r\n"));
	azds_trace_asm_slot(a, req(MS(2), 55, WEB, 1, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API,
				   "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
	azds_trace_asm_slot(a, resp(MS(3), 55, 0, "GET /y HTTP/1.1\r\nHost: a\r\n\r\n"));
	/* the same response twice: the second finds nothing open */
	azds_trace_asm_slot(a, resp(MS(4), 55, 0, "HTTP/1.1 200 OK\r\n\r\n"));
	/* a head longer than the slot: cut, marked truncated, still a hop */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /long HTTP/1.1\r\nX-Big: ", 27);
	big[sizeof(big) - 1] = 0;
	azds_trace_asm_slot(a, req(MS(5), 56, WEB, 1, VIP_API, API, AZDS_DEC_OWN, 1, 1, SVC_API, big));
	azds_trace_asm_slot(a, resp(MS(6), 56, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
	azds_trace_asm_slot(a, NULL);
	azds_trace_asm_flush(a);
	azds_trace_asm_stats(a, &st);
	CHECK_INT(g.n, 2);
	CHECK_STR(tt_s(tt_hop(&g, 0, 0), "target"), "/x");
	CHECK_INT(tt_i(tt_hop(&g, 0, 0), "status"), 0);
	CHECK_STR(tt_s(tt_hop(&g, 1, 0), "target"), "/long");
	CHECK(json_is_true(json_object_get(tt_hop(&g, 1, 0), "truncated")));
	CHECK_INT(st.unparsed, 4);
	CHECK_INT(st.bad_records, 2);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* a routed request whose response never comes is given up at the hop timeout, and at the limit nothing grows */
static void test_limits(void)
{
	struct tt_got g = {0};
	struct azds_trace_limits lim = {.max_hops = 64, .hop_timeout_ns = 1000000000ull};
	struct azds_trace_asm *a;
	struct azds_trace_stats st;

	tt_got_clear(&g);
	g.keep_json = true;
	a = tt_asm_new(&lim, &g);
	for (int i = 0; i < 200; i++)
		azds_trace_asm_slot(a, req(MS(i * 0.01), 100 + (__u64)i, WEB, 1, VIP_API, API, AZDS_DEC_OWN, 1, 1,
					   SVC_API, "GET /open HTTP/1.1\r\nHost: a\r\n\r\n"));
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.evicted, 200 - 64); /* the 64 first are held, the rest counted */
	azds_trace_asm_tick(a, MS(5000));
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.unanswered, 64);
	CHECK_INT(g.n, 64);
	CHECK_STR(tt_s(tt_hop(&g, 0, 0), "target"), "/open");
	CHECK_INT(tt_i(tt_hop(&g, 0, 0), "status"), 0);
	CHECK_INT(tt_i(tt_hop(&g, 63, 0), "status"), 0);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* the router's side of spaces switched off: no record of theirs reaches the file */
static bool allowed(const struct azds_dec_file *f, __u16 reason, __u32 served, __u32 caller, __u32 start, bool ingress)
{
	struct azds_dec d = {.reason = reason, .served_space = served, .caller_space = caller, .start_space = start};

	d.flags = ingress ? AZDS_DEC_F_INGRESS : 0;
	return azds_dec_allowed(f, &d);
}

static void test_off_list(void)
{
	static struct azds_dec_file f;

	CHECK(allowed(&f, AZDS_DEC_OWN, 1, 2, 1, false));
	atomic_store(&f.off[0], 1);
	atomic_store(&f.off_n, 1);
	CHECK(allowed(&f, AZDS_DEC_OWN, 1, 2, 1, false));     /* served in 1 (off), caller in 2 (on) */
	CHECK(allowed(&f, AZDS_DEC_FALLBACK, 2, 1, 2, false)); /* served in 2 (on) */
	CHECK(!allowed(&f, AZDS_DEC_OWN, 1, 1, 1, false));
	/* from the ingress the caller's space is no pod's, whatever the session holds: off */
	CHECK(!allowed(&f, AZDS_DEC_FALLBACK, 1, 2, 2, true));
	/* the router's own answers: the caller's space, else the asked one */
	CHECK(!allowed(&f, AZDS_DEC_REPLY, 0, 1, 2, false));
	CHECK(allowed(&f, AZDS_DEC_REPLY, 0, 2, 1, false));
	CHECK(!allowed(&f, AZDS_DEC_REPLY, 0, 2, 1, true));
	atomic_store(&f.off[1], 2);
	atomic_store(&f.off_n, 2);
	CHECK(!allowed(&f, AZDS_DEC_OWN, 1, 2, 1, false));
	CHECK(allowed(&f, AZDS_DEC_OWN, 3, 2, 3, false));
	atomic_store(&f.off_gen, 1); /* being rewritten: nothing */
	CHECK(!allowed(&f, AZDS_DEC_OWN, 3, 4, 3, false));
	atomic_store(&f.off_gen, 2);
	atomic_store(&f.off_n, UINT32_MAX); /* more off than the file names: nothing */
	CHECK(!allowed(&f, AZDS_DEC_OWN, 3, 4, 3, false));
}

int main(void)
{
	test_off_list();
	test_own_and_fallback();
	test_two_hops();
	test_direct_below_routed();
	test_router_answers();
	test_waits_for_routed_call();
	test_sizes_and_cut();
	test_hostile();
	test_limits();
	if (tt_failed) {
		fprintf(stderr, "%d checks failed\n", tt_failed);
		return 1;
	}
	printf("routed: all checks passed\n");
	return 0;
}
