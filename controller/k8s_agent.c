// SPDX-License-Identifier: MIT
/*
 * The Kubernetes mode's node agent (k8s_agent.h, docs/kubernetes.md).
 *
 * Four informers (userspace/k8s) keep summaries of what the agent needs:
 * Namespaces labelled azds.io/space=true, every Service and EndpointSlice,
 * and the Pods scheduled to this node. Each change marks the model dirty
 * and wakes the main loop, which runs one sync: the whole desired state
 * is computed from the summaries and the pinned maps are diffed against
 * it, entry by entry. A sync is idempotent, so a restart, a relist after
 * 410 Gone or a crash between two writes all end in the same maps: the
 * agent keeps no state of its own that the maps and the API server do not
 * hold (the service-name ids are read back from the maps on start).
 *
 * What the maps get:
 *   spaces      one per labelled namespace: namespace alice labelled
 *               azds.io/parent-space=dev is the space dev/alice;
 *   vips        each routed Service's ClusterIP:port -> its name's id, so
 *               the ClusterIP of api in dev and of api in alice both name
 *               "api": which space's copy answers is the router's choice
 *               per request (HTTP) or connect4's per connection (TCP);
 *   services    (space, name) -> ClusterIP, port, target port, kind;
 *   backends    (space, name) -> the ready IPv4 endpoints of its slices;
 *   pods        this node's pods in spaces: address -> space, cgroup id,
 *               with TC on the host side of their veths (kpod.h).
 * HTTP services' ClusterIPs get a local /32 route (protocol 211) in the
 * node's namespace, so that connections TC hands to the router are
 * delivered to it.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <jansson.h>
#include "azds.h"
#include "node.h"
#include "install.h"
#include "k8s.h"
#include "k8s_agent.h"
#include "kpod.h"
#include "routerd.h"
#include "supervise.h"
#include "webhook.h"

#define KAG_ROUTE_PROTO "211"	  /* our local routes: `ip route ... proto 211` */
#define KAG_RESYNC_MS 30000	  /* a full sync even without a change (maps edited by hand) */
#define KAG_RETRY_MS 1000	  /* while a pod waits for its interface or cgroup */
#define KAG_CNI_RECORDS_MAX 16384 /* CNI records read per sync */
#define KAG_STALE_RECORD_S 120	  /* a CNI record alone keeps a pod's entry this long */
#define KAG_NAMES_MAX 65534	  /* service-name ids */
#define KAG_ENDPOINTS_MAX 8192	  /* endpoints of one service looked at (the map keeps 32) */
#define KAG_DEBOUNCE_MS 2	  /* events that come together, one sync */
#define KAG_LEASE_NS "azds"	  /* azds's own namespace (azds controller install makes it) */
#define KAG_LEASE_NAME "azds-leader"
#define KAG_LEASE_S 15		  /* leaseDurationSeconds */
#define KAG_LEASE_TICK_MS 2000	  /* renew or try every so often */
#define KAG_WEBHOOK_NAME "azds-webhook"
#define KAG_WEBHOOK_TRIES 5	  /* ticks a leader may fail to serve it before it hands over */

enum { K_NS, K_SVC, K_EPS, K_POD, K_N };
static const char *const kind_name[K_N] = { "namespaces", "services", "endpointslices", "pods" };

struct kag;
struct kind_ctx {
	struct kag *a;
	int kind;
};

struct kag_opts {
	const char *kubeconfig, *context, *node, *pod_cgroup, *cni_bin_dir, *cni_conf_dir;
	const char *webhook_addr, *cluster_domain;
	bool no_cni_install, no_router, verbose;
	unsigned workers, max_depth, webhook_port;
};

struct kag {
	struct kag_opts o;
	char self_exe[PATH_MAX], bin_dir[PATH_MAX];
	struct azds_inst in;
	struct azds_maps m;
	struct azds_k8s_config cfg;
	struct azds_k8s *k[K_N];
	struct azds_k8s_informer *inf[K_N];
	struct kind_ctx kc[K_N];
	pthread_t th[K_N];
	bool th_started[K_N];
	pthread_mutex_t mu;
	int wake_fd;
	/* under mu: the summaries, key "ns/name" (namespaces: the name) */
	json_t *tab[K_N], *seen[K_N];
	json_t *snap[K_N]; /* a sync's own shallow copies of tab (summaries are replaced, never changed) */
	bool synced[K_N];
	bool dirty;
	char last_retry[K_N][512];
	/* the sync's own (main thread only) */
	json_t *names;	  /* service name -> id */
	json_t *attached; /* "a.b.c.d" -> {"if", "path", "cg"} */
	json_t *routes;	  /* "a.b.c.d" -> true: our local routes */
	bool pending;	  /* something waits: sync again soon */
	bool full;	  /* the periodic full sync: the routes are read back too */
	unsigned long syncs, errors;
	char last_error[512];
	double last_sync_ms;
	int64_t last_sync_at;
	struct sup *sup;
	struct routerd rd;
	bool rd_started;
	/* leader election (main thread) */
	struct azds_k8s *lk;   /* the main thread's client */
	bool leader;
	char lease_rv[AZDS_K8S_RV_MAX];
	char lease_seen[128];  /* holder and renewTime last seen */
	int64_t lease_seen_at; /* when they last changed */
	int64_t lease_next;
	char lease_why[256];
	struct webhook *wh;
	bool wh_registered;
	int wh_failures;
	int64_t lease_cooldown; /* after handing over: no takeover before this */
	int64_t lease_renewed;  /* our last successful write of the lease */
	char wh_url[300];
	char node_ip[64];
	json_t *problems; /* the last sync's namespaces that are no space, and why */
};

static volatile sig_atomic_t g_stop;

/* ------------------------------------------------------------ helpers */

static int64_t now_ms(void)
{
	return azds_mono_ms();
}

static const char *jstr(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *jget(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	return b ? json_object_get(v, b) : v;
}

static void note_error(struct kag *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_error(struct kag *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->last_error, sizeof(a->last_error), fmt, ap);
	va_end(ap);
	a->errors++;
	fprintf(stderr, "azds-controller: k8s: %s\n", a->last_error);
}

static void wake(struct kag *a)
{
	uint64_t one = 1;

	if (write(a->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop is awake anyway */
	}
}

/* ------------------------------------------------------------ summaries */

static json_t *sum_namespace(json_t *obj, char *key, size_t len)
{
	json_t *labels = jget(obj, "metadata", "labels");
	const char *name = jstr(jget(obj, "metadata", NULL), "name"), *sp, *parent;

	if (!name || (size_t)snprintf(key, len, "%s", name) >= len)
		return NULL;
	sp = jstr(labels, "azds.io/space");
	parent = jstr(labels, "azds.io/parent-space");
	return json_pack("{s:b, s:s?}", "space", sp && !strcmp(sp, "true"), "parent", parent && *parent ? parent : NULL);
}

static json_t *sum_service(json_t *obj, char *key, size_t len)
{
	json_t *md = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec"), *ports, *out, *p;
	const char *ns = jstr(md, "namespace"), *name = jstr(md, "name"), *ip = jstr(spec, "clusterIP");
	const char *kind = jstr(jget(md, "annotations", NULL), "azds.io/kind");
	size_t i;

	if (!ns || !name || (size_t)snprintf(key, len, "%s/%s", ns, name) >= len)
		return NULL;
	ports = json_array();
	json_array_foreach(json_object_get(spec, "ports"), i, p) {
		const char *proto = jstr(p, "protocol");
		json_t *tp = json_object_get(p, "targetPort");

		if (proto && strcmp(proto, "TCP"))
			continue;
		json_array_append_new(ports, json_pack("{s:s, s:I, s:O?, s:s?}", "name", jstr(p, "name") ?: "", "port",
						       json_integer_value(json_object_get(p, "port")), "tp",
						       tp ? tp : NULL, "app", jstr(p, "appProtocol")));
	}
	out = json_pack("{s:s, s:s, s:s?, s:s?, s:o}", "ns", ns, "name", name, "ip", ip, "kind", kind, "ports", ports);
	return out;
}

static json_t *sum_slice(json_t *obj, char *key, size_t len)
{
	json_t *md = json_object_get(obj, "metadata"), *ports, *addrs, *ep, *p, *a;
	const char *ns = jstr(md, "namespace"), *name = jstr(md, "name");
	const char *svc = jstr(json_object_get(md, "labels"), "kubernetes.io/service-name");
	const char *type = jstr(obj, "addressType");
	size_t i, j;

	if (!ns || !name || (size_t)snprintf(key, len, "%s/%s", ns, name) >= len)
		return NULL;
	ports = json_array();
	json_array_foreach(json_object_get(obj, "ports"), i, p) {
		const char *proto = jstr(p, "protocol");

		if (proto && strcmp(proto, "TCP"))
			continue;
		json_array_append_new(ports, json_pack("{s:s, s:I}", "name", jstr(p, "name") ?: "", "port",
						       json_integer_value(json_object_get(p, "port"))));
	}
	addrs = json_array();
	if (type && !strcmp(type, "IPv4")) {
		json_array_foreach(json_object_get(obj, "endpoints"), i, ep) {
			json_t *ready = jget(ep, "conditions", "ready");

			/* unknown readiness counts as ready (the API's own rule) */
			if (json_is_false(ready))
				continue;
			json_array_foreach(json_object_get(ep, "addresses"), j, a)
				if (json_is_string(a))
					json_array_append(addrs, a);
		}
	}
	return json_pack("{s:s, s:s?, s:o, s:o}", "ns", ns, "svc", svc, "ports", ports, "addrs", addrs);
}

static json_t *sum_pod(json_t *obj, char *key, size_t len)
{
	json_t *md = json_object_get(obj, "metadata"), *st = json_object_get(obj, "status");
	const char *ns = jstr(md, "namespace"), *name = jstr(md, "name");

	if (!ns || !name || (size_t)snprintf(key, len, "%s/%s", ns, name) >= len)
		return NULL;
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:b, s:b, s:s?}", "ns", ns, "name", name, "uid",
			 jstr(md, "uid"), "ip", jstr(st, "podIP"), "qos", jstr(st, "qosClass"), "phase", jstr(st, "phase"),
			 "deleting", json_object_get(md, "deletionTimestamp") != NULL, "host",
			 json_is_true(jget(obj, "spec", "hostNetwork")), "created", jstr(md, "creationTimestamp"));
}

static json_t *summarize(int kind, json_t *obj, char *key, size_t len)
{
	switch (kind) {
	case K_NS:
		return sum_namespace(obj, key, len);
	case K_SVC:
		return sum_service(obj, key, len);
	case K_EPS:
		return sum_slice(obj, key, len);
	default:
		return sum_pod(obj, key, len);
	}
}

/* ------------------------------------------------------------ informers */

static int on_begin(void *arg)
{
	struct kind_ctx *kc = arg;
	struct kag *a = kc->a;

	pthread_mutex_lock(&a->mu);
	json_decref(a->seen[kc->kind]);
	a->seen[kc->kind] = json_object();
	pthread_mutex_unlock(&a->mu);
	return 0;
}

static int on_object(enum azds_k8s_ev_type type, json_t *obj, void *arg)
{
	struct kind_ctx *kc = arg;
	struct kag *a = kc->a;
	char key[600];
	json_t *s = summarize(kc->kind, obj, key, sizeof(key));

	if (!s)
		return 0; /* not an object we can name: nothing to keep */
	pthread_mutex_lock(&a->mu);
	if (type == AZDS_K8S_DELETED) {
		json_object_del(a->tab[kc->kind], key);
		json_decref(s);
	} else {
		json_object_set_new(a->tab[kc->kind], key, s);
		if (a->seen[kc->kind])
			json_object_set_new(a->seen[kc->kind], key, json_true());
	}
	a->dirty = true;
	pthread_mutex_unlock(&a->mu);
	wake(a);
	return 0;
}

static int on_synced(void *arg)
{
	struct kind_ctx *kc = arg;
	struct kag *a = kc->a;
	const char *key;
	json_t *v, *seen;
	void *tmp;

	pthread_mutex_lock(&a->mu);
	seen = a->seen[kc->kind];
	if (seen) {
		/* what the list did not name is gone */
		json_object_foreach_safe(a->tab[kc->kind], tmp, key, v)
			if (!json_object_get(seen, key))
				json_object_del(a->tab[kc->kind], key);
		json_decref(seen);
		a->seen[kc->kind] = NULL;
	}
	if (!a->synced[kc->kind] && a->o.verbose)
		fprintf(stderr, "azds-controller: k8s: %s listed (%zu)\n", kind_name[kc->kind],
			json_object_size(a->tab[kc->kind]));
	a->synced[kc->kind] = true;
	a->dirty = true;
	pthread_mutex_unlock(&a->mu);
	wake(a);
	return 0;
}

static void on_retry(int err, const struct azds_k8s_err *e, long delay_ms, void *arg)
{
	struct kind_ctx *kc = arg;
	struct kag *a = kc->a;
	char msg[512];

	snprintf(msg, sizeof(msg), "%s: %.400s (retry in %ld ms)", kind_name[kc->kind],
		 e && e->msg[0] ? e->msg : strerror(-err), delay_ms);
	pthread_mutex_lock(&a->mu);
	/* the same failure again is not logged again */
	if (strcmp(a->last_retry[kc->kind], msg))
		fprintf(stderr, "azds-controller: k8s: watch %s\n", msg);
	snprintf(a->last_retry[kc->kind], sizeof(a->last_retry[kc->kind]), "%s", msg);
	pthread_mutex_unlock(&a->mu);
}

static void *informer_thread(void *arg)
{
	struct kind_ctx *kc = arg;
	struct azds_k8s_err e = {};
	int err = azds_k8s_informer_run(kc->a->inf[kc->kind], &e);

	if (err != -ECANCELED)
		fprintf(stderr, "azds-controller: k8s: %s informer ended: %s\n", kind_name[kc->kind],
			e.msg[0] ? e.msg : strerror(-err));
	return NULL;
}

/* ------------------------------------------------------------ the desired state */

/* a space's path from its namespace's labels: parent's path + "/" + name */
static int ns_path(struct kag *a, json_t *nstab, const char *ns, char *out, size_t len, unsigned depth)
{
	json_t *n = json_object_get(nstab, ns);
	const char *parent;
	char pp[AZDS_PATH_MAX];
	int err;

	if (!n || !json_is_true(json_object_get(n, "space")) || !strcmp(ns, "azds"))
		return -ENOENT;
	if (depth >= a->o.max_depth)
		return -ELOOP; /* too deep, or a cycle of parents */
	parent = jstr(n, "parent");
	if (!parent) {
		if ((size_t)snprintf(out, len, "%s", ns) >= len)
			return -ENAMETOOLONG;
		return 0;
	}
	err = ns_path(a, nstab, parent, pp, sizeof(pp), depth + 1);
	if (err)
		return err == -ENOENT ? -ENXIO : err;
	if ((size_t)snprintf(out, len, "%s/%s", pp, ns) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* namespace -> space path of every namespace that is a space */
static json_t *want_spaces(struct kag *a, json_t *problems)
{
	json_t *out = json_object(), *v;
	const char *ns;
	char path[AZDS_PATH_MAX];
	struct azds_err e;

	json_object_foreach(a->snap[K_NS], ns, v) {
		int err;

		if (!json_is_true(json_object_get(v, "space")))
			continue;
		err = ns_path(a, a->snap[K_NS], ns, path, sizeof(path), 0);
		if (!err && azds_space_path_valid(path, &e))
			err = -EINVAL;
		if (!err) {
			json_object_set_new(out, ns, json_string(path));
			continue;
		}
		json_object_set_new(problems, ns,
				    json_string(err == -ENXIO	     ? "its parent space (azds.io/parent-space) is no space"
						: err == -ELOOP	     ? "its parents are too deep, or a cycle"
						: !strcmp(ns, "azds") ? "the name azds is reserved"
								      : "its space path is not valid"));
	}
	return out;
}

static unsigned depth_of(const char *path)
{
	unsigned d = 0;

	for (; *path; path++)
		d += *path == '/';
	return d;
}

/* a service name's id: kept while the agent runs, read back from the maps on start */
static int name_id(struct kag *a, const char *name, __u32 *id)
{
	json_t *v = json_object_get(a->names, name), *x;
	const char *k;
	static unsigned char used[KAG_NAMES_MAX + 2];

	if (v) {
		*id = (__u32)json_integer_value(v);
		return 0;
	}
	if (json_object_size(a->names) >= KAG_NAMES_MAX)
		return -ENOSPC;
	memset(used, 0, sizeof(used));
	json_object_foreach(a->names, k, x) {
		json_int_t i = json_integer_value(x);

		if (i > 0 && i <= KAG_NAMES_MAX)
			used[i] = 1;
	}
	for (__u32 i = 1; i <= KAG_NAMES_MAX; i++)
		if (!used[i]) {
			json_object_set_new(a->names, name, json_integer(i));
			*id = i;
			return 0;
		}
	return -ENOSPC;
}

static void names_from_maps(struct kag *a)
{
	struct azds_vip_key key, next;
	struct azds_svc_key sk, snext;
	struct azds_service s;
	struct azds_vip v;
	void *cur = NULL;

	while (bpf_map_get_next_key(a->m.vips, cur, &next) == 0) {
		key = next;
		cur = &key;
		if (bpf_map_lookup_elem(a->m.vips, &key, &v) == 0 && v.name[0])
			json_object_set_new(a->names, v.name, json_integer(v.svc));
	}
	cur = NULL;
	while (bpf_map_get_next_key(a->m.services, cur, &snext) == 0) {
		sk = snext;
		cur = &sk;
		if (bpf_map_lookup_elem(a->m.services, &sk, &s) == 0 && s.name[0] && !json_object_get(a->names, s.name))
			json_object_set_new(a->names, s.name, json_integer(sk.svc));
	}
}

/* HTTP or plain TCP: annotation azds.io/kind, else appProtocol, else the
 * port's name (http, http-*), else the usual HTTP ports */
static __u32 port_kind(const char *annotation, json_t *port)
{
	const char *app = jstr(port, "app"), *name = jstr(port, "name");
	json_int_t n = json_integer_value(json_object_get(port, "port"));

	if (annotation && !strcmp(annotation, "http"))
		return AZDS_KIND_HTTP;
	if (annotation && !strcmp(annotation, "tcp"))
		return AZDS_KIND_TCP;
	if (app)
		return !strcmp(app, "http") ? AZDS_KIND_HTTP : AZDS_KIND_TCP;
	if (name && *name)
		return !strcmp(name, "http") || !strncmp(name, "http-", 5) ? AZDS_KIND_HTTP : AZDS_KIND_TCP;
	return n == 80 || n == 8080 || n == 8000 || n == 3000 || n == 5000 ? AZDS_KIND_HTTP : AZDS_KIND_TCP;
}

static int addr_cmp(const void *x, const void *y)
{
	__u32 a = ntohl(*(const __be32 *)x), b = ntohl(*(const __be32 *)y);

	return a < b ? -1 : a > b;
}

/* the target port and backends of service NAME in NS, from its slices */
static void slices_of(struct kag *a, const char *ns, const char *name, const char *port_name, json_t *tp,
		      json_int_t port, struct azds_backends *be)
{
	const char *key;
	json_t *sl, *p, *ad;
	size_t i;
	__u16 target = 0;

	static __be32 all[KAG_ENDPOINTS_MAX]; /* the main thread's alone */
	size_t n = 0;

	memset(be, 0, sizeof(*be));
	json_object_foreach(a->snap[K_EPS], key, sl) {
		const char *sns = jstr(sl, "ns"), *svc = jstr(sl, "svc");

		if (!sns || !svc || strcmp(sns, ns) || strcmp(svc, name))
			continue;
		json_array_foreach(json_object_get(sl, "ports"), i, p)
			if (!strcmp(jstr(p, "name") ?: "", port_name))
				target = (__u16)json_integer_value(json_object_get(p, "port"));
		json_array_foreach(json_object_get(sl, "addrs"), i, ad) {
			struct in_addr in;

			if (inet_pton(AF_INET, json_string_value(ad), &in) == 1 && n < KAG_ENDPOINTS_MAX)
				all[n++] = in.s_addr;
		}
	}
	if (!target)
		target = json_is_integer(tp) ? (__u16)json_integer_value(tp) : (__u16)port;
	be->target_port = target;
	/* sorted before the map's bound cuts: the same 32 whatever order
	 * the slices came in (a watch and a fresh list agree) */
	qsort(all, n, sizeof(all[0]), addr_cmp);
	for (size_t j = 0; j < n && be->count < AZDS_MAX_BACKENDS; j++)
		if (!be->count || be->addrs[be->count - 1] != all[j])
			be->addrs[be->count++] = all[j];
}

/* ------------------------------------------------------------ applying */

static int run_ip_batch(const char *cmds)
{
	int pfd[2], status;
	pid_t pid;
	size_t len = strlen(cmds), off = 0;

	if (!len)
		return 0;
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -errno;
	}
	if (pid == 0) {
		int dn = open("/dev/null", O_WRONLY);

		dup2(pfd[0], 0);
		if (dn >= 0)
			dup2(dn, 1);
		execlp("ip", "ip", "-force", "-batch", "-", (char *)NULL);
		_exit(127);
	}
	close(pfd[0]);
	while (off < len) {
		ssize_t n = write(pfd[1], cmds + off, len - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(pfd[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* our local routes now in the table (after a restart) */
static void routes_from_table(struct kag *a)
{
	FILE *f = popen("ip -4 -o route show table local proto " KAG_ROUTE_PROTO " 2>/dev/null", "re");
	char line[512], ip[64];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "local %63[0-9.]", ip) == 1)
			json_object_set_new(a->routes, ip, json_true());
	pclose(f);
}

static void sync_routes(struct kag *a, json_t *want)
{
	size_t cap = 4096, len = 0;
	char *cmds = malloc(cap);
	const char *ip;
	json_t *v;
	void *tmp;

	if (!cmds)
		return;
	cmds[0] = 0;
#define ADD_CMD(...)                                                                       \
	do {                                                                               \
		int n_ = snprintf(cmds + len, cap - len, __VA_ARGS__);                      \
		if (n_ > 0 && (size_t)n_ >= cap - len) {                                    \
			char *c2 = realloc(cmds, cap * 2 + (size_t)n_);                      \
			if (!c2)                                                            \
				break;                                                      \
			cmds = c2;                                                          \
			cap = cap * 2 + (size_t)n_;                                         \
			n_ = snprintf(cmds + len, cap - len, __VA_ARGS__);                   \
		}                                                                          \
		if (n_ > 0)                                                                \
			len += (size_t)n_;                                                 \
	} while (0)
	json_object_foreach(want, ip, v)
		if (!json_object_get(a->routes, ip))
			ADD_CMD("route replace local %s/32 dev lo table local proto " KAG_ROUTE_PROTO "\n", ip);
	json_object_foreach_safe(a->routes, tmp, ip, v)
		if (!json_object_get(want, ip))
			ADD_CMD("route del local %s/32 dev lo table local proto " KAG_ROUTE_PROTO "\n", ip);
#undef ADD_CMD
	if (len && run_ip_batch(cmds)) {
		/* what is there now, from the table: the next sync mends the rest */
		note_error(a, "local routes of the services' ClusterIPs: ip -batch failed");
		free(cmds);
		json_object_clear(a->routes);
		routes_from_table(a);
		a->pending = true;
		return;
	}
	free(cmds);
	json_object_clear(a->routes);
	json_object_update(a->routes, want);
}

/* the CNI plugin's records: address -> record (docs/cni.md) */
static json_t *cni_records(struct kag *a)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	json_t *out = json_object();
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%.128s/k8s/cni", a->in.run_dir);
	d = opendir(dir);
	if (!d)
		return out;
	while ((de = readdir(d)) && n < KAG_CNI_RECORDS_MAX) {
		json_t *r;
		struct stat st;
		const char *addr;

		if (de->d_name[0] == '.' || !strstr(de->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		r = json_load_file(path, 0, NULL);
		addr = jstr(r, "addr");
		if (addr && stat(path, &st) == 0) {
			json_object_set_new(r, "age", json_integer(time(NULL) - st.st_mtime));
			json_object_set(out, addr, r);
		}
		json_decref(r);
		n++;
	}
	closedir(d);
	return out;
}

/*
 * A pod's cgroup under the node's pod cgroup, in kubelet's two layouts:
 * cgroupfs  kubepods/[burstable/|besteffort/]pod<uid>
 * systemd   kubepods.slice/[kubepods-burstable.slice/]kubepods[-burstable]-pod<uid with _>.slice
 */
static void pod_cgroup_of(struct kag *a, json_t *pod, char *buf, size_t len)
{
	const char *qos = jstr(pod, "qos"), *uid = jstr(pod, "uid"), *root = a->o.pod_cgroup;
	const char *q = !qos || !strcmp(qos, "BestEffort") ? "besteffort" : !strcmp(qos, "Burstable") ? "burstable" : NULL;
	size_t rl;

	buf[0] = 0;
	if (!root || !uid || strlen(uid) > 64)
		return;
	rl = strlen(root);
	if (rl > 6 && !strcmp(root + rl - 6, ".slice")) {
		char u[72];
		size_t i;

		for (i = 0; uid[i] && i < sizeof(u) - 1; i++)
			u[i] = uid[i] == '-' ? '_' : uid[i];
		u[i] = 0;
		if (q)
			snprintf(buf, len, "%s/kubepods-%s.slice/kubepods-%s-pod%s.slice", root, q, q, u);
		else
			snprintf(buf, len, "%s/kubepods-pod%s.slice", root, u);
		return;
	}
	if (q)
		snprintf(buf, len, "%s/%s/pod%s", root, q, uid);
	else
		snprintf(buf, len, "%s/pod%s", root, uid);
}

struct sync_want {
	json_t *spaces;	  /* ns -> path */
	json_t *svc_keys; /* "space:svc" -> true */
	json_t *names;	  /* service names in use -> true */
	json_t *vips;	  /* "ip:port" -> true */
	json_t *routes;	  /* ip -> true */
	json_t *pods;	  /* addr -> true */
};

static void sync_spaces_add(struct kag *a, struct sync_want *w)
{
	const char *ns;
	json_t *p;
	struct azds_err e;

	for (unsigned d = 0; d < AZDS_DEPTH_HARD_MAX; d++)
		json_object_foreach(w->spaces, ns, p) {
			__u32 id;

			if (depth_of(json_string_value(p)) == d && azds_space_add(&a->m, json_string_value(p), &id, &e))
				note_error(a, "namespace %s: %s", ns, e.msg);
		}
}

static void sync_services(struct kag *a, struct sync_want *w)
{
	const char *key;
	json_t *svc;
	struct azds_err e;

	json_object_foreach(a->snap[K_SVC], key, svc) {
		const char *ns = jstr(svc, "ns"), *name = jstr(svc, "name"), *ip = jstr(svc, "ip");
		json_t *path = json_object_get(w->spaces, ns), *port = json_array_get(json_object_get(svc, "ports"), 0);
		struct azds_svc_key sk = {};
		struct azds_vip_key vk = {};
		struct azds_service s = {}, have;
		struct azds_backends be, hbe;
		struct azds_vip v = {}, hv;
		struct in_addr addr;
		char k2[64];
		__u32 kind;

		if (!path || !ip || !port || inet_pton(AF_INET, ip, &addr) != 1)
			continue; /* not in a space, headless, or no TCP port */
		if (azds_name_valid("service", name, &e))
			continue;
		if (azds_space_lookup(&a->m, json_string_value(path), &sk.space, NULL))
			continue; /* its space could not be made: said already */
		if (name_id(a, name, &sk.svc)) {
			note_error(a, "service %s: no free service id (%u names)", key, KAG_NAMES_MAX);
			continue;
		}
		kind = port_kind(jstr(svc, "kind"), port);
		slices_of(a, ns, name, jstr(port, "name"), json_object_get(port, "tp"),
			  json_integer_value(json_object_get(port, "port")), &be);
		s.addr = addr.s_addr;
		s.port = (__u16)json_integer_value(json_object_get(port, "port"));
		s.target_port = be.target_port;
		s.kind = kind;
		snprintf(s.name, sizeof(s.name), "%s", name);
		vk.addr = addr.s_addr;
		vk.port = htons(s.port);
		v.svc = sk.svc;
		v.kind = kind;
		snprintf(v.name, sizeof(v.name), "%s", name);
		/* backends first: a service is never seen without them */
		if ((bpf_map_lookup_elem(a->m.backends, &sk, &hbe) || memcmp(&hbe, &be, sizeof(be))) &&
		    bpf_map_update_elem(a->m.backends, &sk, &be, BPF_ANY)) {
			note_error(a, "service %s: backends map: %s", key, strerror(errno));
			continue;
		}
		if ((bpf_map_lookup_elem(a->m.services, &sk, &have) || memcmp(&have, &s, sizeof(s))) &&
		    bpf_map_update_elem(a->m.services, &sk, &s, BPF_ANY)) {
			note_error(a, "service %s: services map: %s%s", key, strerror(errno),
				   errno == E2BIG ? " (full: --max-services)" : "");
			continue;
		}
		if ((bpf_map_lookup_elem(a->m.vips, &vk, &hv) || memcmp(&hv, &v, sizeof(v))) &&
		    bpf_map_update_elem(a->m.vips, &vk, &v, BPF_ANY)) {
			note_error(a, "service %s: vips map: %s%s", key, strerror(errno),
				   errno == E2BIG ? " (full: --max-services)" : "");
			continue;
		}
		snprintf(k2, sizeof(k2), "%u:%u", sk.space, sk.svc);
		json_object_set_new(w->svc_keys, k2, json_true());
		json_object_set_new(w->names, name, json_true());
		snprintf(k2, sizeof(k2), "%s:%u", ip, s.port);
		json_object_set_new(w->vips, k2, json_true());
		if (kind == AZDS_KIND_HTTP)
			json_object_set_new(w->routes, ip, json_true());
	}
}

static void sync_pods(struct kag *a, struct sync_want *w, bool *pending)
{
	json_t *records = NULL, *pod, *byip = json_object();
	const char *key;
	struct azds_err e;

	/* one pod per address: a pod on the host's network has the node's
	 * (nothing to attach); of two with one address (a terminating pod
	 * whose address was handed out again) the live one, then the newer */
	json_object_foreach(a->snap[K_POD], key, pod) {
		const char *ip = jstr(pod, "ip"), *phase = jstr(pod, "phase");
		json_t *have;

		if (!ip || json_is_true(json_object_get(pod, "host")))
			continue;
		if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
			continue;
		have = json_object_get(byip, ip);
		if (have) {
			bool hd = json_is_true(json_object_get(have, "deleting")),
			     pd = json_is_true(json_object_get(pod, "deleting"));

			if (pd && !hd)
				continue;
			if (pd == hd && strcmp(jstr(pod, "created") ?: "", jstr(have, "created") ?: "") <= 0)
				continue;
		}
		json_object_set(byip, ip, pod);
	}
	json_object_foreach(byip, key, pod) {
		const char *ns = jstr(pod, "ns"), *ip = jstr(pod, "ip");
		json_t *path = json_object_get(w->spaces, ns), *att, *rec;
		char cg[PATH_MAX], ifname[16] = "";
		const char *paths;
		struct in_addr addr;
		struct azds_pod have;
		__u32 sid;
		__u64 cgid = 0;

		if (!path || !ip || inet_pton(AF_INET, ip, &addr) != 1)
			continue;
		paths = json_string_value(path);
		if (azds_space_lookup(&a->m, paths, &sid, NULL))
			continue;
		json_object_set_new(w->pods, ip, json_true());
		pod_cgroup_of(a, pod, cg, sizeof(cg));
		if (cg[0])
			cgid = azds_cgroup_id(cg);
		if (cg[0] && !cgid)
			*pending = true; /* kubelet makes it: try again */
		att = json_object_get(a->attached, ip);
		if (att && strcmp(jstr(att, "uid") ?: "", jstr(pod, "uid") ?: "")) {
			/* the address is another pod's now: its veth is another too */
			json_object_del(a->attached, ip);
			att = NULL;
		}
		if (att && !strcmp(jstr(att, "path") ?: "", paths) &&
		    (__u64)json_integer_value(json_object_get(att, "cg")) == cgid &&
		    bpf_map_lookup_elem(a->m.pods, &addr.s_addr, &have) == 0 && have.space == sid &&
		    have.cgroup_id == cgid)
			continue; /* as it should be */
		/* the interface: the one we used, else the CNI plugin's record,
		 * else a walk of the node's namespaces; a name that no longer
		 * works (a stale record) falls through to the next */
		{
			int err = -ENOENT;

			for (int way = 0; way < 3 && err; way++) {
				ifname[0] = 0;
				if (way == 0 && att && jstr(att, "if"))
					snprintf(ifname, sizeof(ifname), "%s", jstr(att, "if"));
				if (way == 1) {
					if (!records)
						records = cni_records(a);
					rec = json_object_get(records, ip);
					if (jstr(rec, "hostIf"))
						snprintf(ifname, sizeof(ifname), "%s", jstr(rec, "hostIf"));
				}
				if (way == 2 && azds_kpod_find_if(addr.s_addr, ifname, &e)) {
					note_error(a, "pod %s/%s (%s): no interface on this node yet: %s", ns,
						   jstr(pod, "name"), ip, e.msg);
					break;
				}
				if (!ifname[0])
					continue;
				err = azds_kpod_attach(&a->in, &a->m, ifname, addr.s_addr, paths, jstr(pod, "name"), cgid,
						       &e);
				if (err && way == 2)
					note_error(a, "pod %s/%s (%s): %s", ns, jstr(pod, "name"), ip, e.msg);
			}
			if (err) {
				*pending = true;
				json_object_del(a->attached, ip);
				continue;
			}
		}
		json_object_set_new(a->attached, ip, json_pack("{s:s, s:s, s:I, s:s}", "if", ifname, "path", paths, "cg",
								(json_int_t)cgid, "uid", jstr(pod, "uid") ?: ""));
	}
	/* pods map entries of no pod we want; one the CNI plugin attached
	 * moments ago (its pod not yet in our list) stays for a while */
	{
		__be32 key2, next;
		void *cur = NULL;
		char ip[INET_ADDRSTRLEN];
		__be32 gone[256];
		unsigned ngone = 0;

		while (bpf_map_get_next_key(a->m.pods, cur, &next) == 0 && ngone < 256) {
			json_t *rec;

			key2 = next;
			cur = &key2;
			inet_ntop(AF_INET, &key2, ip, sizeof(ip));
			if (json_object_get(w->pods, ip))
				continue;
			if (!records)
				records = cni_records(a);
			rec = json_object_get(records, ip);
			if (rec && json_object_get(w->spaces, jstr(rec, "namespace") ?: "") &&
			    json_integer_value(json_object_get(rec, "age")) < KAG_STALE_RECORD_S) {
				*pending = true;
				continue;
			}
			gone[ngone++] = key2;
		}
		if (ngone == 256)
			*pending = true; /* more next time */
		for (unsigned i = 0; i < ngone; i++) {
			json_t *att;

			inet_ntop(AF_INET, &gone[i], ip, sizeof(ip));
			att = json_object_get(a->attached, ip);
			if (azds_kpod_detach(&a->in, &a->m, att ? jstr(att, "if") : NULL, gone[i], &e))
				note_error(a, "pod at %s: detach: %s", ip, e.msg);
			json_object_del(a->attached, ip);
		}
	}
	json_decref(records);
	json_decref(byip);
}

static void sync_remove_stale(struct kag *a, struct sync_want *w)
{
	struct azds_svc_key sk, snext;
	struct azds_vip_key vk, vnext;
	struct azds_space sp;
	struct azds_err e;
	void *cur = NULL;
	char k2[64], ip[INET_ADDRSTRLEN];
	json_t *paths = json_object(), *p;
	const char *ns;

	{
		struct azds_svc_key del[512];
		unsigned n = 0;

		while (bpf_map_get_next_key(a->m.services, cur, &snext) == 0 && n < 512) {
			sk = snext;
			cur = &sk;
			snprintf(k2, sizeof(k2), "%u:%u", sk.space, sk.svc);
			if (!json_object_get(w->svc_keys, k2))
				del[n++] = sk;
		}
		for (unsigned i = 0; i < n; i++) {
			bpf_map_delete_elem(a->m.backends, &del[i]);
			bpf_map_delete_elem(a->m.services, &del[i]);
		}
		if (n == 512)
			a->pending = true;
	}
	{
		struct azds_vip_key del[512];
		unsigned n = 0;

		cur = NULL;
		while (bpf_map_get_next_key(a->m.vips, cur, &vnext) == 0 && n < 512) {
			vk = vnext;
			cur = &vk;
			inet_ntop(AF_INET, &vk.addr, ip, sizeof(ip));
			snprintf(k2, sizeof(k2), "%s:%u", ip, ntohs(vk.port));
			if (!json_object_get(w->vips, k2))
				del[n++] = vk;
		}
		for (unsigned i = 0; i < n; i++)
			bpf_map_delete_elem(a->m.vips, &del[i]);
		if (n == 512)
			a->pending = true;
	}
	/* backends without a service (a crash between the two writes) */
	{
		struct azds_svc_key del[512];
		struct azds_service s;
		unsigned n = 0;

		cur = NULL;
		while (bpf_map_get_next_key(a->m.backends, cur, &snext) == 0 && n < 512) {
			sk = snext;
			cur = &sk;
			if (bpf_map_lookup_elem(a->m.services, &sk, &s))
				del[n++] = sk;
		}
		for (unsigned i = 0; i < n; i++)
			bpf_map_delete_elem(a->m.backends, &del[i]);
	}
	/* spaces, deepest first */
	json_object_foreach(w->spaces, ns, p)
		json_object_set_new(paths, json_string_value(p), json_true());
	{
		/* one pass over the keys, then deepest first */
		json_t *stale = json_array(), *x;
		__u32 key, next;
		size_t i;

		cur = NULL;
		while (bpf_map_get_next_key(a->m.spaces, cur, &next) == 0) {
			key = next;
			cur = &key;
			if (bpf_map_lookup_elem(a->m.spaces, &key, &sp) == 0 && !json_object_get(paths, sp.path))
				json_array_append_new(stale, json_pack("{s:s, s:i}", "p", sp.path, "d", (int)sp.depth));
		}
		for (int d = AZDS_DEPTH_HARD_MAX - 1; d >= 0; d--)
			json_array_foreach(stale, i, x)
				if (json_integer_value(json_object_get(x, "d")) == d &&
				    azds_space_remove_k8s(&a->m, jstr(x, "p"), &e) && !strstr(e.msg, "does not exist"))
					note_error(a, "space %s: remove: %s", jstr(x, "p"), e.msg);
		json_decref(stale);
	}
	json_decref(paths);
}

/* /run/azds/INST/k8s/spaces/<namespace>: the CNI plugin's view */
static void publish_spaces(struct kag *a, json_t *spaces)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], have[AZDS_PATH_MAX + 2], want[AZDS_PATH_MAX + 2];
	struct dirent *de;
	const char *ns;
	json_t *p;
	DIR *d;

	snprintf(dir, sizeof(dir), "%.128s/k8s/spaces", a->in.run_dir);
	azds_mkdir_p(dir, 0755);
	json_object_foreach(spaces, ns, p) {
		snprintf(path, sizeof(path), "%s/%s", dir, ns);
		snprintf(want, sizeof(want), "%s\n", json_string_value(p));
		if (azds_read_str(path, have, sizeof(have)) < 0 || strcmp(have, want))
			azds_write_file(path, want);
	}
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !json_object_get(spaces, de->d_name)) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	closedir(d);
}

static void write_status(struct kag *a)
{
	json_t *problems = a->problems ? a->problems : json_object();

	char path[PATH_MAX], *text;
	json_t *st, *retry = json_object();

	for (int i = 0; i < K_N; i++)
		if (a->last_retry[i][0])
			json_object_set_new(retry, kind_name[i], json_string(a->last_retry[i]));
	st = json_pack("{s:s, s:s, s:s, s:b, s:s, s:b, s:I, s:I, s:f, s:s, s:O, s:o, s:{s:I, s:I, s:I, s:I}}", "node",
		       a->o.node, "leader_why", a->lease_why, "webhook", a->wh ? a->wh_url : "", "leader", a->leader,
		       "instance", a->in.name, "synced", a->synced[0] && a->synced[1] && a->synced[2] && a->synced[3],
		       "syncs", (json_int_t)a->syncs, "errors", (json_int_t)a->errors, "last_sync_ms", a->last_sync_ms,
		       "last_error", a->last_error, "problems", problems, "watch_retries", retry, "objects", "namespaces",
		       (json_int_t)json_object_size(a->tab[K_NS]), "services", (json_int_t)json_object_size(a->tab[K_SVC]),
		       "endpointslices", (json_int_t)json_object_size(a->tab[K_EPS]), "pods",
		       (json_int_t)json_object_size(a->tab[K_POD]));
	if (!a->problems)
		json_decref(problems);
	text = st ? json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (text) {
		snprintf(path, sizeof(path), "%.128s/k8s/status.json", a->in.run_dir);
		azds_write_file(path, text);
	}
	free(text);
	json_decref(st);
}

/* ids of names no Service has any more are free again, once the stale
 * entries that used them are gone (not while removal is cut short) */
static void names_prune(struct kag *a, struct sync_want *w)
{
	const char *name;
	json_t *v;
	void *tmp;

	if (a->pending)
		return;
	json_object_foreach_safe(a->names, tmp, name, v)
		if (!json_object_get(w->names, name))
			json_object_del(a->names, name);
}

static void sync_all(struct kag *a)
{
	struct sync_want w = {};
	json_t *problems = json_object();
	int64_t t0 = now_ms();
	struct timespec ts0, ts1;
	bool pending = false;

	clock_gettime(CLOCK_MONOTONIC, &ts0);
	/* the summaries as they are now; the lock is not held across the
	 * node's slow work (netlink, namespace walks, CNI records), which
	 * the informers and the webhook's space lookups would wait for */
	pthread_mutex_lock(&a->mu);
	a->dirty = false;
	for (int k = 0; k < K_N; k++)
		a->snap[k] = json_copy(a->tab[k]);
	pthread_mutex_unlock(&a->mu);
	w.spaces = want_spaces(a, problems);
	w.svc_keys = json_object();
	w.names = json_object();
	w.vips = json_object();
	w.routes = json_object();
	w.pods = json_object();
	a->pending = false;
	sync_spaces_add(a, &w);
	sync_services(a, &w);
	sync_pods(a, &w, &pending);
	sync_remove_stale(a, &w);
	names_prune(a, &w);
	if (a->full) {
		/* routes someone removed by hand come back */
		json_object_clear(a->routes);
		routes_from_table(a);
		a->full = false;
	}
	for (int k = 0; k < K_N; k++) {
		json_decref(a->snap[k]);
		a->snap[k] = NULL;
	}
	sync_routes(a, w.routes);
	publish_spaces(a, w.spaces);
	azds_gen_bump(&a->m);
	a->pending |= pending;
	a->syncs++;
	clock_gettime(CLOCK_MONOTONIC, &ts1);
	a->last_sync_ms = (double)(ts1.tv_sec - ts0.tv_sec) * 1e3 + (double)(ts1.tv_nsec - ts0.tv_nsec) / 1e6;
	a->last_sync_at = t0;
	pthread_mutex_lock(&a->mu);
	json_decref(a->problems);
	a->problems = json_incref(problems);
	write_status(a);
	pthread_mutex_unlock(&a->mu);
	json_decref(w.spaces);
	json_decref(w.svc_keys);
	json_decref(w.names);
	json_decref(w.vips);
	json_decref(w.routes);
	json_decref(w.pods);
	json_decref(problems);
}

/* ------------------------------------------------------------ leader election */

/*
 * One agent leads: it serves the admission webhook and registers it. The
 * Lease azds/azds-leader says who (coordination.k8s.io/v1, as client-go's
 * leader election does): its holder renews it every tick; another agent
 * takes it once its holder and renewTime have not changed for the lease's
 * duration by this agent's own clock (no comparison of clocks across
 * nodes). Every write carries the resourceVersion read, so two agents
 * taking over at once cannot both win: the second gets 409.
 */
static void status_now(struct kag *a)
{
	pthread_mutex_lock(&a->mu);
	write_status(a);
	pthread_mutex_unlock(&a->mu);
}

static void micro_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

static int space_of_cb(void *arg, const char *ns, char *path, size_t len)
{
	struct kag *a = arg;
	int err;

	pthread_mutex_lock(&a->mu);
	err = ns_path(a, a->tab[K_NS], ns, path, len, 0);
	pthread_mutex_unlock(&a->mu);
	return err ? -ENOENT : 0;
}

static void wh_log(void *arg, const char *line)
{
	struct kag *a = arg;

	if (a->o.verbose)
		fprintf(stderr, "azds-controller: webhook: %s\n", line);
}

static void wh_ca_changed(void *arg, const char *bundle)
{
	struct kag *a = arg;
	struct azds_err e;

	/* the server thread: this client is the main thread's, but a
	 * struct azds_k8s serializes its requests itself */
	if (webhook_register(a->lk, KAG_WEBHOOK_NAME, a->wh_url, NULL, NULL, 0, bundle, &e))
		fprintf(stderr, "azds-controller: webhook: register after the CA rotated: %s\n", e.msg);
}

/* this node's InternalIP, for the webhook's URL and certificate */
static int node_ip(struct kag *a)
{
	struct azds_k8s_err ke = {};
	json_t *node = NULL, *ad;
	size_t i;
	int err;

	if (a->o.webhook_addr) {
		snprintf(a->node_ip, sizeof(a->node_ip), "%s", a->o.webhook_addr);
		return 0;
	}
	{
		char path[600];

		snprintf(path, sizeof(path), "/api/v1/nodes/%s", a->o.node);
		err = azds_k8s_request(a->lk, "GET", path, NULL, NULL, &node, &ke);
	}
	if (err) {
		snprintf(a->lease_why, sizeof(a->lease_why), "node %s: %.200s", a->o.node, ke.msg);
		return err;
	}
	json_array_foreach(jget(node, "status", "addresses"), i, ad) {
		const char *t = jstr(ad, "type"), *v = jstr(ad, "address");

		if (t && v && !strcmp(t, "InternalIP") && strchr(v, '.')) {
			snprintf(a->node_ip, sizeof(a->node_ip), "%s", v);
			break;
		}
	}
	json_decref(node);
	if (!a->node_ip[0]) {
		snprintf(a->lease_why, sizeof(a->lease_why), "node %s has no IPv4 InternalIP (give --webhook-addr)",
			 a->o.node);
		return -ENOENT;
	}
	return 0;
}

static void lease_release(struct kag *a);

/* the webhook up and registered; 0, or -errno with the reason logged once */
static int serve_webhook(struct kag *a)
{
	struct webhook_opts wo = {};
	struct azds_err e;
	char state[PATH_MAX], *bundle;
	const char *ips[2] = { NULL, NULL };
	const char *dns[] = { "azds-webhook.azds.svc", NULL };
	int err;

	if (!a->node_ip[0] && (err = node_ip(a)) != 0) {
		fprintf(stderr, "azds-controller: webhook: not served yet: %s\n", a->lease_why);
		return err;
	}
	if (!a->wh) {
		snprintf(state, sizeof(state), "/var/lib/azds/%.32s/webhook", a->in.name);
		azds_mkdir_p(state, 0700);
		ips[0] = a->node_ip;
		wo.port = (int)a->o.webhook_port;
		wo.state_dir = state;
		wo.dns = dns;
		wo.ips = ips;
		wo.cluster_domain = a->o.cluster_domain;
		wo.space_of = space_of_cb;
		wo.space_arg = a;
		wo.ca_changed = wh_ca_changed;
		wo.ca_arg = a;
		wo.log = wh_log;
		wo.log_arg = a;
		err = webhook_start(&a->wh, &wo, &e);
		if (err) {
			fprintf(stderr, "azds-controller: webhook: %s\n", e.msg);
			a->wh = NULL;
			return err;
		}
		snprintf(a->wh_url, sizeof(a->wh_url), "https://%s:%d%s", a->node_ip, webhook_port(a->wh), WEBHOOK_PATH);
	}
	bundle = webhook_ca_bundle(a->wh);
	err = bundle ? webhook_register(a->lk, KAG_WEBHOOK_NAME, a->wh_url, NULL, NULL, 0, bundle, &e) : -ENOMEM;
	free(bundle);
	if (err) {
		fprintf(stderr, "azds-controller: webhook: register %s: %s\n", a->wh_url, e.msg);
		return err;
	}
	a->wh_registered = true;
	fprintf(stderr, "azds-controller: webhook: serving %s\n", a->wh_url);
	status_now(a);
	return 0;
}

static void lead(struct kag *a)
{
	a->leader = true;
	a->wh_registered = false;
	a->wh_failures = 0;
	status_now(a);
	fprintf(stderr, "azds-controller: k8s: node %s leads (Lease %s/%s)\n", a->o.node, KAG_LEASE_NS, KAG_LEASE_NAME);
}

/* a leader serves the webhook; one that cannot, again and again, lets
 * another agent lead rather than hold the lease with nothing served */
static void leader_duties(struct kag *a)
{
	if (!a->leader || !a->o.webhook_port || a->wh_registered)
		return;
	if (serve_webhook(a) == 0) {
		a->wh_failures = 0;
		return;
	}
	if (++a->wh_failures >= KAG_WEBHOOK_TRIES) {
		fprintf(stderr, "azds-controller: webhook: %d tries failed: handing the lease over\n", a->wh_failures);
		lease_release(a);
		a->lease_cooldown = now_ms() + 2 * KAG_LEASE_S * 1000;
	}
}

static void follow(struct kag *a)
{
	if (!a->leader)
		return;
	a->leader = false;
	fprintf(stderr, "azds-controller: k8s: node %s no longer leads\n", a->o.node);
	if (a->wh) {
		webhook_stop(a->wh);
		a->wh = NULL;
	}
	a->wh_registered = false;
	status_now(a);
}

/* write the lease with us as holder; 0, or -EAGAIN when someone else won */
static int lease_write(struct kag *a, json_t *old, bool take)
{
	struct azds_k8s_err ke = {};
	char now[96], path[300];
	json_t *body, *out = NULL, *spec;
	json_int_t transitions = json_integer_value(jget(old, "spec", "leaseTransitions"));
	int err;

	micro_now(now, sizeof(now));
	if (old) {
		body = json_deep_copy(old);
		spec = json_object_get(body, "spec");
		if (!spec) {
			spec = json_object();
			json_object_set_new(body, "spec", spec);
		}
	} else {
		body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{}}", "apiVersion", "coordination.k8s.io/v1", "kind", "Lease",
				 "metadata", "name", KAG_LEASE_NAME, "namespace", KAG_LEASE_NS, "spec");
		spec = json_object_get(body, "spec");
	}
	json_object_set_new(spec, "holderIdentity", json_string(a->o.node));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(KAG_LEASE_S));
	json_object_set_new(spec, "renewTime", json_string(now));
	if (take || !old) {
		json_object_set_new(spec, "acquireTime", json_string(now));
		json_object_set_new(spec, "leaseTransitions", json_integer(old ? transitions + 1 : 0));
	}
	if (old) {
		err = azds_k8s_path(path, sizeof(path), &azds_k8s_leases, KAG_LEASE_NS, KAG_LEASE_NAME, NULL);
		if (!err)
			err = azds_k8s_request(a->lk, "PUT", path, NULL, body, &out, &ke);
	} else {
		err = azds_k8s_create(a->lk, &azds_k8s_leases, KAG_LEASE_NS, body, &out, &ke);
	}
	json_decref(body);
	json_decref(out);
	if (err == -EAGAIN || err == -EEXIST)
		return -EAGAIN;
	if (err)
		snprintf(a->lease_why, sizeof(a->lease_why), "Lease %s/%s: %.200s", KAG_LEASE_NS, KAG_LEASE_NAME, ke.msg);
	return err;
}

static void lease_tick(struct kag *a)
{
	struct azds_k8s_err ke = {};
	json_t *l = NULL;
	const char *holder, *renew;
	char seen[128];
	int64_t now = now_ms();
	bool may_take;
	int err;

	if (now < a->lease_next)
		return;
	a->lease_next = now + KAG_LEASE_TICK_MS;
	/* a leader that could not renew for most of the lease's life steps
	 * down before the others may take over, whatever the next request
	 * does (it may take its whole timeout) */
	if (a->leader && now - a->lease_renewed > (KAG_LEASE_S - 5) * 1000)
		follow(a);
	may_take = now >= a->lease_cooldown;
	err = azds_k8s_get(a->lk, &azds_k8s_leases, KAG_LEASE_NS, KAG_LEASE_NAME, &l, &ke);
	if (err == -ENOENT) {
		err = may_take ? lease_write(a, NULL, true) : -EAGAIN;
		if (!err) {
			a->lease_why[0] = 0;
			a->lease_renewed = now;
			lead(a);
		} else {
			if (err == -ENOENT)
				/* creating it names what is missing: the namespace */
				snprintf(a->lease_why, sizeof(a->lease_why),
					 "no namespace %s (azds controller install makes it)", KAG_LEASE_NS);
			follow(a);
		}
		goto out;
	}
	if (err) {
		snprintf(a->lease_why, sizeof(a->lease_why), "Lease: %.200s", ke.msg);
		goto out;
	}
	holder = jstr(json_object_get(l, "spec"), "holderIdentity") ?: "";
	renew = jstr(json_object_get(l, "spec"), "renewTime") ?: "";
	snprintf(seen, sizeof(seen), "%.60s %.60s", holder, renew);
	if (strcmp(seen, a->lease_seen)) {
		snprintf(a->lease_seen, sizeof(a->lease_seen), "%s", seen);
		a->lease_seen_at = now;
	}
	if (!strcmp(holder, a->o.node)) {
		if (lease_write(a, l, false) == 0) {
			a->lease_seen_at = now;
			a->lease_renewed = now;
			if (!a->leader)
				lead(a);
		} else {
			follow(a);
		}
	} else if (may_take && (!*holder || now - a->lease_seen_at >= KAG_LEASE_S * 1000)) {
		if (lease_write(a, l, true) == 0) {
			a->lease_seen_at = now;
			a->lease_renewed = now;
			lead(a);
		} else {
			follow(a);
		}
	} else {
		follow(a);
	}
out:
	json_decref(l);
	leader_duties(a);
}

/* on SIGTERM: hand the lease over at once (an empty holder) */
static void lease_release(struct kag *a)
{
	struct azds_k8s_err ke = {};
	json_t *l = NULL, *spec;
	char path[300];

	if (!a->leader)
		return;
	follow(a);
	if (azds_k8s_get(a->lk, &azds_k8s_leases, KAG_LEASE_NS, KAG_LEASE_NAME, &l, &ke))
		return;
	spec = json_object_get(l, "spec");
	if (spec && !strcmp(jstr(spec, "holderIdentity") ?: "", a->o.node)) {
		json_object_set_new(spec, "holderIdentity", json_string(""));
		if (!azds_k8s_path(path, sizeof(path), &azds_k8s_leases, KAG_LEASE_NS, KAG_LEASE_NAME, NULL))
			azds_k8s_request(a->lk, "PUT", path, NULL, l, NULL, &ke);
	}
	json_decref(l);
}

/* ------------------------------------------------------------ the daemon */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: azds-controller [-i INSTANCE] run --kubeconfig FILE --node NAME [options]\n\n"
		"INSTANCE defaults to the node name's letters and digits (the first 12, lower case).\n"
		"The Kubernetes mode's node agent (docs/kubernetes.md): one per node, in the node's own\n"
		"network namespace. Spaces are namespaces labelled azds.io/space=true (parent:\n"
		"azds.io/parent-space); the agent keeps this node's data plane exactly as the API server says.\n"
		"  --kubeconfig FILE   the cluster (default: $KUBECONFIG, else in-cluster, else ~/.kube/config)\n"
		"  --context NAME      kubeconfig context (default: its current-context)\n"
		"  --node NAME         this node's name (default: $NODE_NAME)\n"
		"  --pod-cgroup DIR    the cgroup v2 directory holding every pod of the node, kubelet's\n"
		"                      cgroupfs (kubepods) or systemd (kubepods.slice) layout (default: in a\n"
		"                      pod, that ancestor of its own; else <cgroup2>/kubepods[.slice])\n"
		"  --cni-bin-dir DIR   where azds-cni is installed (default /opt/cni/bin)\n"
		"  --cni-conf-dir DIR  whose first conflist gets azds-cni (default /etc/cni/net.d)\n"
		"  --no-cni-install    leave the CNI configuration alone\n"
		"  --workers N         router event loops (default: one per CPU)\n"
		"  --max-depth N       levels of a space path (default %u)\n"
		"  --webhook-port N    the admission webhook's port, served by the leader (default 9443,\n"
		"                      0: none); registered as https://<node InternalIP>:N/mutate\n"
		"  --webhook-addr IP   the address to register instead of the node's InternalIP\n"
		"  --cluster-domain D  the cluster's DNS domain, for the webhook's search list\n"
		"                      (default cluster.local)\n"
		"  --no-router         no HTTP router (kernel balancing only; for tests)\n"
		"  -v, --verbose\n"
		"SIGTERM stops the agent; the data plane, router and attached pods keep serving.\n"
		"`azds-controller -i INSTANCE purge` removes them.\n",
		AZDS_DEPTH_DEFAULT);
}

bool k8s_agent_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--kubeconfig") || !strcmp(argv[i], "--node"))
			return true;
	return false;
}

static int parse(struct kag_opts *o, int argc, char **argv)
{
	o->max_depth = AZDS_DEPTH_DEFAULT;
	o->cni_bin_dir = "/opt/cni/bin";
	o->cni_conf_dir = "/etc/cni/net.d";
	o->node = getenv("NODE_NAME");
	o->webhook_port = 9443;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		} else if (!strcmp(a, "--no-cni-install")) {
			o->no_cni_install = true, takes = false;
		} else if (!strcmp(a, "--no-router")) {
			o->no_router = true, takes = false;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			o->verbose = true, takes = false;
		} else if (!v) {
			fprintf(stderr, "azds-controller: run: %s needs a value (see --help)\n", a);
			return 2;
		} else if (!strcmp(a, "--kubeconfig")) {
			o->kubeconfig = v;
		} else if (!strcmp(a, "--context")) {
			o->context = v;
		} else if (!strcmp(a, "--node")) {
			o->node = v;
		} else if (!strcmp(a, "--pod-cgroup")) {
			o->pod_cgroup = v;
		} else if (!strcmp(a, "--cni-bin-dir")) {
			o->cni_bin_dir = v;
		} else if (!strcmp(a, "--cni-conf-dir")) {
			o->cni_conf_dir = v;
		} else if (!strcmp(a, "--webhook-addr")) {
			struct in_addr ia;

			if (inet_pton(AF_INET, v, &ia) != 1) {
				fprintf(stderr, "azds-controller: run: --webhook-addr \"%s\": an IPv4 address\n", v);
				return 2;
			}
			o->webhook_addr = v;
		} else if (!strcmp(a, "--cluster-domain")) {
			o->cluster_domain = v;
		} else if (!strcmp(a, "--webhook-port")) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			if (*end || !*v || n > 65535) {
				fprintf(stderr, "azds-controller: run: --webhook-port \"%s\": 0-65535\n", v);
				return 2;
			}
			o->webhook_port = (unsigned)n;
		} else if (!strcmp(a, "--workers") || !strcmp(a, "--max-depth")) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			if (*end || !*v || n > (a[2] == 'w' ? ROUTERD_MAX_WORKERS : AZDS_DEPTH_HARD_MAX) ||
			    (a[2] == 'm' && n == 0)) {
				fprintf(stderr, "azds-controller: run: %s \"%s\": a number, at most %u\n", a, v,
					a[2] == 'w' ? ROUTERD_MAX_WORKERS : AZDS_DEPTH_HARD_MAX);
				return 2;
			}
			if (a[2] == 'w')
				o->workers = (unsigned)n;
			else
				o->max_depth = (unsigned)n;
		} else {
			fprintf(stderr, "azds-controller: run: unknown argument \"%s\" in the Kubernetes mode (see --help)\n",
				a);
			return 2;
		}
		if (takes)
			i++;
	}
	if (!o->node || !*o->node) {
		fprintf(stderr, "azds-controller: run: --node NAME (or $NODE_NAME) is needed in the Kubernetes mode\n");
		return 2;
	}
	return 0;
}

static int start_informers(struct kag *a)
{
	static const struct azds_k8s_informer_ops ops = {
		.begin = on_begin, .object = on_object, .synced = on_synced, .retry = on_retry
	};
	char fsel[400];

	snprintf(fsel, sizeof(fsel), "spec.nodeName=%s", a->o.node);
	for (int i = 0; i < K_N; i++) {
		const struct azds_k8s_res *r = i == K_NS ? &azds_k8s_namespaces : i == K_SVC ? &azds_k8s_services
					     : i == K_EPS ? &azds_k8s_endpointslices
							  : &azds_k8s_pods;
		struct azds_k8s_informer_opts io = { .watch_timeout_s = 240, .max_items = 200000 };
		struct azds_k8s_err e = {};

		if (i == K_NS)
			io.label_selector = "azds.io/space=true";
		if (i == K_POD)
			io.field_selector = fsel;
		a->kc[i].a = a;
		a->kc[i].kind = i;
		if (azds_k8s_new(&a->k[i], &a->cfg, &e) ||
		    azds_k8s_informer_new(&a->inf[i], a->k[i], r, NULL, &io, &ops, &a->kc[i], &e)) {
			fprintf(stderr, "azds-controller: k8s: %s: %s\n", kind_name[i], e.msg);
			return -EINVAL;
		}
		if (pthread_create(&a->th[i], NULL, informer_thread, &a->kc[i]))
			return -errno;
		a->th_started[i] = true;
	}
	return 0;
}

static void on_unit(void *ctx, const char *name, const struct sup_status *st)
{
	(void)ctx;
	(void)name;
	(void)st;
}

/* in a pod (the DaemonSet): the kubepods (or kubepods.slice) ancestor of
 * our own cgroup v2 path ("0::/<root>/kubepods/burstable/pod<uid>/<ctr>");
 * else <cgroup2>/kubepods.slice when there is one, else <cgroup2>/kubepods */
static const char *default_pod_cgroup(void)
{
	static char def[600];
	char self[512] = "", cg[256], *kp;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (f) {
		char line[600];

		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "0::", 3)) {
				line[strcspn(line, "\n")] = 0;
				snprintf(self, sizeof(self), "%.500s", line + 3);
			}
		fclose(f);
	}
	if (azds_cgroup2_root(cg, sizeof(cg)))
		return NULL;
	/* cgroupfs driver: .../kubepods/..., systemd: .../kubepods.slice/... */
	if ((kp = strstr(self, "/kubepods.slice")) && (kp[15] == '/' || !kp[15]))
		snprintf(def, sizeof(def), "%s%.*s", cg, (int)(kp + 15 - self), self);
	else if ((kp = strstr(self, "/kubepods")) && (kp[9] == '/' || !kp[9]))
		snprintf(def, sizeof(def), "%s%.*s", cg, (int)(kp + 9 - self), self);
	else {
		snprintf(def, sizeof(def), "%s/kubepods.slice", cg);
		if (access(def, F_OK))
			snprintf(def, sizeof(def), "%s/kubepods", cg);
	}
	return def;
}

static int node_up(struct kag *a)
{
	struct azds_dp_opts o;
	struct azds_config cfg;
	struct azds_err e;
	int err;

	err = azds_ensure_bpffs();
	if (err) {
		fprintf(stderr, "azds-controller: bpffs at /sys/fs/bpf: %s\n", strerror(-err));
		return err;
	}
	azds_dp_default_opts(&o, a->in.pin_dir);
	o.cfg.max_depth = a->o.max_depth;
	/* sockmap: not in this mode yet (docs/kubernetes.md), nor its splice guard */
	o.override |= AZDS_OVR_DEPTH | AZDS_OVR_NO_SOCKMAP | AZDS_OVR_NO_GUARD;
	o.verbose = a->o.verbose;
	err = azds_dp_load(&o);
	if (err) {
		fprintf(stderr, "azds-controller: load data plane into %s: %s\n", a->in.pin_dir, strerror(-err));
		return err;
	}
	err = azds_maps_open(&a->in, &a->m, &e);
	if (err) {
		fprintf(stderr, "azds-controller: %s\n", e.msg);
		return err;
	}
	if (azds_config_get(&a->m, &cfg) == 0) {
		cfg.flags &= ~AZDS_CFG_SOCKMAP;
		cfg.max_depth = a->o.max_depth;
		azds_config_set(&a->m, &cfg);
	}
	if (!a->o.pod_cgroup)
		a->o.pod_cgroup = default_pod_cgroup();
	if (!a->o.pod_cgroup || access(a->o.pod_cgroup, F_OK)) {
		fprintf(stderr, "azds-controller: the pods' cgroup %s does not exist (--pod-cgroup)\n",
			a->o.pod_cgroup ? a->o.pod_cgroup : "(no cgroup v2 hierarchy)");
		return -ENOENT;
	}
	err = azds_knode_up(&a->in, a->o.pod_cgroup, &e);
	if (err) {
		fprintf(stderr, "azds-controller: %s\n", e.msg);
		return err;
	}
	return 0;
}

/* one instance per node: named after it unless -i says otherwise (nodes
 * that share a host, as the test harness's do, share its bpffs and /run/azds) */
static int node_instance(struct azds_inst *in, const char *node, struct azds_err *e)
{
	const char *inst = getenv("AZDS_INSTANCE");
	char derived[16];
	size_t n = 0;

	for (const char *c = node; c && *c && n < 12; c++)
		if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9'))
			derived[n++] = *c;
		else if (*c >= 'A' && *c <= 'Z')
			derived[n++] = (char)(*c - 'A' + 'a');
	derived[n] = 0;
	if (!inst || !*inst)
		inst = n ? derived : NULL;
	if (azds_inst_init(in, inst, e))
		return -EINVAL;
	in->node_ns[0] = 0;
	return 0;
}

int k8s_agent_main(int argc, char **argv, const char *self_exe, const char *bin_dir)
{
	static struct kag A;
	struct kag *a = &A;
	struct azds_k8s_err ke = {};
	struct azds_err e;
	char path[PATH_MAX];
	sigset_t mask;
	int err, sigfd, epfd, lockfd;

	err = parse(&a->o, argc, argv);
	if (err)
		return err == 1 ? 0 : err;
	if (geteuid() != 0) {
		fprintf(stderr, "azds-controller: must run as root\n");
		return 1;
	}
	snprintf(a->self_exe, sizeof(a->self_exe), "%s", self_exe);
	snprintf(a->bin_dir, sizeof(a->bin_dir), "%s", bin_dir);
	if (node_instance(&a->in, a->o.node, &e)) {
		fprintf(stderr, "azds-controller: %s\n", e.msg);
		return 2;
	}
	a->in.node_ns[0] = 0; /* the node is the namespace we run in */
	if (azds_k8s_config_auto(&a->cfg, a->o.kubeconfig, a->o.context, &ke)) {
		fprintf(stderr, "azds-controller: %s\n", ke.msg);
		return 2;
	}
	azds_mkdir_p(a->in.run_dir, 0755);
	snprintf(path, sizeof(path), "%.128s/k8s/cni", a->in.run_dir);
	azds_mkdir_p(path, 0755);
	snprintf(path, sizeof(path), "%.128s/lock", a->in.run_dir);
	lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB)) {
		fprintf(stderr, "azds-controller: instance \"%s\": another controller runs it (the lock %s is held)\n",
			a->in.name, path);
		return 1;
	}
	snprintf(path, sizeof(path), "%.128s/controller.pid", a->in.run_dir);
	{
		char buf[32];

		snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		azds_write_file(path, buf);
	}
	if (node_up(a))
		return 1;
	pthread_mutex_init(&a->mu, NULL);
	for (int i = 0; i < K_N; i++)
		a->tab[i] = json_object();
	a->names = json_object();
	a->attached = json_object();
	a->routes = json_object();
	names_from_maps(a);
	routes_from_table(a);
	a->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	snprintf(path, sizeof(path), "%.128s/units", a->in.run_dir);
	azds_mkdir_p(path, 0700);
	err = sup_new(&a->sup, path, a->self_exe, on_unit, a);
	if (err) {
		fprintf(stderr, "azds-controller: supervisor in %s: %s\n", path, strerror(-err));
		return 1;
	}
	if (!a->o.no_router) {
		char *no_args[] = { NULL };

		err = routerd_start(&a->rd, a->sup, &a->in, a->bin_dir, no_args, a->o.workers, &e);
		if (err) {
			fprintf(stderr, "azds-controller: %s\n", e.msg);
			return 1;
		}
		a->rd_started = true;
	}
	if (!a->o.no_cni_install) {
		char src[PATH_MAX + 16];

		snprintf(src, sizeof(src), "%.4000s/azds-cni", a->bin_dir);
		if (azds_cni_install(src, a->o.cni_bin_dir, a->o.cni_conf_dir, a->in.name, &e)) {
			fprintf(stderr, "azds-controller: CNI: %s\n", e.msg);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &sigfd };
		struct epoll_event sev = { .events = EPOLLIN, .data.ptr = a->sup };
		struct epoll_event wev = { .events = EPOLLIN, .data.ptr = &a->wake_fd };

		epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev);
		epoll_ctl(epfd, EPOLL_CTL_ADD, sup_fd(a->sup), &sev);
		epoll_ctl(epfd, EPOLL_CTL_ADD, a->wake_fd, &wev);
	}
	if (start_informers(a))
		return 1;
	{
		struct azds_k8s_err le = {};

		if (azds_k8s_new(&a->lk, &a->cfg, &le)) {
			fprintf(stderr, "azds-controller: k8s: %s\n", le.msg);
			return 1;
		}
		azds_k8s_set_timeouts(a->lk, 2000, 5000);
	}
	fprintf(stderr, "azds-controller: instance %s: Kubernetes node agent for node %s of %s\n", a->in.name, a->o.node,
		a->cfg.server);

	while (!g_stop) {
		struct epoll_event evs[16];
		bool all_synced, dirty;
		int64_t since = now_ms() - a->last_sync_at;
		int timeout = a->pending ? KAG_RETRY_MS : KAG_LEASE_TICK_MS;
		int n = epoll_wait(epfd, evs, 16, timeout);

		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &sigfd) {
				struct signalfd_siginfo si;

				while (read(sigfd, &si, sizeof(si)) == sizeof(si))
					if (si.ssi_signo != SIGHUP)
						g_stop = 1;
			} else if (p == a->sup) {
				sup_dispatch(a->sup);
			} else if (p == &a->wake_fd) {
				uint64_t v;

				if (read(a->wake_fd, &v, sizeof(v)) < 0) {
					/* nothing to read: fine */
				}
			}
		}
		if (g_stop)
			break;
		pthread_mutex_lock(&a->mu);
		all_synced = a->synced[0] && a->synced[1] && a->synced[2] && a->synced[3];
		dirty = a->dirty;
		pthread_mutex_unlock(&a->mu);
		/* leading means serving the webhook, which answers from the
		 * namespaces: not before they are listed */
		if (all_synced && a->syncs)
			lease_tick(a);
		since = now_ms() - a->last_sync_at;
		if (!all_synced)
			continue; /* never remove what a list has not told us yet */
		if (dirty || (a->pending && since >= KAG_RETRY_MS) || since >= KAG_RESYNC_MS) {
			a->full = since >= KAG_RESYNC_MS;
			/* events that come in a burst: one sync for them */
			struct timespec d = { 0, KAG_DEBOUNCE_MS * 1000000L };

			nanosleep(&d, NULL);
			sync_all(a);
		}
	}
	lease_release(a);
	for (int i = 0; i < K_N; i++)
		if (a->inf[i])
			azds_k8s_informer_stop(a->inf[i]);
	for (int i = 0; i < K_N; i++)
		if (a->th_started[i])
			pthread_join(a->th[i], NULL);
	if (a->rd_started)
		routerd_free(&a->rd);
	sup_free(a->sup);
	snprintf(path, sizeof(path), "%.128s/controller.pid", a->in.run_dir);
	unlink(path);
	fprintf(stderr, "azds-controller: instance %s: stopped; the data plane and router keep serving\n", a->in.name);
	return 0;
}

/* ------------------------------------------------------------ dump */

static int line_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

int k8s_agent_dump(int argc, char **argv)
{
	struct azds_inst in;
	struct azds_maps m;
	struct azds_err e;
	struct azds_space sp;
	char *lines[65536], ip[INET_ADDRSTRLEN], buf[1024];
	size_t n = 0;
	void *cur = NULL;

	(void)argc;
	(void)argv;
	if (azds_inst_init(&in, getenv("AZDS_INSTANCE"), &e) || azds_maps_open(&in, &m, &e)) {
		fprintf(stderr, "azds-controller: %s\n", e.msg);
		return 1;
	}
#define LINE(...)                                                         \
	do {                                                              \
		snprintf(buf, sizeof(buf), __VA_ARGS__);                  \
		if (n < sizeof(lines) / sizeof(lines[0]))                 \
			lines[n++] = strdup(buf);                         \
	} while (0)
	for (__u32 id = azds_space_next(&m, 0, &sp); id; id = azds_space_next(&m, id, &sp))
		LINE("space %s", sp.path);
	{
		struct azds_svc_key k, nx;
		struct azds_service s;
		struct azds_backends be;

		while (bpf_map_get_next_key(m.services, cur, &nx) == 0) {
			size_t o;

			k = nx;
			cur = &k;
			if (bpf_map_lookup_elem(m.services, &k, &s) ||
			    bpf_map_lookup_elem(m.spaces, &k.space, &sp))
				continue;
			if (bpf_map_lookup_elem(m.backends, &k, &be))
				memset(&be, 0, sizeof(be));
			inet_ntop(AF_INET, &s.addr, ip, sizeof(ip));
			o = (size_t)snprintf(buf, sizeof(buf), "service %s %s %s %s:%u ->%u", sp.path, s.name,
					     s.kind == AZDS_KIND_HTTP ? "http" : "tcp", ip, s.port, be.target_port);
			qsort(be.addrs, be.count, sizeof(be.addrs[0]), addr_cmp);
			for (__u32 i = 0; i < be.count && i < AZDS_MAX_BACKENDS && o < sizeof(buf); i++) {
				inet_ntop(AF_INET, &be.addrs[i], ip, sizeof(ip));
				o += (size_t)snprintf(buf + o, sizeof(buf) - o, " %s", ip);
			}
			if (n < sizeof(lines) / sizeof(lines[0]))
				lines[n++] = strdup(buf);
		}
	}
	{
		struct azds_vip_key k, nx;
		struct azds_vip v;

		cur = NULL;
		while (bpf_map_get_next_key(m.vips, cur, &nx) == 0) {
			k = nx;
			cur = &k;
			if (bpf_map_lookup_elem(m.vips, &k, &v))
				continue;
			inet_ntop(AF_INET, &k.addr, ip, sizeof(ip));
			LINE("vip %s:%u %s %s", ip, ntohs(k.port), v.name, v.kind == AZDS_KIND_HTTP ? "http" : "tcp");
		}
	}
	{
		__be32 k, nx;
		struct azds_pod p;

		cur = NULL;
		while (bpf_map_get_next_key(m.pods, cur, &nx) == 0) {
			k = nx;
			cur = &k;
			if (bpf_map_lookup_elem(m.pods, &k, &p) || bpf_map_lookup_elem(m.spaces, &p.space, &sp))
				continue;
			inet_ntop(AF_INET, &k, ip, sizeof(ip));
			LINE("pod %s %s %s cgroup=%s", ip, sp.path, p.name, p.cgroup_id ? "yes" : "no");
		}
	}
#undef LINE
	qsort(lines, n, sizeof(lines[0]), line_cmp);
	for (size_t i = 0; i < n; i++) {
		if (lines[i])
			puts(lines[i]);
		free(lines[i]);
	}
	azds_maps_close(&m);
	return 0;
}

/* ------------------------------------------------------------ teardown */

int k8s_agent_teardown(int argc, char **argv, const char *self_exe)
{
	const char *node = getenv("NODE_NAME"), *pod_cgroup = NULL, *bin_dir = "/opt/cni/bin",
		   *conf_dir = "/etc/cni/net.d";
	struct azds_inst in;
	struct azds_err e;
	int bad = 0;

	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: azds-controller [-i INSTANCE] k8s-teardown [--node NAME] [--pod-cgroup DIR]\n"
			       "                              [--cni-bin-dir DIR] [--cni-conf-dir DIR]\n\n"
			       "Removes the Kubernetes mode's node agent from this node, in the node's network\n"
			       "namespace: azds-cni and its conflist entry, the cgroup programs on the pods' cgroup,\n"
			       "azds_steer from every interface, the ClusterIPs' local routes, then the instance\n"
			       "whole (purge: the agent, the router, the maps). The node's pods keep running, no\n"
			       "longer steered. INSTANCE defaults as for run (from --node or $NODE_NAME).\n");
			return 0;
		}
		if (!v) {
			fprintf(stderr, "azds-controller: k8s-teardown: %s needs a value (see --help)\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--node"))
			node = v;
		else if (!strcmp(argv[i], "--pod-cgroup"))
			pod_cgroup = v;
		else if (!strcmp(argv[i], "--cni-bin-dir"))
			bin_dir = v;
		else if (!strcmp(argv[i], "--cni-conf-dir"))
			conf_dir = v;
		else {
			fprintf(stderr, "azds-controller: k8s-teardown: unknown argument \"%s\" (see --help)\n", argv[i]);
			return 2;
		}
		i++;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "azds-controller: must run as root\n");
		return 1;
	}
	if (node_instance(&in, node, &e)) {
		fprintf(stderr, "azds-controller: %s\n", e.msg);
		return 2;
	}
	if (!pod_cgroup)
		pod_cgroup = default_pod_cgroup();
	/* the agent first, so that nothing attaches again behind us */
	{
		pid_t pid = azds_daemon_pid(&in);

		if (pid > 0) {
			kill(pid, SIGTERM);
			for (int i = 0; i < 500 && kill(pid, 0) == 0; i++)
				usleep(10000);
			if (kill(pid, 0) == 0)
				kill(pid, SIGKILL);
		}
	}
	if (azds_cni_uninstall(bin_dir, conf_dir, &e)) {
		fprintf(stderr, "azds-controller: k8s-teardown: CNI: %s\n", e.msg);
		bad = 1;
	}
	if (pod_cgroup && azds_knode_down(&in, pod_cgroup, &e)) {
		fprintf(stderr, "azds-controller: k8s-teardown: %s\n", e.msg);
		bad = 1;
	}
	if (run_ip_batch("route flush table local proto " KAG_ROUTE_PROTO "\n")) {
		fprintf(stderr, "azds-controller: k8s-teardown: the local routes (proto %s) stay\n", KAG_ROUTE_PROTO);
		bad = 1;
	}
	{
		char *purge[] = { (char *)self_exe, "-i", in.name, "purge", NULL };

		if (azds_run(purge, false)) {
			fprintf(stderr, "azds-controller: k8s-teardown: purge of instance %s failed\n", in.name);
			bad = 1;
		}
	}
	if (!bad)
		printf("node %s: azds removed (instance %s)\n", node ? node : "?", in.name);
	return bad;
}
