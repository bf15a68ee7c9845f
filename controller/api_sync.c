// SPDX-License-Identifier: MIT
/*
 * /v1/workspaces: the server side of the file sync (docs/sync.md).
 *
 * What a client may do to a workspace is bounded by what it names: paths
 * are checked (relative, no "..", no NUL or control characters, UTF-8,
 * bounded) and every change in tree/ is made through descriptors opened
 * component by component without following a symlink (O_NOFOLLOW), with
 * the last step an *at() call on the parent (renameat, unlinkat,
 * symlinkat), so neither a hostile client nor a pod that rewrote its
 * workspace can have the controller write outside it. A batch is checked
 * whole (paths, sizes, hashes after inflating) before the tree changes:
 * a refused batch leaves the tree as it was.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <zlib.h>
#include "api_sync.h"
#include "syncset.h"

#define WS_CACHE 8 /* workspaces kept in memory (their manifests, a big file in parts) */
#define MANIFEST_MAX (64u << 20) /* bytes of a manifest.log read back */
#define IO_CHUNK (1u << 16)

struct wsf {
	char *path;          /* NULL: a free slot; TOMB: a removed one */
	int type;            /* AZDS_SYNC_FILE, AZDS_SYNC_LINK */
	uint32_t mode;
	uint64_t size;
	int64_t mtime;       /* the client's, ns; 0: not trusted */
	unsigned char sha[32];
	uint64_t ino;        /* what the sync left in tree/ */
	int64_t smtime;
};

static char tomb_slot;
#define TOMB (&tomb_slot)

/* a big file arriving in parts (one at a time per workspace) */
struct part {
	bool on;
	char path[AZDS_SYNC_PATH_MAX];
	unsigned char sha[32];
	uint64_t size, got;
	char tmp[32]; /* in staging/ */
	int fd;
};

struct ws {
	bool used;
	int64_t space_id;
	char name[ST_NAME_MAX];
	char space[ST_PATH_MAX];
	char dir[PATH_MAX];
	uid_t owner;
	int64_t created_ms, updated_ms;
	uint64_t generation;
	struct wsf *tab;
	size_t cap, n, tombs;
	uint64_t bytes;
	size_t log_lines;
	int dirfd, treefd, stagefd;
	struct part part;
	int64_t touched;
};

static struct ws cache[WS_CACHE];
static int64_t touch_clock;

/* ---- small helpers ---------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static uint64_t hash_path(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static bool live(const struct wsf *f)
{
	return f->path && f->path != TOMB;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- the in-memory manifest: open addressing by path ------------------ */

static struct wsf *tab_find(struct ws *ws, const char *path)
{
	if (!ws->cap)
		return NULL;
	for (size_t i = hash_path(path) & (ws->cap - 1);; i = (i + 1) & (ws->cap - 1)) {
		struct wsf *f = &ws->tab[i];

		if (!f->path)
			return NULL;
		if (f->path != TOMB && !strcmp(f->path, path))
			return f;
	}
}

static int tab_grow(struct ws *ws)
{
	size_t cap = ws->cap ? ws->cap : 64;
	struct wsf *old = ws->tab, *nt;
	size_t ocap = ws->cap;

	while ((ws->n + 1) * 2 >= cap)
		cap *= 2;
	nt = calloc(cap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < ocap; i++) {
		if (!live(&old[i]))
			continue;
		size_t k = hash_path(old[i].path) & (cap - 1);

		while (nt[k].path)
			k = (k + 1) & (cap - 1);
		nt[k] = old[i];
	}
	free(old);
	ws->tab = nt;
	ws->cap = cap;
	ws->tombs = 0;
	return 0;
}

/* insert or replace; takes f->path */
static int tab_put(struct ws *ws, struct wsf *f)
{
	struct wsf *cur = tab_find(ws, f->path);

	if (cur) {
		ws->bytes -= cur->type == AZDS_SYNC_FILE ? cur->size : 0;
		free(cur->path);
		*cur = *f;
		ws->bytes += f->type == AZDS_SYNC_FILE ? f->size : 0;
		return 0;
	}
	if ((ws->n + ws->tombs + 1) * 2 >= ws->cap && tab_grow(ws)) {
		free(f->path);
		return -ENOMEM;
	}
	for (size_t i = hash_path(f->path) & (ws->cap - 1);; i = (i + 1) & (ws->cap - 1)) {
		struct wsf *s = &ws->tab[i];

		if (!live(s)) {
			if (s->path == TOMB)
				ws->tombs--;
			*s = *f;
			break;
		}
	}
	ws->n++;
	ws->bytes += f->type == AZDS_SYNC_FILE ? f->size : 0;
	return 0;
}

static void tab_del(struct ws *ws, struct wsf *f)
{
	ws->bytes -= f->type == AZDS_SYNC_FILE ? f->size : 0;
	free(f->path);
	f->path = TOMB;
	ws->n--;
	ws->tombs++;
}

/* ---- manifest.log: one line per change, replayed at load -------------- */

static int fmt_line(char *buf, size_t len, const struct wsf *f)
{
	char hex[65];

	azds_sha256_hex(f->sha, hex);
	return snprintf(buf, len, "F %c %o %llu %lld %s %llu %lld %s\n", f->type == AZDS_SYNC_LINK ? 'l' : 'f',
			f->mode, (unsigned long long)f->size, (long long)f->mtime, hex, (unsigned long long)f->ino,
			(long long)f->smtime, f->path);
}

static int parse_line(char *line, struct wsf *f, bool *del)
{
	char t, hex[65];
	unsigned mode;
	unsigned long long size, ino;
	long long mt, smt;
	int off = 0;

	memset(f, 0, sizeof(*f));
	if (line[0] == 'D' && line[1] == ' ') {
		*del = true;
		f->path = line + 2;
		return 0;
	}
	*del = false;
	if (sscanf(line, "F %c %o %llu %lld %64s %llu %lld %n", &t, &mode, &size, &mt, hex, &ino, &smt, &off) != 7 ||
	    !off || (t != 'f' && t != 'l') || azds_sha256_parse(hex, f->sha))
		return -EINVAL;
	f->type = t == 'l' ? AZDS_SYNC_LINK : AZDS_SYNC_FILE;
	f->mode = mode;
	f->size = size;
	f->mtime = mt;
	f->ino = ino;
	f->smtime = smt;
	f->path = line + off;
	return 0;
}

static int load_log(struct ws *ws)
{
	int fd = openat(ws->dirfd, "manifest.log", O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf, *p, *end;
	size_t got = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) || (uint64_t)st.st_size > MANIFEST_MAX) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = 0;
	end = buf + got;
	for (p = buf; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		struct wsf f;
		bool del;
		char why[128];

		if (!nl)
			break; /* a torn last line: the sync that wrote it is re-sent */
		*nl = 0;
		ws->log_lines++;
		if (!parse_line(p, &f, &del) && !azds_sync_path_check(f.path, strlen(f.path), why, sizeof(why))) {
			struct wsf *cur = tab_find(ws, f.path);

			if (del) {
				if (cur)
					tab_del(ws, cur);
			} else {
				f.path = strdup(f.path);
				if (!f.path || tab_put(ws, &f)) {
					free(buf);
					return -ENOMEM;
				}
			}
		}
		p = nl + 1;
	}
	free(buf);
	return 0;
}

static int append_log(struct ws *ws, const char *text, size_t len, size_t lines)
{
	int fd = openat(ws->dirfd, "manifest.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	int err;

	if (fd < 0)
		return -errno;
	err = write_all(fd, text, len);
	close(fd);
	ws->log_lines += lines;
	return err;
}

/* the log rewritten with one line per live entry, once it is mostly history */
static int compact_log(struct ws *ws)
{
	char line[AZDS_SYNC_PATH_MAX + 256];
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	int fd, err = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < ws->cap; i++) {
		if (!live(&ws->tab[i]))
			continue;
		int n = fmt_line(line, sizeof(line), &ws->tab[i]);

		if (len + (size_t)n > cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		memcpy(buf + len, line, (size_t)n);
		len += (size_t)n;
	}
	fd = openat(ws->dirfd, "manifest.log.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		err = -errno;
	if (!err)
		err = write_all(fd, buf, len);
	if (fd >= 0 && (fsync(fd) || close(fd)) && !err)
		err = -errno;
	if (!err && renameat(ws->dirfd, "manifest.log.tmp", ws->dirfd, "manifest.log"))
		err = -errno;
	free(buf);
	if (!err)
		ws->log_lines = ws->n;
	return err;
}

/* name in the workspace's directory replaced whole by n bytes of buf
 * (written as name.tmp, then renamed over it); 0 or -errno */
static int put_file(struct ws *ws, const char *name, const char *buf, size_t n)
{
	char tmp[64];
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(ws->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, buf, n);
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat(ws->dirfd, tmp, ws->dirfd, name))
		err = -errno;
	if (err)
		unlinkat(ws->dirfd, tmp, 0);
	return err;
}

static void write_summary(struct ws *ws)
{
	char buf[128];
	int n;

	n = snprintf(buf, sizeof(buf), "%zu %llu %lld %llu\n", ws->n, (unsigned long long)ws->bytes,
		     (long long)ws->updated_ms, (unsigned long long)ws->generation);
	put_file(ws, "summary", buf, (size_t)n);
}

/* ---- removing trees without following links --------------------------- */

static int rm_tree_at(int dfd, const char *name, int depth)
{
	struct dirent *de;
	int fd, err = 0;
	DIR *d;

	if (!unlinkat(dfd, name, 0) || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth > AZDS_SYNC_DEPTH_MAX + 8)
		return -ELOOP;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int e = rm_tree_at(dirfd(d), de->d_name, depth + 1);

		if (e && !err)
			err = e;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) && errno != ENOENT && !err)
		err = -errno;
	return err;
}

static void clear_staging(int stagefd, const char *keep)
{
	int fd = dup(stagefd);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && (!keep || strcmp(de->d_name, keep)))
			rm_tree_at(stagefd, de->d_name, 0);
	closedir(d);
}

/* ---- workspaces: where, whose, the cache ------------------------------ */

void api_workspace_tree(const struct ctl *c, int64_t space_id, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/workspaces/%lld/%s/tree", c->state_dir, (long long)space_id, name);
}

bool api_workspace_path(const struct ctl *c, const char *path)
{
	size_t n = strlen(c->state_dir);

	return !strncmp(path, c->state_dir, n) && !strncmp(path + n, "/workspaces/", 12);
}

static void ws_close(struct ws *ws)
{
	if (!ws->used)
		return;
	for (size_t i = 0; i < ws->cap; i++)
		if (live(&ws->tab[i]))
			free(ws->tab[i].path);
	free(ws->tab);
	if (ws->part.on)
		close(ws->part.fd);
	if (ws->dirfd >= 0)
		close(ws->dirfd);
	if (ws->treefd >= 0)
		close(ws->treefd);
	if (ws->stagefd >= 0)
		close(ws->stagefd);
	memset(ws, 0, sizeof(*ws));
}

static void part_drop(struct ws *ws)
{
	if (!ws->part.on)
		return;
	close(ws->part.fd);
	unlinkat(ws->stagefd, ws->part.tmp, 0);
	ws->part.on = false;
	unlinkat(ws->dirfd, "part", 0);
}

/*
 * A workspace leaving the cache keeps its big file's parts: the staged
 * bytes stay in staging/ and the rest is written to <ws>/part, read back
 * when the workspace is loaded again. Other users' syncs evicted it and
 * cut an upload off mid-file before. A crash loses nothing either: a part
 * file that does not match its staged bytes is dropped at the next load.
 */
static void part_save(struct ws *ws)
{
	struct part *p = &ws->part;
	char hex[65], buf[AZDS_SYNC_PATH_MAX + 160];
	int n;

	if (!p->on)
		return;
	azds_sha256_hex(p->sha, hex);
	n = snprintf(buf, sizeof(buf), "%s %llu %llu %s %s\n", hex, (unsigned long long)p->size,
		     (unsigned long long)p->got, p->tmp, p->path);
	/* (no fsync: it would run inside another user's request; a staged
	 * file that lost bytes in a crash fails the size check at restore) */
	if (n > 0 && (size_t)n < sizeof(buf) && !put_file(ws, "part", buf, (size_t)n)) {
		close(p->fd);
		p->on = false;
		return;
	}
	part_drop(ws);
}

static void part_restore(struct ws *ws)
{
	struct part *p = &ws->part;
	char path[PATH_MAX + 16], buf[AZDS_SYNC_PATH_MAX + 160], hex[65], tmp[32];
	unsigned long long size, got;
	struct stat st;
	int off = 0, fd;
	size_t len;

	memset(p, 0, sizeof(*p));
	snprintf(path, sizeof(path), "%s/part", ws->dir);
	if (azds_read_str(path, buf, sizeof(buf)) < 0)
		return;
	unlinkat(ws->dirfd, "part", 0); /* in memory from here on */
	len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	/* hex size got tmp path (the path may hold spaces: it is the rest) */
	if (sscanf(buf, "%64s %llu %llu %31s%n", hex, &size, &got, tmp, &off) != 4 || !off || buf[off] != ' ' ||
	    strchr(tmp, '/') || azds_sha256_parse(hex, p->sha) || got >= size || size > AZDS_SYNC_FILE_MAX ||
	    azds_sync_path_check(buf + off + 1, strlen(buf + off + 1), NULL, 0) ||
	    strlen(buf + off + 1) >= sizeof(p->path))
		return;
	fd = openat(ws->stagefd, tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	/* the next part is written where this one ended */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != got ||
	    lseek(fd, (off_t)got, SEEK_SET) != (off_t)got) {
		close(fd);
		return; /* not what was saved: clear_staging takes it */
	}
	snprintf(p->path, sizeof(p->path), "%s", buf + off + 1);
	snprintf(p->tmp, sizeof(p->tmp), "%s", tmp);
	p->size = size;
	p->got = got;
	p->fd = fd;
	p->on = true;
}

static int read_meta(const char *dir, uid_t *owner, int64_t *created, char *space, size_t slen)
{
	char path[PATH_MAX + 16];
	json_error_t je;
	json_t *j, *o;

	snprintf(path, sizeof(path), "%s/meta.json", dir);
	j = json_load_file(path, 0, &je);
	if (!j)
		return -ENOENT;
	o = json_object_get(j, "owner");
	if (!json_is_integer(o)) {
		json_decref(j);
		return -EINVAL;
	}
	*owner = (uid_t)json_integer_value(o);
	*created = json_integer_value(json_object_get(j, "created"));
	if (space)
		snprintf(space, slen, "%s", json_string_value(json_object_get(j, "space")) ?: "");
	json_decref(j);
	return 0;
}

static int write_meta(const char *dir, const char *space, const char *name, uid_t owner, int64_t created)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 16];
	json_t *j = json_pack("{s:s,s:s,s:I,s:I}", "space", space, "name", name, "owner", (json_int_t)owner, "created",
			      (json_int_t)created);
	int err = 0;

	if (!j)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/meta.json", dir);
	snprintf(tmp, sizeof(tmp), "%s/meta.json.tmp", dir);
	if (json_dump_file(j, tmp, JSON_COMPACT) || rename(tmp, path))
		err = -EIO;
	json_decref(j);
	return err;
}

static int read_summary(const char *dir, unsigned long long *files, unsigned long long *bytes, long long *updated,
			unsigned long long *generation)
{
	char path[PATH_MAX + 16], buf[128];
	unsigned long long gen;

	snprintf(path, sizeof(path), "%s/summary", dir);
	*files = *bytes = 0;
	*updated = 0;
	if (azds_read_str(path, buf, sizeof(buf)) < 0)
		return -ENOENT;
	if (sscanf(buf, "%llu %llu %lld %llu", files, bytes, updated, &gen) != 4)
		return -EINVAL;
	if (generation)
		*generation = gen;
	return 0;
}

static void ws_dir(const struct ctl *c, int64_t id, const char *name, char *buf, size_t len)
{
	if (name)
		snprintf(buf, len, "%s/workspaces/%lld/%s", c->state_dir, (long long)id, name);
	else
		snprintf(buf, len, "%s/workspaces/%lld", c->state_dir, (long long)id);
}

/* the node's workspaces, and of them owner's */
static int count_workspaces(struct ctl *c, uid_t owner, int *mine)
{
	char path[PATH_MAX], sub[PATH_MAX + 600];
	struct dirent *de, *de2;
	int n = 0;
	DIR *d, *d2;

	*mine = 0;
	snprintf(path, sizeof(path), "%s/workspaces", c->state_dir);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		d2 = fdopendir(openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
		if (!d2)
			continue;
		while ((de2 = readdir(d2))) {
			uid_t o;
			int64_t created;

			if (de2->d_name[0] == '.')
				continue;
			n++;
			snprintf(sub, sizeof(sub), "%s/%s/%s", path, de->d_name, de2->d_name);
			if (!read_meta(sub, &o, &created, NULL, 0) && o == owner)
				(*mine)++;
		}
		closedir(d2);
	}
	closedir(d);
	return n;
}

/* make the workspace's directories; owner gets tree/ */
static int ws_create(struct ctl *c, const struct st_space *sp, const char *name, uid_t owner, struct httpd_resp *w)
{
	char dir[PATH_MAX], sub[PATH_MAX + 16];
	int err;

	int mine, all = count_workspaces(c, owner, &mine);

	if (all >= WS_MAX_PER_NODE) {
		httpd_error(w, 409, "workspace \"%s\": the node has %d workspaces, the limit; remove some (azds workspace rm)",
			    name, WS_MAX_PER_NODE);
		return -ENOSPC;
	}
	if (owner != 0 && mine >= WS_MAX_PER_OWNER) {
		httpd_error(w, 409, "workspace \"%s\": uid %u has %d workspaces, the limit per user; remove some (azds workspace ls -A, rm)",
			    name, (unsigned)owner, WS_MAX_PER_OWNER);
		return -ENOSPC;
	}
	ws_dir(c, sp->id, name, dir, sizeof(dir));
	err = azds_mkdir_p(dir, 0700);
	snprintf(sub, sizeof(sub), "%s/staging", dir);
	if (!err && mkdir(sub, 0700) && errno != EEXIST)
		err = -errno;
	snprintf(sub, sizeof(sub), "%s/tree", dir);
	if (!err && mkdir(sub, 0755) && errno != EEXIST)
		err = -errno;
	if (!err && (chown(sub, owner, (gid_t)-1) || chmod(sub, 0755)))
		err = -errno;
	if (!err)
		err = write_meta(dir, sp->path, name, owner, now_ms());
	if (err) {
		httpd_error(w, 500, "workspace \"%s\": creating %s: %s", name, dir, strerror(-err));
		return err;
	}
	return 0;
}

static struct ws *ws_slot(void)
{
	struct ws *old = &cache[0];

	for (int i = 0; i < WS_CACHE; i++) {
		if (!cache[i].used)
			return &cache[i];
		if (cache[i].touched < old->touched)
			old = &cache[i];
	}
	part_save(old);
	ws_close(old);
	return old;
}

static struct ws *ws_load(struct ctl *c, const struct st_space *sp, const char *name, struct httpd_resp *w)
{
	struct ws *ws = ws_slot();
	unsigned long long f, b, gen;
	long long upd;
	int err;

	ws->used = true;
	ws->dirfd = ws->treefd = ws->stagefd = -1;
	ws->space_id = sp->id;
	snprintf(ws->name, sizeof(ws->name), "%s", name);
	snprintf(ws->space, sizeof(ws->space), "%s", sp->path);
	ws_dir(c, sp->id, name, ws->dir, sizeof(ws->dir));
	err = read_meta(ws->dir, &ws->owner, &ws->created_ms, NULL, 0);
	if (!err) {
		ws->dirfd = open(ws->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		ws->treefd = ws->dirfd < 0 ? -1 : openat(ws->dirfd, "tree", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		ws->stagefd = ws->dirfd < 0 ? -1
					     : openat(ws->dirfd, "staging", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		err = ws->treefd < 0 || ws->stagefd < 0 ? -errno : 0;
	}
	if (!err)
		err = load_log(ws);
	if (err) {
		httpd_error(w, 500, "workspace \"%s\" in space \"%s\": reading %s: %s", name, sp->path, ws->dir,
			    strerror(-err));
		ws_close(ws);
		return NULL;
	}
	/* a big file's parts kept when the workspace left the cache; what an
	 * earlier run left half-written otherwise is of no use */
	part_restore(ws);
	clear_staging(ws->stagefd, ws->part.on ? ws->part.tmp : NULL);
	/* the generation goes on from where it was: a client paging the
	 * manifest must see every change as a new one */
	if (!read_summary(ws->dir, &f, &b, &upd, &gen)) {
		ws->updated_ms = upd;
		if (gen > ws->generation)
			ws->generation = gen;
	}
	return ws;
}

/*
 * The workspace, loaded; created (owned by the caller) when create and
 * missing. NULL with the answer in w: a bad name, no such space or
 * workspace, not the caller's.
 */
static struct ws *ws_get(struct ctl *c, const struct httpd_req *r, const char *name, bool create, const char *doing,
			 struct httpd_resp *w)
{
	const char *space = httpd_query(r, "space");
	char dir[PATH_MAX + 16];
	struct st_space sp;
	struct azds_err e;
	struct ws *ws = NULL;
	struct stat st;

	if (!space || !*space) {
		httpd_error(w, 400, "workspace \"%s\": the space is required (?space=dev/alice)", name);
		return NULL;
	}
	if (azds_name_valid("workspace", name, &e)) {
		httpd_error(w, 400, "%s", e.msg);
		return NULL;
	}
	if (strlen(space) >= ST_PATH_MAX || store_space_get(c->st, space, &sp)) {
		httpd_error(w, 404, "workspace \"%s\": space \"%s\" does not exist", name, space);
		return NULL;
	}
	for (int i = 0; i < WS_CACHE; i++)
		if (cache[i].used && cache[i].space_id == sp.id && !strcmp(cache[i].name, name))
			ws = &cache[i];
	if (!ws) {
		ws_dir(c, sp.id, name, dir, sizeof(dir));
		if (stat(dir, &st)) {
			if (!create) {
				httpd_error(w, 404, "workspace \"%s\" does not exist in space \"%s\"", name, space);
				return NULL;
			}
			if (ws_create(c, &sp, name, r->uid, w))
				return NULL;
		}
		ws = ws_load(c, &sp, name, w);
		if (!ws)
			return NULL;
	}
	ws->touched = ++touch_clock;
	if (r->uid != 0 && r->uid != ws->owner) {
		httpd_error(w, 403, "workspace \"%s\" in space \"%s\" belongs to uid %u: only it (or root) may %s it", name,
			    space, (unsigned)ws->owner, doing);
		return NULL;
	}
	return ws;
}

static json_t *ws_json(const char *space, const char *name, uid_t owner, int64_t created, unsigned long long files,
		       unsigned long long bytes, long long updated)
{
	return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "space", space, "name", name, "owner", (json_int_t)owner,
			 "created", (json_int_t)created, "updated", (json_int_t)updated, "files", (json_int_t)files,
			 "bytes", (json_int_t)bytes);
}

/* ---- GET /v1/workspaces ----------------------------------------------- */

struct list_ctx {
	struct ctl *c;
	const char *only;
	json_t *items;
};

static int list_space(void *ctx, const struct st_space *sp)
{
	struct list_ctx *x = ctx;
	char dir[PATH_MAX], sub[PATH_MAX + 512];
	struct dirent *de;
	DIR *d;

	if (x->only && strcmp(x->only, sp->path))
		return 0;
	ws_dir(x->c, sp->id, NULL, dir, sizeof(dir));
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		unsigned long long files, bytes;
		long long upd;
		int64_t created;
		uid_t owner;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (read_meta(sub, &owner, &created, NULL, 0))
			continue;
		read_summary(sub, &files, &bytes, &upd, NULL);
		json_array_append_new(x->items, ws_json(sp->path, de->d_name, owner, created, files, bytes, upd));
	}
	closedir(d);
	return 0;
}

static void ws_list(struct ctl *c, const struct httpd_req *r, struct httpd_resp *w)
{
	struct list_ctx x = { c, httpd_query(r, "space"), json_array() };
	struct st_space sp;

	if (x.only && (strlen(x.only) >= ST_PATH_MAX || store_space_get(c->st, x.only, &sp))) {
		json_decref(x.items);
		httpd_error(w, 404, "space \"%s\" does not exist", x.only);
		return;
	}
	store_space_each(c->st, list_space, &x);
	httpd_json(w, 200, json_pack("{s:o}", "items", x.items));
}

/* ---- GET .../manifest ------------------------------------------------- */

/* entries whose file in tree/ is not what the sync left there (a pod
 * rewrote or removed it) are forgotten: the client sends them again */
static void verify(struct ws *ws)
{
	char *log = NULL;
	size_t len = 0, lines = 0, cap = 0;

	for (size_t i = 0; i < ws->cap; i++) {
		struct wsf *f = &ws->tab[i];
		struct stat st;

		if (!live(f))
			continue;
		if (!fstatat(ws->treefd, f->path, &st, AT_SYMLINK_NOFOLLOW) && (uint64_t)st.st_ino == f->ino &&
		    mtime_ns(&st) == f->smtime &&
		    (f->type == AZDS_SYNC_LINK ? S_ISLNK(st.st_mode)
					       : S_ISREG(st.st_mode) && (uint64_t)st.st_size == f->size &&
							 !(st.st_mode & S_IXUSR) == !(f->mode & S_IXUSR)))
			continue;
		size_t need = strlen(f->path) + 3;

		if (len + need > cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nl;

			while (ncap < len + need)
				ncap *= 2;
			nl = realloc(log, ncap);
			if (!nl)
				break;
			log = nl;
			cap = ncap;
		}
		len += (size_t)sprintf(log + len, "D %s\n", f->path);
		lines++;
		tab_del(ws, f);
	}
	if (lines) {
		append_log(ws, log, len, lines);
		ws->generation++;
		write_summary(ws);
	}
	free(log);
}

static int cmp_wsf(const void *a, const void *b)
{
	return strcmp((*(const struct wsf *const *)a)->path, (*(const struct wsf *const *)b)->path);
}

static void ws_manifest(struct ws *ws, const struct httpd_req *r, struct httpd_resp *w)
{
	const char *o = httpd_query(r, "offset");
	uint64_t off = 0;
	struct wsf **v;
	json_t *items;
	size_t n = 0;

	if (o && !httpd_parse_u64(o, &off)) {
		httpd_error(w, 400, "query value of \"offset\" must be a whole number (got \"%.32s\")", o);
		return;
	}
	/* past the end is an empty page at the end (a JSON integer is signed) */
	if (off > ws->n)
		off = ws->n;

	if (!off)
		verify(ws);
	v = malloc((ws->n + 1) * sizeof(*v));
	items = json_array();
	if (!v || !items) {
		free(v);
		json_decref(items);
		httpd_error(w, 500, "out of memory");
		return;
	}
	for (size_t i = 0; i < ws->cap; i++)
		if (live(&ws->tab[i]))
			v[n++] = &ws->tab[i];
	qsort(v, n, sizeof(*v), cmp_wsf);
	for (size_t i = off; i < n && i < off + WS_MANIFEST_PAGE; i++) {
		char hex[65], mode[8];

		azds_sha256_hex(v[i]->sha, hex);
		snprintf(mode, sizeof(mode), "%04o", v[i]->mode);
		json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:I,s:s,s:I}", "path", v[i]->path, "type",
						       v[i]->type == AZDS_SYNC_LINK ? "link" : "file", "mode", mode,
						       "size", (json_int_t)v[i]->size, "sha256", hex, "mtime",
						       (json_int_t)v[i]->mtime));
	}
	free(v);
	httpd_json(w, 200,
		   json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:o,s:o}", "space", ws->space, "name", ws->name, "generation",
			     (json_int_t)ws->generation, "total", (json_int_t)n, "bytes", (json_int_t)ws->bytes,
			     "offset", (json_int_t)off, "next",
			     off + WS_MANIFEST_PAGE < n ? json_integer((json_int_t)(off + WS_MANIFEST_PAGE)) : json_null(),
			     "items", items));
}

/* ---- POST .../sync: the batch ----------------------------------------- */

struct item {
	const char *path;
	int type;
	uint32_t mode;
	uint64_t size, offset;
	int64_t mtime;
	unsigned char sha[32];
	const char *data; /* base64 of zlib; NULL: none */
	size_t data_len;
	const char *target;
	/* staged */
	char tmp[32];  /* in staging/, "" when nothing was staged */
	int fd;        /* of the staged file, -1 when none */
	bool meta_only;
	bool missing;  /* no data, and the workspace has not these bytes: ask for them */
	bool copied;   /* no data: staged from another path with the same bytes */
	bool is_part;  /* "offset" given: the data is [offset, offset + what it inflates to) */
	bool partial;  /* a part that is not the last: nothing to place yet */
	bool from_part;/* the last part: the staged file is the workspace's partial */
};

struct batch {
	struct item *items;
	size_t nitems;
	const char **dels;
	size_t ndels;
	json_t *missing;
	size_t written, deleted, updated, copied;
};

/* base64 digits' values, -1 for anything else */
static signed char b64tab[256];

static void b64_init(void)
{
	static const char d[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	if (b64tab['A'] == 0 && b64tab['B'] == 0) {
		memset(b64tab, -1, sizeof(b64tab));
		for (int i = 0; i < 64; i++)
			b64tab[(unsigned char)d[i]] = (signed char)i;
	}
}

static int b64val(unsigned char c)
{
	return b64tab[c];
}

/* strict base64 (RFC 4648, padded); the decoded length, or -1 */
static long b64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t o = 0;

	if (len % 4)
		return -1;
	b64_init();
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char ch = (unsigned char)in[i + k];

			if (ch == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -1;
			v[k] = b64val(ch);
			if (v[k] < 0)
				return -1;
		}
		uint32_t n = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];

		out[o++] = (unsigned char)(n >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(n >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)n;
	}
	return (long)o;
}

static int parse_mode(json_t *v, uint32_t *mode)
{
	const char *s = json_string_value(v);

	if (!v) {
		*mode = 0644;
		return 0;
	}
	if (s && (!strcmp(s, "0644") || !strcmp(s, "644")))
		*mode = 0644;
	else if (s && (!strcmp(s, "0755") || !strcmp(s, "755")))
		*mode = 0755;
	else
		return -EINVAL;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->path, ((const struct item *)b)->path);
}

static bool get_u64(json_t *o, const char *key, uint64_t *out, bool required)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		*out = 0;
		return !required;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* the body's shape, every path and number checked: 0, or the 4xx in w */
static int batch_parse(struct ws *ws, json_t *body, struct batch *b, struct httpd_resp *w)
{
	json_t *dels = json_object_get(body, "delete"), *files = json_object_get(body, "files");
	size_t nd = json_array_size(dels), nf = json_array_size(files);
	char why[160];
	const char **all;

	if ((dels && !json_is_array(dels)) || (files && !json_is_array(files))) {
		httpd_error(w, 400, "body: \"delete\" must be an array of paths and \"files\" an array of files");
		return -EINVAL;
	}
	if (nd + nf > WS_MAX_BATCH_ENTRIES) {
		httpd_error(w, 413, "a batch of %zu entries; the limit is %d (send several)", nd + nf, WS_MAX_BATCH_ENTRIES);
		return -E2BIG;
	}
	b->dels = calloc(nd + 1, sizeof(*b->dels));
	b->items = calloc(nf + 1, sizeof(*b->items));
	all = calloc(nf + 1, sizeof(*all));
	if (!b->dels || !b->items || !all) {
		free(all);
		httpd_error(w, 500, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < nd; i++) {
		json_t *v = json_array_get(dels, i);
		const char *p = json_string_value(v);

		if (!p || azds_sync_path_check(p, json_string_length(v), why, sizeof(why))) {
			free(all);
			httpd_error(w, 400, "delete[%zu] \"%s\": %s", i, p ? p : "(not a string)", p ? why : "a path");
			return -EINVAL;
		}
		b->dels[b->ndels++] = p;
	}
	for (size_t i = 0; i < nf; i++) {
		json_t *o = json_array_get(files, i), *v = json_object_get(o, "path");
		const char *type = json_string_value(json_object_get(o, "type"));
		const char *sha = json_string_value(json_object_get(o, "sha256"));
		json_t *data = json_object_get(o, "data");
		struct item *it = &b->items[i];

		it->fd = -1;
		it->path = json_string_value(v);
		if (!json_is_object(o) || !it->path) {
			free(all);
			httpd_error(w, 400, "files[%zu]: an object with a \"path\" is required", i);
			return -EINVAL;
		}
		if (azds_sync_path_check(it->path, json_string_length(v), why, sizeof(why))) {
			free(all);
			httpd_error(w, 400, "files[%zu] \"%s\": %s", i, it->path, why);
			return -EINVAL;
		}
		all[i] = it->path;
		it->type = !type || !strcmp(type, "file") ? AZDS_SYNC_FILE : !strcmp(type, "link") ? AZDS_SYNC_LINK : 0;
		if (!it->type) {
			free(all);
			httpd_error(w, 400, "files[%zu] \"%s\": type \"%s\": must be \"file\" or \"link\"", i, it->path, type);
			return -EINVAL;
		}
		if (!get_u64(o, "mtime", (uint64_t *)&it->mtime, false) || !get_u64(o, "offset", &it->offset, false)) {
			free(all);
			httpd_error(w, 400, "files[%zu] \"%s\": \"mtime\" and \"offset\" must be integers >= 0", i, it->path);
			return -EINVAL;
		}
		if (it->type == AZDS_SYNC_LINK) {
			json_t *t = json_object_get(o, "target");

			it->target = json_string_value(t);
			if (!it->target || !json_string_length(t) || json_string_length(t) >= AZDS_SYNC_PATH_MAX ||
			    strlen(it->target) != json_string_length(t)) {
				free(all);
				httpd_error(w, 400, "files[%zu] \"%s\": a link needs a \"target\" of 1-%d bytes", i, it->path,
					    AZDS_SYNC_PATH_MAX - 1);
				return -EINVAL;
			}
			if (!azds_sync_link_inside(it->path, it->target)) {
				free(all);
				httpd_error(w, 400, "files[%zu] \"%s\" -> \"%s\": a link must stay inside the workspace", i,
					    it->path, it->target);
				return -EINVAL;
			}
			it->mode = 0777;
			it->size = strlen(it->target);
			azds_sha256_buf(it->target, it->size, it->sha);
			continue;
		}
		if (parse_mode(json_object_get(o, "mode"), &it->mode)) {
			free(all);
			httpd_error(w, 400, "files[%zu] \"%s\": \"mode\" must be \"0644\" or \"0755\"", i, it->path);
			return -EINVAL;
		}
		if (!get_u64(o, "size", &it->size, true)) {
			free(all);
			httpd_error(w, 400, "files[%zu] \"%s\": \"size\" (bytes, an integer) is required", i, it->path);
			return -EINVAL;
		}
		if (it->size > AZDS_SYNC_FILE_MAX) {
			free(all);
			httpd_error(w, 413, "files[%zu] \"%s\": %llu bytes; a synced file is at most %llu MiB", i, it->path,
				    (unsigned long long)it->size, AZDS_SYNC_FILE_MAX >> 20);
			return -EFBIG;
		}
		if (azds_sha256_parse(sha, it->sha)) {
			free(all);
			httpd_error(w, 400, "files[%zu] \"%s\": \"sha256\" must be 64 hex digits", i, it->path);
			return -EINVAL;
		}
		if (data && !json_is_string(data)) {
			free(all);
			httpd_error(w, 400, "files[%zu] \"%s\": \"data\" must be a base64 string", i, it->path);
			return -EINVAL;
		}
		it->data = json_string_value(data);
		it->data_len = data ? json_string_length(data) : 0;
		if (it->offset && (!it->data || it->offset >= it->size)) {
			free(all);
			httpd_error(w, 400, "files[%zu] \"%s\": a part at offset %llu needs data and an offset below the size",
				    i, it->path, (unsigned long long)it->offset);
			return -EINVAL;
		}
		it->is_part = json_object_get(o, "offset") != NULL;
		it->meta_only = !it->data && it->size;
	}
	b->nitems = nf;
	/* one entry per path: what would the second one mean? Nor a file or a
	 * link and a path under it: one of the two would be lost. Each path's
	 * ancestors are looked up in the sorted paths (at most 64 each) */
	qsort(all, nf, sizeof(*all), cmp_str);
	for (size_t i = 1; i < nf; i++)
		if (!strcmp(all[i - 1], all[i])) {
			httpd_error(w, 400, "files: \"%s\" appears twice", all[i]);
			free(all);
			return -EINVAL;
		}
	for (size_t i = 0; i < nf; i++) {
		char anc[AZDS_SYNC_PATH_MAX];
		const char *key = anc, **hit;

		for (const char *sl = strchr(all[i], '/'); sl; sl = strchr(sl + 1, '/')) {
			size_t l = (size_t)(sl - all[i]);

			memcpy(anc, all[i], l);
			anc[l] = 0;
			hit = bsearch(&key, all, nf, sizeof(*all), cmp_str);
			if (hit) {
				httpd_error(w, 400, "files: \"%s\" is a file or a link, and \"%s\" is under it", *hit, all[i]);
				free(all);
				return -EINVAL;
			}
		}
	}
	free(all);
	/* in path order: neighbours share their directories */
	qsort(b->items, nf, sizeof(*b->items), cmp_item);
	/* the workspace's limits, on what it would hold after the batch: a
	 * delete counts only for an entry it removes, once however often it is
	 * named, and not for a path the batch writes again (a delete of a path
	 * that is not there, or of one path many times, must not make room).
	 * A batch that grows neither count nor bytes always passes */
	{
		uint64_t bytes = ws->bytes, freed = 0;
		size_t n = ws->n, gone = 0;
		const char **dels = nd ? malloc(nd * sizeof(*dels)) : NULL;

		if (nd && !dels) {
			httpd_error(w, 500, "out of memory");
			return -ENOMEM;
		}
		for (size_t i = 0; i < nf; i++) {
			struct wsf *cur = tab_find(ws, b->items[i].path);

			if (b->items[i].type == AZDS_SYNC_FILE)
				bytes += b->items[i].size - (cur && cur->type == AZDS_SYNC_FILE ? cur->size : 0);
			n += !cur;
		}
		memcpy(dels, b->dels, nd * sizeof(*dels));
		qsort(dels, nd, sizeof(*dels), cmp_str);
		for (size_t i = 0; i < nd; i++) {
			struct item key = { .path = dels[i] };
			struct wsf *cur;

			if (i && !strcmp(dels[i - 1], dels[i]))
				continue;
			if (nf && bsearch(&key, b->items, nf, sizeof(*b->items), cmp_item))
				continue;
			cur = tab_find(ws, dels[i]);
			if (!cur)
				continue;
			gone++;
			if (cur->type == AZDS_SYNC_FILE)
				freed += cur->size;
		}
		free(dels);
		n -= gone < n ? gone : n;
		bytes -= freed < bytes ? freed : bytes;
		if ((n > AZDS_SYNC_MAX_FILES && n > ws->n) || (bytes > WS_MAX_BYTES && bytes > ws->bytes)) {
			httpd_error(w, 409,
				    "workspace \"%s\": this batch would make %zu files and %llu MiB; the limits are %d files and %llu MiB",
				    ws->name, n, (unsigned long long)(bytes >> 20), AZDS_SYNC_MAX_FILES, WS_MAX_BYTES >> 20);
			return -ENOSPC;
		}
	}
	return 0;
}


/* what the batch adds to manifest.log */
struct sbuf {
	char *p;
	size_t len, cap, lines;
};

static int sb_line(struct sbuf *sb, const char *text, int n)
{
	if (n < 0)
		return -EINVAL;
	if (sb->len + (size_t)n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap * 2 : 8192;
		char *np;

		while (cap < sb->len + (size_t)n + 1)
			cap *= 2;
		np = realloc(sb->p, cap);
		if (!np)
			return -ENOMEM;
		sb->p = np;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, text, (size_t)n);
	sb->len += (size_t)n;
	sb->lines++;
	return 0;
}

static void sb_entry(struct sbuf *sb, const struct wsf *f)
{
	char line[AZDS_SYNC_PATH_MAX + 256];

	sb_line(sb, line, fmt_line(line, sizeof(line), f));
}

static void sb_delete(struct sbuf *sb, const char *path)
{
	char line[AZDS_SYNC_PATH_MAX + 8];

	sb_line(sb, line, snprintf(line, sizeof(line), "D %s\n", path));
}

/* a fresh file in staging/ */
static int stage_new(struct ws *ws, char tmp[32])
{
	static unsigned seq;

	for (int tries = 0; tries < 100; tries++) {
		int fd;

		snprintf(tmp, 32, "in-%d-%u", (int)getpid(), ++seq);
		fd = openat(ws->stagefd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

/* a link to it->target in staging/ */
static int stage_link(struct ws *ws, struct item *it)
{
	static unsigned seq;

	for (int tries = 0; tries < 100; tries++) {
		snprintf(it->tmp, sizeof(it->tmp), "ln-%d-%u", (int)getpid(), ++seq);
		if (!symlinkat(it->target, ws->stagefd, it->tmp))
			return 0;
		if (errno != EEXIST)
			break;
	}
	it->tmp[0] = 0;
	return -errno;
}

/* inflate a zlib stream into fd, at most room bytes; the bytes written or -1 with why */
static long long inflate_to(int fd, const unsigned char *in, size_t inlen, uint64_t room, char *why, size_t wlen)
{
	static unsigned char out[IO_CHUNK];
	z_stream z = { 0 };
	long long total = 0;
	int zr = Z_OK;

	if (inflateInit(&z) != Z_OK) {
		snprintf(why, wlen, "zlib: out of memory");
		return -1;
	}
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)inlen;
	while (zr != Z_STREAM_END) {
		z.next_out = out;
		z.avail_out = sizeof(out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			snprintf(why, wlen, "the compressed data is %s",
				 zr == Z_BUF_ERROR ? "truncated" : z.msg ? z.msg : "corrupt");
			inflateEnd(&z);
			return -1;
		}
		size_t n = sizeof(out) - z.avail_out;

		if ((uint64_t)total + n > room) {
			snprintf(why, wlen, "the data inflates past the file's size");
			inflateEnd(&z);
			return -1;
		}
		if (n && write_all(fd, out, n)) {
			snprintf(why, wlen, "writing: %s", strerror(errno));
			inflateEnd(&z);
			return -1;
		}
		total += (long long)n;
		if (zr == Z_OK && !n && !z.avail_in) {
			snprintf(why, wlen, "the compressed data is truncated");
			inflateEnd(&z);
			return -1;
		}
	}
	if (z.avail_in) {
		snprintf(why, wlen, "%u bytes after the end of the compressed data", z.avail_in);
		inflateEnd(&z);
		return -1;
	}
	inflateEnd(&z);
	return total;
}

/* the open directory holding path's last component, cached for the next path */
struct pcache {
	char dir[AZDS_SYNC_PATH_MAX];
	int fd;
};

static void pc_drop(struct pcache *pc)
{
	if (pc->fd >= 0)
		close(pc->fd);
	pc->fd = -1;
	pc->dir[0] = 0;
}

static void forget_under(struct ws *ws, const char *prefix, struct sbuf *sb);

/*
 * The parent of path, opened one component at a time without following a
 * symlink; with make, missing directories are made (the owner's, 0755) and
 * a synced file or link standing where a directory must be is removed
 * first. -ENOENT (not made), -ENOTDIR (something else in the way: why says
 * what) or -errno.
 */
static int parent_fd(struct ws *ws, const char *path, bool make, struct pcache *pc, struct sbuf *sb,
		     const char **base, char *why, size_t wlen)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	int fd;

	*base = slash ? slash + 1 : path;
	if (pc->fd >= 0 && strlen(pc->dir) == dlen && !strncmp(pc->dir, path, dlen))
		return pc->fd;
	pc_drop(pc);
	fd = dup(ws->treefd);
	if (fd < 0)
		return -errno;
	for (const char *p = path; p < path + dlen;) {
		const char *s = memchr(p, '/', (size_t)(path + dlen - p));
		size_t n = s ? (size_t)(s - p) : (size_t)(path + dlen - p);
		char comp[AZDS_SYNC_NAME_MAX + 1];
		int nfd;

		memcpy(comp, p, n);
		comp[n] = 0;
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && (errno == ENOTDIR || errno == ELOOP) && make) {
			char sofar[AZDS_SYNC_PATH_MAX];
			struct wsf *f;

			snprintf(sofar, sizeof(sofar), "%.*s", (int)(p + n - path), path);
			f = tab_find(ws, sofar);
			if (f && !unlinkat(fd, comp, 0)) {
				sb_delete(sb, sofar);
				tab_del(ws, f);
				errno = ENOENT;
			} else {
				snprintf(why, wlen, "\"%s\" is not a directory (a symbolic link, or a file the sync did not write)",
					 sofar);
				close(fd);
				return -ENOTDIR;
			}
		}
		if (nfd < 0 && errno == ENOENT && make) {
			if (mkdirat(fd, comp, 0755) && errno != EEXIST) {
				int err = -errno;

				snprintf(why, wlen, "making \"%.*s\": %s", (int)(p + n - path), path, strerror(errno));
				close(fd);
				return err;
			}
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd >= 0 && (fchown(nfd, ws->owner, (gid_t)-1) || fchmod(nfd, 0755))) {
				close(nfd);
				nfd = -1;
			}
		}
		if (nfd < 0) {
			int err = -errno;

			snprintf(why, wlen, "\"%.*s\": %s", (int)(p + n - path), path,
				 errno == ENOTDIR || errno == ELOOP ? "not a directory (a symbolic link, or a file)" : strerror(errno));
			close(fd);
			return err == -ELOOP ? -ENOTDIR : err;
		}
		close(fd);
		fd = nfd;
		p += n + 1;
	}
	pc->fd = fd;
	snprintf(pc->dir, sizeof(pc->dir), "%.*s", (int)dlen, path);
	return fd;
}

/* the live files by hash, for copies; built once per batch when needed */
struct shaidx {
	struct wsf **v;
	size_t n;
	bool built;
	uint64_t copied; /* bytes this batch copied from the workspace's own files */
};

/* what one batch may copy inside its request (the daemon answers nobody
 * meanwhile: about 1 s on this project's machine); past it the entries are
 * asked for with their data, as if the workspace had not the bytes */
#define WS_COPY_BUDGET (256ull << 20)
/* a staged file or copy leaves at least this much of the state's disk free */
#define WS_DISK_RESERVE (512ull << 20)

/* room on the state's filesystem for size more bytes, the reserve kept */
static bool disk_room(const struct ws *ws, uint64_t size)
{
	struct statvfs v;

	if (fstatvfs(ws->stagefd, &v))
		return true; /* cannot tell: the write itself will say */
	return (uint64_t)v.f_bavail * v.f_frsize >= size + WS_DISK_RESERVE;
}

static int cmp_sha(const void *a, const void *b)
{
	return memcmp((*(struct wsf *const *)a)->sha, (*(struct wsf *const *)b)->sha, 32);
}

static void idx_build(struct ws *ws, struct shaidx *x)
{
	x->built = true;
	x->v = malloc((ws->n + 1) * sizeof(*x->v));
	if (!x->v)
		return;
	for (size_t i = 0; i < ws->cap; i++)
		if (live(&ws->tab[i]) && ws->tab[i].type == AZDS_SYNC_FILE)
			x->v[x->n++] = &ws->tab[i];
	qsort(x->v, x->n, sizeof(*x->v), cmp_sha);
}

static int copy_fd(int from, int to, uint64_t len)
{
	static char buf[IO_CHUNK];
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = copy_file_range(from, NULL, to, NULL, (size_t)(len - done), 0);

		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
			/* no in-kernel copy here: by hand */
			n = read(from, buf, sizeof(buf));
			if (n > 0 && write_all(to, buf, (size_t)n))
				return -EIO;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (uint64_t)n;
	}
	return 0;
}

/* bytes the workspace holds at another path (a rename, a copy), staged
 * for it: true when found intact and hashing as it says */
static bool stage_copy(struct ws *ws, struct item *it, struct shaidx *x)
{
	struct pcache pc = { .fd = -1 };
	size_t lo = 0, hi;
	bool ok = false;

	if (!x->built)
		idx_build(ws, x);
	hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(x->v[mid]->sha, it->sha, 32) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; !ok && i < x->n && !memcmp(x->v[i]->sha, it->sha, 32); i++) {
		const struct wsf *f = x->v[i];
		unsigned char sha[32];
		char why[64];
		const char *base;
		struct stat st;
		uint64_t got = 0;
		int pfd, sfd, dfd;

		if (f->size != it->size)
			continue;
		pfd = parent_fd(ws, f->path, false, &pc, NULL, &base, why, sizeof(why));
		sfd = pfd < 0 ? -1 : openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (sfd < 0)
			continue;
		if (fstat(sfd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_ino != f->ino ||
		    mtime_ns(&st) != f->smtime || (uint64_t)st.st_size != f->size) {
			close(sfd);
			continue;
		}
		dfd = stage_new(ws, it->tmp);
		if (dfd >= 0 && !copy_fd(sfd, dfd, f->size) && !lseek(dfd, 0, SEEK_SET) &&
		    !azds_sha256_fd(dfd, sha, &got) && got == it->size && !memcmp(sha, it->sha, 32)) {
			it->fd = dfd;
			ok = true;
		} else if (dfd >= 0) {
			close(dfd);
			unlinkat(ws->stagefd, it->tmp, 0);
			it->tmp[0] = 0;
		}
		close(sfd);
	}
	pc_drop(&pc);
	return ok;
}

/* one entry's bytes into staging/, checked against its size and hash */
static int stage_item(struct ws *ws, struct item *it, struct shaidx *x, struct httpd_resp *w)
{
	unsigned char sha[32];
	char why[160], hex[65];
	unsigned char *raw = NULL;
	long long n = 0;
	long rawlen = 0;
	uint64_t got;
	int fd;

	if (it->type == AZDS_SYNC_LINK)
		return 0;
	if (it->meta_only) {
		struct wsf *f = tab_find(ws, it->path);

		/* the same bytes at the same path: only the mode and mtime, later */
		if (f && f->type == AZDS_SYNC_FILE && f->size == it->size && !memcmp(f->sha, it->sha, 32))
			return 0;
		/* elsewhere: copied now, before this batch's deletes take it,
		 * within the batch's budget and the disk's room */
		if (x->copied + it->size <= WS_COPY_BUDGET && disk_room(ws, it->size) && stage_copy(ws, it, x)) {
			it->meta_only = false;
			it->copied = true;
			x->copied += it->size;
		} else {
			it->missing = true;
		}
		return 0;
	}
	/* a new file (or its first part) takes its whole size on disk */
	if (!it->offset && !disk_room(ws, it->size)) {
		httpd_error(w, 507, "\"%s\": %llu bytes would leave less than %llu MiB free on the state's filesystem",
			    it->path, (unsigned long long)it->size, WS_DISK_RESERVE >> 20);
		return -ENOSPC;
	}
	if (it->data) {
		raw = malloc(it->data_len / 4 * 3 + 3);
		rawlen = raw ? b64_decode(it->data, it->data_len, raw) : -1;
		if (rawlen < 0) {
			free(raw);
			httpd_error(w, 400, "\"%s\": \"data\" is not base64 (RFC 4648, padded)", it->path);
			return -EINVAL;
		}
	}
	if (it->offset) {
		struct part *p = &ws->part;

		if (!p->on || strcmp(p->path, it->path) || memcmp(p->sha, it->sha, 32) || p->size != it->size ||
		    p->got != it->offset) {
			free(raw);
			httpd_error(w, 409, "\"%s\": a part at offset %llu, but the workspace %s", it->path,
				    (unsigned long long)it->offset,
				    !p->on || strcmp(p->path, it->path) ? "has no earlier part of this file"
									  : "holds a different length of it");
			return -EPROTO;
		}
		fd = p->fd;
		it->from_part = true;
	} else {
		fd = stage_new(ws, it->tmp);
		if (fd < 0) {
			free(raw);
			httpd_error(w, 500, "\"%s\": staging: %s", it->path, strerror(-fd));
			return fd;
		}
		it->fd = fd;
	}
	if (raw) {
		n = inflate_to(fd, raw, (size_t)rawlen, it->size - it->offset, why, sizeof(why));
		free(raw);
		if (n < 0) {
			httpd_error(w, 400, "\"%s\": %s", it->path, why);
			return -EINVAL;
		}
	}
	got = it->offset + (uint64_t)n;
	if (got < it->size && !it->is_part) {
		httpd_error(w, 400, "\"%s\": the data holds %llu bytes, not the file's %llu (a part says its \"offset\")",
			    it->path, (unsigned long long)got, (unsigned long long)it->size);
		return -EINVAL;
	}
	if (got < it->size) {
		if (!it->offset) {
			if (!n) {
				httpd_error(w, 400, "\"%s\": the data holds no byte of the file's %llu", it->path,
					    (unsigned long long)it->size);
				return -EINVAL;
			}
			/* the first part: the file is the workspace's partial from now on */
			part_drop(ws);
			ws->part = (struct part){ .on = true, .size = it->size, .fd = fd };
			snprintf(ws->part.path, sizeof(ws->part.path), "%s", it->path);
			memcpy(ws->part.sha, it->sha, 32);
			memcpy(ws->part.tmp, it->tmp, sizeof(it->tmp));
			it->fd = -1;
			it->tmp[0] = 0;
		}
		ws->part.got = got;
		it->partial = true;
		return 0;
	}
	if (it->from_part) {
		/* the last part: the partial becomes this entry's staged file */
		memcpy(it->tmp, ws->part.tmp, sizeof(it->tmp));
		it->fd = ws->part.fd;
		ws->part.on = false;
	}
	if (lseek(it->fd, 0, SEEK_SET) || azds_sha256_fd(it->fd, sha, &got) || got != it->size) {
		httpd_error(w, 500, "\"%s\": reading the staged file back: %s", it->path, strerror(errno));
		return -EIO;
	}
	if (memcmp(sha, it->sha, 32)) {
		azds_sha256_hex(sha, hex);
		httpd_error(w, 400, "\"%s\": the data's sha256 is %s, not the one given", it->path, hex);
		return -EINVAL;
	}
	return 0;
}

static void unstage(struct ws *ws, struct item *it)
{
	if (it->fd >= 0)
		close(it->fd);
	if (it->tmp[0])
		unlinkat(ws->stagefd, it->tmp, 0);
	it->fd = -1;
	it->tmp[0] = 0;
}

/* directories left empty above a removed path go too */
static void prune_dirs(struct ws *ws, const char *path, struct pcache *pc)
{
	char dir[AZDS_SYNC_PATH_MAX], why[64];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *s = strrchr(dir, '/'); s; s = strrchr(dir, '/')) {
		const char *base;
		int pfd;

		*s = 0;
		pc_drop(pc);
		pfd = parent_fd(ws, dir, false, pc, NULL, &base, why, sizeof(why));
		if (pfd < 0 || unlinkat(pfd, base, AT_REMOVEDIR))
			break;
	}
	pc_drop(pc);
}

static void remove_entry(struct ws *ws, struct wsf *f, struct pcache *pc, struct sbuf *sb)
{
	char path[AZDS_SYNC_PATH_MAX], why[64];
	const char *base;
	int pfd;

	snprintf(path, sizeof(path), "%s", f->path);
	pfd = parent_fd(ws, path, false, pc, NULL, &base, why, sizeof(why));
	/* a directory in its place is not ours to remove */
	if (pfd >= 0)
		unlinkat(pfd, base, 0);
	sb_delete(sb, path);
	tab_del(ws, f);
	prune_dirs(ws, path, pc);
}

/* every entry below the directory prefix */
static void forget_under(struct ws *ws, const char *prefix, struct sbuf *sb)
{
	struct pcache pc = { .fd = -1 };
	size_t n = strlen(prefix);

	for (size_t i = 0; i < ws->cap; i++) {
		struct wsf *f = &ws->tab[i];

		if (live(f) && !strncmp(f->path, prefix, n) && f->path[n] == '/')
			remove_entry(ws, f, &pc, sb);
	}
	pc_drop(&pc);
}

static int apply_deletes(struct ws *ws, struct batch *b, struct sbuf *sb)
{
	struct pcache pc = { .fd = -1 };

	for (size_t i = 0; i < b->ndels; i++) {
		struct wsf *f = tab_find(ws, b->dels[i]);
		size_t before = ws->n;

		if (f)
			remove_entry(ws, f, &pc, sb);
		else
			forget_under(ws, b->dels[i], sb);
		b->deleted += before - ws->n;
	}
	pc_drop(&pc);
	return 0;
}

/* staged (or link) it into tree/ at its path; its entry recorded */
static int place(struct ws *ws, struct item *it, struct pcache *pc, struct sbuf *sb, struct httpd_resp *w)
{
	char why[AZDS_SYNC_PATH_MAX + 80];
	const char *base;
	struct wsf f = { 0 };
	struct stat st;
	int pfd, err;

	if (it->type == AZDS_SYNC_LINK) {
		if (stage_link(ws, it) || fchownat(ws->stagefd, it->tmp, ws->owner, (gid_t)-1, AT_SYMLINK_NOFOLLOW)) {
			httpd_error(w, 500, "\"%s\": staging the link: %s", it->path, strerror(errno));
			return -EIO;
		}
	} else if (fchmod(it->fd, it->mode) || fchown(it->fd, ws->owner, (gid_t)-1)) {
		httpd_error(w, 500, "\"%s\": %s", it->path, strerror(errno));
		return -EIO;
	}
	pfd = parent_fd(ws, it->path, true, pc, sb, &base, why, sizeof(why));
	if (pfd < 0) {
		httpd_error(w, pfd == -ENOTDIR ? 409 : 500, "\"%s\": %s", it->path, why);
		return pfd;
	}
	err = renameat(ws->stagefd, it->tmp, pfd, base);
	if (err && (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST)) {
		/* a directory stands there: only an empty one may go */
		forget_under(ws, it->path, sb);
		pc_drop(pc);
		pfd = parent_fd(ws, it->path, true, pc, sb, &base, why, sizeof(why));
		err = pfd < 0 || unlinkat(pfd, base, AT_REMOVEDIR) || renameat(ws->stagefd, it->tmp, pfd, base);
		if (err) {
			httpd_error(w, 409, "\"%s\": a directory stands there, holding files the sync did not write",
				    it->path);
			return -ENOTEMPTY;
		}
	} else if (err) {
		httpd_error(w, 500, "\"%s\": %s", it->path, strerror(errno));
		return -errno;
	}
	it->tmp[0] = 0; /* placed: nothing left in staging */
	if (it->type == AZDS_SYNC_LINK ? fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) : fstat(it->fd, &st))
		memset(&st, 0, sizeof(st));
	f.path = strdup(it->path);
	if (!f.path) {
		httpd_error(w, 500, "out of memory");
		return -ENOMEM;
	}
	f.type = it->type;
	f.mode = it->mode;
	f.size = it->size;
	f.mtime = it->mtime;
	memcpy(f.sha, it->sha, 32);
	f.ino = (uint64_t)st.st_ino;
	f.smtime = mtime_ns(&st);
	sb_entry(sb, &f);
	if (tab_put(ws, &f)) {
		httpd_error(w, 500, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* no data: the workspace already has these bytes; the mode and the
 * client's mtime are recorded. false: it does not (send the data) */
static bool meta_update(struct ws *ws, struct item *it, struct pcache *pc, struct sbuf *sb)
{
	struct wsf *f = tab_find(ws, it->path);
	char why[64];
	const char *base;
	struct stat st;
	int pfd, fd;
	bool ok;

	if (!f || f->type != AZDS_SYNC_FILE || f->size != it->size || memcmp(f->sha, it->sha, 32))
		return false;
	pfd = parent_fd(ws, it->path, false, pc, sb, &base, why, sizeof(why));
	if (pfd < 0)
		return false;
	fd = openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = !fstat(fd, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_ino == f->ino && mtime_ns(&st) == f->smtime &&
	     (uint64_t)st.st_size == f->size;
	if (ok && f->mode != it->mode)
		ok = !fchmod(fd, it->mode);
	close(fd);
	if (!ok)
		return false;
	f->mode = it->mode;
	f->mtime = it->mtime;
	sb_entry(sb, f);
	return true;
}

static void batch_free(struct ws *ws, struct batch *b)
{
	for (size_t i = 0; i < b->nitems; i++)
		unstage(ws, &b->items[i]);
	free(b->items);
	free(b->dels);
	json_decref(b->missing);
}

static void ws_sync(struct ws *ws, const struct httpd_req *r, struct httpd_resp *w)
{
	struct batch b = { 0 };
	struct pcache pc = { .fd = -1 };
	struct sbuf sb = { 0 };
	size_t parts = 0;
	json_t *body = api_body(r, w);
	int err = 0;

	if (!body)
		return;
	if (batch_parse(ws, body, &b, w))
		goto out;
	/* every byte checked before the tree changes */
	{
		struct shaidx x = { 0 };

		for (size_t i = 0; i < b.nitems && !err; i++)
			err = stage_item(ws, &b.items[i], &x, w);
		free(x.v);
	}
	if (err) {
		/* a refused batch leaves no part behind either */
		for (size_t i = 0; i < b.nitems; i++)
			if (b.items[i].partial || b.items[i].from_part)
				part_drop(ws);
		goto out;
	}
	b.missing = json_array();
	apply_deletes(ws, &b, &sb);
	for (size_t i = 0; i < b.nitems && !err; i++) {
		struct item *it = &b.items[i];

		if (it->partial) {
			parts++;
		} else if (it->missing) {
			json_array_append_new(b.missing, json_string(it->path));
		} else if (it->meta_only) {
			if (meta_update(ws, it, &pc, &sb))
				b.updated++;
			else
				json_array_append_new(b.missing, json_string(it->path));
		} else {
			err = place(ws, it, &pc, &sb, w);
			if (!err && it->copied)
				b.copied++;
			else if (!err)
				b.written++;
		}
	}
	pc_drop(&pc);
	if (sb.lines) {
		int lerr = append_log(ws, sb.p, sb.len, sb.lines);

		if (lerr && !err) {
			err = lerr;
			httpd_error(w, 500, "workspace \"%s\": manifest.log: %s", ws->name, strerror(-lerr));
		}
		ws->generation++;
		ws->updated_ms = now_ms();
		write_summary(ws);
		if (ws->log_lines > 2 * ws->n + 4096)
			compact_log(ws);
	}
	if (!err)
		httpd_json(w, 200,
			   json_pack("{s:I,s:I,s:I,s:I,s:I,s:O,s:I,s:I,s:I}", "written", (json_int_t)b.written, "copied",
				     (json_int_t)b.copied, "deleted", (json_int_t)b.deleted, "updated", (json_int_t)b.updated,
				     "parts", (json_int_t)parts,
				     "missing", b.missing, "files", (json_int_t)ws->n, "bytes", (json_int_t)ws->bytes,
				     "generation", (json_int_t)ws->generation));
out:
	free(sb.p);
	batch_free(ws, &b);
	json_decref(body);
}

/* ---- DELETE, and a space's workspaces --------------------------------- */

static void ws_forget_cache(int64_t space_id, const char *name)
{
	for (int i = 0; i < WS_CACHE; i++)
		if (cache[i].used && cache[i].space_id == space_id && (!name || !strcmp(cache[i].name, name))) {
			part_drop(&cache[i]);
			ws_close(&cache[i]);
		}
}

static void ws_remove(struct ctl *c, struct ws *ws, struct httpd_resp *w)
{
	char parent[PATH_MAX], name[ST_NAME_MAX], space[ST_PATH_MAX];
	int64_t id = ws->space_id;
	size_t files = ws->n;
	int err;

	snprintf(name, sizeof(name), "%s", ws->name);
	snprintf(space, sizeof(space), "%s", ws->space);
	ws_forget_cache(id, name);
	ws_dir(c, id, NULL, parent, sizeof(parent));
	/* renamed into the trash at once (the name is free again) and removed
	 * there by the daemon's thread: a pod may have left any depth or any
	 * number of files in it, which neither hold the API nor stop it */
	{
		char dir[PATH_MAX];
		struct stat sb;

		ws_dir(c, id, name, dir, sizeof(dir));
		err = lstat(dir, &sb) ? -errno : S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
		if (!err)
			ctl_remove_later(c, dir, "workspace");
	}
	if (err && err != -ENOENT) {
		httpd_error(w, 500, "workspace \"%s\": removing it: %s", name, strerror(-err));
		return;
	}
	rmdir(parent); /* the space's directory, once it holds no workspace */
	httpd_json(w, 200, json_pack("{s:s,s:s,s:I}", "removed", name, "space", space, "files", (json_int_t)files));
}

void api_workspaces_space_gone(struct ctl *c, int64_t space_id)
{
	char top[PATH_MAX], name[32];

	ws_forget_cache(space_id, NULL);
	snprintf(top, sizeof(top), "%s/workspaces/%lld", c->state_dir, (long long)space_id);
	snprintf(name, sizeof(name), "workspaces-%lld", (long long)space_id);
	if (!access(top, F_OK))
		ctl_remove_later(c, top, name);
}

void api_workspaces(struct ctl *c, const struct httpd_req *r, const char *rest, struct httpd_resp *w)
{
	char name[ST_NAME_MAX + 1];
	const char *sub = strchr(rest, '/');
	size_t nlen = sub ? (size_t)(sub - rest) : strlen(rest);
	struct ws *ws;

	if (!*rest) {
		if (strcmp(r->method, "GET"))
			httpd_error(w, 405, "%s /v1/workspaces: use GET", r->method);
		else
			ws_list(c, r, w);
		return;
	}
	if (nlen >= sizeof(name)) {
		httpd_error(w, 400, "workspace \"%.*s\": names are at most %d characters", (int)nlen, rest,
			    ST_NAME_MAX - 1);
		return;
	}
	memcpy(name, rest, nlen);
	name[nlen] = 0;
	if (!sub) {
		if (!strcmp(r->method, "GET")) {
			ws = ws_get(c, r, name, false, "read", w);
			if (ws)
				httpd_json(w, 200, ws_json(ws->space, ws->name, ws->owner, ws->created_ms, ws->n, ws->bytes,
							   ws->updated_ms));
		} else if (!strcmp(r->method, "DELETE")) {
			ws = ws_get(c, r, name, false, "remove", w);
			if (ws)
				ws_remove(c, ws, w);
		} else {
			httpd_error(w, 405, "%s /v1/workspaces/%s: use GET or DELETE", r->method, name);
		}
		return;
	}
	if (!strcmp(sub, "/manifest")) {
		if (strcmp(r->method, "GET")) {
			httpd_error(w, 405, "%s /v1/workspaces/%s/manifest: use GET", r->method, name);
			return;
		}
		ws = ws_get(c, r, name, false, "read", w);
		if (ws)
			ws_manifest(ws, r, w);
	} else if (!strcmp(sub, "/sync")) {
		if (strcmp(r->method, "POST")) {
			httpd_error(w, 405, "%s /v1/workspaces/%s/sync: use POST", r->method, name);
			return;
		}
		ws = ws_get(c, r, name, true, "sync into", w);
		if (ws)
			ws_sync(ws, r, w);
	} else {
		httpd_error(w, 404, "no such API path \"%s\" (workspaces have /manifest and /sync)", r->path);
	}
}
