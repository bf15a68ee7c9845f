/* SPDX-License-Identifier: MIT */
/*
 * data: the bikeshop's data service, last hop of web -> api -> data.
 *
 * A tiny HTTP/1.1 server on plain sockets, libc only:
 *
 *   GET /bikes    200, JSON: who answered (service, space, pod), the bikes,
 *                 and "received": the azds-route-as, baggage, traceparent
 *                 and tracestate fields exactly as they arrived (repeated
 *                 fields joined with ", " in arrival order; null if absent),
 *                 so a test sees what every hop before it propagated
 *   GET /healthz  200 "ok"
 *   HEAD          the same heads, without bodies
 *
 * anything else gets a JSON error naming the service and space. Keep-alive
 * and pipelining as HTTP/1.1 says; one thread per connection, at most
 * CONNS_MAX of them. It never calls anything downstream, so its answers
 * carry no failed_hop.
 *
 * Settings come from the environment (see the bikeshop README): PORT
 * (default 80; 0 picks a free port), LISTEN_ADDR (default 0.0.0.0),
 * AZDS_SPACE (default "unknown"), AZDS_POD (default the host name). Once
 * listening it prints "data: listening on ADDR:PORT (space S)" to stdout.
 */
#define _GNU_SOURCE /* memmem, accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SERVICE	       "data"
#define DEFAULT_PORT   80
#define HEAD_MAX       16384 /* one request head, request line included: else 431 */
#define FIELDS_MAX     100   /* header fields per request: else 431 */
#define CONNS_MAX      256   /* concurrent connections: the next one gets 503 */
#define IDLE_TIMEOUT_S 30    /* wait for the next request on a kept-alive connection */
#define HEAD_TIMEOUT_S 10    /* a started head must be complete within this: else 408 */
#define NAME_MAX_LEN   253   /* AZDS_SPACE and AZDS_POD */
/* the JSON body: escaping can grow each byte of the echoed fields to six */
#define BODY_MAX (6 * HEAD_MAX + 4096)

/* The fields a request carries down the chain; data echoes what it got. */
static const char *const echoed[] = { "azds-route-as", "baggage", "traceparent", "tracestate" };

struct bike {
	int id;
	const char *name;
	const char *kind;
	int cents_per_hour;
};

static const struct bike bikes[] = {
	{ 1, "Roadrunner", "road", 450 },
	{ 2, "Mudlark", "mountain", 600 },
	{ 3, "Cargo Carl", "cargo", 750 },
	{ 4, "Tandem Twins", "tandem", 900 },
};

static const char *space = "unknown";
static const char *pod;
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static int conns;
static volatile sig_atomic_t stopping;

struct field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

struct request {
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	int minor;	/* HTTP/1.<minor> */
	bool close;	/* the client asked to close (or HTTP/1.0 without keep-alive) */
	size_t nfields;
	struct field fields[FIELDS_MAX];
};

/* A bounded output buffer: an append that does not fit marks it full. */
struct out {
	char *buf;
	size_t len, cap;
	bool full;
};

static void out_mem(struct out *o, const void *p, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void out_str(struct out *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

static void out_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->full = true;
	else
		o->len += (size_t)n;
}

/*
 * The inside of a JSON string. Header bytes are not necessarily UTF-8:
 * bytes outside printable ASCII are written as \u00XX (their Latin-1
 * reading), so the answer is always valid JSON and ASCII values come out
 * byte for byte.
 */
static void out_json_chars(struct out *o, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			out_fmt(o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			out_fmt(o, "\\u%04x", c);
		else
			out_mem(o, &s[i], 1);
	}
}

static void out_json_str(struct out *o, const char *s, size_t n)
{
	out_mem(o, "\"", 1);
	out_json_chars(o, s, n);
	out_mem(o, "\"", 1);
}

static void out_identity(struct out *o)
{
	out_str(o, "{\"service\":\"" SERVICE "\",\"space\":");
	out_json_str(o, space, strlen(space));
	out_str(o, ",\"pod\":");
	out_json_str(o, pod, strlen(pod));
}

static bool token_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Does a comma-separated field value hold the token (case-insensitive)? */
static bool list_has(const char *v, size_t n, const char *tok)
{
	size_t i = 0;

	while (i < n) {
		size_t start, end;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < n && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (token_eq(v + start, end - start, tok))
			return true;
	}
	return false;
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/*
 * Parse a complete head (len bytes, ending in CRLF CRLF) into r.
 * Returns 0, or the HTTP status to refuse it with; *why says why.
 */
static int parse_head(char *head, size_t len, struct request *r, const char **why)
{
	char *p = head, *end = head + len, *eol, *sp1, *sp2;
	bool keep_alive = false;

	memset(r, 0, sizeof(*r));
	eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	for (char *c = p; c < eol; c++) {
		if ((unsigned char)*c < 0x21 && *c != ' ') {
			*why = "control character in the request line";
			return 400;
		}
	}
	sp1 = memchr(p, ' ', (size_t)(eol - p));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1) {
		*why = "malformed request line";
		return 400;
	}
	r->method = p;
	r->method_len = (size_t)(sp1 - p);
	r->target = sp1 + 1;
	r->target_len = (size_t)(sp2 - sp1 - 1);
	if (eol - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1')) {
		*why = "only HTTP/1.0 and HTTP/1.1 are spoken here";
		return 505;
	}
	r->minor = sp2[8] - '0';
	for (p = eol + 2; p < end - 2; p = eol + 2) {
		struct field *f;
		char *colon, *v, *ve;

		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p) {
			*why = "malformed header field";
			return 400;
		}
		for (char *c = p; c < colon; c++) {
			if (!is_tchar((unsigned char)*c)) {
				*why = "bad character in a header name";
				return 400;
			}
		}
		if (r->nfields == FIELDS_MAX) {
			*why = "too many header fields";
			return 431;
		}
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		for (char *c = v; c < ve; c++) {
			unsigned char u = (unsigned char)*c;

			if ((u < 0x20 && u != '\t') || u == 0x7f) {
				*why = "control character in a header value";
				return 400;
			}
		}
		f = &r->fields[r->nfields++];
		f->name = p;
		f->name_len = (size_t)(colon - p);
		f->value = v;
		f->value_len = (size_t)(ve - v);
		if (token_eq(f->name, f->name_len, "connection")) {
			if (list_has(v, f->value_len, "close"))
				r->close = true;
			if (list_has(v, f->value_len, "keep-alive"))
				keep_alive = true;
		} else if (token_eq(f->name, f->name_len, "transfer-encoding") ||
			   (token_eq(f->name, f->name_len, "content-length") && !token_eq(v, f->value_len, "0"))) {
			/* refused and closed: we never read a body, so we could not find the next request */
			*why = "data takes no request body";
			return 413;
		}
	}
	if (r->minor == 0 && !keep_alive)
		r->close = true;
	return 0;
}

static void out_received(struct out *o, const struct request *r)
{
	size_t i, j;

	out_str(o, ",\"received\":{");
	for (i = 0; i < sizeof(echoed) / sizeof(echoed[0]); i++) {
		bool any = false;

		out_fmt(o, "%s\"%s\":", i ? "," : "", echoed[i]);
		/* repeated fields are one list (RFC 9110 5.3): joined in order, nothing dropped */
		for (j = 0; j < r->nfields; j++) {
			const struct field *f = &r->fields[j];

			if (!token_eq(f->name, f->name_len, echoed[i]))
				continue;
			out_str(o, any ? ", " : "\"");
			any = true;
			out_json_chars(o, f->value, f->value_len);
		}
		out_str(o, any ? "\"" : "null");
	}
	out_str(o, "}");
}

static void body_bikes(struct out *o, const struct request *r)
{
	size_t i;

	out_identity(o);
	out_str(o, ",\"bikes\":[");
	for (i = 0; i < sizeof(bikes) / sizeof(bikes[0]); i++) {
		const struct bike *b = &bikes[i];

		out_fmt(o, "%s{\"id\":%d,\"name\":\"%s\",\"kind\":\"%s\",\"price_per_hour\":\"%d.%02d\"}", i ? "," : "",
			b->id, b->name, b->kind, b->cents_per_hour / 100, b->cents_per_hour % 100);
	}
	out_str(o, "]");
	out_received(o, r);
	out_str(o, "}\n");
}

static void body_error(struct out *o, const char *why, const char *target, size_t target_len)
{
	out_identity(o);
	out_str(o, ",\"error\":");
	out_json_str(o, why, strlen(why));
	if (target) {
		out_str(o, ",\"path\":");
		out_json_str(o, target, target_len);
	}
	out_str(o, "}\n");
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	}
	return "Error";
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int respond(int fd, int status, const char *type, const struct out *body, bool head_only, bool close)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nX-Azds-Service: " SERVICE
		     "\r\nX-Azds-Space: %s\r\n%s%s\r\n",
		     status, reason(status), type, body->len, space, status == 405 ? "Allow: GET, HEAD\r\n" : "",
		     close ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EOVERFLOW;
	if (send_all(fd, head, (size_t)n) < 0)
		return -EPIPE;
	if (!head_only && send_all(fd, body->buf, body->len) < 0)
		return -EPIPE;
	return 0;
}

/* Answer one parsed request; returns the status sent, or a negative errno. */
static int answer(int fd, const struct request *r, struct out *body)
{
	bool head_only = token_eq(r->method, r->method_len, "HEAD");
	const char *path = r->target;
	size_t path_len = 0;
	int status = 200;

	while (path_len < r->target_len && path[path_len] != '?')
		path_len++;
	body->len = 0;
	body->full = false;
	if (!head_only && !token_eq(r->method, r->method_len, "GET")) {
		status = 405;
		body_error(body, "only GET and HEAD are answered here", NULL, 0);
	} else if (path_len == 6 && memcmp(path, "/bikes", 6) == 0) {
		body_bikes(body, r);
	} else if (path_len == 8 && memcmp(path, "/healthz", 8) == 0) {
		out_str(body, "ok\n");
		if (respond(fd, 200, "text/plain", body, head_only, r->close) < 0)
			return -EPIPE;
		return 200;
	} else {
		status = 404;
		body_error(body, "no such path (data answers /bikes and /healthz)", path, path_len);
	}
	if (body->full) {
		status = 500;
		body->len = 0;
		body->full = false;
		body_error(body, "answer too large", NULL, 0);
	}
	if (respond(fd, status, "application/json", body, head_only, r->close) < 0)
		return -EPIPE;
	return status;
}

static void refuse(int fd, int status, const char *why, struct out *body)
{
	body->len = 0;
	body->full = false;
	body_error(body, why, NULL, 0);
	respond(fd, status, "application/json", body, false, true);
	printf("data: refused %d: %s\n", status, why);
}

static void set_timeout(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds > 0 ? seconds : 1 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void log_request(const struct request *r, int status)
{
	const char *route_as = "-";
	int route_len = 1;
	size_t i;

	for (i = 0; i < r->nfields; i++) {
		if (token_eq(r->fields[i].name, r->fields[i].name_len, "azds-route-as")) {
			route_as = r->fields[i].value;
			route_len = (int)(r->fields[i].value_len > 64 ? 64 : r->fields[i].value_len);
			break;
		}
	}
	printf("data: %.*s %.*s %d route-as=%.*s\n", (int)r->method_len, r->method,
	       (int)(r->target_len > 200 ? 200 : r->target_len), r->target, status, route_len, route_as);
}

/*
 * Serve one connection: read heads into buf (pipelined bytes after a head
 * are kept for the next round), answer each, until the client closes, asks
 * to close, idles past IDLE_TIMEOUT_S or sends something we refuse.
 */
static void serve(int fd, char *buf, struct request *r, struct out *body)
{
	size_t have = 0;

	for (;;) {
		char *eoh = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
		time_t started = 0;
		const char *why = NULL;
		size_t used;
		int status;

		while (!eoh) {
			ssize_t n;

			if (have == HEAD_MAX) {
				refuse(fd, 431, "request head too large", body);
				return;
			}
			if (have && !started)
				started = time(NULL);
			set_timeout(fd, have ? HEAD_TIMEOUT_S - (int)(time(NULL) - started) : IDLE_TIMEOUT_S);
			n = recv(fd, buf + have, HEAD_MAX - have, 0);
			if (n < 0 && errno == EINTR && !stopping)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && have) {
				refuse(fd, 408, "request head not complete in time", body);
				return;
			}
			if (n <= 0)
				return; /* closed, idle timeout, or an error: nothing to answer */
			/* look for the end again from just before the new bytes (it may straddle reads) */
			{
				size_t from = have > 3 ? have - 3 : 0;

				have += (size_t)n;
				eoh = memmem(buf + from, have - from, "\r\n\r\n", 4);
			}
		}
		used = (size_t)(eoh + 4 - buf);
		status = parse_head(buf, used, r, &why);
		if (status) {
			refuse(fd, status, why, body);
			return;
		}
		status = answer(fd, r, body);
		if (status < 0)
			return;
		log_request(r, status);
		if (r->close)
			return;
		memmove(buf, buf + used, have - used);
		have -= used;
	}
}

static void *conn_main(void *arg)
{
	int fd = (int)(long)arg;
	char *buf = malloc(HEAD_MAX);
	struct request *r = malloc(sizeof(*r));
	struct out body = { malloc(BODY_MAX), 0, BODY_MAX, false };

	if (buf && r && body.buf)
		serve(fd, buf, r, &body);
	/* closing with unread bytes would reset the connection and could lose our answer */
	shutdown(fd, SHUT_WR);
	if (buf) {
		int budget = 16; /* a peer that keeps sending cannot keep this thread */

		set_timeout(fd, 1);
		while (budget-- && recv(fd, buf, HEAD_MAX, 0) > 0)
			;
	}
	close(fd);
	free(buf);
	free(r);
	free(body.buf);
	pthread_mutex_lock(&conns_lock);
	conns--;
	pthread_mutex_unlock(&conns_lock);
	return NULL;
}

/* answered without a thread when CONNS_MAX are open */
#define BUSY_BODY "data: too many connections\n"
static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: "
			   "27\r\nX-Azds-Service: " SERVICE "\r\nConnection: close\r\n\r\n" BUSY_BODY;
_Static_assert(sizeof(BUSY_BODY) - 1 == 27, "BUSY_BODY's length is in busy[]'s Content-Length");

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* An env value that goes into JSON and a header: printable ASCII, bounded. */
static const char *env_name(const char *var, const char *dflt)
{
	const char *v = getenv(var);

	if (!v || !*v)
		return dflt;
	if (strlen(v) > NAME_MAX_LEN) {
		fprintf(stderr, "data: %s is %zu bytes long; at most %d are allowed\n", var, strlen(v), NAME_MAX_LEN);
		exit(2);
	}
	for (const char *c = v; *c; c++) {
		if (*c < 0x20 || *c > 0x7e) {
			fprintf(stderr, "data: %s holds a byte outside printable ASCII (0x%02x)\n", var,
				(unsigned char)*c);
			exit(2);
		}
	}
	return v;
}

static int env_port(const char *var, int dflt)
{
	const char *v = getenv(var);
	char *end;
	long p;

	if (!v || !*v)
		return dflt;
	errno = 0;
	p = strtol(v, &end, 10);
	if (errno || *end || p < 0 || p > 65535 || v[0] == '-' || v[0] == '+') {
		fprintf(stderr, "data: %s=%s is not a port number (0-65535)\n", var, v);
		exit(2);
	}
	return (int)p;
}

static int listen_on(const char *addr, int port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	char shown[INET6_ADDRSTRLEN];
	socklen_t len;
	int fd, one = 1;

	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((unsigned short)port);
		len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)port);
		len = sizeof(*in6);
	} else {
		fprintf(stderr, "data: LISTEN_ADDR=%s is not an IPv4 or IPv6 address\n", addr);
		exit(2);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		fprintf(stderr, "data: cannot listen on %s port %d: %s\n", addr, port, strerror(errno));
		exit(1);
	}
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &in4->sin_addr, shown, sizeof(shown));
		printf("data: listening on %s:%d (space %s)\n", shown, ntohs(in4->sin_port), space);
	} else {
		inet_ntop(AF_INET6, &in6->sin6_addr, shown, sizeof(shown));
		printf("data: listening on [%s]:%d (space %s)\n", shown, ntohs(in6->sin6_port), space);
	}
	return fd;
}

int main(void)
{
	static char host[NAME_MAX_LEN + 1];
	struct sigaction sa = { .sa_handler = on_signal };
	const char *addr;
	pthread_attr_t attr;
	int lfd, port;

	setvbuf(stdout, NULL, _IOLBF, 0);
	space = env_name("AZDS_SPACE", "unknown");
	if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
		strcpy(host, "unknown");
	pod = env_name("AZDS_POD", host);
	port = env_port("PORT", DEFAULT_PORT);
	addr = getenv("LISTEN_ADDR") && *getenv("LISTEN_ADDR") ? getenv("LISTEN_ADDR") : "0.0.0.0";
	/* no SA_RESTART: accept() returns EINTR and the loop sees the stop */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(addr, port);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	while (!stopping) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;
		bool full;

		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				fprintf(stderr, "data: accept: %s\n", strerror(errno));
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
				sleep(1); /* out of descriptors: let connections finish */
			continue;
		}
		pthread_mutex_lock(&conns_lock);
		full = conns >= CONNS_MAX;
		if (!full)
			conns++;
		pthread_mutex_unlock(&conns_lock);
		if (full) {
			send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		if (pthread_create(&t, &attr, conn_main, (void *)(long)fd) != 0) {
			close(fd);
			pthread_mutex_lock(&conns_lock);
			conns--;
			pthread_mutex_unlock(&conns_lock);
		}
	}
	printf("data: stopping\n");
	return 0;
}
