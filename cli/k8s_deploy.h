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
#define K8S_DEPLOY_TEARDOWN_MS 90000  /* every node's teardown pod, until Ready */
#define K8S_DEPLOY_NODES_MAX 5000     /* nodes (and teardown pods) looked at */
#define K8S_TEARDOWN_DS      "azds-teardown"

/* the embedded deploy/kubernetes/azds.yaml and teardown/teardown.yaml */
extern const char azds_deploy_yaml[], azds_teardown_yaml[];
extern const size_t azds_deploy_yaml_len, azds_teardown_yaml_len;

/*
 * YAML documents (TEXT, LEN; NAME for messages) as a JSON array of
 * objects: plain scalars true/false/null/~ and integers become JSON's,
 * everything else a string. Empty documents are skipped. *OUT is new;
 * ERR gets the reason (with the line) on -EINVAL.
 */
int k8s_yaml_docs(const char *text, size_t len, const char *name, json_t **out, char *err, size_t errlen);

/* the manifests with every container's image set to IMAGE (NULL: as written) */
int k8s_deploy_objects(const char *image, json_t **out, char *err, size_t errlen);
/* the same of deploy/kubernetes/teardown/teardown.yaml (the DaemonSet azds/azds-teardown) */
int k8s_teardown_objects(const char *image, json_t **out, char *err, size_t errlen);

/*
 * server-side apply of each object (created, or updated to the manifest);
 * prints what it did. A teardown DaemonSet an interrupted uninstall left
 * goes first.
 */
int k8s_deploy_apply(struct k8s_cluster *c, const struct verb *v, const char *image);

/*
 * Deletes the DaemonSet and waits for its pods to go (no agent left to
 * register the webhook again, nor to attach behind the teardown; after
 * K8S_DEPLOY_WAIT_MS it goes on, saying so: a pod of a node that is down
 * never goes), the webhook's registration again; then, when the azds
 * namespace is there (TEARDOWN), takes azds off every node: the DaemonSet
 * azds-teardown (the agent's image, CNI dirs, pod cgroup and host paths)
 * runs `azds-controller k8s-teardown` on each node, and it waits (up to
 * K8S_DEPLOY_TEARDOWN_MS) until every node's pod is Ready, then deletes
 * it; then the other objects, cluster-scoped RBAC included, and any
 * ClusterRole or ClusterRoleBinding labelled app.kubernetes.io/managed-by=azds.
 * The Namespace itself is the caller's. Absent objects are fine.
 * *NODES_LEFT: how many nodes did not finish (each named on stderr, with
 * why); everything else is removed all the same.
 */
int k8s_deploy_remove(struct k8s_cluster *c, const struct verb *v, bool teardown, int *nodes_left);

#endif
