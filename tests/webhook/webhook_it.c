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
 *   webhook-it fuzz SEED N FILE...
 *       webhook_review on N mutations of the FILEs (bytes flipped, cut,
 *       structure characters and long runs put in), with spaces of every
 *       shape; prints how many were answered and how many refused. Under
 *       ASan/UBSan it is the test that hostile bodies never crash it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <jansson.h>
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
	/* a test script killed outright takes its servers with it */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
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

/* The fuzzer's spaces: valid, deep, long, invalid, and errors. */
static int fuzz_space_of(void *arg, const char *ns, char *path, size_t len)
{
	static const char *const paths[] = {"dev",  "dev/alice", "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p",  "x//y", "",
					    "-bad", "dev/ALICE", "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q"};
	unsigned *r = arg;
	unsigned k = (*r = *r * 1103515245u + 12345u) >> 16;

	if (k % 10 == 0)
		return -ENOENT;
	if (k % 10 == 1)
		return -EIO;
	if (k % 10 == 2) { /* the namespace itself as leaf, under a long parent */
		snprintf(path, len, "%s/%s", "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp", ns);
		return 0;
	}
	if (k % 10 == 3) {
		snprintf(path, len, "dev/%s", ns);
		return 0;
	}
	snprintf(path, len, "%s", paths[k % (sizeof(paths) / sizeof(paths[0]))]);
	return 0;
}

/* A random value of a random JSON type. */
static json_t *any_value(void)
{
	switch (random() % 8) {
	case 0:
		return json_null();
	case 1:
		return json_integer(random() % 3 - 1);
	case 2:
		return json_string("");
	case 3:
		return json_string(random() % 2 ? "Pod" : "azds.io/space");
	case 4:
		return json_array();
	case 5:
		return json_pack("[s,i]", "x", 1);
	case 6:
		return json_object();
	default:
		return json_true();
	}
}

/* Replace or delete one node of DOC, at random depth (the types checks' test). */
static void json_mutate(json_t *doc)
{
	json_t *cur = doc;

	for (int depth = 0; depth < 8; depth++) {
		size_t n = json_is_object(cur) ? json_object_size(cur) : json_is_array(cur) ? json_array_size(cur) : 0;
		size_t k;

		if (!n)
			return;
		k = (size_t)random() % n;
		if (json_is_object(cur)) {
			void *iter = json_object_iter(cur);
			json_t *child;
			const char *key;

			while (k-- && iter)
				iter = json_object_iter_next(cur, iter);
			if (!iter)
				return;
			key = json_object_iter_key(iter);
			child = json_object_iter_value(iter);
			if (random() % 3 == 0 || !(json_is_object(child) || json_is_array(child))) {
				if (random() % 4 == 0)
					json_object_del(cur, key);
				else
					json_object_set_new(cur, key, any_value());
				return;
			}
			cur = child;
		} else {
			json_t *child = json_array_get(cur, k);

			if (random() % 3 == 0 || !(json_is_object(child) || json_is_array(child))) {
				json_array_set_new(cur, k, any_value());
				return;
			}
			cur = child;
		}
	}
}

static int cmd_fuzz(int argc, char **argv)
{
	static const char specials[] = "{}[]\",:\\/~01 \t\n-.aA";
	unsigned seed = (unsigned)strtoul(argv[2], NULL, 10), rs = seed;
	long n = atol(argv[3]), answered = 0, refused = 0, patched_n = 0;
	int nfiles = argc - 4;
	char *files[64];
	size_t lens[64];

	if (nfiles < 1 || nfiles > 64)
		return 2;
	srandom(seed);
	for (int i = 0; i < nfiles; i++) {
		FILE *f = fopen(argv[4 + i], "r");

		files[i] = calloc(1, 1 << 20);
		if (!f || !files[i])
			return 1;
		lens[i] = fread(files[i], 1, (1 << 20) - 1, f);
		fclose(f);
	}
	for (long it = 0; it < n; it++) {
		int f = (int)(random() % nfiles), muts = 1 + (int)(random() % 8);
		size_t len = lens[f], cap = len + 4096;
		char *b = malloc(cap), *out = NULL, line[512];
		struct webhook_review_ctx c = {"cluster.local", fuzz_space_of, &rs};
		struct azds_err e = {{0}};
		bool patched;
		int err;

		if (!b)
			return 1;
		memcpy(b, files[f], len);
		if (random() % 2) { /* half the time a well-formed document with wrong types */
			json_t *doc = json_loadb(b, len, 0, NULL);
			char *t;

			/* mostly inside the pod, where the type checks are (looked up each time: a mutation may replace
			 * it) */
			for (int m = 0; doc && m < muts; m++) {
				json_t *pod = json_object_get(json_object_get(doc, "request"), "object");

				json_mutate(pod && random() % 4 ? pod : doc);
			}
			t = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
			json_decref(doc);
			if (t && strlen(t) < cap) {
				len = strlen(t);
				memcpy(b, t, len);
			}
			free(t);
			muts = random() % 4 ? 0 : 1;
		}
		for (int m = 0; m < muts && len; m++) {
			size_t at = (size_t)random() % len;

			switch (random() % 5) {
			case 0: /* flip */
				b[at] ^= (char)(1 << (random() % 8));
				break;
			case 1: /* a structure character */
				b[at] = specials[random() % (sizeof(specials) - 1)];
				break;
			case 2: /* cut */
				len = at;
				break;
			case 3: { /* a run inserted */
				size_t run = 1 + (size_t)random() % 512;

				if (len + run > cap)
					break;
				memmove(b + at + run, b + at, len - at);
				memset(b + at, specials[random() % (sizeof(specials) - 1)], run);
				len += run;
				break;
			}
			default: /* a byte removed */
				memmove(b + at, b + at + 1, len - at - 1);
				len--;
			}
		}
		err = webhook_review(&c, b, len, &out, &patched, line, sizeof(line), &e);
		if (err == -EINVAL && !out && e.msg[0])
			refused++;
		else if (!err && out && out[0] == '{')
			answered++;
		else
			return fprintf(stderr, "iteration %ld: err %d out %p msg %s\n", it, err, (void *)out, e.msg), 1;
		patched_n += patched;
		free(out);
		free(b);
	}
	for (int i = 0; i < nfiles; i++)
		free(files[i]);
	printf("%ld reviews: %ld answered (%ld patched), %ld refused\n", n, answered, patched_n, refused);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "fuzz"))
		return cmd_fuzz(argc, argv);
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
