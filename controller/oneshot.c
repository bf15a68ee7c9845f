// SPDX-License-Identifier: MIT
/*
 * azds-controller's one-shot verbs: the low-level tools that act on the
 * pinned maps directly, for a node without the daemon (the data-plane
 * tests and the benchmark build their topologies with them). While the
 * daemon (`azds-controller run`) owns an instance its store is the truth,
 * so the verbs that change things refuse and point to the `azds` CLI.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include "azds.h"
#include "node.h"
#include "dataplane_load.h"

static const char *instance;
static struct azds_inst in;

static int fail(const char *msg)
{
	fprintf(stderr, "azds-controller: %s\n", msg);
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: azds-controller [-i INSTANCE] COMMAND [ARGS]\n\n"
		"The daemon (what `azds controller start` runs; see run --help):\n"
		"  run [OPTIONS]          serve the API, keep the store, supervise router, DNS and pods\n"
		"  purge                  remove the instance whole, store included (daemon or not)\n\n"
		"One-shot low-level verbs, for a node without the daemon (tests, benchmarks):\n"
		"Node:\n"
		"  start [--max-depth N] [--max-spaces N] [--max-pods N] [--max-services N]\n"
		"        [--max-vips N] [--no-kernel-lb] [--no-sockmap] [--no-router] [--verbose]\n"
		"        [--router-arg ARG]...   e.g. --router-arg --max-conns --router-arg 5000\n"
		"                         load and pin the data plane, create the node namespace,\n"
		"                         start DNS and azds-router (idempotent: restarts what is missing;\n"
		"                         switches set at run time are kept unless given here)\n"
		"  stop                   remove everything the instance created (pods included)\n"
		"  status                 what runs, and the data plane counters\n"
		"  set kernel-lb|steer|events|sockmap|sockmap-pods on|off\n"
		"                         flip a data-plane switch at run time\n"
		"Spaces:\n"
		"  space add PATH         e.g. dev, dev/alice (the parent must exist)\n"
		"  space rm PATH\n"
		"  space list\n"
		"Services:\n"
		"  service add SPACE NAME [--kind http|tcp] [--port P] [--target-port T]\n"
		"  service rm SPACE NAME\n"
		"  service list\n"
		"Pods (see also azds-init):\n"
		"  pod list\n\n"
		"-i/--instance NAME selects the instance (default \"%s\", or $AZDS_INSTANCE).\n",
		AZDS_INSTANCE_DEFAULT);
}

static const char *exe_dir;

static unsigned long parse_num(const char *opt, const char *v, unsigned long lo, unsigned long hi, int *bad)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v ? v : "", &end, 10);
	if (!v || errno || *end || end == v || n < lo || n > hi) {
		fprintf(stderr, "azds-controller: %s \"%s\": must be a number in %lu..%lu\n", opt, v ? v : "", lo, hi);
		*bad = 1;
	}
	return n;
}

#define MAX_ROUTER_ARGS 32
static char *router_args[MAX_ROUTER_ARGS];
static int nrouter_args;
static bool given_router_args;

/*
 * Router settings given to start (--router-arg) are kept in the run
 * directory, so a later start (after a crash) brings the router back with
 * the same limits.
 */
static int router_args_load_or_save(void)
{
	char path[300], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/router.args", in.run_dir);
	if (nrouter_args) {
		f = fopen(path, "we");
		if (!f)
			return -errno;
		for (int i = 0; i < nrouter_args; i++)
			fprintf(f, "%s\n", router_args[i]);
		return fclose(f) ? -errno : 0;
	}
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (nrouter_args < MAX_ROUTER_ARGS && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		router_args[nrouter_args++] = strdup(line);
	}
	fclose(f);
	return 0;
}

static int start_daemons(bool router)
{
	char pidf[256], logf[256], hosts[256], inner[300], cg[300], bin[PATH_MAX + 32];
	struct azds_maps m;
	struct azds_err e;
	pid_t pid;
	int err;

	if (azds_maps_open(&in, &m, &e))
		return fail(e.msg);
	azds_dns_refresh(&in, &m); /* the hosts file dnsmasq serves */
	azds_maps_close(&m);
	snprintf(hosts, sizeof(hosts), "%s/hosts", in.run_dir);
	snprintf(inner, sizeof(inner), "%s/dnsmasq.inner.pid", in.run_dir);

	snprintf(pidf, sizeof(pidf), "%s/dnsmasq.pid", in.run_dir);
	if (!azds_pidfile_alive(pidf, "dnsmasq")) {
		char addn[300], pidarg[320];
		char *argv[] = { "ip", "netns", "exec", in.node_ns, "dnsmasq", "--keep-in-foreground",
				 "--conf-file=/dev/null", "--no-resolv", "--no-hosts", addn,
				 "--listen-address=" AZDS_GW_ADDR, "--bind-interfaces", "--local=/" AZDS_DNS_DOMAIN "/",
				 "--user=nobody", "--group=nogroup", "--no-negcache", pidarg, NULL };

		snprintf(addn, sizeof(addn), "--addn-hosts=%s", hosts);
		snprintf(pidarg, sizeof(pidarg), "--pid-file=%s", inner);
		snprintf(logf, sizeof(logf), "%s/dnsmasq.log", in.run_dir);
		/* ip netns exec execs dnsmasq in place: the pid is dnsmasq's */
		unlink(inner);
		err = azds_daemon_start(pidf, logf, argv, &pid);
		if (err) {
			fprintf(stderr, "azds-controller: start dnsmasq: %s\n", strerror(-err));
			return 1;
		}
		/* ready (and safe to SIGHUP) once it wrote its own pid file */
		for (int i = 0; i < 500 && access(inner, F_OK) && kill(pid, 0) == 0; i++) {
			waitpid(pid, NULL, WNOHANG); /* reap it if it died */
			usleep(10000);
		}
		if (access(inner, F_OK))
			fprintf(stderr, "azds-controller: warning: dnsmasq did not start (see %s); service names will not resolve\n",
				logf);
	}
	if (!router)
		return 0;
	snprintf(pidf, sizeof(pidf), "%s/router.pid", in.run_dir);
	if (azds_pidfile_alive(pidf, "azds-router") && given_router_args)
		fprintf(stderr, "azds-controller: the router is running; its new settings apply when it restarts\n");
	if (!azds_pidfile_alive(pidf, "azds-router")) {
		/* no access log unless asked for (--router-arg --access-log
		 * --router-arg FILE): one line per request is the operator's choice */
		char *argv[8 + MAX_ROUTER_ARGS] = { bin, "--instance", in.name, "--netns", in.node_ns };
		int argc = 5;

		for (int i = 0; i < nrouter_args; i++)
			argv[argc++] = router_args[i];
		argv[argc] = NULL;

		snprintf(bin, sizeof(bin), "%s/azds-router", exe_dir);
		snprintf(logf, sizeof(logf), "%s/router.log", in.run_dir);
		/* the router lives in the instance cgroup so that sockops sees its
		 * sockets (sockmap); connect4 ignores it: it is not a pod */
		snprintf(cg, sizeof(cg), "%s/_router", in.cgroup_dir); /* '_': never a pod name */
		azds_mkdir_p(cg, 0755);
		err = azds_daemon_start_cg(pidf, logf, cg, argv, &pid);
		if (err) {
			fprintf(stderr, "azds-controller: start azds-router: %s\n", strerror(-err));
			return 1;
		}
	}
	return 0;
}

/* Is a TCP socket listening on port in the calling thread's namespace? */
static bool listening(unsigned port)
{
	char line[256], want[16];
	FILE *f = fopen("/proc/self/net/tcp", "re");
	bool found = false;

	if (!f)
		return false;
	/* "sl local_address rem_address st ...": local ends in :PORT (hex),
	 * st 0A is LISTEN */
	snprintf(want, sizeof(want), ":%04X", port);
	while (!found && fgets(line, sizeof(line), f)) {
		char local[64], st[8];

		if (sscanf(line, "%*s %63s %*s %7s", local, st) == 2 && strstr(local, want) &&
		    strlen(strstr(local, want)) == 5 && !strcmp(st, "0A"))
			found = true;
	}
	fclose(f);
	return found;
}

/* The router is ready when its listener exists in the node namespace. */
static int wait_listener(unsigned port)
{
	int saved, ok = -1;

	if (azds_netns_enter(in.node_ns, &saved))
		return -1;
	for (int i = 0; i < 500 && ok; i++) {
		if (listening(port))
			ok = 0;
		else
			usleep(10000);
	}
	azds_netns_leave(saved);
	return ok;
}

static int cmd_start(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max-depth", required_argument, 0, 'd' }, { "max-spaces", required_argument, 0, 's' },
		{ "max-pods", required_argument, 0, 'p' },  { "max-services", required_argument, 0, 'v' },
		{ "max-vips", required_argument, 0, 'V' },  { "no-kernel-lb", no_argument, 0, 'K' },
		{ "no-router", no_argument, 0, 'R' },      { "verbose", no_argument, 0, 'x' },
		{ "no-sockmap", no_argument, 0, 'M' },
		{ "router-arg", required_argument, 0, 'A' },
		{ "help", no_argument, 0, 'h' },           { 0, 0, 0, 0 }
	};
	struct azds_dp_opts o;
	struct azds_err e;
	bool router = true;
	int c, bad = 0, err;

	azds_dp_default_opts(&o, in.pin_dir);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.cfg.max_depth = (__u32)parse_num("--max-depth", optarg, 2, AZDS_DEPTH_HARD_MAX, &bad);
			o.override |= AZDS_OVR_DEPTH;
			break;
		case 's': o.max_spaces = (__u32)parse_num("--max-spaces", optarg, 1, 1u << 20, &bad); break;
		case 'p': o.max_pods = (__u32)parse_num("--max-pods", optarg, 1, 1u << 20, &bad); break;
		case 'v': o.max_services = (__u32)parse_num("--max-services", optarg, 1, 1u << 22, &bad); break;
		case 'V': o.max_vips = (__u32)parse_num("--max-vips", optarg, 1, 65534, &bad); break;
		case 'K': o.override |= AZDS_OVR_NO_KLB; break;
		case 'M': o.override |= AZDS_OVR_NO_SOCKMAP; break;
		case 'R': router = false; break;
		case 'A':
			if (nrouter_args >= MAX_ROUTER_ARGS) {
				fprintf(stderr, "azds-controller: at most %d --router-arg\n", MAX_ROUTER_ARGS);
				return 2;
			}
			router_args[nrouter_args++] = optarg;
			given_router_args = true;
			break;
		case 'x': o.verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: return 2;
		}
	}
	if (bad)
		return 2;
	err = azds_ensure_bpffs();
	if (err) {
		fprintf(stderr, "azds-controller: bpffs at /sys/fs/bpf: %s\n", strerror(-err));
		return 1;
	}
	if (azds_mkdir_p(in.run_dir, 0755))
		return fail("cannot create run directory");
	/* a lower depth must not cut existing chains */
	if (o.override & AZDS_OVR_DEPTH) {
		struct azds_maps m;
		struct azds_space sp;
		__u32 deepest = 0;

		if (azds_maps_open(&in, &m, &e) == 0) {
			for (__u32 id = azds_space_next(&m, 0, &sp); id; id = azds_space_next(&m, id, &sp))
				if (sp.depth + 1 > deepest)
					deepest = sp.depth + 1;
			azds_maps_close(&m);
		}
		if (deepest > o.cfg.max_depth) {
			fprintf(stderr, "azds-controller: --max-depth %u: existing spaces are %u levels deep\n",
				o.cfg.max_depth, deepest);
			return 2;
		}
	}
	err = azds_dp_load(&o);
	if (err) {
		fprintf(stderr, "azds-controller: load data plane into %s: %s%s\n", in.pin_dir, strerror(-err),
			err == -EINVAL ? " (maps pinned with other sizes? run 'azds-controller stop' first)" : "");
		return 1;
	}
	err = azds_node_up(&in, &e);
	if (err)
		return fail(e.msg);
	{
		struct azds_maps m;

		if (azds_maps_open(&in, &m, &e) == 0) {
			azds_node_reattach(&in, &m);
			azds_gen_bump(&m); /* the router re-reads the config */
			azds_maps_close(&m);
		}
	}
	if (router_args_load_or_save())
		fprintf(stderr, "azds-controller: warning: cannot keep the router's settings in %s\n", in.run_dir);
	if (start_daemons(router))
		return 1;
	if (router && wait_listener(o.cfg.router_port)) {
		fprintf(stderr, "azds-controller: azds-router did not start listening; see %s/router.log\n", in.run_dir);
		return 1;
	}
	printf("instance %s: data plane pinned at %s, node namespace %s%s\n", in.name, in.pin_dir, in.node_ns,
	       router ? ", router up" : "");
	return 0;
}

static int cmd_stop(void)
{
	struct azds_err e;

	if (azds_node_down(&in, &e))
		return fail(e.msg);
	printf("instance %s: stopped and removed\n", in.name);
	return 0;
}

static int with_maps(struct azds_maps *m)
{
	struct azds_err e;

	if (azds_maps_open(&in, m, &e)) {
		fail(e.msg);
		return -1;
	}
	return 0;
}

static int cmd_status(void)
{
	char pidf[256];
	struct azds_maps m;
	struct azds_config cfg;

	if (with_maps(&m))
		return 1;
	snprintf(pidf, sizeof(pidf), "%s/router.pid", in.run_dir);
	printf("instance:   %s\nrouter:     %s\n", in.name, azds_pidfile_alive(pidf, "azds-router") ? "running" : "DOWN");
	snprintf(pidf, sizeof(pidf), "%s/dnsmasq.pid", in.run_dir);
	printf("dns:        %s\n", azds_pidfile_alive(pidf, "dnsmasq") ? "running" : "DOWN");
	if (azds_config_get(&m, &cfg) == 0)
		printf("switches:   kernel-lb=%s steer=%s events=%s sockmap=%s sockmap-pods=%s max-depth=%u "
		       "splice-guard=%s\n",
		       cfg.flags & AZDS_CFG_KERNEL_LB ? "on" : "off", cfg.flags & AZDS_CFG_STEER ? "on" : "off",
		       cfg.flags & AZDS_CFG_EVENTS ? "on" : "off", cfg.flags & AZDS_CFG_SOCKMAP ? "on" : "off",
		       cfg.flags & AZDS_CFG_SOCKMAP_PODS ? "on" : "off", cfg.max_depth,
		       !(cfg.flags & AZDS_CFG_SPLICE_GUARD) ? "NOT attached (sockmap-pods has no effect)"
		       : cfg.flags & AZDS_CFG_GUARD_FENTRY ? "attached (fentry)"
							: "attached (syscall tracepoints)");
	printf("counters:\n");
	for (__u32 r = 0; r < AZDS_R__COUNT; r++)
		printf("  %-16s %10llu  %s\n", azds_reason_names[r], (unsigned long long)azds_dp_counter(m.stats, r),
		       azds_reason_texts[r]);
	azds_maps_close(&m);
	return 0;
}

static int cmd_set(int argc, char **argv)
{
	struct azds_maps m;
	struct azds_config cfg;
	__u32 bit;

	if (argc != 3 || (strcmp(argv[2], "on") && strcmp(argv[2], "off")))
		return fail("usage: set kernel-lb|steer|events|sockmap|sockmap-pods on|off");
	if (!strcmp(argv[1], "kernel-lb"))
		bit = AZDS_CFG_KERNEL_LB;
	else if (!strcmp(argv[1], "steer"))
		bit = AZDS_CFG_STEER;
	else if (!strcmp(argv[1], "events"))
		bit = AZDS_CFG_EVENTS;
	else if (!strcmp(argv[1], "sockmap"))
		bit = AZDS_CFG_SOCKMAP;
	else if (!strcmp(argv[1], "sockmap-pods"))
		bit = AZDS_CFG_SOCKMAP_PODS;
	else
		return fail("set: unknown switch (kernel-lb, steer, events, sockmap, sockmap-pods)");
	if (with_maps(&m))
		return 1;
	if (azds_config_get(&m, &cfg) == 0) {
		if (!strcmp(argv[2], "on"))
			cfg.flags |= bit;
		else
			cfg.flags &= ~bit;
		azds_config_set(&m, &cfg);
		azds_gen_bump(&m);
	}
	azds_maps_close(&m);
	return 0;
}

static int cmd_space(int argc, char **argv)
{
	struct azds_maps m;
	struct azds_err e;
	struct azds_space sp;
	int rc = 0;
	__u32 id;

	if (argc < 2)
		return fail("usage: space add|rm PATH, space list");
	if (with_maps(&m))
		return 1;
	if (!strcmp(argv[1], "add") && argc == 3) {
		if (azds_space_add(&m, argv[2], &id, &e))
			rc = fail(e.msg);
		else
			azds_dns_refresh(&in, &m);
	} else if (!strcmp(argv[1], "rm") && argc == 3) {
		if (azds_space_remove(&m, argv[2], &e))
			rc = fail(e.msg);
	} else if (!strcmp(argv[1], "list") && argc == 2) {
		printf("%-6s %-40s %-6s\n", "ID", "SPACE", "DEPTH");
		for (id = azds_space_next(&m, 0, &sp); id; id = azds_space_next(&m, id, &sp))
			printf("%-6u %-40s %-6u\n", id, sp.path, sp.depth);
	} else {
		rc = fail("usage: space add|rm PATH, space list");
	}
	azds_maps_close(&m);
	return rc;
}

static int cmd_service(int argc, char **argv)
{
	struct azds_maps m;
	struct azds_err e;
	int rc = 0;

	if (argc < 2)
		return fail("usage: service add|rm SPACE NAME, service list");
	if (with_maps(&m))
		return 1;
	if (!strcmp(argv[1], "add") && argc >= 4) {
		unsigned long port = 80, tport = 0;
		__u32 kind = AZDS_KIND_HTTP;
		int bad = 0;

		for (int i = 4; i < argc; i++) {
			const char *v = i + 1 < argc ? argv[i + 1] : NULL;

			if (!strcmp(argv[i], "--kind") && v) {
				if (!strcmp(v, "http"))
					kind = AZDS_KIND_HTTP;
				else if (!strcmp(v, "tcp"))
					kind = AZDS_KIND_TCP;
				else {
					fprintf(stderr, "azds-controller: --kind \"%s\": must be http or tcp\n", v);
					bad = 1;
				}
			} else if (!strcmp(argv[i], "--port")) {
				port = parse_num("--port", v, 1, 65535, &bad);
			} else if (!strcmp(argv[i], "--target-port")) {
				tport = parse_num("--target-port", v, 1, 65535, &bad);
			} else {
				fprintf(stderr, "azds-controller: service add: unknown option \"%s\"\n", argv[i]);
				bad = 1;
				break;
			}
			i++;
		}
		if (bad) {
			rc = 2;
		} else if (azds_service_add(&m, argv[2], argv[3], kind, (__u16)port, (__u16)(tport ? tport : port),
					    NULL, &e)) {
			rc = fail(e.msg);
		} else {
			azds_dns_refresh(&in, &m);
		}
	} else if (!strcmp(argv[1], "rm") && argc == 4) {
		if (azds_service_remove(&m, argv[2], argv[3], &e))
			rc = fail(e.msg);
		else
			azds_dns_refresh(&in, &m);
	} else if (!strcmp(argv[1], "list") && argc == 2) {
		struct azds_svc_key key, next;
		struct azds_service s;
		struct azds_backends be;
		struct azds_space sp;
		char addr[INET_ADDRSTRLEN];
		void *cur = NULL;

		printf("%-24s %-16s %-5s %-21s %-6s %s\n", "SPACE", "SERVICE", "KIND", "ADDRESS", "TARGET", "PODS");
		while (bpf_map_get_next_key(m.services, cur, &next) == 0) {
			key = next;
			cur = &key;
			if (bpf_map_lookup_elem(m.services, &key, &s) || bpf_map_lookup_elem(m.spaces, &key.space, &sp))
				continue;
			if (bpf_map_lookup_elem(m.backends, &key, &be))
				be.count = 0;
			inet_ntop(AF_INET, &s.addr, addr, sizeof(addr));
			printf("%-24s %-16s %-5s %s:%-5u %-6u %u\n", sp.path, s.name,
			       s.kind == AZDS_KIND_HTTP ? "http" : "tcp", addr, s.port, s.target_port, be.count);
		}
	} else {
		rc = fail("usage: service add|rm SPACE NAME, service list");
	}
	azds_maps_close(&m);
	return rc;
}

static int cmd_pod_list(void)
{
	struct azds_maps m;
	__be32 key, next;
	struct azds_pod p;
	struct azds_space sp;
	char addr[INET_ADDRSTRLEN];
	void *cur = NULL;

	if (with_maps(&m))
		return 1;
	printf("%-24s %-16s %s\n", "POD", "ADDRESS", "SPACE");
	while (bpf_map_get_next_key(m.pods, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(m.pods, &key, &p))
			continue;
		if (bpf_map_lookup_elem(m.spaces, &p.space, &sp))
			strcpy(sp.path, "?");
		inet_ntop(AF_INET, &key, addr, sizeof(addr));
		printf("%-24s %-16s %s\n", p.name, addr, sp.path);
	}
	azds_maps_close(&m);
	return 0;
}

/* the daemon's pid when one runs the instance */
pid_t oneshot_daemon_pid(const struct azds_inst *inst)
{
	return azds_daemon_pid(inst);
}

int oneshot_main(int argc, char **argv, const char *bin_dir)
{
	struct azds_err e;
	int i = 1;

	exe_dir = bin_dir;
	instance = getenv("AZDS_INSTANCE");
	while (i < argc && argv[i][0] == '-') {
		if ((!strcmp(argv[i], "-i") || !strcmp(argv[i], "--instance")) && i + 1 < argc) {
			instance = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "azds-controller: unknown option \"%s\" (see --help)\n", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (geteuid() != 0)
		return fail("must run as root (it loads BPF programs and creates namespaces)");
	if (azds_inst_init(&in, instance, &e))
		return fail(e.msg);
	argc -= i;
	argv += i;
	{
		bool reads = !strcmp(argv[0], "status") || (argc >= 2 && !strcmp(argv[1], "list"));
		pid_t d = oneshot_daemon_pid(&in);

		if (d && !reads) {
			fprintf(stderr,
				"azds-controller: instance \"%s\" is run by the controller daemon (pid %d): change it with the azds CLI"
				" (azds space, azds pod, azds controller)\n", in.name, (int)d);
			return 1;
		}
	}
	/* everything but reads takes the instance's writer lock; only start
	 * makes the run directory (a command on an instance that is not
	 * running then fails at the maps, or stop finds nothing, and leaves
	 * nothing behind) */
	if (strcmp(argv[0], "status") && !(argc >= 2 && !strcmp(argv[1], "list"))) {
		int lk = azds_lock(in.run_dir, !strcmp(argv[0], "start"));

		if (lk < 0 && lk != -ENOENT)
			return fail("cannot take the instance lock in /run/azds");
	}
	if (!strcmp(argv[0], "start"))
		return cmd_start(argc, argv);
	if (!strcmp(argv[0], "stop") && argc == 1)
		return cmd_stop();
	if (!strcmp(argv[0], "status") && argc == 1)
		return cmd_status();
	if (!strcmp(argv[0], "set"))
		return cmd_set(argc, argv);
	if (!strcmp(argv[0], "space"))
		return cmd_space(argc, argv);
	if (!strcmp(argv[0], "service"))
		return cmd_service(argc, argv);
	if (!strcmp(argv[0], "pod") && argc == 2 && !strcmp(argv[1], "list"))
		return cmd_pod_list();
	fprintf(stderr, "azds-controller: unknown command \"%s\" (see --help)\n", argv[0]);
	return 2;
}
