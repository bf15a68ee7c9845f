/* SPDX-License-Identifier: MIT */
/*
 * The API's HTTP/1.1 server on a unix socket: requests with Content-Length
 * bodies (at most HTTPD_MAX_BODY), parsed with the router's strict parser,
 * answered by one handler call in the controller's event loop. Responses
 * are queued and written as the socket takes them, so a slow client never
 * stalls the loop.
 */
#ifndef AZDS_HTTPD_H
#define AZDS_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#define HTTPD_MAX_BODY (1u << 20)
#define HTTPD_MAX_CONNS 256
#define HTTPD_MAX_QUERY 8

struct httpd;

struct httpd_req {
	char method[8];
	char path[1024];   /* percent-decoded, without the query */
	struct {
		char key[32];
		char val[512];
	} query[HTTPD_MAX_QUERY];
	int nquery;
	const char *body;  /* raw body (NUL-terminated copy), NULL if none */
	size_t body_len;
	uid_t uid;         /* the caller (SO_PEERCRED) */
	pid_t pid;
};

struct httpd_resp {
	int status;
	json_t *json;          /* body (stolen), or */
	char *raw;             /* raw body (freed), with content_type */
	size_t raw_len;
	const char *content_type;
	char extra_headers[256];
	/* a handler may park the request: it is called again (with the same
	 * req) at each tick until it answers or the deadline passes */
	bool park;
	int64_t park_deadline_ms;
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
void httpd_tick(struct httpd *h); /* parked requests */
bool httpd_has_parked(struct httpd *h);

/* helpers for handlers */
const char *httpd_query(const struct httpd_req *r, const char *key);
bool httpd_query_true(const struct httpd_req *r, const char *key);
void httpd_error(struct httpd_resp *w, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void httpd_json(struct httpd_resp *w, int status, json_t *body);
int64_t httpd_now_ms(void);

#endif
