// SPDX-License-Identifier: MIT
/*
 * azds list-uris against a cluster: every Service a space sees, as
 * requests are routed (issue 11 part 6): the space's own, and where it has
 * none of a name its parent's, then the grandparent's. Each with its
 * cluster DNS name and ClusterIP, and the space whose copy answers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "k8s_cli.h"
#include "table.h"

static const struct verb v_uris = {
    .group = "list-uris",
    .synopsis = "[-s SPACE] [-o json|wide]",
    .summary = "the Services your space sees: Uri, ClusterIP and the space whose copy answers",
    .details = "A space sees its own Services and, where it has none of a name, its parent's (then the\n"
	       "grandparent's...): the nearest copy is the one a request is routed to. The Uri is the\n"
	       "Service's cluster DNS name, http://<service>.<namespace>.svc.cluster.local:<port> for an\n"
	       "HTTP port, tcp:// for plain TCP (the node agent's rule: annotation azds.io/kind, else\n"
	       "appProtocol, else a port named http or http-*, else ports 80, 8080, 8000, 3000, 5000),\n"
	       "udp:// and sctp:// for those.\n",
};

/*
 * HTTP or plain TCP, as the node agent decides it (controller/k8s_agent.c,
 * port_kind): annotation azds.io/kind, else appProtocol, else the port's
 * name (http, http-*), else the usual HTTP ports.
 */
static bool port_http(const char *annotation, const json_t *port)
{
	const char *app = jstr(port, "appProtocol", NULL), *name = jstr(port, "name", NULL);
	long long n = jint(port, "port", 0);

	if (annotation && (!strcmp(annotation, "http") || !strcmp(annotation, "tcp")))
		return !strcmp(annotation, "http");
	if (app)
		return !strcmp(app, "http");
	if (name && *name)
		return !strcmp(name, "http") || !strncmp(name, "http-", 5);
	return n == 80 || n == 8080 || n == 8000 || n == 3000 || n == 5000;
}

struct svc_acc {
	json_t *items;
	size_t n;
};

static int svc_item(json_t *item, void *arg)
{
	struct svc_acc *acc = arg;

	acc->n++;
	return json_array_append(acc->items, item) ? -ENOMEM : 0;
}

static int by_name(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return strcmp(jstr(json_object_get(x, "metadata"), "name", ""),
		      jstr(json_object_get(y, "metadata"), "name", ""));
}

/* the rows of namespace NS (space FROM) whose names SEEN has not had */
static int rows_of(struct k8s_cluster *c, const char *ns, const char *from, json_t *seen, json_t *rows)
{
	struct svc_acc acc = {.items = json_array()};
	struct azds_k8s_err e = {0};
	char rv[AZDS_K8S_RV_MAX];
	json_t **v;
	int err;

	if (!acc.items)
		return -ENOMEM;
	err = azds_k8s_list_all(c->k, &azds_k8s_services, ns, NULL, K8S_SVC_MAX, svc_item, &acc, rv, &e);
	if (err) {
		k8s_fail(&v_uris, &e, "listing the Services of namespace %s", ns);
		json_decref(acc.items);
		return err;
	}
	v = calloc(acc.n ? acc.n : 1, sizeof(*v));
	if (!v) {
		json_decref(acc.items);
		return -ENOMEM;
	}
	for (size_t i = 0; i < acc.n; i++)
		v[i] = json_array_get(acc.items, i);
	qsort(v, acc.n, sizeof(*v), by_name);
	for (size_t i = 0; i < acc.n; i++) {
		const json_t *spec = json_object_get(v[i], "spec"), *port;
		const char *name = jstr(json_object_get(v[i], "metadata"), "name", "");
		const char *ip = jstr(spec, "clusterIP", ""), *type = jstr(spec, "type", "ClusterIP");
		const char *kind =
		    jstr(json_object_get(json_object_get(v[i], "metadata"), "annotations"), "azds.io/kind", NULL);
		size_t k;

		if (!*name || json_object_get(seen, name))
			continue;
		json_object_set_new(seen, name, json_string(from));
		json_array_foreach(json_object_get(spec, "ports"), k, port)
		{
			const char *proto = jstr(port, "protocol", "TCP");
			const char *scheme = !strcmp(proto, "UDP")    ? "udp"
					     : !strcmp(proto, "SCTP") ? "sctp"
					     : port_http(kind, port)  ? "http"
								      : "tcp";
			long long p = jint(port, "port", 0);
			char uri[512];

			snprintf(uri, sizeof(uri), "%s://%s.%s.svc.cluster.local:%lld", scheme, name, ns, p);
			json_array_append_new(rows,
					      json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "service", name, "uri",
							uri, "port", (json_int_t)p, "protocol", proto, "clusterIP",
							*ip ? ip : "-", "type", type, "from", from, "namespace", ns));
		}
		/* a Service with no port (headless, selector only) still answers by name */
		if (!json_array_size(json_object_get(spec, "ports"))) {
			char uri[512];

			snprintf(uri, sizeof(uri), "http://%s.%s.svc.cluster.local", name, ns);
			json_array_append_new(rows,
					      json_pack("{s:s,s:s,s:n,s:s,s:s,s:s,s:s,s:s}", "service", name, "uri",
							uri, "port", "protocol", "-", "clusterIP", *ip ? ip : "-",
							"type", type, "from", from, "namespace", ns));
		}
	}
	free(v);
	json_decref(acc.items);
	return 0;
}

static void print_rows(const json_t *rows, bool wide)
{
	struct table *t = table_new();
	const json_t *row;
	size_t i;

	if (!t) {
		fail("out of memory");
		return;
	}
	table_col(t, "Uri", 0);
	table_col(t, "ClusterIP", 0);
	table_col(t, "Service", 0);
	table_col(t, "From", 0);
	table_col(t, "Namespace", TABLE_WIDE);
	table_col(t, "Type", TABLE_WIDE);
	json_array_foreach(rows, i, row)
	{
		table_cell(t, "%s", jstr(row, "uri", ""));
		table_cell(t, "%s", jstr(row, "clusterIP", ""));
		table_cell(t, "%s", jstr(row, "service", ""));
		table_cell(t, "%s", jstr(row, "from", ""));
		table_cell(t, "%s", jstr(row, "namespace", ""));
		table_cell(t, "%s", jstr(row, "type", ""));
	}
	table_print(t, stdout, wide);
	table_free(t);
}

VERB(cmd_k8s_list_uris)
{
	const char *given = NULL, *output = NULL;
	const struct opt o[] = {
	    OPT_S("space", 's', &given, "SPACE", "the space (default: your selected space)"),
	    OPT_S("name", 'n', &given, "SPACE", "the same as -s (the embedded mode's spelling)"),
	    OPT_OUTPUT(&output),
	    OPT_END,
	};
	char space[AZDS_PATH_MAX], chain[AZDS_PATH_MAX];
	json_t *rows = json_array(), *seen = json_object();
	struct k8s_cluster c;
	struct args a;
	int rc = EXIT_FAIL, err = opts_parse(&v_uris, o, argc, argv, &a);

	(void)v;
	if (err) {
		json_decref(rows);
		json_decref(seen);
		return opts_exit(err);
	}
	args_free(&a);
	if (!rows || !seen) {
		json_decref(rows);
		json_decref(seen);
		return fail("out of memory");
	}
	if (given && k8s_check_path(&v_uris, given)) {
		json_decref(rows);
		json_decref(seen);
		return EXIT_USAGE;
	}
	if (k8s_open(&c, &v_uris)) {
		json_decref(rows);
		json_decref(seen);
		return EXIT_FAIL;
	}
	if (k8s_load(&c, &v_uris) || k8s_space_or_selected(&c, &v_uris, given, space, sizeof(space)))
		goto out;
	if (!k8s_find_path(&c, space)) {
		fail("%s: no space %s on %s (azds space list shows them)", verb_title(&v_uris), space, c.cfg.server);
		goto out;
	}
	/* the space, then each ancestor: the nearest copy of a name is the one routed to */
	snprintf(chain, sizeof(chain), "%s", space);
	for (;;) {
		char *slash = strrchr(chain, '/');

		if (rows_of(&c, slash ? slash + 1 : chain, chain, seen, rows))
			goto out;
		if (!slash)
			break;
		*slash = 0;
	}
	if (output_json(output)) {
		json_t *doc = json_pack("{s:s,s:O}", "space", space, "items", rows);

		print_json(doc);
		json_decref(doc);
	} else if (!json_array_size(rows)) {
		printf("No Service in %s or its parents.\n", space);
	} else {
		print_rows(rows, output_wide(output));
	}
	rc = 0;
out:
	json_decref(rows);
	json_decref(seen);
	k8s_close(&c);
	return rc;
}
