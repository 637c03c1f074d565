/*
 * Fuzzes the spool journal's records (spool_record.c) with two round-trip properties:
 *  - fields cut from the input encode to a record that decodes to the same bytes, and
 *    every shorter prefix of it reads as torn (so a crash mid-write loses only that one);
 *  - the input read as a journal, record after record as the loader does, never reads
 *    outside it, and each record it yields re-encodes to one that decodes the same (and,
 *    in the current format, to the very bytes read).
 */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "spool_record.h"

static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool fields_equal(const struct mxb_spool_record *a, const struct mxb_spool_record *b)
{
	if (a->kind != b->kind || !same(a->id, a->id_len, b->id, b->id_len))
		return false;
	return a->kind == MXB_SPOOL_DONE ||
	       (same(a->to, a->to_len, b->to, b->to_len) &&
		       same(a->type, a->type_len, b->type, b->type_len) &&
		       same(a->body, a->body_len, b->body, b->body_len));
}

static bool has_nul(const char *s, size_t len)
{
	return len > 0 && memchr(s, '\0', len) != NULL;
}

/* Decodes buf[0..len) from an exact-size copy, so that ASan sees any read past len. */
static int decode_exact(const char *buf, size_t len, struct mxb_spool_record *rec, size_t *size)
{
	char *copy = malloc(len ? len : 1);
	FUZZ_CHECK(copy);
	if (len)
		memcpy(copy, buf, len);
	int r = mxb_spool_record_decode(copy, len, rec, size);
	free(copy);
	return r;
}

/* Whether prefixes of the record buf[0..len) read as torn: a few, all when it is short. */
static void check_prefixes(const char *buf, size_t len)
{
	struct mxb_spool_record rec;
	size_t size;
	size_t step = len <= 64 ? 1 : len / 16;
	for (size_t cut = 0; cut < len; cut += step)
		FUZZ_CHECK(decode_exact(buf, cut, &rec, &size) == -EAGAIN);
	FUZZ_CHECK(decode_exact(buf, len - 1, &rec, &size) == -EAGAIN);
}

/*
 * Encodes rec and checks that the result decodes to the same fields; within the bounds
 * and without NUL it must encode. Returns the encoded record (to free) or NULL.
 */
static char *encode_checked(const struct mxb_spool_record *rec, size_t *out_len)
{
	bool over = rec->id_len > MXB_SPOOL_ID_MAX ||
		    (rec->kind == MXB_SPOOL_ADD &&
			    (rec->to_len > MXB_SPOOL_TO_MAX || rec->type_len > MXB_SPOOL_TYPE_MAX ||
				    rec->body_len > MXB_SPOOL_BODY_MAX));
	bool nul = has_nul(rec->id, rec->id_len) ||
		   (rec->kind == MXB_SPOOL_ADD &&
			   (has_nul(rec->to, rec->to_len) || has_nul(rec->type, rec->type_len) ||
				   has_nul(rec->body, rec->body_len)));
	size_t len = 0;
	int r = mxb_spool_record_encode(rec, NULL, 0, &len);
	if (over) {
		FUZZ_CHECK(r == -E2BIG);
		return NULL;
	}
	if (nul) {
		FUZZ_CHECK(r == -EINVAL);
		return NULL;
	}
	FUZZ_CHECK(r == -ENOBUFS && len > 0 && len <= MXB_SPOOL_RECORD_MAX);
	/* One byte more than needed, to see that the encoder writes exactly len. */
	char *buf = malloc(len + 1);
	FUZZ_CHECK(buf);
	buf[len] = 'X';
	size_t len2 = 0;
	FUZZ_CHECK(mxb_spool_record_encode(rec, buf, len, &len2) == 0 && len2 == len);
	FUZZ_CHECK(buf[len] == 'X');

	char head[MXB_SPOOL_HEAD_MAX];
	size_t hlen, total;
	FUZZ_CHECK(mxb_spool_record_head(rec, head, &hlen, &total) == 0 && total == len);
	FUZZ_CHECK(hlen < len && memcmp(head, buf, hlen) == 0);

	struct mxb_spool_record got;
	size_t size = 0;
	FUZZ_CHECK(decode_exact(buf, len, &got, &size) == 0);
	/* decode_exact freed its copy: decode again in place to compare the fields. */
	FUZZ_CHECK(mxb_spool_record_decode(buf, len, &got, &size) == 0);
	FUZZ_CHECK(size == len && !got.legacy && fields_equal(rec, &got));
	check_prefixes(buf, len);
	*out_len = len;
	return buf;
}

static size_t take16(const uint8_t **p, const uint8_t *end)
{
	size_t v = 0;
	for (int i = 0; i < 2 && *p < end; i++, (*p)++)
		v = v << 8 | **p;
	return v;
}

/* Property (a): fields cut from the input, lengths from its first bytes. */
static void fields_round_trip(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct mxb_spool_record rec = {0};
	rec.kind = p < end && (*p++ & 1) ? MXB_SPOOL_DONE : MXB_SPOOL_ADD;
	size_t lens[3] = {
		take16(&p, end) % (MXB_SPOOL_ID_MAX + 2),
		take16(&p, end) % (MXB_SPOOL_TO_MAX + 2),
		take16(&p, end) % (MXB_SPOOL_TYPE_MAX + 2),
	};
	const char *fields[3];
	for (int i = 0; i < 3; i++) {
		size_t left = (size_t)(end - p);
		if (lens[i] > left)
			lens[i] = left;
		fields[i] = (const char *)p;
		p += lens[i];
	}
	rec.id = fields[0];
	rec.id_len = lens[0];
	if (rec.kind == MXB_SPOOL_ADD) {
		rec.to = fields[1];
		rec.to_len = lens[1];
		rec.type = fields[2];
		rec.type_len = lens[2];
		rec.body = (const char *)p;
		rec.body_len = (size_t)(end - p);
	}
	size_t len;
	free(encode_checked(&rec, &len));
}

/* Property (b): the input as a journal. */
static void journal_round_trip(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0;
	while (off <= size) {
		struct mxb_spool_record rec;
		size_t n = 0;
		int r = mxb_spool_record_decode(buf + off, size - off, &rec, &n);
		if (r == -EAGAIN) {
			/* Torn: what it asks for is more than there is, and within the bounds. */
			FUZZ_CHECK(n == 0 || (n > size - off && n <= MXB_SPOOL_RECORD_MAX));
			return;
		}
		if (r != 0) {
			FUZZ_CHECK(r == -EBADMSG || r == -E2BIG);
			return;
		}
		FUZZ_CHECK(n > 0 && n <= size - off);
		FUZZ_CHECK(rec.kind == MXB_SPOOL_ADD || rec.kind == MXB_SPOOL_DONE);
		/* The fields lie inside the record. */
		const char *lo = buf + off, *hi = buf + off + n;
		FUZZ_CHECK(rec.id_len == 0 || (rec.id >= lo && rec.id + rec.id_len <= hi));
		if (rec.kind == MXB_SPOOL_ADD) {
			FUZZ_CHECK(rec.to_len == 0 || (rec.to >= lo && rec.to + rec.to_len <= hi));
			FUZZ_CHECK(rec.type_len == 0 ||
				   (rec.type >= lo && rec.type + rec.type_len <= hi));
			FUZZ_CHECK(rec.body_len == 0 ||
				   (rec.body >= lo && rec.body + rec.body_len <= hi));
		}
		size_t len = 0;
		char *again = encode_checked(&rec, &len);
		/* Whatever decodes is within the bounds and NUL-free, so it encodes. */
		FUZZ_CHECK(again);
		if (!rec.legacy)
			FUZZ_CHECK(len == n && memcmp(again, buf + off, n) == 0);
		free(again);
		/* The same record, alone in an exact-size buffer, decodes the same. */
		struct mxb_spool_record alone;
		size_t n2 = 0;
		FUZZ_CHECK(decode_exact(buf + off, n, &alone, &n2) == 0 && n2 == n);
		check_prefixes(buf + off, n);
		off += n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fields_round_trip(data, size);
	journal_round_trip(data, size);
	return 0;
}
