// SPDX-License-Identifier: MIT
/* /v1/spaces and /v1/selection: the space rules live here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctl.h"
#include "api_sync.h"

/* Is path a space the caller may create? 0, or w holds the answer. */
static int space_check(struct ctl *c, const char *path, struct httpd_resp *w)
{
	struct azds_err e;
	struct st_space parent;
	char ppath[ST_PATH_MAX];
	const char *slash, *p;
	int64_t n = 0;
	int err;

	if (azds_space_path_valid(path, &e)) {
		httpd_error(w, 400, "%s", e.msg);
		return -EINVAL;
	}
	for (p = path; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
		if (!strncmp(p, CTL_RESERVED_SPACE, strlen(CTL_RESERVED_SPACE)) &&
		    (p[strlen(CTL_RESERVED_SPACE)] == '/' || !p[strlen(CTL_RESERVED_SPACE)])) {
			httpd_error(w, 400, "space \"%s\": the name \"%s\" is reserved", path, CTL_RESERVED_SPACE);
			return -EINVAL;
		}
	if ((uint32_t)api_space_depth(path) > c->cfg.max_depth) {
		httpd_error(w, 400, "space \"%s\": %d levels deep; the limit is %u (azds controller start --max-depth)",
			    path, api_space_depth(path), c->cfg.max_depth);
		return -ERANGE;
	}
	slash = strrchr(path, '/');
	if (slash) {
		snprintf(ppath, sizeof(ppath), "%.*s", (int)(slash - path), path);
		if (store_space_get(c->st, ppath, &parent)) {
			httpd_error(w, 404, "space \"%s\": parent \"%s\" does not exist; create it first", path, ppath);
			return -ENOENT;
		}
	}
	err = store_space_count(c->st, &n);
	if (!err && n >= (int64_t)c->cfg.max_spaces) {
		httpd_error(w, 409, "space \"%s\": the node has %lld spaces, the limit (azds controller start --max-spaces)",
			    path, (long long)n);
		return -ENOSPC;
	}
	return 0;
}

static void parent_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	snprintf(buf, len, "%.*s", slash ? (int)(slash - path) : 0, path);
}

/* Create one space: checked, committed, applied. 201, 200 (existed) or an error in w. */
static int space_create(struct ctl *c, const char *path, bool *created, struct httpd_resp *w)
{
	char parent[ST_PATH_MAX];
	struct st_space sp;
	struct azds_err e;
	int err;

	*created = false;
	if (strlen(path) < ST_PATH_MAX && store_space_get(c->st, path, &sp) == 0)
		return 0;
	if (space_check(c, path, w))
		return -EINVAL;
	parent_of(path, parent, sizeof(parent));
	err = store_space_add(c->st, path, parent);
	if (err) {
		api_store_status(c, err, w, "create space");
		return err;
	}
	*created = true;
	err = reconcile_space(c, path, &e);
	if (err) {
		/* a space the node cannot have is not kept */
		store_space_remove(c->st, path);
		reconcile_space_gone(c, path, &e);
		httpd_error(w, err == -E2BIG || err == -ENOSPC ? 409 : 500, "%s", e.msg);
		return err;
	}
	reconcile_dns_later(c);
	return 0;
}

/*
 * space_create in a transaction of its own: the row is committed only once
 * the node has the space, so a crash in between leaves nothing stored (the
 * next start removes what the node got); a refused space is never stored.
 */
static int space_create_tx(struct ctl *c, const char *path, bool *created, struct httpd_resp *w)
{
	struct azds_err e;
	int err = store_begin(c->st);

	if (err) {
		api_store_status(c, err, w, "create space");
		return err;
	}
	err = space_create(c, path, created, w);
	if (err) {
		store_rollback(c->st);
		return err;
	}
	err = store_commit(c->st);
	if (err) {
		if (*created)
			reconcile_space_gone(c, path, &e);
		api_store_status(c, err, w, "create space");
	}
	return err;
}

struct each_ctx {
	struct ctl *c;
	uid_t uid;
	json_t *items;
};

static int add_space(void *ctx, const struct st_space *sp)
{
	struct each_ctx *x = ctx;

	json_array_append_new(x->items, api_space_json(x->c, sp, x->uid));
	return 0;
}

static void list(struct ctl *c, const struct httpd_req *r, struct httpd_resp *w)
{
	struct each_ctx x = { c, r->uid, json_array() };
	int err = store_space_each(c->st, add_space, &x);

	if (err) {
		json_decref(x.items);
		api_store_status(c, err, w, "list spaces");
		return;
	}
	httpd_json(w, 200, json_pack("{s:o}", "items", x.items));
}

static void create(struct ctl *c, const struct httpd_req *r, struct httpd_resp *w)
{
	json_t *body = api_body(r, w), *items, *out;
	struct st_space sp;
	bool any = false;
	size_t i;

	if (!body)
		return;
	items = json_object_get(body, "items");
	if (!items) {
		const char *name = json_string_value(json_object_get(body, "name"));
		bool created;

		if (!name) {
			httpd_error(w, 400, "body: \"name\" (a space path such as \"dev/alice\") is required");
		} else if (space_create_tx(c, name, &created, w) == 0 && store_space_get(c->st, name, &sp) == 0) {
			if (created)
				ctl_trace_apply(c); /* with every space switched off, capture was off */
			httpd_json(w, created ? 201 : 200, api_space_json(c, &sp, r->uid));
		}
		json_decref(body);
		return;
	}
	if (!json_is_array(items)) {
		httpd_error(w, 400, "body: \"items\" must be an array of spaces");
		json_decref(body);
		return;
	}
	/* one transaction for the batch: one commit (one fsync) for all */
	if (store_begin(c->st)) {
		api_store_status(c, -EIO, w, "create spaces");
		json_decref(body);
		return;
	}
	out = json_array();
	for (i = 0; i < json_array_size(items); i++) {
		json_t *it = json_array_get(items, i);
		const char *name = json_string_value(json_object_get(it, "name"));
		bool created;

		if (!name) {
			httpd_error(w, 400, "items[%zu]: \"name\" is required", i);
			break;
		}
		if (space_create(c, name, &created, w))
			break;
		any |= created;
		json_array_append_new(out, json_string(name));
	}
	if (w->status && w->status >= 400) {
		/* nothing of a refused batch is kept: undo what the node got */
		store_rollback(c->st);
		for (size_t k = json_array_size(out); k-- > 0;) {
			struct azds_err e;
			const char *p = json_string_value(json_array_get(out, k));

			if (store_space_get(c->st, p, &sp) == -ENOENT)
				reconcile_space_gone(c, p, &e);
		}
		json_decref(out);
	} else if (store_commit(c->st)) {
		api_store_status(c, -EIO, w, "create spaces");
		json_decref(out);
	} else {
		if (any)
			ctl_trace_apply(c);
		httpd_json(w, any ? 201 : 200, json_pack("{s:o}", "items", out));
	}
	json_decref(body);
}

struct subtree {
	const char *root;
	size_t rlen;
	char (*v)[ST_PATH_MAX];
	size_t n, cap;
};

static int collect_subtree(void *ctx, const struct st_space *sp)
{
	struct subtree *t = ctx;

	if (strcmp(sp->path, t->root) && (strncmp(sp->path, t->root, t->rlen) || sp->path[t->rlen] != '/'))
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		void *nv = realloc(t->v, cap * sizeof(*t->v));

		if (!nv)
			return 1;
		t->v = nv;
		t->cap = cap;
	}
	snprintf(t->v[t->n++], ST_PATH_MAX, "%s", sp->path);
	return 0;
}

struct objs {
	char (*v)[ST_NAME_MAX];
	size_t n, cap;
};

static int objs_add(struct objs *o, const char *name)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		void *nv = realloc(o->v, cap * sizeof(*o->v));

		if (!nv)
			return 1;
		o->v = nv;
		o->cap = cap;
	}
	snprintf(o->v[o->n++], ST_NAME_MAX, "%s", name);
	return 0;
}

struct lent {
	char dir[ST_PATH_MAX * 2];
	char name[ST_NAME_MAX];
	uint32_t uid;
};

struct lents {
	struct lent *v;
	size_t n, cap;
};

static struct lents lent_dirs; /* of the pods a space removal takes, until the node let them go */

static int collect_pod(void *ctx, const struct st_pod *p, const struct st_pod_status *st)
{
	(void)st;
	if (p->workdir[0]) {
		if (lent_dirs.n == lent_dirs.cap) {
			size_t cap = lent_dirs.cap ? lent_dirs.cap * 2 : 8;
			void *nv = realloc(lent_dirs.v, cap * sizeof(*lent_dirs.v));

			if (!nv)
				return 1;
			lent_dirs.v = nv;
			lent_dirs.cap = cap;
		}
		snprintf(lent_dirs.v[lent_dirs.n].dir, sizeof(lent_dirs.v[0].dir), "%s", p->workdir);
		snprintf(lent_dirs.v[lent_dirs.n].name, sizeof(lent_dirs.v[0].name), "%s", p->name);
		lent_dirs.v[lent_dirs.n++].uid = p->uid;
	}
	return objs_add(ctx, p->name);
}

static int collect_svc(void *ctx, const struct st_service *s)
{
	return objs_add(ctx, s->name);
}

static void remove_space(struct ctl *c, const struct httpd_req *r, const char *path, struct httpd_resp *w)
{
	struct subtree t = { .root = path, .rlen = strlen(path) };
	struct st_space sp;
	struct azds_err e;
	json_t *removed;
	int err;

	if (!strcmp(path, CTL_DEFAULT_SPACE)) {
		httpd_error(w, 409, "space \"default\" always exists and cannot be removed");
		return;
	}
	err = strlen(path) < ST_PATH_MAX ? store_space_get(c->st, path, &sp) : -ENOENT;
	if (err) {
		httpd_error(w, 404, "space \"%s\" does not exist", path);
		return;
	}
	store_space_each(c->st, collect_subtree, &t);
	if (t.n > 1 && !httpd_query_true(r, "recursive")) {
		/* the whole subtree counts: a grandchild goes with the rest */
		char more[48] = "";

		if (t.n > 2)
			snprintf(more, sizeof(more), " and %zu more", t.n - 2);
		httpd_error(w, 409, "space \"%s\" has %zu space%s under it (%s%s); remove them first or pass --recursive",
			    path, t.n - 1, t.n == 2 ? "" : "s", t.v[1], more);
		free(t.v);
		return;
	}
	/* deepest first; each space's pods, then services, then itself.
	 * The store changes in one transaction; the node follows */
	for (size_t i = 0; i + 1 < t.n; i++)
		for (size_t j = i + 1; j < t.n; j++)
			if (api_space_depth(t.v[j]) > api_space_depth(t.v[i])) {
				char tmp[ST_PATH_MAX];

				memcpy(tmp, t.v[i], sizeof(tmp));
				memcpy(t.v[i], t.v[j], sizeof(tmp));
				memcpy(t.v[j], tmp, sizeof(tmp));
			}
	struct objs *pods = calloc(t.n, sizeof(*pods)), *svcs = calloc(t.n, sizeof(*svcs));
	int64_t *ids = calloc(t.n, sizeof(*ids)); /* for their workspaces, once the store let them go */

	for (size_t i = 0; ids && i < t.n; i++) {
		struct st_space one;

		ids[i] = store_space_get(c->st, t.v[i], &one) == 0 ? one.id : 0;
	}
	removed = json_array();
	err = pods && svcs ? store_begin(c->st) : -ENOMEM;
	for (size_t i = 0; !err && i < t.n; i++) {
		store_pod_each(c->st, t.v[i], collect_pod, &pods[i]);
		store_service_each(c->st, t.v[i], collect_svc, &svcs[i]);
		for (size_t k = 0; !err && k < pods[i].n; k++)
			err = store_pod_remove(c->st, pods[i].v[k]);
		for (size_t k = 0; !err && k < svcs[i].n; k++)
			err = store_service_remove(c->st, t.v[i], svcs[i].v[k]);
		if (!err)
			err = store_selection_clear_space(c->st, t.v[i]);
		if (!err)
			err = store_space_remove(c->st, t.v[i]);
	}
	if (!err)
		err = store_commit(c->st);
	if (err) {
		store_rollback(c->st);
		api_store_status(c, err, w, "remove space");
		json_decref(removed);
		removed = NULL;
	}
	for (size_t i = 0; removed && i < t.n; i++) {
		for (size_t k = 0; k < pods[i].n; k++)
			if (reconcile_pod_gone(c, pods[i].v[k], &e))
				fprintf(stderr, "azds-controller: %s\n", e.msg);
		for (size_t k = 0; k < svcs[i].n; k++)
			if (reconcile_service_gone(c, t.v[i], svcs[i].v[k], &e))
				fprintf(stderr, "azds-controller: %s\n", e.msg);
		if (reconcile_space_gone(c, t.v[i], &e))
			fprintf(stderr, "azds-controller: %s\n", e.msg);
		if (ids && ids[i])
			api_workspaces_space_gone(c, ids[i]);
		{
			/* a later space of the same path is traced again */
			char key[ST_PATH_MAX + 16];

			snprintf(key, sizeof(key), "trace-off:%s", t.v[i]);
			store_setting_remove(c->st, key);
		}
		json_array_append_new(removed, json_string(t.v[i]));
	}
	for (size_t i = 0; removed && i < lent_dirs.n; i++) {
		struct st_pod lp = { .uid = lent_dirs.v[i].uid };

		snprintf(lp.name, sizeof(lp.name), "%s", lent_dirs.v[i].name);
		snprintf(lp.workdir, sizeof(lp.workdir), "%s", lent_dirs.v[i].dir);
		ctl_workdir_release(c, &lp);
	}
	lent_dirs.n = 0;
	if (removed)
		ctl_trace_apply(c);
	for (size_t i = 0; i < t.n && pods && svcs; i++) {
		free(pods[i].v);
		free(svcs[i].v);
	}
	free(pods);
	free(svcs);
	free(ids);
	free(t.v);
	if (removed) {
		reconcile_dns_later(c);
		httpd_json(w, 200, json_pack("{s:o}", "removed", removed));
	}
}

void api_spaces(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w)
{
	struct st_space sp;

	if (!*rest) {
		if (!strcmp(r->method, "GET"))
			list(c, r, w);
		else if (!strcmp(r->method, "POST"))
			create(c, r, w);
		else
			httpd_error(w, 405, "%s /v1/spaces: use GET or POST", r->method);
		return;
	}
	if (!strcmp(r->method, "GET")) {
		if (strlen(rest) >= ST_PATH_MAX || store_space_get(c->st, rest, &sp))
			httpd_error(w, 404, "space \"%s\" does not exist", rest);
		else
			httpd_json(w, 200, api_space_json(c, &sp, r->uid));
	} else if (!strcmp(r->method, "DELETE")) {
		remove_space(c, r, rest, w);
	} else {
		httpd_error(w, 405, "%s /v1/spaces/%s: use GET or DELETE", r->method, rest);
	}
}

void api_selection(struct ctl *c, const struct httpd_req *r, struct httpd_resp *w)
{
	char sel[ST_PATH_MAX];
	struct st_space sp;

	if (!strcmp(r->method, "GET")) {
		if (store_selection_get(c->st, r->uid, sel, sizeof(sel)) || store_space_get(c->st, sel, &sp))
			strcpy(sel, CTL_DEFAULT_SPACE);
		httpd_json(w, 200, json_pack("{s:s}", "space", sel));
		return;
	}
	if (strcmp(r->method, "PUT")) {
		httpd_error(w, 405, "%s /v1/selection: use GET or PUT", r->method);
		return;
	}
	json_t *body = api_body(r, w);
	const char *path;
	bool created = false;
	int err;

	if (!body)
		return;
	path = json_string_value(json_object_get(body, "space"));
	if (!path) {
		httpd_error(w, 400, "body: \"space\" (a space path) is required");
	} else if (strlen(path) >= ST_PATH_MAX || store_space_get(c->st, path, &sp)) {
		if (!json_is_true(json_object_get(body, "create"))) {
			if (space_check(c, path, w) == 0)
				httpd_error(w, 404, "space \"%s\" does not exist (select with -y to create it)", path);
		} else if (space_create_tx(c, path, &created, w) == 0) {
			goto select;
		}
	} else {
select:
		err = store_selection_set(c->st, r->uid, path);
		if (err)
			api_store_status(c, err, w, "select space");
		else
			httpd_json(w, 200, json_pack("{s:s,s:b}", "space", path, "created", created));
	}
	json_decref(body);
}
