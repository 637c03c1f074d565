#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "access.h"
#include "backoff.h"
#include "bridge.h"
#include "config.h"
#include "devices.h"
#include "jid.h"
#include "log.h"
#include "spool.h"
#include "template.h"
#include "text.h"
#include "throttle.h"
#include "topic.h"

/* Topics remembered per throttled route. */
#define THROTTLE_TOPICS_MAX 10000
/* Arguments of a named command. */
#define ARGS_MAX 16

struct pending_message {
	char id[40]; /* stanza id and XEP-0359 origin-id, the same on every copy */
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
}

static void free_publish(void *p)
{
	struct pending_publish *m = p;
	free(m->topic);
	free(m->payload);
	target_finish(&m->reply);
	free(m);
}

/* Routes */

struct routes {
	struct mxb_topic_index *index;
	struct mxb_throttle **throttles;
	size_t *throttled; /* indexes of the routes with a throttle */
	size_t throttled_len;
	size_t *matches;
	char *render, *clean, *encoded;
	size_t encoded_cap;
};

static void routes_free(struct routes *r, size_t notify_len)
{
	mxb_topic_index_destroy(r->index);
	for (size_t i = 0; r->throttles && i < notify_len; i++)
		mxb_throttle_destroy(r->throttles[i]);
	free(r->throttles);
	free(r->throttled);
	free(r->matches);
	free(r->render);
	free(r->clean);
	free(r->encoded);
}

static int routes_build(const struct mxb_config *cfg, struct routes *r)
{
	memset(r, 0, sizeof(*r));
	size_t n = cfg->notify_len ? cfg->notify_len : 1;
	size_t max_payload = cfg->bridge.max_payload;
	for (size_t i = 0; i < cfg->notify_len; i++) {
		if (cfg->notify[i].max_payload > max_payload)
			max_payload = cfg->notify[i].max_payload;
	}
	r->index = mxb_topic_index_create();
	r->throttles = calloc(n, sizeof(*r->throttles));
	r->throttled = calloc(n, sizeof(*r->throttled));
	r->matches = calloc(n, sizeof(*r->matches));
	r->render = malloc(cfg->bridge.max_message + 1);
	r->clean = malloc(3 * cfg->bridge.max_message + 1);
	/* base64 needs 4/3, hex 2 bytes per byte */
	r->encoded_cap = 2 * max_payload + 4;
	r->encoded = malloc(r->encoded_cap);
	if (!r->index || !r->throttles || !r->throttled || !r->matches || !r->render || !r->clean ||
		!r->encoded)
		goto err;
	for (size_t i = 0; i < cfg->notify_len; i++) {
		const struct mxb_notify_route *route = &cfg->notify[i];
		if (mxb_topic_index_add(r->index, route->topic, i) < 0)
			goto err;
		if (route->min_interval == 0 && !route->only_changes)
			continue;
		r->throttles[i] = mxb_throttle_create((int64_t)route->min_interval * 1000,
			route->only_changes, THROTTLE_TOPICS_MAX);
		if (!r->throttles[i])
			goto err;
		r->throttled[r->throttled_len++] = i;
	}
	return 0;
err:
	routes_free(r, cfg->notify_len);
	return -ENOMEM;
}

static void routes_take(struct mxb_bridge *b, struct routes *r)
{
	b->index = r->index;
	b->throttles = r->throttles;
	b->throttled = r->throttled;
	b->throttled_len = r->throttled_len;
	b->matches = r->matches;
	b->render = r->render;
	b->clean = r->clean;
	b->encoded = r->encoded;
	b->encoded_cap = r->encoded_cap;
}

static struct routes routes_of(struct mxb_bridge *b)
{
	return (struct routes){
		.index = b->index,
		.throttles = b->throttles,
		.throttled = b->throttled,
		.throttled_len = b->throttled_len,
		.matches = b->matches,
		.render = b->render,
		.clean = b->clean,
		.encoded = b->encoded,
		.encoded_cap = b->encoded_cap,
	};
}

/* A topic filter that covers every topic a named command's template can produce. */
static int command_filter(const struct mxb_command_route *r, char *buf, size_t cap)
{
	const char *args[ARGS_MAX];
	for (size_t i = 0; i < ARGS_MAX; i++)
		args[i] = "\x01";
	struct mxb_template_input in = {
		.args = args, .nargs = ARGS_MAX, .args_text = "\x01", .fallback = "\x01"};
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
	struct pending_message *m = calloc(1, sizeof(*m));
	if (!m || !(m->to = strdup(to)) || !(m->type = strdup(type)) || !(m->body = strdup(body))) {
		if (m)
			free_message(m);
		return true; /* out of memory now: kept for the next run */
	}
	snprintf(m->id, sizeof(m->id), "%s", id);
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
	struct routes r;
	int ret = routes_build(cfg, &r);
	if (ret < 0)
		return ret;
	routes_take(b, &r);
	ret = mxb_queue_init(&b->to_xmpp, cfg->bridge.queue_size);
	if (ret < 0)
		goto err_free_routes;
	ret = mxb_queue_init(&b->to_mqtt, cfg->bridge.queue_size);
	if (ret < 0)
		goto err_finish_xmpp_queue;
	ret = mxb_queue_init(&b->unacked, cfg->bridge.queue_size);
	if (ret < 0)
		goto err_finish_mqtt_queue;
	unsigned char rnd[8];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
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
	routes_free(&r, cfg->notify_len);
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
	struct routes r = routes_of(b);
	routes_free(&r, b->cfg->notify_len);
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
	mxb_log_info("bridge: mqtt received %llu, own dropped %llu, retained skipped %llu, "
		     "xmpp sent %llu, xmpp queue dropped %llu, room unreachable %llu, "
		     "payload too large %llu, binary skipped %llu, message too long %llu, "
		     "text replaced %llu, text refused %llu, template misses %llu, "
		     "throttled %llu, unchanged %llu",
		C(mqtt_received), C(own_dropped), C(retained_skipped), C(xmpp_sent),
		C(xmpp_queue_dropped), C(room_unreachable), C(payload_too_large), C(binary_skipped),
		C(message_too_long), C(text_replaced), C(text_refused), C(template_misses),
		C(throttled), C(unchanged));
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
		/* Written long ago and never acknowledged: most likely delivered. */
		b->n.unacked_dropped++;
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
	for (size_t i = n; i-- > 0;) {
		all[i]->seq = 0;
		if (mxb_queue_push_front(&b->to_xmpp, all[i])) {
			b->n.xmpp_queue_dropped++;
			done(b, all[i]);
		}
	}
	free(all);
	b->n.xmpp_resent += n;
	mxb_log_info("bridge: %zu messages were not acknowledged; they go out again after the "
		     "reconnect",
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

/* Returns the payload to render (maybe re-encoded), or NULL when the route skips it. */
static const char *prepare_payload(struct mxb_bridge *b, const struct mxb_notify_route *route,
	const struct mxb_mqtt_message *msg, bool binary, size_t *len)
{
	*len = msg->len;
	if (route->binary == MXB_BINARY_TEXT || !binary)
		return msg->payload;
	switch (route->binary) {
	case MXB_BINARY_TEXT:
		return msg->payload;
	case MXB_BINARY_SKIP:
		b->n.binary_skipped++;
		mxb_log_warn("notify: binary payload on topic '%s' (%zu bytes) not forwarded; set "
			     "binary = \"base64\" or \"hex\" on the route at line %d to forward it",
			msg->topic, msg->len, route->line);
		return NULL;
	case MXB_BINARY_BASE64:
		if (4 * ((msg->len + 2) / 3) + 1 > b->encoded_cap)
			return NULL;
		*len = (size_t)EVP_EncodeBlock((unsigned char *)b->encoded,
			(const unsigned char *)msg->payload, (int)msg->len);
		return b->encoded;
	case MXB_BINARY_HEX: {
		static const char digits[] = "0123456789abcdef";
		if (2 * msg->len + 1 > b->encoded_cap)
			return NULL;
		const unsigned char *p = (const unsigned char *)msg->payload;
		for (size_t i = 0; i < msg->len; i++) {
			b->encoded[2 * i] = digits[p[i] >> 4];
			b->encoded[2 * i + 1] = digits[p[i] & 15];
		}
		*len = 2 * msg->len;
		b->encoded[*len] = '\0';
		return b->encoded;
	}
	}
	return NULL;
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
	if (msg->own) {
		b->n.own_dropped++;
		mxb_log_debug("notify: dropping the bridge's own publish on '%s'", msg->topic);
		return;
	}
	mxb_bridge_devices_message(b, msg);
	b->matches_len = 0;
	mxb_topic_index_match(b->index, msg->topic, collect_match, b);
	bool skipped_retained = false;
	int binary = -1; /* not looked at yet */
	for (size_t i = 0; i < b->matches_len; i++) {
		const struct mxb_notify_route *route = &cfg->notify[b->matches[i]];
		if (msg->retain && !route->retained) {
			/* A retained message replayed on subscribe is old news, not an event. */
			skipped_retained = true;
			continue;
		}
		size_t max = route->max_payload ? route->max_payload : cfg->bridge.max_payload;
		if (msg->len > max) {
			b->n.payload_too_large++;
			mxb_log_warn(
				"notify: payload too large on topic '%s' (%zu bytes, max_payload "
				"%zu); not forwarded",
				msg->topic, msg->len, max);
			continue;
		}
		size_t len;
		/* Decided once per message, and only when a route cares. */
		if (route->binary != MXB_BINARY_TEXT && binary < 0)
			binary = mxb_text_is_binary(msg->payload, msg->len);
		const char *payload = prepare_payload(b, route, msg, binary == 1, &len);
		if (!payload)
			continue;
		struct mxb_throttle *th = b->throttles[b->matches[i]];
		if (th) {
			int v = mxb_throttle_offer(th, msg->topic, payload, len, mxb_now_ms());
			if (v == MXB_THROTTLE_HELD) {
				b->n.throttled++;
				continue;
			}
			if (v == MXB_THROTTLE_SAME) {
				b->n.unchanged++;
				continue;
			}
		}
		notify(b, route, msg->topic, payload, len);
	}
	if (skipped_retained) {
		b->n.retained_skipped++;
		mxb_log_debug("notify: skipping retained message on '%s'", msg->topic);
	}
}

struct due {
	struct mxb_bridge *b;
	const struct mxb_notify_route *route;
};

static void send_due(const char *topic, const char *payload, size_t len, void *data)
{
	struct due *d = data;
	notify(d->b, d->route, topic, payload, len);
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
	/* Runs on every pass of the loop: walk only the routes that throttle. */
	for (size_t k = 0; k < b->throttled_len; k++) {
		size_t i = b->throttled[k];
		struct due d = {.b = b, .route = &b->cfg->notify[i]};
		int64_t t = mxb_throttle_due(b->throttles[i], now, send_due, &d);
		if (t < next)
			next = t;
	}
	return next;
}

static const struct mxb_config *sort_cfg;

static int by_topic(const void *a, const void *b)
{
	const struct mxb_notify_route *r = sort_cfg->notify;
	return strcmp(r[*(const size_t *)a].topic, r[*(const size_t *)b].topic);
}

/* One SUBSCRIBE per distinct filter, with the highest QoS any route asks for. */
static void subscribe_all(struct mxb_bridge *b)
{
	const struct mxb_config *cfg = b->cfg;
	size_t n = cfg->notify_len;
	size_t *order = malloc((n ? n : 1) * sizeof(*order));
	if (!order)
		return;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	/* Sorted, equal filters sit together: n log n rather than n squared for big configs. */
	sort_cfg = cfg;
	qsort(order, n, sizeof(*order), by_topic);
	for (size_t i = 0; i < n;) {
		const char *topic = cfg->notify[order[i]].topic;
		int qos = 0;
		size_t j = i;
		for (; j < n && strcmp(cfg->notify[order[j]].topic, topic) == 0; j++)
			if (cfg->notify[order[j]].qos > qos)
				qos = cfg->notify[order[j]].qos;
		if (mxb_mqtt_subscribe(b->mqtt, topic, qos) == 0)
			mxb_log_debug("mqtt: subscribed to '%s' (qos %d)", topic, qos);
		i = j;
	}
	free(order);
}

/* XMPP -> MQTT */

static void reply(struct mxb_bridge *b, const struct reply_target *to, const char *fmt, ...)
	MXB_PRINTF(3, 4);

static void reply(struct mxb_bridge *b, const struct reply_target *to, const char *fmt, ...)
{
	char text[1024];
	char clean[3 * sizeof(text)];
	int n = snprintf(text, sizeof(text), "%s", to->prefix ? to->prefix : "");
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = strlen(text);
	if (mxb_text_sanitize(text, len, clean, sizeof(clean), NULL) < 0)
		return;
	deliver(b, to->to, "chat", clean);
}

static int target_copy(struct reply_target *dst, const struct reply_target *src)
{
	dst->to = strdup(src->to);
	dst->prefix = src->prefix ? strdup(src->prefix) : NULL;
	if (!dst->to || (src->prefix && !dst->prefix)) {
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
	if (target_copy(&f->reply, to) < 0)
		return;
	f->topic = strdup(topic);
	if (!f->topic) {
		target_finish(&f->reply);
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
		mxb_log_info("command: published to '%s' for '%s'", p->topic, p->reply.to);
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

static bool allowed_anywhere(const struct mxb_config *cfg, const struct mxb_sender *s)
{
	for (size_t i = 0; i < cfg->commands_len; i++) {
		if (mxb_access_allows(&cfg->commands[i], s))
			return true;
	}
	return false;
}

/* A command that cannot be one: counted and logged, and the sender told why. */
static void malformed(
	struct mxb_bridge *b, const struct reply_target *to, const char *why, const char *word)
{
	b->n.commands_malformed++;
	mxb_log_info("command: malformed message from '%s': %s ('%s')", to->to, why, word);
}

static void help(struct mxb_bridge *b, const struct mxb_sender *s, const struct reply_target *to)
{
	char text[1024];
	size_t n = 0, cap = sizeof(text);
	bool plain = false;
	for (size_t i = 0; i < b->cfg->commands_len && n < cap; i++) {
		const struct mxb_command_route *r = &b->cfg->commands[i];
		if (!mxb_access_allows(r, s))
			continue;
		if (r->command) {
			n += (size_t)snprintf(text + n, cap - n, "%s%s", n ? "; " : "", r->command);
			unsigned need = mxb_template_max_arg(r->topic_tmpl);
			if (mxb_template_max_arg(r->payload_tmpl) > need)
				need = mxb_template_max_arg(r->payload_tmpl);
			for (unsigned a = 1; a <= need && n < cap; a++)
				n += (size_t)snprintf(text + n, cap - n, " ARG%u", a);
			if (mxb_template_uses(r->payload_tmpl, "args") && n < cap)
				n += (size_t)snprintf(text + n, cap - n, " ...");
			continue;
		}
		for (size_t j = 0; j < r->allow.len && n < cap; j++) {
			n += (size_t)snprintf(text + n, cap - n, "%s%s", n ? "; " : "",
				plain ? "" : "TOPIC PAYLOAD with TOPIC in: ");
			n += (size_t)snprintf(text + n, cap - n, "%s", r->allow.v[j]);
			plain = true;
		}
	}
	if (n >= cap)
		n = cap - 1;
	text[n] = '\0';
	reply(b, to, "you may send: %s", n ? text : "nothing");
}

/* Splits s in place into at most max words; returns how many. */
static size_t split_words(char *s, char **words, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *w = strtok_r(s, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return max + 1;
		words[n++] = w;
	}
	return n;
}

static bool run_named(struct mxb_bridge *b, const struct mxb_sender *s,
	const struct reply_target *to, const char *word, const char *rest)
{
	const struct mxb_config *cfg = b->cfg;
	const struct mxb_command_route *route = NULL;
	bool exists = false;
	for (size_t i = 0; i < cfg->commands_len && !route; i++) {
		const struct mxb_command_route *r = &cfg->commands[i];
		if (!r->command || strcasecmp(r->command, word) != 0)
			continue;
		exists = true;
		if (mxb_access_allows(r, s))
			route = r;
	}
	if (!route) {
		if (exists) {
			b->n.commands_refused++;
			mxb_log_warn("command: refused '%s' from '%s': not allowed", word, to->to);
			reply(b, to, "refused: you may not use '%s'", word);
			return true;
		}
		return false;
	}

	char args_buf[1024];
	snprintf(args_buf, sizeof(args_buf), "%s", rest);
	char *args[ARGS_MAX];
	size_t nargs = split_words(args_buf, args, ARGS_MAX);
	unsigned need = mxb_template_max_arg(route->topic_tmpl);
	if (mxb_template_max_arg(route->payload_tmpl) > need)
		need = mxb_template_max_arg(route->payload_tmpl);
	if (nargs > ARGS_MAX || nargs < need) {
		malformed(b, to, "too few arguments", route->command);
		reply(b, to, "usage: %s with %u argument%s", route->command, need,
			need == 1 ? "" : "s");
		return true;
	}
	/* An argument must stay inside its topic level. */
	for (size_t i = 0; i < nargs; i++) {
		if (strpbrk(args[i], "/+#")) {
			malformed(b, to, "an argument with '/', '+' or '#'", args[i]);
			reply(b, to, "refused: arguments must not contain '/', '+' or '#'");
			return true;
		}
	}
	struct mxb_template_input in = {
		.args = (const char *const *)args,
		.nargs = nargs,
		.args_text = rest,
		.from = s->jid ? s->jid : to->to,
		.time = (int64_t)time(NULL),
	};
	char topic[1024];
	ssize_t tl = mxb_template_render(route->topic_tmpl, &in, topic, sizeof(topic), NULL);
	if (tl <= 0 || !mxb_topic_name_valid(topic, (size_t)tl)) {
		malformed(b, to, "the command makes no valid topic", word);
		reply(b, to, "refused: '%s' does not make a topic one can publish to", word);
		return true;
	}
	bool ok = route->allow.len == 0;
	for (size_t j = 0; j < route->allow.len && !ok; j++)
		ok = mxb_topic_matches(route->allow.v[j], topic);
	if (!ok) {
		b->n.commands_refused++;
		mxb_log_warn("command: refused '%s' from '%s': topic '%s' not allowed", word,
			to->to, topic);
		reply(b, to, "refused: you may not publish to '%s'", topic);
		return true;
	}
	size_t cap = b->cfg->bridge.max_message + 1;
	char *payload = malloc(cap);
	char *t = strdup(topic);
	ssize_t pl = payload ? mxb_template_render(route->payload_tmpl, &in, payload, cap, NULL)
			     : -ENOMEM;
	if (!t || pl < 0) {
		free(payload);
		free(t);
		reply(b, to, "failed: the payload does not fit");
		return true;
	}
	submit(b, route, to, t, payload, (size_t)pl);
	return true;
}

static void run_topic_payload(struct mxb_bridge *b, const struct mxb_sender *s,
	const struct reply_target *to, const char *topic_word, const char *payload, size_t plen)
{
	const struct mxb_config *cfg = b->cfg;
	size_t tl = strlen(topic_word);
	if (!mxb_topic_name_valid(topic_word, tl)) {
		malformed(b, to, "not a topic one can publish to", topic_word);
		reply(b, to, "refused: '%s' is not a topic one can publish to", topic_word);
		return;
	}
	const struct mxb_command_route *route = NULL;
	bool any = false;
	for (size_t i = 0; i < cfg->commands_len && !route; i++) {
		const struct mxb_command_route *r = &cfg->commands[i];
		if (r->command || !mxb_access_allows(r, s))
			continue;
		any = true;
		for (size_t j = 0; j < r->allow.len; j++) {
			if (mxb_topic_matches(r->allow.v[j], topic_word)) {
				route = r;
				break;
			}
		}
	}
	if (!any) {
		malformed(b, to, "no such command", topic_word);
		reply(b, to, "unknown command '%s'; send 'help'", topic_word);
		return;
	}
	if (!route) {
		b->n.commands_refused++;
		mxb_log_warn(
			"command: refused '%s' from '%s': topic not allowed", topic_word, to->to);
		reply(b, to, "refused: you may not publish to '%s'", topic_word);
		return;
	}
	char *t = strdup(topic_word);
	char *p = strndup(payload, plen);
	if (!t || !p) {
		free(t);
		free(p);
		return;
	}
	submit(b, route, to, t, p, plen);
}

/* In a room, only "NICK: ..." or "NICK, ..." is meant for the bridge. */
static const char *addressed(const char *body, const char *nick)
{
	size_t n = strlen(nick);
	if (strncasecmp(body, nick, n) != 0 || (body[n] != ':' && body[n] != ','))
		return NULL;
	return body + n + 1;
}

static void on_xmpp_message(const struct mxb_xmpp_message *msg, void *data)
{
	struct mxb_bridge *b = data;
	const struct mxb_config *cfg = b->cfg;
	char bare[MXB_JID_MAX + 1];
	struct mxb_sender s = {0};
	struct reply_target to = {.to = (char *)msg->from};
	char prefix[MXB_JID_PART_MAX + 3];
	const char *body = msg->body;

	if (msg->room) {
		s.room = msg->room;
		s.nick = msg->nick;
		s.jid = msg->real_jid;
		s.role = (enum mxb_muc_role)msg->role;
		s.affiliation = (enum mxb_muc_affiliation)msg->affiliation;
		if (strcmp(msg->type, "groupchat") == 0) {
			const char *own_nick = NULL;
			for (size_t i = 0; i < cfg->xmpp.rooms_len; i++) {
				if (mxb_jid_bare_equal(cfg->xmpp.rooms[i].jid, msg->room))
					own_nick = cfg->xmpp.rooms[i].nick;
			}
			body = own_nick ? addressed(msg->body, own_nick) : NULL;
			if (!body)
				return;
			to.to = (char *)msg->room;
			snprintf(prefix, sizeof(prefix), "%s: ", msg->nick);
			to.prefix = prefix;
		}
	} else {
		if (mxb_jid_bare(msg->from, bare, sizeof(bare)) < 0)
			return;
		s.jid = bare;
	}

	if (!allowed_anywhere(cfg, &s)) {
		b->n.commands_from_strangers++;
		if (msg->room) {
			mxb_log_warn("command: refused message from '%s' in room '%s': not allowed",
				msg->nick, msg->room);
			reply(b, &to, "you may not send commands here");
		} else {
			mxb_log_warn("command: refused message from '%s': not allowed", msg->from);
			mxb_xmpp_send_forbidden(b->xmpp, msg->from, msg->id,
				"You are not allowed to send commands to this bridge.");
		}
		return;
	}

	/* The first word is a command name or a topic; the rest its arguments or payload. */
	while (isspace((unsigned char)*body))
		body++;
	const char *word_end = body;
	while (*word_end && !isspace((unsigned char)*word_end))
		word_end++;
	size_t word_len = (size_t)(word_end - body);
	const char *rest = word_end;
	while (isspace((unsigned char)*rest))
		rest++;
	size_t rest_len = strlen(rest);
	while (rest_len && isspace((unsigned char)rest[rest_len - 1]))
		rest_len--;
	if (word_len == 0 || word_len > MXB_TOPIC_MAX) {
		malformed(b, &to, "empty", "");
		reply(b, &to, "usage: TOPIC PAYLOAD or COMMAND ARGS (send 'help')");
		return;
	}
	char *word = strndup(body, word_len);
	char *args = strndup(rest, rest_len);
	if (!word || !args) {
		free(word);
		free(args);
		return;
	}
	if (strcasecmp(word, "help") == 0 && rest_len == 0)
		help(b, &s, &to);
	else if (!run_named(b, &s, &to, word, args))
		run_topic_payload(b, &s, &to, word, args, rest_len);
	free(word);
	free(args);
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
	return allowed_anywhere(cfg, &s);
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

int mxb_bridge_reload(struct mxb_bridge *b, const struct mxb_config *old)
{
	const struct mxb_config *cfg = b->cfg;
	struct routes fresh;
	int r = routes_build(cfg, &fresh);
	if (r < 0)
		return r;
	struct routes stale = routes_of(b);
	routes_free(&stale, old->notify_len);
	routes_take(b, &fresh);
	warn_loops(cfg);
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
	.offline = on_xmpp_offline,
	.acked = on_xmpp_acked,
	.message = on_xmpp_message,
	.contact_allowed = contact_allowed,
	.room_joined = on_room_joined,
	.contact_presence = mxb_bridge_contact_presence,
};
