/*
 * MQTT <-> publish-subscribe nodes (XEP-0060). The requests are built by pubsub_item.c and
 * sent by pubsub.c; this file holds what is in flight and decides what each answer means.
 */

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "bridge.h"
#include "bridge_pubsub.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "outbox.h"
#include "pubsub.h"
#include "pubsub_item.h"
#include "template.h"
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
	bool resent;
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
};

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
	bool online;
	struct route_state *routes; /* cfg->pubsub_len */
	size_t routes_len;
	struct sent sent[SENT_MAX];
	size_t sent_next;
	char node[MXB_PUBSUB_NODE_MAX + 1];
	bool full_logged;
};

static uint32_t new_tag(struct mxb_bridge_pubsub *p)
{
	if (++p->next_tag == 0)
		p->next_tag = 1;
	return p->next_tag;
}

static void item_free(struct item *it)
{
	if (!it)
		return;
	free(it->service);
	free(it->node);
	free(it->id);
	free(it->payload);
	free(it);
}

static void request_free(struct request *r)
{
	free(r->node);
	free(r);
}

static uint64_t node_key(const char *service, const char *node)
{
	uint64_t h = mxb_pubsub_hash(service, strlen(service));
	return h ^ (mxb_pubsub_hash(node, strlen(node)) * 31);
}

static void remember_sent(struct mxb_bridge_pubsub *p, const struct item *it)
{
	uint64_t key = node_key(it->service, it->node);
	struct sent *s = NULL;
	for (size_t i = 0; i < SENT_MAX && !s; i++) {
		if (p->sent[i].used && p->sent[i].key == key)
			s = &p->sent[i];
	}
	if (!s) {
		s = &p->sent[p->sent_next];
		p->sent_next = (p->sent_next + 1) % SENT_MAX;
	}
	s->used = true;
	s->key = key;
	s->value = it->hash;
	snprintf(s->id, sizeof(s->id), "%s", it->id);
}

/* Whether an item that came from the service is one the bridge published itself. */
static bool is_own(struct mxb_bridge_pubsub *p, const struct mxb_pubsub_event *ev,
	const char *value, size_t len)
{
	if (ev->publisher && p->ps && mxb_jid_bare_equal(ev->publisher, mxb_pubsub_jid(p->ps)))
		return true;
	uint64_t key = node_key(ev->service, ev->node);
	for (size_t i = 0; i < SENT_MAX; i++) {
		const struct sent *s = &p->sent[i];
		if (s->used && s->key == key && ev->item && strcmp(s->id, ev->item) == 0)
			return strcmp(ev->item, MXB_PUBSUB_CURRENT) != 0 ||
			       s->value == mxb_pubsub_hash(value, len);
	}
	return false;
}

static void unlink_item(struct mxb_bridge_pubsub *p, struct item *it)
{
	struct item **pp = &p->head, *prev = NULL;
	while (*pp && *pp != it) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = it->next;
	if (p->tail == it)
		p->tail = prev;
	p->len--;
	if (it->state != ITEM_QUEUED)
		p->inflight--;
}

static struct item *find_tag(struct mxb_bridge_pubsub *p, uint32_t tag)
{
	for (struct item *it = p->head; it; it = it->next) {
		if (it->state != ITEM_QUEUED && it->tag == tag)
			return it;
	}
	return NULL;
}

/* Builds the request of it (with tag's id) into out. Returns like the builders. */
static int build(const struct item *it, const char *id, struct mxb_strbuf *out)
{
	mxb_strbuf_init(out, it->max);
	if (it->state == ITEM_CREATING)
		return mxb_pubsub_iq_create(out, id, it->service, it->node, it->max_items);
	if (!it->payload)
		return mxb_pubsub_iq_retract(out, id, it->service, it->node, it->id);
	struct mxb_pubsub_publish pub = {
		.id = id,
		.service = it->service,
		.node = it->node,
		.item = it->id,
		.payload_xml = it->payload,
		.options = it->options,
	};
	return mxb_pubsub_iq_publish(out, &pub);
}

static void drop(struct mxb_bridge *b, struct item *it)
{
	unlink_item(b->pubsub, it);
	item_free(it);
}

/* Sends it now (state ITEM_SENT or ITEM_CREATING set by the caller). */
static int send_item(struct mxb_bridge *b, struct item *it)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	char id[32];
	uint32_t tag = new_tag(p);
	mxb_pubsub_request_id(id, sizeof(id), tag);
	struct mxb_strbuf out;
	int r = build(it, id, &out);
	if (r == 0)
		r = mxb_pubsub_send(p->ps, out.s);
	mxb_strbuf_finish(&out);
	if (r == 0) {
		it->tag = tag;
		if (it->resent)
			b->n.pubsub_resent++;
		/* Its notification may come back before the answer. */
		if (it->payload && it->state == ITEM_SENT)
			remember_sent(p, it);
	}
	return r;
}

/* Sends what is held, oldest first, while the window has room. */
static void flush(struct mxb_bridge *b)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	if (!p->online || !p->ps)
		return;
	for (struct item *it = p->head, *next; it && p->inflight < WINDOW; it = next) {
		next = it->next;
		if (it->state != ITEM_QUEUED)
			continue;
		it->state = ITEM_SENT;
		p->inflight++;
		int r = send_item(b, it);
		if (r == -ENOTCONN) {
			it->state = ITEM_QUEUED;
			p->inflight--;
			return;
		}
		if (r < 0) {
			b->n.pubsub_failed++;
			mxb_log_warn("pubsub: cannot send the item for node '%s' on '%s': %s; "
				     "dropped",
				it->node, it->service, strerror(-r));
			drop(b, it);
		}
	}
}

/* Holds it at the end; a queued value of the same node and item (latest) is replaced. */
static void hold(struct mxb_bridge *b, struct item *it)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	if (strcmp(it->id, MXB_PUBSUB_CURRENT) == 0) {
		for (struct item *o = p->head; o; o = o->next) {
			if (o->state == ITEM_QUEUED && strcmp(o->id, it->id) == 0 &&
				strcmp(o->node, it->node) == 0 &&
				strcmp(o->service, it->service) == 0) {
				/* The newer value takes the older's place in the order. */
				free(o->payload);
				o->payload = it->payload;
				o->hash = it->hash;
				it->payload = NULL;
				item_free(it);
				b->n.pubsub_replaced++;
				flush(b);
				return;
			}
		}
	}
	while (p->len >= b->cfg->bridge.queue_size) {
		struct item *old = p->head;
		while (old && old->state != ITEM_QUEUED)
			old = old->next;
		if (!old)
			old = p->head;
		b->n.pubsub_queue_dropped++;
		if (!p->full_logged) {
			p->full_logged = true;
			mxb_log_warn(
				"pubsub: %zu items held (bridge.queue_size); dropping the oldest",
				p->len);
		}
		drop(b, old);
	}
	if (p->tail)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	p->len++;
	flush(b);
}

static struct item *item_new(const struct mxb_pubsub_route *r, size_t route, const char *node,
	const char *id, char *payload, uint64_t hash, bool plain)
{
	struct item *it = calloc(1, sizeof(*it));
	if (!it)
		return NULL;
	it->route = route;
	it->line = r->line;
	it->service = strdup(r->service);
	it->node = strdup(node);
	it->id = strdup(id);
	it->payload = payload;
	it->hash = hash;
	it->max = r->max_item;
	it->max_items = r->history > 0 ? r->history : 1;
	it->options = !plain;
	if (!it->service || !it->node || !it->id) {
		item_free(it);
		return NULL;
	}
	return it;
}

/* A template rendered into buf (cap bytes) for a message; -E2BIG when it does not fit. */
static ssize_t render(
	const struct mxb_template *t, const struct mxb_mqtt_message *msg, char *buf, size_t cap)
{
	struct mxb_template_input in = {
		.topic = msg->topic,
		.payload = msg->payload,
		.payload_len = msg->len,
		.time = (int64_t)time(NULL),
	};
	return mxb_template_render(t, &in, buf, cap, NULL);
}

/* An Atom text: rendered, and made XML-safe (bad characters become U+FFFD, counted). */
static char *atom_text(struct mxb_bridge *b, const struct mxb_template *t,
	const struct mxb_mqtt_message *msg, size_t cap)
{
	char *raw = malloc(cap + 1);
	if (!raw)
		return NULL;
	ssize_t n = render(t, msg, raw, cap + 1);
	if (n < 0) {
		free(raw);
		return NULL;
	}
	if (mxb_text_xml_valid(raw, (size_t)n))
		return raw;
	char *clean = malloc(3 * (size_t)n + 1);
	if (clean && mxb_text_sanitize(raw, (size_t)n, clean, 3 * (size_t)n + 1, NULL) >= 0)
		b->n.text_replaced++;
	free(raw);
	return clean;
}

/* The payload element of msg for route r, or NULL (logged and counted). */
static char *payload_of(struct mxb_bridge *b, const struct mxb_pubsub_route *r,
	const struct mxb_mqtt_message *msg, const char *node, const char *id)
{
	struct mxb_pubsub_entry entry = {.time = (int64_t)time(NULL)};
	char *title = NULL, *summary = NULL, *eid = NULL;
	if (r->format == MXB_PUBSUB_ATOM) {
		title = atom_text(b, r->title_tmpl, msg, r->max_item);
		summary = atom_text(b, r->summary_tmpl, msg, r->max_item);
		size_t n = strlen(r->service) + strlen(node) + strlen(id) + 32;
		eid = malloc(n);
		if (eid)
			snprintf(eid, n, "tag:%s,2000:%s/%lld-%u", r->service, node,
				(long long)mxb_now_ms(), b->pubsub->seq++);
		entry.title = title;
		entry.summary = summary;
		entry.id = eid;
	}
	struct mxb_strbuf out;
	mxb_strbuf_init(&out, r->max_item);
	enum mxb_pubsub_built how = MXB_PUBSUB_BUILT_ASKED;
	int rc =
		(r->format == MXB_PUBSUB_ATOM && (!title || !summary || !eid))
			? -E2BIG
			: mxb_pubsub_payload(&out, r->format, msg->payload, msg->len, &entry, &how);
	char *xml = rc == 0 ? mxb_strbuf_take(&out) : NULL;
	mxb_strbuf_finish(&out);
	free(title);
	free(summary);
	free(eid);
	if (rc == -E2BIG) {
		b->n.pubsub_too_big++;
		mxb_log_warn("pubsub: the item for topic '%s' would be larger than max_item %zu "
			     "(route at line %d); not published",
			msg->topic, r->max_item, r->line);
	} else if (rc < 0) {
		mxb_log_error("pubsub: out of memory building the item for topic '%s'", msg->topic);
	} else if (how == MXB_PUBSUB_BUILT_TEXT) {
		b->n.pubsub_not_json++;
		mxb_log_warn(
			"pubsub: payload on topic '%s' is not JSON; published as text", msg->topic);
	} else if (how == MXB_PUBSUB_BUILT_BASE64) {
		b->n.pubsub_base64++;
		mxb_log_warn("pubsub: payload on topic '%s' is not UTF-8 text; published "
			     "base64-encoded",
			msg->topic);
	}
	return xml;
}

static bool request_fits(struct mxb_bridge *b, struct item *it, const char *topic)
{
	struct mxb_strbuf out;
	int r = build(it, ID_MAX_TEXT, &out);
	mxb_strbuf_finish(&out);
	if (r == 0)
		return true;
	b->n.pubsub_too_big++;
	mxb_log_warn("pubsub: the request for topic '%s' would be larger than max_item %zu "
		     "(route at line %d); not published",
		topic, it->max, it->line);
	return false;
}

static void route_message(struct mxb_bridge *b, size_t i, const struct mxb_pubsub_route *r,
	const struct mxb_mqtt_message *msg)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	struct route_state *rs = i < p->routes_len ? &p->routes[i] : NULL;
	if (rs && rs->disabled) {
		b->n.pubsub_refused++;
		return;
	}
	if (msg->retain && !r->retained) {
		b->n.retained_skipped++;
		return;
	}
	/*
	 * An empty message clears the retained value (subscribers get it live without the
	 * retain flag): the current item goes too. With history there is no current item.
	 */
	if (msg->len == 0 && r->history > 0) {
		b->n.pubsub_invalid++;
		mxb_log_debug("pubsub: empty payload on '%s' is no item; skipped", msg->topic);
		return;
	}
	if (msg->len > r->max_item) {
		b->n.pubsub_too_big++;
		mxb_log_warn("pubsub: payload on topic '%s' (%zu bytes) is larger than max_item "
			     "%zu (route at line %d); not published",
			msg->topic, msg->len, r->max_item, r->line);
		return;
	}
	ssize_t n = render(r->node_tmpl, msg, p->node, sizeof(p->node));
	if (n < 0 || !mxb_pubsub_node_valid(p->node, (size_t)n)) {
		b->n.pubsub_invalid++;
		mxb_log_warn("pubsub: the node for topic '%s' (route at line %d) is %s; not "
			     "published",
			msg->topic, r->line,
			n < 0    ? "longer than 1023 bytes"
			: n == 0 ? "empty"
				 : "not UTF-8 text");
		return;
	}
	char id[MXB_PUBSUB_ITEM_ID_MAX + 1] = MXB_PUBSUB_CURRENT;
	if (r->history > 0)
		mxb_pubsub_item_id(id, sizeof(id), mxb_now_ms(), p->seq++);
	char *payload = NULL;
	if (msg->len > 0) {
		payload = payload_of(b, r, msg, p->node, id);
		if (!payload)
			return;
	}
	struct item *it = item_new(r, i, p->node, id, payload,
		mxb_pubsub_hash(msg->payload, msg->len), rs && rs->plain);
	if (!it) {
		free(payload);
		mxb_log_error("pubsub: out of memory; the item for topic '%s' is lost", msg->topic);
		return;
	}
	if (!request_fits(b, it, msg->topic)) {
		item_free(it);
		return;
	}
	hold(b, it);
}

void mxb_bridge_pubsub_message(struct mxb_bridge *b, const struct mxb_mqtt_message *msg)
{
	const struct mxb_config *cfg = b->cfg;
	for (size_t i = 0; b->pubsub && i < cfg->pubsub_len; i++) {
		if (mxb_topic_matches(cfg->pubsub[i].topic, msg->topic))
			route_message(b, i, &cfg->pubsub[i], msg);
	}
}

/* The service refused the bridge: the route stops, with one line, until a reload. */
static void disable_route(struct mxb_bridge *b, struct item *it, const char *cond)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	b->n.pubsub_refused++;
	if (it->route >= p->routes_len || p->routes[it->route].disabled)
		return;
	p->routes[it->route].disabled = true;
	mxb_log_error("pubsub: '%s' refuses the bridge's items for node '%s' (%s); the route "
		      "at line %d is off until a reload",
		it->service, it->node, cond ? cond : "no reason", it->line);
	/* What else it holds for the route would be refused alike. */
	for (struct item *o = p->head, *next; o; o = next) {
		next = o->next;
		if (o != it && o->route == it->route && o->state == ITEM_QUEUED) {
			b->n.pubsub_refused++;
			drop(b, o);
		}
	}
}

static void publish_answer(struct mxb_bridge *b, struct item *it, const char *type,
	const char *cond, const char *ps_cond)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	if (it->state == ITEM_CREATING) {
		/* conflict: someone created it meanwhile; either way, publish now */
		if (strcmp(type, "result") == 0 || (cond && strcmp(cond, "conflict") == 0)) {
			b->n.pubsub_nodes_created += strcmp(type, "result") == 0;
			mxb_log_info("pubsub: created node '%s' on '%s'", it->node, it->service);
			it->state = ITEM_QUEUED;
			p->inflight--;
			return;
		}
		if (mxb_pubsub_classify(type, cond, ps_cond, false) == MXB_PUBSUB_DISABLE) {
			disable_route(b, it, cond);
		} else {
			b->n.pubsub_failed++;
			mxb_log_warn("pubsub: cannot create node '%s' on '%s' (%s%s%s); item "
				     "dropped",
				it->node, it->service, cond ? cond : "?", ps_cond ? ", " : "",
				ps_cond ? ps_cond : "");
		}
		drop(b, it);
		return;
	}
	if (!it->payload) {
		/* A retraction: an item that is not there any more is as good as retracted. */
		if (strcmp(type, "result") == 0 || (cond && strcmp(cond, "item-not-found") == 0)) {
			b->n.pubsub_retracted++;
		} else {
			b->n.pubsub_failed++;
			mxb_log_warn("pubsub: cannot retract item '%s' of node '%s' on '%s' (%s)",
				it->id, it->node, it->service, cond ? cond : "?");
		}
		drop(b, it);
		return;
	}
	enum mxb_pubsub_outcome o = mxb_pubsub_classify(type, cond, ps_cond, it->options);
	switch (o) {
	case MXB_PUBSUB_DONE:
		b->n.pubsub_published++;
		drop(b, it);
		return;
	case MXB_PUBSUB_CREATE:
		if (!it->created) {
			it->created = true;
			it->state = ITEM_CREATING;
			if (send_item(b, it) == 0)
				return;
		}
		b->n.pubsub_failed++;
		mxb_log_warn("pubsub: node '%s' on '%s' does not exist and cannot be created; "
			     "item dropped",
			it->node, it->service);
		break;
	case MXB_PUBSUB_RETRY_PLAIN:
		if (it->route < p->routes_len && !p->routes[it->route].plain) {
			p->routes[it->route].plain = true;
			mxb_log_info("pubsub: '%s' does not take the publish-options for node '%s' "
				     "(%s); publishing without them",
				it->service, it->node,
				ps_cond ? ps_cond
				: cond  ? cond
					: "?");
		}
		it->options = false;
		it->state = ITEM_QUEUED;
		p->inflight--;
		return;
	case MXB_PUBSUB_DISABLE:
		disable_route(b, it, cond);
		break;
	case MXB_PUBSUB_TOO_BIG:
		b->n.pubsub_too_big++;
		mxb_log_warn("pubsub: '%s' refused the item for node '%s' as too large; dropped",
			it->service, it->node);
		break;
	case MXB_PUBSUB_DROP:
		b->n.pubsub_failed++;
		mxb_log_warn("pubsub: '%s' refused the item for node '%s' (%s%s%s); dropped",
			it->service, it->node, cond ? cond : "?", ps_cond ? ", " : "",
			ps_cond ? ps_cond : "");
		break;
	}
	drop(b, it);
}

static void request_answer(
	struct mxb_bridge *b, struct request *r, const char *type, const char *cond)
{
	if (strcmp(type, "result") == 0)
		return;
	static const char *const what[] = {[REQ_SUBSCRIBE] = "subscribe to",
		[REQ_FETCH] = "fetch the last item of",
		[REQ_NODES] = "list the nodes of"};
	const struct mxb_config *cfg = b->cfg;
	const char *service =
		r->route < cfg->subscribe_len ? cfg->subscribe[r->route].service : "?";
	b->n.pubsub_failed++;
	/* An empty node has no last item: Prosody answers item-not-found. */
	if (r->kind == REQ_FETCH && cond && strcmp(cond, "item-not-found") == 0) {
		b->n.pubsub_failed--;
		return;
	}
	if (r->node)
		mxb_log_warn("pubsub: cannot %s node '%s' on '%s' (%s)", what[r->kind], r->node,
			service, cond ? cond : "?");
	else
		mxb_log_warn(
			"pubsub: cannot %s '%s' (%s)", what[r->kind], service, cond ? cond : "?");
}

static void on_answer(uint32_t tag, const char *from, const char *type, const char *cond,
	const char *ps_cond, void *data)
{
	struct mxb_bridge *b = data;
	struct mxb_bridge_pubsub *p = b->pubsub;
	struct item *it = find_tag(p, tag);
	if (it) {
		/* Only the service asked may answer (the server stamps from). */
		if (!mxb_jid_bare_equal(from, it->service))
			return;
		publish_answer(b, it, type, cond, ps_cond);
		flush(b);
		return;
	}
	for (struct request **pp = &p->requests; *pp; pp = &(*pp)->next) {
		if ((*pp)->tag == tag) {
			struct request *r = *pp;
			*pp = r->next;
			request_answer(b, r, type, cond);
			request_free(r);
			return;
		}
	}
}

/* Whether the subscribe route r takes events of node from service. */
static bool route_covers(const struct mxb_subscribe_route *r, const char *service, const char *node)
{
	if (!mxb_jid_bare_equal(r->service, service))
		return false;
	if (r->pattern)
		return mxb_pubsub_node_matches(r->pattern, node);
	for (size_t i = 0; i < r->nodes.len; i++) {
		if (strcmp(r->nodes.v[i], node) == 0)
			return true;
	}
	return false;
}

static bool wants(const char *from, void *data)
{
	const struct mxb_bridge *b = data;
	for (size_t i = 0; i < b->cfg->subscribe_len; i++) {
		if (mxb_jid_bare_equal(b->cfg->subscribe[i].service, from))
			return true;
	}
	return false;
}

static void to_mqtt(struct mxb_bridge *b, const struct mxb_subscribe_route *r,
	const struct mxb_pubsub_event *ev, const char *value, size_t len)
{
	char topic[1024];
	struct mxb_template_input in = {
		.topic = ev->node,
		.name = ev->node,
		.from = ev->service,
		.payload = value,
		.payload_len = len,
		.time = (int64_t)time(NULL),
	};
	ssize_t n = mxb_template_render(r->topic_tmpl, &in, topic, sizeof(topic), NULL);
	if (n < 0 || !mxb_topic_name_valid(topic, (size_t)n)) {
		b->n.pubsub_invalid++;
		mxb_log_warn("pubsub: node '%s' of '%s' gives no valid topic (route at line %d); "
			     "not published",
			ev->node, ev->service, r->line);
		return;
	}
	struct mxb_outbox_publish pub = {
		.topic = topic,
		.payload = value,
		.len = len,
		.qos = r->qos,
		.retain = r->retain,
		.latest = r->retain,
	};
	b->n.pubsub_received++;
	mxb_outbox_publish(b->outbox, &pub, NULL, NULL);
}

static void on_event(const struct mxb_pubsub_event *ev, void *data)
{
	struct mxb_bridge *b = data;
	const struct mxb_config *cfg = b->cfg;
	struct mxb_strbuf value;
	mxb_strbuf_init(&value, cfg->bridge.max_payload);
	int rc = 0;
	if (ev->kind == MXB_PUBSUB_EV_ITEM) {
		rc = ev->payload.name ? mxb_pubsub_element_value(&value, &ev->payload)
				      : mxb_strbuf_add(&value, "", 0);
		if (rc == -E2BIG) {
			b->n.payload_too_large++;
			mxb_log_warn("pubsub: item '%s' of node '%s' on '%s' is larger than "
				     "bridge.max_payload %zu; not published",
				ev->item ? ev->item : "", ev->node, ev->service,
				cfg->bridge.max_payload);
		} else if (rc < 0) {
			b->n.pubsub_invalid++;
			mxb_log_warn("pubsub: item '%s' of node '%s' on '%s' has an invalid "
				     "payload; not published",
				ev->item ? ev->item : "", ev->node, ev->service);
		}
		if (rc == 0 && is_own(b->pubsub, ev, value.s, value.len)) {
			b->n.pubsub_own_skipped++;
			mxb_log_debug("pubsub: item '%s' of node '%s' is the bridge's own",
				ev->item ? ev->item : "", ev->node);
			rc = -EEXIST;
		}
	}
	for (size_t i = 0; rc == 0 && i < cfg->subscribe_len; i++) {
		if (!route_covers(&cfg->subscribe[i], ev->service, ev->node))
			continue;
		if (ev->kind == MXB_PUBSUB_EV_ITEM)
			to_mqtt(b, &cfg->subscribe[i], ev, value.s, value.len);
		else
			to_mqtt(b, &cfg->subscribe[i], ev, "", 0);
	}
	mxb_strbuf_finish(&value);
}

static void invalid(const char *from, const char *what, void *data)
{
	struct mxb_bridge *b = data;
	b->n.pubsub_invalid++;
	mxb_log_warn("pubsub: ignoring a %s from '%s' that is too long or not UTF-8 text", what,
		from ? from : "?");
}

static int send_request(
	struct mxb_bridge *b, enum request_kind kind, size_t route, const char *node)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	const char *service = b->cfg->subscribe[route].service;
	struct request *r = calloc(1, sizeof(*r));
	if (!r || (node && !(r->node = strdup(node)))) {
		free(r);
		return -ENOMEM;
	}
	r->tag = new_tag(p);
	r->kind = kind;
	r->route = route;
	char id[32];
	mxb_pubsub_request_id(id, sizeof(id), r->tag);
	struct mxb_strbuf out;
	/* A node name is bounded: these fit whatever it is. */
	mxb_strbuf_init(&out, 16384);
	int rc = kind == REQ_SUBSCRIBE
			 ? mxb_pubsub_iq_subscribe(&out, id, service, node, mxb_pubsub_jid(p->ps))
		 : kind == REQ_FETCH ? mxb_pubsub_iq_last_item(&out, id, service, node)
				     : mxb_pubsub_iq_nodes(&out, id, service);
	if (rc == 0)
		rc = mxb_pubsub_send(p->ps, out.s);
	mxb_strbuf_finish(&out);
	if (rc < 0) {
		request_free(r);
		return rc;
	}
	r->next = p->requests;
	p->requests = r;
	return 0;
}

/* Subscribes to node (of route) and asks for its last item: Prosody never sends it. */
static void follow(struct mxb_bridge *b, size_t route, const char *node)
{
	if (send_request(b, REQ_SUBSCRIBE, route, node) < 0 ||
		send_request(b, REQ_FETCH, route, node) < 0)
		mxb_log_warn("pubsub: cannot subscribe to node '%s' now", node);
}

static void on_node(uint32_t tag, const char *from, const char *node, void *data)
{
	struct mxb_bridge *b = data;
	for (struct request *r = b->pubsub->requests; r; r = r->next) {
		if (r->tag != tag || r->kind != REQ_NODES)
			continue;
		const struct mxb_subscribe_route *sr = &b->cfg->subscribe[r->route];
		if (sr->pattern && mxb_jid_bare_equal(from, sr->service) &&
			mxb_pubsub_node_matches(sr->pattern, node))
			follow(b, r->route, node);
		return;
	}
}

static const struct mxb_pubsub_handlers handlers = {
	.wants = wants,
	.answer = on_answer,
	.event = on_event,
	.node = on_node,
	.invalid = invalid,
};

static void clear_requests(struct mxb_bridge_pubsub *p)
{
	while (p->requests) {
		struct request *r = p->requests;
		p->requests = r->next;
		request_free(r);
	}
}

void mxb_bridge_pubsub_online(struct mxb_bridge *b)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	if (!p || !p->ps)
		return;
	p->online = true;
	const struct mxb_config *cfg = b->cfg;
	for (size_t i = 0; i < cfg->subscribe_len; i++) {
		const struct mxb_subscribe_route *r = &cfg->subscribe[i];
		if (r->pattern) {
			if (send_request(b, REQ_NODES, i, NULL) < 0)
				mxb_log_warn(
					"pubsub: cannot list the nodes of '%s' now", r->service);
			continue;
		}
		for (size_t n = 0; n < r->nodes.len; n++)
			follow(b, i, r->nodes.v[n]);
	}
	flush(b);
}

void mxb_bridge_pubsub_offline(struct mxb_bridge *b)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	if (!p)
		return;
	p->online = false;
	/* No answer will come on the next session: what was out goes again, in order. */
	for (struct item *it = p->head; it; it = it->next) {
		if (it->state != ITEM_QUEUED) {
			it->state = ITEM_QUEUED;
			it->resent = true;
		}
	}
	p->inflight = 0;
	p->full_logged = false;
	clear_requests(p);
}

void mxb_bridge_pubsub_subscribe(struct mxb_bridge *b)
{
	const struct mxb_config *cfg = b->cfg;
	for (size_t i = 0; i < cfg->pubsub_len; i++) {
		/* A filter subscribed twice would bring its retained messages twice. */
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(cfg->pubsub[j].topic, cfg->pubsub[i].topic) == 0;
		for (size_t j = 0; j < cfg->notify_len && !seen; j++)
			seen = strcmp(cfg->notify[j].topic, cfg->pubsub[i].topic) == 0;
		if (!seen &&
			mxb_mqtt_subscribe(b->mqtt, cfg->pubsub[i].topic, cfg->pubsub[i].qos) == 0)
			mxb_log_debug("mqtt: subscribed to '%s' (qos %d) for pubsub",
				cfg->pubsub[i].topic, cfg->pubsub[i].qos);
	}
}

static int routes_init(struct mxb_bridge_pubsub *p, const struct mxb_config *cfg)
{
	struct route_state *rs = calloc(cfg->pubsub_len ? cfg->pubsub_len : 1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	free(p->routes);
	p->routes = rs;
	p->routes_len = cfg->pubsub_len;
	return 0;
}

int mxb_bridge_pubsub_init(struct mxb_bridge *b)
{
	struct mxb_bridge_pubsub *p = calloc(1, sizeof(*p));
	if (!p || routes_init(p, b->cfg) < 0) {
		free(p);
		return -ENOMEM;
	}
	b->pubsub = p;
	return 0;
}

void mxb_bridge_pubsub_finish(struct mxb_bridge *b)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	if (!p)
		return;
	if (p->len)
		mxb_log_warn("pubsub: %zu items were not answered by their service", p->len);
	while (p->head) {
		struct item *it = p->head;
		p->head = it->next;
		item_free(it);
	}
	clear_requests(p);
	mxb_pubsub_destroy(p->ps);
	free(p->routes);
	free(p);
	b->pubsub = NULL;
}

int mxb_bridge_pubsub_attach(struct mxb_bridge *b)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	if (!p)
		return 0;
	mxb_bridge_pubsub_offline(b);
	mxb_pubsub_destroy(p->ps);
	p->ps = NULL;
	if (!b->xmpp)
		return 0;
	return mxb_pubsub_create(&p->ps, b->xmpp, &handlers, b);
}

void mxb_bridge_pubsub_reload(struct mxb_bridge *b)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	if (!p)
		return;
	if (routes_init(p, b->cfg) < 0) {
		mxb_log_error("reload: out of memory; pubsub routes keep their state");
		return;
	}
	/* Held items finish with what they copied; the routes' indexes changed. */
	for (struct item *it = p->head; it; it = it->next)
		it->route = SIZE_MAX;
	/* New subscribe routes take effect now when the session is up. */
	clear_requests(p);
	if (p->online) {
		p->online = false;
		mxb_bridge_pubsub_online(b);
	}
}

bool mxb_bridge_pubsub_drained(const struct mxb_bridge *b)
{
	return !b->pubsub || !b->pubsub->head;
}
