#ifndef MXB_UPLOAD_SLOT_H
#define MXB_UPLOAD_SLOT_H

/*
 * The XMPP half of HTTP File Upload (XEP-0363) on the client's session: finding the
 * server's upload service (disco#items on the server, disco#info on each item, or only the
 * configured service) with its max-file-size, and asking it for slots. The answers are
 * checked by upload.c and handed back as plain structs. Every request has a deadline; a
 * session that ends fails what waits on it.
 */

#include <stdbool.h>
#include <stdint.h>

#include "upload.h"

struct mxb_session;
struct mxb_upload_slots;

struct mxb_upload_slot_answer {
	uint64_t token; /* what the request was made with */
	bool ok;
	struct mxb_upload_slot slot; /* when ok */
	/* The server refused: file-too-large (with its limit, 0: not said), else why. */
	bool too_large;
	uint64_t max_size;
	bool temporary; /* a wait error or no answer: asking again later may work */
	char why[200];
};

struct mxb_upload_slots_ops {
	/* Discovery ended: the service's JID (NULL: none found) and its max-file-size (0:
	 * none advertised). */
	void (*discovered)(const char *service, uint64_t max_size, void *data);
	/* The end of a request; a is valid during the call only. */
	void (*answer)(const struct mxb_upload_slot_answer *a, void *data);
};

int mxb_upload_slots_create(
	struct mxb_upload_slots **out, const struct mxb_upload_slots_ops *ops, void *data);
void mxb_upload_slots_destroy(struct mxb_upload_slots *u);

/*
 * The session s is up: discovery starts on domain, or on service alone when it is set
 * (both copied). allow_http: slots with http URLs are taken.
 */
void mxb_upload_slots_online(struct mxb_upload_slots *u, struct mxb_session *s, const char *domain,
	const char *service, bool allow_http, int64_t now);
/*
 * The session ended, or is gone (its object may be freed already): every slot request
 * waiting is answered with a temporary failure.
 */
void mxb_upload_slots_offline(struct mxb_upload_slots *u);
/*
 * Asks the service for a slot (file name and content type as upload.c made them).
 * Returns 0 (answer follows), -ENOTCONN (no session or no service known) or -EBUSY
 * (too many requests waiting).
 */
int mxb_upload_slots_request(struct mxb_upload_slots *u, uint64_t token, const char *name,
	uint64_t size, const char *content_type, int64_t now);
/* Fails requests whose answer is overdue. Returns the next deadline (INT64_MAX: none). */
int64_t mxb_upload_slots_tick(struct mxb_upload_slots *u, int64_t now);

#endif
