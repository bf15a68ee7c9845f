/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for userspace/http/http_parse.c.
 *
 * Input: one configuration byte (limits, request flags), then the bytes
 * fed to the request parser, the response parser and the chunked scanner.
 * Besides ASan/UBSan findings, it aborts when an invariant breaks:
 *  - a head length is within the input and ends with CRLF CRLF, with no
 *    bare CR or LF inside; every view points into the head;
 *  - re-parsing a prefix agrees with the full parse (a prefix of an
 *    accepted head is INCOMPLETE; an error keeps its status as bytes are
 *    added);
 *  - the chunked scanner gives the same answer whether the input arrives
 *    in one piece, byte by byte or in uneven pieces;
 *  - the incremental (_inc) head parsers, fed uneven pieces, answer as the
 *    plain parsers do on the same bytes (they may only wait longer before a
 *    refusal while the head's end has not arrived), in at most 4 byte
 *    visits per byte.
 */
#include "http_parse.h"
#include "decisive.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                 \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__,  \
				__LINE__);                                               \
			abort();                                                         \
		}                                                                        \
	} while (0)

#define MAX_HDRS 16

struct cfg {
	struct azds_http_limits lim;
	bool req_is_head;
	bool req_is_connect;
	size_t max_line;
};

static struct cfg decode_cfg(uint8_t b)
{
	static const size_t heads[] = { 8192, 64, 256, 1024 };
	static const size_t lines[] = { 0, 4, 16, 64 };
	struct cfg c = {
		.lim = {
			.max_head_bytes = heads[b & 3],
			.max_headers = (b & 4) ? 3 : MAX_HDRS,
			.max_body_bytes = (b & 8) ? 100 : 0,
		},
		.req_is_head = b & 16,
		.req_is_connect = b & 32,
		.max_line = lines[(b >> 6) & 3],
	};
	return c;
}

/* Copy into an exact-size heap block so ASan catches any over-read. */
static char *dup_exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	FUZZ_CHECK(p != NULL);
	if (n)
		memcpy(p, s, n);
	return p;
}

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && p - buf <= (ptrdiff_t)(len - n);
}

static void check_crlf_only(const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (buf[i] == '\r')
			FUZZ_CHECK(i + 1 < n && buf[i + 1] == '\n');
		if (buf[i] == '\n')
			FUZZ_CHECK(i > 0 && buf[i - 1] == '\r');
	}
}

static void check_success(const struct azds_http_msg *m, const char *buf, size_t len, int r)
{
	size_t head = (size_t)r, i;

	FUZZ_CHECK(head <= len);
	FUZZ_CHECK(head >= 4 && memcmp(buf + head - 4, "\r\n\r\n", 4) == 0);
	check_crlf_only(buf, head);
	FUZZ_CHECK(m->num_headers <= MAX_HDRS);
	FUZZ_CHECK(m->body >= AZDS_BODY_NONE && m->body <= AZDS_BODY_UNTIL_CLOSE);
	FUZZ_CHECK(m->minor_version == 0 || m->minor_version == 1);
	for (i = 0; i < m->num_headers; i++) {
		const struct azds_http_header *h = &m->headers[i];

		FUZZ_CHECK(h->name_len > 0 && inside(h->name, h->name_len, buf, head));
		FUZZ_CHECK(inside(h->value, h->value_len, buf, head));
		FUZZ_CHECK(memchr(h->value, '\r', h->value_len) == NULL);
	}
	if (m->method)
		FUZZ_CHECK(inside(m->method, m->method_len, buf, head));
	if (m->target)
		FUZZ_CHECK(inside(m->target, m->target_len, buf, head));
	if (m->host)
		FUZZ_CHECK(inside(m->host, m->host_len, buf, head));
	if (m->route_as)
		FUZZ_CHECK(inside(m->route_as, m->route_as_len, buf, head));
	if (m->baggage)
		FUZZ_CHECK(inside(m->baggage, m->baggage_len, buf, head));
}

static void check_result(const struct azds_http_msg *m, const char *buf, size_t len, int r,
			 bool is_request)
{
	if (r == AZDS_HTTP_INCOMPLETE)
		return;
	if (r == AZDS_HTTP_ERROR) {
		FUZZ_CHECK(m->reason != NULL);
		if (is_request)
			FUZZ_CHECK(m->status == 400 || m->status == 413 || m->status == 431 ||
				   m->status == 501 || m->status == 505);
		else
			FUZZ_CHECK(m->status == 502);
		return;
	}
	FUZZ_CHECK(r > 0);
	check_success(m, buf, len, r);
}

static int parse(const struct cfg *c, bool is_request, const char *buf, size_t len,
		 struct azds_http_msg *m, struct azds_http_header *hdrs)
{
	*m = (struct azds_http_msg){ .headers = hdrs, .headers_cap = MAX_HDRS };
	if (is_request)
		return azds_http_parse_request(buf, len, m, &c->lim);
	return azds_http_parse_response(buf, len, m, &c->lim, c->req_is_head, c->req_is_connect);
}

/* A route-as value as the router would use it: baggage values decoded. */
static long ra_decode(const struct azds_route_as_value *v, char *out, size_t cap)
{
	if (v->from_baggage)
		return azds_pct_decode(v->val, v->len, out, cap);
	FUZZ_CHECK(v->len < cap);
	memcpy(out, v->val, v->len);
	out[v->len] = '\0';
	return (long)v->len;
}

static void check_route_as(const struct azds_http_msg *m, const char *head, size_t len)
{
	struct azds_route_as ra;
	int r = azds_http_route_as(m, &ra);
	char a[8192], b[8192];
	long al, bl;

	FUZZ_CHECK(r == 0 || r == 1 || r == -EINVAL);
	FUZZ_CHECK((m->baggage_count > 0) == (m->baggage != NULL));
	if (r == 1) {
		FUZZ_CHECK(ra.val.val == NULL && ra.other.val == NULL);
		FUZZ_CHECK(!m->route_as || m->route_as_len == 0);
		return;
	}
	FUZZ_CHECK(ra.val.val && inside(ra.val.val, ra.val.len, head, len));
	/* the header wins the first place whenever it says something */
	if (m->route_as && m->route_as_len)
		FUZZ_CHECK(ra.val.val == m->route_as && !ra.val.from_baggage);
	if (r == 0) {
		FUZZ_CHECK(ra.other.val == NULL);
		return;
	}
	FUZZ_CHECK(ra.other.val && ra.other.from_baggage);
	FUZZ_CHECK(inside(ra.other.val, ra.other.len, head, len));
	al = ra_decode(&ra.val, a, sizeof(a));
	bl = ra_decode(&ra.other, b, sizeof(b));
	FUZZ_CHECK(al >= 0 && bl >= 0);
	FUZZ_CHECK(al != bl || memcmp(a, b, (size_t)al) != 0);
}

/* The full result constrains what any prefix may return. */
static void check_prefix(const struct cfg *c, bool is_request, const char *data, size_t p,
			 int full, int full_status)
{
	struct azds_http_header hdrs[MAX_HDRS];
	struct azds_http_msg m;
	char *buf = dup_exact(data, p);
	int r = parse(c, is_request, buf, p, &m, hdrs);

	check_result(&m, buf, p, r, is_request);
	if (full > 0)
		FUZZ_CHECK(r == ((int)p < full ? AZDS_HTTP_INCOMPLETE : full));
	else if (full == AZDS_HTTP_INCOMPLETE)
		FUZZ_CHECK(r == AZDS_HTTP_INCOMPLETE);
	else if (r == AZDS_HTTP_ERROR)
		FUZZ_CHECK(m.status == full_status);
	else
		FUZZ_CHECK(r == AZDS_HTTP_INCOMPLETE);
	free(buf);
}

static size_t mix(size_t x)
{
	x ^= x >> 7;
	x *= 0x9e3779b97f4a7c15ULL;
	return x ^ (x >> 29);
}

static int fuzz_head(const struct cfg *c, bool is_request, const char *data, size_t len)
{
	struct azds_http_header hdrs[MAX_HDRS];
	struct azds_http_msg m;
	int r = parse(c, is_request, data, len, &m, hdrs);
	int status = m.status;
	size_t i;

	check_result(&m, data, len, r, is_request);
	if (len == 0)
		return r;
	if (r > 0) {
		check_prefix(c, is_request, data, (size_t)r, r, 0);
		check_prefix(c, is_request, data, (size_t)r - 1, r, 0);
	}
	check_prefix(c, is_request, data, len - 1, r, status);
	for (i = 0; i < 6; i++)
		check_prefix(c, is_request, data, mix(len * 7 + i) % len, r, status);

	if (is_request && r > 0 && m.baggage) {
		const char *v;
		size_t vl;

		if (azds_baggage_get(m.baggage, m.baggage_len, "k", &v, &vl))
			FUZZ_CHECK(inside(v, vl, m.baggage, m.baggage_len));
	}
	if (is_request && r > 0)
		check_route_as(&m, data, (size_t)r);
	return r;
}

static int parse_inc(const struct cfg *c, struct azds_http_scan *st, bool is_request,
		     const char *buf, size_t len, struct azds_http_msg *m,
		     struct azds_http_header *hdrs)
{
	*m = (struct azds_http_msg){ .headers = hdrs, .headers_cap = MAX_HDRS };
	if (is_request)
		return azds_http_parse_request_inc(st, buf, len, m, &c->lim);
	return azds_http_parse_response_inc(st, buf, len, m, &c->lim, c->req_is_head,
					    c->req_is_connect);
}

/* Grows the head in uneven pieces through one scan state. */
static void fuzz_inc(const struct cfg *c, bool is_request, const char *data, size_t len)
{
	struct azds_http_header h1[MAX_HDRS], h2[MAX_HDRS];
	struct azds_http_msg m1, m2;
	struct azds_http_scan st;
	size_t p = 0, k = len;

	azds_http_scan_init(&st);
	for (;;) {
		char *buf = dup_exact(data, p);
		int want = parse(c, is_request, buf, p, &m1, h1);
		int got = parse_inc(c, &st, is_request, buf, p, &m2, h2);

		if (got == AZDS_HTTP_INCOMPLETE && want == AZDS_HTTP_ERROR)
			FUZZ_CHECK(!decisive(data, p, c->lim.max_head_bytes));
		else
			FUZZ_CHECK(got == want);
		if (got == AZDS_HTTP_ERROR)
			FUZZ_CHECK(m1.status == m2.status && strcmp(m1.reason, m2.reason) == 0);
		if (got > 0)
			FUZZ_CHECK(m1.num_headers == m2.num_headers && m1.body == m2.body &&
				   m1.content_length == m2.content_length &&
				   m1.keep_alive == m2.keep_alive && m1.upgrade == m2.upgrade);
		free(buf);
		if (got != AZDS_HTTP_INCOMPLETE || p == len)
			break;
		p += 1 + mix(k++) % 64;
		if (p > len)
			p = len;
	}
	FUZZ_CHECK(st.examined <= 4 * (uint64_t)p);
}

struct scan_res {
	long consumed; /* AZDS_CHUNKED_ERROR or AZDS_CHUNKED_TOO_LARGE on error */
	bool done;
	uint64_t total;
	uint64_t data;  /* decode: chunk data bytes handed out */
};

/*
 * Feeds data in pieces of `step` bytes (0: pieces of varying size), through
 * azds_chunked_decode when decode is set (each piece then re-offered from
 * where the last call stopped).
 */
static struct scan_res scan(const char *data, size_t len, size_t step, size_t max_line,
			    uint64_t max_total, bool decode)
{
	struct azds_chunked st;
	struct scan_res res = { 0, false, 0, 0 };
	size_t off = 0, k = 0;

	azds_chunked_init_max(&st, max_total);
	while (off < len && !res.done) {
		size_t want = step ? step : 1 + mix(k++) % 9;
		size_t n = len - off < want ? len - off : want, dl = 0;
		char *piece = dup_exact(data + off, n);
		long r = decode ? azds_chunked_decode(&st, piece, n, &dl, &res.done, max_line)
				: azds_chunked_scan(&st, piece, n, &res.done, max_line);

		free(piece);
		if (r < 0) {
			FUZZ_CHECK(r == AZDS_CHUNKED_ERROR || r == AZDS_CHUNKED_TOO_LARGE);
			res.consumed = r;
			return res;
		}
		FUZZ_CHECK((size_t)r <= n && dl <= (size_t)r);
		/* decode stops early only after data; scan only at the end */
		FUZZ_CHECK(res.done || (size_t)r == n || (decode && dl > 0));
		FUZZ_CHECK(decode || r > 0 || n == 0);
		res.consumed += r;
		res.data += dl;
		off += (size_t)r;
	}
	res.total = st.total;
	return res;
}

static void same_result(const struct scan_res *a, const struct scan_res *b)
{
	FUZZ_CHECK(a->consumed == b->consumed && a->done == b->done);
	if (a->consumed >= 0)
		FUZZ_CHECK(a->total == b->total);
}

static void fuzz_chunked(const char *data, size_t len, size_t max_line, uint64_t max_total)
{
	struct scan_res one = scan(data, len, len ? len : 1, max_line, 0, false);
	struct scan_res bytes = scan(data, len, 1, max_line, 0, false);
	struct scan_res uneven = scan(data, len, 0, max_line, 0, false);
	struct scan_res dec = scan(data, len, 0, max_line, 0, true);
	struct scan_res lim = scan(data, len, 0, max_line, max_total, false);
	struct scan_res lim1 = scan(data, len, len ? len : 1, max_line, max_total, true);

	same_result(&one, &bytes);
	same_result(&one, &uneven);
	same_result(&one, &dec);
	same_result(&lim, &lim1);
	FUZZ_CHECK(one.consumed != AZDS_CHUNKED_TOO_LARGE);
	if (one.consumed >= 0) {
		FUZZ_CHECK(one.total <= (uint64_t)one.consumed);
		/* De-chunking hands out exactly the decoded bytes. */
		FUZZ_CHECK(dec.data == one.total);
		/* A finished body ends with CRLF. */
		if (one.done)
			FUZZ_CHECK(one.consumed >= 5 &&
				   memcmp(data + one.consumed - 2, "\r\n", 2) == 0);
	}
	/* A limit only ever adds a TOO_LARGE, and only past the limit. */
	if (lim.consumed != AZDS_CHUNKED_TOO_LARGE)
		same_result(&lim, &one);
	else
		FUZZ_CHECK(max_total > 0);
	if (max_total && lim.consumed >= 0)
		FUZZ_CHECK(lim.total <= max_total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg c;
	const char *msg;
	size_t len;
	int r;

	if (size < 1)
		return 0;
	c = decode_cfg(data[0]);
	msg = (const char *)data + 1;
	len = size - 1;

	r = fuzz_head(&c, true, msg, len);
	fuzz_head(&c, false, msg, len);
	fuzz_inc(&c, true, msg, len);
	fuzz_inc(&c, false, msg, len);
	fuzz_chunked(msg, len, c.max_line, c.lim.max_body_bytes);
	/* The body right after an accepted head, as the router would scan it. */
	if (r > 0)
		fuzz_chunked(msg + r, len - (size_t)r, c.max_line, c.lim.max_body_bytes);
	return 0;
}
