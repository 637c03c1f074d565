#ifndef MXB_BRIDGE_PUBSUB_STATE_H
#define MXB_BRIDGE_PUBSUB_STATE_H

/*
 * What bridge_pubsub.c (MQTT -> nodes) and bridge_subscribe.c (nodes -> MQTT) share: the
 * state of the bridge's pubsub part. Private to the two.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pubsub.h"

struct mxb_bridge;

#include "text.h"
#include "topic.h"

/* Requests sent at once and not answered yet: a window, so a burst cannot flood a stream. */
#define WINDOW 32
/* Values the bridge remembers having published, to know its own items when they come back. */
#define SENT_MAX 256
/* The longest request id, for the size check made before one is given. */
#define ID_MAX_TEXT "mxb-ps-4294967295"

enum item_state {
	ITEM_QUEUED, /* waits for the session or the window */
	ITEM_SENT, /* the publish or retract is out: waits for the answer */
	ITEM_CREATING, /* the node is being created; the publish follows */
};

/* An item (or a retraction: payload NULL) held until the service answers. */
struct item {
	struct item *next;
	size_t route; /* index in cfg->pubsub; SIZE_MAX after a reload */
	int line;
	char *service, *node, *id;
	char *payload; /* the payload element's XML; NULL: retract id */
	uint64_t hash; /* of the MQTT payload */
	size_t max; /* bytes of the request */
	int max_items; /* for a node the bridge creates */
	uint32_t tag;
	enum item_state state;
	bool options; /* send with publish-options */
	bool created; /* the node was created for it once already */
	bool create_plain; /* the configuration was refused: create with the defaults */
	bool resent;
	/* Its id in the journal (bridge.spool), "" when it is not journaled. */
	char jid[32];
};

enum request_kind {
	REQ_SUBSCRIBE,
	REQ_FETCH,
	REQ_NODES,
};

/* A request of the subscribe routes waiting for its answer, for its log line. */
struct request {
	struct request *next;
	uint32_t tag;
	enum request_kind kind;
	size_t route; /* index in cfg->subscribe */
	char *node; /* NULL for REQ_NODES */
	size_t followed; /* REQ_NODES: nodes subscribed to from its answer */
};

/* Nodes one pattern follows at most: a service listing more is not followed further. */
#define MXB_PUBSUB_PATTERN_NODES_MAX 1000

struct sent {
	uint64_t key; /* hash of service and node */
	uint64_t value; /* hash of the MQTT payload */
	char id[MXB_PUBSUB_ITEM_ID_MAX + 1];
	bool used;
};

struct route_state {
	bool disabled; /* the service refused the bridge: one log line, then nothing */
	bool plain; /* the service refused publish-options: publish without them */
};

struct mxb_bridge_pubsub {
	struct mxb_pubsub *ps; /* NULL without an XMPP client */
	struct item *head, *tail;
	size_t len, inflight;
	struct request *requests;
	uint32_t next_tag;
	uint32_t seq; /* of unique item ids */
	uint32_t journal_seq; /* of journal ids */
	bool online;
	struct route_state *routes; /* cfg->pubsub_len */
	size_t routes_len;
	struct sent sent[SENT_MAX];
	size_t sent_next;
	char node[MXB_PUBSUB_NODE_MAX + 1];
	bool full_logged;
	int64_t failure_logged; /* ms: when a service's refusal was last logged */
	uint64_t failures_unlogged; /* refusals since, not logged */
};

/* A fresh request tag (never 0). */
uint32_t mxb_bridge_pubsub_tag(struct mxb_bridge_pubsub *p);
/* What the bridge remembers a node by. */
uint64_t mxb_bridge_pubsub_node_key(const char *service, const char *node);

/* Frees an item that is in no list any more. NULL does nothing. */
void mxb_bridge_pubsub_item_free(struct item *it);

/* bridge_pubsub_journal.c: journals it under a fresh id (with bridge.spool), or its end. */
void mxb_bridge_pubsub_journal_add(struct mxb_bridge *b, struct item *it);
void mxb_bridge_pubsub_journal_done(struct mxb_bridge *b, struct item *it);

/* bridge_subscribe.c: the subscribe routes. */
/* The session is up: subscribe to the nodes (finding them first for patterns), fetch. */
void mxb_bridge_subscribe_online(struct mxb_bridge *b);
/* The answer to request tag, if it is one of these routes' (true), else false. */
bool mxb_bridge_subscribe_answer(
	struct mxb_bridge *b, uint32_t tag, const char *type, const char *cond);
/* Forgets the requests waiting for an answer (the session ended). */
void mxb_bridge_subscribe_clear(struct mxb_bridge_pubsub *p);
/* The callbacks of struct mxb_pubsub_handlers that belong to these routes; data is b. */
bool mxb_bridge_subscribe_wants(const char *from, void *data);
void mxb_bridge_subscribe_event(const struct mxb_pubsub_event *ev, void *data);
void mxb_bridge_subscribe_node(uint32_t tag, const char *from, const char *node, void *data);
void mxb_bridge_subscribe_invalid(const char *from, const char *what, void *data);

#endif
