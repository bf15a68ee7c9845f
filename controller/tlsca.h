/* SPDX-License-Identifier: MIT */
/*
 * tlsca: the webhook's own certificate authority and serving certificate
 * (OpenSSL 3, ECDSA P-256), kept in a state directory and rotated:
 *
 *   DIR/ca.pem         the newest CA: key and certificate (0600)
 *   DIR/ca-prev.pem    the CA before it, while it is still valid (0600)
 *   DIR/serving.pem    the serving key and certificate (0600)
 *   DIR/ca-bundle.pem  what clients trust: the newest CA, then the
 *                      previous one while it lives (0644)
 *
 * The serving certificate is renewed when less than a third of its life is
 * left (or its names changed, or its issuer is not the one wanted). The CA
 * is replaced when less than a third of its life is left: the old one
 * moves to ca-prev.pem and both are in the bundle. For the first sixth of
 * the new CA's life the serving certificate stays signed by the previous
 * CA, so that a client still holding the old bundle keeps working while
 * the new bundle reaches it (the caller re-registers on TLSCA_CA_CHANGED);
 * only then is it signed by the new CA. The previous CA leaves the bundle
 * when it expires. Files are replaced atomically (write, fsync, rename);
 * a file that does not parse, or whose key does not match its
 * certificate, is replaced, with a warning through the callback.
 */
#ifndef AZDS_TLSCA_H
#define AZDS_TLSCA_H

#include <stddef.h>
#include <time.h>
#include <openssl/ssl.h>
#include "azds.h"

#define TLSCA_FILE_MAX	(64u << 10) /* a state file */
#define TLSCA_NAMES_MAX 16	    /* DNS names and IPs, each */
#define TLSCA_CA_LIFE	(5L * 365 * 86400)
#define TLSCA_CERT_LIFE (90L * 86400)
#define TLSCA_LIFE_MIN	3 /* seconds: tests force short lives */

enum {
	TLSCA_CA_CHANGED = 1,	/* the bundle changed: publish it again */
	TLSCA_CERT_CHANGED = 2, /* the serving certificate changed: new SSL_CTX */
};

struct tlsca_opts {
	const char *dir;			  /* made 0700 if missing */
	const char *const *dns;			  /* NULL-terminated, may be NULL */
	const char *const *ips;			  /* NULL-terminated IPv4/IPv6 literals, may be NULL */
	long ca_life_s;				  /* 0: TLSCA_CA_LIFE */
	long cert_life_s;			  /* 0: TLSCA_CERT_LIFE */
	void (*warn)(void *arg, const char *msg); /* NULL: stderr */
	void *warn_arg;
};

struct tlsca;

/* Load what DIR holds, then tlsca_maintain (so it is ready to serve). */
int tlsca_open(struct tlsca **out, const struct tlsca_opts *o, struct azds_err *e);
/*
 * Rotate what is due at NOW; *CHANGED gets TLSCA_* bits. On an error,
 * *CHANGED is 0 and what did change is reported by the next call that
 * succeeds (so a bundle or SSL_CTX is never left behind the files).
 */
int tlsca_maintain(struct tlsca *t, time_t now, unsigned *changed, struct azds_err *e);
/* A new server context with the current serving certificate (TLS 1.2+). */
int tlsca_ssl_ctx(struct tlsca *t, SSL_CTX **out, struct azds_err *e);
/* The bundle PEM (owned by T, valid until the next tlsca_maintain). */
const char *tlsca_bundle(const struct tlsca *t);
/* How many certificates the bundle holds (1, or 2 during an overlap). */
int tlsca_bundle_count(const struct tlsca *t);
void tlsca_free(struct tlsca *t);

#endif
