#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

void mxb_strbuf_init(struct mxb_strbuf *b, size_t max)
{
	*b = (struct mxb_strbuf){.max = max};
}

void mxb_strbuf_finish(struct mxb_strbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

static int reserve(struct mxb_strbuf *b, size_t extra)
{
	if (extra > b->max - b->len) {
		b->over = true;
		return -E2BIG;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : 2 * cap;
	char *s = realloc(b->s, cap);
	if (!s) {
		b->failed = true;
		return -ENOMEM;
	}
	b->s = s;
	b->cap = cap;
	return 0;
}

int mxb_strbuf_add(struct mxb_strbuf *b, const char *s, size_t len)
{
	int r = reserve(b, len);
	if (r < 0)
		return r;
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
	return 0;
}

int mxb_strbuf_puts(struct mxb_strbuf *b, const char *s)
{
	return mxb_strbuf_add(b, s, strlen(s));
}

int mxb_strbuf_printf(struct mxb_strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	int r = reserve(b, (size_t)n);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

size_t mxb_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	/* Back over continuation bytes to the start of the character that does not fit. */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80 && max - n < 3)
		n--;
	return n;
}

int mxb_strbuf_quote(struct mxb_strbuf *b, const char *s, size_t limit)
{
	size_t len = strlen(s);
	if (len <= limit)
		return mxb_strbuf_add(b, s, len);
	size_t n = mxb_utf8_cut(s, len, limit);
	int r = reserve(b, n + 3);
	if (r < 0)
		return r;
	mxb_strbuf_add(b, s, n);
	return mxb_strbuf_add(b, "\xe2\x80\xa6", 3);
}

char *mxb_strbuf_take(struct mxb_strbuf *b)
{
	char *s = b->s;
	if (!s && !b->failed)
		s = strdup("");
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}
