// SPDX-License-Identifier: MIT
/*
 * The supervisor (supervise.h): units, their shims, restart policies and
 * the state that lets a restarted controller adopt what still runs.
 *
 * A shim is watched through a pidfd, which works the same for the shims
 * this supervisor forked (its children, reaped with waitid(P_PIDFD)) and
 * for those it adopted from an earlier controller (not its children). The
 * process itself is signalled only through its shim (SIGRTMIN carrying the
 * signal number), which has not reaped it yet, so no pid can have been
 * reused under the signal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include "azds.h"
#include "store.h"
#include "supervise.h"

extern char **environ;

/* path sizes: the state directory, a unit's, a run's, a file's */
#define DIR_MAX 2048
#define UNIT_DIR_MAX (DIR_MAX + SUP_NAME_MAX + 1)
#define RUN_MAX (UNIT_DIR_MAX + 16)
#define FILE_MAX (RUN_MAX + 16)
#define SHIM_REPLY_MS 10000 /* a shim answers "go" once its process is exec'ed */
#define KILL_WAIT_MS 5000   /* after SIGKILL, the most a stop waits */

enum ev_kind { EV_EXIT = 1, EV_READY = 2 };

struct unit;

struct ev {
	int kind;
	struct proc *p;
};

/* One shim and its process. */
struct proc {
	struct unit *u;
	pid_t shim;
	int pidfd;
	pid_t pid; /* the process; 0 until known */
	int ready_fd; /* read end of the readiness pipe, -1 */
	bool ready;
	bool retiring; /* replaced: draining, its exit is no event of the unit */
	int nfds;
	int64_t started_ms;
	char run[RUN_MAX]; /* its run directory */
	struct ev ev_exit, ev_ready;
	struct proc *next; /* the unit's retiring list */
};

struct unit {
	char name[SUP_NAME_MAX];
	char dir[UNIT_DIR_MAX];
	struct unit *next;
	/* the spec, copied; has_spec false for a unit adopted without one yet */
	bool has_spec;
	char **argv, **envp;
	char *log_path, *cgroup;
	int fds[SUP_MAX_FDS];
	int nfds;
	int policy;
	uint32_t backoff_first_ms, backoff_max_ms, backoff_reset_ms;
	bool notify_ready;
	uint64_t log_max_bytes;

	struct proc *cur;
	struct proc *old; /* replaced processes still draining */
	int state;
	int restarts;
	uint32_t next_delay_ms;
	uint32_t backoff_ms; /* the delay chosen for the pending restart */
	int64_t due_mono_ms; /* SUP_BACKOFF: when to restart */
	bool judge;          /* exited while no spec was known: apply the policy at sup_start */
	bool adopted;
	bool started; /* sup_start has been called: the backoff sequence is set */
	bool stopping;
	unsigned seq; /* the last run.<seq> */
	int exit_code, signal;
	int64_t started_ms, finished_ms;
	char reason[128];
};

struct sup {
	char dir[DIR_MAX];
	char shim[PATH_MAX];
	sup_event_cb cb;
	void *ctx;
	int epfd, tfd;
	struct unit *units;
};

static int restart(struct sup *s, struct unit *u);

/* ---- small helpers ------------------------------------------------------ */

int64_t sup_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned long long sup_proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* after "pid (comm) ": the comm may hold spaces and parentheses */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* field 22 is starttime; p is at field 3 */
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		start = strtoull(p + 1, NULL, 10);
	return start;
}

static void rm_tree(const char *dir)
{
	char path[FILE_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) {
		unlink(dir);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			rm_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static char **strv_dup(char *const *v)
{
	size_t n = 0;
	char **out;

	if (!v)
		return NULL;
	while (v[n])
		n++;
	out = calloc(n + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = strdup(v[i]);
		if (!out[i]) {
			while (i > 0)
				free(out[--i]);
			free(out);
			return NULL;
		}
	}
	return out;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void fill_status(const struct unit *u, struct sup_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = u->state;
	st->pid = u->cur ? u->cur->pid : 0;
	st->restarts = u->restarts;
	st->exit_code = u->exit_code;
	st->signal = u->signal;
	st->started_ms = u->started_ms;
	st->finished_ms = u->finished_ms;
	snprintf(st->reason, sizeof(st->reason), "%s", u->reason);
	st->ready = u->cur && u->cur->ready;
	st->nfds = u->cur ? u->cur->nfds : 0;
	st->adopted = u->adopted;
	st->backoff_ms = u->backoff_ms;
}

static void emit(struct sup *s, struct unit *u)
{
	struct sup_status st;

	if (!s->cb)
		return;
	fill_status(u, &st);
	s->cb(s->ctx, u->name, &st);
}

static struct unit *find(struct sup *s, const char *name)
{
	for (struct unit *u = s->units; u; u = u->next)
		if (!strcmp(u->name, name))
			return u;
	return NULL;
}

static struct unit *unit_new(struct sup *s, const char *name)
{
	struct unit *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->dir, sizeof(u->dir), "%s/%s", s->dir, name);
	u->exit_code = -1;
	for (int i = 0; i < SUP_MAX_FDS; i++)
		u->fds[i] = -1;
	u->next = s->units;
	s->units = u;
	return u;
}

static void spec_clear(struct unit *u)
{
	strv_free(u->argv);
	strv_free(u->envp);
	free(u->log_path);
	free(u->cgroup);
	u->argv = u->envp = NULL;
	u->log_path = u->cgroup = NULL;
	for (int i = 0; i < u->nfds; i++)
		if (u->fds[i] >= 0)
			close(u->fds[i]);
	for (int i = 0; i < SUP_MAX_FDS; i++)
		u->fds[i] = -1;
	u->nfds = 0;
	u->has_spec = false;
}

static bool name_ok(const char *n)
{
	size_t len = strlen(n);

	return len > 0 && len < SUP_NAME_MAX && !strchr(n, '/') && n[0] != '.';
}

/* The supervisor keeps its own copies of the spec's fds. */
static int spec_store(struct unit *u, const struct sup_spec *sp)
{
	int fds[SUP_MAX_FDS];

	if (!name_ok(sp->name) || !sp->argv || !sp->argv[0] || sp->argv[0][0] != '/' || !sp->log_path ||
	    sp->nfds < 0 || sp->nfds > SUP_MAX_FDS || (sp->nfds && !sp->fds) || sp->policy < ST_RESTART_ALWAYS ||
	    sp->policy > ST_RESTART_NEVER)
		return -EINVAL;
	for (int i = 0; i < sp->nfds; i++) {
		fds[i] = fcntl(sp->fds[i], F_DUPFD_CLOEXEC, 3);
		if (fds[i] < 0) {
			int err = -errno;

			while (i > 0)
				close(fds[--i]);
			return err;
		}
	}
	spec_clear(u);
	u->argv = strv_dup(sp->argv);
	u->envp = sp->envp ? strv_dup(sp->envp) : NULL;
	u->log_path = strdup(sp->log_path);
	u->cgroup = sp->cgroup ? strdup(sp->cgroup) : NULL;
	memcpy(u->fds, fds, sizeof(int) * (size_t)sp->nfds);
	u->nfds = sp->nfds;
	u->policy = sp->policy;
	u->backoff_first_ms = sp->backoff_first_ms;
	u->backoff_max_ms = sp->backoff_max_ms < sp->backoff_first_ms ? sp->backoff_first_ms : sp->backoff_max_ms;
	u->backoff_reset_ms = sp->backoff_reset_ms ? sp->backoff_reset_ms : SUP_BACKOFF_RESET_MS;
	u->notify_ready = sp->notify_ready;
	u->log_max_bytes = sp->log_max_bytes ? sp->log_max_bytes : SUP_LOG_MAX_DEFAULT;
	if (!u->argv || (sp->envp && !u->envp) || !u->log_path || (sp->cgroup && !u->cgroup)) {
		spec_clear(u);
		return -ENOMEM;
	}
	u->has_spec = true;
	return 0;
}

/* ---- processes ---------------------------------------------------------- */

static void proc_watch(struct sup *s, struct proc *p)
{
	struct epoll_event ev = { .events = EPOLLIN };

	p->ev_exit = (struct ev){ EV_EXIT, p };
	p->ev_ready = (struct ev){ EV_READY, p };
	ev.data.ptr = &p->ev_exit;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, p->pidfd, &ev);
	if (p->ready_fd >= 0) {
		ev.data.ptr = &p->ev_ready;
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, p->ready_fd, &ev);
	}
}

static void proc_ready_close(struct sup *s, struct proc *p)
{
	if (p->ready_fd < 0)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, p->ready_fd, NULL);
	close(p->ready_fd);
	p->ready_fd = -1;
}

static void proc_free(struct sup *s, struct proc *p)
{
	proc_ready_close(s, p);
	if (p->pidfd >= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, p->pidfd, NULL);
		close(p->pidfd);
	}
	free(p);
}

/* Ask the shim to pass sig to its process. */
static int proc_signal(struct proc *p, int sig)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGRTMIN;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = sig;
	return pidfd_send_signal(p->pidfd, SIGRTMIN, &si, 0) ? -errno : 0;
}

/* Has the shim exited? Waits up to ms (0: just look). */
static bool proc_gone(struct proc *p, int ms)
{
	struct pollfd pf = { .fd = p->pidfd, .events = POLLIN };
	int64_t end = azds_mono_ms() + ms;

	for (;;) {
		int left = (int)(end - azds_mono_ms()), n;

		n = poll(&pf, 1, left > 0 ? left : 0);
		if (n > 0)
			return true;
		if (n == 0 || errno != EINTR)
			return false;
	}
}

/* The process's pid, once the shim wrote it. */
static void proc_read_pid(struct proc *p)
{
	char path[FILE_MAX], buf[128];
	int pid = 0;

	if (p->pid)
		return;
	snprintf(path, sizeof(path), "%s/pid", p->run);
	if (azds_read_str(path, buf, sizeof(buf)) == 0 && sscanf(buf, "%d", &pid) == 1)
		p->pid = pid;
}

static void set_current(struct unit *u, const char *run)
{
	char link[FILE_MAX], tmp[FILE_MAX];
	const char *base = strrchr(run, '/');

	snprintf(link, sizeof(link), "%s/current", u->dir);
	snprintf(tmp, sizeof(tmp), "%s/current.tmp", u->dir);
	unlink(tmp);
	if (symlink(base ? base + 1 : run, tmp) == 0)
		rename(tmp, link);
}

static unsigned run_seq(const char *name)
{
	return strncmp(name, "run.", 4) ? 0 : (unsigned)strtoul(name + 4, NULL, 10);
}

/* Remove the run directories of ended processes (the new one, keep, stays). */
static void prune_runs(struct unit *u, const char *keep)
{
	char run[RUN_MAX];
	struct dirent *de;
	DIR *d = opendir(u->dir);

	while (d && (de = readdir(d))) {
		bool live = false;

		if (!run_seq(de->d_name))
			continue;
		snprintf(run, sizeof(run), "%s/%.15s", u->dir, de->d_name); /* run.<seq> */
		if (!strcmp(run, keep) || (u->cur && !strcmp(run, u->cur->run)))
			continue;
		for (struct proc *p = u->old; p; p = p->next)
			live |= !strcmp(run, p->run);
		if (!live)
			rm_tree(run);
	}
	if (d)
		closedir(d);
}

/*
 * Fork the shim. fds 3..3+N-1 carry the spec's fds, 3+N the control
 * socket, 3+N+1 readiness; everything else is close-on-exec. Only
 * async-signal-safe calls between fork and exec.
 */
static pid_t fork_shim(struct sup *s, struct unit *u, char **argv, int ctl, int ready_w)
{
	char **envp = u->envp ? u->envp : environ;
	int n = u->nfds, src[SUP_MAX_FDS + 2], k = 0;
	pid_t pid;

	for (int i = 0; i < n; i++)
		src[k++] = u->fds[i];
	src[k++] = ctl;
	if (ready_w >= 0)
		src[k++] = ready_w;
	pid = fork();
	if (pid != 0)
		return pid;
	{
		int nul, high[SUP_MAX_FDS + 2];
		sigset_t none;

		/* dups above every target first: a source may sit on a target */
		for (int i = 0; i < k; i++) {
			high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3 + k);
			if (high[i] < 0)
				_exit(127);
		}
		for (int i = 0; i < k; i++)
			if (dup2(high[i], 3 + i) < 0)
				_exit(127);
		nul = open("/dev/null", O_RDWR | O_CLOEXEC); /* below 3 or above the targets */
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
			_exit(127);
		close_range(3 + k, ~0U, CLOSE_RANGE_CLOEXEC);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(s->shim, argv, envp);
		_exit(127);
	}
}

static int read_reply(int ctl, char *buf, size_t len)
{
	struct pollfd pf = { .fd = ctl, .events = POLLIN };
	int64_t end = azds_mono_ms() + SHIM_REPLY_MS;
	size_t got = 0;

	while (got < len - 1 && !memchr(buf, '\n', got)) {
		int left = (int)(end - azds_mono_ms());
		ssize_t r;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pf, 1, left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		r = read(ctl, buf + got, len - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EPIPE;
		got += (size_t)r;
		buf[got] = 0;
	}
	buf[got] = 0;
	return 0;
}

/*
 * Start one shim for u (not yet made u->cur). 0 and *out, or -errno with
 * u->reason saying why.
 */
static int proc_start(struct sup *s, struct unit *u, struct proc **out)
{
	char lmax[32], nfds[16], reply[64], line[128], path[FILE_MAX];
	char *argv[16 + 256];
	int sv[2] = { -1, -1 }, rp[2] = { -1, -1 }, argc = 0, err = 0, code = 0;
	struct proc *p;
	pid_t shim;

	if (!u->has_spec)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->u = u;
	p->pidfd = p->ready_fd = -1;
	p->nfds = u->nfds;
	err = azds_mkdir_p(u->dir, 0755);
	if (err) {
		free(p);
		snprintf(u->reason, sizeof(u->reason), "start failed: %.64s: %s", u->dir, strerror(-err));
		return err;
	}
	for (;;) {
		snprintf(p->run, sizeof(p->run), "%s/run.%u", u->dir, ++u->seq);
		if (mkdir(p->run, 0755) == 0)
			break;
		if (errno != EEXIST) {
			err = -errno;
			free(p);
			snprintf(u->reason, sizeof(u->reason), "start failed: %.64s: %s", u->dir, strerror(-err));
			return err;
		}
	}
	snprintf(lmax, sizeof(lmax), "%llu", (unsigned long long)u->log_max_bytes);
	snprintf(nfds, sizeof(nfds), "%d", u->nfds);
	argv[argc++] = s->shim;
	argv[argc++] = "shim";
	argv[argc++] = "--dir";
	argv[argc++] = p->run;
	argv[argc++] = "--name";
	argv[argc++] = u->name;
	argv[argc++] = "--log";
	argv[argc++] = u->log_path;
	argv[argc++] = "--log-max";
	argv[argc++] = lmax;
	argv[argc++] = "--nfds";
	argv[argc++] = nfds;
	if (u->notify_ready)
		argv[argc++] = "--ready";
	if (u->cgroup) {
		argv[argc++] = "--cgroup";
		argv[argc++] = u->cgroup;
	}
	argv[argc++] = "--";
	for (int i = 0; u->argv[i]; i++) {
		if (argc >= (int)(sizeof(argv) / sizeof(argv[0])) - 1) {
			err = -E2BIG;
			goto fail;
		}
		argv[argc++] = u->argv[i];
	}
	argv[argc] = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) || (u->notify_ready && pipe2(rp, O_CLOEXEC))) {
		err = -errno;
		goto fail;
	}
	shim = fork_shim(s, u, argv, sv[1], rp[1]);
	if (shim < 0) {
		err = -errno;
		goto fail;
	}
	close(sv[1]);
	sv[1] = -1;
	if (rp[1] >= 0)
		close(rp[1]);
	rp[1] = -1;
	p->shim = shim;
	p->pidfd = pidfd_open(shim, 0);
	if (p->pidfd < 0) {
		err = -errno;
		kill(shim, SIGKILL); /* our child: its pid cannot have been reused */
		waitpid(shim, NULL, 0);
		goto fail;
	}
	p->ready_fd = rp[0];
	rp[0] = -1;
	/* recorded before "go": a shim nobody recorded starts nothing */
	snprintf(path, sizeof(path), "%s/shim.pid", p->run);
	snprintf(line, sizeof(line), "%d %llu %d %d\n", (int)shim, sup_proc_start(shim), u->restarts, u->nfds);
	err = azds_write_file(path, line);
	if (!err) {
		set_current(u, p->run);
		prune_runs(u, p->run);
	}
	if (!err && write(sv[0], "g", 1) != 1)
		err = -EPIPE;
	if (!err)
		err = read_reply(sv[0], reply, sizeof(reply));
	close(sv[0]);
	sv[0] = -1;
	if (!err && sscanf(reply, "ok %d", &p->pid) == 1) {
		p->started_ms = sup_now_ms();
		p->ready = !u->notify_ready;
		if (p->ready)
			proc_ready_close(s, p);
		proc_watch(s, p);
		*out = p;
		return 0;
	}
	if (!err && sscanf(reply, "err %d", &code) == 1)
		err = -code;
	else if (!err)
		err = -EPROTO;
	/* the shim wrote why into its status; it exits by itself */
	snprintf(path, sizeof(path), "%s/status", p->run);
	if (!proc_gone(p, SHIM_REPLY_MS))
		proc_signal(p, SIGKILL);
	waitid(P_PIDFD, (id_t)p->pidfd, &(siginfo_t){ 0 }, WEXITED);
	if (azds_read_str(path, line, sizeof(line)) == 0) {
		char *why = strstr(line, "start failed");

		if (why) {
			why[strcspn(why, "\n")] = 0;
			snprintf(u->reason, sizeof(u->reason), "%s", why);
		}
	} else {
		snprintf(u->reason, sizeof(u->reason), "start failed: shim: %s", strerror(-err));
	}
	rm_tree(p->run);
	proc_free(s, p);
	return err;
fail:
	snprintf(u->reason, sizeof(u->reason), "start failed: %s", strerror(-err));
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (rp[i] >= 0)
			close(rp[i]);
	}
	rm_tree(p->run);
	proc_free(s, p);
	return err;
}

/* ---- the policy --------------------------------------------------------- */

static void arm_timer(struct sup *s)
{
	struct itimerspec it = { 0 };
	int64_t due = INT64_MAX;

	for (struct unit *u = s->units; u; u = u->next)
		if (u->state == SUP_BACKOFF && u->due_mono_ms < due)
			due = u->due_mono_ms;
	if (due != INT64_MAX) {
		if (due <= 0)
			due = 1;
		it.it_value.tv_sec = due / 1000;
		it.it_value.tv_nsec = (due % 1000) * 1000000;
	}
	timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &it, NULL);
}

static bool wants_restart(const struct unit *u)
{
	if (!u->has_spec || u->stopping)
		return false;
	if (u->policy == ST_RESTART_ALWAYS)
		return true;
	if (u->policy == ST_RESTART_ONFAILURE)
		return u->exit_code != 0 || u->signal != 0;
	return false;
}

/* The delay before the next restart; doubles up to the cap. */
static uint32_t next_delay(struct unit *u)
{
	uint32_t d = u->next_delay_ms, n;

	if (u->started_ms && u->finished_ms - u->started_ms >= u->backoff_reset_ms)
		d = u->backoff_first_ms; /* it ran long enough: start again */
	n = d < SUP_BACKOFF_STEP_MS ? SUP_BACKOFF_STEP_MS : (d > UINT32_MAX / 2 ? UINT32_MAX : d * 2);
	if (d > u->backoff_max_ms)
		d = u->backoff_max_ms;
	u->next_delay_ms = n > u->backoff_max_ms ? u->backoff_max_ms : n;
	return d;
}

/* After an exit (or a failed start): restart now, later, or not. */
static void judge(struct sup *s, struct unit *u)
{
	uint32_t d;

	u->judge = false;
	if (u->stopping) {
		u->state = SUP_STOPPED;
		emit(s, u);
		return;
	}
	if (!wants_restart(u)) {
		u->state = SUP_EXITED;
		emit(s, u);
		return;
	}
	d = next_delay(u);
	u->backoff_ms = d;
	u->state = SUP_BACKOFF;
	u->due_mono_ms = azds_mono_ms() + d;
	emit(s, u);
	if (d == 0)
		restart(s, u);
	else
		arm_timer(s);
}

static int restart(struct sup *s, struct unit *u)
{
	struct proc *p;
	int err;

	u->restarts++;
	err = proc_start(s, u, &p);
	if (err) {
		u->exit_code = -1;
		u->signal = 0;
		u->started_ms = u->finished_ms = sup_now_ms();
		judge(s, u);
		return err;
	}
	u->cur = p;
	u->state = SUP_RUNNING;
	u->started_ms = p->started_ms;
	u->reason[0] = 0;
	emit(s, u);
	return 0;
}

/* What the shim wrote when its process ended. */
static void read_exit(struct unit *u, const struct proc *p)
{
	char path[FILE_MAX], buf[512];
	long long started = 0, finished = 0;
	int code = -1, sig = 0, off = 0;

	snprintf(path, sizeof(path), "%s/status", p->run);
	if (azds_read_str(path, buf, sizeof(buf)) ||
	    sscanf(buf, "%d %d %lld %lld %n", &code, &sig, &started, &finished, &off) < 4) {
		u->exit_code = -1;
		u->signal = 0;
		u->finished_ms = sup_now_ms();
		snprintf(u->reason, sizeof(u->reason), "the shim ended without a status (killed?)");
		return;
	}
	u->exit_code = sig ? -1 : code;
	u->signal = sig;
	if (started)
		u->started_ms = started;
	u->finished_ms = finished;
	buf[strcspn(buf, "\n")] = 0;
	if (off && buf[off])
		snprintf(u->reason, sizeof(u->reason), "%s", buf + off);
	else if (sig)
		snprintf(u->reason, sizeof(u->reason), "killed by SIG%s", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
	else
		snprintf(u->reason, sizeof(u->reason), "exited %d", code);
}

/* The shim p ended (its pidfd is readable). */
static void proc_exited(struct sup *s, struct proc *p)
{
	struct unit *u = p->u;

	/* our child (not one adopted from an earlier controller): reap it */
	waitid(P_PIDFD, (id_t)p->pidfd, &(siginfo_t){ 0 }, WEXITED | WNOHANG);
	if (p->retiring || p != u->cur) {
		struct proc **pp = &u->old;

		while (*pp && *pp != p)
			pp = &(*pp)->next;
		if (*pp)
			*pp = p->next;
		rm_tree(p->run);
		proc_free(s, p);
		return;
	}
	read_exit(u, p);
	u->cur = NULL;
	proc_free(s, p);
	judge(s, u);
}

static void proc_readable(struct sup *s, struct proc *p)
{
	char b;
	ssize_t n = read(p->ready_fd, &b, 1);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	proc_ready_close(s, p);
	if (n == 1) {
		p->ready = true;
		if (p == p->u->cur)
			emit(s, p->u);
	}
	/* EOF: it closed the pipe without a word; its exit will follow or not */
}

/* ---- adoption ----------------------------------------------------------- */

/* The shim recorded in run, if it still runs: its proc, else NULL. */
static struct proc *adopt_run(struct unit *u, const char *run)
{
	char path[FILE_MAX], buf[128];
	unsigned long long start = 0;
	int pid = 0, restarts, nfds = 0;
	struct proc *p;

	snprintf(path, sizeof(path), "%s/shim.pid", run);
	if (azds_read_str(path, buf, sizeof(buf)) || sscanf(buf, "%d %llu %d %d", &pid, &start, &restarts, &nfds) < 2 ||
	    pid <= 1)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->u = u;
	p->ready_fd = -1;
	p->pidfd = pidfd_open(pid, 0);
	/* the pidfd first, then the identity (a reused pid has another start
	 * time), then whether it still runs: an orphan nobody reaped yet is a
	 * zombie, whose pidfd is already readable */
	if (p->pidfd < 0 || sup_proc_start(pid) != start || proc_gone(p, 0)) {
		if (p->pidfd >= 0)
			close(p->pidfd);
		free(p);
		return NULL;
	}
	p->shim = pid;
	p->nfds = nfds;
	p->ready = true; /* it ran before we came: whatever it said, it serves */
	snprintf(p->run, sizeof(p->run), "%s", run);
	proc_read_pid(p);
	return p;
}

/* The restart count recorded with a run (its shim may be gone). */
static int run_restarts(const char *run)
{
	char path[FILE_MAX], buf[128];
	unsigned long long start;
	int pid, restarts = 0;

	snprintf(path, sizeof(path), "%s/shim.pid", run);
	if (azds_read_str(path, buf, sizeof(buf)) == 0 && sscanf(buf, "%d %llu %d", &pid, &start, &restarts) == 3)
		return restarts;
	return 0;
}

/* One unit's directory, as an earlier controller left it. */
static void load_unit(struct sup *s, const char *name)
{
	char cur[64] = "", link[FILE_MAX], run[RUN_MAX];
	struct unit *u = unit_new(s, name);
	struct dirent *de;
	ssize_t n;
	DIR *d;

	if (!u)
		return;
	u->adopted = true;
	snprintf(link, sizeof(link), "%s/current", u->dir);
	n = readlink(link, cur, sizeof(cur) - 1);
	cur[n > 0 ? n : 0] = 0;
	d = opendir(u->dir);
	while (d && (de = readdir(d))) {
		struct proc *p;

		if (!run_seq(de->d_name))
			continue;
		if (run_seq(de->d_name) > u->seq)
			u->seq = run_seq(de->d_name);
		snprintf(run, sizeof(run), "%s/%.15s", u->dir, de->d_name); /* run.<seq> */
		p = adopt_run(u, run);
		if (strcmp(de->d_name, cur)) {
			if (p) {
				/* replaced by a controller that died before it
				 * asked for the drain, perhaps: ask (again) */
				p->retiring = true;
				p->next = u->old;
				u->old = p;
				proc_signal(p, SIGTERM);
				proc_watch(s, p);
			} else {
				rm_tree(run);
			}
			continue;
		}
		u->restarts = run_restarts(run);
		if (p) {
			u->cur = p;
			u->state = SUP_RUNNING;
			u->started_ms = p->started_ms;
			proc_watch(s, p);
			continue;
		}
		/* it ended while no controller watched: judged at sup_start */
		{
			struct proc dead = { 0 };

			snprintf(dead.run, sizeof(dead.run), "%s", run);
			read_exit(u, &dead);
			u->state = SUP_EXITED;
			u->judge = true;
		}
	}
	if (d)
		closedir(d);
	if (!u->cur && !u->judge) {
		u->state = SUP_EXITED;
		u->judge = true;
		snprintf(u->reason, sizeof(u->reason), "no record of its process");
	}
	if (u->cur) {
		char path[FILE_MAX], buf[128];
		unsigned long long start;
		long long started = 0;
		int pid;

		snprintf(path, sizeof(path), "%s/pid", u->cur->run);
		if (azds_read_str(path, buf, sizeof(buf)) == 0 && sscanf(buf, "%d %llu %lld", &pid, &start, &started) == 3)
			u->started_ms = u->cur->started_ms = started;
	}
}

/* ---- the interface ------------------------------------------------------ */

int sup_new(struct sup **out, const char *state_dir, const char *shim_exe, sup_event_cb cb, void *ctx)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sup *s = calloc(1, sizeof(*s));
	struct dirent *de;
	DIR *d;
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	snprintf(s->dir, sizeof(s->dir), "%s", state_dir);
	snprintf(s->shim, sizeof(s->shim), "%s", shim_exe);
	s->cb = cb;
	s->ctx = ctx;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	err = azds_mkdir_p(state_dir, 0755);
	if (s->epfd < 0 || s->tfd < 0 || err) {
		err = err ? err : -errno;
		sup_free(s);
		return err;
	}
	ev.data.ptr = NULL; /* the timer */
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev);
	d = opendir(state_dir);
	while (d && (de = readdir(d)))
		if (de->d_type == DT_DIR && name_ok(de->d_name))
			load_unit(s, de->d_name);
	if (d)
		closedir(d);
	*out = s;
	return 0;
}

/* a unit's memory (its processes are not touched) */
static void unit_free(struct sup *s, struct unit *u)
{
	if (u->cur)
		proc_free(s, u->cur);
	while (u->old) {
		struct proc *p = u->old;

		u->old = p->next;
		proc_free(s, p);
	}
	spec_clear(u);
	free(u);
}

void sup_free(struct sup *s)
{
	if (!s)
		return;
	while (s->units) {
		struct unit *u = s->units;

		s->units = u->next;
		unit_free(s, u);
	}
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->tfd >= 0)
		close(s->tfd);
	free(s);
}

int sup_fd(struct sup *s)
{
	return s->epfd;
}

void sup_dispatch(struct sup *s)
{
	struct epoll_event evs[32];
	int n;

again:
	n = epoll_wait(s->epfd, evs, 32, 0);
	for (int i = 0; i < n; i++) {
		struct ev *e = evs[i].data.ptr;

		if (!e) {
			uint64_t ticks;
			int64_t now = azds_mono_ms();

			if (read(s->tfd, &ticks, sizeof(ticks)) < 0) {
				/* EAGAIN: re-armed meanwhile */
			}
			for (struct unit *u = s->units; u; u = u->next)
				if (u->state == SUP_BACKOFF && u->due_mono_ms <= now)
					restart(s, u);
			arm_timer(s);
		} else if (e->kind == EV_READY && e->p->ready_fd >= 0) {
			proc_readable(s, e->p);
		} else if (e->kind == EV_EXIT) {
			proc_exited(s, e->p);
			/* the rest of the batch may name the proc just freed: ask
			 * epoll again (what is still due is reported again) */
			if (i + 1 < n)
				goto again;
		}
	}
}

int sup_start(struct sup *s, const struct sup_spec *spec)
{
	struct unit *u = find(s, spec->name);
	struct proc *p;
	int err;

	if (!u) {
		if (!name_ok(spec->name))
			return -EINVAL;
		u = unit_new(s, spec->name);
		if (!u)
			return -ENOMEM;
	}
	err = spec_store(u, spec);
	if (err)
		return err;
	u->stopping = false;
	if (!u->started)
		u->next_delay_ms = u->backoff_first_ms;
	u->started = true;
	if (u->cur || u->state == SUP_BACKOFF)
		return 0; /* running (adopted, or ours) or about to restart */
	if (u->judge && u->state == SUP_EXITED) {
		/* it ended while no controller watched: as if it just had */
		judge(s, u);
		return 0;
	}
	err = proc_start(s, u, &p);
	if (err) {
		u->state = SUP_EXITED;
		u->exit_code = -1;
		u->signal = 0;
		u->started_ms = u->finished_ms = sup_now_ms();
		emit(s, u);
		return err;
	}
	u->cur = p;
	u->state = SUP_RUNNING;
	u->started_ms = p->started_ms;
	u->finished_ms = 0;
	u->reason[0] = 0;
	u->next_delay_ms = u->backoff_first_ms;
	emit(s, u);
	return 0;
}

int sup_stop(struct sup *s, const char *name, int timeout_ms)
{
	struct unit *u = find(s, name);
	struct proc *all[64];
	int n = 0;

	if (!u)
		return -ENOENT;
	u->stopping = true;
	if (u->cur)
		all[n++] = u->cur;
	for (struct proc *p = u->old; p && n < 64; p = p->next)
		all[n++] = p;
	for (int i = 0; i < n; i++)
		proc_signal(all[i], SIGTERM);
	for (int i = 0; i < n; i++) {
		if (!proc_gone(all[i], timeout_ms)) {
			proc_signal(all[i], SIGKILL);
			proc_gone(all[i], KILL_WAIT_MS);
		}
		timeout_ms = 0; /* the others had the same time */
	}
	while (u->old)
		proc_exited(s, u->old);
	if (u->cur)
		proc_exited(s, u->cur); /* judged: stopping makes it STOPPED */
	if (u->state != SUP_STOPPED) {
		u->state = SUP_STOPPED;
		emit(s, u);
	}
	arm_timer(s);
	rm_tree(u->dir);
	u->seq = 0;
	return 0;
}

/* Wait until p is ready (1), ended (0) or ms passed (-ETIMEDOUT). */
static int wait_proc_ready(struct sup *s, struct proc *p, int ms)
{
	int64_t end = azds_mono_ms() + ms;

	while (!p->ready) {
		struct pollfd pf[2] = { { .fd = p->pidfd, .events = POLLIN }, { .fd = p->ready_fd, .events = POLLIN } };
		int left = (int)(end - azds_mono_ms()), k;

		if (left <= 0)
			return -ETIMEDOUT;
		k = poll(pf, p->ready_fd >= 0 ? 2 : 1, left);
		if (k < 0 && errno != EINTR)
			return -errno;
		if (k > 0 && (pf[1].revents & (POLLIN | POLLHUP)) && p->ready_fd >= 0) {
			proc_readable(s, p);
			continue;
		}
		if (k > 0 && (pf[0].revents & POLLIN))
			return 0;
	}
	return 1;
}

int sup_wait_ready(struct sup *s, const char *name, int timeout_ms)
{
	struct unit *u = find(s, name);
	int r;

	if (!u)
		return -ENOENT;
	if (!u->cur)
		return -ESRCH;
	r = wait_proc_ready(s, u->cur, timeout_ms);
	if (r == 0) {
		proc_exited(s, u->cur);
		return -ESRCH;
	}
	return r < 0 ? r : 0;
}

int sup_replace(struct sup *s, const struct sup_spec *spec, int ready_timeout_ms, pid_t *old_pid, pid_t *new_pid)
{
	struct unit *u = find(s, spec->name);
	struct proc *old, *p;
	int err, r;

	if (old_pid)
		*old_pid = 0;
	if (new_pid)
		*new_pid = 0;
	if (!u || !u->cur) {
		err = sup_start(s, spec);
		if (!err && new_pid && (u = find(s, spec->name)) && u->cur)
			*new_pid = u->cur->pid;
		return err;
	}
	err = spec_store(u, spec);
	if (err)
		return err;
	old = u->cur;
	err = proc_start(s, u, &p);
	if (err) {
		set_current(u, old->run);
		return err;
	}
	r = wait_proc_ready(s, p, ready_timeout_ms);
	if (r == 0) {
		/* the new one died first: the old one stays the unit */
		read_exit(u, p);
		set_current(u, old->run);
		waitid(P_PIDFD, (id_t)p->pidfd, &(siginfo_t){ 0 }, WEXITED | WNOHANG);
		rm_tree(p->run);
		proc_free(s, p);
		return -ECHILD;
	}
	old->retiring = true;
	old->next = u->old;
	u->old = old;
	proc_signal(old, SIGTERM);
	u->cur = p;
	u->started_ms = p->started_ms;
	u->finished_ms = 0;
	u->state = SUP_RUNNING;
	u->reason[0] = 0;
	if (old_pid)
		*old_pid = old->pid;
	if (new_pid)
		*new_pid = p->pid;
	emit(s, u);
	return 0;
}

int sup_status(struct sup *s, const char *name, struct sup_status *st)
{
	struct unit *u = find(s, name);

	if (!u)
		return -ENOENT;
	if (u->cur)
		proc_read_pid(u->cur);
	fill_status(u, st);
	return 0;
}

int sup_getfds(struct sup *s, const char *name, int *fds, int n)
{
	struct unit *u = find(s, name);

	if (!u)
		return -ENOENT;
	if (!u->cur)
		return -ESRCH;
	if (n < 0 || n > u->cur->nfds)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		fds[i] = pidfd_getfd(u->cur->pidfd, 3 + i, 0);
		if (fds[i] < 0) {
			int err = -errno;

			while (i > 0)
				close(fds[--i]);
			return err;
		}
	}
	return 0;
}

int sup_each(struct sup *s, int (*cb)(void *ctx, const char *name, const struct sup_status *st), void *ctx)
{
	for (struct unit *u = s->units; u; u = u->next) {
		struct sup_status st;
		int r;

		if (u->cur)
			proc_read_pid(u->cur);
		fill_status(u, &st);
		r = cb(ctx, u->name, &st);
		if (r)
			return r;
	}
	return 0;
}

int sup_forget(struct sup *s, const char *name, int timeout_ms)
{
	struct unit **pp, *u;
	int err = sup_stop(s, name, timeout_ms);

	if (err)
		return err;
	for (pp = &s->units; *pp && strcmp((*pp)->name, name); pp = &(*pp)->next)
		;
	u = *pp;
	if (!u)
		return -ENOENT;
	*pp = u->next;
	unit_free(s, u);
	return 0;
}
