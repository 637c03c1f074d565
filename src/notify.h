#ifndef MXB_NOTIFY_H
#define MXB_NOTIFY_H

/*
 * Tells systemd (Type=notify) how the daemon is: ready, reloading, stopping, a status
 * line, and the watchdog's keep-alive, sent only from the loop so that a loop that hangs
 * (a blocked TLS handshake) stops feeding it. Without NOTIFY_SOCKET all of it does
 * nothing.
 */

#include <stdbool.h>
#include <stdint.h>

struct mxb_notify {
	bool enabled; /* NOTIFY_SOCKET is set */
	bool ready;
	int64_t watchdog_ms; /* 0: no watchdog */
	int64_t next_watchdog;
	char status[256]; /* the last STATUS= sent */
};

void mxb_notify_init(struct mxb_notify *n, int64_t now);
/* READY=1 (once), with a status line. */
void mxb_notify_ready(struct mxb_notify *n, const char *status);
/* STATUS=..., when it differs from the last one sent. */
void mxb_notify_status(struct mxb_notify *n, const char *status);
void mxb_notify_reloading(struct mxb_notify *n);
void mxb_notify_reloaded(struct mxb_notify *n);
void mxb_notify_stopping(struct mxb_notify *n);
/* Feeds the watchdog when it is due; returns when it is due next (INT64_MAX: never). */
int64_t mxb_notify_tick(struct mxb_notify *n, int64_t now);

#endif
