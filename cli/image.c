// SPDX-License-Identifier: MIT
/*
 * azds image build: the node agent's image as an OCI image layout in one
 * tar (oci-layout, index.json, blobs/sha256/...), for `ctr images import`
 * on each node: no registry, no container builder. One uncompressed layer
 * holds azds-controller, azds-router, azds-cni and azds-init from the
 * directory of this azds, `ip` and /bin/sh (the agent runs both), and the
 * shared libraries ldd lists for each, at their own paths. Reproducible:
 * sorted entries, zero mtimes, owner 0, so the same files give the same
 * digests (docs/kubernetes-install.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "opts.h"
#include "verbs.h"

#ifndef AZDS_IMAGE_REF
#error "AZDS_IMAGE_REF comes from deploy/kubernetes/embed.cmake"
#endif

#define IMG_FILE_MAX  (256u << 20) /* one file of the layer */
#define IMG_LAYER_MAX (1u << 30)   /* the whole layer */
#define IMG_FILES_MAX 256	   /* files and directories of the layer */
#define IMG_REF_MAX   255
#define IMG_LDD_MAX   (64u << 10) /* ldd's output for one binary */

VERB(cmd_image_build);

static const struct verb v_build = {
    .group = "image",
    .name = "build",
    .synopsis = "-o FILE [-t REF] [--bin-dir DIR]",
    .summary = "the node agent's image as an OCI archive, for ctr images import (no registry)",
    .details = "It holds azds-controller, azds-router, azds-cni and azds-init from the directory of this azds\n"
	       "(--bin-dir: another), ip and /bin/sh, and the shared libraries each links (ldd), at their\n"
	       "own paths. REF (default " AZDS_IMAGE_REF ", what deploy/kubernetes/ runs) is\n"
	       "recorded as io.containerd.image.name. The same files give the same archive, byte for byte.\n"
	       "Import it on each node: ctr -n k8s.io images import FILE.\n",
};

struct buf {
	unsigned char *p;
	size_t len, cap, max;
};

static int buf_put(struct buf *b, const void *d, size_t n)
{
	if (n > b->max - b->len)
		return -EFBIG;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		unsigned char *p;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (d)
		memcpy(b->p + b->len, d, n);
	else
		memset(b->p + b->len, 0, n);
	b->len += n;
	return 0;
}

/* ------------------------------------------------------------------ tar */

static void octal(char *f, size_t w, unsigned long long v)
{
	snprintf(f, w, "%0*llo", (int)w - 1, v);
}

/* one ustar entry (a regular file, or a directory when DATA is NULL and name ends in '/') */
static int tar_add(struct buf *b, const char *name, unsigned mode, const void *data, size_t size)
{
	char h[512];
	size_t n = strlen(name), cut = 0;
	unsigned sum = 0;
	bool dir = name[n - 1] == '/';

	memset(h, 0, sizeof(h));
	if (n > 100) {
		/* ustar: prefix (155) "/" name (100), split at a slash */
		for (size_t i = n - 1; i > 0; i--)
			if (name[i] == '/' && i < n - 1 && i <= 155 && n - i - 1 <= 100) {
				cut = i;
				break;
			}
		if (!cut)
			return -ENAMETOOLONG;
		memcpy(h + 345, name, cut);
		memcpy(h, name + cut + 1, n - cut - 1);
	} else {
		memcpy(h, name, n);
	}
	octal(h + 100, 8, mode & 07777);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, dir ? 0 : size);
	octal(h + 136, 12, 0);
	h[156] = dir ? '5' : '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	if (buf_put(b, h, sizeof(h)) || (!dir && (buf_put(b, data, size) || buf_put(b, NULL, (512 - size % 512) % 512))))
		return -EFBIG;
	return 0;
}

static int tar_end(struct buf *b)
{
	return buf_put(b, NULL, 1024);
}

/* --------------------------------------------------------------- layer */

struct entry {
	char path[PATH_MAX]; /* in the image, no leading '/'; a directory ends in '/' */
	char src[PATH_MAX];  /* on this machine; "" for a directory */
	unsigned mode;
};

struct layer {
	struct entry *e;
	size_t n;
};

static int layer_has(const struct layer *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->e[i].path, path))
			return 1;
	return 0;
}

static int layer_put(struct layer *l, const char *path, const char *src, unsigned mode)
{
	struct entry *e;

	if (layer_has(l, path))
		return 0;
	if (l->n >= IMG_FILES_MAX)
		return -E2BIG;
	e = &l->e[l->n];
	if (snprintf(e->path, sizeof(e->path), "%s", path) >= (int)sizeof(e->path) ||
	    snprintf(e->src, sizeof(e->src), "%s", src ? src : "") >= (int)sizeof(e->src))
		return -ENAMETOOLONG;
	e->mode = mode;
	l->n++;
	return 0;
}

/* a file at DEST (absolute) from SRC (symlinks followed), with its parent directories */
static int layer_file(struct layer *l, const char *dest, const char *src)
{
	char dir[PATH_MAX];
	struct stat st;
	int err;

	if (stat(src, &st)) {
		err = -errno;
		fail("image build: %s: %s", src, strerror(-err));
		return err;
	}
	if (!S_ISREG(st.st_mode))
		return fail("image build: %s is not a regular file", src), -EINVAL;
	if (st.st_size > (off_t)IMG_FILE_MAX)
		return fail("image build: %s is larger than %u MiB", src, IMG_FILE_MAX >> 20), -EFBIG;
	for (const char *s = strchr(dest + 1, '/'); s; s = strchr(s + 1, '/')) {
		snprintf(dir, sizeof(dir), "%.*s/", (int)(s - dest - 1), dest + 1);
		err = layer_put(l, dir, NULL, 0755);
		if (err)
			return fail("image build: too many files in the layer (at most %d)", IMG_FILES_MAX), err;
	}
	err = layer_put(l, dest + 1, src, st.st_mode & 0777);
	if (err)
		return fail("image build: too many files in the layer (at most %d) or a path too long", IMG_FILES_MAX),
		       err;
	return 0;
}

/* what "ldd BIN" lists: "x.so => /path (0x..)" and the loader's "/path (0x..)" */
static int layer_libs(struct layer *l, const char *bin)
{
	char out[IMG_LDD_MAX], *line, *save = NULL;
	size_t len = 0;
	int pfd[2], status, err = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return err = -errno, fail("image build: pipe: %s", strerror(-err)), err;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return fail("image build: fork: %s", strerror(-err)), err;
	}
	if (pid == 0) {
		int dn = open("/dev/null", O_WRONLY);

		dup2(pfd[1], 1);
		if (dn >= 0)
			dup2(dn, 2);
		execlp("ldd", "ldd", bin, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n = read(pfd[0], out + len, sizeof(out) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(out) - 1) {
			err = -EFBIG;
			break;
		}
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	out[len] = 0;
	if (err)
		return fail("image build: ldd %s: more than %u KiB of output", bin, IMG_LDD_MAX >> 10), err;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return fail("image build: ldd is not installed (it lists the libraries to put in the image)"), -ENOENT;
	/* a static binary: ldd fails with "not a dynamic executable" and nothing is needed */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 0;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *arrow = strstr(line, "=> "), *p = arrow ? arrow + 3 : line + strspn(line, " \t");
		size_t n = strcspn(p, " \t(");
		char path[PATH_MAX];

		if (strstr(line, "not found"))
			return fail("image build: %s needs a library that is not installed: %s", bin,
				    line + strspn(line, " \t")),
			       -ENOENT;
		if (*p != '/' || n >= sizeof(path))
			continue; /* linux-vdso.so.1 and the like: no file */
		memcpy(path, p, n);
		path[n] = 0;
		err = layer_file(l, path, path);
		if (err)
			return err;
	}
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static int read_file(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	b->len = 0;
	b->max = IMG_FILE_MAX;
	if (st.st_size > (off_t)IMG_FILE_MAX || (err = buf_put(b, NULL, (size_t)st.st_size))) {
		close(fd);
		return err ? err : -EFBIG;
	}
	for (size_t off = 0; off < b->len;) {
		ssize_t n = read(fd, b->p + off, b->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO; /* it shrank while read */
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	return err;
}

static int layer_tar(struct layer *l, struct buf *out)
{
	struct buf f = {0};
	int err = 0;

	qsort(l->e, l->n, sizeof(*l->e), entry_cmp);
	for (size_t i = 0; i < l->n && !err; i++) {
		struct entry *e = &l->e[i];

		if (!e->src[0]) {
			err = tar_add(out, e->path, e->mode, NULL, 0);
			continue;
		}
		err = read_file(e->src, &f);
		if (err) {
			fail("image build: reading %s: %s", e->src, strerror(-err));
			break;
		}
		err = tar_add(out, e->path, e->mode, f.p, f.len);
	}
	free(f.p);
	if (!err)
		err = tar_end(out);
	if (err == -EFBIG)
		fail("image build: the layer would be larger than %u MiB", IMG_LAYER_MAX >> 20);
	else if (err == -ENAMETOOLONG)
		fail("image build: a path does not fit a tar header");
	else if (err == -ENOMEM)
		fail("image build: out of memory");
	return err;
}

/* ---------------------------------------------------------------- blobs */

struct blob {
	char digest[65];
	size_t size;
	unsigned char *p; /* owned */
};

static int blob_of(struct blob *b, unsigned char *p, size_t n)
{
	unsigned char md[32];
	unsigned mdlen = 0;

	if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
		free(p);
		return fail("image build: SHA-256 failed"), -EIO;
	}
	for (unsigned i = 0; i < 32; i++)
		snprintf(b->digest + 2 * i, 3, "%02x", md[i]);
	b->p = p;
	b->size = n;
	return 0;
}

static int blob_json(struct blob *b, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (!s)
		return fail("image build: out of memory"), -ENOMEM;
	return blob_of(b, (unsigned char *)s, strlen(s));
}

static const char *oci_arch(void)
{
	static struct utsname u;

	if (uname(&u))
		return "amd64";
	if (!strcmp(u.machine, "x86_64"))
		return "amd64";
	if (!strcmp(u.machine, "aarch64"))
		return "arm64";
	return u.machine;
}

/* NAME:TAG, the tag after the last '/', of characters a reference allows */
static int check_ref(const char *ref)
{
	const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');

	if (!*ref || strlen(ref) > IMG_REF_MAX)
		return -EINVAL;
	for (const char *c = ref; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      strchr("._-/:", *c)))
			return -EINVAL;
	if (!colon || (slash && colon < slash) || !colon[1] || colon == ref || (*ref >= 'A' && *ref <= 'Z'))
		return -EINVAL;
	return 0;
}

/* the first of these that is a file: where `ip` is on this machine */
static const char *find_ip(void)
{
	static const char *const paths[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

static int write_out(const char *out, const struct buf *b)
{
	char tmp[PATH_MAX];
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", out, (int)getpid()) >= (int)sizeof(tmp))
		return fail("image build: %s: path too long", out), -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return err = -errno, fail("image build: %s: %s", tmp, strerror(-err)), err;
	for (size_t off = 0; off < b->len && !err;) {
		ssize_t n = write(fd, b->p + off, b->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, out))
		err = -errno;
	if (err) {
		unlink(tmp);
		return fail("image build: writing %s: %s", out, strerror(-err)), err;
	}
	return 0;
}

static int build(const char *out, const char *ref, const char *bin_dir)
{
	static const char *const bins[] = {"azds-controller", "azds-router", "azds-cni", "azds-init"};
	static const char *const dirs[] = {"dev/", "etc/", "proc/", "run/", "sys/", "tmp/"};
	struct layer l = {.e = calloc(IMG_FILES_MAX, sizeof(struct entry))};
	struct buf lt = {.max = IMG_LAYER_MAX}, ot = {.max = (size_t)IMG_LAYER_MAX + (1u << 20)};
	struct blob layer = {0}, config = {0}, manifest = {0};
	char src[PATH_MAX], sh[PATH_MAX], name[128];
	const char *ip = find_ip(), *tag = strrchr(ref, ':') + 1;
	int err = -ENOMEM;

	if (!l.e) {
		fail("image build: out of memory");
		goto out;
	}
	for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
		char dest[64];

		if (snprintf(src, sizeof(src), "%s/%s", bin_dir, bins[i]) >= (int)sizeof(src)) {
			err = -ENAMETOOLONG;
			fail("image build: %s: path too long", bin_dir);
			goto out;
		}
		if (access(src, X_OK)) {
			err = -errno;
			fail("image build: no %s in %s (build azds first, or give --bin-dir)", bins[i], bin_dir);
			goto out;
		}
		snprintf(dest, sizeof(dest), "/usr/bin/%s", bins[i]);
		err = layer_file(&l, dest, src) ?: layer_libs(&l, src);
		if (err)
			goto out;
	}
	/* the agent runs `ip -batch` for its local routes and popen()s through /bin/sh */
	if (!ip) {
		err = -ENOENT;
		fail("image build: no ip (iproute2) on this machine: the node agent runs it");
		goto out;
	}
	if (!realpath("/bin/sh", sh)) {
		err = -errno;
		fail("image build: /bin/sh: %s", strerror(errno));
		goto out;
	}
	err = layer_file(&l, "/usr/bin/ip", ip) ?: layer_libs(&l, ip) ?: layer_file(&l, "/bin/sh", sh)
	      ?: layer_libs(&l, sh);
	if (err)
		goto out;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if ((err = layer_put(&l, dirs[i], NULL, !strcmp(dirs[i], "tmp/") ? 01777 : 0755)))
			goto out;
	err = layer_tar(&l, &lt);
	if (err)
		goto out;
	err = blob_of(&layer, lt.p, lt.len);
	lt.p = NULL;
	if (err)
		goto out;
	{
		char diff[72];

		snprintf(diff, sizeof(diff), "sha256:%s", layer.digest);
		err = blob_json(&config,
				json_pack("{s:s,s:s,s:{s:[s],s:[s],s:s},s:{s:s,s:[s]},s:[{s:s}]}", "architecture",
					  oci_arch(), "os", "linux", "config", "Env",
					  "PATH=/usr/bin:/bin:/usr/sbin:/sbin", "Entrypoint", "/usr/bin/azds-controller",
					  "WorkingDir", "/", "rootfs", "type", "layers", "diff_ids", diff, "history",
					  "created_by", "azds image build"));
	}
	if (err)
		goto out;
	{
		char cd[72], ld[72];

		snprintf(cd, sizeof(cd), "sha256:%s", config.digest);
		snprintf(ld, sizeof(ld), "sha256:%s", layer.digest);
		err = blob_json(&manifest,
				json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}]}", "schemaVersion", 2, "mediaType",
					  "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
					  "application/vnd.oci.image.config.v1+json", "digest", cd, "size",
					  (json_int_t)config.size, "layers", "mediaType",
					  "application/vnd.oci.image.layer.v1.tar", "digest", ld, "size",
					  (json_int_t)layer.size));
	}
	if (err)
		goto out;
	{
		char md[72], *index;
		json_t *j;

		snprintf(md, sizeof(md), "sha256:%s", manifest.digest);
		j = json_pack("{s:i,s:s,s:[{s:s,s:s,s:I,s:{s:s,s:s},s:{s:s,s:s}}]}", "schemaVersion", 2, "mediaType",
			      "application/vnd.oci.image.index.v1+json", "manifests", "mediaType",
			      "application/vnd.oci.image.manifest.v1+json", "digest", md, "size",
			      (json_int_t)manifest.size, "platform", "architecture", oci_arch(), "os", "linux",
			      "annotations", "io.containerd.image.name", ref, "org.opencontainers.image.ref.name", tag);
		index = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (!index) {
			err = -ENOMEM;
			fail("image build: out of memory");
			goto out;
		}
		/* the layout's order: oci-layout, index.json, then the blobs by name */
		struct blob *bl[3] = {&config, &manifest, &layer};

		for (int i = 0; i < 3; i++)
			for (int k = i + 1; k < 3; k++)
				if (strcmp(bl[k]->digest, bl[i]->digest) < 0) {
					struct blob *t = bl[i];

					bl[i] = bl[k];
					bl[k] = t;
				}
		err = tar_add(&ot, "oci-layout", 0644, "{\"imageLayoutVersion\":\"1.0.0\"}",
			      strlen("{\"imageLayoutVersion\":\"1.0.0\"}")) ?:
		      tar_add(&ot, "index.json", 0644, index, strlen(index)) ?: tar_add(&ot, "blobs/", 0755, NULL, 0)
		      ?: tar_add(&ot, "blobs/sha256/", 0755, NULL, 0);
		free(index);
		for (int i = 0; i < 3 && !err; i++) {
			snprintf(name, sizeof(name), "blobs/sha256/%s", bl[i]->digest);
			err = tar_add(&ot, name, 0644, bl[i]->p, bl[i]->size);
		}
		err = err ?: tar_end(&ot);
		if (err) {
			fail("image build: the archive: %s", strerror(-err));
			goto out;
		}
	}
	err = write_out(out, &ot);
	if (!err)
		printf("Wrote %s: image %s, %zu files, layer %.1f MiB (sha256:%.12s), manifest sha256:%s.\n", out, ref,
		       l.n, layer.size / 1048576.0, layer.digest, manifest.digest);
out:
	free(l.e);
	free(lt.p);
	free(ot.p);
	free(layer.p);
	free(config.p);
	free(manifest.p);
	return err;
}

VERB(cmd_image_build)
{
	const char *out = NULL, *ref = AZDS_IMAGE_REF, *bin_dir = NULL;
	const struct opt o[] = {
	    OPT_S("output", 'o', &out, "FILE", "where the archive goes (replaced atomically)"),
	    OPT_S("tag", 't', &ref, "REF", "the image's name (default " AZDS_IMAGE_REF ")"),
	    OPT_S("bin-dir", 0, &bin_dir, "DIR", "where the azds binaries are (default: next to this azds)"),
	    OPT_END,
	};
	char self[PATH_MAX], *slash;
	struct args a;
	int err = opts_parse(&v_build, o, argc, argv, &a);
	ssize_t n;

	(void)v;
	if (err)
		return opts_exit(err);
	args_free(&a);
	if (!out || !*out)
		return usage_error(&v_build, "-o FILE is required");
	if (check_ref(ref))
		return usage_error(&v_build, "\"%s\" is no image reference: NAME:TAG, e.g. " AZDS_IMAGE_REF, ref);
	if (!bin_dir) {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return fail("image build: /proc/self/exe: %s (give --bin-dir)", strerror(errno));
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash)
			*slash = 0;
		bin_dir = self;
	}
	return build(out, ref, bin_dir) ? EXIT_FAIL : 0;
}
