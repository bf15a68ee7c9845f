// SPDX-License-Identifier: MIT
/*
 * Spaces, services, pods and backends kept in the pinned maps. The maps are
 * the only state: a daemon killed at any moment loses nothing, and each
 * operation orders its writes so a crash in between leaves either the old
 * or a usable new state (entries are written before the indexes that make
 * them reachable, and removed after them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "azds.h"
#include "hints.h"

static void path_key(char key[AZDS_PATH_MAX], const char *path)
{
	size_t n = strnlen(path, AZDS_PATH_MAX - 1);

	memset(key, 0, AZDS_PATH_MAX);
	memcpy(key, path, n);
}

int azds_space_lookup(const struct azds_maps *m, const char *path, __u32 *id, struct azds_space *sp)
{
	char key[AZDS_PATH_MAX];
	struct azds_space tmp;

	path_key(key, path);
	if (bpf_map_lookup_elem(m->space_ids, key, id))
		return -ENOENT;
	if (bpf_map_lookup_elem(m->spaces, id, sp ? sp : &tmp))
		return -ENOENT;
	return 0;
}

__u32 azds_space_next(const struct azds_maps *m, __u32 prev, struct azds_space *sp)
{
	__u32 best = 0, key, next;
	void *cur = NULL;

	/* ordered walk by id so listings are stable */
	while (bpf_map_get_next_key(m->spaces, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (key > prev && (best == 0 || key < best))
			best = key;
	}
	if (best && sp && bpf_map_lookup_elem(m->spaces, &best, sp))
		return 0;
	return best;
}

static __u32 free_space_id(const struct azds_maps *m)
{
	struct azds_space sp;
	__u32 key, next, max = 0;
	void *cur = NULL;

	/* the id after the last one this process gave, if still free */
	if (m->hints && m->hints->next_space_id && bpf_map_lookup_elem(m->spaces, &m->hints->next_space_id, &sp))
		return m->hints->next_space_id;
	while (bpf_map_get_next_key(m->spaces, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (key > max)
			max = key;
	}
	return max + 1;
}

int azds_space_add(const struct azds_maps *m, const char *path, __u32 *id, struct azds_err *e)
{
	struct azds_space sp = {}, parent;
	struct azds_config cfg;
	char key[AZDS_PATH_MAX], ppath[AZDS_PATH_MAX];
	const char *slash;
	__u32 pid = AZDS_SPACE_NONE, nid;
	int err;

	err = azds_space_path_valid(path, e);
	if (err)
		return err;
	if (azds_space_lookup(m, path, id, NULL) == 0)
		return 0; /* idempotent */
	slash = strrchr(path, '/');
	if (slash) {
		snprintf(ppath, sizeof(ppath), "%.*s", (int)(slash - path), path);
		if (azds_space_lookup(m, ppath, &pid, &parent))
			return azds_err(e, ENOENT, "space \"%s\": parent \"%s\" does not exist", path, ppath);
		sp.depth = parent.depth + 1;
	} else if (strcmp(path, "azds") == 0) {
		return azds_err(e, EINVAL, "space \"azds\": the name is reserved");
	}
	if (azds_config_get(m, &cfg) == 0 && sp.depth + 1 > cfg.max_depth)
		return azds_err(e, ERANGE, "space \"%s\": %u levels deep; the limit is %u (controller --max-depth)",
				path, sp.depth + 1, cfg.max_depth);
	sp.parent = pid;
	path_key(sp.path, path);
	nid = free_space_id(m);
	if (bpf_map_update_elem(m->spaces, &nid, &sp, BPF_NOEXIST)) {
		err = -errno;
		if (err == -E2BIG)
			return azds_err(e, err, "space \"%s\": the spaces map is full (controller --max-spaces)", path);
		return azds_err(e, err, "space \"%s\": %s", path, strerror(-err));
	}
	path_key(key, path);
	if (bpf_map_update_elem(m->space_ids, key, &nid, BPF_NOEXIST)) {
		err = -errno;
		bpf_map_delete_elem(m->spaces, &nid);
		return azds_err(e, err, "space \"%s\": %s", path, strerror(-err));
	}
	*id = nid;
	if (m->hints)
		m->hints->next_space_id = nid + 1;
	azds_gen_bump(m);
	return 0;
}

static bool space_has_children(const struct azds_maps *m, __u32 id)
{
	char pk[AZDS_PATH_MAX];
	struct azds_space sp;
	__u32 key, next, idx;
	void *cur = NULL;
	bool found = false;

	while (bpf_map_get_next_key(m->spaces, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(m->spaces, &key, &sp) || sp.parent != id)
			continue;
		/* an entry whose path index is missing was left by a crash in
		 * space add or rm: it is no child, and it goes now */
		path_key(pk, sp.path);
		if (bpf_map_lookup_elem(m->space_ids, pk, &idx) || idx != key) {
			bpf_map_delete_elem(m->spaces, &key);
			continue;
		}
		found = true;
	}
	return found;
}

static bool space_has_services(const struct azds_maps *m, __u32 id)
{
	struct azds_svc_key key, next;
	void *cur = NULL;

	while (bpf_map_get_next_key(m->services, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (key.space == id)
			return true;
	}
	/* backends left by an interrupted service rm would be inherited by
	 * the next space to get this id */
	cur = NULL;
	while (bpf_map_get_next_key(m->backends, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (key.space == id)
			bpf_map_delete_elem(m->backends, &key);
	}
	return false;
}

static bool space_has_pods(const struct azds_maps *m, __u32 id)
{
	struct azds_pod p;
	__be32 key, next;
	void *cur = NULL;

	while (bpf_map_get_next_key(m->pods, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(m->pods, &key, &p) == 0 && p.space == id)
			return true;
	}
	return false;
}

static int space_remove(const struct azds_maps *m, const char *path, bool keep_default, struct azds_err *e);

int azds_space_remove(const struct azds_maps *m, const char *path, struct azds_err *e)
{
	return space_remove(m, path, true, e);
}

int azds_space_remove_k8s(const struct azds_maps *m, const char *path, struct azds_err *e)
{
	return space_remove(m, path, false, e);
}

static int space_remove(const struct azds_maps *m, const char *path, bool keep_default, struct azds_err *e)
{
	char key[AZDS_PATH_MAX];
	__u32 id;

	if (azds_space_lookup(m, path, &id, NULL))
		return azds_err(e, ENOENT, "space \"%s\" does not exist", path);
	if (keep_default && strcmp(path, "default") == 0)
		return azds_err(e, EPERM, "space \"default\" cannot be removed");
	if (space_has_children(m, id))
		return azds_err(e, EBUSY, "space \"%s\" has child spaces; remove them first", path);
	if (space_has_services(m, id))
		return azds_err(e, EBUSY, "space \"%s\" still has services; remove them first", path);
	if (space_has_pods(m, id))
		return azds_err(e, EBUSY, "space \"%s\" still has pods; remove them first", path);
	path_key(key, path);
	bpf_map_delete_elem(m->space_ids, key);
	bpf_map_delete_elem(m->spaces, &id);
	azds_gen_bump(m);
	return 0;
}

/* Find the VIP entry of a service name. */
static unsigned name_slot(const char *name)
{
	unsigned h = 5381;

	while (*name)
		h = h * 33 + (unsigned char)*name++;
	return h % AZDS_HINT_NAMES;
}

int azds_service_id(const struct azds_maps *m, const char *name, struct azds_vip_key *vk, struct azds_vip *v)
{
	struct azds_vip_key key, next;
	void *cur = NULL;
	unsigned h = name_slot(name);

	if (m->hints && strcmp(m->hints->names[h].name, name) == 0 &&
	    bpf_map_lookup_elem(m->vips, &m->hints->names[h].vk, v) == 0 && strcmp(v->name, name) == 0) {
		*vk = m->hints->names[h].vk;
		return 0;
	}
	while (bpf_map_get_next_key(m->vips, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(m->vips, &key, v) == 0 && strcmp(v->name, name) == 0) {
			*vk = key;
			if (m->hints) {
				snprintf(m->hints->names[h].name, sizeof(m->hints->names[h].name), "%s", name);
				m->hints->names[h].vk = key;
			}
			return 0;
		}
	}
	return -ENOENT;
}

static __u32 free_svc_id(const struct azds_maps *m)
{
	struct azds_vip_key key, next;
	struct azds_vip v;
	void *cur = NULL;
	__u32 max = 0;

	while (bpf_map_get_next_key(m->vips, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(m->vips, &key, &v) == 0 && v.svc > max)
			max = v.svc;
	}
	return max + 1;
}

int azds_service_add(const struct azds_maps *m, const char *space, const char *name, __u32 kind, __u16 port,
		     __u16 target_port, struct azds_service *out, struct azds_err *e)
{
	return azds_service_add_at(m, space, name, kind, port, target_port, 0, out, e);
}

int azds_service_add_at(const struct azds_maps *m, const char *space, const char *name, __u32 kind, __u16 port,
			__u16 target_port, __be32 want_vip, struct azds_service *out, struct azds_err *e)
{
	struct azds_svc_key sk;
	struct azds_vip_key vk = {};
	struct azds_vip v = {};
	struct azds_service s = {}, old;
	struct azds_backends be = {};
	int err;

	err = azds_name_valid("service", name, e);
	if (err)
		return err;
	if (kind != AZDS_KIND_HTTP && kind != AZDS_KIND_TCP)
		return azds_err(e, EINVAL, "service \"%s\": kind must be http or tcp", name);
	if (port == 0 || target_port == 0)
		return azds_err(e, EINVAL, "service \"%s\": port and target port must be 1-65535", name);
	if (azds_space_lookup(m, space, &sk.space, NULL))
		return azds_err(e, ENOENT, "service \"%s\": space \"%s\" does not exist", name, space);

	if (azds_service_id(m, name, &vk, &v) == 0) {
		/* one name, one virtual address and kind in every space */
		if (v.kind != kind || ntohs(vk.port) != port)
			return azds_err(e, EINVAL,
					"service \"%s\": already declared as %s on port %u; every space's copy must match",
					name, v.kind == AZDS_KIND_HTTP ? "http" : "tcp", ntohs(vk.port));
	} else {
		__u32 base = ntohl(inet_addr(AZDS_VIP_NET)), id = 0;
		struct azds_vip_key wk = { .addr = want_vip, .port = htons(port) };
		struct azds_vip taken;

		/* the address the store remembers, when it is still free: a
		 * service keeps its address across reboots */
		if (want_vip && ntohl(want_vip) > base && ntohl(want_vip) - base <= 0xfffe &&
		    bpf_map_lookup_elem(m->vips, &wk, &taken))
			id = ntohl(want_vip) - base;
		if (!id)
			id = free_svc_id(m);

		if (id > 0xfffe)
			return azds_err(e, ENOSPC, "service \"%s\": no free virtual address", name);
		vk.addr = htonl(ntohl(inet_addr(AZDS_VIP_NET)) + id);
		vk.port = htons(port);
		v.svc = id;
		v.kind = kind;
		strncpy(v.name, name, sizeof(v.name) - 1);
	}
	sk.svc = v.svc;
	s.addr = vk.addr;
	s.port = port;
	s.target_port = target_port;
	s.kind = kind;
	strncpy(s.name, name, sizeof(s.name) - 1);

	/* keep existing backends when only the target port changes */
	if (bpf_map_lookup_elem(m->backends, &sk, &be))
		memset(&be, 0, sizeof(be));
	be.target_port = target_port;
	bool existed = bpf_map_lookup_elem(m->services, &sk, &old) == 0;
	struct azds_vip have;

	/* already there, and complete (a crash can leave the entry without
	 * its address: then the writes below finish the job) */
	if (existed && old.kind == kind && old.target_port == target_port &&
	    bpf_map_lookup_elem(m->vips, &vk, &have) == 0 && have.svc == v.svc) {
		if (out)
			*out = old;
		return 0;
	}
	if (bpf_map_update_elem(m->backends, &sk, &be, BPF_ANY) ||
	    bpf_map_update_elem(m->services, &sk, &s, BPF_ANY)) {
		err = -errno;
		if (err == -E2BIG)
			return azds_err(e, err, "service \"%s\" in \"%s\": the services map is full (controller --max-services)",
					name, space);
		return azds_err(e, err, "service \"%s\" in \"%s\": %s", name, space, strerror(-err));
	}
	if (bpf_map_update_elem(m->vips, &vk, &v, BPF_ANY)) {
		err = -errno;
		if (!existed) {
			bpf_map_delete_elem(m->services, &sk);
			bpf_map_delete_elem(m->backends, &sk);
		}
		return azds_err(e, err, "service \"%s\": the virtual address map is full (controller --max-vips)", name);
	}
	azds_gen_bump(m);
	if (out)
		*out = s;
	return 0;
}

static bool svc_used(const struct azds_maps *m, __u32 svc)
{
	struct azds_svc_key key, next;
	void *cur = NULL;

	while (bpf_map_get_next_key(m->services, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (key.svc == svc)
			return true;
	}
	return false;
}

int azds_service_remove(const struct azds_maps *m, const char *space, const char *name, struct azds_err *e)
{
	struct azds_vip_key vk;
	struct azds_vip v;
	struct azds_svc_key sk;

	if (azds_space_lookup(m, space, &sk.space, NULL))
		return azds_err(e, ENOENT, "space \"%s\" does not exist", space);
	if (azds_service_id(m, name, &vk, &v))
		return azds_err(e, ENOENT, "service \"%s\" does not exist", name);
	sk.svc = v.svc;
	/* backends first: from that moment the space's copy gets no traffic;
	 * each step can be repeated after a crash */
	bool had_backends = bpf_map_delete_elem(m->backends, &sk) == 0;
	bool had_service = bpf_map_delete_elem(m->services, &sk) == 0;

	if (!svc_used(m, v.svc))
		bpf_map_delete_elem(m->vips, &vk);
	azds_gen_bump(m);
	if (!had_backends && !had_service)
		return azds_err(e, ENOENT, "service \"%s\" does not exist in space \"%s\"", name, space);
	return 0;
}

int azds_pod_alloc_addr(const struct azds_maps *m, struct in_addr *out, struct azds_err *e)
{
	__u32 base = ntohl(inet_addr(AZDS_POD_NET));
	struct azds_pod p;

	/* .0.1 .. .255.254 of the pod /16, skipping network/broadcast-like ends */
	for (__u32 i = 2; i < 0xfffe; i++) {
		__be32 a = htonl(base + i);

		if ((i & 0xff) == 0 || (i & 0xff) == 0xff)
			continue;
		if (bpf_map_lookup_elem(m->pods, &a, &p)) {
			out->s_addr = a;
			return 0;
		}
	}
	return azds_err(e, ENOSPC, "no free pod address in %s/16", AZDS_POD_NET);
}

int azds_pod_register(const struct azds_maps *m, __be32 addr, const char *name, const char *space,
		      __u64 cgroup_id, struct azds_err *e)
{
	struct azds_pod p = {};
	int err;

	err = azds_name_valid("pod", name, e);
	if (err)
		return err;
	if (azds_space_lookup(m, space, &p.space, NULL))
		return azds_err(e, ENOENT, "pod \"%s\": space \"%s\" does not exist", name, space);
	p.flags = AZDS_POD_MANAGED;
	p.cgroup_id = cgroup_id;
	strncpy(p.name, name, sizeof(p.name) - 1);
	if (bpf_map_update_elem(m->pods, &addr, &p, BPF_ANY)) {
		err = -errno;
		return azds_err(e, err, "pod \"%s\": %s", name,
				err == -E2BIG ? "the pods map is full (azds-controller start --max-pods)" : strerror(-err));
	}
	if (cgroup_id && bpf_map_update_elem(m->pod_cgroups, &cgroup_id, &addr, BPF_ANY)) {
		err = -errno;
		bpf_map_delete_elem(m->pods, &addr);
		return azds_err(e, err, "pod \"%s\": cgroup index: %s", name, strerror(-err));
	}
	azds_gen_bump(m);
	return 0;
}

int azds_pod_unregister(const struct azds_maps *m, __be32 addr)
{
	struct azds_pod p;

	azds_backend_remove_addr(m, addr);
	if (bpf_map_lookup_elem(m->pods, &addr, &p))
		return -ENOENT;
	if (p.cgroup_id) {
		__be32 owner;

		/* the index may name the pod's new address by now */
		if (bpf_map_lookup_elem(m->pod_cgroups, &p.cgroup_id, &owner) == 0 && owner == addr)
			bpf_map_delete_elem(m->pod_cgroups, &p.cgroup_id);
	}
	bpf_map_delete_elem(m->pods, &addr);
	azds_gen_bump(m);
	return 0;
}

int azds_pod_find(const struct azds_maps *m, const char *name, __be32 *addr, struct azds_pod *p)
{
	__be32 key, next;
	void *cur = NULL;

	while (bpf_map_get_next_key(m->pods, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(m->pods, &key, p) == 0 && strcmp(p->name, name) == 0) {
			*addr = key;
			return 0;
		}
	}
	return -ENOENT;
}

int azds_service_backends(const struct azds_maps *m, const char *space, const char *svc, struct azds_svc_key *sk,
			  struct azds_backends *be, struct azds_err *e)
{
	struct azds_vip_key vk;
	struct azds_vip v;

	if (azds_space_lookup(m, space, &sk->space, NULL))
		return azds_err(e, ENOENT, "space \"%s\" does not exist", space);
	if (azds_service_id(m, svc, &vk, &v))
		return azds_err(e, ENOENT, "service \"%s\" does not exist", svc);
	sk->svc = v.svc;
	if (bpf_map_lookup_elem(m->backends, sk, be))
		return azds_err(e, ENOENT, "service \"%s\" is not declared in space \"%s\"", svc, space);
	return 0;
}

int azds_backend_add(const struct azds_maps *m, const char *space, const char *svc, __be32 addr,
		     struct azds_err *e)
{
	struct azds_svc_key sk;
	struct azds_backends be;
	int err;

	err = azds_service_backends(m, space, svc, &sk, &be, e);
	if (err)
		return err;
	for (__u32 i = 0; i < be.count && i < AZDS_MAX_BACKENDS; i++)
		if (be.addrs[i] == addr)
			return 0;
	if (be.count >= AZDS_MAX_BACKENDS)
		return azds_err(e, ENOSPC, "service \"%s\" in \"%s\": at most %d pods back one service", svc, space,
				AZDS_MAX_BACKENDS);
	be.addrs[be.count++] = addr;
	if (bpf_map_update_elem(m->backends, &sk, &be, BPF_EXIST))
		return azds_err(e, errno, "service \"%s\": %s", svc, strerror(errno));
	azds_gen_bump(m);
	return 0;
}

int azds_backend_remove_addr(const struct azds_maps *m, __be32 addr)
{
	struct azds_svc_key key, next;
	struct azds_backends be;
	void *cur = NULL;

	while (bpf_map_get_next_key(m->backends, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(m->backends, &key, &be))
			continue;
		for (__u32 i = 0; i < be.count && i < AZDS_MAX_BACKENDS; i++) {
			if (be.addrs[i] != addr)
				continue;
			be.addrs[i] = be.addrs[be.count - 1];
			be.count--;
			bpf_map_update_elem(m->backends, &key, &be, BPF_EXIST);
			break;
		}
	}
	azds_gen_bump(m);
	return 0;
}

int azds_dns_write_hosts(const struct azds_maps *m, const char *file)
{
	struct azds_svc_key key, next;
	struct azds_service s;
	struct azds_space sp;
	char dns[AZDS_PATH_MAX + 16], addr[INET_ADDRSTRLEN];
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	void *cur = NULL;
	int err;

	if (!buf)
		return -ENOMEM;
	buf[0] = 0;
	while (bpf_map_get_next_key(m->services, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(m->services, &key, &s) || bpf_map_lookup_elem(m->spaces, &key.space, &sp))
			continue;
		azds_space_dns(sp.path, dns, sizeof(dns));
		inet_ntop(AF_INET, &s.addr, addr, sizeof(addr));
		if (len + 256 > cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		len += snprintf(buf + len, cap - len, "%s %s.%s\n", addr, s.name, dns);
	}
	err = azds_write_file(file, buf);
	free(buf);
	return err;
}

