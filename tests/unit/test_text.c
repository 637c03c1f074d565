#include <errno.h>

#include "check.h"
#include "text.h"

static void test_valid(void)
{
	CHECK(mxb_text_utf8_valid("hello", 5));
	CHECK(mxb_text_utf8_valid("h\xc3\xa9", 3));
	CHECK(mxb_text_utf8_valid("\xf0\x9f\x94\xa5", 4));
	CHECK(!mxb_text_utf8_valid("\xc3", 1)); /* truncated */
	CHECK(!mxb_text_utf8_valid("\xc0\xaf", 2)); /* overlong */
	CHECK(!mxb_text_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	CHECK(!mxb_text_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
	CHECK(!mxb_text_utf8_valid("\xff", 1));

	CHECK(mxb_text_xml_valid("a\tb\nc\r", 6));
	CHECK(!mxb_text_xml_valid("a\x01", 2));
	CHECK(!mxb_text_xml_valid("a\0b", 3));
	CHECK(!mxb_text_xml_valid("\xef\xbf\xbe", 3)); /* U+FFFE */
	CHECK(mxb_text_xml_valid("\xef\xbf\xbd", 3)); /* U+FFFD */

	CHECK(mxb_text_is_binary("a\0b", 3));
	CHECK(mxb_text_is_binary("\xff", 1));
	CHECK(!mxb_text_is_binary("text", 4));
}

static void test_sanitize(void)
{
	char out[64];
	size_t replaced = 99;
	CHECK(mxb_text_sanitize("ok", 2, out, sizeof(out), &replaced) == 2);
	CHECK_STR(out, "ok");
	CHECK(replaced == 0);

	CHECK(mxb_text_sanitize("a\x01"
				"b\xff"
				"c",
		      5, out, sizeof(out), &replaced) == 9);
	CHECK_STR(out, "a\xef\xbf\xbd"
		       "b\xef\xbf\xbd"
		       "c");
	CHECK(replaced == 2);

	CHECK(mxb_text_sanitize("a\0b", 3, out, sizeof(out), &replaced) == 5);
	CHECK(replaced == 1);
	CHECK(mxb_text_xml_valid(out, 5));

	/* Too small: refused rather than cut in the middle of a character. */
	CHECK(mxb_text_sanitize("abcdef", 6, out, 4, NULL) == -E2BIG);
	CHECK(mxb_text_sanitize("\xff", 1, out, 3, NULL) == -E2BIG);
	CHECK(mxb_text_sanitize("\xff", 1, out, 4, NULL) == 3);
}

int main(void)
{
	test_valid();
	test_sanitize();
	return check_report("text");
}
