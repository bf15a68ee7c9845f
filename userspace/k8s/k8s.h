/* SPDX-License-Identifier: MIT */
/*
 * azds_k8s: a small Kubernetes API client of our own (issue 11), on
 * libcurl, OpenSSL, jansson and libyaml, because Debian packages no C
 * client. It does what the controller and the CLI need: kubeconfig and
 * in-cluster config, GET/POST/PATCH/DELETE with JSON bodies, paged lists
 * and watches (bookmarks, 410 Gone told apart), and an informer that lists,
 * watches, relists and backs off.
 *
 * Every function returns 0 or a negative errno and, on error, fills the
 * caller's struct azds_k8s_err with a message that names what was wrong
 * (the file and field of a kubeconfig, or the API's Status): the caller
 * logs it once, at its boundary. Nothing here logs.
 *
 * Threads: a struct azds_k8s serializes its requests on one connection
 * (one mutex); each watch has a connection of its own, and may be stopped
 * from any thread. Objects handed to callbacks are borrowed: json_incref
 * them to keep them.
 */
#ifndef AZDS_K8S_H
#define AZDS_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* Bounds: everything that grows has one. */
#define AZDS_K8S_CONFIG_MAX (1u << 20)	/* kubeconfig, CA, cert, key, token files */
#define AZDS_K8S_BODY_MAX   (64u << 20) /* one response body (a list page) */
#define AZDS_K8S_LINE_MAX   (8u << 20)	/* one watch event (one object) */
#define AZDS_K8S_RV_MAX	    64		/* a resourceVersion (etcd's are decimal) */
#define AZDS_K8S_PATH_MAX   2048	/* a request's path and query */
#define AZDS_K8S_LIST_PAGE  500		/* list limit= when the caller gives none */
#define AZDS_K8S_LIST_PAGES 10000	/* pages of one list_all */

/* Errors: code/reason/message of the API's Status when there was one. */
struct azds_k8s_err {
	int http;	 /* HTTP status (0: none, e.g. no connection) */
	int code;	 /* Status.code, or the ERROR event's */
	char reason[64]; /* Status.reason: NotFound, AlreadyExists, Expired, Gone... */
	char msg[1024];	 /* what went wrong, whole: print as it is */
};

/*
 * Negative errno of an API status: 400/422 -EINVAL, 401 -EACCES,
 * 403 -EPERM, 404 -ENOENT, 409 AlreadyExists -EEXIST, 409 Conflict
 * -EAGAIN, 410 -ESTALE (list again), 429 -EBUSY, 5xx -EIO.
 */
int azds_k8s_errno_of_status(int code, const char *reason);

/* ------------------------------------------------------------- config */

struct azds_k8s_config {
	char server[512];  /* https://host[:port], no trailing slash */
	char ns[254];	   /* the context's namespace, else "default" */
	char context[254]; /* context used ("" in-cluster) */
	char source[4096]; /* the file it came from, or the service-account dir */
	bool insecure;	   /* insecure-skip-tls-verify */
	char *ca;	   /* PEM bundle, or NULL: the system's CAs */
	size_t ca_len;
	char *cert, *key; /* client certificate and key, PEM, or NULL */
	size_t cert_len, key_len;
	char *token;	       /* bearer token, or NULL */
	char token_file[4096]; /* re-read on 401 (service-account tokens rotate), or "" */
};

/*
 * Load a kubeconfig: PATH, else the first file of $KUBECONFIG, else
 * ~/.kube/config. CONTEXT NULL or "" means current-context. Relative
 * paths in the file are relative to its directory.
 */
int azds_k8s_config_load(struct azds_k8s_config *c, const char *path, const char *context, struct azds_k8s_err *e);
/* The same from text in memory; NAME is for messages, DIR for relative paths. */
int azds_k8s_config_parse(struct azds_k8s_config *c, const char *text, size_t len, const char *name, const char *dir,
			  const char *context, struct azds_k8s_err *e);
/*
 * In-cluster: DIR/token, DIR/ca.crt, DIR/namespace, with DIR NULL for
 * /var/run/secrets/kubernetes.io/serviceaccount, and the server from
 * KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.
 */
int azds_k8s_config_incluster(struct azds_k8s_config *c, const char *dir, struct azds_k8s_err *e);
/* PATH or $KUBECONFIG if either is set, else in-cluster if KUBERNETES_SERVICE_HOST is, else ~/.kube/config. */
int azds_k8s_config_auto(struct azds_k8s_config *c, const char *path, const char *context, struct azds_k8s_err *e);
void azds_k8s_config_free(struct azds_k8s_config *c);

/* ------------------------------------------------------------- client */

struct azds_k8s;

/* The client copies what it needs of C (C may be freed after). */
int azds_k8s_new(struct azds_k8s **out, const struct azds_k8s_config *c, struct azds_k8s_err *e);
void azds_k8s_free(struct azds_k8s *k);
/* Connect timeout and whole-request timeout of requests (not watches), ms; defaults 5000 and 30000. */
void azds_k8s_set_timeouts(struct azds_k8s *k, long connect_ms, long request_ms);
const char *azds_k8s_namespace(const struct azds_k8s *k); /* the config's default namespace */

/* A resource kind: where its objects live. */
struct azds_k8s_res {
	const char *gv;	      /* "v1", "discovery.k8s.io/v1", ... */
	const char *resource; /* plural: "namespaces", "pods", ... */
	bool namespaced;
};
extern const struct azds_k8s_res azds_k8s_namespaces, azds_k8s_services, azds_k8s_endpointslices, azds_k8s_pods,
    azds_k8s_leases, azds_k8s_configmaps, azds_k8s_events, azds_k8s_mutatingwebhookconfigurations;

/*
 * /api/v1/namespaces/NS/pods/NAME/SUB; NS NULL for all namespaces (or a
 * cluster-scoped kind), NAME and SUB NULL for the collection. -ENAMETOOLONG
 * if it does not fit, -EINVAL on a name that would break the path.
 */
int azds_k8s_path(char *buf, size_t len, const struct azds_k8s_res *r, const char *ns, const char *name,
		  const char *sub);

/*
 * One request. METHOD "GET", "POST", "PUT", "PATCH", "DELETE"; PATH from
 * azds_k8s_path, with a query if wanted; CTYPE the body's content type
 * (NULL: application/json); BODY NULL for none. *OUT (if OUT) gets the
 * decoded answer (a new reference, NULL when the answer was empty). An
 * answer >= 400 returns azds_k8s_errno_of_status with E's Status fields.
 */
int azds_k8s_request(struct azds_k8s *k, const char *method, const char *path, const char *ctype, const json_t *body,
		     json_t **out, struct azds_k8s_err *e);

int azds_k8s_get(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns, const char *name, json_t **out,
		 struct azds_k8s_err *e);
int azds_k8s_create(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns, const json_t *obj, json_t **out,
		    struct azds_k8s_err *e);

enum azds_k8s_patch {
	AZDS_K8S_PATCH_MERGE, /* application/merge-patch+json: an object */
	AZDS_K8S_PATCH_JSON,  /* application/json-patch+json: an array of operations */
};
int azds_k8s_patch(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns, const char *name,
		   enum azds_k8s_patch type, const json_t *patch, json_t **out, struct azds_k8s_err *e);
/* 404 is -ENOENT: the caller decides whether that is fine. */
int azds_k8s_delete(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns, const char *name, json_t **out,
		    struct azds_k8s_err *e);

/* -------------------------------------------------------------- lists */

struct azds_k8s_list_opts {
	const char *label_selector; /* NULL: none */
	const char *field_selector;
	const char *resource_version; /* NULL: most recent (a quorum read) */
	unsigned limit;		      /* 0: AZDS_K8S_LIST_PAGE */
	const char *continue_token;   /* from the page before */
};

/* One page: *OUT is the List object (items, metadata.resourceVersion, metadata.continue). */
int azds_k8s_list(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns, const struct azds_k8s_list_opts *o,
		  json_t **out, struct azds_k8s_err *e);

/* Called with each item; non-zero stops the list and is returned. */
typedef int (*azds_k8s_item_cb)(json_t *item, void *arg);

/*
 * Every page (continue tokens), at most MAX_ITEMS items in all (0: no
 * bound but AZDS_K8S_LIST_PAGES pages) or -E2BIG. RV gets the list's
 * resourceVersion, from which to watch. A continue token that expired
 * mid-list is -ESTALE: list again.
 */
int azds_k8s_list_all(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns,
		      const struct azds_k8s_list_opts *o, size_t max_items, azds_k8s_item_cb cb, void *arg,
		      char rv[AZDS_K8S_RV_MAX], struct azds_k8s_err *e);

/* ------------------------------------------------------------- watches */

enum azds_k8s_ev_type {
	AZDS_K8S_ADDED,
	AZDS_K8S_MODIFIED,
	AZDS_K8S_DELETED,
	AZDS_K8S_BOOKMARK,
	AZDS_K8S_ERROR,
};
const char *azds_k8s_ev_name(enum azds_k8s_ev_type t);

struct azds_k8s_event {
	enum azds_k8s_ev_type type;
	json_t *object; /* borrowed; for ERROR, the Status */
	const char *rv; /* object's metadata.resourceVersion, or "" */
	int code;	/* ERROR: Status.code (410: list again) */
};

/*
 * The event stream splitter, on its own so that it can be tested: FEED
 * hands each complete newline-terminated line (without its newline) to
 * LINE_CB. A line longer than MAX is refused (-EMSGSIZE, and the stream is
 * dead: an event was lost). LINE_CB's non-zero return stops FEED and is
 * returned.
 */
struct azds_k8s_lines {
	char *buf;
	size_t len, cap, max;
};
typedef int (*azds_k8s_line_cb)(const char *line, size_t len, void *arg);
int azds_k8s_lines_init(struct azds_k8s_lines *l, size_t max);
int azds_k8s_lines_feed(struct azds_k8s_lines *l, const char *data, size_t n, azds_k8s_line_cb cb, void *arg);
void azds_k8s_lines_free(struct azds_k8s_lines *l);

/*
 * One line of a watch into EV (EV->object is a new reference: json_decref
 * it). Garbage, a missing or unknown type, or a missing object is
 * -EBADMSG, with E saying which.
 */
int azds_k8s_event_parse(const char *line, size_t len, struct azds_k8s_event *ev, struct azds_k8s_err *e);

/* Called with each event; non-zero stops the watch and is returned. */
typedef int (*azds_k8s_event_cb)(const struct azds_k8s_event *ev, void *arg);

struct azds_k8s_watch_opts {
	const char *label_selector;
	const char *field_selector;
	unsigned timeout_s; /* timeoutSeconds (the server ends the watch); 0: 300 */
	size_t max_line;    /* 0: AZDS_K8S_LINE_MAX */
};

struct azds_k8s_watch;

int azds_k8s_watch_new(struct azds_k8s_watch **out, struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns,
		       const struct azds_k8s_watch_opts *o, struct azds_k8s_err *e);
/*
 * Watch from RV (updated in place with every event's resourceVersion,
 * bookmarks included, so that the next run resumes there), with
 * allowWatchBookmarks=true. Returns:
 *   0           the server ended it (timeoutSeconds): run again from RV;
 *   -ESTALE     410 Gone/Expired (an ERROR event or the HTTP status): list again;
 *   -ECANCELED  azds_k8s_watch_stop;
 *   CB's non-zero return;
 *   any other negative errno: back off and retry.
 * ERROR events reach CB before the watch returns.
 */
int azds_k8s_watch_run(struct azds_k8s_watch *w, char rv[AZDS_K8S_RV_MAX], azds_k8s_event_cb cb, void *arg,
		       struct azds_k8s_err *e);
/* From any thread (not a signal handler): the running or next run returns -ECANCELED at once. */
void azds_k8s_watch_stop(struct azds_k8s_watch *w);
void azds_k8s_watch_free(struct azds_k8s_watch *w);

/* ------------------------------------------------------------ informer */

/*
 * List then watch one kind, for ever: keeps the resourceVersion across
 * watches, lists again on 410, backs off with jitter on other errors.
 * A relist calls begin, then object(ADDED) for each item, then synced:
 * the caller drops what it holds that the list did not name. A watch
 * calls object with each ADDED/MODIFIED/DELETED (bookmarks only move the
 * resourceVersion). A callback's non-zero return ends run with it.
 */
struct azds_k8s_informer_ops {
	int (*begin)(void *arg);
	int (*object)(enum azds_k8s_ev_type type, json_t *obj, void *arg);
	int (*synced)(void *arg);
	/* Told of each error that is retried, with the delay (may be NULL). */
	void (*retry)(int err, const struct azds_k8s_err *e, long delay_ms, void *arg);
};

struct azds_k8s_informer_opts {
	const char *label_selector;
	const char *field_selector;
	unsigned watch_timeout_s; /* 0: 300 */
	long backoff_min_ms;	  /* 0: 200 */
	long backoff_max_ms;	  /* 0: 30000 */
	size_t max_items;	  /* bound of one list, 0: none */
};

struct azds_k8s_informer;

int azds_k8s_informer_new(struct azds_k8s_informer **out, struct azds_k8s *k, const struct azds_k8s_res *r,
			  const char *ns, const struct azds_k8s_informer_opts *o,
			  const struct azds_k8s_informer_ops *ops, void *arg, struct azds_k8s_err *e);
/* Until stopped (-ECANCELED) or a callback's non-zero return. */
int azds_k8s_informer_run(struct azds_k8s_informer *inf, struct azds_k8s_err *e);
/* From any thread: run returns -ECANCELED without waiting out a backoff. */
void azds_k8s_informer_stop(struct azds_k8s_informer *inf);
/* The resourceVersion reached (for tests and status). */
void azds_k8s_informer_rv(struct azds_k8s_informer *inf, char rv[AZDS_K8S_RV_MAX]);
void azds_k8s_informer_free(struct azds_k8s_informer *inf);

#endif
