// SPDX-License-Identifier: MIT
/* azds events: the data plane's connection events, from now on. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "client.h"
#include "maps.h"
#include "verbs.h"

struct events {
	const struct azds_maps *m;
	__u64 since_ns; /* CLOCK_MONOTONIC, as bpf_ktime_get_ns stamps events */
	long left;      /* events still to print; 0: no limit */
};

/* the callback's way to tell ring_buffer__poll to stop at this record */
#define EVENTS_DONE (-ECANCELED)

static int on_event(void *ctx, void *data, size_t len)
{
	static const char *const names[] = { "?", "balanced", "no_backend", "steered", "router_down", "established" };
	const struct azds_event *ev = data;
	struct events *st = ctx;
	char src[16], dst[16], nd[16];

	/* The ring buffer keeps what no reader consumed, from before this
	 * command started (even from before the last reader): skip it. */
	if (len < sizeof(*ev) || ev->ts_ns < st->since_ns)
		return 0;
	inet_ntop(AF_INET, &ev->src, src, sizeof(src));
	inet_ntop(AF_INET, &ev->dst, dst, sizeof(dst));
	inet_ntop(AF_INET, &ev->new_dst, nd, sizeof(nd));
	printf("%-12s %s -> %s:%u space=%s", ev->type < 6 ? names[ev->type] : "?", src, dst, ntohs(ev->dport),
	       cli_space_path(st->m, ev->space));
	if (ev->type == AZDS_EV_BALANCED)
		printf(" backend=%s:%u in %s", nd, ntohs(ev->new_dport), cli_space_path(st->m, ev->target_space));
	printf("\n");
	fflush(stdout);
	/* a negative return stops the poll after this record: libbpf
	 * advances the consumer past it and leaves the rest unread */
	if (st->left > 0 && --st->left == 0)
		return EVENTS_DONE;
	return 0;
}

static void on_sig(int s)
{
	(void)s;
	cli_interrupted = 1;
}

static int stream(struct events *st)
{
	struct ring_buffer *rb = ring_buffer__new(st->m->events, on_event, st, NULL);
	int err = 0;

	if (!rb)
		return fail("cannot open the event ring buffer: %s", strerror(errno));
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	/* what a test or a script waits for before it makes traffic */
	fprintf(stderr, "azds: waiting for events\n");
	while (!cli_interrupted) {
		err = ring_buffer__poll(rb, 200);
		if (err == EVENTS_DONE || (err < 0 && err != -EINTR))
			break;
		err = 0;
	}
	ring_buffer__free(rb);
	if (err < 0 && err != EVENTS_DONE)
		return fail("reading events: %s", strerror(-err));
	return 0;
}

/* the daemon owns the switches while it runs; without it, the one-shot tool does */
static void switch_off_hint(void)
{
	char cmd[80];

	if (access(api_socket(), F_OK) == 0)
		snprintf(cmd, sizeof(cmd), "azds%s controller set events on", instance_flag());
	else
		snprintf(cmd, sizeof(cmd), "azds-controller -i %s set events on", cli_instance);
	fprintf(stderr, "azds: the events switch is off: nothing is published ('%s')\n", cmd);
}

VERB(cmd_events)
{
	unsigned long count = 0;
	const struct opt o[] = {
		OPT_N("count", 'n', &count, "COUNT", "exit after COUNT events", 1, 1000000000),
		OPT_END,
	};
	struct events st = { 0 };
	struct azds_config cfg;
	struct azds_maps m;
	struct timespec now;
	struct args a;
	int r = opts_parse(v, o, argc, argv, &a);

	if (r)
		return opts_exit(r);
	args_free(&a);
	if (cli_maps_open(&m))
		return EXIT_FAIL;
	st.m = &m;
	st.left = (long)count;
	if (azds_config_get(&m, &cfg) == 0 && !(cfg.flags & AZDS_CFG_EVENTS))
		switch_off_hint();
	clock_gettime(CLOCK_MONOTONIC, &now);
	st.since_ns = (__u64)now.tv_sec * 1000000000ull + (__u64)now.tv_nsec;
	r = stream(&st);
	azds_maps_close(&m);
	return r;
}
