/*
 * The client: one session of the core (session.c) with stream management (sm.c), rooms
 * (muc.c) and ad-hoc commands; the roster, the contacts' presence and location and the
 * account's other instances are in xmpp_presence.c.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "config.h"
#include "log.h"
#include "ns.h"
#include "reload.h"
#include "xmpp_priv.h"

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

/* The address a stanza was sent to ("" when none: the account itself). */
static const char *to_of(xmpp_stanza_t *st)
{
	const char *to = xmpp_stanza_get_to(st);
	return to ? to : "";
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
		   mxb_xmpp_from_self_or_server(x, xmpp_stanza_get_from(st))) {
		/* A roster push: acknowledge it (RFC 6121 2.1.6). */
		mxb_xmpp_roster_update(x, query, false);
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
	} else if (mxb_xmpp_peers_defer(x) && !strchr(to_of(st), '/')) {
		/* the server gave it to every instance of the highest priority */
		mxb_log_debug("xmpp: a message to the bare JID is left to the instance that leads");
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
	xmpp_handler_add(conn, on_message, NULL, "message", NULL, x);
	xmpp_handler_add(conn, on_iq, NULL, "iq", NULL, x);
	xmpp_handler_add(conn, mxb_xmpp_on_presence, NULL, "presence", NULL, x);
	if (cfg->location.contacts.len)
		xmpp_handler_add(conn, mxb_xmpp_on_pep_event, NS_PUBSUB_EVENT, "message", NULL, x);
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
	bool waiting = mxb_sm_start(&x->sm, now);
	xmpp_stanza_t *iq = xmpp_iq_new(x->s.ctx, "get", "roster1");
	if (iq) {
		mxb_stanza_add_child(x->s.ctx, iq, "query", NS_ROSTER);
		xmpp_id_handler_add(conn, mxb_xmpp_on_roster, "roster1", x);
		mxb_session_send(&x->s, iq);
		xmpp_stanza_release(iq);
	}
	mxb_xmpp_send_presence(x, NULL, NULL, x->cfg->xmpp.status);
	mxb_xmpp_peers_up(x);
	for (size_t i = 0; i < x->cfg->location.contacts.len; i++)
		mxb_xmpp_fetch_geoloc(x, x->cfg->location.contacts.v[i]);
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
	mxb_xmpp_peers_down(x);
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
		.batch_delay_us = cfg->xmpp.batch_delay_us,
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
	if (cfg->mqtt.share_group && !(x->peers = calloc(1, sizeof(*x->peers))))
		goto err_destroy_roster;
	if (mxb_muc_init(&x->muc, &x->s, cfg->xmpp.rooms, cfg->xmpp.rooms_len, cfg->xmpp.status,
		    handlers->room_joined, data) < 0)
		goto err_destroy_roster;
	mxb_sm_init(&x->sm, &x->s, &sm_handlers, x);
	mxb_sm_set_acks(&x->sm, cfg->xmpp.ack_every, cfg->xmpp.ack_delay);
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
	free(x->peers);
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
	free(x->peers);
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
	/* Joining or leaving a share group changes the JID too: the new session counts anew. */
	if (!cfg->mqtt.share_group != !x->peers) {
		free(x->peers);
		x->peers = cfg->mqtt.share_group ? calloc(1, sizeof(*x->peers)) : NULL;
		if (cfg->mqtt.share_group && !x->peers)
			mxb_log_error("xmpp: out of memory: the share group's instances are not "
				      "counted; this one leads as if alone");
		x->settled = false;
	}
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
	mxb_sm_set_acks(&x->sm, cfg->xmpp.ack_every, cfg->xmpp.ack_delay);
	if ((changes & MXB_CHANGE_XMPP_STATUS) && up) {
		mxb_xmpp_send_presence(x, NULL, NULL, cfg->xmpp.status);
		mxb_muc_status(&x->muc);
	}
	return 0;
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
	/* An ack request, when due, leaves with what this pass sent. */
	mxb_sm_flush(&x->sm, now);
	mxb_session_handle(&x->s, revents);
	mxb_sm_flush(&x->sm, now);
}

uint64_t mxb_xmpp_batches(const struct mxb_xmpp *x)
{
	return x->s.batches;
}

int64_t mxb_xmpp_tick(struct mxb_xmpp *x, int64_t now)
{
	int64_t next = INT64_MAX;
	if (x->s.state == MXB_SESSION_UP) {
		next = mxb_sm_tick(&x->sm, now);
		int64_t t = mxb_muc_tick(&x->muc, now);
		if (t < next)
			next = t;
		t = mxb_xmpp_peers_tick(x, now);
		if (t < next)
			next = t;
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
	if (mxb_session_send_message(&x->s, type, to, id, body, oob) == 0) {
		/* What the server's acks will count this message as; 0 without acks. */
		*seq = x->sm.active ? x->s.sent : 0;
		return 0;
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
	mxb_xmpp_send_presence(x, "unavailable", NULL, NULL);
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
		mxb_xmpp_send_presence(x, "unavailable", NULL, NULL);
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
	/* The first connection object was set up when the client was made. */
	return x->s.conn ? ext_setup(x->s.conn, data) : 0;
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
