// SPDX-License-Identifier: MIT
/* Small system helpers: files, processes, namespaces, cgroups. */
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "azds.h"

int azds_err(struct azds_err *e, int err, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return err < 0 ? err : -err;
}

int azds_write_file(const char *path, const char *data)
{
	char tmp[512];
	size_t len = strlen(data);
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd))
		err = -errno ? -errno : -EIO;
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int azds_mkdir_p(const char *path, unsigned mode)
{
	char buf[512];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int azds_run(char *const argv[], bool quiet)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int azds_netns_enter(const char *name, int *saved_fd)
{
	char path[256];
	int fd, err;

	*saved_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved_fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		close(*saved_fd);
		*saved_fd = -1;
		return err;
	}
	err = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	if (err) {
		close(*saved_fd);
		*saved_fd = -1;
	}
	return err;
}

int azds_netns_leave(int saved_fd)
{
	int err;

	if (saved_fd < 0)
		return 0;
	err = setns(saved_fd, CLONE_NEWNET) ? -errno : 0;
	close(saved_fd);
	return err;
}

int azds_lock(const char *run_dir, bool create)
{
	char path[300];
	struct stat st;
	int fd, err;

	/* writers of one instance take turns: every change is a read
	 * followed by a write (address, id and backend list allocation) */
	if (create) {
		err = azds_mkdir_p(run_dir, 0755);
		if (err)
			return err;
	} else if (stat(run_dir, &st)) {
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/lock", run_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX)) {
		if (errno != EINTR) {
			err = -errno;
			close(fd);
			return err;
		}
	}
	return fd;
}

int azds_cgroup2_root(char *buf, size_t len)
{
	char line[1024], dev[256], mnt[512], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %511s %63s", dev, mnt, type) != 3)
			continue;
		if (strcmp(type, "cgroup2") == 0) {
			snprintf(buf, len, "%s", mnt);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

__u64 azds_cgroup_id(const char *dir)
{
	struct stat st;

	/* a cgroup v2 directory's inode number is its kernfs id, which is
	 * what bpf_get_current_cgroup_id() returns */
	if (stat(dir, &st))
		return 0;
	return (__u64)st.st_ino;
}

int azds_write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		err = -errno;
	close(fd);
	return err;
}

int azds_read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		err = -errno;
	else
		buf[n] = 0;
	close(fd);
	return err;
}

int64_t azds_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
