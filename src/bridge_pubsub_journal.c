/*
 * The pubsub items held for the services, in the journal (bridge.spool): each as a message
 * record of type MXB_PUBSUB_JOURNAL_TYPE (pubsub_item.h), added when it is held, marked
 * done when the service answered or it was dropped, replayed at start.
 */

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "bridge.h"
#include "bridge_pubsub.h"
#include "bridge_pubsub_state.h"
#include "jid.h"
#include "log.h"
#include "pubsub_item.h"
#include "spool.h"

/* The journal body of it, into out. Returns like mxb_pubsub_journal_encode. */
static int journal_body(const struct item *it, struct mxb_strbuf *out)
{
	struct mxb_pubsub_journal j = {
		.node = it->node,
		.node_len = strlen(it->node),
		.item = it->id,
		.item_len = strlen(it->id),
		.payload = it->payload,
		.payload_len = it->payload ? strlen(it->payload) : 0,
		.max_items = it->max_items,
		.max = it->max,
		.retract = !it->payload,
	};
	mxb_strbuf_init(out, it->max + 2 * MXB_PUBSUB_NODE_MAX);
	return mxb_pubsub_journal_encode(out, &j);
}

/* Journals it (with bridge.spool) under a fresh id: a SIGKILL does not lose it. */
void mxb_bridge_pubsub_journal_add(struct mxb_bridge *b, struct item *it)
{
	it->jid[0] = '\0';
	if (!b->spool)
		return;
	struct mxb_strbuf body;
	if (journal_body(it, &body) == 0) {
		snprintf(it->jid, sizeof(it->jid), "ps-%lld-%u", (long long)mxb_now_ms(),
			b->pubsub->journal_seq++);
		if (mxb_spool_add(b->spool, it->jid, it->service, MXB_PUBSUB_JOURNAL_TYPE, body.s) <
			0)
			it->jid[0] = '\0';
	}
	mxb_strbuf_finish(&body);
}

void mxb_bridge_pubsub_journal_done(struct mxb_bridge *b, struct item *it)
{
	if (it->jid[0] && b->spool)
		mxb_spool_done(b->spool, it->jid);
	it->jid[0] = '\0';
}

bool mxb_bridge_pubsub_replay(
	struct mxb_bridge *b, const char *id, const char *service, const char *body)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	struct mxb_pubsub_journal j;
	if (strlen(id) >= sizeof(((struct item *)0)->jid) || strlen(service) > MXB_JID_MAX ||
		!mxb_jid_valid(service) || !mxb_jid_is_bare(service) ||
		mxb_pubsub_journal_decode(body, strlen(body), &j) < 0) {
		b->n.pubsub_invalid++;
		mxb_log_warn("spool: pubsub item '%s' is not one the bridge wrote; dropped", id);
		return false;
	}
	struct item *it = calloc(1, sizeof(*it));
	if (!it || !(it->service = strdup(service)) || !(it->node = strndup(j.node, j.node_len)) ||
		!(it->id = strndup(j.item, j.item_len)) ||
		(!j.retract && !(it->payload = strndup(j.payload, j.payload_len)))) {
		mxb_bridge_pubsub_item_free(it);
		mxb_log_error("spool: out of memory; pubsub item '%s' stays for the next run", id);
		return true;
	}
	it->route = SIZE_MAX;
	it->max = j.max;
	it->max_items = j.max_items;
	it->options = true;
	it->resent = true;
	snprintf(it->jid, sizeof(it->jid), "%s", id);
	if (p->len >= b->cfg->bridge.queue_size) {
		b->n.pubsub_queue_dropped++;
		mxb_log_warn("spool: more pubsub items than bridge.queue_size; '%s' dropped", id);
		mxb_bridge_pubsub_item_free(it);
		return false;
	}
	if (p->tail)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	p->len++;
	return true;
}

void mxb_bridge_pubsub_each_journal(struct mxb_bridge *b,
	void (*fn)(const char *id, const char *to, const char *type, const char *body, void *data),
	void *data)
{
	struct mxb_bridge_pubsub *p = b->pubsub;
	for (struct item *it = p ? p->head : NULL; it; it = it->next) {
		struct mxb_strbuf body;
		if (journal_body(it, &body) == 0) {
			if (!it->jid[0])
				snprintf(it->jid, sizeof(it->jid), "ps-%lld-%u",
					(long long)mxb_now_ms(), p->journal_seq++);
			fn(it->jid, it->service, MXB_PUBSUB_JOURNAL_TYPE, body.s, data);
		}
		mxb_strbuf_finish(&body);
	}
}
