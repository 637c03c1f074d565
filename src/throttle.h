#ifndef MXB_THROTTLE_H
#define MXB_THROTTLE_H

/*
 * Per-topic throttling of one notify route: at most one message per interval, the latest
 * value of a burst sent when the interval ends (nothing is lost, only coalesced), and
 * optionally nothing when the value did not change. Pure: time is passed in.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mxb_throttle_verdict {
	MXB_THROTTLE_SEND, /* send it now; it is recorded as the last value sent */
	MXB_THROTTLE_HELD, /* kept as the topic's pending value, sent when the interval ends */
	MXB_THROTTLE_SAME, /* equal to the last value sent (only_changes): nothing to do */
};

struct mxb_throttle;

typedef void (*mxb_throttle_fn)(const char *topic, const char *payload, size_t len, void *data);

/* max_topics bounds the topics remembered; past it, idle topics are forgotten. */
struct mxb_throttle *mxb_throttle_create(int64_t interval_ms, bool only_changes, size_t max_topics);
void mxb_throttle_destroy(struct mxb_throttle *t);

/* Returns a verdict, or -ENOMEM (then the caller sends it: better twice than never). */
int mxb_throttle_offer(
	struct mxb_throttle *t, const char *topic, const char *payload, size_t len, int64_t now);

/*
 * Calls fn for every pending value whose interval has ended by now (recording it as sent)
 * and returns the next time one is due, or INT64_MAX.
 */
int64_t mxb_throttle_due(struct mxb_throttle *t, int64_t now, mxb_throttle_fn fn, void *data);

/* Topics remembered now. */
size_t mxb_throttle_size(const struct mxb_throttle *t);

#endif
