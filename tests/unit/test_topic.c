#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "topic.h"

static void test_validity(void)
{
	CHECK(mxb_topic_name_valid("a/b", 3));
	CHECK(mxb_topic_name_valid("/", 1));
	CHECK(!mxb_topic_name_valid("", 0));
	CHECK(!mxb_topic_name_valid("a/+", 3));
	CHECK(!mxb_topic_name_valid("a/#", 3));
	CHECK(!mxb_topic_name_valid("a\0b", 3));
	CHECK(!mxb_topic_name_valid("a\xff", 2));

	CHECK(mxb_topic_filter_valid("#"));
	CHECK(mxb_topic_filter_valid("+"));
	CHECK(mxb_topic_filter_valid("a/+/b"));
	CHECK(mxb_topic_filter_valid("a/#"));
	CHECK(mxb_topic_filter_valid("+/+/#"));
	CHECK(mxb_topic_filter_valid("$share/g/a/+"));
	CHECK(!mxb_topic_filter_valid(""));
	CHECK(!mxb_topic_filter_valid("a/#/b"));
	CHECK(!mxb_topic_filter_valid("a/b#"));
	CHECK(!mxb_topic_filter_valid("a+/b"));
	CHECK(!mxb_topic_filter_valid("$share//a"));
	CHECK(!mxb_topic_filter_valid("$share/g+/a"));
	CHECK(!mxb_topic_filter_valid("$share/g/"));
	CHECK(!mxb_topic_filter_valid("a/\xc3"));
}

static void test_matches(void)
{
	CHECK(mxb_topic_matches("a/b", "a/b"));
	CHECK(!mxb_topic_matches("a/b", "a/c"));
	CHECK(!mxb_topic_matches("a/b", "a/b/c"));
	CHECK(!mxb_topic_matches("a/b/c", "a/b"));
	CHECK(mxb_topic_matches("a/+", "a/b"));
	CHECK(mxb_topic_matches("a/+", "a/"));
	CHECK(!mxb_topic_matches("a/+", "a/b/c"));
	CHECK(mxb_topic_matches("a/#", "a"));
	CHECK(mxb_topic_matches("a/#", "a/b/c"));
	CHECK(mxb_topic_matches("#", "a/b"));
	CHECK(!mxb_topic_matches("#", "$SYS/x"));
	CHECK(!mxb_topic_matches("+/x", "$SYS/x"));
	CHECK(mxb_topic_matches("$SYS/#", "$SYS/x"));
	CHECK(mxb_topic_matches("+/+", "/b"));
	CHECK(mxb_topic_matches("$share/g/a/+", "a/b"));
	CHECK(mxb_topic_matches("home/+/alarm", "home/kitchen/alarm"));
	CHECK(!mxb_topic_matches("home/+/alarm", "home/kitchen/alarm/x"));
}

struct hits {
	int seen[64];
	size_t count;
};

static void on_hit(size_t id, void *data)
{
	struct hits *h = data;
	h->seen[id]++;
	h->count++;
}

/* The index must agree with the plain matcher on every pair. */
static void test_index_agrees(void)
{
	const char *filters[] = {"#", "+", "a", "a/b", "a/+", "a/#", "+/b", "+/+", "+/#", "a/b/c",
		"a/+/c", "$SYS/#", "$SYS/+", "/", "/+", "+/", "a//b", "$share/g/a/b", "x/y/#",
		"a/b/#"};
	const char *topics[] = {"a", "a/b", "a/c", "a/b/c", "b", "b/b", "$SYS/x", "$SYS", "/", "/x",
		"x/", "a//b", "x/y", "x/y/z", "a/b/c/d", ""};
	size_t nf = sizeof(filters) / sizeof(filters[0]);
	struct mxb_topic_index *index = mxb_topic_index_create();
	CHECK(index != NULL);
	for (size_t i = 0; i < nf; i++)
		CHECK(mxb_topic_index_add(index, filters[i], i) == 0);
	for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
		if (topics[t][0] == '\0')
			continue;
		struct hits h = {0};
		size_t n = mxb_topic_index_match(index, topics[t], on_hit, &h);
		CHECK(n == h.count);
		for (size_t i = 0; i < nf; i++) {
			int want = mxb_topic_matches(filters[i], topics[t]) ? 1 : 0;
			if (h.seen[i] != want) {
				fprintf(stderr, "filter '%s' topic '%s': index %d, matcher %d\n",
					filters[i], topics[t], h.seen[i], want);
			}
			CHECK(h.seen[i] == want);
		}
	}
	mxb_topic_index_destroy(index);
	mxb_topic_index_destroy(NULL);
}

static void count_hit(size_t id, void *data)
{
	size_t *last = data;
	*last = id;
}

/* Many siblings at one level: every one is found, and only it. */
static void test_index_many(void)
{
	struct mxb_topic_index *index = mxb_topic_index_create();
	char buf[64];
	for (size_t i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "home/dev%zu/alarm", i);
		CHECK(mxb_topic_index_add(index, buf, i) == 0);
	}
	size_t last = 0;
	snprintf(buf, sizeof(buf), "home/dev%d/alarm", 4321);
	CHECK(mxb_topic_index_match(index, buf, count_hit, &last) == 1);
	CHECK(last == 4321);
	CHECK(mxb_topic_index_match(index, "home/dev5000/alarm", count_hit, &last) == 0);
	mxb_topic_index_destroy(index);
}

static void test_overlap(void)
{
	CHECK(mxb_topic_filters_overlap("home/+/set", "home/#"));
	CHECK(mxb_topic_filters_overlap("home/#", "home/+/set"));
	CHECK(mxb_topic_filters_overlap("home/+/set", "home/kitchen/+"));
	CHECK(mxb_topic_filters_overlap("a/b", "a/b"));
	CHECK(mxb_topic_filters_overlap("a", "a/#"));
	CHECK(mxb_topic_filters_overlap("#", "x/y"));
	CHECK(mxb_topic_filters_overlap("$share/g/a/+", "a/b"));
	CHECK(!mxb_topic_filters_overlap("home/+/set", "home/+/get"));
	CHECK(!mxb_topic_filters_overlap("a/b", "a/b/c"));
	CHECK(!mxb_topic_filters_overlap("a/+", "a"));
	CHECK(!mxb_topic_filters_overlap("#", "$SYS/x"));
	CHECK(!mxb_topic_filters_overlap("cmnd/+/POWER", "stat/+/POWER"));
}

/* Whether one filter takes every topic of another: what an exclude list needs. */
static void test_covers(void)
{
	CHECK(mxb_topic_filter_covers("a/#", "a/+/b"));
	CHECK(mxb_topic_filter_covers("a/#", "a"));
	CHECK(mxb_topic_filter_covers("a/#", "a/#"));
	CHECK(mxb_topic_filter_covers("#", "x/+/y"));
	CHECK(mxb_topic_filter_covers("a/+", "a/b"));
	CHECK(mxb_topic_filter_covers("a/+", "a/+"));
	CHECK(mxb_topic_filter_covers("a/b", "a/b"));
	CHECK(mxb_topic_filter_covers("zigbee2mqtt/hall/#", "zigbee2mqtt/hall"));
	CHECK(!mxb_topic_filter_covers("a/+", "a/#"));
	CHECK(!mxb_topic_filter_covers("a/b", "a/+"));
	CHECK(!mxb_topic_filter_covers("a/+", "a/b/c"));
	CHECK(!mxb_topic_filter_covers("a/b", "a/b/c"));
	CHECK(!mxb_topic_filter_covers("a/b/c", "a/b"));
	CHECK(!mxb_topic_filter_covers("a/+/c", "a/#"));
	/* wildcards at the first level take no '$' topic */
	CHECK(!mxb_topic_filter_covers("#", "$SYS/x"));
	CHECK(!mxb_topic_filter_covers("+/x", "$SYS/x"));
	CHECK(mxb_topic_filter_covers("$SYS/#", "$SYS/x"));
	CHECK(mxb_topic_filter_covers("#", "+/x"));
}

int main(void)
{
	test_covers();
	test_overlap();
	test_validity();

	test_matches();
	test_index_agrees();
	test_index_many();
	return check_report("topic");
}
