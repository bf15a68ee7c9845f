// SPDX-License-Identifier: MIT
/*
 * An AdmissionReview v1 answered: the JSONPatch that gives a space's pod
 * its label and DNS search list (docs/webhook.md). Nothing else of the pod
 * is ever touched; anything that is not a Pod CREATE in a space is allowed
 * as it is. Input is hostile until checked: every field's type is looked
 * at before use, and a review that is not one is -EINVAL (HTTP 400).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "webhook.h"

#define UID_MAX	  256
#define NS_MAX	  63
#define SEG_MAX	  63
#define LABEL_MAX 63
#define PATH_MAX_ 255
#define DEPTH_MAX 16 /* AZDS_DEPTH_HARD_MAX: no chain is longer */

/* A DNS label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
static bool dns_label(const char *s, size_t n)
{
	if (!n || n > SEG_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Split PATH into at most DEPTH_MAX segments of DNS labels; their count, or -EINVAL. */
static int path_split(const char *path, const char *seg[DEPTH_MAX], size_t seglen[DEPTH_MAX])
{
	int n = 0;
	const char *p = path;

	if (strlen(path) > PATH_MAX_)
		return -EINVAL;
	for (;;) {
		const char *q = strchr(p, '/');
		size_t l = q ? (size_t)(q - p) : strlen(p);

		if (n == DEPTH_MAX || !dns_label(p, l))
			return -EINVAL;
		seg[n] = p;
		seglen[n++] = l;
		if (!q)
			return n;
		p = q + 1;
	}
}

int webhook_label_value(const char *path, char *buf, size_t len)
{
	size_t n = strlen(path);
	unsigned h = 2166136261u; /* FNV-1a of the whole path */

	if (len < LABEL_MAX + 1)
		return -ENOSPC;
	if (n <= LABEL_MAX) {
		for (size_t i = 0; i <= n; i++)
			buf[i] = path[i] == '/' ? '.' : path[i];
		return 0;
	}
	/* longer than a label value may be: 54 characters, then "-" and 8 hex */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)path[i]) * 16777619u;
	n = 54;
	while (n && !((path[n - 1] >= 'a' && path[n - 1] <= 'z') || (path[n - 1] >= '0' && path[n - 1] <= '9')))
		n--;
	for (size_t i = 0; i < n; i++)
		buf[i] = path[i] == '/' ? '.' : path[i];
	snprintf(buf + n, len - n, "-%08x", h);
	return 0;
}

static int bad(struct azds_err *e, const char *what)
{
	return azds_err(e, EINVAL, "malformed AdmissionReview: %s", what);
}

/* OBJ's member KEY: absent and null are both "none" (NULL); else it must be of TYPE. */
static int member(json_t *obj, const char *key, json_type type, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_typeof(v) != type)
		return -EINVAL;
	*out = v;
	return 0;
}

static int add_op(json_t *ops, const char *path, json_t *value)
{
	json_t *op = json_pack("{s:s, s:s, s:o}", "op", "add", "path", path, "value", value);

	if (!op || json_array_append_new(ops, op))
		return -ENOMEM;
	return 0;
}

/* The label, in or with metadata.labels (an existing value of ours replaced, others kept). */
static int patch_label(json_t *ops, json_t *pod, const char *value, struct azds_err *e)
{
	json_t *meta, *labels, *cur;

	if (member(pod, "metadata", JSON_OBJECT, &meta))
		return bad(e, "request.object.metadata is not an object");
	if (!meta)
		return add_op(ops, "/metadata", json_pack("{s:{s:s}}", "labels", WEBHOOK_LABEL, value));
	if (member(meta, "labels", JSON_OBJECT, &labels))
		return bad(e, "request.object.metadata.labels is not an object");
	if (!labels)
		return add_op(ops, "/metadata/labels", json_pack("{s:s}", WEBHOOK_LABEL, value));
	cur = json_object_get(labels, WEBHOOK_LABEL);
	if (json_is_string(cur) && !strcmp(json_string_value(cur), value))
		return 0;
	/* RFC 6901: '/' in a key is "~1" */
	return add_op(ops, "/metadata/labels/azds.io~1space", json_string(value));
}

/* Does the pod use the cluster's DNS (where NS.svc.D names mean something)? */
static int cluster_dns(json_t *spec, bool *yes, struct azds_err *e)
{
	json_t *pol, *hn;
	const char *p;

	if (member(spec, "dnsPolicy", JSON_STRING, &pol))
		return bad(e, "request.object.spec.dnsPolicy is not a string");
	hn = json_object_get(spec, "hostNetwork");
	if (hn && !json_is_boolean(hn) && !json_is_null(hn))
		return bad(e, "request.object.spec.hostNetwork is not a boolean");
	p = pol ? json_string_value(pol) : "ClusterFirst";
	/* ClusterFirst on the host's network is Default (the node's resolv.conf); None is the user's own */
	*yes = (!strcmp(p, "ClusterFirst") && !json_is_true(hn)) || !strcmp(p, "ClusterFirstWithHostNet");
	return 0;
}

/*
 * The search list: the space's own namespace, then each ancestor's, each
 * NS.svc.DOMAIN, after what the pod's dnsConfig already has. The entries
 * stop at the first that would break the bounds the API server checks
 * (32 entries, 2048 characters joined by spaces, each a DNS name of 253
 * at most), with room kept for kubelet's 3 cluster entries so that
 * kubelet never has to cut ours.
 */
static int patch_dns(json_t *ops, json_t *pod, const char *const *seg, const size_t *seglen, int nseg,
		     const char *domain, const char *ns, struct azds_err *e)
{
	json_t *spec, *cfg, *searches = NULL, *add;
	size_t count = WEBHOOK_DNS_KUBELET, chars, dl = strlen(domain);
	bool yes = false;
	int err;

	if (member(pod, "spec", JSON_OBJECT, &spec))
		return bad(e, "request.object.spec is not an object");
	if (!spec)
		return 0;
	err = cluster_dns(spec, &yes, e);
	if (err || !yes)
		return err;
	if (member(spec, "dnsConfig", JSON_OBJECT, &cfg))
		return bad(e, "request.object.spec.dnsConfig is not an object");
	if (cfg && member(cfg, "searches", JSON_ARRAY, &searches))
		return bad(e, "request.object.spec.dnsConfig.searches is not an array");
	/* kubelet's own: NS.svc.D svc.D D, joined by spaces */
	chars = strlen(ns) + 5 + dl + 1 + 4 + dl + 1 + dl;
	for (size_t i = 0; searches && i < json_array_size(searches); i++) {
		json_t *s = json_array_get(searches, i);

		if (!json_is_string(s))
			return bad(e, "request.object.spec.dnsConfig.searches holds a non-string");
		count++;
		chars += 1 + json_string_length(s);
	}
	add = json_array();
	if (!add)
		return -ENOMEM;
	for (int i = nseg - 1; i >= 0; i--) {
		char name[256];
		int n = snprintf(name, sizeof(name), "%.*s.svc.%s", (int)seglen[i], seg[i], domain);
		bool dup = false;

		if (n < 0 || n > 253 || count + 1 > WEBHOOK_DNS_SEARCH_MAX ||
		    chars + 1 + (size_t)n > WEBHOOK_DNS_SEARCH_CHARS)
			break;
		for (size_t j = 0; searches && j < json_array_size(searches); j++)
			dup |= !strcmp(json_string_value(json_array_get(searches, j)), name);
		if (dup)
			continue;
		if (json_array_append_new(add, json_string(name))) {
			json_decref(add);
			return -ENOMEM;
		}
		count++;
		chars += 1 + (size_t)n;
	}
	if (!json_array_size(add)) {
		json_decref(add);
		return 0;
	}
	if (!cfg)
		return add_op(ops, "/spec/dnsConfig", json_pack("{s:o}", "searches", add));
	if (!searches)
		return add_op(ops, "/spec/dnsConfig/searches", add);
	/* appended one by one after the pod's own: theirs keep their place */
	for (size_t i = 0; i < json_array_size(add); i++) {
		err = add_op(ops, "/spec/dnsConfig/searches/-", json_incref(json_array_get(add, i)));
		if (err)
			break;
	}
	json_decref(add);
	return err;
}

static char *b64(const char *s, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

static bool str_is(json_t *obj, const char *key, const char *want)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) && !strcmp(json_string_value(v), want);
}

/* The patch for a Pod CREATE in namespace NS (ops left empty when NS is not a space). */
static int pod_ops(const struct webhook_review_ctx *c, json_t *req, const char *ns, json_t *ops, json_t *warnings,
		   char *summary, size_t slen, struct azds_err *e)
{
	char path[PATH_MAX_ + 2], label[LABEL_MAX + 1], w[512];
	const char *seg[DEPTH_MAX];
	size_t seglen[DEPTH_MAX];
	json_t *pod;
	int nseg, err;

	if (member(req, "object", JSON_OBJECT, &pod) || !pod)
		return bad(e, "a Pod CREATE without request.object");
	err = c->space_of ? c->space_of(c->space_arg, ns, path, sizeof(path)) : -ENOENT;
	if (err == -ENOENT) {
		snprintf(summary, slen, "not a space");
		return 0;
	}
	path[sizeof(path) - 1] = 0;
	nseg = err ? -EINVAL : path_split(path, seg, seglen);
	if (err || nseg < 0 || (size_t)seglen[nseg - 1] != strlen(ns) || memcmp(seg[nseg - 1], ns, strlen(ns))) {
		/* allowed unchanged, and the user told: routing works without us */
		snprintf(w, sizeof(w), "azds: namespace %s: no space labels or DNS search list (%s)", ns,
			 err ? strerror(-err) : "its space path is not valid for it");
		json_array_append_new(warnings, json_string(w));
		snprintf(summary, slen, "space lookup failed");
		return 0;
	}
	webhook_label_value(path, label, sizeof(label));
	err = patch_label(ops, pod, label, e);
	if (!err)
		err = patch_dns(ops, pod, seg, seglen, nseg, c->domain ? c->domain : WEBHOOK_DOMAIN, ns, e);
	snprintf(summary, slen, "space %s", path);
	return err;
}

int webhook_review(const struct webhook_review_ctx *c, const char *body, size_t len, char **out, bool *patched,
		   char *line, size_t line_len, struct azds_err *e)
{
	json_t *root, *req, *kind, *resp = NULL, *ops = NULL, *warnings = NULL, *v;
	json_error_t jerr;
	const char *uid, *ns = "", *op = "", *name = "";
	char summary[300] = "no patch", *patch = NULL;
	int err = 0;

	*out = NULL;
	*patched = false;
	line[0] = 0;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return azds_err(e, EINVAL, "malformed AdmissionReview: not JSON: line %d column %d: %s", jerr.line,
				jerr.column, jerr.text);
	if (!json_is_object(root)) {
		err = bad(e, "not a JSON object");
		goto out;
	}
	if (!str_is(root, "apiVersion", "admission.k8s.io/v1") || !str_is(root, "kind", "AdmissionReview")) {
		err = bad(e, "want apiVersion admission.k8s.io/v1, kind AdmissionReview");
		goto out;
	}
	req = json_object_get(root, "request");
	if (!json_is_object(req)) {
		err = bad(e, "no request object");
		goto out;
	}
	v = json_object_get(req, "uid");
	if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > UID_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		err = bad(e, "request.uid missing, empty or over 256 bytes");
		goto out;
	}
	uid = json_string_value(v);
	if ((v = json_object_get(req, "namespace")) && json_is_string(v))
		ns = json_string_value(v);
	if ((v = json_object_get(req, "operation")) && json_is_string(v))
		op = json_string_value(v);
	if ((v = json_object_get(req, "name")) && json_is_string(v))
		name = json_string_value(v);
	kind = json_object_get(req, "kind");
	ops = json_array();
	warnings = json_array();
	if (!ops || !warnings) {
		err = -ENOMEM;
		goto out;
	}
	v = json_object_get(req, "subResource");
	if (json_is_object(kind) && str_is(kind, "group", "") && str_is(kind, "version", "v1") &&
	    str_is(kind, "kind", "Pod") && !strcmp(op, "CREATE") &&
	    (!v || (json_is_string(v) && !json_string_length(v)))) {
		if (!dns_label(ns, strlen(ns)) || strlen(ns) > NS_MAX) {
			err = bad(e, "a Pod CREATE without a valid request.namespace");
			goto out;
		}
		err = pod_ops(c, req, ns, ops, warnings, summary, sizeof(summary), e);
		if (err)
			goto out;
	}
	resp = json_pack("{s:s, s:s, s:{s:s, s:b}}", "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview",
			 "response", "uid", uid, "allowed", 1);
	if (!resp) {
		err = -ENOMEM;
		goto out;
	}
	if (json_array_size(ops)) {
		char *text = json_dumps(ops, JSON_COMPACT);

		patch = text ? b64(text, strlen(text)) : NULL;
		free(text);
		if (!patch ||
		    json_object_set_new(json_object_get(resp, "response"), "patchType", json_string("JSONPatch")) ||
		    json_object_set_new(json_object_get(resp, "response"), "patch", json_string(patch))) {
			err = -ENOMEM;
			goto out;
		}
		*patched = true;
	}
	if (json_array_size(warnings))
		json_object_set(json_object_get(resp, "response"), "warnings", warnings);
	*out = json_dumps(resp, JSON_COMPACT);
	if (!*out)
		err = -ENOMEM;
	snprintf(line, line_len, "uid=%.64s ns=%.63s pod=%.63s op=%.16s: %s, %zu operations", uid, ns, name, op,
		 summary, json_array_size(ops));
out:
	if (err == -ENOMEM)
		azds_err(e, ENOMEM, "out of memory");
	free(patch);
	json_decref(ops);
	json_decref(warnings);
	json_decref(resp);
	json_decref(root);
	return err;
}
