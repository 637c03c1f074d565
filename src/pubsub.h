#ifndef MXB_PUBSUB_H
#define MXB_PUBSUB_H

/*
 * Publish-subscribe (XEP-0060) on the client's session: sends the requests that
 * pubsub_item.c builds, reads their answers and the services' event notifications, and
 * hands both on in plain structs. It decides nothing about routes; only events from
 * services the bridge wants are read (the others are left to other handlers).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pubsub_item.h"

struct mxb_xmpp;
struct mxb_pubsub;

enum mxb_pubsub_event_kind {
	MXB_PUBSUB_EV_ITEM, /* an item was published (or is the node's last, when fetched) */
	MXB_PUBSUB_EV_RETRACT, /* an item was retracted */
	MXB_PUBSUB_EV_GONE, /* the node was deleted or purged */
};

/* Strings are borrowed for the callback; all of them are XML text the session checked. */
struct mxb_pubsub_event {
	enum mxb_pubsub_event_kind kind;
	const char *service; /* the sender, as the server stamped it */
	const char *node; /* 1..MXB_PUBSUB_NODE_MAX bytes */
	const char *item; /* the item id, NULL when none; at most MXB_PUBSUB_ITEM_ID_MAX */
	const char *publisher; /* the item's publisher attribute, NULL when none */
	struct mxb_pubsub_element payload; /* ITEM: its first element (all NULL when none) */
	bool fetched; /* from the answer to a last-item request, not a notification */
};

struct mxb_pubsub_handlers {
	/* Whether events from this sender are the bridge's business (a configured service). */
	bool (*wants)(const char *from, void *data);
	/*
	 * The answer to the request of tag: type "result" or "error" with its RFC 6120 and
	 * XEP-0060 conditions (NULL when none). from is who answered.
	 */
	void (*answer)(uint32_t tag, const char *from, const char *type, const char *condition,
		const char *pubsub_condition, void *data);
	void (*event)(const struct mxb_pubsub_event *ev, void *data);
	/* A node of the service from, in the answer to a disco#items request of tag. */
	void (*node)(uint32_t tag, const char *from, const char *node, void *data);
	/* A malformed event, answer or oversized field was ignored (count it). */
	void (*invalid)(const char *from, const char *what, void *data);
};

/* Adds its handlers to x's session (x must outlive it). Returns 0 or a negative errno. */
int mxb_pubsub_create(struct mxb_pubsub **out, struct mxb_xmpp *x,
	const struct mxb_pubsub_handlers *handlers, void *data);
void mxb_pubsub_destroy(struct mxb_pubsub *p);

/* The id a request of tag must carry: "mxb-ps-TAG", into buf (at least 24 bytes). */
void mxb_pubsub_request_id(char *buf, size_t cap, uint32_t tag);
/*
 * Sends xml, a whole <iq/> as pubsub_item.c builds it, with an id from
 * mxb_pubsub_request_id. Returns 0, -ENOTCONN while the session cannot send, -EINVAL
 * when xml does not parse, or -ENOMEM.
 */
int mxb_pubsub_send(struct mxb_pubsub *p, const char *xml);
/* Whether the session can send now. */
bool mxb_pubsub_ready(const struct mxb_pubsub *p);
/* The account's bare JID (the subscriber, the publisher the services see). */
const char *mxb_pubsub_jid(const struct mxb_pubsub *p);

#endif
