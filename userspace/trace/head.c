// SPDX-License-Identifier: MIT
/*
 * Heads from captured bytes: what starts like a head, parsing one (whole,
 * or cut by the capture), what of it is kept, and the redacted copy of a
 * head that continues in the next call.
 */
#include <stdlib.h>
#include <string.h>

#include "asm_int.h"

#define HEAD_HEADERS 128 /* parsed per head; the first AZDS_TRACE_HEADERS_MAX are kept */
#define REDACTED     "[redacted]"

static const char *const credentials[] = {"authorization", "proxy-authorization", "cookie", "set-cookie"};

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

bool azds_tr_is_credential(const char *name, size_t n)
{
	/* by length first: this runs for every header of every head */
	switch (n) {
	case 6:
		return strncasecmp(name, "cookie", 6) == 0;
	case 10:
		return strncasecmp(name, "set-cookie", 10) == 0;
	case 13:
		return strncasecmp(name, "authorization", 13) == 0;
	case 19:
		return strncasecmp(name, "proxy-authorization", 19) == 0;
	default:
		return false;
	}
}

/* a prefix (any case) of a credential's name: the rest may follow in the next call */
static bool is_credential_prefix(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(credentials) / sizeof(credentials[0]); i++)
		if (n <= strlen(credentials[i]) && strncasecmp(name, credentials[i], n) == 0)
			return true;
	return false;
}

static bool version_at(const char *p, size_t n, size_t i, bool cut)
{
	static const char v[] = "HTTP/1.";

	for (size_t k = 0; k < 8; k++, i++) {
		if (i >= n)
			return cut;
		if (k < 7 ? p[i] != v[k] : (p[i] < '0' || p[i] > '9'))
			return false;
	}
	return true;
}

/*
 * A request line (method SP target SP HTTP/1.x) or a status line
 * (HTTP/1.x SP 3DIGIT) at p. cut: the bytes end where the capture did, so
 * a line that runs to the end of them still counts.
 */
bool azds_tr_looks_like_head(const char *p, size_t n, bool cut)
{
	size_t i = 0;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		if (!version_at(p, n, 0, cut))
			return false;
		for (i = 8; i < 12; i++) {
			if (i >= n)
				return cut;
			if (i == 8 ? p[i] != ' ' : (p[i] < '0' || p[i] > '9'))
				return false;
		}
		return true;
	}
	while (i < n && i < 32 && is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return false;
	size_t t = ++i;
	while (i < n && (unsigned char)p[i] > ' ' && p[i] != 0x7f)
		i++;
	if (i == t)
		return false;
	if (i >= n)
		return cut;
	if (p[i] != ' ')
		return false;
	return version_at(p, n, i + 1, cut);
}

static void copy_cut(char *dst, size_t cap, const char *s, size_t n, bool *cut)
{
	if (n >= cap) {
		n = cap - 1;
		if (cut)
			*cut = true;
	}
	memcpy(dst, s, n);
	dst[n] = 0;
}

_Static_assert(AZDS_TRACE_NAME_MAX <= 256 && AZDS_TRACE_VALUE_MAX <= 256, "kept lengths are bytes (keep_headers)");

/* the kept headers: "name\0value\0" pairs, credentials as REDACTED */
static int keep_headers(struct azds_trace_asm *a, const struct azds_http_msg *m, struct kept_msg *k)
{
	size_t bytes = 0, n = m->num_headers < AZDS_TRACE_HEADERS_MAX ? m->num_headers : AZDS_TRACE_HEADERS_MAX;
	__u8 nl[AZDS_TRACE_HEADERS_MAX], vl[AZDS_TRACE_HEADERS_MAX];
	bool cred[AZDS_TRACE_HEADERS_MAX];
	char *p;

	for (size_t i = 0; i < n; i++) {
		const struct azds_http_header *h = &m->headers[i];

		cred[i] = azds_tr_is_credential(h->name, h->name_len);
		nl[i] = (__u8)(h->name_len < AZDS_TRACE_NAME_MAX ? h->name_len : AZDS_TRACE_NAME_MAX - 1);
		vl[i] = (__u8)(cred[i] ? sizeof(REDACTED) - 1
				       : h->value_len < AZDS_TRACE_VALUE_MAX ? h->value_len : AZDS_TRACE_VALUE_MAX - 1);
		bytes += (size_t)nl[i] + vl[i] + 2;
	}
	k->nh = 0;
	k->blob = NULL;
	k->pooled = false;
	if (!n)
		return 0;
	if (bytes <= KEPT_BLOCK && a->kept_spare) {
		struct kept_blk *b = a->kept_spare;

		a->kept_spare = b->next;
		a->nkept_spare--;
		k->blob = p = (char *)b;
		k->pooled = true;
	} else {
		k->blob = p = malloc(bytes <= KEPT_BLOCK ? KEPT_BLOCK : bytes);
		if (!p)
			return -ENOMEM;
		k->pooled = bytes <= KEPT_BLOCK;
	}
	/* names and values hold no NUL: the parser refuses one in either */
	for (size_t i = 0; i < n; i++) {
		const struct azds_http_header *h = &m->headers[i];

		memcpy(p, h->name, nl[i]);
		p += nl[i];
		*p++ = 0;
		memcpy(p, cred[i] ? REDACTED : h->value, vl[i]);
		p += vl[i];
		*p++ = 0;
	}
	k->nh = (unsigned)n;
	return 0;
}

void azds_tr_kept_free(struct azds_trace_asm *a, struct kept_msg *k)
{
	if (k->blob && k->pooled && TR_REUSE && a->nkept_spare < KEPT_SPARE_MAX) {
		struct kept_blk *b = (struct kept_blk *)(void *)k->blob;

		b->next = a->kept_spare;
		a->kept_spare = b;
		a->nkept_spare++;
	} else {
		free(k->blob);
	}
	k->blob = NULL;
	k->pooled = false;
	k->nh = 0;
}

void azds_tr_kept_fini(struct azds_trace_asm *a)
{
	while (a->kept_spare) {
		struct kept_blk *b = a->kept_spare;

		a->kept_spare = b->next;
		free(b);
	}
	a->nkept_spare = 0;
}

static void take_fields(const struct azds_http_msg *m, bool is_request, struct head_info *hi)
{
	struct azds_route_as ra;

	hi->is_request = is_request;
	hi->minor_version = m->minor_version;
	if (is_request) {
		copy_cut(hi->method, sizeof(hi->method), m->method, m->method_len, NULL);
		copy_cut(hi->target, sizeof(hi->target), m->target, m->target_len, &hi->target_cut);
	} else {
		hi->status = m->status_code;
	}
	hi->body = m->body;
	hi->have_cl = m->body == AZDS_BODY_LENGTH || m->content_length;
	hi->content_length = m->content_length;
	hi->is_head = m->is_head;
	hi->is_connect = m->is_connect;
	hi->upgrade = m->upgrade;
	if (is_request && azds_http_route_as(m, &ra) == 0) {
		if (ra.val.from_baggage) {
			char dec[AZDS_TRACE_NAME_MAX];

			if (azds_pct_decode(ra.val.val, ra.val.len, dec, sizeof(dec)) >= 0)
				copy_cut(hi->route_as, sizeof(hi->route_as), dec, strlen(dec), NULL);
		} else {
			copy_cut(hi->route_as, sizeof(hi->route_as), ra.val.val, ra.val.len, NULL);
		}
	}
	for (size_t i = 0; i < m->num_headers; i++)
		if (azds_http_token_eq(m->headers[i].name, m->headers[i].name_len, "traceparent")) {
			copy_cut(hi->traceparent, sizeof(hi->traceparent), m->headers[i].value, m->headers[i].value_len,
				 NULL);
			break;
		}
}

static int parse_buf(struct azds_trace_asm *a, const char *buf, size_t n, bool is_request, bool req_is_head,
		     bool req_is_connect, struct head_info *hi)
{
	struct azds_http_header hdrs[HEAD_HEADERS];
	struct azds_http_msg m = {.headers = hdrs, .headers_cap = HEAD_HEADERS};
	const struct azds_http_limits lim = {.max_head_bytes = PART_MAX + 2, .max_headers = HEAD_HEADERS};
	int r;

	if (is_request)
		r = azds_http_parse_request(buf, n, &m, &lim);
	else
		r = azds_http_parse_response(buf, n, &m, &lim, req_is_head, req_is_connect);
	if (r <= 0)
		return r == AZDS_HTTP_INCOMPLETE ? 0 : -EBADMSG;
	take_fields(&m, is_request, hi);
	if (keep_headers(a, &m, &hi->kept) < 0)
		return -ENOMEM;
	hi->head_len = (size_t)r;
	return r;
}

/* A start line cut before its end: what it names, no headers. */
static int parse_start_line_only(const char *buf, size_t n, bool is_request, struct head_info *hi)
{
	const char *sp;

	hi->is_request = is_request;
	hi->minor_version = n > 7 && buf[7] == '0' ? 0 : 1;
	hi->body = AZDS_BODY_UNTIL_CLOSE;
	if (!is_request) {
		if (n < 12)
			return -EBADMSG;
		hi->minor_version = buf[7] - '0';
		hi->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
		return 1;
	}
	sp = memchr(buf, ' ', n);
	if (!sp)
		return -EBADMSG;
	copy_cut(hi->method, sizeof(hi->method), buf, (size_t)(sp - buf), NULL);
	sp++;
	const char *e = memchr(sp, ' ', n - (size_t)(sp - buf));
	size_t tl = e ? (size_t)(e - sp) : n - (size_t)(sp - buf);

	copy_cut(hi->target, sizeof(hi->target), sp, tl, &hi->target_cut);
	if (!e)
		hi->target_cut = true;
	return 1;
}

/* A request line alone, for a head the parser refused (a request the router refused): method and target. */
int azds_tr_parse_request_line(const char *buf, size_t n, struct head_info *hi)
{
	const char *eol = memchr(buf, '\n', n);

	memset(hi, 0, sizeof(*hi));
	if (!n || !((buf[0] >= 'A' && buf[0] <= 'Z') || (buf[0] >= 'a' && buf[0] <= 'z')))
		return -EBADMSG;
	if (eol)
		n = (size_t)(eol - buf) - (eol > buf && eol[-1] == '\r');
	if (parse_start_line_only(buf, n, true, hi) < 0)
		return -EBADMSG;
	hi->kept.truncated = true;
	return 1;
}

/*
 * Parse the head at buf[0..avail). cut: the call went on past these bytes
 * (the capture stopped, or what was held is all there will be), so an
 * incomplete head is parsed up to its last whole line and marked
 * truncated. Returns the head's length (> 0; 1 for a cut head, whose
 * length is not known), 0 when the head goes on in the next call, or
 * -EBADMSG / -ENOMEM. hi is zeroed first.
 */
int azds_tr_parse_head(struct azds_trace_asm *a, const char *buf, size_t avail, bool cut, bool want_response,
		       bool req_is_head, bool req_is_connect, struct head_info *hi)
{
	char tmp[PART_MAX + 2];
	bool is_request = !(avail >= 5 && memcmp(buf, "HTTP/", 5) == 0);
	size_t k;
	int r;

	(void)want_response;
	memset(hi, 0, sizeof(*hi));
	r = parse_buf(a, buf, avail, is_request, req_is_head, req_is_connect, hi);
	if (r != 0 || !cut)
		return r;
	/* cut by the capture: keep the whole lines, end the head after them */
	for (k = avail; k >= 2; k--)
		if (buf[k - 2] == '\r' && buf[k - 1] == '\n')
			break;
	if (k < 2 || k > PART_MAX) {
		r = parse_start_line_only(buf, avail, is_request, hi);
	} else {
		memcpy(tmp, buf, k);
		tmp[k] = '\r';
		tmp[k + 1] = '\n';
		r = parse_buf(a, tmp, k + 2, is_request, req_is_head, req_is_connect, hi);
		/* the copy may hold a credential's value: it does not outlive the parse */
		explicit_bzero(tmp, k + 2);
		if (r == 0 || r == -EBADMSG) {
			memset(hi, 0, sizeof(*hi));
			r = parse_start_line_only(buf, avail, is_request, hi);
		}
	}
	if (r < 0)
		return r;
	hi->kept.truncated = true;
	hi->head_len = 0;
	/* where the body starts is not known */
	hi->body = AZDS_BODY_UNTIL_CLOSE;
	return 1;
}

static bool part_put(struct dirst *ds, const char *p, size_t n)
{
	if (ds->part_len + n > PART_MAX)
		return false;
	memcpy(ds->part + ds->part_len, p, n);
	ds->part_len += n;
	return true;
}

/* the start of the line being held (after its last CRLF) */
static size_t held_line_start(const struct dirst *ds)
{
	size_t i = ds->part_len;

	while (i >= 2 && !(ds->part[i - 2] == '\r' && ds->part[i - 1] == '\n'))
		i--;
	return i < 2 ? 0 : i;
}

/* one line of a head, complete (eol) or the last one held */
static bool put_line(struct dirst *ds, const char *p, size_t n, bool eol)
{
	const char *colon = memchr(p, ':', n);
	size_t nl = colon ? (size_t)(colon - p) : n;

	if (colon && azds_tr_is_credential(p, nl)) {
		if (!part_put(ds, p, nl) || !part_put(ds, ": " REDACTED, sizeof(REDACTED) + 1))
			return false;
		if (!eol)
			ds->part_skip = true;
		return eol ? part_put(ds, "\r\n", 2) : true;
	}
	if (!colon && !eol && n && is_credential_prefix(p, n))
		ds->part_name = true;
	return part_put(ds, p, n) && (!eol || part_put(ds, "\r\n", 2));
}

/*
 * Append p[0..n), the bytes of a head, to ds's held copy with every
 * credential's value replaced: the raw bytes are never kept. A value or
 * name cut between two calls is handled with part_skip / part_name.
 * Returns the bytes of p consumed (n), or 0 when the copy would pass
 * PART_MAX.
 */
size_t azds_tr_redact_into(struct dirst *ds, const char *p, size_t n)
{
	size_t i = 0;

	if (!ds->part && !(ds->part = calloc(1, PART_MAX)))
		return 0;
	if (ds->part_name) {
		size_t ls = held_line_start(ds), j = 0;
		char name[AZDS_TRACE_NAME_MAX * 2];
		size_t hl = ds->part_len - ls;

		ds->part_name = false;
		while (j < n && p[j] != ':' && p[j] != '\r' && p[j] != '\n')
			j++;
		if (j < n && p[j] == ':' && hl + j < sizeof(name)) {
			memcpy(name, ds->part + ls, hl);
			memcpy(name + hl, p, j);
			if (azds_tr_is_credential(name, hl + j)) {
				if (!part_put(ds, p, j) || !part_put(ds, ": " REDACTED, sizeof(REDACTED) + 1))
					return 0;
				ds->part_skip = true;
				i = j;
			}
		}
	}
	if (ds->part_skip) {
		while (i + 1 < n && !(p[i] == '\r' && p[i + 1] == '\n'))
			i++;
		if (i + 1 >= n)
			return n; /* all of it is the value */
		ds->part_skip = false;
		if (!part_put(ds, "\r\n", 2))
			return 0;
		i += 2;
	}
	while (i < n) {
		const char *s = p + i, *e = memmem(s, n - i, "\r\n", 2);
		size_t ll = e ? (size_t)(e - s) : n - i;

		/* a line that began in the held copy continues here: judge it whole */
		if (i == 0 && held_line_start(ds) != ds->part_len) {
			if (!part_put(ds, s, ll) || (e && !part_put(ds, "\r\n", 2)))
				return 0;
		} else if (!put_line(ds, s, ll, e != NULL)) {
			return 0;
		}
		i += ll + (e ? 2 : 0);
	}
	return n;
}
