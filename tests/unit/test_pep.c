/*
 * The PEP stanzas of user location: what a contact's <items/> (an event or a fetched last
 * item) means, the publish with its publish-options, and the caps disco#info answer.
 * libstrophe parses the stanzas as the server would send them; no connection.
 */

#include <string.h>

#include "check.h"
#include "pep.h"

static xmpp_ctx_t *ctx;

static enum mxb_pep_geoloc of(const char *xml, struct mxb_geoloc *g, const char **why)
{
	xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, xml);
	CHECK(st != NULL);
	if (!st)
		return MXB_PEP_NONE;
	xmpp_stanza_t *ev = xmpp_stanza_get_child_by_name_and_ns(st, "event", NS_PUBSUB_EVENT);
	xmpp_stanza_t *items = ev ? xmpp_stanza_get_child_by_name(ev, "items") : NULL;
	enum mxb_pep_geoloc r = items ? mxb_pep_geoloc_of(items, g, why) : MXB_PEP_NONE;
	xmpp_stanza_release(st);
	return r;
}

#define EVENT(inner)                                              \
	"<message from='bob@example.org' type='headline'><event " \
	"xmlns='http://jabber.org/protocol/pubsub#event'>" inner "</event></message>"
#define GEOLOC_ITEMS(inner) "<items node='http://jabber.org/protocol/geoloc'>" inner "</items>"

static void events(void)
{
	struct mxb_geoloc g;
	const char *why;
	CHECK(of(EVENT(GEOLOC_ITEMS("<item id='a'><geoloc xmlns='http://jabber.org/protocol/"
				    "geoloc'><lat>45.44</lat><lon>12.33</lon><speed>2</speed>"
				    "<text>Venice</text></geoloc></item>")),
		      &g, &why) == MXB_PEP_GEOLOC);
	CHECK(mxb_geoloc_has_position(&g) && g.lat == 45.44 && g.speed == 2);
	/* The last item is the current one. */
	CHECK(of(EVENT(GEOLOC_ITEMS(
			 "<item id='a'><geoloc xmlns='http://jabber.org/protocol/geoloc'>"
			 "<lat>1</lat><lon>1</lon></geoloc></item>"
			 "<item id='b'><geoloc xmlns='http://jabber.org/protocol/geoloc'>"
			 "<lat>2</lat><lon>2</lon></geoloc></item>")),
		      &g, &why) == MXB_PEP_GEOLOC);
	CHECK(g.lat == 2);
	/* Stopped sharing: an empty geoloc, or a retraction. */
	CHECK(of(EVENT(GEOLOC_ITEMS("<item id='c'><geoloc xmlns='http://jabber.org/protocol/"
				    "geoloc'/></item>")),
		      &g, &why) == MXB_PEP_GEOLOC);
	CHECK(!mxb_geoloc_has_position(&g));
	CHECK(of(EVENT(GEOLOC_ITEMS("<retract id='c'/>")), &g, &why) == MXB_PEP_GEOLOC);
	CHECK(!mxb_geoloc_has_position(&g));
	/* Not a location: another node, no items, a payload of another namespace. */
	CHECK(of(EVENT("<items node='http://jabber.org/protocol/tune'><item><tune "
		       "xmlns='http://jabber.org/protocol/tune'/></item></items>"),
		      &g, &why) == MXB_PEP_NONE);
	CHECK(of(EVENT(GEOLOC_ITEMS("")), &g, &why) == MXB_PEP_NONE);
	CHECK(of(EVENT(GEOLOC_ITEMS("<item id='x'><geoloc xmlns='urn:other'><lat>5</lat>"
				    "<lon>5</lon></geoloc></item>")),
		      &g, &why) == MXB_PEP_GEOLOC);
	CHECK(!mxb_geoloc_has_position(&g));
	/* Refused whole: a field out of range, not a number, or lat without lon. */
	static const char *const bad[] = {
		EVENT(GEOLOC_ITEMS("<item><geoloc xmlns='http://jabber.org/protocol/geoloc'>"
				   "<lat>95</lat><lon>1</lon></geoloc></item>")),
		EVENT(GEOLOC_ITEMS("<item><geoloc xmlns='http://jabber.org/protocol/geoloc'>"
				   "<lat>1</lat><lon>1</lon><speed>fast</speed></geoloc></item>")),
		EVENT(GEOLOC_ITEMS("<item><geoloc xmlns='http://jabber.org/protocol/geoloc'>"
				   "<lat>1</lat></geoloc></item>")),
		EVENT(GEOLOC_ITEMS("<item><geoloc xmlns='http://jabber.org/protocol/geoloc'>"
				   "<lat>1</lat><lon>1</lon><timestamp>soon</timestamp></geoloc>"
				   "</item>")),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(of(bad[i], &g, &why) == MXB_PEP_INVALID);
		CHECK(why && *why && !mxb_geoloc_has_position(&g));
	}
}

static void publish(void)
{
	xmpp_stanza_t *iq = mxb_pep_geoloc_publish(ctx,
		"<geoloc "
		"xmlns='http://jabber.org/protocol/geoloc'><lat>1</lat><lon>2</lon></geoloc>",
		"geoloc7");
	CHECK(iq != NULL);
	if (!iq)
		return;
	CHECK_STR(xmpp_stanza_get_id(iq), "geoloc7");
	CHECK_STR(xmpp_stanza_get_type(iq), "set");
	xmpp_stanza_t *ps = xmpp_stanza_get_child_by_name_and_ns(iq, "pubsub", NS_PUBSUB);
	xmpp_stanza_t *pub = ps ? xmpp_stanza_get_child_by_name(ps, "publish") : NULL;
	CHECK(pub && strcmp(xmpp_stanza_get_attribute(pub, "node"), MXB_NS_GEOLOC) == 0);
	xmpp_stanza_t *opts = ps ? xmpp_stanza_get_child_by_name(ps, "publish-options") : NULL;
	xmpp_stanza_t *x = opts ? xmpp_stanza_get_child_by_name(opts, "x") : NULL;
	bool presence = false;
	for (xmpp_stanza_t *f = x ? xmpp_stanza_get_children(x) : NULL; f;
		f = xmpp_stanza_get_next(f)) {
		const char *var = xmpp_stanza_get_attribute(f, "var");
		xmpp_stanza_t *v = xmpp_stanza_get_child_by_name(f, "value");
		char *text = v ? xmpp_stanza_get_text(v) : NULL;
		if (var && text && strcmp(var, "pubsub#access_model") == 0)
			presence = strcmp(text, "presence") == 0;
		xmpp_free(ctx, text);
	}
	CHECK(presence);
	xmpp_stanza_release(iq);
}

static void caps_answer(void)
{
	static const char *const features[] = {"urn:xmpp:ping", NS_GEOLOC_NOTIFY, NULL};
	const struct mxb_session_identity id = {"client", "bot", "b", features};
	xmpp_stanza_t *req = xmpp_stanza_new_from_string(ctx,
		"<iq type='get' id='q1' from='localhost'><query "
		"xmlns='http://jabber.org/protocol/disco#info' node='n#v'/></iq>");
	CHECK(req != NULL);
	if (!req)
		return;
	xmpp_stanza_t *r = mxb_pep_disco_info(ctx, req, "n#v", &id);
	CHECK(r != NULL);
	xmpp_stanza_t *q = r ? xmpp_stanza_get_child_by_ns(r, NS_DISCO_INFO) : NULL;
	CHECK(q && strcmp(xmpp_stanza_get_attribute(q, "node"), "n#v") == 0);
	int n = 0;
	for (xmpp_stanza_t *f = q ? xmpp_stanza_get_children(q) : NULL; f;
		f = xmpp_stanza_get_next(f))
		n += strcmp(xmpp_stanza_get_name(f), "feature") == 0;
	CHECK(n == 2);
	if (r)
		xmpp_stanza_release(r);
	xmpp_stanza_release(req);
}

int main(void)
{
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	events();
	publish();
	caps_answer();
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	return check_report("pep");
}
