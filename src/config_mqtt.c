/* The mqtt group: the broker, the bridge's session on it, TLS. */

#include <limits.h>
#include <string.h>

#include "config_schema.h"
#include "text.h"
#include "topic.h"

struct tls_seen {
	struct mxb_config *cfg;
	const struct mxb_conf_node *cert, *key;
};

static void tls_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct tls_seen *seen = data;
	struct mxb_config *cfg = seen->cfg;
	if (strcmp(k->name, "ca_file") == 0) {
		mxb_conf_readable_path(c, s, &cfg->mqtt.ca_file);
	} else if (strcmp(k->name, "cert_file") == 0) {
		seen->cert = s;
		mxb_conf_readable_path(c, s, &cfg->mqtt.cert_file);
	} else if (strcmp(k->name, "key_file") == 0) {
		seen->key = s;
		mxb_conf_readable_path(c, s, &cfg->mqtt.key_file);
	}
}

static void parse_tls(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, struct mxb_config *cfg)
{
	struct tls_seen seen = {.cfg = cfg};
	mxb_conf_walk(c, g, "mqtt.tls", "'mqtt.tls'", cfg, tls_key, &seen);
	if (seen.cert && !seen.key)
		mxb_conf_error_at(c, seen.cert, "'cert_file' needs 'key_file'");
	if (seen.key && !seen.cert)
		mxb_conf_error_at(c, seen.key, "'key_file' needs 'cert_file'");
}

struct mqtt_seen {
	struct mxb_config *cfg;
	const struct mxb_conf_node *username, *password, *password_file;
};

/* A string the broker sees in CONNECT: UTF-8 as MQTT wants it. */
static void utf8_string(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **out)
{
	if (mxb_conf_string(c, s, MXB_CONF_MQTT_STRING_MAX, true, out) &&
		!mxb_text_utf8_valid(*out, strlen(*out)))
		mxb_conf_error_at(c, s, "'%s' must be valid UTF-8", s->name);
}

static void mqtt_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct mqtt_seen *seen = data;
	struct mxb_config *cfg = seen->cfg;
	const char *name = k->name;
	long long v;
	if (strcmp(name, "host") == 0) {
		mxb_conf_string(c, s, MXB_CONF_HOST_MAX, true, &cfg->mqtt.host);
	} else if (strcmp(name, "version") == 0) {
		if (!mxb_conf_int(c, s, INT_MIN, INT_MAX, &v))
			return;
		if (v == 3 || v == 5)
			cfg->mqtt.version = (int)v;
		else
			mxb_conf_error_at(
				c, s, "invalid value %lld for 'version' (expected 5 or 3)", v);
	} else if (strcmp(name, "client_id") == 0) {
		utf8_string(c, s, &cfg->mqtt.client_id);
	} else if (strcmp(name, "share_group") == 0) {
		char **g = &cfg->mqtt.share_group;
		c->share_at = s;
		if (mxb_conf_string(c, s, MXB_CONF_MQTT_STRING_MAX, true, g) &&
			(!mxb_text_utf8_valid(*g, strlen(*g)) || !mxb_conf_share_group_valid(*g)))
			mxb_conf_error_at(c, s,
				"invalid 'share_group' '%s': a non-empty name without '/', '+' or "
				"'#'",
				*g);
	} else if (strcmp(name, "username") == 0) {
		seen->username = s;
		utf8_string(c, s, &cfg->mqtt.username);
	} else if (strcmp(name, "password") == 0) {
		seen->password = s;
	} else if (strcmp(name, "password_file") == 0) {
		seen->password_file = s;
	} else if (strcmp(name, "status_topic") == 0) {
		char **t = &cfg->mqtt.status_topic;
		if (mxb_conf_string(c, s, MXB_TOPIC_MAX, false, t) && **t &&
			!mxb_topic_name_valid(*t, strlen(*t)))
			mxb_conf_error_at(c, s, "invalid topic '%s' in 'status_topic'", *t);
	} else if (strcmp(name, "stats_topic") == 0) {
		char **t = &cfg->mqtt.stats_topic;
		if (mxb_conf_string(c, s, MXB_TOPIC_MAX, true, t) &&
			!mxb_topic_name_valid(*t, strlen(*t)))
			mxb_conf_error_at(c, s, "invalid topic '%s' in 'stats_topic'", *t);
	} else if (strcmp(name, "tls") == 0) {
		if (mxb_conf_group(c, s)) {
			cfg->mqtt.tls = true;
			parse_tls(c, s, cfg);
		}
	}
}

void mxb_conf_parse_mqtt(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *g, struct mxb_config *cfg)
{
	struct mqtt_seen seen = {.cfg = cfg};
	mxb_conf_walk(c, g, "mqtt", "'mqtt'", cfg, mqtt_key, &seen);
	if (!seen.username && (seen.password || seen.password_file)) {
		const struct mxb_conf_node *s = seen.password ? seen.password : seen.password_file;
		mxb_conf_error_at(c, s, "'%s' needs 'username'", s->name);
	}
	mxb_conf_password(c, seen.password, seen.password_file, &cfg->mqtt.password);
}
