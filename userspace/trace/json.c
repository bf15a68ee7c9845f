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
				json_object_set_new(o, h->name, json_string(buf));
			}
			continue;
		}
		json_object_set_new(o, h->name, json_string(h->value));
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
	j = json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "id", (json_int_t)h->id,
		      "parent", (json_int_t)h->parent, "caller", h->caller, "caller_pod", h->caller_pod, "caller_space",
		      h->caller_space, "service", h->service, "pod", h->pod, "space", h->space, "asked_space",
		      h->asked_space, "reason", h->reason, "method", h->method, "target", target, "route_as",
		      h->route_as, "traceparent", h->traceparent, "status", h->status);
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
