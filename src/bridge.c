#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "bridge.h"
#include "bridge_pubsub.h"
#include "command.h"
#include "config.h"
#include "devices.h"
#include "jid.h"
#include "log.h"
#include "outbox.h"
#include "pubsub_item.h"
#include "reload.h"
#include "route.h"
#include "spool.h"
#include "template.h"
#include "text.h"
#include "topic.h"

static const char *const type_names[] = {"chat", "normal", "headline", "groupchat"};

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

/* The outbox reaches the two sides and the journal through these. */
static int ob_send(const char *to, const char *type, const char *body, const char *id,
	uint32_t *seq, void *data)
{
	struct mxb_bridge *b = data;
	if (!b->xmpp)
		return -ENOTCONN;
	return mxb_xmpp_send_message(b->xmpp, to, type, body, id, seq);
}

static int ob_publish(const char *topic, const void *payload, size_t len, int qos, bool retain,
	int *mid, void *data)
{
	struct mxb_bridge *b = data;
	return mxb_mqtt_publish(b->mqtt, topic, payload, len, qos, retain, mid);
}

static void ob_journal_add(
	const char *id, const char *to, const char *type, const char *body, void *data)
{
	struct mxb_bridge *b = data;
	if (b->spool)
		mxb_spool_add(b->spool, id, to, type, body);
}

static void ob_journal_done(const char *id, void *data)
{
	struct mxb_bridge *b = data;
	if (b->spool)
		mxb_spool_done(b->spool, id);
}

static const struct mxb_outbox_ops outbox_ops = {
	.send = ob_send,
	.publish = ob_publish,
	.journal_add = ob_journal_add,
	.journal_done = ob_journal_done,
};

/* A message the journal kept from the last run: back in the outbox, with its id. */
static bool replay(const char *id, const char *to, const char *type, const char *body, void *data)
{
	struct mxb_bridge *b = data;
	if (strcmp(type, MXB_PUBSUB_JOURNAL_TYPE) == 0)
		return mxb_bridge_pubsub_replay(b, id, to, body);
	/* The journal is a file: its text goes to the stream only if XML can carry it. */
	if (!mxb_text_xml_valid(body, strlen(body)) || !mxb_text_xml_valid(to, strlen(to))) {
		mxb_log_warn("spool: message '%s' is not XML-safe text; dropped", id);
		return false;
	}
	int r = mxb_outbox_replay(b->outbox, id, to, type, body);
	if (r == -EINVAL) {
		mxb_log_warn(
			"spool: message id '%s' is longer than the bridge makes them; dropped", id);
		return false;
	}
	if (r < 0)
		mxb_log_error("spool: out of memory; message '%s' stays for the next run", id);
	return true;
}

static void journal_live(
	const char *id, const char *to, const char *type, const char *body, void *data)
{
	mxb_spool_add(data, id, to, type, body);
}

static void spool_rewrite(struct mxb_bridge *b)
{
	if (mxb_spool_rewrite_begin(b->spool) < 0)
		return;
	mxb_outbox_each_message(b->outbox, journal_live, b->spool);
	mxb_bridge_pubsub_each_journal(b, journal_live, b->spool);
	if (mxb_spool_rewrite_commit(b->spool) < 0)
		mxb_log_errno(MXB_LOG_WARN, "spool: cannot rewrite the journal");
}

int mxb_bridge_init(struct mxb_bridge *b, const struct mxb_config *cfg)
{
	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->started = mxb_now_ms();
	int ret = mxb_routes_create(&b->routes, cfg);
	if (ret < 0)
		return ret;
	ret = buffers_init(b, cfg);
	if (ret < 0)
		goto err_free_routes;
	ret = mxb_outbox_create(&b->outbox, cfg->bridge.queue_size, &outbox_ops, b, &b->n);
	if (ret < 0)
		goto err_free_buffers;
	ret = mxb_bridge_devices_init(b);
	if (ret < 0)
		goto err_free_parts;
	ret = mxb_bridge_contacts_init(b);
	if (ret < 0)
		goto err_free_parts;
	ret = mxb_bridge_location_init(b);
	if (ret < 0)
		goto err_free_parts;
	ret = mxb_bridge_pubsub_init(b);
	if (ret < 0)
		goto err_free_parts;
	ret = mxb_bridge_upload_init(b);
	if (ret < 0)
		goto err_free_parts;
	if (cfg->bridge.spool) {
		ret = mxb_spool_open(&b->spool, cfg->bridge.spool, replay, b);
		if (ret < 0)
			goto err_free_parts;
		/* The journal held more than the queue: what it dropped leaves the journal. */
		if (b->n.xmpp_queue_dropped)
			spool_rewrite(b);
	}
	warn_loops(cfg);
	return 0;

err_free_parts:
	mxb_bridge_location_finish(b);
	mxb_bridge_pubsub_finish(b);
	mxb_bridge_upload_finish(b);
	mxb_bridge_contacts_finish(b);
	mxb_bridge_devices_finish(b);
	mxb_outbox_destroy(b->outbox);
err_free_buffers:
	free(b->render);
	free(b->clean);
err_free_routes:
	mxb_routes_destroy(b->routes);
	return ret;
}

void mxb_bridge_finish(struct mxb_bridge *b)
{
	/* The outbox first: the producers' waits it releases live in the parts below. */
	mxb_outbox_destroy(b->outbox);
	/* What is still held stays in the journal for the next run. */
	mxb_spool_close(b->spool);
	free(b->render);
	free(b->clean);
	mxb_routes_destroy(b->routes);
	mxb_bridge_contacts_finish(b);
	mxb_bridge_devices_finish(b);
	mxb_bridge_location_finish(b);
	mxb_bridge_pubsub_finish(b);
	mxb_bridge_upload_finish(b);
}

void mxb_bridge_attach(struct mxb_bridge *b, struct mxb_mqtt *mqtt, struct mxb_xmpp *xmpp)
{
	bool replaced = b->xmpp && b->xmpp != xmpp;
	b->mqtt = mqtt;
	b->xmpp = xmpp;
	/* A client added by a reload learns that the component is up already. */
	if (xmpp && b->component && mxb_component_is_up(b->component))
		mxb_xmpp_set_devices(xmpp, true);
	if (mxb_bridge_pubsub_attach(b) < 0)
		mxb_log_error("pubsub: out of memory; pubsub routes are off");
	/* A reload replaced the client: uploads forget the old session. */
	if (replaced)
		mxb_bridge_upload_offline(b);
}

bool mxb_bridge_commands_drained(const struct mxb_bridge *b)
{
	return mxb_outbox_mqtt_drained(b->outbox);
}

bool mxb_bridge_drained(const struct mxb_bridge *b)
{
	return mxb_outbox_xmpp_drained(b->outbox) && mxb_bridge_pubsub_drained(b);
}

void mxb_bridge_log_counters(const struct mxb_bridge *b)
{
	const struct mxb_counters *n = &b->n;
#define C(x) (unsigned long long)n->x
	unsigned long long batches = b->xmpp ? mxb_xmpp_batches(b->xmpp) : 0;
	mxb_log_info(
		"bridge: mqtt received %llu, own dropped %llu, retained skipped %llu, "
		"xmpp sent %llu, xmpp batches %llu, xmpp queue dropped %llu, "
		"room unreachable %llu, payload too large %llu, binary skipped %llu, "
		"message too long %llu, status cut %llu, text replaced %llu, text refused %llu, "
		"template misses %llu, throttled %llu, unchanged %llu",
		C(mqtt_received), C(own_dropped), C(retained_skipped), C(xmpp_sent), batches,
		C(xmpp_queue_dropped), C(room_unreachable), C(payload_too_large), C(binary_skipped),
		C(message_too_long), C(status_cut), C(text_replaced), C(text_refused),
		C(template_misses), C(throttled), C(unchanged));
	mxb_log_info("bridge: commands published %llu, refused %llu, from strangers %llu, "
		     "malformed %llu, mqtt queue dropped %llu, mqtt too large %llu",
		C(commands_published), C(commands_refused), C(commands_from_strangers),
		C(commands_malformed), C(mqtt_queue_dropped), C(mqtt_too_large));
	mxb_log_info(
		"bridge: xmpp acked %llu, resent %llu, unacked dropped %llu, quarantined %llu, "
		"device updates %llu, devices refused %llu, device commands %llu, device "
		"strangers %llu, contact presences %llu, presence strangers %llu, presence "
		"table full %llu, location received %llu, location ignored %llu, location "
		"invalid %llu, location stale %llu, location paced %llu, location published "
		"%llu, location failed %llu, geoloc received %llu, geoloc invalid %llu, geoloc "
		"strangers %llu, location names refused %llu",
		C(xmpp_acked), C(xmpp_resent), C(unacked_dropped), C(quarantined),
		C(device_updates), C(devices_refused), C(device_commands), C(device_strangers),
		C(contact_presences), C(presence_strangers), C(presence_table_full),
		C(location_received), C(location_ignored), C(location_invalid), C(location_stale),
		C(location_paced), C(location_published), C(location_failed), C(geoloc_received),
		C(geoloc_invalid), C(geoloc_strangers), C(location_names_refused));
	mxb_log_info("bridge: pubsub published %llu, retracted %llu, replaced %llu, resent %llu, "
		     "queue dropped %llu, nodes created %llu, not json %llu, base64 %llu, too big "
		     "%llu, refused %llu, failed %llu, received %llu, own skipped %llu, invalid "
		     "%llu",
		C(pubsub_published), C(pubsub_retracted), C(pubsub_replaced), C(pubsub_resent),
		C(pubsub_queue_dropped), C(pubsub_nodes_created), C(pubsub_not_json),
		C(pubsub_base64), C(pubsub_too_big), C(pubsub_refused), C(pubsub_failed),
		C(pubsub_received), C(pubsub_own_skipped), C(pubsub_invalid));
	mxb_log_info("bridge: snapshots uploaded %llu, not uploaded %llu, refused %llu, "
		     "retried %llu, upload queue dropped %llu",
		C(upload_sent), C(upload_failed), C(upload_refused), C(upload_retried),
		C(upload_dropped));
#undef C
}

/* MQTT -> XMPP */

static void on_xmpp_acked(uint32_t h, void *data)
{
	struct mxb_bridge *b = data;
	mxb_outbox_acked(b->outbox, h);
}

static void on_xmpp_offline(bool stream_error, void *data)
{
	struct mxb_bridge *b = data;
	b->reconnects_xmpp++;
	mxb_outbox_xmpp_lost(b->outbox, stream_error);
	mxb_bridge_pubsub_offline(b);
	mxb_bridge_upload_offline(b);
}

const char *mxb_bridge_render(struct mxb_bridge *b, const struct mxb_notify_route *route,
	const char *topic, const char *payload, size_t len)
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
		return NULL;
	}
	const char *body = b->render;
	if (!mxb_text_xml_valid(b->render, (size_t)n)) {
		if (cfg->bridge.bad_text == MXB_BAD_TEXT_REFUSE) {
			b->n.text_refused++;
			mxb_log_warn(
				"notify: message for topic '%s' has invalid UTF-8 or characters "
				"XML forbids; refused",
				topic);
			return NULL;
		}
		size_t replaced = 0;
		if (mxb_text_sanitize(b->render, (size_t)n, b->clean,
			    3 * cfg->bridge.max_message + 1, &replaced) < 0)
			return NULL;
		b->n.text_replaced++;
		mxb_log_warn("notify: replaced %zu invalid or XML-forbidden characters in the "
			     "message for topic '%s'",
			replaced, topic);
		body = b->clean;
	}
	return body;
}

/* Renders route's message for topic and payload and sends it to each target. */
static void notify(struct mxb_bridge *b, const struct mxb_notify_route *route, const char *topic,
	const char *payload, size_t len)
{
	const char *body = mxb_bridge_render(b, route, topic, payload, len);
	for (size_t t = 0; body && t < route->to.len; t++)
		mxb_outbox_send(b->outbox, route->to.v[t], type_names[route->type], body);
}

/* Counts and logs what a route's verdict kept from XMPP. */
static void not_sent(struct mxb_bridge *b, const struct mxb_notify_route *route,
	const struct mxb_mqtt_message *msg, enum mxb_route_verdict v)
{
	const struct mxb_config *cfg = b->cfg;
	size_t max = route->max_payload ? route->max_payload : cfg->bridge.max_payload;
	switch (v) {
	case MXB_ROUTE_SEND:
	case MXB_ROUTE_UPLOAD:
	case MXB_ROUTE_RETAINED: /* counted once per message */
		break;
	case MXB_ROUTE_TOO_LARGE:
		b->n.payload_too_large++;
		mxb_log_warn("notify: payload too large on topic '%s' (%zu bytes, max_payload "
			     "%zu); not forwarded",
			msg->topic, msg->len, max);
		if (route->binary == MXB_BINARY_UPLOAD) {
			char why[80];
			snprintf(
				why, sizeof(why), "%zu bytes, over max_payload %zu", msg->len, max);
			mxb_bridge_upload_refused(b, route, msg->topic, why);
		}
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
	mxb_bridge_location_message(b, msg);
	mxb_bridge_pubsub_message(b, msg);
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
	mxb_bridge_discovery_message(b, msg);
	for (size_t k = 0; k < nn; k++) {
		const struct mxb_notify_route *route = &cfg->notify[refs[k].index];
		const char *payload;
		size_t len;
		enum mxb_route_verdict v =
			mxb_routes_decide(b->routes, refs[k].index, &m, now, &payload, &len);
		if (v == MXB_ROUTE_SEND)
			notify(b, route, msg->topic, payload, len);
		else if (v == MXB_ROUTE_UPLOAD)
			mxb_bridge_upload(b, route, msg->topic, payload, len);
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
	const struct mxb_notify_route *r = &b->cfg->notify[route];
	/* Held whole by the throttle (route.h): binary still means an upload. */
	if (r->binary == MXB_BINARY_UPLOAD && mxb_text_is_binary(payload, len))
		mxb_bridge_upload(b, r, topic, payload, len);
	else
		notify(b, r, topic, payload, len);
}

int64_t mxb_bridge_tick(struct mxb_bridge *b, int64_t now)
{
	int64_t next = mxb_bridge_devices_tick(b, now);
	if (b->spool) {
		/*
		 * Batched: one sync 200 ms after the first record written covers every record
		 * written meanwhile; nothing written, no wakeup.
		 */
		if (!b->next_sync && mxb_spool_dirty(b->spool))
			b->next_sync = now + 200;
		if (b->next_sync && now >= b->next_sync) {
			mxb_spool_sync(b->spool);
			if (mxb_spool_wants_rewrite(b->spool))
				spool_rewrite(b);
			b->next_sync = 0;
		}
		if (b->next_sync && b->next_sync < next)
			next = b->next_sync;
	}
	int64_t t = mxb_routes_due(b->routes, now, send_due, b);
	if (t < next)
		next = t;
	t = mxb_bridge_stats_tick(b, now);
	if (t < next)
		next = t;
	t = mxb_bridge_location_tick(b, now);
	if (t < next)
		next = t;
	t = mxb_bridge_upload_tick(b, now);
	if (t < next)
		next = t;
	return next;
}

/*
 * The distinct filters of routes with the highest QoS any of them asks for, and with
 * devices, those of the device rules and pubsub routes too (subscribed by
 * bridge_devices.c and bridge_pubsub.c). NULL: ENOMEM.
 */
static struct mxb_filter *filters_of(const struct mxb_config *cfg,
	const struct mxb_notify_route *routes, size_t routes_len, bool devices, size_t *len)
{
	size_t cap =
		routes_len +
		(devices ? (2 + MXB_DEVICE_REPORTS_MAX) * cfg->devices_len + cfg->pubsub_len : 0);
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
		for (size_t k = 0; k < r->reports_len; k++)
			f[n++] = (struct mxb_filter){r->reports[k], r->qos};
	}
	for (size_t i = 0; devices && i < cfg->pubsub_len; i++)
		f[n++] = (struct mxb_filter){cfg->pubsub[i].topic, cfg->pubsub[i].qos};
	*len = mxb_reload_filters_normalize(f, n);
	return f;
}

/* One SUBSCRIBE per distinct filter, with the highest QoS any route asks for. */
static void subscribe_all(struct mxb_bridge *b)
{
	size_t n;
	struct mxb_filter *f = filters_of(b->cfg, b->cfg->notify, b->cfg->notify_len, false, &n);
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

static void on_published(int mid, void *data)
{
	struct mxb_bridge *b = data;
	mxb_outbox_published(b->outbox, mid);
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
	if (mxb_bridge_location_contact(b, jid))
		return true;
	struct mxb_sender s = {.jid = jid};
	return mxb_command_allowed_anywhere(cfg, &s);
}

static void on_mqtt_connected(void *data)
{
	struct mxb_bridge *b = data;
	subscribe_all(b);
	mxb_bridge_devices_subscribe(b);
	mxb_bridge_location_subscribe(b);
	mxb_bridge_pubsub_subscribe(b);
	/*
	 * Before the flush, so that it replaces an object held while MQTT was down (which says
	 * so); and a broker that restarted may have lost the retained one.
	 */
	mxb_bridge_stats_publish(b, mxb_now_ms());
	mxb_outbox_flush_mqtt(b->outbox);
}

static void on_mqtt_disconnected(void *data)
{
	struct mxb_bridge *b = data;
	b->reconnects_mqtt++;
}

static void on_xmpp_online(void *data)
{
	struct mxb_bridge *b = data;
	mxb_outbox_flush_xmpp(b->outbox);
	mxb_bridge_pubsub_online(b);
	mxb_bridge_upload_online(b);
}

static void on_room_joined(const char *room, void *data)
{
	(void)room;
	struct mxb_bridge *b = data;
	mxb_outbox_flush_xmpp(b->outbox);
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
	struct mxb_filter *of = filters_of(old, old->notify, old->notify_len, true, &on);
	struct mxb_filter *ff = filters_of(cfg, cfg->notify, cfg->notify_len, true, &fn);
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
	mxb_bridge_pubsub_reload(b);
	warn_loops(cfg);
	if (mxb_mqtt_is_up(b->mqtt) && resubscribe(b, old) < 0) {
		/* The routes are in place; a reconnect subscribes to all of them. */
		mxb_log_error("reload: cannot update the subscriptions: out of memory");
	}
	return 0;
}

int mxb_bridge_set_queue_size(struct mxb_bridge *b)
{
	return mxb_outbox_set_bound(b->outbox, b->cfg->bridge.queue_size);
}

static bool replay_none(
	const char *id, const char *to, const char *type, const char *body, void *data)
{
	(void)id, (void)to, (void)type, (void)body, (void)data;
	mxb_log_warn("spool: the new spool directory held message '%s' of another run; dropped: "
		     "the bridge journals what it holds now",
		id);
	return false;
}

int mxb_bridge_move_spool(struct mxb_bridge *b)
{
	const char *dir = b->cfg->bridge.spool;
	struct mxb_spool *fresh = NULL;
	if (dir) {
		int r = mxb_spool_open(&fresh, dir, replay_none, b);
		if (r < 0)
			return r;
	}
	struct mxb_spool *old = b->spool;
	b->spool = fresh;
	if (fresh)
		spool_rewrite(b);
	if (old) {
		/* What is held is in the new journal (or unjournaled, as asked): the old one
		 * must not bring it back at a later start. */
		if (mxb_spool_rewrite_begin(old) == 0)
			mxb_spool_rewrite_commit(old);
		mxb_spool_close(old);
	}
	mxb_log_info("reload: %s", dir ? "the journal moved to the new spool directory"
				       : "no spool any more: held messages are not journaled");
	return 0;
}

void mxb_bridge_mqtt_replaced(struct mxb_bridge *b)
{
	mxb_outbox_mqtt_reset(b->outbox);
}

static void on_xmpp_leading(bool leads, void *data)
{
	mxb_bridge_devices_lead(data, leads);
}

const struct mxb_mqtt_handlers mxb_bridge_mqtt_handlers = {
	.connected = on_mqtt_connected,
	.disconnected = on_mqtt_disconnected,
	.message = on_mqtt_message,
	.published = on_published,
};

const struct mxb_xmpp_handlers mxb_bridge_xmpp_handlers = {
	.online = on_xmpp_online,
	.offline = on_xmpp_offline,
	.acked = on_xmpp_acked,
	.message = mxb_bridge_command_message,
	.contact_allowed = contact_allowed,
	.room_joined = on_room_joined,
	.contact_presence = mxb_bridge_contact_presence,
	.adhoc = &mxb_bridge_adhoc_handlers,
	.contact_geoloc = mxb_bridge_contact_geoloc,
	.contact_roster = mxb_bridge_contact_roster,
	.leading = on_xmpp_leading,
};
