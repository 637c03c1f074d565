#ifndef MXB_ROSTER_H
#define MXB_ROSTER_H

/*
 * Which contacts allow the bridge to see their presence: the bare JIDs whose roster item
 * has subscription "to" or "both" (RFC 6121 2.1.2.5), as the roster result and roster
 * pushes tell. Bounded. Pure: no I/O, no logging, no session library types.
 */

#include <stdbool.h>
#include <stddef.h>

/* JIDs remembered at most; a roster longer than this sees only the first ones. */
#define MXB_ROSTER_MAX 5000

struct mxb_roster;

struct mxb_roster *mxb_roster_create(void);
void mxb_roster_destroy(struct mxb_roster *r);

/* Forgets every item: a roster result replaces what was known. */
void mxb_roster_clear(struct mxb_roster *r);

/*
 * Records the item bare with the subscription attribute subscription (NULL counts as
 * "none"; "remove" removes the item). Returns 0, -EINVAL (bare empty or longer than a
 * JID), -ENOSPC (MXB_ROSTER_MAX JIDs already seen) or -ENOMEM.
 */
int mxb_roster_set(struct mxb_roster *r, const char *bare, const char *subscription);

/* Whether bare (compared without regard to ASCII case) lets the bridge see its presence. */
bool mxb_roster_sees(const struct mxb_roster *r, const char *bare);
size_t mxb_roster_len(const struct mxb_roster *r);
/* Calls fn for every contact that lets the bridge see its presence (in lower case). */
void mxb_roster_each(
	const struct mxb_roster *r, void (*fn)(const char *bare, void *data), void *data);

#endif
