// SPDX-License-Identifier: MIT
/* azds workspace sync|ls|rm, and the sync itself (see workspace.h, docs/sync.md). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <zlib.h>
#include "client.h"
#include "table.h"
#include "verbs.h"
#include "workspace.h"

/* a batch's JSON stays under the API's 1 MiB body limit */
#define BATCH_BYTES (900u << 10)
#define BATCH_ENTRIES 4096
/* bigger files go in parts of this many raw bytes, one part per batch:
 * a part that does not compress still fits once in base64 */
#define PART_BYTES (512u << 10)
/* an mtime this close to the scan may change again within the same tick
 * of the file system's clock: it is not trusted to mean "unchanged" */
#define RACY_NS (2LL * 1000000000)

struct remote {
	char *path;
	int type;
	uint32_t mode;
	uint64_t size;
	int64_t mtime;
	unsigned char sha[32];
};

struct manifest {
	struct remote *v;
	size_t n, cap;
	bool exists;
};

/* one sync's state */
struct sync {
	const char *space, *name, *dir;
	int dirfd;
	char url[1024];          /* /v1/workspaces/NAME/sync?space=S */
	json_t *dels, *files;    /* the batch being filled */
	size_t batch_bytes;
	int64_t scan_ns;         /* wall clock at the scan */
	struct azds_sync_stats *st;
	char **missing;          /* paths the workspace asked data for */
	size_t nmissing;
	unsigned char (*shas)[32]; /* of the workspace's files, sorted: what it can copy */
	size_t nshas;
	bool force_data;         /* answering "missing": no copy offered again */
};

static void warn_cb(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "azds: warning: %s\n", msg);
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static int ws_path(char *buf, size_t len, const char *name, const char *what, const char *space, const char *extra)
{
	char *n = api_escape(name), *s = api_escape(space);
	int r;

	if (!n || !s) {
		free(n);
		free(s);
		return -ENOMEM;
	}
	r = snprintf(buf, len, "/v1/workspaces/%s%s?space=%s%s", n, what, s, extra ? extra : "");
	free(n);
	free(s);
	return r < 0 || (size_t)r >= len ? -ENAMETOOLONG : 0;
}

/* the workspace's manifest, page by page; a missing workspace has none */
static int fetch_manifest(struct sync *s, struct manifest *m)
{
	long long gen = -1;
	size_t off = 0;

	for (;;) {
		char path[1100], extra[48];
		struct api_reply r;
		struct api_req req = { .method = "GET", .path = path };
		json_t *items, *it;
		size_t i;
		int err;

		snprintf(extra, sizeof(extra), "&offset=%zu", off);
		if (ws_path(path, sizeof(path), s->name, "/manifest", s->space, extra))
			return fail("workspace \"%s\": too long a name", s->name), -ENAMETOOLONG;
		err = api_exchange(&req, &r);
		if (err) {
			api_print_unreachable(err);
			return err;
		}
		if (r.status == 404 && !off && strstr(api_error_text(&r), "workspace")) {
			/* the first sync makes it */
			api_reply_free(&r);
			return 0;
		}
		if (r.status != 200) {
			fail("%s", api_error_text(&r));
			api_reply_free(&r);
			return -EPROTO;
		}
		m->exists = true;
		if (gen >= 0 && jint(r.json, "generation", -1) != gen) {
			api_reply_free(&r);
			return fail("workspace \"%s\" changed while its manifest was read (another sync?); run again",
				    s->name),
			       -EAGAIN;
		}
		gen = jint(r.json, "generation", -1);
		items = json_object_get(r.json, "items");
		json_array_foreach(items, i, it)
		{
			struct remote *e;
			const char *p = jstr(it, "path", NULL), *type = jstr(it, "type", "file");

			if (!p)
				continue;
			if (m->n == m->cap) {
				size_t cap = m->cap ? m->cap * 2 : 1024;
				void *nv = realloc(m->v, cap * sizeof(*m->v));

				if (!nv) {
					api_reply_free(&r);
					return fail("out of memory"), -ENOMEM;
				}
				m->v = nv;
				m->cap = cap;
			}
			e = &m->v[m->n];
			memset(e, 0, sizeof(*e));
			e->path = strdup(p);
			if (!e->path) {
				api_reply_free(&r);
				return fail("out of memory"), -ENOMEM;
			}
			e->type = !strcmp(type, "link") ? AZDS_SYNC_LINK : AZDS_SYNC_FILE;
			e->mode = (uint32_t)strtoul(jstr(it, "mode", "0644"), NULL, 8);
			e->size = (uint64_t)jint(it, "size", 0);
			e->mtime = jint(it, "mtime", 0);
			azds_sha256_parse(jstr(it, "sha256", ""), e->sha);
			m->n++;
		}
		if (json_is_null(json_object_get(r.json, "next")) || !json_object_get(r.json, "next")) {
			api_reply_free(&r);
			break;
		}
		off = (size_t)jint(r.json, "next", 0);
		api_reply_free(&r);
	}
	return 0;
}

static void batch_reset(struct sync *s)
{
	json_decref(s->dels);
	json_decref(s->files);
	s->dels = json_array();
	s->files = json_array();
	s->batch_bytes = 0;
}

static int add_missing(struct sync *s, const char *path)
{
	char **nv = realloc(s->missing, (s->nmissing + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	s->missing = nv;
	s->missing[s->nmissing] = strdup(path);
	if (!s->missing[s->nmissing])
		return -ENOMEM;
	s->nmissing++;
	return 0;
}

/* POST the batch, if it holds anything */
static int flush(struct sync *s)
{
	json_t *body, *it;
	struct api_reply r;
	size_t i;
	int err;

	if (!json_array_size(s->dels) && !json_array_size(s->files))
		return 0;
	body = json_pack("{s:O,s:O}", "delete", s->dels, "files", s->files);
	if (!body)
		return fail("out of memory"), -ENOMEM;
	err = api_send("POST", s->url, body, &r);
	json_decref(body);
	batch_reset(s);
	if (err)
		return err;
	s->st->batches++;
	s->st->deleted += (size_t)jint(r.json, "deleted", 0);
	s->st->copied += (size_t)jint(r.json, "copied", 0);
	s->st->updated += (size_t)jint(r.json, "updated", 0);
	s->st->files = (size_t)jint(r.json, "files", 0);
	s->st->bytes = (uint64_t)jint(r.json, "bytes", 0);
	json_array_foreach(json_object_get(r.json, "missing"), i, it)
		if (json_is_string(it) && add_missing(s, json_string_value(it))) {
			api_reply_free(&r);
			return fail("out of memory"), -ENOMEM;
		}
	api_reply_free(&r);
	return 0;
}

/* room for an entry of about n bytes, the batch sent first if need be */
static int room(struct sync *s, size_t n)
{
	if (s->batch_bytes + n > BATCH_BYTES ||
	    json_array_size(s->dels) + json_array_size(s->files) >= BATCH_ENTRIES)
		return flush(s);
	return 0;
}

static int add_delete(struct sync *s, const char *path)
{
	int err = room(s, strlen(path) + 8);

	if (err)
		return err;
	json_array_append_new(s->dels, json_string(path));
	s->batch_bytes += strlen(path) + 8;
	return 0;
}

static char *b64(const unsigned char *in, size_t len, size_t *olen)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t n = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = t[n >> 18];
		*o++ = t[(n >> 12) & 63];
		*o++ = t[(n >> 6) & 63];
		*o++ = t[n & 63];
	}
	if (i < len) {
		uint32_t n = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		*o++ = t[n >> 18];
		*o++ = t[(n >> 12) & 63];
		*o++ = i + 1 < len ? t[(n >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = 0;
	*olen = (size_t)(o - out);
	return out;
}

static int64_t trusted_mtime(const struct sync *s, int64_t mtime)
{
	return s->scan_ns - mtime >= RACY_NS ? mtime : 0;
}

/* one file entry: data (zlib of raw[0..len) as base64) when raw is set */
static int add_file(struct sync *s, const char *path, uint32_t mode, uint64_t size, int64_t mtime,
		    const unsigned char sha[32], int64_t offset, const unsigned char *raw, size_t len, bool data)
{
	char hex[65], mstr[8];
	json_t *o;
	int err;

	azds_sha256_hex(sha, hex);
	snprintf(mstr, sizeof(mstr), "%04o", mode);
	o = json_pack("{s:s,s:s,s:I,s:s,s:I}", "path", path, "mode", mstr, "size", (json_int_t)size, "sha256", hex,
		      "mtime", (json_int_t)mtime);
	if (!o)
		return fail("%s: out of memory", path), -ENOMEM;
	if (offset >= 0) /* a part: [offset, offset + len) */
		json_object_set_new(o, "offset", json_integer((json_int_t)offset));
	if (data && (len || size)) {
		uLongf clen = compressBound((uLong)len);
		unsigned char *z = malloc(clen);
		size_t blen = 0;
		char *enc;

		if (!z || compress2(z, &clen, raw, (uLong)len, 1) != Z_OK) {
			free(z);
			json_decref(o);
			return fail("%s: compressing: out of memory", path), -ENOMEM;
		}
		enc = b64(z, clen, &blen);
		free(z);
		if (!enc) {
			json_decref(o);
			return fail("%s: out of memory", path), -ENOMEM;
		}
		err = room(s, blen + strlen(path) + 200);
		if (err) {
			free(enc);
			json_decref(o);
			return err;
		}
		json_object_set_new(o, "data", json_stringn(enc, blen));
		free(enc);
		s->batch_bytes += blen + strlen(path) + 200;
		s->st->bytes_raw += len;
		s->st->bytes_compressed += clen;
	} else {
		err = room(s, strlen(path) + 200);
		if (err) {
			json_decref(o);
			return err;
		}
		s->batch_bytes += strlen(path) + 200;
	}
	json_array_append_new(s->files, o);
	return 0;
}

static int add_link(struct sync *s, const struct azds_sync_entry *e)
{
	json_t *o = json_pack("{s:s,s:s,s:s}", "path", e->path, "type", "link", "target", e->target);
	size_t n = strlen(e->path) + strlen(e->target) + 64;
	int err;

	if (!o)
		return fail("%s: out of memory", e->path), -ENOMEM;
	err = room(s, n);
	if (err) {
		json_decref(o);
		return err;
	}
	json_array_append_new(s->files, o);
	s->batch_bytes += n;
	s->st->sent++;
	return 0;
}

static int cmp_sha(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* the workspace has these bytes somewhere: it copies them, nothing is sent */
static bool has_sha(const struct sync *s, const unsigned char sha[32])
{
	return !s->force_data && s->nshas && bsearch(sha, s->shas, s->nshas, 32, cmp_sha);
}

static int shas_of(struct sync *s, const struct manifest *m)
{
	s->shas = malloc((m->n + 1) * 32);
	if (!s->shas)
		return fail("out of memory"), -ENOMEM;
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].type == AZDS_SYNC_FILE && m->v[i].size)
			memcpy(s->shas[s->nshas++], m->v[i].sha, 32);
	qsort(s->shas, s->nshas, 32, cmp_sha);
	return 0;
}

static int read_full(int fd, unsigned char *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	return 0;
}

/*
 * path in the folder dirfd, opened with flags, no link followed on any of
 * its components (O_NOFOLLOW guards the last one only: a directory on the
 * way that became a link to /etc would lead out of the folder): openat2
 * with RESOLVE_NO_SYMLINKS (5.6 and later; Debian 12 has 6.1). -1 with
 * errno: ELOOP for a link on the way, ENOTDIR for a file, ENOENT for one
 * that is gone.
 */
static int open_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
				.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH };

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/*
 * The directory that holds path's last component, opened beneath the
 * folder (open_beneath), and that component in *leaf; -errno otherwise.
 */
static int parent_beneath(int dirfd, const char *path, const char **leaf)
{
	const char *slash = strrchr(path, '/');
	char dir[AZDS_SYNC_PATH_MAX];
	int fd;

	*leaf = slash ? slash + 1 : path;
	if (!slash) {
		fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	} else {
		if ((size_t)(slash - path) >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = 0;
		fd = open_beneath(dirfd, dir, O_RDONLY | O_DIRECTORY);
	}
	return fd < 0 ? -errno : fd;
}

/* a file of the folder, for reading */
static int open_file_beneath(int dirfd, const char *path)
{
	int fd = open_beneath(dirfd, path, O_RDONLY | O_NONBLOCK);

	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP || errno == EXDEV))
		errno = ENOENT; /* not in the folder: as if gone */
	return fd;
}

/* a file's content into batches: whole when small, else in parts */
static int send_file(struct sync *s, const char *path)
{
	int fd = open_file_beneath(s->dirfd, path);
	unsigned char sha[32], *buf = NULL;
	bool content = true;
	struct stat st;
	uint32_t mode;
	int64_t mt;
	int err = 0;

	if (fd < 0 && errno == ENOENT)
		return add_delete(s, path); /* gone since the scan */
	if (fd < 0 || fstat(fd, &st))
		return fail("%s/%s: %s", s->dir, path, strerror(errno)), -errno;
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return 0; /* replaced since the scan: the next sync takes it */
	}
	if ((uint64_t)st.st_size > AZDS_SYNC_FILE_MAX) {
		close(fd);
		return fail("%s/%s: larger than a synced file may be (%llu MiB)", s->dir, path, AZDS_SYNC_FILE_MAX >> 20),
		       -EFBIG;
	}
	mode = (st.st_mode & S_IXUSR) ? 0755 : 0644;
	mt = trusted_mtime(s, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
	if ((uint64_t)st.st_size <= PART_BYTES) {
		size_t len = (size_t)st.st_size;

		buf = malloc(len ? len : 1);
		if (!buf) {
			close(fd);
			return fail("out of memory"), -ENOMEM;
		}
		err = read_full(fd, buf, len, 0);
		if (!err) {
			azds_sha256_buf(buf, len, sha);
			content = !len || !has_sha(s, sha);
			err = add_file(s, path, mode, len, mt, sha, -1, buf, len, content);
		} else {
			fail("%s/%s: %s", s->dir, path, strerror(-err));
		}
	} else {
		uint64_t size = (uint64_t)st.st_size, got = 0;

		/* the hash of the whole comes first: every part carries it */
		err = azds_sha256_fd(fd, sha, &got);
		if (!err && got != size)
			err = -EAGAIN;
		if (!err && has_sha(s, sha)) {
			content = false;
			err = add_file(s, path, mode, size, mt, sha, -1, NULL, 0, false);
			size = 0; /* no part to send */
		}
		buf = malloc(PART_BYTES);
		if (!buf)
			err = -ENOMEM;
		for (uint64_t off = 0; !err && off < size; off += PART_BYTES) {
			size_t len = size - off < PART_BYTES ? (size_t)(size - off) : PART_BYTES;

			err = read_full(fd, buf, len, off);
			if (!err)
				err = add_file(s, path, mode, size, mt, sha, (int64_t)off, buf, len, true);
			if (!err)
				err = flush(s); /* one part of a file per batch */
		}
		if (err == -EAGAIN)
			fail("%s/%s: it changed while it was read; run the sync again", s->dir, path);
		else if (err && err != -EPROTO && err != -ENOMEM)
			fail("%s/%s: %s", s->dir, path, strerror(-err));
	}
	free(buf);
	close(fd);
	if (!err && content)
		s->st->sent++;
	return err;
}

static int hash_local(struct sync *s, const char *path, unsigned char sha[32])
{
	int fd = open_file_beneath(s->dirfd, path);
	int err;

	if (fd < 0)
		return -errno;
	err = azds_sha256_fd(fd, sha, NULL);
	close(fd);
	s->st->hashed++;
	return err;
}

/* local against remote: send, update, or leave */
static int compare(struct sync *s, const struct azds_sync_entry *e, const struct remote *r)
{
	unsigned char sha[32];

	if (e->type == AZDS_SYNC_LINK) {
		azds_sha256_buf(e->target, strlen(e->target), sha);
		if (r->type == AZDS_SYNC_LINK && !memcmp(sha, r->sha, 32))
			return 0;
		return add_link(s, e);
	}
	if (r->type != AZDS_SYNC_FILE || r->size != e->size)
		return send_file(s, e->path);
	if (r->mtime && r->mtime == e->mtime_ns && r->mode == e->mode)
		return 0; /* unchanged since the workspace had it */
	if (hash_local(s, e->path, sha))
		return send_file(s, e->path);
	if (memcmp(sha, r->sha, 32))
		return send_file(s, e->path);
	if (r->mode != e->mode || r->mtime != trusted_mtime(s, e->mtime_ns))
		return add_file(s, e->path, e->mode, e->size, trusted_mtime(s, e->mtime_ns), sha, -1, NULL, 0, false);
	return 0;
}

static int sync_begin(struct sync *s, const char *space, const char *name, const char *dir,
		      struct azds_sync_stats *st)
{
	memset(s, 0, sizeof(*s));
	s->space = space;
	s->name = name;
	s->dir = dir;
	s->st = st;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0)
		return fail("%s: %s", dir, strerror(errno)), -errno;
	if (ws_path(s->url, sizeof(s->url), name, "/sync", space, NULL))
		return fail("workspace \"%s\": too long a name", name), -ENAMETOOLONG;
	batch_reset(s);
	return 0;
}

/* flush, then what the workspace asked for again, with data */
static int sync_end(struct sync *s, int err)
{
	if (!err)
		err = flush(s);
	s->force_data = true;
	for (size_t i = 0; !err && i < s->nmissing; i++)
		err = send_file(s, s->missing[i]);
	if (!err)
		err = flush(s);
	for (size_t i = 0; i < s->nmissing; i++)
		free(s->missing[i]);
	free(s->missing);
	free(s->shas);
	json_decref(s->dels);
	json_decref(s->files);
	if (s->dirfd >= 0)
		close(s->dirfd);
	return err;
}

int azds_ws_sync(const char *space, const char *name, const char *dir, const struct azds_sync_rules *rules,
		 struct azds_sync_stats *st)
{
	int64_t t0 = mono_ms();
	struct azds_syncset set;
	struct manifest m = { 0 };
	struct azds_err e;
	struct sync s;
	size_t i = 0, j = 0;
	int err;

	memset(st, 0, sizeof(*st));
	err = sync_begin(&s, space, name, dir, st);
	if (err) {
		sync_end(&s, err);
		return err;
	}
	s.scan_ns = wall_ns();
	err = azds_syncset_scan(&set, dir, rules, warn_cb, NULL, &e);
	if (err) {
		fail("%s: %s", dir, e.msg);
		sync_end(&s, err);
		return err;
	}
	st->scanned = set.n;
	st->ignored = set.ignored;
	st->skipped = set.skipped;
	err = fetch_manifest(&s, &m);
	if (!err)
		err = shas_of(&s, &m);
	/* deletes first: a file that became a directory makes room */
	for (j = 0; !err && j < m.n; j++)
		if (!azds_syncset_find(&set, m.v[j].path))
			err = add_delete(&s, m.v[j].path);
	/* both lists are sorted bytewise: one merge */
	for (i = 0, j = 0; !err && i < set.n; i++) {
		const struct azds_sync_entry *en = &set.v[i];
		int c = 1;

		while (j < m.n && (c = strcmp(m.v[j].path, en->path)) < 0)
			j++;
		if (j < m.n && c == 0)
			err = compare(&s, en, &m.v[j]);
		else if (en->type == AZDS_SYNC_LINK)
			err = add_link(&s, en);
		else
			err = send_file(&s, en->path);
	}
	err = sync_end(&s, err);
	manifest_free(&m);
	azds_syncset_free(&set);
	st->ms = mono_ms() - t0;
	return err;
}

int azds_ws_sync_paths(const char *space, const char *name, const char *dir, const struct azds_sync_rules *rules,
		       const char *const *paths, size_t npaths, struct azds_sync_stats *st)
{
	int64_t t0 = mono_ms();
	struct azds_sync_filter *f = NULL;
	struct azds_err e;
	struct sync s;
	int err;

	memset(st, 0, sizeof(*st));
	/* a directory that came or went whole is a job for the full sync */
	for (size_t i = 0; i < npaths; i++) {
		struct stat sb;
		char full[PATH_MAX];

		snprintf(full, sizeof(full), "%s/%s", dir, paths[i]);
		if (!lstat(full, &sb) && S_ISDIR(sb.st_mode))
			return azds_ws_sync(space, name, dir, rules, st);
	}
	err = sync_begin(&s, space, name, dir, st);
	if (!err && azds_sync_filter_new(&f, dir, rules, &e)) {
		fail("%s: %s", dir, e.msg);
		err = -EINVAL;
	}
	s.scan_ns = wall_ns();
	for (size_t i = 0; !err && i < npaths; i++) {
		struct stat sb;
		const char *leaf = NULL;
		char why[128];
		int in, pfd = -1;

		if (azds_sync_path_check(paths[i], strlen(paths[i]), why, sizeof(why))) {
			/* a name no workspace may hold (not UTF-8, a control
			 * character): skipped with a warning, as the full sync does,
			 * and the rest of the burst goes on */
			char msg[AZDS_SYNC_PATH_MAX + 160];

			snprintf(msg, sizeof(msg), "\"%s\": %s: skipped", paths[i], why);
			warn_cb(NULL, msg);
			st->skipped++;
			continue;
		}
		in = azds_sync_filter_path(f, paths[i], false, &e);
		if (in < 0) {
			fail("%s", e.msg);
			err = in;
			break;
		}
		st->scanned++;
		/* the path as it is now, reached without following a link on
		 * the way: one under a directory that became a link is not in
		 * the folder any more (the full sync skips such a link too) */
		if (in)
			pfd = parent_beneath(s.dirfd, paths[i], &leaf);
		if (in && pfd < 0 && pfd != -ENOENT && pfd != -ENOTDIR && pfd != -ELOOP && pfd != -EXDEV) {
			/* a local failure (out of descriptors, no permission) says
			 * nothing of the path: its copy there is kept */
			fail("%s/%s: %s", dir, paths[i], strerror(-pfd));
			err = pfd;
			break;
		}
		if (!in || pfd < 0 || fstatat(pfd, leaf, &sb, AT_SYMLINK_NOFOLLOW)) {
			err = add_delete(&s, paths[i]);
		} else if (S_ISREG(sb.st_mode)) {
			err = send_file(&s, paths[i]);
		} else if (S_ISLNK(sb.st_mode)) {
			char target[AZDS_SYNC_PATH_MAX];
			ssize_t n = readlinkat(pfd, leaf, target, sizeof(target) - 1);
			struct azds_sync_entry en = { .path = (char *)paths[i], .type = AZDS_SYNC_LINK, .target = target };

			if (n >= 0) {
				target[n] = 0;
				if (azds_sync_link_inside(paths[i], target)) {
					err = add_link(&s, &en);
				} else {
					char msg[2 * AZDS_SYNC_PATH_MAX + 96];

					/* as the full sync says it */
					snprintf(msg, sizeof(msg), "%s -> %s: the link leads out of the folder: skipped (it is never followed)",
						 paths[i], target);
					warn_cb(NULL, msg);
					st->skipped++;
				}
			}
		}
		if (pfd >= 0)
			close(pfd);
	}
	err = sync_end(&s, err);
	azds_sync_filter_free(f);
	st->ms = mono_ms() - t0;
	return err;
}

/* ---- the verbs -------------------------------------------------------- */

static const char *human(uint64_t n, char *buf, size_t len)
{
	if (n < 10 * 1024)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else if (n < 10ULL * 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
	else if (n < 10ULL * 1024 * 1024 * 1024)
		snprintf(buf, len, "%.1f MiB", (double)n / (1024 * 1024));
	else
		snprintf(buf, len, "%.1f GiB", (double)n / (1024.0 * 1024 * 1024));
	return buf;
}

VERB(cmd_workspace_sync)
{
	const char *given = NULL, *name = NULL, *output = NULL;
	bool no_git = false, no_docker = false;
	struct strlist globs = { 0 }, ignores = { 0 }, only = { 0 };
	const struct opt o[] = {
		OPT_S("name", 0, &name, "NAME", "the workspace (required)"),
		OPT_S("space", 'n', &given, "SPACE", "its space (default: your selected space)"),
		OPT_L("sync", 0, &globs, "GLOB", "azds.yaml's container.sync: only what these select ('!' excludes)"),
		OPT_L("ignore", 0, &ignores, "PATTERN", "azds.yaml's build.ignore: .gitignore lines applied last"),
		OPT_F("no-gitignore", 0, &no_git, "do not honour .gitignore files (build.useGitIgnore: false)"),
		OPT_F("no-dockerignore", 0, &no_docker, "do not honour .dockerignore"),
		OPT_L("only", 0, &only, "PATH",
		      "only this path of DIR, as a watcher sends it: sent, or deleted when gone or left out"),
		OPT_C("output", 'o', &output, "json", "the figures as JSON", "json"),
		OPT_END,
	};
	struct azds_sync_stats st;
	struct azds_sync_rules rules = { 0 };
	char space[300], raw[32], comp[32];
	struct args a;
	int rc = EXIT_FAIL, err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	if (!name) {
		rc = usage_error(v, "--name NAME is required");
		goto out;
	}
	if (api_space_or_selected(given, space, sizeof(space)))
		goto out;
	rules.sync = globs.v;
	rules.nsync = (size_t)globs.n;
	rules.ignore = ignores.v;
	rules.nignore = (size_t)ignores.n;
	rules.use_gitignore = !no_git;
	rules.no_dockerignore = no_docker;
	if (only.n ? azds_ws_sync_paths(space, name, a.pos[0], &rules, only.v, (size_t)only.n, &st)
		   : azds_ws_sync(space, name, a.pos[0], &rules, &st))
		goto out;
	if (output_json(output)) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "space",
				      space, "name", name, "dir", a.pos[0], "scanned", (json_int_t)st.scanned, "sent",
				      (json_int_t)st.sent, "copied", (json_int_t)st.copied, "deleted", (json_int_t)st.deleted, "updated",
				      (json_int_t)st.updated, "hashed", (json_int_t)st.hashed, "ignored",
				      (json_int_t)st.ignored, "skipped", (json_int_t)st.skipped, "batches",
				      (json_int_t)st.batches, "bytes_raw", (json_int_t)st.bytes_raw, "bytes_compressed",
				      (json_int_t)st.bytes_compressed, "files", (json_int_t)st.files, "bytes",
				      (json_int_t)st.bytes, "ms", (json_int_t)st.ms);

		print_json(j);
		json_decref(j);
	} else {
		printf("Synced %s to workspace %s in %s: %zu scanned, %zu sent (%s, %s compressed), %zu copied there, %zu deleted, %zu updated, %zu ignored, in %lld ms.\n",
		       a.pos[0], name, space, st.scanned, st.sent, human(st.bytes_raw, raw, sizeof(raw)),
		       human(st.bytes_compressed, comp, sizeof(comp)), st.copied, st.deleted, st.updated, st.ignored,
		       (long long)st.ms);
	}
	rc = 0;
out:
	free(globs.v);
	free(ignores.v);
	free(only.v);
	args_free(&a);
	return rc;
}

VERB(cmd_workspace_ls)
{
	const char *given = NULL, *output = NULL;
	bool all = false;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "the space (default: your selected space)"),
		OPT_F("all-spaces", 'A', &all, "workspaces of every space"),
		OPT_OUTPUT(&output),
		OPT_END,
	};
	static const char *const cols[] = { "NAME", "SPACE", "OWNER", "FILES", "SIZE", "UPDATED" };
	struct api_reply r;
	struct table *t;
	struct args a;
	size_t i;
	json_t *it;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	args_free(&a);
	if (all && given)
		return usage_error(v, "-n and -A exclude each other");
	if (api_list("workspaces", given, all, &r))
		return EXIT_FAIL;
	if (output_json(output)) {
		print_json(r.json);
		api_reply_free(&r);
		return 0;
	}
	t = table_new();
	if (!t)
		return fail("out of memory");
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
		table_col(t, cols[c], 0);
	json_array_foreach(json_object_get(r.json, "items"), i, it)
	{
		char age[16], size[32];

		table_cell(t, "%s", jstr(it, "name", "?"));
		table_cell(t, "%s", jstr(it, "space", "?"));
		table_cell(t, "%lld", jint(it, "owner", -1));
		table_cell(t, "%lld", jint(it, "files", 0));
		table_cell(t, "%s", human((uint64_t)jint(it, "bytes", 0), size, sizeof(size)));
		/* unix milliseconds; table_age takes seconds */
		table_cell(t, "%s", table_age(jint(it, "updated", 0) / 1000, age, sizeof(age)));
	}
	table_print(t, stdout, output_wide(output));
	table_free(t);
	api_reply_free(&r);
	return 0;
}

VERB(cmd_workspace_rm)
{
	const char *given = NULL;
	const struct opt o[] = {
		OPT_S("space", 'n', &given, "SPACE", "its space (default: your selected space)"),
		OPT_END,
	};
	char space[300], path[1100];
	struct api_reply r;
	struct args a;
	int rc = EXIT_FAIL, err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	if (api_space_or_selected(given, space, sizeof(space)))
		goto out;
	if (ws_path(path, sizeof(path), a.pos[0], "", space, NULL)) {
		rc = fail("out of memory");
		goto out;
	}
	if (api_send("DELETE", path, NULL, &r))
		goto out;
	printf("Removed workspace %s from %s (%lld files).\n", a.pos[0], space, jint(r.json, "files", 0));
	api_reply_free(&r);
	rc = 0;
out:
	args_free(&a);
	return rc;
}
