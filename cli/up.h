/* SPDX-License-Identifier: MIT */
/* What azds up names, for the verbs that look at it (upinfo.c). */
#ifndef AZDS_CLI_UP_H
#define AZDS_CLI_UP_H

#include <stddef.h>
#include <stdio.h>

/* the pod up runs service in space as: "<service>-<space>", a DNS label */
void up_pod_name(const char *service, const char *space, char *out, size_t len);
/* the service of the folder dir (its azds.yaml's chart name, else the folder's); 0 or -errno */
int up_service_of(const char *dir, char *out, size_t len);

/* the last lines of pod's log so far on out, each prefixed "[svc] " */
void up_log_tail(FILE *out, const char *pod, const char *svc, long lines);

#endif
