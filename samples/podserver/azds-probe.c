/* SPDX-License-Identifier: MIT */
/*
 * azds-probe: the test client that drives podserver (directly or through
 * azds routing).
 *
 *   azds-probe get ADDR:PORT PATH [-H 'Name: value']... [-X METHOD]
 *                  [-d DATA|@FILE] [-i] [--keepalive N] [--timeout SEC]
 *   azds-probe http http://ADDR[:PORT]/PATH [same options as get]
 *   azds-probe raw ADDR:PORT [--no-shutdown] [--timeout SEC]
 *   azds-probe ws ADDR:PORT PATH MSG... [-H 'Name: value']... [--timeout SEC]
 *   azds-probe tcp ADDR:PORT --bytes N [--seed S] [--timeout SEC]
 *
 * ADDR is an IP literal ([v6] in brackets) or a host name (getaddrinfo).
 * Results go to stdout; diagnostics ("error: ...") go to stderr.
 *
 * Exit status: 0 success (for get/http: any HTTP response), 1 a check
 * failed (tcp echo mismatch, websocket handshake refused), 2 could not
 * connect (resolve or connect error), 3 I/O or protocol error or timeout
 * after connecting, 64 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#define EXIT_CHECK 1
#define EXIT_CONNECT 2
#define EXIT_IO 3
#define EXIT_USAGE 64

#define RD_BUF (64 * 1024)
#define WS_MAX_MESSAGE (16u << 20)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int timeout_ms = 5000;

__attribute__((noreturn, format(printf, 2, 3))) static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die(EXIT_IO, "out of memory");
	return p;
}

static void out_write(const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, stdout) != n)
		die(EXIT_IO, "write stdout: %s", strerror(errno));
}

/* ------------------------------------------------------------------ */
/* Connecting. */

/* Split "host:port" / "[v6]:port" into malloc'd host and port. */
static void split_hostport(const char *spec, char **host, char **port)
{
	const char *colon = strrchr(spec, ':');
	size_t hl;

	if (!colon || !colon[1] || colon == spec)
		die(EXIT_USAGE, "expected ADDR:PORT, got '%s'", spec);
	hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	*host = strndup(spec, hl);
	*port = strdup(colon + 1);
	if (!*host || !*port)
		die(EXIT_IO, "out of memory");
}

static bool wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int rc;

	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		die(EXIT_IO, "poll: %s", strerror(errno));
	return rc > 0;
}

/* Connect with the timeout; the socket stays non-blocking. */
static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
	int rc, fd = -1, err = ECONNREFUSED, one = 1;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		die(EXIT_CONNECT, "resolve: %s: %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		socklen_t sl = sizeof(err);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			if (!wait_fd(fd, POLLOUT))
				err = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
				err = errno;
			if (err == 0)
				break;
		} else {
			err = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		die(EXIT_CONNECT, "connect: %s", strerror(err));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void send_all(int fd, const void *data, size_t n)
{
	const char *p = data;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!wait_fd(fd, POLLOUT))
				die(EXIT_IO, "send: timed out");
		} else {
			die(EXIT_IO, "send: %s", strerror(errno));
		}
	}
}

/* ------------------------------------------------------------------ */
/* Buffered reading with the timeout. */

struct reader {
	int fd;
	size_t off, len;
	char buf[RD_BUF];
};

/* Read more; returns bytes read, 0 at EOF. Dies on error or timeout. */
static size_t rd_fill(struct reader *r)
{
	ssize_t n;

	if (r->off == r->len) {
		r->off = r->len = 0;
	} else if (r->off > 0 && r->len == sizeof(r->buf)) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->len == sizeof(r->buf))
		die(EXIT_IO, "line too long");
	for (;;) {
		n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			die(EXIT_IO, "read: %s", strerror(errno));
		if (!wait_fd(r->fd, POLLIN))
			die(EXIT_IO, "read: timed out after %d ms", timeout_ms);
	}
	r->len += (size_t)n;
	return (size_t)n;
}

/* Next line without its CRLF/LF, NUL-terminated in place; NULL at EOF. */
static char *rd_line(struct reader *r, size_t *len_out)
{
	for (;;) {
		char *s = r->buf + r->off;
		char *nl = memchr(s, '\n', r->len - r->off);

		if (nl) {
			size_t len = (size_t)(nl - s);

			if (len && s[len - 1] == '\r')
				len--;
			s[len] = '\0';
			r->off = (size_t)(nl - r->buf) + 1;
			if (len_out)
				*len_out = len;
			return s;
		}
		if (rd_fill(r) == 0)
			return NULL;
	}
}

/* Copy exactly n bytes to sink (or drop them when sink is NULL). */
static void rd_copy(struct reader *r, uint64_t n, void (*sink)(const void *, size_t))
{
	while (n) {
		size_t have = r->len - r->off, take;

		if (!have) {
			if (rd_fill(r) == 0)
				die(EXIT_IO, "connection closed in the middle of a body");
			continue;
		}
		take = (size_t)(have < n ? have : n);
		if (sink)
			sink(r->buf + r->off, take);
		r->off += take;
		n -= take;
	}
}

/* ------------------------------------------------------------------ */
/* HTTP. */

struct header_list {
	const char **v;
	size_t n;
};

static bool has_header(const struct header_list *h, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < h->n; i++)
		if (strncasecmp(h->v[i], name, nl) == 0 && h->v[i][nl] == ':')
			return true;
	return false;
}

static bool token_in_list(const char *v, const char *tok)
{
	size_t tl = strlen(tok);

	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (strncasecmp(v, tok, tl) == 0) {
			const char *e = v + tl;

			while (*e == ' ' || *e == '\t')
				e++;
			if (*e == ',' || *e == '\0')
				return true;
		}
		v += strcspn(v, ",");
	}
	return false;
}

static void sink_stdout(const void *p, size_t n)
{
	out_write(p, n);
}

struct response {
	int status;
	bool server_closes; /* Connection: close or close-delimited body */
	bool eof;           /* nothing at all came back */
	char accept[64];    /* Sec-WebSocket-Accept */
};

/* Header value if line is "name: value", else NULL. */
static const char *header_value(const char *line, const char *name)
{
	size_t nl = strlen(name);

	if (strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	line += nl + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

/*
 * Read one response (after any interim 1xx ones) and print its status
 * line, headers when include is set, and body. A 101 ends at its head.
 */
static void read_response(struct reader *r, bool head_request, bool include, bool print_body,
			  struct response *resp)
{
	memset(resp, 0, sizeof(*resp));
	for (;;) {
		size_t len;
		char *line = rd_line(r, &len);
		bool chunked = false, have_cl = false;
		uint64_t cl = 0;

		if (!line) {
			resp->eof = true;
			return;
		}
		if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
			die(EXIT_IO, "bad status line: %.80s", line);
		resp->status = atoi(line + 9);
		out_write(line, len);
		out_write("\n", 1);

		while ((line = rd_line(r, &len)) && len > 0) {
			const char *v;

			if (include) {
				out_write(line, len);
				out_write("\n", 1);
			}
			if ((v = header_value(line, "content-length"))) {
				char *end;

				cl = strtoull(v, &end, 10);
				if (end == v)
					die(EXIT_IO, "bad Content-Length: %s", v);
				have_cl = true;
			} else if ((v = header_value(line, "transfer-encoding"))) {
				chunked = token_in_list(v, "chunked");
			} else if ((v = header_value(line, "connection"))) {
				if (token_in_list(v, "close"))
					resp->server_closes = true;
			} else if ((v = header_value(line, "sec-websocket-accept"))) {
				snprintf(resp->accept, sizeof(resp->accept), "%s", v);
			}
		}
		if (!line)
			die(EXIT_IO, "connection closed in the middle of a response head");
		if (include)
			out_write("\n", 1);

		if (resp->status >= 100 && resp->status < 200 && resp->status != 101)
			continue; /* interim response; the real one follows */
		if (resp->status == 101 || head_request || resp->status == 204 ||
		    resp->status == 304)
			return;

		if (chunked) {
			for (;;) {
				char *end;
				uint64_t size;

				line = rd_line(r, &len);
				if (!line)
					die(EXIT_IO, "connection closed in the middle of a chunked body");
				size = strtoull(line, &end, 16);
				if (end == line)
					die(EXIT_IO, "bad chunk size line: %.80s", line);
				if (size == 0)
					break;
				rd_copy(r, size, print_body ? sink_stdout : NULL);
				line = rd_line(r, &len);
				if (!line || len != 0)
					die(EXIT_IO, "bad chunk end");
			}
			/* trailers */
			while ((line = rd_line(r, &len)) && len > 0)
				;
			if (!line)
				die(EXIT_IO, "connection closed in the trailers");
		} else if (have_cl) {
			rd_copy(r, cl, print_body ? sink_stdout : NULL);
		} else {
			/* delimited by the server closing */
			resp->server_closes = true;
			do {
				if (print_body)
					out_write(r->buf + r->off, r->len - r->off);
				r->off = r->len;
			} while (rd_fill(r) > 0);
		}
		return;
	}
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 1 << 16, n = 0, got;
	char *data;

	if (!f)
		die(EXIT_USAGE, "%s: %s", path, strerror(errno));
	data = xmalloc(cap);
	while ((got = fread(data + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			data = realloc(data, cap);
			if (!data)
				die(EXIT_IO, "out of memory");
		}
	}
	if (ferror(f))
		die(EXIT_USAGE, "%s: read error", path);
	if (f != stdin)
		fclose(f);
	*len = n;
	return data;
}

struct http_opts {
	const char *method;
	const char *data; /* NULL: no body */
	size_t data_len;
	struct header_list hdrs;
	bool include;
	long keepalive;
	const char **then; /* "[METHOD ]PATH" requests after the first ones */
	size_t nthen;
	const char *then_body; /* body of the --then requests (none by default) */
	const char *wait_file; /* before each --then request: wait for it, remove it */
	bool pipeline;     /* every request in one write, then the responses */
};

/* Wait (up to 10 minutes) until path exists, then remove it: a step the
 * test takes between two requests on one connection. */
static void wait_for_file(const char *path)
{
	fprintf(stderr, "waiting for %s\n", path);
	for (int i = 0; i < 60000; i++) {
		if (access(path, F_OK) == 0) {
			unlink(path);
			return;
		}
		usleep(10000);
	}
	die(EXIT_IO, "gave up waiting for %s", path);
}

/* One request's bytes; malloc'd, length in *len. */
static char *build_request(const char *hostport, const char *method, const char *path,
			   const struct http_opts *o, const char *data, size_t data_len, size_t *len)
{
	char *req;
	FILE *m = open_memstream(&req, len);

	if (!m)
		die(EXIT_IO, "open_memstream: %s", strerror(errno));
	if (path[0] != '/' && path[0] != '*' && strncmp(path, "http://", 7) != 0)
		die(EXIT_USAGE, "PATH must start with '/': %s", path);
	fprintf(m, "%s %s HTTP/1.1\r\n", method, path);
	if (!has_header(&o->hdrs, "host"))
		fprintf(m, "Host: %s\r\n", hostport);
	if (!has_header(&o->hdrs, "user-agent"))
		fprintf(m, "User-Agent: azds-probe\r\n");
	for (size_t i = 0; i < o->hdrs.n; i++)
		fprintf(m, "%s\r\n", o->hdrs.v[i]);
	if (data && !has_header(&o->hdrs, "content-length") &&
	    !has_header(&o->hdrs, "transfer-encoding"))
		fprintf(m, "Content-Length: %zu\r\n", data_len);
	fputs("\r\n", m);
	if (data)
		fwrite(data, 1, data_len, m);
	fclose(m);
	return req;
}

struct planned {
	char *bytes;
	size_t len;
	bool head;
};

static int cmd_get(const char *hostport, const char *path, struct http_opts *o)
{
	const char *method = o->method ? o->method : (o->data ? "POST" : "GET");
	size_t n = (size_t)o->keepalive + o->nthen, i;
	struct planned *p = xmalloc(n * sizeof(*p));
	struct reader *r = xmalloc(sizeof(*r));
	char *host, *port;

	split_hostport(hostport, &host, &port);
	for (i = 0; i < n; i++) {
		const char *m = method, *t = path, *data = o->data;
		char mbuf[32];

		if (i >= (size_t)o->keepalive) {
			/* --then "[METHOD ]PATH", with the --then-body if any */
			const char *spec = o->then[i - (size_t)o->keepalive], *sp = strchr(spec, ' ');

			data = o->then_body;
			m = "GET";
			t = spec;
			if (sp) {
				if ((size_t)(sp - spec) >= sizeof(mbuf))
					die(EXIT_USAGE, "bad --then: %s", spec);
				memcpy(mbuf, spec, (size_t)(sp - spec));
				mbuf[sp - spec] = '\0';
				m = mbuf;
				t = sp + 1;
			}
		}
		p[i].head = strcasecmp(m, "HEAD") == 0;
		p[i].bytes = build_request(hostport, m, t, o, data,
					   !data ? 0 : data == o->data ? o->data_len : strlen(data), &p[i].len);
	}

	r->fd = dial(host, port);
	r->off = r->len = 0;
	if (o->pipeline)
		for (i = 0; i < n; i++)
			send_all(r->fd, p[i].bytes, p[i].len);
	for (i = 0; i < n; i++) {
		struct response resp;

		if (!o->pipeline) {
			if (i >= (size_t)o->keepalive && o->wait_file)
				wait_for_file(o->wait_file);
			send_all(r->fd, p[i].bytes, p[i].len);
		}
		read_response(r, p[i].head, o->include, true, &resp);
		if (resp.eof)
			die(EXIT_IO, "connection closed after %zu of %zu responses", i, n);
		fflush(stdout);
		if (resp.server_closes && i + 1 < n)
			die(EXIT_IO, "server closed the connection after %zu of %zu responses", i + 1, n);
	}
	close(r->fd);
	for (i = 0; i < n; i++)
		free(p[i].bytes);
	free(p);
	free(r);
	free(host);
	free(port);
	return 0;
}

/* http://host[:port]/path -> get */
static int cmd_http(const char *url, struct http_opts *o)
{
	const char *a, *slash;
	char *hostport, *path;
	int rc;

	if (strncasecmp(url, "http://", 7) != 0)
		die(EXIT_USAGE, "only http:// URLs are supported: %s", url);
	a = url + 7;
	slash = a + strcspn(a, "/?");
	if (slash == a)
		die(EXIT_USAGE, "URL without a host: %s", url);
	/* default port 80 when the authority has none (mind [v6]) */
	{
		const char *rb = memchr(a, ']', (size_t)(slash - a));
		const char *colon = memchr(rb ? rb : a, ':', (size_t)(slash - (rb ? rb : a)));

		if (asprintf(&hostport, "%.*s%s", (int)(slash - a), a, colon ? "" : ":80") < 0)
			die(EXIT_IO, "out of memory");
	}
	if (asprintf(&path, "%s%s", *slash == '/' ? "" : "/", slash) < 0)
		die(EXIT_IO, "out of memory");
	rc = cmd_get(hostport, path, o);
	free(hostport);
	free(path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* raw: stdin bytes verbatim on one connection, print everything back. */

static int cmd_raw(const char *hostport, bool half_close)
{
	char *host, *port, *data, buf[RD_BUF];
	size_t len, sent = 0;
	bool shut = false;
	int fd;

	split_hostport(hostport, &host, &port);
	data = read_file("-", &len);
	fd = dial(host, port);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc;

		if (sent < len)
			pfd.events |= POLLOUT;
		else if (half_close && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		rc = poll(&pfd, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			die(EXIT_IO, "poll: %s", strerror(errno));
		if (rc == 0)
			die(EXIT_IO, "timed out after %d ms waiting for the server to close", timeout_ms);
		if (pfd.revents & POLLOUT) {
			ssize_t w = send(fd, data + sent, len - sent, MSG_NOSIGNAL);

			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				/* The server may refuse and close early: keep reading. */
				sent = len;
				if (errno != EPIPE && errno != ECONNRESET)
					die(EXIT_IO, "send: %s", strerror(errno));
			}
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);

			if (n > 0) {
				out_write(buf, (size_t)n);
				fflush(stdout);
			} else if (n == 0) {
				break;
			} else if (errno != EAGAIN && errno != EINTR) {
				die(EXIT_IO, "read: %s", strerror(errno));
			}
		}
	}
	close(fd);
	free(data);
	free(host);
	free(port);
	return 0;
}

/* ------------------------------------------------------------------ */
/* WebSocket client. */

static void base64_encode(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

static void random_bytes(void *p, size_t n)
{
	if (getrandom(p, n, 0) != (ssize_t)n)
		die(EXIT_IO, "getrandom: %s", strerror(errno));
}

static void ws_send(int fd, int opcode, const void *payload, size_t n)
{
	unsigned char h[14], mask[4];
	unsigned char *frame;
	size_t hl = 2;

	h[0] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		h[1] = (unsigned char)(0x80 | n);
	} else if (n <= 0xffff) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	random_bytes(mask, 4);
	memcpy(h + hl, mask, 4);
	hl += 4;
	frame = xmalloc(hl + n);
	memcpy(frame, h, hl);
	for (size_t i = 0; i < n; i++)
		frame[hl + i] = ((const unsigned char *)payload)[i] ^ mask[i & 3];
	send_all(fd, frame, hl + n);
	free(frame);
}

struct ws_msg {
	int opcode; /* of the first frame */
	unsigned char *data;
	size_t len;
};

/* Read one frame into *payload (malloc'd). Returns opcode; sets *fin. */
static int ws_read_frame(struct reader *r, bool *fin, unsigned char **payload, size_t *len)
{
	unsigned char h[8], mask[4] = { 0 };
	uint64_t n;
	bool masked;
	int op;

	while (r->len - r->off < 2)
		if (rd_fill(r) == 0)
			die(EXIT_IO, "websocket: connection closed without a close frame");
	memcpy(h, r->buf + r->off, 2);
	r->off += 2;
	*fin = h[0] & 0x80;
	op = h[0] & 0x0f;
	masked = h[1] & 0x80;
	n = h[1] & 0x7f;
	if (n >= 126) {
		size_t el = n == 126 ? 2 : 8;

		while (r->len - r->off < el)
			if (rd_fill(r) == 0)
				die(EXIT_IO, "websocket: truncated frame");
		n = 0;
		for (size_t i = 0; i < el; i++)
			n = n << 8 | (unsigned char)r->buf[r->off + i];
		r->off += el;
	}
	if (n > WS_MAX_MESSAGE)
		die(EXIT_IO, "websocket: frame of %" PRIu64 " bytes is too big", n);
	if (masked) {
		while (r->len - r->off < 4)
			if (rd_fill(r) == 0)
				die(EXIT_IO, "websocket: truncated frame");
		memcpy(mask, r->buf + r->off, 4);
		r->off += 4;
	}
	*payload = xmalloc((size_t)n + 1);
	*len = (size_t)n;
	for (size_t got = 0; got < n;) {
		size_t have = r->len - r->off, take;

		if (!have) {
			if (rd_fill(r) == 0)
				die(EXIT_IO, "websocket: truncated frame");
			continue;
		}
		take = have < n - got ? have : (size_t)(n - got);
		memcpy(*payload + got, r->buf + r->off, take);
		r->off += take;
		got += take;
	}
	for (size_t i = 0; i < n; i++)
		(*payload)[i] ^= mask[i & 3];
	(*payload)[n] = '\0';
	return op;
}

/* Next complete data message; answers pings. Returns false on close. */
static bool ws_read_message(struct reader *r, struct ws_msg *m, unsigned *close_code)
{
	memset(m, 0, sizeof(*m));
	m->opcode = -1;
	for (;;) {
		unsigned char *p;
		size_t n;
		bool fin;
		int op = ws_read_frame(r, &fin, &p, &n);

		if (op == 0x8) {
			*close_code = n >= 2 ? (unsigned)(p[0] << 8 | p[1]) : 1005;
			free(p);
			free(m->data);
			return false;
		}
		if (op == 0x9) {
			ws_send(r->fd, 0xa, p, n);
			free(p);
			continue;
		}
		if (op == 0xa) {
			free(p);
			continue;
		}
		if (m->opcode < 0)
			m->opcode = op;
		if (m->len + n > WS_MAX_MESSAGE)
			die(EXIT_IO, "websocket: message too big");
		m->data = realloc(m->data, m->len + n + 1);
		if (!m->data)
			die(EXIT_IO, "out of memory");
		memcpy(m->data + m->len, p, n);
		m->len += n;
		free(p);
		if (fin)
			return true;
	}
}

/* Handshake and the server's first message (printed); dies on failure. */
static struct reader *ws_open(const char *hostport, const char *path,
			      const struct header_list *hdrs)
{
	unsigned char key_raw[16], digest[SHA_DIGEST_LENGTH];
	char key[32], want[32], *host, *port, *req, *kg;
	struct reader *r = xmalloc(sizeof(*r));
	struct response resp;
	struct ws_msg m;
	size_t req_len;
	unsigned code;
	FILE *f;

	split_hostport(hostport, &host, &port);
	random_bytes(key_raw, sizeof(key_raw));
	base64_encode(key_raw, sizeof(key_raw), key);
	if (asprintf(&kg, "%s%s", key, WS_GUID) < 0)
		die(EXIT_IO, "out of memory");
	SHA1((unsigned char *)kg, strlen(kg), digest);
	base64_encode(digest, sizeof(digest), want);
	free(kg);

	f = open_memstream(&req, &req_len);
	if (!f)
		die(EXIT_IO, "open_memstream: %s", strerror(errno));
	fprintf(f, "GET %s HTTP/1.1\r\n", path);
	if (!has_header(hdrs, "host"))
		fprintf(f, "Host: %s\r\n", hostport);
	fprintf(f, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		   "Sec-WebSocket-Version: 13\r\n", key);
	for (size_t i = 0; i < hdrs->n; i++)
		fprintf(f, "%s\r\n", hdrs->v[i]);
	fputs("\r\n", f);
	fclose(f);

	r->fd = dial(host, port);
	r->off = r->len = 0;
	send_all(r->fd, req, req_len);
	free(req);

	/* Print the handshake status only when it is refused. */
	{
		size_t len;
		char *line = rd_line(r, &len);

		if (!line)
			die(EXIT_IO, "connection closed before the handshake response");
		if (strncmp(line, "HTTP/1.1 101", 12) != 0) {
			/* Put the line back (rd_line cut it at its CR or LF) and
			 * let the HTTP reader print the whole response. */
			size_t start = (size_t)(line - r->buf);

			line[len] = r->off - start == len + 2 ? '\r' : '\n';
			r->off = start;
			read_response(r, false, false, true, &resp);
			fflush(stdout);
			die(EXIT_CHECK, "websocket handshake refused (status %d)", resp.status);
		}
		while ((line = rd_line(r, &len)) && len > 0) {
			const char *v = header_value(line, "sec-websocket-accept");

			if (v)
				snprintf(resp.accept, sizeof(resp.accept), "%s", v);
		}
		if (!line)
			die(EXIT_IO, "connection closed in the handshake response");
	}
	if (strcmp(resp.accept, want) != 0)
		die(EXIT_CHECK, "bad Sec-WebSocket-Accept '%s' (want '%s')", resp.accept, want);

	/* The server speaks first. */
	if (!ws_read_message(r, &m, &code))
		die(EXIT_IO, "websocket closed by the server (code %u)", code);
	out_write(m.data, m.len);
	out_write("\n", 1);
	fflush(stdout);
	free(m.data);
	free(host);
	free(port);
	return r;
}

static int cmd_ws(const char *hostport, const char *path, char **msgs, int nmsgs,
		  const struct header_list *hdrs)
{
	struct reader *r = ws_open(hostport, path, hdrs);
	struct ws_msg m;
	unsigned code;

	for (int i = 0; i < nmsgs; i++) {
		ws_send(r->fd, 0x1, msgs[i], strlen(msgs[i]));
		if (!ws_read_message(r, &m, &code))
			die(EXIT_IO, "websocket closed by the server (code %u)", code);
		out_write(m.data, m.len);
		out_write("\n", 1);
		fflush(stdout);
		free(m.data);
	}

	/* Close handshake: send 1000 and wait for the server's close frame. */
	ws_send(r->fd, 0x8, "\x03\xe8", 2);
	while (ws_read_message(r, &m, &code))
		free(m.data);
	close(r->fd);
	free(r);
	return 0;
}

/* ------------------------------------------------------------------ */
/* tcp: banner, then N pseudo-random bytes echoed back and verified. */

struct prng {
	uint64_t s;
	uint64_t word;
	unsigned left;
};

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void prng_fill(struct prng *g, unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!g->left) {
			g->word = splitmix64(&g->s);
			g->left = 8;
		}
		p[i] = (unsigned char)g->word;
		g->word >>= 8;
		g->left--;
	}
}

static int cmd_tcp(const char *hostport, uint64_t total, uint64_t seed)
{
	struct prng tx = { .s = seed }, rx = { .s = seed };
	unsigned char *sbuf = xmalloc(RD_BUF), *expect = xmalloc(RD_BUF);
	size_t spos = 0, slen = 0, len;
	uint64_t sent = 0, recvd = 0;
	struct reader *r = xmalloc(sizeof(*r));
	char *host, *port, *line;
	bool shut = false;

	split_hostport(hostport, &host, &port);
	r->fd = dial(host, port);
	r->off = r->len = 0;
	line = rd_line(r, &len);
	if (!line)
		die(EXIT_IO, "connection closed before the banner");
	out_write(line, len);
	out_write("\n", 1);
	fflush(stdout);

	for (;;) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		size_t have = r->len - r->off;
		int rc;

		/* Verify whatever echo is buffered. */
		while (have) {
			size_t take = have < RD_BUF ? have : RD_BUF;

			if (recvd + take > total)
				die(EXIT_CHECK, "server echoed more than the %" PRIu64 " bytes sent",
				    total);
			prng_fill(&rx, expect, take);
			for (size_t i = 0; i < take; i++) {
				if ((unsigned char)r->buf[r->off + i] != expect[i]) {
					printf("mismatch at offset %" PRIu64 "\n", recvd + i);
					return EXIT_CHECK;
				}
			}
			r->off += take;
			recvd += take;
			have -= take;
		}
		r->off = r->len = 0;

		if (sent < total) {
			pfd.events |= POLLOUT;
		} else if (!shut) {
			shutdown(r->fd, SHUT_WR);
			shut = true;
		}
		rc = poll(&pfd, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			die(EXIT_IO, "poll: %s", strerror(errno));
		if (rc == 0)
			die(EXIT_IO, "timed out after %d ms (sent %" PRIu64 ", echoed %" PRIu64 ")",
			    timeout_ms, sent, recvd);
		if (pfd.revents & POLLOUT) {
			ssize_t w;

			if (spos == slen) {
				slen = total - sent < RD_BUF ? (size_t)(total - sent) : RD_BUF;
				prng_fill(&tx, sbuf, slen);
				spos = 0;
			}
			w = send(r->fd, sbuf + spos, slen - spos, MSG_NOSIGNAL);
			if (w > 0) {
				spos += (size_t)w;
				sent += (uint64_t)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				die(EXIT_IO, "send: %s (sent %" PRIu64 ")", strerror(errno), sent);
			}
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(r->fd, r->buf, sizeof(r->buf), 0);

			if (n > 0) {
				r->len = (size_t)n;
			} else if (n == 0) {
				break;
			} else if (errno != EAGAIN && errno != EINTR) {
				die(EXIT_IO, "read: %s (echoed %" PRIu64 ")", strerror(errno), recvd);
			}
		}
	}
	if (recvd != total)
		die(EXIT_IO, "short echo: got %" PRIu64 " of %" PRIu64 " bytes", recvd, total);
	printf("ok bytes=%" PRIu64 "\n", total);
	close(r->fd);
	free(r);
	free(sbuf);
	free(expect);
	free(host);
	free(port);
	return 0;
}

/* ------------------------------------------------------------------ */
/*
 * hold: open one connection per SPEC and keep them all open until the
 * --wait-file appears (or stdin ends). tunnel: a non-HTTP first record
 * (the start of a TLS ClientHello, no line end), so a router tunnels it;
 * ws[:PATH]: a websocket, its greeting read; http[:PATH]: one keep-alive
 * request answered, then idle. Prints "open <i> <spec>" as each is up,
 * then "held <n>".
 */
static int cmd_hold(const char *hostport, char **specs, int nspecs, const struct http_opts *o)
{
	static const char hello[] = "\x16\x03\x01\x00\x05hold";
	struct reader **rs = xmalloc(sizeof(*rs) * (size_t)(nspecs ? nspecs : 1));
	char *host, *port;

	split_hostport(hostport, &host, &port);
	for (int i = 0; i < nspecs; i++) {
		const char *spec = specs[i], *colon = strchr(spec, ':');
		const char *path = colon ? colon + 1 : NULL;
		size_t kl = colon ? (size_t)(colon - spec) : strlen(spec);

		if (kl == 6 && !strncmp(spec, "tunnel", 6)) {
			rs[i] = xmalloc(sizeof(**rs));
			rs[i]->fd = dial(host, port);
			rs[i]->off = rs[i]->len = 0;
			send_all(rs[i]->fd, hello, sizeof(hello) - 1);
		} else if (kl == 2 && !strncmp(spec, "ws", 2)) {
			rs[i] = ws_open(hostport, path ? path : "/ws", &o->hdrs);
		} else if (kl == 4 && !strncmp(spec, "http", 4)) {
			struct response resp;
			size_t len;
			char *req = build_request(hostport, "GET", path ? path : "/", o, NULL, 0, &len);

			rs[i] = xmalloc(sizeof(**rs));
			rs[i]->fd = dial(host, port);
			rs[i]->off = rs[i]->len = 0;
			send_all(rs[i]->fd, req, len);
			free(req);
			read_response(rs[i], false, false, false, &resp);
			if (resp.eof || resp.server_closes)
				die(EXIT_IO, "hold %s: the server did not keep the connection", spec);
		} else {
			die(EXIT_USAGE, "hold: SPEC is tunnel, ws[:PATH] or http[:PATH], got '%s'", spec);
		}
		printf("open %d %s\n", i + 1, spec);
		fflush(stdout);
	}
	printf("held %d\n", nspecs);
	fflush(stdout);
	if (o->wait_file) {
		wait_for_file(o->wait_file);
	} else {
		char b[256];

		while (read(0, b, sizeof(b)) > 0)
			;
	}
	for (int i = 0; i < nspecs; i++) {
		close(rs[i]->fd);
		free(rs[i]);
	}
	free(rs);
	free(host);
	free(port);
	return 0;
}

/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  azds-probe get ADDR:PORT PATH [-H 'Name: value']... [-X METHOD]\n"
		"                 [-d DATA|@FILE] [-i] [--keepalive N] [--timeout SEC]\n"
		"                 [--then '[METHOD ]PATH']... [--then-body DATA] [--wait-file FILE]\n"
		"                 [--pipeline]\n"
		"  azds-probe http http://ADDR[:PORT]/PATH [options as for get]\n"
		"  azds-probe raw ADDR:PORT [--no-shutdown] [--timeout SEC]\n"
		"  azds-probe ws ADDR:PORT PATH MSG... [-H 'Name: value']... [--timeout SEC]\n"
		"  azds-probe tcp ADDR:PORT --bytes N [--seed S] [--timeout SEC]\n"
		"  azds-probe hold ADDR:PORT SPEC... [--wait-file FILE] [-H 'Name: value']...\n"
		"\n"
		"get/http  one request (N on one connection with --keepalive N); prints\n"
		"          each status line (with -i all headers) and body; --then adds a\n"
		"          bodyless request on the same connection (before each, --wait-file\n"
		"          waits for FILE and removes it); --pipeline sends all in one write\n"
		"raw       sends stdin verbatim, half-closes (unless --no-shutdown) and\n"
		"          prints everything received until the server closes\n"
		"ws        websocket handshake; prints the server's first message, then\n"
		"          the echo of each MSG; closes with 1000\n"
		"tcp       prints the banner line, streams N seeded pseudo-random bytes\n"
		"          and verifies the echo: 'ok bytes=N' or 'mismatch at offset K'\n"
		"hold      opens a connection per SPEC (tunnel, ws[:PATH], http[:PATH]) and\n"
		"          keeps them until --wait-file FILE appears (or stdin ends)\n"
		"\n"
		"--timeout SEC (default 5) bounds connecting and each wait for data.\n"
		"Exit: 0 ok, 1 check failed, 2 connect/resolve error, 3 I/O, protocol\n"
		"error or timeout, 64 usage.\n");
}

static uint64_t parse_count(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		die(EXIT_USAGE, "bad %s: '%s'", what, s);
	return v;
}

int main(int argc, char **argv)
{
	enum { OPT_KEEPALIVE = 256, OPT_TIMEOUT, OPT_BYTES, OPT_SEED, OPT_NO_SHUTDOWN, OPT_THEN,
	       OPT_WAIT_FILE, OPT_PIPELINE, OPT_THEN_BODY };
	static const struct option opts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "method", required_argument, NULL, 'X' },
		{ "data", required_argument, NULL, 'd' },
		{ "include", no_argument, NULL, 'i' },
		{ "keepalive", required_argument, NULL, OPT_KEEPALIVE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "bytes", required_argument, NULL, OPT_BYTES },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "no-shutdown", no_argument, NULL, OPT_NO_SHUTDOWN },
		{ "then", required_argument, NULL, OPT_THEN },
		{ "wait-file", required_argument, NULL, OPT_WAIT_FILE },
		{ "then-body", required_argument, NULL, OPT_THEN_BODY },
		{ "pipeline", no_argument, NULL, OPT_PIPELINE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct http_opts ho = { .keepalive = 1 };
	uint64_t bytes = 0, seed = 1;
	bool have_bytes = false, half_close = true;
	const char *cmd;
	bool data_owned = false;
	char **pos;
	int npos, opt, rc;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	cmd = argv[1];
	ho.hdrs.v = xmalloc(sizeof(char *) * (size_t)argc);
	ho.then = xmalloc(sizeof(char *) * (size_t)argc);
	argv++;
	argc--;
	while ((opt = getopt_long(argc, argv, "H:X:d:ih", opts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			if (!strchr(optarg, ':'))
				die(EXIT_USAGE, "header must look like 'Name: value': %s", optarg);
			ho.hdrs.v[ho.hdrs.n++] = optarg;
			break;
		case 'X':
			ho.method = optarg;
			break;
		case 'd':
			if (optarg[0] == '@') {
				if (data_owned)
					free((char *)ho.data);
				ho.data = read_file(optarg + 1, &ho.data_len);
				data_owned = true;
			} else {
				if (data_owned)
					free((char *)ho.data);
				data_owned = false;
				ho.data = optarg;
				ho.data_len = strlen(optarg);
			}
			break;
		case 'i':
			ho.include = true;
			break;
		case OPT_KEEPALIVE:
			ho.keepalive = (long)parse_count(optarg, "--keepalive");
			if (ho.keepalive < 1)
				die(EXIT_USAGE, "--keepalive must be at least 1");
			break;
		case OPT_TIMEOUT: {
			char *end;
			double t = strtod(optarg, &end);

			if (end == optarg || *end || !(t > 0) || t > 86400)
				die(EXIT_USAGE, "bad --timeout: '%s'", optarg);
			timeout_ms = (int)(t * 1000);
			if (timeout_ms < 1)
				timeout_ms = 1;
			break;
		}
		case OPT_BYTES:
			bytes = parse_count(optarg, "--bytes");
			have_bytes = true;
			break;
		case OPT_SEED:
			seed = parse_count(optarg, "--seed");
			break;
		case OPT_NO_SHUTDOWN:
			half_close = false;
			break;
		case OPT_THEN:
			ho.then[ho.nthen++] = optarg;
			break;
		case OPT_THEN_BODY:
			ho.then_body = optarg;
			break;
		case OPT_WAIT_FILE:
			ho.wait_file = optarg;
			break;
		case OPT_PIPELINE:
			ho.pipeline = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	pos = argv + optind;
	npos = argc - optind;

	if (strcmp(cmd, "get") == 0 && npos == 2) {
		rc = cmd_get(pos[0], pos[1], &ho);
	} else if (strcmp(cmd, "http") == 0 && npos == 1) {
		rc = cmd_http(pos[0], &ho);
	} else if (strcmp(cmd, "raw") == 0 && npos == 1) {
		rc = cmd_raw(pos[0], half_close);
	} else if (strcmp(cmd, "ws") == 0 && npos >= 2) {
		rc = cmd_ws(pos[0], pos[1], pos + 2, npos - 2, &ho.hdrs);
	} else if (strcmp(cmd, "hold") == 0 && npos >= 1) {
		rc = cmd_hold(pos[0], pos + 1, npos - 1, &ho);
	} else if (strcmp(cmd, "tcp") == 0 && npos == 1) {
		if (!have_bytes)
			die(EXIT_USAGE, "tcp needs --bytes N");
		rc = cmd_tcp(pos[0], bytes, seed);
	} else {
		fprintf(stderr, "azds-probe: bad command line for '%s'\n", cmd);
		usage(stderr);
		rc = EXIT_USAGE;
	}
	if (data_owned)
		free((char *)ho.data);
	free(ho.hdrs.v);
	free(ho.then);
	return rc;
}
