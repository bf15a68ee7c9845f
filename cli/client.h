/* SPDX-License-Identifier: MIT */
/*
 * The controller's API client: HTTP/1.1 over /run/azds/<instance>/api.sock
 * (libcurl), JSON bodies (jansson). docs/api.md is the contract.
 */
#ifndef AZDS_CLI_CLIENT_H
#define AZDS_CLI_CLIENT_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

struct api_reply {
	long status;
	json_t *json;     /* the body when it is JSON, else NULL */
	char *body;       /* the raw body (NUL-terminated), unless streamed */
	size_t len;
	long long offset; /* X-Azds-Log-Offset, -1 when absent */
};

struct api_req {
	const char *method;
	const char *path;  /* "/v1/spaces/dev" */
	json_t *body;      /* sent as JSON when not NULL (not stolen) */
	FILE *stream;      /* a 2xx body goes here as it arrives instead of into body */
	long timeout_s;    /* 0: the default */
};

/* the API socket of cli_instance */
const char *api_socket(void);

/*
 * One exchange. 0 when an HTTP answer arrived (whatever its status), else
 * -errno: -ENOENT or -ECONNREFUSED (nobody serves the socket), -EACCES,
 * -EINTR (cli_interrupted), -ETIMEDOUT, -EIO; then r holds nothing to free.
 */
int api_exchange(const struct api_req *req, struct api_reply *r);

/*
 * api_exchange(), and for anything but a 2xx answer the one-line error
 * printed (the server's message verbatim). 0 on 2xx, else -errno (-EPROTO
 * for an HTTP error) and r is already freed.
 */
int api_call(const struct api_req *req, struct api_reply *r);

/* shorthands of api_call without a stream */
int api_get(const char *path, struct api_reply *r);
int api_send(const char *method, const char *path, json_t *body, struct api_reply *r);

void api_reply_free(struct api_reply *r);

/* the server's error text of a failed answer */
const char *api_error_text(const struct api_reply *r);
/* prints why the controller could not be reached (err from api_exchange) */
void api_print_unreachable(int err);

/* percent-encodes what a URL path or query part cannot hold; '/' is kept */
char *api_escape(const char *s);

/* GET prefix followed by name percent-encoded ("/v1/pods/" + a pod), quietly:
 * nothing printed, whatever the status; as api_exchange (-ENOMEM too) */
int api_get_quiet(const char *prefix, const char *name, struct api_reply *r);

/* the selected space of this user (GET /v1/selection); prints the error */
int api_selected_space(char *buf, size_t len);
/* given (-n) when set, else the selected space */
int api_space_or_selected(const char *given, char *buf, size_t len);
/* GET /v1/WHAT?space=S for -n S or the selected space, or of every space (-A) */
int api_list(const char *what, const char *given, bool all, struct api_reply *r);

/* the node's local ingress port when it listens, else 0 (GET /v1/status) */
unsigned api_ingress_port(void);
/* the ingress host prefix of a space (docs/ingress.md): "x.alice.s.dev." for
 * dev/alice/x, "dev." for dev; "<prefix><service>.localhost" is the host */
void ingress_host_prefix(const char *space, char *out, size_t len);

/* -o json: the answer as it came, indented */
void print_json(const json_t *j);

void api_cleanup(void);

/* a member of an answer, or dflt when absent or of another type */
const char *jstr(const json_t *o, const char *key, const char *dflt);
long long jint(const json_t *o, const char *key, long long dflt);
/* a scalar as text: numbers, strings, true/false; "-" for null or absent */
const char *jtext(const json_t *v, char *buf, size_t len);
/* a status's last exit: "0", "3", "signal 9"; "-" when none */
const char *jexit(const json_t *status, char *buf, size_t len);
/* the strings of an array joined by sep; after max of them (0: no limit) " + N more"; "-" when empty */
const char *jjoin(const json_t *arr, const char *sep, size_t max, char *buf, size_t len);
/* a unix time from a number of seconds or an RFC 3339 string; 0 when neither */
long long jtime(const json_t *v);

#endif
