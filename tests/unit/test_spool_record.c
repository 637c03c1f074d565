#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "spool_record.h"

static struct mxb_spool_record add(
	const char *id, const char *to, const char *type, const char *body)
{
	return (struct mxb_spool_record){
		.kind = MXB_SPOOL_ADD,
		.id = id,
		.id_len = strlen(id),
		.to = to,
		.to_len = strlen(to),
		.type = type,
		.type_len = strlen(type),
		.body = body,
		.body_len = strlen(body),
	};
}

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

/*
 * Encodes rec, checks that it decodes to the same fields from exactly its bytes, and that
 * every shorter prefix reads as a torn record. Returns whether all held.
 */
static bool round_trip(const struct mxb_spool_record *rec)
{
	size_t len = 0;
	if (mxb_spool_record_encode(rec, NULL, 0, &len) != -ENOBUFS || len == 0)
		return false;
	char *buf = malloc(len);
	bool ok = buf && mxb_spool_record_encode(rec, buf, len, &len) == 0;
	struct mxb_spool_record got;
	size_t size = 0;
	ok = ok && mxb_spool_record_decode(buf, len, &got, &size) == 0 && size == len &&
	     !got.legacy && fields_equal(rec, &got);
	for (size_t cut = 0; ok && cut < len; cut += 1 + cut / 64)
		ok = mxb_spool_record_decode(buf, cut, &got, &size) == -EAGAIN;
	free(buf);
	return ok;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memset(s, c, n);
		s[n] = '\0';
	}
	return s;
}

static void test_round_trips(void)
{
	struct mxb_spool_record recs[] = {
		add("mxb-00112233-1", "alice@localhost/my phone", "chat", "one"),
		add("id with spaces", "alice@localhost/ t\"a'b <c> ", "chat", "two\nlines\n"),
		add("m", "alice@localhost/caf\xc3\xa9 \xe2\x98\x95", "headline",
			"\xf0\x9f\x90\xa7 \xe2\x82\xac"),
		add("m", "room@muc.localhost", "groupchat", ""),
		add("", "", "", ""),
		/* Bodies that look like records of either format. */
		add("x", "bob@localhost", "chat", "A\tm1\tchat\tbob@localhost\t3\nabc\n"),
		add("x", "bob@localhost", "chat", "\nD 1\nx\nA 1 1 1 1\nabcd\n\t\\t"),
		{.kind = MXB_SPOOL_DONE, .id = "mxb-00112233-1", .id_len = 14},
		{.kind = MXB_SPOOL_DONE, .id = "a b\tc\nd", .id_len = 7},
		{.kind = MXB_SPOOL_DONE, .id = "", .id_len = 0},
	};
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		bool ok = round_trip(&recs[i]);
		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  round trip of record %zu\n", i);
	}

	/* Every field at its bound. */
	char *id = repeat('i', MXB_SPOOL_ID_MAX);
	char *to = repeat('t', MXB_SPOOL_TO_MAX);
	char *type = repeat('y', MXB_SPOOL_TYPE_MAX);
	char *body = repeat('b', MXB_SPOOL_BODY_MAX);
	CHECK(id && to && type && body);
	memcpy(to, "alice@localhost/", 16);
	to[100] = ' ';
	struct mxb_spool_record big = add(id, to, type, body);
	CHECK(round_trip(&big));
	CHECK(MXB_SPOOL_TO_MAX == 3071);
	free(id);
	free(to);
	free(type);
	free(body);
}

static void test_exact_bytes(void)
{
	struct mxb_spool_record rec = add("m1", "a@b/my phone", "chat", "hi\n");
	char buf[128];
	size_t len;
	CHECK(mxb_spool_record_encode(&rec, buf, sizeof(buf), &len) == 0);
	const char want[] = "A 2 12 4 3\nm1a@b/my phonechathi\n\n";
	CHECK(len == sizeof(want) - 1 && memcmp(buf, want, len) == 0);
	struct mxb_spool_record done = {.kind = MXB_SPOOL_DONE, .id = "m1", .id_len = 2};
	CHECK(mxb_spool_record_encode(&done, buf, sizeof(buf), &len) == 0);
	CHECK(len == 7 && memcmp(buf, "D 2\nm1\n", 7) == 0);
	/* One byte short is refused, and says how much is needed. */
	CHECK(mxb_spool_record_encode(&done, buf, 6, &len) == -ENOBUFS && len == 7);
}

static void test_encode_refuses(void)
{
	char *to = repeat('t', MXB_SPOOL_TO_MAX + 1);
	char *id = repeat('i', MXB_SPOOL_ID_MAX + 1);
	CHECK(to && id);
	char head[MXB_SPOOL_HEAD_MAX];
	size_t hlen;
	struct mxb_spool_record rec = add("m", to, "chat", "");
	CHECK(mxb_spool_record_head(&rec, head, &hlen, NULL) == -E2BIG);
	rec = add(id, "a@b", "chat", "");
	CHECK(mxb_spool_record_head(&rec, head, &hlen, NULL) == -E2BIG);
	rec = (struct mxb_spool_record){.kind = MXB_SPOOL_DONE, .id = id, .id_len = strlen(id)};
	CHECK(mxb_spool_record_head(&rec, head, &hlen, NULL) == -E2BIG);
	rec = add("m", "a@b", "chat", "");
	rec.body_len = (size_t)MXB_SPOOL_BODY_MAX + 1; /* refused before it is read */
	CHECK(mxb_spool_record_head(&rec, head, &hlen, NULL) == -E2BIG);
	rec = add("m", "a@b", "chat", "x");
	rec.body = "x\0y";
	rec.body_len = 3;
	CHECK(mxb_spool_record_head(&rec, head, &hlen, NULL) == -EINVAL);
	free(to);
	free(id);
}

/* The input of the last decode, which its record points into. */
static char *input;

static int decode(const char *s, size_t len, struct mxb_spool_record *rec, size_t *size)
{
	/* An exact-size copy, so that a read past the end shows under ASan. */
	free(input);
	input = malloc(len ? len : 1);
	if (!input)
		return -ENOMEM;
	memcpy(input, s, len);
	return mxb_spool_record_decode(input, len, rec, size);
}

#define DECODE(lit, rec, size) decode(lit, sizeof(lit) - 1, rec, size)

static void test_decode_refuses(void)
{
	struct mxb_spool_record rec;
	size_t size;
	/* Over a bound: refused from the header alone, whatever follows. */
	CHECK(DECODE("A 1024 0 0 0\n", &rec, &size) == -E2BIG);
	CHECK(DECODE("A 0 3072 0 0\n", &rec, &size) == -E2BIG);
	CHECK(DECODE("A 0 0 64 0\n", &rec, &size) == -E2BIG);
	CHECK(DECODE("A 0 0 0 16777217\n", &rec, &size) == -E2BIG);
	CHECK(DECODE("A 0 0 0 99999999999999999999999999", &rec, &size) == -E2BIG);
	CHECK(DECODE("D 1024\n", &rec, &size) == -E2BIG);
	/* At the bound, the header asks for the whole record. */
	CHECK(DECODE("A 0 0 0 16777216\n", &rec, &size) == -EAGAIN && size == 16777234);
	/* Not the encoder's form. */
	CHECK(DECODE("A 01 0 0 0\nx\n", &rec, &size) == -EBADMSG);
	CHECK(DECODE("A 1  0 0 0\nx\n", &rec, &size) == -EBADMSG);
	CHECK(DECODE("A +1 0 0 0\nx\n", &rec, &size) == -EBADMSG);
	CHECK(DECODE("A 1 0 0\nx\n", &rec, &size) == -EBADMSG);
	CHECK(DECODE("D 1 \nx\n", &rec, &size) == -EBADMSG);
	CHECK(DECODE("X 1\nx\n", &rec, &size) == -EBADMSG);
	CHECK(DECODE("AA", &rec, &size) == -EBADMSG);
	/* The lengths do not end at the newline: a corrupt record, not a torn one. */
	CHECK(DECODE("A 1 0 0 0\nxy\n", &rec, &size) == -EBADMSG);
	CHECK(DECODE("D 1\nxy", &rec, &size) == -EBADMSG);
	/* A NUL cannot be in a C string. */
	CHECK(DECODE("A 1 0 0 1\nx\0\n", &rec, &size) == -EBADMSG);
	CHECK(DECODE("A\tx\tchat\ta@b\t1\n\0\n", &rec, &size) == -EBADMSG);
}

static void test_torn(void)
{
	struct mxb_spool_record rec;
	size_t size = 99;
	CHECK(decode("", 0, &rec, &size) == -EAGAIN && size == 0);
	CHECK(DECODE("A", &rec, &size) == -EAGAIN && size == 0);
	CHECK(DECODE("A 2 3", &rec, &size) == -EAGAIN && size == 0);
	CHECK(DECODE("A 2 3 4 5\nm1", &rec, &size) == -EAGAIN && size == 25);
	CHECK(DECODE("A 2 3 4 5\nm1a@bchat12345", &rec, &size) == -EAGAIN && size == 25);
	CHECK(DECODE("D 2\nm1", &rec, &size) == -EAGAIN && size == 7);
	CHECK(DECODE("A\tm1\tchat\ta@b/my phone", &rec, &size) == -EAGAIN && size == 0);
	CHECK(DECODE("A\tm1\tchat\ta@b\t10\nonly", &rec, &size) == -EAGAIN && size == 28);
	/* Decoding goes only as far as the record: what follows is the next one. */
	CHECK(DECODE("D 2\nm1\nA 9", &rec, &size) == 0 && size == 7);
}

static void test_legacy(void)
{
	struct mxb_spool_record rec;
	size_t size;
	/* The old reader split this JID at its space and lost the message. */
	const char a[] = "A\tmxb-1\tchat\talice@localhost/my phone\t6\nline\n2\nD 1";
	CHECK(DECODE(a, &rec, &size) == 0);
	CHECK(rec.legacy && rec.kind == MXB_SPOOL_ADD && size == sizeof(a) - 1 - 3);
	CHECK(same(rec.id, rec.id_len, "mxb-1", 5));
	CHECK(same(rec.type, rec.type_len, "chat", 4));
	CHECK(same(rec.to, rec.to_len, "alice@localhost/my phone", 24));
	CHECK(same(rec.body, rec.body_len, "line\n2", 6));
	CHECK(round_trip(&rec));
	CHECK(DECODE("D\tmxb-1\n", &rec, &size) == 0);
	CHECK(rec.legacy && rec.kind == MXB_SPOOL_DONE && size == 8);
	CHECK(same(rec.id, rec.id_len, "mxb-1", 5));
	CHECK(DECODE("A\tm\tchat\ta@b\t0\n\n", &rec, &size) == 0 && rec.body_len == 0);
	/* What the old format cannot say is refused, not guessed. */
	CHECK(DECODE("A\tm\tchat\ta@b\tc\t0\n\n", &rec, &size) == -EBADMSG);
	CHECK(DECODE("A\tm\tchat\ta@b\n\n", &rec, &size) == -EBADMSG);
	CHECK(DECODE("A\tm\tchat\ta@b\t1\nxy", &rec, &size) == -EBADMSG);
	CHECK(DECODE("A\tm\tchat\ta@b\t16777217\n", &rec, &size) == -E2BIG);
	/* The old writer refused header lines of 4096 bytes and more. */
	char *line = repeat('x', MXB_SPOOL_LEGACY_HEAD_MAX);
	CHECK(line != NULL);
	memcpy(line, "A\tm\tchat\t", 9);
	CHECK(decode(line, MXB_SPOOL_LEGACY_HEAD_MAX, &rec, &size) == -EBADMSG);
	CHECK(decode(line, MXB_SPOOL_LEGACY_HEAD_MAX - 1, &rec, &size) == -EAGAIN);
	free(line);
}

int main(void)
{
	test_round_trips();
	test_exact_bytes();
	test_encode_refuses();
	test_decode_refuses();
	test_torn();
	test_legacy();
	free(input);
	return check_report("spool_record");
}
