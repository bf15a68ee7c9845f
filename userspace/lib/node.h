/* SPDX-License-Identifier: MIT */
/* The embedded node: namespaces, veths, cgroups, DNS, daemons. */
#ifndef AZDS_NODE_H
#define AZDS_NODE_H

#include <sys/types.h>
#include "azds.h"

struct azds_pod_spec {
	const char *name;
	const char *space;
	const char *services[16];
	int nservices;
	__be32 want_addr; /* a new pod's address, when free (0: any) */
};

/* names derived from an instance and a pod */
void azds_pod_netns(const struct azds_inst *in, const char *pod, char *buf, size_t len);
void azds_pod_cgroup(const struct azds_inst *in, const char *pod, char *buf, size_t len);

int azds_ensure_bpffs(void);
int azds_node_up(const struct azds_inst *in, struct azds_err *e);   /* netns, routes, cgroup, programs */
int azds_node_reattach(const struct azds_inst *in, const struct azds_maps *m);
int azds_node_down(const struct azds_inst *in, struct azds_err *e); /* everything, idempotent */

int azds_pod_add(const struct azds_inst *in, const struct azds_maps *m, const struct azds_pod_spec *ps,
		 struct in_addr *addr, struct azds_err *e);
int azds_pod_del(const struct azds_inst *in, const struct azds_maps *m, const char *name, struct azds_err *e);
int azds_pod_exec(const struct azds_inst *in, const char *name, char *const argv[], struct azds_err *e);

/* DNS served to pods: regenerate hosts and tell dnsmasq */
int azds_dns_refresh(const struct azds_inst *in, const struct azds_maps *m);

/* daemons started by pid file: 0 if not running */
pid_t azds_pidfile_alive(const char *pidfile, const char *comm);
int azds_daemon_start(const char *pidfile, const char *logfile, char *const argv[], pid_t *pid);
int azds_daemon_start_cg(const char *pidfile, const char *logfile, const char *cgroup, char *const argv[],
			 pid_t *pid);
int azds_daemon_stop(const char *pidfile, const char *comm);

/*
 * Attach prog_fd to the cgroup cgfd (BPF_F_ALLOW_MULTI, type an enum
 * bpf_attach_type), then detach the other programs of that type there whose
 * name starts with prefix: new first, so no moment is left without one.
 */
int azds_cgroup_attach_replace(int cgfd, int prog_fd, int type, const char *prefix);

#endif
