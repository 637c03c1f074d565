#ifndef MXB_BACKOFF_H
#define MXB_BACKOFF_H

/*
 * Reconnect delays: 1 s doubling up to a cap, each drawn at random from [delay/2, delay]
 * so that many bridges behind one server do not reconnect in step. A connection that
 * stayed up for a minute resets the delay. Pure apart from rand().
 */

#include <stdint.h>

#define MXB_BACKOFF_FIRST_MS 1000
#define MXB_BACKOFF_STABLE_MS 60000

struct mxb_backoff {
	int64_t next_ms;
	int64_t max_ms;
	int64_t up_since; /* monotonic ms, or -1 while down */
};

void mxb_backoff_init(struct mxb_backoff *b, int max_seconds);
/* Records that the connection came up at now. */
void mxb_backoff_up(struct mxb_backoff *b, int64_t now);
/* Records that it went down at now; returns the delay before the next attempt, in ms. */
int64_t mxb_backoff_down(struct mxb_backoff *b, int64_t now);

/* Monotonic clock in milliseconds. */
int64_t mxb_now_ms(void);
/* The same clock in µs. */
int64_t mxb_now_us(void);

#endif
