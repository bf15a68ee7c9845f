// SPDX-License-Identifier: MIT
/*
 * The upstream pool of one worker. An upstream connection returns here at
 * the end of every complete exchange and serves any session of the worker
 * next, whichever client or space it came from, so idle keep-alive clients
 * hold no backend connections and a new client connection needs no new
 * backend connection.
 *
 * What may be reused is strict: only a drained connection is pooled (its
 * last read found both queues empty, or a peek does), and one the backend
 * wrote to or closed while idle is discarded (epoll tells); the oldest idle
 * connection is reused first, so each one sits idle as long as possible
 * before it carries another exchange; and
 * everything pooled under an older routing generation is dropped, so a
 * removed pod or service is never reached through the pool.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include "router.h"

static unsigned bucket(const struct sockaddr_in *a)
{
	uint32_t h = a->sin_addr.s_addr * 2654435761u ^ a->sin_port;

	return (h >> 7) & (POOL_BUCKETS - 1);
}

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static struct pool_backend **find(struct router *r, const struct sockaddr_in *a)
{
	struct pool_backend **pp = &r->pool[bucket(a)];

	while (*pp && !same_addr(&(*pp)->addr, a))
		pp = &(*pp)->next;
	return pp;
}

void pool_unlink(struct router *r, struct conn *c)
{
	struct pool_backend *pb = c->pb;

	if (!pb)
		return;
	if (c->pool_prev)
		c->pool_prev->pool_next = c->pool_next;
	else
		pb->head = c->pool_next;
	if (c->pool_next)
		c->pool_next->pool_prev = c->pool_prev;
	else
		pb->tail = c->pool_prev;
	c->pool_next = c->pool_prev = NULL;
	c->pb = NULL;
	pb->n--;
	r->nidle--;
	if (pb->n == 0) {
		struct pool_backend **pp = find(r, &pb->addr);

		*pp = pb->next;
		free(pb);
	}
}

/* Nothing waiting and not closed: what a reusable upstream looks like. */
static bool quiet(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void pool_sync(struct router *r)
{
	route_sync(&r->rm);
	if (r->pool_gen != r->rm.seen_gen) {
		pool_flush(r);
		r->pool_gen = r->rm.seen_gen;
	}
}

/*
 * Callers bring the pool to the routing generation first (pool_put does).
 * No syscall checks a connection here: it was drained when it was pooled
 * (pool_put), so anything the backend wrote or a close since then raised an
 * edge, and the worker closes a pooled connection with an edge before it
 * runs any session of that batch of events (router_note_events). What is
 * left is what arrives between the worker's epoll_wait and this reuse,
 * which no check made before the request is sent can rule out either.
 */
struct conn *pool_take(struct router *r, const struct sockaddr_in *a)
{
	struct pool_backend *pb = *find(r, a);
	struct conn *c;

	if (!pb)
		return NULL;
	c = pb->head;
	pool_unlink(r, c); /* frees pb with its last connection */
	c->reused = true;
	return c;
}

void pool_put(struct router *r, struct conn *c)
{
	struct pool_backend **pp, *pb;

	c->s = NULL;
	pool_sync(r);
	if (r->draining || c->no_reuse || c->eof || c->error || c->rdhup || c->connecting || buf_len(&c->in) ||
	    c->gen != r->pool_gen || r->nidle >= r->cfg.max_idle_upstreams) {
		conn_close(r, c);
		return;
	}
	pp = find(r, &c->addr);
	pb = *pp;
	if ((pb && pb->n >= r->cfg.max_idle_per_backend) || (c->can_read && !quiet(c->fd))) {
		conn_close(r, c);
		return;
	}
	if (!pb) {
		pb = calloc(1, sizeof(*pb));
		if (!pb) {
			conn_close(r, c);
			return;
		}
		pb->addr = c->addr;
		*pp = pb;
	}
	buf_release_if_empty(&c->in);
	c->can_read = false; /* drained: the next bytes raise an edge */
	c->pool_next = NULL;
	c->pool_prev = pb->tail;
	if (pb->tail)
		pb->tail->pool_next = c;
	else
		pb->head = c;
	pb->tail = c;
	pb->n++;
	c->pb = pb;
	c->idle_since_ms = r->now_ms;
	r->nidle++;
}

/* Close every pooled connection idle for longer than the pool's timeout. */
void pool_expire(struct router *r)
{
	for (unsigned b = 0; b < POOL_BUCKETS; b++) {
		struct pool_backend *pb = r->pool[b], *next;

		for (; pb; pb = next) {
			next = pb->next;
			/* oldest first: stop at the first one still young */
			while (pb) {
				struct conn *c = pb->head;
				bool last = pb->n == 1;

				if (r->now_ms - c->idle_since_ms <= r->cfg.pool_idle_timeout_ms)
					break;
				conn_close(r, c);
				if (last)
					break;
			}
		}
	}
}

void pool_evict(struct router *r)
{
	for (unsigned i = 0; i < POOL_BUCKETS && r->nidle; i++) {
		unsigned b = (r->rr + i) & (POOL_BUCKETS - 1);

		if (r->pool[b]) {
			conn_close(r, r->pool[b]->head);
			return;
		}
	}
}

void pool_flush(struct router *r)
{
	for (unsigned b = 0; b < POOL_BUCKETS; b++)
		while (r->pool[b])
			conn_close(r, r->pool[b]->head);
}

struct conn *upstream_connect(struct router *r, const struct sockaddr_in *a)
{
	int one = 1, fd;
	struct conn *c;

	/* upstreams count against the same budget as clients; idle ones
	 * give way to a busy one */
	if (!conn_budget(r))
		pool_evict(r);
	if (!conn_budget(r))
		router_evict_idle(r, 0);
	if (!conn_budget(r))
		return NULL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) && errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	c = conn_new(r, fd);
	if (!c) {
		close(fd);
		return NULL;
	}
	c->addr = *a;
	{
		/* the port is bound by connect(), before the handshake ends */
		struct sockaddr_in me;
		socklen_t len = sizeof(me);

		if (r->dec && getsockname(fd, (struct sockaddr *)&me, &len) == 0)
			c->lport = me.sin_port;
	}
	c->connecting = true;
	c->connect_since_ms = r->now_ms;
	c->gen = r->pool_gen;
	r->upstream_connects++;
	return c;
}
