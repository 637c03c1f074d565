#ifndef MXB_CONFIG_KEYS_H
#define MXB_CONFIG_KEYS_H

/*
 * Every key bridge.conf may hold, with its type, bounds and default: the one place a
 * default is written. The loader knows no key that is not here (others are errors), sets
 * the plain defaults from here, and a unit test holds docs/configuration.md to it.
 */

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* How a key is held in its section's struct, when this table sets and parses it. */
enum mxb_config_kind {
	MXB_KEY_NONE, /* the section's code holds it */
	MXB_KEY_INT, /* int */
	MXB_KEY_SIZE, /* size_t */
	MXB_KEY_BOOL, /* bool */
	MXB_KEY_ENUM, /* an enum, one of names */
	MXB_KEY_STRING, /* char *, the section's code parses it */
};

/* The words of an enum's values, in the order of the enum. */
struct mxb_config_names {
	const char *const *v;
	size_t len;
};

struct mxb_config_key {
	/* "" for the top level, else "bridge", "xmpp", "xmpp.rooms", "notify", ... */
	const char *section;
	const char *name;
	/* "string", "integer", "boolean", "group", "list of strings" or "list of groups" */
	const char *type;
	bool ranged; /* an integer between min and max */
	long long min, max;
	/* The default as a value ("1000", "info", "" for an empty string), or NULL ... */
	const char *value;
	/* ... and then the default in words: "required", "none", "the system store". */
	const char *def;
	enum mxb_config_kind kind;
	/*
	 * With kind: where it is in struct mxb_config (top-level sections), or in the
	 * struct of one entry (struct mxb_room, mxb_notify_route, mxb_command_route,
	 * mxb_device_rule). A value is set there before the file is read.
	 */
	size_t offset;
	const struct mxb_config_names *names; /* MXB_KEY_ENUM */
	/* The section's code parses it although the table could (more than type and range). */
	bool custom;
};

extern const struct mxb_config_key mxb_config_keys[];
extern const size_t mxb_config_keys_len;

extern const struct mxb_config_names mxb_config_log_levels, mxb_config_xmpp_tls,
	mxb_config_bad_text, mxb_config_message_types, mxb_config_binary, mxb_config_roles,
	mxb_config_affiliations, mxb_config_conventions, mxb_config_location_formats,
	mxb_config_pubsub_formats;

/* names->v[i], or "?" for a value out of range. */
const char *mxb_config_name(const struct mxb_config_names *names, int i);

/* The key, or NULL when the section has no such key. */
const struct mxb_config_key *mxb_config_key_find(const char *section, const char *name);
/* The default value of a key that has one (k->value), else NULL. */
const char *mxb_config_key_value(const char *section, const char *name);

/*
 * What the documentation says, as its tables write it, into buf (truncated to size):
 * the type ("integer 1..65535") and the default ("`1000`", "`\"info\"`", "required").
 * Return what snprintf returns.
 */
int mxb_config_key_type_text(const struct mxb_config_key *k, char *buf, size_t size);
int mxb_config_key_default_text(const struct mxb_config_key *k, char *buf, size_t size);

/*
 * Sets the defaults of the table's keys that have a value and a place: of the top-level
 * sections in cfg when section is NULL, else of one entry of that list section ("notify").
 * Returns 0 or -ENOMEM (strings are copied; the caller releases them with the config).
 */
int mxb_config_defaults(const char *section, void *obj);

#endif
