/* The location group: OwnTracks users mapped to XMPP accounts, and contacts published. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_schema.h"
#include "jid.h"
#include "template.h"
#include "topic.h"

struct account_seen {
	struct mxb_location_account *a;
	const struct mxb_conf_node *password, *password_file;
};

static void account_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct account_seen *seen = data;
	struct mxb_location_account *a = seen->a;
	if (strcmp(k->name, "user") == 0) {
		/* One level of owntracks/USER/DEVICE: a topic level without wildcards. */
		if (mxb_conf_string(c, s, MXB_JID_PART_MAX, true, &a->user) &&
			(strchr(a->user, '/') || !mxb_topic_name_valid(a->user, strlen(a->user))))
			mxb_conf_error_at(c, s,
				"invalid OwnTracks user '%s' in 'user' (one topic level, no "
				"'/', '+' or '#')",
				a->user);
	} else if (strcmp(k->name, "jid") == 0) {
		if (mxb_conf_string(c, s, MXB_JID_MAX, true, &a->jid) && !mxb_jid_valid(a->jid))
			mxb_conf_error_at(c, s, "invalid JID '%s' in 'jid'", a->jid);
	} else if (strcmp(k->name, "password") == 0) {
		seen->password = s;
	} else if (strcmp(k->name, "password_file") == 0) {
		seen->password_file = s;
	}
}

static void parse_account(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *entry)
{
	struct mxb_location_account *a = entry;
	struct account_seen seen = {.a = a};
	a->line = (int)g->line;
	mxb_conf_walk(c, g, "location.accounts", "an account of 'location.accounts'", a,
		account_key, &seen);
	if (!a->user)
		mxb_conf_error_at(c, g, "missing 'user' in an account of 'location.accounts'");
	if (!a->jid)
		mxb_conf_error_at(c, g, "missing 'jid' in an account of 'location.accounts'");
	if (!mxb_conf_password(c, seen.password, seen.password_file, &a->password))
		mxb_conf_error_at(c, g,
			"missing 'password' or 'password_file' in an account of "
			"'location.accounts'");
}

static void topic_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **out)
{
	if (mxb_conf_string(c, s, MXB_TOPIC_MAX, true, out) &&
		!mxb_topic_name_valid(*out, strlen(*out)))
		mxb_conf_error_at(c, s, "invalid topic '%s' in '%s'", *out, s->name);
}

/* A topic template of the contact alone: {{from}} and {{name}}, nothing of a message. */
static void json_topic_key(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *s, struct mxb_config *cfg)
{
	static const char *const others[] = {
		"payload", "topic", "json", "body", "arg", "args", "time"};
	struct mxb_template *t = NULL;
	if (!mxb_conf_template(c, s, &cfg->location.json_topic, &t))
		return;
	cfg->location.json_topic_tmpl = t;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		if (mxb_template_uses(t, others[i])) {
			mxb_conf_error_at(c, s,
				"'json_topic' may use {{from}} and {{name}} only, not {{%s}}",
				others[i]);
			return;
		}
	}
	if (strchr(cfg->location.json_topic, '+') || strchr(cfg->location.json_topic, '#'))
		mxb_conf_error_at(
			c, s, "invalid topic '%s' in 'json_topic'", cfg->location.json_topic);
}

struct location_seen {
	struct mxb_config *cfg;
	const struct mxb_conf_node *accounts, *json_topic;
	const struct mxb_conf_node **accounts_at; /* where each account is written */
};

static void location_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct location_seen *seen = data;
	struct mxb_config *cfg = seen->cfg;
	if (strcmp(k->name, "owntracks_topic") == 0) {
		topic_key(c, s, &cfg->location.owntracks_topic);
	} else if (strcmp(k->name, "topic") == 0) {
		topic_key(c, s, &cfg->location.topic);
	} else if (strcmp(k->name, "json_topic") == 0) {
		seen->json_topic = s;
		json_topic_key(c, s, cfg);
	} else if (strcmp(k->name, "contacts") == 0) {
		mxb_conf_strlist(c, s, MXB_CONF_BARE_JIDS, &cfg->location.contacts);
	} else if (strcmp(k->name, "accounts") == 0) {
		seen->accounts = s;
		cfg->location.accounts =
			mxb_conf_groups(c, s, "location.accounts", sizeof(*cfg->location.accounts),
				&cfg->location.accounts_len, parse_account, &seen->accounts_at);
	}
}

void mxb_conf_parse_location(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *g, struct mxb_config *cfg)
{
	struct location_seen seen = {.cfg = cfg};
	mxb_conf_walk(c, g, "location", "'location'", cfg, location_key, &seen);
	const struct mxb_location_account *a = cfg->location.accounts;
	if (cfg->location.accounts_len > MXB_LOCATION_ACCOUNTS_MAX)
		mxb_conf_error_at(c, seen.accounts, "'accounts' has more than %d accounts",
			MXB_LOCATION_ACCOUNTS_MAX);
	for (size_t i = 0; a && i < cfg->location.accounts_len; i++) {
		for (size_t j = 0; a[i].user && j < i; j++) {
			if (a[j].user && strcmp(a[i].user, a[j].user) == 0)
				mxb_conf_error_at(c, seen.accounts_at[i],
					"OwnTracks user '%s' is mapped twice (first at line %d)",
					a[i].user, a[j].line);
		}
	}
	free(seen.accounts_at);
	if (seen.json_topic && cfg->location.format != MXB_LOCATION_JSON)
		mxb_conf_error_at(c, seen.json_topic, "'json_topic' needs format = \"json\"");
}

void mxb_conf_check_location(struct mxb_conf_ctx *c, struct mxb_config *cfg)
{
	const struct mxb_conf_node *g = c->location_at;
	if (!g)
		return;
	const char *topic = cfg->location.topic;
	if (cfg->location.contacts.len && !cfg->xmpp.jid)
		mxb_conf_error_at(c, g, "'contacts' in 'location' needs 'xmpp.jid'");
	for (size_t i = 0; topic && i < cfg->location.contacts.len; i++) {
		const char *jid = cfg->location.contacts.v[i];
		char *t = mxb_conf_format("%s/%s", topic, jid);
		if (!t) {
			c->oom = true;
			return;
		}
		if (!mxb_topic_name_valid(t, strlen(t)))
			mxb_conf_error_at(c, g, "contact '%s' cannot be part of a topic name", jid);
		free(t);
	}
	/* The bridge subscribes to the OwnTracks users' topics: it must not publish there. */
	const char *prefix = cfg->location.owntracks_topic;
	size_t plen = prefix ? strlen(prefix) : 0;
	const struct mxb_location_account *a = cfg->location.accounts;
	for (size_t i = 0; topic && prefix && a && i < cfg->location.accounts_len; i++) {
		if (a[i].user && strncmp(topic, prefix, plen) == 0 && topic[plen] == '/' &&
			strcmp(topic + plen + 1, a[i].user) == 0) {
			mxb_conf_error_at(c, g,
				"'topic' '%s' is where OwnTracks user '%s' publishes; choose "
				"another "
				"user level for the contacts",
				topic, a[i].user);
			break;
		}
	}
}

void mxb_config_location_finish(struct mxb_config *cfg)
{
	free(cfg->location.owntracks_topic);
	free(cfg->location.topic);
	free(cfg->location.json_topic);
	mxb_template_destroy(cfg->location.json_topic_tmpl);
	mxb_strlist_finish(&cfg->location.contacts);
	for (size_t i = 0; cfg->location.accounts && i < cfg->location.accounts_len; i++) {
		free(cfg->location.accounts[i].user);
		free(cfg->location.accounts[i].jid);
		mxb_conf_wipe_free(cfg->location.accounts[i].password);
	}
	free(cfg->location.accounts);
}

void mxb_config_location_print(const struct mxb_config *cfg, FILE *out)
{
	if (!cfg->location.accounts_len && !cfg->location.contacts.len)
		return;
	fprintf(out, "location.accounts: %zu\n", cfg->location.accounts_len);
	for (size_t i = 0; i < cfg->location.accounts_len; i++) {
		const struct mxb_location_account *a = &cfg->location.accounts[i];
		fprintf(out, "  line %d: '%s/%s/+' -> '%s' (password %s)\n", a->line,
			cfg->location.owntracks_topic, a->user, a->jid,
			a->password ? "set" : "none");
	}
	fprintf(out, "location.min_interval: %d\n", cfg->location.min_interval);
	fprintf(out, "location.contacts: %zu", cfg->location.contacts.len);
	for (size_t i = 0; i < cfg->location.contacts.len; i++)
		fprintf(out, "%s'%s'", i ? ", " : " ", cfg->location.contacts.v[i]);
	fprintf(out, "\n");
	if (cfg->location.contacts.len && cfg->location.json_topic)
		fprintf(out, "location.topic: '%s' (json)\n", cfg->location.json_topic);
	else if (cfg->location.contacts.len)
		fprintf(out, "location.topic: '%s/BAREJID' (%s)\n", cfg->location.topic,
			mxb_config_name(&mxb_config_location_formats, (int)cfg->location.format));
}

static bool same(const char *a, const char *b)
{
	return (!a || !b) ? a == b : strcmp(a, b) == 0;
}

bool mxb_config_location_equal(const struct mxb_config *a, const struct mxb_config *b)
{
	if (!same(a->location.owntracks_topic, b->location.owntracks_topic) ||
		!same(a->location.topic, b->location.topic) ||
		!same(a->location.json_topic, b->location.json_topic) ||
		a->location.min_interval != b->location.min_interval ||
		a->location.format != b->location.format ||
		a->location.accounts_len != b->location.accounts_len ||
		a->location.contacts.len != b->location.contacts.len)
		return false;
	for (size_t i = 0; i < a->location.contacts.len; i++) {
		if (strcmp(a->location.contacts.v[i], b->location.contacts.v[i]) != 0)
			return false;
	}
	for (size_t i = 0; i < a->location.accounts_len; i++) {
		const struct mxb_location_account *x = &a->location.accounts[i];
		const struct mxb_location_account *y = &b->location.accounts[i];
		if (!same(x->user, y->user) || !same(x->jid, y->jid) ||
			!same(x->password, y->password))
			return false;
	}
	return true;
}
