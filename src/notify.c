#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

void mxb_notify_init(struct mxb_notify *n, int64_t now)
{
	*n = (struct mxb_notify){.enabled = getenv("NOTIFY_SOCKET") != NULL};
	uint64_t usec = 0;
	/* 0 keeps WATCHDOG_USEC for the children; there are none, but nothing else reads it. */
	if (n->enabled && sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
		/* Fed twice per period, as sd_watchdog_enabled(3) advises. */
		n->watchdog_ms = (int64_t)(usec / 2000);
		n->next_watchdog = now;
		mxb_log_info("systemd: watchdog every %" PRId64 " ms", n->watchdog_ms);
	}
}

static void tell(struct mxb_notify *n, const char *state)
{
	if (!n->enabled)
		return;
	int r = sd_notify(0, state);
	if (r < 0)
		mxb_log_warn("systemd: cannot notify '%s': %s", state, strerror(-r));
}

void mxb_notify_status(struct mxb_notify *n, const char *status)
{
	if (!n->enabled || strcmp(status, n->status) == 0)
		return;
	snprintf(n->status, sizeof(n->status), "%s", status);
	char line[sizeof(n->status) + 8];
	snprintf(line, sizeof(line), "STATUS=%s", n->status);
	tell(n, line);
}

void mxb_notify_ready(struct mxb_notify *n, const char *status)
{
	if (n->ready)
		return;
	n->ready = true;
	mxb_notify_status(n, status);
	tell(n, "READY=1");
}

void mxb_notify_reloading(struct mxb_notify *n)
{
	tell(n, "RELOADING=1");
}

void mxb_notify_reloaded(struct mxb_notify *n)
{
	tell(n, "READY=1");
}

void mxb_notify_stopping(struct mxb_notify *n)
{
	tell(n, "STOPPING=1");
}

int64_t mxb_notify_tick(struct mxb_notify *n, int64_t now)
{
	if (!n->watchdog_ms)
		return INT64_MAX;
	if (now >= n->next_watchdog) {
		tell(n, "WATCHDOG=1");
		n->next_watchdog = now + n->watchdog_ms;
	}
	return n->next_watchdog;
}
