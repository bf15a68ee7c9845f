// SPDX-License-Identifier: MIT
/*
 * The access log: off unless asked for, then a file of mode 0640 that is
 * rotated to FILE.1 when it would pass its size bound, so that it never
 * holds more than twice the bound on disk. Workers hand over whole batches
 * of lines (one write per sweep each); a mutex orders writes and rotation,
 * off the request path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "router.h"

struct access_log {
	pthread_mutex_t lock;
	int fd;
	uint64_t size, max;
	char path[PATH_MAX];
};

static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);

	/* an existing file keeps its owner, but never stays wider than 0640 */
	if (fd >= 0)
		fchmod(fd, 0640);
	return fd;
}

struct access_log *alog_open(const char *path, uint64_t max_bytes, char *err, size_t errlen)
{
	struct access_log *l = calloc(1, sizeof(*l));
	struct stat st;

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (strlen(path) + 3 > sizeof(l->path)) {
		snprintf(err, errlen, "access log path \"%s\" is too long", path);
		free(l);
		return NULL;
	}
	snprintf(l->path, sizeof(l->path), "%s", path);
	l->fd = open_log(path);
	if (l->fd < 0) {
		snprintf(err, errlen, "access log \"%s\": %s", path, strerror(errno));
		free(l);
		return NULL;
	}
	l->size = fstat(l->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	l->max = max_bytes;
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

static void rotate(struct access_log *l)
{
	char old[PATH_MAX + 2];
	int fd;

	snprintf(old, sizeof(old), "%s.1", l->path);
	if (rename(l->path, old))
		return; /* keep writing where we are; the size check retries */
	fd = open_log(l->path);
	if (fd < 0)
		return;
	close(l->fd);
	l->fd = fd;
	l->size = 0;
}

void alog_write(struct access_log *l, const char *p, size_t len)
{
	if (!l || !len)
		return;
	/* a batch larger than the bound itself keeps its newest whole lines
	 * (the oldest go, as rotation would have dropped them): never
	 * written past the bound */
	if (len > l->max) {
		const char *from = p + (len - (size_t)l->max);

		if (from[-1] != '\n') {
			const char *nl = memchr(from, '\n', (size_t)(p + len - from));

			if (!nl)
				return; /* one line longer than the bound: not kept */
			from = nl + 1;
		}
		len -= (size_t)(from - p);
		p = from;
		if (!len)
			return;
	}
	pthread_mutex_lock(&l->lock);
	if (l->size + len > l->max)
		rotate(l);
	while (len) {
		ssize_t n = write(l->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		len -= (size_t)n;
		l->size += (uint64_t)n;
	}
	pthread_mutex_unlock(&l->lock);
}

void alog_close(struct access_log *l)
{
	if (!l)
		return;
	close(l->fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
