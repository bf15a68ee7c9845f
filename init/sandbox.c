// SPDX-License-Identifier: MIT
/*
 * azds-init sandbox: how a pod's process starts (docs/sandbox.md).
 *
 *   azds-init [-i INSTANCE] sandbox --pod NAME --uid UID [--workdir DIR]
 *             [--memory BYTES] [--pids N] [--cpu MILLIS] [--env K=V]...
 *             -- COMMAND [ARGS]...
 *
 * Run as root by the controller's supervisor for a pod azds-init add made.
 * As root it puts itself into the pod's limit cgroups and its v2 cgroup
 * (the data plane knows the pod by it), enters the pod's network namespace
 * and lets unprivileged ports start at 0 there, and prepares the workspace
 * (the default one made UID's; a lent one opened to UID through ACLs, never
 * chowned) and, for a command under /tmp or /run, that file alone.
 * Then it becomes UID for good (no groups, no capabilities, no_new_privs)
 * and execs bubblewrap, which, unprivileged, makes the user, PID, IPC, UTS,
 * cgroup and mount namespaces: the host's root read-only, the workspace
 * writable at /workspace, private /tmp, /run and /dev, node state hidden,
 * no capabilities, and the default seccomp filter (seccomp.c). bwrap then
 * execs COMMAND; this process's pid is the pod's (bwrap waits for it and
 * exits with its status, 128+N when it is killed by signal N).
 *
 * Nothing is returned on success. A failure before bwrap prints one line,
 * "azds-init: sandbox: <what failed>: <why>", and exits 127; bwrap's own
 * failures print "bwrap: ..." and exit 1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include "azds.h"
#include "node.h"
#include "podcg.h"
#include "sandbox.h"

#define SANDBOX_FAIL 127
#define SANDBOX_UID_MIN 1000 /* below: system accounts, whose files a pod must not own */
#define SANDBOX_UID_NOBODY 65534
#define SANDBOX_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SANDBOX_MAX_ENV 256

struct sandbox {
	struct azds_inst in;
	const char *pod;
	uid_t uid;
	char workdir[PATH_MAX];
	bool workdir_default;
	bool workspace_tree;  /* --workspace-tree: a synced workspace, azds's own copy */
	char mount[PATH_MAX]; /* where the workdir appears (--mount-at, default /workspace) */
	struct azds_podcg_limits lim;
	const char *env[SANDBOX_MAX_ENV];
	int nenv;
	char **argv; /* COMMAND [ARGS]... */
	char podns[128];
	/* a command under /tmp or /run (add_command_file): its fd, staged at
	 * STAGE_COMMAND, and where the pod sees it */
	int cmd_fd;
	char cmd_real[PATH_MAX];
	bool cmd_alias; /* argv[0] is another path to it, also bound */
};

static void __attribute__((noreturn, format(printf, 2, 3))) die(const char *what, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* one line: the supervisor records it as the pod's reason */
	for (char *p = why; *p; p++)
		if (*p == '\n')
			*p = ' ';
	fprintf(stderr, "azds-init: sandbox: %s: %s\n", what, why);
	exit(SANDBOX_FAIL);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: azds-init [-i INSTANCE] sandbox --pod NAME --uid UID [--workdir DIR | --workspace-tree DIR]\n"
		   "                 [--mount-at PATH] [--memory BYTES] [--pids N] [--cpu MILLIS] [--env K=V]... -- COMMAND [ARGS]...\n\n"
		   "Runs COMMAND in pod NAME (made by azds-init add) as host uid UID (gid UID), in its own\n"
		   "user, PID, IPC, UTS, cgroup and mount namespaces over a read-only host root, with DIR\n"
		   "writable at /workspace (default /var/lib/azds/INSTANCE/pods/NAME/workspace), no\n"
		   "capabilities, no_new_privs and a seccomp filter (docs/sandbox.md). Another DIR must\n"
		   "exist and is never chowned: UID gets ACL entries u:UID:rwX on its tree. --workspace-tree\n"
		   "names a synced workspace of the controller's (docs/sync.md), let in the same way.\n"
		   "--mount-at PATH shows the workdir at PATH instead of /workspace (a Dockerfile's WORKDIR).\n"
		   "Limits: --memory bytes or Ki/Mi/Gi (default 512Mi), --pids (512), --cpu millicpus (1000).\n"
		   "Fails with exit status 127 and one line on stderr; otherwise it is COMMAND.\n");
}

/* digits only: no sign, no spaces, no overflow */
static int parse_u64(const char *s, unsigned long long *out, const char **end)
{
	char *e;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &e, 10);
	if (errno)
		return -errno;
	*end = e;
	return 0;
}

static uint64_t parse_memory(const char *s)
{
	static const struct {
		const char *suffix;
		int shift;
	} units[] = { { "", 0 }, { "Ki", 10 }, { "Mi", 20 }, { "Gi", 30 }, { "Ti", 40 } };
	unsigned long long v;
	const char *end;

	if (parse_u64(s, &v, &end) == 0)
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strcmp(end, units[i].suffix) && v <= (~0ULL >> units[i].shift))
				return (uint64_t)v << units[i].shift;
	die("--memory", "\"%s\": a number of bytes, or with Ki, Mi, Gi or Ti", s);
}

static uint32_t parse_u32(const char *opt, const char *s, const char *suffix)
{
	unsigned long long v;
	const char *end;

	if (parse_u64(s, &v, &end) || (strcmp(end, "") && strcmp(end, suffix)) || v > UINT32_MAX)
		die(opt, "\"%s\": a whole number%s%s", s, *suffix ? ", optionally ending in " : "", suffix);
	return (uint32_t)v;
}

static void parse_args(struct sandbox *sb, const char *instance, int argc, char **argv)
{
	static const struct option opts[] = { { "pod", required_argument, 0, 'p' },
					      { "uid", required_argument, 0, 'u' },
					      { "workdir", required_argument, 0, 'w' },
					      { "workspace-tree", required_argument, 0, 'W' },
					      { "mount-at", required_argument, 0, 'M' },
					      { "memory", required_argument, 0, 'm' },
					      { "pids", required_argument, 0, 'P' },
					      { "cpu", required_argument, 0, 'c' },
					      { "env", required_argument, 0, 'e' },
					      { "instance", required_argument, 0, 'i' },
					      { "help", no_argument, 0, 'h' },
					      { 0, 0, 0, 0 } };
	const char *uid = NULL, *workdir = NULL, *mount = "/workspace";
	struct azds_err e;
	char why[160];
	uint32_t u;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hi:", opts, NULL)) != -1) {
		switch (c) {
		case 'p': sb->pod = optarg; break;
		case 'u': uid = optarg; break;
		case 'w': workdir = optarg; break;
		case 'W':
			workdir = optarg;
			sb->workspace_tree = true;
			break;
		case 'M': mount = optarg; break;
		case 'm': sb->lim.memory_bytes = parse_memory(optarg); break;
		case 'P': sb->lim.pids = parse_u32("--pids", optarg, ""); break;
		case 'c': sb->lim.cpu_millis = parse_u32("--cpu", optarg, "m"); break;
		case 'i': instance = optarg; break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				die("--env", "\"%s\": expected NAME=VALUE", optarg);
			if (sb->nenv >= SANDBOX_MAX_ENV)
				die("--env", "at most %d", SANDBOX_MAX_ENV);
			sb->env[sb->nenv++] = optarg;
			break;
		case 'h': usage(stdout); exit(0);
		default: die("arguments", "unknown or incomplete option \"%s\" (see --help)", argv[optind - 1]);
		}
	}
	if (!sb->pod)
		die("arguments", "--pod NAME is required");
	if (azds_name_valid("pod", sb->pod, &e))
		die("--pod", "%s", e.msg);
	if (!uid)
		die("arguments", "--uid UID is required");
	u = parse_u32("--uid", uid, "");
	if (u < SANDBOX_UID_MIN || u == SANDBOX_UID_NOBODY || u == UINT32_MAX)
		die("--uid", "%u: a pod runs as its own unprivileged uid, %d or above and not %d (nobody)", u,
		    SANDBOX_UID_MIN, SANDBOX_UID_NOBODY);
	sb->uid = (uid_t)u;
	if (optind >= argc)
		die("arguments", "a command is required after --");
	sb->argv = argv + optind;
	if (azds_podcg_limits_check(&sb->lim, &e))
		die("limits", "%s", e.msg);
	if (azds_inst_init(&sb->in, instance, &e))
		die("instance", "%s", e.msg);
	if (workdir && workdir[0] != '/')
		die("--workdir", "\"%s\": an absolute path is required", workdir);
	if (azds_mount_path_check(mount, why, sizeof(why)))
		die("--mount-at", "\"%s\": %s", mount, why);
	snprintf(sb->mount, sizeof(sb->mount), "%s", mount);
	snprintf(sb->workdir, sizeof(sb->workdir), "/var/lib/azds/%s/pods/%s/workspace", sb->in.name, sb->pod);
	/* the controller names the default one too: it is still azds's own */
	sb->workdir_default = !workdir || !strcmp(workdir, sb->workdir);
	if (!sb->workdir_default) {
		size_t n = strlen(workdir);

		if (n >= sizeof(sb->workdir))
			die("--workdir", "\"%s\": %s", workdir, strerror(ENAMETOOLONG));
		while (n > 1 && workdir[n - 1] == '/')
			n--;
		snprintf(sb->workdir, sizeof(sb->workdir), "%.*s", (int)n, workdir);
	}
	azds_pod_netns(&sb->in, sb->pod, sb->podns, sizeof(sb->podns));
}

/*
 * Whatever the supervisor left: no inherited descriptors (a listener or a
 * map fd must not reach a pod), stdin from /dev/null, stdout and stderr
 * open, default signal dispositions and an empty mask (exec keeps ignored
 * signals and the mask), a usual umask.
 */
static void clean_process(void)
{
	sigset_t none;
	int fd;

	if (syscall(SYS_close_range, 3U, ~0U, 0U))
		for (fd = 3; fd < 1024; fd++)
			close(fd);
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		die("/dev/null", "%s", strerror(errno));
	dup2(fd, 0);
	for (int i = 1; i <= 2; i++)
		if (fcntl(i, F_GETFD) < 0)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	umask(022);
}

/* The pod must be one azds-init add made: registered, with its namespace
 * and v2 cgroup. */
static void check_pod(const struct sandbox *sb)
{
	char what[128], path[512];
	struct azds_maps m;
	struct azds_err e;
	struct azds_pod p;
	__be32 addr;

	snprintf(what, sizeof(what), "pod \"%s\"", sb->pod);
	if (azds_maps_open(&sb->in, &m, &e))
		die(what, "%s", e.msg);
	if (azds_pod_find(&m, sb->pod, &addr, &p)) {
		azds_maps_close(&m);
		die(what, "not registered in instance \"%s\" (azds-init add --pod %s --space SPACE makes it)",
		    sb->in.name, sb->pod);
	}
	azds_maps_close(&m);
	snprintf(path, sizeof(path), "/run/netns/%s", sb->podns);
	if (access(path, F_OK))
		die(what, "network namespace %s: %s (run azds-init add again)", path, strerror(errno));
	if (!sb->in.cgroup_dir[0])
		die(what, "no cgroup v2 hierarchy is mounted (see docs/operations.md)");
	azds_pod_cgroup(&sb->in, sb->pod, path, sizeof(path));
	if (access(path, F_OK))
		die(what, "cgroup %s: %s (run azds-init add again)", path, strerror(errno));
}

/*
 * The default workspace (/var/lib/azds/<inst>/pods/<pod>/workspace) is
 * azds's own: made if missing, owned by UID with mode 0700. The fd (opened
 * without following a last symlink) is what stage_workspace mounts, so the
 * path is not resolved again and nothing can swap the directory in between.
 */
static int open_default_workspace(const struct sandbox *sb)
{
	char parent[PATH_MAX];
	struct stat st;
	int fd, err;

	snprintf(parent, sizeof(parent), "%s", sb->workdir);
	*strrchr(parent, '/') = 0;
	/* traversable, not listable (as the controller makes a pod's
	 * directory); stage_workspace spares UID the walk anyway */
	err = azds_mkdir_p(parent, 0711);
	if (err)
		die("workspace", "%s: %s", parent, strerror(-err));
	if (mkdir(sb->workdir, 0700) && errno != EEXIST)
		die("workspace", "%s: %s", sb->workdir, strerror(errno));
	fd = open(sb->workdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		die("workspace", "%s: %s", sb->workdir, strerror(errno));
	if ((st.st_uid != sb->uid || st.st_gid != sb->uid) && fchown(fd, sb->uid, sb->uid))
		die("workspace", "chown %s to %u: %s", sb->workdir, (unsigned)sb->uid, strerror(errno));
	if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700))
		die("workspace", "chmod %s: %s", sb->workdir, strerror(errno));
	return fd;
}

/*
 * A workdir the caller gave is someone's directory: it is never made,
 * chowned or chmodded (which would lock its owner, or another pod, out of
 * it); UID is let in through POSIX ACLs (azds_workdir_grant_fd; the
 * controller revokes them when the pod is deleted). Refused: a path that
 * is or passes through a symlink (the fd's real path must be the one
 * given, so what was checked is what is bound), azds's state under
 * /var/lib/azds (other pods' workspaces: a pod's own is the default), and
 * a directory of root's (/, /etc, /tmp and the like).
 */
static int open_given_workdir(const struct sandbox *sb)
{
	char self[64], real[PATH_MAX];
	struct azds_err e;
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(sb->workdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int why = errno;

		if ((why == ELOOP || why == ENOTDIR) && lstat(sb->workdir, &st) == 0 && S_ISLNK(st.st_mode))
			die("workspace", "%s is a symlink: a workdir is given by its real path", sb->workdir);
		if (why == ENOENT)
			die("workspace", "%s does not exist (a workdir given with --workdir is never made)", sb->workdir);
		die("workspace", "%s: %s", sb->workdir, strerror(why));
	}
	if (fstat(fd, &st))
		die("workspace", "%s: %s", sb->workdir, strerror(errno));
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	n = readlink(self, real, sizeof(real) - 1);
	if (n <= 0)
		die("workspace", "%s: %s", self, n ? strerror(errno) : "empty");
	real[n] = 0;
	if (strcmp(real, sb->workdir))
		die("workspace", "%s is %s: a workdir is given by its real path, through no symlink", sb->workdir,
		    real);
	if (sb->workspace_tree) {
		/* azds's own copy of a developer's folder (only the controller,
		 * which is root, runs this): root's when root synced it. The
		 * walk costs a few syscalls per file, so a restart of the pod
		 * that was let in last skips it (AZDS_WS_GRANTED, next to the
		 * tree, names that uid; revoking removes it): what the sync
		 * added since is world-readable, in directories whose default
		 * ACL already lets the uid in */
		char parent[PATH_MAX], want[96], val[96] = "", mstat[64] = "";
		struct stat ps, ms;
		int pfd = -1, mfd;
		char *slash;

		snprintf(parent, sizeof(parent), "%s", sb->workdir);
		slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = 0;
			pfd = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		/* the mark lives beside the tree, in the controller's own
		 * directory (root's, written by nobody else); else no mark */
		if (pfd >= 0 && (fstat(pfd, &ps) || ps.st_uid != 0 || (ps.st_mode & (S_IWGRP | S_IWOTH)))) {
			close(pfd);
			pfd = -1;
		}
		/* the last sync (manifest.log) is part of what was let in */
		if (pfd >= 0 && fstatat(pfd, "manifest.log", &ms, AT_SYMLINK_NOFOLLOW) == 0)
			snprintf(mstat, sizeof(mstat), "%lld.%ld.%lld", (long long)ms.st_mtim.tv_sec, ms.st_mtim.tv_nsec,
				 (long long)ms.st_size);
		snprintf(want, sizeof(want), "%u %s", (unsigned)sb->uid, mstat);
		if (pfd >= 0 && (mfd = openat(pfd, AZDS_WS_GRANTED, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
			ssize_t n = read(mfd, val, sizeof(val) - 1);

			val[n > 0 ? n : 0] = 0;
			close(mfd);
		}
		if (pfd < 0 || strcmp(val, want)) {
			if (pfd >= 0)
				unlinkat(pfd, AZDS_WS_GRANTED, 0);
			if (azds_workspace_grant_fd(fd, sb->uid, &e))
				die("workspace", "grant uid %u access: %s", (unsigned)sb->uid, e.msg);
			if (pfd >= 0) {
				mfd = openat(pfd, AZDS_WS_GRANTED ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
					     0600);
				if (mfd >= 0) {
					bool ok = write(mfd, want, strlen(want)) == (ssize_t)strlen(want);

					close(mfd);
					if (!ok || renameat(pfd, AZDS_WS_GRANTED ".tmp", pfd, AZDS_WS_GRANTED))
						unlinkat(pfd, AZDS_WS_GRANTED ".tmp", 0);
				}
			}
		}
		if (pfd >= 0)
			close(pfd);
		return fd;
	}
	if (!strcmp(real, "/var/lib/azds") || !strncmp(real, "/var/lib/azds/", 14))
		die("workspace", "%s is azds's state: a pod's workdir there is only its own default (no --workdir)",
		    real);
	if (st.st_uid == 0)
		die("workspace", "%s belongs to root; a pod's workdir must be its own or a user's", sb->workdir);
	if (azds_workdir_grant_fd(fd, sb->uid, &e))
		die("workspace", "grant uid %u access: %s", (unsigned)sb->uid, e.msg);
	return fd;
}

static int open_workspace(const struct sandbox *sb)
{
	return sb->workdir_default ? open_default_workspace(sb) : open_given_workdir(sb);
}

/*
 * bwrap resolves a bind's source path as UID, component by component, and
 * UID cannot traverse azds's state directories (0700; --bind-fd resolves
 * the fd's path too). So azds-init, in a mount namespace of its own that
 * bwrap then inherits (private: nothing propagates to the host), binds the
 * workspace at STAGE on a small tmpfs over /run, where UID can reach it.
 * The sandbox gets its own empty /run over that anyway.
 */
#define STAGE "/run/workspace"
#define STAGE_COMMAND "/run/command"

static void own_mount_namespace(void)
{
	if (unshare(CLONE_NEWNS))
		die("mount namespace", "unshare: %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		die("mount namespace", "make / private: %s", strerror(errno));
}

/* ws_fd (and cmd_fd) must be opened in this namespace: a bind's source
 * must be in the caller's own */
static void stage_workspace(int ws_fd, int cmd_fd)
{
	char src[64];
	int fd;

	if (mount("azds-sandbox", "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k"))
		die("workspace", "tmpfs on /run: %s", strerror(errno));
	if (mkdir(STAGE, 0755))
		die("workspace", "%s: %s", STAGE, strerror(errno));
	snprintf(src, sizeof(src), "/proc/self/fd/%d", ws_fd);
	if (mount(src, STAGE, NULL, MS_BIND, NULL))
		die("workspace", "bind at %s: %s", STAGE, strerror(errno));
	close(ws_fd);
	if (cmd_fd < 0)
		return;
	/* a bind mount of its own: the tmpfs's noexec is not the file's */
	fd = open(STAGE_COMMAND, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (fd < 0)
		die("command", "%s: %s", STAGE_COMMAND, strerror(errno));
	close(fd);
	snprintf(src, sizeof(src), "/proc/self/fd/%d", cmd_fd);
	if (mount(src, STAGE_COMMAND, NULL, MS_BIND, NULL))
		die("command", "bind at %s: %s", STAGE_COMMAND, strerror(errno));
	close(cmd_fd);
}

static void limit_cgroups(const struct sandbox *sb)
{
	char what[128];
	struct azds_err e;
	int err;

	snprintf(what, sizeof(what), "pod \"%s\": cgroups", sb->pod);
	if (azds_podcg_setup(&sb->in, sb->pod, &sb->lim, &e))
		die(what, "%s", e.msg);
	err = azds_podcg_join(&sb->in, sb->pod, 0);
	if (err)
		die(what, "join: %s", strerror(-err));
}

/* The pod's network namespace; as in a container, any port can be bound
 * there without privilege (the setting is the namespace's own). */
static void enter_network(const struct sandbox *sb)
{
	const char *knob = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
	int saved, err, fd;

	err = azds_netns_enter(sb->podns, &saved);
	if (err)
		die("network namespace", "%s: %s", sb->podns, strerror(-err));
	close(saved);
	/* /proc/sys/net is the opener's namespace: the pod's from here on */
	fd = open(knob, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		die("network namespace", "%s in %s: %s", knob, sb->podns, strerror(errno));
	close(fd);
}

static void check_no_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		die("drop privileges", "capget: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			die("drop privileges", "capabilities remain after setuid");
	if (setuid(0) == 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		die("drop privileges", "root could be regained");
}

/* For good: the bounding set and ambient capabilities go first (they need
 * root), then groups, gid and uid; no_new_privs keeps it that way. */
static void drop_privileges(uid_t uid)
{
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
			die("drop privileges", "bounding set: %s", strerror(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		die("drop privileges", "ambient capabilities: %s", strerror(errno));
	if (setgroups(0, NULL))
		die("drop privileges", "setgroups: %s", strerror(errno));
	if (setresgid(uid, uid, uid))
		die("drop privileges", "setresgid %u: %s", (unsigned)uid, strerror(errno));
	if (setresuid(uid, uid, uid))
		die("drop privileges", "setresuid %u: %s", (unsigned)uid, strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die("drop privileges", "no_new_privs: %s", strerror(errno));
	check_no_caps();
}

/* ---- bwrap's command line -------------------------------------------- */

struct args {
	char **v;
	int n, cap;
};

static void add(struct args *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 128;
		a->v = realloc(a->v, (size_t)a->cap * sizeof(*a->v));
		if (!a->v)
			die("bwrap arguments", "out of memory");
	}
	a->v[a->n] = strdup(s);
	if (!a->v[a->n])
		die("bwrap arguments", "out of memory");
	a->v[++a->n] = NULL;
}

static void add2(struct args *a, const char *s1, const char *s2)
{
	add(a, s1);
	add(a, s2);
}

static void add3(struct args *a, const char *s1, const char *s2, const char *s3)
{
	add(a, s1);
	add2(a, s2, s3);
}

/* hide a host directory behind an empty read-only tmpfs (if it exists) */
static void mask(struct args *a, const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) || !S_ISDIR(st.st_mode))
		return;
	add2(a, "--tmpfs", dir);
	add2(a, "--remount-ro", dir);
}

/*
 * The host's root, read-only, entry by entry on bwrap's own (tmpfs) root:
 * a plain --ro-bind / / would leave no place for /workspace, since bwrap
 * could not create the mount point in a read-only root. /proc, /dev, /tmp
 * and /run are the sandbox's own; / itself is made read-only at the end.
 */
static void add_root(struct args *a)
{
	static const char *const own[] = { "proc", "dev", "tmp", "run", "sys", "workspace" };
	char path[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d = opendir("/");

	if (!d)
		die("host root", "%s", strerror(errno));
	while ((de = readdir(d))) {
		bool skip = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");

		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			skip |= !strcmp(de->d_name, own[i]);
		snprintf(path, sizeof(path), "/%s", de->d_name);
		if (skip || lstat(path, &st))
			continue;
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(path, target, sizeof(target) - 1);

			if (n <= 0)
				continue;
			target[n] = 0;
			add3(a, "--symlink", target, path);
		} else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
			add3(a, "--ro-bind", path, path);
		}
	}
	closedir(d);
	/* ip's per-namespace files: every pod namespace of the node by name
	 * (the pod's own resolv.conf is bound from there over /etc/resolv.conf) */
	mask(a, "/etc/netns");
	add3(a, "--ro-bind", "/sys", "/sys");
	mask(a, "/sys/fs/bpf");    /* pinned maps and programs */
	mask(a, "/sys/fs/cgroup"); /* every cgroup of the host */
	add2(a, "--dev", "/dev");
	add2(a, "--remount-ro", "/dev");
	add2(a, "--tmpfs", "/dev/shm");
	add2(a, "--proc", "/proc");
	add3(a, "--perms", "1777", "--tmpfs");
	add(a, "/tmp");
	/* an empty /run hides /run/azds (the API socket, pid files), /run/netns
	 * and every host daemon's socket */
	add2(a, "--tmpfs", "/run");
	if (lstat("/var/run", &st) == 0 && S_ISDIR(st.st_mode))
		add2(a, "--tmpfs", "/var/run"); /* not the usual symlink to /run */
	mask(a, "/var/lib/azds"); /* state and other pods' workspaces */
}

/* The pod's resolv.conf (its space's search list) over the host's. Where
 * /etc/resolv.conf is a symlink, the bind goes to its target, creating it
 * when the target is in a directory that is the sandbox's own. */
static void add_resolv(struct args *a, const struct sandbox *sb)
{
	char src[300], dest[PATH_MAX], dir[PATH_MAX];

	snprintf(src, sizeof(src), "/etc/netns/%s/resolv.conf", sb->podns);
	if (access(src, R_OK))
		die("resolv.conf", "%s: %s (run azds-init add again)", src, strerror(errno));
	if (!realpath("/etc/resolv.conf", dest))
		snprintf(dest, sizeof(dest), "/etc/resolv.conf");
	if (!strncmp(dest, "/run/", 5) || !strncmp(dest, "/tmp/", 5)) {
		snprintf(dir, sizeof(dir), "%s", dest);
		*strrchr(dir, '/') = 0;
		add2(a, "--dir", dir);
	} else if (access(dest, F_OK)) {
		die("resolv.conf", "the host has no %s to bind the pod's over", dest);
	}
	add3(a, "--ro-bind", src, dest);
}

/* a path under the places the sandbox has its own (empty) copy of */
static bool under_own_dir(const char *path)
{
	return !strncmp(path, "/tmp/", 5) || !strncmp(path, "/run/", 5);
}

/* no "//", "/./" or "/../": bwrap makes each of its directories */
static bool plain_path(const char *path)
{
	for (const char *p = path; (p = strchr(p, '/')); p++) {
		size_t n = strcspn(p + 1, "/");

		if (!n || (n == 1 && p[1] == '.') || (n == 2 && p[1] == '.' && p[2] == '.'))
			return false;
	}
	return true;
}

/*
 * A command under /tmp or /run (a build tree in /tmp, say) would be hidden
 * by the sandbox's own /tmp and /run. Only the file itself is shown there,
 * read-only at the same path (and at argv[0] when that is a symlink to it
 * under /tmp or /run): never its directory, which could be /tmp/.X11-unix
 * with the host's X sockets. It must be a regular file not writable by
 * group or others (which could change it under the running pod), and the
 * path is walked as UID (setfsuid, no groups: the same permission checks
 * UID would meet), so root's staging never lets the pod reach a file its
 * uid could not. The fd, opened without following a last symlink and
 * checked to be at the path resolved, is what stage_workspace mounts: a
 * file swapped for a symlink or a directory meanwhile changes nothing.
 */
static void open_command(struct sandbox *sb)
{
	const char *cmd = sb->argv[0];
	char self[64], real[PATH_MAX];
	bool alias;
	struct stat st;
	ssize_t n;
	int fd, saved;

	sb->cmd_fd = -1;
	if (cmd[0] != '/' || !realpath(cmd, sb->cmd_real))
		return; /* relative (PATH, /workspace) or missing: bwrap's exec says so */
	alias = strcmp(cmd, sb->cmd_real) && under_own_dir(cmd) && plain_path(cmd);
	if (!under_own_dir(sb->cmd_real) && !alias)
		return; /* in the read-only host root, as it is */
	if (!strncmp(sb->cmd_real, "/run/azds/", 10) || !strncmp(sb->cmd_real, "/run/netns/", 11))
		die("command", "%s: azds's runtime directory is never shown to a pod", sb->cmd_real);
	if (setgroups(0, NULL))
		die("command", "setgroups: %s", strerror(errno));
	setfsgid(sb->uid);
	setfsuid(sb->uid);
	fd = open(sb->cmd_real, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	saved = errno;
	setfsuid(0);
	setfsgid(0);
	if (setfsuid((uid_t)-1) != 0 || setfsgid((gid_t)-1) != 0)
		die("command", "setfsuid: root's filesystem ids not restored");
	if (fd < 0)
		die("command", "%s: %s (as uid %u)", sb->cmd_real, strerror(saved), (unsigned)sb->uid);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	n = readlink(self, real, sizeof(real) - 1);
	if (n <= 0 || fstat(fd, &st))
		die("command", "%s: %s", sb->cmd_real, n ? strerror(errno) : "empty path");
	real[n] = 0;
	if (strcmp(real, sb->cmd_real))
		die("command", "%s changed while it was checked (now %s)", sb->cmd_real, real);
	if (!S_ISREG(st.st_mode))
		die("command", "%s: a command under /tmp or /run must be a regular file", sb->cmd_real);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		die("command", "%s is writable by group or others (mode %04o): a command under /tmp or /run must not be",
		    sb->cmd_real, (unsigned)(st.st_mode & 07777));
	sb->cmd_fd = fd;
	sb->cmd_alias = alias;
}

static void add_command_file(struct args *a, const struct sandbox *sb)
{
	if (sb->cmd_fd < 0)
		return;
	if (under_own_dir(sb->cmd_real))
		add3(a, "--ro-bind", STAGE_COMMAND, sb->cmd_real);
	if (sb->cmd_alias)
		add3(a, "--ro-bind", STAGE_COMMAND, sb->argv[0]);
}

/*
 * The workdir at PATH. Where PATH's parent is on the sandbox's own root
 * (/app, /src, /workspace) bwrap makes the mount point there. Where it is
 * under a host directory that exists (/usr/src/app, /home/node/app), the
 * deepest existing one becomes a tmpfs holding the host's entries again,
 * read-only, so the mount point can be made without touching the host.
 */
static void add_mount(struct args *a, const char *path)
{
	char anc[PATH_MAX], entry[PATH_MAX + 256], target[PATH_MAX];
	struct stat st;
	struct dirent *de;
	char *slash;
	DIR *d;

	snprintf(anc, sizeof(anc), "%s", path);
	/* the deepest existing host ancestor; "" when only / exists */
	for (;;) {
		slash = strrchr(anc, '/');
		*slash = 0;
		if (!anc[0] || (lstat(anc, &st) == 0 && S_ISDIR(st.st_mode)))
			break;
	}
	/* the host has it (a mount over it), or bwrap makes it on a tmpfs of
	 * the sandbox's own: its root, /tmp or /run */
	if ((lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) || !anc[0] || !strcmp(anc, "/tmp") ||
	    !strcmp(anc, "/run") || under_own_dir(anc)) {
		add3(a, "--bind", STAGE, path);
		return;
	}
	d = opendir(anc);
	if (!d)
		die("--mount-at", "%s: %s", anc, strerror(errno));
	add2(a, "--tmpfs", anc);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(entry, sizeof(entry), "%s/%s", anc, de->d_name);
		if (lstat(entry, &st))
			continue;
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(entry, target, sizeof(target) - 1);

			if (n > 0) {
				target[n] = 0;
				add3(a, "--symlink", target, entry);
			}
		} else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
			add3(a, "--ro-bind", entry, entry);
		}
	}
	closedir(d);
	add3(a, "--bind", STAGE, path);
	add2(a, "--remount-ro", anc);
	/* the host's entries came back whole: what add_root hid below anc
	 * (azds's state under /var/lib, /var/run) is hidden again */
	if (!strncmp("/var/lib/azds", anc, strlen(anc)) && "/var/lib/azds"[strlen(anc)] == '/')
		mask(a, "/var/lib/azds");
	if (!strncmp("/var/run", anc, strlen(anc)) && "/var/run"[strlen(anc)] == '/' && lstat("/var/run", &st) == 0 &&
	    S_ISDIR(st.st_mode))
		add2(a, "--tmpfs", "/var/run");
}

static void build_args(struct args *a, const struct sandbox *sb, int seccomp_fd)
{
	char fd[16];

	add(a, "bwrap");
	/* user first: unprivileged, the other namespaces are made inside it;
	 * --disable-userns also stops a nested one (seccomp does too) */
	add2(a, "--unshare-user", "--disable-userns");
	add2(a, "--unshare-pid", "--unshare-ipc");
	add2(a, "--unshare-uts", "--unshare-cgroup-try");
	add2(a, "--hostname", sb->pod);
	/* the supervisor's stop reaches the command; no TIOCSTI into a tty */
	add2(a, "--die-with-parent", "--new-session");
	add_root(a);
	add_command_file(a, sb);
	add_resolv(a, sb);
	add_mount(a, sb->mount);
	add2(a, "--remount-ro", "/");
	add2(a, "--chdir", sb->mount);
	add2(a, "--cap-drop", "ALL");
	snprintf(fd, sizeof(fd), "%d", seccomp_fd);
	add2(a, "--seccomp", fd);
	add(a, "--");
	for (char **p = sb->argv; *p; p++)
		add(a, *p);
}

/* PATH, HOME, HOSTNAME, TERM if set, then --env (a later one wins) */
static void build_env(struct args *a, const struct sandbox *sb, const char *term)
{
	char buf[PATH_MAX + 8];

	add(a, "PATH=" SANDBOX_PATH);
	snprintf(buf, sizeof(buf), "HOME=%s", sb->mount);
	add(a, buf);
	snprintf(buf, sizeof(buf), "HOSTNAME=%s", sb->pod);
	add(a, buf);
	if (term) {
		snprintf(buf, sizeof(buf), "TERM=%s", term);
		add(a, buf);
	}
	for (int i = 0; i < sb->nenv; i++) {
		size_t klen = (size_t)(strchr(sb->env[i], '=') - sb->env[i]) + 1;

		for (int j = 0; j < a->n; j++) {
			if (!strncmp(a->v[j], sb->env[i], klen)) {
				free(a->v[j]);
				a->v[j] = a->v[--a->n];
				a->v[a->n] = NULL;
				break;
			}
		}
		add(a, sb->env[i]);
	}
}

static void keep_open(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC))
		die("bwrap", "keep fd %d open: %s", fd, strerror(errno));
}

int sandbox_main(const char *instance, int argc, char **argv)
{
	struct sandbox sb = {};
	struct args args = {}, env = {};
	const char *term, *what;
	char termbuf[128] = "";
	int ws_fd, seccomp_fd;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	term = getenv("TERM");
	if (term && strlen(term) < sizeof(termbuf))
		term = strcpy(termbuf, term);
	else
		term = NULL;
	clean_process();
	parse_args(&sb, instance, argc, argv);
	if (geteuid() != 0)
		die("privileges", "must run as root (it drops to --uid itself)");
	check_pod(&sb);
	own_mount_namespace();
	ws_fd = open_workspace(&sb);
	open_command(&sb);
	seccomp_fd = sandbox_seccomp_fd(&what);
	if (seccomp_fd < 0)
		die("seccomp filter", "%s: %s", what, strerror(-seccomp_fd));
	build_args(&args, &sb, seccomp_fd);
	build_env(&env, &sb, term);
	limit_cgroups(&sb);
	/* before /run is covered: the namespace is found in /run/netns */
	enter_network(&sb);
	stage_workspace(ws_fd, sb.cmd_fd);
	drop_privileges(sb.uid);
	keep_open(seccomp_fd);
	execvpe(args.v[0], args.v, env.v);
	die("exec bwrap", "%s (install bubblewrap: scripts/install-deps.sh)", strerror(errno));
}
