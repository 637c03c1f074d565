#ifndef MXB_ROOM_H
#define MXB_ROOM_H

/*
 * The bridge's own seat in one room (XEP-0045): the nick it asks for, whether it is in,
 * and when it tries again. A taken nick makes it join at once under an alternate (NICK_,
 * NICK_2 ... NICK_9) and ask for its own nick again with backoff; any other refusal is
 * retried with backoff, capped, rather than never. Pure apart from the backoff's rand():
 * time is passed in, no XML. muc.c turns presences into these calls, and what they
 * return into stanzas and log lines.
 */

#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"

#define MXB_ROOM_NICK_ALTERNATES 9
/* Cap of the delays between joins a room refused, and between requests for the nick. */
#define MXB_ROOM_RETRY_MAX_S 300
/* After being kicked or the room closing. */
#define MXB_ROOM_REJOIN_MS 30000

struct mxb_room_seat {
	const char *want; /* the configured nick, borrowed */
	char *nick; /* asked for while joining, in use once joined; NULL before a join */
	unsigned alt; /* 0: want, n: its n-th alternate */
	bool joined;
	bool refused; /* until the next try; messages for the room are refused meanwhile */
	int64_t rejoin_at; /* 0: none planned */
	int64_t reclaim_at; /* under an alternate: when to ask for want again; 0: never */
	struct mxb_backoff retry, reclaim;
};

/* What the caller sends now. */
enum mxb_room_step {
	MXB_ROOM_NONE,
	MXB_ROOM_JOIN, /* a join (with the MUC element) to room/nick */
	MXB_ROOM_ASK_NICK, /* a nick change (plain presence, XEP-0045 7.6) to room/want */
};

/* What a presence meant, for the caller to log and act on. */
enum mxb_room_news {
	MXB_ROOM_IGNORED,
	MXB_ROOM_TAKEN, /* the nick tried is taken: send a join as the new (alternate) nick */
	MXB_ROOM_STILL_TAKEN, /* want is not free yet: asked for again at reclaim_at */
	MXB_ROOM_REFUSED, /* the room refused the join: tried again at rejoin_at */
	MXB_ROOM_JOINED, /* in, as want */
	MXB_ROOM_JOINED_ALT, /* in, under an alternate: want asked for again at reclaim_at */
	MXB_ROOM_NICK_BACK, /* the nick change to want went through */
	MXB_ROOM_RENAMED, /* our nick changed (303): the new nick's presence follows */
	MXB_ROOM_REMOVED, /* kicked, banned or the room closed: rejoined at rejoin_at */
};

void mxb_room_seat_init(struct mxb_room_seat *s, const char *want);
void mxb_room_seat_finish(struct mxb_room_seat *s);

/* Starts a join as want (a new session). Returns 0 or -ENOMEM (then a rejoin is planned). */
int mxb_room_join(struct mxb_room_seat *s, int64_t now);
/* The session ended: out of the room, nothing planned. */
void mxb_room_down(struct mxb_room_seat *s);

/* Whether a presence from room/nick is the bridge's own (besides status code 110). */
bool mxb_room_is_self(const struct mxb_room_seat *s, const char *nick);
/* An error presence from room/nick; condition is the RFC 6120 stanza error's name. */
enum mxb_room_news mxb_room_error(
	struct mxb_room_seat *s, const char *nick, const char *condition, int64_t now);
/* The bridge's own available presence, from room/nick. */
enum mxb_room_news mxb_room_present(struct mxb_room_seat *s, const char *nick, int64_t now);
/* The bridge's own unavailable presence; renamed: the new nick of a 303, else NULL. */
enum mxb_room_news mxb_room_gone(struct mxb_room_seat *s, const char *renamed, int64_t now);

/* A planned join or nick request that is due by now, if any. */
enum mxb_room_step mxb_room_tick(struct mxb_room_seat *s, int64_t now);

#endif
