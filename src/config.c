/*
 * Loading bridge.conf: config_read.c reads the file into a tree of settings, the section
 * modules (config_xmpp.c, config_mqtt.c, config_routes.c, config_devices.c) take it into
 * struct mxb_config, config_keys.c holds every key and its default.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_keys.h"
#include "config_schema.h"
#include "template.h"

static void bridge_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct mxb_config *cfg = data;
	if (strcmp(k->name, "spool") == 0) {
		mxb_conf_path(c, s, &cfg->bridge.spool);
	} else if (strcmp(k->name, "instance") == 0) {
		if (mxb_conf_string(c, s, MXB_CONF_INSTANCE_MAX, true, &cfg->bridge.instance) &&
			!mxb_conf_instance_valid(cfg->bridge.instance))
			mxb_conf_error_at(c, s,
				"invalid 'instance' '%s': letters, digits, '-', '_' and '.' only",
				cfg->bridge.instance);
	}
}

struct root_seen {
	struct mxb_config *cfg;
	bool xmpp;
};

static void root_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct root_seen *seen = data;
	struct mxb_config *cfg = seen->cfg;
	const char *name = k->name;
	if (strcmp(name, "bridge") == 0) {
		if (mxb_conf_group(c, s))
			mxb_conf_walk(c, s, "bridge", "'bridge'", cfg, bridge_key, cfg);
	} else if (strcmp(name, "xmpp") == 0) {
		seen->xmpp = true;
		if (mxb_conf_group(c, s))
			mxb_conf_parse_xmpp(c, s, cfg);
	} else if (strcmp(name, "mqtt") == 0) {
		if (mxb_conf_group(c, s))
			mxb_conf_parse_mqtt(c, s, cfg);
	} else if (strcmp(name, "notify") == 0) {
		cfg->notify = mxb_conf_groups(c, s, "notify", sizeof(*cfg->notify),
			&cfg->notify_len, mxb_conf_parse_notify, &c->notify_at);
	} else if (strcmp(name, "commands") == 0) {
		cfg->commands = mxb_conf_groups(c, s, "commands", sizeof(*cfg->commands),
			&cfg->commands_len, mxb_conf_parse_command, &c->commands_at);
	} else if (strcmp(name, "devices") == 0) {
		cfg->devices = mxb_conf_groups(c, s, "devices", sizeof(*cfg->devices),
			&cfg->devices_len, mxb_conf_parse_device, &c->devices_at);
	} else if (strcmp(name, "location") == 0) {
		c->location_at = s;
		if (mxb_conf_group(c, s))
			mxb_conf_parse_location(c, s, cfg);
	} else if (strcmp(name, "pubsub") == 0 || strcmp(name, "subscribe") == 0) {
		mxb_conf_parse_pubsub_list(c, s, cfg);
	}
}

static void parse_root(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *root, struct mxb_config *cfg)
{
	struct root_seen seen = {.cfg = cfg};
	mxb_conf_walk(c, root, "", NULL, cfg, root_key, &seen);
	if (!seen.xmpp)
		mxb_conf_error_at(c, root, "missing group 'xmpp'");
	/* 0 cannot be written: the port was not given */
	if (!cfg->mqtt.port)
		cfg->mqtt.port = cfg->mqtt.tls ? 8883 : 1883;
}

int mxb_config_load(struct mxb_config *cfg, const char *path, struct mxb_strlist *errors)
{
	memset(cfg, 0, sizeof(*cfg));
	struct mxb_conf_ctx c;
	struct mxb_conf_tree tree = {0};
	int ret = mxb_conf_ctx_init(&c, path, errors);
	if (ret == 0 && (!(cfg->path = strdup(path)) || mxb_config_defaults(NULL, cfg) < 0))
		c.oom = true;
	if (!c.oom && mxb_conf_read(&c, &tree) == 0) {
		parse_root(&c, &tree.root, cfg);
		mxb_conf_cross_check(&c, cfg);
		/* The host name is read only where it names the instance. */
		char host[MXB_CONF_HOST_MAX + 1];
		bool named = cfg->mqtt.share_group && !cfg->bridge.instance &&
			     gethostname(host, sizeof(host)) == 0 && memchr(host, 0, sizeof(host));
		mxb_conf_apply_share(&c, cfg, named ? host : NULL);
		mxb_conf_check_location(&c, cfg);
	}
	mxb_conf_tree_finish(&tree);
	mxb_conf_ctx_finish(&c);
	if (c.oom) {
		mxb_config_finish(cfg);
		return -ENOMEM;
	}
	if (c.error_count > 0) {
		mxb_config_finish(cfg);
		return -EINVAL;
	}
	return 0;
}

void mxb_config_finish(struct mxb_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);

	free(cfg->bridge.spool);
	free(cfg->bridge.instance);
	free(cfg->xmpp.jid);
	mxb_conf_wipe_free(cfg->xmpp.password);
	free(cfg->xmpp.host);
	free(cfg->xmpp.ca_file);
	free(cfg->xmpp.upload.service);
	free(cfg->xmpp.client_cert);
	free(cfg->xmpp.client_key);
	free(cfg->xmpp.status);
	for (size_t i = 0; cfg->xmpp.rooms && i < cfg->xmpp.rooms_len; i++) {
		free(cfg->xmpp.rooms[i].jid);
		free(cfg->xmpp.rooms[i].nick);
		mxb_conf_wipe_free(cfg->xmpp.rooms[i].password);
	}
	free(cfg->xmpp.rooms);
	free(cfg->xmpp.presence_topic);
	free(cfg->xmpp.presence_discovery);
	free(cfg->xmpp.component.domain);
	mxb_conf_wipe_free(cfg->xmpp.component.secret);
	free(cfg->xmpp.component.host);
	for (size_t i = 0; cfg->devices && i < cfg->devices_len; i++) {
		struct mxb_device_rule *d = &cfg->devices[i];
		char *strs[] = {d->availability, d->state, d->name, d->online, d->offline,
			d->status, d->show, d->command, d->command_payload, d->friendly, d->ask};
		for (size_t j = 0; j < sizeof(strs) / sizeof(strs[0]); j++)
			free(strs[j]);
		struct mxb_template *t[] = {d->name_tmpl, d->status_tmpl, d->show_tmpl,
			d->command_tmpl, d->command_payload_tmpl, d->friendly_tmpl, d->ask_tmpl};
		for (size_t j = 0; j < sizeof(t) / sizeof(t[0]); j++)
			mxb_template_destroy(t[j]);
		mxb_strlist_finish(&d->away);
		mxb_strlist_finish(&d->xa);
		mxb_strlist_finish(&d->dnd);
		mxb_strlist_finish(&d->allow);
		mxb_strlist_finish(&d->exclude);
	}
	free(cfg->devices);
	mxb_config_location_finish(cfg);

	free(cfg->mqtt.host);
	free(cfg->mqtt.client_id);
	free(cfg->mqtt.share_group);
	free(cfg->mqtt.username);
	mxb_conf_wipe_free(cfg->mqtt.password);
	free(cfg->mqtt.status_topic);
	free(cfg->mqtt.stats_topic);
	free(cfg->mqtt.ca_file);
	free(cfg->mqtt.cert_file);
	free(cfg->mqtt.key_file);

	for (size_t i = 0; cfg->notify && i < cfg->notify_len; i++) {
		struct mxb_notify_route *r = &cfg->notify[i];
		free(r->topic);
		mxb_strlist_finish(&r->to);
		free(r->message);
		free(r->fallback);
		if (r->tmpl)
			mxb_template_destroy(r->tmpl);
		free(r->content_type);
		free(r->file_name);
		if (r->file_tmpl)
			mxb_template_destroy(r->file_tmpl);
	}
	free(cfg->notify);
	for (size_t i = 0; cfg->commands && i < cfg->commands_len; i++) {
		struct mxb_command_route *r = &cfg->commands[i];
		mxb_strlist_finish(&r->from);
		mxb_strlist_finish(&r->rooms);
		mxb_strlist_finish(&r->allow);

		free(r->command);
		free(r->usage);
		free(r->description);
		free(r->topic);
		free(r->payload);
		mxb_template_destroy(r->topic_tmpl);
		mxb_template_destroy(r->payload_tmpl);
	}
	free(cfg->commands);
	mxb_conf_pubsub_finish(cfg);

	memset(cfg, 0, sizeof(*cfg));
}
