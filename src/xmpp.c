#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "access.h"
#include "backoff.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "room.h"
#include "roster.h"
#include "stanza.h"
#include "text.h"
#include "xmpp.h"

#define NS_PING "urn:xmpp:ping"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_VERSION "jabber:iq:version"
#define NS_ROSTER "jabber:iq:roster"
#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_DELAY "urn:xmpp:delay"
#define NS_SM "urn:xmpp:sm:3"
#define NS_SID "urn:xmpp:sid:0"
/* How long to wait for <enabled/> before going on without acks. */
#define SM_ENABLE_TIMEOUT_MS 5000

/* An occupant list is bounded: a huge room must not grow the bridge without limit. */
#define ROOM_OCCUPANTS_MAX 2000

#define SHUTDOWN_TIMEOUT_MS 3000
/* libstrophe only fires its own timers inside xmpp_run_once: never sleep longer. */
#define RUN_INTERVAL_MS 1000

enum state {
	STATE_DOWN,
	STATE_CONNECTING,
	STATE_UP,
	STATE_CLOSING,
	STATE_CLOSED,
};

struct occupant {
	char *nick;
	char *real_jid; /* bare, or NULL */
	int role;
	int affiliation;
};

struct room {
	const struct mxb_room *cfg;
	struct mxb_room_seat seat;
	struct occupant *occupants;
	size_t len, cap;
};

struct mxb_xmpp {
	const struct mxb_config *cfg;
	struct room *rooms;
	size_t rooms_len;
	xmpp_ctx_t *ctx;
	xmpp_conn_t *conn;
	xmpp_log_t log;
	struct mxb_xmpp_handlers handlers;
	void *data;
	enum state state;
	int fd;
	struct mxb_backoff backoff;
	int64_t deadline;
	int64_t next_ping;
	int64_t ping_deadline; /* 0: no ping outstanding */
	bool sasl_failed;
	bool shutting_down;
	/* XEP-0198, counted here: libstrophe 0.12.2 has no ack callback. */
	bool used; /* the connection object went through an attempt */
	bool left; /* mxb_xmpp_leave() is answered: no message will come any more */
	bool sm_offered; /* the server's features listed it (libstrophe then enables it) */
	bool sm_waiting; /* connected, waiting for <enabled/> before saying online */
	bool sm_active;
	bool sm_warned;
	int64_t sm_deadline;
	uint32_t sm_out; /* stanzas sent since <enable/> */
	uint32_t sm_in; /* stanzas received since <enabled/> */
	uint32_t sm_acked; /* the server's last h */
	bool sm_r_pending; /* an <r/> waits for its <a/> */
	char bare[MXB_JID_MAX + 1];
	struct mxb_roster *roster; /* who lets the bridge see their presence */
	bool roster_full_warned;
};

/* Every stanza goes out here, so that the XEP-0198 count matches the server's. */
static void send_stanza(struct mxb_xmpp *x, xmpp_stanza_t *st)
{
	xmpp_send(x->conn, st);
	x->sm_out++;
}

/* libstrophe's socket callback has no user data: map connections to their owner. */
static struct mxb_xmpp *owners[4];

static struct mxb_xmpp *owner_of(const xmpp_conn_t *conn)
{
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
		if (owners[i] && owners[i]->conn == conn)
			return owners[i];
	}
	return NULL;
}

static void on_log(void *data, xmpp_log_level_t level, const char *area, const char *msg)
{
	struct mxb_xmpp *x = data;
	if (level == XMPP_LEVEL_DEBUG) {
		/* Only these areas are free of stanza dumps (SASL payloads, passwords). */
		if (strcmp(area, "xmpp") == 0 && strstr(msg, "auth failed"))
			x->sasl_failed = true;
		/*
		 * Whether libstrophe will enable stream management shows only in the features it
		 * received; it logs them (at debug, during login) and keeps the rest to itself.
		 */
		bool features = strncmp(msg, "RECV: <features", 15) == 0 ||
				strncmp(msg, "RECV: <stream:features", 22) == 0;
		if (strcmp(area, "xmpp") == 0 && features && strstr(msg, NS_SM "\"") != NULL)
			x->sm_offered = true;
		bool safe = strcmp(area, "tls") == 0 || strcmp(area, "sock") == 0 ||
			    strcmp(area, "resolver") == 0 ||
			    (strcmp(area, "xmpp") == 0 && strncmp(msg, "RECV", 4) != 0 &&
				    strncmp(msg, "SENT", 4) != 0);
		if (safe)
			mxb_log_debug("xmpp: %s: %s", area, msg);
		return;
	}
	enum mxb_log_level l = level == XMPP_LEVEL_ERROR  ? MXB_LOG_ERROR
			       : level == XMPP_LEVEL_WARN ? MXB_LOG_WARN
							  : MXB_LOG_INFO;
	/* libstrophe's errors are often followed by our own, clearer line: keep theirs lower. */
	if (l == MXB_LOG_ERROR)
		l = MXB_LOG_WARN;
	if (strcmp(area, "xmpp") == 0)
		mxb_log(l, "xmpp: %s", msg);
	else
		mxb_log(l, "xmpp: %s: %s", area, msg);
}

static int on_certfail(const xmpp_tlscert_t *cert, const char *errormsg)
{
	(void)cert;
	mxb_log_error("xmpp: TLS certificate of the server not accepted: %s", errormsg);
	return 0;
}

static int on_sockopt(xmpp_conn_t *conn, void *sock)
{
	struct mxb_xmpp *x = owner_of(conn);
	if (x)
		x->fd = *(int *)sock;
	return mxb_strophe_sockopt(conn, sock);
}

static void send_presence(struct mxb_xmpp *x, const char *type, const char *to, const char *status)
{
	xmpp_stanza_t *p = xmpp_presence_new(x->ctx);
	if (!p)
		return;
	if (type)
		xmpp_stanza_set_type(p, type);
	if (to)
		xmpp_stanza_set_to(p, to);
	if (status && *status) {
		xmpp_stanza_t *s = xmpp_stanza_new(x->ctx);
		xmpp_stanza_t *t = xmpp_stanza_new(x->ctx);
		if (s && t) {
			xmpp_stanza_set_name(s, "status");
			xmpp_stanza_set_text(t, status);
			xmpp_stanza_add_child(s, t);
			xmpp_stanza_add_child(p, s);
		}
		if (t)
			xmpp_stanza_release(t);
		if (s)
			xmpp_stanza_release(s);
	}
	send_stanza(x, p);
	xmpp_stanza_release(p);
}

static struct room *find_room(struct mxb_xmpp *x, const char *jid)
{
	for (size_t i = 0; i < x->rooms_len; i++) {
		if (mxb_jid_bare_equal(x->rooms[i].cfg->jid, jid))
			return &x->rooms[i];
	}
	return NULL;
}

static void occupants_clear(struct room *r)
{
	for (size_t i = 0; i < r->len; i++) {
		free(r->occupants[i].nick);
		free(r->occupants[i].real_jid);
	}
	r->len = 0;
}

static struct occupant *occupant_find(struct room *r, const char *nick)
{
	for (size_t i = 0; i < r->len; i++) {
		if (strcmp(r->occupants[i].nick, nick) == 0)
			return &r->occupants[i];
	}
	return NULL;
}

static void occupant_remove(struct room *r, const char *nick)
{
	struct occupant *o = occupant_find(r, nick);
	if (!o)
		return;
	free(o->nick);
	free(o->real_jid);
	*o = r->occupants[--r->len];
}

static void occupant_set(
	struct room *r, const char *nick, const char *role, const char *aff, const char *jid)
{
	struct occupant *o = occupant_find(r, nick);
	if (!o) {
		if (r->len == ROOM_OCCUPANTS_MAX)
			return;
		if (r->len == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 8;
			struct occupant *v = realloc(r->occupants, cap * sizeof(*v));
			if (!v)
				return;
			r->occupants = v;
			r->cap = cap;
		}
		char *n = strdup(nick);
		if (!n)
			return;
		o = &r->occupants[r->len++];
		*o = (struct occupant){.nick = n};
	}
	int rv = mxb_access_role_parse(role);
	int av = mxb_access_affiliation_parse(aff);
	o->role = rv < 0 ? MXB_ROLE_NONE : rv;
	o->affiliation = av < 0 ? MXB_AFFILIATION_NONE : av;
	free(o->real_jid);
	o->real_jid = NULL;
	char bare[MXB_JID_MAX + 1];
	if (jid && mxb_jid_bare(jid, bare, sizeof(bare)) == 0)
		o->real_jid = strdup(bare);
}

/* Presence to room/nick: with muc set a join, without it a nick change (XEP-0045 7.6). */
static void send_room_presence(struct mxb_xmpp *x, struct room *r, const char *nick, bool muc)
{
	char to[2 * MXB_JID_MAX + 8];
	if ((size_t)snprintf(to, sizeof(to), "%s/%s", r->cfg->jid, nick) >= sizeof(to))
		return;
	xmpp_stanza_t *p = xmpp_presence_new(x->ctx);
	if (!p)
		return;
	xmpp_stanza_set_to(p, to);
	xmpp_stanza_t *mx = muc ? mxb_stanza_add_child(x->ctx, p, "x", NS_MUC) : NULL;
	if (mx) {
		/* History is old news, and never a command: ask for none. */
		xmpp_stanza_t *h = mxb_stanza_add_child(x->ctx, mx, "history", NULL);
		if (h)
			xmpp_stanza_set_attribute(h, "maxstanzas", "0");
		if (r->cfg->password)
			mxb_stanza_add_text(x->ctx, mx, "password", r->cfg->password);
	}
	if (x->cfg->xmpp.status && *x->cfg->xmpp.status)
		mxb_stanza_add_text(x->ctx, p, "status", x->cfg->xmpp.status);
	send_stanza(x, p);
	xmpp_stanza_release(p);
}

/* Joins as the configured nick, as every new session does. */
static void join_room(struct mxb_xmpp *x, struct room *r, int64_t now)
{
	occupants_clear(r);
	if (mxb_room_join(&r->seat, now) < 0) {
		mxb_log_error("xmpp: cannot join room '%s': out of memory", r->cfg->jid);
		return;
	}
	send_room_presence(x, r, r->seat.nick, true);
	mxb_log_debug("xmpp: joining room '%s' as '%s'", r->cfg->jid, r->seat.nick);
}

static const char *error_condition(xmpp_stanza_t *st)
{
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "error");
	for (xmpp_stanza_t *c = e ? xmpp_stanza_get_children(e) : NULL; c;
		c = xmpp_stanza_get_next(c)) {
		const char *ns = xmpp_stanza_get_ns(c);
		const char *name = xmpp_stanza_get_name(c);
		if (ns && name && strcmp(ns, NS_STANZAS) == 0 && strcmp(name, "text") != 0)
			return name;
	}
	return "unknown";
}

static bool has_status_code(xmpp_stanza_t *xuser, const char *code)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(xuser); c; c = xmpp_stanza_get_next(c)) {
		const char *name = xmpp_stanza_get_name(c);
		const char *v = name && strcmp(name, "status") == 0
					? xmpp_stanza_get_attribute(c, "code")
					: NULL;
		if (v && strcmp(v, code) == 0)
			return true;
	}
	return false;
}

/* An error presence for the bridge's own seat, from room/nick. */
static void room_error(struct mxb_xmpp *x, struct room *r, xmpp_stanza_t *st, const char *nick)
{
	const char *cond = error_condition(st);
	int64_t now = mxb_now_ms();
	struct mxb_room_seat *s = &r->seat;
	switch (mxb_room_error(s, nick, cond, now)) {
	case MXB_ROOM_TAKEN:
		mxb_log_warn("xmpp: nick '%s' is taken in room '%s'; joining as '%s'", nick,
			r->cfg->jid, s->nick);
		occupants_clear(r);
		send_room_presence(x, r, s->nick, true);
		break;
	case MXB_ROOM_STILL_TAKEN:
		mxb_log_debug("xmpp: nick '%s' in room '%s' is still unavailable: %s", nick,
			r->cfg->jid, cond);
		break;
	case MXB_ROOM_REFUSED:
		mxb_log_error("xmpp: cannot join room '%s' as '%s': %s; retrying in %.1f s",
			r->cfg->jid, nick, cond, (double)(s->rejoin_at - now) / 1000.0);
		break;
	default:
		break;
	}
}

/* The bridge's own presence in r, available or not. */
static void room_self(
	struct mxb_xmpp *x, struct room *r, const char *nick, bool gone, const char *renamed)
{
	int64_t now = mxb_now_ms();
	struct mxb_room_seat *s = &r->seat;
	enum mxb_room_news news =
		gone ? mxb_room_gone(s, renamed, now) : mxb_room_present(s, nick, now);
	switch (news) {
	case MXB_ROOM_JOINED:
		mxb_log_info("xmpp: joined room '%s' as '%s'", r->cfg->jid, s->nick);
		break;
	case MXB_ROOM_JOINED_ALT:
		mxb_log_warn("xmpp: joined room '%s' as '%s' ('%s' is taken); asking for '%s' "
			     "again in %.1f s",
			r->cfg->jid, s->nick, s->want, s->want,
			(double)(s->reclaim_at - now) / 1000.0);
		break;
	case MXB_ROOM_NICK_BACK:
		mxb_log_info("xmpp: took back the nick '%s' in room '%s'", nick, r->cfg->jid);
		return;
	case MXB_ROOM_RENAMED:
		occupant_remove(r, nick);
		return;
	case MXB_ROOM_REMOVED:
		mxb_log_warn("xmpp: removed from room '%s'; rejoining in %d s", r->cfg->jid,
			MXB_ROOM_REJOIN_MS / 1000);
		occupants_clear(r);
		return;
	default:
		return;
	}
	if (x->handlers.room_joined)
		x->handlers.room_joined(r->cfg->jid, x->data);
}

/* Presence from a room: joins, occupants' roles, and the bridge being refused or kicked. */
static void room_presence(struct mxb_xmpp *x, struct room *r, xmpp_stanza_t *st, const char *from)
{
	const char *slash = strchr(from, '/');
	if (!slash)
		return;
	const char *nick = slash + 1;
	const char *type = xmpp_stanza_get_type(st);
	bool self = mxb_room_is_self(&r->seat, nick);
	if (type && strcmp(type, "error") == 0) {
		/* Not ours while joined: an answer to a request for the configured nick. */
		if (self || !r->seat.joined || strcmp(nick, r->seat.want) == 0)
			room_error(x, r, st, nick);
		return;
	}
	xmpp_stanza_t *xu = xmpp_stanza_get_child_by_ns(st, NS_MUC_USER);
	xmpp_stanza_t *item = xu ? xmpp_stanza_get_child_by_name(xu, "item") : NULL;
	self = self || (xu && has_status_code(xu, "110"));
	if (type && strcmp(type, "unavailable") == 0) {
		const char *renamed = item && has_status_code(xu, "303")
					      ? xmpp_stanza_get_attribute(item, "nick")
					      : NULL;
		if (self)
			room_self(x, r, nick, true, renamed);
		else
			occupant_remove(r, nick);
		return;
	}
	if (item)
		occupant_set(r, nick, xmpp_stanza_get_attribute(item, "role"),
			xmpp_stanza_get_attribute(item, "affiliation"),
			xmpp_stanza_get_attribute(item, "jid"));
	if (self)
		room_self(x, r, nick, false, NULL);
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
		int r = mxb_roster_set(
			x->roster, bare, xmpp_stanza_get_attribute(i, "subscription"));
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
	struct mxb_xmpp *x = data;
	x->sm_in++;
	const char *type = xmpp_stanza_get_type(st);
	if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
		return 1;
	xmpp_stanza_t *child = xmpp_stanza_get_children(st);
	while (child && !xmpp_stanza_is_tag(child))
		child = xmpp_stanza_get_next(child);
	const char *ns = child ? xmpp_stanza_get_ns(child) : NULL;
	bool get = strcmp(type, "get") == 0;
	xmpp_stanza_t *reply = NULL;

	if (ns && get && strcmp(ns, NS_PING) == 0) {
		reply = mxb_stanza_result(st);
	} else if (ns && get && strcmp(ns, NS_DISCO_INFO) == 0 &&
		   !xmpp_stanza_get_attribute(child, "node")) {
		reply = mxb_stanza_result(st);
		if (reply) {
			xmpp_stanza_t *q =
				mxb_stanza_add_child(x->ctx, reply, "query", NS_DISCO_INFO);
			xmpp_stanza_t *id =
				q ? mxb_stanza_add_child(x->ctx, q, "identity", NULL) : NULL;
			if (id) {
				xmpp_stanza_set_attribute(id, "category", "client");
				xmpp_stanza_set_attribute(id, "type", "bot");
				xmpp_stanza_set_attribute(id, "name", "mqtt-xmpp-bridge");
			}
			const char *features[] = {NS_DISCO_INFO, NS_PING, NS_VERSION};
			for (size_t i = 0; q && i < sizeof(features) / sizeof(features[0]); i++) {
				xmpp_stanza_t *f = mxb_stanza_add_child(x->ctx, q, "feature", NULL);
				if (f)
					xmpp_stanza_set_attribute(f, "var", features[i]);
			}
		}
	} else if (ns && get && strcmp(ns, NS_VERSION) == 0) {
		reply = mxb_stanza_result(st);
		xmpp_stanza_t *q =
			reply ? mxb_stanza_add_child(x->ctx, reply, "query", NS_VERSION) : NULL;
		if (q) {
			mxb_stanza_add_text(x->ctx, q, "name", "mqtt-xmpp-bridge");
			mxb_stanza_add_text(x->ctx, q, "version", MXB_VERSION);
		}
	} else if (ns && !get && strcmp(ns, NS_ROSTER) == 0 &&
		   from_self_or_server(x, xmpp_stanza_get_from(st))) {
		/* A roster push: acknowledge it (RFC 6121 2.1.6). */
		roster_update(x, child, false);
		reply = mxb_stanza_result(st);
	} else {
		mxb_log_debug("xmpp: no service for iq %s '%s' from '%s'", type, ns ? ns : "(none)",
			xmpp_stanza_get_from(st) ? xmpp_stanza_get_from(st) : "");
		reply = xmpp_stanza_reply_error(st, "cancel", "service-unavailable", NULL);
	}
	if (reply) {
		send_stanza(x, reply);
		xmpp_stanza_release(reply);
	}
	return 1;
}

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	x->sm_in++;
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	struct room *room = from ? find_room(x, from) : NULL;
	if (room) {
		room_presence(x, room, st, from);
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
		xmpp_free(x->ctx, show);
		xmpp_free(x->ctx, status);
		xmpp_free(x->ctx, prio);
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

static bool has_child_ns(xmpp_stanza_t *st, const char *ns)
{
	return xmpp_stanza_get_child_by_ns(st, ns) != NULL;
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	x->sm_in++;
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	if (!type)
		type = "normal";
	if (strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0 &&
		strcmp(type, "groupchat") != 0)
		return 1;
	if (!from || mxb_jid_bare_equal(from, x->bare))
		return 1;
	struct room *room = find_room(x, from);
	const struct occupant *occ = NULL;
	if (room) {
		const char *slash = strchr(from, '/');
		/* The room itself (subject, notices), our own echo, history: never commands. */
		if (!slash || !room->seat.joined || mxb_room_is_self(&room->seat, slash + 1))
			return 1;
		if (xmpp_stanza_get_child_by_ns(st, NS_DELAY)) {
			mxb_log_debug(
				"xmpp: ignoring delayed message in room '%s'", room->cfg->jid);
			return 1;
		}
		occ = occupant_find(room, slash + 1);
	} else if (strcmp(type, "groupchat") == 0) {
		return 1;
	}
	/* A carbon or forward carries someone else's words: never a command of the sender. */
	if (has_child_ns(st, NS_CARBONS) || has_child_ns(st, NS_FORWARD)) {
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
	xmpp_free(x->ctx, body);
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

static int on_pong(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	(void)st;
	struct mxb_xmpp *x = data;
	/* Any answer, even an error, proves the link is alive. */
	x->ping_deadline = 0;
	return 0;
}

static const char *stream_error_name(xmpp_error_type_t type)
{
	static const char *const names[] = {"bad-format", "bad-namespace-prefix", "conflict",
		"connection-timeout", "host-gone", "host-unknown", "improper-addressing",
		"internal-server-error", "invalid-from", "invalid-id", "invalid-namespace",
		"invalid-xml", "not-authorized", "policy-violation", "remote-connection-failed",
		"resource-constraint", "restricted-xml", "see-other-host", "system-shutdown",
		"undefined-condition", "unsupported-encoding", "unsupported-stanza-type",
		"unsupported-version", "not-well-formed"};
	size_t i = (size_t)type;
	return i < sizeof(names) / sizeof(names[0]) ? names[i] : "unknown";
}

static void went_down(struct mxb_xmpp *x, int64_t now, bool stream_error)
{
	x->sm_active = false;
	x->sm_waiting = false;
	for (size_t i = 0; i < x->rooms_len; i++) {
		mxb_room_down(&x->rooms[i].seat);
		occupants_clear(&x->rooms[i]);
	}
	x->fd = -1;
	x->ping_deadline = 0;
	if (x->state == STATE_CLOSING || x->shutting_down) {
		x->state = STATE_CLOSED;
		return;
	}
	bool was_up = x->state == STATE_UP;
	x->state = STATE_DOWN;
	int64_t delay = mxb_backoff_down(&x->backoff, now);
	x->deadline = now + delay;
	mxb_log_info("xmpp: reconnecting in %.1f s", (double)delay / 1000.0);
	if (was_up && x->handlers.offline)
		x->handlers.offline(stream_error, x->data);
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
	xmpp_stream_error_t *stream_error, void *data)
{
	struct mxb_xmpp *x = data;
	int64_t now = mxb_now_ms();
	if (event == XMPP_CONN_CONNECT) {
		x->state = STATE_UP;
		/*
		 * libstrophe formats every stanza for a log handler, even one that drops it: once
		 * the login (whose failures the handler reads) is over, only debug needs it.
		 */
		if (mxb_log_level < MXB_LOG_DEBUG)
			x->log.handler = NULL;
		x->sasl_failed = false;
		mxb_backoff_up(&x->backoff, now);
		x->next_ping = now + (int64_t)x->cfg->xmpp.ping_interval * 1000;
		const char *bound = xmpp_conn_get_bound_jid(conn);
		mxb_log_info("xmpp: session established as '%s' (%s)", bound ? bound : "?",
			xmpp_conn_is_secured(conn) ? "TLS" : "no TLS");
		/* The server counts what it receives from <enable/> on. */
		x->sm_out = 0;
		x->sm_acked = 0;
		x->sm_r_pending = false;
		x->sm_active = false;
		x->sm_waiting = x->sm_offered;
		x->sm_deadline = now + SM_ENABLE_TIMEOUT_MS;
		if (x->sm_offered)
			xmpp_send_raw_string(conn, "<enable xmlns='" NS_SM "'/>");
		xmpp_stanza_t *iq = xmpp_iq_new(x->ctx, "get", "roster1");
		if (iq) {
			mxb_stanza_add_child(x->ctx, iq, "query", NS_ROSTER);
			xmpp_id_handler_add(conn, on_roster, "roster1", x);
			send_stanza(x, iq);
			xmpp_stanza_release(iq);
		}
		send_presence(x, NULL, NULL, x->cfg->xmpp.status);
		for (size_t i = 0; i < x->rooms_len; i++)
			join_room(x, &x->rooms[i], now);
		if (x->sm_waiting)
			return; /* online once <enabled/> (or its timeout) says how delivery works
				 */
		if (!x->sm_warned)
			mxb_log_warn("xmpp: the server offers no stream management (XEP-0198); "
				     "messages in flight when a connection drops can be lost");
		x->sm_warned = true;
		if (x->handlers.online)
			x->handlers.online(x->data);
		return;
	}
	if (event != XMPP_CONN_DISCONNECT && event != XMPP_CONN_FAIL)
		return;

	if (x->state == STATE_CONNECTING) {
		if (x->sasl_failed) {
			mxb_log_error("xmpp: authentication failed for '%s'", x->bare);
		} else if (stream_error) {
			mxb_log_error("xmpp: server closed the stream before the session: %s%s%s",
				stream_error_name(stream_error->type),
				stream_error->text ? ": " : "",
				stream_error->text ? stream_error->text : "");
		} else if (error) {
			mxb_log_error("xmpp: cannot connect to %s: %s",
				x->cfg->xmpp.host ? x->cfg->xmpp.host : "the JID's domain",
				strerror(error));
		} else {
			mxb_log_error("xmpp: connection closed before the session was established "
				      "(TLS or authentication refused)");
		}
	} else if (x->state == STATE_UP) {
		if (stream_error)
			mxb_log_warn("xmpp: stream error <%s/>%s%s",
				stream_error_name(stream_error->type),
				stream_error->text ? ": " : "",
				stream_error->text ? stream_error->text : "");
		else
			mxb_log_warn("xmpp: disconnected%s%s", error ? ": " : "",
				error ? strerror(error) : "");
	}
	went_down(x, now, stream_error != NULL);
}

/*
 * XEP-0198, done here rather than by libstrophe 0.12.2, which has no ack callback and
 * asks for an ack after every stanza: the bridge counts its stanzas both ways, asks for
 * one ack per batch, and answers the server's requests.
 */
static void sm_ready(struct mxb_xmpp *x, bool on)
{
	if (!x->sm_waiting)
		return;
	x->sm_waiting = false;
	x->sm_active = on;
	if (on)
		mxb_log_info("xmpp: stream management on: messages are held until the server "
			     "acknowledges them");
	else
		mxb_log_warn("xmpp: the server refused stream management (XEP-0198); messages in "
			     "flight when a connection drops can be lost");
	if (x->handlers.online)
		x->handlers.online(x->data);
}

static int on_sm_enabled(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	(void)st;
	struct mxb_xmpp *x = data;
	/* The server counts what it sends from here on. */
	x->sm_in = 0;
	sm_ready(x, true);
	return 1;
}

static int on_sm_failed(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	(void)st;
	sm_ready(data, false);
	return 1;
}

static int on_sm_ack(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	const char *h = xmpp_stanza_get_attribute(st, "h");
	x->sm_r_pending = false;
	if (!x->sm_active || !h)
		return 1;
	x->sm_acked = (uint32_t)strtoul(h, NULL, 10);
	if (x->handlers.acked)
		x->handlers.acked(x->sm_acked, x->data);
	return 1;
}

static int on_sm_request(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)st;
	struct mxb_xmpp *x = data;
	if (x->sm_active)
		xmpp_send_raw_string(conn, "<a xmlns='" NS_SM "' h='%u'/>", x->sm_in);
	return 1;
}

/*
 * A fresh connection object for every attempt: reusing one makes libstrophe resume the
 * old stream and resend its own copies of what the bridge resends itself.
 */
static int new_conn(struct mxb_xmpp *x)
{
	const struct mxb_config *cfg = x->cfg;
	if (x->conn) {
		/* xmpp_conn_release() of 0.12.2 leaves this state (and its copies) behind. */
		xmpp_sm_state_t *sm = xmpp_conn_get_sm_state(x->conn);
		if (sm)
			xmpp_free_sm_state(sm);
		xmpp_conn_release(x->conn);
	}
	x->conn = xmpp_conn_new(x->ctx);
	if (!x->conn)
		return -ENOMEM;
	long flags = 0;
	switch (cfg->xmpp.tls) {
	case MXB_XMPP_TLS_STARTTLS:
		flags = XMPP_CONN_FLAG_MANDATORY_TLS;
		break;
	case MXB_XMPP_TLS_DIRECT:
		flags = XMPP_CONN_FLAG_LEGACY_SSL;
		break;
	case MXB_XMPP_TLS_NONE:
		flags = XMPP_CONN_FLAG_DISABLE_TLS;
		break;
	}
	/* Flags are set whole: a get|set round trip would lose DISABLE_SM. */
	if (xmpp_conn_set_flags(x->conn, flags | XMPP_CONN_FLAG_DISABLE_SM) != XMPP_EOK)
		return -EINVAL;
	xmpp_conn_set_jid(x->conn, cfg->xmpp.jid);
	if (cfg->xmpp.password)
		xmpp_conn_set_pass(x->conn, cfg->xmpp.password);
	if (cfg->xmpp.ca_file)
		xmpp_conn_set_cafile(x->conn, cfg->xmpp.ca_file);
	if (cfg->xmpp.client_cert)
		xmpp_conn_set_client_cert(x->conn, cfg->xmpp.client_cert, cfg->xmpp.client_key);
	xmpp_conn_set_certfail_handler(x->conn, on_certfail);
	xmpp_conn_set_sockopt_callback(x->conn, on_sockopt);
	xmpp_handler_add(x->conn, on_message, NULL, "message", NULL, x);
	xmpp_handler_add(x->conn, on_iq, NULL, "iq", NULL, x);
	xmpp_handler_add(x->conn, on_presence, NULL, "presence", NULL, x);
	xmpp_handler_add(x->conn, on_sm_enabled, NS_SM, "enabled", NULL, x);
	xmpp_handler_add(x->conn, on_sm_failed, NS_SM, "failed", NULL, x);
	xmpp_handler_add(x->conn, on_sm_ack, NS_SM, "a", NULL, x);
	xmpp_handler_add(x->conn, on_sm_request, NS_SM, "r", NULL, x);
	return 0;
}

int mxb_xmpp_create(struct mxb_xmpp **out, const struct mxb_config *cfg,
	const struct mxb_xmpp_handlers *handlers, void *data)
{
	size_t slot = 0;
	while (slot < sizeof(owners) / sizeof(owners[0]) && owners[slot])
		slot++;
	if (slot == sizeof(owners) / sizeof(owners[0]))
		return -EMFILE;
	struct mxb_xmpp *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->cfg = cfg;
	x->handlers = *handlers;
	x->data = data;
	x->fd = -1;
	x->state = STATE_DOWN;
	mxb_backoff_init(&x->backoff, cfg->xmpp.reconnect_max);
	if (mxb_jid_bare(cfg->xmpp.jid, x->bare, sizeof(x->bare)) < 0)
		goto err_free;
	x->roster = mxb_roster_create();
	if (!x->roster)
		goto err_free;
	x->rooms = calloc(cfg->xmpp.rooms_len ? cfg->xmpp.rooms_len : 1, sizeof(*x->rooms));
	if (!x->rooms)
		goto err_free;
	x->rooms_len = cfg->xmpp.rooms_len;
	for (size_t i = 0; i < x->rooms_len; i++) {
		x->rooms[i].cfg = &cfg->xmpp.rooms[i];
		mxb_room_seat_init(&x->rooms[i].seat, cfg->xmpp.rooms[i].nick);
	}

	xmpp_initialize();
	x->log.handler = on_log;
	x->log.userdata = x;
	x->ctx = xmpp_ctx_new(NULL, &x->log);
	if (!x->ctx)
		goto err_shutdown;
	if (cfg->xmpp.tls == MXB_XMPP_TLS_NONE)
		mxb_log_warn("xmpp: TLS is disabled (xmpp.tls = \"none\"): the password and all "
			     "messages cross the network in clear text");
	if (new_conn(x) < 0)
		goto err_free_ctx;

	owners[slot] = x;
	*out = x;
	return 0;

err_free_ctx:
	xmpp_ctx_free(x->ctx);
err_shutdown:
	xmpp_shutdown();
err_free:
	free(x->rooms);
	mxb_roster_destroy(x->roster);
	free(x);
	return -ENOMEM;
}

void mxb_xmpp_destroy(struct mxb_xmpp *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
		if (owners[i] == x)
			owners[i] = NULL;
	}
	xmpp_sm_state_t *sm = xmpp_conn_get_sm_state(x->conn);
	if (sm)
		xmpp_free_sm_state(sm);
	xmpp_conn_release(x->conn);
	xmpp_ctx_free(x->ctx);
	xmpp_shutdown();
	for (size_t i = 0; i < x->rooms_len; i++) {
		occupants_clear(&x->rooms[i]);
		free(x->rooms[i].occupants);
		mxb_room_seat_finish(&x->rooms[i].seat);
	}
	free(x->rooms);
	mxb_roster_destroy(x->roster);
	free(x);
}

static void attempt(struct mxb_xmpp *x, int64_t now)
{
	const struct mxb_config *cfg = x->cfg;
	if (x->used && new_conn(x) < 0) {
		mxb_log_error("xmpp: out of memory");
		x->state = STATE_CONNECTING;
		went_down(x, now, false);
		return;
	}
	x->used = true;
	x->state = STATE_CONNECTING;
	x->sasl_failed = false;
	x->sm_offered = false;
	x->log.handler = on_log;
	mxb_log_debug("xmpp: connecting to %s", cfg->xmpp.host ? cfg->xmpp.host : x->bare);
	int rc = xmpp_connect_client(
		x->conn, cfg->xmpp.host, (unsigned short)cfg->xmpp.port, on_conn, x);
	if (rc != XMPP_EOK) {
		/* A synchronous failure (resolver, socket) fires no callback. */
		mxb_log_warn("xmpp: cannot start a connection to %s",
			cfg->xmpp.host ? cfg->xmpp.host : "the JID's domain");
		x->state = STATE_CONNECTING;
		went_down(x, now, false);
	}
}

void mxb_xmpp_start(struct mxb_xmpp *x, int64_t now)
{
	attempt(x, now);
}

int mxb_xmpp_fd(const struct mxb_xmpp *x)
{
	if (x->state == STATE_DOWN || x->state == STATE_CLOSED)
		return -1;
	return x->fd;
}

short mxb_xmpp_events(const struct mxb_xmpp *x)
{
	return mxb_strophe_events(x->conn);
}

void mxb_xmpp_handle(struct mxb_xmpp *x, int64_t now)
{
	(void)now;
	mxb_strophe_run(x->ctx, &x->fd);
	/* One ack request covers everything this pass sent. */
	if (x->state == STATE_UP && x->sm_active && !x->sm_r_pending && x->sm_out != x->sm_acked) {
		xmpp_send_raw_string(x->conn, "<r xmlns='" NS_SM "'/>");
		x->sm_r_pending = true;
		xmpp_run_once(x->ctx, 0);
	}
}

int64_t mxb_xmpp_tick(struct mxb_xmpp *x, int64_t now)
{
	switch (x->state) {
	case STATE_DOWN:
		if (now >= x->deadline) {
			if (x->shutting_down)
				x->state = STATE_CLOSED;
			else
				attempt(x, now);
		}
		break;
	case STATE_UP:
		if (x->sm_waiting && now >= x->sm_deadline) {
			x->sm_waiting = false;
			mxb_log_warn("xmpp: no answer to enabling stream management (XEP-0198); "
				     "going on without acks");
			if (x->handlers.online)
				x->handlers.online(x->data);
		}
		for (size_t i = 0; i < x->rooms_len; i++) {
			struct room *r = &x->rooms[i];
			switch (mxb_room_tick(&r->seat, now)) {
			case MXB_ROOM_JOIN:
				occupants_clear(r);
				send_room_presence(x, r, r->seat.nick, true);
				break;
			case MXB_ROOM_ASK_NICK:
				/* The room answers with a 303 or an error. */
				send_room_presence(x, r, r->seat.want, false);
				break;
			case MXB_ROOM_NONE:
				break;
			}
		}
		if (x->ping_deadline && now >= x->ping_deadline) {
			mxb_log_warn("xmpp: no answer to ping within %d s; reconnecting",
				x->cfg->xmpp.ping_timeout);
			x->ping_deadline = 0;
			xmpp_disconnect(x->conn);
		} else if (!x->ping_deadline && now >= x->next_ping) {
			xmpp_stanza_t *iq = xmpp_iq_new(x->ctx, "get", "mxb-ping");
			if (iq) {
				mxb_stanza_add_child(x->ctx, iq, "ping", NS_PING);
				xmpp_id_handler_add(x->conn, on_pong, "mxb-ping", x);
				send_stanza(x, iq);
				xmpp_stanza_release(iq);
				x->ping_deadline = now + (int64_t)x->cfg->xmpp.ping_timeout * 1000;
			}
			x->next_ping = now + (int64_t)x->cfg->xmpp.ping_interval * 1000;
		}
		break;
	case STATE_CLOSING:
		if (now >= x->deadline) {
			mxb_log_warn("xmpp: server did not close the stream in time");
			x->state = STATE_CLOSED;
		}
		break;
	case STATE_CONNECTING:
	case STATE_CLOSED:
		break;
	}
	int64_t next = now + RUN_INTERVAL_MS;
	if ((x->state == STATE_DOWN || x->state == STATE_CLOSING) && x->deadline < next)
		next = x->deadline;
	return next;
}

bool mxb_xmpp_is_up(const struct mxb_xmpp *x)
{
	return x->state == STATE_UP;
}

int mxb_xmpp_send_message(struct mxb_xmpp *x, const char *to, const char *type, const char *body,
	const char *id, uint32_t *seq)
{
	if (x->state != STATE_UP || x->sm_waiting)
		return -ENOTCONN;
	struct room *room = find_room(x, to);
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
	xmpp_stanza_t *m = xmpp_message_new(x->ctx, type, to, id);
	if (!m)
		return -ENOMEM;
	int rc = xmpp_message_set_body(m, body);
	/* XEP-0359: the same id on every copy, so that receivers can drop a resent one. */
	xmpp_stanza_t *oid =
		rc == XMPP_EOK && id ? mxb_stanza_add_child(x->ctx, m, "origin-id", NS_SID) : NULL;
	if (oid)
		xmpp_stanza_set_id(oid, id);
	if (rc == XMPP_EOK) {
		send_stanza(x, m);
		*seq = x->sm_active ? x->sm_out : 0;
	}
	xmpp_stanza_release(m);
	return rc == XMPP_EOK ? 0 : -ENOMEM;
}

int mxb_xmpp_send_forbidden(struct mxb_xmpp *x, const char *to, const char *id, const char *text)
{
	if (x->state != STATE_UP)
		return -ENOTCONN;
	xmpp_stanza_t *m = mxb_stanza_forbidden(x->ctx, to, id, text);
	if (!m)
		return -ENOMEM;
	send_stanza(x, m);
	xmpp_stanza_release(m);
	return 0;
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
	if (x->state != STATE_UP) {
		x->left = true;
		return;
	}
	send_presence(x, "unavailable", NULL, NULL);
	/*
	 * The server answers in order: once this ping's answer is in, every message it routed
	 * to the bridge before it took the bridge for unavailable has arrived too.
	 */
	xmpp_stanza_t *iq = xmpp_iq_new(x->ctx, "get", "mxb-leave");
	if (!iq) {
		x->left = true;
		return;
	}
	mxb_stanza_add_child(x->ctx, iq, "ping", NS_PING);
	xmpp_id_handler_add(x->conn, on_left, "mxb-leave", x);
	send_stanza(x, iq);
	xmpp_stanza_release(iq);
}

bool mxb_xmpp_has_left(const struct mxb_xmpp *x)
{
	return x->left || x->state != STATE_UP;
}

void mxb_xmpp_shutdown(struct mxb_xmpp *x, int64_t now)
{
	x->shutting_down = true;
	if (x->state == STATE_UP) {
		send_presence(x, "unavailable", NULL, NULL);
		xmpp_disconnect(x->conn);
		x->state = STATE_CLOSING;
		x->deadline = now + SHUTDOWN_TIMEOUT_MS;
		return;
	}
	if (x->state == STATE_CONNECTING) {
		xmpp_disconnect(x->conn);
		x->state = STATE_CLOSING;
		x->deadline = now + SHUTDOWN_TIMEOUT_MS;
		return;
	}
	x->state = STATE_CLOSED;
}

bool mxb_xmpp_is_closed(const struct mxb_xmpp *x)
{
	return x->state == STATE_CLOSED;
}
