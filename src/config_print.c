/* --check-config: what was found, as the user wrote it; secrets only as "(set)". */

#include <stdio.h>

#include "config.h"
#include "config_keys.h"
#include "config_schema.h"

static void print_opt(FILE *out, const char *key, const char *value, const char *unset)
{
	if (value)
		fprintf(out, "%s: '%s'\n", key, value);
	else
		fprintf(out, "%s: %s\n", key, unset);
}

static void print_list(FILE *out, const struct mxb_strlist *list)
{
	for (size_t i = 0; i < list->len; i++)
		fprintf(out, "%s'%s'", i ? ", " : "", list->v[i]);
}

void mxb_config_print(const struct mxb_config *cfg, FILE *out)
{
	fprintf(out, "config: '%s'\n", cfg->path ? cfg->path : "");

	fprintf(out, "bridge.log_level: %s\n",
		mxb_config_name(&mxb_config_log_levels, (int)cfg->bridge.log_level));
	fprintf(out, "bridge.queue_size: %zu\n", cfg->bridge.queue_size);
	fprintf(out, "bridge.max_payload: %zu\n", cfg->bridge.max_payload);
	fprintf(out, "bridge.max_message: %zu\n", cfg->bridge.max_message);
	fprintf(out, "bridge.bad_text: %s\n",
		mxb_config_name(&mxb_config_bad_text, (int)cfg->bridge.bad_text));

	print_opt(out, "xmpp.jid", cfg->xmpp.jid, "(none)");
	fprintf(out, "xmpp.password: %s\n", cfg->xmpp.password ? "(set)" : "(none)");
	print_opt(out, "xmpp.host", cfg->xmpp.host, "(the JID's domain, SRV first)");
	if (cfg->xmpp.port)
		fprintf(out, "xmpp.port: %d\n", cfg->xmpp.port);
	else
		fprintf(out, "xmpp.port: (default: %d)\n",
			cfg->xmpp.tls == MXB_XMPP_TLS_DIRECT ? 5223 : 5222);
	fprintf(out, "xmpp.tls: %s\n", mxb_config_name(&mxb_config_xmpp_tls, (int)cfg->xmpp.tls));
	print_opt(out, "xmpp.ca_file", cfg->xmpp.ca_file, "(system store)");
	print_opt(out, "xmpp.client_cert", cfg->xmpp.client_cert, "(none)");
	print_opt(out, "xmpp.client_key", cfg->xmpp.client_key, "(none)");
	print_opt(out, "xmpp.status", cfg->xmpp.status, "(none)");
	fprintf(out, "xmpp.priority: %d\n", cfg->xmpp.priority);
	fprintf(out, "xmpp.reconnect_max: %d\n", cfg->xmpp.reconnect_max);
	fprintf(out, "xmpp.ping_interval: %d, ping_timeout: %d\n", cfg->xmpp.ping_interval,
		cfg->xmpp.ping_timeout);
	fprintf(out, "xmpp.connect_timeout: %d\n", cfg->xmpp.connect_timeout);
	fprintf(out, "xmpp.ack_every: %d, ack_delay: %d ms, batch_delay_us: %d\n",
		cfg->xmpp.ack_every, cfg->xmpp.ack_delay, cfg->xmpp.batch_delay_us);

	print_opt(out, "mqtt.host", cfg->mqtt.host, "(none)");
	fprintf(out, "mqtt.port: %d\n", cfg->mqtt.port);
	fprintf(out, "mqtt.version: %s\n", cfg->mqtt.version == 3 ? "3 (3.1.1)" : "5");
	print_opt(out, "mqtt.client_id", cfg->mqtt.client_id, "(none)");
	print_opt(out, "mqtt.share_group", cfg->mqtt.share_group, "(none)");
	print_opt(out, "mqtt.username", cfg->mqtt.username, "(none)");
	fprintf(out, "mqtt.password: %s\n", cfg->mqtt.password ? "(set)" : "(none)");
	fprintf(out, "mqtt.keepalive: %d\n", cfg->mqtt.keepalive);
	if (cfg->mqtt.status_topic && *cfg->mqtt.status_topic)
		fprintf(out, "mqtt.status_topic: '%s'\n", cfg->mqtt.status_topic);
	else
		fprintf(out, "mqtt.status_topic: (disabled)\n");
	fprintf(out, "mqtt.reconnect_max: %d\n", cfg->mqtt.reconnect_max);
	fprintf(out, "mqtt.session_expiry: %d\n", cfg->mqtt.session_expiry);
	print_opt(out, "mqtt.stats_topic", cfg->mqtt.stats_topic, "(none)");
	fprintf(out, "mqtt.stats_interval: %d\n", cfg->mqtt.stats_interval);
	fprintf(out, "mqtt.tls: %s\n", cfg->mqtt.tls ? "on" : "off");
	if (cfg->mqtt.tls) {
		print_opt(out, "mqtt.tls.ca_file", cfg->mqtt.ca_file, "(system store)");
		print_opt(out, "mqtt.tls.cert_file", cfg->mqtt.cert_file, "(none)");
		print_opt(out, "mqtt.tls.key_file", cfg->mqtt.key_file, "(none)");
	}

	print_opt(out, "bridge.instance", cfg->bridge.instance, "(none)");
	print_opt(out, "bridge.spool", cfg->bridge.spool, "(none: held messages live in memory)");
	fprintf(out, "xmpp.rooms: %zu\n", cfg->xmpp.rooms_len);
	for (size_t i = 0; i < cfg->xmpp.rooms_len; i++)
		fprintf(out, "  line %d: '%s' as '%s'%s\n", cfg->xmpp.rooms[i].line,
			cfg->xmpp.rooms[i].jid, cfg->xmpp.rooms[i].nick,
			cfg->xmpp.rooms[i].password ? " (password set)" : "");
	fprintf(out, "notify: %zu route%s\n", cfg->notify_len, cfg->notify_len == 1 ? "" : "s");
	for (size_t i = 0; i < cfg->notify_len; i++) {
		const struct mxb_notify_route *r = &cfg->notify[i];
		fprintf(out, "  line %d: '%s' (qos %d) -> ", r->line, r->topic ? r->topic : "",
			r->qos);
		print_list(out, &r->to);
		fprintf(out, " (%s)\n    message: '%s'\n",
			mxb_config_name(&mxb_config_message_types, (int)r->type),
			r->message ? r->message : "");
		if (r->retained || r->min_interval || r->only_changes || r->max_payload ||
			r->binary != MXB_BINARY_TEXT)
			fprintf(out,
				"    retained %s, min_interval %d, only_changes %s, binary %s, "
				"max_payload %zu\n",
				r->retained ? "true" : "false", r->min_interval,
				r->only_changes ? "true" : "false",
				mxb_config_name(&mxb_config_binary, (int)r->binary),
				r->max_payload ? r->max_payload : cfg->bridge.max_payload);
		if (r->binary == MXB_BINARY_UPLOAD)
			fprintf(out,
				"    upload: file_name '%s', content_type %s%s%s, caption %s\n",
				r->file_name ? r->file_name : "",
				r->content_type ? "'" : "(sniffed)",
				r->content_type ? r->content_type : "", r->content_type ? "'" : "",
				r->caption ? "the message" : "none");
	}
	for (size_t i = 0; i < cfg->notify_len; i++) {
		if (cfg->notify[i].binary != MXB_BINARY_UPLOAD)
			continue;
		print_opt(out, "xmpp.upload_service", cfg->xmpp.upload.service,
			"(discovered on the server)");
		fprintf(out,
			"xmpp.upload: %s URLs, concurrency %d, queue %d, timeout %d s, retries "
			"%d\n",
			cfg->xmpp.upload.allow_http ? "https and http" : "https",
			cfg->xmpp.upload.concurrency, cfg->xmpp.upload.queue,
			cfg->xmpp.upload.timeout, cfg->xmpp.upload.retries);
		break;
	}
	if (cfg->xmpp.presence_topic)
		fprintf(out, "xmpp.presence_topic: '%s' (%s)\n", cfg->xmpp.presence_topic,
			cfg->xmpp.presence_json ? "json" : "show");
	if (cfg->xmpp.presence_discovery)
		fprintf(out, "xmpp.presence_discovery: '%s' (Home Assistant)\n",
			cfg->xmpp.presence_discovery);
	if (cfg->xmpp.component.domain)
		fprintf(out, "xmpp.component: '%s' at %s:%d, secret (set)\n",
			cfg->xmpp.component.domain, cfg->xmpp.component.host,
			cfg->xmpp.component.port);
	fprintf(out, "devices: %zu rule%s (at most %zu devices)\n", cfg->devices_len,
		cfg->devices_len == 1 ? "" : "s", cfg->max_devices);
	for (size_t i = 0; i < cfg->devices_len; i++) {
		const struct mxb_device_rule *d = &cfg->devices[i];
		fprintf(out,
			"  line %d: %s, name '%s', availability '%s' (%s/%s), state '%s', "
			"command '%s', allow ",
			d->line, mxb_config_name(&mxb_config_conventions, (int)d->convention),
			d->name, d->availability ? d->availability : "", d->online, d->offline,
			d->state ? d->state : "", d->command ? d->command : "");
		print_list(out, &d->allow);
		for (size_t k = 0; k < d->reports_len; k++)
			fprintf(out, "%s'%s'", k ? ", " : ", also ", d->reports[k]);
		if (d->exclude.len) {
			fprintf(out, ", exclude ");
			print_list(out, &d->exclude);
		}
		if (d->ask_tmpl && d->ask_state)
			fprintf(out, ", asks '%s'", d->ask);
		fprintf(out, "\n");
	}
	fprintf(out, "commands: %zu route%s\n", cfg->commands_len,
		cfg->commands_len == 1 ? "" : "s");
	for (size_t i = 0; i < cfg->commands_len; i++) {
		const struct mxb_command_route *r = &cfg->commands[i];
		fprintf(out, "  line %d: from ", r->line);
		print_list(out, &r->from);
		if (r->rooms.len) {
			fprintf(out, "%srooms ", r->from.len ? ", " : "");
			print_list(out, &r->rooms);
		}

		if (r->has_role)
			fprintf(out, " (role %s or higher)",
				mxb_config_name(&mxb_config_roles, (int)r->role));
		if (r->has_affiliation)
			fprintf(out, " (affiliation %s or higher)",
				mxb_config_name(&mxb_config_affiliations, (int)r->affiliation));
		if (r->command)
			fprintf(out, " command '%s' -> topic '%s' payload '%s'", r->command,
				r->topic, r->payload);
		if (r->allow.len) {
			fprintf(out, " may publish to ");
			print_list(out, &r->allow);
		}
		fprintf(out, " (qos %d, retain %s)\n", r->qos, r->retain ? "true" : "false");
	}
	mxb_config_location_print(cfg, out);
	mxb_conf_pubsub_print(cfg, out);
}
