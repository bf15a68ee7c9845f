// SPDX-License-Identifier: MIT
/* Lists, one page or all of them through continue tokens. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "k8s.h"
#include "k8s_int.h"

int azds_k8s_list(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns, const struct azds_k8s_list_opts *o,
		  json_t **out, struct azds_k8s_err *e)
{
	static const struct azds_k8s_list_opts none;
	char p[AZDS_K8S_PATH_MAX], limit[16];
	int ret;
	if (!o)
		o = &none;
	k8s_err_clear(e);
	*out = NULL;
	if ((ret = azds_k8s_path(p, sizeof(p), r, ns, NULL, NULL)))
		return k8s_err(e, ret, "list %s: a bad namespace", r->resource);
	snprintf(limit, sizeof(limit), "%u", o->limit ? o->limit : AZDS_K8S_LIST_PAGE);
	/* A continue token carries its own resourceVersion; the API refuses both. */
	bool cont = o->continue_token && o->continue_token[0];
	if ((ret = k8s_query_add(p, sizeof(p), "labelSelector", o->label_selector)) ||
	    (ret = k8s_query_add(p, sizeof(p), "fieldSelector", o->field_selector)) ||
	    (ret = k8s_query_add(p, sizeof(p), "resourceVersion", cont ? NULL : o->resource_version)) ||
	    (ret = k8s_query_add(p, sizeof(p), "limit", limit)) ||
	    (ret = k8s_query_add(p, sizeof(p), "continue", cont ? o->continue_token : NULL)))
		return k8s_err(e, ret, "list %s: the query is longer than %d bytes", r->resource, AZDS_K8S_PATH_MAX);
	if ((ret = azds_k8s_request(k, "GET", p, NULL, NULL, out, e)))
		return ret;
	if (!json_is_object(*out) || !json_is_array(json_object_get(*out, "items"))) {
		json_decref(*out);
		*out = NULL;
		return k8s_err(e, -EBADMSG, "GET %s: the answer is not a list (no items)", p);
	}
	return 0;
}

static const char *meta_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
	return s ? s : "";
}

int azds_k8s_list_all(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns,
		      const struct azds_k8s_list_opts *o, size_t max_items, azds_k8s_item_cb cb, void *arg,
		      char rv[AZDS_K8S_RV_MAX], struct azds_k8s_err *e)
{
	struct azds_k8s_list_opts po = o ? *o : (struct azds_k8s_list_opts){0};
	char cont[4096] = "";
	size_t items = 0;
	int ret = 0;

	rv[0] = 0;
	for (unsigned page = 0;; page++) {
		json_t *l, *item;
		size_t i;
		if (page >= AZDS_K8S_LIST_PAGES)
			return k8s_err(e, -E2BIG, "list %s: more than %u pages", r->resource, AZDS_K8S_LIST_PAGES);
		po.continue_token = cont[0] ? cont : NULL;
		if ((ret = azds_k8s_list(k, r, ns, &po, &l, e)))
			return ret;
		json_array_foreach(json_object_get(l, "items"), i, item)
		{
			if (max_items && ++items > max_items) {
				json_decref(l);
				return k8s_err(e, -E2BIG, "list %s: more than %zu items", r->resource, max_items);
			}
			if ((ret = cb(item, arg))) {
				json_decref(l);
				return ret;
			}
		}
		const char *v = meta_str(l, "resourceVersion"), *c = meta_str(l, "continue");
		if (strlen(v) >= AZDS_K8S_RV_MAX || strlen(c) >= sizeof(cont)) {
			json_decref(l);
			return k8s_err(e, -EBADMSG, "list %s: resourceVersion or continue token too long", r->resource);
		}
		strcpy(rv, v);
		strcpy(cont, c);
		json_decref(l);
		if (!cont[0])
			return 0;
	}
}
