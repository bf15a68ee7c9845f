// SPDX-License-Identifier: MIT
/*
 * bench_store [dir]: how fast the store writes and reads the benchmark's
 * shape (1,000 spaces x 20 services). Prints numbers; it is not a test.
 * dir defaults to /tmp/azds-bench-store-<pid> and is removed at the end
 * (put it on the disk the controller uses: fsync costs differ).
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define SPACES 1000
#define SERVICES 20

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU time: the figure that does not depend on what else the machine runs. */
static double cpu_s(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void die(struct store *s, const char *what, int err)
{
	fprintf(stderr, "bench_store: %s: %s: %s\n", what, strerror(-err), store_errmsg(s));
	exit(1);
}

/* Space <prefix><i> with SERVICES services. */
static void put_space(struct store *s, const char *prefix, int i)
{
	struct st_service v;
	int err;

	memset(&v, 0, sizeof(v));
	snprintf(v.space, sizeof(v.space), "%s%d", prefix, i);
	err = store_space_add(s, v.space, NULL);
	if (err)
		die(s, "space_add", err);
	v.kind = ST_KIND_HTTP;
	v.target_port = 8080;
	for (int j = 0; j < SERVICES; j++) {
		snprintf(v.name, sizeof(v.name), "svc-%d", j);
		v.port = (uint16_t)(80 + j);
		err = store_service_put(s, &v);
		if (err)
			die(s, "service_put", err);
	}
}

static int count_svc(void *ctx, const struct st_service *v)
{
	(void)v;
	++*(int *)ctx;
	return 0;
}

static int count_space(void *ctx, const struct st_space *sp)
{
	(void)sp;
	++*(int *)ctx;
	return 0;
}

int main(int argc, char **argv)
{
	char dir[256];
	struct store *s;
	double t, c;
	int err, n = 0;

	if (argc > 1)
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	else
		snprintf(dir, sizeof(dir), "/tmp/azds-bench-store-%d", (int)getpid());
	err = store_open(&s, dir);
	if (err)
		die(NULL, "store_open", err);

	/* One transaction: 1,000 spaces (with their 2,000 labels) and 20,000 services. */
	t = now_s();
	c = cpu_s();
	if ((err = store_begin(s)))
		die(s, "begin", err);
	for (int i = 0; i < SPACES; i++)
		put_space(s, "one-", i);
	if ((err = store_commit(s)))
		die(s, "commit", err);
	t = now_s() - t;
	c = cpu_s() - c;
	printf("one transaction, %d spaces + %d services: %.1f ms, %.1f ms CPU (%.2f us per service)\n", SPACES,
	       SPACES * SERVICES, t * 1e3, c * 1e3, t * 1e6 / (SPACES * SERVICES));

	/* The benchmark's shape: one transaction (and one fsync) per space. */
	t = now_s();
	c = cpu_s();
	for (int i = 0; i < SPACES; i++) {
		if ((err = store_begin(s)))
			die(s, "begin", err);
		put_space(s, "many-", i);
		if ((err = store_commit(s)))
			die(s, "commit", err);
	}
	t = now_s() - t;
	c = cpu_s() - c;
	printf("%d transactions of 1 space + %d services: %.1f ms, %.1f ms CPU (%.2f ms per commit)\n", SPACES,
	       SERVICES, t * 1e3, c * 1e3, t * 1e3 / SPACES);

	t = now_s();
	if ((err = store_space_each(s, count_space, &n)))
		die(s, "space_each", err);
	if ((err = store_service_each(s, NULL, count_svc, &n)))
		die(s, "service_each", err);
	t = now_s() - t;
	printf("walk of %d spaces and services: %.1f ms\n", n, t * 1e3);

	store_close(s);
	t = now_s();
	if ((err = store_open(&s, dir)))
		die(NULL, "store_open", err);
	t = now_s() - t;
	printf("reopen: %.2f ms\n", t * 1e3);
	store_close(s);
	if (argc <= 1)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
