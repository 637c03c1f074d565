#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "upload.h"

static void test_sniff(void)
{
	CHECK_STR(mxb_upload_sniff("\xff\xd8\xff\xe0\x00\x10JFIF", 10), "image/jpeg");
	CHECK_STR(mxb_upload_sniff("\xff\xd8\xff", 3), "image/jpeg");
	CHECK_STR(mxb_upload_sniff("\xff\xd8", 2), "application/octet-stream");
	CHECK_STR(mxb_upload_sniff("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16), "image/png");
	CHECK_STR(mxb_upload_sniff("\x89PNG\r\n", 6), "application/octet-stream");
	CHECK_STR(mxb_upload_sniff("GIF89a\x01\0", 8), "image/gif");
	CHECK_STR(mxb_upload_sniff("GIF87a", 6), "image/gif");
	CHECK_STR(mxb_upload_sniff("GIF88a", 6), "application/octet-stream");
	CHECK_STR(mxb_upload_sniff("RIFF\x24\0\0\0WEBPVP8 ", 16), "image/webp");
	/* RIFF of another kind: a WAV file */
	CHECK_STR(mxb_upload_sniff("RIFF\x24\0\0\0WAVEfmt ", 16), "application/octet-stream");
	CHECK_STR(mxb_upload_sniff("\0\0\0\x18"
				   "ftypmp42\0\0\0\0",
			  16),
		"video/mp4");
	CHECK_STR(mxb_upload_sniff("\0\0\0\x20"
				   "ftypisom",
			  12),
		"video/mp4");
	/* QuickTime and HEIF are ISO media too, but not MP4 */
	CHECK_STR(mxb_upload_sniff("\0\0\0\x14"
				   "ftypqt  ",
			  12),
		"application/octet-stream");
	CHECK_STR(mxb_upload_sniff("\0\0\0\x18"
				   "ftypheic",
			  12),
		"application/octet-stream");
	CHECK_STR(mxb_upload_sniff("", 0), "application/octet-stream");
	CHECK_STR(mxb_upload_sniff("hello", 5), "application/octet-stream");

	CHECK_STR(mxb_upload_extension("image/jpeg"), ".jpg");
	CHECK_STR(mxb_upload_extension("IMAGE/PNG"), ".png");
	CHECK_STR(mxb_upload_extension("video/mp4"), ".mp4");
	CHECK_STR(mxb_upload_extension("application/octet-stream"), "");
}

static void test_content_type(void)
{
	CHECK(mxb_upload_content_type_valid("image/jpeg"));
	CHECK(mxb_upload_content_type_valid("application/vnd.foo+json"));
	CHECK(!mxb_upload_content_type_valid("image"));
	CHECK(!mxb_upload_content_type_valid("/jpeg"));
	CHECK(!mxb_upload_content_type_valid("image/"));
	CHECK(!mxb_upload_content_type_valid("image/jp eg"));
	CHECK(!mxb_upload_content_type_valid("image/jpeg\r\nX-Evil: 1"));
	CHECK(!mxb_upload_content_type_valid("image/a/b"));
	CHECK(!mxb_upload_content_type_valid(""));
}

static const char *name(const char *in, const char *type)
{
	static char out[MXB_UPLOAD_NAME_MAX + 1];
	int n = mxb_upload_file_name(in, strlen(in), type, out, sizeof(out));
	CHECK(n >= 0 && (size_t)n == strlen(out));
	return out;
}

static void test_file_name(void)
{
	CHECK_STR(
		name("front-2026-12-02T00:16:42Z", "image/jpeg"), "front-2026-12-02T00_16_42Z.jpg");
	CHECK_STR(name("frigate/front/person/snapshot", "image/png"),
		"frigate_front_person_snapshot.png");
	CHECK_STR(name("front.jpg", "image/jpeg"), "front.jpg");
	/* a name with its own extension keeps it, whatever was sniffed */
	CHECK_STR(name("front.jpeg", "image/png"), "front.jpeg");
	CHECK_STR(name("../../etc/passwd", "image/jpeg"), "etc_passwd.jpg");
	CHECK_STR(name("...", "image/jpeg"), "snapshot.jpg");
	CHECK_STR(name("", "application/octet-stream"), "snapshot");
	CHECK_STR(name("a b\x01\xff/c", "image/gif"), "a_b_c.gif");
	CHECK_STR(name("caf\xc3\xa9", "image/jpeg"), "caf.jpg");
	CHECK_STR(name("x.", "image/jpeg"), "x.jpg");

	char longname[400];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	const char *n = name(longname, "image/webp");
	CHECK(strlen(n) == MXB_UPLOAD_NAME_MAX);
	CHECK(strcmp(n + MXB_UPLOAD_NAME_MAX - 5, ".webp") == 0);
	n = name(longname, "application/octet-stream");
	CHECK(strlen(n) == MXB_UPLOAD_NAME_MAX);

	char small[16];
	CHECK(mxb_upload_file_name("x", 1, "image/jpeg", small, sizeof(small)) == -E2BIG);
}

static void test_url(void)
{
	const char *why = NULL;
	CHECK(mxb_upload_url_valid("https://localhost:5281/file_share/abc/x.jpg", false, &why));
	CHECK(mxb_upload_url_valid("HTTPS://example.org/u", false, NULL));
	CHECK(!mxb_upload_url_valid("http://example.org/u", false, &why));
	CHECK_STR(why, "URL is not https");
	CHECK(mxb_upload_url_valid("http://example.org/u", true, NULL));
	CHECK(!mxb_upload_url_valid("ftp://example.org/u", true, &why));
	CHECK(!mxb_upload_url_valid("file:///etc/passwd", true, NULL));
	CHECK(!mxb_upload_url_valid("https://", false, &why));
	CHECK_STR(why, "URL has no host");
	CHECK(!mxb_upload_url_valid("https:///path", false, NULL));
	CHECK(!mxb_upload_url_valid("https://a b/", false, NULL));
	CHECK(!mxb_upload_url_valid("https://a/\r\nHost: evil", false, NULL));
	CHECK(!mxb_upload_url_valid("https://a/\xc3\xa9", false, NULL));
	CHECK(!mxb_upload_url_valid("https://user:pw@host/", false, &why));
	CHECK_STR(why, "URL holds credentials");
	CHECK(mxb_upload_url_valid("https://host/a@b", false, NULL));
	CHECK(!mxb_upload_url_valid("", false, NULL));
	CHECK(!mxb_upload_url_valid(NULL, false, &why));
	CHECK_STR(why, "no URL");

	static char big[MXB_UPLOAD_URL_MAX + 2];
	memcpy(big, "https://h/", 10);
	memset(big + 10, 'a', sizeof(big) - 11);
	CHECK(!mxb_upload_url_valid(big, false, &why));
	CHECK_STR(why, "URL too long");
	big[MXB_UPLOAD_URL_MAX] = '\0';
	CHECK(mxb_upload_url_valid(big, false, NULL));
}

static void test_slot(void)
{
	static struct mxb_upload_slot s;
	const char *why = NULL;
	struct mxb_upload_slot_raw raw = {
		.put = "https://localhost:5281/file_share/id/x.jpg",
		.get = "https://localhost:5281/file_share/id/x.jpg",
		.headers = {{"Authorization", "Bearer abc\r\ndef"}, {"X-Other", "1"},
			{"cookie", "a=b"}, {"Expires", "Tue, 01 Dec 2026 00:00:00 GMT"}},
		.nheaders = 4,
	};
	CHECK(mxb_upload_slot_check(&raw, false, &s, &why) == 0);
	CHECK_STR(s.put, raw.put);
	CHECK_STR(s.get, raw.get);
	CHECK(s.nheaders == 3);
	CHECK(s.ignored == 1);
	/* newlines stripped (XEP-0363), names spelled the usual way */
	CHECK_STR(s.headers[0], "Authorization: Bearer abcdef");
	CHECK_STR(s.headers[1], "Cookie: a=b");
	CHECK_STR(s.headers[2], "Expires: Tue, 01 Dec 2026 00:00:00 GMT");

	/* ejabberd: no headers at all */
	struct mxb_upload_slot_raw ej = {.put = "https://localhost/upload/a/b/x.jpg",
		.get = "https://localhost/upload/a/b/x.jpg"};
	CHECK(mxb_upload_slot_check(&ej, false, &s, NULL) == 0);
	CHECK(s.nheaders == 0);

	struct mxb_upload_slot_raw bad = raw;
	bad.get = NULL;
	CHECK(mxb_upload_slot_check(&bad, false, &s, &why) == -EINVAL);
	CHECK_STR(why, "no URL");
	bad = raw;
	bad.put = "http://localhost/x";
	CHECK(mxb_upload_slot_check(&bad, false, &s, &why) == -EINVAL);
	CHECK_STR(why, "URL is not https");
	CHECK(mxb_upload_slot_check(&bad, true, &s, &why) == 0);
	bad = raw;
	bad.headers[1].name = "authorization";
	CHECK(mxb_upload_slot_check(&bad, false, &s, &why) == -EINVAL);
	CHECK_STR(why, "a header twice in the slot");
	bad = raw;
	bad.headers[0].value = "Bearer \x01";
	CHECK(mxb_upload_slot_check(&bad, false, &s, &why) == -EINVAL);
	CHECK_STR(why, "control characters in a header value");
	bad = raw;
	bad.too_many_headers = true;
	CHECK(mxb_upload_slot_check(&bad, false, &s, &why) == -EINVAL);
	CHECK_STR(why, "too many headers in the slot");
	bad = raw;
	bad.headers[1].name = NULL; /* a header without a name is left out */
	CHECK(mxb_upload_slot_check(&bad, false, &s, NULL) == 0 && s.ignored == 1);

	static char value[MXB_UPLOAD_HEADER_MAX + 2];
	memset(value, 'v', sizeof(value) - 1);
	bad = raw;
	bad.headers[0].value = value;
	CHECK(mxb_upload_slot_check(&bad, false, &s, &why) == -EINVAL);
	CHECK_STR(why, "header value too long");
	value[MXB_UPLOAD_HEADER_MAX] = '\0';
	CHECK(mxb_upload_slot_check(&bad, false, &s, NULL) == 0);
	CHECK(strlen(s.headers[0]) == strlen("Authorization: ") + MXB_UPLOAD_HEADER_MAX);
}

static void test_size(void)
{
	uint64_t v = 7;
	CHECK(mxb_upload_parse_size("1048576", &v) == 0 && v == 1048576);
	CHECK(mxb_upload_parse_size(" 42\n", &v) == 0 && v == 42);
	CHECK(mxb_upload_parse_size("0", &v) == 0 && v == 0);
	CHECK(mxb_upload_parse_size("9007199254740992", &v) == 0);
	CHECK(mxb_upload_parse_size("9007199254740993", &v) == -EINVAL);
	CHECK(mxb_upload_parse_size("99999999999999999999999", &v) == -EINVAL);
	CHECK(mxb_upload_parse_size("-1", &v) == -EINVAL);
	CHECK(mxb_upload_parse_size("1e6", &v) == -EINVAL);
	CHECK(mxb_upload_parse_size("", &v) == -EINVAL);
	CHECK(mxb_upload_parse_size("12 34", &v) == -EINVAL);
	CHECK(mxb_upload_parse_size(NULL, &v) == -EINVAL);
}

int main(void)
{
	test_sniff();
	test_content_type();
	test_file_name();
	test_url();
	test_slot();
	test_size();
	return check_report("upload");
}
