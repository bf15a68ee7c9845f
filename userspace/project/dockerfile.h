/* SPDX-License-Identifier: MIT */
/*
 * A Dockerfile, read for host mode: no image is built or pulled; the service
 * runs in a sandboxed pod over the host's read-only root with the synced
 * workspace at the last stage's WORKDIR. This parser says what that means
 * for each instruction (docs/azds-yaml.md has the table):
 *
 *   honoured   WORKDIR, ENV, ARG (with azds.yaml's build args), EXPOSE (TCP),
 *              RUN (build steps), CMD and ENTRYPOINT (Docker's combination
 *              rules), SHELL; COPY/ADD of the build context into the
 *              workspace, which the sync already puts there
 *   noted      FROM (the image is not pulled: the host's runtime runs it),
 *              other COPY/ADD, USER, VOLUME, HEALTHCHECK, STOPSIGNAL,
 *              ONBUILD, LABEL, MAINTAINER, RUN/COPY flags: a note or a
 *              warning each, never a silent skip
 *   refused    heredocs (<<EOF), unknown instructions, bad syntax: errors
 *
 * Docker's own rules are followed where host mode honours an instruction:
 * comments and parser directives (# escape=, # syntax=), line continuations,
 * exec (JSON) and shell forms (invalid JSON is a shell command, as in
 * Docker), variable substitution ($VAR, ${VAR}, ${VAR:-x}, ${VAR:+x},
 * ${VAR-x}, ${VAR+x}) in the instructions Docker substitutes (FROM, ARG,
 * ENV, WORKDIR, EXPOSE, COPY, ADD, USER, VOLUME, LABEL, STOPSIGNAL), ARG
 * scoping (global ARGs serve FROM; a stage redeclares what it uses), ENV
 * over ARG, multi-stage builds (the last stage is used, FROM <stage>
 * inherits).
 */
#ifndef AZDS_PROJECT_DOCKERFILE_H
#define AZDS_PROJECT_DOCKERFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "azdsyaml.h"
#include "diag.h"

/* Limits; each has its own error message. */
#define AZDS_DF_MAX_BYTES	 (1u << 20)	     /* file size */
#define AZDS_DF_MAX_LINE	 65536		     /* one physical line */
#define AZDS_DF_MAX_INSTR	 (256u * 1024)	     /* one instruction, continuation lines joined */
#define AZDS_DF_MAX_INSTRUCTIONS 2000		     /* instructions in the file */
#define AZDS_DF_MAX_STAGES	 64		     /* FROM lines */
#define AZDS_DF_MAX_VARS	 512		     /* ENV + ARG names in one stage */
#define AZDS_DF_MAX_WORD	 65536		     /* one word or value after substitution */
#define AZDS_DF_MAX_TOTAL	 (16u * 1024 * 1024) /* all values and build-step environments together */

/* ---- which host runtime an image stands for ---- */

enum azds_runtime_kind {
	AZDS_RT_UNKNOWN = 0, /* not an image azds knows: the service gets the host's tools as they are */
	AZDS_RT_NODE,	     /* node:*: Debian's nodejs */
	AZDS_RT_PYTHON,	     /* python:*: python3 */
	AZDS_RT_GO,	     /* golang:*: go */
	AZDS_RT_JAVA,	     /* maven, gradle, openjdk, eclipse-temurin, amazoncorretto: java (and mvn/gradle) */
	AZDS_RT_DOTNET,	     /* mcr.microsoft.com/dotnet/..., microsoft/dotnet..., microsoft/aspnetcore...: dotnet */
	AZDS_RT_RUST,	     /* rust:*: cargo */
	AZDS_RT_HOST,	     /* gcc, debian, ubuntu, alpine, busybox, buildpack-deps: the host's own tools */
	AZDS_RT_NONE,	     /* scratch: nothing at all; only a static binary of the workspace can run */
};

struct azds_image_runtime {
	enum azds_runtime_kind kind;
	const char *name;    /* "node", "python3", "go", "java", "dotnet", "cargo", "host", "none", "unknown" */
	const char *bins[4]; /* host programs the service needs, looked up in PATH; NULL-terminated */
	const char *what;    /* for people: "Debian's nodejs (node)" */
};

/*
 * Which runtime image (as written after FROM, variables expanded) stands
 * for. Registry, "library/", tag and digest are looked through:
 * "docker.io/library/node:18-alpine@sha256:..." is node. 0, or -ENOENT for
 * an image azds does not know (rt is then AZDS_RT_UNKNOWN, with bins empty).
 */
int azds_image_runtime(const char *image, struct azds_image_runtime *rt);

/*
 * Looks up each of rt->bins in path (a PATH string; NULL = getenv("PATH")).
 * 0 when all are there, else -ENOENT with *missing set to the first absent
 * one (a static string).
 */
int azds_runtime_check(const struct azds_image_runtime *rt, const char *path, const char **missing);

/* ---- the parsed Dockerfile ---- */

struct azds_df_kv {
	char *key;
	char *value;
	unsigned line; /* the instruction that set it */
};

struct azds_df_port {
	unsigned port, port_end; /* port_end == port unless a range (EXPOSE 7000-7010) */
	bool udp;		 /* udp or sctp: not routed by host mode (warned) */
	unsigned line;
};

struct azds_df_run {
	char **argv; /* what to execute, NULL-terminated: exec form as written, shell form
		      * as SHELL (default /bin/sh -c) + the command text */
	size_t argc;
	bool shell_form;
	char *text;		/* the command as written (exec form: its argv joined by spaces) */
	char *workdir;		/* WORKDIR in effect (absolute) */
	struct azds_df_kv *env; /* environment Docker gives it: ENV, then ARG values ENV does not
				 * shadow; the host's PATH etc. are the caller's to add */
	size_t n_env;
	unsigned line;
};

struct azds_df_copy {
	bool add; /* ADD, not COPY */
	char **src;
	size_t n_src;
	char *dest;	/* absolute: resolved against the WORKDIR in effect */
	char *from;	/* --from=, or NULL */
	bool satisfied; /* the sync puts these files where the copy would (COPY . . into the workspace) */
	unsigned line;
};

struct azds_df_opts {
	/* azds.yaml's configurations.develop.build.args (expanded), overriding ARG defaults */
	const struct azds_yaml_kv *build_args;
	size_t n_build_args;
	const char *build_args_file; /* azds.yaml's name, for warnings about those args */
	/* the build context folder; COPY sources are looked at there to tell a file from a folder
	 * (NULL: guessed from the name) */
	const char *context_dir;
	/* azds.yaml gives configurations.develop.container.command: no CMD is needed */
	bool have_command;
};

struct azds_dockerfile {
	char *file;
	/* the last stage, the one host mode runs */
	char *image; /* its base image, through FROM <stage> chains: "node:lts" */
	struct azds_image_runtime runtime;
	unsigned from_line; /* its FROM */
	char *stage_name;   /* its "AS name", or NULL */
	size_t n_stages;
	char *workdir; /* the last WORKDIR: where the workspace is mounted; "/" if none */
	bool workdir_set;
	struct azds_df_kv *env; /* the service's ENV: unique keys, first-set order, last value */
	size_t n_env;
	struct azds_df_kv *args; /* ARG values in effect at the end of the stage */
	size_t n_args;
	struct azds_df_port *ports; /* EXPOSE, in order; the first TCP one is the service's port */
	size_t n_ports;
	struct azds_df_run *run; /* RUN steps of the stage and the stages it is FROM, in order */
	size_t n_run;
	struct azds_df_copy *copies; /* COPY and ADD of the same chain */
	size_t n_copies;
	char **cmd; /* CMD as written: exec argv, or {text} when cmd_shell; NULL-terminated */
	size_t n_cmd;
	bool cmd_shell;
	unsigned cmd_line; /* 0: no CMD */
	char **entrypoint; /* ENTRYPOINT, likewise */
	size_t n_entrypoint;
	bool entrypoint_shell;
	unsigned entrypoint_line;
	char **argv; /* what Docker would run: ENTRYPOINT + CMD by Docker's rules, shell forms
		      * through SHELL; NULL (argc 0) when there is neither */
	size_t argc;
	char **shell; /* SHELL in effect, default {"/bin/sh", "-c"} */
	size_t n_shell;
	char *user;	   /* USER, recorded, not honoured; NULL if none */
	char *stop_signal; /* STOPSIGNAL, recorded, not honoured; NULL if none */
};

/*
 * Reads and checks a Dockerfile. 0 and *out on success (notes and warnings
 * may be in d); -EINVAL with *out NULL when it has errors (in d); or the
 * -errno of reading it (-ENOENT, -EFBIG past AZDS_DF_MAX_BYTES, ...), also
 * in d. opts may be NULL.
 */
int azds_dockerfile_load(const char *path, const struct azds_df_opts *opts, struct azds_dockerfile **out,
			 struct azds_diags *d);

/* The same over a buffer; name is used in diagnostics. */
int azds_dockerfile_parse(const char *name, const char *buf, size_t len, const struct azds_df_opts *opts,
			  struct azds_dockerfile **out, struct azds_diags *d);

void azds_dockerfile_free(struct azds_dockerfile *df);

/* The first TCP port EXPOSEd (the service's), or 0. */
unsigned azds_dockerfile_port(const struct azds_dockerfile *df);

/* The value of ENV key in the service's environment, or NULL. */
const char *azds_dockerfile_env(const struct azds_dockerfile *df, const char *key);

#endif
