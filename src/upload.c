#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "upload.h"

static bool starts(const unsigned char *p, size_t len, size_t off, const char *magic, size_t n)
{
	return len >= off + n && memcmp(p + off, magic, n) == 0;
}

const char *mxb_upload_sniff(const void *data, size_t len)
{
	const unsigned char *p = data;
	if (starts(p, len, 0, "\xff\xd8\xff", 3))
		return "image/jpeg";
	if (starts(p, len, 0, "\x89PNG\r\n\x1a\n", 8))
		return "image/png";
	if (starts(p, len, 0, "GIF87a", 6) || starts(p, len, 0, "GIF89a", 6))
		return "image/gif";
	if (starts(p, len, 0, "RIFF", 4) && starts(p, len, 8, "WEBP", 4))
		return "image/webp";
	/* ISO base media: a box of type ftyp first, its brand telling the family. */
	if (starts(p, len, 4, "ftyp", 4) && len >= 12) {
		static const char *const brands[] = {"isom", "iso2", "iso4", "iso5", "iso6", "mp41",
			"mp42", "avc1", "dash", "M4V ", "MSNV"};
		for (size_t i = 0; i < sizeof(brands) / sizeof(brands[0]); i++) {
			if (memcmp(p + 8, brands[i], 4) == 0)
				return "video/mp4";
		}
	}
	return "application/octet-stream";
}

const char *mxb_upload_extension(const char *content_type)
{
	static const struct {
		const char *type, *ext;
	} known[] = {
		{"image/jpeg", ".jpg"},
		{"image/png", ".png"},
		{"image/gif", ".gif"},
		{"image/webp", ".webp"},
		{"video/mp4", ".mp4"},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcasecmp(content_type, known[i].type) == 0)
			return known[i].ext;
	}
	return "";
}

/* RFC 6838 restricted-name characters. */
static bool type_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("!#$&-^_.+", c) != NULL;
}

bool mxb_upload_content_type_valid(const char *s)
{
	size_t n = strlen(s);
	const char *slash = strchr(s, '/');
	if (n == 0 || n > MXB_UPLOAD_TYPE_MAX || !slash || slash == s || !slash[1])
		return false;
	for (const char *p = s; *p; p++) {
		if (p != slash && !type_char((unsigned char)*p))
			return false;
	}
	return true;
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

int mxb_upload_file_name(
	const char *name, size_t len, const char *content_type, char *out, size_t cap)
{
	if (cap < MXB_UPLOAD_NAME_MAX + 1)
		return -E2BIG;
	const char *ext = mxb_upload_extension(content_type);
	size_t n = 0;
	bool gap = false;
	/* Longer input is cut: the name is the bridge's choice, the URL is what counts. */
	for (size_t i = 0; i < len && n < MXB_UPLOAD_NAME_MAX; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!name_char(c) || (c == '.' && n == 0)) {
			gap = n > 0;
			continue;
		}
		if (gap && n + 1 < MXB_UPLOAD_NAME_MAX)
			out[n++] = '_';
		gap = false;
		out[n++] = (char)c;
	}
	while (n > 0 && (out[n - 1] == '.' || out[n - 1] == '_'))
		n--;
	if (n == 0) {
		memcpy(out, "snapshot", 8);
		n = 8;
	}
	out[n] = '\0';
	const char *dot = strrchr(out, '.');
	if (!dot && *ext) {
		size_t el = strlen(ext);
		if (n + el > MXB_UPLOAD_NAME_MAX)
			n = MXB_UPLOAD_NAME_MAX - el;
		memcpy(out + n, ext, el + 1);
		n += el;
	}
	return (int)n;
}

bool mxb_upload_url_valid(const char *url, bool allow_http, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	if (!url || !*url) {
		*why = "no URL";
		return false;
	}
	size_t n = strnlen(url, MXB_UPLOAD_URL_MAX + 1);
	if (n > MXB_UPLOAD_URL_MAX) {
		*why = "URL too long";
		return false;
	}
	const char *host;
	if (strncasecmp(url, "https://", 8) == 0) {
		host = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		if (!allow_http) {
			*why = "URL is not https";
			return false;
		}
		host = url + 7;
	} else {
		*why = "URL is neither https nor http";
		return false;
	}
	for (const char *p = url; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f) {
			*why = "URL holds whitespace, control or non-ASCII bytes";
			return false;
		}
	}
	size_t hl = strcspn(host, "/?#");
	if (hl == 0 || host[0] == ':' || host[0] == '@') {
		*why = "URL has no host";
		return false;
	}
	/* user:password@ in the authority would be sent as Basic auth. */
	if (memchr(host, '@', hl)) {
		*why = "URL holds credentials";
		return false;
	}
	return true;
}

static const char *const allowed[MXB_UPLOAD_HEADERS_MAX] = {"Authorization", "Cookie", "Expires"};

int mxb_upload_slot_check(const struct mxb_upload_slot_raw *raw, bool allow_http,
	struct mxb_upload_slot *out, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	if (raw->too_many_headers || raw->nheaders > MXB_UPLOAD_HEADERS_SEEN_MAX) {
		*why = "too many headers in the slot";
		return -EINVAL;
	}
	const char *w;
	if (!mxb_upload_url_valid(raw->put, allow_http, &w) ||
		!mxb_upload_url_valid(raw->get, allow_http, &w)) {
		*why = w;
		return -EINVAL;
	}
	memcpy(out->put, raw->put, strlen(raw->put) + 1);
	memcpy(out->get, raw->get, strlen(raw->get) + 1);
	bool seen[MXB_UPLOAD_HEADERS_MAX] = {false};
	for (size_t i = 0; i < raw->nheaders; i++) {
		const char *name = raw->headers[i].name, *value = raw->headers[i].value;
		size_t k = 0;
		while (k < MXB_UPLOAD_HEADERS_MAX && (!name || strcasecmp(name, allowed[k]) != 0))
			k++;
		if (k == MXB_UPLOAD_HEADERS_MAX) {
			out->ignored++;
			continue;
		}
		if (seen[k]) {
			*why = "a header twice in the slot";
			return -EINVAL;
		}
		seen[k] = true;
		if (!value)
			value = "";
		if (strnlen(value, MXB_UPLOAD_HEADER_MAX + 1) > MXB_UPLOAD_HEADER_MAX) {
			*why = "header value too long";
			return -EINVAL;
		}
		char *line = out->headers[out->nheaders];
		int n = snprintf(line, sizeof(out->headers[0]), "%s: ", allowed[k]);
		for (const char *p = value; *p; p++) {
			unsigned char c = (unsigned char)*p;
			if (c == '\r' || c == '\n')
				continue;
			if (c < 0x20 || c == 0x7f) {
				*why = "control characters in a header value";
				return -EINVAL;
			}
			line[n++] = (char)c;
		}
		line[n] = '\0';
		out->nheaders++;
	}
	return 0;
}

int mxb_upload_parse_size(const char *s, uint64_t *out)
{
	if (!s)
		return -EINVAL;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	uint64_t v = 0;
	size_t digits = 0;
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > (UINT64_C(1) << 53))
			return -EINVAL;
	}
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (digits == 0 || *s)
		return -EINVAL;
	*out = v;
	return 0;
}
