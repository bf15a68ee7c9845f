/* SPDX-License-Identifier: MIT */
/*
 * Process-local hints that spare a writer full map scans when it makes many
 * changes (a controller loading 1,000 spaces). A hint is only ever a guess
 * that is checked against the map before use, so another writer changing
 * the maps meanwhile cannot make it return a wrong answer.
 */
#ifndef AZDS_HINTS_H
#define AZDS_HINTS_H

#include "azds.h"

#define AZDS_HINT_NAMES 256

struct azds_hints {
	__u32 next_space_id; /* 0: unknown, scan */
	struct {
		char name[AZDS_NAME_MAX];
		struct azds_vip_key vk;
	} names[AZDS_HINT_NAMES];
};

#endif
