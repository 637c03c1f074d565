#ifndef MXB_SM_H
#define MXB_SM_H

/*
 * Stream management (XEP-0198) for a client session, done here rather than by libstrophe
 * 0.12.2, which has no ack callback and asks for an ack after every stanza: the session
 * counts its stanzas both ways (the core counts what it sends), one <r/> asks for an ack
 * every ack_every stanzas and otherwise at most once per ack_delay, and the server's <r/>
 * are answered. The client embeds a struct mxb_sm; only
 * the session files include this header.
 */

#include <stdbool.h>
#include <stdint.h>

#include "session.h"

struct mxb_sm_handlers {
	/* The server acknowledged every stanza up to h (compare with wrap-around). */
	void (*acked)(uint32_t h, void *data);
	/* Enabling ended, on, refused or timed out: the session may say it is online. */
	void (*ready)(void *data);
};

/* The users read active and waiting; sm.c writes everything. */
struct mxb_sm {
	struct mxb_session *s; /* borrowed: the session counted */
	struct mxb_sm_handlers handlers;
	void *data;
	bool waiting; /* connected, waiting for <enabled/> before saying online */
	bool active;
	bool warned; /* the server's lack of it was said once */
	bool r_pending; /* an <r/> waits for its <a/> */
	int64_t deadline;
	int ack_every, ack_delay; /* ask after this many stanzas, or this many ms */
	uint32_t requested; /* the count of sent stanzas at the last <r/> */
	int64_t last_r; /* when the last <r/> was sent; 0: none on this stream */
	uint32_t in; /* stanzas received since <enabled/> */
	uint32_t acked; /* the server's last h */
};

/* The defaults of xmpp.ack_every and xmpp.ack_delay (ms). */
#define MXB_SM_ACK_EVERY 32
#define MXB_SM_ACK_DELAY_MS 50

/* s, handlers and data must outlive sm. */
void mxb_sm_init(struct mxb_sm *sm, struct mxb_session *s, const struct mxb_sm_handlers *handlers,
	void *data);
/* Adds the handlers of <enabled/>, <failed/>, <a/> and <r/> to a fresh connection. */
void mxb_sm_add_handlers(struct mxb_sm *sm, xmpp_conn_t *conn);
/*
 * The session is up: asks for stream management when the server offered it. Returns true
 * when the answer is awaited (handlers.ready follows), false when there is none to await.
 */
bool mxb_sm_start(struct mxb_sm *sm, int64_t now);
/* The connection ended: no acks until the next mxb_sm_start. */
void mxb_sm_down(struct mxb_sm *sm);
/* When to ask for acks: after every stanzas, else at most once per delay_ms. */
void mxb_sm_set_acks(struct mxb_sm *sm, int every, int delay_ms);
/* Gives up waiting for <enabled/> at its deadline, asks for a due ack; the next deadline. */
int64_t mxb_sm_tick(struct mxb_sm *sm, int64_t now);
/* Asks for an ack when enough was sent or the oldest waited long enough. After each pass. */
void mxb_sm_flush(struct mxb_sm *sm, int64_t now);

/* Counts a stanza received: every stanza handler calls it first. */
static inline void mxb_sm_received(struct mxb_sm *sm)
{
	sm->in++;
}

#endif
