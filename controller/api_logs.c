// SPDX-License-Identifier: MIT
/* GET /v1/pods/NAME/logs: a pod's log from an offset; follow parks the request. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "ctl.h"

#define LOG_CHUNK (256 * 1024) /* bytes of log per answer */
#define FOLLOW_WAIT_MS 10000

/* a pod whose process will not write to its log again (BackOff and
 * Pending will run it again: their followers wait) */
static bool pod_ended(int phase)
{
	return phase == ST_PHASE_SUCCEEDED || phase == ST_PHASE_FAILED || phase == ST_PHASE_STOPPED;
}

/* the log from ?offset, at most LOG_CHUNK; parks a follow request while
 * there is nothing new, up to FOLLOW_WAIT_MS from its first call (httpd
 * keeps the time it was parked in the request, so a client that goes away
 * leaves nothing behind here) */
void api_pod_logs(struct ctl *c, const struct httpd_req *r, const char *name, struct httpd_resp *w)
{
	const char *off = httpd_query(r, "offset");
	char path[PATH_MAX];
	long long from = off ? atoll(off) : 0;
	struct st_pod_status ps;
	struct stat st;
	int fd;

	if (strlen(name) >= ST_NAME_MAX || store_pod_get(c->st, name, NULL, &ps)) {
		httpd_error(w, 404, "pod \"%s\" does not exist", name);
		return;
	}
	ctl_pod_log_path(c, name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		st.st_size = 0;
	}
	if (from < 0 || from > st.st_size)
		from = 0; /* rotated: start over */
	if (from == st.st_size && httpd_query_true(r, "follow")) {
		bool waited = r->parked_since_ms && httpd_now_ms() - r->parked_since_ms >= FOLLOW_WAIT_MS;

		if (fd >= 0)
			close(fd);
		if (!waited && !pod_ended(ps.phase) && !c->stopping) {
			w->park = true;
			return;
		}
		w->status = 200;
		w->content_type = "text/plain";
		snprintf(w->extra_headers, sizeof(w->extra_headers), "X-Azds-Log-Offset: %lld\r\n", from);
		return;
	}
	size_t want = (size_t)(st.st_size - from) < LOG_CHUNK ? (size_t)(st.st_size - from) : LOG_CHUNK;
	char *buf = malloc(want + 1);
	ssize_t got = buf && fd >= 0 && want ? pread(fd, buf, want, from) : 0;

	if (fd >= 0)
		close(fd);
	if (got < 0)
		got = 0;
	w->status = 200;
	w->content_type = "text/plain";
	w->raw = buf;
	w->raw_len = (size_t)got;
	snprintf(w->extra_headers, sizeof(w->extra_headers), "X-Azds-Log-Offset: %lld\r\n", from + (long long)got);
}

