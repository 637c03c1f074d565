#ifndef MXB_CONFIG_H
#define MXB_CONFIG_H

/*
 * bridge.conf (libconfig syntax) in, a validated plain struct out. No libconfig type
 * escapes this module. Every error carries "file:line: ", all of them are collected in
 * one run, and unknown keys are errors. config_keys.h lists every key and its default.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"

/* The longest host name the file takes (xmpp.host, mqtt.host, the component's). */
#define MXB_CONF_HOST_MAX 255

/* meson defines it from sysconfdir; this is what a --prefix=/usr build gets. */
#ifndef MXB_CONFIG_DEFAULT_PATH
#define MXB_CONFIG_DEFAULT_PATH "/etc/mqtt-xmpp-bridge/bridge.conf"
#endif

enum mxb_xmpp_tls {
	MXB_XMPP_TLS_STARTTLS,
	MXB_XMPP_TLS_DIRECT,
	MXB_XMPP_TLS_NONE,
};

enum mxb_bad_text {
	/* Invalid UTF-8 and characters XML forbids become U+FFFD. */
	MXB_BAD_TEXT_REPLACE,
	/* The message is refused, logged and counted. */
	MXB_BAD_TEXT_REFUSE,
};

struct mxb_strlist {
	char **v;
	size_t len;
};

struct mxb_template;

enum mxb_message_type {
	MXB_MESSAGE_CHAT,
	MXB_MESSAGE_NORMAL,
	MXB_MESSAGE_HEADLINE,
	MXB_MESSAGE_GROUPCHAT,
};

enum mxb_binary {
	/* Treated as text: what is not UTF-8 or XML is replaced or refused (bridge.bad_text). */
	MXB_BINARY_TEXT,
	MXB_BINARY_SKIP, /* a payload that is not UTF-8 text is not forwarded */
	MXB_BINARY_BASE64, /* it is forwarded base64-encoded */
	MXB_BINARY_HEX, /* it is forwarded as lowercase hex */
	MXB_BINARY_UPLOAD, /* it is uploaded (XEP-0363) and its URL sent, with XEP-0066 */
};

/* MUC roles and affiliations, in increasing order of rights (XEP-0045). */
enum mxb_muc_role {
	MXB_ROLE_NONE,
	MXB_ROLE_VISITOR,
	MXB_ROLE_PARTICIPANT,
	MXB_ROLE_MODERATOR,
};

enum mxb_muc_affiliation {
	MXB_AFFILIATION_OUTCAST,
	MXB_AFFILIATION_NONE,
	MXB_AFFILIATION_MEMBER,
	MXB_AFFILIATION_ADMIN,
	MXB_AFFILIATION_OWNER,
};

/* A group chat (XEP-0045) the bridge joins. */
struct mxb_room {
	char *jid; /* bare room JID */
	char *nick; /* default: the local part of xmpp.jid */
	char *password; /* NULL: none */
	int line;
};

/* MQTT -> XMPP: a message on a topic matching `topic` goes to every JID in `to`. */
struct mxb_notify_route {
	char *topic;
	struct mxb_strlist to;
	char *message;
	struct mxb_template *tmpl;
	int qos;
	enum mxb_message_type type; /* for targets that are not rooms; rooms get groupchat */
	bool retained; /* also forward retained messages replayed on subscribe */
	int min_interval; /* seconds between two messages per topic; 0: no limit */
	bool only_changes; /* skip a payload equal to the last one sent for the topic */
	enum mxb_binary binary;
	size_t max_payload; /* 0: bridge.max_payload */
	char *fallback; /* what a placeholder without a value renders as; "" */
	/* binary = "upload": */
	char *content_type; /* NULL: sniffed from the payload */
	char *file_name; /* template of the file name */
	struct mxb_template *file_tmpl;
	bool caption; /* `message` was set: it goes as a second message after the picture */
	int line;
};

/*
 * XMPP -> MQTT. Without `command`: "TOPIC PAYLOAD" from a sender `from` allows, published
 * when TOPIC matches `allow`. With `command`: "COMMAND ARG..." publishes the rendered
 * `topic` and `payload` templates (and, when `allow` is given, only topics it matches).
 */
struct mxb_command_route {
	struct mxb_strlist from; /* bare JIDs or "*@domain" */
	struct mxb_strlist rooms; /* rooms of xmpp.rooms named in `from` */

	struct mxb_strlist allow;
	char *command;
	char *usage; /* the arguments as `help` shows them, or NULL */
	char *description; /* what the command does, for `help`, or NULL */
	char *topic;
	struct mxb_template *topic_tmpl;
	char *payload;
	struct mxb_template *payload_tmpl;
	bool has_role;
	enum mxb_muc_role role; /* least role an occupant needs */
	bool has_affiliation;
	enum mxb_muc_affiliation affiliation; /* least affiliation an occupant needs */
	int qos;
	bool retain;
	int line;
};

enum mxb_convention {
	MXB_CONVENTION_NONE,
	MXB_CONVENTION_TASMOTA,
	MXB_CONVENTION_ZIGBEE2MQTT,
	MXB_CONVENTION_HOMEASSISTANT,
};

/* The state topics a convention adds beyond `state`, and what their payload holds. */
#define MXB_DEVICE_REPORTS_MAX 3
enum mxb_device_report {
	MXB_REPORT_POWER, /* JSON with "POWER" (Tasmota tele/X/STATE, stat/X/RESULT) */
	MXB_REPORT_SENSOR, /* JSON sensor readings (Tasmota tele/X/SENSOR) */
	MXB_REPORT_DISCOVERY, /* a Home Assistant discovery config: a device and its topics */
};

/*
 * MQTT availability and state -> one XMPP entity per device (component mode). A device is
 * known by its name, rendered from the topic of a message on `availability` or `state`.
 */
struct mxb_device_rule {
	enum mxb_convention convention;
	char *availability; /* topic filter, or NULL */
	char *state; /* topic filter, or NULL */
	char *name;
	struct mxb_template *name_tmpl;
	char *online; /* compared without case */
	char *offline;
	char *status;
	struct mxb_template *status_tmpl;
	char *show;
	struct mxb_template *show_tmpl; /* compared with away/xa/dnd */
	struct mxb_strlist away, xa, dnd;
	char *command; /* topic template, or NULL: no commands */
	struct mxb_template *command_tmpl;
	char *command_payload;
	struct mxb_template *command_payload_tmpl;
	char *friendly;
	struct mxb_template *friendly_tmpl;
	struct mxb_strlist allow; /* who may subscribe and command: JIDs, *@domain */
	int qos; /* of the subscriptions and commands */
	int timeout; /* seconds to wait for the new state */
	struct mxb_strlist exclude; /* topic filters whose messages this rule does not take */
	bool ask_state; /* ask a device for its state when it is seen after a connect */
	/* From the convention: more state topics (static strings), how to ask for the state. */
	const char *reports[MXB_DEVICE_REPORTS_MAX];
	enum mxb_device_report report_kinds[MXB_DEVICE_REPORTS_MAX];
	size_t reports_len;
	char *ask; /* topic template of the question, or NULL: the convention cannot ask */
	struct mxb_template *ask_tmpl;
	const char *ask_payload; /* static */
	int line;
};

/* An OwnTracks user whose positions the bridge publishes as this XMPP account's (XEP-0080). */
struct mxb_location_account {
	char *user; /* the USER level of owntracks/USER/DEVICE */
	char *jid; /* the account; a resource of its own keeps it apart from the user's client */
	char *password; /* from password or the first line of password_file */
	int line;
};

/* One session each, polled with the rest: a family, not a fleet. */
#define MXB_LOCATION_ACCOUNTS_MAX 64

enum mxb_location_format {
	MXB_LOCATION_OWNTRACKS, /* TOPIC/JID as an OwnTracks friend, and TOPIC/JID/info */
	MXB_LOCATION_JSON, /* TOPIC/JID as plain JSON */
};

/* How an MQTT payload becomes the payload of a pubsub item (XEP-0060). */
enum mxb_pubsub_format {
	MXB_PUBSUB_JSON, /* XEP-0335 <json/>; a payload that is not JSON goes as text */
	MXB_PUBSUB_TEXT, /* the payload as text */
	MXB_PUBSUB_ATOM, /* an Atom entry (XEP-0277) with title and summary */
	MXB_PUBSUB_BASE64, /* the payload base64-encoded */
};

/* MQTT -> a pubsub node: a message on `topic` becomes an item of the rendered `node`. */
struct mxb_pubsub_route {
	char *topic;
	char *service; /* the pubsub service's JID */
	char *node;
	struct mxb_template *node_tmpl;
	enum mxb_pubsub_format format;
	char *title, *summary; /* atom */
	struct mxb_template *title_tmpl, *summary_tmpl;
	int history; /* items kept with unique ids; 0: the latest value as item "current" */
	int qos;
	bool retained; /* also publish retained messages replayed on subscribe */
	size_t max_item; /* bytes of the publish request, checked before it is sent */
	int line;
};

/* A pubsub node (or every node of a service matching `pattern`) -> MQTT. */
struct mxb_subscribe_route {
	char *service;
	struct mxb_strlist nodes;
	char *pattern; /* NULL: the nodes listed */
	char *topic;
	struct mxb_template *topic_tmpl;
	int qos;
	bool retain;
	int line;
};

/*
 * The defaults of these fields are written in one place only, the table of keys in
 * config_keys.c (docs/configuration.md is tested against it); the comments here give
 * units and meanings, not default values, so that they cannot drift from it.
 */
struct mxb_config {
	char *path;

	struct {
		enum mxb_log_level log_level;
		size_t queue_size; /* messages held per direction */
		size_t max_payload; /* bytes of MQTT payload */
		size_t max_message; /* bytes of rendered message body */
		enum mxb_bad_text bad_text;
		char *spool; /* directory of the journal of held messages, NULL: none */
		/* This instance's name among those of a share group; NULL: the host name. */
		char *instance;
	} bridge;

	struct {
		char *jid;
		char *password; /* from password or the first line of password_file */
		char *host; /* NULL: the JID's domain, SRV first */
		int port; /* 0: default (5222, or 5223 for direct TLS) */
		enum mxb_xmpp_tls tls;
		char *ca_file; /* NULL: the system store */
		char *client_cert; /* with client_key: SASL EXTERNAL */
		char *client_key;
		char *status; /* presence status text, "" for none */
		int priority; /* of the bridge's presence: the highest gets bare-JID messages */
		int reconnect_max; /* seconds, cap of the reconnect backoff */
		int ping_interval; /* seconds between XEP-0199 pings to the server */
		int ping_timeout; /* seconds without an answer before reconnecting */
		int connect_timeout; /* seconds for an attempt to become a session */
		int ack_every; /* XEP-0198: ask for an ack after this many stanzas */
		int ack_delay; /* ... or this many ms after the oldest unasked one */
		int batch_delay_us; /* a batch waits at most this long after the last one */
		struct mxb_room *rooms;
		size_t rooms_len;
		/* Contacts' presence -> retained MQTT PREFIX/BAREJID; NULL: off. */
		char *presence_topic;
		bool presence_json; /* {"show":..,"status":..,"priority":..} instead of the show */
		/* Home Assistant discovery prefix for contacts' presence (announce.h); NULL: off.
		 */
		char *presence_discovery;
		/* HTTP File Upload (XEP-0363), for routes with binary = "upload". */
		struct {
			char *service; /* NULL: discovered on the server */
			bool allow_http; /* slots with http URLs are used too */
			int concurrency; /* uploads under way at once */
			int queue; /* uploads waiting beyond those */
			int timeout; /* seconds per PUT */
			int retries; /* attempts after the first failed one */
		} upload;
		/* XEP-0114 component for device JIDs; domain NULL: off. */
		struct {
			char *domain;
			char *secret;
			char *host;
			int port;
		} component;
	} xmpp;

	struct {
		char *host;
		int port; /* given, or the default for TLS or not */
		int version; /* 5 or 3 (3.1.1) */
		char *client_id; /* with share_group: CLIENT_ID-INSTANCE */
		/* Feeds subscribed as $share/GROUP/FILTER, split among instances; NULL: none. */
		char *share_group;
		char *username;
		char *password;
		int keepalive; /* seconds */
		char *status_topic; /* "": none */
		bool tls; /* true when the tls group is present */
		char *ca_file; /* NULL: the system store */
		char *cert_file;
		char *key_file;
		int reconnect_max; /* seconds, cap of the reconnect backoff */
		/* Seconds the broker keeps the session (and queues QoS 1 messages) while the
		 * bridge is away; 0: a clean session every time. */
		int session_expiry;
		char *stats_topic; /* NULL: no stats published */
		int stats_interval; /* seconds between two stats publishes */
	} mqtt;

	struct mxb_notify_route *notify;
	size_t notify_len;
	struct mxb_command_route *commands;
	size_t commands_len;
	struct mxb_device_rule *devices;
	size_t devices_len;
	size_t max_devices; /* bridge.max_devices */

	/* User location (XEP-0080), in config_location.c; nothing of it without the group. */
	struct {
		char *owntracks_topic; /* the prefix of owntracks/USER/DEVICE */
		int min_interval; /* seconds between two positions of one account */
		struct mxb_location_account *accounts;
		size_t accounts_len;
		struct mxb_strlist contacts; /* bare JIDs whose location is published */
		enum mxb_location_format format;
		char *topic; /* where contacts' locations go: TOPIC/BAREJID */
		/* format json: a template of the topic ({{from}}, {{name}}); NULL: TOPIC/BAREJID */
		char *json_topic;
		struct mxb_template *json_topic_tmpl;
	} location;
	struct mxb_pubsub_route *pubsub;
	size_t pubsub_len;
	struct mxb_subscribe_route *subscribe;
	size_t subscribe_len;
};

/*
 * Loads path into cfg (which the caller owns; release with mxb_config_finish). Returns 0,
 * or -EINVAL with every error appended to errors as "file:line: message" strings (the
 * caller frees them with mxb_strlist_finish). Reads password files; a file that cannot be
 * read is an error at the line naming it.
 */
int mxb_config_load(struct mxb_config *cfg, const char *path, struct mxb_strlist *errors);
void mxb_config_finish(struct mxb_config *cfg);

/* Writes what was found, as --check-config shows it; secrets are shown as "(set)". */
void mxb_config_print(const struct mxb_config *cfg, FILE *out);
/* The location part of it (config_location.c). */
void mxb_config_location_print(const struct mxb_config *cfg, FILE *out);
/* Whether a and b have the same location group (it is read at start only). */
bool mxb_config_location_equal(const struct mxb_config *a, const struct mxb_config *b);

/* Appends s, which the list now owns (freed on failure). Returns 0 or -ENOMEM. */
int mxb_strlist_take(struct mxb_strlist *list, char *s);
/* Appends a copy of s. Returns 0 or -ENOMEM. */

int mxb_strlist_push(struct mxb_strlist *list, const char *s);
void mxb_strlist_finish(struct mxb_strlist *list);

#endif
