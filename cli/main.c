// SPDX-License-Identifier: MIT
/*
 * azds: the developer's CLI. This first cut reads the node directly; the
 * verbs that need the controller's API (prep, up, down, logs, trace) are
 * listed so the shape is visible, and say plainly that they are not there yet.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "azds.h"

static struct azds_inst in;
static struct azds_maps m;
static volatile int stop;

static void usage(FILE *f)
{
	fprintf(f, "usage: azds [-i INSTANCE] COMMAND\n\n"
		   "  space list            spaces of the node, with their parents\n"
		   "  list-uris             every service address and the spaces that serve it\n"
		   "  events [-n COUNT]     stream data-plane connection events (ring buffer)\n"
		   "  bench [--quick] [-o json] [--plot FILE.png]\n"
		   "                        the data-plane benchmark (builds its own topology)\n"
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

static int on_event(void *ctx, void *data, size_t len)
{
	const struct azds_event *ev = data;
	static const char *const names[] = { "?", "balanced", "no_backend", "steered", "router_down", "established" };
	char src[16], dst[16], nd[16];
	long *left = ctx;

	if (len < sizeof(*ev))
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
	if (*left > 0 && --(*left) == 0)
		stop = 1;
	return 0;
}

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

static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *instance = getenv("AZDS_INSTANCE");
	struct azds_err e;
	int i = 1;

	if (i + 1 < argc && (!strcmp(argv[i], "-i") || !strcmp(argv[i], "--instance"))) {
		instance = argv[i + 1];
		i += 2;
	}
	if (i >= argc || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	if (!strcmp(argv[i], "bench"))
		return run_bench(argc - i, argv + i);
	if (azds_inst_init(&in, instance, &e) || azds_maps_open(&in, &m, &e)) {
		fprintf(stderr, "azds: %s\n", e.msg);
		return 1;
	}
	if (!strcmp(argv[i], "space") && i + 1 < argc && !strcmp(argv[i + 1], "list")) {
		struct azds_space sp;

		printf("%-32s %s\n", "SPACE", "PARENT");
		for (__u32 id = azds_space_next(&m, 0, &sp); id; id = azds_space_next(&m, id, &sp))
			printf("%-32s %s\n", sp.path, sp.parent ? space_path(sp.parent) : "-");
		return 0;
	}
	if (!strcmp(argv[i], "list-uris")) {
		struct azds_vip_key k, n;
		struct azds_vip v;
		void *cur = NULL;

		printf("%-16s %-22s %s\n", "SERVICE", "URI", "KIND");
		while (bpf_map_get_next_key(m.vips, cur, &n) == 0) {
			char a[16];

			k = n;
			cur = &k;
			if (bpf_map_lookup_elem(m.vips, &k, &v))
				continue;
			inet_ntop(AF_INET, &k.addr, a, sizeof(a));
			printf("%-16s %s://%s:%-5u %s\n", v.name, v.kind == AZDS_KIND_HTTP ? "http" : "tcp", a,
			       ntohs(k.port), v.kind == AZDS_KIND_HTTP ? "http" : "tcp");
		}
		return 0;
	}
	if (!strcmp(argv[i], "events")) {
		long count = 0;
		struct ring_buffer *rb;

		if (i + 2 < argc && !strcmp(argv[i + 1], "-n"))
			count = atol(argv[i + 2]);
		rb = ring_buffer__new(m.events, on_event, &count, NULL);
		if (!rb) {
			fprintf(stderr, "azds: cannot open the event ring buffer\n");
			return 1;
		}
		signal(SIGINT, on_sig);
		signal(SIGTERM, on_sig);
		while (!stop)
			ring_buffer__poll(rb, 200);
		ring_buffer__free(rb);
		return 0;
	}
	fprintf(stderr, "azds: \"%s\" is not available yet in this build (see --help)\n", argv[i]);
	return 2;
}
