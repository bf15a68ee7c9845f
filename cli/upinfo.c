// SPDX-License-Identifier: MIT
/*
 * azds list-up and azds logs: what `azds up` started, and its output
 * (docs/up.md). A service that up started is one with a workspace of the
 * same name in its space; its pod is "<service>-<space>" (up.c names it).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "azds.h"
#include "client.h"
#include "table.h"
#include "up.h"
#include "verbs.h"

/* the phase of the service's pod: "<pod>", or "<pod>-b" while up replaces it */
static const char *phase_of(const json_t *pods, const char *name)
{
	char alt[64];
	size_t i;
	json_t *p;

	snprintf(alt, sizeof(alt), "%.55s--b", name);
	json_array_foreach(pods, i, p)
		if (!strcmp(jstr(p, "name", ""), name) || !strcmp(jstr(p, "name", ""), alt))
			return jstr(json_object_get(p, "status"), "phase", "?");
	return "NotRunning";
}

VERB(cmd_list_up)
{
	const char *given = NULL, *output = NULL;
	bool all = false;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the space (default: your selected space)"),
		OPT_F("all", 'a', &all, "list the space's pods too (build pods, and those up did not start)"),
		OPT_C("output", 'o', &output, "json", "the rows as JSON", "json"),
		OPT_END,
	};
	char space[AZDS_PATH_MAX], path[400], pod[64], age[32], *esc;
	struct api_reply ws = { 0 }, pods = { 0 };
	json_t *rows = json_array(), *w, *p;
	struct table *t;
	struct args a;
	size_t i;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	if (api_space_or_selected(given, space, sizeof(space)))
		return EXIT_FAIL;
	esc = api_escape(space);
	snprintf(path, sizeof(path), "/v1/workspaces?space=%s", esc ? esc : "");
	if (api_get(path, &ws)) {
		free(esc);
		return EXIT_FAIL;
	}
	snprintf(path, sizeof(path), "/v1/pods?space=%s", esc ? esc : "");
	free(esc);
	if (api_get(path, &pods)) {
		api_reply_free(&ws);
		return EXIT_FAIL;
	}
	json_array_foreach(json_object_get(ws.json, "items"), i, w) {
		const char *name = jstr(w, "name", "");

		if (strcmp(jstr(w, "space", ""), space))
			continue;
		up_pod_name(name, space, pod, sizeof(pod));
		json_array_append_new(rows, json_pack("{s:s,s:s,s:s,s:O?,s:s}", "name", name, "space", space, "type",
						      "Service", "updated", json_object_get(w, "updated"), "status",
						      phase_of(json_object_get(pods.json, "items"), pod)));
	}
	if (all)
		json_array_foreach(json_object_get(pods.json, "items"), i, p) {
			json_t *st = json_object_get(p, "status");

			json_array_append_new(rows, json_pack("{s:s,s:s,s:s,s:O?,s:s}", "name", jstr(p, "name", ""),
							      "space", jstr(p, "space", ""), "type", "Pod", "updated",
							      json_object_get(st, "started"), "status",
							      jstr(st, "phase", "?")));
		}
	if (output) {
		json_t *doc = json_pack("{s:o}", "items", rows);

		print_json(doc);
		json_decref(doc);
	} else {
		t = table_new();
		table_col(t, "Name", 0);
		table_col(t, "Space", 0);
		table_col(t, "Type", 0);
		table_col(t, "Updated", 0);
		table_col(t, "Status", 0);
		json_array_foreach(rows, i, w) {
			json_t *u = json_object_get(w, "updated");

			table_cell(t, "%s", jstr(w, "name", ""));
			table_cell(t, "%s", jstr(w, "space", ""));
			table_cell(t, "%s", jstr(w, "type", ""));
			table_cell(t, "%s", json_is_integer(u) ? table_age(json_integer_value(u) / 1000, age, sizeof(age)) : "-");
			table_cell(t, "%s", jstr(w, "status", ""));
		}
		if (json_array_size(rows))
			table_print(t, stdout, false);
		else
			printf("Nothing is up in %s (azds up starts the folder's service)\n", space);
		table_free(t);
		json_decref(rows);
	}
	api_reply_free(&ws);
	api_reply_free(&pods);
	return 0;
}

static void on_interrupt(int s)
{
	(void)s;
	cli_interrupted = 1;
}

/* "90s", "5m", "2h", "1d" (or plain seconds) -> milliseconds; -1 if bad */
static long long duration_ms(const char *s)
{
	char *end;
	long long n = strtoll(s, &end, 10);

	if (end == s || n < 0 || n > 100000000)
		return -1;
	if (!*end || !strcmp(end, "s"))
		return n * 1000;
	if (!strcmp(end, "m"))
		return n * 60000;
	if (!strcmp(end, "h"))
		return n * 3600000;
	if (!strcmp(end, "d"))
		return n * 86400000;
	return -1;
}

static long long since_ms;  /* unix ms for the first read; 0: from the start */
static bool quiet_missing; /* following: a pod being replaced is briefly gone */

/* the log from offset, into a malloc'd buffer; -errno */
static int fetch_log(const char *pod, long long offset, bool wait, char **buf, size_t *len, long long *next)
{
	char path[400], *esc = api_escape(pod);
	struct api_reply r;
	struct api_req req = { .method = "GET", .path = path };
	FILE *mem;
	int err;

	*buf = NULL;
	*len = 0;
	if (!esc)
		return -ENOMEM;
	if (since_ms) {
		/* only the first read starts from a time; then offsets */
		snprintf(path, sizeof(path), "/v1/pods/%s/logs?since=%lld", esc, since_ms);
		since_ms = 0;
	} else {
		snprintf(path, sizeof(path), "/v1/pods/%s/logs?offset=%lld%s", esc, offset, wait ? "&follow=true" : "");
	}
	free(esc);
	mem = open_memstream(buf, len);
	if (!mem)
		return -ENOMEM;
	req.stream = mem;
	req.timeout_s = 20;
	err = api_exchange(&req, &r);
	fclose(mem);
	if (err) {
		free(*buf);
		*buf = NULL;
		return err;
	}
	if (r.status != 200) {
		err = r.status == 404 ? -ENOENT : -EPROTO;
		if (err == -ENOENT && !quiet_missing)
			fprintf(stderr, "azds: %s is not running (azds up starts it)\n", pod);
		else if (err == -EPROTO)
			fprintf(stderr, "azds: %s\n", api_error_text(&r));
		api_reply_free(&r);
		free(*buf);
		*buf = NULL;
		return err;
	}
	*next = r.offset >= 0 ? r.offset : offset + (long long)*len;
	api_reply_free(&r);
	return 0;
}

/* 1: the pod is there, in space; 0: it is not, or in another space; -1: no answer */
static int pod_in_space(const char *pod, const char *space)
{
	struct api_reply r;
	int here;

	if (api_get_quiet("/v1/pods/", pod, &r))
		return -1;
	here = r.status == 200 && !strcmp(jstr(r.json, "space", ""), space);
	api_reply_free(&r);
	return here;
}

static bool pod_ended(const char *pod)
{
	struct api_reply r;
	const char *ph;
	bool ended = true;

	if (api_get_quiet("/v1/pods/", pod, &r))
		return true;
	if (r.status == 200) {
		ph = jstr(json_object_get(r.json, "status"), "phase", "");
		ended = !strcmp(ph, "Succeeded") || !strcmp(ph, "Failed") || !strcmp(ph, "Stopped");
	} else if (r.status == 404 && quiet_missing) {
		ended = false; /* following: being replaced under its other name */
	}
	api_reply_free(&r);
	return ended;
}

/* print buf on out, prefixed per line; with tail >= 0, only its last tail lines */
static void print_lines(FILE *out, const char *svc, const char *buf, size_t len, long tail, bool json)
{
	const char *start = buf, *end = buf + len;

	if (len && end[-1] == '\n')
		end--; /* the last line's newline ends it, it starts none */
	if (tail >= 0) {
		long n = 0;
		const char *q = end;

		if (tail == 0)
			return;
		while (q > buf) {
			if (q[-1] == '\n' && ++n == tail)
				break;
			q--;
		}
		start = q;
	}
	while (start < end) {
		const char *nl = memchr(start, '\n', (size_t)(end - start));
		size_t l = nl ? (size_t)(nl - start) : (size_t)(end - start);

		if (json) {
			json_t *o = json_pack("{s:s,s:s%}", "service", svc, "line", start, l);
			char *s = json_dumps(o, JSON_COMPACT);

			if (s)
				fprintf(out, "%s\n", s);
			free(s);
			json_decref(o);
		} else {
			fprintf(out, "[%s] %.*s\n", svc, (int)l, start);
		}
		start += l + 1;
	}
	fflush(out);
}

void up_log_tail(FILE *out, const char *pod, const char *svc, long lines)
{
	char *all = NULL, *buf;
	size_t alen = 0, len;
	long long offset = 0, next;
	FILE *mem = open_memstream(&all, &alen);

	if (!mem)
		return;
	while (fetch_log(pod, offset, false, &buf, &len, &next) == 0) {
		fwrite(buf, 1, len, mem);
		free(buf);
		if (!len)
			break;
		offset = next;
	}
	fclose(mem);
	print_lines(out, svc, all, alen, lines, false);
	free(all);
}

VERB(cmd_logs)
{
	const char *given = NULL, *output = NULL, *since = NULL;
	unsigned long tail = 0;
	bool follow = false, tail_set;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the space (default: your selected space)"),
		OPT_F("follow", 'f', &follow, "keep printing what it writes, until Ctrl-C"),
		OPT_S("since", 0, &since, "DURATION", "only what it wrote in the last DURATION (30s, 5m, 2h, 1d)"),
		OPT_N("tail", 0, &tail, "N", "only the last N lines so far", 0, 1000000),
		OPT_C("output", 'o', &output, "json", "one JSON object per line", "json"),
		OPT_END,
	};
	struct sigaction sa = { .sa_handler = on_interrupt };
	char space[AZDS_PATH_MAX], svc[64], pod[64];
	long long offset = 0, next;
	struct args a;
	char *buf;
	size_t len;
	bool first = true;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	if (since) {
		long long d = duration_ms(since);
		struct timespec ts;

		if (d < 0) {
			args_free(&a);
			return usage_error(v, "--since \"%s\": a duration such as 30s, 5m, 2h or 1d", since);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		since_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - d;
		if (since_ms <= 0)
			since_ms = 1;
	}
	tail_set = false;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--tail") || !strncmp(argv[i], "--tail=", 7))
			tail_set = true;
	if (api_space_or_selected(given, space, sizeof(space))) {
		args_free(&a);
		return EXIT_FAIL;
	}
	if (a.npos) {
		snprintf(svc, sizeof(svc), "%s", a.pos[0]);
	} else if (up_service_of(".", svc, sizeof(svc))) {
		fprintf(stderr, "azds: name the service (azds logs SERVICE), or run this in its folder (with azds.yaml)\n");
		args_free(&a);
		return EXIT_USAGE;
	}
	args_free(&a);
	up_pod_name(svc, space, pod, sizeof(pod));
	{
		/* up alternates between two names to replace a pod without a gap */
		char alt[64];

		snprintf(alt, sizeof(alt), "%.55s--b", pod);
		if (pod_in_space(pod, space) == 0) {
			/* neither of up's names: the user's words, not ours */
			if (pod_in_space(alt, space) == 0) {
				fprintf(stderr, "azds: no service \"%s\" is up in %s (azds up starts it)\n", svc, space);
				return EXIT_FAIL;
			}
			snprintf(pod, sizeof(pod), "%s", alt);
		}
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* what is there so far, whole (--tail counts back from its end) */
	{
		char *all = NULL;
		size_t alen = 0;
		FILE *acc = open_memstream(&all, &alen);

		if (!acc)
			return EXIT_FAIL;
		do {
			err = fetch_log(pod, offset, false, &buf, &len, &next);
			if (err) {
				fclose(acc);
				free(all);
				return err == -EINTR ? 0 : EXIT_FAIL;
			}
			fwrite(buf, 1, len, acc);
			free(buf);
			offset = next;
		} while (len && !cli_interrupted);
		fclose(acc);
		print_lines(stdout, svc, all, alen, tail_set ? (long)tail : -1, output != NULL);
		free(all);
	}
	/* following: a redeploy replaces the pod (gone for a moment, then a
	 * new log from byte 0); a restart keeps it and its log */
	quiet_missing = true;
	while (follow && !cli_interrupted && !(first && pod_ended(pod))) {
		first = false;
		err = fetch_log(pod, offset, true, &buf, &len, &next);
		if (err == -EINTR)
			break;
		if (err == -ENOENT) {
			/* replaced under the other of its two names */
			char base[64];

			up_pod_name(svc, space, base, sizeof(base));
			if (!strcmp(pod, base))
				snprintf(pod, sizeof(pod), "%.55s--b", base);
			else
				snprintf(pod, sizeof(pod), "%s", base);
			offset = 0;
			usleep(200 * 1000);
			continue;
		}
		if (err)
			return EXIT_FAIL;
		if (next < offset) {
			offset = 0; /* a new, shorter log: the pod was replaced */
			free(buf);
			continue;
		}
		print_lines(stdout, svc, buf, len, -1, output != NULL);
		free(buf);
		offset = next;
		if (!len && pod_ended(pod))
			break;
	}
	return 0;
}
