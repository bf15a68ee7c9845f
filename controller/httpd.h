/* SPDX-License-Identifier: MIT */
/*
 * The API's HTTP/1.1 server on a unix socket: requests with Content-Length
 * bodies (at most HTTPD_MAX_BODY), parsed with the router's strict parser,
 * answered by one handler call in the controller's event loop. Responses
 * are queued and written as the socket takes them, so a slow client never
 * stalls the loop.
 *
 * Every connection is bounded in time and memory, so that no client can
 * hold the API for others:
 * - a request's head and body must arrive within HTTPD_REQUEST_TIMEOUT_MS
 *   of its first byte (else 408 and close);
 * - a kept-alive connection idle for HTTPD_IDLE_TIMEOUT_MS is closed;
 * - a client that takes no byte of its answer for HTTPD_WRITE_TIMEOUT_MS
 *   is dropped; an answer is at most HTTPD_MAX_ANSWER bytes (else 500);
 * - at HTTPD_MAX_CONNS connections, the one idle the longest (no request
 *   in progress) is closed to make room; when none is idle, the oldest
 *   unfinished request of the client (uid, then pid) holding the most, if
 *   it holds two more than the newcomer's; else the newcomer
 *   gets a 503 (up to HTTPD_MAX_REFUSING of them at a time, each closed
 *   after its answer and a short drain of what it sent, so that it reads
 *   the answer rather than a reset).
 */
#ifndef AZDS_HTTPD_H
#define AZDS_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#define HTTPD_MAX_BODY (1u << 20)
#define HTTPD_MAX_ANSWER (64u << 20)
#define HTTPD_MAX_CONNS 256
#define HTTPD_MAX_REFUSING 64
#define HTTPD_MAX_QUERY 8
#define HTTPD_REQUEST_TIMEOUT_MS 10000
#define HTTPD_IDLE_TIMEOUT_MS 60000
#define HTTPD_WRITE_TIMEOUT_MS 10000
#define HTTPD_PARK_POLL_MS 100 /* how often a parked request's handler is called again */

struct httpd;

struct httpd_req {
	char method[8];
	char path[1024];   /* percent-decoded, without the query; no NUL inside */
	struct {
		char key[32];
		char val[512]; /* percent-decoded; no NUL inside */
	} query[HTTPD_MAX_QUERY];
	int nquery;
	const char *body;  /* raw body (NUL-terminated copy), NULL if none */
	size_t body_len;
	uid_t uid;         /* the caller (SO_PEERCRED) */
	pid_t pid;
	/* 0 on a request's first handler call; once parked, when it was
	 * (httpd_now_ms), kept for every later call of the same request */
	int64_t parked_since_ms;
};

struct httpd_resp {
	int status;
	json_t *json;          /* body (stolen), or */
	char *raw;             /* raw body (freed), with content_type */
	size_t raw_len;
	const char *content_type;
	char extra_headers[256];
	/* a handler may park the request: it is called again with the same
	 * req (req->parked_since_ms set) every HTTPD_PARK_POLL_MS or sooner
	 * until it answers; it keeps its own deadline. A parked request's
	 * client that goes away is forgotten: its handler is not called again. */
	bool park;
};

/* returns nothing: fills resp (status 0 means 500) */
typedef void (*httpd_handler)(void *ctx, const struct httpd_req *req, struct httpd_resp *resp);

int httpd_open(struct httpd **out, const char *sock_path, gid_t gid, httpd_handler h, void *ctx);
void httpd_close(struct httpd *h); /* closes every connection and unlinks the socket */
/* register the listener and connections with epfd; events carry data.ptr
 * = the httpd (listener) or a connection; httpd_event dispatches both */
int httpd_epoll(struct httpd *h, int epfd);
bool httpd_owns(struct httpd *h, void *ptr);
void httpd_event(struct httpd *h, void *ptr, uint32_t events);
/* parked requests and expired deadlines; call it after each batch of
 * events (connections closed during a batch are freed here, so that a
 * later event of the same batch never reaches a new connection at the
 * same address) */
void httpd_tick(struct httpd *h);
/* ms until httpd_tick is next due (a parked request, a deadline), at most
 * cap: the event loop's timeout */
int httpd_next_deadline_ms(struct httpd *h, int cap);

/* helpers for handlers */
const char *httpd_query(const struct httpd_req *r, const char *key);
bool httpd_query_true(const struct httpd_req *r, const char *key);
/* a whole decimal number, digits only: false for anything else ("-5", " 5", "5x") */
bool httpd_parse_u64(const char *s, uint64_t *out);
void httpd_error(struct httpd_resp *w, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void httpd_json(struct httpd_resp *w, int status, json_t *body);
int64_t httpd_now_ms(void);

#endif
