#include <stdint.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "reload.h"

struct calls {
	char log[512];
};

static void on_sub(const char *topic, int qos, bool again, void *data)
{
	struct calls *c = data;
	size_t n = strlen(c->log);
	snprintf(c->log + n, sizeof(c->log) - n, "+%s/%d%s ", topic, qos, again ? "!" : "");
}

static void on_unsub(const char *topic, void *data)
{
	struct calls *c = data;
	size_t n = strlen(c->log);
	snprintf(c->log + n, sizeof(c->log) - n, "-%s ", topic);
}

static const struct mxb_reload_ops ops = {on_sub, on_unsub};

static void test_normalize(void)
{
	struct mxb_filter f[] = {{"b", 0}, {"a", 1}, {"b", 2}, {"a", 0}, {"c", 1}};
	size_t n = mxb_reload_filters_normalize(f, 5);
	CHECK(n == 3);
	CHECK_STR(f[0].topic, "a");
	CHECK(f[0].qos == 1);
	CHECK_STR(f[1].topic, "b");
	CHECK(f[1].qos == 2);
	CHECK_STR(f[2].topic, "c");
	CHECK(mxb_reload_filters_normalize(f, 0) == 0);
}

static void test_diff(void)
{
	struct mxb_filter old[] = {{"a/#", 1}, {"b/+", 1}, {"c", 1}, {"d", 2}};
	struct mxb_filter fresh[] = {{"a/#", 1}, {"b/+", 2}, {"d", 0}, {"e", 0}};
	struct calls c = {{0}};
	mxb_reload_filters_diff(old, 4, fresh, 4, &ops, &c);
	/* Unchanged and lowered filters are left alone: a SUBSCRIBE resends retained ones. */
	CHECK_STR(c.log, "+b/+/2! -c +e/0 ");

	struct calls same = {{0}};
	mxb_reload_filters_diff(old, 4, old, 4, &ops, &same);
	CHECK_STR(same.log, "");

	struct calls none = {{0}};
	mxb_reload_filters_diff(NULL, 0, fresh, 2, &ops, &none);
	CHECK_STR(none.log, "+a/#/1 +b/+/2 ");
	struct calls all = {{0}};
	mxb_reload_filters_diff(old, 2, NULL, 0, &ops, &all);
	CHECK_STR(all.log, "-a/# -b/+ ");
}

static void test_pair(void)
{
	struct mxb_notify_route old[] = {
		{.topic = "a", .min_interval = 30},
		{.topic = "b"}, /* not throttled */
		{.topic = "a", .min_interval = 30},
		{.topic = "c", .only_changes = true},
		{.topic = "d", .min_interval = 5},
	};
	struct mxb_notify_route fresh[] = {
		{.topic = "c", .only_changes = true}, /* moved: matched by content */
		{.topic = "a", .min_interval = 30},
		{.topic = "b"},
		{.topic = "d", .min_interval = 6}, /* changed: starts afresh */
		{.topic = "a", .min_interval = 30},
		{.topic = "a", .min_interval = 30}, /* a third one: no old state left */
		{.topic = "c", .min_interval = 1, .only_changes = true},
	};
	size_t out[7];
	CHECK(mxb_reload_pair_throttles(old, 5, fresh, 7, out) == 0);
	CHECK(out[0] == 3);
	CHECK(out[1] == 0);
	CHECK(out[2] == SIZE_MAX);
	CHECK(out[3] == SIZE_MAX);
	CHECK(out[4] == 2);
	CHECK(out[5] == SIZE_MAX);
	CHECK(out[6] == SIZE_MAX);
	CHECK(mxb_reload_pair_throttles(old, 0, fresh, 7, out) == 0);
	CHECK(out[1] == SIZE_MAX);
}

/* Each field, changed alone, is classified as exactly one kind of change. */
static void test_changes(void)
{
	static char *alice[] = {"alice@example.org"}, *bob[] = {"bob@example.org"};
	static struct mxb_notify_route n1 = {.topic = "a/#", .to = {alice, 1}, .message = "m"};
	static struct mxb_command_route c1 = {.from = {alice, 1}, .allow = {alice, 1}};
	static struct mxb_room r1 = {.jid = "r@muc", .nick = "home"};
	static struct mxb_device_rule d1 = {.availability = "tele/+/LWT", .allow = {alice, 1}};
	struct mxb_config base = {.notify = &n1,
		.notify_len = 1,
		.commands = &c1,
		.commands_len = 1,
		.devices = &d1,
		.devices_len = 1,
		.max_devices = 10};
	base.bridge.queue_size = 10;
	base.xmpp.jid = "b@example.org";
	base.xmpp.rooms = &r1;
	base.xmpp.rooms_len = 1;
	base.mqtt.host = "localhost";
	base.mqtt.keepalive = 30;
	CHECK(mxb_reload_changes(&base, &base) == 0);

	struct mxb_config f;
	struct mxb_notify_route n2 = n1;
	struct mxb_command_route c2 = c1;
	struct mxb_room r2 = r1;
	struct mxb_device_rule d2 = d1;
#define EXPECT_CHANGE(what, change)                               \
	do {                                                      \
		f = base;                                         \
		n2 = n1, c2 = c1, r2 = r1, d2 = d1;               \
		f.notify = &n2, f.commands = &c2;                 \
		f.xmpp.rooms = &r2, f.devices = &d2;              \
		what;                                             \
		CHECK(mxb_reload_changes(&base, &f) == (change)); \
	} while (0)
	EXPECT_CHANGE(n2.to.v = bob, MXB_CHANGE_ROUTES);
	EXPECT_CHANGE(n2.min_interval = 5, MXB_CHANGE_ROUTES);
	EXPECT_CHANGE(c2.allow.v = bob, MXB_CHANGE_ROUTES);
	EXPECT_CHANGE(f.commands_len = 0, MXB_CHANGE_ROUTES);
	EXPECT_CHANGE(f.bridge.max_payload = 5, MXB_CHANGE_LIMITS);
	EXPECT_CHANGE(f.bridge.log_level = MXB_LOG_DEBUG, MXB_CHANGE_LIMITS);
	EXPECT_CHANGE(f.bridge.queue_size = 11, MXB_CHANGE_QUEUE);
	EXPECT_CHANGE(f.bridge.spool = "/var/lib/x", MXB_CHANGE_SPOOL);
	EXPECT_CHANGE(d2.allow.v = bob, MXB_CHANGE_DEVICES);
	EXPECT_CHANGE(f.max_devices = 11, MXB_CHANGE_DEVICES);
	EXPECT_CHANGE(f.xmpp.status = "away", MXB_CHANGE_XMPP_STATUS);
	EXPECT_CHANGE(f.xmpp.priority = 3, MXB_CHANGE_XMPP_STATUS);
	EXPECT_CHANGE(r2.nick = "house", MXB_CHANGE_XMPP_ROOMS);
	EXPECT_CHANGE(f.xmpp.rooms_len = 0, MXB_CHANGE_XMPP_ROOMS);
	EXPECT_CHANGE(f.xmpp.presence_json = true, MXB_CHANGE_XMPP_PRESENCE);
	EXPECT_CHANGE(f.xmpp.password = "new", MXB_CHANGE_XMPP);
	EXPECT_CHANGE(f.xmpp.ca_file = "/etc/ca.pem", MXB_CHANGE_XMPP);
	EXPECT_CHANGE(f.xmpp.ping_interval = 9, MXB_CHANGE_XMPP);
	EXPECT_CHANGE(f.xmpp.component.secret = "s", MXB_CHANGE_COMPONENT);
	EXPECT_CHANGE(f.xmpp.component.port = 5348, MXB_CHANGE_COMPONENT);
	EXPECT_CHANGE(f.mqtt.keepalive = 60, MXB_CHANGE_MQTT);
	EXPECT_CHANGE(f.mqtt.password = "p", MXB_CHANGE_MQTT);
	EXPECT_CHANGE(f.mqtt.cert_file = "/etc/c.pem", MXB_CHANGE_MQTT);
	EXPECT_CHANGE(f.mqtt.session_expiry = 1, MXB_CHANGE_MQTT);
	EXPECT_CHANGE(f.mqtt.share_group = "g", MXB_CHANGE_MQTT);
	EXPECT_CHANGE(f.mqtt.stats_topic = "bridge/stats", MXB_CHANGE_STATS);
	EXPECT_CHANGE(f.mqtt.stats_interval = 5, MXB_CHANGE_STATS);
	EXPECT_CHANGE(f.xmpp.upload.service = "upload.example.org", MXB_CHANGE_UPLOAD);
	EXPECT_CHANGE(f.xmpp.upload.timeout = 5, MXB_CHANGE_UPLOAD);
	EXPECT_CHANGE(n2.file_name = "{{topic.2}}", MXB_CHANGE_ROUTES);
	EXPECT_CHANGE(n2.content_type = "image/png", MXB_CHANGE_ROUTES);
#undef EXPECT_CHANGE
	char buf[128];
	CHECK_STR(mxb_reload_describe(0, buf, sizeof(buf)), "nothing");
	CHECK_STR(mxb_reload_describe(MXB_CHANGE_ROUTES | MXB_CHANGE_MQTT, buf, sizeof(buf)),
		"routes, mqtt connection");
	CHECK_STR(mxb_reload_describe(MXB_CHANGE_STATS, buf, sizeof(buf)), "stats");
	CHECK_STR(mxb_reload_describe(MXB_CHANGE_UPLOAD, buf, sizeof(buf)), "upload");
}

int main(void)
{
	test_normalize();
	test_changes();
	test_diff();
	test_pair();
	return check_report("reload");
}
