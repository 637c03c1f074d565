#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stanza_render.h"

/* Deeper or wider than any stanza the bridge builds: libstrophe renders those. */
#define DEPTH_MAX 32
#define ATTRS_MAX 32

static int reserve(struct mxb_render_buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int put(struct mxb_render_buf *b, const char *s, size_t n)
{
	if (reserve(b, n) < 0)
		return -ENOMEM;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

static int puts_(struct mxb_render_buf *b, const char *s)
{
	return put(b, s, strlen(s));
}

/* libstrophe's escaping, for text and attribute values alike: < > & and ". */
static int put_escaped(struct mxb_render_buf *b, const char *s)
{
	for (;;) {
		size_t run = strcspn(s, "<>&\"");
		if (put(b, s, run) < 0)
			return -ENOMEM;
		s += run;
		const char *rep;
		switch (*s) {
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '&':
			rep = "&amp;";
			break;
		case '"':
			rep = "&quot;";
			break;
		default:
			return 0;
		}
		if (puts_(b, rep) < 0)
			return -ENOMEM;
		s++;
	}
}

/* name="value", the value escaped. */
static int attr(struct mxb_render_buf *b, const char *name, const char *value)
{
	if (put(b, " ", 1) < 0 || puts_(b, name) < 0 || put(b, "=\"", 2) < 0 ||
		put_escaped(b, value) < 0 || put(b, "\"", 1) < 0)
		return -ENOMEM;
	return 0;
}

/* parent_ns: the parent's xmlns attribute (NULL when it has none); top: no parent. */
static int render(
	struct mxb_render_buf *b, xmpp_stanza_t *st, const char *parent_ns, bool top, int depth)
{
	if (depth > DEPTH_MAX)
		return -E2BIG;
	if (xmpp_stanza_is_text(st)) {
		const char *t = xmpp_stanza_get_text_ptr(st);
		return t ? put_escaped(b, t) : -EINVAL;
	}
	const char *name = xmpp_stanza_get_name(st);
	int n = xmpp_stanza_get_attribute_count(st);
	if (!name)
		return -EINVAL;
	if (n > ATTRS_MAX)
		return -E2BIG;
	const char *kv[2 * ATTRS_MAX];
	int k = n ? xmpp_stanza_get_attributes(st, kv, 2 * n) : 0;
	const char *ns = NULL;
	if (put(b, "<", 1) < 0 || puts_(b, name) < 0)
		return -ENOMEM;
	for (int i = 0; i + 1 < k; i += 2) {
		if (strcmp(kv[i], "xmlns") == 0) {
			ns = kv[i + 1];
			/* Said by the parent already, or the stream's own. */
			if ((parent_ns && strcmp(ns, parent_ns) == 0) ||
				(top && strcmp(ns, XMPP_NS_CLIENT) == 0))
				continue;
		}
		if (attr(b, kv[i], kv[i + 1]) < 0)
			return -ENOMEM;
	}
	xmpp_stanza_t *c = xmpp_stanza_get_children(st);
	if (!c)
		return put(b, "/>", 2);
	if (put(b, ">", 1) < 0)
		return -ENOMEM;
	for (; c; c = xmpp_stanza_get_next(c)) {
		int r = render(b, c, ns, false, depth + 1);
		if (r < 0)
			return r;
	}
	if (put(b, "</", 2) < 0 || puts_(b, name) < 0 || put(b, ">", 1) < 0)
		return -ENOMEM;
	return 0;
}

static int message(struct mxb_render_buf *b, const char *type, const char *to, const char *id,
	const char *body, bool oob)
{
	if (puts_(b, "<message") < 0 || attr(b, "type", type) < 0 || attr(b, "to", to) < 0 ||
		(id && attr(b, "id", id) < 0) || puts_(b, "><body>") < 0 ||
		put_escaped(b, body) < 0 || puts_(b, "</body>") < 0)
		return -ENOMEM;
	if (id && (puts_(b, "<origin-id xmlns=\"urn:xmpp:sid:0\"") < 0 || attr(b, "id", id) < 0 ||
			  puts_(b, "/>") < 0))
		return -ENOMEM;
	if (oob && (puts_(b, "<x xmlns=\"jabber:x:oob\"><url>") < 0 || put_escaped(b, body) < 0 ||
			   puts_(b, "</url></x>") < 0))
		return -ENOMEM;
	return puts_(b, "</message>");
}

int mxb_render_message(struct mxb_render_buf *b, const char *type, const char *to, const char *id,
	const char *body, bool oob)
{
	size_t mark = b->len;
	if (message(b, type, to, id, body, oob) < 0) {
		b->len = mark;
		if (b->p)
			b->p[mark] = '\0';
		return -ENOMEM;
	}
	b->p[b->len] = '\0';
	return 0;
}

int mxb_render_append(struct mxb_render_buf *b, const char *s, size_t n)
{
	if (put(b, s, n) < 0)
		return -ENOMEM;
	b->p[b->len] = '\0';
	return 0;
}

int mxb_stanza_render(struct mxb_render_buf *b, xmpp_stanza_t *st)
{
	size_t mark = b->len;
	int r = render(b, st, NULL, true, 0);
	if (r < 0) {
		b->len = mark;
		if (b->p)
			b->p[mark] = '\0';
		return r;
	}
	b->p[b->len] = '\0';
	return 0;
}
