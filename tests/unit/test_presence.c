#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "presence.h"
#include "roster.h"

static struct mxb_presence_update contact(
	const char *bare, const char *res, const char *show, const char *status, int priority)
{
	return (struct mxb_presence_update){
		.bare = bare,
		.resource = res,
		.available = true,
		.show = show,
		.status = status,
		.priority = priority,
		.subscribed = true,
	};
}

static struct mxb_presence_update gone(const char *bare, const char *res)
{
	return (struct mxb_presence_update){
		.bare = bare, .resource = res, .available = false, .subscribed = true};
}

/* Applies u; on CHANGED returns the value and marks it published, else NULL. */
static const char *step(struct mxb_presence *t, struct mxb_presence_update u, int *outcome)
{
	struct mxb_presence_contact *c = NULL;
	int r = mxb_presence_update(t, &u, &c);
	if (outcome)
		*outcome = r;
	if (r != MXB_PRESENCE_CHANGED)
		return NULL;
	mxb_presence_published(c);
	return mxb_presence_value(c);
}

static void test_aggregation(void)
{
	struct mxb_presence *t = mxb_presence_create(0, false);
	CHECK(t != NULL);
	int r;
	CHECK_STR(step(t, contact("alice@example.org", "phone", "away", NULL, 0), &r), "away");
	CHECK(r == MXB_PRESENCE_CHANGED);
	/* Higher priority wins over a more available show. */
	CHECK_STR(step(t, contact("alice@example.org", "laptop", "dnd", NULL, 5), NULL), "dnd");
	/* Same priority: the more available show wins. */
	CHECK_STR(step(t, contact("alice@example.org", "tablet", "chat", NULL, 5), NULL), "chat");
	/* The same value again is not published again. */
	CHECK(step(t, contact("alice@example.org", "tablet", "chat", "x", 5), &r) == NULL);
	CHECK(r == MXB_PRESENCE_UNCHANGED);
	/* The bare JID is compared without case: the same contact. */
	CHECK(step(t, contact("Alice@Example.ORG", "tablet", "chat", "x", 5), &r) == NULL);
	CHECK(r == MXB_PRESENCE_UNCHANGED);
	CHECK(mxb_presence_len(t) == 1);
	struct mxb_presence_contact *c = mxb_presence_find(t, "ALICE@example.org");
	CHECK(c != NULL && mxb_presence_resources(c) == 3);
	CHECK_STR(c ? mxb_presence_bare(c) : NULL, "alice@example.org");
	/* Unknown show words count as plain available. */
	CHECK_STR(step(t, contact("bob@example.org", "", "sleepy", NULL, 0), NULL), "available");
	/* A negative priority never counts. */
	CHECK_STR(
		step(t, contact("carol@example.org", "bot", NULL, NULL, -1), NULL), "unavailable");
	CHECK_STR(step(t, contact("carol@example.org", "pc", "xa", NULL, 0), NULL), "xa");

	/* Unavailable removes one resource; the next best takes over; none: unavailable. */
	CHECK_STR(step(t, gone("alice@example.org", "tablet"), NULL), "dnd");
	CHECK_STR(step(t, gone("alice@example.org", "laptop"), NULL), "away");
	CHECK(step(t, gone("alice@example.org", "unknown"), &r) == NULL);
	CHECK(r == MXB_PRESENCE_UNCHANGED);
	CHECK_STR(step(t, gone("alice@example.org", "phone"), NULL), "unavailable");
	c = mxb_presence_find(t, "alice@example.org");
	CHECK(c != NULL && mxb_presence_resources(c) == 0);
	struct mxb_presence_best best;
	mxb_presence_best(c, &best);
	CHECK_STR(best.show, "unavailable");
	CHECK(best.status == NULL && best.priority == 0);
	mxb_presence_destroy(t);
}

static void test_rule(void)
{
	struct mxb_presence *t = mxb_presence_create(0, false);
	int r;
	/* A stranger is dropped and never takes a place, available or not. */
	struct mxb_presence_update u = contact("mallory@evil.example", "x", NULL, "hi", 0);
	u.subscribed = false;
	CHECK(step(t, u, &r) == NULL && r == MXB_PRESENCE_STRANGER);
	u.available = false;
	CHECK(step(t, u, &r) == NULL && r == MXB_PRESENCE_STRANGER);
	CHECK(mxb_presence_len(t) == 0 && mxb_presence_find(t, "mallory@evil.example") == NULL);

	/* Named without a subscription: its directed presence counts. */
	u = contact("dave@example.org", "x", "away", NULL, 0);
	u.subscribed = false;
	u.named = true;
	u.available = false;
	/* but its unavailable before anything was published retracts nothing */
	CHECK(step(t, u, &r) == NULL && r == MXB_PRESENCE_IGNORED);
	CHECK(mxb_presence_len(t) == 0);
	u.available = true;
	CHECK_STR(step(t, u, &r), "away");
	u.available = false;
	CHECK_STR(step(t, u, &r), "unavailable");

	/* A subscribed contact's first unavailable is published: it may retract old state. */
	CHECK_STR(step(t, gone("erin@example.org", "x"), &r), "unavailable");

	/* One who lost the subscription may go away but not come back. */
	u = contact("erin@example.org", "x", NULL, NULL, 0);
	CHECK_STR(step(t, u, &r), "available");
	u.subscribed = false;
	u.show = "dnd";
	CHECK(step(t, u, &r) == NULL && r == MXB_PRESENCE_STRANGER);
	u.available = false;
	CHECK_STR(step(t, u, &r), "unavailable");

	u = contact("", "x", NULL, NULL, 0);
	CHECK(mxb_presence_update(t, &u, NULL) == -EINVAL);
	mxb_presence_destroy(t);
}

static void test_bounds(void)
{
	struct mxb_presence *t = mxb_presence_create(3, false);
	char jid[64];
	int r;
	for (int i = 0; i < 3; i++) {
		snprintf(jid, sizeof(jid), "c%d@example.org", i);
		CHECK_STR(step(t, contact(jid, "r", NULL, NULL, 0), &r), "available");
	}
	/* Full: a new contact is refused, the ones in it still update. */
	CHECK(step(t, contact("late@example.org", "r", NULL, NULL, 0), &r) == NULL);
	CHECK(r == MXB_PRESENCE_FULL);
	/* Strangers, however many, are strangers, not "full", and change nothing. */
	for (int i = 0; i < 2000; i++) {
		snprintf(jid, sizeof(jid), "s%d@evil.example", i);
		struct mxb_presence_update u = contact(jid, "r", NULL, NULL, 0);
		u.subscribed = false;
		CHECK(mxb_presence_update(t, &u, NULL) == MXB_PRESENCE_STRANGER);
	}
	CHECK(mxb_presence_len(t) == 3);
	CHECK_STR(step(t, contact("c1@example.org", "r", "away", NULL, 0), &r), "away");

	/* Resources per contact are bounded too. */
	for (int i = 1; i < MXB_PRESENCE_RESOURCES_MAX; i++) {
		snprintf(jid, sizeof(jid), "r%d", i);
		step(t, contact("c0@example.org", jid, NULL, NULL, 0), &r);
		CHECK(r == MXB_PRESENCE_UNCHANGED);
	}
	CHECK(step(t, contact("c0@example.org", "one-too-many", "chat", NULL, 9), &r) == NULL);
	CHECK(r == MXB_PRESENCE_FULL);
	struct mxb_presence_contact *c = mxb_presence_find(t, "c0@example.org");
	CHECK(c && mxb_presence_resources(c) == MXB_PRESENCE_RESOURCES_MAX);
	CHECK_STR(c ? mxb_presence_value(c) : NULL, "available");
	mxb_presence_destroy(t);
}

/* The JSON value of one status, checked to parse and carry want. */
static void json_case(const char *status, const char *want)
{
	struct mxb_presence *t = mxb_presence_create(0, true);
	const char *v = step(t, contact("j@example.org", "r", "dnd", status, 7), NULL);
	CHECK(v != NULL);
	cJSON *o = v ? cJSON_Parse(v) : NULL;
	CHECK(o != NULL);
	cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
	cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "show");
	cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, "priority");
	CHECK(cJSON_IsString(st) && cJSON_IsString(sh) && cJSON_IsNumber(pr));
	if (cJSON_IsString(st))
		CHECK_STR(st->valuestring, want);
	if (cJSON_IsString(sh))
		CHECK_STR(sh->valuestring, "dnd");
	CHECK(cJSON_IsNumber(pr) && pr->valueint == 7);
	cJSON_Delete(o);
	mxb_presence_destroy(t);
}

static void test_json(void)
{
	struct mxb_presence *t = mxb_presence_create(0, true);
	CHECK_STR(step(t, contact("j@example.org", "r", "away", "in a \"meeting\"", 5), NULL),
		"{\"show\":\"away\",\"status\":\"in a \\\"meeting\\\"\",\"priority\":5}");
	CHECK_STR(step(t, gone("j@example.org", "r"), NULL),
		"{\"show\":\"unavailable\",\"status\":\"\",\"priority\":0}");
	CHECK_STR(step(t, contact("k@example.org", "r", NULL, NULL, 0), NULL),
		"{\"show\":\"available\",\"status\":\"\",\"priority\":0}");
	mxb_presence_destroy(t);

	json_case("quote \" backslash \\ slash /", "quote \" backslash \\ slash /");
	json_case("line\nbreak\ttab\rcr", "line\nbreak\ttab\rcr");
	json_case("\x01\x02\x1f\x7f controls", "\x01\x02\x1f\x7f controls");
	json_case("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd");
	json_case("</status><x/> & ]]>", "</status><x/> & ]]>");
	json_case("", "");

	/* Long text is kept whole up to the bound, beyond it cut on a character boundary. */
	char *s = malloc(4 * MXB_PRESENCE_STATUS_MAX + 1);
	memset(s, 'a', MXB_PRESENCE_STATUS_MAX);
	s[MXB_PRESENCE_STATUS_MAX] = '\0';
	json_case(s, s);
	CHECK(mxb_presence_status_cut(s) == MXB_PRESENCE_STATUS_MAX);
	/* 1022 bytes, then a 4-byte character that straddles the bound: dropped whole. */
	memset(s, 'b', MXB_PRESENCE_STATUS_MAX - 2);
	memcpy(s + MXB_PRESENCE_STATUS_MAX - 2, "\xf0\x9f\x98\x80tail", 9);
	CHECK(mxb_presence_status_cut(s) == MXB_PRESENCE_STATUS_MAX - 2);
	char *want = strndup(s, MXB_PRESENCE_STATUS_MAX - 2);
	json_case(s, want);
	free(want);
	/* 3-byte characters all the way: the cut keeps whole ones only. */
	for (size_t i = 0; i + 3 <= 4 * MXB_PRESENCE_STATUS_MAX; i += 3)
		memcpy(s + i, "\xe2\x82\xac", 3);
	s[4 * MXB_PRESENCE_STATUS_MAX / 3 * 3] = '\0';
	size_t cut = mxb_presence_status_cut(s);
	CHECK(cut % 3 == 0 && cut <= MXB_PRESENCE_STATUS_MAX && cut > MXB_PRESENCE_STATUS_MAX - 3);
	free(s);
}

static void test_roster(void)
{
	struct mxb_roster *r = mxb_roster_create();
	CHECK(r != NULL);
	CHECK(mxb_roster_set(r, "alice@example.org", "both") == 0);
	CHECK(mxb_roster_set(r, "bob@example.org", "to") == 0);
	CHECK(mxb_roster_set(r, "carol@example.org", "from") == 0);
	CHECK(mxb_roster_set(r, "dave@example.org", "none") == 0);
	CHECK(mxb_roster_set(r, "erin@example.org", NULL) == 0);
	CHECK(mxb_roster_sees(r, "alice@example.org"));
	CHECK(mxb_roster_sees(r, "ALICE@Example.org"));
	CHECK(mxb_roster_sees(r, "bob@example.org"));
	CHECK(!mxb_roster_sees(r, "carol@example.org"));
	CHECK(!mxb_roster_sees(r, "dave@example.org"));
	CHECK(!mxb_roster_sees(r, "erin@example.org"));
	CHECK(mxb_roster_len(r) == 2);
	/* A push that takes the subscription away, or removes the item. */
	CHECK(mxb_roster_set(r, "Bob@example.org", "from") == 0);
	CHECK(!mxb_roster_sees(r, "bob@example.org"));
	CHECK(mxb_roster_set(r, "alice@example.org", "remove") == 0);
	CHECK(!mxb_roster_sees(r, "alice@example.org") && mxb_roster_len(r) == 0);
	CHECK(mxb_roster_set(r, "", "both") == -EINVAL);
	/* Bounded. */
	char jid[64];
	int ret = 0;
	for (int i = 0; i < MXB_ROSTER_MAX && ret == 0; i++) {
		snprintf(jid, sizeof(jid), "u%d@example.org", i);
		ret = mxb_roster_set(r, jid, "both");
	}
	CHECK(ret == 0 && mxb_roster_len(r) == MXB_ROSTER_MAX);
	CHECK(mxb_roster_set(r, "over@example.org", "both") == -ENOSPC);
	CHECK(mxb_roster_sees(r, "u0@example.org") && mxb_roster_sees(r, "u4999@example.org"));
	CHECK(mxb_roster_set(r, "u17@example.org", "both") == 0);
	mxb_roster_clear(r);
	CHECK(mxb_roster_len(r) == 0 && !mxb_roster_sees(r, "u0@example.org"));
	mxb_roster_destroy(r);
	mxb_roster_destroy(NULL);
	mxb_presence_destroy(NULL);
}

int main(void)
{
	test_aggregation();
	test_rule();
	test_bounds();
	test_json();
	test_roster();
	return check_report("presence");
}
