#ifndef MXB_TEXT_H
#define MXB_TEXT_H

/*
 * Text that may become XML character data: valid UTF-8 reduced to XML 1.0 Char
 * (#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]). Pure.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The UTF-8 encoding of U+FFFD, which replaces what XML cannot carry. */
#define MXB_TEXT_REPLACEMENT "\xef\xbf\xbd"

/* Whether s[0..len) is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
bool mxb_text_utf8_valid(const char *s, size_t len);

/* Whether s[0..len) is valid UTF-8 made only of XML 1.0 characters (so no NUL). */
bool mxb_text_xml_valid(const char *s, size_t len);

/*
 * Copies src[0..len) to dst, replacing each invalid UTF-8 sequence and each character
 * XML forbids by U+FFFD, and NUL-terminates dst. Returns the bytes written (without the
 * NUL), or -E2BIG when dst (cap bytes) is too small. *replaced (may be NULL) receives the
 * number of replacements.
 */
ssize_t mxb_text_sanitize(const char *src, size_t len, char *dst, size_t cap, size_t *replaced);

/*
 * Writes the base64 (RFC 4648, with padding) or lower-case hex form of src[0..len) to dst
 * (cap bytes, NUL-terminated). Returns the length without the NUL, or -E2BIG.
 */
ssize_t mxb_text_base64(const char *src, size_t len, char *dst, size_t cap);
ssize_t mxb_text_hex(const char *src, size_t len, char *dst, size_t cap);

/* Whether s[0..len) looks like binary data rather than text (NUL or invalid UTF-8). */
bool mxb_text_is_binary(const char *s, size_t len);

#endif
