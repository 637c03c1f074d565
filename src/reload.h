#ifndef MXB_RELOAD_H
#define MXB_RELOAD_H

/*
 * What a reload (SIGHUP) changes: the subscriptions to add and to drop, and which
 * throttled routes carry their state over. A broker sends every retained message again
 * on each SUBSCRIBE, and a throttle holds values not sent yet, so a reload must touch
 * only what changed. Pure: no I/O, no library types.
 */

#include <stdbool.h>
#include <stddef.h>

struct mxb_notify_route;
struct mxb_config;

/*
 * What a new config changes, by how it takes effect: at once, or by reconnecting just the
 * side concerned. Nothing of a config is left out: every field is in one of these.
 */
enum mxb_reload_change {
	MXB_CHANGE_ROUTES = 1 << 0, /* notify, commands, pubsub, subscribe routes: at once */
	MXB_CHANGE_LIMITS = 1 << 1, /* log level, max_payload, max_message, bad_text: at once */
	MXB_CHANGE_QUEUE = 1 << 2, /* bridge.queue_size: the queues are resized at once */
	MXB_CHANGE_SPOOL = 1 << 3, /* bridge.spool: the journal is moved at once */
	MXB_CHANGE_DEVICES = 1 << 4, /* device rules and max_devices: at once */
	MXB_CHANGE_XMPP_STATUS = 1 << 5, /* xmpp.status: a new presence at once */
	MXB_CHANGE_XMPP_ROOMS = 1 << 6, /* rooms joined and left at once */
	MXB_CHANGE_XMPP_PRESENCE = 1 << 7, /* presence_topic, presence_json: at once */
	MXB_CHANGE_XMPP = 1 << 8, /* the client's connection: it reconnects */
	MXB_CHANGE_COMPONENT = 1 << 9, /* the component's connection: it reconnects */
	MXB_CHANGE_MQTT = 1 << 10, /* the MQTT connection: it reconnects */
	MXB_CHANGE_STATS = 1 << 11, /* stats_topic, stats_interval: published at once */
	MXB_CHANGE_UPLOAD = 1 << 12, /* xmpp.upload_*: for the next uploads (the service: the
					next session) */
	MXB_CHANGE_XMPP_ACKS = 1 << 13, /* xmpp.ack_every, ack_delay: at once */
};

struct mxb_device_rule;
/* Whether two device rules are the same in every setting. */
bool mxb_reload_same_device_rule(const struct mxb_device_rule *a, const struct mxb_device_rule *b);

/* Which of the changes above turn old into fresh (0: none). */
unsigned mxb_reload_changes(const struct mxb_config *old, const struct mxb_config *fresh);
/* "routes, rooms, mqtt" for a log line, into buf (len bytes). */
const char *mxb_reload_describe(unsigned changes, char *buf, size_t len);

struct mxb_filter {
	const char *topic; /* borrowed */
	int qos;
};

/*
 * Sorts f by topic and merges equal topics, keeping the highest QoS. Returns the number
 * of distinct filters left at the front of f.
 */
size_t mxb_reload_filters_normalize(struct mxb_filter *f, size_t len);

struct mxb_reload_ops {
	/* A filter to subscribe to: new, or (again) its QoS rose above the old one. */
	void (*subscribe)(const char *topic, int qos, bool again, void *data);
	/* A filter no longer needed. */
	void (*unsubscribe)(const char *topic, void *data);
};

/* Compares two normalized sets: calls ops for what differs, nothing for the rest. */
void mxb_reload_filters_diff(const struct mxb_filter *old, size_t old_len,
	const struct mxb_filter *fresh, size_t fresh_len, const struct mxb_reload_ops *ops,
	void *data);

/*
 * Pairs the throttled routes of old and fresh that throttle alike: the same topic,
 * min_interval and only_changes (routes with neither are not throttled and never paired).
 * Equal routes pair in their order of the file, each at most once. out[j] receives the
 * index in old paired with fresh[j], or SIZE_MAX. Returns 0 or -ENOMEM.
 */
int mxb_reload_pair_throttles(const struct mxb_notify_route *old, size_t old_len,
	const struct mxb_notify_route *fresh, size_t fresh_len, size_t *out);

#endif
