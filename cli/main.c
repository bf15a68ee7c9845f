// SPDX-License-Identifier: MIT
/*
 * azds: the developer's CLI. Verbs are matched exactly from one table;
 * most are calls to the controller's API (client.c), a few read the data
 * plane's pinned maps directly (list-uris --addresses, events) or run the benchmark.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "k8s_cli.h"
#include "verbs.h"

#define NO_LIMIT (-1)

VERB(cmd_image_build); /* image.c */

static const struct verb verbs[] = {
	{ "controller", "start", cmd_controller_start,
	  "[--max-depth N] [--max-spaces N] [--max-services N] [--max-pods N] [--group G] [--ingress-port P] [--router-arg ARG]...",
	  "start the instance's controller in the background and wait until it is ready",
	  "It runs azds-controller run (next to this azds) detached from the terminal, logging to\n"
	  "/run/azds/<instance>/controller.log. Already running: says so and succeeds.\n",
	  0, 0 },
	{ "controller", "stop", cmd_controller_stop, "[--all]",
	  "stop the controller (with --all, its router, DNS and pods too; the store is kept)", NULL, 0, 0 },
	{ "controller", "status", cmd_controller_status, "[-o json|wide]",
	  "what the controller runs, the data-plane switches and the number of objects", NULL, 0, 0 },
	{ "controller", "restart-router", cmd_controller_restart_router, NULL,
	  "hand the listeners to a new router and drain the old one", NULL, 0, 0 },
	{ "controller", "set", cmd_controller_set, "kernel-lb|steer|events|sockmap|sockmap-pods|trace on|off",
	  "flip a data-plane switch (kept by the controller across restarts)", NULL, 2, 2 },
	{ "controller", "install", cmd_k8s_controller_install, "[-n SPACE] [-y]",
	  "on a cluster: the azds namespace, the node agents (deploy/kubernetes/), the first space", NULL, 0, 0 },
	{ "controller", "uninstall", cmd_k8s_controller_uninstall, "[-y]",
	  "on a cluster: remove azds from it and its nodes, leaving the namespaces as they were", NULL, 0, 0 },
	{ "image", "build", cmd_image_build, "-o FILE [-t REF] [--bin-dir DIR]",
	  "the node agent's image as an OCI archive, for ctr images import (no registry)", NULL, 0, 0 },
	{ "space", "list", cmd_space_list, "[-o json|wide]", "the spaces; * marks your selected space", NULL, 0, 0 },
	{ "space", "select", cmd_space_select, "-n SPACE [-y]",
	  "make SPACE your selected space, creating it when missing",
	  "When SPACE does not exist, it asks on a terminal before creating it under its parent\n"
	  "(which must exist); -y creates it without asking, and is required when not on a terminal.\n"
	  "The selection is kept per user by the controller.\n",
	  0, 0 },
	{ "space", "show", cmd_space_show, "[-n SPACE] [-o json|wide]",
	  "a space's parent, labels and contents (default: your selected space)", NULL, 0, 0 },
	{ "space", "remove", cmd_space_remove, "-n SPACE [--recursive] [-y]",
	  "remove a space: its pods are stopped and its services removed",
	  "A space with children is refused unless --recursive, which removes that subtree only.\n"
	  "On a terminal it asks first unless -y.\n",
	  0, 0 },
	{ "pod", "run", cmd_pod_run,
	  "NAME [-n SPACE] [--service SVC]... [--restart POLICY] [LIMITS] [--env K=V]... [-- COMMAND [ARGS...]]",
	  "run a pod (low level, for scripts and tests)",
	  "Without COMMAND the pod is bare: its network and cgroup exist, nothing runs in it.\n", 1, 1 },
	{ "pod", "list", cmd_pod_list, "[-n SPACE | -A] [-o json|wide]",
	  "pods of a space (default: your selected space), or of all with -A", NULL, 0, 0 },
	{ "pod", "logs", cmd_pod_logs, "NAME [-n SPACE] [-f]", "a pod's output; -f follows it until Ctrl-C",
	  "Pod names are the node's: -n only checks that the pod is in SPACE.\n", 1, 1 },
	{ "pod", "rm", cmd_pod_rm, "NAME [-n SPACE]", "stop a pod and remove its network and cgroup",
	  "Pod names are the node's: -n only checks that the pod is in SPACE.\n", 1, 1 },
	{ "service", "list", cmd_service_list, "[-n SPACE | -A] [-o json|wide]",
	  "services of a space (default: your selected space), or of all with -A", NULL, 0, 0 },
	{ "service", "add", cmd_service_add, "NAME [-n SPACE] [--kind http|tcp] [--port P] [--target-port T]",
	  "declare a service in a space (low level, for scripts; replaces one of the same name)", NULL, 1, 1 },
	{ "service", "rm", cmd_service_rm, "NAME [-n SPACE]", "remove a service from a space", NULL, 1, 1 },
	{ "workspace", "sync", cmd_workspace_sync,
	  "DIR --name NAME [-n SPACE] [--sync GLOB]... [--ignore PATTERN]... [--no-gitignore] [--only PATH]... [-o json]",
	  "sync a folder into a workspace (what azds up does first; low level, for scripts and tests)",
	  "Only what differs from the workspace goes (SHA-256, zlib in transit); files the folder no\n"
	  "longer has are deleted there. .dockerignore and .gitignore files are honoured (docs/sync.md).\n",
	  1, 1 },
	{ "workspace", "ls", cmd_workspace_ls, "[-n SPACE | -A] [-o json]",
	  "workspaces of a space (default: your selected space), or of all with -A", NULL, 0, 0 },
	{ "workspace", "rm", cmd_workspace_rm, "NAME [-n SPACE]", "remove a workspace and its files", NULL, 1, 1 },
	{ "prep", NULL, cmd_prep, "[FOLDER] [--enable-ingress] [--name NAME] [--port P] [--lang LANG]",
	  "Dockerfiles, azds.yaml and a Helm chart for the project in FOLDER (default .)",
	  "It detects Node.js, Python, Go, Java with Maven, .NET, and C with Make or CMake from the\n"
	  "folder's files (docs/prep.md has the rules), never overwrites a file (each one kept is named)\n"
	  "and needs no controller.\n",
	  0, 1 },
	{ "up", NULL, cmd_up, "[FOLDER] [-n SPACE] [-d] [--dry-run] [--port P] [--forward-port P] [-v]",
	  "run the folder's service in your space, follow its output and sync each save",
	  "Reads azds.yaml and the Dockerfile (configurations.develop.build.dockerfile, else\n"
	  "build.dockerfile), syncs the folder into a workspace of the controller, runs the RUN steps\n"
	  "whose inputs changed, declares the service and starts it with the workspace at WORKDIR.\n"
	  "Then it prints its output, each line prefixed with the service, and watches the folder:\n"
	  "a static file is copied in place, a source change restarts the service (after\n"
	  "iterate.buildCommands), a change to azds.yaml, the Dockerfile or a file outside\n"
	  "container.sync redeploys. Ctrl-C stops following and leaves the service running.\n",
	  0, 1 },
	{ "down", NULL, cmd_down, "[FOLDER] [-n SPACE] [--keep-workspace] [-o json]",
	  "remove the folder's service from your space: its pods, the service and its workspace", NULL, 0, 1 },
	{ "list-up", NULL, cmd_list_up, "[-n SPACE] [--all] [-o json]",
	  "what azds up runs in your space: Name, Space, Type, Updated, Status (--all: pods too)", NULL, 0, 0 },
	{ "logs", NULL, cmd_logs, "[SERVICE] [-n SPACE] [-f] [--since DURATION] [--tail N] [-o json]",
	  "a service's output (default: the service of this folder's azds.yaml)",
	  "Each line is prefixed with the service. -f follows it until Ctrl-C, across restarts.\n", 0, 1 },
	{ "list-uris", NULL, cmd_list_uris, "[-n SPACE] [--addresses] [-o json|wide]",
	  "where the services your space sees answer: Uri and Status",
	  "An HTTP service's Uri is its local-ingress host for the space\n"
	  "(http://alice.s.dev.web.localhost:15080/), a TCP service's its service address. A space sees\n"
	  "its own services and, where it has none of a name, its parent's. --addresses lists every\n"
	  "service address of the data plane instead, from the pinned maps.\n",
	  0, 0 },
	{ "trace", NULL, cmd_trace, "[on|off] [-s SPACE] [--service NAME] [--status 5xx] [--method GET] [--query] [-c N] [-o json]",
	  "live HTTP traces of the pods' requests, one line per hop, from the kernel's capture",
	  "A request's hops come together, each hop indented under the one that made it:\n"
	  "  12:00:01.123  dev/alice  web -> api@dev/alice (own)  GET /bikes  200  3.1 ms\n"
	  "Filters keep requests with a hop that matches. Query strings are cut unless --query;\n"
	  "credentials (Authorization, Cookie, Set-Cookie, Proxy-Authorization) are never shown.\n"
	  "What was lost (kernel ring buffer full, reader behind) is reported as it happens and\n"
	  "summed at the end. 'azds trace off -s SPACE' stops capturing that space's pods, 'on'\n"
	  "starts it again; 'azds controller set trace off' stops all capture.\n",
	  0, 1 },
	{ "events", NULL, cmd_events, "[-n COUNT]",
	  "data-plane connection events from now on (older backlog skipped)",
	  "With -n, it exits after COUNT events; otherwise it streams until Ctrl-C.\n", 0, 0 },
	{ "bench", NULL, cmd_bench, "[OPTIONS]",
	  "the data-plane benchmark, with its own topology ('azds bench --help' lists its options)", NULL,
	  NO_LIMIT, NO_LIMIT },
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

/* the verbs that also work on a cluster (cli/k8s_*.c, docs/k8s-cli.md) */
static const struct {
	const char *group, *name;
	int (*run)(const struct verb *v, int argc, char **argv);
} k8s_verbs[] = {
	{ "space", "list", cmd_k8s_space_list },
	{ "space", "select", cmd_k8s_space_select },
	{ "space", "show", cmd_k8s_space_show },
	{ "space", "remove", cmd_k8s_space_remove },
	{ "controller", "install", cmd_k8s_controller_install },
	{ "controller", "uninstall", cmd_k8s_controller_uninstall },
	{ "list-uris", NULL, cmd_k8s_list_uris },
	{ "image", "build", cmd_image_build }, /* no cluster needed: the same either way */
};

static int (*k8s_handler(const struct verb *v))(const struct verb *, int, char **)
{
	for (size_t k = 0; k < sizeof(k8s_verbs) / sizeof(k8s_verbs[0]); k++)
		if (!strcmp(k8s_verbs[k].group, v->group) && !k8s_verbs[k].name == !v->name &&
		    (!v->name || !strcmp(k8s_verbs[k].name, v->name)))
			return k8s_verbs[k].run;
	return NULL;
}

static void usage(FILE *f)
{
	const char *group = NULL;

	fprintf(f, "usage: azds [-i INSTANCE] COMMAND [VERB] [OPTIONS]\n\n");
	for (size_t k = 0; k < NVERBS; k++) {
		const struct verb *v = &verbs[k];
		/* one-word commands: the inner loop's (Dev Spaces' own verbs),
		 * then the data plane's readers and the benchmark */
		const char *heading = v->name			       ? v->group
				      : !strcmp(v->group, "events") || !strcmp(v->group, "bench") ? "data plane"
												    : "develop";

		if (!group || strcmp(group, heading))
			fprintf(f, "%s%s:\n", group ? "\n" : "", heading);
		group = heading;
		fprintf(f, "  %-26s %s\n", verb_title(v), v->summary);
	}
	fprintf(f, "\n-i/--instance NAME selects the instance (default $AZDS_INSTANCE, or \"azds\").\n"
		   "--kubeconfig FILE (or $KUBECONFIG) [--context NAME]: space, list-uris and controller\n"
		   "install|uninstall work on that cluster instead (docs/k8s-cli.md).\n"
		   "'azds COMMAND --help' and 'azds COMMAND VERB --help' tell more.\n");
}

static bool is_group(const char *w)
{
	for (size_t k = 0; k < NVERBS; k++)
		if (verbs[k].name && !strcmp(verbs[k].group, w))
			return true;
	return false;
}

static void group_usage(const char *group, FILE *f)
{
	fprintf(f, "usage: azds [-i INSTANCE] %s VERB [OPTIONS]\n\nVerbs:\n", group);
	for (size_t k = 0; k < NVERBS; k++)
		if (verbs[k].name && !strcmp(verbs[k].group, group))
			fprintf(f, "  %-16s %s\n", verbs[k].name, verbs[k].summary);
	fprintf(f, "\n'azds %s VERB --help' lists a verb's options.\n", group);
}

static const struct verb *find_verb(const char *group, const char *name)
{
	for (size_t k = 0; k < NVERBS; k++) {
		const struct verb *v = &verbs[k];

		if (strcmp(v->group, group))
			continue;
		if (!v->name || (name && !strcmp(v->name, name)))
			return v;
	}
	return NULL;
}

static bool is_help(const char *w)
{
	return !strcmp(w, "-h") || !strcmp(w, "--help");
}

/* the words before the command: -i/--instance and --help only */
static int global_options(int argc, char **argv, int *i)
{
	while (*i < argc && argv[*i][0] == '-') {
		const char *w = argv[*i];

		if (is_help(w)) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(w, "-i") || !strcmp(w, "--instance")) {
			if (*i + 1 >= argc) {
				fprintf(stderr, "azds: %s needs a value (NAME)\n", w);
				return EXIT_USAGE;
			}
			cli_instance = argv[*i + 1];
			cli_instance_flag = true;
			*i += 2;
		} else if (!strncmp(w, "--instance=", 11)) {
			cli_instance = w + 11;
			cli_instance_flag = true;
			*i += 1;
		} else if (!strcmp(w, "--kubeconfig") || !strcmp(w, "--context")) {
			if (*i + 1 >= argc) {
				fprintf(stderr, "azds: %s needs a value (%s)\n", w, w[2] == 'k' ? "FILE" : "NAME");
				return EXIT_USAGE;
			}
			*(w[2] == 'k' ? &cli_kubeconfig : &cli_context) = argv[*i + 1];
			*i += 2;
		} else if (!strncmp(w, "--kubeconfig=", 13)) {
			cli_kubeconfig = w + 13;
			*i += 1;
		} else if (!strncmp(w, "--context=", 10)) {
			cli_context = w + 10;
			*i += 1;
		} else {
			fprintf(stderr, "azds: unknown flag \"%s\" (see azds --help)\n", w);
			return EXIT_USAGE;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	const struct verb *v;
	int i = 1, rc, mode;

	cli_instance = getenv("AZDS_INSTANCE");
	rc = global_options(argc, argv, &i);
	if (rc >= 0)
		return rc;
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (is_group(argv[i])) {
		if (i + 1 >= argc || is_help(argv[i + 1])) {
			group_usage(argv[i], i + 1 >= argc ? stderr : stdout);
			return i + 1 >= argc ? EXIT_USAGE : 0;
		}
		v = find_verb(argv[i], argv[i + 1]);
		if (!v) {
			fprintf(stderr, "azds: %s: unknown verb \"%s\" (see azds %s --help)\n", argv[i], argv[i + 1],
				argv[i]);
			return EXIT_USAGE;
		}
		i++;
	} else {
		v = find_verb(argv[i], NULL);
		if (!v) {
			fprintf(stderr, "azds: unknown command \"%s\" (see azds --help)\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	/*
	 * A cluster (--kubeconfig, or $KUBECONFIG without -i/$AZDS_INSTANCE)
	 * goes to the verb's cluster handler; a verb without one keeps the
	 * embedded mode unless the cluster was asked for by flag.
	 */
	mode = k8s_mode(argc - i, argv + i);
	if (mode < 0)
		return -mode;
	if (mode && k8s_handler(v))
		rc = k8s_handler(v)(v, argc - i, argv + i);
	else if (mode == 1)
		rc = fail("%s does not work on a cluster yet: drop --kubeconfig/--context for the embedded mode",
			  verb_title(v));
	else
		rc = v->run(v, argc - i, argv + i);
	api_cleanup();
	return rc;
}
