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
#include <endian.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
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
		if (azds_read_str(path, ctrls, sizeof(ctrls)) == 0)
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
	if (azds_read_str(path, cur, sizeof(cur)))
		cur[0] = 0;
	for (int i = 0; i < CG_N; i++)
		if (L->v2[i] && !has_token(cur, cg_name[i], " \n"))
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s+%s", want[0] ? " " : "",
				 cg_name[i]);
	if (!want[0])
		return 0;
	int err = azds_write_str(path, want);

	return err ? azds_err(e, err, "%s: enable %s: %s", path, want, strerror(-err)) : 0;
}

static int write_limit(const char *dir, const char *file, const char *val, struct azds_err *e)
{
	char path[576];
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	err = azds_write_str(path, val);
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
	return azds_write_str(path, val);
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
		long left = deadline - azds_mono_ms();

		while (left > 0 && poll(&pfd[i], 1, (int)left) < 0 && errno == EINTR)
			left = deadline - azds_mono_ms();
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
		else if (azds_mono_ms() >= deadline)
			err = -ETIMEDOUT;
		else if (!listed)
			/* exited, not yet unlinked from the cgroup: brief */
			poll(NULL, 0, 5);
	}
	return err;
}

static int remove_v1(const struct azds_inst *in, const char *pod)
{
	long deadline = azds_mono_ms() + PODCG_KILL_TIMEOUT_MS;
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

/* ---- a graceful stop ------------------------------------------------- */

#define PODCG_TERM_POLL_MS 10

static int pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* is pid's cgroup v2 path (as /proc/PID/cgroup shows it from here) rel? */
static bool pid_in_cgroup(pid_t pid, const char *rel)
{
	char path[64], buf[1024];
	size_t n = strlen(rel);
	const char *l = buf;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (azds_read_str(path, buf, sizeof(buf)))
		return false;
	while (l) {
		if (!strncmp(l, "0::", 3) && !strncmp(l + 3, rel, n) && (l[3 + n] == '\n' || !l[3 + n]))
			return true;
		l = strchr(l, '\n');
		l = l ? l + 1 : NULL;
	}
	return false;
}

/* pid 1 of a PID namespace below ours ("NSpid: 4242 1"): bwrap's init */
static bool pid_ns_init(pid_t pid)
{
	char path[64], buf[2048], *l, *save, *last = NULL;
	int fields = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (azds_read_str(path, buf, sizeof(buf)))
		return false;
	l = strstr(buf, "\nNSpid:");
	if (!l)
		return false;
	l += 7;
	l[strcspn(l, "\n")] = 0;
	for (char *tok = strtok_r(l, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		fields++;
		last = tok;
	}
	return fields > 1 && !strcmp(last, "1");
}

/* how many processes cgroup.procs lists besides keep (-errno: unreadable) */
static int procs_left(const char *procs, pid_t keep)
{
	char line[32];
	int n = 0;
	FILE *f = fopen(procs, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if ((pid_t)atoi(line) != keep)
			n++;
	fclose(f);
	return n;
}

int azds_podcg_term(const struct azds_inst *in, const char *pod, pid_t keep, int timeout_ms)
{
	long deadline = azds_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	char dir[512], procs[576], line[32];
	struct cg_layout L;
	const char *rel;
	int err, left;
	FILE *f;

	if (azds_name_valid("pod", pod, NULL) || !in->cgroup_dir[0])
		return -EINVAL;
	err = layout_read(&L);
	if (err)
		return err;
	azds_pod_cgroup(in, pod, dir, sizeof(dir));
	if (!L.v2root[0] || strncmp(dir, L.v2root, strlen(L.v2root)))
		return -ENOENT;
	rel = dir + strlen(L.v2root);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	f = fopen(procs, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		pid_t pid = (pid_t)atoi(line);
		int fd;

		if (pid <= 0 || pid == keep)
			continue;
		fd = pidfd_open_(pid);
		if (fd < 0)
			continue; /* gone already */
		/* the pidfd pins the process: if it is still the pod's now, the
		 * signal reaches it or nothing (ESRCH), never a reused pid */
		if (pid_in_cgroup(pid, rel) && !pid_ns_init(pid))
			pidfd_signal(fd, SIGTERM);
		close(fd);
	}
	fclose(f);
	for (;;) {
		long now = azds_mono_ms();

		left = procs_left(procs, keep);
		if (left <= 0)
			return left == -ENOENT ? 0 : left;
		if (now >= deadline)
			return -ETIMEDOUT;
		poll(NULL, 0, (int)(deadline - now < PODCG_TERM_POLL_MS ? deadline - now : PODCG_TERM_POLL_MS));
	}
}

/* ---- a workdir the caller gave: POSIX ACLs ---------------------------- */

/*
 * The kernel's own xattr format (linux/posix_acl_xattr.h), read and
 * written through /proc/self/fd/N of a descriptor opened without following
 * symlinks: libacl has no descriptor call for default ACLs, and a path
 * walked again could have been swapped for a symlink.
 */
#define ACL_NAME_ACCESS "system.posix_acl_access"
#define ACL_NAME_DEFAULT "system.posix_acl_default"
#define ACL_MAX_ENTRIES 512
#define ACL_RWX (ACL_READ | ACL_WRITE | ACL_EXECUTE)
#define WORKDIR_MAX_DEPTH 256

struct acl_entry {
	uint16_t tag, perm;
	uint32_t id;
};

struct acl {
	int n;
	struct acl_entry e[ACL_MAX_ENTRIES];
};

static void fd_path(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* 0, -ENODATA when the file has none, or -errno */
static int acl_read(int fd, const char *name, struct acl *a)
{
	uint8_t raw[sizeof(struct posix_acl_xattr_header) + ACL_MAX_ENTRIES * sizeof(struct posix_acl_xattr_entry)];
	struct posix_acl_xattr_header h;
	char path[64];
	ssize_t n;

	fd_path(fd, path, sizeof(path));
	n = getxattr(path, name, raw, sizeof(raw));
	if (n < 0)
		return errno == ERANGE ? -E2BIG : -errno;
	memcpy(&h, raw, sizeof(h) <= (size_t)n ? sizeof(h) : (size_t)n);
	if ((size_t)n < sizeof(h) || le32toh(h.a_version) != POSIX_ACL_XATTR_VERSION ||
	    ((size_t)n - sizeof(h)) % sizeof(struct posix_acl_xattr_entry))
		return -EINVAL;
	a->n = (int)(((size_t)n - sizeof(h)) / sizeof(struct posix_acl_xattr_entry));
	for (int i = 0; i < a->n; i++) {
		struct posix_acl_xattr_entry x;

		memcpy(&x, raw + sizeof(h) + (size_t)i * sizeof(x), sizeof(x));
		a->e[i].tag = le16toh(x.e_tag);
		a->e[i].perm = le16toh(x.e_perm);
		a->e[i].id = le32toh(x.e_id);
	}
	return 0;
}

static int acl_cmp(const void *x, const void *y)
{
	const struct acl_entry *a = x, *b = y;

	if (a->tag != b->tag)
		return a->tag < b->tag ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* sorted as the kernel wants them: by tag (user, users, group, groups,
 * mask, other), then by id */
static int acl_write(int fd, const char *name, struct acl *a)
{
	uint8_t raw[sizeof(struct posix_acl_xattr_header) + ACL_MAX_ENTRIES * sizeof(struct posix_acl_xattr_entry)];
	struct posix_acl_xattr_header h = { .a_version = htole32(POSIX_ACL_XATTR_VERSION) };
	char path[64];

	qsort(a->e, (size_t)a->n, sizeof(a->e[0]), acl_cmp);
	memcpy(raw, &h, sizeof(h));
	for (int i = 0; i < a->n; i++) {
		struct posix_acl_xattr_entry x = { .e_tag = htole16(a->e[i].tag),
						   .e_perm = htole16(a->e[i].perm),
						   .e_id = htole32(a->e[i].id) };

		memcpy(raw + sizeof(h) + (size_t)i * sizeof(x), &x, sizeof(x));
	}
	fd_path(fd, path, sizeof(path));
	if (setxattr(path, name, raw, sizeof(h) + (size_t)a->n * sizeof(struct posix_acl_xattr_entry), 0))
		return -errno;
	return 0;
}

static int acl_find(const struct acl *a, uint16_t tag, uint32_t id)
{
	for (int i = 0; i < a->n; i++)
		if (a->e[i].tag == tag && (tag != ACL_USER && tag != ACL_GROUP ? true : a->e[i].id == id))
			return i;
	return -1;
}

static void acl_put(struct acl *a, uint16_t tag, uint32_t id, uint16_t perm)
{
	int i = acl_find(a, tag, id);

	if (i < 0 && a->n < ACL_MAX_ENTRIES) {
		i = a->n++;
		a->e[i] = (struct acl_entry){ .tag = tag, .id = id };
	}
	if (i >= 0)
		a->e[i].perm = perm;
}

static uint16_t acl_perm(const struct acl *a, uint16_t tag)
{
	int i = acl_find(a, tag, (uint32_t)ACL_UNDEFINED_ID);

	return i < 0 ? 0 : a->e[i].perm;
}

/* what a file without an ACL has: its mode */
static void acl_from_mode(struct acl *a, mode_t mode)
{
	a->n = 0;
	acl_put(a, ACL_USER_OBJ, (uint32_t)ACL_UNDEFINED_ID, (mode >> 6) & 7);
	acl_put(a, ACL_GROUP_OBJ, (uint32_t)ACL_UNDEFINED_ID, (mode >> 3) & 7);
	acl_put(a, ACL_OTHER, (uint32_t)ACL_UNDEFINED_ID, mode & 7);
}

static bool acl_named(const struct acl *a)
{
	for (int i = 0; i < a->n; i++)
		if (a->e[i].tag == ACL_USER || a->e[i].tag == ACL_GROUP)
			return true;
	return false;
}

/* the mask as setfacl computes it: the union of the group class */
static void acl_mask_union(struct acl *a)
{
	uint16_t m = 0;

	for (int i = 0; i < a->n; i++)
		if (a->e[i].tag == ACL_USER || a->e[i].tag == ACL_GROUP || a->e[i].tag == ACL_GROUP_OBJ)
			m |= a->e[i].perm;
	acl_put(a, ACL_MASK, (uint32_t)ACL_UNDEFINED_ID, m);
}

/* u:UID:perm, and a mask that lets it through (grown, never shrunk) */
static bool acl_grant(struct acl *a, uid_t uid, uint16_t perm)
{
	int i = acl_find(a, ACL_USER, uid), m = acl_find(a, ACL_MASK, 0);
	bool changed = false;

	if (i < 0 || (a->e[i].perm & perm) != perm) {
		acl_put(a, ACL_USER, uid, (uint16_t)((i < 0 ? 0 : a->e[i].perm) | perm));
		changed = true;
	}
	if (m < 0) {
		acl_mask_union(a);
		changed = true;
	} else if ((a->e[m].perm & perm) != perm) {
		a->e[m].perm |= perm;
		changed = true;
	}
	return changed;
}

static bool acl_revoke(struct acl *a, uid_t uid)
{
	int i = acl_find(a, ACL_USER, uid);

	if (i < 0)
		return false;
	a->e[i] = a->e[--a->n];
	if (acl_named(a)) {
		acl_mask_union(a);
	} else {
		/* no named entry left: no mask either, so the kernel sees an
		 * ACL equal to the mode, stores none, and the group bits are
		 * the group's own again */
		i = acl_find(a, ACL_MASK, 0);
		if (i >= 0)
			a->e[i] = a->e[--a->n];
	}
	return true;
}

struct workdir_walk {
	uid_t uid, owner;
	dev_t dev;
	bool grant;
	struct azds_err *e;
	int first_err;
	char path[PATH_MAX]; /* for messages */
	bool any_owner; /* a synced workspace: every file, whoever made it (pods of it did) */
};

static int walk_fail(struct workdir_walk *w, int err, const char *what)
{
	if (err == -EOPNOTSUPP)
		err = azds_err(w->e, err, "%s: the filesystem has no POSIX ACLs (a workdir must be on one that does)",
			       w->path);
	else
		err = azds_err(w->e, err, "%s: %s: %s", w->path, what, strerror(-err));
	if (!w->first_err)
		w->first_err = err;
	return err;
}

/* one file or directory's ACLs; fd is O_PATH, st its fstat */
static int walk_one(struct workdir_walk *w, int fd, const struct stat *st)
{
	bool dir = S_ISDIR(st->st_mode);
	uint16_t perm = ACL_READ | ACL_WRITE | (dir || (st->st_mode & 0111) ? ACL_EXECUTE : 0);
	struct acl *acc = malloc(sizeof(*acc)), *def = malloc(sizeof(*def));
	int err = 0;

	if (!acc || !def) {
		err = walk_fail(w, -ENOMEM, "ACL");
		goto out;
	}
	err = acl_read(fd, ACL_NAME_ACCESS, acc);
	if (err == -ENODATA) {
		acl_from_mode(acc, st->st_mode);
		err = 0;
	}
	if (err)
		goto fail_read;
	if (w->grant ? acl_grant(acc, w->uid, perm) : acl_revoke(acc, w->uid)) {
		err = acl_write(fd, ACL_NAME_ACCESS, acc);
		if (err)
			goto fail_write;
	}
	if (!dir)
		goto out;
	err = acl_read(fd, ACL_NAME_DEFAULT, def);
	if (err == -ENODATA && w->grant) {
		/* as setfacl does: a new default ACL starts from the
		 * directory's own entries */
		def->n = 0;
		acl_put(def, ACL_USER_OBJ, (uint32_t)ACL_UNDEFINED_ID, acl_perm(acc, ACL_USER_OBJ));
		acl_put(def, ACL_GROUP_OBJ, (uint32_t)ACL_UNDEFINED_ID, acl_perm(acc, ACL_GROUP_OBJ));
		acl_put(def, ACL_OTHER, (uint32_t)ACL_UNDEFINED_ID, acl_perm(acc, ACL_OTHER));
		err = 0;
	} else if (err == -ENODATA) {
		err = 0;
		goto out;
	}
	if (err)
		goto fail_read;
	if (w->grant && acl_grant(def, w->uid, ACL_RWX)) {
		err = acl_write(fd, ACL_NAME_DEFAULT, def);
	} else if (!w->grant && acl_revoke(def, w->uid)) {
		/* nothing left but the copy of the mode grant seeded: none */
		if (!acl_named(def) && acl_perm(def, ACL_USER_OBJ) == acl_perm(acc, ACL_USER_OBJ) &&
		    acl_perm(def, ACL_GROUP_OBJ) == acl_perm(acc, ACL_GROUP_OBJ) &&
		    acl_perm(def, ACL_OTHER) == acl_perm(acc, ACL_OTHER)) {
			char path[64];

			fd_path(fd, path, sizeof(path));
			err = removexattr(path, ACL_NAME_DEFAULT) ? -errno : 0;
		} else {
			err = acl_write(fd, ACL_NAME_DEFAULT, def);
		}
	}
	if (err)
		goto fail_write;
	goto out;
fail_read:
	err = walk_fail(w, err, "read ACL");
	goto out;
fail_write:
	err = walk_fail(w, err, w->grant ? "set ACL" : "remove ACL entry");
out:
	free(acc);
	free(def);
	return err;
}

/* fd: O_PATH of a directory (closed here, so that a deep tree holds one
 * descriptor per level), stat st; its entries, depth first */
static int walk_dir(struct workdir_walk *w, int fd, const struct stat *st, int depth)
{
	size_t plen = strlen(w->path);
	struct dirent *de;
	int err, dfd;
	DIR *d;

	err = 0;
	if (w->any_owner || st->st_uid == w->owner || (!w->grant && st->st_uid == w->uid))
		err = walk_one(w, fd, st);
	if (!err && depth >= WORKDIR_MAX_DEPTH)
		err = walk_fail(w, -ELOOP, "deeper than 256 directories");
	if (err && (w->grant || depth >= WORKDIR_MAX_DEPTH)) {
		close(fd);
		return err;
	}
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		err = walk_fail(w, -errno, "open");
		if (dfd >= 0)
			close(dfd);
		return err;
	}
	while (!(err && w->grant) && (de = readdir(d))) {
		struct stat cst;
		int cfd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(w->path + plen, sizeof(w->path) - plen, "/%s", de->d_name);
		/* O_PATH | O_NOFOLLOW: a symlink is opened as itself, a fifo
		 * or device is not opened at all; the decision is on what was
		 * opened, so a swapped entry cannot lead elsewhere */
		cfd = openat(dirfd(d), de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			if (errno != ENOENT) /* removed meanwhile: nothing to do */
				err = walk_fail(w, -errno, "open");
			continue;
		}
		if (fstat(cfd, &cst)) {
			err = walk_fail(w, -errno, "stat");
		} else if (cst.st_dev != w->dev) {
			/* another filesystem (a mount point): not ours to change */
		} else if (S_ISDIR(cst.st_mode) && (w->any_owner || cst.st_uid == w->owner || cst.st_uid == w->uid)) {
			err = walk_dir(w, cfd, &cst, depth + 1) ?: err;
			continue; /* cfd is closed */
		} else if (S_ISREG(cst.st_mode) &&
			   (w->any_owner || cst.st_uid == w->owner || (!w->grant && cst.st_uid == w->uid))) {
			err = walk_one(w, cfd, &cst) ?: err;
		}
		close(cfd);
	}
	w->path[plen] = 0;
	closedir(d);
	return err;
}

static int workdir_walk(int dirfd, uid_t uid, bool grant, bool workspace, struct azds_err *e)
{
	struct workdir_walk *w;
	struct stat st;
	char self[64];
	int fd, err;
	ssize_t n;

	if (fstat(dirfd, &st))
		return azds_err(e, errno, "workdir: %s", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return azds_err(e, ENOTDIR, "workdir: not a directory");
	w = calloc(1, sizeof(*w));
	if (!w)
		return azds_err(e, ENOMEM, "workdir: out of memory");
	*w = (struct workdir_walk){ .uid = uid, .owner = st.st_uid, .dev = st.st_dev, .grant = grant, .e = e,
				    .any_owner = workspace };
	fd_path(dirfd, self, sizeof(self));
	n = readlink(self, w->path, sizeof(w->path) - 1);
	if (n > 0)
		w->path[n] = 0;
	else
		snprintf(w->path, sizeof(w->path), "workdir");
	if (grant && st.st_uid == 0 && !workspace)
		err = azds_err(e, EPERM, "%s belongs to root: never a pod's", w->path);
	else if (grant && st.st_uid == uid && !workspace)
		err = 0; /* the pod's own already: nothing to let it into */
	else if ((fd = openat(dirfd, ".", O_PATH | O_CLOEXEC)) < 0)
		err = azds_err(e, errno, "%s: %s", w->path, strerror(errno));
	else {
		err = walk_dir(w, fd, &st, 0);
		if (!grant)
			err = w->first_err;
	}
	free(w);
	return err;
}

int azds_workdir_grant_fd(int dirfd, uid_t uid, struct azds_err *e)
{
	return workdir_walk(dirfd, uid, true, false, e);
}

int azds_workspace_grant_fd(int dirfd, uid_t uid, struct azds_err *e)
{
	return workdir_walk(dirfd, uid, true, true, e);
}

int azds_workdir_grant(const char *dir, uid_t uid, struct azds_err *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), err;

	if (fd < 0)
		return azds_err(e, errno, "%s: %s", dir, strerror(errno));
	err = azds_workdir_grant_fd(fd, uid, e);
	close(fd);
	return err;
}

int azds_workspace_revoke(const char *dir, uid_t uid)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), err;
	char mark[PATH_MAX + 32], *slash;

	/* the uid's next start walks the tree again */
	snprintf(mark, sizeof(mark), "%s", dir);
	slash = strrchr(mark, '/');
	if (slash) {
		char val[96] = "", want[32];
		int mfd;

		snprintf(slash, sizeof(mark) - (size_t)(slash - mark), "/%s", AZDS_WS_GRANTED);
		snprintf(want, sizeof(want), "%u ", (unsigned)uid);
		mfd = open(mark, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (mfd >= 0) {
			ssize_t n = read(mfd, val, sizeof(val) - 1);

			val[n > 0 ? n : 0] = 0;
			close(mfd);
			if (!strncmp(val, want, strlen(want)))
				unlink(mark);
		}
	}
	if (fd < 0)
		return -errno;
	err = workdir_walk(fd, uid, false, true, NULL);
	close(fd);
	return err;
}

int azds_workdir_revoke(const char *dir, uid_t uid)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = workdir_walk(fd, uid, false, false, NULL);
	close(fd);
	return err;
}

int azds_mount_path_check(const char *path, char *why, size_t len)
{
	static const char *const kept[] = { "/usr/bin",	 "/usr/sbin", "/usr/lib",	"/usr/lib32",
					    "/usr/lib64", "/usr/libexec", "/usr/share", "/usr/include",
					    "/usr/local/bin", "/usr/local/lib", "/bin", "/sbin",
					    "/lib",	 "/lib32",	 "/lib64",	"/libx32",
					    "/etc",	 "/var/lib/azds" };
	static const char *const own[] = { "/proc", "/dev", "/sys", "/var/lib/azds", "/var/run", "/run/azds" };
	size_t n = strlen(path);

	if (path[0] != '/' || n < 2 || n > 255) {
		snprintf(why, len, "an absolute path of 2 to 255 bytes is required");
		return -EINVAL;
	}
	if (path[n - 1] == '/') {
		snprintf(why, len, "no trailing \"/\"");
		return -EINVAL;
	}
	for (const char *p = path; (p = strchr(p, '/')); p++) {
		size_t k = strcspn(p + 1, "/");

		if (!k || (k == 1 && p[1] == '.') || (k == 2 && p[1] == '.' && p[2] == '.')) {
			snprintf(why, len, "no \"//\", \".\" or \"..\" components");
			return -EINVAL;
		}
	}
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, len, "no control characters");
			return -EINVAL;
		}
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		size_t k = strlen(own[i]);

		if (!strncmp(path, own[i], k) && (path[k] == 0 || path[k] == '/')) {
			snprintf(why, len, "%s is the sandbox's own, or hidden from pods", own[i]);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (!strncmp(kept[i], path, n) && (kept[i][n] == 0 || kept[i][n] == '/')) {
			snprintf(why, len, "it would hide the host's %s, which the pod runs from", kept[i]);
			return -EINVAL;
		}
	return 0;
}
