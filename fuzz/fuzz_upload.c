/*
 * Fuzzes upload.c, what the bridge decides about a server's slot and a camera's payload.
 * The input's first byte picks allow_http; the rest, split at NUL, gives the slot's put
 * and get URLs, then header names and values in turn. The whole input is also sniffed,
 * turned into a file name and read as a size. Checked: an accepted slot has URLs that
 * mxb_upload_url_valid accepts and header lines without CR, LF or other controls, of the
 * three names XEP-0363 allows, each once; a file name holds only its safe characters,
 * within its bound, never "." or ".." or a leading dot.
 */

#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "upload.h"

#define FIELDS (2 + 2 * MXB_UPLOAD_HEADERS_SEEN_MAX + 2)

static void check_slot(const struct mxb_upload_slot_raw *raw, bool allow_http)
{
	static struct mxb_upload_slot s;
	const char *why = NULL;
	int r = mxb_upload_slot_check(raw, allow_http, &s, &why);
	if (r < 0) {
		FUZZ_CHECK(why != NULL);
		return;
	}
	FUZZ_CHECK(mxb_upload_url_valid(s.put, allow_http, NULL));
	FUZZ_CHECK(mxb_upload_url_valid(s.get, allow_http, NULL));
	FUZZ_CHECK(strcmp(s.put, raw->put) == 0 && strcmp(s.get, raw->get) == 0);
	FUZZ_CHECK(s.nheaders + s.ignored == raw->nheaders);
	FUZZ_CHECK(s.nheaders <= MXB_UPLOAD_HEADERS_MAX);
	static const char *const names[] = {"Authorization: ", "Cookie: ", "Expires: "};
	bool seen[3] = {false};
	for (size_t i = 0; i < s.nheaders; i++) {
		const char *h = s.headers[i];
		size_t k = 0;
		while (k < 3 && strncmp(h, names[k], strlen(names[k])) != 0)
			k++;
		FUZZ_CHECK(k < 3 && !seen[k]);
		seen[k] = true;
		for (const char *p = h; *p; p++)
			FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
}

static void check_name(const char *in, size_t len)
{
	const char *type = mxb_upload_sniff(in, len);
	char out[MXB_UPLOAD_NAME_MAX + 1];
	int n = mxb_upload_file_name(in, len, type, out, sizeof(out));
	FUZZ_CHECK(n > 0 && n <= MXB_UPLOAD_NAME_MAX && (size_t)n == strlen(out));
	FUZZ_CHECK(out[0] != '.');
	for (int i = 0; i < n; i++) {
		char c = out[i];
		FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_');
	}
	const char *ext = mxb_upload_extension(type);
	if (*ext && !memchr(in, '.', len))
		FUZZ_CHECK((size_t)n >= strlen(ext) && strcmp(out + n - strlen(ext), ext) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 64 * 1024)
		return 0;
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	check_name(buf, size);

	bool allow_http = buf[0] & 1;
	const char *field[FIELDS];
	size_t nf = 0;
	for (size_t i = 1; i <= size && nf < FIELDS;) {
		field[nf++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	struct mxb_upload_slot_raw raw = {
		.put = nf > 0 ? field[0] : NULL, .get = nf > 1 ? field[1] : NULL};
	for (size_t f = 2; f + 1 < nf; f += 2) {
		if (raw.nheaders == MXB_UPLOAD_HEADERS_SEEN_MAX) {
			raw.too_many_headers = true;
			break;
		}
		raw.headers[raw.nheaders].name = field[f];
		raw.headers[raw.nheaders].value = field[f + 1];
		raw.nheaders++;
	}
	check_slot(&raw, allow_http);

	uint64_t v;
	if (mxb_upload_parse_size(buf + 1, &v) == 0)
		FUZZ_CHECK(v <= (UINT64_C(1) << 53));
	mxb_upload_content_type_valid(buf + 1);
	free(buf);
	return 0;
}
