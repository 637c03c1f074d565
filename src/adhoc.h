#ifndef MXB_ADHOC_H
#define MXB_ADHOC_H

/*
 * Ad-hoc commands (XEP-0050) on a session: disco#items and disco#info on the commands node
 * and on each command, and <command/> requests, turned into the plain structs of
 * adhoc_form.h for the handlers to answer. Only session files include this header.
 *
 * An answer that comes later (a publish waiting for its PUBACK) is held as a pending
 * request, at most MXB_ADHOC_PENDING_MAX at a time; past that a request is answered
 * resource-constraint. Pending requests are forgotten when the session ends: their IQs
 * died with it.
 */

#include <stdbool.h>
#include <stdint.h>
#include <strophe.h>

#include "adhoc_form.h"

#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define MXB_ADHOC_PENDING_MAX 16

struct mxb_session;

struct mxb_adhoc_pending {
	uint32_t token; /* 0: free */
	char *to; /* the requester's full JID */
	char *id; /* of its IQ */
	char *node;
	char *sessionid;
};

struct mxb_adhoc {
	struct mxb_session *s;
	const struct mxb_adhoc_handlers *handlers; /* NULL: no commands */
	void *data;
	uint32_t next_token;
	uint32_t next_session;
	struct mxb_adhoc_pending pending[MXB_ADHOC_PENDING_MAX];
};

/* handlers (may be NULL) and data must outlive a. */
void mxb_adhoc_init(struct mxb_adhoc *a, struct mxb_session *s,
	const struct mxb_adhoc_handlers *handlers, void *data);
void mxb_adhoc_finish(struct mxb_adhoc *a);

/*
 * Takes the IQ request st when it is about ad-hoc commands (query and ns as
 * mxb_stanza_iq_request found them) and answers it, now or later. Returns whether it took
 * it.
 */
bool mxb_adhoc_handle(
	struct mxb_adhoc *a, xmpp_stanza_t *st, xmpp_stanza_t *query, const char *ns, bool get);

/*
 * Answers the pending request token with r. Returns 0, -ENOENT when there is none (the
 * session ended since, or it was answered), -ENOTCONN or -ENOMEM.
 */
int mxb_adhoc_answer(struct mxb_adhoc *a, uint32_t token, const struct mxb_adhoc_response *r);

/* The session ended: forgets every pending request. */
void mxb_adhoc_down(struct mxb_adhoc *a);

#endif
