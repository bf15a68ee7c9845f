/* SPDX-License-Identifier: MIT */
/* azds-init sandbox: run a pod's command unprivileged, confined (sandbox.c). */
#ifndef AZDS_INIT_SANDBOX_H
#define AZDS_INIT_SANDBOX_H

/* argv[0] is "sandbox"; never returns on success (the command runs in
 * place); on failure prints one line and returns 127. */
int sandbox_main(const char *instance, int argc, char **argv);

/* The default seccomp filter as a compiled BPF program in a memfd (not
 * close-on-exec, read from offset 0), for bwrap --seccomp (seccomp.c).
 * -errno, with what failed in *what. */
int sandbox_seccomp_fd(const char **what);

#endif
