#ifndef MXB_PEP_H
#define MXB_PEP_H

/*
 * The stanzas of user location over PEP (XEP-0163) and of entity capabilities (XEP-0115),
 * shared by the client (xmpp.c) and the location accounts (location_session.c). A session
 * file: it includes session.h and so <strophe.h>. What a contact's <geoloc/> holds is
 * judged by the pure geoloc.c.
 */

#include <stdbool.h>

#include "geoloc.h"
#include "session.h"

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_GEOLOC_NOTIFY MXB_NS_GEOLOC "+notify"

enum mxb_pep_geoloc {
	MXB_PEP_NONE, /* no geoloc item in it (another node, another payload) */
	MXB_PEP_GEOLOC, /* *g holds the position, or is empty: "no location" */
	MXB_PEP_INVALID, /* a geoloc item with a field out of range or not a number */
};

/*
 * The geoloc of an <items node='http://jabber.org/protocol/geoloc'/> element (from an
 * event or an items result): the last item's <geoloc/>, or empty for a <retract/> or an
 * item without one. *why names what was wrong for INVALID (a static string).
 */
enum mxb_pep_geoloc mxb_pep_geoloc_of(xmpp_stanza_t *items, struct mxb_geoloc *g, const char **why);

/*
 * <iq type='get' to=to id=id><pubsub><items node=node max_items='1'/></pubsub></iq>: the
 * last published item. NULL without memory.
 */
xmpp_stanza_t *mxb_pep_items_request(
	xmpp_ctx_t *ctx, const char *to, const char *node, const char *id);

/*
 * The publish of the geoloc XML text (made by mxb_geoloc_xml) as item 'current' with
 * publish-options pubsub#access_model = presence, so only the account's contacts see it.
 */
xmpp_stanza_t *mxb_pep_geoloc_publish(xmpp_ctx_t *ctx, const char *geoloc_xml, const char *id);

/* <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node=node ver=ver/> into presence. */
void mxb_pep_add_caps(xmpp_ctx_t *ctx, xmpp_stanza_t *presence, const char *node, const char *ver);

/* The disco#info result to st for node (NODE#VER), with id's identity and features. */
xmpp_stanza_t *mxb_pep_disco_info(xmpp_ctx_t *ctx, xmpp_stanza_t *st, const char *node,
	const struct mxb_session_identity *id);

#endif
