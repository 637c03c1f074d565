#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_hint.h"
#include "config_schema.h"
#include "file.h"
#include "jid.h"
#include "template.h"
#include "topic.h"

#define FILE_PATH_MAX (PATH_MAX - 1)

static bool is_list(const struct mxb_conf_node *s)
{
	return s->type == MXB_CONF_ARRAY || s->type == MXB_CONF_LIST;
}

bool mxb_conf_group(struct mxb_conf_ctx *c, const struct mxb_conf_node *s)
{
	if (s->type != MXB_CONF_GROUP) {
		mxb_conf_error_at(c, s, "'%s' must be a group", s->name);
		return false;
	}
	return true;
}

bool mxb_conf_string(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, size_t max,
	bool nonempty, char **out)
{
	if (s->type != MXB_CONF_STRING) {
		mxb_conf_error_at(c, s, "'%s' must be a string", s->name);
		return false;
	}
	size_t len = strlen(s->str);
	if (nonempty && len == 0) {
		mxb_conf_error_at(c, s, "'%s' must not be empty", s->name);
		return false;
	}
	if (len > max) {
		mxb_conf_error_at(c, s, "'%s' is too long (at most %zu bytes)", s->name, max);
		return false;
	}
	char *copy = strdup(s->str);
	if (!copy) {
		c->oom = true;
		return false;
	}
	mxb_conf_wipe_free(*out);
	*out = copy;
	return true;
}

bool mxb_conf_int(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, long long min,
	long long max, long long *out)
{
	if (s->type != MXB_CONF_INT && s->type != MXB_CONF_INT64) {
		mxb_conf_error_at(c, s, "'%s' must be an integer", s->name);
		return false;
	}
	if (s->integer < min || s->integer > max || s->wrapped) {
		mxb_conf_error_at(c, s, "'%s' must be between %lld and %lld", s->name, min, max);
		return false;
	}
	*out = s->integer;
	return true;
}

bool mxb_conf_int_field(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *s, int min, int max, int *out)
{
	long long v;
	if (!mxb_conf_int(c, s, min, max, &v))
		return false;
	*out = (int)v;
	return true;
}

bool mxb_conf_bool(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, bool *out)
{
	if (s->type != MXB_CONF_BOOL) {
		mxb_conf_error_at(c, s, "'%s' must be a boolean (true or false)", s->name);
		return false;
	}
	*out = s->integer != 0;
	return true;
}

/* "a, b or c" */
static char *expected_names(const struct mxb_config_names *names)
{
	size_t cap = 1;
	for (size_t i = 0; i < names->len; i++)
		cap += strlen(names->v[i]) + 4;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < names->len; i++) {
		if (i > 0)
			strcat(s, i + 1 == names->len ? " or " : ", ");
		strcat(s, names->v[i]);
	}
	return s;
}

bool mxb_conf_enum(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_names *names, const char *expected, int *out)
{
	if (s->type != MXB_CONF_STRING) {
		mxb_conf_error_at(c, s, "'%s' must be a string", s->name);
		return false;
	}
	for (size_t i = 0; i < names->len; i++) {
		if (strcmp(s->str, names->v[i]) == 0) {
			*out = (int)i;
			return true;
		}
	}
	char *all = expected ? NULL : expected_names(names);
	if (!expected && !all) {
		c->oom = true;
		return false;
	}
	mxb_conf_error_at(c, s, "invalid value '%s' for '%s' (expected %s)", s->str, s->name,
		expected ? expected : all);
	free(all);
	return false;
}

static bool list_entry_valid(struct mxb_conf_ctx *c, const struct mxb_conf_node *e,
	const char *name, enum mxb_conf_list kind)
{
	const char *v = e->str;
	switch (kind) {
	case MXB_CONF_BARE_JIDS:
		if (strlen(v) > MXB_JID_MAX || !mxb_jid_valid(v)) {
			mxb_conf_error_at(c, e, "invalid JID '%s' in '%s'", v, name);
			return false;
		}
		if (!mxb_jid_is_bare(v)) {
			mxb_conf_error_at(c, e,
				"JID '%s' in '%s' must be bare (without a resource)", v, name);
			return false;
		}
		return true;
	case MXB_CONF_SENDERS:
		if (strncmp(v, "*@", 2) == 0) {
			if (strlen(v) > MXB_JID_MAX || !mxb_jid_is_bare(v + 2) ||
				strchr(v + 2, '@')) {
				mxb_conf_error_at(c, e,
					"invalid pattern '%s' in '%s' (expected *@domain)", v,
					name);
				return false;
			}
			return true;
		}
		return list_entry_valid(c, e, name, MXB_CONF_BARE_JIDS);
	case MXB_CONF_TOPIC_FILTERS:
		if (strlen(v) > MXB_TOPIC_MAX || !mxb_topic_filter_valid(v)) {
			mxb_conf_error_at(c, e, "invalid topic filter '%s' in '%s'", v, name);
			return false;
		}
		return true;
	}
	return false;
}

bool mxb_conf_strlist(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	enum mxb_conf_list kind, struct mxb_strlist *out)
{
	if (!is_list(s)) {
		mxb_conf_error_at(c, s, "'%s' must be a list of strings", s->name);
		return false;
	}
	if (s->len == 0) {
		mxb_conf_error_at(c, s, "'%s' must not be empty", s->name);
		return false;
	}
	bool ok = true;
	for (size_t i = 0; i < s->len; i++) {
		const struct mxb_conf_node *e = &s->children[i];
		if (e->type != MXB_CONF_STRING) {
			mxb_conf_error_at(c, e, "'%s' must be a list of strings", s->name);
			ok = false;
			continue;
		}
		if (!list_entry_valid(c, e, s->name, kind)) {
			ok = false;
			continue;
		}
		if (mxb_strlist_push(out, e->str) < 0) {
			c->oom = true;
			return false;
		}
	}
	return ok;
}

bool mxb_conf_plain_strlist(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *s, struct mxb_strlist *out)
{
	if (!is_list(s)) {
		mxb_conf_error_at(c, s, "'%s' must be a list of strings", s->name);
		return false;
	}
	for (size_t i = 0; i < s->len; i++) {
		const struct mxb_conf_node *e = &s->children[i];
		if (e->type != MXB_CONF_STRING) {
			mxb_conf_error_at(c, e, "'%s' must be a list of strings", s->name);
			return false;
		}
		if (mxb_strlist_push(out, e->str) < 0) {
			c->oom = true;
			return false;
		}
	}
	return true;
}

/*
 * "${CREDENTIALS_DIRECTORY}/NAME": a file systemd hands the unit (LoadCredential=), in a
 * directory only the bridge's user can read and whose name systemd chooses. Returns the
 * path, NULL with *bad set when the variable is missing or the name wrong, NULL without
 * memory.
 */
static const char credentials_var[] = "${CREDENTIALS_DIRECTORY}";

static char *credential_path(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *s, const char *v, bool *bad)
{
	const char *name = v + sizeof(credentials_var) - 1;
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	*bad = true;
	if (name[0] != '/' || !name[1] || strchr(name + 1, '/')) {
		mxb_conf_error_at(c, s, "'%s' must be %s/NAME, NAME a credential of the unit",
			s->name, credentials_var);
		return NULL;
	}
	if (!dir || dir[0] != '/') {
		mxb_conf_error_at(c, s,
			"%s '%s' names a systemd credential, but CREDENTIALS_DIRECTORY is not set "
			"(systemd sets it for a unit with LoadCredential=)",
			s->name, v);
		return NULL;
	}
	*bad = false;
	return mxb_conf_format("%s%s", dir, name);
}

bool mxb_conf_path(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **out)
{
	char *v = NULL;
	if (!mxb_conf_string(c, s, FILE_PATH_MAX, true, &v))
		return false;
	bool bad = false;
	char *path;
	if (strncmp(v, credentials_var, sizeof(credentials_var) - 1) == 0)
		path = credential_path(c, s, v, &bad);
	else if (v[0] == '/')
		path = v;
	else
		path = mxb_conf_format("%s/%s", c->dir, v);
	if (bad) {
		free(v);
		return false;
	}
	if (path != v)
		free(v);
	if (!path) {
		c->oom = true;
		return false;
	}
	free(*out);
	*out = path;
	return true;
}

bool mxb_conf_readable_path(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **out)
{
	if (!mxb_conf_path(c, s, out))
		return false;
	int fd = mxb_file_open(*out);
	if (fd < 0) {
		mxb_conf_error_at(
			c, s, "cannot read %s '%s': %s", s->name, *out, mxb_file_strerror(fd));
		return false;
	}
	close(fd);
	return true;
}

bool mxb_conf_compile(struct mxb_conf_ctx *c, const struct mxb_conf_node *n, const char *key,
	const char *src, struct mxb_template **out)
{
	char msg[256];
	mxb_template_destroy(*out);
	*out = NULL;
	int ret = mxb_template_parse(src, out, msg, sizeof(msg));
	if (ret == -ENOMEM) {
		c->oom = true;
		return false;
	}
	if (ret < 0) {
		mxb_conf_error_at(c, n, "invalid template in '%s': %s", key, msg);
		return false;
	}
	return true;
}

bool mxb_conf_template(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **src,
	struct mxb_template **out)
{
	if (!mxb_conf_string(c, s, MXB_CONF_TEMPLATE_MAX, true, src))
		return false;
	return mxb_conf_compile(c, s, s->name, *src, out);
}

/* A key the table parses alone: by its kind, into obj. */
static void walk_table_key(struct mxb_conf_ctx *c, const struct mxb_conf_node *s,
	const struct mxb_config_key *k, char *field)
{
	long long v;
	int e;
	switch (k->kind) {
	case MXB_KEY_INT:
		if (mxb_conf_int(c, s, k->min, k->max, &v))
			*(int *)(void *)field = (int)v;
		break;
	case MXB_KEY_SIZE:
		if (mxb_conf_int(c, s, k->min, k->max, &v))
			*(size_t *)(void *)field = (size_t)v;
		break;
	case MXB_KEY_BOOL:
		mxb_conf_bool(c, s, (bool *)(void *)field);
		break;
	case MXB_KEY_ENUM:
		if (mxb_conf_enum(c, s, k->names, NULL, &e))
			*(int *)(void *)field = e;
		break;
	case MXB_KEY_STRING:
	case MXB_KEY_NONE:
		break;
	}
}

/* The key of section nearest to name when one is close (the first of equals), or NULL. */
static const char *nearest_key(const char *section, const char *name)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (size_t i = 0; i < mxb_config_keys_len; i++) {
		const struct mxb_config_key *k = &mxb_config_keys[i];
		if (strcmp(k->section, section) != 0 || !mxb_conf_is_close(name, k->name))
			continue;
		size_t d = mxb_conf_distance(name, k->name, 2);
		if (d < best_d) {
			best = k->name;
			best_d = d;
		}
	}
	return best;
}

void mxb_conf_walk(struct mxb_conf_ctx *c, const struct mxb_conf_node *g, const char *section,
	const char *where, void *obj, mxb_conf_key_fn fn, void *data)
{
	for (size_t i = 0; i < g->len; i++) {
		const struct mxb_conf_node *s = &g->children[i];
		const struct mxb_config_key *k = mxb_config_key_find(section, s->name);
		const char *near = k ? NULL : nearest_key(section, s->name);
		if (!k && near)
			mxb_conf_error_at(c, s, "unknown key '%s'%s%s (did you mean '%s'?)",
				s->name, where ? " in " : "", where ? where : "", near);
		else if (!k && where)
			mxb_conf_error_at(c, s, "unknown key '%s' in %s", s->name, where);
		else if (!k)
			mxb_conf_error_at(c, s, "unknown key '%s'", s->name);
		else if (k->kind != MXB_KEY_NONE && k->kind != MXB_KEY_STRING && !k->custom)
			walk_table_key(c, s, k, (char *)obj + k->offset);
		else
			fn(c, s, k, data);
	}
}

/*
 * A list of groups. Returns how many entries to allocate (0 when none or on error); the
 * entries that are not groups are reported and skipped.
 */
static size_t group_count(struct mxb_conf_ctx *c, const struct mxb_conf_node *s)
{
	/* "[]" is an empty array; an array cannot hold groups */
	if (s->type == MXB_CONF_ARRAY && s->len == 0)
		return 0;
	if (s->type != MXB_CONF_LIST) {
		mxb_conf_error_at(c, s, "'%s' must be a list of groups", s->name);
		return 0;
	}
	return s->len;
}

void *mxb_conf_groups(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, const char *section,
	size_t size, size_t *len, mxb_conf_entry_fn parse, const struct mxb_conf_node ***at)
{
	size_t n = group_count(c, s);
	if (n == 0)
		return NULL;
	char *v = calloc(n, size);
	const struct mxb_conf_node **where = calloc(n, sizeof(*where));
	if (!v || !where) {
		free(v);
		free(where);
		c->oom = true;
		return NULL;
	}
	free(*at);
	*at = where;
	for (size_t i = 0; i < n; i++) {
		const struct mxb_conf_node *g = &s->children[i];
		if (g->type != MXB_CONF_GROUP) {
			mxb_conf_error_at(c, g, "'%s' must be a list of groups", s->name);
			continue;
		}
		void *entry = v + *len * size;
		if (mxb_config_defaults(section, entry) < 0)
			c->oom = true;
		where[(*len)++] = g;
		parse(c, g, entry);
	}
	return v;
}
