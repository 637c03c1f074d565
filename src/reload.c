#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reload.h"

static int by_topic(const void *a, const void *b)
{
	const struct mxb_filter *x = a, *y = b;
	return strcmp(x->topic, y->topic);
}

size_t mxb_reload_filters_normalize(struct mxb_filter *f, size_t len)
{
	if (len == 0)
		return 0;
	/* Sorted, equal filters sit together: n log n rather than n squared for big configs. */
	qsort(f, len, sizeof(*f), by_topic);
	size_t n = 0;
	for (size_t i = 1; i < len; i++) {
		if (strcmp(f[i].topic, f[n].topic) == 0) {
			if (f[i].qos > f[n].qos)
				f[n].qos = f[i].qos;
		} else {
			f[++n] = f[i];
		}
	}
	return n + 1;
}

void mxb_reload_filters_diff(const struct mxb_filter *old, size_t old_len,
	const struct mxb_filter *fresh, size_t fresh_len, const struct mxb_reload_ops *ops,
	void *data)
{
	size_t i = 0, j = 0;
	while (i < old_len || j < fresh_len) {
		int cmp = i == old_len     ? 1
			  : j == fresh_len ? -1
					   : strcmp(old[i].topic, fresh[j].topic);
		if (cmp < 0) {
			ops->unsubscribe(old[i++].topic, data);
		} else if (cmp > 0) {
			ops->subscribe(fresh[j].topic, fresh[j].qos, false, data);
			j++;
		} else {
			/* A lower QoS is left as it is: subscribing again resends retained ones. */
			if (fresh[j].qos > old[i].qos)
				ops->subscribe(fresh[j].topic, fresh[j].qos, true, data);
			i++;
			j++;
		}
	}
}

struct key {
	const struct mxb_notify_route *route;
	size_t index;
};

static int by_throttle(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = strcmp(x->route->topic, y->route->topic);
	if (c)
		return c;
	if (x->route->min_interval != y->route->min_interval)
		return x->route->min_interval < y->route->min_interval ? -1 : 1;
	if (x->route->only_changes != y->route->only_changes)
		return x->route->only_changes ? 1 : -1;
	/* The order of the file, so that equal routes pair first with first. */
	return x->index < y->index ? -1 : x->index > y->index;
}

static bool throttled(const struct mxb_notify_route *r)
{
	return r->min_interval > 0 || r->only_changes;
}

static struct key *keys_of(const struct mxb_notify_route *routes, size_t len, size_t *n)
{
	struct key *k = malloc((len ? len : 1) * sizeof(*k));
	if (!k)
		return NULL;
	*n = 0;
	for (size_t i = 0; i < len; i++) {
		if (throttled(&routes[i]))
			k[(*n)++] = (struct key){.route = &routes[i], .index = i};
	}
	qsort(k, *n, sizeof(*k), by_throttle);
	return k;
}

static bool same_throttle(const struct key *a, const struct key *b)
{
	return strcmp(a->route->topic, b->route->topic) == 0 &&
	       a->route->min_interval == b->route->min_interval &&
	       a->route->only_changes == b->route->only_changes;
}

int mxb_reload_pair_throttles(const struct mxb_notify_route *old, size_t old_len,
	const struct mxb_notify_route *fresh, size_t fresh_len, size_t *out)
{
	for (size_t j = 0; j < fresh_len; j++)
		out[j] = SIZE_MAX;
	size_t on, fn;
	struct key *ok = keys_of(old, old_len, &on);
	struct key *fk = keys_of(fresh, fresh_len, &fn);
	int ret = -ENOMEM;
	if (!ok || !fk)
		goto out;
	for (size_t i = 0, j = 0; i < on && j < fn;) {
		if (same_throttle(&ok[i], &fk[j])) {
			out[fk[j].index] = ok[i].index;
			i++;
			j++;
		} else if (by_throttle(&ok[i], &fk[j]) < 0) {
			i++;
		} else {
			j++;
		}
	}
	ret = 0;
out:
	free(ok);
	free(fk);
	return ret;
}
