/* SPDX-License-Identifier: MIT */
/*
 * The node agent of the Kubernetes mode (issue 11, docs/kubernetes.md):
 * `azds-controller -i INST run --kubeconfig FILE --node NAME`. The API
 * server is the source of truth: the agent watches Namespaces, Services,
 * EndpointSlices and its node's Pods and brings the pinned maps of its
 * instance to exactly what they say, with one full, idempotent diff.
 */
#ifndef AZDS_K8S_AGENT_H
#define AZDS_K8S_AGENT_H

#include <stdbool.h>

/* true when `run`'s arguments ask for the Kubernetes mode */
bool k8s_agent_wanted(int argc, char **argv);
int k8s_agent_main(int argc, char **argv, const char *self_exe, const char *bin_dir);
/* `azds-controller -i INST k8s-dump`: the instance's maps as sorted text */
int k8s_agent_dump(int argc, char **argv);
/* `azds-controller -i INST k8s-teardown`: the node agent's traces off the node */
int k8s_agent_teardown(int argc, char **argv, const char *self_exe);

#endif
