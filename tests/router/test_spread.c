// SPDX-License-Identifier: MIT
/*
 * The router's spread policy (userspace/router/spread.c): which event
 * loops TC gives new connections to, tick by tick, from each loop's
 * business and the idle CPU.
 */
#include <stdio.h>

#include "spread.h"

static int failed;

#define CHECK_U(got, want)                                                                                             \
	do {                                                                                                           \
		unsigned g_ = (got), w_ = (want);                                                                      \
		if (g_ != w_) {                                                                                        \
			fprintf(stderr, "%s:%d: %s is %u, want %u\n", __FILE__, __LINE__, #got, g_, w_);               \
			failed++;                                                                                      \
		}                                                                                                      \
	} while (0)

int main(void)
{
	struct spread_policy p = { .busy_pct = 70, .idle_pct = 70 };
	double idle2[2] = { 0.05, 0 }, busy0[2] = { 0.9, 0 }, both[4] = { 0.95, 0.9, 0.1, 0 };
	double calm[4] = { 0.2, 0.05, 0.05, 0 }, one[1] = { 1.0 }, fits[2] = { 0.3, 0.0 };
	unsigned a;

	/* one loop, or none: nothing to decide */
	CHECK_U(spread_decide(&p, 1, 1, one, 1.0), 1);
	/* an idle router stays packed on loop 0 */
	CHECK_U(spread_decide(&p, 1, 2, idle2, 1.9), 1);
	/* loop 0 busy but no CPU to spare (the generator and the backends
	 * have the rest): a second loop would only cost, stays at 1 */
	CHECK_U(spread_decide(&p, 1, 2, busy0, 0.3), 1);
	/* loop 0 busy and a CPU idle: one more loop opens */
	CHECK_U(spread_decide(&p, 1, 2, busy0, 1.0), 2);
	/* never past n */
	CHECK_U(spread_decide(&p, 2, 2, busy0, 1.0), 2);
	/* one loop a tick, while the open ones are busy and CPUs idle */
	CHECK_U(spread_decide(&p, 2, 4, both, 2.0), 3);
	/* a busy loop beyond the open ones (old connections) opens nothing */
	{
		double late[4] = { 0.1, 0.1, 0.95, 0 };

		CHECK_U(spread_decide(&p, 2, 4, late, 2.0), 2);
	}
	/* calm: the load (0.3 of a CPU) fits in one loop fewer at half the
	 * threshold (0.35), so after SPREAD_CALM_TICKS ticks one loop closes */
	p.calm = 0;
	a = 2;
	for (int i = 0; i < SPREAD_CALM_TICKS - 1; i++)
		a = spread_decide(&p, a, 2, fits, 1.5);
	CHECK_U(a, 2);
	a = spread_decide(&p, a, 2, fits, 1.5);
	CHECK_U(a, 1);
	/* a busy tick in between starts the count again */
	p.calm = 0;
	a = 3;
	for (int i = 0; i < SPREAD_CALM_TICKS - 1; i++)
		a = spread_decide(&p, a, 4, calm, 3.0);
	{
		double busy3[4] = { 0.5, 0.5, 0.5, 0 };

		a = spread_decide(&p, a, 4, busy3, 3.0); /* 1.5 >= 0.35 * 2 */
	}
	CHECK_U(a, 3);
	a = spread_decide(&p, a, 4, calm, 3.0);
	CHECK_U(a, 3);
	/* --spread-busy 0: every loop open, whatever the load */
	{
		struct spread_policy all = { .busy_pct = 0, .idle_pct = 70 };

		CHECK_U(spread_decide(&all, 1, 4, calm, 0), 4);
	}
	/* --spread-busy 101: never more than loop 0 */
	{
		struct spread_policy never = { .busy_pct = 101, .idle_pct = 0 };
		double flat[2] = { 1.0, 1.0 };

		CHECK_U(spread_decide(&never, 1, 2, flat, 2.0), 1);
	}
	/* out-of-range input is clamped */
	CHECK_U(spread_decide(&p, 0, 2, idle2, 0), 1);
	CHECK_U(spread_decide(&p, 9, 2, busy0, 0), 2);
	if (failed) {
		fprintf(stderr, "%d checks failed\n", failed);
		return 1;
	}
	printf("spread: all checks passed\n");
	return 0;
}
