// SPDX-License-Identifier: MIT
/*
 * The Dockerfile for host mode: see dockerfile.h for what is honoured.
 *
 * Three passes over the text: parser directives at the top, physical lines
 * joined into instructions (continuations, comments), then each instruction
 * dispatched into the state of its stage. Notes and warnings are held back
 * until the end, because only then is the last stage known: what a stage
 * outside the last stage's chain does is not reported instruction by
 * instruction (one note says the stage is skipped), errors always are.
 *
 * Docker's rules here follow its documentation and BuildKit's behaviour
 * (the dockerfile frontend's parser and shell lexer), rewritten in C.
 */
#include "dockerfile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* small containers                                                   */
/* ------------------------------------------------------------------ */

struct strv {
	char **v; /* NULL-terminated */
	size_t n, cap;
};

struct kvl {
	struct azds_df_kv *v;
	size_t n, cap;
};

struct cmdspec {
	struct strv written; /* exec argv, or {text} */
	struct strv eff;     /* what it runs: shell form through SHELL */
	bool shell;
	unsigned line;
};

struct stage {
	char *name;  /* "AS name", lowercased; NULL if none */
	char *image; /* root image, through FROM <stage> */
	char *from;  /* as written after FROM (expanded) */
	int parent;  /* the stage it is FROM, or -1 */
	unsigned line;
	struct kvl env, args;
	char *workdir;
	bool workdir_set;
	struct azds_df_port *ports;
	size_t n_ports, cap_ports;
	struct azds_df_run *runs;
	size_t n_runs, cap_runs;
	struct azds_df_copy *copies;
	size_t n_copies, cap_copies;
	bool *copy_dest_dir; /* per copy: the destination is a folder (trailing '/', '.', several sources) */
	size_t cap_copy_dest_dir;
	struct cmdspec cmd, ep;
	unsigned cmd_set_line; /* a CMD in this stage itself (not inherited) */
	struct strv shell;
	char *user, *stop_signal;
};

/* held-back diagnostics */
enum once_kind {
	ONCE_NONE = 0,
	ONCE_USER,
	ONCE_VOLUME,
	ONCE_HEALTHCHECK,
	ONCE_STOPSIGNAL,
	ONCE_ONBUILD,
	ONCE_LABEL,
	ONCE_MAINTAINER,
	ONCE_PLATFORM,
	ONCE_N,
};

struct pend {
	int stage; /* -1: not about one stage */
	enum once_kind once;
	size_t seq;
	struct azds_diag g;
};

struct dfp {
	const char *file;
	const struct azds_df_opts *opts;
	char escape;
	struct stage *stages;
	size_t n_stages, cap_stages;
	struct kvl global_args; /* ARGs before the first FROM: they serve FROM lines */
	struct strv declared;	/* every ARG name, for build args nobody declares */
	struct pend *pend;
	size_t n_pend, cap_pend;
	size_t total; /* bytes of values and build-step environments: AZDS_DF_MAX_TOTAL */
	int errors;
	bool nomem;
	bool budget_reported;
	unsigned instructions;
	char heredoc_end[64]; /* a refused heredoc's body is skipped up to this line */
	bool heredoc_tabs;    /* <<-: its lines may start with tabs */
	struct azds_diags *d;
};

static bool fits_total(struct dfp *p, size_t more, unsigned line);

static void p_nomem(struct dfp *p)
{
	p->nomem = true;
}

static char *xstrdup(struct dfp *p, const char *s)
{
	char *c = strdup(s ? s : "");

	if (!c)
		p_nomem(p);
	return c;
}

static char *xstrndup(struct dfp *p, const char *s, size_t n)
{
	char *c = strndup(s, n);

	if (!c)
		p_nomem(p);
	return c;
}

static void *xgrow(struct dfp *p, void *arr, size_t *cap, size_t n, size_t elem)
{
	void *q;
	size_t ncap;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 4;
	q = realloc(arr, ncap * elem);
	if (!q) {
		p_nomem(p);
		return NULL;
	}
	*cap = ncap;
	return q;
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Takes ownership of str. */
static bool strv_push_own(struct dfp *p, struct strv *s, char *str)
{
	char **v;

	if (!str) {
		p_nomem(p);
		return false;
	}
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;

		v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			free(str);
			p_nomem(p);
			return false;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
	return true;
}

static bool strv_push(struct dfp *p, struct strv *s, const char *str)
{
	return strv_push_own(p, s, xstrdup(p, str));
}

static bool strv_copy(struct dfp *p, struct strv *dst, const struct strv *src)
{
	strv_free(dst);
	for (size_t i = 0; i < src->n; i++)
		if (!strv_push(p, dst, src->v[i]))
			return false;
	return true;
}

static bool strv_has(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], str))
			return true;
	return false;
}

static void kvl_free(struct kvl *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static struct azds_df_kv *kvl_find(const struct kvl *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return &l->v[i];
	return NULL;
}

/* Sets key (value may be NULL: declared, no value); replaces in place. false on a limit or no memory. */
static bool kvl_set(struct dfp *p, struct kvl *l, const char *key, const char *value, unsigned line)
{
	struct azds_df_kv *kv = kvl_find(l, key);
	char *v = NULL;

	if (value && !(v = xstrdup(p, value)))
		return false;
	if (kv) {
		free(kv->value);
		kv->value = v;
		kv->line = line;
		return true;
	}
	if (l->n >= AZDS_DF_MAX_VARS) {
		free(v);
		return false;
	}
	l->v = xgrow(p, l->v, &l->cap, l->n, sizeof(*l->v));
	if (!l->v) {
		free(v);
		l->n = 0; /* the old array is still owned by realloc's failure: nothing to free safely */
		return false;
	}
	l->v[l->n].key = xstrdup(p, key);
	l->v[l->n].value = v;
	l->v[l->n].line = line;
	l->n++;
	return !p->nomem;
}

static bool kvl_copy(struct dfp *p, struct kvl *dst, const struct kvl *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (!kvl_set(p, dst, src->v[i].key, src->v[i].value, src->v[i].line))
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* diagnostics, held back until the last stage is known               */
/* ------------------------------------------------------------------ */

static void pend_add(struct dfp *p, int stage, enum once_kind once, enum azds_diag_sev sev, unsigned line,
		     const char *key, const char *fmt, va_list ap)
{
	struct pend *e;

	if (sev == AZDS_DIAG_ERROR)
		p->errors++;
	if (p->n_pend >= 4 * AZDS_DIAG_MAX) { /* plenty: azds_diags keeps AZDS_DIAG_MAX */
		azds_diag_add(p->d, sev, p->file, line, 0, key, "(further diagnostics left out)");
		return;
	}
	p->pend = xgrow(p, p->pend, &p->cap_pend, p->n_pend, sizeof(*p->pend));
	if (!p->pend) {
		p->n_pend = 0;
		return;
	}
	e = &p->pend[p->n_pend];
	memset(e, 0, sizeof(*e));
	e->stage = stage;
	e->once = once;
	e->seq = p->n_pend++;
	e->g.sev = sev;
	e->g.line = line;
	snprintf(e->g.key, sizeof(e->g.key), "%s", key ? key : "");
	vsnprintf(e->g.msg, sizeof(e->g.msg), fmt, ap);
}

static int cur_stage(const struct dfp *p)
{
	return p->n_stages ? (int)p->n_stages - 1 : -1;
}

static void err(struct dfp *p, unsigned line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void err(struct dfp *p, unsigned line, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pend_add(p, -1, ONCE_NONE, AZDS_DIAG_ERROR, line, key, fmt, ap);
	va_end(ap);
}

static void warn(struct dfp *p, int stage, unsigned line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void warn(struct dfp *p, int stage, unsigned line, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pend_add(p, stage, ONCE_NONE, AZDS_DIAG_WARNING, line, key, fmt, ap);
	va_end(ap);
}

static void note(struct dfp *p, int stage, enum once_kind once, unsigned line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static void note(struct dfp *p, int stage, enum once_kind once, unsigned line, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pend_add(p, stage, once, AZDS_DIAG_NOTE, line, key, fmt, ap);
	va_end(ap);
}

static int pend_cmp(const void *a, const void *b)
{
	const struct pend *x = a, *y = b;

	if (x->g.line != y->g.line)
		return x->g.line < y->g.line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Emits what concerns the last stage's chain (in_chain), errors always, in line order. */
static void pend_flush(struct dfp *p, const bool *in_chain)
{
	size_t count[ONCE_N] = { 0 }, seen[ONCE_N] = { 0 };

	qsort(p->pend, p->n_pend, sizeof(*p->pend), pend_cmp);
	for (size_t i = 0; i < p->n_pend; i++) {
		const struct pend *e = &p->pend[i];

		if (e->g.sev != AZDS_DIAG_ERROR && e->stage >= 0 && !in_chain[e->stage])
			continue;
		count[e->once]++;
	}
	for (size_t i = 0; i < p->n_pend; i++) {
		const struct pend *e = &p->pend[i];

		if (e->g.sev != AZDS_DIAG_ERROR && e->stage >= 0 && !in_chain[e->stage])
			continue;
		if (e->once != ONCE_NONE && seen[e->once]++)
			continue; /* said once, at the first line, with the count */
		if (e->once != ONCE_NONE && count[e->once] > 1)
			azds_diag_add(p->d, e->g.sev, p->file, e->g.line, 0, e->g.key, "%s (and %zu more %s line%s)",
				      e->g.msg, count[e->once] - 1, e->g.key, count[e->once] > 2 ? "s" : "");
		else
			azds_diag_add(p->d, e->g.sev, p->file, e->g.line, 0, e->g.key, "%s", e->g.msg);
	}
}

/* ------------------------------------------------------------------ */
/* growable string                                                    */
/* ------------------------------------------------------------------ */

struct sb {
	char *p;
	size_t n, cap;
	size_t max; /* 0: AZDS_DF_MAX_WORD */
	bool toolong, nomem;
};

static void sb_addn(struct sb *s, const char *str, size_t len)
{
	if (s->toolong || s->nomem)
		return;
	if (s->n + len > (s->max ? s->max : AZDS_DF_MAX_WORD)) {
		s->toolong = true;
		return;
	}
	if (s->n + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 32;
		char *q;

		while (cap < s->n + len + 1)
			cap *= 2;
		q = realloc(s->p, cap);
		if (!q) {
			s->nomem = true;
			return;
		}
		s->p = q;
		s->cap = cap;
	}
	memcpy(s->p + s->n, str, len);
	s->n += len;
	s->p[s->n] = '\0';
}

static void sb_addc(struct sb *s, char c)
{
	sb_addn(s, &c, 1);
}

/* ------------------------------------------------------------------ */
/* the shell lexer: quotes, escapes, $VAR / ${VAR...}                 */
/* ------------------------------------------------------------------ */

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct lx {
	struct dfp *p;
	const struct stage *st; /* NULL: the global ARGs (FROM lines, ARGs before FROM) */
	const char *s;
	size_t i, n;
	char msg[160];
	bool failed;
	unsigned depth;
};

static const char *lx_lookup(const struct lx *x, const char *name)
{
	const struct azds_df_kv *kv;

	if (x->st) {
		/* ENV wins over an ARG of the same name, as in Docker */
		kv = kvl_find(&x->st->env, name);
		if (!kv)
			kv = kvl_find(&x->st->args, name);
	} else {
		kv = kvl_find(&x->p->global_args, name);
	}
	if (kv)
		return kv->value; /* NULL: declared without a value */
	/* base images set PATH; a Dockerfile's ENV PATH=/x:$PATH expects it */
	if (!strcmp(name, "PATH"))
		return DEFAULT_PATH;
	return NULL;
}

static bool lx_name_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool lx_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static void lx_word(struct lx *x, struct sb *out, int stop);

static void lx_fail(struct lx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lx_fail(struct lx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	x->failed = true;
}

/* x->i is at '$'. */
static void lx_dollar(struct lx *x, struct sb *out)
{
	char name[128];
	size_t nlen = 0;
	const char *val;
	char op = 0;
	bool colon = false;

	x->i++;
	if (x->i >= x->n) {
		sb_addc(out, '$');
		return;
	}
	if (x->s[x->i] != '{') {
		if (!lx_name_start(x->s[x->i])) { /* "$" then something else: a literal $ */
			sb_addc(out, '$');
			return;
		}
		while (x->i < x->n && lx_name_char(x->s[x->i])) {
			if (nlen + 1 < sizeof(name))
				name[nlen++] = x->s[x->i];
			x->i++;
		}
		name[nlen] = '\0';
		val = lx_lookup(x, name);
		if (val)
			sb_addn(out, val, strlen(val));
		return;
	}
	x->i++;
	if (x->depth >= 16) {
		lx_fail(x, "${...} nested more than 16 deep");
		return;
	}
	while (x->i < x->n && lx_name_char(x->s[x->i])) {
		if (nlen + 1 >= sizeof(name)) {
			lx_fail(x, "a variable name longer than %zu bytes", sizeof(name) - 1);
			return;
		}
		name[nlen++] = x->s[x->i++];
	}
	name[nlen] = '\0';
	if (!nlen || !lx_name_start(name[0])) {
		lx_fail(x, "bad substitution: ${ must be followed by a variable name");
		return;
	}
	if (x->i < x->n && x->s[x->i] == ':') {
		colon = true;
		x->i++;
	}
	if (x->i < x->n && (x->s[x->i] == '-' || x->s[x->i] == '+' || x->s[x->i] == '?')) {
		op = x->s[x->i++];
	} else if (colon || x->i >= x->n || x->s[x->i] != '}') {
		if (x->i >= x->n)
			lx_fail(x, "${%s: no closing }", name);
		else
			lx_fail(x,
				"${%s%s%c...}: azds reads ${VAR}, ${VAR:-x}, ${VAR-x}, ${VAR:+x}, ${VAR+x}, "
				"${VAR:?x} and ${VAR?x}",
				name, colon ? ":" : "", x->s[x->i]);
		return;
	}
	val = lx_lookup(x, name);
	if (!op) {
		x->i++; /* '}' */
		if (val)
			sb_addn(out, val, strlen(val));
		return;
	}
	{
		struct sb word = { 0 };
		bool set = val != NULL, nonempty = set && val[0];
		bool have = colon ? nonempty : set;

		x->depth++;
		lx_word(x, &word, '}');
		x->depth--;
		if (!x->failed && (x->i >= x->n || x->s[x->i] != '}'))
			lx_fail(x, "${%s: no closing }", name);
		if (x->failed) {
			free(word.p);
			return;
		}
		x->i++;
		if (word.toolong)
			out->toolong = true;
		if (word.nomem)
			out->nomem = true;
		switch (op) {
		case '-':
			if (have)
				sb_addn(out, val, strlen(val));
			else if (word.p)
				sb_addn(out, word.p, word.n);
			break;
		case '+':
			if (have && word.p)
				sb_addn(out, word.p, word.n);
			break;
		default: /* '?' */
			if (have)
				sb_addn(out, val, strlen(val));
			else
				lx_fail(x, "%s: %s", name, word.n ? word.p : (set ? "is empty" : "is not set"));
			break;
		}
		free(word.p);
	}
}

/* Processes up to the end, or up to stop ('}' inside ${...}); quotes removed. */
static void lx_word(struct lx *x, struct sb *out, int stop)
{
	char esc = x->p->escape;

	while (x->i < x->n && !x->failed) {
		char c = x->s[x->i];

		if (stop >= 0 && c == stop)
			return;
		if (c == '\'') {
			size_t start = ++x->i;

			while (x->i < x->n && x->s[x->i] != '\'')
				x->i++;
			if (x->i >= x->n) {
				lx_fail(x, "no closing single quote (')");
				return;
			}
			sb_addn(out, x->s + start, x->i - start);
			x->i++;
		} else if (c == '"') {
			x->i++;
			for (;;) {
				if (x->i >= x->n) {
					lx_fail(x, "no closing double quote (\")");
					return;
				}
				c = x->s[x->i];
				if (c == '"') {
					x->i++;
					break;
				}
				if (c == '$') {
					lx_dollar(x, out);
					if (x->failed)
						return;
					continue;
				}
				if (c == esc && x->i + 1 < x->n &&
				    (x->s[x->i + 1] == '"' || x->s[x->i + 1] == '$' || x->s[x->i + 1] == esc)) {
					sb_addc(out, x->s[x->i + 1]);
					x->i += 2;
					continue;
				}
				sb_addc(out, c);
				x->i++;
			}
		} else if (c == '$') {
			lx_dollar(x, out);
		} else if (c == esc) {
			x->i++;
			if (x->i < x->n)
				sb_addc(out, x->s[x->i++]);
		} else {
			sb_addc(out, c);
			x->i++;
		}
	}
}

/*
 * One word through the lexer: a malloc'd result, or NULL after an error
 * (reported at line under key).
 */
static char *lex(struct dfp *p, const struct stage *st, const char *s, size_t len, unsigned line, const char *key)
{
	struct lx x = { .p = p, .st = st, .s = s, .n = len };
	struct sb out = { 0 };

	lx_word(&x, &out, -1);
	if (x.failed) {
		err(p, line, key, "%s", x.msg);
		free(out.p);
		return NULL;
	}
	if (out.toolong) {
		err(p, line, key, "a value longer than %u bytes after substitution: the limit", AZDS_DF_MAX_WORD);
		free(out.p);
		return NULL;
	}
	if (out.nomem) {
		p_nomem(p);
		free(out.p);
		return NULL;
	}
	if (!out.p) {
		out.p = strdup("");
		if (!out.p)
			p_nomem(p);
		return out.p;
	}
	if (!fits_total(p, out.n, line)) {
		free(out.p);
		return NULL;
	}
	return out.p;
}

static char *lex_str(struct dfp *p, const struct stage *st, const char *s, unsigned line, const char *key)
{
	return lex(p, st, s, strlen(s), line, key);
}

static bool fits_total(struct dfp *p, size_t more, unsigned line)
{
	if (p->total + more > AZDS_DF_MAX_TOTAL) {
		if (!p->budget_reported)
			err(p, line, NULL,
			    "the Dockerfile's values and build-step environments add up to more than %u bytes: the "
			    "limit",
			    AZDS_DF_MAX_TOTAL);
		p->budget_reported = true;
		return false;
	}
	p->total += more;
	return true;
}

/* ------------------------------------------------------------------ */
/* word splitting and JSON                                            */
/* ------------------------------------------------------------------ */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Splits on whitespace (COPY, ADD, EXPOSE, VOLUME, FROM in shell form): raw words. */
static bool split_ws(struct dfp *p, const char *s, struct strv *out)
{
	while (*s) {
		const char *start;

		while (is_ws(*s))
			s++;
		if (!*s)
			break;
		start = s;
		while (*s && !is_ws(*s))
			s++;
		if (!strv_push_own(p, out, xstrndup(p, start, (size_t)(s - start))))
			return false;
	}
	return true;
}

/*
 * Splits on whitespace outside quotes, keeping quotes and escapes in the
 * words (ENV, LABEL, ARG: the lexer removes them per value later).
 */
static bool split_words(struct dfp *p, const char *s, struct strv *out)
{
	struct sb w = { 0 };
	char esc = p->escape, quote = 0;
	bool in_word = false, blank_ok = false;
	size_t n = strlen(s);

	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '\0';

		if (i == n) {
			if (in_word && (blank_ok || w.n))
				if (!strv_push_own(p, out, w.p ? w.p : xstrdup(p, "")))
					return false;
			if (!(in_word && (blank_ok || w.n)))
				free(w.p);
			return !w.nomem && !w.toolong;
		}
		if (!in_word) {
			if (is_ws(c))
				continue;
			in_word = true;
		}
		if (quote) {
			if (c == quote)
				quote = 0;
			else if (c == esc && quote != '\'' && i + 1 < n) {
				sb_addc(&w, c);
				c = s[++i];
			}
			sb_addc(&w, c);
			continue;
		}
		if (is_ws(c)) {
			if (blank_ok || w.n) {
				if (!strv_push_own(p, out, w.p ? w.p : xstrdup(p, "")))
					return false;
			} else {
				free(w.p);
			}
			memset(&w, 0, sizeof(w));
			in_word = false;
			blank_ok = false;
			continue;
		}
		if (c == '\'' || c == '"') {
			quote = c;
			blank_ok = true;
		}
		if (c == esc) {
			if (i + 1 == n)
				continue;
			sb_addc(&w, c);
			c = s[++i];
		}
		sb_addc(&w, c);
	}
	return true;
}

static const char *json_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	return s;
}

static void utf8_put(struct sb *o, unsigned cp)
{
	char b[4];

	if (cp < 0x80) {
		b[0] = (char)cp;
		sb_addn(o, b, 1);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		sb_addn(o, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		sb_addn(o, b, 3);
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		sb_addn(o, b, 4);
	}
}

static const char *json_hex4(const char *s, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned)(c - 'A' + 10);
		else
			return NULL;
	}
	return s + 4;
}

/* s at '"'; returns past the closing quote, or NULL when it is not a JSON string. */
static const char *json_string(const char *s, struct sb *o)
{
	s++;
	for (;;) {
		unsigned char c = (unsigned char)*s;

		if (!c || c < 0x20)
			return NULL;
		if (c == '"')
			return s + 1;
		if (c != '\\') {
			sb_addc(o, (char)c);
			s++;
			continue;
		}
		s++;
		switch (*s) {
		case '"':
		case '\\':
		case '/':
			sb_addc(o, *s++);
			break;
		case 'b':
			sb_addc(o, '\b'), s++;
			break;
		case 'f':
			sb_addc(o, '\f'), s++;
			break;
		case 'n':
			sb_addc(o, '\n'), s++;
			break;
		case 'r':
			sb_addc(o, '\r'), s++;
			break;
		case 't':
			sb_addc(o, '\t'), s++;
			break;
		case 'u': {
			unsigned cp, lo;

			s = json_hex4(s + 1, &cp);
			if (!s)
				return NULL;
			if (cp >= 0xd800 && cp < 0xdc00 && s[0] == '\\' && s[1] == 'u') {
				const char *t = json_hex4(s + 2, &lo);

				if (t && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					s = t;
				}
			}
			if (!cp)
				return NULL; /* a NUL cannot be in an argv string */
			utf8_put(o, cp);
			break;
		}
		default:
			return NULL;
		}
	}
}

/* Skips one non-string JSON value (number, literal, array, object); NULL if malformed. */
static const char *json_skip(const char *s)
{
	int depth = 0;

	if (*s != '[' && *s != '{') {
		const char *t = s;

		while (*t && (isalnum((unsigned char)*t) || *t == '-' || *t == '+' || *t == '.'))
			t++;
		if (t == s)
			return NULL;
		if (!strncmp(s, "true", 4) || !strncmp(s, "false", 5) || !strncmp(s, "null", 4) || *s == '-' ||
		    isdigit((unsigned char)*s))
			return t;
		return NULL;
	}
	for (; *s; s++) {
		if (*s == '"') {
			struct sb tmp = { 0 };

			s = json_string(s, &tmp);
			free(tmp.p);
			if (!s)
				return NULL;
			s--;
		} else if (*s == '[' || *s == '{') {
			depth++;
		} else if (*s == ']' || *s == '}') {
			if (--depth == 0)
				return s + 1;
		}
	}
	return NULL;
}

/*
 * The exec form: 1 and out filled when s is a JSON array of strings; 0 when
 * it is not JSON (a shell command, as in Docker); -1 when it is a JSON array
 * with something else than strings in it (an error in Docker too).
 */
static int json_argv(struct dfp *p, const char *s, struct strv *out)
{
	bool nonstring = false;

	s = json_ws(s);
	if (*s != '[')
		return 0;
	s = json_ws(s + 1);
	if (*s == ']') {
		s = json_ws(s + 1);
		return *s ? 0 : 1;
	}
	for (;;) {
		s = json_ws(s);
		if (*s == '"') {
			struct sb o = { 0 };

			s = json_string(s, &o);
			if (!s || o.nomem || o.toolong) {
				free(o.p);
				if (o.nomem)
					p_nomem(p);
				goto notjson;
			}
			if (!strv_push_own(p, out, o.p ? o.p : xstrdup(p, "")))
				goto notjson;
		} else {
			s = json_skip(s);
			if (!s)
				goto notjson;
			nonstring = true;
		}
		s = json_ws(s);
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s == ']')
			break;
		goto notjson;
	}
	s = json_ws(s + 1);
	if (*s)
		goto notjson;
	if (nonstring) {
		strv_free(out);
		return -1;
	}
	return 1;
notjson:
	strv_free(out);
	return 0;
}

/* ------------------------------------------------------------------ */
/* paths                                                              */
/* ------------------------------------------------------------------ */

/* base + rel, absolute and clean ("." and ".." resolved, no double or trailing '/'). */
static char *path_resolve(struct dfp *p, const char *base, const char *rel)
{
	size_t cap = strlen(base) + strlen(rel) + 3;
	char *joined = malloc(cap), *out = malloc(cap);
	size_t n = 0;

	if (!joined || !out) {
		free(joined);
		free(out);
		p_nomem(p);
		return NULL;
	}
	if (rel[0] == '/')
		snprintf(joined, cap, "%s", rel);
	else
		snprintf(joined, cap, "%s/%s", base, rel);
	for (char *tok = joined; *tok;) {
		char *end = strchr(tok, '/');
		size_t len = end ? (size_t)(end - tok) : strlen(tok);

		if (len == 0 || (len == 1 && tok[0] == '.')) {
			/* nothing */
		} else if (len == 2 && tok[0] == '.' && tok[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			out[n++] = '/';
			memcpy(out + n, tok, len);
			n += len;
		}
		if (!end)
			break;
		tok = end + 1;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	free(joined);
	return out;
}

/* ------------------------------------------------------------------ */
/* images and runtimes                                                */
/* ------------------------------------------------------------------ */

struct rt_entry {
	const char *repo; /* a repository name, or a prefix when it ends in '*' */
	enum azds_runtime_kind kind;
	const char *name;
	const char *bins[4];
	const char *what;
};

static const struct rt_entry rt_table[] = {
	{ "node", AZDS_RT_NODE, "node", { "node" }, "Debian's nodejs (node)" },
	{ "python", AZDS_RT_PYTHON, "python3", { "python3" }, "the host's python3" },
	{ "golang", AZDS_RT_GO, "go", { "go" }, "the host's Go toolchain (go)" },
	{ "maven", AZDS_RT_JAVA, "java", { "java", "mvn" }, "the host's Java and Maven (java, mvn)" },
	{ "gradle", AZDS_RT_JAVA, "java", { "java", "gradle" }, "the host's Java and Gradle (java, gradle)" },
	{ "openjdk", AZDS_RT_JAVA, "java", { "java" }, "the host's Java (java)" },
	{ "eclipse-temurin", AZDS_RT_JAVA, "java", { "java" }, "the host's Java (java)" },
	{ "amazoncorretto", AZDS_RT_JAVA, "java", { "java" }, "the host's Java (java)" },
	{ "microsoft/dotnet*", AZDS_RT_DOTNET, "dotnet", { "dotnet" }, "the host's .NET (dotnet)" },
	{ "microsoft/aspnetcore*", AZDS_RT_DOTNET, "dotnet", { "dotnet" }, "the host's .NET (dotnet)" },
	{ "rust", AZDS_RT_RUST, "cargo", { "cargo" }, "the host's Rust toolchain (cargo)" },
	{ "gcc", AZDS_RT_HOST, "host", { "gcc", "make" }, "the host's C toolchain (gcc, make)" },
	{ "buildpack-deps", AZDS_RT_HOST, "host", { "sh" }, "the host's own tools" },
	{ "debian", AZDS_RT_HOST, "host", { "sh" }, "the host's own tools" },
	{ "ubuntu", AZDS_RT_HOST, "host", { "sh" }, "the host's own tools" },
	{ "alpine", AZDS_RT_HOST, "host", { "sh" }, "the host's own tools" },
	{ "busybox", AZDS_RT_HOST, "host", { "sh" }, "the host's own tools" },
	{ "scratch", AZDS_RT_NONE, "none", { NULL }, "nothing: a scratch image has no runtime" },
};

static const struct rt_entry rt_dotnet_mcr = {
	"dotnet/*", AZDS_RT_DOTNET, "dotnet", { "dotnet" }, "the host's .NET (dotnet)"
};

static bool rt_match(const char *pattern, const char *repo)
{
	size_t n = strlen(pattern);

	if (n && pattern[n - 1] == '*')
		return !strncmp(pattern, repo, n - 1);
	return !strcmp(pattern, repo);
}

int azds_image_runtime(const char *image, struct azds_image_runtime *rt)
{
	char buf[512], *repo, *slash, *colon, *at;
	const struct rt_entry *e = NULL;
	bool mcr = false;

	memset(rt, 0, sizeof(*rt));
	rt->kind = AZDS_RT_UNKNOWN;
	rt->name = "unknown";
	rt->what = "the host's tools as they are";
	if (!image || snprintf(buf, sizeof(buf), "%s", image) >= (int)sizeof(buf))
		return -ENOENT;
	for (char *c = buf; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	at = strchr(buf, '@');
	if (at)
		*at = '\0';
	repo = buf;
	slash = strchr(repo, '/');
	/* a registry host: the first part has a '.' or a ':' (a port), or is localhost */
	if (slash && (memchr(repo, '.', (size_t)(slash - repo)) || memchr(repo, ':', (size_t)(slash - repo)) ||
		      !strncmp(repo, "localhost/", 10))) {
		mcr = !strncmp(repo, "mcr.microsoft.com/", 18);
		if (strncmp(repo, "docker.io/", 10) && strncmp(repo, "index.docker.io/", 16) &&
		    strncmp(repo, "registry-1.docker.io/", 21) && !mcr)
			return -ENOENT;
		repo = slash + 1;
	}
	if (!strncmp(repo, "library/", 8))
		repo += 8;
	colon = strrchr(repo, ':');
	if (colon && !strchr(colon, '/'))
		*colon = '\0';
	if (mcr) {
		if (rt_match(rt_dotnet_mcr.repo, repo))
			e = &rt_dotnet_mcr;
	} else {
		for (size_t i = 0; i < sizeof(rt_table) / sizeof(rt_table[0]); i++)
			if (rt_match(rt_table[i].repo, repo)) {
				e = &rt_table[i];
				break;
			}
	}
	if (!e)
		return -ENOENT;
	rt->kind = e->kind;
	rt->name = e->name;
	memcpy(rt->bins, e->bins, sizeof(rt->bins));
	rt->what = e->what;
	return 0;
}

int azds_runtime_check(const struct azds_image_runtime *rt, const char *path, const char **missing)
{
	if (!path)
		path = getenv("PATH");
	if (!path)
		path = DEFAULT_PATH;
	for (size_t i = 0; i < 4 && rt->bins[i]; i++) {
		const char *dir = path;
		bool found = false;

		while (!found) {
			const char *end = strchr(dir, ':');
			size_t len = end ? (size_t)(end - dir) : strlen(dir);
			char full[4096];

			if (len &&
			    snprintf(full, sizeof(full), "%.*s/%s", (int)len, dir, rt->bins[i]) < (int)sizeof(full))
				found = access(full, X_OK) == 0;
			if (!end)
				break;
			dir = end + 1;
		}
		if (!found) {
			if (missing)
				*missing = rt->bins[i];
			return -ENOENT;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* stages                                                             */
/* ------------------------------------------------------------------ */

static void cmdspec_free(struct cmdspec *c)
{
	strv_free(&c->written);
	strv_free(&c->eff);
	memset(c, 0, sizeof(*c));
}

static bool cmdspec_copy(struct dfp *p, struct cmdspec *dst, const struct cmdspec *src)
{
	cmdspec_free(dst);
	dst->shell = src->shell;
	dst->line = src->line;
	return strv_copy(p, &dst->written, &src->written) && strv_copy(p, &dst->eff, &src->eff);
}

static void run_free(struct azds_df_run *r)
{
	for (size_t i = 0; i < r->argc; i++)
		free(r->argv[i]);
	free(r->argv);
	free(r->text);
	free(r->workdir);
	for (size_t i = 0; i < r->n_env; i++) {
		free(r->env[i].key);
		free(r->env[i].value);
	}
	free(r->env);
}

static void copy_free(struct azds_df_copy *c)
{
	for (size_t i = 0; i < c->n_src; i++)
		free(c->src[i]);
	free(c->src);
	free(c->dest);
	free(c->from);
}

static void stage_free(struct stage *st)
{
	free(st->name);
	free(st->image);
	free(st->from);
	kvl_free(&st->env);
	kvl_free(&st->args);
	free(st->workdir);
	free(st->ports);
	for (size_t i = 0; i < st->n_runs; i++)
		run_free(&st->runs[i]);
	free(st->runs);
	for (size_t i = 0; i < st->n_copies; i++)
		copy_free(&st->copies[i]);
	free(st->copies);
	free(st->copy_dest_dir);
	cmdspec_free(&st->cmd);
	cmdspec_free(&st->ep);
	strv_free(&st->shell);
	free(st->user);
	free(st->stop_signal);
}

static bool kv_array_copy(struct dfp *p, struct azds_df_kv **dst, size_t *n_dst, const struct azds_df_kv *src, size_t n)
{
	*dst = calloc(n ? n : 1, sizeof(**dst));
	*n_dst = 0;
	if (!*dst) {
		p_nomem(p);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		(*dst)[i].key = xstrdup(p, src[i].key);
		(*dst)[i].value = xstrdup(p, src[i].value);
		(*dst)[i].line = src[i].line;
		(*n_dst)++;
	}
	return !p->nomem;
}

static bool run_copy(struct dfp *p, struct azds_df_run *dst, const struct azds_df_run *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->argv = calloc(src->argc + 1, sizeof(char *));
	if (!dst->argv) {
		p_nomem(p);
		return false;
	}
	for (size_t i = 0; i < src->argc; i++) {
		dst->argv[i] = xstrdup(p, src->argv[i]);
		dst->argc++;
	}
	dst->shell_form = src->shell_form;
	dst->text = xstrdup(p, src->text);
	dst->workdir = xstrdup(p, src->workdir);
	dst->line = src->line;
	if (!fits_total(p, src->n_env * 16, src->line))
		return false;
	return kv_array_copy(p, &dst->env, &dst->n_env, src->env, src->n_env) && !p->nomem;
}

static bool copy_copy(struct dfp *p, struct azds_df_copy *dst, const struct azds_df_copy *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->src = calloc(src->n_src + 1, sizeof(char *));
	if (!dst->src) {
		p_nomem(p);
		return false;
	}
	for (size_t i = 0; i < src->n_src; i++) {
		dst->src[i] = xstrdup(p, src->src[i]);
		dst->n_src++;
	}
	dst->add = src->add;
	dst->dest = xstrdup(p, src->dest);
	dst->from = src->from ? xstrdup(p, src->from) : NULL;
	dst->satisfied = src->satisfied;
	dst->line = src->line;
	return !p->nomem;
}

/* A stage FROM an earlier one starts with its image's configuration and its build steps. */
static bool stage_inherit(struct dfp *p, struct stage *st, const struct stage *par)
{
	if (!kvl_copy(p, &st->env, &par->env))
		return false;
	free(st->workdir);
	st->workdir = xstrdup(p, par->workdir);
	st->workdir_set = par->workdir_set;
	if (par->n_ports) {
		st->ports = calloc(par->n_ports, sizeof(*st->ports));
		if (!st->ports) {
			p_nomem(p);
			return false;
		}
		memcpy(st->ports, par->ports, par->n_ports * sizeof(*st->ports));
		st->n_ports = st->cap_ports = par->n_ports;
	}
	for (size_t i = 0; i < par->n_runs; i++) {
		st->runs = xgrow(p, st->runs, &st->cap_runs, st->n_runs, sizeof(*st->runs));
		if (!st->runs || !run_copy(p, &st->runs[st->n_runs++], &par->runs[i]))
			return false;
	}
	for (size_t i = 0; i < par->n_copies; i++) {
		st->copies = xgrow(p, st->copies, &st->cap_copies, st->n_copies, sizeof(*st->copies));
		st->copy_dest_dir = xgrow(p, st->copy_dest_dir, &st->cap_copy_dest_dir, st->n_copies, sizeof(bool));
		if (!st->copies || !st->copy_dest_dir || !copy_copy(p, &st->copies[st->n_copies], &par->copies[i]))
			return false;
		st->copy_dest_dir[st->n_copies++] = par->copy_dest_dir[i];
	}
	if (!cmdspec_copy(p, &st->cmd, &par->cmd) || !cmdspec_copy(p, &st->ep, &par->ep) ||
	    !strv_copy(p, &st->shell, &par->shell))
		return false;
	st->user = par->user ? xstrdup(p, par->user) : NULL;
	st->stop_signal = par->stop_signal ? xstrdup(p, par->stop_signal) : NULL;
	return !p->nomem;
}

/* ------------------------------------------------------------------ */
/* instructions                                                       */
/* ------------------------------------------------------------------ */

struct instr {
	const char *name; /* upper case, for diagnostics */
	unsigned line;
	const char *rest;  /* after the keyword and any flags, trimmed */
	struct strv flags; /* "name=value" or "name", without the leading "--" */
};

/* The value of --name in flags: its text after '=', "" without one; NULL when absent. */
static const char *flag_value(const struct instr *in, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < in->flags.n; i++) {
		const char *f = in->flags.v[i];

		if (!strncmp(f, name, n) && (f[n] == '=' || f[n] == '\0'))
			return f[n] == '=' ? f + n + 1 : "";
	}
	return NULL;
}

/* Every flag of in is one of allowed[]; an error names the first that is not. */
static bool flags_allowed(struct dfp *p, const struct instr *in, const char *const *allowed)
{
	for (size_t i = 0; i < in->flags.n; i++) {
		const char *f = in->flags.v[i];
		size_t len = strcspn(f, "=");
		bool ok = false;

		for (const char *const *a = allowed; a && *a; a++)
			if (strlen(*a) == len && !strncmp(*a, f, len))
				ok = true;
		if (!ok) {
			err(p, in->line, in->name, "unknown flag --%.*s", (int)len, f);
			return false;
		}
	}
	return true;
}

/*
 * RUN <<EOF and COPY <<EOF: BuildKit's heredocs, a shell word of the form
 * <<[-]['"]NAME['"] (so "a<<b" and $((1<<2)) are not); the terminator word
 * goes to p.
 */
static bool has_heredoc(struct dfp *p, const char *s)
{
	for (const char *h = strstr(s, "<<"); h; h = strstr(h + 2, "<<")) {
		const char *t = h + 2, *w = h;
		bool tabs = false;
		size_t n = 0;

		while (w > s && isdigit((unsigned char)w[-1]))
			w--;
		if (w > s && !is_ws(w[-1]))
			continue;
		if (*t == '-') {
			tabs = true;
			t++;
		}
		if (*t == '"' || *t == '\'')
			t++;
		if (!isalpha((unsigned char)*t) && *t != '_')
			continue;
		while (isalnum((unsigned char)t[n]) || t[n] == '_')
			n++;
		if (t[n] == '"' || t[n] == '\'')
			n++;
		if (t[n] && !is_ws(t[n]))
			continue;
		if (t[n - 1] == '"' || t[n - 1] == '\'')
			n--;
		if (n >= sizeof(p->heredoc_end))
			n = sizeof(p->heredoc_end) - 1;
		memcpy(p->heredoc_end, t, n);
		p->heredoc_end[n] = '\0';
		p->heredoc_tabs = tabs;
		return true;
	}
	return false;
}

static bool refuse_heredoc(struct dfp *p, const struct instr *in)
{
	if (!has_heredoc(p, in->rest))
		return false;
	err(p, in->line, in->name,
	    "heredocs (<<EOF) are not supported: put the script in a file of the build context and %s it",
	    !strcmp(in->name, "RUN") ? "RUN" : "COPY");
	return true;
}

static struct stage *need_stage(struct dfp *p, const struct instr *in)
{
	if (p->n_stages)
		return &p->stages[p->n_stages - 1];
	err(p, in->line, in->name,
	    "comes before the first FROM: a Dockerfile starts with FROM (only ARG may precede it)");
	return NULL;
}

static bool valid_stage_name(const char *s)
{
	if (!isalpha((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

static void i_from(struct dfp *p, struct instr *in)
{
	static const char *const allowed[] = { "platform", NULL };
	struct strv w = { 0 };
	struct stage *st;
	char *image = NULL, *name = NULL;
	const char *platform;

	if (!flags_allowed(p, in, allowed))
		return;
	if (!split_ws(p, in->rest, &w))
		goto out;
	if (!(w.n == 1 || (w.n == 3 && !strcasecmp(w.v[1], "as")))) {
		err(p, in->line, in->name, "takes an image and an optional AS name: FROM node:lts [AS build]");
		goto out;
	}
	if (p->n_stages == AZDS_DF_MAX_STAGES) {
		err(p, in->line, in->name, "more than %u stages: the limit", AZDS_DF_MAX_STAGES);
		goto out;
	}
	image = lex_str(p, NULL, w.v[0], in->line, in->name);
	if (!image)
		goto out;
	if (!image[0]) {
		err(p, in->line, in->name, "the image name is empty after substitution (\"%s\")", w.v[0]);
		goto out;
	}
	if (w.n == 3) {
		name = xstrdup(p, w.v[2]);
		if (!name)
			goto out;
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (!valid_stage_name(name)) {
			err(p, in->line, in->name, "stage name \"%s\": a letter, then letters, digits, '-', '_' or '.'",
			    w.v[2]);
			goto out;
		}
		for (size_t i = 0; i < p->n_stages; i++)
			if (p->stages[i].name && !strcmp(p->stages[i].name, name)) {
				err(p, in->line, in->name, "stage name \"%s\" is used twice (first at line %u)", name,
				    p->stages[i].line);
				goto out;
			}
	}
	p->stages = xgrow(p, p->stages, &p->cap_stages, p->n_stages, sizeof(*p->stages));
	if (!p->stages) {
		p->n_stages = 0;
		goto out;
	}
	st = &p->stages[p->n_stages++];
	memset(st, 0, sizeof(*st));
	st->parent = -1;
	st->line = in->line;
	st->name = name;
	name = NULL;
	st->from = image;
	image = NULL;
	for (size_t i = 0; i + 1 < p->n_stages; i++) {
		char low[256];

		snprintf(low, sizeof(low), "%s", st->from);
		for (char *c = low; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (p->stages[i].name && !strcmp(p->stages[i].name, low))
			st->parent = (int)i;
	}
	if (st->parent >= 0) {
		st->image = xstrdup(p, p->stages[st->parent].image);
		stage_inherit(p, st, &p->stages[st->parent]);
	} else {
		st->image = xstrdup(p, st->from);
		st->workdir = xstrdup(p, "/");
		strv_push(p, &st->shell, "/bin/sh");
		strv_push(p, &st->shell, "-c");
	}
	platform = flag_value(in, "platform");
	if (platform)
		note(p, cur_stage(p), ONCE_PLATFORM, in->line, in->name,
		     "--platform=%s is not used: host mode runs the host's own programs", platform);
out:
	free(image);
	free(name);
	strv_free(&w);
}

/* Is name one of azds.yaml's build args? Its value, or NULL. */
static const struct azds_yaml_kv *build_arg(const struct dfp *p, const char *name)
{
	if (!p->opts)
		return NULL;
	for (size_t i = 0; i < p->opts->n_build_args; i++)
		if (p->opts->build_args[i].key && !strcmp(p->opts->build_args[i].key, name))
			return &p->opts->build_args[i];
	return NULL;
}

static void i_arg(struct dfp *p, struct instr *in)
{
	struct stage *st = p->n_stages ? &p->stages[p->n_stages - 1] : NULL;
	struct kvl *target = st ? &st->args : &p->global_args;
	struct strv w = { 0 };

	if (!flags_allowed(p, in, NULL))
		return;
	if (!split_words(p, in->rest, &w))
		goto out;
	if (!w.n) {
		err(p, in->line, in->name, "needs a name: ARG NAME[=default]");
		goto out;
	}
	for (size_t i = 0; i < w.n; i++) {
		char *eq = strchr(w.v[i], '=');
		const struct azds_yaml_kv *ba;
		char *def = NULL;
		const char *value = NULL;

		if (eq)
			*eq = '\0';
		if (!w.v[i][0] || strchr(w.v[i], '$') || strchr(w.v[i], '"') || strchr(w.v[i], '\'')) {
			err(p, in->line, in->name, "\"%s\" is not a variable name", w.v[i]);
			continue;
		}
		if (eq) {
			def = lex_str(p, st, eq + 1, in->line, in->name);
			if (!def)
				continue;
		}
		if (!strv_has(&p->declared, w.v[i]))
			strv_push(p, &p->declared, w.v[i]);
		ba = build_arg(p, w.v[i]);
		if (ba)
			value = ba->value;
		else if (def)
			value = def;
		else if (st) { /* ARG NAME in a stage takes the global ARG's value */
			const struct azds_df_kv *g = kvl_find(&p->global_args, w.v[i]);

			value = g ? g->value : NULL;
		}
		if (!kvl_set(p, target, w.v[i], value, in->line) && !p->nomem)
			err(p, in->line, in->name, "more than %u ARG names in one stage: the limit", AZDS_DF_MAX_VARS);
		free(def);
	}
out:
	strv_free(&w);
}

/* ENV and LABEL: "k=v ..." or the old "k v"; values lexed against the state before the instruction. */
static bool parse_kv(struct dfp *p, struct instr *in, const struct stage *st, struct kvl *out)
{
	struct strv w = { 0 };
	bool ok = false;

	if (!split_words(p, in->rest, &w))
		goto out;
	if (!w.n) {
		err(p, in->line, in->name, "needs a name and a value: %s NAME=value", in->name);
		goto out;
	}
	if (!strchr(w.v[0], '=')) {
		const char *s = in->rest, *v;
		char *k, *key, *val;

		while (*s && !is_ws(*s))
			s++;
		v = s;
		while (is_ws(*v))
			v++;
		if (!*v) {
			err(p, in->line, in->name, "\"%s\" has no value: %s NAME=value (or %s NAME value)", in->rest,
			    in->name, in->name);
			goto out;
		}
		k = xstrndup(p, in->rest, (size_t)(s - in->rest));
		if (!k)
			goto out;
		key = lex_str(p, st, k, in->line, in->name);
		val = lex_str(p, st, v, in->line, in->name);
		free(k);
		if (key && val && key[0])
			ok = kvl_set(p, out, key, val, in->line);
		else if (key && !key[0])
			err(p, in->line, in->name, "an empty name");
		free(key);
		free(val);
		goto out;
	}
	ok = true;
	for (size_t i = 0; i < w.n; i++) {
		char *eq = strchr(w.v[i], '='), *key, *val;

		if (!eq) {
			err(p, in->line, in->name, "\"%s\" has no '=': write NAME=value", w.v[i]);
			ok = false;
			continue;
		}
		*eq = '\0';
		key = lex_str(p, st, w.v[i], in->line, in->name);
		val = lex_str(p, st, eq + 1, in->line, in->name);
		if (key && !key[0]) {
			err(p, in->line, in->name, "an empty name before '='");
			ok = false;
		} else if (key && val && !kvl_set(p, out, key, val, in->line)) {
			ok = false;
		}
		if (!key || !val)
			ok = false;
		free(key);
		free(val);
	}
out:
	strv_free(&w);
	return ok;
}

static void i_env(struct dfp *p, struct instr *in)
{
	struct stage *st = need_stage(p, in);
	struct kvl vals = { 0 };

	if (!st || !flags_allowed(p, in, NULL))
		return;
	/* all of one ENV's values see the environment before it: ENV a=1 b=$a takes the old a */
	if (parse_kv(p, in, st, &vals))
		for (size_t i = 0; i < vals.n; i++)
			if (!kvl_set(p, &st->env, vals.v[i].key, vals.v[i].value, in->line) && !p->nomem) {
				err(p, in->line, in->name, "more than %u ENV names in one stage: the limit",
				    AZDS_DF_MAX_VARS);
				break;
			}
	kvl_free(&vals);
}

static void i_label(struct dfp *p, struct instr *in)
{
	struct stage *st = need_stage(p, in);
	struct kvl vals = { 0 };

	if (!st || !flags_allowed(p, in, NULL))
		return;
	if (parse_kv(p, in, st, &vals))
		note(p, cur_stage(p), ONCE_LABEL, in->line, in->name,
		     "host mode does not honour LABEL: labels are image metadata, and host mode builds no image");
	kvl_free(&vals);
}

static void i_maintainer(struct dfp *p, struct instr *in)
{
	if (!need_stage(p, in) || !flags_allowed(p, in, NULL))
		return;
	note(p, cur_stage(p), ONCE_MAINTAINER, in->line, in->name,
	     "host mode does not honour MAINTAINER: it is image metadata (and deprecated: use a LABEL)");
}

static void i_workdir(struct dfp *p, struct instr *in)
{
	struct stage *st = need_stage(p, in);
	char *v, *wd;

	if (!st || !flags_allowed(p, in, NULL))
		return;
	v = lex_str(p, st, in->rest, in->line, in->name);
	if (!v)
		return;
	if (!v[0]) {
		err(p, in->line, in->name, "needs a path");
		free(v);
		return;
	}
	wd = path_resolve(p, st->workdir ? st->workdir : "/", v);
	free(v);
	if (!wd)
		return;
	free(st->workdir);
	st->workdir = wd;
	st->workdir_set = true;
}

static bool parse_port(const char *s, unsigned *lo, unsigned *hi, const char **proto)
{
	char *end;
	unsigned long a, b;

	if (!isdigit((unsigned char)*s))
		return false;
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return false;
		b = strtoul(end + 1, &end, 10);
	}
	if (a < 1 || a > 65535 || b < a || b > 65535)
		return false;
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	*proto = "tcp";
	if (*end == '/') {
		if (!strcasecmp(end + 1, "tcp") || !strcasecmp(end + 1, "udp") || !strcasecmp(end + 1, "sctp"))
			*proto = end + 1;
		else
			return false;
	} else if (*end) {
		return false;
	}
	return true;
}

static void i_expose(struct dfp *p, struct instr *in)
{
	struct stage *st = need_stage(p, in);
	struct strv w = { 0 };

	if (!st || !flags_allowed(p, in, NULL))
		return;
	if (!split_ws(p, in->rest, &w))
		goto out;
	if (!w.n)
		err(p, in->line, in->name, "needs a port: EXPOSE 80 (or 80/tcp)");
	for (size_t i = 0; i < w.n; i++) {
		char *v = lex_str(p, st, w.v[i], in->line, in->name);
		unsigned lo, hi;
		const char *proto;
		struct azds_df_port *pt;

		if (!v)
			continue;
		if (!parse_port(v, &lo, &hi, &proto)) {
			err(p, in->line, in->name,
			    "\"%s\" is not a port: PORT, PORT/tcp, PORT/udp or FIRST-LAST, 1 to 65535", v);
			free(v);
			continue;
		}
		st->ports = xgrow(p, st->ports, &st->cap_ports, st->n_ports, sizeof(*st->ports));
		if (!st->ports) {
			st->n_ports = 0;
			free(v);
			break;
		}
		pt = &st->ports[st->n_ports++];
		pt->port = lo;
		pt->port_end = hi;
		pt->udp = strcasecmp(proto, "tcp") != 0;
		pt->line = in->line;
		if (pt->udp)
			warn(p, cur_stage(p), in->line, in->name,
			     "%s: host mode routes TCP only; this port is not exposed", v);
		free(v);
	}
out:
	strv_free(&w);
}

/* Exec form or shell form into a cmdspec (eff: through the stage's SHELL). false on error. */
static bool parse_cmdline(struct dfp *p, struct instr *in, const struct stage *st, struct cmdspec *c)
{
	struct strv argv = { 0 };
	int j = json_argv(p, in->rest, &argv);

	cmdspec_free(c);
	c->line = in->line;
	if (!in->rest[0]) {
		err(p, in->line, in->name, "needs a command");
		return false;
	}
	if (j < 0) {
		err(p, in->line, in->name, "a JSON array of something else than strings: every element needs quotes");
		return false;
	}
	if (j > 0) {
		c->written = argv;
		return strv_copy(p, &c->eff, &argv);
	}
	if (in->rest[0] == '[' && in->rest[strlen(in->rest) - 1] == ']')
		warn(p, cur_stage(p), in->line, in->name,
		     "this looks like the exec form but is not valid JSON (strings need double quotes): it runs as a "
		     "shell command, as Docker does");
	c->shell = true;
	if (!strv_push(p, &c->written, in->rest) || !strv_copy(p, &c->eff, &st->shell) ||
	    !strv_push(p, &c->eff, in->rest))
		return false;
	return true;
}

static bool run_env(struct dfp *p, const struct stage *st, struct azds_df_run *r)
{
	size_t n = 0, bytes = 0;

	r->env = calloc(st->env.n + st->args.n + 1, sizeof(*r->env));
	if (!r->env) {
		p_nomem(p);
		return false;
	}
	for (size_t i = 0; i < st->env.n; i++) {
		r->env[n].key = xstrdup(p, st->env.v[i].key);
		r->env[n].value = xstrdup(p, st->env.v[i].value);
		r->env[n++].line = st->env.v[i].line;
		bytes += strlen(st->env.v[i].key) + strlen(st->env.v[i].value ? st->env.v[i].value : "") + 16;
	}
	for (size_t i = 0; i < st->args.n; i++) {
		if (!st->args.v[i].value || kvl_find(&st->env, st->args.v[i].key))
			continue;
		r->env[n].key = xstrdup(p, st->args.v[i].key);
		r->env[n].value = xstrdup(p, st->args.v[i].value);
		r->env[n++].line = st->args.v[i].line;
		bytes += strlen(st->args.v[i].key) + strlen(st->args.v[i].value) + 16;
	}
	r->n_env = n;
	return !p->nomem && fits_total(p, bytes, r->line);
}

static void i_run(struct dfp *p, struct instr *in)
{
	static const char *const allowed[] = { "mount", "network", "security", NULL };
	struct stage *st = need_stage(p, in);
	struct cmdspec c = { 0 };
	struct azds_df_run *r;

	if (!st || !flags_allowed(p, in, allowed))
		return;
	for (size_t i = 0; i < in->flags.n; i++)
		warn(p, cur_stage(p), in->line, in->name,
		     "--%s is not honoured: host mode runs the step in the workspace, with the pod's network and "
		     "no extra mounts",
		     in->flags.v[i]);
	if (refuse_heredoc(p, in))
		return;
	if (!parse_cmdline(p, in, st, &c))
		goto out;
	st->runs = xgrow(p, st->runs, &st->cap_runs, st->n_runs, sizeof(*st->runs));
	if (!st->runs) {
		st->n_runs = 0;
		goto out;
	}
	r = &st->runs[st->n_runs++];
	memset(r, 0, sizeof(*r));
	r->line = in->line;
	r->shell_form = c.shell;
	r->argv = c.eff.v;
	r->argc = c.eff.n;
	c.eff.v = NULL;
	c.eff.n = 0;
	if (c.shell) {
		r->text = xstrdup(p, in->rest);
	} else {
		struct sb t = { 0 };

		for (size_t i = 0; i < c.written.n; i++) {
			if (i)
				sb_addc(&t, ' ');
			sb_addn(&t, c.written.v[i], strlen(c.written.v[i]));
		}
		r->text = t.p ? t.p : xstrdup(p, "");
		if (t.nomem)
			p_nomem(p);
	}
	r->workdir = xstrdup(p, st->workdir);
	run_env(p, st, r);
out:
	cmdspec_free(&c);
}

static void i_cmd(struct dfp *p, struct instr *in)
{
	struct stage *st = need_stage(p, in);
	struct cmdspec c = { 0 };

	if (!st || !flags_allowed(p, in, NULL))
		return;
	if (!parse_cmdline(p, in, st, &c)) {
		cmdspec_free(&c);
		return;
	}
	if (st->cmd_set_line)
		warn(p, cur_stage(p), in->line, in->name,
		     "a second CMD in this stage (the first at line %u): only the "
		     "last one takes effect",
		     st->cmd_set_line);
	cmdspec_free(&st->cmd);
	st->cmd = c;
	st->cmd_set_line = in->line;
}

static void i_entrypoint(struct dfp *p, struct instr *in)
{
	struct stage *st = need_stage(p, in);
	struct cmdspec c = { 0 };

	if (!st || !flags_allowed(p, in, NULL))
		return;
	if (!parse_cmdline(p, in, st, &c)) {
		cmdspec_free(&c);
		return;
	}
	if (st->ep.line && st->ep.line >= st->line)
		warn(p, cur_stage(p), in->line, in->name,
		     "a second ENTRYPOINT in this stage (the first at line %u): only the last one takes effect",
		     st->ep.line);
	cmdspec_free(&st->ep);
	st->ep = c;
	/* Docker: an ENTRYPOINT resets a CMD inherited from the base, not one of this stage */
	if (!st->cmd_set_line)
		cmdspec_free(&st->cmd);
}

static void i_shell(struct dfp *p, struct instr *in)
{
	struct stage *st = need_stage(p, in);
	struct strv argv = { 0 };
	int j;

	if (!st || !flags_allowed(p, in, NULL))
		return;
	j = json_argv(p, in->rest, &argv);
	if (j <= 0 || !argv.n) {
		err(p, in->line, in->name, "takes the exec form, a JSON array: SHELL [\"/bin/bash\", \"-c\"]");
		strv_free(&argv);
		return;
	}
	strv_free(&st->shell);
	st->shell = argv;
}

static void i_copy(struct dfp *p, struct instr *in)
{
	static const char *const copy_flags[] = { "from", "chown", "chmod", "link", "parents", "exclude", NULL };
	static const char *const add_flags[] = {
		"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude", NULL
	};
	bool add = !strcmp(in->name, "ADD");
	struct stage *st = need_stage(p, in);
	struct strv raw = { 0 };
	struct azds_df_copy *c;
	const char *from;
	bool dest_dir = false;
	int j;

	if (!st || !flags_allowed(p, in, add ? add_flags : copy_flags))
		return;
	if (refuse_heredoc(p, in))
		return;
	for (size_t i = 0; i < in->flags.n; i++)
		if (strncmp(in->flags.v[i], "from", 4))
			note(p, cur_stage(p), ONCE_NONE, in->line, in->name,
			     "--%s is not honoured: the workspace holds the files as the sync writes them",
			     in->flags.v[i]);
	j = json_argv(p, in->rest, &raw);
	if (j < 0) {
		err(p, in->line, in->name, "a JSON array of something else than strings: every element needs quotes");
		return;
	}
	if (j == 0 && !split_ws(p, in->rest, &raw))
		goto out;
	if (raw.n < 2) {
		err(p, in->line, in->name, "needs a source and a destination: %s SRC... DEST", in->name);
		goto out;
	}
	st->copies = xgrow(p, st->copies, &st->cap_copies, st->n_copies, sizeof(*st->copies));
	st->copy_dest_dir = xgrow(p, st->copy_dest_dir, &st->cap_copy_dest_dir, st->n_copies, sizeof(bool));
	if (!st->copies || !st->copy_dest_dir) {
		st->n_copies = 0;
		goto out;
	}
	c = &st->copies[st->n_copies];
	memset(c, 0, sizeof(*c));
	c->add = add;
	c->line = in->line;
	c->src = calloc(raw.n, sizeof(char *));
	if (!c->src) {
		p_nomem(p);
		goto out;
	}
	for (size_t i = 0; i + 1 < raw.n; i++) {
		char *v = lex_str(p, st, raw.v[i], in->line, in->name);

		if (!v) {
			copy_free(c);
			goto out;
		}
		c->src[c->n_src++] = v;
	}
	{
		char *d = lex_str(p, st, raw.v[raw.n - 1], in->line, in->name);
		size_t dl;

		if (!d) {
			copy_free(c);
			goto out;
		}
		dl = strlen(d);
		dest_dir = raw.n > 2 || (dl && d[dl - 1] == '/') || !strcmp(d, ".") || !strcmp(d, "./") || !dl;
		c->dest = path_resolve(p, st->workdir ? st->workdir : "/", d);
		free(d);
		if (!c->dest) {
			copy_free(c);
			goto out;
		}
	}
	from = flag_value(in, "from");
	if (from)
		c->from = xstrdup(p, from);
	st->copy_dest_dir[st->n_copies] = dest_dir;
	st->n_copies++;
out:
	strv_free(&raw);
}

static void i_user(struct dfp *p, struct instr *in)
{
	struct stage *st = need_stage(p, in);
	char *v;

	if (!st || !flags_allowed(p, in, NULL))
		return;
	v = lex_str(p, st, in->rest, in->line, in->name);
	if (!v)
		return;
	if (!v[0]) {
		err(p, in->line, in->name, "needs a user name or uid");
		free(v);
		return;
	}
	free(st->user);
	st->user = v;
	note(p, cur_stage(p), ONCE_USER, in->line, in->name,
	     "host mode does not honour USER %s: every pod runs as an unprivileged uid of its own", v);
}

static void i_volume(struct dfp *p, struct instr *in)
{
	struct stage *st = need_stage(p, in);
	struct strv w = { 0 };
	int j;

	if (!st || !flags_allowed(p, in, NULL))
		return;
	j = json_argv(p, in->rest, &w);
	if (j < 0) {
		err(p, in->line, in->name, "a JSON array of something else than strings");
		return;
	}
	if (j == 0 && !split_ws(p, in->rest, &w))
		goto out;
	if (!w.n) {
		err(p, in->line, in->name, "needs a path");
		goto out;
	}
	for (size_t i = 0; i < w.n; i++)
		free(lex_str(p, st, w.v[i], in->line, in->name));
	note(p, cur_stage(p), ONCE_VOLUME, in->line, in->name,
	     "host mode does not honour VOLUME: a pod sees the host's root read-only, and writes to its workspace "
	     "and /tmp");
out:
	strv_free(&w);
}

static void i_healthcheck(struct dfp *p, struct instr *in)
{
	static const char *const allowed[] = {
		"interval", "timeout", "start-period", "start-interval", "retries", NULL
	};
	struct stage *st = need_stage(p, in);

	if (!st || !flags_allowed(p, in, allowed))
		return;
	if (strcasecmp(in->rest, "none") && strncasecmp(in->rest, "cmd", 3)) {
		err(p, in->line, in->name, "takes NONE or [options] CMD command");
		return;
	}
	note(p, cur_stage(p), ONCE_HEALTHCHECK, in->line, in->name,
	     "host mode does not honour HEALTHCHECK: nothing probes the service; azds up reports it running once "
	     "it has started");
}

static bool valid_signal(const char *s)
{
	static const char *const names[] = { "HUP",  "INT",    "QUIT", "ILL",	"TRAP", "ABRT", "BUS",	"FPE",
					     "KILL", "USR1",   "SEGV", "USR2",	"PIPE", "ALRM", "TERM", "STKFLT",
					     "CHLD", "CONT",   "STOP", "TSTP",	"TTIN", "TTOU", "URG",	"XCPU",
					     "XFSZ", "VTALRM", "PROF", "WINCH", "IO",	"PWR",	"SYS",	NULL };
	char *end;
	unsigned long n;

	if (isdigit((unsigned char)*s)) {
		n = strtoul(s, &end, 10);
		return !*end && n >= 1 && n <= 64;
	}
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	if (!strncasecmp(s, "RTMIN", 5) || !strncasecmp(s, "RTMAX", 5))
		return true;
	for (size_t i = 0; names[i]; i++)
		if (!strcasecmp(s, names[i]))
			return true;
	return false;
}

static void i_stopsignal(struct dfp *p, struct instr *in)
{
	struct stage *st = need_stage(p, in);
	char *v;

	if (!st || !flags_allowed(p, in, NULL))
		return;
	v = lex_str(p, st, in->rest, in->line, in->name);
	if (!v)
		return;
	if (!valid_signal(v)) {
		err(p, in->line, in->name, "\"%s\" is not a signal: a name (SIGTERM) or a number (15)", v);
		free(v);
		return;
	}
	free(st->stop_signal);
	st->stop_signal = v;
	note(p, cur_stage(p), ONCE_STOPSIGNAL, in->line, in->name,
	     "host mode does not honour STOPSIGNAL %s: azds stops a service with SIGTERM, then SIGKILL", v);
}

static bool is_instruction(const char *w);

static void i_onbuild(struct dfp *p, struct instr *in)
{
	char word[32];
	size_t n = strcspn(in->rest, " \t");

	if (!need_stage(p, in) || !flags_allowed(p, in, NULL))
		return;
	snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1), in->rest);
	if (!word[0] || !is_instruction(word)) {
		err(p, in->line, in->name, "\"%s\" is not an instruction ONBUILD can hold", word);
		return;
	}
	if (!strcasecmp(word, "ONBUILD") || !strcasecmp(word, "FROM") || !strcasecmp(word, "MAINTAINER")) {
		err(p, in->line, in->name, "ONBUILD %s is not allowed", word);
		return;
	}
	note(p, cur_stage(p), ONCE_ONBUILD, in->line, in->name,
	     "host mode does not honour ONBUILD: its instruction runs when another image builds FROM this one, and "
	     "host mode builds no image");
}

struct handler {
	const char *name;
	void (*fn)(struct dfp *p, struct instr *in);
};

/* Every instruction takes --flags syntactically, as in BuildKit; each handler says which it accepts. */
static const struct handler handlers[] = {
	{ "FROM", i_from },
	{ "ARG", i_arg },
	{ "ENV", i_env },
	{ "LABEL", i_label },
	{ "MAINTAINER", i_maintainer },
	{ "WORKDIR", i_workdir },
	{ "EXPOSE", i_expose },
	{ "RUN", i_run },
	{ "CMD", i_cmd },
	{ "ENTRYPOINT", i_entrypoint },
	{ "SHELL", i_shell },
	{ "COPY", i_copy },
	{ "ADD", i_copy },
	{ "USER", i_user },
	{ "VOLUME", i_volume },
	{ "HEALTHCHECK", i_healthcheck },
	{ "STOPSIGNAL", i_stopsignal },
	{ "ONBUILD", i_onbuild },
};

static bool is_instruction(const char *w)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (!strcasecmp(handlers[i].name, w))
			return true;
	return false;
}

/* Leading --flags (a flag's value may be quoted); in->rest moves past them. */
static bool take_flags(struct dfp *p, struct instr *in)
{
	const char *s = in->rest;

	while (s[0] == '-' && s[1] == '-' && s[2] && !is_ws(s[2])) {
		const char *start = s + 2;
		char quote = 0;
		struct sb f = { 0 };

		for (s = start; *s && (quote || !is_ws(*s)); s++) {
			if (quote && *s == quote) {
				quote = 0;
				continue;
			}
			if (!quote && (*s == '"' || *s == '\'')) {
				quote = *s;
				continue;
			}
			sb_addc(&f, *s);
		}
		if (f.nomem) {
			free(f.p);
			p_nomem(p);
			return false;
		}
		if (!strv_push_own(p, &in->flags, f.p ? f.p : xstrdup(p, "")))
			return false;
		while (is_ws(*s))
			s++;
	}
	in->rest = s;
	return true;
}

static void dispatch(struct dfp *p, char *line, unsigned lineno)
{
	char *kw = line, *rest, *end;
	struct instr in = { .line = lineno };
	const struct handler *h = NULL;
	char name[16];

	while (is_ws(*kw))
		kw++;
	rest = kw;
	while (*rest && !is_ws(*rest))
		rest++;
	if (*rest)
		*rest++ = '\0';
	while (is_ws(*rest))
		rest++;
	end = rest + strlen(rest);
	while (end > rest && is_ws(end[-1]))
		*--end = '\0';
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (!strcasecmp(handlers[i].name, kw))
			h = &handlers[i];
	if (!h) {
		err(p, lineno, NULL, "unknown instruction %.40s%s", kw,
		    strchr(kw, '=') || islower((unsigned char)kw[0]) ? " (a line continued without a trailing \\?)"
								     : "");
		return;
	}
	if (++p->instructions > AZDS_DF_MAX_INSTRUCTIONS) {
		if (p->instructions == AZDS_DF_MAX_INSTRUCTIONS + 1)
			err(p, lineno, NULL, "more than %u instructions: the limit", AZDS_DF_MAX_INSTRUCTIONS);
		return;
	}
	snprintf(name, sizeof(name), "%s", h->name);
	in.name = name;
	in.rest = rest;
	if (take_flags(p, &in))
		h->fn(p, &in);
	strv_free(&in.flags);
}

/* ------------------------------------------------------------------ */
/* lines: directives, continuations, comments                         */
/* ------------------------------------------------------------------ */

/* "# name=value" at the top: 1 and name/value (in buf), 0 when not one. */
static int directive(const char *line, char *name, size_t nsz, char *value, size_t vsz)
{
	const char *s = line, *n0, *v0, *v1;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s++ != '#')
		return 0;
	while (*s == ' ' || *s == '\t')
		s++;
	n0 = s;
	while (isalnum((unsigned char)*s) || *s == '_')
		s++;
	if (s == n0)
		return 0;
	snprintf(name, nsz, "%.*s", (int)(s - n0), n0);
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s++ != '=')
		return 0;
	while (*s == ' ' || *s == '\t')
		s++;
	v0 = s;
	v1 = s + strlen(s);
	while (v1 > v0 && (v1[-1] == ' ' || v1[-1] == '\t'))
		v1--;
	snprintf(value, vsz, "%.*s", (int)(v1 - v0), v0);
	return 1;
}

static bool blank(const char *s)
{
	while (is_ws(*s))
		s++;
	return !*s;
}

static bool comment_line(const char *s)
{
	while (is_ws(*s))
		s++;
	return *s == '#';
}

/* Strips a trailing escape char (and the blanks after it): true when the instruction goes on. */
static bool continues(char *s, size_t *len, char esc)
{
	size_t n = *len;

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n && s[n - 1] == esc) {
		*len = n - 1;
		s[*len] = '\0';
		return true;
	}
	return false;
}

static void parse_lines(struct dfp *p, char *buf, size_t len)
{
	struct sb instr = { .max = AZDS_DF_MAX_INSTR };
	unsigned lineno = 0, start = 0;
	bool in_instr = false, top = true, seen_escape = false, seen_syntax = false;
	char *s = buf, *bufend = buf + len;

	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		s += 3;
	while (s < bufend) {
		char *nl = memchr(s, '\n', (size_t)(bufend - s));
		char *e = nl ? nl : bufend;
		size_t n;

		lineno++;
		if (e > s && e[-1] == '\r')
			e--;
		n = (size_t)(e - s);
		if (n > AZDS_DF_MAX_LINE) {
			err(p, lineno, NULL, "a line of %zu bytes: the limit is %u", n, AZDS_DF_MAX_LINE);
			free(instr.p);
			return;
		}
		*e = '\0';
		if (memchr(s, '\0', n)) {
			err(p, lineno, NULL, "a NUL byte: a Dockerfile is text");
			free(instr.p);
			return;
		}
		if (p->heredoc_end[0]) { /* the body of a refused heredoc: not instructions */
			const char *t = s;

			while (p->heredoc_tabs && *t == '\t')
				t++;
			if (!strcmp(t, p->heredoc_end))
				p->heredoc_end[0] = '\0';
			s = nl ? nl + 1 : bufend;
			continue;
		}
		if (top) {
			char name[32], value[64];

			if (directive(s, name, sizeof(name), value, sizeof(value))) {
				if (!strcasecmp(name, "escape")) {
					if (seen_escape)
						err(p, lineno, "escape", "a second escape directive");
					else if (!strcmp(value, "\\") || !strcmp(value, "`"))
						p->escape = value[0];
					else
						err(p, lineno, "escape", "the escape character is \\ or `, not \"%s\"",
						    value);
					seen_escape = true;
				} else if (!strcasecmp(name, "syntax")) {
					if (!seen_syntax)
						note(p, -1, ONCE_NONE, lineno, "syntax",
						     "the syntax directive (%s) is not used: azds reads the Dockerfile "
						     "itself, with the syntax of docker/dockerfile:1 minus heredocs",
						     value);
					seen_syntax = true;
				}
				/* other names (check=...) are comments to us */
				s = nl ? nl + 1 : bufend;
				continue;
			}
			top = false;
		}
		if (in_instr) {
			if (comment_line(s) || blank(s)) {
				/* Docker drops comment and empty lines inside a continued instruction */
			} else {
				bool more = continues(s, &n, p->escape);

				sb_addn(&instr, s, n);
				if (!more)
					in_instr = false;
			}
		} else if (!blank(s) && !comment_line(s)) {
			bool more;

			while (is_ws(*s))
				s++, n--;
			more = continues(s, &n, p->escape);
			free(instr.p);
			memset(&instr, 0, sizeof(instr));
			instr.max = AZDS_DF_MAX_INSTR;
			sb_addn(&instr, s, n);
			if (!instr.p)
				sb_addn(&instr, "", 0);
			start = lineno;
			in_instr = more;
		} else {
			s = nl ? nl + 1 : bufend;
			continue;
		}
		if (instr.toolong) {
			err(p, start, NULL, "an instruction longer than %u bytes (its lines joined): the limit",
			    AZDS_DF_MAX_INSTR);
			free(instr.p);
			return;
		}
		if (instr.nomem) {
			p_nomem(p);
			free(instr.p);
			return;
		}
		if (instr.n > AZDS_DF_MAX_INSTR) {
			err(p, start, NULL, "an instruction longer than %u bytes (its lines joined): the limit",
			    AZDS_DF_MAX_INSTR);
			free(instr.p);
			return;
		}
		if (!in_instr && instr.p) {
			dispatch(p, instr.p, start);
			free(instr.p);
			memset(&instr, 0, sizeof(instr));
			instr.max = AZDS_DF_MAX_INSTR;
			if (p->nomem)
				return;
		}
		s = nl ? nl + 1 : bufend;
	}
	if (in_instr && instr.p) /* a continuation at the end of the file ends the instruction */
		dispatch(p, instr.p, start);
	free(instr.p);
}

/* ------------------------------------------------------------------ */
/* the end: the last stage into struct azds_dockerfile                */
/* ------------------------------------------------------------------ */

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8) || !strncmp(s, "git@", 4) ||
	       !strncmp(s, "git://", 6);
}

static bool is_archive(const char *s)
{
	static const char *const ext[] = { ".tar",    ".tar.gz", ".tgz",     ".tar.bz2", ".tbz2",
					   ".tar.xz", ".txz",	 ".tar.zst", NULL };
	size_t n = strlen(s);

	for (size_t i = 0; ext[i]; i++) {
		size_t e = strlen(ext[i]);

		if (n > e && !strcasecmp(s + n - e, ext[i]))
			return true;
	}
	return false;
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* 1: a folder in the context, 0: something else or absent, -1: unknown (no context_dir). */
static int context_is_dir(const struct dfp *p, const char *src)
{
	char path[4096];
	struct stat st;

	if (!p->opts || !p->opts->context_dir)
		return -1;
	if (snprintf(path, sizeof(path), "%s/%s", p->opts->context_dir, src) >= (int)sizeof(path))
		return -1;
	if (stat(path, &st) < 0)
		return 0;
	return S_ISDIR(st.st_mode) ? 1 : 0;
}

/* Where a context path lands in the workspace W: W/src, cleaned. */
static char *in_workspace(struct dfp *p, const char *ws, const char *src)
{
	return path_resolve(p, ws, src);
}

static bool same_path(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/*
 * Does the sync already put this source where the copy would? The whole
 * build context is synced to the workspace W (the last WORKDIR): a source
 * P lands at W/P. The copy puts a file P at DEST/basename(P) when DEST is a
 * folder, at DEST otherwise; a folder P's contents at DEST.
 */
static bool src_satisfied(struct dfp *p, const char *ws, const char *src, const char *dest, bool dest_dir)
{
	char *clean, *at, *parent = NULL, *slash;
	bool ok = false;
	int dir;

	if (is_url(src))
		return false;
	clean = path_resolve(p, "/", src); /* "/" + P, cleaned: "/." is "/" (the whole context) */
	if (!clean)
		return false;
	if (!strcmp(clean, "/")) {
		ok = same_path(dest, ws);
		goto out;
	}
	at = in_workspace(p, ws, clean + 1);
	parent = xstrdup(p, at);
	if (!at || !parent) {
		free(at);
		goto out;
	}
	slash = strrchr(parent, '/');
	if (slash == parent)
		parent[1] = '\0';
	else if (slash)
		*slash = '\0';
	if (has_glob(clean)) {
		/* each match keeps its name in DEST: right when DEST is W + the glob's folder */
		ok = dest_dir && !has_glob(parent) && same_path(dest, parent);
		free(at);
		goto out;
	}
	dir = context_is_dir(p, clean + 1);
	if (dir == 1)
		ok = same_path(dest, at);
	else if (dir == 0)
		ok = dest_dir ? same_path(dest, parent) : same_path(dest, at);
	else /* no context to look at: either reading is right */
		ok = (dest_dir && same_path(dest, parent)) || same_path(dest, at);
	free(at);
out:
	free(parent);
	free(clean);
	return ok;
}

static void check_copies(struct dfp *p, int si, const struct stage *st)
{
	for (size_t i = 0; i < st->n_copies; i++) {
		struct azds_df_copy *c = &st->copies[i];
		const char *kw = c->add ? "ADD" : "COPY";
		bool all = true;

		if (c->from) {
			warn(p, si, c->line, kw,
			     "--from=%s copies what another stage or image built; host mode builds no stage but the "
			     "last one's chain and pulls no image, so %s is not filled (make the files in a RUN step, "
			     "or give a single-stage Dockerfile.develop in configurations.develop.build.dockerfile, as "
			     "Dev Spaces projects do)",
			     c->from, c->dest);
			continue;
		}
		for (size_t k = 0; k < c->n_src; k++) {
			const char *s = c->src[k];

			if (c->add && is_url(s)) {
				warn(p, si, c->line, kw, "%s: host mode fetches nothing; download it in a RUN step", s);
				all = false;
			} else if (c->add && is_archive(s)) {
				warn(p, si, c->line, kw,
				     "%s: Docker would unpack the archive into %s; host mode syncs it as the file it "
				     "is "
				     "(unpack it in a RUN step)",
				     s, c->dest);
				all = false;
			} else if (!src_satisfied(p, st->workdir, s, c->dest, st->copy_dest_dir[i])) {
				/* a source is relative to the context, a leading '/' included
				 * (ADD /app /app takes the context's app/) */
				char *clean = path_resolve(p, "/", s);
				char *where = clean ? in_workspace(p, st->workdir, clean + 1) : NULL;

				free(clean);

				warn(p, si, c->line, kw,
				     "%s to %s: host mode copies nothing; it syncs the build context to the workspace "
				     "%s, "
				     "so %s is at %s instead",
				     s, c->dest, st->workdir, s, where ? where : "?");
				free(where);
				all = false;
			}
		}
		c->satisfied = all;
	}
}

static bool strv_to_out(struct dfp *p, const struct strv *s, char ***out, size_t *n)
{
	*out = calloc(s->n + 1, sizeof(char *));
	*n = 0;
	if (!*out) {
		p_nomem(p);
		return false;
	}
	for (size_t i = 0; i < s->n; i++) {
		(*out)[i] = xstrdup(p, s->v[i]);
		(*n)++;
	}
	return !p->nomem;
}

static void final_command(struct dfp *p, int si, struct stage *st, struct azds_dockerfile *df)
{
	struct strv argv = { 0 };

	if (st->ep.line) {
		strv_copy(p, &argv, &st->ep.eff);
		if (st->ep.shell && st->cmd.line)
			warn(p, si, st->cmd.line, "CMD",
			     "not used: a shell-form ENTRYPOINT (line %u) takes no arguments from CMD (Docker's rule; "
			     "write ENTRYPOINT [\"...\"] to pass them)",
			     st->ep.line);
	}
	if (st->cmd.line)
		for (size_t i = 0; i < st->cmd.eff.n; i++)
			strv_push(p, &argv, st->cmd.eff.v[i]);
	if (!argv.n && !(p->opts && p->opts->have_command))
		warn(p, si, st->line, "CMD",
		     "the last stage has no CMD or ENTRYPOINT: azds.yaml's configurations.develop.container.command "
		     "must say what to run");
	if (argv.n)
		strv_to_out(p, &argv, &df->argv, &df->argc);
	strv_free(&argv);
	if (st->cmd.line) {
		strv_to_out(p, &st->cmd.written, &df->cmd, &df->n_cmd);
		df->cmd_shell = st->cmd.shell;
		df->cmd_line = st->cmd.line;
	}
	if (st->ep.line) {
		strv_to_out(p, &st->ep.written, &df->entrypoint, &df->n_entrypoint);
		df->entrypoint_shell = st->ep.shell;
		df->entrypoint_line = st->ep.line;
	}
}

static void from_notes(struct dfp *p, int si, const struct stage *st, struct azds_dockerfile *df)
{
	const struct stage *root = st;
	int rc;

	while (root->parent >= 0)
		root = &p->stages[root->parent];
	rc = azds_image_runtime(st->image, &df->runtime);
	if (rc)
		warn(p, si, root->line, "FROM",
		     "%s: an image azds does not know; host mode pulls no image and the service runs with the host's "
		     "tools as they are (azds knows node, python, golang, maven, openjdk, eclipse-temurin, dotnet, "
		     "rust, gcc, debian, ubuntu, alpine, busybox)",
		     st->image);
	else if (df->runtime.kind == AZDS_RT_NONE)
		warn(p, si, root->line, "FROM",
		     "%s: a scratch image has no runtime; host mode can run only a static program of the workspace",
		     st->image);
	else
		note(p, si, ONCE_NONE, root->line, "FROM",
		     "%s: host mode pulls no image; the service runs with %s, whatever version the host has", st->image,
		     df->runtime.what);
	if (p->n_stages > 1)
		note(p, si, ONCE_NONE, st->line, "FROM", "%zu stages: host mode runs the last one (%s%s%s, line %u)",
		     p->n_stages, st->name ? "AS " : "FROM ", st->name ? st->name : st->from,
		     st->parent >= 0 ? ", built on its earlier stages" : "", st->line);
}

static void unused_build_args(struct dfp *p)
{
	if (!p->opts)
		return;
	for (size_t i = 0; i < p->opts->n_build_args; i++) {
		const struct azds_yaml_kv *a = &p->opts->build_args[i];
		char key[AZDS_DIAG_KEY_SZ];

		if (!a->key || strv_has(&p->declared, a->key))
			continue;
		snprintf(key, sizeof(key), "configurations.develop.build.args.%s", a->key);
		azds_diag_add(p->d, AZDS_DIAG_WARNING,
			      p->opts->build_args_file ? p->opts->build_args_file : "azds.yaml", a->line, 0, key,
			      "no ARG %s in %s: the build arg is not used", a->key, p->file);
	}
}

static bool finish(struct dfp *p, struct azds_dockerfile *df)
{
	bool *in_chain;
	struct stage *st;
	int si;

	if (!p->n_stages) {
		if (!p->errors)
			err(p, 0, NULL, "no FROM: a Dockerfile starts with FROM <image>");
		pend_flush(p, NULL);
		return false;
	}
	in_chain = calloc(p->n_stages, sizeof(bool));
	if (!in_chain) {
		p_nomem(p);
		return false;
	}
	si = (int)p->n_stages - 1;
	st = &p->stages[si];
	for (int i = si; i >= 0; i = p->stages[i].parent)
		in_chain[i] = true;
	for (size_t i = 0; i < p->n_stages; i++)
		if (!in_chain[i])
			note(p, -1, ONCE_NONE, p->stages[i].line, "FROM",
			     "stage %s (FROM %s) is not part of the last stage's build: host mode skips it",
			     p->stages[i].name ? p->stages[i].name : "without a name", p->stages[i].from);
	from_notes(p, si, st, df);
	check_copies(p, si, st);
	for (size_t i = 0; i < st->n_runs; i++) {
		const char *wd = st->runs[i].workdir;
		size_t wl = strlen(st->workdir);

		if (strcmp(wd, st->workdir) && !(strncmp(wd, st->workdir, wl) == 0 && (wd[wl] == '/' || wl == 1)))
			note(p, si, ONCE_NONE, st->runs[i].line, "RUN",
			     "its WORKDIR %s is outside the workspace %s (the last WORKDIR): host mode runs it in the "
			     "workspace",
			     wd, st->workdir);
	}
	if (!st->workdir_set)
		note(p, si, ONCE_NONE, st->line, "WORKDIR",
		     "the last stage sets no WORKDIR: Docker would run in /, host mode runs in its own workspace "
		     "folder (/workspace); a WORKDIR says where");
	final_command(p, si, st, df);
	unused_build_args(p);

	df->image = xstrdup(p, st->image);
	df->from_line = st->line;
	df->stage_name = st->name ? xstrdup(p, st->name) : NULL;
	df->n_stages = p->n_stages;
	df->workdir = xstrdup(p, st->workdir);
	df->workdir_set = st->workdir_set;
	kv_array_copy(p, &df->env, &df->n_env, st->env.v, st->env.n);
	{
		size_t n = 0;

		df->args = calloc(st->args.n + 1, sizeof(*df->args));
		if (!df->args)
			p_nomem(p);
		for (size_t i = 0; df->args && i < st->args.n; i++) {
			if (!st->args.v[i].value)
				continue;
			df->args[n].key = xstrdup(p, st->args.v[i].key);
			df->args[n].value = xstrdup(p, st->args.v[i].value);
			df->args[n++].line = st->args.v[i].line;
		}
		df->n_args = n;
	}
	if (st->n_ports) {
		df->ports = calloc(st->n_ports, sizeof(*df->ports));
		if (df->ports) {
			memcpy(df->ports, st->ports, st->n_ports * sizeof(*df->ports));
			df->n_ports = st->n_ports;
		} else {
			p_nomem(p);
		}
	}
	/* the chain's steps and copies move over: the stage is freed next */
	df->run = st->runs;
	df->n_run = st->n_runs;
	st->runs = NULL;
	st->n_runs = 0;
	df->copies = st->copies;
	df->n_copies = st->n_copies;
	st->copies = NULL;
	st->n_copies = 0;
	strv_to_out(p, &st->shell, &df->shell, &df->n_shell);
	df->user = st->user ? xstrdup(p, st->user) : NULL;
	df->stop_signal = st->stop_signal ? xstrdup(p, st->stop_signal) : NULL;

	pend_flush(p, in_chain);
	free(in_chain);
	return !p->errors && !p->nomem;
}

/* ------------------------------------------------------------------ */
/* entry points                                                       */
/* ------------------------------------------------------------------ */

void azds_dockerfile_free(struct azds_dockerfile *df)
{
	if (!df)
		return;
	free(df->file);
	free(df->image);
	free(df->stage_name);
	free(df->workdir);
	for (size_t i = 0; i < df->n_env; i++) {
		free(df->env[i].key);
		free(df->env[i].value);
	}
	free(df->env);
	for (size_t i = 0; i < df->n_args; i++) {
		free(df->args[i].key);
		free(df->args[i].value);
	}
	free(df->args);
	free(df->ports);
	for (size_t i = 0; i < df->n_run; i++)
		run_free(&df->run[i]);
	free(df->run);
	for (size_t i = 0; i < df->n_copies; i++)
		copy_free(&df->copies[i]);
	free(df->copies);
	for (size_t i = 0; i < df->n_cmd; i++)
		free(df->cmd[i]);
	free(df->cmd);
	for (size_t i = 0; i < df->n_entrypoint; i++)
		free(df->entrypoint[i]);
	free(df->entrypoint);
	for (size_t i = 0; i < df->argc; i++)
		free(df->argv[i]);
	free(df->argv);
	for (size_t i = 0; i < df->n_shell; i++)
		free(df->shell[i]);
	free(df->shell);
	free(df->user);
	free(df->stop_signal);
	free(df);
}

int azds_dockerfile_parse(const char *name, const char *buf, size_t len, const struct azds_df_opts *opts,
			  struct azds_dockerfile **out, struct azds_diags *d)
{
	struct dfp p = { .file = name ? name : "Dockerfile", .opts = opts, .escape = '\\', .d = d };
	struct azds_dockerfile *df;
	char *copy;
	bool ok;

	*out = NULL;
	if (len > AZDS_DF_MAX_BYTES) {
		azds_diag_add(d, AZDS_DIAG_ERROR, p.file, 0, 0, NULL, "the file is %zu bytes: the limit is %u", len,
			      AZDS_DF_MAX_BYTES);
		return -EFBIG;
	}
	df = calloc(1, sizeof(*df));
	copy = malloc(len + 1);
	if (!df || !copy || !(df->file = strdup(p.file))) {
		free(copy);
		azds_dockerfile_free(df);
		azds_diag_add(d, AZDS_DIAG_ERROR, p.file, 0, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	memcpy(copy, buf, len);
	copy[len] = '\0';
	parse_lines(&p, copy, len);
	free(copy);
	ok = !p.nomem && finish(&p, df);
	if (p.nomem)
		azds_diag_add(d, AZDS_DIAG_ERROR, p.file, 0, 0, NULL, "out of memory");
	for (size_t i = 0; i < p.n_stages; i++)
		stage_free(&p.stages[i]);
	free(p.stages);
	kvl_free(&p.global_args);
	strv_free(&p.declared);
	free(p.pend);
	if (!ok) {
		azds_dockerfile_free(df);
		return p.nomem ? -ENOMEM : -EINVAL;
	}
	*out = df;
	return 0;
}

int azds_dockerfile_load(const char *path, const struct azds_df_opts *opts, struct azds_dockerfile **out,
			 struct azds_diags *d)
{
	struct stat st;
	char *buf;
	size_t n = 0;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		azds_diag_add(d, AZDS_DIAG_ERROR, path, 0, 0, NULL, "%s",
			      rc == -ENOENT ? "no such file" : strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0)
		st.st_mode = 0;
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		close(fd);
		azds_diag_add(d, AZDS_DIAG_ERROR, path, 0, 0, NULL, "not a regular file");
		return rc;
	}
	if ((uintmax_t)st.st_size > AZDS_DF_MAX_BYTES) {
		close(fd);
		azds_diag_add(d, AZDS_DIAG_ERROR, path, 0, 0, NULL, "the file is larger than the limit of %u bytes",
			      AZDS_DF_MAX_BYTES);
		return -EFBIG;
	}
	buf = malloc(AZDS_DF_MAX_BYTES + 1);
	if (!buf) {
		close(fd);
		azds_diag_add(d, AZDS_DIAG_ERROR, path, 0, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, AZDS_DF_MAX_BYTES + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			free(buf);
			close(fd);
			azds_diag_add(d, AZDS_DIAG_ERROR, path, 0, 0, NULL, "cannot read it: %s", strerror(-rc));
			return rc;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > AZDS_DF_MAX_BYTES) {
			free(buf);
			close(fd);
			azds_diag_add(d, AZDS_DIAG_ERROR, path, 0, 0, NULL,
				      "the file is larger than the limit of %u bytes", AZDS_DF_MAX_BYTES);
			return -EFBIG;
		}
	}
	close(fd);
	rc = azds_dockerfile_parse(path, buf, n, opts, out, d);
	free(buf);
	return rc;
}

unsigned azds_dockerfile_port(const struct azds_dockerfile *df)
{
	for (size_t i = 0; i < df->n_ports; i++)
		if (!df->ports[i].udp)
			return df->ports[i].port;
	return 0;
}

const char *azds_dockerfile_env(const struct azds_dockerfile *df, const char *key)
{
	for (size_t i = 0; i < df->n_env; i++)
		if (!strcmp(df->env[i].key, key))
			return df->env[i].value;
	return NULL;
}
