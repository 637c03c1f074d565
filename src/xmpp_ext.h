#ifndef MXB_XMPP_EXT_H
#define MXB_XMPP_EXT_H

/*
 * For the modules that speak more of XMPP on the client's session (pubsub.c): they add
 * their stanza handlers to every connection object and send through the session core, so
 * that stream management counts their stanzas too. Session files only (libstrophe types).
 */

#include <stdbool.h>

#include "session.h"

struct mxb_xmpp;

#define MXB_XMPP_EXT_MAX 4

/* Adds handlers to a fresh connection object; returns 0 or a negative errno. */
typedef int (*mxb_xmpp_ext_setup)(xmpp_conn_t *conn, void *data);

/*
 * Calls setup (with data, which must outlive x) on the current connection object and on
 * every later one, after the client's own handlers. Returns 0, -ENOSPC past
 * MXB_XMPP_EXT_MAX or setup's error.
 */
int mxb_xmpp_ext_add(struct mxb_xmpp *x, mxb_xmpp_ext_setup setup, void *data);
/* The session core of the client, to send with mxb_session_send. */
struct mxb_session *mxb_xmpp_ext_session(struct mxb_xmpp *x);
/* The account's bare JID. */
const char *mxb_xmpp_ext_bare(const struct mxb_xmpp *x);
/* Whether stanzas may be sent: up, and stream management settled. */
bool mxb_xmpp_ext_ready(const struct mxb_xmpp *x);

#endif
