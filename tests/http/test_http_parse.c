/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for userspace/http/http_parse.c.
 *
 * Every input is copied so that its last byte sits right before a
 * PROT_NONE page: reading one byte too far crashes the test instead of
 * passing silently. Each table case is also replayed on all of its
 * prefixes to check the incremental contract: a prefix of an accepted
 * head is INCOMPLETE, and a refusal never turns into something else when
 * more bytes arrive.
 */
#include "http_parse.h"
#include "decisive.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* Minimal check framework                                                 */

static unsigned g_checks, g_failures, g_cases;
static const char *g_case = "";

#define CHECK(cond)                                                                    \
	do {                                                                           \
		g_checks++;                                                            \
		if (!(cond)) {                                                         \
			g_failures++;                                                  \
			fprintf(stderr, "%s:%d: [%s] CHECK(%s) failed\n", __FILE__,    \
				__LINE__, g_case, #cond);                              \
		}                                                                      \
	} while (0)

#define CHECK_INT(got, want)                                                           \
	do {                                                                           \
		long long got_ = (long long)(got), want_ = (long long)(want);          \
		g_checks++;                                                            \
		if (got_ != want_) {                                                   \
			g_failures++;                                                  \
			fprintf(stderr, "%s:%d: [%s] %s == %lld, expected %lld\n",     \
				__FILE__, __LINE__, g_case, #got, got_, want_);        \
		}                                                                      \
	} while (0)

static bool view_eq(const char *p, size_t n, const char *s)
{
	return p && strlen(s) == n && memcmp(p, s, n) == 0;
}

/* ---------------------------------------------------------------------- */
/* Guarded buffers                                                         */

#define ARENA_BYTES (256 * 1024)

static char *g_arena;
static size_t g_arena_len;

static void arena_init(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (ARENA_BYTES + page - 1) / page * page;
	char *m = mmap(NULL, data + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (m == MAP_FAILED || mprotect(m + data, page, PROT_NONE) != 0) {
		perror("guard page");
		exit(2);
	}
	g_arena = m;
	g_arena_len = data;
}

/* Returns a copy of s[0..len) whose end touches the guard page. */
static const char *guarded(const char *s, size_t len)
{
	char *dst;

	if (len > g_arena_len) {
		fprintf(stderr, "input too large for the arena\n");
		exit(2);
	}
	dst = g_arena + g_arena_len - len;
	memmove(dst, s, len);
	return dst;
}

/* The harness is only useful if reading one byte past the input traps. */
static void test_guard_traps(void)
{
	pid_t pid;
	int status = 0;

	g_case = "guard page traps";
	g_cases++;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		const volatile char *p = guarded("x", 1);
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull >= 0)
			dup2(devnull, 2); /* silence the sanitizer's SEGV report */
		_exit(p[1] == 'x' ? 0 : 0);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

/* ---------------------------------------------------------------------- */
/* Table types                                                             */

enum tri { ANY = 0, YES, NO };
#define OK 0               /* success; head ends at the first CRLFCRLF */
#define INC AZDS_HTTP_INCOMPLETE
#define ERR AZDS_HTTP_ERROR
#define B(x) ((x) + 1)     /* body expectation; 0 = don't check */
#define ABSENT "\x01"      /* expected view must be NULL */
#define IN(s) .in = (s), .len = sizeof(s) - 1

struct req_case {
	const char *name;
	const char *in;
	size_t len;
	int ret;
	int status;          /* on ERR */
	const char *reason;  /* on ERR, if set */
	int body;            /* B(AZDS_BODY_*) */
	uint64_t cl;
	enum tri ka, expect, upgrade, head, connect;
	const char *method, *target, *host, *route_as, *baggage;
	size_t max_head, max_headers; /* 0 = test defaults */
	uint64_t max_body;
};

struct resp_case {
	const char *name;
	const char *in;
	size_t len;
	int ret;
	int status_code; /* on success */
	int body;
	uint64_t cl;
	enum tri ka, upgrade;
	bool req_head, req_connect;
	size_t max_head;
	uint64_t max_body;
};

#define TEST_MAX_HEAD 8192
#define TEST_MAX_HEADERS 32

static struct azds_http_limits limits(size_t max_head, size_t max_headers, uint64_t max_body)
{
	struct azds_http_limits lim = {
		.max_head_bytes = max_head ? max_head : TEST_MAX_HEAD,
		.max_headers = max_headers ? max_headers : TEST_MAX_HEADERS,
		.max_body_bytes = max_body,
	};
	return lim;
}

static int expected_ret(int ret, const char *in, size_t len)
{
	const char *end;

	if (ret != OK)
		return ret;
	end = memmem(in, len, "\r\n\r\n", 4);
	return end ? (int)(end - in) + 4 : -100;
}

static void check_tri(enum tri want, bool got, const char *what)
{
	if (want == ANY)
		return;
	g_checks++;
	if ((want == YES) != got) {
		g_failures++;
		fprintf(stderr, "[%s] %s is %d, expected %d\n", g_case, what, got, want == YES);
	}
}

static void check_view(const char *want, const char *p, size_t n, const char *what)
{
	bool ok;

	if (!want)
		return;
	ok = strcmp(want, ABSENT) == 0 ? p == NULL : view_eq(p, n, want);
	g_checks++;
	if (!ok) {
		g_failures++;
		fprintf(stderr, "[%s] %s is '%.*s', expected '%s'\n", g_case, what,
			p ? (int)n : 6, p ? p : "(null)", want);
	}
}

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && p + n <= buf + len;
}

/* Every view must point into the head; values must be trimmed. */
static void check_views(const struct azds_http_msg *m, const char *buf, int head)
{
	size_t i, len = (size_t)head;

	for (i = 0; i < m->num_headers; i++) {
		const struct azds_http_header *h = &m->headers[i];

		CHECK(inside(h->name, h->name_len, buf, len));
		CHECK(inside(h->value, h->value_len, buf, len));
		CHECK(h->value_len == 0 || (h->value[0] != ' ' && h->value[0] != '\t'));
		CHECK(h->value_len == 0 ||
		      (h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t'));
	}
	if (m->method)
		CHECK(inside(m->method, m->method_len, buf, len));
	if (m->target)
		CHECK(inside(m->target, m->target_len, buf, len));
	if (m->host)
		CHECK(inside(m->host, m->host_len, buf, len));
	if (m->route_as)
		CHECK(inside(m->route_as, m->route_as_len, buf, len));
	if (m->baggage)
		CHECK(inside(m->baggage, m->baggage_len, buf, len));
}

/*
 * Replays every prefix of the input. want/status are the full input's
 * result: a prefix shorter than an accepted head must be INCOMPLETE, and
 * an error may only appear with the final status and must then persist.
 */
typedef int (*parse_fn)(const void *c, const char *buf, size_t len, struct azds_http_msg *m);

static void check_prefixes(const void *c, parse_fn parse, const char *in, size_t len, int want,
			   int status)
{
	struct azds_http_header hdrs[64];
	bool seen_error = false;
	size_t p;

	for (p = 0; p < len; p++) {
		struct azds_http_msg m = { .headers = hdrs, .headers_cap = 64 };
		int r = parse(c, guarded(in, p), p, &m);

		if (want > 0) {
			if (r != (p < (size_t)want ? INC : want)) {
				CHECK_INT(r, p < (size_t)want ? INC : want);
				fprintf(stderr, "  at prefix %zu\n", p);
				return;
			}
			continue;
		}
		if (r == ERR) {
			seen_error = true;
			if (want != ERR || m.status != status) {
				CHECK_INT(m.status, status);
				fprintf(stderr, "  at prefix %zu (%s)\n", p, m.reason);
				return;
			}
		} else if (r != INC || seen_error) {
			CHECK_INT(r, ERR);
			fprintf(stderr, "  at prefix %zu\n", p);
			return;
		}
	}
	g_checks++;
}

typedef int (*parse_inc_fn)(const void *c, struct azds_http_scan *s, const char *buf, size_t len,
			    struct azds_http_msg *m);

static unsigned g_inc_early; /* prefixes where only the plain parser refused yet */

/*
 * Feeds the input in pieces of step bytes through the _inc variant, each
 * prefix copied against the guard page (so the buffer moves every call),
 * and compares every answer with the plain parser's on the same prefix.
 */
static void check_inc_steps(const void *c, parse_fn plain, parse_inc_fn inc, const char *in,
			    size_t len, size_t max_head, size_t step)
{
	struct azds_http_header h1[64], h2[64];
	struct azds_http_scan st;
	size_t p = 0;

	azds_http_scan_init(&st);
	for (;;) {
		struct azds_http_msg m1 = { .headers = h1, .headers_cap = 64 };
		struct azds_http_msg m2 = { .headers = h2, .headers_cap = 64 };
		int want = plain(c, guarded(in, p), p, &m1);
		int got = inc(c, &st, guarded(in, p), p, &m2);

		if (got == INC && want == ERR && !decisive(in, p, max_head)) {
			g_inc_early++;
		} else if (got != want || (got == ERR && (m1.status != m2.status ||
							 strcmp(m1.reason, m2.reason) != 0))) {
			CHECK_INT(got, want);
			fprintf(stderr, "  _inc at prefix %zu, step %zu: %d/%d, plain %d/%d\n", p, step, got,
				m2.status, want, m1.status);
			return;
		} else if (got > 0) {
			CHECK_INT(m2.num_headers, m1.num_headers);
			CHECK_INT(m2.body, m1.body);
			CHECK(m2.content_length == m1.content_length);
			CHECK_INT(m2.keep_alive, m1.keep_alive);
			CHECK_INT(m2.upgrade, m1.upgrade);
		}
		if (got != INC)
			break; /* final: the plain parser's answer cannot change either */
		if (p == len)
			break;
		p = len - p < step ? len : p + step;
	}
	g_checks++;
}

static void check_incremental(const void *c, parse_fn plain, parse_inc_fn inc, const char *in,
			      size_t len, size_t max_head)
{
	static const size_t steps[] = { 1, 2, 3, 7, SIZE_MAX };
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		check_inc_steps(c, plain, inc, in, len, max_head, steps[i]);
}

/* ---------------------------------------------------------------------- */
/* Request cases                                                           */

static const struct req_case req_cases[] = {
	/* --- accepted --- */
	{ "simple GET", IN("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), OK,
	  .body = B(AZDS_BODY_NONE), .ka = YES, .method = "GET", .target = "/",
	  .host = "example.com", .route_as = ABSENT, .baggage = ABSENT, .head = NO,
	  .connect = NO, .expect = NO, .upgrade = NO },
	{ "POST with body", IN("POST /submit?a=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
	  OK, .body = B(AZDS_BODY_LENGTH), .cl = 5, .ka = YES, .target = "/submit?a=1" },
	{ "Content-Length 0", IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), OK,
	  .body = B(AZDS_BODY_LENGTH), .cl = 0 },
	{ "chunked", IN("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
	  OK, .body = B(AZDS_BODY_CHUNKED) },
	{ "chunked mixed case", IN("POST /u HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  ChUnKeD \r\n\r\n"),
	  OK, .body = B(AZDS_BODY_CHUNKED) },
	{ "gzip then chunked", IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
	  OK, .body = B(AZDS_BODY_CHUNKED) },
	{ "TE across two headers",
	  IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  OK, .body = B(AZDS_BODY_CHUNKED) },
	{ "pipelined", IN("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"), OK,
	  .target = "/a", .body = B(AZDS_BODY_NONE) },
	{ "HTTP/1.0 closes", IN("GET / HTTP/1.0\r\n\r\n"), OK, .ka = NO, .host = ABSENT },
	{ "HTTP/1.0 keep-alive", IN("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), OK, .ka = YES },
	{ "HTTP/1.0 keep-alive + close", IN("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
	  OK, .ka = NO },
	{ "HTTP/1.1 close", IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), OK, .ka = NO },
	{ "close in list", IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n"), OK, .ka = NO },
	{ "close in 2nd header",
	  IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: te\r\nConnection: close\r\n\r\n"), OK, .ka = NO },
	{ "closed is not close", IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"), OK,
	  .ka = YES },
	{ "Expect", IN("PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n"),
	  OK, .expect = YES, .body = B(AZDS_BODY_LENGTH), .cl = 3 },
	{ "Expect other", IN("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"), OK, .expect = NO },
	{ "Expect ignored in 1.0", IN("PUT /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), OK, .expect = NO },
	{ "websocket upgrade",
	  IN("GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
	  OK, .upgrade = YES, .ka = YES },
	{ "Upgrade without Connection", IN("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"), OK,
	  .upgrade = NO },
	{ "Connection upgrade without Upgrade",
	  IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"), OK, .upgrade = NO },
	{ "empty Upgrade header",
	  IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade:\r\n\r\n"), OK, .upgrade = NO },
	{ "upgrade ignored in 1.0",
	  IN("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"), OK, .upgrade = NO },
	{ "route-as", IN("GET / HTTP/1.1\r\nHost: a\r\nAZDS-Route-As:  alice \r\n\r\n"), OK,
	  .route_as = "alice" },
	{ "baggage first header",
	  IN("GET / HTTP/1.1\r\nHost: a\r\nbaggage: k=v\r\nBaggage: k=w\r\n\r\n"), OK, .baggage = "k=v" },
	{ "empty baggage counts as first",
	  IN("GET / HTTP/1.1\r\nHost: a\r\nbaggage:\r\nbaggage: k=w\r\n\r\n"), OK, .baggage = "" },
	{ "HEAD", IN("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n"), OK, .head = YES, .connect = NO },
	{ "lower-case head is not HEAD", IN("head /x HTTP/1.1\r\nHost: a\r\n\r\n"), OK, .head = NO },
	{ "HEADER is not HEAD", IN("HEADER /x HTTP/1.1\r\nHost: a\r\n\r\n"), OK, .head = NO },
	{ "CONNECTX is not CONNECT", IN("CONNECTX a:1 HTTP/1.1\r\nHost: a\r\n\r\n"), OK, .connect = NO },
	{ "CONNECT", IN("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), OK,
	  .connect = YES, .target = "example.com:443", .host = "example.com:443" },
	{ "OPTIONS *", IN("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), OK, .target = "*" },
	{ "absolute-form", IN("GET http://a.example/p?q HTTP/1.1\r\nHost: a.example\r\n\r\n"), OK,
	  .target = "http://a.example/p?q" },
	{ "identical CL list", IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), OK,
	  .body = B(AZDS_BODY_LENGTH), .cl = 5 },
	{ "identical CL headers",
	  IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), OK,
	  .body = B(AZDS_BODY_LENGTH), .cl = 5 },
	{ "CL max uint64", IN("POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n"), OK,
	  .cl = UINT64_MAX, .body = B(AZDS_BODY_LENGTH) },
	{ "CL at limit", IN("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n"), OK, .max_body = 100,
	  .body = B(AZDS_BODY_LENGTH), .cl = 100 },
	{ "value chars", IN("GET / HTTP/1.1\r\nX-A: a\tb \x80\xff~!\r\nX-Empty:\r\nX-Ws: \t \r\n\r\n"), OK },
	{ "IPv6 host", IN("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), OK, .host = "[::1]:8080" },
	{ "empty host", IN("GET / HTTP/1.1\r\nHost:\r\n\r\n"), OK, .host = "" },
	{ "tchar names", IN("GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09aZ: x\r\n\r\n"), OK },
	{ "headers at limit", IN("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), OK, .max_headers = 3 },
	{ "head at limit", IN("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), OK, .max_head = 27 },
	{ "head fits, next does not", IN("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n"),
	  OK, .max_head = 27 },

	/* --- not complete yet --- */
	{ "empty input", IN(""), INC },
	{ "partial line", IN("GET / HTTP/1."), INC },
	{ "no final CRLF", IN("GET / HTTP/1.1\r\nHost: a\r\n"), INC },
	{ "final CR only", IN("GET / HTTP/1.1\r\nHost: a\r\n\r"), INC },
	{ "body framing not needed yet", IN("POST / HTTP/1.1\r\nContent-Length: 5\r\n"), INC },

	/* --- line endings and control bytes --- */
	{ "bare LF request line", IN("GET / HTTP/1.1\nHost: a\r\n\r\n"), ERR, 400, "bare LF in head" },
	{ "bare LF header", IN("GET / HTTP/1.1\r\nHost: a\n\r\n"), ERR, 400 },
	{ "bare LF final", IN("GET / HTTP/1.1\r\nHost: a\r\n\n"), ERR, 400 },
	{ "LFLF", IN("GET / HTTP/1.1\n\n"), ERR, 400 },
	{ "bare CR header", IN("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"), ERR, 400, "bare CR in head" },
	{ "bare CR request line", IN("GET /\r HTTP/1.1\r\n\r\n"), ERR, 400 },
	{ "CR CR LF", IN("GET / HTTP/1.1\r\r\n\r\n"), ERR, 400 },
	{ "obs-fold", IN("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), ERR, 400 },
	{ "obs-fold tab", IN("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), ERR, 400 },
	{ "space before first header", IN("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), ERR, 400 },
	{ "NUL in value", IN("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"), ERR, 400, "invalid header value" },
	{ "SOH in value", IN("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n"), ERR, 400 },
	{ "DEL in value", IN("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"), ERR, 400 },
	{ "ESC in value", IN("GET / HTTP/1.1\r\nX: \x1b[0m\r\n\r\n"), ERR, 400 },
	{ "leading CRLF", IN("\r\nGET / HTTP/1.1\r\n\r\n"), ERR, 400 },

	/* --- header names --- */
	{ "space before colon", IN("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), ERR, 400, "whitespace before colon" },
	{ "tab before colon", IN("GET / HTTP/1.1\r\nContent-Length\t: 5\r\n\r\n"), ERR, 400 },
	{ "empty name", IN("GET / HTTP/1.1\r\n: a\r\n\r\n"), ERR, 400, "empty header name" },
	{ "no colon", IN("GET / HTTP/1.1\r\nHosta\r\n\r\n"), ERR, 400 },
	{ "bad name char", IN("GET / HTTP/1.1\r\nX(y): a\r\n\r\n"), ERR, 400, "invalid header name" },
	{ "obs-text in name", IN("GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n"), ERR, 400 },
	{ "underscore name ok", IN("GET / HTTP/1.1\r\nX_Y: a\r\n\r\n"), OK },

	/* --- framing --- */
	{ "CL then TE", IN("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  ERR, 400 },
	{ "TE then CL", IN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
	  ERR, 400 },
	{ "CL list differs", IN("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n"), ERR, 400,
	  "conflicting Content-Length" },
	{ "CL headers differ", IN("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
	  ERR, 400 },
	{ "CL empty member", IN("POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n"), ERR, 400 },
	{ "CL empty", IN("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"), ERR, 400 },
	{ "CL plus", IN("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"), ERR, 400 },
	{ "CL negative", IN("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), ERR, 400 },
	{ "CL hex", IN("POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n"), ERR, 400 },
	{ "CL inner space", IN("POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n"), ERR, 400 },
	{ "CL overflow", IN("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n"), ERR, 400 },
	{ "CL too large", IN("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n"), ERR, 413, .max_body = 100 },
	{ "TE gzip only", IN("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), ERR, 400,
	  "chunked is not the final coding" },
	{ "TE chunked then gzip", IN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), ERR, 400 },
	{ "TE chunked twice", IN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), ERR, 400,
	  "chunked applied twice" },
	{ "TE chunked twice headers",
	  IN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), ERR, 400 },
	{ "TE chunked then gzip headers",
	  IN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), ERR, 400 },
	{ "TE unknown", IN("POST / HTTP/1.1\r\nTransfer-Encoding: foo, chunked\r\n\r\n"), ERR, 501 },
	{ "TE identity", IN("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"), ERR, 501 },
	{ "TE xchunked", IN("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n"), ERR, 501 },
	{ "TE parameter", IN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"), ERR, 400 },
	{ "TE empty member first", IN("POST / HTTP/1.1\r\nTransfer-Encoding: ,chunked\r\n\r\n"), ERR, 400 },
	{ "TE empty member last", IN("POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n"), ERR, 400 },
	{ "TE empty", IN("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n"), ERR, 400 },
	{ "TE quoted", IN("POST / HTTP/1.1\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"), ERR, 400 },
	{ "TE in HTTP/1.0", IN("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), ERR, 400,
	  "Transfer-Encoding in HTTP/1.0" },

	/* --- Host and routing --- */
	{ "two Host", IN("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), ERR, 400, "multiple Host headers" },
	{ "two identical Host", IN("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), ERR, 400 },
	{ "Host with space", IN("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), ERR, 400, "invalid Host" },
	{ "Host with slash", IN("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), ERR, 400 },
	{ "Host with at", IN("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), ERR, 400 },
	{ "two different route-as", IN("GET / HTTP/1.1\r\nazds-route-as: a\r\nazds-route-as: b\r\n\r\n"),
	  ERR, 400, "multiple azds-route-as" },
	{ "route-as list", IN("GET / HTTP/1.1\r\nHost: a\r\nazds-route-as: a, b\r\n\r\n"), OK,
	  .route_as = "a, b" },
	{ "two route-as", IN("GET / HTTP/1.1\r\nazds-route-as: a\r\nAzds-Route-As: a\r\n\r\n"), ERR, 400,
	  "multiple azds-route-as" },

	/* --- limits --- */
	{ "too many headers", IN("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), ERR, 431,
	  "too many headers", .max_headers = 3 },
	{ "head one byte too big", IN("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), ERR, 431, .max_head = 26 },
	{ "incomplete past limit", IN("GET / HTTP/1.1\r\nHost: aaaaaaaaaaaaaaaaaaaaaaaaa"), ERR, 431,
	  .max_head = 32 },

	/* --- request line --- */
	{ "bad method char", IN("G(T / HTTP/1.1\r\n\r\n"), ERR, 400, "invalid method" },
	{ "empty method", IN(" / HTTP/1.1\r\n\r\n"), ERR, 400 },
	{ "tab after method", IN("GET\t/ HTTP/1.1\r\n\r\n"), ERR, 400 },
	{ "double space", IN("GET  / HTTP/1.1\r\n\r\n"), ERR, 400, "invalid request target" },
	{ "CTL in target", IN("GET /a\x01 HTTP/1.1\r\n\r\n"), ERR, 400 },
	{ "DEL in target", IN("GET /a\x7f HTTP/1.1\r\n\r\n"), ERR, 400 },
	{ "obs-text in target", IN("GET /\xc3\xa9 HTTP/1.1\r\n\r\n"), ERR, 400 },
	{ "space in target", IN("GET /a b HTTP/1.1\r\n\r\n"), ERR, 400 },
	{ "trailing space", IN("GET / HTTP/1.1 \r\n\r\n"), ERR, 400 },
	{ "no version", IN("GET /\r\n\r\n"), ERR, 400 },
	{ "HTTP/0.9 style", IN("GET / \r\n\r\n"), ERR, 400 },
	{ "HTTP/2.0", IN("GET / HTTP/2.0\r\n\r\n"), ERR, 505 },
	{ "HTTP/1.2", IN("GET / HTTP/1.2\r\n\r\n"), ERR, 505 },
	{ "HTTP/0.9", IN("GET / HTTP/0.9\r\n\r\n"), ERR, 505 },
	{ "HTTP/3.0", IN("GET / HTTP/3.0\r\n\r\n"), ERR, 505 },
	{ "HTTP/1.10", IN("GET / HTTP/1.10\r\n\r\n"), ERR, 400 },
	{ "HTTP/11.1", IN("GET / HTTP/11.1\r\n\r\n"), ERR, 400 },
	{ "HTTP/1", IN("GET / HTTP/1\r\n\r\n"), ERR, 400 },
	{ "lower-case http", IN("GET / http/1.1\r\n\r\n"), ERR, 400 },
	{ "garbage version", IN("GET / FOO\r\n\r\n"), ERR, 400 },
	{ "HTTP/2 preface", IN("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), ERR, 505 },

	/* --- refused before the head is complete --- */
	{ "early bad method", IN("GE\x01"), ERR, 400 },
	{ "early bad version", IN("GET / HTTP/2.0"), ERR, 505 },
	{ "early garbage version", IN("GET / XTTP"), ERR, 400 },
	{ "early dup Host", IN("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n"), ERR, 400 },
	{ "early NUL", IN("GET / HTTP/1.1\r\nX: \0"), ERR, 400 },
	{ "early CL+TE", IN("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n"), ERR, 400 },
	{ "early bare LF", IN("GET / HTTP/1.1\n"), ERR, 400 },
	{ "early too many headers", IN("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n"), ERR, 431, .max_headers = 1 },
};

static int parse_req(const void *vc, const char *buf, size_t len, struct azds_http_msg *m)
{
	const struct req_case *c = vc;
	struct azds_http_limits lim = limits(c->max_head, c->max_headers, c->max_body);

	return azds_http_parse_request(buf, len, m, &lim);
}

static int parse_req_inc(const void *vc, struct azds_http_scan *s, const char *buf, size_t len,
			 struct azds_http_msg *m)
{
	const struct req_case *c = vc;
	struct azds_http_limits lim = limits(c->max_head, c->max_headers, c->max_body);

	return azds_http_parse_request_inc(s, buf, len, m, &lim);
}

static void run_req_case(const struct req_case *c)
{
	struct azds_http_header hdrs[64];
	struct azds_http_msg m = { .headers = hdrs, .headers_cap = 64 };
	const char *buf = guarded(c->in, c->len);
	int want = expected_ret(c->ret, c->in, c->len);
	int r = parse_req(c, buf, c->len, &m);

	g_case = c->name;
	g_cases++;
	CHECK_INT(r, want);
	if (r == ERR) {
		CHECK_INT(m.status, c->status);
		CHECK(m.reason != NULL);
		if (c->reason && m.reason)
			CHECK(strcmp(m.reason, c->reason) == 0);
	}
	if (r > 0 && r == want) {
		check_views(&m, buf, r);
		if (c->body)
			CHECK_INT(m.body, c->body - 1);
		if (c->body == B(AZDS_BODY_LENGTH))
			CHECK(m.content_length == c->cl);
		check_tri(c->ka, m.keep_alive, "keep_alive");
		check_tri(c->expect, m.expect_continue, "expect_continue");
		check_tri(c->upgrade, m.upgrade, "upgrade");
		check_tri(c->head, m.is_head, "is_head");
		check_tri(c->connect, m.is_connect, "is_connect");
		check_view(c->method, m.method, m.method_len, "method");
		check_view(c->target, m.target, m.target_len, "target");
		check_view(c->host, m.host, m.host_len, "host");
		check_view(c->route_as, m.route_as, m.route_as_len, "route_as");
		check_view(c->baggage, m.baggage, m.baggage_len, "baggage");
	}
	check_prefixes(c, parse_req, c->in, c->len, want, c->status);
	check_incremental(c, parse_req, parse_req_inc, c->in, c->len,
			  c->max_head ? c->max_head : TEST_MAX_HEAD);
}

/* ---------------------------------------------------------------------- */
/* Response cases                                                          */

static const struct resp_case resp_cases[] = {
	{ "200 with length", IN("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), OK, 200,
	  B(AZDS_BODY_LENGTH), 5, .ka = YES },
	{ "204", IN("HTTP/1.1 204 No Content\r\n\r\n"), OK, 204, B(AZDS_BODY_NONE), .ka = YES },
	{ "304 with CL", IN("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), OK, 304,
	  B(AZDS_BODY_NONE), .ka = YES },
	{ "HEAD response", IN("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), OK, 200,
	  B(AZDS_BODY_NONE), .req_head = true },
	{ "HEAD response chunked", IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), OK, 200,
	  B(AZDS_BODY_NONE), .req_head = true },
	{ "until close", IN("HTTP/1.1 200 OK\r\n\r\nbody..."), OK, 200, B(AZDS_BODY_UNTIL_CLOSE), .ka = NO },
	{ "chunked", IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), OK, 200,
	  B(AZDS_BODY_CHUNKED), .ka = YES },
	{ "TE without chunked", IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), OK, 200,
	  B(AZDS_BODY_UNTIL_CLOSE), .ka = NO },
	{ "HTTP/1.0 until close", IN("HTTP/1.0 200 OK\r\n\r\n"), OK, 200, B(AZDS_BODY_UNTIL_CLOSE), .ka = NO },
	{ "HTTP/1.0 keep-alive", IN("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"),
	  OK, 200, B(AZDS_BODY_LENGTH), 0, .ka = YES },
	{ "close", IN("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"), OK, 200,
	  B(AZDS_BODY_LENGTH), 2, .ka = NO },
	{ "100 continue", IN("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"), OK, 100,
	  B(AZDS_BODY_NONE) },
	{ "101 upgrade", IN("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
	  OK, 101, B(AZDS_BODY_NONE), .upgrade = YES },
	{ "101 without Upgrade header", IN("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n"),
	  OK, 101, B(AZDS_BODY_NONE), .upgrade = NO },
	{ "101 without Connection", IN("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
	  OK, 101, B(AZDS_BODY_NONE), .upgrade = NO },
	{ "101 Connection without upgrade token",
	  IN("HTTP/1.1 101 Switching Protocols\r\nConnection: upgraded, keep-alive\r\nUpgrade: websocket\r\n\r\n"),
	  OK, 101, B(AZDS_BODY_NONE), .upgrade = NO },
	{ "101 upgrade token in a list, 2nd line",
	  IN("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: keep-alive\r\nconnection: x, UPGRADE\r\n\r\n"),
	  OK, 101, B(AZDS_BODY_NONE), .upgrade = YES },
	{ "101 empty Upgrade", IN("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: \r\n\r\n"),
	  OK, 101, B(AZDS_BODY_NONE), .upgrade = NO },
	{ "101 in HTTP/1.0", IN("HTTP/1.0 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"),
	  OK, 101, B(AZDS_BODY_NONE), .upgrade = NO },
	{ "200 advertising Upgrade is no upgrade",
	  IN("HTTP/1.1 200 OK\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n"), OK, 200,
	  B(AZDS_BODY_LENGTH), .upgrade = NO },
	{ "426 with Upgrade is no upgrade",
	  IN("HTTP/1.1 426 Upgrade Required\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n"),
	  OK, 426, B(AZDS_BODY_LENGTH), .upgrade = NO },
	{ "200 to CONNECT", IN("HTTP/1.1 200 Connection Established\r\n\r\n"), OK, 200, B(AZDS_BODY_NONE),
	  .req_connect = true },
	{ "407 to CONNECT", IN("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 3\r\n\r\nno!"), OK, 407,
	  B(AZDS_BODY_LENGTH), 3, .req_connect = true },
	{ "empty reason", IN("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), OK, 200, B(AZDS_BODY_LENGTH) },
	{ "no reason no SP", IN("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), OK, 200, B(AZDS_BODY_LENGTH) },
	{ "reason obs-text", IN("HTTP/1.1 404 Nicht \xe4 gefunden\t!\r\nContent-Length: 0\r\n\r\n"), OK, 404 },
	{ "599", IN("HTTP/1.1 599 X\r\n\r\n"), OK, 599, B(AZDS_BODY_UNTIL_CLOSE) },
	{ "identical CL", IN("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n"), OK, 200, B(AZDS_BODY_LENGTH), 7 },
	{ "unknown coding ok", IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: br, chunked\r\n\r\n"), OK, 200,
	  B(AZDS_BODY_CHUNKED) },
	{ "CL at limit", IN("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), OK, 200, B(AZDS_BODY_LENGTH), 10,
	  .max_body = 10 },
	{ "huge CL on 304", IN("HTTP/1.1 304 Not Modified\r\nContent-Length: 999\r\n\r\n"), OK, 304,
	  B(AZDS_BODY_NONE), .max_body = 10 },
	{ "incomplete", IN("HTTP/1.1 200 OK\r\n"), INC },
	{ "request-only headers ignored",
	  IN("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\nazds-route-as: x\r\nazds-route-as: y\r\n"
	     "Expect: 100-continue\r\nContent-Length: 0\r\n\r\n"), OK, 200, B(AZDS_BODY_LENGTH) },

	{ "CL+TE", IN("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), ERR },
	{ "CL+TE on 204", IN("HTTP/1.1 204 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), ERR },
	{ "CL differs", IN("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n"), ERR },
	{ "chunked twice", IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), ERR },
	{ "chunked not last", IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), ERR },
	{ "TE in 1.0", IN("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), ERR },
	{ "bare LF", IN("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), ERR },
	{ "bare CR", IN("HTTP/1.1 200 OK\r\nContent-Length: 0\r\r\n\r\n"), ERR },
	{ "obs-fold", IN("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), ERR },
	{ "space before colon", IN("HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"), ERR },
	{ "2-digit status", IN("HTTP/1.1 20 OK\r\n\r\n"), ERR },
	{ "4-digit status", IN("HTTP/1.1 2000 OK\r\n\r\n"), ERR },
	{ "status 099", IN("HTTP/1.1 099 X\r\n\r\n"), ERR },
	{ "status 600", IN("HTTP/1.1 600 X\r\n\r\n"), ERR },
	{ "HTTP/2.0 status", IN("HTTP/2.0 200 OK\r\n\r\n"), ERR },
	{ "double SP", IN("HTTP/1.1  200 OK\r\n\r\n"), ERR },
	{ "CTL in reason", IN("HTTP/1.1 200 O\x01K\r\n\r\n"), ERR },
	{ "no status", IN("HTTP/1.1\r\n\r\n"), ERR },
	{ "CL too large", IN("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"), ERR, .max_body = 10 },
	{ "head too large", IN("HTTP/1.1 200 OK\r\nServer: xxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\n"), ERR,
	  .max_head = 32 },
	{ "early bad status", IN("HTTP/1.1 2x"), ERR },
};

static int parse_resp(const void *vc, const char *buf, size_t len, struct azds_http_msg *m)
{
	const struct resp_case *c = vc;
	struct azds_http_limits lim = limits(c->max_head, 0, c->max_body);

	return azds_http_parse_response(buf, len, m, &lim, c->req_head, c->req_connect);
}

static int parse_resp_inc(const void *vc, struct azds_http_scan *s, const char *buf, size_t len,
			  struct azds_http_msg *m)
{
	const struct resp_case *c = vc;
	struct azds_http_limits lim = limits(c->max_head, 0, c->max_body);

	return azds_http_parse_response_inc(s, buf, len, m, &lim, c->req_head, c->req_connect);
}

static void run_resp_case(const struct resp_case *c)
{
	struct azds_http_header hdrs[64];
	struct azds_http_msg m = { .headers = hdrs, .headers_cap = 64 };
	const char *buf = guarded(c->in, c->len);
	int want = expected_ret(c->ret, c->in, c->len);
	int r = parse_resp(c, buf, c->len, &m);

	g_case = c->name;
	g_cases++;
	CHECK_INT(r, want);
	if (r == ERR) {
		/* upstream faults always become 502 for the client */
		CHECK_INT(m.status, 502);
		CHECK(m.reason != NULL);
	}
	if (r > 0 && r == want) {
		check_views(&m, buf, r);
		CHECK_INT(m.status_code, c->status_code);
		if (c->body)
			CHECK_INT(m.body, c->body - 1);
		if (c->body == B(AZDS_BODY_LENGTH))
			CHECK(m.content_length == c->cl);
		check_tri(c->ka, m.keep_alive, "keep_alive");
		check_tri(c->upgrade, m.upgrade, "upgrade");
	}
	check_prefixes(c, parse_resp, c->in, c->len, want, 502);
	check_incremental(c, parse_resp, parse_resp_inc, c->in, c->len,
			  c->max_head ? c->max_head : TEST_MAX_HEAD);
}

/* ---------------------------------------------------------------------- */
/* Other request-parser behaviour                                          */

static void test_request_details(void)
{
	static const char req[] = "GET /p HTTP/1.1\r\nHost:  example.com \t\r\nX-Tab:\tv\t\r\n\r\n";
	struct azds_http_header hdrs[4];
	struct azds_http_msg m = { .headers = hdrs, .headers_cap = 4 };
	struct azds_http_limits lim = limits(0, 0, 0);
	const char *buf = guarded(req, sizeof(req) - 1);
	int r;

	g_case = "header views";
	g_cases++;
	r = azds_http_parse_request(buf, sizeof(req) - 1, &m, &lim);
	CHECK_INT(r, sizeof(req) - 1);
	CHECK_INT(m.num_headers, 2);
	CHECK(view_eq(hdrs[0].name, hdrs[0].name_len, "Host"));
	CHECK(view_eq(hdrs[0].value, hdrs[0].value_len, "example.com"));
	CHECK(view_eq(hdrs[1].value, hdrs[1].value_len, "v"));
	CHECK_INT(m.minor_version, 1);
	CHECK(m.status == 0 && m.reason == NULL);

	/* The caller's array is a limit too: more lines than it holds is a 431. */
	g_case = "headers_cap below max_headers";
	g_cases++;
	m = (struct azds_http_msg){ .headers = hdrs, .headers_cap = 1 };
	r = azds_http_parse_request(buf, sizeof(req) - 1, &m, &lim);
	CHECK_INT(r, ERR);
	CHECK_INT(m.status, 431);

	g_case = "no header array";
	g_cases++;
	m = (struct azds_http_msg){ 0 };
	buf = guarded("GET / HTTP/1.0\r\n\r\n", 18);
	CHECK_INT(azds_http_parse_request(buf, 18, &m, &lim), 18);

	g_case = "NULL limits use defaults";
	g_cases++;
	m = (struct azds_http_msg){ .headers = hdrs, .headers_cap = 4 };
	buf = guarded(req, sizeof(req) - 1);
	CHECK_INT(azds_http_parse_request(buf, sizeof(req) - 1, &m, NULL), sizeof(req) - 1);

	/* A stale result must not leak into the next parse. */
	g_case = "msg reset between calls";
	g_cases++;
	m.keep_alive = true;
	m.status = 400;
	m.host = "stale";
	buf = guarded("GET / HTTP/1.0\r\n\r\n", 18);
	CHECK_INT(azds_http_parse_request(buf, 18, &m, &lim), 18);
	CHECK(!m.keep_alive && m.status == 0 && m.host == NULL && m.num_headers == 0);
	CHECK(m.headers == hdrs && m.headers_cap == 4);
}

/* Grow one request byte by byte in the same buffer, like a socket would. */
static void test_incremental_same_buffer(void)
{
	static const char req[] =
		"POST /upload HTTP/1.1\r\nHost: svc.default\r\nTransfer-Encoding: chunked\r\n"
		"azds-route-as: bob\r\nbaggage: azds-route-as=bob\r\n\r\n";
	size_t n = sizeof(req) - 1, i;
	struct azds_http_header hdrs[8];
	struct azds_http_limits lim = limits(0, 0, 0);
	char *buf = (char *)guarded(req, n); /* buffer start stays fixed */
	unsigned bad = 0;

	g_case = "incremental same buffer";
	g_cases++;
	for (i = 0; i <= n; i++) {
		struct azds_http_msg m = { .headers = hdrs, .headers_cap = 8 };
		int r = azds_http_parse_request(buf, i, &m, &lim);

		if (r != (i < n ? INC : (int)n))
			bad++;
		if (i == n) {
			CHECK_INT(m.body, AZDS_BODY_CHUNKED);
			CHECK(view_eq(m.route_as, m.route_as_len, "bob"));
			CHECK(view_eq(m.host, m.host_len, "svc.default"));
		}
	}
	CHECK_INT(bad, 0);
}

/* The head limit must hold for heads of every size, not just tiny ones. */
static void test_large_heads(void)
{
	static char big[20000];
	struct azds_http_header hdrs[8];
	struct azds_http_msg m = { .headers = hdrs, .headers_cap = 8 };
	struct azds_http_limits lim = limits(16384, 8, 0);
	size_t n;

	g_case = "large head";
	g_cases++;
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX-Big: ");
	memset(big + n, 'a', 16000);
	n += 16000;
	memcpy(big + n, "\r\n\r\n", 4);
	n += 4;
	CHECK_INT(azds_http_parse_request(guarded(big, n), n, &m, &lim), n);
	lim.max_head_bytes = n - 1;
	CHECK_INT(azds_http_parse_request(guarded(big, n), n, &m, &lim), ERR);
	CHECK_INT(m.status, 431);
	/* Incomplete with max_head bytes buffered: the head cannot fit. */
	lim.max_head_bytes = 1000;
	CHECK_INT(azds_http_parse_request(guarded(big, n - 2), n - 2, &m, &lim), ERR);
	CHECK_INT(m.status, 431);
	CHECK_INT(azds_http_parse_request(guarded(big, 1000), 1000, &m, &lim), ERR);
	CHECK_INT(m.status, 431);
	/* Incomplete and under the limit: wait. */
	CHECK_INT(azds_http_parse_request(guarded(big, 999), 999, &m, &lim), INC);
}

/* ---------------------------------------------------------------------- */
/* Incremental (_inc) head parsing                                         */

/* A head of about 8 KiB: many header lines, or one long line. */
static size_t make_big_head(char *out, size_t cap, bool one_line)
{
	size_t n = (size_t)snprintf(out, cap, "GET /%s HTTP/1.1\r\nHost: svc\r\n", "big");
	int i;

	if (one_line) {
		n += (size_t)snprintf(out + n, cap - n, "X-Long: ");
		memset(out + n, 'v', 8000);
		n += 8000;
		n += (size_t)snprintf(out + n, cap - n, "\r\n");
	}
	for (i = 0; !one_line && i < 120; i++)
		n += (size_t)snprintf(out + n, cap - n, "X-Header-%03d: %s\r\n", i,
				      "some value long enough to fill eighty bytes, roughly");
	n += (size_t)snprintf(out + n, cap - n, "\r\n");
	return n;
}

/*
 * Delivers a head one byte per call, as a socket that gets one byte per
 * segment would, and returns the byte visits counted by the scan state.
 * fresh_each_call resets the state before every call: that is what
 * re-parsing from the first byte on every read costs.
 */
static uint64_t feed_bytewise(const char *head, size_t n, bool fresh_each_call, int *ret)
{
	struct azds_http_header hdrs[128];
	struct azds_http_limits lim = limits(16384, 128, 0);
	struct azds_http_scan st;
	uint64_t visits = 0;
	size_t p;

	azds_http_scan_init(&st);
	*ret = INC;
	for (p = 1; p <= n && *ret == INC; p++) {
		struct azds_http_msg m = { .headers = hdrs, .headers_cap = 128 };

		if (fresh_each_call) {
			visits += st.examined;
			azds_http_scan_init(&st);
		}
		*ret = azds_http_parse_request_inc(&st, guarded(head, p), p, &m, &lim);
	}
	return visits + st.examined;
}

static void test_linear_head(void)
{
	static char head[9000];
	bool one_line;

	for (one_line = false; ; one_line = true) {
		size_t n = make_big_head(head, sizeof(head), one_line);
		uint64_t linear, quadratic;
		int r;

		g_case = one_line ? "8 KiB head, one long line, byte by byte"
				  : "8 KiB head, 120 lines, byte by byte";
		g_cases++;
		CHECK(n > 8000 && n < sizeof(head));
		linear = feed_bytewise(head, n, false, &r);
		CHECK_INT(r, n);
		/* scanner n + early parses at doubling line ends <= 2n + final parse n */
		CHECK(linear <= 4 * (uint64_t)n);
		/* The bound must catch O(n^2): a state reset on every read fails it. */
		quadratic = feed_bytewise(head, n, true, &r);
		printf("%s: %zu bytes, %llu byte visits (%.2f n); state reset on every read: %llu\n",
		       g_case, n, (unsigned long long)linear, (double)linear / (double)n,
		       (unsigned long long)quadratic);
		CHECK_INT(r, n);
		CHECK(quadratic > 4 * (uint64_t)n);
		CHECK(quadratic >= (uint64_t)n * n / 2);
		if (one_line)
			break;
	}
}

static void test_incremental_api(void)
{
	static const char two[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n";
	struct azds_http_header hdrs[8];
	struct azds_http_msg m = { .headers = hdrs, .headers_cap = 8 };
	struct azds_http_limits lim = limits(0, 0, 0);
	struct azds_http_scan st;
	const char *buf;
	int r;

	/* A final result leaves the state ready for the next head. */
	g_case = "_inc pipelined heads share one state";
	g_cases++;
	azds_http_scan_init(&st);
	buf = guarded(two, 10);
	CHECK_INT(azds_http_parse_request_inc(&st, buf, 10, &m, &lim), INC);
	CHECK(m.method == NULL && m.num_headers == 0);
	buf = guarded(two, sizeof(two) - 1);
	r = azds_http_parse_request_inc(&st, buf, sizeof(two) - 1, &m, &lim);
	CHECK_INT(r, 28);
	CHECK(view_eq(m.target, m.target_len, "/a"));
	CHECK_INT(st.scanned, 0);
	CHECK_INT(azds_http_parse_request_inc(&st, buf + r, sizeof(two) - 1 - r, &m, &lim), 28);
	CHECK(view_eq(m.target, m.target_len, "/b"));
	CHECK(view_eq(m.host, m.host_len, "b"));

	/* Without a state the _inc functions are the plain ones. */
	g_case = "_inc NULL state";
	g_cases++;
	buf = guarded("GET / HTTP/2.0", 14);
	CHECK_INT(azds_http_parse_request_inc(NULL, buf, 14, &m, &lim), ERR);
	CHECK_INT(m.status, 505);
	buf = guarded("HTTP/1.1 200 OK\r\n\r\n", 19);
	CHECK_INT(azds_http_parse_response_inc(NULL, buf, 19, &m, &lim, false, false), 19);
	CHECK_INT(azds_http_parse_request_inc(NULL, buf, 19, NULL, &lim), ERR);

	/* A shorter buffer than scanned is another head: start over. */
	g_case = "_inc shorter buffer restarts";
	g_cases++;
	azds_http_scan_init(&st);
	buf = guarded("GET / HTTP/1.1\r\nX: 1", 20);
	CHECK_INT(azds_http_parse_request_inc(&st, buf, 20, &m, &lim), INC);
	buf = guarded("GET / HTTP/1.0\r\n\r\n", 18);
	CHECK_INT(azds_http_parse_request_inc(&st, buf, 18, &m, &lim), 18);
	CHECK_INT(m.minor_version, 0);

	/* Refused early: the start line at its end, a header line once the head doubled. */
	g_case = "_inc early refusals";
	g_cases++;
	azds_http_scan_init(&st);
	buf = guarded("GET / HTTP/2.0\r\n", 16);
	CHECK_INT(azds_http_parse_request_inc(&st, buf, 16, &m, &lim), ERR);
	CHECK_INT(m.status, 505);
	azds_http_scan_init(&st);
	buf = guarded("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n", 35);
	CHECK_INT(azds_http_parse_request_inc(&st, buf, 16, &m, &lim), INC);
	CHECK_INT(azds_http_parse_request_inc(&st, buf, 35, &m, &lim), ERR);
	CHECK_INT(m.status, 400);
	azds_http_scan_init(&st);
	buf = guarded("GET / HTTP/1.1\r\nX: \0", 20);
	CHECK_INT(azds_http_parse_request_inc(&st, buf, 20, &m, &lim), ERR);
	CHECK(strcmp(m.reason, "invalid header value") == 0);
}

/* ---------------------------------------------------------------------- */
/* Chunked scanner                                                         */

struct chunk_case {
	const char *name;
	const char *in;
	size_t len;
	long ret;       /* bytes of body, or -1 */
	bool done;
	uint64_t total; /* decoded bytes, checked when done */
	size_t max_line;
	uint64_t max_total; /* azds_chunked_init_max; 0 = azds_chunked_init */
};

#define TOO_LARGE AZDS_CHUNKED_TOO_LARGE

static const struct chunk_case chunk_cases[] = {
	{ "one chunk", IN("5\r\nhello\r\n0\r\n\r\n"), 15, true, 5 },
	{ "two chunks", IN("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), 26, true, 11 },
	{ "empty body", IN("0\r\n\r\n"), 5, true, 0 },
	{ "next message follows", IN("0\r\n\r\nGET / HTTP/1.1\r\n"), 5, true, 0 },
	{ "hex sizes", IN("a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n"), 35, true, 20 },
	{ "leading zeros", IN("0005\r\nhello\r\n000\r\n\r\n"), 20, true, 5 },
	{ "16 digits", IN("0000000000000005\r\nhello\r\n0\r\n\r\n"), 30, true, 5 },
	{ "data with CRLF inside", IN("4\r\n\r\n\r\n\r\n0\r\n\r\n"), 14, true, 4 },
	{ "extension", IN("5;foo=bar\r\nhello\r\n0;last\r\n\r\n"), 28, true, 5 },
	{ "extensions BWS", IN("5 ; a = \"q\\\"x;\" ;b\t;c=d\r\nhello\r\n0\r\n\r\n"), 37, true, 5 },
	{ "ext BWS before =", IN("5;a =b;c\r\nhello\r\n0\r\n\r\n"), 22, true, 5 },
	{ "trailers", IN("0\r\nX-T: v\r\nY:\r\n\r\n"), 17, true, 0 },
	{ "partial size", IN("5"), 1, false },
	{ "partial data", IN("5\r\nhel"), 6, false },
	{ "partial trailer", IN("0\r\nX: y\r\n"), 9, false },
	{ "max size partial", IN("FFFFFFFFFFFFFFFF\r\nabc"), 21, false },
	{ "line at limit", IN("5;abcdef\r\nhello\r\n0\r\n\r\n"), 22, true, 5, .max_line = 9 },

	{ "empty size", IN("\r\n"), -1 },
	{ "non-hex size", IN("x\r\n"), -1 },
	{ "0x prefix", IN("0x5\r\nhello\r\n0\r\n\r\n"), -1 },
	{ "negative", IN("-5\r\n"), -1 },
	{ "17 digits", IN("00000000000000005\r\nhello\r\n0\r\n\r\n"), -1 },
	{ "bare LF size", IN("5\nhello\r\n0\r\n\r\n"), -1 },
	{ "bare CR size", IN("5\rhello\r\n0\r\n\r\n"), -1 },
	{ "data too long", IN("5\r\nhelloX\r\n0\r\n\r\n"), -1 },
	{ "bare LF after data", IN("5\r\nhello\n0\r\n\r\n"), -1 },
	{ "junk then LF after data", IN("5\r\nhelloX\n0\r\n\r\n"), -1 },
	{ "CRCR after data", IN("5\r\nhello\r\r0\r\n\r\n"), -1 },
	{ "bare LF final", IN("0\r\n\n"), -1 },
	{ "CR junk final", IN("0\r\n\rX"), -1 },
	{ "bare LF trailer", IN("0\r\nX: a\n\r\n"), -1 },
	{ "trailer obs-fold", IN("0\r\nX: a\r\n b\r\n\r\n"), -1 },
	{ "trailer space before colon", IN("0\r\nX : a\r\n\r\n"), -1 },
	{ "trailer no colon", IN("0\r\nX\r\n\r\n"), -1 },
	{ "trailer NUL", IN("0\r\nX: \0\r\n\r\n"), -1 },
	{ "space after size", IN("5 \r\nhello\r\n0\r\n\r\n"), -1 },
	{ "ext name BWS junk", IN("5;a b\r\nhello\r\n0\r\n\r\n"), -1 },
	{ "ext name BWS CR", IN("5;a \r\nhello\r\n0\r\n\r\n"), -1 },
	{ "empty ext name", IN("5;\r\nhello\r\n0\r\n\r\n"), -1 },
	{ "empty ext value", IN("5;a=\r\nhello\r\n0\r\n\r\n"), -1 },
	{ "unterminated quote", IN("5;a=\"x\r\nhello\r\n0\r\n\r\n"), -1 },
	{ "bare LF in ext", IN("5;a=b\nhello\r\n0\r\n\r\n"), -1 },
	{ "CTL in ext", IN("5;a=\x01\r\nhello\r\n0\r\n\r\n"), -1 },
	{ "NUL in quoted ext", IN("5;a=\"\0\"\r\nhello\r\n0\r\n\r\n"), -1 },
	{ "line too long", IN("5;abcdefg\r\nhello\r\n0\r\n\r\n"), -1, .max_line = 9 },
	{ "trailer too long", IN("0\r\nX: 1234567\r\n\r\n"), -1, .max_line = 9 },

	/* --- the sum of chunk sizes against --max-body-bytes --- */
	{ "body at limit", IN("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), 25, true, 10, .max_total = 10 },
	{ "body under limit", IN("5\r\nhello\r\n0\r\n\r\n"), 15, true, 5, .max_total = 10 },
	{ "second chunk past limit", IN("5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n"), TOO_LARGE, .max_total = 10 },
	{ "first chunk past limit", IN("b\r\n"), TOO_LARGE, .max_total = 10 },
	{ "refused at the size digit", IN("5\r\nhello\r\n1"), TOO_LARGE, .max_total = 5 },
	{ "leading zeros under limit", IN("00000000000a\r\n0123456789\r\n0\r\n\r\n"), 31, true, 10,
	  .max_total = 10 },
	{ "huge size past limit", IN("FFFFFFFFFFFFFFFF\r\n"), TOO_LARGE, .max_total = 1 << 20 },
	{ "many small chunks past limit", IN("1\r\na\r\n1\r\nb\r\n1\r\nc\r\n"), TOO_LARGE, .max_total = 2 },
	{ "malformed before limit", IN("5\nhello"), -1, .max_total = 10 },
	{ "limit beats later junk", IN("5\r\nhello\r\n9x"), TOO_LARGE, .max_total = 10 },
	{ "limit 1 byte", IN("1\r\nx\r\n0\r\n\r\n"), 11, true, 1, .max_total = 1 },
};

/* Scans in pieces of at most step bytes, each copied against the guard. */
static long scan_steps(const struct chunk_case *c, size_t step, bool *done, uint64_t *total)
{
	struct azds_chunked st;
	size_t off = 0;
	long sum = 0;

	azds_chunked_init_max(&st, c->max_total);
	*done = false;
	while (off < c->len && !*done) {
		size_t n = c->len - off < step ? c->len - off : step;
		long r = azds_chunked_scan(&st, guarded(c->in + off, n), n, done, c->max_line);

		if (r < 0)
			return r;
		if (r > (long)n)
			return -2;
		sum += r;
		off += n;
	}
	*total = st.total;
	return sum;
}

static void run_chunk_case(const struct chunk_case *c)
{
	static const size_t steps[] = { SIZE_MAX, 1, 2, 3, 7 };
	size_t i;

	g_case = c->name;
	g_cases++;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		bool done;
		uint64_t total = 0;
		long r = scan_steps(c, steps[i], &done, &total);

		CHECK_INT(r, c->ret);
		if (r >= 0) {
			CHECK_INT(done, c->done);
			if (c->done)
				CHECK(total == c->total);
		}
	}
}

static void test_chunked_state(void)
{
	struct azds_chunked st;
	bool done = true;
	const char *buf;

	g_case = "chunked after done";
	g_cases++;
	azds_chunked_init(&st);
	buf = guarded("0\r\n\r\n", 5);
	CHECK_INT(azds_chunked_scan(&st, buf, 5, &done, 0), 5);
	CHECK(done);
	buf = guarded("GET", 3);
	CHECK_INT(azds_chunked_scan(&st, buf, 3, &done, 0), 0);
	CHECK(done);

	g_case = "chunked error sticks";
	g_cases++;
	azds_chunked_init(&st);
	buf = guarded("z", 1);
	CHECK_INT(azds_chunked_scan(&st, buf, 1, &done, 0), -1);
	buf = guarded("0\r\n\r\n", 5);
	CHECK_INT(azds_chunked_scan(&st, buf, 5, &done, 0), -1);

	g_case = "chunked empty call";
	g_cases++;
	azds_chunked_init(&st);
	CHECK_INT(azds_chunked_scan(&st, guarded("", 0), 0, &done, 0), 0);
	CHECK(!done);

	/* Decoded total must not wrap: the next size would overflow it. */
	g_case = "chunked total overflow";
	g_cases++;
	azds_chunked_init(&st);
	st.total = UINT64_MAX - 2;
	buf = guarded("5\r\n", 3);
	CHECK_INT(azds_chunked_scan(&st, buf, 3, &done, 0), -1);

	g_case = "chunked too large sticks";
	g_cases++;
	azds_chunked_init_max(&st, 4);
	buf = guarded("5\r\nhello\r\n0\r\n\r\n", 15);
	CHECK_INT(azds_chunked_scan(&st, buf, 15, &done, 0), TOO_LARGE);
	CHECK_INT(st.total, 0);
	CHECK_INT(azds_chunked_scan(&st, guarded("0\r\n\r\n", 5), 5, &done, 0), TOO_LARGE);
	/* the limit is per body: init starts the next one unlimited */
	azds_chunked_init(&st);
	CHECK_INT(azds_chunked_scan(&st, buf, 15, &done, 0), 15);
	CHECK(done);

	g_case = "chunked default max_line";
	g_cases++;
	{
		static char line[5000];

		azds_chunked_init(&st);
		line[0] = '1';
		line[1] = ';';
		memset(line + 2, 'a', sizeof(line) - 2);
		CHECK_INT(azds_chunked_scan(&st, guarded(line, sizeof(line)), sizeof(line), &done, 0), -1);
	}
}

/*
 * De-chunking for HTTP/1.0 recipients: the data runs, concatenated, are
 * the decoded body whatever the pieces, and framing never leaks into them.
 */
static void test_chunked_decode(void)
{
	static const char body[] = "5;ext=1\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nX-T: v\r\n\r\nNEXT";
	static const size_t steps[] = { SIZE_MAX, 1, 2, 5, 11 };
	size_t body_len = sizeof(body) - 1 - 4, i;

	g_case = "chunked decode";
	g_cases++;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct azds_chunked st;
		char out[64];
		size_t off = 0, o = 0, len = sizeof(body) - 1;
		bool done = false;
		int calls = 0;

		azds_chunked_init(&st);
		while (off < len && !done && calls++ < 1000) {
			size_t n = len - off < steps[i] ? len - off : steps[i], dl = 99;
			const char *piece = guarded(body + off, n);
			long r = azds_chunked_decode(&st, piece, n, &dl, &done, 0);

			if (r < 0 || (size_t)r > n || dl > (size_t)r || o + dl > sizeof(out)) {
				CHECK(r >= 0 && (size_t)r <= n && dl <= (size_t)r);
				break;
			}
			memcpy(out + o, piece + r - dl, dl);
			o += dl;
			off += (size_t)r;
		}
		CHECK(done);
		CHECK_INT(off, body_len);
		CHECK(o == 12 && memcmp(out, "hello world!", 12) == 0);
		CHECK_INT(st.total, 12);
	}

	g_case = "chunked decode errors";
	g_cases++;
	{
		struct azds_chunked st;
		size_t dl = 99;
		bool done;

		azds_chunked_init_max(&st, 3);
		CHECK_INT(azds_chunked_decode(&st, guarded("5\r\nhello", 8), 8, &dl, &done, 0), TOO_LARGE);
		CHECK_INT(dl, 0);
		azds_chunked_init(&st);
		CHECK_INT(azds_chunked_decode(&st, guarded("5\nhello", 7), 7, &dl, &done, 0), -1);
		/* data_len may be NULL */
		azds_chunked_init(&st);
		CHECK_INT(azds_chunked_decode(&st, guarded("2\r\nab\r\n", 7), 7, NULL, &done, 0), 5);
		CHECK(!done);
	}
}

/* A router must know the client's version to spare HTTP/1.0 1xx and chunking. */
static void test_versions(void)
{
	static const struct {
		const char *in;
		bool request;
		int minor;
	} cases[] = {
		{ "GET / HTTP/1.0\r\n\r\n", true, 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, 1 },
		{ "POST / HTTP/1.0\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n", true, 0 },
		{ "HTTP/1.0 200 OK\r\n\r\n", false, 0 },
		{ "HTTP/1.1 100 Continue\r\n\r\n", false, 1 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, 1 },
	};
	struct azds_http_header hdrs[4];
	struct azds_http_limits lim = limits(0, 0, 0);
	size_t i;

	g_case = "minor_version";
	g_cases++;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct azds_http_msg m = { .headers = hdrs, .headers_cap = 4, .minor_version = 7 };
		size_t n = strlen(cases[i].in);
		const char *buf = guarded(cases[i].in, n);
		struct azds_http_scan st;
		int r;

		r = cases[i].request ? azds_http_parse_request(buf, n, &m, &lim)
				     : azds_http_parse_response(buf, n, &m, &lim, false, false);
		CHECK_INT(r, n);
		CHECK_INT(m.minor_version, cases[i].minor);
		/* the _inc path, fed in two pieces, sets it alike */
		azds_http_scan_init(&st);
		m.minor_version = 7;
		r = cases[i].request ? azds_http_parse_request_inc(&st, buf, 5, &m, &lim)
				     : azds_http_parse_response_inc(&st, buf, 5, &m, &lim, false, false);
		CHECK_INT(r, INC);
		CHECK_INT(m.minor_version, 0);
		r = cases[i].request ? azds_http_parse_request_inc(&st, buf, n, &m, &lim)
				     : azds_http_parse_response_inc(&st, buf, n, &m, &lim, false, false);
		CHECK_INT(r, n);
		CHECK_INT(m.minor_version, cases[i].minor);
	}
}

/* ---------------------------------------------------------------------- */
/* Baggage and token helpers                                               */

struct bag_case {
	const char *bag;
	const char *key;
	const char *want; /* NULL: not found */
};

static const struct bag_case bag_cases[] = {
	{ "k1=v1,k2=v2", "k2", "v2" },
	{ "k1=v1,k2=v2", "k1", "v1" },
	{ " k1 = v1 ; prop=1 ; p2 , k2=v2", "k1", "v1" },
	{ "k1=v1;p\t,\tk2 =\tv2\t", "k2", "v2" },
	{ "k1=v1", "k2", NULL },
	{ "k1=v1", "k", NULL },
	{ "kk=v1", "k", NULL },
	{ "tok=abc==", "tok", "abc==" },
	{ "k=", "k", "" },
	{ "junk,k=v", "k", "v" },
	{ ",,k=v,,", "k", "v" },
	{ "K=v", "k", NULL },
	{ "k=1,k=2", "k", "1" },
	{ "a=1;k=2", "k", NULL },
	{ "", "k", NULL },
	{ "azds-route-as=alice%20b", "azds-route-as", "alice%20b" },
	{ "k=v", "", NULL },
};

static void test_baggage(void)
{
	size_t i;

	for (i = 0; i < sizeof(bag_cases) / sizeof(bag_cases[0]); i++) {
		const struct bag_case *c = &bag_cases[i];
		size_t n = strlen(c->bag);
		const char *val = NULL;
		size_t vlen = 0;
		bool found = azds_baggage_get(guarded(c->bag, n), n, c->key, &val, &vlen);

		g_case = c->bag;
		g_cases++;
		CHECK_INT(found, c->want != NULL);
		if (found && c->want)
			CHECK(view_eq(val, vlen, c->want));
	}
	g_case = "baggage NULL";
	g_cases++;
	{
		const char *val;
		size_t vlen;

		CHECK(!azds_baggage_get(NULL, 0, "k", &val, &vlen));
		CHECK(!azds_baggage_get("k=v", 3, NULL, &val, &vlen));
	}
}

/* ---------------------------------------------------------------------- */
/* Route-as: header and every baggage member must agree                    */

#define RA_H(v) v, false  /* expected value from the header */
#define RA_B(v) v, true   /* expected value from baggage, as sent */

struct route_as_case {
	const char *name;
	const char *headers; /* header lines after the request line and Host */
	int ret;
	const char *val;
	bool val_bag;
	const char *other;
	bool other_bag;
	size_t lines;        /* baggage header lines */
};

static const struct route_as_case route_as_cases[] = {
	{ "none", "", .ret = 1 },
	{ "unrelated baggage", "baggage: k=v, x=y\r\n", 1, .lines = 1 },
	{ "header only", "azds-route-as: dev/alice\r\n", 0, RA_H("dev/alice"), .lines = 0 },
	{ "baggage only", "baggage: azds-route-as=dev%2Falice\r\n", 0, RA_B("dev%2Falice"), .lines = 1 },
	{ "header and encoded baggage agree",
	  "azds-route-as: dev/alice\r\nbaggage: k=1, azds-route-as = dev%2falice ;ttl=3\r\n", 0,
	  RA_H("dev/alice"), .lines = 1 },
	{ "baggage before header still agrees",
	  "baggage: azds-route-as=dev/alice\r\nazds-route-as: dev/alice\r\n", 0, RA_H("dev/alice"),
	  .lines = 1 },
	{ "header and baggage disagree",
	  "azds-route-as: dev/alice\r\nbaggage: azds-route-as=dev/bob\r\n", -EINVAL, RA_H("dev/alice"),
	  RA_B("dev/bob"), 1 },
	{ "header is taken as sent",
	  "azds-route-as: dev%2Falice\r\nbaggage: azds-route-as=dev/alice\r\n", -EINVAL,
	  RA_H("dev%2Falice"), RA_B("dev/alice"), 1 },
	{ "two members disagree on one line",
	  "baggage: azds-route-as=dev/alice,azds-route-as=dev/bob\r\n", -EINVAL, RA_B("dev/alice"),
	  RA_B("dev/bob"), 1 },
	{ "identical members",
	  "baggage: azds-route-as=dev/alice, azds-route-as=dev%2Falice\r\n", 0, RA_B("dev/alice"),
	  .lines = 1 },
	{ "members disagree across lines",
	  "baggage: k=v, azds-route-as=dev/alice\r\nX-Other: 1\r\nBaggage: azds-route-as=dev/bob;p=1\r\n",
	  -EINVAL, RA_B("dev/alice"), RA_B("dev/bob"), 2 },
	{ "members agree across lines",
	  "baggage: azds-route-as=dev/alice\r\nbaggage: k=v\r\nbaggage: azds-route-as=dev%2Falice\r\n", 0,
	  RA_B("dev/alice"), .lines = 3 },
	{ "header and third baggage line disagree",
	  "azds-route-as: dev\r\nbaggage: azds-route-as=dev\r\nbaggage: a=b\r\nbaggage: azds-route-as=qa\r\n",
	  -EINVAL, RA_H("dev"), RA_B("qa"), 3 },
	{ "empty header counts as absent", "azds-route-as:\r\nbaggage: azds-route-as=dev\r\n", 0,
	  RA_B("dev"), .lines = 1 },
	{ "empty header alone", "azds-route-as:  \r\n", .ret = 1 },
	{ "empty member is a value", "baggage: azds-route-as=, azds-route-as=dev\r\n", -EINVAL,
	  RA_B(""), RA_B("dev"), 1 },
	{ "empty member against header", "azds-route-as: dev\r\nbaggage: azds-route-as=\r\n", -EINVAL,
	  RA_H("dev"), RA_B(""), 1 },
	{ "keys are exact", "baggage: azds-route-asx=a, Azds-Route-As=b, xazds-route-as=c\r\n", 1,
	  .lines = 1 },
	{ "malformed member skipped", "baggage: azds-route-as, azds-route-as=a\r\n", 0, RA_B("a"),
	  .lines = 1 },
	{ "property is not a member", "baggage: k=v;azds-route-as=a\r\nazds-route-as: b\r\n", 0,
	  RA_H("b"), .lines = 1 },
	{ "incomplete escape kept", "azds-route-as: a%2\r\nbaggage: azds-route-as=a%2\r\n", 0,
	  RA_H("a%2"), .lines = 1 },
	{ "escape of a plain byte", "azds-route-as: dev\r\nbaggage: azds-route-as=%64%65%76\r\n", 0,
	  RA_H("dev"), .lines = 1 },
	{ "prefix is not equal", "azds-route-as: dev\r\nbaggage: azds-route-as=dev%2F\r\n", -EINVAL,
	  RA_H("dev"), RA_B("dev%2F"), 1 },
};

static void check_ra_value(const struct azds_route_as_value *v, const char *want, bool bag,
			   const char *what)
{
	check_view(want, v->val, v->len, what);
	if (want)
		CHECK_INT(v->from_baggage, bag);
}

static void test_route_as(void)
{
	static char req[1024];
	struct azds_http_header hdrs[16];
	struct azds_http_limits lim = limits(0, 0, 0);
	size_t i;

	for (i = 0; i < sizeof(route_as_cases) / sizeof(route_as_cases[0]); i++) {
		const struct route_as_case *c = &route_as_cases[i];
		struct azds_http_msg m = { .headers = hdrs, .headers_cap = 16 };
		struct azds_route_as ra;
		int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", c->headers);
		const char *buf = guarded(req, (size_t)n);

		g_case = c->name;
		g_cases++;
		CHECK_INT(azds_http_parse_request(buf, (size_t)n, &m, &lim), n);
		CHECK_INT(m.baggage_count, c->lines);
		CHECK_INT(azds_http_route_as(&m, &ra), c->ret);
		if (c->ret == 1)
			CHECK(ra.val.val == NULL);
		else
			check_ra_value(&ra.val, c->val, c->val_bag, "val");
		if (c->ret == -EINVAL)
			check_ra_value(&ra.other, c->other, c->other_bag, "other");
		else
			CHECK(ra.other.val == NULL);
		if (ra.val.val)
			CHECK(inside(ra.val.val, ra.val.len, buf, (size_t)n));
		if (ra.other.val)
			CHECK(inside(ra.other.val, ra.other.len, buf, (size_t)n));
	}
}

static void test_pct_decode(void)
{
	char out[16];

	g_case = "pct_decode";
	g_cases++;
	CHECK_INT(azds_pct_decode(guarded("dev%2Falice", 11), 11, out, sizeof(out)), 9);
	CHECK(strcmp(out, "dev/alice") == 0);
	CHECK_INT(azds_pct_decode(guarded("%2f%2F", 6), 6, out, sizeof(out)), 2);
	CHECK(strcmp(out, "//") == 0);
	/* not an escape: kept, and nothing read past the input */
	CHECK_INT(azds_pct_decode(guarded("a%", 2), 2, out, sizeof(out)), 2);
	CHECK(strcmp(out, "a%") == 0);
	CHECK_INT(azds_pct_decode(guarded("a%2", 3), 3, out, sizeof(out)), 3);
	CHECK(strcmp(out, "a%2") == 0);
	CHECK_INT(azds_pct_decode(guarded("%zz%4", 5), 5, out, sizeof(out)), 5);
	CHECK(strcmp(out, "%zz%4") == 0);
	CHECK_INT(azds_pct_decode(guarded("%00", 3), 3, out, sizeof(out)), 1);
	CHECK(out[0] == '\0');
	/* the NUL must fit too */
	CHECK_INT(azds_pct_decode(guarded("abc", 3), 3, out, 4), 3);
	CHECK_INT(azds_pct_decode(guarded("abc", 3), 3, out, 3), -ENOSPC);
	CHECK(out[0] == '\0');
	CHECK_INT(azds_pct_decode(guarded("%61bc", 5), 5, out, 4), 3);
	CHECK_INT(azds_pct_decode(NULL, 0, out, sizeof(out)), 0);
	CHECK_INT(azds_pct_decode("a", 1, NULL, 0), -ENOSPC);
}

static void test_token_eq(void)
{
	g_case = "token_eq";
	g_cases++;
	CHECK(azds_http_token_eq("Chunked", 7, "chunked"));
	CHECK(azds_http_token_eq("CHUNKED", 7, "chunked"));
	CHECK(!azds_http_token_eq("chunke", 6, "chunked"));
	CHECK(!azds_http_token_eq("chunkedx", 8, "chunked"));
	CHECK(!azds_http_token_eq("chunkeD", 6, "chunked"));
	CHECK(azds_http_token_eq("", 0, ""));
	CHECK(!azds_http_token_eq("a", 1, NULL));
	/* '@' and '[' differ from '`' and '{' only in bit 0x20: not letters */
	CHECK(!azds_http_token_eq("@", 1, "`"));
	CHECK(!azds_http_token_eq("[", 1, "{"));
	/* the length bounds a, so a need not be NUL-terminated */
	CHECK(azds_http_token_eq(guarded("host", 4), 4, "Host"));
}

int main(void)
{
	size_t i;

	arena_init();
	test_guard_traps();
	for (i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++)
		run_req_case(&req_cases[i]);
	for (i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++)
		run_resp_case(&resp_cases[i]);
	test_request_details();
	test_incremental_same_buffer();
	test_large_heads();
	test_linear_head();
	test_incremental_api();
	for (i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++)
		run_chunk_case(&chunk_cases[i]);
	test_chunked_state();
	test_chunked_decode();
	test_versions();
	test_baggage();
	test_route_as();
	test_pct_decode();
	test_token_eq();

	printf("http_parse: %u cases, %u checks, %u failures (%u prefixes refused by the plain parser "
	       "and still INCOMPLETE for _inc)\n", g_cases, g_checks, g_failures, g_inc_early);
	return g_failures ? 1 : 0;
}
