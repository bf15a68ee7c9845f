// SPDX-License-Identifier: MIT
/*
 * deploy/kubernetes/ from inside azds: the manifests are embedded at build
 * time (deploy/kubernetes/embed.cmake), so that an installed azds needs no
 * share dir and applies exactly what it was built with. install applies
 * them by server-side apply (one PATCH per object creates or updates it,
 * field manager "azds"); uninstall deletes them, the cluster-scoped RBAC
 * included (docs/kubernetes-install.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>
#include "client.h"
#include "k8s_deploy.h"

#define FIELD_MANAGER "azds"

/* ---------------------------------------------------------------- YAML */

static bool is_int(const char *s)
{
	if (*s == '-')
		s++;
	if (!*s || strlen(s) > 18 || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static json_t *node_json(yaml_document_t *d, yaml_node_t *n, int depth)
{
	json_t *j;

	if (!n || depth > K8S_DEPLOY_DEPTH_MAX)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *s = (const char *)n->data.scalar.value;

		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			return json_stringn(s, n->data.scalar.length);
		if (!strcmp(s, "true") || !strcmp(s, "false"))
			return json_boolean(s[0] == 't');
		if (!*s || !strcmp(s, "null") || !strcmp(s, "~"))
			return json_null();
		if (is_int(s))
			return json_integer(strtoll(s, NULL, 10));
		return json_stringn(s, n->data.scalar.length);
	}
	case YAML_SEQUENCE_NODE:
		j = json_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start; j && i < n->data.sequence.items.top; i++) {
			json_t *v = node_json(d, yaml_document_get_node(d, *i), depth + 1);

			if (!v || json_array_append_new(j, v)) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	case YAML_MAPPING_NODE:
		j = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; j && p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(d, p->key);
			json_t *v;

			if (!k || k->type != YAML_SCALAR_NODE) {
				json_decref(j);
				return NULL;
			}
			v = node_json(d, yaml_document_get_node(d, p->value), depth + 1);
			if (!v || json_object_set_new(j, (const char *)k->data.scalar.value, v)) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	default:
		return NULL;
	}
}

int k8s_yaml_docs(const char *text, size_t len, const char *name, json_t **out, char *err, size_t errlen)
{
	yaml_parser_t p;
	json_t *docs = json_array();
	int ret = 0;

	*out = NULL;
	if (!docs || !yaml_parser_initialize(&p)) {
		json_decref(docs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	for (;;) {
		yaml_document_t d;
		yaml_node_t *root;
		json_t *j;

		if (!yaml_parser_load(&p, &d)) {
			snprintf(err, errlen, "%s: line %zu: %s", name, p.problem_mark.line + 1,
				 p.problem ? p.problem : "not YAML");
			ret = -EINVAL;
			break;
		}
		root = yaml_document_get_root_node(&d);
		if (!root) { /* the end of the stream */
			yaml_document_delete(&d);
			break;
		}
		j = node_json(&d, root, 0);
		if (!j || (!json_is_object(j) && !json_is_null(j))) {
			snprintf(err, errlen, "%s: line %zu: a document that is not an object (or nested deeper than %d)",
				 name, root->start_mark.line + 1, K8S_DEPLOY_DEPTH_MAX);
			json_decref(j);
			yaml_document_delete(&d);
			ret = -EINVAL;
			break;
		}
		yaml_document_delete(&d);
		if (json_is_null(j)) {
			json_decref(j);
			continue;
		}
		if (json_array_size(docs) >= K8S_DEPLOY_OBJS_MAX) {
			json_decref(j);
			snprintf(err, errlen, "%s: more than %d objects", name, K8S_DEPLOY_OBJS_MAX);
			ret = -E2BIG;
			break;
		}
		json_array_append_new(docs, j);
	}
	yaml_parser_delete(&p);
	if (ret)
		json_decref(docs);
	else
		*out = docs;
	return ret;
}

/* ----------------------------------------------------------- resources */

static const struct kind {
	const char *api_version, *kind;
	struct azds_k8s_res res;
} kinds[] = {
    {"v1", "Namespace", {"v1", "namespaces", false}},
    {"v1", "ServiceAccount", {"v1", "serviceaccounts", true}},
    {"v1", "Service", {"v1", "services", true}},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", {"rbac.authorization.k8s.io/v1", "clusterroles", false}},
    {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding",
     {"rbac.authorization.k8s.io/v1", "clusterrolebindings", false}},
    {"rbac.authorization.k8s.io/v1", "Role", {"rbac.authorization.k8s.io/v1", "roles", true}},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", {"rbac.authorization.k8s.io/v1", "rolebindings", true}},
    {"apps/v1", "DaemonSet", {"apps/v1", "daemonsets", true}},
};

static const struct kind *kind_of(const json_t *o)
{
	const char *av = jstr(o, "apiVersion", ""), *k = jstr(o, "kind", "");

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].api_version, av) && !strcmp(kinds[i].kind, k))
			return &kinds[i];
	return NULL;
}

static const char *meta_name(const json_t *o)
{
	return jstr(json_object_get(o, "metadata"), "name", "");
}

static const char *meta_ns(const json_t *o)
{
	return jstr(json_object_get(o, "metadata"), "namespace", NULL);
}

int k8s_deploy_objects(const char *image, json_t **out, char *err, size_t errlen)
{
	json_t *docs, *o;
	size_t i;
	int ret = k8s_yaml_docs(azds_deploy_yaml, azds_deploy_yaml_len, "deploy/kubernetes/azds.yaml", &docs, err,
				errlen);

	if (ret)
		return ret;
	json_array_foreach(docs, i, o)
	{
		const struct kind *k = kind_of(o);
		json_t *cs, *c;
		size_t ci;

		if (!k || !meta_name(o)[0] || (k->res.namespaced && !meta_ns(o))) {
			snprintf(err, errlen, "deploy/kubernetes/azds.yaml: object %zu (%s %s): an unknown kind, or no name "
					      "or namespace",
				 i + 1, jstr(o, "kind", "?"), meta_name(o));
			json_decref(docs);
			return -EINVAL;
		}
		cs = json_object_get(json_object_get(json_object_get(json_object_get(o, "spec"), "template"), "spec"),
				     "containers");
		if (image)
			json_array_foreach(cs, ci, c) json_object_set_new(c, "image", json_string(image));
	}
	*out = docs;
	return 0;
}

int k8s_deploy_apply(struct k8s_cluster *c, const struct verb *v, const char *image)
{
	struct azds_k8s_err e = {0};
	char msg[512], path[AZDS_K8S_PATH_MAX];
	json_t *docs, *o;
	size_t i;
	int err = k8s_deploy_objects(image, &docs, msg, sizeof(msg));

	if (err)
		return fail("%s: the embedded manifests: %s", verb_title(v), msg), err;
	json_array_foreach(docs, i, o)
	{
		const struct kind *k = kind_of(o);

		err = azds_k8s_path(path, sizeof(path), &k->res, meta_ns(o), meta_name(o), NULL);
		if (!err && (size_t)snprintf(path + strlen(path), sizeof(path) - strlen(path),
					     "?fieldManager=" FIELD_MANAGER "&force=true") >= sizeof(path) - strlen(path))
			err = -ENAMETOOLONG;
		if (err) {
			fail("%s: %s %s: %s", verb_title(v), k->kind, meta_name(o), strerror(-err));
			break;
		}
		/* server-side apply: JSON is YAML; creates or updates, owning what the manifest names */
		err = azds_k8s_request(c->k, "PATCH", path, "application/apply-patch+yaml", o, NULL, &e);
		if (err) {
			k8s_fail(v, &e, "applying %s %s%s%s", k->kind, meta_ns(o) ? meta_ns(o) : "", meta_ns(o) ? "/" : "",
				 meta_name(o));
			break;
		}
		printf("Applied %s %s%s%s.\n", k->kind, meta_ns(o) ? meta_ns(o) : "", meta_ns(o) ? "/" : "",
		       meta_name(o));
	}
	if (!err)
		printf("Applied the %zu objects of deploy/kubernetes/ (image %s).\n", json_array_size(docs),
		       image ? image : "as written");
	json_decref(docs);
	return err;
}

static long long mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* the DaemonSet's pods of namespace NS, until none is left (bounded) */
static int wait_no_pods(struct k8s_cluster *c, const struct verb *v, const char *ns, const json_t *sel)
{
	char lsel[512] = "";
	const char *key;
	json_t *val;
	long long end = mono_ms() + K8S_DEPLOY_WAIT_MS;

	json_object_foreach((json_t *)sel, key, val)
	{
		size_t n = strlen(lsel);

		if ((size_t)snprintf(lsel + n, sizeof(lsel) - n, "%s%s=%s", n ? "," : "", key,
				     json_string_value(val) ?: "") >= sizeof(lsel) - n)
			return fail("%s: the DaemonSet's selector is too long", verb_title(v)), -ENAMETOOLONG;
	}
	if (!lsel[0])
		return 0;
	for (bool told = false;; told = true) {
		struct azds_k8s_list_opts lo = {.label_selector = lsel, .limit = 1};
		struct azds_k8s_err e = {0};
		json_t *list = NULL;
		size_t n;
		int err = azds_k8s_list(c->k, &azds_k8s_pods, ns, &lo, &list, &e);

		if (err)
			return k8s_fail(v, &e, "listing the node agents' pods"), err;
		n = json_array_size(json_object_get(list, "items"));
		json_decref(list);
		if (!n)
			return 0;
		if (!told)
			printf("Waiting for the node agents' pods to stop.\n");
		/* a pod of a node that is down stays Terminating until the node is deleted: its agent
		 * runs no more, so uninstall goes on, saying so */
		if (mono_ms() >= end) {
			fprintf(stderr,
				"azds: %s: the node agents' pods (%s in %s) are still there after %d s (a node down?): "
				"going on\n",
				verb_title(v), lsel, ns, K8S_DEPLOY_WAIT_MS / 1000);
			return 0;
		}
		usleep(200 * 1000);
	}
}

static int delete_one(struct k8s_cluster *c, const struct verb *v, const struct azds_k8s_res *r, const char *kind,
		      const char *ns, const char *name)
{
	struct azds_k8s_err e = {0};
	int err = azds_k8s_delete(c->k, r, ns, name, NULL, &e);

	if (err == -ENOENT)
		return 0;
	if (err)
		return k8s_fail(v, &e, "deleting %s %s%s%s", kind, ns ? ns : "", ns ? "/" : "", name), err;
	printf("Deleted %s %s%s%s.\n", kind, ns ? ns : "", ns ? "/" : "", name);
	return 0;
}

struct labelled {
	json_t *names;
};

static int collect_name(json_t *item, void *arg)
{
	const char *name = jstr(json_object_get(item, "metadata"), "name", NULL);

	return name && json_array_append_new(((struct labelled *)arg)->names, json_string(name)) ? -ENOMEM : 0;
}

/* cluster-scoped objects of R carrying our ownership label: those of older or renamed manifests too */
static int delete_labelled(struct k8s_cluster *c, const struct verb *v, const struct kind *k)
{
	const struct azds_k8s_list_opts lo = {.label_selector = K8S_OWNER_LABEL "=" K8S_OWNER_VALUE};
	struct labelled l = {.names = json_array()};
	struct azds_k8s_err e = {0};
	char rv[AZDS_K8S_RV_MAX];
	json_t *n;
	size_t i;
	int err;

	if (!l.names)
		return fail("out of memory"), -ENOMEM;
	err = azds_k8s_list_all(c->k, &k->res, NULL, &lo, K8S_DEPLOY_OBJS_MAX * 4, collect_name, &l, rv, &e);
	if (err) {
		json_decref(l.names);
		return k8s_fail(v, &e, "listing the %ss labelled %s=%s", k->kind, K8S_OWNER_LABEL, K8S_OWNER_VALUE),
		       err;
	}
	json_array_foreach(l.names, i, n)
	{
		err = delete_one(c, v, &k->res, k->kind, NULL, json_string_value(n));
		if (err)
			break;
	}
	json_decref(l.names);
	return err;
}

int k8s_deploy_remove(struct k8s_cluster *c, const struct verb *v)
{
	char msg[512];
	json_t *docs, *o;
	size_t i;
	int err = k8s_deploy_objects(NULL, &docs, msg, sizeof(msg));

	if (err)
		return fail("%s: the embedded manifests: %s", verb_title(v), msg), err;
	/* the agents first: once they are gone nothing registers the webhook again */
	json_array_foreach(docs, i, o)
	{
		const struct kind *k = kind_of(o);

		if (strcmp(k->kind, "DaemonSet"))
			continue;
		err = delete_one(c, v, &k->res, k->kind, meta_ns(o), meta_name(o)) ?:
		      wait_no_pods(c, v, meta_ns(o),
				   json_object_get(json_object_get(json_object_get(o, "spec"), "selector"),
						   "matchLabels"));
		if (err)
			goto out;
	}
	err = delete_one(c, v, &azds_k8s_mutatingwebhookconfigurations, "MutatingWebhookConfiguration", NULL,
			 K8S_WEBHOOK_NAME);
	if (err)
		goto out;
	/* the rest, last first; the Namespace is the caller's (it waits until it is gone) */
	for (i = json_array_size(docs); i-- > 0;) {
		const struct kind *k;

		o = json_array_get(docs, i);
		k = kind_of(o);
		if (!strcmp(k->kind, "DaemonSet") || !strcmp(k->kind, "Namespace"))
			continue;
		err = delete_one(c, v, &k->res, k->kind, meta_ns(o), meta_name(o));
		if (err)
			goto out;
	}
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && !err; i++)
		if (!kinds[i].res.namespaced && strcmp(kinds[i].kind, "Namespace"))
			err = delete_labelled(c, v, &kinds[i]);
out:
	json_decref(docs);
	return err;
}
