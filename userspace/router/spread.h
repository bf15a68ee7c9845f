/* SPDX-License-Identifier: MIT */
/* How many event loops take new connections (spread.c says how and why). */
#ifndef AZDS_ROUTER_SPREAD_H
#define AZDS_ROUTER_SPREAD_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "../../bpf/dataplane.h"

#define SPREAD_TICK_MS	   100
#define SPREAD_CALM_TICKS  10 /* a loop closes to new connections after this many calm ticks */
#define SPREAD_MAX_LOOPS   64 /* the router checks it covers ROUTER_MAX_WORKERS */

struct spread_policy {
	unsigned busy_pct; /* an open loop this busy (percent of a CPU) opens one more; 0: all open */
	unsigned idle_pct; /* ... while the router's CPUs have this much idle (percent of a CPU) */
	unsigned calm;     /* ticks in a row the load would have fitted in one loop fewer */
};

/* One tick's decision: the loops open to new connections, from active of
 * n, given each loop's business over the tick (fraction of a CPU) and the
 * idle CPUs. Pure: the unit test drives it. */
unsigned spread_decide(struct spread_policy *p, unsigned active, unsigned n, const double *busy, double idle_cpus);

struct spread {
	int fd;
	struct azds_spread *mem; /* the pinned map's value, mapped */
	unsigned n, active, most, changes;
	bool live;
	struct spread_policy pol;
	cpu_set_t cpus;
	long hz;
	clockid_t clk[SPREAD_MAX_LOOPS];
	uint64_t last_cpu[SPREAD_MAX_LOOPS];
	uint64_t last_wall, last_idle;
};

/* Map router_spread of the instance and publish the first value (1, or n
 * with busy_pct 0). -errno when the data plane has no such map. */
int spread_open(struct spread *s, const char *pin_dir, unsigned n, unsigned busy_pct, unsigned idle_pct);
/* once the workers run: their CPU clocks */
void spread_start(struct spread *s, const pthread_t *threads);
/* every SPREAD_TICK_MS or so, from the main thread */
void spread_tick(struct spread *s);
void spread_close(struct spread *s);

#endif
