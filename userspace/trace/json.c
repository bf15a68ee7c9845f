// SPDX-License-Identifier: MIT
/*
 * One emitted request as a jansson tree: the JSON text of text.c (the one
 * writer of the fields docs/trace.md lists), parsed. For tests and callers
 * that want a tree; the controller keeps the text.
 */
#include <stdlib.h>

#include "asm_int.h"

json_t *azds_trace_req_json(const struct azds_trace_req *req, const struct azds_trace_json_opts *o)
{
	char *txt = azds_trace_req_text(req, o, 0);
	json_t *j = txt ? json_loads(txt, 0, NULL) : NULL;

	free(txt);
	return j;
}
