// SPDX-License-Identifier: MIT
/*
 * The client against a real API server, for run.sh (inside the harness's
 * control-plane namespace):
 *
 *   k8s-client-it scenario KUBECONFIG RUN    create/list/page/watch/patch/delete, stop, informer
 *   k8s-client-it watch-from KUBECONFIG RV   expects 410 (exit 0), prints it
 *   k8s-client-it compact-list KUBECONFIG CMD  page 1, CMD (compacts etcd), page 2: expects 410
 *   k8s-client-it get KUBECONFIG|- PATH      prints "ok" or the error (KUBECONFIG "-": in-cluster)
 *   k8s-client-it informer-restart KUBECONFIG RUN CMD   an informer across CMD (restarts the API server)
 *   k8s-client-it get-rotate KUBECONFIG PATH NEW    the tokenFile replaced by NEW after loading
 *
 * Prints "ok ..." or "not ok ..." per check, and "N passed, N failed";
 * exits 1 on a failure. Waits are bounded; none decides a result by time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8s.h"

static int passed, failed;

static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s ", ok ? "ok" : "not ok");
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	va_end(ap);
	ok ? passed++ : failed++;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct azds_k8s *connect_to(const char *kubeconfig)
{
	struct azds_k8s_config c;
	struct azds_k8s_err e;
	struct azds_k8s *k;
	int ret = strcmp(kubeconfig, "-") ? azds_k8s_config_load(&c, kubeconfig, NULL, &e)
					  : azds_k8s_config_incluster(&c, getenv("SA_DIR"), &e);
	if (ret) {
		fprintf(stderr, "config: %s\n", e.msg);
		exit(2);
	}
	if (azds_k8s_new(&k, &c, &e)) {
		fprintf(stderr, "client: %s\n", e.msg);
		exit(2);
	}
	azds_k8s_config_free(&c);
	return k;
}

static const char *label_of(json_t *obj, const char *key)
{
	const char *s =
	    json_string_value(json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), key));
	return s ? s : "";
}

static const char *name_of(json_t *obj)
{
	const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	return s ? s : "";
}

/* ------------------------------------------------------------- watcher */

#define MAXEV 256

struct seen {
	enum azds_k8s_ev_type type;
	char name[64];
	char stage[16];
	char note[16];
};

struct watcher {
	struct azds_k8s *k;
	char selector[128], rv[AZDS_K8S_RV_MAX], want_deleted[64];
	pthread_mutex_t mu;
	struct seen ev[MAXEV];
	int n, bookmarks, runs, gone, deleted;
	int result;
	struct azds_k8s_err e;
};

static int on_event(const struct azds_k8s_event *ev, void *arg)
{
	struct watcher *w = arg;
	pthread_mutex_lock(&w->mu);
	if (ev->type == AZDS_K8S_BOOKMARK) {
		w->bookmarks++;
	} else if (w->n < MAXEV) {
		struct seen *s = &w->ev[w->n++];
		s->type = ev->type;
		snprintf(s->name, sizeof(s->name), "%s", name_of(ev->object));
		snprintf(s->stage, sizeof(s->stage), "%s", label_of(ev->object, "stage"));
		const char *note = json_string_value(json_object_get(
		    json_object_get(json_object_get(ev->object, "metadata"), "annotations"), "azds.io/note"));
		snprintf(s->note, sizeof(s->note), "%s", note ? note : "");
		if (ev->type == AZDS_K8S_DELETED && !strcmp(s->name, w->want_deleted))
			w->deleted = 1;
	}
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* Watches (short timeoutSeconds, so the server ends each and sends a bookmark first) until both are seen. */
static void *watch_thread(void *arg)
{
	struct watcher *w = arg;
	struct azds_k8s_watch_opts o = {.label_selector = w->selector, .timeout_s = 6};
	struct azds_k8s_watch *wt;
	if ((w->result = azds_k8s_watch_new(&wt, w->k, &azds_k8s_namespaces, NULL, &o, &w->e)))
		return NULL;
	double end = now_s() + 120;
	for (;;) {
		w->runs++;
		w->result = azds_k8s_watch_run(wt, w->rv, on_event, w, &w->e);
		pthread_mutex_lock(&w->mu);
		/* a second run at least: it resumes from the first's resourceVersion */
		int done = w->deleted && w->bookmarks && w->runs >= 2;
		pthread_mutex_unlock(&w->mu);
		if (w->result || done || now_s() > end)
			break;
	}
	azds_k8s_watch_free(wt);
	return NULL;
}

/* Counts ERROR events (and, for the small-line watch, any at all: it must see none). */
static int gone_event(const struct azds_k8s_event *ev, void *arg)
{
	int *errors = arg;
	(*errors)++;
	(void)ev;
	return 0;
}

/* ------------------------------------------------------------- stop */

struct stopper {
	struct azds_k8s_watch *w;
	int ret;
	double took;
	char msg[1024];
	char rv[AZDS_K8S_RV_MAX];
};

static int ignore(const struct azds_k8s_event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	return 0;
}

static void *stop_thread(void *arg)
{
	struct stopper *s = arg;
	char rv[AZDS_K8S_RV_MAX] = "";
	struct azds_k8s_err e;
	double t0 = now_s();
	/*
	 * Watching an empty selection from a list's resourceVersion (without
	 * one, the API server wants etcd's RequestWatchProgress, which the
	 * harness's etcd 3.4 lacks): nothing arrives, it only ends when
	 * stopped (or in 300 s).
	 */
	snprintf(rv, sizeof(rv), "%s", s->rv);
	s->ret = azds_k8s_watch_run(s->w, rv, ignore, NULL, &e);
	s->took = now_s() - t0;
	snprintf(s->msg, sizeof(s->msg), "%s", e.msg);
	return NULL;
}

/* ------------------------------------------------------------- informer */

struct inf_state {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int begins, synced;
	char names[32][64];
	int n;
	int adds_e, dels_d;
	char retried[1200];
	struct azds_k8s_informer *inf;
	int ret;
	struct azds_k8s_err e;
};

static int inf_begin(void *arg)
{
	struct inf_state *s = arg;
	pthread_mutex_lock(&s->mu);
	s->begins++;
	s->n = 0;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static int inf_object(enum azds_k8s_ev_type t, json_t *obj, void *arg)
{
	struct inf_state *s = arg;
	const char *n = name_of(obj);
	pthread_mutex_lock(&s->mu);
	if (t == AZDS_K8S_ADDED && s->n < 32)
		snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", n);
	if (t == AZDS_K8S_ADDED && strstr(n, "-e"))
		s->adds_e++;
	if (t == AZDS_K8S_DELETED && strstr(n, "-d"))
		s->dels_d++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static int inf_synced(void *arg)
{
	struct inf_state *s = arg;
	pthread_mutex_lock(&s->mu);
	s->synced++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void inf_retry(int err, const struct azds_k8s_err *e, long delay_ms, void *arg)
{
	struct inf_state *s = arg;
	snprintf(s->retried, sizeof(s->retried), "%d after %ld ms: %s", err, delay_ms, e->msg);
}

static void *inf_thread(void *arg)
{
	struct inf_state *s = arg;
	s->ret = azds_k8s_informer_run(s->inf, &s->e);
	return NULL;
}

/* Waits (bounded, 60 s) until *FLAG >= WANT. */
static int inf_wait(struct inf_state *s, int *flag, int want)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 60;
	pthread_mutex_lock(&s->mu);
	while (*flag < want && pthread_cond_timedwait(&s->cond, &s->mu, &ts) == 0)
		;
	int ok = *flag >= want;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

/* ------------------------------------------------------------- scenario */

static json_t *ns_obj(const char *name, const char *run, const char *stage)
{
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
			 "name", name, "labels", "azds.io/space", "true", "kc-test", run, "stage", stage);
}

static void create_ns(struct azds_k8s *k, const char *name, const char *run, const char *stage)
{
	struct azds_k8s_err e;
	json_t *o = ns_obj(name, run, stage), *out = NULL;
	int ret = azds_k8s_create(k, &azds_k8s_namespaces, NULL, o, &out, &e);
	check(!ret && !strcmp(name_of(out), name) && !strcmp(label_of(out, "kc-test"), run),
	      "create namespace %s with labels (%d %s)", name, ret, e.msg);
	json_decref(o);
	json_decref(out);
}

static int collect_name(json_t *item, void *arg)
{
	char *buf = arg;
	size_t n = strlen(buf);
	snprintf(buf + n, 512 - n, "%s%s", n ? "," : "", name_of(item));
	return 0;
}

static void scenario_crud(struct azds_k8s *k, const char *run, struct watcher *w)
{
	char a[64], b[64], c[64], sel[128], names[512] = "", rv[AZDS_K8S_RV_MAX];
	struct azds_k8s_err e;
	json_t *out = NULL;
	int ret;

	snprintf(a, sizeof(a), "kc-%s-a", run);
	snprintf(b, sizeof(b), "kc-%s-b", run);
	snprintf(c, sizeof(c), "kc-%s-c", run);
	snprintf(sel, sizeof(sel), "kc-test=%s", run);

	create_ns(k, a, run, "one");
	json_t *dup = ns_obj(a, run, "one");
	ret = azds_k8s_create(k, &azds_k8s_namespaces, NULL, dup, NULL, &e);
	check(ret == -EEXIST && e.code == 409 && !strcmp(e.reason, "AlreadyExists") && strstr(e.msg, a),
	      "create again: -EEXIST, 409 AlreadyExists naming it (%d %d %s: %s)", ret, e.code, e.reason, e.msg);
	json_decref(dup);
	create_ns(k, b, run, "other");
	create_ns(k, c, run, "other");

	/* One page of one: a continue token. */
	struct azds_k8s_list_opts lo = {.label_selector = sel, .limit = 1};
	ret = azds_k8s_list(k, &azds_k8s_namespaces, NULL, &lo, &out, &e);
	const char *cont = json_string_value(json_object_get(json_object_get(out, "metadata"), "continue"));
	check(!ret && json_array_size(json_object_get(out, "items")) == 1 && cont && cont[0],
	      "list limit=1: one item and a continue token (%d %s)", ret, e.msg);
	json_decref(out);
	/* Every page: the three, in name order. */
	ret = azds_k8s_list_all(k, &azds_k8s_namespaces, NULL, &lo, 10, collect_name, names, rv, &e);
	char want[256];
	snprintf(want, sizeof(want), "%s,%s,%s", a, b, c);
	check(!ret && !strcmp(names, want) && rv[0], "list by label, pages of 1: %s at rv %s (%s)", names, rv, e.msg);
	ret = azds_k8s_list_all(k, &azds_k8s_namespaces, NULL, &lo, 2, collect_name, names, rv, &e);
	check(ret == -E2BIG, "list bounded at 2 items: -E2BIG (%d %s)", ret, e.msg);
	names[0] = 0;
	char sel2[160];
	snprintf(sel2, sizeof(sel2), "%s,stage=one", sel);
	struct azds_k8s_list_opts lo2 = {.label_selector = sel2};
	ret = azds_k8s_list_all(k, &azds_k8s_namespaces, NULL, &lo2, 0, collect_name, names, rv, &e);
	check(!ret && !strcmp(names, a), "list by two labels: %s (%s)", names, e.msg);

	/* merge patch */
	json_t *mp = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "stage", "two");
	ret = azds_k8s_patch(k, &azds_k8s_namespaces, NULL, a, AZDS_K8S_PATCH_MERGE, mp, &out, &e);
	check(!ret && !strcmp(label_of(out, "stage"), "two") && !strcmp(label_of(out, "kc-test"), run),
	      "merge patch: stage=two, other labels kept (%d %s)", ret, e.msg);
	json_decref(mp);
	json_decref(out);
	/* JSON patch */
	json_t *jp = json_pack("[{s:s, s:s, s:{s:s}}]", "op", "add", "path", "/metadata/annotations", "value",
			       "azds.io/note", "hi");
	ret = azds_k8s_patch(k, &azds_k8s_namespaces, NULL, a, AZDS_K8S_PATCH_JSON, jp, NULL, &e);
	check(!ret, "JSON patch: add an annotation (%d %s)", ret, e.msg);
	json_decref(jp);
	jp = json_pack("[{s:s, s:s, s:s}]", "op", "test", "path", "/metadata/labels/stage", "value", "one");
	ret = azds_k8s_patch(k, &azds_k8s_namespaces, NULL, a, AZDS_K8S_PATCH_JSON, jp, NULL, &e);
	check(ret < 0 && e.code >= 400 && e.msg[0], "JSON patch whose test fails: an API error (%d %d %s)", ret, e.code,
	      e.msg);
	json_decref(jp);
	jp = json_object();
	ret = azds_k8s_patch(k, &azds_k8s_namespaces, NULL, a, AZDS_K8S_PATCH_JSON, jp, NULL, &e);
	check(ret == -EINVAL, "JSON patch that is not an array: refused before sending (%s)", e.msg);
	json_decref(jp);
	ret = azds_k8s_get(k, &azds_k8s_namespaces, NULL, a, &out, &e);
	const char *note = json_string_value(
	    json_object_get(json_object_get(json_object_get(out, "metadata"), "annotations"), "azds.io/note"));
	check(!ret && !strcmp(label_of(out, "stage"), "two") && note && !strcmp(note, "hi"),
	      "get: both patches are there (%d %s)", ret, e.msg);
	json_decref(out);
	ret = azds_k8s_get(k, &azds_k8s_namespaces, NULL, "kc-no-such-namespace", NULL, &e);
	check(ret == -ENOENT && e.code == 404 && !strcmp(e.reason, "NotFound") && strstr(e.msg, "not found"),
	      "get a missing one: -ENOENT 404 NotFound (%s)", e.msg);

	/* delete */
	for (const char *n = a; n; n = n == a ? b : n == b ? c : NULL) {
		ret = azds_k8s_delete(k, &azds_k8s_namespaces, NULL, n, &out, &e);
		check(!ret, "delete %s (%d %s)", n, ret, e.msg);
		json_decref(out);
	}
	(void)w;
}

static void check_watch(struct watcher *w, const char *a)
{
	int added = -1, modified = -1, noted = -1, deleted = -1, adds = 0;
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < w->n; i++) {
		struct seen *s = &w->ev[i];
		if (strcmp(s->name, a))
			continue;
		if (s->type == AZDS_K8S_ADDED && added < 0 && !strcmp(s->stage, "one"))
			added = i;
		adds += s->type == AZDS_K8S_ADDED;
		if (s->type == AZDS_K8S_MODIFIED && modified < 0 && !strcmp(s->stage, "two"))
			modified = i;
		if (s->type == AZDS_K8S_MODIFIED && noted < 0 && !strcmp(s->note, "hi"))
			noted = i;
		if (s->type == AZDS_K8S_DELETED)
			deleted = i;
	}
	printf("# watch: %d events, %d bookmarks, %d runs (the server ended each), last rv %s\n", w->n, w->bookmarks,
	       w->runs, w->rv);
	for (int i = 0; i < w->n && i < 40; i++)
		printf("#   %s %s stage=%s note=%s\n", azds_k8s_ev_name(w->ev[i].type), w->ev[i].name, w->ev[i].stage,
		       w->ev[i].note);
	pthread_mutex_unlock(&w->mu);
	check(w->result == 0, "watch runs ended by the server, not by an error (%d %s)", w->result, w->e.msg);
	check(added >= 0, "watch saw ADDED %s with stage=one", a);
	check(modified > added, "watch saw MODIFIED %s with stage=two after it", a);
	check(noted >= modified, "watch saw MODIFIED %s with the annotation after that", a);
	check(deleted > noted, "watch saw DELETED %s last", a);
	check(w->bookmarks > 0, "watch saw a BOOKMARK (%d)", w->bookmarks);
	check(w->runs > 1 && adds == 1,
	      "watch resumed from its resourceVersion across %d runs, nothing replayed (%d ADDED)", w->runs, adds);
}

static void scenario_stop(struct azds_k8s *k)
{
	struct azds_k8s_watch_opts o = {.label_selector = "kc-test=nothing-has-this", .timeout_s = 300};
	struct azds_k8s_err e;
	struct stopper s = {0};
	pthread_t t;
	int ret = azds_k8s_watch_new(&s.w, k, &azds_k8s_namespaces, NULL, &o, &e);
	check(!ret, "watch handle (%s)", e.msg);
	if (ret)
		return;
	struct azds_k8s_list_opts lo = {.label_selector = o.label_selector};
	char none[512] = "";
	ret = azds_k8s_list_all(k, &azds_k8s_namespaces, NULL, &lo, 0, collect_name, none, s.rv, &e);
	check(!ret && s.rv[0], "list for the stop test's resourceVersion (%s)", e.msg);
	pthread_create(&t, NULL, stop_thread, &s);
	usleep(500000); /* let it connect (if it has not, the stop waits for it: the result is the same) */
	double t0 = now_s();
	azds_k8s_watch_stop(s.w);
	pthread_join(t, NULL);
	check(s.ret == -ECANCELED,
	      "a 300 s watch stopped from another thread: -ECANCELED (%d %s), %.1f ms after the stop", s.ret, s.msg,
	      (now_s() - t0) * 1e3);
	azds_k8s_watch_free(s.w);
}

/* A real event over a small bound: refused, the watch ends with -EMSGSIZE (the caller backs off). */
static void scenario_small_line(struct azds_k8s *k, const char *run)
{
	char name[64], sel[128], rv[AZDS_K8S_RV_MAX], none[512] = "", lab[64];
	struct azds_k8s_err e;
	struct azds_k8s_watch *w;
	snprintf(lab, sizeof(lab), "%s-big", run);
	snprintf(name, sizeof(name), "kc-%s-big", run);
	snprintf(sel, sizeof(sel), "kc-test=%s", lab);
	struct azds_k8s_list_opts lo = {.label_selector = sel};
	int ret = azds_k8s_list_all(k, &azds_k8s_namespaces, NULL, &lo, 0, collect_name, none, rv, &e);
	struct azds_k8s_watch_opts o = {.label_selector = sel, .timeout_s = 30, .max_line = 200};
	if (ret || azds_k8s_watch_new(&w, k, &azds_k8s_namespaces, NULL, &o, &e)) {
		check(0, "small-line watch set up (%s)", e.msg);
		return;
	}
	create_ns(k, name, lab, "one");
	int events = 0;
	ret = azds_k8s_watch_run(w, rv, gone_event, &events, &e);
	check(ret == -EMSGSIZE && strstr(e.msg, "longer than 200 bytes"),
	      "an event over a 200-byte bound: -EMSGSIZE, nothing delivered (%d, %d events: %s)", ret, events, e.msg);
	azds_k8s_watch_free(w);
	azds_k8s_delete(k, &azds_k8s_namespaces, NULL, name, NULL, &e);
}

static void scenario_informer(struct azds_k8s *k, const char *run)
{
	char d[64], ee[64], sel[128], lab[64];
	struct azds_k8s_err e;
	struct inf_state s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	snprintf(lab, sizeof(lab), "%s-inf", run);
	snprintf(d, sizeof(d), "kc-%s-d", run);
	snprintf(ee, sizeof(ee), "kc-%s-e", run);
	snprintf(sel, sizeof(sel), "kc-test=%s", lab);
	create_ns(k, d, lab, "one");

	struct azds_k8s_informer_ops ops = {inf_begin, inf_object, inf_synced, inf_retry};
	struct azds_k8s_informer_opts io = {.label_selector = sel, .watch_timeout_s = 5};
	int ret = azds_k8s_informer_new(&s.inf, k, &azds_k8s_namespaces, NULL, &io, &ops, &s, &e);
	check(!ret, "informer (%s)", e.msg);
	if (ret)
		return;
	pthread_t t;
	pthread_create(&t, NULL, inf_thread, &s);
	check(inf_wait(&s, &s.synced, 1), "informer listed and synced");
	pthread_mutex_lock(&s.mu);
	check(s.begins == 1 && s.n == 1 && !strcmp(s.names[0], d), "informer's list: %d item(s), %s", s.n, s.names[0]);
	pthread_mutex_unlock(&s.mu);
	create_ns(k, ee, lab, "one");
	check(inf_wait(&s, &s.adds_e, 1), "informer: ADDED %s from its watch", ee);
	azds_k8s_delete(k, &azds_k8s_namespaces, NULL, d, NULL, &e);
	check(inf_wait(&s, &s.dels_d, 1), "informer: DELETED %s", d);
	azds_k8s_delete(k, &azds_k8s_namespaces, NULL, ee, NULL, &e);
	char rv[AZDS_K8S_RV_MAX];
	azds_k8s_informer_rv(s.inf, rv);
	check(rv[0] != 0, "informer keeps a resourceVersion (%s)", rv);
	azds_k8s_informer_stop(s.inf);
	pthread_join(t, NULL);
	check(s.ret == -ECANCELED, "informer stopped: -ECANCELED (%d %s)", s.ret, s.e.msg);
	check(s.begins == 1, "no relist was needed (%d lists; retried: %s)", s.begins,
	      s.retried[0] ? s.retried : "never");
	azds_k8s_informer_free(s.inf);
}

static int cmd_scenario(const char *kc, const char *run)
{
	struct azds_k8s *k = connect_to(kc);
	struct watcher w = {.k = k, .mu = PTHREAD_MUTEX_INITIALIZER};
	struct azds_k8s_err e;
	char names[512] = "";
	pthread_t t;

	snprintf(w.selector, sizeof(w.selector), "kc-test=%s", run);
	snprintf(w.want_deleted, sizeof(w.want_deleted), "kc-%s-a", run);
	struct azds_k8s_list_opts lo = {.label_selector = w.selector};
	int ret = azds_k8s_list_all(k, &azds_k8s_namespaces, NULL, &lo, 0, collect_name, names, w.rv, &e);
	check(!ret && !names[0] && w.rv[0], "list by label before: none, at rv %s (%s)", w.rv, e.msg);
	pthread_create(&t, NULL, watch_thread, &w);
	scenario_crud(k, run, &w);
	pthread_join(t, NULL);
	check_watch(&w, w.want_deleted);
	scenario_stop(k);
	scenario_small_line(k, run);
	scenario_informer(k, run);
	azds_k8s_free(k);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/*
 * An informer across CMD (run.sh's: the API server killed, etcd written
 * and compacted meanwhile, the API server started again): its watch
 * breaks, it backs off and retries, its resourceVersion is too old for the
 * new watch cache (410), it lists again, and it sees what changes after.
 */
static int cmd_informer_restart(const char *kc, const char *run, const char *cmd)
{
	struct azds_k8s *k = connect_to(kc);
	char f[64], g[64], sel[128], lab[64];
	struct azds_k8s_err e;
	struct inf_state s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	snprintf(lab, sizeof(lab), "%s-rs", run);
	snprintf(f, sizeof(f), "kc-%s-rf", run);
	snprintf(g, sizeof(g), "kc-%s-rg-e", run); /* "-e": what inf_object counts as adds_e */
	snprintf(sel, sizeof(sel), "kc-test=%s", lab);
	create_ns(k, f, lab, "one");
	struct azds_k8s_informer_ops ops = {inf_begin, inf_object, inf_synced, inf_retry};
	struct azds_k8s_informer_opts io = {.label_selector = sel, .backoff_min_ms = 100, .backoff_max_ms = 1000};
	if (azds_k8s_informer_new(&s.inf, k, &azds_k8s_namespaces, NULL, &io, &ops, &s, &e)) {
		fprintf(stderr, "informer: %s\n", e.msg);
		return 2;
	}
	pthread_t t;
	pthread_create(&t, NULL, inf_thread, &s);
	check(inf_wait(&s, &s.synced, 1), "informer synced before the restart");
	check(system(cmd) == 0, "%s", cmd);
	/* The API server may still be settling: a few tries, bounded. */
	int ret = -1;
	for (int i = 0; i < 100 && ret; i++) {
		json_t *o = ns_obj(g, lab, "one");
		ret = azds_k8s_create(k, &azds_k8s_namespaces, NULL, o, NULL, &e);
		json_decref(o);
		if (ret)
			usleep(200000);
	}
	check(!ret, "create %s after the restart (%s)", g, e.msg);
	check(inf_wait(&s, &s.adds_e, 1), "informer saw ADDED %s after the restart", g);
	azds_k8s_delete(k, &azds_k8s_namespaces, NULL, f, NULL, &e);
	check(inf_wait(&s, &s.synced, 2), "informer listed again after the 410 (synced %d times)", s.synced);
	pthread_mutex_lock(&s.mu);
	printf("# informer: %d lists, last retry: %s\n", s.begins, s.retried[0] ? s.retried : "none");
	check(s.retried[0] != 0, "informer retried after an error while the API server was down");
	pthread_mutex_unlock(&s.mu);
	azds_k8s_delete(k, &azds_k8s_namespaces, NULL, g, NULL, &e);
	azds_k8s_informer_stop(s.inf);
	pthread_join(t, NULL);
	check(s.ret == -ECANCELED, "informer stopped (%d %s)", s.ret, s.e.msg);
	azds_k8s_informer_free(s.inf);
	azds_k8s_free(k);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* ------------------------------------------------------------- 410 */

static int cmd_watch_from(const char *kc, const char *from)
{
	struct azds_k8s *k = connect_to(kc);
	struct azds_k8s_watch_opts o = {.timeout_s = 10};
	struct azds_k8s_watch *w;
	struct azds_k8s_err e;
	char rv[AZDS_K8S_RV_MAX];
	int errors = 0;
	snprintf(rv, sizeof(rv), "%s", from);
	if (azds_k8s_watch_new(&w, k, &azds_k8s_namespaces, NULL, &o, &e))
		return 2;
	int ret = azds_k8s_watch_run(w, rv, gone_event, &errors, &e);
	printf("watch from %s: ret=%d (%s) code=%d reason=%s events=%d: %s\n", from, ret,
	       ret == -ESTALE ? "ESTALE: list again" : strerror(-ret), e.code, e.reason, errors, e.msg);
	azds_k8s_watch_free(w);
	azds_k8s_free(k);
	return ret == -ESTALE && e.code == 410 ? 0 : 1;
}

static int cmd_compact_list(const char *kc, const char *cmd)
{
	struct azds_k8s *k = connect_to(kc);
	struct azds_k8s_list_opts lo = {.limit = 1};
	struct azds_k8s_err e;
	json_t *page;
	int ret = azds_k8s_list(k, &azds_k8s_namespaces, NULL, &lo, &page, &e);
	const char *cont = json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
	if (ret || !cont) {
		printf("page 1: %d %s\n", ret, e.msg);
		return 2;
	}
	char token[4096];
	snprintf(token, sizeof(token), "%s", cont);
	json_decref(page);
	if (system(cmd) != 0) {
		printf("%s: failed\n", cmd);
		return 2;
	}
	lo.continue_token = token;
	ret = azds_k8s_list(k, &azds_k8s_namespaces, NULL, &lo, &page, &e);
	printf("page 2 after compaction: ret=%d (%s) code=%d reason=%s: %s\n", ret,
	       ret == -ESTALE ? "ESTALE: list again" : strerror(-ret), e.code, e.reason, e.msg);
	json_decref(page);
	azds_k8s_free(k);
	return ret == -ESTALE && e.code == 410 ? 0 : 1;
}

static int cmd_get(const char *kc, const char *path)
{
	struct azds_k8s *k = connect_to(kc);
	struct azds_k8s_err e;
	int ret = azds_k8s_request(k, "GET", path, NULL, NULL, NULL, &e);
	if (ret)
		printf("error ret=%d http=%d code=%d reason=%s: %s\n", ret, e.http, e.code, e.reason, e.msg);
	else
		printf("ok\n");
	azds_k8s_free(k);
	return ret ? 1 : 0;
}

/* The token file replaced by NEW after loading (a rotated token): the 401 re-reads it and the retry succeeds. */
static int cmd_get_rotate(const char *kc, const char *path, const char *newfile)
{
	struct azds_k8s_config c;
	struct azds_k8s_err e;
	struct azds_k8s *k;
	if (azds_k8s_config_load(&c, kc, NULL, &e) || azds_k8s_new(&k, &c, &e)) {
		fprintf(stderr, "%s\n", e.msg);
		return 2;
	}
	if (rename(newfile, c.token_file)) {
		perror("rename");
		return 2;
	}
	azds_k8s_config_free(&c);
	int ret = azds_k8s_request(k, "GET", path, NULL, NULL, NULL, &e);
	printf(ret ? "error ret=%d: %s\n" : "ok\n", ret, e.msg);
	azds_k8s_free(k);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "scenario"))
		return cmd_scenario(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "watch-from"))
		return cmd_watch_from(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "compact-list"))
		return cmd_compact_list(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "informer-restart"))
		return cmd_informer_restart(argv[2], argv[3], argv[4]);
	if (argc == 5 && !strcmp(argv[1], "get-rotate"))
		return cmd_get_rotate(argv[2], argv[3], argv[4]);
	if (argc == 4 && !strcmp(argv[1], "get"))
		return cmd_get(argv[2], argv[3]);
	fprintf(stderr, "usage: k8s-client-it scenario|watch-from|compact-list|get KUBECONFIG ARG\n");
	return 2;
}
