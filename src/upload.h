#ifndef MXB_UPLOAD_H
#define MXB_UPLOAD_H

/*
 * What the bridge decides about a file it uploads (XEP-0363 HTTP File Upload): the content
 * type of a payload from its first bytes, a safe file name from a rendered template, and
 * whether a slot the server handed out may be used (URLs, headers) and with what. Pure: no
 * I/O, no library types, no logging; the session and HTTP files hand it plain strings.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest URL taken from a slot; a longer one refuses the slot. */
#define MXB_UPLOAD_URL_MAX 2048
/* The longest header value taken from a slot (a Bearer token, a cookie). */
#define MXB_UPLOAD_HEADER_MAX 1024
/* Authorization, Cookie and Expires: the only headers XEP-0363 lets a slot set. */
#define MXB_UPLOAD_HEADERS_MAX 3
/* Header elements of a slot looked at; a slot with more is refused. */
#define MXB_UPLOAD_HEADERS_SEEN_MAX 16
/* The longest file name asked for, without the NUL. */
#define MXB_UPLOAD_NAME_MAX 128
/* The longest content type, without the NUL (RFC 6838: 127 + '/' + 127). */
#define MXB_UPLOAD_TYPE_MAX 255

/*
 * The content type of data[0..len) from its magic bytes: image/jpeg, image/png, image/gif,
 * image/webp, video/mp4, or application/octet-stream. Never NULL; a static string.
 */
const char *mxb_upload_sniff(const void *data, size_t len);

/* The usual file name extension of a content type (".jpg"), or "" when it has none. */
const char *mxb_upload_extension(const char *content_type);

/* Whether s is a content type "type/subtype" of RFC 6838 token characters, bounded. */
bool mxb_upload_content_type_valid(const char *s);

/*
 * A file name from name[0..len) (a rendered template): letters, digits, '.', '-' and '_'
 * kept, runs of anything else one '_', no leading '.', at most MXB_UPLOAD_NAME_MAX bytes
 * (cut before the extension), and content_type's extension added when the name has
 * none. Empty becomes "snapshot". Writes it NUL-terminated to out (cap bytes, at least
 * MXB_UPLOAD_NAME_MAX + 1). Returns its length, or -E2BIG when cap is too small.
 */
int mxb_upload_file_name(
	const char *name, size_t len, const char *content_type, char *out, size_t cap);

/*
 * Whether url may be used for an upload: at most MXB_UPLOAD_URL_MAX bytes, https (or http
 * when allow_http), a host, no whitespace, no control or non-ASCII bytes. *why (may be
 * NULL) tells the reason on false, a static string.
 */
bool mxb_upload_url_valid(const char *url, bool allow_http, const char **why);

/* A slot as the server sent it; strings may be NULL (absent). */
struct mxb_upload_slot_raw {
	const char *put;
	const char *get;
	struct {
		const char *name, *value;
	} headers[MXB_UPLOAD_HEADERS_SEEN_MAX];
	size_t nheaders;
	bool too_many_headers; /* the slot had more than MXB_UPLOAD_HEADERS_SEEN_MAX */
};

/* A slot fit to use, owned by the caller. */
struct mxb_upload_slot {
	char put[MXB_UPLOAD_URL_MAX + 1];
	char get[MXB_UPLOAD_URL_MAX + 1];
	/* "Name: value" lines as HTTP sends them, newlines stripped (XEP-0363 6). */
	char headers[MXB_UPLOAD_HEADERS_MAX][16 + MXB_UPLOAD_HEADER_MAX];
	size_t nheaders;
	size_t ignored; /* headers of names XEP-0363 does not allow, left out */
};

/*
 * Checks raw and copies it into out: both URLs valid, a header name at most once, values
 * within MXB_UPLOAD_HEADER_MAX without control characters other than the newlines that
 * are stripped. Headers of other names are left out and counted in out->ignored. Returns
 * 0, or -EINVAL with *why (a static string) saying what was wrong.
 */
int mxb_upload_slot_check(const struct mxb_upload_slot_raw *raw, bool allow_http,
	struct mxb_upload_slot *out, const char **why);

/*
 * A size in bytes as a disco#info form or a file-too-large error writes it: decimal
 * digits only (surrounding whitespace allowed), at most 2^53. Returns 0 or -EINVAL.
 */
int mxb_upload_parse_size(const char *s, uint64_t *out);

#endif
