// SPDX-License-Identifier: MIT
/*
 * 100,000 routed requests (web's keep-alive connections to api's service
 * address, the router's upstream connections to api, one decision each)
 * give exactly 100,000 hops, each joined right, emitted as hops and then
 * packed only (as the controller takes them). The rate is printed
 * (records and decisions per second): a figure, not a pass condition.
 */
#include <time.h>

#include "tt.h"

#define REQUESTS 100000
#define CONNS	 50

struct count {
	size_t hops, reqs, right, bytes;
};

static void count_emit(void *ctx, const struct azds_trace_req *req)
{
	struct count *c = ctx;

	c->reqs++;
	for (unsigned i = 0; i < req->nhops; i++) {
		const struct azds_trace_hop *h = req->hops[i];

		c->hops++;
		if (!strcmp(h->reason, "own") && !strcmp(h->caller, "web") && !strcmp(h->caller_pod, "web-1") &&
		    !strcmp(h->service, "api") && !strcmp(h->pod, "api-1") && h->status == 200 &&
		    !strncmp(h->target, "/bikes/", 7) && h->end_ns - h->start_ns == 3000 && h->parent == 0)
			c->right++;
	}
}

/* packed only: the hops carry every field but their headers, which are in the bytes */
static void count_packed(void *ctx, const struct azds_trace_req *req, const char *p, size_t n)
{
	struct count *c = ctx;

	count_emit(ctx, req);
	for (unsigned i = 0; i < req->nhops; i++)
		if (req->hops[i]->req.nheaders || req->hops[i]->resp.nheaders)
			c->right--;
	/* each message's last header too */
	if (memmem(p, n, "User-Agent", 10) && memmem(p, n, "*/*", 3) && memmem(p, n, "application/json", 16) &&
	    memmem(p, n, "Content-Length", 14))
		c->bytes++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(bool packed)
{
	struct count cnt = {0};
	struct azds_trace_asm *a = azds_trace_asm_new(&tt_model, NULL, packed ? NULL : count_emit, &cnt);
	static struct tc cli[CONNS], srv[CONNS];
	const char *resp =
	    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"bikes\":[1]}";
	struct azds_trace_stats st;
	char req[256];
	double t0, dt;

	if (!a) {
		tt_failed++;
		return;
	}
	if (packed)
		azds_trace_asm_set_packed(a, count_packed, &cnt);
	for (int i = 0; i < CONNS; i++) {
		tc_init(&cli[i], a, WEB, (__u16)(40000 + i), VIP_API, 80);
		tc_init(&srv[i], a, API, 8080, GW, (__u16)(50000 + i));
		tc_open(&cli[i], true, MS(0));
		tc_open(&srv[i], false, MS(0));
	}
	t0 = now_s();
	for (int i = 0; i < REQUESTS; i++) {
		struct tc *c = &cli[i % CONNS], *s = &srv[i % CONNS];
		__u64 t = MS(1) + (__u64)i * 10000; /* one every 10 us */
		struct azds_dec d = tt_dec(t + 500, c, s, AZDS_DEC_OWN, 1, 1, SVC_API);
		int n = snprintf(req, sizeof(req),
				 "GET /bikes/%d HTTP/1.1\r\nHost: api\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n", i);

		tc_io(c, AZDS_TR_SEND, t, req, (size_t)n);
		azds_trace_asm_decision(a, &d);
		tc_io(s, AZDS_TR_RECV, t + 1000, req, (size_t)n);
		tc_ios(s, AZDS_TR_SEND, t + 2000, resp);
		tc_ios(c, AZDS_TR_RECV, t + 3000, resp);
		if (i % 1000 == 999)
			azds_trace_asm_tick(a, t + 4000);
	}
	azds_trace_asm_tick(a, MS(1) + (__u64)REQUESTS * 10000 + 5000);
	dt = now_s() - t0;
	azds_trace_asm_flush(a);
	azds_trace_asm_stats(a, &st);
	printf("volume (%s): %d requests, %llu records + %llu decisions in %.3f s: %.0f records/s, %.0f requests/s\n",
	       packed ? "packed" : "hops", REQUESTS, (unsigned long long)st.records, (unsigned long long)st.decisions, dt, (double)st.records / dt,
	       REQUESTS / dt);
	CHECK_INT(cnt.hops, REQUESTS);
	CHECK_INT(cnt.reqs, REQUESTS);
	CHECK_INT(cnt.right, REQUESTS);
	CHECK_INT(st.hops, REQUESTS);
	CHECK_INT(st.requests, REQUESTS);
	CHECK_INT(st.unparsed, 0);
	CHECK_INT(st.unanswered, 0);
	CHECK_INT(st.evicted, 0);
	CHECK_INT(st.bad_records, 0);
	if (packed)
		CHECK_INT(cnt.bytes, REQUESTS);
	azds_trace_asm_free(a);
}

int main(void)
{
	run(false);
	run(true);
	return tt_done("trace_volume");
}
