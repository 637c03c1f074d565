#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"

#define NAMES(name, ...)                                     \
	static const char *const name##_v[] = {__VA_ARGS__}; \
	const struct mxb_config_names name = {name##_v, sizeof(name##_v) / sizeof(name##_v[0])}

NAMES(mxb_config_log_levels, [MXB_LOG_ERROR] = "error", [MXB_LOG_WARN] = "warn",
	[MXB_LOG_INFO] = "info", [MXB_LOG_DEBUG] = "debug");
NAMES(mxb_config_xmpp_tls, [MXB_XMPP_TLS_STARTTLS] = "starttls", [MXB_XMPP_TLS_DIRECT] = "direct",
	[MXB_XMPP_TLS_NONE] = "none");
NAMES(mxb_config_bad_text, [MXB_BAD_TEXT_REPLACE] = "replace", [MXB_BAD_TEXT_REFUSE] = "refuse");
NAMES(mxb_config_message_types, [MXB_MESSAGE_CHAT] = "chat", [MXB_MESSAGE_NORMAL] = "normal",
	[MXB_MESSAGE_HEADLINE] = "headline", [MXB_MESSAGE_GROUPCHAT] = "groupchat");
NAMES(mxb_config_binary, [MXB_BINARY_TEXT] = "text", [MXB_BINARY_SKIP] = "skip",
	[MXB_BINARY_BASE64] = "base64", [MXB_BINARY_HEX] = "hex", [MXB_BINARY_UPLOAD] = "upload");
NAMES(mxb_config_roles, [MXB_ROLE_NONE] = "none", [MXB_ROLE_VISITOR] = "visitor",
	[MXB_ROLE_PARTICIPANT] = "participant", [MXB_ROLE_MODERATOR] = "moderator");
NAMES(mxb_config_affiliations, [MXB_AFFILIATION_OUTCAST] = "outcast",
	[MXB_AFFILIATION_NONE] = "none", [MXB_AFFILIATION_MEMBER] = "member",
	[MXB_AFFILIATION_ADMIN] = "admin", [MXB_AFFILIATION_OWNER] = "owner");
NAMES(mxb_config_conventions, [MXB_CONVENTION_NONE] = "none", [MXB_CONVENTION_TASMOTA] = "tasmota",
	[MXB_CONVENTION_ZIGBEE2MQTT] = "zigbee2mqtt",
	[MXB_CONVENTION_HOMEASSISTANT] = "homeassistant");
NAMES(mxb_config_location_formats, [MXB_LOCATION_OWNTRACKS] = "owntracks",
	[MXB_LOCATION_JSON] = "json");
NAMES(mxb_config_pubsub_formats, [MXB_PUBSUB_JSON] = "json", [MXB_PUBSUB_TEXT] = "text",
	[MXB_PUBSUB_ATOM] = "atom", [MXB_PUBSUB_BASE64] = "base64");

/* Enum fields are set through an int. */
_Static_assert(sizeof(enum mxb_log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum mxb_xmpp_tls) == sizeof(int), "enum size");
_Static_assert(sizeof(enum mxb_binary) == sizeof(int), "enum size");
_Static_assert(sizeof(enum mxb_location_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum mxb_pubsub_format) == sizeof(int), "enum size");

#define RANGE(lo, hi) .ranged = true, .min = (lo), .max = (hi)
#define CFG(kind_, field) .kind = (kind_), .offset = offsetof(struct mxb_config, field)
#define NOTIFY(kind_, field) .kind = (kind_), .offset = offsetof(struct mxb_notify_route, field)
#define COMMAND(kind_, field) .kind = (kind_), .offset = offsetof(struct mxb_command_route, field)
#define DEVICE(kind_, field) .kind = (kind_), .offset = offsetof(struct mxb_device_rule, field)
#define PUBSUB(kind_, field) .kind = (kind_), .offset = offsetof(struct mxb_pubsub_route, field)
#define SUBSCRIBE(kind_, field) \
	.kind = (kind_), .offset = offsetof(struct mxb_subscribe_route, field)
#define ENUM(names_) .names = &(names_)

/* In the order of docs/configuration.md. */
const struct mxb_config_key mxb_config_keys[] = {
	{"", "bridge", "group", .def = "the defaults below"},
	{"", "xmpp", "group", .def = "required"},
	{"", "mqtt", "group", .def = "the defaults below"},
	{"", "notify", "list of groups", .def = "none"},
	{"", "commands", "list of groups", .def = "none"},
	{"", "devices", "list of groups", .def = "none"},
	{"", "location", "group", .def = "none"},
	{"", "pubsub", "list of groups", .def = "none"},
	{"", "subscribe", "list of groups", .def = "none"},

	{"bridge", "log_level", "string", .value = "info", CFG(MXB_KEY_ENUM, bridge.log_level),
		ENUM(mxb_config_log_levels)},
	{"bridge", "queue_size", "integer", RANGE(1, 1000000), .value = "1000",
		CFG(MXB_KEY_SIZE, bridge.queue_size)},
	{"bridge", "max_payload", "integer", RANGE(1, 16 * 1024 * 1024), .value = "4096",
		CFG(MXB_KEY_SIZE, bridge.max_payload)},
	/* What XMPP servers accept in one stanza by default (Prosody: 256 KiB). */
	{"bridge", "max_message", "integer", RANGE(1, 256 * 1024), .value = "8192",
		CFG(MXB_KEY_SIZE, bridge.max_message)},
	{"bridge", "bad_text", "string", .value = "replace", CFG(MXB_KEY_ENUM, bridge.bad_text),
		ENUM(mxb_config_bad_text)},
	{"bridge", "spool", "string", .def = "none"},
	{"bridge", "max_devices", "integer", RANGE(1, 1000000), .value = "10000",
		CFG(MXB_KEY_SIZE, max_devices)},
	{"bridge", "instance", "string", .def = "the host name"},

	{"xmpp", "jid", "string", .def = "required"},
	{"xmpp", "password", "string", .def = "none"},
	{"xmpp", "password_file", "string", .def = "none"},
	{"xmpp", "host", "string", .def = "the JID's domain"},
	{"xmpp", "port", "integer", RANGE(0, 65535), .value = "0", CFG(MXB_KEY_INT, xmpp.port)},
	{"xmpp", "tls", "string", .value = "starttls", CFG(MXB_KEY_ENUM, xmpp.tls),
		ENUM(mxb_config_xmpp_tls)},
	{"xmpp", "ca_file", "string", .def = "the system store"},
	{"xmpp", "client_cert", "string", .def = "none"},
	{"xmpp", "client_key", "string", .def = "none"},
	{"xmpp", "status", "string", .value = "", CFG(MXB_KEY_STRING, xmpp.status)},
	{"xmpp", "priority", "integer", RANGE(-128, 127), .value = "0",
		CFG(MXB_KEY_INT, xmpp.priority)},
	{"xmpp", "reconnect_max", "integer", RANGE(1, 86400), .value = "60",
		CFG(MXB_KEY_INT, xmpp.reconnect_max)},
	{"xmpp", "ping_interval", "integer", RANGE(5, 3600), .value = "30",
		CFG(MXB_KEY_INT, xmpp.ping_interval)},
	{"xmpp", "ping_timeout", "integer", RANGE(1, 600), .value = "15",
		CFG(MXB_KEY_INT, xmpp.ping_timeout)},
	{"xmpp", "connect_timeout", "integer", RANGE(1, 600), .value = "30",
		CFG(MXB_KEY_INT, xmpp.connect_timeout)},
	{"xmpp", "ack_every", "integer", RANGE(1, 1000), .value = "32",
		CFG(MXB_KEY_INT, xmpp.ack_every)},
	{"xmpp", "ack_delay", "integer", RANGE(0, 10000), .value = "50",
		CFG(MXB_KEY_INT, xmpp.ack_delay)},
	{"xmpp", "batch_delay_us", "integer", RANGE(0, 100000), .value = "1000",
		CFG(MXB_KEY_INT, xmpp.batch_delay_us)},
	{"xmpp", "presence_topic", "string", .def = "none"},
	{"xmpp", "presence_json", "boolean", .value = "false",
		CFG(MXB_KEY_BOOL, xmpp.presence_json)},
	{"xmpp", "presence_discovery", "string", .def = "none"},
	{"xmpp", "component", "group", .def = "none"},
	{"xmpp", "rooms", "list of groups", .def = "none"},
	{"xmpp", "upload_service", "string", .def = "discovered on the server"},
	{"xmpp", "upload_http", "boolean", .value = "false",
		CFG(MXB_KEY_BOOL, xmpp.upload.allow_http)},
	{"xmpp", "upload_concurrency", "integer", RANGE(1, 16), .value = "2",
		CFG(MXB_KEY_INT, xmpp.upload.concurrency)},
	{"xmpp", "upload_queue", "integer", RANGE(1, 1000), .value = "10",
		CFG(MXB_KEY_INT, xmpp.upload.queue)},
	{"xmpp", "upload_timeout", "integer", RANGE(1, 3600), .value = "60",
		CFG(MXB_KEY_INT, xmpp.upload.timeout)},
	{"xmpp", "upload_retries", "integer", RANGE(0, 10), .value = "2",
		CFG(MXB_KEY_INT, xmpp.upload.retries)},

	{"xmpp.rooms", "jid", "string", .def = "required"},
	{"xmpp.rooms", "nick", "string", .def = "the local part of `xmpp.jid`"},
	{"xmpp.rooms", "password", "string", .def = "none"},

	{"mqtt", "host", "string", .value = "localhost", CFG(MXB_KEY_STRING, mqtt.host)},
	/* 0 until the file is read: then 1883, or 8883 with tls */
	{"mqtt", "port", "integer", RANGE(1, 65535), .def = "`1883`, `8883` with `tls`",
		CFG(MXB_KEY_INT, mqtt.port)},
	{"mqtt", "version", "integer", .value = "5", CFG(MXB_KEY_INT, mqtt.version),
		.custom = true},
	{"mqtt", "client_id", "string", .value = "mqtt-xmpp-bridge",
		CFG(MXB_KEY_STRING, mqtt.client_id)},
	{"mqtt", "share_group", "string", .def = "none"},
	{"mqtt", "username", "string", .def = "none"},
	{"mqtt", "password", "string", .def = "none"},
	{"mqtt", "password_file", "string", .def = "none"},
	{"mqtt", "keepalive", "integer", RANGE(5, 65535), .value = "30",
		CFG(MXB_KEY_INT, mqtt.keepalive)},
	{"mqtt", "status_topic", "string", .value = "mqtt-xmpp-bridge/status",
		CFG(MXB_KEY_STRING, mqtt.status_topic)},
	{"mqtt", "reconnect_max", "integer", RANGE(1, 86400), .value = "60",
		CFG(MXB_KEY_INT, mqtt.reconnect_max)},
	{"mqtt", "session_expiry", "integer", RANGE(0, INT32_MAX), .value = "3600",
		CFG(MXB_KEY_INT, mqtt.session_expiry)},
	{"mqtt", "stats_topic", "string", .def = "none"},
	{"mqtt", "stats_interval", "integer", RANGE(5, 86400), .value = "60",
		CFG(MXB_KEY_INT, mqtt.stats_interval)},
	{"mqtt", "tls", "group", .def = "absent: no TLS"},

	{"mqtt.tls", "ca_file", "string", .def = "the system store"},
	{"mqtt.tls", "cert_file", "string", .def = "none"},
	{"mqtt.tls", "key_file", "string", .def = "none"},

	{"notify", "topic", "string", .def = "required"},
	{"notify", "to", "list of strings", .def = "required, not empty"},
	{"notify", "message", "string", .value = "{{topic}}: {{payload}}",
		NOTIFY(MXB_KEY_STRING, message)},
	/* QoS 1 by default: an alarm must survive a broker hiccup. */
	{"notify", "qos", "integer", RANGE(0, 2), .value = "1", NOTIFY(MXB_KEY_INT, qos)},
	{"notify", "type", "string", .value = "chat", NOTIFY(MXB_KEY_ENUM, type),
		ENUM(mxb_config_message_types)},
	{"notify", "retained", "boolean", .value = "false", NOTIFY(MXB_KEY_BOOL, retained)},
	{"notify", "min_interval", "integer", RANGE(0, 86400), .value = "0",
		NOTIFY(MXB_KEY_INT, min_interval)},
	{"notify", "only_changes", "boolean", .value = "false", NOTIFY(MXB_KEY_BOOL, only_changes)},
	{"notify", "binary", "string", .value = "text", NOTIFY(MXB_KEY_ENUM, binary),
		ENUM(mxb_config_binary)},
	/* 0 in the struct: bridge.max_payload */
	{"notify", "max_payload", "integer", RANGE(1, 16 * 1024 * 1024),
		.def = "`bridge.max_payload`", NOTIFY(MXB_KEY_SIZE, max_payload)},
	{"notify", "fallback", "string", .value = "", NOTIFY(MXB_KEY_STRING, fallback)},
	{"notify", "content_type", "string", .def = "sniffed from the payload"},
	{"notify", "file_name", "string", .value = "{{topic}}-{{time}}",
		NOTIFY(MXB_KEY_STRING, file_name)},

	{"commands", "from", "list of strings", .def = "required, not empty"},
	{"commands", "allow", "list of strings", .def = "required without `command`"},
	{"commands", "command", "string", .def = "none"},
	{"commands", "usage", "string", .def = "`ARG1 ARG2 ...` from the templates"},
	{"commands", "description", "string", .def = "none"},
	{"commands", "topic", "string", .def = "required with `command`"},
	/* set by the route's code, for a route with command only */
	{"commands", "payload", "string", .value = "{{args}}"},
	{"commands", "role", "string", .def = "none"},
	{"commands", "affiliation", "string", .def = "none"},
	/* QoS 1 by default: a command to a device must not vanish silently. */
	{"commands", "qos", "integer", RANGE(0, 2), .value = "1", COMMAND(MXB_KEY_INT, qos)},
	{"commands", "retain", "boolean", .value = "false", COMMAND(MXB_KEY_BOOL, retain)},

	/* The templates and payloads are set by the device code, after the convention's. */
	{"devices", "convention", "string", .value = "none", DEVICE(MXB_KEY_ENUM, convention),
		ENUM(mxb_config_conventions)},
	{"devices", "availability", "string", .def = "from the convention"},
	{"devices", "online", "string", .value = "online"},
	{"devices", "offline", "string", .value = "offline"},
	{"devices", "state", "string", .def = "from the convention"},
	{"devices", "name", "string", .value = "{{topic.2}}"},
	{"devices", "status", "string", .value = "{{payload}}"},
	{"devices", "show", "string", .value = "{{payload}}"},
	{"devices", "away", "list of strings", .def = "`[\"OFF\"]` with `tasmota`"},
	{"devices", "xa", "list of strings", .def = "none"},
	{"devices", "dnd", "list of strings", .def = "none"},
	{"devices", "command", "string", .def = "from the convention"},
	{"devices", "command_payload", "string", .value = "{{body}}"},
	{"devices", "friendly", "string", .value = "{{name}}"},
	{"devices", "allow", "list of strings", .def = "required"},
	{"devices", "qos", "integer", RANGE(0, 2), .value = "1", DEVICE(MXB_KEY_INT, qos)},
	{"devices", "timeout", "integer", RANGE(1, 3600), .value = "10",
		DEVICE(MXB_KEY_INT, timeout)},
	{"devices", "exclude", "list of strings", .def = "none"},
	{"devices", "ask_state", "boolean", .value = "true", DEVICE(MXB_KEY_BOOL, ask_state)},

	{"pubsub", "topic", "string", .def = "required"},
	{"pubsub", "service", "string", .def = "required"},
	{"pubsub", "node", "string", .def = "required"},
	{"pubsub", "format", "string", .value = "json", PUBSUB(MXB_KEY_ENUM, format),
		ENUM(mxb_config_pubsub_formats)},
	{"pubsub", "title", "string", .value = "{{topic}}", PUBSUB(MXB_KEY_STRING, title)},
	{"pubsub", "summary", "string", .value = "{{payload}}", PUBSUB(MXB_KEY_STRING, summary)},
	{"pubsub", "history", "integer", RANGE(0, 1000), .value = "0",
		PUBSUB(MXB_KEY_INT, history)},
	{"pubsub", "qos", "integer", RANGE(0, 2), .value = "1", PUBSUB(MXB_KEY_INT, qos)},
	/* A node holds state: the broker's retained value is its current item. */
	{"pubsub", "retained", "boolean", .value = "true", PUBSUB(MXB_KEY_BOOL, retained)},
	/* Under ejabberd's 250 000 bytes of payload and Prosody's 256 KiB per stanza. */
	{"pubsub", "max_item", "integer", RANGE(512, 240000), .value = "65536",
		PUBSUB(MXB_KEY_SIZE, max_item)},

	{"subscribe", "service", "string", .def = "required"},
	{"subscribe", "nodes", "list of strings", .def = "this or `pattern`"},
	{"subscribe", "pattern", "string", .def = "this or `nodes`"},
	{"subscribe", "topic", "string", .def = "required"},
	{"subscribe", "qos", "integer", RANGE(0, 2), .value = "1", SUBSCRIBE(MXB_KEY_INT, qos)},
	{"subscribe", "retain", "boolean", .value = "true", SUBSCRIBE(MXB_KEY_BOOL, retain)},

	{"xmpp.component", "domain", "string", .def = "required"},
	{"xmpp.component", "secret", "string", .def = "this or `secret_file`"},
	{"xmpp.component", "secret_file", "string", .def = "this or `secret`"},
	{"xmpp.component", "host", "string", .value = "localhost",
		CFG(MXB_KEY_STRING, xmpp.component.host)},
	{"xmpp.component", "port", "integer", RANGE(1, 65535), .value = "5347",
		CFG(MXB_KEY_INT, xmpp.component.port)},

	{"location", "owntracks_topic", "string", .value = "owntracks",
		CFG(MXB_KEY_STRING, location.owntracks_topic)},
	/* OwnTracks' own default interval in move mode is shorter; a contact's map needs less. */
	{"location", "min_interval", "integer", RANGE(0, 86400), .value = "30",
		CFG(MXB_KEY_INT, location.min_interval)},
	{"location", "accounts", "list of groups", .def = "none"},
	{"location", "contacts", "list of strings", .def = "none"},
	{"location", "format", "string", .value = "owntracks", CFG(MXB_KEY_ENUM, location.format),
		ENUM(mxb_config_location_formats)},
	{"location", "topic", "string", .value = "owntracks/xmpp",
		CFG(MXB_KEY_STRING, location.topic)},
	{"location", "json_topic", "string", .def = "`TOPIC/BAREJID`"},

	{"location.accounts", "user", "string", .def = "required"},
	{"location.accounts", "jid", "string", .def = "required"},
	{"location.accounts", "password", "string", .def = "this or `password_file`"},
	{"location.accounts", "password_file", "string", .def = "this or `password`"},
};

const size_t mxb_config_keys_len = sizeof(mxb_config_keys) / sizeof(mxb_config_keys[0]);

const char *mxb_config_name(const struct mxb_config_names *names, int i)
{
	return i >= 0 && (size_t)i < names->len ? names->v[i] : "?";
}

const struct mxb_config_key *mxb_config_key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < mxb_config_keys_len; i++) {
		const struct mxb_config_key *k = &mxb_config_keys[i];
		if (strcmp(k->section, section) == 0 && strcmp(k->name, name) == 0)
			return k;
	}
	return NULL;
}

const char *mxb_config_key_value(const char *section, const char *name)
{
	const struct mxb_config_key *k = mxb_config_key_find(section, name);
	return k ? k->value : NULL;
}

int mxb_config_key_type_text(const struct mxb_config_key *k, char *buf, size_t size)
{
	if (k->ranged)
		return snprintf(buf, size, "%s %lld..%lld", k->type, k->min, k->max);
	return snprintf(buf, size, "%s", k->type);
}

int mxb_config_key_default_text(const struct mxb_config_key *k, char *buf, size_t size)
{
	if (!k->value)
		return snprintf(buf, size, "%s", k->def ? k->def : "");
	if (strcmp(k->type, "string") == 0)
		return snprintf(buf, size, "`\"%s\"`", k->value);
	return snprintf(buf, size, "`%s`", k->value);
}

/* The value of k as its kind holds it, at field. */
static int set_default(const struct mxb_config_key *k, char *field)
{
	switch (k->kind) {
	case MXB_KEY_INT:
		*(int *)(void *)field = (int)strtol(k->value, NULL, 10);
		return 0;
	case MXB_KEY_SIZE:
		*(size_t *)(void *)field = (size_t)strtoull(k->value, NULL, 10);
		return 0;
	case MXB_KEY_BOOL:
		*(bool *)(void *)field = strcmp(k->value, "true") == 0;
		return 0;
	case MXB_KEY_ENUM:
		for (size_t i = 0; i < k->names->len; i++) {
			if (strcmp(k->names->v[i], k->value) == 0)
				*(int *)(void *)field = (int)i;
		}
		return 0;
	case MXB_KEY_STRING: {
		char *copy = strdup(k->value);
		if (!copy)
			return -ENOMEM;
		free(*(char **)(void *)field);
		*(char **)(void *)field = copy;
		return 0;
	}
	case MXB_KEY_NONE:
		break;
	}
	return 0;
}

/* The sections whose keys live in struct mxb_config itself. */
static bool top_level(const char *section)
{
	static const char *const top[] = {
		"", "bridge", "xmpp", "xmpp.component", "mqtt", "mqtt.tls", "location"};
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
		if (strcmp(section, top[i]) == 0)
			return true;
	}
	return false;
}

int mxb_config_defaults(const char *section, void *obj)
{
	for (size_t i = 0; i < mxb_config_keys_len; i++) {
		const struct mxb_config_key *k = &mxb_config_keys[i];
		bool mine = section ? strcmp(k->section, section) == 0 : top_level(k->section);
		if (!mine || k->kind == MXB_KEY_NONE || !k->value)
			continue;
		if (set_default(k, (char *)obj + k->offset) < 0)
			return -ENOMEM;
	}
	return 0;
}
