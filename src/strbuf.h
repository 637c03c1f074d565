#ifndef MXB_STRBUF_H
#define MXB_STRBUF_H

/*
 * A growable string with a hard bound: text made from what peers send (replies, status
 * lines) is built here rather than in fixed-size buffers, so a long input can neither
 * overrun a buffer nor be cut without the caller knowing. Pure.
 */

#include <stdbool.h>
#include <stddef.h>

#include "log.h" /* MXB_PRINTF only */

struct mxb_strbuf {
	char *s; /* NUL-terminated once anything was added; owned; NULL when empty */
	size_t len;
	size_t cap; /* allocated */
	size_t max; /* bytes the text may hold, without the NUL */
	bool over; /* an append did not fit in max (nothing of it was added) */
	bool failed; /* an allocation failed */
};

/* Starts an empty buffer that holds at most max bytes. */
void mxb_strbuf_init(struct mxb_strbuf *b, size_t max);
void mxb_strbuf_finish(struct mxb_strbuf *b);

/*
 * Appends s[0..len), whole or not at all. Returns 0, -E2BIG when it would pass max (b->over
 * set) or -ENOMEM (b->failed set).
 */
int mxb_strbuf_add(struct mxb_strbuf *b, const char *s, size_t len);
int mxb_strbuf_puts(struct mxb_strbuf *b, const char *s);
int mxb_strbuf_printf(struct mxb_strbuf *b, const char *fmt, ...) MXB_PRINTF(2, 3);

/*
 * Appends s quoted for a reply or a log line: whole when at most limit bytes, else its
 * first bytes up to a character boundary and "…" (so a quote can never end inside a
 * UTF-8 sequence). Returns like mxb_strbuf_add.
 */
int mxb_strbuf_quote(struct mxb_strbuf *b, const char *s, size_t limit);

/* Gives the text to the caller (free() it); "" when empty. NULL on allocation failure. */
char *mxb_strbuf_take(struct mxb_strbuf *b);

/* The length of the longest prefix of s[0..len) at most max bytes that ends on a UTF-8
 * character boundary. */
size_t mxb_utf8_cut(const char *s, size_t len, size_t max);

#endif
