// SPDX-License-Identifier: MIT
/*
 * azds controller start|stop|status|restart-router. start runs
 * `azds-controller run` detached (double fork, setsid) and waits for
 * /v1/healthz; stop asks /v1/shutdown and waits for the process to end.
 * Both wait on a pidfd, so an exit is noticed at once, not at the next poll.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "client.h"
#include "table.h"
#include "verbs.h"

#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 120000
/* between two readiness questions; an exit ends the wait at once */
#define READY_RETRY_MS 50
#define HEALTHZ_TIMEOUT_S 2
#define MAX_CTL_ARGS 64

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* true when the process behind pidfd ended within ms */
static bool exited_within(int pidfd, int ms)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	if (pidfd < 0) {
		poll(NULL, 0, ms);
		return false;
	}
	return poll(&p, 1, ms) > 0;
}

/*
 * GET /v1/healthz: 1 and *pid when ready, 0 when something answers but is
 * not ready yet, or -errno when nothing answers.
 */
static int healthz(pid_t *pid)
{
	struct api_req req = { .method = "GET", .path = "/v1/healthz", .timeout_s = HEALTHZ_TIMEOUT_S };
	struct api_reply r;
	int err = api_exchange(&req, &r);

	if (err)
		return err;
	err = r.status == 200;
	if (pid)
		*pid = (pid_t)jint(r.json, "pid", 0);
	api_reply_free(&r);
	return err;
}

static const char *run_dir(void)
{
	static char dir[128];

	snprintf(dir, sizeof(dir), "/run/azds/%s", cli_instance);
	return dir;
}

static const char *log_path(void)
{
	static char path[160];

	snprintf(path, sizeof(path), "%s/controller.log", run_dir());
	return path;
}

/* the last line the controller wrote since offset, for a one-line error */
static const char *log_tail(off_t from)
{
	static char line[512];
	char buf[4096];
	int fd = open(log_path(), O_RDONLY | O_CLOEXEC);
	off_t size;
	ssize_t n;
	char *end, *start;

	line[0] = 0;
	if (fd < 0)
		return line;
	size = lseek(fd, 0, SEEK_END);
	if (size - from > (off_t)sizeof(buf) - 1)
		from = size - (off_t)sizeof(buf) + 1;
	n = from < size ? pread(fd, buf, sizeof(buf) - 1, from) : 0;
	close(fd);
	if (n <= 0)
		return line;
	buf[n] = 0;
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = 0;
	start = strrchr(buf, '\n');
	snprintf(line, sizeof(line), "%.*s", (int)sizeof(line) - 1, start ? start + 1 : buf);
	return line;
}

static int exe_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n <= 0)
		return -errno;
	buf[n] = 0;
	slash = strrchr(buf, '/');
	if (slash)
		*slash = 0;
	return 0;
}

/* the grandchild: detached, output to the log, then the daemon */
static void exec_daemon(char **args, int log_fd)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
	    dup2(log_fd, STDERR_FILENO) < 0 || chdir("/"))
		_exit(127);
	execv(args[0], args);
	dprintf(STDERR_FILENO, "azds: cannot run %s: %s\n", args[0], strerror(errno));
	_exit(127);
}

/* double fork: the daemon is nobody's child and has no terminal; its pid */
static pid_t spawn_detached(char **args, int log_fd)
{
	int p[2], status;
	pid_t child, pid = -1;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	child = fork();
	if (child < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (child == 0) {
		pid_t g;

		close(p[0]);
		setsid();
		g = fork();
		if (g == 0)
			exec_daemon(args, log_fd);
		if (write(p[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		_exit(g < 0 ? 1 : 0);
	}
	close(p[1]);
	if (read(p[0], &pid, sizeof(pid)) != sizeof(pid))
		pid = -EIO;
	close(p[0]);
	waitpid(child, &status, 0);
	return pid;
}

/* what start passes on to `azds-controller run`, as given */
struct start_opts {
	unsigned long max_depth, max_spaces, max_services, max_pods, router_workers;
	const char *group, *state_dir, *pod_memory, *pod_pids, *pod_cpu, *ingress_port;
	bool no_kernel_lb, no_sockmap, no_router, verbose;
	struct strlist router_args;
};

struct args_out {
	char *v[MAX_CTL_ARGS];
	char nums[5][24];
	int n;
};

static int push(struct args_out *o, const char *a, const char *b)
{
	if (o->n + 3 > MAX_CTL_ARGS)
		return -E2BIG;
	o->v[o->n++] = (char *)a;
	if (b)
		o->v[o->n++] = (char *)b;
	o->v[o->n] = NULL;
	return 0;
}

static int build_args(const struct start_opts *s, const char *ctl, struct args_out *o)
{
	const struct {
		const char *flag;
		unsigned long val;
	} nums[5] = { { "--max-depth", s->max_depth },
		      { "--max-spaces", s->max_spaces },
		      { "--max-services", s->max_services },
		      { "--max-pods", s->max_pods },
		      { "--router-workers", s->router_workers } };
	const struct {
		const char *flag;
		bool on;
	} flags[4] = { { "--no-kernel-lb", s->no_kernel_lb },
		       { "--no-sockmap", s->no_sockmap },
		       { "--no-router", s->no_router },
		       { "--verbose", s->verbose } };
	int err = push(o, ctl, NULL) ?: push(o, "-i", cli_instance) ?: push(o, "run", NULL);

	for (int i = 0; i < 5 && !err; i++) {
		if (!nums[i].val)
			continue;
		snprintf(o->nums[i], sizeof(o->nums[i]), "%lu", nums[i].val);
		err = push(o, nums[i].flag, o->nums[i]);
	}
	for (int i = 0; i < 4 && !err; i++)
		if (flags[i].on)
			err = push(o, flags[i].flag, NULL);
	if (!err && s->group)
		err = push(o, "--group", s->group);
	if (!err && s->state_dir)
		err = push(o, "--state-dir", s->state_dir);
	if (!err && s->ingress_port)
		err = push(o, "--ingress-port", s->ingress_port);
	if (!err && s->pod_memory)
		err = push(o, "--pod-memory", s->pod_memory);
	if (!err && s->pod_pids)
		err = push(o, "--pod-pids", s->pod_pids);
	if (!err && s->pod_cpu)
		err = push(o, "--pod-cpu", s->pod_cpu);
	for (int i = 0; i < s->router_args.n && !err; i++)
		err = push(o, "--router-arg", s->router_args.v[i]);
	return err;
}

/* until /v1/healthz answers 200, the daemon exits, or the time is up */
static int wait_ready(const struct verb *v, int pidfd, off_t log_from)
{
	long long deadline = now_ms() + START_TIMEOUT_MS;
	pid_t pid = 0;

	for (;;) {
		if (healthz(&pid) == 1) {
			printf("The controller of instance %s is running (pid %d).\n", cli_instance, (int)pid);
			return 0;
		}
		if (exited_within(pidfd, READY_RETRY_MS)) {
			const char *last = log_tail(log_from);

			return fail("%s: azds-controller exited before it was ready%s%s (log: %s)", verb_title(v),
				    *last ? ": " : "", last, log_path());
		}
		if (now_ms() > deadline)
			return fail("%s: the controller was not ready after %d s (log: %s)", verb_title(v),
				    START_TIMEOUT_MS / 1000, log_path());
	}
}

static int open_log(const struct verb *v, off_t *from)
{
	int fd;

	if (mkdir("/run/azds", 0755) && errno != EEXIST)
		return fail("%s: /run/azds: %s", verb_title(v), strerror(errno)), -1;
	if (mkdir(run_dir(), 0755) && errno != EEXIST)
		return fail("%s: %s: %s", verb_title(v), run_dir(), strerror(errno)), -1;
	fd = open(log_path(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return fail("%s: %s: %s", verb_title(v), log_path(), strerror(errno)), -1;
	*from = lseek(fd, 0, SEEK_END);
	return fd;
}

static int start(const struct verb *v, const struct start_opts *s)
{
	char dir[PATH_MAX], ctl[PATH_MAX + 32];
	struct args_out args = { .n = 0 };
	int log_fd, pidfd, rc;
	off_t from = 0;
	pid_t pid;

	if (exe_dir(dir, sizeof(dir)))
		return fail("%s: cannot read /proc/self/exe: %s", verb_title(v), strerror(errno));
	/* next to azds in a build tree; in ../sbin where it is installed */
	snprintf(ctl, sizeof(ctl), "%s/azds-controller", dir);
	if (access(ctl, X_OK))
		snprintf(ctl, sizeof(ctl), "%s/../sbin/azds-controller", dir);
	if (access(ctl, X_OK))
		return fail("%s: no azds-controller next to azds (%s) or in %s/../sbin", verb_title(v), dir, dir);
	if (build_args(s, ctl, &args))
		return usage_error(v, "too many --router-arg");
	log_fd = open_log(v, &from);
	if (log_fd < 0)
		return EXIT_FAIL;
	pid = spawn_detached(args.v, log_fd);
	close(log_fd);
	if (pid < 0)
		return fail("%s: cannot start %s: %s", verb_title(v), ctl, strerror((int)-pid));
	pidfd = pidfd_of(pid);
	rc = wait_ready(v, pidfd, from);
	if (pidfd >= 0)
		close(pidfd);
	return rc;
}

VERB(cmd_controller_start)
{
	struct start_opts s = { 0 };
	const struct opt o[] = {
		OPT_N("max-depth", 0, &s.max_depth, "N", "how deep spaces nest (default 8)", 8, 16),
		OPT_N("max-spaces", 0, &s.max_spaces, "N", "the most spaces", 1, 100000000),
		OPT_N("max-services", 0, &s.max_services, "N", "the most services", 1, 100000000),
		OPT_N("max-pods", 0, &s.max_pods, "N", "the most pods", 1, 100000000),
		OPT_N("router-workers", 0, &s.router_workers, "N", "the router's event loops (default: one per CPU)", 1,
		      4096),
		OPT_F("no-kernel-lb", 0, &s.no_kernel_lb, "start with TCP balancing in the kernel off"),
		OPT_F("no-sockmap", 0, &s.no_sockmap, "start with sockmap redirection off"),
		OPT_F("no-router", 0, &s.no_router, "run no router (tests of the control plane alone)"),
		OPT_F("verbose", 0, &s.verbose, "libbpf's messages in the log"),
		OPT_S("state-dir", 0, &s.state_dir, "DIR", "the store's directory (default /var/lib/azds/<instance>)"),
		OPT_S("group", 0, &s.group, "GROUP", "the group that may use the API socket (default azds)"),
		OPT_S("pod-memory", 0, &s.pod_memory, "SIZE", "a pod's memory limit unless it sets one (default 512Mi)"),
		OPT_S("pod-pids", 0, &s.pod_pids, "N", "a pod's pids limit unless it sets one (default 512)"),
		OPT_S("pod-cpu", 0, &s.pod_cpu, "CPU", "a pod's cpu limit unless it sets one (default 1000m)"),
		OPT_S("ingress-port", 0, &s.ingress_port, "PORT",
		      "the local ingress on 127.0.0.1 (default 15080; 0: none)"),
		OPT_L("router-arg", 0, &s.router_args, "ARG", "passed to azds-router"),
		OPT_END,
	};
	struct args a;
	pid_t pid = 0;
	int rc, err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	err = healthz(&pid);
	if (err == 1 && (s.max_depth || s.max_spaces || s.max_services || s.max_pods || s.router_workers ||
			 s.no_kernel_lb || s.no_sockmap || s.no_router || s.group || s.state_dir || s.pod_memory ||
			 s.pod_pids || s.pod_cpu || s.router_args.n)) {
		/* settings apply when the daemon starts: never drop them silently */
		return fail("%s: the controller of instance %s is running (pid %d) with its settings; to change them: "
			    "azds%s%s controller stop, then start with them", verb_title(v), cli_instance, (int)pid,
			    strcmp(cli_instance, "azds") ? " -i " : "", strcmp(cli_instance, "azds") ? cli_instance : "");
	} else if (err == 1) {
		printf("The controller of instance %s is already running (pid %d).\n", cli_instance, (int)pid);
		rc = 0;
	} else if (err == 0) {
		/* someone else's start is under way: wait for it, start nothing */
		int pidfd = pid > 0 ? pidfd_of(pid) : -1;

		rc = wait_ready(v, pidfd, 0);
		if (pidfd >= 0)
			close(pidfd);
	} else if (geteuid() != 0) {
		rc = fail("%s: must run as root (the controller loads BPF programs and creates namespaces)",
			  verb_title(v));
	} else {
		rc = start(v, &s);
	}
	free(s.router_args.v);
	return rc;
}

static bool socket_gone(void)
{
	struct stat st;

	return stat(api_socket(), &st) && errno == ENOENT;
}

VERB(cmd_controller_stop)
{
	bool all = false;
	const struct opt o[] = {
		OPT_F("all", 0, &all, "stop the router, DNS and the pods first (the store is kept)"),
		OPT_END,
	};
	json_t *body;
	struct api_reply r;
	struct api_req req = { .method = "POST", .path = "/v1/shutdown", .timeout_s = STOP_TIMEOUT_MS / 1000 };
	struct args a;
	pid_t pid = 0;
	int pidfd, err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	err = healthz(&pid);
	if (err == -ENOENT || err == -ECONNREFUSED) {
		printf("The controller of instance %s is not running.\n", cli_instance);
		return 0;
	}
	pidfd = pid > 0 ? pidfd_of(pid) : -1;
	body = json_pack("{s:b}", "all", all);
	req.body = body;
	err = api_exchange(&req, &r);
	json_decref(body);
	/* a controller may exit before its answer is read */
	if (err && err != -ECONNRESET) {
		api_print_unreachable(err);
		goto fail;
	}
	if (!err && (r.status < 200 || r.status >= 300)) {
		fail("%s", api_error_text(&r));
		api_reply_free(&r);
		goto fail;
	}
	api_reply_free(&r);
	if (pidfd >= 0 && !exited_within(pidfd, STOP_TIMEOUT_MS)) {
		fail("%s: the controller (pid %d) is still running after %d s", verb_title(v), (int)pid,
		     STOP_TIMEOUT_MS / 1000);
		goto fail;
	}
	if (!socket_gone()) {
		fail("%s: the controller ended but left %s", verb_title(v), api_socket());
		goto fail;
	}
	printf("The controller of instance %s stopped%s.\n", cli_instance,
	       all ? ", with its router, DNS and pods" : "");
	if (pidfd >= 0)
		close(pidfd);
	return 0;
fail:
	if (pidfd >= 0)
		close(pidfd);
	return EXIT_FAIL;
}

static void status_components(const json_t *st)
{
	static const char *const cols[] = { "COMPONENT", "STATE", "PID", "RESTARTS", "LAST EXIT", "REASON" };
	struct table *t = table_new();
	const char *key;
	json_t *c;

	if (!t)
		return;
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		table_col(t, cols[i], 0);
	/* any member with a state is a supervised component: router, dns, ... */
	json_object_foreach((json_t *)st, key, c)
	{
		char state[32], pid[24], restarts[24], last[48];

		if (!json_is_object(c) || !json_object_get(c, "state"))
			continue;
		table_cell(t, "%s", key);
		table_cell(t, "%s", jtext(json_object_get(c, "state"), state, sizeof(state)));
		table_cell(t, "%s", jtext(json_object_get(c, "pid"), pid, sizeof(pid)));
		table_cell(t, "%s", jtext(json_object_get(c, "restarts"), restarts, sizeof(restarts)));
		table_cell(t, "%s", jexit(c, last, sizeof(last)));
		table_cell(t, "%s", or_dash(jstr(c, "reason", NULL)));
	}
	table_print(t, stdout, false);
	table_free(t);
}

static void status_head(const json_t *st)
{
	const json_t *counts = json_object_get(st, "counts"), *lim = json_object_get(st, "limits");
	long long errors = jint(st, "reconcile_errors", 0);

	printf("Instance %s: controller pid %lld, state in %s\n", jstr(st, "instance", cli_instance),
	       jint(st, "pid", 0), jstr(st, "state_dir", "?"));
	printf("Objects:  %lld spaces, %lld services, %lld pods\n", jint(counts, "spaces", 0),
	       jint(counts, "services", 0), jint(counts, "pods", 0));
	if (lim)
		printf("Limits:   %lld spaces, %lld services, %lld pods, %lld levels\n", jint(lim, "spaces", 0),
		       jint(lim, "services", 0), jint(lim, "pods", 0), jint(lim, "depth", 0));
	if (lim && json_object_get(lim, "pod_memory"))
		printf("Pods:     %lld MiB memory, %lld pids, %lldm cpu unless a pod sets its own\n",
		       jint(lim, "pod_memory", 0) >> 20, jint(lim, "pod_pids", 0), jint(lim, "pod_cpu", 0));
	if (errors)
		printf("Reconcile errors: %lld, the last: %s\n", errors, jstr(st, "last_error", "?"));
	printf("\n");
}

/* a table of name -> scalar (switches, counters) */
static void status_pairs(const json_t *obj, const char *h1, const char *h2)
{
	struct table *t;
	const char *key;
	json_t *val;

	if (!json_object_size(obj))
		return;
	t = table_new();
	if (!t)
		return;
	table_col(t, h1, 0);
	table_col(t, h2, 0);
	json_object_foreach((json_t *)obj, key, val)
	{
		char text[64];

		table_cell(t, "%s", key);
		if (json_is_boolean(val))
			table_cell(t, "%s", json_is_true(val) ? "on" : "off");
		else
			table_cell(t, "%s", jtext(val, text, sizeof(text)));
	}
	printf("\n");
	table_print(t, stdout, false);
	table_free(t);
}

VERB(cmd_controller_status)
{
	const char *output = NULL;
	const struct opt o[] = { OPT_OUTPUT(&output), OPT_END };
	struct api_reply r;
	struct args a;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	if (api_get("/v1/status", &r))
		return EXIT_FAIL;
	if (output_json(output)) {
		print_json(r.json);
		api_reply_free(&r);
		return 0;
	}
	status_head(r.json);
	status_components(r.json);
	status_pairs(json_object_get(r.json, "switches"), "SWITCH", "STATE");
	if (output_wide(output))
		status_pairs(json_object_get(r.json, "counters"), "COUNTER", "VALUE");
	api_reply_free(&r);
	return 0;
}

VERB(cmd_controller_restart_router)
{
	struct api_reply r;
	struct args a;
	int err = opts_parse(v, NULL, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	if (api_send("POST", "/v1/router/restart", NULL, &r))
		return EXIT_FAIL;
	printf("Router restarted: pid %lld -> %lld.\n", jint(r.json, "old_pid", 0), jint(r.json, "pid", 0));
	api_reply_free(&r);
	return 0;
}

VERB(cmd_controller_set)
{
	char path[128], *esc;
	struct api_reply r;
	struct args a;
	json_t *body;
	bool on;
	int err = opts_parse(v, NULL, argc, argv, &a);

	if (err)
		return opts_exit(err);
	if (strcmp(a.pos[1], "on") && strcmp(a.pos[1], "off")) {
		err = usage_error(v, "\"%s\": must be on or off", a.pos[1]);
		args_free(&a);
		return err;
	}
	on = !strcmp(a.pos[1], "on");
	esc = api_escape(a.pos[0]);
	body = json_pack("{s:b}", "on", on);
	if (!esc || !body) {
		free(esc);
		json_decref(body);
		args_free(&a);
		return fail("out of memory");
	}
	snprintf(path, sizeof(path), "/v1/switches/%.100s", esc);
	err = api_send("PUT", path, body, &r);
	json_decref(body);
	free(esc);
	if (!err) {
		printf("Switch %s is %s.\n", a.pos[0], on ? "on" : "off");
		api_reply_free(&r);
	}
	args_free(&a);
	return err ? EXIT_FAIL : 0;
}
