#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "access.h"
#include "backoff.h"
#include "bridge.h"
#include "command.h"
#include "config.h"
#include "devices.h"
#include "jid.h"
#include "log.h"
#include "reload.h"
#include "route.h"
#include "spool.h"
#include "strbuf.h"
#include "template.h"
#include "text.h"
#include "topic.h"

struct pending_message {
	char id[48]; /* stanza id and XEP-0359 origin-id, the same on every copy */
	uint32_t seq; /* XEP-0198 number once sent, 0 when the session has no acks */
	int strikes; /* sessions that ended with a stream error while it was unacknowledged */
	char *to;
	char *type;
	char *body;
};

/* Where a reply goes: a JID (chat), or a room (groupchat, prefixed with the nick). */
struct reply_target {
	char *to;
	char *prefix; /* "nick: " in a room, else NULL */
	char *who; /* the sender, for log lines */
};

struct pending_publish {
	char *topic;
	char *payload;
	size_t len;
	int qos;
	bool retain;
	struct reply_target reply;
};

struct mxb_inflight {
	int mid;
	struct reply_target reply;
	char *topic;
};

static const char *const type_names[] = {"chat", "normal", "headline", "groupchat"};

static void free_message(void *p)
{
	struct pending_message *m = p;
	free(m->to);
	free(m->type);
	free(m->body);
	free(m);
}

static void target_finish(struct reply_target *t)
{
	free(t->to);
	free(t->prefix);
	free(t->who);
	*t = (struct reply_target){0};
}

static void free_publish(void *p)
{
	struct pending_publish *m = p;
	free(m->topic);
	free(m->payload);
	target_finish(&m->reply);
	free(m);
}

/* The buffers a notification is rendered in, sized by the config. */
static int buffers_init(struct mxb_bridge *b, const struct mxb_config *cfg)
{
	b->render = malloc(cfg->bridge.max_message + 1);
	b->clean = malloc(3 * cfg->bridge.max_message + 1);
	if (!b->render || !b->clean) {
		free(b->render);
		free(b->clean);
		b->render = b->clean = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* A topic filter that covers every topic a named command's template can produce. */
static int command_filter(const struct mxb_command_route *r, char *buf, size_t cap)
{
	const char *args[MXB_COMMAND_ARGS_MAX];
	for (size_t i = 0; i < MXB_COMMAND_ARGS_MAX; i++)
		args[i] = "\x01";
	struct mxb_template_input in = {.args = args,
		.nargs = MXB_COMMAND_ARGS_MAX,
		.args_text = "\x01",
		.fallback = "\x01"};
	char raw[1024];
	if (mxb_template_render(r->topic_tmpl, &in, raw, sizeof(raw), NULL) < 0)
		return -E2BIG;
	size_t n = 0;
	for (const char *level = raw;;) {
		const char *end = strchr(level, '/');
		size_t len = end ? (size_t)(end - level) : strlen(level);
		bool wild = memchr(level, '\x01', len) != NULL;
		size_t want = wild ? 1 : len;
		if (n + want + 2 > cap)
			return -E2BIG;
		memcpy(buf + n, wild ? "+" : level, want);
		n += want;
		if (!end)
			break;
		buf[n++] = '/';
		level = end + 1;
	}
	buf[n] = '\0';
	return 0;
}

/* With MQTT 3.1.1 the broker sends the bridge its own publishes: say which routes loop. */
static void warn_loops(const struct mxb_config *cfg)
{
	if (cfg->mqtt.version == 5)
		return;
	unsigned warned = 0;
	for (size_t c = 0; c < cfg->commands_len; c++) {
		const struct mxb_command_route *cr = &cfg->commands[c];
		char filter[1024];
		size_t nf = cr->allow.len;
		bool named = cr->command && command_filter(cr, filter, sizeof(filter)) == 0;
		for (size_t f = 0; f < nf + (named ? 1 : 0); f++) {
			const char *cf = f < nf ? cr->allow.v[f] : filter;
			for (size_t i = 0; i < cfg->notify_len; i++) {
				if (!mxb_topic_filters_overlap(cf, cfg->notify[i].topic))
					continue;
				if (warned++ < 8)
					mxb_log_warn(
						"with MQTT 3.1.1 the broker echoes the bridge's "
						"own "
						"publishes: commands to '%s' (line %d) come back "
						"through notify '%s' (line %d); use mqtt.version = "
						"5",
						cf, cr->line, cfg->notify[i].topic,
						cfg->notify[i].line);
			}
		}
	}
}

static void done(struct mxb_bridge *b, struct pending_message *m);

/* A message the journal kept from the last run: back in the queue, with its id. */
static bool replay(const char *id, const char *to, const char *type, const char *body, void *data)
{
	struct mxb_bridge *b = data;
	/* The journal is a file: its text goes to the stream only if XML can carry it. */
	if (!mxb_text_xml_valid(body, strlen(body)) || !mxb_text_xml_valid(to, strlen(to))) {
		mxb_log_warn("spool: message '%s' is not XML-safe text; dropped", id);
		return false;
	}
	if (strlen(id) >= sizeof(((struct pending_message *)0)->id)) {
		mxb_log_warn(
			"spool: message id '%s' is longer than the bridge makes them; dropped", id);
		return false;
	}
	struct pending_message *m = calloc(1, sizeof(*m));
	if (!m || !(m->to = strdup(to)) || !(m->type = strdup(type)) || !(m->body = strdup(body))) {
		if (m)
			free_message(m);
		return true; /* out of memory now: kept for the next run */
	}
	memcpy(m->id, id, strlen(id) + 1);
	struct pending_message *old = mxb_queue_push(&b->to_xmpp, m);
	if (old) {
		b->n.xmpp_queue_dropped++;
		done(b, old);
	}
	return true;
}

static void spool_rewrite(struct mxb_bridge *b)
{
	if (mxb_spool_rewrite_begin(b->spool) < 0)
		return;
	struct mxb_queue *queues[] = {&b->unacked, &b->to_xmpp};
	for (size_t q = 0; q < 2; q++) {
		for (size_t i = 0; i < queues[q]->len; i++) {
			struct pending_message *m =
				queues[q]->items[(queues[q]->head + i) % queues[q]->cap];
			mxb_spool_add(b->spool, m->id, m->to, m->type, m->body);
		}
	}
	if (mxb_spool_rewrite_commit(b->spool) < 0)
		mxb_log_errno(MXB_LOG_WARN, "spool: cannot rewrite the journal");
}

int mxb_bridge_init(struct mxb_bridge *b, const struct mxb_config *cfg)
{
	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	int ret = mxb_routes_create(&b->routes, cfg);
	if (ret < 0)
		return ret;
	ret = buffers_init(b, cfg);
	if (ret < 0)
		goto err_free_routes;
	ret = mxb_queue_init(&b->to_xmpp, cfg->bridge.queue_size);
	if (ret < 0)
		goto err_free_routes;
	ret = mxb_queue_init(&b->to_mqtt, cfg->bridge.queue_size);
	if (ret < 0)
		goto err_finish_xmpp_queue;
	ret = mxb_queue_init(&b->unacked, cfg->bridge.queue_size);
	if (ret < 0)
		goto err_finish_mqtt_queue;
	/* Ids of one run differ from those of every other, so a resent copy is recognized. */
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(b->id_prefix + 2 * i, 3, "%02x", rnd[i]);
	b->inflight_cap = cfg->bridge.queue_size;
	b->inflight = calloc(b->inflight_cap, sizeof(*b->inflight));
	if (!b->inflight) {
		ret = -ENOMEM;
		goto err_finish_unacked;
	}
	ret = mxb_bridge_devices_init(b);
	if (ret < 0)
		goto err_free_devices;
	ret = mxb_bridge_contacts_init(b);
	if (ret < 0)
		goto err_free_devices;
	if (cfg->bridge.spool) {
		ret = mxb_spool_open(&b->spool, cfg->bridge.spool, replay, b);
		if (ret < 0)
			goto err_free_devices;
	}
	warn_loops(cfg);
	return 0;

err_free_devices:
	mxb_bridge_contacts_finish(b);
	mxb_bridge_devices_finish(b);
	free(b->inflight);
err_finish_unacked:
	mxb_queue_finish(&b->unacked, free_message);
err_finish_mqtt_queue:
	mxb_queue_finish(&b->to_mqtt, free_publish);
err_finish_xmpp_queue:
	mxb_queue_finish(&b->to_xmpp, free_message);
err_free_routes:
	free(b->render);
	free(b->clean);
	mxb_routes_destroy(b->routes);
	return ret;
}

void mxb_bridge_finish(struct mxb_bridge *b)
{
	if (b->to_xmpp.len)
		mxb_log_warn("bridge: %zu messages for XMPP not delivered at exit", b->to_xmpp.len);
	if (b->to_mqtt.len)
		mxb_log_warn("bridge: %zu commands for MQTT not published at exit", b->to_mqtt.len);
	if (b->unacked.len)
		mxb_log_warn("bridge: %zu messages sent to XMPP were not acknowledged at exit",
			b->unacked.len);
	/* What is still held stays in the journal for the next run. */
	mxb_spool_close(b->spool);
	mxb_queue_finish(&b->to_xmpp, free_message);
	mxb_queue_finish(&b->unacked, free_message);
	mxb_queue_finish(&b->to_mqtt, free_publish);
	for (size_t i = 0; i < b->inflight_len; i++) {
		target_finish(&b->inflight[i].reply);
		free(b->inflight[i].topic);
	}
	free(b->inflight);
	free(b->render);
	free(b->clean);
	mxb_routes_destroy(b->routes);
	mxb_bridge_contacts_finish(b);
	mxb_bridge_devices_finish(b);
}

void mxb_bridge_attach(struct mxb_bridge *b, struct mxb_mqtt *mqtt, struct mxb_xmpp *xmpp)
{
	b->mqtt = mqtt;
	b->xmpp = xmpp;
}

bool mxb_bridge_commands_drained(const struct mxb_bridge *b)
{
	return b->to_mqtt.len == 0 && b->inflight_len == 0;
}

bool mxb_bridge_drained(const struct mxb_bridge *b)
{
	return b->to_xmpp.len == 0 && b->unacked.len == 0;
}

void mxb_bridge_log_counters(const struct mxb_bridge *b)
{
	const struct mxb_counters *n = &b->n;
#define C(x) (unsigned long long)n->x
	mxb_log_info(
		"bridge: mqtt received %llu, own dropped %llu, retained skipped %llu, "
		"xmpp sent %llu, xmpp queue dropped %llu, room unreachable %llu, "
		"payload too large %llu, binary skipped %llu, message too long %llu, "
		"status cut %llu, text replaced %llu, text refused %llu, template misses %llu, "
		"throttled %llu, unchanged %llu",
		C(mqtt_received), C(own_dropped), C(retained_skipped), C(xmpp_sent),
		C(xmpp_queue_dropped), C(room_unreachable), C(payload_too_large), C(binary_skipped),
		C(message_too_long), C(status_cut), C(text_replaced), C(text_refused),
		C(template_misses), C(throttled), C(unchanged));
	mxb_log_info("bridge: commands published %llu, refused %llu, from strangers %llu, "
		     "malformed %llu, mqtt queue dropped %llu",
		C(commands_published), C(commands_refused), C(commands_from_strangers),
		C(commands_malformed), C(mqtt_queue_dropped));
	mxb_log_info(
		"bridge: xmpp acked %llu, resent %llu, unacked dropped %llu, quarantined %llu, "
		"device updates %llu, devices refused %llu, device commands %llu, device "
		"strangers %llu, contact presences %llu, presence strangers %llu, presence "
		"table full %llu",
		C(xmpp_acked), C(xmpp_resent), C(unacked_dropped), C(quarantined),
		C(device_updates), C(devices_refused), C(device_commands), C(device_strangers),
		C(contact_presences), C(presence_strangers), C(presence_table_full));
#undef C
}

/* MQTT -> XMPP */

/* Journals the end of a message the bridge held; then frees it. */
static void done(struct mxb_bridge *b, struct pending_message *m)
{
	if (b->spool)
		mxb_spool_done(b->spool, m->id);
	free_message(m);
}

/* A sent message waits for the server's ack; without acks it is done. */
static void sent(struct mxb_bridge *b, struct pending_message *m)
{
	b->n.xmpp_sent++;
	if (m->seq == 0) {
		done(b, m);
		return;
	}
	struct pending_message *old = mxb_queue_push(&b->unacked, m);
	if (old) {
		/*
		 * The window is full: the oldest was written but never acknowledged. It is most
		 * likely delivered, but the bridge cannot tell, so the log says it may be lost.
		 */
		b->n.unacked_dropped++;
		if (!b->unacked_dropping)
			mxb_log_warn("bridge: %zu messages sent to XMPP wait for the server's "
				     "acknowledgement; dropping the oldest of them until acks come "
				     "(not resent: they may be lost)",
				b->cfg->bridge.queue_size);
		b->unacked_dropping = true;
		done(b, old);
	}
}

static int try_send(struct mxb_bridge *b, struct pending_message *m)
{
	return mxb_xmpp_send_message(b->xmpp, m->to, m->type, m->body, m->id, &m->seq);
}

static void flush_xmpp(struct mxb_bridge *b)
{
	struct pending_message *m;
	while ((m = mxb_queue_peek(&b->to_xmpp)) != NULL) {
		int r = try_send(b, m);
		if (r == -ENOTCONN || r == -EAGAIN)
			return;
		mxb_queue_pop(&b->to_xmpp);
		if (r == 0) {
			sent(b, m);
			continue;
		}
		if (r == -EHOSTUNREACH)
			b->n.room_unreachable++;
		done(b, m);
	}
	if (b->xmpp_dropping) {
		mxb_log_info("bridge: XMPP queue drained");
		b->xmpp_dropping = false;
	}
}

static void deliver(struct mxb_bridge *b, const char *to, const char *type, const char *body)
{
	struct pending_message *m = calloc(1, sizeof(*m));
	if (!m || !(m->to = strdup(to)) || !(m->type = strdup(type)) || !(m->body = strdup(body))) {
		if (m)
			free_message(m);
		mxb_log_error("notify: out of memory; message to '%s' lost", to);
		return;
	}
	snprintf(m->id, sizeof(m->id), "mxb-%s-%llu", b->id_prefix,
		(unsigned long long)++b->id_next);
	if (b->spool)
		mxb_spool_add(b->spool, m->id, m->to, m->type, m->body);
	if (b->to_xmpp.len == 0) {
		int r = try_send(b, m);
		if (r == 0) {
			sent(b, m);
			return;
		}
		if (r == -EHOSTUNREACH) {
			b->n.room_unreachable++;
			mxb_log_warn(
				"notify: room '%s' refused the bridge; message not delivered", to);
			done(b, m);
			return;
		}
		if (r != -ENOTCONN && r != -EAGAIN) {
			mxb_log_warn("notify: cannot send to '%s': %s", to, strerror(-r));
			done(b, m);
			return;
		}
	}
	struct pending_message *old = mxb_queue_push(&b->to_xmpp, m);
	if (old) {
		b->n.xmpp_queue_dropped++;
		if (!b->xmpp_dropping)
			mxb_log_warn("bridge: XMPP queue of %zu is full; dropping the oldest "
				     "messages until it drains",
				b->cfg->bridge.queue_size);
		b->xmpp_dropping = true;
		done(b, old);
	}
}

static void on_xmpp_acked(uint32_t h, void *data)
{
	struct mxb_bridge *b = data;
	struct pending_message *m;
	while ((m = mxb_queue_peek(&b->unacked)) != NULL && (int32_t)(h - m->seq) >= 0) {
		mxb_queue_pop(&b->unacked);
		b->n.xmpp_acked++;
		done(b, m);
	}
	if (b->unacked_dropping) {
		mxb_log_info("bridge: acknowledgements come again; %llu unacknowledged messages "
			     "were dropped in all",
			(unsigned long long)b->n.unacked_dropped);
		b->unacked_dropping = false;
	}
}

/*
 * What the server did not acknowledge goes out again after the reconnect, in front of
 * what waits. A message that was in flight when the server closed the stream with an
 * error twice is taken for the cause and quarantined, not resent in a loop.
 */
static void on_xmpp_offline(bool stream_error, void *data)
{
	struct mxb_bridge *b = data;
	struct pending_message *first = mxb_queue_peek(&b->unacked);
	if (stream_error && first && ++first->strikes >= 2) {
		mxb_queue_pop(&b->unacked);
		b->n.quarantined++;
		mxb_log_error("bridge: quarantined the message '%s' to '%s': the server closed the "
			      "stream twice while it was in flight",
			first->id, first->to);
		done(b, first);
	}
	size_t n = b->unacked.len;
	if (n == 0)
		return;
	struct pending_message **all = calloc(n, sizeof(*all));
	if (!all)
		return;
	for (size_t i = 0; i < n; i++)
		all[i] = mxb_queue_pop(&b->unacked);
	size_t dropped = 0;
	for (size_t i = n; i-- > 0;) {
		all[i]->seq = 0;
		if (mxb_queue_push_front(&b->to_xmpp, all[i])) {
			/* The queue is full: being the oldest, this one is dropped. */
			b->n.xmpp_queue_dropped++;
			dropped++;
			done(b, all[i]);
		}
	}
	free(all);
	b->n.xmpp_resent += n - dropped;
	if (dropped)
		mxb_log_warn("bridge: %zu messages were not acknowledged; %zu go out again after "
			     "the reconnect and %zu are dropped: the XMPP queue of %zu is full",
			n, n - dropped, dropped, b->cfg->bridge.queue_size);
	else
		mxb_log_info("bridge: %zu messages were not acknowledged; they go out again after "
			     "the reconnect",
			n);
}

/* Renders route's message for topic and payload and sends it to each target. */
static void notify(struct mxb_bridge *b, const struct mxb_notify_route *route, const char *topic,
	const char *payload, size_t len)
{
	const struct mxb_config *cfg = b->cfg;
	struct mxb_template_input in = {
		.topic = topic,
		.payload = payload,
		.payload_len = len,
		.time = (int64_t)time(NULL),
		.fallback = route->fallback,
	};
	struct mxb_template_stats stats = {0};
	ssize_t n = mxb_template_render(
		route->tmpl, &in, b->render, cfg->bridge.max_message + 1, &stats);
	if (stats.misses) {
		b->n.template_misses += stats.misses;
		mxb_log_debug("notify: %u placeholders of the route at line %d had no value for "
			      "'%s'",
			stats.misses, route->line, topic);
	}
	if (n < 0) {
		b->n.message_too_long++;
		mxb_log_warn("notify: message for topic '%s' longer than max_message %zu; not "
			     "forwarded",
			topic, cfg->bridge.max_message);
		return;
	}
	const char *body = b->render;
	if (!mxb_text_xml_valid(b->render, (size_t)n)) {
		if (cfg->bridge.bad_text == MXB_BAD_TEXT_REFUSE) {
			b->n.text_refused++;
			mxb_log_warn(
				"notify: message for topic '%s' has invalid UTF-8 or characters "
				"XML forbids; refused",
				topic);
			return;
		}
		size_t replaced = 0;
		if (mxb_text_sanitize(b->render, (size_t)n, b->clean,
			    3 * cfg->bridge.max_message + 1, &replaced) < 0)
			return;
		b->n.text_replaced++;
		mxb_log_warn("notify: replaced %zu invalid or XML-forbidden characters in the "
			     "message for topic '%s'",
			replaced, topic);
		body = b->clean;
	}
	for (size_t t = 0; t < route->to.len; t++)
		deliver(b, route->to.v[t], type_names[route->type], body);
}

/* Counts and logs what a route's verdict kept from XMPP. */
static void not_sent(struct mxb_bridge *b, const struct mxb_notify_route *route,
	const struct mxb_mqtt_message *msg, enum mxb_route_verdict v)
{
	const struct mxb_config *cfg = b->cfg;
	size_t max = route->max_payload ? route->max_payload : cfg->bridge.max_payload;
	switch (v) {
	case MXB_ROUTE_SEND:
	case MXB_ROUTE_RETAINED: /* counted once per message */
		break;
	case MXB_ROUTE_TOO_LARGE:
		b->n.payload_too_large++;
		mxb_log_warn("notify: payload too large on topic '%s' (%zu bytes, max_payload "
			     "%zu); not forwarded",
			msg->topic, msg->len, max);
		break;
	case MXB_ROUTE_BINARY_SKIPPED:
		b->n.binary_skipped++;
		mxb_log_warn("notify: binary payload on topic '%s' (%zu bytes) not forwarded; set "
			     "binary = \"base64\" or \"hex\" on the route at line %d to forward it",
			msg->topic, msg->len, route->line);
		break;
	case MXB_ROUTE_HELD:
		b->n.throttled++;
		break;
	case MXB_ROUTE_UNCHANGED:
		b->n.unchanged++;
		break;
	}
}

static void on_mqtt_message(const struct mxb_mqtt_message *msg, void *data)
{
	struct mxb_bridge *b = data;
	const struct mxb_config *cfg = b->cfg;
	b->n.mqtt_received++;
	if (msg->own) {
		b->n.own_dropped++;
		mxb_log_debug("notify: dropping the bridge's own publish on '%s'", msg->topic);
		return;
	}
	const struct mxb_route_ref *refs;
	size_t n = mxb_routes_match(b->routes, msg->topic, &refs);
	struct mxb_route_message m = {msg->topic, msg->payload, msg->len, msg->retain, -1};
	bool skipped_retained = false;
	int64_t now = mxb_now_ms();
	/* The device rules come after the notify routes in what matched; devices go first. */
	size_t nn = 0;
	while (nn < n && refs[nn].kind == MXB_ROUTE_NOTIFY)
		nn++;
	if (nn < n)
		mxb_bridge_devices_message(b, msg, refs + nn, n - nn);
	for (size_t k = 0; k < nn; k++) {
		const struct mxb_notify_route *route = &cfg->notify[refs[k].index];
		const char *payload;
		size_t len;
		enum mxb_route_verdict v =
			mxb_routes_decide(b->routes, refs[k].index, &m, now, &payload, &len);
		if (v == MXB_ROUTE_SEND)
			notify(b, route, msg->topic, payload, len);
		else if (v == MXB_ROUTE_RETAINED)
			skipped_retained = true;
		else
			not_sent(b, route, msg, v);
	}
	if (skipped_retained) {
		b->n.retained_skipped++;
		mxb_log_debug("notify: skipping retained message on '%s'", msg->topic);
	}
}

static void send_due(size_t route, const char *topic, const char *payload, size_t len, void *data)
{
	struct mxb_bridge *b = data;
	notify(b, &b->cfg->notify[route], topic, payload, len);
}

int64_t mxb_bridge_tick(struct mxb_bridge *b, int64_t now)
{
	int64_t next = mxb_bridge_devices_tick(b, now);
	if (b->spool) {
		/* Batched: one sync per 200 ms covers every record written meanwhile. */
		if (now >= b->next_sync) {
			mxb_spool_sync(b->spool);
			if (mxb_spool_wants_rewrite(b->spool))
				spool_rewrite(b);
			b->next_sync = now + 200;
		}
		if (b->next_sync < next)
			next = b->next_sync;
	}
	int64_t t = mxb_routes_due(b->routes, now, send_due, b);
	if (t < next)
		next = t;
	return next;
}

/*
 * The distinct filters of routes with the highest QoS any of them asks for, and with
 * devices, those of the device rules too (subscribed by bridge_devices.c). NULL: ENOMEM.
 */
static struct mxb_filter *filters_of(const struct mxb_bridge *b,
	const struct mxb_notify_route *routes, size_t routes_len, bool devices, size_t *len)
{
	const struct mxb_config *cfg = b->cfg;
	size_t cap = routes_len + (devices ? 2 * cfg->devices_len : 0);
	struct mxb_filter *f = malloc((cap ? cap : 1) * sizeof(*f));
	if (!f)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < routes_len; i++)
		f[n++] = (struct mxb_filter){routes[i].topic, routes[i].qos};
	for (size_t i = 0; devices && i < cfg->devices_len; i++) {
		const struct mxb_device_rule *r = &cfg->devices[i];
		if (r->availability)
			f[n++] = (struct mxb_filter){r->availability, r->qos};
		if (r->state)
			f[n++] = (struct mxb_filter){r->state, r->qos};
	}
	*len = mxb_reload_filters_normalize(f, n);
	return f;
}

/* One SUBSCRIBE per distinct filter, with the highest QoS any route asks for. */
static void subscribe_all(struct mxb_bridge *b)
{
	size_t n;
	struct mxb_filter *f = filters_of(b, b->cfg->notify, b->cfg->notify_len, false, &n);
	if (!f) {
		mxb_log_error("mqtt: cannot subscribe: out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (mxb_mqtt_subscribe(b->mqtt, f[i].topic, f[i].qos) == 0)
			mxb_log_debug("mqtt: subscribed to '%s' (qos %d)", f[i].topic, f[i].qos);
	}
	free(f);
}

/* XMPP -> MQTT */

/* Sends text to a reply target: in a room, after "nick: ". Made on the heap: nicks and
 * echoed words are the sender's, of any length the server lets through. */
static void reply_text(struct mxb_bridge *b, const struct reply_target *to, const char *text)
{
	struct mxb_strbuf t;
	mxb_strbuf_init(&t, (size_t)-1 / 4);
	if (to->prefix)
		mxb_strbuf_puts(&t, to->prefix);
	mxb_strbuf_puts(&t, text);
	char *clean = t.failed ? NULL : malloc(3 * t.len + 1);
	if (!clean || mxb_text_sanitize(t.s ? t.s : "", t.len, clean, 3 * t.len + 1, NULL) < 0) {
		mxb_log_error("command: out of memory; no reply to '%s'", to->to);
	} else {
		deliver(b, to->to, "chat", clean);
	}
	free(clean);
	mxb_strbuf_finish(&t);
}

static void reply(struct mxb_bridge *b, const struct reply_target *to, const char *fmt, ...)
	MXB_PRINTF(3, 4);

static void reply(struct mxb_bridge *b, const struct reply_target *to, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = NULL;
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		mxb_log_error("command: out of memory; no reply to '%s'", to->to);
		return;
	}
	reply_text(b, to, text);
	free(text);
}

static int target_copy(struct reply_target *dst, const struct reply_target *src)
{
	dst->to = strdup(src->to);
	dst->prefix = src->prefix ? strdup(src->prefix) : NULL;
	dst->who = strdup(src->who ? src->who : src->to);
	if (!dst->to || (src->prefix && !dst->prefix) || !dst->who) {
		target_finish(dst);
		return -ENOMEM;
	}
	return 0;
}

static void track(struct mxb_bridge *b, int mid, const struct reply_target *to, const char *topic)
{
	if (b->inflight_len == b->inflight_cap) {
		/* Too many unacknowledged: answer now rather than grow without bound. */
		reply(b, to, "sent to '%s'", topic);
		return;
	}
	struct mxb_inflight *f = &b->inflight[b->inflight_len];
	if (target_copy(&f->reply, to) < 0 || !(f->topic = strdup(topic))) {
		target_finish(&f->reply);
		mxb_log_error("command: out of memory; '%s' is published but its sender is not "
			      "told",
			topic);
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
		mxb_log_info("command: published to '%s' for '%s'", p->topic, p->reply.who);
		/* QoS 0 has no acknowledgement to wait for (and may be written at once). */
		if (p->qos == 0)
			reply(b, &p->reply, "published to '%s'", p->topic);
		else
			track(b, mid, &p->reply, p->topic);
	} else if (r != -ENOTCONN) {
		mxb_log_warn("command: cannot publish to '%s': %s", p->topic, strerror(-r));
		reply(b, &p->reply, "failed: cannot publish to '%s': %s", p->topic, strerror(-r));
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
		reply(b, &f->reply, "published to '%s'", f->topic);
		target_finish(&f->reply);
		free(f->topic);
		*f = b->inflight[--b->inflight_len];
		return;
	}
}

/* Hands a command to MQTT, or queues it while MQTT is down. Takes topic and payload. */
static void submit(struct mxb_bridge *b, const struct mxb_command_route *route,
	const struct reply_target *to, char *topic, char *payload, size_t len)
{
	struct pending_publish *pp = calloc(1, sizeof(*pp));
	if (!pp || target_copy(&pp->reply, to) < 0) {
		mxb_log_error("command: out of memory; '%s' not published", topic);
		reply(b, to, "failed: out of memory; '%s' not published", topic);
		free(pp);
		free(topic);
		free(payload);
		return;
	}
	pp->topic = topic;
	pp->payload = payload;
	pp->len = len;
	pp->qos = route->qos;
	pp->retain = route->retain;
	if (b->to_mqtt.len == 0 && publish(b, pp) != -ENOTCONN) {
		free_publish(pp);
		return;
	}
	reply(b, to, "queued for '%s': MQTT is down", pp->topic);
	struct pending_publish *old = mxb_queue_push(&b->to_mqtt, pp);
	if (old) {
		b->n.mqtt_queue_dropped++;
		if (!b->mqtt_dropping)
			mxb_log_warn(
				"bridge: MQTT queue of %zu is full; dropping the oldest commands "
				"until it drains",
				b->cfg->bridge.queue_size);
		b->mqtt_dropping = true;
		free_publish(old);
	}
}

/* Who sent a command, for log lines: "JID", or "nick 'N' in room 'R'". */
static char *who_of(const struct mxb_xmpp_message *msg)
{
	char *s = NULL;
	int n = msg->room ? asprintf(&s, "%s (nick '%s' in room '%s')",
				    msg->real_jid ? msg->real_jid : msg->from, msg->nick, msg->room)
			  : asprintf(&s, "%s", msg->from);
	return n < 0 ? NULL : s;
}

static void on_xmpp_message(const struct mxb_xmpp_message *msg, void *data)
{
	struct mxb_bridge *b = data;
	const struct mxb_config *cfg = b->cfg;
	char bare[MXB_JID_MAX + 1];
	struct mxb_sender s = {0};
	struct reply_target to = {.to = (char *)msg->from};
	struct mxb_command_input in = {
		.sender = &s, .from = msg->from, .body = msg->body, .now = (int64_t)time(NULL)};
	bool to_room = false;

	if (msg->room) {
		s.room = msg->room;
		s.nick = msg->nick;
		s.jid = msg->real_jid;
		s.role = (enum mxb_muc_role)msg->role;
		s.affiliation = (enum mxb_muc_affiliation)msg->affiliation;
		if (strcmp(msg->type, "groupchat") == 0) {
			in.addressed_to = msg->own_nick;
			if (!in.addressed_to)
				return;
			to.to = (char *)msg->room;
			to_room = true;
		}
	} else {
		if (mxb_jid_bare(msg->from, bare, sizeof(bare)) < 0) {
			b->n.commands_malformed++;
			return;
		}
		s.jid = bare;
	}

	struct mxb_command_result res;
	mxb_command_parse(cfg, &in, &res);
	if (res.verdict == MXB_COMMAND_IGNORE) {
		mxb_command_result_finish(&res);
		return;
	}
	char *who = who_of(msg);
	char *prefix = NULL;
	if (to_room && asprintf(&prefix, "%s: ", msg->nick) < 0)
		prefix = NULL;
	to.prefix = prefix;
	to.who = who ? who : (char *)msg->from;
	const char *word = res.word ? res.word : "";
	switch (res.verdict) {
	case MXB_COMMAND_IGNORE:
		break;
	case MXB_COMMAND_STRANGER:
		b->n.commands_from_strangers++;
		if (msg->room) {
			mxb_log_warn("command: refused message from '%s' in room '%s': not allowed",
				msg->nick, msg->room);
			reply_text(b, &to, res.reply);
		} else {
			mxb_log_warn("command: refused message from '%s': not allowed", msg->from);
			mxb_xmpp_send_forbidden(b->xmpp, msg->from, msg->id,
				"You are not allowed to send commands to this bridge.");
		}
		break;
	case MXB_COMMAND_HELP:
		reply_text(b, &to, res.reply);
		break;
	case MXB_COMMAND_REFUSED:
		b->n.commands_refused++;
		mxb_log_warn("command: refused '%s' from '%s': %s", word, to.who, res.why);
		reply_text(b, &to, res.reply);
		break;
	case MXB_COMMAND_MALFORMED:
		b->n.commands_malformed++;
		mxb_log_info(
			"command: malformed message from '%s': %s ('%s')", to.who, res.why, word);
		reply_text(b, &to, res.reply);
		break;
	case MXB_COMMAND_NOMEM:
		mxb_log_error("command: out of memory reading a message from '%s'", to.who);
		if (res.reply)
			reply_text(b, &to, res.reply);
		break;
	case MXB_COMMAND_PUBLISH:
		submit(b, res.route, &to, res.topic, res.payload, res.payload_len);
		res.topic = res.payload = NULL;
		break;
	}
	mxb_command_result_finish(&res);
	free(prefix);
	free(who);
}

static bool contact_allowed(const char *jid, void *data)
{
	struct mxb_bridge *b = data;
	const struct mxb_config *cfg = b->cfg;
	for (size_t i = 0; i < cfg->notify_len; i++) {
		for (size_t t = 0; t < cfg->notify[i].to.len; t++) {
			if (mxb_jid_bare_equal(cfg->notify[i].to.v[t], jid))
				return true;
		}
	}
	for (size_t i = 0; i < cfg->devices_len; i++) {
		if (mxb_device_allowed(&cfg->devices[i], jid))
			return true;
	}
	struct mxb_sender s = {.jid = jid};
	return mxb_command_allowed_anywhere(cfg, &s);
}

static void on_mqtt_connected(void *data)
{
	struct mxb_bridge *b = data;
	subscribe_all(b);
	mxb_bridge_devices_subscribe(b);
	flush_mqtt(b);
}

static void on_xmpp_online(void *data)
{
	flush_xmpp(data);
}

static void on_room_joined(const char *room, void *data)
{
	(void)room;
	flush_xmpp(data);
}

struct resubscribe {
	struct mxb_bridge *b;
	size_t added, dropped;
};

static void reload_subscribe(const char *topic, int qos, bool again, void *data)
{
	struct resubscribe *rs = data;
	int r = again ? mxb_mqtt_resubscribe(rs->b->mqtt, topic, qos)
		      : mxb_mqtt_subscribe(rs->b->mqtt, topic, qos);
	if (r < 0)
		return;
	rs->added++;
	mxb_log_info("reload: subscribed to '%s' (qos %d%s)", topic, qos, again ? ", raised" : "");
}

static void reload_unsubscribe(const char *topic, void *data)
{
	struct resubscribe *rs = data;
	if (mxb_mqtt_unsubscribe(rs->b->mqtt, topic) < 0)
		return;
	rs->dropped++;
	mxb_log_info("reload: unsubscribed from '%s'", topic);
}

/*
 * Subscribes only to the filters the old routes did not have: each SUBSCRIBE makes the
 * broker send every retained message of the filter again, which retained routes forward.
 */
static int resubscribe(struct mxb_bridge *b, const struct mxb_config *old)
{
	static const struct mxb_reload_ops ops = {reload_subscribe, reload_unsubscribe};
	const struct mxb_config *cfg = b->cfg;
	size_t on, fn;
	struct mxb_filter *of = filters_of(b, old->notify, old->notify_len, true, &on);
	struct mxb_filter *ff = filters_of(b, cfg->notify, cfg->notify_len, true, &fn);
	int ret = -ENOMEM;
	if (!of || !ff)
		goto out;
	struct resubscribe rs = {.b = b};
	mxb_reload_filters_diff(of, on, ff, fn, &ops, &rs);
	if (rs.added == 0 && rs.dropped == 0)
		mxb_log_info("reload: subscriptions unchanged");
	ret = 0;
out:
	free(of);
	free(ff);
	return ret;
}

int mxb_bridge_reload(struct mxb_bridge *b, const struct mxb_config *old)
{
	const struct mxb_config *cfg = b->cfg;
	struct mxb_routes *fresh;
	int r = mxb_routes_create(&fresh, cfg);
	if (r < 0)
		return r;
	char *render = b->render, *clean = b->clean;
	if (buffers_init(b, cfg) < 0) {
		b->render = render;
		b->clean = clean;
		mxb_routes_destroy(fresh);
		return -ENOMEM;
	}
	free(render);
	free(clean);
	/* A route that throttles as before keeps what it holds and the values it last sent. */
	int kept = mxb_routes_adopt(fresh, b->routes);
	if (kept < 0)
		mxb_log_warn("reload: out of memory; throttled routes start afresh");
	else if (kept)
		mxb_log_info("reload: %d throttled routes keep their state", kept);
	mxb_routes_destroy(b->routes);
	b->routes = fresh;
	warn_loops(cfg);
	if (mxb_mqtt_is_up(b->mqtt) && resubscribe(b, old) < 0) {
		/* The routes are in place; a reconnect subscribes to all of them. */
		mxb_log_error("reload: cannot update the subscriptions: out of memory");
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
	.offline = on_xmpp_offline,
	.acked = on_xmpp_acked,
	.message = on_xmpp_message,
	.contact_allowed = contact_allowed,
	.room_joined = on_room_joined,
	.contact_presence = mxb_bridge_contact_presence,
};
