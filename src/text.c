#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "text.h"

/*
 * Decodes one UTF-8 sequence at s[0..len). Returns its length and the code point in *cp,
 * or 0 when the sequence is invalid (truncated, overlong, surrogate, above U+10FFFF).
 */
static size_t decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t n;
	uint32_t v, min;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

static bool xml_char(uint32_t cp)
{
	if (cp < 0x20)
		return cp == 0x9 || cp == 0xa || cp == 0xd;
	if (cp <= 0xd7ff)
		return true;
	if (cp >= 0xe000 && cp <= 0xfffd)
		return true;
	return cp >= 0x10000 && cp <= 0x10ffff;
}

bool mxb_text_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		uint32_t cp;
		size_t n = decode(p + i, len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

bool mxb_text_xml_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = decode(p + i, len - i, &cp);
		if (n == 0 || !xml_char(cp))
			return false;
		i += n;
	}
	return true;
}

ssize_t mxb_text_sanitize(const char *src, size_t len, char *dst, size_t cap, size_t *replaced)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t out = 0, count = 0, i = 0;
	if (cap == 0)
		return -E2BIG;
	while (i < len) {
		uint32_t cp;
		size_t n = decode(p + i, len - i, &cp);
		const char *piece;
		size_t plen;
		if (n != 0 && xml_char(cp)) {
			piece = src + i;
			plen = n;
			i += n;
		} else {
			/* One replacement per invalid byte, as decoders commonly do. */
			piece = MXB_TEXT_REPLACEMENT;
			plen = sizeof(MXB_TEXT_REPLACEMENT) - 1;
			i += n != 0 ? n : 1;
			count++;
		}
		if (out + plen >= cap)
			return -E2BIG;
		memcpy(dst + out, piece, plen);
		out += plen;
	}
	dst[out] = '\0';
	if (replaced)
		*replaced = count;
	return (ssize_t)out;
}

bool mxb_text_is_binary(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL || !mxb_text_utf8_valid(s, len);
}

ssize_t mxb_text_base64(const char *src, size_t len, char *dst, size_t cap)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)src;
	size_t out = 4 * ((len + 2) / 3);
	if (len > (SIZE_MAX - 4) / 2 || out + 1 > cap)
		return -E2BIG;
	size_t o = 0, i = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		dst[o++] = digits[v >> 18];
		dst[o++] = digits[(v >> 12) & 63];
		dst[o++] = digits[(v >> 6) & 63];
		dst[o++] = digits[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
		dst[o++] = digits[v >> 18];
		dst[o++] = digits[(v >> 12) & 63];
		dst[o++] = i + 1 < len ? digits[(v >> 6) & 63] : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
	return (ssize_t)o;
}

ssize_t mxb_text_hex(const char *src, size_t len, char *dst, size_t cap)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	if (len > (SIZE_MAX - 1) / 2 || 2 * len + 1 > cap)
		return -E2BIG;
	for (size_t i = 0; i < len; i++) {
		dst[2 * i] = digits[s[i] >> 4];
		dst[2 * i + 1] = digits[s[i] & 15];
	}
	dst[2 * len] = '\0';
	return (ssize_t)(2 * len);
}
