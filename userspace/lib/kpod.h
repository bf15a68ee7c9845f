/* SPDX-License-Identifier: MIT */
/*
 * Kubernetes mode, node side: what the node agent (azds-controller run
 * --kubeconfig) and the CNI plugin (azds-cni) both do to a pod that the
 * container runtime made. Nothing here creates a network namespace or a
 * veth: the main CNI plugin (bridge, ptp, ...) made them; azds steers them.
 *
 * "The current netns" is the instance's node_ns when it is set (the
 * embedded node, tests) and the caller's own network namespace when it is
 * "" (Kubernetes mode: the agent and the plugin run in the node's netns).
 */
#ifndef AZDS_KPOD_H
#define AZDS_KPOD_H

#include <linux/types.h>
#include "azds.h"

/* at most this many network namespaces are looked into by azds_kpod_find_if */
#define AZDS_KPOD_NETNS_MAX 4096
/* at most this many interfaces are looked at in one namespace */
#define AZDS_KPOD_IF_MAX 8192

/*
 * Idempotent: TC ingress azds_steer on host_if (the host side of the pod's
 * veth), strict rp_filter on it, pods map entry addr -> {space id of
 * `space`, cgroup_id, name truncated to AZDS_NAME_MAX - 1 bytes}, the
 * pod_cgroups entry when cgroup_id != 0, a generation bump. cgroup_id 0
 * means unknown: an entry of the same pod that already has one keeps it.
 * Refuses (-EINVAL) when the namespace's conf/all/rp_filter is loose (2):
 * the kernel uses max(all, dev), so strict on the veth would not hold.
 * -EBUSY when another program holds azds' TC slot (handle 1, priority 1).
 */
int azds_kpod_attach(const struct azds_inst *in, const struct azds_maps *m, const char *host_if, __be32 addr,
		     const char *space, const char *name, __u64 cgroup_id, struct azds_err *e);

/*
 * Idempotent, -ENOENT is never an error: the azds_steer filter off host_if
 * (NULL or an interface that is gone: skipped; another program's filter is
 * left alone), the pod's entries out of pods, pod_cgroups and backends. m
 * may be NULL (the data plane is not loaded): only the filter goes.
 */
int azds_kpod_detach(const struct azds_inst *in, const struct azds_maps *m, const char *host_if, __be32 addr,
		     struct azds_err *e);

/*
 * The host-side interface, in the caller's netns, of the veth whose other
 * end (in another netns) holds IPv4 addr: for pods that ran before the
 * agent or the plugin. Looks into the namespaces bind-mounted in /run/netns
 * and those of every process (/proc/PID/ns/net), each once, at most
 * AZDS_KPOD_NETNS_MAX of them, from a thread of its own (the caller's
 * namespace never changes). -ENOENT when no veth peer holds addr.
 */
int azds_kpod_find_if(__be32 addr, char host_if[16], struct azds_err *e);

/* Is the azds_steer filter on host_if (in the current netns)? 1 yes, 0 no, -errno */
int azds_kpod_attached(const struct azds_inst *in, const char *host_if, struct azds_err *e);

/*
 * The data plane's cgroup programs (connect4, connect6, sockops) attached to
 * pod_cgroup (the v2 cgroup holding every pod of the node, e.g.
 * <cgroup2>/kubepods), idempotent; nothing else of the node changes.
 */
int azds_knode_up(const struct azds_inst *in, const char *pod_cgroup, struct azds_err *e);

/*
 * Detach them (this instance's pinned programs, or any azds_* of those
 * types when the pins are gone), and the azds_steer filter from every
 * interface of the current netns that carries it. Idempotent.
 */
int azds_knode_down(const struct azds_inst *in, const char *pod_cgroup, struct azds_err *e);

#endif
