// SPDX-License-Identifier: MIT
/* The pinned maps of cli_instance. */
#include <errno.h>
#include <stdio.h>
#include <bpf/bpf.h>
#include "maps.h"
#include "opts.h"

int cli_maps_open(struct azds_maps *m)
{
	struct azds_inst in;
	struct azds_err e;
	int err = azds_inst_init(&in, cli_instance, &e);

	if (!err)
		err = azds_maps_open(&in, m, &e);
	if (err)
		fail("%s", e.msg);
	return err;
}

const char *cli_space_path(const struct azds_maps *m, __u32 id)
{
	static struct azds_space sp;

	if (!id || bpf_map_lookup_elem(m->spaces, &id, &sp))
		return "-";
	return sp.path;
}
