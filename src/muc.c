#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "muc.h"
#include "ns.h"

int mxb_muc_init(struct mxb_muc *m, struct mxb_session *s, const struct mxb_room *rooms, size_t len,
	const char *status, void (*joined)(const char *room, void *data), void *data)
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

static void room_finish(struct mxb_muc_room *r)
{
	occupants_clear(r);
	free(r->occupants);
	mxb_room_seat_finish(&r->seat);
}

void mxb_muc_finish(struct mxb_muc *m)
{
	for (size_t i = 0; i < m->len; i++)
		room_finish(&m->rooms[i]);
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

/* Unavailable presence to room/nick: the bridge leaves the room (XEP-0045 7.14). */
static void send_room_leave(struct mxb_muc *m, struct mxb_muc_room *r)
{
	char to[2 * MXB_JID_MAX + 8];
	if ((size_t)snprintf(to, sizeof(to), "%s/%s", r->cfg->jid, r->seat.nick) >= sizeof(to))
		return;
	xmpp_stanza_t *p = xmpp_presence_new(m->s->ctx);
	if (!p)
		return;
	xmpp_stanza_set_to(p, to);
	xmpp_stanza_set_type(p, "unavailable");
	mxb_session_send(m->s, p);
	xmpp_stanza_release(p);
}

static void join_one(struct mxb_muc *m, struct mxb_muc_room *r, int64_t now);

void mxb_muc_join(struct mxb_muc *m, int64_t now)
{
	for (size_t i = 0; i < m->len; i++)
		join_one(m, &m->rooms[i], now);
}

static bool same_str(const char *a, const char *b)
{
	return (!a || !b) ? a == b : strcmp(a, b) == 0;
}

static void join_one(struct mxb_muc *m, struct mxb_muc_room *r, int64_t now)
{
	occupants_clear(r);
	if (mxb_room_join(&r->seat, now) < 0) {
		mxb_log_error(
			"%s: cannot join room '%s': out of memory", m->s->params.tag, r->cfg->jid);
		return;
	}
	send_room_presence(m, r, r->seat.nick, true);
	mxb_log_debug("%s: joining room '%s' as '%s'", m->s->params.tag, r->cfg->jid, r->seat.nick);
}

int mxb_muc_reconfigure(struct mxb_muc *m, const struct mxb_room *rooms, size_t len,
	const char *status, bool up, int64_t now)
{
	struct mxb_muc_room *v = calloc(len ? len : 1, sizeof(*v));
	bool *kept = calloc(m->len ? m->len : 1, sizeof(*kept));
	if (!v || !kept) {
		free(v);
		free(kept);
		return -ENOMEM;
	}
	m->status = status;
	for (size_t i = 0; i < len; i++) {
		const struct mxb_room *c = &rooms[i];
		size_t j = 0;
		while (j < m->len &&
			(kept[j] || !mxb_jid_bare_equal(m->rooms[j].cfg->jid, c->jid) ||
				!same_str(m->rooms[j].cfg->nick, c->nick) ||
				!same_str(m->rooms[j].cfg->password, c->password)))
			j++;
		if (j < m->len) {
			/* The same room as before: its seat and occupants stay, its strings move.
			 */
			kept[j] = true;
			v[i] = m->rooms[j];
			v[i].cfg = c;
			v[i].seat.want = c->nick;
			continue;
		}
		v[i].cfg = c;
		mxb_room_seat_init(&v[i].seat, c->nick);
		if (up)
			join_one(m, &v[i], now);
	}
	for (size_t j = 0; j < m->len; j++) {
		if (kept[j])
			continue;
		struct mxb_muc_room *r = &m->rooms[j];
		if (up && r->seat.nick) {
			send_room_leave(m, r);
			mxb_log_info("%s: left room '%s': no longer in the config",
				m->s->params.tag, r->cfg->jid);
		}
		room_finish(r);
	}
	free(kept);
	free(m->rooms);
	m->rooms = v;
	m->len = len;
	return 0;
}

void mxb_muc_status(struct mxb_muc *m)
{
	for (size_t i = 0; i < m->len; i++) {
		struct mxb_muc_room *r = &m->rooms[i];
		/* Presence to the nick in use without the MUC element: an update (XEP-0045 7.7). */
		if (r->seat.joined)
			send_room_presence(m, r, r->seat.nick, false);
	}
}

void mxb_muc_down(struct mxb_muc *m)
{
	for (size_t i = 0; i < m->len; i++) {
		mxb_room_down(&m->rooms[i].seat);
		occupants_clear(&m->rooms[i]);
	}
}

int64_t mxb_muc_tick(struct mxb_muc *m, int64_t now)
{
	int64_t next = INT64_MAX;
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
		if (r->seat.rejoin_at && r->seat.rejoin_at < next)
			next = r->seat.rejoin_at;
		if (r->seat.joined && r->seat.reclaim_at && r->seat.reclaim_at < next)
			next = r->seat.reclaim_at;
	}
	return next;
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

/* The answer to the owner's form submitted by accept_default(). */
static int on_owner_answer(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_muc *m = data;
	const char *from = xmpp_stanza_get_from(st);
	const char *type = xmpp_stanza_get_type(st);
	/* Only a room still configured is worth a word; the id alone does not say which. */
	struct mxb_muc_room *r = from ? mxb_muc_find(m, from) : NULL;
	if (!r)
		return 0;
	if (type && strcmp(type, "error") == 0)
		mxb_log_error(
			"%s: room '%s' stays locked: it refused the default configuration: %s",
			m->s->params.tag, r->cfg->jid, mxb_stanza_error_condition(st));
	else
		mxb_log_info("%s: created room '%s'; accepted the default configuration",
			m->s->params.tag, r->cfg->jid);
	return 0;
}

/*
 * The join created r, and the service keeps a new room locked (XEP-0045 10.1): nobody else
 * can enter until its owner, the bridge, accepts the instant room's default configuration.
 * A room nobody can join is of no use to a notify route, so accept it at once.
 */
static void accept_default(struct mxb_muc *m, struct mxb_muc_room *r)
{
	xmpp_ctx_t *ctx = m->s->ctx;
	char id[32];
	snprintf(id, sizeof(id), "muc-owner-%u", ++m->owner_ids);
	xmpp_stanza_t *iq = xmpp_iq_new(ctx, "set", id);
	if (!iq) {
		mxb_log_error("%s: cannot unlock room '%s': out of memory", m->s->params.tag,
			r->cfg->jid);
		return;
	}
	xmpp_stanza_set_to(iq, r->cfg->jid);
	xmpp_stanza_t *q = mxb_stanza_add_child(ctx, iq, "query", NS_MUC_OWNER);
	xmpp_stanza_t *x = q ? mxb_stanza_add_child(ctx, q, "x", NS_DATA) : NULL;
	if (!x) {
		mxb_log_error("%s: cannot unlock room '%s': out of memory", m->s->params.tag,
			r->cfg->jid);
		xmpp_stanza_release(iq);
		return;
	}
	xmpp_stanza_set_type(x, "submit");
	xmpp_id_handler_add(m->s->conn, on_owner_answer, id, m);
	mxb_session_send(m->s, iq);
	xmpp_stanza_release(iq);
	mxb_log_debug("%s: room '%s' is new; accepting the default configuration", m->s->params.tag,
		r->cfg->jid);
}

/* The bridge's own presence in r, available or not; created: it carried status 201. */
static void room_self(struct mxb_muc *m, struct mxb_muc_room *r, const char *nick, bool gone,
	const char *renamed, bool created)
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
	/* Before the callback: what it sends to the room follows the unlock. */
	if (created)
		accept_default(m, r);
	if (m->joined)
		m->joined(r->cfg->jid, m->data);
}

void mxb_muc_presence(
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
			room_self(m, r, nick, true, renamed, false);
		else
			occupant_remove(r, nick);
		return;
	}
	if (item)
		occupant_set(r, nick, xmpp_stanza_get_attribute(item, "role"),
			xmpp_stanza_get_attribute(item, "affiliation"),
			xmpp_stanza_get_attribute(item, "jid"));
	if (self)
		room_self(m, r, nick, false, NULL, xu && has_status_code(xu, "201"));
}

bool mxb_muc_message(struct mxb_muc_room *r, xmpp_stanza_t *st, const char *from,
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
