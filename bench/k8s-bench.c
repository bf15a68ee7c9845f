// SPDX-License-Identifier: MIT
/*
 * k8s-bench: the Kubernetes-mode benchmark's driver (bench/k8s.sh runs it
 * inside a harness node, issue 11 part 10). It talks to the API server with
 * our own client (azds_k8s) and reads the node agent's pinned maps
 * (azds_maps_open of the agent's instance), so that what it times is the
 * agent alone: from the moment the API server answered a write to the
 * moment the maps hold its effect, polled every millisecond.
 *
 *   k8s-bench label    --kubeconfig F -i INST --ns NS [--rounds N]
 *       a namespace that holds a Service with a ready endpoint is labelled
 *       azds.io/space=true: until its space is in space_ids and the
 *       Service's ClusterIP in vips; then unlabelled, until both are gone
 *   k8s-bench change   --kubeconfig F -i INST --ns NS [--rounds N]
 *       in a labelled namespace: a Service created until its ClusterIP is
 *       in vips, an EndpointSlice created and then changed until the new
 *       address is in the Service's backends entry
 *   k8s-bench populate --kubeconfig F --prefix P --namespaces N --services M
 *   k8s-bench depopulate --kubeconfig F --prefix P --namespaces N
 *       N labelled namespaces P-000.. with M ClusterIP Services each
 *   k8s-bench wait     -i INST --prefix P --want M --t0-ns T [--timeout-s S]
 *       polls the services map until it holds M entries of spaces named
 *       P-*; prints the time since T (CLOCK_REALTIME ns, `date +%s%N` of
 *       the agent's start) of the first such entry and of the M-th
 *   k8s-bench synced   -i INST --t0-ns T [--timeout-s S]
 *       polls the agent's status.json (it was removed before the start):
 *       the time since T of its first write and of "synced":true
 *   k8s-bench cni      --plugin P -i INST --ns NS --netns PATH --host-if IF
 *                      --addr A [--rounds N]
 *       runs the CNI plugin as a runtime does (fork, exec, stdin with a
 *       prevResult), ADD timed, DEL after each (not timed)
 *
 * Every measurement prints one line "RESULT name n=.. p50_ms=.. p99_ms=..
 * max_ms=..", which k8s.sh collects; a round that never completes (10 s)
 * fails the run. Bench objects carry the label
 * service.kubernetes.io/service-proxy-name=azds-bench, so that kube-proxy
 * (when k8s.sh runs one) leaves them to azds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <jansson.h>
#include "azds.h"
#include "k8s.h"

#define ROUNDS_MAX 100000
#define ROUND_TIMEOUT_MS 10000 /* a change not in the maps by then: the run fails */
#define POLL_NS 1000000L       /* the maps are polled every 1 ms */
#define NS_MAX 10000	       /* populate: namespaces */
#define SVC_MAX 1000	       /* populate: services per namespace */
#define SPACE_IDS_MAX 65536    /* wait: ids of the spaces counted */
#define PROXY_LABEL "service.kubernetes.io/service-proxy-name"
#define BENCH_LABEL "azds.test/bench"

static const char *kubeconfig, *inst_name, *nsname, *prefix = "kbp", *plugin, *netns_path, *host_if, *addr_s;
static unsigned rounds = 100, n_ns = 200, n_svc = 10, want;
static long long t0_ns;
static unsigned timeout_s = 60;
static struct azds_k8s *K;
static struct azds_maps M;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("k8s-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long long now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long mono(void)
{
	return now_ns(CLOCK_MONOTONIC);
}

static void sleep_poll(void)
{
	struct timespec ts = { 0, POLL_NS };

	nanosleep(&ts, NULL);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* nearest rank: q in thousandths */
static double pct_ms(long long *v, size_t n, unsigned q)
{
	size_t r = (n * q + 999) / 1000;

	if (!n)
		return 0;
	if (r < 1)
		r = 1;
	return (double)v[r - 1] / 1e6;
}

static void result(const char *name, long long *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_ll);
	printf("RESULT %s n=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f min_ms=%.3f\n", name, n, pct_ms(v, n, 500),
	       pct_ms(v, n, 990), n ? (double)v[n - 1] / 1e6 : 0, n ? (double)v[0] / 1e6 : 0);
	fflush(stdout);
}

static void client(void)
{
	struct azds_k8s_config c;
	struct azds_k8s_err e = { 0 };

	if (!kubeconfig)
		die("--kubeconfig is required");
	if (azds_k8s_config_load(&c, kubeconfig, NULL, &e) || azds_k8s_new(&K, &c, &e))
		die("%s: %s", kubeconfig, e.msg);
	azds_k8s_config_free(&c);
}

static void maps(void)
{
	struct azds_inst in;
	struct azds_err e;

	if (!inst_name)
		die("-i INSTANCE is required");
	if (azds_inst_init(&in, inst_name, &e) || azds_maps_open(&in, &M, &e))
		die("instance %s: %s", inst_name, e.msg);
}

/* ------------------------------------------------------------ objects */

static json_t *ns_obj(const char *name, bool space)
{
	json_t *o = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
			      "name", name, "labels", BENCH_LABEL, "kbench");

	if (space)
		json_object_set_new(json_object_get(json_object_get(o, "metadata"), "labels"), "azds.io/space",
				    json_string("true"));
	return o;
}

/* a Service with no selector (its slices are the bench's), port 80 "http" -> 8080 */
static json_t *svc_obj(const char *ns, const char *name)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:i, s:i}]}}", "apiVersion", "v1", "kind",
			 "Service", "metadata", "name", name, "namespace", ns, "labels", PROXY_LABEL, "azds-bench",
			 "spec", "ports", "name", "http", "port", 80, "targetPort", 8080);
}

static json_t *slice_obj(const char *ns, const char *svc, const char *name, const char *addr)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:s, s:[{s:s, s:i, s:s}], s:[{s:[s], s:{s:b}}]}",
			 "apiVersion", "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "name", name,
			 "namespace", ns, "labels", "kubernetes.io/service-name", svc,
			 "endpointslice.kubernetes.io/managed-by", "azds-bench", "addressType", "IPv4", "ports", "name",
			 "http", "port", 8080, "protocol", "TCP", "endpoints", "addresses", addr, "conditions", "ready",
			 1);
}

static void create(const struct azds_k8s_res *r, const char *ns, json_t *obj, json_t **out)
{
	struct azds_k8s_err e = { 0 };
	int err = azds_k8s_create(K, r, ns, obj, out, &e);

	if (err == -EEXIST && !out) {
		json_decref(obj);
		return;
	}
	if (err)
		die("create %s in %s: %s", r->resource, ns ? ns : "-", e.msg);
	json_decref(obj);
}

static void del(const struct azds_k8s_res *r, const char *ns, const char *name)
{
	struct azds_k8s_err e = { 0 };
	int err = azds_k8s_delete(K, r, ns, name, NULL, &e);

	if (err && err != -ENOENT)
		die("delete %s %s: %s", r->resource, name, e.msg);
}

static void merge_patch(const struct azds_k8s_res *r, const char *ns, const char *name, json_t *patch)
{
	struct azds_k8s_err e = { 0 };

	if (azds_k8s_patch(K, r, ns, name, AZDS_K8S_PATCH_MERGE, patch, NULL, &e))
		die("patch %s %s: %s", r->resource, name, e.msg);
	json_decref(patch);
}

static __be32 cluster_ip(json_t *svc)
{
	const char *ip = json_string_value(json_object_get(json_object_get(svc, "spec"), "clusterIP"));
	struct in_addr a;

	if (!ip || inet_pton(AF_INET, ip, &a) != 1)
		die("a Service without an IPv4 ClusterIP");
	return a.s_addr;
}

static void delete_ns_wait(const char *name)
{
	json_t *o = NULL;
	struct azds_k8s_err e = { 0 };

	del(&azds_k8s_namespaces, NULL, name);
	for (int i = 0; i < 60000; i++) {
		int err = azds_k8s_get(K, &azds_k8s_namespaces, NULL, name, &o, &e);

		json_decref(o);
		o = NULL;
		if (err == -ENOENT)
			return;
		usleep(5000);
	}
	die("namespace %s never went away", name);
}

/* --------------------------------------------------------------- maps */

static bool space_there(const char *path, __u32 *id)
{
	char key[AZDS_PATH_MAX] = { 0 };
	__u32 v;

	snprintf(key, sizeof(key), "%s", path);
	if (bpf_map_lookup_elem(M.space_ids, key, &v))
		return false;
	if (id)
		*id = v;
	return true;
}

static bool vip_there(__be32 addr, __u16 port, __u32 *svc)
{
	struct azds_vip_key k = { .addr = addr, .port = htons(port) };
	struct azds_vip v;

	if (bpf_map_lookup_elem(M.vips, &k, &v))
		return false;
	if (svc)
		*svc = v.svc;
	return true;
}

static bool backend_there(__u32 space, __u32 svc, __be32 addr)
{
	struct azds_svc_key k = { .space = space, .svc = svc };
	struct azds_backends be;

	if (bpf_map_lookup_elem(M.backends, &k, &be))
		return false;
	for (__u32 i = 0; i < be.count && i < AZDS_MAX_BACKENDS; i++)
		if (be.addrs[i] == addr)
			return true;
	return false;
}

/* --------------------------------------------------------- measures */

/* poll until COND (an expression) holds; the ns it took since T0, or die */
#define WAIT_FOR(what, cond, t0)                                                    \
	({                                                                          \
		long long _t;                                                       \
		for (;;) {                                                          \
			if (cond) {                                                 \
				_t = mono() - (t0);                                 \
				break;                                              \
			}                                                           \
			if (mono() - (t0) > ROUND_TIMEOUT_MS * 1000000LL)           \
				die("%s: not in the maps after %d ms", what,        \
				    ROUND_TIMEOUT_MS);                              \
			sleep_poll();                                               \
		}                                                                   \
		_t;                                                                 \
	})

static int cmd_label(void)
{
	long long *on = calloc(rounds, sizeof(*on)), *off = calloc(rounds, sizeof(*off));
	json_t *svc = NULL;
	__be32 cip;

	if (!nsname || !on || !off)
		die("--ns is required");
	client();
	maps();
	/* an unlabelled namespace holding a Service with a ready endpoint */
	delete_ns_wait(nsname);
	create(&azds_k8s_namespaces, NULL, ns_obj(nsname, false), NULL);
	create(&azds_k8s_services, nsname, svc_obj(nsname, "web"), &svc);
	cip = cluster_ip(svc);
	json_decref(svc);
	create(&azds_k8s_endpointslices, nsname, slice_obj(nsname, "web", "web-1", "10.202.2.250"), NULL);
	for (unsigned r = 0; r < rounds; r++) {
		long long t0;

		merge_patch(&azds_k8s_namespaces, NULL, nsname,
			    json_pack("{s:{s:{s:s}}}", "metadata", "labels", "azds.io/space", "true"));
		t0 = mono();
		on[r] = WAIT_FOR("labelled namespace", space_there(nsname, NULL) && vip_there(cip, 80, NULL), t0);
		merge_patch(&azds_k8s_namespaces, NULL, nsname,
			    json_pack("{s:{s:{s:n}}}", "metadata", "labels", "azds.io/space"));
		t0 = mono();
		off[r] = WAIT_FOR("unlabelled namespace", !space_there(nsname, NULL) && !vip_there(cip, 80, NULL),
				  t0);
	}
	result("label_to_route", on, rounds);
	result("unlabel_to_gone", off, rounds);
	delete_ns_wait(nsname);
	return 0;
}

static int cmd_change(void)
{
	long long *sv = calloc(rounds, sizeof(*sv)), *ep = calloc(rounds, sizeof(*ep)),
		  *ch = calloc(rounds, sizeof(*ch));
	__u32 space;

	if (!nsname || !sv || !ep || !ch)
		die("--ns is required");
	client();
	maps();
	delete_ns_wait(nsname);
	create(&azds_k8s_namespaces, NULL, ns_obj(nsname, true), NULL);
	{
		long long t0 = mono();

		WAIT_FOR("the bench's space", space_there(nsname, &space), t0);
	}
	for (unsigned r = 0; r < rounds; r++) {
		char name[32], slice[40], a1[20], a2[20];
		json_t *svc = NULL;
		struct in_addr b1, b2;
		__u32 id = 0;
		__be32 cip;
		long long t0;

		snprintf(name, sizeof(name), "s%u", r);
		snprintf(slice, sizeof(slice), "s%u-1", r);
		/* addresses of no pod: the maps are what is measured, not traffic */
		snprintf(a1, sizeof(a1), "10.202.3.%u", 1 + r % 250);
		snprintf(a2, sizeof(a2), "10.202.4.%u", 1 + r % 250);
		inet_pton(AF_INET, a1, &b1);
		inet_pton(AF_INET, a2, &b2);
		create(&azds_k8s_services, nsname, svc_obj(nsname, name), &svc);
		t0 = mono();
		cip = cluster_ip(svc);
		json_decref(svc);
		sv[r] = WAIT_FOR("a new Service's ClusterIP", vip_there(cip, 80, &id), t0);
		create(&azds_k8s_endpointslices, nsname, slice_obj(nsname, name, slice, a1), NULL);
		t0 = mono();
		ep[r] = WAIT_FOR("a new EndpointSlice's address", backend_there(space, id, b1.s_addr), t0);
		merge_patch(&azds_k8s_endpointslices, nsname, slice,
			    json_pack("{s:[{s:[s], s:{s:b}}]}", "endpoints", "addresses", a2, "conditions", "ready", 1));
		t0 = mono();
		ch[r] = WAIT_FOR("a changed endpoint", backend_there(space, id, b2.s_addr) &&
						       !backend_there(space, id, b1.s_addr),
				 t0);
		/* one Service at a time: each round's sync sees the same model size */
		del(&azds_k8s_endpointslices, nsname, slice);
		del(&azds_k8s_services, nsname, name);
		t0 = mono();
		WAIT_FOR("a deleted Service", !vip_there(cip, 80, NULL), t0);
	}
	result("service_to_vip", sv, rounds);
	result("slice_to_backends", ep, rounds);
	result("endpoint_change_to_backends", ch, rounds);
	delete_ns_wait(nsname);
	return 0;
}

static int cmd_populate(bool remove)
{
	long long t0;

	client();
	t0 = mono();
	for (unsigned i = 0; i < n_ns; i++) {
		char ns[64];

		snprintf(ns, sizeof(ns), "%s-%03u", prefix, i);
		if (remove) {
			del(&azds_k8s_namespaces, NULL, ns);
			continue;
		}
		create(&azds_k8s_namespaces, NULL, ns_obj(ns, true), NULL);
		for (unsigned j = 0; j < n_svc; j++) {
			char name[32];

			snprintf(name, sizeof(name), "svc%u", j);
			create(&azds_k8s_services, ns, svc_obj(ns, name), NULL);
		}
	}
	printf("# %s %u namespaces x %u services in %.1f s\n", remove ? "deleted" : "created", n_ns, remove ? 0 : n_svc,
	       (double)(mono() - t0) / 1e9);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* services entries whose space is a root space named PREFIX-* */
static unsigned count_services(void)
{
	static __u32 ids[SPACE_IDS_MAX];
	size_t n = 0, plen = strlen(prefix);
	struct azds_space sp;
	struct azds_svc_key k, nx;
	void *cur = NULL;
	unsigned c = 0;

	for (__u32 id = azds_space_next(&M, 0, &sp); id && n < SPACE_IDS_MAX; id = azds_space_next(&M, id, &sp))
		if (!strncmp(sp.path, prefix, plen) && sp.path[plen] == '-')
			ids[n++] = id;
	if (!n)
		return 0;
	qsort(ids, n, sizeof(ids[0]), cmp_u32);
	while (bpf_map_get_next_key(M.services, cur, &nx) == 0) {
		k = nx;
		cur = &k;
		if (bsearch(&k.space, ids, n, sizeof(ids[0]), cmp_u32))
			c++;
	}
	return c;
}

static int cmd_wait(void)
{
	long long first = -1, start = mono();

	if (!want || !t0_ns)
		die("--want and --t0-ns are required");
	/* the agent makes the maps: wait for them to be there to open */
	for (;;) {
		struct azds_inst in;
		struct azds_err e;

		if (!inst_name)
			die("-i INSTANCE is required");
		if (!azds_inst_init(&in, inst_name, &e) && !azds_maps_open(&in, &M, &e))
			break;
		if (mono() - start > (long long)timeout_s * 1000000000LL)
			die("instance %s: no maps after %u s: %s", inst_name, timeout_s, e.msg);
		sleep_poll();
	}
	for (;;) {
		unsigned c = count_services();

		if (c && first < 0)
			first = now_ns(CLOCK_REALTIME) - t0_ns;
		if (c >= want) {
			long long all = now_ns(CLOCK_REALTIME) - t0_ns;

			printf("RESULT restart_first_service n=1 p50_ms=%.3f p99_ms=%.3f max_ms=%.3f min_ms=%.3f\n",
			       (double)first / 1e6, (double)first / 1e6, (double)first / 1e6, (double)first / 1e6);
			printf("RESULT restart_all_services n=%u p50_ms=%.3f p99_ms=%.3f max_ms=%.3f min_ms=%.3f\n", c,
			       (double)all / 1e6, (double)all / 1e6, (double)all / 1e6, (double)all / 1e6);
			return 0;
		}
		if (mono() - start > (long long)timeout_s * 1000000000LL)
			die("%u of %u services after %u s", c, want, timeout_s);
		sleep_poll();
	}
}

static int cmd_synced(void)
{
	struct azds_inst in;
	struct azds_err e;
	char path[256], buf[8192];
	long long first = -1, start = mono();

	if (!inst_name || !t0_ns)
		die("-i and --t0-ns are required");
	if (azds_inst_init(&in, inst_name, &e))
		die("instance %s: %s", inst_name, e.msg);
	if ((size_t)snprintf(path, sizeof(path), "%s/k8s/status.json", in.run_dir) >= sizeof(path))
		die("path too long");
	for (;;) {
		int n = azds_read_str(path, buf, sizeof(buf));

		if (n >= 0 && first < 0)
			first = now_ns(CLOCK_REALTIME) - t0_ns;
		if (n >= 0 && strstr(buf, "\"synced\":true")) {
			long long all = now_ns(CLOCK_REALTIME) - t0_ns;

			printf("RESULT restart_warm_first_status n=1 p50_ms=%.3f p99_ms=%.3f max_ms=%.3f min_ms=%.3f\n",
			       (double)first / 1e6, (double)first / 1e6, (double)first / 1e6, (double)first / 1e6);
			printf("RESULT restart_warm_synced n=1 p50_ms=%.3f p99_ms=%.3f max_ms=%.3f min_ms=%.3f\n",
			       (double)all / 1e6, (double)all / 1e6, (double)all / 1e6, (double)all / 1e6);
			printf("# %s\n", buf);
			return 0;
		}
		if (mono() - start > (long long)timeout_s * 1000000000LL)
			die("%s: not synced after %u s", path, timeout_s);
		sleep_poll();
	}
}

/* fork, exec PLUGIN with CNI_COMMAND=CMD and CONF on stdin; exit status */
static int run_plugin(const char *cmd, const char *conf, const char *cid)
{
	char e_cmd[64], e_cid[96], e_ns[512], e_args[512];
	int p[2], st;
	pid_t pid;

	snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=%s", cmd);
	snprintf(e_cid, sizeof(e_cid), "CNI_CONTAINERID=%s", cid);
	if ((size_t)snprintf(e_ns, sizeof(e_ns), "CNI_NETNS=%s", netns_path) >= sizeof(e_ns) ||
	    (size_t)snprintf(e_args, sizeof(e_args), "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
						       "K8S_POD_UID=uid-%s",
			     nsname, cid, cid) >= sizeof(e_args))
		die("names too long");
	if (pipe(p))
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		char *env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", e_cmd, e_cid, e_ns, "CNI_IFNAME=eth0",
				"CNI_PATH=/opt/cni/bin", e_args, NULL };
		int null = open("/dev/null", O_WRONLY);

		dup2(p[0], 0);
		if (null >= 0)
			dup2(null, 1);
		close(p[0]);
		close(p[1]);
		execle(plugin, plugin, (char *)NULL, env);
		_exit(127);
	}
	close(p[0]);
	if (write(p[1], conf, strlen(conf)) != (ssize_t)strlen(conf))
		die("write to the plugin: %s", strerror(errno));
	close(p[1]);
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int cmd_cni(void)
{
	long long *add = calloc(rounds, sizeof(*add)), *dl = calloc(rounds, sizeof(*dl));
	json_t *conf;
	char *text, name[96];

	if (!plugin || !inst_name || !nsname || !netns_path || !host_if || !addr_s || !add || !dl)
		die("cni needs --plugin, -i, --ns, --netns, --host-if, --addr");
	/* prevResult as the bridge plugin gives it: host veth, sandbox eth0 */
	conf = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:[{s:s}, {s:s, s:s}], s:[{s:i, s:s}], s:[{s:s}], s:{}}}",
			 "cniVersion", "1.0.0", "name", "kbench", "type", "azds-cni", "instance", inst_name,
			 "prevResult", "cniVersion", "1.0.0", "interfaces", "name", host_if, "name", "eth0", "sandbox",
			 netns_path, "ips", "interface", 1, "address", addr_s, "routes", "dst", "0.0.0.0/0", "dns");
	text = json_dumps(conf, JSON_COMPACT);
	json_decref(conf);
	if (!text)
		die("conf");
	snprintf(name, sizeof(name), "add-%s", nsname);
	for (unsigned r = 0; r < rounds; r++) {
		char cid[64];
		long long t0;
		int rc;

		snprintf(cid, sizeof(cid), "kbench%u", r);
		t0 = mono();
		rc = run_plugin("ADD", text, cid);
		add[r] = mono() - t0;
		if (rc)
			die("ADD exited %d", rc);
		t0 = mono();
		rc = run_plugin("DEL", text, cid);
		dl[r] = mono() - t0;
		if (rc)
			die("DEL exited %d", rc);
	}
	free(text);
	result(name, add, rounds);
	snprintf(name, sizeof(name), "del-%s", nsname);
	result(name, dl, rounds);
	return 0;
}

static unsigned num(const char *opt, const char *v, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (*end || n < lo || n > hi)
		die("%s: want %u..%u, not '%s'", opt, lo, hi, v);
	return (unsigned)n;
}

int main(int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";

	for (int i = 2; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			die("%s needs a value", o);
		i++;
		if (!strcmp(o, "--kubeconfig"))
			kubeconfig = v;
		else if (!strcmp(o, "-i"))
			inst_name = v;
		else if (!strcmp(o, "--ns"))
			nsname = v;
		else if (!strcmp(o, "--rounds"))
			rounds = num(o, v, 1, ROUNDS_MAX);
		else if (!strcmp(o, "--prefix"))
			prefix = v;
		else if (!strcmp(o, "--namespaces"))
			n_ns = num(o, v, 1, NS_MAX);
		else if (!strcmp(o, "--services"))
			n_svc = num(o, v, 1, SVC_MAX);
		else if (!strcmp(o, "--want"))
			want = num(o, v, 1, NS_MAX * SVC_MAX);
		else if (!strcmp(o, "--t0-ns"))
			t0_ns = strtoll(v, NULL, 10);
		else if (!strcmp(o, "--timeout-s"))
			timeout_s = num(o, v, 1, 3600);
		else if (!strcmp(o, "--plugin"))
			plugin = v;
		else if (!strcmp(o, "--netns"))
			netns_path = v;
		else if (!strcmp(o, "--host-if"))
			host_if = v;
		else if (!strcmp(o, "--addr"))
			addr_s = v;
		else
			die("unknown option %s", o);
	}
	if (strlen(prefix) > 40)
		die("--prefix: at most 40 characters");
	if (!strcmp(verb, "label"))
		return cmd_label();
	if (!strcmp(verb, "change"))
		return cmd_change();
	if (!strcmp(verb, "populate"))
		return cmd_populate(false);
	if (!strcmp(verb, "depopulate"))
		return cmd_populate(true);
	if (!strcmp(verb, "wait"))
		return cmd_wait();
	if (!strcmp(verb, "synced"))
		return cmd_synced();
	if (!strcmp(verb, "cni"))
		return cmd_cni();
	fprintf(stderr, "usage: k8s-bench label|change|populate|depopulate|wait|synced|cni OPTIONS (see the source's head)\n");
	return 2;
}
