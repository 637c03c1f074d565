#ifndef MXB_GEOLOC_H
#define MXB_GEOLOC_H

/*
 * User location between OwnTracks (MQTT JSON) and XEP-0080 (<geoloc/> over PEP), pure: no
 * I/O, no session library, no logging. What a peer sends (an OwnTracks payload, the fields
 * of a contact's <geoloc/>) is bounded, parsed and range-checked here, so that the fuzzer
 * reaches every decision; a value out of range refuses the whole position rather than
 * sending part of it.
 *
 * Units: OwnTracks has vel in km/h, cog in degrees, acc and alt in metres and tst in Unix
 * seconds; XEP-0080 has speed in m/s, bearing in degrees, accuracy and alt in metres and
 * timestamp as a XEP-0082 DateTime (UTC here).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MXB_NS_GEOLOC "http://jabber.org/protocol/geoloc"

/* The largest OwnTracks payload looked at; the app's own are about 300 bytes. */
#define MXB_OWNTRACKS_MAX 4096
/* The longest text of one <geoloc/> field taken from a contact. */
#define MXB_GEOLOC_FIELD_MAX 64
/* Room for the XML of a full position (mxb_geoloc_xml). */
#define MXB_GEOLOC_XML_MAX 512
/* The tid OwnTracks shows on its map: at most this many bytes. */
#define MXB_OWNTRACKS_TID_MAX 8

enum mxb_geoloc_field {
	MXB_GEOLOC_ACCURACY = 1 << 0,
	MXB_GEOLOC_ALT = 1 << 1,
	MXB_GEOLOC_SPEED = 1 << 2,
	MXB_GEOLOC_BEARING = 1 << 3,
	MXB_GEOLOC_TIMESTAMP = 1 << 4,
	MXB_GEOLOC_LAT = 1 << 5,
	MXB_GEOLOC_LON = 1 << 6,
};

/* A position: lat and lon are there together or not at all (then it is empty). */
struct mxb_geoloc {
	unsigned has; /* enum mxb_geoloc_field bits */
	double lat, lon; /* degrees, WGS84 */
	double accuracy; /* metres */
	double alt; /* metres above sea level */
	double speed; /* m/s */
	double bearing; /* degrees from true north, 0..360 */
	int64_t timestamp; /* Unix seconds */
};

/* Whether g holds a position (lat and lon); an empty <geoloc/> means "no location". */
bool mxb_geoloc_has_position(const struct mxb_geoloc *g);

enum mxb_owntracks_kind {
	MXB_OWNTRACKS_LOCATION, /* a position, in *out */
	/* Valid, but not a position: transition, waypoint(s), lwt, card, cmd, ... */
	MXB_OWNTRACKS_IGNORED,
	MXB_OWNTRACKS_INVALID, /* not JSON, no _type, a field of the wrong type or range */
};

/*
 * Parses an OwnTracks payload of len bytes (not NUL-terminated). A location needs lat, lon
 * and tst; acc, alt, vel and cog are taken when present (vel -1, which the app sends when
 * it has none, is left out). *why says what is wrong for INVALID, or the _type for IGNORED
 * (a static string, or "" when none).
 */
enum mxb_owntracks_kind mxb_owntracks_parse(
	const char *payload, size_t len, struct mxb_geoloc *out, const char **why);

/*
 * Whether a position's tst may be believed at wall-clock time now (Unix seconds): not more
 * than MXB_OWNTRACKS_FUTURE_MAX ahead. A phone with a clock years ahead would otherwise make
 * every true position after it look older, and so stale, until the bridge restarts.
 */
#define MXB_OWNTRACKS_FUTURE_MAX 3600
bool mxb_owntracks_tst_plausible(int64_t tst, int64_t now);

/*
 * Splits an OwnTracks topic PREFIX/USER/DEVICE (prefix may have several levels) into its
 * user level: *user points into topic, *user_len its length. False for any other shape.
 */
bool mxb_owntracks_topic(
	const char *prefix, const char *topic, const char **user, size_t *user_len);

/*
 * The <geoloc xmlns='http://jabber.org/protocol/geoloc'> element of g as XML text into buf,
 * an empty element when g has no position. Returns the length, or -ENOSPC.
 */
int mxb_geoloc_xml(const struct mxb_geoloc *g, char *buf, size_t size);

/*
 * Takes one child of a contact's <geoloc/>: name and its text (len bytes). Returns 1 when
 * taken, 0 when the field is one the bridge does not use (text, street, ...), -EINVAL when
 * the text is longer than MXB_GEOLOC_FIELD_MAX, not a number or out of range.
 */
int mxb_geoloc_set(struct mxb_geoloc *g, const char *name, const char *text, size_t len);
/* After every field: whether g is usable (a position with both lat and lon, or empty). */
bool mxb_geoloc_complete(const struct mxb_geoloc *g);

/* Unix seconds as XEP-0082 "YYYY-MM-DDThh:mm:ssZ" into buf (at least 21 bytes). */
int mxb_geoloc_time_format(int64_t t, char *buf, size_t size);
/* A XEP-0082 DateTime (fractions and offsets allowed) into Unix seconds. 0 or -EINVAL. */
int mxb_geoloc_time_parse(const char *s, size_t len, int64_t *out);

/*
 * The OwnTracks location a friend's app shows: {"_type":"location","lat":..,"lon":..,
 * "tst":..,"tid":..} with acc, alt, vel (km/h) and cog when g has them. tst falls back to
 * now when g has no timestamp. Returns a string to free(), or NULL (no memory).
 */
char *mxb_owntracks_friend_json(const struct mxb_geoloc *g, const char *tid, int64_t now);
/* The card the app shows for a friend: {"_type":"card","name":name}. free() it. */
char *mxb_owntracks_card_json(const char *name);
/*
 * The plain JSON form: {"jid":..,"lat":..,"lon":..,"accuracy":..,"alt":..,"speed":..,
 * "bearing":..,"timestamp":"..."} with what g has. free() it.
 */
char *mxb_geoloc_plain_json(const struct mxb_geoloc *g, const char *jid);

/*
 * The tid of a contact: the first two letters or digits of the JID's local part, upper
 * case ("bob@x" -> "BO"), into buf (at least 3 bytes); "XX" when there are none.
 */
void mxb_owntracks_tid(const char *jid, char *buf, size_t size);

/*
 * When an account's positions go out (pure; times in ms, tst in Unix seconds): a position
 * not newer than the newest accepted is stale (OwnTracks replays what it queued); one that
 * comes less than interval after the last publish waits, replacing any that waits, and goes
 * out at the end of the interval.
 */
struct mxb_location_pace {
	int64_t interval; /* ms between two publishes */
	int64_t newest_tst; /* newest tst accepted; 0: none */
	int64_t last_sent; /* when the last publish went out; INT64_MIN: never */
};

enum mxb_pace_verdict {
	MXB_PACE_STALE, /* drop it */
	MXB_PACE_NOW, /* publish it now (then call mxb_location_pace_sent) */
	MXB_PACE_LATER, /* hold it until mxb_location_pace_due (replacing what is held) */
};

void mxb_location_pace_init(struct mxb_location_pace *p, int64_t interval_ms);
enum mxb_pace_verdict mxb_location_pace_offer(
	struct mxb_location_pace *p, int64_t tst, int64_t now);
void mxb_location_pace_sent(struct mxb_location_pace *p, int64_t now);
/* When a held position may go out. */
int64_t mxb_location_pace_due(const struct mxb_location_pace *p);

#endif
