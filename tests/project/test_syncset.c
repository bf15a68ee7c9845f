// SPDX-License-Identifier: MIT
/*
 * Unit tests of userspace/project/syncset.c: a folder made under
 * /tmp/azds-test-syncset-<pid> (folders of earlier runs whose process is
 * gone are removed first, this run's at exit) is walked with each kind of
 * rule, and the sync set is compared entry by entry.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "syncset.h"

#define TMP_PREFIX "azds-test-syncset-"

static int failures;
static char root[128];

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			failures++;                                                              \
		}                                                                                \
	} while (0)

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* folders of earlier runs whose process is gone */
static void clean_old(void)
{
	DIR *d = opendir("/tmp");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[300];
		long pid;

		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
			continue;
		pid = strtol(de->d_name + strlen(TMP_PREFIX), NULL, 10);
		if (pid > 0 && kill((pid_t)pid, 0) && errno == ESRCH) {
			snprintf(p, sizeof(p), "/tmp/%s", de->d_name);
			rm_rf(p);
		}
	}
	closedir(d);
}

static void cleanup(void)
{
	if (root[0])
		rm_rf(root);
}

static void put(const char *rel, const char *text, mode_t mode)
{
	char p[2048], dir[2048];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", p);
	for (char *s = dir + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		mkdir(dir, 0755);
		*s = '/';
	}
	FILE *f = fopen(p, "w");

	if (!f) {
		fprintf(stderr, "%s: %s\n", p, strerror(errno));
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
}

static void link_(const char *rel, const char *target)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (symlink(target, p)) {
		fprintf(stderr, "%s: %s\n", p, strerror(errno));
		exit(2);
	}
}

static char warnings[4096];

static void on_warn(void *ctx, const char *msg)
{
	(void)ctx;
	strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
	strcat(warnings, "\n");
}

/* the set's paths, one per line, "@" after a link */
static void listing(const struct azds_syncset *s, char *buf, size_t len)
{
	buf[0] = 0;
	for (size_t i = 0; i < s->n; i++) {
		strncat(buf, s->v[i].path, len - strlen(buf) - 1);
		strncat(buf, s->v[i].type == AZDS_SYNC_LINK ? "@\n" : "\n", len - strlen(buf) - 1);
	}
}

static void expect(const char *what, const char *dir, const struct azds_sync_rules *r, const char *want)
{
	struct azds_syncset s;
	struct azds_err e;
	char got[4096];
	int err;

	warnings[0] = 0;
	err = azds_syncset_scan(&s, dir, r, on_warn, NULL, &e);
	if (err) {
		fprintf(stderr, "%s: scan failed: %s\n", what, e.msg);
		failures++;
		return;
	}
	listing(&s, got, sizeof(got));
	if (strcmp(got, want)) {
		fprintf(stderr, "%s: got\n%s--- want\n%s---\n", what, got, want);
		failures++;
	}
	azds_syncset_free(&s);
}

static void fixture(void)
{
	char p[512];

	put(".gitignore", "*.log\nbuild/\n!important.log\n/root-only.txt\n", 0644);
	put("a.txt", "a\n", 0644);
	put("x.log", "log\n", 0644);
	put("important.log", "keep\n", 0644);
	put("root-only.txt", "r\n", 0644);
	put("sub/root-only.txt", "not anchored here\n", 0644);
	put("build/out.o", "obj\n", 0644);
	put("sub/build", "a file named build is not a directory\n", 0644);
	put("sub/.gitignore", "*.tmp\n!keep.tmp\n", 0644);
	put("sub/a.tmp", "t\n", 0644);
	put("sub/keep.tmp", "k\n", 0644);
	put("sub/x.log", "l\n", 0644);
	put("node_modules/pkg/index.js", "js\n", 0644);
	put(".dockerignore", "node_modules\n*.md\n!README.md\n", 0644);
	put("README.md", "# hi\n", 0644);
	put("NOTES.md", "notes\n", 0644);
	put("docs/x.md", "docs are below the root: *.md is the root's only\n", 0644);
	put("run.sh", "#!/bin/sh\n", 0755);
	put("secret.txt", "s\n", 0644);
	put(".git/config", "[core]\n", 0644);
	put(".git/info/exclude", "secret.txt\n", 0644);
	link_("link-in", "a.txt");
	link_("link-up", "../outside");
	link_("link-abs", "/etc/passwd");
	link_("sub/link-ok", "../a.txt");
	link_("dirlink", "sub");
	snprintf(p, sizeof(p), "%s/fifo", root);
	mkfifo(p, 0644);
}

static void test_rules(void)
{
	struct azds_sync_rules r = { .use_gitignore = true };
	struct azds_syncset s;
	struct azds_err e;

	expect("gitignore+dockerignore", root, &r,
	       ".dockerignore\n.gitignore\nREADME.md\na.txt\ndirlink@\ndocs/x.md\nimportant.log\nlink-in@\n"
	       "run.sh\nsub/.gitignore\nsub/build\nsub/keep.tmp\nsub/link-ok@\nsub/root-only.txt\n");
	CHECK(strstr(warnings, "link-up -> ../outside") != NULL);
	CHECK(strstr(warnings, "link-abs -> /etc/passwd") != NULL);

	/* the figures beside the entries */
	CHECK(azds_syncset_scan(&s, root, &r, NULL, NULL, &e) == 0);
	CHECK(s.skipped == 3); /* two links out, the fifo */
	{
		const struct azds_sync_entry *x = azds_syncset_find(&s, "run.sh");
		const struct azds_sync_entry *l = azds_syncset_find(&s, "sub/link-ok");
		const struct azds_sync_entry *a = azds_syncset_find(&s, "a.txt");

		CHECK(x && x->mode == 0755 && x->type == AZDS_SYNC_FILE);
		CHECK(a && a->mode == 0644 && a->size == 2 && a->mtime_ns > 0);
		CHECK(l && l->type == AZDS_SYNC_LINK && !strcmp(l->target, "../a.txt"));
		CHECK(!azds_syncset_find(&s, "x.log"));
	}
	azds_syncset_free(&s);

	/* without .gitignore: Docker's rules alone (and .git still out) */
	r.use_gitignore = false;
	expect("dockerignore only", root, &r,
	       ".dockerignore\n.gitignore\nREADME.md\na.txt\nbuild/out.o\ndirlink@\ndocs/x.md\nimportant.log\nlink-in@\n"
	       "root-only.txt\nrun.sh\nsecret.txt\nsub/.gitignore\nsub/a.tmp\nsub/build\nsub/keep.tmp\nsub/link-ok@\n"
	       "sub/root-only.txt\nsub/x.log\nx.log\n");
	r.no_dockerignore = true;
	expect("no rules", root, &r,
	       ".dockerignore\n.gitignore\nNOTES.md\nREADME.md\na.txt\nbuild/out.o\ndirlink@\ndocs/x.md\nimportant.log\n"
	       "link-in@\nnode_modules/pkg/index.js\nroot-only.txt\nrun.sh\nsecret.txt\nsub/.gitignore\nsub/a.tmp\n"
	       "sub/build\nsub/keep.tmp\nsub/link-ok@\nsub/root-only.txt\nsub/x.log\nx.log\n");

	/* container.sync selects among what the ignores leave */
	{
		static const char *const globs[] = { "**/*.txt", "!sub/**" };
		struct azds_sync_rules g = { .use_gitignore = true, .sync = globs, .nsync = 2 };

		expect("sync globs", root, &g, "a.txt\n");
	}
	/* build.ignore comes last: '!' brings back what .gitignore left out */
	{
		static const char *const ign[] = { "!x.log", "sub/", "docs" };
		struct azds_sync_rules g = { .use_gitignore = true, .ignore = ign, .nignore = 3 };

		expect("build.ignore", root, &g,
		       ".dockerignore\n.gitignore\nREADME.md\na.txt\ndirlink@\nimportant.log\nlink-in@\nrun.sh\nx.log\n");
	}
}

static void test_filter(void)
{
	struct azds_sync_rules r = { .use_gitignore = true };
	struct azds_sync_filter *f;
	struct azds_err e;

	CHECK(azds_sync_filter_new(&f, root, &r, &e) == 0);
	if (!f)
		return;
	CHECK(azds_sync_filter_path(f, "a.txt", false, &e) == 1);
	CHECK(azds_sync_filter_path(f, "x.log", false, &e) == 0);
	CHECK(azds_sync_filter_path(f, "important.log", false, &e) == 1);
	CHECK(azds_sync_filter_path(f, "build/out.o", false, &e) == 0);
	CHECK(azds_sync_filter_path(f, "build/new.c", false, &e) == 0);
	CHECK(azds_sync_filter_path(f, "sub/a.tmp", false, &e) == 0);
	CHECK(azds_sync_filter_path(f, "sub/keep.tmp", false, &e) == 1);
	CHECK(azds_sync_filter_path(f, "sub/x.log", false, &e) == 0);
	CHECK(azds_sync_filter_path(f, "node_modules/pkg/index.js", false, &e) == 0);
	CHECK(azds_sync_filter_path(f, "secret.txt", false, &e) == 0);
	CHECK(azds_sync_filter_path(f, ".git/config", false, &e) == 0);
	CHECK(azds_sync_filter_path(f, "new/dir/file.txt", false, &e) == 1);
	CHECK(azds_sync_filter_path(f, "new/dir/file.log", false, &e) == 0);
	CHECK(azds_sync_filter_path(f, "../escape", false, &e) < 0);
	azds_sync_filter_free(f);
}

/* a folder inside a repository: the repository's .gitignore files count,
 * their anchored patterns relative to their own directory */
static void test_repo(void)
{
	struct azds_sync_rules r = { .use_gitignore = true };
	char dir[256];

	put("repo/.git/HEAD", "ref: refs/heads/main\n", 0644);
	put("repo/.gitignore", "*.secret\n/svc/skipme\n/b.txt\n", 0644);
	put("repo/svc/.gitignore", "local.*\n", 0644);
	put("repo/svc/api/a.secret", "s\n", 0644);
	put("repo/svc/api/b.txt", "b\n", 0644);
	put("repo/svc/api/local.cfg", "l\n", 0644);
	put("repo/svc/skipme", "x\n", 0644);
	snprintf(dir, sizeof(dir), "%s/repo/svc/api", root);
	expect("in a repository", dir, &r, "b.txt\n");
	snprintf(dir, sizeof(dir), "%s/repo/svc", root);
	expect("the repository's svc", dir, &r, ".gitignore\napi/b.txt\n");
}

static void test_limits(void)
{
	struct azds_syncset s;
	struct azds_err e;
	char name[256], rel[1400] = "deep";

	memset(name, 'n', 250);
	name[250] = 0;
	for (int i = 0; i < 5; i++) {
		strcat(rel, "/");
		strcat(rel, name);
	}
	strcat(rel, "/f");
	put(rel, "x\n", 0644);
	snprintf(name, sizeof(name), "%s/deep", root);
	CHECK(azds_syncset_scan(&s, name, NULL, NULL, NULL, &e) == -ENAMETOOLONG);
	CHECK(strstr(e.msg, "longer than 1023 bytes") != NULL);
	if (!strstr(e.msg, "longer than 1023 bytes"))
		fprintf(stderr, "  the message: %s\n", e.msg);
	snprintf(name, sizeof(name), "%s/deep", root);
	rm_rf(name);

	put("badignore/.dockerignore", "ok\n!\n", 0644);
	snprintf(name, sizeof(name), "%s/badignore", root);
	CHECK(azds_syncset_scan(&s, name, NULL, NULL, NULL, &e) == -EINVAL);
	CHECK(strstr(e.msg, ".dockerignore:2") != NULL);
}

static void test_paths(void)
{
	char why[128];

	CHECK(azds_sync_path_check("ok/path.txt", 11, why, sizeof(why)) == 0);
	CHECK(azds_sync_path_check("../x", 4, why, sizeof(why)) == -EINVAL);
	CHECK(azds_sync_path_check("a/../x", 6, why, sizeof(why)) == -EINVAL);
	CHECK(azds_sync_path_check("/etc/passwd", 11, why, sizeof(why)) == -EINVAL);
	CHECK(strstr(why, "absolute") != NULL);
	CHECK(azds_sync_path_check("a//b", 4, why, sizeof(why)) == -EINVAL);
	CHECK(azds_sync_path_check("a/./b", 5, why, sizeof(why)) == -EINVAL);
	CHECK(azds_sync_path_check("a/", 2, why, sizeof(why)) == -EINVAL);
	CHECK(azds_sync_path_check("a\x01", 2, why, sizeof(why)) == -EINVAL);
	CHECK(azds_sync_path_check("a\0b", 3, why, sizeof(why)) == -EINVAL);
	CHECK(azds_sync_path_check("\xff", 1, why, sizeof(why)) == -EINVAL);
	CHECK(azds_sync_path_check("caf\xc3\xa9", 5, why, sizeof(why)) == 0);
	CHECK(azds_sync_path_check("", 0, why, sizeof(why)) == -EINVAL);

	CHECK(azds_sync_link_inside("a/l", "../b"));
	CHECK(!azds_sync_link_inside("l", "../x"));
	CHECK(azds_sync_link_inside("a/b/l", "../../x"));
	CHECK(!azds_sync_link_inside("a/b/l", "../../../x"));
	CHECK(!azds_sync_link_inside("l", "/etc"));
	CHECK(!azds_sync_link_inside("l", "a/../../x"));
	CHECK(azds_sync_link_inside("l", "./."));
	CHECK(!azds_sync_link_inside("l", ""));
	/* a '..' after a name: that name may be a link (e/f/g/up -> ../../..),
	 * and the chain e/f/g/up/../../../.. then leads out of the folder */
	CHECK(azds_sync_link_inside("e/f/g/up", "../../.."));
	CHECK(!azds_sync_link_inside("y", "e/f/g/up/../../../.."));
	CHECK(!azds_sync_link_inside("a/l", "b/../c"));
	CHECK(azds_sync_link_inside("a/b/l", "../../pkg/bin/cli.js")); /* node_modules/.bin's shape */

	{
		unsigned char sha[32];
		char hex[65];

		azds_sha256_buf("abc", 3, sha);
		azds_sha256_hex(sha, hex);
		CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
		CHECK(azds_sha256_parse(hex, sha) == 0);
		CHECK(azds_sha256_parse("xyz", sha) == -EINVAL);
	}
}

int main(void)
{
	clean_old();
	snprintf(root, sizeof(root), "/tmp/" TMP_PREFIX "%d", (int)getpid());
	rm_rf(root);
	if (mkdir(root, 0755)) {
		perror(root);
		return 2;
	}
	atexit(cleanup);
	fixture();
	test_rules();
	test_filter();
	test_repo();
	test_limits();
	test_paths();
	if (failures) {
		fprintf(stderr, "test_syncset: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_syncset: ok\n");
	return 0;
}
