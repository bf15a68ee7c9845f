// SPDX-License-Identifier: MIT
/*
 * azds controller install|uninstall against a cluster. install labels the
 * first space (default, as Dev Spaces upgraded it, unless another is
 * named), makes the azds namespace for azds's own parts and applies
 * deploy/kubernetes/; uninstall undoes everything azds put on the cluster
 * and its nodes and nothing else: the agents and what they did on each
 * node (the teardown DaemonSet), the labels and annotations it put on
 * namespaces (labels put by hand stay), the azds namespace, the webhook's
 * registration (docs/k8s-cli.md, docs/kubernetes-install.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "k8s_cli.h"
#include "k8s_deploy.h"

static const struct verb v_install = {
    .group = "controller",
    .name = "install",
    .synopsis = "[-n SPACE] [-y]",
    .summary = "set azds up on the cluster: the azds namespace, the node agents (deploy/kubernetes/), the first space",
    .details = "SPACE (default: default) becomes a space (azds.io/space=true), created when missing; it must\n"
	       "be a root. The azds namespace is reserved for azds: one that is not azds's own (no\n"
	       "app.kubernetes.io/managed-by=azds) or that an install of another version left is replaced,\n"
	       "after a question on a terminal (-y: without; required when not on a terminal). Then the\n"
	       "objects of deploy/kubernetes/ (embedded in this azds) are applied by server-side apply: the\n"
	       "node agents' ServiceAccount, RBAC and DaemonSet (image " AZDS_IMAGE_REF ", from `azds image\n"
	       "build`) and the webhook's Service. Running it again changes nothing. Needs a cluster:\n"
	       "--kubeconfig FILE, $KUBECONFIG or ~/.kube/config (docs/kubernetes-install.md).\n",
};

static const struct verb v_uninstall = {
    .group = "controller",
    .name = "uninstall",
    .synopsis = "[-y]",
    .summary = "remove azds from the cluster and its nodes, leaving the namespaces as they were",
    .details = "It deletes the MutatingWebhookConfiguration azds-webhook (and any labelled\n"
	       "app.kubernetes.io/managed-by=azds), the node agents' DaemonSet (waiting for its pods), then\n"
	       "takes azds off every node: the DaemonSet azds-teardown runs `azds-controller k8s-teardown` on\n"
	       "each (azds-cni unchained, the programs detached, the maps and run dir purged; the pods keep\n"
	       "running) and is deleted once every node is done (at most 90 s: a node that is not done, a\n"
	       "node down for one, is named with why, and uninstall exits 1 after removing the rest). Then\n"
	       "the RBAC, the azds namespace (waiting until it is gone), and every azds.io/ label and\n"
	       "annotation of the namespaces that azds labelled or created; those namespaces and what is in\n"
	       "them stay. Labels put by hand stay too. On a terminal it asks first unless -y. Running it\n"
	       "again changes nothing.\n",
};

/*
 * The manifests of deploy/kubernetes/ (the azds Namespace, the node
 * agent's ServiceAccount and RBAC, its DaemonSet, the webhook's Service:
 * issue 11 part 7), embedded into this azds and applied by server-side
 * apply with the image of this build (cli/k8s_deploy.c); uninstall deletes
 * them, the cluster-scoped RBAC included, before the namespace goes.
 */
static int apply_manifests(struct k8s_cluster *c, const struct verb *v)
{
	return k8s_deploy_apply(c, v, AZDS_IMAGE_REF);
}

/* the nodes too, while the azds namespace is there to run the teardown in */
static int remove_manifests(struct k8s_cluster *c, const struct verb *v, int *nodes_left)
{
	const struct k8s_ns *n = k8s_find(c, K8S_SYSTEM_NS);

	return k8s_deploy_remove(c, v, n && !n->terminating, nodes_left);
}

/* ours and of this version: an install's namespace that can be kept */
static bool system_ns_current(const struct k8s_ns *n)
{
	const json_t *meta = json_object_get(n->obj, "metadata");
	const char *owner = jstr(json_object_get(meta, "labels"), K8S_OWNER_LABEL, "");
	const char *ver = jstr(json_object_get(meta, "annotations"), K8S_VERSION_ANN, "");

	return !strcmp(owner, K8S_OWNER_VALUE) && !strcmp(ver, K8S_INSTALL_VERSION);
}

static int create_system_ns(struct k8s_cluster *c, const struct verb *v)
{
	struct azds_k8s_err e = {0};
	json_t *body = json_pack("{s:s,s:s,s:{s:s,s:{s:s,s:s},s:{s:s}}}", "apiVersion", "v1", "kind", "Namespace",
				 "metadata", "name", K8S_SYSTEM_NS, "labels", K8S_OWNER_LABEL, K8S_OWNER_VALUE,
				 "app.kubernetes.io/name", "azds", "annotations", K8S_VERSION_ANN, K8S_INSTALL_VERSION);
	int err = body ? azds_k8s_create(c->k, &azds_k8s_namespaces, NULL, body, NULL, &e) : -ENOMEM;

	json_decref(body);
	if (err)
		return k8s_fail(v, &e, "creating namespace %s", K8S_SYSTEM_NS), err;
	printf("Created namespace %s for azds's own parts.\n", K8S_SYSTEM_NS);
	return 0;
}

/* the azds namespace: kept when current, else replaced (with consent when it is not ours) */
static int system_ns(struct k8s_cluster *c, const struct verb *v, bool yes)
{
	struct k8s_ns *n = k8s_find(c, K8S_SYSTEM_NS);
	struct azds_k8s_err e = {0};
	const char *why;
	int err;

	if (!n)
		return create_system_ns(c, v);
	if (n->terminating) {
		printf("Namespace %s is being deleted (an earlier uninstall): waiting for it.\n", K8S_SYSTEM_NS);
		return k8s_wait_gone(c, v, K8S_SYSTEM_NS) ?: create_system_ns(c, v);
	}
	if (system_ns_current(n)) {
		printf("Namespace %s is azds's own already: kept.\n", K8S_SYSTEM_NS);
		return 0;
	}
	why = !strcmp(jstr(json_object_get(json_object_get(n->obj, "metadata"), "labels"), K8S_OWNER_LABEL, ""),
		      K8S_OWNER_VALUE)
		  ? "an install of another version left it"
		  : "it is not azds's own: no " K8S_OWNER_LABEL "=" K8S_OWNER_VALUE;
	if (!yes) {
		if (!interactive())
			return fail("%s: namespace %s exists and %s; it is reserved for azds: give -y to replace it "
				    "(everything in it is deleted)",
				    verb_title(v), K8S_SYSTEM_NS, why),
			       -EEXIST;
		if (!ask_yes("Namespace %s exists and %s. Delete it, with everything in it, and make azds's own?",
			     K8S_SYSTEM_NS, why))
			return fail("%s: namespace %s was not replaced", verb_title(v), K8S_SYSTEM_NS), -ECANCELED;
	}
	err = azds_k8s_delete(c->k, &azds_k8s_namespaces, NULL, K8S_SYSTEM_NS, NULL, &e);
	if (err && err != -ENOENT)
		return k8s_fail(v, &e, "deleting the stale namespace %s", K8S_SYSTEM_NS), err;
	printf("Deleting the stale namespace %s (%s).\n", K8S_SYSTEM_NS, why);
	return k8s_wait_gone(c, v, K8S_SYSTEM_NS) ?: create_system_ns(c, v);
}

/* the first space: a root, created or labelled */
static int first_space(struct k8s_cluster *c, const struct verb *v, const char *name)
{
	struct k8s_ns *n = k8s_find(c, name);
	struct azds_k8s_err e = {0};
	json_t *body;
	int err;

	if (n && n->terminating)
		return fail("%s: namespace %s is being deleted; try again when it is gone", verb_title(v), name),
		       -EBUSY;
	if (n && n->space) {
		if (n->parent[0])
			return fail("%s: namespace %s is already the space %s (%s=%s): the first space must be a root",
				    verb_title(v), name, n->path[0] ? n->path : "?", K8S_LABEL_PARENT, n->parent),
			       -EEXIST;
		printf("Namespace %s is a space already.\n", name);
		return 0;
	}
	if (!n) {
		body =
		    json_pack("{s:s,s:s,s:{s:s,s:{s:s},s:{s:s}}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
			      "name", name, "labels", K8S_LABEL_SPACE, "true", "annotations", K8S_ANN_CREATED, K8S_BY);
		err = body ? azds_k8s_create(c->k, &azds_k8s_namespaces, NULL, body, NULL, &e) : -ENOMEM;
		json_decref(body);
		if (err)
			return k8s_fail(v, &e, "creating namespace %s", name), err;
		printf("Created namespace %s as the first space.\n", name);
		return 0;
	}
	body = json_pack("{s:{s:{s:s,s:n},s:{s:s}}}", "metadata", "labels", K8S_LABEL_SPACE, "true", K8S_LABEL_PARENT,
			 "annotations", K8S_ANN_LABELLED, K8S_BY);
	err = body ? azds_k8s_patch(c->k, &azds_k8s_namespaces, NULL, name, AZDS_K8S_PATCH_MERGE, body, NULL, &e)
		   : -ENOMEM;
	json_decref(body);
	if (err)
		return k8s_fail(v, &e, "labelling namespace %s", name), err;
	printf("Labelled namespace %s as the first space (%s=true).\n", name, K8S_LABEL_SPACE);
	return 0;
}

VERB(cmd_k8s_controller_install)
{
	const char *space = NULL;
	bool yes = false;
	const struct opt o[] = {
	    OPT_S("space", 'n', &space, "SPACE", "the first space, a root (default: default)"),
	    OPT_F("yes", 'y', &yes, "replace a stale azds namespace without asking"),
	    OPT_END,
	};
	struct k8s_cluster c;
	struct args a;
	int rc = EXIT_FAIL, err = opts_parse(&v_install, o, argc, argv, &a);

	(void)v;
	if (err)
		return opts_exit(err);
	args_free(&a);
	if (cli_instance_flag)
		return usage_error(&v_install, "-i/--instance is the embedded mode, which needs no install "
					       "(azds controller start); give --kubeconfig FILE for a cluster");
	if (!space)
		space = "default";
	if (strchr(space, '/'))
		return usage_error(&v_install, "the first space \"%s\" must be a root: a namespace name", space);
	if (k8s_check_path(&v_install, space))
		return EXIT_USAGE;
	if (k8s_reserved(space))
		return usage_error(&v_install, "namespace %s is reserved: never a space", space);
	if (k8s_open(&c, &v_install))
		return EXIT_FAIL;
	/* the azds namespace first: a refusal to replace it leaves the cluster as it was */
	if (k8s_load(&c, &v_install) || system_ns(&c, &v_install, yes) || first_space(&c, &v_install, space) ||
	    apply_manifests(&c, &v_install))
		goto out;
	printf("azds is installed on %s; the first space is %s.\n", c.cfg.server, space);
	rc = 0;
out:
	k8s_close(&c);
	return rc;
}

/* every azds.io/ label and annotation of N, as nulls of a merge patch */
static json_t *strip_patch(const struct k8s_ns *n)
{
	const json_t *meta = json_object_get(n->obj, "metadata");
	json_t *labels = json_object(), *anns = json_object(), *val;
	const char *key;

	json_object_foreach((json_t *)json_object_get(meta, "labels"), key, val) if (!strncmp(key, "azds.io/", 8))
	    json_object_set_new(labels, key, json_null());
	json_object_foreach((json_t *)json_object_get(meta, "annotations"), key, val) if (!strncmp(key, "azds.io/", 8))
	    json_object_set_new(anns, key, json_null());
	return json_pack("{s:{s:o,s:o}}", "metadata", "labels", labels, "annotations", anns);
}

struct names {
	json_t *list;
};

static int name_item(json_t *item, void *arg)
{
	const char *name = jstr(json_object_get(item, "metadata"), "name", NULL);

	return name && json_array_append_new(((struct names *)arg)->list, json_string(name)) ? -ENOMEM : 0;
}

/*
 * The webhook's registrations: azds-webhook, and any other that carries
 * our ownership label (a renamed or older one), so that none is left
 * pointing at a server that is gone. Returns how many went, or -errno.
 */
static int remove_webhooks(struct k8s_cluster *c, const struct verb *v)
{
	const struct azds_k8s_list_opts lo = {.label_selector = K8S_OWNER_LABEL "=" K8S_OWNER_VALUE};
	struct names n = {.list = json_pack("[s]", K8S_WEBHOOK_NAME)};
	struct azds_k8s_err e = {0};
	char rv[AZDS_K8S_RV_MAX];
	int err, gone = 0;
	json_t *name;
	size_t i;

	if (!n.list)
		return fail("out of memory"), -ENOMEM;
	err = azds_k8s_list_all(c->k, &azds_k8s_mutatingwebhookconfigurations, NULL, &lo, K8S_NS_MAX, name_item, &n, rv,
				&e);
	if (err) {
		json_decref(n.list);
		return k8s_fail(v, &e, "listing the MutatingWebhookConfigurations labelled %s=%s", K8S_OWNER_LABEL,
				K8S_OWNER_VALUE),
		       err;
	}
	json_array_foreach(n.list, i, name)
	{
		const char *s = json_string_value(name);

		if (i && !strcmp(s, K8S_WEBHOOK_NAME))
			continue; /* named first already */
		err = azds_k8s_delete(c->k, &azds_k8s_mutatingwebhookconfigurations, NULL, s, NULL, &e);
		if (err == -ENOENT)
			continue;
		if (err) {
			k8s_fail(v, &e, "deleting MutatingWebhookConfiguration %s", s);
			json_decref(n.list);
			return err;
		}
		printf("Deleted MutatingWebhookConfiguration %s.\n", s);
		gone++;
	}
	json_decref(n.list);
	return gone;
}

VERB(cmd_k8s_controller_uninstall)
{
	bool yes = false;
	const struct opt o[] = {OPT_F("yes", 'y', &yes, "do not ask"), OPT_END};
	struct azds_k8s_err e = {0};
	struct k8s_cluster c;
	struct args a;
	int changed = 0, nodes_left = 0, rc = EXIT_FAIL, err = opts_parse(&v_uninstall, o, argc, argv, &a);

	(void)v;
	if (err)
		return opts_exit(err);
	args_free(&a);
	if (cli_instance_flag)
		return usage_error(&v_uninstall, "-i/--instance is the embedded mode (azds controller stop --all); "
						 "give --kubeconfig FILE for a cluster");
	if (k8s_open(&c, &v_uninstall))
		return EXIT_FAIL;
	if (k8s_load(&c, &v_uninstall))
		goto out;
	if (!yes && interactive() &&
	    !ask_yes("Remove azds from %s and its nodes (the agents, the azds namespace, the webhook, azds's labels "
		     "on namespaces)?",
		     c.cfg.server)) {
		fail("%s: nothing was removed", verb_title(&v_uninstall));
		goto out;
	}
	/* the webhook first: nothing may call a server that is going away */
	err = remove_webhooks(&c, &v_uninstall);
	if (err < 0)
		goto out;
	changed += err;
	if (remove_manifests(&c, &v_uninstall, &nodes_left))
		goto out;
	for (size_t i = 0; i < c.nns; i++) {
		struct k8s_ns *n = &c.ns[i];
		json_t *patch;

		/* one being deleted goes with its labels */
		if (!n->ours || n->terminating || !strcmp(n->name, K8S_SYSTEM_NS))
			continue;
		patch = strip_patch(n);
		err = patch ? azds_k8s_patch(c.k, &azds_k8s_namespaces, NULL, n->name, AZDS_K8S_PATCH_MERGE, patch,
					     NULL, &e)
			    : -ENOMEM;
		json_decref(patch);
		if (err == -ENOENT)
			continue;
		if (err) {
			k8s_fail(&v_uninstall, &e, "removing azds's labels from namespace %s", n->name);
			goto out;
		}
		printf("Removed azds's labels and annotations from namespace %s (kept).\n", n->name);
		changed++;
	}
	err = azds_k8s_delete(c.k, &azds_k8s_namespaces, NULL, K8S_SYSTEM_NS, NULL, &e);
	if (err && err != -ENOENT) {
		k8s_fail(&v_uninstall, &e, "deleting namespace %s", K8S_SYSTEM_NS);
		goto out;
	}
	if (!err || k8s_find(&c, K8S_SYSTEM_NS)) {
		printf("Deleting namespace %s.\n", K8S_SYSTEM_NS);
		if (k8s_wait_gone(&c, &v_uninstall, K8S_SYSTEM_NS))
			goto out;
		printf("Deleted namespace %s.\n", K8S_SYSTEM_NS);
		changed++;
	}
	if (nodes_left) {
		fail("%s: azds is removed from %s but is still on %d node%s (above)", verb_title(&v_uninstall),
		     c.cfg.server, nodes_left, nodes_left == 1 ? "" : "s");
		goto out;
	}
	if (!changed)
		printf("Nothing of azds is left on %s.\n", c.cfg.server);
	else
		printf("azds is uninstalled from %s.\n", c.cfg.server);
	rc = 0;
out:
	k8s_close(&c);
	return rc;
}
