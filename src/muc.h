#ifndef MXB_MUC_H
#define MXB_MUC_H

/*
 * The client's group chats (XEP-0045): joining each configured room, the occupants seen
 * there (nick, role, affiliation, real JID), the bridge's own seat through room.c's pure
 * decisions (alternate nicks, rejoins, reclaiming the nick), and telling which messages
 * from a room may be taken as commands. The client embeds a struct mxb_muc; only the
 * session files include this header.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "jid.h"
#include "room.h"
#include "session.h"

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
	unsigned owner_ids; /* the last id of an IQ to a room's owner service */
};

/*
 * Sets up the rooms of rooms[0..len) (borrowed, like status, s and data: they must outlive
 * m). Returns 0 or -ENOMEM.
 */
int mxb_muc_init(struct mxb_muc *m, struct mxb_session *s, const struct mxb_room *rooms, size_t len,
	const char *status, void (*joined)(const char *room, void *data), void *data);
void mxb_muc_finish(struct mxb_muc *m);

/*
 * A reload gave new rooms[0..len) and status (borrowed, as at init): rooms configured as
 * before keep their seat and occupants, rooms no longer configured are left, new ones are
 * joined when up. Returns 0, or -ENOMEM with nothing changed.
 */
int mxb_muc_reconfigure(struct mxb_muc *m, const struct mxb_room *rooms, size_t len,
	const char *status, bool up, int64_t now);
/* The bridge's status changed: says so in every room it is in. */
void mxb_muc_status(struct mxb_muc *m);
/* A new session: joins every room as its configured nick. */
void mxb_muc_join(struct mxb_muc *m, int64_t now);
/* The session ended: out of every room, occupants forgotten. */
void mxb_muc_down(struct mxb_muc *m);
/* Rejoins and nick requests that are due; returns when the next one is (INT64_MAX: none). */
int64_t mxb_muc_tick(struct mxb_muc *m, int64_t now);

/* The room jid (full or bare) belongs to, or NULL. Inline: every stanza asks. */
static inline struct mxb_muc_room *mxb_muc_find(struct mxb_muc *m, const char *jid)
{
	for (size_t i = 0; i < m->len; i++) {
		if (mxb_jid_bare_equal(m->rooms[i].cfg->jid, jid))
			return &m->rooms[i];
	}
	return NULL;
}
/* Presence from room r (from is room/nick): joins, occupants, refusals, kicks. */
void mxb_muc_presence(
	struct mxb_muc *m, struct mxb_muc_room *r, xmpp_stanza_t *st, const char *from);
/*
 * Whether a message from room r (from is room/nick) is someone's words to act on: not the
 * room itself, not the bridge's own echo, not history. *occ is the sender as last seen, or
 * NULL when unknown.
 */
bool mxb_muc_message(struct mxb_muc_room *r, xmpp_stanza_t *st, const char *from,
	const struct mxb_muc_occupant **occ);

#endif
