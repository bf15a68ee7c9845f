// SPDX-License-Identifier: MIT
/*
 * Watches: a streamed GET ?watch=1 whose body is one JSON event per line.
 * Each watch has its own easy handle in its own multi handle, so that
 * curl_multi_poll waits for bytes and curl_multi_wakeup (thread-safe) can
 * cut the wait short: a stop from another thread takes effect at once
 * rather than at the next byte or progress tick.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s.h"
#include "k8s_int.h"

#define WATCH_ERR_BODY_MAX (64u << 10) /* an error answer's Status */
#define WATCH_SLACK_S	   30	       /* beyond timeoutSeconds before we give up on the server */

static const char *const ev_names[] = {
    [AZDS_K8S_ADDED] = "ADDED",	      [AZDS_K8S_MODIFIED] = "MODIFIED", [AZDS_K8S_DELETED] = "DELETED",
    [AZDS_K8S_BOOKMARK] = "BOOKMARK", [AZDS_K8S_ERROR] = "ERROR",
};

const char *azds_k8s_ev_name(enum azds_k8s_ev_type t)
{
	return (unsigned)t < sizeof(ev_names) / sizeof(ev_names[0]) ? ev_names[t] : "?";
}

/* ------------------------------------------------------------- splitter */

int azds_k8s_lines_init(struct azds_k8s_lines *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max ? max : AZDS_K8S_LINE_MAX;
	return 0;
}

void azds_k8s_lines_free(struct azds_k8s_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

static int lines_keep(struct azds_k8s_lines *l, const char *data, size_t n)
{
	if (n > l->max - l->len)
		return -EMSGSIZE;
	if (l->len + n > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		while (cap < l->len + n)
			cap *= 2;
		if (cap > l->max)
			cap = l->max;
		char *p = realloc(l->buf, cap);
		if (!p)
			return -ENOMEM;
		l->buf = p;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, data, n);
	l->len += n;
	return 0;
}

/* A line without its "\r" if any; blank lines are nobody's event. */
static int line_out(const char *p, size_t n, azds_k8s_line_cb cb, void *arg)
{
	if (n && p[n - 1] == '\r')
		n--;
	return n ? cb(p, n, arg) : 0;
}

int azds_k8s_lines_feed(struct azds_k8s_lines *l, const char *data, size_t n, azds_k8s_line_cb cb, void *arg)
{
	int ret;
	if (l->len > l->max)
		return -EMSGSIZE;
	while (n) {
		const char *nl = memchr(data, '\n', n);
		if (!nl) {
			if ((ret = lines_keep(l, data, n)))
				l->len = l->max + 1;
			return ret;
		}
		size_t seg = (size_t)(nl - data);
		if (l->len) {
			/* The line began in an earlier chunk. */
			if ((ret = lines_keep(l, data, seg))) {
				l->len = l->max + 1; /* dead: the rest of this line is not an event */
				return ret;
			}
			ret = line_out(l->buf, l->len, cb, arg);
			l->len = 0;
		} else {
			/* Whole in this chunk: no copy. */
			if (seg > l->max) {
				l->len = l->max + 1;
				return -EMSGSIZE;
			}
			ret = line_out(data, seg, cb, arg);
		}
		if (ret)
			return ret;
		data = nl + 1;
		n -= seg + 1;
	}
	return 0;
}

/* --------------------------------------------------------------- events */

int azds_k8s_event_parse(const char *line, size_t len, struct azds_k8s_event *ev, struct azds_k8s_err *e)
{
	json_error_t je;
	memset(ev, 0, sizeof(*ev));
	ev->rv = "";
	json_t *j = json_loadb(line, len, 0, &je);
	if (!j)
		return k8s_err(e, -EBADMSG, "watch event: not JSON: %s (at byte %d)", je.text, je.position);
	const char *type = json_string_value(json_object_get(j, "type"));
	json_t *obj = json_object_get(j, "object");
	int t = -1;
	for (unsigned i = 0; type && i < sizeof(ev_names) / sizeof(ev_names[0]); i++)
		if (!strcmp(type, ev_names[i]))
			t = (int)i;
	if (t < 0 || !json_is_object(obj)) {
		int ret = k8s_err(e, -EBADMSG, "watch event: %s",
				  !type	  ? "no type"
				  : t < 0 ? "unknown type"
					  : "no object");
		json_decref(j);
		return ret;
	}
	ev->type = (enum azds_k8s_ev_type)t;
	ev->object = json_incref(obj);
	json_decref(j);
	const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	if (rv)
		ev->rv = rv;
	if (ev->type == AZDS_K8S_ERROR)
		ev->code = (int)json_integer_value(json_object_get(obj, "code"));
	return 0;
}

/* ---------------------------------------------------------------- watch */

struct azds_k8s_watch {
	struct azds_k8s *k;
	char path[AZDS_K8S_PATH_MAX]; /* with its selectors */
	unsigned timeout_s;
	size_t max_line;
	CURLM *multi;
	CURL *h;
	atomic_bool stop;
};

int azds_k8s_watch_new(struct azds_k8s_watch **out, struct azds_k8s *k, const struct azds_k8s_res *r, const char *ns,
		       const struct azds_k8s_watch_opts *o, struct azds_k8s_err *e)
{
	static const struct azds_k8s_watch_opts none;
	int ret;
	k8s_err_clear(e);
	if (!o)
		o = &none;
	struct azds_k8s_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return k8s_err(e, -ENOMEM, "out of memory");
	w->k = k;
	w->timeout_s = o->timeout_s ? o->timeout_s : 300;
	w->max_line = o->max_line ? o->max_line : AZDS_K8S_LINE_MAX;
	if ((ret = azds_k8s_path(w->path, sizeof(w->path), r, ns, NULL, NULL)) ||
	    (ret = k8s_query_add(w->path, sizeof(w->path), "labelSelector", o->label_selector)) ||
	    (ret = k8s_query_add(w->path, sizeof(w->path), "fieldSelector", o->field_selector))) {
		free(w);
		return k8s_err(e, ret, "watch %s: a bad namespace or a selector too long", r->resource);
	}
	if (!(w->multi = curl_multi_init()) || !(w->h = curl_easy_init())) {
		azds_k8s_watch_free(w);
		return k8s_err(e, -ENOMEM, "out of memory");
	}
	*out = w;
	return 0;
}

void azds_k8s_watch_free(struct azds_k8s_watch *w)
{
	if (!w)
		return;
	if (w->h)
		curl_easy_cleanup(w->h);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	free(w);
}

void azds_k8s_watch_stop(struct azds_k8s_watch *w)
{
	atomic_store(&w->stop, true);
	curl_multi_wakeup(w->multi);
}

struct run {
	struct azds_k8s_watch *w;
	struct azds_k8s_lines lines;
	struct k8s_buf errbody; /* the answer, when it is not 200 */
	long http;
	char *rv;
	azds_k8s_event_cb cb;
	void *arg;
	int result; /* set when a line ends the watch: CB's, ESTALE, EBADMSG... */
	struct azds_k8s_err *e;
};

static int on_line(const char *line, size_t len, void *arg)
{
	struct run *r = arg;
	struct azds_k8s_event ev;
	int ret = azds_k8s_event_parse(line, len, &ev, r->e);
	if (ret)
		return ret;
	if (ev.rv[0] && ev.type != AZDS_K8S_ERROR) {
		if (strlen(ev.rv) >= AZDS_K8S_RV_MAX) {
			json_decref(ev.object);
			return k8s_err(r->e, -EBADMSG, "watch event: resourceVersion too long");
		}
		strcpy(r->rv, ev.rv);
	}
	ret = r->cb(&ev, r->arg);
	if (!ret && ev.type == AZDS_K8S_ERROR)
		ret = k8s_status_err(r->e, 200, ev.object, "watch", r->w->path);
	json_decref(ev.object);
	return ret;
}

static size_t watch_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct run *r = arg;
	size_t n = size * nmemb;
	if (!r->http)
		curl_easy_getinfo(r->w->h, CURLINFO_RESPONSE_CODE, &r->http);
	if (r->http != 200) {
		if (n > r->errbody.max - r->errbody.len)
			n = r->errbody.max - r->errbody.len; /* enough of a Status to say why */
		char *p = realloc(r->errbody.p, r->errbody.len + n + 1);
		if (!p)
			return 0;
		memcpy(p + r->errbody.len, data, n);
		r->errbody.p = p;
		r->errbody.len += n;
		p[r->errbody.len] = 0;
		return size * nmemb;
	}
	int ret = azds_k8s_lines_feed(&r->lines, data, n, on_line, r);
	if (ret == -EMSGSIZE)
		ret = k8s_err(r->e, ret, "watch %s: an event longer than %zu bytes", r->w->path, r->lines.max);
	if (ret) {
		r->result = ret;
		return 0; /* abort the transfer */
	}
	return n;
}

static int watch_url(struct azds_k8s_watch *w, const char *rv, char *url, size_t len)
{
	char q[AZDS_K8S_PATH_MAX + 128], to[16];
	snprintf(q, sizeof(q), "%s", w->path);
	snprintf(to, sizeof(to), "%u", w->timeout_s);
	if (k8s_query_add(q, sizeof(q), "watch", "1") || k8s_query_add(q, sizeof(q), "allowWatchBookmarks", "true") ||
	    k8s_query_add(q, sizeof(q), "timeoutSeconds", to) ||
	    k8s_query_add(q, sizeof(q), "resourceVersion", rv[0] ? rv : NULL))
		return -ENAMETOOLONG;
	if ((size_t)snprintf(url, len, "%s%s", w->k->server, q) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Runs the transfer until it ends or a stop. */
static CURLcode watch_loop(struct azds_k8s_watch *w, bool *stopped)
{
	CURLcode rc = CURLE_OK;
	int running = 1;
	while (running) {
		if (atomic_load(&w->stop)) {
			*stopped = true;
			return CURLE_OK;
		}
		CURLMcode mc = curl_multi_perform(w->multi, &running);
		if (mc != CURLM_OK)
			return CURLE_RECV_ERROR;
		if (!running)
			break;
		mc = curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK)
			return CURLE_RECV_ERROR;
	}
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(w->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == w->h)
			rc = m->data.result;
	return rc;
}

int azds_k8s_watch_run(struct azds_k8s_watch *w, char rv[AZDS_K8S_RV_MAX], azds_k8s_event_cb cb, void *arg,
		       struct azds_k8s_err *e)
{
	char url[sizeof(w->k->server) + AZDS_K8S_PATH_MAX + 128], errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs = NULL;
	struct run r = {.w = w, .rv = rv, .cb = cb, .arg = arg, .e = e, .errbody.max = WATCH_ERR_BODY_MAX};
	bool stopped = false;
	int ret;

	k8s_err_clear(e);
	if (atomic_load(&w->stop))
		return k8s_err(e, -ECANCELED, "watch %s: stopped", w->path);
	if ((ret = watch_url(w, rv, url, sizeof(url))))
		return k8s_err(e, ret, "watch %s: URL too long", w->path);
	azds_k8s_lines_init(&r.lines, w->max_line);
	curl_easy_reset(w->h);
	if ((ret = k8s_easy_setup(w->k, w->h, url, &hdrs, errbuf))) {
		azds_k8s_lines_free(&r.lines);
		return k8s_err(e, ret, "watch %s: setting the request up failed", w->path);
	}
	curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(w->h, CURLOPT_CONNECTTIMEOUT_MS, (long)w->k->connect_ms);
	/* The server ends the watch at timeoutSeconds; this is for a server that never does. */
	curl_easy_setopt(w->h, CURLOPT_TIMEOUT_MS, (long)(w->timeout_s + WATCH_SLACK_S) * 1000L);
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, &r);
	curl_multi_add_handle(w->multi, w->h);
	CURLcode rc = watch_loop(w, &stopped);
	curl_multi_remove_handle(w->multi, w->h);
	curl_slist_free_all(hdrs);

	if (stopped)
		ret = k8s_err(e, -ECANCELED, "watch %s: stopped", w->path);
	else if (r.result)
		ret = r.result; /* E says why already (or it is CB's own value) */
	else if (rc != CURLE_OK)
		ret = k8s_curl_err(e, rc, "watch", url, errbuf);
	else if (!r.http)
		curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &r.http);
	if (!ret && !stopped && r.http != 200) {
		json_t *j = r.errbody.len ? json_loadb(r.errbody.p, r.errbody.len, 0, NULL) : NULL;
		ret = r.http >= 400 ? k8s_status_err(e, r.http, j, "watch", w->path)
				    : k8s_err(e, -EPROTO, "watch %s: unexpected HTTP %ld", w->path, r.http);
		json_decref(j);
		if (r.http == 401)
			k8s_token_reload(w->k); /* the next run tries a rotated token */
	}
	if (!ret && r.lines.len)
		ret = k8s_err(e, -EBADMSG, "watch %s: the stream ended inside an event", w->path);
	azds_k8s_lines_free(&r.lines);
	free(r.errbody.p);
	return ret;
}
