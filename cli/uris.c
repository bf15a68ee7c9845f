// SPDX-License-Identifier: MIT
/*
 * azds list-uris: where each service a space sees answers (Uri, Status),
 * as Dev Spaces listed them: through the node's local ingress for HTTP
 * services (docs/ingress.md), the service address for TCP ones. A space
 * sees its own services and, where it has none of that name, its
 * parent's (then the grandparent's...), as requests are routed.
 * --addresses lists every service address of the data plane instead,
 * read from the pinned maps (no controller needed).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "client.h"
#include "maps.h"
#include "table.h"
#include "verbs.h"

static int list_addresses(void)
{
	struct azds_vip_key k, n;
	struct azds_maps m;
	struct azds_vip vip;
	void *cur = NULL;

	if (cli_maps_open(&m))
		return EXIT_FAIL;
	printf("%-16s %-22s %s\n", "SERVICE", "URI", "KIND");
	while (bpf_map_get_next_key(m.vips, cur, &n) == 0) {
		const char *kind;
		char addr[16];

		k = n;
		cur = &k;
		if (bpf_map_lookup_elem(m.vips, &k, &vip))
			continue;
		kind = vip.kind == AZDS_KIND_HTTP ? "http" : "tcp";
		inet_ntop(AF_INET, &k.addr, addr, sizeof(addr));
		printf("%-16s %s://%s:%-5u %s\n", vip.name, kind, addr, ntohs(k.port), kind);
	}
	azds_maps_close(&m);
	return 0;
}

/* one of a service's endpoints is a pod whose process runs (without the
 * pods' list: any endpoint) */
static bool endpoint_running(const json_t *eps, const json_t *pods)
{
	const json_t *ep, *pod;
	size_t i, j;

	if (!pods)
		return json_array_size(eps) > 0;
	json_array_foreach(eps, i, ep)
		json_array_foreach(json_object_get(pods, "items"), j, pod)
			if (json_is_string(ep) && !strcmp(json_string_value(ep), jstr(pod, "address", "")) &&
			    !strcmp(jstr(json_object_get(pod, "status"), "phase", ""), "Running"))
				return true;
	return false;
}

VERB(cmd_list_uris)
{
	const char *given = NULL, *output = NULL;
	bool addresses = false;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the space (default: your selected space)"),
		OPT_F("addresses", 0, &addresses, "every service address in the data plane instead (no controller needed)"),
		OPT_OUTPUT(&output),
		OPT_END,
	};
	char space[AZDS_PATH_MAX], chain[AZDS_PATH_MAX], prefix[AZDS_PATH_MAX + 16], uri[600];
	struct api_reply svcs = { 0 }, pods = { 0 };
	json_t *rows = json_array(), *seen = json_object(), *s;
	unsigned port = 0;
	struct args a;
	size_t i;
	int r = opts_parse(v, o, argc, argv, &a);

	if (r)
		return opts_exit(r);
	args_free(&a);
	if (addresses) {
		json_decref(rows);
		json_decref(seen);
		return list_addresses();
	}
	if (api_space_or_selected(given, space, sizeof(space)) || api_get("/v1/services", &svcs)) {
		json_decref(rows);
		json_decref(seen);
		return EXIT_FAIL;
	}
	{
		/* a space that does not exist (given, or selected and since
		 * removed) is an error, not an empty list */
		struct api_reply one = { 0 };

		if (api_list("services", space, false, &one)) {
			api_reply_free(&svcs);
			json_decref(rows);
			json_decref(seen);
			return EXIT_FAIL;
		}
		api_reply_free(&one);
	}
	/* a service is Available when one of its endpoints is a running pod:
	 * a crash-looping one stays an endpoint, and answers nothing */
	if (api_get_quiet("/v1/pods", "", &pods) == 0 && pods.status != 200)
		api_reply_free(&pods);
	port = api_ingress_port();
	ingress_host_prefix(space, prefix, sizeof(prefix));
	/* the space, then each ancestor: the nearest copy of a name is the one routed to */
	snprintf(chain, sizeof(chain), "%s", space);
	for (;;) {
		json_array_foreach(json_object_get(svcs.json, "items"), i, s) {
			const char *name = jstr(s, "name", "");
			bool http = !strcmp(jstr(s, "kind", ""), "http");
			bool ready = endpoint_running(json_object_get(s, "endpoints"), pods.json);

			if (strcmp(jstr(s, "space", ""), chain) || json_object_get(seen, name))
				continue;
			json_object_set_new(seen, name, json_true());
			if (http && port)
				snprintf(uri, sizeof(uri), "http://%s%s.localhost:%u/", prefix, name, port);
			else
				snprintf(uri, sizeof(uri), "%s://%s:%d/", http ? "http" : "tcp", jstr(s, "address", "?"),
					 (int)json_integer_value(json_object_get(s, "port")));
			json_array_append_new(rows, json_pack("{s:s,s:s,s:s,s:s}", "service", name, "uri", uri, "status",
							      ready ? "Available" : "NotReady", "from", chain));
		}
		char *slash = strrchr(chain, '/');

		if (!slash)
			break;
		*slash = 0;
	}
	if (output_json(output)) {
		json_t *doc = json_pack("{s:s,s:o}", "space", space, "items", rows);

		print_json(doc);
		json_decref(doc);
	} else if (!json_array_size(rows)) {
		printf("No service in %s or its parents\n", space);
		json_decref(rows);
	} else {
		struct table *t = table_new();
		json_t *row;

		table_col(t, "Uri", 0);
		table_col(t, "Status", 0);
		table_col(t, "Service", TABLE_WIDE);
		table_col(t, "From", TABLE_WIDE);
		json_array_foreach(rows, i, row) {
			table_cell(t, "%s", jstr(row, "uri", ""));
			table_cell(t, "%s", jstr(row, "status", ""));
			table_cell(t, "%s", jstr(row, "service", ""));
			table_cell(t, "%s", jstr(row, "from", ""));
		}
		table_print(t, stdout, output_wide(output));
		table_free(t);
		json_decref(rows);
	}
	json_decref(seen);
	api_reply_free(&svcs);
	api_reply_free(&pods);
	return 0;
}
