/* SPDX-License-Identifier: MIT */
/*
 * The mutating admission webhook of Kubernetes mode (issue 11 part 5,
 * docs/webhook.md). It injects nothing: for a Pod CREATE in a namespace
 * that is a space it adds the label azds.io/space=<space path, '/' as '.'>
 * and a dnsConfig whose searches walk the space's ancestors (x.svc.D,
 * alice.svc.D, dev.svc.D for dev/alice/x), and allows everything else
 * unchanged. Routing never depends on it: the CNI plugin steers pods
 * whether they went through here or not, hence failurePolicy Ignore.
 *
 * An HTTPS server (OpenSSL) on a thread of its own, bounded in
 * connections, header and body size and time; its certificate comes from
 * tlsca (a CA of its own, rotated). Nothing here logs: events go to the
 * caller's log callback.
 */
#ifndef AZDS_WEBHOOK_H
#define AZDS_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include "azds.h"

struct azds_k8s;

#define WEBHOOK_LABEL	     "azds.io/space"
#define WEBHOOK_NS_SELECTOR  "azds.io/space" /* = "true" on a space's namespace */
#define WEBHOOK_PATH	     "/mutate"
#define WEBHOOK_TIMEOUT_S    3 /* the registration's timeoutSeconds */
#define WEBHOOK_DOMAIN	     "cluster.local"
#define WEBHOOK_MAX_CONNS    64
#define WEBHOOK_MAX_BODY     (3u << 20) /* etcd keeps objects to 1.5 MiB; a review holds one */
#define WEBHOOK_MAX_HEADER   (16u << 10)
#define WEBHOOK_READ_TIMEOUT 10000 /* ms, from accept to the whole request read */
#define WEBHOOK_ROTATE_CHECK 60000 /* ms between certificate checks */
/* kubelet's and the API server's bounds of a pod's DNS search list */
#define WEBHOOK_DNS_SEARCH_MAX	 32
#define WEBHOOK_DNS_SEARCH_CHARS 2048
/* the entries kubelet puts first for ClusterFirst: NS.svc.D, svc.D, D */
#define WEBHOOK_DNS_KUBELET 3

/* The space path of namespace NS into PATH: 0, or -ENOENT (not a space), or another -errno. */
typedef int (*webhook_space_of_fn)(void *arg, const char *ns, char *path, size_t len);

struct webhook_opts {
	const char *addr; /* listen address (IPv4 or IPv6 literal); NULL: 0.0.0.0 */
	int port;	  /* 0: any free port (webhook_port says which) */
	const char *state_dir;
	const char *const *dns;	    /* the serving certificate's DNS names, NULL-terminated (may be NULL) */
	const char *const *ips;	    /* and IPs */
	const char *cluster_domain; /* NULL: cluster.local */
	webhook_space_of_fn space_of;
	void *space_arg;
	/* On the server thread after the CA rotated (re-register: keep it short). */
	void (*ca_changed)(void *arg, const char *bundle_pem);
	void *ca_arg;
	/* Each request and warning, one line (NULL: none). */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/* Bounds, 0: the defaults above. */
	unsigned max_conns;
	size_t max_body, max_header;
	unsigned read_timeout_ms;
	/* Certificates (0: tlsca's defaults) and how often rotation is looked at. */
	long ca_life_s, cert_life_s;
	unsigned rotate_check_ms;
	/* Tests only: answer /mutate this many ms late (the slow webhook). */
	unsigned delay_ms;
};

struct webhook;

int webhook_start(struct webhook **w, const struct webhook_opts *o, struct azds_err *e);
int webhook_port(const struct webhook *w);
/* The CA bundle PEM for caBundle (a copy: free it), NULL on no memory. */
char *webhook_ca_bundle(struct webhook *w);
/* Stops the thread, closes every connection; NULL is fine. */
void webhook_stop(struct webhook *w);

/*
 * The AdmissionReview BODY answered, without the server (the server calls
 * it; tests may too): 0 with *OUT the response review (malloc'd JSON) and
 * *PATCHED whether it carries a patch, or -EINVAL for a malformed review
 * (HTTP 400 with E's message). LINE gets a one-line summary for logs.
 */
struct webhook_review_ctx {
	const char *domain;
	webhook_space_of_fn space_of;
	void *space_arg;
};
int webhook_review(const struct webhook_review_ctx *c, const char *body, size_t len, char **out, bool *patched,
		   char *line, size_t line_len, struct azds_err *e);

/* The label value of a space path: "dev/alice" -> "dev.alice" (longer than 63: cut, with a hash). */
int webhook_label_value(const char *path, char *buf, size_t len);

/*
 * Create or update the MutatingWebhookConfiguration NAME (cluster-scoped):
 * one webhook "space.webhook.azds.io" calling URL (https://...; NULL: the
 * Service SVC_NS/SVC_NAME:SVC_PORT at /mutate), trusting CA_PEM, for pods
 * CREATE in namespaces labelled azds.io/space=true, failurePolicy Ignore,
 * sideEffects None, v1 reviews, timeoutSeconds WEBHOOK_TIMEOUT_S. Call it
 * again when the CA rotates.
 */
int webhook_register(struct azds_k8s *k, const char *name, const char *url_or_NULL, const char *svc_ns,
		     const char *svc_name, int svc_port, const char *ca_pem, struct azds_err *e);
/* Delete it; already gone is fine. */
int webhook_unregister(struct azds_k8s *k, const char *name, struct azds_err *e);

#endif
