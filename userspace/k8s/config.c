// SPDX-License-Identifier: MIT
/*
 * kubeconfig and in-cluster config. The file is read whole (bounded),
 * loaded as a libyaml document, and walked: current-context (or the named
 * one) -> its cluster and user -> server, CA, TLS switch, token or client
 * certificate. Certificates and keys are checked with OpenSSL here, so
 * that a bad one is an error naming its field rather than a TLS failure
 * at the first request.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "k8s.h"
#include "k8s_int.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

int azds_k8s_read_file(const char *path, size_t max, char **out, size_t *len, const char *what, struct azds_k8s_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return k8s_err(e, -errno, "%s %s: %s", what, path, strerror(errno));
	char *buf = malloc(max + 1);
	size_t n = 0;
	int ret = 0;
	if (!buf) {
		ret = k8s_err(e, -ENOMEM, "%s %s: out of memory", what, path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = k8s_err(e, -errno, "%s %s: %s", what, path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			ret = k8s_err(e, -EFBIG, "%s %s: larger than %zu bytes", what, path, max);
			goto out;
		}
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return ret;
}

/* ------------------------------------------------------------ YAML walk */

struct walk {
	yaml_document_t doc;
	const char *name; /* the file, for messages */
	struct azds_k8s_err *e;
};

static yaml_node_t *map_get(struct walk *w, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&w->doc, p->key);
		if (k && k->type == YAML_SCALAR_NODE && strlen(key) == k->data.scalar.length &&
		    !memcmp(k->data.scalar.value, key, k->data.scalar.length))
			return yaml_document_get_node(&w->doc, p->value);
	}
	return NULL;
}

static unsigned line_of(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 0;
}

/* A scalar field of MAP, or NULL (absent or empty). Not a scalar: error. */
static int scalar(struct walk *w, yaml_node_t *map, const char *where, const char *key, const char **out)
{
	yaml_node_t *n = map_get(w, map, key);
	*out = NULL;
	if (!n)
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return k8s_err(w->e, -EINVAL, "%s:%u: %s.%s: not a string", w->name, line_of(n), where, key);
	if (n->data.scalar.length)
		*out = (const char *)n->data.scalar.value;
	return 0;
}

/* The mapping named NAME in the list KEY (clusters, users, contexts), at ITEM_KEY. */
static int named(struct walk *w, yaml_node_t *root, const char *key, const char *item_key, const char *name,
		 yaml_node_t **out)
{
	yaml_node_t *seq = map_get(w, root, key);
	if (!seq)
		return k8s_err(w->e, -ENOENT, "%s: no %s", w->name, key);
	if (seq->type != YAML_SEQUENCE_NODE)
		return k8s_err(w->e, -EINVAL, "%s:%u: %s: not a list", w->name, line_of(seq), key);
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
		yaml_node_t *item = yaml_document_get_node(&w->doc, *i);
		const char *n;
		int ret = scalar(w, item, key, "name", &n);
		if (ret)
			return ret;
		if (!n || strcmp(n, name))
			continue;
		*out = map_get(w, item, item_key);
		if (!*out || (*out)->type != YAML_MAPPING_NODE)
			return k8s_err(w->e, -EINVAL, "%s:%u: %s[name=%s].%s: missing or not a mapping", w->name,
				       line_of(item), key, name, item_key);
		return 0;
	}
	return k8s_err(w->e, -ENOENT, "%s: %s: no entry named \"%s\"", w->name, key, name);
}

static int copy_str(char *dst, size_t len, const char *src, struct walk *w, const char *field)
{
	size_t n = strlen(src);
	if (n >= len)
		return k8s_err(w->e, -ENAMETOOLONG, "%s: %s: longer than %zu bytes", w->name, field, len - 1);
	memcpy(dst, src, n + 1);
	return 0;
}

/* base64 (line breaks allowed) into a new NUL-terminated buffer. */
static int b64_decode(const char *in, char **out, size_t *len)
{
	size_t n = strlen(in);
	unsigned char *buf = malloc(n / 4 * 3 + 64); /* EVP decodes in blocks: room for the last */
	if (!buf)
		return -ENOMEM;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int l1 = 0, l2 = 0;
	if (!ctx) {
		free(buf);
		return -ENOMEM;
	}
	EVP_DecodeInit(ctx);
	if (n > INT_MAX || EVP_DecodeUpdate(ctx, buf, &l1, (const unsigned char *)in, (int)n) < 0 ||
	    EVP_DecodeFinal(ctx, buf + l1, &l2) < 0) {
		EVP_ENCODE_CTX_free(ctx);
		free(buf);
		return -EINVAL;
	}
	EVP_ENCODE_CTX_free(ctx);
	buf[l1 + l2] = 0;
	*out = (char *)buf;
	*len = (size_t)(l1 + l2);
	return 0;
}

enum pem_kind { PEM_CERTS, PEM_CERT, PEM_KEY };

static int pem_check(const char *buf, size_t len, enum pem_kind kind)
{
	BIO *b = BIO_new_mem_buf(buf, (int)len);
	int ok = 0;
	if (!b)
		return -ENOMEM;
	if (kind == PEM_KEY) {
		EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		ok = k != NULL;
		EVP_PKEY_free(k);
	} else {
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		ok = x != NULL;
		X509_free(x);
	}
	BIO_free(b);
	return ok ? 0 : -EINVAL;
}

static const char *pem_what[] = {"a PEM certificate bundle", "a PEM certificate", "a PEM private key"};

/*
 * FIELD-data (base64) or FIELD (a file, relative to DIR): PEM into *OUT,
 * checked. Neither is fine (*OUT stays NULL).
 */
static int pem_field(struct walk *w, yaml_node_t *map, const char *where, const char *field, const char *dir,
		     enum pem_kind kind, char **out, size_t *len)
{
	char dfield[64], path[PATH_MAX];
	const char *data, *file;
	int ret;
	snprintf(dfield, sizeof(dfield), "%s-data", field);
	if ((ret = scalar(w, map, where, dfield, &data)) || (ret = scalar(w, map, where, field, &file)))
		return ret;
	if (data) {
		if (b64_decode(data, out, len))
			return k8s_err(w->e, -EINVAL, "%s: %s.%s: not base64", w->name, where, dfield);
		if (pem_check(*out, *len, kind))
			return k8s_err(w->e, -EINVAL, "%s: %s.%s: not %s", w->name, where, dfield, pem_what[kind]);
		return 0;
	}
	if (!file)
		return 0;
	if (file[0] != '/' && dir && dir[0]) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
			return k8s_err(w->e, -ENAMETOOLONG, "%s: %s.%s: path too long", w->name, where, field);
		file = path;
	}
	struct azds_k8s_err fe;
	ret = azds_k8s_read_file(file, AZDS_K8S_CONFIG_MAX, out, len, "read", &fe);
	if (ret)
		return k8s_err(w->e, ret, "%s: %s.%s: %s", w->name, where, field, fe.msg);
	if (pem_check(*out, *len, kind))
		return k8s_err(w->e, -EINVAL, "%s: %s.%s: %s is not %s", w->name, where, field, file, pem_what[kind]);
	return 0;
}

/* A token: trailing whitespace and newlines go (files end with one). */
static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
}

int azds_k8s_token_read(const char *path, char **out, struct azds_k8s_err *e)
{
	size_t len;
	int ret = azds_k8s_read_file(path, AZDS_K8S_CONFIG_MAX, out, &len, "token file", e);
	if (ret)
		return ret;
	bool nul = strlen(*out) != len;
	trim(*out);
	if (!**out || nul) {
		free(*out);
		*out = NULL;
		return k8s_err(e, -EINVAL, "token file %s: %s", path, nul ? "not text (a NUL byte)" : "empty");
	}
	for (const char *p = *out; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
			free(*out);
			*out = NULL;
			return k8s_err(e, -EINVAL, "token file %s: not a bearer token (a byte 0x%02x)", path,
				       (unsigned char)*p);
		}
	return 0;
}

static int bool_field(struct walk *w, yaml_node_t *map, const char *where, const char *key, bool *out)
{
	const char *v;
	int ret = scalar(w, map, where, key, &v);
	if (ret || !v)
		return ret;
	if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
		*out = false;
	else
		return k8s_err(w->e, -EINVAL, "%s: %s.%s: \"%s\" is not true or false", w->name, where, key, v);
	return 0;
}

static int server_check(struct walk *w, const char *where, const char *s)
{
	if (strncmp(s, "https://", 8) && strncmp(s, "http://", 7))
		return k8s_err(w->e, -EINVAL, "%s: %s.server: \"%s\" is not an http(s):// URL", w->name, where, s);
	return 0;
}

static int cluster_load(struct walk *w, yaml_node_t *cl, const char *name, const char *dir, struct azds_k8s_config *c)
{
	char where[300];
	const char *server, *unsup;
	int ret;
	snprintf(where, sizeof(where), "clusters[name=%s].cluster", name);
	if ((ret = scalar(w, cl, where, "server", &server)))
		return ret;
	if (!server)
		return k8s_err(w->e, -EINVAL, "%s: %s.server: missing", w->name, where);
	if ((ret = server_check(w, where, server)) ||
	    (ret = copy_str(c->server, sizeof(c->server), server, w, "server")))
		return ret;
	size_t n = strlen(c->server);
	while (n > 8 && c->server[n - 1] == '/')
		c->server[--n] = 0;
	if ((ret = bool_field(w, cl, where, "insecure-skip-tls-verify", &c->insecure)))
		return ret;
	if ((ret = scalar(w, cl, where, "proxy-url", &unsup)))
		return ret;
	if (unsup)
		return k8s_err(w->e, -EOPNOTSUPP, "%s: %s.proxy-url: not supported", w->name, where);
	if ((ret = scalar(w, cl, where, "tls-server-name", &unsup)))
		return ret;
	if (unsup)
		return k8s_err(w->e, -EOPNOTSUPP, "%s: %s.tls-server-name: not supported", w->name, where);
	return pem_field(w, cl, where, "certificate-authority", dir, PEM_CERTS, &c->ca, &c->ca_len);
}

static int user_load(struct walk *w, yaml_node_t *u, const char *name, const char *dir, struct azds_k8s_config *c)
{
	char where[300], path[PATH_MAX];
	const char *token, *tfile;
	static const char *const unsup[] = {"exec", "auth-provider", "username", "password", "as"};
	int ret;
	snprintf(where, sizeof(where), "users[name=%s].user", name);
	for (size_t i = 0; i < sizeof(unsup) / sizeof(unsup[0]); i++)
		if (map_get(w, u, unsup[i]))
			return k8s_err(w->e, -EOPNOTSUPP,
				       "%s: %s.%s: not supported (use a token or a client certificate)", w->name, where,
				       unsup[i]);
	if ((ret = pem_field(w, u, where, "client-certificate", dir, PEM_CERT, &c->cert, &c->cert_len)) ||
	    (ret = pem_field(w, u, where, "client-key", dir, PEM_KEY, &c->key, &c->key_len)))
		return ret;
	if (!c->cert != !c->key)
		return k8s_err(w->e, -EINVAL, "%s: %s: %s without %s", w->name, where,
			       c->cert ? "client-certificate" : "client-key",
			       c->cert ? "client-key" : "client-certificate");
	if (c->cert && (ret = azds_k8s_tls_pair_check(c->cert, c->cert_len, c->key, c->key_len)))
		return k8s_err(w->e, ret, "%s: %s: client-key does not match client-certificate", w->name, where);
	if ((ret = scalar(w, u, where, "token", &token)))
		return ret;
	if ((ret = scalar(w, u, where, "tokenFile", &tfile)))
		return ret;
	if (!tfile && (ret = scalar(w, u, where, "token-file", &tfile)))
		return ret;
	if (token) {
		if (!(c->token = strdup(token)))
			return -ENOMEM;
		trim(c->token);
		return 0;
	}
	if (!tfile)
		return 0;
	if (tfile[0] != '/' && dir && dir[0]) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, tfile) >= sizeof(path))
			return k8s_err(w->e, -ENAMETOOLONG, "%s: %s.tokenFile: path too long", w->name, where);
		tfile = path;
	}
	if ((ret = copy_str(c->token_file, sizeof(c->token_file), tfile, w, "tokenFile")))
		return ret;
	struct azds_k8s_err te;
	if ((ret = azds_k8s_token_read(tfile, &c->token, &te)))
		return k8s_err(w->e, ret, "%s: %s.tokenFile: %s", w->name, where, te.msg);
	return 0;
}

static int walk_config(struct walk *w, const char *dir, const char *context, struct azds_k8s_config *c)
{
	yaml_node_t *root = yaml_document_get_root_node(&w->doc), *ctx, *cl, *u;
	const char *cname, *uname, *ns, *cur;
	int ret;
	if (!root || root->type != YAML_MAPPING_NODE)
		return k8s_err(w->e, -EINVAL, "%s: not a kubeconfig (no mapping at the top)", w->name);
	if ((ret = scalar(w, root, "kubeconfig", "current-context", &cur)))
		return ret;
	if (!context || !context[0]) {
		if (!cur)
			return k8s_err(w->e, -ENOENT, "%s: current-context: missing (and no context named)", w->name);
		context = cur;
	}
	if ((ret = copy_str(c->context, sizeof(c->context), context, w, "context")))
		return ret;
	if ((ret = named(w, root, "contexts", "context", context, &ctx)))
		return ret;
	char where[300];
	snprintf(where, sizeof(where), "contexts[name=%s].context", context);
	if ((ret = scalar(w, ctx, where, "cluster", &cname)) || (ret = scalar(w, ctx, where, "user", &uname)) ||
	    (ret = scalar(w, ctx, where, "namespace", &ns)))
		return ret;
	if (!cname)
		return k8s_err(w->e, -EINVAL, "%s: %s.cluster: missing", w->name, where);
	if ((ret = copy_str(c->ns, sizeof(c->ns), ns ? ns : "default", w, "namespace")))
		return ret;
	if ((ret = named(w, root, "clusters", "cluster", cname, &cl)) || (ret = cluster_load(w, cl, cname, dir, c)))
		return ret;
	if (uname && ((ret = named(w, root, "users", "user", uname, &u)) || (ret = user_load(w, u, uname, dir, c))))
		return ret;
	if (c->insecure && c->ca)
		return k8s_err(w->e, -EINVAL,
			       "%s: clusters[name=%s].cluster: insecure-skip-tls-verify with a certificate-authority",
			       w->name, cname);
	return 0;
}

static void config_zero(struct azds_k8s_config *c)
{
	memset(c, 0, sizeof(*c));
}

void azds_k8s_config_free(struct azds_k8s_config *c)
{
	if (!c)
		return;
	free(c->ca);
	free(c->cert);
	if (c->key)
		OPENSSL_cleanse(c->key, c->key_len);
	free(c->key);
	if (c->token)
		OPENSSL_cleanse(c->token, strlen(c->token));
	free(c->token);
	config_zero(c);
}

int azds_k8s_config_parse(struct azds_k8s_config *c, const char *text, size_t len, const char *name, const char *dir,
			  const char *context, struct azds_k8s_err *e)
{
	struct walk w = {.name = name, .e = e};
	yaml_parser_t p;
	int ret;
	config_zero(c);
	k8s_err_clear(e);
	if (len > AZDS_K8S_CONFIG_MAX)
		return k8s_err(e, -EFBIG, "%s: larger than %u bytes", name, AZDS_K8S_CONFIG_MAX);
	if (!yaml_parser_initialize(&p))
		return k8s_err(e, -ENOMEM, "%s: out of memory", name);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &w.doc)) {
		ret = k8s_err(e, -EINVAL, "%s:%zu:%zu: YAML: %s", name, p.problem_mark.line + 1,
			      p.problem_mark.column + 1, p.problem ? p.problem : "unreadable");
		yaml_parser_delete(&p);
		return ret;
	}
	yaml_parser_delete(&p);
	ret = walk_config(&w, dir, context, c);
	yaml_document_delete(&w.doc);
	if (!ret && (size_t)snprintf(c->source, sizeof(c->source), "%s", name) >= sizeof(c->source))
		ret = k8s_err(e, -ENAMETOOLONG, "%s: name too long", name);
	if (ret)
		azds_k8s_config_free(c);
	return ret;
}

int azds_k8s_config_load(struct azds_k8s_config *c, const char *path, const char *context, struct azds_k8s_err *e)
{
	char buf[PATH_MAX], dir[PATH_MAX];
	char *text;
	size_t len;
	int ret;
	config_zero(c);
	k8s_err_clear(e);
	if (!path || !path[0]) {
		const char *env = getenv("KUBECONFIG");
		if (env && env[0]) {
			/* The first file of the list, as kubectl would read first. */
			size_t n = strcspn(env, ":");
			if (n >= sizeof(buf))
				return k8s_err(e, -ENAMETOOLONG, "$KUBECONFIG: first path too long");
			memcpy(buf, env, n);
			buf[n] = 0;
		} else {
			const char *home = getenv("HOME");
			if (!home || !home[0])
				return k8s_err(e, -ENOENT, "no kubeconfig: neither $KUBECONFIG nor $HOME is set");
			if ((size_t)snprintf(buf, sizeof(buf), "%s/.kube/config", home) >= sizeof(buf))
				return k8s_err(e, -ENAMETOOLONG, "$HOME too long");
		}
		path = buf;
	}
	if ((ret = azds_k8s_read_file(path, AZDS_K8S_CONFIG_MAX, &text, &len, "kubeconfig", e)))
		return ret;
	if (strlen(text) != len) {
		free(text);
		return k8s_err(e, -EINVAL, "%s: not text (a NUL byte)", path);
	}
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	if (slash == dir)
		strcpy(dir, "/");
	ret = azds_k8s_config_parse(c, text, len, path, dir, context, e);
	free(text);
	return ret;
}

int azds_k8s_config_incluster(struct azds_k8s_config *c, const char *dir, struct azds_k8s_err *e)
{
	char path[PATH_MAX];
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	size_t len;
	int ret;
	config_zero(c);
	k8s_err_clear(e);
	if (!dir)
		dir = SA_DIR;
	if (!host || !host[0])
		return k8s_err(e, -ENOENT, "in-cluster: KUBERNETES_SERVICE_HOST is not set");
	if (!port || !port[0])
		port = "443";
	if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
		return k8s_err(e, -EINVAL, "in-cluster: KUBERNETES_SERVICE_PORT \"%s\" is not a port", port);
	/* An IPv6 address goes in brackets. */
	bool v6 = strchr(host, ':') != NULL;
	if ((size_t)snprintf(c->server, sizeof(c->server), "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
			     port) >= sizeof(c->server))
		return k8s_err(e, -ENAMETOOLONG, "in-cluster: KUBERNETES_SERVICE_HOST too long");
	if ((size_t)snprintf(c->source, sizeof(c->source), "%s", dir) >= sizeof(c->source) ||
	    (size_t)snprintf(c->token_file, sizeof(c->token_file), "%s/token", dir) >= sizeof(c->token_file))
		return k8s_err(e, -ENAMETOOLONG, "in-cluster: %s: path too long", dir);
	if ((ret = azds_k8s_token_read(c->token_file, &c->token, e)))
		goto fail;
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	if ((ret = azds_k8s_read_file(path, AZDS_K8S_CONFIG_MAX, &c->ca, &c->ca_len, "in-cluster CA", e)))
		goto fail;
	if (pem_check(c->ca, c->ca_len, PEM_CERTS)) {
		ret = k8s_err(e, -EINVAL, "in-cluster CA %s: not a PEM certificate bundle", path);
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/namespace", dir);
	char *ns;
	struct azds_k8s_err ne;
	if (azds_k8s_read_file(path, 256, &ns, &len, "namespace", &ne) == 0) {
		trim(ns);
		snprintf(c->ns, sizeof(c->ns), "%s", ns[0] ? ns : "default");
		free(ns);
	} else {
		strcpy(c->ns, "default");
	}
	return 0;
fail:
	azds_k8s_config_free(c);
	return ret;
}

int azds_k8s_config_auto(struct azds_k8s_config *c, const char *path, const char *context, struct azds_k8s_err *e)
{
	const char *env = getenv("KUBECONFIG"), *host = getenv("KUBERNETES_SERVICE_HOST");
	if ((path && path[0]) || (env && env[0]) || !host || !host[0])
		return azds_k8s_config_load(c, path, context, e);
	return azds_k8s_config_incluster(c, NULL, e);
}
