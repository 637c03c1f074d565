#ifndef MXB_ADHOC_FORM_H
#define MXB_ADHOC_FORM_H

/*
 * Ad-hoc commands (XEP-0050) as plain structs: the commands an entity offers, what a
 * requester asked, the answer with its data form (XEP-0004) and note. adhoc.c turns them
 * into stanzas and back; bridge_adhoc.c decides what they say. Pure: no I/O, no library
 * types.
 *
 * What a requester sends is bounded before it reaches a struct of this module: a node or
 * session id longer than MXB_ADHOC_NODE_MAX, more than MXB_ADHOC_VALUES_MAX fields, a var
 * longer than MXB_ADHOC_VAR_MAX or a value longer than MXB_ADHOC_VALUE_MAX is a bad
 * request, refused whole rather than cut.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MXB_ADHOC_NODE_MAX 64
#define MXB_ADHOC_VALUES_MAX 8
#define MXB_ADHOC_VAR_MAX 64
#define MXB_ADHOC_VALUE_MAX 256
/* Commands listed at most (the per-rule switches past it are not offered). */
#define MXB_ADHOC_COMMANDS_MAX 32
/* Rows of a table and options of a list, at most: an answer stays far below the 256 KiB
 * a server takes in one stanza. */
#define MXB_FORM_ROWS_MAX 200

/* The commands every entity of the bridge offers to people it allows. */
#define MXB_ADHOC_NODE_STATUS "status"
#define MXB_ADHOC_NODE_DEVICES "devices"
/* One per device rule with commands: "switch-N", N its place in the config from 1. */
#define MXB_ADHOC_NODE_SWITCH "switch-"

struct mxb_adhoc_item {
	char node[MXB_ADHOC_NODE_MAX + 1];
	char name[128];
};

struct mxb_adhoc_list {
	struct mxb_adhoc_item items[MXB_ADHOC_COMMANDS_MAX];
	size_t len;
};

/* Adds a command; false when the list is full (it is not added). */
bool mxb_adhoc_list_add(struct mxb_adhoc_list *l, const char *node, const char *name);
/* The command of node in l, or NULL. */
const struct mxb_adhoc_item *mxb_adhoc_list_find(const struct mxb_adhoc_list *l, const char *node);

enum mxb_adhoc_action {
	MXB_ADHOC_EXECUTE,
	MXB_ADHOC_NEXT,
	MXB_ADHOC_PREV,
	MXB_ADHOC_COMPLETE,
	MXB_ADHOC_CANCEL,
};

/* Parses an action attribute (NULL: execute). Returns -1 when it is none of XEP-0050's. */
int mxb_adhoc_action_parse(const char *s);

struct mxb_adhoc_value {
	char var[MXB_ADHOC_VAR_MAX + 1];
	char value[MXB_ADHOC_VALUE_MAX + 1]; /* the first <value/> of the field, "" when none */
};

/* What a requester asked; strings borrowed from the request stanza. */
struct mxb_adhoc_request {
	const char *from; /* full JID as the server stamped it */
	const char *node;
	const char *sessionid; /* NULL at the first stage */
	enum mxb_adhoc_action action;
	bool submitted; /* a form of type submit came with it */
	struct mxb_adhoc_value values[MXB_ADHOC_VALUES_MAX];
	size_t values_len;
};

/*
 * Adds a submitted value. Returns 0, -E2BIG when var or value is longer than its bound or
 * the request holds MXB_ADHOC_VALUES_MAX values already (a bad request).
 */
int mxb_adhoc_request_add(struct mxb_adhoc_request *r, const char *var, const char *value);
/* The submitted value of var, or NULL. */
const char *mxb_adhoc_request_value(const struct mxb_adhoc_request *r, const char *var);

enum mxb_form_type {
	MXB_FORM_NONE, /* the answer carries no form */
	MXB_FORM_FORM, /* to fill in */
	MXB_FORM_RESULT,
};

enum mxb_field_type {
	MXB_FIELD_TEXT_SINGLE,
	MXB_FIELD_LIST_SINGLE,
	MXB_FIELD_FIXED,
};

struct mxb_form_option {
	char *label;
	char *value;
};

struct mxb_form_field {
	enum mxb_field_type type;
	char *var; /* NULL for a fixed field */
	char *label;
	char *value; /* NULL: none */
	bool required;
	struct mxb_form_option *options;
	size_t options_len;
};

/*
 * A data form. Every string is owned by the form and must be XML-safe text before it is
 * sent (adhoc.c replaces what is not). A table is `reported` (its columns: var and label)
 * and `rows` of reported_len cells each.
 */
struct mxb_form {
	enum mxb_form_type type;
	char *title;
	char *instructions;
	struct mxb_form_field *fields;
	size_t fields_len, fields_cap;
	struct mxb_form_field *reported;
	size_t reported_len;
	char **cells; /* rows * reported_len strings */
	size_t rows, rows_cap;
	bool failed; /* an allocation failed: the form is incomplete */
};

void mxb_form_init(struct mxb_form *f, enum mxb_form_type type, const char *title);
void mxb_form_finish(struct mxb_form *f);
/* Adds a field (value may be NULL); returns it (owned by f) or NULL (f->failed set). */
struct mxb_form_field *mxb_form_add_field(struct mxb_form *f, enum mxb_field_type type,
	const char *var, const char *label, const char *value);
/* Adds an option to a list-single field. Returns 0, -E2BIG (MXB_FORM_ROWS_MAX) or -ENOMEM. */
int mxb_form_add_option(
	struct mxb_form *f, struct mxb_form_field *field, const char *value, const char *label);
/* Sets the table's columns, once, before the first row (vars and labels, ncols each). */
int mxb_form_set_columns(
	struct mxb_form *f, const char *const *vars, const char *const *labels, size_t ncols);
/* Adds a row of reported_len cells (NULL cells are ""). Returns 0, -E2BIG or -ENOMEM. */
int mxb_form_add_row(struct mxb_form *f, const char *const *cells);

enum mxb_adhoc_status {
	MXB_ADHOC_COMPLETED,
	MXB_ADHOC_EXECUTING,
	MXB_ADHOC_CANCELED,
};

enum mxb_adhoc_note {
	MXB_NOTE_NONE,
	MXB_NOTE_INFO,
	MXB_NOTE_WARN,
	MXB_NOTE_ERROR,
};

/* The answer to one stage. */
struct mxb_adhoc_response {
	enum mxb_adhoc_status status;
	enum mxb_adhoc_note note_type;
	char *note; /* owned; NULL without a note */
	struct mxb_form form;
};

void mxb_adhoc_response_init(struct mxb_adhoc_response *r);
void mxb_adhoc_response_finish(struct mxb_adhoc_response *r);
/* Sets the note (copied). Returns 0 or -ENOMEM. */
int mxb_adhoc_response_note(
	struct mxb_adhoc_response *r, enum mxb_adhoc_note type, const char *text);

/*
 * What a command's owner answers. Strings are borrowed for the call only. list fills out
 * with the commands from may run and returns 0, or -EPERM when from is a stranger.
 * execute runs one stage of req: it returns 0 with *resp filled (answered now),
 * 1 when the answer comes later (with token, through mxb_xmpp_adhoc_answer), -EPERM
 * (forbidden), -ENOENT (no such command for from), -EINVAL (a bad request) or -ENOMEM.
 */
struct mxb_adhoc_handlers {
	int (*list)(const char *from, struct mxb_adhoc_list *out, void *data);
	int (*execute)(const struct mxb_adhoc_request *req, uint32_t token,
		struct mxb_adhoc_response *resp, void *data);
};

/* Reads the N of a "switch-N" node (1..max); -1 when node is not one. */
int mxb_adhoc_switch_index(const char *node, size_t max);

#endif
