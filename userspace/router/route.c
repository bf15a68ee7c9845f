// SPDX-License-Identifier: MIT
/*
 * Routing decisions come from the pinned maps. They are cached in small
 * direct-mapped tables that are dropped as a whole whenever a writer bumps
 * the generation counter (an mmap'ed map, read without a syscall), so a
 * routing change is visible to the very next request and a steady state
 * costs no bpf() call per request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <stdlib.h>
#include "route.h"

#define RC_SLOTS 1024
#define RC_NAME_SLOTS 256 /* service names: the ingress's lookups */

struct pick_slot {
	bool used;
	__u32 start, svc;
	enum route_result res;
	__u32 n;
	__u16 port;
	__u32 space; /* the space whose backends these are */
	__be32 addrs[AZDS_MAX_BACKENDS];
};

struct resolve_slot {
	bool used;
	__u32 caller, id;
	size_t len;
	char val[AZDS_PATH_MAX];
};

struct pod_slot {
	bool used;
	__be32 addr;
	__u32 space;
};

struct vip_slot {
	bool used, found;
	__be32 addr;
	__be16 port;
	struct azds_vip v;
};

struct name_slot {
	bool used, found;
	char name[AZDS_NAME_MAX];
	struct azds_vip v;
};

struct route_cache {
	struct name_slot name[RC_NAME_SLOTS];
	struct pick_slot pick[RC_SLOTS];
	struct resolve_slot resolve[RC_SLOTS];
	struct pod_slot pod[RC_SLOTS];
	struct vip_slot vip[RC_SLOTS];
};

static unsigned slot(__u32 a, __u32 b)
{
	__u32 h = a * 2654435761u ^ (b + 0x9e3779b9u) * 2246822519u;

	return (h ^ (h >> 15)) & (RC_SLOTS - 1);
}

int route_init(struct router_maps *rm)
{
	rm->rc = calloc(1, sizeof(*rm->rc));
	if (!rm->rc)
		return -ENOMEM;
	rm->seen_gen = azds_gen_read(&rm->m);
	return 0;
}

void route_sync(struct router_maps *rm)
{
	__u64 g = azds_gen_read(&rm->m);
	struct azds_config cfg;

	if (g == rm->seen_gen)
		return;
	memset(rm->rc, 0, sizeof(*rm->rc));
	rm->seen_gen = g;
	if (azds_config_get(&rm->m, &cfg) == 0 && cfg.max_depth)
		rm->max_depth = cfg.max_depth;
}

static __u32 caller_space_uncached(const struct router_maps *rm, __be32 addr)
{
	struct azds_pod p;

	if (bpf_map_lookup_elem(rm->m.pods, &addr, &p))
		return 0;
	return p.space;
}

__u32 route_caller_space(struct router_maps *rm, __be32 addr)
{
	struct pod_slot *ps = &rm->rc->pod[slot(addr, 1)];

	if (ps->used && ps->addr == addr)
		return ps->space;
	ps->used = true;
	ps->addr = addr;
	ps->space = caller_space_uncached(rm, addr);
	return ps->space;
}

bool route_vip(struct router_maps *rm, __be32 addr, __be16 port, struct azds_vip *v)
{
	struct azds_vip_key k = { .addr = addr, .port = port };
	struct vip_slot *vs = &rm->rc->vip[slot(addr, port)];

	if (!(vs->used && vs->addr == addr && vs->port == port)) {
		vs->used = true;
		vs->addr = addr;
		vs->port = port;
		vs->found = bpf_map_lookup_elem(rm->m.vips, &k, &vs->v) == 0;
	}
	if (vs->found)
		*v = vs->v;
	return vs->found;
}

static bool space_get(const struct router_maps *rm, __u32 id, struct azds_space *sp)
{
	return id && bpf_map_lookup_elem(rm->m.spaces, &id, sp) == 0;
}

static __u32 resolve_uncached(const struct router_maps *rm, __u32 caller, const char *val, size_t len)
{
	struct azds_space sp;
	char path[AZDS_PATH_MAX];
	__u32 cur = caller, id;

	if (len == 0 || len >= AZDS_PATH_MAX)
		return 0;
	for (__u32 i = 0; i < rm->max_depth && space_get(rm, cur, &sp); i++) {
		int n = snprintf(path, sizeof(path), "%s/%.*s", sp.path, (int)len, val);

		if (n > 0 && (size_t)n < sizeof(path) && azds_space_lookup(&rm->m, path, &id, NULL) == 0)
			return id;
		/* the value may name the caller's own space or an ancestor */
		if (strlen(sp.path) == len && memcmp(sp.path, val, len) == 0)
			return cur;
		cur = sp.parent;
	}
	snprintf(path, sizeof(path), "%.*s", (int)len, val); /* the value as a full path */
	if (azds_space_lookup(&rm->m, path, &id, NULL) == 0)
		return id;
	/* a leaf name that exactly one space has, wherever it is: a
	 * grandchild's "x" from a pod of dev (dev/alice/x). In the Kubernetes
	 * mode leaf names are namespace names, unique in the cluster; where
	 * two spaces share one (dev/alice, qa/alice) it names neither. One walk
	 * of the spaces per (caller, value), cached until the generation moves */
	if (memchr(val, '/', len))
		return 0;
	/* one pass over the keys (azds_space_next walks the map for each
	 * step: quadratic), bounded by the map's size */
	id = 0;
	{
		__u32 key, next;
		void *cur = NULL;

		while (bpf_map_get_next_key(rm->m.spaces, cur, &next) == 0) {
			const char *leaf;

			key = next;
			cur = &key;
			if (bpf_map_lookup_elem(rm->m.spaces, &key, &sp))
				continue;
			leaf = strrchr(sp.path, '/');
			leaf = leaf ? leaf + 1 : sp.path;
			if (strlen(leaf) == len && memcmp(leaf, val, len) == 0) {
				if (id)
					return 0; /* two of them */
				id = key;
			}
		}
	}
	return id;
}

static __u32 hash_bytes(const char *p, size_t len)
{
	__u32 h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

__u32 route_resolve_space(struct router_maps *rm, __u32 caller, const char *val, size_t len)
{
	struct resolve_slot *rs;

	if (len == 0 || len >= AZDS_PATH_MAX)
		return 0;
	rs = &rm->rc->resolve[slot(caller, hash_bytes(val, len))];
	if (rs->used && rs->caller == caller && rs->len == len && memcmp(rs->val, val, len) == 0)
		return rs->id;
	rs->used = true;
	rs->caller = caller;
	rs->len = len;
	memcpy(rs->val, val, len);
	rs->id = resolve_uncached(rm, caller, val, len);
	return rs->id;
}

bool route_service(struct router_maps *rm, const char *name, struct azds_vip *v)
{
	size_t len = strlen(name);
	struct name_slot *ns;
	struct azds_vip_key vk;

	if (len == 0 || len >= AZDS_NAME_MAX)
		return false;
	ns = &rm->rc->name[hash_bytes(name, len) & (RC_NAME_SLOTS - 1)];
	if (!(ns->used && !strcmp(ns->name, name))) {
		ns->used = true;
		memcpy(ns->name, name, len + 1);
		/* a walk of the vips map when the hint misses; an unknown
		 * name is remembered too, until the generation changes */
		ns->found = azds_service_id(&rm->m, name, &vk, &ns->v) == 0;
	}
	if (ns->found)
		*v = ns->v;
	return ns->found;
}

/* Walk the chain in the maps; chain text only when asked (error replies). */
static enum route_result pick_uncached(const struct router_maps *rm, __u32 start, __u32 svc, struct pick_slot *ps,
				       char *chain, size_t chain_len)
{
	struct azds_svc_key key = { .svc = svc };
	struct azds_backends be;
	struct azds_space sp;
	bool declared = false;
	size_t o = 0;
	__u32 cur = start;

	if (chain)
		chain[0] = 0;
	for (__u32 i = 0; i < rm->max_depth && space_get(rm, cur, &sp); i++) {
		if (chain && o < chain_len)
			o += snprintf(chain + o, chain_len - o, "%s%s", o ? " -> " : "", sp.path);
		key.space = cur;
		if (bpf_map_lookup_elem(rm->m.backends, &key, &be) == 0) {
			declared = true;
			if (be.count > 0) {
				ps->n = be.count < AZDS_MAX_BACKENDS ? be.count : AZDS_MAX_BACKENDS;
				memcpy(ps->addrs, be.addrs, ps->n * sizeof(be.addrs[0]));
				ps->port = be.target_port;
				ps->space = cur;
				return ROUTE_OK;
			}
		}
		cur = sp.parent;
	}
	if (!start)
		return ROUTE_NO_CALLER;
	return declared ? ROUTE_NO_ENDPOINT : ROUTE_NO_SERVICE;
}

enum route_result route_pick(struct router_maps *rm, __u32 start, __u32 svc, unsigned rr, struct route *out)
{
	struct pick_slot *ps = &rm->rc->pick[slot(start, svc)];

	out->chain[0] = 0;
	if (!(ps->used && ps->start == start && ps->svc == svc)) {
		memset(ps, 0, sizeof(*ps));
		ps->used = true;
		ps->start = start;
		ps->svc = svc;
		ps->res = pick_uncached(rm, start, svc, ps, NULL, 0);
	}
	if (ps->res != ROUTE_OK) {
		struct pick_slot tmp;

		/* errors are rare: walk again to name the chain tried */
		pick_uncached(rm, start, svc, &tmp, out->chain, sizeof(out->chain));
		return ps->res;
	}
	memset(&out->backend, 0, sizeof(out->backend));
	out->backend.sin_family = AF_INET;
	out->backend.sin_addr.s_addr = ps->addrs[rr % ps->n];
	out->backend.sin_port = htons(ps->port);
	out->space = ps->space;
	return ROUTE_OK;
}
