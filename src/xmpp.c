#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "ns.h"
#include "room.h"
#include "roster.h"
#include "session.h"
#include "sm.h"
#include "xmpp.h"

/*
 * The client's group chats (XEP-0045): joining each configured room, the occupants seen
 * there (nick, role, affiliation, real JID), the bridge's own seat through room.c's pure
 * decisions (alternate nicks, rejoins, reclaiming the nick), and telling which messages
 * from a room may be taken as commands. The client embeds a struct mxb_muc; only the
 * session files include this header.
 */

/* An occupant list is bounded: a huge room must not grow the bridge without limit. */
#define MXB_MUC_OCCUPANTS_MAX 2000

struct mxb_muc_occupant {
	char *nick;
	char *real_jid; /* bare, or NULL */
	int role; /* enum mxb_muc_role */
	int affiliation; /* enum mxb_muc_affiliation */
};

struct mxb_muc_room {
	const struct mxb_room *cfg; /* borrowed from the config */
	struct mxb_room_seat seat;
	struct mxb_muc_occupant *occupants;
	size_t len, cap;
};

struct mxb_muc {
	struct mxb_session *s; /* borrowed: the session the presences go through */
	const char *status; /* borrowed: the bridge's status text, or NULL */
	struct mxb_muc_room *rooms;
	size_t len;
	/* The bridge's presence in room was confirmed: it may talk there now. May be NULL. */
	void (*joined)(const char *room, void *data);
	void *data;
};

/*
 * Sets up the rooms of rooms[0..len) (borrowed, like status, s and data: they must outlive
 * m). Returns 0 or -ENOMEM.
 */
static int muc_init(struct mxb_muc *m, struct mxb_session *s, const struct mxb_room *rooms,
	size_t len, const char *status, void (*joined)(const char *room, void *data), void *data);
static void muc_finish(struct mxb_muc *m);

/* A new session: joins every room as its configured nick. */
static void muc_join(struct mxb_muc *m, int64_t now);
/* The session ended: out of every room, occupants forgotten. */
static void muc_down(struct mxb_muc *m);
/* Rejoins and nick requests that are due. */
static void muc_tick(struct mxb_muc *m, int64_t now);

/* The room jid (full or bare) belongs to, or NULL. Inline: every stanza asks. */
static inline struct mxb_muc_room *muc_find(struct mxb_muc *m, const char *jid)
{
	for (size_t i = 0; i < m->len; i++) {
		if (mxb_jid_bare_equal(m->rooms[i].cfg->jid, jid))
			return &m->rooms[i];
	}
	return NULL;
}
/* Presence from room r (from is room/nick): joins, occupants, refusals, kicks. */
static void muc_presence(
	struct mxb_muc *m, struct mxb_muc_room *r, xmpp_stanza_t *st, const char *from);
/*
 * Whether a message from room r (from is room/nick) is someone's words to act on: not the
 * room itself, not the bridge's own echo, not history. *occ is the sender as last seen, or
 * NULL when unknown.
 */
static bool muc_message(struct mxb_muc_room *r, xmpp_stanza_t *st, const char *from,
	const struct mxb_muc_occupant **occ);

static int muc_init(struct mxb_muc *m, struct mxb_session *s, const struct mxb_room *rooms,
	size_t len, const char *status, void (*joined)(const char *room, void *data), void *data)
{
	*m = (struct mxb_muc){.s = s, .status = status, .joined = joined, .data = data};
	m->rooms = calloc(len ? len : 1, sizeof(*m->rooms));
	if (!m->rooms)
		return -ENOMEM;
	m->len = len;
	for (size_t i = 0; i < len; i++) {
		m->rooms[i].cfg = &rooms[i];
		mxb_room_seat_init(&m->rooms[i].seat, rooms[i].nick);
	}
	return 0;
}

static void occupants_clear(struct mxb_muc_room *r)
{
	for (size_t i = 0; i < r->len; i++) {
		free(r->occupants[i].nick);
		free(r->occupants[i].real_jid);
	}
	r->len = 0;
}

static void muc_finish(struct mxb_muc *m)
{
	for (size_t i = 0; i < m->len; i++) {
		occupants_clear(&m->rooms[i]);
		free(m->rooms[i].occupants);
		mxb_room_seat_finish(&m->rooms[i].seat);
	}
	free(m->rooms);
}

static struct mxb_muc_occupant *occupant_find(struct mxb_muc_room *r, const char *nick)
{
	for (size_t i = 0; i < r->len; i++) {
		if (strcmp(r->occupants[i].nick, nick) == 0)
			return &r->occupants[i];
	}
	return NULL;
}

static void occupant_remove(struct mxb_muc_room *r, const char *nick)
{
	struct mxb_muc_occupant *o = occupant_find(r, nick);
	if (!o)
		return;
	free(o->nick);
	free(o->real_jid);
	*o = r->occupants[--r->len];
}

static void occupant_set(struct mxb_muc_room *r, const char *nick, const char *role,
	const char *aff, const char *jid)
{
	struct mxb_muc_occupant *o = occupant_find(r, nick);
	if (!o) {
		if (r->len == MXB_MUC_OCCUPANTS_MAX)
			return;
		if (r->len == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 8;
			struct mxb_muc_occupant *v = realloc(r->occupants, cap * sizeof(*v));
			if (!v)
				return;
			r->occupants = v;
			r->cap = cap;
		}
		char *n = strdup(nick);
		if (!n)
			return;
		o = &r->occupants[r->len++];
		*o = (struct mxb_muc_occupant){.nick = n};
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
static void send_room_presence(
	struct mxb_muc *m, struct mxb_muc_room *r, const char *nick, bool muc)
{
	xmpp_ctx_t *ctx = m->s->ctx;
	char to[2 * MXB_JID_MAX + 8];
	if ((size_t)snprintf(to, sizeof(to), "%s/%s", r->cfg->jid, nick) >= sizeof(to))
		return;
	xmpp_stanza_t *p = xmpp_presence_new(ctx);
	if (!p)
		return;
	xmpp_stanza_set_to(p, to);
	xmpp_stanza_t *mx = muc ? mxb_stanza_add_child(ctx, p, "x", NS_MUC) : NULL;
	if (mx) {
		/* History is old news, and never a command: ask for none. */
		xmpp_stanza_t *h = mxb_stanza_add_child(ctx, mx, "history", NULL);
		if (h)
			xmpp_stanza_set_attribute(h, "maxstanzas", "0");
		if (r->cfg->password)
			mxb_stanza_add_text(ctx, mx, "password", r->cfg->password);
	}
	if (m->status && *m->status)
		mxb_stanza_add_text(ctx, p, "status", m->status);
	mxb_session_send(m->s, p);
	xmpp_stanza_release(p);
}

static void muc_join(struct mxb_muc *m, int64_t now)
{
	for (size_t i = 0; i < m->len; i++) {
		struct mxb_muc_room *r = &m->rooms[i];
		occupants_clear(r);
		if (mxb_room_join(&r->seat, now) < 0) {
			mxb_log_error("%s: cannot join room '%s': out of memory", m->s->params.tag,
				r->cfg->jid);
			continue;
		}
		send_room_presence(m, r, r->seat.nick, true);
		mxb_log_debug("%s: joining room '%s' as '%s'", m->s->params.tag, r->cfg->jid,
			r->seat.nick);
	}
}

static void muc_down(struct mxb_muc *m)
{
	for (size_t i = 0; i < m->len; i++) {
		mxb_room_down(&m->rooms[i].seat);
		occupants_clear(&m->rooms[i]);
	}
}

static void muc_tick(struct mxb_muc *m, int64_t now)
{
	for (size_t i = 0; i < m->len; i++) {
		struct mxb_muc_room *r = &m->rooms[i];
		switch (mxb_room_tick(&r->seat, now)) {
		case MXB_ROOM_JOIN:
			occupants_clear(r);
			send_room_presence(m, r, r->seat.nick, true);
			break;
		case MXB_ROOM_ASK_NICK:
			/* The room answers with a 303 or an error. */
			send_room_presence(m, r, r->seat.want, false);
			break;
		case MXB_ROOM_NONE:
			break;
		}
	}
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
static void room_error(
	struct mxb_muc *m, struct mxb_muc_room *r, xmpp_stanza_t *st, const char *nick)
{
	const char *tag = m->s->params.tag;
	const char *cond = mxb_stanza_error_condition(st);
	int64_t now = mxb_now_ms();
	struct mxb_room_seat *s = &r->seat;
	switch (mxb_room_error(s, nick, cond, now)) {
	case MXB_ROOM_TAKEN:
		mxb_log_warn("%s: nick '%s' is taken in room '%s'; joining as '%s'", tag, nick,
			r->cfg->jid, s->nick);
		occupants_clear(r);
		send_room_presence(m, r, s->nick, true);
		break;
	case MXB_ROOM_STILL_TAKEN:
		mxb_log_debug("%s: nick '%s' in room '%s' is still unavailable: %s", tag, nick,
			r->cfg->jid, cond);
		break;
	case MXB_ROOM_REFUSED:
		mxb_log_error("%s: cannot join room '%s' as '%s': %s; retrying in %.1f s", tag,
			r->cfg->jid, nick, cond, (double)(s->rejoin_at - now) / 1000.0);
		break;
	default:
		break;
	}
}

/* The bridge's own presence in r, available or not. */
static void room_self(
	struct mxb_muc *m, struct mxb_muc_room *r, const char *nick, bool gone, const char *renamed)
{
	const char *tag = m->s->params.tag;
	int64_t now = mxb_now_ms();
	struct mxb_room_seat *s = &r->seat;
	enum mxb_room_news news =
		gone ? mxb_room_gone(s, renamed, now) : mxb_room_present(s, nick, now);
	switch (news) {
	case MXB_ROOM_JOINED:
		mxb_log_info("%s: joined room '%s' as '%s'", tag, r->cfg->jid, s->nick);
		break;
	case MXB_ROOM_JOINED_ALT:
		mxb_log_warn("%s: joined room '%s' as '%s' ('%s' is taken); asking for '%s' again "
			     "in %.1f s",
			tag, r->cfg->jid, s->nick, s->want, s->want,
			(double)(s->reclaim_at - now) / 1000.0);
		break;
	case MXB_ROOM_NICK_BACK:
		mxb_log_info("%s: took back the nick '%s' in room '%s'", tag, nick, r->cfg->jid);
		return;
	case MXB_ROOM_RENAMED:
		occupant_remove(r, nick);
		return;
	case MXB_ROOM_REMOVED:
		mxb_log_warn("%s: removed from room '%s'; rejoining in %d s", tag, r->cfg->jid,
			MXB_ROOM_REJOIN_MS / 1000);
		occupants_clear(r);
		return;
	default:
		return;
	}
	if (m->joined)
		m->joined(r->cfg->jid, m->data);
}

static void muc_presence(
	struct mxb_muc *m, struct mxb_muc_room *r, xmpp_stanza_t *st, const char *from)
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
			room_error(m, r, st, nick);
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
			room_self(m, r, nick, true, renamed);
		else
			occupant_remove(r, nick);
		return;
	}
	if (item)
		occupant_set(r, nick, xmpp_stanza_get_attribute(item, "role"),
			xmpp_stanza_get_attribute(item, "affiliation"),
			xmpp_stanza_get_attribute(item, "jid"));
	if (self)
		room_self(m, r, nick, false, NULL);
}

static bool muc_message(struct mxb_muc_room *r, xmpp_stanza_t *st, const char *from,
	const struct mxb_muc_occupant **occ)
{
	const char *slash = strchr(from, '/');
	/* The room itself (subject, notices), our own echo, history: never commands. */
	if (!slash || !r->seat.joined || mxb_room_is_self(&r->seat, slash + 1))
		return false;
	if (xmpp_stanza_get_child_by_ns(st, NS_DELAY)) {
		mxb_log_debug("xmpp: ignoring delayed message in room '%s'", r->cfg->jid);
		return false;
	}
	*occ = occupant_find(r, slash + 1);
	return true;
}

/*
 * The client: one session of the core (session.c) with stream management (sm.c), rooms
 * (XEP-0045), the roster and the contacts' presence on top. It lives on the heap and never
 * moves: the core and libstrophe hold pointers into it.
 */
struct mxb_xmpp {
	struct mxb_session s;
	struct mxb_sm sm;
	struct mxb_muc muc;
	const struct mxb_config *cfg;
	struct mxb_xmpp_handlers handlers;
	void *data;
	bool left; /* mxb_xmpp_leave() is answered: no message will come any more */
	char bare[MXB_JID_MAX + 1];
	struct mxb_roster *roster; /* who lets the bridge see their presence */
	bool roster_full_warned;
};

static const char *const features[] = {NS_DISCO_INFO, NS_PING, NS_VERSION, NULL};
static const struct mxb_session_identity identity = {
	.category = "client",
	.type = "bot",
	.name = "mqtt-xmpp-bridge",
	.features = features,
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
	(void)conn;
	struct mxb_xmpp *x = data;
	mxb_sm_received(&x->sm);
	xmpp_stanza_t *query;
	const char *ns;
	bool get;
	if (!mxb_stanza_iq_request(st, &query, &ns, &get))
		return 1;
	xmpp_stanza_t *reply = mxb_session_answer(x->s.ctx, st, query, ns, get, &identity);
	if (reply) {
		/* ping, disco#info or version */
	} else if (ns && !get && strcmp(ns, NS_ROSTER) == 0 &&
		   from_self_or_server(x, xmpp_stanza_get_from(st))) {
		/* A roster push: acknowledge it (RFC 6121 2.1.6). */
		roster_update(x, query, false);
		reply = mxb_stanza_result(st);
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

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	mxb_sm_received(&x->sm);
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	struct mxb_muc_room *room = from ? muc_find(&x->muc, from) : NULL;
	if (room) {
		muc_presence(&x->muc, room, st, from);
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
	struct mxb_muc_room *room = muc_find(&x->muc, from);
	const struct mxb_muc_occupant *occ = NULL;
	if (room) {
		if (!muc_message(room, st, from, &occ))
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
	xmpp_handler_add(conn, on_presence, NULL, "presence", NULL, x);
	mxb_sm_add_handlers(&x->sm, conn);
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
		xmpp_id_handler_add(conn, on_roster, "roster1", x);
		mxb_session_send(&x->s, iq);
		xmpp_stanza_release(iq);
	}
	send_presence(x, NULL, NULL, x->cfg->xmpp.status);
	muc_join(&x->muc, now);
	/* Otherwise online once <enabled/> (or its timeout) says how delivery works. */
	if (!waiting && x->handlers.online)
		x->handlers.online(x->data);
}

static void down(void *data)
{
	struct mxb_xmpp *x = data;
	mxb_sm_down(&x->sm);
	muc_down(&x->muc);
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
	x->roster = mxb_roster_create();
	if (!x->roster)
		goto err_free;
	if (muc_init(&x->muc, &x->s, cfg->xmpp.rooms, cfg->xmpp.rooms_len, cfg->xmpp.status,
		    handlers->room_joined, data) < 0)
		goto err_destroy_roster;
	mxb_sm_init(&x->sm, &x->s, &sm_handlers, x);
	if (cfg->xmpp.tls == MXB_XMPP_TLS_NONE)
		mxb_log_warn("xmpp: TLS is disabled (xmpp.tls = \"none\"): the password and all "
			     "messages cross the network in clear text");
	struct mxb_session_params params = {
		.kind = MXB_SESSION_CLIENT,
		.tag = "xmpp",
		.name = x->bare,
		.host = cfg->xmpp.host,
		.port = (unsigned short)cfg->xmpp.port,
		.reconnect_max = cfg->xmpp.reconnect_max,
		.ping_interval = cfg->xmpp.ping_interval,
		.ping_timeout = cfg->xmpp.ping_timeout,
	};
	rc = mxb_session_init(&x->s, &params, &client_ops, x);
	if (rc < 0)
		goto err_finish_muc;
	*out = x;
	return 0;

err_finish_muc:
	muc_finish(&x->muc);
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
	muc_finish(&x->muc);
	mxb_roster_destroy(x->roster);
	free(x);
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

void mxb_xmpp_handle(struct mxb_xmpp *x, int64_t now)
{
	(void)now;
	mxb_session_handle(&x->s);
	/* One ack request covers everything this pass sent. */
	mxb_sm_flush(&x->sm);
}

int64_t mxb_xmpp_tick(struct mxb_xmpp *x, int64_t now)
{
	if (x->s.state == MXB_SESSION_UP) {
		mxb_sm_tick(&x->sm, now);
		muc_tick(&x->muc, now);
	}
	return mxb_session_tick(&x->s, now);
}

bool mxb_xmpp_is_up(const struct mxb_xmpp *x)
{
	return x->s.state == MXB_SESSION_UP;
}

int mxb_xmpp_send_message(struct mxb_xmpp *x, const char *to, const char *type, const char *body,
	const char *id, uint32_t *seq)
{
	if (x->s.state != MXB_SESSION_UP || x->sm.waiting)
		return -ENOTCONN;
	struct mxb_muc_room *room = muc_find(&x->muc, to);
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
