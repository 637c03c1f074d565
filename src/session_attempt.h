#ifndef MXB_SESSION_ATTEMPT_H
#define MXB_SESSION_ATTEMPT_H

/*
 * A connection attempt on a thread of its own, for the session core (session.c) only.
 * libstrophe 0.12.2 blocks in DNS (SRV, getaddrinfo) and in the TLS handshake, which has no
 * timeout: a server that accepts TCP and says nothing would freeze the whole loop. So the
 * attempt (connect, TLS, SASL, bind) runs on a thread, and the loop goes on meanwhile.
 *
 * The hand-over, which is all the sharing there is:
 * - Before the thread starts, the loop has set up the connection (credentials, flags,
 *   handlers). From then on the thread alone touches ctx and conn, and the loop neither
 *   reads nor writes them (the session's fd is the attempt's eventfd, nothing is sent).
 * - On the thread, libstrophe's callbacks do nothing of the users': the connection
 *   callback only records the first event here, the socket callback records the socket,
 *   stanza handlers (mxb_session_handler_add) let stanzas pass by, the log handler logs
 *   (log.c writes each line with one call) and sets flags read after the join.
 * - The thread ends after that first event (or when cancelled), writes the eventfd, and
 *   the loop joins it: from the join on, ctx and conn are the loop's again, and the loop
 *   acts on the recorded event as on any.
 * - The attempts of several sessions take turns inside libstrophe (static state of its
 *   login): one that waits in a TLS handshake holds the others until it is given up.
 * - The loop may give up an attempt (its deadline, a shutdown, new settings): cancel sets
 *   a flag the thread reads between passes and shuts the socket down, which ends a TLS
 *   handshake that waits; a thread blocked in DNS ends when the resolver returns. It is
 *   joined before anything else touches the connection.
 */

#include <stdbool.h>
#include <strophe.h>

struct mxb_session;

/* What the thread saw, for the loop after the join. */
struct mxb_attempt_result {
	bool started; /* xmpp_connect_* accepted the attempt (else nothing was fired) */
	bool seen; /* a connection event came */
	xmpp_conn_event_t event;
	int error;
	bool stream_error;
	xmpp_error_type_t se_type;
	char *se_text; /* malloc'd, or NULL */
	char *se_condition; /* the condition as the server wrote it, malloc'd, or NULL */
	int sock; /* the socket libstrophe made, -1 when none */
};

/*
 * Starts the attempt on s's ctx and conn: connect(s) (xmpp_connect_client or _component
 * with the core's callback), then passes until the first event. Returns 0 or a negative
 * errno (then nothing runs).
 */
int mxb_attempt_start(struct mxb_session *s, int (*connect)(struct mxb_session *s));
/* Whether the caller runs on an attempt's thread, that of s (NULL: of any session). */
bool mxb_attempt_on_thread(const struct mxb_session *s);
/* The session whose attempt the calling thread runs; NULL on the loop. */
struct mxb_session *mxb_attempt_running(void);
/* From the thread's connection callback: the first event is kept. */
void mxb_attempt_record(struct mxb_session *s, xmpp_conn_event_t event, int error,
	const xmpp_stream_error_t *se, const char *condition);
/* From the thread's socket callback. */
void mxb_attempt_socket(struct mxb_session *s, int sock);
/* The session's current attempt thread, if any: the eventfd the loop polls, and done. */
bool mxb_attempt_live(const struct mxb_session *s);
int mxb_attempt_fd(const struct mxb_session *s);
bool mxb_attempt_done(const struct mxb_session *s);
/* Gives the attempt up: it ends as soon as it can. */
void mxb_attempt_cancel(struct mxb_session *s);
bool mxb_attempt_cancelled(const struct mxb_session *s);
/*
 * Joins the thread (blocks until it ended) and fills r; the caller frees r->se_text and
 * r->se_condition.
 */
void mxb_attempt_join(struct mxb_session *s, struct mxb_attempt_result *r);

#endif
