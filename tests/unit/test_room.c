#include <stdint.h>
#include <string.h>

#include "check.h"
#include "room.h"

static void test_join_and_taken(void)
{
	struct mxb_room_seat s;
	mxb_room_seat_init(&s, "home");
	CHECK(!mxb_room_is_self(&s, "home"));
	CHECK(mxb_room_join(&s, 0) == 0);
	CHECK_STR(s.nick, "home");
	CHECK(mxb_room_is_self(&s, "home"));
	/* Someone holds it: the alternates, one after the other, at once. */
	CHECK(mxb_room_error(&s, "home", "conflict", 10) == MXB_ROOM_TAKEN);
	CHECK_STR(s.nick, "home_");
	CHECK(!s.refused && s.rejoin_at == 0);
	CHECK(mxb_room_error(&s, "home_", "conflict", 20) == MXB_ROOM_TAKEN);
	CHECK_STR(s.nick, "home_2");
	CHECK(mxb_room_present(&s, "home_2", 1000) == MXB_ROOM_JOINED_ALT);
	CHECK(s.joined);
	CHECK(s.reclaim_at >= 1500 && s.reclaim_at <= 2000);
	/* Someone else's presence in the room is not ours. */
	CHECK(!mxb_room_is_self(&s, "home"));
	CHECK(mxb_room_tick(&s, 1400) == MXB_ROOM_NONE);
	CHECK(mxb_room_tick(&s, 2000) == MXB_ROOM_ASK_NICK);
	CHECK(s.reclaim_at >= 3000 && s.reclaim_at <= 4000);
	/* Still taken: the seat stays, the next request backs off. */
	CHECK(mxb_room_error(&s, "home", "conflict", 2100) == MXB_ROOM_STILL_TAKEN);
	CHECK(s.joined);
	CHECK_STR(s.nick, "home_2");
	CHECK(mxb_room_tick(&s, 4000) == MXB_ROOM_ASK_NICK);
	CHECK(s.reclaim_at >= 6000 && s.reclaim_at <= 8000);
	/* Free now: a 303 renames the seat, then the new nick's presence comes. */
	CHECK(mxb_room_gone(&s, "home", 4100) == MXB_ROOM_RENAMED);
	CHECK(s.joined);
	CHECK(mxb_room_is_self(&s, "home"));
	CHECK(mxb_room_present(&s, "home", 4100) == MXB_ROOM_NICK_BACK);
	CHECK(s.alt == 0 && s.reclaim_at == 0);
	CHECK(mxb_room_tick(&s, 100000) == MXB_ROOM_NONE);
	CHECK(mxb_room_present(&s, "home", 4200) == MXB_ROOM_IGNORED);
	mxb_room_seat_finish(&s);
}

static void test_out_of_alternates(void)
{
	struct mxb_room_seat s;
	mxb_room_seat_init(&s, "b");
	CHECK(mxb_room_join(&s, 0) == 0);
	for (int i = 0; i < MXB_ROOM_NICK_ALTERNATES; i++)
		CHECK(mxb_room_error(&s, s.nick, "conflict", 0) == MXB_ROOM_TAKEN);
	CHECK_STR(s.nick, "b_9");
	/* No alternate left: tried again later, from the configured nick. */
	CHECK(mxb_room_error(&s, "b_9", "conflict", 0) == MXB_ROOM_REFUSED);
	CHECK(s.refused && s.rejoin_at > 0);
	CHECK(mxb_room_tick(&s, s.rejoin_at) == MXB_ROOM_JOIN);
	CHECK_STR(s.nick, "b");
	CHECK(!s.refused);
	mxb_room_seat_finish(&s);
}

static void test_refused_backs_off(void)
{
	struct mxb_room_seat s;
	mxb_room_seat_init(&s, "home");
	CHECK(mxb_room_join(&s, 0) == 0);
	int64_t now = 0, last = 0;
	for (int i = 0; i < 12; i++) {
		CHECK(mxb_room_error(&s, "home", "registration-required", now) == MXB_ROOM_REFUSED);
		CHECK(s.refused && !s.joined);
		int64_t delay = s.rejoin_at - now;
		/* Doubling from 1 s (drawn from [d/2, d]), capped at five minutes. */
		CHECK(delay >= 500 && delay <= MXB_ROOM_RETRY_MAX_S * 1000);
		if (i > 0 && i < 8)
			CHECK(delay >= last);
		last = delay;
		CHECK(mxb_room_tick(&s, s.rejoin_at - 1) == MXB_ROOM_NONE);
		now = s.rejoin_at;
		CHECK(mxb_room_tick(&s, now) == MXB_ROOM_JOIN);
		CHECK(!s.refused);
	}
	CHECK(last >= MXB_ROOM_RETRY_MAX_S * 1000 / 2);
	/* Let in: the delays start over. */
	CHECK(mxb_room_present(&s, "home", now) == MXB_ROOM_JOINED);
	CHECK(mxb_room_error(&s, "home", "forbidden", now) == MXB_ROOM_IGNORED);
	CHECK(s.joined);
	CHECK(mxb_room_gone(&s, NULL, now) == MXB_ROOM_REMOVED);
	CHECK(s.rejoin_at == now + MXB_ROOM_REJOIN_MS);
	mxb_room_join(&s, now);
	CHECK(mxb_room_error(&s, "home", "forbidden", now) == MXB_ROOM_REFUSED);
	CHECK(s.rejoin_at - now <= 1000);
	mxb_room_down(&s);
	CHECK(!s.joined && s.rejoin_at == 0 && s.reclaim_at == 0);
	mxb_room_seat_finish(&s);
}

int main(void)
{
	test_join_and_taken();
	test_out_of_alternates();
	test_refused_backs_off();
	return check_report("room");
}
