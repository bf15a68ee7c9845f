// SPDX-License-Identifier: MIT
/* Option parsing, help and the one-line messages every verb shares. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "azds.h"
#include "opts.h"

const char *cli_instance;
bool cli_instance_flag;
const char *cli_kubeconfig, *cli_context;
volatile sig_atomic_t cli_interrupted;

const char *verb_title(const struct verb *v)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%s%s%s", v->group, v->name ? " " : "", v->name ? v->name : "");
	return buf;
}

int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("azds: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int usage_error(const struct verb *v, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "azds: %s: ", verb_title(v));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see azds %s --help)\n", verb_title(v));
	return EXIT_USAGE;
}

const char *instance_flag(void)
{
	static char buf[48];

	if (!cli_instance || !*cli_instance || !strcmp(cli_instance, AZDS_INSTANCE_DEFAULT))
		return "";
	snprintf(buf, sizeof(buf), " -i %s", cli_instance);
	return buf;
}

/* the options every verb takes, after its own */
static const struct opt common[] = {
	OPT_S("instance", 'i', &cli_instance, "NAME", "the azds instance (default $AZDS_INSTANCE, or \"azds\")"),
	OPT_S("kubeconfig", 0, &cli_kubeconfig, "FILE", "a cluster's kubeconfig, for the verbs that work on one (default $KUBECONFIG)"),
	OPT_S("context", 0, &cli_context, "NAME", "the kubeconfig's context (default its current-context)"),
	OPT_F("help", 'h', NULL, "this help"),
	OPT_END,
};

static void opt_help_line(const struct opt *o, FILE *f)
{
	char left[64];
	int n;

	if (o->sname)
		n = snprintf(left, sizeof(left), "-%c, --%s", o->sname, o->lname);
	else
		n = snprintf(left, sizeof(left), "    --%s", o->lname);
	if (o->meta && n > 0 && (size_t)n < sizeof(left))
		snprintf(left + n, sizeof(left) - n, " %s", o->meta);
	fprintf(f, "  %-28s %s%s\n", left, o->help, o->type == OPT_LIST ? " (repeatable)" : "");
}

void verb_help(const struct verb *v, const struct opt *o, FILE *f)
{
	/* a verb of the cluster mode (cli/k8s_*.c) has no embedded handler */
	fprintf(f, "usage: azds %s %s%s%s\n\n%s\n", v->run ? "[-i INSTANCE]" : "[--kubeconfig FILE] [--context NAME]",
		verb_title(v), v->synopsis ? " " : "",
		v->synopsis ? v->synopsis : "", v->summary);
	if (v->details)
		fprintf(f, "\n%s", v->details);
	fprintf(f, "\nOptions:\n");
	for (; o && o->lname; o++)
		opt_help_line(o, f);
	for (const struct opt *c = common; c->lname; c++)
		opt_help_line(c, f);
}

static const struct opt *find_long(const struct opt *o, const char *name, size_t n)
{
	for (; o && o->lname; o++)
		if (strlen(o->lname) == n && !strncmp(o->lname, name, n))
			return o;
	return NULL;
}

static const struct opt *find_short(const struct opt *o, char c)
{
	for (; o && o->lname; o++)
		if (o->sname == c)
			return o;
	return NULL;
}

static bool choice_ok(const char *choices, const char *val)
{
	size_t n = strlen(val);

	for (const char *p = choices; *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && !strncmp(p, val, n))
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

static int list_add(struct strlist *l, const char *s)
{
	const char **v = realloc(l->v, sizeof(*v) * (l->n + 1));

	if (!v)
		return -ENOMEM;
	v[l->n++] = s;
	l->v = v;
	return 0;
}

/* stores val into o's destination; flag is how the user spelled the option */
static int set_value(const struct verb *v, const struct opt *o, const char *flag, const char *val)
{
	char *end;
	unsigned long n;

	switch (o->type) {
	case OPT_FLAG:
		*(bool *)o->dest = true;
		return 0;
	case OPT_STR:
		*(const char **)o->dest = val;
		return 0;
	case OPT_CHOICE:
		if (!choice_ok(o->choices, val))
			return usage_error(v, "%s \"%s\": must be one of %s", flag, val, o->choices), -EINVAL;
		*(const char **)o->dest = val;
		return 0;
	case OPT_NUM:
		errno = 0;
		n = strtoul(val, &end, 10);
		/* digits only: strtoul would take " 80" and "+80" as 80 */
		if (errno || *end || end == val || val[0] < '0' || val[0] > '9' || n < o->lo || n > o->hi)
			return usage_error(v, "%s \"%s\": must be a whole number in %lu..%lu", flag, val, o->lo, o->hi),
			       -EINVAL;
		*(unsigned long *)o->dest = n;
		return 0;
	case OPT_LIST:
		if (list_add(o->dest, val))
			return fail("out of memory"), -ENOMEM;
		return 0;
	}
	return -EINVAL;
}

/* one option word at argv[*i]; consumes its value too */
static int parse_one(const struct verb *v, const struct opt *o, int argc, char **argv, int *i)
{
	const char *w = argv[*i], *val = NULL;
	const struct opt *opt;
	char flag[80];

	if (w[1] == '-') {
		const char *eq = strchr(w + 2, '=');
		size_t n = eq ? (size_t)(eq - w - 2) : strlen(w + 2);

		opt = find_long(o, w + 2, n);
		if (!opt)
			opt = find_long(common, w + 2, n);
		snprintf(flag, sizeof(flag), "--%.*s", (int)n, w + 2);
		if (eq)
			val = eq + 1;
	} else {
		opt = find_short(o, w[1]);
		if (!opt)
			opt = find_short(common, w[1]);
		snprintf(flag, sizeof(flag), "-%c", w[1]);
		/* -ndev and -n=dev, as kubectl takes them */
		if (w[2])
			val = w[2] == '=' ? w + 3 : w + 2;
		if (opt && opt->type == OPT_FLAG && w[2])
			opt = NULL;
	}
	if (!opt)
		return usage_error(v, "unknown flag \"%s\"", w), -EINVAL;
	if (!opt->dest) /* --help */
		return 1;
	if (opt->type == OPT_FLAG) {
		if (val)
			return usage_error(v, "%s takes no value", flag), -EINVAL;
		return set_value(v, opt, flag, NULL);
	}
	if (!val) {
		if (*i + 1 >= argc)
			return usage_error(v, "%s needs a value (%s)", flag, opt->meta), -EINVAL;
		val = argv[++*i];
	}
	return set_value(v, opt, flag, val);
}

void args_free(struct args *a)
{
	free(a->pos);
	a->pos = NULL;
	a->npos = 0;
}

int opts_parse(const struct verb *v, const struct opt *o, int argc, char **argv, struct args *a)
{
	struct strlist pos = { 0 };
	struct azds_inst in;
	struct azds_err e;
	int r = 0;

	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc && !r; i++) {
		const char *w = argv[i];

		if (!strcmp(w, "--")) {
			a->rest = (const char **)argv + i + 1;
			a->nrest = argc - i - 1;
			break;
		}
		if (w[0] == '-' && w[1]) {
			r = parse_one(v, o, argc, argv, &i);
		} else if (list_add(&pos, w)) {
			fail("out of memory");
			r = -ENOMEM;
		}
	}
	a->pos = pos.v;
	a->npos = pos.n;
	if (r == 1)
		verb_help(v, o, stdout);
	if (r)
		goto out;
	if (a->npos > v->max_args && v->max_args >= 0) {
		usage_error(v, "unexpected argument \"%s\"", a->pos[v->max_args]);
		r = -EINVAL;
		goto out;
	}
	/* only a verb whose synopsis shows "[-- COMMAND" takes one */
	if (a->nrest && (!v->synopsis || !strstr(v->synopsis, "[-- "))) {
		usage_error(v, "unexpected argument \"%s\" after \"--\"", a->rest[0]);
		r = -EINVAL;
		goto out;
	}
	if (a->npos < v->min_args) {
		const char *syn = v->synopsis ? v->synopsis : "ARGUMENT";

		usage_error(v, "%.*s is required", (int)strcspn(syn, " "), syn);
		r = -EINVAL;
		goto out;
	}
	if (azds_inst_init(&in, cli_instance, &e)) {
		fail("%s (see azds --help)", e.msg);
		r = -EINVAL;
		goto out;
	}
	if (!cli_instance || !*cli_instance)
		cli_instance = AZDS_INSTANCE_DEFAULT;
	return 0;
out:
	args_free(a);
	return r;
}
