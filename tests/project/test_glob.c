// SPDX-License-Identifier: MIT
/*
 * Unit tests of userspace/project/glob.c: git's .gitignore rules (the
 * expectations were checked with `git check-ignore` in a scratch
 * repository, see docs/sync.md), moby's .dockerignore rules and azds.yaml's
 * sync globs.
 */
#include <stdio.h>
#include <string.h>
#include "glob.h"

static int failures;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			failures++;                                                              \
		}                                                                                \
	} while (0)

enum { N = AZDS_GLOB_NONE, X = AZDS_GLOB_EXCLUDE, I = AZDS_GLOB_INCLUDE };

struct gcase {
	const char *file; /* the list's text */
	const char *path;
	bool dir;
	int want;
};

/* git: one .gitignore at the root; parents are the walker's (test_syncset) */
static const struct gcase git_cases[] = {
	{ "*.log\n", "a.log", false, X },
	{ "*.log\n", "dir/a.log", false, X },
	{ "*.log\n", "a.log.txt", false, N },
	{ "/build\n", "build", true, X },
	{ "/build\n", "src/build", true, N },
	{ "build/\n", "build", true, X },
	{ "build/\n", "build", false, N },
	{ "build/\n", "src/build", true, X },
	{ "doc/*.txt\n", "doc/a.txt", false, X },
	{ "doc/*.txt\n", "doc/sub/a.txt", false, N },
	{ "doc/*.txt\n", "x/doc/a.txt", false, N },
	{ "**/foo\n", "foo", false, X },
	{ "**/foo\n", "a/b/foo", false, X },
	{ "foo/**\n", "foo/a", false, X },
	{ "foo/**\n", "foo/a/b", false, X },
	{ "foo/**\n", "foo", true, N },
	{ "a/**/b\n", "a/b", false, X },
	{ "a/**/b\n", "a/x/b", false, X },
	{ "a/**/b\n", "a/x/y/b", false, X },
	{ "a/**/b\n", "a/xb", false, N },
	{ "*.log\n!keep.log\n", "keep.log", false, I },
	{ "*.log\n!keep.log\n", "x.log", false, X },
	{ "!keep.log\n*.log\n", "keep.log", false, X },
	{ "\\#file\n", "#file", false, X },
	{ "#file\n", "#file", false, N },
	{ "\\!important\n", "!important", false, X },
	{ "foo  \n", "foo", false, X },
	{ "foo\\ \n", "foo ", false, X },
	{ "foo\\ \n", "foo", false, N },
	{ "[abc].txt\n", "a.txt", false, X },
	{ "[abc].txt\n", "d.txt", false, N },
	{ "[!abc].txt\n", "d.txt", false, X },
	{ "[!abc].txt\n", "a.txt", false, N },
	{ "[^abc].txt\n", "d.txt", false, X },
	{ "[a-c]x\n", "bx", false, X },
	{ "[a-c]x\n", "dx", false, N },
	{ "[[:digit:]]*\n", "1abc", false, X },
	{ "[[:digit:]]*\n", "abc", false, N },
	{ "?.c\n", "a.c", false, X },
	{ "?.c\n", "ab.c", false, N },
	{ "x/a?c\n", "x/a/c", false, N },
	{ "a**b\n", "axxb", false, X },
	{ "x/a**b\n", "x/a/b", false, N },
	{ "*\n", "anything/at/all", false, X },
	{ "dir/sub/\n", "dir/sub", true, X },
	{ "dir/sub/\n", "dir/sub", false, N },
	{ "*.o\r\n", "a.o", false, X },
	{ "\xef\xbb\xbf*.o\n", "a.o", false, X },
	{ "[abc\n", "a", false, N }, /* git: a '[' left open never matches */
	{ "src/*/x\n", "src/a/x", false, X },
	{ "src/*/x\n", "src/a/b/x", false, N },
	{ "\n\n   \n", "x", false, N },
};

/* docker: moby's patternmatcher */
static const struct gcase docker_cases[] = {
	{ "*.md\n", "README.md", false, X },
	{ "*.md\n", "docs/a.md", false, N }, /* always from the root */
	{ "**/*.md\n", "docs/a.md", false, X },
	{ "**/*.md\n", "README.md", false, X },
	{ "node_modules\n", "node_modules/x/y.js", false, X },
	{ "node_modules\n", "a/node_modules/x", false, N },
	{ "dir/\n!dir/keep\n", "dir/a", false, X },
	{ "dir/\n!dir/keep\n", "dir/keep", false, I },
	{ "dir/\n!dir/keep\n", "dir/keep/x", false, I },
	{ "/abs/path\n", "abs/path", false, X },
	{ "./x/../y\n", "y", false, X },
	{ "  spaced  \n", "spaced", false, X },
	{ "# comment\n", "# comment", false, N },
	{ " #x\n", "#x", false, X },
	{ "a**b\n", "a/x/b", false, X },
	{ "[^a]x\n", "bx", false, X },
	{ "[^a]x\n", "ax", false, N },
	{ "[!a]x\n", "!x", false, X },
	{ "[!a]x\n", "bx", false, N },
	{ "x/**\n", "x/a/b", false, X },
	{ "*\n", "a/b", false, X },
	{ "a//b/\n", "a/b/c", false, X },
	{ "*.md\n!README.md\n", "README.md", false, I },
	{ "*.md\n!README.md\n", "NOTES.md", false, X },
};

struct scase {
	const char *globs[6];
	const char *path;
	bool want;
};

static const struct scase sync_cases[] = {
	{ { "**/Pages/**", "**/Views/**", "**/wwwroot/**", "!**/*.{sln,csproj}" }, "Pages/Index.cshtml", true },
	{ { "**/Pages/**", "**/Views/**", "**/wwwroot/**", "!**/*.{sln,csproj}" }, "a/Views/x.cshtml", true },
	{ { "**/Pages/**", "**/Views/**", "**/wwwroot/**", "!**/*.{sln,csproj}" }, "Program.cs", false },
	{ { "**/Pages/**", "**/Views/**", "**/wwwroot/**", "!**/*.{sln,csproj}" }, "wwwroot/app.csproj", false },
	{ { "**/Pages/**", "**/Views/**", "**/wwwroot/**", "!**/*.{sln,csproj}" }, "wwwroot/app.sln", false },
	{ { "!**/node_modules/**" }, "a.js", true },
	{ { "!**/node_modules/**" }, "node_modules/x.js", false },
	{ { "!**/node_modules/**" }, "a/node_modules/b/c", false },
	{ { "**/*" }, ".env", true },
	{ { "**/*" }, "a/b/c", true },
	{ { "src/", "!src/gen/" }, "src/a.c", true },
	{ { "src/", "!src/gen/" }, "src/gen/x.c", false },
	{ { "src/", "!src/gen/" }, "lib/a.c", false },
	{ { "*.{js,css}" }, "app.js", true },
	{ { "*.{js,css}" }, "a/app.js", false },
	{ { "*.{js,css}" }, "style.css", true },
	{ { "{a,b{c,d}}.txt" }, "bd.txt", true },
	{ { "{a,b{c,d}}.txt" }, "a.txt", true },
	{ { "{a,b{c,d}}.txt" }, "b.txt", false },
	{ { "./lib/**", "!lib/*.o" }, "lib/x.c", true },
	{ { "./lib/**", "!lib/*.o" }, "lib/x.o", false },
	{ { "{x}" }, "{x}", true }, /* no comma: no alternatives */
};

static int list_of(struct azds_glob_list *l, enum azds_glob_dialect d, const char *text, struct azds_err *e)
{
	azds_glob_list_init(l, d, d == AZDS_GLOB_GIT ? ".gitignore" : ".dockerignore");
	return azds_glob_parse(l, text, strlen(text), e);
}

static void test_git(void)
{
	for (size_t i = 0; i < sizeof(git_cases) / sizeof(git_cases[0]); i++) {
		const struct gcase *c = &git_cases[i];
		struct azds_glob_list l;
		struct azds_err e;
		int got;

		CHECK(list_of(&l, AZDS_GLOB_GIT, c->file, &e) == 0);
		got = azds_glob_git(&l, c->path, c->dir);
		if (got != c->want) {
			fprintf(stderr, "git: %zu: \"%s\" on %s%s: %d, want %d\n", i, c->file, c->path, c->dir ? "/" : "",
				got, c->want);
			failures++;
		}
		azds_glob_list_free(&l);
	}
}

static void test_docker(void)
{
	struct azds_glob_list l;
	struct azds_err e;

	for (size_t i = 0; i < sizeof(docker_cases) / sizeof(docker_cases[0]); i++) {
		const struct gcase *c = &docker_cases[i];
		int got;

		CHECK(list_of(&l, AZDS_GLOB_DOCKER, c->file, &e) == 0);
		got = azds_glob_docker(&l, c->path);
		if (got != c->want) {
			fprintf(stderr, "docker: %zu: \"%s\" on %s: %d, want %d\n", i, c->file, c->path, got, c->want);
			failures++;
		}
		azds_glob_list_free(&l);
	}
	/* what Docker refuses, refused with the file and line */
	CHECK(list_of(&l, AZDS_GLOB_DOCKER, "a\n!\n", &e) < 0);
	CHECK(strstr(e.msg, ".dockerignore:2") != NULL);
	azds_glob_list_free(&l);
	CHECK(list_of(&l, AZDS_GLOB_DOCKER, "ok\n\n[x\n", &e) < 0);
	CHECK(strstr(e.msg, ".dockerignore:3") != NULL && strstr(e.msg, "'['") != NULL);
	azds_glob_list_free(&l);
}

static void test_sync(void)
{
	struct azds_glob_list l;
	struct azds_err e;

	for (size_t i = 0; i < sizeof(sync_cases) / sizeof(sync_cases[0]); i++) {
		const struct scase *c = &sync_cases[i];
		bool got;

		azds_glob_list_init(&l, AZDS_GLOB_SYNC, "azds.yaml sync");
		for (int k = 0; k < 6 && c->globs[k]; k++)
			CHECK(azds_glob_add(&l, c->globs[k], k + 1, &e) == 0);
		got = azds_glob_sync(&l, c->path);
		if (got != c->want) {
			fprintf(stderr, "sync: %zu: %s on %s: %d, want %d\n", i, c->globs[0], c->path, got, c->want);
			failures++;
		}
		azds_glob_list_free(&l);
	}
	/* an empty list selects everything */
	azds_glob_list_init(&l, AZDS_GLOB_SYNC, "azds.yaml sync");
	CHECK(azds_glob_sync(&l, "any/thing"));
	/* brace bombs and bad patterns are refused, naming the entry */
	CHECK(azds_glob_add(&l, "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}{o,p}{q,r}", 3, &e) < 0);
	CHECK(strstr(e.msg, "azds.yaml sync:3") != NULL);
	CHECK(azds_glob_add(&l, "", 4, &e) < 0);
	CHECK(azds_glob_add(&l, "src/[a-", 5, &e) < 0);
	CHECK(strstr(e.msg, ":5") != NULL);
	azds_glob_list_free(&l);
}

static void test_match(void)
{
	char text[200];

	/* backtracking is bounded: each '*' gives up once the text ran out */
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	CHECK(!azds_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", text, 0));
	CHECK(!azds_glob_match("**/**/**/**/**/**/**/**/b", "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/c", 0));
	CHECK(azds_glob_match("**/**/b", "a/a/b", 0));
	CHECK(azds_glob_match("a\\*b", "a*b", 0));
	CHECK(!azds_glob_match("a\\*b", "axb", 0));
	CHECK(azds_glob_match("[]]", "]", 0));
	CHECK(azds_glob_match("[a-]", "-", 0));
	CHECK(!azds_glob_match("[a-z]", "/", 0));
	CHECK(!azds_glob_match("*", "a/b", 0));
	CHECK(azds_glob_match("**", "a/b", 0));
	CHECK(azds_glob_match("a/**", "a/b/c", 0));
	CHECK(!azds_glob_match("a/**", "a", 0));
	CHECK(!azds_glob_match("abc\\", "abc", 0));
}

int main(void)
{
	test_match();
	test_git();
	test_docker();
	test_sync();
	if (failures) {
		fprintf(stderr, "test_glob: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_glob: ok\n");
	return 0;
}
