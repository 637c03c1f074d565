#ifndef MXB_PEERS_H
#define MXB_PEERS_H

/*
 * The other instances of a share group, as the bridge's own session sees them: the other
 * available resources of its account, with their presence priority. One of them leads,
 * the same one in every instance's eyes: the highest priority, then the resource that
 * sorts first byte by byte. The first of all takes the commands sent to the bare JID; the
 * first of those whose component is up (they say so in their presence) tells the devices'
 * presence. Pure: no I/O, no logging, no session library types.
 */

#include <stdbool.h>
#include <stddef.h>

#define MXB_PEERS_MAX 64
/* Longer resources are refused: a share group's names are short (bridge.instance). */
#define MXB_PEERS_RESOURCE_MAX 255

struct mxb_peer {
	char resource[MXB_PEERS_RESOURCE_MAX + 1];
	int priority;
	bool devices; /* its component is up */
};

struct mxb_peers {
	struct mxb_peer v[MXB_PEERS_MAX];
	size_t len;
};

void mxb_peers_clear(struct mxb_peers *p);

/*
 * Records resource as available with priority and its devices' state, or gone. Returns 1
 * when the set changed, 0 when not, -EINVAL (empty or longer than MXB_PEERS_RESOURCE_MAX),
 * -ENOSPC (full).
 */
int mxb_peers_set(
	struct mxb_peers *p, const char *resource, bool available, int priority, bool devices);

/*
 * Whether the instance self, of priority, comes first among p (which does not hold self);
 * devices: among those whose component is up only.
 */
bool mxb_peers_leads(const struct mxb_peers *p, const char *self, int priority, bool devices);

#endif
