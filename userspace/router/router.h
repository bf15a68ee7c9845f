/* SPDX-License-Identifier: MIT */
#ifndef AZDS_ROUTER_H
#define AZDS_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include "http_parse.h"
#include "route.h"

/* Router settings: one table with defaults and bounds (see main.c). */
struct router_cfg {
	char instance[32];
	char netns[64];
	unsigned port;
	unsigned max_conns;
	unsigned max_head_bytes;
	unsigned max_headers;
	uint64_t max_body_bytes;
	unsigned header_timeout_ms;
	unsigned idle_timeout_ms;
	unsigned tunnel_idle_timeout_ms;
	unsigned upstream_timeout_ms;
	unsigned max_idle_upstreams;
	bool access_log;
	bool redirect_mode; /* original destination from SO_ORIGINAL_DST (iptables REDIRECT) */
};

struct buf {
	char *data;
	size_t cap, start, end;
};

struct session;

struct conn {
	int fd;
	bool can_read, can_write, eof, connecting, error, reused, shut_wr, rdhup;
	struct buf in;
	struct session *s;          /* NULL while idle in the pool */
	struct sockaddr_in addr;    /* upstream: the backend */
	struct conn *pool_next;     /* idle list of one pool bucket */
	struct conn **pool_pprev;
	uint64_t idle_since_ms;
};

struct router {
	struct router_cfg cfg;
	struct router_maps rm;
	int epfd, lfd;
	int reserve_fd; /* spare descriptor for EMFILE at accept */
	unsigned nconns;
	unsigned nidle;
	struct session *sessions; /* all live sessions, for the timeout sweep */
	struct conn *pool[1024];
	unsigned rr;
	uint64_t now_ms;
	uint64_t requests;
	char log[65536]; /* access log, written in one call per sweep */
	size_t log_len;
	struct conn *grave;
	struct session *grave_sessions;
	volatile int stop;
};

uint64_t router_now_ms(void);
int router_accept(struct router *r);
void router_event(struct router *r, struct conn *c, uint32_t events);
void router_sweep(struct router *r);
void router_shutdown(struct router *r);
void router_reap(struct router *r);
void router_log(struct router *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void router_log_flush(struct router *r);

#endif
