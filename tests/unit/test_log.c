#include <string.h>

#include "check.h"
#include "log.h"

#define EXPECT(in, cap, want) expect(in, sizeof(in) - 1, cap, want)

static void expect(const char *in, size_t len, size_t cap, const char *want)
{
	char out[256];
	size_t n = mxb_log_escape(in, len, out, cap);
	CHECK(n == strlen(out));
	CHECK_STR(out, want);
}

int main(void)
{
	EXPECT("plain text", 256, "plain text");
	/* A peer's newline would start a line of its own: "error: forged". */
	EXPECT("x\nerror: forged", 256, "x\\nerror: forged");
	EXPECT("a\tb\rc", 256, "a\\tb\\rc");
	EXPECT("\x1b[31mred", 256, "\\x1b[31mred");
	EXPECT("del\x7f", 256, "del\\x7f");
	EXPECT("nul\0x", 256, "nul\\x00x");
	/* C1 controls, line and paragraph separators, bidi overrides */
	EXPECT("\xc2\x85|\xc2\x9b|\xe2\x80\xa8|\xe2\x80\xa9|\xe2\x80\xae", 256,
		"\\u0085|\\u009b|\\u2028|\\u2029|\\u202e");
	/* bytes that are not UTF-8: a lone continuation, an overlong, a surrogate, a cut */
	EXPECT("\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82", 256,
		"\\x80|\\xc0\\xaf|\\xed\\xa0\\x80|\\xe2\\x82");
	/* kept: UTF-8 text */
	EXPECT("caf\xc3\xa9 \xf0\x9f\x98\x80", 256, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	/* what does not fit ends with "…", never inside a character or an escape */
	EXPECT("abcdefghij", 8, "abcd\xe2\x80\xa6");
	EXPECT("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, "\xc3\xa9\xc3\xa9\xe2\x80\xa6");
	EXPECT("\n\n\n\n", 8, "\\n\\n\xe2\x80\xa6");
	EXPECT("abc", 4, "abc");
	return check_report("log");
}
