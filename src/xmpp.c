#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "adhoc.h"
#include "caps.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "muc.h"
#include "ns.h"
#include "pep.h"
#include "reload.h"
#include "roster.h"
#include "session.h"
#include "sm.h"
#include "xmpp.h"
#include "xmpp_ext.h"

/*
 * The client: one session of the core (session.c) with stream management (sm.c), rooms
 * (muc.c), the roster and the contacts' presence on top. It lives on the heap and never
 * moves: the core and libstrophe hold pointers into it.
 */
struct mxb_xmpp {
	struct mxb_session s;
	struct mxb_sm sm;
	struct mxb_muc muc;
	struct mxb_adhoc adhoc; /* XEP-0050, answered by handlers.adhoc */
	const struct mxb_config *cfg;
	struct mxb_xmpp_handlers handlers;
	void *data;
	bool left; /* mxb_xmpp_leave() is answered: no message will come any more */
	char bare[MXB_JID_MAX + 1];
	struct mxb_roster *roster; /* who lets the bridge see their presence */
	bool roster_full_warned;
	/* XEP-0115: what the presence advertises, and the node#ver disco#info answers to. */
	const struct mxb_session_identity *identity;
	char caps_ver[MXB_CAPS_VER_LEN];
	char caps_node[sizeof(MXB_CAPS_NODE) + MXB_CAPS_VER_LEN + 1];
	unsigned geoloc_serial; /* of the ids of last-item requests */
	struct {
		mxb_xmpp_ext_setup setup;
		void *data;
	} ext[MXB_XMPP_EXT_MAX]; /* modules speaking more XMPP on the session (xmpp_ext.h) */
	size_t ext_len;
};

static const char *const features[] = {
	NS_COMMANDS, NS_DISCO_INFO, NS_PING, NS_VERSION, NS_CAPS, NULL};
static const struct mxb_session_identity identity = {
	.category = "client",
	.type = "bot",
	.name = "mqtt-xmpp-bridge",
	.features = features,
};
/* With location.contacts: +notify asks the servers for the contacts' PEP events. */
static const char *const geoloc_features[] = {NS_COMMANDS, NS_DISCO_INFO, NS_PING, NS_VERSION,
	NS_CAPS, MXB_NS_GEOLOC, NS_GEOLOC_NOTIFY, NULL};
static const struct mxb_session_identity geoloc_identity = {
	.category = "client",
	.type = "bot",
	.name = "mqtt-xmpp-bridge",
	.features = geoloc_features,
};

static int on_certfail(const xmpp_tlscert_t *cert, const char *errormsg)
{
	(void)cert;
	mxb_log_error("xmpp: TLS certificate of the server not accepted: %s", errormsg);
	return 0;
}

static void send_presence(struct mxb_xmpp *x, const char *type, const char *to, const char *status)
{
	xmpp_stanza_t *p = mxb_stanza_presence(x->s.ctx, type, to, status);
	if (!p)
		return;
	if (!type)
		mxb_pep_add_caps(x->s.ctx, p, MXB_CAPS_NODE, x->caps_ver);
	mxb_session_send(&x->s, p);
	xmpp_stanza_release(p);
}

static bool from_self_or_server(struct mxb_xmpp *x, const char *from)
{
	return from == NULL || mxb_jid_bare_equal(from, x->bare);
}

/*
 * Remembers who lets the bridge see their presence, from the roster result (which replaces
 * what was known) or a push (RFC 6121 2.1.6: one item, but read them all).
 */
static void roster_update(struct mxb_xmpp *x, xmpp_stanza_t *query, bool result)
{
	if (result)
		mxb_roster_clear(x->roster);
	for (xmpp_stanza_t *i = query ? xmpp_stanza_get_children(query) : NULL; i;
		i = xmpp_stanza_get_next(i)) {
		const char *name = xmpp_stanza_is_tag(i) ? xmpp_stanza_get_name(i) : NULL;
		const char *jid = xmpp_stanza_get_attribute(i, "jid");
		char bare[MXB_JID_MAX + 1];
		if (!name || strcmp(name, "item") != 0 || !jid ||
			mxb_jid_bare(jid, bare, sizeof(bare)) < 0)
			continue;
		const char *sub = xmpp_stanza_get_attribute(i, "subscription");
		if (x->handlers.contact_roster)
			x->handlers.contact_roster(bare, xmpp_stanza_get_attribute(i, "name"),
				sub && strcmp(sub, "remove") == 0, x->data);
		int r = mxb_roster_set(x->roster, bare, sub);
		if (r == -ENOSPC && !x->roster_full_warned) {
			x->roster_full_warned = true;
			mxb_log_warn("xmpp: the roster has more than %d contacts who share their "
				     "presence; the presence of the others is not published",
				MXB_ROSTER_MAX);
		}
	}
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	mxb_sm_received(&x->sm);
	xmpp_stanza_t *query;
	const char *ns;
	bool get;
	if (!mxb_stanza_iq_request(st, &query, &ns, &get))
		return 1;
	xmpp_stanza_t *reply = mxb_session_answer(x->s.ctx, st, query, ns, get, x->identity);
	const char *node = query ? xmpp_stanza_get_attribute(query, "node") : NULL;
	if (reply) {
		/* ping, disco#info or version */
	} else if (get && ns && strcmp(ns, NS_DISCO_INFO) == 0 && node &&
		   strcmp(node, x->caps_node) == 0) {
		/* XEP-0115 5.4: a server that checks the hash asks for node#ver. */
		reply = mxb_pep_disco_info(x->s.ctx, st, node, x->identity);
	} else if (ns && !get && strcmp(ns, NS_ROSTER) == 0 &&
		   from_self_or_server(x, xmpp_stanza_get_from(st))) {
		/* A roster push: acknowledge it (RFC 6121 2.1.6). */
		roster_update(x, query, false);
		reply = mxb_stanza_result(st);
	} else if (mxb_adhoc_handle(&x->adhoc, st, query, ns, get)) {
		/* answered there, now or once what it started is done */
	} else {
		mxb_log_debug("xmpp: no service for iq %s '%s' from '%s'", get ? "get" : "set",
			ns ? ns : "(none)",
			xmpp_stanza_get_from(st) ? xmpp_stanza_get_from(st) : "");
		reply = xmpp_stanza_reply_error(st, "cancel", "service-unavailable", NULL);
	}
	if (reply) {
		mxb_session_send(&x->s, reply);
		xmpp_stanza_release(reply);
	}
	return 1;
}

/* Whether the config names bare in location.contacts. */
static bool location_contact(struct mxb_xmpp *x, const char *bare)
{
	const struct mxb_strlist *c = &x->cfg->location.contacts;
	for (size_t i = 0; i < c->len; i++) {
		if (mxb_jid_bare_equal(c->v[i], bare))
			return true;
	}
	return false;
}

/* The geoloc of an <items/> of a contact, to the bridge. */
static void geoloc_items(struct mxb_xmpp *x, const char *from, xmpp_stanza_t *items)
{
	struct mxb_geoloc g;
	const char *why;
	enum mxb_pep_geoloc r = mxb_pep_geoloc_of(items, &g, &why);
	if (r == MXB_PEP_NONE || !x->handlers.contact_geoloc)
		return;
	x->handlers.contact_geoloc(from, &g, r == MXB_PEP_INVALID ? why : NULL, x->data);
}

static int on_geoloc_items(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	const char *from = xmpp_stanza_get_from(st);
	const char *type = xmpp_stanza_get_type(st);
	if (!from || !type || strcmp(type, "result") != 0) {
		/* item-not-found: nothing published yet; forbidden: not subscribed (yet). */
		mxb_log_debug("xmpp: no location of '%s' to fetch: %s", from ? from : "?",
			type && strcmp(type, "error") == 0 ? mxb_stanza_error_condition(st) : "?");
		return 0;
	}
	xmpp_stanza_t *ps = xmpp_stanza_get_child_by_name_and_ns(st, "pubsub", NS_PUBSUB);
	xmpp_stanza_t *items = ps ? xmpp_stanza_get_child_by_name(ps, "items") : NULL;
	if (items && !strchr(from, '/'))
		geoloc_items(x, from, items);
	return 0;
}

/* Asks for bare's last location: Prosody sends none by itself, ejabberd not always. */
static void fetch_geoloc(struct mxb_xmpp *x, const char *bare)
{
	char id[32];
	snprintf(id, sizeof(id), "mxb-geoloc-%u", ++x->geoloc_serial);
	xmpp_stanza_t *iq = mxb_pep_items_request(x->s.ctx, bare, MXB_NS_GEOLOC, id);
	if (!iq)
		return;
	xmpp_id_handler_add(x->s.conn, on_geoloc_items, id, x);
	mxb_session_send(&x->s, iq);
	xmpp_stanza_release(iq);
}

/*
 * A contact approved the bridge's subscription. ejabberd takes the entity capabilities
 * (and so +notify) only from a presence that arrives while the subscription exists: say it
 * again, then fetch what the contact published before.
 */
static void subscription_approved(struct mxb_xmpp *x, const char *from)
{
	char bare[MXB_JID_MAX + 1];
	if (!x->cfg->location.contacts.len || mxb_jid_bare(from, bare, sizeof(bare)) < 0)
		return;
	/* For every contact: the one whose location is not published is then refused, counted. */
	send_presence(x, NULL, NULL, x->cfg->xmpp.status);
	if (location_contact(x, bare))
		fetch_geoloc(x, bare);
}

/* A PEP event (XEP-0163): only a contact's geoloc node, from a bare JID, is the bridge's. */
static int on_pep_event(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	const char *from = xmpp_stanza_get_from(st);
	xmpp_stanza_t *ev = xmpp_stanza_get_child_by_name_and_ns(st, "event", NS_PUBSUB_EVENT);
	if (!ev || !from || strchr(from, '/') || !strchr(from, '@') ||
		mxb_jid_bare_equal(from, x->bare))
		return 1;
	xmpp_stanza_t *items = xmpp_stanza_get_child_by_name(ev, "items");
	if (items)
		geoloc_items(x, from, items);
	return 1;
}

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	mxb_sm_received(&x->sm);
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	struct mxb_muc_room *room = from ? mxb_muc_find(&x->muc, from) : NULL;
	if (room) {
		mxb_muc_presence(&x->muc, room, st, from);
		return 1;
	}
	char bare[MXB_JID_MAX + 1];
	if (from && (!type || strcmp(type, "unavailable") == 0) &&
		!mxb_jid_bare_equal(from, x->bare) && x->handlers.contact_presence &&
		mxb_jid_bare(from, bare, sizeof(bare)) == 0) {
		char *show = NULL, *status = NULL, *prio = NULL;
		xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "show");
		if (e)
			show = xmpp_stanza_get_text(e);
		e = xmpp_stanza_get_child_by_name(st, "status");
		if (e)
			status = xmpp_stanza_get_text(e);
		e = xmpp_stanza_get_child_by_name(st, "priority");
		if (e)
			prio = xmpp_stanza_get_text(e);
		/* A peer's number: strtol saturates where atoi would overflow. */
		long pr = prio ? strtol(prio, NULL, 10) : 0;
		struct mxb_xmpp_presence p = {
			.from = from,
			.available = !type,
			.show = show,
			.status = status,
			.priority = pr < -128  ? -128
				    : pr > 127 ? 127
					       : (int)pr,
			.subscribed = mxb_roster_sees(x->roster, bare),
		};
		x->handlers.contact_presence(&p, x->data);
		xmpp_free(x->s.ctx, show);
		xmpp_free(x->s.ctx, status);
		xmpp_free(x->s.ctx, prio);
		return 1;
	}
	if (type && from && strcmp(type, "subscribed") == 0) {
		subscription_approved(x, from);
		return 1;
	}
	if (!type || !from || strcmp(type, "subscribe") != 0)
		return 1;
	if (mxb_jid_bare(from, bare, sizeof(bare)) < 0)
		return 1;
	if (x->handlers.contact_allowed && x->handlers.contact_allowed(bare, x->data)) {
		mxb_log_info("xmpp: accepting presence subscription from '%s'", bare);
		send_presence(x, "subscribed", bare, NULL);
		send_presence(x, "subscribe", bare, NULL);
	} else {
		mxb_log_warn(
			"xmpp: refusing presence subscription from '%s': not in the config", bare);
		send_presence(x, "unsubscribed", bare, NULL);
	}
	return 1;
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	mxb_sm_received(&x->sm);
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	if (!type)
		type = "normal";
	if (strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0 &&
		strcmp(type, "groupchat") != 0)
		return 1;
	if (!from || mxb_jid_bare_equal(from, x->bare))
		return 1;
	struct mxb_muc_room *room = mxb_muc_find(&x->muc, from);
	const struct mxb_muc_occupant *occ = NULL;
	if (room) {
		if (!mxb_muc_message(room, st, from, &occ))
			return 1;
	} else if (strcmp(type, "groupchat") == 0) {
		return 1;
	}
	if (mxb_stanza_is_forwarded(st)) {
		mxb_log_debug("xmpp: ignoring forwarded message from '%s'", from);
		return 1;
	}
	char *body = xmpp_message_get_body(st);
	if (!body)
		return 1;
	struct mxb_xmpp_message msg = {
		.from = from,
		.type = type,
		.id = xmpp_stanza_get_id(st),
		.body = body,
		.room = room ? room->cfg->jid : NULL,
		.nick = room ? strchr(from, '/') + 1 : NULL,
		.own_nick = room ? room->seat.nick : NULL,
		.real_jid = occ ? occ->real_jid : NULL,
		.role = occ ? occ->role : MXB_ROLE_NONE,
		.affiliation = occ ? occ->affiliation : MXB_AFFILIATION_NONE,
	};
	if (x->handlers.message)
		x->handlers.message(&msg, x->data);
	xmpp_free(x->s.ctx, body);
	return 1;
}

static int on_roster(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	const char *type = xmpp_stanza_get_type(st);
	if (type && strcmp(type, "result") == 0) {
		xmpp_stanza_t *q = xmpp_stanza_get_child_by_ns(st, NS_ROSTER);
		int n = 0;
		for (xmpp_stanza_t *i = q ? xmpp_stanza_get_children(q) : NULL; i;
			i = xmpp_stanza_get_next(i))
			n += xmpp_stanza_is_tag(i);
		roster_update(x, q, true);
		mxb_log_debug("xmpp: roster has %d contacts, %zu share their presence", n,
			mxb_roster_len(x->roster));
	} else {
		mxb_log_warn("xmpp: roster request failed");
	}
	return 0;
}

/* A fresh connection object of the core, before each attempt. */
static int setup(xmpp_conn_t *conn, void *data)
{
	struct mxb_xmpp *x = data;
	const struct mxb_config *cfg = x->cfg;
	long flags = mxb_session_tls_flags((int)cfg->xmpp.tls);
	/* Flags are set whole: a get|set round trip would lose DISABLE_SM (sm.c does it). */
	if (xmpp_conn_set_flags(conn, flags | XMPP_CONN_FLAG_DISABLE_SM) != XMPP_EOK)
		return -EINVAL;
	xmpp_conn_set_jid(conn, cfg->xmpp.jid);
	if (cfg->xmpp.password)
		xmpp_conn_set_pass(conn, cfg->xmpp.password);
	if (cfg->xmpp.ca_file)
		xmpp_conn_set_cafile(conn, cfg->xmpp.ca_file);
	if (cfg->xmpp.client_cert)
		xmpp_conn_set_client_cert(conn, cfg->xmpp.client_cert, cfg->xmpp.client_key);
	xmpp_conn_set_certfail_handler(conn, on_certfail);
	mxb_session_handler_add(conn, on_message, NULL, "message", NULL, x);
	mxb_session_handler_add(conn, on_iq, NULL, "iq", NULL, x);
	mxb_session_handler_add(conn, on_presence, NULL, "presence", NULL, x);
	if (cfg->location.contacts.len)
		mxb_session_handler_add(conn, on_pep_event, NS_PUBSUB_EVENT, "message", NULL, x);
	mxb_sm_add_handlers(&x->sm, conn);
	for (size_t i = 0; i < x->ext_len; i++) {
		int r = x->ext[i].setup(conn, x->ext[i].data);
		if (r < 0)
			return r;
	}
	return 0;
}

static void up(int64_t now, void *data)
{
	struct mxb_xmpp *x = data;
	xmpp_conn_t *conn = x->s.conn;
	const char *bound = xmpp_conn_get_bound_jid(conn);
	mxb_log_info("xmpp: session established as '%s' (%s)", bound ? bound : "?",
		xmpp_conn_is_secured(conn) ? "TLS" : "no TLS");
	bool waiting = mxb_sm_start(&x->sm, x->cfg->xmpp.ack_every, x->cfg->xmpp.ack_delay, now);
	xmpp_stanza_t *iq = xmpp_iq_new(x->s.ctx, "get", "roster1");
	if (iq) {
		mxb_stanza_add_child(x->s.ctx, iq, "query", NS_ROSTER);
		xmpp_id_handler_add(conn, on_roster, "roster1", x);
		mxb_session_send(&x->s, iq);
		xmpp_stanza_release(iq);
	}
	send_presence(x, NULL, NULL, x->cfg->xmpp.status);
	for (size_t i = 0; i < x->cfg->location.contacts.len; i++)
		fetch_geoloc(x, x->cfg->location.contacts.v[i]);
	mxb_muc_join(&x->muc, now);
	/* Otherwise online once <enabled/> (or its timeout) says how delivery works. */
	if (!waiting && x->handlers.online)
		x->handlers.online(x->data);
}

static void down(void *data)
{
	struct mxb_xmpp *x = data;
	mxb_sm_down(&x->sm);
	mxb_muc_down(&x->muc);
	mxb_adhoc_down(&x->adhoc);
}

static void offline(bool stream_error, void *data)
{
	struct mxb_xmpp *x = data;
	if (x->handlers.offline)
		x->handlers.offline(stream_error, x->data);
}

static void sm_ready(void *data)
{
	struct mxb_xmpp *x = data;
	if (x->handlers.online)
		x->handlers.online(x->data);
}

static void sm_acked(uint32_t h, void *data)
{
	struct mxb_xmpp *x = data;
	if (x->handlers.acked)
		x->handlers.acked(h, x->data);
}

static const struct mxb_session_ops client_ops = {
	.setup = setup,
	.up = up,
	.down = down,
	.offline = offline,
};

static const struct mxb_sm_handlers sm_handlers = {
	.acked = sm_acked,
	.ready = sm_ready,
};

/* What the session core needs, its strings borrowed from the config and x->bare. */
static struct mxb_session_params params_of(const struct mxb_xmpp *x)
{
	const struct mxb_config *cfg = x->cfg;
	return (struct mxb_session_params){
		.kind = MXB_SESSION_CLIENT,
		.tag = "xmpp",
		.name = x->bare,
		.host = cfg->xmpp.host,
		.port = (unsigned short)cfg->xmpp.port,
		.reconnect_max = cfg->xmpp.reconnect_max,
		.ping_interval = cfg->xmpp.ping_interval,
		.ping_timeout = cfg->xmpp.ping_timeout,
		.connect_timeout = cfg->xmpp.connect_timeout,
	};
}

int mxb_xmpp_create(struct mxb_xmpp **out, const struct mxb_config *cfg,
	const struct mxb_xmpp_handlers *handlers, void *data)
{
	int rc = -ENOMEM;
	struct mxb_xmpp *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->cfg = cfg;
	x->handlers = *handlers;
	x->data = data;
	if (mxb_jid_bare(cfg->xmpp.jid, x->bare, sizeof(x->bare)) < 0) {
		rc = -EINVAL;
		goto err_free;
	}
	x->identity = cfg->location.contacts.len ? &geoloc_identity : &identity;
	const struct mxb_caps_identity ci = {
		x->identity->category, x->identity->type, NULL, x->identity->name};
	if (mxb_caps_ver(&ci, 1, x->identity->features, x->caps_ver) < 0) {
		rc = -EINVAL;
		goto err_free;
	}
	snprintf(x->caps_node, sizeof(x->caps_node), "%s#%s", MXB_CAPS_NODE, x->caps_ver);
	x->roster = mxb_roster_create();
	if (!x->roster)
		goto err_free;
	if (mxb_muc_init(&x->muc, &x->s, cfg->xmpp.rooms, cfg->xmpp.rooms_len, cfg->xmpp.status,
		    handlers->room_joined, data) < 0)
		goto err_destroy_roster;
	mxb_sm_init(&x->sm, &x->s, &sm_handlers, x);
	mxb_adhoc_init(&x->adhoc, &x->s, handlers->adhoc, data);
	if (cfg->xmpp.tls == MXB_XMPP_TLS_NONE)
		mxb_log_warn("xmpp: TLS is disabled (xmpp.tls = \"none\"): the password and all "
			     "messages cross the network in clear text");
	struct mxb_session_params params = params_of(x);
	rc = mxb_session_init(&x->s, &params, &client_ops, x);
	if (rc < 0)
		goto err_finish_muc;
	*out = x;
	return 0;

err_finish_muc:
	mxb_muc_finish(&x->muc);
err_destroy_roster:
	mxb_roster_destroy(x->roster);
err_free:
	free(x);
	return rc;
}

void mxb_xmpp_destroy(struct mxb_xmpp *x)
{
	if (!x)
		return;
	mxb_session_finish(&x->s);
	mxb_adhoc_finish(&x->adhoc);
	mxb_muc_finish(&x->muc);
	mxb_roster_destroy(x->roster);
	free(x);
}

int mxb_xmpp_reconfigure(struct mxb_xmpp *x, unsigned changes, int64_t now)
{
	const struct mxb_config *cfg = x->cfg;
	char bare[MXB_JID_MAX + 1];
	if (mxb_jid_bare(cfg->xmpp.jid, bare, sizeof(bare)) < 0)
		return -EINVAL;
	bool reconnect = changes & MXB_CHANGE_XMPP;
	bool up = x->s.state == MXB_SESSION_UP;
	/* Rooms are joined by the new session when it reconnects anyway. */
	int r = mxb_muc_reconfigure(&x->muc, cfg->xmpp.rooms, cfg->xmpp.rooms_len, cfg->xmpp.status,
		up && !reconnect, now);
	if (r < 0)
		return r;
	memcpy(x->bare, bare, sizeof(bare));
	struct mxb_session_params params = params_of(x);
	if (reconnect) {
		if (cfg->xmpp.tls == MXB_XMPP_TLS_NONE)
			mxb_log_warn(
				"xmpp: TLS is disabled (xmpp.tls = \"none\"): the password and "
				"all messages cross the network in clear text");
		mxb_log_info("xmpp: the connection settings changed; reconnecting as '%s'", bare);
		mxb_session_reconnect(&x->s, &params, now);
		return 0;
	}
	mxb_session_set_params(&x->s, &params);
	if ((changes & MXB_CHANGE_XMPP_STATUS) && up) {
		send_presence(x, NULL, NULL, cfg->xmpp.status);
		mxb_muc_status(&x->muc);
	}
	return 0;
}

static void probe_one(const char *bare, void *data)
{
	send_presence(data, "probe", bare, NULL);
}

void mxb_xmpp_probe_contacts(struct mxb_xmpp *x)
{
	/* RFC 6121 4.3: the server answers a probe with the contact's current presence. */
	if (x->s.state == MXB_SESSION_UP)
		mxb_roster_each(x->roster, probe_one, x);
}

void mxb_xmpp_start(struct mxb_xmpp *x, int64_t now)
{
	mxb_session_start(&x->s, now);
}

int mxb_xmpp_fd(const struct mxb_xmpp *x)
{
	return mxb_session_fd(&x->s);
}

short mxb_xmpp_events(const struct mxb_xmpp *x)
{
	return mxb_session_events(&x->s);
}

void mxb_xmpp_handle(struct mxb_xmpp *x, short revents, int64_t now)
{
	/* An ack request goes out with what it covers. */
	mxb_sm_flush(&x->sm, now);
	mxb_session_handle(&x->s, revents, now);
	/* What the handlers answered during the pass, or an <a/> that allows the next <r/>. */
	if (mxb_sm_flush(&x->sm, now))
		mxb_session_handle(&x->s, 0, now);
}

int64_t mxb_xmpp_tick(struct mxb_xmpp *x, int64_t now)
{
	int64_t next = INT64_MAX;
	if (x->s.state == MXB_SESSION_UP) {
		mxb_sm_tick(&x->sm, now);
		mxb_muc_tick(&x->muc, now);
		next = mxb_sm_next(&x->sm);
		int64_t m = mxb_muc_next(&x->muc);
		if (m < next)
			next = m;
	}
	int64_t t = mxb_session_tick(&x->s, now);
	return t < next ? t : next;
}

bool mxb_xmpp_is_up(const struct mxb_xmpp *x)
{
	return x->s.state == MXB_SESSION_UP;
}

struct mxb_session *mxb_xmpp_session(struct mxb_xmpp *x)
{
	return &x->s;
}

int mxb_xmpp_send_message(struct mxb_xmpp *x, const char *to, const char *type, const char *body,
	const char *id, uint32_t *seq)
{
	if (x->s.state != MXB_SESSION_UP || x->sm.waiting)
		return -ENOTCONN;
	/* "chat+oob": the body is a URL, sent as XEP-0066 out-of-band data too. */
	char plain[16];
	const char *mark = strchr(type, '+');
	bool oob = mark && strcmp(mark, MXB_XMPP_OOB) == 0 && (size_t)(mark - type) < sizeof(plain);
	if (oob) {
		memcpy(plain, type, (size_t)(mark - type));
		plain[mark - type] = '\0';
		type = plain;
	}
	struct mxb_muc_room *room = mxb_muc_find(&x->muc, to);
	if (room) {
		if (room->seat.refused)
			return -EHOSTUNREACH;
		if (!room->seat.joined)
			return -EAGAIN;
		/*
		 * To the room itself a message is groupchat; to one occupant (room/nick) it is a
		 * private message, which the service only relays as chat.
		 */
		if (!strchr(to, '/'))
			type = "groupchat";
		else if (strcmp(type, "groupchat") == 0)
			type = "chat";
	}
	xmpp_stanza_t *m = xmpp_message_new(x->s.ctx, type, to, id);
	if (!m)
		return -ENOMEM;
	int rc = xmpp_message_set_body(m, body);
	/* XEP-0359: the same id on every copy, so that receivers can drop a resent one. */
	xmpp_stanza_t *oid = rc == XMPP_EOK && id
				     ? mxb_stanza_add_child(x->s.ctx, m, "origin-id", NS_SID)
				     : NULL;
	if (oid)
		xmpp_stanza_set_id(oid, id);
	xmpp_stanza_t *x_oob = rc == XMPP_EOK && oob
				       ? mxb_stanza_add_child(x->s.ctx, m, "x", "jabber:x:oob")
				       : NULL;
	if (x_oob)
		mxb_stanza_add_text(x->s.ctx, x_oob, "url", body);
	else if (oob)
		rc = XMPP_EMEM;
	if (rc == XMPP_EOK) {
		mxb_session_send(&x->s, m);
		/* What the server's acks will count this message as; 0 without acks. */
		*seq = x->sm.active ? x->s.sent : 0;
	}
	xmpp_stanza_release(m);
	return rc == XMPP_EOK ? 0 : -ENOMEM;
}

int mxb_xmpp_send_forbidden(struct mxb_xmpp *x, const char *to, const char *id, const char *text)
{
	if (x->s.state != MXB_SESSION_UP)
		return -ENOTCONN;
	xmpp_stanza_t *m = mxb_stanza_forbidden(x->s.ctx, to, id, text);
	if (!m)
		return -ENOMEM;
	mxb_session_send(&x->s, m);
	xmpp_stanza_release(m);
	return 0;
}

int mxb_xmpp_adhoc_answer(struct mxb_xmpp *x, uint32_t token, const struct mxb_adhoc_response *r)
{
	return mxb_adhoc_answer(&x->adhoc, token, r);
}

static int on_left(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	(void)st;
	((struct mxb_xmpp *)data)->left = true;
	return 0;
}

void mxb_xmpp_leave(struct mxb_xmpp *x)
{
	if (x->s.state != MXB_SESSION_UP) {
		x->left = true;
		return;
	}
	send_presence(x, "unavailable", NULL, NULL);
	/*
	 * The server answers in order: once this ping's answer is in, every message it routed
	 * to the bridge before it took the bridge for unavailable has arrived too.
	 */
	if (mxb_session_ping(&x->s, "mxb-leave", on_left, x) < 0)
		x->left = true;
}

bool mxb_xmpp_has_left(const struct mxb_xmpp *x)
{
	return x->left || x->s.state != MXB_SESSION_UP;
}

void mxb_xmpp_shutdown(struct mxb_xmpp *x, int64_t now)
{
	if (x->s.state == MXB_SESSION_UP)
		send_presence(x, "unavailable", NULL, NULL);
	mxb_session_shutdown(&x->s, now);
}

bool mxb_xmpp_is_closed(const struct mxb_xmpp *x)
{
	return x->s.state == MXB_SESSION_CLOSED;
}

int mxb_xmpp_ext_add(struct mxb_xmpp *x, mxb_xmpp_ext_setup ext_setup, void *data)
{
	if (x->ext_len == MXB_XMPP_EXT_MAX)
		return -ENOSPC;
	x->ext[x->ext_len].setup = ext_setup;
	x->ext[x->ext_len].data = data;
	x->ext_len++;
	/*
	 * The first connection object was set up when the client was made; an attempt's
	 * thread owns it once the client started (xmpp.h: add before mxb_xmpp_start).
	 */
	return x->s.conn && !x->s.attempt ? ext_setup(x->s.conn, data) : 0;
}

struct mxb_session *mxb_xmpp_ext_session(struct mxb_xmpp *x)
{
	return &x->s;
}

const char *mxb_xmpp_ext_bare(const struct mxb_xmpp *x)
{
	return x->bare;
}

bool mxb_xmpp_ext_ready(const struct mxb_xmpp *x)
{
	return x->s.state == MXB_SESSION_UP && !x->sm.waiting;
}
