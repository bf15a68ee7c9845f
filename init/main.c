// SPDX-License-Identifier: MIT
/*
 * azds-init: the per-pod step that replaces the iptables init container.
 * "add" creates the pod's namespace and veth, attaches steering, registers
 * the pod in its space and as a backend of its services, and writes the
 * resolv.conf search list; "del" removes all of it; "exec" runs a command
 * inside the pod (its netns, cgroup and resolv.conf), as root, for tools
 * and tests; "sandbox" runs a pod's own process, unprivileged and confined
 * (sandbox.c, docs/sandbox.md); "term" stops one gracefully (term.c);
 * "workdir" grants or revokes a pod's access to a lent directory (workdir.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "azds.h"
#include "node.h"
#include "sandbox.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: azds-init [-i INSTANCE] add --pod NAME --space PATH [--service SVC]...\n"
		   "       azds-init [-i INSTANCE] del --pod NAME\n"
		   "       azds-init [-i INSTANCE] exec --pod NAME -- COMMAND [ARGS]...\n"
		   "       azds-init [-i INSTANCE] sandbox --pod NAME --uid UID [--workdir DIR | --workspace-tree DIR]\n"
		   "                 [--mount-at PATH] [--memory BYTES] [--pids N]\n"
		   "                 [--cpu MILLIS] [--env K=V]... -- COMMAND [ARGS]...\n"
		   "       azds-init [-i INSTANCE] term --pod NAME [--keep PID] [--timeout MS]\n"
		   "       azds-init workdir grant|revoke --uid UID DIR\n\n"
		   "add is idempotent: run again, it repairs what is missing and prints the same address.\n"
		   "del leaves nothing behind: processes in the pod are killed, namespace and cgroup removed.\n"
		   "sandbox runs a pod's process as UID, confined (azds-init sandbox --help, docs/sandbox.md).\n"
		   "term stops a pod gracefully: SIGTERM to its command, then waits for it to exit.\n"
		   "workdir grants a pod's uid ACL access to a directory lent to it, or revokes it.\n");
}

static int fail(const char *msg)
{
	fprintf(stderr, "azds-init: %s\n", msg);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "pod", required_argument, 0, 'p' },
					      { "space", required_argument, 0, 's' },
					      { "service", required_argument, 0, 'S' },
					      { "instance", required_argument, 0, 'i' },
					      { "help", no_argument, 0, 'h' },
					      { 0, 0, 0, 0 } };
	struct azds_pod_spec ps = {};
	const char *instance = getenv("AZDS_INSTANCE"), *verb;
	struct azds_inst in;
	struct azds_maps m;
	struct azds_err e;
	int c, rc = 0;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	/* -i may precede the verb */
	if (!strcmp(argv[1], "-i") || !strcmp(argv[1], "--instance")) {
		if (argc < 4) {
			fprintf(stderr, "azds-init: %s\n", argc < 3 ? "-i needs an instance name" : "a command is needed after -i NAME");
			usage(stderr);
			return 2;
		}
		instance = argv[2];
		argv += 2;
		argc -= 2;
	}
	verb = argv[1];
	if (!strcmp(verb, "-h") || !strcmp(verb, "--help")) {
		usage(stdout);
		return 0;
	}
	/* the command first: an unknown one is said as such, before anything
	 * looks at the instance */
	{
		static const char *const verbs[] = { "add", "del", "exec", "sandbox", "term", "workdir" };
		bool known = false;

		for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
			known = known || !strcmp(verb, verbs[k]);
		if (!known) {
			fprintf(stderr, "azds-init: unknown command \"%s\" (add, del, exec, sandbox, term, workdir; see --help)\n",
				verb);
			return 2;
		}
	}
	/* its own options and failure convention (exit 127, one line) */
	if (!strcmp(verb, "sandbox"))
		return sandbox_main(instance, argc - 1, argv + 1);
	if (!strcmp(verb, "term"))
		return term_main(instance, argc - 1, argv + 1);
	if (!strcmp(verb, "workdir"))
		return workdir_main(argc - 1, argv + 1);
	optind = 2;
	opterr = 0; /* our own messages: argv[0] may be the instance's name after the shift above */
	while ((c = getopt_long(argc, argv, "+hi:", opts, NULL)) != -1) {
		switch (c) {
		case 'p': ps.name = optarg; break;
		case 's': ps.space = optarg; break;
		case 'S':
			if (ps.nservices >= 16)
				return fail("at most 16 --service per pod");
			ps.services[ps.nservices++] = optarg;
			break;
		case 'i': instance = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "azds-init: %s: unknown option or missing value \"%s\" (see --help)\n", verb,
				argv[optind - 1]);
			return 2;
		}
	}
	if (!ps.name)
		return fail("--pod NAME is required");
	if (geteuid() != 0)
		return fail("must run as root");
	if (azds_inst_init(&in, instance, &e))
		return fail(e.msg);

	if (!strcmp(verb, "exec")) {
		if (optind >= argc)
			return fail("exec: a command is required after --");
		azds_pod_exec(&in, ps.name, argv + optind, &e);
		return fail(e.msg);
	}
	if (optind < argc)
		return fail("unexpected arguments (see --help)");
	{
		pid_t d = azds_daemon_pid(&in);

		/* the daemon's store is the truth there: pods come and go through it */
		if (d) {
			fprintf(stderr,
				"azds-init: instance \"%s\" is run by the controller daemon (pid %d): use azds pod run / azds pod rm\n",
				in.name, (int)d);
			return 1;
		}
	}
	/* an instance that is not running has no run directory: the maps'
	 * open below says so, and nothing is created for it */
	int lk = azds_lock(in.run_dir, false);

	if (lk < 0 && lk != -ENOENT)
		return fail("cannot take the instance lock in /run/azds");
	if (azds_maps_open(&in, &m, &e))
		return fail(e.msg);
	if (!strcmp(verb, "add")) {
		struct in_addr addr;

		if (!ps.space)
			rc = fail("add: --space PATH is required");
		else if (azds_pod_add(&in, &m, &ps, &addr, &e))
			rc = fail(e.msg);
		else
			printf("%s\n", inet_ntoa(addr));
	} else { /* del: the commands are checked first thing */
		if (azds_pod_del(&in, &m, ps.name, &e))
			rc = fail(e.msg);
	}
	azds_maps_close(&m);
	return rc;
}
