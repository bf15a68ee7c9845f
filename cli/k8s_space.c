// SPDX-License-Identifier: MIT
/*
 * azds space list|select|show|remove against a cluster: spaces are
 * namespaces with azds.io/space=true, and a namespace labelled by hand
 * (Dev Spaces' pull-request workflow did exactly that) counts the same.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "client.h"
#include "k8s_cli.h"
#include "table.h"

#define NAMED_MAX 10 /* child spaces named in one message */

static const struct verb v_list = {
    .group = "space",
    .name = "list",
    .synopsis = "[-o json|wide]",
    .summary = "the spaces of the cluster (namespaces labelled azds.io/space=true); * marks your selected space",
    .details = "A space's NAME is its path, from the azds.io/parent-space labels: dev/alice is the namespace\n"
	       "alice whose parent is dev. A namespace labelled by hand counts the same; STATUS says why\n"
	       "one whose parents do not make a path has none.\n",
};

static const struct verb v_select = {
    .group = "space",
    .name = "select",
    .synopsis = "-n SPACE [-y]",
    .summary = "make SPACE your selected space, creating and labelling its namespaces when missing",
    .details = "dev/alice is the namespace alice, labelled azds.io/space=true and azds.io/parent-space=dev;\n"
	       "dev is labelled azds.io/space=true with no parent. Missing namespaces along the path are\n"
	       "created, and existing ones that are not spaces labelled, after a question on a terminal\n"
	       "(-y: without asking; required when not on a terminal). A leaf name is unique in a cluster:\n"
	       "a namespace that is already a space under another parent is an error. The selection is\n"
	       "kept per user, for this cluster and kubeconfig context (docs/k8s-cli.md).\n",
};

static const struct verb v_show = {
    .group = "space",
    .name = "show",
    .synopsis = "[-n SPACE] [-o json]",
    .summary = "a space's namespace, parent, children and labels (default: your selected space)",
};

static const struct verb v_remove = {
    .group = "space",
    .name = "remove",
    .synopsis = "-n SPACE [--recursive] [-y]",
    .summary = "remove a space: its namespace is deleted, with everything in it",
    .details = "A space with child spaces is refused unless --recursive (deepest first); default cannot be\n"
	       "removed. On a terminal it asks first unless -y.\n",
};

static const char *status_of(const struct k8s_ns *n, char *buf, size_t len)
{
	if (n->terminating)
		return "Terminating";
	if (!n->path[0]) {
		snprintf(buf, len, "NoPath: %s (%s=%s)", n->problem ? n->problem : "?", K8S_LABEL_PARENT, n->parent);
		return buf;
	}
	return "Active";
}

/* spaces ordered by path (those without one last, by namespace) */
static int by_path(const void *a, const void *b)
{
	const struct k8s_ns *x = *(const struct k8s_ns *const *)a, *y = *(const struct k8s_ns *const *)b;

	if (!x->path[0] != !y->path[0])
		return x->path[0] ? -1 : 1;
	return x->path[0] ? strcmp(x->path, y->path) : strcmp(x->name, y->name);
}

/* the spaces, sorted; *N their number; NULL with *N 0 when none (or out of memory: ENOMEM) */
static struct k8s_ns **spaces(struct k8s_cluster *c, size_t *n)
{
	struct k8s_ns **s = calloc(c->nns ? c->nns : 1, sizeof(*s));

	*n = 0;
	if (!s)
		return NULL;
	for (size_t i = 0; i < c->nns; i++)
		if (c->ns[i].space)
			s[(*n)++] = &c->ns[i];
	qsort(s, *n, sizeof(*s), by_path);
	return s;
}

static json_t *space_json(const struct k8s_ns *n, const char *selected)
{
	char st[256];

	return json_pack("{s:s?,s:s,s:s?,s:b,s:b,s:s,s:b,s:I}", "name", n->path[0] ? n->path : NULL, "namespace",
			 n->name, "parent", n->parent[0] ? n->parent : NULL, "selected",
			 n->path[0] && !strcmp(n->path, selected), "pullRequest", n->pr, "status",
			 status_of(n, st, sizeof(st)), "labelledByAzds", n->ours, "created", (json_int_t)n->created);
}

VERB(cmd_k8s_space_list)
{
	const char *output = NULL;
	const struct opt o[] = {OPT_OUTPUT(&output), OPT_END};
	struct k8s_cluster c;
	char selected[AZDS_PATH_MAX] = "";
	struct k8s_ns **s;
	struct args a;
	size_t n;
	int err = opts_parse(&v_list, o, argc, argv, &a);

	(void)v;
	if (err)
		return opts_exit(err);
	args_free(&a);
	if (k8s_open(&c, &v_list))
		return EXIT_FAIL;
	if (k8s_load(&c, &v_list)) {
		k8s_close(&c);
		return EXIT_FAIL;
	}
	k8s_selected(&c, selected, sizeof(selected));
	s = spaces(&c, &n);
	if (!s) {
		k8s_close(&c);
		return fail("out of memory");
	}
	if (output_json(output)) {
		json_t *items = json_array(), *doc;

		for (size_t i = 0; i < n; i++)
			json_array_append_new(items, space_json(s[i], selected));
		doc = json_pack("{s:s,s:s,s:s?,s:o}", "server", c.cfg.server, "context", c.cfg.context, "selected",
				selected[0] ? selected : NULL, "items", items);
		print_json(doc);
		json_decref(doc);
	} else if (!n) {
		printf("No spaces on %s (azds space select -n NAME -y makes one).\n", c.cfg.server);
	} else {
		struct table *t = table_new();

		if (!t) {
			free(s);
			k8s_close(&c);
			return fail("out of memory");
		}
		table_col(t, "", 0);
		table_col(t, "NAME", 0);
		table_col(t, "NAMESPACE", 0);
		table_col(t, "PARENT", 0);
		table_col(t, "STATUS", 0);
		table_col(t, "PULL-REQUEST", TABLE_WIDE);
		table_col(t, "AGE", TABLE_WIDE);
		for (size_t i = 0; i < n; i++) {
			char st[256], age[16];

			table_cell(t, "%s", s[i]->path[0] && !strcmp(s[i]->path, selected) ? "*" : "");
			table_cell(t, "%s", s[i]->path[0] ? s[i]->path : "?");
			table_cell(t, "%s", s[i]->name);
			table_cell(t, "%s", or_dash(s[i]->parent));
			table_cell(t, "%s", status_of(s[i], st, sizeof(st)));
			table_cell(t, "%s", s[i]->pr ? "yes" : "no");
			table_cell(t, "%s", table_age(s[i]->created, age, sizeof(age)));
		}
		table_print(t, stdout, output_wide(output));
		table_free(t);
	}
	free(s);
	k8s_close(&c);
	return 0;
}

/* a missing space, said with what the leaf's namespace is instead */
static int no_space(struct k8s_cluster *c, const struct verb *v, const char *path)
{
	const char *leaf = strrchr(path, '/');
	struct k8s_ns *n = k8s_find(c, leaf ? leaf + 1 : path);

	if (n && n->space && n->path[0])
		return fail("%s: no space %s on %s: namespace %s is the space %s", verb_title(v), path, c->cfg.server,
			    n->name, n->path);
	if (n && n->space)
		return fail("%s: no space %s on %s: namespace %s is a space with no path (%s)", verb_title(v), path,
			    c->cfg.server, n->name, n->problem ? n->problem : "?");
	if (n)
		return fail("%s: no space %s on %s: namespace %s is not a space (no %s=true)", verb_title(v), path,
			    c->cfg.server, n->name, K8S_LABEL_SPACE);
	return fail("%s: no space %s on %s (azds space list shows them)", verb_title(v), path, c->cfg.server);
}

enum step_kind { STEP_NONE, STEP_CREATE, STEP_LABEL };

struct step {
	enum step_kind kind;
	char name[AZDS_NAME_MAX];
	char parent[AZDS_NAME_MAX];
};

/* the namespace's labels (and our annotation) as a space under PARENT ("" for a root) */
static json_t *space_meta(const char *name, const char *parent, const char *ann)
{
	json_t *labels = json_pack("{s:s}", K8S_LABEL_SPACE, "true");

	/* null removes a stray parent label of a root in a merge patch; creating omits it */
	if (*parent)
		json_object_set_new(labels, K8S_LABEL_PARENT, json_string(parent));
	else if (!strcmp(ann, K8S_ANN_LABELLED))
		json_object_set_new(labels, K8S_LABEL_PARENT, json_null());
	return json_pack("{s:s,s:o,s:{s:s}}", "name", name, "labels", labels, "annotations", ann, K8S_BY);
}

static int apply_step(struct k8s_cluster *c, const struct verb *v, const struct step *st)
{
	struct azds_k8s_err e = {0};
	json_t *body;
	int err;

	if (st->kind == STEP_CREATE) {
		body = json_pack("{s:s,s:s,s:o}", "apiVersion", "v1", "kind", "Namespace", "metadata",
				 space_meta(st->name, st->parent, K8S_ANN_CREATED));
		err = body ? azds_k8s_create(c->k, &azds_k8s_namespaces, NULL, body, NULL, &e) : -ENOMEM;
		json_decref(body);
		if (err)
			return k8s_fail(v, &e, "creating namespace %s", st->name), err;
		printf("Created namespace %s as a space%s%s.\n", st->name, *st->parent ? " under " : "", st->parent);
		return 0;
	}
	body = json_pack("{s:o}", "metadata", space_meta(st->name, st->parent, K8S_ANN_LABELLED));
	json_object_del(json_object_get(body, "metadata"), "name");
	err = body ? azds_k8s_patch(c->k, &azds_k8s_namespaces, NULL, st->name, AZDS_K8S_PATCH_MERGE, body, NULL, &e)
		   : -ENOMEM;
	json_decref(body);
	if (err)
		return k8s_fail(v, &e, "labelling namespace %s", st->name), err;
	printf("Labelled namespace %s as a space%s%s.\n", st->name, *st->parent ? " under " : "", st->parent);
	return 0;
}

/* what select must do for each namespace of PATH; prints the refusal */
static int plan(struct k8s_cluster *c, const struct verb *v, const char *path, struct step *steps, int *nsteps)
{
	char parent[AZDS_NAME_MAX] = "";
	const char *p = path;

	*nsteps = 0;
	for (;;) {
		size_t len = strcspn(p, "/");
		struct step *st = &steps[(*nsteps)++];
		struct k8s_ns *n;

		memset(st, 0, sizeof(*st));
		memcpy(st->name, p, len);
		st->name[len] = 0;
		snprintf(st->parent, sizeof(st->parent), "%s", parent);
		n = k8s_find(c, st->name);
		if (k8s_reserved(st->name))
			return fail("%s: space %s: namespace %s is reserved (kube-* and %s are never spaces)",
				    verb_title(v), path, st->name, K8S_SYSTEM_NS),
			       -EPERM;
		if (n && n->terminating)
			return fail("%s: space %s: namespace %s is being deleted; try again when it is gone",
				    verb_title(v), path, st->name),
			       -EBUSY;
		if (n && n->space && strcmp(n->parent, parent)) {
			if (n->path[0])
				return fail("%s: space %s: namespace %s is already the space %s (%s=%s), and a "
					    "namespace name is one space in a cluster: choose another name",
					    verb_title(v), path, st->name, n->path, K8S_LABEL_PARENT,
					    or_dash(n->parent)),
				       -EEXIST;
			return fail("%s: space %s: namespace %s is already a space under %s (%s), and a namespace "
				    "name is one space in a cluster: choose another name",
				    verb_title(v), path, st->name, or_dash(n->parent), n->problem ? n->problem : "?"),
			       -EEXIST;
		}
		st->kind = !n ? STEP_CREATE : n->space ? STEP_NONE : STEP_LABEL;
		snprintf(parent, sizeof(parent), "%s", st->name);
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static bool consent(const struct step *steps, int nsteps)
{
	for (int i = 0; i < nsteps; i++)
		if (steps[i].kind == STEP_CREATE)
			fprintf(stderr, "  create namespace %s as a space%s%s\n", steps[i].name,
				*steps[i].parent ? " under " : "", steps[i].parent);
		else if (steps[i].kind == STEP_LABEL)
			fprintf(stderr, "  label the existing namespace %s as a space%s%s\n", steps[i].name,
				*steps[i].parent ? " under " : "", steps[i].parent);
	return ask_yes("Make these changes on the cluster?");
}

VERB(cmd_k8s_space_select)
{
	const char *space = NULL;
	bool yes = false;
	const struct opt o[] = {
	    OPT_S("space", 'n', &space, "SPACE", "the space, e.g. dev/alice"),
	    OPT_F("yes", 'y', &yes, "create or label namespaces without asking"),
	    OPT_END,
	};
	struct step steps[AZDS_DEPTH_HARD_MAX];
	struct k8s_cluster c;
	int nsteps = 0, changes = 0, rc = EXIT_FAIL;
	struct args a;
	int err = opts_parse(&v_select, o, argc, argv, &a);

	(void)v;
	if (err)
		return opts_exit(err);
	args_free(&a);
	if (!space)
		return usage_error(&v_select, "-n SPACE is required");
	if (k8s_check_path(&v_select, space))
		return EXIT_USAGE;
	if (k8s_open(&c, &v_select))
		return EXIT_FAIL;
	if (k8s_load(&c, &v_select) || plan(&c, &v_select, space, steps, &nsteps))
		goto out;
	for (int i = 0; i < nsteps; i++)
		changes += steps[i].kind != STEP_NONE;
	if (changes && !yes) {
		if (!interactive()) {
			fail("%s: space %s needs %d namespace%s created or labelled on %s: give -y (not on a terminal)",
			     verb_title(&v_select), space, changes, changes > 1 ? "s" : "", c.cfg.server);
			goto out;
		}
		if (!consent(steps, nsteps)) {
			fail("%s: space %s was not created", verb_title(&v_select), space);
			goto out;
		}
	}
	/* root first: a child is never labelled under a parent that is not a space yet */
	for (int i = 0; i < nsteps; i++)
		if (steps[i].kind != STEP_NONE && apply_step(&c, &v_select, &steps[i]))
			goto out;
	if (k8s_select_save(&c, space))
		goto out;
	printf("Selected space %s (namespace %s) on %s.\n", space, steps[nsteps - 1].name, c.cfg.server);
	rc = 0;
out:
	k8s_close(&c);
	return rc;
}

/* the spaces under N (resolved paths below N's), in S, deepest first */
static size_t descendants(struct k8s_cluster *c, const struct k8s_ns *n, struct k8s_ns ***out)
{
	size_t len = strlen(n->path), k = 0, all;
	struct k8s_ns **s = spaces(c, &all);

	*out = s;
	if (!s)
		return 0;
	for (size_t i = 0; i < all; i++)
		if (s[i]->path[0] && !strncmp(s[i]->path, n->path, len) && s[i]->path[len] == '/')
			s[k++] = s[i];
	/* by path, reversed: every child before its parent */
	for (size_t i = 0; i < k / 2; i++) {
		struct k8s_ns *t = s[i];

		s[i] = s[k - 1 - i];
		s[k - 1 - i] = t;
	}
	return k;
}

static void join_paths(struct k8s_ns **s, size_t n, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && i < NAMED_MAX; i++) {
		int w = snprintf(buf + at, len - at, "%s%s", i ? ", " : "", s[n - 1 - i]->path);

		if (w < 0 || (size_t)w >= len - at)
			return;
		at += w;
	}
	if (n > NAMED_MAX)
		snprintf(buf + at, len - at, " and %zu more", n - NAMED_MAX);
}

static void show_space(struct k8s_cluster *c, const struct k8s_ns *n, const char *selected, int how)
{
	const json_t *meta = json_object_get(n->obj, "metadata"), *val;
	struct k8s_ns **kids = NULL;
	size_t nk = descendants(c, n, &kids), shown = 0;
	char when[64] = "-", age[16], st[256];
	time_t t = (time_t)n->created;
	const char *key, *lead = "Labels:";
	struct tm tm;

	if (n->created > 0 && localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
	printf("%-14s%s\n", "Name:", n->path);
	printf("%-14s%s\n", "Namespace:", n->name);
	printf("%-14s%s\n", "Parent:", or_dash(n->parent));
	printf("%-14s%s\n", "Status:", status_of(n, st, sizeof(st)));
	printf("%-14s%s\n", "Selected:",
	       strcmp(n->path, selected) ? "no"
	       : how == 1		 ? "yes (the kubeconfig context's namespace: none selected with azds)"
					 : "yes");
	printf("%-14s%s\n", "Pull request:", n->pr ? "yes" : "no");
	printf("%-14s%s\n", "Labelled by:", n->ours ? "azds" : "hand (or another tool)");
	printf("%-14s%s (%s ago)\n", "Created:", when, table_age(n->created, age, sizeof(age)));
	/* direct children only: one level below */
	for (size_t i = nk; i-- > 0;)
		if (!strchr(kids[i]->path + strlen(n->path) + 1, '/')) {
			printf("%-14s%s\n", shown ? "" : "Children:", kids[i]->path);
			shown++;
		}
	if (!shown)
		printf("%-14s<none>\n", "Children:");
	free(kids);
	json_object_foreach((json_t *)json_object_get(meta, "labels"), key, val)
	{
		printf("%-14s%s=%s\n", lead, key, json_string_value(val) ? json_string_value(val) : "");
		lead = "";
	}
	lead = "Annotations:";
	json_object_foreach((json_t *)json_object_get(meta, "annotations"), key, val) if (!strncmp(key, "azds.io/", 8))
	{
		printf("%-14s%s=%s\n", lead, key, json_string_value(val) ? json_string_value(val) : "");
		lead = "";
	}
}

VERB(cmd_k8s_space_show)
{
	const char *given = NULL, *output = NULL;
	const struct opt o[] = {
	    OPT_S("space", 'n', &given, "SPACE", "the space (default: your selected space)"),
	    OPT_OUTPUT(&output),
	    OPT_END,
	};
	char space[AZDS_PATH_MAX], selected[AZDS_PATH_MAX] = "";
	struct k8s_cluster c;
	struct k8s_ns *n;
	struct args a;
	int how, rc = EXIT_FAIL, err = opts_parse(&v_show, o, argc, argv, &a);

	(void)v;
	if (err)
		return opts_exit(err);
	args_free(&a);
	if (given && k8s_check_path(&v_show, given))
		return EXIT_USAGE;
	if (k8s_open(&c, &v_show))
		return EXIT_FAIL;
	if (k8s_load(&c, &v_show) || k8s_space_or_selected(&c, &v_show, given, space, sizeof(space)))
		goto out;
	how = k8s_selected(&c, selected, sizeof(selected));
	n = k8s_find_path(&c, space);
	if (!n) {
		no_space(&c, &v_show, space);
		goto out;
	}
	if (output_json(output)) {
		json_t *doc = space_json(n, selected);
		const json_t *meta = json_object_get(n->obj, "metadata");

		json_object_set(doc, "labels", json_object_get(meta, "labels") ?: json_object());
		json_object_set(doc, "annotations", json_object_get(meta, "annotations") ?: json_object());
		print_json(doc);
		json_decref(doc);
	} else {
		show_space(&c, n, selected, how);
	}
	rc = 0;
out:
	k8s_close(&c);
	return rc;
}

VERB(cmd_k8s_space_remove)
{
	const char *space = NULL;
	bool yes = false, recursive = false;
	const struct opt o[] = {
	    OPT_S("space", 'n', &space, "SPACE", "the space to remove"),
	    OPT_F("recursive", 0, &recursive, "remove its child spaces too (their namespaces are deleted)"),
	    OPT_F("yes", 'y', &yes, "do not ask"),
	    OPT_END,
	};
	char names[1024], selected[AZDS_PATH_MAX] = "";
	struct k8s_ns **kids = NULL, *n;
	struct k8s_cluster c;
	struct args a;
	size_t nk;
	int rc = EXIT_FAIL, err = opts_parse(&v_remove, o, argc, argv, &a);

	(void)v;
	if (err)
		return opts_exit(err);
	args_free(&a);
	if (!space)
		return usage_error(&v_remove, "-n SPACE is required");
	if (k8s_check_path(&v_remove, space))
		return EXIT_USAGE;
	if (!strcmp(space, "default"))
		return fail("%s: default cannot be removed", verb_title(&v_remove));
	if (k8s_open(&c, &v_remove))
		return EXIT_FAIL;
	if (k8s_load(&c, &v_remove))
		goto out;
	n = k8s_find_path(&c, space);
	if (!n) {
		no_space(&c, &v_remove, space);
		goto out;
	}
	if (!strcmp(n->name, "default")) {
		fail("%s: default cannot be removed", verb_title(&v_remove));
		goto out;
	}
	nk = descendants(&c, n, &kids);
	if (!kids) {
		fail("out of memory");
		goto out;
	}
	join_paths(kids, nk, names, sizeof(names));
	if (nk && !recursive) {
		fail("%s: space %s has %zu child space%s (%s): remove %s first, or give --recursive",
		     verb_title(&v_remove), space, nk, nk > 1 ? "s" : "", names, nk > 1 ? "them" : "it");
		goto out;
	}
	for (size_t i = 0; i < nk; i++)
		if (!strcmp(kids[i]->name, "default") || k8s_reserved(kids[i]->name)) {
			fail("%s: %s cannot be removed, and it is under %s", verb_title(&v_remove), kids[i]->name,
			     space);
			goto out;
		}
	if (!yes && interactive() &&
	    !(nk ? ask_yes("Delete namespace %s and the namespaces of %s, with everything in them?", n->name, names)
		 : ask_yes("Delete namespace %s (space %s), with everything in it?", n->name, space))) {
		fail("%s: space %s was not removed", verb_title(&v_remove), space);
		goto out;
	}
	k8s_selected(&c, selected, sizeof(selected));
	for (size_t i = 0; i <= nk; i++) {
		struct k8s_ns *x = i < nk ? kids[i] : n;
		struct azds_k8s_err e = {0};

		err = azds_k8s_delete(c.k, &azds_k8s_namespaces, NULL, x->name, NULL, &e);
		if (err && err != -ENOENT) {
			k8s_fail(&v_remove, &e, "deleting namespace %s (space %s)", x->name, x->path);
			goto out;
		}
		printf("Removed space %s (namespace %s is being deleted).\n", x->path, x->name);
	}
	/* the selection went with it: forget it rather than point at nothing */
	if (selected[0] &&
	    (!strcmp(selected, space) || (!strncmp(selected, space, strlen(space)) && selected[strlen(space)] == '/')))
		k8s_select_save(&c, "");
	rc = 0;
out:
	free(kids);
	k8s_close(&c);
	return rc;
}
