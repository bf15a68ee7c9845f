// SPDX-License-Identifier: MIT
/* The API's request router and the helpers its handlers share. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "ctl.h"
#include "api_sync.h"

void api_handle(void *ctx, const struct httpd_req *r, struct httpd_resp *w)
{
	struct ctl *c = ctx;
	const char *p = r->path;

	if (strncmp(p, "/v1/", 4)) {
		httpd_error(w, 404, "no such API path \"%s\" (this daemon serves /v1/...)", p);
		return;
	}
	p += 4;
	if (!strcmp(p, "healthz")) {
		if (strcmp(r->method, "GET")) {
			httpd_error(w, 405, "%s /v1/healthz: only GET", r->method);
			return;
		}
		if (!c->ready) {
			httpd_error(w, 503, "starting: the first reconcile has not finished");
			return;
		}
		httpd_json(w, 200, json_pack("{s:s,s:s,s:i,s:i}", "status", c->stopping ? "stopping" : "ok", "instance",
					     c->in.name, "schema", store_schema_version(c->st), "pid", (int)getpid()));
		return;
	}
	if (c->stopping && strcmp(r->method, "GET")) {
		httpd_error(w, 503, "the controller is shutting down");
		return;
	}
	if (!strcmp(p, "spaces") || !strncmp(p, "spaces/", 7))
		api_spaces(c, r, p[6] ? p + 7 : "", w);
	else if (!strcmp(p, "selection"))
		api_selection(c, r, w);
	else if (!strcmp(p, "services") || !strncmp(p, "services/", 9))
		api_services(c, r, p[8] ? p + 9 : "", w);
	else if (!strcmp(p, "pods") || !strncmp(p, "pods/", 5))
		api_pods(c, r, p[4] ? p + 5 : "", w);
	else if (!strcmp(p, "traces") || !strncmp(p, "traces/", 7))
		api_traces(c, r, p[6] ? p + 7 : "", w);
	else if (!strcmp(p, "workspaces") || !strncmp(p, "workspaces/", 11))
		api_workspaces(c, r, p[10] ? p + 11 : "", w);
	else
		api_node(c, r, p, w);
}

json_t *api_body(const struct httpd_req *r, struct httpd_resp *w)
{
	json_error_t je;
	json_t *j;

	if (!r->body) {
		httpd_error(w, 400, "%s %s: a JSON body is required", r->method, r->path);
		return NULL;
	}
	j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		httpd_error(w, 400, "body: invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		httpd_error(w, 400, "body: must be a JSON object");
		return NULL;
	}
	return j;
}

/* a store failure as an answer; returns the status */
int api_store_status(struct ctl *c, int err, struct httpd_resp *w, const char *what)
{
	int status = err == -ENOENT ? 404 : err == -EEXIST || err == -ENOTEMPTY ? 409 : err == -ENAMETOOLONG ? 400 : 500;

	httpd_error(w, status, "%s: %s", what, store_errmsg(c->st));
	return status;
}

int api_space_depth(const char *path)
{
	int d = 1;

	for (; *path; path++)
		d += *path == '/';
	return d;
}

struct counts {
	int n;
};

static int count_pod(void *ctx, const struct st_pod *p, const struct st_pod_status *st)
{
	(void)p;
	(void)st;
	((struct counts *)ctx)->n++;
	return 0;
}

static int count_svc(void *ctx, const struct st_service *s)
{
	(void)s;
	((struct counts *)ctx)->n++;
	return 0;
}

json_t *api_space_json(struct ctl *c, const struct st_space *sp, uid_t uid)
{
	char sel[ST_PATH_MAX];
	json_t *labels = json_object();
	struct counts pods = { 0 }, svcs = { 0 };

	for (int i = 0; i < sp->nlabels; i++)
		json_object_set_new(labels, sp->labels[i].key, json_string(sp->labels[i].value));
	if (store_selection_get(c->st, uid, sel, sizeof(sel)))
		strcpy(sel, CTL_DEFAULT_SPACE);
	store_pod_each(c->st, sp->path, count_pod, &pods);
	store_service_each(c->st, sp->path, count_svc, &svcs);
	return json_pack("{s:s,s:s,s:i,s:I,s:o,s:b,s:i,s:i}", "name", sp->path, "parent", sp->parent, "depth",
			 api_space_depth(sp->path), "created", (json_int_t)sp->created, "labels", labels, "selected",
			 !strcmp(sel, sp->path), "pods", pods.n, "services", svcs.n);
}

const char *api_phase_name(int phase)
{
	static const char *const names[] = { "Pending", "Running", "BackOff", "Succeeded", "Failed", "Stopped" };

	return phase >= 0 && phase <= ST_PHASE_STOPPED ? names[phase] : "Unknown";
}
