// SPDX-License-Identifier: MIT
/*
 * The proxy state machine of azds-router.
 *
 * A session is one client connection (a pod's connection steered here by
 * the TC program) and, while an exchange runs, one upstream connection
 * taken from the worker's pool (pool.c) and given back when the exchange
 * is complete. Requests are handled one after another: the next pipelined
 * request is parsed only when the previous response is complete, so
 * responses leave in order and a slow response applies backpressure to the
 * client instead of buffering.
 *
 * Bytes are forwarded unchanged from one connection's input buffer to the
 * other socket; the parser only finds message boundaries and routing
 * inputs. Two exceptions, both for HTTP/1.0 clients, which cannot read
 * them: interim (1xx) responses are dropped, and a chunked response is
 * passed on decoded, its end marked by our close. advance() runs a session
 * until nothing moves.
 *
 * A connection accepted on the local ingress (docs/ingress.md) comes from
 * the host, not from a pod, and to no service address: each request's
 * Host names the service and the space (ingress.h), or a forward preamble
 * pins them for the connection; a route-as the name implies is inserted
 * into the forwarded head, so the services' own propagation carries it on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <linux/netfilter_ipv4.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "router.h"
#include "ingress.h"

#define REPLY_MAX 1024
#define REPLY_DEADLINE_MS 10000 /* to deliver our own error reply */
#define UPSTREAM_BUF 65536      /* holds the largest response head we accept */

enum mode { M_DETECT, M_HTTP, M_TUNNEL };
enum req_state { RQ_HEAD, RQ_BODY, RQ_RESEND, RQ_DONE };
enum resp_state { RS_NONE, RS_HEAD, RS_INTERIM, RS_BODY, RS_DONE };

struct session {
	struct router *r;
	struct conn *cli, *up;
	struct session *next, *prev;
	enum mode mode;
	__u32 caller_space;
	__u64 dec_xid;   /* azds trace: the routed request whose response is still to be published (0: none) */
	__u32 dec_start; /* the space the request being read asked for (0: not known yet) */
	struct sockaddr_in peer;
	struct sockaddr_in orig; /* the service address the client connected to */
	struct azds_vip vip;

	/* how far the head being received has been scanned (item: a head that
	 * arrives a byte per read costs O(n), not O(n^2)) */
	struct azds_http_scan rq_scan, rs_scan;

	enum req_state rq;
	enum azds_http_body rq_body;
	uint64_t rq_left;
	struct azds_chunked rq_ch;
	size_t rq_fwd; /* bytes at cli->in.start still to write upstream */
	/* the request head as rewritten for the backend (rqh_len 0: the
	 * client's bytes go as they are) */
	char *rqh;
	size_t rqh_cap, rqh_len, rqh_off;
	bool rq_body_all; /* every body byte has been designated */
	bool rq_head_method, rq_upgrade, rq_close;

	bool rq_http10;    /* the client speaks HTTP/1.0: no 1xx, no chunked framing */
	bool rq_replayable; /* idempotent and bodyless (RFC 9110 9.2.2) */
	bool pipelined;    /* the next request was waiting when the last exchange ended */
	bool counted;      /* holds one of its caller's connections (callers.c) */
	bool ingress;      /* from the local ingress: vip and caller_space are per request */
	struct ingress_target *pin; /* the forward preamble's target, for the whole connection */

	enum resp_state rs;
	enum azds_http_body rs_body;
	uint64_t rs_left;
	struct azds_chunked rs_ch;
	size_t rs_fwd; /* bytes at up->in.start still to write to the client */
	bool rs_body_all, rs_close, rs_started;
	/* HTTP/1.0 client, chunked response: the rewritten head, then the
	 * chunk data alone */
	bool dechunk;
	char *head;
	size_t head_len, head_off;

	/* a reply the router writes itself, then closes (allocated then:
	 * idle sessions stay small) */
	char *reply;
	size_t reply_len, reply_off;

	uint64_t head_started_ms; /* first byte of the current request head */
	uint64_t last_active_ms;
	uint64_t waiting_since_ms; /* request sent, response head awaited */
	uint64_t linger_since_ms; /* our side is done; draining the client */
	bool await_fin;		  /* lingering before our FIN: the client closes first */
	uint64_t reply_since_ms;
	/* a bodyless request sent on a reused upstream, kept to send once
	 * more if that connection turns out to have been closed under us;
	 * the buffer stays with the session (retry_len 0: nothing kept) */
	char *retry;
	size_t retry_cap, retry_len, retry_off;
	bool abort_client; /* close with a reset: the response was cut short */
	bool dead;
	bool freed;       /* in the grave: r->again may still name it */
	bool queued;      /* on r->again */
	struct session *again_next;
};

/* ---- access log --------------------------------------------------------- */

void router_log_flush(struct router *r)
{
	alog_write(r->sh->alog, r->log, r->log_len);
	r->log_len = 0;
}

/* Lines collect in one buffer: a request costs no write() of its own. */
void router_log(struct router *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sizeof(r->log) - r->log_len < 1024)
		router_log_flush(r);
	va_start(ap, fmt);
	n = vsnprintf(r->log + r->log_len, sizeof(r->log) - r->log_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->log_len += (size_t)n < sizeof(r->log) - r->log_len ? (size_t)n : sizeof(r->log) - r->log_len - 1;
}

/* ---- sessions --------------------------------------------------------- */

static void publish_response(struct session *s, int status, const char *head, size_t head_len);

static void session_free(struct session *s)
{
	struct router *r = s->r;

	if (s->prev)
		s->prev->next = s->next;
	else
		r->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->abort_client && s->cli && s->cli->fd >= 0) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(s->cli->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	s->freed = true;
	publish_response(s, 0, NULL, 0); /* a routed request that never got its answer */
	if (s->counted)
		callers_put(r->sh->callers, s->peer.sin_addr.s_addr);
	conn_close(r, s->cli);
	conn_close(r, s->up);
	s->next = r->grave_sessions;
	r->grave_sessions = s;
}

void router_reap(struct router *r)
{
	while (r->grave) {
		struct conn *c = r->grave;

		r->grave = c->pool_next;
		free(c);
	}
	while (r->grave_sessions) {
		struct session *s = r->grave_sessions;

		r->grave_sessions = s->next;
		free(s->reply);
		free(s->retry);
		free(s->head);
		free(s->rqh);
		free(s->pin);
		free(s);
	}
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/*
 * Answer the client ourselves and close once written. Anything the
 * upstream had not sent is abandoned; nothing more is read from the client.
 */
static void publish_reply(struct session *s, int status);
static void session_reply(struct session *s, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void session_reply(struct session *s, int status, const char *fmt, ...)
{
	char body[640];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(body) - 2)
		n = sizeof(body) - 2;
	publish_reply(s, status);
	body[n++] = '\n';
	body[n] = 0;
	if (!s->reply)
		s->reply = malloc(REPLY_MAX);
	if (!s->reply) {
		s->dead = true;
		return;
	}
	s->reply_len = (size_t)snprintf(s->reply, REPLY_MAX,
					"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
					"Connection: close\r\nazds-router: refused\r\n\r\n%s",
					status, status_text(status), n, body);
	if (s->reply_len >= REPLY_MAX)
		s->reply_len = REPLY_MAX - 1;
	s->reply_off = 0;
	s->reply_since_ms = s->r->now_ms;
	if (s->up) {
		conn_close(s->r, s->up);
		s->up = NULL;
	}
	if (s->r->sh->alog)
		router_log(s->r, "azds-router: %s:%u -> %d: %s", inet_ntoa(s->peer.sin_addr), ntohs(s->peer.sin_port),
			   status, body);
}

static bool replying(const struct session *s)
{
	return s->reply_len > 0;
}

/*
 * Close gracefully: FIN now, then read and discard what the client still
 * sends until it closes (or a short timeout), so that unread bytes never
 * turn our close into a reset that could destroy the reply in flight.
 */
static void start_linger(struct session *s)
{
	shutdown(s->cli->fd, SHUT_WR);
	s->cli->shut_wr = true;
	if (s->up) {
		conn_close(s->r, s->up);
		s->up = NULL;
	}
	s->linger_since_ms = s->r->now_ms ? s->r->now_ms : 1;
}

/*
 * The same, but the client closes first: after a complete response that
 * says "Connection: close", an HTTP client closes its end, and a close
 * that follows the peer's leaves no TIME_WAIT on our side. In the
 * Kubernetes mode the router's accepted sockets live in the node's own
 * namespace, where TIME_WAIT is kept: a later SYN of the same tuple that
 * azds_steer assigns to the listener would meet it and be dropped (the
 * embedded node keeps none: tcp_max_tw_buckets=0). Only for responses
 * whose end the client can see without our close; a client that does not
 * close within AWAIT_FIN_MS gets our FIN as before.
 */
#define AWAIT_FIN_MS 1000
/* whether our namespace keeps TIME_WAIT (the embedded node's has
 * tcp_max_tw_buckets=0: there our FIN first costs nothing, and a client
 * that waits for the server's close, as azds-load does, is not kept
 * waiting). Read once, in the namespace the workers run in. */
static bool tw_kept(void)
{
	static int kept = -1;

	if (kept < 0) {
		char buf[32] = "";
		int fd = open("/proc/sys/net/ipv4/tcp_max_tw_buckets", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		kept = n > 0 && atol(buf) == 0 ? 0 : 1;
	}
	return kept;
}

static void start_close_after_client(struct session *s)
{
	if (!tw_kept()) {
		start_linger(s);
		return;
	}
	if (s->up) {
		conn_close(s->r, s->up);
		s->up = NULL;
	}
	s->await_fin = true;
	s->linger_since_ms = s->r->now_ms ? s->r->now_ms : 1;
}

static void step_linger(struct session *s)
{
	char scratch[16384];
	struct conn *c = s->cli;

	while (c->can_read && !c->eof && !c->error) {
		ssize_t n = read(c->fd, scratch, sizeof(scratch));

		if (n > 0)
			continue;
		if (n == 0)
			c->eof = true;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			c->can_read = false;
		else if (errno != EINTR)
			c->error = true;
	}
	if (c->eof || c->error)
		s->dead = true;
}

/* Flush our own reply; the session ends after it. */
static bool step_reply(struct session *s)
{
	size_t n = conn_write(s->cli, s->reply + s->reply_off, s->reply_len - s->reply_off);

	s->reply_off += n;
	if (s->cli->error) {
		s->dead = true;
	} else if (s->reply_off == s->reply_len) {
		/* the client closes after the reply (it says Connection:
		 * close, and its length), else our FIN; no more service */
		s->reply_len = 0;
		start_close_after_client(s);
	}
	return n > 0;
}

static bool http_like(const char *p, size_t len, bool *need_more)
{
	static const char h2[] = "PRI * HTTP/2.0\r\n";
	size_t n = len < sizeof(h2) - 1 ? len : sizeof(h2) - 1;

	/* h2c prior knowledge, and anything that does not start with a
	 * letter (TLS, binary protocols), is tunnelled untouched; text that
	 * starts like a method is parsed, and refused if it is malformed */
	*need_more = false;
	if (memcmp(p, h2, n) == 0) {
		*need_more = n < sizeof(h2) - 1;
		return false;
	}
	return (p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z');
}

/*
 * azds trace (userspace/lib/decisions.h): a few stores into this worker's
 * shared ring, no syscall, and nothing at all while nobody watches. The
 * request's record carries its head as the backend gets it (the client's
 * when the router answers); reason
 * AZDS_DEC_REPLY with the status the router answered when no upstream was
 * used, else publish_response follows with the backend's response head.
 */
static bool dec_wanted(const struct router *r)
{
	return r->dec && atomic_load_explicit(&r->dec_file->want, memory_order_relaxed);
}

static void dec_head(struct azds_dec_slot *d, const char *head, size_t len)
{
	if (len > AZDS_DEC_HEAD_MAX) {
		len = AZDS_DEC_HEAD_MAX;
		d->d.flags |= AZDS_DEC_F_CUT;
	}
	if (len)
		memcpy(d->head, head, len);
	d->head_len = (__u16)len;
}

static __u64 dec_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static void publish(struct session *s, __u32 start, const struct route *rt, __u16 reason, __u16 status,
		    const char *head, size_t head_len)
{
	struct router *r = s->r;
	struct azds_dec_slot d;

	s->dec_xid = 0;
	if (!dec_wanted(r))
		return;
	memset(&d, 0, AZDS_DEC_SLOT_HDR);
	d.kind = AZDS_DEC_K_REQ;
	d.d.cli_addr = s->peer.sin_addr.s_addr;
	d.d.cli_port = s->peer.sin_port;
	if (!s->ingress) {
		d.d.vaddr = s->orig.sin_addr.s_addr;
		d.d.vport = s->orig.sin_port;
	} else {
		d.d.flags |= AZDS_DEC_F_INGRESS;
	}
	if (reason != AZDS_DEC_REPLY && s->up) {
		d.d.up_lport = s->up->lport;
		d.d.up_rport = s->up->addr.sin_port;
		d.d.up_raddr = s->up->addr.sin_addr.s_addr;
		d.d.served_space = rt ? rt->space : 0;
	}
	d.d.caller_space = s->caller_space;
	d.d.start_space = start;
	d.d.svc = s->vip.svc;
	d.d.reason = reason;
	d.d.status = status;
	/* spaces switched off: their heads never reach the file (the reader's rule, azds_dec_ends) */
	if (!azds_dec_allowed(r->dec_file, &d.d))
		return;
	if (reason != AZDS_DEC_REPLY && s->up)
		d.xid = s->dec_xid = r->dec_xid += AZDS_DEC_MAX_WORKERS;
	d.d.ts_ns = dec_now();
	dec_head(&d, head, head_len);
	azds_dec_put(r->dec, r->dec_slots, &d);
}

/* the routed request's response: its head from the backend, or (head NULL) the router's status */
static void publish_response(struct session *s, int status, const char *head, size_t head_len)
{
	struct router *r = s->r;
	struct azds_dec_slot d;

	if (!s->dec_xid)
		return;
	memset(&d, 0, AZDS_DEC_SLOT_HDR);
	d.kind = AZDS_DEC_K_RESP;
	d.xid = s->dec_xid;
	s->dec_xid = 0;
	if (!dec_wanted(r))
		return; /* the reader stopped watching: its open request is given up there */
	d.d.ts_ns = dec_now();
	d.d.cli_addr = s->peer.sin_addr.s_addr;
	d.d.cli_port = s->peer.sin_port;
	d.d.status = (__u16)(status > 0 && status < 1000 ? status : 0);
	if (!head)
		d.d.flags |= AZDS_DEC_F_ROUTER;
	dec_head(&d, head, head ? head_len : 0);
	azds_dec_put(r->dec, r->dec_slots, &d);
}

/* the router answers: a routed request's response, or a request it refused before routing */
static void publish_reply(struct session *s, int status)
{
	struct conn *c = s->cli;

	if (s->dec_xid) {
		publish_response(s, status, NULL, 0);
		return;
	}
	/* a request being read (not a tunnel, not an idle connection), while someone watches */
	if (!dec_wanted(s->r) || s->mode != M_HTTP || (s->rs != RS_NONE && s->rs != RS_DONE) || !c || !buf_len(&c->in))
		return;
	{
		/* the head alone: never a body or the requests pipelined behind it */
		const char *p = c->in.data + c->in.start, *e;
		size_t n = buf_len(&c->in) < AZDS_DEC_HEAD_MAX + 4 ? buf_len(&c->in) : AZDS_DEC_HEAD_MAX + 4;

		e = memmem(p, n, "\r\n\r\n", 4);
		publish(s, s->dec_start, NULL, AZDS_DEC_REPLY, (__u16)status, p, e ? (size_t)(e - p) + 4 : n);
	}
}

/* the reply to a request that cannot be routed; returns its status */
static int route_error(struct session *s, enum route_result rr, const struct route *rt)
{
	switch (rr) {
	case ROUTE_NO_SERVICE:
		/* through the ingress the name was the client's choice: not found */
		session_reply(s, s->ingress ? 404 : 502, "azds: no service \"%s\" in %s", s->vip.name, rt->chain);
		return s->ingress ? 404 : 502;
	case ROUTE_NO_ENDPOINT:
		session_reply(s, 503, "azds: no endpoint for service \"%s\" in %s", s->vip.name, rt->chain);
		return 503;
	default:
		session_reply(s, 502, "azds: caller %s is not a pod of any space and no azds-route-as was given",
			      inet_ntoa(s->peer.sin_addr));
		return 502;
	}
}

/* The exchange is over: a clean upstream goes back to the pool. */
static void release_upstream(struct session *s)
{
	if (!s->up)
		return;
	pool_put(s->r, s->up);
	s->up = NULL;
}

/*
 * Take an upstream to backend a: the pool's oldest idle one, or a new
 * connection. A request that was already waiting behind the last response
 * (pipelined) gets a new connection: whatever the backend that answered
 * the last one still sends is then never read as this one's answer. So
 * does a tunnel (fresh): its first bytes, an h2c preface or a TLS hello,
 * must be the first of a connection.
 */
static bool use_upstream(struct session *s, const struct sockaddr_in *a, bool fresh)
{
	struct router *r = s->r;

	release_upstream(s);
	pool_sync(r); /* nothing pooled under an older routing generation is taken */
	s->up = s->pipelined || fresh ? NULL : pool_take(r, a);
	if (!s->up)
		s->up = upstream_connect(r, a);
	if (!s->up)
		return false;
	s->up->s = s;
	return true;
}

/*
 * A tunnel's pods may read with splice() (Go's io.Copy between TCP
 * connections, HAProxy), which never sees a redirected queue: both flows go
 * through the TCP stack from here on, once each pod has read what was
 * redirected to it before (azds_pod_budget_stack).
 */
static void enter_tunnel(struct session *s)
{
	s->mode = M_TUNNEL;
	azds_pod_budget_stack(&s->cli->rx);
	if (s->up)
		azds_pod_budget_stack(&s->up->rx);
}

static void start_tunnel_detect(struct session *s)
{
	struct route rt;
	enum route_result rr;

	/* not HTTP/1.x: the caller's own chain decides, bytes pass untouched */
	rr = route_pick(&s->r->rm, s->caller_space, s->vip.svc, s->r->rr++, &rt);
	if (rr != ROUTE_OK) {
		/* no HTTP reply for a non-HTTP client: just close */
		s->dead = true;
		return;
	}
	if (!use_upstream(s, &rt.backend, true)) {
		s->dead = true;
		return;
	}
	s->up->no_reuse = true; /* a tunnel's upstream is never pooled */
	enter_tunnel(s);
	s->head_started_ms = 0;
	s->rq = RQ_DONE;
}

/*
 * Keep the request head (len bytes at the client buffer's start) when it
 * goes out on a reused upstream, for step_resend; 0 keeps nothing. The
 * buffer is the session's, so the hot path copies a head, never allocates.
 */
static void keep_for_retry(struct session *s, const char *head, size_t len)
{
	s->retry_len = 0;
	if (!len || !s->up->reused)
		return;
	if (len > s->retry_cap) {
		char *p = realloc(s->retry, len);

		if (!p)
			return; /* no retry then: the 502 path stays */
		s->retry = p;
		s->retry_cap = len;
	}
	memcpy(s->retry, head, len);
	s->retry_len = len;
}

/*
 * Rebuild a head into *buf (grown as needed): its first line as it came,
 * every header not named in drop as "name: value\r\n", then extra, then
 * the blank line. The length is counted before anything is written. False
 * (and *buf unchanged in content) if there is no memory or no first line.
 */
static bool rebuild_head(char **buf, size_t *cap, size_t *out_len, const char *p, size_t head_len,
			 const struct azds_http_msg *m, const char *const *drop, const char *extra)
{
	const char *eol = memchr(p, '\n', head_len);
	size_t first, need, o, xl = strlen(extra);
	bool keep[128];

	if (!eol || m->num_headers > sizeof(keep) / sizeof(keep[0]))
		return false;
	first = (size_t)(eol + 1 - p);
	need = first + xl + 2;
	for (size_t i = 0; i < m->num_headers; i++) {
		const struct azds_http_header *h = &m->headers[i];

		keep[i] = true;
		for (const char *const *d = drop; *d; d++)
			if (azds_http_token_eq(h->name, h->name_len, *d))
				keep[i] = false;
		if (keep[i])
			need += h->name_len + 2 + h->value_len + 2;
	}
	if (need > *cap) {
		char *n = realloc(*buf, need);

		if (!n)
			return false;
		*buf = n;
		*cap = need;
	}
	memcpy(*buf, p, first);
	o = first;
	for (size_t i = 0; i < m->num_headers; i++) {
		const struct azds_http_header *h = &m->headers[i];

		if (!keep[i])
			continue;
		memcpy(*buf + o, h->name, h->name_len);
		o += h->name_len;
		memcpy(*buf + o, ": ", 2);
		o += 2;
		memcpy(*buf + o, h->value, h->value_len);
		o += h->value_len;
		memcpy(*buf + o, "\r\n", 2);
		o += 2;
	}
	memcpy(*buf + o, extra, xl);
	o += xl;
	memcpy(*buf + o, "\r\n", 2);
	*out_len = o + 2;
	return true;
}

/*
 * The request head as the backend gets it. A client that closes after this
 * request says so in Connection, a hop-by-hop header (RFC 9110 7.6.1):
 * with drop_connection it is not passed on, so the backend keeps its
 * connection open for the pool. A route-as the ingress gave the request
 * (ins, "" for none) is added as an azds-route-as header. False (and the
 * head goes unchanged) if there is no memory.
 */
static bool rewrite_request_head(struct session *s, const struct azds_http_msg *m, size_t head_len,
				 bool drop_connection, const char *ins)
{
	static const char *const drop[] = { "connection", NULL };
	char extra[sizeof("azds-route-as: \r\n") + AZDS_PATH_MAX];

	extra[0] = 0;
	if (ins[0])
		snprintf(extra, sizeof(extra), "azds-route-as: %s\r\n", ins);
	if (!rebuild_head(&s->rqh, &s->rqh_cap, &s->rqh_len, s->cli->in.data + s->cli->in.start, head_len, m,
			  drop_connection ? drop : drop + 1, extra))
		return false;
	s->rqh_off = 0;
	s->cli->in.start += head_len; /* the original head is replaced */
	return true;
}

/* RFC 9110 9.2.2: the methods a client may expect to be repeated safely. */
static bool idempotent(const char *m, size_t len)
{
	static const char *const ok[] = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strlen(ok[i]) == len && !memcmp(ok[i], m, len))
			return true;
	return false;
}

/* A space path has only [a-z0-9-/]: anything else names no space. */
static bool space_chars(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = v[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '/'))
			return false;
	}
	return true;
}

/* The request target as logged: without its query unless asked for. */
static int log_target_len(const struct router *r, const struct azds_http_msg *m)
{
	size_t n = m->target_len;

	if (!r->cfg.access_log_query) {
		const char *q = memchr(m->target, '?', m->target_len);

		if (q)
			n = (size_t)(q - m->target);
	}
	return n > 200 ? 200 : (int)n;
}

/* Checks of a parsed head before routing; false if refused. */
static bool request_acceptable(struct session *s, const struct azds_http_msg *m)
{
	if (m->minor_version == 1 && !m->host) {
		session_reply(s, 400, "azds: HTTP/1.1 request without Host");
		return false;
	}
	if (m->is_connect) {
		session_reply(s, 405, "azds: CONNECT is not supported by the service router");
		return false;
	}
	return true;
}

/*
 * The space a request starts its chain from: the route-as value (header or
 * baggage, which must agree: the next hop's propagator may keep another
 * baggage member than we would, and must never route differently from
 * this hop), else the caller's own space. False if refused.
 */
static bool request_start_space(struct session *s, const struct azds_http_msg *m, __u32 *start, char *val,
				size_t cap, bool *given)
{
	struct azds_route_as ra;
	int k = azds_http_route_as(m, &ra);
	long len = 0;

	*start = s->caller_space;
	*given = k == 0;
	val[0] = 0;
	if (k == -EINVAL) {
		session_reply(s, 400, "azds: conflicting route-as values: %s \"%.*s\" and %s \"%.*s\"",
			      ra.val.from_baggage ? "baggage" : "header", (int)(ra.val.len > 200 ? 200 : ra.val.len),
			      ra.val.val, ra.other.from_baggage ? "baggage" : "header",
			      (int)(ra.other.len > 200 ? 200 : ra.other.len), ra.other.val);
		return false;
	}
	if (k != 0)
		return true;
	if (ra.val.from_baggage) {
		/* baggage values are percent-encoded: dev%2Falice is dev/alice */
		len = azds_pct_decode(ra.val.val, ra.val.len, val, cap);
	} else if (ra.val.len < cap) {
		memcpy(val, ra.val.val, ra.val.len);
		val[ra.val.len] = 0;
		len = (long)ra.val.len;
	}
	if (len > 0 && space_chars(val, (size_t)len)) {
		__u32 id = route_resolve_space(&s->r->rm, s->caller_space, val, (size_t)len);

		/* an unknown space routes like no header: the caller's chain */
		if (id)
			*start = id;
	} else {
		val[0] = 0;
	}
	return true;
}

/*
 * An ingress request's target: service (s->vip) and space (s->caller_space,
 * so that a route-as the request carries is resolved against it, as a
 * pod's would be against its own), and the route-as the name implies in
 * ins. False if refused (404: the name is the client's to fix).
 */
static bool ingress_resolve(struct session *s, const struct ingress_target *t, char *ins, size_t cap)
{
	struct router *r = s->r;
	__u32 sp;

	if (!route_service(&r->rm, t->service, &s->vip)) {
		session_reply(s, 404, "azds: no service \"%s\" on this node", t->service);
		return false;
	}
	sp = route_resolve_space(&r->rm, 0, t->space, strlen(t->space));
	if (!sp) {
		session_reply(s, 404, "azds: no space \"%s\" (for service \"%s\")", t->space, t->service);
		return false;
	}
	s->caller_space = sp;
	snprintf(ins, cap, "%s", t->route_as);
	return true;
}

static bool ingress_select(struct session *s, const struct azds_http_msg *m, char *ins, size_t cap)
{
	struct ingress_target t;

	if (s->pin)
		return ingress_resolve(s, s->pin, ins, cap);
	if (!m->host) {
		session_reply(s, 404, "azds: a request to the ingress needs a Host: " INGRESS_FORMS);
		return false;
	}
	if (ingress_parse_host(m->host, m->host_len, &t)) {
		session_reply(s, 404, "azds: host \"%.*s\" names no service here; the ingress serves " INGRESS_FORMS,
			      (int)(m->host_len > 100 ? 100 : m->host_len), m->host);
		return false;
	}
	if (!ingress_resolve(s, &t, ins, cap))
		return false;
	if (s->vip.kind != AZDS_KIND_HTTP) {
		session_reply(s, 404, "azds: service \"%s\" is not an HTTP service: the ingress routes HTTP by Host "
			      "(a forward, AZDS-FORWARD, reaches any)", t.service);
		return false;
	}
	return true;
}

enum preamble { PRE_NONE, PRE_MORE, PRE_DONE, PRE_REFUSED };

/*
 * The first bytes of an ingress connection may be the forward preamble
 * (ingress.h): the connection is then pinned to its service and space.
 * A TCP service's bytes are tunnelled from here on, whatever they are.
 */
static enum preamble step_preamble(struct session *s)
{
	struct conn *c = s->cli;
	const char *p = c->in.data + c->in.start, *why;
	struct ingress_target t;
	char ins[AZDS_PATH_MAX];
	int k = ingress_preamble_start(p, buf_len(&c->in));

	if (k < 0)
		return PRE_NONE;
	if (k == 0 && !c->eof)
		return PRE_MORE;
	k = k ? ingress_parse_preamble(p, buf_len(&c->in), &t, &why) : -EINVAL;
	if (k == 0 && !c->eof)
		return PRE_MORE;
	if (k <= 0) {
		session_reply(s, 400, "azds: %s", k ? why : "the forward preamble ended early");
		return PRE_REFUSED;
	}
	s->pin = malloc(sizeof(*s->pin));
	if (!s->pin) {
		session_reply(s, 503, "azds: out of memory");
		return PRE_REFUSED;
	}
	*s->pin = t;
	c->in.start += (size_t)k;
	route_sync(&s->r->rm);
	if (!ingress_resolve(s, s->pin, ins, sizeof(ins)))
		return PRE_REFUSED;
	if (s->vip.kind != AZDS_KIND_HTTP) {
		start_tunnel_detect(s);
		return PRE_REFUSED; /* not HTTP from here: nothing more to parse */
	}
	/* an idle forwarded connection waits like any other for its first request */
	if (!buf_len(&c->in))
		s->head_started_ms = 0;
	return PRE_DONE;
}

/* Parse the next request head and start forwarding it. */
static bool step_request_head(struct session *s)
{
	struct router *r = s->r;
	struct azds_http_header hdrs[128];
	struct azds_http_msg m = { .headers = hdrs, .headers_cap = sizeof(hdrs) / sizeof(hdrs[0]) };
	struct azds_http_limits lim = { r->cfg.max_head_bytes, r->cfg.max_headers, r->cfg.max_body_bytes };
	struct conn *c = s->cli;
	char rv[AZDS_PATH_MAX], ins[AZDS_PATH_MAX];
	struct route rt;
	enum route_result rres;
	bool given, drop_conn, rewritten = false;
	__u32 start;
	int n;

	ins[0] = 0; /* no "" initializer: that zeroes all 256 bytes on every call */
	if (s->rs != RS_NONE && s->rs != RS_DONE)
		return false; /* previous response still running */
	/* RFC 9112 2.2: empty lines before a request line are ignored */
	while (buf_len(&c->in) >= 2 && c->in.data[c->in.start] == '\r' && c->in.data[c->in.start + 1] == '\n')
		c->in.start += 2;
	if (buf_len(&c->in) == 1 && c->in.data[c->in.start] == '\r' && !c->eof)
		return false;
	if (buf_len(&c->in) == 0) {
		if (c->eof)
			s->dead = true;
		return false;
	}
	if (!s->head_started_ms) {
		s->head_started_ms = r->now_ms;
		s->dec_start = 0;
	}
	if (s->mode == M_DETECT && s->ingress && !s->pin) {
		switch (step_preamble(s)) {
		case PRE_MORE: return false;
		case PRE_REFUSED: return true;
		case PRE_DONE:
			if (!buf_len(&c->in))
				return true;
			break;
		case PRE_NONE: break;
		}
	}
	if (s->mode == M_DETECT) {
		bool more;

		if (!http_like(c->in.data + c->in.start, buf_len(&c->in), &more)) {
			if (more && !c->eof)
				return false;
			if (s->ingress && !s->pin) {
				/* no Host to route by: nothing to say to a non-HTTP client */
				s->dead = true;
				return false;
			}
			start_tunnel_detect(s);
			return true;
		}
		s->mode = M_HTTP;
	}
	if (m.headers_cap > r->cfg.max_headers + 1)
		m.headers_cap = r->cfg.max_headers + 1;
	n = azds_http_parse_request_inc(&s->rq_scan, c->in.data + c->in.start, buf_len(&c->in), &m, &lim);
	if (n == AZDS_HTTP_INCOMPLETE) {
		if (c->eof) {
			s->dead = true; /* client gave up mid-head */
			return false;
		}
		if (buf_len(&c->in) >= r->cfg.max_head_bytes) {
			session_reply(s, 431, "azds: request head exceeds %u bytes", r->cfg.max_head_bytes);
			return true;
		}
		return false;
	}
	if (n < 0) {
		if (m.status == 413)
			session_reply(s, 413, "azds: Content-Length exceeds %llu bytes (--max-body-bytes)",
				      (unsigned long long)r->cfg.max_body_bytes);
		else
			session_reply(s, m.status ? m.status : 400, "azds: %s", m.reason ? m.reason : "malformed request");
		return true;
	}
	if (!request_acceptable(s, &m))
		return true;
	route_sync(&r->rm);
	if (s->ingress && !ingress_select(s, &m, ins, sizeof(ins)))
		return true;
	if (!request_start_space(s, &m, &start, rv, sizeof(rv), &given))
		return true;
	s->dec_start = start;
	/* the request's own route-as wins over the one its name implies */
	if (given)
		ins[0] = 0;
	rres = route_pick(&r->rm, start, s->vip.svc, r->rr++, &rt);
	if (rres != ROUTE_OK) {
		route_error(s, rres, &rt); /* published by session_reply, with its status */
		return true;
	}
	if (!use_upstream(s, &rt.backend, false)) {
		bool full = !conn_budget(r);

		if (full)
			session_reply(s, 503, "azds: the router is at its limit of %u connections (--max-conns)",
				      r->cfg.max_conns);
		else
			session_reply(s, 502, "azds: cannot connect to %s:%u for \"%s\" in %s",
				      inet_ntoa(rt.backend.sin_addr), ntohs(rt.backend.sin_port), s->vip.name, rt.chain);
		return true;
	}
	s->pipelined = false;
	r->requests++;
	s->rq_replayable = m.body == AZDS_BODY_NONE && !m.upgrade && idempotent(m.method, m.method_len);
	s->rqh_len = 0;
	s->rq_fwd = (size_t)n;
	drop_conn = !m.keep_alive && m.minor_version == 1 && !m.upgrade;
	/* azds trace is told the head as the backend gets it: with the route-as
	 * the ingress's name gave it (the next hops carry that one, and join
	 * by it), without the hop-by-hop Connection */
	if ((drop_conn || ins[0]) && rewrite_request_head(s, &m, (size_t)n, drop_conn, ins)) {
		rewritten = true;
		s->rq_fwd = 0;
		publish(s, start, &rt, rt.space == start ? AZDS_DEC_OWN : AZDS_DEC_FALLBACK, 0, s->rqh, s->rqh_len);
		keep_for_retry(s, s->rqh, s->rq_replayable ? s->rqh_len : 0);
	} else if (ins[0]) {
		/* without its route-as the request would reach the wrong space */
		session_reply(s, 503, "azds: out of memory rewriting the request head");
		return true;
	} else {
		publish(s, start, &rt, rt.space == start ? AZDS_DEC_OWN : AZDS_DEC_FALLBACK, 0, c->in.data + c->in.start,
			(size_t)n);
		keep_for_retry(s, c->in.data + c->in.start, s->rq_replayable ? (size_t)n : 0);
	}
	if (ins[0])
		snprintf(rv, sizeof(rv), "%s", ins); /* logged as the route-as it went with */
	/* a head that reaches the backend saying the connection ends (or an
	 * HTTP/1.0 one, which ends it unless both sides say keep-alive) leaves
	 * a connection the backend may close at any moment: never pooled */
	if (m.minor_version == 0 || (!m.keep_alive && !(drop_conn && rewritten)))
		s->up->no_reuse = true;
	s->rq = RQ_BODY;
	s->rq_body = m.body;
	s->rq_left = m.content_length;
	s->rq_body_all = m.body == AZDS_BODY_NONE || (m.body == AZDS_BODY_LENGTH && m.content_length == 0);
	azds_chunked_init_max(&s->rq_ch, r->cfg.max_body_bytes);
	s->rq_head_method = m.is_head;
	s->rq_upgrade = m.upgrade;
	s->rq_close = !m.keep_alive;
	s->rq_http10 = m.minor_version == 0;
	s->rs = RS_HEAD;
	azds_http_scan_init(&s->rs_scan);
	s->rs_started = false;
	s->rs_close = false;
	s->dechunk = false;
	s->head_len = s->head_off = 0;
	s->head_started_ms = 0;
	s->waiting_since_ms = r->now_ms;
	if (r->sh->alog) {
		char from[INET_ADDRSTRLEN], to[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &s->peer.sin_addr, from, sizeof(from));
		inet_ntop(AF_INET, &rt.backend.sin_addr, to, sizeof(to));
		router_log(r, "azds-router: %s %.*s %.*s route-as=%s -> %s:%u (%s)\n", from, (int)m.method_len,
			   m.method, log_target_len(r, &m), m.target, rv, to,
			   ntohs(rt.backend.sin_port), rt.chain);
	}
	return true;
}

/*
 * Extend *fwd over the body bytes already buffered behind it, so a head and
 * the body that came with it leave in one send. AZDS_CHUNKED_ERROR:
 * malformed chunking; AZDS_CHUNKED_TOO_LARGE: past the body limit.
 */
static int designate_body(const struct buf *b, size_t *fwd, enum azds_http_body kind, uint64_t *left,
			  struct azds_chunked *ch, bool *all)
{
	size_t avail = buf_len(b) - *fwd, n;
	bool done = false;
	long k;

	if (*all || avail == 0)
		return 0;
	switch (kind) {
	case AZDS_BODY_UNTIL_CLOSE:
		*fwd += avail;
		return 0;
	case AZDS_BODY_LENGTH:
		n = avail < *left ? avail : (size_t)*left;
		*fwd += n;
		*left -= n;
		*all = *left == 0;
		return 0;
	case AZDS_BODY_CHUNKED:
		k = azds_chunked_scan(ch, b->data + b->start + *fwd, avail, &done, 4096);
		if (k < 0)
			return (int)k;
		*fwd += (size_t)k;
		*all = done;
		return 0;
	default:
		*all = true;
		return 0;
	}
}

/* Send the kept request again on a fresh upstream connection. */
static bool step_resend(struct session *s)
{
	size_t n = conn_write(s->up, s->retry + s->retry_off, s->retry_len - s->retry_off);

	s->retry_off += n;
	if (s->retry_off == s->retry_len) {
		s->retry_len = 0;
		s->rq = RQ_DONE;
		s->waiting_since_ms = s->r->now_ms;
		return true;
	}
	return n > 0;
}

/* Forward the current request's head and body bytes upstream. */
static bool step_request_body(struct session *s)
{
	struct conn *c = s->cli, *u = s->up;
	bool progress = false;

	while (s->rqh_off < s->rqh_len) {
		size_t n = conn_write(u, s->rqh + s->rqh_off, s->rqh_len - s->rqh_off);

		if (n == 0)
			return progress;
		s->rqh_off += n;
		progress = true;
	}
	while (s->rq == RQ_BODY) {
		int bad = designate_body(&c->in, &s->rq_fwd, s->rq_body, &s->rq_left, &s->rq_ch, &s->rq_body_all);

		if (bad) {
			/* the bad bytes are never forwarded: the backend loses its
			 * connection (it never gets the whole body), the client
			 * gets a 400, or a 413 for a chunked body past the limit
			 * that holds for declared lengths too */
			if (s->rs_started)
				s->dead = true;
			else if (bad == AZDS_CHUNKED_TOO_LARGE)
				session_reply(s, 413, "azds: chunked request body exceeds %llu bytes (--max-body-bytes)",
					      (unsigned long long)s->r->cfg.max_body_bytes);
			else
				session_reply(s, 400, "azds: malformed chunked request body");
			return true;
		}
		if (s->rq_fwd > 0) {
			size_t n = conn_write(u, c->in.data + c->in.start, s->rq_fwd);

			if (n == 0)
				break;
			c->in.start += n;
			s->rq_fwd -= n;
			progress = true;
			continue;
		}
		if (s->rq_body_all) {
			s->rq = RQ_DONE;
			s->waiting_since_ms = s->r->now_ms; /* the response is due from now */
			progress = true;
			break;
		}
		if (c->eof)
			s->dead = true; /* client vanished mid-body */
		break;
	}
	return progress;
}

/*
 * The reused upstream was closed under us before one byte of the answer
 * came: a kept (idempotent, bodyless) request goes again, once, on a new
 * connection. True if it will.
 */
static bool try_resend(struct session *s)
{
	struct conn *u = s->up;
	struct sockaddr_in a = u->addr;

	if (!s->retry_len || s->rs_started || buf_len(&u->in) || (s->rq != RQ_DONE && s->rq != RQ_BODY))
		return false;
	conn_close(s->r, u);
	s->up = upstream_connect(s->r, &a);
	if (!s->up) {
		session_reply(s, 502, "azds: cannot reconnect to %s:%u", inet_ntoa(a.sin_addr), ntohs(a.sin_port));
		return true;
	}
	s->up->s = s;
	/* the head is sent whole from the copy; what was left of it to
	 * forward from the client's buffer is skipped */
	s->cli->in.start += s->rq_fwd;
	s->rq_fwd = 0;
	s->rqh_len = s->rqh_off = 0;
	s->rq = RQ_RESEND;
	s->retry_off = 0;
	s->waiting_since_ms = s->r->now_ms;
	return true;
}

/*
 * For an HTTP/1.0 client, the chunked response's head without its framing
 * headers, and our close as the end of the body.
 */
static bool start_dechunk(struct session *s, const struct azds_http_msg *m, size_t head_len)
{
	static const char *const drop[] = { "transfer-encoding", "connection", "keep-alive", NULL };
	size_t cap = 0;

	free(s->head);
	s->head = NULL;
	if (!rebuild_head(&s->head, &cap, &s->head_len, s->up->in.data + s->up->in.start, head_len, m, drop,
			  "Connection: close\r\n"))
		return false;
	s->head_off = 0;
	s->dechunk = true;
	s->up->in.start += head_len; /* the original head is replaced */
	return true;
}

/*
 * Draining, or the client asked to close: the response head says
 * Connection: close, so that the client sends nothing more on this
 * connection, which closes after the response.
 */
static bool start_closing_head(struct session *s, const struct azds_http_msg *m, size_t head_len)
{
	static const char *const drop[] = { "connection", "keep-alive", NULL };
	size_t cap = 0;

	free(s->head);
	s->head = NULL;
	if (!rebuild_head(&s->head, &cap, &s->head_len, s->up->in.data + s->up->in.start, head_len, m, drop,
			  "Connection: close\r\n"))
		return false;
	s->head_off = 0;
	s->up->in.start += head_len; /* the original head is replaced */
	return true;
}

static bool step_response_head(struct session *s)
{
	struct azds_http_header hdrs[128];
	struct azds_http_msg m = { .headers = hdrs, .headers_cap = sizeof(hdrs) / sizeof(hdrs[0]) };
	struct azds_http_limits lim = { UPSTREAM_BUF, 127, 0 };
	struct conn *u = s->up;
	int n;

	if (buf_len(&u->in) == 0) {
		if ((u->eof || u->error) && try_resend(s))
			return true;
		if (u->connect_err) {
			/* nothing listens there (a wrong target port, an app not up
			 * yet or gone): say so, not that it hung up */
			session_reply(s, 502, "azds: connecting to backend %s:%u for \"%s\": %s", inet_ntoa(u->addr.sin_addr),
				      ntohs(u->addr.sin_port), s->vip.name, strerror(u->connect_err));
			return true;
		}
		if (u->eof || u->error) {
			session_reply(s, 502, "azds: upstream %s:%u closed before answering", inet_ntoa(u->addr.sin_addr),
				      ntohs(u->addr.sin_port));
			return true;
		}
		return false;
	}
	/* a byte of the answer arrived: whatever happens now, never again */
	s->retry_len = 0;
	/* CONNECT is refused before it gets here */
	n = azds_http_parse_response_inc(&s->rs_scan, u->in.data + u->in.start, buf_len(&u->in), &m, &lim,
					 s->rq_head_method, false);
	if (n == AZDS_HTTP_INCOMPLETE) {
		if (u->eof || u->error || buf_len(&u->in) >= u->in.cap) {
			session_reply(s, 502, "azds: upstream sent an incomplete or oversized response head");
			return true;
		}
		return false;
	}
	if (n < 0) {
		session_reply(s, 502, "azds: upstream response refused: %s", m.reason ? m.reason : "malformed");
		return true;
	}
	s->rs_started = true;
	s->rs_fwd = (size_t)n;
	if (m.status_code >= 100 && m.status_code < 200 && m.status_code != 101) {
		/* interim (100 Continue...): pass it on, the final one follows;
		 * an HTTP/1.0 client cannot take one (RFC 9110 15.2) */
		s->rs_started = false; /* the final head is still to come */
		if (s->rq_http10) {
			u->in.start += (size_t)n;
			s->rs_fwd = 0;
			s->waiting_since_ms = s->r->now_ms;
			return true;
		}
		s->rs = RS_INTERIM;
		return true;
	}
	if (m.status_code == 101) {
		if (!s->rq_upgrade || !m.upgrade) {
			session_reply(s, 502, "azds: upstream switched protocols %s",
				      s->rq_upgrade ? "without Upgrade and Connection: upgrade" : "without an Upgrade request");
			return true;
		}
		publish_response(s, 101, u->in.data + u->in.start, (size_t)n);
		/* the tunnel relays everything from here, this head included */
		u->no_reuse = true;
		enter_tunnel(s);
		s->rs = RS_NONE;
		s->rs_fwd = 0;
		s->rq = RQ_DONE;
		return true;
	}
	publish_response(s, m.status_code, u->in.data + u->in.start, (size_t)n);
	s->rs = RS_BODY;
	s->rs_body = m.body;
	s->rs_left = m.content_length;
	s->rs_body_all = m.body == AZDS_BODY_NONE || (m.body == AZDS_BODY_LENGTH && m.content_length == 0);
	s->rs_close = !m.keep_alive || m.body == AZDS_BODY_UNTIL_CLOSE;
	/* a bodiless answer (HEAD, 204, 304) is where a backend that sends a
	 * body anyway would desynchronise the connection, perhaps after the
	 * next request went out: such a connection is not reused */
	if (s->rq_head_method || m.status_code == 204 || m.status_code == 304)
		u->no_reuse = true;
	azds_chunked_init(&s->rs_ch);
	if (s->rq_http10 && m.body == AZDS_BODY_CHUNKED) {
		if (!start_dechunk(s, &m, (size_t)n)) {
			session_reply(s, 502, "azds: out of memory rewriting a chunked response for an HTTP/1.0 client");
			return true;
		}
		s->rs_fwd = 0;
		s->rs_close = true;
	} else if ((s->r->draining || s->rq_close) && !s->rs_close && start_closing_head(s, &m, (size_t)n)) {
		/* draining, or a client that asked to close (its Connection went
		 * no further, so the backend answered keep-alive): the response
		 * says the connection closes after it (RFC 9112 9.6) */
		/* without memory for it the answer goes as it is, and the idle
		 * grace closes the connection. Only the client's side closes:
		 * the backend answered keep-alive, so its connection goes back
		 * to the pool (rs_close would have closed it: a new backend
		 * connection for every Connection: close client) */
		s->rs_fwd = 0;
		if (s->r->draining)
			s->rs_close = true;
	}
	return true;
}

/*
 * HTTP/1.0 client: the rewritten head, then the chunk data alone; the
 * framing is checked by the scanner and dropped.
 */
static bool dechunk_forward(struct session *s)
{
	struct conn *c = s->cli, *u = s->up;
	bool progress = false;

	while (s->head_off < s->head_len) {
		size_t n = conn_write(c, s->head + s->head_off, s->head_len - s->head_off);

		if (n == 0)
			return progress;
		s->head_off += n;
		progress = true;
	}
	for (;;) {
		size_t n;

		if (s->rs_fwd == 0 && !s->rs_body_all && buf_len(&u->in)) {
			size_t data;
			long k = azds_chunked_decode(&s->rs_ch, u->in.data + u->in.start, buf_len(&u->in), &data,
						     &s->rs_body_all, 4096);

			if (k < 0) {
				/* a broken response cannot be repaired; our close is
				 * this client's end of body, so it must be a reset */
				s->abort_client = true;
				s->dead = true;
				return true;
			}
			u->in.start += (size_t)k - data; /* framing */
			s->rs_fwd = data;
			progress |= k > 0;
		}
		if (s->rs_fwd == 0)
			return progress;
		n = conn_write(c, u->in.data + u->in.start, s->rs_fwd);
		if (n == 0)
			return progress;
		u->in.start += n;
		s->rs_fwd -= n;
		progress = true;
	}
}

static bool step_response_body(struct session *s)
{
	struct conn *c = s->cli, *u = s->up;
	bool progress = false;

	for (;;) {
		if (!s->dechunk && s->head_off < s->head_len) {
			/* a rewritten head (start_closing_head) goes first */
			size_t n = conn_write(c, s->head + s->head_off, s->head_len - s->head_off);

			if (n == 0)
				break;
			s->head_off += n;
			progress = true;
			continue;
		}
		if (s->dechunk) {
			progress |= dechunk_forward(s);
			if (s->dead || s->rs_fwd > 0 || s->head_off < s->head_len)
				break;
		} else if (s->rs == RS_BODY &&
			   designate_body(&u->in, &s->rs_fwd, s->rs_body, &s->rs_left, &s->rs_ch, &s->rs_body_all)) {
			s->dead = true; /* a broken response cannot be repaired */
			break;
		}
		if (s->rs_fwd > 0) {
			size_t n = conn_write(c, u->in.data + u->in.start, s->rs_fwd);

			if (n == 0)
				break;
			u->in.start += n;
			s->rs_fwd -= n;
			progress = true;
			continue;
		}
		if (s->rs == RS_INTERIM) {
			s->rs = RS_HEAD; /* interim flushed: wait for the final head */
			s->waiting_since_ms = s->r->now_ms;
			progress = true;
			break;
		}
		if (s->rs_body_all) {
			s->rs = RS_DONE;
			progress = true;
			break;
		}
		if (u->eof || u->error) {
			if (s->rs_body == AZDS_BODY_UNTIL_CLOSE && !u->error) {
				s->rs = RS_DONE;
				s->rs_close = true;
			} else if (s->rs_body == AZDS_BODY_UNTIL_CLOSE) {
				/* a reset mid-body: a clean close would look complete */
				s->abort_client = true;
				s->dead = true;
			} else {
				/* truncated: the client must see it end, and one that
				 * takes our close as the end of body must see a reset */
				s->abort_client = s->dechunk;
				s->dead = true;
			}
			progress = true;
		}
		break;
	}
	return progress;
}

/* Both messages are complete: give the upstream back, then take the next request. */
static bool finish_exchange(struct session *s)
{
	bool close_client = s->rq_close || s->rs_close;

	if (s->rq != RQ_DONE) {
		/* the server answered before the whole body arrived: the
		 * connection cannot be resynchronised, so it ends here */
		close_client = true;
		if (s->up)
			s->up->no_reuse = true;
	}
	if (s->rs_close && s->up)
		s->up->no_reuse = true;
	/* bytes beyond the end of the response are no answer to anything:
	 * pool_put closes an upstream that has any */
	release_upstream(s);
	if (close_client) {
		/* a body delimited by our close (HTTP/1.0 style, or dechunked
		 * for an HTTP/1.0 client) needs the FIN now */
		if (s->rs_body == AZDS_BODY_UNTIL_CLOSE || s->dechunk)
			start_linger(s);
		else
			start_close_after_client(s);
		return true;
	}
	s->rq = RQ_HEAD;
	s->rs = RS_NONE;
	s->dechunk = false;
	s->last_active_ms = s->r->now_ms;
	s->pipelined = buf_len(&s->cli->in) > 0;
	buf_release_if_empty(&s->cli->in);
	return true;
}

/* Tunnel: every byte both ways, half-closes passed along. */
static bool step_tunnel(struct session *s)
{
	struct conn *c = s->cli, *u = s->up;
	bool progress = false;
	size_t n;

	if (u->connecting)
		return false;
	while (buf_len(&c->in) && (n = conn_write(u, c->in.data + c->in.start, buf_len(&c->in))) > 0) {
		c->in.start += n;
		progress = true;
	}
	while (buf_len(&u->in) && (n = conn_write(c, u->in.data + u->in.start, buf_len(&u->in))) > 0) {
		u->in.start += n;
		progress = true;
	}
	if (c->eof && !buf_len(&c->in) && !u->shut_wr) {
		shutdown(u->fd, SHUT_WR);
		u->shut_wr = true;
	}
	if (u->eof && !buf_len(&u->in) && !c->shut_wr) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr = true;
	}
	return progress;
}

/* One round of an HTTP exchange; true if anything moved. */
static bool step_http(struct session *s)
{
	bool p = false;

	if (s->rq == RQ_HEAD)
		p |= step_request_head(s);
	if (replying(s) || s->dead || s->mode == M_TUNNEL)
		return true;
	if (s->up && !s->up->connecting) {
		if (s->rq == RQ_BODY)
			p |= step_request_body(s);
		else if (s->rq == RQ_RESEND)
			p |= step_resend(s);
		if (replying(s) || s->dead)
			return true;
		if (s->rs == RS_HEAD)
			p |= step_response_head(s);
		if (replying(s) || s->dead || s->mode == M_TUNNEL)
			return true;
		if (s->rs == RS_BODY || s->rs == RS_INTERIM)
			p |= step_response_body(s);
		if (s->rs == RS_DONE && s->rs_fwd == 0 && !s->dead)
			p |= finish_exchange(s);
	} else if (s->up && s->up->error) {
		if (try_resend(s))
			return true;
		session_reply(s, 502, "azds: cannot connect to backend %s:%u", inet_ntoa(s->up->addr.sin_addr),
			      ntohs(s->up->addr.sin_port));
		return true;
	}
	return p;
}

/* Run the session until nothing moves. */
static void advance(struct session *s)
{
	struct router *r = s->r;
	size_t cap = r->cfg.max_head_bytes > 16384 ? r->cfg.max_head_bytes : 16384;

	int guard;

	for (guard = 0; guard < 1000 && !s->dead; guard++) {
		bool p = false;

		if (s->linger_since_ms) {
			step_linger(s);
			break;
		}
		if (replying(s)) {
			if (!step_reply(s))
				break;
			continue;
		}
		if (s->cli->error || (s->up && s->up->error && s->mode == M_TUNNEL)) {
			s->dead = true;
			break;
		}
		p |= conn_fill(s->cli, cap);
		if (s->up)
			p |= conn_fill(s->up, UPSTREAM_BUF);
		if (s->mode == M_TUNNEL && s->up) {
			p |= step_tunnel(s);
			if ((s->cli->eof && !buf_len(&s->cli->in) && s->up->eof && !buf_len(&s->up->in)) ||
			    s->up->error) {
				s->dead = true;
				break;
			}
		} else {
			p |= step_http(s);
		}
		if (!p)
			break;
		s->last_active_ms = r->now_ms;
	}
	if (s->dead) {
		session_free(s);
	} else if (guard == 1000 && !s->queued) {
		/* a session that could still move yields to the others; under
		 * edge triggering nothing else would wake it: it runs again
		 * right after this batch of events */
		s->queued = true;
		s->again_next = r->again;
		r->again = s;
	}
}

struct router *session_router(const struct session *s)
{
	return s->r;
}

void router_kick(struct session *s)
{
	if (!s->freed && !s->dead)
		advance(s);
}

void router_again(struct router *r)
{
	struct session *s = r->again;

	r->again = NULL;
	while (s) {
		struct session *next = s->again_next;

		s->queued = false;
		if (!s->freed && !s->dead)
			advance(s);
		s = next;
	}
}

/* ---- events ----------------------------------------------------------- */

/*
 * A caller over its share gets its 503 in one send and the connection
 * closed at once: it holds no session, no lingering socket, nothing of the
 * budget that other pods need.
 */
/*
 * A caller refused at accept (its per-pod limit) is a hop of azds trace
 * too: the router's 503, with the request's head when it is already
 * there (a peek, and only while someone watches; the bytes stay unread).
 */
static void publish_refusal(struct router *r, int fd, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
			    bool ingress)
{
	struct azds_dec_slot d;
	struct azds_vip vip;
	ssize_t n;

	if (!dec_wanted(r))
		return;
	route_sync(&r->rm);
	memset(&d, 0, AZDS_DEC_SLOT_HDR);
	d.kind = AZDS_DEC_K_REQ;
	d.d.flags = AZDS_DEC_F_ACCEPT;
	d.d.cli_addr = peer->sin_addr.s_addr;
	d.d.cli_port = peer->sin_port;
	if (ingress) {
		d.d.flags |= AZDS_DEC_F_INGRESS;
	} else {
		d.d.vaddr = orig->sin_addr.s_addr;
		d.d.vport = orig->sin_port;
		d.d.caller_space = route_caller_space(&r->rm, peer->sin_addr.s_addr);
		if (route_vip(&r->rm, orig->sin_addr.s_addr, orig->sin_port, &vip))
			d.d.svc = vip.svc;
	}
	d.d.reason = AZDS_DEC_REPLY;
	d.d.status = 503;
	if (!azds_dec_allowed(r->dec_file, &d.d))
		return;
	d.d.ts_ns = dec_now();
	n = recv(fd, d.head, AZDS_DEC_HEAD_MAX, MSG_PEEK | MSG_DONTWAIT);
	/* kept only from a whole request line on: a part of one, or bytes that
	 * are not HTTP (a tunnel's), leave the hop without a head */
	if (n > 0 && memmem(d.head, (size_t)n, "\r\n", 2) &&
	    ((d.head[0] >= 'A' && d.head[0] <= 'Z') || (d.head[0] >= 'a' && d.head[0] <= 'z'))) {
		const char *e = memmem(d.head, (size_t)n, "\r\n\r\n", 4);

		d.head_len = (__u16)(e ? (size_t)(e - d.head) + 4 : (size_t)n);
		/* what follows the head (a body, pipelined requests) is not recorded */
		if (!e && (size_t)n == AZDS_DEC_HEAD_MAX)
			d.d.flags |= AZDS_DEC_F_CUT;
	}
	azds_dec_put(r->dec, r->dec_slots, &d);
}

static void refuse_caller(struct router *r, int fd, const struct sockaddr_in *peer)
{
	char body[256], msg[512];
	int bl, ml;

	bl = snprintf(body, sizeof(body), "azds: caller %s has %u connections open, its limit (--max-conns-per-pod)\n",
		      inet_ntoa(peer->sin_addr), r->cfg.max_conns_per_pod);
	ml = snprintf(msg, sizeof(msg),
		      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
		      "Connection: close\r\nazds-router: refused\r\n\r\n%s",
		      bl, body);
	if (send(fd, msg, (size_t)ml, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing to do: the connection goes either way */
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void session_start(struct router *r, int fd, const struct sockaddr_in *peer, const struct sockaddr_in *orig,
			  bool ingress)
{
	struct session *s;

	if (!callers_get(r->sh->callers, peer->sin_addr.s_addr, r->cfg.max_conns_per_pod)) {
		publish_refusal(r, fd, peer, orig, ingress);
		refuse_caller(r, fd, peer);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		callers_put(r->sh->callers, peer->sin_addr.s_addr);
		close(fd);
		return;
	}
	s->counted = true;
	s->r = r;
	s->peer = *peer;
	if (orig)
		s->orig = *orig;
	azds_http_scan_init(&s->rq_scan);
	s->cli = conn_new(r, fd);
	if (!s->cli) {
		callers_put(r->sh->callers, peer->sin_addr.s_addr);
		close(fd);
		free(s);
		return;
	}
	s->cli->s = s;
	/* a client usually sends its request right behind the handshake: it
	 * may be here already, and reading now saves a trip through epoll */
	s->cli->can_read = true;
	s->cli->can_write = true;
	route_sync(&r->rm);
	s->ingress = ingress;
	s->caller_space = ingress ? 0 : route_caller_space(&r->rm, peer->sin_addr.s_addr);
	s->last_active_ms = r->now_ms;
	s->next = r->sessions;
	if (s->next)
		s->next->prev = s;
	r->sessions = s;
	if (!ingress && !route_vip(&r->rm, orig->sin_addr.s_addr, orig->sin_port, &s->vip)) {
		/* reached the listener directly, not through steering */
		session_reply(s, 502, "azds: %s:%u is not a service address", inet_ntoa(orig->sin_addr),
			      ntohs(orig->sin_port));
	}
	advance(s);
}

/* Both listeners out of epoll (out of descriptors), or back in. */
static void listeners_epoll(struct router *r, bool add)
{
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event iev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &r->sh->ingress_fd };

	if (add) {
		epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd, &lev);
		if (r->sh->ingress_fd >= 0)
			epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->sh->ingress_fd, &iev);
	} else {
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->lfd, NULL);
		if (r->sh->ingress_fd >= 0)
			epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->sh->ingress_fd, NULL);
	}
}

static bool session_idle(const struct session *s);

/*
 * The router is full and a new client (or a request's new upstream:
 * newcomer 0) waits: close an idle client connection (nothing under way
 * on it, no byte waiting) of the caller that holds the most, if that
 * caller holds at least two more than the newcomer. Pods that hold
 * connections they do not use (a flood of connections that never send a
 * byte, re-opened as soon as they close) cannot then keep the others out;
 * an idle keep-alive connection may be closed at any time (RFC 9112 9.5).
 * One pass over this worker's sessions, only when full. true: one was
 * closed.
 */
bool router_evict_idle(struct router *r, uint32_t newcomer)
{
	unsigned most = 0, mine = callers_count(r->sh->callers, newcomer);
	struct session *victim = NULL;
	char b;

	/* can_read: an edge router_note_events recorded and no session has
	 * run yet, a request perhaps */
	for (struct session *s = r->sessions; s; s = s->next) {
		unsigned n;

		if (!s->counted || !session_idle(s) || s->cli->can_read)
			continue;
		n = callers_count(r->sh->callers, s->peer.sin_addr.s_addr);
		if (n > most || (n == most && victim && s->last_active_ms < victim->last_active_ms)) {
			most = n;
			victim = s;
		}
	}
	/* and bytes that came since that edge: closing over them would reset
	 * the connection; the newcomer waits instead */
	if (!victim || most < mine + 2 || recv(victim->cli->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0)
		return false;
	r->evicted++;
	session_free(victim);
	return true;
}

/* Accept a connection waiting on lfd: the worker's listener, or the
 * ingress (shared by all workers, so another may have taken it: EAGAIN). */
int router_accept(struct router *r, int lfd, bool ingress)
{
	for (;;) {
		struct sockaddr_in peer, orig;
		socklen_t pl = sizeof(peer), ol = sizeof(orig);
		int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				/* out of descriptors: use the reserve to take the
				 * connection off the queue and close it, or the
				 * level-triggered listener would spin; with no
				 * reserve left (another worker took the slot) stop
				 * listening until a sweep finds room */
				if (r->reserve_fd >= 0) {
					close(r->reserve_fd);
					fd = accept(lfd, NULL, NULL);
					if (fd >= 0)
						close(fd);
					r->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				}
				if (r->reserve_fd < 0) {
					listeners_epoll(r, false);
					r->accept_paused = true;
					return -EMFILE;
				}
				continue;
			}
			return -errno;
		}
		/* steered by bpf_sk_assign, the local address is the service's;
		 * behind iptables REDIRECT (the benchmark's sidecar baseline)
		 * conntrack keeps it */
		/* idle pooled upstreams give way to a new client, then the
		 * idle connections of whoever holds the most */
		if (!conn_budget(r))
			pool_evict(r);
		if (!conn_budget(r))
			router_evict_idle(r, peer.sin_addr.s_addr);
		if (!conn_budget(r) ||
		    (ingress ? getsockname(fd, (struct sockaddr *)&orig, &ol)
		     : r->cfg.redirect_mode ? getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &ol)
					    : getsockname(fd, (struct sockaddr *)&orig, &ol))) {
			close(fd);
			continue;
		}
		session_start(r, fd, &peer, &orig, ingress);
		/* one per event: the listener is level-triggered, so epoll
		 * reports it again while connections wait, and the accept that
		 * would only say EAGAIN is saved */
		return 1;
	}
}

/* What an edge says about a connection of a session: recorded, not acted on. */
static void conn_ready(struct conn *c, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->can_read = true;
	/* the hangup came with this edge: read on to EOF, there is no other */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->rdhup = true;
	if (events & EPOLLOUT)
		c->can_write = true;
	if ((events & (EPOLLOUT | EPOLLERR)) && c->connecting) {
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		c->connecting = false;
		if (err || (events & EPOLLERR)) {
			c->error = true;
			c->connect_err = err ? err : ECONNREFUSED;
		}
	}
}

/*
 * Before any session of a batch runs, every edge of the batch is recorded
 * (conn_ready), and an idle pooled upstream with one is closed (its event
 * is spent), so that no session takes it first and reads what the backend
 * wrote while it was idle as its answer (pool_take). A connection whose
 * exchange ends earlier in the batch than its own event comes round is
 * thus seen with that edge by pool_put, which peeks or sees the hangup and
 * does not pool it past it.
 */
void router_note_events(struct router *r, struct epoll_event *evs, int n)
{
	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;

		if (!c || evs[i].data.ptr == &r->sh->ingress_fd || evs[i].data.ptr == &r->wakefd)
			continue;
		if (c->s) {
			conn_ready(c, evs[i].events);
			continue;
		}
		/* an idle pooled upstream spoke or closed: no longer reusable */
		if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			conn_close(r, c);
		evs[i].events = 0;
	}
}

/* A connection's event, its edge recorded by router_note_events: its session runs. */
void router_event(struct conn *c)
{
	/* closed earlier in the batch, or pooled since router_note_events
	 * (which gave it this edge, and pool_put saw it) */
	if (c->fd < 0 || !c->s || c->s->dead)
		return;
	advance(c->s);
}

/* The timeouts of one session, the idle one last; true if it was ended or answered. */
static bool session_timeouts(struct router *r, struct session *s)
{
	if (s->linger_since_ms) {
		if (s->await_fin && r->now_ms - s->linger_since_ms > AWAIT_FIN_MS) {
			/* the client keeps its end open: our FIN, then the usual linger */
			s->await_fin = false;
			start_linger(s);
		} else if (!s->await_fin && r->now_ms - s->linger_since_ms > 2000) {
			session_free(s);
		}
		return true;
	}
	if (replying(s)) {
		/* a client that will not take our error reply loses it */
		if (r->now_ms - s->reply_since_ms > REPLY_DEADLINE_MS)
			session_free(s);
		return true;
	}
	if (s->up && s->up->connecting && r->now_ms - s->up->connect_since_ms > r->cfg.connect_timeout_ms) {
		if (s->mode == M_TUNNEL) {
			session_free(s);
			return true;
		}
		session_reply(s, 504, "azds: connecting to backend %s:%u timed out after %u ms (--connect-timeout-ms)",
			      inet_ntoa(s->up->addr.sin_addr), ntohs(s->up->addr.sin_port), r->cfg.connect_timeout_ms);
		advance(s);
		return true;
	}
	if (s->mode == M_TUNNEL) {
		if (r->now_ms - s->last_active_ms > r->cfg.tunnel_idle_timeout_ms)
			session_free(s);
		return true;
	}
	if (s->rq == RQ_HEAD && s->head_started_ms && r->now_ms - s->head_started_ms > r->cfg.header_timeout_ms) {
		session_reply(s, 408, "azds: request head not received within %u ms", r->cfg.header_timeout_ms);
		advance(s);
		return true;
	}
	if (s->rs == RS_HEAD && s->rq == RQ_DONE && s->up) {
		/* a response head awaited: its own timeout, not the idle one */
		if (s->rs_started || r->now_ms - s->waiting_since_ms <= r->cfg.upstream_timeout_ms)
			return false;
		session_reply(s, 504, "azds: upstream %s:%u did not answer within %u ms", inet_ntoa(s->up->addr.sin_addr),
			      ntohs(s->up->addr.sin_port), r->cfg.upstream_timeout_ms);
		advance(s);
		return true;
	}
	/* nothing moved for idle-timeout (a head being read and a response
	 * head awaited have their own timeouts above) */
	if ((s->rq == RQ_HEAD && s->head_started_ms) || r->now_ms - s->last_active_ms <= r->cfg.idle_timeout_ms)
		return false;
	if (s->rs == RS_BODY || s->rs == RS_INTERIM) {
		/* a response (or an interim head) cut short must never look
		 * whole to the client (a close-delimited or de-chunked body
		 * would): a reset, not a FIN */
		s->abort_client = true;
	} else if (s->rq == RQ_BODY) {
		if (s->up && buf_len(&s->cli->in))
			/* body bytes wait for a backend that stopped taking them */
			session_reply(s, 504, "azds: upstream %s:%u stopped reading the request body for %u ms (--idle-timeout-ms)",
				      inet_ntoa(s->up->addr.sin_addr), ntohs(s->up->addr.sin_port), r->cfg.idle_timeout_ms);
		else
			/* the client stopped sending its body: it is told, the
			 * backend's connection (half a body) is closed */
			session_reply(s, 408, "azds: request body stalled: no byte for %u ms (--idle-timeout-ms)",
				      r->cfg.idle_timeout_ms);
		advance(s);
		return true;
	}
	/* else an idle keep-alive client: closed, a plain FIN */
	session_free(s);
	return true;
}

void router_sweep(struct router *r)
{
	struct session *s = r->sessions, *next;

	for (; s; s = next) {
		next = s->next;
		if (session_timeouts(r, s))
			continue;
		/* an idle keep-alive client keeps no per-request buffers */
		if (s->rq == RQ_HEAD && !s->head_started_ms && r->now_ms - s->last_active_ms > 1000 &&
		    (s->retry || s->rqh)) {
			free(s->retry);
			free(s->rqh);
			s->retry = s->rqh = NULL;
			s->retry_cap = s->rqh_cap = 0;
			s->retry_len = s->rqh_len = 0;
		}
	}
	pool_sync(r);
	pool_expire(r);
	/* no reap here: r->again may still name a session freed above; the
	 * worker reaps after router_again() has run */
	if (r->accept_paused && r->reserve_fd < 0)
		r->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (r->accept_paused && r->reserve_fd >= 0 && !r->draining) {
		listeners_epoll(r, true);
		r->accept_paused = false;
	}
}

void router_drain_begin(struct router *r, bool own_listener)
{
	r->draining = true;
	r->drain_since_ms = r->now_ms;
	if (!r->accept_paused)
		listeners_epoll(r, false);
	r->accept_paused = false;
	/* connections in our own listener's queue would be reset by its
	 * close: they are served like the others. An inherited listener's
	 * queue is its owner's, and the next router's; the ingress is
	 * closed by the main thread once every worker is done with it */
	if (own_listener)
		while (router_accept(r, r->lfd, false) > 0)
			;
	if (r->sh->own_ingress)
		while (router_accept(r, r->sh->ingress_fd, true) > 0)
			;
	close(r->lfd);
	r->lfd = -1;
	pool_flush(r);
	atomic_fetch_add(&r->sh->drain_begun, 1);
}

/* A client connection with nothing under way: no request, no reply. */
static bool session_idle(const struct session *s)
{
	return s->mode != M_TUNNEL && s->rq == RQ_HEAD && !s->head_started_ms && !s->up && !replying(s) &&
	       !s->linger_since_ms && buf_len(&s->cli->in) == 0;
}

/*
 * Exchanges under way finish (their responses say Connection: close, see
 * step_response_head), and a request that comes on a kept-alive connection
 * is answered likewise; a connection idle for the grace is closed.
 */
void router_drain(struct router *r)
{
	struct session *s = r->sessions, *next;

	for (; s; s = next) {
		uint64_t since = s->last_active_ms > r->drain_since_ms ? s->last_active_ms : r->drain_since_ms;

		next = s->next;
		if (session_idle(s) && r->now_ms - since >= r->cfg.drain_idle_ms)
			session_free(s);
	}
}

void router_shutdown(struct router *r)
{
	while (r->sessions)
		session_free(r->sessions);
	pool_flush(r);
	router_reap(r);
}
