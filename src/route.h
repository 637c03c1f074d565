#ifndef MXB_ROUTE_H
#define MXB_ROUTE_H

/*
 * The MQTT -> XMPP routes: one topic index over the notify routes and the device rules,
 * so each message is matched once, and the verdict of each notify route for a message:
 * send it (with the payload to render, encoded when the route asks), or why not. Holds
 * the routes' throttles. Pure: no I/O, no library types; time is passed in.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mxb_config;

enum mxb_route_kind {
	MXB_ROUTE_NOTIFY, /* cfg->notify[index] */
	MXB_ROUTE_AVAILABILITY, /* cfg->devices[index].availability */
	MXB_ROUTE_STATE, /* cfg->devices[index].state */
	MXB_ROUTE_REPORT, /* cfg->devices[index].reports[report] */
};

struct mxb_route_ref {
	enum mxb_route_kind kind;
	size_t index;
	size_t report; /* MXB_ROUTE_REPORT */
};

enum mxb_route_verdict {
	MXB_ROUTE_SEND, /* render and send the payload handed back */
	MXB_ROUTE_RETAINED, /* a retained message, and the route does not forward those */
	MXB_ROUTE_TOO_LARGE, /* over the route's max_payload (or bridge.max_payload) */
	MXB_ROUTE_BINARY_SKIPPED, /* binary, and the route says binary = "skip" */
	MXB_ROUTE_HELD, /* the throttle holds it: mxb_routes_due sends it later */
	MXB_ROUTE_UNCHANGED, /* only_changes, and it is the value last sent */
	MXB_ROUTE_UPLOAD, /* binary, and the route uploads it: the payload is handed back whole */
};

/* A message as the routes see it. binary caches a look at the payload: set it to -1. */
struct mxb_route_message {
	const char *topic;
	const char *payload;
	size_t len;
	bool retain;
	int binary;
};

struct mxb_routes;

/* Builds the index and the throttles for cfg (which must outlive them). 0 or -ENOMEM. */
int mxb_routes_create(struct mxb_routes **out, const struct mxb_config *cfg);
void mxb_routes_destroy(struct mxb_routes *r);

/*
 * The routes whose filter matches topic, notify routes first in the order of the file.
 * *refs stays valid until the next call. Returns how many.
 */
size_t mxb_routes_match(struct mxb_routes *r, const char *topic, const struct mxb_route_ref **refs);

/*
 * The verdict of notify route i for msg at now (ms). On MXB_ROUTE_SEND *payload and *len
 * are what to render: the message's own payload, or its base64 or hex form held by r
 * until the next call.
 */
enum mxb_route_verdict mxb_routes_decide(struct mxb_routes *r, size_t i,
	struct mxb_route_message *msg, int64_t now, const char **payload, size_t *len);

typedef void (*mxb_routes_due_fn)(
	size_t route, const char *topic, const char *payload, size_t len, void *data);

/*
 * Calls fn for every held value whose interval ended by now; returns the next deadline. A
 * route with binary = "upload" holds binary payloads whole, as they came.
 */
int64_t mxb_routes_due(struct mxb_routes *r, int64_t now, mxb_routes_due_fn fn, void *data);

/*
 * After a reload: fresh takes over the throttle of every route of old that throttles
 * alike (same topic, min_interval and only_changes), with what it holds and the values it
 * last sent. Returns how many, or -ENOMEM (then fresh keeps its own).
 */
int mxb_routes_adopt(struct mxb_routes *fresh, struct mxb_routes *old);

#endif
