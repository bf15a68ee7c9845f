// SPDX-License-Identifier: MIT
/*
 * azds up / down: a service of a developer's folder running in their space
 * (docs/up.md). Everything goes through the controller's API, as it would
 * to a remote controller: the folder is synced into a workspace, the
 * Dockerfile's RUN steps run in a build pod over it (each skipped while its
 * inputs are unchanged), the service is declared and a pod runs the
 * command with the workspace at the Dockerfile's WORKDIR. Then up streams
 * the pod's output and watches the folder (inotify), syncing each save and
 * restarting or redeploying as the change needs, until Ctrl-C, which leaves
 * the service running.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include "azds.h"
#include "azdsyaml.h"
#include "client.h"
#include "diag.h"
#include "dockerfile.h"
#include "forward.h"
#include "glob.h"
#include "podcg.h"
#include "syncset.h"
#include "up.h"
#include "trace_cli.h"
#include "verbs.h"
#include "workspace.h"

#define UP_BURST_MAX 4096 /* paths one update handles one by one; more: a redeploy */
#define UP_MAX_ENV 128
#define UP_MAX_ARGV 256
#define UP_WATCH_MAX 8192 /* directories watched */
#define UP_DEBOUNCE_MS 40
#define SANDBOX_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Everything up knows about the service once the files are read. */
struct plan {
	char dir[PATH_MAX];   /* the folder (azds.yaml's) */
	char ctx[PATH_MAX];   /* build.context, resolved: what is synced and watched */
	char df_rel[PATH_MAX];   /* the Dockerfile, relative to ctx ("" when outside it) */
	char yaml_rel[PATH_MAX]; /* azds.yaml, relative to ctx */
	char yaml_path[PATH_MAX];
	char df_path[PATH_MAX];
	char space[AZDS_PATH_MAX];
	char service[64];
	char pod[64], build_pod[64];
	char workspace[64];
	char mount[PATH_MAX];
	char path[512];    /* the pod's PATH: the sandbox's, plus a runtime's own bin */
	unsigned port;     /* the container's */
	unsigned port_opt; /* --port, kept for redeploys */
	unsigned svc_port; /* the service's (clients use it) */
	char *argv[UP_MAX_ARGV + 1];
	int argc;
	char *env[UP_MAX_ENV + 1];
	int nenv;
	struct azds_yaml *y;
	struct azds_dockerfile *df;
	struct azds_sync_rules all;  /* the initial sync: the build context */
	struct azds_sync_rules live; /* container.sync: what a save syncs in place */
	char **sync_globs;
	size_t nsync_globs;
	char **ignores;
	size_t nignores;
	bool detach; /* up -d: a service that does not start is an error */
};

static bool verbose;


static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_interrupt(int s)
{
	(void)s;
	cli_interrupted = 1;
}

static void print_diags(const struct azds_diags *d)
{
	char line[1200];

	for (size_t i = 0; i < d->n; i++) {
		azds_diag_format(&d->items[i], line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	if (d->dropped)
		fprintf(stderr, "(%zu more diagnostics left out)\n", d->dropped);
}

/* a DNS label from text: a-z0-9-, at most 63 */
static void label_of(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = in; *p && o + 1 < len && o < 63; p++) {
		char ch = (char)tolower((unsigned char)*p);

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
			out[o++] = ch;
		else if (o && out[o - 1] != '-')
			out[o++] = '-';
	}
	while (o && out[o - 1] == '-')
		o--;
	out[o] = 0;
}

/* the service's name: the chart's folder name (Dev Spaces' release), else the folder's */
static void service_name(const struct plan *p, char *out, size_t len)
{
	const char *chart = p->y->install.chart.v, *base;

	if (chart && *chart) {
		char tmp[PATH_MAX];
		size_t n;

		snprintf(tmp, sizeof(tmp), "%s", chart);
		n = strlen(tmp);
		while (n > 1 && tmp[n - 1] == '/')
			tmp[--n] = 0;
		base = strrchr(tmp, '/');
		label_of(base ? base + 1 : tmp, out, len);
		if (*out)
			return;
	}
	base = strrchr(p->dir, '/');
	label_of(base ? base + 1 : p->dir, out, len);
}

int up_service_of(const char *dir, char *out, size_t len)
{
	struct azds_diags d;
	struct plan p;
	int err;

	memset(&p, 0, sizeof(p));
	if (!realpath(dir, p.dir))
		return -errno;
	if (snprintf(p.yaml_path, sizeof(p.yaml_path), "%s/azds.yaml", p.dir) >= (int)sizeof(p.yaml_path))
		return -ENAMETOOLONG;
	azds_diags_init(&d);
	err = azds_yaml_load(p.yaml_path, &p.y, &d);
	azds_diags_free(&d);
	if (err)
		return err;
	service_name(&p, out, len);
	azds_yaml_free(p.y);
	return *out ? 0 : -EINVAL;
}

/* argv[0] as the pod needs it: absolute (looked up on the host's PATH, or
 * relative to WORKDIR for "./x") */
static int resolve_cmd(const struct plan *p, const char *cmd, char *out, size_t len)
{
	char path[sizeof(p->path)], *save = NULL;

	snprintf(path, sizeof(path), "%s", p->path);
	if (cmd[0] == '/') {
		snprintf(out, len, "%s", cmd);
		return 0;
	}
	if (strchr(cmd, '/')) {
		return snprintf(out, len, "%s/%s", p->mount, cmd[0] == '.' && cmd[1] == '/' ? cmd + 2 : cmd) >= (int)len
			       ? -ENAMETOOLONG
			       : 0;
	}
	for (char *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", d, cmd);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static int add_env(struct plan *p, const char *k, const char *v)
{
	char *kv;

	for (int i = 0; i < p->nenv; i++)
		if (!strncmp(p->env[i], k, strlen(k)) && p->env[i][strlen(k)] == '=') {
			free(p->env[i]);
			p->env[i] = NULL;
			if (asprintf(&p->env[i], "%s=%s", k, v) < 0)
				return -ENOMEM;
			return 0;
		}
	if (p->nenv >= UP_MAX_ENV)
		return fail("more than %d environment variables", UP_MAX_ENV), -E2BIG;
	if (asprintf(&kv, "%s=%s", k, v) < 0)
		return -ENOMEM;
	p->env[p->nenv++] = kv;
	return 0;
}

static const char *env_lookup(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

static void plan_free(struct plan *p)
{
	for (int i = 0; i < p->argc; i++)
		free(p->argv[i]);
	for (int i = 0; i < p->nenv; i++)
		free(p->env[i]);
	for (size_t i = 0; i < p->nsync_globs; i++)
		free(p->sync_globs[i]);
	free(p->sync_globs);
	for (size_t i = 0; i < p->nignores; i++)
		free(p->ignores[i]);
	free(p->ignores);
	azds_dockerfile_free(p->df);
	azds_yaml_free(p->y);
	memset(p, 0, sizeof(*p));
}

void up_pod_name(const char *service, const char *space, char *out, size_t len)
{
	char sp[AZDS_PATH_MAX * 2];
	unsigned h = 2166136261u;

	snprintf(sp, sizeof(sp), "%s-%s", service, space);
	label_of(sp, out, len);
	if (strlen(out) > 55) {
		for (const char *c = space; *c; c++)
			h = (h ^ (unsigned char)*c) * 16777619u;
		snprintf(out, len, "%.40s-%08x", service, h);
	}
}

/* the pod's name: "<service>-<space>" as a label, or with a hash when too long */
static void pod_names(struct plan *p)
{
	up_pod_name(p->service, p->space, p->pod, sizeof(p->pod));
	/* pod names are at most 55 bytes (up_pod_name): "-build" fits */
	if (snprintf(p->build_pod, sizeof(p->build_pod), "%s-build", p->pod) >= (int)sizeof(p->build_pod))
		p->build_pod[sizeof(p->build_pod) - 1] = 0;
	snprintf(p->workspace, sizeof(p->workspace), "%s", p->service);
}

/*
 * Go: cmd is what the build makes in gobin ($GOPATH/bin): a path under it
 * (golang's /go/bin/X, mapped), or a bare name when a RUN step runs
 * `go install`, which wins over a host tool of that name
 */
static bool go_built_cmd(const struct plan *p, const char *gobin, const char *cmd)
{
	size_t n = strlen(gobin);

	if (!n)
		return false;
	if (!strncmp(cmd, gobin, n) && cmd[n] == '/')
		return true;
	for (size_t i = 0; !strchr(cmd, '/') && i < p->df->n_run; i++)
		if (p->df->run[i].text && strstr(p->df->run[i].text, "go install"))
			return true;
	return false;
}

/*
 * name (in the folder dir) relative to the folder root, in out: 0, or -1
 * when dir is not root or inside it. Both are resolved paths.
 */
static int rel_under(const char *root, const char *dir, const char *name, char *out, size_t len)
{
	size_t n = strlen(root);

	if (strncmp(dir, root, n) || (dir[n] && dir[n] != '/' && strcmp(root, "/")))
		return -1;
	dir += n;
	while (*dir == '/')
		dir++;
	if (snprintf(out, len, "%s%s%s", dir, *dir ? "/" : "", name) >= (int)len)
		return -1;
	return 0;
}

/*
 * Reads azds.yaml and the Dockerfile and works out what up would do.
 * Diagnostics are printed; errors make it fail.
 */
static int plan_make(struct plan *p, const char *dir, const char *space, unsigned port_opt)
{
	struct azds_diags d;
	struct azds_df_opts o = { 0 };
	const char *cmd_src;
	char resolved[PATH_MAX], gobin[PATH_MAX + 16] = "";
	int err;

	memset(p, 0, sizeof(*p));
	if (!realpath(dir, p->dir))
		return fail("%s: %s", dir, strerror(errno)), -errno;
	snprintf(p->space, sizeof(p->space), "%s", space);
	if (snprintf(p->yaml_path, sizeof(p->yaml_path), "%s/azds.yaml", p->dir) >= (int)sizeof(p->yaml_path))
		return fail("%s: path too long", p->dir), -ENAMETOOLONG;
	azds_diags_init(&d);
	err = azds_yaml_load(p->yaml_path, &p->y, &d);
	if (!err)
		err = azds_yaml_expand_env(p->y, env_lookup, NULL, &d);
	if (!err && azds_yaml_dockerfile_path(p->y, p->dir, p->df_path, sizeof(p->df_path)))
		err = -ENAMETOOLONG;
	/* "<dir>/./Dockerfile" reads better as "<dir>/Dockerfile" in messages */
	for (char *q; !err && (q = strstr(p->df_path, "/./"));)
		memmove(q, q + 2, strlen(q + 2) + 1);
	if (!err) {
		char ctx[PATH_MAX * 2];

		if (snprintf(ctx, sizeof(ctx), "%s/%s", p->dir, p->y->build.context.v ? p->y->build.context.v : ".") >=
		    (int)sizeof(ctx))
			err = -ENAMETOOLONG;
		/* the context is the folder synced to the workspace and watched
		 * (a monorepo's service with context: .. has its shared code
		 * there); azds.yaml and the Dockerfile are named relative to it */
		else if (!realpath(ctx, p->ctx)) {
			err = -errno;
			fail("build.context %s: %s", ctx, strerror(-err));
		} else if (rel_under(p->ctx, p->dir, "azds.yaml", p->yaml_rel, sizeof(p->yaml_rel))) {
			p->yaml_rel[0] = 0; /* a context beside azds.yaml's folder: it is not watched */
		}
		o.build_args = p->y->develop.build.args;
		o.n_build_args = p->y->develop.build.n_args;
		o.build_args_file = p->yaml_path;
		o.context_dir = ctx;
		o.have_command = p->y->develop.container.command.argc > 0;
		if (!err)
			err = azds_dockerfile_load(p->df_path, &o, &p->df, &d);
	}
	if (!err) {
		char dfdir[PATH_MAX], *slash;
		const char *base = strrchr(p->df_path, '/');

		snprintf(dfdir, sizeof(dfdir), "%s", p->df_path);
		slash = strrchr(dfdir, '/');
		if (slash)
			*slash = 0;
		/* a Dockerfile outside the context is not watched as a build input */
		if (!base || !realpath(dfdir, resolved) ||
		    rel_under(p->ctx, resolved, base + 1, p->df_rel, sizeof(p->df_rel)))
			p->df_rel[0] = 0;
	}
	print_diags(&d);
	if (err == -ENOENT && !p->y)
		fprintf(stderr, "azds: no azds.yaml in %s (azds prep writes one)\n", p->dir);
	azds_diags_free(&d);
	if (err)
		return -EINVAL;

	service_name(p, p->service, sizeof(p->service));
	if (!p->service[0])
		return fail("cannot name the service from %s", p->dir), -EINVAL;
	pod_names(p);
	/* golang:* images put Go in /usr/local/go/bin, as Go's own tarball
	 * does on a host: that is where host mode looks too */
	snprintf(p->path, sizeof(p->path), "%s", SANDBOX_PATH);
	if (p->df->runtime.kind == AZDS_RT_GO && access("/usr/local/go/bin/go", X_OK) == 0)
		snprintf(p->path, sizeof(p->path), "/usr/local/go/bin:%s", SANDBOX_PATH);
	{
		const char *missing = NULL;

		if (azds_runtime_check(&p->df->runtime, p->path, &missing))
			return fail("%s:%u: FROM %s: host mode runs %s, but %s is not on the host's PATH", p->df_path,
				    p->df->from_line, p->df->image, p->df->runtime.what, missing),
			       -ENOENT;
	}
	/* the workspace where WORKDIR says (none: /workspace) */
	snprintf(p->mount, sizeof(p->mount), "%s",
		 p->df->workdir_set && strcmp(p->df->workdir, "/") ? p->df->workdir : "/workspace");
	{
		char why[160];

		if (azds_mount_path_check(p->mount, why, sizeof(why)))
			return fail("%s: WORKDIR %s: host mode cannot put the workspace there: %s", p->df_path, p->mount,
				    why),
			       -EINVAL;
	}
	p->port_opt = port_opt;
	p->port = port_opt ? port_opt : azds_dockerfile_port(p->df);
	if (!p->port)
		p->port = 80;
	p->svc_port = 80;
	{
		const struct azds_ynode *sp = azds_yaml_set_get(p->y, "service.port");
		const char *v = sp ? azds_ynode_scalar(sp) : NULL;

		if (v && atoi(v) > 0 && atoi(v) < 65536)
			p->svc_port = (unsigned)atoi(v);
	}
	/* the command: azds.yaml's wins over the Dockerfile's */
	if (p->y->develop.container.command.argc) {
		const struct azds_yaml_argv *c = &p->y->develop.container.command;

		cmd_src = p->yaml_path;
		if (c->shell) {
			p->argv[p->argc++] = strdup("/bin/sh");
			p->argv[p->argc++] = strdup("-c");
			p->argv[p->argc++] = strdup(c->argv[0]);
		} else {
			for (size_t i = 0; i < c->argc && p->argc < UP_MAX_ARGV; i++)
				p->argv[p->argc++] = strdup(c->argv[i]);
		}
	} else {
		cmd_src = p->df_path;
		for (size_t i = 0; i < p->df->argc && p->argc < UP_MAX_ARGV; i++)
			p->argv[p->argc++] = strdup(p->df->argv[i]);
	}
	if (!p->argc)
		return fail("%s: no command: give CMD or ENTRYPOINT, or configurations.develop.container.command in %s",
			    p->df_path, p->yaml_path),
		       -EINVAL;
	/* Go: what `go install` builds lands in $GOPATH/bin, which golang:*
	 * puts on PATH (GOPATH=/go): here GOPATH is the workspace's own (below)
	 * unless the Dockerfile sets one, so its bin goes first on the pod's
	 * PATH; a bare command is looked up there once the build has run, and
	 * the image's /go/bin/X is that bin's X */
	if (p->df->runtime.kind == AZDS_RT_GO) {
		const char *gp = azds_dockerfile_env(p->df, "GOPATH");
		char path[sizeof(p->path)];

		if (gp)
			snprintf(gobin, sizeof(gobin), "%s/bin", gp);
		else
			snprintf(gobin, sizeof(gobin), "%s/.azds/go/bin", p->mount);
		if (snprintf(path, sizeof(path), "%s:%s", gobin, p->path) < (int)sizeof(path))
			snprintf(p->path, sizeof(p->path), "%s", path);
		if (!gp && !strncmp(p->argv[0], "/go/bin/", 8) && p->argv[0][8]) {
			char *mapped = NULL;

			if (asprintf(&mapped, "%s/%s", gobin, p->argv[0] + 8) < 0)
				return -ENOMEM;
			free(p->argv[0]);
			p->argv[0] = mapped;
		}
	}
	/* the workspace's bin is not on the host: a command the build is to
	 * make there is taken as the pod will find it; any other must be a
	 * host tool, but a bare Go one may still be the build's */
	if (go_built_cmd(p, gobin, p->argv[0])) {
		if (snprintf(resolved, sizeof(resolved), "%s%s%s", strchr(p->argv[0], '/') ? "" : gobin,
			     strchr(p->argv[0], '/') ? "" : "/", p->argv[0]) >= (int)sizeof(resolved))
			return fail("%s: command \"%s\": path too long", cmd_src, p->argv[0]), -ENAMETOOLONG;
	} else if (resolve_cmd(p, p->argv[0], resolved, sizeof(resolved))) {
		if (!gobin[0] || strchr(p->argv[0], '/'))
			return fail("%s: command \"%s\" is not on the host's PATH (%s)", cmd_src, p->argv[0], p->path),
			       -ENOENT;
		snprintf(resolved, sizeof(resolved), "%s/%s", gobin, p->argv[0]);
	}
	free(p->argv[0]);
	p->argv[0] = strdup(resolved);
	/* the environment: the Dockerfile's ENV, then what azds tells a service */
	for (size_t i = 0; i < p->df->n_env; i++)
		if (add_env(p, p->df->env[i].key, p->df->env[i].value))
			return -E2BIG;
	{
		char portbuf[16];

		snprintf(portbuf, sizeof(portbuf), "%u", p->port);
		if (add_env(p, "AZDS_SPACE", p->space) || add_env(p, "AZDS_SERVICE", p->service) ||
		    add_env(p, "AZDS_POD", p->pod) ||
		    (!azds_dockerfile_env(p->df, "PORT") && add_env(p, "PORT", portbuf)))
			return -E2BIG;
	}
	if (p->df->runtime.kind == AZDS_RT_GO) {
		char v[PATH_MAX + 32];

		/* the module and build caches in the workspace (the host's are
		 * read-only), and no toolchain download */
		if (strcmp(p->path, SANDBOX_PATH) && add_env(p, "PATH", p->path))
			return -E2BIG;
		snprintf(v, sizeof(v), "%s/.azds/go", p->mount);
		if ((!azds_dockerfile_env(p->df, "GOPATH") && add_env(p, "GOPATH", v)) ||
		    add_env(p, "GOTOOLCHAIN", "local"))
			return -E2BIG;
		snprintf(v, sizeof(v), "%s/.azds/go-cache", p->mount);
		if (add_env(p, "GOCACHE", v))
			return -E2BIG;
	}
	/* python:*: the host's python3 is Debian's, whose pip refuses the
	 * system site (PEP 668, and it is read-only here): packages go to the
	 * workspace's own user site, which the service then imports from */
	if (p->df->runtime.kind == AZDS_RT_PYTHON) {
		char base[PATH_MAX + 32];

		snprintf(base, sizeof(base), "%s/.azds/python", p->mount);
		if (add_env(p, "PYTHONUSERBASE", base) || add_env(p, "PIP_USER", "1") ||
		    add_env(p, "PIP_BREAK_SYSTEM_PACKAGES", "1") || add_env(p, "PIP_DISABLE_PIP_VERSION_CHECK", "1"))
			return -E2BIG;
	}
	/* sync rules: the whole context first; container.sync for saves */
	p->all.use_gitignore = p->y->develop.build.use_gitignore;
	p->ignores = calloc(p->y->develop.build.n_ignore + 1, sizeof(char *));
	for (size_t i = 0; p->ignores && i < p->y->develop.build.n_ignore; i++)
		p->ignores[p->nignores++] = strdup(p->y->develop.build.ignore[i].v);
	p->all.ignore = (const char *const *)p->ignores;
	p->all.nignore = p->nignores;
	p->live = p->all;
	if (!p->y->develop.container.sync_default) {
		p->sync_globs = calloc(p->y->develop.container.n_sync + 1, sizeof(char *));
		for (size_t i = 0; p->sync_globs && i < p->y->develop.container.n_sync; i++) {
			const struct azds_yaml_glob *g = &p->y->develop.container.sync[i];

			if (asprintf(&p->sync_globs[p->nsync_globs], "%s%s", g->exclude ? "!" : "", g->glob) >= 0)
				p->nsync_globs++;
		}
		p->live.sync = (const char *const *)p->sync_globs;
		p->live.nsync = p->nsync_globs;
	}
	return 0;
}

/* ---- build steps ------------------------------------------------------ */

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* does the COPY/ADD source src (relative to the context) take path? */
static bool copy_takes(const char *src, const char *path)
{
	size_t n;

	while (src[0] == '.' && src[1] == '/')
		src += 2;
	if (!strcmp(src, ".") || !*src || !strcmp(src, "*"))
		return true;
	n = strlen(src);
	while (n > 1 && src[n - 1] == '/')
		n--;
	if (!strncmp(path, src, n) && (path[n] == 0 || path[n] == '/'))
		return true;
	return fnmatch(src, path, FNM_PATHNAME) == 0;
}

/*
 * The cache key of RUN step i: the step, its environment and workdir, and
 * every file the COPY/ADD before it took (path, size, mode, mtime), as
 * Docker's layer cache keys a RUN on what came before it. The previous
 * step's key is folded in, so a changed step re-runs those after it.
 */
static void step_key(const struct plan *p, const struct azds_syncset *set, size_t i, const char *prev, char *out)
{
	const struct azds_df_run *r = &p->df->run[i];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned mdlen = 0;
	char buf[512];

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, prev, strlen(prev));
	EVP_DigestUpdate(ctx, r->text, strlen(r->text));
	EVP_DigestUpdate(ctx, r->workdir, strlen(r->workdir));
	for (size_t k = 0; k < r->n_env; k++) {
		EVP_DigestUpdate(ctx, r->env[k].key, strlen(r->env[k].key));
		EVP_DigestUpdate(ctx, "=", 1);
		EVP_DigestUpdate(ctx, r->env[k].value, strlen(r->env[k].value));
	}
	for (size_t e = 0; e < set->n; e++) {
		bool take = false;

		for (size_t c = 0; c < p->df->n_copies && !take; c++) {
			const struct azds_df_copy *cp = &p->df->copies[c];

			if (cp->line >= r->line || cp->from)
				continue;
			for (size_t s = 0; s < cp->n_src && !take; s++)
				take = copy_takes(cp->src[s], set->v[e].path);
		}
		if (!take)
			continue;
		snprintf(buf, sizeof(buf), "%s|%llu|%o|%lld\n", set->v[e].path, (unsigned long long)set->v[e].size,
			 (unsigned)set->v[e].mode, (long long)set->v[e].mtime_ns);
		EVP_DigestUpdate(ctx, buf, strlen(buf));
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	hex(md, 32, out);
}

/* text quoted for sh -c */
static int sh_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	return fputc('\'', f) == EOF ? -EIO : 0;
}

/*
 * One shell script for the build pod: each step runs in its workdir with
 * its environment unless the marker in .azds/build/ holds its key; a step
 * that fails ends the script with its status (later markers are left).
 */
static char *build_script(const struct plan *p, const struct azds_syncset *set, const struct azds_yaml_argv *cmds,
			  size_t ncmds, bool iterate)
{
	char *buf = NULL, key[65] = "", prev[65] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "set -e\nmkdir -p %s/.azds/build\n", p->mount);
	if (!iterate) {
		for (size_t i = 0; i < p->df->n_run; i++) {
			const struct azds_df_run *r = &p->df->run[i];
			const char *wd = r->workdir;

			step_key(p, set, i, prev, key);
			memcpy(prev, key, sizeof(prev));
			/* a RUN outside the workspace runs in it: the host's root is read-only */
			if (strncmp(wd, p->mount, strlen(p->mount)) || (wd[strlen(p->mount)] && wd[strlen(p->mount)] != '/'))
				wd = p->mount;
			fprintf(f, "if [ \"$(cat %s/.azds/build/%zu 2>/dev/null)\" = %s ]; then\n  printf '%%s\\n' ", p->mount,
				i, key);
			{
				char *t;

				if (asprintf(&t, "Step %zu/%zu: RUN %s (cached: its inputs did not change)", i + 1,
					     p->df->n_run, r->text) >= 0) {
					sh_quote(f, t);
					free(t);
				}
				fprintf(f, "\nelse\n  printf '%%s\\n' ");
				if (asprintf(&t, "Step %zu/%zu: RUN %s", i + 1, p->df->n_run, r->text) >= 0) {
					sh_quote(f, t);
					free(t);
				}
			}
			fprintf(f, "\n  rm -f %s/.azds/build/%zu\n  (cd ", p->mount, i);
			sh_quote(f, wd);
			for (size_t k = 0; k < r->n_env; k++) {
				fprintf(f, " && export %s=", r->env[k].key);
				sh_quote(f, r->env[k].value);
			}
			fprintf(f, " && exec");
			for (size_t k = 0; k < r->argc; k++) {
				fputc(' ', f);
				sh_quote(f, r->argv[k]);
			}
			fprintf(f, ")\n  echo %s > %s/.azds/build/%zu\nfi\n", key, p->mount, i);
		}
	}
	for (size_t i = 0; i < ncmds; i++) {
		const struct azds_yaml_argv *c = &cmds[i];

		fprintf(f, "printf '%%s\\n' ");
		sh_quote(f, "buildCommand:");
		fprintf(f, "\n(cd ");
		sh_quote(f, p->mount);
		fprintf(f, " && ");
		if (c->shell) {
			fprintf(f, "/bin/sh -c ");
			sh_quote(f, c->argv[0]);
		} else {
			fprintf(f, "exec");
			for (size_t k = 0; k < c->argc; k++) {
				fputc(' ', f);
				sh_quote(f, c->argv[k]);
			}
		}
		fprintf(f, ")\n");
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static json_t *strings_json(char *const *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static int pod_delete(const char *name, bool quiet)
{
	char path[300], *esc = api_escape(name);
	struct api_reply r;
	struct api_req req = { .method = "DELETE", .path = path };
	int err;

	if (!esc)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/v1/pods/%s", esc);
	free(esc);
	err = api_exchange(&req, &r);
	if (err)
		return err;
	err = r.status == 200 || r.status == 404 ? 0 : -EPROTO;
	if (err && !quiet)
		fprintf(stderr, "azds: remove pod %s: %s\n", name, api_error_text(&r));
	api_reply_free(&r);
	return err;
}

/* GET /v1/pods/NAME into r (free it with api_reply_free); -1: no answer */
static int pod_get(const char *name, struct api_reply *r)
{
	return api_get_quiet("/v1/pods/", name, r) ? -1 : 0;
}

/* a pod's phase, "" if it is gone */
static void pod_phase(const char *name, char *out, size_t len, int *exit_code)
{
	struct api_reply r;
	json_t *st;

	out[0] = 0;
	*exit_code = -1;
	if (pod_get(name, &r))
		return;
	if (r.status == 200) {
		st = json_object_get(r.json, "status");
		snprintf(out, len, "%s", jstr(st, "phase", ""));
		if (json_is_integer(json_object_get(st, "last_exit_code")))
			*exit_code = (int)json_integer_value(json_object_get(st, "last_exit_code"));
	}
	api_reply_free(&r);
}

/* writes each complete line of buf with the prefix; keeps a partial tail */
struct prefixer {
	const char *prefix;
	char line[8192];
	size_t n;
	FILE *out;
};

static int built_steps; /* RUN steps the last build ran (not cached) */

static size_t prefix_write(void *data, size_t size, size_t nmemb, void *ctx)
{
	struct prefixer *px = ctx;
	const char *p = data;
	size_t len = size * nmemb;

	for (size_t i = 0; i < len; i++) {
		if (px->n < sizeof(px->line) - 1)
			px->line[px->n++] = p[i];
		if (p[i] == '\n' || px->n == sizeof(px->line) - 1) {
			px->line[px->n] = 0;
			if (!strncmp(px->line, "Step ", 5) && strstr(px->line, ": RUN ") && !strstr(px->line, "(cached: "))
				built_steps++;
			fprintf(px->out, "[%s] %s%s", px->prefix, px->line, p[i] == '\n' ? "" : "\n");
			px->n = 0;
		}
	}
	fflush(px->out);
	return len;
}

/*
 * Read a pod's log from *offset, each line prefixed; with wait, the server
 * parks the request until bytes come (or 10 s). Bytes read, or -errno.
 */
static long long log_chunk(const char *pod, struct prefixer *px, long long *offset, bool wait)
{
	char path[400], *esc = api_escape(pod);
	struct api_reply r;
	FILE *mem;
	char *buf = NULL;
	size_t blen = 0;
	struct api_req req = { .method = "GET", .path = path };
	long long n;
	int err;

	if (!esc)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/v1/pods/%s/logs?offset=%lld%s", esc, *offset, wait ? "&follow=true" : "");
	free(esc);
	mem = open_memstream(&buf, &blen);
	if (!mem)
		return -ENOMEM;
	req.stream = mem;
	req.timeout_s = 20;
	err = api_exchange(&req, &r);
	fclose(mem);
	if (err) {
		free(buf);
		return err;
	}
	if (r.status != 200) {
		err = r.status == 404 ? -ENOENT : -EPROTO;
		api_reply_free(&r);
		free(buf);
		return err;
	}
	prefix_write(buf, 1, blen, px);
	n = (long long)blen;
	*offset = r.offset >= 0 ? r.offset : *offset + n;
	api_reply_free(&r);
	free(buf);
	return n;
}

/* Runs the build pod to its end, streaming its output. 0 if it succeeded. */
static int run_build(const struct plan *p, const char *script, int64_t *ms)
{
	json_t *body;
	struct api_reply r;
	struct prefixer px = { .prefix = p->service, .out = stdout };
	long long offset = 0;
	char phase[32];
	int64_t t0 = now_ms();
	int code = -1;

	pod_delete(p->build_pod, true);
	body = json_pack("{s:s,s:s,s:s,s:s,s:[s,s,s],s:o,s:s}", "name", p->build_pod, "space", p->space, "workspace",
			 p->workspace, "mount", p->mount, "command", "/bin/sh", "-c", script, "env",
			 strings_json(p->env, p->nenv), "restart", "Never");
	if (!body)
		return -ENOMEM;
	if (api_send("POST", "/v1/pods", body, &r)) {
		json_decref(body);
		return -EPROTO;
	}
	json_decref(body);
	api_reply_free(&r);
	for (;;) {
		long long n = log_chunk(p->build_pod, &px, &offset, false);

		if (n > 0)
			continue;
		pod_phase(p->build_pod, phase, sizeof(phase), &code);
		if (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed") || !strcmp(phase, "Stopped") || !phase[0]) {
			while (log_chunk(p->build_pod, &px, &offset, false) > 0)
				;
			break;
		}
		if (cli_interrupted)
			break;
		log_chunk(p->build_pod, &px, &offset, true);
	}
	if (px.n)
		prefix_write("\n", 1, 1, &px);
	pod_delete(p->build_pod, true);
	*ms = now_ms() - t0;
	if (cli_interrupted)
		return -EINTR;
	return !strcmp(phase, "Succeeded") ? 0 : (code > 0 ? code : -EIO);
}

static int declare_service(const struct plan *p)
{
	json_t *body = json_pack("{s:s,s:s,s:s,s:i,s:i}", "space", p->space, "name", p->service, "kind", "http", "port",
				 (int)p->svc_port, "target_port", (int)p->port);
	struct api_reply r;
	int err;

	if (!body)
		return -ENOMEM;
	err = api_send("POST", "/v1/services", body, &r);
	json_decref(body);
	if (!err)
		api_reply_free(&r);
	return err;
}

/* Is the service still declared in its space? false once `azds down` (or
 * anyone) removed it; true when the controller cannot tell. */
static bool service_still_there(const struct plan *p)
{
	struct api_reply r;
	const json_t *it;
	bool there = false;
	size_t i;

	/* quietly: a controller that cannot answer now is asked again later */
	if (api_get_quiet("/v1/services?space=", p->space, &r))
		return true;
	if (r.status == 404) {
		api_reply_free(&r);
		return false; /* the space itself is gone */
	}
	there = r.status != 200;
	json_array_foreach(json_object_get(r.json, "items"), i, it)
		if (!strcmp(jstr(it, "name", ""), p->service))
			there = true;
	api_reply_free(&r);
	return there;
}

static bool same_strings(const json_t *a, char *const *v, int n)
{
	if (!json_is_array(a) || json_array_size(a) != (size_t)n)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(json_string_value(json_array_get(a, (size_t)i)) ?: "", v[i]))
			return false;
	return true;
}

/* Is the service's pod running what this plan would start? */
static bool pod_current(const struct plan *p)
{
	struct api_reply r;
	bool same = false;

	if (pod_get(p->pod, &r))
		return false;
	if (r.status == 200)
		same = !strcmp(jstr(json_object_get(r.json, "status"), "phase", ""), "Running") &&
		       !strcmp(jstr(r.json, "space", ""), p->space) && !strcmp(jstr(r.json, "mount", ""), p->mount) &&
		       same_strings(json_object_get(r.json, "command"), p->argv, p->argc) &&
		       same_strings(json_object_get(r.json, "env"), p->env, p->nenv);
	api_reply_free(&r);
	return same;
}

/* The service's pod, replaced: the old one goes once the build succeeded. */
/* is there a pod of that name in space (pod names are the node's, not a space's)? */
static bool pod_exists(const char *name, const char *space)
{
	char path[300], *esc = api_escape(name);
	struct api_reply r;
	struct api_req req = { .method = "GET", .path = path };
	bool there = false;

	if (!esc)
		return false;
	snprintf(path, sizeof(path), "/v1/pods/%s", esc);
	free(esc);
	if (api_exchange(&req, &r) == 0) {
		there = r.status == 200 && !strcmp(jstr(r.json, "space", ""), space);
		api_reply_free(&r);
	}
	return there;
}

/*
 * The service's pod replaced without a gap: the new one (under the other
 * of the two names, "<pod>" and "<pod>-b") starts while the old serves,
 * both are the service's backends for that moment, then the old goes.
 */
static int start_pod(struct plan *p)
{
	char base[64], next[64];
	json_t *body;
	struct api_reply r;
	bool old;
	int err;

	up_pod_name(p->service, p->space, base, sizeof(base));
	old = pod_exists(p->pod, p->space);
	if (!old)
		snprintf(next, sizeof(next), "%s", p->pod);
	else if (!strcmp(p->pod, base))
		snprintf(next, sizeof(next), "%.55s--b", base);
	else
		snprintf(next, sizeof(next), "%s", base);
	/* a leftover of a crashed replacement, or of another up of this
	 * service meanwhile: one pod of the service at the end */
	if (strcmp(next, p->pod) ? pod_exists(next, p->space) : false)
		pod_delete(next, true);
	body = json_pack("{s:s,s:s,s:[s],s:s,s:s,s:o,s:o,s:s}", "name", next, "space", p->space, "services",
			 p->service, "workspace", p->workspace, "mount", p->mount, "command",
			 strings_json(p->argv, p->argc), "env", strings_json(p->env, p->nenv), "restart", "Always");
	if (!body)
		return -ENOMEM;
	err = api_send("POST", "/v1/pods", body, &r);
	json_decref(body);
	if (err)
		return err; /* the old one, if any, serves on */
	api_reply_free(&r);
	if (old)
		pod_delete(p->pod, false);
	snprintf(p->pod, sizeof(p->pod), "%s", next);
	return 0;
}

/* which of the service's two pod names is in use (the base when neither) */
static void find_pod(struct plan *p)
{
	char base[64], alt[64];

	up_pod_name(p->service, p->space, base, sizeof(base));
	snprintf(alt, sizeof(alt), "%.55s--b", base);
	if (pod_exists(p->pod, p->space))
		return;
	snprintf(p->pod, sizeof(p->pod), "%s", pod_exists(alt, p->space) ? alt : base);
}

/* The service's process restarted in its pod (network and address kept); a
 * pod that is not there is started. */
static int restart_pod(struct plan *p)
{
	char path[300], *esc = api_escape(p->pod);
	struct api_reply r;
	struct api_req req = { .method = "POST", .path = path };
	int err;

	if (!esc)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/v1/pods/%s/restart", esc);
	free(esc);
	err = api_exchange(&req, &r);
	if (err)
		return err;
	err = r.status == 200 ? 0 : r.status == 404 ? -ENOENT : -EPROTO;
	if (err == -EPROTO)
		fprintf(stderr, "azds: restart %s: %s\n", p->pod, api_error_text(&r));
	api_reply_free(&r);
	if (err != -ENOENT)
		return err;
	/* gone: another up may have replaced it under the other name */
	{
		char was[64];

		snprintf(was, sizeof(was), "%s", p->pod);
		find_pod(p);
		if (strcmp(was, p->pod) && pod_exists(p->pod, p->space))
			return restart_pod(p);
	}
	return start_pod(p);
}

/*
 * After a start or a restart, until the process listens on the service's port:
 * then it has read its code, and the next save's sync (perhaps one whose
 * build fails) can no longer reach files it was still to load. 0 once it
 * listens (or the controller does not tell, or there is no port); -ESRCH
 * with the phase in *phase when the process is not running (BackOff,
 * Failed, Succeeded: it crashed, or exited); -EADDRNOTAVAIL for one that
 * runs and listens on other ports only within SERVING_WAIT_MS (named),
 * -ETIMEDOUT for one that listens nowhere yet.
 */
#define SERVING_WAIT_MS 30000

static int wait_serving(const struct plan *p, char *phase, size_t plen)
{
	int64_t t0 = now_ms();

	phase[0] = 0;
	if (!p->port)
		return 0;

	while (!cli_interrupted) {
		struct api_reply r;
		const json_t *st, *ports, *v;
		char others[128] = "";
		bool done = true;
		int rc = 0;
		size_t i, o = 0;

		if (pod_get(p->pod, &r))
			return 0;
		st = json_object_get(r.json, "status");
		ports = json_object_get(st, "listening");
		snprintf(phase, plen, "%s", jstr(st, "phase", ""));
		if (r.status == 200 && (!strcmp(phase, "BackOff") || !strcmp(phase, "Failed") ||
					!strcmp(phase, "Succeeded") || !strcmp(phase, "Stopped"))) {
			rc = -ESRCH;
		} else if (r.status == 200 && json_is_array(ports) && (!strcmp(phase, "Running") || !strcmp(phase, "Pending"))) {
			done = false;
			json_array_foreach(ports, i, v) {
				if (json_integer_value(v) == (json_int_t)p->port)
					done = true;
				else if (o + 8 < sizeof(others))
					o += (size_t)snprintf(others + o, sizeof(others) - o, "%s%lld", o ? ", " : "",
							      (long long)json_integer_value(v));
			}
		}
		api_reply_free(&r);
		if (rc || done)
			return rc;
		if (now_ms() - t0 >= SERVING_WAIT_MS) {
			if (o) {
				fprintf(stderr,
					"azds: %s does not listen on port %u after %d s; it listens on %s "
					"(the port comes from the Dockerfile's EXPOSE, or up's --port)\n",
					p->service, p->port, SERVING_WAIT_MS / 1000, others);
				return -EADDRNOTAVAIL;
			}
			/* still starting (a JVM may take longer): said, not failed */
			fprintf(stderr, "azds: %s does not listen on port %u after %d s (still starting?)\n", p->service,
				p->port, SERVING_WAIT_MS / 1000);
			return -ETIMEDOUT;
		}
		usleep(20000);
	}
	return 0;
}

/* ---- the URLs ------------------------------------------------------------ */

/*
 * On a terminal, a phase that takes a while shows its time as it runs
 * ("Synchronizing files...2s", rewritten in place each second); in a pipe
 * only the plain lines are written.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const char *what;
	int64_t since;
	bool shown, started;
} prog = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *progress_run(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&prog.mu);
	for (;;) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&prog.cv, &prog.mu, &ts);
		if (prog.what && now_ms() - prog.since >= 1000) {
			printf("\r%s...%llds", prog.what, (long long)((now_ms() - prog.since) / 1000));
			fflush(stdout);
			prog.shown = true;
		}
	}
	return NULL;
}

static void progress_begin(const char *what)
{
	pthread_t t;

	if (!isatty(STDOUT_FILENO)) {
		printf("%s...\n", what);
		fflush(stdout);
		return;
	}
	pthread_mutex_lock(&prog.mu);
	if (!prog.started && pthread_create(&t, NULL, progress_run, NULL) == 0) {
		pthread_detach(t);
		prog.started = true;
	}
	prog.what = what;
	prog.since = now_ms();
	prog.shown = false;
	printf("%s...", what);
	fflush(stdout);
	pthread_mutex_unlock(&prog.mu);
}

static void progress_end(void)
{
	if (!isatty(STDOUT_FILENO))
		return;
	pthread_mutex_lock(&prog.mu);
	if (prog.what)
		printf("\r\033[K");
	prog.what = NULL;
	fflush(stdout);
	pthread_mutex_unlock(&prog.mu);
}

/* ---- deploy --------------------------------------------------------------- */

static void print_sync(const char *what, const struct azds_sync_stats *st)
{
	printf("%s: %zu file%s sent (%llu KiB, %llu KiB compressed), %zu deleted, %zu unchanged, in %lld ms\n", what,
	       st->sent, st->sent == 1 ? "" : "s", (unsigned long long)(st->bytes_raw >> 10), (unsigned long long)(st->bytes_compressed >> 10),
	       st->deleted, st->scanned > st->sent ? st->scanned - st->sent - st->copied : 0, (long long)st->ms);
	fflush(stdout);
}

/* sync everything, build, declare, start: the whole of up once */
static int deploy(struct plan *p, bool first)
{
	struct azds_sync_stats st = { 0 };
	struct azds_syncset set = { 0 };
	struct azds_err e;
	char *script;
	int64_t t0 = now_ms(), bms = 0;
	bool built = false;
	int err;

	progress_begin("Synchronizing files");
	err = azds_ws_sync(p->space, p->workspace, p->ctx, &p->all, &st);
	progress_end();
	if (err)
		return -EIO;
	print_sync("Synchronized", &st);
	if (azds_syncset_scan(&set, p->ctx, &p->all, NULL, NULL, &e)) {
		fail("%s", e.msg);
		return -EIO;
	}
	script = build_script(p, &set, NULL, 0, false);
	azds_syncset_free(&set);
	if (!script)
		return -ENOMEM;
	if (p->df->n_run) {
		printf("Building %s (%zu step%s)...\n", p->service, p->df->n_run, p->df->n_run == 1 ? "" : "s");
		fflush(stdout);
		built_steps = 0;
		err = run_build(p, script, &bms);
		built = built_steps > 0;
		if (err) {
			free(script);
			if (err != -EINTR)
				fprintf(stderr, "azds: the build of %s failed%s%s\n", p->service,
					first ? "" : "; the previous version keeps serving",
					err > 0 ? " (see its output above)" : "");
			return -EIO;
		}
	}
	free(script);
	if (declare_service(p))
		return -EIO;
	find_pod(p);
	/* nothing changed and it runs: leave it serving */
	if (first && !st.sent && !st.deleted && !st.copied && !built && pod_current(p)) {
		printf("%s in %s is up to date (running)\n", p->service, p->space);
		fflush(stdout);
		return 0;
	}
	if (start_pod(p))
		return -EIO;
	/* "Started" means serving: `up -d && curl` must not meet a 502; a
	 * process that crashed or exited is not started, whatever its pod */
	{
		char phase[32];
		int ws = wait_serving(p, phase, sizeof(phase));

		if (ws == -ESRCH) {
			/* attached, its output streams from the start anyway */
			fprintf(stderr, "azds: %s in %s is not running (%s)%s\n", p->service, p->space, phase,
				p->detach ? "; the last lines of its output:" : "");
			fflush(stdout);
			if (p->detach) {
				up_log_tail(stderr, p->pod, p->service, 10);
				return -EIO;
			}
			fprintf(stderr, "azds: fix it and save: up watches on\n");
			return 0;
		}
		if (ws == -EADDRNOTAVAIL && p->detach)
			return -EIO; /* it listens, elsewhere: the service's port answers nothing */
	}
	printf("%s %s in %s in %lld ms (build %lld ms)\n", first ? "Started" : "Redeployed", p->service, p->space,
	       (long long)(now_ms() - t0), (long long)bms);
	fflush(stdout);
	return 0;
}

/* ---- live update ---------------------------------------------------------- */

#define WATCH_SLOTS 16384 /* 2 x UP_WATCH_MAX: an open-addressing map wd -> path */

struct watch {
	int fd;
	struct {
		int wd;	    /* -1: free, -2: was used (probing goes on) */
		char *path; /* relative; "" is the folder */
	} slot[WATCH_SLOTS];
	int n;
	bool full, overflow;
	struct azds_sync_filter *filter; /* the sync rules: what is left out is not watched */
	const struct plan *plan;	 /* its azds.yaml and Dockerfile, watched whatever the rules say */
};

/* rel (in the context) is the plan's azds.yaml or Dockerfile: a change redeploys */
static bool is_plan_file(const struct plan *p, const char *rel)
{
	return p && ((*p->yaml_rel && !strcmp(rel, p->yaml_rel)) || (*p->df_rel && !strcmp(rel, p->df_rel)));
}

static int slot_of(const struct watch *w, int wd, bool for_insert)
{
	unsigned h = ((unsigned)wd * 2654435761u) & (WATCH_SLOTS - 1);
	int tomb = -1;

	/* the wd's own slot wins; else the first reusable one on its chain */
	for (int i = 0; i < WATCH_SLOTS; i++, h = (h + 1) & (WATCH_SLOTS - 1)) {
		if (w->slot[h].wd == wd)
			return (int)h;
		if (w->slot[h].wd == -1)
			return for_insert ? (tomb >= 0 ? tomb : (int)h) : -1;
		if (w->slot[h].wd == -2 && tomb < 0)
			tomb = (int)h;
	}
	return for_insert ? tomb : -1;
}

static const char *watch_path(const struct watch *w, int wd)
{
	int k = slot_of(w, wd, false);

	return k >= 0 ? w->slot[k].path : NULL;
}

static void watch_forget(struct watch *w, int wd)
{
	int k = slot_of(w, wd, false);

	if (k < 0)
		return;
	free(w->slot[k].path);
	w->slot[k].path = NULL;
	w->slot[k].wd = -2;
	w->n--;
}

/* stop watching rel and every directory below it */
static void watch_drop_tree(struct watch *w, const char *rel)
{
	size_t n = strlen(rel);

	for (int i = 0; i < WATCH_SLOTS; i++) {
		const char *q = w->slot[i].path;

		if (w->slot[i].wd < 0 || !q || strncmp(q, rel, n) || (q[n] && q[n] != '/'))
			continue;
		inotify_rm_watch(w->fd, w->slot[i].wd);
		free(w->slot[i].path);
		w->slot[i].path = NULL;
		w->slot[i].wd = -2;
		w->n--;
	}
}

static void watch_init(struct watch *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	for (int i = 0; i < WATCH_SLOTS; i++)
		w->slot[i].wd = -1;
}

static void watch_free(struct watch *w)
{
	for (int i = 0; i < WATCH_SLOTS; i++)
		free(w->slot[i].path);
	if (w->fd >= 0)
		close(w->fd);
	azds_sync_filter_free(w->filter);
}

static bool watched(struct watch *w, const char *rel, bool is_dir)
{
	struct azds_err e;

	const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;

	if (!strcmp(rel, ".git") || !strncmp(rel, ".git/", 5) || !strcmp(rel, ".azds"))
		return false;
	/* what decides the deploy and the sync is watched even where the
	 * rules leave it out (a .dockerignore often lists the Dockerfile) */
	if (!is_dir && (is_plan_file(w->plan, rel) || !strcmp(base, ".dockerignore") || !strcmp(base, ".gitignore")))
		return true;
	return !w->filter || azds_sync_filter_path(w->filter, rel, is_dir, &e) != 0;
}

/* a burst's paths, deduplicated, at most cap (then *over is set) */
struct burst {
	char **v;
	size_t n, cap;
	bool over;
};

static void burst_add(struct burst *b, const char *rel)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->v[i], rel))
			return;
	if (b->n >= b->cap) {
		b->over = true;
		return;
	}
	b->v[b->n] = strdup(rel);
	if (b->v[b->n])
		b->n++;
}

/*
 * Watch rel and the directories below it that the sync rules keep. With
 * b, the files found there go into the burst: a directory created or
 * moved in has files no event will ever name. A directory moved within
 * the folder keeps its watch (same inode, same wd): its path is renamed.
 */
static void watch_dir(struct watch *w, const char *root, const char *rel, int depth, struct burst *b)
{
	char abs[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;
	int wd, k;

	if (depth > 64 || w->n >= UP_WATCH_MAX) {
		if (!w->full)
			fprintf(stderr, "azds: more than %d directories: the rest is not watched (a redeploy syncs it)\n",
				UP_WATCH_MAX);
		w->full = true;
		return;
	}
	snprintf(abs, sizeof(abs), "%s%s%s", root, *rel ? "/" : "", rel);
	wd = inotify_add_watch(w->fd, abs,
			       IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
				       IN_DELETE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK);
	if (wd < 0)
		return;
	k = slot_of(w, wd, true);
	if (k < 0)
		return;
	if (w->slot[k].wd != wd) {
		w->slot[k].wd = wd;
		w->slot[k].path = strdup(rel);
		w->n++;
	} else if (strcmp(w->slot[k].path ? w->slot[k].path : "", rel)) {
		free(w->slot[k].path);
		w->slot[k].path = strdup(rel);
	}
	d = opendir(abs);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		snprintf(abs, sizeof(abs), "%s/%s", root, sub);
		if (lstat(abs, &st))
			continue;
		if (!watched(w, sub, S_ISDIR(st.st_mode)))
			continue;
		if (S_ISDIR(st.st_mode))
			watch_dir(w, root, sub, depth + 1, b);
		else if (b)
			burst_add(b, sub);
	}
	closedir(d);
}

static bool is_static(const char *path)
{
	static const char *const ext[] = { ".html", ".htm", ".css", ".png", ".jpg", ".jpeg", ".gif", ".svg",
					   ".ico", ".woff", ".woff2", ".ttf", ".txt", ".md", ".map", ".json" };
	const char *dot = strrchr(path, '.');

	if (!dot || strchr(dot, '/'))
		return false;
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (!strcasecmp(dot, ext[i]))
			return true;
	return false;
}

/* is path one that container.sync selects (all do when it is absent) */
static bool in_live_set(const struct plan *p, const char *path)
{
	struct azds_glob_list l;
	struct azds_err e;
	bool in = true;

	if (!p->nsync_globs)
		return true;
	azds_glob_list_init(&l, AZDS_GLOB_SYNC, "azds.yaml sync");
	for (size_t i = 0; i < p->nsync_globs; i++)
		if (azds_glob_add(&l, p->sync_globs[i], 0, &e)) {
			in = false; /* a bad glob (the sync refuses it too): redeploy */
			break;
		}
	if (in)
		in = azds_glob_sync(&l, path);
	azds_glob_list_free(&l);
	return in;
}

/* does a COPY/ADD before some RUN step take path (a build input)? */
static bool build_input(const struct plan *p, const char *path)
{
	for (size_t c = 0; c < p->df->n_copies; c++) {
		const struct azds_df_copy *cp = &p->df->copies[c];
		bool before_run = false;

		for (size_t r = 0; r < p->df->n_run && !before_run; r++)
			before_run = cp->line < p->df->run[r].line;
		if (!before_run || cp->from)
			continue;
		/* named files only (COPY package.json ., COPY go.* ./): a
		 * COPY of the whole context before a RUN would make every
		 * save a rebuild, which Dev Spaces' sync never did */
		for (size_t k = 0; k < cp->n_src; k++) {
			const char *src = cp->src[k];

			while (src[0] == '.' && src[1] == '/')
				src += 2;
			if (!*src || !strcmp(src, ".") || !strcmp(src, "*") || src[strlen(src) - 1] == '/')
				continue;
			if (copy_takes(src, path))
				return true;
		}
	}
	return false;
}

enum { CHANGE_NONE = 0, CHANGE_REPLACED = 1 };

/*
 * The changes of one burst, and what to do about them. CHANGE_REPLACED
 * when the service's pod was replaced (its log starts over), CHANGE_NONE
 * otherwise, -errno when the update failed (the old version serves on).
 */
static int on_changes(struct plan *p, char **paths, size_t n, bool force_redeploy)
{
	bool redeploy = force_redeploy || n >= UP_BURST_MAX, all_static = true, any = false;
	struct azds_sync_stats st = { 0 };
	int64_t t0 = now_ms();
	const char *why = NULL, *one = NULL;
	size_t existing = 0;
	int err;

	for (size_t i = 0; i < n && !redeploy; i++) {
		char abs[PATH_MAX * 2];
		struct stat sb;

		/* what is gone is only deleted there: an editor's or sed's
		 * temporary file must not redeploy */
		snprintf(abs, sizeof(abs), "%s/%s", p->ctx, paths[i]);
		if (lstat(abs, &sb) || S_ISDIR(sb.st_mode))
			continue;
		any = true;
		one = paths[i];
		existing++;
		if (is_plan_file(p, paths[i]) || !in_live_set(p, paths[i]) || build_input(p, paths[i])) {
			redeploy = true;
			why = paths[i];
		}
		if (!is_static(paths[i]))
			all_static = false;
	}
	if (redeploy) {
		struct plan np;
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", p->dir);
		printf("Redeploying %s (%s changed)...\n", p->service, why ? why : "files");
		fflush(stdout);
		if (plan_make(&np, dir, p->space, p->port_opt)) {
			fprintf(stderr, "azds: the previous version keeps serving\n");
			plan_free(&np);
			return -EINVAL;
		}
		err = deploy(&np, false);
		if (err) {
			plan_free(&np);
			return err;
		}
		plan_free(p);
		*p = np;
		return CHANGE_REPLACED;
	}
	progress_begin("Synchronizing files");
	err = azds_ws_sync_paths(p->space, p->workspace, p->ctx, &p->all, (const char *const *)paths, n, &st);
	progress_end();
	if (err)
		return -EIO;
	if (!st.sent && !st.deleted && !st.copied)
		return CHANGE_NONE; /* nothing the sync set holds changed */
	if (!any && !st.sent && !st.copied)
		return CHANGE_NONE; /* only deleted there: what runs is not restarted */
	if (all_static && any) {
		size_t nsync = st.sent + st.deleted + st.copied;

		if (nsync == 1 && existing == 1)
			printf("Synced %s in %lld ms (copied in place)\n", one, (long long)(now_ms() - t0));
		else
			printf("Synced %zu file%s in %lld ms (static files: copied in place)\n", nsync, nsync == 1 ? "" : "s",
			       (long long)(now_ms() - t0));
		fflush(stdout);
		return CHANGE_NONE;
	}
	if (p->y->develop.container.n_build_commands) {
		char *script = build_script(p, NULL, p->y->develop.container.build_commands,
					    p->y->develop.container.n_build_commands, true);
		int64_t bms = 0;

		err = script ? run_build(p, script, &bms) : -ENOMEM;
		free(script);
		if (err) {
			fprintf(stderr, "azds: the build of %s failed (see its output above); the previous version keeps serving\n",
				p->service);
			return -EIO;
		}
	}
	/* the command's processes (processesToKill among them) are stopped,
	 * SIGTERM first, and the command started again in the same pod */
	if (restart_pod(p))
		return -EIO;
	{
		char phase[32];

		if (wait_serving(p, phase, sizeof(phase)) == -ESRCH) {
			fprintf(stderr, "azds: %s is not running after the restart (%s): its output above says why; "
				"fix it and save: up watches on\n", p->service, phase);
			return CHANGE_NONE;
		}
	}
	printf("Restarted %s in %lld ms (%zu file%s synced: %s)\n", p->service, (long long)(now_ms() - t0),
	       st.sent + st.deleted + st.copied, st.sent + st.deleted + st.copied == 1 ? "" : "s",
	       existing == 1 ? one : "sources");
	fflush(stdout);
	return CHANGE_NONE;
}

/* the sync rules the watcher prunes by, and the Dockerfile it always watches */
static void watch_rules(struct watch *w, const struct plan *p)
{
	struct azds_err e;

	w->plan = p;
	azds_sync_filter_free(w->filter);
	if (azds_sync_filter_new(&w->filter, p->ctx, &p->all, &e))
		w->filter = NULL; /* then every directory is watched */
}

/* one burst of inotify events into relative paths */
static void read_events(struct watch *w, const char *root, struct burst *b)
{
	char buf[64 * 1024] __attribute__((aligned(8)));

	for (;;) {
		ssize_t len = read(w->fd, buf, sizeof(buf));

		if (len <= 0)
			break;
		for (char *q = buf; q < buf + len;) {
			struct inotify_event *ev = (struct inotify_event *)q;
			const char *dir;
			char rel[PATH_MAX];

			q += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				w->overflow = true; /* events were lost: only a redeploy is sure */
				continue;
			}
			if (ev->mask & IN_IGNORED) {
				watch_forget(w, ev->wd);
				continue;
			}
			dir = watch_path(w, ev->wd);
			if (!dir || !ev->len)
				continue;
			snprintf(rel, sizeof(rel), "%s%s%s", dir, *dir ? "/" : "", ev->name);
			if (!watched(w, rel, ev->mask & IN_ISDIR))
				continue;
			/* a directory moved away (out of the folder, or to where its
			 * IN_MOVED_TO watches it again): its watches go, or their
			 * events would keep naming the old path */
			if ((ev->mask & IN_MOVED_FROM) && (ev->mask & IN_ISDIR))
				watch_drop_tree(w, rel);
			if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR))
				watch_dir(w, root, rel, 1, b); /* and what it already holds */
			burst_add(b, rel);
		}
	}
}

/* ---- the verbs ------------------------------------------------------------- */

static void print_plan(const struct plan *p)
{
	printf("Service:    %s in space %s (pod %s)\n", p->service, p->space, p->pod);
	printf("From:       %s (host mode: %s)\n", p->df->image ? p->df->image : "-", p->df->runtime.what);
	printf("Workspace:  %s synced into workspace \"%s\", at %s in the pod\n", p->ctx, p->workspace, p->mount);
	for (size_t i = 0; i < p->df->n_run; i++)
		printf("Build %zu/%zu: %s\n", i + 1, p->df->n_run, p->df->run[i].text);
	printf("Command:   ");
	for (int i = 0; i < p->argc; i++)
		printf(" %s", p->argv[i]);
	printf("\nPort:       %u (service port %u)\n", p->port, p->svc_port);
	for (int i = 0; i < p->nenv; i++)
		printf("Env:        %s\n", p->env[i]);
	for (size_t i = 0; i < p->nsync_globs; i++)
		printf("Live sync:  %s\n", p->sync_globs[i]);
}

static void print_trace(void *ctx, const json_t *req);

VERB(cmd_up)
{
	const char *given = NULL;
	unsigned long port = 0, fwd_port = 0;
	bool detach = false, dry = false, no_traces = false, traces, removed = false;
	struct trace_follow tf;
	struct trace_filter tflt = { 0 };
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the space (default: your selected space)"),
		OPT_F("detach", 'd', &detach, "start it and return, without streaming or watching"),
		OPT_F("dry-run", 0, &dry, "check azds.yaml and the Dockerfile and say what up would do"),
		OPT_N("port", 0, &port, "PORT", "the container's port (default: the Dockerfile's EXPOSE, else 80)", 1,
		      65535),
		OPT_N("forward-port", 0, &fwd_port, "PORT", "the local port of the forward (default: any free one)", 1,
		      65535),
		OPT_F("disable-http-traces", 0, &no_traces, "do not show the service's HTTP traces (Dev Spaces' flag)"),
		OPT_F("verbose", 'v', &verbose, "more detail"),
		OPT_END,
	};
	struct sigaction sa = { .sa_handler = on_interrupt };
	struct prefixer px = { .out = stdout };
	static struct watch w;
	unsigned reads = 0;
	char space[AZDS_PATH_MAX], url[512];
	long long offset = 0;
	struct args a;
	struct plan p;
	unsigned iport;
	int err = opts_parse(v, o, argc, argv, &a), local = 0;

	if (err)
		return opts_exit(err);
	watch_init(&w);
	traces = !no_traces;
	if (given) {
		snprintf(space, sizeof(space), "%s", given);
	} else if (dry) {
		/* a dry run works without a controller: then "default" */
		struct api_reply r;
		struct api_req req = { .method = "GET", .path = "/v1/selection" };

		snprintf(space, sizeof(space), "default");
		if (api_exchange(&req, &r) == 0) {
			if (r.status == 200)
				snprintf(space, sizeof(space), "%s", jstr(r.json, "space", "default"));
			api_reply_free(&r);
		}
	} else if (api_space_or_selected(NULL, space, sizeof(space))) {
		args_free(&a);
		return EXIT_FAIL;
	}
	if (plan_make(&p, a.npos ? a.pos[0] : ".", space, (unsigned)port)) {
		plan_free(&p);
		args_free(&a);
		return EXIT_FAIL;
	}
	if (dry) {
		print_plan(&p);
		printf("azds.yaml and %s are valid; nothing was run (--dry-run)\n", p.df_path);
		plan_free(&p);
		args_free(&a);
		return 0;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	p.detach = detach;
	if (deploy(&p, true)) {
		plan_free(&p);
		args_free(&a);
		return EXIT_FAIL;
	}
	iport = api_ingress_port();
	if (iport) {
		char prefix[AZDS_PATH_MAX + 16];

		ingress_host_prefix(p.space, prefix, sizeof(prefix));
		snprintf(url, sizeof(url), "http://%s%s.localhost:%u/", prefix, p.service, iport);
		printf("Service '%s' is available at %s\n", p.service, url);
	} else {
		printf("The node's local ingress is not listening (azds controller status says why): no ingress URL\n");
	}
	local = (int)fwd_port;
	if (!detach && azds_forward_start(NULL, p.service, p.space, &local) == 0)
		printf("Service '%s' port %u (http) is available at http://localhost:%d%s\n", p.service, p.svc_port, local,
		       strchr(p.space, '/') ? " (routed as your space)" : "");
	fflush(stdout);
	if (detach) {
		plan_free(&p);
		args_free(&a);
		return 0;
	}
	printf("Press Ctrl+C to detach; the service keeps running\n");
	fflush(stdout);
	w.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w.fd >= 0) {
		watch_rules(&w, &p);
		watch_dir(&w, p.ctx, "", 0, NULL);
	} else {
		fprintf(stderr, "azds: inotify: %s: saves are not synced\n", strerror(errno));
	}
	px.prefix = p.service;
	/* the service's HTTP traces between its output lines, as Dev Spaces did */
	if (traces && trace_follow_init(&tf))
		traces = false;
	tflt.space = p.space;
	tflt.service = p.service;
	while (!cli_interrupted) {
		struct pollfd pf = { .fd = w.fd, .events = POLLIN };
		long long n = log_chunk(p.pod, &px, &offset, false);

		if (traces && trace_follow_poll(&tf, &tflt, false, print_trace, &p) < 0)
			traces = false; /* said why once; the output goes on */

		/* a chatty service must not starve the watcher: look at it
		 * at least every 16 chunks of output */
		if (n > 0 && ++reads % 16)
			continue;
		if (n == -ENOENT) {
			/* replaced (the new pod's log starts over), or removed with
			 * its service by azds down: then there is nothing to follow */
			if (!service_still_there(&p)) {
				removed = true;
				break;
			}
			offset = 0;
		}
		if (poll(&pf, w.fd >= 0 ? 1 : 0, 200) > 0) {
			static char *paths[UP_BURST_MAX];
			struct burst b = { .v = paths, .cap = UP_BURST_MAX };
			int r;

			usleep(UP_DEBOUNCE_MS * 1000); /* an editor's save is several events */
			read_events(&w, p.ctx, &b);
			if (b.n || w.overflow) {
				bool lost = w.overflow;

				/* what the old pod wrote last is shown before it goes */
				for (int k = 0; k < 64 && !cli_interrupted && log_chunk(p.pod, &px, &offset, false) > 0; k++)
					;
				if (!service_still_there(&p)) {
					/* a save must not bring back half of what azds down removed */
					for (size_t i = 0; i < b.n; i++)
						free(paths[i]);
					removed = true;
					break;
				}
				char was_ctx[PATH_MAX];

				snprintf(was_ctx, sizeof(was_ctx), "%s", p.ctx);
				r = on_changes(&p, paths, b.n, b.over || w.overflow);
				w.overflow = false;
				if (r == CHANGE_REPLACED)
					offset = 0;
				/* a new build context: every watch is of the old root */
				if (r == CHANGE_REPLACED && strcmp(was_ctx, p.ctx))
					watch_drop_tree(&w, "");
				/* new rules, or lost events: watch what they keep now */
				if (r == CHANGE_REPLACED || lost) {
					watch_rules(&w, &p);
					watch_dir(&w, p.ctx, "", 0, NULL);
				}
			}
			for (size_t i = 0; i < b.n; i++)
				free(paths[i]);
		}
	}
	if (removed) {
		fprintf(stderr, "azds: %s was removed from %s (azds down); up stops\n", p.service, p.space);
		watch_free(&w);
		plan_free(&p);
		args_free(&a);
		return EXIT_FAIL;
	}
	printf("\nDetached: %s keeps running in %s (azds down removes it)\n", p.service, p.space);
	watch_free(&w);
	plan_free(&p);
	args_free(&a);
	return 0;
}

/* one request's hops, prefixed with the service as its output is */
static void print_trace(void *ctx, const json_t *req)
{
	const struct plan *p = ctx;
	char prefix[AZDS_NAME_MAX + 8];

	snprintf(prefix, sizeof(prefix), "%s: ", p->service);
	trace_print_req(stdout, req, prefix);
	fflush(stdout);
}

VERB(cmd_down)
{
	const char *given = NULL, *output = NULL;
	bool keep_ws = false;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the space (default: your selected space)"),
		OPT_F("keep-workspace", 0, &keep_ws, "keep the synced workspace (the next up sends only what differs)"),
		OPT_C("output", 'o', &output, "json", "what was removed, as JSON", "json"),
		OPT_END,
	};
	char space[AZDS_PATH_MAX], path[600], *esc;
	struct api_reply r;
	struct args a;
	struct plan p;
	int err = opts_parse(v, o, argc, argv, &a), rc = 0;
	bool any = false; /* anything of it was there */

	if (err)
		return opts_exit(err);
	if (api_space_or_selected(given, space, sizeof(space)) || plan_make(&p, a.npos ? a.pos[0] : ".", space, 0)) {
		args_free(&a);
		return EXIT_FAIL;
	}
	{
		char alt[64];

		bool have = pod_exists(p.pod, space), have_alt;

		snprintf(alt, sizeof(alt), "%.55s--b", p.pod);
		have_alt = pod_exists(alt, space);
		any = have || have_alt;
		if (pod_delete(p.build_pod, true))
			rc = EXIT_FAIL;
		if (have && pod_delete(p.pod, false))
			rc = EXIT_FAIL;
		if (have_alt && pod_delete(alt, false))
			rc = EXIT_FAIL;
	}
	esc = api_escape(p.service);
	snprintf(path, sizeof(path), "/v1/services/%s?space=%s", esc ? esc : "", space);
	free(esc);
	{
		struct api_req req = { .method = "DELETE", .path = path };

		if (api_exchange(&req, &r) == 0) {
			if (r.status != 200 && r.status != 404) {
				fprintf(stderr, "azds: remove service %s: %s\n", p.service, api_error_text(&r));
				rc = EXIT_FAIL;
			}
			any |= r.status == 200;
			api_reply_free(&r);
		}
	}
	if (!keep_ws) {
		struct api_req req = { .method = "DELETE", .path = path };

		esc = api_escape(p.workspace);
		snprintf(path, sizeof(path), "/v1/workspaces/%s?space=%s", esc ? esc : "", space);
		free(esc);
		if (api_exchange(&req, &r) == 0) {
			if (r.status != 200 && r.status != 404) {
				fprintf(stderr, "azds: remove workspace %s: %s\n", p.workspace, api_error_text(&r));
				rc = EXIT_FAIL;
			}
			any |= r.status == 200;
			api_reply_free(&r);
		}
	}
	if (!rc && output) {
		json_t *j = json_pack("{s:s,s:s,s:[s,s],s:b}", "removed", p.service, "space", space, "pods", p.pod,
				      p.build_pod, "workspace_removed", !keep_ws);

		print_json(j);
		json_decref(j);
	} else if (!rc && any) {
		printf("Removed %s from %s\n", p.service, space);
	} else if (!rc) {
		printf("Nothing of %s in %s to remove (it is not up there)\n", p.service, space);
	}
	plan_free(&p);
	args_free(&a);
	return rc;
}
