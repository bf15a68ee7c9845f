// SPDX-License-Identifier: MIT
/* azds list-uris: every service address in the data plane and its kind. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "maps.h"
#include "verbs.h"

VERB(cmd_list_uris)
{
	struct azds_vip_key k, n;
	struct azds_maps m;
	struct azds_vip vip;
	struct args a;
	void *cur = NULL;
	int r = opts_parse(v, NULL, argc, argv, &a);

	if (r)
		return opts_exit(r);
	args_free(&a);
	if (cli_maps_open(&m))
		return EXIT_FAIL;
	printf("%-16s %-22s %s\n", "SERVICE", "URI", "KIND");
	while (bpf_map_get_next_key(m.vips, cur, &n) == 0) {
		const char *kind;
		char addr[16];

		k = n;
		cur = &k;
		if (bpf_map_lookup_elem(m.vips, &k, &vip))
			continue;
		kind = vip.kind == AZDS_KIND_HTTP ? "http" : "tcp";
		inet_ntop(AF_INET, &k.addr, addr, sizeof(addr));
		printf("%-16s %s://%s:%-5u %s\n", vip.name, kind, addr, ntohs(k.port), kind);
	}
	azds_maps_close(&m);
	return 0;
}
