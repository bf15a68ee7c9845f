/* SPDX-License-Identifier: MIT */
/*
 * The controller's trace reader (issue 9, docs/trace.md): one thread that
 * attaches the capture programs while tracing is on, reads their ring
 * buffer and the routers' decision rings, feeds the assembler
 * (userspace/trace) and keeps the last TRACER_KEEP requests for the API
 * (GET /v1/traces). The event loop only sets the switch and reads.
 */
#ifndef AZDS_TRACER_H
#define AZDS_TRACER_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "azds.h"
#include "../bpf/trace.h"

#define TRACER_KEEP 8192          /* requests kept for readers; older ones are missed */
#define TRACER_MAX_DECISION_FILES 8 /* routers at once (a handover has two) */

struct tracer;

/* the filters of GET /v1/traces; NULL or 0: any */
struct tracer_filter {
	const char *space;   /* a hop's caller space, serving space or asked space */
	const char *service; /* a hop's service or caller */
	int status_class;    /* 1..5 for "5xx" */
	int status;          /* an exact status */
	const char *method;
	bool show_query;
};

/* starts the thread; tracing starts off (tracer_set) */
int tracer_start(struct tracer **out, const struct azds_inst *in);
void tracer_stop(struct tracer *t);
/* on: capture attached (global switch on and some space captured); off:
 * the spaces (ids) whose pods are not captured (at most AZDS_TRACE_DEF_MAX_OFF) */
void tracer_set(struct tracer *t, bool on, const __u32 *off, unsigned noff);
/*
 * Requests after sequence number after (0: from the oldest kept), at most
 * limit, that match f: their JSON texts, comma separated, in *buf (malloc'd,
 * NULL when none; *len its length). Returns how many. *next: the sequence
 * number to ask after next time; *missed: requests that were past after but
 * are no longer kept (the reader was too slow).
 */
size_t tracer_query(struct tracer *t, uint64_t after, const struct tracer_filter *f, size_t limit, char **buf,
		    size_t *len, uint64_t *next, uint64_t *missed);
/* the last sequence number given out (a live reader starts after it) */
uint64_t tracer_head(struct tracer *t);
/* {"state","reason","attached","records","dropped","faults","decisions_missed","hops","requests",...} */
json_t *tracer_status(struct tracer *t);

#endif
