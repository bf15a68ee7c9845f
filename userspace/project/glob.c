// SPDX-License-Identifier: MIT
/* Path patterns: git's, Docker's and azds.yaml's dialects (see glob.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "glob.h"

/*
 * The matcher's results. Besides a plain "no", two verdicts prune the
 * backtracking, as git's wildmatch does, so that "*a*a*a*b" stays linear
 * per star: ABORT_ALL (the text ran out: a later start cannot do better)
 * and ABORT_STARSTAR (a single '*' hit a '/': only an enclosing "**" may
 * try further on).
 */
enum { M_NOMATCH = 0, M_MATCH = 1, M_ABORT_ALL = -1, M_ABORT_STARSTAR = -2 };

struct cls {
	const char *name;
	int (*fn)(int);
};

static int is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static int cls_alnum(int c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int cls_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int cls_digit(int c) { return c >= '0' && c <= '9'; }
static int cls_lower(int c) { return c >= 'a' && c <= 'z'; }
static int cls_upper(int c) { return c >= 'A' && c <= 'Z'; }
static int cls_space(int c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static int cls_xdigit(int c) { return cls_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int cls_cntrl(int c) { return c < 32 || c == 127; }
static int cls_print(int c) { return c >= 32 && c < 127; }
static int cls_graph(int c) { return c > 32 && c < 127; }
static int cls_punct(int c) { return cls_graph(c) && !cls_alnum(c); }

static const struct cls classes[] = {
	{ "alnum", cls_alnum }, { "alpha", cls_alpha }, { "blank", is_blank }, { "cntrl", cls_cntrl },
	{ "digit", cls_digit }, { "graph", cls_graph }, { "lower", cls_lower }, { "print", cls_print },
	{ "punct", cls_punct }, { "space", cls_space }, { "upper", cls_upper }, { "xdigit", cls_xdigit },
};

/*
 * A bracket expression at *pp (just after '['): 1 when c is in it, 0 when
 * not, -1 when it is malformed (no closing ']'). *pp is left on the ']'.
 */
static int bracket(const char **pp, unsigned char c, unsigned flags)
{
	const char *p = *pp;
	bool neg = false, hit = false;
	unsigned char prev = 0;
	bool have_prev = false;

	if (*p == '^' || (*p == '!' && (flags & AZDS_GLOB_BANG_CLASS))) {
		neg = true;
		p++;
	}
	/* a ']' first is a member */
	if (*p == ']') {
		hit |= c == ']';
		prev = ']';
		have_prev = true;
		p++;
	}
	for (; *p != ']'; p++) {
		unsigned char pc = (unsigned char)*p;

		if (!pc)
			return -1;
		if (pc == '[' && p[1] == ':') {
			const char *end = strstr(p + 2, ":]");
			size_t n = end ? (size_t)(end - (p + 2)) : 0;
			size_t k;

			if (!end)
				return -1;
			for (k = 0; k < sizeof(classes) / sizeof(classes[0]); k++)
				if (strlen(classes[k].name) == n && !strncmp(classes[k].name, p + 2, n))
					break;
			if (k == sizeof(classes) / sizeof(classes[0]))
				return -1; /* git refuses an unknown class */
			hit |= classes[k].fn(c) != 0;
			p = end + 1;
			have_prev = false;
			continue;
		}
		if (pc == '\\') {
			pc = (unsigned char)*++p;
			if (!pc)
				return -1;
		}
		if (pc == '-' && have_prev && p[1] && p[1] != ']') {
			unsigned char hi = (unsigned char)*++p;

			if (hi == '\\') {
				hi = (unsigned char)*++p;
				if (!hi)
					return -1;
			}
			hit |= c >= prev && c <= hi;
			have_prev = false;
			continue;
		}
		hit |= c == pc;
		prev = pc;
		have_prev = true;
	}
	*pp = p;
	return hit != neg;
}

static int dowild(const char *p, const char *t, const char *start, unsigned flags)
{
	for (; *p; p++, t++) {
		unsigned char pc = (unsigned char)*p, tc = (unsigned char)*t;
		int r;

		if (!tc && pc != '*')
			return M_ABORT_ALL;
		switch (pc) {
		case '\\':
			pc = (unsigned char)*++p;
			if (!pc)
				return M_ABORT_ALL; /* a trailing '\' matches nothing */
			if (tc != pc)
				return M_NOMATCH;
			break;
		case '?':
			if (tc == '/')
				return M_NOMATCH;
			break;
		case '[': {
			const char *q = p + 1;

			if (tc == '/')
				return M_NOMATCH;
			r = bracket(&q, tc, flags);
			if (r < 0)
				return M_ABORT_ALL;
			if (!r)
				return M_NOMATCH;
			p = q; /* on the ']' */
			break;
		}
		case '*': {
			const char *q = p;
			bool dbl;

			while (*q == '*')
				q++;
			dbl = q - p >= 2;
			if (dbl && (p == start || p[-1] == '/') && (!*q || *q == '/')) {
				if (!*q)
					return M_MATCH; /* a trailing "**": everything below */
				/* "**" then '/': zero or more directories */
				for (;;) {
					r = dowild(q + 1, t, start, flags);
					if (r != M_NOMATCH && r != M_ABORT_STARSTAR)
						return r;
					t = strchr(t, '/');
					if (!t)
						return M_NOMATCH;
					t++;
				}
			}
			if (dbl && (flags & AZDS_GLOB_STARSTAR_ANY)) {
				if (!*q)
					return M_MATCH;
				for (;; t++) {
					r = dowild(q, t, start, flags);
					if (r != M_NOMATCH && r != M_ABORT_STARSTAR)
						return r;
					if (!*t)
						return M_ABORT_ALL;
				}
			}
			/* one '*' (or a "**" that git reads as one) */
			if (!*q)
				return strchr(t, '/') ? M_ABORT_STARSTAR : M_MATCH;
			for (;; t++) {
				r = dowild(q, t, start, flags);
				if (r != M_NOMATCH)
					return r;
				if (!*t)
					return M_ABORT_ALL;
				if (*t == '/')
					return M_ABORT_STARSTAR;
			}
		}
		default:
			if (tc != pc)
				return M_NOMATCH;
			break;
		}
	}
	return *t ? M_NOMATCH : M_MATCH;
}

int azds_glob_match(const char *pattern, const char *text, unsigned flags)
{
	return dowild(pattern, text, pattern, flags) == M_MATCH;
}

void azds_glob_list_init(struct azds_glob_list *l, enum azds_glob_dialect d, const char *source)
{
	memset(l, 0, sizeof(*l));
	l->dialect = d;
	snprintf(l->source, sizeof(l->source), "%s", source ? source : "");
}

void azds_glob_list_free(struct azds_glob_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].pat);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int push(struct azds_glob_list *l, const char *pat, size_t len, const struct azds_glob_pat *tmpl,
		struct azds_err *e)
{
	struct azds_glob_pat *p;

	if (l->n >= AZDS_GLOB_MAX_PATTERNS)
		return azds_err(e, E2BIG, "%s:%d: more than %d patterns", l->source, tmpl->line, AZDS_GLOB_MAX_PATTERNS);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *nv = realloc(l->v, cap * sizeof(*l->v));

		if (!nv)
			return azds_err(e, ENOMEM, "%s: out of memory", l->source);
		l->v = nv;
		l->cap = cap;
	}
	p = &l->v[l->n];
	*p = *tmpl;
	p->pat = strndup(pat, len);
	if (!p->pat)
		return azds_err(e, ENOMEM, "%s: out of memory", l->source);
	l->n++;
	if (p->negate)
		l->any_negate = true;
	else
		l->any_positive = true;
	return 0;
}

/* a bracket expression left open or an unknown [:class:] never matches:
 * say so instead of silently ignoring the line */
static int check_brackets(const struct azds_glob_list *l, const char *pat, int line, unsigned flags,
			  struct azds_err *e)
{
	for (const char *p = pat; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p == '[') {
			const char *q = p + 1;

			if (bracket(&q, 'a', flags) < 0)
				return azds_err(e, EINVAL, "%s:%d: \"%s\": a '[' without its ']' (or an unknown [:class:])",
						l->source, line, pat);
			p = q;
		}
	}
	return 0;
}

/* git: one line of a .gitignore */
static int add_git(struct azds_glob_list *l, const char *s, int line, struct azds_err *e)
{
	struct azds_glob_pat t = { .line = line };
	size_t len = strlen(s);

	if (!len || s[0] == '#')
		return 0;
	/* trailing spaces go unless quoted with '\' */
	while (len && s[len - 1] == ' ' && !(len >= 2 && s[len - 2] == '\\'))
		len--;
	if (!len)
		return 0;
	if (s[0] == '!') {
		t.negate = true;
		s++;
		len--;
	}
	if (len && s[len - 1] == '/') {
		t.dironly = true;
		len--;
	}
	if (!len)
		return 0; /* "/" or "!" alone: git ignores the line */
	t.basename = !memchr(s, '/', len);
	if (s[0] == '/') {
		s++;
		len--;
	}
	if (len >= AZDS_GLOB_MAX_LEN)
		return azds_err(e, ENAMETOOLONG, "%s:%d: a pattern longer than %d bytes", l->source, line,
				AZDS_GLOB_MAX_LEN - 1);
	/* a '[' left open never matches, as in git: no error for a file git takes */
	return push(l, s, len, &t, e);
}

/* filepath.Clean, on '/' paths: no "//", no "." components, ".." folded
 * where it can be, no trailing '/'; s holds at most AZDS_GLOB_MAX_LEN bytes */
static void clean_path(char *s)
{
	char out[AZDS_GLOB_MAX_LEN]; /* never longer than s without its leading '/' */
	size_t starts[AZDS_GLOB_MAX_LEN / 2 + 2], o = 0, depth = 0;
	bool abs = *s == '/';
	char *p = s;

	while (*p) {
		char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (depth && !(out[starts[depth - 1]] == '.' && out[starts[depth - 1] + 1] == '.' &&
				       (starts[depth - 1] + 2 == o))) {
				o = starts[--depth];
				o = o ? o - 1 : 0; /* the '/' before it */
			} else if (!abs && o + 4 <= sizeof(out)) {
				if (o)
					out[o++] = '/';
				starts[depth++] = o;
				out[o++] = '.';
				out[o++] = '.';
			}
		} else {
			if (o + n + 2 > sizeof(out))
				break;
			if (o)
				out[o++] = '/';
			starts[depth++] = o;
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	out[o] = 0;
	if (abs)
		snprintf(s, AZDS_GLOB_MAX_LEN + 2, "/%s", out);
	else
		snprintf(s, AZDS_GLOB_MAX_LEN + 2, "%s", o ? out : ".");
}

/* docker: one line of a .dockerignore, as moby's ignorefile and patternmatcher read it */
static int add_docker(struct azds_glob_list *l, const char *line_text, int line, struct azds_err *e)
{
	struct azds_glob_pat t = { .line = line };
	char buf[AZDS_GLOB_MAX_LEN + 2];
	const char *s = line_text;
	size_t len;

	if (s[0] == '#')
		return 0; /* a comment only where the line starts with it */
	while (is_blank((unsigned char)*s) || *s == '\r' || *s == '\v' || *s == '\f')
		s++;
	len = strlen(s);
	while (len && (is_blank((unsigned char)s[len - 1]) || s[len - 1] == '\r' || s[len - 1] == '\v' ||
		       s[len - 1] == '\f'))
		len--;
	if (!len)
		return 0;
	if (s[0] == '!') {
		t.negate = true;
		s++;
		len--;
		while (len && is_blank((unsigned char)*s))
			s++, len--;
		if (!len)
			return azds_err(e, EINVAL, "%s:%d: \"!\" alone excludes nothing (Docker refuses it too)", l->source,
					line);
	}
	if (len > AZDS_GLOB_MAX_LEN)
		return azds_err(e, ENAMETOOLONG, "%s:%d: a pattern longer than %d bytes", l->source, line,
				AZDS_GLOB_MAX_LEN);
	memcpy(buf, s, len);
	buf[len] = 0;
	clean_path(buf);
	if (buf[0] == '/' && buf[1])
		memmove(buf, buf + 1, strlen(buf));
	if (check_brackets(l, buf, line, 0, e))
		return -EINVAL;
	return push(l, buf, strlen(buf), &t, e);
}

/* the first "{a,b}" at the top level of s: its '{' and '}', or false */
static bool find_brace(const char *s, const char **open, const char **close)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p != '{')
			continue;
		int depth = 0;
		bool comma = false;

		for (const char *q = p; *q; q++) {
			if (*q == '\\' && q[1]) {
				q++;
				continue;
			}
			if (*q == '{')
				depth++;
			else if (*q == '}' && --depth == 0) {
				if (comma) {
					*open = p;
					*close = q;
					return true;
				}
				break;
			} else if (*q == ',' && depth == 1)
				comma = true;
		}
	}
	return false;
}

/* sync: brace alternatives expanded, each result pushed */
static int expand(struct azds_glob_list *l, const char *s, const struct azds_glob_pat *t, int *budget,
		  struct azds_err *e)
{
	const char *open, *close;

	if (!find_brace(s, &open, &close)) {
		if (--*budget < 0)
			return azds_err(e, E2BIG, "%s:%d: \"{...}\" expands to more than %d patterns", l->source, t->line,
					AZDS_GLOB_MAX_BRACES);
		return push(l, s, strlen(s), t, e);
	}
	const char *alt = open + 1;
	int depth = 0;

	for (const char *q = alt; q <= close; q++) {
		if (*q == '\\' && q[1] && q < close) {
			q++;
			continue;
		}
		if (*q == '{')
			depth++;
		else if (*q == '}' && q != close)
			depth--;
		if ((*q == ',' && depth == 0) || q == close) {
			size_t pre = (size_t)(open - s), mid = (size_t)(q - alt), post = strlen(close + 1);
			char *n = malloc(pre + mid + post + 1);
			int err;

			if (!n)
				return azds_err(e, ENOMEM, "%s: out of memory", l->source);
			memcpy(n, s, pre);
			memcpy(n + pre, alt, mid);
			memcpy(n + pre + mid, close + 1, post + 1);
			err = expand(l, n, t, budget, e);
			free(n);
			if (err)
				return err;
			alt = q + 1;
		}
	}
	return 0;
}

/* sync: one glob of azds.yaml's container.sync list */
static int add_sync(struct azds_glob_list *l, const char *s, int line, struct azds_err *e)
{
	struct azds_glob_pat t = { .line = line };
	int budget = AZDS_GLOB_MAX_BRACES;
	size_t len;

	if (s[0] == '!') {
		t.negate = true;
		s++;
	}
	while (s[0] == '.' && s[1] == '/')
		s += 2;
	while (s[0] == '/')
		s++;
	len = strlen(s);
	if (!len)
		return azds_err(e, EINVAL, "%s:%d: an empty pattern", l->source, line);
	if (len >= AZDS_GLOB_MAX_LEN)
		return azds_err(e, ENAMETOOLONG, "%s:%d: a pattern longer than %d bytes", l->source, line,
				AZDS_GLOB_MAX_LEN - 1);
	if (check_brackets(l, s, line, AZDS_GLOB_BANG_CLASS, e))
		return -EINVAL;
	/* "dir/" selects what is below dir */
	if (s[len - 1] == '/') {
		char buf[AZDS_GLOB_MAX_LEN + 3];

		snprintf(buf, sizeof(buf), "%s**", s);
		return expand(l, buf, &t, &budget, e);
	}
	return expand(l, s, &t, &budget, e);
}

int azds_glob_add(struct azds_glob_list *l, const char *pattern, int line, struct azds_err *e)
{
	switch (l->dialect) {
	case AZDS_GLOB_GIT: return add_git(l, pattern, line, e);
	case AZDS_GLOB_DOCKER: return add_docker(l, pattern, line, e);
	default: return add_sync(l, pattern, line, e);
	}
}

int azds_glob_parse(struct azds_glob_list *l, const char *text, size_t len, struct azds_err *e)
{
	const char *p = text, *end = text + len;
	char buf[AZDS_GLOB_MAX_LEN * 2];
	int line = 0, err;

	if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		line++;
		if (n && p[n - 1] == '\r')
			n--;
		if (memchr(p, 0, n))
			return azds_err(e, EINVAL, "%s:%d: a NUL byte", l->source, line);
		if (n >= sizeof(buf))
			return azds_err(e, ENAMETOOLONG, "%s:%d: a line longer than %zu bytes", l->source, line,
					sizeof(buf) - 1);
		memcpy(buf, p, n);
		buf[n] = 0;
		err = azds_glob_add(l, buf, line, e);
		if (err)
			return err;
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

int azds_glob_git(const struct azds_glob_list *l, const char *path, bool is_dir)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = l->n; i-- > 0;) {
		const struct azds_glob_pat *p = &l->v[i];

		if (p->dironly && !is_dir)
			continue;
		if (azds_glob_match(p->pat, p->basename ? base : path, AZDS_GLOB_BANG_CLASS))
			return p->negate ? AZDS_GLOB_INCLUDE : AZDS_GLOB_EXCLUDE;
	}
	return AZDS_GLOB_NONE;
}

/* the pattern matches path or one of its parents */
static bool docker_hit(const char *pat, const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (azds_glob_match(pat, path, AZDS_GLOB_STARSTAR_ANY))
		return true;
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, path, len + 1);
	for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		bool hit = azds_glob_match(pat, buf, AZDS_GLOB_STARSTAR_ANY);

		*s = '/';
		if (hit)
			return true;
	}
	return false;
}

int azds_glob_docker(const struct azds_glob_list *l, const char *path)
{
	for (size_t i = l->n; i-- > 0;)
		if (docker_hit(l->v[i].pat, path))
			return l->v[i].negate ? AZDS_GLOB_INCLUDE : AZDS_GLOB_EXCLUDE;
	return AZDS_GLOB_NONE;
}

bool azds_glob_sync(const struct azds_glob_list *l, const char *path)
{
	for (size_t i = l->n; i-- > 0;)
		if (azds_glob_match(l->v[i].pat, path, AZDS_GLOB_BANG_CLASS))
			return !l->v[i].negate;
	return !l->any_positive;
}
