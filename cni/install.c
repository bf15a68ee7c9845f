// SPDX-License-Identifier: MIT
/*
 * Installing azds-cni on a node (install.h): the binary into the runtime's
 * CNI bin directory and one entry at the end of the main plugin's conflist.
 * The conflist is parsed and written again as JSON (its formatting is not
 * kept, its content is); every write is a temporary file in the same
 * directory, fsync'd and renamed over the old one. The temporary's name
 * starts with '.' and ends in ".tmp", which no runtime loads as a config.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <jansson.h>
#include "install.h"

static const char *const versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the configuration files of dir, byte-sorted: runtimes take the first */
static int conf_files(const char *dir, char ***out, int *n, struct azds_err *e)
{
	struct dirent *de;
	char **v;
	DIR *d;

	*n = 0;
	*out = NULL;
	d = opendir(dir);
	if (!d)
		return azds_err(e, errno, "CNI configuration directory %s: %s", dir, strerror(errno));
	v = calloc(AZDS_CNI_CONF_MAX, sizeof(*v));
	if (!v) {
		closedir(d);
		return azds_err(e, ENOMEM, "out of memory");
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    !(ends_with(de->d_name, ".conflist") || ends_with(de->d_name, ".conf") || ends_with(de->d_name, ".json")))
			continue;
		if (*n >= AZDS_CNI_CONF_MAX) {
			closedir(d);
			for (int i = 0; i < *n; i++)
				free(v[i]);
			free(v);
			return azds_err(e, E2BIG, "CNI configuration directory %s: more than %d files", dir,
					AZDS_CNI_CONF_MAX);
		}
		v[(*n)++] = strdup(de->d_name);
	}
	closedir(d);
	for (int i = 0; i < *n; i++)
		if (!v[i]) {
			for (int j = 0; j < *n; j++)
				free(v[j]);
			free(v);
			return azds_err(e, ENOMEM, "out of memory");
		}
	qsort(v, (size_t)*n, sizeof(*v), cmp_names);
	*out = v;
	return 0;
}

static void free_names(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = fsync(fd) ? -errno : 0;
	close(fd);
	return err;
}

/* write data as dir/name through dir/.name.tmp: whole or not at all */
static int replace_file(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
			struct azds_err *e)
{
	char tmp[512], path[512];
	const char *p = data;
	size_t off = 0;
	int fd, err = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", dir, name, (int)getpid()) >= sizeof(tmp))
		return azds_err(e, ENAMETOOLONG, "%s/%s: path too long", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return azds_err(e, errno, "create %s: %s", tmp, strerror(errno));
	while (!err && off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0 && errno != EINTR)
			err = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	/* the mode asked for, whatever the umask */
	if (!err && fchmod(fd, mode))
		err = -errno;
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return azds_err(e, err, "write %s: %s", path, strerror(-err));
	}
	fsync_dir(dir);
	return 0;
}

static int read_all(const char *path, size_t max, char **out, size_t *len, struct azds_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return azds_err(e, errno, "%s: %s", path, strerror(errno));
	buf = malloc(max + 1);
	if (!buf) {
		close(fd);
		return azds_err(e, ENOMEM, "out of memory");
	}
	while (n <= max && (r = read(fd, buf + n, max + 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;

			close(fd);
			free(buf);
			return azds_err(e, err, "read %s: %s", path, strerror(err));
		}
		n += (size_t)r;
	}
	close(fd);
	if (n > max) {
		free(buf);
		return azds_err(e, EFBIG, "%s is larger than %zu bytes", path, max);
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

static int copy_binary(const char *src, const char *bin_dir, struct azds_err *e)
{
	char *data;
	size_t len;
	int err;

	/* a plugin binary is a few MB at most: 64 MB is a wrong path */
	err = read_all(src, 64u << 20, &data, &len, e);
	if (err)
		return err;
	err = azds_mkdir_p(bin_dir, 0755);
	if (err) {
		free(data);
		return azds_err(e, err, "CNI bin directory %s: %s", bin_dir, strerror(-err));
	}
	err = replace_file(bin_dir, AZDS_CNI_BINARY, data, len, 0755, e);
	free(data);
	return err;
}

/* parse a conflist: an object with a "plugins" array, or an error naming the file */
static int load_conflist(const char *path, bool check_version, json_t **out, struct azds_err *e)
{
	json_error_t je;
	json_t *o, *pl;
	const char *v;
	char *text;
	size_t len;
	size_t i;
	int err;

	err = read_all(path, AZDS_CNI_CONFLIST_MAX, &text, &len, e);
	if (err)
		return err;
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!o)
		return azds_err(e, EINVAL, "%s: not valid JSON (line %d, column %d: %s); fix or remove it", path, je.line,
				je.column, je.text);
	pl = json_object_get(o, "plugins");
	if (!json_is_object(o) || !json_is_array(pl)) {
		json_decref(o);
		return azds_err(e, EINVAL, "%s: not a CNI conflist (no \"plugins\" array)", path);
	}
	v = json_string_value(json_object_get(o, "cniVersion"));
	for (i = 0; v && i < sizeof(versions) / sizeof(versions[0]); i++)
		if (!strcmp(v, versions[i]))
			break;
	if (check_version && (!v || i == sizeof(versions) / sizeof(versions[0]))) {
		json_decref(o);
		return azds_err(e, EINVAL, "%s: cniVersion \"%s\" is not one azds-cni supports (0.3.0-1.1.0)", path,
				v ? v : "(none)");
	}
	*out = o;
	return 0;
}

static int store_conflist(const char *dir, const char *name, json_t *o, const char *path, struct azds_err *e)
{
	struct stat st;
	char *s = json_dumps(o, JSON_INDENT(2));
	size_t len;
	int err;

	if (!s)
		return azds_err(e, ENOMEM, "out of memory");
	len = strlen(s);
	/* with a final newline, as editors write it */
	char *nl = realloc(s, len + 2);

	if (!nl) {
		free(s);
		return azds_err(e, ENOMEM, "out of memory");
	}
	s = nl;
	s[len++] = '\n';
	s[len] = 0;
	err = replace_file(dir, name, s, len, stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644, e);
	free(s);
	return err;
}

static bool is_ours(json_t *plugin)
{
	const char *t = json_string_value(json_object_get(plugin, "type"));

	return t && !strcmp(t, AZDS_CNI_BINARY);
}

int azds_cni_install(const char *plugin_src, const char *bin_dir, const char *conf_dir, const char *instance,
		     struct azds_err *e)
{
	char path[512], **names;
	struct azds_inst in;
	json_t *o = NULL, *pl, *ours = NULL;
	const char *first = NULL;
	size_t n, idx = 0, orig;
	int err, nn;

	if (!plugin_src || !bin_dir || !conf_dir || !instance)
		return azds_err(e, EINVAL, "azds_cni_install: missing argument");
	err = azds_inst_init(&in, instance, e);
	if (err)
		return err;
	err = conf_files(conf_dir, &names, &nn, e);
	if (err)
		return err;
	for (int i = 0; i < nn && !first; i++) {
		if (ends_with(names[i], ".conflist"))
			first = names[i];
		else
			/* the runtime would use this one, and a single plugin cannot be chained */
			err = azds_err(e, EINVAL,
				       "%s/%s is the CNI configuration the runtime uses and it is not a .conflist: azds-cni can only be chained in a conflist",
				       conf_dir, names[i]);
		if (err)
			break;
	}
	if (!err && !first)
		err = azds_err(e, ENOENT, "no *.conflist in %s: install the main CNI plugin's configuration first",
			       conf_dir);
	if (!err && (size_t)snprintf(path, sizeof(path), "%s/%s", conf_dir, first) >= sizeof(path))
		err = azds_err(e, ENAMETOOLONG, "%s/%s: path too long", conf_dir, first);
	if (!err)
		err = load_conflist(path, true, &o, e);
	/* the binary before the entry: a runtime never finds an entry without it */
	if (!err)
		err = copy_binary(plugin_src, bin_dir, e);
	if (err)
		goto out;
	pl = json_object_get(o, "plugins");
	n = json_array_size(pl);
	orig = n;
	for (size_t i = 0; i < n; i++)
		if (is_ours(json_array_get(pl, i))) {
			if (!ours) {
				ours = json_incref(json_array_get(pl, i));
				idx = i;
			} else {
				json_array_remove(pl, i--); /* a second entry would run us twice */
				n--;
			}
		}
	{
		json_t *want = json_string(instance);
		bool same = ours && idx == json_array_size(pl) - 1 && json_equal(json_object_get(ours, "instance"), want);

		json_decref(want);
		if (same && orig == n) {
			/* nothing to change: leave the file and its formatting alone */
			err = 0;
			goto out;
		}
	}
	if (ours) {
		json_array_remove(pl, idx);
		json_object_set_new(ours, "instance", json_string(instance));
	} else {
		ours = json_pack("{s:s, s:s}", "type", AZDS_CNI_BINARY, "instance", instance);
		if (!ours) {
			err = azds_err(e, ENOMEM, "out of memory");
			goto out;
		}
	}
	json_array_append(pl, ours); /* last: after the main plugin and its chained ones */
	err = store_conflist(conf_dir, first, o, path, e);
out:
	json_decref(ours);
	json_decref(o);
	free_names(names, nn);
	return err;
}

int azds_cni_uninstall(const char *bin_dir, const char *conf_dir, struct azds_err *e)
{
	char path[512], **names = NULL, *text;
	int err = 0, nn = 0;
	size_t len;

	if (!bin_dir || !conf_dir)
		return azds_err(e, EINVAL, "azds_cni_uninstall: missing argument");
	if (access(conf_dir, F_OK) == 0)
		err = conf_files(conf_dir, &names, &nn, e);
	for (int i = 0; i < nn && !err; i++) {
		json_t *o = NULL, *pl;
		bool changed = false;
		struct azds_err pe;

		if (!ends_with(names[i], ".conflist"))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", conf_dir, names[i]) >= sizeof(path))
			continue;
		if (load_conflist(path, false, &o, &pe)) {
			/* someone else's broken file is theirs, unless it names us */
			bool names_us = false;

			if (read_all(path, AZDS_CNI_CONFLIST_MAX, &text, &len, &pe) == 0) {
				names_us = strstr(text, "\"" AZDS_CNI_BINARY "\"") != NULL;
				free(text);
			}
			if (names_us)
				err = azds_err(e, EINVAL, "%s (it names azds-cni, which stays in it)", pe.msg);
			continue;
		}
		pl = json_object_get(o, "plugins");
		for (size_t k = 0; k < json_array_size(pl); k++)
			if (is_ours(json_array_get(pl, k))) {
				json_array_remove(pl, k--);
				changed = true;
			}
		if (changed)
			err = store_conflist(conf_dir, names[i], o, path, e);
		json_decref(o);
	}
	free_names(names, nn);
	if (err)
		return err;
	/* the entries first: no runtime is left naming a missing binary */
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", bin_dir, AZDS_CNI_BINARY) >= sizeof(path))
		return azds_err(e, ENAMETOOLONG, "%s: path too long", bin_dir);
	if (unlink(path) && errno != ENOENT)
		return azds_err(e, errno, "remove %s: %s", path, strerror(errno));
	return 0;
}
