/* SPDX-License-Identifier: MIT */
/*
 * The CLI against a Kubernetes cluster (issue 11 part 3, docs/k8s-cli.md):
 * a space is a namespace labelled azds.io/space=true, its parent named by
 * azds.io/parent-space=<the parent's namespace>. "dev/alice" is the
 * namespace alice whose parent is dev, whose parent label is absent: leaf
 * names are therefore unique in a cluster. These verbs talk to the API
 * server with the project's own client (userspace/k8s/k8s.h); no
 * controller of ours needs to run.
 */
#ifndef AZDS_CLI_K8S_CLI_H
#define AZDS_CLI_K8S_CLI_H

#include <stdbool.h>
#include "azds.h"
#include "k8s.h"
#include "verbs.h"

#define K8S_LABEL_SPACE	 "azds.io/space"
#define K8S_LABEL_PARENT "azds.io/parent-space"
#define K8S_LABEL_PR	 "azds.io/pull-request-space"
/* on namespaces the CLI labelled (an existing one) or created: what uninstall undoes */
#define K8S_ANN_LABELLED "azds.io/labelled-by"
#define K8S_ANN_CREATED	 "azds.io/created-by"
#define K8S_BY		 "azds-cli"
/* the namespace of azds's own parts, and what marks it as ours */
#define K8S_SYSTEM_NS	    "azds"
#define K8S_OWNER_LABEL	    "app.kubernetes.io/managed-by"
#define K8S_OWNER_VALUE	    "azds"
#define K8S_VERSION_ANN	    "azds.io/install-version"
#define K8S_INSTALL_VERSION "1"
#define K8S_WEBHOOK_NAME    "azds-webhook"

/* bounds */
#define K8S_NS_MAX	 20000	/* namespaces read from one cluster */
#define K8S_SVC_MAX	 5000	/* services read from one namespace */
#define K8S_SEL_MAX	 256	/* remembered selections (clusters x contexts) */
#define K8S_SEL_FILE_MAX 65536	/* the selection file */
#define K8S_WAIT_GONE_MS 120000 /* a namespace being deleted, until it is gone */

/*
 * Which mode this run is in, from the words after the command (argv[0] is
 * the verb's last word) and the globals main.c set: 0 embedded, 1 a cluster
 * named by --kubeconfig (or --context), 2 a cluster from $KUBECONFIG only.
 * -i/--instance or $AZDS_INSTANCE is the embedded mode unless --kubeconfig
 * is given; -i with --kubeconfig is a usage error (EXIT_USAGE returned
 * negated after the message).
 */
int k8s_mode(int argc, char **argv);

/* one namespace as the CLI sees it */
struct k8s_ns {
	char name[AZDS_NAME_MAX];
	char parent[AZDS_NAME_MAX];	   /* azds.io/parent-space, "" when none */
	char path[AZDS_PATH_MAX];	   /* the space's path; "" when not a space or not resolved */
	const char *problem;		   /* why path is "" for a space (parent missing, cycle...) */
	bool space, pr, terminating, ours; /* ours: the CLI labelled or created it */
	long long created;
	json_t *obj; /* the Namespace, owned */
};

struct k8s_cluster {
	struct azds_k8s_config cfg;
	struct azds_k8s *k;
	struct k8s_ns *ns;
	size_t nns;
	char key[1024]; /* server and context: the selection's key */
};

/* connects (config from --kubeconfig, --context, $KUBECONFIG...); prints the error */
int k8s_open(struct k8s_cluster *c, const struct verb *v);
void k8s_close(struct k8s_cluster *c);
/* (re)reads every namespace and resolves the spaces' paths; prints the error */
int k8s_load(struct k8s_cluster *c, const struct verb *v);
struct k8s_ns *k8s_find(struct k8s_cluster *c, const char *name);
/* the space at PATH, or NULL */
struct k8s_ns *k8s_find_path(struct k8s_cluster *c, const char *path);

/* a DNS-1123 label (1-63 of a-z0-9-, starting and ending alphanumeric) */
bool k8s_dns_label(const char *s);
/* a space path of such labels, depth <= AZDS_DEPTH_HARD_MAX; prints a usage error */
int k8s_check_path(const struct verb *v, const char *path);
/* namespaces azds refuses to make spaces of or remove */
bool k8s_reserved(const char *ns);

/* "azds: VERB: WHAT: MSG", from the client's error; returns EXIT_FAIL */
int k8s_fail(const struct verb *v, const struct azds_k8s_err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The remembered selection of this cluster and context (0), else the
 * context's namespace when it is a space (1), else -ENOENT.
 */
int k8s_selected(struct k8s_cluster *c, char *buf, size_t len);
/* remembers PATH ("" forgets) for this cluster and context; prints the error */
int k8s_select_save(struct k8s_cluster *c, const char *path);
/* GIVEN when set, else the selection; prints the error */
int k8s_space_or_selected(struct k8s_cluster *c, const struct verb *v, const char *given, char *buf, size_t len);

/* waits until namespace NAME is gone (bounded); prints the error */
int k8s_wait_gone(struct k8s_cluster *c, const struct verb *v, const char *name);

/* the cluster-mode handlers (main.c's table points at them) */
VERB(cmd_k8s_space_list);
VERB(cmd_k8s_space_select);
VERB(cmd_k8s_space_show);
VERB(cmd_k8s_space_remove);
VERB(cmd_k8s_controller_install);
VERB(cmd_k8s_controller_uninstall);
VERB(cmd_k8s_list_uris);

#endif
