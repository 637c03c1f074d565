#ifndef MXB_ANNOUNCE_H
#define MXB_ANNOUNCE_H

/*
 * Home Assistant MQTT discovery for contacts' presence (xmpp.presence_discovery): each
 * contact whose presence the bridge publishes gets a retained config on
 * PREFIX/binary_sensor/mqtt_xmpp_bridge_ID/config, so that Home Assistant shows it as a
 * presence binary sensor without YAML; an empty retained config removes it again. This
 * keeps which contacts were announced, with the topic each was announced on. Pure: no
 * I/O, no session library types (cJSON renders the config).
 */

#include <stdbool.h>
#include <stddef.h>

/* Contacts announced at most: as many as the presence table holds. */
#define MXB_ANNOUNCE_MAX 1000

struct mxb_announce;

struct mxb_announce *mxb_announce_create(void);
void mxb_announce_destroy(struct mxb_announce *d);

/*
 * The object id of bare (and the entity's unique_id): "mqtt_xmpp_bridge_" then bare with
 * every byte outside [A-Za-z0-9] as "_", then "_" and 8 hex digits of a hash of bare in
 * lower case, so that JIDs that differ only in those bytes stay apart. Returns a new
 * string, or NULL without memory.
 */
char *mxb_announce_id(const char *bare);

/* PREFIX/binary_sensor/ID/config for bare; a new string or NULL. */
char *mxb_announce_topic(const char *prefix, const char *bare);

/*
 * The config: name (bare), state_topic, a value_template that turns the presence value
 * (the show word, or the JSON object with json) into ON (any available show) or OFF
 * (unavailable), payload_on/off, device_class presence, unique_id, a device per contact,
 * and, when availability_topic is not NULL, that topic with online/offline. Returns the
 * JSON text (free() it) or NULL without memory.
 */
char *mxb_announce_config(
	const char *bare, const char *state_topic, bool json, const char *availability_topic);

/*
 * Whether bare still needs a config on topic: not announced yet, or announced on another
 * topic (a new prefix). Case-insensitive on bare.
 */
bool mxb_announce_needed(const struct mxb_announce *d, const char *bare, const char *topic);
/* Records that bare was announced on topic (copied). Returns 0, -ENOSPC or -ENOMEM. */
int mxb_announce_add(struct mxb_announce *d, const char *bare, const char *topic);
/* Calls fn with the topic of every contact announced, then forgets them all. */
void mxb_announce_take_all(
	struct mxb_announce *d, void (*fn)(const char *topic, void *data), void *data);
size_t mxb_announce_len(const struct mxb_announce *d);

#endif
