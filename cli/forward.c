// SPDX-License-Identifier: MIT
/*
 * The forward of azds up (forward.h): one accepting thread, and per
 * connection two relaying threads, one per direction, each reading until
 * EOF and passing the half-close on. Blocking sockets: a direction that
 * cannot write waits without holding up the other.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "azds.h"
#include "client.h"
#include "forward.h"
#include "opts.h"

#define RELAY_BUF 65536
#define RELAY_STACK (256 * 1024)

struct forward {
	int lfd;
	unsigned ingress_port;
	char preamble[16 + AZDS_NAME_MAX + AZDS_PATH_MAX];
	size_t plen;
	_Atomic int conns;
	_Atomic int refused_said; /* the limit is said once */
};

struct relay {
	struct forward *f;
	int cli, up;
	_Atomic int halves; /* directions still running; the last closes both */
};

struct half {
	struct relay *r;
	int from, to;
};

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void relay_done(struct relay *r)
{
	if (atomic_fetch_sub(&r->halves, 1) != 1)
		return;
	close(r->cli);
	close(r->up);
	atomic_fetch_sub(&r->f->conns, 1);
	free(r);
}

static void *half_run(void *arg)
{
	struct half h = *(struct half *)arg;
	char *buf = malloc(RELAY_BUF);

	free(arg);
	for (;;) {
		ssize_t n = buf ? read(h.from, buf, RELAY_BUF) : -1;

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			shutdown(h.to, SHUT_WR); /* the half-close goes on */
			break;
		}
		if (n < 0 || send_all(h.to, buf, (size_t)n)) {
			/* a broken side ends both directions */
			shutdown(h.from, SHUT_RDWR);
			shutdown(h.to, SHUT_RDWR);
			break;
		}
	}
	free(buf);
	relay_done(h.r);
	return NULL;
}

static int spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t at;
	pthread_t t;
	int err;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, RELAY_STACK);
	err = pthread_create(&t, &at, fn, arg);
	pthread_attr_destroy(&at);
	return -err;
}

static int ingress_connect(const struct forward *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)f->ingress_port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) || send_all(fd, f->preamble, f->plen)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One accepted connection: the ingress connection, then both directions. */
static void *conn_run(void *arg)
{
	struct relay *r = arg;
	struct half *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	r->up = ingress_connect(r->f);
	if (r->up < 0 || !a || !b) {
		close(r->cli);
		if (r->up >= 0)
			close(r->up);
		atomic_fetch_sub(&r->f->conns, 1);
		free(a);
		free(b);
		free(r);
		return NULL;
	}
	*a = (struct half){ r, r->cli, r->up };
	*b = (struct half){ r, r->up, r->cli };
	atomic_store(&r->halves, 2);
	if (spawn(half_run, b)) {
		/* one direction alone is no connection: end it */
		free(a);
		free(b);
		atomic_store(&r->halves, 1);
		relay_done(r);
		return NULL;
	}
	return half_run(a);
}

static void *accept_run(void *arg)
{
	struct forward *f = arg;

	for (;;) {
		int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC), one = 1;
		struct relay *r;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				usleep(100 * 1000); /* out of resources: the connection waits in the backlog */
				continue;
			}
			fprintf(stderr, "azds: forward on 127.0.0.1: accept: %s; the forward stops\n", strerror(errno));
			return NULL;
		}
		if (atomic_fetch_add(&f->conns, 1) >= AZDS_FORWARD_MAX_CONNS) {
			atomic_fetch_sub(&f->conns, 1);
			if (!atomic_exchange(&f->refused_said, 1))
				fprintf(stderr, "azds: forward: %d connections at once, its limit: more are closed\n",
					AZDS_FORWARD_MAX_CONNS);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		r = calloc(1, sizeof(*r));
		if (!r || (r->f = f, r->cli = fd, spawn(conn_run, r))) {
			free(r);
			close(fd);
			atomic_fetch_sub(&f->conns, 1);
		}
	}
}

/* The ingress's port from the controller's status; -ENOTCONN (said) if none. */
static int ingress_port(unsigned *port)
{
	struct api_reply r;
	const json_t *in;
	int err = api_get("/v1/status", &r);

	if (err)
		return err; /* api_call said why */
	in = json_object_get(r.json, "ingress");
	if (!json_is_true(json_object_get(in, "listening")) || jint(in, "port", 0) <= 0) {
		const char *why = !in			 ? "its controller is older than the ingress"
				  : jint(in, "port", 0) <= 0 ? "it runs with --ingress-port 0"
							     : jstr(in, "error", "not listening");

		fprintf(stderr, "azds: forward: instance %s has no local ingress: %s\n", cli_instance, why);
		api_reply_free(&r);
		return -ENOTCONN;
	}
	*port = (unsigned)jint(in, "port", 0);
	api_reply_free(&r);
	return 0;
}

static int listen_local(int want, int *got)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)want) };
	socklen_t al = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(fd, 128) || getsockname(fd, (struct sockaddr *)&a, &al)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*got = ntohs(a.sin_port);
	return fd;
}

int azds_forward_start(const char *instance, const char *service, const char *space, int *port_out)
{
	struct forward *f;
	struct azds_err e;
	sigset_t all, old;
	int err, want = port_out ? *port_out : 0;

	if (instance)
		cli_instance = instance; /* the CLI talks to one instance */
	if (azds_name_valid("service", service, &e) || azds_space_path_valid(space, &e)) {
		fprintf(stderr, "azds: forward: %s\n", e.msg);
		return -EINVAL;
	}
	if (want < 0 || want > 65535) {
		fprintf(stderr, "azds: forward: port %d: must be in 0..65535\n", want);
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	err = ingress_port(&f->ingress_port);
	if (err) {
		free(f);
		return err;
	}
	f->plen = (size_t)snprintf(f->preamble, sizeof(f->preamble), "AZDS-FORWARD %s %s\r\n", service, space);
	f->lfd = listen_local(want, port_out);
	if (f->lfd < 0) {
		err = f->lfd;
		fprintf(stderr, "azds: forward: listen on 127.0.0.1:%d: %s\n", want, strerror(-err));
		free(f);
		return err;
	}
	/* the relays take no signals: Ctrl-C is the CLI's */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = spawn(accept_run, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		fprintf(stderr, "azds: forward: start a thread: %s\n", strerror(-err));
		close(f->lfd);
		free(f);
		return err;
	}
	return 0; /* f lives as long as the process */
}
