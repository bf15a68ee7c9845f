// SPDX-License-Identifier: MIT
/* azds bench: runs bench/bench.sh, which has its own options and help. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "verbs.h"

#define BENCH_MAX_ARGS 64

VERB(cmd_bench)
{
	char exe[PATH_MAX], script[PATH_MAX + 64], *slash;
	char *args[BENCH_MAX_ARGS];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int k = 0;

	(void)v;
	if (n <= 0)
		return fail("bench: cannot read /proc/self/exe");
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	/* build tree: build/bin/azds -> bench/bench.sh; installed: share/azds */
	snprintf(script, sizeof(script), "%s/../../bench/bench.sh", exe);
	if (access(script, X_OK))
		snprintf(script, sizeof(script), "%s/../share/azds/bench.sh", exe);
#ifdef AZDS_SOURCE_BENCH
	/* a build directory outside the source tree */
	if (access(script, X_OK))
		snprintf(script, sizeof(script), "%s", AZDS_SOURCE_BENCH);
#endif
	if (access(script, X_OK))
		return fail("bench: bench script not found next to %s", exe);
	args[k++] = "bash";
	args[k++] = script;
	args[k++] = "--bin";
	args[k++] = exe;
	for (int i = 1; i < argc && k < BENCH_MAX_ARGS - 1; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	execvp("bash", args);
	perror("azds: exec bash");
	return EXIT_FAIL;
}
