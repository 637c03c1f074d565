#ifndef MXB_XMPP_PRIV_H
#define MXB_XMPP_PRIV_H

/*
 * Inside the client (xmpp.c): its state, and what xmpp_presence.c (the roster, contacts'
 * presence and location, the account's other instances) shares with the session part.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adhoc.h"
#include "caps.h"
#include "jid.h"
#include "muc.h"
#include "peers.h"
#include "pep.h"
#include "roster.h"
#include "session.h"
#include "sm.h"
#include "xmpp.h"
#include "xmpp_ext.h"

/*
 * The client: one session of the core (session.c) with stream management (sm.c), rooms
 * (muc.c), the roster and the contacts' presence on top. It lives on the heap and never
 * moves: the core and libstrophe hold pointers into it.
 */
struct mxb_xmpp {
	struct mxb_session s;
	struct mxb_sm sm;
	struct mxb_muc muc;
	struct mxb_adhoc adhoc; /* XEP-0050, answered by handlers.adhoc */
	const struct mxb_config *cfg;
	struct mxb_xmpp_handlers handlers;
	void *data;
	bool left; /* mxb_xmpp_leave() is answered: no message will come any more */
	char bare[MXB_JID_MAX + 1];
	struct mxb_roster *roster; /* who lets the bridge see their presence */
	bool roster_full_warned;
	/* XEP-0115: what the presence advertises, and the node#ver disco#info answers to. */
	const struct mxb_session_identity *identity;
	char caps_ver[MXB_CAPS_VER_LEN];
	char caps_node[sizeof(MXB_CAPS_NODE) + MXB_CAPS_VER_LEN + 1];
	unsigned geoloc_serial; /* of the ids of last-item requests */
	struct {
		mxb_xmpp_ext_setup setup;
		void *data;
	} ext[MXB_XMPP_EXT_MAX]; /* modules speaking more XMPP on the session (xmpp_ext.h) */
	size_t ext_len;
	/*
	 * With mqtt.share_group: the account's other instances (NULL without), whether the
	 * server has told their presence since the session began, and whether this one leads.
	 */
	struct mxb_peers *peers;
	char resource[MXB_JID_PART_MAX + 1]; /* this instance's, as bound */
	bool settled;
	int64_t settle_at; /* when it decides whether it leads; 0: not now */
	bool devices_up; /* the component of this instance is up (mxb_xmpp_set_devices) */
	bool leading;
	bool peers_full_warned;
};

/* A presence of type (NULL: available, with caps and priority) to `to` (NULL: all). */
void mxb_xmpp_send_presence(
	struct mxb_xmpp *x, const char *type, const char *to, const char *status);
bool mxb_xmpp_from_self_or_server(struct mxb_xmpp *x, const char *from);
/* A roster result (result: it replaces what was known) or push. */
void mxb_xmpp_roster_update(struct mxb_xmpp *x, xmpp_stanza_t *query, bool result);
void mxb_xmpp_fetch_geoloc(struct mxb_xmpp *x, const char *bare);
int mxb_xmpp_on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data);
int mxb_xmpp_on_pep_event(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data);
int mxb_xmpp_on_roster(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data);

/* The session is up (asks who else is there) or down (nobody is known any more). */
void mxb_xmpp_peers_up(struct mxb_xmpp *x);
void mxb_xmpp_peers_down(struct mxb_xmpp *x);
/* Settling after the session began (ms); returns the next deadline or INT64_MAX. */
#define MXB_PEERS_SETTLE_MS 1000
int64_t mxb_xmpp_peers_tick(struct mxb_xmpp *x, int64_t now);
/* Whether a message to the bare JID is left to another instance, which leads. */
bool mxb_xmpp_peers_defer(const struct mxb_xmpp *x);

#endif
