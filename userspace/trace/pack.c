// SPDX-License-Identifier: MIT
/*
 * An emitted request packed small: what the controller keeps for its
 * readers until one asks for it. A hop as emitted is some 11.5 KB of fixed
 * arrays and its JSON text a few microseconds to write; most requests are
 * never shown (a reader's filter matches few of them, or nobody asks before
 * they leave the ring), so the text is written only for those a reader
 * takes (controller/tracer.c), from this form.
 *
 * Layout, native byte order, no alignment: the trace id (33 bytes), the
 * hop count (1 byte), then per hop its numbers (struct packed_nums) and its
 * strings, each a 2-byte length and its bytes (no NUL), in the order of
 * STRS below, then its request and response headers, each a count (1 byte)
 * and name/value strings. Nothing is longer than its field in struct
 * azds_trace_hop, so an unpacked hop is the emitted one, byte for byte.
 */
#include <stdlib.h>
#include <string.h>

#include "asm_int.h"

struct packed_nums {
	__u64 id, parent, start_ns, end_ns, server_start_ns, server_end_ns, req_bytes, resp_bytes;
	__s32 status, minor_version;
	__u8 truncated, req_truncated, resp_truncated;
};

#define STRS(X)                                                                                                        \
	X(caller) X(caller_pod) X(caller_space) X(service) X(pod) X(space) X(asked_space) X(reason) X(method)         \
	    X(target) X(route_as) X(traceparent)

static void wstr(struct tr_out *b, const char *s, size_t cap)
{
	__u16 n = (__u16)strnlen(s, cap - 1);

	tr_put(b, &n, sizeof(n));
	tr_put(b, s, n);
}

static void wmsg(struct tr_out *b, const struct azds_trace_msg *m)
{
	__u8 n = (__u8)(m->nheaders < AZDS_TRACE_HEADERS_MAX ? m->nheaders : AZDS_TRACE_HEADERS_MAX);

	tr_put(b, &n, 1);
	for (unsigned i = 0; i < n; i++) {
		wstr(b, m->headers[i].name, sizeof(m->headers[i].name));
		wstr(b, m->headers[i].value, sizeof(m->headers[i].value));
	}
}

size_t azds_trace_req_pack(const struct azds_trace_req *req, char **out)
{
	size_t cap = 0, n;

	*out = NULL;
	n = azds_trace_req_pack_buf(req, out, &cap);
	if (!n) {
		free(*out);
		*out = NULL;
	}
	return n;
}

/* kept headers as wmsg writes a table of them (keep_headers bounds each as the table does) */
static void wkept(struct tr_out *b, const struct kept_msg *k)
{
	__u8 n = (__u8)(k->blob ? (k->nh < AZDS_TRACE_HEADERS_MAX ? k->nh : AZDS_TRACE_HEADERS_MAX) : 0);
	const char *p = k->blob;

	tr_put(b, &n, 1);
	for (unsigned i = 0; i < 2u * n; i++) {
		size_t cap = i % 2 ? AZDS_TRACE_VALUE_MAX : AZDS_TRACE_NAME_MAX;
		size_t len = strlen(p);
		__u16 l = (__u16)(len < cap - 1 ? len : cap - 1);

		tr_put(b, &l, sizeof(l));
		tr_put(b, p, l);
		p += len + 1;
	}
}

void azds_tr_pack(const struct azds_trace_req *req, const struct kept_msg *const (*src)[2], struct tr_out *b,
		  bool *hole)
{
	__u8 nh = (__u8)(req->nhops < AZDS_TRACE_HOPS_MAX ? req->nhops : AZDS_TRACE_HOPS_MAX);

	*hole = false;
	tr_put(b, req->trace_id, sizeof(req->trace_id));
	tr_put(b, &nh, 1);
	for (unsigned i = 0; i < nh; i++) {
		const struct azds_trace_hop *h = req->hops[i];
		struct packed_nums pn;

		if (!h) {
			*hole = true; /* a request with a hole is not kept (azds_trace_req_text refuses it too) */
			return;
		}
		memset(&pn, 0, sizeof(pn));
		pn.id = h->id;
		pn.parent = h->parent;
		pn.start_ns = h->start_ns;
		pn.end_ns = h->end_ns;
		pn.server_start_ns = h->server_start_ns;
		pn.server_end_ns = h->server_end_ns;
		pn.req_bytes = h->req_bytes;
		pn.resp_bytes = h->resp_bytes;
		pn.status = h->status;
		pn.minor_version = h->minor_version;
		pn.truncated = h->truncated;
		pn.req_truncated = h->req.truncated;
		pn.resp_truncated = h->resp.truncated;
		tr_put(b, &pn, sizeof(pn));
		wstr(b, h->trace_id, sizeof(h->trace_id));
#define WSTR(f) wstr(b, h->f, sizeof(h->f));
		STRS(WSTR)
#undef WSTR
		if (src) {
			wkept(b, src[i][0]);
			wkept(b, src[i][1]);
		} else {
			wmsg(b, &h->req);
			wmsg(b, &h->resp);
		}
	}
}

size_t azds_trace_req_pack_buf(const struct azds_trace_req *req, char **buf, size_t *cap)
{
	struct tr_out b = {.p = *buf, .cap = *buf ? *cap : 0};
	bool hole;

	if (!req)
		return 0;
	azds_tr_pack(req, NULL, &b, &hole);
	*buf = b.p;
	*cap = b.cap;
	return b.oom || hole ? 0 : b.len;
}

struct rbuf {
	const char *p;
	size_t n, at;
	bool bad;
};

static void r(struct rbuf *b, void *d, size_t n)
{
	if (b->bad || b->n - b->at < n) {
		b->bad = true;
		memset(d, 0, n);
		return;
	}
	memcpy(d, b->p + b->at, n);
	b->at += n;
}

static void rstr(struct rbuf *b, char *d, size_t cap)
{
	__u16 n = 0;

	r(b, &n, sizeof(n));
	if (b->bad || n >= cap || b->n - b->at < n) {
		b->bad = true;
		d[0] = 0;
		return;
	}
	memcpy(d, b->p + b->at, n);
	d[n] = 0;
	b->at += n;
}

static void rmsg(struct rbuf *b, struct azds_trace_msg *m)
{
	__u8 n = 0;

	r(b, &n, 1);
	if (n > AZDS_TRACE_HEADERS_MAX)
		b->bad = true;
	m->nheaders = 0;
	for (unsigned i = 0; i < n && !b->bad; i++) {
		rstr(b, m->headers[i].name, sizeof(m->headers[i].name));
		rstr(b, m->headers[i].value, sizeof(m->headers[i].value));
		m->nheaders++;
	}
}

bool azds_trace_req_unpack(const char *p, size_t n, struct azds_trace_hop *hops, struct azds_trace_req *req)
{
	struct rbuf b = {.p = p, .n = n};
	__u8 nh = 0;

	memset(req, 0, sizeof(*req));
	r(&b, req->trace_id, sizeof(req->trace_id));
	req->trace_id[sizeof(req->trace_id) - 1] = 0;
	r(&b, &nh, 1);
	if (nh > AZDS_TRACE_HOPS_MAX)
		return false;
	for (unsigned i = 0; i < nh && !b.bad; i++) {
		struct azds_trace_hop *h = &hops[i];
		struct packed_nums pn;

		memset(h, 0, offsetof(struct azds_trace_hop, req));
		r(&b, &pn, sizeof(pn));
		h->id = pn.id;
		h->parent = pn.parent;
		h->start_ns = pn.start_ns;
		h->end_ns = pn.end_ns;
		h->server_start_ns = pn.server_start_ns;
		h->server_end_ns = pn.server_end_ns;
		h->req_bytes = pn.req_bytes;
		h->resp_bytes = pn.resp_bytes;
		h->status = pn.status;
		h->minor_version = pn.minor_version;
		h->truncated = pn.truncated;
		h->req.truncated = pn.req_truncated;
		h->resp.truncated = pn.resp_truncated;
		rstr(&b, h->trace_id, sizeof(h->trace_id));
#define RSTR(f) rstr(&b, h->f, sizeof(h->f));
		STRS(RSTR)
#undef RSTR
		rmsg(&b, &h->req);
		rmsg(&b, &h->resp);
		req->hops[i] = h;
		req->nhops = i + 1;
	}
	return !b.bad && b.at == b.n;
}
