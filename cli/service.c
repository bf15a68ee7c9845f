// SPDX-License-Identifier: MIT
/* azds service list|add|rm */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "table.h"
#include "verbs.h"

/* endpoints shown in a narrow table before "+N more" */
#define ENDPOINTS_SHOWN 3

VERB(cmd_service_list)
{
	const char *given = NULL, *output = NULL;
	bool all = false;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the space (default: your selected space)"),
		OPT_F("all-spaces", 'A', &all, "services of every space"),
		OPT_OUTPUT(&output),
		OPT_END,
	};
	static const char *const cols[] = { "SPACE", "NAME", "KIND", "ADDRESS", "PORT", "TARGET", "ENDPOINTS" };
	struct api_reply r;
	struct table *t;
	struct args a;
	size_t i;
	json_t *s;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	if (all && given)
		return usage_error(v, "-n and -A exclude each other");
	if (api_list("services", given, all, &r))
		return EXIT_FAIL;
	if (output_json(output)) {
		print_json(r.json);
		api_reply_free(&r);
		return 0;
	}
	t = table_new();
	if (!t)
		return fail("out of memory");
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
		table_col(t, cols[c], 0);
	json_array_foreach(json_object_get(r.json, "items"), i, s)
	{
		size_t shown = output_wide(output) ? 0 : ENDPOINTS_SHOWN;
		char eps[1024];

		table_cell(t, "%s", jstr(s, "space", "?"));
		table_cell(t, "%s", jstr(s, "name", "?"));
		table_cell(t, "%s", jstr(s, "kind", "?"));
		table_cell(t, "%s", or_dash(jstr(s, "address", NULL)));
		table_cell(t, "%lld", jint(s, "port", 0));
		table_cell(t, "%lld", jint(s, "target_port", 0));
		table_cell(t, "%s", jjoin(json_object_get(s, "endpoints"), ",", shown, eps, sizeof(eps)));
	}
	table_print(t, stdout, output_wide(output));
	table_free(t);
	api_reply_free(&r);
	return 0;
}

VERB(cmd_service_add)
{
	const char *given = NULL, *kind = NULL;
	unsigned long port = 0, target = 0;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the service's space (default: your selected space)"),
		OPT_C("kind", 0, &kind, "KIND", "http (routed per request, default) or tcp (balanced in the kernel)",
		      "http|tcp"),
		OPT_N("port", 0, &port, "P", "the service's port (default 80)", 1, 65535),
		OPT_N("target-port", 0, &target, "T", "the pods' port (default: the service's)", 1, 65535),
		OPT_END,
	};
	char space[300];
	struct api_reply r;
	struct args a;
	json_t *body;
	int rc = EXIT_FAIL, err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	if (api_space_or_selected(given, space, sizeof(space)))
		goto out;
	body = json_pack("{s:s, s:s}", "space", space, "name", a.pos[0]);
	if (!body) {
		rc = fail("out of memory");
		goto out;
	}
	if (kind)
		json_object_set_new(body, "kind", json_string(kind));
	if (port)
		json_object_set_new(body, "port", json_integer((json_int_t)port));
	if (target)
		json_object_set_new(body, "target_port", json_integer((json_int_t)target));
	err = api_send("POST", "/v1/services", body, &r);
	json_decref(body);
	if (err)
		goto out;
	printf("Service %s in %s: %s %s:%lld -> %lld.\n", jstr(r.json, "name", a.pos[0]), jstr(r.json, "space", space),
	       jstr(r.json, "kind", "?"), jstr(r.json, "address", "?"), jint(r.json, "port", 0),
	       jint(r.json, "target_port", 0));
	api_reply_free(&r);
	rc = 0;
out:
	args_free(&a);
	return rc;
}

VERB(cmd_service_rm)
{
	const char *given = NULL;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the service's space (default: your selected space)"),
		OPT_END,
	};
	char space[300], path[800], *name = NULL, *sp = NULL;
	struct api_reply r;
	struct args a;
	int rc = EXIT_FAIL, err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	if (api_space_or_selected(given, space, sizeof(space)))
		goto out;
	name = api_escape(a.pos[0]);
	sp = api_escape(space);
	if (!name || !sp) {
		rc = fail("out of memory");
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/services/%s?space=%s", name, sp);
	if (api_send("DELETE", path, NULL, &r))
		goto out;
	printf("Removed service %s from %s.\n", a.pos[0], space);
	api_reply_free(&r);
	rc = 0;
out:
	free(name);
	free(sp);
	args_free(&a);
	return rc;
}
