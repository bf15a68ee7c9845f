// SPDX-License-Identifier: MIT
/* The controller's durable store (stub: the implementation follows). */
#include "store.h"
