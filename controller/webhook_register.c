// SPDX-License-Identifier: MIT
/*
 * The MutatingWebhookConfiguration that sends pods of spaces to the
 * webhook (docs/webhook.md says why each field is what it is).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "k8s.h"
#include "webhook.h"

#define CA_PEM_MAX (64u << 10)

static int k8s_fail(struct azds_err *e, int err, const char *what, const struct azds_k8s_err *ke)
{
	return azds_err(e, -err, "webhook registration: %s: %s", what, ke->msg);
}

static json_t *client_config(const char *url, const char *svc_ns, const char *svc_name, int svc_port,
			     const char *ca_b64)
{
	if (url)
		return json_pack("{s:s, s:s}", "url", url, "caBundle", ca_b64);
	return json_pack("{s:{s:s, s:s, s:s, s:i}, s:s}", "service", "namespace", svc_ns, "name", svc_name, "path",
			 WEBHOOK_PATH, "port", svc_port, "caBundle", ca_b64);
}

static json_t *config(const char *name, json_t *cc)
{
	return json_pack(
	    "{s:s, s:s, s:{s:s, s:{s:s}}, s:[{s:s, s:o, s:[{s:[s], s:[s], s:[s], s:[s], s:s}], "
	    "s:{s:{s:s}}, s:s, s:s, s:s, s:[s], s:i, s:s}]}",
	    "apiVersion", "admissionregistration.k8s.io/v1", "kind", "MutatingWebhookConfiguration", "metadata", "name",
	    name, "labels", "app.kubernetes.io/managed-by", "azds", "webhooks", "name", "space.webhook.azds.io",
	    "clientConfig", cc, "rules", "apiGroups", "", "apiVersions", "v1", "operations", "CREATE", "resources",
	    "pods", "scope", "Namespaced", "namespaceSelector", "matchLabels", WEBHOOK_NS_SELECTOR, "true",
	    /* routing never depends on the webhook: a pod it misses is steered all the same */
	    "failurePolicy", "Ignore", "sideEffects", "None", "matchPolicy", "Equivalent", "admissionReviewVersions",
	    "v1", "timeoutSeconds", WEBHOOK_TIMEOUT_S, "reinvocationPolicy", "Never");
}

int webhook_register(struct azds_k8s *k, const char *name, const char *url_or_NULL, const char *svc_ns,
		     const char *svc_name, int svc_port, const char *ca_pem, struct azds_err *e)
{
	const struct azds_k8s_res *r = &azds_k8s_mutatingwebhookconfigurations;
	struct azds_k8s_err ke = {0};
	json_t *obj = NULL, *cur = NULL, *cc;
	char *b64 = NULL, path[AZDS_K8S_PATH_MAX];
	size_t n = ca_pem ? strlen(ca_pem) : 0;
	int err;

	if (!n || n > CA_PEM_MAX || !strstr(ca_pem, "-----BEGIN CERTIFICATE-----"))
		return azds_err(e, EINVAL, "webhook registration: no CA bundle PEM");
	if (url_or_NULL ? strncmp(url_or_NULL, "https://", 8) != 0
			: (!svc_ns || !svc_name || svc_port < 1 || svc_port > 65535))
		return azds_err(e, EINVAL, "webhook registration: want an https:// URL or a Service and port");
	b64 = malloc(4 * ((n + 2) / 3) + 1);
	if (!b64)
		return azds_err(e, ENOMEM, "out of memory");
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)ca_pem, (int)n);
	cc = client_config(url_or_NULL, svc_ns, svc_name, svc_port, b64);
	obj = cc ? config(name, cc) : NULL;
	free(b64);
	if (!obj)
		return azds_err(e, ENOMEM, "out of memory");
	err = azds_k8s_create(k, r, NULL, obj, NULL, &ke);
	/* it exists: replace it whole (PUT with its resourceVersion); a race with another writer is retried */
	for (int tries = 0; err == -EEXIST || (err == -EAGAIN && tries < 5); tries++) {
		json_t *rv;

		err = azds_k8s_get(k, r, NULL, name, &cur, &ke);
		if (err)
			break;
		rv = json_object_get(json_object_get(cur, "metadata"), "resourceVersion");
		if (!json_is_string(rv)) {
			json_decref(cur);
			json_decref(obj);
			return azds_err(e, EPROTO, "webhook registration: %s has no resourceVersion", name);
		}
		json_object_set(json_object_get(obj, "metadata"), "resourceVersion", rv);
		json_decref(cur);
		cur = NULL;
		err = azds_k8s_path(path, sizeof(path), r, NULL, name, NULL);
		if (err) {
			json_decref(obj);
			return azds_err(e, -err, "webhook registration: name \"%.64s\"", name);
		}
		err = azds_k8s_request(k, "PUT", path, NULL, obj, NULL, &ke);
	}
	json_decref(obj);
	if (err)
		return k8s_fail(e, err, name, &ke);
	return 0;
}

int webhook_unregister(struct azds_k8s *k, const char *name, struct azds_err *e)
{
	struct azds_k8s_err ke = {0};
	int err = azds_k8s_delete(k, &azds_k8s_mutatingwebhookconfigurations, NULL, name, NULL, &ke);

	if (err && err != -ENOENT)
		return k8s_fail(e, err, name, &ke);
	return 0;
}
