// SPDX-License-Identifier: MIT
/*
 * The CLI against a cluster: which mode a run is in, the connection, the
 * namespaces read once per run and the spaces' paths resolved from their
 * labels, name checks, and the remembered selection (docs/k8s-cli.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "client.h"
#include "k8s_cli.h"

/* -i NAME, -iNAME, --instance NAME, --instance=NAME */
static bool is_instance_flag(const char *w)
{
	return (w[0] == '-' && w[1] == 'i') || !strcmp(w, "--instance") || !strncmp(w, "--instance=", 11);
}

/* --kubeconfig FILE and --context NAME after the verb: noted here so that the mode is known before parsing */
static void note_value(const char *w, const char *next, const char *name, const char **dest)
{
	size_t n = strlen(name);

	if (strncmp(w, "--", 2) || strncmp(w + 2, name, n))
		return;
	if (w[2 + n] == '=')
		*dest = w + 3 + n;
	else if (!w[2 + n] && next)
		*dest = next;
}

int k8s_mode(int argc, char **argv)
{
	bool inst = cli_instance_flag;

	for (int i = 1; i < argc; i++) {
		const char *w = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(w, "--"))
			break;
		if (is_instance_flag(w))
			inst = cli_instance_flag = true;
		note_value(w, next, "kubeconfig", &cli_kubeconfig);
		note_value(w, next, "context", &cli_context);
	}
	if (cli_kubeconfig || cli_context) {
		if (inst) {
			fprintf(stderr,
				"azds: -i/--instance (the embedded mode) and --kubeconfig/--context (a cluster) "
				"exclude each other\n");
			return -EXIT_USAGE;
		}
		return 1;
	}
	/* $AZDS_INSTANCE names an embedded instance: it wins over $KUBECONFIG */
	if (inst || (cli_instance && *cli_instance))
		return 0;
	return getenv("KUBECONFIG") && *getenv("KUBECONFIG") ? 2 : 0;
}

int k8s_fail(const struct verb *v, const struct azds_k8s_err *e, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "azds: %s: ", verb_title(v));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e && e->msg[0])
		fprintf(stderr, ": %s", e->msg);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int k8s_open(struct k8s_cluster *c, const struct verb *v)
{
	struct azds_k8s_err e = {0};
	int err;

	memset(c, 0, sizeof(*c));
	err = azds_k8s_config_auto(&c->cfg, cli_kubeconfig, cli_context, &e);
	if (err) {
		/* the client's message names the file (or the service-account dir) and field */
		fprintf(stderr, "azds: %s: %s\n", verb_title(v), e.msg[0] ? e.msg : strerror(-err));
		return err;
	}
	err = azds_k8s_new(&c->k, &c->cfg, &e);
	if (err) {
		k8s_fail(v, &e, "cluster %s (from %s)", c->cfg.server, c->cfg.source);
		azds_k8s_config_free(&c->cfg);
		return err;
	}
	if ((size_t)snprintf(c->key, sizeof(c->key), "%s %s", c->cfg.server, c->cfg.context) >= sizeof(c->key))
		c->key[sizeof(c->key) - 1] = 0;
	return 0;
}

static void free_ns(struct k8s_cluster *c)
{
	for (size_t i = 0; i < c->nns; i++)
		json_decref(c->ns[i].obj);
	free(c->ns);
	c->ns = NULL;
	c->nns = 0;
}

void k8s_close(struct k8s_cluster *c)
{
	free_ns(c);
	azds_k8s_free(c->k);
	azds_k8s_config_free(&c->cfg);
	memset(c, 0, sizeof(*c));
}

bool k8s_dns_label(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');

		if (!alnum && (ch != '-' || i == 0 || i == n - 1))
			return false;
	}
	return true;
}

int k8s_check_path(const struct verb *v, const char *path)
{
	char seg[AZDS_PATH_MAX];
	int depth = 0;

	if (!*path || strlen(path) >= AZDS_PATH_MAX)
		return usage_error(v, "space \"%s\": a path of 1 to %d characters", path, AZDS_PATH_MAX - 1), -EINVAL;
	for (const char *p = path;; depth++) {
		size_t n = strcspn(p, "/");

		memcpy(seg, p, n);
		seg[n] = 0;
		if (!k8s_dns_label(seg))
			return usage_error(v,
					   "space \"%s\": \"%s\" is not a namespace name (1-63 of a-z, 0-9 and '-', "
					   "starting and ending with a letter or digit)",
					   path, seg),
			       -EINVAL;
		if (depth + 1 > AZDS_DEPTH_HARD_MAX)
			return usage_error(v, "space \"%s\": deeper than %d levels", path, AZDS_DEPTH_HARD_MAX),
			       -EINVAL;
		if (!p[n])
			break;
		p += n + 1;
	}
	return 0;
}

bool k8s_reserved(const char *ns)
{
	return !strcmp(ns, K8S_SYSTEM_NS) || !strncmp(ns, "kube-", 5);
}

static const char *label_of(const json_t *obj, const char *key)
{
	return jstr(json_object_get(json_object_get(obj, "metadata"), "labels"), key, NULL);
}

static const char *ann_of(const json_t *obj, const char *key)
{
	return jstr(json_object_get(json_object_get(obj, "metadata"), "annotations"), key, NULL);
}

static int ns_item(json_t *item, void *arg)
{
	struct k8s_cluster *c = arg;
	const json_t *meta = json_object_get(item, "metadata");
	const char *name = jstr(meta, "name", ""), *sp = label_of(item, K8S_LABEL_SPACE);
	const char *parent = label_of(item, K8S_LABEL_PARENT), *pr = label_of(item, K8S_LABEL_PR);
	struct k8s_ns *n;

	if (strlen(name) >= AZDS_NAME_MAX)
		return 0; /* not a DNS label: never a space */
	if (c->nns % 256 == 0) {
		struct k8s_ns *more = realloc(c->ns, (c->nns + 256) * sizeof(*more));

		if (!more)
			return -ENOMEM;
		c->ns = more;
	}
	n = &c->ns[c->nns++];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->space = sp && !strcmp(sp, "true");
	if (parent && strlen(parent) < sizeof(n->parent))
		snprintf(n->parent, sizeof(n->parent), "%s", parent);
	else if (parent)
		snprintf(n->parent, sizeof(n->parent), "?");
	n->pr = pr && !strcmp(pr, "true");
	n->terminating = json_object_get(meta, "deletionTimestamp") != NULL ||
			 !strcmp(jstr(json_object_get(item, "status"), "phase", ""), "Terminating");
	n->ours = ann_of(item, K8S_ANN_LABELLED) || ann_of(item, K8S_ANN_CREATED);
	n->created = jtime(json_object_get(meta, "creationTimestamp"));
	n->obj = json_incref(item);
	return 0;
}

static int ns_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_ns *)a)->name, ((const struct k8s_ns *)b)->name);
}

struct k8s_ns *k8s_find(struct k8s_cluster *c, const char *name)
{
	struct k8s_ns key;

	if (strlen(name) >= sizeof(key.name) || !c->nns)
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, c->ns, c->nns, sizeof(*c->ns), ns_cmp);
}

/* a space's path from its parents' labels, or the reason there is none */
static void resolve(struct k8s_cluster *c, struct k8s_ns *n)
{
	const char *chain[AZDS_DEPTH_HARD_MAX];
	struct k8s_ns *at = n;
	int depth = 0;
	size_t len = 0;

	for (;;) {
		if (depth == AZDS_DEPTH_HARD_MAX) {
			n->problem = "deeper than 16 levels, or a cycle of parents";
			return;
		}
		chain[depth++] = at->name;
		if (!at->parent[0])
			break;
		at = k8s_find(c, at->parent);
		if (!at) {
			n->problem = "its parent namespace is missing";
			return;
		}
		if (!at->space) {
			n->problem = "its parent namespace is not a space";
			return;
		}
	}
	n->path[0] = 0;
	for (int i = depth - 1; i >= 0; i--) {
		int w = snprintf(n->path + len, sizeof(n->path) - len, "%s%s", len ? "/" : "", chain[i]);

		if (w < 0 || (size_t)w >= sizeof(n->path) - len) {
			n->path[0] = 0;
			n->problem = "its path is too long";
			return;
		}
		len += w;
	}
}

int k8s_load(struct k8s_cluster *c, const struct verb *v)
{
	struct azds_k8s_err e = {0};
	char rv[AZDS_K8S_RV_MAX];
	int err;

	free_ns(c);
	err = azds_k8s_list_all(c->k, &azds_k8s_namespaces, NULL, NULL, K8S_NS_MAX, ns_item, c, rv, &e);
	if (err) {
		k8s_fail(v, err == -ENOMEM ? NULL : &e, "listing the namespaces of %s%s", c->cfg.server,
			 err == -ENOMEM ? ": out of memory" : "");
		return err;
	}
	if (c->nns)
		qsort(c->ns, c->nns, sizeof(*c->ns), ns_cmp);
	for (size_t i = 0; i < c->nns; i++)
		if (c->ns[i].space)
			resolve(c, &c->ns[i]);
	return 0;
}

struct k8s_ns *k8s_find_path(struct k8s_cluster *c, const char *path)
{
	const char *leaf = strrchr(path, '/');
	struct k8s_ns *n = k8s_find(c, leaf ? leaf + 1 : path);

	return n && n->space && !strcmp(n->path, path) ? n : NULL;
}

/* ------------------------------------------------------------ selection */

/*
 * The selection is the CLI's own, per user: a small JSON file keyed by the
 * cluster's server and the kubeconfig context, so that two clusters (or two
 * contexts of one) keep theirs apart. The kubeconfig is never written: it
 * is the user's, and other tools' (docs/k8s-cli.md).
 */
static int sel_file(char *buf, size_t len, bool mkdirs)
{
	const char *dir = getenv("AZDS_CONFIG_DIR"), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char d[4096];
	int n;

	if (dir && *dir)
		n = snprintf(d, sizeof(d), "%s", dir);
	else if (xdg && *xdg)
		n = snprintf(d, sizeof(d), "%s/azds", xdg);
	else if (home && *home)
		n = snprintf(d, sizeof(d), "%s/.config/azds", home);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= sizeof(d))
		return -ENAMETOOLONG;
	if (mkdirs) {
		if (!(dir && *dir) && !(xdg && *xdg)) {
			char cfg[4096];

			snprintf(cfg, sizeof(cfg), "%s/.config", home);
			if (mkdir(cfg, 0700) && errno != EEXIST)
				return -errno;
		}
		if (mkdir(d, 0700) && errno != EEXIST)
			return -errno;
	}
	n = snprintf(buf, len, "%s/k8s-selection.json", d);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static json_t *sel_read(const char *file)
{
	json_error_t je;
	struct stat st;
	json_t *j;

	if (stat(file, &st) || st.st_size > K8S_SEL_FILE_MAX)
		return json_object();
	j = json_load_file(file, 0, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		return json_object();
	}
	return j;
}

int k8s_selected(struct k8s_cluster *c, char *buf, size_t len)
{
	char file[4200];
	const char *s = NULL;
	json_t *j = NULL;

	if (!sel_file(file, sizeof(file), false)) {
		j = sel_read(file);
		s = jstr(json_object_get(j, "selections"), c->key, NULL);
	}
	if (s && *s && strlen(s) < len) {
		snprintf(buf, len, "%s", s);
		json_decref(j);
		return 0;
	}
	json_decref(j);
	/* none remembered: the context's namespace, when it is a space */
	struct k8s_ns *n = k8s_find(c, c->cfg.ns);

	if (n && n->space && n->path[0] && strlen(n->path) < len) {
		snprintf(buf, len, "%s", n->path);
		return 1;
	}
	return -ENOENT;
}

int k8s_select_save(struct k8s_cluster *c, const char *path)
{
	char file[4200], tmp[4300];
	json_t *j, *sel;
	int err, fd;
	FILE *f;

	err = sel_file(file, sizeof(file), true);
	if (err)
		return fail("remembering the selection: no directory for it (set $HOME or $AZDS_CONFIG_DIR): %s",
			    strerror(-err)),
		       err;
	j = sel_read(file);
	sel = json_object_get(j, "selections");
	if (!json_is_object(sel)) {
		sel = json_object();
		json_object_set_new(j, "selections", sel);
	}
	if (*path) {
		/* bounded: the oldest entries go first (objects keep insertion order) */
		json_object_del(sel, c->key);
		while (json_object_size(sel) >= K8S_SEL_MAX)
			json_object_del(sel, json_object_iter_key(json_object_iter(sel)));
		json_object_set_new(sel, c->key, json_string(path));
	} else {
		json_object_del(sel, c->key);
	}
	json_object_set_new(j, "version", json_integer(1));
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", file, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		json_decref(j);
		return fail("remembering the selection in %s: %s", file, strerror(-err)), err;
	}
	err = json_dumpf(j, f, JSON_INDENT(2) | JSON_SORT_KEYS) ? -EIO : 0;
	if (!err && (fflush(f) || fsync(fileno(f))))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, file))
		err = -errno;
	json_decref(j);
	if (err) {
		unlink(tmp);
		return fail("remembering the selection in %s: %s", file, strerror(-err)), err;
	}
	return 0;
}

int k8s_space_or_selected(struct k8s_cluster *c, const struct verb *v, const char *given, char *buf, size_t len)
{
	if (given) {
		if (k8s_check_path(v, given))
			return -EINVAL;
		snprintf(buf, len, "%s", given);
		return 0;
	}
	if (k8s_selected(c, buf, len) < 0)
		return fail("%s: no space selected on %s (context %s): give -n SPACE, or azds space select -n SPACE",
			    verb_title(v), c->cfg.server, or_dash(c->cfg.context)),
		       -ENOENT;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int k8s_wait_gone(struct k8s_cluster *c, const struct verb *v, const char *name)
{
	long long end = now_ms() + K8S_WAIT_GONE_MS;
	bool told = false;

	for (;;) {
		struct azds_k8s_err e = {0};
		int err = azds_k8s_get(c->k, &azds_k8s_namespaces, NULL, name, NULL, &e);

		if (err == -ENOENT)
			return 0;
		if (err)
			return k8s_fail(v, &e, "waiting for namespace %s to be deleted", name), err;
		if (now_ms() >= end)
			return fail("%s: namespace %s was still being deleted after %d s (see kubectl describe "
				    "namespace "
				    "%s)",
				    verb_title(v), name, K8S_WAIT_GONE_MS / 1000, name),
			       -ETIMEDOUT;
		if (!told)
			fprintf(stderr, "Waiting for namespace %s to be deleted...\n", name);
		told = true;
		usleep(200 * 1000);
	}
}
