// SPDX-License-Identifier: MIT
/*
 * azds-init term: a pod's graceful stop, from the command line (tests,
 * operators); the controller's supervisor calls azds_podcg_term itself.
 *
 *   azds-init [-i INSTANCE] term --pod NAME [--keep PID] [--timeout MS]
 *
 * SIGTERM to every process of the pod but PID (the supervised bwrap) and
 * bwrap's init, then up to MS (default 10000) for them to exit. Exit 0
 * when they did, 1 (and one line) when some are left or it failed, 2 for
 * bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "azds.h"
#include "podcg.h"
#include "sandbox.h"

#define TERM_TIMEOUT_DEFAULT_MS 10000

static int __attribute__((format(printf, 2, 3))) term_fail(int rc, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "azds-init: term: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return rc;
}

/* a whole number in [0, max] */
static int parse_num(const char *s, long max, long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtol(s, &end, 10);
	return errno || *end || *out > max ? -EINVAL : 0;
}

int term_main(const char *instance, int argc, char **argv)
{
	static const struct option opts[] = { { "pod", required_argument, 0, 'p' },
					      { "keep", required_argument, 0, 'k' },
					      { "timeout", required_argument, 0, 't' },
					      { "instance", required_argument, 0, 'i' },
					      { "help", no_argument, 0, 'h' },
					      { 0, 0, 0, 0 } };
	const char *pod = NULL;
	long keep = 0, timeout = TERM_TIMEOUT_DEFAULT_MS;
	struct azds_inst in;
	struct azds_err e;
	int c, err;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hi:", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pod = optarg; break;
		case 'k':
			if (parse_num(optarg, 0x7fffffff, &keep))
				return term_fail(2, "--keep \"%s\": a pid", optarg);
			break;
		case 't':
			if (parse_num(optarg, 3600000, &timeout))
				return term_fail(2, "--timeout \"%s\": milliseconds, at most 3600000", optarg);
			break;
		case 'i': instance = optarg; break;
		case 'h':
			printf("usage: azds-init [-i INSTANCE] term --pod NAME [--keep PID] [--timeout MS]\n\n"
			       "SIGTERM to the pod's processes but PID (the supervised bwrap) and bwrap's init;\n"
			       "waits up to MS (default %d) for them to exit: 0 when they did, 1 otherwise.\n",
			       TERM_TIMEOUT_DEFAULT_MS);
			return 0;
		default: return term_fail(2, "unknown or incomplete option \"%s\" (see --help)", argv[optind - 1]);
		}
	}
	if (!pod)
		return term_fail(2, "--pod NAME is required");
	if (optind < argc)
		return term_fail(2, "unexpected argument \"%s\"", argv[optind]);
	if (geteuid() != 0)
		return term_fail(1, "must run as root");
	if (azds_inst_init(&in, instance, &e))
		return term_fail(1, "%s", e.msg);
	err = azds_podcg_term(&in, pod, (pid_t)keep, (int)timeout);
	if (err == -ETIMEDOUT)
		return term_fail(1, "pod \"%s\": processes still running after %ld ms", pod, timeout);
	if (err)
		return term_fail(1, "pod \"%s\": %s", pod, strerror(-err));
	return 0;
}
