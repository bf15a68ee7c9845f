// SPDX-License-Identifier: MIT
/* The API's HTTP/1.1 server (see httpd.h). */
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

struct conn {
	int fd;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off;
	bool close_after; /* close once out is written */
	bool busy;        /* a request is parked */
	bool keep_alive;
	struct httpd_req req;
	size_t req_bytes; /* bytes of in taken by the parked request */
	uid_t uid;
	pid_t pid;
};

struct httpd {
	int lfd, epfd;
	char path[108];
	httpd_handler handler;
	void *ctx;
	struct conn *conns[HTTPD_MAX_CONNS];
	int nconns;
};

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
	if (err || chown(sock_path, 0, gid) || chmod(sock_path, 0660) || listen(h->lfd, 128))
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

static void conn_free(struct httpd *h, struct conn *c)
{
	for (int i = 0; i < h->nconns; i++)
		if (h->conns[i] == c) {
			h->conns[i] = h->conns[--h->nconns];
			break;
		}
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

void httpd_close(struct httpd *h)
{
	if (!h)
		return;
	while (h->nconns)
		conn_free(h, h->conns[0]);
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

static void conn_want(struct httpd *h, struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	/* one request at a time: read again only once the answer is out */
	ev.events = c->out_len > c->out_off ? EPOLLOUT : (c->busy ? 0 : EPOLLIN);
	epoll_ctl(h->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void accept_all(struct httpd *h)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		struct conn *c;

		if (fd < 0)
			return;
		if (h->nconns >= HTTPD_MAX_CONNS) {
			static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
						   "Content-Length: 50\r\nConnection: close\r\n\r\n"
						   "{\"error\":\"too many API connections (limit 256)\"}\n";
			ssize_t n = write(fd, busy, sizeof(busy) - 1);

			(void)n;
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl)) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->uid = cr.uid;
		c->pid = cr.pid;
		ev.data.ptr = c;
		if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			free(c);
			close(fd);
			continue;
		}
		h->conns[h->nconns++] = c;
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
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
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

static void respond(struct conn *c, struct httpd_resp *w)
{
	char head[768], *body = NULL;
	size_t blen = 0;
	int n;

	if (!w->status)
		w->status = 500;
	if (w->json) {
		/* JSON bodies end with a newline: friendlier to curl in a terminal */
		char *j = json_dumps(w->json, JSON_COMPACT | JSON_ENSURE_ASCII);

		json_decref(w->json);
		w->json = NULL;
		if (j && asprintf(&body, "%s\n", j) < 0)
			body = NULL;
		free(j);
		blen = body ? strlen(body) : 0;
		w->content_type = "application/json";
	} else if (w->raw) {
		body = w->raw;
		blen = w->raw_len;
		w->raw = NULL;
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
		     w->status, reason(w->status), w->content_type ? w->content_type : "text/plain", blen,
		     c->keep_alive ? "" : "Connection: close\r\n", w->extra_headers);
	out_append(c, head, (size_t)n);
	if (body)
		out_append(c, body, blen);
	free(body);
	if (!c->keep_alive)
		c->close_after = true;
}

static void fill_req(struct conn *c, const struct azds_http_msg *m, const char *body, size_t blen)
{
	struct httpd_req *r = &c->req;
	const char *t = m->target, *q = memchr(m->target, '?', m->target_len);
	size_t plen = q ? (size_t)(q - t) : m->target_len;
	long dn;

	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "%.*s", (int)m->method_len, m->method);
	dn = azds_pct_decode(t, plen, r->path, sizeof(r->path) - 1);
	r->path[dn > 0 ? dn : 0] = 0;
	if (q) {
		const char *p = q + 1, *end = t + m->target_len;

		while (p < end && r->nquery < HTTPD_MAX_QUERY) {
			const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
			const char *eq = memchr(p, '=', (size_t)(stop - p));
			size_t klen = (size_t)((eq ? eq : stop) - p);

			if (klen && klen < sizeof(r->query[0].key)) {
				memcpy(r->query[r->nquery].key, p, klen);
				if (eq) {
					dn = azds_pct_decode(eq + 1, (size_t)(stop - eq - 1), r->query[r->nquery].val,
							     sizeof(r->query[0].val) - 1);
					r->query[r->nquery].val[dn > 0 ? dn : 0] = 0;
				}
				r->nquery++;
			}
			p = stop + 1;
		}
	}
	r->body = blen ? body : NULL;
	r->body_len = blen;
	r->uid = c->uid;
	r->pid = c->pid;
}

static void fail_conn(struct conn *c, int status, const char *msg)
{
	struct httpd_resp w = {};

	c->keep_alive = false;
	httpd_error(&w, status, "%s", msg);
	respond(c, &w);
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
	int hl;

	if (c->busy || c->close_after || !c->in_len)
		return;
	hl = azds_http_parse_request(c->in, c->in_len, &m, &lim);
	if (hl == AZDS_HTTP_INCOMPLETE) {
		if (c->in_len >= HEAD_MAX)
			fail_conn(c, 431, "request head too large (limit 16 KiB)");
		return;
	}
	if (hl == AZDS_HTTP_ERROR) {
		char msg[160];

		snprintf(msg, sizeof(msg), "bad request: %s", m.reason ? m.reason : "malformed");
		fail_conn(c, m.status ? m.status : 400, msg);
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
	/* a NUL after the body, for the JSON parser: the buffer has room (in_cap > in_len) */
	char saved = c->in[hl + blen];

	c->in[hl + blen] = 0;
	fill_req(c, &m, c->in + hl, blen);
	c->req_bytes = (size_t)hl + blen;
	h->handler(h->ctx, &c->req, &w);
	c->in[hl + blen] = saved;
	if (w.park) {
		c->busy = true;
		return;
	}
	respond(c, &w);
	memmove(c->in, c->in + c->req_bytes, c->in_len - c->req_bytes);
	c->in_len -= c->req_bytes;
}

static void conn_read(struct httpd *h, struct conn *c)
{
	for (;;) {
		if (c->in_cap - c->in_len < 4096) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
			char *n;

			if (cap > HEAD_MAX + HTTPD_MAX_BODY + 8192)
				cap = HEAD_MAX + HTTPD_MAX_BODY + 8192;
			if (cap <= c->in_len + 1) {
				break; /* full: serve what is there */
			}
			n = realloc(c->in, cap);
			if (!n) {
				conn_free(h, c);
				return;
			}
			c->in = n;
			c->in_cap = cap;
		}
		ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);

		if (r > 0) {
			c->in_len += (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		/* EOF or error: answer nothing more */
		conn_free(h, c);
		return;
	}
	serve(h, c);
}

static void conn_write(struct httpd *h, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			return;
		conn_free(h, c);
		return;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	if (c->close_after) {
		conn_free(h, c);
		return;
	}
	serve(h, c); /* a pipelined request may be waiting */
}

static void conn_flush(struct httpd *h, struct conn *c)
{
	conn_write(h, c);
	/* c may be gone */
	for (int i = 0; i < h->nconns; i++)
		if (h->conns[i] == c) {
			conn_want(h, c);
			break;
		}
}

void httpd_event(struct httpd *h, void *ptr, uint32_t events)
{
	struct conn *c = ptr;

	if (ptr == h) {
		accept_all(h);
		return;
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		conn_free(h, c);
		return;
	}
	if (events & EPOLLIN) {
		conn_read(h, c);
		for (int i = 0; i < h->nconns; i++)
			if (h->conns[i] == c)
				goto alive;
		return;
	}
alive:
	conn_flush(h, c);
}

void httpd_tick(struct httpd *h)
{
	for (int i = 0; i < h->nconns; i++) {
		struct conn *c = h->conns[i];
		struct httpd_resp w = {};

		if (!c->busy)
			continue;
		h->handler(h->ctx, &c->req, &w);
		if (w.park)
			continue;
		c->busy = false;
		respond(c, &w);
		memmove(c->in, c->in + c->req_bytes, c->in_len - c->req_bytes);
		c->in_len -= c->req_bytes;
		conn_flush(h, c);
		i = -1; /* the array may have changed */
	}
}

bool httpd_has_parked(struct httpd *h)
{
	for (int i = 0; i < h->nconns; i++)
		if (h->conns[i]->busy)
			return true;
	return false;
}

const char *httpd_query(const struct httpd_req *r, const char *key)
{
	for (int i = 0; i < r->nquery; i++)
		if (!strcmp(r->query[i].key, key))
			return r->query[i].val;
	return NULL;
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
