/* SPDX-License-Identifier: MIT */
/*
 * The manifests of deploy/kubernetes/ (embedded into azds at build time)
 * and how `azds controller install|uninstall` applies and removes them
 * (docs/kubernetes-install.md).
 */
#ifndef AZDS_CLI_K8S_DEPLOY_H
#define AZDS_CLI_K8S_DEPLOY_H

#include <stddef.h>
#include <jansson.h>
#include "k8s_cli.h"

#define K8S_DEPLOY_OBJS_MAX  64	      /* objects of the manifests */
#define K8S_DEPLOY_DEPTH_MAX 64	      /* nesting of one object */
#define K8S_DEPLOY_WAIT_MS   120000   /* the agents' pods, until they are gone */

/* the embedded deploy/kubernetes/azds.yaml, and the image its DaemonSet runs */
extern const char azds_deploy_yaml[];
extern const size_t azds_deploy_yaml_len;

/*
 * YAML documents (TEXT, LEN; NAME for messages) as a JSON array of
 * objects: plain scalars true/false/null/~ and integers become JSON's,
 * everything else a string. Empty documents are skipped. *OUT is new;
 * ERR gets the reason (with the line) on -EINVAL.
 */
int k8s_yaml_docs(const char *text, size_t len, const char *name, json_t **out, char *err, size_t errlen);

/* the manifests with every container's image set to IMAGE (NULL: as written) */
int k8s_deploy_objects(const char *image, json_t **out, char *err, size_t errlen);

/* server-side apply of each object (created, or updated to the manifest); prints what it did */
int k8s_deploy_apply(struct k8s_cluster *c, const struct verb *v, const char *image);

/*
 * Deletes the DaemonSet and waits for its pods to go (no agent left to
 * register the webhook again; after K8S_DEPLOY_WAIT_MS it goes on, saying
 * so: a pod of a node that is down never goes), the webhook's registration again, then the
 * other objects, cluster-scoped RBAC included, and any ClusterRole or
 * ClusterRoleBinding labelled app.kubernetes.io/managed-by=azds. The
 * Namespace itself is the caller's. Absent objects are fine.
 */
int k8s_deploy_remove(struct k8s_cluster *c, const struct verb *v);

#endif
