// SPDX-License-Identifier: MIT
/* azds pod run|list|logs|rm: pods, low level, for scripts and tests */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "table.h"
#include "verbs.h"

/* the API's log wait is 10 s: more than that is a controller gone quiet */
#define LOGS_FOLLOW_TIMEOUT_S 30

static json_t *string_array(const char **v, int n)
{
	json_t *a = json_array();

	for (int i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

struct pod_spec {
	const char *space, *restart, *memory, *cpu, *workdir;
	unsigned long pids;
	struct strlist services, env;
};

/* the limits the user gave; the daemon's defaults fill the rest */
static json_t *limits_json(const struct pod_spec *s)
{
	json_t *l = json_object();

	if (!l)
		return NULL;
	if (s->memory)
		json_object_set_new(l, "memory", json_string(s->memory));
	if (s->cpu)
		json_object_set_new(l, "cpu", json_string(s->cpu));
	if (s->pids)
		json_object_set_new(l, "pids", json_integer((json_int_t)s->pids));
	return l;
}

static json_t *pod_json(const char *name, const struct pod_spec *s, const struct args *a, const char *workdir)
{
	json_t *p = json_pack("{s:s, s:s}", "name", name, "space", s->space);

	if (!p)
		return NULL;
	if (s->services.n)
		json_object_set_new(p, "services", string_array(s->services.v, s->services.n));
	if (a->nrest)
		json_object_set_new(p, "command", string_array(a->rest, a->nrest));
	if (s->env.n)
		json_object_set_new(p, "env", string_array(s->env.v, s->env.n));
	if (workdir)
		json_object_set_new(p, "workdir", json_string(workdir));
	if (s->restart)
		json_object_set_new(p, "restart", json_string(s->restart));
	if (s->memory || s->cpu || s->pids)
		json_object_set_new(p, "limits", limits_json(s));
	return p;
}

/* what is cheap to check here: the daemon checks the rest */
static int check_spec(const struct verb *v, const struct pod_spec *s, char *workdir, size_t len)
{
	for (int i = 0; i < s->env.n; i++)
		if (!strchr(s->env.v[i], '=') || s->env.v[i][0] == '=')
			return usage_error(v, "--env \"%s\": must be NAME=VALUE", s->env.v[i]);
	if (s->workdir) {
		char abs[PATH_MAX];

		/* the daemon does not share our working directory */
		if (!realpath(s->workdir, abs))
			return fail("%s: --workdir \"%s\": %s", verb_title(v), s->workdir, strerror(errno));
		snprintf(workdir, len, "%s", abs);
	}
	return 0;
}

VERB(cmd_pod_run)
{
	struct pod_spec s = { 0 };
	const struct opt o[] = {
		OPT_S("space", 'n', &s.space, "SPACE", "the pod's space (default: your selected space)"),
		OPT_L("service", 0, &s.services, "SVC", "a service the pod serves"),
		OPT_C("restart", 0, &s.restart, "POLICY", "Always (default), OnFailure or Never",
		      "Always|OnFailure|Never"),
		OPT_S("memory", 0, &s.memory, "BYTES", "memory limit: bytes, or with Ki, Mi, Gi (default 512Mi)"),
		OPT_N("pids", 0, &s.pids, "N", "process limit (default 512)", 4, 4194304),
		OPT_S("cpu", 0, &s.cpu, "CPU", "cpu limit: millicpus with m, or cores (default 1000m)"),
		OPT_L("env", 0, &s.env, "NAME=VALUE", "an environment variable of the command"),
		OPT_S("workdir", 0, &s.workdir, "DIR", "bound writable at /workspace in the pod"),
		OPT_END,
	};
	char space[300], workdir[PATH_MAX];
	struct api_reply r;
	struct args a;
	json_t *body = NULL;
	int rc = EXIT_FAIL, err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	err = check_spec(v, &s, workdir, sizeof(workdir));
	if (err) {
		rc = err;
		goto out;
	}
	if (api_space_or_selected(s.space, space, sizeof(space)))
		goto out;
	s.space = space;
	body = pod_json(a.pos[0], &s, &a, s.workdir ? workdir : NULL);
	if (!body) {
		rc = fail("out of memory");
		goto out;
	}
	if (api_send("POST", "/v1/pods", body, &r))
		goto out;
	printf("Pod %s is running in %s at %s (pid %lld).\n", jstr(r.json, "name", a.pos[0]),
	       jstr(r.json, "space", s.space), jstr(r.json, "address", "?"),
	       jint(json_object_get(r.json, "status"), "pid", 0));
	api_reply_free(&r);
	rc = 0;
out:
	json_decref(body);
	free(s.services.v);
	free(s.env.v);
	args_free(&a);
	return rc;
}

static void pod_row(struct table *t, const json_t *p)
{
	const json_t *st = json_object_get(p, "status");
	char age[16], ex[48], svc[256], cmd[512];

	table_cell(t, "%s", jstr(p, "name", "?"));
	table_cell(t, "%s", jstr(p, "space", "?"));
	table_cell(t, "%s", or_dash(jstr(p, "address", NULL)));
	table_cell(t, "%s", jstr(st, "phase", "?"));
	table_cell(t, "%lld", jint(st, "restarts", 0));
	table_cell(t, "%s", jexit(st, ex, sizeof(ex)));
	/* the API's started is unix milliseconds; table_age takes seconds */
	table_cell(t, "%s", table_age(jint(st, "started", 0) / 1000, age, sizeof(age)));
	table_cell(t, "%lld", jint(st, "pid", 0));
	table_cell(t, "%s", jjoin(json_object_get(p, "services"), ",", 0, svc, sizeof(svc)));
	table_cell(t, "%s", jjoin(json_object_get(p, "command"), " ", 0, cmd, sizeof(cmd)));
	table_cell(t, "%s", or_dash(jstr(st, "reason", NULL)));
}

VERB(cmd_pod_list)
{
	const char *given = NULL, *output = NULL;
	bool all = false;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the space (default: your selected space)"),
		OPT_F("all-spaces", 'A', &all, "pods of every space"),
		OPT_OUTPUT(&output),
		OPT_END,
	};
	static const char *const cols[] = { "NAME", "SPACE", "ADDRESS", "PHASE", "RESTARTS", "EXIT", "AGE" };
	static const char *const wide[] = { "PID", "SERVICES", "COMMAND", "REASON" };
	struct api_reply r;
	struct table *t;
	struct args a;
	size_t i;
	json_t *p;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	if (all && given)
		return usage_error(v, "-n and -A exclude each other");
	if (api_list("pods", given, all, &r))
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
	for (size_t c = 0; c < sizeof(wide) / sizeof(wide[0]); c++)
		table_col(t, wide[c], TABLE_WIDE);
	json_array_foreach(json_object_get(r.json, "items"), i, p)
		pod_row(t, p);
	table_print(t, stdout, output_wide(output));
	table_free(t);
	api_reply_free(&r);
	return 0;
}

static int pod_path(char *buf, size_t len, const char *name, const char *suffix)
{
	char *esc = api_escape(name);

	if (!esc)
		return fail("out of memory"), -ENOMEM;
	snprintf(buf, len, "/v1/pods/%s%s", esc, suffix);
	free(esc);
	return 0;
}

static void on_interrupt(int s)
{
	(void)s;
	cli_interrupted = 1;
}

/* a pod that will not write again: its log is complete */
static bool pod_ended(const char *name)
{
	static const char *const final[] = { "Succeeded", "Failed", "Stopped" };
	char path[300];
	struct api_reply r;
	struct api_req req = { .method = "GET", .path = path };
	const char *phase;
	bool ended = false;

	if (pod_path(path, sizeof(path), name, "") || api_exchange(&req, &r))
		return false;
	phase = jstr(json_object_get(r.json, "status"), "phase", "");
	for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++)
		ended |= !strcmp(phase, final[i]);
	/* a pod removed while followed has ended too */
	ended |= r.status == 404;
	api_reply_free(&r);
	return ended;
}

/*
 * Reads the log from *offset on, writing it to stdout as it arrives;
 * *offset moves past what was read. Returns the bytes read or -errno.
 */
static long long read_log(const char *name, long long *offset, bool follow)
{
	char path[400], suffix[64];
	struct api_reply r;
	struct api_req req = { .method = "GET", .path = path, .stream = stdout };
	long long n;
	int err;

	snprintf(suffix, sizeof(suffix), "/logs?offset=%lld%s", *offset, follow ? "&follow=true" : "");
	if (pod_path(path, sizeof(path), name, suffix))
		return -ENOMEM;
	if (follow)
		req.timeout_s = LOGS_FOLLOW_TIMEOUT_S;
	err = api_call(&req, &r);
	if (err)
		return err;
	n = (long long)r.len;
	*offset = r.offset >= 0 ? r.offset : *offset + n;
	api_reply_free(&r);
	return n;
}

/*
 * Pod names are the node's, not a space's; -n, as kubectl users type it,
 * checks that the pod is in that space rather than being refused.
 */
static int check_space(const char *name, const char *space)
{
	struct api_reply r;
	char path[300];
	int err;

	if (!space)
		return 0;
	if (pod_path(path, sizeof(path), name, "") || api_get(path, &r))
		return -EPROTO;
	err = strcmp(jstr(r.json, "space", ""), space) ? -ENOENT : 0;
	if (err)
		fail("pod \"%s\" is in space \"%s\", not \"%s\"", name, jstr(r.json, "space", "?"), space);
	api_reply_free(&r);
	return err;
}

#define POD_SPACE_OPT(dest) OPT_S("space", 'n', dest, "SPACE", "fail unless the pod is in SPACE")

VERB(cmd_pod_logs)
{
	const char *space = NULL;
	bool follow = false;
	const struct opt o[] = {
		OPT_F("follow", 'f', &follow, "keep printing what the pod writes, until Ctrl-C"),
		POD_SPACE_OPT(&space),
		OPT_END,
	};
	struct sigaction sa = { .sa_handler = on_interrupt };
	long long offset = 0, n;
	bool wait = false;
	struct args a;
	const char *name;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	name = a.pos[0];
	if (check_space(name, space)) {
		args_free(&a);
		return EXIT_FAIL;
	}
	/* no SA_RESTART: Ctrl-C ends a wait for new bytes cleanly */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/*
	 * Catch up without waiting; at the end, an ended pod is done, a running
	 * one is waited for (the server parks the request until new bytes).
	 * Checking before each wait spares an ended pod's follower the wait.
	 */
	while (!cli_interrupted) {
		n = read_log(name, &offset, wait);
		if (n == -EINTR)
			break;
		if (n < 0) {
			args_free(&a);
			return EXIT_FAIL;
		}
		wait = false;
		if (n > 0)
			continue;
		if (!follow)
			break;
		/* one more read for what an ended pod wrote last, then done */
		if (pod_ended(name))
			follow = false;
		else
			wait = true;
	}
	args_free(&a);
	return 0;
}

VERB(cmd_pod_rm)
{
	const char *space = NULL;
	const struct opt o[] = { POD_SPACE_OPT(&space), OPT_END };
	struct api_reply r;
	char path[300];
	struct args a;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	if (check_space(a.pos[0], space) || pod_path(path, sizeof(path), a.pos[0], "") ||
	    api_send("DELETE", path, NULL, &r)) {
		args_free(&a);
		return EXIT_FAIL;
	}
	printf("Removed pod %s.\n", a.pos[0]);
	api_reply_free(&r);
	args_free(&a);
	return 0;
}
