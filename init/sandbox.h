/* SPDX-License-Identifier: MIT */
/* azds-init sandbox: run a pod's command unprivileged, confined (sandbox.c),
 * and the verbs around it: term (term.c) and workdir (workdir.c). */
#ifndef AZDS_INIT_SANDBOX_H
#define AZDS_INIT_SANDBOX_H

/* argv[0] is "sandbox"; never returns on success (the command runs in
 * place); on failure prints one line and returns 127. */
int sandbox_main(const char *instance, int argc, char **argv);

/* The default seccomp filter as a compiled BPF program in a memfd (not
 * close-on-exec, read from offset 0), for bwrap --seccomp (seccomp.c).
 * -errno, with what failed in *what. */
int sandbox_seccomp_fd(const char **what);

/* azds-init term --pod NAME [--keep PID] [--timeout MS]: a pod's graceful
 * stop (azds_podcg_term); argv[0] is "term" (term.c). */
int term_main(const char *instance, int argc, char **argv);

/* azds-init workdir grant|revoke --uid UID DIR (azds_workdir_grant,
 * azds_workdir_revoke); argv[0] is "workdir" (workdir.c). */
int workdir_main(int argc, char **argv);

#endif
