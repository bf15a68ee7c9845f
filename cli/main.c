// SPDX-License-Identifier: MIT
/*
 * azds: the developer's CLI. This first cut reads the node directly; the
 * verbs that need the controller's API (prep, up, down, logs, trace) are
 * listed so the shape is visible, and say plainly that they are not there yet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "azds.h"

static const char *instance;
static struct azds_inst in;
static struct azds_maps m;
static bool maps_open;
static volatile sig_atomic_t stop;

/* the instance's pinned maps, for the commands that read them */
static int open_maps(void)
{
	struct azds_err e;

	if (azds_inst_init(&in, instance, &e) || azds_maps_open(&in, &m, &e)) {
		fprintf(stderr, "azds: %s\n", e.msg);
		return -1;
	}
	maps_open = true;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: azds [-i INSTANCE] COMMAND\n\n"
		   "  space list            spaces of the node, with their parents\n"
		   "  list-uris             every service address and the spaces that serve it\n"
		   "  events [-n COUNT]     data-plane connection events that happen from now on\n"
		   "                        (the ring buffer's older backlog is skipped); with -n,\n"
		   "                        exit after COUNT of them\n"
		   "  bench [OPTIONS]       the data-plane benchmark (builds its own topology;\n"
		   "                        'azds bench --help' lists its options)\n"
		   "  prep, up, down, list-up, logs, trace\n"
		   "                        not available yet in this build\n");
}

static const char *space_path(__u32 id)
{
	static struct azds_space sp;

	if (!id || bpf_map_lookup_elem(m.spaces, &id, &sp))
		return "-";
	return sp.path;
}

static int cmd_space_list(int argc, char **argv)
{
	struct azds_space sp;

	(void)argc;
	(void)argv;
	if (open_maps())
		return 1;
	printf("%-32s %s\n", "SPACE", "PARENT");
	for (__u32 id = azds_space_next(&m, 0, &sp); id; id = azds_space_next(&m, id, &sp))
		printf("%-32s %s\n", sp.path, sp.parent ? space_path(sp.parent) : "-");
	return 0;
}

static int cmd_list_uris(int argc, char **argv)
{
	struct azds_vip_key k, n;
	struct azds_vip v;
	void *cur = NULL;

	(void)argc;
	(void)argv;
	if (open_maps())
		return 1;
	printf("%-16s %-22s %s\n", "SERVICE", "URI", "KIND");
	while (bpf_map_get_next_key(m.vips, cur, &n) == 0) {
		char a[16];

		k = n;
		cur = &k;
		if (bpf_map_lookup_elem(m.vips, &k, &v))
			continue;
		inet_ntop(AF_INET, &k.addr, a, sizeof(a));
		printf("%-16s %s://%s:%-5u %s\n", v.name, v.kind == AZDS_KIND_HTTP ? "http" : "tcp", a, ntohs(k.port),
		       v.kind == AZDS_KIND_HTTP ? "http" : "tcp");
	}
	return 0;
}

/* ---- events ------------------------------------------------------------- */

struct events {
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
	       space_path(ev->space));
	if (ev->type == AZDS_EV_BALANCED)
		printf(" backend=%s:%u in %s", nd, ntohs(ev->new_dport), space_path(ev->target_space));
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
	stop = 1;
}

static int cmd_events(int argc, char **argv)
{
	struct events st = { 0 };
	struct azds_config cfg;
	struct ring_buffer *rb;
	struct timespec now;
	int err = 0;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "-n") || i + 1 >= argc) {
			fprintf(stderr, "azds: usage: events [-n COUNT]\n");
			return 2;
		}
		errno = 0;
		st.left = strtol(argv[++i], &end, 10);
		if (errno || *end || end == argv[i] || st.left < 1) {
			fprintf(stderr, "azds: events -n \"%s\": must be a whole number >= 1\n", argv[i]);
			return 2;
		}
	}
	if (open_maps())
		return 1;
	if (azds_config_get(&m, &cfg) == 0 && !(cfg.flags & AZDS_CFG_EVENTS))
		fprintf(stderr, "azds: the events switch is off: nothing is published ('azds-controller -i %s set events on')\n",
			in.name);
	clock_gettime(CLOCK_MONOTONIC, &now);
	st.since_ns = (__u64)now.tv_sec * 1000000000ull + (__u64)now.tv_nsec;
	rb = ring_buffer__new(m.events, on_event, &st, NULL);
	if (!rb) {
		fprintf(stderr, "azds: cannot open the event ring buffer: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	/* what a test or a script waits for before it makes traffic */
	fprintf(stderr, "azds: waiting for events\n");
	while (!stop) {
		err = ring_buffer__poll(rb, 200);
		if (err == EVENTS_DONE || (err < 0 && err != -EINTR))
			break;
		err = 0;
	}
	ring_buffer__free(rb);
	if (err < 0 && err != EVENTS_DONE) {
		fprintf(stderr, "azds: reading events: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}

/* ---- bench -------------------------------------------------------------- */

/* azds bench: the benchmark lives in bench/bench.sh next to the build */
static int run_bench(int argc, char **argv)
{
	char exe[PATH_MAX], script[PATH_MAX + 64], *slash;
	char *args[64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int k = 0;

	if (n <= 0)
		return 1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	/* build tree: build/bin/azds -> bench/bench.sh; installed: share/azds */
	snprintf(script, sizeof(script), "%s/../../bench/bench.sh", exe);
	if (access(script, X_OK))
		snprintf(script, sizeof(script), "%s/../share/azds/bench.sh", exe);
#ifdef AZDS_SOURCE_BENCH
	/* a build directory outside the source tree */
	if (access(script, X_OK))
		snprintf(script, sizeof(script), "%s", AZDS_SOURCE_BENCH);
#endif
	if (access(script, X_OK)) {
		fprintf(stderr, "azds: bench script not found next to %s\n", exe);
		return 1;
	}
	args[k++] = "bash";
	args[k++] = script;
	args[k++] = "--bin";
	args[k++] = exe;
	for (int i = 1; i < argc && k < 63; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	execvp("bash", args);
	perror("azds: exec bash");
	return 1;
}

/* ---- commands ------------------------------------------------------------- */

/*
 * Object and verb, matched exactly. The handler gets argv from the last
 * command word on; max_args bounds what may follow (-1: the handler checks).
 */
struct cmd {
	const char *obj, *verb; /* verb NULL: the object alone is the command */
	int (*run)(int argc, char **argv);
	int max_args;
};

static const struct cmd cmds[] = {
	{ "space", "list", cmd_space_list, 0 },
	{ "list-uris", NULL, cmd_list_uris, 0 },
	{ "events", NULL, cmd_events, -1 },
	{ "bench", NULL, run_bench, -1 },
};

static const char *const later[] = { "prep", "up", "down", "list-up", "logs", "trace" };

int main(int argc, char **argv)
{
	const struct cmd *c = NULL;
	int i = 1, words, rc;

	instance = getenv("AZDS_INSTANCE");

	if (i + 1 < argc && (!strcmp(argv[i], "-i") || !strcmp(argv[i], "--instance"))) {
		instance = argv[i + 1];
		i += 2;
	}
	if (i >= argc || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]) && !c; k++)
		if (!strcmp(argv[i], cmds[k].obj) && (!cmds[k].verb || (i + 1 < argc && !strcmp(argv[i + 1], cmds[k].verb))))
			c = &cmds[k];
	if (!c) {
		for (size_t k = 0; k < sizeof(later) / sizeof(later[0]); k++)
			if (!strcmp(argv[i], later[k])) {
				fprintf(stderr, "azds: \"%s\" is not available yet in this build (see --help)\n", argv[i]);
				return 2;
			}
		fprintf(stderr, "azds: unknown command \"%s\" (see --help)\n", argv[i]);
		return 2;
	}
	words = c->verb ? 2 : 1;
	if (c->max_args >= 0 && argc - i - words > c->max_args) {
		fprintf(stderr, "azds: %s%s%s: unexpected argument \"%s\" (see --help)\n", c->obj, c->verb ? " " : "",
			c->verb ? c->verb : "", argv[i + words]);
		return 2;
	}
	rc = c->run(argc - i - words + 1, argv + i + words - 1);
	if (maps_open)
		azds_maps_close(&m);
	return rc;
}
