/* SPDX-License-Identifier: MIT */
/*
 * azds-load: a constant-rate HTTP/1.1 load generator that corrects for
 * coordinated omission.
 *
 * Open loop (--rate R > 0): request i has an intended send time
 * start + i/R, fixed before the run starts. Its latency is measured from
 * that intended time to the end of its response, not from when it was
 * actually written. When the intended time comes and no connection is
 * free, the request waits in a FIFO queue with its clock already running,
 * so a server that stalls for one second is charged for every request that
 * piled up behind the stall (wrk2's method). The queue is implicit: it is
 * the range of indexes [next_i, first index not yet due).
 *
 * Closed loop (--rate 0): every connection sends its next request as soon
 * as the previous response is complete; latency is plain response time.
 * This hides stalls and is there for maximum-throughput runs and for
 * comparison.
 *
 * Keep-alive mode (default): C persistent connections, one request at a
 * time each (no pipelining); a connection that fails, times out or is
 * closed by the server is reopened. --new-conn: every request opens its own
 * TCP connection, sends the request (with "Connection: close"), reads the
 * full response and closes; at most C are open at once.
 *
 * One thread, one epoll loop, non-blocking sockets, CLOCK_MONOTONIC in ns.
 * The sender sleeps on an absolute timerfd until --spin-us before the next
 * intended send time, then busy-polls (epoll_wait with a zero timeout)
 * until it is sent: waking an idle CPU can take milliseconds (notably in
 * VMs), which would put the sender off schedule and, at 10,000 req/s, let
 * queues build that are the generator's fault. --spin-us 0 never spins.
 * "behind" is the generator's own lateness: how long after a request was
 * both due and sendable (a connection was free) it was actually sent. A
 * large value means the generator could not keep up and the latencies
 * include its own delay.
 *
 * Only libc is used.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000ULL
#define NS_PER_MS 1000000ULL
#define MAX_SAMPLES 20000000UL   /* recorded latencies; beyond, count only */
#define MAX_CONNECTIONS 200000
#define BUF_SIZE 16384           /* per-connection read buffer = max header */
#define RETRY_NS (100 * NS_PER_MS) /* keep-alive reconnect backoff */
#define DRAIN_MS_DEFAULT 200 /* --new-conn: wait this long for the server's EOF (--drain-ms) */
#define BEHIND_WARN_MS 5.0       /* warn when the sender was this late */
#define LATE_NS NS_PER_MS        /* a send this late counts as a late send */
#define TIMER_ID UINT32_MAX      /* epoll tag of the timerfd */

static const char *prog = "azds-load";

/* ---- configuration ---------------------------------------------------- */

struct config {
	const char *target;          /* ADDR:PORT as given */
	struct sockaddr_in addr;
	char host[INET_ADDRSTRLEN];  /* ADDR, for the Host header */
	const char *path;
	const char **headers;        /* -H values, validated */
	int nheaders;
	double rate;                 /* req/s; 0 = closed loop */
	double duration, warmup;     /* seconds */
	int connections;
	bool newconn;
	unsigned drain_ms;           /* --new-conn: wait for the server's close (0: close at once) */
	int timeout_ms;
	int spin_us;                 /* busy-poll this long before a send */
	int cpu_fd;                  /* open cgroup cpu.stat, or -1 */
	bool json;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s --target ADDR:PORT [options]\n"
"\n"
"Constant-rate HTTP/1.1 load generator. In open loop every request has an\n"
"intended send time (start + i/rate) and its latency is measured from that\n"
"time, so queueing caused by a slow server is counted (coordinated-omission\n"
"correction, as in wrk2).\n"
"\n"
"  --target ADDR:PORT    IPv4 address and port of the server (required)\n"
"  --path /P             request path (default /)\n"
"  -H, --header 'N: v'   extra request header (repeatable); a Host header\n"
"                        replaces the default 'Host: ADDR'\n"
"  --rate R              requests per second, open loop (default 1000);\n"
"                        0 = closed loop: each connection sends its next\n"
"                        request when the previous response is complete\n"
"  --duration SEC        measured time (default 10)\n"
"  --warmup SEC          time before that whose requests are sent but not\n"
"                        recorded (default 1)\n"
"  --connections C       keep-alive connections (default 16), or with\n"
"                        --new-conn the most open at once (default 256)\n"
"  --new-conn            a new TCP connection for every request\n"
"  --drain-ms MS         --new-conn: after a response that announces the close,\n"
"                        wait up to MS for the server's FIN before closing, so\n"
"                        that TIME_WAIT stays on the server (default 200; 0:\n"
"                        close at once, as most HTTP clients do)\n"
"  --timeout-ms MS       per-request timeout from send to end of response\n"
"                        (default 5000); a timeout counts as an error\n"
"  --spin-us US          busy-poll for the last US microseconds before each\n"
"                        scheduled send instead of sleeping (default 1000;\n"
"                        0 = always sleep; at >= 1000 req/s it uses a core)\n"
"  --cpu-stat-fd FD      descriptor of an open cgroup v2 cpu.stat (the\n"
"                        server's or proxy's): its usage_usec is read as the\n"
"                        measured window starts and ends and reported as\n"
"                        cpu_us. Passed open because a pod's mount namespace\n"
"                        need not show the node's cgroup tree\n"
"  -o, --output FMT      text (default) or json (one line)\n"
"  -h, --help            this help\n"
"\n"
"Errors are non-2xx responses (their latency is still recorded), connection\n"
"failures and timeouts. Exit status: 0 done, 1 runtime failure, 2 usage.\n",
		prog);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	exit(2);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double parse_double(const char *opt, const char *s, double min,
			   bool min_exclusive)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) ||
	    (min_exclusive ? v <= min : v < min))
		usage_error("%s: invalid value '%s' (want a number %s %g)", opt,
			    s, min_exclusive ? ">" : ">=", min);
	return v;
}

static int parse_int(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage_error("%s: invalid value '%s' (want an integer %ld..%ld)",
			    opt, s, min, max);
	return (int)v;
}

static void parse_target(struct config *cfg, const char *s)
{
	const char *colon = strrchr(s, ':');
	size_t alen;
	char *end;
	long port;

	if (!colon || colon == s)
		usage_error("--target: invalid value '%s' (want IPv4ADDR:PORT, e.g. 127.0.0.1:8080)", s);
	alen = (size_t)(colon - s);
	if (alen >= sizeof(cfg->host))
		usage_error("--target: invalid address in '%s' (want an IPv4 literal)", s);
	memcpy(cfg->host, s, alen);
	cfg->host[alen] = '\0';
	memset(&cfg->addr, 0, sizeof(cfg->addr));
	cfg->addr.sin_family = AF_INET;
	if (inet_pton(AF_INET, cfg->host, &cfg->addr.sin_addr) != 1)
		usage_error("--target: invalid address '%s' (want an IPv4 literal; names are not resolved)",
			    cfg->host);
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
		usage_error("--target: invalid port '%s' (want 1..65535)", colon + 1);
	cfg->addr.sin_port = htons((uint16_t)port);
	cfg->target = s;
}

/* "Name: value": a token name, a colon, no CR/LF anywhere. */
static void check_header(const char *h)
{
	const char *colon = strchr(h, ':');

	if (!colon || colon == h)
		usage_error("-H: invalid header '%s' (want 'Name: value')", h);
	for (const char *p = h; p < colon; p++)
		if (*p <= ' ' || *p >= 127 || strchr("()<>@,;:\\\"/[]?={}", *p))
			usage_error("-H: invalid header name in '%s'", h);
	if (strpbrk(h, "\r\n"))
		usage_error("-H: header '%s' contains a line break", h);
}

static bool header_is(const char *h, const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(h, name, n) == 0 && h[n] == ':';
}

static void parse_args(struct config *cfg, int argc, char **argv)
{
	enum { O_TARGET = 256, O_PATH, O_RATE, O_DURATION, O_WARMUP,
	       O_CONNECTIONS, O_NEWCONN, O_TIMEOUT, O_SPIN, O_CPUFD, O_DRAIN };
	static const struct option opts[] = {
		{ "target", required_argument, NULL, O_TARGET },
		{ "path", required_argument, NULL, O_PATH },
		{ "header", required_argument, NULL, 'H' },
		{ "rate", required_argument, NULL, O_RATE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "connections", required_argument, NULL, O_CONNECTIONS },
		{ "new-conn", no_argument, NULL, O_NEWCONN },
		{ "drain-ms", required_argument, NULL, O_DRAIN },
		{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
		{ "spin-us", required_argument, NULL, O_SPIN },
		{ "cpu-stat-fd", required_argument, NULL, O_CPUFD },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*cfg = (struct config){ .path = "/", .rate = 1000, .duration = 10,
				.warmup = 1, .connections = 0,
				.timeout_ms = 5000, .spin_us = 1000, .cpu_fd = -1 };
	cfg->headers = calloc((size_t)argc, sizeof(*cfg->headers));
	if (!cfg->headers)
		die("out of memory");
	bool have_drain = false;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":H:o:h", opts, NULL)) != -1) {
		switch (opt) {
		case O_TARGET:
			parse_target(cfg, optarg);
			break;
		case O_PATH:
			if (optarg[0] != '/' || strpbrk(optarg, " \t\r\n"))
				usage_error("--path: invalid value '%s' (want /path, no spaces)", optarg);
			cfg->path = optarg;
			break;
		case 'H':
			check_header(optarg);
			cfg->headers[cfg->nheaders++] = optarg;
			break;
		case O_RATE:
			cfg->rate = parse_double("--rate", optarg, 0, false);
			break;
		case O_DURATION:
			cfg->duration = parse_double("--duration", optarg, 0, true);
			break;
		case O_WARMUP:
			cfg->warmup = parse_double("--warmup", optarg, 0, false);
			break;
		case O_CONNECTIONS:
			cfg->connections = parse_int("--connections", optarg, 1,
						     MAX_CONNECTIONS);
			break;
		case O_NEWCONN:
			cfg->newconn = true;
			break;
		case O_DRAIN:
			cfg->drain_ms = (unsigned)parse_int("--drain-ms", optarg, 0, 10000);
			have_drain = true;
			break;
		case O_TIMEOUT:
			cfg->timeout_ms = parse_int("--timeout-ms", optarg, 1,
						    3600 * 1000);
			break;
		case O_SPIN:
			cfg->spin_us = parse_int("--spin-us", optarg, 0, 1000000);
			break;
		case O_CPUFD:
			cfg->cpu_fd = parse_int("--cpu-stat-fd", optarg, 0, 1 << 20);
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				cfg->json = true;
			else if (strcmp(optarg, "text") == 0)
				cfg->json = false;
			else
				usage_error("-o: invalid value '%s' (want text or json)", optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			if (optopt > 0 && optopt < 128)
				usage_error("option '-%c' needs a value", optopt);
			usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt > 0 && optopt < 128)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown or misused option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!cfg->target)
		usage_error("--target ADDR:PORT is required");
	if (cfg->duration > 1e6 || cfg->warmup > 1e6)
		usage_error("--duration/--warmup: at most 1000000 seconds");
	if (cfg->rate > 1e8)
		usage_error("--rate: invalid value '%g' (at most 100000000)", cfg->rate);
	if (!cfg->connections)
		cfg->connections = cfg->newconn ? 256 : 16;
	if (!have_drain)
		cfg->drain_ms = DRAIN_MS_DEFAULT;
}

/* usage_usec of the cgroup whose cpu.stat is open on fd: every process and
 * thread in it, including ones that have exited (kernfs files are seq
 * files: no pread, so seek back and read again) */
static int cpu_usage_us(int fd, uint64_t *us)
{
	char buf[512], *p;
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	p = strstr(buf, "usage_usec ");
	if (!p || (p != buf && p[-1] != '\n'))
		return -EINVAL;
	*us = strtoull(p + strlen("usage_usec "), NULL, 10);
	return 0;
}

/* The request is the same bytes every time; build it once. */
static char *build_request(const struct config *cfg, size_t *len)
{
	bool have_host = false, have_conn = false;
	size_t cap = strlen(cfg->path) + 128;
	char *req, *p;

	for (int i = 0; i < cfg->nheaders; i++) {
		cap += strlen(cfg->headers[i]) + 2;
		have_host |= header_is(cfg->headers[i], "host");
		have_conn |= header_is(cfg->headers[i], "connection");
	}
	req = malloc(cap);
	if (!req)
		die("out of memory");
	p = req + sprintf(req, "GET %s HTTP/1.1\r\n", cfg->path);
	if (!have_host)
		p += sprintf(p, "Host: %s\r\n", cfg->host);
	for (int i = 0; i < cfg->nheaders; i++)
		p += sprintf(p, "%s\r\n", cfg->headers[i]);
	if (cfg->newconn && !have_conn)
		p += sprintf(p, "Connection: close\r\n");
	p += sprintf(p, "\r\n");
	*len = (size_t)(p - req);
	return req;
}

/* ---- state ------------------------------------------------------------ */

enum cstate {
	C_FREE,        /* --new-conn: slot with no socket */
	C_CONNECTING,  /* connect() in progress (with or without a request) */
	C_IDLE,        /* keep-alive: connected, no request, in the free list */
	C_WRITING,     /* request partly written */
	C_READING,     /* waiting for / reading the response */
	C_DOWN,        /* keep-alive: reconnect failed, retry at deadline */
	C_DRAINING,    /* --new-conn: response done, waiting for the server's
			* close so that TIME_WAIT stays on its side */
};

enum pstate { P_HEAD, P_BODY_LEN, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_CRLF,
	      P_TRAILER, P_BODY_EOF, P_DONE };

struct conn {
	int fd;
	enum cstate st;
	uint32_t events;          /* current epoll interest */
	bool busy;                /* carries a request */
	bool measured;            /* ... whose intended time is in the window */
	uint64_t intended;        /* ns, the request's scheduled send time */
	uint64_t deadline;        /* ns, timeout (or retry time when C_DOWN) */
	uint64_t free_since;      /* ns, when it last became free */
	size_t woff;              /* request bytes written */
	/* response parser */
	enum pstate ps;
	int status;
	bool close_after;         /* server will close: reopen afterwards */
	uint64_t remaining;       /* body or chunk bytes still to read */
	size_t len;               /* bytes in buf */
	char *buf;
};

static struct {
	struct config cfg;
	const char *req;
	size_t req_len;
	int ep, tfd;
	struct conn *conns;
	int *freelist, nfree;
	uint64_t t0, ws, we;          /* start, window start, window end (ns) */
	uint64_t next_i;              /* open loop: next request index to send */
	int inflight;
	bool stopping;                /* past the window: no reopening */
	/* results, measured window only */
	uint64_t *samples;
	size_t nsamples, capsamples;
	uint64_t dropped, sum_ns;
	uint64_t responses, non2xx, conn_errors, timeouts;
	uint64_t completed_in_window; /* any response finished in the window */
	uint64_t behind_ns;
	uint64_t late_sends;          /* sent more than LATE_NS behind */
	int last_errno;
	/* --cpu-stat-fd: usage at the window's start and end */
	uint64_t cpu_ws, cpu_we;
	bool cpu_ws_read, cpu_we_read;
	int cpu_err;
} S;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Intended send time of request i (open loop). */
static uint64_t sched(uint64_t i)
{
	return S.t0 + (uint64_t)((double)i * 1e9 / S.cfg.rate);
}

static void record(uint64_t ns)
{
	if (S.nsamples == S.capsamples) {
		size_t cap = S.capsamples ? S.capsamples * 2 : 1 << 20;
		uint64_t *p;

		if (cap > MAX_SAMPLES)
			cap = MAX_SAMPLES;
		p = cap > S.capsamples ? realloc(S.samples, cap * sizeof(*p)) : NULL;
		if (!p) {
			S.dropped++;
			return;
		}
		S.samples = p;
		S.capsamples = cap;
	}
	S.samples[S.nsamples++] = ns;
	S.sum_ns += ns;
}

/* ---- connections ------------------------------------------------------ */

static void set_events(struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events,
				  .data.u32 = (uint32_t)(c - S.conns) };

	if (c->events == events)
		return;
	if (epoll_ctl(S.ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd,
		      &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	c->events = events;
}

static void close_fd(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);  /* also leaves the epoll set */
	c->fd = -1;
	c->events = 0;
	c->len = 0;
}

static void push_free(struct conn *c, uint64_t now)
{
	c->free_since = now;
	c->deadline = UINT64_MAX;
	S.freelist[S.nfree++] = (int)(c - S.conns);
}

/* Start a non-blocking connect. Returns 0, or -1 with errno set. */
static int open_conn(struct conn *c, uint64_t now)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&S.cfg.addr, sizeof(S.cfg.addr)) < 0 &&
	    errno != EINPROGRESS) {
		int e = errno;

		close_fd(c);
		errno = e;
		return -1;
	}
	c->st = C_CONNECTING;
	if (!c->busy)
		c->deadline = now + (uint64_t)S.cfg.timeout_ms * NS_PER_MS;
	set_events(c, EPOLLOUT);
	return 0;
}

/* Keep-alive: reopen a connection that has no request. */
static void reopen(struct conn *c, uint64_t now)
{
	if (S.stopping) {
		c->st = C_DOWN;
		c->deadline = UINT64_MAX;
		return;
	}
	if (open_conn(c, now) < 0) {
		S.last_errno = errno;
		c->st = C_DOWN;
		c->deadline = now + RETRY_NS;
	}
}

/* The request on c ended without a response (kind: timeout or error). */
static void fail(struct conn *c, int err, bool timeout)
{
	uint64_t now = now_ns();

	if (c->busy) {
		if (c->measured) {
			if (timeout)
				S.timeouts++;
			else
				S.conn_errors++;
		}
		S.inflight--;
		c->busy = false;
	}
	if (err)
		S.last_errno = err;
	close_fd(c);
	if (S.cfg.newconn) {
		c->st = C_FREE;
		push_free(c, now);
	} else if (c->st == C_CONNECTING) {
		c->st = C_DOWN;  /* reconnect failed: back off, then retry */
		c->deadline = now + RETRY_NS;
	} else {
		reopen(c, now);
	}
}

/* --new-conn: the connection is done with; its slot becomes free. */
static void release(struct conn *c, uint64_t now)
{
	close_fd(c);
	c->st = C_FREE;
	push_free(c, now);
}

/* The response on c is complete (eof: the server already closed). */
static void complete(struct conn *c, bool leftover, bool eof)
{
	uint64_t now = now_ns();

	if (c->measured) {
		record(now - c->intended);
		S.responses++;
		if (c->status < 200 || c->status > 299)
			S.non2xx++;
	}
	if (now >= S.ws && now < S.we)
		S.completed_in_window++;
	S.inflight--;
	c->busy = false;
	if (S.cfg.newconn) {
		/*
		 * Closing first would leave TIME_WAIT here and, at a few
		 * hundred connections a second, exhaust the local ports. A
		 * server that announced its close usually sends the FIN right
		 * after the response: wait briefly for it, then close.
		 */
		if (c->close_after && !eof && !leftover && S.cfg.drain_ms) {
			c->st = C_DRAINING;
			c->deadline = now + (uint64_t)S.cfg.drain_ms * NS_PER_MS;
		} else {
			release(c, now);
		}
	} else if (c->close_after || leftover) {
		close_fd(c);
		reopen(c, now);
	} else {
		c->st = C_IDLE;
		push_free(c, now);
	}
}

/* ---- response parser -------------------------------------------------- */

static bool span_has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, tok, tl) == 0 &&
		    (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') &&
		    (i + tl == n || v[i + tl] == ',' || v[i + tl] == ' '))
			return true;
	return false;
}

/*
 * Parse a status line and headers (h[0..n) ends with the blank line) and
 * choose how the body ends. Returns -1 on a malformed response.
 */
static int parse_head(struct conn *c, const char *h, size_t n)
{
	bool chunked = false, have_len = false, keep_alive = false;
	uint64_t clen = 0;
	const char *p, *eol, *end = h + n;
	int minor;

	if (n < 12 || memcmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') ||
	    h[8] != ' ' || h[9] < '1' || h[9] > '9' || h[10] < '0' ||
	    h[10] > '9' || h[11] < '0' || h[11] > '9')
		return -1;
	minor = h[7] - '0';
	c->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
	c->close_after = false;
	p = memchr(h, '\n', n) + 1;
	for (; p < end; p = eol + 1) {
		const char *colon, *v, *ve;

		eol = memchr(p, '\n', (size_t)(end - p));
		ve = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (ve == p)
			break;  /* blank line */
		colon = memchr(p, ':', (size_t)(ve - p));
		if (!colon)
			return -1;
		for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
			;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
#define IS(name) ((size_t)(colon - p) == sizeof(name) - 1 && \
		  strncasecmp(p, name, sizeof(name) - 1) == 0)
		if (IS("content-length")) {
			uint64_t x = 0;

			if (v == ve)
				return -1;
			for (const char *d = v; d < ve; d++) {
				if (*d < '0' || *d > '9' || x > UINT64_MAX / 20)
					return -1;
				x = x * 10 + (uint64_t)(*d - '0');
			}
			if (have_len && x != clen)
				return -1;
			have_len = true;
			clen = x;
		} else if (IS("transfer-encoding")) {
			chunked = span_has_token(v, (size_t)(ve - v), "chunked");
		} else if (IS("connection")) {
			if (span_has_token(v, (size_t)(ve - v), "close"))
				c->close_after = true;
			if (span_has_token(v, (size_t)(ve - v), "keep-alive"))
				keep_alive = true;
		}
#undef IS
	}
	if (minor == 0 && !keep_alive)
		c->close_after = true;
	if (c->status < 200) {
		if (c->status == 101)
			return -1;  /* we never ask to switch protocols */
		c->ps = P_HEAD;  /* interim response: the real one follows */
	} else if (c->status == 204 || c->status == 304) {
		c->ps = P_DONE;
	} else if (chunked) {
		c->ps = P_CHUNK_SIZE;
	} else if (have_len) {
		c->remaining = clen;
		c->ps = clen ? P_BODY_LEN : P_DONE;
	} else {
		c->ps = P_BODY_EOF;  /* body runs until the server closes */
		c->close_after = true;
	}
	return 0;
}

/*
 * Consume what is in c->buf. Returns 1 when the response is complete
 * (*leftover: bytes followed it), 0 when more is needed, -1 on a protocol
 * error or a premature EOF.
 */
static int parse_response(struct conn *c, bool eof, bool *leftover)
{
	size_t pos = 0;
	int rc = 0;

	for (;;) {
		char *b = c->buf + pos, *nl;
		size_t avail = c->len - pos, n;

		switch (c->ps) {
		case P_HEAD:
			nl = memmem(b, avail, "\r\n\r\n", 4);
			if (!nl) {
				if (c->len == BUF_SIZE && pos == 0)
					return -1;  /* headers too large */
				goto more;
			}
			n = (size_t)(nl + 4 - b);
			if (parse_head(c, b, n) < 0)
				return -1;
			pos += n;
			break;
		case P_BODY_LEN:
		case P_CHUNK_DATA:
			n = avail < c->remaining ? avail : (size_t)c->remaining;
			pos += n;
			c->remaining -= n;
			if (c->remaining)
				goto more;
			c->ps = c->ps == P_BODY_LEN ? P_DONE : P_CHUNK_CRLF;
			break;
		case P_CHUNK_SIZE: {
			uint64_t size = 0;
			int digits = 0;

			nl = memchr(b, '\n', avail);
			if (!nl) {
				if (avail > 1024)
					return -1;
				goto more;
			}
			for (const char *d = b; d < nl; d++, digits++) {
				int x = *d >= '0' && *d <= '9' ? *d - '0' :
					*d >= 'a' && *d <= 'f' ? *d - 'a' + 10 :
					*d >= 'A' && *d <= 'F' ? *d - 'A' + 10 : -1;
				if (x < 0)
					break;  /* ";ext" or CR */
				if (digits >= 15)
					return -1;
				size = size * 16 + (uint64_t)x;
			}
			if (!digits)
				return -1;
			pos += (size_t)(nl + 1 - b);
			c->remaining = size;
			c->ps = size ? P_CHUNK_DATA : P_TRAILER;
			break;
		}
		case P_CHUNK_CRLF:
			if (avail < 2)
				goto more;
			if (b[0] != '\r' || b[1] != '\n')
				return -1;
			pos += 2;
			c->ps = P_CHUNK_SIZE;
			break;
		case P_TRAILER:
			nl = memchr(b, '\n', avail);
			if (!nl) {
				if (avail > 8192)
					return -1;
				goto more;
			}
			pos += (size_t)(nl + 1 - b);
			if (nl == b || (nl == b + 1 && b[0] == '\r'))
				c->ps = P_DONE;
			break;
		case P_BODY_EOF:
			pos = c->len;
			if (!eof)
				goto more;
			c->ps = P_DONE;
			break;
		case P_DONE:
			*leftover = pos < c->len;
			c->len = 0;
			return 1;
		}
	}
more:
	memmove(c->buf, c->buf + pos, c->len - pos);
	c->len -= pos;
	if (eof)
		rc = -1;
	return rc;
}

/* ---- I/O -------------------------------------------------------------- */

static void do_write(struct conn *c)
{
	while (c->woff < S.req_len) {
		ssize_t n = send(c->fd, S.req + c->woff, S.req_len - c->woff,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_events(c, EPOLLOUT);
				return;
			}
			if (errno == EINTR)
				continue;
			fail(c, errno, false);
			return;
		}
		c->woff += (size_t)n;
	}
	c->st = C_READING;
	set_events(c, EPOLLIN);
}

static void do_read(struct conn *c)
{
	for (;;) {
		bool leftover = false;
		ssize_t n = recv(c->fd, c->buf + c->len, BUF_SIZE - c->len, 0);
		int rc;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			fail(c, errno, false);
			return;
		}
		c->len += (size_t)n;
		rc = parse_response(c, n == 0, &leftover);
		if (rc < 0) {
			fail(c, n == 0 ? ECONNRESET : EPROTO, false);
			return;
		}
		if (rc > 0) {
			complete(c, leftover, n == 0);
			return;
		}
	}
}

static void start_request(struct conn *c, uint64_t intended, uint64_t now)
{
	c->busy = true;
	c->intended = intended;
	c->measured = intended >= S.ws && intended < S.we;
	c->deadline = now + (uint64_t)S.cfg.timeout_ms * NS_PER_MS;
	c->woff = 0;
	c->len = 0;
	c->ps = P_HEAD;
	c->status = 0;
	S.inflight++;
	if (S.cfg.newconn) {
		if (open_conn(c, now) < 0)
			fail(c, errno, false);
		return;
	}
	c->st = C_WRITING;
	do_write(c);
}

static void on_connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		fail(c, err, false);
		return;
	}
	if (c->busy) {
		c->st = C_WRITING;
		do_write(c);
	} else {
		c->st = C_IDLE;
		set_events(c, EPOLLIN);
		push_free(c, now_ns());
	}
}

/* The peer has something to say (bytes, EOF or an error), not just EAGAIN. */
static bool peer_spoke(struct conn *c)
{
	char b[256];
	ssize_t n = recv(c->fd, b, sizeof(b), 0);

	return !(n < 0 && (errno == EAGAIN || errno == EINTR));
}

/* A free keep-alive connection became readable: the server closed it. */
static void on_idle_readable(struct conn *c)
{
	if (!peer_spoke(c))
		return;
	/* EOF, error or unsolicited bytes: drop it from the free list and
	 * reopen it. */
	for (int i = 0; i < S.nfree; i++) {
		if (S.freelist[i] == (int)(c - S.conns)) {
			S.freelist[i] = S.freelist[--S.nfree];
			break;
		}
	}
	close_fd(c);
	reopen(c, now_ns());
}

/* --new-conn: after the response, anything but EAGAIN ends the wait. */
static void on_drain_readable(struct conn *c)
{
	if (!peer_spoke(c))
		return;
	release(c, now_ns());
}

static void on_event(struct conn *c)
{
	switch (c->st) {
	case C_CONNECTING:
		on_connected(c);
		break;
	case C_WRITING:
		do_write(c);
		break;
	case C_READING:
		do_read(c);
		break;
	case C_IDLE:
		on_idle_readable(c);
		break;
	case C_DRAINING:
		on_drain_readable(c);
		break;
	case C_FREE:
	case C_DOWN:
		break;
	}
}

/* Time out requests and connects; retry keep-alive reconnects. */
static void scan_deadlines(uint64_t now)
{
	for (int i = 0; i < S.cfg.connections; i++) {
		struct conn *c = &S.conns[i];

		if (c->deadline > now)
			continue;
		if (c->busy) {
			fail(c, ETIMEDOUT, true);
		} else if (c->st == C_CONNECTING) {
			S.last_errno = ETIMEDOUT;
			close_fd(c);
			c->st = C_DOWN;
			c->deadline = now + RETRY_NS;
		} else if (c->st == C_DOWN) {
			reopen(c, now);
		} else if (c->st == C_DRAINING) {
			release(c, now);
		}
	}
}

/* ---- setup ------------------------------------------------------------ */

static void raise_nofile(int need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= (rlim_t)need)
		return;
	if (rl.rlim_max < (rlim_t)need) {
		rl.rlim_max = (rlim_t)need;  /* root may raise the hard limit */
		rl.rlim_cur = (rlim_t)need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return;
		getrlimit(RLIMIT_NOFILE, &rl);
		die("--connections %d needs %d open files; the limit is %llu "
		    "(raise it with ulimit -n)", S.cfg.connections, need,
		    (unsigned long long)rl.rlim_max);
	}
	rl.rlim_cur = (rlim_t)need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit(RLIMIT_NOFILE, %d): %s", need, strerror(errno));
}

static void setup(void)
{
	int n = S.cfg.connections;

	raise_nofile(n + 16);
	S.conns = calloc((size_t)n, sizeof(*S.conns));
	S.freelist = calloc((size_t)n, sizeof(*S.freelist));
	if (!S.conns || !S.freelist)
		die("out of memory");
	for (int i = 0; i < n; i++) {
		S.conns[i].fd = -1;
		S.conns[i].buf = malloc(BUF_SIZE);
		if (!S.conns[i].buf)
			die("out of memory");
	}
	S.ep = epoll_create1(EPOLL_CLOEXEC);
	S.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (S.ep < 0 || S.tfd < 0)
		die("epoll/timerfd: %s", strerror(errno));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TIMER_ID };
	if (epoll_ctl(S.ep, EPOLL_CTL_ADD, S.tfd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	/* Timer wake-ups as exact as the kernel allows (default slack 50us). */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
}

/* Keep-alive: open every connection before the clock starts. */
static void connect_all(void)
{
	uint64_t start = now_ns();
	int pending = S.cfg.connections;

	for (int i = 0; i < S.cfg.connections; i++)
		if (open_conn(&S.conns[i], start) < 0)
			die("connect to %s: %s", S.cfg.target, strerror(errno));
	while (pending > 0) {
		struct epoll_event evs[256];
		int n = epoll_wait(S.ep, evs, 256, 100);

		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		if (interrupted)
			exit(130);
		for (int i = 0; i < n; i++) {
			struct conn *c;
			int err = 0;
			socklen_t len = sizeof(err);

			if (evs[i].data.u32 == TIMER_ID)
				continue;
			c = &S.conns[evs[i].data.u32];
			if (c->st != C_CONNECTING)
				continue;
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err)
				die("connect to %s: %s", S.cfg.target, strerror(err));
			c->st = C_IDLE;
			set_events(c, EPOLLIN);
			pending--;
		}
		if (now_ns() - start > (uint64_t)S.cfg.timeout_ms * NS_PER_MS)
			die("connect to %s: timed out after %d ms", S.cfg.target,
			    S.cfg.timeout_ms);
	}
}

/* ---- main loop -------------------------------------------------------- */

/* Send every request that is due, while a connection is free. */
static void dispatch(void)
{
	bool open_loop = S.cfg.rate > 0;

	while (S.nfree > 0) {
		uint64_t now = now_ns(), intended, ready;
		struct conn *c;

		if (open_loop) {
			intended = sched(S.next_i);
			if (intended > now || intended >= S.we)
				return;
			S.next_i++;
		} else {
			if (now >= S.we)
				return;
			intended = now;
		}
		c = &S.conns[S.freelist[--S.nfree]];
		/* The generator's own lateness: due and sendable, not sent. */
		ready = c->free_since > intended ? c->free_since : intended;
		if (intended >= S.ws && intended < S.we && now > ready) {
			if (now - ready > S.behind_ns)
				S.behind_ns = now - ready;
			if (now - ready > LATE_NS)
				S.late_sends++;
		}
		start_request(c, intended, now);
	}
}

static void arm_timer(uint64_t at, uint64_t *armed)
{
	struct itimerspec its = { 0 };

	if (at == *armed)
		return;
	its.it_value.tv_sec = (time_t)(at / NS_PER_S);
	its.it_value.tv_nsec = (long)(at % NS_PER_S);
	if (timerfd_settime(S.tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		die("timerfd_settime: %s", strerror(errno));
	*armed = at;
}

/* Measured requests still queued (never sent) when the run gives up. */
static void count_unsent(void)
{
	if (S.cfg.rate <= 0)
		return;
	for (uint64_t t; (t = sched(S.next_i)) < S.we; S.next_i++)
		if (t >= S.ws)
			S.timeouts++;
}

/* read the cgroup's CPU usage once as the window opens, once as it ends */
static void cpu_sample(uint64_t now)
{
	if (S.cpu_err)
		return;
	if (!S.cpu_ws_read && now >= S.ws) {
		S.cpu_err = cpu_usage_us(S.cfg.cpu_fd, &S.cpu_ws);
		S.cpu_ws_read = !S.cpu_err;
	} else if (S.cpu_ws_read && !S.cpu_we_read && now >= S.we) {
		S.cpu_err = cpu_usage_us(S.cfg.cpu_fd, &S.cpu_we);
		S.cpu_we_read = !S.cpu_err;
	}
}

static void run(void)
{
	uint64_t scan_ns = (uint64_t)S.cfg.timeout_ms * NS_PER_MS / 4;
	uint64_t next_scan, armed = 0, hard_stop;

	if (scan_ns > 10 * NS_PER_MS)
		scan_ns = 10 * NS_PER_MS;
	if (scan_ns < NS_PER_MS)
		scan_ns = NS_PER_MS;
	if (!S.cfg.newconn)
		connect_all();
	for (int i = S.cfg.connections - 1; i >= 0; i--)
		push_free(&S.conns[i], 0);
	S.t0 = now_ns();
	S.ws = S.t0 + (uint64_t)(S.cfg.warmup * 1e9);
	S.we = S.ws + (uint64_t)(S.cfg.duration * 1e9);
	next_scan = S.t0 + scan_ns;
	/* After the window, queued and in-flight requests get one timeout's
	 * worth of time to finish. */
	hard_stop = S.we + (uint64_t)S.cfg.timeout_ms * NS_PER_MS + 100 * NS_PER_MS;

	for (;;) {
		struct epoll_event evs[512];
		uint64_t now = now_ns(), wake;
		int n, timeout = -1;

		if (interrupted && now < S.we) {
			/* Ctrl-C: end the window now and report. */
			S.we = now > S.ws ? now : S.ws;
			fprintf(stderr, "%s: interrupted; reporting the %.3f s "
				"measured so far\n", prog,
				(double)(S.we - S.ws) / 1e9);
			hard_stop = S.we + (uint64_t)S.cfg.timeout_ms * NS_PER_MS;
		}
		if (S.cfg.cpu_fd >= 0)
			cpu_sample(now);
		if (now >= next_scan) {
			scan_deadlines(now);
			next_scan = now + scan_ns;
		}
		dispatch();
		now = now_ns();
		if (now >= S.we) {
			bool queued = S.cfg.rate > 0 && sched(S.next_i) < S.we;

			S.stopping = !queued;  /* stop reopening once nothing waits */
			if (S.inflight == 0 && !queued)
				break;
			if (now >= hard_stop) {
				for (int i = 0; i < S.cfg.connections; i++) {
					struct conn *c = &S.conns[i];

					if (c->busy && c->measured)
						S.timeouts++;
				}
				count_unsent();
				S.last_errno = ETIMEDOUT;
				break;
			}
			wake = hard_stop;
		} else {
			/* with --cpu-stat-fd, also wake as the window opens */
			wake = S.cfg.cpu_fd >= 0 && !S.cpu_ws_read && !S.cpu_err ? S.ws : S.we;
		}
		if (next_scan < wake)
			wake = next_scan;
		if (S.cfg.rate > 0 && S.nfree > 0) {
			/* Sleep until spin_ns before the next send, then spin. */
			uint64_t due = sched(S.next_i), spin_ns;

			spin_ns = (uint64_t)S.cfg.spin_us * 1000;
			due = due > spin_ns ? due - spin_ns : 0;
			if (due < wake)
				wake = due;
		}
		if (wake <= now)
			timeout = 0;
		else
			arm_timer(wake, &armed);

		n = epoll_wait(S.ep, evs, 512, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == TIMER_ID) {
				uint64_t ticks;

				if (read(S.tfd, &ticks, sizeof(ticks)) < 0 &&
				    errno != EAGAIN)
					die("timerfd read: %s", strerror(errno));
				armed = 0;
				continue;
			}
			on_event(&S.conns[evs[i].data.u32]);
		}
	}
	/* the loop can end in the pass that crossed the window's end */
	if (S.cfg.cpu_fd >= 0 && S.cpu_ws_read)
		cpu_sample(UINT64_MAX);
	for (int i = 0; i < S.cfg.connections; i++)
		close_fd(&S.conns[i]);
}

/* ---- report ----------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile; q in thousandths (999 = p99.9). */
static double pct_us(unsigned q)
{
	size_t rank;

	if (!S.nsamples)
		return 0;
	rank = (size_t)(((uint64_t)S.nsamples * q + 999) / 1000);
	if (rank < 1)
		rank = 1;
	return (double)S.samples[rank - 1] / 1e3;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void report(void)
{
	double window = S.we > S.ws ? (double)(S.we - S.ws) / 1e9 : 0;
	double achieved = window > 0 ? (double)S.completed_in_window / window : 0;
	uint64_t requests = S.responses + S.conn_errors + S.timeouts;
	uint64_t errors = S.non2xx + S.conn_errors + S.timeouts;
	double behind_ms = (double)S.behind_ns / 1e6;
	double mean = S.nsamples ? (double)S.sum_ns / (double)S.nsamples / 1e3 : 0;
	const char *mode = S.cfg.newconn ? "newconn" : "keepalive";
	double p50, p90, p99, p999, max;

	if (S.nsamples)
		qsort(S.samples, S.nsamples, sizeof(*S.samples), cmp_u64);
	p50 = pct_us(500);
	p90 = pct_us(900);
	p99 = pct_us(990);
	p999 = pct_us(999);
	max = pct_us(1000);

	if (S.cfg.json) {
		printf("{\"target\":");
		json_string(S.cfg.target);
		printf(",\"path\":");
		json_string(S.cfg.path);
		printf(",\"mode\":\"%s\",\"rate\":%.15g,\"duration_s\":%.3f,"
		       "\"connections\":%d,\"requests\":%" PRIu64
		       ",\"errors\":%" PRIu64 ",\"achieved_rps\":%.1f,"
		       "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
		       "\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
		       "\"behind_ms\":%.3f,\"late_sends\":%" PRIu64
		       ",\"non2xx\":%" PRIu64
		       ",\"conn_errors\":%" PRIu64 ",\"timeouts\":%" PRIu64
		       ",\"dropped_samples\":%" PRIu64,
		       mode, S.cfg.rate, window, S.cfg.connections, requests,
		       errors, achieved, p50, p90, p99, p999, max, mean,
		       behind_ms, S.late_sends, S.non2xx, S.conn_errors, S.timeouts,
		       S.dropped);
		if (S.cpu_we_read)
			printf(",\"cpu_us\":%" PRIu64, S.cpu_we - S.cpu_ws);
		printf("}\n");
	} else {
		printf("target       %s\n", S.cfg.target);
		printf("path         %s\n", S.cfg.path);
		printf("mode         %s, %d connection%s\n", mode,
		       S.cfg.connections, S.cfg.connections == 1 ? "" : "s");
		if (S.cfg.rate > 0)
			printf("rate         %.15g req/s (open loop, latency from intended send time)\n",
			       S.cfg.rate);
		else
			printf("rate         max (closed loop, latency = response time)\n");
		printf("duration     %.3f s measured (+%g s warmup)\n", window,
		       S.cfg.warmup);
		printf("requests     %" PRIu64 "\n", requests);
		printf("errors       %" PRIu64 " (non-2xx %" PRIu64 ", connection %"
		       PRIu64 ", timeout %" PRIu64 ")\n", errors, S.non2xx,
		       S.conn_errors, S.timeouts);
		printf("achieved     %.1f req/s\n", achieved);
		printf("p50          %.1f us\n", p50);
		printf("p90          %.1f us\n", p90);
		printf("p99          %.1f us\n", p99);
		printf("p99.9        %.1f us\n", p999);
		printf("max          %.1f us\n", max);
		printf("mean         %.1f us\n", mean);
		printf("behind       %.3f ms (%" PRIu64 " sends more than 1 ms late)\n",
		       behind_ms, S.late_sends);
		if (S.dropped)
			printf("unrecorded   %" PRIu64 " latencies (sample cap %lu reached)\n",
			       S.dropped, MAX_SAMPLES);
		if (S.cpu_we_read)
			printf("cpu          %" PRIu64 " us (the cgroup of --cpu-stat-fd, in the window)\n",
			       S.cpu_we - S.cpu_ws);
	}
	fflush(stdout);

	if (S.conn_errors + S.timeouts && S.last_errno)
		fprintf(stderr, "%s: %" PRIu64 " requests failed; last error: %s\n",
			prog, S.conn_errors + S.timeouts, strerror(S.last_errno));
	if (S.cpu_err)
		fprintf(stderr, "%s: warning: --cpu-stat-fd: cannot read usage_usec: %s\n", prog,
			strerror(-S.cpu_err));
	if (S.dropped)
		fprintf(stderr, "%s: warning: more than %lu latencies; %" PRIu64
			" were not recorded and are missing from the percentiles\n",
			prog, MAX_SAMPLES, S.dropped);
	if (behind_ms > BEHIND_WARN_MS)
		fprintf(stderr, "%s: warning: the sender fell up to %.1f ms behind "
			"its schedule (%" PRIu64 " of %" PRIu64 " sends more than "
			"1 ms late): the generator could not keep up and those "
			"latencies include its own delay\n", prog, behind_ms,
			S.late_sends, requests);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal,
				.sa_flags = SA_RESETHAND };

	parse_args(&S.cfg, argc, argv);
	if (S.cfg.cpu_fd >= 0) {
		uint64_t us;
		int err = cpu_usage_us(S.cfg.cpu_fd, &us);

		if (err)
			usage_error("--cpu-stat-fd %d: not a readable cgroup cpu.stat (%s)", S.cfg.cpu_fd,
				    strerror(-err));
	}
	S.req = build_request(&S.cfg, &S.req_len);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setup();
	run();
	report();
	return 0;
}
