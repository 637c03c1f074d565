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
#include "command.h"
#include "config.h"
#include "devices.h"
#include "jid.h"
#include "log.h"
#include "outbox.h"
#include "reload.h"
#include "route.h"
#include "strbuf.h"
#include "template.h"
#include "text.h"
#include "topic.h"

#define STATUS_MAX 512

/* A command sent to a device, answered with its next state or a timeout note. */
struct mxb_device_command {
	char *local;
	char *reply_to;
	char *topic;
	char *payload;
	uint64_t seq;
	int64_t deadline;
};

static void command_free(struct mxb_device_command *c)
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
	mxb_devices_destroy(b->devices);
	for (size_t i = 0; i < b->commands_len; i++)
		command_free(&b->commands[i]);
	free(b->commands);
}

void mxb_bridge_attach_component(struct mxb_bridge *b, struct mxb_component *c)
{
	b->component = c;
}

/* Subscribes to every availability and state filter, with the rules' QoS. */
void mxb_bridge_devices_subscribe(struct mxb_bridge *b)
{
	const struct mxb_config *cfg = b->cfg;
	for (size_t i = 0; i < cfg->devices_len; i++) {
		const struct mxb_device_rule *r = &cfg->devices[i];
		if (r->availability)
			mxb_mqtt_subscribe(b->mqtt, r->availability, r->qos);
		if (r->state)
			mxb_mqtt_subscribe(b->mqtt, r->state, r->qos);
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

/* Sends dev's presence to its subscribers and to the people its rule names. */
static void broadcast(struct mxb_bridge *b, const struct mxb_device *dev)
{
	if (!b->component || !mxb_component_is_up(b->component))
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
		command_free(c);
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
		bool is_state = refs[i].kind == MXB_ROUTE_STATE;
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
		if (!dev->rule)
			dev->rule = rule;
		b->n.device_updates++;
		if (!is_state) {
			enum mxb_availability a =
				mxb_device_availability(rule, msg->payload, msg->len);
			if (a == MXB_AVAIL_UNKNOWN) {
				mxb_log_debug("devices: '%.*s' on '%s' is neither '%s' nor '%s'",
					(int)mxb_utf8_cut(msg->payload, msg->len, 64), msg->payload,
					msg->topic, rule->online, rule->offline);
				continue;
			}
			if (a != dev->avail)
				mxb_log_info("devices: '%s' is %s", dev->name,
					a == MXB_AVAIL_ONLINE ? "online" : "offline");
			dev->avail = a;
		} else {
			bool cut = false;
			char *status = render(rule->status_tmpl, msg->topic, msg->payload, msg->len,
				dev->name, max_message, &cut);
			char *show = render(rule->show_tmpl, msg->topic, msg->payload, msg->len,
				dev->name, max_message, NULL);
			if (!status) {
				b->n.message_too_long++;
				mxb_log_warn(
					"devices: the status of '%s' from topic '%s' is longer "
					"than max_message %zu; the last one stays",
					dev->name, msg->topic, max_message);
			} else if (cut) {
				b->n.status_cut++;
				mxb_log_info("devices: the status of '%s' is longer than %d bytes; "
					     "it is shown cut, ending with '…'",
					dev->name, STATUS_MAX);
			}
			if (status)
				mxb_device_set_status(dev, status);
			dev->show = show ? mxb_device_show(rule, show) : NULL;
			free(status);
			free(show);
			dev->state_seq++;
			/* A device that reports its state is there, whatever its LWT said before.
			 */
			if (dev->avail == MXB_AVAIL_UNKNOWN && !rule->availability)
				dev->avail = MXB_AVAIL_ONLINE;
			state_arrived(b, dev);
		}
		broadcast(b, dev);
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
		command_free(c);
		*c = b->commands[--b->commands_len];
	}
	return next;
}

static void goodbye(struct mxb_device *dev, void *data)
{
	struct mxb_bridge *b = data;
	enum mxb_availability was = dev->avail;
	dev->avail = MXB_AVAIL_OFFLINE;
	broadcast(b, dev);
	dev->avail = was;
}

void mxb_bridge_devices_goodbye(struct mxb_bridge *b)
{
	if (b->devices && b->component)
		mxb_devices_each(b->devices, goodbye, b);
}

static void hello(struct mxb_device *dev, void *data)
{
	broadcast(data, dev);
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
	if (b->devices)
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

/* A device command in the outbox, until it is written to MQTT. */
struct device_wait {
	struct mxb_bridge *b;
	char *local;
	char *from; /* the sender's full JID, to answer */
	char *bare; /* for log lines */
	char *topic;
	char *payload;
};

static void wait_free(void *ctx)
{
	struct device_wait *w = ctx;
	free(w->local);
	free(w->from);
	free(w->bare);
	free(w->topic);
	free(w->payload);
	free(w);
}

/* The command is written: it waits for the device's next state, or the timeout. */
static void device_written(struct device_wait *w)
{
	struct mxb_bridge *b = w->b;
	b->n.device_commands++;
	mxb_log_info("devices: '%s' sent '%s' to '%s'", w->bare, w->payload, w->topic);
	struct mxb_device *dev = mxb_devices_find(b->devices, w->local);
	char *qcmd = mxb_bridge_quoted(w->payload), *qtopic = mxb_bridge_quoted(w->topic);
	if (!qcmd || !qtopic || !dev || !dev->rule || b->commands_len == b->commands_cap) {
		/* Nothing to wait with: answered now, as what was done. */
		if (!qcmd || !qtopic)
			mxb_log_error("devices: out of memory; the command from '%s' to '%s' is "
				      "sent but not followed",
				w->bare, w->local);
		mxb_bridge_device_reply(b, w->local, w->from, "sent '%s' to '%s'", qcmd ? qcmd : "",
			qtopic ? qtopic : "");
		free(qcmd);
		free(qtopic);
		return;
	}
	b->commands[b->commands_len++] = (struct mxb_device_command){
		.local = w->local,
		.reply_to = w->from,
		.topic = qtopic,
		.payload = qcmd,
		.seq = dev->state_seq,
		.deadline = mxb_now_ms() + (int64_t)dev->rule->timeout * 1000,
	};
	w->local = w->from = NULL;
}

static void device_event(enum mxb_outbox_event ev, int err, void *ctx)
{
	struct device_wait *w = ctx;
	struct mxb_bridge *b = w->b;
	char *qtopic = NULL;
	switch (ev) {
	case MXB_OUTBOX_QUEUED:
		qtopic = mxb_bridge_quoted(w->topic);
		mxb_bridge_device_reply(b, w->local, w->from, "queued for '%s': MQTT is down",
			qtopic ? qtopic : "");
		free(qtopic);
		break;
	case MXB_OUTBOX_WRITTEN:
		device_written(w);
		break;
	case MXB_OUTBOX_PUBLISHED:
	case MXB_OUTBOX_UNTRACKED:
		/* The device answers with its state. */
		break;
	case MXB_OUTBOX_FAILED:
		mxb_log_warn("devices: cannot publish the command from '%s' to '%s': %s", w->bare,
			w->local, strerror(-err));
		mxb_bridge_device_reply(b, w->local, w->from, "not sent: %s", strerror(-err));
		break;
	case MXB_OUTBOX_DROPPED:
	case MXB_OUTBOX_REPLACED:
		mxb_bridge_device_reply(b, w->local, w->from,
			"not sent: MQTT stayed down and %zu newer publishes wait",
			b->cfg->bridge.queue_size);
		break;
	}
}

static const struct mxb_outbox_client device_client = {device_event, wait_free};

/* A device's own answer to "help" or "status", never published. */
static void device_answer(
	struct mxb_bridge *b, const struct mxb_device *dev, const char *from, int req)
{
	const char *st = dev->status && *dev->status ? dev->status : NULL;
	if (req == MXB_DEVICE_STATUS) {
		if (dev->avail == MXB_AVAIL_ONLINE)
			mxb_bridge_device_reply(b, dev->local, from, "%s is online; %s%s",
				dev->name, st ? "state: " : "no state yet", st ? st : "");
		else if (dev->avail == MXB_AVAIL_OFFLINE)
			mxb_bridge_device_reply(b, dev->local, from, "%s is offline%s%s", dev->name,
				st ? "; last state: " : "", st ? st : "");
		else
			mxb_bridge_device_reply(b, dev->local, from,
				"%s: availability not known yet; %s%s", dev->name,
				st ? "state: " : "no state yet", st ? st : "");
		return;
	}
	char topic[MXB_TOPIC_MAX + 1];
	struct mxb_template_input in = {.name = dev->name, .body = "ON"};
	if (!dev->rule->command_tmpl ||
		mxb_template_render(dev->rule->command_tmpl, &in, topic, sizeof(topic), NULL) <= 0)
		mxb_bridge_device_reply(b, dev->local, from,
			"%s takes no commands; 'status' tells its state, 'help' this", dev->name);
	else
		mxb_bridge_device_reply(b, dev->local, from,
			"%s takes on, off, toggle or any other payload, published to '%s'; "
			"'status' tells its state, 'help' this",
			dev->name, topic);
}

static void on_device_message(
	const char *local, const char *from, const char *id, const char *body, void *data)
{
	struct mxb_bridge *b = data;
	char bare[MXB_JID_MAX + 1];
	if (!b->devices || mxb_jid_bare(from, bare, sizeof(bare)) < 0)
		return;
	struct mxb_device *dev = mxb_devices_find(b->devices, local);
	if (!mxb_bridge_may_see(b, dev, bare)) {
		b->n.device_strangers++;
		mxb_log_warn(
			"devices: refused a command from '%s' to '%s': not allowed", bare, local);
		mxb_component_send_forbidden(b->component, local, from, id,
			"You are not allowed to command this device.");
		return;
	}
	if (!dev || !dev->rule) {
		mxb_bridge_device_reply(
			b, local, from, "'%s' has not been seen on MQTT yet", local);
		return;
	}
	enum mxb_device_request req = mxb_command_device_request(body);
	if (req != MXB_DEVICE_PAYLOAD) {
		device_answer(b, dev, from, req);
		return;
	}
	if (!dev->rule->command_tmpl) {
		mxb_bridge_device_reply(b, local, from, "'%s' takes no commands", dev->name);
		return;
	}
	size_t max = b->cfg->bridge.max_message;
	char *cmd = mxb_command_device_word(body);
	struct device_wait *w = calloc(1, sizeof(*w));
	if (w) {
		*w = (struct device_wait){b, strdup(local), strdup(from), strdup(bare),
			malloc(MXB_TOPIC_MAX + 1), malloc(max + 1)};
	}
	if (!cmd || !w || !w->local || !w->from || !w->bare || !w->topic || !w->payload) {
		mxb_log_error(
			"devices: out of memory; a command from '%s' to '%s' is lost", bare, local);
		mxb_bridge_device_reply(b, local, from, "not sent: out of memory");
		goto out_free;
	}
	if (!cmd[0]) {
		mxb_bridge_device_reply(b, local, from, "send on, off, toggle or a payload");
		goto out_free;
	}
	struct mxb_template_input in = {
		.name = dev->name, .body = cmd, .from = bare, .time = (int64_t)time(NULL)};
	ssize_t tl = mxb_template_render(
		dev->rule->command_tmpl, &in, w->topic, MXB_TOPIC_MAX + 1, NULL);
	ssize_t pl = mxb_template_render(
		dev->rule->command_payload_tmpl, &in, w->payload, max + 1, NULL);
	if (pl < 0) {
		b->n.commands_malformed++;
		mxb_log_info("devices: a command from '%s' to '%s' makes a payload longer than "
			     "max_message %zu; not sent",
			bare, local, max);
		mxb_bridge_device_reply(b, local, from,
			"refused: the command is longer than %zu bytes (bridge.max_message)", max);
		goto out_free;
	}
	if (tl <= 0 || !mxb_topic_name_valid(w->topic, (size_t)tl)) {
		b->n.commands_malformed++;
		mxb_bridge_device_reply(
			b, local, from, "cannot make a command topic for '%s'", dev->name);
		goto out_free;
	}
	struct mxb_outbox_publish p = {
		w->topic, w->payload, (size_t)pl, dev->rule->qos, false, false};
	/* From here on w is the outbox's: every outcome comes back through device_event. */
	mxb_outbox_publish(b->outbox, &p, &device_client, w);
	w = NULL;
out_free:
	if (w)
		wait_free(w);
	free(cmd);
}

static void on_component_offline(void *data)
{
	struct mxb_bridge *b = data;
	b->reconnects_component++;
}

const char *mxb_bridge_device_friendly(const struct mxb_device *dev, char *buf, size_t len)
{
	struct mxb_template_input in = {.name = dev->name};
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
	.message = on_device_message,
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
