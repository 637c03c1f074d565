#include <string.h>

#include "ns.h"
#include "session.h"

/*
 * The stanzas every session builds (session.h): children, texts, replies, errors,
 * presence, and the answers to ping, disco#info and version.
 */

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

xmpp_stanza_t *mxb_stanza_presence(
	xmpp_ctx_t *ctx, const char *type, const char *to, const char *status)
{
	xmpp_stanza_t *p = xmpp_presence_new(ctx);
	if (!p)
		return NULL;
	if (type)
		xmpp_stanza_set_type(p, type);
	if (to)
		xmpp_stanza_set_to(p, to);
	if (status && *status)
		mxb_stanza_add_text(ctx, p, "status", status);
	return p;
}

const char *mxb_stanza_error_condition(xmpp_stanza_t *st)
{
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "error");
	for (xmpp_stanza_t *c = e ? xmpp_stanza_get_children(e) : NULL; c;
		c = xmpp_stanza_get_next(c)) {
		const char *ns = xmpp_stanza_get_ns(c);
		const char *name = xmpp_stanza_get_name(c);
		if (ns && name && strcmp(ns, NS_STANZAS) == 0 && strcmp(name, "text") != 0)
			return name;
	}
	return "unknown";
}

bool mxb_stanza_iq_request(xmpp_stanza_t *st, xmpp_stanza_t **query, const char **ns, bool *get)
{
	const char *type = xmpp_stanza_get_type(st);
	if (!type)
		return false;
	*get = strcmp(type, "get") == 0;
	if (!*get && strcmp(type, "set") != 0)
		return false;
	xmpp_stanza_t *child = xmpp_stanza_get_children(st);
	while (child && !xmpp_stanza_is_tag(child))
		child = xmpp_stanza_get_next(child);
	*query = child;
	*ns = child ? xmpp_stanza_get_ns(child) : NULL;
	return true;
}

static xmpp_stanza_t *disco_info(
	xmpp_ctx_t *ctx, xmpp_stanza_t *st, const struct mxb_session_identity *id)
{
	xmpp_stanza_t *reply = mxb_stanza_result(st);
	xmpp_stanza_t *q = reply ? mxb_stanza_add_child(ctx, reply, "query", NS_DISCO_INFO) : NULL;
	xmpp_stanza_t *ident = q ? mxb_stanza_add_child(ctx, q, "identity", NULL) : NULL;
	if (ident) {
		xmpp_stanza_set_attribute(ident, "category", id->category);
		xmpp_stanza_set_attribute(ident, "type", id->type);
		xmpp_stanza_set_attribute(ident, "name", id->name);
	}
	for (const char *const *f = id->features; q && *f; f++) {
		xmpp_stanza_t *e = mxb_stanza_add_child(ctx, q, "feature", NULL);
		if (e)
			xmpp_stanza_set_attribute(e, "var", *f);
	}
	return reply;
}

xmpp_stanza_t *mxb_session_answer(xmpp_ctx_t *ctx, xmpp_stanza_t *st, xmpp_stanza_t *query,
	const char *ns, bool get, const struct mxb_session_identity *id)
{
	if (!ns || !get)
		return NULL;
	if (strcmp(ns, NS_PING) == 0)
		return mxb_stanza_result(st);
	if (strcmp(ns, NS_DISCO_INFO) == 0 && !xmpp_stanza_get_attribute(query, "node"))
		return disco_info(ctx, st, id);
	if (strcmp(ns, NS_VERSION) == 0) {
		xmpp_stanza_t *reply = mxb_stanza_result(st);
		xmpp_stanza_t *q =
			reply ? mxb_stanza_add_child(ctx, reply, "query", NS_VERSION) : NULL;
		if (q) {
			mxb_stanza_add_text(ctx, q, "name", "mqtt-xmpp-bridge");
			mxb_stanza_add_text(ctx, q, "version", MXB_VERSION);
		}
		return reply;
	}
	return NULL;
}
