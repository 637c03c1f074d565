/* The notify and commands routes, and the checks that span groups. */

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_schema.h"
#include "jid.h"
#include "template.h"
#include "text.h"
#include "topic.h"
#include "upload.h"

struct notify_seen {
	struct mxb_notify_route *r;
	const struct mxb_conf_node *topic, *to, *message, *file_name, *content_type;
};

static void notify_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct notify_seen *seen = data;
	struct mxb_notify_route *r = seen->r;
	if (strcmp(k->name, "topic") == 0) {
		seen->topic = s;
		if (mxb_conf_string(c, s, MXB_TOPIC_MAX, true, &r->topic) &&
			!mxb_topic_filter_valid(r->topic))
			mxb_conf_error_at(c, s, "invalid topic filter '%s' in 'topic'", r->topic);
	} else if (strcmp(k->name, "to") == 0) {
		seen->to = s;
		mxb_conf_strlist(c, s, MXB_CONF_BARE_JIDS, &r->to);
	} else if (strcmp(k->name, "message") == 0) {
		seen->message = s;
		mxb_conf_template(c, s, &r->message, &r->tmpl);
	} else if (strcmp(k->name, "file_name") == 0) {
		seen->file_name = s;
		mxb_conf_template(c, s, &r->file_name, &r->file_tmpl);
	} else if (strcmp(k->name, "content_type") == 0) {
		seen->content_type = s;
		if (mxb_conf_string(c, s, MXB_UPLOAD_TYPE_MAX, true, &r->content_type) &&
			!mxb_upload_content_type_valid(r->content_type))
			mxb_conf_error_at(c, s,
				"invalid content type '%s' in 'content_type' "
				"(expected type/subtype)",
				r->content_type);
	} else if (strcmp(k->name, "fallback") == 0) {
		if (mxb_conf_string(c, s, MXB_CONF_TEMPLATE_MAX, false, &r->fallback) &&
			!mxb_text_xml_valid(r->fallback, strlen(r->fallback)))
			mxb_conf_error_at(
				c, s, "'fallback' must be valid UTF-8 without control characters");
	}
}

void mxb_conf_parse_notify(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *route)
{
	struct mxb_notify_route *r = route;
	r->line = (int)g->line;
	struct notify_seen seen = {.r = r};
	mxb_conf_walk(c, g, "notify", "a 'notify' route", r, notify_key, &seen);
	/* r->message holds the default until a message is given */
	if (!seen.message)
		mxb_conf_compile(c, g, "message", r->message, &r->tmpl);
	r->caption = seen.message != NULL;
	if (!seen.file_name)
		mxb_conf_compile(c, g, "file_name", r->file_name, &r->file_tmpl);
	if (r->binary != MXB_BINARY_UPLOAD && (seen.file_name || seen.content_type))
		mxb_conf_error_at(c, seen.file_name ? seen.file_name : seen.content_type,
			"'%s' needs binary = \"upload\"",
			seen.file_name ? "file_name" : "content_type");
	if (!seen.topic)
		mxb_conf_error_at(c, g, "missing 'topic' in a 'notify' route");
	if (!seen.to)
		mxb_conf_error_at(c, g, "missing 'to' in a 'notify' route");
}

static bool command_word_valid(const char *w)
{
	if (!*w || strcasecmp(w, "help") == 0)
		return false;
	for (const char *p = w; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return false;
	}
	return true;
}

struct command_seen {
	struct mxb_command_route *r;
	const struct mxb_conf_node *from, *allow, *command, *topic, *payload;
	const struct mxb_conf_node *words; /* usage or description */
};

/* role and affiliation: the least an occupant needs; the lowest value is no least. */
static void room_rights_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, struct mxb_command_route *r)
{
	int v = -1;
	if (strcmp(k->name, "role") == 0) {
		const char *expected = "visitor, participant or moderator";
		if (mxb_conf_enum(c, s, &mxb_config_roles, expected, &v) && v != MXB_ROLE_NONE) {
			r->has_role = true;
			r->role = (enum mxb_muc_role)v;
		} else if (v == MXB_ROLE_NONE) {
			mxb_conf_error_at(
				c, s, "invalid value 'none' for 'role' (expected %s)", expected);
		}
	} else if (strcmp(k->name, "affiliation") == 0) {
		const char *expected = "none, member, admin or owner";
		if (mxb_conf_enum(c, s, &mxb_config_affiliations, expected, &v) &&
			v != MXB_AFFILIATION_OUTCAST) {
			r->has_affiliation = true;
			r->affiliation = (enum mxb_muc_affiliation)v;
		} else if (v == MXB_AFFILIATION_OUTCAST) {
			mxb_conf_error_at(c, s,
				"invalid value 'outcast' for 'affiliation' (expected %s)",
				expected);
		}
	}
}

static void command_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct command_seen *seen = data;
	struct mxb_command_route *r = seen->r;
	const char *name = k->name;
	if (strcmp(name, "from") == 0) {
		seen->from = s;
		mxb_conf_strlist(c, s, MXB_CONF_SENDERS, &r->from);
	} else if (strcmp(name, "allow") == 0) {
		seen->allow = s;
		mxb_conf_strlist(c, s, MXB_CONF_TOPIC_FILTERS, &r->allow);
	} else if (strcmp(name, "command") == 0) {
		seen->command = s;
		if (mxb_conf_string(c, s, MXB_CONF_COMMAND_MAX, true, &r->command) &&
			!command_word_valid(r->command))
			mxb_conf_error_at(c, s,
				"invalid command '%s' (letters, digits, '-' and '_'; not 'help')",
				r->command);
	} else if (strcmp(name, "usage") == 0 || strcmp(name, "description") == 0) {
		seen->words = s;
		char **f = name[0] == 'u' ? &r->usage : &r->description;
		mxb_conf_string(c, s, MXB_CONF_STATUS_MAX, true, f);
	} else if (strcmp(name, "topic") == 0) {
		seen->topic = s;
		mxb_conf_template(c, s, &r->topic, &r->topic_tmpl);
	} else if (strcmp(name, "payload") == 0) {
		seen->payload = s;
		mxb_conf_template(c, s, &r->payload, &r->payload_tmpl);
	} else {
		room_rights_key(c, s, k, r);
	}
}

void mxb_conf_parse_command(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *route)
{
	struct mxb_command_route *r = route;
	r->line = (int)g->line;
	struct command_seen seen = {.r = r};
	mxb_conf_walk(c, g, "commands", "a 'commands' route", r, command_key, &seen);
	if (!seen.from)
		mxb_conf_error_at(c, g, "missing 'from' in a 'commands' route");
	if (seen.command) {
		if (!seen.topic)
			mxb_conf_error_at(c, g,
				"missing 'topic' in the 'commands' route of command '%s'",
				r->command ? r->command : "");
		if (!seen.payload && !c->oom) {
			r->payload = strdup(mxb_config_key_value("commands", "payload"));
			if (!r->payload)
				c->oom = true;
			else
				mxb_conf_compile(c, g, "payload", r->payload, &r->payload_tmpl);
		}
	} else {
		if (!seen.allow)
			mxb_conf_error_at(c, g, "missing 'allow' in a 'commands' route");
		if (seen.topic)
			mxb_conf_error_at(c, seen.topic,
				"'topic' needs 'command' (a TOPIC PAYLOAD route uses 'allow')");
		if (seen.payload)
			mxb_conf_error_at(c, seen.payload, "'payload' needs 'command'");
		if (seen.words)
			mxb_conf_error_at(c, seen.words, "'%s' needs 'command'", seen.words->name);
	}
}

static const struct mxb_room *find_room(const struct mxb_config *cfg, const char *jid)
{
	for (size_t i = 0; i < cfg->xmpp.rooms_len; i++) {
		if (cfg->xmpp.rooms[i].jid && mxb_jid_bare_equal(cfg->xmpp.rooms[i].jid, jid))
			return &cfg->xmpp.rooms[i];
	}
	return NULL;
}

/* Only a component-only config lacks a jid on purpose; otherwise that was reported. */
static void check_account(struct mxb_conf_ctx *c, const struct mxb_config *cfg)
{
	if (!cfg->xmpp.jid && cfg->xmpp.component.domain) {
		if (cfg->notify_len)
			mxb_conf_error_at(
				c, c->notify_at[0], "'notify' needs an XMPP account: set xmpp.jid");
		if (cfg->commands_len)
			mxb_conf_error_at(c, c->commands_at[0],
				"'commands' needs an XMPP account: set xmpp.jid");
		if (cfg->xmpp.rooms_len)
			mxb_conf_error_at(
				c, c->rooms_at[0], "'rooms' needs an XMPP account: set xmpp.jid");
	}
	if (cfg->devices_len && !cfg->xmpp.component.domain)
		mxb_conf_error_at(
			c, c->devices_at[0], "'devices' need a component: set xmpp.component");
}

/* A room's nick defaults to the local part of the account's JID. */
static void default_nicks(struct mxb_conf_ctx *c, struct mxb_config *cfg)
{
	for (size_t i = 0; i < cfg->xmpp.rooms_len; i++) {
		struct mxb_room *room = &cfg->xmpp.rooms[i];
		if (!room->nick && cfg->xmpp.jid && room->jid) {
			const char *at = strchr(cfg->xmpp.jid, '@');
			room->nick = at ? strndup(cfg->xmpp.jid, (size_t)(at - cfg->xmpp.jid))
					: strdup("bridge");
			if (!room->nick)
				c->oom = true;
		}
	}
}

/* Rooms move to their own list: an occupant is never taken for a direct sender. */
static void check_command_rooms(struct mxb_conf_ctx *c, const struct mxb_config *cfg,
	struct mxb_command_route *r, const struct mxb_conf_node *at)
{
	size_t kept = 0;
	for (size_t f = 0; f < r->from.len; f++) {
		if (find_room(cfg, r->from.v[f])) {
			if (mxb_strlist_push(&r->rooms, r->from.v[f]) < 0)
				c->oom = true;
			free(r->from.v[f]);
		} else {
			r->from.v[kept++] = r->from.v[f];
		}
	}
	r->from.len = kept;
	if (r->from.v)
		r->from.v[kept] = NULL;
	bool rooms = r->rooms.len > 0;
	if (rooms && !r->has_role && !r->has_affiliation)
		mxb_conf_error_at(c, at,
			"a 'commands' route that names a room needs 'role' or 'affiliation'");
	if (!rooms && (r->has_role || r->has_affiliation))
		mxb_conf_error_at(
			c, at, "'role' and 'affiliation' need a room of 'xmpp.rooms' in 'from'");
}

void mxb_conf_cross_check(struct mxb_conf_ctx *c, struct mxb_config *cfg)
{
	check_account(c, cfg);
	default_nicks(c, cfg);
	for (size_t i = 0; i < cfg->notify_len; i++) {
		const struct mxb_notify_route *r = &cfg->notify[i];
		for (size_t t = 0; t < r->to.len; t++) {
			if (r->type == MXB_MESSAGE_GROUPCHAT && !find_room(cfg, r->to.v[t]))
				mxb_conf_error_at(c, c->notify_at[i],
					"'%s' is not a room of 'xmpp.rooms', but the route's type "
					"is groupchat",
					r->to.v[t]);
		}
	}
	for (size_t i = 0; i < cfg->commands_len; i++)
		check_command_rooms(c, cfg, &cfg->commands[i], c->commands_at[i]);
	mxb_conf_pubsub_check(c, cfg);
}
