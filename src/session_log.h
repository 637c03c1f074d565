#ifndef MXB_SESSION_LOG_H
#define MXB_SESSION_LOG_H

/* Inside the session core (session.c): what it says, in session_log.c. */

#include <stddef.h>

#include "session.h"

/* libstrophe's log handler; data is the session. */
void mxb_session_on_log(void *data, xmpp_log_level_t level, const char *area, const char *msg);
/* The name of a stream error type, as RFC 6120 writes it. */
const char *mxb_session_error_name(xmpp_error_type_t type);
/* The condition of se as the server wrote it (libstrophe 0.12 knows fewer). */
const char *mxb_session_condition(const xmpp_stream_error_t *se);
/* Where the session connects, for log lines: host:port, host or "the JID's domain". */
const char *mxb_session_peer(const struct mxb_session *s, char *buf, size_t len);
/* Says once, at the error level, why an attempt did not become a session. */
void mxb_session_log_failure(const struct mxb_session *s, int error, const xmpp_stream_error_t *se);

#endif
