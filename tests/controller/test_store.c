// SPDX-License-Identifier: MIT
/*
 * Unit tests of controller/store.c against a real SQLite file under
 * /tmp/azds-test-store-<pid>; directories of earlier runs whose process
 * is gone are removed first, this run's at exit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <sqlite3.h>

#include "store.h"

#define TMP_PREFIX "azds-test-store-"

static int failures;
static char root[64];

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			failures++;                                                \
		}                                                                  \
	} while (0)

/* A call that must return want; on a mismatch shows the store's message. */
#define CHECK_RC(s, expr, want)                                                                  \
	do {                                                                                     \
		int rc_ = (expr);                                                                \
		if (rc_ != (want)) {                                                             \
			fprintf(stderr, "%s:%d: %s = %d (%s), want %d (%s); store: %s\n", __FILE__, \
				__LINE__, #expr, rc_, strerror(-rc_), (want), strerror(-(want)),  \
				store_errmsg(s));                                                 \
			failures++;                                                              \
		}                                                                                \
	} while (0)

#define CHECK_MSG(s, text)                                                                        \
	do {                                                                                      \
		if (!strstr(store_errmsg(s), (text))) {                                           \
			fprintf(stderr, "%s:%d: store_errmsg \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, \
				store_errmsg(s), (text));                                          \
			failures++;                                                               \
		}                                                                                 \
	} while (0)

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Directories of earlier runs whose process no longer exists. */
static void clean_stale(void)
{
	DIR *d = opendir("/tmp");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300];
		long pid;

		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
			continue;
		pid = strtol(e->d_name + strlen(TMP_PREFIX), NULL, 10);
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM) && pid != getpid())
			continue;
		snprintf(path, sizeof(path), "/tmp/%s", e->d_name);
		rm_rf(path);
	}
	closedir(d);
}

static void cleanup(void)
{
	if (root[0])
		rm_rf(root);
}

/* A state directory under root for one test (four live at a time). */
static const char *dir_for(const char *name)
{
	static char dirs[4][128];
	static int next;
	char *dir = dirs[next++ % 4];

	snprintf(dir, sizeof(dirs[0]), "%s/%s", root, name);
	return dir;
}

static struct store *open_or_die(const char *dir)
{
	struct store *s;
	int rc = store_open(&s, dir);

	if (rc) {
		fprintf(stderr, "store_open(%s): %s: %s\n", dir, strerror(-rc), store_errmsg(NULL));
		exit(1);
	}
	return s;
}

/* Runs sql on the file directly, not through the store. */
static int raw_exec(const char *dir, const char *sql, char *out, size_t len)
{
	char path[160];
	sqlite3 *db;
	sqlite3_stmt *q;
	int rc;

	snprintf(path, sizeof(path), "%s/state.db", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(q);
		if (out) {
			snprintf(out, len, "%s", rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : "");
		}
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : rc;
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	return rc;
}

static struct st_service svc_of(const char *space, const char *name, uint16_t port)
{
	struct st_service v;

	memset(&v, 0, sizeof(v));
	snprintf(v.space, sizeof(v.space), "%s", space);
	snprintf(v.name, sizeof(v.name), "%s", name);
	v.kind = ST_KIND_HTTP;
	v.port = port;
	v.target_port = 8080;
	return v;
}

/* ------------------------------------------------------------------ */

static void t_open(void)
{
	const char *dir = dir_for("open/a/b");
	struct store *s = open_or_die(dir);
	char buf[256];
	struct stat sb;

	CHECK(store_schema_version(s) == STORE_SCHEMA_VERSION);
	CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	CHECK(stat(dir_for("open/a"), &sb) == 0 && (sb.st_mode & 0777) == 0700);
	snprintf(buf, sizeof(buf), "%s/state.db", dir);
	CHECK(stat(buf, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK_RC(s, store_space_add(s, "default", NULL), 0);
	snprintf(buf, sizeof(buf), "%s/state.db-wal", dir);
	CHECK(stat(buf, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK(raw_exec(dir, "PRAGMA journal_mode", buf, sizeof(buf)) == 0 && !strcmp(buf, "wal"));
	CHECK(raw_exec(dir, "PRAGMA application_id", buf, sizeof(buf)) == 0 && !strcmp(buf, "1635411059"));
	store_close(s);

	/* Re-open: migrations are not re-run, data stays. */
	s = open_or_die(dir);
	CHECK(store_schema_version(s) == STORE_SCHEMA_VERSION);
	{
		int64_t n = -1;

		CHECK_RC(s, store_space_count(s, &n), 0);
		CHECK(n == 1);
	}
	store_close(s);

	/* A file in place of the directory. */
	snprintf(buf, sizeof(buf), "%s/file", dir);
	close(open(buf, O_CREAT | O_WRONLY, 0600));
	CHECK(store_open(&s, buf) == -ENOTDIR && s == NULL);
	CHECK(strstr(store_errmsg(NULL), "not a directory"));
}

static void t_refuse(void)
{
	const char *dir = dir_for("newer");
	struct store *s = open_or_die(dir);
	char path[160];
	int fd;

	store_close(s);
	CHECK(raw_exec(dir, "PRAGMA user_version = 99", NULL, 0) == 0);
	CHECK(store_open(&s, dir) == -EPROTO && s == NULL);
	CHECK(strstr(store_errmsg(NULL), "schema version 99 is newer than this build knows (2)"));

	/* Some other program's SQLite database. */
	dir = dir_for("foreign");
	mkdir(dir, 0700);
	CHECK(raw_exec(dir, "CREATE TABLE t (x)", NULL, 0) == 0);
	CHECK(store_open(&s, dir) == -EUCLEAN && s == NULL);
	CHECK(strstr(store_errmsg(NULL), "not an azds state database"));

	/* Not SQLite at all. */
	dir = dir_for("garbage");
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/state.db", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && write(fd, "this is not a database, just some text of some length\n", 55) == 55);
	for (int i = 0; i < 100; i++)
		CHECK(write(fd, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 64) == 64);
	close(fd);
	CHECK(store_open(&s, dir) == -EUCLEAN && s == NULL);
	CHECK(strstr(store_errmsg(NULL), "state.db"));

	/* A symlink in place of the database is not followed. */
	dir = dir_for("symlink");
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/state.db", dir);
	CHECK(symlink("/etc/passwd", path) == 0);
	CHECK(store_open(&s, dir) == -ELOOP && s == NULL);
}

struct order_ctx {
	char seen[64][ST_PATH_MAX];
	int n;
};

static int order_cb(void *ctx, const struct st_space *sp)
{
	struct order_ctx *o = ctx;

	if (o->n < 64)
		snprintf(o->seen[o->n++], ST_PATH_MAX, "%s", sp->path);
	return 0;
}

static int index_of(struct order_ctx *o, const char *path)
{
	for (int i = 0; i < o->n; i++)
		if (!strcmp(o->seen[i], path))
			return i;
	return -1;
}

static void t_spaces(void)
{
	struct store *s = open_or_die(dir_for("spaces"));
	char longpath[ST_PATH_MAX + 8];
	struct st_space sp;
	struct order_ctx o = { .n = 0 };
	struct st_service v;
	int64_t n = -1, id;

	CHECK_RC(s, store_space_add(s, "dev", NULL), 0);
	CHECK_RC(s, store_space_add(s, "dev/alice", "dev"), 0);
	CHECK_RC(s, store_space_add(s, "dev", ""), -EEXIST);
	CHECK_MSG(s, "space \"dev\" already exists");
	CHECK_RC(s, store_space_add(s, "dev/x/y", "dev/x"), -ENOENT);
	CHECK_MSG(s, "space \"dev/x/y\": parent \"dev/x\" does not exist");
	CHECK_RC(s, store_space_add(s, "other/bob", "dev"), -EINVAL);
	CHECK_RC(s, store_space_add(s, "dev/a/b", "dev"), -EINVAL);
	CHECK_RC(s, store_space_add(s, "a/b", NULL), -EINVAL);
	CHECK_RC(s, store_space_add(s, "", NULL), -EINVAL);

	/* Too long: refused before any write. */
	memset(longpath, 'a', sizeof(longpath));
	longpath[ST_PATH_MAX] = '\0';
	CHECK_RC(s, store_space_add(s, longpath, NULL), -ENAMETOOLONG);
	CHECK_MSG(s, "longer than 255 bytes");
	longpath[ST_PATH_MAX - 1] = '\0'; /* 255 bytes fit */
	CHECK_RC(s, store_space_add(s, longpath, NULL), 0);
	CHECK_RC(s, store_space_remove(s, longpath), 0);

	CHECK_RC(s, store_space_get(s, "dev/alice", &sp), 0);
	CHECK(!strcmp(sp.path, "dev/alice") && !strcmp(sp.parent, "dev") && sp.id > 0);
	CHECK(sp.created > 0 && llabs(sp.created - (int64_t)time(NULL)) < 3600);
	CHECK(sp.nlabels == 2);
	CHECK(!strcmp(sp.labels[0].key, "azds.io/parent-space") && !strcmp(sp.labels[0].value, "dev"));
	CHECK(!strcmp(sp.labels[1].key, "azds.io/space") && !strcmp(sp.labels[1].value, "true"));
	CHECK_RC(s, store_space_get(s, "dev", &sp), 0);
	CHECK(sp.parent[0] == '\0' && sp.nlabels == 2 && !strcmp(sp.labels[0].value, ""));
	CHECK_RC(s, store_space_get(s, "nope", &sp), -ENOENT);
	CHECK_MSG(s, "space \"nope\" does not exist");

	CHECK_RC(s, store_space_children(s, "dev", &n), 0);
	CHECK(n == 1);
	CHECK_RC(s, store_space_children(s, "nope", &n), -ENOENT);
	CHECK_RC(s, store_space_remove(s, "dev"), -ENOTEMPTY);
	CHECK_MSG(s, "space \"dev\": has 1 child space");

	/* A space with a service or a pod is not removed under them. */
	v = svc_of("dev/alice", "web", 80);
	CHECK_RC(s, store_service_put(s, &v), 0);
	CHECK_RC(s, store_space_remove(s, "dev/alice"), -ENOTEMPTY);
	CHECK_MSG(s, "still has 1 service and 0 pods");
	CHECK_RC(s, store_service_remove(s, "dev/alice", "web"), 0);
	{
		struct st_pod p;

		memset(&p, 0, sizeof(p));
		snprintf(p.name, sizeof(p.name), "p1");
		snprintf(p.space, sizeof(p.space), "dev/alice");
		CHECK_RC(s, store_pod_add(s, &p, 1000), 0);
		CHECK_RC(s, store_space_remove(s, "dev/alice"), -ENOTEMPTY);
		CHECK_MSG(s, "0 services and 1 pod");
		CHECK_RC(s, store_pod_remove(s, "p1"), 0);
	}
	/* Removal takes labels and selections along, and ids are never reused. */
	CHECK_RC(s, store_selection_set(s, 1000, "dev/alice"), 0);
	CHECK_RC(s, store_space_get(s, "dev/alice", &sp), 0);
	id = sp.id;
	CHECK_RC(s, store_space_remove(s, "dev/alice"), 0);
	CHECK_RC(s, store_space_remove(s, "dev/alice"), -ENOENT);
	{
		char buf[ST_PATH_MAX];

		CHECK_RC(s, store_selection_get(s, 1000, buf, sizeof(buf)), -ENOENT);
	}
	CHECK_RC(s, store_space_add(s, "dev/alice", "dev"), 0);
	CHECK_RC(s, store_space_get(s, "dev/alice", &sp), 0);
	CHECK(sp.id > id && sp.nlabels == 2);
	store_close(s);

	/* Order: parents before children whatever the insertion order. */
	s = open_or_die(dir_for("order"));
	{
		static const char *const tree[][2] = {
			{ "z", NULL },	    { "z/b", "z" },	   { "a", NULL },     { "z/b/c", "z/b" },
			{ "a/y", "a" },	    { "z/b/c/d", "z/b/c" }, { "a/y/x", "a/y" }, { "m", NULL },
			{ "z/a", "z" },
		};

		for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
			CHECK_RC(s, store_space_add(s, tree[i][0], tree[i][1]), 0);
		CHECK_RC(s, store_space_each(s, order_cb, &o), 0);
		CHECK(o.n == 9);
		for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
			if (tree[i][1])
				CHECK(index_of(&o, tree[i][1]) < index_of(&o, tree[i][0]));
		}
		CHECK(!strcmp(o.seen[0], "a") && !strcmp(o.seen[1], "m") && !strcmp(o.seen[2], "z"));
		CHECK(!strcmp(o.seen[8], "z/b/c/d"));
		CHECK_RC(s, store_space_count(s, &n), 0);
		CHECK(n == 9);
	}
	store_close(s);
}

struct svc_list {
	char names[32][ST_PATH_MAX + ST_NAME_MAX + 8];
	uint32_t vips[32];
	int n;
};

static int svc_cb(void *ctx, const struct st_service *v)
{
	struct svc_list *l = ctx;

	if (l->n < 32) {
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s/%s:%u", v->space, v->name, v->port);
		l->vips[l->n++] = v->vip;
	}
	return 0;
}

static void t_services(void)
{
	struct store *s = open_or_die(dir_for("services"));
	struct st_service v, g;
	struct svc_list l = { .n = 0 };
	int64_t n;
	uint32_t vip = htonl(0x0a640001); /* 10.100.0.1 */

	CHECK_RC(s, store_space_add(s, "default", NULL), 0);
	CHECK_RC(s, store_space_add(s, "dev", NULL), 0);
	v = svc_of("default", "web", 80);
	v.created = 1000;
	CHECK_RC(s, store_service_put(s, &v), 0);
	CHECK_RC(s, store_service_get(s, "default", "web", &g), 0);
	CHECK(!strcmp(g.space, "default") && !strcmp(g.name, "web") && g.kind == ST_KIND_HTTP);
	CHECK(g.port == 80 && g.target_port == 8080 && g.vip == 0 && g.created == 1000);

	/* VIPs: every copy of a name, and a new copy inherits it. */
	CHECK_RC(s, store_service_set_vip(s, "web", vip), 0);
	CHECK_RC(s, store_service_set_vip(s, "nope", vip), -ENOENT);
	CHECK_RC(s, store_service_get(s, "default", "web", &g), 0);
	CHECK(g.vip == vip);
	v = svc_of("dev", "web", 81);
	CHECK_RC(s, store_service_put(s, &v), 0);
	CHECK_RC(s, store_service_get(s, "dev", "web", &g), 0);
	CHECK(g.vip == vip && g.port == 81 && g.created > 1000);

	/* Replace: new kind and ports, the VIP and creation time stay. */
	v = svc_of("default", "web", 8000);
	v.kind = ST_KIND_TCP;
	v.target_port = 9000;
	CHECK_RC(s, store_service_put(s, &v), 0);
	CHECK_RC(s, store_service_get(s, "default", "web", &g), 0);
	CHECK(g.kind == ST_KIND_TCP && g.port == 8000 && g.target_port == 9000 && g.vip == vip && g.created == 1000);
	CHECK_RC(s, store_service_count(s, &n), 0);
	CHECK(n == 2);

	v = svc_of("default", "api", 80);
	CHECK_RC(s, store_service_put(s, &v), 0);
	CHECK_RC(s, store_service_each(s, NULL, svc_cb, &l), 0);
	CHECK(l.n == 3 && !strcmp(l.names[0], "default/api:80") && !strcmp(l.names[1], "default/web:8000") &&
	      !strcmp(l.names[2], "dev/web:81"));
	CHECK(l.vips[0] == 0 && l.vips[2] == vip);
	l.n = 0;
	CHECK_RC(s, store_service_each(s, "dev", svc_cb, &l), 0);
	CHECK(l.n == 1 && !strcmp(l.names[0], "dev/web:81"));
	l.n = 0;
	CHECK_RC(s, store_service_each(s, "nope", svc_cb, &l), 0);
	CHECK(l.n == 0);

	/* Refusals, each leaving nothing behind. */
	v = svc_of("nope", "web", 80);
	CHECK_RC(s, store_service_put(s, &v), -ENOENT);
	CHECK_MSG(s, "service \"web\": space \"nope\" does not exist");
	v = svc_of("default", "x", 80);
	v.kind = 7;
	CHECK_RC(s, store_service_put(s, &v), -EINVAL);
	v = svc_of("default", "x", 0);
	CHECK_RC(s, store_service_put(s, &v), -EINVAL);
	v = svc_of("default", "x", 80);
	memset(v.name, 'n', sizeof(v.name)); /* not NUL-terminated within the field */
	CHECK_RC(s, store_service_put(s, &v), -ENAMETOOLONG);
	CHECK_RC(s, store_service_count(s, &n), 0);
	CHECK(n == 3);

	CHECK_RC(s, store_service_remove(s, "default", "api"), 0);
	CHECK_RC(s, store_service_remove(s, "default", "api"), -ENOENT);
	CHECK_MSG(s, "service \"api\" in space \"default\" does not exist");
	CHECK_RC(s, store_service_get(s, "default", "api", &g), -ENOENT);

	/* Two names never share a VIP. */
	v = svc_of("dev", "db", 5432);
	CHECK_RC(s, store_service_put(s, &v), 0);
	CHECK_RC(s, store_service_set_vip(s, "db", vip), -EEXIST);
	CHECK_MSG(s, "service \"db\": VIP 10.100.0.1 is service \"web\"'s");
	v.vip = vip;
	CHECK_RC(s, store_service_put(s, &v), -EEXIST);
	CHECK_RC(s, store_service_get(s, "dev", "db", &g), 0);
	CHECK(g.vip == 0 && g.port == 5432);
	/* put with a VIP sets the name's VIP, in every space. */
	v = svc_of("default", "db", 5432);
	v.vip = htonl(0x0a640002);
	CHECK_RC(s, store_service_put(s, &v), 0);
	CHECK_RC(s, store_service_get(s, "dev", "db", &g), 0);
	CHECK(g.vip == htonl(0x0a640002));
	CHECK_RC(s, store_service_set_vip(s, "db", 0), 0);
	CHECK_RC(s, store_service_get(s, "default", "db", &g), 0);
	CHECK(g.vip == 0);

	/* The name's VIP goes with its last copy. */
	CHECK_RC(s, store_service_remove(s, "default", "web"), 0);
	CHECK_RC(s, store_service_get(s, "dev", "web", &g), 0);
	CHECK(g.vip == vip);
	CHECK_RC(s, store_service_remove(s, "dev", "web"), 0);
	CHECK_RC(s, store_service_set_vip(s, "web", vip), -ENOENT);
	v = svc_of("dev", "web", 80);
	CHECK_RC(s, store_service_put(s, &v), 0);
	CHECK_RC(s, store_service_get(s, "dev", "web", &g), 0);
	CHECK(g.vip == 0);
	store_close(s);
	{
		char out[64];

		CHECK(raw_exec(dir_for("services"), "SELECT group_concat(name || ':' || refs, ',') FROM"
						    " (SELECT * FROM service_names ORDER BY name)",
			       out, sizeof(out)) == 0 &&
		      !strcmp(out, "db:2,web:1"));
	}
}

static char *words[] = { "/bin/sh", "-c", "echo 'hi there' \"$X\"; exit 3", NULL };
static char *envs[] = { "X=1", "LANG=C.UTF-8", NULL };

static void pod_of(struct st_pod *p, const char *name, const char *space)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->space, sizeof(p->space), "%s", space);
}

struct pod_list {
	char names[16][ST_NAME_MAX];
	uint32_t uids[16];
	int n, argc_sum;
};

static int pod_cb(void *ctx, const struct st_pod *p, const struct st_pod_status *st)
{
	struct pod_list *l = ctx;

	(void)st;
	if (l->n < 16) {
		snprintf(l->names[l->n], ST_NAME_MAX, "%s", p->name);
		l->uids[l->n++] = p->uid;
	}
	l->argc_sum += p->argc;
	return 0;
}

static void t_pods(void)
{
	struct store *s = open_or_die(dir_for("pods"));
	struct st_pod p, g;
	struct st_pod_status st, gs;
	struct pod_list l = { .n = 0 };
	char big[ST_ARG_MAX + 1];
	int64_t n;

	CHECK_RC(s, store_space_add(s, "default", NULL), 0);
	CHECK_RC(s, store_space_add(s, "dev", NULL), 0);

	pod_of(&p, "api", "dev");
	snprintf(p.services[0], ST_NAME_MAX, "api");
	snprintf(p.services[1], ST_NAME_MAX, "metrics");
	p.nservices = 2;
	memcpy(p.argv, words, sizeof(words));
	p.argc = 3;
	memcpy(p.env, envs, sizeof(envs));
	p.nenv = 2;
	snprintf(p.workdir, sizeof(p.workdir), "/home/alice/src");
	p.restart = ST_RESTART_ONFAILURE;
	p.limits.memory_bytes = 512ull << 20;
	p.limits.pids = 512;
	p.limits.cpu_millis = 1500;
	p.uid = 12345; /* ignored: allocated */
	CHECK_RC(s, store_pod_add(s, &p, 200000), 0);
	CHECK(p.uid == 200000 && p.created > 0);

	CHECK_RC(s, store_pod_get(s, "api", &g, &gs), 0);
	CHECK(!strcmp(g.name, "api") && !strcmp(g.space, "dev") && g.nservices == 2);
	CHECK(!strcmp(g.services[0], "api") && !strcmp(g.services[1], "metrics"));
	CHECK(g.argc == 3 && g.argv[3] == NULL && g.nenv == 2 && g.env[2] == NULL);
	for (int i = 0; i < 3; i++)
		CHECK(g.argv[i] && !strcmp(g.argv[i], words[i]) && g.argv[i] != words[i]);
	for (int i = 0; i < 2; i++)
		CHECK(g.env[i] && !strcmp(g.env[i], envs[i]));
	CHECK(!strcmp(g.workdir, "/home/alice/src") && g.restart == ST_RESTART_ONFAILURE);
	CHECK(g.limits.memory_bytes == 512ull << 20 && g.limits.pids == 512 && g.limits.cpu_millis == 1500);
	CHECK(g.uid == 200000 && g.addr == 0 && g.created == p.created);
	CHECK(gs.phase == ST_PHASE_PENDING && gs.pid == 0 && gs.restarts == 0 && gs.last_exit_code == -1);
	CHECK(gs.last_signal == 0 && gs.started == 0 && gs.finished == 0 && gs.reason[0] == '\0');
	st_pod_free(&g);
	st_pod_free(&g); /* safe twice */
	CHECK(g.argv[0] == NULL && g.argc == 0);

	/* Either output may be NULL. */
	CHECK_RC(s, store_pod_get(s, "api", NULL, &gs), 0);
	CHECK_RC(s, store_pod_get(s, "api", &g, NULL), 0);
	CHECK(g.argc == 3);
	st_pod_free(&g);
	CHECK_RC(s, store_pod_get(s, "nope", &g, &gs), -ENOENT);
	CHECK_MSG(s, "pod \"nope\" does not exist");

	/* uids: the lowest free one from the base. */
	pod_of(&p, "b", "default");
	CHECK_RC(s, store_pod_add(s, &p, 200000), 0);
	CHECK(p.uid == 200001);
	pod_of(&p, "c", "default");
	CHECK_RC(s, store_pod_add(s, &p, 200000), 0);
	CHECK(p.uid == 200002);
	CHECK_RC(s, store_pod_remove(s, "b"), 0);
	pod_of(&p, "d", "default");
	CHECK_RC(s, store_pod_add(s, &p, 200000), 0);
	CHECK(p.uid == 200001);
	pod_of(&p, "e", "default");
	CHECK_RC(s, store_pod_add(s, &p, 200000), 0);
	CHECK(p.uid == 200003);
	pod_of(&p, "f", "default");
	CHECK_RC(s, store_pod_add(s, &p, 100), 0);
	CHECK(p.uid == 100);
	pod_of(&p, "g", "default");
	CHECK_RC(s, store_pod_add(s, &p, 200002), 0);
	CHECK(p.uid == 200004);

	/* Refusals: a taken name keeps its uid, nothing partial is left. */
	pod_of(&p, "api", "default");
	p.uid = 7;
	CHECK_RC(s, store_pod_add(s, &p, 200000), -EEXIST);
	CHECK_MSG(s, "pod \"api\" already exists");
	CHECK(p.uid == 7);
	pod_of(&p, "h", "nope");
	CHECK_RC(s, store_pod_add(s, &p, 200000), -ENOENT);
	CHECK_MSG(s, "pod \"h\": space \"nope\" does not exist");
	pod_of(&p, "h", "default");
	snprintf(p.services[0], ST_NAME_MAX, "web");
	snprintf(p.services[1], ST_NAME_MAX, "web");
	p.nservices = 2;
	p.argv[0] = "/bin/true";
	p.argc = 1;
	CHECK_RC(s, store_pod_add(s, &p, 200000), -EINVAL);
	CHECK_MSG(s, "service \"web\" listed twice");
	CHECK_RC(s, store_pod_get(s, "h", NULL, NULL), -ENOENT);
	pod_of(&p, "h", "default");
	memset(big, 'x', ST_ARG_MAX);
	big[ST_ARG_MAX] = '\0';
	p.argv[0] = big;
	p.argc = 1;
	CHECK_RC(s, store_pod_add(s, &p, 200000), -ENAMETOOLONG);
	big[ST_ARG_MAX - 1] = '\0'; /* 4095 bytes fit */
	CHECK_RC(s, store_pod_add(s, &p, 200000), 0);
	CHECK_RC(s, store_pod_get(s, "h", &g, NULL), 0);
	CHECK(g.argc == 1 && strlen(g.argv[0]) == ST_ARG_MAX - 1);
	st_pod_free(&g);
	pod_of(&p, "i", "default");
	p.argc = ST_ARGV_MAX + 1;
	CHECK_RC(s, store_pod_add(s, &p, 200000), -E2BIG);
	pod_of(&p, "i", "default");
	p.restart = 9;
	CHECK_RC(s, store_pod_add(s, &p, 200000), -EINVAL);
	CHECK_RC(s, store_pod_count(s, &n), 0);
	CHECK(n == 7);

	/* Status and address. */
	memset(&st, 0, sizeof(st));
	st.phase = ST_PHASE_BACKOFF;
	st.pid = 4242;
	st.restarts = 3;
	st.last_exit_code = 3;
	st.last_signal = 0;
	st.started = 1700000000123;
	st.finished = 1700000000456;
	snprintf(st.reason, sizeof(st.reason), "exited 3");
	CHECK_RC(s, store_pod_set_status(s, "api", &st), 0);
	CHECK_RC(s, store_pod_get(s, "api", NULL, &gs), 0);
	CHECK(gs.phase == ST_PHASE_BACKOFF && gs.pid == 4242 && gs.restarts == 3 && gs.last_exit_code == 3);
	CHECK(gs.started == 1700000000123 && gs.finished == 1700000000456 && !strcmp(gs.reason, "exited 3"));
	CHECK_RC(s, store_pod_set_status(s, "nope", &st), -ENOENT);
	st.phase = 17;
	CHECK_RC(s, store_pod_set_status(s, "api", &st), -EINVAL);
	CHECK_RC(s, store_pod_set_addr(s, "api", htonl(0x0a000002)), 0);
	CHECK_RC(s, store_pod_set_addr(s, "b", htonl(0x0a000002)), -ENOENT);
	CHECK_RC(s, store_pod_set_addr(s, "c", htonl(0x0a000002)), -EEXIST);
	CHECK_MSG(s, "pod \"c\": address 10.0.0.2 is pod \"api\"'s");
	CHECK_RC(s, store_pod_set_addr(s, "c", htonl(0x0a000003)), 0);
	CHECK_RC(s, store_pod_set_addr(s, "d", 0), 0); /* 0 (unset) is not unique */
	CHECK_RC(s, store_pod_get(s, "api", &g, NULL), 0);
	CHECK(g.addr == htonl(0x0a000002));
	st_pod_free(&g);

	/* Walks: by space then name, filtered by space. */
	CHECK_RC(s, store_pod_each(s, NULL, pod_cb, &l), 0);
	CHECK(l.n == 7 && !strcmp(l.names[0], "c") && !strcmp(l.names[5], "h") && !strcmp(l.names[6], "api"));
	CHECK(l.argc_sum == 4);
	l.n = 0;
	CHECK_RC(s, store_pod_each(s, "dev", pod_cb, &l), 0);
	CHECK(l.n == 1 && !strcmp(l.names[0], "api") && l.uids[0] == 200000);

	/* Removal takes the spec's lists and the status along. */
	CHECK_RC(s, store_pod_remove(s, "api"), 0);
	CHECK_RC(s, store_pod_remove(s, "api"), -ENOENT);
	store_close(s);
	{
		char out[32];

		CHECK(raw_exec(dir_for("pods"), "SELECT count(*) FROM pod_args WHERE pod = 'api'", out, sizeof(out)) ==
			      0 &&
		      !strcmp(out, "0"));
		CHECK(raw_exec(dir_for("pods"), "SELECT count(*) FROM pod_status WHERE pod = 'api'", out,
			       sizeof(out)) == 0 &&
		      !strcmp(out, "0"));
		CHECK(raw_exec(dir_for("pods"), "SELECT count(*) FROM pod_services WHERE pod = 'api'", out,
			       sizeof(out)) == 0 &&
		      !strcmp(out, "0"));
	}
}

static void t_selections_settings(void)
{
	struct store *s = open_or_die(dir_for("sel"));
	char buf[ST_PATH_MAX], tiny[4];

	CHECK_RC(s, store_space_add(s, "default", NULL), 0);
	CHECK_RC(s, store_space_add(s, "dev", NULL), 0);
	CHECK_RC(s, store_selection_get(s, 1000, buf, sizeof(buf)), -ENOENT);
	CHECK_RC(s, store_selection_set(s, 1000, "dev"), 0);
	CHECK_RC(s, store_selection_set(s, 1001, "dev"), 0);
	CHECK_RC(s, store_selection_set(s, 0, "default"), 0);
	CHECK_RC(s, store_selection_get(s, 1000, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "dev"));
	CHECK_RC(s, store_selection_get(s, 1000, tiny, 3), -ERANGE);
	CHECK_RC(s, store_selection_set(s, 1000, "default"), 0);
	CHECK_RC(s, store_selection_get(s, 1000, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "default"));
	CHECK_RC(s, store_selection_set(s, 1000, "nope"), -ENOENT);
	CHECK_MSG(s, "space \"nope\"");
	CHECK_RC(s, store_selection_clear_space(s, "dev"), 0);
	CHECK_RC(s, store_selection_get(s, 1001, buf, sizeof(buf)), -ENOENT);
	CHECK_RC(s, store_selection_get(s, 1000, buf, sizeof(buf)), 0);
	CHECK_RC(s, store_selection_get(s, 0, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "default"));

	CHECK_RC(s, store_setting_get(s, "sockmap", buf, sizeof(buf)), -ENOENT);
	CHECK_RC(s, store_setting_set(s, "sockmap", "on"), 0);
	CHECK_RC(s, store_setting_set(s, "max-depth", "8"), 0);
	CHECK_RC(s, store_setting_set(s, "sockmap", "off"), 0);
	CHECK_RC(s, store_setting_get(s, "sockmap", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "off"));
	CHECK_RC(s, store_setting_get(s, "sockmap", tiny, 3), -ERANGE);
	CHECK_RC(s, store_setting_get(s, "sockmap", tiny, 4), 0);
	CHECK_RC(s, store_setting_set(s, "empty", ""), 0);
	CHECK_RC(s, store_setting_get(s, "empty", buf, sizeof(buf)), 0);
	CHECK(buf[0] == '\0');
	CHECK_RC(s, store_setting_remove(s, "empty"), 0);
	CHECK_RC(s, store_setting_remove(s, "empty"), -ENOENT);
	CHECK_RC(s, store_setting_set(s, "", "x"), -EINVAL);
	{
		static char longv[ST_SETTING_VALUE_MAX + 1];

		memset(longv, 'v', ST_SETTING_VALUE_MAX);
		CHECK_RC(s, store_setting_set(s, "router-args", longv), -ENAMETOOLONG);
	}
	store_close(s);
	s = open_or_die(dir_for("sel"));
	CHECK_RC(s, store_setting_get(s, "max-depth", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "8"));
	CHECK_RC(s, store_selection_get(s, 1000, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "default"));
	store_close(s);
}

static void t_transactions(void)
{
	const char *dir = dir_for("txn");
	struct store *s = open_or_die(dir);
	struct st_service v;
	struct st_pod p;
	int64_t n;

	/* Rollback leaves nothing. */
	CHECK_RC(s, store_begin(s), 0);
	CHECK_RC(s, store_begin(s), -EBUSY);
	CHECK_RC(s, store_space_add(s, "gone", NULL), 0);
	v = svc_of("gone", "web", 80);
	CHECK_RC(s, store_service_put(s, &v), 0);
	store_rollback(s);
	CHECK_RC(s, store_space_count(s, &n), 0);
	CHECK(n == 0);
	CHECK_RC(s, store_service_count(s, &n), 0);
	CHECK(n == 0);
	CHECK_RC(s, store_commit(s), -EINVAL);

	/* A failed write inside a transaction undoes only itself: the pod
	 * with a twice-listed service leaves no row of its own. */
	CHECK_RC(s, store_begin(s), 0);
	CHECK_RC(s, store_space_add(s, "kept", NULL), 0);
	CHECK_RC(s, store_space_add(s, "kept", NULL), -EEXIST);
	v = svc_of("kept", "web", 80);
	CHECK_RC(s, store_service_put(s, &v), 0);
	pod_of(&p, "dup", "kept");
	snprintf(p.services[0], ST_NAME_MAX, "a");
	snprintf(p.services[1], ST_NAME_MAX, "a");
	p.nservices = 2;
	CHECK_RC(s, store_pod_add(s, &p, 5000), -EINVAL);
	pod_of(&p, "ok", "kept");
	CHECK_RC(s, store_pod_add(s, &p, 5000), 0);
	CHECK(p.uid == 5000);
	CHECK_RC(s, store_commit(s), 0);
	store_close(s);

	/* Committed: survives close and reopen. */
	s = open_or_die(dir);
	CHECK_RC(s, store_space_count(s, &n), 0);
	CHECK(n == 1);
	CHECK_RC(s, store_service_get(s, "kept", "web", &v), 0);
	CHECK_RC(s, store_pod_get(s, "ok", NULL, NULL), 0);
	CHECK_RC(s, store_pod_get(s, "dup", NULL, NULL), -ENOENT);
	CHECK_RC(s, store_pod_count(s, &n), 0);
	CHECK(n == 1);

	/* Closing with an open transaction rolls it back. */
	CHECK_RC(s, store_begin(s), 0);
	CHECK_RC(s, store_space_add(s, "unfinished", NULL), 0);
	store_close(s);
	s = open_or_die(dir);
	CHECK_RC(s, store_space_get(s, "unfinished", NULL), -ENOENT);
	store_close(s);
}

/* Walks whose callbacks call the store: nested walks, reads and writes. */
struct nest_ctx {
	struct store *s;
	const char *dir;
	bool in_txn;
	int spaces, services, errors;
};

static int nest_svc_cb(void *ctx, const struct st_service *v)
{
	struct nest_ctx *c = ctx;

	(void)v;
	c->services++;
	return 0;
}

static int nest_space_cb(void *ctx, const struct st_space *sp)
{
	struct nest_ctx *c = ctx;
	struct st_space again;
	char name[ST_PATH_MAX + 8];

	c->spaces++;
	if (store_space_get(c->s, sp->path, &again) || strcmp(again.path, sp->path))
		c->errors++;
	if (store_service_each(c->s, sp->path, nest_svc_cb, c))
		c->errors++;
	snprintf(name, sizeof(name), "%s-seen", sp->path);
	if (store_setting_set(c->s, name, "1"))
		c->errors++;
	/* Committed on return although the walk's statement is still open:
	 * another connection sees it. */
	if (!c->in_txn) {
		char sql[ST_PATH_MAX + 96], out[8];

		snprintf(sql, sizeof(sql), "SELECT value FROM settings WHERE key = '%s'", name);
		if (raw_exec(c->dir, sql, out, sizeof(out)) || strcmp(out, "1"))
			c->errors++;
	}
	return !strcmp(sp->path, "s2"); /* stops after s2 */
}

static void t_nested(void)
{
	const char *dir = dir_for("nested");
	struct store *s = open_or_die(dir);
	struct nest_ctx c = { .s = s, .dir = dir };
	char buf[8];

	for (int i = 0; i < 4; i++) {
		char path[8];
		struct st_service v;

		snprintf(path, sizeof(path), "s%d", i);
		CHECK_RC(s, store_space_add(s, path, NULL), 0);
		v = svc_of(path, "a", 80);
		CHECK_RC(s, store_service_put(s, &v), 0);
		v = svc_of(path, "b", 80);
		CHECK_RC(s, store_service_put(s, &v), 0);
	}
	CHECK_RC(s, store_space_each(s, nest_space_cb, &c), 0);
	CHECK(c.spaces == 3 && c.services == 6 && c.errors == 0);
	CHECK_RC(s, store_setting_get(s, "s2-seen", buf, sizeof(buf)), 0);
	CHECK_RC(s, store_setting_get(s, "s3-seen", buf, sizeof(buf)), -ENOENT);

	/* The same walk inside a transaction, then rolled back. */
	c = (struct nest_ctx){ .s = s, .dir = dir, .in_txn = true };
	CHECK_RC(s, store_begin(s), 0);
	CHECK_RC(s, store_space_each(s, nest_space_cb, &c), 0);
	store_rollback(s);
	CHECK(c.spaces == 3 && c.errors == 0);
	store_close(s);
}

/* ------------------------------------------------------------------ */
/* Crash durability                                                    */
/* ------------------------------------------------------------------ */

/* Transaction i: space c<i> with two services. Acks i on fd once committed. */
static void crash_child(const char *dir, int fd, int n)
{
	struct store *s;

	if (store_open(&s, dir))
		_exit(2);
	for (int i = 0; n < 0 || i < n; i++) {
		char path[32];
		struct st_service v;

		snprintf(path, sizeof(path), "c%d", i);
		if (store_begin(s) || store_space_add(s, path, NULL))
			_exit(3);
		v = svc_of(path, "web", 80);
		if (store_service_put(s, &v))
			_exit(4);
		v = svc_of(path, "api", 81);
		if (store_service_put(s, &v))
			_exit(5);
		if (store_commit(s))
			_exit(6);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(7);
	}
	_exit(0); /* no store_close: the process just ends */
}

/* Reads the acks until EOF; returns the highest acked index (-1: none). */
/* acks from the pipe, which continue after `last` (-1: the first is 0) */
static int read_acks(int fd, int last, int *count)
{
	int i;

	*count = 0;
	while (read(fd, &i, sizeof(i)) == sizeof(i)) {
		if (i != last + 1)
			return -2;
		last = i;
		(*count)++;
	}
	return last;
}

/* Every acked transaction is there whole; what is there is a prefix of the
 * child's sequence (at most one beyond the last ack: the one in flight). */
static void check_after_crash(const char *dir, int last_acked)
{
	struct store *s = open_or_die(dir);
	int64_t nspaces, nservices;
	int present = 0;
	char ok[16];

	CHECK_RC(s, store_space_count(s, &nspaces), 0);
	CHECK_RC(s, store_service_count(s, &nservices), 0);
	for (int i = 0; i < nspaces; i++) {
		char path[32];
		struct st_service v;

		snprintf(path, sizeof(path), "c%d", i);
		if (store_space_get(s, path, NULL) == 0 && store_service_get(s, path, "web", &v) == 0 &&
		    store_service_get(s, path, "api", &v) == 0)
			present++;
	}
	CHECK(present == nspaces && nservices == 2 * nspaces);
	CHECK(nspaces >= last_acked + 1 && nspaces <= last_acked + 2);
	store_close(s);
	CHECK(raw_exec(dir, "PRAGMA integrity_check", ok, sizeof(ok)) == 0 && !strcmp(ok, "ok"));
}

static void t_crash_exit(void)
{
	const char *dir = dir_for("crash-exit");
	int fds[2], status, count, last;
	pid_t pid;

	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		crash_child(dir, fds[1], 200);
	}
	close(fds[1]);
	last = read_acks(fds[0], -1, &count);
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(last == 199 && count == 200);
	check_after_crash(dir, last);
}

static void t_crash_kill(void)
{
	const char *dir = dir_for("crash-kill");
	int fds[2], status, count = 0, last = -1, i;
	pid_t pid;

	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		crash_child(dir, fds[1], -1);
	}
	close(fds[1]);
	/* Kill after 100 acks: the child is then between two commits or
	 * inside one, wherever it happens to be. */
	while (count < 100 && read(fds[0], &i, sizeof(i)) == sizeof(i)) {
		CHECK(i == last + 1);
		last = i;
		count++;
	}
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	{
		int more, more_last = read_acks(fds[0], last, &more);

		if (more) {
			CHECK(more_last >= 0 && more_last == last + more);
			last = more_last;
		}
	}
	close(fds[0]);
	CHECK(count == 100 && last >= 99);
	check_after_crash(dir, last);
}

/* A version-1 store (before pods.mount) is migrated with its rows kept. */
static void t_migrate_v1(void)
{
	const char *dir = dir_for("v1");
	struct store *s = open_or_die(dir);
	struct st_pod p, got;
	char buf[64];

	CHECK_RC(s, store_space_add(s, "default", NULL), 0);
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "old");
	snprintf(p.space, sizeof(p.space), "default");
	snprintf(p.workdir, sizeof(p.workdir), "/home/u/src");
	CHECK_RC(s, store_pod_add(s, &p, 1000), 0);
	store_close(s);
	/* what migration 1 alone made */
	CHECK(raw_exec(dir, "ALTER TABLE pods DROP COLUMN mount", NULL, 0) == 0);
	CHECK(raw_exec(dir, "PRAGMA user_version = 1", NULL, 0) == 0);
	CHECK(raw_exec(dir, "PRAGMA user_version", buf, sizeof(buf)) == 0 && !strcmp(buf, "1"));
	s = open_or_die(dir);
	CHECK(store_schema_version(s) == 2);
	memset(&got, 0, sizeof(got));
	CHECK_RC(s, store_pod_get(s, "old", &got, NULL), 0);
	CHECK(!strcmp(got.workdir, "/home/u/src") && got.mount[0] == 0);
	st_pod_free(&got);
	/* and the new column takes a value */
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "new");
	snprintf(p.space, sizeof(p.space), "default");
	snprintf(p.mount, sizeof(p.mount), "/usr/src/app");
	CHECK_RC(s, store_pod_add(s, &p, 1000), 0);
	memset(&got, 0, sizeof(got));
	CHECK_RC(s, store_pod_get(s, "new", &got, NULL), 0);
	CHECK(!strcmp(got.mount, "/usr/src/app"));
	st_pod_free(&got);
	store_close(s);
}

int main(void)
{
	clean_stale();
	snprintf(root, sizeof(root), "/tmp/" TMP_PREFIX "%d", (int)getpid());
	rm_rf(root);
	if (mkdir(root, 0700) < 0) {
		perror(root);
		return 1;
	}
	atexit(cleanup);

	t_open();
	t_refuse();
	t_migrate_v1();
	t_spaces();
	t_services();
	t_pods();
	t_selections_settings();
	t_transactions();
	t_nested();
	t_crash_exit();
	t_crash_kill();

	if (failures) {
		fprintf(stderr, "test_store: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_store: all checks passed\n");
	return 0;
}
