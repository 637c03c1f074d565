#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "throttle.h"

struct entry {
	struct entry *next; /* in its bucket */
	char *topic;
	uint64_t hash;
	int64_t last_sent;
	bool sent;
	char *last;
	size_t last_len;
	bool has_pending;
	char *pending;
	size_t pending_len;
};

struct mxb_throttle {
	int64_t interval;
	bool only_changes;
	size_t max_topics;
	struct entry **buckets;
	size_t nbuckets;
	size_t len;
	size_t pending;
	size_t cursor; /* where eviction looks next */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

struct mxb_throttle *mxb_throttle_create(int64_t interval_ms, bool only_changes, size_t max_topics)
{
	struct mxb_throttle *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->interval = interval_ms;
	t->only_changes = only_changes;
	t->max_topics = max_topics ? max_topics : 1;
	/* Grown as topics come: most routes see a few, and the tick walks every bucket. */
	t->nbuckets = 16;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	return t;
}

static void entry_free(struct entry *e)
{
	free(e->topic);
	free(e->last);
	free(e->pending);
	free(e);
}

void mxb_throttle_destroy(struct mxb_throttle *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct entry *e = t->buckets[i];
		while (e) {
			struct entry *next = e->next;
			entry_free(e);
			e = next;
		}
	}
	free(t->buckets);
	free(t);
}

size_t mxb_throttle_size(const struct mxb_throttle *t)
{
	return t->len;
}

static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int copy(char **dst, size_t *dst_len, const char *src, size_t len)
{
	char *p = malloc(len ? len : 1);
	if (!p)
		return -ENOMEM;
	if (len)
		memcpy(p, src, len);
	free(*dst);
	*dst = p;
	*dst_len = len;
	return 0;
}

/* Forgets one topic with nothing pending, to make room. */
static void evict_one(struct mxb_throttle *t)
{
	for (size_t n = 0; n < t->nbuckets; n++) {
		size_t i = (t->cursor + n) % t->nbuckets;
		for (struct entry **pp = &t->buckets[i]; *pp; pp = &(*pp)->next) {
			if ((*pp)->has_pending)
				continue;
			struct entry *e = *pp;
			*pp = e->next;
			entry_free(e);
			t->len--;
			t->cursor = i + 1;
			return;
		}
	}
}

/* Doubles the buckets once there are more topics than buckets; on ENOMEM stays as it is. */
static void grow(struct mxb_throttle *t)
{
	if (t->len < t->nbuckets || t->nbuckets >= (1u << 20))
		return;
	size_t n = 2 * t->nbuckets;
	struct entry **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (struct entry *e = t->buckets[i], *next; e; e = next) {
			next = e->next;
			size_t j = e->hash & (n - 1);
			e->next = b[j];
			b[j] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
	t->cursor = 0;
}

static struct entry *lookup(struct mxb_throttle *t, const char *topic, bool create)
{
	uint64_t h = hash_str(topic);
	size_t i = h & (t->nbuckets - 1);
	for (struct entry *e = t->buckets[i]; e; e = e->next) {
		if (e->hash == h && strcmp(e->topic, topic) == 0)
			return e;
	}
	if (!create)
		return NULL;
	if (t->len >= t->max_topics)
		evict_one(t);
	grow(t);
	i = h & (t->nbuckets - 1);
	struct entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->topic = strdup(topic);
	if (!e->topic) {
		free(e);
		return NULL;
	}
	e->hash = h;
	e->next = t->buckets[i];
	t->buckets[i] = e;
	t->len++;
	return e;
}

static int record_sent(
	struct mxb_throttle *t, struct entry *e, const char *payload, size_t len, int64_t now)
{
	e->sent = true;
	e->last_sent = now;
	if (t->only_changes)
		return copy(&e->last, &e->last_len, payload, len);
	return 0;
}

int mxb_throttle_offer(
	struct mxb_throttle *t, const char *topic, const char *payload, size_t len, int64_t now)
{
	struct entry *e = lookup(t, topic, true);
	if (!e)
		return -ENOMEM;
	bool unchanged = t->only_changes && e->sent && same(e->last, e->last_len, payload, len);
	if (e->sent && t->interval > 0 && now - e->last_sent < t->interval) {
		/* Within the interval: the latest value waits; an unchanged one cancels it. */
		if (unchanged) {
			if (e->has_pending) {
				e->has_pending = false;
				t->pending--;
			}
			return MXB_THROTTLE_SAME;
		}
		if (copy(&e->pending, &e->pending_len, payload, len) < 0)
			return -ENOMEM;
		if (!e->has_pending) {
			e->has_pending = true;
			t->pending++;
		}
		return MXB_THROTTLE_HELD;
	}
	/* A held value the tick has not sent yet is superseded by this newer one. */
	if (e->has_pending) {
		e->has_pending = false;
		t->pending--;
	}
	if (unchanged)
		return MXB_THROTTLE_SAME;
	if (record_sent(t, e, payload, len, now) < 0)
		return -ENOMEM;
	return MXB_THROTTLE_SEND;
}

int64_t mxb_throttle_due(struct mxb_throttle *t, int64_t now, mxb_throttle_fn fn, void *data)
{
	int64_t next = INT64_MAX;
	if (t->pending == 0)
		return next;
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (struct entry *e = t->buckets[i]; e; e = e->next) {
			if (!e->has_pending)
				continue;
			int64_t due = e->last_sent + t->interval;
			if (due > now) {
				if (due < next)
					next = due;
				continue;
			}
			e->has_pending = false;
			t->pending--;
			fn(e->topic, e->pending, e->pending_len, data);
			/* On ENOMEM only only_changes loses its memory of this topic. */
			if (record_sent(t, e, e->pending, e->pending_len, now) < 0)
				e->sent = false;
		}
	}
	return next;
}
