/* The xmpp group: the account, its rooms and the component. */

#include <string.h>

#include "config_schema.h"
#include "jid.h"
#include "text.h"
#include "topic.h"

static void room_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct mxb_room *r = data;
	if (strcmp(k->name, "jid") == 0) {
		if (mxb_conf_string(c, s, MXB_JID_MAX, true, &r->jid) && !mxb_jid_is_bare(r->jid))
			mxb_conf_error_at(c, s,
				"invalid room JID '%s' in 'jid' (expected room@service)", r->jid);
	} else if (strcmp(k->name, "nick") == 0) {
		if (mxb_conf_string(c, s, MXB_JID_PART_MAX, true, &r->nick) &&
			!mxb_text_xml_valid(r->nick, strlen(r->nick)))
			mxb_conf_error_at(
				c, s, "'nick' must be valid UTF-8 without control characters");
	} else if (strcmp(k->name, "password") == 0) {
		mxb_conf_string(c, s, MXB_CONF_PASSWORD_MAX, false, &r->password);
	}
}

static void parse_room(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *entry)
{
	struct mxb_room *r = entry;
	r->line = (int)g->line;
	mxb_conf_walk(c, g, "xmpp.rooms", "a room of 'xmpp.rooms'", r, room_key, r);
	if (!r->jid)
		mxb_conf_error_at(c, g, "missing 'jid' in a room of 'xmpp.rooms'");
}

struct component_seen {
	struct mxb_config *cfg;
	const struct mxb_conf_node *domain, *secret, *secret_file;
};

static void component_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct component_seen *seen = data;
	if (strcmp(k->name, "domain") == 0) {
		seen->domain = s;
		char **d = &seen->cfg->xmpp.component.domain;
		if (mxb_conf_string(c, s, MXB_JID_PART_MAX, true, d) &&
			(!mxb_jid_is_bare(*d) || strchr(*d, '@')))
			mxb_conf_error_at(c, s, "invalid component domain '%s' in 'domain'", *d);
	} else if (strcmp(k->name, "secret") == 0) {
		seen->secret = s;
	} else if (strcmp(k->name, "secret_file") == 0) {
		seen->secret_file = s;
	} else if (strcmp(k->name, "host") == 0) {
		mxb_conf_string(c, s, MXB_CONF_HOST_MAX, true, &seen->cfg->xmpp.component.host);
	}
}

static void parse_component(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *g, struct mxb_config *cfg)
{
	struct component_seen seen = {.cfg = cfg};
	mxb_conf_walk(c, g, "xmpp.component", "'xmpp.component'", cfg, component_key, &seen);
	char **secret = &cfg->xmpp.component.secret;
	if (!seen.domain)
		mxb_conf_error_at(c, g, "missing 'domain' in 'xmpp.component'");
	if (seen.secret && seen.secret_file)
		mxb_conf_error_at(
			c, seen.secret_file, "use either 'secret' or 'secret_file', not both");
	else if (seen.secret)
		mxb_conf_string(c, seen.secret, MXB_CONF_SECRET_MAX, true, secret);
	else if (seen.secret_file)
		mxb_conf_secret_file(c, seen.secret_file, secret);
	else
		mxb_conf_error_at(c, g, "missing 'secret' or 'secret_file' in 'xmpp.component'");
}

struct xmpp_seen {
	struct mxb_config *cfg;
	const struct mxb_conf_node *jid, *password, *password_file, *cert, *key, *component;
	const struct mxb_conf_node *presence_topic, *presence_discovery;
};

/* The keys that are text the bridge sends or topics it publishes to. */
static void xmpp_text_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, struct mxb_config *cfg)
{
	if (strcmp(k->name, "status") == 0) {
		/* it becomes the text of a presence stanza */
		char **status = &cfg->xmpp.status;
		if (mxb_conf_string(c, s, MXB_CONF_STATUS_MAX, false, status) &&
			!mxb_text_xml_valid(*status, strlen(*status)))
			mxb_conf_error_at(
				c, s, "'status' must be valid UTF-8 without control characters");
	} else if (strcmp(k->name, "presence_topic") == 0) {
		char **t = &cfg->xmpp.presence_topic;
		if (mxb_conf_string(c, s, MXB_TOPIC_MAX, true, t) &&
			!mxb_topic_name_valid(*t, strlen(*t)))
			mxb_conf_error_at(c, s, "invalid topic '%s' in 'presence_topic'", *t);
	} else if (strcmp(k->name, "host") == 0) {
		mxb_conf_string(c, s, MXB_CONF_HOST_MAX, true, &cfg->xmpp.host);
	}
}

static void xmpp_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct xmpp_seen *seen = data;
	struct mxb_config *cfg = seen->cfg;
	const char *name = k->name;
	if (strcmp(name, "jid") == 0) {
		seen->jid = s;
		if (mxb_conf_string(c, s, MXB_JID_MAX, true, &cfg->xmpp.jid) &&
			!mxb_jid_valid(cfg->xmpp.jid))
			mxb_conf_error_at(c, s, "invalid JID '%s' in 'jid'", cfg->xmpp.jid);
	} else if (strcmp(name, "password") == 0) {
		seen->password = s;
	} else if (strcmp(name, "password_file") == 0) {
		seen->password_file = s;
	} else if (strcmp(name, "ca_file") == 0) {
		mxb_conf_readable_path(c, s, &cfg->xmpp.ca_file);
	} else if (strcmp(name, "upload_service") == 0) {
		if (mxb_conf_string(c, s, MXB_JID_MAX, true, &cfg->xmpp.upload.service) &&
			!mxb_jid_valid(cfg->xmpp.upload.service))
			mxb_conf_error_at(c, s, "invalid JID '%s' in 'upload_service'",
				cfg->xmpp.upload.service);
	} else if (strcmp(name, "client_cert") == 0) {
		seen->cert = s;
		mxb_conf_readable_path(c, s, &cfg->xmpp.client_cert);
	} else if (strcmp(name, "client_key") == 0) {
		seen->key = s;
		mxb_conf_readable_path(c, s, &cfg->xmpp.client_key);
	} else if (strcmp(name, "rooms") == 0) {
		cfg->xmpp.rooms = mxb_conf_groups(c, s, "xmpp.rooms", sizeof(*cfg->xmpp.rooms),
			&cfg->xmpp.rooms_len, parse_room, &c->rooms_at);
	} else if (strcmp(name, "presence_discovery") == 0) {
		/* A topic prefix, as Home Assistant's discovery_prefix. */
		seen->presence_discovery = s;
		char **t = &cfg->xmpp.presence_discovery;
		if (mxb_conf_string(c, s, MXB_TOPIC_MAX / 2, true, t) &&
			!mxb_topic_name_valid(*t, strlen(*t)))
			mxb_conf_error_at(c, s, "invalid topic '%s' in 'presence_discovery'", *t);
	} else if (strcmp(name, "component") == 0) {
		seen->component = s;
		if (mxb_conf_group(c, s))
			parse_component(c, s, cfg);
	} else {
		if (strcmp(name, "presence_topic") == 0)
			seen->presence_topic = s;
		xmpp_text_key(c, s, k, cfg);
	}
}

void mxb_conf_parse_xmpp(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *g, struct mxb_config *cfg)
{
	struct xmpp_seen seen = {.cfg = cfg};
	mxb_conf_walk(c, g, "xmpp", "'xmpp'", cfg, xmpp_key, &seen);
	/* Without a jid the bridge runs the component alone. */
	if (!seen.jid && !seen.component)
		mxb_conf_error_at(c, g, "missing 'jid' in 'xmpp'");
	if (seen.cert && !seen.key)
		mxb_conf_error_at(c, seen.cert, "'client_cert' needs 'client_key'");
	if (seen.key && !seen.cert)
		mxb_conf_error_at(c, seen.key, "'client_key' needs 'client_cert'");
	if (seen.presence_discovery && !seen.presence_topic)
		mxb_conf_error_at(
			c, seen.presence_discovery, "'presence_discovery' needs 'presence_topic'");
	if (!mxb_conf_password(c, seen.password, seen.password_file, &cfg->xmpp.password) &&
		!(seen.cert && seen.key) && seen.jid)
		mxb_conf_error_at(c, g, "missing 'password' or 'password_file' in 'xmpp'");
}
