/* SPDX-License-Identifier: MIT */
#ifndef AZDS_ROUTER_H
#define AZDS_ROUTER_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include "http_parse.h"
#include "route.h"
#include "decisions.h"
#include "dataplane_load.h"

#define ROUTER_MAX_WORKERS 64
_Static_assert(ROUTER_MAX_WORKERS <= AZDS_DEC_MAX_WORKERS, "a decision ring per worker");
#define POOL_BUCKETS 1024

/* Router settings: one table with defaults and bounds (see main.c). */
struct router_cfg {
	char instance[32];
	char netns[64];
	unsigned port;
	unsigned workers;             /* event loops; 0 = the CPUs we may run on */
	unsigned spread_busy_pct;     /* spread.c: a loop this busy opens one more to new connections */
	unsigned spread_idle_pct;     /* ... while this much CPU is idle */
	unsigned max_conns;           /* client + upstream connections, all workers */
	unsigned max_conns_per_pod;   /* client connections of one caller; 0 = max_conns / 4 */
	unsigned max_head_bytes;
	unsigned max_headers;
	uint64_t max_body_bytes;
	unsigned header_timeout_ms;
	unsigned idle_timeout_ms;
	unsigned tunnel_idle_timeout_ms;
	unsigned upstream_timeout_ms;
	unsigned connect_timeout_ms;
	unsigned max_idle_upstreams;  /* pooled idle upstreams of one worker */
	unsigned max_idle_per_backend;/* pooled idle upstreams to one backend, one worker */
	unsigned pool_idle_timeout_ms;
	char access_log[PATH_MAX];    /* "" = off */
	uint64_t access_log_bytes;    /* rotate above this size */
	bool access_log_query;        /* log query strings too */
	bool redirect_mode; /* original destination from SO_ORIGINAL_DST (iptables REDIRECT) */
	unsigned drain_timeout_ms;    /* after SIGTERM; 0 = stop at once */
	unsigned drain_idle_ms;       /* draining: an idle client's grace */
	unsigned listen_fds;          /* inherited listeners at fds 3..; 0 = our own */
	unsigned ingress_fd;          /* an inherited ingress listener (docs/ingress.md); 0 = none */
	char ingress[64];             /* ADDR:PORT of an ingress we make ourselves; "" = none */
};

struct buf {
	char *data;
	size_t cap, start, end;
};

struct session;
struct pool_backend;

struct conn {
	int fd;
	bool can_read, can_write, eof, connecting, error, reused, shut_wr, rdhup;
	bool no_reuse;              /* upstream: close after this exchange */
	int connect_err;            /* upstream: why its connect failed (SO_ERROR), 0 if it did not */
	struct buf in;
	struct session *s;          /* NULL while idle in the pool */
	struct sockaddr_in addr;    /* upstream: the backend */
	struct conn *pool_next;     /* idle list of one backend, oldest first; grave list */
	struct conn *pool_prev;
	struct pool_backend *pb;    /* set while idle in the pool */
	uint64_t idle_since_ms;
	uint64_t connect_since_ms;
	uint64_t gen;               /* routing generation when connected */
	__be16 lport;               /* upstream: our end's port (azds trace joins by it) */
	/* sends toward a pod that sockmap may redirect (dataplane.h,
	 * AZDS_POD_RX_*): what may still go before the pod is asked again */
	struct azds_pod_budget rx;
	bool rx_waiting;            /* on the worker's rx_wait list */
	uint32_t rx_backoff_ms;
	uint64_t rx_retry_ms;
	struct conn *rx_next, *rx_prev;
};

/* The idle upstreams to one backend address (one worker's). */
struct pool_backend {
	struct sockaddr_in addr;
	struct conn *head, *tail; /* oldest first: reuse spreads over all, so
				     a stray byte has the longest time to show */
	unsigned n;
	struct pool_backend *next;
};

/* State shared by all workers: touched at accept and close, never per request. */
struct router_shared {
	struct router_cfg cfg;
	unsigned nworkers;
	_Atomic unsigned nconns;
	struct caller_table *callers;
	struct access_log *alog;
	void *dec;                  /* the decisions file (decisions.h), mapped; NULL = none */
	size_t dec_len;
	char dec_path[PATH_MAX];
	int ingress_fd;             /* the local ingress, served by every worker; -1 = none */
	int peer_queue_fd;          /* prog_peer_queue (conn_write's bound); -1 = none pinned */
	bool own_ingress;           /* made by us (--ingress), not inherited */
	_Atomic int stop;
	_Atomic int draining;       /* SIGTERM: finish what is held, take nothing new */
	uint64_t drain_deadline_ms; /* set before draining */
	_Atomic unsigned drain_begun; /* workers that stopped accepting */
	_Atomic unsigned workers_done;
};

/* One event loop: its own listener, epoll, sessions, pool and caches. */
struct router {
	struct router_cfg cfg; /* a copy: read on the request path */
	struct router_shared *sh;
	unsigned id;
	pthread_t thread;
	struct router_maps rm;
	struct azds_dec_ring *dec; /* this worker's ring in the decisions file; NULL = none */
	__u32 dec_slots;               /* slots of the ring */
	const struct azds_dec_file *dec_file; /* its want and off list: records only while someone watches */
	__u64 dec_xid;                 /* the last exchange number given (pid, worker, count) */
	int epfd, lfd;
	int wakefd;     /* eventfd: the main thread's nudge (drain) */
	int reserve_fd; /* spare descriptor for EMFILE at accept */
	unsigned nidle;
	struct session *sessions; /* all live sessions, for the timeout sweep */
	struct pool_backend *pool[POOL_BUCKETS];
	uint64_t pool_gen; /* routing generation the pool was filled under */
	unsigned rr;
	uint64_t now_ms;
	uint64_t requests;
	uint64_t upstream_connects;
	uint64_t evicted; /* idle client connections closed for a newcomer (router_evict_idle) */
	bool accept_paused; /* out of descriptors: listener out of epoll */
	bool draining;      /* listener gone, pool closed, sessions finishing */
	uint64_t drain_since_ms;
	struct session *again; /* sessions to advance once more (see advance) */
	struct conn *rx_wait;  /* conns waiting for their pod to read (conn_write) */
	char log[65536]; /* access log, written in one call per sweep */
	size_t log_len;
	struct conn *grave;
	struct session *grave_sessions;
};

uint64_t router_now_ms(void);
/* full: close an idle client connection of the largest holder for newcomer (proxy.c) */
bool router_evict_idle(struct router *r, uint32_t newcomer);
/* accept on lfd, the worker's listener or the ingress: 1: one accepted,
 * 0: none waiting, or -errno */
int router_accept(struct router *r, int lfd, bool ingress);
/* Stop accepting (own_listener: serve what waits in its queue, then close
 * it; an inherited one is just closed, its owner keeps the queue), close
 * the pool. */
void router_drain_begin(struct router *r, bool own_listener);
/* While draining: close idle clients past the grace. */
void router_drain(struct router *r);
void router_note_events(struct router *r, struct epoll_event *evs, int n);
void router_event(struct conn *c);
void router_sweep(struct router *r);
void router_shutdown(struct router *r);
void router_reap(struct router *r);
void router_again(struct router *r); /* advance the sessions that stopped on the round limit */
void router_log(struct router *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void router_log_flush(struct router *r);

/* conn.c: buffers and non-blocking sockets */
size_t buf_len(const struct buf *b);
int buf_reserve(struct buf *b, size_t cap);
void buf_release_if_empty(struct buf *b);
void buf_free(struct buf *b);
void buf_spare_drop(void);
struct conn *conn_new(struct router *r, int fd);
void conn_close(struct router *r, struct conn *c);
bool conn_fill(struct conn *c, size_t cap);
size_t conn_write(struct conn *c, const char *p, size_t len);
/* conns whose pod has read enough since: writable again; the next due
 * time in ms from now (-1: none waiting) */
void router_rx_retry(struct router *r);
struct router *session_router(const struct session *s);
/* advance a session whose conn became writable outside an epoll event */
void router_kick(struct session *s);
int router_rx_timeout(const struct router *r);
bool conn_budget(struct router *r); /* room for one more connection? */

/* pool.c: idle upstream connections shared by every session of a worker */
struct conn *pool_take(struct router *r, const struct sockaddr_in *a);
void pool_put(struct router *r, struct conn *c);
void pool_unlink(struct router *r, struct conn *c);
void pool_expire(struct router *r);
void pool_flush(struct router *r);
void pool_evict(struct router *r); /* close one idle upstream: the budget is needed */
void pool_sync(struct router *r); /* drop everything pooled under an older routing generation */
struct conn *upstream_connect(struct router *r, const struct sockaddr_in *a);

/* callers.c: client connections per caller address, across workers */
struct caller_table *callers_new(void);
void callers_free(struct caller_table *t);
/* count one more connection from addr; false (nothing counted) at limit */
bool callers_get(struct caller_table *t, uint32_t addr, unsigned limit);
void callers_put(struct caller_table *t, uint32_t addr);
/* the client connections addr holds now (no slot is claimed) */
unsigned callers_count(struct caller_table *t, uint32_t addr);

/* accesslog.c: a size-bounded, rotated file, mode 0640 */
struct access_log *alog_open(const char *path, uint64_t max_bytes, char *err, size_t errlen);
void alog_write(struct access_log *l, const char *p, size_t len);
void alog_close(struct access_log *l);

#endif
