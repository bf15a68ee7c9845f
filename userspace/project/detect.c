// SPDX-License-Identifier: MIT
/*
 * Language detection for azds prep (the rules are in detect.h), and the
 * small readers of package.json, pom.xml, *.csproj, go.mod, Makefile and
 * CMakeLists.txt it needs. The readers find a few fields and nothing more:
 * a manifest they cannot read costs a note and a default, never a failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "detect.h"

#define NEST_MAX 64   /* JSON and XML nesting the readers follow */
#define PROJS_MAX 8   /* .NET project files remembered for the message */

static const struct {
	const char *key, *name, *markers;
} langs[AZDS_LANG_COUNT] = {
	[AZDS_LANG_NONE] = { "", "?", "" },
	[AZDS_LANG_DOTNET] = { "dotnet", ".NET", "*.csproj or *.fsproj" },
	[AZDS_LANG_JAVA] = { "java", "Java with Maven", "pom.xml" },
	[AZDS_LANG_GO] = { "go", "Go", "go.mod" },
	[AZDS_LANG_NODE] = { "node", "Node.js", "package.json" },
	[AZDS_LANG_PYTHON] = { "python", "Python", "requirements.txt, pyproject.toml, setup.py or *.py" },
	[AZDS_LANG_C_CMAKE] = { "c-cmake", "C with CMake", "CMakeLists.txt" },
	[AZDS_LANG_C_MAKE] = { "c-make", "C with Make", "Makefile" },
};

const char *azds_lang_name(enum azds_lang l)
{
	return l > AZDS_LANG_NONE && l < AZDS_LANG_COUNT ? langs[l].name : "?";
}

const char *azds_lang_key(enum azds_lang l)
{
	return l > AZDS_LANG_NONE && l < AZDS_LANG_COUNT ? langs[l].key : "";
}

enum azds_lang azds_lang_parse(const char *key)
{
	for (int l = AZDS_LANG_NONE + 1; key && l < AZDS_LANG_COUNT; l++)
		if (!strcmp(key, langs[l].key))
			return l;
	return AZDS_LANG_NONE;
}

const char *azds_lang_keys(void)
{
	return "node|python|go|java|dotnet|c-cmake|c-make";
}

const char *azds_detect_looks_for(void)
{
	return "package.json (Node.js); requirements.txt, pyproject.toml, setup.py or *.py (Python); go.mod (Go); "
	       "pom.xml (Java with Maven); *.csproj or *.fsproj (.NET); CMakeLists.txt (C with CMake); "
	       "Makefile (C with Make)";
}

static void note(struct azds_project *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct azds_project *p, const char *fmt, ...)
{
	va_list ap;

	if (p->nnotes >= AZDS_DETECT_NOTES) {
		p->notes_dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(p->notes[p->nnotes++], AZDS_DETECT_NOTE_MAX, fmt, ap);
	va_end(ap);
}

/* names ----------------------------------------------------------------- */

int azds_dns_label(const char *in, char *out, size_t len)
{
	size_t o = 0, max = len - 1 < AZDS_LABEL_MAX ? len - 1 : AZDS_LABEL_MAX;
	bool gap = false;

	if (len < 2)
		return -EINVAL;
	for (const unsigned char *s = (const unsigned char *)in; *s; s++) {
		int c = tolower(*s);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
			gap = true;
			continue;
		}
		/* one '-' for a run of anything else, none before the first character,
		 * and never a '-' as the last one the length allows */
		if (gap && o) {
			if (o + 2 > max)
				break;
			out[o++] = '-';
		}
		gap = false;
		if (o >= max)
			break;
		out[o++] = (char)c;
	}
	while (o && out[o - 1] == '-')
		o--;
	out[o] = 0;
	if (!o)
		return -EINVAL;
	if (out[0] >= '0' && out[0] <= '9') {
		size_t keep = o + 4 > max ? max - 4 : o;

		memmove(out + 4, out, keep);
		memcpy(out, "app-", 4);
		o = keep + 4;
		while (out[o - 1] == '-')
			o--;
		out[o] = 0;
	}
	return 0;
}

int azds_label_valid(const char *what, const char *name, struct azds_err *e)
{
	size_t n = name ? strlen(name) : 0;
	bool ok = n >= 1 && n <= AZDS_LABEL_MAX && name[0] >= 'a' && name[0] <= 'z' && name[n - 1] != '-';

	for (size_t i = 0; ok && i < n; i++)
		ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-';
	if (ok)
		return 0;
	return azds_err(e, EINVAL,
			"%s \"%s\": must be 1-%d characters of a-z, 0-9 and '-', starting with a letter and not "
			"ending with '-' (a DNS label, as Kubernetes wants a service's name)",
			what, name ? name : "", AZDS_LABEL_MAX);
}

/* characters the generator may put in a Dockerfile or a YAML list unquoted-safe */
static bool safe_word(const char *s)
{
	if (!*s || *s == '-' || *s == '/' || strstr(s, ".."))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._+-/", *s))
			return false;
	return true;
}

/* file reading ------------------------------------------------------------ */

/* a regular file (or a link to one) at the folder's top level */
static bool is_file(int dfd, const char *name)
{
	struct stat st;

	return !fstatat(dfd, name, &st, 0) && S_ISREG(st.st_mode);
}

/* reads a whole small file, NUL-terminated; -EFBIG past AZDS_DETECT_FILE_MAX */
static int read_small(int dfd, const char *name, char **out, size_t *outlen)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap + 1);
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0 || !buf) {
		err = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= AZDS_DETECT_FILE_MAX) {
				err = -EFBIG;
				goto out;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = 0;
	*out = buf;
	*outlen = len;
	buf = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}

/* reads name for a reader; a note says why not when it cannot */
static char *manifest(struct azds_project *p, int dfd, const char *name, size_t *len)
{
	char *buf = NULL;
	int err = read_small(dfd, name, &buf, len);

	if (err == -EFBIG)
		note(p, "%s is larger than %d bytes: not read, defaults used", name, AZDS_DETECT_FILE_MAX);
	else if (err)
		note(p, "cannot read %s (%s): defaults used", name, strerror(-err));
	return err ? NULL : buf;
}

static void copy_trim(char *out, size_t n, const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	snprintf(out, n, "%.*s", (int)len, s);
}

/* JSON: the string at a path of object keys ------------------------------ */

struct jp {
	const char *p, *end;
	int depth;
};

static void jws(struct jp *j)
{
	while (j->p < j->end && isspace((unsigned char)*j->p))
		j->p++;
}

static int jhex(const char *s)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		int c = tolower((unsigned char)s[i]);

		if (!isxdigit(c))
			return -1;
		v = v * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return v;
}

/* a string at j->p into out (NULL: skipped); non-ASCII escapes become '?' */
static int jstring(struct jp *j, char *out, size_t n)
{
	size_t o = 0;

	if (j->p >= j->end || *j->p != '"')
		return -EINVAL;
	for (j->p++; j->p < j->end && *j->p != '"';) {
		char c = *j->p++;

		if (c == '\\') {
			if (j->p >= j->end)
				return -EINVAL;
			c = *j->p++;
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c == 'r' || c == 'b' || c == 'f')
				c = ' ';
			else if (c == 'u') {
				int v = j->end - j->p >= 4 ? jhex(j->p) : -1;

				if (v < 0)
					return -EINVAL;
				c = v > 0 && v < 0x80 ? (char)v : '?';
				j->p += 4;
			}
		}
		if (out && o + 1 < n)
			out[o++] = c;
	}
	if (j->p >= j->end)
		return -EINVAL;
	j->p++;
	if (out)
		out[o] = 0;
	return 0;
}

static int jskip(struct jp *j)
{
	char close;

	jws(j);
	if (j->p >= j->end)
		return -EINVAL;
	if (*j->p == '"')
		return jstring(j, NULL, 0);
	if (*j->p != '{' && *j->p != '[') {
		const char *start = j->p;

		while (j->p < j->end && !strchr(",}] \t\r\n", *j->p))
			j->p++;
		return j->p > start ? 0 : -EINVAL;
	}
	close = *j->p == '{' ? '}' : ']';
	if (++j->depth > NEST_MAX)
		return -E2BIG;
	for (j->p++;;) {
		jws(j);
		if (j->p < j->end && *j->p == close)
			break;
		if (close == '}') {
			if (jstring(j, NULL, 0))
				return -EINVAL;
			jws(j);
			if (j->p >= j->end || *j->p != ':')
				return -EINVAL;
			j->p++;
		}
		if (jskip(j))
			return -EINVAL;
		jws(j);
		if (j->p < j->end && *j->p == ',')
			j->p++;
		else if (j->p >= j->end || *j->p != close)
			return -EINVAL;
	}
	j->p++;
	j->depth--;
	return 0;
}

/*
 * The string at path (keys from the top object, NULL-terminated): 0,
 * -ENOENT when absent, -EMEDIUMTYPE when not a string, -EINVAL when the
 * document is not JSON as far as it was read.
 */
static int json_get(const char *doc, size_t len, const char *const *path, char *out, size_t n)
{
	struct jp j = { doc, doc + len, 0 };
	const char *const *top = path;
	char key[256];

	if (len >= 3 && !memcmp(doc, "\xef\xbb\xbf", 3))
		j.p += 3;
	for (; *path; path++) {
		jws(&j);
		/* the document not an object is broken; a value on the way not one just lacks the key */
		if (j.p >= j.end || *j.p != '{')
			return path == top ? -EINVAL : -ENOENT;
		for (j.p++;;) {
			jws(&j);
			if (j.p < j.end && *j.p == '}')
				return -ENOENT;
			if (jstring(&j, key, sizeof(key)))
				return -EINVAL;
			jws(&j);
			if (j.p >= j.end || *j.p != ':')
				return -EINVAL;
			j.p++;
			if (!strcmp(key, *path))
				break;
			if (jskip(&j))
				return -EINVAL;
			jws(&j);
			if (j.p < j.end && *j.p == ',')
				j.p++;
			else if (j.p >= j.end || *j.p != '}')
				return -EINVAL;
		}
	}
	jws(&j);
	if (j.p >= j.end)
		return -EINVAL;
	if (*j.p != '"')
		return -EMEDIUMTYPE;
	return jstring(&j, out, n);
}

/* XML: the text of the first element at a path of names ------------------ */

/* 0 and the trimmed text; -ENOENT when absent; -EINVAL for broken markup */
static int xml_get(const char *doc, const char *const *path, char *out, size_t n)
{
	int depth = 0, matched = 0, plen = 0;
	const char *p = doc;

	while (path[plen])
		plen++;
	while ((p = strchr(p, '<'))) {
		const char *name, *q;
		bool closing, empty;
		size_t nl;
		char quote = 0;

		if (!strncmp(p, "<!--", 4) || !strncmp(p, "<![CDATA[", 9)) {
			const char *end = p[2] == '-' ? "-->" : "]]>";

			p = strstr(p + 4, end);
			if (!p)
				return -EINVAL;
			p += 3;
			continue;
		}
		if (p[1] == '?' || p[1] == '!') {
			p = strchr(p, '>');
			if (!p)
				return -EINVAL;
			p++;
			continue;
		}
		closing = p[1] == '/';
		name = p + 1 + closing;
		nl = strcspn(name, " \t\r\n/>");
		/* the tag's end, past attribute values that may hold '>' */
		for (q = name + nl; *q && (quote || *q != '>'); q++)
			if (quote && *q == quote)
				quote = 0;
			else if (!quote && (*q == '"' || *q == '\''))
				quote = *q;
		if (!*q)
			return -EINVAL;
		empty = q[-1] == '/';
		p = q + 1;
		if (closing) {
			if (!depth)
				return -EINVAL;
			if (matched == depth)
				matched--;
			depth--;
			continue;
		}
		if (empty)
			continue;
		if (++depth > NEST_MAX)
			return -E2BIG;
		if (matched == depth - 1 && matched < plen && strlen(path[matched]) == nl &&
		    !strncmp(name, path[matched], nl) && ++matched == plen) {
			const char *end = strchr(p, '<');

			if (!end)
				return -EINVAL;
			copy_trim(out, n, p, end - p);
			return 0;
		}
	}
	return -ENOENT;
}

/* the readers -------------------------------------------------------------- */

/* the name from raw (found in where); the raw text is shown when it differs from the label */
static void name_from(struct azds_project *p, const char *raw, const char *where, bool show_raw)
{
	char label[AZDS_LABEL_MAX + 1];

	if (azds_dns_label(raw, label, sizeof(label))) {
		note(p, "%s \"%.100s\" makes no DNS label: the folder's name is used", where, raw);
		return;
	}
	memcpy(p->name, label, sizeof(label));
	if (show_raw && strcmp(raw, p->name))
		snprintf(p->name_from, sizeof(p->name_from), "%s (%.100s)", where, raw);
	else
		snprintf(p->name_from, sizeof(p->name_from), "%s", where);
}

static void read_node(struct azds_project *p, int dfd)
{
	static const char *const k_name[] = { "name", NULL }, *const k_start[] = { "scripts", "start", NULL },
				 *const k_main[] = { "main", NULL };
	char name[256], start[8], mainjs[256];
	size_t len;
	char *doc = manifest(p, dfd, "package.json", &len);
	int err;

	if (!doc) {
		p->node_start = true;
		return;
	}
	err = json_get(doc, len, k_name, name, sizeof(name));
	if (err == -EINVAL || err == -E2BIG) {
		note(p, "package.json is not JSON azds prep can read: defaults used");
		p->node_start = true;
		free(doc);
		return;
	}
	if (!err) {
		/* a scoped package "@acme/web" is named "web" within its scope */
		const char *slash = name[0] == '@' ? strchr(name, '/') : NULL;

		name_from(p, slash ? slash + 1 : name, "package.json \"name\"", true);
	}
	p->node_start = json_get(doc, len, k_start, start, sizeof(start)) != -ENOENT;
	if (!p->node_start && !json_get(doc, len, k_main, mainjs, sizeof(mainjs))) {
		if (safe_word(mainjs))
			snprintf(p->entry, sizeof(p->entry), "%s", mainjs);
		else
			note(p, "package.json \"main\" \"%.100s\" is not a plain path: CMD runs npm start", mainjs);
	}
	if (!p->node_start && !p->entry[0]) {
		p->node_start = true;
		note(p, "package.json has no scripts.start and no \"main\": npm start runs node server.js");
	}
	free(doc);
}

static void read_maven(struct azds_project *p, int dfd)
{
	static const char *const k_art[] = { "project", "artifactId", NULL },
				 *const k_ver[] = { "project", "version", NULL },
				 *const k_pver[] = { "project", "parent", "version", NULL },
				 *const k_pack[] = { "project", "packaging", NULL },
				 *const k_final[] = { "project", "build", "finalName", NULL };
	static const char *const k_java[][4] = {
		{ "project", "properties", "java.version", NULL },
		{ "project", "properties", "maven.compiler.release", NULL },
		{ "project", "properties", "maven.compiler.target", NULL },
		{ "project", "properties", "maven.compiler.source", NULL },
	};
	char art[256] = "", ver[128] = "", val[128];
	size_t len;
	char *doc = manifest(p, dfd, "pom.xml", &len);

	snprintf(p->project_file, sizeof(p->project_file), "pom.xml");
	snprintf(p->version, sizeof(p->version), "17");
	if (!doc)
		goto jar;
	if (xml_get(doc, k_art, art, sizeof(art)) == -EINVAL) {
		note(p, "pom.xml is not XML azds prep can read: defaults used");
		art[0] = 0;
		goto jar;
	}
	if (art[0] && !strstr(art, "${"))
		name_from(p, art, "pom.xml <artifactId>", true);
	if (xml_get(doc, k_ver, ver, sizeof(ver)))
		xml_get(doc, k_pver, ver, sizeof(ver));
	if (!xml_get(doc, k_pack, val, sizeof(val)) && strcmp(val, "jar"))
		note(p, "pom.xml <packaging> is %.60s, not jar: the Dockerfiles run a jar; edit them", val);
	for (size_t i = 0; i < sizeof(k_java) / sizeof(k_java[0]); i++) {
		const char *v;

		if (xml_get(doc, k_java[i], val, sizeof(val)))
			continue;
		/* "1.8" is Java 8 */
		v = !strncmp(val, "1.", 2) ? val + 2 : val;
		if (strspn(v, "0123456789") == strlen(v) && *v && atoi(v) >= 8 && atoi(v) < 100)
			snprintf(p->version, sizeof(p->version), "%s", v);
		break;
	}
	if (!xml_get(doc, k_final, val, sizeof(val)) && safe_word(val) && !strchr(val, '/')) {
		snprintf(p->jar, sizeof(p->jar), "target/%s.jar", val);
		free(doc);
		return;
	}
jar:
	free(doc);
	if (!art[0] || !safe_word(art) || strchr(art, '/')) {
		snprintf(p->jar, sizeof(p->jar), "target/*.jar");
		note(p, "no literal <artifactId> in pom.xml: the Dockerfiles run target/*.jar");
	} else if (!ver[0] || !safe_word(ver) || strchr(ver, '/')) {
		snprintf(p->jar, sizeof(p->jar), "target/%s-*.jar", art);
	} else {
		snprintf(p->jar, sizeof(p->jar), "target/%s-%s.jar", art, ver);
	}
}

static void read_dotnet(struct azds_project *p, int dfd)
{
	static const char *const k_asm[] = { "Project", "PropertyGroup", "AssemblyName", NULL },
				 *const k_tf[] = { "Project", "PropertyGroup", "TargetFramework", NULL },
				 *const k_tfs[] = { "Project", "PropertyGroup", "TargetFrameworks", NULL };
	const char *file = p->project_file, *dot = strrchr(file, '.'), *v;
	char val[256];
	size_t len;
	char *doc;

	snprintf(p->program, sizeof(p->program), "%.*s", (int)(dot - file), file);
	name_from(p, p->program, file, false);
	snprintf(p->version, sizeof(p->version), "8.0");
	doc = manifest(p, dfd, file, &len);
	if (!doc)
		return;
	if (!xml_get(doc, k_asm, val, sizeof(val)) && !strstr(val, "$(")) {
		if (safe_word(val) && !strchr(val, '/'))
			snprintf(p->program, sizeof(p->program), "%s", val);
		else
			note(p, "%s <AssemblyName> \"%.60s\" is not a plain name: CMD runs %s.dll", file, val,
			     p->program);
	}
	val[0] = 0;
	if (xml_get(doc, k_tf, val, sizeof(val)) && xml_get(doc, k_tfs, val, sizeof(val)) == 0)
		val[strcspn(val, ";")] = 0; /* the first of several */
	/* net8.0, net8.0-windows, netcoreapp3.1: the images are tagged 8.0, 3.1 */
	v = !strncmp(val, "netcoreapp", 10) ? val + 10 : !strncmp(val, "net", 3) ? val + 3 : NULL;
	if (v && isdigit((unsigned char)v[0]) && strchr(v, '.')) {
		size_t n = strspn(v, "0123456789.");

		snprintf(p->version, sizeof(p->version), "%.*s", (int)n, v);
	} else if (val[0]) {
		note(p, "%s targets %.40s, which has no Linux image: the Dockerfiles use .NET %s", file, val,
		     p->version);
	}
	free(doc);
}

/* the next line of buf (modified in place), NULL at the end */
static char *next_line(char **cur)
{
	char *s = *cur, *nl;

	if (!s || !*s)
		return NULL;
	nl = strchr(s, '\n');
	if (nl) {
		*nl = 0;
		*cur = nl + 1;
	} else {
		*cur = s + strlen(s);
	}
	nl = strchr(s, '\r');
	if (nl)
		*nl = 0;
	return s;
}

static void read_go(struct azds_project *p, int dfd)
{
	size_t len;
	char *doc = manifest(p, dfd, "go.mod", &len), *cur = doc, *line;

	snprintf(p->program, sizeof(p->program), "app");
	while ((line = next_line(&cur))) {
		line += strspn(line, " \t");
		if (!strncmp(line, "go ", 3) || !strncmp(line, "go\t", 3)) {
			char *v = line + 3 + strspn(line + 3, " \t");
			size_t major = strspn(v, "0123456789"), minor;

			if (major && v[major] == '.' && (minor = strspn(v + major + 1, "0123456789")))
				snprintf(p->version, sizeof(p->version), "%.*s", (int)(major + 1 + minor), v);
		}
	}
	free(doc);
}

/* Make's default goal: the first target not starting with '.', or the
 * first prerequisite of an "all" rule; $(VAR) resolved from a plain
 * assignment. "" when it cannot tell. */
struct mkvar {
	char name[64], value[256];
};

static const char *mk_resolve(const char *word, const struct mkvar *v, int nv)
{
	size_t n = strlen(word);

	if (n > 3 && word[0] == '$' && (word[1] == '(' || word[1] == '{') && (word[n - 1] == ')' || word[n - 1] == '}'))
		for (int i = 0; i < nv; i++)
			if (strlen(v[i].name) == n - 3 && !strncmp(word + 2, v[i].name, n - 3))
				return v[i].value;
	return word;
}

static void read_make(struct azds_project *p, int dfd, const char *file)
{
	struct mkvar vars[32];
	char goal[256] = "", prereq[256] = "", *cur, *line;
	int nv = 0;
	size_t len;
	char *doc = manifest(p, dfd, file, &len);

	cur = doc;
	while ((line = next_line(&cur))) {
		char *colon, *eq;

		if (line[0] == '\t' || line[0] == '#' || !line[0])
			continue;
		eq = strchr(line, '=');
		colon = strchr(line, ':');
		if (eq && (!colon || eq < colon || (colon + 1 == eq))) {
			/* NAME = value, NAME := value, NAME ?= value */
			char *name_end = eq;

			while (name_end > line && strchr(":?+ \t", name_end[-1]))
				name_end--;
			if (nv < 32 && name_end > line && name_end - line < 64) {
				char *val = eq + 1 + strspn(eq + 1, " \t");

				snprintf(vars[nv].name, sizeof(vars[nv].name), "%.*s", (int)(name_end - line), line);
				snprintf(vars[nv].value, sizeof(vars[nv].value), "%.*s", (int)strcspn(val, " \t#"), val);
				nv++;
			}
			continue;
		}
		/* make's default goal is never a special (.PHONY) or pattern (%.o) target */
		if (!colon || goal[0] || line[0] == '.' || memchr(line, '%', colon - line))
			continue;
		/* the first rule: its first target, and its first prerequisite */
		snprintf(goal, sizeof(goal), "%.*s", (int)strcspn(line, " \t:"), line);
		colon += 1 + (colon[1] == ':');
		colon += strspn(colon, " \t");
		snprintf(prereq, sizeof(prereq), "%.*s", (int)strcspn(colon, " \t;|#"), colon);
		if (!strncmp(goal, "include", 7) || !strncmp(goal, "export", 6) || !strncmp(goal, "if", 2) ||
		    !strncmp(goal, "define", 6))
			goal[0] = 0;
	}
	free(doc);
	if (!strcmp(goal, "all") || !strcmp(goal, "build") || !strcmp(goal, "default"))
		snprintf(goal, sizeof(goal), "%s", prereq);
	{
		const char *prog = mk_resolve(goal, vars, nv);

		if (prog[0] && safe_word(prog) && !strchr(prog, '%') && !strchr(prog, '$')) {
			snprintf(p->program, sizeof(p->program), "%s", prog);
			return;
		}
	}
	snprintf(p->program, sizeof(p->program), "%s", p->name[0] ? p->name : "app");
	note(p, "cannot tell which program %s builds: the Dockerfiles run ./%s; edit them if it is another",
	     file, p->program);
}

/* the first add_executable(NAME ...) at CMakeLists.txt's top level */
static void read_cmake(struct azds_project *p, int dfd)
{
	char project[128] = "", exe[256] = "", *cur, *line;
	size_t len;
	char *doc = manifest(p, dfd, "CMakeLists.txt", &len);

	cur = doc;
	while ((line = next_line(&cur)) && !exe[0]) {
		char *hash = strchr(line, '#');

		if (hash)
			*hash = 0;
		line += strspn(line, " \t");
		if (!strncasecmp(line, "project", 7) || !strncasecmp(line, "add_executable", 14)) {
			bool is_exe = line[0] == 'a' || line[0] == 'A';
			char *arg = line + (is_exe ? 14 : 7);

			arg += strspn(arg, " \t");
			if (*arg != '(')
				continue;
			arg++;
			arg += strspn(arg, " \t");
			snprintf(is_exe ? exe : project, is_exe ? sizeof(exe) : sizeof(project), "%.*s",
				 (int)strcspn(arg, " \t)"), arg);
		}
	}
	free(doc);
	if (!strcmp(exe, "${PROJECT_NAME}") || !strcmp(exe, "${CMAKE_PROJECT_NAME}"))
		snprintf(exe, sizeof(exe), "%s", project);
	if (exe[0] && safe_word(exe) && !strchr(exe, '/')) {
		snprintf(p->program, sizeof(p->program), "%s", exe);
		return;
	}
	snprintf(p->program, sizeof(p->program), "%s", p->name[0] ? p->name : "app");
	note(p, "no add_executable(NAME ...) in CMakeLists.txt: the Dockerfiles run build/%s; edit them if it is "
		"another", p->program);
}

static void read_python(struct azds_project *p, int dfd, const char *only_py)
{
	static const char *const entries[] = { "app.py", "main.py", "server.py", "wsgi.py", "__main__.py" };

	p->py_requirements = is_file(dfd, "requirements.txt");
	p->py_pyproject = is_file(dfd, "pyproject.toml");
	p->py_setup = is_file(dfd, "setup.py");
	if (is_file(dfd, "manage.py")) {
		p->py_django = true;
		snprintf(p->entry, sizeof(p->entry), "manage.py");
		return;
	}
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
		if (is_file(dfd, entries[i])) {
			snprintf(p->entry, sizeof(p->entry), "%s", entries[i]);
			return;
		}
	if (only_py && only_py[0] && strcmp(only_py, "setup.py")) {
		snprintf(p->entry, sizeof(p->entry), "%s", only_py);
		return;
	}
	snprintf(p->entry, sizeof(p->entry), "app.py");
	note(p, "no app.py, main.py, server.py, wsgi.py or manage.py: CMD runs app.py; edit it if the program is "
		"another");
}

/* the scan ---------------------------------------------------------------- */

struct scan {
	const char *marker[AZDS_LANG_COUNT]; /* the first marker seen, NULL none */
	char projs[PROJS_MAX][256];
	int nprojs;
	int npy;
	char py_one[256];
	bool py_weak; /* *.py files and no Python manifest */
	bool truncated;
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

/* the globbed markers: *.csproj, *.fsproj, *.py; the first
 * AZDS_DETECT_SCAN_MAX entries, sorted so the result does not depend on
 * the directory's order */
static int scan_dir(int dfd, struct scan *s)
{
	struct dirent *de;
	int fd = dup(dfd), n = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return err;
	}
	errno = 0;
	while ((de = readdir(d))) {
		const char *nm = de->d_name;

		if (++n > AZDS_DETECT_SCAN_MAX) {
			s->truncated = true;
			break;
		}
		if (nm[0] == '.')
			continue;
		if ((ends_with(nm, ".csproj") || ends_with(nm, ".fsproj")) && is_file(dfd, nm)) {
			/* keep the PROJS_MAX smallest names, in order */
			int at = s->nprojs < PROJS_MAX ? s->nprojs : PROJS_MAX;

			while (at > 0 && strcmp(nm, s->projs[at - 1]) < 0)
				at--;
			if (at < PROJS_MAX) {
				int last = s->nprojs < PROJS_MAX ? s->nprojs : PROJS_MAX - 1;

				memmove(s->projs[at + 1], s->projs[at], (last - at) * sizeof(s->projs[0]));
				snprintf(s->projs[at], sizeof(s->projs[at]), "%s", nm);
			}
			s->nprojs++;
		} else if (ends_with(nm, ".py") && is_file(dfd, nm)) {
			if (!s->npy++ || strcmp(nm, s->py_one) < 0)
				snprintf(s->py_one, sizeof(s->py_one), "%s", nm);
		}
		errno = 0;
	}
	n = errno && !s->truncated ? -errno : 0;
	closedir(d);
	return n;
}

static void scan_markers(int dfd, struct scan *s)
{
	static const char *const py[] = { "requirements.txt", "pyproject.toml", "setup.py" },
				 *const mk[] = { "GNUmakefile", "makefile", "Makefile" };

	if (s->nprojs)
		s->marker[AZDS_LANG_DOTNET] = s->projs[0];
	if (is_file(dfd, "pom.xml"))
		s->marker[AZDS_LANG_JAVA] = "pom.xml";
	if (is_file(dfd, "go.mod"))
		s->marker[AZDS_LANG_GO] = "go.mod";
	if (is_file(dfd, "package.json"))
		s->marker[AZDS_LANG_NODE] = "package.json";
	for (size_t i = 0; i < 3 && !s->marker[AZDS_LANG_PYTHON]; i++)
		if (is_file(dfd, py[i]))
			s->marker[AZDS_LANG_PYTHON] = py[i];
	if (is_file(dfd, "CMakeLists.txt"))
		s->marker[AZDS_LANG_C_CMAKE] = "CMakeLists.txt";
	/* in make's own order of looking */
	for (size_t i = 0; i < 3 && !s->marker[AZDS_LANG_C_MAKE]; i++)
		if (is_file(dfd, mk[i]))
			s->marker[AZDS_LANG_C_MAKE] = mk[i];
	if (!s->marker[AZDS_LANG_PYTHON] && s->npy) {
		s->marker[AZDS_LANG_PYTHON] = "*.py";
		s->py_weak = true;
	}
}

/* the languages seen, in preference order (weak Python last) */
static int ranked(const struct scan *s, enum azds_lang out[AZDS_LANG_COUNT])
{
	int n = 0;

	for (int l = AZDS_LANG_NONE + 1; l < AZDS_LANG_COUNT; l++)
		if (s->marker[l] && !(l == AZDS_LANG_PYTHON && s->py_weak))
			out[n++] = l;
	if (s->py_weak)
		out[n++] = AZDS_LANG_PYTHON;
	return n;
}

/* which .NET project file: the only one, or the one named like the folder */
static int pick_project(struct azds_project *p, const struct scan *s, struct azds_err *e)
{
	char list[512] = "";
	size_t o = 0;

	if (s->nprojs == 1 && !s->truncated) {
		snprintf(p->project_file, sizeof(p->project_file), "%s", s->projs[0]);
		goto check;
	}
	for (int i = 0; i < s->nprojs && i < PROJS_MAX; i++) {
		const char *dot = strrchr(s->projs[i], '.');

		if ((size_t)(dot - s->projs[i]) == strlen(p->folder) && !strncmp(s->projs[i], p->folder, dot - s->projs[i])) {
			snprintf(p->project_file, sizeof(p->project_file), "%s", s->projs[i]);
			note(p, "%d .NET project files here: %s is named like the folder and is used", s->nprojs,
			     s->projs[i]);
			goto check;
		}
		o += snprintf(list + o, o < sizeof(list) ? sizeof(list) - o : 0, "%s%s", i ? ", " : "", s->projs[i]);
	}
	if (!s->nprojs)
		return azds_err(e, ENOENT, "%s: .NET needs a *.csproj or *.fsproj file in the folder", p->dir);
	return azds_err(e, EINVAL,
			"%s: %d .NET project files (%s%s) and none is named like the folder: run azds prep in one "
			"project's own folder",
			p->dir, s->nprojs, list, s->nprojs > PROJS_MAX ? ", ..." : "");
check:
	/* the name goes into Dockerfile commands and JSON: nothing that needs quoting */
	if (!safe_word(p->project_file))
		return azds_err(e, EINVAL,
				"%s: project file \"%s\" has characters azds prep does not quote in a Dockerfile "
				"(only letters, digits and ._+-): rename it",
				p->dir, p->project_file);
	return 0;
}

static void describe(struct azds_project *p, const struct scan *s, const enum azds_lang *seen, int n)
{
	size_t o = 0;

	p->nfound = n;
	for (int i = 0; i < n; i++) {
		const char *m = s->marker[seen[i]];

		if (seen[i] == AZDS_LANG_DOTNET && s->nprojs > 1)
			m = "*.csproj";
		o += snprintf(p->found + o, o < sizeof(p->found) ? sizeof(p->found) - o : 0, "%s%s (%s)",
			      i ? ", " : "", m, azds_lang_name(seen[i]));
	}
}

static int open_folder(const char *dir, struct azds_project *p, struct azds_err *e)
{
	char real[PATH_MAX];
	const char *base;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0) {
		int err = errno;

		if (err == ENOENT)
			return azds_err(e, err, "folder %s does not exist", dir);
		if (err == ENOTDIR)
			return azds_err(e, err, "%s is not a folder", dir);
		return azds_err(e, err, "cannot open folder %s: %s", dir, strerror(err));
	}
	if (!realpath(dir, real))
		snprintf(real, sizeof(real), "%s", dir);
	base = strrchr(real, '/');
	snprintf(p->folder, sizeof(p->folder), "%.255s", base ? base + 1 : real);
	return dfd;
}

int azds_detect(const char *dir, enum azds_lang lang, struct azds_project *p, struct azds_err *e)
{
	enum azds_lang seen[AZDS_LANG_COUNT];
	struct scan s = { 0 };
	int dfd, n, err = 0;

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	dfd = open_folder(dir, p, e);
	if (dfd < 0)
		return dfd;
	err = scan_dir(dfd, &s);
	if (err) {
		azds_err(e, err, "cannot read folder %s: %s", dir, strerror(-err));
		goto out;
	}
	if (s.truncated)
		note(p, "%s has more than %d entries: only the first %d were looked at for *.csproj, *.fsproj and *.py",
		     dir, AZDS_DETECT_SCAN_MAX, AZDS_DETECT_SCAN_MAX);
	scan_markers(dfd, &s);
	n = ranked(&s, seen);
	describe(p, &s, seen, n);
	if (lang != AZDS_LANG_NONE) {
		p->forced = true;
		p->lang = lang;
	} else if (!n) {
		err = azds_err(e, ENOENT, "no project found in %s", dir);
		goto out;
	} else {
		p->lang = seen[0];
	}
	snprintf(p->marker, sizeof(p->marker), "%s", s.marker[p->lang] ? s.marker[p->lang] : "");
	if (lang == AZDS_LANG_JAVA && !s.marker[AZDS_LANG_JAVA]) {
		err = azds_err(e, ENOENT, "%s: Java with Maven needs a pom.xml in the folder", dir);
		goto out;
	}
	if (p->forced && !s.marker[lang])
		note(p, "no %s file in %s (%s): generating for %s as --lang says", azds_lang_name(lang), dir,
		     langs[lang].markers, azds_lang_name(lang));

	/* the folder's name, unless the manifest names the service */
	if (!azds_dns_label(p->folder, p->name, sizeof(p->name)))
		snprintf(p->name_from, sizeof(p->name_from), "the folder's name");
	switch (p->lang) {
	case AZDS_LANG_DOTNET:
		err = pick_project(p, &s, e);
		if (!err)
			read_dotnet(p, dfd);
		break;
	case AZDS_LANG_JAVA:
		read_maven(p, dfd);
		break;
	case AZDS_LANG_GO:
		if (s.marker[AZDS_LANG_GO])
			read_go(p, dfd);
		else
			snprintf(p->program, sizeof(p->program), "app");
		break;
	case AZDS_LANG_NODE:
		if (s.marker[AZDS_LANG_NODE])
			read_node(p, dfd);
		else
			p->node_start = true;
		break;
	case AZDS_LANG_PYTHON:
		read_python(p, dfd, s.npy == 1 ? s.py_one : NULL);
		break;
	case AZDS_LANG_C_CMAKE:
		if (s.marker[AZDS_LANG_C_CMAKE]) {
			read_cmake(p, dfd);
		} else {
			snprintf(p->program, sizeof(p->program), "%s", p->name[0] ? p->name : "app");
			note(p, "no CMakeLists.txt: the Dockerfiles run build/%s", p->program);
		}
		break;
	case AZDS_LANG_C_MAKE:
		if (s.marker[AZDS_LANG_C_MAKE]) {
			read_make(p, dfd, s.marker[AZDS_LANG_C_MAKE]);
		} else {
			snprintf(p->program, sizeof(p->program), "%s", p->name[0] ? p->name : "app");
			note(p, "no Makefile: the Dockerfiles run ./%s", p->program);
		}
		break;
	default:
		err = azds_err(e, EINVAL, "unknown language %d", p->lang);
		break;
	}
	if (!err && !p->name[0])
		snprintf(p->name_from, sizeof(p->name_from), "nothing: the folder's name \"%.100s\" makes no DNS label",
			 p->folder);
out:
	close(dfd);
	return err;
}
