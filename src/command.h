#ifndef MXB_COMMAND_H
#define MXB_COMMAND_H

/*
 * The command language of XMPP -> MQTT, the input strangers control. Decides what a chat
 * or group-chat message asks for and answers with a result: a publish (route, topic,
 * payload), a reply, or nothing. Every text it makes is built on the heap within the
 * config's bounds: too-long input is refused with a reply that says the limit, never cut.
 * Pure: no I/O, no logging, no library types.
 *
 * The language:
 *   help                    what the sender may send
 *   NAME ARG...             a named command; its templates take {{arg.N}} and {{args}}
 *   TOPIC PAYLOAD           a publish to TOPIC, when a route allows it to the sender
 * A first word that is none of these gets one reply wherever it is sent, "unknown command
 * 'WORD'; send 'help'" (also a command the sender may not use); a topic path with '/' the
 * sender may not publish to is refused as such.
 * In a room the bridge only reads "NICK: ..." or "NICK, ..." with its own nick.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "config.h"

/* Arguments a named command takes at most. */
#define MXB_COMMAND_ARGS_MAX 16
/* A word of the sender's echoed in a reply is cut past this many bytes (with "…"). */
#define MXB_COMMAND_ECHO_MAX 200

enum mxb_command_verdict {
	MXB_COMMAND_IGNORE, /* not meant for the bridge: nothing to do */
	MXB_COMMAND_PUBLISH, /* route, topic and payload set */
	MXB_COMMAND_HELP, /* reply set */
	MXB_COMMAND_STRANGER, /* the sender may not send commands at all */
	MXB_COMMAND_REFUSED, /* an allowed sender asked for what it may not: reply set */
	MXB_COMMAND_MALFORMED, /* not a command one can run: reply set */
	MXB_COMMAND_NOMEM, /* out of memory: reply set when it could be made */
};

struct mxb_command_result {
	enum mxb_command_verdict verdict;
	const struct mxb_command_route *route; /* PUBLISH */
	char *topic; /* PUBLISH */
	char *payload; /* PUBLISH; payload_len bytes (NUL-terminated too) */
	size_t payload_len;
	char *reply; /* what to tell the sender; for PUBLISH NULL */
	char *word; /* the first word as typed (a command or a topic), quoted for logs */
	const char *why; /* for the log line: why it was refused or malformed (static) */
};

struct mxb_command_input {
	const struct mxb_sender *sender;
	const char *from; /* the full JID as the server stamped it: {{from}} without a real JID */
	const char *body;
	int64_t now; /* seconds since the epoch, for {{time}} */
	/* In a room, for a groupchat message: the nick the bridge uses there, else NULL. */
	const char *addressed_to;
};

/*
 * Reads in->body against cfg's commands routes and fills *out (which the caller releases
 * with mxb_command_result_finish). Payloads are bounded by cfg->bridge.max_message, topics
 * by MXB_TOPIC_MAX.
 */
void mxb_command_parse(const struct mxb_config *cfg, const struct mxb_command_input *in,
	struct mxb_command_result *out);
void mxb_command_result_finish(struct mxb_command_result *r);

/* Whether any commands route lets s publish. */
bool mxb_command_allowed_anywhere(const struct mxb_config *cfg, const struct mxb_sender *s);

/*
 * The payload word of a chat message to a device: the body without surrounding space,
 * "on", "off" and "toggle" (any case) in upper case as Tasmota and Zigbee2MQTT spell them.
 * Returns a new string ("" for a blank body) or NULL when out of memory.
 */
char *mxb_command_device_word(const char *body);

/* What a chat message to the component domain itself asks for. */
enum mxb_domain_request {
	MXB_DOMAIN_UNKNOWN,
	MXB_DOMAIN_HELP, /* what the domain and the devices understand */
	MXB_DOMAIN_LIST, /* the devices the sender may see, with their state */
};

/* The request in body: "help" or "list", any case, surrounding space ignored. */
enum mxb_domain_request mxb_command_domain_request(const char *body);

/* What a chat message to a device asks for: its own words, or a payload for it. */
enum mxb_device_request {
	MXB_DEVICE_PAYLOAD, /* published through the rule's command template */
	MXB_DEVICE_HELP, /* what the device understands */
	MXB_DEVICE_STATUS, /* its availability and state now */
};

/* "help" or "status", any case, surrounding space ignored; anything else a payload. */
enum mxb_device_request mxb_command_device_request(const char *body);

#endif
