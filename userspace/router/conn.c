// SPDX-License-Identifier: MIT
/*
 * Buffers and non-blocking sockets of azds-router. Sockets are
 * edge-triggered: can_read/can_write remember readiness until a call
 * returns EAGAIN, or a read finds the socket drained (read_drain).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "router.h"

uint64_t router_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t buf_len(const struct buf *b)
{
	return b->end - b->start;
}

/*
 * Each worker keeps a few freed buffers for the next connection that needs
 * one, at most BUF_SPARE of them and BUF_SPARE_BYTES in all. Every exchange
 * takes a client and an upstream buffer and gives them back when its
 * connections go idle; from malloc, that churn of 16 and 64 KiB blocks made
 * glibc trim and refault its arena (an madvise every 15 requests at the
 * maximum, and the page faults behind each).
 */
#define BUF_SPARE 16
#define BUF_SPARE_BYTES (512 * 1024)

static __thread struct {
	char *data[BUF_SPARE];
	size_t cap[BUF_SPARE];
	unsigned n;
	size_t bytes;
} spare;

static char *spare_take(size_t cap)
{
	for (unsigned i = spare.n; i-- > 0;) {
		if (spare.cap[i] == cap) {
			char *p = spare.data[i];

			spare.n--;
			spare.data[i] = spare.data[spare.n];
			spare.cap[i] = spare.cap[spare.n];
			spare.bytes -= cap;
			return p;
		}
	}
	return malloc(cap);
}

static void spare_give(char *p, size_t cap)
{
	if (!p)
		return;
	if (spare.n == BUF_SPARE || spare.bytes + cap > BUF_SPARE_BYTES) {
		free(p);
		return;
	}
	spare.data[spare.n] = p;
	spare.cap[spare.n++] = cap;
	spare.bytes += cap;
}

/* A worker's spare buffers go with it. */
void buf_spare_drop(void)
{
	while (spare.n)
		free(spare.data[--spare.n]);
	spare.bytes = 0;
}

int buf_reserve(struct buf *b, size_t cap)
{
	if (!b->data) {
		b->data = spare_take(cap);
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
void buf_release_if_empty(struct buf *b)
{
	if (b->data && b->start == b->end) {
		spare_give(b->data, b->cap);
		b->data = NULL;
		b->cap = b->start = b->end = 0;
	}
}

void buf_free(struct buf *b)
{
	spare_give(b->data, b->cap);
	memset(b, 0, sizeof(*b));
}

bool conn_budget(struct router *r)
{
	return atomic_load_explicit(&r->sh->nconns, memory_order_relaxed) < r->cfg.max_conns;
}

struct conn *conn_new(struct router *r, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };

	if (!c)
		return NULL;
	c->fd = fd;
	azds_pod_budget_init(&c->rx);
	ev.data.ptr = c;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		free(c);
		return NULL;
	}
	atomic_fetch_add_explicit(&r->sh->nconns, 1, memory_order_relaxed);
	return c;
}

static void rx_unwait(struct router *r, struct conn *c)
{
	if (!c->rx_waiting)
		return;
	if (c->rx_prev)
		c->rx_prev->rx_next = c->rx_next;
	else
		r->rx_wait = c->rx_next;
	if (c->rx_next)
		c->rx_next->rx_prev = c->rx_prev;
	c->rx_next = c->rx_prev = NULL;
	c->rx_waiting = false;
}

/*
 * With sockmap, what the router sends toward a pod may skip the TCP stack
 * into the pod socket's redirected queue, where no TCP window stops it
 * (dataplane.h, azds_msg_router). So the router keeps that queue bounded
 * itself (azds_pod_budget): at most AZDS_POD_RX_BYTES bytes and
 * AZDS_POD_RX_MSGS sends beyond what it last learnt the pod had read. A pod
 * that holds its bound gets nothing more until it reads: the connection
 * waits, asked again after 1 ms, then 2, 4, ... 64. Every send is counted,
 * redirected or not, so the bound holds whichever way a message went.
 */
static void rx_wait(struct router *r, struct conn *c)
{
	c->can_write = false;
	if (c->rx_waiting)
		return;
	c->rx_backoff_ms = 1;
	c->rx_retry_ms = r->now_ms + 1;
	c->rx_prev = NULL;
	c->rx_next = r->rx_wait;
	if (r->rx_wait)
		r->rx_wait->rx_prev = c;
	r->rx_wait = c;
	c->rx_waiting = true;
}

void router_rx_retry(struct router *r)
{
	struct conn *c = r->rx_wait;

	while (c) {
		struct conn *next = c->rx_next;

		if (c->rx_retry_ms <= r->now_ms) {
			int err;

			if (c->fd >= 0 && azds_pod_budget_take(&c->rx, r->sh->peer_queue_fd, c->fd, 1, &err)) {
				rx_unwait(r, c);
				c->can_write = true;
				if (c->s) {
					/* advancing may close any conn of the list:
					 * start over (the kicked one is off it) */
					router_kick(c->s);
					c = r->rx_wait;
					continue;
				}
			} else {
				c->rx_backoff_ms = c->rx_backoff_ms >= 64 ? 64 : c->rx_backoff_ms * 2;
				c->rx_retry_ms = r->now_ms + c->rx_backoff_ms;
			}
		}
		c = next;
	}
}

int router_rx_timeout(const struct router *r)
{
	uint64_t due = UINT64_MAX;

	for (const struct conn *c = r->rx_wait; c; c = c->rx_next)
		if (c->rx_retry_ms < due)
			due = c->rx_retry_ms;
	if (due == UINT64_MAX)
		return -1;
	return due <= r->now_ms ? 0 : (int)(due - r->now_ms);
}

/*
 * The struct outlives the socket until router_reap(): an event for it may
 * still sit in the current epoll batch.
 */
void conn_close(struct router *r, struct conn *c)
{
	if (!c || c->fd < 0)
		return;
	if (c->pb)
		pool_unlink(r, c);
	rx_unwait(r, c);
	/* epoll forgets a descriptor when it is closed */
	close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
	atomic_fetch_sub_explicit(&r->sh->nconns, 1, memory_order_relaxed);
	c->pool_next = r->grave;
	r->grave = c;
}

/*
 * One read that also tells whether the socket is drained. With sockmap a
 * socket may hold bytes in its redirected queue and in its receive queue at
 * once, and one read returns those of the first alone, short
 * (docs/architecture.md): a short read does not mean "drained", and under
 * edge triggering nothing would say the rest is there. So the read is
 * recvmmsg of two: the room but one byte, then one byte. A second read that
 * finds nothing (EAGAIN; the call returns one) means both queues were empty
 * behind the first, and no EAGAIN read is needed; a byte or EOF there
 * means more, and the connection stays readable. The call also returns one
 * when the second read fails otherwise (the kernel keeps that error in
 * sk_err for the next call): such an error is a reset or a timeout, whose
 * wake-up either raises an edge still to come or came with the event being
 * served, which set rdhup, and then reads are plain. Returns the bytes
 * read, 0 at EOF, -1 with errno; sets *drained only when it is.
 */
static ssize_t read_drain(int fd, char *p, size_t room, bool *drained)
{
	char probe;
	struct iovec iov[2] = { { p, room - 1 }, { &probe, 1 } };
	struct mmsghdr mm[2] = { { .msg_hdr = { .msg_iov = &iov[0], .msg_iovlen = 1 } },
				 { .msg_hdr = { .msg_iov = &iov[1], .msg_iovlen = 1 } } };
	int k = recvmmsg(fd, mm, 2, MSG_DONTWAIT, NULL);

	if (k < 0)
		return -1;
	if (mm[0].msg_len == 0)
		return 0;
	if (k == 1) {
		*drained = true;
	} else if (mm[1].msg_len == 1) {
		p[mm[0].msg_len] = probe;
		return (ssize_t)mm[0].msg_len + 1;
	}
	/* else the bytes, then EOF: the next read says so */
	return (ssize_t)mm[0].msg_len;
}

/* Read what the socket has, up to the buffer's room. True if anything moved. */
bool conn_fill(struct conn *c, size_t cap)
{
	size_t room;
	bool drained = false; /* a plain read says nothing of it */
	ssize_t n;

	if (!c->can_read || c->eof || c->error || c->connecting) {
		/* nothing to read for now: an idle tunnel or a request waiting
		 * on its backend keeps no buffer either */
		buf_release_if_empty(&c->in);
		return false;
	}
	if (buf_reserve(&c->in, cap)) {
		c->error = true;
		return true;
	}
	if (c->in.end == c->in.cap)
		return false;
	room = c->in.cap - c->in.end;
	/* after a hangup: plain reads on to EOF, there is no other edge */
	if (room >= 2 && !c->rdhup)
		n = read_drain(c->fd, c->in.data + c->in.end, room, &drained);
	else
		n = read(c->fd, c->in.data + c->in.end, room);
	if (n > 0) {
		c->in.end += (size_t)n;
		if (drained)
			c->can_read = false; /* what comes next raises an edge */
		return true;
	}
	if (n == 0) {
		c->eof = true;
		return true;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->can_read = false;
		buf_release_if_empty(&c->in); /* an idle connection keeps no buffer */
		return false;
	}
	if (errno == EINTR)
		return true;
	c->error = true;
	return true;
}

/* Write up to len bytes; returns bytes written (0 when the socket is full). */
size_t conn_write(struct conn *c, const char *p, size_t len)
{
	ssize_t n;

	if (!c->can_write || c->error || c->connecting || len == 0)
		return 0;
	if (c->s) {
		struct router *r = session_router(c->s);
		int err;

		len = azds_pod_budget_take(&c->rx, r->sh->peer_queue_fd, c->fd, len, &err);
		if (len == 0) {
			rx_wait(r, c);
			return 0;
		}
	}
	n = send(c->fd, p, len, MSG_NOSIGNAL);
	if (n > 0)
		azds_pod_budget_sent(&c->rx, (size_t)n);
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
