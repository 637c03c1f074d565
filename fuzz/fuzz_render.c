/*
 * Fuzzes stanza_render.c against libstrophe's own xmpp_stanza_to_text(): peers' bytes as
 * a body, as attribute values and as a nested element's text, rendered by both; the two
 * texts must be the same, byte for byte, and a failed render must leave the buffer as it
 * was; and the message the bridge renders without a stanza, against that stanza rendered by
 * libstrophe: the same bytes, in another order only where attributes are. The input is
 * split at its NUL bytes into those strings.
 */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "fuzz.h"
#include "stanza_render.h"

static xmpp_ctx_t *ctx;

static xmpp_stanza_t *child(xmpp_stanza_t *parent, const char *name, const char *ns)
{
	xmpp_stanza_t *t = xmpp_stanza_new(ctx);
	xmpp_stanza_set_name(t, name);
	if (ns)
		xmpp_stanza_set_ns(t, ns);
	xmpp_stanza_add_child(parent, t);
	xmpp_stanza_release(t);
	return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx) {
		xmpp_initialize();
		ctx = xmpp_ctx_new(NULL, NULL);
	}
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* Up to four strings: body, two attribute values, a nested text. */
	const char *part[4] = {"", "", "", ""};
	char *p = copy;
	for (int i = 0; i < 4 && p <= copy + size; i++) {
		part[i] = p;
		p += strlen(p) + 1;
	}
	xmpp_stanza_t *m = xmpp_message_new(ctx, "chat", part[1], "id");
	xmpp_stanza_set_attribute(m, "from", part[2]);
	if (*part[0])
		xmpp_message_set_body(m, part[0]);
	xmpp_stanza_t *x = child(m, "x", (size & 1) ? "jabber:x:oob" : "jabber:client");
	xmpp_stanza_t *u = child(x, "url", (size & 2) ? "jabber:x:oob" : NULL);
	if (*part[3]) {
		xmpp_stanza_t *t = xmpp_stanza_new(ctx);
		xmpp_stanza_set_text(t, part[3]);
		xmpp_stanza_add_child(u, t);
		xmpp_stanza_release(t);
	}
	char *want = NULL;
	size_t wlen = 0;
	struct mxb_render_buf b = {0};
	FUZZ_CHECK(mxb_render_append(&b, "<r/>", 4) == 0);
	if (xmpp_stanza_to_text(m, &want, &wlen) == XMPP_EOK) {
		FUZZ_CHECK(mxb_stanza_render(&b, m) == 0);
		FUZZ_CHECK(b.len == 4 + wlen && memcmp(b.p + 4, want, wlen) == 0);
		FUZZ_CHECK(b.p[b.len] == '\0');
		xmpp_free(ctx, want);
	}
	free(b.p);
	xmpp_stanza_release(m);

	/* The message rendered straight: the same bytes as the stanza, attributes aside. */
	const char *id = *part[2] ? part[2] : NULL;
	bool oob = size & 4;
	m = xmpp_message_new(ctx, "chat", part[1], id);
	xmpp_message_set_body(m, part[0]);
	if (id)
		xmpp_stanza_set_id(child(m, "origin-id", "urn:xmpp:sid:0"), id);
	if (oob) {
		xmpp_stanza_t *url = child(child(m, "x", "jabber:x:oob"), "url", NULL);
		xmpp_stanza_t *t = xmpp_stanza_new(ctx);
		xmpp_stanza_set_text(t, part[0]);
		xmpp_stanza_add_child(url, t);
		xmpp_stanza_release(t);
	}
	struct mxb_render_buf mb = {0};
	FUZZ_CHECK(mxb_render_message(&mb, "chat", part[1], id, part[0], oob) == 0);
	if (xmpp_stanza_to_text(m, &want, &wlen) == XMPP_EOK) {
		size_t ca[256] = {0}, cb[256] = {0};
		for (size_t i = 0; i < mb.len; i++)
			ca[(unsigned char)mb.p[i]]++;
		for (size_t i = 0; i < wlen; i++)
			cb[(unsigned char)want[i]]++;
		FUZZ_CHECK(mb.len == wlen && memcmp(ca, cb, sizeof(ca)) == 0);
		FUZZ_CHECK(strncmp(mb.p, "<message ", 9) == 0);
		xmpp_free(ctx, want);
	}
	free(mb.p);
	xmpp_stanza_release(m);
	free(copy);
	return 0;
}
