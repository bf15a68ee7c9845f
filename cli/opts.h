/* SPDX-License-Identifier: MIT */
/*
 * The CLI's verbs and their options: one table of verbs (main.c), each
 * verb's options declared next to its handler and parsed here, so that
 * --help, unknown flags, missing values and numbers behave the same on
 * every verb.
 */
#ifndef AZDS_CLI_OPTS_H
#define AZDS_CLI_OPTS_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

/* exit statuses: a failure, and a usage error caught before any work */
#define EXIT_FAIL 1
#define EXIT_USAGE 2

struct verb {
	const char *group; /* "space"; a one-word command's own name */
	const char *name;  /* "list"; NULL for a one-word command */
	int (*run)(const struct verb *v, int argc, char **argv);
	const char *synopsis; /* what follows the command words in the usage line */
	const char *summary;  /* one line */
	const char *details;  /* more of the verb's help, or NULL */
	int min_args, max_args; /* positional arguments (before any "--") */
};

enum opt_type {
	OPT_FLAG,   /* bool */
	OPT_STR,    /* const char * */
	OPT_NUM,    /* unsigned long within lo..hi */
	OPT_LIST,   /* struct strlist: the option may repeat */
	OPT_CHOICE, /* const char *, one of the '|'-separated choices */
};

struct strlist {
	const char **v;
	int n;
};

struct opt {
	const char *lname; /* --lname */
	char sname;        /* -s, 0: none */
	enum opt_type type;
	void *dest;
	const char *meta; /* the value's name in the help */
	const char *help;
	const char *choices; /* OPT_CHOICE */
	unsigned long lo, hi; /* OPT_NUM */
};

/* entries of a verb's options: long name, short letter (0: none), where the value goes, ... */
#define OPT_F(l, s, d, h) { .lname = (l), .sname = (s), .type = OPT_FLAG, .dest = (d), .help = (h) }
#define OPT_S(l, s, d, m, h) { .lname = (l), .sname = (s), .type = OPT_STR, .dest = (d), .meta = (m), .help = (h) }
#define OPT_L(l, s, d, m, h) { .lname = (l), .sname = (s), .type = OPT_LIST, .dest = (d), .meta = (m), .help = (h) }
#define OPT_N(l, s, d, m, h, min, max)                                                                          \
	{ .lname = (l), .sname = (s), .type = OPT_NUM, .dest = (d), .meta = (m), .help = (h), .lo = (min), .hi = (max) }
#define OPT_C(l, s, d, m, h, c)                                                                                 \
	{ .lname = (l), .sname = (s), .type = OPT_CHOICE, .dest = (d), .meta = (m), .help = (h), .choices = (c) }
#define OPT_END { .lname = NULL }

/* -o json|wide, on lists and show */
#define OPT_OUTPUT(dest) OPT_C("output", 'o', dest, "json|wide", "the answer as JSON, or a wider table", "json|wide")

static inline bool output_json(const char *o)
{
	return o && o[0] == 'j';
}

static inline bool output_wide(const char *o)
{
	return o && o[0] == 'w';
}

static inline const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* the positional arguments, and what followed "--" */
struct args {
	const char **pos;
	int npos;
	const char **rest;
	int nrest;
};

/* the instance every verb talks to: -i/--instance, $AZDS_INSTANCE or "azds" */
extern const char *cli_instance;
/* -i/--instance was given (not only $AZDS_INSTANCE): the embedded mode was asked for */
extern bool cli_instance_flag;
/* --kubeconfig FILE and --context NAME: a cluster (docs/k8s-cli.md), or NULL */
extern const char *cli_kubeconfig, *cli_context;
/* set by SIGINT/SIGTERM where a verb waits (pod logs -f) */
extern volatile sig_atomic_t cli_interrupted;

/*
 * Parses argv[1..] (argv[0] is the verb's last word) against o[], ending
 * with a zeroed entry; -i/--instance and -h/--help are always accepted.
 * Returns 0 when parsed, 1 when the help was printed, -EINVAL when a usage
 * error was printed. opts_exit() turns the last two into the exit status.
 */
int opts_parse(const struct verb *v, const struct opt *o, int argc, char **argv, struct args *a);
static inline int opts_exit(int r)
{
	return r > 0 ? 0 : EXIT_USAGE;
}
void args_free(struct args *a);

/* "space select", for messages */
const char *verb_title(const struct verb *v);
void verb_help(const struct verb *v, const struct opt *o, FILE *f);

/* one-line messages: "azds: <what>: <why>"; they return the exit status */
int usage_error(const struct verb *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* the instance's hint for commands: "" or " -i NAME" */
const char *instance_flag(void);

/* a yes/no question on the terminal; false when not answered "y" */
bool ask_yes(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool interactive(void);

#endif
