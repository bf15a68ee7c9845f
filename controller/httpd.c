// SPDX-License-Identifier: MIT
/* The API's HTTP/1.1 server (see httpd.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "http_parse.h"
#include "httpd.h"

#define HEAD_MAX (16 * 1024)
/* a whole request always fits: a full buffer holds a complete one */
#define IN_MAX (HEAD_MAX + HTTPD_MAX_BODY + 8192)
/* a closing connection reads (and drops) what its client still sends for
 * this long, so that the client reads our answer, not a reset */
#define LINGER_MS 1000
#define LINGER_MAX_BYTES (1u << 20)
#define ACCEPT_PAUSE_MS 100
/* answers written back to back on one connection before others get a turn */
#define FLUSH_ROUNDS 16

struct conn {
	int fd;
	uint32_t events;  /* as registered with epoll */
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off;
	bool close_after; /* close once out is written */
	bool busy;        /* a request is parked */
	bool keep_alive;
	bool refused;     /* over the limit: its 503, then closed */
	bool eof;         /* the client sent all it will */
	bool draining;    /* answered and shut for writing: drops input until EOF */
	bool closed;      /* out of the table, freed at the next tick */
	int64_t req_start_ms;  /* the first byte of the request being read */
	int64_t idle_since_ms; /* the accept, or the end of the last answer */
	int64_t write_ms;      /* the last progress writing out */
	int64_t drain_until_ms;
	size_t drained;
	struct httpd_req req;
	size_t req_bytes; /* bytes of in taken by the request being answered */
	char saved;       /* the byte after its body, replaced by a NUL */
	uid_t uid;
	pid_t pid;
	struct conn *next_dead;
};

struct httpd {
	int lfd, epfd;
	char path[108];
	httpd_handler handler;
	void *ctx;
	struct conn *conns[HTTPD_MAX_CONNS + HTTPD_MAX_REFUSING];
	int nconns;        /* in conns[] */
	int nserving;      /* of them, not refused: at most HTTPD_MAX_CONNS */
	struct conn *dead; /* closed since the last tick */
	int64_t accept_paused_until; /* out of fds: the listener rests until then */
};

static void conn_flush(struct httpd *h, struct conn *c);

int64_t httpd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int httpd_open(struct httpd **out, const char *sock_path, gid_t gid, httpd_handler handler, void *ctx)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct httpd *h;
	int err;

	if (strlen(sock_path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	snprintf(h->path, sizeof(h->path), "%s", sock_path);
	strcpy(a.sun_path, sock_path);
	h->handler = handler;
	h->ctx = ctx;
	h->epfd = -1;
	h->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->lfd < 0)
		goto fail;
	/* the daemon holds the instance lock: a socket file left here is a
	 * dead daemon's */
	unlink(sock_path);
	/* bind with a umask that leaves no window where others may connect */
	mode_t old = umask(0177);

	err = bind(h->lfd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (err || chown(sock_path, 0, gid) || chmod(sock_path, 0660) || listen(h->lfd, 4096))
		goto fail;
	*out = h;
	return 0;
fail:
	err = -errno;
	if (h->lfd >= 0)
		close(h->lfd);
	free(h);
	return err;
}

/*
 * Out of the table and closed at once; the memory waits for the next tick
 * so that an event of the same epoll batch still naming it is recognised
 * as stale (httpd_owns) rather than taken for a new connection that
 * calloc placed at the same address.
 */
static void conn_free(struct httpd *h, struct conn *c)
{
	for (int i = 0; i < h->nconns; i++)
		if (h->conns[i] == c) {
			h->conns[i] = h->conns[--h->nconns];
			break;
		}
	if (!c->refused)
		h->nserving--;
	close(c->fd);
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->in_len = c->in_cap = c->out_len = c->out_off = 0;
	c->closed = true;
	c->next_dead = h->dead;
	h->dead = c;
}

static void free_dead(struct httpd *h)
{
	while (h->dead) {
		struct conn *c = h->dead;

		h->dead = c->next_dead;
		free(c);
	}
}

void httpd_close(struct httpd *h)
{
	if (!h)
		return;
	while (h->nconns)
		conn_free(h, h->conns[0]);
	free_dead(h);
	close(h->lfd);
	unlink(h->path);
	free(h);
}

int httpd_epoll(struct httpd *h, int epfd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = h };

	h->epfd = epfd;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, h->lfd, &ev) ? -errno : 0;
}

bool httpd_owns(struct httpd *h, void *ptr)
{
	if (ptr == h)
		return true;
	for (int i = 0; i < h->nconns; i++)
		if (h->conns[i] == ptr)
			return true;
	return false;
}

static bool out_pending(const struct conn *c)
{
	return c->out_off < c->out_len;
}

static void conn_want(struct httpd *h, struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	/* one request at a time: read again only once the answer is out */
	if (c->draining)
		ev.events = EPOLLIN;
	else if (out_pending(c))
		ev.events = EPOLLOUT;
	else
		ev.events = c->busy || c->eof ? 0 : EPOLLIN;
	if (ev.events != c->events && !epoll_ctl(h->epfd, EPOLL_CTL_MOD, c->fd, &ev))
		c->events = ev.events;
}

/* no request in progress, nothing to write: may be closed to make room */
static bool conn_idle(const struct conn *c)
{
	return !c->refused && !c->draining && !c->busy && !c->close_after && !c->eof && !c->in_len &&
	       !out_pending(c);
}

/* when the connection's current state times out, 0 for never (a parked
 * request: its handler keeps its own deadline) */
static int64_t conn_deadline(const struct conn *c)
{
	if (c->draining)
		return c->drain_until_ms;
	if (out_pending(c))
		return c->write_ms + HTTPD_WRITE_TIMEOUT_MS;
	if (c->busy)
		return 0;
	if (c->in_len)
		return c->req_start_ms + HTTPD_REQUEST_TIMEOUT_MS;
	return c->idle_since_ms + HTTPD_IDLE_TIMEOUT_MS;
}

static struct conn *conn_new(struct httpd *h, int fd, bool refused)
{
	struct epoll_event ev = { .events = refused ? EPOLLOUT : EPOLLIN };
	struct ucred cr = {};
	socklen_t cl = sizeof(cr);
	struct conn *c = calloc(1, sizeof(*c));

	if (!c || (!refused && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl)))
		goto fail;
	c->fd = fd;
	c->uid = cr.uid;
	c->pid = cr.pid;
	c->refused = refused;
	c->events = ev.events;
	c->idle_since_ms = httpd_now_ms();
	ev.data.ptr = c;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev))
		goto fail;
	h->conns[h->nconns++] = c;
	if (!refused)
		h->nserving++;
	return c;
fail:
	free(c);
	close(fd);
	return NULL;
}

static void conn_read(struct httpd *h, struct conn *c);

/* read what the connection has and act on it */
static void conn_input(struct httpd *h, struct conn *c)
{
	conn_read(h, c);
	if (!c->closed)
		conn_flush(h, c);
}

/*
 * At the limit: close the connection idle the longest. One that looks idle
 * may have its request waiting unread (accepted in the same burst): that
 * one is served instead, and the next candidate tried.
 */
static bool evict_idle(struct httpd *h)
{
	for (int tries = 0; tries < HTTPD_MAX_CONNS && h->nserving >= HTTPD_MAX_CONNS; tries++) {
		struct conn *old = NULL;
		char b;

		for (int i = 0; i < h->nconns; i++)
			if (conn_idle(h->conns[i]) && (!old || h->conns[i]->idle_since_ms < old->idle_since_ms))
				old = h->conns[i];
		if (!old)
			return false;
		if (recv(old->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN) {
			conn_free(h, old);
			return true;
		}
		conn_input(h, old);
	}
	return h->nserving < HTTPD_MAX_CONNS;
}

/*
 * At the limit with nothing idle: one client holding the API with requests
 * it never finishes sending (a head a byte at a time, on many connections,
 * reopened as each times out) must not keep the others out. The oldest
 * unfinished request of the uid that holds the most gives way, if that uid
 * holds at least two more than the newcomer's; among one uid's clients
 * (root's CLI and a runaway script of root's), the same by process.
 * Requests being answered (a parked follow) are never cut.
 */
static long conn_who(const struct conn *c, bool by_pid)
{
	return by_pid ? (long)c->pid : (long)c->uid;
}

/* may give way: an unfinished request, not one being answered */
static bool conn_slow_head(const struct conn *c)
{
	return !c->refused && !c->closed && !c->busy && !c->draining && !c->close_after && !out_pending(c) &&
	       c->in_len;
}

/* connections per holder (uid or pid), counted in one pass: a flood of
 * accepts at the limit must not cost the square of the connections each */
#define TALLY_SLOTS 1024 /* a power of two above HTTPD_MAX_CONNS + HTTPD_MAX_REFUSING */
struct tally {
	long who[TALLY_SLOTS];
	int n[TALLY_SLOTS];
};

static int *tally_slot(struct tally *t, long who)
{
	unsigned long i = ((unsigned long)who * 2654435761u) & (TALLY_SLOTS - 1);

	while (t->n[i] && t->who[i] != who)
		i = (i + 1) & (TALLY_SLOTS - 1);
	t->who[i] = who;
	return &t->n[i];
}

/* by uid, or (by_pid) by process among the clients of uid `within` */
static bool evict_slow_head_by(struct httpd *h, long newcomer, bool by_pid, uid_t within)
{
	static struct tally t;
	struct conn *victim = NULL;
	int most = 0, mine;

	_Static_assert(TALLY_SLOTS > HTTPD_MAX_CONNS + HTTPD_MAX_REFUSING, "tally too small");
	memset(t.n, 0, sizeof(t.n));
	for (int i = 0; i < h->nconns; i++) {
		struct conn *c = h->conns[i];

		if (!c->refused && !c->closed && (!by_pid || c->uid == within))
			(*tally_slot(&t, conn_who(c, by_pid)))++;
	}
	mine = *tally_slot(&t, newcomer);
	/* the holder with the most connections among those with one that
	 * may give way; its oldest such request */
	for (int i = 0; i < h->nconns; i++) {
		struct conn *c = h->conns[i];
		int n;

		if (!conn_slow_head(c) || (by_pid && c->uid != within))
			continue;
		n = *tally_slot(&t, conn_who(c, by_pid));
		if (n > most || (n == most && victim && conn_who(c, by_pid) == conn_who(victim, by_pid) &&
				 c->req_start_ms < victim->req_start_ms)) {
			most = n;
			victim = c;
		}
	}
	if (!victim || most < mine + 2)
		return false;
	conn_free(h, victim);
	return true;
}

static bool evict_slow_head(struct httpd *h, const struct ucred *cr)
{
	return evict_slow_head_by(h, (long)cr->uid, false, 0) || evict_slow_head_by(h, (long)cr->pid, true, cr->uid);
}

static void fail_conn(struct conn *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* a 503 that the client can read whole: the connection is kept (apart from
 * the limit) until the answer is out and what it sent is drained */
static void refuse(struct httpd *h, int fd)
{
	struct conn *c;

	if (h->nconns - h->nserving >= HTTPD_MAX_REFUSING) {
		close(fd);
		return;
	}
	c = conn_new(h, fd, true);
	if (!c)
		return;
	fail_conn(c, 503, "too many API connections (limit %d)", HTTPD_MAX_CONNS);
	conn_flush(h, c);
}

/* out of fds or memory, a listener left in epoll would wake the loop at
 * once, again and again: it rests for a while instead */
static void listener_want(struct httpd *h, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.ptr = h };

	epoll_ctl(h->epfd, EPOLL_CTL_MOD, h->lfd, &ev);
	h->accept_paused_until = on ? 0 : httpd_now_ms() + ACCEPT_PAUSE_MS;
}

static void accept_all(struct httpd *h)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				listener_want(h, false);
			return;
		}
		if (h->nserving >= HTTPD_MAX_CONNS && !evict_idle(h)) {
			struct ucred cr = {};
			socklen_t cl = sizeof(cr);

			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) || !evict_slow_head(h, &cr)) {
				refuse(h, fd);
				continue;
			}
		}
		conn_new(h, fd, false);
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

static int out_append(struct conn *c, const char *data, size_t len)
{
	char *n = realloc(c->out, c->out_len + len + 1);

	if (!n)
		return -ENOMEM;
	c->out = n;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

/* takes w's body: a JSON one is serialized (*body NULL when it fails) */
static void take_body(struct httpd_resp *w, char **body, size_t *blen)
{
	*body = NULL;
	*blen = 0;
	if (w->json) {
		/* JSON bodies end with a newline: friendlier to curl in a terminal */
		char *j = json_dumps(w->json, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(9));

		json_decref(w->json);
		w->json = NULL;
		if (j && asprintf(body, "%s\n", j) < 0)
			*body = NULL;
		free(j);
		*blen = *body ? strlen(*body) : 0;
		w->content_type = "application/json";
	} else if (w->raw) {
		*body = w->raw;
		*blen = w->raw_len;
		w->raw = NULL;
	}
}

static void respond(struct conn *c, struct httpd_resp *w)
{
	char head[768], *body;
	size_t blen;
	int n;

	if (!w->status)
		w->status = 500;
	take_body(w, &body, &blen);
	if (blen > HTTPD_MAX_ANSWER - sizeof(head)) {
		/* the output buffer is bounded like everything else */
		free(body);
		w->extra_headers[0] = 0;
		httpd_error(w, 500, "the answer is too large (limit %u MiB)", HTTPD_MAX_ANSWER >> 20);
		take_body(w, &body, &blen);
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
		     w->status, reason(w->status), w->content_type ? w->content_type : "text/plain", blen,
		     c->keep_alive ? "" : "Connection: close\r\n", w->extra_headers);
	if (!out_pending(c))
		c->write_ms = httpd_now_ms();
	if (n < 0 || (size_t)n >= sizeof(head) || out_append(c, head, (size_t)n) ||
	    (body && out_append(c, body, blen))) {
		/* no half answer: close without one */
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_off = 0;
		c->keep_alive = false;
	}
	free(body);
	if (!c->keep_alive)
		c->close_after = true;
}

static void fail_conn(struct conn *c, int status, const char *fmt, ...)
{
	struct httpd_resp w = {};
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->keep_alive = false;
	httpd_error(&w, status, "%s", msg);
	respond(c, &w);
}

/* a percent-decoded value: no NUL inside, since handlers see C strings and
 * "quiet%00x" must not name the pod "quiet" */
static int decode(const char *s, size_t n, char *out, size_t cap, const char *what, char *msg, size_t mlen)
{
	long dn = azds_pct_decode(s, n, out, cap);

	if (dn < 0) {
		snprintf(msg, mlen, "%s too long (limit %zu bytes, percent-decoded)", what, cap - 1);
		return 414;
	}
	if (memchr(out, 0, (size_t)dn)) {
		snprintf(msg, mlen, "%s has a NUL byte (%%00)", what);
		return 400;
	}
	return 0;
}

/* c->req from the parsed head; an HTTP status and msg when it is refused */
static int fill_req(struct conn *c, const struct azds_http_msg *m, const char *body, size_t blen, char *msg,
		    size_t mlen)
{
	struct httpd_req *r = &c->req;
	const char *t = m->target, *q = memchr(m->target, '?', m->target_len);
	size_t plen = q ? (size_t)(q - t) : m->target_len;
	int status;

	memset(r, 0, sizeof(*r));
	if (m->method_len >= sizeof(r->method)) {
		snprintf(msg, mlen, "method \"%.*s\" is not implemented", (int)m->method_len, m->method);
		return 501;
	}
	memcpy(r->method, m->method, m->method_len);
	status = decode(t, plen, r->path, sizeof(r->path), "path", msg, mlen);
	if (status)
		return status;
	if (q) {
		const char *p = q + 1, *end = t + m->target_len;

		while (p < end) {
			const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
			const char *eq = memchr(p, '=', (size_t)(stop - p));
			size_t klen = (size_t)((eq ? eq : stop) - p);
			char what[64];

			/* a key no handler could know is ignored; past the
			 * limit, one that a handler knows could be lost */
			if (klen && klen < sizeof(r->query[0].key)) {
				if (r->nquery == HTTPD_MAX_QUERY) {
					snprintf(msg, mlen, "too many query parameters (limit %d)", HTTPD_MAX_QUERY);
					return 400;
				}
				memcpy(r->query[r->nquery].key, p, klen);
				snprintf(what, sizeof(what), "query value of \"%s\"", r->query[r->nquery].key);
				status = eq ? decode(eq + 1, (size_t)(stop - eq - 1), r->query[r->nquery].val,
						     sizeof(r->query[0].val), what, msg, mlen)
					    : 0;
				if (status)
					return status;
				r->nquery++;
			}
			p = stop + 1;
		}
	}
	r->body = blen ? body : NULL;
	r->body_len = blen;
	r->uid = c->uid;
	r->pid = c->pid;
	return 0;
}

/* the request in c->in is answered: the bytes after it are the next one */
static void answer(struct conn *c, struct httpd_resp *w)
{
	c->busy = false;
	c->in[c->req_bytes] = c->saved;
	memmove(c->in, c->in + c->req_bytes, c->in_len - c->req_bytes);
	c->in_len -= c->req_bytes;
	c->req_bytes = 0;
	/* a pipelined request was not read while this one was served: its
	 * clock starts now */
	if (c->in_len)
		c->req_start_ms = httpd_now_ms();
	respond(c, w);
}

/* handle what is buffered: at most one request, then wait for its answer
 * to be written */
static void serve(struct httpd *h, struct conn *c)
{
	static const struct azds_http_limits lim = { .max_head_bytes = HEAD_MAX, .max_headers = 64,
						     .max_body_bytes = HTTPD_MAX_BODY };
	struct azds_http_header hdrs[64];
	struct azds_http_msg m = { .headers = hdrs, .headers_cap = 64 };
	struct httpd_resp w = {};
	char msg[256];
	int hl, status;

	if (c->busy || c->close_after || c->draining || c->refused || !c->in_len || out_pending(c))
		return;
	hl = azds_http_parse_request(c->in, c->in_len, &m, &lim);
	if (hl == AZDS_HTTP_INCOMPLETE) {
		if (c->in_len >= HEAD_MAX)
			fail_conn(c, 431, "request head too large (limit 16 KiB)");
		return;
	}
	if (hl == AZDS_HTTP_ERROR) {
		fail_conn(c, m.status ? m.status : 400, "bad request: %s", m.reason ? m.reason : "malformed");
		return;
	}
	if (m.body == AZDS_BODY_CHUNKED) {
		fail_conn(c, 411, "chunked request bodies are not accepted: send Content-Length");
		return;
	}
	if (m.body == AZDS_BODY_LENGTH && m.content_length > HTTPD_MAX_BODY) {
		fail_conn(c, 413, "request body too large (limit 1 MiB)");
		return;
	}
	size_t blen = m.body == AZDS_BODY_LENGTH ? (size_t)m.content_length : 0;

	if (c->in_len < (size_t)hl + blen)
		return; /* the rest of the body is on its way */
	c->keep_alive = m.keep_alive;
	c->req_bytes = (size_t)hl + blen;
	/* a NUL after the body, for the JSON parser, until the request is
	 * answered: the buffer has room (in_cap > in_len) */
	c->saved = c->in[c->req_bytes];
	c->in[c->req_bytes] = 0;
	status = fill_req(c, &m, c->in + hl, blen, msg, sizeof(msg));
	if (status) {
		httpd_error(&w, status, "%s", msg);
	} else {
		h->handler(h->ctx, &c->req, &w);
		if (w.park) {
			c->busy = true;
			c->req.parked_since_ms = httpd_now_ms();
			return;
		}
	}
	answer(c, &w);
}

/* closing: read and drop what the client still sends, until its EOF, the
 * linger deadline or LINGER_MAX_BYTES */
static void conn_drain(struct httpd *h, struct conn *c)
{
	char buf[16384];

	for (;;) {
		ssize_t r = read(c->fd, buf, sizeof(buf));

		if (r > 0 && (c->drained += (size_t)r) <= LINGER_MAX_BYTES)
			continue;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		conn_free(h, c);
		return;
	}
}

/* the answer is out and the connection ends: shut our side, so that the
 * client reads an EOF after the answer, not a reset for unread input */
static void conn_finish(struct httpd *h, struct conn *c)
{
	if (c->eof) {
		conn_free(h, c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	c->draining = true;
	c->drain_until_ms = httpd_now_ms() + LINGER_MS;
	conn_drain(h, c);
}

static void conn_read(struct httpd *h, struct conn *c)
{
	if (c->draining) {
		conn_drain(h, c);
		return;
	}
	while (!c->eof) {
		if (c->in_cap - c->in_len < 4096 && c->in_cap < IN_MAX) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
			char *n;

			if (cap > IN_MAX)
				cap = IN_MAX;
			n = realloc(c->in, cap);
			if (!n) {
				conn_free(h, c);
				return;
			}
			c->in = n;
			c->in_cap = cap;
		}
		if (c->in_len + 1 >= c->in_cap)
			break; /* full: serve what is there */
		ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);

		if (r > 0) {
			if (!c->in_len)
				c->req_start_ms = httpd_now_ms();
			c->in_len += (size_t)r;
			continue;
		}
		if (r == 0) {
			/* a half close: what was sent is still answered */
			c->eof = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break;
		conn_free(h, c);
		return;
	}
	serve(h, c);
}

/* write what is queued; true once all of it is out */
static bool conn_write(struct httpd *h, struct conn *c)
{
	while (out_pending(c)) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n > 0) {
			c->out_off += (size_t)n;
			c->write_ms = httpd_now_ms();
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		conn_free(h, c);
		return false;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	return true;
}

/*
 * Write what is queued; once an answer is out, serve the request pipelined
 * behind it, for a few rounds (then the next answer waits for EPOLLOUT, so
 * that one client's pipeline does not hold the loop).
 */
static void conn_flush(struct httpd *h, struct conn *c)
{
	for (int round = 0; !c->draining; round++) {
		if (!c->out_len)
			break; /* nothing new to write: serve() already ran */
		if (!conn_write(h, c))
			break; /* the socket is full, or the client gone */
		c->idle_since_ms = httpd_now_ms();
		if (c->close_after) {
			conn_finish(h, c);
			break;
		}
		serve(h, c);
		if (round == FLUSH_ROUNDS)
			break;
	}
	if (c->closed)
		return;
	/* an answer that could not be built: close without one */
	if (c->close_after && !c->draining && !out_pending(c)) {
		conn_finish(h, c);
		if (c->closed)
			return;
	}
	/* the client sent all it will and nothing is left to answer */
	if (c->eof && !c->draining && !c->busy && !out_pending(c)) {
		conn_free(h, c);
		return;
	}
	conn_want(h, c);
}

void httpd_event(struct httpd *h, void *ptr, uint32_t events)
{
	struct conn *c = ptr;

	if (ptr == h) {
		accept_all(h);
		return;
	}
	if (c->closed)
		return;
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* gone both ways (a parked request's client too): nobody to answer */
		conn_free(h, c);
		return;
	}
	if (events & EPOLLIN)
		conn_input(h, c);
	else
		conn_flush(h, c);
}

/* the connection's deadline passed */
static void expire(struct httpd *h, struct conn *c)
{
	if (c->draining || out_pending(c)) {
		/* lingered enough, or the client does not read its answer */
		conn_free(h, c);
	} else if (c->in_len) {
		c->in_len = 0;
		fail_conn(c, 408, "the request did not arrive within %d s of its first byte",
			  HTTPD_REQUEST_TIMEOUT_MS / 1000);
		conn_flush(h, c);
	} else {
		conn_free(h, c); /* idle */
	}
}

void httpd_tick(struct httpd *h)
{
	int64_t now = httpd_now_ms();

	free_dead(h);
	if (h->accept_paused_until && now >= h->accept_paused_until)
		listener_want(h, true);
	/* downwards: a connection closed here is replaced in conns[] by the
	 * last one, which was already seen */
	for (int i = h->nconns - 1; i >= 0; i--) {
		struct conn *c = h->conns[i];
		int64_t d;

		if (c->busy) {
			struct httpd_resp w = {};

			h->handler(h->ctx, &c->req, &w);
			if (w.park)
				continue;
			answer(c, &w);
			conn_flush(h, c);
			continue;
		}
		d = conn_deadline(c);
		if (d && now >= d)
			expire(h, c);
	}
}

int httpd_next_deadline_ms(struct httpd *h, int cap)
{
	int64_t now = httpd_now_ms(), next = now + cap;

	if (h->accept_paused_until && h->accept_paused_until < next)
		next = h->accept_paused_until;
	for (int i = 0; i < h->nconns; i++) {
		struct conn *c = h->conns[i];
		int64_t d = c->busy ? now + HTTPD_PARK_POLL_MS : conn_deadline(c);

		if (d && d < next)
			next = d;
	}
	return next <= now ? 0 : (int)(next - now);
}

const char *httpd_query(const struct httpd_req *r, const char *key)
{
	for (int i = 0; i < r->nquery; i++)
		if (!strcmp(r->query[i].key, key))
			return r->query[i].val;
	return NULL;
}

bool httpd_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !*end && !errno;
}

bool httpd_query_true(const struct httpd_req *r, const char *key)
{
	const char *v = httpd_query(r, key);

	return v && (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !*v);
}

void httpd_error(struct httpd_resp *w, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (w->json)
		json_decref(w->json);
	w->status = status;
	w->json = json_pack("{s:s}", "error", msg);
}

void httpd_json(struct httpd_resp *w, int status, json_t *body)
{
	if (w->json)
		json_decref(w->json);
	w->status = status;
	w->json = body;
}
