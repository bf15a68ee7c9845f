# SPDX-License-Identifier: MIT
# The pinned versions of the harness cluster (sourced by build.sh and
# cluster.sh). Changing one rebuilds only that component: the cache dir is
# named <component>-<version>.
K8S_VERSION=v1.34.2
CONTAINERD_VERSION=v2.4.2
RUNC_VERSION=v1.3.7
CNI_PLUGINS_VERSION=v1.9.0
COREDNS_VERSION=v1.12.4
