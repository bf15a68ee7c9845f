// SPDX-License-Identifier: MIT
/*
 * The local runtime: this host's namespaces, veths, cgroups and pinned
 * maps (libazds), pod processes run in the sandbox (azds-init sandbox)
 * under the supervisor.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "node.h"
#include "podcg.h"
#include "runtime.h"
#include "api_sync.h"

#define POD_STOP_GRACE_MS 5000 /* a pod's command may take this long to exit on SIGTERM */

static int local_node_up(struct ctl *c, struct azds_err *e)
{
	struct azds_dp_opts o;
	int err;

	err = azds_ensure_bpffs();
	if (err)
		return azds_err(e, err, "bpffs at /sys/fs/bpf: %s", strerror(-err));
	err = azds_mkdir_p(c->in.run_dir, 0755);
	if (err)
		return azds_err(e, err, "run directory %s: %s", c->in.run_dir, strerror(-err));
	azds_dp_default_opts(&o, c->in.pin_dir);
	o.cfg.max_depth = c->cfg.max_depth;
	o.override |= AZDS_OVR_DEPTH;
	if (c->cfg.max_spaces)
		o.max_spaces = c->cfg.max_spaces;
	if (c->cfg.max_pods)
		o.max_pods = c->cfg.max_pods;
	if (c->cfg.max_services)
		o.max_services = c->cfg.max_services;
	if (c->cfg.max_vips)
		o.max_vips = c->cfg.max_vips;
	if (c->cfg.no_kernel_lb)
		o.override |= AZDS_OVR_NO_KLB;
	if (c->cfg.no_sockmap)
		o.override |= AZDS_OVR_NO_SOCKMAP;
	o.verbose = c->cfg.verbose;
	err = azds_dp_load(&o);
	if (err)
		return azds_err(e, err, "load data plane into %s: %s%s", c->in.pin_dir, strerror(-err),
				err == -EINVAL ? " (maps pinned with other sizes? remove the instance first)" : "");
	err = azds_node_up(&c->in, e);
	if (err)
		return err;
	if (!c->maps_open) {
		err = azds_maps_open(&c->in, &c->m, e);
		if (err)
			return err;
		c->maps_open = true;
	}
	azds_node_reattach(&c->in, &c->m);
	/* the controller, and the shims it starts, live in the instance's
	 * cgroup tree (its _controller cgroup: '_' starts no pod name), so a
	 * purge ends every one of them whatever their pid files say */
	if (c->in.cgroup_dir[0]) {
		char cg[PATH_MAX];
		FILE *f;

		snprintf(cg, sizeof(cg), "%s/_controller", c->in.cgroup_dir);
		azds_mkdir_p(cg, 0755);
		snprintf(cg, sizeof(cg), "%s/_controller/cgroup.procs", c->in.cgroup_dir);
		f = fopen(cg, "we");
		if (!f || fputs("0\n", f) < 0 || fclose(f))
			fprintf(stderr, "azds-controller: warning: cannot join %s: %s\n", cg, strerror(errno));
		f = NULL;
	}
	azds_gen_bump(&c->m);
	return 0;
}

static int local_space_apply(struct ctl *c, const struct st_space *sp, struct azds_err *e)
{
	__u32 id;

	return azds_space_add(&c->m, sp->path, &id, e);
}

static int local_space_delete(struct ctl *c, const char *path, struct azds_err *e)
{
	int err = azds_space_remove(&c->m, path, e);

	return err == -ENOENT ? 0 : err;
}

static int local_service_apply(struct ctl *c, const struct st_service *svc, uint32_t *vip, struct azds_err *e)
{
	struct azds_service out;
	int err;

	err = azds_service_add_at(&c->m, svc->space, svc->name, svc->kind == ST_KIND_TCP ? AZDS_KIND_TCP : AZDS_KIND_HTTP,
				  svc->port, svc->target_port, *vip, &out, e);
	if (!err)
		*vip = out.addr;
	return err;
}

static int local_service_delete(struct ctl *c, const char *space, const char *name, struct azds_err *e)
{
	int err = azds_service_remove(&c->m, space, name, e);

	return err == -ENOENT ? 0 : err;
}

static int local_pod_create(struct ctl *c, const struct st_pod *p, uint32_t *addr, struct azds_err *e)
{
	struct azds_pod_spec ps = { .name = p->name, .space = p->space, .want_addr = *addr };
	struct in_addr a;
	int err;

	for (int i = 0; i < p->nservices && i < 16; i++)
		ps.services[ps.nservices++] = p->services[i];
	err = azds_pod_add(&c->in, &c->m, &ps, &a, e);
	if (!err)
		*addr = a.s_addr;
	return err;
}

static void unit_name(const char *pod, char *buf, size_t len)
{
	snprintf(buf, len, "pod-%s", pod);
}

static int local_pod_start(struct ctl *c, const struct st_pod *p, struct azds_err *e)
{
	char unit[SUP_NAME_MAX], init[PATH_MAX + 16], uid[16], mem[32], pids[16], cpu[16], logf[PATH_MAX],
		dir[PATH_MAX], work[PATH_MAX * 2];
	char *argv[32 + 2 * ST_ENV_MAX + ST_ARGV_MAX];
	struct sup_spec spec = {};
	struct st_pod_status st;
	int n = 0, err;

	if (!p->argc) {
		/* a bare pod: its network and cgroup are all there is */
		struct st_pod_status bare = { .phase = ST_PHASE_RUNNING, .last_exit_code = -1 };

		snprintf(bare.reason, sizeof(bare.reason), "bare pod: no process (azds-init exec runs tools in it)");
		store_pod_set_status(c->st, p->name, &bare);
		return 0;
	}
	ctl_pod_dir(c, p->name, dir, sizeof(dir));
	err = azds_mkdir_p(dir, 0711);
	if (err)
		return azds_err(e, err, "pod \"%s\": directory %s: %s", p->name, dir, strerror(-err));
	if (p->workdir[0]) {
		snprintf(work, sizeof(work), "%s", p->workdir);
	} else {
		/* the pod's own workspace: made here, the pod uid's alone */
		snprintf(work, sizeof(work), "%s/workspace", dir);
		if (mkdir(work, 0700) && errno != EEXIST)
			return azds_err(e, errno, "pod \"%s\": workspace %s: %s", p->name, work, strerror(errno));
		if (chown(work, p->uid, p->uid) || chmod(work, 0700))
			return azds_err(e, errno, "pod \"%s\": workspace %s: %s", p->name, work, strerror(errno));
	}
	snprintf(init, sizeof(init), "%s/azds-init", c->bin_dir);
	snprintf(uid, sizeof(uid), "%u", p->uid);
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)p->limits.memory_bytes);
	snprintf(pids, sizeof(pids), "%u", p->limits.pids);
	snprintf(cpu, sizeof(cpu), "%u", p->limits.cpu_millis);
	argv[n++] = init;
	argv[n++] = "-i";
	argv[n++] = c->in.name;
	argv[n++] = "sandbox";
	argv[n++] = "--pod";
	argv[n++] = (char *)p->name;
	argv[n++] = "--uid";
	argv[n++] = uid;
	/* a synced workspace is azds's own copy, not a lent directory */
	argv[n++] = api_workspace_path(c, work) ? "--workspace-tree" : "--workdir";
	argv[n++] = work;
	if (p->mount[0]) {
		argv[n++] = "--mount-at";
		argv[n++] = (char *)p->mount;
	}
	argv[n++] = "--memory";
	argv[n++] = mem;
	argv[n++] = "--pids";
	argv[n++] = pids;
	argv[n++] = "--cpu";
	argv[n++] = cpu;
	for (int i = 0; i < p->nenv; i++) {
		argv[n++] = "--env";
		argv[n++] = p->env[i];
	}
	argv[n++] = "--";
	for (int i = 0; i < p->argc; i++)
		argv[n++] = p->argv[i];
	argv[n] = NULL;
	ctl_pod_log_path(c, p->name, logf, sizeof(logf));
	unit_name(p->name, unit, sizeof(unit));
	snprintf(spec.name, sizeof(spec.name), "%s", unit);
	spec.argv = argv;
	spec.log_path = logf;
	spec.policy = p->restart;
	spec.backoff_first_ms = 200;
	spec.backoff_max_ms = 30000;
	/* a pod its restart policy finished for good (Succeeded, Failed) is
	 * not started again by a reconcile; one the controller stopped
	 * (Stopped: stop --all, a shutdown) is */
	if (store_pod_get(c->st, p->name, NULL, &st) == 0 &&
	    (st.phase == ST_PHASE_SUCCEEDED || st.phase == ST_PHASE_FAILED)) {
		struct sup_status ss;

		if (sup_status(c->sup, unit, &ss) != 0)
			return 0;
	}
	err = sup_start(c->sup, &spec);
	if (err)
		return azds_err(e, err, "pod \"%s\": start: %s", p->name, strerror(-err));
	return 0;
}

/* SIGTERM to the pod's command (not to bwrap, which would take the command
 * down at once): it may exit cleanly; the supervisor's stop then finds it
 * gone or ends what is left */
static void pod_term(struct ctl *c, const char *name, const char *unit)
{
	struct sup_status ss;

	if (sup_status(c->sup, unit, &ss) == 0 && ss.state == SUP_RUNNING && ss.pid > 0)
		azds_podcg_term(&c->in, name, ss.pid, POD_STOP_GRACE_MS);
}

static int local_pod_stop(struct ctl *c, const char *name, struct azds_err *e)
{
	char unit[SUP_NAME_MAX];
	int err;

	unit_name(name, unit, sizeof(unit));
	pod_term(c, name, unit);
	err = sup_stop(c->sup, unit, 2000);
	if (err && err != -ENOENT)
		return azds_err(e, err, "pod \"%s\": stop: %s", name, strerror(-err));
	return 0;
}

static int rm_rf(const char *dir)
{
	char *argv[] = { "rm", "-rf", "--one-file-system", (char *)dir, NULL };

	return azds_run(argv, true);
}

/*
 * A pod's directory goes without holding the daemon: a pod may leave
 * millions of files in its workspace, and removing them took the API and
 * the reconciler with it for as long. The directory is renamed into
 * <state>/trash at once (the pod's name is free again) and queued for one
 * thread of the daemon's, which removes the entries one after another;
 * what a crash leaves there is queued at the next start (ctl_trash_sweep).
 */
struct trash_item {
	struct trash_item *next;
	char path[];
};

static pthread_mutex_t trash_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t trash_cv = PTHREAD_COND_INITIALIZER;
static struct trash_item *trash_head, **trash_tail = &trash_head;
static bool trash_thread_up;

static void *trash_run(void *arg)
{
	(void)arg;
	for (;;) {
		struct trash_item *it;

		pthread_mutex_lock(&trash_mu);
		while (!trash_head)
			pthread_cond_wait(&trash_cv, &trash_mu);
		it = trash_head;
		trash_head = it->next;
		if (!trash_head)
			trash_tail = &trash_head;
		pthread_mutex_unlock(&trash_mu);
		rm_rf(it->path);
		free(it);
	}
	return NULL;
}

static void trash_push(const char *path)
{
	size_t n = strlen(path) + 1;
	struct trash_item *it = malloc(sizeof(*it) + n);
	pthread_t t;
	bool ok = true;

	if (!it) {
		rm_rf(path);
		return;
	}
	memcpy(it->path, path, n);
	it->next = NULL;
	pthread_mutex_lock(&trash_mu);
	if (!trash_thread_up) {
		ok = pthread_create(&t, NULL, trash_run, NULL) == 0;
		if (ok) {
			pthread_detach(t);
			trash_thread_up = true;
		}
	}
	if (ok) {
		*trash_tail = it;
		trash_tail = &it->next;
		pthread_cond_signal(&trash_cv);
	}
	pthread_mutex_unlock(&trash_mu);
	if (!ok) {
		rm_rf(path); /* no thread: the slow way */
		free(it);
	}
}

void ctl_remove_later(struct ctl *c, const char *dir, const char *name)
{
	static unsigned seq;
	char trash[PATH_MAX];

	snprintf(trash, sizeof(trash), "%.200s/trash", c->state_dir);
	mkdir(trash, 0700);
	/* the time too: a daemon restarted with the same pid (a container's)
	 * must not meet a name a crash left there still to go */
	snprintf(trash, sizeof(trash), "%.200s/trash/%.64s.%lld.%d.%u", c->state_dir, name, (long long)time(NULL),
		 (int)getpid(), seq++);
	if (rename(dir, trash)) {
		rm_rf(dir); /* not renamable (another filesystem?): the slow way */
		return;
	}
	trash_push(trash);
}

void ctl_trash_sweep(struct ctl *c)
{
	char trash[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;

	snprintf(trash, sizeof(trash), "%.200s/trash", c->state_dir);
	d = opendir(trash);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", trash, de->d_name);
			trash_push(path);
		}
	closedir(d);
}

static int local_pod_delete(struct ctl *c, const char *name, struct azds_err *e)
{
	char dir[PATH_MAX], unit[SUP_NAME_MAX];
	int err;

	unit_name(name, unit, sizeof(unit));
	pod_term(c, name, unit);
	err = sup_forget(c->sup, unit, 2000);
	if (err && err != -ENOENT)
		return azds_err(e, err, "pod \"%s\": stop: %s", name, strerror(-err));
	err = azds_pod_del(&c->in, &c->m, name, e);
	if (err && err != -ENOENT)
		return err;
	azds_podcg_remove(&c->in, name);
	/* the pod's own directory (log, default workspace); a workdir the
	 * user gave is the user's and stays */
	ctl_pod_dir(c, name, dir, sizeof(dir));
	if (access(dir, F_OK) == 0)
		ctl_remove_later(c, dir, name);
	return 0;
}

static int local_dns_sync(struct ctl *c, struct azds_err *e)
{
	int err = azds_dns_refresh(&c->in, &c->m);

	return err ? azds_err(e, err, "DNS hosts file: %s", strerror(-err)) : 0;
}

static int local_each_space(struct ctl *c, int (*cb)(void *ctx, const char *path), void *ctx)
{
	struct azds_space sp;

	for (__u32 id = azds_space_next(&c->m, 0, &sp); id; id = azds_space_next(&c->m, id, &sp))
		if (cb(ctx, sp.path))
			return 1;
	return 0;
}

static int local_each_service(struct ctl *c, int (*cb)(void *ctx, const char *space, const char *name), void *ctx)
{
	struct azds_svc_key key, next;
	struct azds_service s;
	struct azds_space sp;
	void *cur = NULL;

	while (bpf_map_get_next_key(c->m.services, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(c->m.services, &key, &s) || bpf_map_lookup_elem(c->m.spaces, &key.space, &sp))
			continue;
		if (cb(ctx, sp.path, s.name))
			return 1;
	}
	return 0;
}

static int local_each_pod(struct ctl *c, int (*cb)(void *ctx, const char *name), void *ctx)
{
	__be32 key, next;
	struct azds_pod p;
	void *cur = NULL;

	while (bpf_map_get_next_key(c->m.pods, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(c->m.pods, &key, &p))
			continue;
		if (cb(ctx, p.name))
			return 1;
	}
	/* and a pod whose namespace exists but that never reached the map: a
	 * daemon killed in the middle of creating it left its netns and veth */
	{
		char prefix[64];
		struct dirent *de;
		DIR *d = opendir("/run/netns");
		size_t pl;
		int stop = 0;

		if (!d)
			return 0;
		azds_pod_netns(&c->in, "", prefix, sizeof(prefix)); /* the names' common start */
		pl = strlen(prefix);
		while (!stop && (de = readdir(d))) {
			const char *name = de->d_name + pl;
			__be32 addr;

			if (strncmp(de->d_name, prefix, pl) || !*name || azds_name_valid("pod", name, &(struct azds_err){}))
				continue;
			if (azds_pod_find(&c->m, name, &addr, &p) == 0)
				continue; /* reported above */
			stop = cb(ctx, name);
		}
		closedir(d);
		if (stop)
			return 1;
	}
	return 0;
}

const struct runtime_ops runtime_local = {
	.name = "local",
	.node_up = local_node_up,
	.space_apply = local_space_apply,
	.space_delete = local_space_delete,
	.service_apply = local_service_apply,
	.service_delete = local_service_delete,
	.pod_create = local_pod_create,
	.pod_start = local_pod_start,
	.pod_stop = local_pod_stop,
	.pod_delete = local_pod_delete,
	.dns_sync = local_dns_sync,
	.each_space = local_each_space,
	.each_service = local_each_service,
	.each_pod = local_each_pod,
};
