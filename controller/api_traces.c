// SPDX-License-Identifier: MIT
/*
 * /v1/traces (docs/trace.md, docs/api.md): the requests the trace reader
 * assembled, per-space capture switches, and what keeps the capture in
 * step with them (ctl_trace_apply).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctl.h"
#include "tracer.h"
#include "dataplane.h"

#define TRACES_WAIT_MS 10000  /* a follow request waits this long for something */
#define TRACES_LIMIT 1000     /* requests per answer unless ?limit= */
#define TRACES_LIMIT_MAX 10000
#define OFF_PREFIX "trace-off:"

struct off_ctx {
	struct ctl *c;
	__u32 ids[AZDS_TRACE_DEF_MAX_OFF];
	unsigned n;
};

static int collect_off(void *ctx, const char *key, const char *value)
{
	struct off_ctx *x = ctx;
	const char *path = key + strlen(OFF_PREFIX);
	__u32 id;

	(void)value;
	if (strncmp(key, OFF_PREFIX, strlen(OFF_PREFIX)))
		return 0;
	/* not in the maps (yet: a first reconcile that failed, a reboot):
	 * skipped, never forgotten; remove_space deletes a removed space's */
	if (!x->c->maps_open || azds_space_lookup(&x->c->m, path, &id, NULL))
		return 0;
	if (x->n < AZDS_TRACE_DEF_MAX_OFF)
		x->ids[x->n++] = id;
	return 0;
}

void ctl_trace_apply(struct ctl *c)
{
	struct off_ctx *x = calloc(1, sizeof(*x));
	struct azds_config cfg = {};
	int64_t spaces = 0;
	bool on;

	if (!x || !c->tr) {
		free(x);
		return;
	}
	x->c = c;
	store_setting_each(c->st, collect_off, x);
	store_space_count(c->st, &spaces);
	on = c->maps_open && azds_config_get(&c->m, &cfg) == 0 && (cfg.flags & AZDS_CFG_TRACE);
	/* every space switched off: the programs come off too, and cost nothing */
	tracer_set(c->tr, on && (int64_t)x->n < spaces, x->ids, x->n);
	free(x);
}

bool ctl_trace_space_on(struct ctl *c, const char *path)
{
	char key[ST_PATH_MAX + 16], val[8];

	snprintf(key, sizeof(key), OFF_PREFIX "%s", path);
	return store_setting_get(c->st, key, val, sizeof(val)) != 0;
}

/* PUT /v1/traces/spaces/{path} {"on":bool}; GET the same */
static void space_switch(struct ctl *c, const struct httpd_req *r, const char *path, struct httpd_resp *w)
{
	struct st_space sp;
	char key[ST_PATH_MAX + 16];
	json_t *body, *on;
	int err;

	if (strlen(path) >= ST_PATH_MAX || store_space_get(c->st, path, &sp)) {
		httpd_error(w, 404, "space \"%s\" does not exist", path);
		return;
	}
	if (!strcmp(r->method, "GET")) {
		httpd_json(w, 200, json_pack("{s:s,s:b}", "space", path, "on", ctl_trace_space_on(c, path)));
		return;
	}
	if (strcmp(r->method, "PUT")) {
		httpd_error(w, 405, "%s /v1/traces/spaces/%s: use GET or PUT", r->method, path);
		return;
	}
	body = api_body(r, w);
	if (!body)
		return;
	on = json_object_get(body, "on");
	if (!json_is_boolean(on) || json_object_size(body) != 1) {
		json_decref(body);
		httpd_error(w, 400, "body: {\"on\": true|false} expected");
		return;
	}
	snprintf(key, sizeof(key), OFF_PREFIX "%s", path);
	err = json_is_true(on) ? store_setting_remove(c->st, key) : store_setting_set(c->st, key, "1");
	if (err == -ENOENT)
		err = 0; /* it was on already */
	if (err) {
		json_decref(body);
		api_store_status(c, err, w, "store the trace switch");
		return;
	}
	ctl_trace_apply(c);
	httpd_json(w, 200, json_pack("{s:s,s:b}", "space", path, "on", json_is_true(on)));
	json_decref(body);
}

/* GET /v1/traces?after=N&follow=true&space=&service=&status=&method=&query=true&limit=N */
static void list(struct ctl *c, const struct httpd_req *r, struct httpd_resp *w)
{
	const char *after_s = httpd_query(r, "after"), *status = httpd_query(r, "status");
	const char *limit_s = httpd_query(r, "limit"), *method = httpd_query(r, "method");
	struct tracer_filter f = { .space = httpd_query(r, "space"), .service = httpd_query(r, "service"),
				   .method = method, .show_query = httpd_query_true(r, "query") };
	uint64_t after, limit = TRACES_LIMIT, next, missed;
	struct st_space sp;
	char *items = NULL, *tail;
	size_t n, ilen = 0;
	json_t *j, *st;

	if (after_s && !httpd_parse_u64(after_s, &after)) {
		httpd_error(w, 400, "after=\"%s\": a sequence number expected (the \"next\" of the last answer)", after_s);
		return;
	}
	if (!after_s)
		after = tracer_head(c->tr); /* from now on: answered at once, with where "now" is */
	if (limit_s && (!httpd_parse_u64(limit_s, &limit) || limit == 0 || limit > TRACES_LIMIT_MAX)) {
		httpd_error(w, 400, "limit=\"%s\": 1 to %d", limit_s, TRACES_LIMIT_MAX);
		return;
	}
	if (status) {
		size_t n = strlen(status);

		if (n == 3 && status[0] >= '1' && status[0] <= '5' && (status[1] == 'x' || status[1] == 'X') &&
		    (status[2] == 'x' || status[2] == 'X'))
			f.status_class = status[0] - '0';
		else if (n == 3 && isdigit((unsigned char)status[0]) && isdigit((unsigned char)status[1]) &&
			 isdigit((unsigned char)status[2]) && atoi(status) >= 100 && atoi(status) <= 599)
			f.status = atoi(status);
		else {
			httpd_error(w, 400, "status=\"%s\": a status (404) or a class (5xx) expected", status);
			return;
		}
	}
	if (method) {
		size_t n = strlen(method);
		bool ok = n > 0 && n < 16;

		for (size_t i = 0; ok && i < n; i++)
			ok = isupper((unsigned char)method[i]);
		if (!ok) {
			httpd_error(w, 400, "method=\"%s\": an upper-case method (GET, POST...) expected", method);
			return;
		}
	}
	if (f.space && (strlen(f.space) >= ST_PATH_MAX || store_space_get(c->st, f.space, &sp))) {
		httpd_error(w, 404, "space \"%s\" does not exist", f.space);
		return;
	}
	n = tracer_query(c->tr, after, &f, (size_t)limit, &items, &ilen, &next, &missed);
	/* wait for something new, but not while the scan moved far past
	 * what the filter skipped (the next call would rescan it all, and
	 * what scrolls out of the ring is not the reader's loss) */
	if (!n && !missed && after_s && httpd_query_true(r, "follow") && !c->stopping && next - after < TRACER_KEEP / 2 &&
	    !(r->parked_since_ms && httpd_now_ms() - r->parked_since_ms >= TRACES_WAIT_MS)) {
		free(items);
		w->park = true;
		return;
	}
	/* the requests are kept as JSON text: the answer is spliced, not
	 * built and serialized again */
	st = tracer_status(c->tr);
	j = json_pack("{s:I,s:I,s:O,s:O,s:O,s:O,s:O}", "next", (json_int_t)next, "missed", (json_int_t)missed,
		      "dropped", json_object_get(st, "dropped"), "decisions_missed",
		      json_object_get(st, "decisions_missed"), "state", json_object_get(st, "state"), "reason",
		      json_object_get(st, "reason"), "pauses", json_object_get(st, "pauses"));
	json_decref(st);
	tail = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(j);
	if (!tail || asprintf(&w->raw, "{\"items\":[%s],%s\n", items ? items : "", tail + 1) < 0) {
		w->raw = NULL;
		free(items);
		free(tail);
		httpd_error(w, 500, "out of memory for the answer");
		return;
	}
	free(items);
	free(tail);
	w->raw_len = strlen(w->raw);
	w->content_type = "application/json";
	w->status = 200;
}

void api_traces(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w)
{
	if (!c->tr) {
		httpd_error(w, 503, "the trace reader is not running");
		return;
	}
	if (!*rest) {
		if (strcmp(r->method, "GET")) {
			httpd_error(w, 405, "%s /v1/traces: only GET", r->method);
			return;
		}
		list(c, r, w);
	} else if (!strcmp(rest, "status") && !strcmp(r->method, "GET")) {
		httpd_json(w, 200, tracer_status(c->tr));
	} else if (!strncmp(rest, "spaces/", 7) && rest[7]) {
		space_switch(c, r, rest + 7, w);
	} else {
		httpd_error(w, 404, "no such API path \"%s\" (/v1/traces, /v1/traces/status, /v1/traces/spaces/P)",
			    r->path);
	}
}
