// SPDX-License-Identifier: MIT
/*
 * Kubernetes mode, node side (kpod.h): steer a pod whose namespace and veth
 * the container runtime's main CNI plugin made. The same three things as
 * the embedded node's azds_pod_add, on an interface azds did not create:
 * TC ingress azds_steer on the host end, strict rp_filter on it, the pods
 * map entry. And the node's cgroup programs on the pods' parent cgroup.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kpod.h"
#include "node.h"

/* azds' slot on a pod's ingress hook: the embedded node uses the same */
#define STEER_HANDLE 1
#define STEER_PRIO 1
#define STEER_NAME "azds_steer"

static int steer_point(const char *ifname, char out[IFNAMSIZ]);

/* enter the instance's node namespace, or stay: "" is the caller's own */
static int node_enter(const struct azds_inst *in, int *saved, struct azds_err *e)
{
	int err;

	*saved = -1;
	if (!in->node_ns[0])
		return 0;
	err = azds_netns_enter(in->node_ns, saved);
	return err ? azds_err(e, err, "enter network namespace %s: %s", in->node_ns, strerror(-err)) : 0;
}

static int pinned_prog(const struct azds_inst *in, const char *name)
{
	char path[256];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", in->pin_dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

static int prog_info(int fd, struct bpf_prog_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/* the program id and name in azds' ingress slot of ifindex: 0 and "" when empty */
static int steer_slot(int ifindex, __u32 *id, char name[BPF_OBJ_NAME_LEN])
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = STEER_HANDLE, .priority = STEER_PRIO);
	struct bpf_prog_info info;
	libbpf_print_fn_t prev;
	int err, fd;

	*id = 0;
	name[0] = 0;
	/* no clsact or no filter is the common "not attached": keep libbpf quiet */
	prev = libbpf_set_print(NULL);
	err = bpf_tc_query(&hook, &opts);
	libbpf_set_print(prev);
	if (err == -ENOENT || err == -EINVAL)
		return 0;
	if (err)
		return err;
	*id = opts.prog_id;
	fd = bpf_prog_get_fd_by_id(opts.prog_id);
	if (fd < 0)
		return 0; /* gone meanwhile */
	err = prog_info(fd, &info);
	close(fd);
	if (!err)
		snprintf(name, BPF_OBJ_NAME_LEN, "%s", info.name);
	return err;
}

static int steer_detach(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = STEER_HANDLE, .priority = STEER_PRIO);
	char name[BPF_OBJ_NAME_LEN];
	__u32 id;
	int err = steer_slot(ifindex, &id, name);

	/* only our own program: the slot may be someone else's on a shared node */
	if (err || !id || strcmp(name, STEER_NAME))
		return err;
	err = bpf_tc_detach(&hook, &opts);
	return err == -ENOENT ? 0 : err;
}

/* Strict reverse-path filtering on the host end: see veth_rp_filter in node.c */
static int rp_strict(const char *ifname, struct azds_err *e)
{
	char path[128], val[16] = "";
	int err, all;

	if ((size_t)snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", ifname) >= sizeof(path))
		return azds_err(e, ENAMETOOLONG, "interface name \"%s\" too long", ifname);
	err = azds_write_str(path, "1");
	if (err)
		return azds_err(e, err, "strict rp_filter on %s: %s", ifname, strerror(-err));
	err = azds_read_str("/proc/sys/net/ipv4/conf/all/rp_filter", val, sizeof(val));
	if (err)
		return azds_err(e, err, "read net.ipv4.conf.all.rp_filter: %s", strerror(-err));
	all = atoi(val);
	if (all > 1)
		return azds_err(e, EINVAL,
				"net.ipv4.conf.all.rp_filter is %d on this node: loose mode would accept forged pod addresses on %s (set it to 0 or 1)",
				all, ifname);
	return 0;
}

static int steer_attach(const struct azds_inst *in, const char *ifname, struct azds_err *e)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = STEER_HANDLE, .priority = STEER_PRIO);
	char name[BPF_OBJ_NAME_LEN];
	struct bpf_prog_info info;
	libbpf_print_fn_t prev;
	__u32 cur;
	int err, pfd;

	hook.ifindex = (int)if_nametoindex(ifname);
	if (!hook.ifindex)
		return azds_err(e, ENOENT, "attach steering to %s: no such interface", ifname);
	pfd = pinned_prog(in, "prog_steer");
	if (pfd < 0)
		return azds_err(e, pfd, "attach steering to %s: %s/prog_steer: %s (is the data plane loaded?)", ifname,
				in->pin_dir, strerror(-pfd));
	err = prog_info(pfd, &info);
	if (!err)
		err = steer_slot(hook.ifindex, &cur, name);
	if (err) {
		azds_err(e, err, "attach steering to %s: %s", ifname, strerror(-err));
		goto out;
	}
	if (cur == info.id)
		goto out; /* already there: nothing changes, no packet misses it */
	if (cur && strcmp(name, STEER_NAME)) {
		err = azds_err(e, EBUSY, "attach steering to %s: its ingress filter handle %d priority %d is program \"%s\" (id %u), not azds'",
			       ifname, STEER_HANDLE, STEER_PRIO, name, cur);
		goto out;
	}
	prev = libbpf_set_print(NULL);
	err = bpf_tc_hook_create(&hook);
	libbpf_set_print(prev);
	if (err && err != -EEXIST) {
		azds_err(e, err, "clsact on %s: %s", ifname, strerror(-err));
		goto out;
	}
	opts.prog_fd = pfd;
	opts.flags = BPF_TC_F_REPLACE; /* an older azds_steer (a re-load) is replaced in place */
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		azds_err(e, err, "attach steering to %s: %s", ifname, strerror(-err));
out:
	close(pfd);
	return err;
}

/* the pods map entry, and its cgroup index */
static int pod_write(const struct azds_maps *m, __be32 addr, const char *space, const char *name, __u64 cgroup_id,
		     struct azds_err *e)
{
	struct azds_pod p = { .flags = AZDS_POD_MANAGED }, old;
	char a[INET_ADDRSTRLEN];
	bool had;
	int err;

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	if (azds_space_lookup(m, space, &p.space, NULL))
		return azds_err(e, ENOENT, "pod %s (%s): space \"%s\" does not exist", name, a, space);
	/* a Kubernetes name may be 253 bytes: the map keeps its first 63 */
	snprintf(p.name, sizeof(p.name), "%s", name);
	had = bpf_map_lookup_elem(m->pods, &addr, &old) == 0;
	p.cgroup_id = cgroup_id;
	/* the plugin runs before the pod's containers, so it may not know
	 * the cgroup that the agent already found: unknown keeps known */
	if (!cgroup_id && had && !strcmp(old.name, p.name) && old.space == p.space)
		p.cgroup_id = old.cgroup_id;
	if (had && !memcmp(&old, &p, sizeof(p)))
		return 0;
	if (bpf_map_update_elem(m->pods, &addr, &p, BPF_ANY)) {
		err = -errno;
		return azds_err(e, err, "pod %s (%s): %s", name, a,
				err == -E2BIG ? "the pods map is full (the agent's --max-pods)" : strerror(-err));
	}
	if (had && old.cgroup_id && old.cgroup_id != p.cgroup_id) {
		__be32 owner;

		if (bpf_map_lookup_elem(m->pod_cgroups, &old.cgroup_id, &owner) == 0 && owner == addr)
			bpf_map_delete_elem(m->pod_cgroups, &old.cgroup_id);
	}
	if (p.cgroup_id && bpf_map_update_elem(m->pod_cgroups, &p.cgroup_id, &addr, BPF_ANY)) {
		err = -errno;
		return azds_err(e, err, "pod %s (%s): cgroup index: %s", name, a, strerror(-err));
	}
	azds_gen_bump(m);
	return 0;
}

int azds_kpod_attach(const struct azds_inst *in, const struct azds_maps *m, const char *host_if, __be32 addr,
		     const char *space, const char *name, __u64 cgroup_id, struct azds_err *e)
{
	int saved, err;

	if (!host_if || !*host_if || strlen(host_if) >= IFNAMSIZ || strchr(host_if, '/'))
		return azds_err(e, EINVAL, "host interface \"%s\": not an interface name", host_if ? host_if : "");
	if (!name || !*name)
		return azds_err(e, EINVAL, "pod on %s: no name", host_if);
	err = node_enter(in, &saved, e);
	if (err)
		return err;
	/* checked sources before steering: no SYN of a forged address is
	 * ever assigned to the router */
	err = rp_strict(host_if, e);
	if (!err) {
		char point[IFNAMSIZ];

		err = steer_point(host_if, point);
		if (err)
			azds_err(e, err, "interface %s: %s", host_if, strerror(-err));
		else
			err = steer_attach(in, point, e);
		/* bridged: nothing on the port itself (an assignment there is lost) */
		if (!err && strcmp(point, host_if))
			steer_detach((int)if_nametoindex(host_if));
	}
	azds_netns_leave(saved);
	/* registered last: the pod becomes routable once its plumbing exists */
	return err ? err : pod_write(m, addr, space, name, cgroup_id, e);
}

int azds_kpod_detach(const struct azds_inst *in, const struct azds_maps *m, const char *host_if, __be32 addr,
		     struct azds_err *e)
{
	int saved, err = 0, ifindex;

	/* unroutable first, then the filter */
	if (m)
		azds_pod_unregister(m, addr); /* -ENOENT: already gone */
	if (!host_if || !*host_if)
		return 0;
	if (strlen(host_if) >= IFNAMSIZ)
		return azds_err(e, EINVAL, "host interface \"%s\": not an interface name", host_if);
	err = node_enter(in, &saved, e);
	if (err)
		return err;
	ifindex = (int)if_nametoindex(host_if);
	/* the veth went with its pod; a bridge's filter serves the others */
	err = ifindex ? steer_detach(ifindex) : 0;
	azds_netns_leave(saved);
	if (err == -ENODEV || err == -ENOENT)
		err = 0;
	return err ? azds_err(e, err, "detach steering from %s: %s", host_if, strerror(-err)) : 0;
}

int azds_kpod_attached(const struct azds_inst *in, const char *host_if, struct azds_err *e)
{
	char name[BPF_OBJ_NAME_LEN];
	int saved, err, ifindex;
	__u32 id;

	if (!host_if || !*host_if || strlen(host_if) >= IFNAMSIZ)
		return azds_err(e, EINVAL, "host interface \"%s\": not an interface name", host_if ? host_if : "");
	err = node_enter(in, &saved, e);
	if (err)
		return err;
	{
		char point[IFNAMSIZ];

		err = steer_point(host_if, point);
		ifindex = err ? 0 : (int)if_nametoindex(point);
	}
	err = ifindex ? steer_slot(ifindex, &id, name) : -ENODEV;
	azds_netns_leave(saved);
	if (err == -ENODEV)
		return azds_err(e, ENODEV, "interface %s does not exist", host_if);
	if (err)
		return azds_err(e, err, "query ingress filters of %s: %s", host_if, strerror(-err));
	return id && !strcmp(name, STEER_NAME);
}

/* ---- find_if: which host veth leads to addr ---------------------------- */

struct nl_link {
	int ifindex;
	int link;      /* IFLA_LINK: the peer's ifindex, in the link netns */
	bool has_nsid; /* IFLA_LINK_NETNSID: the peer is in another netns */
	int nsid;
	bool veth;
	bool bridge; /* this link is a bridge */
	int master;  /* IFLA_MASTER: the bridge (or bond) it is a port of, 0: none */
	char name[IFNAMSIZ];
};

static int nl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	/* a netlink answer from the kernel never takes long; bounded anyway */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

typedef int (*nl_cb)(struct nlmsghdr *h, void *arg); /* 1: stop, 0: more, <0 error */

/* send one request, read its answers (a dump or one message) to the end */
static int nl_talk(int fd, void *req, size_t len, nl_cb cb, void *arg)
{
	static __thread char buf[32768];
	struct nlmsghdr *h;
	bool stop = false;
	int msgs = 0;
	ssize_t n;

	if (send(fd, req, len, 0) != (ssize_t)len)
		return -errno;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *ne = NLMSG_DATA(h);

				return ne->error;
			}
			/* bounded: a namespace with more is not one of a pod's */
			if (++msgs > AZDS_KPOD_IF_MAX * 4)
				return -E2BIG;
			if (!stop) {
				int r = cb(h, arg);

				if (r < 0)
					return r;
				stop = r > 0;
			}
			if (!(h->nlmsg_flags & NLM_F_MULTI))
				return 0;
		}
	}
}

struct addr_find {
	__be32 addr;
	int ifindex;
};

static int addr_cb(struct nlmsghdr *h, void *arg)
{
	struct addr_find *af = arg;
	struct ifaddrmsg *ifa = NLMSG_DATA(h);
	struct rtattr *rta;
	int len;

	if (h->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET)
		return 0;
	len = (int)IFA_PAYLOAD(h);
	for (rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		/* IFA_LOCAL is the interface's own address (IFA_ADDRESS is the
		 * peer's on a point-to-point link) */
		if (rta->rta_type == IFA_LOCAL && RTA_PAYLOAD(rta) == 4 &&
		    !memcmp(RTA_DATA(rta), &af->addr, 4)) {
			af->ifindex = (int)ifa->ifa_index;
			return 1;
		}
	}
	return 0;
}

static int link_cb(struct nlmsghdr *h, void *arg)
{
	struct nl_link *l = arg;
	struct ifinfomsg *ifi = NLMSG_DATA(h);
	struct rtattr *rta, *in;
	int len, ilen;

	if (h->nlmsg_type != RTM_NEWLINK || ifi->ifi_index != l->ifindex)
		return 0;
	len = (int)IFLA_PAYLOAD(h);
	for (rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFLA_LINK && RTA_PAYLOAD(rta) >= 4)
			memcpy(&l->link, RTA_DATA(rta), 4);
		else if (rta->rta_type == IFLA_LINK_NETNSID && RTA_PAYLOAD(rta) >= 4) {
			l->has_nsid = true;
			memcpy(&l->nsid, RTA_DATA(rta), 4);
		}
		else if (rta->rta_type == IFLA_MASTER && RTA_PAYLOAD(rta) >= 4)
			memcpy(&l->master, RTA_DATA(rta), 4);
		else if (rta->rta_type == IFLA_IFNAME)
			snprintf(l->name, sizeof(l->name), "%.*s", (int)RTA_PAYLOAD(rta), (char *)RTA_DATA(rta));
		else if (rta->rta_type == IFLA_LINKINFO) {
			ilen = (int)RTA_PAYLOAD(rta);
			for (in = RTA_DATA(rta); RTA_OK(in, ilen); in = RTA_NEXT(in, ilen))
				if (in->rta_type == IFLA_INFO_KIND) {
					l->veth = !strncmp(RTA_DATA(in), "veth", RTA_PAYLOAD(in));
					l->bridge = !strncmp(RTA_DATA(in), "bridge", RTA_PAYLOAD(in));
				}
		}
	}
	return 1;
}

static int addr_ifindex(int fd, __be32 addr)
{
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg a;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETADDR, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.a = { .ifa_family = AF_INET },
	};
	struct addr_find af = { .addr = addr };
	int err = nl_talk(fd, &req, sizeof(req), addr_cb, &af);

	return err ? err : af.ifindex;
}

static int link_get(int fd, int ifindex, struct nl_link *l)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST },
		.i = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};

	memset(l, 0, sizeof(*l));
	l->ifindex = ifindex;
	l->link = -1;
	return nl_talk(fd, &req, sizeof(req), link_cb, l);
}

/*
 * Where a pod's SYNs are steered: the host end of its veth, or, when that
 * is a port of a bridge (the bridge plugin's cni0), the bridge itself. A
 * socket assigned at a bridge port does not reach the local stack: the
 * frame goes through the bridge (and, with bridge-nf-call-iptables=1,
 * br_netfilter), and the SYN arrives at the router's port with no socket
 * (measured on 6.18: counted "steered", answered with a reset). The
 * bridge's own ingress is where the frames for the node's addresses come
 * up to IP, the same place a routed veth's are.
 */
static int steer_point(const char *ifname, char out[IFNAMSIZ])
{
	struct nl_link l, m;
	int fd, err, ifindex = (int)if_nametoindex(ifname);

	snprintf(out, IFNAMSIZ, "%s", ifname);
	if (!ifindex)
		return -ENODEV;
	fd = nl_open();
	if (fd < 0)
		return fd;
	err = link_get(fd, ifindex, &l);
	if (!err && l.master > 0) {
		err = link_get(fd, l.master, &m);
		if (!err && m.bridge && m.name[0])
			snprintf(out, IFNAMSIZ, "%s", m.name);
	}
	close(fd);
	return err;
}

struct nsid_find {
	int nsid;
};

static int nsid_cb(struct nlmsghdr *h, void *arg)
{
	struct nsid_find *nf = arg;
	struct rtgenmsg *g = NLMSG_DATA(h);
	struct rtattr *rta = (struct rtattr *)((char *)g + NLMSG_ALIGN(sizeof(*g)));
	int len = (int)h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*g)));

	if (h->nlmsg_type != RTM_NEWNSID)
		return 0;
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == NETNSA_NSID && RTA_PAYLOAD(rta) >= 4)
			memcpy(&nf->nsid, RTA_DATA(rta), 4);
	return 1;
}

/* the id this netns gives the namespace at path (-1: none) */
static int nsid_of(int nl, const char *path)
{
	struct {
		struct nlmsghdr h;
		struct rtgenmsg g;
		char pad[3];
		struct rtattr a;
		__u32 fd;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETNSID, .nlmsg_flags = NLM_F_REQUEST },
		.g = { .rtgen_family = AF_UNSPEC },
		.a = { .rta_len = RTA_LENGTH(sizeof(__u32)), .rta_type = NETNSA_FD },
	};
	struct nsid_find nf = { .nsid = -1 };
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -1;
	req.fd = (__u32)fd;
	err = nl_talk(nl, &req, sizeof(req), nsid_cb, &nf);
	close(fd);
	return err ? -1 : nf.nsid;
}

struct ns_walk {
	__be32 addr;
	char **paths; /* candidate namespaces */
	int npaths;
	/* out: the pod end */
	char host_if[IFNAMSIZ]; /* out */
	int err;
};

/* Is the host-side link peer_ifindex (seen through home, a netlink socket of
 * the caller's netns) a veth whose peer is pod_ifindex in the netns at path? */
static bool leads_back(int home, int peer_ifindex, int pod_ifindex, const char *path, char name[IFNAMSIZ])
{
	struct nl_link l;

	/* ifindexes repeat across namespaces: the peer's namespace must be
	 * the one holding the address, not another whose numbers match */
	if (link_get(home, peer_ifindex, &l) || !l.veth || l.link != pod_ifindex || !l.has_nsid || !l.name[0] ||
	    nsid_of(home, path) != l.nsid)
		return false;
	snprintf(name, IFNAMSIZ, "%s", l.name);
	return true;
}

/*
 * In a thread of its own: setns moves only this thread, never the caller.
 * A netlink socket stays in the netns it was made in: home, made first,
 * looks at the caller's namespace from wherever the thread is.
 */
static void *ns_walk_thread(void *arg)
{
	struct ns_walk *w = arg;
	int home = nl_open();

	w->err = -ENOENT;
	if (home < 0) {
		w->err = home;
		return NULL;
	}
	for (int i = 0; i < w->npaths; i++) {
		struct nl_link l;
		int fd = open(w->paths[i], O_RDONLY | O_CLOEXEC), nl, idx;

		if (fd < 0)
			continue; /* the process or namespace went meanwhile */
		if (setns(fd, CLONE_NEWNET)) {
			close(fd);
			continue;
		}
		close(fd);
		nl = nl_open();
		if (nl < 0)
			continue;
		idx = addr_ifindex(nl, w->addr);
		if (idx > 0 && link_get(nl, idx, &l) == 0 && l.veth && l.has_nsid && l.link > 0 &&
		    leads_back(home, l.link, idx, w->paths[i], w->host_if)) {
			close(nl);
			w->err = 0;
			break;
		}
		close(nl);
	}
	close(home);
	return NULL;
}

static int add_candidate(struct ns_walk *w, ino_t *seen, const char *path, ino_t self)
{
	struct stat st;

	if (w->npaths >= AZDS_KPOD_NETNS_MAX)
		return -E2BIG;
	if (stat(path, &st) || st.st_ino == self)
		return 0;
	for (int i = 0; i < w->npaths; i++)
		if (seen[i] == st.st_ino)
			return 0;
	w->paths[w->npaths] = strdup(path);
	if (!w->paths[w->npaths])
		return -ENOMEM;
	seen[w->npaths++] = st.st_ino;
	return 0;
}

/* /run/netns first (where CRI runtimes pin pods' namespaces), then processes' */
static int collect(struct ns_walk *w, ino_t *seen, ino_t self)
{
	static const char *const dirs[] = { "/run/netns", "/var/run/netns" };
	char path[300];
	struct dirent *de;
	int err = 0;
	DIR *d;

	for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]) && !err; k++) {
		d = opendir(dirs[k]);
		if (!d)
			continue;
		while (!err && (de = readdir(d)))
			if (de->d_name[0] != '.' &&
			    (size_t)snprintf(path, sizeof(path), "%s/%s", dirs[k], de->d_name) < sizeof(path))
				err = add_candidate(w, seen, path, self);
		closedir(d);
	}
	d = opendir("/proc");
	if (!d)
		return err;
	while (!err && (de = readdir(d)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9' &&
		    (size_t)snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name) < sizeof(path))
			err = add_candidate(w, seen, path, self);
	closedir(d);
	return err;
}

int azds_kpod_find_if(__be32 addr, char host_if[16], struct azds_err *e)
{
	struct ns_walk w = { .addr = addr };
	char a[INET_ADDRSTRLEN];
	ino_t *seen = NULL;
	struct stat self;
	pthread_t t;
	int err;

	host_if[0] = 0;
	inet_ntop(AF_INET, &addr, a, sizeof(a));
	if (stat("/proc/thread-self/ns/net", &self))
		return azds_err(e, errno, "find the veth of %s: /proc/thread-self/ns/net: %s", a, strerror(errno));
	w.paths = calloc(AZDS_KPOD_NETNS_MAX, sizeof(*w.paths));
	seen = calloc(AZDS_KPOD_NETNS_MAX, sizeof(*seen));
	if (!w.paths || !seen) {
		err = azds_err(e, ENOMEM, "find the veth of %s: out of memory", a);
		goto out;
	}
	/* more namespaces than the bound: the first ones are looked into,
	 * and a miss says so */
	err = collect(&w, seen, self.st_ino);
	if (err && err != -E2BIG) {
		azds_err(e, err, "find the veth of %s: list network namespaces: %s", a, strerror(-err));
		goto out;
	}
	bool truncated = err == -E2BIG;

	err = pthread_create(&t, NULL, ns_walk_thread, &w);
	if (err) {
		err = azds_err(e, err, "find the veth of %s: thread: %s", a, strerror(err));
		goto out;
	}
	pthread_join(t, NULL);
	if (w.err) {
		err = azds_err(e, ENOENT, "no veth leads from this network namespace to one holding %s (%d namespaces looked into%s)",
			       a, w.npaths, truncated ? ", the limit: there were more" : "");
		goto out;
	}
	snprintf(host_if, IFNAMSIZ, "%s", w.host_if);
	err = 0;
out:
	for (int i = 0; w.paths && i < w.npaths; i++)
		free(w.paths[i]);
	free(w.paths);
	free(seen);
	return err;
}

/* ---- the node: cgroup programs on the pods' cgroup --------------------- */

static const struct {
	const char *pin, *prefix;
	enum bpf_attach_type type;
} cg_progs[] = {
	{ "prog_connect4", "azds_connect4", BPF_CGROUP_INET4_CONNECT },
	/* IPv6 sockets to IPv4-mapped service addresses */
	{ "prog_connect6", "azds_connect6", BPF_CGROUP_INET6_CONNECT },
	{ "prog_sockops", "azds_sockops", BPF_CGROUP_SOCK_OPS },
};

static int open_cgroup(const char *pod_cgroup, struct azds_err *e)
{
	int fd;

	if (!pod_cgroup || !*pod_cgroup)
		return azds_err(e, EINVAL, "no pod cgroup given");
	fd = open(pod_cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? azds_err(e, errno, "pod cgroup %s: %s", pod_cgroup, strerror(errno)) : fd;
}

/* Is program pfd attached to cgfd as type? (The kernel refuses to attach it twice: EINVAL.) */
static bool cg_has(int cgfd, enum bpf_attach_type type, int pfd)
{
	__u32 ids[64], cnt = 64, flags = 0;
	struct bpf_prog_info info;

	if (prog_info(pfd, &info) || bpf_prog_query(cgfd, type, 0, &flags, ids, &cnt))
		return false;
	for (__u32 i = 0; i < cnt; i++)
		if (ids[i] == info.id)
			return true;
	return false;
}

int azds_knode_up(const struct azds_inst *in, const char *pod_cgroup, struct azds_err *e)
{
	int cgfd = open_cgroup(pod_cgroup, e), err = 0, pfd;

	if (cgfd < 0)
		return cgfd;
	for (size_t i = 0; i < sizeof(cg_progs) / sizeof(cg_progs[0]) && !err; i++) {
		pfd = pinned_prog(in, cg_progs[i].pin);
		if (pfd < 0) {
			err = azds_err(e, pfd, "%s/%s: %s (is the data plane loaded?)", in->pin_dir, cg_progs[i].pin,
				       strerror(-pfd));
			break;
		}
		/* attached already: an older program of ours beside it was
		 * detached by the call that attached it */
		if (!cg_has(cgfd, cg_progs[i].type, pfd))
			err = azds_cgroup_attach_replace(cgfd, pfd, cg_progs[i].type, cg_progs[i].prefix);
		close(pfd);
		if (err)
			azds_err(e, err, "attach %s to cgroup %s: %s", cg_progs[i].prefix, pod_cgroup, strerror(-err));
	}
	close(cgfd);
	return err;
}

/* detach from cgfd the programs of type that are ours: pinned id, or by name */
static int cg_detach(int cgfd, enum bpf_attach_type type, __u32 pinned_id, const char *prefix)
{
	__u32 ids[64], cnt = 64, flags = 0;
	struct bpf_prog_info info;
	int err = 0;

	if (bpf_prog_query(cgfd, type, 0, &flags, ids, &cnt))
		return errno == EINVAL ? 0 : -errno;
	for (__u32 i = 0; i < cnt; i++) {
		int fd = bpf_prog_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		if (prog_info(fd, &info) == 0 &&
		    (pinned_id ? info.id == pinned_id : !strncmp(info.name, prefix, strlen(prefix))) &&
		    bpf_prog_detach2(fd, cgfd, type) && errno != ENOENT)
			err = -errno;
		close(fd);
	}
	return err;
}

int azds_knode_down(const struct azds_inst *in, const char *pod_cgroup, struct azds_err *e)
{
	struct if_nameindex *ifs, *it;
	struct bpf_prog_info info;
	int cgfd, err = 0, saved, n = 0;

	cgfd = pod_cgroup && *pod_cgroup ? open(pod_cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (cgfd < 0 && pod_cgroup && *pod_cgroup && errno != ENOENT)
		return azds_err(e, errno, "pod cgroup %s: %s", pod_cgroup, strerror(errno));
	for (size_t i = 0; cgfd >= 0 && i < sizeof(cg_progs) / sizeof(cg_progs[0]); i++) {
		int pfd = pinned_prog(in, cg_progs[i].pin), r;
		__u32 id = 0;

		if (pfd >= 0) {
			if (prog_info(pfd, &info) == 0)
				id = info.id;
			close(pfd);
		}
		r = cg_detach(cgfd, cg_progs[i].type, id, cg_progs[i].prefix);
		if (r && !err)
			err = azds_err(e, r, "detach %s from cgroup %s: %s", cg_progs[i].prefix, pod_cgroup,
				       strerror(-r));
	}
	if (cgfd >= 0)
		close(cgfd);
	struct azds_err ne;
	int r = node_enter(in, &saved, &ne);

	if (r) {
		if (!err)
			err = azds_err(e, r, "%s", ne.msg);
		return err;
	}
	ifs = if_nameindex();
	for (it = ifs; it && it->if_index && n < AZDS_KPOD_IF_MAX; it++, n++) {
		int r = steer_detach((int)it->if_index);

		if (r && r != -ENOENT && r != -ENODEV && !err)
			err = azds_err(e, r, "detach steering from %s: %s", it->if_name, strerror(-r));
	}
	if (ifs)
		if_freenameindex(ifs);
	azds_netns_leave(saved);
	return err;
}
