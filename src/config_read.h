#ifndef MXB_CONFIG_READ_H
#define MXB_CONFIG_READ_H

/*
 * The libconfig edge of the config module: reads bridge.conf and what it @includes into a
 * plain tree of settings, each with the file and line it was written at, and reports every
 * error as "file:line: message" (config_error.c collects them). config_read.c is the only
 * file that includes <libconfig.h>; the schema works on this view alone.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "log.h"

enum mxb_conf_type {
	MXB_CONF_GROUP,
	MXB_CONF_LIST, /* ( ... ): may hold anything */
	MXB_CONF_ARRAY, /* [ ... ]: scalars of one type */
	MXB_CONF_STRING,
	MXB_CONF_INT,
	MXB_CONF_INT64, /* written with the L suffix */
	MXB_CONF_FLOAT,
	MXB_CONF_BOOL,
};

/* One setting. Everything in it belongs to the tree and lives until mxb_conf_tree_finish. */
struct mxb_conf_node {
	const char *name; /* NULL for the root and the elements of lists and arrays */
	enum mxb_conf_type type;
	const char *str; /* MXB_CONF_STRING */
	long long integer; /* MXB_CONF_INT, MXB_CONF_INT64; MXB_CONF_BOOL as 0 or 1 */
	/*
	 * An integer literal beyond 32 bits written without L: libconfig 1.5 keeps it wrapped
	 * around (port = 4294968179 reads as 883), so integer is not what the file says.
	 */
	bool wrapped;
	const char *file; /* as the user can open it: the main file's path as given, or */
	unsigned line; /*    the included file joined to the main file's directory */
	struct mxb_conf_node *children; /* groups, lists and arrays, in file order */
	size_t len;
};

struct mxb_conf_tree {
	struct mxb_conf_node root;
	/* The display names the nodes point to, one per file, and libconfig's names of them. */
	char **files;
	const char **sources;
	size_t files_len;
};

/* Where errors go while one file is loaded. */
struct mxb_conf_ctx {
	const char *path; /* the main file as given */
	char *dir; /* its directory, for @include and relative file names */
	size_t prefix_len; /* bytes of path up to and including its last '/' */
	struct mxb_strlist *errors; /* NULL: only counted */
	size_t error_count;
	bool oom;
	/* Where each room, route and rule was written, by index: for errors across groups. */
	const struct mxb_conf_node **rooms_at, **notify_at, **commands_at, **devices_at;
	const struct mxb_conf_node *location_at; /* the location group, NULL: none */
	const struct mxb_conf_node **pubsub_at, **subscribe_at;
	const struct mxb_conf_node *share_at; /* mqtt.share_group, NULL: none */
};

/*
 * Sets up c for path (the caller owns errors). Returns 0 or -ENOMEM; release with
 * mxb_conf_ctx_finish either way.
 */
int mxb_conf_ctx_init(struct mxb_conf_ctx *c, const char *path, struct mxb_strlist *errors);
void mxb_conf_ctx_finish(struct mxb_conf_ctx *c);

/*
 * Reads c->path into tree (zeroed by the caller). Opens only regular files without
 * blocking, resolves @include against the main file's directory, refuses an @include of a
 * directory or of a file that includes itself before libconfig sees it (libconfig 1.5
 * exits, or parses forever). Returns 0, -EINVAL with the errors reported to c, or -ENOMEM.
 * Release tree with mxb_conf_tree_finish in every case.
 */
int mxb_conf_read(struct mxb_conf_ctx *c, struct mxb_conf_tree *tree);
void mxb_conf_tree_finish(struct mxb_conf_tree *tree);

/* Reports "file:line: message" (line 0 counts as 1). file is a node's file or c->path. */
void mxb_conf_error(struct mxb_conf_ctx *c, const char *file, unsigned line, const char *fmt, ...)
	MXB_PRINTF(4, 5);
/* Reports the message at the node's file and line. */
void mxb_conf_error_at(struct mxb_conf_ctx *c, const struct mxb_conf_node *n, const char *fmt, ...)
	MXB_PRINTF(3, 4);

/* An error that names no line: the main file cannot be opened at all. */
void mxb_conf_error_plain(struct mxb_conf_ctx *c, const char *fmt, ...) MXB_PRINTF(2, 3);
/* An error whose message could not be made: counted, and the load fails with -ENOMEM. */
void mxb_conf_error_oom(struct mxb_conf_ctx *c);

/* A formatted string the caller frees, or NULL when out of memory. */
char *mxb_conf_format(const char *fmt, ...) MXB_PRINTF(1, 2);
char *mxb_conf_vformat(const char *fmt, va_list ap) MXB_PRINTF(1, 0);

#endif
