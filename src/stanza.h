#ifndef MXB_STANZA_H
#define MXB_STANZA_H

/*
 * What the two libstrophe modules (xmpp.c for the client, component.c for devices) share:
 * building stanzas, and driving a libstrophe context from the main poll loop. Only those
 * two include this header.
 */

#include <strophe.h>

/* Adds <name xmlns=ns/> to parent; returns it (owned by parent) or NULL. */
xmpp_stanza_t *mxb_stanza_add_child(
	xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *ns);
/* Adds <name>text</name> to parent. */
void mxb_stanza_add_text(
	xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *text);
/* An empty result to the IQ st (xmpp_stanza_reply() keeps the request's type). */
xmpp_stanza_t *mxb_stanza_result(xmpp_stanza_t *st);
/* A message error <forbidden/> with text, answering message id of `to`. */
xmpp_stanza_t *mxb_stanza_forbidden(
	xmpp_ctx_t *ctx, const char *to, const char *id, const char *text);

/* The poll events a connection waits for. */
short mxb_strophe_events(xmpp_conn_t *conn);
/*
 * Runs libstrophe after poll() woke the loop (or the timer did); fd is the connection's
 * socket, -1 when none.
 */
void mxb_strophe_run(xmpp_ctx_t *ctx, const int *fd);
/* The socket options of every connection: libstrophe's keepalive, and no Nagle delay. */
int mxb_strophe_sockopt(xmpp_conn_t *conn, void *sock);

#endif
