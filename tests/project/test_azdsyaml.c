// SPDX-License-Identifier: MIT
/*
 * azds.yaml (userspace/project/azdsyaml.h) and the diagnostics it reports
 * (diag.h): Dev Spaces' own sample shapes (Node.js, .NET, Java, Go) parse
 * with the right values and lines; each broken file names the right line
 * and key; unknown keys warn; limits, aliases, billion laughs; expansions
 * of $(tag)... and ${VAR...}; install.set rendered and read back.
 * Runs from tests/project (fixtures/yaml/). No root, no network.
 */
#include "azdsyaml.h"
#include "diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static bool streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

#define CHECK_STR(got, want, what)                                                                                     \
	do {                                                                                                           \
		const char *g_ = (got);                                                                                \
		check(streq(g_, (want)), "%s: \"%s\" (want \"%s\")", (what), g_ ? g_ : "(null)", (want));              \
	} while (0)

#define CHECK_EQ(got, want, what)                                                                                      \
	do {                                                                                                           \
		long long g_ = (long long)(got), w_ = (long long)(want);                                               \
		check(g_ == w_, "%s: %lld (want %lld)", (what), g_, w_);                                               \
	} while (0)

static void dump(const struct azds_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char line[1024];

		azds_diag_format(&d->items[i], line, sizeof(line));
		printf("      | %s\n", line);
	}
}

/* A diagnostic of sev at line with exactly key whose message holds text. */
static bool has(const struct azds_diags *d, enum azds_diag_sev sev, unsigned line, const char *key, const char *text)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct azds_diag *g = &d->items[i];

		if (g->sev == sev && g->line == line && (!key || !strcmp(g->key, key)) && strstr(g->msg, text))
			return true;
	}
	return false;
}

static void expect(const struct azds_diags *d, enum azds_diag_sev sev, unsigned line, const char *key, const char *text,
		   const char *what)
{
	bool ok = has(d, sev, line, key, text);

	check(ok, "%s: %s at line %u, key %s, \"%s\"", what, azds_diag_sev_name(sev), line, key ? key : "*", text);
	if (!ok)
		dump(d);
}

static int parse(const char *text, struct azds_yaml **cfg, struct azds_diags *d)
{
	azds_diags_init(d);
	return azds_yaml_parse("t.yaml", text, strlen(text), cfg, d);
}

#define HDR "kind: helm-release\napiVersion: 1.1\n"

/* ---- the samples ------------------------------------------------------------ */

static void test_dotnet(void)
{
	struct azds_diags d;
	struct azds_yaml *c;
	int rc;

	azds_diags_init(&d);
	rc = azds_yaml_load("fixtures/yaml/dotnet-mywebapi.azds.yaml", &c, &d);
	CHECK_EQ(rc, 0, ".NET sample: loads");
	CHECK_EQ(d.n, 0, ".NET sample: no diagnostics at all");
	if (rc) {
		dump(&d);
		azds_diags_free(&d);
		return;
	}
	CHECK_STR(c->kind.v, "helm-release", "kind");
	CHECK_EQ(c->kind.line, 1, "kind's line");
	CHECK_STR(c->api_version.v, "1.1", "apiVersion (a plain 1.1 is read as text)");
	CHECK_EQ(c->api_version.line, 2, "apiVersion's line");
	CHECK_STR(c->build.context.v, ".", "build.context");
	CHECK_EQ(c->build.context.line, 4, "build.context's line");
	CHECK_STR(c->build.dockerfile.v, "Dockerfile", "build.dockerfile");
	CHECK_EQ(c->build.dockerfile.line, 5, "build.dockerfile's line");
	check(c->install.present, "install present");
	CHECK_STR(c->install.chart.v, "charts/mywebapi", "install.chart");
	CHECK_EQ(c->install.chart.line, 7, "install.chart's line");
	CHECK_EQ(c->install.n_values, 2, "install.values count");
	CHECK_STR(c->install.values[0].path, "values.dev.yaml", "values[0] without its ?");
	check(c->install.values[0].optional && c->install.values[1].optional, "both values files are optional");
	CHECK_STR(c->install.values[1].path, "secrets.dev.yaml", "values[1]");
	CHECK_EQ(c->install.values[1].line, 10, "values[1]'s line");
	CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(c, "replicaCount")), "1", "set.replicaCount");
	check(azds_yaml_set_get(c, "replicaCount")->plain, "set.replicaCount is plain (a number to helm)");
	CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(c, "image.tag")), "$(tag)", "set.image.tag as written");
	CHECK_EQ(azds_yaml_set_get(c, "image.tag")->line, 15, "set.image.tag's line");
	CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(c, "ingress.hosts[0]")),
		  "$(spacePrefix)$(rootSpacePrefix)mywebapi$(hostSuffix)", "set.ingress.hosts[0]");
	CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(c, "ingress.annotations.kubernetes\\.io/ingress\\.class")),
		  "traefik-azds", "a key with dots, queried with \\.");
	check(!azds_yaml_set_get(c, "ingress.hosts[1]") && !azds_yaml_set_get(c, "nope.x") &&
		      !azds_yaml_set_get(c, "image.tag.deeper"),
	      "absent paths are NULL");
	CHECK_STR(c->develop.build.dockerfile.v, "Dockerfile.develop", "develop.build.dockerfile");
	CHECK_EQ(c->develop.build.dockerfile.line, 26, "develop.build.dockerfile's line");
	CHECK_STR(azds_yaml_dockerfile(c), "Dockerfile.develop", "the Dockerfile host mode reads");
	check(c->develop.build.use_gitignore, "useGitIgnore true");
	CHECK_EQ(c->develop.build.use_gitignore_line, 27, "useGitIgnore's line");
	CHECK_EQ(c->develop.build.n_args, 1, "one build arg");
	CHECK_STR(c->develop.build.args[0].key, "BUILD_CONFIGURATION", "build arg name");
	CHECK_STR(c->develop.build.args[0].value, "${BUILD_CONFIGURATION:-Debug}", "build arg as written");
	CHECK_EQ(c->develop.build.args[0].line, 29, "build arg's line");
	CHECK_EQ(c->develop.container.n_sync, 4, "four sync globs");
	check(!c->develop.container.sync_default, "sync is the file's");
	CHECK_STR(c->develop.container.sync[0].glob, "**/Pages/**", "sync[0]");
	check(!c->develop.container.sync[0].exclude, "sync[0] includes");
	CHECK_STR(c->develop.container.sync[3].glob, "**/*.{sln,csproj}", "sync[3] without its !");
	check(c->develop.container.sync[3].exclude, "sync[3] excludes");
	CHECK_EQ(c->develop.container.sync[3].line, 35, "sync[3]'s line");
	CHECK_EQ(c->develop.container.command.argc, 7, "command argc");
	check(!c->develop.container.command.shell, "command is a sequence");
	CHECK_STR(c->develop.container.command.argv[0], "dotnet", "command[0]");
	CHECK_STR(c->develop.container.command.argv[6], "${BUILD_CONFIGURATION:-Debug}", "command[6] as written");
	check(c->develop.container.command.argv[7] == NULL, "command argv NULL-terminated");
	CHECK_EQ(c->develop.container.n_processes_to_kill, 2, "processesToKill count");
	CHECK_STR(c->develop.container.processes_to_kill[1].v, "vsdbg", "processesToKill[1]");
	CHECK_EQ(c->develop.container.n_build_commands, 1, "one build command");
	CHECK_EQ(c->develop.container.build_commands[0].argc, 5, "build command argc");
	CHECK_STR(c->develop.container.build_commands[0].argv[1], "build", "build command[1]");
	CHECK_EQ(c->develop.container.build_commands[0].line, 40, "build command's line");
	{
		char path[256];

		check(!azds_yaml_dockerfile_path(c, "/src/api", path, sizeof(path)) &&
			      streq(path, "/src/api/./Dockerfile.develop"),
		      "dockerfile path: %s", path);
		CHECK_EQ(azds_yaml_dockerfile_path(c, "/src/api", path, 8), -ENAMETOOLONG, "a path that does not fit");
	}
	azds_yaml_free(c);
	azds_diags_free(&d);
}

static void test_node(void)
{
	struct azds_diags d;
	struct azds_yaml *c;
	int rc;

	azds_diags_init(&d);
	rc = azds_yaml_load("fixtures/yaml/node-webfrontend.azds.yaml", &c, &d);
	CHECK_EQ(rc, 0, "Node sample: loads");
	CHECK_EQ(d.n, 0, "Node sample: no diagnostics");
	if (rc) {
		dump(&d);
		azds_diags_free(&d);
		return;
	}
	CHECK_STR(c->develop.build.dockerfile.v, "Dockerfile", "develop dockerfile defaults to build.dockerfile");
	CHECK_EQ(c->develop.build.dockerfile.line, 0, "... as a default (line 0)");
	CHECK_EQ(c->develop.container.n_sync, 1, "one sync glob");
	CHECK_STR(c->develop.container.sync[0].glob, "**/package.json", "sync[0]");
	check(c->develop.container.sync[0].exclude, "sync[0] is an exclude");
	CHECK_EQ(c->develop.container.command.argc, 0, "no command: the Dockerfile's");
	CHECK_EQ(c->develop.container.n_processes_to_kill, 1, "processesToKill [node]");
	CHECK_STR(c->develop.container.processes_to_kill[0].v, "node", "processesToKill[0]");
	CHECK_EQ(c->develop.container.processes_to_kill[0].line, 31, "processesToKill[0]'s line");
	CHECK_EQ(c->develop.container.n_build_commands, 0, "no build commands");
	azds_yaml_free(c);
	azds_diags_free(&d);

	rc = azds_yaml_load("fixtures/yaml/node-bikesharingweb.azds.yaml", &c, &(struct azds_diags){ 0 });
	CHECK_EQ(rc, 0, "BikeSharingWeb sample: loads");
	if (!rc) {
		CHECK_EQ(c->develop.container.command.argc, 3, "block-sequence command");
		CHECK_STR(c->develop.container.command.argv[2], "dev", "command[2]");
		CHECK_EQ(c->develop.container.command.line, 30, "command's line (its first item)");
		azds_yaml_free(c);
	}
}

static void test_java_go(void)
{
	struct azds_diags d;
	struct azds_yaml *c;
	int rc;

	azds_diags_init(&d);
	rc = azds_yaml_load("fixtures/yaml/java-webfrontend.azds.yaml", &c, &d);
	CHECK_EQ(rc, 0, "Java sample: loads");
	if (!rc) {
		CHECK_STR(c->develop.container.sync[0].glob, "**/**", "sync **/**");
		CHECK_EQ(c->develop.container.build_commands[0].argc, 5, "mvn package argc");
		CHECK_STR(c->develop.container.build_commands[0].argv[4], "-Dmaven.javadoc.skip=true", "last mvn arg");
		azds_yaml_free(c);
	}
	azds_diags_free(&d);
	azds_diags_init(&d);
	rc = azds_yaml_load("fixtures/yaml/go-minimal.azds.yaml", &c, &d);
	CHECK_EQ(rc, 0, "Go sample (no container section): loads");
	if (!rc) {
		check(c->develop.container.sync_default, "sync absent: the default");
		CHECK_EQ(c->develop.container.n_sync, 1, "one default glob");
		CHECK_STR(c->develop.container.sync[0].glob, "**/**", "the default glob");
		CHECK_EQ(c->develop.container.sync[0].line, 0, "a default has line 0");
		check(c->develop.build.use_gitignore, "useGitIgnore true");
		azds_yaml_free(c);
	}
	azds_diags_free(&d);
}

/* ---- errors and warnings ---------------------------------------------------- */

static void test_broken_file(void)
{
	struct azds_diags d;
	struct azds_yaml *c = (void *)1;
	char line[1024];
	int rc;

	azds_diags_init(&d);
	rc = azds_yaml_load("fixtures/yaml/broken-sync.azds.yaml", &c, &d);
	CHECK_EQ(rc, -EINVAL, "a broken file is refused");
	check(c == NULL, "no config on error");
	CHECK_EQ(azds_diags_errors(&d), 1, "one error");
	expect(&d, AZDS_DIAG_ERROR, 8, "configurations.develop.container.sync",
	       "expected a sequence of globs, got a string", "sync as a string");
	if (d.n) {
		azds_diag_format(&d.items[0], line, sizeof(line));
		CHECK_STR(
			line,
			"fixtures/yaml/broken-sync.azds.yaml:8: error: configurations.develop.container.sync: expected "
			"a sequence of globs, got a string",
			"the printed line, gcc style");
	}
	azds_diags_free(&d);

	azds_diags_init(&d);
	rc = azds_yaml_load("fixtures/yaml/no-such.azds.yaml", &c, &d);
	CHECK_EQ(rc, -ENOENT, "a missing file");
	expect(&d, AZDS_DIAG_ERROR, 0, "", "no such file", "a missing file says so");
	azds_diags_free(&d);

	azds_diags_init(&d);
	rc = azds_yaml_load("fixtures/yaml", &c, &d);
	CHECK_EQ(rc, -EISDIR, "a folder");
	azds_diags_free(&d);
}

static void test_unknown_keys(void)
{
	struct azds_diags d;
	struct azds_yaml *c;
	int rc = parse(HDR "foo: 1\n"
			   "build:\n"
			   "  contxt: src\n"
			   "configurations:\n"
			   "  develop:\n"
			   "    build:\n"
			   "      usegitignore: true\n"
			   "    container:\n"
			   "      synk: []\n"
			   "      iterate:\n"
			   "        procesesToKill: [x]\n"
			   "  develop.attach:\n"
			   "    build: {}\n",
		       &c, &d);

	CHECK_EQ(rc, 0, "unknown keys are accepted");
	CHECK_EQ(azds_diags_warnings(&d), 6, "one warning each");
	CHECK_EQ(azds_diags_errors(&d), 0, "no errors");
	expect(&d, AZDS_DIAG_WARNING, 3, "foo", "unknown key, ignored", "top-level foo");
	expect(&d, AZDS_DIAG_WARNING, 5, "build.contxt", "unknown key", "build.contxt");
	expect(&d, AZDS_DIAG_WARNING, 9, "configurations.develop.build.usegitignore", "did you mean useGitIgnore?",
	       "a case slip is named");
	expect(&d, AZDS_DIAG_WARNING, 11, "configurations.develop.container.synk", "unknown key", "synk");
	expect(&d, AZDS_DIAG_WARNING, 13, "configurations.develop.container.iterate.procesesToKill", "unknown key",
	       "procesesToKill");
	expect(&d, AZDS_DIAG_WARNING, 14, "configurations.develop.attach", "develop configuration",
	       "another configuration");
	if (!rc) {
		check(c->develop.build.use_gitignore && !c->develop.build.use_gitignore_line,
		      "an unknown key sets nothing: useGitIgnore keeps its default, true");
		CHECK_STR(c->build.context.v, ".", "build.context stays the default");
		CHECK_EQ(c->build.context.line, 0, "... at line 0");
		azds_yaml_free(c);
	}
	azds_diags_free(&d);
}

struct bad_case {
	const char *what;
	const char *text;
	unsigned line;
	const char *key;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{ "missing kind", "apiVersion: 1.1\nbuild: {}\n", 1, "kind", "required key is missing" },
	{ "missing apiVersion", "kind: helm-release\n", 1, "apiVersion", "required key is missing" },
	{ "null apiVersion", "kind: helm-release\napiVersion:\n", 2, "apiVersion", "required key has no value" },
	{ "another kind", "kind: deployment\napiVersion: 1.1\n", 1, "kind",
	  "\"deployment\" is not supported: azds reads kind helm-release" },
	{ "apiVersion 2", "kind: helm-release\napiVersion: \"2\"\n", 2, "apiVersion", "\"2\" is not supported" },
	{ "build a sequence", HDR "build:\n- context\n", 4, "build", "expected a mapping, got a sequence" },
	{ "dockerfile a mapping", HDR "build:\n  dockerfile: {a: b}\n", 4, "build.dockerfile",
	  "expected a string, got a mapping" },
	{ "empty context", HDR "build:\n  context: \"\"\n", 4, "build.context", "is empty" },
	{ "install without chart", HDR "install:\n  values: []\n", 4, "install.chart", "required key is missing" },
	{ "values a string", HDR "install:\n  chart: c\n  values: values.yaml\n", 5, "install.values",
	  "expected a sequence of file names, got a string" },
	{ "values item a mapping", HDR "install:\n  chart: c\n  values:\n  - a.yaml\n  - {b: c}\n", 7,
	  "install.values[1]", "expected a file name, got a mapping" },
	{ "values item just ?", HDR "install:\n  chart: c\n  values:\n  - \"?\"\n", 6, "install.values[0]",
	  "an empty file name" },
	{ "set a sequence", HDR "install:\n  chart: c\n  set: [1]\n", 5, "install.set", "expected a mapping" },
	{ "useGitIgnore maybe", HDR "configurations:\n  develop:\n    build:\n      useGitIgnore: maybe\n", 6,
	  "configurations.develop.build.useGitIgnore", "expected true or false, got a string \"maybe\"" },
	{ "ignore a string", HDR "configurations:\n  develop:\n    build:\n      ignore: \"!x\"\n", 6,
	  "configurations.develop.build.ignore", "expected a sequence of .gitignore lines" },
	{ "args a sequence", HDR "configurations:\n  develop:\n    build:\n      args: [a]\n", 6,
	  "configurations.develop.build.args", "expected a mapping, got a sequence" },
	{ "arg value a mapping", HDR "configurations:\n  develop:\n    build:\n      args:\n        A: {b: 1}\n", 7,
	  "configurations.develop.build.args.A", "expected a string, got a mapping" },
	{ "sync[2] a mapping",
	  HDR "configurations:\n  develop:\n    container:\n      sync:\n      - a\n      - b\n      - {c: d}\n", 9,
	  "configurations.develop.container.sync[2]", "expected a glob, got a mapping" },
	{ "sync item just !", HDR "configurations:\n  develop:\n    container:\n      sync: [\"!\"]\n", 6,
	  "configurations.develop.container.sync[0]", "is an empty glob" },
	{ "command empty", HDR "configurations:\n  develop:\n    container:\n      command: []\n", 6,
	  "configurations.develop.container.command", "is an empty command" },
	{ "command item a sequence", HDR "configurations:\n  develop:\n    container:\n      command: [a, [b]]\n", 6,
	  "configurations.develop.container.command[1]", "expected a string, got a sequence" },
	{ "command a mapping", HDR "configurations:\n  develop:\n    container:\n      command: {a: b}\n", 6,
	  "configurations.develop.container.command", "expected a sequence of strings" },
	{ "processesToKill a string",
	  HDR "configurations:\n  develop:\n    container:\n      iterate:\n        processesToKill: node\n", 7,
	  "configurations.develop.container.iterate.processesToKill", "expected a sequence of process names" },
	{ "buildCommands item a mapping",
	  HDR "configurations:\n  develop:\n    container:\n      iterate:\n        buildCommands:\n        - [make]\n"
	      "        - {a: b}\n",
	  9, "configurations.develop.container.iterate.buildCommands[1]", "expected a sequence of strings" },
	{ "buildCommands nested item",
	  HDR "configurations:\n  develop:\n    container:\n      iterate:\n        buildCommands:\n        - [make, "
	      "[x]]\n",
	  8, "configurations.develop.container.iterate.buildCommands[0][1]", "expected a string, got a sequence" },
	{ "container a string", HDR "configurations:\n  develop:\n    container: x\n", 5,
	  "configurations.develop.container", "expected a mapping, got a string" },
	{ "duplicate top key", HDR "build:\n  context: .\nbuild:\n  context: src\n", 5, "build",
	  "duplicate key (first at line 3)" },
	{ "duplicate nested key", HDR "install:\n  chart: c\n  set:\n    image:\n      tag: a\n      tag: b\n", 8,
	  "install.set.image.tag", "duplicate key (first at line 7)" },
	{ "duplicate in a sequence item", HDR "install:\n  chart: c\n  set:\n    hosts:\n    - {a: 1, a: 2}\n", 7,
	  "install.set.hosts[0].a", "duplicate key (first at line 7)" },
	{ "syntax error", HDR "install:\n  chart: a: b\n", 4, "", "YAML syntax error: mapping values are not allowed" },
	{ "tab indentation", HDR "build:\n\tcontext: .\n", 4, "", "YAML syntax error" },
	{ "unclosed flow", HDR "build: {context: .\n", 4, "", "YAML syntax error" },
	{ "second document", HDR "---\nkind: helm-release\n", 3, "", "a second YAML document" },
	{ "a sequence at the top", "- kind\n- apiVersion\n", 1, "", "expected a mapping" },
	{ "empty file", "", 0, "", "the file is empty" },
	{ "only a comment", "# nothing\n", 0, "", "the file is empty" },
	{ "a mapping as a key", HDR "? {a: b}\n: c\n", 3, "", "a mapping used as a mapping key" },
	{ "undefined alias", HDR "build: *nope\n", 3, "", "alias *nope: no complete &nope before it" },
	{ "recursive alias", HDR "install:\n  chart: c\n  set: &s\n    self: *s\n", 6, "", "alias *s: no complete &s" },
	{ "NUL in a scalar", HDR "build:\n  context: \"a\\0b\"\n", 4, "", "NUL byte" },
	{ "invalid UTF-8", HDR "build:\n  context: \xff\xfe\n", 4, "", "YAML syntax error" },
};

static void test_bad_cases(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		struct azds_diags d;
		struct azds_yaml *c = (void *)1;
		int rc = parse(b->text, &c, &d);

		check(rc == -EINVAL && c == NULL, "%s: refused (%d)", b->what, rc);
		expect(&d, AZDS_DIAG_ERROR, b->line, b->key, b->msg, b->what);
		azds_diags_free(&d);
	}
}

static void test_many_errors(void)
{
	struct azds_diags d;
	struct azds_yaml *c;
	int rc = parse("apiVersion: 9\n"
		       "build:\n"
		       "  context: [a]\n"
		       "  context: b\n"
		       "configurations:\n"
		       "  develop:\n"
		       "    container:\n"
		       "      sync: x\n",
		       &c, &d);

	CHECK_EQ(rc, -EINVAL, "a file with several errors");
	CHECK_EQ(azds_diags_errors(&d), 5, "all five reported in one run");
	expect(&d, AZDS_DIAG_ERROR, 4, "build.context", "duplicate key (first at line 3)", "duplicate");
	expect(&d, AZDS_DIAG_ERROR, 1, "kind", "required key is missing", "kind");
	expect(&d, AZDS_DIAG_ERROR, 1, "apiVersion", "\"9\" is not supported", "apiVersion");
	expect(&d, AZDS_DIAG_ERROR, 3, "build.context", "expected a string, got a sequence", "context type");
	expect(&d, AZDS_DIAG_ERROR, 8, "configurations.develop.container.sync", "expected a sequence", "sync type");
	azds_diags_free(&d);
}

/* apiVersion 1.0, as many real projects still say: refresh for iterate, syncTarget */
static void test_v10(void)
{
	struct azds_diags d;
	struct azds_yaml *c;
	int rc = parse("apiVersion: 1.0\nkind: helm-release\nconfigurations:\n  develop:\n    container:\n"
		       "      sync:\n      - \"!**/package.json\"\n      syncTarget: /app\n      refresh:\n"
		       "        processesToKill: [node]\n  develop.attach:\n    container:\n      syncTarget: /app\n",
		       &c, &d);

	CHECK_EQ(rc, 0, "a 1.0 file is read");
	if (rc) {
		dump(&d);
		azds_diags_free(&d);
		return;
	}
	expect(&d, AZDS_DIAG_NOTE, 1, "apiVersion", "1.0 is read as 1.1", "1.0 is noted");
	expect(&d, AZDS_DIAG_NOTE, 8, "configurations.develop.container.syncTarget",
	       "/app: host mode puts the workspace at the Dockerfile's last WORKDIR", "syncTarget is noted");
	expect(&d, AZDS_DIAG_WARNING, 11, "configurations.develop.attach", "develop configuration",
	       "develop.attach is not used");
	CHECK_EQ(azds_diags_warnings(&d), 1, "no other warning");
	check(d.n == 3 && d.items[0].line == 1 && d.items[1].line == 8 && d.items[2].line == 11,
	      "diagnostics in line order (the walk finds develop.attach before syncTarget)");
	CHECK_EQ(c->develop.container.n_processes_to_kill, 1, "refresh read as iterate");
	CHECK_STR(c->develop.container.processes_to_kill[0].v, "node", "refresh.processesToKill[0]");
	azds_yaml_free(c);
	azds_diags_free(&d);

	rc = parse(HDR "configurations:\n  develop:\n    container:\n      refresh: {}\n", &c, &d);
	CHECK_EQ(rc, 0, "refresh in a 1.1 file");
	expect(&d, AZDS_DIAG_WARNING, 6, "configurations.develop.container.refresh", "unknown key",
	       "is an unknown key there");
	if (!rc)
		azds_yaml_free(c);
	azds_diags_free(&d);
}

static void test_values(void)
{
	struct azds_diags d;
	struct azds_yaml *c;
	int rc = parse(HDR "install:\n  chart: charts/x\n  values:\n  - a.yaml\n  - b.yaml?\n"
			   "configurations:\n  develop:\n    build:\n      useGitIgnore: \"false\"\n"
			   "      ignore:\n      - \"!NuGet.Config\"\n      - \"*.log\"\n"
			   "    container:\n      command: npm run dev\n      iterate:\n        buildCommands:\n"
			   "        - make all\n        - [make, test]\n",
		       &c, &d);

	CHECK_EQ(rc, 0, "values, a shell command, string build commands");
	if (rc) {
		dump(&d);
		azds_diags_free(&d);
		return;
	}
	check(!c->install.values[0].optional, "a.yaml is required");
	check(c->install.values[1].optional && streq(c->install.values[1].path, "b.yaml"), "b.yaml? is optional");
	check(!c->develop.build.use_gitignore && c->develop.build.use_gitignore_line == 11,
	      "a quoted \"false\" is false, at line 11");
	CHECK_EQ(c->develop.build.n_ignore, 2, "two build.ignore lines");
	CHECK_STR(c->develop.build.ignore[0].v, "!NuGet.Config", "build.ignore[0] as written, ! kept");
	CHECK_EQ(c->develop.build.ignore[1].line, 14, "build.ignore[1]'s line");
	check(c->develop.container.command.shell && c->develop.container.command.argc == 1 &&
		      streq(c->develop.container.command.argv[0], "npm run dev"),
	      "a string command is one shell command");
	check(c->develop.container.build_commands[0].shell &&
		      streq(c->develop.container.build_commands[0].argv[0], "make all"),
	      "a string build command is a shell command");
	check(!c->develop.container.build_commands[1].shell && c->develop.container.build_commands[1].argc == 2,
	      "a sequence build command is argv");
	azds_yaml_free(c);
	azds_diags_free(&d);
}

/* ---- aliases, merges, limits ------------------------------------------------ */

static void test_aliases(void)
{
	struct azds_diags d;
	struct azds_yaml *c;
	int rc = parse(HDR "install:\n  chart: c\n  set:\n    base: &b\n      x: 1\n      y: [p, q]\n"
			   "    other: *b\n    merged:\n      <<: *b\n      x: 2\n    quoted:\n      \"<<\": 3\n"
			   "    key: &k name\n    *k : value\n",
		       &c, &d);

	CHECK_EQ(rc, 0, "bounded aliases and merge keys are read");
	if (rc) {
		dump(&d);
		azds_diags_free(&d);
		return;
	}
	CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(c, "other.x")), "1", "an alias copies its anchor");
	CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(c, "other.y[1]")), "q", "... deeply");
	CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(c, "merged.x")), "2", "a key of the mapping wins over <<");
	CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(c, "merged.y[0]")), "p", "<< adds the keys it lacks");
	check(!azds_yaml_set_get(c, "merged.<<"), "<< itself is not a key");
	CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(c, "quoted.<<")), "3", "a quoted \"<<\" is an ordinary key");
	CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(c, "name")), "value", "an alias as a key");
	azds_yaml_free(c);
	azds_diags_free(&d);
}

static void test_billion_laughs(void)
{
	static const char text[] = HDR "install:\n  chart: c\n  set:\n"
				       "    a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
				       "    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
				       "    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
				       "    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
				       "    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
				       "    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
				       "    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
				       "    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
				       "    i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
	struct azds_diags d;
	struct azds_yaml *c;
	int rc = parse(text, &c, &d);

	CHECK_EQ(rc, -EINVAL, "billion laughs is refused");
	expect(&d, AZDS_DIAG_ERROR, 9, "", "past the limit of 10000", "... at the alias that crosses the node limit");
	azds_diags_free(&d);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * n + tl + 1), *p = s;

	if (!s)
		abort();
	memcpy(p, head, hl), p += hl;
	for (size_t i = 0; i < n; i++)
		memcpy(p, unit, ul), p += ul;
	memcpy(p, tail, tl + 1);
	return s;
}

static void test_limits(void)
{
	struct azds_diags d;
	struct azds_yaml *c;
	char *s;
	int rc;

	s = repeat(HDR "install:\n  chart: c\n  set:\n    deep: ", "[", 40, "x");
	rc = parse(s, &c, &d);
	CHECK_EQ(rc, -EINVAL, "nesting past the depth limit");
	expect(&d, AZDS_DIAG_ERROR, 6, "", "nested more than 32 levels deep", "the depth limit names its line");
	azds_diags_free(&d);
	free(s);

	s = repeat(HDR "install:\n  chart: c\n  set:\n    many: [", "1,", 10001, "1]\n");
	rc = parse(s, &c, &d);
	CHECK_EQ(rc, -EINVAL, "more nodes than the limit");
	expect(&d, AZDS_DIAG_ERROR, 6, "", "more than 10000 YAML nodes", "the node limit");
	azds_diags_free(&d);
	free(s);

	s = repeat(HDR "build:\n  context: ", "a", AZDS_YAML_MAX_SCALAR + 1, "\n");
	rc = parse(s, &c, &d);
	CHECK_EQ(rc, -EINVAL, "a scalar past the length limit");
	expect(&d, AZDS_DIAG_ERROR, 4, "", "a scalar of 65537 bytes: the limit is 65536", "the scalar limit");
	azds_diags_free(&d);
	free(s);

	s = repeat(HDR "# ", "x", AZDS_YAML_MAX_BYTES, "\n");
	rc = parse(s, &c, &d);
	CHECK_EQ(rc, -EFBIG, "a file past the size limit");
	expect(&d, AZDS_DIAG_ERROR, 0, "", "the limit is 1048576", "the size limit");
	azds_diags_free(&d);
	free(s);

	/* just under every limit: still read */
	s = repeat(HDR "install:\n  chart: c\n  set:\n    many: [", "1,", 9000, "1]\n");
	rc = parse(s, &c, &d);
	CHECK_EQ(rc, 0, "9001 items are fine");
	if (!rc) {
		CHECK_EQ(azds_yaml_set_get(c, "many")->n_items, 9001, "all of them");
		azds_yaml_free(c);
	}
	azds_diags_free(&d);
	free(s);
}

/* ---- expansions ------------------------------------------------------------- */

struct env_pair {
	const char *k, *v;
};

static const char *env_lookup(const char *name, void *ctx)
{
	for (const struct env_pair *e = ctx; e->k; e++)
		if (!strcmp(e->k, name))
			return e->v;
	return NULL;
}

static const struct env_pair no_env[] = { { NULL, NULL } };

static const struct env_pair test_env[] = {
	{ "A", "alpha" },
	{ "EMPTY", "" },
	{ "BUILD_CONFIGURATION", "Release" },
	{ NULL, NULL },
};

static void expand_case(const char *in, const char *want, const char *what)
{
	char err[256] = "", *out = NULL;
	int rc = azds_expand_env(in, env_lookup, (void *)test_env, &out, err, sizeof(err));

	check(rc == 0 && streq(out, want), "%s: %s -> \"%s\" (want \"%s\") %s", what, in, out ? out : "(null)", want,
	      err);
	free(out);
}

static void expand_fails(const char *in, const char *msg, const char *what)
{
	char err[256] = "", *out = NULL;
	int rc = azds_expand_env(in, env_lookup, (void *)test_env, &out, err, sizeof(err));

	check(rc == -EINVAL && !out && strstr(err, msg), "%s: %s fails: \"%s\"", what, in, err);
	free(out);
}

static void test_expand_env(void)
{
	expand_case("${A}", "alpha", "a set variable");
	expand_case("x${NOPE}y", "xy", "an unset one is empty");
	expand_case("${NOPE:-Debug}", "Debug", ":- when unset");
	expand_case("${EMPTY:-Debug}", "Debug", ":- when empty");
	expand_case("${EMPTY-Debug}", "", "- keeps an empty value");
	expand_case("${NOPE-Debug}", "Debug", "- when unset");
	expand_case("${A:+on}", "on", ":+ when set");
	expand_case("${EMPTY:+on}", "", ":+ when empty");
	expand_case("${EMPTY+on}", "on", "+ when set but empty");
	expand_case("${NOPE+on}", "", "+ when unset");
	expand_case("${NOPE:-${A:-z}}-${NOPE:-${NOPE2:-z}}", "alpha-z", "nested defaults");
	expand_case("$${A} $A $(date) $", "${A} $A $(date) $", "$${, $VAR, $(cmd) and a lone $ stay");
	expand_case("${A:?must be set}", "alpha", ":? when set");
	expand_fails("${NOPE:?set NOPE first}", "NOPE: set NOPE first", ":? when unset");
	expand_fails("${EMPTY:?}", "EMPTY: is empty", ":? when empty");
	expand_fails("${A", "no closing }", "unterminated");
	expand_fails("${A:-x", "no closing }", "unterminated default");
	expand_fails("${A%x}", "bad substitution", "an unsupported operator");
	expand_fails("${1}", "bad substitution", "not a name");
	{
		char err[256], *out;
		char *big = repeat("", "${A}", 20000, "");
		int rc = azds_expand_env(big, env_lookup, (void *)test_env, &out, err, sizeof(err));

		check(rc == -E2BIG && strstr(err, "65536"), "an expansion past the limit: %d %s", rc, err);
		free(big);
	}
}

static void test_expand_vars(void)
{
	const struct azds_yaml_vars v = {
		.tag = "s123", .space_prefix = "alice.s.", .root_space_prefix = "dev.", .host_suffix = ".localhost"
	};
	const struct azds_yaml_vars partial = { .tag = "t" };
	char err[256] = "", *out = NULL;
	int rc;

	rc = azds_expand_vars("$(spacePrefix)$(rootSpacePrefix)web$(hostSuffix):$(tag)", &v, &out, err, sizeof(err));
	check(rc == 0 && streq(out, "alice.s.dev.web.localhost:s123"), "all four: %s", out ? out : err);
	free(out);
	rc = azds_expand_vars("$(nope) x", &v, &out, err, sizeof(err));
	check(rc == -EINVAL && strstr(err, "unknown variable $(nope)"), "an unknown $(x) names it: %s", err);
	rc = azds_expand_vars("$(hostSuffix)", &partial, &out, err, sizeof(err));
	check(rc == -EINVAL && strstr(err, "$(hostSuffix) has no value here"), "a value the caller lacks: %s", err);
	rc = azds_expand_vars("${HOME} $( x) $(a b) $", &v, &out, err, sizeof(err));
	check(rc == 0 && streq(out, "${HOME} $( x) $(a b) $"), "anything else than $(name) stays: %s", out);
	free(out);
}

static void test_yaml_expand_env(void)
{
	struct azds_diags d;
	struct azds_yaml *c;
	int rc;

	azds_diags_init(&d);
	rc = azds_yaml_load("fixtures/yaml/dotnet-mywebapi.azds.yaml", &c, &d);
	if (rc) {
		check(false, "fixture loads");
		return;
	}
	rc = azds_yaml_expand_env(c, env_lookup, (void *)no_env, &d);
	CHECK_EQ(rc, 0, "expanding the .NET sample with the variable unset");
	CHECK_STR(c->develop.build.args[0].value, "Debug", "the build arg takes its default");
	CHECK_STR(c->develop.container.command.argv[6], "Debug", "command[6]");
	CHECK_STR(c->develop.container.build_commands[0].argv[4], "Debug", "buildCommands[0][4]");
	CHECK_STR(c->develop.container.command.argv[0], "dotnet", "other words unchanged");
	azds_yaml_free(c);

	rc = azds_yaml_load("fixtures/yaml/dotnet-mywebapi.azds.yaml", &c, &d);
	rc = rc ? rc : azds_yaml_expand_env(c, env_lookup, (void *)test_env, &d);
	CHECK_EQ(rc, 0, "expanding with BUILD_CONFIGURATION=Release");
	if (!rc) {
		CHECK_STR(c->develop.build.args[0].value, "Release", "the environment wins over the default");
		CHECK_STR(c->develop.container.command.argv[6], "Release", "command[6]");
	}
	azds_yaml_free(c);
	azds_diags_free(&d);

	rc = parse(HDR "configurations:\n  develop:\n    build:\n      args:\n        X: ${NOPE:?X needs NOPE}\n"
		       "    container:\n      command: [a, \"${B\"]\n",
		   &c, &d);
	if (!rc) {
		rc = azds_yaml_expand_env(c, env_lookup, (void *)test_env, &d);
		CHECK_EQ(rc, -EINVAL, "expansion errors are reported");
		expect(&d, AZDS_DIAG_ERROR, 7, "configurations.develop.build.args.X", "NOPE: X needs NOPE",
		       "the arg's error names its line and key");
		expect(&d, AZDS_DIAG_ERROR, 9, "configurations.develop.container.command[1]", "no closing }",
		       "the command's error names its item");
		azds_yaml_free(c);
	} else {
		check(false, "the expansion-error file parses");
	}
	azds_diags_free(&d);
}

static void test_render_set(void)
{
	const struct azds_yaml_vars v = {
		.tag = "abc123", .space_prefix = "alice.s.", .root_space_prefix = "dev.", .host_suffix = ".localhost"
	};
	static const char want[] = "replicaCount: 1\n"
				   "image:\n"
				   "  repository: mywebapi\n"
				   "  tag: \"abc123\"\n"
				   "  pullPolicy: Never\n"
				   "ingress:\n"
				   "  annotations:\n"
				   "    kubernetes.io/ingress.class: traefik-azds\n"
				   "  hosts:\n"
				   "    - \"alice.s.dev.mywebapi.localhost\"\n";
	struct azds_diags d;
	struct azds_yaml *c, *back;
	char *out = NULL, *wrapped;
	int rc;

	azds_diags_init(&d);
	rc = azds_yaml_load("fixtures/yaml/dotnet-mywebapi.azds.yaml", &c, &d);
	if (rc) {
		check(false, "fixture loads");
		return;
	}
	rc = azds_yaml_render_set(c, &v, &out, &d);
	CHECK_EQ(rc, 0, "install.set renders");
	check(streq(out, want), "rendered exactly:\n%s", out ? out : "(null)");

	/* read back: wrap it into a file of its own, 4 spaces in */
	wrapped = malloc(strlen(out) * 2 + 256);
	strcpy(wrapped, HDR "install:\n  chart: c\n  set:\n");
	for (char *line = out; *line;) {
		char *nl = strchr(line, '\n');

		strcat(wrapped, "    ");
		strncat(wrapped, line, (size_t)(nl - line + 1));
		line = nl + 1;
	}
	azds_diags_free(&d);
	rc = parse(wrapped, &back, &d);
	CHECK_EQ(rc, 0, "the rendering parses back");
	if (!rc) {
		CHECK_STR(azds_ynode_scalar(azds_yaml_set_get(back, "ingress.hosts[0]")),
			  "alice.s.dev.mywebapi.localhost", "the host read back");
		check(!azds_yaml_set_get(back, "image.tag")->plain, "the expanded tag is a quoted string");
		check(azds_yaml_set_get(back, "replicaCount")->plain, "replicaCount stays plain (a number)");
		azds_yaml_free(back);
	}
	free(wrapped);
	free(out);
	azds_diags_free(&d);

	rc = azds_yaml_render_set(c, &(struct azds_yaml_vars){ .tag = "t" }, &out, &d);
	CHECK_EQ(rc, -EINVAL, "rendering without the host values");
	expect(&d, AZDS_DIAG_ERROR, 22, "install.set.ingress.hosts[0]", "$(spacePrefix) has no value here",
	       "the missing value names line and key");
	azds_yaml_free(c);
	azds_diags_free(&d);

	rc = parse(HDR
		   "install:\n  chart: c\n  set:\n    a: $(tagg)\n    e: {}\n    s: []\n    n:\n"
		   "    q: \"x: y\"\n    m: |\n      two\n      lines\n    k: \"multi word\"\n    \"odd key: x\": 1\n",
		   &c, &d);
	if (rc) {
		check(false, "the render-cases file parses");
		dump(&d);
		azds_diags_free(&d);
		return;
	}
	expect(&d, AZDS_DIAG_WARNING, 6, "install.set.a", "unknown variable $(tagg)",
	       "reading the file warns about an unknown $(x) already");
	CHECK_EQ(azds_diags_warnings(&d), 1, "... and only about it");
	azds_diags_free(&d);
	rc = azds_yaml_render_set(c, &v, &out, &d);
	CHECK_EQ(rc, -EINVAL, "an unknown $(tagg)");
	expect(&d, AZDS_DIAG_ERROR, 6, "install.set.a", "unknown variable $(tagg)", "names the variable, line, key");
	azds_diags_free(&d);
	azds_yaml_free(c);

	rc = parse(HDR "install:\n  chart: c\n  set:\n    e: {}\n    s: []\n    n:\n"
		       "    q: \"x: y\"\n    m: |\n      two\n      lines\n    \"odd key: x\": 1\n    \"<<\": 2\n"
		       "    \"true\": 3\n",
		   &c, &d);
	rc = rc ? rc : azds_yaml_render_set(c, &v, &out, &d);
	check(rc == 0 && streq(out, "e: {}\ns: []\n\"n\": null\nq: \"x: y\"\nm: \"two\\nlines\\n\"\n\"odd key: x\": 1\n"
				    "\"<<\": 2\n\"true\": 3\n"),
	      "empty containers, null, quoting, block scalars, odd keys (n is a YAML 1.1 bool):\n%s",
	      rc ? "(failed)" : out);
	if (!rc)
		free(out);
	azds_yaml_free(c);
	azds_diags_free(&d);

	rc = parse(HDR, &c, &d);
	rc = rc ? rc : azds_yaml_render_set(c, &v, &out, &d);
	check(rc == 0 && streq(out, "{}\n"), "no set renders {}");
	if (!rc)
		free(out);
	azds_yaml_free(c);
	azds_diags_free(&d);
}

/* ---- robustness: every prefix and many one-byte changes of the samples ------ */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 16);

	if (!f || !buf)
		abort();
	*len = fread(buf, 1, (1 << 16) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* The parser's contract on any input: 0 with a config and no error, or -EINVAL with none and an error. */
static bool contract(const char *buf, size_t len)
{
	struct azds_diags d;
	struct azds_yaml *c = (void *)1;
	bool ok;
	int rc;

	azds_diags_init(&d);
	rc = azds_yaml_parse("t.yaml", buf, len, &c, &d);
	ok = (rc == 0 && c && !azds_diags_errors(&d)) || (rc == -EINVAL && !c && azds_diags_errors(&d));
	if (!rc) {
		char *out = NULL;

		if (!azds_yaml_render_set(c, &(struct azds_yaml_vars){ "t", "", "r.", ".h" }, &out, &d))
			free(out);
		azds_yaml_free(c);
	}
	azds_diags_free(&d);
	return ok;
}

static void test_mangled(void)
{
	static const char *const files[] = { "fixtures/yaml/dotnet-mywebapi.azds.yaml",
					     "fixtures/yaml/node-webfrontend.azds.yaml" };
	static const char subst[] = { ':', '[', '{', '&', '*', '\t', '"', '\'', '-', '\n', '#', '!', '?', '|' };

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t len, bad = 0, runs = 0;
		char *buf = slurp(files[f], &len);

		for (size_t n = 0; n <= len; n++, runs++)
			if (!contract(buf, n))
				bad++;
		for (size_t i = 0; i < len; i++) {
			char was = buf[i];

			for (size_t k = 0; k < sizeof(subst); k++, runs++) {
				buf[i] = subst[k];
				if (!contract(buf, len))
					bad++;
			}
			buf[i] = was;
		}
		check(bad == 0, "%s: %zu prefixes and one-byte changes keep the contract (%zu broke it)", files[f],
		      runs, bad);
		free(buf);
	}
}

/* ---- diag.h ------------------------------------------------------------------ */

static void test_diags(void)
{
	struct azds_diags d;
	char line[1024], *buf = NULL;
	size_t len = 0;
	FILE *f;

	azds_diags_init(&d);
	azds_diag_add(&d, AZDS_DIAG_WARNING, "azds.yaml", 3, 5, "foo", "unknown key, ignored");
	azds_diag_add(&d, AZDS_DIAG_NOTE, "Dockerfile", 0, 0, NULL, "whole-file note");
	azds_diag_add(&d, AZDS_DIAG_ERROR, NULL, 0, 0, "", "no file at all");
	azds_diag_format(&d.items[0], line, sizeof(line));
	CHECK_STR(line, "azds.yaml:3: warning: foo: unknown key, ignored", "format with line and key");
	azds_diag_format(&d.items[1], line, sizeof(line));
	CHECK_STR(line, "Dockerfile: note: whole-file note", "format without line and key");
	azds_diag_format(&d.items[2], line, sizeof(line));
	CHECK_STR(line, "error: no file at all", "format without a file");
	check(azds_diags_first(&d, AZDS_DIAG_ERROR) == &d.items[2], "first error");
	for (int i = 0; i < 150; i++)
		azds_diag_add(&d, AZDS_DIAG_ERROR, "f", (unsigned)i + 1, 0, "k", "e%d", i);
	CHECK_EQ(d.n, AZDS_DIAG_MAX, "kept up to the bound");
	CHECK_EQ(d.dropped, 53, "the rest counted");
	CHECK_EQ(azds_diags_errors(&d), 151, "errors counted, dropped ones too");
	f = open_memstream(&buf, &len);
	CHECK_EQ(azds_diags_print(&d, f, AZDS_DIAG_WARNING), 100, "printed: 99 at or above warning + the tail line");
	fclose(f);
	check(buf && strstr(buf, "azds.yaml:3: warning: foo: unknown key, ignored\n") == buf, "first printed line");
	check(buf && strstr(buf, "... and 53 more diagnostics not shown\n"), "the tail line");
	check(buf && !strstr(buf, "whole-file note"), "notes filtered by min_sev");
	free(buf);
	azds_diags_free(&d);
	CHECK_EQ(d.n, 0, "freed");
}

int main(void)
{
	test_dotnet();
	test_node();
	test_java_go();
	test_broken_file();
	test_unknown_keys();
	test_bad_cases();
	test_many_errors();
	test_v10();
	test_values();
	test_aliases();
	test_billion_laughs();
	test_limits();
	test_expand_env();
	test_expand_vars();
	test_yaml_expand_env();
	test_render_set();
	test_mangled();
	test_diags();
	printf("%d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
