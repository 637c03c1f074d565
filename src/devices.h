#ifndef MXB_DEVICES_H
#define MXB_DEVICES_H

/*
 * Devices seen on MQTT, each an XMPP entity NAME@component: its availability, presence
 * show and status text, who subscribed to it. Bounded in count. Pure: no I/O, no
 * library types (cJSON reads JSON availability payloads).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct mxb_discovered;

/* A device name becomes a JID local part: at most this many bytes. */
#define MXB_DEVICE_NAME_MAX 64
/* Subscribers remembered per device. */
#define MXB_DEVICE_SUBSCRIBERS_MAX 64

enum mxb_availability {
	MXB_AVAIL_UNKNOWN, /* never seen: unavailable */
	MXB_AVAIL_ONLINE,
	MXB_AVAIL_OFFLINE,
};

struct mxb_device {
	char *name; /* as the topic has it, for command topics */
	char *local; /* JID local part: the name in lower case */
	const struct mxb_device_rule *rule; /* NULL until an MQTT message names it */
	enum mxb_availability avail;
	const char *show; /* NULL (plain available), "away", "xa", "dnd" */
	char *status; /* XML-safe status text, or NULL */
	uint64_t state_seq; /* bumped on every state message */
	bool power_known; /* a POWER-like state came: sensor readings no longer show */
	uint64_t asked; /* the epoch in which it was asked for its state, 0: never */
	/* Its topics and payloads from Home Assistant discovery (owned), or NULL. */
	struct mxb_discovered *disc;
	struct mxb_strlist subscribers; /* bare JIDs that subscribed or probed */
};

struct mxb_devices;

struct mxb_devices *mxb_devices_create(size_t max);
void mxb_devices_destroy(struct mxb_devices *d);

/* Whether name can be a device: a valid JID local part, short, no upper-case clash. */
bool mxb_device_name_valid(const char *name);

/* The device whose local part is local (case-insensitive), or NULL. */
struct mxb_device *mxb_devices_find(struct mxb_devices *d, const char *local);
/*
 * The device called name, added when new. Returns NULL when name is not valid or the
 * registry is full (*full set then).
 */
struct mxb_device *mxb_devices_get(struct mxb_devices *d, const char *name, bool *full);
size_t mxb_devices_count(const struct mxb_devices *d);
/* A new bound on the devices added from now on (those known stay). */
void mxb_devices_set_max(struct mxb_devices *d, size_t max);
/*
 * Epochs count MQTT connections, from 1: a device is asked for its state once per epoch.
 * mxb_devices_next_epoch starts a new one.
 */
uint64_t mxb_devices_epoch(const struct mxb_devices *d);
void mxb_devices_next_epoch(struct mxb_devices *d);
/* Calls fn for every device. */
void mxb_devices_each(
	struct mxb_devices *d, void (*fn)(struct mxb_device *dev, void *data), void *data);

/*
 * Reads an availability payload: online or offline as the rule names them (compared
 * without case and surrounding space), or JSON {"state": "..."} / {"availability": ...}
 * with those values. Returns MXB_AVAIL_UNKNOWN for anything else.
 */
enum mxb_availability mxb_device_availability(
	const struct mxb_device_rule *rule, const char *payload, size_t len);

/* The presence show for a rendered show value: "away", "xa", "dnd", or NULL. */
const char *mxb_device_show(const struct mxb_device_rule *rule, const char *value);

/* Sets the status text (copied); returns 0 or -ENOMEM. */
int mxb_device_set_status(struct mxb_device *dev, const char *status);
/* Remembers jid (bare) as a subscriber. Returns 0, or -ENOSPC when the list is full. */
int mxb_device_add_subscriber(struct mxb_device *dev, const char *jid);
void mxb_device_remove_subscriber(struct mxb_device *dev, const char *jid);

/* Whether jid (bare) may see and command devices of rule. */
bool mxb_device_allowed(const struct mxb_device_rule *rule, const char *jid);

#endif
