/*
 * Devices from Home Assistant MQTT discovery (convention "homeassistant"): each retained
 * config on homeassistant/DOMAIN/[NODE/]OBJECT/config makes a device with the topics it
 * names; those topics are subscribed to and found again through a topic index of their
 * own. discovery.c reads the JSON; this subscribes, routes and logs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "bridge_device.h"
#include "config.h"
#include "devices.h"
#include "discovery.h"
#include "log.h"
#include "mqtt.h"
#include "text.h"
#include "topic.h"

/* Status text kept from a state message, as for every device. */
#define STATUS_MAX 512

/* Topic slots of a device in the index: its state topic, then its availability topics. */
#define SLOTS (1 + MXB_DISCOVERY_AVAIL_MAX)

struct ref {
	struct mxb_device *dev;
	size_t slot;
};

struct mxb_bridge_discovery {
	struct mxb_topic_index *index;
	/*
	 * What each index id stands for. The index cannot forget an entry: a device announced
	 * again with other topics gets new ids and the old ones go stale (a hit is checked
	 * against the device's topics); it is rebuilt when stale ids are the most.
	 */
	struct ref *refs;
	size_t len, cap, live;
	struct ref *hits;
	size_t hits_len;
};

void mxb_bridge_discovery_finish(struct mxb_bridge *b)
{
	struct mxb_bridge_discovery *d = b->discovery;
	if (!d)
		return;
	mxb_topic_index_destroy(d->index);
	free(d->refs);
	free(d->hits);
	free(d);
	b->discovery = NULL;
}

static const char *slot_topic(const struct mxb_discovered *disc, size_t slot)
{
	return slot == 0                    ? disc->state_topic
	       : slot - 1 < disc->avail_len ? disc->avail_topics[slot - 1]
					    : NULL;
}

/* The index entries a device has: its topics. */
static size_t slots_of(const struct mxb_discovered *disc)
{
	size_t n = 0;
	for (size_t s = 0; s < SLOTS; s++)
		n += slot_topic(disc, s) != NULL;
	return n;
}

static int add_ref(struct mxb_bridge_discovery *d, struct mxb_device *dev, size_t slot)
{
	const char *t = slot_topic(dev->disc, slot);
	if (!t)
		return 0;
	if (d->len == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		struct ref *refs = realloc(d->refs, cap * sizeof(*refs));
		struct ref *hits = realloc(d->hits, cap * sizeof(*hits));
		if (refs)
			d->refs = refs;
		if (hits)
			d->hits = hits;
		if (!refs || !hits)
			return -ENOMEM;
		d->cap = cap;
	}
	if (mxb_topic_index_add(d->index, t, d->len) < 0)
		return -ENOMEM;
	d->refs[d->len++] = (struct ref){dev, slot};
	d->live++;
	return 0;
}

static int add_device(struct mxb_bridge_discovery *d, struct mxb_device *dev)
{
	for (size_t s = 0; s < SLOTS; s++) {
		if (add_ref(d, dev, s) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void add_each(struct mxb_device *dev, void *data)
{
	struct mxb_bridge_discovery *d = data;
	if (dev->disc && add_device(d, dev) < 0)
		d->live = SIZE_MAX; /* out of memory: told by the caller */
}

/* Makes the index anew from the devices that have a discovery config. */
static int rebuild(struct mxb_bridge *b)
{
	struct mxb_bridge_discovery *d = b->discovery;
	struct mxb_topic_index *index = mxb_topic_index_create();
	if (!index)
		return -ENOMEM;
	mxb_topic_index_destroy(d->index);
	d->index = index;
	d->len = d->live = 0;
	mxb_devices_each(b->devices, add_each, d);
	return d->live == SIZE_MAX ? -ENOMEM : 0;
}

static struct mxb_bridge_discovery *table(struct mxb_bridge *b)
{
	if (!b->discovery) {
		struct mxb_bridge_discovery *d = calloc(1, sizeof(*d));
		if (d && !(d->index = mxb_topic_index_create())) {
			free(d);
			d = NULL;
		}
		b->discovery = d;
	}
	return b->discovery;
}

static void subscribe(struct mxb_bridge *b, const struct mxb_discovered *disc, int qos)
{
	for (size_t s = 0; s < SLOTS; s++) {
		const char *t = slot_topic(disc, s);
		if (t)
			mxb_mqtt_subscribe(b->mqtt, t, qos);
	}
}

struct find {
	const char *config_topic;
	struct mxb_device *dev;
};

static void find_config(struct mxb_device *dev, void *data)
{
	struct find *f = data;
	if (dev->disc && strcmp(dev->disc->config_topic, f->config_topic) == 0)
		f->dev = dev;
}

/* The device announced on config_topic, or NULL. */
static struct mxb_device *announced_on(struct mxb_bridge *b, const char *config_topic)
{
	struct find f = {config_topic, NULL};
	mxb_devices_each(b->devices, find_config, &f);
	return f.dev;
}

static void forget(struct mxb_bridge *b, struct mxb_device *dev)
{
	b->discovery->live -= slots_of(dev->disc);
	mxb_discovery_finish(dev->disc);
	free(dev->disc);
	dev->disc = NULL;
	dev->avail = MXB_AVAIL_OFFLINE;
	mxb_bridge_device_broadcast(b, dev);
}

/* Takes disc (moved into the device) for dev, which rule owns. */
static void take(struct mxb_bridge *b, const struct mxb_device_rule *rule, struct mxb_device *dev,
	struct mxb_discovered *disc)
{
	struct mxb_bridge_discovery *d = b->discovery;
	if (dev->disc && mxb_discovery_same(dev->disc, disc)) {
		/* Announced again (a reconnect replays retained configs): subscribe again. */
		mxb_discovery_finish(disc);
		subscribe(b, dev->disc, rule->qos);
		return;
	}
	bool known = dev->disc != NULL;
	if (known) {
		d->live -= slots_of(dev->disc);
		mxb_discovery_finish(dev->disc);
		free(dev->disc);
	}
	dev->disc = malloc(sizeof(*dev->disc));
	if (!dev->disc) {
		mxb_discovery_finish(disc);
		mxb_log_error("devices: out of memory; '%s' is not followed", dev->name);
		return;
	}
	*dev->disc = *disc;
	int r = d->len > 2 * d->live + 64 ? rebuild(b) : add_device(d, dev);
	if (r < 0)
		mxb_log_error("devices: out of memory; the topics of '%s' are not all followed",
			dev->name);
	subscribe(b, dev->disc, rule->qos);
	mxb_log_info("devices: '%s' %s on '%s' (state '%s', command '%s', %zu availability "
		     "topics)",
		dev->name, known ? "announced anew" : "discovered", dev->disc->config_topic,
		dev->disc->state_topic ? dev->disc->state_topic : "",
		dev->disc->command_topic ? dev->disc->command_topic : "", dev->disc->avail_len);
	/* Without availability topics a device is there when it says something. */
	if (dev->disc->avail_len == 0 && dev->avail == MXB_AVAIL_UNKNOWN)
		dev->avail = MXB_AVAIL_ONLINE;
	mxb_bridge_device_broadcast(b, dev);
}

void mxb_bridge_discovery_config(struct mxb_bridge *b, const struct mxb_device_rule *rule,
	const struct mxb_mqtt_message *msg)
{
	if (!table(b)) {
		mxb_log_error("devices: out of memory; the discovery config on '%s' is not taken",
			msg->topic);
		return;
	}
	struct mxb_discovered disc;
	const char *why;
	enum mxb_discovery_verdict v = mxb_discovery_parse(
		msg->topic, msg->payload, msg->len, b->cfg->bridge.max_payload, &disc, &why);
	struct mxb_device *dev;
	bool full = false;
	switch (v) {
	case MXB_DISCOVERY_IGNORED:
		mxb_log_debug(
			"devices: discovery config on '%s' is of no device kind taken", msg->topic);
		return;
	case MXB_DISCOVERY_INVALID:
		b->n.devices_refused++;
		mxb_log_warn("devices: refused the discovery config on '%s': %s", msg->topic, why);
		return;
	case MXB_DISCOVERY_REMOVED:
		if ((dev = announced_on(b, msg->topic))) {
			mxb_log_info("devices: '%s' was removed on '%s'", dev->name, msg->topic);
			forget(b, dev);
		}
		return;
	case MXB_DISCOVERY_DEVICE:
		break;
	}
	dev = mxb_devices_get(b->devices, disc.name, &full);
	if (!dev) {
		b->n.devices_refused++;
		mxb_log_warn("devices: cannot track '%s' from '%s': %s", disc.name, msg->topic,
			full ? "bridge.max_devices reached" : "not a valid JID local part");
	} else if (dev->disc && strcmp(dev->disc->config_topic, msg->topic) != 0) {
		b->n.devices_refused++;
		mxb_log_warn("devices: '%s' is announced on '%s' and on '%s'; the first stays",
			dev->name, dev->disc->config_topic, msg->topic);
	} else if (!mxb_bridge_device_owns(b->cfg, dev, rule)) {
		mxb_log_debug("devices: '%s' on '%s' is left to the rule of line %d", dev->name,
			msg->topic, dev->rule->line);
	} else {
		take(b, rule, dev, &disc);
		return;
	}
	mxb_discovery_finish(&disc);
}

static void collect(size_t id, void *data)
{
	struct mxb_bridge_discovery *d = data;
	d->hits[d->hits_len++] = d->refs[id];
}

static void state_message(
	struct mxb_bridge *b, struct mxb_device *dev, const struct mxb_mqtt_message *msg)
{
	char value[STATUS_MAX + 1], clean[3 * STATUS_MAX + 1];
	size_t n = mxb_discovery_state(dev->disc, msg->payload, msg->len, value, sizeof(value));
	if (n == 0 || mxb_text_sanitize(value, n, clean, sizeof(clean), NULL) < 0) {
		mxb_log_debug(
			"devices: no state for '%s' in the message on '%s'", dev->name, msg->topic);
		return;
	}
	mxb_bridge_device_new_state(
		b, dev, clean, mxb_discovery_is_off(dev->disc, value) ? "away" : NULL, true);
	mxb_bridge_device_broadcast(b, dev);
}

/* The first rule that takes discovery configs, or NULL. */
static const struct mxb_device_rule *discovery_rule(const struct mxb_config *cfg)
{
	for (size_t i = 0; i < cfg->devices_len; i++) {
		const struct mxb_device_rule *r = &cfg->devices[i];
		for (size_t k = 0; k < r->reports_len; k++) {
			if (r->report_kinds[k] == MXB_REPORT_DISCOVERY)
				return r;
		}
	}
	return NULL;
}

void mxb_bridge_discovery_message(struct mxb_bridge *b, const struct mxb_mqtt_message *msg)
{
	struct mxb_bridge_discovery *d = b->discovery;
	if (!d || d->live == 0)
		return;
	d->hits_len = 0;
	mxb_topic_index_match(d->index, msg->topic, collect, d);
	if (d->hits_len && msg->len > b->cfg->bridge.max_payload) {
		b->n.payload_too_large++;
		mxb_log_warn("devices: payload too large on topic '%s' (%zu bytes, max_payload "
			     "%zu); not taken",
			msg->topic, msg->len, b->cfg->bridge.max_payload);
		return;
	}
	for (size_t i = 0; i < d->hits_len; i++) {
		struct mxb_device *dev = d->hits[i].dev;
		size_t slot = d->hits[i].slot;
		const char *t = dev->disc ? slot_topic(dev->disc, slot) : NULL;
		if (!t || strcmp(t, msg->topic) != 0)
			continue; /* stale: announced anew or removed since */
		/* A reload that changed the rule left the device without one: the new one. */
		if (!dev->rule && !(dev->rule = discovery_rule(b->cfg)))
			continue;
		b->n.device_updates++;
		if (slot == 0) {
			state_message(b, dev, msg);
			continue;
		}
		enum mxb_availability a =
			mxb_discovery_availability(dev->disc, slot - 1, msg->payload, msg->len);
		if (a == MXB_AVAIL_UNKNOWN || a == dev->avail)
			continue;
		mxb_log_info("devices: '%s' is %s", dev->name,
			a == MXB_AVAIL_ONLINE ? "online" : "offline");
		dev->avail = a;
		mxb_bridge_device_broadcast(b, dev);
	}
}
