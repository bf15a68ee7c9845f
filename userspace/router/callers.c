// SPDX-License-Identifier: MIT
/*
 * Client connections per caller address, shared by all workers, so that
 * one pod cannot take the whole connection budget (tunnels and upgrades
 * included: they are client connections like any other). Touched once at
 * accept and once at close; never on the request path.
 *
 * An open-addressed table of (address, count) with atomic slots. Slots are
 * claimed for good: the addresses a node sees are its pods' and a few
 * others, far fewer than the table holds. If it ever fills, a new address
 * is counted in one shared overflow slot, so the limit still holds for the
 * overflowed callers together rather than not at all.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include "router.h"

#define CALLER_SLOTS 65536 /* power of two */
#define CALLER_PROBES 64

struct caller_slot {
	_Atomic uint32_t addr; /* 0: free (0.0.0.0 never connects) */
	_Atomic unsigned count;
};

struct caller_table {
	struct caller_slot slot[CALLER_SLOTS];
	struct caller_slot overflow;
};

struct caller_table *callers_new(void)
{
	return calloc(1, sizeof(struct caller_table));
}

void callers_free(struct caller_table *t)
{
	free(t);
}

static struct caller_slot *lookup(struct caller_table *t, uint32_t addr, bool claim)
{
	uint32_t h = addr * 2654435761u;

	if (addr == 0)
		return &t->overflow;
	for (unsigned i = 0; i < CALLER_PROBES; i++) {
		struct caller_slot *s = &t->slot[(h + i) & (CALLER_SLOTS - 1)];
		uint32_t cur = atomic_load_explicit(&s->addr, memory_order_acquire);

		if (cur == addr)
			return s;
		if (cur == 0) {
			uint32_t zero = 0;

			if (!claim)
				return NULL;
			if (atomic_compare_exchange_strong(&s->addr, &zero, addr) || zero == addr)
				return s;
		}
	}
	return &t->overflow;
}

bool callers_get(struct caller_table *t, uint32_t addr, unsigned limit)
{
	struct caller_slot *s = lookup(t, addr, true);
	unsigned cur = atomic_load_explicit(&s->count, memory_order_relaxed);

	do {
		if (cur >= limit)
			return false;
	} while (!atomic_compare_exchange_weak(&s->count, &cur, cur + 1));
	return true;
}

void callers_put(struct caller_table *t, uint32_t addr)
{
	struct caller_slot *s = lookup(t, addr, false);

	if (s)
		atomic_fetch_sub_explicit(&s->count, 1, memory_order_relaxed);
}

unsigned callers_count(struct caller_table *t, uint32_t addr)
{
	struct caller_slot *s;

	if (!addr)
		return 0; /* no caller (a request's new upstream): holds nothing */
	s = lookup(t, addr, false);

	return s ? atomic_load_explicit(&s->count, memory_order_relaxed) : 0;
}
