#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "template.h"
#include "text.h"
#include "topic.h"

struct pending_message {
	char *to;
	char *body;
};

struct pending_publish {
	char *topic;
	char *payload;
	size_t len;
	int qos;
	bool retain;
	char *reply_to; /* full JID of the sender, answered once published */
};

struct mxb_inflight {
	int mid;
	char *reply_to;
	char *topic;
};

static void free_message(void *p)
{
	struct pending_message *m = p;
	free(m->to);
	free(m->body);
	free(m);
}

static void free_publish(void *p)
{
	struct pending_publish *m = p;
	free(m->topic);
	free(m->payload);
	free(m->reply_to);
	free(m);
}

static int build_index(const struct mxb_config *cfg, struct mxb_topic_index **out)
{
	struct mxb_topic_index *index = mxb_topic_index_create();
	if (!index)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->notify_len; i++) {
		int r = mxb_topic_index_add(index, cfg->notify[i].topic, i);
		if (r < 0) {
			mxb_topic_index_destroy(index);
			return r;
		}
	}
	*out = index;
	return 0;
}

int mxb_bridge_init(struct mxb_bridge *b, const struct mxb_config *cfg)
{
	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	int r = build_index(cfg, &b->index);
	if (r < 0)
		return r;
	r = mxb_queue_init(&b->to_xmpp, cfg->bridge.queue_size);
	if (r < 0)
		goto err_free_index;
	r = mxb_queue_init(&b->to_mqtt, cfg->bridge.queue_size);
	if (r < 0)
		goto err_finish_xmpp_queue;
	r = -ENOMEM;
	b->render = malloc(cfg->bridge.max_message + 1);
	b->clean = malloc(3 * cfg->bridge.max_message + 1);
	b->matches = calloc(cfg->notify_len ? cfg->notify_len : 1, sizeof(*b->matches));
	b->inflight_cap = cfg->bridge.queue_size;
	b->inflight = calloc(b->inflight_cap, sizeof(*b->inflight));
	if (!b->render || !b->clean || !b->matches || !b->inflight)
		goto err_free_buffers;
	return 0;

err_free_buffers:
	free(b->render);
	free(b->clean);
	free(b->matches);
	free(b->inflight);
	mxb_queue_finish(&b->to_mqtt, free_publish);
err_finish_xmpp_queue:
	mxb_queue_finish(&b->to_xmpp, free_message);
err_free_index:
	mxb_topic_index_destroy(b->index);
	return r;
}

void mxb_bridge_finish(struct mxb_bridge *b)
{
	if (b->to_xmpp.len)
		mxb_log_warn("bridge: %zu messages for XMPP not delivered at exit", b->to_xmpp.len);
	if (b->to_mqtt.len)
		mxb_log_warn("bridge: %zu commands for MQTT not published at exit", b->to_mqtt.len);
	mxb_queue_finish(&b->to_xmpp, free_message);
	mxb_queue_finish(&b->to_mqtt, free_publish);
	for (size_t i = 0; i < b->inflight_len; i++) {
		free(b->inflight[i].reply_to);
		free(b->inflight[i].topic);
	}
	free(b->inflight);
	free(b->render);
	free(b->clean);
	free(b->matches);
	mxb_topic_index_destroy(b->index);
}

void mxb_bridge_attach(struct mxb_bridge *b, struct mxb_mqtt *mqtt, struct mxb_xmpp *xmpp)
{
	b->mqtt = mqtt;
	b->xmpp = xmpp;
}

void mxb_bridge_log_counters(const struct mxb_bridge *b)
{
	const struct mxb_counters *n = &b->n;
	mxb_log_info("bridge: mqtt received %llu, retained skipped %llu, xmpp sent %llu, "
		     "xmpp queue dropped %llu, payload too large %llu, message too long %llu, "
		     "text replaced %llu, text refused %llu, json misses %llu",
		(unsigned long long)n->mqtt_received, (unsigned long long)n->retained_skipped,
		(unsigned long long)n->xmpp_sent, (unsigned long long)n->xmpp_queue_dropped,
		(unsigned long long)n->payload_too_large, (unsigned long long)n->message_too_long,
		(unsigned long long)n->text_replaced, (unsigned long long)n->text_refused,
		(unsigned long long)n->json_misses);
	mxb_log_info("bridge: commands published %llu, refused %llu, from strangers %llu, "
		     "malformed %llu, mqtt queue dropped %llu",
		(unsigned long long)n->commands_published, (unsigned long long)n->commands_refused,
		(unsigned long long)n->commands_from_strangers,
		(unsigned long long)n->commands_malformed,
		(unsigned long long)n->mqtt_queue_dropped);
}

/* MQTT -> XMPP */

static void flush_xmpp(struct mxb_bridge *b)
{
	struct pending_message *m;
	while ((m = mxb_queue_peek(&b->to_xmpp)) != NULL) {
		if (mxb_xmpp_send_message(b->xmpp, m->to, "chat", m->body) == -ENOTCONN)
			return;
		b->n.xmpp_sent++;
		free_message(mxb_queue_pop(&b->to_xmpp));
	}
	if (b->xmpp_dropping) {
		mxb_log_info("bridge: XMPP queue drained");
		b->xmpp_dropping = false;
	}
}

static void deliver(struct mxb_bridge *b, const char *to, const char *body)
{
	if (b->to_xmpp.len == 0) {
		int r = mxb_xmpp_send_message(b->xmpp, to, "chat", body);
		if (r == 0) {
			b->n.xmpp_sent++;
			return;
		}
		if (r != -ENOTCONN) {
			mxb_log_warn("notify: cannot send to '%s': %s", to, strerror(-r));
			return;
		}
	}
	struct pending_message *m = malloc(sizeof(*m));
	if (!m || !(m->to = strdup(to)) || !(m->body = strdup(body))) {
		if (m && m->to)
			free(m->to);
		free(m);
		mxb_log_error("notify: out of memory; message to '%s' lost", to);
		return;
	}
	struct pending_message *old = mxb_queue_push(&b->to_xmpp, m);
	if (old) {
		b->n.xmpp_queue_dropped++;
		if (!b->xmpp_dropping)
			mxb_log_warn(
				"bridge: XMPP is down and its queue of %zu is full; dropping the "
				"oldest messages until it drains",
				b->cfg->bridge.queue_size);
		b->xmpp_dropping = true;
		free_message(old);
	}
}

static void collect_match(size_t id, void *data)
{
	struct mxb_bridge *b = data;
	b->matches[b->matches_len++] = id;
}

static void on_mqtt_message(const struct mxb_mqtt_message *msg, void *data)
{
	struct mxb_bridge *b = data;
	const struct mxb_config *cfg = b->cfg;
	b->n.mqtt_received++;
	if (msg->retain) {
		/* A retained message replayed on subscribe is old news, not an event. */
		b->n.retained_skipped++;
		mxb_log_debug("notify: skipping retained message on '%s'", msg->topic);
		return;
	}
	if (msg->len > cfg->bridge.max_payload) {
		b->n.payload_too_large++;
		mxb_log_warn(
			"notify: payload too large on topic '%s' (%zu bytes, max_payload %zu); "
			"not forwarded",
			msg->topic, msg->len, cfg->bridge.max_payload);
		return;
	}
	b->matches_len = 0;
	mxb_topic_index_match(b->index, msg->topic, collect_match, b);
	for (size_t i = 0; i < b->matches_len; i++) {
		const struct mxb_notify_route *route = &cfg->notify[b->matches[i]];
		struct mxb_template_input in = {
			.topic = msg->topic,
			.payload = msg->payload,
			.payload_len = msg->len,
		};
		struct mxb_template_stats stats = {0};
		ssize_t len = mxb_template_render(
			route->tmpl, &in, b->render, cfg->bridge.max_message + 1, &stats);
		if (stats.json_misses) {
			b->n.json_misses += stats.json_misses;
			mxb_log_debug("notify: '%s' has no value for a {{json...}} field of the "
				      "route at line %d",
				msg->topic, route->line);
		}
		if (len < 0) {
			b->n.message_too_long++;
			mxb_log_warn("notify: message for topic '%s' longer than max_message %zu; "
				     "not forwarded",
				msg->topic, cfg->bridge.max_message);
			continue;
		}
		const char *body = b->render;
		if (!mxb_text_xml_valid(b->render, (size_t)len)) {
			if (cfg->bridge.bad_text == MXB_BAD_TEXT_REFUSE) {
				b->n.text_refused++;
				mxb_log_warn("notify: message for topic '%s' has invalid UTF-8 or "
					     "characters XML forbids; refused",
					msg->topic);
				continue;
			}
			size_t replaced = 0;
			if (mxb_text_sanitize(b->render, (size_t)len, b->clean,
				    3 * cfg->bridge.max_message + 1, &replaced) < 0)
				continue;
			b->n.text_replaced++;
			mxb_log_warn(
				"notify: replaced %zu invalid or XML-forbidden characters in the "
				"message for topic '%s'",
				replaced, msg->topic);
			body = b->clean;
		}
		for (size_t t = 0; t < route->to.len; t++)
			deliver(b, route->to.v[t], body);
	}
}

static void subscribe_all(struct mxb_bridge *b)
{
	const struct mxb_config *cfg = b->cfg;
	for (size_t i = 0; i < cfg->notify_len; i++) {
		/* One SUBSCRIBE per distinct filter, with the highest QoS any route asks for. */
		bool seen = false;
		int qos = cfg->notify[i].qos;
		for (size_t j = 0; j < cfg->notify_len; j++) {
			if (strcmp(cfg->notify[j].topic, cfg->notify[i].topic) != 0)
				continue;
			if (j < i)
				seen = true;
			if (cfg->notify[j].qos > qos)
				qos = cfg->notify[j].qos;
		}
		if (seen)
			continue;
		if (mxb_mqtt_subscribe(b->mqtt, cfg->notify[i].topic, qos) == 0)
			mxb_log_debug(
				"mqtt: subscribed to '%s' (qos %d)", cfg->notify[i].topic, qos);
	}
}

/* XMPP -> MQTT */

static void reply(struct mxb_bridge *b, const char *to, const char *fmt, ...) MXB_PRINTF(3, 4);

static void reply(struct mxb_bridge *b, const char *to, const char *fmt, ...)
{
	char text[1024];
	char clean[3 * sizeof(text)];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1;
	if (mxb_text_sanitize(text, len, clean, sizeof(clean), NULL) < 0)
		return;
	deliver(b, to, clean);
}

static void track(struct mxb_bridge *b, int mid, const char *reply_to, const char *topic)
{
	if (b->inflight_len == b->inflight_cap) {
		/* Too many unacknowledged: answer now rather than grow without bound. */
		reply(b, reply_to, "sent to '%s'", topic);
		return;
	}
	struct mxb_inflight *f = &b->inflight[b->inflight_len];
	f->reply_to = strdup(reply_to);
	f->topic = strdup(topic);
	if (!f->reply_to || !f->topic) {
		free(f->reply_to);
		free(f->topic);
		return;
	}
	f->mid = mid;
	b->inflight_len++;
}

static int publish(struct mxb_bridge *b, struct pending_publish *p)
{
	int mid = 0;
	int r = mxb_mqtt_publish(b->mqtt, p->topic, p->payload, p->len, p->qos, p->retain, &mid);
	if (r == 0) {
		b->n.commands_published++;
		mxb_log_info("command: published to '%s' for '%s'", p->topic, p->reply_to);
		track(b, mid, p->reply_to, p->topic);
	} else if (r != -ENOTCONN) {
		mxb_log_warn("command: cannot publish to '%s': %s", p->topic, strerror(-r));
		reply(b, p->reply_to, "failed: cannot publish to '%s': %s", p->topic, strerror(-r));
	}
	return r;
}

static void flush_mqtt(struct mxb_bridge *b)
{
	struct pending_publish *p;
	while ((p = mxb_queue_peek(&b->to_mqtt)) != NULL) {
		if (publish(b, p) == -ENOTCONN)
			return;
		free_publish(mxb_queue_pop(&b->to_mqtt));
	}
	if (b->mqtt_dropping) {
		mxb_log_info("bridge: MQTT queue drained");
		b->mqtt_dropping = false;
	}
}

static void on_published(int mid, void *data)
{
	struct mxb_bridge *b = data;
	for (size_t i = 0; i < b->inflight_len; i++) {
		struct mxb_inflight *f = &b->inflight[i];
		if (f->mid != mid)
			continue;
		reply(b, f->reply_to, "published to '%s'", f->topic);
		free(f->reply_to);
		free(f->topic);
		*f = b->inflight[--b->inflight_len];
		return;
	}
}

static bool listed(const struct mxb_strlist *list, const char *jid)
{
	for (size_t i = 0; i < list->len; i++) {
		if (mxb_jid_bare_equal(list->v[i], jid))
			return true;
	}
	return false;
}

static void help(struct mxb_bridge *b, const char *from)
{
	char text[1024];
	size_t n = (size_t)snprintf(text, sizeof(text), "send: TOPIC PAYLOAD. You may publish to:");
	for (size_t i = 0; i < b->cfg->commands_len; i++) {
		const struct mxb_command_route *r = &b->cfg->commands[i];
		if (!listed(&r->from, from))
			continue;
		for (size_t j = 0; j < r->allow.len && n < sizeof(text); j++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, " %s", r->allow.v[j]);
	}
	reply(b, from, "%s", text);
}

static void on_xmpp_message(const struct mxb_xmpp_message *msg, void *data)
{
	struct mxb_bridge *b = data;
	const struct mxb_config *cfg = b->cfg;
	const struct mxb_command_route *route = NULL;
	bool known = false;

	for (size_t i = 0; i < cfg->commands_len; i++)
		known = known || listed(&cfg->commands[i].from, msg->from);
	if (!known) {
		b->n.commands_from_strangers++;
		mxb_log_warn("command: refused message from '%s': not allowed", msg->from);
		mxb_xmpp_send_forbidden(b->xmpp, msg->from, msg->id,
			"You are not allowed to send commands to this bridge.");
		return;
	}

	/* Split "TOPIC PAYLOAD" at the first run of whitespace. */
	const char *p = msg->body;
	while (isspace((unsigned char)*p))
		p++;
	const char *topic_end = p;
	while (*topic_end && !isspace((unsigned char)*topic_end))
		topic_end++;
	size_t topic_len = (size_t)(topic_end - p);
	const char *payload = topic_end;
	while (isspace((unsigned char)*payload))
		payload++;
	size_t payload_len = strlen(payload);
	while (payload_len && isspace((unsigned char)payload[payload_len - 1]))
		payload_len--;

	if (topic_len == 4 && strncasecmp(p, "help", 4) == 0 && payload_len == 0) {
		help(b, msg->from);
		return;
	}
	if (topic_len == 0 || topic_len > MXB_TOPIC_MAX) {
		b->n.commands_malformed++;
		reply(b, msg->from,
			"usage: TOPIC PAYLOAD (send 'help' for the topics you may use)");
		return;
	}
	char *topic = strndup(p, topic_len);
	if (!topic)
		return;
	if (!mxb_topic_name_valid(topic, topic_len)) {
		b->n.commands_malformed++;
		reply(b, msg->from, "refused: '%s' is not a topic one can publish to", topic);
		free(topic);
		return;
	}
	for (size_t i = 0; i < cfg->commands_len && !route; i++) {
		const struct mxb_command_route *r = &cfg->commands[i];
		if (!listed(&r->from, msg->from))
			continue;
		for (size_t j = 0; j < r->allow.len; j++) {
			if (mxb_topic_matches(r->allow.v[j], topic)) {
				route = r;
				break;
			}
		}
	}
	if (!route) {
		b->n.commands_refused++;
		mxb_log_warn(
			"command: refused '%s' from '%s': topic not allowed", topic, msg->from);
		reply(b, msg->from, "refused: you may not publish to '%s'", topic);
		free(topic);
		return;
	}

	struct pending_publish *pp = calloc(1, sizeof(*pp));
	if (!pp || !(pp->payload = strndup(payload, payload_len)) ||
		!(pp->reply_to = strdup(msg->from))) {
		if (pp)
			free_publish(pp);
		free(topic);
		return;
	}
	pp->topic = topic;
	pp->len = payload_len;
	pp->qos = route->qos;
	pp->retain = route->retain;
	if (b->to_mqtt.len == 0 && publish(b, pp) != -ENOTCONN) {
		free_publish(pp);
		return;
	}
	reply(b, msg->from, "queued for '%s': MQTT is down", pp->topic);
	struct pending_publish *old = mxb_queue_push(&b->to_mqtt, pp);
	if (old) {
		b->n.mqtt_queue_dropped++;
		if (!b->mqtt_dropping)
			mxb_log_warn(
				"bridge: MQTT is down and its queue of %zu is full; dropping the "
				"oldest commands until it drains",
				cfg->bridge.queue_size);
		b->mqtt_dropping = true;
		free_publish(old);
	}
}

static bool contact_allowed(const char *jid, void *data)
{
	struct mxb_bridge *b = data;
	const struct mxb_config *cfg = b->cfg;
	for (size_t i = 0; i < cfg->notify_len; i++) {
		if (listed(&cfg->notify[i].to, jid))
			return true;
	}
	for (size_t i = 0; i < cfg->commands_len; i++) {
		if (listed(&cfg->commands[i].from, jid))
			return true;
	}
	return false;
}

static void on_mqtt_connected(void *data)
{
	struct mxb_bridge *b = data;
	subscribe_all(b);
	flush_mqtt(b);
}

static void on_xmpp_online(void *data)
{
	flush_xmpp(data);
}

int mxb_bridge_reload(struct mxb_bridge *b, const struct mxb_config *old)
{
	const struct mxb_config *cfg = b->cfg;
	struct mxb_topic_index *index;
	int r = build_index(cfg, &index);
	if (r < 0)
		return r;
	size_t *matches = calloc(cfg->notify_len ? cfg->notify_len : 1, sizeof(*matches));
	char *render = malloc(cfg->bridge.max_message + 1);
	char *clean = malloc(3 * cfg->bridge.max_message + 1);
	if (!matches || !render || !clean) {
		free(matches);
		free(render);
		free(clean);
		mxb_topic_index_destroy(index);
		return -ENOMEM;
	}
	mxb_topic_index_destroy(b->index);
	free(b->matches);
	free(b->render);
	free(b->clean);
	b->index = index;
	b->matches = matches;
	b->render = render;
	b->clean = clean;
	if (mxb_mqtt_is_up(b->mqtt)) {
		for (size_t i = 0; i < old->notify_len; i++) {
			bool kept = false;
			for (size_t j = 0; j < cfg->notify_len && !kept; j++)
				kept = strcmp(old->notify[i].topic, cfg->notify[j].topic) == 0;
			if (!kept)
				mxb_mqtt_unsubscribe(b->mqtt, old->notify[i].topic);
		}
		subscribe_all(b);
	}
	return 0;
}

const struct mxb_mqtt_handlers mxb_bridge_mqtt_handlers = {
	.connected = on_mqtt_connected,
	.message = on_mqtt_message,
	.published = on_published,
};

const struct mxb_xmpp_handlers mxb_bridge_xmpp_handlers = {
	.online = on_xmpp_online,
	.message = on_xmpp_message,
	.contact_allowed = contact_allowed,
};
