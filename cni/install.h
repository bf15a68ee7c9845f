/* SPDX-License-Identifier: MIT */
/*
 * Put azds-cni into a node's CNI setup and take it out again (the node
 * agent calls these; library azds_cni_install). Both are idempotent and
 * replace files atomically: a runtime reading the directory at any moment
 * sees the old file or the new one, never a part.
 */
#ifndef AZDS_CNI_INSTALL_H
#define AZDS_CNI_INSTALL_H

#include "azds.h"

#define AZDS_CNI_BINARY "azds-cni"
/* at most this many entries of conf_dir are looked at */
#define AZDS_CNI_CONF_MAX 1024
/* a conflist larger than this is refused */
#define AZDS_CNI_CONFLIST_MAX (1 << 20)

/*
 * Copy plugin_src to bin_dir/azds-cni (mode 0755), then make sure the first
 * *.conflist of conf_dir (byte order, as runtimes sort) ends with
 * {"type": "azds-cni", "instance": instance}: appended, or an existing
 * azds-cni entry given this instance and moved last. Every other plugin and
 * field is kept; an unchanged file is not rewritten. Refuses a conflist it
 * cannot parse, one of an unsupported cniVersion, and a conf_dir whose first
 * configuration (the one runtimes use) is a single-plugin .conf or .json.
 */
int azds_cni_install(const char *plugin_src, const char *bin_dir, const char *conf_dir, const char *instance,
		     struct azds_err *e);

/* Remove every azds-cni entry from the *.conflist files of conf_dir, then bin_dir/azds-cni. */
int azds_cni_uninstall(const char *bin_dir, const char *conf_dir, struct azds_err *e);

#endif
