// SPDX-License-Identifier: MIT
/* One emitted request as JSON (FIELDS.md lists the names). */
#include <math.h>
#include <string.h>

#include "asm_int.h"

static json_t *ms(__u64 from, __u64 to)
{
	double v = to >= from ? (double)(to - from) / 1e6 : 0;

	return json_real(round(v * 1000) / 1000);
}

/*
 * A JSON string of bytes a pod sent: jansson refuses invalid UTF-8 (a
 * route-as or header value of obs-text bytes), and a refused value must
 * not lose the hop: such bytes become '?'.
 */
static json_t *text(const char *v)
{
	json_t *j = json_string(v);
	char buf[AZDS_TRACE_TARGET_MAX];
	size_t i;

	if (j)
		return j;
	for (i = 0; v[i] && i < sizeof(buf) - 1; i++)
		buf[i] = (unsigned char)v[i] < 0x80 ? v[i] : '?';
	buf[i] = 0;
	return json_string(buf);
}

static json_t *headers(const struct azds_trace_msg *m)
{
	json_t *o = json_object();

	for (unsigned i = 0; o && i < m->nheaders && i < AZDS_TRACE_HEADERS_MAX; i++) {
		const struct azds_trace_header *h = &m->headers[i];
		json_t *old = json_object_get(o, h->name);

		/* a repeated field: its values in order, comma separated (RFC 9110 5.3) */
		if (old) {
			const char *ov = json_string_value(old);
			size_t ol = strlen(ov), nl = strlen(h->value);
			char buf[AZDS_TRACE_HEADERS_MAX * (AZDS_TRACE_VALUE_MAX + 2)];

			if (ol + 2 + nl < sizeof(buf)) {
				memcpy(buf, ov, ol);
				memcpy(buf + ol, ", ", 2);
				memcpy(buf + ol + 2, h->value, nl + 1);
				json_object_set_new(o, h->name, text(buf));
			}
			continue;
		}
		json_object_set_new(o, h->name, text(h->value));
	}
	return o;
}

static json_t *hop_json(const struct azds_trace_hop *h, const struct azds_trace_json_opts *o)
{
	char target[AZDS_TRACE_TARGET_MAX];
	char *q;
	json_t *j;

	memcpy(target, h->target, sizeof(target));
	target[sizeof(target) - 1] = 0;
	if (!o->show_query && (q = strchr(target, '?')))
		*q = 0;
	j = json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:I}", "id", (json_int_t)h->id,
		      "parent", (json_int_t)h->parent, "caller", text(h->caller), "caller_pod", text(h->caller_pod),
		      "caller_space", text(h->caller_space), "service", text(h->service), "pod", text(h->pod), "space",
		      text(h->space), "asked_space", text(h->asked_space), "reason", text(h->reason), "method",
		      text(h->method), "target", text(target), "route_as", text(h->route_as), "traceparent",
		      text(h->traceparent), "status", h->status, "start_ms",
		      (json_int_t)(((__s64)h->start_ns + o->mono_to_unix_ns) / 1000000));
	if (!j)
		return NULL;
	json_object_set_new(j, "duration_ms", ms(h->start_ns, h->end_ns));
	json_object_set_new(j, "server_ms",
			    h->server_start_ns ? ms(h->server_start_ns, h->server_end_ns) : json_null());
	json_object_set_new(j, "req_bytes", json_integer((json_int_t)h->req_bytes));
	json_object_set_new(j, "resp_bytes", json_integer((json_int_t)h->resp_bytes));
	json_object_set_new(j, "truncated", json_boolean(h->truncated || h->req.truncated || h->resp.truncated));
	json_object_set_new(j, "request_headers", headers(&h->req));
	json_object_set_new(j, "response_headers", headers(&h->resp));
	return j;
}

json_t *azds_trace_req_json(const struct azds_trace_req *req, const struct azds_trace_json_opts *o)
{
	static const struct azds_trace_json_opts dflt;
	json_t *j, *hops;
	__s64 t = 0;

	if (!req)
		return NULL;
	if (!o)
		o = &dflt;
	if (req->nhops && req->hops[0])
		t = ((__s64)req->hops[0]->start_ns + o->mono_to_unix_ns) / 1000000;
	hops = json_array();
	j = json_pack("{s:s,s:I,s:o}", "trace_id", req->trace_id, "time", (json_int_t)t, "hops", hops);
	if (!j)
		return NULL;
	for (unsigned i = 0; i < req->nhops && i < AZDS_TRACE_HOPS_MAX; i++) {
		json_t *h = req->hops[i] ? hop_json(req->hops[i], o) : NULL;

		if (!h || json_array_append_new(hops, h) < 0) {
			json_decref(j);
			return NULL;
		}
	}
	return j;
}
