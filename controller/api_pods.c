// SPDX-License-Identifier: MIT
/* /v1/pods: specs in, sandboxed processes out; logs. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "ctl.h"
#include "api_sync.h"
#include "runtime.h"
#include "podcg.h"

#define POD_SPEC_BYTES_MAX (64 * 1024) /* command and env of one pod */


void ctl_pod_dir(const struct ctl *c, const char *pod, char *buf, size_t len)
{
	snprintf(buf, len, "%s/pods/%s", c->state_dir, pod);
}

void ctl_pod_log_path(const struct ctl *c, const char *pod, char *buf, size_t len)
{
	snprintf(buf, len, "%s/pods/%s/log", c->state_dir, pod);
}

static json_t *ms_json(int64_t ms)
{
	return ms ? json_integer(ms) : json_null();
}

json_t *api_pod_json(struct ctl *c, const struct st_pod *p, const struct st_pod_status *st)
{
	char a[INET_ADDRSTRLEN] = "";
	json_t *svcs = json_array(), *cmd = json_array(), *status;

	(void)c;
	if (p->addr)
		inet_ntop(AF_INET, &p->addr, a, sizeof(a));
	for (int i = 0; i < p->nservices; i++)
		json_array_append_new(svcs, json_string(p->services[i]));
	for (int i = 0; i < p->argc; i++)
		json_array_append_new(cmd, json_string(p->argv[i]));
	status = json_pack("{s:s,s:i,s:i,s:o,s:o,s:o,s:o,s:s}", "phase", api_phase_name(st->phase), "pid", (int)st->pid,
			   "restarts", st->restarts, "last_exit_code",
			   st->last_exit_code >= 0 && !st->last_signal ? json_integer(st->last_exit_code) : json_null(),
			   "last_signal", st->last_signal ? json_integer(st->last_signal) : json_null(), "started",
			   ms_json(st->started), "finished", ms_json(st->finished), "reason", st->reason);
	return json_pack("{s:s,s:s,s:o,s:s,s:o,s:s,s:{s:I,s:i,s:i},s:i,s:s,s:s,s:o}", "name", p->name, "space",
			 p->space, "services", svcs, "address", a, "command", cmd, "restart",
			 p->restart == ST_RESTART_NEVER ? "Never" : p->restart == ST_RESTART_ONFAILURE ? "OnFailure" : "Always",
			 "limits", "memory", (json_int_t)p->limits.memory_bytes, "pids", (int)p->limits.pids, "cpu",
			 (int)p->limits.cpu_millis, "uid", (int)p->uid, "workdir", p->workdir, "mount",
			 p->mount[0] ? p->mount : "/workspace", "status", status);
}

/*
 * The TCP ports the pod's process listens on, read from its network
 * namespace's /proc/<pid>/net/tcp and tcp6 (st 0A is LISTEN): how azds up
 * knows a restarted process has loaded its code and serves. Empty when
 * the process is gone.
 */
static json_t *listening_json(pid_t pid)
{
	static const char *const files[] = { "tcp", "tcp6" };
	unsigned ports[64];
	size_t n = 0;
	json_t *a = json_array();

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && pid > 0; i++) {
		char path[64], line[512];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, files[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			char local[128], st[8], *colon;
			unsigned port;
			size_t k;

			/* "sl local_address rem_address st ...", local is ADDR:PORT in hex */
			if (sscanf(line, "%*s %127s %*s %7s", local, st) != 2 || strcmp(st, "0A"))
				continue;
			colon = strrchr(local, ':');
			if (!colon || sscanf(colon + 1, "%x", &port) != 1)
				continue;
			for (k = 0; k < n && ports[k] != port; k++)
				;
			if (k == n && n < sizeof(ports) / sizeof(ports[0]))
				ports[n++] = port;
		}
		fclose(f);
	}
	for (size_t k = 0; k < n; k++)
		json_array_append_new(a, json_integer(ports[k]));
	return a;
}

/* a decimal number, maybe with a fraction: no sign, hex, exponent, inf or nan */
static int decimal(const char *s, double *out, const char **end)
{
	const char *p = s;
	bool digits = false, dot = false;

	for (; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits = true;
		else if (*p == '.' && !dot)
			dot = true;
		else
			break;
	}
	if (!digits || p - s > 20)
		return -EINVAL;
	*out = strtod(s, NULL);
	*end = p;
	return 0;
}

/* "256Mi", "1Gi", "1.5G", 1048576 -> bytes (at most 1 TiB) */
static int parse_memory(json_t *v, uint64_t *out)
{
	const char *s, *end;
	double n, mul = 1;

	if (json_is_integer(v)) {
		if (json_integer_value(v) <= 0 || json_integer_value(v) > (1ll << 40))
			return -EINVAL;
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	s = json_string_value(v);
	if (!s || decimal(s, &n, &end))
		return -EINVAL;
	if (!strcmp(end, "Ki"))
		mul = 1024;
	else if (!strcmp(end, "Mi"))
		mul = 1024 * 1024;
	else if (!strcmp(end, "Gi"))
		mul = 1024.0 * 1024 * 1024;
	else if (!strcmp(end, "K") || !strcmp(end, "k"))
		mul = 1e3;
	else if (!strcmp(end, "M"))
		mul = 1e6;
	else if (!strcmp(end, "G"))
		mul = 1e9;
	else if (*end)
		return -EINVAL;
	n *= mul;
	if (n < 1 || n > (double)(1ull << 40))
		return -EINVAL;
	*out = (uint64_t)n;
	return 0;
}

/* cpu: a JSON number is cores (0.5, 2); a string "500m" millicpus or "2" cores */
static int parse_cpu(json_t *v, uint32_t *out)
{
	const char *s, *end;
	double n;

	if (json_is_integer(v) || json_is_real(v)) {
		n = json_number_value(v) * 1000;
	} else {
		s = json_string_value(v);
		if (!s || decimal(s, &n, &end))
			return -EINVAL;
		if (!strcmp(end, "m"))
			;
		else if (!*end)
			n *= 1000;
		else
			return -EINVAL;
	}
	if (!(n >= 1 && n <= 1e7))
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

/* the node's default limits (azds-controller run --pod-memory ...), checked as the API checks a pod's */
int api_default_limits(const char *mem, const char *pids, const char *cpu, struct st_limits *out)
{
	json_t *v;
	int err = 0;

	if (mem) {
		v = json_string(mem);
		if (parse_memory(v, &out->memory_bytes) || out->memory_bytes < AZDS_POD_MEMORY_MIN) {
			fprintf(stderr, "azds-controller: --pod-memory \"%s\": a size such as 256Mi or 1Gi, 4Mi to 1Ti\n", mem);
			err = -EINVAL;
		}
		json_decref(v);
	}
	if (pids) {
		char *end;
		unsigned long n = strtoul(pids, &end, 10);

		if (*end || end == pids || n < AZDS_POD_PIDS_MIN || n > AZDS_POD_PIDS_MAX) {
			fprintf(stderr, "azds-controller: --pod-pids \"%s\": must be a number in %d..%d\n", pids,
				AZDS_POD_PIDS_MIN, AZDS_POD_PIDS_MAX);
			err = -EINVAL;
		} else {
			out->pids = (uint32_t)n;
		}
	}
	if (cpu) {
		v = json_string(cpu);
		if (parse_cpu(v, &out->cpu_millis) || out->cpu_millis < AZDS_POD_CPU_MIN ||
		    out->cpu_millis > AZDS_POD_CPU_MAX) {
			fprintf(stderr, "azds-controller: --pod-cpu \"%s\": millicpus such as 500m, or cores such as 2\n", cpu);
			err = -EINVAL;
		}
		json_decref(v);
	}
	return err;
}

static int strings(json_t *a, char **out, int max, const char *what, struct httpd_resp *w)
{
	size_t i;

	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > (size_t)max) {
		httpd_error(w, 400, "\"%s\" must be an array of at most %d strings", what, max);
		return -1;
	}
	for (i = 0; i < json_array_size(a); i++) {
		const char *s = json_string_value(json_array_get(a, i));

		if (!s || strlen(s) >= ST_ARG_MAX) {
			httpd_error(w, 400, "\"%s\"[%zu] must be a string of at most %d bytes", what, i, ST_ARG_MAX - 1);
			return -1;
		}
		out[i] = (char *)s;
	}
	out[i] = NULL;
	return (int)i;
}

/*
 * "workspace": NAME, a synced workspace of the pod's space (docs/sync.md),
 * lent to the pod as its workdir; only its owner (or root) may lend it.
 */
static int pod_workspace(struct ctl *c, json_t *j, uid_t caller, const struct st_space *sp, struct st_pod *p,
			 struct httpd_resp *w)
{
	json_t *v = json_object_get(j, "workspace");
	const char *ws = json_string_value(v);
	char tree[PATH_MAX];
	struct azds_err e;
	struct stat st;

	if (!v)
		return 0;
	if (!ws || azds_name_valid("workspace", ws, &e)) {
		httpd_error(w, 400, "pod \"%s\": \"workspace\" must be a workspace name%s%s", p->name, ws ? ": " : "",
			    ws ? e.msg : "");
		return -EINVAL;
	}
	if (p->workdir[0]) {
		httpd_error(w, 400, "pod \"%s\": give \"workdir\" or \"workspace\", not both", p->name);
		return -EINVAL;
	}
	api_workspace_tree(c, sp->id, ws, tree, sizeof(tree));
	if (lstat(tree, &st) || !S_ISDIR(st.st_mode)) {
		httpd_error(w, 404, "pod \"%s\": space \"%s\" has no workspace \"%s\" (sync it first)", p->name, sp->path,
			    ws);
		return -ENOENT;
	}
	if (caller != 0 && st.st_uid != caller) {
		httpd_error(w, 403, "pod \"%s\": workspace \"%s\" belongs to uid %u, not to you (uid %u)", p->name, ws,
			    (unsigned)st.st_uid, (unsigned)caller);
		return -EPERM;
	}
	if (strlen(tree) >= sizeof(p->workdir)) {
		httpd_error(w, 400, "pod \"%s\": workspace path too long", p->name);
		return -EINVAL;
	}
	snprintf(p->workdir, sizeof(p->workdir), "%s", tree);
	return 0;
}

/* "mount": where the workdir appears in the pod (a Dockerfile's WORKDIR) */
static int pod_mount(json_t *j, struct st_pod *p, struct httpd_resp *w)
{
	json_t *v = json_object_get(j, "mount");
	const char *m = json_string_value(v);
	char why[160];

	if (!v)
		return 0;
	if (!m || azds_mount_path_check(m, why, sizeof(why))) {
		httpd_error(w, 400, "pod \"%s\": mount \"%s\": %s", p->name, m ? m : "", m ? why : "must be a string");
		return -EINVAL;
	}
	if (strlen(m) >= sizeof(p->mount)) {
		httpd_error(w, 400, "pod \"%s\": mount \"%s\": longer than %zu bytes", p->name, m, sizeof(p->mount) - 1);
		return -EINVAL;
	}
	snprintf(p->mount, sizeof(p->mount), "%s", m);
	return 0;
}

static int pod_parse(struct ctl *c, json_t *j, uid_t caller, struct st_pod *p, struct httpd_resp *w)
{
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *space = json_string_value(json_object_get(j, "space"));
	const char *restart = json_string_value(json_object_get(j, "restart"));
	const char *workdir = json_string_value(json_object_get(j, "workdir"));
	json_t *svcs = json_object_get(j, "services"), *lim = json_object_get(j, "limits"), *v;
	struct st_space sp;
	struct st_service sv;
	struct azds_err e;
	int n;

	memset(p, 0, sizeof(*p));
	if (!name || !space) {
		httpd_error(w, 400, "body: \"name\" and \"space\" are required");
		return -EINVAL;
	}
	if (azds_name_valid("pod", name, &e)) {
		httpd_error(w, 400, "%s", e.msg);
		return -EINVAL;
	}
	if (strlen(space) >= ST_PATH_MAX || store_space_get(c->st, space, &sp)) {
		httpd_error(w, 404, "pod \"%s\": space \"%s\" does not exist", name, space);
		return -ENOENT;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->space, sizeof(p->space), "%s", space);
	if (svcs && (!json_is_array(svcs) || json_array_size(svcs) > ST_MAX_POD_SERVICES)) {
		httpd_error(w, 400, "pod \"%s\": \"services\" must be an array of at most %d names", name,
			    ST_MAX_POD_SERVICES);
		return -EINVAL;
	}
	for (size_t i = 0; i < json_array_size(svcs); i++) {
		const char *s = json_string_value(json_array_get(svcs, i));

		if (!s || strlen(s) >= ST_NAME_MAX || store_service_get(c->st, space, s, &sv)) {
			httpd_error(w, 404, "pod \"%s\": service \"%s\" does not exist in space \"%s\" (create it first)",
				    name, s ? s : "", space);
			return -ENOENT;
		}
		snprintf(p->services[p->nservices++], ST_NAME_MAX, "%s", s);
	}
	n = strings(json_object_get(j, "command"), p->argv, ST_ARGV_MAX, "command", w);
	if (n < 0)
		return -EINVAL;
	p->argc = n;
	if (p->argc && p->argv[0][0] != '/') {
		httpd_error(w, 400, "pod \"%s\": command[0] \"%s\" must be an absolute path", name, p->argv[0]);
		return -EINVAL;
	}
	n = strings(json_object_get(j, "env"), p->env, ST_ENV_MAX, "env", w);
	if (n < 0)
		return -EINVAL;
	p->nenv = n;
	for (int i = 0; i < p->nenv; i++)
		if (!strchr(p->env[i], '=') || p->env[i][0] == '=') {
			httpd_error(w, 400, "pod \"%s\": env \"%s\" must be KEY=VALUE", name, p->env[i]);
			return -EINVAL;
		}
	if (!restart || !strcmp(restart, "Always"))
		p->restart = ST_RESTART_ALWAYS;
	else if (!strcmp(restart, "OnFailure"))
		p->restart = ST_RESTART_ONFAILURE;
	else if (!strcmp(restart, "Never"))
		p->restart = ST_RESTART_NEVER;
	else {
		httpd_error(w, 400, "pod \"%s\": restart \"%s\": must be Always, OnFailure or Never", name, restart);
		return -EINVAL;
	}
	if (workdir) {
		struct stat stt;

		if (workdir[0] != '/' || strlen(workdir) >= sizeof(p->workdir) || lstat(workdir, &stt) ||
		    !S_ISDIR(stt.st_mode)) {
			httpd_error(w, 400,
				    "pod \"%s\": workdir \"%s\" must be an existing directory (not a symlink), as an absolute path",
				    name, workdir);
			return -EINVAL;
		}
		/* what the sandbox will accept, checked before anything is stored:
		 * a real path (no symlink on the way, no "//" or ".."), not root's */
		{
			char real[PATH_MAX];

			if (!realpath(workdir, real) || strcmp(real, workdir)) {
				httpd_error(w, 400, "pod \"%s\": workdir \"%s\" must be a real path (no symlinks, \"..\" or \"//\")%s%s",
					    name, workdir, realpath(workdir, real) ? ": it is " : "",
					    realpath(workdir, real) ? real : "");
				return -EINVAL;
			}
		}
		if (stt.st_uid == 0) {
			httpd_error(w, 403, "pod \"%s\": workdir \"%s\" belongs to root; lend a directory of a user's",
				    name, workdir);
			return -EPERM;
		}
		/* a user lends the pod a directory of their own, never someone else's */
		if (caller != 0 && stt.st_uid != caller) {
			httpd_error(w, 403, "pod \"%s\": workdir \"%s\" belongs to uid %u, not to you (uid %u)", name,
				    workdir, (unsigned)stt.st_uid, (unsigned)caller);
			return -EPERM;
		}
		if (!strncmp(workdir, "/var/lib/azds", 13) || !strncmp(workdir, "/run/azds", 9) ||
		    !strncmp(workdir, c->state_dir, strlen(c->state_dir))) {
			httpd_error(w, 403, "pod \"%s\": workdir \"%s\": the controller's own state is not a workdir", name,
				    workdir);
			return -EPERM;
		}
		snprintf(p->workdir, sizeof(p->workdir), "%s", workdir);
	}
	if (pod_workspace(c, j, caller, &sp, p, w) || pod_mount(j, p, w))
		return -EINVAL;
	{
		size_t bytes = 0;

		for (int i = 0; i < p->argc; i++)
			bytes += strlen(p->argv[i]) + 1;
		for (int i = 0; i < p->nenv; i++)
			bytes += strlen(p->env[i]) + 1;
		if (bytes > POD_SPEC_BYTES_MAX) {
			httpd_error(w, 400, "pod \"%s\": command and env are %zu bytes; the limit is %d", name, bytes,
				    POD_SPEC_BYTES_MAX);
			return -E2BIG;
		}
	}
	p->limits = c->cfg.pod_limits;
	if (lim && !json_is_object(lim)) {
		httpd_error(w, 400, "pod \"%s\": \"limits\" must be an object {memory, pids, cpu}", name);
		return -EINVAL;
	}
	if ((v = json_object_get(lim, "memory")) && (parse_memory(v, &p->limits.memory_bytes) ||
						     p->limits.memory_bytes < AZDS_POD_MEMORY_MIN)) {
		httpd_error(w, 400, "pod \"%s\": limits.memory: a size such as 256Mi or 1Gi, at least 4Mi", name);
		return -EINVAL;
	}
	if ((v = json_object_get(lim, "pids"))) {
		if (!json_is_integer(v) || json_integer_value(v) < AZDS_POD_PIDS_MIN ||
		    json_integer_value(v) > AZDS_POD_PIDS_MAX) {
			httpd_error(w, 400, "pod \"%s\": limits.pids: a number %d-%d", name, AZDS_POD_PIDS_MIN,
				    AZDS_POD_PIDS_MAX);
			return -EINVAL;
		}
		p->limits.pids = (uint32_t)json_integer_value(v);
	}
	if ((v = json_object_get(lim, "cpu")) && (parse_cpu(v, &p->limits.cpu_millis) ||
						  p->limits.cpu_millis < AZDS_POD_CPU_MIN ||
						  p->limits.cpu_millis > AZDS_POD_CPU_MAX)) {
		httpd_error(w, 400, "pod \"%s\": limits.cpu: %dm to %dm, such as 500m, or cores such as 2", name,
			    AZDS_POD_CPU_MIN, AZDS_POD_CPU_MAX);
		return -EINVAL;
	}
	return 0;
}

/*
 * POST /v1/pods/{name}/restart: the pod's process stopped (SIGTERM first)
 * and started again from its stored spec; its network, address and
 * endpoints stay, so nothing is rerouted (azds up's restart on a save).
 */
static void pod_restart(struct ctl *c, const struct httpd_req *r, const char *name, struct httpd_resp *w)
{
	struct st_pod p;
	struct st_pod_status st;
	struct azds_err e;

	if (strcmp(r->method, "POST")) {
		httpd_error(w, 405, "%s /v1/pods/%s/restart: use POST", r->method, name);
		return;
	}
	if (strlen(name) >= ST_NAME_MAX || store_pod_get(c->st, name, &p, NULL)) {
		httpd_error(w, 404, "pod \"%s\" does not exist", name);
		return;
	}
	if (!p.argc) {
		httpd_error(w, 409, "pod \"%s\" is bare: it has no process to restart", name);
	} else if (c->rt->pod_stop(c, name, &e) || c->rt->pod_start(c, &p, &e)) {
		httpd_error(w, 500, "%s", e.msg);
	} else if (store_pod_get(c->st, name, NULL, &st) == 0) {
		httpd_json(w, 200, api_pod_json(c, &p, &st));
	} else {
		httpd_json(w, 200, json_pack("{s:s}", "restarted", name));
	}
	st_pod_free(&p);
}

/* a lent workdir loses the pod uid's ACL entries once the pod is gone */
void ctl_workdir_release(struct ctl *c, const struct st_pod *p)
{
	int err;

	if (!p->workdir[0])
		return;
	err = api_workspace_path(c, p->workdir) ? azds_workspace_revoke(p->workdir, p->uid)
						: azds_workdir_revoke(p->workdir, p->uid);
	if (err && err != -ENOENT)
		fprintf(stderr, "azds-controller: pod \"%s\": workdir %s: removing uid %u's access: %s\n", p->name,
			p->workdir, p->uid, strerror(-err));
}

/* is uid inside a subordinate range of /etc/subuid or /etc/subgid? */
static bool subordinate(const char *file, uint32_t uid)
{
	char line[512];
	FILE *f = fopen(file, "re");
	bool in = false;

	if (!f)
		return false;
	while (!in && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		unsigned long long start, count;

		if (!c2)
			continue;
		start = strtoull(c1 + 1, NULL, 10);
		count = strtoull(c2 + 1, NULL, 10);
		in = uid >= start && uid < start + count;
	}
	fclose(f);
	return in;
}

/*
 * The next pod's host uid: never one used before on this node (a deleted
 * pod's files keep its uid), never a user's or group's, never inside a
 * user's subordinate ranges (whose user namespaces could act as it).
 */
static int next_pod_uid(struct ctl *c, uint32_t *out)
{
	char buf[32];
	uint64_t uid = CTL_UID_BASE;

	if (store_setting_get(c->st, "next_pod_uid", buf, sizeof(buf)) == 0 && strtoull(buf, NULL, 10) > uid)
		uid = strtoull(buf, NULL, 10);
	for (int tries = 0; tries < 1000000; tries++, uid++) {
		if (uid >= CTL_UID_MAX)
			return -ENOSPC;
		if (getpwuid((uid_t)uid) || getgrgid((gid_t)uid) || subordinate("/etc/subuid", (uint32_t)uid) ||
		    subordinate("/etc/subgid", (uint32_t)uid))
			continue;
		*out = (uint32_t)uid;
		return 0;
	}
	return -ENOSPC;
}

static void create(struct ctl *c, const struct httpd_req *r, struct httpd_resp *w)
{
	json_t *body = api_body(r, w);
	struct st_pod p, got;
	struct st_pod_status st;
	struct azds_err e;
	int64_t n = 0;
	uint32_t uid;
	int err;

	if (!body)
		return;
	if (pod_parse(c, body, r->uid, &p, w))
		goto out;
	if (store_pod_get(c->st, p.name, NULL, NULL) == 0) {
		httpd_error(w, 409, "pod \"%s\" already exists; remove it first (azds pod rm %s)", p.name, p.name);
		goto out;
	}
	if (store_pod_count(c->st, &n) == 0 && n >= (int64_t)c->cfg.max_pods) {
		httpd_error(w, 409, "pod \"%s\": the node has %lld pods, the limit (azds controller start --max-pods)",
			    p.name, (long long)n);
		goto out;
	}
	err = next_pod_uid(c, &uid);
	if (err) {
		httpd_error(w, 409, "pod \"%s\": no free pod uid left in %u-%u", p.name, CTL_UID_BASE, CTL_UID_MAX);
		goto out;
	}
	/* committed only once the node has the pod and its process started:
	 * a crash in between leaves nothing stored (the next start removes
	 * what the node got), a pod the node refuses is never stored */
	err = store_begin(c->st);
	if (err) {
		api_store_status(c, err, w, "store pod");
		goto out;
	}
	err = store_pod_add(c->st, &p, uid);
	if (!err) {
		char next[32];

		snprintf(next, sizeof(next), "%u", p.uid + 1);
		err = store_setting_set(c->st, "next_pod_uid", next);
	}
	if (err) {
		store_rollback(c->st);
		api_store_status(c, err, w, "store pod");
		goto out;
	}
	err = reconcile_pod(c, p.name, &e);
	if (!err && (err = store_commit(c->st)))
		snprintf(e.msg, sizeof(e.msg), "store pod: %s", store_errmsg(c->st));
	if (err) {
		struct azds_err ignored;

		store_rollback(c->st);
		reconcile_pod_gone(c, p.name, &ignored);
		httpd_error(w, err == -ENOSPC || err == -E2BIG || err == -EEXIST ? 409 : err == -EINVAL ? 400 : 500, "%s",
			    e.msg);
		goto out;
	}
	if (store_pod_get(c->st, p.name, &got, &st) == 0) {
		httpd_json(w, 201, api_pod_json(c, &got, &st));
		st_pod_free(&got);
	}
out:
	json_decref(body);
}

struct each_ctx {
	struct ctl *c;
	json_t *items;
};

static int add_pod(void *ctx, const struct st_pod *p, const struct st_pod_status *st)
{
	struct each_ctx *x = ctx;

	json_array_append_new(x->items, api_pod_json(x->c, p, st));
	return 0;
}

void api_pods(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w)
{
	char name[ST_NAME_MAX + 1];
	const char *sub = strchr(rest, '/');
	struct st_pod p;
	struct st_pod_status st;
	struct azds_err e;

	if (!*rest) {
		if (!strcmp(r->method, "GET")) {
			struct each_ctx x = { c, json_array() };
			const char *space = httpd_query(r, "space");
			struct st_space sp;

			if (space && *space && (strlen(space) >= ST_PATH_MAX || store_space_get(c->st, space, &sp))) {
				json_decref(x.items);
				httpd_error(w, 404, "space \"%s\" does not exist", space);
				return;
			}
			store_pod_each(c->st, space && *space ? space : NULL, add_pod, &x);
			httpd_json(w, 200, json_pack("{s:o}", "items", x.items));
		} else if (!strcmp(r->method, "POST")) {
			create(c, r, w);
		} else {
			httpd_error(w, 405, "%s /v1/pods: use GET or POST", r->method);
		}
		return;
	}
	snprintf(name, sizeof(name), "%.*s", sub ? (int)(sub - rest) : (int)strlen(rest), rest);
	if (sub && !strcmp(sub, "/logs")) {
		if (strcmp(r->method, "GET"))
			httpd_error(w, 405, "%s %s: only GET", r->method, r->path);
		else
			api_pod_logs(c, r, name, w);
		return;
	}
	if (sub && !strcmp(sub, "/restart")) {
		pod_restart(c, r, name, w);
		return;
	}
	if (sub) {
		httpd_error(w, 404, "no such API path \"%s\"", r->path);
		return;
	}
	if (strlen(name) >= ST_NAME_MAX || store_pod_get(c->st, name, &p, &st)) {
		httpd_error(w, 404, "pod \"%s\" does not exist", name);
		return;
	}
	if (!strcmp(r->method, "GET")) {
		json_t *j = api_pod_json(c, &p, &st);

		/* one pod's answer only: a list reads no /proc files */
		if (j)
			json_object_set_new(json_object_get(j, "status"), "listening",
					    listening_json(st.phase == ST_PHASE_RUNNING ? st.pid : 0));
		httpd_json(w, 200, j);
	} else if (!strcmp(r->method, "DELETE")) {
		int err = store_pod_remove(c->st, name);

		if (err) {
			api_store_status(c, err, w, "remove pod");
		} else {
			if (reconcile_pod_gone(c, name, &e))
				fprintf(stderr, "azds-controller: %s\n", e.msg);
			ctl_workdir_release(c, &p);
			httpd_json(w, 200, json_pack("{s:s}", "removed", name));
		}
	} else {
		httpd_error(w, 405, "%s /v1/pods/%s: use GET or DELETE", r->method, name);
	}
	st_pod_free(&p);
}
