/*
 * Fuzzes the log line escaper (log.c): whatever a peer's bytes are, the escaped text holds
 * no character that ends or rewrites a line, is valid UTF-8, fits its buffer, and keeps
 * text that needs no escape byte for byte.
 */

#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cap = 1 + data[0] % 128;
	if (data[0] & 0x80)
		cap = 4096;
	const char *src = (const char *)data + 1;
	size_t len = size - 1;
	char *out = malloc(cap);
	if (!out)
		return 0;
	size_t n = mxb_log_escape(src, len, out, cap);
	FUZZ_CHECK(n < cap);
	FUZZ_CHECK(out[n] == '\0');
	FUZZ_CHECK(mxb_text_utf8_valid(out, n));
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		FUZZ_CHECK(c >= 0x20 && c != 0x7f);
		/* C1 controls (U+0080..U+009F) are 0xc2 0x80..0x9f in UTF-8 */
		if (c == 0xc2 && i + 1 < n)
			FUZZ_CHECK((unsigned char)out[i + 1] > 0x9f);
		/* U+2028, U+2029, U+202A..U+202E, U+2066..U+2069 */
		if (c == 0xe2 && i + 2 < n && (unsigned char)out[i + 1] == 0x80)
			FUZZ_CHECK((unsigned char)out[i + 2] < 0xa8 ||
				   (unsigned char)out[i + 2] > 0xae);
		if (c == 0xe2 && i + 2 < n && (unsigned char)out[i + 1] == 0x81)
			FUZZ_CHECK((unsigned char)out[i + 2] < 0xa6 ||
				   (unsigned char)out[i + 2] > 0xa9);
	}
	/* Printable ASCII passes unchanged when it fits. */
	bool plain = len < cap;
	for (size_t i = 0; i < len && plain; i++)
		plain = data[1 + i] >= 0x20 && data[1 + i] < 0x7f;
	if (plain)
		FUZZ_CHECK(n == len && memcmp(out, src, len) == 0);
	free(out);
	return 0;
}
