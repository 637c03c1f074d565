#ifndef MXB_SPOOL_H
#define MXB_SPOOL_H

/*
 * A journal of the messages the bridge holds for XMPP, so that not even a SIGKILL loses
 * what the broker already counts as delivered. Records are appended as messages come and
 * go; written at once (the kernel keeps them when the process dies), synced to disk in
 * batches (for power loss); rewritten with only the live messages at start and when the
 * file has grown.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mxb_spool;

/* Returns whether the message is kept (stays in the journal). */
typedef bool (*mxb_spool_replay_fn)(
	const char *id, const char *to, const char *type, const char *body, void *data);

/*
 * Opens (creating) DIR/spool.journal and calls replay for every message it holds, oldest
 * first. Returns 0 or a negative errno (logged).
 */
int mxb_spool_open(struct mxb_spool **out, const char *dir, mxb_spool_replay_fn replay, void *data);
void mxb_spool_close(struct mxb_spool *s);

/* Journals a message the bridge now holds. Returns 0 or a negative errno (logged once). */
int mxb_spool_add(
	struct mxb_spool *s, const char *id, const char *to, const char *type, const char *body);
/* Journals that the message id is done with: acknowledged, or dropped. */
int mxb_spool_done(struct mxb_spool *s, const char *id);

/* Syncs to disk what was written since the last sync. */
void mxb_spool_sync(struct mxb_spool *s);
/* Whether records were written since the last sync. */
bool mxb_spool_dirty(const struct mxb_spool *s);
/* Whether the journal grew enough to be worth a rewrite. */
bool mxb_spool_wants_rewrite(const struct mxb_spool *s);
/* Starts a rewrite: then mxb_spool_add each live message, oldest first, then commit. */
int mxb_spool_rewrite_begin(struct mxb_spool *s);
int mxb_spool_rewrite_commit(struct mxb_spool *s);

#endif
