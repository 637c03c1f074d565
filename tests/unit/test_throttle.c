#include <stdint.h>
#include <string.h>

#include "check.h"
#include "throttle.h"

struct sent {
	char topic[32];
	char payload[32];
	int count;
};

static void on_due(const char *topic, const char *payload, size_t len, void *data)
{
	struct sent *s = data;
	snprintf(s->topic, sizeof(s->topic), "%s", topic);
	snprintf(s->payload, sizeof(s->payload), "%.*s", (int)len, payload);
	s->count++;
}

static int offer(struct mxb_throttle *t, const char *topic, const char *payload, int64_t now)
{
	return mxb_throttle_offer(t, topic, payload, strlen(payload), now);
}

static void test_interval(void)
{
	struct mxb_throttle *t = mxb_throttle_create(30000, false, 100);
	struct sent s = {0};
	CHECK(offer(t, "a", "1", 0) == MXB_THROTTLE_SEND);
	/* A burst within the interval is held; only its latest value survives. */
	CHECK(offer(t, "a", "2", 1000) == MXB_THROTTLE_HELD);
	CHECK(offer(t, "a", "3", 2000) == MXB_THROTTLE_HELD);
	/* Another topic has an interval of its own. */
	CHECK(offer(t, "b", "x", 2000) == MXB_THROTTLE_SEND);
	CHECK(mxb_throttle_due(t, 29999, on_due, &s) == 30000);
	CHECK(s.count == 0);
	CHECK(mxb_throttle_due(t, 30000, on_due, &s) == INT64_MAX);
	CHECK(s.count == 1);
	CHECK_STR(s.topic, "a");
	CHECK_STR(s.payload, "3");
	/* The held value counts as sent at 30000: the next interval starts there. */
	CHECK(offer(t, "a", "4", 40000) == MXB_THROTTLE_HELD);
	CHECK(offer(t, "a", "5", 60000) == MXB_THROTTLE_SEND);
	CHECK(mxb_throttle_due(t, 90000, on_due, &s) == INT64_MAX);
	CHECK(s.count == 1);
	CHECK(mxb_throttle_size(t) == 2);
	mxb_throttle_destroy(t);
}

static void test_only_changes(void)
{
	struct mxb_throttle *t = mxb_throttle_create(0, true, 100);
	CHECK(offer(t, "a", "on", 0) == MXB_THROTTLE_SEND);
	CHECK(offer(t, "a", "on", 1) == MXB_THROTTLE_SAME);
	CHECK(offer(t, "a", "off", 2) == MXB_THROTTLE_SEND);
	CHECK(offer(t, "a", "on", 3) == MXB_THROTTLE_SEND);
	CHECK(offer(t, "b", "on", 3) == MXB_THROTTLE_SEND);
	CHECK(offer(t, "a", "", 4) == MXB_THROTTLE_SEND);
	CHECK(offer(t, "a", "", 5) == MXB_THROTTLE_SAME);
	mxb_throttle_destroy(t);
}

static void test_both(void)
{
	struct mxb_throttle *t = mxb_throttle_create(10000, true, 100);
	struct sent s = {0};
	CHECK(offer(t, "a", "on", 0) == MXB_THROTTLE_SEND);
	CHECK(offer(t, "a", "off", 1000) == MXB_THROTTLE_HELD);
	/* Back to the value last sent: nothing is left to say at the end of the interval. */
	CHECK(offer(t, "a", "on", 2000) == MXB_THROTTLE_SAME);
	mxb_throttle_due(t, 10000, on_due, &s);
	CHECK(s.count == 0);
	CHECK(offer(t, "a", "off", 11000) == MXB_THROTTLE_SEND);
	mxb_throttle_destroy(t);
}

static void test_bound(void)
{
	struct mxb_throttle *t = mxb_throttle_create(1000, false, 4);
	char topic[16];
	for (int i = 0; i < 100; i++) {
		snprintf(topic, sizeof(topic), "t/%d", i);
		CHECK(offer(t, topic, "x", 0) == MXB_THROTTLE_SEND);
	}
	CHECK(mxb_throttle_size(t) <= 4);
	/* Topics with a held value are never forgotten. */
	struct mxb_throttle *u = mxb_throttle_create(1000, false, 2);
	struct sent s = {0};
	CHECK(offer(u, "a", "1", 0) == MXB_THROTTLE_SEND);
	CHECK(offer(u, "a", "2", 1) == MXB_THROTTLE_HELD);
	CHECK(offer(u, "b", "1", 1) == MXB_THROTTLE_SEND);
	CHECK(offer(u, "c", "1", 1) == MXB_THROTTLE_SEND);
	mxb_throttle_due(u, 1000, on_due, &s);
	CHECK(s.count == 1);
	CHECK_STR(s.payload, "2");
	mxb_throttle_destroy(t);
	mxb_throttle_destroy(u);
	mxb_throttle_destroy(NULL);
}

/* The table grows as topics come: every held value of 5000 topics comes out once. */
static void test_growth(void)
{
	struct mxb_throttle *t = mxb_throttle_create(1000, true, 10000);
	char topic[16];
	for (int i = 0; i < 5000; i++) {
		snprintf(topic, sizeof(topic), "t/%d", i);
		CHECK(offer(t, topic, "a", 0) == MXB_THROTTLE_SEND);
	}
	int held = 0, same = 0;
	for (int i = 0; i < 5000; i++) {
		snprintf(topic, sizeof(topic), "t/%d", i);
		held += offer(t, topic, i % 2 ? "b" : "a", 10) == MXB_THROTTLE_HELD;
		same += offer(t, topic, "a", 20) == MXB_THROTTLE_SAME && i % 2 == 0;
	}
	CHECK(mxb_throttle_size(t) == 5000);
	CHECK(same == 2500);
	for (int i = 1; i < 5000; i += 2) {
		snprintf(topic, sizeof(topic), "t/%d", i);
		held += offer(t, topic, "b", 30) == MXB_THROTTLE_HELD;
	}
	struct sent s = {0};
	CHECK(mxb_throttle_due(t, 999, on_due, &s) == 1000);
	CHECK(s.count == 0);
	CHECK(mxb_throttle_due(t, 1000, on_due, &s) == INT64_MAX);
	CHECK(s.count == 2500);
	CHECK(held == 5000);
	mxb_throttle_destroy(t);
}

int main(void)
{
	test_interval();
	test_growth();
	test_only_changes();
	test_both();
	test_bound();
	return check_report("throttle");
}
