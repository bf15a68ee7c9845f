// SPDX-License-Identifier: MIT
/*
 * Capture records in: connections by socket cookie (least recently used
 * goes at the limit), and per direction where the next message starts.
 * Every length is checked against the record's real size first.
 */
#include <stdlib.h>
#include <string.h>

#include "asm_int.h"

/* ---- connections ---- */

static struct conn **cookie_slot(struct azds_trace_asm *a, __u64 cookie)
{
	struct conn **pp = &a->cookie_b[hash64(cookie, a->nbuckets)];

	while (*pp && (*pp)->cookie != cookie)
		pp = &(*pp)->cookie_next;
	return pp;
}

static void pq_free(struct pq *q)
{
	free(q->s);
	memset(q, 0, sizeof(*q));
}

static void dirst_reset(struct dirst *ds, bool known)
{
	if (ds->part)
		explicit_bzero(ds->part, PART_MAX);
	free(ds->part);
	memset(ds, 0, sizeof(*ds));
	ds->known = known;
}

/* A hop's connection is going: it can no longer be answered. */
void azds_tr_conn_gone(struct azds_trace_asm *a, struct xh *h)
{
	h->conn = NULL;
	if (h->state == XS_OPEN) {
		h->end_ns = h->start_ns > a->now ? h->start_ns : a->now;
		a->st.unanswered++;
		azds_tr_xh_done(a, h);
	}
}

static void pq_end_all(struct azds_trace_asm *a, struct pq *q)
{
	for (size_t i = 0; i < q->n; i++) {
		struct xh *h = q->s[(q->head + i) % q->cap].h;

		if (h)
			azds_tr_conn_gone(a, h);
	}
	pq_free(q);
}

static void finish_part(struct azds_trace_asm *a, struct conn *c, int dir);

void azds_tr_conn_free(struct azds_trace_asm *a, struct conn *c, bool evicted)
{
	struct conn **pp = cookie_slot(a, c->cookie);

	for (int d = 0; d < 2; d++)
		finish_part(a, c, d);
	pq_end_all(a, &c->serve);
	pq_end_all(a, &c->call);
	for (int d = 0; d < 2; d++)
		dirst_reset(&c->d[d], false);
	if (*pp == c)
		*pp = c->cookie_next;
	tlist_del(&c->lru);
	a->nconns--;
	if (evicted)
		a->st.evicted++;
	free(c);
}

static struct conn *conn_get(struct azds_trace_asm *a, const struct azds_trace_rec *r, bool create, bool known)
{
	struct conn **pp = cookie_slot(a, r->cookie), *c = *pp;

	if (c) {
		tlist_del(&c->lru);
		tlist_add_tail(&a->lru, &c->lru);
		return c;
	}
	if (!create)
		return NULL;
	if (a->nconns >= a->lim.max_conns) {
		/* the least recently used goes */
		azds_tr_conn_free(a, tlist_entry(a->lru.next, struct conn, lru), true);
		pp = cookie_slot(a, r->cookie);
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		a->st.evicted++;
		return NULL;
	}
	c->cookie = r->cookie;
	c->laddr = r->laddr;
	c->raddr = r->raddr;
	c->lport = r->lport;
	c->rport = r->rport;
	c->space = r->space;
	c->d[0].known = c->d[1].known = known;
	c->cookie_next = *pp;
	*pp = c;
	tlist_add_tail(&a->lru, &c->lru);
	a->nconns++;
	return c;
}

/* ---- pending requests ---- */

static bool pq_push(struct azds_trace_asm *a, struct pq *q, struct xh *h, const struct head_info *hi)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 4;
		struct pq_slot *s;

		if (cap > a->lim.max_pending)
			cap = a->lim.max_pending;
		if (q->n >= cap)
			return false;
		s = malloc(cap * sizeof(*s));
		if (!s)
			return false;
		for (size_t i = 0; i < q->n; i++)
			s[i] = q->s[(q->head + i) % q->cap];
		free(q->s);
		q->s = s;
		q->cap = cap;
		q->head = 0;
	}
	q->s[(q->head + q->n) % q->cap] = (struct pq_slot){h, hi->is_head, hi->is_connect};
	q->n++;
	return true;
}

static struct pq_slot *pq_front(struct pq *q)
{
	return q->n ? &q->s[q->head] : NULL;
}

static void pq_pop(struct pq *q)
{
	q->head = (q->head + 1) % q->cap;
	q->n--;
}

/* a request given up (timed out): its slot stays, so later responses still pair in order */
void azds_tr_pq_forget(struct conn *c, struct xh *h)
{
	struct pq *q = h->side == XH_SERVER ? &c->serve : &c->call;

	for (size_t i = 0; i < q->n; i++)
		if (q->s[(q->head + i) % q->cap].h == h)
			q->s[(q->head + i) % q->cap].h = NULL;
}

/* ---- messages ---- */

static void on_request(struct azds_trace_asm *a, struct conn *c, int dir, __u64 ts, struct head_info *hi)
{
	int side = dir == AZDS_TR_RECV ? XH_SERVER : XH_CLIENT;
	struct pq *q = side == XH_SERVER ? &c->serve : &c->call;
	struct xh *h = NULL;

	/* behind untracked ones it stays untracked: responses come in request order */
	if (q->skip || q->n >= a->lim.max_pending)
		goto untracked;
	if (a->nhops < a->lim.max_hops)
		h = azds_tr_xh_new(a, c, side, ts, hi);
	else
		a->st.evicted++; /* its slot stays, empty, for its response */
	if (h)
		hi->kept.blob = NULL; /* the hop has it */
	if (!pq_push(a, q, h, hi)) {
		if (h) {
			h->conn = NULL;
			azds_tr_xh_free(a, h);
		}
		goto untracked;
	}
	azds_tr_kept_free(a, &hi->kept);
	if (h && side == XH_CLIENT)
		azds_tr_cli_add(a, h);
	return;
untracked:
	a->st.evicted++;
	q->skip++;
	azds_tr_kept_free(a, &hi->kept);
}

static void on_response(struct azds_trace_asm *a, struct conn *c, int dir, __u64 ts, struct head_info *hi)
{
	struct pq *q = dir == AZDS_TR_SEND ? &c->serve : &c->call;
	struct pq_slot *s = pq_front(q);
	struct xh *h;

	if (hi->status >= 100 && hi->status < 200 && hi->status != 101) {
		/* interim: the final response follows */
		azds_tr_kept_free(a, &hi->kept);
		return;
	}
	if (!s) {
		if (q->skip)
			q->skip--; /* the answer to one not tracked */
		else
			a->st.unparsed++; /* a response to nothing seen */
		azds_tr_kept_free(a, &hi->kept);
		return;
	}
	h = s->h;
	if ((hi->status == 101) || (s->is_connect && hi->status >= 200 && hi->status < 300))
		c->tunnel = true;
	pq_pop(q);
	if (!h) {
		azds_tr_kept_free(a, &hi->kept);
		return;
	}
	h->status = hi->status;
	h->resp_bytes = hi->have_cl ? hi->content_length : 0;
	h->resp = hi->kept;
	hi->kept.blob = NULL;
	if (hi->kept.truncated)
		h->truncated = true;
	h->end_ns = ts;
	h->conn = NULL;
	azds_tr_xh_done(a, h);
}

/* where the message after this head starts, relative to the head's start (-1: unknown) */
static __s64 message_span(const struct head_info *hi, const char *after, size_t after_n, bool all_captured)
{
	struct azds_chunked ch;
	bool done = false;
	long n;

	if (!hi->head_len)
		return -1;
	switch (hi->body) {
	case AZDS_BODY_NONE:
		return (__s64)hi->head_len;
	case AZDS_BODY_LENGTH:
		if (hi->content_length > (1ull << 62))
			return -1;
		return (__s64)(hi->head_len + hi->content_length);
	case AZDS_BODY_CHUNKED:
		/* a chunked body wholly in this call ends where the scan says */
		if (!all_captured)
			return -1;
		azds_chunked_init(&ch);
		n = azds_chunked_scan(&ch, after, after_n, &done, 4096);
		return n >= 0 && done ? (__s64)(hi->head_len + (size_t)n) : -1;
	default:
		return -1;
	}
}

static void on_head(struct azds_trace_asm *a, struct conn *c, int dir, __u64 ts, struct head_info *hi)
{
	if (hi->is_request)
		on_request(a, c, dir, ts, hi);
	else
		on_response(a, c, dir, ts, hi);
}

static void req_kind(struct conn *c, int dir, bool *is_head, bool *is_connect)
{
	struct pq_slot *s = pq_front(dir == AZDS_TR_SEND ? &c->serve : &c->call);

	*is_head = s && s->is_head;
	*is_connect = s && s->is_connect;
}

/* The held head is all there will be: parse it as cut. */
static void finish_part(struct azds_trace_asm *a, struct conn *c, int dir)
{
	struct dirst *ds = &c->d[dir];
	struct head_info hi;
	bool ih, ic;

	if (!ds->part_len)
		return;
	req_kind(c, dir, &ih, &ic);
	if (azds_tr_parse_head(a, ds->part, ds->part_len, true, false, ih, ic, &hi) > 0)
		on_head(a, c, dir, ds->part_ts, &hi);
	else
		a->st.unparsed++;
	explicit_bzero(ds->part, ds->part_len);
	ds->part_len = 0;
	ds->part_skip = ds->part_name = false;
	ds->known = false;
}

/*
 * Parse the messages of one call from offset o of its captured bytes.
 * r->cap and r->len are checked; seq + o is where a message starts.
 */
static void parse_at(struct azds_trace_asm *a, struct conn *c, const struct azds_trace_rec *r, size_t o)
{
	struct dirst *ds = &c->d[r->dir];
	unsigned guard = 0;

	while (o < r->cap && guard++ < AZDS_TRACE_CAP) {
		const char *p = r->data + o;
		size_t avail = r->cap - o;
		bool cut = r->cap < r->len;
		struct head_info hi;
		bool ih, ic;
		__s64 span;
		int n;

		if (c->tunnel)
			return;
		req_kind(c, r->dir, &ih, &ic);
		n = azds_tr_parse_head(a, p, avail, cut, false, ih, ic, &hi);
		if (n == 0) {
			/* the head goes on in the next call: hold a redacted copy */
			ds->part_len = 0;
			ds->part_skip = ds->part_name = false;
			if (!azds_tr_redact_into(ds, p, avail)) {
				a->st.unparsed++;
				ds->part_len = 0;
				ds->known = false;
				return;
			}
			ds->part_end = r->seq + r->len;
			ds->part_ts = r->ts_ns;
			ds->known = false;
			return;
		}
		if (n < 0) {
			a->st.unparsed++;
			ds->known = false;
			return;
		}
		span = message_span(&hi, p + hi.head_len, hi.head_len <= avail ? avail - hi.head_len : 0, !cut);
		on_head(a, c, r->dir, r->ts_ns, &hi);
		if (span < 0) {
			ds->known = false;
			return;
		}
		ds->known = true;
		ds->next = r->seq + o + (__u64)span;
		if (ds->next >= r->seq + r->cap)
			return;
		o += (size_t)span;
	}
}

/* The next call of a held head: append it (redacted) and parse when whole. */
static bool continue_part(struct azds_trace_asm *a, struct conn *c, const struct azds_trace_rec *r)
{
	struct dirst *ds = &c->d[r->dir];
	const char *end = r->cap ? memmem(r->data, r->cap, "\r\n\r\n", 4) : NULL;
	size_t take = end ? (size_t)(end - r->data) + 4 : r->cap;
	struct head_info hi;
	bool ih, ic;
	__s64 span;
	int n;

	if (r->seq != ds->part_end || !r->cap)
		return false;
	if (!azds_tr_redact_into(ds, r->data, take)) {
		finish_part(a, c, r->dir);
		return true;
	}
	if (!end) {
		if (r->cap < r->len) {
			finish_part(a, c, r->dir);
			return true;
		}
		ds->part_end = r->seq + r->len;
		return true;
	}
	req_kind(c, r->dir, &ih, &ic);
	n = azds_tr_parse_head(a, ds->part, ds->part_len, false, false, ih, ic, &hi);
	explicit_bzero(ds->part, ds->part_len);
	ds->part_len = 0;
	ds->part_skip = ds->part_name = false;
	if (n <= 0) {
		a->st.unparsed++;
		ds->known = false;
		return true;
	}
	span = message_span(&hi, r->data + take, r->cap - take, r->cap == r->len);
	/* the head's length in the stream is the raw one, not the redacted copy's */
	if (span >= 0)
		span = span - (__s64)hi.head_len + (__s64)take;
	on_head(a, c, r->dir, ds->part_ts, &hi);
	if (span < 0) {
		ds->known = false;
		return true;
	}
	ds->known = true;
	ds->next = r->seq + (__u64)span;
	if (ds->next < r->seq + r->cap)
		parse_at(a, c, r, (size_t)span);
	return true;
}

static void on_data(struct azds_trace_asm *a, struct conn *c, const struct azds_trace_rec *r)
{
	struct dirst *ds = &c->d[r->dir];

	if (r->seq < ds->end) {
		/* offsets only grow: this one is not of the stream as known so far */
		a->st.bad_records++;
		ds->known = false;
		ds->end = r->seq + r->len;
		if (ds->part_len)
			finish_part(a, c, r->dir);
		if (!c->tunnel && r->cap && azds_tr_looks_like_head(r->data, r->cap, r->cap < r->len))
			parse_at(a, c, r, 0);
		return;
	}
	ds->end = r->seq + r->len;
	if (c->tunnel)
		return;
	/* bytes the other way: a head held on that side is all there will be of it */
	if (c->d[!r->dir].part_len)
		finish_part(a, c, !r->dir);
	if (ds->part_len) {
		if (continue_part(a, c, r))
			return;
		finish_part(a, c, r->dir);
	}
	if (ds->known) {
		__u64 e = ds->next;

		if (e >= r->seq && e - r->seq < r->cap) {
			parse_at(a, c, r, (size_t)(e - r->seq));
			return;
		}
		if (e >= r->seq && e - r->seq >= r->len)
			return; /* body */
		/* neither: the next message is not where it was expected */
		ds->known = false;
	}
	if (r->cap && azds_tr_looks_like_head(r->data, r->cap, r->cap < r->len)) {
		parse_at(a, c, r, 0);
		return;
	}
	a->st.unparsed++;
}

static bool rec_ok(const struct azds_trace_rec *r, size_t len)
{
	if (r->type == AZDS_TR_OPEN || r->type == AZDS_TR_CLOSE)
		return true;
	if (r->type != AZDS_TR_DATA || r->dir > AZDS_TR_RECV)
		return false;
	if (r->cap > AZDS_TRACE_CAP || r->cap > r->len || len < AZDS_TRACE_HDR_BYTES + (size_t)r->cap)
		return false;
	/* offsets that would wrap are not a stream */
	return r->seq + r->len >= r->seq;
}

void azds_trace_asm_record(struct azds_trace_asm *a, const void *rec, size_t len)
{
	struct azds_trace_rec r;
	struct conn *c;

	a->st.records++;
	if (!rec || len < AZDS_TRACE_HDR_BYTES) {
		a->st.bad_records++;
		return;
	}
	/* a copy: the ring's bytes may be unaligned, and only what arrived is read */
	memcpy(&r, rec, len < sizeof(r) ? len : sizeof(r));
	if (!rec_ok(&r, len)) {
		a->st.bad_records++;
		return;
	}
	if (r.ts_ns > a->now)
		a->now = r.ts_ns;
	switch (r.type) {
	case AZDS_TR_OPEN:
		c = conn_get(a, &r, false, true);
		if (c)
			azds_tr_conn_free(a, c, false); /* a cookie seen again: a new life */
		conn_get(a, &r, true, true);
		break;
	case AZDS_TR_CLOSE:
		c = conn_get(a, &r, false, false);
		if (c)
			azds_tr_conn_free(a, c, false);
		break;
	default:
		c = conn_get(a, &r, true, false);
		if (c)
			on_data(a, c, &r);
		break;
	}
	if (r.type == AZDS_TR_DATA)
		explicit_bzero(r.data, r.cap); /* the copy may hold a credential */
}

int azds_tr_conns_init(struct azds_trace_asm *a)
{
	a->nbuckets = 1;
	while (a->nbuckets < a->lim.max_conns && a->nbuckets < (1u << 20))
		a->nbuckets <<= 1;
	a->cookie_b = calloc(a->nbuckets, sizeof(*a->cookie_b));
	tlist_init(&a->lru);
	return a->cookie_b ? 0 : -ENOMEM;
}

void azds_tr_conns_fini(struct azds_trace_asm *a)
{
	while (!tlist_empty(&a->lru))
		azds_tr_conn_free(a, tlist_entry(a->lru.next, struct conn, lru), false);
	free(a->cookie_b);
	a->cookie_b = NULL;
}
