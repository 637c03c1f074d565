#include <stdlib.h>
#include <time.h>

#include "backoff.h"

void mxb_backoff_init(struct mxb_backoff *b, int max_seconds)
{
	b->next_ms = MXB_BACKOFF_FIRST_MS;
	b->max_ms = (int64_t)max_seconds * 1000;
	if (b->max_ms < MXB_BACKOFF_FIRST_MS)
		b->max_ms = MXB_BACKOFF_FIRST_MS;
	b->up_since = -1;
}

void mxb_backoff_up(struct mxb_backoff *b, int64_t now)
{
	b->up_since = now;
}

int64_t mxb_backoff_down(struct mxb_backoff *b, int64_t now)
{
	if (b->up_since >= 0 && now - b->up_since >= MXB_BACKOFF_STABLE_MS)
		b->next_ms = MXB_BACKOFF_FIRST_MS;
	b->up_since = -1;
	int64_t delay = b->next_ms < b->max_ms ? b->next_ms : b->max_ms;
	b->next_ms = delay * 2;
	int64_t half = delay / 2;
	return half + (half > 0 ? rand() % (half + 1) : 0);
}

int64_t mxb_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mxb_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
