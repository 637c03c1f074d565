#ifndef MXB_PRESENCE_H
#define MXB_PRESENCE_H

/*
 * Contacts' presence as the bridge publishes it on MQTT: a bounded table of contacts, each
 * with a bounded set of resources, the resource that counts, and the value rendered for
 * the retained message. Who may enter the table is decided here as well, so that the rule
 * sits where unit tests and the fuzzer reach it. Pure: no I/O, no logging, no session
 * library types (cJSON renders the JSON form).
 */

#include <stdbool.h>
#include <stddef.h>

/* Contacts tracked at most; only contacts the rule admits count against it. */
#define MXB_PRESENCE_CONTACTS_MAX 1000
/* Resources (clients) tracked per contact. */
#define MXB_PRESENCE_RESOURCES_MAX 8
/*
 * Bytes of status text kept per resource. Longer text is cut to at most this many bytes,
 * at the last UTF-8 character boundary, so that the cut never splits a character.
 */
#define MXB_PRESENCE_STATUS_MAX 1024

struct mxb_presence;
struct mxb_presence_contact;

struct mxb_presence_update {
	const char *bare; /* the sender's bare JID, compared without regard to ASCII case */
	const char *resource; /* "" when the presence came from the bare JID */
	bool available; /* false: type "unavailable" */
	const char *show; /* "chat", "away", "xa", "dnd"; NULL or anything else: none */
	const char *status; /* may be NULL */
	int priority; /* clamped to -128..127 (RFC 6121 4.7.2.3) */
	bool subscribed; /* the bridge's roster says subscription "to" or "both" */
	bool named; /* the config names bare (notify to, commands from, device allow) */
};

enum mxb_presence_outcome {
	/* The value differs from the one last published: publish mxb_presence_value(). */
	MXB_PRESENCE_CHANGED,
	MXB_PRESENCE_UNCHANGED,
	/* Neither subscribed nor named, and not in the table: dropped, the table untouched. */
	MXB_PRESENCE_STRANGER,
	/*
	 * Unavailable from a named JID without a subscription that was never published (a
	 * server sends it when a contact declines or cancels): nothing to retract.
	 */
	MXB_PRESENCE_IGNORED,
	/* A new contact while the table is full, or a resource over the per-contact bound. */
	MXB_PRESENCE_FULL,
};

/*
 * Creates a table of at most max contacts (0: MXB_PRESENCE_CONTACTS_MAX) whose values are
 * JSON (json) or the plain show word. Returns NULL when out of memory.
 */
struct mxb_presence *mxb_presence_create(size_t max, bool json);
void mxb_presence_destroy(struct mxb_presence *t);

/*
 * Applies one presence. Admitted are: contacts with a subscription; JIDs the config names
 * (their directed presence); and the unavailable presence of a contact already in the
 * table (so that one who cancels ends unavailable rather than stuck available). Returns
 * an enum mxb_presence_outcome, or -EINVAL (empty bare JID), -ENOMEM. *contact (may be
 * NULL) receives the contact for CHANGED and UNCHANGED, NULL otherwise; it lives as long
 * as the table.
 */
int mxb_presence_update(struct mxb_presence *t, const struct mxb_presence_update *u,
	struct mxb_presence_contact **contact);

/* The value to publish for c: its latest rendering. */
const char *mxb_presence_value(const struct mxb_presence_contact *c);
/* Records that the value was published, so that an equal one is not published again. */
void mxb_presence_published(struct mxb_presence_contact *c);
/* c's bare JID as first seen. */
const char *mxb_presence_bare(const struct mxb_presence_contact *c);
size_t mxb_presence_resources(const struct mxb_presence_contact *c);

/* The contact bare (NULL when it is not in the table). */
struct mxb_presence_contact *mxb_presence_find(const struct mxb_presence *t, const char *bare);
size_t mxb_presence_len(const struct mxb_presence *t);

/*
 * The resource that counts: the highest priority, then the most available show (chat,
 * none, away, xa, dnd); a negative priority never counts (RFC 6121 4.7.2.3). show is
 * "available" for none and "unavailable" when no resource counts; status (NULL when
 * none) lives until c's next update.
 */
struct mxb_presence_best {
	const char *show;
	const char *status;
	int priority;
};
void mxb_presence_best(const struct mxb_presence_contact *c, struct mxb_presence_best *out);

/* The byte count of s that MXB_PRESENCE_STATUS_MAX keeps (strlen(s) when it fits). */
size_t mxb_presence_status_cut(const char *s);

#endif
