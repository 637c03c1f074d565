/*
 * The client's presence side: the roster and who lets the bridge see their presence, the
 * contacts' presence and user location (XEP-0080 over PEP), and, with mqtt.share_group,
 * the account's other instances and which of them leads (peers.h).
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "config.h"
#include "log.h"
#include "ns.h"
#include "xmpp_priv.h"

/* RFC 6121 4.7.2.3: absent means 0. */
/* RFC 6121 4.7.2.3: absent means 0. In a share group, whether this one's devices are up. */
static void add_priority(struct mxb_xmpp *x, xmpp_stanza_t *p)
{
	if (x->cfg->xmpp.priority != 0) {
		char v[8];
		snprintf(v, sizeof(v), "%d", x->cfg->xmpp.priority);
		mxb_stanza_add_text(x->s.ctx, p, "priority", v);
	}
	xmpp_stanza_t *e =
		x->peers ? mxb_stanza_add_child(x->s.ctx, p, "instance", NS_MXB_INSTANCE) : NULL;
	if (e)
		xmpp_stanza_set_attribute(e, "devices", x->devices_up ? "up" : "down");
}

void mxb_xmpp_send_presence(
	struct mxb_xmpp *x, const char *type, const char *to, const char *status)
{
	xmpp_stanza_t *p = mxb_stanza_presence(x->s.ctx, type, to, status);
	if (!p)
		return;
	if (!type) {
		mxb_pep_add_caps(x->s.ctx, p, MXB_CAPS_NODE, x->caps_ver);
		add_priority(x, p);
	}
	mxb_session_send(&x->s, p);
	xmpp_stanza_release(p);
}

bool mxb_xmpp_from_self_or_server(struct mxb_xmpp *x, const char *from)
{
	return from == NULL || mxb_jid_bare_equal(from, x->bare);
}

/*
 * Remembers who lets the bridge see their presence, from the roster result (which replaces
 * what was known) or a push (RFC 6121 2.1.6: one item, but read them all).
 */
void mxb_xmpp_roster_update(struct mxb_xmpp *x, xmpp_stanza_t *query, bool result)
{
	if (result)
		mxb_roster_clear(x->roster);
	for (xmpp_stanza_t *i = query ? xmpp_stanza_get_children(query) : NULL; i;
		i = xmpp_stanza_get_next(i)) {
		const char *name = xmpp_stanza_is_tag(i) ? xmpp_stanza_get_name(i) : NULL;
		const char *jid = xmpp_stanza_get_attribute(i, "jid");
		char bare[MXB_JID_MAX + 1];
		if (!name || strcmp(name, "item") != 0 || !jid ||
			mxb_jid_bare(jid, bare, sizeof(bare)) < 0)
			continue;
		const char *sub = xmpp_stanza_get_attribute(i, "subscription");
		if (x->handlers.contact_roster)
			x->handlers.contact_roster(bare, xmpp_stanza_get_attribute(i, "name"),
				sub && strcmp(sub, "remove") == 0, x->data);
		int r = mxb_roster_set(x->roster, bare, sub);
		if (r == -ENOSPC && !x->roster_full_warned) {
			x->roster_full_warned = true;
			mxb_log_warn("xmpp: the roster has more than %d contacts who share their "
				     "presence; the presence of the others is not published",
				MXB_ROSTER_MAX);
		}
	}
}

/* Whether the config names bare in location.contacts. */
static bool location_contact(struct mxb_xmpp *x, const char *bare)
{
	const struct mxb_strlist *c = &x->cfg->location.contacts;
	for (size_t i = 0; i < c->len; i++) {
		if (mxb_jid_bare_equal(c->v[i], bare))
			return true;
	}
	return false;
}

/* The geoloc of an <items/> of a contact, to the bridge. */
static void geoloc_items(struct mxb_xmpp *x, const char *from, xmpp_stanza_t *items)
{
	struct mxb_geoloc g;
	const char *why;
	enum mxb_pep_geoloc r = mxb_pep_geoloc_of(items, &g, &why);
	if (r == MXB_PEP_NONE || !x->handlers.contact_geoloc)
		return;
	x->handlers.contact_geoloc(from, &g, r == MXB_PEP_INVALID ? why : NULL, x->data);
}

static int on_geoloc_items(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	const char *from = xmpp_stanza_get_from(st);
	const char *type = xmpp_stanza_get_type(st);
	if (!from || !type || strcmp(type, "result") != 0) {
		/* item-not-found: nothing published yet; forbidden: not subscribed (yet). */
		mxb_log_debug("xmpp: no location of '%s' to fetch: %s", from ? from : "?",
			type && strcmp(type, "error") == 0 ? mxb_stanza_error_condition(st) : "?");
		return 0;
	}
	xmpp_stanza_t *ps = xmpp_stanza_get_child_by_name_and_ns(st, "pubsub", NS_PUBSUB);
	xmpp_stanza_t *items = ps ? xmpp_stanza_get_child_by_name(ps, "items") : NULL;
	if (items && !strchr(from, '/'))
		geoloc_items(x, from, items);
	return 0;
}

/* Asks for bare's last location: Prosody sends none by itself, ejabberd not always. */
void mxb_xmpp_fetch_geoloc(struct mxb_xmpp *x, const char *bare)
{
	char id[32];
	snprintf(id, sizeof(id), "mxb-geoloc-%u", ++x->geoloc_serial);
	xmpp_stanza_t *iq = mxb_pep_items_request(x->s.ctx, bare, MXB_NS_GEOLOC, id);
	if (!iq)
		return;
	xmpp_id_handler_add(x->s.conn, on_geoloc_items, id, x);
	mxb_session_send(&x->s, iq);
	xmpp_stanza_release(iq);
}

/*
 * A contact approved the bridge's subscription. ejabberd takes the entity capabilities
 * (and so +notify) only from a presence that arrives while the subscription exists: say it
 * again, then fetch what the contact published before.
 */
static void subscription_approved(struct mxb_xmpp *x, const char *from)
{
	char bare[MXB_JID_MAX + 1];
	if (!x->cfg->location.contacts.len || mxb_jid_bare(from, bare, sizeof(bare)) < 0)
		return;
	/* For every contact: the one whose location is not published is then refused, counted. */
	mxb_xmpp_send_presence(x, NULL, NULL, x->cfg->xmpp.status);
	if (location_contact(x, bare))
		mxb_xmpp_fetch_geoloc(x, bare);
}

/* A PEP event (XEP-0163): only a contact's geoloc node, from a bare JID, is the bridge's. */
int mxb_xmpp_on_pep_event(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	const char *from = xmpp_stanza_get_from(st);
	xmpp_stanza_t *ev = xmpp_stanza_get_child_by_name_and_ns(st, "event", NS_PUBSUB_EVENT);
	if (!ev || !from || strchr(from, '/') || !strchr(from, '@') ||
		mxb_jid_bare_equal(from, x->bare))
		return 1;
	xmpp_stanza_t *items = xmpp_stanza_get_child_by_name(ev, "items");
	if (items)
		geoloc_items(x, from, items);
	return 1;
}

/* RFC 6121 4.7.2.3: -128..127, absent 0. A peer's number: strtol saturates. */
static int priority_of(struct mxb_xmpp *x, xmpp_stanza_t *st)
{
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "priority");
	char *text = e ? xmpp_stanza_get_text(e) : NULL;
	long pr = text ? strtol(text, NULL, 10) : 0;
	xmpp_free(x->s.ctx, text);
	return pr < -128 ? -128 : pr > 127 ? 127 : (int)pr;
}

/* Whether this instance leads now: alone, or first of those the server has told of. */
static void lead(struct mxb_xmpp *x)
{
	bool now = x->devices_up && (!x->peers || (x->settled && x->s.state == MXB_SESSION_UP &&
							  mxb_peers_leads(x->peers, x->resource,
								  x->cfg->xmpp.priority, true)));
	if (now == x->leading)
		return;
	x->leading = now;
	if (x->peers)
		mxb_log_info("xmpp: this instance ('%s') %s the devices' presence for its share "
			     "group",
			x->resource, now ? "now tells" : "no longer tells");
	if (x->handlers.leading)
		x->handlers.leading(now, x->data);
}

/* Another resource of the bridge's own account: another instance of the share group. */
static void peer_presence(struct mxb_xmpp *x, const char *from, const char *type, xmpp_stanza_t *st)
{
	const char *res = strchr(from, '/');
	if (!x->peers || !res || strcmp(res + 1, x->resource) == 0 ||
		(type && strcmp(type, "unavailable") != 0))
		return;
	res++;
	int prio = priority_of(x, st);
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_ns(st, NS_MXB_INSTANCE);
	const char *devices = e ? xmpp_stanza_get_attribute(e, "devices") : NULL;
	bool up = devices && strcmp(devices, "up") == 0;
	/* Only an instance says it is one: a person's client on the account takes nothing. */
	int r = mxb_peers_set(x->peers, res, !type && e, prio, up);
	if (r == -ENOSPC && !x->peers_full_warned) {
		x->peers_full_warned = true;
		mxb_log_warn("xmpp: more than %d other instances of the account; the others are "
			     "not counted for who leads",
			MXB_PEERS_MAX);
	} else if (r == -EINVAL) {
		mxb_log_warn("xmpp: an instance of the account with a resource of %zu bytes is not "
			     "counted for who leads (at most %d)",
			strlen(res), MXB_PEERS_RESOURCE_MAX);
	} else if (r > 0) {
		if (type)
			mxb_log_info("xmpp: instance '%s' of the share group is gone", res);
		else
			mxb_log_info("xmpp: instance '%s' of the share group is here (priority %d, "
				     "devices %s)",
				res, prio, up ? "up" : "down");
		lead(x);
	}
}

/*
 * The ping is answered. Prosody has told the other resources by now; ejabberd answers the
 * probe from each of their sessions, so their presence may still be on its way: a moment
 * more before this one decides (a wrong guess would tell every device's presence twice).
 */
static int on_settled(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	(void)st;
	struct mxb_xmpp *x = data;
	x->settle_at = mxb_now_ms() + MXB_PEERS_SETTLE_MS;
	return 0;
}

int64_t mxb_xmpp_peers_tick(struct mxb_xmpp *x, int64_t now)
{
	if (!x->settle_at)
		return INT64_MAX;
	if (now < x->settle_at)
		return x->settle_at;
	x->settle_at = 0;
	x->settled = true;
	lead(x);
	return INT64_MAX;
}

/* Nobody is known, nothing decided; returns whether there is a share group at all. */
static bool forget_peers(struct mxb_xmpp *x)
{
	if (!x->peers)
		return false;
	mxb_peers_clear(x->peers);
	x->settled = false;
	x->settle_at = 0;
	lead(x);
	return true;
}

void mxb_xmpp_peers_up(struct mxb_xmpp *x)
{
	const char *bound = xmpp_conn_get_bound_jid(x->s.conn);
	const char *res = bound ? strchr(bound, '/') : NULL;
	size_t len = res ? strlen(res + 1) : 0;
	if (len < sizeof(x->resource))
		memcpy(x->resource, res ? res + 1 : "", len + 1);
	else
		x->resource[0] = '\0'; /* a server's longer one than a JID allows: sorts first */
	if (!forget_peers(x)) {
		lead(x); /* alone: whether the component is up is all there is */
		return;
	}
	/*
	 * A probe of the account's own bare JID makes the server tell the presence of its
	 * other resources (RFC 6121 4.3), before it answers what was sent after it: a ping.
	 */
	mxb_xmpp_send_presence(x, "probe", x->bare, NULL);
	if (mxb_session_ping(&x->s, "mxb-peers", on_settled, x) < 0) {
		x->settled = true;
		lead(x);
	}
}

void mxb_xmpp_peers_down(struct mxb_xmpp *x)
{
	forget_peers(x);
}

bool mxb_xmpp_peers_defer(const struct mxb_xmpp *x)
{
	return x->peers && !mxb_peers_leads(x->peers, x->resource, x->cfg->xmpp.priority, false);
}

void mxb_xmpp_set_devices(struct mxb_xmpp *x, bool up)
{
	if (x->devices_up == up)
		return;
	x->devices_up = up;
	/* The others learn it from the presence; this one decides at once. */
	if (x->peers && x->s.state == MXB_SESSION_UP)
		mxb_xmpp_send_presence(x, NULL, NULL, x->cfg->xmpp.status);
	lead(x);
}

bool mxb_xmpp_leads(const struct mxb_xmpp *x)
{
	return x->leading;
}

size_t mxb_xmpp_peers_len(const struct mxb_xmpp *x)
{
	return x->peers ? x->peers->len : 0;
}

int mxb_xmpp_on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	mxb_sm_received(&x->sm);
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	struct mxb_muc_room *room = from ? mxb_muc_find(&x->muc, from) : NULL;
	if (room) {
		mxb_muc_presence(&x->muc, room, st, from);
		return 1;
	}
	if (from && mxb_jid_bare_equal(from, x->bare)) {
		peer_presence(x, from, type, st);
		return 1;
	}
	char bare[MXB_JID_MAX + 1];
	if (from && (!type || strcmp(type, "unavailable") == 0) && x->handlers.contact_presence &&
		mxb_jid_bare(from, bare, sizeof(bare)) == 0) {
		char *show = NULL, *status = NULL;
		xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "show");
		if (e)
			show = xmpp_stanza_get_text(e);
		e = xmpp_stanza_get_child_by_name(st, "status");
		if (e)
			status = xmpp_stanza_get_text(e);
		struct mxb_xmpp_presence p = {
			.from = from,
			.available = !type,
			.show = show,
			.status = status,
			.priority = priority_of(x, st),
			.subscribed = mxb_roster_sees(x->roster, bare),
		};
		x->handlers.contact_presence(&p, x->data);
		xmpp_free(x->s.ctx, show);
		xmpp_free(x->s.ctx, status);
		return 1;
	}
	if (type && from && strcmp(type, "subscribed") == 0) {
		subscription_approved(x, from);
		return 1;
	}
	if (!type || !from || strcmp(type, "subscribe") != 0)
		return 1;
	if (mxb_jid_bare(from, bare, sizeof(bare)) < 0)
		return 1;
	if (x->handlers.contact_allowed && x->handlers.contact_allowed(bare, x->data)) {
		mxb_log_info("xmpp: accepting presence subscription from '%s'", bare);
		mxb_xmpp_send_presence(x, "subscribed", bare, NULL);
		mxb_xmpp_send_presence(x, "subscribe", bare, NULL);
	} else {
		mxb_log_warn(
			"xmpp: refusing presence subscription from '%s': not in the config", bare);
		mxb_xmpp_send_presence(x, "unsubscribed", bare, NULL);
	}
	return 1;
}

int mxb_xmpp_on_roster(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_xmpp *x = data;
	const char *type = xmpp_stanza_get_type(st);
	if (type && strcmp(type, "result") == 0) {
		xmpp_stanza_t *q = xmpp_stanza_get_child_by_ns(st, NS_ROSTER);
		int n = 0;
		for (xmpp_stanza_t *i = q ? xmpp_stanza_get_children(q) : NULL; i;
			i = xmpp_stanza_get_next(i))
			n += xmpp_stanza_is_tag(i);
		mxb_xmpp_roster_update(x, q, true);
		mxb_log_debug("xmpp: roster has %d contacts, %zu share their presence", n,
			mxb_roster_len(x->roster));
	} else {
		mxb_log_warn("xmpp: roster request failed");
	}
	return 0;
}

static void probe_one(const char *bare, void *data)
{
	mxb_xmpp_send_presence(data, "probe", bare, NULL);
}

void mxb_xmpp_probe_contacts(struct mxb_xmpp *x)
{
	/* RFC 6121 4.3: the server answers a probe with the contact's current presence. */
	if (x->s.state == MXB_SESSION_UP)
		mxb_roster_each(x->roster, probe_one, x);
}
