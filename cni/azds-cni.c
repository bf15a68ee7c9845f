// SPDX-License-Identifier: MIT
/*
 * azds-cni: a chained CNI plugin (https://www.cni.dev/docs/spec/). It runs
 * after the main plugin (bridge, ptp, ...) that made the pod's veth and gave
 * it an address, and steers the pod when its namespace is an azds space:
 * azds_kpod_attach on the host end of the veth. It never touches the pod
 * itself and passes the previous result on unchanged.
 *
 *   ADD    record /run/azds/INST/k8s/cni/<containerID>.json; attach in a space
 *   DEL    detach and forget; succeeds however often, with or without a record
 *   CHECK  the attachment of a space pod is still there
 *   STATUS the instance's data plane is loaded (else code 50)
 *   GC     the DEL of every recorded container not among the valid attachments
 *   VERSION
 *
 * Errors are the spec's JSON object on stdout and exit status 1; the same
 * text goes to stderr for the runtime's log.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <jansson.h>
#include "azds.h"
#include "kpod.h"

#define STDIN_MAX (1 << 20)  /* a network config with its prevResult */
#define CONTAINER_ID_MAX 128
#define RECORD_MAX 8192
#define PREV_IFS_MAX 64      /* interfaces and ips looked at in prevResult */

/* the spec's well-known error codes, and ours (100+) */
enum {
	E_VERSION = 1,      /* incompatible CNI version */
	E_FIELD = 2,        /* unsupported field in network configuration */
	E_CONTAINER = 3,    /* container unknown or does not exist */
	E_ENV = 4,          /* invalid necessary environment variables */
	E_IO = 5,           /* I/O failure */
	E_DECODE = 6,       /* failed to decode content */
	E_CONFIG = 7,       /* invalid network config */
	E_AGAIN = 11,       /* try again later */
	E_UNAVAILABLE = 50, /* plugin not available */
	E_STEER = 100,      /* azds: the pod cannot be steered */
	E_CHECK = 101,      /* azds: the pod's steering is missing */
};

static const char *const versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };
#define VERSION_LATEST "1.1.0"

static const char *conf_version = VERSION_LATEST; /* for the error object */

static int version_rank(const char *v)
{
	for (size_t i = 0; v && i < sizeof(versions) / sizeof(versions[0]); i++)
		if (!strcmp(v, versions[i]))
			return (int)i;
	return -1;
}

static int fail(int code, const char *details, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(int code, const char *details, const char *fmt, ...)
{
	char msg[1024];
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = json_pack("{s:s, s:i, s:s}", "cniVersion", conf_version, "code", code, "msg", msg);
	if (o && details && *details)
		json_object_set_new(o, "details", json_string(details));
	if (o)
		json_dumpf(o, stdout, JSON_INDENT(2));
	else
		printf("{\"code\": %d, \"msg\": \"azds-cni: out of memory\"}", code);
	printf("\n");
	fflush(stdout);
	fprintf(stderr, "azds-cni: %s%s%s\n", msg, details && *details ? ": " : "", details ? details : "");
	json_decref(o);
	return 1;
}

static char *read_stdin(size_t *len)
{
	char *buf = malloc(STDIN_MAX + 1);
	size_t n = 0;
	ssize_t r;

	if (!buf)
		return NULL;
	while (n <= STDIN_MAX && (r = read(0, buf + n, STDIN_MAX + 1 - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return NULL;
		}
		n += (size_t)r;
	}
	buf[n > STDIN_MAX ? STDIN_MAX : n] = 0;
	*len = n;
	return buf;
}

/* ---- the invocation -------------------------------------------------- */

struct call {
	const char *cmd, *cid, *netns, *ifname;
	char ns[128], pod[256], uid[128]; /* K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID */
	json_t *conf, *prev;
	struct azds_inst in;
	char space[AZDS_PATH_MAX];
	bool is_space;
	/* from prevResult or the record */
	char host_if[IFNAMSIZ];
	__be32 addr;
};

/* CNI_ARGS: "K=V;K=V"; values are copied bounded, a longer one is refused */
static int parse_args(struct call *c)
{
	const char *a = getenv("CNI_ARGS");
	char buf[2048], *save = NULL, *kv;

	if (!a || !*a)
		return 0;
	if (strlen(a) >= sizeof(buf))
		return fail(E_ENV, NULL, "CNI_ARGS is longer than %zu bytes", sizeof(buf) - 1);
	snprintf(buf, sizeof(buf), "%s", a);
	for (kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(kv, '=');
		char *dst = NULL;
		size_t cap = 0;

		if (!eq)
			continue;
		*eq = 0;
		if (!strcmp(kv, "K8S_POD_NAMESPACE"))
			dst = c->ns, cap = sizeof(c->ns);
		else if (!strcmp(kv, "K8S_POD_NAME"))
			dst = c->pod, cap = sizeof(c->pod);
		else if (!strcmp(kv, "K8S_POD_UID"))
			dst = c->uid, cap = sizeof(c->uid);
		if (dst && (size_t)snprintf(dst, cap, "%s", eq + 1) >= cap)
			return fail(E_ENV, NULL, "CNI_ARGS: %s is longer than %zu bytes", kv, cap - 1);
	}
	return 0;
}

static bool cid_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > CONTAINER_ID_MAX || id[0] == '.' || id[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '_' || id[i] == '.' || id[i] == '-'))
			return false;
	return true;
}

static void record_path(const struct call *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s/k8s/cni/%s.json", c->in.run_dir, c->cid);
}

/* the spaces file the agent publishes: no file, no space */
static int lookup_space(struct call *c)
{
	char path[300];
	struct azds_err e;
	int err;

	c->is_space = false;
	if (!c->ns[0])
		return 0; /* not a Kubernetes pod: nothing to steer */
	if (azds_name_valid("namespace", c->ns, &e))
		return fail(E_ENV, e.msg, "CNI_ARGS: K8S_POD_NAMESPACE is not a namespace name");
	snprintf(path, sizeof(path), "%s/k8s/spaces/%s", c->in.run_dir, c->ns);
	err = azds_read_str(path, c->space, sizeof(c->space));
	if (err == -ENOENT)
		return 0;
	if (err)
		return fail(E_IO, strerror(-err), "read %s", path);
	c->space[strcspn(c->space, "\n")] = 0;
	if (azds_space_path_valid(c->space, &e))
		return fail(E_IO, e.msg, "%s: not a space path", path);
	c->is_space = true;
	return 0;
}

/* the kernel driver of an interface in this netns: "veth", "bridge", ... */
static bool is_veth(const char *ifname)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool veth;

	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&di;
	veth = ioctl(fd, SIOCETHTOOL, &ifr) == 0 && !strcmp(di.driver, "veth");
	close(fd);
	return veth;
}

/*
 * From prevResult: the pod's IPv4 address (an ips entry whose "interface"
 * is a sandbox interface, or has none) and the host end of its veth (an
 * interface without "sandbox" that is a veth here: the bridge itself is
 * listed the same way). Either may stay unknown; *why says which.
 */
static void from_prev(struct call *c, const char **why)
{
	json_t *ifs = json_object_get(c->prev, "interfaces"), *ips = json_object_get(c->prev, "ips"), *v;
	size_t i, nifs = json_is_array(ifs) ? json_array_size(ifs) : 0;
	const char *host_listed = NULL;

	*why = NULL;
	for (i = 0; i < nifs && i < PREV_IFS_MAX; i++) {
		const char *name, *sb;

		v = json_array_get(ifs, i);
		name = json_string_value(json_object_get(v, "name"));
		sb = json_string_value(json_object_get(v, "sandbox"));
		if (!name || (sb && *sb) || strlen(name) >= IFNAMSIZ)
			continue;
		host_listed = name;
		if (!c->host_if[0] && is_veth(name))
			snprintf(c->host_if, sizeof(c->host_if), "%s", name);
	}
	for (i = 0; json_is_array(ips) && i < json_array_size(ips) && i < PREV_IFS_MAX && !c->addr; i++) {
		const char *a, *ver, *sb = "x";
		json_t *idx;
		char buf[64];
		struct in_addr ia;

		v = json_array_get(ips, i);
		a = json_string_value(json_object_get(v, "address"));
		ver = json_string_value(json_object_get(v, "version")); /* 0.3.x, 0.4.0 */
		idx = json_object_get(v, "interface");
		if (!a || (ver && strcmp(ver, "4")))
			continue;
		if (json_is_integer(idx)) {
			json_int_t k = json_integer_value(idx);

			sb = k >= 0 && (size_t)k < nifs ?
				     json_string_value(json_object_get(json_array_get(ifs, (size_t)k), "sandbox")) :
				     NULL;
		}
		if (!sb || !*sb)
			continue; /* an address of the host side */
		snprintf(buf, sizeof(buf), "%s", a);
		buf[strcspn(buf, "/")] = 0;
		if (inet_pton(AF_INET, buf, &ia) == 1)
			c->addr = ia.s_addr;
	}
	if (!c->addr)
		*why = "prevResult.ips has no IPv4 address of the pod's interface";
	else if (!c->host_if[0])
		*why = host_listed ? "prevResult.interfaces lists no veth outside the sandbox"
				   : "prevResult.interfaces lists no interface outside the sandbox";
}

static int write_record(const struct call *c, bool attached)
{
	char path[300], dir[300], a[INET_ADDRSTRLEN] = "";
	json_t *o;
	char *s;
	int err;

	snprintf(dir, sizeof(dir), "%s/k8s/cni", c->in.run_dir);
	err = azds_mkdir_p(dir, 0755);
	if (err)
		return fail(E_IO, strerror(-err), "create %s", dir);
	if (c->addr)
		inet_ntop(AF_INET, &c->addr, a, sizeof(a));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "containerID", c->cid, "namespace", c->ns,
		      "pod", c->pod, "podUID", c->uid, "netns", c->netns ? c->netns : "", "ifname",
		      c->ifname ? c->ifname : "", "hostIf", c->host_if, "addr", a, "attached", attached);
	s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	if (!s)
		return fail(E_IO, NULL, "out of memory");
	record_path(c, path, sizeof(path));
	err = azds_write_file(path, s);
	free(s);
	return err ? fail(E_IO, strerror(-err), "write %s", path) : 0;
}

/* the record of an earlier ADD: 1 read, 0 none */
static int read_record(struct call *c, bool *attached, char *pod, size_t podlen)
{
	char path[300], buf[RECORD_MAX];
	const char *s;
	struct in_addr ia;
	json_t *o;
	int err;

	record_path(c, path, sizeof(path));
	err = azds_read_str(path, buf, sizeof(buf));
	if (err == -ENOENT)
		return 0;
	if (err) {
		fail(E_IO, strerror(-err), "read %s", path);
		return -EIO;
	}
	o = json_loads(buf, 0, NULL);
	if (!o) /* a torn record cannot exist (atomic replace): treat as none */
		return 0;
	s = json_string_value(json_object_get(o, "hostIf"));
	if (s && strlen(s) < IFNAMSIZ && !c->host_if[0])
		snprintf(c->host_if, sizeof(c->host_if), "%s", s);
	s = json_string_value(json_object_get(o, "addr"));
	if (s && inet_pton(AF_INET, s, &ia) == 1)
		c->addr = ia.s_addr;
	s = json_string_value(json_object_get(o, "pod"));
	snprintf(pod, podlen, "%s", s ? s : "");
	*attached = json_is_true(json_object_get(o, "attached"));
	json_decref(o);
	return 1;
}

static int open_maps(struct call *c, struct azds_maps *m, struct azds_err *e)
{
	return azds_maps_open(&c->in, m, e);
}

/* ---- the commands ---------------------------------------------------- */

static int print_prev(const struct call *c)
{
	json_t *out = json_deep_copy(c->prev);

	if (!out)
		return fail(E_IO, NULL, "out of memory");
	/* unchanged, but a result names its version: prevResult has it from
	 * the runtime; a hand-made one may not */
	if (!json_object_get(out, "cniVersion"))
		json_object_set_new(out, "cniVersion", json_string(conf_version));
	json_dumpf(out, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(out);
	return 0;
}

static int cmd_add(struct call *c)
{
	struct azds_maps m;
	struct azds_err e;
	const char *why;
	int err;

	if (!c->prev)
		return fail(E_CONFIG, NULL, "azds-cni is a chained plugin: ADD needs prevResult (put it after the main plugin in the conflist)");
	if (!c->netns || !*c->netns)
		return fail(E_ENV, NULL, "CNI_NETNS is not set");
	if (lookup_space(c))
		return 1;
	from_prev(c, &why);
	if (!c->host_if[0] && c->addr && c->is_space)
		azds_kpod_find_if(c->addr, c->host_if, &e); /* a main plugin that does not list it */
	/* written before anything is attached: a crash in between leaves
	 * what DEL needs to undo it */
	if (write_record(c, c->is_space))
		return 1;
	if (!c->is_space)
		return print_prev(c);
	if (!c->addr || !c->host_if[0])
		return fail(E_STEER, why ? why : "no host interface found", "pod %s/%s is in space \"%s\" but cannot be steered",
			    c->ns, c->pod, c->space);
	err = open_maps(c, &m, &e);
	if (err)
		return fail(E_AGAIN, e.msg, "pod %s/%s is in space \"%s\" but the azds data plane is not loaded", c->ns,
			    c->pod, c->space);
	err = azds_kpod_attach(&c->in, &m, c->host_if, c->addr, c->space, c->pod[0] ? c->pod : c->cid, 0, &e);
	if (err) {
		struct azds_err ignored;

		azds_kpod_detach(&c->in, &m, c->host_if, c->addr, &ignored);
		azds_maps_close(&m);
		return fail(E_STEER, e.msg, "pod %s/%s in space \"%s\" cannot be steered", c->ns, c->pod, c->space);
	}
	azds_maps_close(&m);
	return print_prev(c);
}

/* Is the pods map entry at addr this pod's (or absent)? A recycled address never loses another pod's entry. */
static bool entry_is(const struct azds_maps *m, __be32 addr, const char *pod)
{
	struct azds_pod p;
	char want[AZDS_NAME_MAX];

	if (bpf_map_lookup_elem(m->pods, &addr, &p))
		return true;
	/* the map keeps a name's first AZDS_NAME_MAX - 1 bytes */
	size_t n = strnlen(pod, sizeof(want) - 1);

	memcpy(want, pod, n);
	want[n] = 0;
	return !pod[0] || !strcmp(p.name, want);
}

static int cmd_del(struct call *c)
{
	char path[300], pod[256];
	struct azds_maps m;
	struct azds_err e;
	bool attached = true, have_maps;
	const char *why;
	int rec, err;

	rec = read_record(c, &attached, pod, sizeof(pod));
	if (rec < 0)
		return 1;
	if (!rec) {
		/* no record: never added, or already deleted; prevResult (the
		 * runtime's cached result) is all there is to go on */
		snprintf(pod, sizeof(pod), "%s", c->pod);
		if (c->prev)
			from_prev(c, &why);
	}
	if (!pod[0])
		snprintf(pod, sizeof(pod), "%s", c->cid);
	have_maps = open_maps(c, &m, &e) == 0; /* not loaded: only the filter is left to remove */
	/* whether ADD attached or not: the agent may have since (the
	 * namespace became a space), and detach is idempotent */
	(void)attached;
	if (c->addr || c->host_if[0]) {
		err = azds_kpod_detach(&c->in, have_maps && c->addr && entry_is(&m, c->addr, pod) ? &m : NULL,
				       c->host_if[0] ? c->host_if : NULL, c->addr, &e);
		if (err) {
			if (have_maps)
				azds_maps_close(&m);
			return fail(E_IO, e.msg, "DEL of container %s", c->cid);
		}
	}
	if (have_maps)
		azds_maps_close(&m);
	record_path(c, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		return fail(E_IO, strerror(errno), "remove %s", path);
	return 0;
}

static int cmd_check(struct call *c)
{
	struct azds_maps m;
	struct azds_err e;
	struct azds_pod p;
	bool attached;
	char pod[256];
	const char *why;
	__u32 sid;
	int r;

	if (version_rank(conf_version) < version_rank("0.4.0"))
		return fail(E_VERSION, NULL, "CHECK is not defined for cniVersion %s", conf_version);
	if (!c->prev)
		return fail(E_CONFIG, NULL, "azds-cni is a chained plugin: CHECK needs prevResult");
	if (lookup_space(c))
		return 1;
	if (!c->is_space)
		return 0;
	if (read_record(c, &attached, pod, sizeof(pod)) < 0)
		return 1;
	from_prev(c, &why);
	if (!c->host_if[0] || !c->addr)
		return fail(E_CHECK, why, "pod %s/%s in space \"%s\": its interface is unknown", c->ns, c->pod, c->space);
	r = azds_kpod_attached(&c->in, c->host_if, &e);
	if (r < 0)
		return fail(E_CHECK, e.msg, "pod %s/%s in space \"%s\"", c->ns, c->pod, c->space);
	if (!r)
		return fail(E_CHECK, NULL, "pod %s/%s in space \"%s\": azds_steer is not on %s", c->ns, c->pod, c->space,
			    c->host_if);
	if (open_maps(c, &m, &e))
		return fail(E_UNAVAILABLE, e.msg, "azds instance \"%s\": data plane not loaded", c->in.name);
	r = bpf_map_lookup_elem(m.pods, &c->addr, &p) ? -ENOENT : 0;
	if (!r && (azds_space_lookup(&m, c->space, &sid, NULL) || p.space != sid))
		r = -EXDEV;
	azds_maps_close(&m);
	if (r)
		return fail(E_CHECK, NULL, "pod %s/%s in space \"%s\": %s", c->ns, c->pod, c->space,
			    r == -ENOENT ? "no pods map entry for its address" : "its pods map entry names another space");
	return 0;
}

static int cmd_status(struct call *c)
{
	struct azds_maps m;
	struct azds_err e;
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/prog_steer", c->in.pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return fail(E_UNAVAILABLE, strerror(errno), "plugin not available: azds instance \"%s\" has no data plane loaded (%s)",
			    c->in.name, path);
	close(fd);
	if (open_maps(c, &m, &e))
		return fail(E_UNAVAILABLE, e.msg, "plugin not available: azds instance \"%s\"", c->in.name);
	azds_maps_close(&m);
	return 0;
}

/*
 * GC (1.1.0): a record whose container is not among the runtime's valid
 * attachments is a DEL that never came (a crash, a lost runtime state):
 * it is done now. Without the list there is nothing to compare: success.
 */
#define GC_MAX 65536 /* records looked at in one GC */
static int cmd_gc(struct call *c)
{
	json_t *valid = json_object_get(c->conf, "cni.dev/valid-attachments");
	char dir[300], id[CONTAINER_ID_MAX + 1];
	struct dirent *de;
	int n = 0, rc = 0;
	DIR *d;

	if (!json_is_array(valid))
		return 0;
	snprintf(dir, sizeof(dir), "%s/k8s/cni", c->in.run_dir);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n++ < GC_MAX && !rc) {
		size_t len = strlen(de->d_name), i;
		bool live = false;

		if (len <= 5 || len - 5 > CONTAINER_ID_MAX || strcmp(de->d_name + len - 5, ".json"))
			continue;
		memcpy(id, de->d_name, len - 5);
		id[len - 5] = 0;
		if (!cid_ok(id))
			continue;
		for (i = 0; i < json_array_size(valid) && !live; i++) {
			const char *v = json_string_value(json_object_get(json_array_get(valid, i), "containerID"));

			live = v && !strcmp(v, id);
		}
		if (live)
			continue;
		struct call g = { .cmd = "DEL", .cid = id, .conf = c->conf, .in = c->in };

		rc = cmd_del(&g);
	}
	closedir(d);
	return rc;
}

static int cmd_version(void)
{
	json_t *o = json_pack("{s:s, s:[]}", "cniVersion", VERSION_LATEST, "supportedVersions"), *a;

	if (!o)
		return fail(E_IO, NULL, "out of memory");
	a = json_object_get(o, "supportedVersions");
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		json_array_append_new(a, json_string(versions[i]));
	json_dumpf(o, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(o);
	return 0;
}

static int run(struct call *c)
{
	const char *inst, *v;
	struct azds_err e;
	json_error_t je;
	size_t len = 0;
	char *in;

	c->cmd = getenv("CNI_COMMAND");
	if (!c->cmd || !*c->cmd)
		return fail(E_ENV, NULL, "CNI_COMMAND is not set (this is a CNI plugin: see docs/cni.md)");
	if (!strcmp(c->cmd, "VERSION"))
		return cmd_version();
	if (strcmp(c->cmd, "ADD") && strcmp(c->cmd, "DEL") && strcmp(c->cmd, "CHECK") && strcmp(c->cmd, "STATUS") &&
	    strcmp(c->cmd, "GC"))
		return fail(E_ENV, NULL, "CNI_COMMAND \"%.32s\" is not one of ADD, DEL, CHECK, STATUS, GC, VERSION", c->cmd);
	in = read_stdin(&len);
	if (!in)
		return fail(E_IO, strerror(errno), "read the network configuration from stdin");
	if (len > STDIN_MAX) {
		free(in);
		return fail(E_DECODE, NULL, "the network configuration on stdin is larger than %d bytes", STDIN_MAX);
	}
	c->conf = json_loadb(in, len, JSON_REJECT_DUPLICATES, &je);
	free(in);
	if (!json_is_object(c->conf))
		return fail(E_DECODE, c->conf ? "not a JSON object" : je.text,
			    "cannot decode the network configuration on stdin%s", c->conf ? "" : " (line and column in details)");
	v = json_string_value(json_object_get(c->conf, "cniVersion"));
	if (!v)
		return fail(E_CONFIG, NULL, "the network configuration has no cniVersion");
	if (version_rank(v) < 0)
		return fail(E_VERSION, NULL, "cniVersion \"%.32s\" is not supported (supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)", v);
	conf_version = v;
	if ((!strcmp(c->cmd, "STATUS") || !strcmp(c->cmd, "GC")) && version_rank(v) < version_rank("1.1.0"))
		return fail(E_VERSION, NULL, "%s needs cniVersion 1.1.0, the configuration says %s", c->cmd, v);
	inst = json_string_value(json_object_get(c->conf, "instance"));
	if (!inst || !*inst)
		return fail(E_CONFIG, NULL, "the azds-cni entry has no \"instance\" (the azds instance of this node)");
	if (azds_inst_init(&c->in, inst, &e))
		return fail(E_CONFIG, e.msg, "\"instance\" is not an azds instance name");
	c->in.node_ns[0] = 0; /* Kubernetes mode: the runtime runs us in the node's netns */
	c->prev = json_object_get(c->conf, "prevResult");
	if (c->prev && !json_is_object(c->prev))
		return fail(E_CONFIG, NULL, "prevResult is not an object");
	if (!strcmp(c->cmd, "STATUS"))
		return cmd_status(c);
	if (!strcmp(c->cmd, "GC"))
		return cmd_gc(c);
	c->cid = getenv("CNI_CONTAINERID");
	if (!cid_ok(c->cid))
		return fail(E_ENV, NULL, "CNI_CONTAINERID \"%.64s\" is missing or not 1-%d characters of A-Z a-z 0-9 _ . -",
			    c->cid ? c->cid : "", CONTAINER_ID_MAX);
	c->netns = getenv("CNI_NETNS");
	c->ifname = getenv("CNI_IFNAME");
	if (strcmp(c->cmd, "DEL") && (!c->ifname || !*c->ifname))
		return fail(E_ENV, NULL, "CNI_IFNAME is not set");
	if (parse_args(c))
		return 1;
	if (!strcmp(c->cmd, "ADD"))
		return cmd_add(c);
	if (!strcmp(c->cmd, "DEL"))
		return cmd_del(c);
	return cmd_check(c);
}

int main(void)
{
	struct call c = {};
	int rc = run(&c);

	json_decref(c.conf);
	return rc;
}
