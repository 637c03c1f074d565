#ifndef MXB_PUBSUB_ITEM_H
#define MXB_PUBSUB_ITEM_H

/*
 * Publish-subscribe (XEP-0060) as text: the payload an MQTT message becomes, the requests
 * the bridge sends (as complete <iq/> strings, so their size is known before they leave),
 * what an error answer means for a route, which nodes a pattern names, and what an item
 * carries back to MQTT. Pure: no I/O, no library types; cJSON validates JSON payloads.
 *
 * Every builder appends to a struct mxb_strbuf whose max is the bound of the request:
 * it returns 0, -E2BIG when the result would not fit (nothing is cut) or -ENOMEM. Every
 * string given must be valid UTF-8 made of XML characters (mxb_text_xml_valid); the
 * builders escape what XML needs escaped, in text and in attribute values.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "strbuf.h"

#define MXB_NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define MXB_NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"
#define MXB_NS_PUBSUB_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define MXB_NS_PUBSUB_OWNER "http://jabber.org/protocol/pubsub#owner"
#define MXB_NS_JSON "urn:xmpp:json:0"
#define MXB_NS_ATOM "http://www.w3.org/2005/Atom"
/* The bridge's own payloads: <text/> and <base64/> for what is not JSON or Atom. */
#define MXB_NS_PAYLOAD "urn:mqtt-xmpp-bridge:payload:0"

/* Bytes of a node name: XEP-0060 sets none; the bridge bounds what it renders and reads. */
#define MXB_PUBSUB_NODE_MAX 1023
/* The item id of the latest value (latest-value nodes hold one item). */
#define MXB_PUBSUB_CURRENT "current"
/* Bytes of an item id, the bridge's and the service's alike. */
#define MXB_PUBSUB_ITEM_ID_MAX 255

/* Whether node[0..len) may name a node: 1..MXB_PUBSUB_NODE_MAX bytes of XML text. */
bool mxb_pubsub_node_valid(const char *node, size_t len);

/*
 * Whether node matches pattern, where '*' stands for any run of characters ('/' too) and
 * every other character for itself: the pattern "sensors/" followed by a star matches
 * "sensors/kitchen/temp".
 */
bool mxb_pubsub_node_matches(const char *pattern, const char *node);

/* An Atom entry's texts (XEP-0277): title and summary as rendered, id and time. */
struct mxb_pubsub_entry {
	const char *title;
	const char *summary;
	const char *id; /* the entry's unique id, an IRI */
	int64_t time; /* seconds since the epoch, for <published/> and <updated/> */
};

enum mxb_pubsub_built {
	MXB_PUBSUB_BUILT_ASKED, /* in the route's format */
	MXB_PUBSUB_BUILT_TEXT, /* format json, but the payload is not JSON: sent as text */
	MXB_PUBSUB_BUILT_BASE64, /* the payload is not XML text: sent base64-encoded */
};

/*
 * The payload element of payload[0..len) in format f (entry: for MXB_PUBSUB_ATOM, its
 * texts XML-safe), appended to out; *how tells whether it fell back to another form.
 */
int mxb_pubsub_payload(struct mxb_strbuf *out, enum mxb_pubsub_format f, const char *payload,
	size_t len, const struct mxb_pubsub_entry *entry, enum mxb_pubsub_built *how);

/* A publish request: item in node of service, payload_xml as built above. */
struct mxb_pubsub_publish {
	const char *id; /* of the iq */
	const char *service;
	const char *node;
	const char *item;
	const char *payload_xml;
	/*
	 * With publish-options: pubsub#persist_items, the one field both Prosody 0.12 and
	 * ejabberd 23.01 take (ejabberd fails on pubsub#max_items there).
	 */
	bool options;
};

int mxb_pubsub_iq_publish(struct mxb_strbuf *out, const struct mxb_pubsub_publish *p);
/* Retracts item of node, telling the subscribers (notify='true'). */
int mxb_pubsub_iq_retract(struct mxb_strbuf *out, const char *id, const char *service,
	const char *node, const char *item);
/*
 * Creates node, configured to persist items and keep max_items of them, open to all; with
 * max_items 0, with the service's defaults (no configuration form).
 */
int mxb_pubsub_iq_create(struct mxb_strbuf *out, const char *id, const char *service,
	const char *node, int max_items);
/* Subscribes jid (the bridge's bare JID) to node. */
int mxb_pubsub_iq_subscribe(struct mxb_strbuf *out, const char *id, const char *service,
	const char *node, const char *jid);
/* Asks for the last item of node (<items max_items='1'/>). */
int mxb_pubsub_iq_last_item(
	struct mxb_strbuf *out, const char *id, const char *service, const char *node);
/* Asks the service for its nodes (disco#items). */
int mxb_pubsub_iq_nodes(struct mxb_strbuf *out, const char *id, const char *service);

enum mxb_pubsub_outcome {
	MXB_PUBSUB_DONE, /* the service took it */
	MXB_PUBSUB_CREATE, /* no such node: create it, then publish once more */
	MXB_PUBSUB_RETRY_PLAIN, /* the publish-options were refused: publish without them */
	MXB_PUBSUB_DISABLE, /* the bridge may not publish there: the route stops */
	MXB_PUBSUB_TOO_BIG, /* the service refused the size: dropped, counted */
	MXB_PUBSUB_DROP, /* any other error: dropped, counted */
};

/*
 * What an answer to a publish means: type is the iq's type, condition the RFC 6120
 * condition of its error (NULL when none), pubsub_condition the XEP-0060 one from
 * MXB_NS_PUBSUB_ERRORS (NULL when none); options: the request had publish-options.
 */
enum mxb_pubsub_outcome mxb_pubsub_classify(
	const char *type, const char *condition, const char *pubsub_condition, bool options);
const char *mxb_pubsub_outcome_name(enum mxb_pubsub_outcome o);

/* What an item's payload element holds, as the session read it. */
struct mxb_pubsub_element {
	const char *ns; /* may be NULL */
	const char *name;
	const char *text; /* its text content, may be NULL */
	const char *xml; /* the element serialized */
};

/*
 * The MQTT payload of an item: the text of a XEP-0335 <json/> or of the bridge's <text/>,
 * the bytes of its <base64/> (-EINVAL when not base64), else the element's XML (an Atom
 * entry of another publisher, say). Appended to out.
 */
int mxb_pubsub_element_value(struct mxb_strbuf *out, const struct mxb_pubsub_element *e);

/*
 * An item held for a service, as the spool journals it: a message record (spool_record.h)
 * of type MXB_PUBSUB_JOURNAL_TYPE whose `to` is the service and whose body is
 *
 *   <max_items> <max> <nodelen> <itemlen> <p|r>\n<node><item><payload>
 *
 * (decimal lengths; p: a publish with its payload element, r: a retraction, no payload).
 * Decoded fields point into the body.
 */
#define MXB_PUBSUB_JOURNAL_TYPE "pubsub"

struct mxb_pubsub_journal {
	const char *node, *item, *payload;
	size_t node_len, item_len, payload_len;
	int max_items; /* for a node the bridge creates, 1..1000 */
	size_t max; /* bytes of the request, 512..240000 */
	bool retract;
};

/* Appends the body of j to out. Returns like the builders, -EINVAL for a field out of bounds. */
int mxb_pubsub_journal_encode(struct mxb_strbuf *out, const struct mxb_pubsub_journal *j);
/*
 * Decodes body[0..len). Returns 0, or -EBADMSG when it is no such body or a field is out of
 * its bounds (node and item as the session bounds them, text that XML can carry).
 */
int mxb_pubsub_journal_decode(const char *body, size_t len, struct mxb_pubsub_journal *j);

/* A unique item id for a route with history: "MS-SEQ", into buf (at least 32 bytes). */
void mxb_pubsub_item_id(char *buf, size_t cap, int64_t ms, uint32_t seq);

/* FNV-1a of s[0..len): what the bridge remembers of a value it published. */
uint64_t mxb_pubsub_hash(const char *s, size_t len);

#endif
