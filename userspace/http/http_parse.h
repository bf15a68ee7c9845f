/* SPDX-License-Identifier: MIT */
/*
 * Incremental, zero-copy, allocation-free HTTP/1.x message-head parser and
 * chunked-body scanner used by azds-router.
 *
 * The router forwards bytes unchanged; it parses only to learn framing
 * (where a message ends), routing inputs (Host, azds-route-as, baggage) and
 * to refuse ambiguous or hostile input. Every view (name/value pointers)
 * points into the caller's buffer.
 *
 * Return convention of the parse functions:
 *   > 0                  the head is complete; value = bytes of the head
 *                        (request/status line + headers + final CRLF)
 *   AZDS_HTTP_INCOMPLETE need more bytes (the caller re-calls with the same
 *                        buffer start and more bytes appended; the _inc
 *                        variants make that linear in the head's length)
 *   AZDS_HTTP_ERROR      refused; msg->status holds the HTTP status to send
 *                        (400, 413, 431, 501, 505) and msg->reason a short,
 *                        static, human-readable cause.
 */
#ifndef AZDS_HTTP_PARSE_H
#define AZDS_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define AZDS_HTTP_INCOMPLETE (-1)
#define AZDS_HTTP_ERROR (-2)

struct azds_http_header {
	const char *name;
	size_t name_len;
	const char *value; /* leading/trailing OWS stripped */
	size_t value_len;
};

struct azds_http_limits {
	size_t max_head_bytes;   /* whole head; exceeded -> 431 */
	size_t max_headers;      /* header count; exceeded -> 431 */
	uint64_t max_body_bytes; /* Content-Length above this -> 413; 0 = no limit */
};

enum azds_http_body {
	AZDS_BODY_NONE = 0,   /* no body follows the head */
	AZDS_BODY_LENGTH,     /* content_length bytes follow */
	AZDS_BODY_CHUNKED,    /* chunked; scan with azds_chunked_scan */
	AZDS_BODY_UNTIL_CLOSE /* response only: body ends when the server closes */
};

struct azds_http_msg {
	/* request line (requests) */
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	/* status line (responses) */
	int status_code;
	int minor_version; /* 0 or 1: HTTP/1.0 or HTTP/1.1, set on every accepted head */

	struct azds_http_header *headers; /* caller-provided array */
	size_t num_headers;               /* out: headers filled */
	size_t headers_cap;               /* in: capacity of headers[] */

	/* framing and semantics, derived while parsing */
	enum azds_http_body body;
	uint64_t content_length;
	bool keep_alive;      /* HTTP/1.1 default true; Connection: close/keep-alive */
	bool expect_continue; /* Expect: 100-continue (requests) */
	bool upgrade;         /* Connection: upgrade + Upgrade header present;
			       * in a response only when it is a 101 (HTTP/1.1) */
	bool is_head;         /* request method is HEAD */
	bool is_connect;      /* request method is CONNECT */

	/* convenience views (NULL/0 if absent) */
	const char *host;
	size_t host_len;
	const char *route_as;  /* value of azds-route-as */
	size_t route_as_len;
	const char *baggage;   /* value of the first baggage header */
	size_t baggage_len;
	size_t baggage_count;  /* baggage header lines, all of them in headers[] */

	/* on AZDS_HTTP_ERROR */
	int status;
	const char *reason;
};

/*
 * Parse a request head from buf[0..len). Refuses (AZDS_HTTP_ERROR):
 *  - bare CR or bare LF in the head, NUL or other control bytes, obs-fold
 *    (a header line starting with SP/HTAB)                     -> 400
 *  - invalid method token, target with CTL/space, bad version -> 400 (505 for HTTP/2+ in a 1.x line)
 *  - whitespace between header name and colon, empty name     -> 400
 *  - Content-Length and Transfer-Encoding both present        -> 400
 *  - several Content-Length headers (or a list) that differ,
 *    non-digit or overflowing Content-Length                  -> 400
 *  - Transfer-Encoding whose final coding is not chunked,
 *    chunked listed twice                                     -> 400 (501 for unknown codings)
 *  - Transfer-Encoding in an HTTP/1.0 request                 -> 400
 *  - more than one Host header                                 -> 400
 *  - head larger than max_head_bytes or more than max_headers -> 431
 *  - Content-Length above max_body_bytes (when set)            -> 413
 */
int azds_http_parse_request(const char *buf, size_t len, struct azds_http_msg *msg,
			    const struct azds_http_limits *lim);

/*
 * Parse a response head. req_is_head / req_is_connect describe the request
 * it answers (HEAD responses and 1xx/204/304 have no body; a 2xx to
 * CONNECT becomes a tunnel, reported as AZDS_BODY_NONE). A response with
 * neither Content-Length nor chunked framing is AZDS_BODY_UNTIL_CLOSE.
 */
int azds_http_parse_response(const char *buf, size_t len, struct azds_http_msg *msg,
			     const struct azds_http_limits *lim, bool req_is_head,
			     bool req_is_connect);

/*
 * Incremental head parsing: one struct azds_http_scan per message head being
 * received, kept by the caller next to the buffer it describes.
 *
 * The plain parse functions above rescan from buf[0] on every call, so a
 * head that arrives one byte per read costs O(n^2). The _inc variants
 * remember how far the head has been scanned for its end (CRLF CRLF), for
 * bytes that no head may contain (bare CR, bare LF, control bytes) and for
 * line ends; bytes already scanned are not scanned again. The full parse
 * runs when the scan finds the end of the head, a forbidden byte or
 * max_head_bytes buffered, and, to refuse a bad start line or header early,
 * at a line end once the buffered head has doubled since the last full
 * parse. A head of n bytes therefore costs at most about 4n byte visits
 * however it is split.
 *
 * Results are those of the plain function on the same buffer whenever the
 * _inc variant returns something other than AZDS_HTTP_INCOMPLETE, and it
 * returns INCOMPLETE only where the plain function returns INCOMPLETE or
 * refuses a head whose end has not arrived yet (that refusal then comes at
 * the next full parse: a later line end, the end of the head or the limit).
 * The set of accepted heads and every status and reason are unchanged.
 *
 * Contract: buf[0..len) must start at the head's first byte on every call
 * and earlier bytes must be unchanged (the buffer may move, as offsets are
 * kept, not pointers). After a final result (> 0 or AZDS_HTTP_ERROR) the
 * state is reset for the next head by the call itself; call
 * azds_http_scan_init() when a partial head is discarded. A NULL scan
 * state makes the _inc functions behave exactly as the plain ones.
 */
struct azds_http_scan {
	size_t scanned;    /* bytes of the head examined by the scanner */
	size_t parsed;     /* bytes the last full parse judged; 0 = none yet */
	int tail;          /* where buf[scanned - 1] left the CR/LF pattern */
	uint64_t examined; /* byte visits, scanner + full parses, summed over heads */
};

void azds_http_scan_init(struct azds_http_scan *s);

int azds_http_parse_request_inc(struct azds_http_scan *s, const char *buf, size_t len,
				struct azds_http_msg *msg, const struct azds_http_limits *lim);

int azds_http_parse_response_inc(struct azds_http_scan *s, const char *buf, size_t len,
				 struct azds_http_msg *msg, const struct azds_http_limits *lim,
				 bool req_is_head, bool req_is_connect);

/*
 * Incremental chunked-body scanner. The body bytes are forwarded unchanged;
 * the scanner only finds where the body (including trailers and the final
 * CRLF) ends and refuses malformed chunk sizes (non-hex, empty, overflow,
 * missing CRLF after chunk data, bare LF).
 */
struct azds_chunked {
	int state;
	uint64_t remaining; /* bytes of chunk data still to pass */
	size_t line_len;    /* bytes of the current size/trailer line seen */
	unsigned size_digits;
	uint64_t total;     /* decoded body bytes so far (chunk data passed) */
	uint64_t max_total; /* limit on the sum of chunk sizes; 0 = none */
};

#define AZDS_CHUNKED_ERROR (-1)     /* malformed: refuse (400) or abort */
#define AZDS_CHUNKED_TOO_LARGE (-2) /* chunk sizes add up past max_total: 413 */

void azds_chunked_init(struct azds_chunked *c);

/*
 * As azds_chunked_init, with a limit on the decoded body (a request's
 * --max-body-bytes, as Content-Length bodies get). The scan refuses with
 * AZDS_CHUNKED_TOO_LARGE at the chunk-size digit that takes the sum of the
 * sizes past max_total, before any byte of that chunk's data is accepted:
 * bodies of exactly max_total bytes pass. 0 means no limit.
 */
void azds_chunked_init_max(struct azds_chunked *c, uint64_t max_total);

/*
 * Consume up to len bytes. Returns the number of bytes that belong to the
 * body (<= len) and sets *done when the body's last byte was among them;
 * returns AZDS_CHUNKED_ERROR (-1) on malformed input (the message must be
 * refused/aborted) or AZDS_CHUNKED_TOO_LARGE; both stick.
 * max_line bounds a chunk-size or trailer line (e.g. 4096).
 */
long azds_chunked_scan(struct azds_chunked *c, const char *buf, size_t len, bool *done,
		       size_t max_line);

/*
 * The same scan, for a recipient that must not get chunked framing (an
 * HTTP/1.0 client, RFC 9112 7.1 and 6.1): stops after the first run of
 * chunk data. Returns the bytes consumed (or an error as above); the last
 * *data_len of them are chunk data to pass on, the bytes before them are
 * framing. Call again from buf + returned value; *done as above.
 */
long azds_chunked_decode(struct azds_chunked *c, const char *buf, size_t len, size_t *data_len,
			 bool *done, size_t max_line);

/*
 * Find key in a W3C baggage header value ("k1=v1;prop, k2=v2"). On success
 * sets *val and *val_len to the (not percent-decoded) value with OWS trimmed and
 * returns true.
 */
bool azds_baggage_get(const char *baggage, size_t len, const char *key, const char **val,
		      size_t *val_len);

/*
 * Which space a request asks to be routed as: the azds-route-as header and
 * the azds-route-as members of every baggage header line (a list header
 * may be split over several lines, RFC 9110 5.3). All of them must agree,
 * compared after percent-decoding the baggage values (dev%2Falice in
 * baggage equals dev/alice; the header is taken as sent). Identical
 * duplicates agree. An empty header counts as absent (the router then
 * reads baggage, as every hop does); an empty baggage member is a value,
 * since a propagator that keeps the last member would forward it.
 *
 * Returns 0 with ra->val set: the value, the header's when there is one;
 *         1 when the request names no space;
 *         -EINVAL when two values disagree: ra->val is the first one seen
 *         (the header's if set), ra->other the first that differs from it.
 * Views point into the head, as sent; from_baggage says the value is
 * percent-encoded and must go through azds_pct_decode before use.
 * Parse errors come earlier: two azds-route-as header lines are refused by
 * the request parser itself (400 "multiple azds-route-as").
 */
struct azds_route_as_value {
	const char *val;
	size_t len;
	bool from_baggage;
};

struct azds_route_as {
	struct azds_route_as_value val;
	struct azds_route_as_value other; /* on -EINVAL only */
};

int azds_http_route_as(const struct azds_http_msg *m, struct azds_route_as *ra);

/*
 * Percent-decodes s[0..n) into out, NUL-terminated: "%" and two hex digits
 * become one byte, any other "%" is kept. Returns the decoded length, or
 * -ENOSPC (out holds "") when it needs more than cap - 1 bytes.
 */
long azds_pct_decode(const char *s, size_t n, char *out, size_t cap);

/* Case-insensitive token compare helper: returns true if equal. */
bool azds_http_token_eq(const char *a, size_t alen, const char *b);

#endif
