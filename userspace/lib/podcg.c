// SPDX-License-Identifier: MIT
/*
 * A pod's resource limits (see podcg.h for the two layouts). Nothing here
 * is cached: which hierarchy holds a controller is read from /proc/mounts
 * at each call, so a node and its tests agree without a shared setting.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "podcg.h"
#include "node.h"

enum { CG_MEMORY, CG_PIDS, CG_CPU, CG_N };
static const char *const cg_name[CG_N] = { "memory", "pids", "cpu" };

#define PODCG_KILL_TIMEOUT_MS 10000
#define PODCG_MAX_DEPTH 32
#define PODCG_BATCH 256 /* pids signalled and waited for at a time */

struct cg_layout {
	char v1[CG_N][256]; /* mount point of the v1 hierarchy holding it, or "" */
	bool v2[CG_N];      /* listed in the v2 root's cgroup.controllers */
	char v2root[256];   /* "" when no v2 tree is mounted */
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* is word one of the separated tokens of list? ("cpu" is not "cpuacct") */
static bool has_token(const char *list, const char *word, const char *seps)
{
	size_t n = strlen(word);

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, seps);

		if (len == n && !strncmp(p, word, n))
			return true;
		p += len;
		p += strspn(p, seps);
	}
	return false;
}

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		err = -errno;
	else
		buf[n] = 0;
	close(fd);
	return err;
}

static int write_small(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int layout_read(struct cg_layout *L)
{
	char line[1024], dev[256], mnt[256], type[64], opts[512], ctrls[512], path[300];
	FILE *f = fopen("/proc/mounts", "re");

	memset(L, 0, sizeof(*L));
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %255s %63s %511s", dev, mnt, type, opts) != 4)
			continue;
		if (!strcmp(type, "cgroup2") && !L->v2root[0]) {
			snprintf(L->v2root, sizeof(L->v2root), "%s", mnt);
		} else if (!strcmp(type, "cgroup")) {
			for (int i = 0; i < CG_N; i++)
				if (!L->v1[i][0] && has_token(opts, cg_name[i], ","))
					snprintf(L->v1[i], sizeof(L->v1[i]), "%s", mnt);
		}
	}
	fclose(f);
	if (L->v2root[0]) {
		snprintf(path, sizeof(path), "%s/cgroup.controllers", L->v2root);
		if (read_small(path, ctrls, sizeof(ctrls)) == 0)
			for (int i = 0; i < CG_N; i++)
				L->v2[i] = !L->v1[i][0] && has_token(ctrls, cg_name[i], " \n");
	}
	return 0;
}

/* <mount>/azds-<inst>[/<pod>] of a v1 hierarchy */
static void v1_dir(const struct cg_layout *L, int i, const struct azds_inst *in, const char *pod, char *buf,
		   size_t len)
{
	if (pod)
		snprintf(buf, len, "%s/azds-%s/%s", L->v1[i], in->name, pod);
	else
		snprintf(buf, len, "%s/azds-%s", L->v1[i], in->name);
}

/* the first controller sharing controller i's v1 hierarchy: each
 * hierarchy's directories are made, joined and removed once */
static bool v1_first(const struct cg_layout *L, int i)
{
	if (!L->v1[i][0])
		return false;
	for (int j = 0; j < i; j++)
		if (!strcmp(L->v1[j], L->v1[i]))
			return false;
	return true;
}

int azds_podcg_limits_check(struct azds_podcg_limits *l, struct azds_err *e)
{
	if (!l->memory_bytes)
		l->memory_bytes = AZDS_POD_MEMORY_DEFAULT;
	if (!l->pids)
		l->pids = AZDS_POD_PIDS_DEFAULT;
	if (!l->cpu_millis)
		l->cpu_millis = AZDS_POD_CPU_DEFAULT;
	if (l->memory_bytes < AZDS_POD_MEMORY_MIN)
		return azds_err(e, EINVAL, "memory limit %" PRIu64 ": at least %llu bytes (4Mi)", l->memory_bytes,
				AZDS_POD_MEMORY_MIN);
	if (l->pids < AZDS_POD_PIDS_MIN || l->pids > AZDS_POD_PIDS_MAX)
		return azds_err(e, EINVAL, "pids limit %u: %d-%d (the sandbox itself takes 3)", l->pids,
				AZDS_POD_PIDS_MIN, AZDS_POD_PIDS_MAX);
	if (l->cpu_millis < AZDS_POD_CPU_MIN || l->cpu_millis > AZDS_POD_CPU_MAX)
		return azds_err(e, EINVAL, "cpu limit %um: %d-%d millicpus", l->cpu_millis, AZDS_POD_CPU_MIN,
				AZDS_POD_CPU_MAX);
	return 0;
}

/* "+memory +pids" into a v2 directory's cgroup.subtree_control, for those
 * not enabled there yet (the v2 root and azds-<inst> hold no processes of
 * their own, so the kernel allows it) */
static int v2_enable(const char *dir, const struct cg_layout *L, struct azds_err *e)
{
	char path[512], cur[512], want[64] = "";

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	if (read_small(path, cur, sizeof(cur)))
		cur[0] = 0;
	for (int i = 0; i < CG_N; i++)
		if (L->v2[i] && !has_token(cur, cg_name[i], " \n"))
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s+%s", want[0] ? " " : "",
				 cg_name[i]);
	if (!want[0])
		return 0;
	int err = write_small(path, want);

	return err ? azds_err(e, err, "%s: enable %s: %s", path, want, strerror(-err)) : 0;
}

static int write_limit(const char *dir, const char *file, const char *val, struct azds_err *e)
{
	char path[576];
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	err = write_small(path, val);
	return err ? azds_err(e, err, "%s = %s: %s", path, val, strerror(-err)) : 0;
}

static int set_limit(int i, bool v2, const char *dir, const struct azds_podcg_limits *l, struct azds_err *e)
{
	char val[64];
	int err;

	switch (i) {
	case CG_MEMORY:
		snprintf(val, sizeof(val), "%" PRIu64, l->memory_bytes);
		return write_limit(dir, v2 ? "memory.max" : "memory.limit_in_bytes", val, e);
	case CG_PIDS:
		snprintf(val, sizeof(val), "%u", l->pids);
		return write_limit(dir, "pids.max", val, e);
	default:
		if (v2) {
			snprintf(val, sizeof(val), "%llu %d", (unsigned long long)l->cpu_millis * 100,
				 AZDS_POD_CPU_PERIOD_US);
			return write_limit(dir, "cpu.max", val, e);
		}
		/* the period first: the quota is checked against it */
		snprintf(val, sizeof(val), "%d", AZDS_POD_CPU_PERIOD_US);
		err = write_limit(dir, "cpu.cfs_period_us", val, e);
		if (err)
			return err;
		snprintf(val, sizeof(val), "%llu", (unsigned long long)l->cpu_millis * 100);
		return write_limit(dir, "cpu.cfs_quota_us", val, e);
	}
}

int azds_podcg_setup(const struct azds_inst *in, const char *pod, const struct azds_podcg_limits *lim,
		     struct azds_err *e)
{
	struct azds_podcg_limits l = *lim;
	struct cg_layout L;
	char dir[512], v2pod[512];
	int err;

	err = azds_name_valid("pod", pod, e);
	if (!err)
		err = azds_podcg_limits_check(&l, e);
	if (err)
		return err;
	err = layout_read(&L);
	if (err)
		return azds_err(e, err, "/proc/mounts: %s", strerror(-err));
	for (int i = 0; i < CG_N; i++)
		if (!L.v1[i][0] && !L.v2[i])
			return azds_err(e, ENOENT, "no %s controller: neither a cgroup v1 hierarchy nor the v2 tree has it",
					cg_name[i]);
	azds_pod_cgroup(in, pod, v2pod, sizeof(v2pod));
	if (L.v2[CG_MEMORY] || L.v2[CG_PIDS] || L.v2[CG_CPU]) {
		if (!in->cgroup_dir[0] || access(v2pod, F_OK))
			return azds_err(e, ENOENT, "pod \"%s\": cgroup %s does not exist (azds-init add makes it)", pod,
					v2pod);
		err = v2_enable(L.v2root, &L, e);
		if (!err)
			err = v2_enable(in->cgroup_dir, &L, e);
		if (err)
			return err;
	}
	for (int i = 0; i < CG_N; i++) {
		if (L.v2[i]) {
			err = set_limit(i, true, v2pod, &l, e);
		} else {
			v1_dir(&L, i, in, pod, dir, sizeof(dir));
			err = azds_mkdir_p(dir, 0755);
			if (err)
				return azds_err(e, err, "cgroup %s: %s", dir, strerror(-err));
			err = set_limit(i, false, dir, &l, e);
		}
		if (err)
			return err;
	}
	return 0;
}

static int join_dir(const char *dir, pid_t pid)
{
	char path[576], val[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(val, sizeof(val), "%d\n", (int)(pid ? pid : getpid()));
	return write_small(path, val);
}

int azds_podcg_join(const struct azds_inst *in, const char *pod, pid_t pid)
{
	struct cg_layout L;
	char dir[512];
	int err;

	if (azds_name_valid("pod", pod, NULL) || !in->cgroup_dir[0])
		return -EINVAL;
	err = layout_read(&L);
	if (err)
		return err;
	for (int i = 0; i < CG_N; i++) {
		if (!v1_first(&L, i))
			continue;
		v1_dir(&L, i, in, pod, dir, sizeof(dir));
		err = join_dir(dir, pid);
		if (err)
			return err;
	}
	/* last: the data plane knows the pod by this one, so a process is
	 * never seen as the pod's before its limits hold */
	azds_pod_cgroup(in, pod, dir, sizeof(dir));
	return join_dir(dir, pid);
}

/* ---- removal: v1 has no cgroup.kill and no populated event ----------- */

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_kill(int pidfd)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

/*
 * SIGKILL the processes listed in dir (up to PODCG_BATCH of them) and wait
 * for each to exit: a pidfd becomes readable when its process is gone,
 * which also removes it from its cgroups. Returns how many were listed.
 */
static int kill_listed(const char *dir, long deadline)
{
	struct pollfd pfd[PODCG_BATCH];
	char path[576], line[32];
	int n = 0, listed = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (n < PODCG_BATCH && fgets(line, sizeof(line), f)) {
		pid_t pid = (pid_t)atoi(line);
		int fd;

		if (pid <= 1)
			continue;
		listed++;
		fd = pidfd_open_(pid);
		if (fd < 0)
			continue; /* already gone */
		pidfd_kill(fd);
		pfd[n].fd = fd;
		pfd[n].events = POLLIN;
		n++;
	}
	fclose(f);
	for (int i = 0; i < n; i++) {
		long left = deadline - now_ms();

		while (left > 0 && poll(&pfd[i], 1, (int)left) < 0 && errno == EINTR)
			left = deadline - now_ms();
		close(pfd[i].fd);
	}
	return listed;
}

/* kill what is in dir and below, then rmdir it, deepest first */
static int kill_rmdir_tree(const char *dir, int depth, long deadline)
{
	char path[512];
	struct dirent *de;
	int err = 0;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!err && (de = readdir(d))) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (depth >= PODCG_MAX_DEPTH ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			err = -ENAMETOOLONG;
		else
			err = kill_rmdir_tree(path, depth + 1, deadline);
	}
	closedir(d);
	while (!err) {
		int listed = kill_listed(dir, deadline);

		if (rmdir(dir) == 0 || errno == ENOENT)
			break;
		if (errno != EBUSY)
			err = -errno;
		else if (now_ms() >= deadline)
			err = -ETIMEDOUT;
		else if (!listed)
			/* exited, not yet unlinked from the cgroup: brief */
			poll(NULL, 0, 5);
	}
	return err;
}

static int remove_v1(const struct azds_inst *in, const char *pod)
{
	long deadline = now_ms() + PODCG_KILL_TIMEOUT_MS;
	struct cg_layout L;
	char dir[512];
	int err, first = 0;

	err = layout_read(&L);
	if (err)
		return err;
	for (int i = 0; i < CG_N; i++) {
		if (!v1_first(&L, i))
			continue;
		v1_dir(&L, i, in, pod, dir, sizeof(dir));
		err = kill_rmdir_tree(dir, 0, deadline);
		if (err && !first)
			first = err;
	}
	return first;
}

int azds_podcg_remove(const struct azds_inst *in, const char *pod)
{
	if (azds_name_valid("pod", pod, NULL))
		return -EINVAL;
	return remove_v1(in, pod);
}

int azds_podcg_remove_instance(const struct azds_inst *in)
{
	return remove_v1(in, NULL);
}

int azds_podcg_dir(const struct azds_inst *in, const char *pod, const char *ctrl, char *buf, size_t len)
{
	struct cg_layout L;
	int err = layout_read(&L);

	if (err)
		return err;
	for (int i = 0; i < CG_N; i++) {
		if (strcmp(ctrl, cg_name[i]))
			continue;
		if (L.v1[i][0])
			v1_dir(&L, i, in, pod, buf, len);
		else if (L.v2[i])
			azds_pod_cgroup(in, pod, buf, len);
		else
			return -ENOENT;
		return 0;
	}
	return -EINVAL;
}
