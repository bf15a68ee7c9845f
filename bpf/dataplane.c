// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "dataplane_load.h"
#include "dataplane.skel.h"

#define AZDS_REASON_NAME(id, name, text) [id] = name,
#define AZDS_REASON_TEXT(id, name, text) [id] = text,
const char *const azds_reason_names[] = { AZDS_REASONS(AZDS_REASON_NAME) };
const char *const azds_reason_texts[] = { AZDS_REASONS(AZDS_REASON_TEXT) };

const char *const azds_dp_map_names[] = { "spaces", "space_ids", "pods", "pod_cgroups", "vips",
					  "services", "backends", "dp_config", "stats", "events", "sock_hash", "generation",
					  "router_socks", "sock_ptrs", "router_rx", "router_tx", "splice_pods", "router_spread", NULL };
const char *const azds_dp_prog_names[] = { "prog_steer",  "prog_connect4",	"prog_sockops", "prog_msg",
					   "prog_connect6", "prog_msg_router", "prog_peer_queue", NULL };

__u64 azds_dp_counter(int stats_fd, __u32 reason)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 sum = 0;

	if (ncpu <= 0)
		return 0;
	__u64 vals[ncpu];

	if (bpf_map_lookup_elem(stats_fd, &reason, vals))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

static bool dp_verbose;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !dp_verbose)
		return 0;
	if (level == LIBBPF_INFO && !dp_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void azds_dp_default_opts(struct azds_dp_opts *o, const char *pin_dir)
{
	memset(o, 0, sizeof(*o));
	o->pin_dir = pin_dir;
	o->max_spaces = AZDS_DEF_MAX_SPACES;
	o->max_pods = AZDS_DEF_MAX_PODS;
	o->max_services = AZDS_DEF_MAX_SERVICES;
	o->max_vips = AZDS_DEF_MAX_VIPS;
	o->ringbuf_bytes = AZDS_DEF_RINGBUF_BYTES;
	o->max_socks = AZDS_DEF_MAX_SOCKS;
	/* sockmap and sockmap-pods on: azds bench showed them ahead on latency
	 * and throughput (docs/performance.md, "Switch defaults") */
	o->cfg.flags = AZDS_CFG_KERNEL_LB | AZDS_CFG_STEER | AZDS_CFG_EVENTS | AZDS_CFG_SOCKMAP | AZDS_CFG_SOCKMAP_PODS |
		       AZDS_CFG_TRACE;
	o->cfg.max_depth = AZDS_DEPTH_DEFAULT;
	o->cfg.router_port = 15001;
}

static int pin_prog(struct bpf_program *p, const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path); /* replace an older program; attachments keep their own */
	return bpf_program__pin(p, path);
}

/*
 * A pinned map that holds only derived state (counters, socket addresses)
 * is replaced when a newer build changed its type or size: libbpf refuses to reuse a pinned map whose
 * definition differs, which would fail the load of an upgraded instance.
 * The programs still attached keep the old map until they are re-attached.
 */
static void drop_changed_pin(const char *dir, const char *name, __u32 type, __u32 max_entries)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && (info.max_entries != max_entries || info.type != type))
		unlink(path);
	close(fd);
}

static int attach_msg(const struct bpf_program *p, const struct bpf_map *m)
{
	if (!bpf_prog_attach(bpf_program__fd(p), bpf_map__fd(m), BPF_SK_MSG_VERDICT, BPF_F_REPLACE))
		return 0;
	return bpf_prog_attach(bpf_program__fd(p), bpf_map__fd(m), BPF_SK_MSG_VERDICT, 0);
}

int azds_dp_peer_queue(int prog_fd, const struct azds_sock_key *key, bool stack, struct azds_peer_q *q)
{
	LIBBPF_OPTS(bpf_test_run_opts, ro);

	memset(q, 0, sizeof(*q));
	q->key = *key;
	q->stack = stack;
	ro.ctx_in = q;
	ro.ctx_size_in = sizeof(*q);
	if (bpf_prog_test_run_opts(prog_fd, &ro))
		return -errno;
	return 0;
}

void azds_pod_budget_init(struct azds_pod_budget *b)
{
	/* a new connection's pod has nothing unread: the whole bound */
	memset(b, 0, sizeof(*b));
	b->bytes = AZDS_POD_RX_BYTES;
	b->msgs = AZDS_POD_RX_MSGS;
}

void azds_pod_budget_stack(struct azds_pod_budget *b)
{
	if (b->unlimited || b->stack)
		return; /* never redirects, or already so */
	b->stack = true;
	b->bytes = 0; /* ask before the next send */
}

/* what the pod behind sock_fd holds: false if it cannot be told now */
static bool pod_budget_ask(struct azds_pod_budget *b, int prog_fd, int sock_fd, int *err)
{
	struct azds_peer_q q;
	int rc;

	if (prog_fd < 0) {
		/* nothing pinned: a data plane that never redirects to pods */
		b->unlimited = true;
		return true;
	}
	if (!b->have_key) {
		struct sockaddr_in me = { 0 }, peer = { 0 };
		socklen_t ml = sizeof(me), pl = sizeof(peer);

		if (getsockname(sock_fd, (struct sockaddr *)&me, &ml) ||
		    getpeername(sock_fd, (struct sockaddr *)&peer, &pl)) {
			*err = -errno; /* not connected any more: the caller sees it soon */
			return false;
		}
		if (me.sin_family != AF_INET || peer.sin_family != AF_INET) {
			b->unlimited = true; /* sockmap maps IPv4 sockets only */
			return true;
		}
		b->key.local_ip = peer.sin_addr.s_addr;
		b->key.remote_ip = me.sin_addr.s_addr;
		b->key.local_port = ntohs(peer.sin_port);
		b->key.remote_port = ntohs(me.sin_port);
		b->have_key = true;
	}
	rc = azds_dp_peer_queue(prog_fd, &b->key, b->stack, &q);
	if (rc) {
		*err = rc;
		if (rc == -EINTR || rc == -ENOMEM || rc == -EAGAIN)
			return false; /* asked again later */
		/* the program cannot run at all: nothing could be bounded by
		 * waiting, and stalling every connection would be worse */
		b->unlimited = true;
		return true;
	}
	if (!q.redirects) {
		/* the router's socket was admitted without azds_msg_router (or
		 * not at all): its sends never redirect, for good */
		b->unlimited = true;
		return true;
	}
	if (q.stack && q.bytes == 0 && q.msgs == 0) {
		/* stack-only (asked for, or marked by the splice guard) with
		 * its queue read, or not admitted yet and inheriting the mark:
		 * nothing is redirected to it again */
		b->unlimited = true;
		return true;
	}
	if (b->stack) {
		/* wait until the pod has read its queue */
		b->bytes = 0;
		b->msgs = 0;
		return true;
	}
	b->bytes = q.bytes >= AZDS_POD_RX_BYTES ? 0 : AZDS_POD_RX_BYTES - q.bytes;
	b->msgs = q.msgs >= AZDS_POD_RX_MSGS ? 0 : AZDS_POD_RX_MSGS - q.msgs;
	return true;
}

size_t azds_pod_budget_take(struct azds_pod_budget *b, int prog_fd, int sock_fd, size_t len, int *err)
{
	*err = 0;
	if (b->unlimited)
		return len;
	if ((b->msgs == 0 || b->bytes == 0) && !pod_budget_ask(b, prog_fd, sock_fd, err))
		return 0;
	if (b->unlimited)
		return len;
	if (b->msgs == 0)
		return 0;
	return len < b->bytes ? len : b->bytes;
}

void azds_pod_budget_sent(struct azds_pod_budget *b, size_t n)
{
	/* one message per send, more when it is long (a redirected message
	 * carries at most MAX_MSG_FRAGS pages) */
	__u32 m = 1 + (__u32)(n / 32768);

	if (b->unlimited || n == 0)
		return;
	b->bytes = n >= b->bytes ? 0 : b->bytes - (__u32)n;
	b->msgs = b->msgs > m ? b->msgs - m : 0;
}

int azds_dp_tracefs(char *dir, size_t len)
{
	static const char *const dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[256];

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			snprintf(path, sizeof(path), "%s/events", dirs[i]);
			if (access(path, F_OK) == 0) {
				snprintf(dir, len, "%s", dirs[i]);
				return 0;
			}
		}
		/* not mounted (a host without systemd's mount of it) */
		if (pass == 0 && mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) && errno != EBUSY)
			break;
	}
	return -ENOENT;
}

/*
 * Attach a tracepoint program through a BPF link pinned as dir/name, so
 * it stays attached after this process (the link holds the perf event).
 * The new link is in place before an older one of the same name goes.
 */
static int pin_tracepoint(const struct bpf_program *p, const char *tracefs, const char *tp, const char *dir,
			  const char *name)
{
	struct perf_event_attr attr = { .type = PERF_TYPE_TRACEPOINT, .size = sizeof(attr), .sample_period = 1,
					.wakeup_events = 1 };
	char path[512];
	FILE *f;
	int pfd, lfd, err = 0;
	long id = -1;

	snprintf(path, sizeof(path), "%s/events/%s/id", tracefs, tp);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%ld", &id) != 1)
		id = -1;
	fclose(f);
	if (id < 0)
		return -EINVAL;
	attr.config = (__u64)id;
	pfd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0)
		return -errno;
	lfd = bpf_link_create(bpf_program__fd(p), pfd, BPF_PERF_EVENT, NULL);
	if (lfd < 0) {
		err = -errno;
		close(pfd);
		return err;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	if (bpf_obj_pin(lfd, path))
		err = -errno;
	close(lfd);
	close(pfd);
	return err;
}

/* the guard's pinned links: the syscall tracepoints' pair, then fentry's */
static const char *const guard_links[] = { "link_splice_guard", "link_zerocopy_guard", "link_splice_fentry",
					   "link_zerocopy_fentry" };

/* unpin the guard's links from..to-1 of guard_links */
static void unpin_guard_range(const char *dir, size_t from, size_t to)
{
	char path[512];

	for (size_t i = from; i < to; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, guard_links[i]);
		unlink(path);
	}
}

static void unpin_guard(const char *dir)
{
	unpin_guard_range(dir, 0, sizeof(guard_links) / sizeof(guard_links[0]));
}

/* a no-op fentry program on fn loads and attaches (attached for the moment of the check) */
static bool fentry_takes(const char *fn)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 }, /* r0 = 0 */
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = BPF_TRACE_FENTRY);
	int id = libbpf_find_vmlinux_btf_id(fn, BPF_TRACE_FENTRY), fd, lfd;

	if (id <= 0)
		return false;
	po.attach_btf_id = (__u32)id;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "azds_fentry_ok", "GPL", insns, 2, &po);
	if (fd < 0)
		return false;
	lfd = bpf_link_create(fd, 0, BPF_TRACE_FENTRY, NULL);
	if (lfd >= 0)
		close(lfd);
	close(fd);
	return lfd >= 0;
}

/*
 * Can the guard's fentry programs load and attach here? Both functions are
 * checked: one the kernel cannot trace would fail the whole data plane's
 * load. This project's 6.18 machine refuses every trampoline (EPERM at
 * load); Debian 12's 6.1 takes them.
 */
bool azds_dp_fentry_ok(void)
{
	return fentry_takes("tcp_splice_read") && fentry_takes("tcp_getsockopt");
}

/* attach an fentry program and pin its link as dir/name (replacing one) */
static int pin_fentry(struct bpf_program *p, const char *dir, const char *name)
{
	struct bpf_link *l = bpf_program__attach_trace(p);
	char path[512];
	int err;

	if (!l)
		return -errno ? -errno : -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	err = bpf_link__pin(l, path);
	bpf_link__destroy(l); /* the pin holds it */
	return err;
}

/*
 * The splice guard (dataplane.bpf.c): without it a pod reading with
 * splice() could miss what the router redirects to it, so azds_msg_router
 * redirects to pods only while AZDS_CFG_SPLICE_GUARD says it is attached.
 * True if it is. Half attached counts as not at all: both links go.
 */
static bool attach_guard(struct dataplane *skel, const struct azds_dp_opts *o, bool fentry, bool *on_fentry)
{
	char tracefs[64] = "";
	int err;

	*on_fentry = false;
	if (o->override & AZDS_OVR_NO_GUARD) {
		unpin_guard(o->pin_dir); /* and none left of an earlier load */
		return false;
	}
	/* fentry where the kernel takes it: no cost to any other call. The
	 * new links are in place before the tracepoints' go */
	if (fentry) {
		err = pin_fentry(skel->progs.azds_splice_fentry, o->pin_dir, "link_splice_fentry");
		if (!err)
			err = pin_fentry(skel->progs.azds_zerocopy_fentry, o->pin_dir, "link_zerocopy_fentry");
		if (!err) {
			unpin_guard_range(o->pin_dir, 0, 2);
			*on_fentry = true;
			return true;
		}
		unpin_guard_range(o->pin_dir, 2, 4);
		fprintf(stderr, "azds: the splice guard cannot attach with fentry (%s): syscall tracepoints instead\n",
			strerror(-err));
	}
	err = azds_dp_tracefs(tracefs, sizeof(tracefs));
	if (!err)
		err = pin_tracepoint(skel->progs.azds_splice_guard, tracefs, "syscalls/sys_enter_splice", o->pin_dir,
				     "link_splice_guard");
	if (!err)
		err = pin_tracepoint(skel->progs.azds_zerocopy_guard, tracefs, "syscalls/sys_enter_getsockopt",
				     o->pin_dir, "link_zerocopy_guard");
	if (!err)
		unpin_guard_range(o->pin_dir, 2, 4); /* an earlier load's fentry links */
	if (err) {
		unpin_guard(o->pin_dir);
		fprintf(stderr,
			"azds: the splice guard cannot attach to the syscall tracepoints (%s; tracefs at %s): "
			"sockmap-pods has no effect, the router's sends to pods go through the stack\n",
			strerror(-err), tracefs[0] ? tracefs : "/sys/kernel/tracing, not mountable");
		return false;
	}
	return true;
}

int azds_dp_load(const struct azds_dp_opts *o)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = o->pin_dir);
	struct dataplane *skel = NULL;
	bool guard, fentry, on_fentry;
	__u32 zero = 0;
	int err;

	dp_verbose = o->verbose;
	libbpf_set_print(print_fn);
	if (o->cfg.max_depth == 0 || o->cfg.max_depth > AZDS_DEPTH_HARD_MAX)
		return -ERANGE;
	if (mkdir(o->pin_dir, 0700) && errno != EEXIST)
		return -errno;

	drop_changed_pin(o->pin_dir, "stats", BPF_MAP_TYPE_PERCPU_ARRAY, AZDS_R__COUNT);
	/* sock_ptrs: an LRU hash of max_socks before it also held pods' ends */
	drop_changed_pin(o->pin_dir, "sock_ptrs", BPF_MAP_TYPE_HASH, 2 * o->max_socks);
	/* the guard's fentry programs only where the kernel takes them: a
	 * refused one would fail the whole load, so a load that fails with
	 * them is tried once more without (the syscall tracepoints then) */
	fentry = !(o->override & AZDS_OVR_NO_GUARD) && azds_dp_fentry_ok();
again:
	skel = dataplane__open_opts(&oo);
	if (!skel)
		return -errno ? -errno : -EINVAL;
	bpf_map__set_max_entries(skel->maps.spaces, o->max_spaces);
	bpf_map__set_max_entries(skel->maps.space_ids, o->max_spaces);
	bpf_map__set_max_entries(skel->maps.pods, o->max_pods);
	bpf_map__set_max_entries(skel->maps.pod_cgroups, o->max_pods);
	bpf_map__set_max_entries(skel->maps.vips, o->max_vips);
	bpf_map__set_max_entries(skel->maps.services, o->max_services);
	bpf_map__set_max_entries(skel->maps.backends, o->max_services);
	bpf_map__set_max_entries(skel->maps.events, o->ringbuf_bytes);
	bpf_map__set_max_entries(skel->maps.sock_hash, o->max_socks);
	bpf_map__set_max_entries(skel->maps.router_rx, o->max_socks);
	bpf_map__set_max_entries(skel->maps.router_tx, o->max_socks);
	bpf_map__set_max_entries(skel->maps.sock_ptrs, 2 * o->max_socks);
	bpf_map__set_max_entries(skel->maps.splice_pods, o->max_pods);
	bpf_program__set_autoload(skel->progs.azds_splice_fentry, fentry);
	bpf_program__set_autoload(skel->progs.azds_zerocopy_fentry, fentry);

	err = dataplane__load(skel);
	if (err && fentry) {
		fprintf(stderr, "azds: the data plane does not load with the splice guard's fentry programs (%s): "
			"loading it with the syscall tracepoints instead\n", strerror(-err));
		dataplane__destroy(skel);
		fentry = false;
		goto again;
	}
	if (err)
		goto cleanup;
	err = pin_prog(skel->progs.azds_steer, o->pin_dir, "prog_steer");
	if (!err)
		err = pin_prog(skel->progs.azds_connect4, o->pin_dir, "prog_connect4");
	if (!err)
		err = pin_prog(skel->progs.azds_connect6, o->pin_dir, "prog_connect6");
	if (!err)
		err = pin_prog(skel->progs.azds_sockops, o->pin_dir, "prog_sockops");
	if (!err)
		err = pin_prog(skel->progs.azds_msg_redirect, o->pin_dir, "prog_msg");
	if (!err)
		err = pin_prog(skel->progs.azds_msg_router, o->pin_dir, "prog_msg_router");
	if (!err)
		err = pin_prog(skel->progs.azds_peer_queue, o->pin_dir, "prog_peer_queue");
	if (err)
		goto cleanup;
	guard = attach_guard(skel, o, fentry, &on_fentry);
	/* the sk_msg verdicts live on the maps themselves: attach (or
	 * replace). A socket already in a map keeps what it was added with. */
	if (attach_msg(skel->progs.azds_msg_redirect, skel->maps.sock_hash) ||
	    attach_msg(skel->progs.azds_msg_router, skel->maps.router_tx)) {
		err = -errno;
		goto cleanup;
	}
	/* a restart keeps the switches set at run time; only what the
	 * caller names explicitly is changed on top of them */
	{
		struct azds_config cfg = {};

		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.dp_config), &zero, &cfg) || cfg.max_depth == 0)
			cfg = o->cfg; /* a fresh instance: the defaults */
		if (o->override & AZDS_OVR_DEPTH)
			cfg.max_depth = o->cfg.max_depth;
		if (o->override & AZDS_OVR_NO_KLB)
			cfg.flags &= ~AZDS_CFG_KERNEL_LB;
		if (o->override & AZDS_OVR_NO_SOCKMAP)
			cfg.flags &= ~AZDS_CFG_SOCKMAP;
		/* sockmap-pods takes effect only with the guard (azds_msg_router) */
		if (guard)
			cfg.flags |= AZDS_CFG_SPLICE_GUARD;
		else
			cfg.flags &= ~AZDS_CFG_SPLICE_GUARD;
		if (on_fentry)
			cfg.flags |= AZDS_CFG_GUARD_FENTRY;
		else
			cfg.flags &= ~AZDS_CFG_GUARD_FENTRY;
		cfg.router_port = o->cfg.router_port;
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.dp_config), &zero, &cfg, BPF_ANY))
			err = -errno;
	}
cleanup:
	dataplane__destroy(skel);
	return err;
}

int azds_dp_listeners_set_fd(int socks_fd, int config_fd, const int *fds, __u32 n)
{
	struct azds_config cfg;
	__u32 zero = 0;

	if (n > AZDS_MAX_WORKERS)
		return -E2BIG;
	for (__u32 i = 0; i < n; i++) {
		int on = 0, listening = 0;
		socklen_t len = sizeof(on);
		__u64 v = (__u64)fds[i];

		/* before 6.5, bpf_sk_assign refuses any socket of a reuseport
		 * group: refuse them everywhere so no kernel behaves otherwise */
		if (getsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &on, &len))
			return -errno;
		len = sizeof(listening);
		if (getsockopt(fds[i], SOL_SOCKET, SO_ACCEPTCONN, &listening, &len))
			return -errno;
		if (on || !listening)
			return -EINVAL;
		if (bpf_map_update_elem(socks_fd, &i, &v, BPF_ANY))
			return -errno;
	}
	/* the sockets first, then the count that makes TC use them */
	if (bpf_map_lookup_elem(config_fd, &zero, &cfg))
		return -errno;
	cfg.router_workers = n;
	if (bpf_map_update_elem(config_fd, &zero, &cfg, BPF_ANY))
		return -errno;
	/* slots of an earlier, larger set (a closed socket leaves by itself) */
	for (__u32 i = n; i < AZDS_MAX_WORKERS; i++)
		bpf_map_delete_elem(socks_fd, &i);
	return 0;
}

int azds_dp_listeners_set(const char *pin_dir, const int *fds, __u32 n)
{
	char path[512];
	int socks, config, err;

	snprintf(path, sizeof(path), "%s/router_socks", pin_dir);
	socks = bpf_obj_get(path);
	if (socks < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/dp_config", pin_dir);
	config = bpf_obj_get(path);
	if (config < 0) {
		err = -errno;
		close(socks);
		return err;
	}
	err = azds_dp_listeners_set_fd(socks, config, fds, n);
	close(config);
	close(socks);
	return err;
}
