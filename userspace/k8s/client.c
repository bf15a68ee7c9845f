// SPDX-License-Identifier: MIT
/*
 * The client: one libcurl easy handle for requests, kept between them so
 * that its connection (and TLS session) is reused, behind a mutex. TLS
 * material goes to libcurl as in-memory blobs: nothing is written to disk.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "k8s.h"
#include "k8s_int.h"

const struct azds_k8s_res azds_k8s_namespaces = {"v1", "namespaces", false};
const struct azds_k8s_res azds_k8s_services = {"v1", "services", true};
const struct azds_k8s_res azds_k8s_pods = {"v1", "pods", true};
const struct azds_k8s_res azds_k8s_configmaps = {"v1", "configmaps", true};
const struct azds_k8s_res azds_k8s_events = {"v1", "events", true};
const struct azds_k8s_res azds_k8s_endpointslices = {"discovery.k8s.io/v1", "endpointslices", true};
const struct azds_k8s_res azds_k8s_leases = {"coordination.k8s.io/v1", "leases", true};
const struct azds_k8s_res azds_k8s_mutatingwebhookconfigurations = {"admissionregistration.k8s.io/v1",
								    "mutatingwebhookconfigurations", false};

int k8s_err(struct azds_k8s_err *e, int err, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return err;
}

void k8s_err_clear(struct azds_k8s_err *e)
{
	if (e)
		memset(e, 0, sizeof(*e));
}

int azds_k8s_errno_of_status(int code, const char *reason)
{
	switch (code) {
	case 400:
	case 422:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 409:
		return reason && !strcmp(reason, "AlreadyExists") ? -EEXIST : -EAGAIN;
	case 410:
		return -ESTALE;
	case 429:
		return -EBUSY;
	case 504:
		return -ETIMEDOUT;
	}
	if (code >= 500)
		return -EIO;
	return code >= 400 ? -EPROTO : 0;
}

int azds_k8s_tls_pair_check(const char *cert, size_t cert_len, const char *key, size_t key_len)
{
	BIO *cb = BIO_new_mem_buf(cert, (int)cert_len), *kb = BIO_new_mem_buf(key, (int)key_len);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	int ret = x && k && X509_check_private_key(x, k) == 1 ? 0 : -EINVAL;
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	return ret;
}

/* ------------------------------------------------------------- lifecycle */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int dup_blob(char **dst, const char *src, size_t len)
{
	if (!src)
		return 0;
	*dst = malloc(len + 1);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, len);
	(*dst)[len] = 0;
	return 0;
}

int azds_k8s_new(struct azds_k8s **out, const struct azds_k8s_config *c, struct azds_k8s_err *e)
{
	k8s_err_clear(e);
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc)
		return k8s_err(e, -EIO, "libcurl: %s", curl_easy_strerror(curl_init_rc));
	if (!c->server[0])
		return k8s_err(e, -EINVAL, "%s: no server", c->source);
	struct azds_k8s *k = calloc(1, sizeof(*k));
	if (!k)
		return k8s_err(e, -ENOMEM, "out of memory");
	pthread_mutex_init(&k->mu, NULL);
	pthread_mutex_init(&k->tok_mu, NULL);
	memcpy(k->server, c->server, sizeof(k->server));
	memcpy(k->ns, c->ns[0] ? c->ns : "default", sizeof(k->ns));
	memcpy(k->token_file, c->token_file, sizeof(k->token_file));
	k->insecure = c->insecure;
	k->ca_len = c->ca_len;
	k->cert_len = c->cert_len;
	k->key_len = c->key_len;
	k->connect_ms = 5000;
	k->request_ms = 30000;
	if (dup_blob(&k->ca, c->ca, c->ca_len) || dup_blob(&k->cert, c->cert, c->cert_len) ||
	    dup_blob(&k->key, c->key, c->key_len) || (c->token && !(k->token = strdup(c->token))) ||
	    !(k->curl = curl_easy_init())) {
		azds_k8s_free(k);
		return k8s_err(e, -ENOMEM, "out of memory");
	}
	*out = k;
	return 0;
}

void azds_k8s_free(struct azds_k8s *k)
{
	if (!k)
		return;
	if (k->curl)
		curl_easy_cleanup(k->curl);
	free(k->ca);
	free(k->cert);
	if (k->key)
		OPENSSL_cleanse(k->key, k->key_len);
	free(k->key);
	if (k->token)
		OPENSSL_cleanse(k->token, strlen(k->token));
	free(k->token);
	pthread_mutex_destroy(&k->mu);
	pthread_mutex_destroy(&k->tok_mu);
	free(k);
}

void azds_k8s_set_timeouts(struct azds_k8s *k, long connect_ms, long request_ms)
{
	pthread_mutex_lock(&k->mu);
	if (connect_ms > 0)
		k->connect_ms = connect_ms;
	if (request_ms > 0)
		k->request_ms = request_ms;
	pthread_mutex_unlock(&k->mu);
}

const char *azds_k8s_namespace(const struct azds_k8s *k)
{
	return k->ns;
}

int k8s_token_reload(struct azds_k8s *k)
{
	char *t;
	int ret;
	if (!k->token_file[0] || azds_k8s_token_read(k->token_file, &t, NULL))
		return -ENOENT;
	pthread_mutex_lock(&k->tok_mu);
	ret = k->token && !strcmp(k->token, t) ? -EALREADY : 0;
	if (!ret) {
		free(k->token);
		k->token = t;
		t = NULL;
	}
	pthread_mutex_unlock(&k->tok_mu);
	free(t);
	return ret;
}

/* ------------------------------------------------------------- handles */

int k8s_easy_setup(struct azds_k8s *k, CURL *h, const char *url, struct curl_slist **hdrs, char *errbuf)
{
	struct curl_slist *l = NULL, *n;
	char auth[8192];
	CURLcode rc = CURLE_OK;

	*hdrs = NULL;
	errbuf[0] = 0;
#define SET(opt, v)                                                                                                    \
	do {                                                                                                           \
		if (rc == CURLE_OK)                                                                                    \
			rc = curl_easy_setopt(h, opt, v);                                                              \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https,http");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, "azds-k8s/1");
	SET(CURLOPT_SSL_VERIFYPEER, k->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, k->insecure ? 0L : 2L);
	if (k->ca) {
		struct curl_blob b = {k->ca, k->ca_len, CURL_BLOB_NOCOPY};
		SET(CURLOPT_CAINFO_BLOB, &b);
	}
	if (k->cert) {
		struct curl_blob c = {k->cert, k->cert_len, CURL_BLOB_NOCOPY};
		struct curl_blob kb = {k->key, k->key_len, CURL_BLOB_NOCOPY};
		SET(CURLOPT_SSLCERT_BLOB, &c);
		SET(CURLOPT_SSLCERTTYPE, "PEM");
		SET(CURLOPT_SSLKEY_BLOB, &kb);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
	}
#undef SET
	if (rc != CURLE_OK)
		return -EINVAL;
	n = curl_slist_append(l, "Accept: application/json");
	if (!n)
		goto nomem;
	l = n;
	pthread_mutex_lock(&k->tok_mu);
	int alen = k->token ? snprintf(auth, sizeof(auth), "Authorization: Bearer %s", k->token) : 0;
	pthread_mutex_unlock(&k->tok_mu);
	if (alen < 0 || (size_t)alen >= sizeof(auth)) {
		curl_slist_free_all(l);
		return -E2BIG;
	}
	if (alen) {
		n = curl_slist_append(l, auth);
		OPENSSL_cleanse(auth, (size_t)alen);
		if (!n)
			goto nomem;
		l = n;
	}
	*hdrs = l;
	return 0;
nomem:
	curl_slist_free_all(l);
	return -ENOMEM;
}

int k8s_curl_err(struct azds_k8s_err *e, CURLcode rc, const char *method, const char *url, const char *errbuf)
{
	int err;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		err = -ETIMEDOUT;
		break;
	case CURLE_COULDNT_CONNECT:
		err = -ECONNREFUSED;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		err = -EHOSTUNREACH;
		break;
	case CURLE_WRITE_ERROR:
		err = -EFBIG; /* our write callbacks refuse only what is over a bound */
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		err = -EPROTO;
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		err = -ECANCELED;
		break;
	default:
		err = -EIO;
	}
	return k8s_err(e, err, "%s %s: %s%s%s", method, url, curl_easy_strerror(rc), errbuf && errbuf[0] ? ": " : "",
		       errbuf ? errbuf : "");
}

int k8s_status_err(struct azds_k8s_err *e, long http, const json_t *body, const char *method, const char *path)
{
	const char *reason = "", *msg = "";
	int code = (int)http;
	if (json_is_object(body) && json_is_string(json_object_get(body, "reason")))
		reason = json_string_value(json_object_get(body, "reason"));
	if (json_is_object(body) && json_is_string(json_object_get(body, "message")))
		msg = json_string_value(json_object_get(body, "message"));
	if (json_is_object(body) && json_is_integer(json_object_get(body, "code")))
		code = (int)json_integer_value(json_object_get(body, "code"));
	int err = azds_k8s_errno_of_status(code ? code : (int)http, reason);
	if (!err)
		err = -EPROTO;
	if (e) {
		e->http = (int)http;
		e->code = code;
		snprintf(e->reason, sizeof(e->reason), "%s", reason);
		k8s_err(e, err, "%s %s: %d %s%s%s%s", method, path, code, reason, msg[0] ? ": " : "", msg,
			http == 401 ? " (the API server refused the token or client certificate)" : "");
	}
	return err;
}

/* ------------------------------------------------------------- requests */

static size_t buf_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct k8s_buf *b = arg;
	size_t n = size * nmemb;
	if (n > b->max - b->len)
		return 0; /* over the bound: CURLE_WRITE_ERROR */
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = 0;
	return n;
}

static int request_once(struct azds_k8s *k, const char *method, const char *path, const char *ctype, const char *body,
			size_t body_len, long *http, struct k8s_buf *b, struct azds_k8s_err *e)
{
	char url[sizeof(k->server) + AZDS_K8S_PATH_MAX], errbuf[CURL_ERROR_SIZE], ct[128];
	struct curl_slist *hdrs = NULL;
	CURL *h = k->curl;
	int ret;

	if ((size_t)snprintf(url, sizeof(url), "%s%s", k->server, path) >= sizeof(url))
		return k8s_err(e, -ENAMETOOLONG, "%s %s: path too long", method, path);
	curl_easy_reset(h);
	if ((ret = k8s_easy_setup(k, h, url, &hdrs, errbuf)))
		return k8s_err(e, ret, "%s %s: setting the request up failed", method, url);
	if (body) {
		struct curl_slist *n;
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
		if (!(n = curl_slist_append(hdrs, ct))) {
			curl_slist_free_all(hdrs);
			return k8s_err(e, -ENOMEM, "out of memory");
		}
		hdrs = n;
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	if (strcmp(method, "GET") && strcmp(method, "POST"))
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	else if (!strcmp(method, "POST") && !body)
		curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)k->connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)k->request_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		ret = k8s_curl_err(e, rc, method, url, errbuf);
		if (ret == -EFBIG && b->len >= b->max)
			ret = k8s_err(e, -EFBIG, "%s %s: answer larger than %zu bytes", method, url, b->max);
		return ret;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, http);
	return 0;
}

int azds_k8s_request(struct azds_k8s *k, const char *method, const char *path, const char *ctype, const json_t *body,
		     json_t **out, struct azds_k8s_err *e)
{
	char *text = NULL;
	struct k8s_buf b = {.max = AZDS_K8S_BODY_MAX};
	json_t *j = NULL;
	long http = 0;
	int ret;

	k8s_err_clear(e);
	if (out)
		*out = NULL;
	if (body && !(text = json_dumps(body, JSON_COMPACT)))
		return k8s_err(e, -ENOMEM, "%s %s: the body would not serialize", method, path);
	pthread_mutex_lock(&k->mu);
	for (int attempt = 0;; attempt++) {
		b.len = 0;
		ret = request_once(k, method, path, ctype, text, text ? strlen(text) : 0, &http, &b, e);
		/* A rotated service-account token: read it again, once. */
		if (ret || http != 401 || attempt || k8s_token_reload(k))
			break;
	}
	pthread_mutex_unlock(&k->mu);
	free(text);
	if (ret)
		goto out;
	if (b.len) {
		json_error_t je;
		j = json_loadb(b.p, b.len, 0, &je);
		if (!j && http < 400) {
			ret = k8s_err(e, -EBADMSG, "%s %s: %ld with an answer that is not JSON: %s", method, path, http,
				      je.text);
			goto out;
		}
	}
	if (http >= 400) {
		ret = k8s_status_err(e, http, j, method, path);
		goto out;
	}
	if (http < 200 || http >= 300) {
		ret = k8s_err(e, -EPROTO, "%s %s: unexpected HTTP %ld", method, path, http);
		goto out;
	}
	if (e)
		e->http = (int)http;
	if (out) {
		*out = j;
		j = NULL;
	}
out:
	json_decref(j);
	free(b.p);
	return ret;
}

/* ---------------------------------------------------------------- paths */

static bool segment_ok(const char *s)
{
	if (!s[0] || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == '?' || *s == '#' || *s == '%' || (unsigned char)*s <= 0x20 ||
		    (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int azds_k8s_path(char *buf, size_t len, const struct azds_k8s_res *r, const char *ns, const char *name,
		  const char *sub)
{
	bool core = !strchr(r->gv, '/');
	int n;
	if ((ns && !segment_ok(ns)) || (name && !segment_ok(name)) || (sub && (!name || !segment_ok(sub))))
		return -EINVAL;
	if (!r->namespaced)
		ns = NULL;
	n = snprintf(buf, len, "/%s/%s%s%s/%s%s%s%s%s", core ? "api" : "apis", r->gv, ns ? "/namespaces/" : "",
		     ns ? ns : "", r->resource, name ? "/" : "", name ? name : "", sub ? "/" : "", sub ? sub : "");
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int k8s_query_add(char *buf, size_t len, const char *key, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(buf);
	if (!v)
		return 0;
	int w = snprintf(buf + n, len - n, "%c%s=", strchr(buf, '?') ? '&' : '?', key);
	if (w < 0 || (size_t)w >= len - n)
		return -ENAMETOOLONG;
	n += (size_t)w;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			     *p == '-' || *p == '.' || *p == '_' || *p == '~';
		if (n + (plain ? 1 : 3) >= len)
			return -ENAMETOOLONG;
		if (plain) {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 15];
		}
	}
	buf[n] = 0;
	return 0;
}

/* ------------------------------------------------------------- verbs */

static int path_or_err(char *buf, size_t len, const struct azds_k8s_res *r, const char *ns, const char *name,
		       struct azds_k8s_err *e)
{
	int ret = azds_k8s_path(buf, len, r, ns, name, NULL);
	if (ret)
		return k8s_err(e, ret, "%s: %s%s%s%s", r->resource,
			       ret == -EINVAL ? "a bad name: " : "path too long: ", ns ? ns : "", ns ? "/" : "",
			       name ? name : "");
	return 0;
}

int azds_k8s_get(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns, const char *name, json_t **out,
		 struct azds_k8s_err *e)
{
	char p[AZDS_K8S_PATH_MAX];
	int ret = path_or_err(p, sizeof(p), r, ns, name, e);
	return ret ? ret : azds_k8s_request(k, "GET", p, NULL, NULL, out, e);
}

int azds_k8s_create(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns, const json_t *obj, json_t **out,
		    struct azds_k8s_err *e)
{
	char p[AZDS_K8S_PATH_MAX];
	int ret = path_or_err(p, sizeof(p), r, ns, NULL, e);
	return ret ? ret : azds_k8s_request(k, "POST", p, NULL, obj, out, e);
}

int azds_k8s_patch(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns, const char *name,
		   enum azds_k8s_patch type, const json_t *patch, json_t **out, struct azds_k8s_err *e)
{
	char p[AZDS_K8S_PATH_MAX];
	int ret = path_or_err(p, sizeof(p), r, ns, name, e);
	if (ret)
		return ret;
	if (type == AZDS_K8S_PATCH_JSON ? !json_is_array(patch) : !json_is_object(patch))
		return k8s_err(e, -EINVAL, "PATCH %s: a %s patch must be %s", p,
			       type == AZDS_K8S_PATCH_JSON ? "JSON" : "merge",
			       type == AZDS_K8S_PATCH_JSON ? "an array" : "an object");
	return azds_k8s_request(
	    k, "PATCH", p, type == AZDS_K8S_PATCH_JSON ? "application/json-patch+json" : "application/merge-patch+json",
	    patch, out, e);
}

int azds_k8s_delete(struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns, const char *name, json_t **out,
		    struct azds_k8s_err *e)
{
	char p[AZDS_K8S_PATH_MAX];
	int ret = path_or_err(p, sizeof(p), r, ns, name, e);
	return ret ? ret : azds_k8s_request(k, "DELETE", p, NULL, NULL, out, e);
}
