// SPDX-License-Identifier: MIT
/*
 * azds.yaml: libyaml's event API builds a tree of our own (lines, limits,
 * duplicate keys, bounded aliases), then a walk over the tree fills struct
 * azds_yaml and reports what does not fit Dev Spaces' schema.
 *
 * Why events and not libyaml's document API: the loader would build the
 * whole document before we could count nodes, and it shares aliased nodes,
 * so a walk over it could not see a billion-laughs file coming. Here each
 * node, aliases expanded, counts against AZDS_YAML_MAX_NODES as it is made.
 */
#include "azdsyaml.h"

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
#include <yaml.h>

/* ------------------------------------------------------------------ */
/* the tree                                                            */
/* ------------------------------------------------------------------ */

static void ynode_free(struct azds_ynode *n)
{
	if (!n)
		return;
	free(n->str);
	for (size_t i = 0; i < n->n_entries; i++) {
		free(n->entries[i].key);
		ynode_free(n->entries[i].value);
	}
	free(n->entries);
	for (size_t i = 0; i < n->n_items; i++)
		ynode_free(n->items[i]);
	free(n->items);
	free(n);
}

/* Nodes in the subtree and its height (1 for a scalar). */
static size_t ynode_count(const struct azds_ynode *n, unsigned *height)
{
	size_t total = 1;
	unsigned h = 0, sub;

	for (size_t i = 0; i < n->n_entries; i++) {
		total += ynode_count(n->entries[i].value, &sub);
		if (sub > h)
			h = sub;
	}
	for (size_t i = 0; i < n->n_items; i++) {
		total += ynode_count(n->items[i], &sub);
		if (sub > h)
			h = sub;
	}
	*height = h + 1;
	return total;
}

static struct azds_ynode *ynode_copy(const struct azds_ynode *n)
{
	struct azds_ynode *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->kind = n->kind;
	c->line = n->line;
	c->column = n->column;
	c->plain = n->plain;
	c->len = n->len;
	if (n->str && !(c->str = strndup(n->str, n->len)))
		goto fail;
	if (n->n_entries) {
		c->entries = calloc(n->n_entries, sizeof(*c->entries));
		if (!c->entries)
			goto fail;
		for (size_t i = 0; i < n->n_entries; i++) {
			c->entries[i] = n->entries[i];
			c->entries[i].key = strdup(n->entries[i].key);
			c->entries[i].value = ynode_copy(n->entries[i].value);
			c->n_entries++;
			if (!c->entries[i].key || !c->entries[i].value)
				goto fail;
		}
	}
	if (n->n_items) {
		c->items = calloc(n->n_items, sizeof(*c->items));
		if (!c->items)
			goto fail;
		for (size_t i = 0; i < n->n_items; i++) {
			c->items[i] = ynode_copy(n->items[i]);
			c->n_items++;
			if (!c->items[i])
				goto fail;
		}
	}
	return c;
fail:
	ynode_free(c);
	return NULL;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 4;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

bool azds_ynode_is_null(const struct azds_ynode *n)
{
	if (!n || n->kind != AZDS_YNODE_SCALAR || !n->plain)
		return false;
	return !strcmp(n->str, "") || !strcmp(n->str, "~") || !strcmp(n->str, "null") || !strcmp(n->str, "Null") ||
	       !strcmp(n->str, "NULL");
}

const struct azds_ynode *azds_ynode_child(const struct azds_ynode *n, const char *key)
{
	if (!n || n->kind != AZDS_YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < n->n_entries; i++)
		if (!strcmp(n->entries[i].key, key))
			return n->entries[i].value;
	return NULL;
}

const char *azds_ynode_scalar(const struct azds_ynode *n)
{
	return n && n->kind == AZDS_YNODE_SCALAR ? n->str : NULL;
}

const struct azds_ynode *azds_ynode_get(const struct azds_ynode *root, const char *path)
{
	const struct azds_ynode *n = root;
	const char *p = path;
	char key[AZDS_YAML_MAX_SCALAR < 1024 ? AZDS_YAML_MAX_SCALAR : 1024];

	if (!path)
		return NULL;
	while (n && *p) {
		size_t k = 0;

		if (*p == '[') {
			char *end;
			unsigned long idx = strtoul(p + 1, &end, 10);

			if (end == p + 1 || *end != ']' || n->kind != AZDS_YNODE_SEQ || idx >= n->n_items)
				return NULL;
			n = n->items[idx];
			p = end + 1;
			if (*p == '.')
				p++;
			continue;
		}
		while (*p && *p != '.' && *p != '[') {
			if (*p == '\\' && p[1] == '.')
				p++;
			if (k + 1 >= sizeof(key))
				return NULL;
			key[k++] = *p++;
		}
		key[k] = '\0';
		n = azds_ynode_child(n, key);
		if (*p == '.')
			p++;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* building the tree from libyaml's events                            */
/* ------------------------------------------------------------------ */

struct frame {
	struct azds_ynode *n;
	char *anchor; /* registered when the node is complete */
	char *key;    /* a mapping's pending key */
	unsigned key_line, key_col;
	bool key_merge;		   /* the pending key is a plain "<<" */
	struct azds_ynode **merge; /* "<<" values, resolved at the mapping's end */
	size_t n_merge, cap_merge;
	bool is_merge_value; /* this node is a "<<" value of the frame below */
};

struct anchor {
	char *name;
	const struct azds_ynode *n;
};

struct builder {
	yaml_parser_t p;
	const char *file;
	const char *buf;
	size_t len;
	struct azds_diags *d;
	size_t nodes;
	int fatal;  /* stop: a syntax error, a limit or no memory */
	int errors; /* content errors that let parsing go on (duplicates) */
	int docs;
	struct frame stack[AZDS_YAML_MAX_DEPTH];
	size_t depth;
	struct anchor anchors[AZDS_YAML_MAX_ANCHORS];
	size_t n_anchors;
	struct azds_ynode *root;
	bool attached_as_merge;	     /* the last b_attach put its node in a "<<" list */
	struct azds_ynode **discard; /* values of duplicate keys: still built (events go on), then freed */
	size_t n_discard, cap_discard;
};

/* The key path of the innermost open node, then key: "install.set.image.tag". */
static void b_path(const struct builder *b, const char *key, char *buf, size_t sz)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 1; i < b->depth && n < sz; i++) {
		const struct azds_ynode *par = b->stack[i - 1].n;
		int w;

		if (b->stack[i].is_merge_value)
			w = snprintf(buf + n, sz - n, "%s<<", n ? "." : "");
		else if (par->kind == AZDS_YNODE_MAP && par->n_entries)
			w = snprintf(buf + n, sz - n, "%s%s", n ? "." : "", par->entries[par->n_entries - 1].key);
		else
			w = snprintf(buf + n, sz - n, "[%zu]", par->n_items ? par->n_items - 1 : 0);
		if (w < 0)
			return;
		n += (size_t)w;
	}
	if (n < sz && key)
		snprintf(buf + n, sz - n, "%s%s", n ? "." : "", key);
}

static void b_error(struct builder *b, unsigned line, unsigned col, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void b_error(struct builder *b, unsigned line, unsigned col, const char *key, const char *fmt, ...)
{
	char msg[AZDS_DIAG_MSG_SZ];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	azds_diag_add(b->d, AZDS_DIAG_ERROR, b->file, line, col, key, "%s", msg);
}

static void b_fatal(struct builder *b, int err, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void b_fatal(struct builder *b, int err, unsigned line, const char *fmt, ...)
{
	char msg[AZDS_DIAG_MSG_SZ];
	va_list ap;

	if (b->fatal)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	azds_diag_add(b->d, AZDS_DIAG_ERROR, b->file, line, 0, NULL, "%s", msg);
	b->fatal = err;
}

static unsigned mark_line(const yaml_mark_t *m)
{
	return (unsigned)m->line + 1;
}

static bool b_count(struct builder *b, size_t more, unsigned line)
{
	if (b->nodes + more > AZDS_YAML_MAX_NODES) {
		b_fatal(b, -EINVAL, line,
			"more than %u YAML nodes (scalars, mappings, sequences; aliases count once per use): the limit",
			AZDS_YAML_MAX_NODES);
		return false;
	}
	b->nodes += more;
	return true;
}

static struct azds_ynode *b_node(struct builder *b, enum azds_ynode_kind kind, const yaml_mark_t *m)
{
	struct azds_ynode *n;

	if (!b_count(b, 1, mark_line(m)))
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n) {
		b_fatal(b, -ENOMEM, mark_line(m), "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->line = mark_line(m);
	n->column = (unsigned)m->column + 1;
	return n;
}

static bool key_exists(const struct azds_ynode *map, const char *key, unsigned *line)
{
	for (size_t i = 0; i < map->n_entries; i++)
		if (!strcmp(map->entries[i].key, key)) {
			*line = map->entries[i].line;
			return true;
		}
	return false;
}

/* Puts a finished or just-started node where it belongs; takes ownership. */
static void b_attach(struct builder *b, struct azds_ynode *n)
{
	struct frame *f;

	if (b->depth == 0) {
		if (b->root) /* a second document's content; refused at its start already */
			ynode_free(n);
		else
			b->root = n;
		return;
	}
	f = &b->stack[b->depth - 1];
	b->attached_as_merge = false;
	if (f->n->kind == AZDS_YNODE_SEQ) {
		void *p = realloc(f->n->items, (f->n->n_items + 1) * sizeof(*f->n->items));

		if (!p) {
			b_fatal(b, -ENOMEM, n->line, "out of memory");
			ynode_free(n);
			return;
		}
		f->n->items = p;
		f->n->items[f->n->n_items++] = n;
		return;
	}
	/* a mapping: n is the value of the pending key */
	if (f->key_merge) {
		if (grow((void **)&f->merge, &f->cap_merge, f->n_merge, sizeof(*f->merge))) {
			ynode_free(n);
			b_fatal(b, -ENOMEM, n->line, "out of memory");
			return;
		}
		f->merge[f->n_merge++] = n;
		free(f->key);
		f->key = NULL;
		f->key_merge = false;
		b->attached_as_merge = true;
		return;
	}
	{
		unsigned first;
		void *p;

		if (key_exists(f->n, f->key, &first)) {
			char path[AZDS_DIAG_KEY_SZ];

			b_path(b, f->key, path, sizeof(path));
			b_error(b, f->key_line, f->key_col, path, "duplicate key (first at line %u)", first);
			b->errors++;
			free(f->key);
			f->key = NULL;
			if (grow((void **)&b->discard, &b->cap_discard, b->n_discard, sizeof(*b->discard))) {
				ynode_free(n);
				b_fatal(b, -ENOMEM, first, "out of memory");
				return;
			}
			b->discard[b->n_discard++] = n;
			return;
		}
		p = realloc(f->n->entries, (f->n->n_entries + 1) * sizeof(*f->n->entries));
		if (!p) {
			ynode_free(n);
			b_fatal(b, -ENOMEM, n->line, "out of memory");
			return;
		}
		f->n->entries = p;
		f->n->entries[f->n->n_entries++] = (struct azds_ymap_entry){
			.key = f->key, .line = f->key_line, .column = f->key_col, .value = n
		};
		f->key = NULL;
	}
}

/* Inside a mapping with no pending key, the next node is a key. */
static bool b_expect_key(const struct builder *b)
{
	const struct frame *f;

	if (b->depth == 0)
		return false;
	f = &b->stack[b->depth - 1];
	return f->n->kind == AZDS_YNODE_MAP && !f->key && !f->key_merge;
}

static void b_set_key(struct builder *b, const char *s, size_t len, bool plain, const yaml_mark_t *m)
{
	struct frame *f = &b->stack[b->depth - 1];

	if (plain && len == 2 && !memcmp(s, "<<", 2)) {
		f->key_merge = true;
		return;
	}
	f->key = strndup(s, len);
	if (!f->key) {
		b_fatal(b, -ENOMEM, mark_line(m), "out of memory");
		return;
	}
	f->key_line = mark_line(m);
	f->key_col = (unsigned)m->column + 1;
}

static void b_anchor(struct builder *b, const char *name, const struct azds_ynode *n, unsigned line)
{
	if (!name)
		return;
	for (size_t i = 0; i < b->n_anchors; i++)
		if (!strcmp(b->anchors[i].name, name)) {
			b->anchors[i].n = n; /* YAML: a later anchor of the same name wins */
			return;
		}
	if (b->n_anchors == AZDS_YAML_MAX_ANCHORS) {
		b_fatal(b, -EINVAL, line, "more than %u anchors: the limit", AZDS_YAML_MAX_ANCHORS);
		return;
	}
	b->anchors[b->n_anchors].name = strdup(name);
	if (!b->anchors[b->n_anchors].name) {
		b_fatal(b, -ENOMEM, line, "out of memory");
		return;
	}
	b->anchors[b->n_anchors++].n = n;
}

static bool scalar_plain(const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;

	if (tag && (!strcmp(tag, "tag:yaml.org,2002:str") || !strcmp(tag, "!")))
		return false;
	return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static void b_tag_warning(struct builder *b, const char *tag, const yaml_mark_t *m)
{
	if (!tag || !strcmp(tag, "tag:yaml.org,2002:str") || !strcmp(tag, "!") ||
	    !strncmp(tag, "tag:yaml.org,2002:", 18))
		return;
	azds_diag_add(b->d, AZDS_DIAG_WARNING, b->file, mark_line(m), (unsigned)m->column + 1, NULL,
		      "YAML tag %s is not one azds knows; the value is read as if untagged", tag);
}

static void ev_scalar(struct builder *b, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	const yaml_mark_t *m = &ev->start_mark;
	struct azds_ynode *n;

	if (len > AZDS_YAML_MAX_SCALAR) {
		b_fatal(b, -EINVAL, mark_line(m), "a scalar of %zu bytes: the limit is %u", len, AZDS_YAML_MAX_SCALAR);
		return;
	}
	if (memchr(s, '\0', len)) {
		b_fatal(b, -EINVAL, mark_line(m), "a scalar holds a NUL byte (\\0): azds.yaml strings cannot");
		return;
	}
	b_tag_warning(b, (const char *)ev->data.scalar.tag, m);
	if (b_expect_key(b)) {
		if (!b_count(b, 1, mark_line(m)))
			return;
		b_set_key(b, s, len, scalar_plain(ev), m);
		return;
	}
	n = b_node(b, AZDS_YNODE_SCALAR, m);
	if (!n)
		return;
	n->plain = scalar_plain(ev);
	n->len = len;
	n->str = strndup(s, len);
	if (!n->str) {
		free(n);
		b_fatal(b, -ENOMEM, mark_line(m), "out of memory");
		return;
	}
	b_attach(b, n);
	b_anchor(b, (const char *)ev->data.scalar.anchor, n, mark_line(m));
}

static void ev_start(struct builder *b, const yaml_event_t *ev, enum azds_ynode_kind kind)
{
	const yaml_mark_t *m = &ev->start_mark;
	const char *anchor, *tag;
	struct azds_ynode *n;
	struct frame *f;

	if (kind == AZDS_YNODE_MAP) {
		anchor = (const char *)ev->data.mapping_start.anchor;
		tag = (const char *)ev->data.mapping_start.tag;
	} else {
		anchor = (const char *)ev->data.sequence_start.anchor;
		tag = (const char *)ev->data.sequence_start.tag;
	}
	if (b_expect_key(b)) {
		b_fatal(b, -EINVAL, mark_line(m), "a %s used as a mapping key: azds.yaml keys are strings",
			kind == AZDS_YNODE_MAP ? "mapping" : "sequence");
		return;
	}
	if (b->depth == AZDS_YAML_MAX_DEPTH) {
		b_fatal(b, -EINVAL, mark_line(m), "nested more than %u levels deep: the limit", AZDS_YAML_MAX_DEPTH);
		return;
	}
	b_tag_warning(b, tag, m);
	n = b_node(b, kind, m);
	if (!n)
		return;
	b_attach(b, n);
	if (b->fatal)
		return;
	f = &b->stack[b->depth++];
	memset(f, 0, sizeof(*f));
	f->n = n;
	f->is_merge_value = b->attached_as_merge;
	if (anchor && !(f->anchor = strdup(anchor)))
		b_fatal(b, -ENOMEM, mark_line(m), "out of memory");
}

/* YAML 1.1 merge keys: "<<: *base" adds base's keys that the mapping lacks. */
static void b_merge(struct builder *b, struct frame *f)
{
	for (size_t i = 0; i < f->n_merge && !b->fatal; i++) {
		struct azds_ynode *src = f->merge[i];
		size_t nsrc = src->kind == AZDS_YNODE_SEQ ? src->n_items : 1;

		for (size_t j = 0; j < nsrc && !b->fatal; j++) {
			const struct azds_ynode *m = src->kind == AZDS_YNODE_SEQ ? src->items[j] : src;

			if (m->kind != AZDS_YNODE_MAP) {
				b_error(b, m->line, m->column, "<<",
					"a merge key takes a mapping or a sequence of mappings");
				b->errors++;
				continue;
			}
			for (size_t k = 0; k < m->n_entries; k++) {
				unsigned line;
				struct azds_ynode *v;
				unsigned h;
				size_t cnt;
				void *p;

				if (key_exists(f->n, m->entries[k].key, &line))
					continue;
				cnt = ynode_count(m->entries[k].value, &h);
				if (!b_count(b, cnt + 1, m->line))
					return;
				v = ynode_copy(m->entries[k].value);
				p = realloc(f->n->entries, (f->n->n_entries + 1) * sizeof(*f->n->entries));
				if (!v || !p) {
					if (p)
						f->n->entries = p;
					ynode_free(v);
					b_fatal(b, -ENOMEM, m->line, "out of memory");
					return;
				}
				f->n->entries = p;
				f->n->entries[f->n->n_entries] = m->entries[k];
				f->n->entries[f->n->n_entries].key = strdup(m->entries[k].key);
				f->n->entries[f->n->n_entries].value = v;
				if (!f->n->entries[f->n->n_entries].key) {
					ynode_free(v);
					b_fatal(b, -ENOMEM, m->line, "out of memory");
					return;
				}
				f->n->n_entries++;
			}
		}
	}
}

static void frame_clear(struct frame *f)
{
	free(f->anchor);
	free(f->key);
	for (size_t i = 0; i < f->n_merge; i++)
		ynode_free(f->merge[i]);
	free(f->merge);
	memset(f, 0, sizeof(*f));
}

static void ev_end(struct builder *b)
{
	struct frame *f;

	if (b->depth == 0)
		return;
	f = &b->stack[b->depth - 1];
	if (f->n->kind == AZDS_YNODE_MAP && f->n_merge)
		b_merge(b, f);
	/* an anchor may point into a "<<" value: keep the values until the end */
	for (size_t i = 0; i < f->n_merge; i++) {
		if (grow((void **)&b->discard, &b->cap_discard, b->n_discard, sizeof(*b->discard))) {
			b_fatal(b, -ENOMEM, f->n->line, "out of memory");
			break;
		}
		b->discard[b->n_discard++] = f->merge[i];
		f->merge[i] = NULL;
	}
	b_anchor(b, f->anchor, f->n, f->n->line);
	frame_clear(f);
	b->depth--;
}

static void ev_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	const yaml_mark_t *m = &ev->start_mark;
	const struct azds_ynode *src = NULL;
	struct azds_ynode *n;
	unsigned height;
	size_t cnt;

	for (size_t i = 0; i < b->n_anchors; i++)
		if (!strcmp(b->anchors[i].name, name))
			src = b->anchors[i].n;
	if (!src) {
		b_fatal(b, -EINVAL, mark_line(m),
			"alias *%s: no complete &%s before it (an alias cannot point into the node that holds it)",
			name, name);
		return;
	}
	if (b_expect_key(b)) {
		if (src->kind != AZDS_YNODE_SCALAR) {
			b_fatal(b, -EINVAL, mark_line(m), "alias *%s used as a key is not a scalar", name);
			return;
		}
		if (!b_count(b, 1, mark_line(m)))
			return;
		b_set_key(b, src->str, src->len, src->plain, m);
		return;
	}
	cnt = ynode_count(src, &height);
	if (b->depth + height > AZDS_YAML_MAX_DEPTH) {
		b_fatal(b, -EINVAL, mark_line(m), "alias *%s nests more than %u levels deep: the limit", name,
			AZDS_YAML_MAX_DEPTH);
		return;
	}
	if (b->nodes + cnt > AZDS_YAML_MAX_NODES) {
		b_fatal(b, -EINVAL, mark_line(m),
			"alias *%s expands to %zu more nodes, past the limit of %u (aliases of aliases grow "
			"exponentially: a billion-laughs file?)",
			name, cnt, AZDS_YAML_MAX_NODES);
		return;
	}
	b->nodes += cnt;
	n = ynode_copy(src);
	if (!n) {
		b_fatal(b, -ENOMEM, mark_line(m), "out of memory");
		return;
	}
	b_attach(b, n);
}

/* The line of a byte offset, for reader errors that carry only an offset. */
static unsigned offset_line(const char *buf, size_t len, size_t off)
{
	unsigned line = 1;

	for (size_t i = 0; i < off && i < len; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

static void b_syntax_error(struct builder *b)
{
	yaml_parser_t *p = &b->p;
	unsigned line;

	if (p->error == YAML_MEMORY_ERROR) {
		b_fatal(b, -ENOMEM, 0, "out of memory while parsing YAML");
		return;
	}
	if (p->error == YAML_READER_ERROR)
		line = offset_line(b->buf, b->len, p->problem_offset);
	else
		line = mark_line(&p->problem_mark);
	if (p->context)
		b_fatal(b, -EINVAL, line, "YAML syntax error: %s %s (from line %u)", p->problem ? p->problem : "",
			p->context, mark_line(&p->context_mark));
	else
		b_fatal(b, -EINVAL, line, "YAML syntax error: %s", p->problem ? p->problem : "invalid YAML");
}

/* Builds b->root; returns 0, -EINVAL or -ENOMEM (diagnostics in b->d). */
static int b_run(struct builder *b)
{
	bool done = false;

	if (!yaml_parser_initialize(&b->p)) {
		b_fatal(b, -ENOMEM, 0, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&b->p, (const unsigned char *)b->buf, b->len);
	while (!done && !b->fatal) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&b->p, &ev)) {
			b_syntax_error(b);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++b->docs > 1)
				b_fatal(b, -EINVAL, mark_line(&ev.start_mark),
					"a second YAML document (---): azds.yaml holds one");
			break;
		case YAML_SCALAR_EVENT:
			ev_scalar(b, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			ev_start(b, &ev, AZDS_YNODE_SEQ);
			break;
		case YAML_MAPPING_START_EVENT:
			ev_start(b, &ev, AZDS_YNODE_MAP);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			ev_end(b);
			break;
		case YAML_ALIAS_EVENT:
			ev_alias(b, &ev);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&b->p);
	while (b->depth)
		frame_clear(&b->stack[--b->depth]);
	for (size_t i = 0; i < b->n_anchors; i++)
		free(b->anchors[i].name);
	b->n_anchors = 0;
	for (size_t i = 0; i < b->n_discard; i++)
		ynode_free(b->discard[i]);
	free(b->discard);
	b->discard = NULL;
	b->n_discard = 0;
	if (b->fatal)
		return b->fatal;
	return b->errors ? -EINVAL : 0;
}

/* ------------------------------------------------------------------ */
/* the schema                                                         */
/* ------------------------------------------------------------------ */

static bool is_name_char(char c);

struct walk {
	struct azds_yaml *cfg;
	struct azds_diags *d;
	int errors;
	int nomem;
};

static void w_error(struct walk *w, unsigned line, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void w_error(struct walk *w, unsigned line, const char *path, const char *fmt, ...)
{
	char msg[AZDS_DIAG_MSG_SZ];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	azds_diag_add(w->d, AZDS_DIAG_ERROR, w->cfg->file, line, 0, path, "%s", msg);
	w->errors++;
}

static void w_warn(struct walk *w, unsigned line, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void w_warn(struct walk *w, unsigned line, const char *path, const char *fmt, ...)
{
	char msg[AZDS_DIAG_MSG_SZ];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	azds_diag_add(w->d, AZDS_DIAG_WARNING, w->cfg->file, line, 0, path, "%s", msg);
}

static char *w_strdup(struct walk *w, const char *s)
{
	char *c = strdup(s);

	if (!c)
		w->nomem = 1;
	return c;
}

/* Key paths are for people: one too long for a diagnostic is cut, not refused. */
static void path_key(char *dst, size_t sz, const char *base, const char *key)
{
	int n;

	if (base && base[0])
		n = snprintf(dst, sz, "%s.%s", base, key);
	else
		n = snprintf(dst, sz, "%s", key);
	if (n < 0)
		dst[0] = '\0';
}

static void path_idx(char *dst, size_t sz, const char *base, size_t i)
{
	if (snprintf(dst, sz, "%s[%zu]", base, i) < 0)
		dst[0] = '\0';
}

static const char *kind_name(const struct azds_ynode *n)
{
	if (azds_ynode_is_null(n))
		return "null";
	switch (n->kind) {
	case AZDS_YNODE_MAP:
		return "a mapping";
	case AZDS_YNODE_SEQ:
		return "a sequence";
	default:
		return "a string";
	}
}

/* A key absent or null counts as absent: defaults apply. */
static const struct azds_ynode *w_child(const struct azds_ynode *map, const char *key)
{
	const struct azds_ynode *v = azds_ynode_child(map, key);

	return azds_ynode_is_null(v) ? NULL : v;
}

static unsigned key_line(const struct azds_ynode *map, const char *key)
{
	for (size_t i = 0; map && i < map->n_entries; i++)
		if (!strcmp(map->entries[i].key, key))
			return map->entries[i].line;
	return map ? map->line : 0;
}

/* Warns about each key of map that is not in known[] (NULL-terminated). */
static void w_unknown(struct walk *w, const struct azds_ynode *map, const char *base, const char *const *known,
		      const char *what)
{
	char path[AZDS_DIAG_KEY_SZ];

	for (size_t i = 0; i < map->n_entries; i++) {
		const char *key = map->entries[i].key;
		const char *close = NULL;
		bool ok = false;

		for (const char *const *k = known; *k; k++) {
			if (!strcmp(*k, key))
				ok = true;
			else if (!strcasecmp(*k, key))
				close = *k;
		}
		if (ok)
			continue;
		path_key(path, sizeof(path), base, key);
		if (close)
			w_warn(w, map->entries[i].line, path,
			       "unknown key, ignored; did you mean %s? (keys are case-sensitive)", close);
		else
			w_warn(w, map->entries[i].line, path, "unknown key, ignored (%s)", what);
	}
}

/* A mapping or absent; anything else is an error (and counts as absent). */
static const struct azds_ynode *w_map(struct walk *w, const struct azds_ynode *parent, const char *key,
				      const char *path)
{
	const struct azds_ynode *v = w_child(parent, key);

	if (v && v->kind != AZDS_YNODE_MAP) {
		w_error(w, v->line, path, "expected a mapping, got %s", kind_name(v));
		return NULL;
	}
	return v;
}

static void w_string(struct walk *w, const struct azds_ynode *parent, const char *key, const char *base,
		     struct azds_ystr *dst)
{
	const struct azds_ynode *v = w_child(parent, key);
	char path[AZDS_DIAG_KEY_SZ];

	if (!v)
		return;
	path_key(path, sizeof(path), base, key);
	if (v->kind != AZDS_YNODE_SCALAR) {
		w_error(w, v->line, path, "expected a string, got %s", kind_name(v));
		return;
	}
	if (!v->str[0]) {
		w_error(w, v->line, path, "is empty");
		return;
	}
	free(dst->v);
	dst->v = w_strdup(w, v->str);
	dst->line = v->line;
}

static void w_required(struct walk *w, const struct azds_ynode *parent, const char *key, const char *base,
		       struct azds_ystr *dst, const char *example)
{
	char path[AZDS_DIAG_KEY_SZ];

	const struct azds_ynode *raw = azds_ynode_child(parent, key);

	w_string(w, parent, key, base, dst);
	if (dst->v || (raw && !azds_ynode_is_null(raw))) /* set, or its type error is reported */
		return;
	path_key(path, sizeof(path), base, key);
	if (raw)
		w_error(w, key_line(parent, key), path, "required key has no value (e.g. %s)", example);
	else
		w_error(w, parent->line, path, "required key is missing (e.g. %s)", example);
}

static bool w_bool(struct walk *w, const struct azds_ynode *v, const char *path, bool *dst)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL };

	if (v->kind == AZDS_YNODE_SCALAR) {
		for (size_t i = 0; yes[i]; i++)
			if (!strcmp(v->str, yes[i]) && (v->plain || i < 3)) {
				*dst = true;
				return true;
			}
		for (size_t i = 0; no[i]; i++)
			if (!strcmp(v->str, no[i]) && (v->plain || i < 3)) {
				*dst = false;
				return true;
			}
	}
	w_error(w, v->line, path, "expected true or false, got %s%s%s%s", kind_name(v),
		v->kind == AZDS_YNODE_SCALAR ? " \"" : "", v->kind == AZDS_YNODE_SCALAR ? v->str : "",
		v->kind == AZDS_YNODE_SCALAR ? "\"" : "");
	return false;
}

/* A sequence of non-empty strings into argv (NULL-terminated); false on a type error. */
static bool w_argv_seq(struct walk *w, const struct azds_ynode *seq, const char *path, struct azds_yaml_argv *dst)
{
	char ipath[AZDS_DIAG_KEY_SZ];
	bool ok = true;

	for (size_t i = 0; i < seq->n_items; i++) {
		const struct azds_ynode *it = seq->items[i];

		if (it->kind != AZDS_YNODE_SCALAR || azds_ynode_is_null(it)) {
			path_idx(ipath, sizeof(ipath), path, i);
			w_error(w, it->line, ipath, "expected a string, got %s", kind_name(it));
			ok = false;
		}
	}
	if (!ok)
		return false;
	if (!seq->n_items) {
		w_error(w, seq->line, path, "is an empty command");
		return false;
	}
	dst->argv = calloc(seq->n_items + 1, sizeof(char *));
	if (!dst->argv) {
		w->nomem = 1;
		return false;
	}
	for (size_t i = 0; i < seq->n_items; i++)
		dst->argv[i] = w_strdup(w, seq->items[i]->str);
	dst->argc = seq->n_items;
	dst->line = seq->line;
	return true;
}

/* A command: a sequence of strings, or one string run by /bin/sh -c. */
static void w_command(struct walk *w, const struct azds_ynode *v, const char *path, struct azds_yaml_argv *dst)
{
	if (v->kind == AZDS_YNODE_SEQ) {
		w_argv_seq(w, v, path, dst);
		return;
	}
	if (v->kind != AZDS_YNODE_SCALAR) {
		w_error(w, v->line, path, "expected a sequence of strings (or one string for /bin/sh -c), got %s",
			kind_name(v));
		return;
	}
	if (!v->str[0]) {
		w_error(w, v->line, path, "is an empty command");
		return;
	}
	dst->argv = calloc(2, sizeof(char *));
	if (!dst->argv) {
		w->nomem = 1;
		return;
	}
	dst->argv[0] = w_strdup(w, v->str);
	dst->argc = 1;
	dst->shell = true;
	dst->line = v->line;
}

static void w_build(struct walk *w, const struct azds_ynode *root)
{
	static const char *const known[] = { "context", "dockerfile", NULL };
	const struct azds_ynode *m = w_map(w, root, "build", "build");

	if (!m)
		return;
	w_unknown(w, m, "build", known, "build takes context and dockerfile");
	w_string(w, m, "context", "build", &w->cfg->build.context);
	w_string(w, m, "dockerfile", "build", &w->cfg->build.dockerfile);
}

static void w_values(struct walk *w, const struct azds_ynode *m)
{
	const struct azds_ynode *v = w_child(m, "values");
	char path[AZDS_DIAG_KEY_SZ];

	if (!v)
		return;
	if (v->kind != AZDS_YNODE_SEQ) {
		w_error(w, v->line, "install.values", "expected a sequence of file names, got %s", kind_name(v));
		return;
	}
	w->cfg->install.values = calloc(v->n_items ? v->n_items : 1, sizeof(*w->cfg->install.values));
	if (!w->cfg->install.values) {
		w->nomem = 1;
		return;
	}
	for (size_t i = 0; i < v->n_items; i++) {
		const struct azds_ynode *it = v->items[i];
		struct azds_yaml_values_file *f = &w->cfg->install.values[w->cfg->install.n_values];
		size_t len;

		path_idx(path, sizeof(path), "install.values", i);
		if (it->kind != AZDS_YNODE_SCALAR || azds_ynode_is_null(it)) {
			w_error(w, it->line, path, "expected a file name, got %s", kind_name(it));
			continue;
		}
		len = it->len;
		f->optional = len && it->str[len - 1] == '?';
		if (f->optional)
			len--;
		if (!len) {
			w_error(w, it->line, path, "is an empty file name");
			continue;
		}
		f->path = strndup(it->str, len);
		if (!f->path)
			w->nomem = 1;
		f->line = it->line;
		w->cfg->install.n_values++;
	}
}

static bool known_var(const char *name, size_t n)
{
	static const char *const names[] = { "tag", "spacePrefix", "rootSpacePrefix", "hostSuffix", NULL };

	for (size_t i = 0; names[i]; i++)
		if (strlen(names[i]) == n && !strncmp(names[i], name, n))
			return true;
	return false;
}

/*
 * An unknown $(name) in install.set is a warning when the file is read (host
 * mode does not render set) and an error when set is rendered for helm.
 */
static void w_set_vars(struct walk *w, const struct azds_ynode *n, const char *path)
{
	char sub[AZDS_DIAG_KEY_SZ];

	if (n->kind == AZDS_YNODE_MAP) {
		for (size_t i = 0; i < n->n_entries; i++) {
			path_key(sub, sizeof(sub), path, n->entries[i].key);
			w_set_vars(w, n->entries[i].value, sub);
		}
		return;
	}
	if (n->kind == AZDS_YNODE_SEQ) {
		for (size_t i = 0; i < n->n_items; i++) {
			path_idx(sub, sizeof(sub), path, i);
			w_set_vars(w, n->items[i], sub);
		}
		return;
	}
	for (const char *p = strstr(n->str, "$("); p; p = strstr(p + 2, "$(")) {
		const char *q = p + 2;

		while (is_name_char(*q))
			q++;
		if (q > p + 2 && *q == ')' && !known_var(p + 2, (size_t)(q - p - 2)))
			w_warn(w, n->line, path,
			       "unknown variable $(%.*s): azds knows $(tag), $(spacePrefix), $(rootSpacePrefix) and "
			       "$(hostSuffix); rendering install.set for helm will fail",
			       (int)(q - p - 2 > 64 ? 64 : q - p - 2), p + 2);
	}
}

static void w_install(struct walk *w, const struct azds_ynode *root)
{
	static const char *const known[] = { "chart", "values", "set", NULL };
	const struct azds_ynode *m = w_map(w, root, "install", "install");
	const struct azds_ynode *set;

	if (!m)
		return;
	w->cfg->install.present = true;
	w->cfg->install.line = m->line;
	w_unknown(w, m, "install", known, "install takes chart, values and set");
	w_required(w, m, "chart", "install", &w->cfg->install.chart, "chart: charts/<name>");
	w_values(w, m);
	set = w_child(m, "set");
	if (set && set->kind != AZDS_YNODE_MAP) {
		w_error(w, set->line, "install.set", "expected a mapping of chart values, got %s", kind_name(set));
	} else if (set) {
		w->cfg->install.set = set;
		w_set_vars(w, set, "install.set");
	}
}

static void w_args(struct walk *w, const struct azds_ynode *b)
{
	const struct azds_ynode *a = w_map(w, b, "args", "configurations.develop.build.args");
	char path[AZDS_DIAG_KEY_SZ];

	if (!a)
		return;
	w->cfg->develop.build.args = calloc(a->n_entries ? a->n_entries : 1, sizeof(*w->cfg->develop.build.args));
	if (!w->cfg->develop.build.args) {
		w->nomem = 1;
		return;
	}
	for (size_t i = 0; i < a->n_entries; i++) {
		const struct azds_ymap_entry *e = &a->entries[i];
		struct azds_yaml_kv *kv = &w->cfg->develop.build.args[w->cfg->develop.build.n_args];

		path_key(path, sizeof(path), "configurations.develop.build.args", e->key);
		if (e->value->kind != AZDS_YNODE_SCALAR) {
			w_error(w, e->value->line, path, "expected a string, got %s", kind_name(e->value));
			continue;
		}
		if (!e->key[0]) {
			w_error(w, e->line, path, "a build arg needs a name");
			continue;
		}
		kv->key = w_strdup(w, e->key);
		kv->value = w_strdup(w, azds_ynode_is_null(e->value) ? "" : e->value->str);
		kv->line = e->line;
		w->cfg->develop.build.n_args++;
	}
}

/* build.ignore: .gitignore lines, kept as written (a leading '!' re-includes) */
static void w_ignore(struct walk *w, const struct azds_ynode *b)
{
	const char *base = "configurations.develop.build.ignore";
	const struct azds_ynode *v = w_child(b, "ignore");
	char path[AZDS_DIAG_KEY_SZ];
	__typeof__(w->cfg->develop.build) *db = &w->cfg->develop.build;

	if (!v)
		return;
	if (v->kind != AZDS_YNODE_SEQ) {
		w_error(w, v->line, base, "expected a sequence of .gitignore lines (e.g. [\"!NuGet.Config\"]), got %s",
			kind_name(v));
		return;
	}
	db->ignore = calloc(v->n_items ? v->n_items : 1, sizeof(*db->ignore));
	if (!db->ignore) {
		w->nomem = 1;
		return;
	}
	for (size_t i = 0; i < v->n_items; i++) {
		const struct azds_ynode *it = v->items[i];

		path_idx(path, sizeof(path), base, i);
		if (it->kind != AZDS_YNODE_SCALAR || azds_ynode_is_null(it) || !it->str[0]) {
			w_error(w, it->line, path, "expected a .gitignore line, got %s",
				it->kind == AZDS_YNODE_SCALAR && !azds_ynode_is_null(it) ? "an empty string"
											 : kind_name(it));
			continue;
		}
		db->ignore[db->n_ignore].v = w_strdup(w, it->str);
		db->ignore[db->n_ignore++].line = it->line;
	}
}

static void w_dev_build(struct walk *w, const struct azds_ynode *dev)
{
	static const char *const known[] = { "dockerfile", "useGitIgnore", "ignore", "args", NULL };
	const char *base = "configurations.develop.build";
	const struct azds_ynode *b = w_map(w, dev, "build", base);
	const struct azds_ynode *v;

	if (!b)
		return;
	w_unknown(w, b, base, known, "develop.build takes dockerfile, useGitIgnore, ignore and args");
	w_string(w, b, "dockerfile", base, &w->cfg->develop.build.dockerfile);
	v = w_child(b, "useGitIgnore");
	if (v && w_bool(w, v, "configurations.develop.build.useGitIgnore", &w->cfg->develop.build.use_gitignore))
		w->cfg->develop.build.use_gitignore_line = v->line;
	w_ignore(w, b);
	w_args(w, b);
}

static void w_sync(struct walk *w, const struct azds_ynode *c)
{
	const char *base = "configurations.develop.container.sync";
	const struct azds_ynode *s = w_child(c, "sync");
	char path[AZDS_DIAG_KEY_SZ];

	if (!s)
		return;
	if (s->kind != AZDS_YNODE_SEQ) {
		w_error(w, s->line, base, "expected a sequence of globs, got %s", kind_name(s));
		return;
	}
	/* the default entry is replaced by the file's list */
	for (size_t i = 0; i < w->cfg->develop.container.n_sync; i++)
		free(w->cfg->develop.container.sync[i].glob);
	free(w->cfg->develop.container.sync);
	w->cfg->develop.container.n_sync = 0;
	w->cfg->develop.container.sync_default = false;
	w->cfg->develop.container.sync = calloc(s->n_items ? s->n_items : 1, sizeof(*w->cfg->develop.container.sync));
	if (!w->cfg->develop.container.sync) {
		w->nomem = 1;
		return;
	}
	for (size_t i = 0; i < s->n_items; i++) {
		const struct azds_ynode *it = s->items[i];
		struct azds_yaml_glob *g = &w->cfg->develop.container.sync[w->cfg->develop.container.n_sync];
		const char *p;

		path_idx(path, sizeof(path), base, i);
		if (it->kind != AZDS_YNODE_SCALAR || azds_ynode_is_null(it)) {
			w_error(w, it->line, path, "expected a glob, got %s", kind_name(it));
			continue;
		}
		p = it->str;
		g->exclude = *p == '!';
		if (g->exclude)
			p++;
		if (!*p) {
			w_error(w, it->line, path, "is an empty glob");
			continue;
		}
		g->glob = w_strdup(w, p);
		g->line = it->line;
		w->cfg->develop.container.n_sync++;
	}
}

/* iterate, or a 1.0 file's refresh (key names which) */
static void w_iterate(struct walk *w, const struct azds_ynode *c, const char *key)
{
	static const char *const known[] = { "processesToKill", "buildCommands", NULL };
	char base[AZDS_DIAG_KEY_SZ], pk_path[AZDS_DIAG_KEY_SZ], bc_path[AZDS_DIAG_KEY_SZ];
	const struct azds_ynode *it;
	const struct azds_ynode *v;
	char path[AZDS_DIAG_KEY_SZ];
	__typeof__(w->cfg->develop.container) *ct = &w->cfg->develop.container;

	path_key(base, sizeof(base), "configurations.develop.container", key);
	path_key(pk_path, sizeof(pk_path), base, "processesToKill");
	path_key(bc_path, sizeof(bc_path), base, "buildCommands");
	it = w_map(w, c, key, base);
	if (!it)
		return;
	w_unknown(w, it, base, known, "iterate takes processesToKill and buildCommands");
	v = w_child(it, "processesToKill");
	if (v && v->kind != AZDS_YNODE_SEQ) {
		w_error(w, v->line, pk_path, "expected a sequence of process names (e.g. [node]), got %s",
			kind_name(v));
	} else if (v) {
		ct->processes_to_kill = calloc(v->n_items ? v->n_items : 1, sizeof(*ct->processes_to_kill));
		if (!ct->processes_to_kill) {
			w->nomem = 1;
			return;
		}
		for (size_t i = 0; i < v->n_items; i++) {
			const struct azds_ynode *p = v->items[i];

			path_idx(path, sizeof(path), pk_path, i);
			if (p->kind != AZDS_YNODE_SCALAR || azds_ynode_is_null(p) || !p->str[0]) {
				w_error(w, p->line, path, "expected a process name, got %s", kind_name(p));
				continue;
			}
			ct->processes_to_kill[ct->n_processes_to_kill].v = w_strdup(w, p->str);
			ct->processes_to_kill[ct->n_processes_to_kill++].line = p->line;
		}
	}
	v = w_child(it, "buildCommands");
	if (v && v->kind != AZDS_YNODE_SEQ) {
		w_error(w, v->line, bc_path, "expected a sequence of commands (each a sequence of strings), got %s",
			kind_name(v));
	} else if (v) {
		ct->build_commands = calloc(v->n_items ? v->n_items : 1, sizeof(*ct->build_commands));
		if (!ct->build_commands) {
			w->nomem = 1;
			return;
		}
		for (size_t i = 0; i < v->n_items; i++) {
			struct azds_yaml_argv a = { 0 };

			path_idx(path, sizeof(path), bc_path, i);
			if (azds_ynode_is_null(v->items[i])) {
				w_error(w, v->items[i]->line, path, "expected a command, got null");
				continue;
			}
			w_command(w, v->items[i], path, &a);
			if (a.argc)
				ct->build_commands[ct->n_build_commands++] = a;
			else
				free(a.argv);
		}
	}
}

static void w_container(struct walk *w, const struct azds_ynode *dev)
{
	static const char *const known[] = { "sync", "command", "iterate", NULL };
	static const char *const known_10[] = { "sync", "command", "iterate", "refresh", "syncTarget", NULL };
	const char *base = "configurations.develop.container";
	const struct azds_ynode *c = w_map(w, dev, "container", base);
	bool v10 = w->cfg->api_version.v && !strcmp(w->cfg->api_version.v, "1.0");
	const struct azds_ynode *v;

	if (!c)
		return;
	w_unknown(w, c, base, v10 ? known_10 : known, "container takes sync, command and iterate");
	w_sync(w, c);
	v = w_child(c, "command");
	if (v)
		w_command(w, v, "configurations.develop.container.command", &w->cfg->develop.container.command);
	if (v10 && w_child(c, "refresh") && !w_child(c, "iterate"))
		w_iterate(w, c, "refresh");
	else
		w_iterate(w, c, "iterate");
	v = v10 ? w_child(c, "syncTarget") : NULL;
	if (v)
		azds_diag_add(w->d, AZDS_DIAG_NOTE, w->cfg->file, v->line, 0,
			      "configurations.develop.container.syncTarget",
			      "%s: host mode puts the workspace at the Dockerfile's last WORKDIR instead",
			      v->kind == AZDS_YNODE_SCALAR ? v->str : "not a path");
}

static void w_configurations(struct walk *w, const struct azds_ynode *root)
{
	static const char *const known_dev[] = { "build", "container", NULL };
	const struct azds_ynode *c = w_map(w, root, "configurations", "configurations");
	const struct azds_ynode *dev;

	if (!c)
		return;
	for (size_t i = 0; i < c->n_entries; i++) {
		char path[AZDS_DIAG_KEY_SZ];

		if (!strcmp(c->entries[i].key, "develop"))
			continue;
		path_key(path, sizeof(path), "configurations", c->entries[i].key);
		w_warn(w, c->entries[i].line, path,
		       "configuration not used, ignored: azds up runs the develop configuration");
	}
	dev = w_map(w, c, "develop", "configurations.develop");
	if (!dev)
		return;
	w_unknown(w, dev, "configurations.develop", known_dev, "develop takes build and container");
	w_dev_build(w, dev);
	w_container(w, dev);
}

static void w_header(struct walk *w, const struct azds_ynode *root)
{
	struct azds_yaml *cfg = w->cfg;

	w_required(w, root, "kind", "", &cfg->kind, "kind: helm-release");
	if (cfg->kind.v && strcmp(cfg->kind.v, "helm-release"))
		w_error(w, cfg->kind.line, "kind", "\"%s\" is not supported: azds reads kind helm-release",
			cfg->kind.v);
	w_required(w, root, "apiVersion", "", &cfg->api_version, "apiVersion: 1.1");
	if (!cfg->api_version.v || !strcmp(cfg->api_version.v, "1.1"))
		return;
	if (!strcmp(cfg->api_version.v, "1.0"))
		/* many real projects were never moved on from 1.0: same keys, plus refresh and syncTarget */
		azds_diag_add(w->d, AZDS_DIAG_NOTE, cfg->file, cfg->api_version.line, 0, "apiVersion",
			      "1.0 is read as 1.1 (its container.refresh as iterate)");
	else
		w_error(w, cfg->api_version.line, "apiVersion",
			"\"%s\" is not supported: azds reads apiVersion 1.1 (and 1.0)", cfg->api_version.v);
}

static int set_defaults(struct azds_yaml *cfg)
{
	cfg->build.context.v = strdup(".");
	cfg->build.dockerfile.v = strdup("Dockerfile");
	cfg->develop.container.sync = calloc(1, sizeof(*cfg->develop.container.sync));
	if (!cfg->build.context.v || !cfg->build.dockerfile.v || !cfg->develop.container.sync)
		return -ENOMEM;
	cfg->develop.container.sync[0].glob = strdup("**/**");
	if (!cfg->develop.container.sync[0].glob)
		return -ENOMEM;
	cfg->develop.container.n_sync = 1;
	cfg->develop.container.sync_default = true;
	cfg->develop.build.use_gitignore = true;
	return 0;
}

static void w_root(struct walk *w, const struct azds_ynode *root)
{
	static const char *const known[] = { "kind", "apiVersion", "build", "install", "configurations", NULL };

	w_unknown(w, root, "", known, "azds.yaml takes kind, apiVersion, build, install and configurations");
	w_header(w, root);
	w_build(w, root);
	w_install(w, root);
	w_configurations(w, root);
	if (!w->cfg->develop.build.dockerfile.v && w->cfg->build.dockerfile.v) {
		w->cfg->develop.build.dockerfile.v = w_strdup(w, w->cfg->build.dockerfile.v);
		w->cfg->develop.build.dockerfile.line = 0;
	}
}

/* ------------------------------------------------------------------ */
/* load, parse, free                                                  */
/* ------------------------------------------------------------------ */

static void argv_free(struct azds_yaml_argv *a)
{
	for (size_t i = 0; a->argv && i < a->argc; i++)
		free(a->argv[i]);
	free(a->argv);
	memset(a, 0, sizeof(*a));
}

void azds_yaml_free(struct azds_yaml *cfg)
{
	if (!cfg)
		return;
	free(cfg->file);
	free(cfg->kind.v);
	free(cfg->api_version.v);
	free(cfg->build.context.v);
	free(cfg->build.dockerfile.v);
	free(cfg->install.chart.v);
	for (size_t i = 0; i < cfg->install.n_values; i++)
		free(cfg->install.values[i].path);
	free(cfg->install.values);
	free(cfg->develop.build.dockerfile.v);
	for (size_t i = 0; i < cfg->develop.build.n_ignore; i++)
		free(cfg->develop.build.ignore[i].v);
	free(cfg->develop.build.ignore);
	for (size_t i = 0; i < cfg->develop.build.n_args; i++) {
		free(cfg->develop.build.args[i].key);
		free(cfg->develop.build.args[i].value);
	}
	free(cfg->develop.build.args);
	for (size_t i = 0; i < cfg->develop.container.n_sync; i++)
		free(cfg->develop.container.sync[i].glob);
	free(cfg->develop.container.sync);
	argv_free(&cfg->develop.container.command);
	for (size_t i = 0; i < cfg->develop.container.n_processes_to_kill; i++)
		free(cfg->develop.container.processes_to_kill[i].v);
	free(cfg->develop.container.processes_to_kill);
	for (size_t i = 0; i < cfg->develop.container.n_build_commands; i++)
		argv_free(&cfg->develop.container.build_commands[i]);
	free(cfg->develop.container.build_commands);
	ynode_free(cfg->root);
	free(cfg);
}

/* The diagnostics one parse added, in line order (stable: the walk reports a section's keys in its own order). */
static void sort_diags(struct azds_diags *d, size_t first)
{
	for (size_t i = first + 1; d && i < d->n; i++) {
		struct azds_diag g = d->items[i];
		size_t j = i;

		while (j > first && d->items[j - 1].line > g.line) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = g;
	}
}

static int parse_buf(const char *name, const char *buf, size_t len, struct azds_yaml **out, struct azds_diags *d);

int azds_yaml_parse(const char *name, const char *buf, size_t len, struct azds_yaml **out, struct azds_diags *d)
{
	size_t first = d ? d->n : 0;
	int rc = parse_buf(name, buf, len, out, d);

	sort_diags(d, first);
	return rc;
}

static int parse_buf(const char *name, const char *buf, size_t len, struct azds_yaml **out, struct azds_diags *d)
{
	struct builder *b;
	struct azds_yaml *cfg;
	struct walk w = { 0 };
	int err, dups;

	*out = NULL;
	if (!name)
		name = "azds.yaml";
	if (len > AZDS_YAML_MAX_BYTES) {
		azds_diag_add(d, AZDS_DIAG_ERROR, name, 0, 0, NULL, "the file is %zu bytes: the limit is %u", len,
			      AZDS_YAML_MAX_BYTES);
		return -EFBIG;
	}
	cfg = calloc(1, sizeof(*cfg));
	b = calloc(1, sizeof(*b));
	if (!cfg || !b || !(cfg->file = strdup(name)) || set_defaults(cfg)) {
		free(b);
		azds_yaml_free(cfg);
		azds_diag_add(d, AZDS_DIAG_ERROR, name, 0, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	b->file = name;
	b->buf = buf;
	b->len = len;
	b->d = d;
	b_run(b);
	cfg->root = b->root;
	err = b->fatal;
	dups = b->errors;
	free(b);
	if (err) /* a syntax error or a limit: the tree is partial, walking it would only add noise */
		goto fail;
	if (!cfg->root || azds_ynode_is_null(cfg->root)) {
		azds_diag_add(d, AZDS_DIAG_ERROR, name, 0, 0, NULL,
			      "the file is empty: azds.yaml needs at least kind: helm-release and apiVersion: 1.1");
		err = -EINVAL;
		goto fail;
	}
	if (cfg->root->kind != AZDS_YNODE_MAP) {
		azds_diag_add(d, AZDS_DIAG_ERROR, name, cfg->root->line, 0, NULL,
			      "expected a mapping (kind, apiVersion, build, install, configurations), got %s",
			      kind_name(cfg->root));
		err = -EINVAL;
		goto fail;
	}
	/* a tree with duplicate keys is whole: walk it to report the rest too */
	w.cfg = cfg;
	w.d = d;
	w_root(&w, cfg->root);
	if (w.nomem) {
		azds_diag_add(d, AZDS_DIAG_ERROR, name, 0, 0, NULL, "out of memory");
		err = -ENOMEM;
		goto fail;
	}
	if (dups || w.errors) {
		err = -EINVAL;
		goto fail;
	}
	*out = cfg;
	return 0;
fail:
	azds_yaml_free(cfg);
	return err ? err : -EINVAL;
}

/* Reads a whole regular file of at most max bytes into a malloc'd buffer. */
static int read_file(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat st;
	size_t n = 0, cap;
	char *p;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if ((uintmax_t)st.st_size > max) {
		err = -EFBIG;
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	p = malloc(cap + 1);
	if (!p) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, p + n, cap - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			free(p);
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) { /* it grew while we read it */
			err = -EFBIG;
			free(p);
			goto out;
		}
		if (n == cap) {
			char *q = realloc(p, cap * 2 + 1);

			if (!q) {
				err = -ENOMEM;
				free(p);
				goto out;
			}
			p = q;
			cap *= 2;
		}
	}
	p[n] = '\0';
	*buf = p;
	*len = n;
out:
	close(fd);
	return err;
}

int azds_yaml_load(const char *path, struct azds_yaml **out, struct azds_diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	err = read_file(path, AZDS_YAML_MAX_BYTES, &buf, &len);
	if (err == -EFBIG) {
		azds_diag_add(d, AZDS_DIAG_ERROR, path, 0, 0, NULL, "the file is larger than the limit of %u bytes",
			      AZDS_YAML_MAX_BYTES);
		return err;
	}
	if (err == -ENOENT) {
		azds_diag_add(d, AZDS_DIAG_ERROR, path, 0, 0, NULL,
			      "no such file (azds prep writes one; azds up runs in the folder that holds azds.yaml)");
		return err;
	}
	if (err) {
		azds_diag_add(d, AZDS_DIAG_ERROR, path, 0, 0, NULL, "cannot read it: %s", strerror(-err));
		return err;
	}
	err = azds_yaml_parse(path, buf, len, out, d);
	free(buf);
	return err;
}

const char *azds_yaml_dockerfile(const struct azds_yaml *cfg)
{
	if (cfg->develop.build.dockerfile.v)
		return cfg->develop.build.dockerfile.v;
	return cfg->build.dockerfile.v ? cfg->build.dockerfile.v : "Dockerfile";
}

int azds_yaml_dockerfile_path(const struct azds_yaml *cfg, const char *dir, char *buf, size_t len)
{
	const char *df = azds_yaml_dockerfile(cfg);
	const char *ctx = cfg->build.context.v ? cfg->build.context.v : ".";
	int n;

	if (df[0] == '/')
		n = snprintf(buf, len, "%s", df);
	else if (ctx[0] == '/' || !dir || !dir[0])
		n = snprintf(buf, len, "%s/%s", ctx, df);
	else
		n = snprintf(buf, len, "%s/%s/%s", dir, ctx, df);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const struct azds_ynode *azds_yaml_set_get(const struct azds_yaml *cfg, const char *path)
{
	return cfg->install.set ? azds_ynode_get(cfg->install.set, path) : NULL;
}

/* ------------------------------------------------------------------ */
/* expansions                                                         */
/* ------------------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t n, cap;
	size_t max; /* 0: AZDS_EXPAND_MAX */
	int err;
};

static void sb_add(struct sbuf *s, const char *str, size_t len)
{
	if (s->err)
		return;
	if (s->n + len > (s->max ? s->max : AZDS_EXPAND_MAX)) {
		s->err = -E2BIG;
		return;
	}
	if (s->n + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 64;
		char *p;

		while (cap < s->n + len + 1)
			cap *= 2;
		p = realloc(s->p, cap);
		if (!p) {
			s->err = -ENOMEM;
			return;
		}
		s->p = p;
		s->cap = cap;
	}
	memcpy(s->p + s->n, str, len);
	s->n += len;
	s->p[s->n] = '\0';
}

static int sb_finish(struct sbuf *s, char **out, char *err, size_t errlen)
{
	if (s->err == -E2BIG)
		snprintf(err, errlen, "expands to more than %u bytes: the limit", AZDS_EXPAND_MAX);
	else if (s->err == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (s->err) {
		free(s->p);
		return s->err;
	}
	if (!s->p)
		sb_add(s, "", 0);
	if (s->err) {
		free(s->p);
		snprintf(err, errlen, "out of memory");
		return s->err;
	}
	*out = s->p;
	return 0;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

int azds_expand_vars(const char *in, const struct azds_yaml_vars *vars, char **out, char *err, size_t errlen)
{
	static const struct azds_yaml_vars none = { 0 };
	struct sbuf s = { 0 };
	const char *p = in;

	if (!vars)
		vars = &none;
	*out = NULL;
	while (*p) {
		const char *q = p + 2, *val = NULL;
		size_t nlen;
		bool known = true;

		if (p[0] != '$' || p[1] != '(') {
			sb_add(&s, p++, 1);
			continue;
		}
		while (is_name_char(*q))
			q++;
		if (q == p + 2 || *q != ')') { /* not $(name): kept for whoever reads it next */
			sb_add(&s, p++, 1);
			continue;
		}
		nlen = (size_t)(q - (p + 2));
		if (nlen == 3 && !strncmp(p + 2, "tag", 3))
			val = vars->tag;
		else if (nlen == 11 && !strncmp(p + 2, "spacePrefix", 11))
			val = vars->space_prefix;
		else if (nlen == 15 && !strncmp(p + 2, "rootSpacePrefix", 15))
			val = vars->root_space_prefix;
		else if (nlen == 10 && !strncmp(p + 2, "hostSuffix", 10))
			val = vars->host_suffix;
		else
			known = false;
		if (!known) {
			snprintf(err, errlen,
				 "unknown variable $(%.*s): azds knows $(tag), $(spacePrefix), $(rootSpacePrefix) and "
				 "$(hostSuffix)",
				 (int)(nlen > 64 ? 64 : nlen), p + 2);
			free(s.p);
			return -EINVAL;
		}
		if (!val) {
			snprintf(err, errlen, "$(%.*s) has no value here", (int)nlen, p + 2);
			free(s.p);
			return -EINVAL;
		}
		sb_add(&s, val, strlen(val));
		p = q + 1;
	}
	return sb_finish(&s, out, err, errlen);
}

#define ENV_MAX_NESTING 16

struct envx {
	azds_env_fn fn;
	void *ctx;
	char *err;
	size_t errlen;
	int rc;
};

static const char *env_word(struct envx *x, const char *p, struct sbuf *s, bool in_brace, unsigned depth);

/* p is just past "${"; returns the char after the closing '}'. */
static const char *env_var(struct envx *x, const char *p, struct sbuf *s, unsigned depth)
{
	const char *name = p, *val;
	struct sbuf word = { 0 };
	bool colon = false, set, nonempty;
	char op = 0, nbuf[256];
	size_t nlen;

	if (depth >= ENV_MAX_NESTING) {
		snprintf(x->err, x->errlen, "${...} nested more than %u deep", ENV_MAX_NESTING);
		x->rc = -EINVAL;
		return NULL;
	}
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_')) {
		snprintf(x->err, x->errlen, "bad substitution ${%.20s: a variable name starts with a letter or _", p);
		x->rc = -EINVAL;
		return NULL;
	}
	while (is_name_char(*p))
		p++;
	nlen = (size_t)(p - name);
	if (nlen >= sizeof(nbuf)) {
		snprintf(x->err, x->errlen, "variable name longer than %zu bytes", sizeof(nbuf) - 1);
		x->rc = -EINVAL;
		return NULL;
	}
	memcpy(nbuf, name, nlen);
	nbuf[nlen] = '\0';
	if (*p == ':') {
		colon = true;
		p++;
	}
	if (*p == '-' || *p == '+' || *p == '?') {
		op = *p++;
		p = env_word(x, p, &word, true, depth + 1);
		if (!p) {
			free(word.p);
			return NULL;
		}
		if (word.err) {
			s->err = word.err;
			free(word.p);
			return p;
		}
	} else if (!*p) {
		snprintf(x->err, x->errlen, "${%s: no closing }", nbuf);
		x->rc = -EINVAL;
		return NULL;
	} else if (colon || *p != '}') {
		snprintf(x->err, x->errlen,
			 "bad substitution ${%s%s%.10s: azds reads ${VAR}, ${VAR:-x}, ${VAR-x}, "
			 "${VAR:+x}, ${VAR+x}, ${VAR:?msg}, ${VAR?msg}",
			 nbuf, colon ? ":" : "", p);
		x->rc = -EINVAL;
		return NULL;
	}
	if (*p != '}') {
		snprintf(x->err, x->errlen, "${%s: no closing }", nbuf);
		x->rc = -EINVAL;
		free(word.p);
		return NULL;
	}
	p++;
	val = x->fn ? x->fn(nbuf, x->ctx) : NULL;
	set = val != NULL;
	nonempty = set && val[0];
	switch (op) {
	case 0:
		if (set)
			sb_add(s, val, strlen(val));
		break;
	case '-':
		if (colon ? nonempty : set)
			sb_add(s, val, strlen(val));
		else if (word.p)
			sb_add(s, word.p, word.n);
		break;
	case '+':
		if ((colon ? nonempty : set) && word.p)
			sb_add(s, word.p, word.n);
		break;
	case '?':
		if (colon ? nonempty : set) {
			sb_add(s, val, strlen(val));
			break;
		}
		snprintf(x->err, x->errlen, "%s: %s", nbuf,
			 word.p && word.n ? word.p : (colon && set ? "is empty" : "is not set"));
		x->rc = -EINVAL;
		free(word.p);
		return NULL;
	}
	free(word.p);
	return p;
}

/* Expands up to the end (or, in a ${...} default, up to its '}'). */
static const char *env_word(struct envx *x, const char *p, struct sbuf *s, bool in_brace, unsigned depth)
{
	while (*p) {
		if (in_brace && *p == '}')
			return p;
		if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
			sb_add(s, "${", 2);
			p += 3;
			continue;
		}
		if (p[0] == '$' && p[1] == '{') {
			p = env_var(x, p + 2, s, depth);
			if (!p)
				return NULL;
			continue;
		}
		sb_add(s, p++, 1);
	}
	if (in_brace) {
		snprintf(x->err, x->errlen, "${...: no closing }");
		x->rc = -EINVAL;
		return NULL;
	}
	return p;
}

int azds_expand_env(const char *in, azds_env_fn env, void *ctx, char **out, char *err, size_t errlen)
{
	struct envx x = { .fn = env, .ctx = ctx, .err = err, .errlen = errlen };
	struct sbuf s = { 0 };

	*out = NULL;
	if (!env_word(&x, in, &s, false, 0)) {
		free(s.p);
		return x.rc ? x.rc : -EINVAL;
	}
	return sb_finish(&s, out, err, errlen);
}

static int expand_in_place(struct azds_yaml *cfg, char **str, unsigned line, const char *path, azds_env_fn env,
			   void *ctx, struct azds_diags *d)
{
	char err[256] = "";
	char *out;
	int rc = azds_expand_env(*str, env, ctx, &out, err, sizeof(err));

	if (rc) {
		azds_diag_add(d, AZDS_DIAG_ERROR, cfg->file, line, 0, path, "%s", err);
		return rc;
	}
	free(*str);
	*str = out;
	return 0;
}

static int expand_argv(struct azds_yaml *cfg, struct azds_yaml_argv *a, const char *path, azds_env_fn env, void *ctx,
		       struct azds_diags *d)
{
	char ipath[AZDS_DIAG_KEY_SZ];
	int rc = 0;

	for (size_t i = 0; i < a->argc; i++) {
		if (a->shell)
			snprintf(ipath, sizeof(ipath), "%s", path);
		else
			path_idx(ipath, sizeof(ipath), path, i);
		if (expand_in_place(cfg, &a->argv[i], a->line, ipath, env, ctx, d))
			rc = -EINVAL;
	}
	return rc;
}

int azds_yaml_expand_env(struct azds_yaml *cfg, azds_env_fn env, void *ctx, struct azds_diags *d)
{
	char path[AZDS_DIAG_KEY_SZ];
	int rc = 0;

	for (size_t i = 0; i < cfg->develop.build.n_args; i++) {
		struct azds_yaml_kv *kv = &cfg->develop.build.args[i];

		path_key(path, sizeof(path), "configurations.develop.build.args", kv->key);
		if (expand_in_place(cfg, &kv->value, kv->line, path, env, ctx, d))
			rc = -EINVAL;
	}
	if (expand_argv(cfg, &cfg->develop.container.command, "configurations.develop.container.command", env, ctx, d))
		rc = -EINVAL;
	for (size_t i = 0; i < cfg->develop.container.n_build_commands; i++) {
		path_idx(path, sizeof(path), "configurations.develop.container.iterate.buildCommands", i);
		if (expand_argv(cfg, &cfg->develop.container.build_commands[i], path, env, ctx, d))
			rc = -EINVAL;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* rendering install.set                                              */
/* ------------------------------------------------------------------ */

struct render {
	const struct azds_yaml *cfg;
	const struct azds_yaml_vars *vars;
	struct azds_diags *d;
	struct sbuf out;
	int errors;
};

static void r_quoted(struct render *r, const char *s)
{
	sb_add(&r->out, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			sb_add(&r->out, esc, 2);
		} else if (c == '\n') {
			sb_add(&r->out, "\\n", 2);
		} else if (c == '\t') {
			sb_add(&r->out, "\\t", 2);
		} else if (c == '\r') {
			sb_add(&r->out, "\\r", 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			sb_add(&r->out, esc, 4);
		} else {
			sb_add(&r->out, (const char *)&c, 1);
		}
	}
	sb_add(&r->out, "\"", 1);
}

/*
 * A key as it is when a YAML reader can only take it as that string
 * (letters, digits, "_./-", not a word YAML 1.1 reads as a bool or null),
 * else double-quoted: "<<", "true", "1" or "a: b" stay keys of text.
 */
static void r_key(struct render *r, const char *k)
{
	static const char *const words[] = { "y", "n", "yes", "no", "on", "off", "true", "false", "null", NULL };
	bool safe = isalpha((unsigned char)k[0]) || k[0] == '_';

	for (const char *p = k; safe && *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_./-", *p))
			safe = false;
	for (size_t i = 0; safe && words[i]; i++)
		if (!strcasecmp(k, words[i]))
			safe = false;
	if (safe)
		sb_add(&r->out, k, strlen(k));
	else
		r_quoted(r, k);
}

static void r_indent(struct render *r, unsigned indent)
{
	for (unsigned i = 0; i < indent; i++)
		sb_add(&r->out, " ", 1);
}

static void r_node(struct render *r, const struct azds_ynode *n, unsigned indent, const char *path);

/* A scalar after "key:" or "-": " value\n". */
static void r_scalar(struct render *r, const struct azds_ynode *n, const char *path)
{
	char err[256] = "";
	char *v;

	if (azds_expand_vars(n->str, r->vars, &v, err, sizeof(err))) {
		azds_diag_add(r->d, AZDS_DIAG_ERROR, r->cfg->file, n->line, 0, path, "%s", err);
		r->errors++;
		sb_add(&r->out, " null\n", 6);
		return;
	}
	sb_add(&r->out, " ", 1);
	if (n->plain && !n->len)
		sb_add(&r->out, "null", 4);
	else if (n->plain && !strcmp(v, n->str)) /* unchanged: as written, so its YAML type stays */
		sb_add(&r->out, v, strlen(v));
	else
		r_quoted(r, v); /* changed by an expansion, or quoted: a string */
	sb_add(&r->out, "\n", 1);
	free(v);
}

static void r_value(struct render *r, const struct azds_ynode *v, unsigned indent, const char *path)
{
	if (v->kind == AZDS_YNODE_SCALAR) {
		r_scalar(r, v, path);
	} else if (v->kind == AZDS_YNODE_MAP && !v->n_entries) {
		sb_add(&r->out, " {}\n", 4);
	} else if (v->kind == AZDS_YNODE_SEQ && !v->n_items) {
		sb_add(&r->out, " []\n", 4);
	} else {
		sb_add(&r->out, "\n", 1);
		r_node(r, v, indent + 2, path);
	}
}

static void r_node(struct render *r, const struct azds_ynode *n, unsigned indent, const char *path)
{
	char sub[AZDS_DIAG_KEY_SZ];

	if (n->kind == AZDS_YNODE_MAP) {
		for (size_t i = 0; i < n->n_entries; i++) {
			path_key(sub, sizeof(sub), path, n->entries[i].key);
			r_indent(r, indent);
			r_key(r, n->entries[i].key);
			sb_add(&r->out, ":", 1);
			r_value(r, n->entries[i].value, indent, sub);
		}
	} else if (n->kind == AZDS_YNODE_SEQ) {
		for (size_t i = 0; i < n->n_items; i++) {
			path_idx(sub, sizeof(sub), path, i);
			r_indent(r, indent);
			sb_add(&r->out, "-", 1);
			r_value(r, n->items[i], indent, sub);
		}
	}
}

/* set holds at most a file's worth of nodes; each may grow by its expansions */
#define RENDER_MAX (4u * AZDS_YAML_MAX_BYTES)

int azds_yaml_render_set(const struct azds_yaml *cfg, const struct azds_yaml_vars *vars, char **out,
			 struct azds_diags *d)
{
	struct render r = { .cfg = cfg, .vars = vars, .d = d, .out = { .max = RENDER_MAX } };
	char err[64];

	*out = NULL;
	if (!cfg->install.set || !cfg->install.set->n_entries)
		sb_add(&r.out, "{}\n", 3);
	else
		r_node(&r, cfg->install.set, 0, "install.set");
	if (r.errors) {
		free(r.out.p);
		return -EINVAL;
	}
	if (r.out.err == -E2BIG) {
		free(r.out.p);
		azds_diag_add(d, AZDS_DIAG_ERROR, cfg->file, cfg->install.set->line, 0, "install.set",
			      "renders to more than %u bytes: the limit", RENDER_MAX);
		return -EINVAL;
	}
	return sb_finish(&r.out, out, err, sizeof(err));
}
