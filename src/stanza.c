#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include "stanza.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

xmpp_stanza_t *mxb_stanza_add_child(
	xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *ns)
{
	xmpp_stanza_t *c = xmpp_stanza_new(ctx);
	if (!c)
		return NULL;
	xmpp_stanza_set_name(c, name);
	if (ns)
		xmpp_stanza_set_ns(c, ns);
	xmpp_stanza_add_child(parent, c);
	/* The parent holds a reference now; the returned pointer stays valid with it. */
	xmpp_stanza_release(c);
	return c;
}

void mxb_stanza_add_text(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *text)
{
	xmpp_stanza_t *c = mxb_stanza_add_child(ctx, parent, name, NULL);
	xmpp_stanza_t *t = c ? xmpp_stanza_new(ctx) : NULL;
	if (!t)
		return;
	xmpp_stanza_set_text(t, text);
	xmpp_stanza_add_child(c, t);
	xmpp_stanza_release(t);
}

xmpp_stanza_t *mxb_stanza_result(xmpp_stanza_t *st)
{
	xmpp_stanza_t *r = xmpp_stanza_reply(st);
	if (r)
		xmpp_stanza_set_type(r, "result");
	return r;
}

xmpp_stanza_t *mxb_stanza_forbidden(
	xmpp_ctx_t *ctx, const char *to, const char *id, const char *text)
{
	xmpp_stanza_t *m = xmpp_message_new(ctx, "error", to, id);
	xmpp_stanza_t *err = m ? mxb_stanza_add_child(ctx, m, "error", NULL) : NULL;
	if (err) {
		xmpp_stanza_set_type(err, "auth");
		mxb_stanza_add_child(ctx, err, "forbidden", NS_STANZAS);
		xmpp_stanza_t *t = mxb_stanza_add_child(ctx, err, "text", NS_STANZAS);
		xmpp_stanza_t *tt = t ? xmpp_stanza_new(ctx) : NULL;
		if (tt) {
			xmpp_stanza_set_text(tt, text);
			xmpp_stanza_add_child(t, tt);
			xmpp_stanza_release(tt);
		}
	}
	return m;
}

short mxb_strophe_events(xmpp_conn_t *conn)
{
	short ev = POLLIN;
	if (xmpp_conn_is_connecting(conn) || xmpp_conn_send_queue_len(conn) > 0)
		ev |= POLLOUT;
	return ev;
}

/*
 * A pass of xmpp_run_once() first writes what the previous one queued (libstrophe's own
 * handshake stanzas too, which xmpp_conn_send_queue_len() does not count), then reads at
 * most 4 KiB; TLS may hold more in OpenSSL where poll cannot see it. So: pass while the
 * socket has data (bounded, so one peer cannot starve the loop), then a few more to flush
 * what the last reads queued and drain TLS records.
 */
void mxb_strophe_run(xmpp_ctx_t *ctx, const int *fd)
{
	for (int i = 0; i < 64; i++) {
		xmpp_run_once(ctx, 0);
		if (*fd < 0)
			return;
		/*
		 * ACK what was read at once: servers that keep Nagle on (Prosody 0.12 does by
		 * default) hold their next small write until then, and Linux would delay the ACK
		 * up to 40 ms. The kernel clears the flag again, so it is set after every read.
		 */
		int one = 1;
		setsockopt(*fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		struct pollfd p = {.fd = *fd, .events = POLLIN};
		if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
			continue;
		for (int k = 0; k < 4 && *fd >= 0; k++)
			xmpp_run_once(ctx, 0);
		return;
	}
}

int mxb_strophe_sockopt(xmpp_conn_t *conn, void *sock)
{
	int one = 1;
	setsockopt(*(int *)sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return xmpp_sockopt_cb_keepalive(conn, sock);
}
