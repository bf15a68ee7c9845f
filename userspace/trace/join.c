// SPDX-License-Identifier: MIT
/*
 * Halves into hops: a serving pod's half joins the router's decision (by
 * the upstream tuple) and the caller's client half (by the client tuple,
 * in order), or, pod to pod, the caller's half directly; then the hop
 * finds its parent (same trace id, else the calling pod's hop whose
 * server window holds the call, with the same route-as).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "asm_int.h"
#include "../../bpf/dataplane.h"

#define POD_BUCKETS 4096u
#define CLI_BUCKETS 65536u
#define DEPTH_MAX   64 /* hops below a root: trees are walked recursively */
#define SCAN_MAX    64
#define PARENT_SCAN                                                                                                    \
	1024 /* a pod's newest server halves looked at for a parent */ /* unresolved hops looked at before a root      \
									  waits out its window */

/* ---- halves ---- */

static size_t pod_hash(__be32 addr)
{
	return hash64(addr, POD_BUCKETS);
}

static size_t cli_hash(__be32 la, __be16 lp, __be32 ra, __be16 rp)
{
	return hash64(tuple_key(la, lp, ra, rp), CLI_BUCKETS);
}


static struct xh *xh_alloc(struct azds_trace_asm *a, int side, __u64 ts, const struct head_info *hi)
{
	struct xh *h = a->spare;
	size_t tl = strnlen(hi->target, sizeof(hi->target) - 1);

	/* a hop is made for every request: reused halves spare the allocator */
	if (h) {
		a->spare = h->sibling;
		a->nspare--;
		memset(h, 0, sizeof(*h));
	} else if (!(h = calloc(1, sizeof(*h)))) {
		return NULL;
	}
	h->target = tl < sizeof(h->target_in) ? h->target_in : malloc(tl + 1);
	if (!h->target) {
		free(h);
		return NULL;
	}
	memcpy(h->target, hi->target, tl);
	h->target[tl] = 0;
	h->id = ++a->next_id;
	h->side = (__u8)side;
	h->state = XS_OPEN;
	h->start_ns = ts;
	memcpy(h->method, hi->method, sizeof(h->method));
	memcpy(h->route_as, hi->route_as, sizeof(h->route_as));
	memcpy(h->traceparent, hi->traceparent, sizeof(h->traceparent));
	h->minor_version = hi->minor_version;
	h->is_head = hi->is_head;
	h->is_connect = hi->is_connect;
	h->req_bytes = hi->have_cl ? hi->content_length : 0;
	h->truncated = hi->kept.truncated || hi->target_cut;
	h->req = hi->kept;
	return h;
}

static void xh_link(struct azds_trace_asm *a, struct xh *h)
{
	tlist_add_tail(&a->open, &h->link);
	if (h->side == XH_SERVER)
		hnode_add(&a->pod_b[pod_hash(h->laddr)], &h->pod_n);
	a->nhops++;
}

struct xh *azds_tr_xh_new(struct azds_trace_asm *a, struct conn *c, int side, __u64 ts, const struct head_info *hi)
{
	struct xh *h = xh_alloc(a, side, ts, hi);

	if (!h)
		return NULL;
	h->cookie = c->cookie;
	h->laddr = c->laddr;
	h->raddr = c->raddr;
	h->lport = c->lport;
	h->rport = c->rport;
	h->space = c->space;
	h->conn = c;
	xh_link(a, h);
	return h;
}

/*
 * A hop told by the router's own records (decisions.h): a routed request
 * is the serving pod's half as the backend saw the router's connection
 * (the pod's address and port, the router's end), with its decision; a
 * request the router answered itself is the caller's half.
 */
struct xh *azds_tr_xh_routed(struct azds_trace_asm *a, int side, const struct azds_dec *d, const struct head_info *hi)
{
	struct xh *h = xh_alloc(a, side, d->ts_ns, hi);

	if (!h)
		return NULL;
	if (side == XH_SERVER) {
		h->laddr = d->up_raddr;
		h->lport = d->up_rport;
		h->raddr = htonl(AZDS_GW_IP);
		h->rport = d->up_lport;
		h->space = d->served_space;
	} else {
		h->laddr = d->cli_addr;
		h->lport = d->cli_port;
		h->raddr = d->vaddr;
		h->rport = d->vport;
		h->space = d->caller_space;
	}
	h->dec = *d;
	h->have_dec = true;
	h->routed = true;
	xh_link(a, h);
	return h;
}

void azds_tr_xh_done(struct azds_trace_asm *a, struct xh *h)
{
	h->state = XS_DONE;
	tlist_del(&h->link);
	tlist_add_tail(&a->done, &h->link);
}

/* a client half out of its tuple's chain (appended at the end, so the oldest comes first) */
static void cli_unlink(struct azds_trace_asm *a, struct xh *h)
{
	size_t i;

	if (!h->cli_n.pprev)
		return;
	i = cli_hash(h->laddr, h->lport, h->raddr, h->rport);
	if (a->cli_endp[i] == &h->cli_n.next)
		a->cli_endp[i] = h->cli_n.pprev;
	hnode_del(&h->cli_n);
}

static void cli_append(struct azds_trace_asm *a, struct xh *h)
{
	size_t i = cli_hash(h->laddr, h->lport, h->raddr, h->rport);

	h->cli_n.next = NULL;
	h->cli_n.pprev = a->cli_endp[i];
	*a->cli_endp[i] = &h->cli_n;
	a->cli_endp[i] = &h->cli_n.next;
}

static void pod_unlink(struct azds_trace_asm *a, struct xh *h)
{
	(void)a;
	hnode_del(&h->pod_n);
}

static void xh_lighten(struct azds_trace_asm *a, struct xh *h)
{
	if (h->target != h->target_in)
		free(h->target);
	h->target = NULL;
	azds_tr_kept_free(a, &h->req);
	azds_tr_kept_free(a, &h->resp);
}

void azds_tr_xh_free(struct azds_trace_asm *a, struct xh *h)
{
	if (h->conn)
		azds_tr_pq_forget(h->conn, h);
	tlist_del(&h->link);
	pod_unlink(a, h);
	cli_unlink(a, h);
	hnode_del(&h->xid_n);
	if (h->dent && h->side == XH_CLIENT && h->dent->bound == h)
		h->dent->bound = NULL;
	if (h->peer)
		azds_tr_xh_free(a, h->peer);
	xh_lighten(a, h);
	if (h->state == XS_GHOST)
		a->nghosts--;
	else
		a->nhops--;
	if (TR_REUSE && a->nspare < XH_SPARE_MAX) {
		h->sibling = a->spare;
		a->spare = h;
		a->nspare++;
		return;
	}
	free(h);
}

/* ---- decisions ---- */

static size_t up_hash(__be32 raddr, __be16 rport, __be16 lport)
{
	return hash64(tuple_key(raddr, rport, 0, lport), CLI_BUCKETS);
}

static void dent_drop(struct azds_trace_asm *a, struct dent *e)
{
	const struct azds_dec *d = &e->d;

	(void)a;
	(void)d;
	hnode_del(&e->up_n);
	hnode_del(&e->cli_n);
	if (e->bound)
		e->bound->dent = NULL; /* it keeps its copy */
	memset(e, 0, offsetof(struct dent, gen));
	e->gen++;
}

static void dec_bind(struct azds_trace_asm *a, struct dent *e, struct xh *c)
{
	/* out of the tuple index: only unbound halves are looked for there,
	 * and a keep-alive connection's bound ones would make its chain as
	 * long as the requests waiting to be joined */
	cli_unlink(a, c);
	e->bound = c;
	c->dent = e;
	c->dec = e->d;
	c->have_dec = true;
}

/*
 * A decision may be stamped before the caller's send record: the send's
 * tracepoint fires as the syscall returns, and the router (another CPU, a
 * redirected message) may route the request first. Without this slack 3%
 * of 20,000 keep-alive requests went unjoined; the oldest-first rule keeps
 * the order.
 */
#define JOIN_SLACK_NS 1000000ull
#define JOIN_SCAN 1024 /* entries of one tuple's chain looked at, oldest first */

/*
 * The oldest unbound, unclaimed client half on the tuple that started by
 * before (and the slack). Chains are in arrival order, oldest first, so
 * the first that fits is the one: a keep-alive connection's chain holds
 * every call not yet claimed (a reader's tick claims them, about 100 ms of
 * them under load), and walking it whole for each waiting server half made
 * the join quadratic in the requests of a tick.
 */
static struct xh *cli_find(struct azds_trace_asm *a, __be32 la, __be16 lp, __be32 ra, __be16 rp, __u64 before)
{
	unsigned seen = 0;

	for (struct hnode *n = a->cli_b[cli_hash(la, lp, ra, rp)]; n && seen++ < JOIN_SCAN; n = n->next) {
		struct xh *h = tlist_entry(n, struct xh, cli_n);

		if (h->laddr != la || h->lport != lp || h->raddr != ra || h->rport != rp || h->claimed)
			continue;
		if (h->have_dec)
			continue;
		if (h->start_ns > before + JOIN_SLACK_NS)
			continue;
		return h;
	}
	return NULL;
}

void azds_trace_asm_decision(struct azds_trace_asm *a, const struct azds_dec *d)
{
	struct dent *e;
	struct xh *c;

	a->st.decisions++;
	if (!d)
		return;
	e = &a->dec[a->ndec_head];
	dent_drop(a, e);
	a->ndec_head = (a->ndec_head + 1) % a->ndec_cap;
	memcpy(&e->d, d, sizeof(*d));
	if (d->up_raddr)
		hnode_add(&a->up_b[up_hash(d->up_raddr, d->up_rport, d->up_lport)], &e->up_n);
	if (d->flags & AZDS_DEC_F_INGRESS || !d->cli_addr)
		return;
	c = cli_find(a, d->cli_addr, d->cli_port, d->vaddr, d->vport, d->ts_ns);
	if (c) {
		dec_bind(a, e, c);
		return;
	}
	hnode_add(&a->dcli_b[cli_hash(d->cli_addr, d->cli_port, d->vaddr, d->vport)], &e->cli_n);
}

/* ---- the router's own records ---- */

static struct xh *xid_find(struct azds_trace_asm *a, __u64 xid)
{
	for (struct hnode *n = a->xid_b[hash64(xid, CLI_BUCKETS)]; n; n = n->next) {
		struct xh *h = tlist_entry(n, struct xh, xid_n);

		if (h->xid == xid)
			return h;
	}
	return NULL;
}

/* a head from a slot: whole, or as far as it goes (cut by the slot, or a request the router refused unfinished) */
static int slot_head(struct azds_trace_asm *a, const struct azds_dec_slot *s, bool response, bool req_is_head, struct head_info *hi)
{
	size_t len = s->head_len < AZDS_DEC_HEAD_MAX ? s->head_len : AZDS_DEC_HEAD_MAX;
	int n;

	if (!len)
		return -EINVAL;
	/* as cut: a whole head parses as one, and one the slot or a refusal cut keeps its whole lines */
	n = azds_tr_parse_head(a, s->head, len, true, response, req_is_head, false, hi);
	if (n > 0 && s->d.flags & AZDS_DEC_F_CUT)
		hi->kept.truncated = true;
	if (n > 0 && hi->is_request == response) {
		azds_tr_kept_free(a, &hi->kept);
		n = -EBADMSG;
	}
	return n;
}

void azds_trace_asm_slot(struct azds_trace_asm *a, const struct azds_dec_slot *s)
{
	struct head_info hi;
	struct xh *h;

	a->st.decisions++;
	if (!s)
		return;
	if (s->kind == AZDS_DEC_K_REQ) {
		bool reply = s->d.reason == AZDS_DEC_REPLY;

		if ((!reply && (s->d.reason != AZDS_DEC_OWN && s->d.reason != AZDS_DEC_FALLBACK)) ||
		    (!reply && !s->d.up_raddr) || (reply && s->d.flags & AZDS_DEC_F_INGRESS && !s->d.cli_addr)) {
			a->st.bad_records++;
			return;
		}
		if (reply && !s->head_len) {
			/* refused before a byte of the request came (a caller past its
			 * per-pod limit): the hop says who and the status, no request line */
			memset(&hi, 0, sizeof(hi));
			hi.kept.truncated = true;
		} else if (slot_head(a, s, false, false, &hi) <= 0) {
			/* the router refused a head its parser would not take: its request line still says what */
			if (!reply ||
			    azds_tr_parse_request_line(s->head, s->head_len < AZDS_DEC_HEAD_MAX ? s->head_len : AZDS_DEC_HEAD_MAX,
						       &hi) <= 0) {
				if (!(reply && s->d.flags & AZDS_DEC_F_ACCEPT)) {
					a->st.unparsed++;
					return;
				}
				/* refused at accept whatever came: still a hop, without a request line */
				memset(&hi, 0, sizeof(hi));
				hi.kept.truncated = true;
			}
		}
		if (a->nhops >= a->lim.max_hops) {
			azds_tr_kept_free(a, &hi.kept);
			a->st.evicted++;
			return;
		}
		h = azds_tr_xh_routed(a, reply ? XH_CLIENT : XH_SERVER, &s->d, &hi);
		if (!h) {
			azds_tr_kept_free(a, &hi.kept);
			return;
		}
		if (reply) {
			h->status = s->d.status;
			h->end_ns = h->start_ns;
			azds_tr_xh_done(a, h);
			return;
		}
		h->xid = s->xid;
		hnode_add(&a->xid_b[hash64(s->xid, CLI_BUCKETS)], &h->xid_n);
		return;
	}
	if (s->kind != AZDS_DEC_K_RESP) {
		a->st.bad_records++;
		return;
	}
	h = xid_find(a, s->xid);
	if (!h || h->state != XS_OPEN)
		return; /* its request came before this reader, or was given up */
	hnode_del(&h->xid_n);
	h->end_ns = s->d.ts_ns > h->start_ns ? s->d.ts_ns : h->start_ns;
	if (s->d.flags & AZDS_DEC_F_ROUTER) {
		/* the backend never answered: the router did (502, 504), or nobody (0) */
		h->status = s->d.status;
		if (!h->status)
			a->st.unanswered++;
	} else if (slot_head(a, s, true, h->is_head, &hi) > 0) {
		h->status = hi.status;
		h->resp_bytes = hi.have_cl ? hi.content_length : 0;
		h->resp = hi.kept;
		if (hi.kept.truncated)
			h->truncated = true;
	} else {
		h->status = s->d.status;
		a->st.unparsed++;
	}
	azds_tr_xh_done(a, h);
}

/* a new client half: into the tuple index, bound to a decision that came first */
void azds_tr_cli_add(struct azds_trace_asm *a, struct xh *h)
{
	size_t i = cli_hash(h->laddr, h->lport, h->raddr, h->rport);
	struct dent *best = NULL;

	unsigned seen = 0;

	cli_append(a, h);
	for (struct hnode *n = a->dcli_b[i]; n && seen++ < JOIN_SCAN; n = n->next) {
		struct dent *e = tlist_entry(n, struct dent, cli_n);
		const struct azds_dec *d = &e->d;

		if (d->cli_addr != h->laddr || d->cli_port != h->lport || d->vaddr != h->raddr ||
		    d->vport != h->rport || e->bound || d->ts_ns + JOIN_SLACK_NS < h->start_ns)
			continue;
		if (!best || d->ts_ns < best->d.ts_ns)
			best = e;
	}
	if (!best)
		return;
	hnode_del(&best->cli_n);
	dec_bind(a, best, h);
}

/* the router's decision for a server half: upstream tuple, latest at or before its receive */
static struct dent *up_find(struct azds_trace_asm *a, const struct xh *h)
{
	struct dent *best = NULL;

	unsigned older = 0;

	for (struct hnode *n = a->up_b[up_hash(h->laddr, h->lport, h->rport)]; n; n = n->next) {
		struct dent *e = tlist_entry(n, struct dent, up_n);
		const struct azds_dec *d = &e->d;

		if (d->up_raddr != h->laddr || d->up_rport != h->lport || d->up_lport != h->rport)
			continue;
		if (d->ts_ns > h->start_ns)
			continue;
		/* newest first: once one fits, a few older ones (a reader may interleave rings), then stop */
		if (best && ++older > 8)
			break;
		if (d->ts_ns + a->lim.join_window_ns < h->start_ns)
			break;
		if (!best || d->ts_ns > best->d.ts_ns)
			best = e;
	}
	return best;
}

/* ---- resolving ---- */

static bool model_pod(struct azds_trace_asm *a, __be32 addr)
{
	char n[AZDS_TRACE_NAME_MAX], s[AZDS_TRACE_NAME_MAX];
	__u32 sp;

	return a->m.pod && a->m.pod(a->m.ctx, addr, n, &sp, s);
}

static bool via_router(const struct xh *h)
{
	return h->raddr == htonl(AZDS_GW_IP);
}

static void claim(struct azds_trace_asm *a, struct xh *h, struct xh *c)
{
	cli_unlink(a, c);
	if (c->dent && c->dent->bound == c)
		c->dent->bound = NULL;
	c->dent = NULL;
	c->claimed = true;
	tlist_del(&c->link);
	c->state = XS_READY;
	h->peer = c;
}

/* a server half: has it what it waits for? */
static bool resolve_server(struct azds_trace_asm *a, struct xh *h)
{
	struct xh *c = NULL;

	if (h->routed)
		return true; /* the router told all of it: the sockets on both sides of it are not captured */
	if (via_router(h)) {
		if (!h->have_dec) {
			struct dent *e = up_find(a, h);

			if (!e)
				return false;
			h->dec = e->d;
			h->have_dec = true;
			h->dent = e;
			h->dent_gen = e->gen;
		}
		if (h->dec.flags & AZDS_DEC_F_INGRESS || !h->dec.cli_addr)
			return true;
		if (h->dent && h->dent->gen == h->dent_gen)
			c = h->dent->bound;
		if (!c)
			return false;
	} else if (h->raddr_pod == 1 || (!h->raddr_pod && (h->raddr_pod = model_pod(a, h->raddr) ? 1 : 2) == 1)) {
		c = cli_find(a, h->raddr, h->rport, h->laddr, h->lport, h->start_ns);
		if (!c)
			return false;
	} else {
		return true; /* from outside the pods: nobody else to wait for */
	}
	if (c->state != XS_DONE)
		return false;
	claim(a, h, c);
	return true;
}

static bool resolve(struct azds_trace_asm *a, struct xh *h, bool force)
{
	bool ok;

	if (h->side == XH_SERVER)
		ok = resolve_server(a, h);
	else
		ok = h->have_dec && h->dec.reason == AZDS_DEC_REPLY;
	return ok || force || a->now >= sat_add(h->end_ns, a->lim.join_window_ns);
}

/* ---- trees ---- */

static bool hex32(const char *s)
{
	for (int i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* the trace id of a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"), or NULL */
static const char *tp_id(const char *tp)
{
	if (strlen(tp) < 55 || tp[2] != '-' || tp[35] != '-' || !hex32(tp + 3))
		return NULL;
	if (strncmp(tp + 3, "00000000000000000000000000000000", 32) == 0)
		return NULL;
	return tp + 3;
}

static const char *hop_tp_id(const struct xh *h)
{
	const char *t = tp_id(h->traceparent);

	if (!t && h->peer)
		t = tp_id(h->peer->traceparent);
	return t;
}

/* the pod that made the call, 0 when not a pod */
static __be32 caller_addr(struct azds_trace_asm *a, const struct xh *h)
{
	if (h->side == XH_CLIENT)
		return h->laddr;
	if (via_router(h))
		return h->have_dec && !(h->dec.flags & AZDS_DEC_F_INGRESS) ? h->dec.cli_addr : 0;
	return model_pod(a, h->raddr) ? h->raddr : 0;
}

static __u64 call_start(const struct xh *h)
{
	return h->peer ? h->peer->start_ns : h->start_ns;
}

static bool is_below(const struct xh *x, const struct xh *h)
{
	for (int depth = 0; x && depth < 1024; depth++, x = x->parent)
		if (x == h)
			return true;
	return false;
}

static struct xh *find_parent(struct azds_trace_asm *a, struct xh *h)
{
	__be32 ca = caller_addr(a, h);
	const char *tid = hop_tp_id(h);
	__u64 t = call_start(h);
	struct xh *best = NULL;
	int best_score = 0;

	if (!ca)
		return NULL;
	unsigned seen = 0;

	for (struct hnode *n = a->pod_b[pod_hash(ca)]; n && seen++ < PARENT_SCAN; n = n->next) {
		struct xh *p = tlist_entry(n, struct xh, pod_n);
		const char *pid;
		bool within;
		int score;

		if (p == h || p->laddr != ca || p->start_ns > t)
			continue;
		within = p->state == XS_OPEN || t <= p->end_ns;
		pid = hop_tp_id(p);
		if (tid && pid && strncmp(tid, pid, 32) == 0)
			score = within ? 4 : 3;
		else if (within && !(tid && pid) && strcmp(p->route_as, h->route_as) == 0)
			score = 2;
		else
			continue;
		if (is_below(p, h))
			continue;
		/* a hop still held over one already out, then the innermost (latest started) */
		score = score * 2 + (p->state != XS_GHOST);
		if (score > best_score || (score == best_score && p->start_ns > best->start_ns)) {
			best = p;
			best_score = score;
		}
	}
	return best;
}

static void hex64(char *out, __u64 v)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = digits[v & 15];
}

static void new_trace_id(struct azds_trace_asm *a, char out[33])
{
	__u64 x = a->tid_seed + ++a->tid_n * 0x9e3779b97f4a7c15ULL, y;

	/* splitmix64, twice: unique (a bijection of the counter), not guessable in order */
	y = x;
	y = (y ^ (y >> 30)) * 0xbf58476d1ce4e5b9ULL;
	y = (y ^ (y >> 27)) * 0x94d049bb133111ebULL;
	y ^= y >> 31;
	hex64(out, a->tid_seed ^ a->tid_n);
	hex64(out + 16, y);
	out[32] = 0;
}

static void add_child(struct xh *p, struct xh *h)
{
	struct xh **pp = &p->child;

	/* in the order the calls started */
	while (*pp && call_start(*pp) <= call_start(h))
		pp = &(*pp)->sibling;
	h->sibling = *pp;
	*pp = h;
	h->parent = p;
}

static unsigned depth(const struct xh *p)
{
	unsigned d = 0;

	for (; p->parent && d < DEPTH_MAX; p = p->parent)
		d++;
	return d;
}

/* levels below h (trees never pass DEPTH_MAX, so this recursion is bounded) */
static unsigned height(const struct xh *h)
{
	unsigned m = 0;

	for (const struct xh *c = h->child; c; c = c->sibling) {
		unsigned x = height(c) + 1;

		if (x > m)
			m = x;
	}
	return m;
}

static void place(struct azds_trace_asm *a, struct xh *h)
{
	struct xh *p = find_parent(a, h);
	const char *tid;

	tlist_del(&h->link);
	h->state = XS_READY;
	if (p && p->state != XS_GHOST && depth(p) + height(h) < DEPTH_MAX) {
		add_child(p, h);
		return;
	}
	if (p && p->state != XS_GHOST) {
		/* too deep to walk: it goes out on its own, naming its parent */
		h->parent_id = p->id;
		p = NULL;
	}
	if (p) {
		h->parent_id = p->id;
		memcpy(h->trace_id, p->trace_id, sizeof(h->trace_id));
	} else if ((tid = hop_tp_id(h))) {
		memcpy(h->trace_id, tid, 32);
		h->trace_id[32] = 0;
	} else {
		new_trace_id(a, h->trace_id);
	}
	tlist_add_tail(&a->ready, &h->link);
}

/* may a hop still unresolved turn out to be a call made while t was served? */
/*
 * Could t's serving pod still make a call that belongs below t? Only a
 * client half of that pod, started within t's window and not yet placed.
 * The lists are in arrival order: the newest SCAN_MAX of each are looked
 * at, from the tail. Under load a call deeper than that goes out on its
 * own with the root's trace id (as a late child does); walking every
 * list for every waiting root made the reader quadratic.
 */
static bool may_have_more(struct azds_trace_asm *a, const struct xh *t)
{
	struct tlist *lists[2] = {&a->open, &a->done};

	if (t->side != XH_SERVER)
		return false;
	for (int i = 0; i < 2; i++) {
		unsigned seen = 0;

		for (struct tlist *l = lists[i]->prev; l != lists[i] && seen++ < SCAN_MAX; l = l->prev) {
			const struct xh *x = tlist_entry(l, struct xh, link);

			if (x->start_ns < t->start_ns || x->start_ns > t->end_ns)
				continue;
			if (x->side == XH_CLIENT && x->laddr == t->laddr)
				return true;
			/* a call t's pod made through the router */
			if (x->routed && x->side == XH_SERVER && !(x->dec.flags & AZDS_DEC_F_INGRESS) &&
			    x->dec.cli_addr == t->laddr)
				return true;
		}
	}
	return false;
}

static void to_ghost(struct azds_trace_asm *a, struct xh *h)
{
	if (h->peer) {
		azds_tr_xh_free(a, h->peer);
		h->peer = NULL;
	}
	h->child = h->sibling = NULL;
	if (h->side != XH_SERVER) {
		azds_tr_xh_free(a, h);
		return;
	}
	xh_lighten(a, h);
	tlist_del(&h->link);
	h->state = XS_GHOST;
	a->nhops--;
	a->nghosts++;
	tlist_add_tail(&a->ghosts, &h->link);
}

/*
 * After emission: the subtree goes, its server halves stay a while as
 * ghosts, each with the trace id it went out with (a late call below any
 * of them takes it).
 */
static void retire(struct azds_trace_asm *a, struct xh *h, const char *trace_id)
{
	struct xh *c = h->child, *next;

	for (; c; c = next) {
		next = c->sibling;
		retire(a, c, trace_id);
	}
	if (h->parent)
		h->parent_id = h->parent->id;
	h->parent = NULL;
	if (h->trace_id != trace_id)
		memcpy(h->trace_id, trace_id, sizeof(h->trace_id));
	to_ghost(a, h);
}

void azds_tr_ghost_prune(struct azds_trace_asm *a, bool all)
{
	while (!tlist_empty(&a->ghosts)) {
		struct xh *g = tlist_entry(a->ghosts.next, struct xh, link);

		if (!all && a->nghosts <= GHOSTS_MAX && sat_add(g->end_ns, a->lim.hop_timeout_ns) > a->now)
			break;
		azds_tr_xh_free(a, g);
	}
}

static void time_out(struct azds_trace_asm *a, bool force)
{
	while (!tlist_empty(&a->open)) {
		struct xh *h = tlist_entry(a->open.next, struct xh, link);
		__u64 dl = sat_add(h->start_ns, a->lim.hop_timeout_ns);

		if (!force && dl > a->now)
			break;
		if (h->conn)
			azds_tr_pq_forget(h->conn, h);
		h->conn = NULL;
		hnode_del(&h->xid_n);
		h->end_ns = force && dl > a->now ? (a->now > h->start_ns ? a->now : h->start_ns) : dl;
		a->st.unanswered++;
		azds_tr_xh_done(a, h);
	}
}

void azds_tr_run(struct azds_trace_asm *a, bool force)
{
	struct tlist *l, *next;

	time_out(a, force);
	for (l = a->done.next; l != &a->done; l = next) {
		struct xh *h = tlist_entry(l, struct xh, link);
		bool ok = resolve(a, h, force);

		next = l->next;
		if (ok)
			place(a, h);
	}
	for (l = a->ready.next; l != &a->ready; l = next) {
		struct xh *t = tlist_entry(l, struct xh, link);

		next = l->next;
		if (!force && a->now < sat_add(t->end_ns, a->lim.join_window_ns) && may_have_more(a, t))
			continue;
		azds_tr_emit_top(a, t);
		retire(a, t, t->trace_id);
	}
	azds_tr_ghost_prune(a, false);
}

int azds_tr_join_init(struct azds_trace_asm *a)
{
	tlist_init(&a->open);
	tlist_init(&a->done);
	tlist_init(&a->ready);
	tlist_init(&a->ghosts);
	a->ndec_cap = 1024;
	while (a->ndec_cap < a->lim.max_hops && a->ndec_cap < (1u << 20))
		a->ndec_cap <<= 1;
	a->dec = calloc(a->ndec_cap, sizeof(*a->dec));
	a->pod_b = calloc(POD_BUCKETS, sizeof(*a->pod_b));
	a->cli_b = calloc(CLI_BUCKETS, sizeof(*a->cli_b));
	a->cli_endp = calloc(CLI_BUCKETS, sizeof(*a->cli_endp));
	for (size_t i = 0; a->cli_b && a->cli_endp && i < CLI_BUCKETS; i++)
		a->cli_endp[i] = &a->cli_b[i];
	a->up_b = calloc(CLI_BUCKETS, sizeof(*a->up_b));
	a->dcli_b = calloc(CLI_BUCKETS, sizeof(*a->dcli_b));
	a->xid_b = calloc(CLI_BUCKETS, sizeof(*a->xid_b));
	if (!a->dec || !a->pod_b || !a->cli_b || !a->cli_endp || !a->up_b || !a->dcli_b || !a->xid_b)
		return -ENOMEM;
	return 0;
}

static void free_tree(struct azds_trace_asm *a, struct xh *h)
{
	struct xh *c = h->child, *next;

	for (; c; c = next) {
		next = c->sibling;
		free_tree(a, c);
	}
	azds_tr_xh_free(a, h);
}

void azds_tr_join_fini(struct azds_trace_asm *a)
{
	struct tlist *lists[4] = {&a->open, &a->done, &a->ready, &a->ghosts};

	for (int i = 0; i < 4; i++) {
		if (!lists[i]->next)
			continue;
		while (!tlist_empty(lists[i]))
			free_tree(a, tlist_entry(lists[i]->next, struct xh, link));
	}
	while (a->spare) {
		struct xh *h = a->spare;

		a->spare = h->sibling;
		free(h);
	}
	a->nspare = 0;
	free(a->dec);
	free(a->pod_b);
	free(a->cli_b);
	free(a->cli_endp);
	free(a->up_b);
	free(a->dcli_b);
	free(a->xid_b);
}
