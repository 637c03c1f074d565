/*
 * Chat with a device (component mode): a message from an allowed JID becomes a command
 * through the outbox, answered with the device's next state; "help" and "status" the
 * device answers itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "bridge.h"
#include "bridge_device.h"
#include "command.h"
#include "component.h"
#include "config.h"
#include "devices.h"
#include "discovery.h"
#include "jid.h"
#include "log.h"
#include "outbox.h"
#include "template.h"
#include "topic.h"

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
	/* A discovered device's topic is the config's, already bounded by the parser. */
	char *buf = NULL; /* on the heap: a topic may be 64 KiB */
	const char *topic = "";
	struct mxb_template_input in = {.name = dev->name, .body = "ON"};
	if (dev->disc && dev->disc->command_topic)
		topic = dev->disc->command_topic;
	else if (dev->rule->command_tmpl && (buf = malloc(MXB_TOPIC_MAX + 1)) &&
		 mxb_template_render(dev->rule->command_tmpl, &in, buf, MXB_TOPIC_MAX + 1, NULL) >
			 0)
		topic = buf;
	if (!topic[0])
		mxb_bridge_device_reply(b, dev->local, from,
			"%s takes no commands; 'status' tells its state, 'help' this", dev->name);
	else
		mxb_bridge_device_reply(b, dev->local, from,
			"%s takes on, off, toggle or any other payload, published to '%s'; "
			"'status' tells its state, 'help' this",
			dev->name, topic);
	free(buf);
}

void mxb_bridge_device_message(
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
		mxb_log_info("devices: '%s' wrote to '%s', not seen on MQTT yet", bare, local);
		mxb_bridge_device_reply(
			b, local, from, "'%s' has not been seen on MQTT yet", local);
		return;
	}
	enum mxb_device_request req = mxb_command_device_request(body);
	if (req != MXB_DEVICE_PAYLOAD) {
		mxb_log_info("devices: '%s' asked '%s' for %s", bare, local,
			req == MXB_DEVICE_HELP ? "help" : "its status");
		device_answer(b, dev, from, req);
		return;
	}
	const struct mxb_discovered *disc =
		dev->disc && dev->disc->command_topic ? dev->disc : NULL;
	if (!dev->rule->command_tmpl && !disc) {
		mxb_log_info("devices: refused a command from '%s' to '%s': it takes no commands",
			bare, local);
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
	ssize_t tl, pl;
	if (disc) {
		/* The topics and payloads its discovery config names. */
		tl = snprintf(w->topic, MXB_TOPIC_MAX + 1, "%s", disc->command_topic);
		size_t n = mxb_discovery_command(disc, cmd, w->payload, max + 1);
		pl = n ? (ssize_t)n : -E2BIG;
	} else {
		tl = mxb_template_render(
			dev->rule->command_tmpl, &in, w->topic, MXB_TOPIC_MAX + 1, NULL);
		pl = mxb_template_render(
			dev->rule->command_payload_tmpl, &in, w->payload, max + 1, NULL);
	}
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
		mxb_log_info("devices: a command from '%s' to '%s' makes no valid topic; not sent",
			bare, local);
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
