// SPDX-License-Identifier: MIT
/*
 * The watch stream: the splitter fed in every split of a stream of
 * events (one byte at a time included), lines over the bound refused
 * whether they come whole or in pieces, and the event parser given
 * events of every type, then garbage. Also paths and status errnos.
 */
#include <errno.h>
#include <stdlib.h>

#include "k8s.h"
#include "kt.h"

#define MAXL 32

struct got {
	int n;
	char lines[16][4096];
	int stop_at; /* return 7 from the callback at this line (1-based), 0: never */
};

static int collect(const char *line, size_t len, void *arg)
{
	struct got *g = arg;
	if (g->n < 16)
		snprintf(g->lines[g->n], sizeof(g->lines[0]), "%.*s", (int)len, line);
	g->n++;
	return g->stop_at && g->n == g->stop_at ? 7 : 0;
}

static void test_splits(void)
{
	const char *stream = "{\"a\":1}\n{\"b\":22}\r\n\n{\"c\":333}\n";
	size_t n = strlen(stream);
	/* Every way of cutting the stream in two, then three. */
	for (size_t i = 0; i <= n; i++)
		for (size_t j = i; j <= n; j++) {
			struct azds_k8s_lines l;
			struct got g = {0};
			azds_k8s_lines_init(&l, MAXL);
			int r1 = azds_k8s_lines_feed(&l, stream, i, collect, &g);
			int r2 = azds_k8s_lines_feed(&l, stream + i, j - i, collect, &g);
			int r3 = azds_k8s_lines_feed(&l, stream + j, n - j, collect, &g);
			CHECK(!r1 && !r2 && !r3, "cut %zu/%zu: %d %d %d", i, j, r1, r2, r3);
			CHECK(g.n == 3, "cut %zu/%zu: %d lines", i, j, g.n);
			CHECK(!strcmp(g.lines[0], "{\"a\":1}") && !strcmp(g.lines[1], "{\"b\":22}") &&
				  !strcmp(g.lines[2], "{\"c\":333}"),
			      "cut %zu/%zu: %s|%s|%s", i, j, g.lines[0], g.lines[1], g.lines[2]);
			CHECK(l.len == 0, "nothing left over");
			azds_k8s_lines_free(&l);
		}
	/* One byte at a time. */
	struct azds_k8s_lines l;
	struct got g = {0};
	azds_k8s_lines_init(&l, MAXL);
	for (size_t i = 0; i < n; i++)
		azds_k8s_lines_feed(&l, stream + i, 1, collect, &g);
	CHECK(g.n == 3 && !strcmp(g.lines[2], "{\"c\":333}"), "bytewise: %d", g.n);
	/* A partial line stays until its newline. */
	azds_k8s_lines_feed(&l, "{\"d\":", 5, collect, &g);
	CHECK(g.n == 3 && l.len == 5, "partial kept: %zu", l.len);
	azds_k8s_lines_feed(&l, "4}\n", 3, collect, &g);
	CHECK(g.n == 4 && !strcmp(g.lines[3], "{\"d\":4}"), "partial completed: %s", g.lines[3]);
	azds_k8s_lines_free(&l);

	/* The callback's non-zero return stops the feed there. */
	struct got s = {.stop_at = 2};
	azds_k8s_lines_init(&l, MAXL);
	CHECK(azds_k8s_lines_feed(&l, stream, n, collect, &s) == 7 && s.n == 2, "stopped at 2: %d", s.n);
	azds_k8s_lines_free(&l);
}

static void test_bounds(void)
{
	char exact[MAXL + 2], over[MAXL + 3];
	memset(exact, 'x', MAXL);
	exact[MAXL] = '\n';
	exact[MAXL + 1] = 0;
	memset(over, 'y', MAXL + 1);
	over[MAXL + 1] = '\n';
	over[MAXL + 2] = 0;

	struct azds_k8s_lines l;
	struct got g = {0};
	azds_k8s_lines_init(&l, MAXL);
	CHECK(azds_k8s_lines_feed(&l, exact, strlen(exact), collect, &g) == 0 && g.n == 1, "exactly the bound");
	/* The same, in two pieces. */
	CHECK(azds_k8s_lines_feed(&l, exact, 10, collect, &g) == 0, "piece 1");
	CHECK(azds_k8s_lines_feed(&l, exact + 10, strlen(exact) - 10, collect, &g) == 0 && g.n == 2, "piece 2");
	azds_k8s_lines_free(&l);

	/* One over, whole. */
	azds_k8s_lines_init(&l, MAXL);
	CHECK(azds_k8s_lines_feed(&l, over, strlen(over), collect, &g) == -EMSGSIZE, "over, whole");
	/* The stream is dead: what follows is refused too, even a good line. */
	CHECK(azds_k8s_lines_feed(&l, "{}\n", 3, collect, &g) == -EMSGSIZE && g.n == 2, "dead after");
	azds_k8s_lines_free(&l);

	/* One over, in pieces, no newline yet: refused as soon as it is over. */
	azds_k8s_lines_init(&l, MAXL);
	CHECK(azds_k8s_lines_feed(&l, over, 20, collect, &g) == 0, "first piece");
	CHECK(azds_k8s_lines_feed(&l, over + 20, MAXL + 1 - 20, collect, &g) == -EMSGSIZE, "over in pieces");
	CHECK(l.cap <= MAXL, "the buffer never grew past the bound: %zu", l.cap);
	azds_k8s_lines_free(&l);

	/* A huge line of megabytes with the default bound: refused, memory bounded. */
	size_t big = AZDS_K8S_LINE_MAX + 4096;
	char *h = malloc(big);
	memset(h, 'z', big);
	azds_k8s_lines_init(&l, 0);
	int ret = 0;
	for (size_t off = 0; off < big && !ret; off += 65536)
		ret = azds_k8s_lines_feed(&l, h + off, big - off < 65536 ? big - off : 65536, collect, &g);
	CHECK(ret == -EMSGSIZE, "huge line refused: %d", ret);
	CHECK(l.cap <= AZDS_K8S_LINE_MAX, "bounded at %zu", l.cap);
	azds_k8s_lines_free(&l);
	free(h);
}

static int parse(const char *s, struct azds_k8s_event *ev, struct azds_k8s_err *e)
{
	return azds_k8s_event_parse(s, strlen(s), ev, e);
}

static void test_events(void)
{
	struct azds_k8s_event ev;
	struct azds_k8s_err e;
	static const char *const types[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK"};
	for (int t = 0; t < 4; t++) {
		char line[256];
		snprintf(line, sizeof(line),
			 "{\"type\":\"%s\",\"object\":{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\","
			 "\"resourceVersion\":\"12%d\"}}}",
			 types[t], t);
		int ret = parse(line, &ev, &e);
		CHECK(ret == 0 && (int)ev.type == t, "%s: %d %s", types[t], ret, e.msg);
		char rv[16];
		snprintf(rv, sizeof(rv), "12%d", t);
		CHECK(!ret && !strcmp(ev.rv, rv), "%s rv %s", types[t], ev.rv);
		CHECK(!ret && !strcmp(azds_k8s_ev_name(ev.type), types[t]), "name");
		if (!ret)
			json_decref(ev.object);
	}
	int ret = parse("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
			"\"Failure\",\"message\":\"too old resource version: 1 (4521)\",\"reason\":\"Expired\","
			"\"code\":410}}",
			&ev, &e);
	CHECK(ret == 0 && ev.type == AZDS_K8S_ERROR && ev.code == 410, "ERROR 410: %d %d", ret, ev.code);
	if (!ret)
		json_decref(ev.object);

	static const struct {
		const char *line, *needle;
	} garbage[] = {
	    {"not json", "not JSON"},
	    {"{\"type\":\"ADDED\",\"object\":{}", "not JSON"},
	    {"{\"object\":{}}", "no type"},
	    {"{\"type\":\"RENAMED\",\"object\":{}}", "unknown type"},
	    {"{\"type\":\"ADDED\"}", "no object"},
	    {"{\"type\":\"ADDED\",\"object\":[1]}", "no object"},
	    {"{\"type\":7,\"object\":{}}", "no type"},
	    {"[]", "no type"},
	    {"\"ADDED\"", "not JSON"},
	    {"{\"type\":\"ADDED\",\"object\":{}} trailing", "not JSON"},
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		ret = parse(garbage[i].line, &ev, &e);
		CHECK(ret == -EBADMSG, "garbage %zu: %d", i, ret);
		CHECK_MSG(&e, garbage[i].needle);
	}
	/* Bytes that are not text at all. */
	char bin[64];
	for (int i = 0; i < 64; i++)
		bin[i] = (char)(i * 37 + 200);
	CHECK(azds_k8s_event_parse(bin, sizeof(bin), &ev, &e) == -EBADMSG, "binary");
}

static void test_paths(void)
{
	char p[256];
	CHECK(azds_k8s_path(p, sizeof(p), &azds_k8s_namespaces, NULL, NULL, NULL) == 0 &&
		  !strcmp(p, "/api/v1/namespaces"),
	      "%s", p);
	CHECK(azds_k8s_path(p, sizeof(p), &azds_k8s_namespaces, "x", "dev", NULL) == 0 &&
		  !strcmp(p, "/api/v1/namespaces/dev"),
	      "cluster-scoped ignores ns: %s", p);
	CHECK(azds_k8s_path(p, sizeof(p), &azds_k8s_pods, "dev", "web-1", "status") == 0 &&
		  !strcmp(p, "/api/v1/namespaces/dev/pods/web-1/status"),
	      "%s", p);
	CHECK(azds_k8s_path(p, sizeof(p), &azds_k8s_endpointslices, NULL, NULL, NULL) == 0 &&
		  !strcmp(p, "/apis/discovery.k8s.io/v1/endpointslices"),
	      "all namespaces: %s", p);
	CHECK(azds_k8s_path(p, sizeof(p), &azds_k8s_leases, "azds", "leader", NULL) == 0 &&
		  !strcmp(p, "/apis/coordination.k8s.io/v1/namespaces/azds/leases/leader"),
	      "%s", p);
	CHECK(azds_k8s_path(p, sizeof(p), &azds_k8s_pods, "dev", "../secrets", NULL) == -EINVAL, "slash");
	CHECK(azds_k8s_path(p, sizeof(p), &azds_k8s_pods, "..", "a", NULL) == -EINVAL, "dotdot");
	CHECK(azds_k8s_path(p, sizeof(p), &azds_k8s_pods, "dev", "a?watch=1", NULL) == -EINVAL, "query");
	CHECK(azds_k8s_path(p, sizeof(p), &azds_k8s_pods, "dev", "", NULL) == -EINVAL, "empty");
	CHECK(azds_k8s_path(p, 10, &azds_k8s_pods, "dev", "a", NULL) == -ENAMETOOLONG, "short buffer");

	CHECK(azds_k8s_errno_of_status(404, "NotFound") == -ENOENT, "404");
	CHECK(azds_k8s_errno_of_status(409, "AlreadyExists") == -EEXIST, "409 exists");
	CHECK(azds_k8s_errno_of_status(409, "Conflict") == -EAGAIN, "409 conflict");
	CHECK(azds_k8s_errno_of_status(410, "Expired") == -ESTALE, "410");
	CHECK(azds_k8s_errno_of_status(401, "Unauthorized") == -EACCES, "401");
	CHECK(azds_k8s_errno_of_status(403, "Forbidden") == -EPERM, "403");
	CHECK(azds_k8s_errno_of_status(503, "ServiceUnavailable") == -EIO, "503");
	CHECK(azds_k8s_errno_of_status(200, "") == 0, "200");
}

int main(void)
{
	test_splits();
	test_bounds();
	test_events();
	test_paths();
	return kt_done("k8s_stream");
}
