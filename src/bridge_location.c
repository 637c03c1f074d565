/*
 * User location, both ways. OwnTracks positions of the mapped users (MQTT) go to their
 * accounts' PEP (location_session.c), paced and never older than the last; the contacts'
 * locations (xmpp.c) go to MQTT as OwnTracks friends or plain JSON, retained. geoloc.c
 * decides what a payload means; this publishes, counts and logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "bridge.h"
#include "config.h"
#include "geoloc.h"
#include "jid.h"
#include "location_session.h"
#include "log.h"
#include "outbox.h"
#include "template.h"
#include "text.h"
#include "topic.h"

/* The longest roster name shown on a card; a longer one is refused, not cut. */
#define NAME_MAX_BYTES 64
/* One log line per kind of refusal and burst, as bridge_contacts.c does. */
#define QUIET_MS 60000

struct account_state {
	struct mxb_location_pace pace;
	struct mxb_geoloc waiting; /* the latest position held for the end of the interval */
	bool held;
};

struct contact_state {
	char name[NAME_MAX_BYTES + 1]; /* from the roster; "" until known */
	bool card_sent; /* the card with this name is published */
	/* json_topic: where the last location went (a new name moves it); NULL: none */
	char *topic;
};

struct mxb_bridge_location {
	struct account_state *accounts;
	struct contact_state *contacts;
	/* when each kind of refusal was last logged (ms) */
	int64_t invalid_logged, geoloc_invalid_logged, strangers_logged;
};

int mxb_bridge_location_init(struct mxb_bridge *b)
{
	const struct mxb_config *cfg = b->cfg;
	size_t na = cfg->location.accounts_len, nc = cfg->location.contacts.len;
	if (!na && !nc)
		return 0;
	struct mxb_bridge_location *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->accounts = calloc(na ? na : 1, sizeof(*l->accounts));
	l->contacts = calloc(nc ? nc : 1, sizeof(*l->contacts));
	if (!l->accounts || !l->contacts) {
		free(l->accounts);
		free(l->contacts);
		free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < na; i++)
		mxb_location_pace_init(&l->accounts[i].pace, cfg->location.min_interval * 1000LL);
	b->location_state = l;
	return 0;
}

void mxb_bridge_location_finish(struct mxb_bridge *b)
{
	struct mxb_bridge_location *l = b->location_state;
	if (!l)
		return;
	for (size_t i = 0; i < b->cfg->location.contacts.len; i++)
		free(l->contacts[i].topic);
	free(l->accounts);
	free(l->contacts);
	free(l);
	b->location_state = NULL;
}

void mxb_bridge_attach_location(struct mxb_bridge *b, struct mxb_location *location)
{
	b->location = location;
}

void mxb_bridge_location_subscribe(struct mxb_bridge *b)
{
	const struct mxb_config *cfg = b->cfg;
	for (size_t i = 0; i < cfg->location.accounts_len; i++) {
		char filter[MXB_JID_MAX + 512];
		int n = snprintf(filter, sizeof(filter), "%s/%s/+", cfg->location.owntracks_topic,
			cfg->location.accounts[i].user);
		if (n < 0 || (size_t)n >= sizeof(filter)) {
			mxb_log_error("location: the topic of '%s' is too long",
				cfg->location.accounts[i].user);
			continue;
		}
		/* QoS 1, as the app publishes: a position must survive a broker hiccup. */
		if (mxb_mqtt_subscribe(b->mqtt, filter, 1) == 0)
			mxb_log_debug("mqtt: subscribed to '%s' (qos 1)", filter);
	}
}

/* Whether a line is due: the first refusal after QUIET_MS without any. */
static bool burst_starts(int64_t *last, int64_t now)
{
	bool starts = *last == 0 || now - *last >= QUIET_MS;
	*last = now;
	return starts;
}

static void publish_position(struct mxb_bridge *b, size_t i, const struct mxb_geoloc *g)
{
	char xml[MXB_GEOLOC_XML_MAX];
	if (mxb_geoloc_xml(g, xml, sizeof(xml)) < 0 ||
		mxb_location_publish(b->location, i, xml) < 0) {
		mxb_log_error("location: cannot publish the position of '%s'",
			b->cfg->location.accounts[i].user);
		return;
	}
	mxb_log_debug("location: position of '%s' (tst %lld) goes out",
		b->cfg->location.accounts[i].user, (long long)g->timestamp);
}

void mxb_bridge_location_message(struct mxb_bridge *b, const struct mxb_mqtt_message *msg)
{
	const struct mxb_config *cfg = b->cfg;
	struct mxb_bridge_location *l = b->location_state;
	const char *user;
	size_t ulen;
	if (!l || !cfg->location.accounts_len ||
		!mxb_owntracks_topic(cfg->location.owntracks_topic, msg->topic, &user, &ulen))
		return;
	size_t i = 0;
	while (i < cfg->location.accounts_len &&
		(strlen(cfg->location.accounts[i].user) != ulen ||
			strncmp(cfg->location.accounts[i].user, user, ulen) != 0))
		i++;
	if (i == cfg->location.accounts_len)
		return;
	int64_t now = mxb_now_ms();
	struct mxb_geoloc g;
	const char *why;
	enum mxb_owntracks_kind kind = mxb_owntracks_parse(msg->payload, msg->len, &g, &why);
	if (kind == MXB_OWNTRACKS_LOCATION &&
		!mxb_owntracks_tst_plausible(g.timestamp, (int64_t)time(NULL))) {
		kind = MXB_OWNTRACKS_INVALID;
		why = "'tst' is more than an hour ahead of the bridge's clock";
	}
	if (kind == MXB_OWNTRACKS_INVALID) {
		b->n.location_invalid++;
		if (burst_starts(&l->invalid_logged, now))
			mxb_log_warn("location: refused the OwnTracks payload on '%s': %s (a "
				     "burst gets one line)",
				msg->topic, why);
		return;
	}
	if (kind == MXB_OWNTRACKS_IGNORED) {
		b->n.location_ignored++;
		mxb_log_debug("location: '%s' on '%s' is not a position; ignored", why, msg->topic);
		return;
	}
	b->n.location_received++;
	struct account_state *a = &l->accounts[i];
	switch (mxb_location_pace_offer(&a->pace, g.timestamp, now)) {
	case MXB_PACE_STALE:
		b->n.location_stale++;
		mxb_log_debug("location: position of '%s' on '%s' (tst %lld) is not newer than "
			      "the last; skipped",
			cfg->location.accounts[i].user, msg->topic, (long long)g.timestamp);
		return;
	case MXB_PACE_LATER:
		b->n.location_paced++;
		a->waiting = g;
		a->held = true;
		return;
	case MXB_PACE_NOW:
		a->held = false;
		mxb_location_pace_sent(&a->pace, now);
		publish_position(b, i, &g);
		return;
	}
}

int64_t mxb_bridge_location_tick(struct mxb_bridge *b, int64_t now)
{
	struct mxb_bridge_location *l = b->location_state;
	int64_t next = INT64_MAX;
	for (size_t i = 0; l && i < b->cfg->location.accounts_len; i++) {
		struct account_state *a = &l->accounts[i];
		if (!a->held)
			continue;
		int64_t due = mxb_location_pace_due(&a->pace);
		if (now >= due) {
			a->held = false;
			mxb_location_pace_sent(&a->pace, now);
			publish_position(b, i, &a->waiting);
		} else if (due < next) {
			next = due;
		}
	}
	return next;
}

/* Contacts -> MQTT */

static int contact_index(const struct mxb_bridge *b, const char *bare)
{
	const struct mxb_strlist *c = &b->cfg->location.contacts;
	for (size_t i = 0; i < c->len; i++) {
		if (mxb_jid_bare_equal(c->v[i], bare))
			return (int)i;
	}
	return -1;
}

bool mxb_bridge_location_contact(const struct mxb_bridge *b, const char *bare)
{
	return contact_index(b, bare) >= 0;
}

/* ctx: the topic, for log lines. */
static void location_event(enum mxb_outbox_event ev, int err, void *ctx)
{
	const char *topic = ctx;
	if (ev == MXB_OUTBOX_FAILED)
		mxb_log_warn("location: cannot publish '%s': %s", topic, strerror(-err));
	else if (ev == MXB_OUTBOX_QUEUED)
		mxb_log_debug("location: '%s' waits for MQTT", topic);
}

static const struct mxb_outbox_client location_client = {location_event, free};

/* Retained, QoS 1, latest only while held: topic (copied) takes value ("" clears). */
static void publish_to(struct mxb_bridge *b, const char *topic, const char *value)
{
	char *copy = strdup(topic);
	if (!copy) {
		mxb_log_error("location: out of memory; '%s' is not published", topic);
		return;
	}
	struct mxb_outbox_publish p = {copy, value, strlen(value), 1, true, true};
	/* copy goes to the outbox as the context of its log lines. */
	mxb_outbox_publish(b->outbox, &p, &location_client, copy);
}

/* TOPIC/JID[suffix] takes value. */
static void publish(struct mxb_bridge *b, const char *jid, const char *suffix, const char *value)
{
	size_t len = strlen(b->cfg->location.topic) + 1 + strlen(jid) + strlen(suffix);
	char *topic = malloc(len + 1);
	if (!topic) {
		mxb_log_error(
			"location: out of memory; the location of '%s' is not published", jid);
		return;
	}
	snprintf(topic, len + 1, "%s/%s%s", b->cfg->location.topic, jid, suffix);
	publish_to(b, topic, value);
	free(topic);
}

/* The name of contact i for people: its roster name, or its JID's local part. */
static const char *display_name(struct mxb_bridge *b, size_t i, char *buf, size_t size)
{
	const struct contact_state *c = &b->location_state->contacts[i];
	if (*c->name)
		return c->name;
	const char *jid = b->cfg->location.contacts.v[i];
	const char *at = strchr(jid, '@');
	size_t n = at ? (size_t)(at - jid) : strlen(jid);
	snprintf(buf, size, "%.*s", (int)n, jid);
	return buf;
}

/*
 * json_topic rendered for contact i into buf, or NULL (logged and counted) when the name
 * would make it no valid topic name: no '/', '+' or '#' in the name, UTF-8.
 */
static const char *json_topic(struct mxb_bridge *b, size_t i, char *buf, size_t size)
{
	char local[MXB_JID_MAX + 1];
	const char *jid = b->cfg->location.contacts.v[i];
	const char *name = display_name(b, i, local, sizeof(local));
	const struct mxb_template *t = b->cfg->location.json_topic_tmpl;
	struct mxb_template_input in = {.from = jid, .name = name, .fallback = ""};
	ssize_t n = mxb_template_render(t, &in, buf, size, NULL);
	bool named = mxb_template_uses(t, "name");
	if (n < 0 || (named && strpbrk(name, "/+#")) || !mxb_topic_name_valid(buf, (size_t)n)) {
		b->n.location_names_refused++;
		mxb_log_warn("location: the name of '%s' makes no topic name of 'json_topic'; "
			     "its location is not published",
			jid);
		return NULL;
	}
	return buf;
}

/* Contact i's location, or "" to clear it, where the format puts it. */
static void publish_location(struct mxb_bridge *b, size_t i, const char *value)
{
	struct contact_state *c = &b->location_state->contacts[i];
	const char *jid = b->cfg->location.contacts.v[i];
	if (!b->cfg->location.json_topic_tmpl) {
		publish(b, jid, "", value);
		return;
	}
	char buf[1024];
	const char *topic = *value ? json_topic(b, i, buf, sizeof(buf)) : NULL;
	/* A new name moves the location: the old topic is cleared. */
	if (c->topic && (!topic || strcmp(c->topic, topic) != 0)) {
		publish_to(b, c->topic, "");
		free(c->topic);
		c->topic = NULL;
	}
	if (!topic)
		return;
	publish_to(b, topic, value);
	if (!c->topic)
		c->topic = strdup(topic); /* without memory, a later move leaves it behind */
}

/* The card of contact i: its roster name, or its JID's local part. */
static void publish_card(struct mxb_bridge *b, size_t i)
{
	struct contact_state *c = &b->location_state->contacts[i];
	const char *jid = b->cfg->location.contacts.v[i];
	char local[MXB_JID_MAX + 1];
	const char *name = display_name(b, i, local, sizeof(local));
	char *card = mxb_owntracks_card_json(name);
	if (!card) {
		mxb_log_error("location: out of memory; no card for '%s'", jid);
		return;
	}
	publish(b, jid, "/info", card);
	free(card);
	c->card_sent = true;
}

void mxb_bridge_contact_geoloc(
	const char *bare, const struct mxb_geoloc *g, const char *why, void *data)
{
	struct mxb_bridge *b = data;
	struct mxb_bridge_location *l = b->location_state;
	int64_t now = mxb_now_ms();
	int i = l ? contact_index(b, bare) : -1;
	if (i < 0) {
		b->n.geoloc_strangers++;
		if (l && burst_starts(&l->strangers_logged, now))
			mxb_log_info("location: not publishing the location of '%s': "
				     "location.contacts does not name it (a burst gets one line)",
				bare);
		return;
	}
	const char *jid = b->cfg->location.contacts.v[i];
	if (why) {
		b->n.geoloc_invalid++;
		if (burst_starts(&l->geoloc_invalid_logged, now))
			mxb_log_warn("location: refused the location of '%s': %s", jid, why);
		return;
	}
	if (!mxb_geoloc_has_position(g)) {
		mxb_log_debug("location: '%s' has no location now", jid);
		publish_location(b, (size_t)i, "");
		return;
	}
	char *value;
	if (b->cfg->location.format == MXB_LOCATION_JSON) {
		value = mxb_geoloc_plain_json(g, jid);
	} else {
		char tid[MXB_OWNTRACKS_TID_MAX];
		mxb_owntracks_tid(jid, tid, sizeof(tid));
		/* Without a timestamp the location is as of now, on the wall clock. */
		value = mxb_owntracks_friend_json(g, tid, (int64_t)time(NULL));
	}
	if (!value) {
		mxb_log_error(
			"location: out of memory; the location of '%s' is not published", jid);
		return;
	}
	b->n.geoloc_received++;
	if (b->cfg->location.format == MXB_LOCATION_OWNTRACKS && !l->contacts[i].card_sent)
		publish_card(b, (size_t)i);
	publish_location(b, (size_t)i, value);
	mxb_log_debug("location: '%s' is at %s", jid, value);
	free(value);
}

void mxb_bridge_contact_roster(const char *bare, const char *name, bool removed, void *data)
{
	struct mxb_bridge *b = data;
	struct mxb_bridge_location *l = b->location_state;
	int i = l ? contact_index(b, bare) : -1;
	if (i < 0)
		return;
	struct contact_state *c = &l->contacts[i];
	const char *jid = b->cfg->location.contacts.v[i];
	if (removed) {
		/* Gone from the roster: the friend goes from the map too. */
		publish_location(b, (size_t)i, "");
		if (b->cfg->location.format == MXB_LOCATION_OWNTRACKS)
			publish(b, jid, "/info", "");
		c->card_sent = false;
		c->name[0] = '\0';
		mxb_log_info("location: '%s' left the roster; its location is cleared", jid);
		return;
	}
	char fresh[NAME_MAX_BYTES + 1] = "";
	size_t len = name ? strlen(name) : 0;
	if (len > NAME_MAX_BYTES || (name && !mxb_text_xml_valid(name, len))) {
		b->n.location_names_refused++;
		mxb_log_warn("location: the roster name of '%s' is longer than %d bytes or not "
			     "text; its card shows the JID's local part",
			jid, NAME_MAX_BYTES);
	} else if (name) {
		memcpy(fresh, name, len + 1);
	}
	if (strcmp(fresh, c->name) == 0)
		return;
	memcpy(c->name, fresh, sizeof(fresh));
	/* A new name shows on a card already out at once; else with the first location. */
	if (c->card_sent && b->cfg->location.format == MXB_LOCATION_OWNTRACKS)
		publish_card(b, (size_t)i);
}
