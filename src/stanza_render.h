#ifndef MXB_STANZA_RENDER_H
#define MXB_STANZA_RENDER_H

/*
 * A stanza as XML text, appended to a growing buffer: the text libstrophe 0.12.2's
 * xmpp_stanza_to_text() makes, byte for byte (the same escaping of text and attribute
 * values, the same namespaces left out), without its snprintf per part, its allocation per
 * escaped string and its second rendering of a stanza over 1 KiB. Only the session files
 * include this header.
 */

#include <stdbool.h>
#include <stddef.h>
#include <strophe.h>

struct mxb_render_buf {
	char *p; /* NUL-terminated after every successful call */
	size_t len, cap;
};

/*
 * Appends st to b. Returns 0, -ENOMEM, or -E2BIG for a stanza nested deeper or with more
 * attributes than the renderer takes (left to libstrophe's own); on an error b is as before.
 */
int mxb_stanza_render(struct mxb_render_buf *b, xmpp_stanza_t *st);
/*
 * Appends the message the bridge sends most, without building it as a stanza first:
 * <message type to id><body/>, an XEP-0359 <origin-id/> with the same id when there is
 * one, and with oob the body again as an XEP-0066 URL. The same XML as that stanza
 * rendered (attributes may come in another order). Returns 0 or -ENOMEM (b as before).
 */
int mxb_render_message(struct mxb_render_buf *b, const char *type, const char *to, const char *id,
	const char *body, bool oob);
/* Appends n bytes of s as they are. Returns 0 or -ENOMEM (b as before). */
int mxb_render_append(struct mxb_render_buf *b, const char *s, size_t n);

#endif
