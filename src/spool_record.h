#ifndef MXB_SPOOL_RECORD_H
#define MXB_SPOOL_RECORD_H

/*
 * The records of the spool journal, encoded and decoded. Pure: no I/O, no logging.
 *
 * A record carries its fields as raw bytes behind explicit lengths, so that any value
 * within the bounds below comes back byte for byte, whitespace, quotes, newlines and
 * non-ASCII UTF-8 included:
 *
 *   A <idlen> <tolen> <typelen> <bodylen>\n<id><to><type><body>\n
 *   D <idlen>\n<id>\n
 *
 * Lengths are decimal without leading zeros, separated by one space. The final newline
 * is not part of a field: it shows that the lengths matched. No field holds a NUL (they
 * are C strings to the bridge).
 *
 * The previous format is still decoded, so that a journal written by an older bridge is
 * replayed after an upgrade:
 *
 *   A\t<id>\t<type>\t<to>\t<bodylen>\n<body>\n
 *   D\t<id>\n
 *
 * There id, type and to hold neither tab nor newline (the bridge never wrote any: its ids
 * are its own, JIDs have no control characters) and the header line was at most
 * MXB_SPOOL_LEGACY_HEAD_MAX bytes.
 */

#include <stdbool.h>
#include <stddef.h>

#include "jid.h"

/* The bounds of the fields; a length over one is refused before anything is allocated. */
#define MXB_SPOOL_ID_MAX 1023
#define MXB_SPOOL_TYPE_MAX 63
#define MXB_SPOOL_TO_MAX MXB_JID_MAX
#define MXB_SPOOL_BODY_MAX (16 * 1024 * 1024)

/* Room for the longest header of the current format: "A " and four numbers. */
#define MXB_SPOOL_HEAD_MAX 48
/* The previous writer refused longer header lines. */
#define MXB_SPOOL_LEGACY_HEAD_MAX 4096
/* The longest record of either format. */
#define MXB_SPOOL_RECORD_MAX                                                                    \
	(MXB_SPOOL_LEGACY_HEAD_MAX + MXB_SPOOL_ID_MAX + MXB_SPOOL_TO_MAX + MXB_SPOOL_TYPE_MAX + \
		MXB_SPOOL_BODY_MAX + 1)

enum mxb_spool_kind {
	MXB_SPOOL_ADD, /* the bridge holds a message */
	MXB_SPOOL_DONE, /* it is done with the message id: only id is set */
};

/*
 * One record. The fields are not NUL-terminated: each has its length. Decoded, they point
 * into the input, valid as long as it is.
 */
struct mxb_spool_record {
	enum mxb_spool_kind kind;
	bool legacy; /* decoded from the previous format */
	const char *id, *to, *type, *body;
	size_t id_len, to_len, type_len, body_len;
};

/*
 * Writes the header of rec (at most MXB_SPOOL_HEAD_MAX bytes, not NUL-terminated) to head;
 * *head_len receives its length and *total (may be NULL) that of the whole record. The
 * record is the header, then id, to, type and body (only id for DONE), then a newline.
 * Returns 0, -E2BIG when a field is over its bound (or NULL with a length), else -EINVAL
 * when one holds a NUL or the kind is unknown.
 */
int mxb_spool_record_head(
	const struct mxb_spool_record *rec, char *head, size_t *head_len, size_t *total);

/*
 * Encodes rec, whole, into buf (cap bytes). *len receives the record's length, also when
 * buf is too small. Returns 0, -ENOBUFS when cap is too small, or as
 * mxb_spool_record_head.
 */
int mxb_spool_record_encode(const struct mxb_spool_record *rec, char *buf, size_t cap, size_t *len);

/*
 * Decodes the record at the start of buf[0..len), of either format. Returns
 *  - 0: *rec is the record (pointing into buf), *size its length in buf;
 *  - -EAGAIN: buf holds the beginning of a record but not all of it (an empty buf too),
 *    as the end of a journal torn by a crash does. *size is the length of the whole
 *    record once its header is complete (within MXB_SPOOL_RECORD_MAX), else 0;
 *  - -E2BIG: a length is over its bound;
 *  - -EBADMSG: buf does not start with a record.
 * Reads nothing outside buf[0..len).
 */
int mxb_spool_record_decode(
	const char *buf, size_t len, struct mxb_spool_record *rec, size_t *size);

#endif
