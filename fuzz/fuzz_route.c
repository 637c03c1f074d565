/*
 * Fuzzes the route verdicts (route.c): a sequence of messages decoded from the input
 * (topic, retain flag, time step, payload) goes through every matching notify route.
 * Checks what each verdict promises against the route's settings, that an encoded payload
 * is the base64 or hex form of the message's, and that a throttle loses nothing: every
 * value it held and did not replace comes out of mxb_routes_due, the latest one of each
 * topic, exactly once.
 */

#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "route.h"
#include "text.h"

static struct mxb_notify_route notify[6];
static struct mxb_device_rule devices[1];
static struct mxb_config cfg;
static const char *const topics[] = {
	"home/a/temp", "home/b/temp", "cam/1", "tele/x/LWT", "home/a/alarm", "other"};
#define NTOPICS (sizeof(topics) / sizeof(topics[0]))

static void setup(void)
{
	notify[0] = (struct mxb_notify_route){.topic = "home/#"};
	notify[1] = (struct mxb_notify_route){.topic = "home/+/alarm", .retained = true};
	notify[2] = (struct mxb_notify_route){
		.topic = "cam/+", .binary = MXB_BINARY_BASE64, .max_payload = 24};
	notify[3] = (struct mxb_notify_route){.topic = "#", .binary = MXB_BINARY_HEX};
	notify[4] = (struct mxb_notify_route){.topic = "+/+/temp", .min_interval = 5};
	notify[5] = (struct mxb_notify_route){.topic = "home/+/+",
		.min_interval = 2,
		.only_changes = true,
		.binary = MXB_BINARY_SKIP};
	devices[0] = (struct mxb_device_rule){.availability = "tele/+/LWT", .state = "home/+/temp"};
	cfg.notify = notify;
	cfg.notify_len = 6;
	cfg.devices = devices;
	cfg.devices_len = 1;
	cfg.bridge.max_payload = 32;
}

/* What the throttled routes must still hand out: the latest held value of each topic. */
struct pending {
	bool held;
	char value[80];
	size_t len;
};
static struct pending model[6][NTOPICS];

static size_t topic_index(const char *t)
{
	for (size_t i = 0; i < NTOPICS; i++) {
		if (strcmp(topics[i], t) == 0)
			return i;
	}
	abort();
}

static void on_due(size_t route, const char *topic, const char *payload, size_t len, void *data)
{
	(void)data;
	struct pending *p = &model[route][topic_index(topic)];
	FUZZ_CHECK(p->held);
	FUZZ_CHECK(p->len == len && memcmp(p->value, payload, len) == 0);
	p->held = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cfg.notify)
		setup();
	struct mxb_routes *r;
	if (mxb_routes_create(&r, &cfg) < 0)
		return 0;
	memset(model, 0, sizeof(model));
	int64_t now = 0;
	char expect[80];
	while (size >= 3) {
		const char *topic = topics[data[0] % NTOPICS];
		bool retain = data[0] & 0x80;
		now += (data[1] & 0x7f) * 100;
		size_t len = data[2] % 40;
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		const char *payload = (const char *)data;
		data += len;
		size -= len;
		if (data[-1] & 0x40)
			mxb_routes_due(r, now, on_due, NULL);

		const struct mxb_route_ref *refs;
		size_t n = mxb_routes_match(r, topic, &refs);
		struct mxb_route_message m = {topic, payload, len, retain, -1};
		bool binary = mxb_text_is_binary(payload, len);
		for (size_t k = 0; k < n; k++) {
			if (refs[k].kind != MXB_ROUTE_NOTIFY)
				continue;
			size_t i = refs[k].index;
			const struct mxb_notify_route *route = &notify[i];
			const char *out = NULL;
			size_t olen = 0;
			enum mxb_route_verdict v = mxb_routes_decide(r, i, &m, now, &out, &olen);
			size_t max =
				route->max_payload ? route->max_payload : cfg.bridge.max_payload;
			bool throttled = route->min_interval || route->only_changes;
			switch (v) {
			case MXB_ROUTE_SEND:
			case MXB_ROUTE_HELD:
			case MXB_ROUTE_UNCHANGED:
				FUZZ_CHECK(!retain || route->retained);
				FUZZ_CHECK(len <= max);
				FUZZ_CHECK(!binary || route->binary != MXB_BINARY_SKIP);
				FUZZ_CHECK(v == MXB_ROUTE_SEND || throttled);
				if (v == MXB_ROUTE_SEND && binary &&
					route->binary == MXB_BINARY_BASE64) {
					FUZZ_CHECK(mxb_text_base64(payload, len, expect,
							   sizeof(expect)) == (ssize_t)olen);
					FUZZ_CHECK(memcmp(out, expect, olen) == 0);
				} else if (v == MXB_ROUTE_SEND && binary &&
					   route->binary == MXB_BINARY_HEX) {
					FUZZ_CHECK(olen == 2 * len);
				} else if (v == MXB_ROUTE_SEND) {
					FUZZ_CHECK(olen == len && memcmp(out, payload, len) == 0);
				}
				if (throttled) {
					/* A newer value replaces what was held: it is the latest.
					 */
					struct pending *p = &model[i][topic_index(topic)];
					p->held = v == MXB_ROUTE_HELD;
					p->len = len; /* skip and text routes only: the payload
							 itself */
					memcpy(p->value, payload, len);
				}
				break;
			case MXB_ROUTE_RETAINED:
				FUZZ_CHECK(retain && !route->retained);
				break;
			case MXB_ROUTE_TOO_LARGE:
				FUZZ_CHECK(len > max);
				break;
			case MXB_ROUTE_BINARY_SKIPPED:
				FUZZ_CHECK(binary && route->binary == MXB_BINARY_SKIP);
				break;
			default:
				FUZZ_CHECK(!"a verdict the header does not name");
			}
		}
	}
	/* Long after the last message every interval has ended: nothing may stay held. */
	FUZZ_CHECK(mxb_routes_due(r, now + 3600 * 1000, on_due, NULL) == INT64_MAX);
	for (size_t i = 0; i < 6; i++) {
		for (size_t t = 0; t < NTOPICS; t++)
			FUZZ_CHECK(!model[i][t].held);
	}
	mxb_routes_destroy(r);
	return 0;
}
