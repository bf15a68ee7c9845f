// SPDX-License-Identifier: MIT
/* The sync set of a folder (see syncset.h and docs/sync.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include "glob.h"
#include "syncset.h"

/* .gitignore lists in force: the repository's above the folder, then one
 * per directory on the way down */
#define MAX_FRAMES (AZDS_SYNC_DEPTH_MAX + 64)
#define MAX_REPO_UP 64 /* levels looked up for the repository's .git */

struct frame {
	struct azds_glob_list *l;
	size_t base; /* where paths relative to the list's directory start in buf */
};

/* what a directory hands down to what is in it */
struct state {
	bool git_excl;   /* git ignores it: nothing below comes back (git's rule) */
	bool extra_excl; /* build.ignore excluded it */
};

struct walk {
	const struct azds_sync_rules *r;
	struct azds_glob_list docker, extra, sync;
	bool have_docker, have_extra, have_sync;
	struct azds_glob_list *info; /* .git/info/exclude, below every .gitignore */
	struct frame frames[MAX_FRAMES];
	int nframes;
	char buf[PATH_MAX + AZDS_SYNC_PATH_MAX + 2];
	size_t prefix; /* bytes of buf before the folder's own paths: "services/api/" in a repository */
	struct azds_syncset *s;
	azds_sync_warn_fn warn;
	void *ctx;
	struct azds_err *e;
	int rootfd;
};

struct azds_sync_filter {
	struct walk w;
};

static void warnf(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warnf(struct walk *w, const char *fmt, ...)
{
	char msg[AZDS_ERRMAX + AZDS_SYNC_PATH_MAX];
	va_list ap;

	if (!w->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->warn(w->ctx, msg);
}

bool azds_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < n;) {
		unsigned c = s[i], need, min;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			need = 1, min = 0x80, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			need = 2, min = 0x800, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			need = 3, min = 0x10000, cp = c & 0x07;
		else
			return false;
		if (i + need >= n)
			return false;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

int azds_sync_path_check(const char *path, size_t len, char *why, size_t wlen)
{
	const char *p = path, *end = path + len;
	int depth = 0;

	if (!len) {
		snprintf(why, wlen, "an empty path");
		return -EINVAL;
	}
	if (len >= AZDS_SYNC_PATH_MAX) {
		snprintf(why, wlen, "longer than %d bytes", AZDS_SYNC_PATH_MAX - 1);
		return -EINVAL;
	}
	if (path[0] == '/') {
		snprintf(why, wlen, "an absolute path (paths are relative to the workspace)");
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f) {
			snprintf(why, wlen, "a NUL or control character at byte %zu", i);
			return -EINVAL;
		}
	if (!azds_utf8_valid(path, len)) {
		snprintf(why, wlen, "not valid UTF-8");
		return -EINVAL;
	}
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);

		if (!n) {
			snprintf(why, wlen, "an empty component (\"//\" or a trailing '/')");
			return -EINVAL;
		}
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			snprintf(why, wlen, "a \"%.*s\" component", (int)n, p);
			return -EINVAL;
		}
		if (n > AZDS_SYNC_NAME_MAX) {
			snprintf(why, wlen, "a component longer than %d bytes", AZDS_SYNC_NAME_MAX);
			return -EINVAL;
		}
		if (++depth > AZDS_SYNC_DEPTH_MAX) {
			snprintf(why, wlen, "more than %d components", AZDS_SYNC_DEPTH_MAX);
			return -EINVAL;
		}
		if (!slash)
			break;
		p = slash + 1;
		if (p == end) {
			snprintf(why, wlen, "an empty component (\"//\" or a trailing '/')");
			return -EINVAL;
		}
	}
	return 0;
}

bool azds_sync_link_inside(const char *path, const char *target)
{
	bool descended = false;
	int depth = 0;

	if (!*target || target[0] == '/')
		return false;
	for (const char *p = path; (p = strchr(p, '/')); p++)
		depth++;
	for (const char *p = target; *p;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			/* '..' only before the first name: a name on the way may
			 * itself be a link (to "../.."), and a '..' after it would
			 * then climb from where that link leads, not from where
			 * the text says ("up/../../.." out of the folder). Up through
			 * the link's own directories (never links) and then down
			 * through links that each stay inside stays inside */
			if (descended || --depth < 0)
				return false;
		} else if (n && !(n == 1 && p[0] == '.')) {
			depth++;
			descended = true;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

void azds_sha256_buf(const void *buf, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL);
}

int azds_sha256_fd(int fd, unsigned char out[32], uint64_t *len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	static char buf[1 << 16];
	uint64_t total = 0;
	unsigned int n = 32;
	int err = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			break;
		}
		if (!r)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		total += (uint64_t)r;
	}
	if (!err)
		EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	if (len)
		*len = total;
	return err;
}

void azds_sha256_hex(const unsigned char sha[32], char hex[65])
{
	static const char d[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		hex[2 * i] = d[sha[i] >> 4];
		hex[2 * i + 1] = d[sha[i] & 15];
	}
	hex[64] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int azds_sha256_parse(const char *hex, unsigned char out[32])
{
	if (!hex || strlen(hex) != 64)
		return -EINVAL;
	for (int i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* a small file at dfd/name, never through a symlink: 0 with *text
 * (malloc'd, NUL-terminated), -ENOENT when absent, -ELOOP for a link */
static int read_small(int dfd, const char *name, const char *shown, char **text, size_t *len, struct azds_err *e)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char *b;
	size_t got = 0;

	*text = NULL;
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? -ENOENT : errno == ELOOP ? -ELOOP
									 : azds_err(e, errno, "%s: %s", shown, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	if ((uint64_t)st.st_size > AZDS_SYNC_IGNORE_FILE_MAX) {
		close(fd);
		return azds_err(e, EFBIG, "%s: larger than %u KiB", shown, AZDS_SYNC_IGNORE_FILE_MAX >> 10);
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return azds_err(e, ENOMEM, "%s: out of memory", shown);
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	b[got] = 0;
	*text = b;
	*len = got;
	return 0;
}

/* a .gitignore (or another git list) of the directory dfd as a new list */
static int load_git(struct walk *w, int dfd, const char *name, const char *shown, struct azds_glob_list **out)
{
	struct azds_glob_list *l;
	char *text;
	size_t len;
	int err = read_small(dfd, name, shown, &text, &len, w->e);

	*out = NULL;
	if (err == -ENOENT)
		return 0;
	if (err == -ELOOP) {
		warnf(w, "%s is a symbolic link: not followed (git does not either)", shown);
		return 0;
	}
	if (err)
		return err;
	l = malloc(sizeof(*l));
	if (!l) {
		free(text);
		return azds_err(w->e, ENOMEM, "%s: out of memory", shown);
	}
	azds_glob_list_init(l, AZDS_GLOB_GIT, shown);
	err = azds_glob_parse(l, text, len, w->e);
	free(text);
	if (err) {
		azds_glob_list_free(l);
		free(l);
		return err;
	}
	*out = l;
	return 0;
}

static int push_frame(struct walk *w, struct azds_glob_list *l, size_t base)
{
	if (w->nframes == MAX_FRAMES) {
		azds_glob_list_free(l);
		free(l);
		return azds_err(w->e, ELOOP, "more than %d levels of .gitignore files", MAX_FRAMES);
	}
	w->frames[w->nframes++] = (struct frame){ l, base };
	return 0;
}

static void pop_frames(struct walk *w, int keep)
{
	while (w->nframes > keep) {
		struct frame *f = &w->frames[--w->nframes];

		azds_glob_list_free(f->l);
		free(f->l);
	}
}

/* the directory at buf[0..len) (len == prefix: the folder) gets its .gitignore in force */
static int enter_git(struct walk *w, int dfd, size_t len, const struct state *st)
{
	struct azds_glob_list *l;
	char shown[AZDS_SYNC_PATH_MAX + 16];
	int err;

	if (!w->r->use_gitignore || st->git_excl)
		return 0;
	snprintf(shown, sizeof(shown), "%.*s%s.gitignore", (int)(len - w->prefix), w->buf + w->prefix,
		 len > w->prefix ? "/" : "");
	err = load_git(w, dfd, ".gitignore", shown, &l);
	if (err || !l)
		return err;
	return push_frame(w, l, len > w->prefix ? len + 1 : w->prefix);
}

/*
 * The rules' verdict on buf (the folder's path at buf + prefix) given the
 * state of its directory; *st is what it hands down when it is one.
 */
static bool judge(struct walk *w, const struct state *up, bool is_dir, struct state *st)
{
	const char *rel = w->buf + w->prefix;
	bool git = up->git_excl;
	int d, x;

	if (!git && w->r->use_gitignore) {
		int v = AZDS_GLOB_NONE;

		/* the deepest .gitignore that has a say decides */
		for (int i = w->nframes - 1; i >= 0 && v == AZDS_GLOB_NONE; i--)
			v = azds_glob_git(w->frames[i].l, w->buf + w->frames[i].base, is_dir);
		if (v == AZDS_GLOB_NONE && w->info)
			v = azds_glob_git(w->info, w->buf, is_dir);
		git = v == AZDS_GLOB_EXCLUDE;
	}
	st->git_excl = git;
	/* below a directory build.ignore excluded, nothing comes back (git's rule, in its own list) */
	if (up->extra_excl) {
		st->extra_excl = true;
		return true;
	}
	d = w->have_docker ? azds_glob_docker(&w->docker, rel) : AZDS_GLOB_NONE;
	x = w->have_extra ? azds_glob_git(&w->extra, rel, is_dir) : AZDS_GLOB_NONE;
	st->extra_excl = x == AZDS_GLOB_EXCLUDE;
	if (x == AZDS_GLOB_INCLUDE)
		return false;
	return st->extra_excl || git || d == AZDS_GLOB_EXCLUDE;
}

/* an excluded directory is still walked when a pattern may bring back
 * something below it: a '!' of build.ignore, or of .dockerignore when
 * only Docker's rules excluded it */
static bool may_reinclude(const struct walk *w, const struct state *st)
{
	if (w->have_extra && w->extra.any_negate)
		return true;
	return !st->git_excl && !st->extra_excl && w->have_docker && w->docker.any_negate;
}

/* container.sync leaves all of directory rel out: the last patterns are
 * '!' ones and one of them is X followed by "/" and "**", X matching rel */
static bool sync_prunes(const struct walk *w, const char *rel)
{
	char buf[AZDS_GLOB_MAX_LEN];

	if (!w->have_sync)
		return false;
	for (size_t i = w->sync.n; i-- > 0;) {
		const struct azds_glob_pat *p = &w->sync.v[i];
		size_t n = strlen(p->pat);

		if (!p->negate)
			return false;
		if (n >= 3 && !strcmp(p->pat + n - 3, "/**") && n - 3 < sizeof(buf)) {
			memcpy(buf, p->pat, n - 3);
			buf[n - 3] = 0;
			if (azds_glob_match(buf, rel, AZDS_GLOB_BANG_CLASS))
				return true;
		}
	}
	return false;
}

static int add_entry(struct walk *w, const struct stat *sb, int type, const char *target)
{
	struct azds_syncset *s = w->s;
	struct azds_sync_entry *en;
	const char *rel = w->buf + w->prefix;

	if (s->n >= AZDS_SYNC_MAX_FILES)
		return azds_err(w->e, E2BIG,
				"more than %d files to sync (at %s); leave some out with .dockerignore, .gitignore or azds.yaml's build.ignore",
				AZDS_SYNC_MAX_FILES, rel);
	if (type == AZDS_SYNC_FILE && (uint64_t)sb->st_size > AZDS_SYNC_FILE_MAX)
		return azds_err(w->e, EFBIG, "%s: %llu MiB, larger than a synced file may be (%llu MiB); leave it out with .dockerignore",
				rel, (unsigned long long)sb->st_size >> 20, AZDS_SYNC_FILE_MAX >> 20);
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		void *nv = realloc(s->v, cap * sizeof(*s->v));

		if (!nv)
			return azds_err(w->e, ENOMEM, "out of memory");
		s->v = nv;
		s->cap = cap;
	}
	en = &s->v[s->n];
	memset(en, 0, sizeof(*en));
	en->path = strdup(rel);
	en->target = target ? strdup(target) : NULL;
	if (!en->path || (target && !en->target)) {
		free(en->path);
		free(en->target);
		return azds_err(w->e, ENOMEM, "out of memory");
	}
	en->type = type;
	en->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	if (type == AZDS_SYNC_FILE) {
		en->mode = (sb->st_mode & S_IXUSR) ? 0755 : 0644;
		en->size = (uint64_t)sb->st_size;
		s->bytes += en->size;
	} else {
		en->mode = 0777;
		en->size = strlen(target);
	}
	s->n++;
	return 0;
}

static int add_link(struct walk *w, int dfd, const char *name, const struct stat *sb)
{
	char target[AZDS_SYNC_PATH_MAX];
	const char *rel = w->buf + w->prefix;
	ssize_t n = readlinkat(dfd, name, target, sizeof(target));

	if (n < 0)
		return errno == ENOENT ? 0 : azds_err(w->e, errno, "%s: %s", rel, strerror(errno));
	if ((size_t)n >= sizeof(target)) {
		warnf(w, "%s: a symbolic link with a target longer than %d bytes: skipped", rel, AZDS_SYNC_PATH_MAX - 1);
		w->s->skipped++;
		return 0;
	}
	target[n] = 0;
	if (!azds_sync_link_inside(rel, target) || !azds_utf8_valid(target, (size_t)n)) {
		warnf(w, "%s -> %s: the link leads out of the folder: skipped (it is never followed)", rel, target);
		w->s->skipped++;
		return 0;
	}
	return add_entry(w, sb, AZDS_SYNC_LINK, target);
}

static int walk_dir(struct walk *w, int dfd, size_t len, const struct state *st, int depth);

/* one name of the directory at buf[0..len) */
static int walk_one(struct walk *w, int dfd, size_t len, const char *name, const struct state *up, int depth)
{
	size_t nlen = strlen(name), at = len > w->prefix ? len + 1 : len;
	const char *rel = w->buf + w->prefix;
	struct state st;
	struct stat sb;
	bool excl;

	if (!strcmp(name, ".git"))
		return 0; /* a repository's own store (or a submodule's pointer): never synced */
	if (at + nlen - w->prefix >= AZDS_SYNC_PATH_MAX)
		return azds_err(w->e, ENAMETOOLONG, "a path longer than %d bytes (in %.120s...)", AZDS_SYNC_PATH_MAX - 1,
				rel);
	if (at > len)
		w->buf[len] = '/';
	memcpy(w->buf + at, name, nlen + 1);
	if (!azds_utf8_valid(name, nlen)) {
		warnf(w, "%s: the name is not valid UTF-8: skipped", rel);
		w->s->skipped++;
		return 0;
	}
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : azds_err(w->e, errno, "%s: %s", rel, strerror(errno));
	excl = judge(w, up, S_ISDIR(sb.st_mode), &st);
	if (S_ISDIR(sb.st_mode)) {
		int cfd;

		if ((excl && !may_reinclude(w, &st)) || sync_prunes(w, rel)) {
			w->s->ignored++;
			return 0;
		}
		if (depth + 2 > AZDS_SYNC_DEPTH_MAX)
			return azds_err(w->e, ELOOP, "%s: deeper than %d levels", rel, AZDS_SYNC_DEPTH_MAX);
		cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			if (errno == ENOENT)
				return 0;
			warnf(w, "%s: %s: skipped", rel, strerror(errno));
			w->s->skipped++;
			return 0;
		}
		return walk_dir(w, cfd, at + nlen, &st, depth + 1);
	}
	if (excl || (w->have_sync && !azds_glob_sync(&w->sync, rel))) {
		w->s->ignored++;
		return 0;
	}
	if (S_ISREG(sb.st_mode))
		return add_entry(w, &sb, AZDS_SYNC_FILE, NULL);
	if (S_ISLNK(sb.st_mode))
		return add_link(w, dfd, name, &sb);
	w->s->skipped++; /* a socket, fifo or device has nothing to send */
	return 0;
}

/* takes dfd */
static int walk_dir(struct walk *w, int dfd, size_t len, const struct state *st, int depth)
{
	int keep = w->nframes, err;
	struct dirent *de;
	DIR *d;

	err = enter_git(w, dfd, len, st);
	if (err) {
		close(dfd);
		return err;
	}
	d = fdopendir(dfd);
	if (!d) {
		err = azds_err(w->e, errno, "%.*s: %s", (int)(len - w->prefix), w->buf + w->prefix, strerror(errno));
		close(dfd);
		pop_frames(w, keep);
		return err;
	}
	while (!err && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		err = walk_one(w, dirfd(d), len, de->d_name, st, depth);
		w->buf[len] = 0;
	}
	closedir(d);
	pop_frames(w, keep);
	return err;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct azds_sync_entry *)a)->path, ((const struct azds_sync_entry *)b)->path);
}

/* the repository around the folder: its .gitignore files down to the
 * folder's parent and .git/info/exclude; buf gets the folder's path in it */
static int find_repo(struct walk *w, const char *dir)
{
	char real[PATH_MAX], probe[PATH_MAX + 16];
	struct stat sb;
	size_t rlen, root = 0;
	bool found = false;

	if (!realpath(dir, real))
		return azds_err(w->e, errno, "%s: %s", dir, strerror(errno));
	rlen = strlen(real);
	/* from the folder up, where is .git? */
	for (size_t end = rlen, up = 0; up < MAX_REPO_UP; up++) {
		snprintf(probe, sizeof(probe), "%.*s/.git", (int)end, real);
		if (!lstat(probe, &sb)) {
			root = end;
			found = true;
			break;
		}
		if (end <= 1)
			break; /* "/" */
		while (end > 1 && real[end - 1] != '/')
			end--;
		end = end > 1 ? end - 1 : 1;
	}
	if (!found || root == rlen) {
		w->prefix = 0;
		if (found && w->r->use_gitignore) {
			snprintf(probe, sizeof(probe), "%s/.git/info", real);
			int fd = open(probe, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			if (fd >= 0) {
				int err = load_git(w, fd, "exclude", ".git/info/exclude", &w->info);

				close(fd);
				return err;
			}
		}
		return 0;
	}
	/* buf: the folder relative to the repository, with a '/' */
	{
		const char *rel = real + root + (root == 1 ? 0 : 1);
		size_t n = strlen(rel);

		if (n + 1 >= PATH_MAX)
			return azds_err(w->e, ENAMETOOLONG, "%s: too long a path", dir);
		memcpy(w->buf, rel, n);
		w->buf[n] = '/';
		w->buf[n + 1] = 0;
		w->prefix = n + 1;
	}
	if (!w->r->use_gitignore)
		return 0;
	/* each directory from the repository's root down to the folder's parent */
	{
		char top[PATH_MAX];
		int fd, err;

		snprintf(top, sizeof(top), "%.*s", (int)(root ? root : 1), real);
		snprintf(probe, sizeof(probe), "%s/.git/info", top);
		fd = open(probe, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			err = load_git(w, fd, "exclude", "<repository>/.git/info/exclude", &w->info);
			close(fd);
			if (err)
				return err;
		}
		fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (size_t at = 0; fd >= 0;) {
			struct azds_glob_list *l;
			char shown[PATH_MAX + 16];
			const char *slash;
			int next;

			snprintf(shown, sizeof(shown), "<repository>/%.*s.gitignore", (int)at, w->buf);
			err = load_git(w, fd, ".gitignore", shown, &l);
			if (!err && l)
				err = push_frame(w, l, at);
			if (err) {
				close(fd);
				return err;
			}
			slash = strchr(w->buf + at, '/');
			if (!slash || (size_t)(slash - w->buf) + 1 >= w->prefix)
				break;
			{
				char comp[NAME_MAX + 1];
				size_t n = (size_t)(slash - (w->buf + at));

				if (n > NAME_MAX)
					break;
				memcpy(comp, w->buf + at, n);
				comp[n] = 0;
				next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			}
			close(fd);
			fd = next;
			at = (size_t)(slash - w->buf) + 1;
		}
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

static void walk_free(struct walk *w)
{
	pop_frames(w, 0);
	if (w->info) {
		azds_glob_list_free(w->info);
		free(w->info);
		w->info = NULL;
	}
	azds_glob_list_free(&w->docker);
	azds_glob_list_free(&w->extra);
	azds_glob_list_free(&w->sync);
	if (w->rootfd >= 0)
		close(w->rootfd);
	w->rootfd = -1;
}

static int walk_init(struct walk *w, const char *dir, const struct azds_sync_rules *r, struct azds_err *e)
{
	static const struct azds_sync_rules none;
	char *text;
	size_t len;
	int err;

	memset(w, 0, sizeof(*w));
	w->r = r ? r : &none;
	w->e = e;
	w->rootfd = -1;
	azds_glob_list_init(&w->docker, AZDS_GLOB_DOCKER, ".dockerignore");
	azds_glob_list_init(&w->extra, AZDS_GLOB_GIT, "azds.yaml build.ignore");
	azds_glob_list_init(&w->sync, AZDS_GLOB_SYNC, "azds.yaml container.sync");
	w->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->rootfd < 0)
		return azds_err(e, errno, "%s: %s", dir, strerror(errno));
	err = find_repo(w, dir);
	if (err)
		return err;
	if (!w->r->no_dockerignore) {
		err = read_small(w->rootfd, ".dockerignore", ".dockerignore", &text, &len, e);
		if (err == -ELOOP)
			return azds_err(e, ELOOP, ".dockerignore is a symbolic link: not followed");
		if (!err) {
			err = azds_glob_parse(&w->docker, text, len, e);
			free(text);
			if (err)
				return err;
			w->have_docker = w->docker.n > 0;
		} else if (err != -ENOENT) {
			return err;
		}
	}
	for (size_t i = 0; i < w->r->nignore; i++) {
		err = azds_glob_add(&w->extra, w->r->ignore[i], (int)i + 1, e);
		if (err)
			return err;
	}
	w->have_extra = w->extra.n > 0;
	for (size_t i = 0; i < w->r->nsync; i++) {
		err = azds_glob_add(&w->sync, w->r->sync[i], (int)i + 1, e);
		if (err)
			return err;
	}
	w->have_sync = w->sync.n > 0;
	return 0;
}

int azds_syncset_scan(struct azds_syncset *s, const char *dir, const struct azds_sync_rules *r,
		      azds_sync_warn_fn warn, void *ctx, struct azds_err *e)
{
	struct walk *w = malloc(sizeof(*w));
	struct state top = { 0 };
	int err, fd;

	memset(s, 0, sizeof(*s));
	if (!w)
		return azds_err(e, ENOMEM, "out of memory");
	err = walk_init(w, dir, r, e);
	w->s = s;
	w->warn = warn;
	w->ctx = ctx;
	if (!err) {
		fd = dup(w->rootfd);
		err = fd < 0 ? azds_err(e, errno, "%s: %s", dir, strerror(errno)) : walk_dir(w, fd, w->prefix, &top, 0);
	}
	walk_free(w);
	free(w);
	if (err) {
		azds_syncset_free(s);
		return err;
	}
	qsort(s->v, s->n, sizeof(*s->v), cmp_entry);
	return 0;
}

void azds_syncset_free(struct azds_syncset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].target);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

const struct azds_sync_entry *azds_syncset_find(const struct azds_syncset *s, const char *path)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->v[mid].path, path);

		if (!c)
			return &s->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int azds_sync_filter_new(struct azds_sync_filter **out, const char *dir, const struct azds_sync_rules *r,
			 struct azds_err *e)
{
	struct azds_sync_filter *f = malloc(sizeof(*f));
	int err;

	*out = NULL;
	if (!f)
		return azds_err(e, ENOMEM, "out of memory");
	err = walk_init(&f->w, dir, r, e);
	if (err) {
		walk_free(&f->w);
		free(f);
		return err;
	}
	*out = f;
	return 0;
}

int azds_sync_filter_path(struct azds_sync_filter *f, const char *path, bool is_dir, struct azds_err *e)
{
	struct walk *w = &f->w;
	struct state st = { 0 }, next;
	int keep = w->nframes, fd, rc = 1, err;
	size_t len = w->prefix;
	bool gone = false; /* a directory on the way is missing: fd is /dev/null's */
	char why[128];

	if (azds_sync_path_check(path, strlen(path), why, sizeof(why)))
		return azds_err(e, EINVAL, "\"%s\": %s", path, why);
	w->e = e;
	fd = dup(w->rootfd);
	if (fd < 0)
		return azds_err(e, errno, "%s", strerror(errno));
	for (const char *p = path;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		bool dir = slash || is_dir, excl;

		err = enter_git(w, fd, len, &st);
		if (err) {
			rc = err;
			break;
		}
		if (len > w->prefix)
			w->buf[len++] = '/';
		memcpy(w->buf + len, p, n);
		len += n;
		w->buf[len] = 0;
		if (n == 4 && !memcmp(p, ".git", 4)) {
			rc = 0;
			break;
		}
		excl = judge(w, &st, dir, &next);
		if (dir && ((excl && (!slash || !may_reinclude(w, &next))) || sync_prunes(w, w->buf + w->prefix))) {
			rc = 0;
			break;
		}
		if (!slash) {
			rc = !excl && (dir || !w->have_sync || azds_glob_sync(&w->sync, w->buf + w->prefix));
			break;
		}
		{
			char comp[NAME_MAX + 1];
			int nfd;

			memcpy(comp, p, n);
			comp[n] = 0;
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0 && !gone && (errno == ELOOP || errno == ENOTDIR)) {
				/* a link (or a file) where a directory was: nothing
				 * under it is in the folder, whatever the rules say */
				rc = 0;
				break;
			}
			close(fd);
			fd = nfd;
		}
		st = next;
		p = slash + 1;
		if (fd < 0) {
			/* a directory that is gone has no .gitignore to read: judge on */
			fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			gone = true;
		}
	}
	if (fd >= 0)
		close(fd);
	pop_frames(w, keep);
	w->buf[w->prefix] = 0;
	return rc;
}

void azds_sync_filter_free(struct azds_sync_filter *f)
{
	if (!f)
		return;
	walk_free(&f->w);
	free(f);
}
