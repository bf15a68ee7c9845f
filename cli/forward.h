/* SPDX-License-Identifier: MIT */
/*
 * azds up's forward (docs/ingress.md): http://localhost:<port> on this
 * machine, relayed to the instance's local ingress. Each connection opens
 * with the preamble "AZDS-FORWARD <service> <space>", so it is served by
 * the service in that space (the router adds the route-as of a child
 * space to every request, as the host name <child>.s.<space>.<service>.localhost
 * would). The bytes are relayed as they come, never parsed: HTTP,
 * websockets, h2c and a TCP service's own protocol alike.
 */
#ifndef AZDS_CLI_FORWARD_H
#define AZDS_CLI_FORWARD_H

#define AZDS_FORWARD_MAX_CONNS 256 /* relayed connections at once; more are closed */

/*
 * Start the forward and return: it runs in threads of its own until the
 * process exits. It listens on 127.0.0.1:*port_out (0 on entry: a free
 * port) and sets *port_out to the port it got. instance: the instance
 * whose controller says where the ingress is (GET /v1/status, "ingress");
 * NULL: the CLI's (-i). 0, or -errno with the reason printed once on
 * stderr: -EINVAL (a bad name), -ENOTCONN (the instance has no ingress),
 * -EADDRINUSE (the port asked for is taken), or what reaching the
 * controller failed with.
 */
int azds_forward_start(const char *instance, const char *service, const char *space, int *port_out);

#endif
