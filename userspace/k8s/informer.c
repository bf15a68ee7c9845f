// SPDX-License-Identifier: MIT
/*
 * The informer: list, then watch from the list's resourceVersion, for
 * ever. A watch the server ended resumes from the last resourceVersion
 * (bookmarks keep it fresh, so a quiet kind does not fall out of the
 * watch cache's window); 410 lists again; any other error keeps the
 * resourceVersion and retries after a backoff that doubles up to a
 * bound, with jitter so that a restarted API server is not met by every
 * node at the same instant.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8s.h"
#include "k8s_int.h"

struct azds_k8s_informer {
	struct azds_k8s *k;
	const struct azds_k8s_res *r;
	char ns[254];
	bool all_ns;
	struct azds_k8s_list_opts lo;
	char label[1024], field[1024];
	long min_ms, max_ms;
	size_t max_items;
	struct azds_k8s_informer_ops ops;
	void *arg;
	struct azds_k8s_watch *w;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	atomic_bool stop;
	char rv[AZDS_K8S_RV_MAX]; /* under mu for azds_k8s_informer_rv */
	uint64_t rnd;
	int cb_ret; /* a callback's non-zero return, passed out of list/watch */
};

#define CB_STOP 1 /* what our wrappers return to stop the list or watch when CB_RET is set */

int azds_k8s_informer_new(struct azds_k8s_informer **out, struct azds_k8s *k, const struct azds_k8s_res *r,
			  const char *ns, const struct azds_k8s_informer_opts *o,
			  const struct azds_k8s_informer_ops *ops, void *arg, struct azds_k8s_err *e)
{
	static const struct azds_k8s_informer_opts none;
	k8s_err_clear(e);
	if (!o)
		o = &none;
	if (!ops->object)
		return k8s_err(e, -EINVAL, "informer %s: no object callback", r->resource);
	struct azds_k8s_informer *inf = calloc(1, sizeof(*inf));
	if (!inf)
		return k8s_err(e, -ENOMEM, "out of memory");
	inf->k = k;
	inf->r = r;
	inf->all_ns = !ns;
	if ((ns && strlen(ns) >= sizeof(inf->ns)) ||
	    (o->label_selector && strlen(o->label_selector) >= sizeof(inf->label)) ||
	    (o->field_selector && strlen(o->field_selector) >= sizeof(inf->field))) {
		free(inf);
		return k8s_err(e, -ENAMETOOLONG, "informer %s: namespace or selector too long", r->resource);
	}
	if (ns)
		strcpy(inf->ns, ns);
	if (o->label_selector) {
		strcpy(inf->label, o->label_selector);
		inf->lo.label_selector = inf->label;
	}
	if (o->field_selector) {
		strcpy(inf->field, o->field_selector);
		inf->lo.field_selector = inf->field;
	}
	inf->min_ms = o->backoff_min_ms > 0 ? o->backoff_min_ms : 200;
	inf->max_ms = o->backoff_max_ms > 0 ? o->backoff_max_ms : 30000;
	if (inf->max_ms < inf->min_ms)
		inf->max_ms = inf->min_ms;
	inf->max_items = o->max_items;
	inf->ops = *ops;
	inf->arg = arg;
	inf->rnd = (uint64_t)time(NULL) * 6364136223846793005ull ^ (uint64_t)getpid() ^ (uintptr_t)inf;
	pthread_mutex_init(&inf->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&inf->cond, &ca);
	pthread_condattr_destroy(&ca);
	struct azds_k8s_watch_opts wo = {.label_selector = inf->lo.label_selector,
					 .field_selector = inf->lo.field_selector,
					 .timeout_s = o->watch_timeout_s};
	int ret = azds_k8s_watch_new(&inf->w, k, r, ns, &wo, e);
	if (ret) {
		azds_k8s_informer_free(inf);
		return ret;
	}
	*out = inf;
	return 0;
}

void azds_k8s_informer_free(struct azds_k8s_informer *inf)
{
	if (!inf)
		return;
	azds_k8s_watch_free(inf->w);
	pthread_mutex_destroy(&inf->mu);
	pthread_cond_destroy(&inf->cond);
	free(inf);
}

void azds_k8s_informer_stop(struct azds_k8s_informer *inf)
{
	pthread_mutex_lock(&inf->mu);
	atomic_store(&inf->stop, true);
	pthread_cond_broadcast(&inf->cond);
	pthread_mutex_unlock(&inf->mu);
	if (inf->w)
		azds_k8s_watch_stop(inf->w);
}

void azds_k8s_informer_rv(struct azds_k8s_informer *inf, char rv[AZDS_K8S_RV_MAX])
{
	pthread_mutex_lock(&inf->mu);
	memcpy(rv, inf->rv, AZDS_K8S_RV_MAX);
	pthread_mutex_unlock(&inf->mu);
}

static void set_rv(struct azds_k8s_informer *inf, const char *rv)
{
	pthread_mutex_lock(&inf->mu);
	snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
	pthread_mutex_unlock(&inf->mu);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Half the delay fixed, half random ("equal jitter"). */
static long jitter(struct azds_k8s_informer *inf, long ms)
{
	inf->rnd ^= inf->rnd << 13;
	inf->rnd ^= inf->rnd >> 7;
	inf->rnd ^= inf->rnd << 17;
	return ms / 2 + (long)(inf->rnd % (uint64_t)(ms / 2 + 1));
}

/* Sleeps MS unless stopped first: -ECANCELED then. */
static int pause_ms(struct azds_k8s_informer *inf, long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&inf->mu);
	while (!atomic_load(&inf->stop) && pthread_cond_timedwait(&inf->cond, &inf->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&inf->mu);
	return atomic_load(&inf->stop) ? -ECANCELED : 0;
}

static int on_item(json_t *item, void *arg)
{
	struct azds_k8s_informer *inf = arg;
	int ret = inf->ops.object(AZDS_K8S_ADDED, item, inf->arg);
	if (ret) {
		inf->cb_ret = ret;
		return CB_STOP;
	}
	return atomic_load(&inf->stop) ? CB_STOP : 0;
}

static int on_event(const struct azds_k8s_event *ev, void *arg)
{
	struct azds_k8s_informer *inf = arg;
	int ret = 0;
	if (ev->type <= AZDS_K8S_DELETED)
		ret = inf->ops.object(ev->type, ev->object, inf->arg);
	if (ret) {
		inf->cb_ret = ret;
		return CB_STOP;
	}
	return 0;
}

static int relist(struct azds_k8s_informer *inf, char rv[AZDS_K8S_RV_MAX], struct azds_k8s_err *e)
{
	int ret;
	if (inf->ops.begin && (ret = inf->ops.begin(inf->arg))) {
		inf->cb_ret = ret;
		return CB_STOP;
	}
	ret = azds_k8s_list_all(inf->k, inf->r, inf->all_ns ? NULL : inf->ns, &inf->lo, inf->max_items, on_item, inf,
				rv, e);
	if (ret)
		return ret;
	if (inf->ops.synced && (ret = inf->ops.synced(inf->arg))) {
		inf->cb_ret = ret;
		return CB_STOP;
	}
	return 0;
}

int azds_k8s_informer_run(struct azds_k8s_informer *inf, struct azds_k8s_err *e)
{
	char rv[AZDS_K8S_RV_MAX] = "";
	long backoff = inf->min_ms;
	bool listed = false;
	int ret;

	for (;;) {
		if (atomic_load(&inf->stop))
			return k8s_err(e, -ECANCELED, "informer %s: stopped", inf->r->resource);
		if (!listed) {
			ret = relist(inf, rv, e);
			if (!ret) {
				listed = true;
				set_rv(inf, rv);
			}
		} else {
			long t0 = now_ms();
			ret = azds_k8s_watch_run(inf->w, rv, on_event, inf, e);
			set_rv(inf, rv);
			/* A server that ends every watch at once must not make this a busy loop. */
			if (!ret && now_ms() - t0 < 1000)
				ret = k8s_err(e, -EAGAIN, "informer %s: the watch ended within a second",
					      inf->r->resource);
			if (ret == -ESTALE) {
				/* Straight to a list: the watch cache moved on, nothing is wrong. */
				listed = false;
				rv[0] = 0;
				continue;
			}
		}
		if (inf->cb_ret)
			return inf->cb_ret;
		if (ret == -ECANCELED || atomic_load(&inf->stop))
			return k8s_err(e, -ECANCELED, "informer %s: stopped", inf->r->resource);
		if (!ret) {
			backoff = inf->min_ms;
			continue;
		}
		if (ret == -ESTALE) /* a continue token expired mid-list */
			rv[0] = 0;
		long d = jitter(inf, backoff);
		if (inf->ops.retry)
			inf->ops.retry(ret, e, d, inf->arg);
		if (pause_ms(inf, d))
			return k8s_err(e, -ECANCELED, "informer %s: stopped", inf->r->resource);
		backoff = backoff * 2 > inf->max_ms ? inf->max_ms : backoff * 2;
	}
}
