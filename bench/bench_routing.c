/*
 * The cost of finding the routes for a topic with 10 and with 10 000 notify routes,
 * measured side by side in one run: interleaved repetitions, medians, and their ratio.
 *
 *   ninja -C build bench/bench-routing && ./build/bench/bench-routing
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template.h"
#include "topic.h"

#define LOOKUPS 2000000
#define REPS 7
#define TOPICS 4096

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct sink {
	size_t hits;
	size_t last;
};

static void on_match(size_t id, void *data)
{
	struct sink *s = data;
	s->hits++;
	s->last = id;
}

/* Routes shaped like a home installation: per-device filters plus a few wide ones. */
static struct mxb_topic_index *build(size_t routes)
{
	struct mxb_topic_index *index = mxb_topic_index_create();
	char f[128];
	for (size_t i = 0; i < routes; i++) {
		switch (i % 4) {
		case 0:
			snprintf(f, sizeof(f), "tele/dev%zu/SENSOR", i / 4);
			break;
		case 1:
			snprintf(f, sizeof(f), "stat/dev%zu/+", i / 4);
			break;
		case 2:
			snprintf(f, sizeof(f), "zigbee2mqtt/dev%zu/#", i / 4);
			break;
		default:
			snprintf(f, sizeof(f), "home/room%zu/+/alarm", i / 4);
			break;
		}
		if (mxb_topic_index_add(index, f, i) < 0)
			abort();
	}
	mxb_topic_index_add(index, "home/+/+/alarm", routes);
	mxb_topic_index_add(index, "$SYS/#", routes + 1);
	return index;
}

static char **make_topics(void)
{
	char **t = calloc(TOPICS, sizeof(*t));
	/* The same topic stream for both sizes: devices 0 and 1 exist in every index. */
	for (size_t i = 0; i < TOPICS; i++) {
		char buf[128];
		size_t dev = (i * 2654435761u) % 2;
		switch (i % 4) {
		case 0:
			snprintf(buf, sizeof(buf), "tele/dev%zu/SENSOR", dev);
			break;
		case 1:
			snprintf(buf, sizeof(buf), "stat/dev%zu/POWER", dev);
			break;
		case 2:
			snprintf(buf, sizeof(buf), "zigbee2mqtt/dev%zu/state/battery", dev);
			break;
		default:
			snprintf(buf, sizeof(buf), "home/room%zu/door/alarm", dev);
			break;
		}
		t[i] = strdup(buf);
	}
	return t;
}

static double run(struct mxb_topic_index *index, char **topics, struct sink *s)
{
	int64_t t0 = now_ns();
	for (size_t i = 0; i < LOOKUPS; i++)
		mxb_topic_index_match(index, topics[i % TOPICS], on_match, s);
	return (double)(now_ns() - t0) / LOOKUPS;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	char **topics = make_topics();
	struct mxb_topic_index *small = build(10), *large = build(10000);
	struct sink s1 = {0}, s2 = {0};
	double a[REPS], b[REPS];
	run(small, topics, &s1);
	run(large, topics, &s2);
	for (int r = 0; r < REPS; r++) {
		a[r] = run(small, topics, &s1);
		b[r] = run(large, topics, &s2);
	}
	qsort(a, REPS, sizeof(a[0]), cmp);
	qsort(b, REPS, sizeof(b[0]), cmp);
	if (s1.hits != s2.hits) {
		fprintf(stderr, "the two indexes disagree: %zu vs %zu matches\n", s1.hits, s2.hits);
		return 1;
	}
	printf("routes  ns/lookup (median of %d x %d lookups)\n", REPS, LOOKUPS);
	printf("10      %.1f\n", a[REPS / 2]);
	printf("10000   %.1f\n", b[REPS / 2]);
	printf("ratio 10000/10: %.2f\n", b[REPS / 2] / a[REPS / 2]);
	mxb_topic_index_destroy(small);
	mxb_topic_index_destroy(large);
	for (size_t i = 0; i < TOPICS; i++)
		free(topics[i]);
	free(topics);
	return 0;
}
