#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "ns.h"
#include "sm.h"

/* How long to wait for <enabled/> before going on without acks. */
#define SM_ENABLE_TIMEOUT_MS 5000

void mxb_sm_init(struct mxb_sm *sm, struct mxb_session *s, const struct mxb_sm_handlers *handlers,
	void *data)
{
	*sm = (struct mxb_sm){.s = s,
		.handlers = *handlers,
		.data = data,
		.ack_every = MXB_SM_ACK_EVERY,
		.ack_delay = MXB_SM_ACK_DELAY_MS};
}

void mxb_sm_set_acks(struct mxb_sm *sm, int every, int delay_ms)
{
	sm->ack_every = every > 0 ? every : 1;
	sm->ack_delay = delay_ms >= 0 ? delay_ms : 0;
}

static void ready(struct mxb_sm *sm, bool on)
{
	if (!sm->waiting)
		return;
	sm->waiting = false;
	sm->active = on;
	if (on)
		mxb_log_info("%s: stream management on: messages are held until the server "
			     "acknowledges them",
			sm->s->params.tag);
	else
		mxb_log_warn("%s: the server refused stream management (XEP-0198); messages in "
			     "flight when a connection drops can be lost",
			sm->s->params.tag);
	sm->handlers.ready(sm->data);
}

static int on_enabled(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	(void)st;
	struct mxb_sm *sm = data;
	/* The server counts what it sends from here on. */
	sm->in = 0;
	ready(sm, true);
	return 1;
}

static int on_failed(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	(void)st;
	ready(data, false);
	return 1;
}

static int on_ack(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_sm *sm = data;
	const char *h = xmpp_stanza_get_attribute(st, "h");
	sm->r_pending = false;
	if (!sm->active || !h)
		return 1;
	sm->acked = (uint32_t)strtoul(h, NULL, 10);
	if (sm->handlers.acked)
		sm->handlers.acked(sm->acked, sm->data);
	return 1;
}

static int on_request(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	(void)st;
	struct mxb_sm *sm = data;
	if (!sm->active)
		return 1;
	char a[64];
	int n = snprintf(a, sizeof(a), "<a xmlns='" NS_SM "' h='%u'/>", sm->in);
	mxb_session_send_raw(sm->s, a, (size_t)n);
	return 1;
}

void mxb_sm_add_handlers(struct mxb_sm *sm, xmpp_conn_t *conn)
{
	xmpp_handler_add(conn, on_enabled, NS_SM, "enabled", NULL, sm);
	xmpp_handler_add(conn, on_failed, NS_SM, "failed", NULL, sm);
	xmpp_handler_add(conn, on_ack, NS_SM, "a", NULL, sm);
	xmpp_handler_add(conn, on_request, NS_SM, "r", NULL, sm);
}

bool mxb_sm_start(struct mxb_sm *sm, int64_t now)
{
	/* The server counts what it receives from <enable/> on (the core's count starts at 0). */
	sm->acked = 0;
	sm->requested = 0;
	sm->last_r = 0;
	sm->r_pending = false;
	sm->active = false;
	sm->waiting = sm->s->sm_offered;
	sm->deadline = now + SM_ENABLE_TIMEOUT_MS;
	if (sm->waiting) {
		static const char enable[] = "<enable xmlns='" NS_SM "'/>";
		mxb_session_send_raw(sm->s, enable, sizeof(enable) - 1);
		return true;
	}
	if (!sm->warned)
		mxb_log_warn("%s: the server offers no stream management (XEP-0198); "
			     "messages in flight when a connection drops can be lost",
			sm->s->params.tag);
	sm->warned = true;
	return false;
}

void mxb_sm_down(struct mxb_sm *sm)
{
	sm->active = false;
	sm->waiting = false;
}

int64_t mxb_sm_tick(struct mxb_sm *sm, int64_t now)
{
	if (sm->waiting && now >= sm->deadline) {
		sm->waiting = false;
		mxb_log_warn("%s: no answer to enabling stream management (XEP-0198); going on "
			     "without acks",
			sm->s->params.tag);
		sm->handlers.ready(sm->data);
	}
	mxb_sm_flush(sm, now);
	if (sm->waiting)
		return sm->deadline;
	if (sm->active && sm->s->sent != sm->requested && !sm->r_pending)
		return sm->last_r + sm->ack_delay;
	return INT64_MAX;
}

/*
 * Asks for an ack once ack_every stanzas wait for one, and otherwise at most once per
 * ack_delay: at once when none was asked for within it (a lone message costs no extra
 * wakeup), else when it has passed. One <r/> per batch, not per stanza, and no stanza
 * waits longer than ack_delay for its request.
 */
void mxb_sm_flush(struct mxb_sm *sm, int64_t now)
{
	struct mxb_session *s = sm->s;
	if (s->state != MXB_SESSION_UP || !sm->active || s->sent == sm->requested)
		return;
	bool many = s->sent - sm->requested >= (uint32_t)sm->ack_every;
	if (!many && (sm->r_pending || now < sm->last_r + sm->ack_delay))
		return;
	static const char r[] = "<r xmlns='" NS_SM "'/>";
	mxb_session_send_raw(s, r, sizeof(r) - 1);
	sm->requested = s->sent;
	sm->last_r = now;
	sm->r_pending = true;
}
