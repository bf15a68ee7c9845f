// SPDX-License-Identifier: MIT
/*
 * The assembler's life: limits, tables, time, flush, counters. It has no
 * clock of its own: records' times and azds_trace_asm_tick drive it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "asm_int.h"

static void limits(struct azds_trace_limits *l, const struct azds_trace_limits *in)
{
	*l = (struct azds_trace_limits){.max_conns = 65536,
					.max_pending = 64,
					.max_hops = 65536,
					.join_window_ns = 2000000000ull,
					.hop_timeout_ns = 60000000000ull};
	if (!in)
		return;
	if (in->max_conns)
		l->max_conns = in->max_conns;
	if (in->max_pending)
		l->max_pending = in->max_pending;
	if (in->max_hops)
		l->max_hops = in->max_hops;
	if (in->join_window_ns)
		l->join_window_ns = in->join_window_ns;
	if (in->hop_timeout_ns)
		l->hop_timeout_ns = in->hop_timeout_ns;
}

struct azds_trace_asm *azds_trace_asm_new(const struct azds_trace_model *m, const struct azds_trace_limits *lim,
					  azds_trace_emit_fn emit, void *emit_ctx)
{
	struct azds_trace_asm *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	if (m)
		a->m = *m;
	limits(&a->lim, lim);
	a->emit = emit;
	a->emit_ctx = emit_ctx;
	/* own trace ids: a random base, so two assemblers (restarts) do not repeat each other */
	if (getrandom(&a->tid_seed, sizeof(a->tid_seed), GRND_NONBLOCK) != sizeof(a->tid_seed))
		a->tid_seed = (__u64)(uintptr_t)a * 0x9e3779b97f4a7c15ULL;
	a->out = calloc(AZDS_TRACE_HOPS_MAX, sizeof(*a->out));
	a->out_src = calloc(AZDS_TRACE_HOPS_MAX, sizeof(*a->out_src));
	a->order = calloc(a->lim.max_hops, sizeof(*a->order));
	if (!a->out || !a->out_src || !a->order || azds_tr_conns_init(a) < 0 || azds_tr_join_init(a) < 0) {
		azds_trace_asm_free(a);
		return NULL;
	}
	return a;
}

void azds_trace_asm_free(struct azds_trace_asm *a)
{
	if (!a)
		return;
	if (a->cookie_b)
		azds_tr_conns_fini(a);
	azds_tr_join_fini(a);
	azds_tr_kept_fini(a);
	free(a->out);
	free(a->out_src);
	free(a->order);
	free(a->pack);
	free(a);
}

void azds_trace_asm_set_packed(struct azds_trace_asm *a, azds_trace_emit_packed_fn fn, void *ctx)
{
	a->emit_packed = fn;
	a->emit_packed_ctx = ctx;
}

void azds_trace_asm_tick(struct azds_trace_asm *a, __u64 now_ns)
{
	if (now_ns > a->now)
		a->now = now_ns;
	azds_tr_run(a, false);
}

void azds_trace_asm_flush(struct azds_trace_asm *a)
{
	azds_tr_run(a, true);
	azds_tr_ghost_prune(a, true);
}

void azds_trace_asm_stats(const struct azds_trace_asm *a, struct azds_trace_stats *out)
{
	*out = a->st;
}
