/*
 * Publish-subscribe nodes -> MQTT: the subscribe routes. At every login the bridge
 * subscribes to their nodes (listing the service's nodes first for a pattern) and fetches
 * each node's last item; items, retractions and deleted nodes become MQTT publishes.
 */

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "bridge_pubsub_state.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "outbox.h"
#include "pubsub.h"
#include "pubsub_item.h"
#include "template.h"
#include "topic.h"

static void request_free(struct request *r)
{
	free(r->node);
	free(r);
}

/* Whether an item that came from the service is one the bridge published itself. */
static bool is_own(struct mxb_bridge_pubsub *p, const struct mxb_pubsub_event *ev,
	const char *value, size_t len)
{
	if (ev->publisher && p->ps && mxb_jid_bare_equal(ev->publisher, mxb_pubsub_jid(p->ps)))
		return true;
	uint64_t key = mxb_bridge_pubsub_node_key(ev->service, ev->node);
	for (size_t i = 0; i < SENT_MAX; i++) {
		const struct sent *s = &p->sent[i];
		if (s->used && s->key == key && ev->item && strcmp(s->id, ev->item) == 0 &&
			(strcmp(ev->item, MXB_PUBSUB_CURRENT) != 0 ||
				s->value == mxb_pubsub_hash(value, len)))
			return true;
	}
	return false;
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

bool mxb_bridge_subscribe_wants(const char *from, void *data)
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

void mxb_bridge_subscribe_event(const struct mxb_pubsub_event *ev, void *data)
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

void mxb_bridge_subscribe_invalid(const char *from, const char *what, void *data)
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
	r->tag = mxb_bridge_pubsub_tag(p);
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

void mxb_bridge_subscribe_node(uint32_t tag, const char *from, const char *node, void *data)
{
	struct mxb_bridge *b = data;
	for (struct request *r = b->pubsub->requests; r; r = r->next) {
		if (r->tag != tag || r->kind != REQ_NODES)
			continue;
		const struct mxb_subscribe_route *sr = &b->cfg->subscribe[r->route];
		if (!sr->pattern || !mxb_jid_bare_equal(from, sr->service) ||
			!mxb_pubsub_node_matches(sr->pattern, node))
			return;
		if (r->followed++ == MXB_PUBSUB_PATTERN_NODES_MAX) {
			b->n.pubsub_invalid++;
			mxb_log_warn(
				"pubsub: '%s' has more than %d nodes matching '%s'; the others "
				"are not followed",
				sr->service, MXB_PUBSUB_PATTERN_NODES_MAX, sr->pattern);
		}
		if (r->followed <= MXB_PUBSUB_PATTERN_NODES_MAX)
			follow(b, r->route, node);
		return;
	}
}

void mxb_bridge_subscribe_clear(struct mxb_bridge_pubsub *p)
{
	while (p->requests) {
		struct request *r = p->requests;
		p->requests = r->next;
		request_free(r);
	}
}

bool mxb_bridge_subscribe_answer(
	struct mxb_bridge *b, uint32_t tag, const char *type, const char *cond)
{
	for (struct request **pp = &b->pubsub->requests; *pp; pp = &(*pp)->next) {
		if ((*pp)->tag == tag) {
			struct request *r = *pp;
			*pp = r->next;
			request_answer(b, r, type, cond);
			request_free(r);
			return true;
		}
	}
	return false;
}

void mxb_bridge_subscribe_online(struct mxb_bridge *b)
{
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
}
