// SPDX-License-Identifier: MIT
/*
 * azds trace: live HTTP traces (GET /v1/traces, docs/trace.md), one line
 * per hop, a request's hops together; and the capture's switches.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "azds.h"
#include "client.h"
#include "trace_cli.h"
#include "verbs.h"

static void on_interrupt(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

static void add_q(char *q, size_t cap, const char *key, const char *val)
{
	char *esc;

	if (!val || !*val)
		return;
	esc = api_escape(val);
	if (!esc)
		return;
	snprintf(q + strlen(q), cap - strlen(q), "&%s=%s", key, esc);
	free(esc);
}

int trace_follow_init(struct trace_follow *tf)
{
	struct api_reply r;
	char path[64];

	memset(tf, 0, sizeof(*tf));
	/* a live reader starts at the head: ask once without "after" */
	snprintf(path, sizeof(path), "/v1/traces?limit=1");
	if (api_get(path, &r))
		return -EIO;
	tf->after = (uint64_t)json_integer_value(json_object_get(r.json, "next"));
	tf->dropped0 = tf->dropped = (uint64_t)json_integer_value(json_object_get(r.json, "dropped"));
	tf->dec_missed0 = tf->dec_missed = (uint64_t)json_integer_value(json_object_get(r.json, "decisions_missed"));
	tf->pauses = (uint64_t)json_integer_value(json_object_get(r.json, "pauses"));
	api_reply_free(&r);
	return 0;
}

/* the hop's own start (start_ms), else its request's */
static void print_time(FILE *f, const json_t *req, const json_t *hop)
{
	json_t *st = json_object_get(hop, "start_ms");
	json_int_t ms = json_integer_value(st ? st : json_object_get(req, "time"));
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&s, &tm);
	fprintf(f, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* depth of a hop in its request: parents come first in "hops" */
static int depth_of(const json_t *hops, size_t upto, json_int_t parent)
{
	int d = 0;

	for (int guard = 0; parent && guard < 64; guard++) {
		json_int_t next = 0;
		size_t i;
		json_t *h;

		json_array_foreach (hops, i, h) {
			if (i >= upto)
				break;
			if (json_integer_value(json_object_get(h, "id")) == parent) {
				next = json_integer_value(json_object_get(h, "parent"));
				d++;
				break;
			}
		}
		if (!next)
			break;
		parent = next;
	}
	return d;
}

/* what a pod sent (a method, a target), made safe for a terminal: a byte
 * outside printable ASCII is shown as \xNN, so a request cannot move the
 * cursor, retitle the window or write the clipboard of whoever watches */
static const char *term_safe(const char *in, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < cap; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
			buf[o++] = (char)*p;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[*p >> 4];
			buf[o++] = hex[*p & 15];
		}
	}
	buf[o] = 0;
	return buf;
}

void trace_print_req(FILE *f, const json_t *req, const char *prefix)
{
	json_t *hops = json_object_get(req, "hops"), *h;
	size_t i;

	json_array_foreach (hops, i, h) {
		const char *space = jstr(h, "asked_space", "");
		int status = (int)json_integer_value(json_object_get(h, "status"));
		int depth = depth_of(hops, i, json_integer_value(json_object_get(h, "parent")));
		const char *pod = jstr(h, "pod", ""), *served = jstr(h, "space", "");
		char st[8], method[80], target[4 * 1024 + 8];

		if (!*space)
			space = jstr(h, "caller_space", "");
		if (status)
			snprintf(st, sizeof(st), "%d", status);
		else
			snprintf(st, sizeof(st), "-");
		fputs(prefix ? prefix : "", f);
		print_time(f, req, h);
		fprintf(f, "  %s  %*s%s -> %s%s%s (%s)  %s %s  %s  %.1f ms%s\n", or_dash(space), depth * 2, "",
			or_dash(jstr(h, "caller", "")), or_dash(jstr(h, "service", *pod ? pod : "")), *served ? "@" : "",
			served, or_dash(jstr(h, "reason", "")),
			or_dash(term_safe(jstr(h, "method", ""), method, sizeof(method))),
			or_dash(term_safe(jstr(h, "target", ""), target, sizeof(target))), st, json_real_value(json_object_get(h, "duration_ms")),
			json_is_true(json_object_get(h, "truncated")) ? "  (head cut)" : "");
	}
}

int trace_follow_poll(struct trace_follow *tf, const struct trace_filter *flt, bool wait,
		      void (*each)(void *ctx, const json_t *req), void *ctx)
{
	char path[2048];
	struct api_reply r;
	struct api_req req = { .method = "GET", .path = path, .timeout_s = 30 };
	json_t *items, *it;
	uint64_t dropped, dm, missed;
	size_t i;
	int err;

	snprintf(path, sizeof(path), "/v1/traces?limit=2000&after=%" PRIu64 "%s%s", tf->after, wait ? "&follow=true" : "",
		 flt->show_query ? "&query=true" : "");
	add_q(path, sizeof(path), "space", flt->space);
	add_q(path, sizeof(path), "service", flt->service);
	add_q(path, sizeof(path), "status", flt->status);
	add_q(path, sizeof(path), "method", flt->method);
	err = api_call(&req, &r);
	if (err)
		return err;
	items = json_object_get(r.json, "items");
	json_array_foreach (items, i, it) {
		if (cli_interrupted)
			break; /* -c N reached, or Ctrl-C */
		each(ctx, it);
		tf->shown++;
	}
	tf->after = (uint64_t)json_integer_value(json_object_get(r.json, "next"));
	missed = (uint64_t)json_integer_value(json_object_get(r.json, "missed"));
	dropped = (uint64_t)json_integer_value(json_object_get(r.json, "dropped"));
	dm = (uint64_t)json_integer_value(json_object_get(r.json, "decisions_missed"));
	/* say at once when something was lost, with how much */
	if (missed)
		fprintf(stderr, "azds trace: %" PRIu64 " requests missed: the controller keeps the last %s only and this "
				"reader fell behind\n", missed, "8192");
	if (dropped > tf->dropped)
		fprintf(stderr, "azds trace: %" PRIu64 " capture records lost in the kernel (ring buffer full); "
				"some requests may be missing or incomplete\n", dropped - tf->dropped);
	if (dm > tf->dec_missed)
		fprintf(stderr, "azds trace: %" PRIu64 " routing decisions lost (the reader fell behind the router)\n",
			dm - tf->dec_missed);
	if ((uint64_t)json_integer_value(json_object_get(r.json, "pauses")) > tf->pauses) {
		tf->pauses = (uint64_t)json_integer_value(json_object_get(r.json, "pauses"));
		fprintf(stderr, "azds trace: capture paused: this reader asked nothing for 15 s, so the controller "
				"stopped recording; requests meanwhile are missing\n");
	}
	if (!strcmp(jstr(r.json, "state", ""), "error") && !tf->said_state) {
		fprintf(stderr, "azds trace: capture is not running: %s\n", jstr(r.json, "reason", "?"));
		tf->said_state = true;
	}
	tf->missed += missed;
	tf->dropped = dropped > tf->dropped ? dropped : tf->dropped;
	tf->dec_missed = dm > tf->dec_missed ? dm : tf->dec_missed;
	api_reply_free(&r);
	return (int)json_array_size(items);
}

struct out {
	bool json;
	bool limited;       /* -c N */
	unsigned long left; /* requests still to show */
};

static void print_one(void *ctx, const json_t *req)
{
	struct out *o = ctx;

	if (o->limited && !o->left)
		return; /* the rest of the batch past -c N */
	if (o->json) {
		char *s = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(9));

		if (s)
			printf("%s\n", s);
		free(s);
	} else {
		trace_print_req(stdout, req, NULL);
	}
	fflush(stdout);
	if (o->limited && --o->left == 0)
		cli_interrupted = 1;
}

static int switch_space(const char *space, bool on)
{
	char path[AZDS_PATH_MAX + 32], *esc = api_escape(space);
	struct api_reply r;
	json_t *body = json_pack("{s:b}", "on", on);
	int err;

	snprintf(path, sizeof(path), "/v1/traces/spaces/%s", esc ? esc : "");
	free(esc);
	err = api_send("PUT", path, body, &r);
	json_decref(body);
	if (err)
		return EXIT_FAIL;
	api_reply_free(&r);
	printf("azds trace: capture %s for the pods of %s\n", on ? "on" : "off", space);
	return 0;
}

VERB(cmd_trace)
{
	const char *given = NULL, *given_n = NULL, *output = NULL;
	struct trace_filter flt = { 0 };
	unsigned long count = 0;
	const struct opt o[] = {
		OPT_S("space", 's', &given, "SPACE", "only requests that touch this space (default: every space)"),
		OPT_S("in", 'n', &given_n, "SPACE", "the same as --space"),
		OPT_S("service", 0, &flt.service, "NAME", "only requests that touch this service"),
		OPT_S("status", 0, &flt.status, "CODE", "only requests with a hop of this status (404) or class (5xx)"),
		OPT_S("method", 0, &flt.method, "METHOD", "only requests with a hop of this method (GET)"),
		OPT_F("query", 0, &flt.show_query, "show query strings (cut by default)"),
		OPT_N("count", 'c', &count, "N", "exit after N requests", 1, 100000000),
		OPT_C("output", 'o', &output, "json", "one JSON object per request and line (docs/trace.md)", "json"),
		OPT_END,
	};
	struct sigaction sa = { .sa_handler = on_interrupt };
	struct out out = { 0 };
	struct trace_follow tf;
	struct args a;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	if (!given)
		given = given_n;
	if (flt.status) {
		const char *s = flt.status;
		bool ok = strlen(s) == 3 && s[0] >= '1' && s[0] <= '5' &&
			  ((s[1] == 'x' && s[2] == 'x') || (s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'));

		if (!ok) {
			args_free(&a);
			return usage_error(v, "--status \"%s\": a status such as 404 or a class such as 5xx", s);
		}
	}
	if (a.npos) {
		bool on = !strcmp(a.pos[0], "on");
		char space[AZDS_PATH_MAX];

		if (!on && strcmp(a.pos[0], "off")) {
			err = usage_error(v, "\"%s\": on or off expected (azds trace on|off [-s SPACE])", a.pos[0]);
			args_free(&a);
			return err;
		}
		args_free(&a);
		if (api_space_or_selected(given, space, sizeof(space)))
			return EXIT_FAIL;
		return switch_space(space, on);
	}
	args_free(&a);
	flt.space = given;
	out.json = output_json(output);
	out.left = count;
	out.limited = count > 0;
	if (trace_follow_init(&tf))
		return EXIT_FAIL;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* what a test or a script waits for before it makes traffic */
	fprintf(stderr, "azds trace: waiting for requests (Ctrl-C to stop)\n");
	while (!cli_interrupted) {
		err = trace_follow_poll(&tf, &flt, true, print_one, &out);
		if (err == -EINTR || cli_interrupted)
			break;
		if (err < 0)
			return EXIT_FAIL;
	}
	fprintf(stderr, "azds trace: %" PRIu64 " requests shown; missed: %" PRIu64 " requests (reader behind), %" PRIu64
			" kernel records (ring buffer full), %" PRIu64 " routing decisions\n",
		tf.shown, tf.missed, tf.dropped - tf.dropped0, tf.dec_missed - tf.dec_missed0);
	return 0;
}
