#ifndef MXB_TOPIC_H
#define MXB_TOPIC_H

/*
 * MQTT topic names and filters, and an index that finds every filter matching a topic in
 * time bounded by the topic's depth, not by the number of filters. Pure: no I/O, no
 * library types.
 */

#include <stdbool.h>
#include <stddef.h>

/* MQTT limit on topic length in bytes. */
#define MXB_TOPIC_MAX 65535

/* A topic a message can be published to: non-empty, valid UTF-8, no NUL, no + or #. */
bool mxb_topic_name_valid(const char *topic, size_t len);

/*
 * A subscription filter: non-empty, valid UTF-8, '+' alone in its level, '#' alone in the
 * last level. A "$share/GROUP/" prefix is accepted when GROUP is non-empty and has no
 * wildcard and a valid filter follows.
 */
bool mxb_topic_filter_valid(const char *filter);

/* Returns the filter without a "$share/GROUP/" prefix (a pointer into filter). */
const char *mxb_topic_filter_strip_share(const char *filter);

/*
 * Whether topic matches filter. Follows MQTT: '#' also matches the parent level ("a/#"
 * matches "a"), and wildcards at the first level do not match topics starting with '$'.
 * A shared filter is matched without its "$share/GROUP/" prefix.
 */
bool mxb_topic_matches(const char *filter, const char *topic);

/*
 * Whether some topic matches both filters, so that what the bridge publishes under one
 * can come back through a subscription to the other.
 */
bool mxb_topic_filters_overlap(const char *a, const char *b);

/*
 * Whether every topic that matches narrow matches wide too ("a/#" covers "a/+/b" and "a";
 * "a/+" does not cover "a/#"). Both must be valid filters.
 */
bool mxb_topic_filter_covers(const char *wide, const char *narrow);

struct mxb_topic_index;

typedef void (*mxb_topic_match_fn)(size_t id, void *data);

struct mxb_topic_index *mxb_topic_index_create(void);
void mxb_topic_index_destroy(struct mxb_topic_index *index);
/* Adds filter (which must be valid) with the caller's id. Returns 0 or -ENOMEM. */
int mxb_topic_index_add(struct mxb_topic_index *index, const char *filter, size_t id);
/*
 * Calls fn once for every id whose filter matches topic, in no promised order. Returns the
 * number of calls.
 */
size_t mxb_topic_index_match(
	const struct mxb_topic_index *index, const char *topic, mxb_topic_match_fn fn, void *data);

#endif
