#include <stdio.h>
#include <string.h>

#include "pep.h"

/* The children of a <geoloc/>, each taken by geoloc.c, which bounds and checks them. */
static enum mxb_pep_geoloc read_geoloc(
	xmpp_stanza_t *geoloc, struct mxb_geoloc *g, const char **why)
{
	xmpp_ctx_t *ctx = xmpp_stanza_get_context(geoloc);
	for (xmpp_stanza_t *f = xmpp_stanza_get_children(geoloc); f; f = xmpp_stanza_get_next(f)) {
		const char *name = xmpp_stanza_is_tag(f) ? xmpp_stanza_get_name(f) : NULL;
		if (!name)
			continue;
		char *text = xmpp_stanza_get_text(f);
		int r = mxb_geoloc_set(g, name, text ? text : "", text ? strlen(text) : 0);
		xmpp_free(ctx, text);
		if (r < 0) {
			/* Nothing half-true stays behind: the whole location is refused. */
			memset(g, 0, sizeof(*g));
			*why = "a field is not a number in range";
			return MXB_PEP_INVALID;
		}
	}
	if (!mxb_geoloc_complete(g)) {
		memset(g, 0, sizeof(*g));
		*why = "lat without lon, or lon without lat";
		return MXB_PEP_INVALID;
	}
	return MXB_PEP_GEOLOC;
}

enum mxb_pep_geoloc mxb_pep_geoloc_of(xmpp_stanza_t *items, struct mxb_geoloc *g, const char **why)
{
	memset(g, 0, sizeof(*g));
	*why = "";
	const char *node = xmpp_stanza_get_attribute(items, "node");
	if (!node || strcmp(node, MXB_NS_GEOLOC) != 0)
		return MXB_PEP_NONE;
	xmpp_stanza_t *last = NULL;
	bool retracted = false;
	for (xmpp_stanza_t *i = xmpp_stanza_get_children(items); i; i = xmpp_stanza_get_next(i)) {
		const char *name = xmpp_stanza_is_tag(i) ? xmpp_stanza_get_name(i) : NULL;
		if (name && strcmp(name, "item") == 0) {
			last = i;
			retracted = false;
		} else if (name && strcmp(name, "retract") == 0) {
			retracted = true;
		}
	}
	if (retracted || !last)
		return retracted ? MXB_PEP_GEOLOC : MXB_PEP_NONE;
	xmpp_stanza_t *geoloc = xmpp_stanza_get_child_by_name_and_ns(last, "geoloc", MXB_NS_GEOLOC);
	/* An item without a geoloc payload says nothing of a position: the empty one. */
	return geoloc ? read_geoloc(geoloc, g, why) : MXB_PEP_GEOLOC;
}

xmpp_stanza_t *mxb_pep_items_request(
	xmpp_ctx_t *ctx, const char *to, const char *node, const char *id)
{
	xmpp_stanza_t *iq = xmpp_iq_new(ctx, "get", id);
	if (!iq)
		return NULL;
	xmpp_stanza_set_to(iq, to);
	xmpp_stanza_t *ps = mxb_stanza_add_child(ctx, iq, "pubsub", NS_PUBSUB);
	xmpp_stanza_t *items = ps ? mxb_stanza_add_child(ctx, ps, "items", NULL) : NULL;
	if (!items) {
		xmpp_stanza_release(iq);
		return NULL;
	}
	xmpp_stanza_set_attribute(items, "node", node);
	xmpp_stanza_set_attribute(items, "max_items", "1");
	return iq;
}

xmpp_stanza_t *mxb_pep_geoloc_publish(xmpp_ctx_t *ctx, const char *geoloc_xml, const char *id)
{
	/* geoloc_xml is the bridge's own text of numbers (geoloc.c), and id one of its ids. */
	static const char fmt[] =
		"<iq type='set' id='%s'><pubsub xmlns='" NS_PUBSUB "'>"
		"<publish node='" MXB_NS_GEOLOC "'><item id='current'>%s</item></publish>"
		"<publish-options><x xmlns='jabber:x:data' type='submit'>"
		"<field var='FORM_TYPE' type='hidden'>"
		"<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
		"<field var='pubsub#access_model'><value>presence</value></field>"
		"</x></publish-options></pubsub></iq>";
	char buf[sizeof(fmt) + MXB_GEOLOC_XML_MAX + 64];
	int n = snprintf(buf, sizeof(buf), fmt, id, geoloc_xml);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	return xmpp_stanza_new_from_string(ctx, buf);
}

void mxb_pep_add_caps(xmpp_ctx_t *ctx, xmpp_stanza_t *presence, const char *node, const char *ver)
{
	xmpp_stanza_t *c = mxb_stanza_add_child(ctx, presence, "c", NS_CAPS);
	if (!c)
		return;
	xmpp_stanza_set_attribute(c, "hash", "sha-1");
	xmpp_stanza_set_attribute(c, "node", node);
	xmpp_stanza_set_attribute(c, "ver", ver);
}

xmpp_stanza_t *mxb_pep_disco_info(
	xmpp_ctx_t *ctx, xmpp_stanza_t *st, const char *node, const struct mxb_session_identity *id)
{
	xmpp_stanza_t *reply = mxb_stanza_result(st);
	xmpp_stanza_t *q = reply ? mxb_stanza_add_child(ctx, reply, "query", NS_DISCO_INFO) : NULL;
	if (!q) {
		if (reply)
			xmpp_stanza_release(reply);
		return NULL;
	}
	xmpp_stanza_set_attribute(q, "node", node);
	xmpp_stanza_t *ident = mxb_stanza_add_child(ctx, q, "identity", NULL);
	if (ident) {
		xmpp_stanza_set_attribute(ident, "category", id->category);
		xmpp_stanza_set_attribute(ident, "type", id->type);
		xmpp_stanza_set_attribute(ident, "name", id->name);
	}
	for (const char *const *f = id->features; *f; f++) {
		xmpp_stanza_t *e = mxb_stanza_add_child(ctx, q, "feature", NULL);
		if (e)
			xmpp_stanza_set_attribute(e, "var", *f);
	}
	return reply;
}
