// SPDX-License-Identifier: MIT
/*
 * How many event loops take new connections (router_spread, read by TC).
 *
 * Every loop has its own listener; TC hashes a new connection's SYN over
 * the first `active` of them. A loop per CPU pays only where a CPU is
 * free for it: on a node whose CPUs the router shares with its pods (two
 * vCPUs with the load and the backends, as on our bench machine), two
 * loops served a quarter less than one, from more wake-ups and smaller
 * batches. So new connections are packed onto loop 0 while it keeps up,
 * and one more loop is opened to them only while an open loop is busy
 * (--spread-busy, percent of a CPU) and the node has CPU to spare
 * (--spread-idle, percent of a CPU idle). A loop is closed to new
 * connections again once the router's whole load would fit in one loop
 * fewer at half that business, for a second. Connections stay on the
 * loop that accepted them. --spread-busy 0 opens every loop at once (the
 * flow hash over all, as before).
 *
 * The main thread runs this every SPREAD_TICK_MS, off the request path:
 * it reads each worker thread's CPU clock and /proc/stat. Nothing here
 * runs in a worker.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "spread.h"

unsigned spread_decide(struct spread_policy *p, unsigned active, unsigned n, const double *busy, double idle_cpus)
{
	double hi = p->busy_pct / 100.0, total = 0, max_open = 0;

	if (n <= 1)
		return n ? 1 : 0;
	if (p->busy_pct == 0)
		return n;
	if (active < 1)
		active = 1;
	if (active > n)
		active = n;
	for (unsigned i = 0; i < n; i++) {
		total += busy[i];
		if (i < active && busy[i] > max_open)
			max_open = busy[i];
	}
	if (active < n && max_open >= hi && idle_cpus >= p->idle_pct / 100.0) {
		p->calm = 0;
		return active + 1;
	}
	if (active > 1 && total < hi / 2 * (active - 1)) {
		if (++p->calm >= SPREAD_CALM_TICKS) {
			p->calm = 0;
			return active - 1;
		}
		return active;
	}
	p->calm = 0;
	return active;
}

/* idle (idle + iowait) jiffies of the CPUs we may run on */
static int idle_jiffies(const cpu_set_t *cpus, uint64_t *out)
{
	char line[512];
	uint64_t sum = 0;
	FILE *f = fopen("/proc/stat", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned cpu;
		uint64_t v[5];

		if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9')
			continue;
		if (sscanf(line + 3, "%u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &cpu, &v[0], &v[1],
			   &v[2], &v[3], &v[4]) != 6)
			continue;
		if (cpu < CPU_SETSIZE && CPU_ISSET(cpu, cpus))
			sum += v[3] + v[4];
	}
	fclose(f);
	*out = sum;
	return 0;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	if (clock_gettime(c, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void publish(struct spread *s)
{
	if (s->mem)
		__atomic_store_n(&s->mem->active, s->active, __ATOMIC_RELEASE);
}

int spread_open(struct spread *s, const char *pin_dir, unsigned n, unsigned busy_pct, unsigned idle_pct)
{
	char path[512];
	long page = sysconf(_SC_PAGESIZE);
	void *m;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->n = n;
	s->pol.busy_pct = busy_pct;
	s->pol.idle_pct = idle_pct;
	s->active = busy_pct == 0 || n <= 1 ? n : 1;
	s->most = s->active;
	snprintf(path, sizeof(path), "%s/router_spread", pin_dir);
	s->fd = bpf_obj_get(path);
	if (s->fd < 0)
		return -errno;
	m = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (m == MAP_FAILED) {
		int err = -errno;
		struct azds_spread all = { .active = 0 };
		__u32 zero = 0;

		/* not the last router's value: every loop takes new connections */
		bpf_map_update_elem(s->fd, &zero, &all, BPF_ANY);
		close(s->fd);
		s->fd = -1;
		return err;
	}
	s->mem = m;
	publish(s);
	if (sched_getaffinity(0, sizeof(s->cpus), &s->cpus))
		CPU_ZERO(&s->cpus);
	s->hz = sysconf(_SC_CLK_TCK);
	if (s->hz <= 0)
		s->hz = 100;
	return 0;
}

void spread_start(struct spread *s, const pthread_t *threads)
{
	if (!s->mem || s->n <= 1 || s->pol.busy_pct == 0)
		return;
	for (unsigned i = 0; i < s->n && i < SPREAD_MAX_LOOPS; i++) {
		if (pthread_getcpuclockid(threads[i], &s->clk[i]))
			goto all; /* no clock to decide by */
		s->last_cpu[i] = clock_ns(s->clk[i]);
	}
	s->last_wall = clock_ns(CLOCK_MONOTONIC);
	if (idle_jiffies(&s->cpus, &s->last_idle))
		goto all;
	s->live = true;
	return;
all:
	/* nothing to decide by: every loop takes new connections, rather than
	 * loop 0 alone for the router's whole life */
	s->active = s->most = s->n;
	publish(s);
}

void spread_tick(struct spread *s)
{
	double busy[SPREAD_MAX_LOOPS], idle_cpus, secs;
	uint64_t now, idle, cpu;
	unsigned next;

	if (!s->mem)
		return;
	if (!s->live) {
		publish(s); /* a fixed count (--spread-busy 0, one loop): said again all the same */
		return;
	}
	now = clock_ns(CLOCK_MONOTONIC);
	if (now - s->last_wall < SPREAD_TICK_MS * 1000000ull / 2)
		return;
	if (idle_jiffies(&s->cpus, &idle))
		return;
	secs = (double)(now - s->last_wall) / 1e9;
	for (unsigned i = 0; i < s->n && i < SPREAD_MAX_LOOPS; i++) {
		cpu = clock_ns(s->clk[i]);
		busy[i] = cpu > s->last_cpu[i] ? (double)(cpu - s->last_cpu[i]) / 1e9 / secs : 0;
		s->last_cpu[i] = cpu;
	}
	idle_cpus = idle > s->last_idle ? (double)(idle - s->last_idle) / (double)s->hz / secs : 0;
	s->last_idle = idle;
	s->last_wall = now;
	next = spread_decide(&s->pol, s->active, s->n < SPREAD_MAX_LOOPS ? s->n : SPREAD_MAX_LOOPS, busy, idle_cpus);
	if (next != s->active) {
		s->active = next;
		s->changes++;
		if (next > s->most)
			s->most = next;
	}
	/* every tick, not only on a change: during a handover the router
	 * going away may write after this one started, and the map must
	 * say this router's count again within a tick */
	publish(s);
}

void spread_close(struct spread *s)
{
	if (s->mem)
		munmap((void *)s->mem, (size_t)sysconf(_SC_PAGESIZE));
	if (s->fd >= 0)
		close(s->fd);
	s->mem = NULL;
	s->fd = -1;
	s->live = false;
}
