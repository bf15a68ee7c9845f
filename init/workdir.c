// SPDX-License-Identifier: MIT
/*
 * azds-init workdir: a pod's access to a workdir a user lent it, from the
 * command line (tests, operators, cleaning up after a crash); the sandbox
 * grants it itself and the controller revokes it when the pod is deleted.
 *
 *   azds-init workdir grant|revoke --uid UID DIR
 *
 * POSIX ACL entries u:UID:rwX, access and default, on DIR's tree
 * (azds_workdir_grant, azds_workdir_revoke in podcg.h). Exit 0, 1 (and one
 * line) when it failed, 2 for bad arguments.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "azds.h"
#include "podcg.h"
#include "sandbox.h"

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: azds-init workdir grant|revoke --uid UID DIR\n\n"
		   "grant: ACL entries u:UID:rwX (access and default) on DIR and what below belongs to\n"
		   "DIR's owner; revoke: exactly those entries removed (docs/sandbox.md).\n");
	return rc;
}

int workdir_main(int argc, char **argv)
{
	unsigned long uid;
	struct azds_err e;
	bool grant;
	char *end;
	int err;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return usage(stdout, 0);
	if (argc != 5 || (strcmp(argv[1], "grant") && strcmp(argv[1], "revoke")) || strcmp(argv[2], "--uid"))
		return usage(stderr, 2);
	grant = !strcmp(argv[1], "grant");
	errno = 0;
	uid = strtoul(argv[3], &end, 10);
	if (argv[3][0] < '0' || argv[3][0] > '9' || *end || errno || uid == 0 || uid >= 0xffffffffUL) {
		fprintf(stderr, "azds-init: workdir: --uid \"%s\": a uid other than 0\n", argv[3]);
		return 2;
	}
	if (argv[4][0] != '/') {
		fprintf(stderr, "azds-init: workdir: \"%s\": an absolute path is required\n", argv[4]);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "azds-init: workdir: must run as root\n");
		return 1;
	}
	if (grant) {
		err = azds_workdir_grant(argv[4], (uid_t)uid, &e);
		if (err)
			fprintf(stderr, "azds-init: workdir: grant: %s\n", e.msg);
	} else {
		err = azds_workdir_revoke(argv[4], (uid_t)uid);
		if (err)
			fprintf(stderr, "azds-init: workdir: revoke %s: %s\n", argv[4], strerror(-err));
	}
	return err ? 1 : 0;
}
