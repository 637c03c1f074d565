#ifndef MXB_SESSION_ATTEMPT_H
#define MXB_SESSION_ATTEMPT_H

/*
 * The first steps of a connection attempt on a thread of their own: libstrophe 0.12.2
 * resolves names (SRV, getaddrinfo) and runs the TLS handshake blocking, with no overall
 * deadline, so a resolver that hangs or a server that stalls inside the handshake would
 * freeze the whole loop. The thread runs the session's own context, which nothing else
 * touches meanwhile, from the connect call until the stream is secured (or, without TLS,
 * until TCP is connected), then hands it back; everything after (login, the session) runs
 * in the loop. libstrophe runs no user handler before the login, so the thread calls none:
 * only the log, socket and certificate callbacks, and the connection handler, whose
 * failure it only records. Only the session files include this header.
 */

#include <stdbool.h>
#include <stdint.h>

#include "session.h"

/* Starts the thread for s's current connection object. Returns 0 or a negative errno. */
int mxb_session_attempt_start(struct mxb_session *s, xmpp_conn_handler handler);
/* The descriptor that turns readable when the thread is done. */
int mxb_session_attempt_fd(const struct mxb_session *s);
/* The session that the calling thread is attempting for, or NULL (the loop's thread). */
struct mxb_session *mxb_session_attempt_current(void);
/* Called from the socket callback on the thread: remembers the socket to cut. */
void mxb_session_attempt_socket(struct mxb_session *s, int fd);
/* Records the connection handler's failure (on the thread). */
void mxb_session_attempt_failed(
	struct mxb_session *s, int error, const xmpp_stream_error_t *stream_error);
/* Stops it: cuts its socket, so that a blocked handshake fails at once. */
void mxb_session_attempt_cancel(struct mxb_session *s);
/* Whether the thread is done (its descriptor is readable), waiting up to ms for it. */
bool mxb_session_attempt_wait(const struct mxb_session *s, int ms);
static inline bool mxb_session_attempt_done(const struct mxb_session *s)
{
	return mxb_session_attempt_wait(s, 0);
}

/* What the thread ended with, after mxb_session_attempt_join. */
struct mxb_attempt_result {
	int rc; /* of xmpp_connect_client or _component */
	bool failed; /* the connection handler reported a failure */
	int error;
	bool has_stream_error;
	xmpp_error_type_t stream_error;
	bool cancelled;
	int fd; /* libstrophe's socket, -1 when none */
};
/* Waits for the thread (it is done or cancelled) and frees what it used. */
void mxb_session_attempt_join(struct mxb_session *s, struct mxb_attempt_result *r);
/* (session.c) The thread is done: joins it and goes on, or counts the failure. */
void mxb_session_attempt_finish(struct mxb_session *s);

#endif
