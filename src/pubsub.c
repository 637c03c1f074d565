#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pubsub.h"
#include "session.h"
#include "text.h"
#include "xmpp.h"
#include "xmpp_ext.h"

#define ID_PREFIX "mxb-ps-"

struct mxb_pubsub {
	struct mxb_xmpp *x;
	struct mxb_pubsub_handlers h;
	void *data;
};

void mxb_pubsub_request_id(char *buf, size_t cap, uint32_t tag)
{
	snprintf(buf, cap, ID_PREFIX "%" PRIu32, tag);
}

static bool text_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	return s && n <= max && mxb_text_xml_valid(s, n);
}

static void invalid(struct mxb_pubsub *p, const char *from, const char *what)
{
	if (p->h.invalid)
		p->h.invalid(from, what, p->data);
}

static xmpp_stanza_t *first_tag(xmpp_stanza_t *st)
{
	xmpp_stanza_t *c = st ? xmpp_stanza_get_children(st) : NULL;
	while (c && !xmpp_stanza_is_tag(c))
		c = xmpp_stanza_get_next(c);
	return c;
}

static bool named(xmpp_stanza_t *st, const char *name)
{
	const char *n = xmpp_stanza_is_tag(st) ? xmpp_stanza_get_name(st) : NULL;
	return n && strcmp(n, name) == 0;
}

/* One <item/> of node: its id, publisher and first element handed on as an event. */
static void item_event(
	struct mxb_pubsub *p, const char *from, const char *node, xmpp_stanza_t *it, bool fetched)
{
	xmpp_ctx_t *ctx = mxb_xmpp_ext_session(p->x)->ctx;
	const char *id = xmpp_stanza_get_attribute(it, "id");
	const char *publisher = xmpp_stanza_get_attribute(it, "publisher");
	if ((id && !text_ok(id, MXB_PUBSUB_ITEM_ID_MAX)) ||
		(publisher && !text_ok(publisher, 3071))) {
		invalid(p, from, "item id or publisher");
		return;
	}
	struct mxb_pubsub_event ev = {
		.kind = MXB_PUBSUB_EV_ITEM,
		.service = from,
		.node = node,
		.item = id,
		.publisher = publisher,
		.fetched = fetched,
	};
	xmpp_stanza_t *pl = first_tag(it);
	char *text = NULL, *xml = NULL;
	size_t xml_len = 0;
	if (pl) {
		text = xmpp_stanza_get_text(pl);
		if (xmpp_stanza_to_text(pl, &xml, &xml_len) != XMPP_EOK) {
			xmpp_free(ctx, text);
			mxb_log_error("pubsub: out of memory reading an item of '%s'", node);
			return;
		}
		ev.payload = (struct mxb_pubsub_element){
			.ns = xmpp_stanza_get_ns(pl),
			.name = xmpp_stanza_get_name(pl),
			.text = text,
			.xml = xml,
		};
	}
	p->h.event(&ev, p->data);
	xmpp_free(ctx, text);
	xmpp_free(ctx, xml);
}

/* <items node=N> of an event or of a fetch: items and retractions, in order. */
static void items(struct mxb_pubsub *p, const char *from, xmpp_stanza_t *items_el, bool fetched)
{
	const char *node = xmpp_stanza_get_attribute(items_el, "node");
	if (!node || !mxb_pubsub_node_valid(node, strlen(node))) {
		invalid(p, from, "node name");
		return;
	}
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(items_el); c;
		c = xmpp_stanza_get_next(c)) {
		if (named(c, "item")) {
			item_event(p, from, node, c, fetched);
		} else if (named(c, "retract")) {
			const char *id = xmpp_stanza_get_attribute(c, "id");
			if (!id || !text_ok(id, MXB_PUBSUB_ITEM_ID_MAX)) {
				invalid(p, from, "retracted item id");
				continue;
			}
			struct mxb_pubsub_event ev = {.kind = MXB_PUBSUB_EV_RETRACT,
				.service = from,
				.node = node,
				.item = id};
			p->h.event(&ev, p->data);
		}
	}
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_pubsub *p = data;
	xmpp_stanza_t *event = xmpp_stanza_get_child_by_ns(st, MXB_NS_PUBSUB_EVENT);
	const char *from = xmpp_stanza_get_from(st);
	const char *type = xmpp_stanza_get_type(st);
	/* PEP events of contacts and other services are someone else's. */
	if (!event || !from || (type && strcmp(type, "error") == 0) || !p->h.wants(from, p->data))
		return 1;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(event); c; c = xmpp_stanza_get_next(c)) {
		if (named(c, "items")) {
			items(p, from, c, false);
		} else if (named(c, "delete") || named(c, "purge")) {
			const char *node = xmpp_stanza_get_attribute(c, "node");
			if (!node || !mxb_pubsub_node_valid(node, strlen(node))) {
				invalid(p, from, "node name");
				continue;
			}
			struct mxb_pubsub_event ev = {
				.kind = MXB_PUBSUB_EV_GONE, .service = from, .node = node};
			p->h.event(&ev, p->data);
		}
	}
	return 1;
}

/* The RFC 6120 condition, and the XEP-0060 one beside it, of an error answer. */
static void conditions(xmpp_stanza_t *st, const char **cond, const char **ps)
{
	*cond = *ps = NULL;
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "error");
	for (xmpp_stanza_t *c = e ? xmpp_stanza_get_children(e) : NULL; c;
		c = xmpp_stanza_get_next(c)) {
		const char *ns = xmpp_stanza_is_tag(c) ? xmpp_stanza_get_ns(c) : NULL;
		const char *name = xmpp_stanza_get_name(c);
		if (!ns || !name)
			continue;
		if (!*cond && strcmp(ns, NS_STANZAS) == 0 && strcmp(name, "text") != 0)
			*cond = name;
		else if (!*ps && strcmp(ns, MXB_NS_PUBSUB_ERRORS) == 0)
			*ps = name;
	}
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_pubsub *p = data;
	const char *id = xmpp_stanza_get_id(st);
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	if (!id || strncmp(id, ID_PREFIX, strlen(ID_PREFIX)) != 0 || !type || !from ||
		(strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
		return 1;
	char *end = NULL;
	unsigned long tag = strtoul(id + strlen(ID_PREFIX), &end, 10);
	if (!end || *end || tag > UINT32_MAX) {
		invalid(p, from, "answer id");
		return 1;
	}
	if (strcmp(type, "result") == 0 && p->h.wants(from, p->data)) {
		/* The answer to a last-item request, or to a disco#items one. */
		xmpp_stanza_t *ps = xmpp_stanza_get_child_by_ns(st, MXB_NS_PUBSUB);
		xmpp_stanza_t *it = ps ? xmpp_stanza_get_child_by_name(ps, "items") : NULL;
		if (it)
			items(p, from, it, true);
		xmpp_stanza_t *q = xmpp_stanza_get_child_by_ns(st, NS_DISCO_ITEMS);
		for (xmpp_stanza_t *c = q ? xmpp_stanza_get_children(q) : NULL; c && p->h.node;
			c = xmpp_stanza_get_next(c)) {
			const char *node =
				named(c, "item") ? xmpp_stanza_get_attribute(c, "node") : NULL;
			if (node && mxb_pubsub_node_valid(node, strlen(node)))
				p->h.node((uint32_t)tag, from, node, p->data);
			else if (node)
				invalid(p, from, "node name");
		}
	}
	const char *cond = NULL, *ps_cond = NULL;
	if (strcmp(type, "error") == 0)
		conditions(st, &cond, &ps_cond);
	p->h.answer((uint32_t)tag, from, type, cond, ps_cond, p->data);
	return 1;
}

static int setup(xmpp_conn_t *conn, void *data)
{
	xmpp_handler_add(conn, on_message, NULL, "message", NULL, data);
	xmpp_handler_add(conn, on_iq, NULL, "iq", NULL, data);
	return 0;
}

int mxb_pubsub_create(struct mxb_pubsub **out, struct mxb_xmpp *x,
	const struct mxb_pubsub_handlers *handlers, void *data)
{
	struct mxb_pubsub *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->x = x;
	p->h = *handlers;
	p->data = data;
	int r = mxb_xmpp_ext_add(x, setup, p);
	if (r < 0) {
		free(p);
		return r;
	}
	*out = p;
	return 0;
}

void mxb_pubsub_destroy(struct mxb_pubsub *p)
{
	/* The handlers stay on the connection object, which the client frees after this. */
	free(p);
}

bool mxb_pubsub_ready(const struct mxb_pubsub *p)
{
	return mxb_xmpp_ext_ready(p->x);
}

const char *mxb_pubsub_jid(const struct mxb_pubsub *p)
{
	return mxb_xmpp_ext_bare(p->x);
}

int mxb_pubsub_send(struct mxb_pubsub *p, const char *xml)
{
	if (!mxb_xmpp_ext_ready(p->x))
		return -ENOTCONN;
	struct mxb_session *s = mxb_xmpp_ext_session(p->x);
	xmpp_stanza_t *st = xmpp_stanza_new_from_string(s->ctx, xml);
	if (!st)
		return -EINVAL;
	mxb_session_send(s, st);
	xmpp_stanza_release(st);
	return 0;
}
