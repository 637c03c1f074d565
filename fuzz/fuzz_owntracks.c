/*
 * Fuzzes geoloc.c, the parser of what peers send: an OwnTracks payload from MQTT, or the
 * fields of a contact's <geoloc/>. Properties, from the rules in geoloc.h rather than from
 * the code: a location is in range in every field it has; its XML fits the bound, holds
 * only the characters numbers and timestamps need, and its timestamp parses back to the
 * same second; its friend JSON parses with cJSON and carries lat and lon. Anything else
 * leaves no position behind.
 *
 * Input: byte 0 chooses the mode (even: the whole rest is an OwnTracks payload; odd: the
 * rest is a field name index, then the field's text).
 */

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "geoloc.h"

static void check_position(const struct mxb_geoloc *g)
{
	FUZZ_CHECK(mxb_geoloc_has_position(g));
	FUZZ_CHECK(g->lat >= -90 && g->lat <= 90 && g->lon >= -180 && g->lon <= 180);
	if (g->has & MXB_GEOLOC_SPEED)
		FUZZ_CHECK(isfinite(g->speed) && g->speed >= 0);
	if (g->has & MXB_GEOLOC_BEARING)
		FUZZ_CHECK(g->bearing >= 0 && g->bearing < 360);
	if (g->has & MXB_GEOLOC_ACCURACY)
		FUZZ_CHECK(isfinite(g->accuracy) && g->accuracy >= 0);
	char xml[MXB_GEOLOC_XML_MAX];
	int n = mxb_geoloc_xml(g, xml, sizeof(xml));
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(xml) && strlen(xml) == (size_t)n);
	const char *body = strchr(xml, '>') + 1;
	for (const char *p = body; *p; p++)
		FUZZ_CHECK(strchr("<>/-.:0123456789TZabcdefghijklmnopqrstuvwxyz", *p) != NULL);
	if (g->has & MXB_GEOLOC_TIMESTAMP) {
		char ts[32];
		int64_t back;
		FUZZ_CHECK(mxb_geoloc_time_format(g->timestamp, ts, sizeof(ts)) == 20);
		FUZZ_CHECK(mxb_geoloc_time_parse(ts, 20, &back) == 0 && back == g->timestamp);
	}
	char *json = mxb_owntracks_friend_json(g, "XX", 0);
	FUZZ_CHECK(json != NULL);
	cJSON *o = cJSON_Parse(json);
	FUZZ_CHECK(o != NULL);
	const cJSON *lat = cJSON_GetObjectItemCaseSensitive(o, "lat");
	FUZZ_CHECK(cJSON_IsNumber(lat) && fabs(lat->valuedouble - g->lat) < 1e-9);
	cJSON_Delete(o);
	free(json);
}

static void fuzz_payload(const char *s, size_t len)
{
	struct mxb_geoloc g;
	const char *why = NULL;
	enum mxb_owntracks_kind k = mxb_owntracks_parse(s, len, &g, &why);
	FUZZ_CHECK(why != NULL);
	if (k == MXB_OWNTRACKS_LOCATION) {
		FUZZ_CHECK(g.has & MXB_GEOLOC_TIMESTAMP);
		check_position(&g);
	} else {
		FUZZ_CHECK(!mxb_geoloc_has_position(&g) && g.has == 0);
		FUZZ_CHECK(k != MXB_OWNTRACKS_INVALID || *why);
	}
}

static void fuzz_fields(const char *s, size_t len)
{
	static const char *const names[] = {
		"lat", "lon", "accuracy", "alt", "speed", "bearing", "timestamp", "text"};
	struct mxb_geoloc g = {0};
	/* Records: name index, length, text. */
	size_t i = 0;
	while (i + 2 <= len) {
		const char *name = names[(unsigned char)s[i] % 8];
		size_t n = (unsigned char)s[i + 1];
		i += 2;
		if (n > len - i)
			n = len - i;
		int r = mxb_geoloc_set(&g, name, s + i, n);
		FUZZ_CHECK(r == 0 || r == 1 || r == -EINVAL);
		if (r == 0)
			FUZZ_CHECK(strcmp(name, "text") == 0);
		i += n;
	}
	if (mxb_geoloc_complete(&g) && mxb_geoloc_has_position(&g))
		check_position(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *s = (const char *)data + 1;
	if (data[0] % 2 == 0)
		fuzz_payload(s, size - 1);
	else
		fuzz_fields(s, size - 1);
	return 0;
}
