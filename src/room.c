#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "room.h"

void mxb_room_seat_init(struct mxb_room_seat *s, const char *want)
{
	memset(s, 0, sizeof(*s));
	s->want = want;
	mxb_backoff_init(&s->retry, MXB_ROOM_RETRY_MAX_S);
	mxb_backoff_init(&s->reclaim, MXB_ROOM_RETRY_MAX_S);
}

void mxb_room_seat_finish(struct mxb_room_seat *s)
{
	free(s->nick);
	s->nick = NULL;
}

/* Sets nick to want (alt 0) or its alt-th alternate. */
static int set_nick(struct mxb_room_seat *s, unsigned alt)
{
	size_t n = strlen(s->want) + 4;
	char *nick = malloc(n);
	if (!nick)
		return -ENOMEM;
	if (alt == 0)
		snprintf(nick, n, "%s", s->want);
	else if (alt == 1)
		snprintf(nick, n, "%s_", s->want);
	else
		snprintf(nick, n, "%s_%u", s->want, alt);
	free(s->nick);
	s->nick = nick;
	s->alt = alt;
	return 0;
}

static int join_as(struct mxb_room_seat *s, unsigned alt, int64_t now)
{
	s->joined = false;
	s->refused = false;
	s->rejoin_at = 0;
	s->reclaim_at = 0;
	if (set_nick(s, alt) < 0) {
		s->rejoin_at = now + MXB_ROOM_REJOIN_MS;
		return -ENOMEM;
	}
	return 0;
}

int mxb_room_join(struct mxb_room_seat *s, int64_t now)
{
	return join_as(s, 0, now);
}

void mxb_room_down(struct mxb_room_seat *s)
{
	s->joined = false;
	s->rejoin_at = 0;
	s->reclaim_at = 0;
}

bool mxb_room_is_self(const struct mxb_room_seat *s, const char *nick)
{
	return s->nick && strcmp(nick, s->nick) == 0;
}

static enum mxb_room_news refused(struct mxb_room_seat *s, int64_t now)
{
	s->joined = false;
	s->refused = true;
	s->rejoin_at = now + mxb_backoff_down(&s->retry, now);
	return MXB_ROOM_REFUSED;
}

enum mxb_room_news mxb_room_error(
	struct mxb_room_seat *s, const char *nick, const char *condition, int64_t now)
{
	if (s->joined) {
		/* In the room, only a request for want can fail; the seat stays as it is. */
		if (s->alt && strcmp(nick, s->want) == 0)
			return MXB_ROOM_STILL_TAKEN;
		return MXB_ROOM_IGNORED;
	}
	if (strcmp(condition, "conflict") == 0 && s->alt < MXB_ROOM_NICK_ALTERNATES) {
		if (join_as(s, s->alt + 1, now) < 0)
			return refused(s, now);
		return MXB_ROOM_TAKEN;
	}
	return refused(s, now);
}

enum mxb_room_news mxb_room_present(struct mxb_room_seat *s, const char *nick, int64_t now)
{
	if (s->joined) {
		if (!s->alt || strcmp(nick, s->want) != 0)
			return MXB_ROOM_IGNORED;
		s->alt = 0;
		s->reclaim_at = 0;
		return MXB_ROOM_NICK_BACK;
	}
	s->joined = true;
	s->refused = false;
	mxb_backoff_init(&s->retry, MXB_ROOM_RETRY_MAX_S);
	if (s->alt == 0)
		return MXB_ROOM_JOINED;
	mxb_backoff_init(&s->reclaim, MXB_ROOM_RETRY_MAX_S);
	s->reclaim_at = now + mxb_backoff_down(&s->reclaim, now);
	return MXB_ROOM_JOINED_ALT;
}

enum mxb_room_news mxb_room_gone(struct mxb_room_seat *s, const char *renamed, int64_t now)
{
	if (s->joined && renamed) {
		char *n = strdup(renamed);
		if (n) {
			free(s->nick);
			s->nick = n;
			return MXB_ROOM_RENAMED;
		}
		/* Without the new nick its presence is not recognized: join again instead. */
	}
	s->joined = false;
	s->reclaim_at = 0;
	s->rejoin_at = now + MXB_ROOM_REJOIN_MS;
	return MXB_ROOM_REMOVED;
}

enum mxb_room_step mxb_room_tick(struct mxb_room_seat *s, int64_t now)
{
	if (s->rejoin_at && now >= s->rejoin_at)
		return mxb_room_join(s, now) == 0 ? MXB_ROOM_JOIN : MXB_ROOM_NONE;
	if (s->joined && s->reclaim_at && now >= s->reclaim_at) {
		s->reclaim_at = now + mxb_backoff_down(&s->reclaim, now);
		return MXB_ROOM_ASK_NICK;
	}
	return MXB_ROOM_NONE;
}
