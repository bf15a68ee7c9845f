// SPDX-License-Identifier: MIT
/*
 * The proxy state machine of azds-router.
 *
 * A session is one client connection (a pod's connection steered here by
 * the TC program) and at most one upstream connection at a time. Requests
 * are handled one after another: the next pipelined request is parsed only
 * when the previous response is complete, so responses leave in order and a
 * slow response applies backpressure to the client instead of buffering.
 *
 * Bytes are forwarded unchanged from one connection's input buffer to the
 * other socket; the parser only finds message boundaries and routing
 * inputs. Sockets are edge-triggered: can_read/can_write remember readiness
 * until a call returns EAGAIN, and advance() runs until nothing moves.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <linux/netfilter_ipv4.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "router.h"

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
	struct sockaddr_in peer;
	struct azds_vip vip;

	enum req_state rq;
	enum azds_http_body rq_body;
	uint64_t rq_left;
	struct azds_chunked rq_ch;
	size_t rq_fwd; /* bytes at cli->in.start still to write upstream */
	bool rq_body_all; /* every body byte has been designated */
	bool rq_head_method, rq_upgrade, rq_close;

	enum resp_state rs;
	enum azds_http_body rs_body;
	uint64_t rs_left;
	struct azds_chunked rs_ch;
	size_t rs_fwd; /* bytes at up->in.start still to write to the client */
	bool rs_body_all, rs_close, rs_started;

	/* a reply the router writes itself, then closes (allocated then:
	 * idle sessions stay small) */
	char *reply;
	size_t reply_len, reply_off;

	uint64_t head_started_ms; /* first byte of the current request head */
	uint64_t last_active_ms;
	uint64_t waiting_since_ms; /* request sent, response head awaited */
	uint64_t linger_since_ms; /* our side is done; draining the client */
	uint64_t reply_since_ms;
	/* a bodyless request sent on a reused upstream, kept to send once
	 * more if that connection turns out to have been closed under us;
	 * the buffer stays with the session (retry_len 0: nothing kept) */
	char *retry;
	size_t retry_cap, retry_len, retry_off;
	bool abort_client; /* close with a reset: the response was cut short */
	bool dead;
};

/* ---- time, buffers ---------------------------------------------------- */

uint64_t router_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t buf_len(const struct buf *b)
{
	return b->end - b->start;
}

static int buf_reserve(struct buf *b, size_t cap)
{
	if (!b->data) {
		b->data = malloc(cap);
		if (!b->data)
			return -ENOMEM;
		b->cap = cap;
		b->start = b->end = 0;
	}
	if (b->start == b->end) {
		b->start = b->end = 0;
	} else if (b->end == b->cap && b->start > 0) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
	}
	return 0;
}

/* Idle connections keep no buffer: 10,000 idle clients cost structs only. */
static void buf_release_if_empty(struct buf *b)
{
	if (b->data && b->start == b->end) {
		free(b->data);
		b->data = NULL;
		b->cap = b->start = b->end = 0;
	}
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- access log --------------------------------------------------------- */

void router_log_flush(struct router *r)
{
	size_t off = 0;

	while (off < r->log_len) {
		ssize_t n = write(2, r->log + off, r->log_len - off);

		if (n <= 0 && errno != EINTR)
			break;
		if (n > 0)
			off += (size_t)n;
	}
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

/* ---- connections ------------------------------------------------------ */

static struct conn *conn_new(struct router *r, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };

	if (!c)
		return NULL;
	c->fd = fd;
	ev.data.ptr = c;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		free(c);
		return NULL;
	}
	r->nconns++;
	return c;
}

/*
 * The struct outlives the socket until router_reap(): an event for it may
 * still sit in the current epoll batch.
 */
static void conn_close(struct router *r, struct conn *c)
{
	if (!c || c->fd < 0)
		return;
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
	r->nconns--;
	c->pool_next = r->grave;
	r->grave = c;
}

/* Read what the socket has, up to the buffer's room. True if anything moved. */
static bool conn_fill(struct conn *c, size_t cap)
{
	ssize_t n;

	if (!c->can_read || c->eof || c->error || c->connecting)
		return false;
	if (buf_reserve(&c->in, cap)) {
		c->error = true;
		return true;
	}
	if (c->in.end == c->in.cap)
		return false;
	n = read(c->fd, c->in.data + c->in.end, c->in.cap - c->in.end);
	if (n > 0) {
		/* a short read drained the socket: under edge triggering, data
		 * arriving later raises a new event, so skip the EAGAIN call */
		if ((size_t)n < c->in.cap - c->in.end && !c->rdhup)
			c->can_read = false;
		c->in.end += (size_t)n;
		return true;
	}
	if (n == 0) {
		c->eof = true;
		return true;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->can_read = false;
		return false;
	}
	if (errno == EINTR)
		return true;
	c->error = true;
	return true;
}

/* Write up to len bytes; returns bytes written (0 when the socket is full). */
static size_t conn_write(struct conn *c, const char *p, size_t len)
{
	ssize_t n;

	if (!c->can_write || c->error || c->connecting || len == 0)
		return 0;
	n = send(c->fd, p, len, MSG_NOSIGNAL);
	if (n >= 0) {
		if ((size_t)n < len)
			c->can_write = false; /* full: EPOLLOUT will tell */
		return (size_t)n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		c->can_write = false;
	else if (errno != EINTR)
		c->error = true;
	return 0;
}

/* ---- upstream pool ---------------------------------------------------- */

static unsigned pool_bucket(const struct sockaddr_in *a)
{
	uint32_t h = a->sin_addr.s_addr * 2654435761u ^ a->sin_port;

	return (h >> 7) & 1023;
}

static void pool_unlink(struct router *r, struct conn *c)
{
	if (!c->pool_pprev)
		return;
	*c->pool_pprev = c->pool_next;
	if (c->pool_next)
		c->pool_next->pool_pprev = c->pool_pprev;
	c->pool_next = NULL;
	c->pool_pprev = NULL;
	r->nidle--;
}

static struct conn *pool_take(struct router *r, const struct sockaddr_in *a)
{
	for (struct conn *c = r->pool[pool_bucket(a)]; c; c = c->pool_next) {
		if (c->addr.sin_addr.s_addr == a->sin_addr.s_addr && c->addr.sin_port == a->sin_port) {
			pool_unlink(r, c);
			c->reused = true;
			return c;
		}
	}
	return NULL;
}

static void pool_put(struct router *r, struct conn *c)
{
	unsigned b;

	c->s = NULL;
	if (c->eof || c->error || buf_len(&c->in) || r->nidle >= r->cfg.max_idle_upstreams) {
		conn_close(r, c);
		return;
	}
	buf_release_if_empty(&c->in);
	b = pool_bucket(&c->addr);
	c->pool_next = r->pool[b];
	if (c->pool_next)
		c->pool_next->pool_pprev = &c->pool_next;
	c->pool_pprev = &r->pool[b];
	r->pool[b] = c;
	c->idle_since_ms = r->now_ms;
	r->nidle++;
}

static struct conn *upstream_connect(struct router *r, const struct sockaddr_in *a)
{
	int one = 1, fd;
	struct conn *c;

	/* upstreams count against the same budget as clients */
	if (r->nconns >= r->cfg.max_conns)
		return NULL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) && errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	c = conn_new(r, fd);
	if (!c) {
		close(fd);
		return NULL;
	}
	c->addr = *a;
	c->connecting = true;
	return c;
}

/* ---- sessions --------------------------------------------------------- */

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
		free(s);
	}
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
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
	if (s->r->cfg.access_log)
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

static void step_linger(struct session *s)
{
	static char scratch[16384];
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
		/* FIN after the reply; the client gets no more service */
		s->reply_len = 0;
		start_linger(s);
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

static void route_error(struct session *s, enum route_result rr, const struct route *rt)
{
	switch (rr) {
	case ROUTE_NO_SERVICE:
		session_reply(s, 502, "azds: no service \"%s\" in %s", s->vip.name, rt->chain);
		break;
	case ROUTE_NO_ENDPOINT:
		session_reply(s, 503, "azds: no endpoint for service \"%s\" in %s", s->vip.name, rt->chain);
		break;
	default:
		session_reply(s, 502, "azds: caller %s is not a pod of any space and no azds-route-as was given",
			      inet_ntoa(s->peer.sin_addr));
		break;
	}
}

/* Pick (or reuse) the upstream connection for backend a. */
static bool use_upstream(struct session *s, const struct sockaddr_in *a)
{
	struct router *r = s->r;

	if (s->up && s->up->addr.sin_addr.s_addr == a->sin_addr.s_addr && s->up->addr.sin_port == a->sin_port &&
	    !s->up->eof && !s->up->error && !s->up->rdhup && buf_len(&s->up->in) == 0) {
		s->up->reused = true;
		return true;
	}
	if (s->up)
		pool_put(r, s->up);
	s->up = pool_take(r, a);
	if (!s->up)
		s->up = upstream_connect(r, a);
	if (!s->up)
		return false;
	s->up->s = s;
	return true;
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
	if (!use_upstream(s, &rt.backend)) {
		s->dead = true;
		return;
	}
	s->mode = M_TUNNEL;
	s->head_started_ms = 0;
	s->rq = RQ_DONE;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode %XX escapes into out; a value too long for out comes back empty. */
static size_t percent_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%' && i + 2 < len && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
			c = (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
			i += 2;
		}
		if (o + 1 >= cap)
			return 0;
		out[o++] = c;
	}
	out[o] = 0;
	return o;
}

/*
 * Keep the request head (len bytes at the client buffer's start) when it
 * goes out on a reused upstream, for step_resend; 0 keeps nothing. The
 * buffer is the session's, so the hot path copies a head, never allocates.
 */
static void keep_for_retry(struct session *s, size_t len)
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
	memcpy(s->retry, s->cli->in.data + s->cli->in.start, len);
	s->retry_len = len;
}

/* Parse the next request head and start forwarding it. */
static bool step_request_head(struct session *s)
{
	struct router *r = s->r;
	struct azds_http_header hdrs[128];
	struct azds_http_msg m = { .headers = hdrs, .headers_cap = sizeof(hdrs) / sizeof(hdrs[0]) };
	struct azds_http_limits lim = { r->cfg.max_head_bytes, r->cfg.max_headers, r->cfg.max_body_bytes };
	struct conn *c = s->cli;
	const char *rv = NULL;
	size_t rvlen = 0;
	char decoded[AZDS_PATH_MAX];
	struct route rt;
	enum route_result rres;
	__u32 start;
	int n;

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
	if (!s->head_started_ms)
		s->head_started_ms = r->now_ms;
	if (s->mode == M_DETECT) {
		bool more;

		if (!http_like(c->in.data + c->in.start, buf_len(&c->in), &more)) {
			if (more && !c->eof)
				return false;
			start_tunnel_detect(s);
			return true;
		}
		s->mode = M_HTTP;
	}
	if (m.headers_cap > r->cfg.max_headers + 1)
		m.headers_cap = r->cfg.max_headers + 1;
	n = azds_http_parse_request(c->in.data + c->in.start, buf_len(&c->in), &m, &lim);
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
		session_reply(s, m.status ? m.status : 400, "azds: %s", m.reason ? m.reason : "malformed request");
		return true;
	}
	if (m.minor_version == 1 && !m.host) {
		session_reply(s, 400, "azds: HTTP/1.1 request without Host");
		return true;
	}
	if (m.is_connect) {
		session_reply(s, 405, "azds: CONNECT is not supported by the service router");
		return true;
	}
	route_sync(&r->rm);
	/* route-as: header, then W3C baggage, then the caller's own space */
	if (m.route_as && m.route_as_len) {
		rv = m.route_as;
		rvlen = m.route_as_len;
	} else if (m.baggage && azds_baggage_get(m.baggage, m.baggage_len, "azds-route-as", &rv, &rvlen)) {
		/* baggage values are percent-encoded: dev%2Falice is dev/alice */
		rvlen = percent_decode(rv, rvlen, decoded, sizeof(decoded));
		rv = decoded;
	}
	/* a space path has only [a-z0-9-/]: anything else names no space */
	for (size_t i = 0; rv && i < rvlen; i++) {
		char ch = rv[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '/')) {
			rv = NULL;
			rvlen = 0;
		}
	}
	start = s->caller_space;
	if (rv && rvlen) {
		__u32 id = route_resolve_space(&r->rm, s->caller_space, rv, rvlen);

		/* an unknown space routes like no header: the caller's chain */
		if (id)
			start = id;
	}
	rres = route_pick(&r->rm, start, s->vip.svc, r->rr++, &rt);
	if (rres != ROUTE_OK) {
		route_error(s, rres, &rt);
		return true;
	}
	if (!use_upstream(s, &rt.backend)) {
		if (r->nconns >= r->cfg.max_conns)
			session_reply(s, 503, "azds: the router is at its limit of %u connections (--max-conns)",
				      r->cfg.max_conns);
		else
			session_reply(s, 502, "azds: cannot connect to %s:%u for \"%s\" in %s",
				      inet_ntoa(rt.backend.sin_addr), ntohs(rt.backend.sin_port), s->vip.name, rt.chain);
		return true;
	}
	r->requests++;
	keep_for_retry(s, m.body == AZDS_BODY_NONE && !m.upgrade ? (size_t)n : 0);
	s->rq = RQ_BODY;
	s->rq_fwd = (size_t)n;
	s->rq_body = m.body;
	s->rq_left = m.content_length;
	s->rq_body_all = m.body == AZDS_BODY_NONE || (m.body == AZDS_BODY_LENGTH && m.content_length == 0);
	azds_chunked_init(&s->rq_ch);
	s->rq_head_method = m.is_head;
	s->rq_upgrade = m.upgrade;
	s->rq_close = !m.keep_alive;
	s->rs = RS_HEAD;
	s->rs_started = false;
	s->rs_close = false;
	s->head_started_ms = 0;
	s->waiting_since_ms = r->now_ms;
	if (r->cfg.access_log) {
		char from[INET_ADDRSTRLEN], to[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &s->peer.sin_addr, from, sizeof(from));
		inet_ntop(AF_INET, &rt.backend.sin_addr, to, sizeof(to));
		router_log(r, "azds-router: %s %.*s %.*s route-as=%.*s -> %s:%u (%s)\n", from, (int)m.method_len,
			m.method, (int)m.target_len > 200 ? 200 : (int)m.target_len, m.target, (int)rvlen, rv ? rv : "",
			to, ntohs(rt.backend.sin_port), rt.chain);
	}
	return true;
}

/*
 * Extend *fwd over the body bytes already buffered behind it, so a head and
 * the body that came with it leave in one send. -1: malformed chunking.
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
			return -1;
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

	while (s->rq == RQ_BODY) {
		if (designate_body(&c->in, &s->rq_fwd, s->rq_body, &s->rq_left, &s->rq_ch, &s->rq_body_all)) {
			/* the bad bytes are never forwarded; the backend loses its
			 * connection, the client gets a 400 */
			if (!s->rs_started)
				session_reply(s, 400, "azds: malformed chunked request body");
			else
				s->dead = true;
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

static bool step_response_head(struct session *s)
{
	struct azds_http_header hdrs[128];
	struct azds_http_msg m = { .headers = hdrs, .headers_cap = sizeof(hdrs) / sizeof(hdrs[0]) };
	struct azds_http_limits lim = { UPSTREAM_BUF, 127, 0 };
	struct conn *u = s->up;
	int n;

	if (buf_len(&u->in) == 0) {
		if ((u->eof || u->error) && s->retry_len && s->rq == RQ_DONE) {
			/* the kept-alive connection was closed by the backend as
			 * we reused it: the request never ran; send it again on a
			 * fresh connection, once */
			struct sockaddr_in a = u->addr;

			conn_close(s->r, u);
			s->up = upstream_connect(s->r, &a);
			if (!s->up) {
				session_reply(s, 502, "azds: cannot reconnect to %s:%u", inet_ntoa(a.sin_addr),
					      ntohs(a.sin_port));
				return true;
			}
			s->up->s = s;
			s->rq = RQ_RESEND;
			s->retry_off = 0;
			s->waiting_since_ms = s->r->now_ms;
			return true;
		}
		if (u->eof || u->error) {
			session_reply(s, 502, "azds: upstream %s:%u closed before answering", inet_ntoa(u->addr.sin_addr),
				      ntohs(u->addr.sin_port));
			return true;
		}
		return false;
	}
	/* CONNECT is refused before it gets here */
	n = azds_http_parse_response(u->in.data + u->in.start, buf_len(&u->in), &m, &lim, s->rq_head_method, false);
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
	s->retry_len = 0; /* answered: nothing to retry any more */
	if (m.status_code >= 100 && m.status_code < 200 && m.status_code != 101) {
		/* interim (100 Continue...): pass it on, the final one follows */
		s->rs_started = false; /* the final head is still to come */
		s->rs = RS_INTERIM;
		return true;
	}
	if (m.status_code == 101) {
		if (!s->rq_upgrade) {
			session_reply(s, 502, "azds: upstream switched protocols without an Upgrade request");
			return true;
		}
		/* the tunnel relays everything from here, this head included */
		s->mode = M_TUNNEL;
		s->rs = RS_NONE;
		s->rs_fwd = 0;
		s->rq = RQ_DONE;
		return true;
	}
	s->rs = RS_BODY;
	s->rs_body = m.body;
	s->rs_left = m.content_length;
	s->rs_body_all = m.body == AZDS_BODY_NONE || (m.body == AZDS_BODY_LENGTH && m.content_length == 0);
	s->rs_close = !m.keep_alive || m.body == AZDS_BODY_UNTIL_CLOSE;
	azds_chunked_init(&s->rs_ch);
	return true;
}

static bool step_response_body(struct session *s)
{
	struct conn *c = s->cli, *u = s->up;
	bool progress = false;

	for (;;) {
		if (s->rs == RS_BODY &&
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
				s->dead = true; /* truncated: the client must see it end */
			}
			progress = true;
		}
		break;
	}
	return progress;
}

/* Both messages are complete: reuse or close, then take the next request. */
static bool finish_exchange(struct session *s)
{
	bool close_client = s->rq_close || s->rs_close;

	if (s->rq != RQ_DONE) {
		/* the server answered before the whole body arrived: the
		 * connection cannot be resynchronised, so it ends here */
		close_client = true;
	}
	if (close_client) {
		start_linger(s);
		return true;
	}
	if (s->rs_close || s->rq_close || buf_len(&s->up->in)) {
		conn_close(s->r, s->up);
		s->up = NULL;
	}
	s->rq = RQ_HEAD;
	s->rs = RS_NONE;
	s->last_active_ms = s->r->now_ms;
	buf_release_if_empty(&s->cli->in);
	if (s->up)
		buf_release_if_empty(&s->up->in);
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

/* Run the session until nothing moves. */
static void advance(struct session *s)
{
	struct router *r = s->r;
	size_t cap = r->cfg.max_head_bytes > 16384 ? r->cfg.max_head_bytes : 16384;

	for (int guard = 0; guard < 1000 && !s->dead; guard++) {
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
		/* an upstream that speaks or closes between exchanges is done */
		if (s->up && s->mode == M_HTTP && (s->rs == RS_NONE || s->rs == RS_DONE) &&
		    (buf_len(&s->up->in) || s->up->eof || s->up->error)) {
			conn_close(s->r, s->up);
			s->up = NULL;
		}
		if (s->mode == M_TUNNEL && s->up) {
			p |= step_tunnel(s);
			if ((s->cli->eof && !buf_len(&s->cli->in) && s->up->eof && !buf_len(&s->up->in)) ||
			    s->up->error) {
				s->dead = true;
				break;
			}
		} else {
			if (s->rq == RQ_HEAD)
				p |= step_request_head(s);
			if (replying(s) || s->dead || s->mode == M_TUNNEL)
				continue;
			if (s->up && !s->up->connecting) {
				if (s->rq == RQ_BODY)
					p |= step_request_body(s);
				else if (s->rq == RQ_RESEND)
					p |= step_resend(s);
				if (replying(s) || s->dead)
					continue;
				if (s->rs == RS_HEAD)
					p |= step_response_head(s);
				if (replying(s) || s->dead || s->mode == M_TUNNEL)
					continue;
				if (s->rs == RS_BODY || s->rs == RS_INTERIM)
					p |= step_response_body(s);
				if (s->rs == RS_DONE && s->rs_fwd == 0)
					p |= finish_exchange(s);
			} else if (s->up && s->up->error) {
				session_reply(s, 502, "azds: cannot connect to backend %s:%u",
					      inet_ntoa(s->up->addr.sin_addr), ntohs(s->up->addr.sin_port));
				continue;
			}
		}
		if (!p)
			break;
		s->last_active_ms = r->now_ms;
	}
	if (s->dead)
		session_free(s);
}

/* ---- events ----------------------------------------------------------- */

int router_accept(struct router *r)
{
	for (;;) {
		struct sockaddr_in peer, orig;
		socklen_t pl = sizeof(peer), ol = sizeof(orig);
		int one = 1, fd = accept4(r->lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct session *s;

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && r->reserve_fd >= 0) {
				/* out of descriptors: use the reserve to take the
				 * connection off the queue and close it, or the
				 * level-triggered listener would spin */
				close(r->reserve_fd);
				fd = accept(r->lfd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				r->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				continue;
			}
			return -errno;
		}
		/* steered by bpf_sk_assign, the local address is the service's;
		 * behind iptables REDIRECT (the benchmark's sidecar baseline)
		 * conntrack keeps it */
		if (r->nconns >= r->cfg.max_conns ||
		    (r->cfg.redirect_mode ? getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &ol)
					  : getsockname(fd, (struct sockaddr *)&orig, &ol))) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s = calloc(1, sizeof(*s));
		if (!s) {
			close(fd);
			continue;
		}
		s->r = r;
		s->peer = peer;
		s->cli = conn_new(r, fd);
		if (!s->cli) {
			close(fd);
			free(s);
			continue;
		}
		s->cli->s = s;
		route_sync(&r->rm);
		s->caller_space = route_caller_space(&r->rm, peer.sin_addr.s_addr);
		s->last_active_ms = r->now_ms;
		s->next = r->sessions;
		if (s->next)
			s->next->prev = s;
		r->sessions = s;
		if (!route_vip(&r->rm, orig.sin_addr.s_addr, orig.sin_port, &s->vip)) {
			/* reached the listener directly, not through steering */
			session_reply(s, 502, "azds: %s:%u is not a service address", inet_ntoa(orig.sin_addr),
				      ntohs(orig.sin_port));
		}
		advance(s);
	}
}

void router_event(struct router *r, struct conn *c, uint32_t events)
{
	struct session *s = c->s;

	if (c->fd < 0)
		return;
	if (!s) {
		/* an idle pooled upstream spoke or closed: no longer reusable */
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			pool_unlink(r, c);
			conn_close(r, c);
		}
		return;
	}
	if (s->dead)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->can_read = true;
	/* the hangup came with this edge: read on to EOF, there is no other */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->rdhup = true;
	if (events & EPOLLOUT) {
		c->can_write = true;
		if (c->connecting) {
			int err = 0;
			socklen_t l = sizeof(err);

			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
			c->connecting = false;
			if (err)
				c->error = true;
		}
	}
	if ((events & EPOLLERR) && c->connecting) {
		c->connecting = false;
		c->error = true;
	}
	advance(s);
}

void router_sweep(struct router *r)
{
	struct session *s = r->sessions, *next;

	for (; s; s = next) {
		next = s->next;
		if (s->linger_since_ms) {
			if (r->now_ms - s->linger_since_ms > 2000)
				session_free(s);
			continue;
		}
		if (replying(s)) {
			/* a client that will not take our error reply loses it */
			if (r->now_ms - s->reply_since_ms > REPLY_DEADLINE_MS)
				session_free(s);
			continue;
		}
		if (s->mode == M_TUNNEL) {
			if (r->now_ms - s->last_active_ms > r->cfg.tunnel_idle_timeout_ms)
				session_free(s);
			continue;
		}
		if (s->rq == RQ_HEAD && s->head_started_ms &&
		    r->now_ms - s->head_started_ms > r->cfg.header_timeout_ms) {
			session_reply(s, 408, "azds: request head not received within %u ms", r->cfg.header_timeout_ms);
			advance(s);
			continue;
		}
		if (s->rs == RS_HEAD && s->rq == RQ_DONE && s->up && !s->rs_started &&
		    r->now_ms - s->waiting_since_ms > r->cfg.upstream_timeout_ms) {
			session_reply(s, 504, "azds: upstream did not answer within %u ms", r->cfg.upstream_timeout_ms);
			advance(s);
			continue;
		}
		/* nothing moved for idle-timeout: an idle keep-alive client, or a
		 * client or backend stalled mid-message */
		if (r->now_ms - s->last_active_ms > r->cfg.idle_timeout_ms &&
		    !(s->rq == RQ_HEAD && s->head_started_ms) && !(s->rs == RS_HEAD && s->rq == RQ_DONE && s->up))
			session_free(s);
	}
	for (unsigned b = 0; b < 1024; b++) {
		struct conn *c = r->pool[b], *cn;

		for (; c; c = cn) {
			cn = c->pool_next;
			if (r->now_ms - c->idle_since_ms > r->cfg.idle_timeout_ms) {
				pool_unlink(r, c);
				conn_close(r, c);
			}
		}
	}
	router_reap(r);
}

void router_shutdown(struct router *r)
{
	while (r->sessions)
		session_free(r->sessions);
	router_reap(r);
	for (unsigned b = 0; b < 1024; b++)
		while (r->pool[b]) {
			struct conn *c = r->pool[b];

			pool_unlink(r, c);
			conn_close(r, c);
		}
}
