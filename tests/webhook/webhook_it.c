// SPDX-License-Identifier: MIT
/*
 * webhook-it: the webhook module driven from the test scripts.
 *
 *   webhook-it serve [--listen A] [--port P] --state DIR [--dns N]... [--ip IP]...
 *                    [--domain D] [--spaces DIR] [--delay-ms N] [--ca-life S] [--cert-life S]
 *                    [--check-ms N] [--read-timeout-ms N] [--max-body N] [--max-conns N]
 *                    [--pid-file F] [--port-file F]
 *                    [--kubeconfig K --register NAME --url URL]
 *       serves until SIGTERM or SIGINT. DIR/<namespace> files name the
 *       spaces (content: the space path), as the node agent publishes them
 *       in /run/azds/INST/k8s/spaces. --port-file is written once serving
 *       (and registered, with --register), so it is the ready signal. With
 *       --register it registers at start and again whenever the CA rotates.
 *   webhook-it register KUBECONFIG NAME URL BUNDLE.pem
 *   webhook-it unregister KUBECONFIG NAME
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "k8s.h"
#include "webhook.h"

struct srv {
	const char *spaces;
	struct azds_k8s *k;
	const char *reg_name, *url;
	pthread_mutex_t mu;
};

static void logline(void *arg, const char *line)
{
	(void)arg;
	printf("webhook: %s\n", line);
	fflush(stdout);
}

static int space_of(void *arg, const char *ns, char *path, size_t len)
{
	struct srv *s = arg;
	char file[4096];
	ssize_t n;
	int fd;

	if (!s->spaces)
		return -ENOENT;
	/* the webhook hands over only DNS labels: no '/' or ".." here */
	if (snprintf(file, sizeof(file), "%s/%s", s->spaces, ns) >= (int)sizeof(file))
		return -ENAMETOOLONG;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	n = read(fd, path, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	path[n] = 0;
	path[strcspn(path, "\n")] = 0;
	return 0;
}

static int k8s_open(struct azds_k8s **k, const char *kubeconfig)
{
	struct azds_k8s_config c = {0};
	struct azds_k8s_err ke = {0};
	int err = azds_k8s_config_load(&c, kubeconfig, NULL, &ke);

	if (!err)
		err = azds_k8s_new(k, &c, &ke);
	azds_k8s_config_free(&c);
	if (err)
		fprintf(stderr, "webhook-it: %s: %s\n", kubeconfig, ke.msg);
	return err;
}

static int do_register(struct srv *s, const char *bundle)
{
	struct azds_err e = {{0}};
	int err;

	pthread_mutex_lock(&s->mu);
	err = webhook_register(s->k, s->reg_name, s->url, NULL, NULL, 0, bundle, &e);
	pthread_mutex_unlock(&s->mu);
	printf("webhook: register %s: %s\n", s->reg_name, err ? e.msg : "ok");
	fflush(stdout);
	return err;
}

static void ca_changed(void *arg, const char *bundle)
{
	struct srv *s = arg;

	if (s->k)
		do_register(s, bundle);
}

static int write_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	if (fclose(f))
		return -EIO;
	return rename(tmp, path) ? -errno : 0;
}

#define MAX_NAMES 16

static int serve(int argc, char **argv)
{
	const char *dns[MAX_NAMES + 1] = {0}, *ips[MAX_NAMES + 1] = {0};
	const char *pid_file = NULL, *port_file = NULL, *kubeconfig = NULL;
	struct webhook_opts o = {0};
	struct srv s = {0};
	struct azds_err e = {{0}};
	struct webhook *w;
	int nd = 0, ni = 0, sig, err;
	sigset_t set;
	char buf[32];

	pthread_mutex_init(&s.mu, NULL);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			goto usage;
		i++;
		if (!strcmp(a, "--listen"))
			o.addr = v;
		else if (!strcmp(a, "--port"))
			o.port = atoi(v);
		else if (!strcmp(a, "--state"))
			o.state_dir = v;
		else if (!strcmp(a, "--dns") && nd < MAX_NAMES)
			dns[nd++] = v;
		else if (!strcmp(a, "--ip") && ni < MAX_NAMES)
			ips[ni++] = v;
		else if (!strcmp(a, "--domain"))
			o.cluster_domain = v;
		else if (!strcmp(a, "--spaces"))
			s.spaces = v;
		else if (!strcmp(a, "--delay-ms"))
			o.delay_ms = (unsigned)atoi(v);
		else if (!strcmp(a, "--ca-life"))
			o.ca_life_s = atol(v);
		else if (!strcmp(a, "--cert-life"))
			o.cert_life_s = atol(v);
		else if (!strcmp(a, "--check-ms"))
			o.rotate_check_ms = (unsigned)atoi(v);
		else if (!strcmp(a, "--read-timeout-ms"))
			o.read_timeout_ms = (unsigned)atoi(v);
		else if (!strcmp(a, "--max-body"))
			o.max_body = (size_t)atol(v);
		else if (!strcmp(a, "--max-conns"))
			o.max_conns = (unsigned)atoi(v);
		else if (!strcmp(a, "--pid-file"))
			pid_file = v;
		else if (!strcmp(a, "--port-file"))
			port_file = v;
		else if (!strcmp(a, "--kubeconfig"))
			kubeconfig = v;
		else if (!strcmp(a, "--register"))
			s.reg_name = v;
		else if (!strcmp(a, "--url"))
			s.url = v;
		else
			goto usage;
	}
	if (kubeconfig && (!s.reg_name || !s.url))
		goto usage;
	if (kubeconfig && k8s_open(&s.k, kubeconfig))
		return 1;
	o.dns = dns;
	o.ips = ips;
	o.space_of = space_of;
	o.space_arg = &s;
	o.ca_changed = ca_changed;
	o.ca_arg = &s;
	o.log = logline;
	/* signals are taken by sigwait below, not delivered */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (pid_file) {
		snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		write_file(pid_file, buf);
	}
	err = webhook_start(&w, &o, &e);
	if (err) {
		fprintf(stderr, "webhook-it: %s\n", e.msg);
		return 1;
	}
	printf("webhook: serving on port %d\n", webhook_port(w));
	fflush(stdout);
	if (s.k) {
		char *b = webhook_ca_bundle(w);

		err = b ? do_register(&s, b) : -ENOMEM;
		free(b);
		if (err) {
			webhook_stop(w);
			return 1;
		}
	}
	if (port_file) {
		snprintf(buf, sizeof(buf), "%d\n", webhook_port(w));
		write_file(port_file, buf);
	}
	sigwait(&set, &sig);
	printf("webhook: signal %d: stopping\n", sig);
	fflush(stdout);
	webhook_stop(w);
	azds_k8s_free(s.k);
	return 0;
usage:
	fprintf(stderr, "webhook-it serve: bad arguments (see the source's header)\n");
	return 2;
}

static int cmd_register(char **argv)
{
	struct azds_err e = {{0}};
	struct azds_k8s *k;
	char *pem = calloc(1, 65537);
	FILE *f = fopen(argv[5], "r");
	size_t n;
	int err;

	if (!pem || !f) {
		fprintf(stderr, "webhook-it: %s: %s\n", argv[5], strerror(errno));
		return 1;
	}
	n = fread(pem, 1, 65536, f);
	fclose(f);
	pem[n] = 0;
	if (k8s_open(&k, argv[2]))
		return 1;
	err = webhook_register(k, argv[3], argv[4], NULL, NULL, 0, pem, &e);
	azds_k8s_free(k);
	free(pem);
	printf("%s\n", err ? e.msg : "ok");
	return err ? 1 : 0;
}

static int cmd_unregister(char **argv)
{
	struct azds_err e = {{0}};
	struct azds_k8s *k;
	int err;

	if (k8s_open(&k, argv[2]))
		return 1;
	err = webhook_unregister(k, argv[3], &e);
	azds_k8s_free(k);
	printf("%s\n", err ? e.msg : "ok");
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return serve(argc, argv);
	if (argc == 6 && !strcmp(argv[1], "register"))
		return cmd_register(argv);
	if (argc == 4 && !strcmp(argv[1], "unregister"))
		return cmd_unregister(argv);
	fprintf(stderr,
		"usage: webhook-it serve ... | register KUBECONFIG NAME URL BUNDLE | unregister KUBECONFIG NAME\n");
	return 2;
}
