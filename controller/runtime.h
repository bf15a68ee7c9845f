/* SPDX-License-Identifier: MIT */
/*
 * The runtime seam: every change the reconciler makes to the node goes
 * through this table. The local runtime (runtime_local.c) is the only
 * implementation: namespaces, veths, cgroups and pinned maps on this host,
 * pod processes through the supervisor and the sandbox. A Kubernetes
 * adapter supplies the same operations from an API server later (spaces
 * as labelled namespaces, pods and endpoints from the cluster).
 *
 * Every operation is idempotent: applied to a node that already matches,
 * it changes nothing and returns 0. Errors: -errno and a message in e.
 */
#ifndef AZDS_RUNTIME_H
#define AZDS_RUNTIME_H

#include "ctl.h"

struct runtime_ops {
	const char *name;
	/* the node itself: data plane loaded and pinned, node namespace, DNS */
	int (*node_up)(struct ctl *c, struct azds_err *e);
	/* spaces */
	int (*space_apply)(struct ctl *c, const struct st_space *sp, struct azds_err *e);
	int (*space_delete)(struct ctl *c, const char *path, struct azds_err *e);
	/* services; *vip: in the stored address (0: allocate), out the one in use */
	int (*service_apply)(struct ctl *c, const struct st_service *svc, uint32_t *vip, struct azds_err *e);
	int (*service_delete)(struct ctl *c, const char *space, const char *name, struct azds_err *e);
	/* pods: create = network, cgroup, registration and endpoints (the pod
	 * becomes a backend of its services); *addr as for vip */
	int (*pod_create)(struct ctl *c, const struct st_pod *p, uint32_t *addr, struct azds_err *e);
	int (*pod_start)(struct ctl *c, const struct st_pod *p, struct azds_err *e);
	int (*pod_stop)(struct ctl *c, const char *name, struct azds_err *e);
	int (*pod_delete)(struct ctl *c, const char *name, struct azds_err *e);
	/* DNS records served to pods */
	int (*dns_sync)(struct ctl *c, struct azds_err *e);
	/* what the node has that the store may not: for orphan removal */
	int (*each_space)(struct ctl *c, int (*cb)(void *ctx, const char *path), void *ctx);
	int (*each_service)(struct ctl *c, int (*cb)(void *ctx, const char *space, const char *name), void *ctx);
	int (*each_pod)(struct ctl *c, int (*cb)(void *ctx, const char *name), void *ctx);
};

extern const struct runtime_ops runtime_local;

#endif
