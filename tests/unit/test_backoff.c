#include "backoff.h"
#include "check.h"

int main(void)
{
	struct mxb_backoff b;
	mxb_backoff_init(&b, 8);
	/* Each delay lies in [d/2, d] with d = 1, 2, 4, 8, 8 s. */
	int64_t caps[] = {1000, 2000, 4000, 8000, 8000, 8000};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		int64_t d = mxb_backoff_down(&b, 0);
		CHECK(d >= caps[i] / 2 && d <= caps[i]);
	}
	/* A short connection does not reset the delay... */
	mxb_backoff_up(&b, 100000);
	int64_t d = mxb_backoff_down(&b, 100000 + 5000);
	CHECK(d >= 4000 && d <= 8000);
	/* ...a stable minute does. */
	mxb_backoff_up(&b, 200000);
	d = mxb_backoff_down(&b, 200000 + MXB_BACKOFF_STABLE_MS);
	CHECK(d >= 500 && d <= 1000);

	CHECK(mxb_now_ms() > 0);
	return check_report("backoff");
}
