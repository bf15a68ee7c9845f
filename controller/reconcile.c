// SPDX-License-Identifier: MIT
/*
 * The reconciler: the one place that brings the node to the store. At
 * start, reconcile_all() applies every stored object and removes what the
 * node has that the store does not (a crash between a commit and its
 * application, a reboot, a daemon that ran without the controller). After
 * each committed change the API calls the reconcile_* step for the object
 * it changed: the same operations, scoped. Every step is idempotent.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "node.h"
#include "routerd.h"
#include "runtime.h"

#define DNS_DEBOUNCE_MS 50

static void note(struct ctl *c, const struct azds_err *e)
{
	c->reconcile_errors++;
	snprintf(c->last_error, sizeof(c->last_error), "%s", e->msg);
	fprintf(stderr, "azds-controller: reconcile: %s\n", e->msg);
}

int reconcile_space(struct ctl *c, const char *path, struct azds_err *e)
{
	struct st_space sp;
	int err = store_space_get(c->st, path, &sp);

	if (err)
		return azds_err(e, err, "space \"%s\": %s", path, store_errmsg(c->st));
	return c->rt->space_apply(c, &sp, e);
}

int reconcile_space_gone(struct ctl *c, const char *path, struct azds_err *e)
{
	return c->rt->space_delete(c, path, e);
}

int reconcile_service(struct ctl *c, const char *space, const char *name, struct azds_err *e)
{
	struct st_service s;
	uint32_t vip;
	int err = store_service_get(c->st, space, name, &s);

	if (err)
		return azds_err(e, err, "service \"%s\" in \"%s\": %s", name, space, store_errmsg(c->st));
	vip = s.vip;
	err = c->rt->service_apply(c, &s, &vip, e);
	if (!err && vip != s.vip)
		store_service_set_vip(c->st, name, vip);
	return err;
}

int reconcile_service_gone(struct ctl *c, const char *space, const char *name, struct azds_err *e)
{
	return c->rt->service_delete(c, space, name, e);
}

static int pod_apply(struct ctl *c, struct st_pod *p, struct azds_err *e)
{
	uint32_t addr = p->addr;
	int err = c->rt->pod_create(c, p, &addr, e);

	if (err)
		return err;
	if (addr != p->addr) {
		store_pod_set_addr(c->st, p->name, addr);
		p->addr = addr;
	}
	return c->rt->pod_start(c, p, e);
}

int reconcile_pod(struct ctl *c, const char *name, struct azds_err *e)
{
	struct st_pod p;
	int err = store_pod_get(c->st, name, &p, NULL);

	if (err)
		return azds_err(e, err, "pod \"%s\": %s", name, store_errmsg(c->st));
	err = pod_apply(c, &p, e);
	st_pod_free(&p);
	return err;
}

int reconcile_pod_gone(struct ctl *c, const char *name, struct azds_err *e)
{
	return c->rt->pod_delete(c, name, e);
}

void reconcile_dns_later(struct ctl *c)
{
	if (!c->dns_dirty) {
		c->dns_dirty = true;
		c->dns_dirty_since = httpd_now_ms();
	}
}

/* DNS records follow changes within DNS_DEBOUNCE_MS: the hosts file is
 * rewritten whole, so a burst of changes shares one rewrite */
void reconcile_dns_flush(struct ctl *c, bool force)
{
	static int64_t last_cost_ms;
	struct azds_err e;
	int64_t now = httpd_now_ms(), wait = DNS_DEBOUNCE_MS;

	/* a big node's rewrite costs more: keep rewriting under a fifth of the time */
	if (wait < 4 * last_cost_ms)
		wait = 4 * last_cost_ms;
	if (!c->dns_dirty || (!force && now - c->dns_dirty_since < wait))
		return;
	c->dns_dirty = false;
	if (c->rt->dns_sync(c, &e))
		note(c, &e);
	last_cost_ms = httpd_now_ms() - now;
}

/* ---- everything, at start ------------------------------------------------ */

struct names {
	char (*v)[ST_PATH_MAX + ST_NAME_MAX + 2];
	size_t n, cap;
};

static int names_add(struct names *l, const char *a, const char *b)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *nv = realloc(l->v, cap * sizeof(*l->v));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	snprintf(l->v[l->n++], sizeof(l->v[0]), "%s%s%s", a, b ? "\n" : "", b ? b : "");
	return 0;
}

struct scan {
	struct ctl *c;
	struct names gone;
};

static int space_orphan(void *ctx, const char *path)
{
	struct scan *s = ctx;
	struct st_space sp;

	if (store_space_get(s->c->st, path, &sp) == -ENOENT)
		names_add(&s->gone, path, NULL);
	return 0;
}

static int service_orphan(void *ctx, const char *space, const char *name)
{
	struct scan *s = ctx;
	struct st_service sv;

	if (store_service_get(s->c->st, space, name, &sv) == -ENOENT)
		names_add(&s->gone, space, name);
	return 0;
}

static int pod_orphan(void *ctx, const char *name)
{
	struct scan *s = ctx;

	if (store_pod_get(s->c->st, name, NULL, NULL) == -ENOENT)
		names_add(&s->gone, name, NULL);
	return 0;
}

static int unit_orphan(void *ctx, const char *name, const struct sup_status *st)
{
	struct scan *s = ctx;

	(void)st;
	if (!strncmp(name, "pod-", 4) && store_pod_get(s->c->st, name + 4, NULL, NULL) == -ENOENT)
		names_add(&s->gone, name, NULL);
	return 0;
}

static int depth_desc(const void *a, const void *b)
{
	const char *x = a, *y = b;
	int dx = 0, dy = 0;

	for (; *x; x++)
		dx += *x == '/';
	for (; *y; y++)
		dy += *y == '/';
	return dy - dx;
}

static int collect_space(void *ctx, const struct st_space *sp)
{
	return names_add(ctx, sp->path, NULL) ? 1 : 0;
}

static int collect_service(void *ctx, const struct st_service *sv)
{
	return names_add(ctx, sv->space, sv->name) ? 1 : 0;
}

static int collect_pod(void *ctx, const struct st_pod *p, const struct st_pod_status *st)
{
	(void)st;
	return names_add(ctx, p->name, NULL) ? 1 : 0;
}

static void split(char *v, char **a, char **b)
{
	char *nl = strchr(v, '\n');

	*a = v;
	*b = NULL;
	if (nl) {
		*nl = 0;
		*b = nl + 1;
	}
}

int reconcile_all(struct ctl *c)
{
	struct scan s = { .c = c };
	struct names want = {};
	struct azds_err e;
	int failures = 0;
	char *a, *b;

	if (c->rt->node_up(c, &e)) {
		note(c, &e);
		return -EIO;
	}
	/* what the node has and the store does not: pods, then services,
	 * then spaces (deepest first) */
	c->rt->each_pod(c, pod_orphan, &s);
	for (size_t i = 0; i < s.gone.n; i++)
		if (c->rt->pod_delete(c, s.gone.v[i], &e))
			note(c, &e), failures++;
	s.gone.n = 0;
	sup_each(c->sup, unit_orphan, &s);
	for (size_t i = 0; i < s.gone.n; i++)
		sup_forget(c->sup, s.gone.v[i], 5000);
	s.gone.n = 0;
	c->rt->each_service(c, service_orphan, &s);
	for (size_t i = 0; i < s.gone.n; i++) {
		split(s.gone.v[i], &a, &b);
		if (c->rt->service_delete(c, a, b, &e))
			note(c, &e), failures++;
	}
	s.gone.n = 0;
	/* pod directories (log, default workspace) and limit cgroups of pods
	 * the store no longer has: a crash in the middle of a delete */
	{
		char dir[PATH_MAX];
		struct dirent *de;
		DIR *d;

		snprintf(dir, sizeof(dir), "%s/pods", c->state_dir);
		d = opendir(dir);
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.' || store_pod_get(c->st, de->d_name, NULL, NULL) != -ENOENT)
				continue;
			if (c->rt->pod_delete(c, de->d_name, &e))
				note(c, &e), failures++;
		}
		if (d)
			closedir(d);
	}
	c->rt->each_space(c, space_orphan, &s);
	qsort(s.gone.v, s.gone.n, sizeof(s.gone.v[0]), depth_desc);
	for (size_t i = 0; i < s.gone.n; i++)
		if (c->rt->space_delete(c, s.gone.v[i], &e))
			note(c, &e), failures++;
	free(s.gone.v);

	/* what the store has: spaces (parents first), services, pods */
	store_space_each(c->st, collect_space, &want);
	for (size_t i = 0; i < want.n; i++)
		if (reconcile_space(c, want.v[i], &e))
			note(c, &e), failures++;
	want.n = 0;
	store_service_each(c->st, NULL, collect_service, &want);
	for (size_t i = 0; i < want.n; i++) {
		split(want.v[i], &a, &b);
		if (reconcile_service(c, a, b, &e))
			note(c, &e), failures++;
	}
	want.n = 0;
	store_pod_each(c->st, NULL, collect_pod, &want);
	for (size_t i = 0; i < want.n; i++)
		if (reconcile_pod(c, want.v[i], &e))
			note(c, &e), failures++;
	free(want.v);
	if (reconcile_router(c, &e))
		note(c, &e), failures++;
	reconcile_dns_later(c);
	reconcile_dns_flush(c, true);
	return failures ? -EIO : 0;
}

/* ---- the router and DNS ------------------------------------------------- */

static int dns_unit(struct ctl *c, struct azds_err *e)
{
	char addn[300], pidarg[320], logf[300], inner[300];
	char *argv[] = { "/usr/bin/ip", "netns", "exec", c->in.node_ns, "dnsmasq", "--keep-in-foreground",
			 "--conf-file=/dev/null", "--no-resolv", "--no-hosts", addn,
			 "--listen-address=" AZDS_GW_ADDR, "--bind-interfaces", "--local=/" AZDS_DNS_DOMAIN "/",
			 "--user=nobody", "--group=nogroup", "--no-negcache", pidarg, NULL };
	struct sup_spec spec = { .name = "dns", .argv = argv, .log_path = logf, .policy = ST_RESTART_ALWAYS,
				 .backoff_first_ms = 100, .backoff_max_ms = 5000 };
	int err;

	if (access(argv[0], X_OK))
		argv[0] = "/sbin/ip";
	snprintf(addn, sizeof(addn), "--addn-hosts=%s/hosts", c->in.run_dir);
	snprintf(inner, sizeof(inner), "%s/dnsmasq.inner.pid", c->in.run_dir);
	snprintf(pidarg, sizeof(pidarg), "--pid-file=%s", inner);
	snprintf(logf, sizeof(logf), "%s/dnsmasq.log", c->in.run_dir);
	/* the hosts file exists before dnsmasq reads it */
	err = c->rt->dns_sync(c, e);
	if (err)
		return err;
	err = sup_start(c->sup, &spec);
	return err ? azds_err(e, err, "start dnsmasq: %s", strerror(-err)) : 0;
}

int reconcile_router(struct ctl *c, struct azds_err *e)
{
	int err = dns_unit(c, e);

	if (err)
		return err;
	if (c->cfg.no_router)
		return 0;
	if (c->rd_started)
		return 0; /* supervised from here on */
	err = routerd_start(&c->rd, c->sup, &c->in, c->bin_dir, c->cfg.router_args, c->cfg.router_workers, e);
	if (!err)
		c->rd_started = true;
	return err;
}
