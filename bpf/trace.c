// SPDX-License-Identifier: MIT
/* Loader of trace.bpf.c: see trace_load.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "dataplane.h"
#include "trace_load.h"
#include "trace.skel.h"

struct azds_trace_bpf {
	struct trace *skel;
};

/* libbpf's messages (a verifier log) only when AZDS_TRACE_VERBOSE is set */
static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!getenv("AZDS_TRACE_VERBOSE"))
		return 0;
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* info of the map pinned as dir/name: 0, or -errno (-ENOENT: none) */
static int pinned_info(const char *dir, const char *name, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	char path[512];
	int fd, err;

	err = pin_path(path, sizeof(path), dir, name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	err = bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
	close(fd);
	return err;
}

static void unpin(const char *dir, const char *name)
{
	char path[512];

	if (!pin_path(path, sizeof(path), dir, name))
		unlink(path);
}

/*
 * Make our definition of each pinned map match the pinned one, or drop the
 * pin where it only holds what capture can lose: libbpf refuses to reuse a
 * pinned map whose definition differs, which would fail the attach of an
 * upgraded build.
 */
static int match_pins(struct trace *skel, const char *dir, __u32 ring_bytes)
{
	struct bpf_map_info info;
	int err;

	err = pinned_info(dir, "pods", &info);
	if (err)
		return err;
	/* the data plane sizes pods at its load: take what it has */
	err = bpf_map__set_max_entries(skel->maps.pods, info.max_entries);
	if (err)
		return err;
	err = pinned_info(dir, "vips", &info);
	if (err)
		return err;
	err = bpf_map__set_max_entries(skel->maps.vips, info.max_entries);
	if (err)
		return err;

	if (!pinned_info(dir, AZDS_TRACE_PIN_RB, &info)) {
		if (!ring_bytes)
			ring_bytes = info.max_entries;
		else if (info.max_entries != ring_bytes)
			unpin(dir, AZDS_TRACE_PIN_RB);
	}
	if (!ring_bytes)
		ring_bytes = AZDS_TRACE_DEF_RING_BYTES;
	err = bpf_map__set_max_entries(skel->maps.trace_rb, ring_bytes);
	if (err)
		return err;

	if (!pinned_info(dir, AZDS_TRACE_PIN_COUNTS, &info) &&
	    (info.max_entries != AZDS_TC__COUNT || info.value_size != sizeof(__u64) ||
	     info.type != BPF_MAP_TYPE_PERCPU_ARRAY))
		unpin(dir, AZDS_TRACE_PIN_COUNTS);

	/* trace_off holds what users switched off: keep it when only its
	 * size differs */
	if (!pinned_info(dir, AZDS_TRACE_PIN_OFF, &info)) {
		if (info.type != BPF_MAP_TYPE_HASH || info.key_size != sizeof(__u32) ||
		    info.value_size != sizeof(__u32) || info.map_flags != bpf_map__map_flags(skel->maps.trace_off))
			unpin(dir, AZDS_TRACE_PIN_OFF);
		else if ((err = bpf_map__set_max_entries(skel->maps.trace_off, info.max_entries)))
			return err;
	}

	if (!pinned_info(dir, AZDS_TRACE_PIN_SOCKS, &info) &&
	    (info.type != BPF_MAP_TYPE_SK_STORAGE || info.value_size != bpf_map__value_size(skel->maps.trace_socks)))
		unpin(dir, AZDS_TRACE_PIN_SOCKS);
	return 0;
}

/*
 * One way into the send and receive calls (trace.bpf.c): the socket
 * tracepoints where the kernel has them, else fentry and fexit.
 */
static int select_progs(struct trace *skel)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool tp;
	int err = libbpf_get_error(vmlinux);

	if (err)
		return err;
	tp = btf__find_by_name_kind(vmlinux, "btf_trace_sock_send_length", BTF_KIND_TYPEDEF) >= 0 &&
	     btf__find_by_name_kind(vmlinux, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF) >= 0;
	btf__free(vmlinux);
	bpf_program__set_autoload(skel->progs.azds_tr_sent, tp);
	bpf_program__set_autoload(skel->progs.azds_tr_rcvd, tp);
	bpf_program__set_autoload(skel->progs.azds_tr_send_entry, !tp);
	bpf_program__set_autoload(skel->progs.azds_tr_send_exit, !tp);
	bpf_program__set_autoload(skel->progs.azds_tr_send6_entry, !tp);
	bpf_program__set_autoload(skel->progs.azds_tr_send6_exit, !tp);
	bpf_program__set_autoload(skel->progs.azds_tr_recv_entry, !tp);
	bpf_program__set_autoload(skel->progs.azds_tr_recv_exit, !tp);
	bpf_program__set_autoload(skel->progs.azds_tr_recv6_entry, !tp);
	bpf_program__set_autoload(skel->progs.azds_tr_recv6_exit, !tp);
	return 0;
}

static bool power_of_two(__u32 v)
{
	return v && !(v & (v - 1));
}

int azds_trace_bpf_attach(const char *pin_dir, __u32 ring_bytes, struct azds_trace_bpf **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_dir);
	libbpf_print_fn_t old = libbpf_set_print(print_fn);
	struct azds_trace_bpf *t = NULL;
	struct bpf_map_info info;
	long page = sysconf(_SC_PAGESIZE);
	int err;

	*out = NULL;
	if (ring_bytes && (!power_of_two(ring_bytes) || page <= 0 || ring_bytes < (__u32)page)) {
		err = -EINVAL;
		goto cleanup;
	}
	/* before libbpf: its own failure would print and say less */
	err = pinned_info(pin_dir, "pods", &info);
	if (err)
		goto cleanup;
	t = calloc(1, sizeof(*t));
	if (!t) {
		err = -ENOMEM;
		goto cleanup;
	}
	t->skel = trace__open_opts(&oo);
	if (!t->skel) {
		err = -errno ? -errno : -EINVAL;
		goto cleanup;
	}
	err = select_progs(t->skel);
	if (!err)
		err = match_pins(t->skel, pin_dir, ring_bytes);
	if (!err)
		err = trace__load(t->skel);
	if (!err)
		err = trace__attach(t->skel);
	if (err)
		goto cleanup;
	*out = t;
	t = NULL;
cleanup:
	if (t) {
		trace__destroy(t->skel);
		free(t);
	}
	libbpf_set_print(old);
	return err < 0 ? err : (err ? -EINVAL : 0);
}

void azds_trace_bpf_detach(struct azds_trace_bpf *t)
{
	if (!t)
		return;
	trace__destroy(t->skel); /* destroys the links, then closes maps and programs */
	free(t);
}

int azds_trace_bpf_ring_fd(const struct azds_trace_bpf *t)
{
	return bpf_map__fd(t->skel->maps.trace_rb);
}

/* the programs on the send and receive calls, and where their links are */
static unsigned data_progs(struct trace *skel, struct bpf_program **progs, struct bpf_link ***links)
{
	struct bpf_program *p[] = {
		skel->progs.azds_tr_sent,	  skel->progs.azds_tr_rcvd,	  skel->progs.azds_tr_send_entry,
		skel->progs.azds_tr_send_exit,	  skel->progs.azds_tr_send6_entry, skel->progs.azds_tr_send6_exit,
		skel->progs.azds_tr_recv_entry,	  skel->progs.azds_tr_recv_exit,  skel->progs.azds_tr_recv6_entry,
		skel->progs.azds_tr_recv6_exit,
	};
	struct bpf_link **l[] = {
		&skel->links.azds_tr_sent,	  &skel->links.azds_tr_rcvd,	  &skel->links.azds_tr_send_entry,
		&skel->links.azds_tr_send_exit,	  &skel->links.azds_tr_send6_entry, &skel->links.azds_tr_send6_exit,
		&skel->links.azds_tr_recv_entry,  &skel->links.azds_tr_recv_exit,  &skel->links.azds_tr_recv6_entry,
		&skel->links.azds_tr_recv6_exit,
	};
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		if (!bpf_program__autoload(p[i]))
			continue;
		progs[n] = p[i];
		links[n++] = l[i];
	}
	return n;
}

int azds_trace_bpf_publish(struct azds_trace_bpf *t, bool on)
{
	struct bpf_program *progs[AZDS_TRACE_PROGS_MAX];
	struct bpf_link **links[AZDS_TRACE_PROGS_MAX];
	unsigned n = data_progs(t->skel, progs, links);
	int err = 0;

	/* the object's .data is mapped: a store, no syscall (the programs
	 * read it with a plain load, so a new value shows at their next run) */
	__atomic_store_n(&t->skel->data->azds_trace_publish, on ? 1u : 0u, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++) {
		if (on && !*links[i]) {
			struct bpf_link *l = bpf_program__attach(progs[i]);

			if (!l) {
				err = -errno ? -errno : -EINVAL;
				break;
			}
			*links[i] = l;
		} else if (!on && *links[i]) {
			bpf_link__destroy(*links[i]);
			*links[i] = NULL;
		}
	}
	return err;
}

int azds_trace_bpf_prog_ids(const struct azds_trace_bpf *t, __u32 *ids, size_t max)
{
	struct bpf_program *p;
	size_t n = 0;

	bpf_object__for_each_program(p, t->skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (n >= max)
			break;
		if (bpf_program__autoload(p) && !bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
			ids[n++] = info.id;
	}
	return (int)n;
}

int azds_trace_map_open(const char *pin_dir, const char *name)
{
	char path[512];
	int fd, err = pin_path(path, sizeof(path), pin_dir, name);

	if (err)
		return err;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

static int azds_trace_counts_fd(int counts_fd, __u64 out[AZDS_TC__COUNT])
{
	int ncpu = libbpf_num_possible_cpus();

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	__u64 *vals = calloc((size_t)ncpu, sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	for (__u32 i = 0; i < AZDS_TC__COUNT; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(counts_fd, &i, vals)) {
			int err = -errno;

			free(vals);
			return err;
		}
		for (int c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
	free(vals);
	return 0;
}

int azds_trace_counts(const char *pin_dir, __u64 out[AZDS_TC__COUNT])
{
	int fd = azds_trace_map_open(pin_dir, AZDS_TRACE_PIN_COUNTS), err;

	if (fd < 0)
		return fd;
	err = azds_trace_counts_fd(fd, out);
	close(fd);
	return err;
}

int azds_trace_space_set(const char *pin_dir, __u32 space, bool on)
{
	int fd = azds_trace_map_open(pin_dir, AZDS_TRACE_PIN_OFF), err = 0;
	__u32 one = 1;

	if (fd < 0)
		return fd;
	if (on) {
		if (bpf_map_delete_elem(fd, &space) && errno != ENOENT)
			err = -errno;
	} else if (bpf_map_update_elem(fd, &space, &one, BPF_ANY)) {
		err = errno == E2BIG ? -ENOSPC : -errno;
	}
	close(fd);
	return err;
}

static bool why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return false;
}

bool azds_trace_bpf_supported(char *why, size_t len)
{
	libbpf_print_fn_t old;
	struct bpf_program *p;
	struct bpf_map *m;
	struct trace *skel;
	long page = sysconf(_SC_PAGESIZE);
	bool ok = true;
	int err;

	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return why_set(why, len, "no kernel BTF (/sys/kernel/btf/vmlinux): %s", strerror(errno));
	old = libbpf_set_print(print_fn);
	skel = trace__open();
	if (!skel) {
		libbpf_set_print(old);
		return why_set(why, len, "open: %s", strerror(errno));
	}
	/* private, small maps: nothing pinned, nothing a pod's */
	bpf_object__for_each_map(m, skel->obj)
		bpf_map__set_pin_path(m, NULL);
	bpf_map__set_max_entries(skel->maps.pods, 1);
	bpf_map__set_max_entries(skel->maps.trace_rb, page > 0 ? (__u32)page : 4096);
	bpf_map__set_max_entries(skel->maps.trace_off, 1);
	err = select_progs(skel);
	if (err) {
		ok = why_set(why, len, "kernel BTF: %s", strerror(-err));
		goto cleanup;
	}
	err = trace__load(skel);
	if (err)
		ok = why_set(why, len, "load: %s", strerror(-err));
	/* fentry can load and still not attach (no ftrace direct calls) */
	bpf_object__for_each_program(p, skel->obj) {
		struct bpf_link *l;

		if (!ok)
			break;
		if (!bpf_program__autoload(p))
			continue;
		l = bpf_program__attach(p);
		if (!l)
			ok = why_set(why, len, "%s: attach: %s", bpf_program__section_name(p), strerror(errno));
		bpf_link__destroy(l);
	}
cleanup:
	trace__destroy(skel);
	libbpf_set_print(old);
	return ok;
}
