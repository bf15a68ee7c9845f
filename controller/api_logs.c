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
/*
 * ?since=MS (unix milliseconds): the offset of the first bytes the shim
 * wrote at or after MS, from its time index (FILE.idx, a line "<ms>
 * <offset>" at most every 250 ms of output): -1 when none came since.
 */
static long long since_offset(const char *log, long long since)
{
	char idx[PATH_MAX + 8], line[64];
	long long ms, offset, found = -1;
	FILE *f;

	snprintf(idx, sizeof(idx), "%s.idx", log);
	f = fopen(idx, "re");
	if (!f)
		return since <= 0 ? 0 : -1;
	/* a line marks the first write after a quiet 250 ms: bytes written
	 * up to 250 ms after a line share its offset, so the line before the
	 * first one at or after since counts when it is that close */
	long long prev_ms = -1, prev_off = -1;

	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lld %lld", &ms, &offset) != 2)
			continue;
		if (ms >= since) {
			found = prev_ms >= 0 && prev_ms > since - 250 ? prev_off : offset;
			break;
		}
		prev_ms = ms;
		prev_off = offset;
	}
	if (found < 0 && prev_ms >= 0 && prev_ms > since - 250)
		found = prev_off;
	fclose(f);
	return found;
}

void api_pod_logs(struct ctl *c, const struct httpd_req *r, const char *name, struct httpd_resp *w)
{
	const char *off = httpd_query(r, "offset"), *since = httpd_query(r, "since");
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
	if (since) {
		char *end;
		long long ms = strtoll(since, &end, 10);

		if (*end || end == since || ms < 0) {
			if (fd >= 0)
				close(fd);
			httpd_error(w, 400, "since=\"%s\": unix milliseconds expected", since);
			return;
		}
		from = since_offset(path, ms);
		if (from < 0)
			from = st.st_size; /* nothing written since */
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

