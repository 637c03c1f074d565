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

int main(void)
{
	test_normalize();
	test_diff();
	test_pair();
	return check_report("reload");
}
