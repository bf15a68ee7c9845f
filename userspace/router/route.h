/* SPDX-License-Identifier: MIT */
/* Per-request routing decisions, read from the pinned maps. */
#ifndef AZDS_ROUTE_H
#define AZDS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include "azds.h"

enum route_result {
	ROUTE_OK = 0,
	ROUTE_NO_SERVICE,  /* no space in the chain declares the service -> 502 */
	ROUTE_NO_ENDPOINT, /* declared, but no backend pod anywhere -> 503 */
	ROUTE_NO_CALLER,   /* caller is not a pod and no route-as given -> 502 */
};

struct route {
	struct sockaddr_in backend;
	__u32 space;         /* the space whose backend it is */
	char chain[512];     /* "dev/alice/x -> dev/alice -> dev" for messages */
};

struct route_cache;

struct router_maps {
	struct azds_maps m;
	__u32 max_depth;
	__u64 seen_gen;
	struct route_cache *rc; /* decisions valid while the generation holds */
};

/* allocate the cache; 0 or -ENOMEM */
int route_init(struct router_maps *rm);
/* drop every cached decision if a writer bumped the generation */
void route_sync(struct router_maps *rm);

/* space of the calling pod, 0 if unknown */
__u32 route_caller_space(struct router_maps *rm, __be32 addr);
/* service id/kind/name of a virtual address; false if not a service */
bool route_vip(struct router_maps *rm, __be32 addr, __be16 port, struct azds_vip *v);
/* the service of that name (id, kind, name); false if there is none */
bool route_service(struct router_maps *rm, const char *name, struct azds_vip *v);
/*
 * Resolve a route-as value ("alice", or a full path "dev/alice") against
 * the caller's chain: "<ancestor>/<value>" for the caller's space and each
 * ancestor, nearest first, then the value as a full path. 0 if unknown.
 */
__u32 route_resolve_space(struct router_maps *rm, __u32 caller, const char *val, size_t len);
/* backends of the nearest space from start; out->chain is filled on errors */
enum route_result route_pick(struct router_maps *rm, __u32 start, __u32 svc, unsigned rr, struct route *out);

#endif
