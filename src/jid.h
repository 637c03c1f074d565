#ifndef MXB_JID_H
#define MXB_JID_H

/* JIDs as RFC 7622 shapes them, checked for form and length only (no stringprep). Pure. */

#include <stdbool.h>
#include <stddef.h>

/* Each part of a JID is at most 1023 bytes. */
#define MXB_JID_PART_MAX 1023
#define MXB_JID_MAX (3 * MXB_JID_PART_MAX + 2)

/*
 * Whether jid is [local@]domain[/resource] with a non-empty domain, parts within their
 * length limits, no whitespace or control characters in local and domain, and the local
 * part free of the characters RFC 7622 forbids there ("&'/:<>@).
 */
bool mxb_jid_valid(const char *jid);
/* Valid and has no resource. */
bool mxb_jid_is_bare(const char *jid);

/* Copies the bare part of jid (up to '/') into buf. Returns 0 or -E2BIG. */
int mxb_jid_bare(const char *jid, char *buf, size_t len);

/*
 * Whether the bare parts of a and b are the same JID: local part and domain compared
 * without regard to ASCII case, the resource ignored.
 */
bool mxb_jid_bare_equal(const char *a, const char *b);

/* Points at the domain of jid (after '@' if any), length in *len. */
const char *mxb_jid_domain(const char *jid, size_t *len);

#endif
