/*
 * Fuzzes text.c against a reference written from Unicode Table 3-7 (well-formed UTF-8
 * byte sequences) rather than from the decoder under test: validity, XML validity,
 * sanitized output byte for byte, its bounds and its idempotence.
 */

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

#include "fuzz.h"
#include "text.h"

/*
 * Length of the well-formed sequence at s[0..len), or 0. *cp receives the code point.
 * Each row of Table 3-7 gives the range of each byte.
 */
static size_t ref_sequence(const unsigned char *s, size_t len, unsigned long *cp)
{
	static const struct {
		unsigned char lo[4], hi[4];
		size_t n;
	} rows[] = {
		{{0x00}, {0x7f}, 1},
		{{0xc2, 0x80}, {0xdf, 0xbf}, 2},
		{{0xe0, 0xa0, 0x80}, {0xe0, 0xbf, 0xbf}, 3},
		{{0xe1, 0x80, 0x80}, {0xec, 0xbf, 0xbf}, 3},
		{{0xed, 0x80, 0x80}, {0xed, 0x9f, 0xbf}, 3},
		{{0xee, 0x80, 0x80}, {0xef, 0xbf, 0xbf}, 3},
		{{0xf0, 0x90, 0x80, 0x80}, {0xf0, 0xbf, 0xbf, 0xbf}, 4},
		{{0xf1, 0x80, 0x80, 0x80}, {0xf3, 0xbf, 0xbf, 0xbf}, 4},
		{{0xf4, 0x80, 0x80, 0x80}, {0xf4, 0x8f, 0xbf, 0xbf}, 4},
	};
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		size_t n = rows[r].n;
		if (len < n)
			continue;
		bool ok = true;
		for (size_t i = 0; i < n && ok; i++)
			ok = s[i] >= rows[r].lo[i] && s[i] <= rows[r].hi[i];
		if (!ok)
			continue;
		static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
		unsigned long v = s[0] & lead_mask[n];
		for (size_t i = 1; i < n; i++)
			v = v << 6 | (s[i] & 0x3fu);
		*cp = v;
		return n;
	}
	return 0;
}

/* XML 1.0 Char, the production of the specification. */
static bool ref_xml_char(unsigned long cp)
{
	return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
	       (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

struct ref {
	bool utf8;
	bool xml;
	size_t replaced;
	size_t out_len;
};

/* Computes what the functions under test must say; writes the sanitized text to out. */
static void ref_scan(const unsigned char *s, size_t len, unsigned char *out, struct ref *r)
{
	*r = (struct ref){.utf8 = true, .xml = true};
	size_t i = 0;
	while (i < len) {
		unsigned long cp = 0;
		size_t n = ref_sequence(s + i, len - i, &cp);
		if (n == 0)
			r->utf8 = false;
		if (n != 0 && ref_xml_char(cp)) {
			memcpy(out + r->out_len, s + i, n);
			r->out_len += n;
			i += n;
			continue;
		}
		r->xml = false;
		r->replaced++;
		memcpy(out + r->out_len, MXB_TEXT_REPLACEMENT, 3);
		r->out_len += 3;
		i += n ? n : 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	/* Each input byte becomes at most one 3-byte U+FFFD. */
	size_t cap = 3 * size + 1;
	unsigned char *want = malloc(cap);
	char *dst = malloc(cap);
	char *again = malloc(cap);
	FUZZ_CHECK(want && dst && again);

	struct ref r;
	ref_scan(data, size, want, &r);

	bool utf8 = mxb_text_utf8_valid(s, size);
	bool xml = mxb_text_xml_valid(s, size);
	FUZZ_CHECK(utf8 == r.utf8);
	FUZZ_CHECK(xml == r.xml);
	FUZZ_CHECK(!xml || utf8);
	FUZZ_CHECK(mxb_text_is_binary(s, size) == (!utf8 || memchr(s, '\0', size) != NULL));

	size_t replaced = (size_t)-1;
	ssize_t n = mxb_text_sanitize(s, size, dst, cap, &replaced);
	FUZZ_CHECK(n >= 0);
	FUZZ_CHECK((size_t)n == r.out_len);
	FUZZ_CHECK(replaced == r.replaced);
	FUZZ_CHECK(memcmp(dst, want, r.out_len) == 0);
	FUZZ_CHECK(dst[n] == '\0');
	FUZZ_CHECK(strlen(dst) == (size_t)n);
	FUZZ_CHECK(mxb_text_xml_valid(dst, (size_t)n));
	FUZZ_CHECK(mxb_text_utf8_valid(dst, (size_t)n));
	/* Nothing replaced exactly when the input already was XML text, kept as it was. */
	FUZZ_CHECK((replaced == 0) == xml);
	FUZZ_CHECK(!xml || ((size_t)n == size && memcmp(dst, s, size) == 0));

	/* Sanitized text is a fixed point. */
	size_t replaced2 = (size_t)-1;
	ssize_t n2 = mxb_text_sanitize(dst, (size_t)n, again, cap, &replaced2);
	FUZZ_CHECK(n2 == n && replaced2 == 0 && memcmp(again, dst, (size_t)n + 1) == 0);

	/*
	 * The bound: exactly n + 1 bytes fit, n do not. Exact-size heap buffers let ASan
	 * see any write past the end.
	 */
	char *exact = malloc((size_t)n + 1);
	FUZZ_CHECK(exact);
	FUZZ_CHECK(mxb_text_sanitize(s, size, exact, (size_t)n + 1, NULL) == n);
	FUZZ_CHECK(memcmp(exact, want, (size_t)n) == 0 && exact[n] == '\0');
	FUZZ_CHECK(mxb_text_sanitize(s, size, exact, (size_t)n, NULL) == -E2BIG);
	FUZZ_CHECK(mxb_text_sanitize(s, size, exact, 0, NULL) == -E2BIG);
	free(exact);

	free(again);
	free(dst);
	free(want);
	return 0;
}
