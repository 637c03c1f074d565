/* OwnTracks <-> XEP-0080: parsing, ranges, units, XML and JSON output, the pace. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "geoloc.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-6)

static enum mxb_owntracks_kind parse(const char *json, struct mxb_geoloc *g, const char **why)
{
	return mxb_owntracks_parse(json, strlen(json), g, why);
}

static void app_location(void)
{
	/* As the booklet shows it (iOS, with region and battery fields). */
	const char *json = "{\"_type\":\"location\",\"acc\":13,\"alt\":44,\"batt\":84,"
			   "\"bs\":1,\"conn\":\"w\",\"created_at\":1700000010,\"lat\":52.5200066,"
			   "\"lon\":13.404954,\"m\":1,\"tid\":\"al\",\"tst\":1700000000,"
			   "\"vac\":3,\"vel\":36,\"cog\":270,\"inregions\":[\"home\"],"
			   "\"topic\":\"owntracks/alice/phone\"}";
	struct mxb_geoloc g;
	const char *why;
	CHECK(parse(json, &g, &why) == MXB_OWNTRACKS_LOCATION);
	CHECK(mxb_geoloc_has_position(&g));
	CHECK(NEAR(g.lat, 52.5200066) && NEAR(g.lon, 13.404954));
	CHECK(g.has & MXB_GEOLOC_SPEED);
	CHECK(NEAR(g.speed, 10.0)); /* 36 km/h */
	CHECK(NEAR(g.bearing, 270) && NEAR(g.accuracy, 13) && NEAR(g.alt, 44));
	CHECK(g.timestamp == 1700000000);
	char xml[MXB_GEOLOC_XML_MAX];
	CHECK(mxb_geoloc_xml(&g, xml, sizeof(xml)) > 0);
	CHECK_STR(xml, "<geoloc xmlns='http://jabber.org/protocol/geoloc'><accuracy>13</accuracy>"
		       "<alt>44</alt><bearing>270</bearing><lat>52.5200066</lat>"
		       "<lon>13.404954</lon><speed>10</speed>"
		       "<timestamp>2023-11-14T22:13:20Z</timestamp></geoloc>");
}

static void minimal_and_unknown_speed(void)
{
	struct mxb_geoloc g;
	const char *why;
	CHECK(parse("{\"_type\":\"location\",\"lat\":-33.9,\"lon\":151.2,\"tst\":1,"
		    "\"vel\":-1,\"cog\":-1}",
		      &g, &why) == MXB_OWNTRACKS_LOCATION);
	CHECK(!(g.has & (MXB_GEOLOC_SPEED | MXB_GEOLOC_BEARING | MXB_GEOLOC_ACCURACY)));
	char xml[MXB_GEOLOC_XML_MAX];
	mxb_geoloc_xml(&g, xml, sizeof(xml));
	CHECK_STR(xml, "<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>-33.9</lat>"
		       "<lon>151.2</lon><timestamp>1970-01-01T00:00:01Z</timestamp></geoloc>");
}

static void not_positions(void)
{
	struct mxb_geoloc g;
	const char *why;
	/* A transition has lat/lon (the region's or the last fix): never a position. */
	CHECK(parse("{\"_type\":\"transition\",\"event\":\"leave\",\"lat\":1,\"lon\":2,"
		    "\"tst\":5,\"desc\":\"home\"}",
		      &g, &why) == MXB_OWNTRACKS_IGNORED);
	CHECK_STR(why, "transition");
	CHECK(!mxb_geoloc_has_position(&g));
	CHECK(parse("{\"_type\":\"lwt\",\"tst\":5}", &g, &why) == MXB_OWNTRACKS_IGNORED);
	CHECK_STR(why, "lwt");
	CHECK(parse("{\"_type\":\"waypoints\",\"waypoints\":[]}", &g, &why) ==
		MXB_OWNTRACKS_IGNORED);
	CHECK(parse("{\"_type\":\"something\"}", &g, &why) == MXB_OWNTRACKS_IGNORED);
	CHECK_STR(why, "other");
}

static void invalid(void)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[1,2]",
		"{\"lat\":1,\"lon\":2,\"tst\":3}",
		"{\"_type\":5}",
		"{\"_type\":\"location\",\"lon\":2,\"tst\":3}",
		"{\"_type\":\"location\",\"lat\":\"1\",\"lon\":2,\"tst\":3}",
		"{\"_type\":\"location\",\"lat\":91,\"lon\":2,\"tst\":3}",
		"{\"_type\":\"location\",\"lat\":1,\"lon\":-180.5,\"tst\":3}",
		"{\"_type\":\"location\",\"lat\":1,\"lon\":2}",
		"{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":-3}",
		"{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":3.5}",
		"{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":3,\"acc\":-1}",
		"{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":3,\"vel\":1e9}",
		"{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":3,\"cog\":361}",
		"{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":3,\"alt\":\"high\"}",
		"{\"_type\":\"location\",\"lat\":1e999,\"lon\":2,\"tst\":3}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mxb_geoloc g;
		const char *why = NULL;
		enum mxb_owntracks_kind k = parse(bad[i], &g, &why);
		CHECK(k == MXB_OWNTRACKS_INVALID);
		CHECK(why && *why);
		CHECK(!mxb_geoloc_has_position(&g));
		if (k != MXB_OWNTRACKS_INVALID)
			fprintf(stderr, "  accepted: %s\n", bad[i]);
	}
	struct mxb_geoloc g;
	const char *why;
	CHECK(mxb_owntracks_parse("{\"_type\":\"location\"\xff}", 20, &g, &why) ==
		MXB_OWNTRACKS_INVALID);
	char big[MXB_OWNTRACKS_MAX + 2];
	memset(big, ' ', sizeof(big));
	CHECK(mxb_owntracks_parse(big, sizeof(big), &g, &why) == MXB_OWNTRACKS_INVALID);
}

static void topics(void)
{
	const char *u;
	size_t n;
	CHECK(mxb_owntracks_topic("owntracks", "owntracks/alice/phone", &u, &n));
	CHECK(n == 5 && strncmp(u, "alice", 5) == 0);
	CHECK(mxb_owntracks_topic("a/b", "a/b/bob/tab", &u, &n) && n == 3);
	CHECK(!mxb_owntracks_topic("owntracks", "owntracks/alice", &u, &n));
	CHECK(!mxb_owntracks_topic("owntracks", "owntracks/alice/phone/event", &u, &n));
	CHECK(!mxb_owntracks_topic("owntracks", "owntracks/alice/phone/info", &u, &n));
	CHECK(!mxb_owntracks_topic("owntracks", "owntracksx/alice/phone", &u, &n));
	CHECK(!mxb_owntracks_topic("owntracks", "owntracks//phone", &u, &n));
	CHECK(!mxb_owntracks_topic("owntracks", "owntracks/alice/", &u, &n));
}

static int set(struct mxb_geoloc *g, const char *name, const char *text)
{
	return mxb_geoloc_set(g, name, text, strlen(text));
}

static void contact_fields(void)
{
	struct mxb_geoloc g = {0};
	CHECK(set(&g, "lat", " 48.8584 ") == 1);
	CHECK(set(&g, "lon", "2.2945") == 1);
	CHECK(set(&g, "speed", "2.5") == 1);
	CHECK(set(&g, "bearing", "90") == 1);
	CHECK(set(&g, "accuracy", "20") == 1);
	CHECK(set(&g, "timestamp", "2024-02-29T12:00:00.123+01:00") == 1);
	CHECK(set(&g, "text", "anything at all, not used") == 0);
	CHECK(mxb_geoloc_complete(&g));
	CHECK(g.timestamp == 1709204400);
	char *j = mxb_owntracks_friend_json(&g, "BO", 99);
	CHECK_STR(j, "{\"_type\":\"location\",\"lat\":48.8584,\"lon\":2.2945,\"acc\":20,"
		     "\"vel\":9,\"cog\":90,\"tst\":1709204400,\"tid\":\"BO\"}");
	free(j);
	j = mxb_geoloc_plain_json(&g, "bob@x");
	CHECK_STR(j, "{\"jid\":\"bob@x\",\"lat\":48.8584,\"lon\":2.2945,\"accuracy\":20,"
		     "\"speed\":2.5,\"bearing\":90,\"timestamp\":\"2024-02-29T11:00:00Z\"}");
	free(j);
	j = mxb_owntracks_card_json("Bob \"B\" Ünal");
	CHECK_STR(j, "{\"_type\":\"card\",\"name\":\"Bob \\\"B\\\" Ünal\"}");
	free(j);

	struct mxb_geoloc h = {0};
	CHECK(set(&h, "lat", "91") == -EINVAL);
	CHECK(set(&h, "lat", "0x10") == -EINVAL);
	CHECK(set(&h, "lat", "nan") == -EINVAL);
	CHECK(set(&h, "lat", "inf") == -EINVAL);
	CHECK(set(&h, "lat", "") == -EINVAL);
	CHECK(set(&h, "lon", "1,5") == -EINVAL);
	CHECK(set(&h, "speed", "-1") == -EINVAL);
	CHECK(set(&h, "timestamp", "yesterday") == -EINVAL);
	CHECK(set(&h, "timestamp", "2023-02-29T00:00:00Z") == -EINVAL);
	CHECK(mxb_geoloc_set(&h, "lat",
		      "1\0"
		      "2",
		      3) == -EINVAL);
	char longnum[MXB_GEOLOC_FIELD_MAX + 2];
	memset(longnum, '1', sizeof(longnum) - 1);
	longnum[sizeof(longnum) - 1] = '\0';
	CHECK(set(&h, "alt", longnum) == -EINVAL);
	CHECK(set(&h, "lat", "10") == 1);
	CHECK(!mxb_geoloc_complete(&h)); /* lat without lon */
	struct mxb_geoloc empty = {0};
	CHECK(mxb_geoloc_complete(&empty) && !mxb_geoloc_has_position(&empty));
	char xml[64];
	CHECK(mxb_geoloc_xml(&empty, xml, sizeof(xml)) > 0);
	CHECK_STR(xml, "<geoloc xmlns='http://jabber.org/protocol/geoloc'/>");
	CHECK(mxb_geoloc_xml(&g, xml, sizeof(xml)) == -ENOSPC);
}

static void times(void)
{
	char b[32];
	CHECK(mxb_geoloc_time_format(0, b, sizeof(b)) > 0);
	CHECK_STR(b, "1970-01-01T00:00:00Z");
	CHECK(mxb_geoloc_time_format(951782400, b, sizeof(b)) > 0);
	CHECK_STR(b, "2000-02-29T00:00:00Z");
	int64_t t;
	CHECK(mxb_geoloc_time_parse("2000-02-29T00:00:00Z", 20, &t) == 0 && t == 951782400);
	CHECK(mxb_geoloc_time_parse("2000-03-01T01:30:00+01:30", 25, &t) == 0 && t == 951868800);
	CHECK(mxb_geoloc_time_parse("2000-03-01T01:30:00", 19, &t) < 0);
	CHECK(mxb_geoloc_time_parse("2000-13-01T01:30:00Z", 20, &t) < 0);
	for (int64_t s = 0; s < 4000000000LL; s += 86399 * 37) {
		CHECK(mxb_geoloc_time_format(s, b, sizeof(b)) == 20);
		CHECK(mxb_geoloc_time_parse(b, 20, &t) == 0 && t == s);
	}
}

static void plausible(void)
{
	CHECK(mxb_owntracks_tst_plausible(1700000000, 1700000000));
	CHECK(mxb_owntracks_tst_plausible(1700003600, 1700000000));
	CHECK(!mxb_owntracks_tst_plausible(1700003601, 1700000000));
	CHECK(mxb_owntracks_tst_plausible(1, 1700000000));
}

static void tids(void)
{
	char t[MXB_OWNTRACKS_TID_MAX];
	mxb_owntracks_tid("bob@example.org", t, sizeof(t));
	CHECK_STR(t, "BO");
	mxb_owntracks_tid("x.9y@example.org", t, sizeof(t));
	CHECK_STR(t, "X9");
	mxb_owntracks_tid("..@example.org", t, sizeof(t));
	CHECK_STR(t, "XX");
}

static void pace(void)
{
	struct mxb_location_pace p;
	mxb_location_pace_init(&p, 30000);
	CHECK(mxb_location_pace_offer(&p, 100, 1000) == MXB_PACE_NOW);
	mxb_location_pace_sent(&p, 1000);
	/* A replay: older or equal tst */
	CHECK(mxb_location_pace_offer(&p, 100, 2000) == MXB_PACE_STALE);
	CHECK(mxb_location_pace_offer(&p, 50, 2000) == MXB_PACE_STALE);
	CHECK(mxb_location_pace_offer(&p, 101, 2000) == MXB_PACE_LATER);
	CHECK(mxb_location_pace_offer(&p, 102, 3000) == MXB_PACE_LATER);
	CHECK(mxb_location_pace_offer(&p, 101, 3000) == MXB_PACE_STALE);
	CHECK(mxb_location_pace_due(&p) == 31000);
	CHECK(mxb_location_pace_offer(&p, 103, 31000) == MXB_PACE_NOW);
}

int main(void)
{
	app_location();
	minimal_and_unknown_speed();
	not_positions();
	invalid();
	topics();
	contact_fields();
	times();
	tids();
	plausible();
	pace();
	return check_report("geoloc");
}
