#ifndef MXB_BRIDGE_H
#define MXB_BRIDGE_H

/*
 * The bridge turns events of one side into actions on the other through the routing core;
 * what is in flight, both ways, is held by its outbox (outbox.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "component.h"
#include "counters.h"
#include "log.h"
#include "mqtt.h"
#include "xmpp.h"

struct mxb_adhoc_handlers;
struct mxb_config;
struct mxb_device_rule;
struct mxb_notify_route;
struct mxb_routes;
struct mxb_route_ref;
struct mxb_spool;

struct mxb_outbox;
struct mxb_devices;
struct mxb_device_command;
struct mxb_bridge_discovery;
struct mxb_presence;
struct mxb_announce;
struct mxb_geoloc;
struct mxb_location;
struct mxb_bridge_location;
struct mxb_bridge_pubsub;

struct mxb_bridge {
	const struct mxb_config *cfg;
	struct mxb_mqtt *mqtt;
	struct mxb_xmpp *xmpp;
	struct mxb_routes *routes; /* the index of every route, and their throttles */
	struct mxb_outbox *outbox; /* everything in flight, both ways */
	struct mxb_spool *spool; /* NULL without bridge.spool */
	int64_t next_sync;
	char *render; /* max_message + 1 bytes */
	char *clean; /* 3 * max_message + 1 bytes: U+FFFD is 3 bytes for 1 bad byte */
	struct mxb_counters n;
	/* Stats (mqtt.stats_topic), in bridge_stats.c */
	int64_t started; /* ms, when the bridge was made */
	int64_t next_stats; /* ms; 0: not scheduled yet */
	/* Connections lost, counted where each side reports going down. */
	uint64_t reconnects_xmpp, reconnects_mqtt, reconnects_component;

	/* Devices (component mode) */
	struct mxb_component *component;
	struct mxb_devices *devices;
	struct mxb_device_command *commands; /* waiting for the device's new state */
	size_t commands_len, commands_cap;
	struct mxb_bridge_discovery *discovery; /* devices from Home Assistant discovery */
	/* Contacts' presence (client mode) -> MQTT, in bridge_contacts.c */
	struct mxb_presence *presence; /* NULL without xmpp.presence_topic */
	struct mxb_announce *announce; /* NULL without xmpp.presence_discovery */
	int64_t strangers_logged; /* when a stranger's presence was last logged (ms) */
	uint64_t strangers_unlogged; /* dropped since then without a line */
	int64_t full_logged;
	uint64_t full_unlogged;
	/* User location, in bridge_location.c; NULL without the location group */
	struct mxb_location *location; /* the accounts' sessions */
	struct mxb_bridge_location *location_state;
	/* Pubsub nodes (XEP-0060) both ways, in bridge_pubsub.c */
	struct mxb_bridge_pubsub *pubsub;
	/* Pictures (binary = "upload"), in bridge_upload.c; NULL until a route needs it */
	struct mxb_bridge_upload *upload;
};

extern const struct mxb_mqtt_handlers mxb_bridge_mqtt_handlers;
extern const struct mxb_xmpp_handlers mxb_bridge_xmpp_handlers;
extern const struct mxb_component_handlers mxb_bridge_component_handlers;
/* Ad-hoc commands (XEP-0050) of the bridge's account, in bridge_adhoc.c. */
extern const struct mxb_adhoc_handlers mxb_bridge_adhoc_handlers;

/* Builds the routing index for cfg (which must outlive the bridge). Returns 0 or -errno. */
int mxb_bridge_init(struct mxb_bridge *b, const struct mxb_config *cfg);
void mxb_bridge_finish(struct mxb_bridge *b);
/* Connects the bridge to both sides; the handlers above take b as their data. */
void mxb_bridge_attach(struct mxb_bridge *b, struct mxb_mqtt *mqtt, struct mxb_xmpp *xmpp);
/* Adds the component side (may be NULL: no devices). */
void mxb_bridge_attach_component(struct mxb_bridge *b, struct mxb_component *c);
/* Sends what throttling held back once its interval ended. Returns the next deadline. */
int64_t mxb_bridge_tick(struct mxb_bridge *b, int64_t now);
/* Tells every subscriber that every device goes away (before the component closes). */
void mxb_bridge_devices_goodbye(struct mxb_bridge *b);
/* This instance began (or ceased) to lead its share group: it tells every device's presence. */
void mxb_bridge_devices_lead(struct mxb_bridge *b, bool leads);

/* Used by bridge.c: the device part, in bridge_devices.c. */
int mxb_bridge_devices_init(struct mxb_bridge *b);
void mxb_bridge_devices_finish(struct mxb_bridge *b);
/* Updates the devices of the rules msg matched (availability or state). */
void mxb_bridge_devices_message(struct mxb_bridge *b, const struct mxb_mqtt_message *msg,
	const struct mxb_route_ref *refs, size_t n);
void mxb_bridge_devices_subscribe(struct mxb_bridge *b);
/* A message on a topic of a device from discovery (bridge_discovery.c); cheap otherwise. */
void mxb_bridge_discovery_message(struct mxb_bridge *b, const struct mxb_mqtt_message *msg);
/* Warns about each pair of device rules that can claim one device (at start and reload). */
void mxb_bridge_devices_warn_overlaps(const struct mxb_config *cfg);
/* A device's name for people longer than this is shown as its local part. */
#define MXB_BRIDGE_FRIENDLY_MAX 256
struct mxb_device;
/* A chat message from device local (NULL: the component domain) to to, built on the heap. */
void mxb_bridge_device_reply(struct mxb_bridge *b, const char *local, const char *to,
	const char *fmt, ...) MXB_PRINTF(4, 5);
/* Whether bare may see dev: by its rule, or by any rule while dev (maybe NULL) has none. */
bool mxb_bridge_may_see(struct mxb_bridge *b, const struct mxb_device *dev, const char *bare);
/* s quoted for a reply: cut past MXB_COMMAND_ECHO_MAX bytes on a character boundary. */
char *mxb_bridge_quoted(const char *s);
/* dev's name for people, from its rule (set), into buf; its local part if it does not fit. */
const char *mxb_bridge_device_friendly(const struct mxb_device *dev, char *buf, size_t len);
/* The component's directory (bridge_directory.c): disco#items and "help"/"list" chat. */
void mxb_bridge_directory_items(const char *from,
	void (*add)(const char *local, const char *name, void *ctx), void *ctx, void *data);
void mxb_bridge_directory_message(const char *from, const char *id, const char *body, void *data);
/*
 * The device rules were replaced (a reload; old[0..old_len) still alive): each device
 * takes the new rule that equals its old one, or none until a message names it again.
 */
void mxb_bridge_devices_reconfigure(
	struct mxb_bridge *b, const struct mxb_device_rule *old, size_t old_len);
int64_t mxb_bridge_devices_tick(struct mxb_bridge *b, int64_t now);
/* Used by bridge.c: the contact part, in bridge_contacts.c. Returns 0 or -ENOMEM. */
int mxb_bridge_contacts_init(struct mxb_bridge *b);
void mxb_bridge_contacts_finish(struct mxb_bridge *b);
/*
 * A reload changed how contacts' presence is published: the Home Assistant configs
 * announced are removed (empty retained), the table made anew for the new settings.
 * Returns 0 or -ENOMEM (then contacts' presence is off).
 */
int mxb_bridge_contacts_reconfigure(struct mxb_bridge *b);
void mxb_bridge_contact_presence(const struct mxb_xmpp_presence *p, void *data);
/* Used by bridge.c and main.c: location, in bridge_location.c. init returns 0 or -ENOMEM. */
int mxb_bridge_location_init(struct mxb_bridge *b);
void mxb_bridge_location_finish(struct mxb_bridge *b);
/* The accounts' sessions (NULL: none), which publish the OwnTracks users' positions. */
void mxb_bridge_attach_location(struct mxb_bridge *b, struct mxb_location *location);
void mxb_bridge_location_subscribe(struct mxb_bridge *b);
/* An MQTT message: an OwnTracks position of a mapped user goes to its account. */
void mxb_bridge_location_message(struct mxb_bridge *b, const struct mxb_mqtt_message *msg);
/* Sends what waited for the end of min_interval. Returns the next deadline. */
int64_t mxb_bridge_location_tick(struct mxb_bridge *b, int64_t now);
/* Whether location.contacts names bare. */
bool mxb_bridge_location_contact(const struct mxb_bridge *b, const char *bare);
void mxb_bridge_contact_geoloc(
	const char *bare, const struct mxb_geoloc *g, const char *why, void *data);
void mxb_bridge_contact_roster(const char *bare, const char *name, bool removed, void *data);
/*
 * Used by bridge.c: the stats, in bridge_stats.c. publish sends the retained object now
 * (without mqtt.stats_topic it does nothing) and schedules the next; tick sends it when it
 * is due and returns when the next is (INT64_MAX: never).
 */
void mxb_bridge_stats_publish(struct mxb_bridge *b, int64_t now);
int64_t mxb_bridge_stats_tick(struct mxb_bridge *b, int64_t now);
/* The stats object as the topic has it (the caller cJSON_Delete()s it), or NULL. */
struct cJSON;
struct cJSON *mxb_bridge_stats_object(const struct mxb_bridge *b, int64_t now);
/* Used by bridge.c: commands (XMPP -> MQTT), in bridge_commands.c. */
void mxb_bridge_command_message(const struct mxb_xmpp_message *msg, void *data);
/*
 * Rebuilds the routes after cfg's routes were replaced (SIGHUP); subscribes to the new
 * filters and drops subscriptions no route needs any more. Returns 0 or -errno, in which
 * case the old routes stay.
 */
int mxb_bridge_reload(struct mxb_bridge *b, const struct mxb_config *old);
/* A reload changed bridge.queue_size: every queue takes the new bound. 0 or -ENOMEM. */
int mxb_bridge_set_queue_size(struct mxb_bridge *b);
/* A reload changed bridge.spool: what is held is journaled in the new directory only. */
int mxb_bridge_move_spool(struct mxb_bridge *b);
/* The MQTT client was made anew: the publishes it had in flight are told lost. */
void mxb_bridge_mqtt_replaced(struct mxb_bridge *b);
/* Whether no command waits for MQTT: queue empty and every publish acknowledged. */
bool mxb_bridge_commands_drained(const struct mxb_bridge *b);
/* Whether nothing waits for XMPP: queue empty and every sent message acknowledged. */
bool mxb_bridge_drained(const struct mxb_bridge *b);
void mxb_bridge_log_counters(const struct mxb_bridge *b);

/*
 * route's message for topic and payload, rendered and made XML-safe as bridge.c does for
 * every notify (counted and logged there); NULL when refused. Valid until the next call.
 */
const char *mxb_bridge_render(struct mxb_bridge *b, const struct mxb_notify_route *route,
	const char *topic, const char *payload, size_t len);
/* Used by bridge.c: uploads (bridge_upload.c). init returns 0 or -errno. */
int mxb_bridge_upload_init(struct mxb_bridge *b);
void mxb_bridge_upload_finish(struct mxb_bridge *b);
/* Uploads payload (copied) of route and sends its URL, or says why it could not. */
void mxb_bridge_upload(struct mxb_bridge *b, const struct mxb_notify_route *route,
	const char *topic, const char *payload, size_t len);
/* Says to route's targets that the snapshot from topic is not uploaded, and why. */
void mxb_bridge_upload_refused(struct mxb_bridge *b, const struct mxb_notify_route *route,
	const char *topic, const char *why);
void mxb_bridge_upload_online(struct mxb_bridge *b);
void mxb_bridge_upload_offline(struct mxb_bridge *b);
int64_t mxb_bridge_upload_tick(struct mxb_bridge *b, int64_t now);
/* The HTTP sockets of uploads for the main poll: filled into pfd[0..cap), then handed back. */
struct pollfd;
size_t mxb_bridge_poll_fds(const struct mxb_bridge *b, struct pollfd *pfd, size_t cap);
void mxb_bridge_poll_handle(struct mxb_bridge *b, const struct pollfd *pfd, size_t n);

#endif
