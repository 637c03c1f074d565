#ifndef MXB_LOCATION_SESSION_H
#define MXB_LOCATION_SESSION_H

/*
 * The location accounts: one XMPP client session per account of location.accounts, each a
 * user of the session core, all driven from the main poll loop. Each publishes its user's
 * position with PEP (XEP-0163) and holds the latest one until the server's result: a
 * newer position replaces a held one, and what is held goes out again after a reconnect.
 * The rest of the bridge sees plain strings only.
 */

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mxb_config;
struct mxb_counters;
struct mxb_location;

/*
 * One session per account of cfg (which must outlive it; with none, *out is NULL and 0 is
 * returned). Counts go to *n. Returns 0 or a negative errno.
 */
int mxb_location_create(
	struct mxb_location **out, const struct mxb_config *cfg, struct mxb_counters *n);
void mxb_location_destroy(struct mxb_location *l);

void mxb_location_start(struct mxb_location *l, int64_t now);
/* Fills pfd[0..max) with the sockets to poll; returns how many it used. */
size_t mxb_location_pollfds(const struct mxb_location *l, struct pollfd *pfd, size_t max);
/* Runs libstrophe for every session. Call after every poll. */
/* After poll: pfd[0..n) are what mxb_location_pollfds filled, with their revents. */
void mxb_location_handle(struct mxb_location *l, const struct pollfd *pfd, size_t n);
/* Timers of every session. Returns the next deadline (ms). */
int64_t mxb_location_tick(struct mxb_location *l, int64_t now);

/*
 * Publishes geoloc_xml (a <geoloc/> made by mxb_geoloc_xml) as the location of account i
 * (an index of location.accounts), now or once it is up. Returns 0 or -ENOMEM/-EINVAL.
 */
int mxb_location_publish(struct mxb_location *l, size_t i, const char *geoloc_xml);
/* Sessions established, of how many. */
size_t mxb_location_up(const struct mxb_location *l, size_t *total);

void mxb_location_shutdown(struct mxb_location *l, int64_t now);
bool mxb_location_is_closed(const struct mxb_location *l);

#endif
