#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "ns.h"
#include "session.h"

/*
 * The component: one session of the core (session.c) that answers for every device JID
 * NAME@DOMAIN. It lives on the heap and never moves: the core and libstrophe hold pointers
 * into it.
 */
struct mxb_component {
	struct mxb_session s;
	const struct mxb_config *cfg;
	struct mxb_component_handlers handlers;
	void *data;
};

static const char *const features[] = {NS_DISCO_INFO, NS_PING, NS_VCARD, NS_VERSION, NULL};
/* The domain lists the devices too (XEP-0030 items). */
static const char *const domain_features[] = {
	NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION, NULL};

/* local@domain, or the domain itself when local is NULL. */
static void device_jid(struct mxb_component *c, const char *local, char *buf, size_t len)
{
	if (local)
		snprintf(buf, len, "%s@%s", local, c->cfg->xmpp.component.domain);
	else
		snprintf(buf, len, "%s", c->cfg->xmpp.component.domain);
}

/* The local part a stanza is addressed to, copied into buf; "" for the domain itself. */
static bool addressee(struct mxb_component *c, xmpp_stanza_t *st, char *buf, size_t len)
{
	const char *to = xmpp_stanza_get_to(st);
	if (!to)
		return false;
	size_t dlen;
	const char *domain = mxb_jid_domain(to, &dlen);
	if (dlen != strlen(c->cfg->xmpp.component.domain) ||
		strncasecmp(domain, c->cfg->xmpp.component.domain, dlen) != 0)
		return false;
	size_t n = domain == to ? 0 : (size_t)(domain - to - 1);
	if (n >= len)
		return false;
	memcpy(buf, to, n);
	buf[n] = '\0';
	return true;
}

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_component *c = data;
	char local[MXB_JID_PART_MAX + 1];
	const char *from = xmpp_stanza_get_from(st);
	if (!from || !addressee(c, st, local, sizeof(local)) || !local[0])
		return 1;
	if (c->handlers.presence)
		c->handlers.presence(local, from, xmpp_stanza_get_type(st), c->data);
	return 1;
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_component *c = data;
	char local[MXB_JID_PART_MAX + 1];
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	if (type && strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0)
		return 1;
	if (!from || !addressee(c, st, local, sizeof(local)))
		return 1;
	if (mxb_stanza_is_forwarded(st))
		return 1;
	char *body = xmpp_message_get_body(st);
	if (!body)
		return 1;
	if (!local[0]) {
		if (c->handlers.domain_message)
			c->handlers.domain_message(from, xmpp_stanza_get_id(st), body, c->data);
	} else if (c->handlers.message) {
		c->handlers.message(local, from, xmpp_stanza_get_id(st), body, c->data);
	}
	xmpp_free(c->s.ctx, body);
	return 1;
}

static xmpp_stanza_t *vcard(struct mxb_component *c, xmpp_stanza_t *st, const char *local,
	const struct mxb_component_info *info)
{
	xmpp_stanza_t *reply = mxb_stanza_result(st);
	xmpp_stanza_t *v = reply ? mxb_stanza_add_child(c->s.ctx, reply, "vCard", NS_VCARD) : NULL;
	if (v) {
		mxb_stanza_add_text(c->s.ctx, v, "FN", info->friendly ? info->friendly : local);
		mxb_stanza_add_text(c->s.ctx, v, "NICKNAME", info->name ? info->name : local);
		mxb_stanza_add_text(c->s.ctx, v, "DESC", "A device behind mqtt-xmpp-bridge");
	}
	return reply;
}

struct items {
	struct mxb_component *c;
	xmpp_stanza_t *query;
};

static void add_item(const char *local, const char *friendly, void *ctx)
{
	struct items *it = ctx;
	char jid[MXB_JID_MAX + 1];
	device_jid(it->c, local, jid, sizeof(jid));
	xmpp_stanza_t *item = mxb_stanza_add_child(it->c->s.ctx, it->query, "item", NULL);
	if (!item)
		return;
	xmpp_stanza_set_attribute(item, "jid", jid);
	if (friendly)
		xmpp_stanza_set_attribute(item, "name", friendly);
}

/* disco#items on the domain: the devices bare may see; to anyone else none. */
static xmpp_stanza_t *items(
	struct mxb_component *c, xmpp_stanza_t *st, xmpp_stanza_t *query, const char *bare)
{
	/* The domain has no nodes: one would name something that is not there. */
	if (xmpp_stanza_get_attribute(query, "node"))
		return xmpp_stanza_reply_error(st, "cancel", "item-not-found", NULL);
	xmpp_stanza_t *reply = mxb_stanza_result(st);
	xmpp_stanza_t *q =
		reply ? mxb_stanza_add_child(c->s.ctx, reply, "query", NS_DISCO_ITEMS) : NULL;
	if (!q) {
		if (reply)
			xmpp_stanza_release(reply);
		return NULL;
	}
	struct items it = {c, q};
	if (c->handlers.items)
		c->handlers.items(bare, add_item, &it, c->data);
	return reply;
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_component *c = data;
	const char *from = xmpp_stanza_get_from(st);
	char local[MXB_JID_PART_MAX + 1];
	xmpp_stanza_t *query;
	const char *ns;
	bool get;
	if (!mxb_stanza_iq_request(st, &query, &ns, &get) || !from ||
		!addressee(c, st, local, sizeof(local)))
		return 1;
	char bare[MXB_JID_MAX + 1];
	if (mxb_jid_bare(from, bare, sizeof(bare)) < 0)
		return 1;
	struct mxb_component_info info = {0};
	if (local[0] && c->handlers.describe)
		c->handlers.describe(local, bare, &info, c->data);
	xmpp_stanza_t *reply = NULL;
	if (local[0] && !(info.exists && info.allowed)) {
		/* Devices the asker may not see do not exist for it. */
		reply = xmpp_stanza_reply_error(st, "cancel", "item-not-found", NULL);
	} else if (ns && get && local[0] && strcmp(ns, NS_VCARD) == 0) {
		reply = vcard(c, st, local, &info);
	} else if (ns && get && !local[0] && strcmp(ns, NS_DISCO_ITEMS) == 0) {
		reply = items(c, st, query, bare);
	} else {
		struct mxb_session_identity id = {
			"gateway", "mqtt", "mqtt-xmpp-bridge devices", domain_features};
		if (local[0])
			id = (struct mxb_session_identity){
				"client", "bot", info.friendly ? info.friendly : local, features};
		reply = mxb_session_answer(c->s.ctx, st, query, ns, get, &id);
		if (!reply)
			reply = xmpp_stanza_reply_error(st, "cancel", "service-unavailable", NULL);
	}
	if (reply) {
		/* The reply comes from whom the request went to. */
		xmpp_stanza_set_from(reply, xmpp_stanza_get_to(st));
		mxb_session_send(&c->s, reply);
		xmpp_stanza_release(reply);
	}
	return 1;
}

/* A fresh connection object of the core, before each attempt. */
static int setup(xmpp_conn_t *conn, void *data)
{
	struct mxb_component *c = data;
	xmpp_conn_set_jid(conn, c->cfg->xmpp.component.domain);
	xmpp_conn_set_pass(conn, c->cfg->xmpp.component.secret);
	xmpp_handler_add(conn, on_message, NULL, "message", NULL, c);
	xmpp_handler_add(conn, on_presence, NULL, "presence", NULL, c);
	xmpp_handler_add(conn, on_iq, NULL, "iq", NULL, c);
	return 0;
}

static void up(int64_t now, void *data)
{
	(void)now;
	struct mxb_component *c = data;
	mxb_log_info("component: connected as '%s' to %s:%d", c->cfg->xmpp.component.domain,
		c->cfg->xmpp.component.host, c->cfg->xmpp.component.port);
	if (c->handlers.online)
		c->handlers.online(c->data);
}

static void offline(bool stream_error, void *data)
{
	(void)stream_error;
	struct mxb_component *c = data;
	if (c->handlers.offline)
		c->handlers.offline(c->data);
}

static const struct mxb_session_ops component_ops = {
	.setup = setup,
	.up = up,
	.offline = offline,
};

/* What the session core needs, its strings borrowed from the config. */
static struct mxb_session_params params_of(const struct mxb_config *cfg)
{
	return (struct mxb_session_params){
		.kind = MXB_SESSION_COMPONENT,
		.tag = "component",
		.name = cfg->xmpp.component.domain,
		.host = cfg->xmpp.component.host,
		.port = (unsigned short)cfg->xmpp.component.port,
		.reconnect_max = cfg->xmpp.reconnect_max,
		.connect_timeout = cfg->xmpp.connect_timeout,
		.batch_delay_us = cfg->xmpp.batch_delay_us,
	};
}

void mxb_component_reconfigure(struct mxb_component *c, bool reconnect, int64_t now)
{
	struct mxb_session_params params = params_of(c->cfg);
	if (!reconnect) {
		mxb_session_set_params(&c->s, &params);
		return;
	}
	mxb_log_info("component: the connection settings changed; reconnecting as '%s'",
		c->cfg->xmpp.component.domain);
	mxb_session_reconnect(&c->s, &params, now);
}

int mxb_component_create(struct mxb_component **out, const struct mxb_config *cfg,
	const struct mxb_component_handlers *handlers, void *data)
{
	struct mxb_component *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct mxb_component){.cfg = cfg, .handlers = *handlers, .data = data};
	struct mxb_session_params params = params_of(cfg);
	int rc = mxb_session_init(&c->s, &params, &component_ops, c);
	if (rc < 0) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void mxb_component_destroy(struct mxb_component *c)
{
	if (!c)
		return;
	mxb_session_finish(&c->s);
	free(c);
}

int mxb_component_send_presence(struct mxb_component *c, const char *local, const char *to,
	const char *type, const char *show, const char *status)
{
	if (c->s.state != MXB_SESSION_UP)
		return -ENOTCONN;
	char from[MXB_JID_MAX + 1];
	device_jid(c, local, from, sizeof(from));
	xmpp_stanza_t *p = xmpp_presence_new(c->s.ctx);
	if (!p)
		return -ENOMEM;
	xmpp_stanza_set_from(p, from);
	xmpp_stanza_set_to(p, to);
	if (type)
		xmpp_stanza_set_type(p, type);
	if (show)
		mxb_stanza_add_text(c->s.ctx, p, "show", show);
	if (status && *status)
		mxb_stanza_add_text(c->s.ctx, p, "status", status);
	mxb_session_send(&c->s, p);
	xmpp_stanza_release(p);
	return 0;
}

int mxb_component_send_message(
	struct mxb_component *c, const char *local, const char *to, const char *body)
{
	if (c->s.state != MXB_SESSION_UP)
		return -ENOTCONN;
	char from[MXB_JID_MAX + 1];
	device_jid(c, local, from, sizeof(from));
	char *id = xmpp_uuid_gen(c->s.ctx);
	xmpp_stanza_t *m = xmpp_message_new(c->s.ctx, "chat", to, id);
	if (id)
		xmpp_free(c->s.ctx, id);
	if (!m)
		return -ENOMEM;
	xmpp_stanza_set_from(m, from);
	xmpp_message_set_body(m, body);
	mxb_session_send(&c->s, m);
	xmpp_stanza_release(m);
	return 0;
}

int mxb_component_send_forbidden(struct mxb_component *c, const char *local, const char *to,
	const char *id, const char *text)
{
	if (c->s.state != MXB_SESSION_UP)
		return -ENOTCONN;
	char from[MXB_JID_MAX + 1];
	device_jid(c, local, from, sizeof(from));
	xmpp_stanza_t *m = mxb_stanza_forbidden(c->s.ctx, to, id, text);
	if (!m)
		return -ENOMEM;
	xmpp_stanza_set_from(m, from);
	mxb_session_send(&c->s, m);
	xmpp_stanza_release(m);
	return 0;
}

/* The loop drives the session as the core does. */
void mxb_component_shutdown(struct mxb_component *c, int64_t now)
{
	mxb_session_shutdown(&c->s, now);
}

bool mxb_component_is_closed(const struct mxb_component *c)
{
	return c->s.state == MXB_SESSION_CLOSED;
}

bool mxb_component_is_up(const struct mxb_component *c)
{
	return c->s.state == MXB_SESSION_UP;
}

void mxb_component_start(struct mxb_component *c, int64_t now)
{
	mxb_session_start(&c->s, now);
}

int64_t mxb_component_tick(struct mxb_component *c, int64_t now)
{
	return mxb_session_tick(&c->s, now);
}

void mxb_component_handle(struct mxb_component *c, short revents, int64_t now)
{
	(void)now;
	mxb_session_handle(&c->s, revents);
}

int mxb_component_fd(const struct mxb_component *c)
{
	return mxb_session_fd(&c->s);
}

short mxb_component_events(const struct mxb_component *c)
{
	return mxb_session_events(&c->s);
}
