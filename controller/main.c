// SPDX-License-Identifier: MIT
/*
 * azds-controller: `run` is the daemon (daemon.c), `shim` the supervisor's
 * per-process keeper (shim.c), `purge` removes an instance whole; every
 * other verb is a one-shot low-level tool (oneshot.c).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ctl.h"
#include "k8s_agent.h"
#include "node.h"
#include "podcg.h"

int oneshot_main(int argc, char **argv, const char *bin_dir);
pid_t oneshot_daemon_pid(const struct azds_inst *inst);

static char self_exe[PATH_MAX], bin_dir[PATH_MAX];

static void find_self(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	char *slash;

	if (n <= 0) {
		strcpy(self_exe, "azds-controller");
		strcpy(bin_dir, ".");
		return;
	}
	self_exe[n] = 0;
	snprintf(bin_dir, sizeof(bin_dir), "%s", self_exe);
	slash = strrchr(bin_dir, '/');
	if (slash)
		*slash = 0;
}

static bool pid_gone(pid_t pid, int wait_ms)
{
	for (int i = 0; i < wait_ms / 10; i++) {
		if (kill(pid, 0) && errno == ESRCH)
			return true;
		usleep(10000);
	}
	return kill(pid, 0) && errno == ESRCH;
}

/* every shim of the instance (units/<name>/run.<N>/shim.pid): they keep
 * the router's listeners and record exits; gone with the instance */
static void kill_shim_file(const char *path)
{
	char comm[64] = "", cpath[64];
	FILE *f = fopen(path, "re"), *cf;
	int pid = 0;

	if (!f)
		return;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	/* never ourselves or our parent: a pid file of another pid namespace
	 * (the agent's pod, gone) may name the numbers we run under now */
	if (pid <= 1 || pid == getpid() || pid == getppid())
		return;
	snprintf(cpath, sizeof(cpath), "/proc/%d/comm", pid);
	cf = fopen(cpath, "re");
	if (cf) {
		if (!fgets(comm, sizeof(comm), cf))
			comm[0] = 0;
		fclose(cf);
	}
	/* only our shims: a recycled pid is someone else's */
	if (!strncmp(comm, "azds-controller", 15) || !strncmp(comm, "azds-shim", 9))
		kill(pid, SIGKILL);
}

static void kill_shims(const struct azds_inst *in)
{
	char dir[300], udir[600], path[900];
	struct dirent *de, *re;
	DIR *d, *u;

	snprintf(dir, sizeof(dir), "%s/units", in->run_dir);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(udir, sizeof(udir), "%s/%s", dir, de->d_name);
		u = opendir(udir);
		if (!u)
			continue;
		while ((re = readdir(u))) {
			if (strncmp(re->d_name, "run.", 4))
				continue;
			snprintf(path, sizeof(path), "%s/%s/shim.pid", udir, re->d_name);
			kill_shim_file(path);
		}
		closedir(u);
	}
	closedir(d);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* rm -rf --one-file-system, without rm: the node agent's image has none */
static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int purge(int argc, char **argv)
{
	const char *instance = getenv("AZDS_INSTANCE"), *state_dir = NULL;
	bool keep_state = false;
	char sdir[300];
	struct azds_inst in;
	struct azds_err e;
	pid_t d;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--state-dir") && i + 1 < argc) {
			state_dir = argv[++i];
		} else if (!strcmp(argv[i], "--keep-state")) {
			keep_state = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: azds-controller [-i INSTANCE] purge [--state-dir DIR] [--keep-state]\n\n"
			       "Removes the instance whole: the daemon, the router, DNS, every pod, the node's\n"
			       "namespaces, veths, cgroups and pinned maps, and the store (/var/lib/azds/<instance>).\n"
			       "Works whether or not the daemon runs. Nothing of the instance is left.\n"
			       "--keep-state keeps the store: what a reboot leaves (the next start restores everything).\n");
			return 0;
		} else {
			fprintf(stderr, "azds-controller: purge: unknown argument \"%s\"\n", argv[i]);
			return 2;
		}
	}
	if (geteuid() != 0) {
		fprintf(stderr, "azds-controller: must run as root\n");
		return 1;
	}
	if (azds_inst_init(&in, instance, &e)) {
		fprintf(stderr, "azds-controller: %s\n", e.msg);
		return 1;
	}
	d = oneshot_daemon_pid(&in);
	if (d) {
		kill(d, SIGTERM);
		if (!pid_gone(d, 5000)) {
			kill(d, SIGKILL);
			pid_gone(d, 2000);
		}
	}
	kill_shims(&in);
	if (azds_node_down(&in, &e)) {
		fprintf(stderr, "azds-controller: purge: %s\n", e.msg);
		return 1;
	}
	azds_podcg_remove_instance(&in);
	/* the run directory whole (the supervisor's units too), as a reboot would */
	rm_tree(in.run_dir);
	rmdir("/run/azds");
	if (keep_state) {
		printf("instance %s: removed from the node; its store is kept\n", in.name);
		return 0;
	}
	if (!state_dir) {
		snprintf(sdir, sizeof(sdir), "/var/lib/azds/%s", in.name);
		state_dir = sdir;
	}
	rm_tree(state_dir);
	rmdir("/var/lib/azds"); /* with the last instance */
	printf("instance %s: purged\n", in.name);
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;

	find_self();
	/* -i INSTANCE may precede the verb: it becomes $AZDS_INSTANCE for the
	 * verbs parsed here */
	while (i + 1 < argc && (!strcmp(argv[i], "-i") || !strcmp(argv[i], "--instance"))) {
		setenv("AZDS_INSTANCE", argv[i + 1], 1);
		i += 2;
	}
	if (i < argc && !strcmp(argv[i], "run") && k8s_agent_wanted(argc - i, argv + i))
		return k8s_agent_main(argc - i, argv + i, self_exe, bin_dir);
	if (i < argc && !strcmp(argv[i], "k8s-dump"))
		return k8s_agent_dump(argc - i, argv + i);
	if (i < argc && !strcmp(argv[i], "k8s-teardown"))
		return k8s_agent_teardown(argc - i, argv + i, self_exe);
	if (i < argc && !strcmp(argv[i], "run"))
		return ctl_run(argc - i, argv + i, self_exe, bin_dir);
	if (i < argc && !strcmp(argv[i], "shim"))
		return sup_shim_main(argc - i, argv + i);
	if (i < argc && !strcmp(argv[i], "purge"))
		return purge(argc - i, argv + i);
	return oneshot_main(argc, argv, bin_dir);
}
