// SPDX-License-Identifier: MIT
/* /v1/services */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include "ctl.h"

json_t *api_service_json(struct ctl *c, const struct st_service *s)
{
	char a[INET_ADDRSTRLEN] = "";
	json_t *eps = json_array();
	struct azds_svc_key sk;
	struct azds_backends be;
	struct azds_err e;

	if (s->vip)
		inet_ntop(AF_INET, &s->vip, a, sizeof(a));
	if (c->maps_open && azds_service_backends(&c->m, s->space, s->name, &sk, &be, &e) == 0)
		for (__u32 i = 0; i < be.count && i < AZDS_MAX_BACKENDS; i++) {
			char ep[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &be.addrs[i], ep, sizeof(ep));
			json_array_append_new(eps, json_string(ep));
		}
	return json_pack("{s:s,s:s,s:s,s:i,s:i,s:s,s:o}", "space", s->space, "name", s->name, "kind",
			 s->kind == ST_KIND_TCP ? "tcp" : "http", "port", s->port, "target_port", s->target_port, "address",
			 a, "endpoints", eps);
}

static int port_of(json_t *v, int dflt, const char *what, int idx, struct httpd_resp *w)
{
	json_int_t n;

	if (!v)
		return dflt;
	if (!json_is_integer(v) || (n = json_integer_value(v)) < 1 || n > 65535) {
		if (idx >= 0)
			httpd_error(w, 400, "items[%d]: \"%s\" must be a port number 1-65535", idx, what);
		else
			httpd_error(w, 400, "\"%s\" must be a port number 1-65535", what);
		return -1;
	}
	return (int)n;
}

/* Parse and check one service; 0, or w holds the answer. */
static int service_parse(struct ctl *c, json_t *j, int idx, struct st_service *s, struct httpd_resp *w)
{
	const char *space = json_string_value(json_object_get(j, "space"));
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *kind = json_string_value(json_object_get(j, "kind"));
	struct st_space sp;
	struct azds_vip_key vk;
	struct azds_vip v;
	struct azds_err e;
	int port, tport;

	memset(s, 0, sizeof(*s));
	if (!space || !name) {
		httpd_error(w, 400, "%s\"space\" and \"name\" are required", idx >= 0 ? "items: " : "");
		return -EINVAL;
	}
	if (azds_name_valid("service", name, &e)) {
		httpd_error(w, 400, "%s", e.msg);
		return -EINVAL;
	}
	if (strlen(space) >= ST_PATH_MAX || store_space_get(c->st, space, &sp)) {
		httpd_error(w, 404, "service \"%s\": space \"%s\" does not exist", name, space);
		return -ENOENT;
	}
	if (kind && strcmp(kind, "http") && strcmp(kind, "tcp")) {
		httpd_error(w, 400, "service \"%s\": kind \"%s\": must be http or tcp", name, kind);
		return -EINVAL;
	}
	port = port_of(json_object_get(j, "port"), 80, "port", idx, w);
	if (port < 0)
		return -EINVAL;
	tport = port_of(json_object_get(j, "target_port"), port, "target_port", idx, w);
	if (tport < 0)
		return -EINVAL;
	snprintf(s->space, sizeof(s->space), "%s", space);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->kind = kind && !strcmp(kind, "tcp") ? ST_KIND_TCP : ST_KIND_HTTP;
	s->port = (uint16_t)port;
	s->target_port = (uint16_t)tport;
	/* one name, one address, kind and port in every space */
	if (c->maps_open && azds_service_id(&c->m, name, &vk, &v) == 0 &&
	    (ntohs(vk.port) != s->port || (v.kind == AZDS_KIND_TCP) != (s->kind == ST_KIND_TCP))) {
		httpd_error(w, 409, "service \"%s\": already declared as %s on port %u; every space's copy must match",
			    name, v.kind == AZDS_KIND_TCP ? "tcp" : "http", ntohs(vk.port));
		return -EEXIST;
	}
	return 0;
}

/* Store and apply one service; a new one the node refuses is not kept. */
/* *count: the services the node has, read once per request (-1: not yet) */
static int service_put(struct ctl *c, struct st_service *s, bool *created, int64_t *count, struct httpd_resp *w)
{
	struct st_service old;
	struct azds_err e;
	int err;

	*created = store_service_get(c->st, s->space, s->name, &old) != 0;
	if (*created && *count < 0 && store_service_count(c->st, count))
		*count = 0;
	if (*created && *count >= (int64_t)c->cfg.max_services) {
		httpd_error(w, 409, "service \"%s\" in \"%s\": the node has %lld services, the limit (--max-services)",
			    s->name, s->space, (long long)*count);
		return -ENOSPC;
	}
	if (!*created)
		s->vip = old.vip;
	err = store_service_put(c->st, s);
	if (err) {
		api_store_status(c, err, w, "store service");
		return err;
	}
	err = reconcile_service(c, s->space, s->name, &e);
	if (err) {
		if (*created) {
			store_service_remove(c->st, s->space, s->name);
			reconcile_service_gone(c, s->space, s->name, &e);
		} else {
			store_service_put(c->st, &old);
		}
		httpd_error(w, err == -E2BIG || err == -ENOSPC ? 409 : err == -EINVAL ? 400 : 500, "%s", e.msg);
		return err;
	}
	if (*created)
		(*count)++;
	reconcile_dns_later(c);
	return 0;
}

struct each_ctx {
	struct ctl *c;
	json_t *items;
};

static int add_svc(void *ctx, const struct st_service *s)
{
	struct each_ctx *x = ctx;

	json_array_append_new(x->items, api_service_json(x->c, s));
	return 0;
}

void api_services(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w)
{
	const char *space = httpd_query(r, "space");
	struct st_service s;
	bool created, any = false;
	int64_t count = -1;

	if (!*rest && !strcmp(r->method, "GET")) {
		struct each_ctx x = { c, json_array() };
		struct st_space sp;

		if (space && *space && (strlen(space) >= ST_PATH_MAX || store_space_get(c->st, space, &sp))) {
			json_decref(x.items);
			httpd_error(w, 404, "space \"%s\" does not exist", space);
			return;
		}
		store_service_each(c->st, space && *space ? space : NULL, add_svc, &x);
		httpd_json(w, 200, json_pack("{s:o}", "items", x.items));
		return;
	}
	if (!*rest && !strcmp(r->method, "POST")) {
		json_t *body = api_body(r, w), *items;

		if (!body)
			return;
		items = json_object_get(body, "items");
		if (!items) {
			/* committed only once the node has it (see space_create_tx) */
			if (service_parse(c, body, -1, &s, w) == 0) {
				int err = store_begin(c->st);

				if (err) {
					api_store_status(c, err, w, "store service");
				} else if (service_put(c, &s, &created, &count, w)) {
					store_rollback(c->st);
				} else if ((err = store_commit(c->st))) {
					struct azds_err e;

					if (created)
						reconcile_service_gone(c, s.space, s.name, &e);
					else
						reconcile_service(c, s.space, s.name, &e); /* the stored one */
					api_store_status(c, err, w, "store service");
				} else if (store_service_get(c->st, s.space, s.name, &s) == 0) {
					httpd_json(w, created ? 201 : 200, api_service_json(c, &s));
				}
			}
			json_decref(body);
			return;
		}
		if (!json_is_array(items)) {
			httpd_error(w, 400, "body: \"items\" must be an array of services");
			json_decref(body);
			return;
		}
		/* one transaction, one commit for the batch */
		if (store_begin(c->st)) {
			api_store_status(c, -EIO, w, "store services");
			json_decref(body);
			return;
		}
		for (size_t i = 0; i < json_array_size(items); i++) {
			if (service_parse(c, json_array_get(items, i), (int)i, &s, w) || service_put(c, &s, &created, &count, w))
				break;
			any |= created;
		}
		if (w->status >= 400) {
			/* the node keeps what it got until the removal below: the
			 * batch is refused whole */
			struct st_service t;
			struct azds_err e;

			store_rollback(c->st);
			/* services that existed before are re-applied from the
			 * store, new ones removed */
			for (size_t i = 0; i < json_array_size(items); i++) {
				json_t *it = json_array_get(items, i);
				const char *sp = json_string_value(json_object_get(it, "space"));
				const char *nm = json_string_value(json_object_get(it, "name"));

				if (!sp || !nm || strlen(sp) >= ST_PATH_MAX || strlen(nm) >= ST_NAME_MAX)
					continue;
				if (store_service_get(c->st, sp, nm, &t) == 0)
					reconcile_service(c, sp, nm, &e);
				else
					reconcile_service_gone(c, sp, nm, &e);
			}
		} else if (store_commit(c->st)) {
			api_store_status(c, -EIO, w, "store services");
		} else {
			httpd_json(w, any ? 201 : 200, json_pack("{s:i}", "count", (int)json_array_size(items)));
		}
		json_decref(body);
		return;
	}
	if (*rest && !strcmp(r->method, "DELETE")) {
		struct azds_err e;
		int err;

		if (!space || !*space) {
			httpd_error(w, 400, "DELETE /v1/services/%s: ?space=SPACE is required", rest);
			return;
		}
		if (strlen(space) >= ST_PATH_MAX || strlen(rest) >= ST_NAME_MAX ||
		    store_service_get(c->st, space, rest, &s)) {
			httpd_error(w, 404, "service \"%s\" does not exist in space \"%s\"", rest, space);
			return;
		}
		err = store_service_remove(c->st, space, rest);
		if (err) {
			api_store_status(c, err, w, "remove service");
			return;
		}
		if (reconcile_service_gone(c, space, rest, &e))
			fprintf(stderr, "azds-controller: %s\n", e.msg);
		reconcile_dns_later(c);
		httpd_json(w, 200, json_pack("{s:s,s:s}", "removed", rest, "space", space));
		return;
	}
	httpd_error(w, 405, "%s /v1/services%s%s: use GET or POST on /v1/services, DELETE on /v1/services/NAME?space=S",
		    r->method, *rest ? "/" : "", rest);
}
