/*
 * The renderer of session_io.c's batches against libstrophe's own xmpp_stanza_to_text():
 * the same text byte for byte for the stanzas the bridge builds, peers' words in their
 * text and attributes, namespaces said once, the stream's own left out; a stanza too deep
 * is refused and leaves the buffer as it was.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "check.h"
#include "stanza_render.h"

static xmpp_ctx_t *ctx;

static xmpp_stanza_t *tag(xmpp_stanza_t *parent, const char *name, const char *ns)
{
	xmpp_stanza_t *t = xmpp_stanza_new(ctx);
	xmpp_stanza_set_name(t, name);
	if (ns)
		xmpp_stanza_set_ns(t, ns);
	if (parent) {
		xmpp_stanza_add_child(parent, t);
		xmpp_stanza_release(t);
	}
	return t;
}

static void text(xmpp_stanza_t *parent, const char *s)
{
	xmpp_stanza_t *t = xmpp_stanza_new(ctx);
	xmpp_stanza_set_text(t, s);
	xmpp_stanza_add_child(parent, t);
	xmpp_stanza_release(t);
}

/* Renders st after what b holds and checks it against libstrophe's text. */
static void same(struct mxb_render_buf *b, xmpp_stanza_t *st)
{
	char *want;
	size_t wlen;
	CHECK(xmpp_stanza_to_text(st, &want, &wlen) == XMPP_EOK);
	size_t before = b->len;
	CHECK(mxb_stanza_render(b, st) == 0);
	CHECK(b->len - before == wlen);
	CHECK(memcmp(b->p + before, want, wlen) == 0);
	CHECK(b->p[b->len] == '\0');
	if (b->len - before != wlen || memcmp(b->p + before, want, wlen) != 0)
		fprintf(stderr, "want %s\ngot  %s\n", want, b->p + before);
	xmpp_free(ctx, want);
	xmpp_stanza_release(st);
}

static void check_stanzas(void)
{
	struct mxb_render_buf b = {0};
	/* A chat message with a peer's words: markup, quotes, UTF-8, a line break. */
	xmpp_stanza_t *m = xmpp_message_new(ctx, "chat", "alice@localhost", "mxb-1");
	xmpp_stanza_set_from(m, "bridge@localhost/x\"y");
	xmpp_message_set_body(m, "a<b>&\"c'd\" é€😀\nend ]]> &amp;");
	same(&b, m);
	/* A picture: an element of another namespace; the stream's namespace left out. */
	m = xmpp_message_new(ctx, "chat", "alice@localhost", "mxb-2");
	xmpp_stanza_set_ns(m, "jabber:client");
	xmpp_message_set_body(m, "https://up.example/a?b=1&c=2");
	text(tag(tag(m, "x", "jabber:x:oob"), "url", "jabber:x:oob"),
		"https://up.example/a?b=1&c=2");
	same(&b, m);
	/* An IQ with a query, items and attributes of every kind. */
	xmpp_stanza_t *iq = xmpp_iq_new(ctx, "set", "r1");
	xmpp_stanza_t *q = tag(iq, "query", "jabber:iq:roster");
	xmpp_stanza_t *item = tag(q, "item", NULL);
	xmpp_stanza_set_attribute(item, "jid", "plug@iot.localhost");
	xmpp_stanza_set_attribute(item, "name", "<Plug> & \"Lamp\"");
	text(tag(item, "group", NULL), "Living room");
	same(&b, iq);
	/* An empty presence, an element with an empty text, a component's namespace kept. */
	same(&b, xmpp_presence_new(ctx));
	m = tag(NULL, "message", "jabber:component:accept");
	text(tag(m, "body", NULL), "");
	same(&b, m);
	/* Parsed from text, as an answer to a request is built from it. */
	xmpp_stanza_t *p = xmpp_stanza_new_from_string(ctx,
		"<iq xmlns='jabber:client' type='get' id='a&amp;b' from='x@y/z'><query "
		"xmlns='http://jabber.org/protocol/disco#info' node='n&quot;1'><identity "
		"category='client' type='bot' name='&lt;b&gt;'/><feature var='urn:xmpp:ping'/>"
		"</query></iq>");
	CHECK(p != NULL);
	if (p)
		same(&b, p);
	/* Everything so far in one buffer, in order. */
	CHECK(strncmp(b.p, "<message", 8) == 0);

	/* Too deep: refused, nothing written. */
	xmpp_stanza_t *deep = tag(NULL, "message", NULL);
	xmpp_stanza_t *at = deep;
	for (int i = 0; i < 40; i++)
		at = tag(at, "x", NULL);
	size_t len = b.len;
	CHECK(mxb_stanza_render(&b, deep) == -E2BIG);
	CHECK(b.len == len && b.p[len] == '\0');
	xmpp_stanza_release(deep);

	/* Raw text appended as it is. */
	CHECK(mxb_render_append(&b, "<r xmlns='urn:xmpp:sm:3'/>", 26) == 0);
	CHECK(strcmp(b.p + len, "<r xmlns='urn:xmpp:sm:3'/>") == 0);
	free(b.p);
}

/* What a receiver reads of a message: its attributes, body, origin-id and URL. */
static void read_message(xmpp_stanza_t *m, const char **f)
{
	f[0] = xmpp_stanza_get_name(m);
	f[1] = xmpp_stanza_get_type(m);
	f[2] = xmpp_stanza_get_to(m);
	f[3] = xmpp_stanza_get_id(m);
	xmpp_stanza_t *o = xmpp_stanza_get_child_by_name_and_ns(m, "origin-id", "urn:xmpp:sid:0");
	f[4] = o ? xmpp_stanza_get_id(o) : NULL;
	xmpp_stanza_t *x = xmpp_stanza_get_child_by_name_and_ns(m, "x", "jabber:x:oob");
	xmpp_stanza_t *u = x ? xmpp_stanza_get_child_by_name(x, "url") : NULL;
	f[5] = u && xmpp_stanza_get_children(u)
		       ? xmpp_stanza_get_text_ptr(xmpp_stanza_get_children(u))
		       : NULL;
	f[6] = xmpp_stanza_get_ns(m);
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* text parsed inside a stream of jabber:client, as the server reads it; release it. */
static xmpp_stanza_t *parse_in_stream(const char *text)
{
	char *wrapped = NULL;
	if (asprintf(&wrapped, "<stream xmlns='jabber:client'>%s</stream>", text) < 0)
		return NULL;
	xmpp_stanza_t *w = xmpp_stanza_new_from_string(ctx, wrapped);
	free(wrapped);
	return w;
}

/* The message as the stanza the bridge built before, and as rendered straight. */
static void same_message(
	const char *type, const char *to, const char *id, const char *body, bool oob)
{
	xmpp_stanza_t *m = xmpp_message_new(ctx, type, to, id);
	xmpp_message_set_body(m, body);
	if (id)
		xmpp_stanza_set_id(tag(m, "origin-id", "urn:xmpp:sid:0"), id);
	if (oob)
		text(tag(tag(m, "x", "jabber:x:oob"), "url", NULL), body);
	struct mxb_render_buf b = {0};
	CHECK(mxb_render_message(&b, type, to, id, body, oob) == 0);
	char *theirs;
	size_t len;
	CHECK(xmpp_stanza_to_text(m, &theirs, &len) == XMPP_EOK);
	/* The same length as libstrophe's rendering, and the same to whoever reads it. */
	CHECK(b.len == len);
	xmpp_stanza_t *wa = parse_in_stream(b.p), *we = parse_in_stream(theirs);
	xmpp_stanza_t *got = wa ? xmpp_stanza_get_children(wa) : NULL;
	xmpp_stanza_t *want = we ? xmpp_stanza_get_children(we) : NULL;
	CHECK(got != NULL && want != NULL);
	if (got && want) {
		const char *a[7], *e[7];
		read_message(got, a);
		read_message(want, e);
		for (int i = 0; i < 7; i++)
			CHECK(same_str(a[i], e[i]));
		char *ba = xmpp_message_get_body(got), *be = xmpp_message_get_body(want);
		CHECK(same_str(ba, be));
		xmpp_free(ctx, ba);
		xmpp_free(ctx, be);
	}
	xmpp_free(ctx, theirs);
	if (wa)
		xmpp_stanza_release(wa);
	if (we)
		xmpp_stanza_release(we);
	free(b.p);
	xmpp_stanza_release(m);
}

static void check_messages(void)
{
	same_message("chat", "alice@localhost", "mxb-a-1", "kitchen says smoke", false);
	same_message("chat", "alice@localhost", "mxb-a-2", "a<b>&\"c'd\" é€😀\nend ]]>", false);
	same_message("groupchat", "room@muc.localhost", NULL, "", false);
	same_message("chat", "x\"y@localhost/r<1>", "id&\"2", "https://up.example/a?b=1&c=2", true);
}

int main(void)
{
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	check_stanzas();
	check_messages();
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	return check_report("stanza_render");
}
