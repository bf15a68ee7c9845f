// SPDX-License-Identifier: MIT
/*
 * The embedded node. Everything azds creates lives under names derived
 * from the instance, so "down" can find and remove it even after a crash:
 *   node netns   azds-<inst>-node        (router, DNS, host ends of veths)
 *   pod netns    azds-<inst>-p-<pod>     (eth0 = pod end of the veth)
 *   cgroups      <cgroup2>/azds-<inst>[/<pod>]
 *   pins         /sys/fs/bpf/azds/<inst>/
 *   runtime      /run/azds/<inst>/ and /etc/netns/azds-<inst>-p-<pod>/
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "node.h"
#include "podcg.h"

#define IP "ip"

static int ipcmd(bool quiet, const char *ns, ...)
{
	char *argv[32];
	int n = 0;
	va_list ap;
	char *a;

	argv[n++] = IP;
	if (ns) {
		argv[n++] = "-n";
		argv[n++] = (char *)ns;
	}
	va_start(ap, ns);
	while ((a = va_arg(ap, char *)) && n < 31)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return azds_run(argv, quiet);
}

void azds_pod_netns(const struct azds_inst *in, const char *pod, char *buf, size_t len)
{
	snprintf(buf, len, "azds-%s-p-%s", in->name, pod);
}

void azds_pod_cgroup(const struct azds_inst *in, const char *pod, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", in->cgroup_dir, pod);
}

static bool netns_exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	return access(path, F_OK) == 0;
}

static int sysctl_in(const char *ns, const char *key, const char *val)
{
	char *argv[] = { IP, "netns", "exec", (char *)ns, "sysctl", "-q", "-w", NULL, NULL };
	char kv[256];

	snprintf(kv, sizeof(kv), "%s=%s", key, val);
	argv[7] = kv;
	return azds_run(argv, true);
}

static int read_proc_int(const char *path, int *val)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	err = n < 0 ? -errno : n == 0 ? -EIO : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = 0;
	*val = atoi(buf);
	return 0;
}

int azds_ensure_bpffs(void)
{
	FILE *f = fopen("/proc/mounts", "re");
	char line[512];
	bool found = false;

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (strstr(line, " /sys/fs/bpf bpf "))
				found = true;
		fclose(f);
	}
	if (!found && mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL))
		return -errno;
	return azds_mkdir_p("/sys/fs/bpf/azds", 0700);
}

static int prog_fd(const struct azds_inst *in, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", in->pin_dir, name);
	return bpf_obj_get(path);
}

/*
 * Attach the pinned program, then detach earlier azds programs of this
 * type: new first, so a restart leaves no moment without balancing.
 */
static int cgroup_attach(int cgfd, int pfd, enum bpf_attach_type type, const char *prefix)
{
	__u32 ids[64], cnt = 64, flags = 0, ilen;
	struct bpf_prog_info info = {};

	ilen = sizeof(info);
	if (bpf_obj_get_info_by_fd(pfd, &info, &ilen))
		return -errno;
	__u32 new_id = info.id;

	if (bpf_prog_attach(pfd, cgfd, type, BPF_F_ALLOW_MULTI) && errno != EEXIST)
		return -errno;
	if (bpf_prog_query(cgfd, type, 0, &flags, ids, &cnt) == 0) {
		for (__u32 i = 0; i < cnt; i++) {
			int fd;

			if (ids[i] == new_id)
				continue;
			fd = bpf_prog_get_fd_by_id(ids[i]);
			if (fd < 0)
				continue;
			memset(&info, 0, sizeof(info));
			ilen = sizeof(info);
			if (bpf_obj_get_info_by_fd(fd, &info, &ilen) == 0 &&
			    strncmp(info.name, prefix, strlen(prefix)) == 0)
				bpf_prog_detach2(fd, cgfd, type);
			close(fd);
		}
	}
	return 0;
}

int azds_node_up(const struct azds_inst *in, struct azds_err *e)
{
	const char *ns = in->node_ns;
	int err, cgfd, pfd;

	if (!in->cgroup_dir[0])
		return azds_err(e, ENOENT, "no cgroup v2 hierarchy is mounted (see docs/operations.md)");
	err = azds_ensure_bpffs();
	if (err)
		return azds_err(e, err, "bpffs at /sys/fs/bpf: %s", strerror(-err));
	err = azds_mkdir_p(in->run_dir, 0755);
	if (err)
		return azds_err(e, err, "%s: %s", in->run_dir, strerror(-err));
	if (!netns_exists(ns) && ipcmd(false, NULL, "netns", "add", ns, NULL))
		return azds_err(e, EIO, "cannot create network namespace %s", ns);
	ipcmd(true, ns, "link", "set", "lo", "up", NULL);
	ipcmd(true, ns, "addr", "add", AZDS_GW_ADDR "/32", "dev", "lo", NULL);
	/* services' virtual addresses are local to the node: steered SYNs are
	 * delivered to the router, unsteered ones are answered with a reset */
	ipcmd(true, ns, "route", "add", "local", AZDS_VIP_NET "/16", "dev", "lo", "table", "local", NULL);
	sysctl_in(ns, "net.ipv4.ip_forward", "1");
	/*
	 * No TIME_WAIT in the node namespace. A SYN assigned to the router's
	 * listener by bpf_sk_assign cannot replace a TIME_WAIT socket of the
	 * same tuple (iptables TPROXY kills it; sk_assign has no such step):
	 * the new connection would be dropped until the old one expired, and
	 * pods reuse source ports at random. On veths inside one host there
	 * are no delayed duplicates for TIME_WAIT to protect against.
	 */
	sysctl_in(ns, "net.ipv4.tcp_max_tw_buckets", "0");
	sysctl_in(ns, "net.ipv4.conf.all.rp_filter", "0");
	sysctl_in(ns, "net.ipv4.conf.default.rp_filter", "0");

	err = azds_mkdir_p(in->cgroup_dir, 0755);
	if (err)
		return azds_err(e, err, "cgroup %s: %s", in->cgroup_dir, strerror(-err));
	cgfd = open(in->cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return azds_err(e, errno, "cgroup %s: %s", in->cgroup_dir, strerror(errno));
	pfd = prog_fd(in, "prog_connect4");
	err = pfd < 0 ? -errno : cgroup_attach(cgfd, pfd, BPF_CGROUP_INET4_CONNECT, "azds_connect4");
	if (pfd >= 0)
		close(pfd);
	if (!err) {
		/* IPv6 sockets to IPv4-mapped service addresses */
		pfd = prog_fd(in, "prog_connect6");
		err = pfd < 0 ? -errno : cgroup_attach(cgfd, pfd, BPF_CGROUP_INET6_CONNECT, "azds_connect6");
		if (pfd >= 0)
			close(pfd);
	}
	if (!err) {
		pfd = prog_fd(in, "prog_sockops");
		err = pfd < 0 ? -errno : cgroup_attach(cgfd, pfd, BPF_CGROUP_SOCK_OPS, "azds_sockops");
		if (pfd >= 0)
			close(pfd);
	}
	close(cgfd);
	if (err)
		return azds_err(e, err, "attach to cgroup %s: %s", in->cgroup_dir, strerror(-err));
	return 0;
}

/* ---- cgroups: a pod's processes end with it ----------------------------- */

#define CGROUP_KILL_TIMEOUT_MS 10000
#define CGROUP_MAX_DEPTH 32 /* below a pod: deeper trees are not walked */

/* a child cgroup (cgroupfs reports d_type) */
static bool is_subdir(const struct dirent *de)
{
	return de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
}

/* 1 while the cgroup or one below it holds a process, 0 once empty */
static int cgroup_populated(int evfd)
{
	char buf[256], *p;
	ssize_t n = pread(evfd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = 0;
	p = strstr(buf, "populated ");
	return p ? p[10] == '1' : -EINVAL;
}

/* SIGKILL each process listed in dir and below: kernels before cgroup.kill */
static void cgroup_kill_listed(const char *dir, int depth)
{
	char path[512], line[64];
	struct dirent *de;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			pid_t pid = (pid_t)atoi(line);

			if (pid > 1)
				kill(pid, SIGKILL);
		}
		fclose(f);
	}
	d = depth < CGROUP_MAX_DEPTH ? opendir(dir) : NULL;
	if (!d)
		return;
	while ((de = readdir(d)))
		if (is_subdir(de) && (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < sizeof(path))
			cgroup_kill_listed(path, depth + 1);
	closedir(d);
}

/*
 * Kill every process in a cgroup and below it, and return once the kernel
 * says the subtree is empty. cgroup.kill (5.14+) signals the whole subtree
 * at once, forks included; without it each listed pid is signalled and the
 * lists read again. The end is "populated 0" in cgroup.events, which wakes
 * poll() with POLLPRI on every change: an event, not a sleep.
 */
static int cgroup_kill_wait(const char *dir)
{
	long deadline = azds_mono_ms() + CGROUP_KILL_TIMEOUT_MS, left;
	struct pollfd pfd = { .events = POLLPRI };
	char path[512];
	bool have_kill;
	int pop;

	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	pfd.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pfd.fd < 0)
		return errno == ENOENT ? 0 : -errno; /* no cgroup: nothing runs there */
	snprintf(path, sizeof(path), "%s/cgroup.kill", dir);
	have_kill = azds_write_str(path, "1") == 0;
	while ((pop = cgroup_populated(pfd.fd)) > 0) {
		if (!have_kill)
			cgroup_kill_listed(dir, 0);
		left = deadline - azds_mono_ms();
		if (left <= 0) {
			pop = -ETIMEDOUT;
			break;
		}
		/* without cgroup.kill a fork racing the listing shows up only
		 * in a later listing: look again at least every 100 ms */
		if (poll(&pfd, 1, (int)(have_kill || left < 100 ? left : 100)) < 0 && errno != EINTR) {
			pop = -errno;
			break;
		}
	}
	close(pfd.fd);
	return pop;
}

/* rmdir a cgroup and every cgroup below it, deepest first */
static int cgroup_rmdir_tree(const char *dir, int depth)
{
	char path[512];
	struct dirent *de;
	int err = 0;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!err && (de = readdir(d))) {
		if (!is_subdir(de))
			continue;
		if (depth >= CGROUP_MAX_DEPTH ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			err = -ENAMETOOLONG;
		else
			err = cgroup_rmdir_tree(path, depth + 1);
	}
	closedir(d);
	if (!err && rmdir(dir) && errno != ENOENT)
		err = -errno;
	return err;
}

/* the processes first, then the directories (empty by then) */
static int remove_cgroup(const char *dir)
{
	int err = cgroup_kill_wait(dir);

	return err ? err : cgroup_rmdir_tree(dir, 0);
}

static void rm_tree_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int azds_node_down(const struct azds_inst *in, struct azds_err *e)
{
	char prefix[64], path[512];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/router.pid", in->run_dir);
	azds_daemon_stop(path, "azds-router");
	snprintf(path, sizeof(path), "%s/dnsmasq.pid", in->run_dir);
	azds_daemon_stop(path, "dnsmasq");

	/* every pod's processes (and the router's, the benchmark's) end
	 * before any namespace or veth goes; if some cannot be killed, the
	 * namespaces stay and a second stop tries again */
	if (in->cgroup_dir[0]) {
		int err = remove_cgroup(in->cgroup_dir);

		/* then the pods' v1 limit cgroups (a hybrid host), empty by now */
		if (!err)
			err = azds_podcg_remove_instance(in);
		if (err)
			return azds_err(e, err, "cgroup %s: %s; namespaces kept, run stop again", in->cgroup_dir,
					err == -ETIMEDOUT ? "processes still running after SIGKILL" : strerror(-err));
	}
	snprintf(prefix, sizeof(prefix), "azds-%s-p-", in->name);
	d = opendir("/run/netns");
	if (d) {
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, prefix, strlen(prefix)))
				continue;
			ipcmd(true, NULL, "netns", "del", de->d_name, NULL);
			snprintf(path, sizeof(path), "/etc/netns/%s", de->d_name);
			rm_tree_files(path);
		}
		closedir(d);
	}
	d = opendir("/etc/netns");
	if (d) {
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, prefix, strlen(prefix)))
				continue;
			snprintf(path, sizeof(path), "/etc/netns/%s", de->d_name);
			rm_tree_files(path);
		}
		closedir(d);
	}
	if (netns_exists(in->node_ns))
		ipcmd(true, NULL, "netns", "del", in->node_ns, NULL);
	rm_tree_files(in->pin_dir);
	rm_tree_files(in->run_dir);
	/* the shared parents go with the last instance (rmdir keeps them
	 * while another instance, or anyone else, still has files there) */
	rmdir("/sys/fs/bpf/azds");
	rmdir("/run/azds");
	rmdir("/etc/netns");
	return 0;
}

/* ---- pods ------------------------------------------------------------- */

static void veth_names(__be32 addr, char *host, char *tmp)
{
	__u32 a = ntohl(addr) & 0xffff;

	snprintf(host, IFNAMSIZ, "azp%04x", a);
	snprintf(tmp, IFNAMSIZ, "azt%04x", a);
}

/*
 * A pod is root in its own namespace and may give eth0 any address. The
 * node end of its veth keeps only packets whose source routes back out of
 * that same veth, which (the node's routes to pods being one /32 per veth)
 * is the address registered for the pod. Strict reverse-path filtering runs
 * in the routing step, after TC ingress, so it also drops a forged SYN that
 * azds_steer has already assigned to the router's listener. The kernel uses
 * max(conf/all, conf/<dev>): node_up keeps "all" at 0; a loose 2 there
 * would let any pod's address through and is refused.
 */
static int veth_rp_filter(const struct azds_inst *in, const char *host, struct azds_err *e)
{
	char path[128];
	int saved, err, all = 0;

	err = azds_netns_enter(in->node_ns, &saved);
	if (err)
		return azds_err(e, err, "enter %s: %s", in->node_ns, strerror(-err));
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", host);
	err = azds_write_str(path, "1");
	if (!err)
		err = read_proc_int("/proc/sys/net/ipv4/conf/all/rp_filter", &all);
	azds_netns_leave(saved);
	if (err)
		return azds_err(e, err, "strict rp_filter on %s: %s", host, strerror(-err));
	if (all > 1)
		return azds_err(e, EINVAL,
				"net.ipv4.conf.all.rp_filter is %d in %s: loose mode would accept forged pod addresses",
				all, in->node_ns);
	return 0;
}

static int tc_attach(const struct azds_inst *in, const char *ifname, struct azds_err *e)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);
	int saved, err, pfd;

	err = azds_netns_enter(in->node_ns, &saved);
	if (err)
		return azds_err(e, err, "enter %s: %s", in->node_ns, strerror(-err));
	hook.ifindex = (int)if_nametoindex(ifname);
	pfd = prog_fd(in, "prog_steer");
	if (!hook.ifindex || pfd < 0) {
		err = azds_err(e, ENOENT, "attach steering to %s: %s", ifname,
			       pfd < 0 ? "program not pinned (is the instance started?)" : "no such interface");
		goto out;
	}
	/* an existing clsact qdisc is expected on a re-run: keep libbpf quiet */
	libbpf_print_fn_t prev = libbpf_set_print(NULL);

	err = bpf_tc_hook_create(&hook);
	libbpf_set_print(prev);
	if (err && err != -EEXIST) {
		azds_err(e, err, "clsact on %s: %s", ifname, strerror(-err));
		goto out;
	}
	opts.prog_fd = pfd;
	opts.flags = BPF_TC_F_REPLACE;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		azds_err(e, err, "attach steering to %s: %s", ifname, strerror(-err));
out:
	if (pfd >= 0)
		close(pfd);
	azds_netns_leave(saved);
	return err;
}

static int write_resolv(const struct azds_inst *in, const char *podns, const struct azds_maps *m, const char *space)
{
	char dir[256], file[300], buf[1024], dns[AZDS_PATH_MAX + 16], path[AZDS_PATH_MAX];
	size_t o;
	int err;

	snprintf(dir, sizeof(dir), "/etc/netns/%s", podns);
	err = azds_mkdir_p(dir, 0755);
	if (err)
		return err;
	/* a bare name resolves in the pod's space, then in each ancestor */
	o = (size_t)snprintf(buf, sizeof(buf), "# written by azds-init for instance %s\nnameserver %s\nsearch",
			     in->name, AZDS_GW_ADDR);
	snprintf(path, sizeof(path), "%s", space);
	for (;;) {
		azds_space_dns(path, dns, sizeof(dns));
		if (o < sizeof(buf))
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, " %s", dns);
		char *slash = strrchr(path, '/');

		if (!slash)
			break;
		*slash = 0;
	}
	if (o < sizeof(buf))
		snprintf(buf + o, sizeof(buf) - o, "\noptions ndots:1 timeout:1 attempts:2\n");
	(void)m;
	snprintf(file, sizeof(file), "%s/resolv.conf", dir);
	return azds_write_file(file, buf);
}

/*
 * Take a pod apart: unroutable first, then its processes (all of its
 * cgroup, waited for), and only then its network, so no process of the pod
 * ever sees its network vanish and its connections close over a veth that
 * is still there. addr is NULL for a pod that was never registered.
 */
static int pod_teardown(const struct azds_inst *in, const struct azds_maps *m, const char *name,
			const __be32 *addr, struct azds_err *e)
{
	char podns[128], cg[300], dir[256], host[IFNAMSIZ], tmp[IFNAMSIZ];
	int err;

	azds_pod_netns(in, name, podns, sizeof(podns));
	azds_pod_cgroup(in, name, cg, sizeof(cg));
	if (addr)
		azds_pod_unregister(m, *addr);
	err = in->cgroup_dir[0] ? remove_cgroup(cg) : 0;
	/* and its v1 limit cgroups (a hybrid host; azds-init sandbox made them) */
	if (!err)
		err = azds_podcg_remove(in, name);
	if (err)
		return azds_err(e, err, "pod \"%s\": cgroup %s: %s; its network is kept, run del again", name, cg,
				err == -ETIMEDOUT ? "processes still running after SIGKILL" : strerror(-err));
	if (addr) {
		veth_names(*addr, host, tmp);
		ipcmd(true, in->node_ns, "link", "del", host, NULL);
	}
	if (netns_exists(podns)) {
		/* the pair goes with its pod end even while something outside
		 * the pod still holds the namespace */
		ipcmd(true, podns, "link", "del", "eth0", NULL);
		ipcmd(true, NULL, "netns", "del", podns, NULL);
	}
	snprintf(dir, sizeof(dir), "/etc/netns/%s", podns);
	rm_tree_files(dir);
	return 0;
}

/* The pods map is sized at start (--max-pods): is there room for one more? */
static int pods_room(const struct azds_maps *m, const char *pod, struct azds_err *e)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), n = 0;
	__be32 key, next;
	void *cur = NULL;

	if (bpf_obj_get_info_by_fd(m->pods, &info, &len))
		return azds_err(e, errno, "pod \"%s\": pods map: %s", pod, strerror(errno));
	while (n < info.max_entries && bpf_map_get_next_key(m->pods, cur, &next) == 0) {
		key = next;
		cur = &key;
		n++;
	}
	if (n >= info.max_entries)
		return azds_err(e, ENOSPC, "pod \"%s\": the pods map is full (limit %u, azds-controller start --max-pods)",
				pod, info.max_entries);
	return 0;
}

/* Can each of the pod's services take it as one more backend? */
static int services_room(const struct azds_maps *m, const struct azds_pod_spec *ps, __be32 addr,
			 struct azds_err *e)
{
	struct azds_svc_key sk;
	struct azds_backends be;
	int err;

	for (int i = 0; i < ps->nservices; i++) {
		bool member = false;

		err = azds_service_backends(m, ps->space, ps->services[i], &sk, &be, e);
		if (err)
			return err;
		for (__u32 j = 0; j < be.count && j < AZDS_MAX_BACKENDS; j++)
			member |= be.addrs[j] == addr;
		if (!member && be.count >= AZDS_MAX_BACKENDS)
			return azds_err(e, ENOSPC,
					"pod \"%s\": service \"%s\" in \"%s\" already has %d backends, the most one service can have",
					ps->name, ps->services[i], ps->space, AZDS_MAX_BACKENDS);
	}
	return 0;
}

/*
 * Everything that can refuse a pod, checked before anything is made: its
 * name, space, services and their backend lists, room in the pods map, an
 * address. *fresh: the pod is new, and a later failure undoes all of it.
 */
static int pod_admit(const struct azds_inst *in, const struct azds_maps *m, const struct azds_pod_spec *ps,
		     struct in_addr *addr, bool *fresh, struct azds_err *e)
{
	struct azds_pod old;
	__be32 existing;
	__u32 sid;
	int err;

	err = azds_name_valid("pod", ps->name, e);
	if (err)
		return err;
	if (!in->cgroup_dir[0])
		return azds_err(e, ENOENT, "no cgroup v2 hierarchy is mounted (see docs/operations.md)");
	if (azds_space_lookup(m, ps->space, &sid, NULL))
		return azds_err(e, ENOENT, "pod \"%s\": space \"%s\" does not exist", ps->name, ps->space);
	*fresh = azds_pod_find(m, ps->name, &existing, &old) != 0;
	if (!*fresh) {
		if (old.space != sid)
			return azds_err(e, EEXIST, "pod \"%s\" already exists in another space; delete it first",
					ps->name);
		addr->s_addr = existing;
	} else {
		struct azds_pod taken;

		err = pods_room(m, ps->name, e);
		/* the address the store remembers, when it is still free */
		if (!err && ps->want_addr && bpf_map_lookup_elem(m->pods, &ps->want_addr, &taken))
			addr->s_addr = ps->want_addr;
		else if (!err)
			err = azds_pod_alloc_addr(m, addr, e);
		if (err)
			return err;
	}
	return services_room(m, ps, addr->s_addr, e);
}

/* The pod's namespace and veth pair, checked sources, addresses, routes, steering. */
static int pod_network(const struct azds_inst *in, const char *name, __be32 addr, struct azds_err *e)
{
	char podns[128], host[IFNAMSIZ], tmp[IFNAMSIZ], a32[32], a[INET_ADDRSTRLEN];
	int err;

	azds_pod_netns(in, name, podns, sizeof(podns));
	veth_names(addr, host, tmp);
	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(a32, sizeof(a32), "%s/32", a);

	if (!netns_exists(podns) && ipcmd(false, NULL, "netns", "add", podns, NULL))
		return azds_err(e, EIO, "pod \"%s\": cannot create network namespace %s", name, podns);
	/* the veth pair is created in the node namespace; its pod end moves.
	 * A pair half made by an interrupted add is removed and made again */
	if (ipcmd(true, podns, "link", "show", "eth0", NULL) || ipcmd(true, in->node_ns, "link", "show", host, NULL)) {
		ipcmd(true, in->node_ns, "link", "del", host, NULL);
		ipcmd(true, in->node_ns, "link", "del", tmp, NULL);
		ipcmd(true, podns, "link", "del", tmp, NULL);
		ipcmd(true, podns, "link", "del", "eth0", NULL);
		if (ipcmd(false, in->node_ns, "link", "add", host, "type", "veth", "peer", "name", tmp, NULL) ||
		    ipcmd(false, in->node_ns, "link", "set", tmp, "netns", podns, NULL) ||
		    ipcmd(false, podns, "link", "set", tmp, "name", "eth0", NULL))
			return azds_err(e, EIO, "pod \"%s\": cannot create its veth pair", name);
	}
	/* before the node end comes up: no packet of the pod's is ever unchecked */
	err = veth_rp_filter(in, host, e);
	if (err)
		return err;
	if (ipcmd(false, podns, "link", "set", "lo", "up", NULL) ||
	    ipcmd(false, podns, "addr", "replace", a32, "dev", "eth0", NULL) ||
	    ipcmd(false, podns, "link", "set", "eth0", "up", NULL) ||
	    ipcmd(false, podns, "route", "replace", AZDS_GW_ADDR, "dev", "eth0", "scope", "link", NULL) ||
	    ipcmd(false, podns, "route", "replace", "default", "via", AZDS_GW_ADDR, "dev", "eth0", NULL) ||
	    ipcmd(false, in->node_ns, "link", "set", host, "up", NULL))
		return azds_err(e, EIO, "pod \"%s\": cannot configure its network", name);
	if (ipcmd(false, in->node_ns, "route", "replace", a32, "dev", host, "scope", "link", NULL))
		return azds_err(e, EIO, "pod \"%s\": cannot route %s", name, a32);
	return tc_attach(in, host, e);
}

/* cgroup and resolv.conf, then the maps: registered last, the pod becomes
 * routable once its plumbing exists */
static int pod_publish(const struct azds_inst *in, const struct azds_maps *m, const struct azds_pod_spec *ps,
		       __be32 addr, struct azds_err *e)
{
	char podns[128], cg[300];
	int err;

	azds_pod_netns(in, ps->name, podns, sizeof(podns));
	azds_pod_cgroup(in, ps->name, cg, sizeof(cg));
	err = azds_mkdir_p(cg, 0755);
	if (err)
		return azds_err(e, err, "pod \"%s\": cgroup %s: %s", ps->name, cg, strerror(-err));
	err = write_resolv(in, podns, m, ps->space);
	if (err)
		return azds_err(e, err, "pod \"%s\": resolv.conf: %s", ps->name, strerror(-err));
	err = azds_pod_register(m, addr, ps->name, ps->space, azds_cgroup_id(cg), e);
	for (int i = 0; !err && i < ps->nservices; i++)
		err = azds_backend_add(m, ps->space, ps->services[i], addr, e);
	return err;
}

int azds_pod_add(const struct azds_inst *in, const struct azds_maps *m, const struct azds_pod_spec *ps,
		 struct in_addr *addr, struct azds_err *e)
{
	struct azds_err ignored;
	bool fresh = false;
	int err;

	err = pod_admit(in, m, ps, addr, &fresh, e);
	if (err)
		return err;
	err = pod_network(in, ps->name, addr->s_addr, e);
	if (!err)
		err = pod_publish(in, m, ps, addr->s_addr, e);
	/* a new pod that cannot be finished leaves nothing behind; a pod
	 * that existed keeps what it had (add is also its repair) */
	if (err && fresh)
		pod_teardown(in, m, ps->name, &addr->s_addr, &ignored);
	/* DNS serves services only: nothing of a pod's to publish there */
	return err;
}

int azds_node_reattach(const struct azds_inst *in, const struct azds_maps *m)
{
	char host[IFNAMSIZ], tmp[IFNAMSIZ];
	struct azds_err e;
	__be32 key, next;
	void *cur = NULL;
	int n = 0;

	/* a re-load (upgrade) puts the new steering program on every pod */
	while (bpf_map_get_next_key(m->pods, cur, &next) == 0) {
		key = next;
		cur = &key;
		veth_names(key, host, tmp);
		if (tc_attach(in, host, &e) == 0)
			n++;
	}
	return n;
}

int azds_pod_del(const struct azds_inst *in, const struct azds_maps *m, const char *name, struct azds_err *e)
{
	char podns[128], cg[300];
	struct azds_pod p;
	__be32 addr;
	bool known;
	int err;

	err = azds_name_valid("pod", name, e);
	if (err)
		return err;
	azds_pod_netns(in, name, podns, sizeof(podns));
	azds_pod_cgroup(in, name, cg, sizeof(cg));
	known = azds_pod_find(m, name, &addr, &p) == 0;
	if (!known && !netns_exists(podns) && access(cg, F_OK))
		return azds_err(e, ENOENT, "pod \"%s\" does not exist", name);
	return pod_teardown(in, m, name, known ? &addr : NULL, e);
}

int azds_pod_exec(const struct azds_inst *in, const char *name, char *const argv[], struct azds_err *e)
{
	char podns[128], cg[300], procs[320], pid[32];
	char *args[64];
	int n = 0, fd;

	if (azds_name_valid("pod", name, e))
		return -EINVAL;
	azds_pod_netns(in, name, podns, sizeof(podns));
	azds_pod_cgroup(in, name, cg, sizeof(cg));
	if (!netns_exists(podns))
		return azds_err(e, ENOENT, "pod \"%s\" does not exist", name);
	if (!in->cgroup_dir[0])
		return azds_err(e, ENOENT, "no cgroup v2 hierarchy is mounted (see docs/operations.md)");
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return azds_err(e, errno, "pod \"%s\": cgroup %s: %s", name, cg, strerror(errno));
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (write(fd, pid, strlen(pid)) < 0) {
		int err = errno;

		close(fd);
		return azds_err(e, err, "pod \"%s\": join cgroup: %s", name, strerror(err));
	}
	close(fd);
	/* ip netns exec also bind-mounts /etc/netns/<ns>/resolv.conf */
	args[n++] = IP;
	args[n++] = "netns";
	args[n++] = "exec";
	args[n++] = podns;
	for (int i = 0; argv[i] && n < 63; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execvp(IP, args);
	return azds_err(e, errno, "exec: %s", strerror(errno));
}

/* ---- DNS and daemons -------------------------------------------------- */

static bool cmdline_names_instance(pid_t pid, const char *pidfile)
{
	char path[64], cmd[4096], dir[256], tag[300];
	const char *inst;
	ssize_t n;
	int fd;

	snprintf(dir, sizeof(dir), "%s", pidfile);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = 0;
	inst = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return false;
	for (ssize_t i = 0; i < n; i++)
		if (!cmd[i])
			cmd[i] = ' ';
	cmd[n] = 0;
	snprintf(tag, sizeof(tag), "%s/", dir);
	if (strstr(cmd, tag))
		return true;
	snprintf(tag, sizeof(tag), "azds-%s-node", inst);
	return strstr(cmd, tag) != NULL;
}

pid_t azds_pidfile_alive(const char *pidfile, const char *comm)
{
	char buf[64], path[64], c[64] = "";
	FILE *f = fopen(pidfile, "re");
	pid_t pid = 0;

	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		pid = (pid_t)atoi(buf);
	fclose(f);
	if (pid <= 1 || kill(pid, 0))
		return 0;
	/* the pid must still be the program we started */
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(c, sizeof(c), f))
		c[0] = 0;
	fclose(f);
	c[strcspn(c, "\n")] = 0;
	if (strncmp(c, comm, 15))
		return 0;
	/* and it must be this instance's: its command line names the
	 * instance's run directory (dnsmasq) or node namespace (router) */
	return cmdline_names_instance(pid, pidfile) ? pid : 0;
}

int azds_dns_refresh(const struct azds_inst *in, const struct azds_maps *m)
{
	char hosts[256], pidf[256];
	pid_t pid;
	int err;

	snprintf(hosts, sizeof(hosts), "%s/hosts", in->run_dir);
	err = azds_dns_write_hosts(m, hosts);
	if (err)
		return err;
	snprintf(pidf, sizeof(pidf), "%s/dnsmasq.pid", in->run_dir);
	pid = azds_pidfile_alive(pidf, "dnsmasq");
	/* dnsmasq writes its own pid file once its signal handlers are set;
	 * a SIGHUP before that would kill it instead of reloading it */
	snprintf(pidf, sizeof(pidf), "%s/dnsmasq.inner.pid", in->run_dir);
	if (pid && access(pidf, F_OK) == 0)
		kill(pid, SIGHUP);
	return 0;
}

int azds_daemon_start(const char *pidfile, const char *logfile, char *const argv[], pid_t *out)
{
	return azds_daemon_start_cg(pidfile, logfile, NULL, argv, out);
}

int azds_daemon_start_cg(const char *pidfile, const char *logfile, const char *cgroup, char *const argv[],
			 pid_t *out)
{
	char buf[32];
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int nul = open("/dev/null", O_RDONLY);

		if (cgroup) {
			char procs[512];
			int cfd;

			snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
			cfd = open(procs, O_WRONLY | O_CLOEXEC);
			if (cfd >= 0) {
				if (write(cfd, "0\n", 2) < 0)
					_exit(126);
				close(cfd);
			}
		}
		setsid();
		if (nul >= 0) {
			dup2(nul, 0);
			close(nul);
		}
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	*out = pid;
	return azds_write_file(pidfile, buf);
}

int azds_daemon_stop(const char *pidfile, const char *comm)
{
	pid_t pid = azds_pidfile_alive(pidfile, comm);

	if (pid) {
		kill(pid, SIGTERM);
		for (int i = 0; i < 100 && kill(pid, 0) == 0; i++) {
			waitpid(pid, NULL, WNOHANG);
			usleep(10000);
		}
		if (azds_pidfile_alive(pidfile, comm) == pid)
			kill(pid, SIGKILL);
	}
	unlink(pidfile);
	return 0;
}

/* ---- exported for Kubernetes mode (kpod.c) ---------------------------- */

int azds_cgroup_attach_replace(int cgfd, int prog_fd, int type, const char *prefix)
{
	return cgroup_attach(cgfd, prog_fd, (enum bpf_attach_type)type, prefix);
}
