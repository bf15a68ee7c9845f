// SPDX-License-Identifier: MIT
/*
 * azds-ctlbench: the controller's benchmark, through its real API socket.
 *   latency: N changes (a new service in a space), each timed from the
 *            request until its entry is in the pinned maps (p50, p99);
 *   scale:   S spaces x M services created through the API (one call for
 *            each space, one for its services);
 *   reboot:  every pin, namespace, cgroup and process of the instance is
 *            removed (azds-controller purge --keep-state) and a new daemon
 *            started: the time until it answers /v1/healthz, i.e. until the
 *            whole store is reconciled onto the node.
 * It starts and purges its own instance. Prints one JSON object.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "azds.h"

static char sock_path[100], bin_dir[PATH_MAX], log_path[300], ctl[PATH_MAX + 32];
static const char *inst = "ctlbench";
static int fd = -1;
static pid_t daemon_pid = -1;
static int succeeded;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int connect_api(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (fd >= 0)
		close(fd);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		if (fd >= 0)
			close(fd);
		fd = -1;
		return -1;
	}
	return 0;
}

/* one keep-alive request; returns the status, body in buf */
static int call(const char *method, const char *path, const char *body, char *buf, size_t cap)
{
	static char req[1 << 20];
	size_t blen = body ? strlen(body) : 0, got = 0;
	int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: azds\r\nContent-Length: %zu\r\n\r\n%s", method, path,
			 blen, body ? body : "");

	if (fd < 0 && connect_api())
		return -1;
	if (write(fd, req, (size_t)n) != n)
		return -1;
	for (;;) {
		ssize_t r = read(fd, buf + got, cap - got - 1);
		char *end, *cl;

		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = 0;
		end = strstr(buf, "\r\n\r\n");
		cl = strstr(buf, "Content-Length: ");
		if (end && cl && got >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10))
			break;
	}
	return atoi(buf + 9);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int run(char *const argv[])
{
	pid_t p = fork();
	int st;

	if (p == 0) {
		int nul = open("/dev/null", O_WRONLY);

		dup2(nul, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static pid_t start_daemon(unsigned spaces, unsigned services)
{
	char ms[16], mv[16];
	char *argv[] = { ctl, "-i", (char *)inst, "run", "--max-spaces", ms, "--max-services", mv, "--no-router", NULL };
	pid_t p;

	snprintf(ms, sizeof(ms), "%u", spaces + 16);
	snprintf(mv, sizeof(mv), "%u", spaces * services + 1024);
	p = fork();
	if (p == 0) {
		int lf = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

		dup2(lf, 1);
		dup2(lf, 2);
		setsid();
		execv(argv[0], argv);
		_exit(127);
	}
	daemon_pid = p;
	return p;
}

/*
 * On every way out: the instance purged (its daemon with it), the daemon
 * reaped, and the daemon's log removed, shown first when the run failed.
 */
static void finish(void)
{
	char *purge_all[] = { ctl, "-i", (char *)inst, "purge", NULL };
	char line[512];
	FILE *f;

	if (fd >= 0)
		close(fd);
	run(purge_all);
	if (daemon_pid > 0)
		waitpid(daemon_pid, NULL, 0);
	if (!succeeded && (f = fopen(log_path, "r"))) {
		fprintf(stderr, "azds-ctlbench: the controller's log:\n");
		while (fgets(line, sizeof(line), f))
			fputs(line, stderr);
		fclose(f);
	}
	unlink(log_path);
}

static double wait_healthy(double t0)
{
	char buf[4096];

	for (int i = 0; i < 60000; i++) {
		fd = -1;
		if (connect_api() == 0 && call("GET", "/v1/healthz", NULL, buf, sizeof(buf)) == 200)
			return now_ms() - t0;
		usleep(1000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	unsigned spaces = 1000, services = 20, changes = 500;
	static char buf[1 << 20], body[1 << 20];
	struct azds_inst in;
	struct azds_maps m;
	struct azds_err e;
	double *lat, t0, scale_ms, reboot_ms;
	pid_t d;
	ssize_t n;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--spaces") && i + 1 < argc)
			spaces = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--services") && i + 1 < argc)
			services = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--changes") && i + 1 < argc)
			changes = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "-i") && i + 1 < argc)
			inst = argv[++i];
		else {
			fprintf(stderr, "usage: azds-ctlbench [-i INSTANCE] [--spaces N] [--services M] [--changes K]\n");
			return 2;
		}
	}
	if (!spaces || !services || !changes || spaces > 100000 || services > 1000) {
		fprintf(stderr, "azds-ctlbench: --spaces 1-100000, --services 1-1000, --changes >= 1\n");
		return 2;
	}
	n = readlink("/proc/self/exe", bin_dir, sizeof(bin_dir) - 1);
	bin_dir[n > 0 ? n : 0] = 0;
	if (strrchr(bin_dir, '/'))
		*strrchr(bin_dir, '/') = 0;
	snprintf(ctl, sizeof(ctl), "%s/azds-controller", bin_dir);
	char *purge_all[] = { ctl, "-i", (char *)inst, "purge", NULL };
	char *purge_keep[] = { ctl, "-i", (char *)inst, "purge", "--keep-state", NULL };
	snprintf(sock_path, sizeof(sock_path), "/run/azds/%s/api.sock", inst);
	snprintf(log_path, sizeof(log_path), "/tmp/azds-ctlbench-%s.log", inst);
	run(purge_all); /* a crashed earlier run's instance */
	unlink(log_path);
	atexit(finish);
	d = start_daemon(spaces, services);
	if (wait_healthy(now_ms()) < 0) {
		fprintf(stderr, "azds-ctlbench: the controller did not become ready\n");
		return 1;
	}
	if (azds_inst_init(&in, inst, &e) || azds_maps_open(&in, &m, &e)) {
		fprintf(stderr, "azds-ctlbench: %s\n", e.msg);
		return 1;
	}
	/* latency: a change until the data plane has it */
	lat = calloc(changes, sizeof(*lat));
	if (call("POST", "/v1/spaces", "{\"name\":\"lat\"}", buf, sizeof(buf)) / 100 != 2) {
		fprintf(stderr, "azds-ctlbench: create space: %s\n", buf);
		return 1;
	}
	for (unsigned i = 0; i < changes; i++) {
		char name[32];
		struct azds_svc_key sk;
		struct azds_backends be;

		snprintf(name, sizeof(name), "l%u", i);
		snprintf(body, sizeof(body), "{\"space\":\"lat\",\"name\":\"%s\",\"port\":80}", name);
		t0 = now_ms();
		if (call("POST", "/v1/services", body, buf, sizeof(buf)) != 201) {
			fprintf(stderr, "azds-ctlbench: create service: %s\n", buf);
			return 1;
		}
		/* the API answers once the maps have it: the router and connect4
		 * see it now, or the change did not work */
		if (azds_service_backends(&m, "lat", name, &sk, &be, &e)) {
			fprintf(stderr, "azds-ctlbench: service %s answered 201 but is not in the maps: %s\n", name, e.msg);
			return 1;
		}
		lat[i] = now_ms() - t0;
	}
	qsort(lat, changes, sizeof(*lat), cmp);
	fprintf(stderr, "azds-ctlbench: %u changes: p50 %.3f ms, p99 %.3f ms\n", changes, lat[changes / 2],
		lat[changes * 99 / 100]);

	/* scale: spaces x services through the API */
	t0 = now_ms();
	for (unsigned s = 0; s < spaces; s++) {
		size_t o = 0;

		snprintf(body, sizeof(body), "{\"name\":\"team%u\"}", s);
		if (call("POST", "/v1/spaces", body, buf, sizeof(buf)) != 201) {
			fprintf(stderr, "azds-ctlbench: create space team%u: %s\n", s, buf);
			return 1;
		}
		o += (size_t)snprintf(body + o, sizeof(body) - o, "{\"items\":[");
		for (unsigned v = 0; v < services; v++)
			o += (size_t)snprintf(body + o, sizeof(body) - o, "%s{\"space\":\"team%u\",\"name\":\"svc%u\"}",
					      v ? "," : "", s, v);
		snprintf(body + o, sizeof(body) - o, "]}");
		if (call("POST", "/v1/services", body, buf, sizeof(buf)) / 100 != 2) {
			fprintf(stderr, "azds-ctlbench: create services of team%u: %s\n", s, buf);
			return 1;
		}
	}
	scale_ms = now_ms() - t0;
	fprintf(stderr, "azds-ctlbench: %u spaces x %u services through the API: %.3f s\n", spaces, services,
		scale_ms / 1e3);
	azds_maps_close(&m);

	/* reboot: the node loses everything but the store */
	close(fd);
	fd = -1;
	run(purge_keep);
	waitpid(d, NULL, 0);
	t0 = now_ms();
	d = start_daemon(spaces, services);
	reboot_ms = wait_healthy(t0);
	if (reboot_ms < 0) {
		fprintf(stderr, "azds-ctlbench: the controller did not come back after the reboot\n");
		return 1;
	}
	/* and the data plane has what the store has */
	if (azds_maps_open(&in, &m, &e)) {
		fprintf(stderr, "azds-ctlbench: %s\n", e.msg);
		return 1;
	}
	/* every space's every service, and a reconcile without errors: a
	 * daemon that serves after a partial reconcile gives no figure */
	for (unsigned sp = 0; sp < spaces; sp++)
		for (unsigned v = 0; v < services; v++) {
			char space[32], svc[32];
			struct azds_svc_key sk;
			struct azds_backends be;

			snprintf(space, sizeof(space), "team%u", sp);
			snprintf(svc, sizeof(svc), "svc%u", v);
			if (azds_service_backends(&m, space, svc, &sk, &be, &e)) {
				fprintf(stderr, "azds-ctlbench: after the reboot: %s\n", e.msg);
				return 1;
			}
		}
	if (call("GET", "/v1/status", NULL, buf, sizeof(buf)) != 200 || !strstr(buf, "\"reconcile_errors\":0,")) {
		fprintf(stderr, "azds-ctlbench: after the reboot the reconcile left errors: %.300s\n",
			strstr(buf, "\"reconcile_errors\"") ? strstr(buf, "\"reconcile_errors\"") : buf);
		return 1;
	}
	azds_maps_close(&m);
	succeeded = 1;
	printf("{\"changes\":%u,\"change_p50_ms\":%.3f,\"change_p99_ms\":%.3f,\"spaces\":%u,\"services_per_space\":%u,"
	       "\"create_s\":%.3f,\"reboot_reconcile_s\":%.3f}\n",
	       changes, lat[changes / 2], lat[changes * 99 / 100], spaces, services, scale_ms / 1e3, reboot_ms / 1e3);
	return 0;
}
