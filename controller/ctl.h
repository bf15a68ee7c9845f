/* SPDX-License-Identifier: MIT */
/*
 * The controller daemon's shared state: the store (truth), the runtime
 * (how the node is changed), the supervisor (what runs), the API server.
 */
#ifndef AZDS_CTL_H
#define AZDS_CTL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include "azds.h"
#include "httpd.h"
#include "store.h"
#include "supervise.h"
#include "routerd.h"

#define CTL_DEFAULT_SPACE "default"
#define CTL_RESERVED_SPACE "azds"
#define CTL_UID_BASE 1000000000u /* pods run as host uids from here, each used once */
#define CTL_UID_MAX 2000000000u
#define CTL_MAX_ROUTER_ARGS 32

struct ctl_cfg {
	uint32_t max_depth;   /* levels of a space path */
	uint32_t max_spaces;
	uint32_t max_services; /* (space, service) pairs */
	uint32_t max_pods;
	uint32_t max_vips;
	uint32_t router_workers; /* 0: one per CPU */
	uint32_t ingress_port;   /* the local ingress on 127.0.0.1 (docs/ingress.md); 0: none */
	bool no_kernel_lb, no_sockmap, no_router, verbose;
	char group[64];       /* the API socket's group */
	struct st_limits pod_limits; /* a pod's limits unless it gives its own */
	char *router_args[CTL_MAX_ROUTER_ARGS + 1]; /* NULL-terminated */
	int nrouter_args;
};

struct runtime_ops;

struct ctl {
	struct azds_inst in;
	struct ctl_cfg cfg;
	char state_dir[256]; /* /var/lib/azds/<instance> */
	char bin_dir[PATH_MAX];
	char self_exe[PATH_MAX];
	struct store *st;
	struct sup *sup;
	struct httpd *api;
	struct azds_maps m;
	bool maps_open;
	const struct runtime_ops *rt;
	struct routerd rd;
	bool rd_started;
	struct tracer *tr; /* azds trace's reader (tracer.h) */
	int epfd, sigfd, lockfd;
	bool stopping, stop_all;
	bool dns_dirty;
	int64_t dns_dirty_since;
	bool ready; /* the first reconcile finished */
	uint64_t reconcile_errors;
	char last_error[AZDS_ERRMAX];
};

/* trace.c glue (api_traces.c): the capture follows the "trace" switch and
 * the spaces switched off (settings "trace-off:<path>") */
void ctl_trace_apply(struct ctl *c);
bool ctl_trace_space_on(struct ctl *c, const char *path);
void api_traces(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w);

/* api.c: the request router */
void api_handle(void *ctx, const struct httpd_req *r, struct httpd_resp *w);
/* per-resource handlers (api_*.c); rest: the path after the resource */
void api_spaces(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w);
void api_selection(struct ctl *c, const struct httpd_req *r, struct httpd_resp *w);
void api_services(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w);
void api_pods(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w);
void api_node(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w);
void api_pod_logs(struct ctl *c, const struct httpd_req *r, const char *name, struct httpd_resp *w);

/* helpers shared by the handlers (api.c) */
int api_default_limits(const char *mem, const char *pids, const char *cpu, struct st_limits *out);
json_t *api_body(const struct httpd_req *r, struct httpd_resp *w); /* NULL: w holds the 400 */
int api_store_status(struct ctl *c, int err, struct httpd_resp *w, const char *what);
int api_space_depth(const char *path);
json_t *api_space_json(struct ctl *c, const struct st_space *sp, uid_t uid);
json_t *api_service_json(struct ctl *c, const struct st_service *s);
json_t *api_pod_json(struct ctl *c, const struct st_pod *p, const struct st_pod_status *st);
const char *api_phase_name(int phase);

/* reconcile.c: bring the node to the store */
int reconcile_all(struct ctl *c);                    /* at start: everything, orphans removed */
int reconcile_space(struct ctl *c, const char *path, struct azds_err *e);
int reconcile_space_gone(struct ctl *c, const char *path, struct azds_err *e);
int reconcile_service(struct ctl *c, const char *space, const char *name, struct azds_err *e);
int reconcile_service_gone(struct ctl *c, const char *space, const char *name, struct azds_err *e);
int reconcile_pod(struct ctl *c, const char *name, struct azds_err *e);
int reconcile_pod_gone(struct ctl *c, const char *name, struct azds_err *e);
void reconcile_dns_later(struct ctl *c);
void reconcile_dns_flush(struct ctl *c, bool force);
int reconcile_router(struct ctl *c, struct azds_err *e);

/* supervisor events -> store */
void ctl_on_unit(void *ctx, const char *name, const struct sup_status *st);
void ctl_pod_log_path(const struct ctl *c, const char *pod, char *buf, size_t len);
void ctl_pod_dir(const struct ctl *c, const char *pod, char *buf, size_t len);
/* what pod deletions left in <state>/trash (a crash mid-removal): removed by a thread */
void ctl_trash_sweep(struct ctl *c);
/* dir renamed into <state>/trash at once (name: a label for it there) and
 * removed, whatever its depth or size, by that thread (pods, workspaces) */
void ctl_remove_later(struct ctl *c, const char *dir, const char *name);
void ctl_workdir_release(struct ctl *c, const struct st_pod *p);

/* daemon.c */
int ctl_run(int argc, char **argv, const char *self_exe, const char *bin_dir);

#endif
