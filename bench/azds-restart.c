// SPDX-License-Identifier: MIT
/*
 * azds-restart: constant-rate HTTP/1.1 load through a router while the
 * router is killed or replaced, counting every request that fails and how.
 *
 * Open loop: request i is due at start + i/rate whether or not earlier
 * ones are done; one that waits (no free connection, or the quiesce below)
 * waits with its clock running. Each request ends in exactly one of:
 *   ok          a complete 200 response
 *   refused     its connection could not be made (ECONNREFUSED, a reset
 *               or timeout during the handshake)
 *   reset       the connection was made, then closed or reset before the
 *               complete response
 *   bad status  a complete response other than 200
 *   timeout     no complete response within --timeout-ms of its due time
 *
 * At --at-ms an event happens once:
 *   --kill-pid-file FILE  SIGKILL to the pid in FILE (its first number),
 *                         then new requests go out as soon as that
 *                         process is gone; with --quiesce no request is
 *                         sent from --at-ms until none is in flight, so the
 *                         kill lands between exchanges: the count is then
 *                         of connections refused or reset while the router
 *                         restarts, not of exchanges the dead process held
 *   --run CMD             sh -c CMD, not waited for (its status is
 *                         reported at the end)
 * and "serving again" is the time from the event to the first ok response
 * of a request sent after it.
 *
 * Keep-alive mode (default): C connections, each request on the connection
 * idle the longest (first in, first out), one request at a time; a
 * connection the server closed while idle, or after Connection: close, is
 * reopened without counting a failure. --new-conn: a connection per
 * request, "Connection: close", at most C open.
 *
 * Only libc. Exit status: 0 done (whatever the counts), 1 runtime failure,
 * 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define NS_MS 1000000LL
#define BUF 16384
#define MAX_CONNS 4096
#define MAX_REQS 4000000
#define SHOW_FAILURES 10

enum result { RES_OK, RES_REFUSED, RES_RESET, RES_STATUS, RES_TIMEOUT, RES__N };
static const char *const result_names[] = { "ok", "refused", "reset", "bad status", "timeout" };

enum cstate { C_NONE, C_CONNECTING, C_FREE, C_BUSY };

struct conn {
	int fd;
	enum cstate st;
	bool has_req;
	bool connected;       /* the handshake completed */
	long req;             /* index of the request it carries */
	int64_t sent_ns;      /* when that request's connection or write began */
	size_t woff, len;
	char buf[BUF];
	struct conn *next_free;
};

static struct {
	struct sockaddr_in addr;
	char req[2048];
	size_t req_len;
	double rate, duration;
	int conns;
	bool newconn, quiesce, json;
	int timeout_ms, at_ms;
	const char *kill_file, *run_cmd;
} cfg = { .rate = 1000, .duration = 5, .conns = 16, .timeout_ms = 5000, .at_ms = -1 };

static struct {
	int ep;
	int64_t t0;
	long next;     /* next request to send */
	long total;    /* requests in the run */
	long done;     /* requests with a result */
	int inflight;
	struct conn *c;
	struct conn *free_head, *free_tail;
	int open; /* new-conn: connections open */
	long counts[RES__N];
	int64_t *lat; /* ns, from due time to the end, of every ok */
	long nlat;
	/* the event */
	int ev_state; /* 0 pending, 1 quiescing, 2 done */
	int64_t ev_ns;
	pid_t ev_pid;
	pid_t cmd_pid;
	int cmd_status;
	int64_t serving_ns; /* first ok sent after the event, -1 */
	int shown;
} S;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t due_ns(long i)
{
	return S.t0 + (int64_t)((double)i * 1e9 / cfg.rate);
}

static void __attribute__((noreturn)) usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: azds-restart --target ADDR:PORT [--path /P] [-H 'Name: value']... [--rate R]\n"
		"                    [--duration S] [--connections C] [--new-conn] [--timeout-ms MS]\n"
		"                    [--at-ms MS (--kill-pid-file FILE [--quiesce] | --run CMD)] [-o text|json]\n\n"
		"Constant-rate load (default 1000 req/s for 5 s over 16 keep-alive connections)\n"
		"while the router is killed (--kill-pid-file) or replaced (--run), counting each\n"
		"request as ok, refused, reset, bad status or timeout, and the time from the\n"
		"event until the first ok response sent after it. See the source's header.\n");
	exit(rc);
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "azds-restart: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double num(const char *opt, const char *v, double lo, double hi)
{
	char *end;
	double d = strtod(v ? v : "", &end);

	if (!v || *end || end == v || !(d >= lo && d <= hi)) {
		fprintf(stderr, "azds-restart: %s \"%s\": must be a number in %g..%g\n", opt, v ? v : "", lo, hi);
		exit(2);
	}
	return d;
}

static void parse(int argc, char **argv)
{
	const char *target = NULL, *path = "/", *hdrs[32];
	int nh = 0, n;
	char host[64];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			usage(0);
		if (!strcmp(a, "--new-conn")) {
			cfg.newconn = true;
			continue;
		}
		if (!strcmp(a, "--quiesce")) {
			cfg.quiesce = true;
			continue;
		}
		if (!v)
			usage(2);
		i++;
		if (!strcmp(a, "--target"))
			target = v;
		else if (!strcmp(a, "--path"))
			path = v;
		else if ((!strcmp(a, "-H") || !strcmp(a, "--header")) && nh < 32)
			hdrs[nh++] = v;
		else if (!strcmp(a, "--rate"))
			cfg.rate = num(a, v, 1, 100000);
		else if (!strcmp(a, "--duration"))
			cfg.duration = num(a, v, 0.1, 3600);
		else if (!strcmp(a, "--connections"))
			cfg.conns = (int)num(a, v, 1, MAX_CONNS);
		else if (!strcmp(a, "--timeout-ms"))
			cfg.timeout_ms = (int)num(a, v, 10, 600000);
		else if (!strcmp(a, "--at-ms"))
			cfg.at_ms = (int)num(a, v, 0, 3600000);
		else if (!strcmp(a, "--kill-pid-file"))
			cfg.kill_file = v;
		else if (!strcmp(a, "--run"))
			cfg.run_cmd = v;
		else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
			cfg.json = !strcmp(v, "json");
		else
			usage(2);
	}
	if (!target || (cfg.kill_file && cfg.run_cmd) || (cfg.at_ms >= 0 && !cfg.kill_file && !cfg.run_cmd))
		usage(2);
	{
		const char *colon = strrchr(target, ':');
		size_t hl = colon ? (size_t)(colon - target) : 0;

		if (!colon || hl == 0 || hl >= sizeof(host))
			usage(2);
		memcpy(host, target, hl);
		host[hl] = 0;
		cfg.addr.sin_family = AF_INET;
		cfg.addr.sin_port = htons((uint16_t)num("--target port", colon + 1, 1, 65535));
		if (inet_pton(AF_INET, host, &cfg.addr.sin_addr) != 1)
			usage(2);
	}
	if (cfg.at_ms < 0 && (cfg.kill_file || cfg.run_cmd))
		cfg.at_ms = (int)(cfg.duration * 1000 / 3);
	if (cfg.newconn && cfg.conns == 16)
		cfg.conns = 256;
	n = snprintf(cfg.req, sizeof(cfg.req), "GET %s HTTP/1.1\r\nHost: %s\r\n", path, host);
	for (int i = 0; i < nh; i++)
		n += snprintf(cfg.req + n, sizeof(cfg.req) - (size_t)n, "%s\r\n", hdrs[i]);
	n += snprintf(cfg.req + n, sizeof(cfg.req) - (size_t)n, "%s\r\n", cfg.newconn ? "Connection: close\r\n" : "");
	if ((size_t)n >= sizeof(cfg.req))
		die("request head too long");
	cfg.req_len = (size_t)n;
}

/* ---- results ------------------------------------------------------------ */

static void result(long req, enum result r, int64_t sent_ns, int err)
{
	int64_t t = now_ns();

	S.counts[r]++;
	S.done++;
	if (r == RES_OK) {
		S.lat[S.nlat++] = t - due_ns(req);
		if (S.ev_state == 2 && S.serving_ns < 0 && sent_ns >= S.ev_ns)
			S.serving_ns = t - S.ev_ns;
	} else if (S.shown++ < SHOW_FAILURES) {
		fprintf(stderr, "azds-restart: request %ld (due at %.1f ms): %s%s%s\n", req,
			(double)(due_ns(req) - S.t0) / NS_MS, result_names[r], err ? ": " : "", err ? strerror(err) : "");
	}
}

/* ---- connections -------------------------------------------------------- */

static void free_push(struct conn *c)
{
	c->st = C_FREE;
	c->next_free = NULL;
	if (S.free_tail)
		S.free_tail->next_free = c;
	else
		S.free_head = c;
	S.free_tail = c;
}

static void free_remove(struct conn *c)
{
	struct conn **pp = &S.free_head, *prev = NULL;

	while (*pp && *pp != c) {
		prev = *pp;
		pp = &(*pp)->next_free;
	}
	if (!*pp)
		return;
	*pp = c->next_free;
	if (S.free_tail == c)
		S.free_tail = prev;
	c->next_free = NULL;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		if (cfg.newconn)
			S.open--;
	}
	c->fd = -1;
	c->st = C_NONE;
	c->len = c->woff = 0;
	c->connected = false;
}

static int conn_open(struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (cfg.newconn)
		S.open++;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->st = C_CONNECTING;
	c->connected = false;
	c->len = c->woff = 0;
	if (connect(c->fd, (struct sockaddr *)&cfg.addr, sizeof(cfg.addr)) && errno != EINPROGRESS) {
		int err = -errno;

		conn_close(c);
		return err;
	}
	epoll_ctl(S.ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

/* The request on c ended with r; the connection goes (or, keep-alive, is reopened). */
static void end_request(struct conn *c, enum result r, int err, bool keep)
{
	if (c->has_req) {
		result(c->req, r, c->sent_ns, err);
		c->has_req = false;
		S.inflight--;
	}
	if (keep) {
		c->len = c->woff = 0;
		free_push(c);
		return;
	}
	conn_close(c);
	if (!cfg.newconn && conn_open(c))
		c->st = C_NONE; /* retried by the loop */
}

static void try_write(struct conn *c)
{
	while (c->woff < cfg.req_len) {
		ssize_t n = send(c->fd, cfg.req + c->woff, cfg.req_len - c->woff, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			end_request(c, RES_RESET, errno, false);
			return;
		}
		c->woff += (size_t)n;
	}
}

/* Does [p, end) hold tok (case-insensitive)? */
static bool has_token(const char *p, const char *end, const char *tok)
{
	size_t tl = strlen(tok);

	for (; p + tl <= end; p++)
		if (!strncasecmp(p, tok, tl))
			return true;
	return false;
}

/* A response in c->buf: 1 complete (*status, *close), 0 more needed, -1 malformed. */
static int parse_response(struct conn *c, bool eof, int *status, bool *close_after)
{
	char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *p;
	size_t head, body;
	long clen = -1;
	bool chunked = false;

	if (!end)
		return c->len == BUF ? -1 : 0;
	head = (size_t)(end + 4 - c->buf);
	if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7))
		return -1;
	*status = atoi(c->buf + 9);
	*close_after = c->buf[7] == '0';
	for (p = memchr(c->buf, '\n', head); p && p < end; p = memchr(p + 1, '\n', (size_t)(end - p))) {
		char *line = p + 1, *nl = memchr(line, '\n', (size_t)(end + 2 - line));

		if (!nl)
			break;
		if (!strncasecmp(line, "content-length:", 15))
			clen = atol(line + 15);
		else if (!strncasecmp(line, "transfer-encoding:", 18))
			chunked = has_token(line + 18, nl, "chunked");
		else if (!strncasecmp(line, "connection:", 11) && has_token(line + 11, nl, "close"))
			*close_after = true;
	}
	body = c->len - head;
	if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200))
		return 1;
	if (chunked) {
		/* small bodies: the whole thing is in the buffer; find "0\r\n\r\n" */
		return memmem(c->buf + head, body, "0\r\n\r\n", 5) ? 1 : c->len == BUF ? -1 : 0;
	}
	if (clen >= 0)
		return body >= (size_t)clen ? 1 : c->len == BUF ? -1 : 0;
	*close_after = true;
	return eof ? 1 : 0;
}

static void on_readable(struct conn *c)
{
	for (;;) {
		ssize_t n = c->len < BUF ? recv(c->fd, c->buf + c->len, BUF - c->len, 0) : 0;
		int status = 0, k;
		bool close_after = false, eof = n == 0;

		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			end_request(c, c->has_req ? RES_RESET : RES_OK, errno, false);
			return;
		}
		if (!c->has_req) {
			/* idle keep-alive connection: the server closed it (or spoke
			 * out of turn); reopened, nothing failed */
			end_request(c, RES_OK, 0, false);
			return;
		}
		c->len += (size_t)n;
		k = parse_response(c, eof, &status, &close_after);
		if (k < 0 || (k == 0 && eof)) {
			end_request(c, RES_RESET, eof ? ECONNRESET : EPROTO, false);
			return;
		}
		if (k == 0)
			continue;
		end_request(c, status == 200 ? RES_OK : RES_STATUS, 0, !cfg.newconn && !close_after && !eof);
		return;
	}
}

static void on_event(struct conn *c, uint32_t ev)
{
	if (c->fd < 0)
		return;
	if (c->st == C_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err || (ev & (EPOLLERR | EPOLLHUP))) {
			/* the handshake failed: the request never reached anyone */
			if (c->has_req) {
				result(c->req, RES_REFUSED, c->sent_ns, err ? err : ECONNREFUSED);
				c->has_req = false;
				S.inflight--;
			}
			conn_close(c);
			return;
		}
		c->connected = true;
		if (c->has_req) {
			c->st = C_BUSY;
			try_write(c);
		} else {
			free_push(c);
		}
		if (c->fd < 0)
			return;
	}
	if (c->st == C_BUSY && (ev & EPOLLOUT))
		try_write(c);
	if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		if (c->st == C_FREE)
			free_remove(c);
		on_readable(c);
	}
}

/* ---- sending ------------------------------------------------------------ */

static struct conn *new_conn_slot(void)
{
	for (int i = 0; i < cfg.conns; i++)
		if (S.c[i].st == C_NONE && !S.c[i].has_req)
			return &S.c[i];
	return NULL;
}

/* Send what is due; false when nothing could go (no connection free). */
static void send_due(int64_t t)
{
	while (S.next < S.total && due_ns(S.next) <= t && S.ev_state != 1) {
		struct conn *c;

		if (t - due_ns(S.next) > (int64_t)cfg.timeout_ms * NS_MS) {
			/* waited its whole timeout for a connection */
			result(S.next++, RES_TIMEOUT, t, 0);
			continue;
		}
		if (cfg.newconn) {
			c = new_conn_slot();
			if (!c)
				return;
			c->has_req = true;
			c->req = S.next++;
			c->sent_ns = t;
			S.inflight++;
			if (conn_open(c)) {
				result(c->req, RES_REFUSED, t, errno);
				c->has_req = false;
				S.inflight--;
			}
			continue;
		}
		c = S.free_head;
		if (!c)
			return;
		free_remove(c);
		c->st = C_BUSY;
		c->has_req = true;
		c->req = S.next++;
		c->sent_ns = t;
		c->len = c->woff = 0;
		S.inflight++;
		try_write(c);
	}
}

static void timeouts(int64_t t)
{
	for (int i = 0; i < cfg.conns; i++) {
		struct conn *c = &S.c[i];

		if (c->has_req && t - due_ns(c->req) > (int64_t)cfg.timeout_ms * NS_MS)
			end_request(c, c->connected ? RES_TIMEOUT : RES_REFUSED, ETIMEDOUT, false);
		if (!cfg.newconn && c->st == C_NONE && c->fd < 0 && S.next < S.total)
			conn_open(c); /* keep-alive: a reconnect that failed, again */
	}
}

/* ---- the event ---------------------------------------------------------- */

static void do_kill(void)
{
	char buf[64] = "";
	FILE *f = fopen(cfg.kill_file, "re");
	struct pollfd pf;
	int pid = 0, fd;

	if (!f || !fgets(buf, sizeof(buf), f) || sscanf(buf, "%d", &pid) != 1 || pid <= 1)
		die("%s: no pid", cfg.kill_file);
	fclose(f);
	fd = pidfd_open(pid, 0);
	if (fd < 0)
		die("pid %d: %s", pid, strerror(errno));
	S.ev_pid = pid;
	S.ev_ns = now_ns();
	if (pidfd_send_signal(fd, SIGKILL, NULL, 0))
		die("kill %d: %s", pid, strerror(errno));
	/* new connections go out once it is gone, not to the dying process */
	pf = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pf, 1, 5000) != 1)
		die("pid %d did not die within 5 s of SIGKILL", pid);
	close(fd);
}

static void event_step(int64_t t)
{
	if (S.ev_state == 2 || cfg.at_ms < 0 || t - S.t0 < (int64_t)cfg.at_ms * NS_MS)
		return;
	if (S.ev_state == 0 && cfg.kill_file && cfg.quiesce) {
		S.ev_state = 1; /* no sends until nothing is in flight */
	}
	if (S.ev_state == 1 && S.inflight > 0)
		return;
	if (cfg.kill_file) {
		do_kill();
	} else {
		S.ev_ns = now_ns();
		S.cmd_pid = fork();
		if (S.cmd_pid == 0) {
			execl("/bin/sh", "sh", "-c", cfg.run_cmd, (char *)NULL);
			_exit(127);
		}
		if (S.cmd_pid < 0)
			die("fork: %s", strerror(errno));
	}
	S.ev_state = 2;
}

/* ---- report ------------------------------------------------------------- */

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(double p)
{
	if (!S.nlat)
		return 0;
	return (double)S.lat[(long)((double)(S.nlat - 1) * p)] / NS_MS;
}

static void report(void)
{
	long failed = S.total - S.counts[RES_OK];
	double serving = S.serving_ns >= 0 ? (double)S.serving_ns / NS_MS : -1;
	const char *ev = cfg.kill_file ? "kill" : cfg.run_cmd ? "run" : "none";
	int cmd = S.cmd_pid > 0 ? (WIFEXITED(S.cmd_status) ? WEXITSTATUS(S.cmd_status) : 128) : -1;

	qsort(S.lat, (size_t)S.nlat, sizeof(S.lat[0]), cmp64);
	if (cfg.json) {
		printf("{\"requests\":%ld,\"ok\":%ld,\"failed\":%ld,\"refused\":%ld,\"reset\":%ld,\"bad_status\":%ld,"
		       "\"timeouts\":%ld,\"mode\":\"%s\",\"rate\":%.0f,\"event\":\"%s\",\"quiesce\":%s,\"event_at_ms\":%.1f,"
		       "\"killed_pid\":%d,\"command_status\":%d,\"serving_again_ms\":%.2f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
		       "\"max_ms\":%.3f}\n",
		       S.total, S.counts[RES_OK], failed, S.counts[RES_REFUSED], S.counts[RES_RESET], S.counts[RES_STATUS],
		       S.counts[RES_TIMEOUT], cfg.newconn ? "new-conn" : "keep-alive", cfg.rate, ev,
		       cfg.quiesce ? "true" : "false", S.ev_ns ? (double)(S.ev_ns - S.t0) / NS_MS : -1.0,
		       (int)S.ev_pid, cmd, serving, pct(0.5), pct(0.99), pct(1.0));
		return;
	}
	printf("%ld requests at %.0f/s (%s): ok %ld, failed %ld (refused %ld, reset %ld, bad status %ld, timeout %ld)\n",
	       S.total, cfg.rate, cfg.newconn ? "a new connection each" : "keep-alive", S.counts[RES_OK], failed,
	       S.counts[RES_REFUSED], S.counts[RES_RESET], S.counts[RES_STATUS], S.counts[RES_TIMEOUT]);
	printf("latency from due time: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", pct(0.5), pct(0.99), pct(1.0));
	if (cfg.kill_file)
		printf("router kill -9 until serving again: %.1f ms, refused %ld%s\n", serving, S.counts[RES_REFUSED],
		       cfg.quiesce ? " (killed between exchanges)" : "");
	else if (cfg.run_cmd)
		printf("command until the first ok sent after it: %.1f ms; command exit %d\n", serving, cmd);
}

int main(int argc, char **argv)
{
	struct epoll_event evs[256];
	int64_t end;

	parse(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	S.total = (long)(cfg.rate * cfg.duration);
	if (S.total > MAX_REQS)
		die("at most %d requests a run", MAX_REQS);
	S.c = calloc((size_t)cfg.conns, sizeof(*S.c));
	S.lat = calloc((size_t)S.total + 1, sizeof(*S.lat));
	S.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!S.c || !S.lat || S.ep < 0)
		die("out of memory");
	S.serving_ns = -1;
	for (int i = 0; i < cfg.conns; i++)
		S.c[i].fd = -1;
	if (!cfg.newconn) {
		/* the connections first: the run starts once they are up */
		for (int i = 0; i < cfg.conns; i++)
			if (conn_open(&S.c[i]))
				die("connect: %s", strerror(errno));
		for (int k = 0; k < 500 && S.free_tail == NULL; k++) {
			int n = epoll_wait(S.ep, evs, 256, 10);

			for (int i = 0; i < n; i++)
				on_event(evs[i].data.ptr, evs[i].events);
		}
	}
	S.t0 = now_ns();
	end = S.t0 + (int64_t)(cfg.duration * 1e9) + (int64_t)cfg.timeout_ms * NS_MS + 1000 * NS_MS;
	while (S.done < S.total) {
		int64_t t = now_ns(), wait_ns;
		struct timespec ts;
		int n;

		if (t > end)
			die("%ld requests unaccounted for at the end", S.total - S.done);
		event_step(t);
		send_due(t);
		timeouts(t);
		wait_ns = S.next < S.total ? due_ns(S.next) - now_ns() : 10 * NS_MS;
		if (S.ev_state == 1 || wait_ns < 0)
			wait_ns = 0;
		if (wait_ns > 10 * NS_MS)
			wait_ns = 10 * NS_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = wait_ns;
		n = epoll_pwait2(S.ep, evs, 256, &ts, NULL);
		for (int i = 0; i < n; i++)
			on_event(evs[i].data.ptr, evs[i].events);
	}
	if (S.cmd_pid > 0)
		waitpid(S.cmd_pid, &S.cmd_status, 0);
	report();
	return 0;
}
