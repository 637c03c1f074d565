#ifndef MXB_BRIDGE_PUBSUB_H
#define MXB_BRIDGE_PUBSUB_H

/*
 * The bridge's pubsub part (bridge_pubsub.c): MQTT messages to items of nodes (the pubsub
 * routes) and items of nodes to MQTT (the subscribe routes). Published items are held
 * until the service answered, like messages until their ack: sent again after a
 * reconnect, the oldest dropped (counted) past bridge.queue_size.
 */

#include <stdbool.h>

struct mxb_bridge;
struct mxb_mqtt_message;

int mxb_bridge_pubsub_init(struct mxb_bridge *b);
void mxb_bridge_pubsub_finish(struct mxb_bridge *b);
/* The XMPP client was (re)made: the session part follows it. Returns 0 or -errno. */
int mxb_bridge_pubsub_attach(struct mxb_bridge *b);
/* A message from MQTT (not the bridge's own): the items of the routes it matches. */
void mxb_bridge_pubsub_message(struct mxb_bridge *b, const struct mxb_mqtt_message *msg);
/* MQTT is up: subscribes to the filters of the pubsub routes. */
void mxb_bridge_pubsub_subscribe(struct mxb_bridge *b);
/* The XMPP session is up (sends what is held, subscribes, fetches) or went down. */
void mxb_bridge_pubsub_online(struct mxb_bridge *b);
void mxb_bridge_pubsub_offline(struct mxb_bridge *b);
/* The routes were replaced (a reload): route state starts afresh, held items stay. */
void mxb_bridge_pubsub_reload(struct mxb_bridge *b);
/*
 * An item the journal kept from the last run (a record of type MXB_PUBSUB_JOURNAL_TYPE):
 * held again, with its journal id. Returns whether it is kept (false: logged, dropped).
 */
bool mxb_bridge_pubsub_replay(
	struct mxb_bridge *b, const char *id, const char *service, const char *body);
/* Calls fn for every item held, oldest first, as a journal record (to rewrite the journal). */
void mxb_bridge_pubsub_each_journal(struct mxb_bridge *b,
	void (*fn)(const char *id, const char *to, const char *type, const char *body, void *data),
	void *data);
/* Whether no item waits for its answer. */
bool mxb_bridge_pubsub_drained(const struct mxb_bridge *b);

#endif
