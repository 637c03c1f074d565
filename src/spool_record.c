#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "spool_record.h"

static bool has_nul(const char *s, size_t len)
{
	return len > 0 && memchr(s, '\0', len) != NULL;
}

/* Whether a field is within its bound; a NULL field must be empty. */
static bool fits(const char *s, size_t len, size_t max)
{
	return len <= max && (s || len == 0);
}

int mxb_spool_record_head(
	const struct mxb_spool_record *rec, char *head, size_t *head_len, size_t *total)
{
	bool add = rec->kind == MXB_SPOOL_ADD;
	if (!add && rec->kind != MXB_SPOOL_DONE)
		return -EINVAL;
	/* Every bound before any NUL, so that the answer does not depend on the order. */
	if (!fits(rec->id, rec->id_len, MXB_SPOOL_ID_MAX) ||
		(add && (!fits(rec->to, rec->to_len, MXB_SPOOL_TO_MAX) ||
				!fits(rec->type, rec->type_len, MXB_SPOOL_TYPE_MAX) ||
				!fits(rec->body, rec->body_len, MXB_SPOOL_BODY_MAX))))
		return -E2BIG;
	if (has_nul(rec->id, rec->id_len) ||
		(add && (has_nul(rec->to, rec->to_len) || has_nul(rec->type, rec->type_len) ||
				has_nul(rec->body, rec->body_len))))
		return -EINVAL;
	int n;
	size_t fields;
	if (add) {
		n = snprintf(head, MXB_SPOOL_HEAD_MAX, "A %zu %zu %zu %zu\n", rec->id_len,
			rec->to_len, rec->type_len, rec->body_len);
		fields = rec->id_len + rec->to_len + rec->type_len + rec->body_len;
	} else {
		n = snprintf(head, MXB_SPOOL_HEAD_MAX, "D %zu\n", rec->id_len);
		fields = rec->id_len;
	}
	/* The bounds keep every header short; this only guards the arithmetic. */
	if (n < 0 || n >= MXB_SPOOL_HEAD_MAX)
		return -E2BIG;
	*head_len = (size_t)n;
	if (total)
		*total = (size_t)n + fields + 1;
	return 0;
}

static void put(char **p, const char *s, size_t len)
{
	if (len > 0)
		memcpy(*p, s, len);
	*p += len;
}

int mxb_spool_record_encode(const struct mxb_spool_record *rec, char *buf, size_t cap, size_t *len)
{
	char head[MXB_SPOOL_HEAD_MAX];
	size_t hlen, total;
	int r = mxb_spool_record_head(rec, head, &hlen, &total);
	if (r < 0)
		return r;
	*len = total;
	if (cap < total)
		return -ENOBUFS;
	char *p = buf;
	put(&p, head, hlen);
	put(&p, rec->id, rec->id_len);
	if (rec->kind == MXB_SPOOL_ADD) {
		put(&p, rec->to, rec->to_len);
		put(&p, rec->type, rec->type_len);
		put(&p, rec->body, rec->body_len);
	}
	*p = '\n';
	return 0;
}

/*
 * Reads a decimal number at buf[*pos..len), ended by term, at most max. Only the form the
 * encoder writes passes (no sign, no leading zero), so that a record re-encodes to the
 * same bytes. Returns 0 (*pos after term), -EAGAIN at the end of buf, -E2BIG, -EBADMSG.
 */
static int number(const char *buf, size_t len, size_t *pos, char term, size_t max, size_t *out)
{
	size_t i = *pos, v = 0, digits = 0;
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (digits == 1 && v == 0)
			return -EBADMSG;
		v = 10 * v + (size_t)(buf[i] - '0');
		digits++;
		/* Checked at every digit: no overflow, and no waiting for more of a huge one. */
		if (v > max)
			return -E2BIG;
	}
	if (i == len)
		return -EAGAIN;
	if (digits == 0 || buf[i] != term)
		return -EBADMSG;
	*pos = i + 1;
	*out = v;
	return 0;
}

/* The current format, after its kind letter and space. */
static int decode_current(const char *buf, size_t len, struct mxb_spool_record *rec, size_t *size)
{
	size_t pos = 2;
	int r;
	if (rec->kind == MXB_SPOOL_DONE) {
		r = number(buf, len, &pos, '\n', MXB_SPOOL_ID_MAX, &rec->id_len);
	} else if ((r = number(buf, len, &pos, ' ', MXB_SPOOL_ID_MAX, &rec->id_len)) == 0 &&
		   (r = number(buf, len, &pos, ' ', MXB_SPOOL_TO_MAX, &rec->to_len)) == 0 &&
		   (r = number(buf, len, &pos, ' ', MXB_SPOOL_TYPE_MAX, &rec->type_len)) == 0) {
		r = number(buf, len, &pos, '\n', MXB_SPOOL_BODY_MAX, &rec->body_len);
	}
	if (r < 0)
		return r;
	size_t total = pos + rec->id_len + rec->to_len + rec->type_len + rec->body_len + 1;
	*size = total;
	if (len < total)
		return -EAGAIN;
	if (buf[total - 1] != '\n')
		return -EBADMSG;
	const char *p = buf + pos;
	rec->id = p;
	p += rec->id_len;
	rec->to = p;
	p += rec->to_len;
	rec->type = p;
	p += rec->type_len;
	rec->body = p;
	if (has_nul(buf + pos, total - 1 - pos))
		return -EBADMSG;
	return 0;
}

/* Splits the next field of a header line of the previous format, up to a tab or its end. */
static const char *field(const char **p, const char *end, size_t *flen)
{
	const char *s = *p;
	const char *tab = memchr(s, '\t', (size_t)(end - s));
	const char *e = tab ? tab : end;
	*flen = (size_t)(e - s);
	*p = tab ? tab + 1 : NULL;
	return s;
}

/* The previous format, after its kind letter and tab. */
static int decode_legacy(const char *buf, size_t len, struct mxb_spool_record *rec, size_t *size)
{
	size_t scan = len < MXB_SPOOL_LEGACY_HEAD_MAX ? len : MXB_SPOOL_LEGACY_HEAD_MAX;
	const char *nl = memchr(buf, '\n', scan);
	if (!nl)
		return len < MXB_SPOOL_LEGACY_HEAD_MAX ? -EAGAIN : -EBADMSG;
	size_t hlen = (size_t)(nl - buf) + 1;
	if (has_nul(buf, hlen))
		return -EBADMSG;
	rec->legacy = true;
	const char *p = buf + 2, *end = nl;
	if (rec->kind == MXB_SPOOL_DONE) {
		/* The whole rest of the line: the old reader took it up to a blank. */
		rec->id = p;
		rec->id_len = (size_t)(end - p);
		*size = hlen;
		return rec->id_len > MXB_SPOOL_ID_MAX ? -E2BIG : 0;
	}
	rec->id = field(&p, end, &rec->id_len);
	if (!p)
		return -EBADMSG;
	rec->type = field(&p, end, &rec->type_len);
	if (!p)
		return -EBADMSG;
	rec->to = field(&p, end, &rec->to_len);
	if (!p || memchr(p, '\t', (size_t)(end - p)))
		return -EBADMSG;
	if (rec->id_len > MXB_SPOOL_ID_MAX || rec->type_len > MXB_SPOOL_TYPE_MAX ||
		rec->to_len > MXB_SPOOL_TO_MAX)
		return -E2BIG;
	size_t pos = (size_t)(p - buf);
	int r = number(buf, hlen, &pos, '\n', MXB_SPOOL_BODY_MAX, &rec->body_len);
	if (r < 0)
		return r == -EAGAIN ? -EBADMSG : r;
	size_t total = hlen + rec->body_len + 1;
	*size = total;
	if (len < total)
		return -EAGAIN;
	rec->body = buf + hlen;
	if (buf[total - 1] != '\n' || has_nul(rec->body, rec->body_len))
		return -EBADMSG;
	return 0;
}

int mxb_spool_record_decode(const char *buf, size_t len, struct mxb_spool_record *rec, size_t *size)
{
	*rec = (struct mxb_spool_record){0};
	*size = 0;
	if (len == 0)
		return -EAGAIN;
	if (buf[0] == 'A')
		rec->kind = MXB_SPOOL_ADD;
	else if (buf[0] == 'D')
		rec->kind = MXB_SPOOL_DONE;
	else
		return -EBADMSG;
	if (len == 1)
		return -EAGAIN;
	if (buf[1] == ' ')
		return decode_current(buf, len, rec, size);
	if (buf[1] == '\t')
		return decode_legacy(buf, len, rec, size);
	return -EBADMSG;
}
