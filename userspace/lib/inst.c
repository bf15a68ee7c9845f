// SPDX-License-Identifier: MIT
/* Instances: where an azds node keeps its pins, runtime files and cgroups. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include "azds.h"
#include "hints.h"

int azds_inst_init(struct azds_inst *in, const char *name, struct azds_err *e)
{
	char cg[200];

	/* only no name at all means the default: an empty one (-i "", an
	 * empty $AZDS_INSTANCE) is a mistake, and acting on the default
	 * instance for it (a purge) would be a bad one */
	if (!name)
		name = AZDS_INSTANCE_DEFAULT;
	/* letters and digits only: '-' separates the parts of the names
	 * derived from it, so one instance's names never match another's */
	if (!*name || strlen(name) > 12 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(name))
		return azds_err(e, EINVAL, "instance \"%s\": 1-12 characters of a-z and 0-9", name);
	memset(in, 0, sizeof(*in));
	snprintf(in->name, sizeof(in->name), "%s", name);
	snprintf(in->pin_dir, sizeof(in->pin_dir), "/sys/fs/bpf/azds/%s", name);
	snprintf(in->run_dir, sizeof(in->run_dir), "/run/azds/%s", name);
	snprintf(in->node_ns, sizeof(in->node_ns), "azds-%s-node", name);
	/* only node and pod plumbing needs cgroups; readers of the maps
	 * (the router, the CLI) work without them */
	if (azds_cgroup2_root(cg, sizeof(cg)) == 0)
		snprintf(in->cgroup_dir, sizeof(in->cgroup_dir), "%s/azds-%s", cg, name);
	return 0;
}

pid_t azds_daemon_pid(const struct azds_inst *in)
{
	char path[300], buf[4096];
	FILE *f;
	int pid = 0;
	size_t n;

	snprintf(path, sizeof(path), "%s/controller.pid", in->run_dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0 || kill(pid, 0))
		return 0;
	/* still the daemon: "azds-controller ... run ..." */
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	if (!strstr(buf, "azds-controller"))
		return 0;
	for (size_t i = strlen(buf) + 1; i < n; i += strlen(buf + i) + 1)
		if (!strcmp(buf + i, "run"))
			return pid;
	return 0;
}

int azds_maps_open(const struct azds_inst *in, struct azds_maps *m, struct azds_err *e)
{
	int *fds[] = { &m->spaces, &m->space_ids, &m->pods, &m->pod_cgroups, &m->vips,
		       &m->services, &m->backends, &m->config, &m->stats, &m->events, &m->socks, &m->gen };
	char path[256];

	m->gen_mem = NULL;
	m->hints = NULL;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		*fds[i] = -1;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", in->pin_dir, azds_dp_map_names[i]);
		*fds[i] = bpf_obj_get(path);
		if (*fds[i] < 0) {
			int err = -errno;

			azds_maps_close(m);
			if (err == -EACCES || err == -EPERM)
				return azds_err(e, err, "instance \"%s\": %s: %s (the pinned maps are root's)", in->name,
						path, strerror(-err));
			return azds_err(e, err,
					"instance \"%s\" is not running (%s: %s); start it with 'azds -i %s controller start'",
					in->name, path, strerror(-err), in->name);
		}
	}
	m->hints = calloc(1, sizeof(*m->hints));
	m->gen_mem = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED, m->gen, 0);
	if (m->gen_mem == MAP_FAILED) {
		int err = -errno;

		m->gen_mem = NULL;
		azds_maps_close(m);
		return azds_err(e, err, "instance \"%s\": map the generation counter: %s", in->name, strerror(-err));
	}
	return 0;
}

void azds_maps_close(struct azds_maps *m)
{
	int *fds[] = { &m->spaces, &m->space_ids, &m->pods, &m->pod_cgroups, &m->vips,
		       &m->services, &m->backends, &m->config, &m->stats, &m->events, &m->socks, &m->gen };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	if (m->gen_mem)
		munmap((void *)m->gen_mem, sysconf(_SC_PAGESIZE));
	m->gen_mem = NULL;
	free(m->hints);
	m->hints = NULL;
}

void azds_gen_bump(const struct azds_maps *m)
{
	if (m->gen_mem)
		__atomic_add_fetch(m->gen_mem, 1, __ATOMIC_SEQ_CST);
}

__u64 azds_gen_read(const struct azds_maps *m)
{
	return m->gen_mem ? __atomic_load_n(m->gen_mem, __ATOMIC_ACQUIRE) : 0;
}

int azds_config_get(const struct azds_maps *m, struct azds_config *c)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(m->config, &zero, c) ? -errno : 0;
}

int azds_config_set(const struct azds_maps *m, const struct azds_config *c)
{
	__u32 zero = 0;

	return bpf_map_update_elem(m->config, &zero, c, BPF_ANY) ? -errno : 0;
}
