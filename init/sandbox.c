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
 * and lets unprivileged ports start at 0 there, and prepares the workspace.
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
	struct azds_podcg_limits lim;
	const char *env[SANDBOX_MAX_ENV];
	int nenv;
	char **argv; /* COMMAND [ARGS]... */
	char podns[128];
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
	fprintf(f, "usage: azds-init [-i INSTANCE] sandbox --pod NAME --uid UID [--workdir DIR]\n"
		   "                 [--memory BYTES] [--pids N] [--cpu MILLIS] [--env K=V]... -- COMMAND [ARGS]...\n\n"
		   "Runs COMMAND in pod NAME (made by azds-init add) as host uid UID (gid UID), in its own\n"
		   "user, PID, IPC, UTS, cgroup and mount namespaces over a read-only host root, with DIR\n"
		   "writable at /workspace (default /var/lib/azds/INSTANCE/pods/NAME/workspace), no\n"
		   "capabilities, no_new_privs and a seccomp filter (docs/sandbox.md).\n"
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
					      { "memory", required_argument, 0, 'm' },
					      { "pids", required_argument, 0, 'P' },
					      { "cpu", required_argument, 0, 'c' },
					      { "env", required_argument, 0, 'e' },
					      { "instance", required_argument, 0, 'i' },
					      { "help", no_argument, 0, 'h' },
					      { 0, 0, 0, 0 } };
	const char *uid = NULL, *workdir = NULL;
	struct azds_err e;
	uint32_t u;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hi:", opts, NULL)) != -1) {
		switch (c) {
		case 'p': sb->pod = optarg; break;
		case 'u': uid = optarg; break;
		case 'w': workdir = optarg; break;
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
	if (workdir)
		snprintf(sb->workdir, sizeof(sb->workdir), "%s", workdir);
	else
		snprintf(sb->workdir, sizeof(sb->workdir), "/var/lib/azds/%s/pods/%s/workspace", sb->in.name, sb->pod);
	sb->workdir_default = !workdir;
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
 * The workspace, made if missing, owned by UID with mode 0700. A directory
 * that exists is handed over only when it is azds's own (the default
 * place), already UID's, or a user's; one that belongs to root elsewhere
 * (/, /etc, ...) is refused. The fd (opened without following a last
 * symlink) is what stage_workspace mounts, so the path is not resolved
 * again and nothing can swap the directory in between.
 */
static int open_workspace(const struct sandbox *sb)
{
	char parent[PATH_MAX], *slash;
	bool made = false;
	struct stat st;
	int fd, err;

	snprintf(parent, sizeof(parent), "%s", sb->workdir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = 0;
		/* azds's own: traversable, not listable (as the controller makes
		 * a pod's directory); stage_workspace spares UID the walk anyway */
		err = azds_mkdir_p(parent, sb->workdir_default ? 0711 : 0755);
		if (err)
			die("workspace", "%s: %s", parent, strerror(-err));
	}
	if (mkdir(sb->workdir, 0700) == 0)
		made = true;
	else if (errno != EEXIST)
		die("workspace", "%s: %s", sb->workdir, strerror(errno));
	fd = open(sb->workdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		die("workspace", "%s: %s", sb->workdir, strerror(errno));
	if (!made && !sb->workdir_default && st.st_uid == 0)
		die("workspace", "%s belongs to root; a pod's workdir must be its own or a user's", sb->workdir);
	if ((st.st_uid != sb->uid || st.st_gid != sb->uid) && fchown(fd, sb->uid, sb->uid))
		die("workspace", "chown %s to %u: %s", sb->workdir, (unsigned)sb->uid, strerror(errno));
	if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700))
		die("workspace", "chmod %s: %s", sb->workdir, strerror(errno));
	return fd;
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

static void own_mount_namespace(void)
{
	if (unshare(CLONE_NEWNS))
		die("mount namespace", "unshare: %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		die("mount namespace", "make / private: %s", strerror(errno));
}

/* ws_fd must be opened in this namespace: a bind's source must be in the
 * caller's own */
static void stage_workspace(int ws_fd)
{
	char src[64];

	if (mount("azds-sandbox", "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k"))
		die("workspace", "tmpfs on /run: %s", strerror(errno));
	if (mkdir(STAGE, 0755))
		die("workspace", "%s: %s", STAGE, strerror(errno));
	snprintf(src, sizeof(src), "/proc/self/fd/%d", ws_fd);
	if (mount(src, STAGE, NULL, MS_BIND, NULL))
		die("workspace", "bind at %s: %s", STAGE, strerror(errno));
	close(ws_fd);
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

/*
 * A command under /tmp or /run (a build tree in /tmp, say) would be hidden
 * by the sandbox's own /tmp and /run: its directory, and only that, is
 * bound read-only at the same place, after them.
 */
static void add_command_dir(struct args *a, const struct sandbox *sb)
{
	static char dir[PATH_MAX];

	if (!sb->argv[0] || sb->argv[0][0] != '/' || !realpath(sb->argv[0], dir))
		return;
	if (strncmp(dir, "/tmp/", 5) && strncmp(dir, "/run/", 5))
		return;
	*strrchr(dir, '/') = 0;
	/* never a directory of the instance's own state or sockets */
	if (!strncmp(dir, "/run/azds", 9) || !strncmp(dir, "/run/netns", 10) || !strcmp(dir, "/tmp") ||
	    !strcmp(dir, "/run"))
		return;
	add3(a, "--ro-bind", dir, dir);
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
	add_command_dir(a, sb);
	add_resolv(a, sb);
	add3(a, "--bind", STAGE, "/workspace");
	add2(a, "--remount-ro", "/");
	add2(a, "--chdir", "/workspace");
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
	char buf[512];

	add(a, "PATH=" SANDBOX_PATH);
	add(a, "HOME=/workspace");
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
	seccomp_fd = sandbox_seccomp_fd(&what);
	if (seccomp_fd < 0)
		die("seccomp filter", "%s: %s", what, strerror(-seccomp_fd));
	build_args(&args, &sb, seccomp_fd);
	build_env(&env, &sb, term);
	limit_cgroups(&sb);
	/* before /run is covered: the namespace is found in /run/netns */
	enter_network(&sb);
	stage_workspace(ws_fd);
	drop_privileges(sb.uid);
	keep_open(seccomp_fd);
	execvpe(args.v[0], args.v, env.v);
	die("exec bwrap", "%s (install bubblewrap: scripts/install-deps.sh)", strerror(errno));
}
