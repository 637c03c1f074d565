#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reload.h"
#include "route.h"
#include "text.h"
#include "throttle.h"
#include "topic.h"

/* Topics remembered per throttled route. */
#define THROTTLE_TOPICS_MAX 10000

/*
 * Index ids: notify route i is i; device rule i's availability filter is N + Si, its state
 * filter N + Si + 1, its convention's reports N + Si + 2 + k, with N the number of notify
 * routes and S the ids per rule.
 */
#define RULE_IDS (2 + MXB_DEVICE_REPORTS_MAX)
struct mxb_routes {
	/*
	 * The routes as they were when built: a reload swaps the config's route arrays, and
	 * the old ones must still be found through the routes built from them.
	 */
	const struct mxb_config *cfg; /* bridge.max_payload, read when deciding */
	const struct mxb_notify_route *notify;
	size_t notify_len;
	struct mxb_topic_index *index;
	struct mxb_throttle **throttles; /* per notify route, NULL when it has no limits */
	size_t *throttled; /* indexes of the routes that have one */
	size_t throttled_len;
	struct mxb_route_ref *matches; /* one slot per filter */
	size_t matches_len;
	char *encoded; /* for base64 and hex payloads */
	size_t encoded_cap;
};

void mxb_routes_destroy(struct mxb_routes *r)
{
	if (!r)
		return;
	mxb_topic_index_destroy(r->index);
	for (size_t i = 0; r->throttles && i < r->notify_len; i++)
		mxb_throttle_destroy(r->throttles[i]);
	free(r->throttles);
	free(r->throttled);
	free(r->matches);
	free(r->encoded);
	free(r);
}

int mxb_routes_create(struct mxb_routes **out, const struct mxb_config *cfg)
{
	struct mxb_routes *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = cfg;
	r->notify = cfg->notify;
	r->notify_len = cfg->notify_len;
	size_t n = cfg->notify_len, nfilters = n + RULE_IDS * cfg->devices_len;
	size_t max_payload = cfg->bridge.max_payload;
	for (size_t i = 0; i < n; i++) {
		/* An upload route never encodes: its payloads, often large, need no room here. */
		if (cfg->notify[i].binary != MXB_BINARY_UPLOAD &&
			cfg->notify[i].max_payload > max_payload)
			max_payload = cfg->notify[i].max_payload;
	}
	r->index = mxb_topic_index_create();
	r->throttles = calloc(n ? n : 1, sizeof(*r->throttles));
	r->throttled = calloc(n ? n : 1, sizeof(*r->throttled));
	r->matches = calloc(nfilters ? nfilters : 1, sizeof(*r->matches));
	/* base64 needs 4/3, hex 2 bytes per byte */
	r->encoded_cap = 2 * max_payload + 4;
	r->encoded = malloc(r->encoded_cap);
	if (!r->index || !r->throttles || !r->throttled || !r->matches || !r->encoded)
		goto err_destroy;
	for (size_t i = 0; i < n; i++) {
		const struct mxb_notify_route *route = &cfg->notify[i];
		if (mxb_topic_index_add(r->index, route->topic, i) < 0)
			goto err_destroy;
		if (route->min_interval == 0 && !route->only_changes)
			continue;
		r->throttles[i] = mxb_throttle_create((int64_t)route->min_interval * 1000,
			route->only_changes, THROTTLE_TOPICS_MAX);
		if (!r->throttles[i])
			goto err_destroy;
		r->throttled[r->throttled_len++] = i;
	}
	for (size_t i = 0; i < cfg->devices_len; i++) {
		const struct mxb_device_rule *d = &cfg->devices[i];
		size_t id = n + RULE_IDS * i;
		if (d->availability && mxb_topic_index_add(r->index, d->availability, id) < 0)
			goto err_destroy;
		if (d->state && mxb_topic_index_add(r->index, d->state, id + 1) < 0)
			goto err_destroy;
		for (size_t k = 0; k < d->reports_len; k++) {
			if (mxb_topic_index_add(r->index, d->reports[k], id + 2 + k) < 0)
				goto err_destroy;
		}
	}
	*out = r;
	return 0;

err_destroy:
	mxb_routes_destroy(r);
	return -ENOMEM;
}

static void collect(size_t id, void *data)
{
	struct mxb_routes *r = data;
	size_t n = r->notify_len;
	struct mxb_route_ref ref = {MXB_ROUTE_NOTIFY, id, 0};
	if (id >= n) {
		size_t slot = (id - n) % RULE_IDS;
		ref = (struct mxb_route_ref){slot == 0   ? MXB_ROUTE_AVAILABILITY
					     : slot == 1 ? MXB_ROUTE_STATE
							 : MXB_ROUTE_REPORT,
			(id - n) / RULE_IDS, slot >= 2 ? slot - 2 : 0};
	}
	r->matches[r->matches_len++] = ref;
}

static int by_kind_then_index(const void *a, const void *b)
{
	const struct mxb_route_ref *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

size_t mxb_routes_match(struct mxb_routes *r, const char *topic, const struct mxb_route_ref **refs)
{
	r->matches_len = 0;
	mxb_topic_index_match(r->index, topic, collect, r);
	/* Routes act in the order of the file, whatever order the trie found them in. */
	if (r->matches_len > 1)
		qsort(r->matches, r->matches_len, sizeof(*r->matches), by_kind_then_index);
	*refs = r->matches;
	return r->matches_len;
}

enum mxb_route_verdict mxb_routes_decide(struct mxb_routes *r, size_t i,
	struct mxb_route_message *msg, int64_t now, const char **payload, size_t *len)
{
	const struct mxb_notify_route *route = &r->notify[i];
	/* A retained message replayed on subscribe is old news, not an event. */
	if (msg->retain && !route->retained)
		return MXB_ROUTE_RETAINED;
	size_t max = route->max_payload ? route->max_payload : r->cfg->bridge.max_payload;
	if (msg->len > max)
		return MXB_ROUTE_TOO_LARGE;
	*payload = msg->payload;
	*len = msg->len;
	if (route->binary != MXB_BINARY_TEXT) {
		/* Looked at once per message, and only when a route cares. */
		if (msg->binary < 0)
			msg->binary = mxb_text_is_binary(msg->payload, msg->len);
		if (msg->binary) {
			ssize_t n = 0;
			switch (route->binary) {
			case MXB_BINARY_TEXT:
				break;
			case MXB_BINARY_SKIP:
				return MXB_ROUTE_BINARY_SKIPPED;
			case MXB_BINARY_UPLOAD:
				n = (ssize_t)msg->len;
				break;
			case MXB_BINARY_BASE64:
				n = mxb_text_base64(
					msg->payload, msg->len, r->encoded, r->encoded_cap);
				break;
			case MXB_BINARY_HEX:
				n = mxb_text_hex(
					msg->payload, msg->len, r->encoded, r->encoded_cap);
				break;
			}
			if (n < 0) /* not after the size check above: encoded_cap covers it */
				return MXB_ROUTE_TOO_LARGE;
			if (route->binary == MXB_BINARY_BASE64 || route->binary == MXB_BINARY_HEX) {
				*payload = r->encoded;
				*len = (size_t)n;
			}
		}
	}
	struct mxb_throttle *th = r->throttles[i];
	if (th) {
		int v = mxb_throttle_offer(th, msg->topic, *payload, *len, now);
		if (v == MXB_THROTTLE_HELD)
			return MXB_ROUTE_HELD;
		if (v == MXB_THROTTLE_SAME)
			return MXB_ROUTE_UNCHANGED;
	}
	if (route->binary == MXB_BINARY_UPLOAD && msg->binary > 0)
		return MXB_ROUTE_UPLOAD;
	return MXB_ROUTE_SEND;
}

struct due {
	size_t route;
	mxb_routes_due_fn fn;
	void *data;
};

static void send_due(const char *topic, const char *payload, size_t len, void *data)
{
	struct due *d = data;
	d->fn(d->route, topic, payload, len, d->data);
}

int64_t mxb_routes_due(struct mxb_routes *r, int64_t now, mxb_routes_due_fn fn, void *data)
{
	int64_t next = INT64_MAX;
	/* Runs on every pass of the loop: walk only the routes that throttle. */
	for (size_t k = 0; k < r->throttled_len; k++) {
		size_t i = r->throttled[k];
		struct due d = {.route = i, .fn = fn, .data = data};
		int64_t t = mxb_throttle_due(r->throttles[i], now, send_due, &d);
		if (t < next)
			next = t;
	}
	return next;
}

int mxb_routes_adopt(struct mxb_routes *fresh, struct mxb_routes *old)
{
	size_t *pair = malloc((fresh->notify_len ? fresh->notify_len : 1) * sizeof(*pair));
	if (!pair)
		return -ENOMEM;
	int r = mxb_reload_pair_throttles(
		old->notify, old->notify_len, fresh->notify, fresh->notify_len, pair);
	if (r < 0) {
		free(pair);
		return r;
	}
	int kept = 0;
	for (size_t j = 0; j < fresh->notify_len; j++) {
		if (pair[j] == SIZE_MAX)
			continue;
		struct mxb_throttle *t = fresh->throttles[j];
		fresh->throttles[j] = old->throttles[pair[j]];
		old->throttles[pair[j]] = t;
		kept++;
	}
	free(pair);
	return kept;
}
