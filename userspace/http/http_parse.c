/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.x head parser and chunked-body scanner; see http_parse.h for the
 * contract.
 *
 * Design notes:
 *  - The head parser itself is stateless: every call judges buf[0..len)
 *    from its first byte, so there is no resumable parser state to get
 *    wrong, and no allocation. Linear cost for heads that trickle in comes
 *    from the _inc wrappers at the end of the head section: a tiny scanner
 *    decides when the full parse is worth running, and the full parse
 *    decides every result, so both paths accept and refuse alike.
 *  - Bytes are judged left to right and the first offending byte decides
 *    the error. A refused prefix is therefore refused with the same status
 *    however many bytes follow (the fuzzer checks this).
 *  - The router forwards bytes unchanged, so anything another parser could
 *    read differently (framing, line endings, header names) is refused:
 *    tolerance here would be a request-smuggling hole further down.
 *  - Errors in a response are the upstream's fault; the client must get
 *    502, so every response error reports status 502.
 */
#include "http_parse.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* Used when the caller passes no limits (lim == NULL). */
#define DEFAULT_MAX_HEAD 65536
#define DEFAULT_MAX_HEADERS 100
/* Used by azds_chunked_scan when max_line is 0. */
#define DEFAULT_MAX_CHUNK_LINE 4096

/* Internal results; P_ERR is the public error so it can be returned as is. */
enum { P_OK = 0, P_MORE = 1, P_ERR = AZDS_HTTP_ERROR };

/* ---------------------------------------------------------------------- */
/* Character classes (RFC 9110 5.6, RFC 9112)                              */

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
	c |= 0x20; /* folds A-Z onto a-z and nothing else onto a-z */
	return c >= 'a' && c <= 'z';
}

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static bool is_tchar(unsigned char c)
{
	if (is_alpha(c) || is_digit(c))
		return true;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
	case '+': case '-': case '.': case '^': case '_': case '`': case '|':
	case '~':
		return true;
	default:
		return false;
	}
}

/* field-vchar = VCHAR / obs-text: 0x21..0xFF except DEL. */
static bool is_field_vchar(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

/* Bytes allowed inside a field value or reason phrase. */
static bool is_field_char(unsigned char c)
{
	return is_field_vchar(c) || is_ows(c);
}

/*
 * request-target is URI syntax, which is ASCII only (RFC 3986); raw
 * obs-text in a target is decoded differently by different servers.
 */
static bool is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/*
 * Host = uri-host [ ":" port ]: unreserved, pct-encoded, sub-delims, plus
 * ':' and the IP-literal brackets. Anything else could route differently.
 */
static bool is_host_char(unsigned char c)
{
	if (is_alpha(c) || is_digit(c))
		return true;
	return c != 0 && strchr("-._~%!$&'()*+,;=:[]", c) != NULL;
}

static int hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

bool azds_http_token_eq(const char *a, size_t alen, const char *b)
{
	size_t i;

	if (!b)
		return false;
	/* Walk b while comparing so no strlen() is needed. */
	for (i = 0; i < alen; i++) {
		if (b[i] == '\0')
			return false;
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return false;
	}
	return b[alen] == '\0';
}

/* ---------------------------------------------------------------------- */
/* Small string helpers                                                    */

static void trim_ows(const char **s, const char **e)
{
	while (*s < *e && is_ows((unsigned char)**s))
		(*s)++;
	while (*e > *s && is_ows((unsigned char)(*e)[-1]))
		(*e)--;
}

static bool all_tchar(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

/* 1*DIGIT into a uint64_t; false on anything else or on overflow. */
static bool parse_dec_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned d;

		if (!is_digit(c))
			return false;
		d = c - '0';
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/*
 * Iterator over a comma-separated list (RFC 9110 5.6.1). Elements come
 * back OWS-trimmed; empty elements are returned too (length 0) so each
 * caller decides whether they are tolerable.
 */
struct list_iter {
	const char *p;
	const char *end;
	bool done;
};

static void list_init(struct list_iter *it, const char *s, size_t n)
{
	it->p = s;
	it->end = s + n;
	it->done = (s == NULL);
}

static bool list_next(struct list_iter *it, const char **elem, size_t *elen)
{
	const char *comma, *stop, *s;

	if (it->done)
		return false;
	comma = memchr(it->p, ',', (size_t)(it->end - it->p));
	stop = comma ? comma : it->end;
	s = it->p;
	trim_ows(&s, &stop);
	*elem = s;
	*elen = (size_t)(stop - s);
	if (comma)
		it->p = comma + 1;
	else
		it->done = true;
	return true;
}

/* ---------------------------------------------------------------------- */
/* Head parser context (rebuilt on every call)                             */

struct head_ctx {
	const char *buf;
	size_t len;         /* bytes buffered */
	size_t limit;       /* bytes examined: min(len, max_head) */
	size_t max_head;
	size_t max_headers; /* min(lim->max_headers, headers_cap) */
	uint64_t max_body;
	struct azds_http_msg *msg;
	bool is_request;
	bool req_is_head;    /* responses: the request was HEAD */
	bool req_is_connect; /* responses: the request was CONNECT */

	/* facts gathered from header lines */
	bool have_cl;
	uint64_t cl;
	bool have_te;
	bool te_chunked; /* chunked seen; it must be the last coding */
	bool have_upgrade;
	bool conn_close;
	bool conn_keep_alive;
	bool conn_upgrade;
	bool expect_100;
};

static int fail(struct head_ctx *h, int status, const char *reason)
{
	h->msg->status = h->is_request ? status : 502;
	h->msg->reason = reason;
	return P_ERR;
}

static void msg_reset(struct azds_http_msg *m)
{
	struct azds_http_header *headers = m->headers;
	size_t cap = m->headers_cap;

	memset(m, 0, sizeof(*m));
	m->headers = headers;
	m->headers_cap = cap;
}

static void ctx_init(struct head_ctx *h, const char *buf, size_t len, struct azds_http_msg *msg,
		     const struct azds_http_limits *lim, bool is_request)
{
	size_t max_headers = lim ? lim->max_headers : DEFAULT_MAX_HEADERS;
	size_t cap = msg->headers ? msg->headers_cap : 0;

	memset(h, 0, sizeof(*h));
	h->buf = buf;
	h->len = buf ? len : 0;
	h->max_head = lim ? lim->max_head_bytes : DEFAULT_MAX_HEAD;
	/* The head length is returned as an int. */
	if (h->max_head > INT_MAX)
		h->max_head = INT_MAX;
	h->limit = h->len < h->max_head ? h->len : h->max_head;
	h->max_headers = max_headers < cap ? max_headers : cap;
	h->max_body = lim ? lim->max_body_bytes : 0;
	h->msg = msg;
	h->is_request = is_request;
	msg_reset(msg);
}

/* ---------------------------------------------------------------------- */
/* Line splitting                                                          */

enum line_kind { LINE_DONE, LINE_PARTIAL, LINE_BARE_CR, LINE_BARE_LF };

/*
 * Finds the end of the line starting at pos. *n is the number of content
 * bytes before the terminator (or before the end of the examined bytes).
 * Only CRLF ends a line: a lone CR or LF is an error, because other
 * parsers may treat either as a line end and see different headers.
 */
static enum line_kind find_line(const struct head_ctx *h, size_t pos, size_t *n)
{
	const char *p = h->buf + pos;
	size_t avail = h->limit - pos;
	size_t i;

	for (i = 0; i < avail; i++) {
		if (p[i] == '\n') {
			*n = i;
			return LINE_BARE_LF;
		}
		if (p[i] != '\r')
			continue;
		*n = i;
		if (i + 1 == avail)
			return LINE_PARTIAL; /* the LF may still come */
		return p[i + 1] == '\n' ? LINE_DONE : LINE_BARE_CR;
	}
	*n = avail;
	return LINE_PARTIAL;
}

/*
 * A line handler validates p[0..n). With complete == false it only checks
 * the bytes present and returns P_MORE if they are acceptable so far.
 */
typedef int (*line_fn)(struct head_ctx *h, const char *p, size_t n, bool complete);

static int run_line(struct head_ctx *h, size_t *pos, line_fn fn)
{
	size_t n;
	enum line_kind kind = find_line(h, *pos, &n);
	/* Judge the bytes before a bad terminator first: first bad byte wins. */
	int r = fn(h, h->buf + *pos, n, kind == LINE_DONE);

	if (r == P_ERR)
		return r;
	if (kind == LINE_BARE_CR)
		return fail(h, 400, "bare CR in head");
	if (kind == LINE_BARE_LF)
		return fail(h, 400, "bare LF in head");
	if (kind == LINE_PARTIAL)
		return P_MORE;
	*pos += n + 2;
	return P_OK;
}

/* ---------------------------------------------------------------------- */
/* Start lines                                                             */

/*
 * Checks "HTTP/D.D" in the first min(n, 8) bytes. P_MORE if fewer than 8
 * bytes are present. Well-formed but unsupported versions get 505.
 */
static int parse_version(struct head_ctx *h, const char *p, size_t n)
{
	static const char pattern[] = "HTTP/d.d";
	size_t i;

	for (i = 0; i < n && i < 8; i++) {
		unsigned char c = (unsigned char)p[i];
		bool ok = pattern[i] == 'd' ? is_digit(c) : c == (unsigned char)pattern[i];

		if (!ok)
			return fail(h, 400, "invalid HTTP version");
	}
	if (i < 8)
		return P_MORE;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return fail(h, 505, "HTTP version not supported");
	h->msg->minor_version = p[7] - '0';
	return P_OK;
}

/* The version is the whole rest of the request line. */
static int request_version(struct head_ctx *h, const char *p, size_t n, bool complete)
{
	int r = parse_version(h, p, n);

	if (r == P_ERR)
		return r;
	if (n > 8)
		return fail(h, 400, "invalid HTTP version");
	if (!complete)
		return P_MORE;
	return r == P_OK ? P_OK : fail(h, 400, "invalid HTTP version");
}

/* request-line = method SP request-target SP HTTP-version */
static int request_line(struct head_ctx *h, const char *p, size_t n, bool complete)
{
	struct azds_http_msg *m = h->msg;
	size_t i = 0, t0;

	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	if (i < n && (p[i] != ' ' || i == 0))
		return fail(h, 400, "invalid method");
	if (i == n)
		return complete ? fail(h, 400, "malformed request line") : P_MORE;
	m->method = p;
	m->method_len = i;

	t0 = ++i;
	while (i < n && is_target_char((unsigned char)p[i]))
		i++;
	if (i < n && (p[i] != ' ' || i == t0))
		return fail(h, 400, "invalid request target");
	if (i == n)
		return complete ? fail(h, 400, "malformed request line") : P_MORE;
	m->target = p + t0;
	m->target_len = i - t0;

	i++;
	return request_version(h, p + i, n - i, complete);
}

/*
 * status-line = HTTP-version SP status-code SP [ reason-phrase ]
 * The SP before an empty reason is tolerated when missing: it cannot
 * change framing, and some servers omit it.
 */
static int status_line(struct head_ctx *h, const char *p, size_t n, bool complete)
{
	int r = parse_version(h, p, n);
	size_t i;

	if (r == P_ERR)
		return r;
	for (i = 8; i < n && i < 12; i++) {
		bool ok = i == 8 ? p[i] == ' ' : is_digit((unsigned char)p[i]);

		if (!ok)
			return fail(h, 502, "malformed status line");
	}
	if (n < 12)
		return complete ? fail(h, 502, "malformed status line") : P_MORE;
	h->msg->status_code = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (h->msg->status_code < 100 || h->msg->status_code > 599)
		return fail(h, 502, "invalid status code");
	if (n > 12 && p[12] != ' ')
		return fail(h, 502, "malformed status line");
	for (i = 13; i < n; i++)
		if (!is_field_char((unsigned char)p[i]))
			return fail(h, 502, "invalid reason phrase");
	return complete ? P_OK : P_MORE;
}

/* ---------------------------------------------------------------------- */
/* Header semantics                                                        */

/*
 * Content-Length may be a list or repeated (RFC 9110 8.6); that is only
 * acceptable when every member is the same number. Empty members are
 * refused: "Content-Length: ,5" is read differently by different parsers.
 */
static int on_content_length(struct head_ctx *h, const struct azds_http_header *hd)
{
	struct list_iter it;
	const char *e;
	size_t elen;

	list_init(&it, hd->value, hd->value_len);
	while (list_next(&it, &e, &elen)) {
		uint64_t v;

		if (!parse_dec_u64(e, elen, &v))
			return fail(h, 400, "invalid Content-Length");
		if (h->have_cl && v != h->cl)
			return fail(h, 400, "conflicting Content-Length");
		h->have_cl = true;
		h->cl = v;
	}
	if (h->have_te)
		return fail(h, 400, "both Content-Length and Transfer-Encoding");
	return P_OK;
}

/* Codings a proxy can pass through untouched: it only needs chunked. */
static bool known_coding(const char *e, size_t n)
{
	static const char *const known[] = { "gzip", "x-gzip", "deflate", "compress", "x-compress" };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (azds_http_token_eq(e, n, known[i]))
			return true;
	return false;
}

/*
 * Transfer-Encoding: chunked must be the final coding and appear once
 * (RFC 9112 6.1). Parameters are refused outright ("chunked;x" is chunked
 * to some parsers and not to others). HTTP/1.0 has no Transfer-Encoding:
 * a 1.0 message carrying one has unreliable framing (RFC 9112 6.1).
 */
static int on_transfer_encoding(struct head_ctx *h, const struct azds_http_header *hd)
{
	struct list_iter it;
	const char *e;
	size_t elen;

	if (h->msg->minor_version == 0)
		return fail(h, 400, "Transfer-Encoding in HTTP/1.0");
	if (h->have_cl)
		return fail(h, 400, "both Content-Length and Transfer-Encoding");
	h->have_te = true;
	list_init(&it, hd->value, hd->value_len);
	while (list_next(&it, &e, &elen)) {
		bool chunked = azds_http_token_eq(e, elen, "chunked");

		if (!all_tchar(e, elen))
			return fail(h, 400, "invalid Transfer-Encoding");
		if (h->te_chunked)
			return fail(h, 400, chunked ? "chunked applied twice" : "chunked is not the final coding");
		if (chunked)
			h->te_chunked = true;
		else if (h->is_request && !known_coding(e, elen))
			return fail(h, 501, "unsupported transfer coding");
	}
	return P_OK;
}

static int on_connection(struct head_ctx *h, const struct azds_http_header *hd)
{
	struct list_iter it;
	const char *e;
	size_t elen;

	list_init(&it, hd->value, hd->value_len);
	while (list_next(&it, &e, &elen)) {
		if (azds_http_token_eq(e, elen, "close"))
			h->conn_close = true;
		else if (azds_http_token_eq(e, elen, "keep-alive"))
			h->conn_keep_alive = true;
		else if (azds_http_token_eq(e, elen, "upgrade"))
			h->conn_upgrade = true;
	}
	return P_OK;
}

static int on_expect(struct head_ctx *h, const struct azds_http_header *hd)
{
	struct list_iter it;
	const char *e;
	size_t elen;

	list_init(&it, hd->value, hd->value_len);
	while (list_next(&it, &e, &elen))
		if (azds_http_token_eq(e, elen, "100-continue"))
			h->expect_100 = true;
	return P_OK;
}

/* RFC 9112 3.2: more than one Host, or an invalid one, is a 400. */
static int on_host(struct head_ctx *h, const struct azds_http_header *hd)
{
	struct azds_http_msg *m = h->msg;
	size_t i;

	if (m->host)
		return fail(h, 400, "multiple Host headers");
	for (i = 0; i < hd->value_len; i++)
		if (!is_host_char((unsigned char)hd->value[i]))
			return fail(h, 400, "invalid Host");
	m->host = hd->value;
	m->host_len = hd->value_len;
	return P_OK;
}

/* Routing must not depend on which copy a component happens to read. */
static int on_route_as(struct head_ctx *h, const struct azds_http_header *hd)
{
	struct azds_http_msg *m = h->msg;

	if (m->route_as)
		return fail(h, 400, "multiple azds-route-as");
	m->route_as = hd->value;
	m->route_as_len = hd->value_len;
	return P_OK;
}

static int apply_header(struct head_ctx *h, const struct azds_http_header *hd)
{
	struct azds_http_msg *m = h->msg;
	const char *n = hd->name;
	size_t nl = hd->name_len;

	if (azds_http_token_eq(n, nl, "content-length"))
		return on_content_length(h, hd);
	if (azds_http_token_eq(n, nl, "transfer-encoding"))
		return on_transfer_encoding(h, hd);
	if (azds_http_token_eq(n, nl, "connection"))
		return on_connection(h, hd);
	if (azds_http_token_eq(n, nl, "upgrade")) {
		h->have_upgrade = h->have_upgrade || hd->value_len > 0;
		return P_OK;
	}
	if (!h->is_request)
		return P_OK;
	if (azds_http_token_eq(n, nl, "host"))
		return on_host(h, hd);
	if (azds_http_token_eq(n, nl, "expect"))
		return on_expect(h, hd);
	if (azds_http_token_eq(n, nl, "azds-route-as"))
		return on_route_as(h, hd);
	if (azds_http_token_eq(n, nl, "baggage")) {
		/* Every line counts (RFC 9110 5.3): azds_http_route_as reads all. */
		if (m->baggage_count++ == 0) {
			m->baggage = hd->value;
			m->baggage_len = hd->value_len;
		}
	}
	return P_OK;
}

/* field-line = field-name ":" OWS field-value OWS */
static int header_line(struct head_ctx *h, const char *p, size_t n, bool complete)
{
	struct azds_http_msg *m = h->msg;
	struct azds_http_header *hd;
	const char *vs, *ve;
	size_t i = 0, name_len;

	if (n > 0 && is_ows((unsigned char)p[0]))
		return fail(h, 400, "obs-fold or whitespace before header name");
	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	if (i == n)
		return complete ? fail(h, 400, "header line without colon") : P_MORE;
	if (p[i] != ':')
		return fail(h, 400, is_ows((unsigned char)p[i]) ? "whitespace before colon"
							       : "invalid header name");
	if (i == 0)
		return fail(h, 400, "empty header name");
	name_len = i;
	for (i++; i < n; i++)
		if (!is_field_char((unsigned char)p[i]))
			return fail(h, 400, "invalid header value");
	if (!complete)
		return P_MORE;

	if (m->num_headers >= h->max_headers)
		return fail(h, 431, "too many headers");
	vs = p + name_len + 1;
	ve = p + n;
	trim_ows(&vs, &ve);
	hd = &m->headers[m->num_headers++];
	hd->name = p;
	hd->name_len = name_len;
	hd->value = vs;
	hd->value_len = (size_t)(ve - vs);
	return apply_header(h, hd);
}

/* ---------------------------------------------------------------------- */
/* Framing decisions once the head is complete                             */

static bool want_keep_alive(const struct head_ctx *h)
{
	if (h->conn_close)
		return false;
	return h->msg->minor_version >= 1 || h->conn_keep_alive;
}

static int finish_request(struct head_ctx *h, size_t head_len)
{
	struct azds_http_msg *m = h->msg;
	bool v11 = m->minor_version >= 1;

	if (h->have_te) {
		if (!h->te_chunked)
			return fail(h, 400, "chunked is not the final coding");
		m->body = AZDS_BODY_CHUNKED;
	} else if (h->have_cl) {
		if (h->max_body && h->cl > h->max_body)
			return fail(h, 413, "Content-Length too large");
		m->body = AZDS_BODY_LENGTH;
		m->content_length = h->cl;
	} else {
		m->body = AZDS_BODY_NONE;
	}
	m->keep_alive = want_keep_alive(h);
	/* HTTP/1.0 has neither Upgrade nor 100-continue (RFC 9110 7.8, 10.1.1). */
	m->upgrade = v11 && h->conn_upgrade && h->have_upgrade;
	m->expect_continue = v11 && h->expect_100;
	m->is_head = m->method_len == 4 && memcmp(m->method, "HEAD", 4) == 0;
	m->is_connect = m->method_len == 7 && memcmp(m->method, "CONNECT", 7) == 0;
	return (int)head_len;
}

/* RFC 9112 6.3, rules 1-2: these responses end with their head. */
static bool response_has_no_body(const struct head_ctx *h)
{
	int code = h->msg->status_code;

	if (code < 200 || code == 204 || code == 304 || h->req_is_head)
		return true;
	return h->req_is_connect && code < 300;
}

static int finish_response(struct head_ctx *h, size_t head_len)
{
	struct azds_http_msg *m = h->msg;

	if (h->have_cl)
		m->content_length = h->cl;
	if (response_has_no_body(h))
		m->body = AZDS_BODY_NONE;
	else if (h->have_te)
		/* A response whose final coding is not chunked is close-delimited. */
		m->body = h->te_chunked ? AZDS_BODY_CHUNKED : AZDS_BODY_UNTIL_CLOSE;
	else if (h->have_cl)
		m->body = AZDS_BODY_LENGTH;
	else
		m->body = AZDS_BODY_UNTIL_CLOSE;
	if (m->body == AZDS_BODY_LENGTH && h->max_body && h->cl > h->max_body)
		return fail(h, 502, "Content-Length too large");
	m->keep_alive = want_keep_alive(h) && m->body != AZDS_BODY_UNTIL_CLOSE;
	/*
	 * Only a 101 switches protocols, and only with both fields (RFC 9110
	 * 7.8, 15.2.2); elsewhere Upgrade merely advertises. HTTP/1.0 has no
	 * upgrade.
	 */
	m->upgrade = m->status_code == 101 && m->minor_version >= 1 && h->conn_upgrade &&
		     h->have_upgrade;
	return (int)head_len;
}

/* ---------------------------------------------------------------------- */
/* Driver                                                                  */

static int need_more(struct head_ctx *h)
{
	/* All max_head bytes seen and still no end: the head cannot fit. */
	if (h->len >= h->max_head)
		return fail(h, 431, "head too large");
	return AZDS_HTTP_INCOMPLETE;
}

static bool at_empty_line(const struct head_ctx *h, size_t pos)
{
	return pos + 2 <= h->limit && h->buf[pos] == '\r' && h->buf[pos + 1] == '\n';
}

static int parse_head(struct head_ctx *h, line_fn start_line)
{
	size_t pos = 0;
	int r = run_line(h, &pos, start_line);

	while (r == P_OK) {
		if (at_empty_line(h, pos)) {
			pos += 2;
			return h->is_request ? finish_request(h, pos) : finish_response(h, pos);
		}
		r = run_line(h, &pos, header_line);
	}
	return r == P_MORE ? need_more(h) : r;
}

/* What the head answers to: a request, or a response to a given request. */
struct head_kind {
	bool is_request;
	bool req_is_head;
	bool req_is_connect;
};

static int parse_full(const char *buf, size_t len, struct azds_http_msg *msg,
		      const struct azds_http_limits *lim, const struct head_kind *k)
{
	struct head_ctx h;

	if (!msg)
		return AZDS_HTTP_ERROR;
	ctx_init(&h, buf, len, msg, lim, k->is_request);
	h.req_is_head = k->req_is_head;
	h.req_is_connect = k->req_is_connect;
	return parse_head(&h, k->is_request ? request_line : status_line);
}

int azds_http_parse_request(const char *buf, size_t len, struct azds_http_msg *msg,
			    const struct azds_http_limits *lim)
{
	const struct head_kind k = { .is_request = true };

	return parse_full(buf, len, msg, lim, &k);
}

int azds_http_parse_response(const char *buf, size_t len, struct azds_http_msg *msg,
			     const struct azds_http_limits *lim, bool req_is_head,
			     bool req_is_connect)
{
	const struct head_kind k = { false, req_is_head, req_is_connect };

	return parse_full(buf, len, msg, lim, &k);
}

/* ---------------------------------------------------------------------- */
/* Incremental driver                                                      */

/*
 * The scanner tracks only the CR/LF pattern ending the bytes scanned so
 * far; tail says how much of "\r\n\r\n" they end with.
 */
enum scan_tail { TAIL_TEXT = 0, TAIL_CR, TAIL_CRLF, TAIL_CRLFCR };

enum scan_event {
	EV_NONE,     /* all bytes up to the limit scanned: nothing to decide */
	EV_LINE,     /* a line ended: a full parse may refuse it early */
	EV_DECISIVE, /* head end, bare CR/LF or control byte: the parse decides */
};

/*
 * A byte no head may hold anywhere: every line handler refuses it (HTAB
 * is allowed in field values and so is not one of them).
 */
static bool is_head_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

static enum scan_event scan_byte(struct azds_http_scan *s, unsigned char c)
{
	int t = s->tail;

	if (c == '\r') {
		s->tail = t == TAIL_CRLF ? TAIL_CRLFCR : TAIL_CR;
		return t == TAIL_CR || t == TAIL_CRLFCR ? EV_DECISIVE : EV_NONE; /* CR CR */
	}
	if (c == '\n') {
		s->tail = TAIL_CRLF;
		if (t == TAIL_CR)
			return EV_LINE;
		return EV_DECISIVE; /* the end of the head, or a bare LF */
	}
	s->tail = TAIL_TEXT;
	return t == TAIL_CR || t == TAIL_CRLFCR || is_head_ctl(c) ? EV_DECISIVE : EV_NONE;
}

/* Scans buf[s->scanned..limit) up to the first event worth a full parse. */
static enum scan_event scan_head(struct azds_http_scan *s, const char *buf, size_t limit)
{
	while (s->scanned < limit) {
		enum scan_event ev = scan_byte(s, (unsigned char)buf[s->scanned++]);

		s->examined++;
		if (ev == EV_DECISIVE)
			return ev;
		/* Doubling bounds the early parses to 2n byte visits in all. */
		if (ev == EV_LINE && s->scanned >= 2 * s->parsed)
			return ev;
	}
	return EV_NONE;
}

static size_t head_limit(const struct azds_http_limits *lim)
{
	size_t max_head = lim ? lim->max_head_bytes : DEFAULT_MAX_HEAD;

	return max_head > INT_MAX ? INT_MAX : max_head;
}

void azds_http_scan_init(struct azds_http_scan *s)
{
	memset(s, 0, sizeof(*s));
}

/* Ready for the next head; the visit count is a running total. */
static void scan_restart(struct azds_http_scan *s)
{
	uint64_t examined = s->examined;

	azds_http_scan_init(s);
	s->examined = examined;
}

static int parse_inc(struct azds_http_scan *s, const char *buf, size_t len,
		     struct azds_http_msg *msg, const struct azds_http_limits *lim,
		     const struct head_kind *k)
{
	size_t max_head = head_limit(lim), limit;
	enum scan_event ev;
	int r = AZDS_HTTP_INCOMPLETE;

	if (!s || !msg)
		return parse_full(buf, len, msg, lim, k);
	if (!buf)
		len = 0;
	limit = len < max_head ? len : max_head;
	if (s->scanned > limit)
		scan_restart(s); /* not the head this state was for */
	do {
		ev = scan_head(s, buf, limit);
		if (ev != EV_NONE || len >= max_head) {
			r = parse_full(buf, len, msg, lim, k);
			s->examined += limit;
			s->parsed = limit;
		}
	} while (r == AZDS_HTTP_INCOMPLETE && ev != EV_NONE);
	if (r == AZDS_HTTP_INCOMPLETE)
		msg_reset(msg); /* no stale views from an earlier call */
	else
		scan_restart(s);
	return r;
}

int azds_http_parse_request_inc(struct azds_http_scan *s, const char *buf, size_t len,
				struct azds_http_msg *msg, const struct azds_http_limits *lim)
{
	const struct head_kind k = { .is_request = true };

	return parse_inc(s, buf, len, msg, lim, &k);
}

int azds_http_parse_response_inc(struct azds_http_scan *s, const char *buf, size_t len,
				 struct azds_http_msg *msg, const struct azds_http_limits *lim,
				 bool req_is_head, bool req_is_connect)
{
	const struct head_kind k = { false, req_is_head, req_is_connect };

	return parse_inc(s, buf, len, msg, lim, &k);
}

/* ---------------------------------------------------------------------- */
/* Chunked body scanner (RFC 9112 7.1)                                     */

enum chunk_state {
	CS_SIZE = 0,      /* chunk-size hex digits */
	CS_EXT_WS,        /* BWS after the size or an ext value: ';' must follow */
	CS_EXT_NAME0,     /* after ';': BWS, then an ext name */
	CS_EXT_NAME,
	CS_EXT_NAME_WS,   /* BWS after an ext name: '=' or ';' must follow */
	CS_EXT_VAL0,      /* after '=': BWS, then token or quoted-string */
	CS_EXT_TOKEN,
	CS_EXT_QUOTED,
	CS_EXT_QPAIR,     /* after a backslash inside quotes */
	CS_EXT_QEND,      /* after the closing quote */
	CS_SIZE_LF,       /* CR ending the size line seen */
	CS_DATA,
	CS_DATA_CR,       /* chunk data done: CRLF must follow */
	CS_DATA_LF,
	CS_TRAILER0,      /* start of a trailer line or of the final CRLF */
	CS_TRAILER_NAME,
	CS_TRAILER_VALUE,
	CS_TRAILER_LF,
	CS_END_LF,
	CS_DONE,
	CS_ERROR,
	CS_TOO_LARGE      /* the chunk sizes add up to more than max_total */
};

void azds_chunked_init(struct azds_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CS_SIZE;
}

void azds_chunked_init_max(struct azds_chunked *c, uint64_t max_total)
{
	azds_chunked_init(c);
	c->max_total = max_total;
}

static int start_size_line(struct azds_chunked *c)
{
	c->line_len = 0;
	c->size_digits = 0;
	c->remaining = 0;
	return CS_SIZE;
}

static int start_trailer_line(struct azds_chunked *c)
{
	c->line_len = 0;
	return CS_TRAILER0;
}

static int end_size_line(struct azds_chunked *c)
{
	if (c->remaining == 0)
		return start_trailer_line(c); /* last-chunk */
	if (c->total > UINT64_MAX - c->remaining)
		return CS_ERROR;
	c->line_len = 0;
	return CS_DATA;
}

/* What may follow a chunk size, ext name or ext value. */
static int after_ext_item(unsigned char b)
{
	if (b == ';')
		return CS_EXT_NAME0;
	if (is_ows(b))
		return CS_EXT_WS;
	return b == '\r' ? CS_SIZE_LF : CS_ERROR;
}

static int size_digit(struct azds_chunked *c, unsigned char b)
{
	int v = hex_value(b);

	if (v < 0)
		return c->size_digits ? after_ext_item(b) : CS_ERROR;
	/* 16 hex digits fill a uint64_t: more would overflow. */
	if (++c->size_digits > 16)
		return CS_ERROR;
	c->remaining = (c->remaining << 4) | (uint64_t)v;
	/*
	 * A size only grows with more digits: refuse at the first digit that
	 * takes the body past the limit, before any of its data is passed on.
	 * total <= max_total holds, since every earlier size passed this test.
	 */
	if (c->max_total && c->remaining > c->max_total - c->total)
		return CS_TOO_LARGE;
	return CS_SIZE;
}

/*
 * chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] )
 * Parsed exactly so that no byte can be read as a line end by one parser
 * and as extension text by another.
 */
static int size_line_step(struct azds_chunked *c, unsigned char b)
{
	switch (c->state) {
	case CS_SIZE:
		return size_digit(c, b);
	case CS_EXT_WS:
		return b == ';' ? CS_EXT_NAME0 : is_ows(b) ? CS_EXT_WS : CS_ERROR;
	case CS_EXT_NAME0:
		return is_ows(b) ? CS_EXT_NAME0 : is_tchar(b) ? CS_EXT_NAME : CS_ERROR;
	case CS_EXT_NAME:
		if (is_tchar(b))
			return CS_EXT_NAME;
		if (b == '=')
			return CS_EXT_VAL0;
		return is_ows(b) ? CS_EXT_NAME_WS : after_ext_item(b);
	case CS_EXT_NAME_WS:
		if (b == '=')
			return CS_EXT_VAL0;
		if (b == ';')
			return CS_EXT_NAME0;
		return is_ows(b) ? CS_EXT_NAME_WS : CS_ERROR;
	case CS_EXT_VAL0:
		if (b == '"')
			return CS_EXT_QUOTED;
		return is_ows(b) ? CS_EXT_VAL0 : is_tchar(b) ? CS_EXT_TOKEN : CS_ERROR;
	case CS_EXT_TOKEN:
		return is_tchar(b) ? CS_EXT_TOKEN : after_ext_item(b);
	case CS_EXT_QUOTED:
		if (b == '"')
			return CS_EXT_QEND;
		if (b == '\\')
			return CS_EXT_QPAIR;
		return is_field_char(b) ? CS_EXT_QUOTED : CS_ERROR;
	case CS_EXT_QPAIR:
		return is_field_char(b) ? CS_EXT_QUOTED : CS_ERROR;
	case CS_EXT_QEND:
		return after_ext_item(b);
	default:
		return CS_ERROR;
	}
}

/* Trailer fields follow the header field-line rules, minus obs-fold. */
static int trailer_step(int state, unsigned char b)
{
	switch (state) {
	case CS_TRAILER0:
		if (b == '\r')
			return CS_END_LF;
		return is_tchar(b) ? CS_TRAILER_NAME : CS_ERROR;
	case CS_TRAILER_NAME:
		if (b == ':')
			return CS_TRAILER_VALUE;
		return is_tchar(b) ? CS_TRAILER_NAME : CS_ERROR;
	case CS_TRAILER_VALUE:
		if (b == '\r')
			return CS_TRAILER_LF;
		return is_field_char(b) ? CS_TRAILER_VALUE : CS_ERROR;
	default:
		return CS_ERROR;
	}
}

static bool is_trailer_state(int state)
{
	return state == CS_TRAILER0 || state == CS_TRAILER_NAME || state == CS_TRAILER_VALUE;
}

/* One byte outside chunk data; returns the next state. */
static int chunk_step(struct azds_chunked *c, unsigned char b, size_t max_line)
{
	switch (c->state) {
	case CS_SIZE_LF:
		return b == '\n' ? end_size_line(c) : CS_ERROR;
	case CS_DATA_CR:
		return b == '\r' ? CS_DATA_LF : CS_ERROR;
	case CS_DATA_LF:
		return b == '\n' ? start_size_line(c) : CS_ERROR;
	case CS_TRAILER_LF:
		return b == '\n' ? start_trailer_line(c) : CS_ERROR;
	case CS_END_LF:
		return b == '\n' ? CS_DONE : CS_ERROR;
	default:
		break;
	}
	if (++c->line_len > max_line)
		return CS_ERROR;
	if (is_trailer_state(c->state))
		return trailer_step(c->state, b);
	return size_line_step(c, b);
}

/* Passes up to avail bytes of chunk data without looking at them. */
static size_t take_data(struct azds_chunked *c, size_t avail)
{
	size_t n = c->remaining < avail ? (size_t)c->remaining : avail;

	c->remaining -= n;
	c->total += n;
	if (c->remaining == 0)
		c->state = CS_DATA_CR;
	return n;
}

static bool chunk_final(const struct azds_chunked *c)
{
	return c->state == CS_DONE || c->state == CS_ERROR || c->state == CS_TOO_LARGE;
}

/* data_len != NULL: stop after the first run of chunk data, its length there. */
static long chunked_run(struct azds_chunked *c, const char *buf, size_t len, bool *done,
			size_t max_line, size_t *data_len)
{
	size_t i = 0;

	if (done)
		*done = false;
	if (data_len)
		*data_len = 0;
	if (!buf)
		len = 0;
	if (len > LONG_MAX)
		len = LONG_MAX; /* the count is returned as a long */
	if (max_line == 0)
		max_line = DEFAULT_MAX_CHUNK_LINE;
	while (i < len && !chunk_final(c)) {
		if (c->state == CS_DATA) {
			size_t n = take_data(c, len - i);

			i += n;
			if (data_len) {
				*data_len = n;
				break;
			}
		} else {
			c->state = chunk_step(c, (unsigned char)buf[i++], max_line);
		}
	}
	if (c->state == CS_ERROR)
		return AZDS_CHUNKED_ERROR;
	if (c->state == CS_TOO_LARGE)
		return AZDS_CHUNKED_TOO_LARGE;
	if (done)
		*done = c->state == CS_DONE;
	return (long)i;
}

long azds_chunked_scan(struct azds_chunked *c, const char *buf, size_t len, bool *done,
		       size_t max_line)
{
	return chunked_run(c, buf, len, done, max_line, NULL);
}

long azds_chunked_decode(struct azds_chunked *c, const char *buf, size_t len, size_t *data_len,
			 bool *done, size_t max_line)
{
	size_t dummy;

	return chunked_run(c, buf, len, done, max_line, data_len ? data_len : &dummy);
}

/* ---------------------------------------------------------------------- */
/* W3C baggage and route-as                                                */

/*
 * list-member = key OWS "=" OWS value *( OWS ";" OWS property )
 * Keys are compared exactly (the W3C spec defines no case folding).
 * Malformed members are skipped rather than failing the whole lookup:
 * baggage is advisory and is forwarded unchanged anyway.
 * Returns the next member of it whose key is key[0..klen).
 */
static bool baggage_next(struct list_iter *it, const char *key, size_t klen, const char **val,
			 size_t *val_len)
{
	const char *m;
	size_t mlen;

	while (list_next(it, &m, &mlen)) {
		const char *semi = memchr(m, ';', mlen);
		const char *end = semi ? semi : m + mlen;
		const char *eq = memchr(m, '=', (size_t)(end - m));
		const char *ks = m, *ke, *vs, *ve;

		if (!eq)
			continue;
		ke = eq;
		trim_ows(&ks, &ke);
		if ((size_t)(ke - ks) != klen || memcmp(ks, key, klen) != 0)
			continue;
		vs = eq + 1;
		ve = end;
		trim_ows(&vs, &ve);
		*val = vs;
		*val_len = (size_t)(ve - vs);
		return true;
	}
	return false;
}

bool azds_baggage_get(const char *baggage, size_t len, const char *key, const char **val,
		      size_t *val_len)
{
	struct list_iter it;
	size_t klen;

	if (!baggage || !key || !val || !val_len)
		return false;
	klen = strlen(key);
	if (klen == 0)
		return false;
	list_init(&it, baggage, len);
	return baggage_next(&it, key, klen, val, val_len);
}

/*
 * Percent-decoding as the router applies it to baggage values: "%" and
 * two hex digits is one byte, any other "%" stays as it is.
 */
struct pct_reader {
	const char *s;
	size_t n, i;
	bool encoded;
};

/* The next decoded byte, or -1 at the end. */
static int pct_next(struct pct_reader *r)
{
	unsigned char c;

	if (r->i >= r->n)
		return -1;
	c = (unsigned char)r->s[r->i++];
	if (r->encoded && c == '%' && r->i + 1 < r->n) {
		int hi = hex_value((unsigned char)r->s[r->i]);
		int lo = hex_value((unsigned char)r->s[r->i + 1]);

		if (hi >= 0 && lo >= 0) {
			r->i += 2;
			return hi << 4 | lo;
		}
	}
	return c;
}

long azds_pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	struct pct_reader r = { s, s ? n : 0, 0, true };
	size_t o = 0;
	int c;

	if (!out || cap == 0)
		return -ENOSPC;
	while ((c = pct_next(&r)) >= 0) {
		if (o + 1 >= cap) {
			out[0] = '\0';
			return -ENOSPC;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

static bool route_as_eq(const struct azds_route_as_value *a, const struct azds_route_as_value *b)
{
	struct pct_reader ra = { a->val, a->len, 0, a->from_baggage };
	struct pct_reader rb = { b->val, b->len, 0, b->from_baggage };
	int ca, cb;

	do {
		ca = pct_next(&ra);
		cb = pct_next(&rb);
		if (ca != cb)
			return false;
	} while (ca >= 0);
	return true;
}

/*
 * Every value a request carries must agree: the header and each
 * azds-route-as member of each baggage line. One hop reading the header
 * and the next reading baggage (where OpenTelemetry keeps the last
 * member) must not route differently.
 */
int azds_http_route_as(const struct azds_http_msg *m, struct azds_route_as *ra)
{
	static const char key[] = "azds-route-as";
	struct azds_route_as_value v;
	size_t i, lines = 0;

	memset(ra, 0, sizeof(*ra));
	/* An empty header says nothing; hops that read it fall back to baggage too. */
	if (m->route_as && m->route_as_len) {
		ra->val = (struct azds_route_as_value){ m->route_as, m->route_as_len, false };
	}
	for (i = 0; i < m->num_headers && lines < m->baggage_count; i++) {
		const struct azds_http_header *h = &m->headers[i];
		struct list_iter it;

		if (!azds_http_token_eq(h->name, h->name_len, "baggage"))
			continue;
		lines++;
		list_init(&it, h->value, h->value_len);
		while (baggage_next(&it, key, sizeof(key) - 1, &v.val, &v.len)) {
			v.from_baggage = true;
			if (!ra->val.val)
				ra->val = v;
			else if (!route_as_eq(&ra->val, &v)) {
				ra->other = v;
				return -EINVAL;
			}
		}
	}
	return ra->val.val ? 0 : 1;
}
