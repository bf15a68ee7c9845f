/* SPDX-License-Identifier: MIT */
/*
 * azds.yaml, Dev Spaces' schema (kind helm-release, apiVersion 1.1), read
 * with libyaml into a struct. docs/azds-yaml.md is the reference: every key,
 * its type, default and what host mode does with it.
 *
 *   struct azds_diags d;
 *   struct azds_yaml *cfg;
 *   azds_diags_init(&d);
 *   int err = azds_yaml_load("azds.yaml", &cfg, &d);
 *   azds_diags_print(&d, stderr, AZDS_DIAG_NOTE);   // warnings even on success
 *   if (err) ...                                     // -EINVAL: d holds the errors
 *
 * Every problem is a diagnostic naming the file, the line and the key path
 * ("configurations.develop.container.sync[2]", indexes 0-based): an unknown
 * key is a warning; a wrong type, a missing required key, a duplicate key, a
 * YAML syntax error or a limit is an error. Parsing goes on after an error so
 * that one run reports them all.
 *
 * Strings in the struct are NUL-terminated copies owned by it; each value
 * that came from the file carries its line (0 = not in the file: a default).
 */
#ifndef AZDS_PROJECT_AZDSYAML_H
#define AZDS_PROJECT_AZDSYAML_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* Limits; each has its own error message. */
#define AZDS_YAML_MAX_BYTES   (1u << 20) /* file size */
#define AZDS_YAML_MAX_DEPTH   32	 /* nesting of mappings and sequences */
#define AZDS_YAML_MAX_NODES   10000	 /* scalars, mappings and sequences, aliases expanded */
#define AZDS_YAML_MAX_SCALAR  65536	 /* bytes of one scalar (key or value) */
#define AZDS_YAML_MAX_ANCHORS 256	 /* distinct &anchors */
#define AZDS_EXPAND_MAX	      65536	 /* bytes of one string after $(x) / ${X} expansion */

/* ---- the generic tree (install.set, and the whole file while parsing) ---- */

enum azds_ynode_kind {
	AZDS_YNODE_SCALAR = 0,
	AZDS_YNODE_MAP,
	AZDS_YNODE_SEQ,
};

struct azds_ynode;

struct azds_ymap_entry {
	char *key; /* keys are scalars; complex keys are refused */
	unsigned line, column;
	struct azds_ynode *value;
};

struct azds_ynode {
	enum azds_ynode_kind kind;
	unsigned line, column; /* 1-based, where the node starts */
	/* scalar */
	char *str; /* never NULL for a scalar; NUL bytes are refused */
	size_t len;
	bool plain; /* written without quotes or a !!str tag: a YAML reader may take it
		     * as a number, a bool or null; a quoted one is always a string */
	/* mapping, in file order; keys unique (a duplicate is an error); "<<" merges resolved */
	struct azds_ymap_entry *entries;
	size_t n_entries;
	/* sequence */
	struct azds_ynode **items;
	size_t n_items;
};

/* A plain "", "~", "null", "Null" or "NULL" scalar. */
bool azds_ynode_is_null(const struct azds_ynode *n);

/* The entry's value in a mapping, NULL if n is not a mapping or has no such key. */
const struct azds_ynode *azds_ynode_child(const struct azds_ynode *n, const char *key);

/*
 * Looks up a path in a tree: "image.tag", "ingress.hosts[0]",
 * "ingress.annotations.kubernetes\.io/ingress\.class" (a "\." is a dot in a
 * key, as in helm --set). NULL if any step is missing or of the wrong kind.
 */
const struct azds_ynode *azds_ynode_get(const struct azds_ynode *root, const char *path);

/* The scalar's text, or NULL when n is NULL or not a scalar. */
const char *azds_ynode_scalar(const struct azds_ynode *n);

/* ---- azds.yaml ---- */

struct azds_ystr {
	char *v;       /* NULL = absent (and no default) */
	unsigned line; /* 0 = a default, not in the file */
};

struct azds_yaml_values_file {
	char *path;    /* the trailing '?' stripped */
	bool optional; /* it had one: a missing file is skipped */
	unsigned line;
};

struct azds_yaml_glob {
	char *glob;   /* the leading '!' stripped */
	bool exclude; /* it had one */
	unsigned line;
};

struct azds_yaml_argv {
	char **argv; /* argc strings + NULL */
	size_t argc;
	bool shell; /* written as one string: run it as /bin/sh -c argv[0] (argc is 1) */
	unsigned line;
};

struct azds_yaml_kv {
	char *key;
	char *value; /* a scalar's text; null is "" */
	unsigned line;
};

struct azds_yaml {
	char *file;		      /* as given to load/parse, used in diagnostics */
	struct azds_ystr kind;	      /* required, "helm-release" */
	struct azds_ystr api_version; /* required, "1.1" */
	struct {
		struct azds_ystr context;    /* default "." (relative to azds.yaml's folder) */
		struct azds_ystr dockerfile; /* default "Dockerfile" (relative to context) */
	} build;
	struct {
		bool present;
		unsigned line;
		struct azds_ystr chart; /* required when install is present */
		struct azds_yaml_values_file *values;
		size_t n_values;
		const struct azds_ynode *set; /* NULL if absent; a mapping otherwise */
	} install;
	struct {
		struct {
			struct azds_ystr dockerfile; /* default: build.dockerfile (line 0) */
			bool use_gitignore;	     /* default true: Dev Spaces' sync respected .gitignore */
			unsigned use_gitignore_line; /* 0: the default */
			struct azds_ystr *ignore;    /* .gitignore lines applied last ("!NuGet.Config"
						      * brings back a file .gitignore leaves out) */
			size_t n_ignore;
			struct azds_yaml_kv *args; /* build args, file order, as written
						    * (${VAR:-x} is left for azds_yaml_expand_env) */
			size_t n_args;
		} build;
		struct {
			struct azds_yaml_glob *sync; /* in file order: later entries win */
			size_t n_sync;
			bool sync_default;	       /* sync absent: one entry, the whole context */
			struct azds_yaml_argv command; /* argc 0: absent (the Dockerfile's CMD/ENTRYPOINT) */
			struct azds_ystr *processes_to_kill;
			size_t n_processes_to_kill;
			struct azds_yaml_argv *build_commands;
			size_t n_build_commands;
		} container;
	} develop;

	struct azds_ynode *root; /* the whole file as a tree (install.set points into it) */
};

/*
 * Reads and checks azds.yaml. On success (0) *out is the config; warnings and
 * notes may still be in d. On any error *out is NULL and the return is
 * -EINVAL (the file's content: d says what), or the -errno of reading it
 * (-ENOENT, -EACCES, -EFBIG past AZDS_YAML_MAX_BYTES, -ENOMEM), also in d.
 */
int azds_yaml_load(const char *path, struct azds_yaml **out, struct azds_diags *d);

/* The same over a buffer; name is the file name used in diagnostics. */
int azds_yaml_parse(const char *name, const char *buf, size_t len, struct azds_yaml **out, struct azds_diags *d);

void azds_yaml_free(struct azds_yaml *cfg);

/* The Dockerfile host mode reads: configurations.develop.build.dockerfile, else build.dockerfile. */
const char *azds_yaml_dockerfile(const struct azds_yaml *cfg);

/*
 * "<dir>/<build.context>/<dockerfile>" (dir = azds.yaml's folder; an absolute
 * context or dockerfile is taken as it is). -ENAMETOOLONG if it does not fit.
 */
int azds_yaml_dockerfile_path(const struct azds_yaml *cfg, const char *dir, char *buf, size_t len);

/* install.set's value at path (see azds_ynode_get), NULL if absent. */
const struct azds_ynode *azds_yaml_set_get(const struct azds_yaml *cfg, const char *path);

/* ---- expansions ---- */

/*
 * Dev Spaces' controller values, $(name) in install.set. A NULL member is a
 * value the caller does not have: using it is an error, as is any other name.
 */
struct azds_yaml_vars {
	const char *tag;	       /* $(tag): the image tag / session id */
	const char *space_prefix;      /* $(spacePrefix): "<child>.s." in a child space, "" otherwise */
	const char *root_space_prefix; /* $(rootSpacePrefix): "<root space>." */
	const char *host_suffix;       /* $(hostSuffix): ".<ingress domain>" */
};

/*
 * Replaces each $(name) of in. Only "$(" + letters/digits + ")" is a
 * variable; any other '$' is kept as it is. 0 and a malloc'd *out, or
 * -EINVAL (unknown or unset name: err says which), -E2BIG (longer than
 * AZDS_EXPAND_MAX), -ENOMEM.
 */
int azds_expand_vars(const char *in, const struct azds_yaml_vars *vars, char **out, char *err, size_t errlen);

/* The caller's environment: the value of name, or NULL when unset. */
typedef const char *(*azds_env_fn)(const char *name, void *ctx);

/*
 * Shell-style ${VAR} in in: ${VAR}, ${VAR:-default} (unset or empty),
 * ${VAR-default} (unset), ${VAR:+alt} (set and not empty), ${VAR+alt} (set),
 * ${VAR:?message} and ${VAR?message} (an error when unset/empty, or unset).
 * A default may hold ${...} itself. An unset ${VAR} is "". "$${" is a literal
 * "${"; any other '$' (including $VAR and $(cmd)) is kept as it is, for the
 * shell the command may run. Returns as azds_expand_vars.
 */
int azds_expand_env(const char *in, azds_env_fn env, void *ctx, char **out, char *err, size_t errlen);

/*
 * Expands ${...} (azds_expand_env) in place in develop.build.args' values,
 * container.command and iterate.buildCommands, the places Dev Spaces'
 * samples use it. Errors go to d with the line and key path. 0 or -EINVAL.
 */
int azds_yaml_expand_env(struct azds_yaml *cfg, azds_env_fn env, void *ctx, struct azds_diags *d);

/*
 * install.set as a YAML document with each scalar's $(name) expanded (keys
 * are kept as written), for helm's --values; "{}\n" when set is absent. A
 * plain scalar stays plain when its expansion is still a safe plain scalar,
 * so 1 stays a number and true a bool; others are double-quoted. 0 and a
 * malloc'd *out, or -EINVAL (errors in d, naming line and key) / -ENOMEM.
 */
int azds_yaml_render_set(const struct azds_yaml *cfg, const struct azds_yaml_vars *vars, char **out,
			 struct azds_diags *d);

#endif
