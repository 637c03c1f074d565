/*
 * Contacts' presence (client mode) as retained MQTT state on PRESENCE_TOPIC/BAREJID.
 * presence.c decides who is admitted and what the value is; this publishes, counts and
 * logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"
#include "backoff.h"
#include "bridge.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "outbox.h"
#include "presence.h"
#include "topic.h"

/*
 * A flood of refused presences must not fill the log: one line when a burst starts, none
 * until this long passed without one; the counters carry the rest.
 */
#define QUIET_MS 60000

int mxb_bridge_contacts_init(struct mxb_bridge *b)
{
	if (!b->cfg->xmpp.presence_topic)
		return 0;
	b->presence = mxb_presence_create(MXB_PRESENCE_CONTACTS_MAX, b->cfg->xmpp.presence_json);
	if (b->cfg->xmpp.presence_discovery)
		b->announce = mxb_announce_create();
	return b->presence && (b->announce || !b->cfg->xmpp.presence_discovery) ? 0 : -ENOMEM;
}

void mxb_bridge_contacts_finish(struct mxb_bridge *b)
{
	/* The configs announced stay: the contacts are still there at the next start. */
	mxb_announce_destroy(b->announce);
	b->announce = NULL;
	mxb_presence_destroy(b->presence);
	b->presence = NULL;
}

static void discovery_event(enum mxb_outbox_event ev, int err, void *ctx)
{
	const char *topic = ctx;
	if (ev == MXB_OUTBOX_FAILED)
		mxb_log_warn("presence: cannot publish the discovery config '%s': %s", topic,
			strerror(-err));
}

static const struct mxb_outbox_client discovery_client = {discovery_event, free};

/* A retained discovery config (empty: removed). Takes topic. */
static void publish_config(struct mxb_bridge *b, char *topic, const char *config)
{
	struct mxb_outbox_publish p = {topic, config, strlen(config), 1, true, true};
	mxb_outbox_publish(b->outbox, &p, &discovery_client, topic);
}

static void retract(const char *topic, void *data)
{
	char *t = strdup(topic);
	if (!t) {
		mxb_log_error("presence: out of memory; the discovery config '%s' stays", topic);
		return;
	}
	publish_config(data, t, "");
}

int mxb_bridge_contacts_reconfigure(struct mxb_bridge *b)
{
	if (b->announce && mxb_announce_len(b->announce)) {
		mxb_log_info("presence: removing the discovery configs of %zu contacts",
			mxb_announce_len(b->announce));
		mxb_announce_take_all(b->announce, retract, b);
	}
	mxb_bridge_contacts_finish(b);
	return mxb_bridge_contacts_init(b);
}

/* Announces bare to Home Assistant once (per prefix), before its first state. */
static void announce(struct mxb_bridge *b, const char *bare, const char *state_topic)
{
	const struct mxb_config *cfg = b->cfg;
	char *topic = mxb_announce_topic(cfg->xmpp.presence_discovery, bare);
	if (!topic || !mxb_announce_needed(b->announce, bare, topic)) {
		free(topic);
		return;
	}
	const char *avail =
		cfg->mqtt.status_topic && *cfg->mqtt.status_topic ? cfg->mqtt.status_topic : NULL;
	char *config = mxb_announce_config(bare, state_topic, cfg->xmpp.presence_json, avail);
	int r = config && mxb_topic_name_valid(topic, strlen(topic))
			? mxb_announce_add(b->announce, bare, topic)
			: -ENOMEM;
	if (r < 0) {
		if (r == -ENOMEM)
			mxb_log_error("presence: out of memory; '%s' is not announced", bare);
		free(topic);
		free(config);
		return;
	}
	mxb_log_debug("presence: announcing '%s' on '%s'", bare, topic);
	publish_config(b, topic, config);
	free(config);
}

/*
 * Whether the config names bare: the same rule that accepts its presence subscription,
 * so that a JID the bridge would befriend may also tell it its presence directly.
 */
static bool named(struct mxb_bridge *b, const char *bare)
{
	return mxb_bridge_xmpp_handlers.contact_allowed(bare, b);
}

/* Whether a line is due: the first refusal after QUIET_MS without any. */
static bool burst_starts(int64_t *last, int64_t now)
{
	bool starts = *last == 0 || now - *last >= QUIET_MS;
	*last = now;
	return starts;
}

static void refused(struct mxb_bridge *b, const char *bare, int outcome)
{
	int64_t now = mxb_now_ms();
	if (outcome == MXB_PRESENCE_STRANGER) {
		b->n.presence_strangers++;
		if (!burst_starts(&b->strangers_logged, now)) {
			b->strangers_unlogged++;
			return;
		}
		mxb_log_warn("presence: dropped the presence of '%s': it shares no presence "
			     "with the bridge and the config does not name it (%llu more dropped "
			     "unlogged before; a burst gets one line)",
			bare, (unsigned long long)b->strangers_unlogged);
		b->strangers_unlogged = 0;
		return;
	}
	b->n.presence_table_full++;
	if (!burst_starts(&b->full_logged, now)) {
		b->full_unlogged++;
		return;
	}
	mxb_log_warn("presence: cannot track the presence of '%s': %d contacts or %d resources "
		     "of one contact reached (%llu more unlogged before)",
		bare, MXB_PRESENCE_CONTACTS_MAX, MXB_PRESENCE_RESOURCES_MAX,
		(unsigned long long)b->full_unlogged);
	b->full_unlogged = 0;
}

/* ctx: the topic, for log lines. */
static void presence_event(enum mxb_outbox_event ev, int err, void *ctx)
{
	const char *topic = ctx;
	if (ev == MXB_OUTBOX_FAILED)
		mxb_log_warn("presence: cannot publish '%s': %s", topic, strerror(-err));
	else if (ev == MXB_OUTBOX_QUEUED)
		mxb_log_debug("presence: '%s' waits for MQTT", topic);
}

static const struct mxb_outbox_client presence_client = {presence_event, free};

/*
 * Retained state: while MQTT is down the outbox keeps only the latest value per contact,
 * so the value published once it is back is the newest, never an older one after it.
 */
static void publish(struct mxb_bridge *b, struct mxb_presence_contact *c, const char *bare)
{
	const char *prefix = b->cfg->xmpp.presence_topic;
	size_t len = strlen(prefix) + 1 + strlen(bare);
	char *topic = malloc(len + 1);
	if (!topic) {
		mxb_log_error(
			"presence: out of memory; the presence of '%s' is not published", bare);
		return;
	}
	snprintf(topic, len + 1, "%s/%s", prefix, bare);
	if (!mxb_topic_name_valid(topic, len)) {
		mxb_log_debug("presence: '%s' cannot be part of a topic name", bare);
		free(topic);
		return;
	}
	if (b->announce)
		announce(b, bare, topic);
	const char *value = mxb_presence_value(c);
	struct mxb_outbox_publish p = {topic, value, strlen(value), 1, true, true};
	/* topic goes to the outbox as the context of its log lines. */
	if (mxb_outbox_publish(b->outbox, &p, &presence_client, topic) == 0) {
		mxb_presence_published(c);
		mxb_log_debug("presence: '%s' is %s", bare, value);
	}
}

void mxb_bridge_contact_presence(const struct mxb_xmpp_presence *p, void *data)
{
	struct mxb_bridge *b = data;
	char bare[MXB_JID_MAX + 1];
	if (!b->presence || mxb_jid_bare(p->from, bare, sizeof(bare)) < 0)
		return;
	const char *slash = strchr(p->from, '/');
	struct mxb_presence_update u = {
		.bare = bare,
		.resource = slash ? slash + 1 : "",
		.available = p->available,
		.show = p->show,
		.status = p->status,
		.priority = p->priority,
		.subscribed = p->subscribed,
		.named = named(b, bare),
	};
	struct mxb_presence_contact *c;
	int r = mxb_presence_update(b->presence, &u, &c);
	switch (r) {
	case MXB_PRESENCE_CHANGED:
		b->n.contact_presences++;
		publish(b, c, bare);
		break;
	case MXB_PRESENCE_UNCHANGED:
		b->n.contact_presences++;
		break;
	case MXB_PRESENCE_IGNORED:
		mxb_log_debug("presence: '%s' went unavailable before sharing any presence", bare);
		break;
	case MXB_PRESENCE_STRANGER:
	case MXB_PRESENCE_FULL:
		refused(b, bare, r);
		break;
	default:
		mxb_log_warn("presence: cannot track the presence of '%s': %s", bare, strerror(-r));
		break;
	}
}
