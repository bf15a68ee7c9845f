// SPDX-License-Identifier: MIT
/*
 * A tree of halves into the emitted form: names from the model, the
 * caller's times where there is a caller's half, root first and then
 * depth first, AZDS_TRACE_HOPS_MAX to a request.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "asm_int.h"
#include "../../bpf/dataplane.h"

static void scopy(char *dst, size_t cap, const char *s)
{
	size_t n = strnlen(s, cap - 1);

	memcpy(dst, s, n);
	dst[n] = 0;
}

struct pod_names {
	bool known;
	char name[AZDS_TRACE_NAME_MAX];
	char service[AZDS_TRACE_NAME_MAX];
	char space[AZDS_TRACE_PATH_MAX];
};

static void space_path(struct azds_trace_asm *a, __u32 id, char out[AZDS_TRACE_PATH_MAX])
{
	out[0] = 0;
	if (id && a->m.space_path && !a->m.space_path(a->m.ctx, id, out))
		out[0] = 0;
	out[AZDS_TRACE_PATH_MAX - 1] = 0;
}

static void pod_names(struct azds_trace_asm *a, __be32 addr, __u32 space_hint, struct pod_names *p)
{
	__u32 sp = space_hint;

	memset(p, 0, sizeof(*p));
	if (a->m.pod && a->m.pod(a->m.ctx, addr, p->name, &sp, p->service))
		p->known = true;
	p->name[AZDS_TRACE_NAME_MAX - 1] = p->service[AZDS_TRACE_NAME_MAX - 1] = 0;
	if (!p->known)
		p->name[0] = p->service[0] = 0;
	space_path(a, p->known ? sp : space_hint, p->space);
}

static void service_name(struct azds_trace_asm *a, __u32 svc, char out[AZDS_TRACE_NAME_MAX], const char *dflt)
{
	if (!(a->m.service_name && a->m.service_name(a->m.ctx, svc, out)))
		scopy(out, AZDS_TRACE_NAME_MAX, dflt);
	out[AZDS_TRACE_NAME_MAX - 1] = 0;
}

static void set_caller(struct azds_trace_hop *o, const struct pod_names *p, __be32 addr)
{
	if (p->known) {
		scopy(o->caller, sizeof(o->caller), p->service[0] ? p->service : p->name);
		scopy(o->caller_pod, sizeof(o->caller_pod), p->name);
		scopy(o->caller_space, sizeof(o->caller_space), p->space);
	} else {
		struct in_addr in = {.s_addr = addr};

		inet_ntop(AF_INET, &in, o->caller, sizeof(o->caller));
	}
}

static void set_reason(struct azds_trace_asm *a, struct azds_trace_hop *o, const struct azds_dec *d)
{
	char sp[AZDS_TRACE_PATH_MAX];

	switch (d->reason) {
	case AZDS_DEC_OWN:
		scopy(o->reason, sizeof(o->reason), "own");
		break;
	case AZDS_DEC_FALLBACK:
		space_path(a, d->served_space, sp);
		snprintf(o->reason, sizeof(o->reason), "fell back to %s", sp[0] ? sp : o->space);
		break;
	case AZDS_DEC_REPLY:
		scopy(o->reason, sizeof(o->reason), "router");
		break;
	}
}

static void put_msg(struct azds_trace_msg *o, const struct kept_msg *k)
{
	const char *p = k->blob;

	o->truncated = k->truncated;
	o->nheaders = 0;
	for (unsigned i = 0; p && i < k->nh && i < AZDS_TRACE_HEADERS_MAX; i++) {
		scopy(o->headers[i].name, AZDS_TRACE_NAME_MAX, p);
		p += strlen(p) + 1;
		scopy(o->headers[i].value, AZDS_TRACE_VALUE_MAX, p);
		p += strlen(p) + 1;
		o->nheaders++;
	}
}

/* the exchange as one half saw it; the response from the half that has it (headers: only when asked) */
static void put_exchange(struct azds_trace_hop *o, const struct xh *q, const struct xh *r, bool headers)
{
	scopy(o->method, sizeof(o->method), q->method);
	scopy(o->target, sizeof(o->target), q->target ? q->target : "");
	scopy(o->route_as, sizeof(o->route_as), q->route_as);
	scopy(o->traceparent, sizeof(o->traceparent), q->traceparent);
	o->minor_version = q->minor_version;
	o->req_bytes = q->req_bytes;
	o->resp_bytes = r->resp_bytes;
	o->status = r->status;
	o->truncated = q->truncated || r->truncated;
	if (headers) {
		put_msg(&o->req, &q->req);
		put_msg(&o->resp, &r->resp);
	} else {
		o->req.nheaders = o->resp.nheaders = 0;
		o->req.truncated = q->req.truncated;
		o->resp.truncated = r->resp.truncated;
	}
}

static void fill_server(struct azds_trace_asm *a, struct azds_trace_hop *o, const struct xh *h, bool headers)
{
	const struct xh *c = h->peer;
	struct pod_names me, who;

	pod_names(a, h->laddr, h->space, &me);
	scopy(o->pod, sizeof(o->pod), me.name);
	scopy(o->space, sizeof(o->space), me.space);
	scopy(o->service, sizeof(o->service), me.service);
	o->server_start_ns = h->start_ns;
	o->server_end_ns = h->end_ns;
	o->start_ns = c ? c->start_ns : h->start_ns;
	o->end_ns = c ? c->end_ns : h->end_ns;
	put_exchange(o, h, h, headers);
	if (h->raddr == htonl(AZDS_GW_IP)) {
		const struct azds_dec *d = &h->dec;

		if (!h->have_dec)
			return; /* the decision never came: who asked is not known */
		if (d->flags & AZDS_DEC_F_INGRESS) {
			scopy(o->caller, sizeof(o->caller), "ingress");
		} else {
			pod_names(a, d->cli_addr, d->caller_space, &who);
			set_caller(o, &who, d->cli_addr);
		}
		service_name(a, d->svc, o->service, me.service);
		space_path(a, d->start_space, o->asked_space);
		set_reason(a, o, d);
		return;
	}
	pod_names(a, h->raddr, 0, &who);
	set_caller(o, &who, h->raddr);
	if (c && c->raddr != h->laddr && a->m.vip_name &&
	    a->m.vip_name(a->m.ctx, c->raddr, ntohs(c->rport), o->service))
		o->service[AZDS_TRACE_NAME_MAX - 1] = 0;
	scopy(o->reason, sizeof(o->reason), "direct");
}

/* a call no serving pod's records answered: the router did, or the server is not captured */
static void fill_client(struct azds_trace_asm *a, struct azds_trace_hop *o, const struct xh *h, bool headers)
{
	struct pod_names me, srv;

	pod_names(a, h->laddr, h->space, &me);
	if (h->have_dec && h->dec.flags & AZDS_DEC_F_INGRESS)
		scopy(o->caller, sizeof(o->caller), "ingress");
	else
		set_caller(o, &me, h->laddr);
	o->start_ns = h->start_ns;
	o->end_ns = h->end_ns;
	put_exchange(o, h, h, headers);
	if (h->have_dec) {
		const struct azds_dec *d = &h->dec;

		service_name(a, d->svc, o->service, "");
		space_path(a, d->start_space, o->asked_space);
		if (d->reason == AZDS_DEC_REPLY) {
			scopy(o->reason, sizeof(o->reason), "router");
			if (!o->status)
				o->status = d->status;
			return;
		}
		pod_names(a, d->up_raddr, d->served_space, &srv);
		scopy(o->pod, sizeof(o->pod), srv.name);
		scopy(o->space, sizeof(o->space), srv.space);
		set_reason(a, o, d);
		return;
	}
	pod_names(a, h->raddr, 0, &srv);
	if (srv.known) {
		scopy(o->pod, sizeof(o->pod), srv.name);
		scopy(o->space, sizeof(o->space), srv.space);
		scopy(o->service, sizeof(o->service), srv.service);
		scopy(o->reason, sizeof(o->reason), "direct");
		return;
	}
	if (a->m.vip_name && a->m.vip_name(a->m.ctx, h->raddr, ntohs(h->rport), o->service))
		o->service[AZDS_TRACE_NAME_MAX - 1] = 0;
	else
		o->service[0] = 0;
	scopy(o->reason, sizeof(o->reason), "router");
}

static void fill(struct azds_trace_asm *a, struct azds_trace_hop *o, const struct xh *h, const char *trace_id,
		 bool headers)
{
	/* the header tables are filled as far as nheaders says: only the rest is cleared */
	memset(o, 0, offsetof(struct azds_trace_hop, req));
	o->id = h->id;
	o->parent = h->parent ? h->parent->id : h->parent_id;
	scopy(o->trace_id, sizeof(o->trace_id), trace_id);
	if (h->side == XH_SERVER)
		fill_server(a, o, h, headers);
	else
		fill_client(a, o, h, headers);
}

/* root first, then depth first */
static size_t collect(struct xh *h, struct xh **out, size_t n, size_t cap)
{
	if (n < cap)
		out[n++] = h;
	for (struct xh *c = h->child; c && n < cap; c = c->sibling)
		n = collect(c, out, n, cap);
	return n;
}

static size_t count(const struct xh *h, size_t lim)
{
	size_t n = 1;

	for (const struct xh *c = h->child; c && n < lim; c = c->sibling)
		n += count(c, lim - n);
	return n;
}

void azds_tr_emit_top(struct azds_trace_asm *a, struct xh *top)
{
	size_t total = count(top, a->lim.max_hops + 1), cap = total, n;
	struct azds_trace_req req;
	/* the hops' header tables are filled only for a caller of the struct form */
	bool headers = a->emit != NULL;

	if (cap > a->lim.max_hops)
		cap = a->lim.max_hops;
	n = collect(top, a->order, 0, cap);
	for (size_t i = 0; i < n;) {
		memset(&req, 0, sizeof(req));
		scopy(req.trace_id, sizeof(req.trace_id), top->trace_id);
		for (; i < n && req.nhops < AZDS_TRACE_HOPS_MAX; i++) {
			fill(a, &a->out[req.nhops], a->order[i], top->trace_id, headers);
			a->out_src[req.nhops][0] = &a->order[i]->req;
			a->out_src[req.nhops][1] = &a->order[i]->resp;
			req.hops[req.nhops] = &a->out[req.nhops];
			req.nhops++;
		}
		a->st.hops += req.nhops;
		a->st.requests++;
		if (a->emit)
			a->emit(a->emit_ctx, &req);
		if (a->emit_packed) {
			struct tr_out b = {.p = a->pack, .cap = a->pack ? a->pack_cap : 0};
			bool hole;

			azds_tr_pack(&req, a->out_src, &b, &hole);
			a->pack = b.p;
			a->pack_cap = b.cap;
			if (!b.oom && !hole)
				a->emit_packed(a->emit_packed_ctx, &req, b.p, b.len);
		}
	}
	if (total > n)
		a->st.evicted += total - n;
}
