// SPDX-License-Identifier: MIT
/* The router unit (controller/routerd.h); being written. */
#include <errno.h>
#include "routerd.h"

int routerd_start(struct routerd *rd, struct sup *s, const struct azds_inst *in, const char *bin_dir,
		  char *const *router_args, unsigned workers, struct azds_err *e)
{
	(void)rd, (void)s, (void)in, (void)bin_dir, (void)router_args, (void)workers;
	return azds_err(e, ENOSYS, "routerd: not written yet");
}
