#ifndef MXB_ACCESS_H
#define MXB_ACCESS_H

/*
 * Who may publish through a commands route. Default deny: a sender is allowed only when a
 * route names it. Pure.
 */

#include <stdbool.h>

#include "config.h"

/* The sender of a chat message or of a group-chat message, as the bridge saw it. */
struct mxb_sender {
	const char *jid; /* bare JID of a direct sender; for an occupant, the real JID or NULL */
	const char *room; /* bare room JID when the message came from a group chat, else NULL */
	const char *nick;
	enum mxb_muc_role role;
	enum mxb_muc_affiliation affiliation;
};

/* Whether bare matches pattern: the same bare JID (case-insensitive), or "*@domain". */
bool mxb_access_jid_matches(const char *pattern, const char *bare);

/*
 * Whether route r lets sender use it. A direct sender needs its JID in r->from. An
 * occupant needs the room in r->rooms and the route's least role and affiliation.

 */
bool mxb_access_allows(const struct mxb_command_route *r, const struct mxb_sender *sender);

/* Parses "moderator" etc.; returns -1 when unknown. */
int mxb_access_role_parse(const char *name);
int mxb_access_affiliation_parse(const char *name);

#endif
