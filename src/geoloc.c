#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "geoloc.h"
#include "text.h"

/* The valid ranges, as the units of the struct have them. */
#define ACCURACY_MAX 1e7 /* metres: a position worse than this says nothing */
#define ALT_MIN -12000.0 /* below the deepest trench */
#define ALT_MAX 100000.0 /* the edge of space; phones on planes stay well below */
#define SPEED_MAX 3000.0 /* m/s, about Mach 9 */
#define TST_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

bool mxb_geoloc_has_position(const struct mxb_geoloc *g)
{
	return (g->has & (MXB_GEOLOC_LAT | MXB_GEOLOC_LON)) == (MXB_GEOLOC_LAT | MXB_GEOLOC_LON);
}

bool mxb_geoloc_complete(const struct mxb_geoloc *g)
{
	unsigned both = MXB_GEOLOC_LAT | MXB_GEOLOC_LON;
	return (g->has & both) == both || (g->has & both) == 0;
}

static bool in_range(double v, double lo, double hi)
{
	return isfinite(v) && v >= lo && v <= hi;
}

/* A number field of the object, when present: false when it is there but not a number. */
static bool json_number(const cJSON *o, const char *name, bool *present, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	*present = v != NULL;
	if (!v)
		return true;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return false;
	*out = v->valuedouble;
	return true;
}

static enum mxb_owntracks_kind invalid(const char **why, const char *what)
{
	*why = what;
	return MXB_OWNTRACKS_INVALID;
}

/* The optional fields of a location; lat, lon and tst are taken already. */
static enum mxb_owntracks_kind location_extras(
	const cJSON *o, struct mxb_geoloc *g, const char **why)
{
	bool present;
	double v;
	if (!json_number(o, "acc", &present, &v))
		return invalid(why, "'acc' is not a number");
	if (present) {
		if (!in_range(v, 0, ACCURACY_MAX))
			return invalid(why, "'acc' out of range");
		g->accuracy = v;
		g->has |= MXB_GEOLOC_ACCURACY;
	}
	if (!json_number(o, "alt", &present, &v))
		return invalid(why, "'alt' is not a number");
	if (present) {
		if (!in_range(v, ALT_MIN, ALT_MAX))
			return invalid(why, "'alt' out of range");
		g->alt = v;
		g->has |= MXB_GEOLOC_ALT;
	}
	if (!json_number(o, "vel", &present, &v))
		return invalid(why, "'vel' is not a number");
	/* The app sends -1 when the phone knows no speed. */
	if (present && v != -1) {
		if (!in_range(v, 0, SPEED_MAX * 3.6))
			return invalid(why, "'vel' out of range");
		g->speed = v / 3.6;
		g->has |= MXB_GEOLOC_SPEED;
	}
	if (!json_number(o, "cog", &present, &v))
		return invalid(why, "'cog' is not a number");
	if (present && v != -1) {
		if (!in_range(v, 0, 360))
			return invalid(why, "'cog' out of range");
		g->bearing = v == 360 ? 0 : v;
		g->has |= MXB_GEOLOC_BEARING;
	}
	return MXB_OWNTRACKS_LOCATION;
}

static enum mxb_owntracks_kind parse_location(
	const cJSON *o, struct mxb_geoloc *g, const char **why)
{
	bool present;
	double lat, lon, tst;
	if (!json_number(o, "lat", &present, &lat) || !present)
		return invalid(why, "'lat' missing or not a number");
	if (!json_number(o, "lon", &present, &lon) || !present)
		return invalid(why, "'lon' missing or not a number");
	if (!json_number(o, "tst", &present, &tst) || !present)
		return invalid(why, "'tst' missing or not a number");
	if (!in_range(lat, -90, 90) || !in_range(lon, -180, 180))
		return invalid(why, "'lat' or 'lon' out of range");
	if (!in_range(tst, 1, (double)TST_MAX) || tst != floor(tst))
		return invalid(why, "'tst' is not a time in seconds");
	g->lat = lat;
	g->lon = lon;
	g->timestamp = (int64_t)tst;
	g->has = MXB_GEOLOC_LAT | MXB_GEOLOC_LON | MXB_GEOLOC_TIMESTAMP;
	return location_extras(o, g, why);
}

enum mxb_owntracks_kind mxb_owntracks_parse(
	const char *payload, size_t len, struct mxb_geoloc *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	*why = "";
	if (len > MXB_OWNTRACKS_MAX)
		return invalid(why, "longer than the largest OwnTracks payload looked at");
	if (!mxb_text_utf8_valid(payload, len))
		return invalid(why, "not UTF-8");
	cJSON *o = cJSON_ParseWithLength(payload, len);
	if (!o)
		return invalid(why, "not JSON");
	enum mxb_owntracks_kind kind;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "_type");
	if (!cJSON_IsObject(o) || !cJSON_IsString(type)) {
		kind = invalid(why, "no '_type'");
	} else if (strcmp(type->valuestring, "location") == 0) {
		kind = parse_location(o, out, why);
		if (kind != MXB_OWNTRACKS_LOCATION)
			memset(out, 0, sizeof(*out));
	} else {
		/*
		 * transition, waypoint, waypoints, lwt, card, cmd, status, steps, encrypted: none
		 * carries a position of the phone now (a transition's lat/lon are the region's or
		 * the last fix), so none becomes one. The static names keep *why valid.
		 */
		static const char *const known[] = {"transition", "waypoint", "waypoints", "lwt",
			"card", "cmd", "status", "steps", "encrypted", "beacon", "request"};
		*why = "other";
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			if (strcmp(type->valuestring, known[i]) == 0)
				*why = known[i];
		}
		kind = MXB_OWNTRACKS_IGNORED;
	}
	cJSON_Delete(o);
	return kind;
}

bool mxb_owntracks_tst_plausible(int64_t tst, int64_t now)
{
	return tst <= now + MXB_OWNTRACKS_FUTURE_MAX;
}

bool mxb_owntracks_topic(const char *prefix, const char *topic, const char **user, size_t *user_len)
{
	size_t plen = strlen(prefix);
	if (strncmp(topic, prefix, plen) != 0 || topic[plen] != '/')
		return false;
	const char *u = topic + plen + 1;
	const char *slash = strchr(u, '/');
	if (!slash || slash == u || slash[1] == '\0' || strchr(slash + 1, '/'))
		return false;
	*user = u;
	*user_len = (size_t)(slash - u);
	return true;
}

/* v with at most decimals digits after the point, trailing zeros dropped. */
static int put_number(char *buf, size_t size, double v, int decimals)
{
	char tmp[64];
	int n = snprintf(tmp, sizeof(tmp), "%.*f", decimals, v);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENOSPC;
	if (strchr(tmp, '.')) {
		while (n > 0 && tmp[n - 1] == '0')
			tmp[--n] = '\0';
		if (n > 0 && tmp[n - 1] == '.')
			tmp[--n] = '\0';
	}
	if (strcmp(tmp, "-0") == 0)
		memcpy(tmp, "0", 2), n = 1;
	if ((size_t)n >= size)
		return -ENOSPC;
	memcpy(buf, tmp, (size_t)n + 1);
	return n;
}

struct out {
	char *buf;
	size_t size, len;
	bool full;
};

static void put(struct out *o, const char *s)
{
	size_t n = strlen(s);
	if (o->full || o->len + n >= o->size) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n + 1);
	o->len += n;
}

static void put_field(struct out *o, const char *name, double v, int decimals)
{
	char num[64];
	if (put_number(num, sizeof(num), v, decimals) < 0) {
		o->full = true;
		return;
	}
	char elem[160];
	snprintf(elem, sizeof(elem), "<%s>%s</%s>", name, num, name);
	put(o, elem);
}

int mxb_geoloc_xml(const struct mxb_geoloc *g, char *buf, size_t size)
{
	struct out o = {buf, size, 0, size == 0};
	if (size)
		buf[0] = '\0';
	if (!mxb_geoloc_has_position(g)) {
		put(&o, "<geoloc xmlns='" MXB_NS_GEOLOC "'/>");
		return o.full ? -ENOSPC : (int)o.len;
	}
	put(&o, "<geoloc xmlns='" MXB_NS_GEOLOC "'>");
	/* XEP-0080's order of elements does not matter; this is the table's. */
	if (g->has & MXB_GEOLOC_ACCURACY)
		put_field(&o, "accuracy", g->accuracy, 1);
	if (g->has & MXB_GEOLOC_ALT)
		put_field(&o, "alt", g->alt, 1);
	if (g->has & MXB_GEOLOC_BEARING)
		put_field(&o, "bearing", g->bearing, 1);
	put_field(&o, "lat", g->lat, 7);
	put_field(&o, "lon", g->lon, 7);
	if (g->has & MXB_GEOLOC_SPEED)
		put_field(&o, "speed", g->speed, 2);
	if (g->has & MXB_GEOLOC_TIMESTAMP) {
		char ts[32], elem[64];
		if (mxb_geoloc_time_format(g->timestamp, ts, sizeof(ts)) < 0)
			return -ENOSPC;
		snprintf(elem, sizeof(elem), "<timestamp>%s</timestamp>", ts);
		put(&o, elem);
	}
	put(&o, "</geoloc>");
	return o.full ? -ENOSPC : (int)o.len;
}

/* A decimal number filling all of s: no hex, no inf, no nan, no leading space. */
static bool parse_decimal(const char *s, double *out)
{
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (!(*p >= '0' && *p <= '9') && *p != '.')
		return false;
	for (const char *q = p; *q; q++) {
		if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
			    *q == '-' || *q == '+'))
			return false;
	}
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
		return false;
	*out = v;
	return true;
}

int mxb_geoloc_set(struct mxb_geoloc *g, const char *name, const char *text, size_t len)
{
	static const struct {
		const char *name;
		unsigned bit;
		double lo, hi;
	} fields[] = {
		{"lat", MXB_GEOLOC_LAT, -90, 90},
		{"lon", MXB_GEOLOC_LON, -180, 180},
		{"accuracy", MXB_GEOLOC_ACCURACY, 0, ACCURACY_MAX},
		{"alt", MXB_GEOLOC_ALT, ALT_MIN, ALT_MAX},
		{"speed", MXB_GEOLOC_SPEED, 0, SPEED_MAX},
		{"bearing", MXB_GEOLOC_BEARING, 0, 360},
		{"timestamp", MXB_GEOLOC_TIMESTAMP, 0, 0},
	};
	size_t i = 0;
	while (i < sizeof(fields) / sizeof(fields[0]) && strcmp(fields[i].name, name) != 0)
		i++;
	if (i == sizeof(fields) / sizeof(fields[0]))
		return 0;
	if (len > MXB_GEOLOC_FIELD_MAX || memchr(text, '\0', len))
		return -EINVAL;
	char buf[MXB_GEOLOC_FIELD_MAX + 1];
	memcpy(buf, text, len);
	buf[len] = '\0';
	/* XML allows white space around a number (xs:decimal collapses it). */
	char *s = buf;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n > 0 &&
		(s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	if (fields[i].bit == MXB_GEOLOC_TIMESTAMP) {
		if (mxb_geoloc_time_parse(s, n, &g->timestamp) < 0)
			return -EINVAL;
		g->has |= MXB_GEOLOC_TIMESTAMP;
		return 1;
	}
	double v;
	if (!parse_decimal(s, &v) || !in_range(v, fields[i].lo, fields[i].hi))
		return -EINVAL;
	switch (fields[i].bit) {
	case MXB_GEOLOC_LAT:
		g->lat = v;
		break;
	case MXB_GEOLOC_LON:
		g->lon = v;
		break;
	case MXB_GEOLOC_ACCURACY:
		g->accuracy = v;
		break;
	case MXB_GEOLOC_ALT:
		g->alt = v;
		break;
	case MXB_GEOLOC_SPEED:
		g->speed = v;
		break;
	default:
		g->bearing = v == 360 ? 0 : v;
		break;
	}
	g->has |= fields[i].bit;
	return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int mxb_geoloc_time_format(int64_t t, char *buf, size_t size)
{
	if (t < 0 || t > TST_MAX)
		return -EINVAL;
	int64_t days = t / 86400, secs = t % 86400;
	/* civil_from_days, the inverse of the above */
	int64_t z = days + 719468;
	int64_t era = z / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y += m <= 2;
	int n = snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d,
		(int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

/* n digits at s as a number, or -1. */
static int digits(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int mxb_geoloc_time_parse(const char *s, size_t len, int64_t *out)
{
	/* CCYY-MM-DDThh:mm:ss[.sss]TZD */
	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -EINVAL;
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
		mi > 59 || se < 0 || se > 60)
		return -EINVAL;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
		return -EINVAL;
	size_t i = 19;
	if (i < len && s[i] == '.') {
		i++;
		size_t start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return -EINVAL;
	}
	int offset = 0;
	if (i + 1 == len && s[i] == 'Z') {
		offset = 0;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -EINVAL;
		offset = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
	} else {
		return -EINVAL;
	}
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (se > 59 ? 59 : se);
	t -= offset;
	if (t < 0 || t > TST_MAX)
		return -EINVAL;
	*out = t;
	return 0;
}

static bool add_number(cJSON *o, const char *name, double v)
{
	return cJSON_AddNumberToObject(o, name, v) != NULL;
}

char *mxb_owntracks_friend_json(const struct mxb_geoloc *g, const char *tid, int64_t now)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o && cJSON_AddStringToObject(o, "_type", "location") &&
		  add_number(o, "lat", g->lat) && add_number(o, "lon", g->lon);
	/* The app's own integers: metres, km/h, degrees, seconds. */
	if (ok && (g->has & MXB_GEOLOC_ACCURACY))
		ok = add_number(o, "acc", round(g->accuracy));
	if (ok && (g->has & MXB_GEOLOC_ALT))
		ok = add_number(o, "alt", round(g->alt));
	if (ok && (g->has & MXB_GEOLOC_SPEED))
		ok = add_number(o, "vel", round(g->speed * 3.6));
	if (ok && (g->has & MXB_GEOLOC_BEARING))
		ok = add_number(o, "cog", round(g->bearing));
	if (ok)
		ok = add_number(
			o, "tst", (double)((g->has & MXB_GEOLOC_TIMESTAMP) ? g->timestamp : now));
	if (ok)
		ok = cJSON_AddStringToObject(o, "tid", tid) != NULL;
	char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

char *mxb_owntracks_card_json(const char *name)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o && cJSON_AddStringToObject(o, "_type", "card") &&
		  cJSON_AddStringToObject(o, "name", name);
	char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

char *mxb_geoloc_plain_json(const struct mxb_geoloc *g, const char *jid)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o && cJSON_AddStringToObject(o, "jid", jid) && add_number(o, "lat", g->lat) &&
		  add_number(o, "lon", g->lon);
	if (ok && (g->has & MXB_GEOLOC_ACCURACY))
		ok = add_number(o, "accuracy", g->accuracy);
	if (ok && (g->has & MXB_GEOLOC_ALT))
		ok = add_number(o, "alt", g->alt);
	if (ok && (g->has & MXB_GEOLOC_SPEED))
		ok = add_number(o, "speed", g->speed);
	if (ok && (g->has & MXB_GEOLOC_BEARING))
		ok = add_number(o, "bearing", g->bearing);
	if (ok && (g->has & MXB_GEOLOC_TIMESTAMP)) {
		char ts[32];
		ok = mxb_geoloc_time_format(g->timestamp, ts, sizeof(ts)) > 0 &&
		     cJSON_AddStringToObject(o, "timestamp", ts);
	}
	char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

void mxb_owntracks_tid(const char *jid, char *buf, size_t size)
{
	size_t n = 0;
	for (const char *p = jid; *p && *p != '@' && n < 2 && n + 1 < size; p++) {
		char c = *p;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			buf[n++] = c;
	}
	if (n == 0 && size >= 3)
		memcpy(buf, "XX", 2), n = 2;
	if (size)
		buf[n < size ? n : size - 1] = '\0';
}

void mxb_location_pace_init(struct mxb_location_pace *p, int64_t interval_ms)
{
	p->interval = interval_ms;
	p->newest_tst = 0;
	p->last_sent = INT64_MIN;
}

enum mxb_pace_verdict mxb_location_pace_offer(struct mxb_location_pace *p, int64_t tst, int64_t now)
{
	if (tst <= p->newest_tst)
		return MXB_PACE_STALE;
	p->newest_tst = tst;
	if (p->last_sent == INT64_MIN || now - p->last_sent >= p->interval)
		return MXB_PACE_NOW;
	return MXB_PACE_LATER;
}

void mxb_location_pace_sent(struct mxb_location_pace *p, int64_t now)
{
	p->last_sent = now;
}

int64_t mxb_location_pace_due(const struct mxb_location_pace *p)
{
	return p->last_sent == INT64_MIN ? INT64_MIN : p->last_sent + p->interval;
}
