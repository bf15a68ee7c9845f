// SPDX-License-Identifier: MIT
/*
 * The router reads the pinned maps directly on every request: a routing
 * change (a new child space, a pod coming up) is visible to the very next
 * request, with no cache to invalidate.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include "route.h"

__u32 route_caller_space(const struct router_maps *rm, __be32 addr)
{
	struct azds_pod p;

	if (bpf_map_lookup_elem(rm->m.pods, &addr, &p))
		return 0;
	return p.space;
}

bool route_vip(const struct router_maps *rm, __be32 addr, __be16 port, struct azds_vip *v)
{
	struct azds_vip_key k = { .addr = addr, .port = port };

	return bpf_map_lookup_elem(rm->m.vips, &k, v) == 0;
}

static bool space_get(const struct router_maps *rm, __u32 id, struct azds_space *sp)
{
	return id && bpf_map_lookup_elem(rm->m.spaces, &id, sp) == 0;
}

static __u32 space_id(const struct router_maps *rm, const char *path, size_t len)
{
	char key[AZDS_PATH_MAX];
	__u32 id;

	if (len == 0 || len >= AZDS_PATH_MAX)
		return 0;
	memset(key, 0, sizeof(key));
	memcpy(key, path, len);
	if (bpf_map_lookup_elem(rm->m.space_ids, key, &id))
		return 0;
	return id;
}

__u32 route_resolve_space(const struct router_maps *rm, __u32 caller, const char *val, size_t len)
{
	struct azds_space sp;
	char path[AZDS_PATH_MAX];
	__u32 cur = caller, id;

	if (len == 0 || len >= AZDS_PATH_MAX)
		return 0;
	for (__u32 i = 0; i < rm->max_depth && space_get(rm, cur, &sp); i++) {
		int n = snprintf(path, sizeof(path), "%s/%.*s", sp.path, (int)len, val);

		if (n > 0 && (size_t)n < sizeof(path)) {
			id = space_id(rm, path, (size_t)n);
			if (id)
				return id;
		}
		/* the value may name the caller's own space or an ancestor */
		if (strlen(sp.path) == len && memcmp(sp.path, val, len) == 0)
			return cur;
		cur = sp.parent;
	}
	return space_id(rm, val, len);
}

enum route_result route_pick(const struct router_maps *rm, __u32 start, __u32 svc, const char *svc_name,
			     unsigned rr, struct route *out)
{
	struct azds_svc_key key = { .svc = svc };
	struct azds_backends be;
	struct azds_space sp;
	bool declared = false;
	size_t o = 0;
	__u32 cur = start;

	out->chain[0] = 0;
	out->svc = svc;
	for (__u32 i = 0; i < rm->max_depth && space_get(rm, cur, &sp); i++) {
		if (o < sizeof(out->chain))
			o += snprintf(out->chain + o, sizeof(out->chain) - o, "%s%s", o ? " -> " : "", sp.path);
		key.space = cur;
		if (bpf_map_lookup_elem(rm->m.backends, &key, &be) == 0) {
			declared = true;
			if (be.count > 0) {
				__u32 n = be.count < AZDS_MAX_BACKENDS ? be.count : AZDS_MAX_BACKENDS;

				memset(&out->backend, 0, sizeof(out->backend));
				out->backend.sin_family = AF_INET;
				out->backend.sin_addr.s_addr = be.addrs[rr % n];
				out->backend.sin_port = htons(be.target_port);
				out->space = cur;
				return ROUTE_OK;
			}
		}
		cur = sp.parent;
	}
	(void)svc_name;
	if (!start)
		return ROUTE_NO_CALLER;
	return declared ? ROUTE_NO_ENDPOINT : ROUTE_NO_SERVICE;
}
