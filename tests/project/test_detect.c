// SPDX-License-Identifier: MIT
/*
 * azds prep's detection and generator (userspace/project/detect.h, prep.h)
 * on folders made here: each language and what is read from its manifest,
 * the order in ambiguous folders, nothing found, missing folders, the
 * scan's limit, name sanitising, the generated azds.yaml read back by the
 * azds.yaml parser with no warning, and writing: a second run keeps every
 * file, a developer's Dockerfile or chart is kept and shapes the rest, a
 * file that appears between plan and write is kept.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "detect.h"
#include "prep.h"
/* the azds.yaml parser is another part of issue 8: the generated file is read back with it where it exists */
#if __has_include("azdsyaml.h")
#include "azdsyaml.h"
#define HAVE_AZDSYAML 1
#endif
/* and the Dockerfiles with host mode's reader, where it exists */
#if __has_include("dockerfile.h")
#include "dockerfile.h"
#define HAVE_DOCKERFILE 1
#endif

/* one folder per run (ctest may run in several build directories at once); a crashed run's is removed
 * by the next one */
#define TPREFIX "/tmp/azds-test-project-detect."
static char tdir[64];

static int failures, passes;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		passes++;
	else
		failures++;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd))
		fprintf(stderr, "command failed: %s\n", cmd);
}

/* a fresh folder <run folder>/name */
static const char *dir(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", tdir, name);
	sh("rm -rf '%s' && mkdir -p '%s'", path, path);
	return path;
}

/* a path under the run's folder (no fresh folder) */
static const char *at(const char *rel)
{
	static char path[4][512];
	static int next;
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", tdir, rel);
	return p;
}

static void put(const char *d, const char *file, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d, file);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		fprintf(stderr, "cannot write %s\n", path);
}

static char *slurp(const char *d, const char *file)
{
	char path[1024], *buf = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d, file);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	if (getdelim(&buf, &cap, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

static int detect(const char *d, enum azds_lang force, struct azds_project *p, struct azds_err *e)
{
	memset(e, 0, sizeof(*e));
	return azds_detect(d, force, p, e);
}

static bool has_note(const struct azds_project *p, const char *needle)
{
	for (int i = 0; i < p->nnotes; i++)
		if (strstr(p->notes[i], needle))
			return true;
	return false;
}

/* ---- each language ---- */

static void test_languages(void)
{
	struct azds_project p;
	struct azds_err e;
	const char *d;
	int err;

	d = dir("webfront");
	put(d, "package.json",
	    "\xef\xbb\xbf{\n  \"description\": \"a \\\"quoted\\\" {brace}\",\n  \"dependencies\": {\"name\": \"not-me\"},\n"
	    "  \"name\": \"@Acme/Web_Front\",\n  \"scripts\": {\"test\": \"x\", \"start\": \"node server.js\"}\n}\n");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.lang == AZDS_LANG_NODE && !strcmp(p.marker, "package.json"), "node: detected (%d %s)", err,
	      e.msg);
	check(!strcmp(p.name, "web-front") && strstr(p.name_from, "package.json \"name\""),
	      "node: name from package.json's top-level name, scope dropped (%s from %s)", p.name, p.name_from);
	check(p.node_start && p.nfound == 1, "node: scripts.start found, one language");

	d = dir("nodemain");
	put(d, "package.json", "{\"main\": \"lib/index.js\", \"version\": \"1.0.0\"}");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && !p.node_start && !strcmp(p.entry, "lib/index.js") && !strcmp(p.name, "nodemain"),
	      "node: no start script: main runs, the folder names it (%s, %s)", p.entry, p.name);

	d = dir("Py_API");
	put(d, "requirements.txt", "flask\n");
	put(d, "app.py", "print(1)\n");
	put(d, "util.py", "x = 1\n");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.lang == AZDS_LANG_PYTHON && !strcmp(p.marker, "requirements.txt") && p.py_requirements,
	      "python: requirements.txt (%s)", p.marker);
	check(!strcmp(p.entry, "app.py") && !strcmp(p.name, "py-api") && !strcmp(p.name_from, "the folder's name"),
	      "python: app.py runs, the folder's name sanitised (%s, %s)", p.entry, p.name);

	d = dir("script");
	put(d, "hello.py", "print('hi')\n");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.lang == AZDS_LANG_PYTHON && !strcmp(p.marker, "*.py") && !strcmp(p.entry, "hello.py"),
	      "python: a lone *.py is the program (%s)", p.entry);

	d = dir("site");
	put(d, "pyproject.toml", "[project]\nname = \"site\"\n");
	put(d, "manage.py", "");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.py_pyproject && p.py_django && !strcmp(p.entry, "manage.py"), "python: Django's manage.py");

	d = dir("gosvc");
	put(d, "go.mod", "module example.com/acme/api\n\ngo 1.22.3\n\nrequire example.com/x v1.0.0\n");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.lang == AZDS_LANG_GO && !strcmp(p.version, "1.22") && !strcmp(p.name, "gosvc"),
	      "go: go.mod, version 1.22, the folder's name (%s %s)", p.version, p.name);

	d = dir("javasvc");
	put(d, "pom.xml",
	    "<?xml version=\"1.0\"?>\n<!-- <artifactId>commented</artifactId> -->\n"
	    "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n"
	    "  <parent><artifactId>parent-pom</artifactId><version>2.0</version></parent>\n"
	    "  <artifactId> Orders.Service </artifactId>\n"
	    "  <properties><java.version>21</java.version></properties>\n"
	    "  <dependencies><dependency><artifactId>dep</artifactId></dependency></dependencies>\n"
	    "</project>\n");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.lang == AZDS_LANG_JAVA && !strcmp(p.name, "orders-service"),
	      "java: the project's own <artifactId>, not the parent's or a comment's (%s, %s)", p.name, e.msg);
	check(!strcmp(p.version, "21") && !strcmp(p.jar, "target/Orders.Service-2.0.jar"),
	      "java: Java 21, the jar with the parent's version (%s %s)", p.version, p.jar);

	d = dir("dotnetsvc");
	put(d, "My.Api.csproj",
	    "<Project Sdk=\"Microsoft.NET.Sdk.Web\">\n  <PropertyGroup>\n    <TargetFramework>net9.0</TargetFramework>\n"
	    "  </PropertyGroup>\n  <PropertyGroup><AssemblyName>MyApi</AssemblyName></PropertyGroup>\n</Project>\n");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.lang == AZDS_LANG_DOTNET && !strcmp(p.name, "my-api") && !strcmp(p.project_file, "My.Api.csproj"),
	      "dotnet: the csproj names the service (%s from %s, %s)", p.name, p.name_from, e.msg);
	check(!strcmp(p.program, "MyApi") && !strcmp(p.version, "9.0"), "dotnet: AssemblyName and .NET 9.0 (%s %s)",
	      p.program, p.version);

	d = dir("cmake");
	put(d, "CMakeLists.txt",
	    "cmake_minimum_required(VERSION 3.16)\n# add_executable(nope x.c)\nPROJECT(datasvc C)\n"
	    "ADD_EXECUTABLE( ${PROJECT_NAME} main.c)\n");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.lang == AZDS_LANG_C_CMAKE && !strcmp(p.program, "datasvc"),
	      "c-cmake: add_executable(${PROJECT_NAME}) is project()'s name (%s)", p.program);

	d = dir("cmake2");
	put(d, "Makefile", "CFLAGS = -O2\nTARGET := server\n.PHONY: all clean\n%.o: %.c\n\t$(CC) -c $<\n"
			   "all: $(TARGET)\n$(TARGET): main.o\n\t$(CC) -o $@ $^\nclean:\n\trm -f *.o\n");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.lang == AZDS_LANG_C_MAKE && !strcmp(p.marker, "Makefile") && !strcmp(p.program, "server"),
	      "c-make: the default goal all's first prerequisite, $(TARGET) resolved (%s)", p.program);

	d = dir("cmake3");
	put(d, "makefile", "build:\n\tcc -o a.out x.c\n");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.lang == AZDS_LANG_C_MAKE && !strcmp(p.marker, "makefile") && !strcmp(p.program, "cmake3") &&
		      has_note(&p, "cannot tell which program"),
	      "c-make: a goal without a program: the service's name, with a note (%s)", p.program);
}

/* ---- several languages, none, bad folders ---- */

static void test_ambiguity(void)
{
	static const struct {
		const char *files[4];
		enum azds_lang want;
		int nfound;
	} cases[] = {
		{ { "package.json", "Makefile" }, AZDS_LANG_NODE, 2 },
		{ { "package.json", "pom.xml" }, AZDS_LANG_JAVA, 2 },
		{ { "go.mod", "package.json", "requirements.txt" }, AZDS_LANG_GO, 3 },
		{ { "CMakeLists.txt", "Makefile" }, AZDS_LANG_C_CMAKE, 2 },
		{ { "requirements.txt", "x.py", "Makefile" }, AZDS_LANG_PYTHON, 2 },
		{ { "Makefile", "tool.py" }, AZDS_LANG_C_MAKE, 2 },
		{ { "app.csproj", "package.json", "go.mod" }, AZDS_LANG_DOTNET, 3 },
	};
	struct azds_project p;
	struct azds_err e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *d = dir("ambiguous");
		int err;

		for (int f = 0; f < 4 && cases[i].files[f]; f++)
			put(d, cases[i].files[f], strstr(cases[i].files[f], ".json") ? "{}" : "");
		err = detect(d, AZDS_LANG_NONE, &p, &e);
		check(!err && p.lang == cases[i].want && p.nfound == cases[i].nfound &&
			      strstr(p.found, cases[i].files[0]) && strstr(p.found, azds_lang_name(cases[i].want)),
		      "ambiguous %s + %s: %s wins, found \"%s\"", cases[i].files[0], cases[i].files[1],
		      azds_lang_name(p.lang), p.found);
	}

	const char *d = dir("ambiguous");
	int err;

	put(d, "package.json", "{}");
	put(d, "Makefile", "all:\n");
	err = detect(d, AZDS_LANG_C_MAKE, &p, &e);
	check(!err && p.lang == AZDS_LANG_C_MAKE && p.forced, "--lang picks another of the languages found");

	d = dir("empty");
	put(d, "README.md", "# hi\n");
	put(d, ".hidden.py", "");
	mkdir(at("empty/package.json"), 0755); /* a folder is no marker */
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(err == -ENOENT && strstr(e.msg, "no project found in") && strstr(e.msg, "empty"),
	      "nothing detectable: -ENOENT naming the folder (%d: %s)", err, e.msg);
	check(strstr(azds_detect_looks_for(), "package.json") && strstr(azds_detect_looks_for(), "*.csproj") &&
		      strstr(azds_detect_looks_for(), "CMakeLists.txt") && strstr(azds_detect_looks_for(), "go.mod"),
	      "the message lists what it looks for");
	err = detect(d, AZDS_LANG_GO, &p, &e);
	check(!err && p.lang == AZDS_LANG_GO && has_note(&p, "as --lang says"), "--lang go without go.mod: a note");
	err = detect(d, AZDS_LANG_JAVA, &p, &e);
	check(err == -ENOENT && strstr(e.msg, "pom.xml"), "--lang java without pom.xml: an error (%s)", e.msg);
	err = detect(d, AZDS_LANG_DOTNET, &p, &e);
	check(err == -ENOENT && strstr(e.msg, ".csproj"), "--lang dotnet without a project file: an error (%s)", e.msg);

	err = detect(at("no-such-folder"), AZDS_LANG_NONE, &p, &e);
	check(err == -ENOENT && strstr(e.msg, "does not exist"), "a missing folder (%s)", e.msg);
	err = detect(at("empty/README.md"), AZDS_LANG_NONE, &p, &e);
	check(err == -ENOTDIR && strstr(e.msg, "not a folder"), "a file for a folder (%s)", e.msg);

	d = dir("twoprojs");
	put(d, "a.csproj", "<Project/>");
	put(d, "b.csproj", "<Project/>");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(err == -EINVAL && strstr(e.msg, "a.csproj, b.csproj"), "two .NET projects: an error naming them (%s)",
	      e.msg);
	put(d, "twoprojs.csproj", "<Project/>");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && !strcmp(p.project_file, "twoprojs.csproj") && has_note(&p, "named like the folder"),
	      "several .NET projects: the one named like the folder (%s)", e.msg);
	d = dir("badname");
	put(d, "my app.csproj", "<Project/>");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(err == -EINVAL && strstr(e.msg, "rename it"), "a project file name that needs quoting (%s)", e.msg);
}

static void test_limits(void)
{
	struct azds_project p;
	struct azds_err e;
	const char *d = dir("many");
	char big[512];
	int err;
	FILE *f;

	/* more entries than the scan reads: a note, and fixed names are still found */
	sh("cd '%s' && seq 1 %d | sed 's/$/.txt/' | xargs touch && touch go.mod", d, AZDS_DETECT_SCAN_MAX + 5);
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && p.lang == AZDS_LANG_GO && has_note(&p, "more than"), "a folder past the scan limit: a note (%s)",
	      p.nnotes ? p.notes[0] : "no note");

	d = dir("bigpkg");
	snprintf(big, sizeof(big), "%s/package.json", d);
	f = fopen(big, "w");
	if (f) {
		fputs("{\"name\": \"huge\", \"x\": \"", f);
		for (int i = 0; i < AZDS_DETECT_FILE_MAX / 64 + 1; i++)
			fputs("0123456789012345678901234567890123456789012345678901234567890123", f);
		fputs("\"}", f);
		fclose(f);
	}
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && !strcmp(p.name, "bigpkg") && has_note(&p, "larger than"),
	      "a manifest past the size limit is not read: the folder's name, a note (%s)", p.name);

	d = dir("brokenpkg");
	put(d, "package.json", "{\"name\": ");
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && !strcmp(p.name, "brokenpkg") && has_note(&p, "not JSON"), "broken JSON: defaults, a note");

	d = dir("deep");
	{
		char doc[4096] = "{\"a\":";
		for (int i = 0; i < 100; i++)
			strcat(doc, "[");
		put(d, "package.json", doc);
	}
	err = detect(d, AZDS_LANG_NONE, &p, &e);
	check(!err && !strcmp(p.name, "deep"), "JSON nested past the limit: defaults, no crash");
}

/* ---- names ---- */

static void test_names(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "web", "web" },
		{ "My Web_App", "my-web-app" },
		{ "--x--", "x" },
		{ "a..b", "a-b" },
		{ "123abc", "app-123abc" },
		{ "\xc3\x9c" "n" "\xc3\xaf" "code", "n-code" },
		{ "CamelCase.Service", "camelcase-service" },
		{ "@@@", NULL },
		{ "", NULL },
	};
	char out[AZDS_LABEL_MAX + 1], in[200];
	struct azds_err e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = azds_dns_label(cases[i].in, out, sizeof(out));

		if (cases[i].out)
			check(!err && !strcmp(out, cases[i].out), "label \"%s\" -> \"%s\" (%s)", cases[i].in, cases[i].out,
			      err ? "error" : out);
		else
			check(err == -EINVAL, "label \"%s\": nothing usable, -EINVAL", cases[i].in);
	}
	memset(in, 'a', 62);
	strcpy(in + 62, "-bbbb");
	check(!azds_dns_label(in, out, sizeof(out)) && strlen(out) <= 63 && out[strlen(out) - 1] != '-',
	      "a long name: at most 63, no '-' last (%zu)", strlen(out));
	memset(in, '1', 100);
	in[100] = 0;
	check(!azds_dns_label(in, out, sizeof(out)) && strlen(out) == 63 && !strncmp(out, "app-1", 5),
	      "a long number: app- in front, 63 in all (%zu)", strlen(out));
	check(!azds_label_valid("--name", "web-2", &e), "valid: web-2");
	check(azds_label_valid("--name", "Web", &e) == -EINVAL && strstr(e.msg, "--name \"Web\""), "invalid: Web (%s)",
	      e.msg);
	check(azds_label_valid("--name", "2web", NULL) == -EINVAL, "invalid: 2web");
	check(azds_label_valid("--name", "web-", NULL) == -EINVAL, "invalid: web-");
	check(azds_label_valid("--name", "", NULL) == -EINVAL, "invalid: empty");
	memset(in, 'a', 64);
	in[64] = 0;
	check(azds_label_valid("--name", in, NULL) == -EINVAL, "invalid: 64 characters");
	check(azds_lang_parse("c-cmake") == AZDS_LANG_C_CMAKE && azds_lang_parse("cobol") == AZDS_LANG_NONE,
	      "--lang keys");
}

/* ---- the generator ---- */

static const char *text(const struct azds_prep *r, const char *path)
{
	const struct azds_prep_file *f = azds_prep_find(r, path);

	return f && f->text ? f->text : "";
}

/* the generated azds.yaml, read back by the parser: no error, no warning */
#ifdef HAVE_AZDSYAML
static void check_azds_yaml(const struct azds_prep *r, const char *what)
{
	struct azds_diags d;
	struct azds_yaml *cfg = NULL;
	const char *y = text(r, "azds.yaml");
	char chart[128];
	int err;

	azds_diags_init(&d);
	err = azds_yaml_parse("azds.yaml", y, strlen(y), &cfg, &d);
	if (err || azds_diags_warnings(&d))
		azds_diags_print(&d, stdout, AZDS_DIAG_NOTE);
	check(!err && !azds_diags_errors(&d) && !azds_diags_warnings(&d), "%s: azds.yaml loads, no warning (%d)", what,
	      err);
	if (!cfg) {
		azds_diags_free(&d);
		return;
	}
	snprintf(chart, sizeof(chart), "charts/%s", r->proj.name);
	check(cfg->kind.v && !strcmp(cfg->kind.v, "helm-release") && cfg->api_version.v &&
		      !strcmp(cfg->api_version.v, "1.1") && cfg->install.chart.v && !strcmp(cfg->install.chart.v, chart),
	      "%s: kind, apiVersion, install.chart %s", what, chart);
	check(cfg->install.n_values == 2 && cfg->install.values[0].optional &&
		      !strcmp(cfg->install.values[0].path, "values.dev.yaml"),
	      "%s: values.dev.yaml? and secrets.dev.yaml?", what);
	check(azds_ynode_scalar(azds_yaml_set_get(cfg, "image.tag")) &&
		      !strcmp(azds_ynode_scalar(azds_yaml_set_get(cfg, "image.tag")), "$(tag)") &&
		      azds_ynode_scalar(azds_yaml_set_get(cfg, "ingress.hosts[0]")) &&
		      strstr(azds_ynode_scalar(azds_yaml_set_get(cfg, "ingress.hosts[0]")),
			     "$(spacePrefix)$(rootSpacePrefix)"),
	      "%s: set image.tag $(tag), ingress.hosts with the space prefixes", what);
	if (r->own_develop) {
		check(!strcmp(azds_yaml_dockerfile(cfg), "Dockerfile.develop") && cfg->develop.container.command.argc > 0 &&
			      cfg->develop.container.n_processes_to_kill > 0 && cfg->develop.container.n_sync > 0,
		      "%s: develop with Dockerfile.develop, a command, processesToKill, sync", what);
	}
	azds_yaml_free(cfg);
	azds_diags_free(&d);
}
#else
static void check_azds_yaml(const struct azds_prep *r, const char *what)
{
	(void)r;
	printf("skip %s: no azds.yaml parser (userspace/project/azdsyaml.h) in this tree\n", what);
}
#endif

#ifdef HAVE_DOCKERFILE
/* both Dockerfiles, read as host mode reads them: no error, the port EXPOSEd, a program to run */
static void check_dockerfiles(const struct azds_prep *r, const char *what)
{
	static const char *const files[] = { "Dockerfile", "Dockerfile.develop" };

	for (int i = 0; i < 2; i++) {
		struct azds_df_opts opts = { .have_command = false };
		struct azds_dockerfile *df = NULL;
		struct azds_diags d;
		const char *t = text(r, files[i]);
		int err;

		azds_diags_init(&d);
		err = azds_dockerfile_parse(files[i], t, strlen(t), &opts, &df, &d);
		/* the production Dockerfile's multi-stage COPY --from is host mode's to warn about */
		if (err || (i == 1 && azds_diags_warnings(&d)))
			azds_diags_print(&d, stdout, AZDS_DIAG_WARNING);
		check(!err && (i == 0 || !azds_diags_warnings(&d)) && df && azds_dockerfile_port(df) == r->port &&
			      df->argc > 0 && df->workdir_set,
		      "%s: %s read by host mode's parser: no error%s, EXPOSE %u, WORKDIR, a program (%d)", what, files[i],
		      i ? ", no warning" : "", r->port, err);
		azds_dockerfile_free(df);
		azds_diags_free(&d);
	}
}
#else
static void check_dockerfiles(const struct azds_prep *r, const char *what)
{
	(void)r;
	printf("skip %s: no Dockerfile reader (userspace/project/dockerfile.h) in this tree\n", what);
}
#endif

static void test_generate(void)
{
	static const struct {
		const char *folder, *file, *content;
		const char *docker_has, *develop_has, *kill;
		unsigned port;
	} cases[] = {
		{ "g-node", "package.json", "{\"name\":\"shop\",\"scripts\":{\"start\":\"node s.js\"}}", "FROM node:lts",
		  "RUN npm install", "processesToKill: [node]", 80 },
		{ "g-python", "requirements.txt", "flask\n", "FROM python:3.11", "pip install --no-cache-dir -r requirements.txt",
		  "processesToKill: [python3]", 80 },
		{ "g-go", "go.mod", "module x\n\ngo 1.22\n", "FROM golang:1.22 AS build", "RUN go build -o g-go .",
		  "processesToKill: [g-go]", 80 },
		{ "g-java", "pom.xml", "<project><artifactId>orders</artifactId><version>1.0</version></project>",
		  "FROM eclipse-temurin:17-jre", "CMD [\"java\", \"-jar\", \"target/orders-1.0.jar\"]",
		  "processesToKill: [java]", 8080 },
		{ "g-dotnet", "api.csproj",
		  "<Project><PropertyGroup><TargetFramework>net8.0</TargetFramework></PropertyGroup></Project>",
		  "FROM mcr.microsoft.com/dotnet/aspnet:8.0", "FROM mcr.microsoft.com/dotnet/sdk:8.0",
		  "processesToKill: [dotnet]", 80 },
		{ "g-make", "Makefile", "all: srv\nsrv: a.c\n\tcc -o srv a.c\n", "FROM gcc:13 AS build", "RUN make",
		  "processesToKill: [srv]", 80 },
		{ "g-cmake", "CMakeLists.txt", "project(p C)\nadd_executable(srv a.c)\n", "cmake --build build",
		  "CMD [\"./build/srv\"]", "processesToKill: [srv]", 80 },
	};
	struct azds_prep r;
	struct azds_err e;
	char what[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *d = dir(cases[i].folder);
		struct azds_prep_opts o = { .dir = d };
		int err;

		put(d, cases[i].file, cases[i].content);
		memset(&e, 0, sizeof(e));
		err = azds_prep_plan(&o, &r, &e);
		snprintf(what, sizeof(what), "%s", cases[i].folder);
		check(!err, "%s: planned (%s)", what, e.msg);
		if (err)
			continue;
		check(r.nfiles == 12 && r.port == cases[i].port, "%s: 12 files, port %u (%d, %u)", what, cases[i].port,
		      r.nfiles, r.port);
		check(strstr(text(&r, "Dockerfile"), cases[i].docker_has) && strstr(text(&r, "Dockerfile"), "EXPOSE ") &&
			      strstr(text(&r, "Dockerfile"), "\nCMD [\"") && strstr(text(&r, "Dockerfile"), "\nRUN ") &&
			      strstr(text(&r, "Dockerfile"), "\nWORKDIR "),
		      "%s: Dockerfile has %s, WORKDIR, RUN, EXPOSE, CMD in exec form", what, cases[i].docker_has);
		check(strstr(text(&r, "Dockerfile.develop"), cases[i].develop_has) != NULL, "%s: Dockerfile.develop has %s",
		      what, cases[i].develop_has);
		check(strstr(text(&r, "azds.yaml"), cases[i].kill) != NULL, "%s: azds.yaml %s", what, cases[i].kill);
		check(strstr(text(&r, ".dockerignore"), "charts\n") && strstr(text(&r, ".dockerignore"), "azds.yaml\n"),
		      "%s: .dockerignore", what);
		check_azds_yaml(&r, what);
		check_dockerfiles(&r, what);
		azds_prep_free(&r);
	}
}

static int count(const struct azds_prep *r, enum azds_prep_action a)
{
	int n = 0;

	for (int i = 0; i < r->nfiles; i++)
		n += r->files[i].action == a;
	return n;
}

static void test_write(void)
{
	struct azds_prep r;
	struct azds_err e = { "" };
	const char *d = dir("w-node");
	struct azds_prep_opts o = { .dir = d, .ingress = true, .port = 3000 };
	char *s, *before;
	int err;

	put(d, "package.json", "{\"name\":\"web\"}");
	err = azds_prep_run(&o, &r, &e);
	check(!err && r.wrote == 12 && r.kept == 0, "first run writes 12 files (%d: %s)", r.wrote, e.msg);
	azds_prep_free(&r);
	s = slurp(d, "charts/web/values.yaml");
	check(s && strstr(s, "  enabled: true\n") && strstr(s, "fullnameOverride: web\n"),
	      "ingress on, the chart named for package.json's name");
	free(s);
	s = slurp(d, "Dockerfile");
	check(s && strstr(s, "EXPOSE 3000\n") && strstr(s, "ENV PORT=3000\n"), "--port 3000 reaches the Dockerfile");
	free(s);
	sh("ls -a '%s' '%s/charts/web' '%s/charts/web/templates' | grep -c azds-prep > %s/tmpcount || true", d, d, d,
	   tdir);
	s = slurp(tdir, "tmpcount");
	check(s && atoi(s) == 0, "no temporary file left");
	free(s);

	err = azds_prep_run(&o, &r, &e);
	check(!err && r.wrote == 0 && r.kept == 12, "second run keeps all 12 (%d kept: %s)", r.kept, e.msg);
	check(!strcmp(r.files[0].why, "exists"), "kept because it exists");
	azds_prep_free(&r);

	/* what an earlier run wrote counts as generated: a deleted azds.yaml or Dockerfile.develop comes back whole */
	sh("rm -f '%s/azds.yaml' '%s/Dockerfile.develop'", d, d);
	err = azds_prep_run(&o, &r, &e);
	check(!err && r.wrote == 2 && r.own_develop && strstr(text(&r, "azds.yaml"), "command: [npm, start]") &&
		      azds_prep_find(&r, "Dockerfile.develop")->action == AZDS_PREP_WROTE,
	      "azds.yaml and Dockerfile.develop deleted: both written again, in full (%d: %s)", r.wrote, e.msg);
	azds_prep_free(&r);

	/* the developer's own Dockerfile: kept byte for byte, no Dockerfile.develop, azds.yaml builds with it */
	d = dir("w-own");
	put(d, "go.mod", "module own\n");
	put(d, "Dockerfile", "FROM scratch\nCMD [\"/mine\"]\n");
	before = slurp(d, "Dockerfile");
	o = (struct azds_prep_opts){ .dir = d, .name = "mine" };
	err = azds_prep_run(&o, &r, &e);
	s = slurp(d, "Dockerfile");
	check(!err && s && before && !strcmp(s, before), "a developer's Dockerfile is byte-identical afterwards");
	free(s);
	free(before);
	check(azds_prep_find(&r, "Dockerfile.develop")->action == AZDS_PREP_SKIPPED &&
		      access(at("w-own/Dockerfile.develop"), F_OK),
	      "no Dockerfile.develop beside it (%s)", azds_prep_find(&r, "Dockerfile.develop")->why);
	check(!r.own_develop && !strstr(text(&r, "azds.yaml"), "Dockerfile.develop") &&
		      !strstr(text(&r, "azds.yaml"), "command:") && !strstr(text(&r, "azds.yaml"), "buildCommands"),
	      "azds.yaml develops with the developer's Dockerfile, no guessed command");
	check_azds_yaml(&r, "own Dockerfile");
	check(access(at("w-own/charts/mine/Chart.yaml"), F_OK) == 0, "--name names the chart");
	azds_prep_free(&r);

	/* the developer's own chart: nothing written into it */
	d = dir("w-chart");
	put(d, "package.json", "{\"name\":\"api\"}");
	sh("mkdir -p '%s/charts/api/templates' && echo 'name: api' > '%s/charts/api/Chart.yaml'", d, d);
	o = (struct azds_prep_opts){ .dir = d };
	err = azds_prep_run(&o, &r, &e);
	check(!err && count(&r, AZDS_PREP_SKIPPED) == 7 && count(&r, AZDS_PREP_KEPT) == 1 && r.wrote == 4,
	      "an existing chart is the developer's: 7 chart files skipped, Chart.yaml kept, 4 written (%d %d %d)",
	      count(&r, AZDS_PREP_SKIPPED), count(&r, AZDS_PREP_KEPT), r.wrote);
	check(access(at("w-chart/charts/api/templates/deployment.yaml"), F_OK) != 0, "no deployment.yaml added");
	azds_prep_free(&r);

	/* a file that appears between plan and write is kept, not overwritten */
	d = dir("w-race");
	put(d, "package.json", "{}");
	o = (struct azds_prep_opts){ .dir = d };
	err = azds_prep_plan(&o, &r, &e);
	put(d, "azds.yaml", "mine\n");
	if (!err)
		err = azds_prep_write(&r, &e);
	s = slurp(d, "azds.yaml");
	check(!err && s && !strcmp(s, "mine\n") && azds_prep_find(&r, "azds.yaml")->action == AZDS_PREP_KEPT,
	      "a file created meanwhile is kept (%s)", azds_prep_find(&r, "azds.yaml")->why);
	free(s);
	azds_prep_free(&r);

	/* charts is a file: an error before anything is written */
	d = dir("w-charts-file");
	put(d, "package.json", "{}");
	put(d, "charts", "");
	o = (struct azds_prep_opts){ .dir = d };
	err = azds_prep_run(&o, &r, &e);
	check(err == -ENOTDIR && strstr(e.msg, "not a folder") && access(at("w-charts-file/Dockerfile"), F_OK),
	      "charts that is a file: an error, nothing written (%s)", e.msg);

	o = (struct azds_prep_opts){ .dir = d, .name = "Bad_Name" };
	err = azds_prep_plan(&o, &r, &e);
	check(err == -EINVAL && strstr(e.msg, "--name"), "a bad --name is refused (%s)", e.msg);
}

/* the folders of runs whose process is gone (<glob.h> is shadowed by the project's glob.h) */
static void remove_stale(void)
{
	const char *base = strrchr(TPREFIX, '/') + 1;
	struct dirent *de;
	DIR *d = opendir("/tmp");

	while (d && (de = readdir(d))) {
		long pid;

		if (strncmp(de->d_name, base, strlen(base)))
			continue;
		pid = strtol(de->d_name + strlen(base), NULL, 10);
		if (pid > 0 && kill(pid, 0) && errno == ESRCH)
			sh("rm -rf '/tmp/%s'", de->d_name);
	}
	if (d)
		closedir(d);
}

int main(void)
{
	remove_stale();
	snprintf(tdir, sizeof(tdir), TPREFIX "%d", (int)getpid());
	sh("rm -rf '%s' && mkdir -p '%s'", tdir, tdir);
	test_languages();
	test_ambiguity();
	test_limits();
	test_names();
	test_generate();
	test_write();
	sh("rm -rf '%s'", tdir);
	printf("%d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
