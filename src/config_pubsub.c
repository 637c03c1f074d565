/* The pubsub routes (MQTT -> XEP-0060 nodes) and the subscribe routes (nodes -> MQTT). */

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdlib.h>
#include <string.h>

#include "config_schema.h"
#include "jid.h"
#include "pubsub_item.h"
#include "template.h"
#include "text.h"
#include "topic.h"

/* A service is a JID without a resource: usually a bare domain, "pubsub.example.org". */
static void service_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **out)
{
	if (mxb_conf_string(c, s, MXB_JID_MAX, true, out) &&
		(!mxb_jid_valid(*out) || !mxb_jid_is_bare(*out)))
		mxb_conf_error_at(c, s, "invalid service JID '%s' in 'service' (a bare JID)", *out);
}

struct pubsub_seen {
	struct mxb_pubsub_route *r;
	const struct mxb_conf_node *topic, *service, *node, *title, *summary;
};

static void pubsub_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct pubsub_seen *seen = data;
	struct mxb_pubsub_route *r = seen->r;
	const char *name = k->name;
	if (strcmp(name, "topic") == 0) {
		seen->topic = s;
		if (mxb_conf_string(c, s, MXB_TOPIC_MAX, true, &r->topic) &&
			!mxb_topic_filter_valid(r->topic))
			mxb_conf_error_at(c, s, "invalid topic filter '%s' in 'topic'", r->topic);
	} else if (strcmp(name, "service") == 0) {
		seen->service = s;
		service_key(c, s, &r->service);
	} else if (strcmp(name, "node") == 0) {
		seen->node = s;
		mxb_conf_template(c, s, &r->node, &r->node_tmpl);
	} else if (strcmp(name, "title") == 0) {
		seen->title = s;
		mxb_conf_template(c, s, &r->title, &r->title_tmpl);
	} else if (strcmp(name, "summary") == 0) {
		seen->summary = s;
		mxb_conf_template(c, s, &r->summary, &r->summary_tmpl);
	}
}

static void parse_pubsub(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *route)
{
	struct mxb_pubsub_route *r = route;
	r->line = (int)g->line;
	struct pubsub_seen seen = {.r = r};
	mxb_conf_walk(c, g, "pubsub", "a 'pubsub' route", r, pubsub_key, &seen);
	/* r->title and r->summary hold the defaults until they are given */
	if (!seen.title)
		mxb_conf_compile(c, g, "title", r->title, &r->title_tmpl);
	if (!seen.summary)
		mxb_conf_compile(c, g, "summary", r->summary, &r->summary_tmpl);
	if (!seen.topic)
		mxb_conf_error_at(c, g, "missing 'topic' in a 'pubsub' route");
	if (!seen.service)
		mxb_conf_error_at(c, g, "missing 'service' in a 'pubsub' route");
	if (!seen.node)
		mxb_conf_error_at(c, g, "missing 'node' in a 'pubsub' route");
	if ((seen.title || seen.summary) && r->format != MXB_PUBSUB_ATOM)
		mxb_conf_error_at(c, seen.title ? seen.title : seen.summary,
			"'title' and 'summary' need format = \"atom\"");
}

struct subscribe_seen {
	struct mxb_subscribe_route *r;
	const struct mxb_conf_node *service, *nodes, *pattern, *topic;
};

static void subscribe_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data)
{
	struct subscribe_seen *seen = data;
	struct mxb_subscribe_route *r = seen->r;
	const char *name = k->name;
	if (strcmp(name, "service") == 0) {
		seen->service = s;
		service_key(c, s, &r->service);
	} else if (strcmp(name, "nodes") == 0) {
		seen->nodes = s;
		if (!mxb_conf_plain_strlist(c, s, &r->nodes))
			return;
		for (size_t i = 0; i < r->nodes.len; i++) {
			if (!mxb_pubsub_node_valid(r->nodes.v[i], strlen(r->nodes.v[i])))
				mxb_conf_error_at(
					c, s, "invalid node '%s' in 'nodes'", r->nodes.v[i]);
		}
		if (r->nodes.len == 0)
			mxb_conf_error_at(c, s, "'nodes' must not be empty");
	} else if (strcmp(name, "pattern") == 0) {
		seen->pattern = s;
		if (mxb_conf_string(c, s, MXB_PUBSUB_NODE_MAX, true, &r->pattern) &&
			!mxb_pubsub_node_valid(r->pattern, strlen(r->pattern)))
			mxb_conf_error_at(
				c, s, "invalid node pattern '%s' in 'pattern'", r->pattern);
	} else if (strcmp(name, "topic") == 0) {
		seen->topic = s;
		mxb_conf_template(c, s, &r->topic, &r->topic_tmpl);
	}
}

static void parse_subscribe(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *route)
{
	struct mxb_subscribe_route *r = route;
	r->line = (int)g->line;
	struct subscribe_seen seen = {.r = r};
	mxb_conf_walk(c, g, "subscribe", "a 'subscribe' route", r, subscribe_key, &seen);
	if (!seen.service)
		mxb_conf_error_at(c, g, "missing 'service' in a 'subscribe' route");
	if (!seen.topic)
		mxb_conf_error_at(c, g, "missing 'topic' in a 'subscribe' route");
	if (!seen.nodes == !seen.pattern)
		mxb_conf_error_at(
			c, g, "a 'subscribe' route needs 'nodes' or 'pattern' (one of them)");
}

void mxb_conf_pubsub_finish(struct mxb_config *cfg)
{
	for (size_t i = 0; cfg->pubsub && i < cfg->pubsub_len; i++) {
		struct mxb_pubsub_route *r = &cfg->pubsub[i];
		free(r->topic);
		free(r->service);
		free(r->node);
		free(r->title);
		free(r->summary);
		mxb_template_destroy(r->node_tmpl);
		mxb_template_destroy(r->title_tmpl);
		mxb_template_destroy(r->summary_tmpl);
	}
	free(cfg->pubsub);
	for (size_t i = 0; cfg->subscribe && i < cfg->subscribe_len; i++) {
		struct mxb_subscribe_route *r = &cfg->subscribe[i];
		free(r->service);
		mxb_strlist_finish(&r->nodes);
		free(r->pattern);
		free(r->topic);
		mxb_template_destroy(r->topic_tmpl);
	}
	free(cfg->subscribe);
}

void mxb_conf_parse_pubsub_list(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *s, struct mxb_config *cfg)
{
	if (strcmp(s->name, "pubsub") == 0)
		cfg->pubsub = mxb_conf_groups(c, s, "pubsub", sizeof(*cfg->pubsub),
			&cfg->pubsub_len, parse_pubsub, &c->pubsub_at);
	else
		cfg->subscribe = mxb_conf_groups(c, s, "subscribe", sizeof(*cfg->subscribe),
			&cfg->subscribe_len, parse_subscribe, &c->subscribe_at);
}

void mxb_conf_pubsub_check(struct mxb_conf_ctx *c, const struct mxb_config *cfg)
{
	/* Only a component-only config lacks a jid on purpose; otherwise that was reported. */
	if (cfg->xmpp.jid || !cfg->xmpp.component.domain)
		return;
	if (cfg->pubsub_len && c->pubsub_at)
		mxb_conf_error_at(
			c, c->pubsub_at[0], "'pubsub' needs an XMPP account: set xmpp.jid");
	if (cfg->subscribe_len && c->subscribe_at)
		mxb_conf_error_at(
			c, c->subscribe_at[0], "'subscribe' needs an XMPP account: set xmpp.jid");
}

void mxb_conf_pubsub_print(const struct mxb_config *cfg, FILE *out)
{
	if (cfg->pubsub_len)
		fprintf(out, "pubsub: %zu route%s\n", cfg->pubsub_len,
			cfg->pubsub_len == 1 ? "" : "s");
	for (size_t i = 0; i < cfg->pubsub_len; i++) {
		const struct mxb_pubsub_route *r = &cfg->pubsub[i];
		fprintf(out, "  line %d: '%s' -> node '%s' on '%s', format %s", r->line, r->topic,
			r->node, r->service,
			mxb_config_name(&mxb_config_pubsub_formats, (int)r->format));
		if (r->format == MXB_PUBSUB_ATOM)
			fprintf(out, " (title '%s', summary '%s')", r->title, r->summary);
		if (r->history)
			fprintf(out, ", history %d", r->history);
		else
			fprintf(out, ", latest value as item '" MXB_PUBSUB_CURRENT "'");
		fprintf(out, ", qos %d, retained %s, max_item %zu\n", r->qos,
			r->retained ? "true" : "false", r->max_item);
	}
	if (cfg->subscribe_len)
		fprintf(out, "subscribe: %zu route%s\n", cfg->subscribe_len,
			cfg->subscribe_len == 1 ? "" : "s");
	for (size_t i = 0; i < cfg->subscribe_len; i++) {
		const struct mxb_subscribe_route *r = &cfg->subscribe[i];
		fprintf(out, "  line %d: '%s' ", r->line, r->service);
		if (r->pattern) {
			fprintf(out, "nodes matching '%s'", r->pattern);
		} else {
			fprintf(out, "nodes");
			for (size_t n = 0; n < r->nodes.len; n++)
				fprintf(out, "%s '%s'", n ? "," : "", r->nodes.v[n]);
		}
		fprintf(out, " -> topic '%s' (qos %d, retain %s)\n", r->topic, r->qos,
			r->retain ? "true" : "false");
	}
}
