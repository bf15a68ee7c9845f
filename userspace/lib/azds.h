/* SPDX-License-Identifier: MIT */
/*
 * libazds: what the daemons and tools share: instance paths, the pinned
 * maps and the operations on spaces, services and pods that keep them
 * consistent. Functions return 0 or -errno and fill an error text buffer
 * with the user-facing cause; only the program boundary prints.
 */
#ifndef AZDS_LIB_H
#define AZDS_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/types.h>
#include "dataplane.h"
#include "dataplane_load.h"

#define AZDS_INSTANCE_DEFAULT "azds"
#define AZDS_ERRMAX 256

/* addressing of the embedded node */
#define AZDS_GW_ADDR "169.254.1.1"   /* node side: gateway, DNS, router */
#define AZDS_POD_NET "10.77.0.0"      /* pods: 10.77.0.0/16 */
#define AZDS_VIP_NET "10.96.0.0"      /* services: 10.96.0.0/16 */
#define AZDS_DNS_DOMAIN "azds"

struct azds_inst {
	char name[32];
	char pin_dir[128];   /* /sys/fs/bpf/azds/<name> */
	char run_dir[128];   /* /run/azds/<name> */
	char cgroup_dir[256];/* <cgroup2>/azds-<name> */
	char node_ns[64];    /* azds-<name>-node (the node network namespace) */
};

struct azds_maps {
	int spaces, space_ids, pods, pod_cgroups, vips, services, backends, config, stats, events, socks, gen;
	volatile __u64 *gen_mem; /* mmap of the generation counter */
	struct azds_hints *hints; /* process-local speed-ups, always re-verified */
};

struct azds_err {
	char msg[AZDS_ERRMAX];
};

int azds_err(struct azds_err *e, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* instance */
int azds_inst_init(struct azds_inst *in, const char *name, struct azds_err *e);
int azds_cgroup2_root(char *buf, size_t len);
int azds_maps_open(const struct azds_inst *in, struct azds_maps *m, struct azds_err *e);
/* the controller daemon's pid when one runs the instance, else 0 */
pid_t azds_daemon_pid(const struct azds_inst *in);
void azds_maps_close(struct azds_maps *m);
/* after a change to spaces, services, pods or backends */
void azds_gen_bump(const struct azds_maps *m);
__u64 azds_gen_read(const struct azds_maps *m);
int azds_config_get(const struct azds_maps *m, struct azds_config *c);
int azds_config_set(const struct azds_maps *m, const struct azds_config *c);

/* names */
int azds_space_path_valid(const char *path, struct azds_err *e);
int azds_name_valid(const char *what, const char *name, struct azds_err *e);
void azds_space_dns(const char *path, char *buf, size_t len); /* dev/alice -> alice.dev.azds */

/* spaces */
int azds_space_add(const struct azds_maps *m, const char *path, __u32 *id, struct azds_err *e);
int azds_space_remove(const struct azds_maps *m, const char *path, struct azds_err *e);
/* the same without the embedded mode's guard of "default" (a Kubernetes namespace unlabelled) */
int azds_space_remove_k8s(const struct azds_maps *m, const char *path, struct azds_err *e);
int azds_space_lookup(const struct azds_maps *m, const char *path, __u32 *id, struct azds_space *sp);
/* iterate: returns next id after prev (0 to start), 0 when done */
__u32 azds_space_next(const struct azds_maps *m, __u32 prev, struct azds_space *sp);

/* services */
int azds_service_add(const struct azds_maps *m, const char *space, const char *name, __u32 kind,
		     __u16 port, __u16 target_port, struct azds_service *out, struct azds_err *e);
/* the same, at the virtual address want_vip when the name is new and it is free (0: any) */
int azds_service_add_at(const struct azds_maps *m, const char *space, const char *name, __u32 kind,
			__u16 port, __u16 target_port, __be32 want_vip, struct azds_service *out, struct azds_err *e);
int azds_service_remove(const struct azds_maps *m, const char *space, const char *name,
			struct azds_err *e);
int azds_service_id(const struct azds_maps *m, const char *name, struct azds_vip_key *vk,
		    struct azds_vip *v);

/* pods */
int azds_pod_alloc_addr(const struct azds_maps *m, struct in_addr *out, struct azds_err *e);
int azds_pod_register(const struct azds_maps *m, __be32 addr, const char *name, const char *space,
		      __u64 cgroup_id, struct azds_err *e);
int azds_pod_unregister(const struct azds_maps *m, __be32 addr);
int azds_pod_find(const struct azds_maps *m, const char *name, __be32 *addr, struct azds_pod *p);
/* key and backends of service svc declared in space; -ENOENT naming what is missing */
int azds_service_backends(const struct azds_maps *m, const char *space, const char *svc, struct azds_svc_key *sk,
			  struct azds_backends *be, struct azds_err *e);
int azds_backend_add(const struct azds_maps *m, const char *space, const char *svc, __be32 addr,
		     struct azds_err *e);
int azds_backend_remove_addr(const struct azds_maps *m, __be32 addr);

/* DNS: write the hosts file served to pods (every <svc>.<space-dns>) */
int azds_dns_write_hosts(const struct azds_maps *m, const char *file);

/* misc */
__u64 azds_cgroup_id(const char *dir);
int azds_write_file(const char *path, const char *data); /* atomic replace */
/* write val to an existing file in place (procfs, sysfs, cgroupfs) */
int azds_write_str(const char *path, const char *val);
/* read at most len - 1 bytes of a small file, NUL-terminated */
int azds_read_str(const char *path, char *buf, size_t len);
int64_t azds_mono_ms(void); /* CLOCK_MONOTONIC in ms */
int azds_mkdir_p(const char *path, unsigned mode);
int azds_run(char *const argv[], bool quiet); /* fork+exec, wait, return exit status or -errno */
/* exclusive lock of an instance's writers; returns an fd held until exit.
 * create: make run_dir if it is missing (start); without it a missing
 * run_dir is -ENOENT, so that a command on an instance that is not running
 * leaves no directory or lock behind */
int azds_lock(const char *run_dir, bool create);
int azds_netns_enter(const char *name, int *saved_fd); /* saved_fd: fd of the old netns */
int azds_netns_leave(int saved_fd);

#endif
