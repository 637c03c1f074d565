#ifndef MXB_SESSION_H
#define MXB_SESSION_H

/*
 * The session core: one libstrophe connection (client or XEP-0114 component) driven from
 * the main poll loop. It owns the context, the connection object, the socket, the state,
 * the reconnect backoff, the log router that keeps secrets out of the log, the XEP-0199
 * ping, and every workaround libstrophe 0.12.2 needs. xmpp.c (the client) and component.c
 * (devices) are its users: they embed a struct mxb_session, add their stanza handlers in
 * ops->setup and act on the callbacks. Any number of sessions may live in one process.
 *
 * Only the session files (session.c, xmpp.c, component.c, sm.c, muc.c, upload_slot.c)
 * include this header: nothing else sees a libstrophe type.
 */

#include <stdbool.h>
#include <stdint.h>
#include <strophe.h>

#include "backoff.h"
#include "ns.h"
#include "stanza_render.h"

enum mxb_session_kind {
	MXB_SESSION_CLIENT,
	MXB_SESSION_COMPONENT,
};

enum mxb_session_state {
	MXB_SESSION_DOWN, /* no connection; the next attempt is due at the deadline */
	MXB_SESSION_CONNECTING, /* an attempt is under way: TCP, TLS, login or handshake */
	MXB_SESSION_UP, /* the session is established */
	MXB_SESSION_CLOSING, /* shutting down: waiting for the server's </stream:stream> */
	MXB_SESSION_CLOSED, /* shut down for good */
};

/*
 * What the session says and does. Strings are borrowed: they must outlive the session.
 */
struct mxb_session_params {
	enum mxb_session_kind kind;
	const char *tag; /* the log prefix: "xmpp", "component" */
	const char *name; /* who logs in (bare JID, component domain), for log lines */
	const char *host; /* NULL: the JID's domain (clients only) */
	unsigned short port; /* 0: the default */
	int reconnect_max; /* cap of the backoff, seconds */
	int ping_interval, ping_timeout; /* XEP-0199, seconds; interval 0: no ping */
	int connect_timeout; /* seconds for an attempt to become a session; 0: no bound */
	/*
	 * µs a batch may wait for more after the last one left while stanzas come fast, so
	 * that a dense stream leaves in fewer, fuller TLS records; 0: each pass's batch leaves
	 * at its end.
	 */
	int batch_delay_us;
};

/* The callbacks of a user. data is the pointer given to mxb_session_init. */
struct mxb_session_ops {
	/*
	 * A fresh connection object before an attempt: set credentials, TLS and flags, add the
	 * stanza handlers. The socket callback is the core's. Returns 0 or a negative errno.
	 */
	int (*setup)(xmpp_conn_t *conn, void *data);
	/* The session is established (state UP). */
	void (*up)(int64_t now, void *data);
	/* The connection ended or an attempt failed: forget what belonged to it. May be NULL. */
	void (*down)(void *data);
	/*
	 * An established session ended and a reconnect is planned (not when shutting down);
	 * stream_error tells whether the server closed it with a stream error that what was
	 * sent may have caused (see mxb_session_error_blames_sent). May be NULL.
	 */
	void (*offline)(bool stream_error, void *data);
};

/*
 * The users read ctx, conn, state, sent and sm_offered; only session.c writes them. The
 * rest is the core's own.
 */
struct mxb_session {
	xmpp_ctx_t *ctx;
	xmpp_conn_t *conn; /* replaced by every attempt after the first */
	enum mxb_session_state state;
	uint32_t sent; /* stanzas sent with mxb_session_send since the session came up */
	/* The server's features offered XEP-0198 (libstrophe shows it only in its log). */
	bool sm_offered;

	struct mxb_session_params params;
	const struct mxb_session_ops *ops;
	void *data;
	xmpp_log_t log;
	int fd;
	struct mxb_backoff backoff;
	int64_t deadline; /* DOWN: next attempt; CLOSING: give up waiting */
	int64_t next_ping;
	int64_t ping_deadline; /* 0: no ping outstanding */
	bool used; /* the connection object went through an attempt */
	bool auth_failed; /* the log said the login or handshake was refused */
	int connect_error; /* the errno of a failed TCP connect, as libstrophe logged it */
	bool shutting_down;
	bool reconnecting; /* asked to reconnect with new settings: the next attempt is at once */
	bool disconnecting; /* xmpp_disconnect() was called: libstrophe closes the stream */
	bool timed_out; /* this attempt passed connect_timeout */
	bool releasing; /* a connection object is being released: its events are stale */
	int64_t attempt_deadline;
	struct mxb_session_attempt *attempt; /* session_attempt.h; NULL: no thread */
	bool tls_held; /* the last pass stopped at its bound or may have left plaintext in TLS */
	struct mxb_render_buf out; /* what was sent and not yet handed over, serialized */
	int64_t flushed_us; /* when a batch was last handed over (CLOCK_MONOTONIC, µs) */
	uint64_t batches; /* batches handed over since the start: one write each */
	int64_t sent_us; /* when the last stanza was sent (µs) */
	int64_t gap_us; /* the mean gap between the last stanzas sent (µs), see session_io.c */
	struct mxb_session *next; /* the registry of live sessions */
};

/*
 * Sets up s (caller-owned, must not move until mxb_session_finish): a libstrophe context
 * and a first connection object (ops->setup is called). params is copied, its strings are
 * borrowed; ops and data must outlive s. Returns 0 or a negative errno; nothing is left to
 * undo after a failure.
 */
int mxb_session_init(struct mxb_session *s, const struct mxb_session_params *params,
	const struct mxb_session_ops *ops, void *data);
void mxb_session_finish(struct mxb_session *s);

/*
 * Whether a server closing the stream with this error condition (its element name, e.g.
 * "not-well-formed") may be the doing of a stanza in flight: false when it says the server
 * goes away, moves, or replaced or timed out the session (system-shutdown, reset,
 * see-other-host, host-gone, conflict, connection-timeout, remote-connection-failed).
 */
bool mxb_session_error_blames_sent(const char *condition);

/* Starts an attempt now; failures are retried with backoff. */
void mxb_session_start(struct mxb_session *s, int64_t now);
/* The socket to poll (-1 when none) and the events to wait for. */
int mxb_session_fd(const struct mxb_session *s);
short mxb_session_events(const struct mxb_session *s);
/*
 * Runs libstrophe for what waits: revents are what poll said of the session's socket (0
 * when it was not polled). Call after every poll, ready or not.
 */
void mxb_session_handle(struct mxb_session *s, short revents);
/* Timers: reconnect, ping, shutdown. Returns the next deadline (ms). */
int64_t mxb_session_tick(struct mxb_session *s, int64_t now);
/* Closes the stream (from UP or CONNECTING); the state becomes CLOSED when done. */
void mxb_session_shutdown(struct mxb_session *s, int64_t now);
/* Takes new parameters (a reload moved the strings) for the next attempts. */
void mxb_session_set_params(struct mxb_session *s, const struct mxb_session_params *params);
/*
 * Takes new parameters and reconnects with them: the stream is closed (the user's offline
 * callback runs, as for any loss) and the next attempt starts at once, without backoff.
 */
void mxb_session_reconnect(
	struct mxb_session *s, const struct mxb_session_params *params, int64_t now);

/* libstrophe's connection flags for an enum mxb_xmpp_tls (config.h): TLS required by default. */
long mxb_session_tls_flags(int tls);

/*
 * Sends st (the caller still releases it) and counts it, so that a XEP-0198 count of the
 * stanzas sent matches the server's. Every stanza of a session goes out here. What a pass
 * of the loop sends is written together, at the end of the pass.
 */
void mxb_session_send(struct mxb_session *s, xmpp_stanza_t *st);
/*
 * Sends the bridge's usual message (stanza_render.h, mxb_render_message) without building
 * it as a stanza, counted as mxb_session_send counts. Returns 0 or -ENOMEM (not sent).
 */
int mxb_session_send_message(struct mxb_session *s, const char *type, const char *to,
	const char *id, const char *body, bool oob);
/* Sends text that is no stanza (a XEP-0198 <r/>, <a/> or <enable/>), in order with them. */
void mxb_session_send_raw(struct mxb_session *s, const char *text, size_t len);
/* Hands what was sent and waits in the batch to libstrophe now. */
void mxb_session_flush(struct mxb_session *s);
/*
 * When the batch is due (CLOCK_MONOTONIC, µs; INT64_MAX: nothing waits). The session's
 * pass hands it over then: the loop's poll must not sleep past it.
 */
int64_t mxb_session_flush_at(const struct mxb_session *s);
/* The earliest of every live session's mxb_session_flush_at(). */
int64_t mxb_sessions_flush_at(void);
/* Forgets what was sent and not handed over (the connection is gone), and the buffer. */
void mxb_session_drop_batch(struct mxb_session *s);

/*
 * Sends <iq type='get' id=id><ping xmlns='urn:xmpp:ping'/></iq> and calls handler (a
 * libstrophe id handler, with data) on the answer. Returns 0 or -ENOMEM.
 */
int mxb_session_ping(struct mxb_session *s, const char *id, xmpp_handler handler, void *data);

/* Adds <name xmlns=ns/> to parent; returns it (owned by parent) or NULL. */
xmpp_stanza_t *mxb_stanza_add_child(
	xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *ns);
/* Adds <name>text</name> to parent. */
void mxb_stanza_add_text(
	xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *text);
/* An empty result to the IQ st (xmpp_stanza_reply() keeps the request's type). */
xmpp_stanza_t *mxb_stanza_result(xmpp_stanza_t *st);
/* A message error <forbidden/> with text, answering message id of `to`. Caller releases. */
xmpp_stanza_t *mxb_stanza_forbidden(
	xmpp_ctx_t *ctx, const char *to, const char *id, const char *text);
/* A presence of type (NULL: available) to `to` (NULL: the server) with status text. */
xmpp_stanza_t *mxb_stanza_presence(
	xmpp_ctx_t *ctx, const char *type, const char *to, const char *status);
/* The name of the first RFC 6120 condition in the <error/> of st, or "unknown". */
const char *mxb_stanza_error_condition(xmpp_stanza_t *st);
/* A carbon copy or a forward carries someone else's words: never a command of the sender. */
static inline bool mxb_stanza_is_forwarded(xmpp_stanza_t *st)
{
	return xmpp_stanza_get_child_by_ns(st, NS_CARBONS) ||
	       xmpp_stanza_get_child_by_ns(st, NS_FORWARD);
}

/*
 * What an IQ get or set asks: false for results and errors, which get no answer; else
 * *query is its first element (NULL when none), *ns that element's namespace (may be NULL)
 * and *get whether it is a get.
 */
bool mxb_stanza_iq_request(xmpp_stanza_t *st, xmpp_stanza_t **query, const char **ns, bool *get);

/* Who answers disco#info: the identity and the features (NULL-terminated), borrowed. */
struct mxb_session_identity {
	const char *category, *type, *name;
	const char *const *features;
};

/*
 * The answer to the services every entity of the bridge offers: ping, disco#info (without
 * a node; id tells who answers) and version. Returns the reply for the caller to send and
 * release, or NULL when the request is none of those (or no memory).
 */
xmpp_stanza_t *mxb_session_answer(xmpp_ctx_t *ctx, xmpp_stanza_t *st, xmpp_stanza_t *query,
	const char *ns, bool get, const struct mxb_session_identity *id);

#endif
