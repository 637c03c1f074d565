/* The devices rules: MQTT availability and state to one XMPP entity per device. */

#include <stdlib.h>
#include <string.h>

#include "config_schema.h"
#include "template.h"
#include "topic.h"

/* What a convention says; NULL where it says nothing and the table's default holds. */
struct convention {
	const char *availability, *state, *command, *command_payload, *status;
	const char *online, *offline, *away;
	/* more state topics, and the question that makes a device tell its state */
	const char *reports[MXB_DEVICE_REPORTS_MAX];
	enum mxb_device_report report_kinds[MXB_DEVICE_REPORTS_MAX];
	const char *ask, *ask_payload;
};

static const struct convention conventions[] = {
	[MXB_CONVENTION_NONE] = {0},
	[MXB_CONVENTION_TASMOTA] = {.availability = "tele/+/LWT",
		.state = "stat/+/POWER",
		.command = "cmnd/{{name}}/POWER",
		.online = "Online",
		.offline = "Offline",
		.away = "OFF",
		/* Tasmota retains none of these: the periodic telemetry and the answers count. */
		.reports = {"tele/+/STATE", "stat/+/RESULT", "tele/+/SENSOR"},
		.report_kinds = {MXB_REPORT_POWER, MXB_REPORT_POWER, MXB_REPORT_SENSOR},
		/* An empty STATE command: Tasmota answers with its whole state on stat/X/RESULT. */
		.ask = "cmnd/{{name}}/STATE",
		.ask_payload = ""},
	[MXB_CONVENTION_ZIGBEE2MQTT] = {.availability = "zigbee2mqtt/+/availability",
		.state = "zigbee2mqtt/+",
		.command = "zigbee2mqtt/{{name}}/set",
		.command_payload = "{\"state\": \"{{body}}\"}",
		.status = "{{json.state|}}",
		/* Zigbee2MQTT reads the attribute from the device and publishes its state. */
		.ask = "zigbee2mqtt/{{name}}/get",
		.ask_payload = "{\"state\": \"\"}"},
	/* Each device's topics come with its discovery config, at Home Assistant's prefix. */
	[MXB_CONVENTION_HOMEASSISTANT] = {.reports = {"homeassistant/+/+/config",
						  "homeassistant/+/+/+/config"},
		.report_kinds = {MXB_REPORT_DISCOVERY, MXB_REPORT_DISCOVERY}},
};

/* value, else the table's default of the devices key */
static const char *or_default(const char *value, const char *key)
{
	return value ? value : mxb_config_key_value("devices", key);
}

static void default_template(struct mxb_conf_ctx *c, char **src, struct mxb_template **tmpl,
	const char *value, const struct mxb_conf_node *g, const char *key)
{
	if (*src || !value)
		return;
	*src = strdup(value);
	if (!*src) {
		c->oom = true;
		return;
	}
	mxb_conf_compile(c, g, key, *src, tmpl);
}

static void default_str(struct mxb_conf_ctx *c, char **field, const char *value)
{
	if (!*field && value && !(*field = strdup(value)))
		c->oom = true;
}

/* Fills what the convention implies, then the defaults, where the rule said nothing. */
static void apply_convention(struct mxb_conf_ctx *c, struct mxb_device_rule *d,
	const struct mxb_conf_node *g, bool state_given)
{
	const struct convention *k = &conventions[d->convention];
	default_str(c, &d->availability, k->availability);
	default_str(c, &d->state, k->state);
	default_str(c, &d->online, or_default(k->online, "online"));
	default_str(c, &d->offline, or_default(k->offline, "offline"));
	default_template(c, &d->command, &d->command_tmpl, k->command, g, "command");
	default_template(c, &d->name, &d->name_tmpl, or_default(NULL, "name"), g, "name");
	default_template(
		c, &d->status, &d->status_tmpl, or_default(k->status, "status"), g, "status");
	default_template(c, &d->show, &d->show_tmpl, or_default(NULL, "show"), g, "show");
	default_template(c, &d->command_payload, &d->command_payload_tmpl,
		or_default(k->command_payload, "command_payload"), g, "command_payload");
	default_template(
		c, &d->friendly, &d->friendly_tmpl, or_default(NULL, "friendly"), g, "friendly");
	if (k->away && d->away.len == 0 && d->xa.len == 0 && d->dnd.len == 0 &&
		mxb_strlist_push(&d->away, k->away) < 0)
		c->oom = true;
	/* The convention's topics go with its own state topic; a rule that names one says. */
	if (!state_given) {
		for (size_t i = 0; i < MXB_DEVICE_REPORTS_MAX && k->reports[i]; i++) {
			d->reports[i] = k->reports[i];
			d->report_kinds[i] = k->report_kinds[i];
			d->reports_len = i + 1;
		}
	}
	if (k->ask && d->command_tmpl) {
		default_template(c, &d->ask, &d->ask_tmpl, k->ask, g, "command");
		d->ask_payload = k->ask_payload;
	}
}

struct device_seen {
	struct mxb_device_rule *d;
	const struct mxb_conf_node *allow;
	bool state; /* the rule names its own state topic */
};

/* The templates of a rule: which field each key fills. */
static bool device_template_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const char *name, struct mxb_device_rule *d)
{
	struct {
		const char *key;
		char **src;
		struct mxb_template **tmpl;
	} t[] = {
		{"name", &d->name, &d->name_tmpl},
		{"status", &d->status, &d->status_tmpl},
		{"show", &d->show, &d->show_tmpl},
		{"command", &d->command, &d->command_tmpl},
		{"command_payload", &d->command_payload, &d->command_payload_tmpl},
		{"friendly", &d->friendly, &d->friendly_tmpl},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(name, t[i].key) == 0) {
			mxb_conf_template(c, s, t[i].src, t[i].tmpl);
			return true;
		}
	}
	return false;
}

static void device_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct device_seen *seen = data;
	struct mxb_device_rule *d = seen->d;
	const char *name = k->name;
	if (strcmp(name, "exclude") == 0) {
		mxb_conf_strlist(c, s, MXB_CONF_TOPIC_FILTERS, &d->exclude);
	} else if (strcmp(name, "availability") == 0 || strcmp(name, "state") == 0) {
		char **f = name[0] == 'a' ? &d->availability : &d->state;
		seen->state |= name[0] == 's';
		if (mxb_conf_string(c, s, MXB_TOPIC_MAX, true, f) && !mxb_topic_filter_valid(*f))
			mxb_conf_error_at(c, s, "invalid topic filter '%s' in '%s'", *f, name);
	} else if (strcmp(name, "online") == 0) {
		mxb_conf_string(c, s, MXB_CONF_STATUS_MAX, true, &d->online);
	} else if (strcmp(name, "offline") == 0) {
		mxb_conf_string(c, s, MXB_CONF_STATUS_MAX, true, &d->offline);
	} else if (strcmp(name, "away") == 0) {
		mxb_conf_plain_strlist(c, s, &d->away);
	} else if (strcmp(name, "xa") == 0) {
		mxb_conf_plain_strlist(c, s, &d->xa);
	} else if (strcmp(name, "dnd") == 0) {
		mxb_conf_plain_strlist(c, s, &d->dnd);
	} else if (strcmp(name, "allow") == 0) {
		seen->allow = s;
		mxb_conf_strlist(c, s, MXB_CONF_SENDERS, &d->allow);
	} else {
		device_template_key(c, s, name, d);
	}
}

/* Whether g has a 'convention' that is none of the conventions (reported already). */
static bool wrong_convention(const struct mxb_conf_node *g)
{
	for (size_t i = 0; i < g->len; i++) {
		const struct mxb_conf_node *s = &g->children[i];
		if (!s->name || strcmp(s->name, "convention") != 0)
			continue;
		if (s->type != MXB_CONF_STRING)
			return true;
		for (size_t k = 0; k < mxb_config_conventions.len; k++) {
			if (strcmp(s->str, mxb_config_conventions.v[k]) == 0)
				return false;
		}
		return true;
	}
	return false;
}

void mxb_conf_parse_device(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *rule)
{
	struct mxb_device_rule *d = rule;
	d->line = (int)g->line;
	struct device_seen seen = {.d = d};
	mxb_conf_walk(c, g, "devices", "a 'devices' entry", d, device_key, &seen);
	if (!seen.allow)
		mxb_conf_error_at(c, g,
			"missing 'allow' in a 'devices' entry (who may see and command the "
			"devices)");
	apply_convention(c, d, g, seen.state);
	/* A wrong convention is reported as such; saying it is missing would mislead. */
	if (!d->availability && !d->state && d->reports_len == 0 && !wrong_convention(g))
		mxb_conf_error_at(
			c, g, "a 'devices' entry needs 'availability', 'state' or a 'convention'");
}
