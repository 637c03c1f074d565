/* The bridge's health as a retained JSON object on mqtt.stats_topic. */

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backoff.h"
#include "bridge.h"
#include "config.h"
#include "devices.h"
#include "log.h"
#include "outbox.h"

/* The names are those of the SIGUSR1 lines, their shared prefixes spelled out. */
#define N(x)                                         \
	{                                            \
#x, offsetof(struct mxb_counters, x) \
	}
static const struct {
	const char *name;
	size_t offset;
} counters[] = {
	N(mqtt_received),
	N(own_dropped),
	N(retained_skipped),
	N(xmpp_sent),
	N(xmpp_queue_dropped),
	N(xmpp_acked),
	N(xmpp_resent),
	N(unacked_dropped),
	N(quarantined),
	N(room_unreachable),
	N(payload_too_large),
	N(binary_skipped),
	N(message_too_long),
	N(status_cut),
	N(text_replaced),
	N(text_refused),
	N(template_misses),
	N(throttled),
	N(unchanged),
	N(commands_published),
	N(commands_refused),
	N(commands_from_strangers),
	N(commands_malformed),
	N(mqtt_queue_dropped),
	N(mqtt_too_large),
	N(device_updates),
	N(devices_refused),
	N(device_commands),
	N(device_strangers),
	N(contact_presences),
	N(presence_strangers),
	N(presence_table_full),
	N(location_received),
	N(location_ignored),
	N(location_invalid),
	N(location_stale),
	N(location_paced),
	N(location_published),
	N(location_failed),
	N(geoloc_received),
	N(geoloc_invalid),
	N(geoloc_strangers),
	N(location_names_refused),
	N(pubsub_published),
	N(pubsub_retracted),
	N(pubsub_replaced),
	N(pubsub_resent),
	N(pubsub_queue_dropped),
	N(pubsub_nodes_created),
	N(pubsub_not_json),
	N(pubsub_base64),
	N(pubsub_too_big),
	N(pubsub_refused),
	N(pubsub_failed),
	N(pubsub_received),
	N(pubsub_own_skipped),
	N(pubsub_invalid),
	N(upload_sent),
	N(upload_failed),
	N(upload_refused),
	N(upload_retried),
	N(upload_dropped),
};
#undef N

/* A counter added to struct mxb_counters and not named above would be missing here. */
_Static_assert(
	sizeof(counters) / sizeof(counters[0]) * sizeof(uint64_t) == sizeof(struct mxb_counters),
	"every counter has a name in the stats");

static void stats_event(enum mxb_outbox_event ev, int err, void *ctx)
{
	(void)ctx;
	if (ev == MXB_OUTBOX_FAILED)
		mxb_log_warn("stats: cannot publish: %s", strerror(-err));
}

static const struct mxb_outbox_client stats_client = {stats_event, NULL};

static const char *side(bool present, bool up)
{
	return !present ? "off" : up ? "up" : "down";
}

/* Numbers are doubles in JSON: exact up to 2^53, far above what a counter reaches. */
static bool add(cJSON *o, const char *name, double v)
{
	return cJSON_AddNumberToObject(o, name, v) != NULL;
}

static cJSON *render(const struct mxb_bridge *b, int64_t now)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	bool ok = true;
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		const uint64_t *v =
			(const uint64_t *)(const void *)((const char *)&b->n + counters[i].offset);
		ok = ok && add(o, counters[i].name, (double)*v);
	}
	ok = ok && add(o, "uptime_s", (double)((now - b->started) / 1000));
	bool x = b->xmpp, c = b->component, m = b->mqtt;
	ok = ok && add(o, "xmpp_batches", (double)(x ? mxb_xmpp_batches(b->xmpp) : 0));
	ok = ok && cJSON_AddStringToObject(o, "xmpp", side(x, x && mxb_xmpp_is_up(b->xmpp)));
	ok = ok && cJSON_AddStringToObject(
			   o, "component", side(c, c && mxb_component_is_up(b->component)));
	ok = ok && cJSON_AddStringToObject(o, "mqtt", side(m, m && mxb_mqtt_is_up(b->mqtt)));
	ok = ok && add(o, "queued_xmpp", (double)mxb_outbox_xmpp_queued(b->outbox));
	ok = ok && add(o, "unacked_xmpp", (double)mxb_outbox_xmpp_unacked(b->outbox));
	ok = ok && add(o, "queued_mqtt", (double)mxb_outbox_mqtt_queued(b->outbox));
	ok = ok && add(o, "reconnects_xmpp", (double)b->reconnects_xmpp);
	ok = ok && add(o, "reconnects_mqtt", (double)b->reconnects_mqtt);
	ok = ok && add(o, "reconnects_component", (double)b->reconnects_component);
	ok = ok &&
	     add(o, "devices_known", (double)(b->devices ? mxb_devices_count(b->devices) : 0));
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *mxb_bridge_stats_object(const struct mxb_bridge *b, int64_t now)
{
	return render(b, now);
}

void mxb_bridge_stats_publish(struct mxb_bridge *b, int64_t now)
{
	const char *topic = b->cfg->mqtt.stats_topic;
	if (!topic)
		return;
	b->next_stats = now + (int64_t)b->cfg->mqtt.stats_interval * 1000;
	cJSON *o = render(b, now);
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!text) {
		mxb_log_error("stats: out of memory; not published");
		return;
	}
	/* Retained state: while MQTT is down only the newest object is held. */
	struct mxb_outbox_publish p = {topic, text, strlen(text), 1, true, true};
	mxb_outbox_publish(b->outbox, &p, &stats_client, NULL);
	cJSON_free(text);
}

int64_t mxb_bridge_stats_tick(struct mxb_bridge *b, int64_t now)
{
	if (!b->cfg->mqtt.stats_topic)
		return INT64_MAX;
	/* The first object goes out when MQTT comes up (on_mqtt_connected), not before. */
	if (!b->next_stats)
		b->next_stats = now + (int64_t)b->cfg->mqtt.stats_interval * 1000;
	else if (now >= b->next_stats)
		mxb_bridge_stats_publish(b, now);
	return b->next_stats;
}
