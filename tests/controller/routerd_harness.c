// SPDX-License-Identifier: MIT
/*
 * routerd_harness: the router unit (controller/routerd.c) under the
 * supervisor, in the foreground, as the controller daemon runs it, for
 * tests/integration/router_restart.sh and the restart benchmark.
 *
 *   routerd_harness -i INST --bin DIR --ctl FIFO --events FILE
 *                   [--workers N] [--router-arg ARG]...
 *
 * The instance must be up without a router (azds-controller start
 * --no-router). Commands, one a line, on FIFO: "restart" (a new router on
 * the same listeners, the old one drains), "stop" (the router and its
 * listeners go, then the harness exits). SIGTERM is "stop". Every
 * supervisor event and command result is a line in FILE:
 *   event router state=running pid=P restarts=R exit=C signal=S ready=0|1 reason=...
 *   ready pid=P | restarted old=P new=P rc=E | stopped rc=E | error MSG
 * A harness killed with SIGKILL leaves the router running; the next one
 * takes its listeners back from the shim (the controller's restart).
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
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "azds.h"
#include "routerd.h"
#include "supervise.h"

static FILE *events;

static void __attribute__((format(printf, 1, 2))) note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(events, fmt, ap);
	va_end(ap);
	fputc('\n', events);
	fflush(events);
}

static const char *state_name(int st)
{
	switch (st) {
	case SUP_RUNNING: return "running";
	case SUP_BACKOFF: return "backoff";
	case SUP_EXITED: return "exited";
	case SUP_STOPPED: return "stopped";
	default: return "?";
	}
}

static void on_event(void *ctx, const char *name, const struct sup_status *st)
{
	(void)ctx;
	note("event %s state=%s pid=%d restarts=%d exit=%d signal=%d ready=%d reason=%s", name, state_name(st->state),
	     (int)st->pid, st->restarts, st->exit_code, st->signal, st->ready, st->reason);
}

static int usage(void)
{
	fprintf(stderr, "usage: routerd_harness -i INST --bin DIR --ctl FIFO --events FILE [--workers N] "
			"[--router-arg ARG]...\n");
	return 2;
}

/* One command; true when the harness is to exit. */
static bool command(struct routerd *rd, const char *cmd)
{
	struct azds_err e = { "" };
	pid_t old_pid = 0, new_pid = 0;
	int err;

	if (!strcmp(cmd, "restart")) {
		err = routerd_restart(rd, NULL, 10000, &old_pid, &new_pid, &e);
		note("restarted old=%d new=%d rc=%d%s%s", (int)old_pid, (int)new_pid, err, err ? " " : "", e.msg);
		return false;
	}
	if (!strcmp(cmd, "stop")) {
		err = routerd_stop(rd, 5000);
		note("stopped rc=%d", err);
		return true;
	}
	if (cmd[0])
		note("error unknown command \"%s\"", cmd);
	return false;
}

int main(int argc, char **argv)
{
	const char *inst = NULL, *bin = NULL, *ctl = NULL, *evf = NULL;
	char *rargs[ROUTERD_MAX_ARGS + 1] = { 0 }, self[PATH_MAX], dir[300], line[256];
	unsigned workers = 0;
	int nr = 0, cfd, sfd, err;
	struct azds_inst in;
	struct azds_err e = { "" };
	struct routerd rd;
	struct sup_status st;
	struct sup *s;
	sigset_t set;
	size_t have = 0;
	ssize_t n;

	if (argc > 1 && !strcmp(argv[1], "shim"))
		return sup_shim_main(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "-i"))
			inst = v;
		else if (!strcmp(a, "--bin"))
			bin = v;
		else if (!strcmp(a, "--ctl"))
			ctl = v;
		else if (!strcmp(a, "--events"))
			evf = v;
		else if (!strcmp(a, "--workers"))
			workers = (unsigned)atoi(v);
		else if (!strcmp(a, "--router-arg") && nr < ROUTERD_MAX_ARGS)
			rargs[nr++] = (char *)v;
		else
			return usage();
	}
	if (!inst || !bin || !ctl || !evf)
		return usage();
	events = fopen(evf, "ae");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (!events || n <= 0)
		return 1;
	self[n] = 0;
	if (azds_inst_init(&in, inst, &e)) {
		note("error %s", e.msg);
		return 1;
	}
	/* the commands' FIFO, opened read-write: no EOF between writers */
	mkfifo(ctl, 0600);
	cfd = open(ctl, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "%s/units", in.run_dir);
	err = sup_new(&s, dir, self, on_event, NULL);
	if (cfd < 0 || sfd < 0 || err) {
		note("error setup: %s", strerror(err ? -err : errno));
		return 1;
	}
	err = routerd_start(&rd, s, &in, bin, rargs, workers, &e);
	if (err) {
		note("error %s", e.msg);
		return 1;
	}
	err = sup_wait_ready(s, ROUTERD_UNIT, 10000);
	sup_status(s, ROUTERD_UNIT, &st);
	if (err)
		note("error router not ready: %s", strerror(-err));
	else
		note("ready pid=%d listeners=%u", (int)st.pid, rd.n);
	for (;;) {
		struct pollfd pf[3] = { { .fd = sup_fd(s), .events = POLLIN },
					{ .fd = cfd, .events = POLLIN },
					{ .fd = sfd, .events = POLLIN } };

		if (poll(pf, 3, -1) < 0 && errno != EINTR)
			break;
		if (pf[0].revents & POLLIN)
			sup_dispatch(s);
		if (pf[2].revents & POLLIN) {
			command(&rd, "stop");
			break;
		}
		if (!(pf[1].revents & POLLIN))
			continue;
		n = read(cfd, line + have, sizeof(line) - 1 - have);
		if (n <= 0)
			continue;
		have += (size_t)n;
		line[have] = 0;
		for (char *nl; (nl = strchr(line, '\n'));) {
			bool quit;

			*nl = 0;
			quit = command(&rd, line);
			memmove(line, nl + 1, strlen(nl + 1) + 1);
			have = strlen(line);
			if (quit)
				goto out;
		}
		if (have == sizeof(line) - 1)
			have = 0; /* an overlong line: dropped */
	}
out:
	sup_free(s);
	unlink(ctl);
	return 0;
}
