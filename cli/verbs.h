/* SPDX-License-Identifier: MIT */
/* The verbs' handlers, one file per group; main.c holds the table. */
#ifndef AZDS_CLI_VERBS_H
#define AZDS_CLI_VERBS_H

#include "opts.h"

#define VERB(fn) int fn(const struct verb *v, int argc, char **argv)

/* controller.c */
VERB(cmd_controller_start);
VERB(cmd_controller_stop);
VERB(cmd_controller_status);
VERB(cmd_controller_restart_router);
VERB(cmd_controller_set);
/* space.c */
VERB(cmd_space_list);
VERB(cmd_space_select);
VERB(cmd_space_show);
VERB(cmd_space_remove);
/* pod.c */
VERB(cmd_pod_run);
VERB(cmd_pod_list);
VERB(cmd_pod_logs);
VERB(cmd_pod_rm);
/* service.c */
VERB(cmd_service_list);
VERB(cmd_service_add);
VERB(cmd_service_rm);
/* prep.c: files only, no controller */
VERB(cmd_prep);
/* workspace.c */
VERB(cmd_workspace_sync);
VERB(cmd_workspace_ls);
VERB(cmd_workspace_rm);
/* up.c */
VERB(cmd_up);
VERB(cmd_down);
/* upinfo.c */
VERB(cmd_list_up);
VERB(cmd_logs);
/* uris.c, events.c, bench.c: read the data plane directly */
VERB(cmd_list_uris);
VERB(cmd_events);
/* trace.c */
VERB(cmd_trace);
VERB(cmd_bench);

#endif
