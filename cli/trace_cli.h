/* SPDX-License-Identifier: MIT */
/* Reading /v1/traces, shared by azds trace and azds up (its interleaved traces). */
#ifndef AZDS_CLI_TRACE_H
#define AZDS_CLI_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

struct trace_filter {
	const char *space, *service, *status, *method;
	bool show_query;
};

struct trace_follow {
	uint64_t after;                 /* the last sequence number seen */
	uint64_t shown, missed;         /* requests shown; missed by falling behind */
	uint64_t dropped0, dropped;     /* the kernel's lost records: at start, last seen */
	uint64_t dec_missed0, dec_missed;
	uint64_t pauses;                /* the controller's count of capture pauses, last seen */
	bool said_state;
};

/* from now on; 0 or -EIO (the error printed) */
int trace_follow_init(struct trace_follow *tf);
/* one answer (wait: up to 10 s for something new); calls each per request;
 * returns how many, or -errno (printed) */
int trace_follow_poll(struct trace_follow *tf, const struct trace_filter *flt, bool wait,
		      void (*each)(void *ctx, const json_t *req), void *ctx);
/* a request's hops, one line each ("12:00:01.123  dev/alice  web -> api@dev/alice (own)  GET /  200  3.1 ms") */
void trace_print_req(FILE *f, const json_t *req, const char *prefix);

#endif
