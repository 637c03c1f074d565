#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "route.h"
#include "text.h"

static struct mxb_notify_route notify[5];
static struct mxb_device_rule devices[1];
static struct mxb_config cfg;

static void setup(void)
{
	notify[0] = (struct mxb_notify_route){.topic = "home/#"};
	notify[1] = (struct mxb_notify_route){.topic = "home/+/alarm", .retained = true};
	notify[2] = (struct mxb_notify_route){
		.topic = "cam/+", .binary = MXB_BINARY_BASE64, .max_payload = 8};
	notify[3] = (struct mxb_notify_route){.topic = "cam/+", .binary = MXB_BINARY_SKIP};
	notify[4] = (struct mxb_notify_route){
		.topic = "home/+/temp", .min_interval = 10, .only_changes = true};
	devices[0] = (struct mxb_device_rule){.availability = "tele/+/LWT", .state = "home/+/temp"};
	cfg.notify = notify;
	cfg.notify_len = 5;
	cfg.devices = devices;
	cfg.devices_len = 1;
	cfg.bridge.max_payload = 16;
}

static enum mxb_route_verdict decide(struct mxb_routes *r, size_t i, const char *topic,
	const char *payload, size_t len, bool retain, int64_t now, const char **out, size_t *olen)
{
	struct mxb_route_message m = {topic, payload, len, retain, -1};
	return mxb_routes_decide(r, i, &m, now, out, olen);
}

static void test_match(struct mxb_routes *r)
{
	const struct mxb_route_ref *refs;
	size_t n = mxb_routes_match(r, "home/kitchen/temp", &refs);
	/* one walk finds the notify routes in file order, then the device rule */
	CHECK(n == 3);
	CHECK(refs[0].kind == MXB_ROUTE_NOTIFY && refs[0].index == 0);
	CHECK(refs[1].kind == MXB_ROUTE_NOTIFY && refs[1].index == 4);
	CHECK(refs[2].kind == MXB_ROUTE_STATE && refs[2].index == 0);
	n = mxb_routes_match(r, "tele/plug/LWT", &refs);
	CHECK(n == 1 && refs[0].kind == MXB_ROUTE_AVAILABILITY && refs[0].index == 0);
	CHECK(mxb_routes_match(r, "elsewhere", &refs) == 0);
}

static void test_verdicts(struct mxb_routes *r)
{
	const char *p;
	size_t len;
	CHECK(decide(r, 0, "home/a", "x", 1, false, 0, &p, &len) == MXB_ROUTE_SEND);
	CHECK(p && len == 1 && memcmp(p, "x", 1) == 0);
	CHECK(decide(r, 0, "home/a", "x", 1, true, 0, &p, &len) == MXB_ROUTE_RETAINED);
	CHECK(decide(r, 1, "home/a/alarm", "x", 1, true, 0, &p, &len) == MXB_ROUTE_SEND);
	/* bridge.max_payload 16, and the route's own 8 */
	CHECK(decide(r, 0, "home/a", "0123456789abcdef", 16, false, 0, &p, &len) == MXB_ROUTE_SEND);
	CHECK(decide(r, 0, "home/a", "0123456789abcdefg", 17, false, 0, &p, &len) ==
		MXB_ROUTE_TOO_LARGE);
	CHECK(decide(r, 2, "cam/1", "\xff\xd8\xff\x00\x01\x02\x03\x04\x05", 9, false, 0, &p,
		      &len) == MXB_ROUTE_TOO_LARGE);
	/* binary: base64 on one route, skipped on the other; text passes both as it is */
	CHECK(decide(r, 2, "cam/1", "\xff\xd8\xff\x00", 4, false, 0, &p, &len) == MXB_ROUTE_SEND);
	CHECK_STR(p, "/9j/AA==");
	CHECK(len == 8);
	CHECK(decide(r, 3, "cam/1", "\xff\xd8\xff\x00", 4, false, 0, &p, &len) ==
		MXB_ROUTE_BINARY_SKIPPED);
	CHECK(decide(r, 2, "cam/1", "text", 4, false, 0, &p, &len) == MXB_ROUTE_SEND);
	CHECK(len == 4 && memcmp(p, "text", 4) == 0);
	/* throttled: first sent, then held; the same value later is unchanged */
	CHECK(decide(r, 4, "home/k/temp", "20", 2, false, 1000, &p, &len) == MXB_ROUTE_SEND);
	CHECK(decide(r, 4, "home/k/temp", "21", 2, false, 2000, &p, &len) == MXB_ROUTE_HELD);
}

struct got {
	size_t route;
	char payload[16];
	int n;
};

static void on_due(size_t route, const char *topic, const char *payload, size_t len, void *data)
{
	(void)topic;
	struct got *g = data;
	g->route = route;
	snprintf(g->payload, sizeof(g->payload), "%.*s", (int)len, payload);
	g->n++;
}

static void test_due_and_adopt(struct mxb_routes *r)
{
	struct got g = {0};
	CHECK(mxb_routes_due(r, 5000, on_due, &g) == 11000);
	CHECK(g.n == 0);
	/* a reload that moves the throttled route keeps what it holds */
	static struct mxb_notify_route moved[2];
	moved[0] = (struct mxb_notify_route){.topic = "other/#"};
	moved[1] = notify[4];
	struct mxb_config c2 = cfg;
	c2.notify = moved;
	c2.notify_len = 2;
	struct mxb_routes *fresh;
	CHECK(mxb_routes_create(&fresh, &c2) == 0);
	CHECK(mxb_routes_adopt(fresh, r) == 1);
	CHECK(mxb_routes_due(fresh, 11000, on_due, &g) == INT64_MAX);
	CHECK(g.n == 1 && g.route == 1);
	CHECK_STR(g.payload, "21");
	const char *p;
	size_t len;
	/* only_changes remembered across the reload */
	CHECK(decide(fresh, 1, "home/k/temp", "21", 2, false, 30000, &p, &len) ==
		MXB_ROUTE_UNCHANGED);
	mxb_routes_destroy(fresh);
}

struct held {
	char payload[64];
	size_t len;
	int n;
};

static void on_held(size_t route, const char *topic, const char *payload, size_t len, void *data)
{
	(void)route, (void)topic;
	struct held *h = data;
	memcpy(h->payload, payload, len < sizeof(h->payload) ? len : sizeof(h->payload));
	h->len = len;
	h->n++;
}

/* binary = "upload": binary payloads come back whole, throttled like text, held whole. */
static void test_upload(void)
{
	static struct mxb_notify_route up[1];
	up[0] = (struct mxb_notify_route){.topic = "frigate/+/person/snapshot",
		.binary = MXB_BINARY_UPLOAD,
		.max_payload = 32,
		.min_interval = 5};
	struct mxb_config c = {.notify = up, .notify_len = 1};
	c.bridge.max_payload = 4;
	struct mxb_routes *r;
	CHECK(mxb_routes_create(&r, &c) == 0);
	const char *p;
	size_t len;
	static const char jpeg1[] = "\xff\xd8\xff\xe0\0\x10JFIF\0one";
	static const char jpeg2[] = "\xff\xd8\xff\xe0\0\x10JFIF\0two!";
	static const char jpeg3[] = "\xff\xd8\xff\xe0\0\x10JFIF\0three";
	const char *t = "frigate/front/person/snapshot";
	CHECK(decide(r, 0, t, jpeg1, sizeof(jpeg1) - 1, false, 1000, &p, &len) == MXB_ROUTE_UPLOAD);
	CHECK(p == jpeg1 && len == sizeof(jpeg1) - 1);
	/* a burst: held, the latest whole */
	CHECK(decide(r, 0, t, jpeg2, sizeof(jpeg2) - 1, false, 2000, &p, &len) == MXB_ROUTE_HELD);
	CHECK(decide(r, 0, t, jpeg3, sizeof(jpeg3) - 1, false, 3000, &p, &len) == MXB_ROUTE_HELD);
	struct held h = {0};
	CHECK(mxb_routes_due(r, 6000, on_held, &h) == INT64_MAX);
	CHECK(h.n == 1 && h.len == sizeof(jpeg3) - 1 && memcmp(h.payload, jpeg3, h.len) == 0);
	/* text on an upload route is text */
	CHECK(decide(r, 0, "frigate/x/person/snapshot", "hello", 5, false, 9000, &p, &len) ==
		MXB_ROUTE_SEND);
	CHECK(p && len == 5);
	/* over the route's max_payload (not bridge.max_payload, which is smaller) */
	static const char big[40] = "\xff\xd8\xff";
	CHECK(decide(r, 0, "frigate/y/person/snapshot", big, sizeof(big), false, 9000, &p, &len) ==
		MXB_ROUTE_TOO_LARGE);
	mxb_routes_destroy(r);
}

static void test_encoders(void)
{
	char out[16];
	CHECK(mxb_text_base64("", 0, out, sizeof(out)) == 0);
	CHECK_STR(out, "");
	CHECK(mxb_text_base64("f", 1, out, sizeof(out)) == 4);
	CHECK_STR(out, "Zg==");
	CHECK(mxb_text_base64("fo", 2, out, sizeof(out)) == 4);
	CHECK_STR(out, "Zm8=");
	CHECK(mxb_text_base64("foobar", 6, out, sizeof(out)) == 8);
	CHECK_STR(out, "Zm9vYmFy");
	CHECK(mxb_text_base64("foobar", 6, out, 8) < 0);
	CHECK(mxb_text_hex("\x00\xff\x10", 3, out, sizeof(out)) == 6);
	CHECK_STR(out, "00ff10");
	CHECK(mxb_text_hex("abc", 3, out, 6) < 0);
}

int main(void)
{
	setup();
	struct mxb_routes *r;
	CHECK(mxb_routes_create(&r, &cfg) == 0);
	test_match(r);
	test_verdicts(r);
	test_due_and_adopt(r);
	mxb_routes_destroy(r);
	test_encoders();
	test_upload();
	return check_report("route");
}
