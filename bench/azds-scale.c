// SPDX-License-Identifier: MIT
/*
 * azds-scale: how long N spaces x M services take to load into the maps,
 * and how long one routing change takes to write. Uses libazds directly
 * (what the controller does), against a started instance.
 *
 *   azds-scale [-i INSTANCE] [--spaces N] [--services M]
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "azds.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "instance", required_argument, 0, 'i' },
					      { "spaces", required_argument, 0, 's' },
					      { "services", required_argument, 0, 'm' },
					      { "help", no_argument, 0, 'h' },
					      { 0, 0, 0, 0 } };
	const char *instance = NULL;
	int nspaces = 1000, nsvcs = 20, c;
	struct azds_inst in;
	struct azds_maps m;
	struct azds_err e;
	char path[64], name[32];
	double t0, t1, t2, t3;
	__u32 id;

	while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': instance = optarg; break;
		case 's': nspaces = atoi(optarg); break;
		case 'm': nsvcs = atoi(optarg); break;
		case 'h':
			printf("usage: azds-scale [-i INSTANCE] [--spaces N] [--services M]\n");
			return 0;
		default: return 2;
		}
	}
	if (nspaces < 1 || nspaces > 100000 || nsvcs < 1 || nsvcs > 1000) {
		fprintf(stderr, "azds-scale: --spaces 1..100000, --services 1..1000\n");
		return 2;
	}
	if (azds_inst_init(&in, instance, &e) || azds_maps_open(&in, &m, &e)) {
		fprintf(stderr, "azds-scale: %s\n", e.msg);
		return 1;
	}
	t0 = now_s();
	if (azds_space_add(&m, "team", &id, &e)) {
		fprintf(stderr, "azds-scale: %s\n", e.msg);
		return 1;
	}
	for (int j = 0; j < nsvcs; j++) {
		snprintf(name, sizeof(name), "svc%d", j);
		if (azds_service_add(&m, "team", name, AZDS_KIND_HTTP, 80, 8080, NULL, &e)) {
			fprintf(stderr, "azds-scale: %s\n", e.msg);
			return 1;
		}
	}
	for (int i = 0; i < nspaces; i++) {
		snprintf(path, sizeof(path), "team/dev%d", i);
		if (azds_space_add(&m, path, &id, &e)) {
			fprintf(stderr, "azds-scale: %s\n", e.msg);
			return 1;
		}
		for (int j = 0; j < nsvcs; j++) {
			snprintf(name, sizeof(name), "svc%d", j);
			if (azds_service_add(&m, path, name, AZDS_KIND_HTTP, 80, 8080, NULL, &e)) {
				fprintf(stderr, "azds-scale: %s\n", e.msg);
				return 1;
			}
		}
	}
	t1 = now_s();
	/* one routing change: a pod of dev7 becomes a backend of svc3 */
	azds_pod_register(&m, inet_addr("10.77.200.7"), "scale-pod", "team/dev7", 0, &e);
	t2 = now_s();
	if (azds_backend_add(&m, "team/dev7", "svc3", inet_addr("10.77.200.7"), &e)) {
		fprintf(stderr, "azds-scale: %s\n", e.msg);
		return 1;
	}
	t3 = now_s();
	printf("{\"spaces\":%d,\"services_per_space\":%d,\"entries\":%d,\"load_s\":%.3f,"
	       "\"routing_change_ms\":%.6f}\n",
	       nspaces + 1, nsvcs, (nspaces + 1) * nsvcs, t1 - t0, (t3 - t2) * 1000);
	azds_maps_close(&m);
	return 0;
}
