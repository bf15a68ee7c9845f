// SPDX-License-Identifier: MIT
/*
 * The controller's trace reader (tracer.h). The thread owns the capture
 * programs' links, the ring buffer reader, the mapped decision files, the
 * assembler and its model (read from the pinned maps: pods by address,
 * spaces by id, and, rebuilt when the routing generation moves, service
 * names by id and each pod's service). Emitted requests go, as JSON, into
 * a ring of TRACER_KEEP under a mutex that the API's readers share.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tracer.h"
#include "trace_load.h"
#include "../userspace/trace/trace.h" /* the assembler (bpf/trace.h has the same name) */
#include "decisions.h"
#include "dataplane.h"

#define POLL_MS 10
#define RESCAN_NS 1000000000ull    /* decision files looked for again */
#define COUNTS_NS 500000000ull     /* kernel counters read again */
#define TICK_NS 5000000ull /* the assembler's clock moves at most this often: 5 ms keeps what a tick emits in cache (100 ms: a reader 15% slower) */
#define RETRY_MAX_NS 60000000000ull /* a failing attach is tried again at most this rarely */
#define TRACER_ANSWER_HOPS 20000  /* hops in one API answer (about 40 MB of JSON at most) */
/* no API reader asked for this long (a parked follow asks again at every
 * tick, azds up every 200 ms; a reader busy with a large answer may take
 * seconds): nobody watches, nothing is published */
#define READER_GONE_NS 15000000000ull
#define DECISIONS_EVERY 2048       /* records between two reads of the decision rings */
#define BATCH_MAX 8192             /* records taken in one go: then the loop comes round */
#define BATCH_CUT (-EINPROGRESS)   /* on_record's way to stop libbpf's consume loop */
#define SVC_TABLE 4096             /* service ids -> names (open addressing) */
#define POD_SVC_TABLE 32768        /* pod address -> service id */

struct dec_file {
	char path[PATH_MAX];
	ino_t ino;
	void *base;
	size_t len;
	__u32 nworkers;
	__u32 slots; /* per ring */
	__u64 next[AZDS_DEC_MAX_WORKERS];
};

struct svc_slot {
	__u32 id;
	char name[AZDS_NAME_MAX];
};

struct pod_slot {
	__be32 addr;
	__u32 svc;
};

/* lookups of the pinned maps, remembered for one routing generation
 * (a syscall each saved: a hop asks for several) */
#define POD_CACHE 1024
#define SPACE_CACHE 256

struct pod_cached {
	__u64 gen;   /* 0: empty */
	__be32 addr;
	bool found;
	struct azds_pod p;
};

struct space_cached {
	__u64 gen;
	__u32 id;
	bool found;
	char path[AZDS_PATH_MAX];
};

/*
 * One request kept for readers: packed small (userspace/trace/pack.c) and
 * what the filters look at; its JSON text is written the first time a
 * reader takes it (with or without query strings, each once) and kept from
 * then on. Readers take references under the lock and do the rest outside
 * it; the request never changes, and a text is published once, by
 * compare-and-swap.
 */
enum { KF_SPACE, KF_CALLER_SPACE, KF_ASKED, KF_SERVICE, KF_CALLER, KF_METHOD, KF__COUNT };

struct kept {
	_Atomic unsigned refs;
	uint64_t seq;
	__s64 mono_to_unix_ns;
	const char *packed;
	size_t packed_len;
	bool query;            /* some target has a query string: the two texts differ */
	_Atomic(char *) js;    /* with query strings (the only one when !query); NULL until asked */
	_Atomic(char *) jsq;   /* without them */
	unsigned nhops;
	const int *status;     /* each hop's */
	const char *fields;    /* each hop's KF__COUNT strings, NUL-terminated, in order */
	/* one allocation: then status[nhops], fields, packed */
};

static void kept_put(struct kept *k)
{
	if (!k || atomic_fetch_sub(&k->refs, 1) != 1)
		return;
	free(atomic_load(&k->js));
	free(atomic_load(&k->jsq));
	free(k);
}

/* a hop's field f and its length (the arrays are bounded, NUL or not) */
static const char *hop_field(const struct azds_trace_hop *h, int f, size_t *n)
{
	const char *v;
	size_t max;

	switch (f) {
	case KF_SPACE: v = h->space, max = sizeof(h->space); break;
	case KF_CALLER_SPACE: v = h->caller_space, max = sizeof(h->caller_space); break;
	case KF_ASKED: v = h->asked_space, max = sizeof(h->asked_space); break;
	case KF_SERVICE: v = h->service, max = sizeof(h->service); break;
	case KF_CALLER: v = h->caller, max = sizeof(h->caller); break;
	default: v = h->method, max = sizeof(h->method); break;
	}
	*n = strnlen(v, max);
	return v;
}

/* one request kept, in one allocation: its hops' fields (headers aside) and its packed form */
static struct kept *kept_new(const struct azds_trace_req *req, uint64_t seq, __s64 mono_to_unix_ns,
			     const char *pack, size_t plen)
{
	size_t flen = 0, at = 0, nhops = req->nhops < AZDS_TRACE_HOPS_MAX ? req->nhops : AZDS_TRACE_HOPS_MAX;
	size_t lens[AZDS_TRACE_HOPS_MAX][KF__COUNT];
	const char *vals[AZDS_TRACE_HOPS_MAX][KF__COUNT];
	bool query = false;
	struct kept *k;
	int *status;
	char *fields, *packed;

	for (size_t i = 0; i < nhops; i++) {
		for (int f = 0; f < KF__COUNT; f++) {
			vals[i][f] = req->hops[i] ? hop_field(req->hops[i], f, &lens[i][f]) : "";
			if (!req->hops[i])
				lens[i][f] = 0;
			flen += lens[i][f] + 1;
		}
		query = query || (req->hops[i] && strchr(req->hops[i]->target, '?'));
	}
	if (!plen)
		return NULL;
	k = malloc(sizeof(*k) + (nhops ? nhops : 1) * sizeof(int) + flen + plen);
	if (!k)
		return NULL;
	status = (int *)(k + 1);
	fields = (char *)(status + (nhops ? nhops : 1));
	packed = fields + flen;
	atomic_init(&k->refs, 1);
	k->seq = seq;
	k->mono_to_unix_ns = mono_to_unix_ns;
	k->query = query;
	atomic_init(&k->js, NULL);
	atomic_init(&k->jsq, NULL);
	k->nhops = (unsigned)nhops;
	for (size_t i = 0; i < nhops; i++) {
		for (int f = 0; f < KF__COUNT; f++) {
			memcpy(fields + at, vals[i][f], lens[i][f]);
			fields[at + lens[i][f]] = 0;
			at += lens[i][f] + 1;
		}
		status[i] = req->hops[i] ? req->hops[i]->status : 0;
	}
	memcpy(packed, pack, plen);
	k->status = status;
	k->fields = fields;
	k->packed = packed;
	k->packed_len = plen;
	return k;
}

struct tracer {
	struct azds_inst in;
	pthread_t th;
	bool th_started;
	_Atomic int stop;
	_Atomic int want;
	_Atomic __u64 last_reader_ns; /* when an API reader last asked */
	bool support_known, supported;
	char support_why[256];
	__u32 applied[AZDS_TRACE_DEF_MAX_OFF]; /* spaces put in trace_off (the thread's) */
	unsigned napplied;
	uint64_t applied_gen;
	bool applied_ok;

	/* the thread's own */
	struct azds_maps m;
	bool maps_open;
	struct azds_trace_bpf *bpf; /* written by the thread under mu, read by readers under mu */
	struct ring_buffer *rb;
	struct azds_trace_asm *as;
	bool live;                     /* as is fed (an API reader asked lately) */
	struct azds_trace_stats gone;  /* the counters of the assemblers before as */
	struct dec_file files[TRACER_MAX_DECISION_FILES];
	struct azds_dec_slot slot; /* dec_read's */
	unsigned nfiles;
	uint64_t since_dec;
	__u64 model_gen;
	bool model_built;
	struct azds_trace_model model;
	__u64 skipped_here; /* the thread's count of skipped */
	unsigned batch;     /* records in this go */
	bool more;          /* the last go was cut short: the ring is not empty */
	struct svc_slot *svcs;
	struct pod_slot *pod_svc;
	struct pod_cached *pod_cache;
	struct space_cached *space_cache;
	__s64 mono_to_unix_ns;

	/* shared with readers, under mu */
	pthread_mutex_t mu;
	struct kept **ring; /* TRACER_KEEP */
	uint64_t head; /* requests given out; the n-th has sequence number n (from 1) */
	bool attached;
	_Atomic bool publishing; /* what bpf was last told (azds_trace_bpf_publish); written under mu */
	char reason[256];
	__u64 counts[AZDS_TC__COUNT];
	__u64 dec_missed, decisions;
	struct azds_trace_stats st; /* gone + as's */
	__u64 skipped;              /* records taken in while nobody watched */
	__u64 pauses;               /* times publishing stopped for want of a reader */
	__u32 off[AZDS_TRACE_DEF_MAX_OFF]; /* spaces switched off, as the event loop last said */
	unsigned noff;
	uint64_t off_gen;
};

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static __s64 mono_to_unix(void)
{
	struct timespec m, r;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return ((__s64)r.tv_sec - (__s64)m.tv_sec) * 1000000000ll + ((__s64)r.tv_nsec - (__s64)m.tv_nsec);
}

/* ---- the model, from the pinned maps ---------------------------------------- */

/* src into dst[cap], cut and NUL-terminated: the model's names are asked for on every hop */
static void ncopy(char *dst, size_t cap, const char *src, size_t src_cap)
{
	size_t n = strnlen(src, src_cap < cap ? src_cap : cap - 1);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static unsigned hash32(__u32 x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/* service names by id and each pod's service, once per routing generation */
static void model_refresh(struct tracer *t)
{
	__u64 gen = azds_gen_read(&t->m);
	struct azds_vip_key vk, *vprev = NULL;
	struct azds_svc_key bk, *bprev = NULL;
	struct azds_vip v;
	struct azds_backends be;

	if (t->model_built && gen == t->model_gen)
		return;
	memset(t->svcs, 0, SVC_TABLE * sizeof(*t->svcs));
	memset(t->pod_svc, 0, POD_SVC_TABLE * sizeof(*t->pod_svc));
	while (bpf_map_get_next_key(t->m.vips, vprev, &vk) == 0) {
		vprev = &vk;
		if (bpf_map_lookup_elem(t->m.vips, &vk, &v) || !v.svc)
			continue;
		for (unsigned i = 0, h = hash32(v.svc); i < SVC_TABLE; i++) {
			struct svc_slot *s = &t->svcs[(h + i) & (SVC_TABLE - 1)];

			if (s->id == v.svc)
				break;
			if (!s->id) {
				s->id = v.svc;
				ncopy(s->name, sizeof(s->name), v.name, sizeof(v.name));
				break;
			}
		}
	}
	while (bpf_map_get_next_key(t->m.backends, bprev, &bk) == 0) {
		bprev = &bk;
		if (bpf_map_lookup_elem(t->m.backends, &bk, &be))
			continue;
		for (__u32 j = 0; j < be.count && j < AZDS_MAX_BACKENDS; j++) {
			for (unsigned i = 0, h = hash32(be.addrs[j]); i < 64; i++) {
				struct pod_slot *p = &t->pod_svc[(h + i) & (POD_SVC_TABLE - 1)];

				if (p->addr == be.addrs[j])
					break; /* a pod of several services: the first one found */
				if (!p->addr) {
					p->addr = be.addrs[j];
					p->svc = bk.svc;
					break;
				}
			}
		}
	}
	t->model_gen = gen;
	t->model_built = true;
}

static const char *svc_name(struct tracer *t, __u32 id)
{
	for (unsigned i = 0, h = hash32(id); id && i < SVC_TABLE; i++) {
		struct svc_slot *s = &t->svcs[(h + i) & (SVC_TABLE - 1)];

		if (s->id == id)
			return s->name;
		if (!s->id)
			break;
	}
	return NULL;
}

static bool m_pod(void *ctx, __be32 addr, char name[AZDS_TRACE_NAME_MAX], __u32 *space,
		  char service[AZDS_TRACE_NAME_MAX])
{
	struct tracer *t = ctx;
	__u64 gen = azds_gen_read(&t->m) + 1;
	struct pod_cached *pc = &t->pod_cache[hash32(addr) & (POD_CACHE - 1)];
	const struct azds_pod *pp;
	const char *sn = NULL;

	if (pc->gen != gen || pc->addr != addr) {
		pc->gen = gen;
		pc->addr = addr;
		pc->found = bpf_map_lookup_elem(t->m.pods, &addr, &pc->p) == 0;
	}
	if (!pc->found)
		return false;
	pp = &pc->p;
	model_refresh(t);
	ncopy(name, AZDS_TRACE_NAME_MAX, pp->name, sizeof(pp->name));
	*space = pp->space;
	for (unsigned i = 0, h = hash32(addr); i < 64; i++) {
		struct pod_slot *s = &t->pod_svc[(h + i) & (POD_SVC_TABLE - 1)];

		if (s->addr == addr) {
			sn = svc_name(t, s->svc);
			break;
		}
		if (!s->addr)
			break;
	}
	ncopy(service, AZDS_TRACE_NAME_MAX, sn ? sn : "", AZDS_TRACE_NAME_MAX);
	return true;
}

static bool m_space_path(void *ctx, __u32 id, char path[AZDS_TRACE_PATH_MAX])
{
	struct tracer *t = ctx;
	__u64 gen = azds_gen_read(&t->m) + 1;
	struct space_cached *sc = &t->space_cache[hash32(id) & (SPACE_CACHE - 1)];

	if (!id)
		return false;
	if (sc->gen != gen || sc->id != id) {
		struct azds_space sp;

		sc->gen = gen;
		sc->id = id;
		sc->found = bpf_map_lookup_elem(t->m.spaces, &id, &sp) == 0;
		if (sc->found)
			ncopy(sc->path, sizeof(sc->path), sp.path, sizeof(sp.path));
	}
	if (!sc->found)
		return false;
	ncopy(path, AZDS_TRACE_PATH_MAX, sc->path, sizeof(sc->path));
	return true;
}

static bool m_service_name(void *ctx, __u32 svc, char name[AZDS_TRACE_NAME_MAX])
{
	struct tracer *t = ctx;
	const char *n;

	model_refresh(t);
	n = svc_name(t, svc);
	if (!n)
		return false;
	ncopy(name, AZDS_TRACE_NAME_MAX, n, AZDS_TRACE_NAME_MAX);
	return true;
}

static bool m_vip_name(void *ctx, __be32 addr, __u16 port, char name[AZDS_TRACE_NAME_MAX])
{
	struct tracer *t = ctx;
	struct azds_vip_key k = { .addr = addr, .port = htons(port) };
	struct azds_vip v;

	if (bpf_map_lookup_elem(t->m.vips, &k, &v))
		return false;
	ncopy(name, AZDS_TRACE_NAME_MAX, v.name, sizeof(v.name));
	return true;
}

/* ---- output ------------------------------------------------------------------------ */

static void on_request(void *ctx, const struct azds_trace_req *req, const char *packed, size_t len)
{
	struct tracer *t = ctx;
	/* the thread is head's only writer: the next number is known unlocked */
	struct kept *k = kept_new(req, t->head + 1, t->mono_to_unix_ns, packed, len), *old;
	size_t slot;

	if (!k)
		return;
	pthread_mutex_lock(&t->mu);
	t->head = k->seq;
	slot = (size_t)(t->head % TRACER_KEEP);
	old = t->ring[slot];
	t->ring[slot] = k;
	pthread_mutex_unlock(&t->mu);
	kept_put(old);
}

/* ---- the routers' decision files ----------------------------------------------------- */

static void dec_unmap(struct tracer *t, unsigned i)
{
	/* a router whose reader goes stops recording */
	atomic_store_explicit(&((struct azds_dec_file *)t->files[i].base)->want, 0u, memory_order_relaxed);
	munmap(t->files[i].base, t->files[i].len);
	t->files[i] = t->files[--t->nfiles];
}

/* map decisions.<pid> files that are new; forget gone ones; remove those of dead routers */
static void dec_rescan(struct tracer *t)
{
	DIR *d = opendir(t->in.run_dir);
	struct dirent *de;

	for (unsigned i = 0; i < t->nfiles;) {
		struct stat st;

		if (stat(t->files[i].path, &st) || st.st_ino != t->files[i].ino)
			dec_unmap(t, i);
		else
			i++;
	}
	while (d && (de = readdir(d))) {
		char path[PATH_MAX], *end;
		struct stat st;
		long pid;
		bool known = false;
		int fd;
		void *p;

		if (strncmp(de->d_name, AZDS_DEC_FILE ".", sizeof(AZDS_DEC_FILE)))
			continue;
		pid = strtol(de->d_name + sizeof(AZDS_DEC_FILE), &end, 10);
		if (*end || pid <= 0 ||
		    snprintf(path, sizeof(path), "%s/%s", t->in.run_dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (kill((pid_t)pid, 0) && errno == ESRCH) {
			unlink(path); /* a router that died without cleaning up */
			continue;
		}
		for (unsigned i = 0; i < t->nfiles; i++)
			known |= !strcmp(t->files[i].path, path);
		if (known || t->nfiles == TRACER_MAX_DECISION_FILES)
			continue;
		/* read-write: the reader tells the router when records are wanted (azds_dec_file.want) */
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* a FIFO must not block us */
		if (fd < 0)
			continue;
		if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
		    (size_t)st.st_size < sizeof(struct azds_dec_file)) {
			close(fd);
			continue;
		}
		p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		if (p == MAP_FAILED)
			continue;
		{
			const struct azds_dec_file *h = p;
			__u32 magic = *(volatile const __u32 *)&h->magic, nw;

			/* the magic first: the router stores it last */
			atomic_thread_fence(memory_order_acquire);
			nw = h->nworkers;
			if (magic != AZDS_DEC_MAGIC || h->version != AZDS_DEC_VERSION || h->slots != azds_dec_ring_slots(h->nworkers) ||
			    nw == 0 || nw > AZDS_DEC_MAX_WORKERS || azds_dec_file_bytes(nw) > (size_t)st.st_size) {
				munmap(p, (size_t)st.st_size);
				continue; /* not ready yet, or not ours: looked at again */
			}
			struct dec_file *f = &t->files[t->nfiles++];

			memset(f, 0, sizeof(*f));
			snprintf(f->path, sizeof(f->path), "%s", path);
			f->ino = st.st_ino;
			f->base = p;
			f->len = (size_t)st.st_size;
			f->nworkers = nw;
			f->slots = azds_dec_ring_slots(nw);
			/* start at what is there now: older decisions have no records left */
			for (__u32 w = 0; w < nw; w++)
				f->next[w] = atomic_load_explicit(&azds_dec_ring_of(p, w, f->slots)->head,
								  memory_order_acquire);
		}
	}
	if (d)
		closedir(d);
}

static bool watched(struct tracer *t);

/* is this space switched off (azds trace off -s)? the thread's own list */
static bool space_off(const struct tracer *t, __u32 space)
{
	for (unsigned i = 0; i < t->napplied; i++)
		if (t->applied[i] == space)
			return true;
	return false;
}

/*
 * A routed request is kept unless both its ends are in spaces switched off
 * (the kernel's capture would have recorded it from either pod's side); a
 * request the router answered, unless its caller's space is off.
 */
static bool slot_off(const struct tracer *t, const struct azds_dec_slot *s)
{
	__u32 a, b;

	if (s->kind != AZDS_DEC_K_REQ || !t->napplied)
		return false;
	azds_dec_ends(&s->d, &a, &b); /* the routers' own rule (azds_dec_allowed) */
	return (!a || space_off(t, a)) && (!b || space_off(t, b));
}

/* the router told, in its file, whether anyone watches and which spaces are off (one load each when nothing changed) */
static void dec_tell(const struct tracer *t, struct azds_dec_file *h, bool want)
{
	__u32 n = t->napplied > AZDS_DEC_OFF_MAX ? UINT32_MAX : t->napplied, g;
	bool same = atomic_load_explicit(&h->off_n, memory_order_relaxed) == n;

	for (__u32 i = 0; same && n != UINT32_MAX && i < n; i++)
		same = atomic_load_explicit(&h->off[i], memory_order_relaxed) == t->applied[i];
	if (!same) {
		g = atomic_load_explicit(&h->off_gen, memory_order_relaxed) | 1u;
		atomic_store_explicit(&h->off_gen, g, memory_order_relaxed);
		atomic_thread_fence(memory_order_release);
		atomic_store_explicit(&h->off_n, n, memory_order_relaxed);
		for (__u32 i = 0; n != UINT32_MAX && i < n; i++)
			atomic_store_explicit(&h->off[i], t->applied[i], memory_order_relaxed);
		atomic_store_explicit(&h->off_gen, g + 1, memory_order_release);
	}
	if (atomic_load_explicit(&h->want, memory_order_relaxed) != (want ? 1u : 0u))
		atomic_store_explicit(&h->want, want ? 1u : 0u, memory_order_release);
}

static void dec_read(struct tracer *t)
{
	__u64 missed = 0, got = 0;
	bool live = t->live || watched(t);
	/* the routers record only while someone watches and capture is on */
	bool want = live && t->bpf && atomic_load(&t->publishing);
	struct azds_dec_slot *s = &t->slot;

	if (live && !t->live && t->bpf)
		t->live = true; /* a reader asked: the assembler is fed from now (by decisions alone if need be) */
	for (unsigned i = 0; i < t->nfiles; i++) {
		struct dec_file *f = &t->files[i];

		dec_tell(t, f->base, want);
		for (__u32 w = 0; w < f->nworkers; w++) {
			struct azds_dec_ring *r = azds_dec_ring_of(f->base, w, f->slots);
			int rc;

			if (!live || !t->live) { /* nobody watches: what is there now is passed over */
				f->next[w] = atomic_load_explicit(&r->head, memory_order_acquire);
				continue;
			}
			while ((rc = azds_dec_get(r, f->slots, &f->next[w], s, &missed)) != 0) {
				if (rc > 0) {
					got++;
					if (!slot_off(t, s))
						azds_trace_asm_slot(t->as, s);
					/* the head's credentials do not outlive the parse here either */
					explicit_bzero(s->head, s->head_len);
				}
			}
		}
	}
	if (missed || got) {
		pthread_mutex_lock(&t->mu);
		t->dec_missed += missed;
		t->decisions += got;
		pthread_mutex_unlock(&t->mu);
	}
}

/* ---- the thread ----------------------------------------------------------------------- */

/* under mu: the programs told whether anyone wants records (attached or not) */
static void publish_locked(struct tracer *t, bool on)
{
	if (t->bpf && t->publishing != on) {
		int err = azds_trace_bpf_publish(t->bpf, on);

		if (err) {
			snprintf(t->reason, sizeof(t->reason), "attaching the capture programs for a reader: %s",
				 strerror(-err));
			return; /* tried again at the reader's next ask */
		}
	}
	t->publishing = on;
}

/*
 * Whether an API reader asked lately. Nobody watching, the records are
 * taken in and passed over (a reader starts from now: GET /v1/traces
 * without "after"), because assembling them is nearly all that capture
 * costs (docs/trace.md): the assembler starts afresh when one asks.
 * The reader's time is read at each call, so the records consumed after
 * the CLI's first answer are all assembled.
 */
static bool watched(struct tracer *t)
{
	__u64 last = atomic_load_explicit(&t->last_reader_ns, memory_order_relaxed);

	return last && last + READER_GONE_NS >= mono_ns();
}

static void stats_add(struct azds_trace_stats *to, const struct azds_trace_stats *s)
{
	to->records += s->records;
	to->decisions += s->decisions;
	to->hops += s->hops;
	to->requests += s->requests;
	to->unparsed += s->unparsed;
	to->unanswered += s->unanswered;
	to->evicted += s->evicted;
	to->bad_records += s->bad_records;
}

/*
 * Nobody watches any more: the programs stop publishing, and what the
 * assembler holds is dropped unsaid (the next watcher starts afresh).
 */
/* an assembler that emits packed (the form kept), NULL on ENOMEM */
static struct azds_trace_asm *asm_new(struct tracer *t)
{
	struct azds_trace_asm *a = azds_trace_asm_new(&t->model, NULL, NULL, NULL);

	if (a)
		azds_trace_asm_set_packed(a, on_request, t);
	return a;
}

static void go_idle(struct tracer *t)
{
	struct azds_trace_asm *fresh = NULL;
	struct azds_trace_stats st;

	if (t->live && !(fresh = asm_new(t)))
		return; /* tried again at the next pass */
	pthread_mutex_lock(&t->mu);
	if (watched(t)) { /* one asked meanwhile */
		pthread_mutex_unlock(&t->mu);
		azds_trace_asm_free(fresh);
		return;
	}
	if (t->bpf && atomic_load(&t->publishing))
		t->pauses++; /* a reader still following learns it missed this */
	publish_locked(t, false);
	pthread_mutex_unlock(&t->mu);
	if (!fresh)
		return;
	azds_trace_asm_stats(t->as, &st);
	stats_add(&t->gone, &st);
	azds_trace_asm_free(t->as);
	t->as = fresh;
	t->live = false;
}

/*
 * libbpf's consume goes on for as long as records keep coming: under load
 * it would never return, and nothing else the loop does (decisions, the
 * assembler's clock, counters, switches) would happen. A go ends after
 * BATCH_MAX records (a negative return stops it, that record consumed).
 */
static int on_record(void *ctx, void *data, size_t len)
{
	struct tracer *t = ctx;
	int rc = ++t->batch >= BATCH_MAX ? BATCH_CUT : 0;

	if (!t->live) {
		if (!watched(t)) {
			t->skipped_here++;
			return rc;
		}
		t->live = true;
	}
	/* decisions come before the records that need them, mostly: read
	 * them often enough under load that the rings never wrap */
	if (++t->since_dec >= DECISIONS_EVERY) {
		t->since_dec = 0;
		dec_read(t);
	}
	azds_trace_asm_record(t->as, data, len);
	return rc;
}

static void apply_off(struct tracer *t);

static void set_state(struct tracer *t, bool attached, const char *reason)
{
	pthread_mutex_lock(&t->mu);
	t->attached = attached;
	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	pthread_mutex_unlock(&t->mu);
}

static void detach(struct tracer *t)
{
	struct azds_trace_bpf *b;

	if (t->rb) {
		ring_buffer__free(t->rb);
		t->rb = NULL;
	}
	pthread_mutex_lock(&t->mu);
	b = t->bpf;
	t->bpf = NULL;
	pthread_mutex_unlock(&t->mu);
	azds_trace_bpf_detach(b);
	azds_trace_asm_flush(t->as);
}

static void attach(struct tracer *t)
{
	struct azds_trace_bpf *b;
	char why[256] = "";
	int err;

	/* the verdict is the kernel's: asked once, not at every retry */
	if (!t->support_known) {
		t->supported = azds_trace_bpf_supported(t->support_why, sizeof(t->support_why));
		t->support_known = true;
	}
	if (!t->supported) {
		set_state(t, false, t->support_why[0] ? t->support_why : "this kernel cannot run the capture programs");
		return;
	}
	err = azds_trace_bpf_attach(t->in.pin_dir, AZDS_TRACE_DEF_RING_BYTES, &b);
	if (err) {
		snprintf(why, sizeof(why), "attaching the capture programs: %s", strerror(-err));
		set_state(t, false, why);
		return;
	}
	/* a fresh object publishes: told at once whether anyone watches */
	pthread_mutex_lock(&t->mu);
	t->bpf = b;
	t->publishing = true;
	publish_locked(t, watched(t));
	pthread_mutex_unlock(&t->mu);
	t->applied_ok = false; /* a new trace_off map may have come with it */
	apply_off(t);
	t->rb = ring_buffer__new(azds_trace_bpf_ring_fd(t->bpf), on_record, t, NULL);
	if (!t->rb) {
		snprintf(why, sizeof(why), "the trace ring buffer: %s", strerror(errno));
		detach(t);
		set_state(t, false, why);
		return;
	}
	set_state(t, true, "capturing");
}

/* trace_off follows what the event loop last said (once the map exists) */
static void apply_off(struct tracer *t)
{
	__u32 want[AZDS_TRACE_DEF_MAX_OFF];
	unsigned n;
	uint64_t gen;

	pthread_mutex_lock(&t->mu);
	gen = t->off_gen;
	n = t->noff;
	memcpy(want, t->off, n * sizeof(want[0]));
	pthread_mutex_unlock(&t->mu);
	if (t->applied_ok && gen == t->applied_gen)
		return;
	if (!t->applied_ok) {
		/* what is pinned may be an earlier controller's: every id that
		 * is not wanted goes, not just those this one put there */
		int fd = azds_trace_map_open(t->in.pin_dir, AZDS_TRACE_PIN_OFF);
		__u32 key, next, *prev = NULL, gone[256];
		unsigned ngone = 0;

		while (fd >= 0 && ngone < 256 && bpf_map_get_next_key(fd, prev, &next) == 0) {
			bool keep = false;

			key = next;
			prev = &key;
			for (unsigned j = 0; j < n && !keep; j++)
				keep = want[j] == key;
			if (!keep)
				gone[ngone++] = key;
		}
		for (unsigned i = 0; fd >= 0 && i < ngone; i++)
			bpf_map_delete_elem(fd, &gone[i]);
		if (fd >= 0)
			close(fd);
	}
	for (unsigned i = 0; i < t->napplied; i++) {
		bool still = false;

		for (unsigned j = 0; j < n && !still; j++)
			still = want[j] == t->applied[i];
		if (!still)
			azds_trace_space_set(t->in.pin_dir, t->applied[i], true);
	}
	t->applied_ok = true;
	for (unsigned j = 0; j < n; j++)
		if (azds_trace_space_set(t->in.pin_dir, want[j], false))
			t->applied_ok = false; /* tried again next round */
	memcpy(t->applied, want, n * sizeof(want[0]));
	t->napplied = n;
	t->applied_gen = gen;
}

static void *run(void *arg)
{
	struct tracer *t = arg;
	__u64 last_scan = 0, last_counts = 0, last_attempt = 0, last_tick = 0, retry_ns = RESCAN_NS;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&t->stop)) {
		bool want = atomic_load(&t->want);
		__u64 now = mono_ns();
		int got = 0; /* records taken in this round */

		if (!t->maps_open) {
			struct azds_err e;

			if (now - last_attempt >= RESCAN_NS) {
				last_attempt = now;
				t->maps_open = azds_maps_open(&t->in, &t->m, &e) == 0;
				if (!t->maps_open)
					set_state(t, false, e.msg);
			}
			usleep(POLL_MS * 1000);
			continue;
		}
		if (want && !t->bpf && now - last_attempt >= retry_ns) {
			last_attempt = now;
			attach(t);
			/* a failing attach loads and parses an object: back off */
			retry_ns = t->bpf ? RESCAN_NS : retry_ns * 2 > RETRY_MAX_NS ? RETRY_MAX_NS : retry_ns * 2;
		} else if (!want && t->bpf) {
			detach(t);
			set_state(t, false, "off");
		} else if (!want) {
			retry_ns = RESCAN_NS; /* switched on again: at once */
			set_state(t, false, "off");
		}
		if (now - last_scan >= RESCAN_NS) {
			last_scan = now;
			t->mono_to_unix_ns = mono_to_unix();
			dec_rescan(t);
		}
		if (t->bpf)
			apply_off(t);
		if ((t->live || atomic_load(&t->publishing)) && !watched(t))
			go_idle(t);
		dec_read(t);
		if (t->rb) {
			/* the programs wake the reader only once the ring fills
			 * up (trace.bpf.c): the timeout is the usual way in, and
			 * a timeout consumes nothing by itself */
			/* a go cut short left records: no sleep before the next */
			int n = t->more ? 0 : ring_buffer__poll(t->rb, POLL_MS);

			t->more = n == BATCH_CUT;
			if (n >= 0)
				n = ring_buffer__consume(t->rb);
			if (n == BATCH_CUT) {
				t->more = true;
				n = 0;
			}
			got = (int)t->batch;
			t->batch = 0;

			if (n < 0 && n != -EINTR) {
				char why[128];

				snprintf(why, sizeof(why), "reading the ring buffer: %s", strerror(-n));
				detach(t);
				set_state(t, false, why);
			}
		} else {
			usleep(POLL_MS * 1000);
		}
		dec_read(t);
		/* a tick walks what waits for its join window: under load the
		 * loop comes round much faster than that needs. The clock is
		 * the records' own while they come (a reader behind the ring
		 * must not see join windows close on records it has not read
		 * yet), the wall's once the ring is empty */
		if (t->live && mono_ns() - last_tick >= TICK_NS) {
			last_tick = mono_ns();
			azds_trace_asm_tick(t->as, got ? 0 : last_tick);
		}
		if (now - last_counts >= COUNTS_NS) {
			__u64 c[AZDS_TC__COUNT] = { 0 };
			struct azds_trace_stats st;

			last_counts = now;
			azds_trace_counts(t->in.pin_dir, c);
			azds_trace_asm_stats(t->as, &st);
			stats_add(&st, &t->gone);
			pthread_mutex_lock(&t->mu);
			memcpy(t->counts, c, sizeof(c));
			t->st = st;
			t->skipped = t->skipped_here;
			pthread_mutex_unlock(&t->mu);
		}
	}
	detach(t);
	return NULL;
}

int tracer_start(struct tracer **out, const struct azds_inst *in)
{
	struct tracer *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	t->in = *in;
	pthread_mutex_init(&t->mu, NULL);
	t->ring = calloc(TRACER_KEEP, sizeof(*t->ring));
	t->svcs = calloc(SVC_TABLE, sizeof(*t->svcs));
	t->pod_svc = calloc(POD_SVC_TABLE, sizeof(*t->pod_svc));
	t->pod_cache = calloc(POD_CACHE, sizeof(*t->pod_cache));
	t->space_cache = calloc(SPACE_CACHE, sizeof(*t->space_cache));
	t->model.ctx = t;
	t->model.pod = m_pod;
	t->model.space_path = m_space_path;
	t->model.service_name = m_service_name;
	t->model.vip_name = m_vip_name;
	t->mono_to_unix_ns = mono_to_unix();
	if (t->ring && t->svcs && t->pod_svc && t->pod_cache && t->space_cache)
		t->as = asm_new(t);
	if (!t->as) {
		tracer_stop(t);
		return -ENOMEM;
	}
	snprintf(t->reason, sizeof(t->reason), "off");
	err = pthread_create(&t->th, NULL, run, t);
	if (err) {
		tracer_stop(t);
		return -err;
	}
	t->th_started = true;
	*out = t;
	return 0;
}

void tracer_stop(struct tracer *t)
{
	if (!t)
		return;
	atomic_store(&t->stop, 1);
	if (t->th_started)
		pthread_join(t->th, NULL);
	while (t->nfiles)
		dec_unmap(t, 0);
	if (t->as)
		azds_trace_asm_free(t->as);
	if (t->maps_open)
		azds_maps_close(&t->m);
	for (size_t i = 0; t->ring && i < TRACER_KEEP; i++)
		kept_put(t->ring[i]);
	free(t->ring);
	free(t->svcs);
	free(t->pod_svc);
	free(t->pod_cache);
	free(t->space_cache);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

void tracer_set(struct tracer *t, bool on, const __u32 *off, unsigned noff)
{
	if (!t)
		return;
	if (noff > AZDS_TRACE_DEF_MAX_OFF)
		noff = AZDS_TRACE_DEF_MAX_OFF;
	pthread_mutex_lock(&t->mu);
	memcpy(t->off, off, noff * sizeof(off[0]));
	t->noff = noff;
	t->off_gen++;
	pthread_mutex_unlock(&t->mu);
	atomic_store(&t->want, on ? 1 : 0);
}

uint64_t tracer_head(struct tracer *t)
{
	uint64_t h;

	/* a reader is about to start: records are wanted from now (the
	 * programs told before the answer, so that whatever the reader does
	 * next is recorded) */
	pthread_mutex_lock(&t->mu);
	atomic_store(&t->last_reader_ns, mono_ns());
	publish_locked(t, true);
	h = t->head;
	pthread_mutex_unlock(&t->mu);
	return h;
}

/* ---- readers ---------------------------------------------------------------------------- */

static bool kept_matches(const struct kept *k, const struct tracer_filter *f)
{
	bool sp = !f->space, sv = !f->service, st = !f->status_class && !f->status, me = !f->method;
	const char *p = k->fields;

	for (unsigned i = 0; i < k->nhops; i++) {
		const char *v[KF__COUNT];
		int status = k->status[i];

		for (int x = 0; x < KF__COUNT; x++) {
			v[x] = p;
			p += strlen(p) + 1;
		}
		sp = sp || !strcmp(v[KF_SPACE], f->space) || !strcmp(v[KF_CALLER_SPACE], f->space) ||
		     !strcmp(v[KF_ASKED], f->space);
		sv = sv || !strcmp(v[KF_SERVICE], f->service) || !strcmp(v[KF_CALLER], f->service);
		st = st || (f->status && status == f->status) || (f->status_class && status / 100 == f->status_class);
		me = me || !strcmp(v[KF_METHOD], f->method);
	}
	return sp && sv && st && me;
}

/* txt appended to *buf, after a comma unless first; false when out of memory */
static bool buf_add(char **buf, size_t *len, size_t *cap, const char *txt, bool first)
{
	size_t n = strlen(txt), need = *len + n + 2;

	if (need > *cap) {
		size_t nc = *cap ? *cap : 65536;
		char *nb;

		while (nc < need)
			nc *= 2;
		nb = realloc(*buf, nc);
		if (!nb)
			return false;
		*buf = nb;
		*cap = nc;
	}
	if (!first)
		(*buf)[(*len)++] = ',';
	memcpy(*buf + *len, txt, n);
	*len += n;
	(*buf)[*len] = 0;
	return true;
}

/*
 * The text a reader gets: written now if nobody asked for it before (from
 * the packed form, into scratch hops the caller holds), published for the
 * next reader. NULL when out of memory.
 */
static const char *kept_text(struct kept *k, bool show_query, struct azds_trace_hop **scratch, bool *lost)
{
	_Atomic(char *) *slot = show_query || !k->query ? &k->js : &k->jsq;
	char *txt = atomic_load_explicit(slot, memory_order_acquire), *none = NULL;
	struct azds_trace_req req;

	if (txt)
		return txt;
	if (!*scratch && !(*scratch = malloc(AZDS_TRACE_HOPS_MAX * sizeof(**scratch))))
		return NULL;
	/* a request that cannot be written (not one the assembler makes) is passed over, counted as missed */
	*lost = true;
	if (!azds_trace_req_unpack(k->packed, k->packed_len, *scratch, &req))
		return NULL;
	txt = azds_trace_req_text(&req,
				  &(struct azds_trace_json_opts){ .show_query = show_query || !k->query,
								  .mono_to_unix_ns = k->mono_to_unix_ns },
				  k->seq);
	if (!txt)
		return NULL;
	*lost = false;
	if (!atomic_compare_exchange_strong_explicit(slot, &none, txt, memory_order_acq_rel, memory_order_acquire)) {
		free(txt); /* another reader wrote it first */
		return none;
	}
	return txt;
}

size_t tracer_query(struct tracer *t, uint64_t after, const struct tracer_filter *f, size_t limit, char **buf,
		    size_t *len, uint64_t *next, uint64_t *missed)
{
	struct kept **got;
	struct azds_trace_hop *scratch = NULL;
	uint64_t oldest, n, last;
	size_t ngot = 0, nitems = 0, cap = 0;

	/* references taken under the lock, the filtering made outside it:
	 * the reader thread never waits for an API answer (the requests are
	 * never changed once in the ring) */
	*buf = NULL;
	*len = 0;
	pthread_mutex_lock(&t->mu);
	atomic_store(&t->last_reader_ns, mono_ns());
	publish_locked(t, true);
	pthread_mutex_unlock(&t->mu);
	got = malloc(TRACER_KEEP * sizeof(*got));
	if (!got) {
		*next = after;
		*missed = 0;
		return 0;
	}
	pthread_mutex_lock(&t->mu);
	oldest = t->head > TRACER_KEEP ? t->head - TRACER_KEEP + 1 : 1;
	*missed = after + 1 < oldest ? oldest - (after + 1) : 0;
	n = after + 1 < oldest ? oldest : after + 1;
	last = t->head;
	for (; n <= last && ngot < TRACER_KEEP; n++) {
		struct kept *k = t->ring[n % TRACER_KEEP];

		if (k && k->seq == n) {
			atomic_fetch_add(&k->refs, 1);
			got[ngot++] = k;
		} else {
			(*missed)++; /* not kept (out of memory when it came) */
		}
	}
	pthread_mutex_unlock(&t->mu);
	*next = after + 1 < oldest ? oldest - 1 : after;
	for (size_t i = 0, hops = 0; i < ngot; i++) {
		struct kept *k = got[i];

		/* a hop budget keeps an answer well inside HTTPD_MAX_ANSWER */
		if (nitems < limit && hops < TRACER_ANSWER_HOPS) {
			const char *txt = NULL;
			bool lost = false;

			if (!kept_matches(k, f)) {
				*next = k->seq;
			} else if (!(txt = kept_text(k, f->show_query, &scratch, &lost)) && lost) {
				*next = k->seq;
				(*missed)++;
			} else if (txt && buf_add(buf, len, &cap, txt, !nitems)) {
				*next = k->seq;
				hops += k->nhops;
				nitems++;
			} else {
				limit = nitems; /* out of memory: what fits goes, the rest next time */
			}
		}
		kept_put(k);
	}
	if (ngot == 0 && n > after + 1)
		*next = n - 1; /* only slots counted as missed */
	free(scratch);
	free(got);
	return nitems;
}

json_t *tracer_status(struct tracer *t)
{
	json_error_t je;
	json_t *j;

	pthread_mutex_lock(&t->mu);
	j = json_pack_ex(&je, 0, "{s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:I}", "state",
		      t->attached ? "capturing" : atomic_load(&t->want) ? "error" : "off", "reason", t->reason,
		      "attached", t->attached, "records", (json_int_t)t->counts[AZDS_TC_EMITTED], "dropped",
		      (json_int_t)t->counts[AZDS_TC_DROPPED], "faults", (json_int_t)t->counts[AZDS_TC_FAULTS],
		      "decisions", (json_int_t)t->decisions, "decisions_missed", (json_int_t)t->dec_missed, "hops",
		      (json_int_t)t->st.hops, "requests", (json_int_t)t->head, "unparsed", (json_int_t)t->st.unparsed,
		      "unanswered", (json_int_t)t->st.unanswered, "evicted", (json_int_t)t->st.evicted, "read",
		      (json_int_t)(t->st.records + t->skipped), "skipped", (json_int_t)t->skipped, "watched",
		      watched(t), "pauses", (json_int_t)t->pauses);
	pthread_mutex_unlock(&t->mu);
	if (!j)
		fprintf(stderr, "azds-controller: trace status: %s\n", je.text);
	return j;
}
