#ifndef MXB_DISCOVERY_H
#define MXB_DISCOVERY_H

/*
 * Home Assistant MQTT discovery: the JSON a device (Zigbee2MQTT, Tasmota, ESPHome, ...)
 * publishes, retained, on homeassistant/DOMAIN/[NODE/]OBJECT/config, read into the topics
 * and payloads of one device. The JSON is a peer's: every string is bounded and checked,
 * and a config that does not fit is refused with a reason, never cut. Pure: no I/O, no
 * library types (cJSON reads the JSON).
 *
 * Understood: name, object_id, unique_id, device.name, state_topic, command_topic,
 * availability_topic or an availability list (topic, payload_available,
 * payload_not_available), availability_mode (latest, all, any), payload_available,
 * payload_not_available, payload_on, payload_off, schema ("json": commands and states as
 * {"state": "ON"}), value_template and state_value_template of the form
 * "{{ value_json.KEY }}" (any other template is ignored: the payload is taken as it is),
 * the abbreviations (stat_t, cmd_t, avty_t, avty, pl_on, ...) and the "~" base topic.
 */

#include <stdbool.h>
#include <stddef.h>

#include "devices.h"

/* Availability topics kept per device (Zigbee2MQTT sends two: its bridge and the device). */
#define MXB_DISCOVERY_AVAIL_MAX 4
/* Bytes of a payload word (payload_on, payload_available, ...) and of a JSON key. */
#define MXB_DISCOVERY_WORD_MAX 64
/* Bytes of a friendly name. */
#define MXB_DISCOVERY_FRIENDLY_MAX 128

enum mxb_discovery_mode {
	MXB_DISCOVERY_LATEST, /* the last availability message counts */
	MXB_DISCOVERY_ALL, /* online when every topic says online */
	MXB_DISCOVERY_ANY, /* online when one topic says online */
};

struct mxb_discovered {
	char *config_topic; /* where it was announced: its identity */
	char *name; /* the device name (a valid JID local part) */
	char *friendly; /* for people, or NULL */
	char *state_topic; /* or NULL */
	char *command_topic; /* or NULL: no commands */
	char *avail_topics[MXB_DISCOVERY_AVAIL_MAX];
	char *avail_on[MXB_DISCOVERY_AVAIL_MAX], *avail_off[MXB_DISCOVERY_AVAIL_MAX];
	enum mxb_availability avail_seen[MXB_DISCOVERY_AVAIL_MAX]; /* per topic, at run time */
	size_t avail_len;
	enum mxb_discovery_mode mode;
	char *payload_on, *payload_off;
	char *value_key; /* the KEY of {{ value_json.KEY }}, or NULL */
	bool json; /* schema json: {"state": "ON"} both ways */
};

enum mxb_discovery_verdict {
	MXB_DISCOVERY_DEVICE, /* *out filled */
	MXB_DISCOVERY_REMOVED, /* an empty payload: the device at topic is gone */
	MXB_DISCOVERY_IGNORED, /* a domain that is no device one can switch or watch */
	MXB_DISCOVERY_INVALID, /* *why says what is wrong */
};

/*
 * Reads the discovery message on topic (PREFIX/DOMAIN/OBJECT/config or
 * PREFIX/DOMAIN/NODE/OBJECT/config). The domains taken are switch, light, fan and
 * binary_sensor; payloads over max_len bytes are INVALID. On DEVICE, *out owns its
 * strings (mxb_discovery_finish releases them); on INVALID *why is a static reason.
 * NOMEM is told as INVALID with why "out of memory".
 */
enum mxb_discovery_verdict mxb_discovery_parse(const char *topic, const char *payload, size_t len,
	size_t max_len, struct mxb_discovered *out, const char **why);
void mxb_discovery_finish(struct mxb_discovered *d);

/* Whether a and b announce the same device the same way. */
bool mxb_discovery_same(const struct mxb_discovered *a, const struct mxb_discovered *b);

/*
 * Records an availability message on d's availability topic i and returns the device's
 * availability as d's mode combines them (MXB_AVAIL_UNKNOWN until one is known).
 */
enum mxb_availability mxb_discovery_availability(
	struct mxb_discovered *d, size_t i, const char *payload, size_t len);

/*
 * The state a state_topic message tells, into out (cap bytes, NUL-terminated): the value
 * of value_key, or "state" with schema json, in a JSON object; else the payload as it is
 * (NUL bytes and all: the caller sanitizes it). Returns the length, 0 when it tells
 * nothing (or does not fit).
 */
size_t mxb_discovery_state(
	const struct mxb_discovered *d, const char *payload, size_t len, char *out, size_t cap);

/* Whether state (from mxb_discovery_state) is payload_off: the device shows as away. */
bool mxb_discovery_is_off(const struct mxb_discovered *d, const char *state);

/*
 * The payload of a command word (mxb_command_device_word's: "ON", "OFF", or another):
 * payload_on or payload_off for ON and OFF, {"state": "WORD"} with schema json, else the
 * word. Into out (cap bytes); returns the length, or 0 when it does not fit.
 */
size_t mxb_discovery_command(
	const struct mxb_discovered *d, const char *word, char *out, size_t cap);

#endif
