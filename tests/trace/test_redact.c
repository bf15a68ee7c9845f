// SPDX-License-Identifier: MIT
/*
 * Credentials never leave a record: Authorization, Proxy-Authorization,
 * Cookie and Set-Cookie values (any case) are "[redacted]" in the
 * emitted hops, and no byte of them is in the JSON, the emitted structs
 * or anything the assembler holds (heads held across calls, hops
 * waiting for their responses), also when a head is split between two
 * calls inside a credential's name or value, or cut by the capture.
 */
#include "tt.h"
#include "asm_int.h"

static const char *const secrets[] = {
    "S3cr3tAuth", "Pr0xyS3cret", "C00kieS3cret", "SetC00kieS3cret", "S3cretTail",
    "NameS3cret", "CutS3cret",	 "MidCut",	 "Bearer",	    NULL,
};

static size_t blob_len(const struct kept_msg *k)
{
	const char *p = k->blob;

	for (unsigned i = 0; p && i < 2 * k->nh; i++)
		p += strlen(p) + 1;
	return p ? (size_t)(p - k->blob) : 0;
}

static size_t hits(const void *p, size_t n)
{
	size_t h = 0;

	for (const char *const *s = secrets; p && *s; s++)
		if (tt_mem_has(p, n, *s))
			h++;
	return h;
}

static size_t xh_hits(const struct xh *h)
{
	size_t n = hits(h, sizeof(*h));

	n += h->target ? hits(h->target, strlen(h->target)) : 0;
	n += hits(h->req.blob, blob_len(&h->req)) + hits(h->resp.blob, blob_len(&h->resp));
	if (h->peer)
		n += xh_hits(h->peer);
	for (const struct xh *c = h->child; c; c = c->sibling)
		n += xh_hits(c);
	return n;
}

/* everything the assembler holds: connections' held heads, and every hop on its lists */
static size_t asm_hits(struct azds_trace_asm *a)
{
	struct tlist *lists[] = {&a->open, &a->done, &a->ready, &a->ghosts};
	size_t n = 0;

	for (struct tlist *l = a->lru.next; l != &a->lru; l = l->next) {
		const struct conn *c = tlist_entry(l, struct conn, lru);

		n += hits(c, sizeof(*c));
		for (int d = 0; d < 2; d++)
			n += hits(c->d[d].part, c->d[d].part ? PART_MAX : 0);
	}
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		for (struct tlist *l = lists[i]->next; l != lists[i]; l = l->next)
			n += xh_hits(tlist_entry(l, struct xh, link));
	return n;
}

static size_t count_redacted(json_t *hop, const char *which)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	json_object_foreach(json_object_get(hop, which), k, v) if (strcmp(json_string_value(v), "[redacted]") == 0) n++;
	return n;
}

int main(void)
{
	struct tt_got g = {.keep_json = true, .secrets = secrets};
	struct azds_trace_asm *a = tt_asm_new(NULL, &g);
	struct tc s;
	char pad[600], req[2048];
	json_t *h;

	if (!a)
		return 1;
	tc_init(&s, a, API, 8080, IP(192, 168, 7, 7), 33333);
	tc_open(&s, false, MS(0));

	/* whole heads, every credential in several cases */
	tc_ios(&s, AZDS_TR_RECV, MS(0.1),
	       "GET /who HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer S3cr3tAuth\r\n"
	       "PROXY-AUTHORIZATION: Basic Pr0xyS3cret\r\ncookie: sid=C00kieS3cret\r\nX-Ok: visible\r\n\r\n");
	CHECK_INT(asm_hits(a), 0); /* the hop waiting for its response */
	tc_ios(&s, AZDS_TR_SEND, MS(0.5),
	       "HTTP/1.1 200 OK\r\nSet-Cookie: a=SetC00kieS3cret\r\nset-cookie: b=SetC00kieS3cret\r\n"
	       "Content-Length: 0\r\n\r\n");
	azds_trace_asm_tick(a, MS(1));
	CHECK_INT(g.n, 1);
	h = tt_hop(&g, 0, 0);
	CHECK_STR(tt_h(h, "request_headers", "Authorization"), "[redacted]");
	CHECK_STR(tt_h(h, "request_headers", "PROXY-AUTHORIZATION"), "[redacted]");
	CHECK_STR(tt_h(h, "request_headers", "cookie"), "[redacted]");
	CHECK_STR(tt_h(h, "request_headers", "X-Ok"), "visible");
	CHECK_STR(tt_h(h, "response_headers", "Set-Cookie"), "[redacted]");
	CHECK_STR(tt_h(h, "response_headers", "set-cookie"), "[redacted]");

	/* a head split inside an Authorization value */
	tc_ios(&s, AZDS_TR_RECV, MS(2), "GET /split HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer S3cr");
	CHECK_INT(asm_hits(a), 0); /* the held part of the head */
	tc_ios(&s, AZDS_TR_RECV, MS(2.1), "S3cretTail\r\nX-After: 1\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(2.5), "HTTP/1.1 204 No Content\r\n\r\n");
	azds_trace_asm_tick(a, MS(3));
	CHECK_INT(g.n, 2);
	h = tt_hop(&g, 1, 0);
	CHECK_STR(tt_s(h, "target"), "/split");
	CHECK_STR(tt_h(h, "request_headers", "Authorization"), "[redacted]");
	CHECK_STR(tt_h(h, "request_headers", "X-After"), "1");

	/* ... inside a credential's name */
	tc_ios(&s, AZDS_TR_RECV, MS(4), "GET /name HTTP/1.1\r\nHost: api\r\nCook");
	tc_ios(&s, AZDS_TR_RECV, MS(4.1), "Ie: n=NameS3cret\r\nX-After: 2\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(4.5), "HTTP/1.1 204 No Content\r\n\r\n");
	azds_trace_asm_tick(a, MS(5));
	CHECK_INT(g.n, 3);
	h = tt_hop(&g, 2, 0);
	CHECK_STR(tt_h(h, "request_headers", "CookIe"), "[redacted]");
	CHECK_STR(tt_h(h, "request_headers", "X-After"), "2");

	/* ... right after a credential's name */
	tc_ios(&s, AZDS_TR_RECV, MS(6), "GET /colon HTTP/1.1\r\nHost: api\r\nProxy-Authorization");
	tc_ios(&s, AZDS_TR_RECV, MS(6.1), ": Basic Pr0xyS3cret\r\nX-After: 3\r\n\r\n");
	tc_ios(&s, AZDS_TR_SEND, MS(6.5), "HTTP/1.1 204 No Content\r\n\r\n");
	azds_trace_asm_tick(a, MS(7));
	/* that continuation starts with ':', which the kernel does not capture: the head is cut */
	CHECK_INT(g.n, 4);
	h = tt_hop(&g, 3, 0);
	CHECK_STR(tt_s(h, "target"), "/colon");
	CHECK(json_is_true(json_object_get(h, "truncated")));

	/* a head cut by the capture, the credential before the cut */
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = 0;
	snprintf(req, sizeof(req),
		 "GET /cut HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer CutS3cret\r\nX-Pad: %s\r\n\r\n", pad);
	tc_ios(&s, AZDS_TR_RECV, MS(8), req);
	CHECK_INT(asm_hits(a), 0);
	tc_ios(&s, AZDS_TR_SEND, MS(8.5), "HTTP/1.1 204 No Content\r\n\r\n");
	/* ... and the cut inside the credential's value */
	pad[AZDS_TRACE_CAP - 60] = 0;
	snprintf(req, sizeof(req), "GET /midcut HTTP/1.1\r\nX-Pad: %s\r\nAuthorization: Bearer MidCut%s\r\n\r\n", pad,
		 pad);
	tc_ios(&s, AZDS_TR_RECV, MS(9), req);
	CHECK_INT(asm_hits(a), 0);
	tc_ios(&s, AZDS_TR_SEND, MS(9.5), "HTTP/1.1 204 No Content\r\n\r\n");
	azds_trace_asm_tick(a, MS(10));
	CHECK_INT(g.n, 6);
	h = tt_hop(&g, 4, 0);
	CHECK_STR(tt_s(h, "target"), "/cut");
	CHECK(json_is_true(json_object_get(h, "truncated")));
	CHECK_STR(tt_h(h, "request_headers", "Authorization"), "[redacted]");
	h = tt_hop(&g, 5, 0);
	CHECK_STR(tt_s(h, "target"), "/midcut");
	CHECK(json_is_true(json_object_get(h, "truncated")));
	CHECK(!json_object_get(json_object_get(h, "request_headers"), "Authorization"));

	size_t red = 0;
	for (size_t i = 0; i < g.n; i++)
		red += count_redacted(tt_hop(&g, i, 0), "request_headers") +
		       count_redacted(tt_hop(&g, i, 0), "response_headers");
	CHECK_INT(red, 8);
	CHECK_INT(asm_hits(a), 0); /* what it still holds: ghosts of the emitted hops */
	CHECK_INT(g.secret_hits, 0);
	azds_trace_asm_flush(a);
	azds_trace_asm_free(a);
	tt_got_clear(&g);

	/* the control: the same search finds a value that is not a credential's */
	a = azds_trace_asm_new(&tt_model, NULL, NULL, NULL);
	tc_init(&s, a, API, 8080, IP(192, 168, 7, 7), 33333);
	tc_ios(&s, AZDS_TR_RECV, MS(0.1), "GET /x HTTP/1.1\r\nX-Token: S3cr3tAuth\r\n\r\n");
	CHECK_INT(asm_hits(a), 1);
	tc_ios(&s, AZDS_TR_RECV, MS(0.2), "GET /y HTTP/1.1\r\nX-Token: NameS3cret");
	CHECK_INT(asm_hits(a), 2); /* the held head */
	azds_trace_asm_free(a);
	return tt_done("trace_redact");
}
