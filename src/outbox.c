#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "counters.h"
#include "log.h"
#include "outbox.h"
#include "queue.h"

#define ID_MAX 48

/* A message for XMPP. One allocation: the strings follow the struct. */
struct message {
	char id[ID_MAX]; /* stanza id and XEP-0359 origin-id, the same on every copy */
	uint32_t seq; /* XEP-0198 number once sent, 0 when the session has no acks */
	int strikes; /* sessions that ended with a stream error while it was unacknowledged */
	const char *to, *type, *body;
	char text[];
};

/* A publish held while MQTT is down. One allocation: topic and payload follow. */
struct held {
	struct mxb_outbox_publish p;
	const struct mxb_outbox_client *client;
	void *ctx;
	char data[];
};

/* A publish written, waiting for its PUBACK. */
struct inflight {
	int mid;
	const struct mxb_outbox_client *client;
	void *ctx;
};

struct mxb_outbox {
	const struct mxb_outbox_ops *ops;
	void *data;
	struct mxb_counters *n;
	size_t bound;
	struct mxb_queue to_xmpp;
	struct mxb_queue unacked; /* sent to XMPP, waiting for the server's ack */
	struct mxb_queue to_mqtt;
	struct inflight *inflight; /* bound entries */
	size_t inflight_len;
	char id_prefix[17];
	uint64_t id_next;
	/* A bound was hit: the next line comes when the burst ends, not per message. */
	bool xmpp_dropping, unacked_dropping, mqtt_dropping;
};

static void nothing(void *p)
{
	(void)p;
}

static void held_free(void *p)
{
	struct held *h = p;
	if (h->client && h->client->free)
		h->client->free(h->ctx);
	free(h);
}

int mxb_outbox_create(struct mxb_outbox **out, size_t bound, const struct mxb_outbox_ops *ops,
	void *data, struct mxb_counters *n)
{
	struct mxb_outbox *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->ops = ops;
	o->data = data;
	o->n = n;
	o->bound = bound ? bound : 1;
	if (mxb_queue_init(&o->to_xmpp, o->bound) < 0)
		goto err_free_outbox;
	if (mxb_queue_init(&o->unacked, o->bound) < 0)
		goto err_finish_to_xmpp;
	if (mxb_queue_init(&o->to_mqtt, o->bound) < 0)
		goto err_finish_unacked;
	o->inflight = calloc(o->bound, sizeof(*o->inflight));
	if (!o->inflight)
		goto err_finish_to_mqtt;
	/* Ids of one run differ from those of every other, so a resent copy is recognized. */
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(o->id_prefix + 2 * i, 3, "%02x", rnd[i]);
	*out = o;
	return 0;

err_finish_to_mqtt:
	mxb_queue_finish(&o->to_mqtt, nothing);
err_finish_unacked:
	mxb_queue_finish(&o->unacked, nothing);
err_finish_to_xmpp:
	mxb_queue_finish(&o->to_xmpp, nothing);
err_free_outbox:
	free(o);
	return -ENOMEM;
}

void mxb_outbox_destroy(struct mxb_outbox *o)
{
	if (!o)
		return;
	if (o->to_xmpp.len)
		mxb_log_warn("bridge: %zu messages for XMPP not delivered at exit", o->to_xmpp.len);
	if (o->to_mqtt.len)
		mxb_log_warn("bridge: %zu commands for MQTT not published at exit", o->to_mqtt.len);
	if (o->unacked.len)
		mxb_log_warn("bridge: %zu messages sent to XMPP were not acknowledged at exit",
			o->unacked.len);
	/* Not journaled as done: what is still held goes out in the next run. */
	mxb_queue_finish(&o->to_xmpp, free);
	mxb_queue_finish(&o->unacked, free);
	mxb_queue_finish(&o->to_mqtt, held_free);
	for (size_t i = 0; i < o->inflight_len; i++) {
		if (o->inflight[i].client && o->inflight[i].client->free)
			o->inflight[i].client->free(o->inflight[i].ctx);
	}
	free(o->inflight);
	free(o);
}

/* XMPP */

static struct message *message_new(const char *to, const char *type, const char *body)
{
	size_t lt = strlen(to) + 1, ly = strlen(type) + 1, lb = strlen(body) + 1;
	struct message *m = malloc(sizeof(*m) + lt + ly + lb);
	if (!m)
		return NULL;
	m->id[0] = '\0';
	m->seq = 0;
	m->strikes = 0;
	char *p = m->text;
	m->to = memcpy(p, to, lt);
	m->type = memcpy(p + lt, type, ly);
	m->body = memcpy(p + lt + ly, body, lb);
	return m;
}

/* Journals the end of a message the outbox held; then frees it. */
static void done(struct mxb_outbox *o, struct message *m)
{
	if (o->ops->journal_done)
		o->ops->journal_done(m->id, o->data);
	free(m);
}

/* Holds m at the end of the queue; the oldest makes room when it is full. */
static void hold(struct mxb_outbox *o, struct message *m)
{
	struct message *old = mxb_queue_push(&o->to_xmpp, m);
	if (!old)
		return;
	o->n->xmpp_queue_dropped++;
	if (!o->xmpp_dropping)
		mxb_log_warn("bridge: XMPP queue of %zu is full; dropping the oldest messages "
			     "until it drains",
			o->bound);
	o->xmpp_dropping = true;
	done(o, old);
}

/* A sent message waits for the server's ack; without acks it is done. */
static void sent(struct mxb_outbox *o, struct message *m)
{
	o->n->xmpp_sent++;
	if (m->seq == 0) {
		done(o, m);
		return;
	}
	struct message *old = mxb_queue_push(&o->unacked, m);
	if (!old)
		return;
	/*
	 * The window is full: the oldest was written but never acknowledged. It is most likely
	 * delivered, but the outbox cannot tell, so the log says it may be lost.
	 */
	o->n->unacked_dropped++;
	if (!o->unacked_dropping)
		mxb_log_warn("bridge: %zu messages sent to XMPP wait for the server's "
			     "acknowledgement; dropping the oldest of them until acks come (not "
			     "resent: they may be lost)",
			o->bound);
	o->unacked_dropping = true;
	done(o, old);
}

static int try_send(struct mxb_outbox *o, struct message *m)
{
	return o->ops->send(m->to, m->type, m->body, m->id, &m->seq, o->data);
}

int mxb_outbox_send(struct mxb_outbox *o, const char *to, const char *type, const char *body)
{
	struct message *m = message_new(to, type, body);
	if (!m) {
		mxb_log_error("bridge: out of memory; a message to '%s' is lost", to);
		return -ENOMEM;
	}
	snprintf(m->id, sizeof(m->id), "mxb-%s-%llu", o->id_prefix,
		(unsigned long long)++o->id_next);
	if (o->ops->journal_add)
		o->ops->journal_add(m->id, m->to, m->type, m->body, o->data);
	if (o->to_xmpp.len == 0) {
		int r = try_send(o, m);
		if (r == 0) {
			sent(o, m);
			return 0;
		}
		if (r == -EHOSTUNREACH) {
			o->n->room_unreachable++;
			mxb_log_warn(
				"notify: room '%s' refused the bridge; message not delivered", to);
			done(o, m);
			return r;
		}
		if (r != -ENOTCONN && r != -EAGAIN) {
			mxb_log_warn("notify: cannot send to '%s': %s", to, strerror(-r));
			done(o, m);
			return r;
		}
	}
	hold(o, m);
	return 0;
}

int mxb_outbox_replay(
	struct mxb_outbox *o, const char *id, const char *to, const char *type, const char *body)
{
	if (strlen(id) >= ID_MAX)
		return -EINVAL;
	struct message *m = message_new(to, type, body);
	if (!m)
		return -ENOMEM;
	memcpy(m->id, id, strlen(id) + 1);
	hold(o, m);
	return 0;
}

void mxb_outbox_flush_xmpp(struct mxb_outbox *o)
{
	struct message *m;
	while ((m = mxb_queue_peek(&o->to_xmpp)) != NULL) {
		int r = try_send(o, m);
		if (r == -ENOTCONN || r == -EAGAIN)
			return;
		mxb_queue_pop(&o->to_xmpp);
		if (r == 0) {
			sent(o, m);
			continue;
		}
		if (r == -EHOSTUNREACH)
			o->n->room_unreachable++;
		else
			mxb_log_warn("notify: cannot send to '%s': %s", m->to, strerror(-r));
		done(o, m);
	}
	if (o->xmpp_dropping) {
		mxb_log_info("bridge: XMPP queue drained");
		o->xmpp_dropping = false;
	}
}

void mxb_outbox_acked(struct mxb_outbox *o, uint32_t h)
{
	struct message *m;
	while ((m = mxb_queue_peek(&o->unacked)) != NULL && (int32_t)(h - m->seq) >= 0) {
		mxb_queue_pop(&o->unacked);
		o->n->xmpp_acked++;
		done(o, m);
	}
	if (o->unacked_dropping) {
		mxb_log_info("bridge: acknowledgements come again; %llu unacknowledged messages "
			     "were dropped in all",
			(unsigned long long)o->n->unacked_dropped);
		o->unacked_dropping = false;
	}
}

/*
 * What the server did not acknowledge goes out again after the reconnect, in front of what
 * waits. A message that was in flight when the server closed the stream with an error
 * twice is taken for the cause and quarantined, not resent in a loop.
 */
void mxb_outbox_xmpp_lost(struct mxb_outbox *o, bool stream_error)
{
	struct message *first = mxb_queue_peek(&o->unacked);
	if (stream_error && first && ++first->strikes >= 2) {
		mxb_queue_pop(&o->unacked);
		o->n->quarantined++;
		mxb_log_error("bridge: quarantined the message '%s' to '%s': the server closed the "
			      "stream twice while it was in flight",
			first->id, first->to);
		done(o, first);
	}
	size_t n = o->unacked.len, dropped = 0;
	if (n == 0)
		return;
	/* Newest first, each in front: they end in their order, before what waited. */
	for (size_t i = n; i-- > 0;) {
		struct message *m = o->unacked.items[(o->unacked.head + i) % o->unacked.cap];
		m->seq = 0;
		if (mxb_queue_push_front(&o->to_xmpp, m)) {
			/* The queue is full: being the oldest, this one is dropped. */
			o->n->xmpp_queue_dropped++;
			dropped++;
			done(o, m);
		}
	}
	o->unacked.head = o->unacked.len = 0;
	o->n->xmpp_resent += n - dropped;
	if (dropped)
		mxb_log_warn("bridge: %zu messages were not acknowledged; %zu go out again after "
			     "the reconnect and %zu are dropped: the XMPP queue of %zu is full",
			n, n - dropped, dropped, o->bound);
	else
		mxb_log_info("bridge: %zu messages were not acknowledged; they go out again after "
			     "the reconnect",
			n);
}

void mxb_outbox_each_message(const struct mxb_outbox *o,
	void (*fn)(const char *id, const char *to, const char *type, const char *body, void *data),
	void *data)
{
	const struct mxb_queue *queues[] = {&o->unacked, &o->to_xmpp};
	for (size_t q = 0; q < 2; q++) {
		for (size_t i = 0; i < queues[q]->len; i++) {
			const struct message *m =
				queues[q]->items[(queues[q]->head + i) % queues[q]->cap];
			fn(m->id, m->to, m->type, m->body, data);
		}
	}
}

bool mxb_outbox_xmpp_drained(const struct mxb_outbox *o)
{
	return o->to_xmpp.len == 0 && o->unacked.len == 0;
}

size_t mxb_outbox_xmpp_queued(const struct mxb_outbox *o)
{
	return o->to_xmpp.len;
}

size_t mxb_outbox_xmpp_unacked(const struct mxb_outbox *o)
{
	return o->unacked.len;
}

/* MQTT */

static void tell(const struct mxb_outbox_client *c, void *ctx, enum mxb_outbox_event ev, int err)
{
	if (c && c->event)
		c->event(ev, err, ctx);
}

/* Tells the final event and releases ctx. */
static void finish(const struct mxb_outbox_client *c, void *ctx, enum mxb_outbox_event ev, int err)
{
	tell(c, ctx, ev, err);
	if (c && c->free)
		c->free(ctx);
}

/* Hands p to MQTT. Returns -ENOTCONN when it is down (ctx still the caller's), else the
 * outcome, told to the client (ctx then released or waiting for the ack). */
static int hand(struct mxb_outbox *o, const struct mxb_outbox_publish *p,
	const struct mxb_outbox_client *c, void *ctx)
{
	int mid = 0;
	int r = o->ops->publish(p->topic, p->payload, p->len, p->qos, p->retain, &mid, o->data);
	if (r == -ENOTCONN)
		return r;
	if (r < 0) {
		/* Too large for the broker (said by the MQTT side): refused, the rest goes on. */
		if (r == -EMSGSIZE)
			o->n->mqtt_too_large++;
		finish(c, ctx, MXB_OUTBOX_FAILED, r);
		return r;
	}
	tell(c, ctx, MXB_OUTBOX_WRITTEN, 0);
	if (p->qos == 0) {
		/* No acknowledgement to wait for (and its callback may have come already). */
		finish(c, ctx, MXB_OUTBOX_PUBLISHED, 0);
	} else if (o->inflight_len == o->bound) {
		/* Too many unacknowledged: answer now rather than grow without bound. */
		finish(c, ctx, MXB_OUTBOX_UNTRACKED, 0);
	} else {
		o->inflight[o->inflight_len++] = (struct inflight){mid, c, ctx};
	}
	return 0;
}

static struct held *held_new(
	const struct mxb_outbox_publish *p, const struct mxb_outbox_client *c, void *ctx)
{
	size_t lt = strlen(p->topic) + 1;
	struct held *h = malloc(sizeof(*h) + lt + p->len + 1);
	if (!h)
		return NULL;
	h->p = *p;
	h->p.topic = memcpy(h->data, p->topic, lt);
	h->p.payload = memcpy(h->data + lt, p->payload, p->len);
	h->data[lt + p->len] = '\0';
	h->client = c;
	h->ctx = ctx;
	return h;
}

/* A held publish to the same topic that a latest one replaces, or NULL. */
static struct held **held_latest(struct mxb_outbox *o, const char *topic)
{
	struct mxb_queue *q = &o->to_mqtt;
	for (size_t i = 0; i < q->len; i++) {
		struct held **h = (struct held **)&q->items[(q->head + i) % q->cap];
		if ((*h)->p.latest && strcmp((*h)->p.topic, topic) == 0)
			return h;
	}
	return NULL;
}

int mxb_outbox_publish(struct mxb_outbox *o, const struct mxb_outbox_publish *p,
	const struct mxb_outbox_client *client, void *ctx)
{
	if (o->to_mqtt.len == 0) {
		int r = hand(o, p, client, ctx);
		if (r != -ENOTCONN)
			return r;
	}
	struct held *h = held_new(p, client, ctx);
	if (!h) {
		mxb_log_error("bridge: out of memory; the publish to '%s' is lost", p->topic);
		finish(client, ctx, MXB_OUTBOX_FAILED, -ENOMEM);
		return -ENOMEM;
	}
	struct held **same = p->latest ? held_latest(o, p->topic) : NULL;
	if (same) {
		/* In the place of the older value: the order among topics stays. */
		struct held *old = *same;
		*same = h;
		tell(client, ctx, MXB_OUTBOX_QUEUED, 0);
		finish(old->client, old->ctx, MXB_OUTBOX_REPLACED, 0);
		free(old);
		return 0;
	}
	tell(client, ctx, MXB_OUTBOX_QUEUED, 0);
	struct held *old = mxb_queue_push(&o->to_mqtt, h);
	if (old) {
		o->n->mqtt_queue_dropped++;
		if (!o->mqtt_dropping)
			mxb_log_warn("bridge: MQTT queue of %zu is full; dropping the oldest "
				     "commands until it drains",
				o->bound);
		o->mqtt_dropping = true;
		finish(old->client, old->ctx, MXB_OUTBOX_DROPPED, 0);
		free(old);
	}
	return 0;
}

void mxb_outbox_flush_mqtt(struct mxb_outbox *o)
{
	struct held *h;
	while ((h = mxb_queue_peek(&o->to_mqtt)) != NULL) {
		if (hand(o, &h->p, h->client, h->ctx) == -ENOTCONN)
			return;
		free(mxb_queue_pop(&o->to_mqtt));
	}
	if (o->mqtt_dropping) {
		mxb_log_info("bridge: MQTT queue drained");
		o->mqtt_dropping = false;
	}
}

void mxb_outbox_published(struct mxb_outbox *o, int mid)
{
	for (size_t i = 0; i < o->inflight_len; i++) {
		struct inflight f = o->inflight[i];
		if (f.mid != mid)
			continue;
		o->inflight[i] = o->inflight[--o->inflight_len];
		finish(f.client, f.ctx, MXB_OUTBOX_PUBLISHED, 0);
		return;
	}
}

bool mxb_outbox_mqtt_drained(const struct mxb_outbox *o)
{
	return o->to_mqtt.len == 0 && o->inflight_len == 0;
}

size_t mxb_outbox_mqtt_queued(const struct mxb_outbox *o)
{
	return o->to_mqtt.len;
}

/* Resizing */

static void drop_message(void *item, void *data)
{
	struct mxb_outbox *o = data;
	o->n->xmpp_queue_dropped++;
	done(o, item);
}

static void drop_unacked(void *item, void *data)
{
	struct mxb_outbox *o = data;
	o->n->unacked_dropped++;
	done(o, item);
}

static void drop_held(void *item, void *data)
{
	struct mxb_outbox *o = data;
	struct held *h = item;
	o->n->mqtt_queue_dropped++;
	finish(h->client, h->ctx, MXB_OUTBOX_DROPPED, 0);
	free(h);
}

int mxb_outbox_set_bound(struct mxb_outbox *o, size_t bound)
{
	bound = bound ? bound : 1;
	size_t keep = bound > o->inflight_len ? bound : o->inflight_len;
	struct inflight *f = realloc(o->inflight, (keep ? keep : 1) * sizeof(*f));
	if (!f)
		return -ENOMEM;
	o->inflight = f;
	uint64_t dropped =
		o->n->xmpp_queue_dropped + o->n->unacked_dropped + o->n->mqtt_queue_dropped;
	if (mxb_queue_resize(&o->to_xmpp, bound, drop_message, o) < 0 ||
		mxb_queue_resize(&o->unacked, bound, drop_unacked, o) < 0 ||
		mxb_queue_resize(&o->to_mqtt, bound, drop_held, o) < 0)
		return -ENOMEM;
	dropped = o->n->xmpp_queue_dropped + o->n->unacked_dropped + o->n->mqtt_queue_dropped -
		  dropped;
	if (dropped)
		mxb_log_warn("bridge: queues of %zu: %llu messages and commands held beyond it "
			     "were dropped, the oldest first",
			bound, (unsigned long long)dropped);
	o->bound = bound;
	return 0;
}

void mxb_outbox_mqtt_reset(struct mxb_outbox *o)
{
	for (size_t i = 0; i < o->inflight_len; i++)
		finish(o->inflight[i].client, o->inflight[i].ctx, MXB_OUTBOX_FAILED, -ECONNRESET);
	if (o->inflight_len)
		mxb_log_warn("bridge: %zu publishes were waiting for the broker's "
			     "acknowledgement when the MQTT client was replaced; their senders "
			     "are told",
			o->inflight_len);
	o->inflight_len = 0;
}
