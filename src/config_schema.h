#ifndef MXB_CONFIG_SCHEMA_H
#define MXB_CONFIG_SCHEMA_H

/*
 * What the section modules of the config loader share: typed reads of the settings that
 * config_read.c hands over, each failure reported at the setting's file:line with the
 * message the tests assert, and the walk that finds unknown keys. No libconfig here.
 *
 * The reads return whether the value was taken; on failure *out keeps what it held (a
 * default) and the error is reported. An allocation failure sets c->oom.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "config_keys.h"
#include "config_read.h"

struct mxb_template;

/* Bounds on what the file may hold; the protocol limits where there is one. */
#define MXB_CONF_SECRET_MAX 1023
#define MXB_CONF_STATUS_MAX 1023
#define MXB_CONF_PASSWORD_MAX 1023
#define MXB_CONF_COMMAND_MAX 64
#define MXB_CONF_MQTT_STRING_MAX 65535
#define MXB_CONF_TEMPLATE_MAX 65535
#define MXB_CONF_INSTANCE_MAX 64

enum mxb_conf_list {
	MXB_CONF_BARE_JIDS,
	MXB_CONF_TOPIC_FILTERS,
	MXB_CONF_SENDERS, /* bare JIDs or "*@domain" */
};

/* A key of the table that the table cannot parse alone, with the state of its group. */
typedef void (*mxb_conf_key_fn)(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, void *data);

/*
 * Walks the settings of group g, of the table's section, in file order: a key the table
 * does not know is reported as "unknown key 'K' in WHERE" (where NULL: "unknown key 'K'"),
 * a key of kind INT, SIZE, BOOL or ENUM is parsed into obj + its offset, and fn takes the
 * rest (and the custom ones).
 */
void mxb_conf_walk(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, const char *section,
	const char *where, void *obj, mxb_conf_key_fn fn, void *data);

bool mxb_conf_group(struct mxb_conf_ctx *c, const struct mxb_conf_node *s);
bool mxb_conf_string(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, size_t max,
	bool nonempty, char **out);
bool mxb_conf_int(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, long long min,
	long long max, long long *out);
bool mxb_conf_int_field(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *s, int min, int max, int *out);
bool mxb_conf_bool(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, bool *out);
/* One of names; expected lists them for the message, e.g. "starttls, direct or none". */
bool mxb_conf_enum(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_names *names, const char *expected, int *out);
/* A non-empty array or list of strings, each checked as kind says. */
bool mxb_conf_strlist(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	enum mxb_conf_list kind, struct mxb_strlist *out);
/* A list of any strings (values to compare with, not names). */
bool mxb_conf_plain_strlist(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *s, struct mxb_strlist *out);
/* A file name, relative ones taken from the directory of the main file. */
bool mxb_conf_path(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **out);
/* A file the daemon will open later: found unreadable now rather than at connect time. */
bool mxb_conf_readable_path(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **out);
/* A template, parsed: *src its text, *out the parsed one. */
bool mxb_conf_template(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **src,
	struct mxb_template **out);
/* Parses src into *out; a bad one is reported at n as "invalid template in 'KEY'". */
bool mxb_conf_compile(struct mxb_conf_ctx *c, const struct mxb_conf_node *n, const char *key,
	const char *src, struct mxb_template **out);

/* The entries of one group of a list of groups (rooms, routes, device rules). */
typedef void (*mxb_conf_entry_fn)(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *entry);

/*
 * The list of groups s, each entry size bytes, given the table's defaults of section and
 * parsed by parse. Returns the array (NULL when empty or on error) with its length in *len
 * and, in *at, the group each entry comes from (for errors across groups; c frees it).
 */
void *mxb_conf_groups(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, const char *section,
	size_t size, size_t *len, mxb_conf_entry_fn parse, const struct mxb_conf_node ***at);

/*
 * password and password_file (either may be NULL): at most one of them. Reads the file
 * (its first line) when it is the one. Returns whether either was given.
 */
bool mxb_conf_password(struct mxb_conf_ctx *c, const struct mxb_conf_node *password,
	const struct mxb_conf_node *password_file, char **out);
/* The first line of the file that s names (a secret_file, a password_file), into *out. */
bool mxb_conf_secret_file(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **out);
/* Clears a secret before freeing it. NULL does nothing. */
void mxb_conf_wipe_free(char *s);

/* The sections, each parsing its group into cfg. */
void mxb_conf_parse_xmpp(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *g, struct mxb_config *cfg);
void mxb_conf_parse_mqtt(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *g, struct mxb_config *cfg);
void mxb_conf_parse_notify(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *route);
void mxb_conf_parse_command(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *route);
void mxb_conf_parse_device(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, void *rule);
/* The location group (config_location.c), and its checks against the rest of cfg. */
void mxb_conf_parse_location(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *g, struct mxb_config *cfg);
void mxb_conf_check_location(struct mxb_conf_ctx *c, struct mxb_config *cfg);
void mxb_config_location_finish(struct mxb_config *cfg);
/* The 'pubsub' or 'subscribe' list s (config_pubsub.c), and what frees them. */
void mxb_conf_parse_pubsub_list(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *s, struct mxb_config *cfg);
void mxb_conf_pubsub_finish(struct mxb_config *cfg);
/* What the pubsub and subscribe routes need of the rest: an XMPP account. */
void mxb_conf_pubsub_check(struct mxb_conf_ctx *c, const struct mxb_config *cfg);
/* The pubsub and subscribe routes, for --check-config; nothing when there are none. */
void mxb_conf_pubsub_print(const struct mxb_config *cfg, FILE *out);
/* Checks that span groups (rooms named by routes, what needs an account) and derived values. */
/* bridge.instance: letters, digits, '-', '_', '.'; mqtt.share_group: no '/', '+', '#'. */
bool mxb_conf_instance_valid(const char *name);
bool mxb_conf_share_group_valid(const char *group);
/*
 * With mqtt.share_group: notify and pubsub filters become $share/GROUP/FILTER, the client
 * id CLIENT_ID-INSTANCE, the JID's resource RESOURCE-INSTANCE (or INSTANCE), where
 * INSTANCE is bridge.instance or else host (set into bridge.instance).
 */
void mxb_conf_apply_share(struct mxb_conf_ctx *c, struct mxb_config *cfg, const char *host);

void mxb_conf_cross_check(struct mxb_conf_ctx *c, struct mxb_config *cfg);

#endif
