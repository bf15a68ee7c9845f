// SPDX-License-Identifier: MIT
/*
 * The shim: one per supervised process (azds-controller shim ...).
 *
 *   azds-controller shim --dir RUN --name NAME --log FILE [--log-max BYTES]
 *                        [--nfds N] [--ready] [--cgroup DIR] -- ARGV...
 *
 * It is started by the supervisor with fds 3..3+N-1 to hand on, 3+N its
 * control socket and, with --ready, 3+N+1 the write end of the readiness
 * pipe. It waits for the supervisor's "go" (written once the supervisor
 * has recorded the shim: a shim whose supervisor died before that starts
 * nothing), starts ARGV with those fds (readiness at 3+N, named by
 * AZDS_READY_FD) and everything else closed, copies its output into FILE
 * (rotated to FILE.1 above --log-max), forwards the signals it gets, and
 * when the process ends writes RUN/status and exits. It holds the fds all
 * along: a supervisor that restarted takes copies of them (pidfd_getfd).
 * The process dies with its shim (PR_SET_PDEATHSIG), so it never runs
 * unwatched.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include "azds.h"
#include "supervise.h"

struct shim {
	const char *dir, *name, *log_path, *cgroup;
	uint64_t log_max, log_size;
	int log_fd;
	int idx_fd;	    /* FILE.idx: "<unix ms> <offset>" lines, for logs ?since= */
	int64_t idx_last_ms; /* of the last line written there */
	int nfds;
	bool ready;
	char **argv;
	pid_t child;
	int64_t started_ms;
};

/* Stages of a failed start, as the child reports them. */
enum { START_CGROUP = 1, START_EXEC = 2 };

#define IDX_EVERY_MS 250 /* the index's resolution: ?since= finds bytes this close */
#define IDX_MAX (1u << 20) /* bytes of FILE.idx; past it the index starts over */

static void log_open(struct shim *sh, bool truncate)
{
	char idx[PATH_MAX + 8];
	struct stat st;

	sh->log_fd = open(sh->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0640);
	sh->log_size = sh->log_fd >= 0 && fstat(sh->log_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	/* the time index goes with the file it indexes: a new log, a new index */
	snprintf(idx, sizeof(idx), "%s.idx", sh->log_path);
	if (sh->idx_fd >= 0)
		close(sh->idx_fd);
	sh->idx_fd = open(idx, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0640);
	sh->idx_last_ms = 0;
}

/* one index line for bytes written from now on, at most every IDX_EVERY_MS */
static void idx_mark(struct shim *sh)
{
	struct timespec ts;
	struct stat st;
	char line[64];
	int64_t now;
	int n;

	if (sh->idx_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (sh->idx_last_ms && now - sh->idx_last_ms < IDX_EVERY_MS)
		return;
	if (fstat(sh->idx_fd, &st) == 0 && (uint64_t)st.st_size > IDX_MAX && ftruncate(sh->idx_fd, 0))
		return;
	n = snprintf(line, sizeof(line), "%lld %llu\n", (long long)now, (unsigned long long)sh->log_size);
	if (write(sh->idx_fd, line, (size_t)n) == n)
		sh->idx_last_ms = now;
}

/* Append to the log, never letting it pass log_max: FILE.1 takes the old part. */
static void log_write(struct shim *sh, const char *p, size_t len)
{
	while (len > 0 && sh->log_fd >= 0) {
		size_t room = sh->log_size < sh->log_max ? sh->log_max - sh->log_size : 0;
		ssize_t n;

		if (room == 0) {
			char old[PATH_MAX + 8];

			snprintf(old, sizeof(old), "%s.1", sh->log_path);
			close(sh->log_fd);
			rename(sh->log_path, old);
			log_open(sh, true);
			continue;
		}
		idx_mark(sh);
		n = write(sh->log_fd, p, len < room ? len : room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a full disk loses output, never the process */
		sh->log_size += (uint64_t)n;
		p += n;
		len -= (size_t)n;
	}
}

static void __attribute__((format(printf, 2, 3))) log_note(struct shim *sh, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	/* a pod's log is what the pod wrote, as kubectl logs shows it; how
	 * it ended is in its status (azds pod list) */
	if (!strncmp(sh->name, "pod-", 4))
		return;
	n = snprintf(line, sizeof(line), "azds-shim: %s: ", sh->name);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	log_write(sh, line, (size_t)n);
}

static int write_state(const struct shim *sh, const char *file, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", sh->dir, file);
	return azds_write_file(path, text);
}

static void write_status(struct shim *sh, int code, int sig, const char *failed)
{
	char text[512];

	snprintf(text, sizeof(text), "%d %d %lld %lld %s\n", code, sig, (long long)sh->started_ms,
		 (long long)sup_now_ms(), failed ? failed : "");
	write_state(sh, "status", text);
}

/*
 * A child born in the unit's cgroup (clone3 CLONE_INTO_CGROUP): moving a
 * process by writing cgroup.procs waits for an RCU grace period, about
 * 10 ms here, which a router restart would spend with connections
 * waiting. *moved is false when the child must join the cgroup itself
 * (no clone3, no cgroup v2 directory, or none asked for).
 */
static pid_t spawn(const struct shim *sh, bool *moved)
{
	*moved = false;
	if (sh->cgroup) {
		int cg = open(sh->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (cg >= 0) {
			struct clone_args ca = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (__u64)cg };
			long pid = syscall(SYS_clone3, &ca, sizeof(ca));
			int err = errno;

			if (pid != 0)
				close(cg);
			if (pid >= 0) {
				*moved = true;
				return (pid_t)pid;
			}
			errno = err;
		}
	}
	return fork();
}

/* In the child: everything the process must not inherit goes, then exec. */
static void __attribute__((noreturn)) child_exec(struct shim *sh, pid_t shim_pid, int out, int errp, bool in_cgroup)
{
	int fail[2] = { START_CGROUP, 0 };
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	/* the process never outlives its shim: nobody would watch it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != shim_pid)
		_exit(127);
	if (sh->cgroup && !in_cgroup) {
		char procs[PATH_MAX];
		int cfd;

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", sh->cgroup);
		cfd = open(procs, O_WRONLY | O_CLOEXEC);
		if (cfd < 0 || write(cfd, "0\n", 2) != 2) {
			fail[1] = errno;
			if (write(errp, fail, sizeof(fail)) < 0)
				_exit(126);
			_exit(126);
		}
		close(cfd);
	}
	dup2(out, 1);
	dup2(out, 2);
	/* readiness moves from 3+N+1 down to 3+N (the control socket's place) */
	if (sh->ready)
		dup2(3 + sh->nfds + 1, 3 + sh->nfds);
	close_range(3 + sh->nfds + (sh->ready ? 1 : 0), ~0U, CLOSE_RANGE_CLOEXEC);
	execv(sh->argv[0], sh->argv);
	fail[0] = START_EXEC;
	fail[1] = errno;
	if (write(errp, fail, sizeof(fail)) < 0)
		_exit(127);
	_exit(127);
}

/* Start the process; 0, or -errno with the status already written. */
static int start_child(struct shim *sh, int *out_fd)
{
	int out[2], errp[2], fail[2];
	pid_t self = getpid();
	bool moved;
	ssize_t n;

	if (pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		int err = -errno;

		write_status(sh, -1, 0, "start failed: pipe");
		return err;
	}
	sh->started_ms = sup_now_ms();
	sh->child = spawn(sh, &moved);
	if (sh->child < 0) {
		int err = -errno;

		write_status(sh, -1, 0, "start failed: fork");
		return err;
	}
	if (sh->child == 0)
		child_exec(sh, self, out[1], errp[1], moved);
	close(out[1]);
	close(errp[1]);
	if (sh->ready)
		close(3 + sh->nfds + 1); /* EOF for the supervisor when the process dies */
	do
		n = read(errp[0], fail, sizeof(fail));
	while (n < 0 && errno == EINTR);
	close(errp[0]);
	if (n == sizeof(fail)) {
		char why[256];

		snprintf(why, sizeof(why), "start failed: %s %s: %s", fail[0] == START_EXEC ? "exec" : "join cgroup",
			 fail[0] == START_EXEC ? sh->argv[0] : sh->cgroup, strerror(fail[1]));
		while (waitpid(sh->child, NULL, 0) < 0 && errno == EINTR)
			;
		log_note(sh, "%s", why);
		write_status(sh, -1, 0, why);
		close(out[0]);
		return -fail[1];
	}
	*out_fd = out[0];
	return 0;
}

/* Forward a signal; the child is ours until we reap it, so its pid is safe. */
static void forward(struct shim *sh, const struct signalfd_siginfo *si)
{
	int sig = (int)si->ssi_signo;

	if ((int)si->ssi_signo == SIGRTMIN)
		sig = si->ssi_int; /* the supervisor's way to ask for any signal, SIGKILL too */
	if (sig > 0 && sig < NSIG && sh->child > 0)
		kill(sh->child, sig);
}

static void copy_output(struct shim *sh, int *out)
{
	char buf[65536];
	ssize_t n = read(*out, buf, sizeof(buf));

	if (n > 0) {
		log_write(sh, buf, (size_t)n);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(*out);
		*out = -1;
	}
}

/* The process ended: what it still wrote (grandchildren may keep the pipe open, so no waiting for EOF). */
static void finish(struct shim *sh, int out, int status)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;

	if (out >= 0) {
		fcntl(out, F_SETFL, O_NONBLOCK);
		while (out >= 0)
			copy_output(sh, &out);
	}
	if (sig)
		log_note(sh, "pid %d killed by signal %d (%s)", (int)sh->child, sig, strsignal(sig));
	else
		log_note(sh, "pid %d exited with status %d", (int)sh->child, code);
	write_status(sh, code, sig, NULL);
}

static int parse(struct shim *sh, int argc, char **argv)
{
	int i;

	memset(sh, 0, sizeof(*sh));
	sh->log_max = SUP_LOG_MAX_DEFAULT;
	sh->log_fd = -1;
	sh->idx_fd = -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--ready")) {
			sh->ready = true;
			continue;
		}
		if (!v)
			return -1;
		i++;
		if (!strcmp(a, "--dir"))
			sh->dir = v;
		else if (!strcmp(a, "--name"))
			sh->name = v;
		else if (!strcmp(a, "--log"))
			sh->log_path = v;
		else if (!strcmp(a, "--cgroup"))
			sh->cgroup = v;
		else if (!strcmp(a, "--log-max"))
			sh->log_max = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--nfds"))
			sh->nfds = atoi(v);
		else
			return -1;
	}
	if (!sh->dir || !sh->name || !sh->log_path || i >= argc || sh->nfds < 0 || sh->nfds > SUP_MAX_FDS ||
	    sh->log_max < 1024 || argv[i][0] != '/')
		return -1;
	sh->argv = argv + i;
	return 0;
}

int sup_shim_main(int argc, char **argv)
{
	static const int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct shim sh;
	struct pollfd pf[2];
	char reply[64], go;
	sigset_t set;
	int ctl, sfd, out = -1, err;
	ssize_t n;

	if (parse(&sh, argc, argv)) {
		fprintf(stderr, "usage: azds-controller shim --dir RUN --name NAME --log FILE [--log-max BYTES] "
				"[--nfds N] [--ready] [--cgroup DIR] -- /ABSOLUTE/PATH [ARGS]...\n"
				"(run by the controller's supervisor, not by hand)\n");
		return 2;
	}
	setsid(); /* no terminal's or controller's process group signal reaches it */
	ctl = 3 + sh.nfds;
	fcntl(ctl, F_SETFD, FD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGRTMIN);
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaddset(&set, fwd[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	log_open(&sh, false);
	if (sh.ready) {
		char v[16];

		snprintf(v, sizeof(v), "%d", 3 + sh.nfds);
		setenv("AZDS_READY_FD", v, 1);
	} else {
		unsetenv("AZDS_READY_FD");
	}
	/* nothing starts before the supervisor has recorded this shim */
	do
		n = read(ctl, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return 0;
	if (sfd < 0) {
		err = -errno;
		write_status(&sh, -1, 0, "start failed: signalfd");
	} else {
		err = start_child(&sh, &out);
	}
	if (err) {
		snprintf(reply, sizeof(reply), "err %d\n", -err);
	} else {
		char pidline[64];

		snprintf(pidline, sizeof(pidline), "%d %llu %lld\n", (int)sh.child, sup_proc_start(sh.child),
			 (long long)sh.started_ms);
		write_state(&sh, "pid", pidline);
		snprintf(reply, sizeof(reply), "ok %d\n", (int)sh.child);
	}
	if (write(ctl, reply, strlen(reply)) < 0) {
		/* the supervisor is gone: it learns the rest from the files */
	}
	close(ctl);
	if (err)
		return 1;
	for (;;) {
		struct signalfd_siginfo si;
		int status, k = 0;

		pf[k++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (out >= 0)
			pf[k++] = (struct pollfd){ .fd = out, .events = POLLIN };
		if (poll(pf, (nfds_t)k, -1) < 0 && errno != EINTR)
			break;
		if (k > 1 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			copy_output(&sh, &out);
		if (!(pf[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			forward(&sh, &si);
			continue;
		}
		if (waitpid(sh.child, &status, WNOHANG) == sh.child) {
			finish(&sh, out, status);
			return 0;
		}
	}
	return 1;
}
