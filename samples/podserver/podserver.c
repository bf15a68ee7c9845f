/* SPDX-License-Identifier: MIT */
/*
 * podserver: the small server that azds test pods run.
 *
 * HTTP mode (default) answers every request with a one-line body naming the
 * pod, space and service that answered, so a test can assert who got the
 * request after azds routed it:
 *
 *   pod=<pod> space=<space> service=<svc> method=<M> path=<target>
 *   route-as=<azds-route-as or -> body-bytes=<n>
 *
 * plus a few special paths:
 *   /echo...  POST/PUT bodies are echoed after the line
 *   /call?url=http://host[:port]/path
 *             makes an outbound request (propagating azds-route-as and
 *             baggage) and appends "-> " and the downstream body
 *   /stream   a chunked response of three chunks (?delay_ms=N spaces them;
 *             ?chunked=always chunks even for HTTP/1.0, as a broken server may)
 *   Upgrade: websocket  101, a "hello from <pod>" text frame, then echo
 *
 * and paths that misbehave on purpose, to test a proxy's exchange handling
 * (each is described where it is answered):
 *   /conn /seen /extra /hold /closeonpoke /poke /partial /stall /interim /bad101
 *   /quietclose /noread
 *
 * TCP mode (--tcp) writes a one-line banner and echoes bytes until EOF.
 *
 * One thread runs an epoll loop over non-blocking sockets; /call requests
 * run on a short-lived thread each and hand their result back through a
 * pipe. Only libc and libcrypto (SHA-1 for the websocket handshake) are used.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#define MAX_HEAD (64u * 1024)         /* request head, and trailers */
#define MAX_CHUNK_LINE 4096u          /* chunk-size line incl. extensions */
#define MAX_ECHO_BODY (64u << 20)     /* bodies we keep to echo back */
#define IN_HIGH (1u << 20)            /* stop reading above this much input */
#define OUT_HIGH (1u << 20)           /* stop producing above this much output */
#define TCP_OUT_HIGH (256u << 10)     /* echo backlog before we stop reading */
#define WS_MAX_PAYLOAD (16u << 20)    /* largest websocket frame accepted */
#define LINGER_MS 2000                /* drain input this long after closing */
#define CALL_TIMEOUT_MS 5000          /* per connect/send/recv of /call */
#define CALL_DEADLINE_MS 30000        /* whole /call exchange */
#define CALL_MAX_BODY (16u << 20)     /* downstream body we accept */
#define STREAM_MAX_DELAY_MS 10000

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* ------------------------------------------------------------------ */
/* Growable byte buffer; live bytes are data[off, len). */

struct buf {
	char *data;
	size_t off, len, cap;
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "podserver: out of memory\n");
		abort();
	}
	return q;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = xrealloc(NULL, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static size_t buf_avail(const struct buf *b)
{
	return b->len - b->off;
}

static char *buf_ptr(const struct buf *b)
{
	return b->data + b->off;
}

/* Make room for n more bytes at the end; returns where they go. */
static char *buf_reserve(struct buf *b, size_t n)
{
	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len >= n)
		return b->data + b->len;
	if (b->off) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 1024;

		while (cap - b->len < n)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	return b->data + b->len;
}

static void buf_append(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	memcpy(buf_reserve(b, n), p, n);
	b->len += n;
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf_reserve(b, (size_t)n + 1), (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Give back big, empty buffers so idle connections stay small. */
static void buf_trim(struct buf *b)
{
	if (buf_avail(b) == 0 && b->cap > (256u << 10))
		buf_free(b);
}

/* ------------------------------------------------------------------ */
/* Small string helpers. */

static bool is_tchar(unsigned char ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool span_ieq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

static bool span_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* Does the comma-separated list v[0..n) contain tok (case-insensitive)? */
static bool list_has(const char *v, size_t n, const char *tok)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && span_ieq(v + s, e - s, tok))
			return true;
	}
	return false;
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void base64_encode(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Global state. */

enum { LOG_QUIET, LOG_REQUESTS, LOG_CONNECTIONS };

static struct {
	const char *pod, *space, *service;
	bool tcp_mode;
	int log_level;      /* LOG_* */
	const char *pidfile;
	unsigned drop_after; /* close, unanswered, the request after N on a connection */
	bool no_accept;     /* listen with backlog 0 and never accept */
	unsigned long accepted; /* connections accepted so far */
	struct seen *seen;  /* per-path request counters (/seen) */
	size_t nseen;
	int ep;             /* epoll */
	int lfd;            /* listening socket */
	int sfd;            /* signalfd */
	int call_pipe[2];   /* /call threads -> loop */
	int spare_fd;       /* released to shed connections on EMFILE */
	bool stop;
	struct conn *graveyard;
	struct conn *conns;      /* every connection not yet freed */
	unsigned long nconns;
} g = {
	.log_level = LOG_REQUESTS,
	.lfd = -1,
	.sfd = -1,
	.call_pipe = { -1, -1 },
	.spare_fd = -1,
};

/* How many requests for a path arrived (head parsed) and were answered. */
struct seen {
	char *path;
	unsigned long seen, answered;
};

#define MAX_SEEN 4096 /* distinct paths counted; later ones are not */

/* What an epoll registration points at. */
enum src_kind { SRC_LISTENER, SRC_SIGNAL, SRC_CALLS, SRC_SOCK, SRC_TIMER };

struct src {
	enum src_kind kind;
	struct conn *conn;
};

static struct src listener_src = { SRC_LISTENER, NULL };
static struct src signal_src = { SRC_SIGNAL, NULL };
static struct src calls_src = { SRC_CALLS, NULL };

/* ------------------------------------------------------------------ */
/* Connections. */

enum conn_mode { MODE_HTTP, MODE_WS, MODE_TCP };
enum body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

/* The HTTP request currently being received / answered on a connection. */
struct request {
	bool have_head;
	char method[32];
	char *target;
	int minor;              /* HTTP/1.<minor> */
	bool keep_alive;
	bool expect_continue;
	bool upgrade_ws;        /* Upgrade: websocket */
	bool conn_upgrade;      /* Connection: upgrade */
	char *route_as;         /* azds-route-as (first one) */
	char *baggage;          /* all baggage headers joined by ", " */
	char *ws_key;
	int ws_version;         /* -1 when absent */
	enum body_kind body_kind;
	enum chunk_state chunk_state;
	uint64_t remaining;     /* of the body (length) or current chunk */
	uint64_t body_bytes;    /* decoded body bytes seen */
	size_t trailer_bytes;
	bool keep_body;         /* echo it back */
	struct buf body;
	int status;             /* what we answered, for the log */
};

struct conn {
	struct src sock_src, timer_src;
	int fd, tfd;
	enum conn_mode mode;
	struct buf in, out;
	struct request req;
	size_t head_scan;       /* head search resumes here */
	uint32_t events;        /* currently registered with epoll */
	bool read_eof;          /* peer finished sending */
	bool close_after;       /* close once out is flushed */
	bool lingering;         /* write side shut; draining input until EOF */
	bool busy;              /* a /call or delayed /stream is in progress */
	bool noread;            /* /noread: nothing more is read, ever */
	bool dead;              /* fds closed; freed after the event batch */
	bool in_graveyard;
	unsigned served;        /* requests answered on this connection */
	unsigned long id;       /* accept order, from 1 */
	unsigned nreq;          /* request heads received on this connection */
	enum { POKE_NONE, POKE_STRAY, POKE_CLOSE, POKE_HOLD } poke; /* what /poke does */
	int stray_ms;           /* a stray response is due after this delay */
	int stream_next;        /* next /stream chunk to send */
	bool quiet_close;       /* /quietclose: close when the timer fires */
	int stream_delay_ms;
	struct call *call;      /* outstanding /call (keeps conn alive) */
	struct conn *next_dead;
	struct conn *prev, *next; /* all connections, for shutdown */
	char peer[64];
};

static void conn_run(struct conn *c);

static void request_reset(struct request *r)
{
	free(r->target);
	free(r->route_as);
	free(r->baggage);
	free(r->ws_key);
	buf_free(&r->body);
	memset(r, 0, sizeof(*r));
	r->ws_version = -1;
}

static void conn_bury(struct conn *c)
{
	if (c->in_graveyard)
		return;
	c->in_graveyard = true;
	c->next_dead = g.graveyard;
	g.graveyard = c;
}

static void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	close(c->fd); /* also removes it from epoll */
	if (c->tfd >= 0)
		close(c->tfd);
	c->fd = c->tfd = -1;
	g.nconns--;
	if (g.log_level >= LOG_CONNECTIONS)
		fprintf(stderr, "podserver[%s]: %s closed\n", g.pod, c->peer);
	/* A running /call still points at us; its completion buries us. */
	if (!c->call)
		conn_bury(c);
}

static void free_graveyard(void)
{
	while (g.graveyard) {
		struct conn *c = g.graveyard;

		g.graveyard = c->next_dead;
		if (c->prev)
			c->prev->next = c->next;
		else
			g.conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		request_reset(&c->req);
		buf_free(&c->in);
		buf_free(&c->out);
		free(c);
	}
}

static void conn_arm_timer(struct conn *c, int ms)
{
	struct itimerspec its = { 0 };

	if (c->tfd < 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &c->timer_src };

		c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (c->tfd < 0 || epoll_ctl(g.ep, EPOLL_CTL_ADD, c->tfd, &ev) < 0) {
			perror("podserver: timerfd");
			if (c->tfd >= 0)
				close(c->tfd);
			c->tfd = -1;
			conn_close(c);
			return;
		}
	}
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L + 1; /* never zero */
	timerfd_settime(c->tfd, 0, &its, NULL);
}

static bool conn_wants_read(const struct conn *c)
{
	if (c->dead || c->read_eof || c->close_after || c->noread)
		return false;
	switch (c->mode) {
	case MODE_TCP:
		return buf_avail(&c->out) < TCP_OUT_HIGH;
	case MODE_HTTP:
		return buf_avail(&c->out) < OUT_HIGH && buf_avail(&c->in) < IN_HIGH;
	case MODE_WS:
		return buf_avail(&c->out) < OUT_HIGH &&
		       buf_avail(&c->in) < WS_MAX_PAYLOAD + 16;
	}
	return false;
}

static void conn_update(struct conn *c)
{
	uint32_t want = 0;

	if (c->dead)
		return;
	if (c->lingering || conn_wants_read(c))
		want |= EPOLLIN;
	if (buf_avail(&c->out))
		want |= EPOLLOUT;
	if (want != c->events) {
		struct epoll_event ev = { .events = want, .data.ptr = &c->sock_src };

		if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
			perror("podserver: epoll_ctl");
			conn_close(c);
			return;
		}
		c->events = want;
	}
}

/*
 * Write what we can. Once everything is out and the connection is to be
 * closed: close right away if the peer already finished sending, otherwise
 * shut our write side and drain (discard) its input for a while, so a
 * close with unread data does not turn into a RST that destroys the
 * response before the peer read it.
 */
static bool conn_flush(struct conn *c)
{
	while (buf_avail(&c->out)) {
		ssize_t n = send(c->fd, buf_ptr(&c->out), buf_avail(&c->out), MSG_NOSIGNAL);

		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		conn_close(c);
		return false;
	}
	buf_trim(&c->out);
	if (c->close_after && !c->lingering) {
		if (c->read_eof) {
			shutdown(c->fd, SHUT_WR);
			conn_close(c);
			return false;
		}
		shutdown(c->fd, SHUT_WR);
		c->lingering = true;
		buf_free(&c->in);
		conn_arm_timer(c, LINGER_MS);
		return !c->dead;
	}
	return true;
}

static void conn_read(struct conn *c)
{
	static char scratch[64 * 1024];

	/* Bounded so one busy peer cannot starve the others. */
	for (int round = 0; round < 16 && !c->dead; round++) {
		ssize_t n;

		if (!c->lingering && !conn_wants_read(c))
			return;
		n = recv(c->fd, scratch, sizeof(scratch), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c);
			return;
		}
		if (n == 0) {
			c->read_eof = true;
			if (c->lingering)
				conn_close(c);
			return;
		}
		if (c->lingering)
			continue;
		/* TCP mode echoes: input goes straight to the output. */
		buf_append(c->mode == MODE_TCP ? &c->out : &c->in, scratch, (size_t)n);
	}
}

/* ------------------------------------------------------------------ */
/* HTTP responses. */

static const char *reason_phrase(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 413: return "Content Too Large";
	case 417: return "Expectation Failed";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* Status line and the headers every response carries (no blank line). */
static void begin_response(struct conn *c, int code)
{
	struct request *r = &c->req;
	struct buf *o = &c->out;

	r->status = code;
	buf_printf(o, "HTTP/1.1 %d %s\r\nX-Pod: %s\r\nX-Space: %s\r\nX-Service: %s\r\n", code,
		   reason_phrase(code), g.pod, g.space, g.service);
	if (code == 101)
		return;
	/* which of our connections answered: tells a reused upstream from a new one */
	buf_printf(o, "X-Conn: %lu\r\n", c->id);
	buf_puts(o, "Content-Type: text/plain\r\n");
	if (!r->keep_alive)
		buf_puts(o, "Connection: close\r\n");
	else if (r->minor == 0)
		buf_puts(o, "Connection: keep-alive\r\n");
}

static bool is_head(const struct request *r)
{
	return strcmp(r->method, "HEAD") == 0;
}

/* Finish a complete response with a Content-Length body. */
static void send_body(struct conn *c, const struct buf *body)
{
	buf_printf(&c->out, "Content-Length: %zu\r\n\r\n", buf_avail(body));
	if (!is_head(&c->req))
		buf_append(&c->out, buf_ptr(body), buf_avail(body));
}

static void identity_line(struct buf *b, const struct request *r)
{
	buf_printf(b, "pod=%s space=%s service=%s method=%s path=%s route-as=%s body-bytes=%" PRIu64
		   "\n", g.pod, g.space, g.service, r->method[0] ? r->method : "-",
		   r->target ? r->target : "-", r->route_as ? r->route_as : "-", r->body_bytes);
}

static void target_split(const char *t, const char **path, size_t *plen, const char **query);
static void stray_response(struct buf *o);

/* The counters of a path (without its query); NULL once the table is full. */
static struct seen *seen_get(const char *path, size_t n)
{
	for (size_t i = 0; i < g.nseen; i++)
		if (span_eq(path, n, g.seen[i].path))
			return &g.seen[i];
	if (g.nseen >= MAX_SEEN)
		return NULL;
	if (!g.seen)
		g.seen = xrealloc(NULL, MAX_SEEN * sizeof(*g.seen));
	g.seen[g.nseen] = (struct seen){ .path = xstrndup(path, n) };
	return &g.seen[g.nseen++];
}

static struct seen *seen_of(const struct request *r)
{
	const char *path, *query;
	size_t plen;

	if (!r->target)
		return NULL;
	target_split(r->target, &path, &plen, &query);
	return seen_get(path, plen);
}

/* The request has been answered: log it and get ready for the next one. */
static void request_done(struct conn *c)
{
	struct request *r = &c->req;
	struct seen *sn = seen_of(r);

	if (sn)
		sn->answered++;
	if (g.log_level >= LOG_REQUESTS)
		fprintf(stderr,
			"podserver[%s]: %s \"%s %s\" %d route-as=%s baggage=%s body-bytes=%" PRIu64
			"\n",
			g.pod, c->peer, r->method, r->target ? r->target : "-", r->status,
			r->route_as ? r->route_as : "-", r->baggage ? r->baggage : "-", r->body_bytes);
	if (!r->keep_alive)
		c->close_after = true;
	request_reset(r);
}

/* Refuse the request and close the connection. */
static void respond_error(struct conn *c, int code, const char *why, const char *extra_hdrs)
{
	struct buf body = { 0 };

	c->req.keep_alive = false;
	begin_response(c, code);
	if (extra_hdrs)
		buf_puts(&c->out, extra_hdrs);
	buf_printf(&body, "pod=%s space=%s service=%s error=%s\n", g.pod, g.space, g.service, why);
	/* Errors always carry their body, even for HEAD. */
	buf_printf(&c->out, "Content-Length: %zu\r\n\r\n", buf_avail(&body));
	buf_append(&c->out, buf_ptr(&body), buf_avail(&body));
	buf_free(&body);
	if (g.log_level >= LOG_REQUESTS)
		fprintf(stderr, "podserver[%s]: %s error %d: %s\n", g.pod, c->peer, code, why);
	c->close_after = true;
	request_reset(&c->req);
}

/* ------------------------------------------------------------------ */
/* HTTP request parsing. */

enum progress { P_NEED_MORE, P_STALLED, P_DONE };

/*
 * Length of the head through its empty line, or 0 if not complete yet.
 * *scan remembers where the search stopped (start of an unfinished line).
 * Lines end in CRLF; a bare LF is tolerated.
 */
static size_t find_head_end(const char *p, size_t n, size_t *scan)
{
	size_t i = *scan;

	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t j;

		if (!nl)
			break;
		j = (size_t)(nl - p);
		if (j == i || (j == i + 1 && p[i] == '\r'))
			return j + 1;
		i = j + 1;
	}
	*scan = i;
	return 0;
}

/* Next line of a head; strips the line end. Returns false at the end. */
static bool next_line(const char *p, size_t n, size_t *pos, const char **line, size_t *len)
{
	const char *nl;
	size_t l;

	if (*pos >= n)
		return false;
	nl = memchr(p + *pos, '\n', n - *pos);
	if (!nl)
		return false;
	*line = p + *pos;
	l = (size_t)(nl - *line);
	if (l && (*line)[l - 1] == '\r')
		l--;
	*len = l;
	*pos = (size_t)(nl - p) + 1;
	return true;
}

struct parse_error {
	int code;
	const char *why;
};

static bool fail(struct parse_error *e, int code, const char *why)
{
	e->code = code;
	e->why = why;
	return false;
}

static bool parse_request_line(struct request *r, const char *l, size_t n, struct parse_error *e)
{
	size_t i = 0, m, ts;

	while (i < n && is_tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i >= n || l[i] != ' ')
		return fail(e, 400, "bad request line");
	if (i >= sizeof(r->method))
		return fail(e, 501, "method too long");
	memcpy(r->method, l, i);
	r->method[i] = '\0';
	m = ++i;
	while (i < n && (unsigned char)l[i] > ' ' && l[i] != 0x7f)
		i++;
	if (i >= n)
		return fail(e, 400, "bad request line");
	if (i == m || l[i] != ' ')
		return fail(e, 400, "bad request target");
	ts = i - m;
	i++;
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT */
	if (n - i != 8 || memcmp(l + i, "HTTP/", 5) != 0 || !isdigit((unsigned char)l[i + 5]) ||
	    l[i + 6] != '.' || !isdigit((unsigned char)l[i + 7]))
		return fail(e, 400, "bad HTTP version");
	if (l[i + 5] != '1')
		return fail(e, 505, "unsupported HTTP version");
	r->minor = l[i + 7] == '0' ? 0 : 1;
	r->target = xstrndup(l + m, ts);
	return true;
}

static bool parse_head(struct request *r, const char *p, size_t n, struct parse_error *e)
{
	const char *line;
	size_t len, pos = 0;
	bool have_cl = false, have_te = false, chunked = false;
	bool conn_close = false, conn_keepalive = false;
	uint64_t cl = 0;

	if (memchr(p, '\0', n))
		return fail(e, 400, "NUL in request head");
	if (!next_line(p, n, &pos, &line, &len))
		return fail(e, 400, "bad request line");
	if (memchr(line, '\r', len))
		return fail(e, 400, "bare CR in request line");
	if (!parse_request_line(r, line, len, e))
		return false;

	while (next_line(p, n, &pos, &line, &len) && len > 0) {
		const char *v;
		size_t nl = 0, vl;

		if (memchr(line, '\r', len))
			return fail(e, 400, "bare CR in header");
		if (line[0] == ' ' || line[0] == '\t')
			return fail(e, 400, "obsolete line folding");
		while (nl < len && is_tchar((unsigned char)line[nl]))
			nl++;
		if (nl == 0 || nl >= len || line[nl] != ':')
			return fail(e, 400, "bad header line");
		v = line + nl + 1;
		vl = len - nl - 1;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		for (size_t i = 0; i < vl; i++) {
			unsigned char ch = (unsigned char)v[i];

			if ((ch < ' ' && ch != '\t') || ch == 0x7f)
				return fail(e, 400, "control character in header value");
		}

		if (span_ieq(line, nl, "content-length")) {
			uint64_t x;

			if (!parse_u64(v, vl, &x))
				return fail(e, 400, "bad Content-Length");
			if (have_cl && x != cl)
				return fail(e, 400, "conflicting Content-Length");
			have_cl = true;
			cl = x;
		} else if (span_ieq(line, nl, "transfer-encoding")) {
			have_te = true;
			if (!span_ieq(v, vl, "chunked"))
				return fail(e, 501, "unsupported Transfer-Encoding");
			chunked = true;
		} else if (span_ieq(line, nl, "connection")) {
			conn_close |= list_has(v, vl, "close");
			conn_keepalive |= list_has(v, vl, "keep-alive");
			r->conn_upgrade |= list_has(v, vl, "upgrade");
		} else if (span_ieq(line, nl, "expect")) {
			if (span_ieq(v, vl, "100-continue"))
				r->expect_continue = true;
		} else if (span_ieq(line, nl, "azds-route-as")) {
			if (!r->route_as)
				r->route_as = xstrndup(v, vl);
		} else if (span_ieq(line, nl, "baggage")) {
			if (!r->baggage) {
				r->baggage = xstrndup(v, vl);
			} else if (vl) {
				size_t ol = strlen(r->baggage);

				r->baggage = xrealloc(r->baggage, ol + 2 + vl + 1);
				memcpy(r->baggage + ol, ", ", 2);
				memcpy(r->baggage + ol + 2, v, vl);
				r->baggage[ol + 2 + vl] = '\0';
			}
		} else if (span_ieq(line, nl, "upgrade")) {
			r->upgrade_ws |= list_has(v, vl, "websocket");
		} else if (span_ieq(line, nl, "sec-websocket-key")) {
			free(r->ws_key);
			r->ws_key = xstrndup(v, vl);
		} else if (span_ieq(line, nl, "sec-websocket-version")) {
			uint64_t x;

			r->ws_version = parse_u64(v, vl, &x) && x < 1000 ? (int)x : 0;
		}
	}

	if (have_te && have_cl)
		return fail(e, 400, "both Content-Length and Transfer-Encoding");
	if (chunked) {
		r->body_kind = BODY_CHUNKED;
		r->chunk_state = CH_SIZE;
	} else if (cl > 0) {
		r->body_kind = BODY_LENGTH;
		r->remaining = cl;
	}
	r->keep_alive = !conn_close && (r->minor >= 1 || conn_keepalive);
	return true;
}

/* Split the target into path and query (handles absolute-form too). */
static void target_split(const char *t, const char **path, size_t *plen, const char **query)
{
	const char *q;

	if (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0) {
		const char *s = strstr(t, "://") + 3;

		t = s + strcspn(s, "/?");
	}
	q = strchr(t, '?');
	*path = t;
	*plen = q ? (size_t)(q - t) : strlen(t);
	*query = q ? q + 1 : "";
}

/* Value of query parameter name (percent-decoded, malloc'd) or NULL. */
static char *query_param(const char *q, const char *name)
{
	size_t nl = strlen(name);

	while (*q) {
		size_t seg = strcspn(q, "&");

		if (seg > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
			const char *v = q + nl + 1;
			size_t vl = seg - nl - 1, o = 0;
			char *out = xrealloc(NULL, vl + 1);

			for (size_t i = 0; i < vl; i++) {
				if (v[i] == '%' && i + 2 < vl && hexval(v[i + 1]) >= 0 &&
				    hexval(v[i + 2]) >= 0) {
					out[o++] = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
					i += 2;
				} else {
					out[o++] = v[i];
				}
			}
			out[o] = '\0';
			return out;
		}
		q += seg;
		if (*q == '&')
			q++;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* WebSocket. */

static void ws_frame(struct buf *o, int opcode, bool fin, const void *p, size_t n)
{
	unsigned char h[10];
	size_t hl = 2;

	h[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (n < 126) {
		h[1] = (unsigned char)n;
	} else if (n <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	buf_append(o, h, hl);
	buf_append(o, p, n);
}

static void ws_fail(struct conn *c, uint16_t code, const char *why)
{
	char payload[128];
	size_t n = strlen(why);

	if (n > sizeof(payload) - 2)
		n = sizeof(payload) - 2;
	payload[0] = (char)(code >> 8);
	payload[1] = (char)code;
	memcpy(payload + 2, why, n);
	ws_frame(&c->out, 8, true, payload, n + 2);
	if (g.log_level >= LOG_REQUESTS)
		fprintf(stderr, "podserver[%s]: %s websocket error %u: %s\n", g.pod, c->peer, code,
			why);
	c->close_after = true;
}

/* Echo every complete client frame. */
static enum progress ws_process(struct conn *c)
{
	while (!c->dead && !c->close_after) {
		unsigned char *p = (unsigned char *)buf_ptr(&c->in), *mask, *payload;
		size_t n = buf_avail(&c->in), hl = 2;
		uint64_t len;
		bool fin;
		int op;

		if (buf_avail(&c->out) >= OUT_HIGH)
			return P_STALLED;
		if (n < 2)
			return P_NEED_MORE;
		fin = p[0] & 0x80;
		op = p[0] & 0x0f;
		len = p[1] & 0x7f;
		if (len == 126) {
			if (n < 4)
				return P_NEED_MORE;
			len = (uint64_t)p[2] << 8 | p[3];
			hl = 4;
		} else if (len == 127) {
			if (n < 10)
				return P_NEED_MORE;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			hl = 10;
		}
		if (p[0] & 0x70) {
			ws_fail(c, 1002, "reserved bits set");
			break;
		}
		if (!(p[1] & 0x80)) {
			ws_fail(c, 1002, "client frame not masked");
			break;
		}
		if ((op & 8) ? (!fin || len > 125 || op > 0xa) : op > 2) {
			ws_fail(c, 1002, "bad opcode or control frame");
			break;
		}
		if (len > WS_MAX_PAYLOAD) {
			ws_fail(c, 1009, "frame too big");
			break;
		}
		if (n < hl + 4 + len)
			return P_NEED_MORE;
		mask = p + hl;
		payload = mask + 4;
		for (uint64_t i = 0; i < len; i++)
			payload[i] ^= mask[i & 3];

		switch (op) {
		case 0x0: /* continuation */
		case 0x1: /* text */
		case 0x2: /* binary */
			ws_frame(&c->out, op, fin, payload, len);
			break;
		case 0x8: /* close: echo it and hang up */
			ws_frame(&c->out, 8, true, payload, len);
			c->close_after = true;
			break;
		case 0x9: /* ping */
			ws_frame(&c->out, 0xa, true, payload, len);
			break;
		case 0xa: /* pong: nothing to do */
			break;
		}
		buf_consume(&c->in, hl + 4 + len);
	}
	return P_DONE;
}

/* Validate an Upgrade: websocket request and switch protocols. */
static void ws_accept(struct conn *c)
{
	struct request *r = &c->req;
	unsigned char digest[SHA_DIGEST_LENGTH];
	char accept[32], hello[300];
	struct buf kg = { 0 };
	const char *path, *query;
	size_t plen;
	int n;

	target_split(r->target, &path, &plen, &query);
	if (span_eq(path, plen, "/bad101")) {
		/* a 101 without Upgrade or Connection: upgrade (?have= names the
		 * one it does carry), then bytes that a tunnel would relay */
		char *have = query_param(query, "have");

		r->status = 101;
		buf_printf(&c->out, "HTTP/1.1 101 Switching Protocols\r\nX-Pod: %s\r\n", g.pod);
		if (have && !strcmp(have, "upgrade"))
			buf_puts(&c->out, "Upgrade: websocket\r\n");
		if (have && !strcmp(have, "connection"))
			buf_puts(&c->out, "Connection: Upgrade\r\n");
		buf_printf(&c->out, "\r\nTUNNEL bytes from %s\n", g.pod);
		free(have);
		/* echo from here on, so a wrongly opened tunnel stays open */
		buf_append(&c->out, buf_ptr(&c->in), buf_avail(&c->in));
		buf_consume(&c->in, buf_avail(&c->in));
		c->mode = MODE_TCP;
		request_done(c);
		return;
	}
	if (strcmp(r->method, "GET") != 0) {
		respond_error(c, 400, "websocket upgrade needs GET", NULL);
		return;
	}
	if (!r->conn_upgrade) {
		respond_error(c, 400, "websocket upgrade without Connection: upgrade", NULL);
		return;
	}
	if (r->body_kind != BODY_NONE) {
		respond_error(c, 400, "websocket upgrade with a body", NULL);
		return;
	}
	if (r->ws_version != 13) {
		respond_error(c, 426, "unsupported Sec-WebSocket-Version",
			     "Sec-WebSocket-Version: 13\r\n");
		return;
	}
	if (!r->ws_key || strlen(r->ws_key) != 24) {
		respond_error(c, 400, "bad Sec-WebSocket-Key", NULL);
		return;
	}

	buf_puts(&kg, r->ws_key);
	buf_puts(&kg, WS_GUID);
	SHA1((const unsigned char *)buf_ptr(&kg), buf_avail(&kg), digest);
	buf_free(&kg);
	base64_encode(digest, sizeof(digest), accept);

	begin_response(c, 101);
	buf_printf(&c->out,
		   "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		   accept);
	n = snprintf(hello, sizeof(hello), "hello from %s", g.pod);
	ws_frame(&c->out, 1, true, hello, (size_t)MIN(n, (int)sizeof(hello) - 1));
	c->mode = MODE_WS;
	r->keep_alive = true;
	request_done(c);
}

/* ------------------------------------------------------------------ */
/* /call: an outbound request made on its own thread. */

struct call {
	struct conn *conn;
	char *host, *port, *path, *hosthdr, *route_as, *baggage;
	/* result */
	int status;            /* downstream status; 0 on failure */
	struct buf body;       /* downstream body (decoded) */
	char err[300];
};

static void call_free(struct call *k)
{
	free(k->host);
	free(k->port);
	free(k->path);
	free(k->hosthdr);
	free(k->route_as);
	free(k->baggage);
	buf_free(&k->body);
	free(k);
}

/* Parse http://host[:port][/path]; false on anything else. */
static bool parse_http_url(const char *url, struct call *k)
{
	const char *a, *end, *host, *port = NULL;
	size_t hl, pl = 0;

	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	/* It goes into a request line and a Host header: no spaces/CTLs. */
	for (const char *q = url; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return false;
	a = url + 7;
	end = a + strcspn(a, "/?#");
	if (memchr(a, '@', (size_t)(end - a)))
		return false;
	if (*a == '[') { /* [v6]:port */
		const char *rb = memchr(a, ']', (size_t)(end - a));

		if (!rb)
			return false;
		host = a + 1;
		hl = (size_t)(rb - host);
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return false;
			port = rb + 2;
			pl = (size_t)(end - port);
		}
	} else {
		const char *colon = memchr(a, ':', (size_t)(end - a));

		host = a;
		hl = (size_t)((colon ? colon : end) - a);
		if (colon) {
			port = colon + 1;
			pl = (size_t)(end - port);
		}
	}
	if (hl == 0 || hl > 253)
		return false;
	if (port) {
		uint64_t x;

		if (!parse_u64(port, pl, &x) || x == 0 || x > 65535)
			return false;
	}
	k->host = xstrndup(host, hl);
	k->port = port ? xstrndup(port, pl) : xstrndup("80", 2);
	k->hosthdr = xstrndup(a, (size_t)(end - a));
	if (*end == '/') {
		k->path = xstrndup(end, strcspn(end, "#"));
	} else { /* "" or "?q": origin-form needs a leading slash */
		size_t ql = strcspn(end, "#");

		k->path = xrealloc(NULL, ql + 2);
		k->path[0] = '/';
		memcpy(k->path + 1, end, ql);
		k->path[ql + 1] = '\0';
	}
	return true;
}

static int connect_timeout(const struct addrinfo *ai, int ms, int *err)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	struct pollfd pfd;
	socklen_t sl = sizeof(*err);
	int rc;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto connected;
	if (errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	do
		rc = poll(&pfd, 1, ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0) {
		*err = ETIMEDOUT;
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &sl) < 0 || *err) {
		if (!*err)
			*err = errno;
		close(fd);
		return -1;
	}
connected:
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/*
 * Is the response in p[0..n) complete? 1 = yes (status and decoded body
 * filled in), 0 = need more, -1 = malformed (why set). eof says the server
 * closed, which completes a body delimited by the connection close.
 */
static int parse_response(const char *p, size_t n, bool eof, int *status, struct buf *body,
			  const char **why)
{
	size_t scan = 0, hlen, pos = 0, len = 0;
	const char *line = NULL;
	bool chunked = false, have_cl = false;
	uint64_t cl = 0;
	int code;

	for (;;) {
		hlen = find_head_end(p, n, &scan);
		if (!hlen) {
			*why = "truncated response head";
			return eof ? -1 : 0;
		}
		if (!next_line(p, hlen, &pos, &line, &len) || len < 12 ||
		    memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' ||
		    !isdigit((unsigned char)line[9]) || !isdigit((unsigned char)line[10]) ||
		    !isdigit((unsigned char)line[11])) {
			*why = "bad status line";
			return -1;
		}
		code = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
		if (code >= 200 || code == 101)
			break;
		/* Skip an interim 1xx response. */
		p += hlen;
		n -= hlen;
		scan = pos = 0;
	}
	while (next_line(p, hlen, &pos, &line, &len) && len > 0) {
		const char *colon = memchr(line, ':', len);
		const char *v;
		size_t nl, vl;

		if (!colon)
			continue;
		nl = (size_t)(colon - line);
		v = colon + 1;
		vl = len - nl - 1;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (span_ieq(line, nl, "content-length")) {
			if (!parse_u64(v, vl, &cl)) {
				*why = "bad Content-Length";
				return -1;
			}
			have_cl = true;
		} else if (span_ieq(line, nl, "transfer-encoding")) {
			chunked = list_has(v, vl, "chunked");
		}
	}
	*status = code;
	p += hlen;
	n -= hlen;
	body->off = body->len = 0;
	if (code == 204 || code == 304 || code == 101)
		return 1;
	if (chunked) {
		size_t i = 0;

		for (;;) {
			const char *nl = memchr(p + i, '\n', n - i);
			uint64_t size = 0;
			size_t j = i;

			if (!nl)
				break;
			while (j < (size_t)(nl - p) && hexval(p[j]) >= 0 && size < (1ull << 40))
				size = size * 16 + (uint64_t)hexval(p[j++]);
			if (j == i) {
				*why = "bad chunk size";
				return -1;
			}
			i = (size_t)(nl - p) + 1;
			if (size == 0) {
				/* Trailers end with an empty line. */
				for (;;) {
					nl = memchr(p + i, '\n', n - i);
					if (!nl)
						goto need_more;
					if ((size_t)(nl - p) == i ||
					    ((size_t)(nl - p) == i + 1 && p[i] == '\r'))
						return 1;
					i = (size_t)(nl - p) + 1;
				}
			}
			if (n - i < size + 1)
				break;
			buf_append(body, p + i, size);
			i += size;
			if (p[i] == '\r')
				i++;
			if (i >= n)
				break;
			if (p[i] != '\n') {
				*why = "bad chunk end";
				return -1;
			}
			i++;
		}
need_more:
		*why = "truncated chunked body";
		return eof ? -1 : 0;
	}
	if (have_cl) {
		if (n < cl) {
			*why = "truncated body";
			return eof ? -1 : 0;
		}
		buf_append(body, p, cl);
		return 1;
	}
	if (!eof)
		return 0;
	buf_append(body, p, n);
	return 1;
}

static void call_run(struct call *k)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
	struct timeval tv = { .tv_sec = CALL_TIMEOUT_MS / 1000 };
	long long deadline = now_ms() + CALL_DEADLINE_MS;
	struct buf req = { 0 }, resp = { 0 };
	int rc, fd = -1, err = 0, status = 0;
	const char *why = "";

	rc = getaddrinfo(k->host, k->port, &hints, &res);
	if (rc) {
		snprintf(k->err, sizeof(k->err), "resolve %s: %s", k->host,
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = connect_timeout(ai, CALL_TIMEOUT_MS, &err);
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(k->err, sizeof(k->err), "connect %s:%s: %s", k->host, k->port,
			 strerror(err));
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	buf_printf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: podserver/%s\r\n", k->path,
		   k->hosthdr, g.pod);
	if (k->route_as)
		buf_printf(&req, "azds-route-as: %s\r\n", k->route_as);
	if (k->baggage)
		buf_printf(&req, "baggage: %s\r\n", k->baggage);
	buf_puts(&req, "Connection: close\r\n\r\n");
	while (buf_avail(&req)) {
		ssize_t n = send(fd, buf_ptr(&req), buf_avail(&req), MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(k->err, sizeof(k->err), "send to %s:%s: %s", k->host, k->port,
				 errno == EAGAIN ? "timed out" : strerror(errno));
			goto out;
		}
		buf_consume(&req, (size_t)n);
	}

	for (;;) {
		ssize_t n;

		if (now_ms() > deadline) {
			snprintf(k->err, sizeof(k->err), "%s:%s: response timed out", k->host,
				 k->port);
			goto out;
		}
		n = recv(fd, buf_reserve(&resp, 64 * 1024), 64 * 1024, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(k->err, sizeof(k->err), "recv from %s:%s: %s", k->host, k->port,
				 (errno == EAGAIN || errno == EWOULDBLOCK) ? "timed out"
									   : strerror(errno));
			goto out;
		}
		resp.len += (size_t)n;
		rc = parse_response(buf_ptr(&resp), buf_avail(&resp), n == 0, &status, &k->body,
				    &why);
		if (rc > 0) {
			k->status = status;
			break;
		}
		if (rc < 0 || buf_avail(&resp) > CALL_MAX_BODY) {
			snprintf(k->err, sizeof(k->err), "%s:%s: %s", k->host, k->port,
				 rc < 0 ? why : "response too large");
			goto out;
		}
	}
out:
	close(fd);
	buf_free(&req);
	buf_free(&resp);
}

static void *call_thread(void *arg)
{
	struct call *k = arg;
	ssize_t n;

	call_run(k);
	/* A pointer-sized pipe write is atomic. */
	do
		n = write(g.call_pipe[1], &k, sizeof(k));
	while (n < 0 && errno == EINTR);
	if (n != sizeof(k))
		abort();
	return NULL;
}

static void call_start(struct conn *c, const char *query)
{
	struct request *r = &c->req;
	char *url = query_param(query, "url");
	struct call *k = xrealloc(NULL, sizeof(*k));
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	memset(k, 0, sizeof(*k));
	if (!url || !parse_http_url(url, k)) {
		free(url);
		call_free(k);
		respond_error(c, 400, "/call needs ?url=http://host[:port]/path", NULL);
		return;
	}
	free(url);
	k->conn = c;
	k->route_as = r->route_as ? strdup(r->route_as) : NULL;
	k->baggage = r->baggage ? strdup(r->baggage) : NULL;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	rc = pthread_create(&tid, &attr, call_thread, k);
	pthread_attr_destroy(&attr);
	if (rc) {
		call_free(k);
		respond_error(c, 503, "cannot start /call thread", NULL);
		return;
	}
	c->call = k;
	c->busy = true;
}

/* A /call finished: answer the request that started it. */
static void call_finish(struct call *k)
{
	struct conn *c = k->conn;
	struct buf body = { 0 };

	c->call = NULL;
	if (c->dead) {
		conn_bury(c);
		call_free(k);
		return;
	}
	c->busy = false;
	identity_line(&body, &c->req);
	if (k->status) {
		buf_puts(&body, "-> ");
		buf_append(&body, buf_ptr(&k->body), buf_avail(&k->body));
		begin_response(c, 200);
		buf_printf(&c->out, "X-Downstream-Status: %d\r\n", k->status);
	} else {
		buf_printf(&body, "-> error: %s\n", k->err);
		begin_response(c, 502);
	}
	send_body(c, &body);
	buf_free(&body);
	call_free(k);
	request_done(c);
	conn_run(c);
}

static void on_calls_ready(void)
{
	struct call *k;
	ssize_t n;

	while ((n = read(g.call_pipe[0], &k, sizeof(k))) == sizeof(k))
		call_finish(k);
}

/* ------------------------------------------------------------------ */
/* /stream: three chunks, optionally spaced out by ?delay_ms=N. */

static void stream_chunk(struct conn *c, int i)
{
	struct buf b = { 0 };

	if (i == 1)
		identity_line(&b, &c->req);
	else
		buf_printf(&b, "chunk %d of 3\n", i);
	buf_printf(&c->out, "%zx\r\n", buf_avail(&b));
	buf_append(&c->out, buf_ptr(&b), buf_avail(&b));
	buf_puts(&c->out, "\r\n");
	if (i == 3)
		buf_puts(&c->out, "0\r\n\r\n");
	buf_free(&b);
}

static void stream_start(struct conn *c, const char *query)
{
	struct request *r = &c->req;
	char *d = query_param(query, "delay_ms"), *ch = query_param(query, "chunked");
	int delay = d ? atoi(d) : 0;
	bool always = ch && !strcmp(ch, "always");

	free(d);
	free(ch);
	if (r->minor == 0 && !always) { /* HTTP/1.0 has no chunked coding: one plain body */
		struct buf body = { 0 };

		identity_line(&body, r);
		buf_puts(&body, "chunk 2 of 3\nchunk 3 of 3\n");
		begin_response(c, 200);
		send_body(c, &body);
		buf_free(&body);
		request_done(c);
		return;
	}
	begin_response(c, 200);
	/* ?headers=N: N more header lines written "hN:v" (no space), so that
	 * a proxy rebuilding the head grows it; ?cut=1: the first chunk is cut
	 * short and the connection closed, a truncated body */
	{
		char *h = query_param(query, "headers"), *cut = query_param(query, "cut");
		int nh = h ? atoi(h) : 0;
		bool truncate = cut && !strcmp(cut, "1");

		free(h);
		free(cut);
		for (int i = 0; i < nh && i < 120; i++)
			buf_printf(&c->out, "h%d:v\r\n", i);
		if (truncate) {
			buf_puts(&c->out, "Transfer-Encoding: chunked\r\n\r\n40\r\nshort");
			c->close_after = true;
			request_reset(&c->req);
			return;
		}
	}
	buf_puts(&c->out, "Transfer-Encoding: chunked\r\n\r\n");
	if (is_head(r)) {
		request_done(c);
		return;
	}
	if (delay <= 0) {
		for (int i = 1; i <= 3; i++)
			stream_chunk(c, i);
		request_done(c);
		return;
	}
	stream_chunk(c, 1);
	c->stream_next = 2;
	c->stream_delay_ms = MIN(delay, STREAM_MAX_DELAY_MS);
	c->busy = true;
	conn_arm_timer(c, c->stream_delay_ms);
}

static void on_timer(struct conn *c)
{
	uint64_t ticks;

	if (read(c->tfd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	if (c->lingering || c->quiet_close) {
		conn_close(c);
		return;
	}
	if (c->stray_ms) {
		c->stray_ms = 0;
		stray_response(&c->out);
		c->busy = false;
		conn_run(c);
		return;
	}
	if (c->stream_next) {
		stream_chunk(c, c->stream_next);
		if (c->stream_next++ == 3) {
			c->stream_next = 0;
			c->busy = false;
			request_done(c);
		} else {
			conn_arm_timer(c, c->stream_delay_ms);
		}
		conn_run(c);
	}
}

/* ------------------------------------------------------------------ */
/* The HTTP request state machine. */

/* Feed decoded body bytes; false if the body to echo got too big. */
static bool body_feed(struct conn *c, const char *p, size_t n)
{
	struct request *r = &c->req;

	r->body_bytes += n;
	if (!r->keep_body)
		return true;
	if (buf_avail(&r->body) + n > MAX_ECHO_BODY) {
		respond_error(c, 413, "body too large to echo", NULL);
		return false;
	}
	buf_append(&r->body, p, n);
	return true;
}

/* 1 = body complete, 0 = need more input, -1 = refused (answered). */
static int take_chunked(struct conn *c)
{
	struct request *r = &c->req;

	for (;;) {
		const char *p = buf_ptr(&c->in), *nl;
		size_t n = buf_avail(&c->in), len, i = 0;
		uint64_t size = 0;

		switch (r->chunk_state) {
		case CH_SIZE:
			nl = memchr(p, '\n', MIN(n, MAX_CHUNK_LINE));
			if (!nl) {
				if (n >= MAX_CHUNK_LINE)
					return respond_error(c, 400, "chunk size line too long", NULL), -1;
				return 0;
			}
			len = (size_t)(nl - p);
			if (len && p[len - 1] == '\r')
				len--;
			for (; i < len && hexval(p[i]) >= 0; i++) {
				if (size >> 56)
					return respond_error(c, 400, "chunk size overflow", NULL), -1;
				size = size * 16 + (uint64_t)hexval(p[i]);
			}
			while (i < len && (p[i] == ' ' || p[i] == '\t'))
				i++;
			if (i == 0 || (i < len && p[i] != ';') || memchr(p, '\r', len))
				return respond_error(c, 400, "bad chunk size line", NULL), -1;
			buf_consume(&c->in, (size_t)(nl - p) + 1);
			if (size == 0) {
				r->chunk_state = CH_TRAILER;
			} else {
				r->remaining = size;
				r->chunk_state = CH_DATA;
			}
			break;
		case CH_DATA:
			if (n == 0)
				return 0;
			len = (size_t)MIN((uint64_t)n, r->remaining);
			if (!body_feed(c, p, len))
				return -1;
			buf_consume(&c->in, len);
			r->remaining -= len;
			if (r->remaining == 0)
				r->chunk_state = CH_DATA_END;
			break;
		case CH_DATA_END:
			if (n == 0)
				return 0;
			if (p[0] == '\n') {
				buf_consume(&c->in, 1);
			} else if (p[0] == '\r') {
				if (n < 2)
					return 0;
				if (p[1] != '\n')
					return respond_error(c, 400, "bad chunk data end", NULL), -1;
				buf_consume(&c->in, 2);
			} else {
				return respond_error(c, 400, "chunk data longer than its size", NULL), -1;
			}
			r->chunk_state = CH_SIZE;
			break;
		case CH_TRAILER:
			nl = memchr(p, '\n', n);
			if (!nl) {
				if (r->trailer_bytes + n > MAX_HEAD)
					return respond_error(c, 431, "trailers too large", NULL), -1;
				return 0;
			}
			len = (size_t)(nl - p);
			buf_consume(&c->in, len + 1);
			if (len == 0 || (len == 1 && p[0] == '\r'))
				return 1;
			r->trailer_bytes += len + 1;
			if (r->trailer_bytes > MAX_HEAD)
				return respond_error(c, 431, "trailers too large", NULL), -1;
			break;
		}
	}
}

/* 1 = have a head, 0 = need more input, -1 = refused (answered). */
static int take_head(struct conn *c)
{
	struct request *r = &c->req;
	struct parse_error e = { 400, "bad request" };
	const char *p;
	size_t n, hlen;
	const char *path, *query;
	size_t plen;

	/* Tolerate empty lines between requests. */
	while (buf_avail(&c->in) && (*buf_ptr(&c->in) == '\r' || *buf_ptr(&c->in) == '\n')) {
		buf_consume(&c->in, 1);
		c->head_scan = 0;
	}
	p = buf_ptr(&c->in);
	n = buf_avail(&c->in);
	hlen = find_head_end(p, MIN(n, MAX_HEAD), &c->head_scan);
	if (!hlen) {
		if (n >= MAX_HEAD)
			return respond_error(c, 431, "request head too large", NULL), -1;
		return 0;
	}
	c->head_scan = 0;
	request_reset(r);
	if (!parse_head(r, p, hlen, &e))
		return respond_error(c, e.code, e.why, NULL), -1;
	buf_consume(&c->in, hlen);
	r->have_head = true;
	c->nreq++;

	target_split(r->target, &path, &plen, &query);
	{
		struct seen *sn = seen_get(path, plen);

		if (sn)
			sn->seen++;
	}
	r->keep_body = plen >= 5 && memcmp(path, "/echo", 5) == 0 &&
		       (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0);
	if (r->keep_body && r->body_kind == BODY_LENGTH && r->remaining > MAX_ECHO_BODY)
		return respond_error(c, 413, "body too large to echo", NULL), -1;
	if (r->expect_continue && r->minor >= 1 && r->body_kind != BODY_NONE)
		buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	return 1;
}

/*
 * /close: a body delimited by the end of the connection (no Content-Length,
 * as old HTTP/1.0 servers answer); /bighead?kb=N: a response head of about
 * N KiB of headers. Both exercise a proxy's response framing.
 */
static void respond_close_delimited(struct conn *c)
{
	struct buf body = { 0 };

	identity_line(&body, &c->req);
	c->req.keep_alive = false;
	c->req.status = 200;
	buf_printf(&c->out, "HTTP/1.1 200 OK\r\nX-Pod: %s\r\nConnection: close\r\n\r\n", g.pod);
	buf_append(&c->out, buf_ptr(&body), buf_avail(&body));
	buf_puts(&c->out, "until-close\n");
	buf_free(&body);
	request_done(c);
}

static void respond_bighead(struct conn *c, const char *query)
{
	struct buf body = { 0 };
	const char *kb = query ? strstr(query, "kb=") : NULL;
	long n = kb ? strtol(kb + 3, NULL, 10) : 32;

	if (n < 1 || n > 1024)
		n = 32;
	begin_response(c, 200);
	for (long i = 0; i < n; i++) {
		buf_printf(&c->out, "X-Big-%ld: ", i);
		for (int k = 0; k < 1000; k++)
			buf_puts(&c->out, "b");
		buf_puts(&c->out, "\r\n");
	}
	identity_line(&body, &c->req);
	send_body(c, &body);
	buf_free(&body);
	request_done(c);
}

static void respond_plain(struct conn *c)
{
	struct request *r = &c->req;
	struct buf body = { 0 };

	identity_line(&body, r);
	if (r->keep_body)
		buf_append(&body, buf_ptr(&r->body), buf_avail(&r->body));
	begin_response(c, 200);
	send_body(c, &body);
	buf_free(&body);
	request_done(c);
}

/*
 * /conn: which backend connection answered, so that a test can tell a
 * reused upstream from a fresh one. After the identity line:
 *   conn=<accept order> req=<requests on this connection> accepted=<total>
 *   open=<other open connections> pending=<connections waiting for /poke
 *   or with a late stray still to write>
 */
static void respond_conn(struct conn *c)
{
	struct buf body = { 0 };
	unsigned long pending = 0;

	for (struct conn *o = g.conns; o; o = o->next)
		if (!o->dead && (o->poke != POKE_NONE || o->stray_ms))
			pending++;
	identity_line(&body, &c->req);
	buf_printf(&body, "conn=%lu req=%u accepted=%lu open=%lu pending=%lu\n", c->id, c->nreq,
		   g.accepted, g.nconns - 1, pending);
	begin_response(c, 200);
	send_body(c, &body);
	buf_free(&body);
	request_done(c);
}

/* /seen?path=P: "seen=<heads received> answered=<responses sent>" for path P. */
static void respond_seen(struct conn *c, const char *query)
{
	char *p = query_param(query, "path");
	struct seen *sn = p ? seen_get(p, strlen(p)) : NULL;
	struct buf body = { 0 };

	free(p);
	buf_printf(&body, "seen=%lu answered=%lu\n", sn ? sn->seen : 0, sn ? sn->answered : 0);
	begin_response(c, 200);
	send_body(c, &body);
	buf_free(&body);
	request_done(c);
}

/* A whole response that answers no request: what a desynchronised proxy
 * would hand to the next one. */
static void stray_response(struct buf *o)
{
	char body[300];
	int n = snprintf(body, sizeof(body), "STRAY response from %s\n", g.pod);

	n = MIN(n, (int)sizeof(body) - 1);
	buf_printf(o, "HTTP/1.1 200 OK\r\nX-Pod: STRAY\r\nContent-Type: text/plain\r\n"
		      "Content-Length: %d\r\n\r\n%.*s", n, n, body);
}

/*
 * /extra?status=200|204|304&stray=same|late|poke[&ms=N]: a complete
 * response, then bytes past its end: a whole stray response. For HEAD, 204
 * and 304 they come as the body such a response must not have, with a
 * Content-Length that counts them. same: in the same write; late: ms
 * (default 20) later, before this connection reads its next request (a
 * sequential backend that writes too much); poke: when /poke arrives on
 * another connection, while this one goes on serving normally.
 */
static void respond_extra(struct conn *c, const char *query)
{
	char *st = query_param(query, "status"), *mode = query_param(query, "stray");
	char *ms = query_param(query, "ms");
	int status = st ? atoi(st) : 200, delay = ms ? atoi(ms) : 20;
	struct buf stray = { 0 }, body = { 0 };

	if (status != 204 && status != 304)
		status = 200;
	stray_response(&stray);
	begin_response(c, status);
	if (status == 200 && !is_head(&c->req)) {
		identity_line(&body, &c->req);
		send_body(c, &body);
	} else {
		buf_printf(&c->out, "Content-Length: %zu\r\n\r\n", buf_avail(&stray));
	}
	if (!mode || (strcmp(mode, "late") && strcmp(mode, "poke"))) {
		buf_append(&c->out, buf_ptr(&stray), buf_avail(&stray));
	} else if (!strcmp(mode, "late")) {
		c->stray_ms = delay < 1 ? 1 : MIN(delay, STREAM_MAX_DELAY_MS);
		c->busy = true;
		conn_arm_timer(c, c->stray_ms);
	} else {
		c->poke = POKE_STRAY;
	}
	free(st);
	free(mode);
	free(ms);
	buf_free(&stray);
	buf_free(&body);
	request_done(c);
}

/* /poke: every connection waiting for it acts now (stray bytes written,
 * connection closed, held request answered) before this is answered. */
static void respond_poke(struct conn *c)
{
	struct buf body = { 0 };
	unsigned long n = 0;

	for (struct conn *o = g.conns; o; o = o->next) {
		int what = o->poke;

		if (o == c || o->dead || what == POKE_NONE)
			continue;
		o->poke = POKE_NONE;
		n++;
		if (what == POKE_STRAY) {
			stray_response(&o->out);
		} else if (what == POKE_CLOSE) {
			o->close_after = true; /* FIN, as a backend's idle timeout does */
		} else {
			o->busy = false;
			respond_plain(o);
		}
		conn_run(o);
	}
	buf_printf(&body, "poked=%lu\n", n);
	begin_response(c, 200);
	send_body(c, &body);
	buf_free(&body);
	request_done(c);
}

/*
 * /quietclose: a whole response that does not say the connection ends
 * (as some servers answer HTTP/1.0), then, 200 ms later and without
 * reading anything more, the close.
 */
static void respond_quietclose(struct conn *c)
{
	struct buf body = { 0 };

	identity_line(&body, &c->req);
	buf_printf(&c->out, "HTTP/1.1 200 OK\r\nX-Pod: %s\r\nX-Conn: %lu\r\nContent-Length: %zu\r\n\r\n", g.pod,
		   c->id, buf_avail(&body));
	buf_append(&c->out, buf_ptr(&body), buf_avail(&body));
	buf_free(&body);
	request_reset(&c->req);
	c->quiet_close = true;
	c->busy = true;
	conn_arm_timer(c, 200);
}

/* /partial: part of a response head, then the connection closes. */
static void respond_partial(struct conn *c)
{
	buf_printf(&c->out, "HTTP/1.1 200 OK\r\nX-Pod: %s\r\nX-Partial: the rest never comes", g.pod);
	c->close_after = true;
	request_reset(&c->req);
}

/* /stall: a close-delimited response's head and first part, then nothing
 * more for as long as the connection stays open (a backend pausing
 * mid-response: a long poll, a slow report) */
static void respond_stall(struct conn *c)
{
	buf_printf(&c->out, "HTTP/1.1 200 OK\r\nX-Pod: %s\r\nConnection: close\r\n\r\nfirst-part\n", g.pod);
	request_reset(&c->req);
	c->busy = true;
}

static void http_dispatch(struct conn *c)
{
	const char *path, *query;
	size_t plen;

	/* --drop-after: behave like a backend whose keep-alive timeout fired
	 * just as the proxy reused the connection */
	if (g.drop_after && c->served++ >= g.drop_after) {
		conn_close(c);
		return;
	}
	target_split(c->req.target, &path, &plen, &query);
	if (span_eq(path, plen, "/call"))
		call_start(c, query);
	else if (span_eq(path, plen, "/stream"))
		stream_start(c, query);
	else if (span_eq(path, plen, "/close"))
		respond_close_delimited(c);
	else if (span_eq(path, plen, "/bighead"))
		respond_bighead(c, query);
	else if (span_eq(path, plen, "/conn"))
		respond_conn(c);
	else if (span_eq(path, plen, "/seen"))
		respond_seen(c, query);
	else if (span_eq(path, plen, "/extra"))
		respond_extra(c, query);
	else if (span_eq(path, plen, "/poke"))
		respond_poke(c);
	else if (span_eq(path, plen, "/partial"))
		respond_partial(c);
	else if (span_eq(path, plen, "/stall"))
		respond_stall(c);
	else if (span_eq(path, plen, "/quietclose"))
		respond_quietclose(c);
	else if (span_eq(path, plen, "/hold")) {
		/* answered when /poke arrives; nothing else is read meanwhile */
		c->poke = POKE_HOLD;
		c->busy = true;
	} else if (span_eq(path, plen, "/closeonpoke")) {
		/* answered now; closed by the next /poke */
		respond_plain(c);
		c->poke = POKE_CLOSE;
	} else if (span_eq(path, plen, "/interim")) {
		/* interim responses whatever the version: HTTP/1.0 must not get them */
		buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n"
				  "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n");
		respond_plain(c);
	} else
		respond_plain(c);
}

/* Answer every complete request in the input, in order. */
static enum progress http_process(struct conn *c)
{
	struct request *r = &c->req;

	while (c->mode == MODE_HTTP) {
		int rc;

		if (c->dead || c->close_after)
			return P_DONE;
		if (c->busy || buf_avail(&c->out) >= OUT_HIGH)
			return P_STALLED;
		if (!r->have_head) {
			rc = take_head(c);
			if (rc <= 0)
				return rc == 0 ? P_NEED_MORE : P_DONE;
			if (r->upgrade_ws) {
				ws_accept(c);
				continue;
			}
			/* /noread: a backend that stops reading at the end of a
			 * head and never answers (an upload handler stuck before
			 * it reads the body); the body's bytes pile up before it */
			const char *path, *query;
			size_t plen;

			target_split(r->target, &path, &plen, &query);
			if (span_eq(path, plen, "/noread")) {
				c->noread = c->busy = true;
				return P_STALLED;
			}
		}
		switch (r->body_kind) {
		case BODY_NONE:
			rc = 1;
			break;
		case BODY_LENGTH: {
			size_t n = (size_t)MIN((uint64_t)buf_avail(&c->in), r->remaining);

			if (!body_feed(c, buf_ptr(&c->in), n))
				return P_DONE;
			buf_consume(&c->in, n);
			r->remaining -= n;
			rc = r->remaining == 0;
			break;
		}
		default:
			rc = take_chunked(c);
			break;
		}
		if (rc == 0)
			return P_NEED_MORE;
		if (rc < 0)
			return P_DONE;
		http_dispatch(c);
	}
	return c->mode == MODE_WS ? ws_process(c) : P_NEED_MORE;
}

/* Run the connection until it needs the network again. */
static void conn_run(struct conn *c)
{
	while (!c->dead) {
		enum progress p = P_NEED_MORE;

		switch (c->mode) {
		case MODE_HTTP:
			p = http_process(c);
			break;
		case MODE_WS:
			p = ws_process(c);
			break;
		case MODE_TCP:
			break;
		}
		if (c->dead)
			return;
		if (c->read_eof && p == P_NEED_MORE)
			c->close_after = true;
		if (!conn_flush(c))
			return;
		/* Stalled on output that has now drained: answer more. */
		if (p != P_STALLED || c->busy || buf_avail(&c->out))
			break;
	}
	if (!c->dead) {
		buf_trim(&c->in);
		conn_update(c);
	}
}

/* ------------------------------------------------------------------ */
/* Accepting. */

static void conn_new(int fd, const struct sockaddr_storage *ss)
{
	struct conn *c = xrealloc(NULL, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN };
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->tfd = -1;
	c->sock_src = (struct src){ SRC_SOCK, c };
	c->timer_src = (struct src){ SRC_TIMER, c };
	c->mode = g.tcp_mode ? MODE_TCP : MODE_HTTP;
	c->req.ws_version = -1;
	c->events = EPOLLIN;
	c->id = ++g.accepted;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", a, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", a, ntohs(s->sin6_port));
	} else {
		snprintf(c->peer, sizeof(c->peer), "?");
	}

	ev.data.ptr = &c->sock_src;
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("podserver: epoll_ctl");
		close(fd);
		free(c);
		return;
	}
	g.nconns++;
	c->next = g.conns;
	if (g.conns)
		g.conns->prev = c;
	g.conns = c;
	if (g.log_level >= LOG_CONNECTIONS)
		fprintf(stderr, "podserver[%s]: %s connected\n", g.pod, c->peer);
	if (c->mode == MODE_TCP)
		buf_printf(&c->out, "pod=%s space=%s service=%s\n", g.pod, g.space, g.service);
	conn_run(c);
}

static void on_accept(void)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(g.lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_new(fd, &ss);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue;
		case EMFILE:
		case ENFILE:
			/* Out of descriptors: accept and drop one so the
			 * listener does not spin, then carry on. */
			fprintf(stderr, "podserver: accept: %s (dropping a connection)\n",
				strerror(errno));
			if (g.spare_fd >= 0) {
				close(g.spare_fd);
				fd = accept(g.lfd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				g.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			}
			return;
		case EAGAIN:
			return;
		default:
			perror("podserver: accept");
			return;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Startup. */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: podserver --pod NAME --space SPACE --service SVC [options]\n"
		"\n"
		"A test server for azds pods. Every HTTP response names who answered.\n"
		"\n"
		"  -l, --listen ADDR:PORT  listen address (default 0.0.0.0:8080;\n"
		"                          [v6addr]:port for IPv6, port 0 = any)\n"
		"  -p, --pod NAME          pod name reported in X-Pod and bodies\n"
		"  -s, --space SPACE       dev space reported in X-Space\n"
		"  -S, --service SVC       service reported in X-Service\n"
		"  -t, --tcp               raw TCP mode: banner line, then echo until EOF\n"
		"  -P, --pidfile FILE      write our pid to FILE once listening\n"
		"  -q, --quiet             do not log requests (logged to stderr by default)\n"
		"      --drop-after N      on each connection, close the request after the\n"
		"                          N-th unanswered (a backend closing a reused connection)\n"
		"      --no-accept         listen with backlog 0 and never accept: once one\n"
		"                          connection is queued, connects time out\n"
		"  -v, --verbose           also log connections opening and closing\n"
		"  -h, --help              show this help\n"
		"\n"
		"HTTP paths: any path -> identity line; POST/PUT /echo... echoes the body;\n"
		"/call?url=http://host[:port]/path calls another service (propagating\n"
		"azds-route-as and baggage); /stream sends 3 chunks (?delay_ms=N);\n"
		"Upgrade: websocket -> echo server that first sends \"hello from <pod>\".\n"
		"Misbehaving on purpose (see samples/README.md): /conn, /seen?path=P,\n"
		"/extra?status=&stray=same|late|poke, /hold, /closeonpoke, /poke, /partial, /stall, /noread,\n"
		"/interim, /stream?chunked=always[&headers=N][&cut=1], /bad101?have=upgrade|connection,\n"
		"/quietclose.\n");
}

static int listen_on(const char *spec)
{
	char host[256] = "", port[16] = "";
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char a[INET6_ADDRSTRLEN] = "?";
	int fd = -1, rc, one = 1, err = 0;
	unsigned bound_port = 0;
	size_t hl;

	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(port)) {
		fprintf(stderr, "podserver: --listen wants ADDR:PORT, got '%s'\n", spec);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		fprintf(stderr, "podserver: --listen address too long\n");
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);

	rc = getaddrinfo(hl ? host : "0.0.0.0", port, &hints, &res);
	if (rc) {
		fprintf(stderr, "podserver: --listen %s: %s\n", spec, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, g.no_accept ? 0 : SOMAXCONN) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fprintf(stderr, "podserver: listen %s: %s\n", spec, strerror(err));
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		bound_port = ntohs(s4->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		bound_port = ntohs(s6->sin6_port);
	}
	fprintf(stderr, "podserver: pod=%s space=%s service=%s listening on %s%s%s:%u (%s)\n",
		g.pod, g.space, g.service, ss.ss_family == AF_INET6 ? "[" : "", a,
		ss.ss_family == AF_INET6 ? "]" : "", bound_port, g.tcp_mode ? "tcp" : "http");
	return fd;
}

static int write_pidfile(const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void raise_nofile_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void add_watch(int fd, struct src *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("podserver: epoll_ctl");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "pod", required_argument, NULL, 'p' },
		{ "space", required_argument, NULL, 's' },
		{ "service", required_argument, NULL, 'S' },
		{ "tcp", no_argument, NULL, 't' },
		{ "pidfile", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "drop-after", required_argument, NULL, 'D' },
		{ "no-accept", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *listen_spec = "0.0.0.0:8080";
	struct epoll_event evs[256];
	sigset_t mask;
	int opt;

	while ((opt = getopt_long(argc, argv, "l:p:s:S:tP:vqhD:", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': listen_spec = optarg; break;
		case 'p': g.pod = optarg; break;
		case 's': g.space = optarg; break;
		case 'S': g.service = optarg; break;
		case 't': g.tcp_mode = true; break;
		case 'P': g.pidfile = optarg; break;
		case 'v': g.log_level = LOG_CONNECTIONS; break;
		case 'q': g.log_level = LOG_QUIET; break;
		case 'D': g.drop_after = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'N': g.no_accept = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "podserver: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!g.tcp_mode && (!g.pod || !g.space || !g.service)) {
		fprintf(stderr, "podserver: --pod, --space and --service are required\n");
		usage(stderr);
		return 2;
	}
	if (!g.pod)
		g.pod = "-";
	if (!g.space)
		g.space = "-";
	if (!g.service)
		g.service = "-";

	/* Signals arrive through a signalfd; threads inherit the block. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	raise_nofile_limit();

	g.ep = epoll_create1(EPOLL_CLOEXEC);
	g.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (g.ep < 0 || g.sfd < 0 || pipe2(g.call_pipe, O_CLOEXEC) < 0) {
		perror("podserver: setup");
		return 1;
	}
	fcntl(g.call_pipe[0], F_SETFL, O_NONBLOCK);
	g.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	g.lfd = listen_on(listen_spec);
	if (g.lfd < 0)
		return 1;
	/* --no-accept: the one queued connection fills the accept queue and
	 * the kernel drops later SYNs: a backend whose connects never finish */
	if (!g.no_accept)
		add_watch(g.lfd, &listener_src);
	add_watch(g.sfd, &signal_src);
	add_watch(g.call_pipe[0], &calls_src);
	if (g.pidfile && write_pidfile(g.pidfile) < 0) {
		fprintf(stderr, "podserver: pidfile %s: %s\n", g.pidfile, strerror(errno));
		return 1;
	}

	while (!g.stop) {
		int n = epoll_wait(g.ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("podserver: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct src *s = evs[i].data.ptr;
			struct conn *c = s->conn;
			uint32_t e = evs[i].events;

			switch (s->kind) {
			case SRC_LISTENER:
				on_accept();
				break;
			case SRC_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(g.sfd, &si, sizeof(si)) == sizeof(si)) {
					fprintf(stderr, "podserver: signal %u, exiting\n",
						si.ssi_signo);
					g.stop = true;
				}
				break;
			}
			case SRC_CALLS:
				on_calls_ready();
				break;
			case SRC_TIMER:
				if (!c->dead)
					on_timer(c);
				break;
			case SRC_SOCK:
				if (c->dead)
					break;
				if (e & (EPOLLERR | EPOLLHUP)) {
					conn_close(c);
					break;
				}
				if (e & EPOLLIN)
					conn_read(c);
				if (!c->dead)
					conn_run(c);
				break;
			}
		}
		free_graveyard();
	}
	/* Close what is left; a conn with a /call running stays with it. */
	for (struct conn *c = g.conns; c; c = c->next)
		conn_close(c);
	free_graveyard();
	if (g.pidfile)
		unlink(g.pidfile);
	return 0;
}
