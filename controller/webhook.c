// SPDX-License-Identifier: MIT
/*
 * The webhook's HTTPS server: one thread, one poll loop over the listener,
 * a wake-up pipe and at most max_conns connections, each a small state
 * machine (TLS handshake, read the request, maybe wait (tests' delay),
 * write the answer, close). One request per connection (Connection:
 * close): the API server sends a pod's review at a time and dials again.
 * Every connection has a deadline; a request over the header or body
 * bound is answered 431 or 413 and closed; a full table refuses new
 * connections at once (the API server then applies the failure policy
 * instead of waiting out its timeout). Certificates are looked at every
 * rotate_check_ms: a new serving certificate means a new SSL_CTX for new
 * connections (the old one lives on in the connections that use it).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "tlsca.h"
#include "webhook.h"

/*
 * C_DRAIN: the answer is out; what the client still sends (a body we
 * refused to read) is read and dropped until it closes, for at most a
 * second, so that closing with unread bytes (a TCP reset) does not destroy
 * the answer before the client read it.
 */
enum conn_state { C_HANDSHAKE, C_READ, C_WAIT, C_WRITE, C_DRAIN };

#define DRAIN_MS 1000

struct conn {
	int fd;
	SSL *ssl;
	enum conn_state st;
	short events; /* what the TLS layer waits for */
	char *buf;    /* the request */
	size_t len, cap, head;
	char *out; /* the answer */
	size_t out_len, out_off;
	long long deadline, respond_at; /* ms, CLOCK_MONOTONIC */
};

struct webhook {
	struct webhook_opts o;
	char domain[254];
	int lfd, port, wake[2];
	pthread_t thr;
	bool started;
	struct tlsca *ca;
	SSL_CTX *ctx;
	pthread_mutex_t mu; /* bundle */
	char *bundle;
	struct conn *conns;
	unsigned nconns;
	long long next_rotate;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(struct webhook *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct webhook *w, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!w->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* uids and JSON errors quote the client: no control characters reach a log */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	w->o.log(w->o.log_arg, line);
}

static void warn_cb(void *arg, const char *msg)
{
	logf_(arg, "warning: %s", msg);
}

/* ------------------------------------------------------- connections */

static void conn_close(struct webhook *w, unsigned i)
{
	struct conn *c = &w->conns[i];

	SSL_free(c->ssl);
	close(c->fd);
	free(c->buf);
	free(c->out);
	w->conns[i] = w->conns[--w->nconns];
}

/* Queue an answer: STATUS with BODY of type CTYPE, then close. */
static int respond(struct webhook *w, struct conn *c, int status, const char *ctype, const char *body)
{
	static const struct {
		int code;
		const char *text;
	} reasons[] = {{200, "OK"},
		       {400, "Bad Request"},
		       {404, "Not Found"},
		       {405, "Method Not Allowed"},
		       {408, "Request Timeout"},
		       {411, "Length Required"},
		       {413, "Content Too Large"},
		       {431, "Request Header Fields Too Large"},
		       {500, "Internal Server Error"},
		       {501, "Not Implemented"},
		       {503, "Service Unavailable"}};
	const char *reason = "Error";
	size_t blen = strlen(body);
	int n;

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == status)
			reason = reasons[i].text;
	free(c->out);
	c->out = malloc(blen + 256);
	if (!c->out)
		return -ENOMEM;
	n = snprintf(c->out, blen + 256,
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
		     reason, ctype, blen, body);
	if (n < 0 || (size_t)n >= blen + 256)
		return -EOVERFLOW;
	c->out_len = (size_t)n;
	c->out_off = 0;
	c->st = C_WRITE;
	c->events = POLLOUT;
	c->deadline = now_ms() + w->o.read_timeout_ms;
	return 0;
}

static int respond_text(struct webhook *w, struct conn *c, int status, const char *msg)
{
	char body[AZDS_ERRMAX + 8];

	snprintf(body, sizeof(body), "%s\n", msg);
	return respond(w, c, status, "text/plain; charset=utf-8", body);
}

/* The header's Content-Length (-1: none, -2: not a number or chunked). */
static long long content_length(const char *head, size_t n)
{
	const char *p = head, *end = head + n;
	long long len = -1;

	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		size_t l = eol ? (size_t)(eol - p) : (size_t)(end - p);

		if (l > 15 && !strncasecmp(p, "content-length:", 15)) {
			char num[24];
			size_t k = 15, m = 0;

			while (k < l && (p[k] == ' ' || p[k] == '\t'))
				k++;
			while (k < l && m < sizeof(num) - 1 && p[k] >= '0' && p[k] <= '9')
				num[m++] = p[k++];
			while (k < l && (p[k] == ' ' || p[k] == '\t'))
				k++;
			num[m] = 0;
			if (!m || k != l || m > 18 || len >= 0)
				return -2;
			len = strtoll(num, NULL, 10);
		} else if (l > 18 && !strncasecmp(p, "transfer-encoding:", 18)) {
			return -2;
		}
		p = eol ? eol + 2 : end;
	}
	return len;
}

static void do_mutate(struct webhook *w, struct conn *c, const char *body, size_t len)
{
	struct webhook_review_ctx rc = {w->domain, w->o.space_of, w->o.space_arg};
	struct azds_err e = {{0}};
	char line[512], *out;
	bool patched;
	int err = webhook_review(&rc, body, len, &out, &patched, line, sizeof(line), &e);

	if (err) {
		logf_(w, "POST %s: 400: %s", WEBHOOK_PATH, e.msg);
		respond_text(w, c, err == -ENOMEM ? 500 : 400, e.msg);
		return;
	}
	logf_(w, "POST %s: %s%s", WEBHOOK_PATH, line, w->o.delay_ms ? " (answer delayed)" : "");
	if (respond(w, c, 200, "application/json", out) < 0)
		respond_text(w, c, 500, "out of memory");
	free(out);
	if (w->o.delay_ms) {
		c->st = C_WAIT;
		c->events = 0;
		c->respond_at = now_ms() + w->o.delay_ms;
	}
}

/* A whole request is in c->buf: route it. */
static void handle(struct webhook *w, struct conn *c, size_t body_len)
{
	const char *p = c->buf, *sp1, *sp2, *eol = memmem(c->buf, c->head, "\r\n", 2);
	size_t plen;

	sp1 = memchr(p, ' ', (size_t)(eol - p));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || (size_t)(eol - sp2 - 1) < 8 || memcmp(sp2 + 1, "HTTP/1.", 7)) {
		respond_text(w, c, 400, "malformed request line");
		return;
	}
	/* the API server adds ?timeout=3s: the query is not part of the route */
	plen = (size_t)(sp2 - sp1 - 1);
	for (size_t i = 0; i < plen; i++)
		if (sp1[1 + i] == '?') {
			plen = i;
			break;
		}
	if (plen == strlen(WEBHOOK_PATH) && !memcmp(sp1 + 1, WEBHOOK_PATH, plen)) {
		if ((size_t)(sp1 - p) != 4 || memcmp(p, "POST", 4)) {
			respond_text(w, c, 405, "POST an AdmissionReview to " WEBHOOK_PATH);
			return;
		}
		do_mutate(w, c, c->buf + c->head, body_len);
	} else if (plen == 8 && !memcmp(sp1 + 1, "/healthz", 8)) {
		respond(w, c, 200, "text/plain", "ok\n");
	} else {
		respond_text(w, c, 404, "not found: POST " WEBHOOK_PATH " or GET /healthz");
	}
}

/* After more bytes arrived: is a whole request there, or a bound broken? */
static void parse(struct webhook *w, struct conn *c)
{
	char *end;
	long long cl;

	if (!c->head) {
		end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!end) {
			if (c->len > w->o.max_header)
				respond_text(w, c, 431, "request header over the bound");
			return;
		}
		c->head = (size_t)(end - c->buf) + 4;
		if (c->head > w->o.max_header) {
			respond_text(w, c, 431, "request header over the bound");
			return;
		}
	}
	cl = content_length(c->buf, c->head - 4);
	if (cl == -2) {
		respond_text(w, c, 400, "bad Content-Length, or a Transfer-Encoding (send Content-Length)");
		return;
	}
	if (cl < 0)
		cl = 0; /* a GET; a POST without a body is a malformed review */
	if ((unsigned long long)cl > w->o.max_body) {
		respond_text(w, c, 413, "request body over the bound");
		return;
	}
	if (c->len - c->head >= (size_t)cl)
		handle(w, c, (size_t)cl);
}

static void step_read(struct webhook *w, struct conn *c)
{
	size_t want = w->o.max_header + w->o.max_body + 1;

	while (c->st == C_READ) {
		int n, r;

		if (c->cap - c->len < 4096) {
			size_t ncap = c->cap ? c->cap * 2 : 16384;
			char *nb;

			if (ncap > want + 4096)
				ncap = want + 4096;
			if (ncap <= c->len) {
				/* over every bound: parse() answers or it is garbage */
				respond_text(w, c, 413, "request over the bound");
				return;
			}
			nb = realloc(c->buf, ncap);
			if (!nb) {
				respond_text(w, c, 503, "out of memory");
				return;
			}
			c->buf = nb;
			c->cap = ncap;
		}
		n = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len - 1));
		if (n <= 0) {
			r = SSL_get_error(c->ssl, n);
			c->events = r == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
			if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE)
				c->deadline = 0; /* closed or broken: drop it */
			ERR_clear_error();
			return;
		}
		c->len += (size_t)n;
		c->buf[c->len] = 0;
		parse(w, c);
	}
}

static void step_write(struct conn *c)
{
	while (c->out_off < c->out_len) {
		int n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));

		if (n <= 0) {
			int r = SSL_get_error(c->ssl, n);

			c->events = r == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
			if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE)
				c->deadline = 0;
			ERR_clear_error();
			return;
		}
		c->out_off += (size_t)n;
	}
	/* out: close_notify (best effort: non-blocking), then wait for the client's close */
	SSL_shutdown(c->ssl);
	ERR_clear_error();
	shutdown(c->fd, SHUT_WR);
	c->st = C_DRAIN;
	c->events = POLLIN;
	c->deadline = now_ms() + DRAIN_MS;
}

static void step_drain(struct conn *c)
{
	char scratch[4096];

	for (;;) {
		ssize_t n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		c->deadline = 0; /* closed (or broken): done */
		return;
	}
}

static void step(struct webhook *w, struct conn *c)
{
	if (c->st == C_HANDSHAKE) {
		int n = SSL_accept(c->ssl);

		if (n != 1) {
			int r = SSL_get_error(c->ssl, n);

			c->events = r == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
			if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE)
				c->deadline = 0; /* a client that does not trust us, or not TLS */
			ERR_clear_error();
			return;
		}
		c->st = C_READ;
	}
	if (c->st == C_READ)
		step_read(w, c);
	if (c->st == C_WRITE)
		step_write(c);
	else if (c->st == C_DRAIN)
		step_drain(c);
}

/* One connection taken from the backlog; false when there was none. */
static bool accept_one(struct webhook *w)
{
	struct conn *c;
	int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return false;
	if (w->nconns >= w->o.max_conns) {
		close(fd); /* refused at once: the caller's failure policy, not its timeout */
		logf_(w, "warning: %u connections: one refused", w->nconns);
		return true;
	}
	c = &w->conns[w->nconns];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->ssl = SSL_new(w->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		SSL_free(c->ssl);
		close(fd);
		ERR_clear_error();
		return true;
	}
	c->st = C_HANDSHAKE;
	c->events = POLLIN;
	c->deadline = now_ms() + w->o.read_timeout_ms;
	w->nconns++;
	step(w, c);
	return true;
}

/* ----------------------------------------------------------- rotation */

static void rotate(struct webhook *w)
{
	struct azds_err e = {{0}};
	unsigned changed = 0;
	SSL_CTX *ctx;
	char *b;

	if (tlsca_maintain(w->ca, time(NULL), &changed, &e)) {
		logf_(w, "warning: certificates: %s (the current ones stay)", e.msg);
		return;
	}
	if ((changed & TLSCA_CERT_CHANGED) && !tlsca_ssl_ctx(w->ca, &ctx, &e)) {
		SSL_CTX_free(w->ctx);
		w->ctx = ctx;
		logf_(w, "serving certificate renewed");
	} else if (changed & TLSCA_CERT_CHANGED) {
		logf_(w, "warning: new serving certificate: %s", e.msg);
	}
	if (!(changed & TLSCA_CA_CHANGED))
		return;
	b = strdup(tlsca_bundle(w->ca));
	if (!b)
		return;
	pthread_mutex_lock(&w->mu);
	free(w->bundle);
	w->bundle = b;
	pthread_mutex_unlock(&w->mu);
	logf_(w, "CA bundle changed: %d certificates", tlsca_bundle_count(w->ca));
	if (w->o.ca_changed)
		w->o.ca_changed(w->o.ca_arg, b);
}

/* --------------------------------------------------------------- loop */

static void *loop(void *arg)
{
	struct webhook *w = arg;
	struct pollfd *pf = calloc(w->o.max_conns + 2, sizeof(*pf));

	if (!pf)
		return NULL;
	for (;;) {
		long long now = now_ms(), next = w->next_rotate;
		unsigned n = w->nconns;
		int timeout, r;

		for (unsigned i = 0; i < n; i++) {
			struct conn *c = &w->conns[i];
			long long at = c->st == C_WAIT ? c->respond_at : c->deadline;

			if (at < next)
				next = at;
			/* a waiting one is not polled: a reset would wake the loop until its time */
			pf[i + 2] = (struct pollfd){.fd = c->st == C_WAIT ? -1 : c->fd, .events = c->events};
		}
		pf[0] = (struct pollfd){.fd = w->wake[0], .events = POLLIN};
		pf[1] = (struct pollfd){.fd = w->lfd, .events = POLLIN};
		timeout = next <= now ? 0 : (next - now > 60000 ? 60000 : (int)(next - now));
		r = poll(pf, n + 2, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && pf[0].revents)
			break;
		now = now_ms();
		/* from the end, since closing moves the last one into the hole */
		for (unsigned i = n; i-- > 0;) {
			struct conn *c = &w->conns[i];

			if (c->st == C_WAIT && now >= c->respond_at) {
				c->st = C_WRITE;
				c->events = POLLOUT;
				c->deadline = now + w->o.read_timeout_ms;
				step(w, c);
			} else if (r > 0 && pf[i + 2].revents) {
				step(w, c);
			}
			if (c->st != C_WAIT && now_ms() >= c->deadline)
				conn_close(w, i);
		}
		if (r > 0 && (pf[1].revents & POLLIN))
			for (int k = 0; k < 16 && accept_one(w); k++)
				;
		if (now >= w->next_rotate) {
			rotate(w);
			w->next_rotate = now_ms() + w->o.rotate_check_ms;
		}
	}
	while (w->nconns)
		conn_close(w, w->nconns - 1);
	free(pf);
	return NULL;
}

/* --------------------------------------------------------------- setup */

static int listen_on(struct webhook *w, struct azds_err *e)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	const char *a = w->o.addr && w->o.addr[0] ? w->o.addr : "0.0.0.0";
	socklen_t sl;
	int one = 1, fd;

	if (w->o.port < 0 || w->o.port > 65535)
		return azds_err(e, EINVAL, "webhook: port %d out of range", w->o.port);
	if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)w->o.port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)w->o.port);
		sl = sizeof(*s6);
	} else {
		return azds_err(e, EINVAL, "webhook: listen address \"%.64s\" is not an IP address", a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return azds_err(e, errno, "webhook: socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
		int err = errno;

		close(fd);
		return azds_err(e, err, "webhook: listen on %s port %d: %s", a, w->o.port, strerror(err));
	}
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	w->port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
	w->lfd = fd;
	return 0;
}

static bool domain_ok(const char *d)
{
	size_t n = strlen(d), seg = 0;

	if (!n || n > 185) /* room for a 63-character namespace and ".svc." in 253 */
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (d[i] == '.' || !d[i]) {
			if (!seg || d[i - 1] == '-' || d[i - seg] == '-')
				return false;
			seg = 0;
		} else if ((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= '0' && d[i] <= '9') || d[i] == '-') {
			if (++seg > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

int webhook_start(struct webhook **out, const struct webhook_opts *o, struct azds_err *e)
{
	struct tlsca_opts to = {0};
	struct webhook *w;
	sigset_t all, old;
	int err;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return azds_err(e, ENOMEM, "out of memory");
	w->o = *o;
	w->lfd = w->wake[0] = w->wake[1] = -1;
	pthread_mutex_init(&w->mu, NULL);
	if (!w->o.max_conns)
		w->o.max_conns = WEBHOOK_MAX_CONNS;
	if (!w->o.max_body)
		w->o.max_body = WEBHOOK_MAX_BODY;
	if (!w->o.max_header)
		w->o.max_header = WEBHOOK_MAX_HEADER;
	if (!w->o.read_timeout_ms)
		w->o.read_timeout_ms = WEBHOOK_READ_TIMEOUT;
	if (!w->o.rotate_check_ms)
		w->o.rotate_check_ms = WEBHOOK_ROTATE_CHECK;
	snprintf(w->domain, sizeof(w->domain), "%s", o->cluster_domain ? o->cluster_domain : WEBHOOK_DOMAIN);
	if (w->o.max_conns > 4096 || w->o.max_body > (64u << 20) || w->o.max_header < 256 ||
	    w->o.max_header > (1u << 20)) {
		err = azds_err(e, EINVAL,
			       "webhook: bounds out of range (connections <= 4096, body <= 64 MiB, "
			       "header 256 B-1 MiB)");
		goto fail;
	}
	if (!domain_ok(w->domain)) {
		err =
		    azds_err(e, EINVAL, "webhook: cluster domain \"%.64s\" is not a DNS name of 185 characters at most",
			     w->domain);
		goto fail;
	}
	w->conns = calloc(w->o.max_conns, sizeof(*w->conns));
	if (!w->conns) {
		err = azds_err(e, ENOMEM, "out of memory");
		goto fail;
	}
	to.dir = o->state_dir;
	to.dns = o->dns;
	to.ips = o->ips;
	to.ca_life_s = o->ca_life_s;
	to.cert_life_s = o->cert_life_s;
	to.warn = warn_cb;
	to.warn_arg = w;
	err = tlsca_open(&w->ca, &to, e);
	if (!err)
		err = tlsca_ssl_ctx(w->ca, &w->ctx, e);
	if (err)
		goto fail;
	w->bundle = strdup(tlsca_bundle(w->ca));
	if (!w->bundle) {
		err = azds_err(e, ENOMEM, "out of memory");
		goto fail;
	}
	err = listen_on(w, e);
	if (err)
		goto fail;
	if (pipe2(w->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		err = azds_err(e, errno, "webhook: pipe: %s", strerror(errno));
		goto fail;
	}
	w->next_rotate = now_ms() + w->o.rotate_check_ms;
	/* the thread takes no signals: a peer gone mid-write is EPIPE there, never SIGPIPE */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&w->thr, NULL, loop, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		azds_err(e, -err, "webhook: thread: %s", strerror(-err));
		goto fail;
	}
	w->started = true;
	*out = w;
	return 0;
fail:
	webhook_stop(w);
	return err;
}

int webhook_port(const struct webhook *w)
{
	return w->port;
}

char *webhook_ca_bundle(struct webhook *w)
{
	char *b;

	pthread_mutex_lock(&w->mu);
	b = w->bundle ? strdup(w->bundle) : NULL;
	pthread_mutex_unlock(&w->mu);
	return b;
}

void webhook_stop(struct webhook *w)
{
	if (!w)
		return;
	if (w->started) {
		ssize_t r = write(w->wake[1], "x", 1);

		(void)r;
		pthread_join(w->thr, NULL);
	}
	if (w->lfd >= 0)
		close(w->lfd);
	if (w->wake[0] >= 0)
		close(w->wake[0]);
	if (w->wake[1] >= 0)
		close(w->wake[1]);
	SSL_CTX_free(w->ctx);
	tlsca_free(w->ca);
	free(w->conns);
	free(w->bundle);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
