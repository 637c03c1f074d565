/*
 * Fuzzes stanza_render.c against libstrophe's own xmpp_stanza_to_text(): peers' bytes as
 * a body, as attribute values and as a nested element's text, rendered by both; the two
 * texts must be the same, byte for byte, and a failed render must leave the buffer as it
 * was. The input is split at its NUL bytes into those strings.
 */

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
	free(copy);
	return 0;
}
