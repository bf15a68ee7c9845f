// SPDX-License-Identifier: MIT
/* The library calls of Kubernetes mode that the CNI test drives directly. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "install.h"
#include "kpod.h"

static int usage(void)
{
	fprintf(stderr, "usage: cni_tool install SRC BIN_DIR CONF_DIR INSTANCE | uninstall BIN_DIR CONF_DIR |\n"
			"                find-if ADDR | knode-up INSTANCE CGROUP | knode-down INSTANCE CGROUP |\n"
			"                attach INSTANCE HOST_IF ADDR SPACE NAME\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct azds_err e = { "" };
	struct azds_inst in;
	struct in_addr a;
	char ifname[16];
	int err;

	if (argc == 6 && !strcmp(argv[1], "install"))
		err = azds_cni_install(argv[2], argv[3], argv[4], argv[5], &e);
	else if (argc == 4 && !strcmp(argv[1], "uninstall"))
		err = azds_cni_uninstall(argv[2], argv[3], &e);
	else if (argc == 3 && !strcmp(argv[1], "find-if")) {
		if (inet_pton(AF_INET, argv[2], &a) != 1)
			return usage();
		err = azds_kpod_find_if(a.s_addr, ifname, &e);
		if (!err)
			printf("%s\n", ifname);
	} else if (argc == 7 && !strcmp(argv[1], "attach")) {
		struct azds_maps m;

		/* what the agent does for a pod that ran before it */
		if (inet_pton(AF_INET, argv[4], &a) != 1)
			return usage();
		err = azds_inst_init(&in, argv[2], &e);
		in.node_ns[0] = 0;
		if (!err)
			err = azds_maps_open(&in, &m, &e);
		if (!err) {
			err = azds_kpod_attach(&in, &m, argv[3], a.s_addr, argv[5], argv[6], 0, &e);
			azds_maps_close(&m);
		}
	} else if (argc == 4 && (!strcmp(argv[1], "knode-up") || !strcmp(argv[1], "knode-down"))) {
		err = azds_inst_init(&in, argv[2], &e);
		in.node_ns[0] = 0; /* Kubernetes mode: the caller's netns */
		if (!err)
			err = !strcmp(argv[1], "knode-up") ? azds_knode_up(&in, argv[3], &e) : azds_knode_down(&in, argv[3], &e);
	} else
		return usage();
	if (err) {
		fprintf(stderr, "cni_tool: %s\n", e.msg);
		return 1;
	}
	return 0;
}
