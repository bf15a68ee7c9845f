// SPDX-License-Identifier: MIT
/* azds space list|select|show|remove */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "azds.h"
#include "client.h"
#include "table.h"
#include "verbs.h"

VERB(cmd_space_list)
{
	const char *output = NULL;
	const struct opt o[] = { OPT_OUTPUT(&output), OPT_END };
	struct api_reply r;
	struct table *t;
	struct args a;
	size_t i;
	json_t *sp;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	if (api_get("/v1/spaces", &r))
		return EXIT_FAIL;
	if (output_json(output)) {
		print_json(r.json);
		api_reply_free(&r);
		return 0;
	}
	t = table_new();
	if (!t)
		return fail("out of memory");
	/* the selection marker first, as Dev Spaces' list had it */
	table_col(t, "", 0);
	table_col(t, "NAME", 0);
	table_col(t, "PARENT", 0);
	table_col(t, "PODS", 0);
	table_col(t, "SERVICES", 0);
	table_col(t, "DEPTH", TABLE_WIDE);
	table_col(t, "AGE", TABLE_WIDE);
	json_array_foreach(json_object_get(r.json, "items"), i, sp)
	{
		char age[16];

		table_cell(t, "%s", json_is_true(json_object_get(sp, "selected")) ? "*" : "");
		table_cell(t, "%s", jstr(sp, "name", "?"));
		table_cell(t, "%s", or_dash(jstr(sp, "parent", NULL)));
		table_cell(t, "%lld", jint(sp, "pods", 0));
		table_cell(t, "%lld", jint(sp, "services", 0));
		table_cell(t, "%lld", jint(sp, "depth", 0));
		table_cell(t, "%s", table_age(jtime(json_object_get(sp, "created")), age, sizeof(age)));
	}
	table_print(t, stdout, output_wide(output));
	table_free(t);
	api_reply_free(&r);
	return 0;
}

/* PUT /v1/selection; the reply's status tells whether the space exists */
static int put_selection(const char *space, bool create, struct api_reply *r)
{
	json_t *body = json_pack("{s:s, s:b}", "space", space, "create", create);
	struct api_req req = { .method = "PUT", .path = "/v1/selection", .body = body };
	int err;

	if (!body)
		return fail("out of memory"), -ENOMEM;
	err = api_exchange(&req, r);
	json_decref(body);
	if (err)
		api_print_unreachable(err);
	return err;
}

/* a parent that is missing makes the question pointless: the server's answer tells why */
static bool parent_exists(const char *space)
{
	const char *slash = strrchr(space, '/');
	char path[600], *esc;
	struct api_reply r;
	struct api_req req = { .method = "GET", .path = path };
	bool ok;

	if (!slash)
		return true;
	esc = api_escape(space);
	if (!esc)
		return false;
	snprintf(path, sizeof(path), "/v1/spaces/%.*s", (int)(strrchr(esc, '/') - esc), esc);
	free(esc);
	ok = api_exchange(&req, &r) == 0 && r.status == 200;
	api_reply_free(&r);
	return ok;
}

static bool ask_create(const char *space)
{
	const char *slash = strrchr(space, '/');

	if (slash)
		return ask_yes("Space %s does not exist. Create it under %.*s?", space, (int)(slash - space), space);
	return ask_yes("Space %s does not exist. Create it?", space);
}

VERB(cmd_space_select)
{
	const char *space = NULL;
	bool yes = false;
	const struct opt o[] = {
		OPT_S("space", 'n', &space, "SPACE", "the space, e.g. dev/alice"),
		OPT_F("yes", 'y', &yes, "create the space without asking when it is missing"),
		OPT_END,
	};
	struct api_reply r;
	struct args a;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	if (!space)
		return usage_error(v, "-n SPACE is required");
	/* -y: create when missing, in one call; otherwise ask first */
	if (put_selection(space, yes, &r))
		return EXIT_FAIL;
	if (r.status == 404 && !yes && interactive() && parent_exists(space)) {
		api_reply_free(&r);
		if (!ask_create(space))
			return fail("%s: space \"%s\" was not created", verb_title(v), space);
		if (put_selection(space, true, &r))
			return EXIT_FAIL;
	}
	if (r.status < 200 || r.status >= 300) {
		fail("%s", api_error_text(&r));
		api_reply_free(&r);
		return EXIT_FAIL;
	}
	if (json_is_true(json_object_get(r.json, "created")))
		printf("Created space %s and selected it.\n", jstr(r.json, "space", space));
	else
		printf("Selected space %s.\n", jstr(r.json, "space", space));
	api_reply_free(&r);
	return 0;
}

static int get_space(const char *space, struct api_reply *r)
{
	char path[600], *esc = api_escape(space);
	int err;

	if (!esc)
		return fail("out of memory"), -ENOMEM;
	snprintf(path, sizeof(path), "/v1/spaces/%s", esc);
	free(esc);
	err = api_get(path, r);
	return err;
}

static void show_space(const json_t *sp)
{
	const json_t *labels = json_object_get(sp, "labels"), *val;
	const char *key, *lead = "Labels:";
	long long created = jtime(json_object_get(sp, "created"));
	char when[64] = "-", age[16];
	time_t c = (time_t)created;
	struct tm tm;

	if (created > 0 && localtime_r(&c, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
	printf("%-11s%s\n", "Name:", jstr(sp, "name", "?"));
	printf("%-11s%s\n", "Parent:", or_dash(jstr(sp, "parent", NULL)));
	printf("%-11s%lld\n", "Depth:", jint(sp, "depth", 0));
	printf("%-11s%s (%s ago)\n", "Created:", when, table_age(created, age, sizeof(age)));
	printf("%-11s%s\n", "Selected:", json_is_true(json_object_get(sp, "selected")) ? "yes" : "no");
	printf("%-11s%lld\n", "Pods:", jint(sp, "pods", 0));
	printf("%-11s%lld\n", "Services:", jint(sp, "services", 0));
	json_object_foreach((json_t *)labels, key, val)
	{
		char text[256];

		printf("%-11s%s=%s\n", lead, key, jtext(val, text, sizeof(text)));
		lead = "";
	}
	if (!json_object_size(labels))
		printf("%-11s<none>\n", lead);
}

VERB(cmd_space_show)
{
	const char *given = NULL, *output = NULL;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the space (default: your selected space)"),
		OPT_OUTPUT(&output),
		OPT_END,
	};
	char space[300];
	struct api_reply r;
	struct args a;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	if (api_space_or_selected(given, space, sizeof(space)) || get_space(space, &r))
		return EXIT_FAIL;
	if (output_json(output))
		print_json(r.json);
	else
		show_space(r.json);
	api_reply_free(&r);
	return 0;
}

static bool confirm_remove(const char *space, bool recursive)
{
	if (recursive)
		return ask_yes("Remove space %s and every space under it, with their pods and services?", space);
	return ask_yes("Remove space %s with its pods and services?", space);
}

VERB(cmd_space_remove)
{
	const char *space = NULL;
	bool yes = false, recursive = false;
	const struct opt o[] = {
		OPT_S("space", 'n', &space, "SPACE", "the space to remove"),
		OPT_F("recursive", 0, &recursive, "remove the spaces under it too"),
		OPT_F("yes", 'y', &yes, "do not ask"),
		OPT_END,
	};
	char path[600], *esc;
	struct api_reply r;
	struct args a;
	size_t i;
	json_t *name;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	if (!space)
		return usage_error(v, "-n SPACE is required");
	if (!yes && !interactive()) {
		struct azds_err e;

		/* the name is shown: a bad one gets the rule instead */
		if (azds_space_path_valid(space, &e))
			return fail("%s", e.msg);
		return fail("%s: no terminal to confirm on: pass -y to remove space %s", verb_title(v), space);
	}
	if (!yes && !confirm_remove(space, recursive))
		return fail("%s: space \"%s\" was not removed", verb_title(v), space);
	esc = api_escape(space);
	if (!esc)
		return fail("out of memory");
	snprintf(path, sizeof(path), "/v1/spaces/%s%s", esc, recursive ? "?recursive=true" : "");
	free(esc);
	if (api_send("DELETE", path, NULL, &r))
		return EXIT_FAIL;
	json_array_foreach(json_object_get(r.json, "removed"), i, name)
		printf("Removed space %s.\n", json_string_value(name) ? json_string_value(name) : "?");
	api_reply_free(&r);
	return 0;
}
