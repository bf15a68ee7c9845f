// SPDX-License-Identifier: MIT
/*
 * The Dockerfile parser (userspace/project/dockerfile.h): Dev Spaces-style
 * Dockerfiles (Node.js, .NET single and multi-stage, Go, Java) and one case
 * for each rule: comments, continuations, the escape directive, exec and
 * shell forms, heredocs, ARG scoping and azds.yaml's build args, ENV forms,
 * substitution, WORKDIR, EXPOSE, RUN, CMD/ENTRYPOINT combinations, COPY/ADD
 * against the synced workspace, the instructions host mode does not honour,
 * limits, and which host runtime an image stands for. Every check is on
 * exact values and line numbers. Runs from tests/project (fixtures/docker/).
 */
#include "dockerfile.h"

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

/* argv equals the NULL-terminated list want */
static bool argv_is(char **argv, size_t argc, const char *const *want)
{
	size_t n = 0;

	while (want[n])
		n++;
	if (argc != n || (argv && argv[argc]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!streq(argv[i], want[i]))
			return false;
	return true;
}

static void check_argv(char **argv, size_t argc, const char *const *want, const char *what)
{
	bool ok = argv_is(argv, argc, want);

	check(ok, "%s", what);
	if (!ok) {
		printf("      | got %zu:", argc);
		for (size_t i = 0; i < argc; i++)
			printf(" [%s]", argv[i]);
		printf("\n");
	}
}

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const char *run_env(const struct azds_df_run *r, const char *key)
{
	for (size_t i = 0; i < r->n_env; i++)
		if (!strcmp(r->env[i].key, key))
			return r->env[i].value;
	return NULL;
}

static struct azds_dockerfile *parse(const char *text, const struct azds_df_opts *o, struct azds_diags *d, int *rc)
{
	struct azds_dockerfile *df = NULL;

	azds_diags_init(d);
	*rc = azds_dockerfile_parse("Dockerfile", text, strlen(text), o, &df, d);
	return df;
}

/* parses text that must succeed; NULL (and a failed check) otherwise */
static struct azds_dockerfile *ok_parse(const char *text, const struct azds_df_opts *o, struct azds_diags *d,
					const char *what)
{
	int rc;
	struct azds_dockerfile *df = parse(text, o, d, &rc);

	check(rc == 0 && df, "%s: parses (%d)", what, rc);
	if (rc)
		dump(d);
	return df;
}

static void bad(const char *text, unsigned line, const char *key, const char *msg, const char *what)
{
	struct azds_diags d;
	int rc;
	struct azds_dockerfile *df = parse(text, NULL, &d, &rc);

	check(rc == -EINVAL && !df, "%s: refused (%d)", what, rc);
	expect(&d, AZDS_DIAG_ERROR, line, key, msg, what);
	azds_dockerfile_free(df);
	azds_diags_free(&d);
}

/* ---- the samples ------------------------------------------------------------ */

static void test_node(void)
{
	struct azds_diags d;
	struct azds_dockerfile *df;
	int rc;

	azds_diags_init(&d);
	rc = azds_dockerfile_load("fixtures/docker/node.Dockerfile", NULL, &df, &d);
	CHECK_EQ(rc, 0, "Node Dockerfile loads");
	if (rc) {
		dump(&d);
		return;
	}
	CHECK_EQ(d.n, 1, "one diagnostic");
	expect(&d, AZDS_DIAG_NOTE, 1, "FROM",
	       "node:lts: host mode pulls no image; the service runs with Debian's nodejs", "FROM is noted once");
	CHECK_STR(df->image, "node:lts", "image");
	CHECK_EQ(df->runtime.kind, AZDS_RT_NODE, "runtime node");
	CHECK_STR(df->runtime.bins[0], "node", "host binary node");
	CHECK_EQ(df->from_line, 1, "FROM's line");
	CHECK_EQ(df->n_stages, 1, "one stage");
	CHECK_STR(df->workdir, "/app", "WORKDIR");
	check(df->workdir_set, "WORKDIR set");
	CHECK_EQ(df->n_env, 1, "one ENV");
	CHECK_STR(azds_dockerfile_env(df, "PORT"), "80", "ENV PORT 80 (the old form)");
	CHECK_EQ(df->env[0].line, 2, "ENV's line");
	CHECK_EQ(azds_dockerfile_port(df), 80, "the service's port");
	CHECK_EQ(df->ports[0].line, 3, "EXPOSE's line");
	CHECK_EQ(df->n_run, 1, "one build step");
	check_argv(df->run[0].argv, df->run[0].argc, ARGV("/bin/sh", "-c", "npm install"), "RUN npm install via sh -c");
	check(df->run[0].shell_form, "shell form");
	CHECK_STR(df->run[0].workdir, "/app", "the step's folder");
	CHECK_EQ(df->run[0].line, 7, "the step's line");
	CHECK_STR(run_env(&df->run[0], "PORT"), "80", "the step sees ENV");
	CHECK_EQ(df->n_copies, 2, "two copies");
	check(df->copies[0].satisfied && df->copies[1].satisfied, "COPY package.json . and COPY . . are the sync's");
	CHECK_STR(df->copies[0].dest, "/app", "COPY's destination resolved against WORKDIR");
	check_argv(df->cmd, df->n_cmd, ARGV("npm", "start"), "CMD as written");
	check(!df->cmd_shell, "CMD exec form");
	CHECK_EQ(df->cmd_line, 10, "CMD's line");
	check_argv(df->argv, df->argc, ARGV("npm", "start"), "what runs: CMD");
	CHECK_EQ(df->n_entrypoint, 0, "no ENTRYPOINT");
	check_argv(df->shell, df->n_shell, ARGV("/bin/sh", "-c"), "the default SHELL");
	azds_dockerfile_free(df);
	azds_diags_free(&d);
}

static void test_dotnet(void)
{
	const struct azds_yaml_kv args[] = { { .key = "BUILD_CONFIGURATION", .value = "Release", .line = 29 } };
	const struct azds_df_opts opts = { .build_args = args, .n_build_args = 1, .build_args_file = "azds.yaml" };
	struct azds_diags d;
	struct azds_dockerfile *df;
	int rc;

	azds_diags_init(&d);
	rc = azds_dockerfile_load("fixtures/docker/dotnet.Dockerfile.develop", NULL, &df, &d);
	CHECK_EQ(rc, 0, ".NET Dockerfile.develop loads");
	if (rc) {
		dump(&d);
		return;
	}
	CHECK_EQ(d.n, 1, "one diagnostic (FROM)");
	expect(&d, AZDS_DIAG_NOTE, 1, "FROM", "the host's .NET (dotnet)", "microsoft/dotnet is .NET");
	CHECK_EQ(df->runtime.kind, AZDS_RT_DOTNET, "runtime dotnet");
	CHECK_EQ(df->n_args, 1, "one ARG");
	CHECK_STR(df->args[0].value, "Debug", "ARG default");
	CHECK_EQ(df->n_run, 2, "two steps");
	CHECK_STR(df->run[1].text, "dotnet build --no-restore -c $BUILD_CONFIGURATION", "RUN text left to the shell");
	CHECK_STR(run_env(&df->run[1], "BUILD_CONFIGURATION"), "Debug", "the step gets the ARG in its environment");
	CHECK_EQ(df->run[1].n_env, 3, "ENV, ENV, then the ARG");
	CHECK_STR(df->run[1].env[2].key, "BUILD_CONFIGURATION", "ARGs after ENV");
	CHECK_STR(df->run[0].argv[2], "dotnet restore \"mywebapi.csproj\"", "shell text keeps its quotes");
	check(df->copies[0].satisfied, "COPY [\"mywebapi.csproj\", \"./\"] is the sync's");
	check(!azds_dockerfile_env(df, "BUILD_CONFIGURATION"), "an ARG is not in the service's environment");
	CHECK_STR(azds_dockerfile_env(df, "DOTNET_USE_POLLING_FILE_WATCHER"), "true", "ENV k=v");
	check_argv(df->argv, df->argc, ARGV("dotnet", "run", "--no-build", "--no-launch-profile"), "ENTRYPOINT");
	azds_dockerfile_free(df);
	azds_diags_free(&d);

	azds_diags_init(&d);
	rc = azds_dockerfile_load("fixtures/docker/dotnet.Dockerfile.develop", &opts, &df, &d);
	CHECK_EQ(rc, 0, "with azds.yaml's build args");
	if (!rc) {
		CHECK_STR(df->args[0].value, "Release", "the build arg overrides the ARG default");
		CHECK_STR(run_env(&df->run[1], "BUILD_CONFIGURATION"), "Release", "... in the step's environment");
		CHECK_EQ(azds_diags_warnings(&d), 0, "a used build arg: no warning");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);
}

static void test_multistage(void)
{
	struct azds_diags d;
	struct azds_dockerfile *df;
	int rc;

	azds_diags_init(&d);
	rc = azds_dockerfile_load("fixtures/docker/dotnet-multistage.Dockerfile", NULL, &df, &d);
	CHECK_EQ(rc, 0, "multi-stage .NET Dockerfile loads");
	if (rc) {
		dump(&d);
		return;
	}
	CHECK_EQ(df->n_stages, 4, "four stages");
	CHECK_STR(df->stage_name, "final", "the last one is used");
	CHECK_EQ(df->from_line, 15, "its FROM");
	CHECK_STR(df->image, "microsoft/aspnetcore:2.0", "its image, through FROM base");
	CHECK_STR(df->workdir, "/app", "WORKDIR inherited from base");
	CHECK_EQ(azds_dockerfile_port(df), 80, "EXPOSE inherited from base");
	CHECK_EQ(df->n_run, 0, "base and final have no RUN: build and publish are not run");
	CHECK_EQ(df->n_copies, 1, "one copy");
	check(!df->copies[0].satisfied, "COPY --from is not the sync's");
	CHECK_STR(df->copies[0].from, "publish", "--from recorded");
	check_argv(df->argv, df->argc, ARGV("dotnet", "mywebapi.dll"), "ENTRYPOINT");
	CHECK_EQ(azds_diags_notes(&d), 4, "four notes");
	CHECK_EQ(azds_diags_warnings(&d), 1, "one warning");
	expect(&d, AZDS_DIAG_NOTE, 1, "FROM", "microsoft/aspnetcore:2.0: host mode pulls no image", "the base image");
	expect(&d, AZDS_DIAG_NOTE, 5, "FROM", "stage build (FROM microsoft/aspnetcore-build:2.0) is not part",
	       "stage build skipped");
	expect(&d, AZDS_DIAG_NOTE, 12, "FROM", "stage publish (FROM build) is not part", "stage publish skipped");
	expect(&d, AZDS_DIAG_NOTE, 15, "FROM", "4 stages: host mode runs the last one (AS final, built on its earlier",
	       "which stage runs");
	expect(&d, AZDS_DIAG_WARNING, 16, "COPY", "--from=publish copies what another stage or image built",
	       "COPY --from");
	azds_dockerfile_free(df);
	azds_diags_free(&d);
}

static void test_go_java(void)
{
	const struct azds_df_opts opts = { .context_dir = "fixtures/docker/context" };
	struct azds_diags d;
	struct azds_dockerfile *df;
	int rc;

	azds_diags_init(&d);
	rc = azds_dockerfile_load("fixtures/docker/go.Dockerfile", &opts, &df, &d);
	CHECK_EQ(rc, 0, "Go Dockerfile loads");
	if (!rc) {
		CHECK_EQ(df->runtime.kind, AZDS_RT_GO, "runtime go");
		CHECK_STR(df->workdir, "/go/src/app", "the last WORKDIR");
		check(!df->copies[0].satisfied, "COPY src . into /go/src is not where the sync puts src");
		expect(&d, AZDS_DIAG_WARNING, 6, "COPY",
		       "src to /go/src: host mode copies nothing; it syncs the build context to the workspace "
		       "/go/src/app, so src is at /go/src/app/src instead",
		       "the copy's message says where the files are");
		check(df->entrypoint_shell, "shell-form ENTRYPOINT");
		check_argv(df->entrypoint, df->n_entrypoint, ARGV("/go/bin/app"), "ENTRYPOINT as written");
		check_argv(df->argv, df->argc, ARGV("/bin/sh", "-c", "/go/bin/app"), "ENTRYPOINT via sh -c");
		CHECK_STR(df->run[0].workdir, "/go/src/app", "RUN in the last WORKDIR");
		CHECK_EQ(azds_diags_warnings(&d), 1, "one warning");
		azds_dockerfile_free(df);
	} else {
		dump(&d);
	}
	azds_diags_free(&d);

	azds_diags_init(&d);
	rc = azds_dockerfile_load("fixtures/docker/java.Dockerfile.develop", NULL, &df, &d);
	CHECK_EQ(rc, 0, "Java Dockerfile loads");
	if (!rc) {
		CHECK_EQ(df->runtime.kind, AZDS_RT_JAVA, "runtime java");
		CHECK_STR(df->runtime.bins[1], "mvn", "maven needs mvn too");
		CHECK_EQ(azds_dockerfile_port(df), 8080, "port 8080");
		check(!df->run[0].shell_form, "exec-form RUN");
		check_argv(df->run[0].argv, df->run[0].argc,
			   ARGV("/usr/local/bin/mvn-entrypoint.sh", "mvn", "verify", "--fail-never"), "exec RUN argv");
		CHECK_STR(df->run[0].text, "/usr/local/bin/mvn-entrypoint.sh mvn verify --fail-never", "exec RUN text");
		check_argv(df->argv, df->argc, ARGV("java", "-jar", "target/webfrontend-0.1.0.jar"), "CMD");
		CHECK_EQ(azds_diags_warnings(&d) + azds_diags_errors(&d), 0, "nothing wrong");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	azds_diags_init(&d);
	rc = azds_dockerfile_load("fixtures/docker/nope", NULL, &df, &d);
	CHECK_EQ(rc, -ENOENT, "a missing Dockerfile");
	expect(&d, AZDS_DIAG_ERROR, 0, "", "no such file", "says so");
	azds_diags_free(&d);
}

/* ---- syntax -------------------------------------------------------------------- */

static void test_lines(void)
{
	struct azds_diags d;
	struct azds_dockerfile *df;

	df = ok_parse("# a comment\n"
		      "FROM debian:12\n"
		      "RUN apt-get update \\\n"
		      "    # a comment inside\n"
		      "    && echo hi \\\n"
		      "\n"
		      "    && echo done\n"
		      "  run echo lower\n"
		      "CMD [\"a\"]\n",
		      NULL, &d, "continuations and comments");
	if (df) {
		CHECK_EQ(df->n_run, 2, "two steps");
		CHECK_STR(df->run[0].text, "apt-get update     && echo hi     && echo done",
			  "joined as Docker joins: escape and newline out, comment and empty lines dropped");
		CHECK_EQ(df->run[0].line, 3, "a step's line is its first");
		CHECK_STR(df->run[1].text, "echo lower", "a lower-case, indented instruction");
		CHECK_EQ(df->run[1].line, 8, "its line");
		CHECK_EQ(df->runtime.kind, AZDS_RT_HOST, "debian: the host's tools");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("# escape=`\n"
		      "FROM debian\n"
		      "RUN echo a `\n"
		      "  b\n"
		      "ENV P=C:\\path\\x Q=a`$b\n"
		      "CMD [\"a\"]\n",
		      NULL, &d, "the escape directive");
	if (df) {
		CHECK_STR(df->run[0].text, "echo a   b", "a backtick continues the line");
		CHECK_STR(azds_dockerfile_env(df, "P"), "C:\\path\\x", "backslashes are plain");
		CHECK_STR(azds_dockerfile_env(df, "Q"), "a$b", "a backtick escapes $");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("# hello\n# escape=`\nFROM debian\nRUN echo a `\nCMD [\"a\"]\n", NULL, &d,
		      "a directive after a comment is a comment");
	if (df) {
		CHECK_STR(df->run[0].text, "echo a `", "the backtick is plain text");
		CHECK_EQ(df->run[0].line, 4, "the step's line");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("# syntax=docker/dockerfile:1\nFROM debian\r\nCMD [\"a\"]\r\n", NULL, &d,
		      "the syntax directive, CRLF lines");
	if (df) {
		expect(&d, AZDS_DIAG_NOTE, 1, "syntax", "the syntax directive (docker/dockerfile:1) is not used",
		       "the syntax directive is noted");
		check_argv(df->argv, df->argc, ARGV("a"), "CRLF stripped");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("\xef\xbb\xbf"
		      "FROM debian\nRUN a \\",
		      NULL, &d, "a BOM; a continuation at the end of the file");
	if (df) {
		CHECK_STR(df->run[0].text, "a", "the last step ends with the file");
		expect(&d, AZDS_DIAG_WARNING, 1, "CMD", "no CMD or ENTRYPOINT", "no command: warned");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("FROM debian\nRUN a\n", &(struct azds_df_opts){ .have_command = true }, &d,
		      "no CMD but azds.yaml has a command");
	if (df) {
		CHECK_EQ(azds_diags_warnings(&d), 0, "no warning");
		CHECK_EQ(df->argc, 0, "nothing to run from the Dockerfile");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	bad("# escape=x\nFROM debian\n", 1, "escape", "the escape character is \\ or `", "a bad escape directive");
	bad("FROM debian\nFOO bar\n", 2, "", "unknown instruction FOO", "an unknown instruction");
	bad("FROM debian\nRUN a\n&& b\n", 3, "", "unknown instruction &&", "a forgotten continuation");
	bad("RUN a\nFROM debian\n", 1, "RUN", "comes before the first FROM", "RUN before FROM");
	bad("# only a comment\n", 0, "", "no FROM", "no FROM");
	bad("", 0, "", "no FROM", "an empty file");
	{
		static const char nul[] = "FROM debian\nRUN a\0b\n";
		int rc;

		azds_diags_init(&d);
		df = NULL;
		rc = azds_dockerfile_parse("Dockerfile", nul, sizeof(nul) - 1, NULL, &df, &d);
		check(rc == -EINVAL && !df, "a NUL byte: refused");
		expect(&d, AZDS_DIAG_ERROR, 2, "", "a NUL byte", "a NUL byte names its line");
		azds_diags_free(&d);
	}
}

static void test_forms(void)
{
	struct azds_diags d;
	struct azds_dockerfile *df;

	df = ok_parse("FROM debian\nCMD node server.js\n", NULL, &d, "shell-form CMD");
	if (df) {
		check(df->cmd_shell, "shell form");
		check_argv(df->cmd, df->n_cmd, ARGV("node server.js"), "as written");
		check_argv(df->argv, df->argc, ARGV("/bin/sh", "-c", "node server.js"), "through /bin/sh -c");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("FROM debian\nCMD ['node','x']\n", NULL, &d, "single-quoted 'JSON'");
	if (df) {
		check(df->cmd_shell, "runs as a shell command, as in Docker");
		expect(&d, AZDS_DIAG_WARNING, 2, "CMD", "looks like the exec form but is not valid JSON",
		       "and says so");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("FROM debian\nCMD [ \"a\\tb\" , \"\\u00e9\\\"\", \"\\ud83d\\ude00\" ]\n", NULL, &d,
		      "JSON escapes");
	if (df) {
		check_argv(df->argv, df->argc, ARGV("a\tb", "\xc3\xa9\"", "\xf0\x9f\x98\x80"), "decoded");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse(
		"FROM debian\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN a | b\nRUN [\"x\", \"y\"]\n"
		"CMD c\n",
		NULL, &d, "SHELL");
	if (df) {
		check_argv(df->run[0].argv, df->run[0].argc, ARGV("/bin/bash", "-o", "pipefail", "-c", "a | b"),
			   "a shell-form RUN through SHELL");
		check_argv(df->run[1].argv, df->run[1].argc, ARGV("x", "y"), "an exec-form RUN as written");
		check_argv(df->argv, df->argc, ARGV("/bin/bash", "-o", "pipefail", "-c", "c"), "CMD through SHELL");
		check_argv(df->shell, df->n_shell, ARGV("/bin/bash", "-o", "pipefail", "-c"), "SHELL recorded");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("FROM debian\nRUN echo \"a<<b\" && echo $((1<<2)) && cat<<x\nCMD [\"a\"]\n", NULL, &d,
		      "<< that is not a heredoc");
	if (df) {
		CHECK_STR(df->run[0].text, "echo \"a<<b\" && echo $((1<<2)) && cat<<x", "kept as a shell command");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	bad("FROM debian\nCMD [\"a\", 1]\n", 2, "CMD", "something else than strings", "a JSON array with a number");
	bad("FROM debian\nSHELL /bin/bash -c\n", 2, "SHELL", "takes the exec form", "a shell-form SHELL");
	bad("FROM debian\nRUN <<EOF\necho hi\nEOF\n", 2, "RUN", "heredocs (<<EOF) are not supported", "RUN <<EOF");
	{
		int rc;

		df = parse("FROM debian\nRUN <<EOF\necho hi\nEOF\nRUN ok\nFOO\n", NULL, &d, &rc);
		CHECK_EQ(azds_diags_errors(&d), 2, "a heredoc's body is skipped: the heredoc and FOO, nothing else");
		expect(&d, AZDS_DIAG_ERROR, 6, "", "unknown instruction FOO", "after the body, lines are read again");
		azds_dockerfile_free(df);
		azds_diags_free(&d);
	}
	bad("FROM debian\nRUN cat <<-'END' > f\n", 2, "RUN", "heredocs", "RUN <<-'END'");
	bad("FROM debian\nCOPY <<EOF /a\n", 2, "COPY", "heredocs", "COPY <<EOF");
	bad("FROM debian\nCMD\n", 2, "CMD", "needs a command", "an empty CMD");
	bad("FROM debian\nRUN --foo=bar make\n", 2, "RUN", "unknown flag --foo", "an unknown RUN flag");
	bad("FROM debian\nCMD --help\n", 2, "CMD", "unknown flag --help", "CMD takes no flags (as in BuildKit)");
}

static void test_combinations(void)
{
	struct {
		const char *what, *text;
		const char *const *want;
	} cases[] = {
		{ "exec ENTRYPOINT + exec CMD", "FROM x\nENTRYPOINT [\"ep\"]\nCMD [\"a\", \"b\"]\n",
		  ARGV("ep", "a", "b") },
		{ "exec ENTRYPOINT + shell CMD", "FROM x\nENTRYPOINT [\"ep\"]\nCMD a b\n",
		  ARGV("ep", "/bin/sh", "-c", "a b") },
		{ "exec ENTRYPOINT alone", "FROM x\nENTRYPOINT [\"ep\", \"-v\"]\n", ARGV("ep", "-v") },
		{ "CMD before ENTRYPOINT in one stage stays", "FROM x\nCMD [\"a\"]\nENTRYPOINT [\"ep\"]\n",
		  ARGV("ep", "a") },
		{ "an inherited CMD is reset by ENTRYPOINT",
		  "FROM x AS base\nCMD [\"a\"]\nFROM base\nENTRYPOINT [\"ep\"]\n", ARGV("ep") },
		{ "an inherited CMD without a new ENTRYPOINT stays", "FROM x AS base\nCMD [\"a\"]\nFROM base\nRUN b\n",
		  ARGV("a") },
		{ "the last CMD wins", "FROM x\nCMD [\"a\"]\nCMD [\"b\"]\n", ARGV("b") },
		{ "an empty ENTRYPOINT and a CMD", "FROM x\nENTRYPOINT []\nCMD [\"a\"]\n", ARGV("a") },
	};
	struct azds_diags d;
	struct azds_dockerfile *df;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		df = ok_parse(cases[i].text, NULL, &d, cases[i].what);
		if (df)
			check_argv(df->argv, df->argc, cases[i].want, cases[i].what);
		azds_dockerfile_free(df);
		azds_diags_free(&d);
	}

	df = ok_parse("FROM x\nENTRYPOINT ep x\nCMD [\"a\"]\n", NULL, &d, "shell ENTRYPOINT + CMD");
	if (df) {
		check_argv(df->argv, df->argc, ARGV("/bin/sh", "-c", "ep x", "a"),
			   "Docker's argv (sh ignores the CMD)");
		expect(&d, AZDS_DIAG_WARNING, 3, "CMD", "not used: a shell-form ENTRYPOINT (line 2)",
		       "the CMD is useless");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("FROM x\nCMD [\"a\"]\nCMD [\"b\"]\n", NULL, &d, "two CMDs");
	if (df) {
		expect(&d, AZDS_DIAG_WARNING, 3, "CMD", "a second CMD in this stage (the first at line 2)", "warned");
		CHECK_EQ(df->cmd_line, 3, "the CMD that counts");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);
}

/* ---- ARG, ENV, substitution ------------------------------------------------- */

static void test_args(void)
{
	const struct azds_yaml_kv ba[] = {
		{ .key = "TAG", .value = "18", .line = 30 },
		{ .key = "UNUSED", .value = "x", .line = 31 },
	};
	const struct azds_df_opts opts = { .build_args = ba, .n_build_args = 2, .build_args_file = "azds.yaml" };
	struct azds_diags d;
	struct azds_dockerfile *df;

	df = ok_parse("ARG TAG=lts\nARG V=1\nFROM node:${TAG}\nARG V\nARG W=$V-2 X\nRUN echo\nCMD [\"a\"]\n", NULL, &d,
		      "ARG before and after FROM");
	if (df) {
		CHECK_STR(df->image, "node:lts", "a global ARG in FROM");
		CHECK_STR(run_env(&df->run[0], "V"), "1", "ARG V in the stage takes the global default");
		CHECK_STR(run_env(&df->run[0], "W"), "1-2", "an ARG default sees earlier ARGs");
		check(!run_env(&df->run[0], "X"), "an ARG without a value is not in the environment");
		check(!run_env(&df->run[0], "TAG"), "a global ARG not redeclared is not in the stage");
		CHECK_EQ(df->n_args, 2, "two ARG values in the stage (V, W)");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("ARG TAG=lts\nFROM node:${TAG}\nCMD [\"a\"]\n", &opts, &d, "build args");
	if (df) {
		CHECK_STR(df->image, "node:18", "azds.yaml's build arg overrides the global default");
		expect(&d, AZDS_DIAG_WARNING, 31, "configurations.develop.build.args.UNUSED",
		       "no ARG UNUSED in Dockerfile: the build arg is not used",
		       "an unused build arg, at azds.yaml's line");
		CHECK_STR(azds_diags_first(&d, AZDS_DIAG_WARNING)->file, "azds.yaml", "... in azds.yaml");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("FROM x\nENV A=env\nARG A=arg\nRUN echo\nENV B=$A\nCMD [\"a\"]\n", NULL, &d, "ENV over ARG");
	if (df) {
		CHECK_STR(run_env(&df->run[0], "A"), "env", "ENV wins in the environment");
		CHECK_EQ(df->run[0].n_env, 1, "... once");
		CHECK_STR(azds_dockerfile_env(df, "B"), "env", "and in substitution");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	bad("FROM x\nARG\n", 2, "ARG", "needs a name", "an empty ARG");
	bad("FROM x\nARG $A=1\n", 2, "ARG", "is not a variable name", "a bad ARG name");
}

static void test_env(void)
{
	struct azds_diags d;
	struct azds_dockerfile *df;

	df = ok_parse("FROM x\n"
		      "ENV A 1\n"
		      "ENV MSG hello   world\n"
		      "ENV B=2 C=\"x y\" D='$A' E=\\$A\n"
		      "ENV F=$A${B}\"$C\" G=${NOPE:-dflt} H=${A:+set} I=${NOPE:+set}\n"
		      "ENV J=${EMPTY-no} EMPTY= K=${EMPTY-no} L=${EMPTY:-yes}\n"
		      "ENV M=${EMPTY:-yes} N=${EMPTY-no} O=${EMPTY:+x} P=${EMPTY+x}\n"
		      "ENV X=1\n"
		      "ENV X=2 Y=$X\n"
		      "ENV PATH=/opt/bin:$PATH\n"
		      "CMD [\"a\"]\n",
		      NULL, &d, "ENV forms and substitution");
	if (df) {
		CHECK_STR(azds_dockerfile_env(df, "A"), "1", "ENV k v");
		CHECK_STR(azds_dockerfile_env(df, "MSG"), "hello   world", "ENV k v keeps the value's inner blanks");
		CHECK_STR(azds_dockerfile_env(df, "C"), "x y", "double quotes");
		CHECK_STR(azds_dockerfile_env(df, "D"), "$A", "single quotes: no substitution");
		CHECK_STR(azds_dockerfile_env(df, "E"), "$A", "an escaped $");
		CHECK_STR(azds_dockerfile_env(df, "F"), "12x y", "$VAR, ${VAR} and \"$VAR\"");
		CHECK_STR(azds_dockerfile_env(df, "G"), "dflt", "${VAR:-x}");
		CHECK_STR(azds_dockerfile_env(df, "H"), "set", "${VAR:+x} when set");
		CHECK_STR(azds_dockerfile_env(df, "I"), "", "${VAR:+x} when unset");
		CHECK_STR(azds_dockerfile_env(df, "J"), "no", "${VAR-x} when unset");
		CHECK_STR(azds_dockerfile_env(df, "K"), "no", "one ENV's values see the state before it");
		CHECK_STR(azds_dockerfile_env(df, "L"), "yes", "${VAR:-x} with the variable unset");
		CHECK_STR(azds_dockerfile_env(df, "M"), "yes", "${VAR:-x} with an empty value");
		CHECK_STR(azds_dockerfile_env(df, "N"), "", "${VAR-x} keeps an empty value");
		CHECK_STR(azds_dockerfile_env(df, "O"), "", "${VAR:+x} with an empty value");
		CHECK_STR(azds_dockerfile_env(df, "P"), "x", "${VAR+x} with an empty value");
		CHECK_STR(azds_dockerfile_env(df, "Y"), "1", "ENV X=2 Y=$X takes the old X, as Docker does");
		CHECK_STR(azds_dockerfile_env(df, "X"), "2", "X replaced");
		CHECK_STR(azds_dockerfile_env(df, "PATH"),
			  "/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			  "$PATH is the usual base image's");
		CHECK_STR(df->env[0].key, "A", "first-set order");
		CHECK_EQ(df->n_env, 21, "unique keys");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	bad("FROM x\nENV A\n", 2, "ENV", "\"A\" has no value", "ENV without a value");
	bad("FROM x\nENV A=1 B\n", 2, "ENV", "\"B\" has no '='", "ENV pairs without =");
	bad("FROM x\nENV A=${B\n", 2, "ENV", "no closing }", "an unterminated ${");
	bad("FROM x\nENV A=${B%c}\n", 2, "ENV", "azds reads ${VAR}", "an unsupported modifier");
	bad("FROM x\nENV A=\"${B:?B is needed}\"\n", 2, "ENV", "B: B is needed", "${VAR:?msg}");
	bad("FROM x\nENV A=\"x\n", 2, "ENV", "no closing double quote", "an open quote");
	bad("FROM x\nWORKDIR '/a\n", 2, "WORKDIR", "no closing single quote", "an open single quote");
}

static void test_workdir_expose(void)
{
	struct azds_diags d;
	struct azds_dockerfile *df;

	df = ok_parse("FROM x\nWORKDIR /a\nWORKDIR b\nRUN one\nWORKDIR ../c\nENV D=d\nWORKDIR ./$D/\nRUN two\n"
		      "EXPOSE 80 443/tcp 53/udp 7000-7002 ${P:-9090}/TCP\nCMD [\"a\"]\n",
		      NULL, &d, "WORKDIR chain, EXPOSE");
	if (df) {
		CHECK_STR(df->workdir, "/a/c/d", "relative WORKDIRs chain, cleaned");
		CHECK_STR(df->run[0].workdir, "/a/b", "each step keeps its own folder");
		expect(&d, AZDS_DIAG_NOTE, 4, "RUN", "its WORKDIR /a/b is outside the workspace /a/c/d",
		       "a step outside the workspace is noted");
		CHECK_EQ(df->n_ports, 5, "five ports");
		CHECK_EQ(df->ports[1].port, 443, "443/tcp");
		check(df->ports[2].udp && df->ports[2].port == 53, "53/udp");
		check(df->ports[3].port == 7000 && df->ports[3].port_end == 7002, "a range");
		check(df->ports[4].port == 9090 && !df->ports[4].udp, "a substituted port, TCP in capitals");
		CHECK_EQ(azds_dockerfile_port(df), 80, "the service's port is the first TCP one");
		expect(&d, AZDS_DIAG_WARNING, 9, "EXPOSE", "53/udp: host mode routes TCP only", "UDP warned");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("FROM x\nEXPOSE 53/udp\nCMD [\"a\"]\n", NULL, &d, "only UDP");
	if (df) {
		CHECK_EQ(azds_dockerfile_port(df), 0, "no TCP port");
		expect(&d, AZDS_DIAG_NOTE, 1, "WORKDIR", "sets no WORKDIR", "no WORKDIR is noted");
		CHECK_STR(df->workdir, "/", "... and is /");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	bad("FROM x\nEXPOSE http\n", 2, "EXPOSE", "\"http\" is not a port", "a port name");
	bad("FROM x\nEXPOSE 70000\n", 2, "EXPOSE", "\"70000\" is not a port", "a port too big");
	bad("FROM x\nEXPOSE 80/quic\n", 2, "EXPOSE", "\"80/quic\" is not a port", "an unknown protocol");
	bad("FROM x\nEXPOSE 90-80\n", 2, "EXPOSE", "is not a port", "a backwards range");
	bad("FROM x\nEXPOSE\n", 2, "EXPOSE", "needs a port", "an empty EXPOSE");
	bad("FROM x\nWORKDIR $NOPE\n", 2, "WORKDIR", "needs a path", "a WORKDIR empty after substitution");
}

/* ---- COPY and ADD ---------------------------------------------------------- */

static void test_copies(void)
{
	const struct azds_df_opts ctx = { .context_dir = "fixtures/docker/context" };
	struct azds_diags d;
	struct azds_dockerfile *df;

	df = ok_parse("FROM debian\n"
		      "WORKDIR /app\n"
		      "COPY package.json ./\n"
		      "COPY . .\n"
		      "COPY src ./src\n"
		      "COPY src/app/main.go src/app/\n"
		      "COPY *.json ./\n"
		      "COPY [\"package.json\", \"/app/package.json\"]\n"
		      "COPY --chown=1000:1000 . /app/\n"
		      "COPY src .\n"
		      "COPY package.json /opt/\n"
		      "ADD https://example.com/x.tgz /tmp/\n"
		      "ADD vendor.tar.gz /app/\n"
		      "ADD src /app/src\n"
		      "COPY --from=builder /out /app\n"
		      "CMD [\"a\"]\n",
		      &ctx, &d, "copies against the workspace");
	if (df) {
		static const bool want[] = { true,  true,  true,  true,	 true, true, true,
					     false, false, false, false, true, false };

		CHECK_EQ(df->n_copies, 13, "thirteen copies");
		for (size_t i = 0; i < 13 && i < df->n_copies; i++)
			check(df->copies[i].satisfied == want[i], "copy at line %u: %s", df->copies[i].line,
			      want[i] ? "the sync's" : "not the sync's");
		expect(&d, AZDS_DIAG_NOTE, 9, "COPY", "--chown=1000:1000 is not honoured", "--chown noted");
		expect(&d, AZDS_DIAG_WARNING, 10, "COPY", "src to /app: host mode copies nothing", "COPY src .");
		expect(&d, AZDS_DIAG_WARNING, 11, "COPY", "so package.json is at /app/package.json instead",
		       "COPY to another folder");
		expect(&d, AZDS_DIAG_WARNING, 12, "ADD", "https://example.com/x.tgz: host mode fetches nothing",
		       "ADD of a URL");
		expect(&d, AZDS_DIAG_WARNING, 13, "ADD", "Docker would unpack the archive", "ADD of an archive");
		expect(&d, AZDS_DIAG_WARNING, 15, "COPY", "--from=builder", "COPY --from");
		CHECK_EQ(azds_diags_warnings(&d), 5, "five warnings");
		CHECK_STR(df->copies[7].dest, "/app", "a folder destination resolved");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	/* a source with a leading '/' is the context's all the same: ADD /app /app
	 * (BikeSharingApp's reservation) takes the context's app/, which the sync
	 * puts at /app/app */
	df = ok_parse("FROM x\nWORKDIR /app\nADD /app /app\nCMD [\"a\"]\n", NULL, &d, "ADD /app /app");
	if (df) {
		expect(&d, AZDS_DIAG_WARNING, 3, "ADD", "so /app is at /app/app instead", "the copy's place, from the context");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("FROM x\nWORKDIR /app\nCOPY src/ ./src/\nCMD [\"a\"]\n", NULL, &d, "without a context folder");
	if (df) {
		check(df->copies[0].satisfied, "a folder copy to the same place, guessed from the names");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	bad("FROM x\nCOPY onlyone\n", 2, "COPY", "needs a source and a destination", "COPY with one word");
	bad("FROM x\nADD --from=y a b\n", 2, "ADD", "unknown flag --from", "ADD takes no --from");
}

/* ---- instructions host mode does not honour -------------------------------- */

static void test_not_honoured(void)
{
	struct azds_diags d;
	struct azds_dockerfile *df;

	df = ok_parse("FROM --platform=linux/amd64 node:18\n"
		      "LABEL a=b\n"
		      "LABEL c=d e=\"f g\"\n"
		      "LABEL version 1\n"
		      "MAINTAINER someone\n"
		      "USER node\n"
		      "VOLUME /data [\"x\"]\n"
		      "VOLUME [\"/a\", \"/b\"]\n"
		      "HEALTHCHECK --interval=5s CMD curl -f http://localhost/\n"
		      "STOPSIGNAL SIGINT\n"
		      "ONBUILD RUN make\n"
		      "RUN --mount=type=cache,target=/root/.npm npm ci\n"
		      "CMD [\"a\"]\n",
		      NULL, &d, "instructions host mode does not honour");
	if (df) {
		expect(&d, AZDS_DIAG_NOTE, 1, "FROM", "--platform=linux/amd64 is not used", "--platform");
		expect(&d, AZDS_DIAG_NOTE, 2, "LABEL", "host mode does not honour LABEL: labels are image metadata",
		       "LABEL");
		expect(&d, AZDS_DIAG_NOTE, 2, "LABEL", "(and 2 more LABEL lines)", "LABEL once, with a count");
		check(!has(&d, AZDS_DIAG_NOTE, 3, "LABEL", ""), "no second LABEL note");
		expect(&d, AZDS_DIAG_NOTE, 5, "MAINTAINER", "host mode does not honour MAINTAINER", "MAINTAINER");
		expect(&d, AZDS_DIAG_NOTE, 6, "USER", "host mode does not honour USER node", "USER");
		CHECK_STR(df->user, "node", "USER recorded");
		expect(&d, AZDS_DIAG_NOTE, 7, "VOLUME", "host mode does not honour VOLUME", "VOLUME");
		expect(&d, AZDS_DIAG_NOTE, 7, "VOLUME", "(and 1 more VOLUME line)", "VOLUME once, with a count");
		expect(&d, AZDS_DIAG_NOTE, 9, "HEALTHCHECK", "host mode does not honour HEALTHCHECK", "HEALTHCHECK");
		expect(&d, AZDS_DIAG_NOTE, 10, "STOPSIGNAL", "host mode does not honour STOPSIGNAL SIGINT",
		       "STOPSIGNAL");
		CHECK_STR(df->stop_signal, "SIGINT", "STOPSIGNAL recorded");
		expect(&d, AZDS_DIAG_NOTE, 11, "ONBUILD", "host mode does not honour ONBUILD", "ONBUILD");
		expect(&d, AZDS_DIAG_WARNING, 12, "RUN", "--mount=type=cache,target=/root/.npm is not honoured",
		       "RUN --mount");
		CHECK_STR(df->run[0].text, "npm ci", "the step without its flag");
		CHECK_EQ(azds_diags_notes(&d), 10, "ten notes (FROM, --platform, no WORKDIR and seven instructions)");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	df = ok_parse("FROM x AS build\nUSER root\nLABEL a=b\nRUN make\nFROM y\nCMD [\"a\"]\n", NULL, &d,
		      "a skipped stage's instructions");
	if (df) {
		check(!has(&d, AZDS_DIAG_NOTE, 2, NULL, "") && !has(&d, AZDS_DIAG_NOTE, 3, NULL, ""),
		      "no notes about a stage that does not run");
		expect(&d, AZDS_DIAG_NOTE, 1, "FROM", "stage build (FROM x) is not part of the last stage's build",
		       "one note says it is skipped");
		CHECK_EQ(df->n_run, 0, "its steps are not the last stage's");
		check(!df->user, "nor its USER");
		azds_dockerfile_free(df);
	}
	azds_diags_free(&d);

	bad("FROM x\nSTOPSIGNAL SIGFOO\n", 2, "STOPSIGNAL", "\"SIGFOO\" is not a signal", "a bad signal");
	bad("FROM x\nONBUILD ONBUILD RUN a\n", 2, "ONBUILD", "ONBUILD ONBUILD is not allowed", "ONBUILD ONBUILD");
	bad("FROM x\nHEALTHCHECK curl x\n", 2, "HEALTHCHECK", "takes NONE or [options] CMD", "a bad HEALTHCHECK");
	bad("FROM x AS a\nFROM y AS A\n", 2, "FROM", "stage name \"a\" is used twice (first at line 1)",
	    "a stage name twice");
	bad("FROM x AS 1st\n", 1, "FROM", "stage name \"1st\"", "a bad stage name");
	bad("FROM\n", 1, "FROM", "takes an image", "FROM without an image");
	bad("FROM $NOPE\n", 1, "FROM", "the image name is empty after substitution", "an empty image");
}

/* ---- limits ---------------------------------------------------------------- */

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
	struct azds_dockerfile *df;
	char *s;
	int rc;

	s = repeat("FROM x\nRUN echo ", "a", AZDS_DF_MAX_LINE + 1, "\n");
	bad(s, 2, "", "a line of 65546 bytes: the limit is 65536", "a line past the limit");
	free(s);

	s = repeat("FROM x\n", "RUN a\n", AZDS_DF_MAX_INSTRUCTIONS, "");
	bad(s, 2001, "", "more than 2000 instructions: the limit", "too many instructions");
	free(s);

	s = repeat("FROM x\nRUN a", " \\\n b", 100000, "\n");
	bad(s, 2, "", "an instruction longer than 262144 bytes", "an instruction past the limit");
	free(s);

	{
		/* 64 bytes doubled: the 11th doubling would be 131072 bytes */
		char *a64 = repeat("FROM x\nENV A=", "a", 64, "\n");

		s = repeat(a64, "ENV A=$A$A\n", 20, "");
		bad(s, 13, "ENV", "a value longer than 65536 bytes after substitution",
		    "doubling ENVs stop at the word limit");
		free(s);
		free(a64);
	}

	s = repeat("", "FROM x\n", AZDS_DF_MAX_STAGES + 1, "");
	bad(s, 65, "FROM", "more than 64 stages", "too many stages");
	free(s);

	{
		/* 513 distinct ENV names in one stage */
		char *t = malloc(600 * 16), *p = t;

		p += sprintf(p, "FROM x\n");
		for (int i = 0; i < AZDS_DF_MAX_VARS + 1; i++)
			p += sprintf(p, "ENV V%d=1\n", i);
		bad(t, AZDS_DF_MAX_VARS + 2, "ENV", "more than 512 ENV names in one stage", "too many ENV names");
		free(t);
	}

	s = repeat("FROM x\n#", "x", AZDS_DF_MAX_BYTES, "\n");
	azds_diags_init(&d);
	rc = azds_dockerfile_parse("Dockerfile", s, strlen(s), NULL, &df, &d);
	CHECK_EQ(rc, -EFBIG, "a file past the size limit");
	expect(&d, AZDS_DIAG_ERROR, 0, "", "the limit is 1048576", "says so");
	azds_diags_free(&d);
	free(s);
}

/* ---- images and runtimes ---------------------------------------------------- */

static void test_runtimes(void)
{
	struct {
		const char *image;
		enum azds_runtime_kind kind;
		const char *bin0, *bin1;
	} cases[] = {
		{ "node:lts", AZDS_RT_NODE, "node", NULL },
		{ "node", AZDS_RT_NODE, "node", NULL },
		{ "docker.io/library/node:18-alpine@sha256:0123abcd", AZDS_RT_NODE, "node", NULL },
		{ "Node:20", AZDS_RT_NODE, "node", NULL },
		{ "python:3.11-slim", AZDS_RT_PYTHON, "python3", NULL },
		{ "golang:1.15.12", AZDS_RT_GO, "go", NULL },
		{ "maven:3.5-jdk-8-slim", AZDS_RT_JAVA, "java", "mvn" },
		{ "openjdk:8-jdk-alpine", AZDS_RT_JAVA, "java", NULL },
		{ "eclipse-temurin:17", AZDS_RT_JAVA, "java", NULL },
		{ "mcr.microsoft.com/dotnet/sdk:8.0", AZDS_RT_DOTNET, "dotnet", NULL },
		{ "mcr.microsoft.com/dotnet/core/aspnet:3.1", AZDS_RT_DOTNET, "dotnet", NULL },
		{ "microsoft/dotnet:2.2-sdk", AZDS_RT_DOTNET, "dotnet", NULL },
		{ "microsoft/aspnetcore-build:2.0", AZDS_RT_DOTNET, "dotnet", NULL },
		{ "gcc:12", AZDS_RT_HOST, "gcc", "make" },
		{ "debian:12", AZDS_RT_HOST, "sh", NULL },
		{ "ubuntu", AZDS_RT_HOST, "sh", NULL },
		{ "alpine:3.19", AZDS_RT_HOST, "sh", NULL },
		{ "busybox", AZDS_RT_HOST, "sh", NULL },
		{ "rust:1", AZDS_RT_RUST, "cargo", NULL },
		{ "scratch", AZDS_RT_NONE, NULL, NULL },
	};
	const char *unknown[] = { "ruby:3",
				  "myregistry.io/node:18",
				  "localhost:5000/node",
				  "quay.io/python",
				  "mcr.microsoft.com/mssql/server",
				  "nodejs",
				  "" };
	struct azds_image_runtime rt;
	const char *missing = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = azds_image_runtime(cases[i].image, &rt);

		check(rc == 0 && rt.kind == cases[i].kind &&
			      (cases[i].bin0 ? streq(rt.bins[0], cases[i].bin0) : !rt.bins[0]) &&
			      (cases[i].bin1 ? streq(rt.bins[1], cases[i].bin1) : !rt.bins[1]),
		      "%s: %s (%s)", cases[i].image, rt.name, rt.what);
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		int rc = azds_image_runtime(unknown[i], &rt);

		check(rc == -ENOENT && rt.kind == AZDS_RT_UNKNOWN && !rt.bins[0], "%s: unknown", unknown[i]);
	}

	azds_image_runtime("debian", &rt);
	CHECK_EQ(azds_runtime_check(&rt, "/nonexistent:/bin:/usr/bin", &missing), 0, "sh is found in PATH");
	azds_image_runtime("maven", &rt);
	CHECK_EQ(azds_runtime_check(&rt, "/nonexistent", &missing), -ENOENT, "java is not in /nonexistent");
	CHECK_STR(missing, "java", "the missing program is named");

	{
		struct azds_diags d;
		struct azds_dockerfile *df = ok_parse("FROM ruby:3\nCMD [\"a\"]\n", NULL, &d, "an unknown image");

		if (df) {
			expect(&d, AZDS_DIAG_WARNING, 1, "FROM", "ruby:3: an image azds does not know", "warned");
			CHECK_EQ(df->runtime.kind, AZDS_RT_UNKNOWN, "unknown runtime");
			azds_dockerfile_free(df);
		}
		azds_diags_free(&d);
		df = ok_parse("FROM scratch\nCMD [\"/app\"]\n", NULL, &d, "scratch");
		if (df) {
			expect(&d, AZDS_DIAG_WARNING, 1, "FROM", "a scratch image has no runtime", "warned");
			azds_dockerfile_free(df);
		}
		azds_diags_free(&d);
	}
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

static bool contract(const char *buf, size_t len)
{
	struct azds_diags d;
	struct azds_dockerfile *df = (void *)1;
	bool ok;
	int rc;

	azds_diags_init(&d);
	rc = azds_dockerfile_parse("Dockerfile", buf, len, NULL, &df, &d);
	ok = (rc == 0 && df && !azds_diags_errors(&d)) || (rc == -EINVAL && !df && azds_diags_errors(&d));
	azds_dockerfile_free(rc ? NULL : df);
	azds_diags_free(&d);
	return ok;
}

static void test_mangled(void)
{
	static const char *const files[] = { "fixtures/docker/dotnet-multistage.Dockerfile",
					     "fixtures/docker/node.Dockerfile", "fixtures/docker/go.Dockerfile" };
	static const char subst[] = { '\\', '$', '{', '}', '"', '\'', '[', ']', '\n', '#', '<', '-', ' ', '`' };

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

/* ---- docs/azds-yaml.md's limits table is the code's ------------------------ */

/* "1 MiB", "10,000", "64 KiB" -> bytes or a count; 0 when it is not a number */
static unsigned long long doc_number(const char *cell)
{
	unsigned long long v = 0;
	const char *p = cell;

	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return 0;
	for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
		if (*p != ',')
			v = v * 10 + (unsigned)(*p - '0');
	while (*p == ' ')
		p++;
	if (!strncmp(p, "KiB", 3))
		v <<= 10;
	else if (!strncmp(p, "MiB", 3))
		v <<= 20;
	return v;
}

static void test_doc_limits(void)
{
	static const struct {
		const char *row;
		unsigned long long value;
	} rows[] = {
		{ "azds.yaml size", AZDS_YAML_MAX_BYTES },
		{ "nesting of mappings and sequences", AZDS_YAML_MAX_DEPTH },
		{ "YAML nodes, aliases expanded", AZDS_YAML_MAX_NODES },
		{ "one scalar (key or value)", AZDS_YAML_MAX_SCALAR },
		{ "anchors", AZDS_YAML_MAX_ANCHORS },
		{ "one string after", AZDS_EXPAND_MAX },
		{ "Dockerfile size", AZDS_DF_MAX_BYTES },
		{ "one Dockerfile line", AZDS_DF_MAX_LINE },
		{ "one instruction, its lines joined", AZDS_DF_MAX_INSTR },
		{ "instructions", AZDS_DF_MAX_INSTRUCTIONS },
		{ "stages", AZDS_DF_MAX_STAGES },
		{ "`ENV` names, and `ARG` names, in one stage", AZDS_DF_MAX_VARS },
		{ "one value after substitution", AZDS_DF_MAX_WORD },
		{ "all values and build-step environments together", AZDS_DF_MAX_TOTAL },
	};
	size_t len;
	FILE *f = fopen("../../docs/azds-yaml.md", "r");
	char line[512];
	bool in_limits = false;
	size_t found = 0;

	check(f != NULL, "docs/azds-yaml.md is there");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "## ", 3))
			in_limits = !strncmp(line, "## Limits", 9);
		if (!in_limits || line[0] != '|')
			continue;
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			len = strlen(rows[i].row);
			if (strncmp(line + 2, rows[i].row, len) || line[2 + len] != ' ')
				continue;
			found++;
			{
				const char *cell = strchr(line + 2 + len, '|');
				unsigned long long v = cell ? doc_number(cell + 1) : 0;

				check(v == rows[i].value, "docs' limit \"%s\": %llu, the code's %llu", rows[i].row, v,
				      rows[i].value);
			}
		}
	}
	fclose(f);
	CHECK_EQ(found, sizeof(rows) / sizeof(rows[0]), "every limit has its row in the docs");
}

int main(void)
{
	test_node();
	test_dotnet();
	test_multistage();
	test_go_java();
	test_lines();
	test_forms();
	test_combinations();
	test_args();
	test_env();
	test_workdir_expose();
	test_copies();
	test_not_honoured();
	test_limits();
	test_runtimes();
	test_mangled();
	test_doc_limits();
	printf("%d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
