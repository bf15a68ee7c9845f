/* SPDX-License-Identifier: MIT */
/*
 * The local ingress's naming (docs/ingress.md): a request's Host, or the
 * forward preamble of `azds up`, names the service and the space that
 * serve it. Pure functions over the caller's bytes: no maps, no state.
 */
#ifndef AZDS_ROUTER_INGRESS_H
#define AZDS_ROUTER_INGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include "azds.h"

#define INGRESS_HOST_SUFFIX ".localhost" /* Dev Spaces' hostSuffix, local */
#define INGRESS_PREAMBLE "AZDS-FORWARD "
#define INGRESS_PREAMBLE_MAX 512 /* the whole line, CRLF included */
/* the forms a Host may take, for the 404 that refuses the others */
#define INGRESS_FORMS                                                                                              \
	"<service>.localhost (space default), <space>.<service>.localhost, <child>.s.<space>.<service>.localhost " \
	"(space <space>/<child>, routed as <child>; deeper: <grandchild>.<child>.s.<space>.<service>.localhost)"

struct ingress_target {
	char service[AZDS_NAME_MAX];
	char space[AZDS_PATH_MAX];    /* the full path: "dev/alice" */
	char route_as[AZDS_PATH_MAX]; /* the path below its root ("alice"), "" for a root space */
};

/*
 * A Host header's value -> target. The port is cut, case is ignored, one
 * trailing dot is tolerated:
 *   web.localhost               -> web in default
 *   dev.web.localhost           -> web in dev
 *   alice.s.dev.web.localhost   -> web in dev/alice, route-as alice
 *   x.alice.s.dev.web.localhost -> web in dev/alice/x, route-as alice/x
 * 0, or -EINVAL for a host of no such form (an address, "localhost" alone,
 * another domain, a label that is no name), -ENAMETOOLONG.
 */
int ingress_parse_host(const char *host, size_t len, struct ingress_target *t);

/*
 * The forward preamble, the first line of a connection:
 * "AZDS-FORWARD <service> <space-path>\r\n". Returns the line's length
 * when buf holds a valid one, 0 when buf may still become one (more bytes
 * needed), -EINVAL when it cannot (*why says what is wrong). Only called
 * on bytes that start with INGRESS_PREAMBLE (ingress_preamble_start).
 */
int ingress_parse_preamble(const char *buf, size_t len, struct ingress_target *t, const char **why);
/* 1: buf starts with the preamble's keyword, 0: it may (too short to
 * tell), -1: it does not */
int ingress_preamble_start(const char *buf, size_t len);

#endif
