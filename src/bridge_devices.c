/* Devices as XMPP entities (component mode). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backoff.h"
#include "bridge.h"
#include "bridge_device.h"
#include "command.h"
#include "config.h"
#include "device_rules.h"
#include "devices.h"
#include "discovery.h"
#include "jid.h"
#include "log.h"
#include "mqtt.h"
#include "outbox.h"
#include "reload.h"
#include "route.h"
#include "strbuf.h"
#include "template.h"
#include "text.h"
#include "topic.h"
#include "xmpp.h"

#define STATUS_MAX 512

void mxb_bridge_device_command_free(struct mxb_device_command *c)
{
	free(c->local);
	free(c->reply_to);
	free(c->topic);
	free(c->payload);
}

int mxb_bridge_devices_init(struct mxb_bridge *b)
{
	const struct mxb_config *cfg = b->cfg;
	if (cfg->devices_len == 0)
		return 0;
	b->devices = mxb_devices_create(cfg->max_devices);
	b->commands_cap = 64;
	b->commands = calloc(b->commands_cap, sizeof(*b->commands));
	if (!b->devices || !b->commands)
		return -ENOMEM;
	return 0;
}

void mxb_bridge_devices_finish(struct mxb_bridge *b)
{
	mxb_bridge_discovery_finish(b);
	mxb_devices_destroy(b->devices);
	for (size_t i = 0; i < b->commands_len; i++)
		mxb_bridge_device_command_free(&b->commands[i]);
	free(b->commands);
}

void mxb_bridge_attach_component(struct mxb_bridge *b, struct mxb_component *c)
{
	b->component = c;
}

static void ask_again(struct mxb_device *dev, void *data);

/*
 * Subscribes to every availability, state and report filter, with the rules' QoS, after
 * each connect. The retained availability messages that follow make the devices asked
 * for their state; devices known without one are asked at once.
 */
void mxb_bridge_devices_subscribe(struct mxb_bridge *b)
{
	const struct mxb_config *cfg = b->cfg;
	for (size_t i = 0; i < cfg->devices_len; i++) {
		const struct mxb_device_rule *r = &cfg->devices[i];
		if (r->availability)
			mxb_mqtt_subscribe(b->mqtt, r->availability, r->qos);
		if (r->state)
			mxb_mqtt_subscribe(b->mqtt, r->state, r->qos);
		for (size_t k = 0; k < r->reports_len; k++)
			mxb_mqtt_subscribe(b->mqtt, r->reports[k], r->qos);
	}
	if (b->devices) {
		mxb_devices_next_epoch(b->devices);
		mxb_devices_each(b->devices, ask_again, b);
	}
}

/* Sends dev's presence to `to` (bare JID). */
static void presence_to(struct mxb_bridge *b, const struct mxb_device *dev, const char *to)
{
	if (dev->avail == MXB_AVAIL_ONLINE)
		mxb_component_send_presence(
			b->component, dev->local, to, NULL, dev->show, dev->status);
	else
		mxb_component_send_presence(
			b->component, dev->local, to, "unavailable", NULL, dev->status);
}

/* Of a share group's instances, the one that leads tells everyone (xmpp.h). */
static bool broadcasts(const struct mxb_bridge *b)
{
	return b->component && mxb_component_is_up(b->component) &&
	       (!b->xmpp || mxb_xmpp_leads(b->xmpp));
}

void mxb_bridge_device_broadcast(struct mxb_bridge *b, const struct mxb_device *dev)
{
	if (!broadcasts(b))
		return;
	for (size_t i = 0; i < dev->subscribers.len; i++)
		presence_to(b, dev, dev->subscribers.v[i]);
	if (!dev->rule)
		return;
	for (size_t i = 0; i < dev->rule->allow.len; i++) {
		const char *who = dev->rule->allow.v[i];
		bool listed = strncmp(who, "*@", 2) == 0;
		for (size_t j = 0; j < dev->subscribers.len && !listed; j++)
			listed = mxb_jid_bare_equal(dev->subscribers.v[j], who);
		if (!listed)
			presence_to(b, dev, who);
	}
}

/* Made on the heap: the text echoes what the sender and the device sent. */
void mxb_bridge_device_reply(
	struct mxb_bridge *b, const char *local, const char *to, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap), r;
	va_end(ap);
	char *clean = n < 0 ? NULL : malloc(3 * (size_t)n + 1);
	const char *who = local ? local : b->cfg->xmpp.component.domain;
	if (!clean || mxb_text_sanitize(text, (size_t)n, clean, 3 * (size_t)n + 1, NULL) < 0)
		mxb_log_error("devices: out of memory; no reply from '%s' to '%s'", who, to);
	else if ((r = mxb_component_send_message(b->component, local, to, clean)) < 0)
		mxb_log_warn("devices: cannot send the reply from '%s' to '%s' (%s): '%s'", who, to,
			strerror(-r), clean);
	free(clean);
	if (n >= 0)
		free(text);
}

char *mxb_bridge_quoted(const char *s)
{
	struct mxb_strbuf q;
	mxb_strbuf_init(&q, MXB_COMMAND_ECHO_MAX + 3);
	mxb_strbuf_quote(&q, s, MXB_COMMAND_ECHO_MAX);
	char *r = mxb_strbuf_take(&q);
	mxb_strbuf_finish(&q);
	return r;
}

/* Answers the commands that waited for dev's new state. */
static void state_arrived(struct mxb_bridge *b, const struct mxb_device *dev)
{
	for (size_t i = 0; i < b->commands_len;) {
		struct mxb_device_command *c = &b->commands[i];
		if (strcmp(c->local, dev->local) != 0 || dev->state_seq <= c->seq) {
			i++;
			continue;
		}
		mxb_bridge_device_reply(b, c->local, c->reply_to, "%s is %s", dev->name,
			dev->status && *dev->status ? dev->status : "updated");
		mxb_bridge_device_command_free(c);
		*c = b->commands[--b->commands_len];
	}
}

/*
 * A status or name for a device, XML-safe. A status longer than STATUS_MAX is cut on a
 * character boundary and ends with "…", so a contact sees that it was cut; *cut says so.
 */
static char *render(const struct mxb_template *t, const char *topic, const char *payload,
	size_t len, const char *name, size_t max_message, bool *cut)
{
	struct mxb_template_input in = {
		.topic = topic,
		.payload = payload,
		.payload_len = len,
		.name = name,
		.time = (int64_t)time(NULL),
	};
	char *raw = malloc(max_message + 1);
	if (!raw)
		return NULL;
	ssize_t n = mxb_template_render(t, &in, raw, max_message + 1, NULL);
	if (n < 0) {
		free(raw);
		return NULL;
	}
	size_t keep = (size_t)n;
	if (keep > STATUS_MAX) {
		keep = mxb_utf8_cut(raw, keep, STATUS_MAX - 3);
		memcpy(raw + keep, "\xe2\x80\xa6", 3);
		keep += 3;
		if (cut)
			*cut = true;
	}
	char *clean = malloc(3 * keep + 1);
	if (clean && mxb_text_sanitize(raw, keep, clean, 3 * keep + 1, NULL) < 0) {
		free(clean);
		clean = NULL;
	}
	free(raw);
	return clean;
}

/*
 * Asks dev for its state when its rule can ask and it is seen online for the first time
 * in this MQTT connection, or came back (again: when it went offline in between): a
 * retained LWT tells it is there, not what it is.
 */
static void ask_state(struct mxb_bridge *b, struct mxb_device *dev, bool came_back)
{
	const struct mxb_device_rule *rule = dev->rule;
	uint64_t epoch = mxb_devices_epoch(b->devices);
	if (!rule->ask_state || !rule->ask_tmpl || (dev->asked == epoch && !came_back) ||
		!b->mqtt || !mxb_mqtt_is_up(b->mqtt))
		return;
	dev->asked = epoch;
	/* On the heap: a topic may be 64 KiB. */
	char *topic = malloc(MXB_TOPIC_MAX + 1);
	struct mxb_template_input in = {.name = dev->name, .time = (int64_t)time(NULL)};
	ssize_t tl =
		topic ? mxb_template_render(rule->ask_tmpl, &in, topic, MXB_TOPIC_MAX + 1, NULL)
		      : -ENOMEM;
	if (tl <= 0 || !mxb_topic_name_valid(topic, (size_t)tl)) {
		mxb_log_warn("devices: cannot make the topic to ask '%s' for its state", dev->name);
		free(topic);
		return;
	}
	int mid, r = mxb_mqtt_publish(b->mqtt, topic, rule->ask_payload, strlen(rule->ask_payload),
			 0, false, &mid);
	if (r < 0)
		mxb_log_warn("devices: cannot ask '%s' for its state on '%s': %s", dev->name, topic,
			strerror(-r));
	else
		mxb_log_info("devices: asked '%s' for its state on '%s'", dev->name, topic);
	free(topic);
}

/* An availability message: false when it says neither online nor offline. */
static bool take_availability(struct mxb_bridge *b, struct mxb_device *dev,
	const struct mxb_device_rule *rule, const struct mxb_mqtt_message *msg)
{
	enum mxb_availability a = mxb_device_availability(rule, msg->payload, msg->len);
	if (a == MXB_AVAIL_UNKNOWN) {
		mxb_log_debug("devices: '%.*s' on '%s' is neither '%s' nor '%s'",
			(int)mxb_utf8_cut(msg->payload, msg->len, 64), msg->payload, msg->topic,
			rule->online, rule->offline);
		return false;
	}
	if (a != dev->avail)
		mxb_log_info("devices: '%s' is %s", dev->name,
			a == MXB_AVAIL_ONLINE ? "online" : "offline");
	bool came_back = dev->avail == MXB_AVAIL_OFFLINE;
	dev->avail = a;
	if (a == MXB_AVAIL_ONLINE)
		ask_state(b, dev, came_back);
	return true;
}

void mxb_bridge_device_new_state(struct mxb_bridge *b, struct mxb_device *dev, const char *status,
	const char *show, bool power)
{
	if (status)
		mxb_device_set_status(dev, status);
	dev->show = show;
	dev->state_seq++;
	dev->power_known |= power;
	/* A device that reports its state is there, whatever its LWT said before. */
	if (dev->avail == MXB_AVAIL_UNKNOWN && !dev->rule->availability)
		dev->avail = MXB_AVAIL_ONLINE;
	state_arrived(b, dev);
}

static void take_state(struct mxb_bridge *b, struct mxb_device *dev,
	const struct mxb_device_rule *rule, const struct mxb_mqtt_message *msg)
{
	size_t max_message = b->cfg->bridge.max_message;
	bool cut = false;
	char *status = render(rule->status_tmpl, msg->topic, msg->payload, msg->len, dev->name,
		max_message, &cut);
	char *show = render(
		rule->show_tmpl, msg->topic, msg->payload, msg->len, dev->name, max_message, NULL);
	if (!status) {
		b->n.message_too_long++;
		mxb_log_warn("devices: the status of '%s' from topic '%s' is longer "
			     "than max_message %zu; the last one stays",
			dev->name, msg->topic, max_message);
	} else if (cut) {
		b->n.status_cut++;
		mxb_log_info("devices: the status of '%s' is longer than %d bytes; "
			     "it is shown cut, ending with '…'",
			dev->name, STATUS_MAX);
	}
	mxb_bridge_device_new_state(
		b, dev, status, show ? mxb_device_show(rule, show) : NULL, true);
	free(status);
	free(show);
}

/* A report of the convention (Tasmota telemetry): false when it tells no state. */
static bool take_report(struct mxb_bridge *b, struct mxb_device *dev,
	const struct mxb_device_rule *rule, size_t k, const struct mxb_mqtt_message *msg)
{
	enum mxb_device_report kind = rule->report_kinds[k];
	/* A plug's switch is its state; its energy readings would hide it. */
	if (kind == MXB_REPORT_SENSOR && dev->power_known)
		return false;
	char value[STATUS_MAX + 1], clean[3 * STATUS_MAX + 1];
	size_t n = mxb_device_report_value(kind, msg->payload, msg->len, value, sizeof(value));
	if (n == 0) {
		mxb_log_debug(
			"devices: no state for '%s' in the report on '%s'", dev->name, msg->topic);
		return false;
	}
	if (mxb_text_sanitize(value, n, clean, sizeof(clean), NULL) < 0)
		return false;
	mxb_bridge_device_new_state(b, dev, clean,
		kind == MXB_REPORT_POWER ? mxb_device_show(rule, clean) : NULL,
		kind == MXB_REPORT_POWER);
	return true;
}

bool mxb_bridge_device_owns(
	const struct mxb_config *cfg, struct mxb_device *dev, const struct mxb_device_rule *rule)
{
	if (!dev->rule) {
		dev->rule = rule;
		return true;
	}
	if (dev->rule == rule)
		return true;
	if (dev->rule - cfg->devices < rule - cfg->devices)
		return false;
	mxb_log_info("devices: '%s' belongs to the rule of line %d, before the rule of line %d",
		dev->name, rule->line, dev->rule->line);
	dev->rule = rule;
	return true;
}

void mxb_bridge_devices_message(struct mxb_bridge *b, const struct mxb_mqtt_message *msg,
	const struct mxb_route_ref *refs, size_t n)
{
	if (!b->devices)
		return;
	const struct mxb_config *cfg = b->cfg;
	size_t max_message = cfg->bridge.max_message;
	if (n && msg->len > cfg->bridge.max_payload) {
		/* The same cap as for every other MQTT input: a state is no bigger than that. */
		b->n.payload_too_large++;
		mxb_log_warn("devices: payload too large on topic '%s' (%zu bytes, max_payload "
			     "%zu); not taken",
			msg->topic, msg->len, cfg->bridge.max_payload);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct mxb_device_rule *rule = &cfg->devices[refs[i].index];
		if (mxb_device_rule_excludes(rule, msg->topic))
			continue;
		if (refs[i].kind == MXB_ROUTE_REPORT &&
			rule->report_kinds[refs[i].report] == MXB_REPORT_DISCOVERY) {
			mxb_bridge_discovery_config(b, rule, msg);
			continue;
		}
		char *name = render(rule->name_tmpl, msg->topic, msg->payload, msg->len, NULL,
			max_message, NULL);
		bool full = false;
		struct mxb_device *dev = name ? mxb_devices_get(b->devices, name, &full) : NULL;
		if (!dev) {
			b->n.devices_refused++;
			mxb_log_warn("devices: cannot track '%s' from topic '%s': %s",
				name ? name : "", msg->topic,
				full ? "bridge.max_devices reached" : "not a valid JID local part");
			free(name);
			continue;
		}
		free(name);
		if (!mxb_bridge_device_owns(cfg, dev, rule)) {
			mxb_log_debug("devices: '%s' on '%s' is left to the rule of line %d",
				dev->name, msg->topic, dev->rule->line);
			continue;
		}
		b->n.device_updates++;
		bool changed = true;
		switch (refs[i].kind) {
		case MXB_ROUTE_AVAILABILITY:
			changed = take_availability(b, dev, rule, msg);
			break;
		case MXB_ROUTE_STATE:
			take_state(b, dev, rule, msg);
			break;
		case MXB_ROUTE_REPORT:
			changed = take_report(b, dev, rule, refs[i].report, msg);
			break;
		case MXB_ROUTE_NOTIFY:
			changed = false;
			break;
		}
		if (changed)
			mxb_bridge_device_broadcast(b, dev);
	}
}

/*
 * A new MQTT connection: a device without availability topics is asked at once; the
 * others when their availability comes again (retained on subscribe, or when the device
 * itself is back), so that a device still reconnecting is not asked in vain.
 */
static void ask_again(struct mxb_device *dev, void *data)
{
	struct mxb_bridge *b = data;
	if (dev->rule && dev->avail == MXB_AVAIL_ONLINE && !dev->rule->availability)
		ask_state(b, dev, false);
}

void mxb_bridge_devices_warn_overlaps(const struct mxb_config *cfg)
{
	for (size_t i = 0; i < cfg->devices_len; i++) {
		for (size_t j = i + 1; j < cfg->devices_len; j++) {
			const char *fa, *fb;
			if (!mxb_device_rules_overlap(&cfg->devices[i], &cfg->devices[j], &fa, &fb))
				continue;
			mxb_log_warn(
				"devices: the rules of lines %d and %d can both claim a device "
				"(filters '%s' and '%s'); the first owns it: put the narrower "
				"rule first or add 'exclude' to the other",
				cfg->devices[i].line, cfg->devices[j].line, fa, fb);
		}
	}
}

int64_t mxb_bridge_devices_tick(struct mxb_bridge *b, int64_t now)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < b->commands_len;) {
		struct mxb_device_command *c = &b->commands[i];
		if (c->deadline > now) {
			if (c->deadline < next)
				next = c->deadline;
			i++;
			continue;
		}
		mxb_bridge_device_reply(b, c->local, c->reply_to,
			"sent '%s' to '%s'; no new state within the timeout", c->payload, c->topic);
		mxb_bridge_device_command_free(c);
		*c = b->commands[--b->commands_len];
	}
	return next;
}

static void hello(struct mxb_device *dev, void *data);

static void goodbye(struct mxb_device *dev, void *data)
{
	struct mxb_bridge *b = data;
	enum mxb_availability was = dev->avail;
	dev->avail = MXB_AVAIL_OFFLINE;
	mxb_bridge_device_broadcast(b, dev);
	dev->avail = was;
}

void mxb_bridge_devices_goodbye(struct mxb_bridge *b)
{
	if (!b->devices || !b->component)
		return;
	if (b->xmpp && mxb_xmpp_peers_len(b->xmpp) > 0) {
		mxb_log_info("devices: the other instances of the share group keep the devices' "
			     "presence");
		return;
	}
	mxb_devices_each(b->devices, goodbye, b);
}

void mxb_bridge_devices_lead(struct mxb_bridge *b, bool leads)
{
	/* Taking over: what the one before told, told again from the same state. */
	if (leads && b->devices && broadcasts(b))
		mxb_devices_each(b->devices, hello, b);
}

static void hello(struct mxb_device *dev, void *data)
{
	mxb_bridge_device_broadcast(data, dev);
}

bool mxb_bridge_may_see(struct mxb_bridge *b, const struct mxb_device *dev, const char *bare)
{
	if (dev && dev->rule)
		return mxb_device_allowed(dev->rule, bare);
	for (size_t i = 0; i < b->cfg->devices_len; i++) {
		if (mxb_device_allowed(&b->cfg->devices[i], bare))
			return true;
	}
	return false;
}

static void on_component_online(void *data)
{
	struct mxb_bridge *b = data;
	/* The client decides who tells (and then mxb_bridge_devices_lead does); alone, this. */
	if (b->xmpp)
		mxb_xmpp_set_devices(b->xmpp, true);
	else if (b->devices)
		mxb_devices_each(b->devices, hello, b);
}

/* Remembers bare as a subscriber of local and sends it local's presence. */
static void tell(struct mxb_bridge *b, const char *local, struct mxb_device *dev, const char *bare)
{
	if (!dev) {
		/* Unknown (the registry is full, or the name cannot be a device): unavailable. */
		mxb_component_send_presence(b->component, local, bare, "unavailable", NULL, NULL);
		return;
	}
	mxb_device_add_subscriber(dev, bare);
	presence_to(b, dev, bare);
}

static void on_device_presence(const char *local, const char *from, const char *type, void *data)
{
	struct mxb_bridge *b = data;
	char bare[MXB_JID_MAX + 1];
	if (!type || !b->devices || mxb_jid_bare(from, bare, sizeof(bare)) < 0)
		return;
	struct mxb_device *dev = mxb_devices_find(b->devices, local);
	bool allowed = mxb_bridge_may_see(b, dev, bare);
	if (strcmp(type, "subscribe") == 0) {
		if (!allowed) {
			b->n.device_strangers++;
			mxb_log_warn(
				"devices: refused the subscription of '%s' to '%s'", bare, local);
			mxb_component_send_presence(
				b->component, local, bare, "unsubscribed", NULL, NULL);
			return;
		}
		/* A device nobody has heard of yet may still come: remember who waits for it. */
		if (!dev)
			dev = mxb_devices_get(b->devices, local, NULL);
		mxb_component_send_presence(b->component, local, bare, "subscribed", NULL, NULL);
		mxb_log_info("devices: '%s' subscribed to '%s'", bare, local);
		tell(b, local, dev, bare);
	} else if (strcmp(type, "unsubscribe") == 0) {
		mxb_component_send_presence(b->component, local, bare, "unsubscribed", NULL, NULL);
		if (dev)
			mxb_device_remove_subscriber(dev, bare);
	} else if (strcmp(type, "probe") == 0) {
		/* Never "unsubscribed" to a probe: that would cut the contact's roster item. */
		if (allowed)
			tell(b, local, dev, bare);
	}
}

static void on_component_offline(void *data)
{
	struct mxb_bridge *b = data;
	b->reconnects_component++;
	if (b->xmpp)
		mxb_xmpp_set_devices(b->xmpp, false);
}

const char *mxb_bridge_device_friendly(const struct mxb_device *dev, char *buf, size_t len)
{
	struct mxb_template_input in = {.name = dev->name};
	if (dev->disc && dev->disc->friendly) {
		snprintf(buf, len, "%s", dev->disc->friendly);
		return buf;
	}
	if (mxb_template_render(dev->rule->friendly_tmpl, &in, buf, len, NULL) < 0 ||
		!mxb_text_xml_valid(buf, strlen(buf)))
		snprintf(buf, len, "%s", dev->local);
	return buf;
}

static void on_device_describe(
	const char *local, const char *from, struct mxb_component_info *out, void *data)
{
	struct mxb_bridge *b = data;
	struct mxb_device *dev = b->devices ? mxb_devices_find(b->devices, local) : NULL;
	out->exists = dev && dev->rule;
	out->allowed = mxb_bridge_may_see(b, dev, from);
	if (!out->exists)
		return;
	static char friendly[MXB_BRIDGE_FRIENDLY_MAX];
	out->friendly = mxb_bridge_device_friendly(dev, friendly, sizeof(friendly));
	out->name = dev->name;
}

const struct mxb_component_handlers mxb_bridge_component_handlers = {
	.online = on_component_online,
	.offline = on_component_offline,
	.presence = on_device_presence,
	.message = mxb_bridge_device_message,
	.describe = on_device_describe,
	.items = mxb_bridge_directory_items,
	.domain_message = mxb_bridge_directory_message,
};

struct repoint {
	const struct mxb_config *cfg;
	const struct mxb_device_rule *old;
	size_t old_len;
	size_t lost;
};

static void repoint(struct mxb_device *dev, void *data)
{
	struct repoint *rp = data;
	if (!dev->rule)
		return;
	const struct mxb_device_rule *was = dev->rule;
	dev->rule = NULL;
	if (was < rp->old || was >= rp->old + rp->old_len)
		return;
	for (size_t i = 0; i < rp->cfg->devices_len; i++) {
		if (mxb_reload_same_device_rule(was, &rp->cfg->devices[i])) {
			dev->rule = &rp->cfg->devices[i];
			return;
		}
	}
	rp->lost++;
}

void mxb_bridge_devices_reconfigure(
	struct mxb_bridge *b, const struct mxb_device_rule *old, size_t old_len)
{
	const struct mxb_config *cfg = b->cfg;
	if (!b->devices) {
		if (cfg->devices_len && mxb_bridge_devices_init(b) < 0)
			mxb_log_error("reload: out of memory; devices are not tracked");
		return;
	}
	mxb_devices_set_max(b->devices, cfg->max_devices);
	/* Commands waiting for a device's state hold no rule: they keep waiting. */
	struct repoint rp = {cfg, old, old_len, 0};
	mxb_devices_each(b->devices, repoint, &rp);
	if (rp.lost)
		mxb_log_info("reload: %zu devices lost their rule; each takes a rule again with "
			     "its next message",
			rp.lost);
}
