// SPDX-License-Identifier: MIT
/* /v1/status, /v1/switches, /v1/router/restart, /v1/shutdown */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "ctl.h"
#include "tracer.h"
#include "routerd.h"

static json_t *unit_json(struct ctl *c, const char *name)
{
	static const char *const states[] = { "?", "running", "backoff", "exited", "stopped" };
	struct sup_status st;

	if (sup_status(c->sup, name, &st))
		return json_pack("{s:s}", "state", "not started");
	return json_pack("{s:s,s:i,s:i,s:o,s:o,s:s}", "state", st.state >= 1 && st.state <= 4 ? states[st.state] : "?",
			 "pid", (int)st.pid, "restarts", st.restarts, "last_exit_code",
			 st.exit_code >= 0 ? json_integer(st.exit_code) : json_null(), "last_signal",
			 st.signal ? json_integer(st.signal) : json_null(), "reason", st.reason);
}

static const struct {
	const char *name;
	__u32 bit;
} switches[] = {
	{ "kernel-lb", AZDS_CFG_KERNEL_LB },
	{ "steer", AZDS_CFG_STEER },
	{ "events", AZDS_CFG_EVENTS },
	{ "sockmap", AZDS_CFG_SOCKMAP },
	{ "trace", AZDS_CFG_TRACE },
	{ "sockmap-pods", AZDS_CFG_SOCKMAP_PODS },
};

/*
 * The local ingress (docs/ingress.md): what `azds up`'s forward connects
 * to. port 0: none asked for; listening false with error: asked for, not had.
 */
static json_t *ingress_json(struct ctl *c)
{
	bool on = c->rd_started && c->rd.ingress_fd >= 0;
	const char *err = c->rd.ingress_error[0]		     ? c->rd.ingress_error
			  : c->cfg.no_router && c->cfg.ingress_port ? "the router is disabled (--no-router)"
								    : NULL;
	char where[64];

	/* state and reason: `azds controller status` shows it as a component */
	snprintf(where, sizeof(where), "127.0.0.1:%u", c->cfg.ingress_port);
	return json_pack("{s:i,s:s,s:b,s:s?,s:s,s:s}", "port", (int)c->cfg.ingress_port, "address", "127.0.0.1",
			 "listening", on, "error", err, "state",
			 on ? "listening" : !c->cfg.ingress_port ? "disabled" : err ? "error" : "not started", "reason",
			 on ? where : err ? err : "");
}

static void status(struct ctl *c, struct httpd_resp *w)
{
	json_t *j;
	struct azds_config cfg = {};
	json_t *sw = json_object(), *counters = json_object();
	int64_t nsp = 0, nsv = 0, npo = 0;

	if (c->maps_open && azds_config_get(&c->m, &cfg) == 0)
		for (size_t i = 0; i < sizeof(switches) / sizeof(switches[0]); i++)
			json_object_set_new(sw, switches[i].name, json_boolean(cfg.flags & switches[i].bit));
	if (c->maps_open)
		for (__u32 r = 0; r < AZDS_R__COUNT; r++)
			json_object_set_new(counters, azds_reason_names[r],
					    json_integer((json_int_t)azds_dp_counter(c->m.stats, r)));
	store_space_count(c->st, &nsp);
	store_service_count(c->st, &nsv);
	store_pod_count(c->st, &npo);
	j = json_pack("{s:s,s:s,s:i,s:o,s:o,s:o,s:i,s:{s:I,s:I,s:I},s:{s:i,s:i,s:i,s:i,s:I,s:i,s:i},s:o,s:I,s:s}", "instance",
			     c->in.name, "state_dir", c->state_dir, "pid", (int)getpid(), "router",
			     c->cfg.no_router ? json_pack("{s:s}", "state", "disabled") : unit_json(c, "router"), "dns",
			     unit_json(c, "dns"), "switches", sw, "max_depth", (int)c->cfg.max_depth, "counts", "spaces",
			     (json_int_t)nsp, "services", (json_int_t)nsv, "pods", (json_int_t)npo, "limits", "spaces",
			     (int)c->cfg.max_spaces, "services", (int)c->cfg.max_services, "pods", (int)c->cfg.max_pods,
			     "depth", (int)c->cfg.max_depth, "pod_memory", (json_int_t)c->cfg.pod_limits.memory_bytes,
			     "pod_pids", (int)c->cfg.pod_limits.pids, "pod_cpu", (int)c->cfg.pod_limits.cpu_millis, "counters", counters, "reconcile_errors",
			     (json_int_t)c->reconcile_errors, "last_error", c->last_error);
	json_object_set_new(j, "ingress", ingress_json(c));
	if (c->tr)
		json_object_set_new(j, "trace", tracer_status(c->tr));
	httpd_json(w, 200, j);
}

static void set_switch(struct ctl *c, const struct httpd_req *r, const char *name, struct httpd_resp *w)
{
	struct azds_config cfg;
	json_t *body, *on;
	char key[64];
	__u32 bit = 0;

	for (size_t i = 0; i < sizeof(switches) / sizeof(switches[0]); i++)
		if (!strcmp(switches[i].name, name))
			bit = switches[i].bit;
	if (!bit) {
		httpd_error(w, 404, "no switch \"%s\" (kernel-lb, steer, events, sockmap, sockmap-pods, trace)", name);
		return;
	}
	body = api_body(r, w);
	if (!body)
		return;
	on = json_object_get(body, "on");
	if (!json_is_boolean(on)) {
		httpd_error(w, 400, "body: \"on\" must be true or false");
	} else if (!c->maps_open || azds_config_get(&c->m, &cfg)) {
		httpd_error(w, 500, "switch %s: the data plane's config cannot be read", name);
	} else {
		/* the store first: a restart applies what was acknowledged */
		snprintf(key, sizeof(key), "switch.%s", name);
		if (store_setting_set(c->st, key, json_is_true(on) ? "on" : "off")) {
			api_store_status(c, -EIO, w, "store switch");
		} else {
			if (json_is_true(on))
				cfg.flags |= bit;
			else
				cfg.flags &= ~bit;
			azds_config_set(&c->m, &cfg);
			azds_gen_bump(&c->m);
			if (bit == AZDS_CFG_TRACE)
				ctl_trace_apply(c);
			httpd_json(w, 200, json_pack("{s:s,s:b}", "switch", name, "on", json_is_true(on)));
		}
	}
	json_decref(body);
}

static void router_restart(struct ctl *c, struct httpd_resp *w)
{
	pid_t old = 0, new = 0;
	struct azds_err e;

	if (c->cfg.no_router) {
		httpd_error(w, 409, "the router is disabled (--no-router)");
		return;
	}
	if (!c->rd_started) {
		httpd_error(w, 409, "the router is not running under this controller yet (see azds controller status)");
		return;
	}
	if (routerd_restart(&c->rd, NULL, 10000, &old, &new, &e))
		httpd_error(w, 500, "restart the router: %s", e.msg);
	else
		httpd_json(w, 200, json_pack("{s:i,s:i}", "pid", (int)new, "old_pid", (int)old));
}

static void shutdown_node(struct ctl *c, const struct httpd_req *r, struct httpd_resp *w)
{
	json_t *body = r->body ? api_body(r, w) : json_object();

	if (!body)
		return;
	c->stopping = true;
	c->stop_all = json_is_true(json_object_get(body, "all"));
	json_decref(body);
	httpd_json(w, 200, json_pack("{s:s,s:b}", "status", "stopping", "all", c->stop_all));
}

void api_node(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w)
{
	/* the path first, then the method: a path it serves asked with
	 * another method gets 405 naming the one it takes */
	enum { N_STATUS, N_SWITCH, N_RESTART, N_SHUTDOWN, N_NONE } which = N_NONE;
	static const char *const method[] = { "GET", "PUT", "POST", "POST" };

	if (!strcmp(rest, "status"))
		which = N_STATUS;
	else if (!strncmp(rest, "switches/", 9))
		which = N_SWITCH;
	else if (!strcmp(rest, "router/restart"))
		which = N_RESTART;
	else if (!strcmp(rest, "shutdown"))
		which = N_SHUTDOWN;
	if (which == N_NONE) {
		httpd_error(w, 404, "no such API path \"%s\" for %s", r->path, r->method);
		return;
	}
	if (strcmp(r->method, method[which])) {
		httpd_error(w, 405, "%s %s: only %s", r->method, r->path, method[which]);
		return;
	}
	switch (which) {
	case N_STATUS: status(c, w); break;
	case N_SWITCH: set_switch(c, r, rest + 9, w); break;
	case N_RESTART: router_restart(c, w); break;
	default: shutdown_node(c, r, w); break;
	}
}
