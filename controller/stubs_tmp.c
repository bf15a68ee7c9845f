// SPDX-License-Identifier: MIT
/* TEMPORARY: link stand-ins until the supervisor and podcg land (removed then). */
#include <errno.h>
#include "ctl.h"
#include "podcg.h"
#define W __attribute__((weak))
W int routerd_restart(struct routerd *rd, char *const *a, int t, pid_t *o, pid_t *n, struct azds_err *e) { (void)rd; (void)a; (void)t; (void)o; (void)n; return azds_err(e, ENOSYS, "not built yet"); }
W void sup_dispatch(struct sup *s) { (void)s; }
W int sup_each(struct sup *s, int (*cb)(void *, const char *, const struct sup_status *), void *ctx) { (void)s; (void)cb; (void)ctx; return 0; }
W int sup_fd(struct sup *s) { (void)s; return -1; }
W void sup_free(struct sup *s) { (void)s; }
W int sup_start(struct sup *s, const struct sup_spec *spec) { (void)s; (void)spec; return -ENOSYS; }
W int sup_status(struct sup *s, const char *n, struct sup_status *st) { (void)s; (void)n; (void)st; return -ENOENT; }
W int sup_stop(struct sup *s, const char *n, int t) { (void)s; (void)n; (void)t; return -ENOENT; }
