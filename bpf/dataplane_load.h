/* SPDX-License-Identifier: MIT */
/* Loader of dataplane.bpf.c: open -> size maps -> load -> pin. */
#ifndef AZDS_DATAPLANE_LOAD_H
#define AZDS_DATAPLANE_LOAD_H

#include <stdbool.h>
#include "dataplane.h"

struct azds_dp_opts {
	const char *pin_dir; /* e.g. /sys/fs/bpf/azds/<instance> */
	__u32 max_spaces;
	__u32 max_pods;
	__u32 max_services; /* (space, service) pairs */
	__u32 max_vips;
	__u32 ringbuf_bytes; /* power of two, >= 4096 */
	__u32 max_socks;     /* sock_hash entries (sockmap switch) */
	struct azds_config cfg;
	bool verbose; /* route libbpf's messages to stderr */
	/* switches already pinned are kept; these few are applied on top */
	__u32 override;
};

#define AZDS_OVR_DEPTH 0x1u      /* cfg.max_depth */
#define AZDS_OVR_NO_KLB 0x2u     /* kernel balancing off */
#define AZDS_OVR_NO_SOCKMAP 0x4u /* sockmap off */
#define AZDS_OVR_NO_GUARD 0x8u   /* no splice guard, so sockmap-pods cannot take effect (the Kubernetes
				  * mode, which never runs sockmap: the guard would cost every syscall there) */

void azds_dp_default_opts(struct azds_dp_opts *o, const char *pin_dir);

/*
 * Load the programs, reusing maps already pinned in pin_dir (so a restart
 * keeps every space, pod and service), pin the programs as
 * pin_dir/prog_{steer,connect4,connect6,sockops,msg} and write the config.
 * Returns 0 or -errno.
 */
int azds_dp_load(const struct azds_dp_opts *o);

/*
 * The router's worker listeners, for TC to pick from by flow hash.
 *
 * Before 6.5, bpf_sk_assign refuses a socket of a SO_REUSEPORT group, so N
 * workers cannot each have a listener in one reuseport group on
 * router_port (Debian 12's 6.1 resets every steered SYN then). Instead:
 *   - worker 0 listens on 0.0.0.0:router_port (IP_TRANSPARENT), without
 *     SO_REUSEPORT: TC falls back to it when no listener is registered,
 *     and it is what readiness checks look for;
 *   - workers 1..N-1 listen on 127.0.0.1:0 (any free port: TC assigns
 *     SYNs to the socket itself, whatever it is bound to; loopback keeps it
 *     unreachable from pods), also without SO_REUSEPORT;
 *   - once all of them listen, in the node's namespace, the router calls
 *     azds_dp_listeners_set(in.pin_dir, fds, N) with fds[i] = worker i's
 *     listener. TC then picks fds[hash(flow) % N] for each new connection;
 *     the accepted socket's local address is still the service's address.
 * Call it again after re-creating listeners; n = 0 unregisters them (TC then
 * looks up router_port). The sockets leave the map when they are closed.
 * Refuses (-EINVAL) a socket with SO_REUSEPORT set or not listening, and
 * n > AZDS_MAX_WORKERS (-E2BIG). Returns 0 or -errno.
 */
int azds_dp_listeners_set(const char *pin_dir, const int *fds, __u32 n);
/* Where tracefs is (the syscall tracepoints' ids), mounted at
 * /sys/kernel/tracing if it is not: 0, or -ENOENT. */
int azds_dp_tracefs(char *dir, size_t len);
/* whether this kernel loads and attaches fentry programs (the splice guard takes them then) */
bool azds_dp_fentry_ok(void);
/* Run azds_peer_queue (pinned as prog_peer_queue) for the pod socket with
 * key: what its redirected queue holds (dataplane.h); with stack, make the
 * flow stack-only first. 0 or -errno. */
int azds_dp_peer_queue(int prog_fd, const struct azds_sock_key *key, bool stack, struct azds_peer_q *q);

/*
 * The bound on a pod socket's redirected queue that a sender toward a pod
 * keeps (the router; dataplane.h): what may go before the pod is asked
 * again. Start with azds_pod_budget_init on a new connection; before a
 * send, azds_pod_budget_take says how many bytes may go now (0: wait, then
 * ask again), after it azds_pod_budget_sent counts what went.
 */
struct azds_pod_budget {
	__u32 bytes, msgs;
	bool unlimited; /* the router's socket never redirects: the stack bounds it */
	bool have_key;
	bool stack;      /* azds_pod_budget_stack: stack-only once the pod read its queue */
	struct azds_sock_key key; /* the pod socket's, once asked */
};

void azds_pod_budget_init(struct azds_pod_budget *b);
/*
 * From now on the flow goes through the TCP stack (a tunnel or an upgrade,
 * whose pod may read with splice, which never sees a redirected queue):
 * the next send waits until the pod has read what was redirected to it,
 * then nothing is redirected to it again.
 */
void azds_pod_budget_stack(struct azds_pod_budget *b);
/* 0 with *err set (-errno) when the question failed: wait as for 0 */
size_t azds_pod_budget_take(struct azds_pod_budget *b, int prog_fd, int sock_fd, size_t len, int *err);
void azds_pod_budget_sent(struct azds_pod_budget *b, size_t n);
/* The same with the router_socks and dp_config map fds (tests). */
int azds_dp_listeners_set_fd(int socks_fd, int config_fd, const int *fds, __u32 n);

/* A counter of the stats map (fd), summed over CPUs; 0 if unreadable. */
__u64 azds_dp_counter(int stats_fd, __u32 reason);

/* Names of the pinned maps and programs (NULL-terminated lists). */
extern const char *const azds_dp_map_names[];
extern const char *const azds_dp_prog_names[];

/* Reason names and texts, indexed by enum azds_reason. */
extern const char *const azds_reason_names[];
extern const char *const azds_reason_texts[];

#endif
