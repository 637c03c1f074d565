#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

/*
 * What a session sends, in order, batched per pass of the loop (session.h): stanzas are
 * serialized here and go to libstrophe's queue together at the next pass.
 */

/*
 * The batch of a pass goes to libstrophe's queue as one piece, which it writes with one
 * SSL_write: one TLS record (and segment) for every stanza of the pass, not one each.
 */
void mxb_session_flush(struct mxb_session *s)
{
	if (!s->out_len)
		return;
	xmpp_send_raw(s->conn, s->out, s->out_len);
	s->out_len = 0;
}

/* Appends text to the batch; false when there is no memory for it. */
static bool batch(struct mxb_session *s, const char *text, size_t len)
{
	if (s->out_len + len > s->out_cap) {
		size_t cap = s->out_cap ? s->out_cap : 4096;
		while (cap < s->out_len + len)
			cap *= 2;
		char *n = realloc(s->out, cap);
		if (!n)
			return false;
		s->out = n;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, text, len);
	s->out_len += len;
	s->queued = true;
	return true;
}

void mxb_session_send(struct mxb_session *s, xmpp_stanza_t *st)
{
	char *text;
	size_t len;
	/* As libstrophe would for a connection not established (and an attempt owns it). */
	if (s->state != MXB_SESSION_UP)
		return;
	s->sent++;
	s->queued = true;
	if (xmpp_stanza_to_text(st, &text, &len) == XMPP_EOK) {
		bool ok = batch(s, text, len);
		xmpp_free(s->ctx, text);
		if (ok)
			return;
	}
	/* No memory for the batch: what it holds first, then this stanza on its own. */
	mxb_session_flush(s);
	xmpp_send(s->conn, st);
}

void mxb_session_raw(struct mxb_session *s, const char *text)
{
	if (s->state != MXB_SESSION_UP)
		return;
	s->queued = true;
	if (batch(s, text, strlen(text)))
		return;
	mxb_session_flush(s);
	xmpp_send_raw_string(s->conn, "%s", text);
}
