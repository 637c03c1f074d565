#ifndef MXB_OUTBOX_H
#define MXB_OUTBOX_H

/*
 * Everything the bridge holds in flight, both ways, each with its bound:
 *
 * - Messages for XMPP: a queue while XMPP is down (or a room not joined yet), then a
 *   window of messages sent but not acknowledged (XEP-0198). Each message gets its id
 *   once; a message not acknowledged when the session ends goes out again with the same
 *   id, in front of what waits. One that was in flight when the server closed the stream
 *   with an error twice is quarantined. Every message held is journaled (when there is a
 *   journal) until it is acknowledged or dropped.
 * - Publishes for MQTT: a queue while MQTT is down, then the publishes waiting for their
 *   PUBACK. The producer learns what became of each through its mxb_outbox_client, so it
 *   can answer its sender.
 *
 * A bound that is hit drops the oldest, counts it and logs one line per burst (until the
 * queue drains or acks come again). The outbox reaches the two sides and the journal only
 * through struct mxb_outbox_ops, so it links without either library.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mxb_counters;
struct mxb_outbox;

struct mxb_outbox_ops {
	/*
	 * Sends a message (body is XML-safe). Returns 0 with *seq set (0: the session has no
	 * acks, the message is done once written); -ENOTCONN or -EAGAIN: not now, kept;
	 * -EHOSTUNREACH (the room refused the bridge) or another error: dropped.
	 */
	int (*send)(const char *to, const char *type, const char *body, const char *id,
		uint32_t *seq, void *data);
	/* Publishes. Returns 0 with *mid set; -ENOTCONN: MQTT is down, kept; else failed. */
	int (*publish)(const char *topic, const void *payload, size_t len, int qos, bool retain,
		int *mid, void *data);
	/* Journals a message now held, and the end of one (acknowledged or dropped). NULL: no
	 * journal. */
	void (*journal_add)(
		const char *id, const char *to, const char *type, const char *body, void *data);
	void (*journal_done)(const char *id, void *data);
};

/*
 * Creates an outbox whose every queue and window holds at most bound entries; counts go
 * to *n (which must outlive it), data goes to every op. Returns 0 or -ENOMEM.
 */
int mxb_outbox_create(struct mxb_outbox **out, size_t bound, const struct mxb_outbox_ops *ops,
	void *data, struct mxb_counters *n);
/* Logs what was still held (the journal keeps it for the next run), then frees it all. */
void mxb_outbox_destroy(struct mxb_outbox *o);

/* XMPP */

/*
 * A message's type is carried as given, into the journal too: "chat+oob" (MXB_XMPP_OOB in
 * xmpp.h) marks a picture's URL, sent with its out-of-band data element after a restart
 * as before it.
 */

/*
 * Sends a message, or holds it while XMPP cannot take it. Copies to, type and body.
 * Returns 0 (sent or held), -ENOMEM, -EHOSTUNREACH or another error from ops->send; every
 * failure is logged here.
 */
int mxb_outbox_send(struct mxb_outbox *o, const char *to, const char *type, const char *body);
/*
 * Holds a message the journal kept from the last run, with its id; it is not journaled
 * again. Returns 0, -EINVAL (id longer than the outbox makes them) or -ENOMEM.
 */
int mxb_outbox_replay(
	struct mxb_outbox *o, const char *id, const char *to, const char *type, const char *body);
/* Sends what is held, until XMPP refuses one for now. Call when a session or room is up. */
void mxb_outbox_flush_xmpp(struct mxb_outbox *o);
/* The server acknowledged every message up to h (XEP-0198, compared with wrap-around). */
void mxb_outbox_acked(struct mxb_outbox *o, uint32_t h);
/* The session ended: what was not acknowledged goes out again first after the reconnect. */
void mxb_outbox_xmpp_lost(struct mxb_outbox *o, bool stream_error);
/* Calls fn for every message held, oldest first (to rewrite the journal). */
void mxb_outbox_each_message(const struct mxb_outbox *o,
	void (*fn)(const char *id, const char *to, const char *type, const char *body, void *data),
	void *data);
/* Whether nothing waits for XMPP: nothing queued and every message sent acknowledged. */
bool mxb_outbox_xmpp_drained(const struct mxb_outbox *o);
/* Messages waiting to be sent, and sent but not acknowledged. */
size_t mxb_outbox_xmpp_queued(const struct mxb_outbox *o);
size_t mxb_outbox_xmpp_unacked(const struct mxb_outbox *o);

/* MQTT */

struct mxb_outbox_publish {
	const char *topic;
	const void *payload;
	size_t len;
	int qos;
	bool retain;
	/* Retained state: a newer publish to the same topic replaces this one while held. */
	bool latest;
};

enum mxb_outbox_event {
	/* MQTT is down: held until it is back; more events follow. */
	MXB_OUTBOX_QUEUED,
	/* Handed to MQTT (count and log it); PUBLISHED or UNTRACKED follows. */
	MXB_OUTBOX_WRITTEN,
	/* Final: acknowledged (QoS 1 and 2) or written (QoS 0). */
	MXB_OUTBOX_PUBLISHED,
	/* Final: written, but the window of publishes waiting for their ack is full. */
	MXB_OUTBOX_UNTRACKED,
	/* Final: MQTT refused it or there was no memory to hold it (err says which). */
	MXB_OUTBOX_FAILED,
	/* Final: dropped as the oldest held when the queue was full. */
	MXB_OUTBOX_DROPPED,
	/* Final: a newer publish to its topic (latest) took its place while held. */
	MXB_OUTBOX_REPLACED,
};

/*
 * A producer of publishes: event is told what became of each (err is a negative errno
 * for FAILED, else 0), free releases ctx after the final event. Either may be NULL. event
 * may send XMPP messages but must not publish.
 */
struct mxb_outbox_client {
	void (*event)(enum mxb_outbox_event ev, int err, void *ctx);
	void (*free)(void *ctx);
};

/*
 * Publishes p, or holds a copy while MQTT is down. ctx is the outbox's from here on (for
 * client, which must be static); every outcome, an allocation failure included, reaches
 * client->event. Returns 0 (written or held) or the negative errno of FAILED.
 */
int mxb_outbox_publish(struct mxb_outbox *o, const struct mxb_outbox_publish *p,
	const struct mxb_outbox_client *client, void *ctx);
/* Publishes what is held, until MQTT refuses one for now. Call when MQTT is up. */
void mxb_outbox_flush_mqtt(struct mxb_outbox *o);
/* MQTT acknowledged the publish mid. */
void mxb_outbox_published(struct mxb_outbox *o, int mid);
/* Whether nothing waits for MQTT: nothing queued and every publish acknowledged. */
bool mxb_outbox_mqtt_drained(const struct mxb_outbox *o);
size_t mxb_outbox_mqtt_queued(const struct mxb_outbox *o);
/*
 * The MQTT client was replaced (a new client id): publishes waiting for their ack will
 * never hear it; each is told FAILED (-ECONNRESET).
 */
void mxb_outbox_mqtt_reset(struct mxb_outbox *o);

/*
 * A new bound for every queue and window (a reload); what is held beyond it is dropped,
 * the oldest first, counted and said in one line. Returns 0 or -ENOMEM.
 */
int mxb_outbox_set_bound(struct mxb_outbox *o, size_t bound);

#endif
