/* SPDX-License-Identifier: MIT */
/* Inside azds_k8s: the client's state and helpers its files share. */
#ifndef AZDS_K8S_INT_H
#define AZDS_K8S_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <curl/curl.h>

#include "k8s.h"

struct azds_k8s {
	pthread_mutex_t mu; /* serializes requests on CURL */
	CURL *curl;
	char server[512];
	char ns[254];
	bool insecure;
	char *ca, *cert, *key;
	size_t ca_len, cert_len, key_len;
	pthread_mutex_t tok_mu; /* TOKEN may be replaced (re-read) while a watch copies it */
	char *token;
	char token_file[4096];
	_Atomic long connect_ms, request_ms; /* read by watches without MU */
};

/* A response body, bounded. */
struct k8s_buf {
	char *p;
	size_t len, cap, max;
};

int k8s_err(struct azds_k8s_err *e, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void k8s_err_clear(struct azds_k8s_err *e);

int azds_k8s_read_file(const char *path, size_t max, char **out, size_t *len, const char *what, struct azds_k8s_err *e);
int azds_k8s_token_read(const char *path, char **out, struct azds_k8s_err *e);
int azds_k8s_tls_pair_check(const char *cert, size_t cert_len, const char *key, size_t key_len);

/* Sets a handle up for URL: TLS, auth, accept JSON. *HDRS must be freed with curl_slist_free_all. */
int k8s_easy_setup(struct azds_k8s *k, CURL *h, const char *url, struct curl_slist **hdrs, char *errbuf);
/* A curl failure as a negative errno and E's message. */
int k8s_curl_err(struct azds_k8s_err *e, CURLcode rc, const char *method, const char *url, const char *errbuf);
/* An answer >= 400: BODY's Status (may be NULL) into E, and its errno. */
int k8s_status_err(struct azds_k8s_err *e, long http, const json_t *body, const char *method, const char *path);
/* Re-read the token file after a 401 (rotated service-account tokens): 0 if it changed. */
int k8s_token_reload(struct azds_k8s *k);

/* Appends "?k=v" or "&k=v" (V percent-encoded; NULL V: nothing) to BUF of LEN. */
int k8s_query_add(char *buf, size_t len, const char *key, const char *v);

#endif
