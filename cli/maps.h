/* SPDX-License-Identifier: MIT */
/* The pinned maps, for the verbs that read the data plane directly. */
#ifndef AZDS_CLI_MAPS_H
#define AZDS_CLI_MAPS_H

#include "azds.h"

/* opens cli_instance's maps; prints the error and returns -errno */
int cli_maps_open(struct azds_maps *m);
/* a space's path from its id, "-" when none */
const char *cli_space_path(const struct azds_maps *m, __u32 id);

#endif
