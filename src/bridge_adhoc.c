/*
 * What the bridge's own account answers as ad-hoc commands (XEP-0050), the menus XMPP
 * clients show: "status" (the figures of the stats topic), "devices" (each device and its
 * state) and one "switch-N" per device rule with commands, a form that publishes what a
 * chat message to the device would. Default deny: only JIDs that a commands route or a
 * device rule names see or run any of them; the switch of a rule only those it allows.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "adhoc_form.h"
#include "backoff.h"
#include "bridge.h"
#include "command.h"
#include "config.h"
#include "devices.h"
#include "jid.h"
#include "log.h"
#include "outbox.h"
#include "template.h"
#include "topic.h"

static bool names(const struct mxb_strlist *l, const char *bare)
{
	for (size_t i = 0; i < l->len; i++) {
		if (mxb_access_jid_matches(l->v[i], bare))
			return true;
	}
	return false;
}

/* Whether bare may use the bridge's commands at all. */
static bool allowed(const struct mxb_config *cfg, const char *bare)
{
	for (size_t i = 0; i < cfg->commands_len; i++) {
		if (names(&cfg->commands[i].from, bare))
			return true;
	}
	for (size_t i = 0; i < cfg->devices_len; i++) {
		if (mxb_device_allowed(&cfg->devices[i], bare))
			return true;
	}
	return false;
}

static bool devices_on(const struct mxb_bridge *b)
{
	return b->devices && b->component;
}

/* The rule of a switch node that bare may run, or NULL. */
static const struct mxb_device_rule *switch_rule(
	const struct mxb_bridge *b, const char *node, const char *bare)
{
	int n = mxb_adhoc_switch_index(node, b->cfg->devices_len);
	if (n < 1 || !devices_on(b))
		return NULL;
	const struct mxb_device_rule *r = &b->cfg->devices[n - 1];
	return r->command_tmpl && mxb_device_allowed(r, bare) ? r : NULL;
}

/* The sender's bare JID into bare; false (and a log line, a count) for a stranger. */
static bool check_sender(struct mxb_bridge *b, const char *from, char *bare, size_t len)
{
	if (mxb_jid_bare(from, bare, len) == 0 && allowed(b->cfg, bare))
		return true;
	b->n.commands_from_strangers++;
	mxb_log_warn("adhoc: refused the commands to '%s': not allowed", from);
	return false;
}

static int list(const char *from, struct mxb_adhoc_list *out, void *data)
{
	struct mxb_bridge *b = data;
	char bare[MXB_JID_MAX + 1];
	if (!check_sender(b, from, bare, sizeof(bare)))
		return -EPERM;
	mxb_adhoc_list_add(out, MXB_ADHOC_NODE_STATUS, "Bridge status");
	if (devices_on(b))
		mxb_adhoc_list_add(out, MXB_ADHOC_NODE_DEVICES, "Devices");
	const struct mxb_config *cfg = b->cfg;
	size_t switches = 0;
	for (size_t i = 0; i < cfg->devices_len; i++)
		switches += cfg->devices[i].command_tmpl != NULL;
	for (size_t i = 0; devices_on(b) && i < cfg->devices_len; i++) {
		char node[MXB_ADHOC_NODE_MAX + 1], name[128];
		snprintf(node, sizeof(node), "%s%zu", MXB_ADHOC_NODE_SWITCH, i + 1);
		if (!switch_rule(b, node, bare))
			continue;
		/* With several rules, the command topic tells them apart. */
		if (switches > 1)
			snprintf(name, sizeof(name), "Switch a device (%s)",
				cfg->devices[i].command);
		else
			snprintf(name, sizeof(name), "Switch a device");
		if (!mxb_adhoc_list_add(out, node, name))
			break;
	}
	return 0;
}

/* status: every figure of the stats topic, as a result form. */
static int status(struct mxb_bridge *b, struct mxb_adhoc_response *resp)
{
	cJSON *o = mxb_bridge_stats_object(b, mxb_now_ms());
	if (!o)
		return -ENOMEM;
	struct mxb_form *f = &resp->form;
	mxb_form_finish(f);
	mxb_form_init(f, MXB_FORM_RESULT, "Bridge status");
	for (cJSON *c = o->child; c; c = c->next) {
		char num[32];
		const char *v = cJSON_IsString(c) ? c->valuestring : num;
		snprintf(num, sizeof(num), "%.0f", cJSON_IsNumber(c) ? c->valuedouble : 0.0);
		mxb_form_add_field(f, MXB_FIELD_TEXT_SINGLE, c->string, c->string, v);
	}
	cJSON_Delete(o);
	return 0;
}

struct table {
	struct mxb_bridge *b;
	const char *bare;
	struct mxb_form *f;
	size_t left_out;
};

static const char *avail_name(enum mxb_availability a)
{
	return a == MXB_AVAIL_ONLINE ? "online" : a == MXB_AVAIL_OFFLINE ? "offline" : "unknown";
}

static void add_device_row(struct mxb_device *dev, void *data)
{
	struct table *t = data;
	if (!dev->rule || !mxb_bridge_may_see(t->b, dev, t->bare))
		return;
	char friendly[MXB_BRIDGE_FRIENDLY_MAX];
	const char *cells[] = {dev->name,
		mxb_bridge_device_friendly(dev, friendly, sizeof(friendly)), avail_name(dev->avail),
		dev->status ? dev->status : ""};
	if (mxb_form_add_row(t->f, cells) == -E2BIG)
		t->left_out++;
}

/* devices: a table of the devices bare may see. */
static int devices(struct mxb_bridge *b, const char *bare, struct mxb_adhoc_response *resp)
{
	struct mxb_form *f = &resp->form;
	if (!devices_on(b))
		return mxb_adhoc_response_note(
			resp, MXB_NOTE_WARN, "No devices: xmpp.component is off");
	mxb_form_finish(f);
	mxb_form_init(f, MXB_FORM_RESULT, "Devices");
	static const char *const vars[] = {"device", "name", "availability", "state"};
	static const char *const labels[] = {"Device", "Name", "Availability", "State"};
	if (mxb_form_set_columns(f, vars, labels, 4) < 0)
		return -ENOMEM;
	struct table t = {b, bare, f, 0};
	mxb_devices_each(b->devices, add_device_row, &t);
	char note[96];
	if (t.left_out) {
		snprintf(note, sizeof(note), "%zu more devices not shown", t.left_out);
		return mxb_adhoc_response_note(resp, MXB_NOTE_INFO, note);
	}
	if (!f->rows)
		return mxb_adhoc_response_note(resp, MXB_NOTE_INFO, "No device seen yet");
	return 0;
}

static const char *const actions[] = {"on", "off", "toggle"};

struct options {
	struct mxb_bridge *b;
	const struct mxb_device_rule *rule;
	const char *bare;
	struct mxb_form *f;
	struct mxb_form_field *field;
};

static void add_device_option(struct mxb_device *dev, void *data)
{
	struct options *o = data;
	if (dev->rule != o->rule || !mxb_bridge_may_see(o->b, dev, o->bare))
		return;
	char friendly[MXB_BRIDGE_FRIENDLY_MAX];
	mxb_form_add_option(o->f, o->field, dev->local,
		mxb_bridge_device_friendly(dev, friendly, sizeof(friendly)));
}

/* The form of a switch: which device, and what to do. */
static int switch_form(struct mxb_bridge *b, const struct mxb_device_rule *rule, const char *bare,
	struct mxb_adhoc_response *resp)
{
	struct mxb_form *f = &resp->form;
	mxb_form_finish(f);
	mxb_form_init(f, MXB_FORM_FORM, "Switch a device");
	struct mxb_form_field *dev =
		mxb_form_add_field(f, MXB_FIELD_LIST_SINGLE, "device", "Device", NULL);
	struct mxb_form_field *act =
		mxb_form_add_field(f, MXB_FIELD_LIST_SINGLE, "action", "Action", "toggle");
	if (!dev || !act)
		return -ENOMEM;
	dev->required = act->required = true;
	struct options o = {b, rule, bare, f, dev};
	mxb_devices_each(b->devices, add_device_option, &o);
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		mxb_form_add_option(f, act, actions[i], actions[i]);
	if (!dev->options_len)
		return mxb_adhoc_response_note(resp, MXB_NOTE_INFO, "No device seen yet");
	resp->status = MXB_ADHOC_EXECUTING;
	return 0;
}

/* A switch in the outbox, until MQTT told what became of it. */
struct switch_wait {
	struct mxb_bridge *b;
	struct mxb_xmpp *xmpp; /* that took the request: a reload may replace it */
	uint32_t token;
	bool answered;
	char *bare;
	char *topic;
	char *payload;
	char *qtopic, *qpayload; /* quoted for the answer */
};

static void switch_free(void *ctx)
{
	struct switch_wait *w = ctx;
	free(w->bare);
	free(w->topic);
	free(w->payload);
	free(w->qtopic);
	free(w->qpayload);
	free(w);
}

static void answer(struct switch_wait *w, enum mxb_adhoc_note type, const char *fmt, ...)
	MXB_PRINTF(3, 4);

static void answer(struct switch_wait *w, enum mxb_adhoc_note type, const char *fmt, ...)
{
	if (w->answered)
		return;
	w->answered = true;
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	struct mxb_adhoc_response r;
	mxb_adhoc_response_init(&r);
	if (n < 0 || mxb_adhoc_response_note(&r, type, text) < 0)
		mxb_log_error("adhoc: out of memory; no answer to '%s'", w->bare);
	else if (w->b->xmpp != w->xmpp || mxb_xmpp_adhoc_answer(w->xmpp, w->token, &r) < 0)
		mxb_log_info("adhoc: '%s' is gone; the answer '%s' is not sent", w->bare, text);
	mxb_adhoc_response_finish(&r);
	if (n >= 0)
		free(text);
}

static void switch_event(enum mxb_outbox_event ev, int err, void *ctx)
{
	struct switch_wait *w = ctx;
	struct mxb_bridge *b = w->b;
	switch (ev) {
	case MXB_OUTBOX_QUEUED:
		answer(w, MXB_NOTE_WARN, "Queued '%s' for '%s': MQTT is down", w->qpayload,
			w->qtopic);
		break;
	case MXB_OUTBOX_WRITTEN:
		b->n.device_commands++;
		mxb_log_info("adhoc: '%s' sent '%s' to '%s'", w->bare, w->payload, w->topic);
		break;
	case MXB_OUTBOX_PUBLISHED:
		answer(w, MXB_NOTE_INFO, "Published '%s' to '%s'", w->qpayload, w->qtopic);
		break;
	case MXB_OUTBOX_UNTRACKED:
		answer(w, MXB_NOTE_INFO, "Sent '%s' to '%s'", w->qpayload, w->qtopic);
		break;
	case MXB_OUTBOX_FAILED:
		mxb_log_warn("adhoc: cannot publish '%s' to '%s' for '%s': %s", w->payload,
			w->topic, w->bare, strerror(-err));
		answer(w, MXB_NOTE_ERROR, "Not published to '%s': %s", w->qtopic, strerror(-err));
		break;
	case MXB_OUTBOX_DROPPED:
	case MXB_OUTBOX_REPLACED:
		answer(w, MXB_NOTE_ERROR,
			"Not published to '%s': MQTT stayed down and %zu newer publishes wait",
			w->qtopic, b->cfg->bridge.queue_size);
		break;
	}
}

static const struct mxb_outbox_client switch_client = {switch_event, switch_free};

/* A submitted switch: checked against what the bridge knows now, then published. */
static int switch_submit(struct mxb_bridge *b, const struct mxb_device_rule *rule, const char *bare,
	const struct mxb_adhoc_request *req, uint32_t token, struct mxb_adhoc_response *resp)
{
	const char *local = mxb_adhoc_request_value(req, "device");
	const char *action = mxb_adhoc_request_value(req, "action");
	bool known_action = false;
	for (size_t i = 0; action && i < sizeof(actions) / sizeof(actions[0]); i++)
		known_action = known_action || strcmp(action, actions[i]) == 0;
	struct mxb_device *dev = local ? mxb_devices_find(b->devices, local) : NULL;
	if (!known_action || !dev || dev->rule != rule || !mxb_bridge_may_see(b, dev, bare)) {
		b->n.commands_malformed++;
		mxb_log_info("adhoc: '%s' submitted a switch of an unknown device or action", bare);
		return mxb_adhoc_response_note(
			resp, MXB_NOTE_ERROR, "Choose a device of the list and on, off or toggle");
	}
	size_t max = b->cfg->bridge.max_message;
	struct switch_wait *w = calloc(1, sizeof(*w));
	char *word = mxb_command_device_word(action);
	if (w) {
		*w = (struct switch_wait){b, b->xmpp, token, false, strdup(bare),
			malloc(MXB_TOPIC_MAX + 1), malloc(max + 1), NULL, NULL};
	}
	int rc = -ENOMEM;
	if (!w || !word || !w->bare || !w->topic || !w->payload)
		goto out_free;
	struct mxb_template_input in = {
		.name = dev->name, .body = word, .from = bare, .time = (int64_t)time(NULL)};
	ssize_t tl =
		mxb_template_render(rule->command_tmpl, &in, w->topic, MXB_TOPIC_MAX + 1, NULL);
	ssize_t pl =
		mxb_template_render(rule->command_payload_tmpl, &in, w->payload, max + 1, NULL);
	if (pl < 0 || tl <= 0 || !mxb_topic_name_valid(w->topic, (size_t)tl)) {
		b->n.commands_malformed++;
		rc = mxb_adhoc_response_note(resp, MXB_NOTE_ERROR,
			pl < 0 ? "The command is longer than bridge.max_message"
			       : "Cannot make a command topic for this device");
		goto out_free;
	}
	w->qtopic = mxb_bridge_quoted(w->topic);
	w->qpayload = mxb_bridge_quoted(w->payload);
	if (!w->qtopic || !w->qpayload)
		goto out_free;
	struct mxb_outbox_publish p = {w->topic, w->payload, (size_t)pl, rule->qos, false, false};
	/* From here on w is the outbox's: the answer comes through switch_event. */
	mxb_outbox_publish(b->outbox, &p, &switch_client, w);
	free(word);
	return 1;
out_free:
	if (w)
		switch_free(w);
	free(word);
	return rc;
}

static int execute(const struct mxb_adhoc_request *req, uint32_t token,
	struct mxb_adhoc_response *resp, void *data)
{
	struct mxb_bridge *b = data;
	char bare[MXB_JID_MAX + 1];
	if (!check_sender(b, req->from, bare, sizeof(bare)))
		return -EPERM;
	if (strcmp(req->node, MXB_ADHOC_NODE_STATUS) == 0)
		return status(b, resp);
	if (strcmp(req->node, MXB_ADHOC_NODE_DEVICES) == 0 && devices_on(b))
		return devices(b, bare, resp);
	const struct mxb_device_rule *rule = switch_rule(b, req->node, bare);
	if (!rule)
		return -ENOENT;
	if (!req->submitted || req->action == MXB_ADHOC_PREV)
		return switch_form(b, rule, bare, resp);
	return switch_submit(b, rule, bare, req, token, resp);
}

const struct mxb_adhoc_handlers mxb_bridge_adhoc_handlers = {
	.list = list,
	.execute = execute,
};
