// SPDX-License-Identifier: MIT
/*
 * Bad input is counted and skipped: records shorter than their header or
 * than the bytes they claim, cap past len or past AZDS_TRACE_CAP, unknown
 * types, garbage and NULs, sequence numbers that go backwards or wrap;
 * then 100,000 random records (seeded) under small limits: no crash
 * (this test also runs under ASan/UBSan), counters move, and what the
 * assembler holds stays within its limits.
 */
#include <malloc.h>

#include "tt.h"
#include "asm_int.h"

static __u64 rng = 0x9e3779b97f4a7c15ULL;

static __u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void feed_raw(struct azds_trace_asm *a, const struct azds_trace_rec *r, size_t len)
{
	/* from a heap copy of exactly len bytes, so ASan sees any read past it */
	char *p = malloc(len ? len : 1);

	memcpy(p, r, len);
	azds_trace_asm_record(a, p, len);
	free(p);
}

static void test_bad_records(void)
{
	struct tt_got g = {.keep_json = true};
	struct azds_trace_asm *a = tt_asm_new(NULL, &g);
	struct azds_trace_stats st;
	struct azds_trace_rec r;
	struct tc s;

	memset(&r, 0, sizeof(r));
	r.type = AZDS_TR_DATA;
	r.cookie = 77;
	r.laddr = API;
	r.raddr = IP(192, 168, 1, 1);
	memcpy(r.data, "GET / HTTP/1.1\r\n\r\n", 18);
	r.len = r.cap = 18;

	azds_trace_asm_record(a, NULL, 100);
	feed_raw(a, &r, 10);			    /* shorter than the header */
	feed_raw(a, &r, AZDS_TRACE_HDR_BYTES + 10); /* shorter than cap */
	r.cap = 19;				    /* cap > len */
	feed_raw(a, &r, sizeof(r));
	r.cap = AZDS_TRACE_CAP + 1; /* cap > AZDS_TRACE_CAP */
	r.len = 4000;
	feed_raw(a, &r, sizeof(r));
	r.cap = r.len = 18;
	r.type = 9; /* unknown type */
	feed_raw(a, &r, sizeof(r));
	r.type = AZDS_TR_DATA;
	r.dir = 5; /* unknown direction */
	feed_raw(a, &r, sizeof(r));
	r.dir = AZDS_TR_RECV;
	r.seq = UINT64_MAX - 3; /* offsets that wrap */
	feed_raw(a, &r, sizeof(r));
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.records, 8);
	CHECK_INT(st.bad_records, 8);
	CHECK_INT(st.unparsed, 0);

	/* garbage and NULs on a connection: unparsed, and the next good head is still found */
	tc_init(&s, a, API, 8080, IP(192, 168, 7, 7), 33333);
	tc_open(&s, false, MS(0));
	tc_io(&s, AZDS_TR_RECV, MS(0.1), "Zz\0\0\xff\x01garbage", 13);
	tc_io(&s, AZDS_TR_RECV, MS(0.2), "GET /\0nul HTTP/1.1\r\n\r\n", 22);
	tc_io(&s, AZDS_TR_RECV, MS(0.3), "GET /ok HTTP/1.1\r\n\0\r\n\r\n", 23);
	tc_ios(&s, AZDS_TR_RECV, MS(0.4), "GET /good HTTP/1.1\r\nHost: api\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(0.5), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	/* a record back in the stream: not where the next message was expected, and not a head */
	s.seq[AZDS_TR_RECV] = 5;
	tc_ios(&s, AZDS_TR_RECV, MS(0.6), "Xyz back in the stream\r\n\r\n");
	azds_trace_asm_tick(a, MS(1));
	CHECK_INT(g.n, 1);
	CHECK_STR(tt_s(tt_hop(&g, 0, 0), "target"), "/good");
	azds_trace_asm_stats(a, &st);
	CHECK(st.unparsed >= 3);
	CHECK_INT(st.bad_records, 9); /* the one back in the stream */
	/* ... and a well-formed one there is taken as the next message */
	tc_ios(&s, AZDS_TR_RECV, MS(2), "GET /resync HTTP/1.1\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(2.5), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	azds_trace_asm_tick(a, MS(3));
	CHECK(g.n >= 2);
	if (g.n >= 2)
		CHECK_STR(tt_s(tt_hop(&g, g.n - 1, 0), "target"), "/resync");

	/* a dropped record (a gap in seq): the head after the gap is found */
	s.seq[AZDS_TR_RECV] += 1000;
	tc_ios(&s, AZDS_TR_RECV, MS(4), "GET /after-gap HTTP/1.1\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(4.5), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	azds_trace_asm_tick(a, MS(5));
	CHECK_STR(tt_s(tt_hop(&g, g.n - 1, 0), "target"), "/after-gap");

	/* a DATA record that could not be read (fault) only moves the offsets */
	struct azds_trace_rec f;
	memset(&f, 0, sizeof(f));
	f.type = AZDS_TR_DATA;
	f.cookie = s.cookie;
	f.dir = AZDS_TR_RECV;
	f.seq = s.seq[AZDS_TR_RECV];
	f.len = 100;
	f.flags = AZDS_TR_F_FAULT;
	feed_raw(a, &f, AZDS_TRACE_HDR_BYTES);
	azds_trace_asm_flush(a);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

static const char *const frags[] = {
    "GET / HTTP/1.1\r\n\r\n",
    "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.0 204 No Content\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    "HEAD / HTTP/1.1\r\n\r\n",
    "GET /a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer zz\r\n",
    "Cookie: a=b\r\n\r\n",
    "GET /p HTTP/1.1\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "Content-Length: 99999999999999999999\r\n\r\n",
    "GET /q HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
};

static void random_record(struct azds_trace_asm *a, __u64 ts)
{
	struct azds_trace_rec r;
	size_t len, n;

	memset(&r, 0, sizeof(r));
	r.ts_ns = ts;
	r.cookie = 1 + rnd() % 200;
	r.type = 1 + rnd() % 8 < 7 ? AZDS_TR_DATA : (rnd() & 1 ? AZDS_TR_OPEN : AZDS_TR_CLOSE);
	if (rnd() % 50 == 0)
		r.type = (__u32)rnd();
	r.dir = rnd() % 20 == 0 ? (__u32)rnd() : (__u32)(rnd() & 1);
	r.laddr = tt_pods[rnd() % 6].addr;
	r.raddr = rnd() & 1 ? GW : tt_pods[rnd() % 6].addr;
	r.lport = (__be16)(rnd() % 4);
	r.rport = (__be16)(rnd() % 4);
	r.flags = (__u32)(rnd() % 4);
	r.seq = rnd() % 4 == 0 ? rnd() : rnd() % 2000;
	/* the data: fragments of heads, random bytes, or both */
	n = 0;
	while (n < AZDS_TRACE_CAP && rnd() % 3) {
		const char *f = frags[rnd() % (sizeof(frags) / sizeof(frags[0]))];
		size_t fl = strlen(f);

		if (rnd() % 4 == 0)
			fl = rnd() % (fl + 1);
		if (n + fl > AZDS_TRACE_CAP)
			break;
		memcpy(r.data + n, f, fl);
		n += fl;
	}
	for (size_t i = 0; rnd() % 4 == 0 && i < 64 && n < AZDS_TRACE_CAP; i++)
		r.data[n++] = (char)rnd();
	if (rnd() % 8 == 0)
		r.data[rnd() % AZDS_TRACE_CAP] = 0;
	r.cap = (__u32)n;
	r.len = (__u32)(n + (rnd() % 4 == 0 ? rnd() % 5000 : 0));
	if (rnd() % 30 == 0)
		r.cap = (__u32)rnd(); /* lies */
	if (rnd() % 30 == 0)
		r.len = (__u32)rnd();
	len = AZDS_TRACE_HDR_BYTES + (r.cap <= AZDS_TRACE_CAP ? r.cap : 0);
	if (rnd() % 30 == 0)
		len = rnd() % sizeof(r);
	feed_raw(a, &r, len);
}

static void random_decision(struct azds_trace_asm *a, __u64 ts)
{
	struct azds_dec d;

	memset(&d, 0, sizeof(d));
	d.ts_ns = ts - rnd() % 1000000;
	d.cli_addr = tt_pods[rnd() % 6].addr;
	d.cli_port = (__be16)(rnd() % 4);
	d.vaddr = tt_pods[rnd() % 6].addr;
	d.vport = (__be16)(rnd() % 4);
	d.up_raddr = rnd() % 8 ? tt_pods[rnd() % 6].addr : 0;
	d.up_lport = (__be16)(rnd() % 4);
	d.up_rport = (__be16)(rnd() % 4);
	d.reason = (__u16)(rnd() % 5);
	d.flags = (__u32)(rnd() % 3);
	d.svc = (__u32)(rnd() % 5);
	d.start_space = d.served_space = (__u32)(rnd() % 4);
	azds_trace_asm_decision(a, &d);
}

static void check_bounds(const struct azds_trace_asm *a, const struct azds_trace_limits *lim)
{
	CHECK(a->nconns <= lim->max_conns);
	CHECK(a->nhops <= lim->max_hops);
	CHECK(a->nghosts <= GHOSTS_MAX);
}

static void test_random(void)
{
	const struct azds_trace_limits lim = {
	    .max_conns = 64, .max_pending = 8, .max_hops = 512, .join_window_ns = 2000000, .hop_timeout_ns = 50000000};
	struct tt_got g = {0};
	struct azds_trace_asm *a = tt_asm_new(&lim, &g);
	struct azds_trace_stats st;
	__u64 ts = MS(0);
	size_t mem_half = 0;

	g.keep_json = false;
	for (int i = 0; i < 100000; i++) {
		ts += rnd() % 20000;
		random_record(a, ts);
		if (rnd() % 4 == 0)
			random_decision(a, ts);
		if (i % 64 == 0) {
			azds_trace_asm_tick(a, ts);
			check_bounds(a, &lim);
		}
		if (i == 50000)
			mem_half = mallinfo2().uordblks;
	}
	check_bounds(a, &lim);
	azds_trace_asm_stats(a, &st);
	printf("random: %llu records, %llu bad, %llu unparsed, %llu hops, %llu unanswered, %llu evicted\n",
	       (unsigned long long)st.records, (unsigned long long)st.bad_records, (unsigned long long)st.unparsed,
	       (unsigned long long)st.hops, (unsigned long long)st.unanswered, (unsigned long long)st.evicted);
	CHECK_INT(st.records, 100000);
	CHECK(st.bad_records > 0);
	CHECK(st.unparsed > 0);
	CHECK(st.hops > 0);
	CHECK(st.evicted > 0);
#ifndef AZDS_TRACE_SANITIZED
	/* the second half of the run holds no more than the first (limits, not input, bound it) */
	size_t mem_end = mallinfo2().uordblks;
	printf("random: heap in use %zu KiB at 50,000 records, %zu KiB at 100,000\n", mem_half >> 10, mem_end >> 10);
	CHECK(mem_end < mem_half + (4u << 20));
	CHECK(mem_end < (64u << 20));
#else
	(void)mem_half;
#endif
	azds_trace_asm_flush(a);
	azds_trace_asm_stats(a, &st);
	CHECK(a->nhops == 0);
	CHECK(a->nghosts == 0);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

/* each limit, one at a time: what goes is counted, what stays still pairs right */
static void test_limits(void)
{
	const struct azds_trace_limits lim = {.max_conns = 2, .max_pending = 2, .max_hops = 3};
	struct tt_got g = {.keep_json = true};
	struct azds_trace_asm *a = tt_asm_new(&lim, &g);
	struct azds_trace_stats st;
	struct tc c1, c2, c3;
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	/* max_conns: the least recently used goes, and its waiting request with it */
	tc_init(&c1, a, API, 8080, IP(192, 168, 7, 1), 1000);
	tc_init(&c2, a, API, 8080, IP(192, 168, 7, 2), 1000);
	tc_init(&c3, a, API, 8080, IP(192, 168, 7, 3), 1000);
	tc_open(&c1, false, MS(0));
	tc_ios(&c1, AZDS_TR_RECV, MS(0.1), "GET /one HTTP/1.1\r\n\r\n");
	tc_open(&c2, false, MS(0.2));
	tc_open(&c3, false, MS(0.3));
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.evicted, 1);
	CHECK_INT(a->nconns, 2);
	azds_trace_asm_tick(a, MS(1));
	CHECK_INT(g.n, 1);
	CHECK_STR(tt_s(tt_hop(&g, 0, 0), "target"), "/one");
	CHECK_INT(tt_i(tt_hop(&g, 0, 0), "status"), 0);

	/* max_pending: a third request waiting on one connection is not tracked */
	tc_ios(&c2, AZDS_TR_RECV, MS(2), "GET /p1 HTTP/1.1\r\n\r\nGET /p2 HTTP/1.1\r\n\r\nGET /p3 HTTP/1.1\r\n\r\n");
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.evicted, 2);
	tc_ios(&c2, AZDS_TR_SEND, MS(2.5),
	       "HTTP/1.1 201 A\r\nContent-Length: 0\r\n\r\nHTTP/1.1 202 B\r\nContent-Length: 0\r\n\r\n");
	/* a request after the untracked one, before its answer: untracked too (it is answered after it) */
	tc_ios(&c2, AZDS_TR_RECV, MS(2.6), "GET /p4 HTTP/1.1\r\n\r\n");
	tc_ios(&c2, AZDS_TR_SEND, MS(2.7), "HTTP/1.1 203 C\r\nContent-Length: 0\r\n\r\n");
	tc_ios(&c2, AZDS_TR_SEND, MS(2.8), "HTTP/1.1 204 D\r\n\r\n");
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.evicted, 3);
	CHECK_INT(st.unparsed, 0);
	/* then the connection is in step again */
	tc_ios(&c2, AZDS_TR_RECV, MS(2.85), "GET /p5 HTTP/1.1\r\n\r\n");
	tc_ios(&c2, AZDS_TR_SEND, MS(2.9), "HTTP/1.1 205 E\r\nContent-Length: 0\r\n\r\n");
	azds_trace_asm_tick(a, MS(3));
	CHECK_INT(g.n, 4);
	CHECK_STR(tt_s(tt_hop(&g, 3, 0), "target"), "/p5");
	CHECK_INT(tt_i(tt_hop(&g, 3, 0), "status"), 205);
	CHECK_STR(tt_s(tt_hop(&g, 1, 0), "target"), "/p1");
	CHECK_INT(tt_i(tt_hop(&g, 1, 0), "status"), 201);
	CHECK_STR(tt_s(tt_hop(&g, 2, 0), "target"), "/p2");
	CHECK_INT(tt_i(tt_hop(&g, 2, 0), "status"), 202);

	/* max_hops: a request past it keeps its place in the order, untracked */
	tc_ios(&c3, AZDS_TR_RECV, MS(4), "GET /h1 HTTP/1.1\r\n\r\nGET /h2 HTTP/1.1\r\n\r\n");
	tc_ios(&c2, AZDS_TR_RECV, MS(4.1), "GET /h3 HTTP/1.1\r\n\r\n");
	CHECK_INT(a->nhops, 3);
	tc_ios(&c2, AZDS_TR_RECV, MS(4.2), "GET /h4 HTTP/1.1\r\n\r\n");
	CHECK_INT(a->nhops, 3);
	azds_trace_asm_stats(a, &st);
	CHECK_INT(st.evicted, 4);
	tc_ios(&c2, AZDS_TR_SEND, MS(4.5), ok);
	tc_ios(&c2, AZDS_TR_SEND, MS(4.6), ok); /* the answer to /h4: dropped with it */
	tc_ios(&c3, AZDS_TR_SEND, MS(4.7), ok);
	tc_ios(&c3, AZDS_TR_SEND, MS(4.8), ok);
	azds_trace_asm_tick(a, MS(5));
	CHECK_INT(g.n, 7);
	CHECK_STR(tt_s(tt_hop(&g, 4, 0), "target"), "/h3");
	CHECK_STR(tt_s(tt_hop(&g, 5, 0), "target"), "/h1");
	CHECK_STR(tt_s(tt_hop(&g, 6, 0), "target"), "/h2");
	CHECK_INT(a->nhops, 0);
	azds_trace_asm_free(a);
	tt_got_clear(&g);
}

int main(void)
{
	test_bad_records();
	test_limits();
	test_random();
	return tt_done("trace_malformed");
}
