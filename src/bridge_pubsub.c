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
#include "bridge_pubsub_state.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "outbox.h"
#include "pubsub.h"
#include "pubsub_item.h"
#include "template.h"
uint32_t mxb_bridge_pubsub_tag(struct mxb_bridge_pubsub *p)
{
	if (++p->next_tag == 0)
		p->next_tag = 1;
	return p->next_tag;
}

void mxb_bridge_pubsub_item_free(struct item *it)
{
	if (!it)
		return;
	free(it->service);
	free(it->node);
	free(it->id);
	free(it->payload);
	free(it);
}

uint64_t mxb_bridge_pubsub_node_key(const char *service, const char *node)
{
	uint64_t h = mxb_pubsub_hash(service, strlen(service));
	return h ^ (mxb_pubsub_hash(node, strlen(node)) * 31);
}

/*
 * Remembers a value as it goes out, in a ring of the last SENT_MAX (several values of one
 * node may be out at once; each comes back in its own notification).
 */
static void remember_sent(struct mxb_bridge_pubsub *p, const struct item *it)
{
	struct sent *s = &p->sent[p->sent_next];
	p->sent_next = (p->sent_next + 1) % SENT_MAX;
	s->used = true;
	s->key = mxb_bridge_pubsub_node_key(it->service, it->node);
	s->value = it->hash;
	snprintf(s->id, sizeof(s->id), "%s", it->id);
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
		return mxb_pubsub_iq_create(
			out, id, it->service, it->node, it->create_plain ? 0 : it->max_items);
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
	mxb_bridge_pubsub_journal_done(b, it);
	mxb_bridge_pubsub_item_free(it);
}

/*
 * Whether to log a service's refusal now: one line a second at most, so that a service
 * that refuses every item (a wrong JID, say) cannot flood the log; the rest are counted
 * and their number said with the next line.
 */
static bool log_failure(struct mxb_bridge_pubsub *p)
{
	int64_t now = mxb_now_ms();
	if (p->failure_logged && now - p->failure_logged < 1000) {
		p->failures_unlogged++;
		return false;
	}
	if (p->failures_unlogged)
		mxb_log_warn("pubsub: %llu more refusals were not logged",
			(unsigned long long)p->failures_unlogged);
	p->failure_logged = now;
	p->failures_unlogged = 0;
	return true;
}

/* Sends it now (state ITEM_SENT or ITEM_CREATING set by the caller). */
static int send_item(struct mxb_bridge *b, struct item *it)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	char id[32];
	uint32_t tag = mxb_bridge_pubsub_tag(p);
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
			if (log_failure(p))
				mxb_log_warn(
					"pubsub: cannot send the item for node '%s' on '%s': %s; "
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
				mxb_bridge_pubsub_item_free(it);
				b->n.pubsub_replaced++;
				mxb_bridge_pubsub_journal_done(b, o);
				mxb_bridge_pubsub_journal_add(b, o);
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
		size_t before = p->len;
		drop(b, old);
		if (p->len == before)
			break; /* not held: nothing more to drop */
	}
	if (p->tail)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	p->len++;
	mxb_bridge_pubsub_journal_add(b, it);
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
		it->payload = NULL; /* still the caller's, who frees it */
		mxb_bridge_pubsub_item_free(it);
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
	/* With history a replayed value would be a second entry of one event. */
	if (msg->retain && (!r->retained || r->history > 0)) {
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
		mxb_bridge_pubsub_item_free(it);
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
			bool made = strcmp(type, "result") == 0;
			b->n.pubsub_nodes_created += made;
			mxb_log_info("pubsub: %s node '%s' on '%s'%s",
				made ? "created" : "another publisher created", it->node,
				it->service, made && it->create_plain ? " with its defaults" : "");
			it->state = ITEM_QUEUED;
			p->inflight--;
			return;
		}
		enum mxb_pubsub_outcome o = mxb_pubsub_classify(type, cond, ps_cond, false);
		if (o == MXB_PUBSUB_DISABLE) {
			disable_route(b, it, cond);
		} else if (!it->create_plain) {
			/* A max_items over the service's limit, say: its defaults will do. */
			mxb_log_info("pubsub: '%s' refused the configuration of node '%s' (%s); "
				     "creating it with the service's defaults",
				it->service, it->node, cond ? cond : "?");
			it->create_plain = true;
			if (send_item(b, it) == 0)
				return;
			b->n.pubsub_failed++;
		} else {
			b->n.pubsub_failed++;
			if (log_failure(p))
				mxb_log_warn(
					"pubsub: cannot create node '%s' on '%s' (%s%s%s); item "
					"dropped",
					it->node, it->service, cond ? cond : "?",
					ps_cond ? ", " : "", ps_cond ? ps_cond : "");
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
			if (log_failure(p))
				mxb_log_warn("pubsub: cannot retract item '%s' of node '%s' on "
					     "'%s' (%s)",
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
		if (log_failure(p))
			mxb_log_warn(
				"pubsub: node '%s' on '%s' does not exist and cannot be created; "
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
		if (log_failure(p))
			mxb_log_warn(
				"pubsub: '%s' refused the item for node '%s' as too large; dropped",
				it->service, it->node);
		break;
	case MXB_PUBSUB_DROP:
		b->n.pubsub_failed++;
		if (log_failure(p))
			mxb_log_warn(
				"pubsub: '%s' refused the item for node '%s' (%s%s%s); dropped",
				it->service, it->node, cond ? cond : "?", ps_cond ? ", " : "",
				ps_cond ? ps_cond : "");
		break;
	}
	drop(b, it);
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
	mxb_bridge_subscribe_answer(b, tag, type, cond);
}

static const struct mxb_pubsub_handlers handlers = {
	.wants = mxb_bridge_subscribe_wants,
	.answer = on_answer,
	.event = mxb_bridge_subscribe_event,
	.node = mxb_bridge_subscribe_node,
	.invalid = mxb_bridge_subscribe_invalid,
};

void mxb_bridge_pubsub_online(struct mxb_bridge *b)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	if (!p || !p->ps)
		return;
	p->online = true;
	mxb_bridge_subscribe_online(b);
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
	mxb_bridge_subscribe_clear(p);
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
		mxb_bridge_pubsub_item_free(it);
	}
	mxb_bridge_subscribe_clear(p);
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
	mxb_bridge_subscribe_clear(p);
	if (p->online) {
		p->online = false;
		mxb_bridge_pubsub_online(b);
	}
}

bool mxb_bridge_pubsub_drained(const struct mxb_bridge *b)
{
	return !b->pubsub || !b->pubsub->head;
}
