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

static int objects_of(const char *text, size_t len, const char *name, const char *image, json_t **out, char *err,
		      size_t errlen)
{
	json_t *docs, *o;
	size_t i;
	int ret = k8s_yaml_docs(text, len, name, &docs, err, errlen);

	if (ret)
		return ret;
	json_array_foreach(docs, i, o)
	{
		const struct kind *k = kind_of(o);
		json_t *cs, *c;
		size_t ci;

		if (!k || !meta_name(o)[0] || (k->res.namespaced && !meta_ns(o))) {
			snprintf(err, errlen, "%s: object %zu (%s %s): an unknown kind, or no name or namespace", name,
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

int k8s_deploy_objects(const char *image, json_t **out, char *err, size_t errlen)
{
	return objects_of(azds_deploy_yaml, azds_deploy_yaml_len, "deploy/kubernetes/azds.yaml", image, out, err,
			  errlen);
}

int k8s_teardown_objects(const char *image, json_t **out, char *err, size_t errlen)
{
	json_t *docs;
	int ret = objects_of(azds_teardown_yaml, azds_teardown_yaml_len, "deploy/kubernetes/teardown/teardown.yaml",
			     image, &docs, err, errlen);

	if (ret)
		return ret;
	/* what remove_teardown relies on: one DaemonSet, by its name */
	if (json_array_size(docs) != 1 || strcmp(jstr(json_array_get(docs, 0), "kind", ""), "DaemonSet") ||
	    strcmp(meta_name(json_array_get(docs, 0)), K8S_TEARDOWN_DS)) {
		snprintf(err, errlen, "deploy/kubernetes/teardown/teardown.yaml: want one DaemonSet, %s",
			 K8S_TEARDOWN_DS);
		json_decref(docs);
		return -EINVAL;
	}
	*out = docs;
	return 0;
}

static const char *obj_ns(const json_t *o)
{
	return meta_ns(o) ? meta_ns(o) : "";
}

/* server-side apply of one object: JSON is YAML; creates or updates, owning what the manifest names */
static int apply_one(struct k8s_cluster *c, const struct verb *v, const json_t *o)
{
	const struct kind *k = kind_of(o);
	struct azds_k8s_err e = {0};
	char path[AZDS_K8S_PATH_MAX];
	int err = azds_k8s_path(path, sizeof(path), &k->res, meta_ns(o), meta_name(o), NULL);

	if (!err && (size_t)snprintf(path + strlen(path), sizeof(path) - strlen(path),
				     "?fieldManager=" FIELD_MANAGER "&force=true") >= sizeof(path) - strlen(path))
		err = -ENAMETOOLONG;
	if (err)
		return fail("%s: %s %s: %s", verb_title(v), k->kind, meta_name(o), strerror(-err)), err;
	err = azds_k8s_request(c->k, "PATCH", path, "application/apply-patch+yaml", o, NULL, &e);
	if (err)
		return k8s_fail(v, &e, "applying %s %s%s%s", k->kind, obj_ns(o), meta_ns(o) ? "/" : "", meta_name(o)),
		       err;
	return 0;
}

static int delete_one(struct k8s_cluster *c, const struct verb *v, const struct azds_k8s_res *r, const char *kind,
		      const char *ns, const char *name);
static int wait_no_pods(struct k8s_cluster *c, const struct verb *v, const char *ns, const json_t *sel,
			const char *what, json_t *ran);

/* the DaemonSet azds-teardown of an uninstall that was interrupted, and its pods */
static int remove_teardown(struct k8s_cluster *c, const struct verb *v)
{
	char msg[512];
	json_t *docs, *o;
	int err = k8s_teardown_objects(NULL, &docs, msg, sizeof(msg));

	if (err)
		return fail("%s: the embedded manifests: %s", verb_title(v), msg), err;
	o = json_array_get(docs, 0);
	err = delete_one(c, v, &kind_of(o)->res, "DaemonSet", meta_ns(o), meta_name(o)) ?:
	      wait_no_pods(c, v, meta_ns(o),
			   json_object_get(json_object_get(json_object_get(o, "spec"), "selector"), "matchLabels"),
			   "the teardown pods", NULL);
	json_decref(docs);
	return err;
}

int k8s_deploy_apply(struct k8s_cluster *c, const struct verb *v, const char *image)
{
	char msg[512];
	json_t *docs, *o;
	size_t i;
	int err = k8s_deploy_objects(image, &docs, msg, sizeof(msg));

	if (err)
		return fail("%s: the embedded manifests: %s", verb_title(v), msg), err;
	/* a teardown pod beside the new agents would undo them on its next start */
	err = remove_teardown(c, v);
	json_array_foreach(docs, i, o)
	{
		if (err)
			break;
		err = apply_one(c, v, o);
		if (!err)
			printf("Applied %s %s%s%s.\n", kind_of(o)->kind, obj_ns(o), meta_ns(o) ? "/" : "", meta_name(o));
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

struct pods_seen {
	size_t n;
	json_t *ran; /* NULL, or node name -> true for each pod whose container started */
};

/*
 * A container state "terminated" that really ran: it has a start time.
 * The kubelet also writes "terminated" (reason ContainerStatusUnknown,
 * exit 137, no startedAt) for a container that never started when its pod
 * is deleted while waiting, as an image that cannot be pulled does.
 */
static bool terminated_after_start(const json_t *state)
{
	const json_t *t = json_object_get(state, "terminated");
	const char *at = jstr(t, "startedAt", NULL);

	if (!t)
		return false;
	if (at && at[0]) /* a start time: it ran, whatever the reason says */
		return true;
	/* the kubelet's word for a running container it lost track of */
	if (strstr(jstr(t, "message", ""), "used to be Running"))
		return true;
	return jstr(t, "containerID", "")[0] && strcmp(jstr(t, "reason", ""), "ContainerStatusUnknown");
}

/* a pod whose container started at least once: its agent may have changed the node */
static bool pod_started(const json_t *pod)
{
	const json_t *cs = json_array_get(json_object_get(json_object_get(pod, "status"), "containerStatuses"), 0);

	/* a container the runtime created has an id (kept when the kubelet
	 * later marks it lost); one that waits on its image has none */
	return json_object_get(json_object_get(cs, "state"), "running") || jstr(cs, "containerID", "")[0] ||
	       terminated_after_start(json_object_get(cs, "state")) ||
	       terminated_after_start(json_object_get(cs, "lastState")) ||
	       json_integer_value(json_object_get(cs, "restartCount")) > 0;
}

static int see_pod(json_t *item, void *arg)
{
	struct pods_seen *s = arg;
	const char *node = jstr(json_object_get(item, "spec"), "nodeName", NULL);

	s->n++;
	return s->ran && node && pod_started(item) && json_object_set_new(s->ran, node, json_true()) ? -ENOMEM : 0;
}

/*
 * The DaemonSet's pods of namespace NS (WHAT, for messages), until none is
 * left (bounded). RAN (NULL: not wanted) gets the nodes where one of them
 * had started its container, looked at on every poll until they are gone:
 * a pod that starts while it is being deleted is seen too.
 */
static int wait_no_pods(struct k8s_cluster *c, const struct verb *v, const char *ns, const json_t *sel,
			const char *what, json_t *ran)
{
	char lsel[512] = "", rv[AZDS_K8S_RV_MAX];
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
		struct azds_k8s_list_opts lo = {.label_selector = lsel};
		struct pods_seen s = {.ran = ran};
		struct azds_k8s_err e = {0};
		int err = azds_k8s_list_all(c->k, &azds_k8s_pods, ns, &lo, K8S_DEPLOY_NODES_MAX, see_pod, &s, rv, &e);

		if (err)
			return k8s_fail(v, &e, "listing %s", what), err;
		if (!s.n)
			return 0;
		if (!told)
			printf("Waiting for %s to stop.\n", what);
		/* a pod of a node that is down stays Terminating until the node is deleted: its agent
		 * runs no more, so uninstall goes on, saying so */
		if (mono_ms() >= end) {
			fprintf(stderr, "azds: %s: %s (%s in %s) are still there after %d s (a node down?): going on\n",
				verb_title(v), what, lsel, ns, K8S_DEPLOY_WAIT_MS / 1000);
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

/* ------------------------------------------------------------ teardown */

static const struct azds_k8s_res res_nodes = {"v1", "nodes", false};
static const struct azds_k8s_res res_daemonsets = {"apps/v1", "daemonsets", true};

static json_t *pod_spec(const json_t *ds)
{
	return json_object_get(json_object_get(json_object_get(ds, "spec"), "template"), "spec");
}

static json_t *container0(const json_t *ds)
{
	return json_array_get(json_object_get(pod_spec(ds), "containers"), 0);
}

/*
 * The teardown DaemonSet made to match the agents' as they ran (AGENT,
 * NULL when there was none: the manifest as it is): the same image, the
 * same host paths (volumes of the same name), the agent's --pod-cgroup,
 * --cni-bin-dir and --cni-conf-dir, its instance (-i or AZDS_INSTANCE).
 */
static int teardown_like(json_t *td, const json_t *agent)
{
	json_t *tc = container0(td), *ac = container0(agent), *targs = json_object_get(tc, "args");
	json_t *tvols = json_object_get(pod_spec(td), "volumes"), *avols = json_object_get(pod_spec(agent), "volumes");
	json_t *words = json_array(), *w, *tv, *av, *env;
	const char *inst = NULL;
	size_t i, j;
	int err = 0;

	if (!agent) {
		json_decref(words);
		return 0;
	}
	if (!words || !json_is_array(targs))
		return json_decref(words), -ENOMEM;
	if (json_string_value(json_object_get(ac, "image")))
		json_object_set(tc, "image", json_object_get(ac, "image"));
	json_array_extend(words, json_object_get(ac, "command"));
	json_array_extend(words, json_object_get(ac, "args"));
	json_array_foreach(words, i, w)
	{
		const char *s = json_string_value(w), *val = json_string_value(json_array_get(words, i + 1));

		if (!s || !val)
			continue;
		if (!strcmp(s, "--pod-cgroup") || !strcmp(s, "--cni-bin-dir") || !strcmp(s, "--cni-conf-dir")) {
			/* $(VAR) in args is expanded by the kubelet in the teardown's container as in the agent's */
			err = json_array_append(targs, w) ?: json_array_append(targs, json_array_get(words, i + 1));
			if (err)
				break;
		} else if (!strcmp(s, "-i") || !strcmp(s, "--instance")) {
			inst = val;
		}
	}
	json_array_foreach(json_object_get(ac, "env"), i, env)
	{
		if (!strcmp(jstr(env, "name", ""), "AZDS_INSTANCE") && json_string_value(json_object_get(env, "value")))
			inst = json_string_value(json_object_get(env, "value"));
	}
	if (!err && inst)
		err = json_array_append_new(json_object_get(tc, "env"),
					    json_pack("{s:s,s:s}", "name", "AZDS_INSTANCE", "value", inst));
	json_array_foreach(tvols, i, tv)
	{
		json_array_foreach(avols, j, av)
		{
			if (!strcmp(jstr(tv, "name", "-"), jstr(av, "name", "+")))
				json_array_set(tvols, i, av);
		}
	}
	json_decref(words);
	return err ? -ENOMEM : 0;
}

struct td_state {
	json_t *nodes; /* name -> why not done ("" once done) */
	json_t *pods;  /* node name -> the teardown pod */
};

static int collect_node(json_t *item, void *arg)
{
	struct td_state *s = arg;
	const char *name = jstr(json_object_get(item, "metadata"), "name", NULL);
	json_t *cond;
	size_t i;

	if (!name)
		return 0;
	json_array_foreach(json_object_get(json_object_get(item, "status"), "conditions"), i, cond)
	{
		if (strcmp(jstr(cond, "type", ""), "Ready") || !strcmp(jstr(cond, "status", ""), "True"))
			continue;
		/* a node that is down: its kubelet starts no pod */
		return json_object_set_new(s->nodes, name,
					   json_sprintf("the node is not Ready (%s: %s)", jstr(cond, "reason", "?"),
							jstr(cond, "message", "")))
			   ? -ENOMEM
			   : 0;
	}
	return json_object_set_new(s->nodes, name, json_string("no teardown pod was scheduled there")) ? -ENOMEM : 0;
}

static int collect_pod(json_t *item, void *arg)
{
	const char *node = jstr(json_object_get(item, "spec"), "nodeName", NULL);

	return node && json_object_set(((struct td_state *)arg)->pods, node, item) ? -ENOMEM : 0;
}

static bool pod_ready(const json_t *pod)
{
	json_t *cond;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, cond)
	{
		if (!strcmp(jstr(cond, "type", ""), "Ready"))
			return !strcmp(jstr(cond, "status", ""), "True");
	}
	return false;
}

/* why POD is not Ready yet, as the kubelet says it */
static json_t *pod_why(const json_t *pod)
{
	const json_t *st = json_object_get(pod, "status");
	const json_t *cs = json_array_get(json_object_get(st, "containerStatuses"), 0);
	const json_t *term = json_object_get(json_object_get(cs, "state"), "terminated") ?:
			     json_object_get(json_object_get(cs, "lastState"), "terminated");
	const json_t *wait = json_object_get(json_object_get(cs, "state"), "waiting");

	if (term) {
		/* the termination message is the log's end (FallbackToLogsOnError): the teardown's own
		 * error; its last 300 characters */
		char m[400];
		const char *msg = jstr(term, "message", "");
		size_t n = strlen(msg);

		while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			n--;
		snprintf(m, sizeof(m), "%.*s", (int)(n > 300 ? 300 : n), msg + (n > 300 ? n - 300 : 0));
		for (char *p = m; *p; p++)
			if (*p == '\n')
				*p = ' ';
		return json_sprintf("k8s-teardown failed (exit %lld, %d restarts): %s",
				    (long long)json_integer_value(json_object_get(term, "exitCode")),
				    (int)json_integer_value(json_object_get(cs, "restartCount")), m[0] ? m : "no output");
	}
	if (wait)
		return json_sprintf("its container is waiting: %s%s%s", jstr(wait, "reason", "?"),
				    jstr(wait, "message", NULL) ? ": " : "", jstr(wait, "message", ""));
	return json_sprintf("its pod is %s, not Ready", jstr(st, "phase", "?"));
}

/* one look at every node and its teardown pod: how many of RAN (NULL: every node) are not
 * done (S->nodes says why; null for a node that is not in RAN) */
static int teardown_look(struct k8s_cluster *c, const struct verb *v, const char *ns, const char *lsel,
			 const json_t *ran, struct td_state *s, int *not_done)
{
	const struct azds_k8s_list_opts lo = {.label_selector = lsel};
	struct azds_k8s_err e = {0};
	char rv[AZDS_K8S_RV_MAX];
	const char *node;
	json_t *why;
	int err;

	json_object_clear(s->nodes);
	json_object_clear(s->pods);
	err = azds_k8s_list_all(c->k, &res_nodes, NULL, NULL, K8S_DEPLOY_NODES_MAX, collect_node, s, rv, &e);
	if (err)
		return k8s_fail(v, &e, "listing the nodes"), err;
	err = azds_k8s_list_all(c->k, &azds_k8s_pods, ns, &lo, K8S_DEPLOY_NODES_MAX, collect_pod, s, rv, &e);
	if (err)
		return k8s_fail(v, &e, "listing the teardown pods"), err;
	*not_done = 0;
	json_object_foreach(s->nodes, node, why)
	{
		json_t *pod = json_object_get(s->pods, node);

		if (ran && !json_object_get(ran, node)) /* no agent ran there: nothing to wait for */
			json_object_set_new(s->nodes, node, json_null());
		else if (pod && pod_ready(pod))
			json_object_set_new(s->nodes, node, json_string(""));
		else if (pod && !strncmp(json_string_value(why), "no teardown", 11))
			json_object_set_new(s->nodes, node, pod_why(pod));
		if (json_string_length(json_object_get(s->nodes, node)))
			++*not_done;
	}
	return 0;
}

/* K8S_DEPLOY_TEARDOWN_MS, or $AZDS_TEARDOWN_WAIT seconds (1 to 3600: a slow cluster's, a test's) */
static long long teardown_wait_ms(void)
{
	const char *s = getenv("AZDS_TEARDOWN_WAIT");
	char *end;
	long n = s ? strtol(s, &end, 10) : 0;

	return s && *s && !*end && n >= 1 && n <= 3600 ? n * 1000LL : K8S_DEPLOY_TEARDOWN_MS;
}

/*
 * azds off every node: the teardown DaemonSet (made like AGENT), the pod
 * of every node of RAN (where an agent ran; NULL: every node) Ready
 * (bounded), then the DaemonSet deleted. *LEFT: how many nodes did not
 * finish (named on stderr with why).
 */
static int run_teardown(struct k8s_cluster *c, const struct verb *v, const json_t *agent, const json_t *ran,
			int *left)
{
	struct td_state s = {.nodes = json_object(), .pods = json_object()};
	char msg[512], lsel[256];
	long long wait = teardown_wait_ms(), end;
	json_t *docs = NULL, *td, *why;
	const char *node;
	int err = 0, not_done = 0;

	*left = 0;
	if (ran && !json_object_size(ran)) {
		/* the agents' image never ran (not imported, say): no node has anything of azds */
		printf("No node ran a node agent: nothing to take off the nodes.\n");
		goto out;
	}
	if (!s.nodes || !s.pods) {
		err = -ENOMEM;
		fail("out of memory");
		goto out;
	}
	err = k8s_teardown_objects(AZDS_IMAGE_REF, &docs, msg, sizeof(msg));
	if (err) {
		fail("%s: the embedded manifests: %s", verb_title(v), msg);
		goto out;
	}
	td = json_array_get(docs, 0);
	err = teardown_like(td, agent);
	if (err) {
		fail("out of memory");
		goto out;
	}
	/* a crashed uninstall's pods were Ready before these agents ran: new ones only */
	err = remove_teardown(c, v) ?: apply_one(c, v, td);
	if (err)
		goto out;
	printf("Applied DaemonSet %s/%s (image %s): azds-controller k8s-teardown on every node.\n", meta_ns(td),
	       meta_name(td), jstr(container0(td), "image", "?"));
	snprintf(lsel, sizeof(lsel), "app.kubernetes.io/name=azds,app.kubernetes.io/component=teardown");
	end = mono_ms() + wait;
	for (bool told = false;; told = true) {
		err = teardown_look(c, v, meta_ns(td), lsel, ran, &s, &not_done);
		if (err)
			goto out;
		if (!not_done)
			break;
		if (!told)
			printf("Waiting for the teardown on %d of %zu nodes.\n", not_done, json_object_size(s.nodes));
		if (mono_ms() >= end)
			break;
		usleep(500 * 1000);
	}
	json_object_foreach(s.nodes, node, why)
	{
		if (json_is_null(why))
			continue;
		if (!json_string_length(why)) {
			printf("Removed azds from node %s.\n", node);
			continue;
		}
		fprintf(stderr, "azds: %s: node %s: azds is still on it after %d s: %s; when it can, run "
				"`azds-controller k8s-teardown` on it (root, the node's netns, the agent's flags)\n",
			verb_title(v), node, (int)(wait / 1000), json_string_value(why));
	}
	*left = not_done;
	err = remove_teardown(c, v);
out:
	json_decref(docs);
	json_decref(s.nodes);
	json_decref(s.pods);
	return err;
}

int k8s_deploy_remove(struct k8s_cluster *c, const struct verb *v, bool teardown, int *nodes_left)
{
	struct azds_k8s_err e = {0};
	json_t *docs, *o, *agent = NULL, *ran = NULL;
	char msg[512];
	size_t i;
	int err = k8s_deploy_objects(NULL, &docs, msg, sizeof(msg));

	*nodes_left = 0;
	if (err)
		return fail("%s: the embedded manifests: %s", verb_title(v), msg), err;
	/* the agents first: once they are gone nothing registers the webhook again, nor attaches */
	json_array_foreach(docs, i, o)
	{
		const struct kind *k = kind_of(o);

		if (strcmp(k->kind, "DaemonSet"))
			continue;
		/* as it runs (image, flags, host paths): the teardown is made like it */
		json_decref(agent);
		agent = NULL;
		err = azds_k8s_get(c->k, &res_daemonsets, meta_ns(o), meta_name(o), &agent, &e);
		if (err && err != -ENOENT) {
			k8s_fail(v, &e, "reading DaemonSet %s/%s", meta_ns(o), meta_name(o));
			goto out;
		}
		/* the nodes it ran on (with no DaemonSet, an interrupted uninstall's: every node) */
		json_decref(ran);
		ran = err ? NULL : json_object();
		if (!err && !ran) {
			err = -ENOMEM;
			fail("out of memory");
			goto out;
		}
		err = delete_one(c, v, &k->res, k->kind, meta_ns(o), meta_name(o)) ?:
		      wait_no_pods(c, v, meta_ns(o),
				   json_object_get(json_object_get(json_object_get(o, "spec"), "selector"),
						   "matchLabels"),
				   "the node agents' pods", ran);
		if (err)
			goto out;
	}
	err = delete_one(c, v, &azds_k8s_mutatingwebhookconfigurations, "MutatingWebhookConfiguration", NULL,
			 K8S_WEBHOOK_NAME);
	if (err)
		goto out;
	if (teardown) {
		err = run_teardown(c, v, agent, ran, nodes_left);
		if (err)
			goto out;
	}
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
	json_decref(ran);
	json_decref(agent);
	json_decref(docs);
	return err;
}
