/* SPDX-License-Identifier: MIT */
/*
 * The router's worker listeners, made where TC can steer to them.
 *
 * Before 6.5, bpf_sk_assign refuses a socket of a SO_REUSEPORT group, so
 * the N workers cannot share one reuseport port. Worker 0 listens on
 * 0.0.0.0:port (what TC falls back to when none is registered, and what
 * readiness checks see), workers 1..N-1 on 127.0.0.1:0 (loopback: no pod
 * reaches them directly); all with IP_TRANSPARENT so an accepted socket's
 * local address is the service's. TC picks fds[hash(flow) % N] once they
 * are registered (azds_dp_listeners_set).
 *
 * An accepted socket belongs to its listener's cgroup (sockops admits
 * sockets by cgroup), so the listeners are made in the instance's _router
 * cgroup and the node's network namespace.
 */
#ifndef AZDS_LISTENERS_H
#define AZDS_LISTENERS_H

#include "azds.h"

#define AZDS_LISTEN_BACKLOG 4096
/* behind iptables REDIRECT (the benchmark's sidecar baseline): every
 * worker on port, one SO_REUSEPORT group when n > 1, not transparent */
#define AZDS_LISTEN_REDIRECT 1u

/* n listeners in the calling thread's namespace and cgroup, not
 * registered; non-blocking, close-on-exec. Returns 0 or -errno. */
int azds_router_listeners_make(unsigned n, unsigned port, unsigned flags, int *fds);
/* n listeners in in's node namespace and _router cgroup (a helper process
 * makes them when the caller is elsewhere), registered with the data
 * plane. Returns 0 or -errno. */
int azds_router_listeners_open(const struct azds_inst *in, unsigned n, unsigned port, int *fds);
/* Unregister them (TC falls back to the router port) and close them. */
void azds_router_listeners_close(const struct azds_inst *in, int *fds, unsigned n);

/*
 * The node's local ingress (docs/ingress.md): a plain listener on
 * addr:port (IPv4) in the calling thread's network namespace, the host's,
 * where the developer's browser is. Not transparent, never registered with
 * TC: the router serves it as one more listener of every worker.
 * Non-blocking, close-on-exec. The fd, or -errno (-EADDRINUSE: taken,
 * -EINVAL: addr is no IPv4 address or port is 0).
 */
#define AZDS_INGRESS_PORT_DEFAULT 15080
int azds_ingress_listen(const char *addr, unsigned port);
/* Is fd a socket of the calling thread's network namespace? (how the
 * ingress is told from the node's worker listeners among inherited fds) */
bool azds_sock_here(int fd);
/* The port fd is bound to, 0 if none or not IPv4. */
unsigned azds_sock_port(int fd);

#endif
