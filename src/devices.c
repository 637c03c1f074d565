#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "devices.h"
#include "discovery.h"
#include "jid.h"

struct mxb_devices {
	struct mxb_device **slots; /* open addressing on the local part */
	size_t cap, len, max;
	uint64_t epoch;
};

uint64_t mxb_devices_epoch(const struct mxb_devices *d)
{
	return d->epoch;
}

void mxb_devices_next_epoch(struct mxb_devices *d)
{
	d->epoch++;
}

static uint64_t hash_local(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 1099511628211ull;
	}
	return h;
}

struct mxb_devices *mxb_devices_create(size_t max)
{
	struct mxb_devices *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->max = max;
	d->cap = 64;
	d->slots = calloc(d->cap, sizeof(*d->slots));
	if (!d->slots) {
		free(d);
		return NULL;
	}
	return d;
}

static void device_free(struct mxb_device *dev)
{
	free(dev->name);
	free(dev->local);
	free(dev->status);
	mxb_strlist_finish(&dev->subscribers);
	if (dev->disc)
		mxb_discovery_finish(dev->disc);
	free(dev->disc);
	free(dev);
}

void mxb_devices_destroy(struct mxb_devices *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->cap; i++) {
		if (d->slots[i])
			device_free(d->slots[i]);
	}
	free(d->slots);
	free(d);
}

bool mxb_device_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > MXB_DEVICE_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		/* Plain ASCII keeps local parts stable under the server's normalization. */
		if (c >= 0x80 || c <= 0x20 || strchr("\"&'/:<>@\\", c))
			return false;
	}
	return true;
}

struct mxb_device *mxb_devices_find(struct mxb_devices *d, const char *local)
{
	size_t mask = d->cap - 1;
	for (size_t i = hash_local(local) & mask;; i = (i + 1) & mask) {
		struct mxb_device *dev = d->slots[i];
		if (!dev)
			return NULL;
		if (strcasecmp(dev->local, local) == 0)
			return dev;
	}
}

static int grow(struct mxb_devices *d)
{
	size_t cap = d->cap * 2;
	struct mxb_device **slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < d->cap; i++) {
		struct mxb_device *dev = d->slots[i];
		if (!dev)
			continue;
		size_t j = hash_local(dev->local) & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = dev;
	}
	free(d->slots);
	d->slots = slots;
	d->cap = cap;
	return 0;
}

struct mxb_device *mxb_devices_get(struct mxb_devices *d, const char *name, bool *full)
{
	if (full)
		*full = false;
	if (!mxb_device_name_valid(name))
		return NULL;
	struct mxb_device *dev = mxb_devices_find(d, name);
	if (dev)
		return dev;
	if (d->len >= d->max) {
		if (full)
			*full = true;
		return NULL;
	}
	if (2 * (d->len + 1) > d->cap && grow(d) < 0)
		return NULL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->name = strdup(name);
	dev->local = strdup(name);
	if (!dev->name || !dev->local) {
		device_free(dev);
		return NULL;
	}
	for (char *p = dev->local; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	size_t i = hash_local(dev->local) & (d->cap - 1);
	while (d->slots[i])
		i = (i + 1) & (d->cap - 1);
	d->slots[i] = dev;
	d->len++;
	return dev;
}

void mxb_devices_set_max(struct mxb_devices *d, size_t max)
{
	d->max = max;
}

size_t mxb_devices_count(const struct mxb_devices *d)
{
	return d->len;
}

void mxb_devices_each(
	struct mxb_devices *d, void (*fn)(struct mxb_device *dev, void *data), void *data)
{
	for (size_t i = 0; i < d->cap; i++) {
		if (d->slots[i])
			fn(d->slots[i], data);
	}
}

/* Compares s[0..len) to want without case and surrounding white space. */
static bool same_word(const char *s, size_t len, const char *want)
{
	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return want && strlen(want) == len && strncasecmp(s, want, len) == 0;
}

enum mxb_availability mxb_device_availability(
	const struct mxb_device_rule *rule, const char *payload, size_t len)
{
	if (same_word(payload, len, rule->online))
		return MXB_AVAIL_ONLINE;
	if (same_word(payload, len, rule->offline))
		return MXB_AVAIL_OFFLINE;
	if (len == 0 || len > 4096)
		return MXB_AVAIL_UNKNOWN;
	cJSON *json = cJSON_ParseWithLength(payload, len);
	enum mxb_availability a = MXB_AVAIL_UNKNOWN;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, "state");
	if (!cJSON_IsString(v))
		v = cJSON_GetObjectItemCaseSensitive(json, "availability");
	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		if (same_word(s, strlen(s), rule->online))
			a = MXB_AVAIL_ONLINE;
		else if (same_word(s, strlen(s), rule->offline))
			a = MXB_AVAIL_OFFLINE;
	}
	cJSON_Delete(json);
	return a;
}

static bool in_list(const struct mxb_strlist *l, const char *value)
{
	for (size_t i = 0; i < l->len; i++) {
		if (same_word(value, strlen(value), l->v[i]))
			return true;
	}
	return false;
}

const char *mxb_device_show(const struct mxb_device_rule *rule, const char *value)
{
	if (in_list(&rule->dnd, value))
		return "dnd";
	if (in_list(&rule->xa, value))
		return "xa";
	if (in_list(&rule->away, value))
		return "away";
	return NULL;
}

int mxb_device_set_status(struct mxb_device *dev, const char *status)
{
	char *copy = status ? strdup(status) : NULL;
	if (status && !copy)
		return -ENOMEM;
	free(dev->status);
	dev->status = copy;
	return 0;
}

int mxb_device_add_subscriber(struct mxb_device *dev, const char *jid)
{
	for (size_t i = 0; i < dev->subscribers.len; i++) {
		if (mxb_jid_bare_equal(dev->subscribers.v[i], jid))
			return 0;
	}
	if (dev->subscribers.len >= MXB_DEVICE_SUBSCRIBERS_MAX)
		return -ENOSPC;
	return mxb_strlist_push(&dev->subscribers, jid);
}

void mxb_device_remove_subscriber(struct mxb_device *dev, const char *jid)
{
	struct mxb_strlist *l = &dev->subscribers;
	for (size_t i = 0; i < l->len; i++) {
		if (!mxb_jid_bare_equal(l->v[i], jid))
			continue;
		free(l->v[i]);
		l->v[i] = l->v[--l->len];
		l->v[l->len] = NULL;
		return;
	}
}

bool mxb_device_allowed(const struct mxb_device_rule *rule, const char *jid)
{
	for (size_t i = 0; i < rule->allow.len; i++) {
		if (mxb_access_jid_matches(rule->allow.v[i], jid))
			return true;
	}
	return false;
}
