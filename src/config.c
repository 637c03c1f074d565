#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "file.h"
#include "jid.h"
#include "template.h"
#include "text.h"
#include "topic.h"

/* Bounds on what the file may hold; the protocol limits where there is one. */
#define HOST_MAX 255
#define FILE_PATH_MAX (PATH_MAX - 1)
#define SECRET_MAX 1023
#define STATUS_MAX 1023
#define PASSWORD_MAX 1023
#define COMMAND_MAX 64
/* libconfig 1.5 nests at most 10 includes. */
#define INCLUDE_DEPTH_MAX 10
#define INCLUDE_FILES_MAX 256
#define MIN_INTERVAL_MAX 86400
#define MQTT_STRING_MAX 65535
#define TEMPLATE_MAX 65535
#define QUEUE_SIZE_MAX 1000000
#define MAX_PAYLOAD_MAX (16 * 1024 * 1024)
/* What XMPP servers accept in one stanza by default (Prosody: 256 KiB). */
#define MAX_MESSAGE_MAX (256 * 1024)
#define RECONNECT_MAX_MAX 86400

#define DEFAULT_MQTT_HOST "localhost"
#define DEFAULT_CLIENT_ID "mqtt-xmpp-bridge"
#define DEFAULT_STATUS_TOPIC "mqtt-xmpp-bridge/status"
#define DEFAULT_MESSAGE "{{topic}}: {{payload}}"

static const char *const log_level_names[] = {
	[MXB_LOG_ERROR] = "error",
	[MXB_LOG_WARN] = "warn",
	[MXB_LOG_INFO] = "info",
	[MXB_LOG_DEBUG] = "debug",
};

static const char *const xmpp_tls_names[] = {
	[MXB_XMPP_TLS_STARTTLS] = "starttls",
	[MXB_XMPP_TLS_DIRECT] = "direct",
	[MXB_XMPP_TLS_NONE] = "none",
};

static const char *const bad_text_names[] = {
	[MXB_BAD_TEXT_REPLACE] = "replace",
	[MXB_BAD_TEXT_REFUSE] = "refuse",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct ctx {
	const char *path;
	/* The directory of path, for @include and relative file names. */
	char *dir;
	/* Bytes of path up to and including its last '/'. */
	size_t prefix_len;
	struct mxb_strlist *errors;
	size_t error_count;
	bool oom;
};

enum list_kind {
	LIST_BARE_JIDS,
	LIST_TOPIC_FILTERS,
	/* bare JIDs or "*@domain" */
	LIST_SENDERS,
};

static const char *const message_type_names[] = {"chat", "normal", "headline", "groupchat"};
static const char *const binary_names[] = {"text", "skip", "base64", "hex"};
static const char *const role_names[] = {"none", "visitor", "participant", "moderator"};
static const char *const affiliation_names[] = {"outcast", "none", "member", "admin", "owner"};

static void wipe_free(char *s)
{
	if (!s)
		return;
	/* volatile, so that clearing a secret about to be freed is not optimized away */
	for (volatile char *p = s; *p; p++)
		*p = 0;
	free(s);
}

static char *vformat(const char *fmt, va_list ap) MXB_PRINTF(1, 0);
static char *vformat(const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (s)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

static char *format(const char *fmt, ...) MXB_PRINTF(1, 2);
static char *format(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = vformat(fmt, ap);
	va_end(ap);
	return s;
}

/*
 * The file a setting or an error comes from, as the user can open it: the path as given
 * for the main file (libconfig records NULL when reading a stream), the name in @include
 * joined to the directory of the main file otherwise, as libconfig resolved it.
 */
static char *display_file(struct ctx *c, const char *name)
{
	if (!name)
		return strdup(c->path);
	if (name[0] == '/')
		return strdup(name);
	return format("%.*s%s", (int)c->prefix_len, c->path, name);
}

static void add_error(struct ctx *c, char *msg)
{
	c->error_count++;
	if (!msg) {
		c->oom = true;
		return;
	}
	if (!c->errors) {
		free(msg);
		return;
	}
	if (mxb_strlist_take(c->errors, msg) < 0)
		c->oom = true;
}

static void error_at(struct ctx *c, const char *file, unsigned line, const char *fmt, ...)
	MXB_PRINTF(4, 5);
static void error_at(struct ctx *c, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = vformat(fmt, ap);
	va_end(ap);
	char *where = display_file(c, file);
	char *full = NULL;
	if (msg && where)
		full = format("%s:%u: %s", where, line ? line : 1, msg);
	free(msg);
	free(where);
	add_error(c, full);
}

static void err(struct ctx *c, const config_setting_t *s, const char *fmt, ...) MXB_PRINTF(3, 4);
static void err(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = vformat(fmt, ap);
	va_end(ap);
	if (!msg) {
		add_error(c, NULL);
		return;
	}
	error_at(c, config_setting_source_file(s), config_setting_source_line(s), "%s", msg);
	free(msg);
}

static void unknown_key(struct ctx *c, const config_setting_t *s, const char *where)
{
	if (where)
		err(c, s, "unknown key '%s' in %s", config_setting_name(s), where);
	else
		err(c, s, "unknown key '%s'", config_setting_name(s));
}

/*
 * Line n (from 1) of file without its newline, or NULL. Only regular files are read again:
 * a FIFO given as the config would block or be empty the second time.
 */
static char *read_line(const char *file, unsigned n)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	struct stat st;
	FILE *f = NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(f = fdopen(fd, "r"))) {
		close(fd);
		return NULL;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len = -1;
	for (unsigned i = 0; i < n; i++) {
		len = getline(&line, &cap, f);
		if (len < 0)
			break;
	}
	fclose(f);
	if (len < 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static bool is_name_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '*';
}

/* Parses the integer literal at s as libconfig writes them (decimal or 0x hex). */
static bool parse_literal(const char *s, long long *out, bool *overflow)
{
	const char *p = s;
	bool neg = false;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!isdigit((unsigned char)*p))
		return false;
	errno = 0;
	*overflow = false;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		unsigned long long u = strtoull(p + 2, NULL, 16);
		*overflow = errno == ERANGE || u > LLONG_MAX;
		*out = *overflow ? 0 : neg ? -(long long)u : (long long)u;
	} else {
		*out = strtoll(s, NULL, 10);
		*overflow = errno == ERANGE;
	}
	return true;
}

/*
 * libconfig 1.5 keeps an integer literal beyond 32 bits written without the L suffix
 * wrapped around (port = 4294968179 reads as 883). Reads the literal back from the
 * setting's line: false only when "name = literal" is there and none of them says value.
 */
static bool literal_matches(struct ctx *c, const config_setting_t *s, long long value)
{
	char *file = display_file(c, config_setting_source_file(s));
	if (!file)
		return true;
	char *line = read_line(file, config_setting_source_line(s));
	free(file);
	if (!line)
		return true;
	const char *name = config_setting_name(s);
	size_t name_len = strlen(name);
	bool found = false, match = false;
	for (const char *p = line; (p = strstr(p, name)); p += name_len) {
		if (p > line && is_name_char(p[-1]))
			continue;
		const char *q = p + name_len;
		q += strspn(q, " \t");
		if (*q != '=' && *q != ':')
			continue;
		q++;
		q += strspn(q, " \t");
		long long literal;
		bool overflow;
		if (!parse_literal(q, &literal, &overflow))
			continue;
		found = true;
		if (!overflow && literal == value)
			match = true;
	}
	free(line);
	return !found || match;
}

static bool get_string(
	struct ctx *c, const config_setting_t *s, size_t max, bool nonempty, char **out)
{
	const char *name = config_setting_name(s);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		err(c, s, "'%s' must be a string", name);
		return false;
	}
	const char *v = config_setting_get_string(s);
	size_t len = strlen(v);
	if (nonempty && len == 0) {
		err(c, s, "'%s' must not be empty", name);
		return false;
	}
	if (len > max) {
		err(c, s, "'%s' is too long (at most %zu bytes)", name, max);
		return false;
	}
	char *copy = strdup(v);
	if (!copy) {
		c->oom = true;
		return false;
	}
	wipe_free(*out);
	*out = copy;
	return true;
}

static bool get_int(
	struct ctx *c, const config_setting_t *s, long long min, long long max, long long *out)
{
	const char *name = config_setting_name(s);
	long long v;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		break;
	default:
		err(c, s, "'%s' must be an integer", name);
		return false;
	}
	if (v < min || v > max ||
		(config_setting_type(s) == CONFIG_TYPE_INT && !literal_matches(c, s, v))) {
		err(c, s, "'%s' must be between %lld and %lld", name, min, max);
		return false;
	}
	*out = v;
	return true;
}

static bool get_int_field(struct ctx *c, const config_setting_t *s, int min, int max, int *out)
{
	long long v;
	if (!get_int(c, s, min, max, &v))
		return false;
	*out = (int)v;
	return true;
}

static bool get_size_field(
	struct ctx *c, const config_setting_t *s, long long min, long long max, size_t *out)
{
	long long v;
	if (!get_int(c, s, min, max, &v))
		return false;
	*out = (size_t)v;
	return true;
}

static bool get_bool(struct ctx *c, const config_setting_t *s, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		err(c, s, "'%s' must be a boolean (true or false)", config_setting_name(s));
		return false;
	}
	*out = config_setting_get_bool(s);
	return true;
}

/* expected lists the names for the message, e.g. "starttls, direct or none". */
static bool get_enum(struct ctx *c, const config_setting_t *s, const char *const *names,
	size_t count, const char *expected, int *out)
{
	const char *name = config_setting_name(s);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		err(c, s, "'%s' must be a string", name);
		return false;
	}
	const char *v = config_setting_get_string(s);
	for (size_t i = 0; i < count; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = (int)i;
			return true;
		}
	}
	err(c, s, "invalid value '%s' for '%s' (expected %s)", v, name, expected);
	return false;
}

static bool list_entry_valid(
	struct ctx *c, const config_setting_t *e, const char *name, enum list_kind kind)
{
	const char *v = config_setting_get_string(e);
	switch (kind) {
	case LIST_BARE_JIDS:
		if (strlen(v) > MXB_JID_MAX || !mxb_jid_valid(v)) {
			err(c, e, "invalid JID '%s' in '%s'", v, name);
			return false;
		}
		if (!mxb_jid_is_bare(v)) {
			err(c, e, "JID '%s' in '%s' must be bare (without a resource)", v, name);
			return false;
		}
		return true;
	case LIST_SENDERS:
		if (strncmp(v, "*@", 2) == 0) {
			if (strlen(v) > MXB_JID_MAX || !mxb_jid_is_bare(v + 2) ||
				strchr(v + 2, '@')) {
				err(c, e, "invalid pattern '%s' in '%s' (expected *@domain)", v,
					name);
				return false;
			}
			return true;
		}
		return list_entry_valid(c, e, name, LIST_BARE_JIDS);
	case LIST_TOPIC_FILTERS:
		if (strlen(v) > MXB_TOPIC_MAX || !mxb_topic_filter_valid(v)) {
			err(c, e, "invalid topic filter '%s' in '%s'", v, name);
			return false;
		}
		return true;
	}
	return false;
}

/* A non-empty array or list of strings, each checked as kind says. */
static bool get_strlist(
	struct ctx *c, const config_setting_t *s, enum list_kind kind, struct mxb_strlist *out)
{
	const char *name = config_setting_name(s);
	int type = config_setting_type(s);
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		err(c, s, "'%s' must be a list of strings", name);
		return false;
	}
	int n = config_setting_length(s);
	if (n == 0) {
		err(c, s, "'%s' must not be empty", name);
		return false;
	}
	bool ok = true;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			err(c, e, "'%s' must be a list of strings", name);
			ok = false;
			continue;
		}
		if (!list_entry_valid(c, e, name, kind)) {
			ok = false;
			continue;
		}
		if (mxb_strlist_push(out, config_setting_get_string(e)) < 0) {
			c->oom = true;
			return false;
		}
	}
	return ok;
}

/* A list of any strings (values to compare with, not names). */
static bool get_plain_strlist(struct ctx *c, const config_setting_t *s, struct mxb_strlist *out)
{
	const char *name = config_setting_name(s);
	int type = config_setting_type(s);
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		err(c, s, "'%s' must be a list of strings", name);
		return false;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			err(c, e, "'%s' must be a list of strings", name);
			return false;
		}
		if (mxb_strlist_push(out, config_setting_get_string(e)) < 0) {
			c->oom = true;
			return false;
		}
	}
	return true;
}

/* A file name, relative ones taken from the directory of the main file. */
static bool get_path(struct ctx *c, const config_setting_t *s, char **out)
{
	char *v = NULL;
	if (!get_string(c, s, FILE_PATH_MAX, true, &v))
		return false;
	char *path = v[0] == '/' ? v : format("%s/%s", c->dir, v);
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

/* A file the daemon will open later: found unreadable now rather than at connect time. */
static bool get_readable_path(struct ctx *c, const config_setting_t *s, char **out)
{
	if (!get_path(c, s, out))
		return false;
	int fd = mxb_file_open(*out);
	if (fd < 0) {
		err(c, s, "cannot read %s '%s': %s", config_setting_name(s), *out,
			mxb_file_strerror(fd));
		return false;
	}
	close(fd);
	return true;
}

/* The password is the first line of the file, without its line ending. */
static bool read_password_file(
	struct ctx *c, const config_setting_t *s, const char *path, char **out)
{
	const char *name = config_setting_name(s);
	int fd = mxb_file_open(path);
	if (fd < 0) {
		err(c, s, "cannot read %s '%s': %s", name, path, mxb_file_strerror(fd));
		return false;
	}
	/* As ssh does with keys: a secret that anyone on the machine can read is no secret. */
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH))) {
		err(c, s,
			"%s '%s' can be read or written by others (mode %04o); run chmod o-rwx on "
			"it",
			name, path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return false;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		err(c, s, "cannot read %s '%s': %s", name, path, strerror(errno));
		close(fd);
		return false;
	}
	/* room for the longest password, "\r\n" and the NUL */
	char buf[SECRET_MAX + 3];
	bool ok = false;
	if (!fgets(buf, sizeof(buf), f)) {
		if (ferror(f))
			err(c, s, "cannot read %s '%s': %s", name, path, strerror(errno));
		else
			err(c, s, "%s '%s' is empty", name, path);
		goto out;
	}
	size_t len = strlen(buf);
	bool newline = len > 0 && buf[len - 1] == '\n';
	if (newline)
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len > SECRET_MAX || (!newline && len == sizeof(buf) - 1)) {
		err(c, s, "first line of %s '%s' is too long (at most %d bytes)", name, path,
			SECRET_MAX);
		goto out;
	}
	if (len == 0) {
		err(c, s, "first line of %s '%s' is empty", name, path);
		goto out;
	}
	char *copy = strdup(buf);
	if (!copy) {
		c->oom = true;
		goto out;
	}
	wipe_free(*out);
	*out = copy;
	ok = true;
out:
	for (volatile char *p = buf; p < buf + sizeof(buf); p++)
		*p = 0;
	fclose(f);
	return ok;
}

/*
 * password and password_file: at most one of them. Reads the file when it is the one.
 * Returns whether either was given.
 */
static bool get_password(struct ctx *c, const config_setting_t *password,
	const config_setting_t *password_file, char **out)
{
	if (password && password_file) {
		const config_setting_t *later = password;
		if (config_setting_source_line(password_file) >
			config_setting_source_line(password))
			later = password_file;
		err(c, later, "use either 'password' or 'password_file', not both");
		return true;
	}
	if (password) {
		get_string(c, password, SECRET_MAX, true, out);
		return true;
	}
	if (password_file) {
		char *path = NULL;
		if (get_path(c, password_file, &path))
			read_password_file(c, password_file, path, out);
		free(path);
		return true;
	}
	return false;
}

static bool get_group(struct ctx *c, const config_setting_t *s)
{
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		err(c, s, "'%s' must be a group", config_setting_name(s));
		return false;
	}
	return true;
}

static void parse_bridge(struct ctx *c, const config_setting_t *g, struct mxb_config *cfg)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		int v;
		if (strcmp(k, "log_level") == 0) {
			if (get_enum(c, s, log_level_names, COUNT(log_level_names),
				    "error, warn, info or debug", &v))
				cfg->bridge.log_level = (enum mxb_log_level)v;
		} else if (strcmp(k, "queue_size") == 0) {
			get_size_field(c, s, 1, QUEUE_SIZE_MAX, &cfg->bridge.queue_size);
		} else if (strcmp(k, "max_payload") == 0) {
			get_size_field(c, s, 1, MAX_PAYLOAD_MAX, &cfg->bridge.max_payload);
		} else if (strcmp(k, "max_message") == 0) {
			get_size_field(c, s, 1, MAX_MESSAGE_MAX, &cfg->bridge.max_message);
		} else if (strcmp(k, "spool") == 0) {
			get_path(c, s, &cfg->bridge.spool);
		} else if (strcmp(k, "max_devices") == 0) {
			get_size_field(c, s, 1, 1000000, &cfg->max_devices);
		} else if (strcmp(k, "bad_text") == 0) {
			if (get_enum(c, s, bad_text_names, COUNT(bad_text_names),
				    "replace or refuse", &v))
				cfg->bridge.bad_text = (enum mxb_bad_text)v;
		} else {
			unknown_key(c, s, "'bridge'");
		}
	}
}

/*
 * A list of groups. Returns how many entries to allocate (0 when none or on error); the
 * entries that are not groups are reported and skipped.
 */
static size_t route_count(struct ctx *c, const config_setting_t *s)
{
	int type = config_setting_type(s);
	int n = config_setting_length(s);
	/* "[]" is an empty array; an array cannot hold groups */
	if (type == CONFIG_TYPE_ARRAY && n == 0)
		return 0;
	if (type != CONFIG_TYPE_LIST) {
		err(c, s, "'%s' must be a list of groups", config_setting_name(s));
		return 0;
	}
	return (size_t)n;
}

typedef void (*group_parser)(struct ctx *c, const config_setting_t *g, void *elem);

/* The entries of a list of groups (rooms, routes, device rules), each parsed by parse. */
static void *parse_groups(
	struct ctx *c, const config_setting_t *s, size_t size, size_t *len, group_parser parse)
{
	size_t n = route_count(c, s);
	if (n == 0)
		return NULL;
	char *v = calloc(n, size);
	if (!v) {
		c->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			err(c, g, "'%s' must be a list of groups", config_setting_name(s));
			continue;
		}
		parse(c, g, v + (*len)++ * size);
	}
	return v;
}

static void parse_room(struct ctx *c, const config_setting_t *g, void *elem)
{
	struct mxb_room *r = elem;
	r->line = (int)config_setting_source_line(g);
	const config_setting_t *jid = NULL;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		if (strcmp(k, "jid") == 0) {
			jid = s;
			if (get_string(c, s, MXB_JID_MAX, true, &r->jid) &&
				!mxb_jid_is_bare(r->jid))
				err(c, s, "invalid room JID '%s' in 'jid' (expected room@service)",
					r->jid);
		} else if (strcmp(k, "nick") == 0) {
			if (get_string(c, s, MXB_JID_PART_MAX, true, &r->nick) &&
				!mxb_text_xml_valid(r->nick, strlen(r->nick)))
				err(c, s, "'nick' must be valid UTF-8 without control characters");
		} else if (strcmp(k, "password") == 0) {
			get_string(c, s, PASSWORD_MAX, false, &r->password);
		} else {
			unknown_key(c, s, "a room of 'xmpp.rooms'");
		}
	}
	if (!jid)
		err(c, g, "missing 'jid' in a room of 'xmpp.rooms'");
}

static void parse_component(struct ctx *c, const config_setting_t *g, struct mxb_config *cfg)
{
	const config_setting_t *domain = NULL, *secret = NULL, *secret_file = NULL;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		if (strcmp(k, "domain") == 0) {
			domain = s;
			char **d = &cfg->xmpp.component.domain;
			if (get_string(c, s, MXB_JID_PART_MAX, true, d) &&
				(!mxb_jid_is_bare(*d) || strchr(*d, '@')))
				err(c, s, "invalid component domain '%s' in 'domain'", *d);
		} else if (strcmp(k, "secret") == 0) {
			secret = s;
		} else if (strcmp(k, "secret_file") == 0) {
			secret_file = s;
		} else if (strcmp(k, "host") == 0) {
			get_string(c, s, HOST_MAX, true, &cfg->xmpp.component.host);
		} else if (strcmp(k, "port") == 0) {
			get_int_field(c, s, 1, 65535, &cfg->xmpp.component.port);
		} else {
			unknown_key(c, s, "'xmpp.component'");
		}
	}
	if (!domain)
		err(c, g, "missing 'domain' in 'xmpp.component'");
	if (secret && secret_file) {
		err(c, secret_file, "use either 'secret' or 'secret_file', not both");
	} else if (secret) {
		get_string(c, secret, SECRET_MAX, true, &cfg->xmpp.component.secret);
	} else if (secret_file) {
		char *path = NULL;
		if (get_path(c, secret_file, &path))
			read_password_file(c, secret_file, path, &cfg->xmpp.component.secret);
		free(path);
	} else {
		err(c, g, "missing 'secret' or 'secret_file' in 'xmpp.component'");
	}
}

static void parse_xmpp(struct ctx *c, const config_setting_t *g, struct mxb_config *cfg)
{
	const config_setting_t *component = NULL;
	const config_setting_t *jid = NULL, *password = NULL, *password_file = NULL;
	const config_setting_t *cert = NULL, *key = NULL;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		int v;
		if (strcmp(k, "jid") == 0) {
			jid = s;
			if (get_string(c, s, MXB_JID_MAX, true, &cfg->xmpp.jid) &&
				!mxb_jid_valid(cfg->xmpp.jid))
				err(c, s, "invalid JID '%s' in 'jid'", cfg->xmpp.jid);
		} else if (strcmp(k, "password") == 0) {
			password = s;
		} else if (strcmp(k, "password_file") == 0) {
			password_file = s;
		} else if (strcmp(k, "host") == 0) {
			get_string(c, s, HOST_MAX, true, &cfg->xmpp.host);
		} else if (strcmp(k, "port") == 0) {
			get_int_field(c, s, 0, 65535, &cfg->xmpp.port);
		} else if (strcmp(k, "tls") == 0) {
			if (get_enum(c, s, xmpp_tls_names, COUNT(xmpp_tls_names),
				    "starttls, direct or none", &v))
				cfg->xmpp.tls = (enum mxb_xmpp_tls)v;
		} else if (strcmp(k, "ca_file") == 0) {
			get_readable_path(c, s, &cfg->xmpp.ca_file);
		} else if (strcmp(k, "client_cert") == 0) {
			cert = s;
			get_readable_path(c, s, &cfg->xmpp.client_cert);
		} else if (strcmp(k, "client_key") == 0) {
			key = s;
			get_readable_path(c, s, &cfg->xmpp.client_key);
		} else if (strcmp(k, "status") == 0) {
			/* it becomes the text of a presence stanza */
			if (get_string(c, s, STATUS_MAX, false, &cfg->xmpp.status) &&
				!mxb_text_xml_valid(cfg->xmpp.status, strlen(cfg->xmpp.status)))
				err(c, s,
					"'status' must be valid UTF-8 without control characters");
		} else if (strcmp(k, "reconnect_max") == 0) {
			get_int_field(c, s, 1, RECONNECT_MAX_MAX, &cfg->xmpp.reconnect_max);
		} else if (strcmp(k, "ping_interval") == 0) {
			get_int_field(c, s, 5, 3600, &cfg->xmpp.ping_interval);
		} else if (strcmp(k, "ping_timeout") == 0) {
			get_int_field(c, s, 1, 600, &cfg->xmpp.ping_timeout);
		} else if (strcmp(k, "rooms") == 0) {
			cfg->xmpp.rooms = parse_groups(
				c, s, sizeof(*cfg->xmpp.rooms), &cfg->xmpp.rooms_len, parse_room);
		} else if (strcmp(k, "presence_topic") == 0) {
			if (get_string(c, s, MXB_TOPIC_MAX, true, &cfg->xmpp.presence_topic) &&
				!mxb_topic_name_valid(
					cfg->xmpp.presence_topic, strlen(cfg->xmpp.presence_topic)))
				err(c, s, "invalid topic '%s' in 'presence_topic'",
					cfg->xmpp.presence_topic);
		} else if (strcmp(k, "presence_json") == 0) {
			get_bool(c, s, &cfg->xmpp.presence_json);
		} else if (strcmp(k, "component") == 0) {
			component = s;
			if (get_group(c, s))
				parse_component(c, s, cfg);
		} else {
			unknown_key(c, s, "'xmpp'");
		}
	}
	/* Without a jid the bridge runs the component alone. */
	if (!jid && !component)
		err(c, g, "missing 'jid' in 'xmpp'");
	if (cert && !key)
		err(c, cert, "'client_cert' needs 'client_key'");
	if (key && !cert)
		err(c, key, "'client_key' needs 'client_cert'");
	if (!get_password(c, password, password_file, &cfg->xmpp.password) && !(cert && key) && jid)
		err(c, g, "missing 'password' or 'password_file' in 'xmpp'");
}

static void parse_mqtt_tls(struct ctx *c, const config_setting_t *g, struct mxb_config *cfg)
{
	const config_setting_t *cert = NULL, *key = NULL;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		if (strcmp(k, "ca_file") == 0) {
			get_readable_path(c, s, &cfg->mqtt.ca_file);
		} else if (strcmp(k, "cert_file") == 0) {
			cert = s;
			get_readable_path(c, s, &cfg->mqtt.cert_file);
		} else if (strcmp(k, "key_file") == 0) {
			key = s;
			get_readable_path(c, s, &cfg->mqtt.key_file);
		} else {
			unknown_key(c, s, "'mqtt.tls'");
		}
	}
	if (cert && !key)
		err(c, cert, "'cert_file' needs 'key_file'");
	if (key && !cert)
		err(c, key, "'key_file' needs 'cert_file'");
}

static void parse_mqtt(struct ctx *c, const config_setting_t *g, struct mxb_config *cfg)
{
	const config_setting_t *port = NULL, *username = NULL;
	const config_setting_t *password = NULL, *password_file = NULL;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		if (strcmp(k, "host") == 0) {
			get_string(c, s, HOST_MAX, true, &cfg->mqtt.host);
		} else if (strcmp(k, "port") == 0) {
			port = s;
			get_int_field(c, s, 1, 65535, &cfg->mqtt.port);
		} else if (strcmp(k, "version") == 0) {
			long long v;
			if (get_int(c, s, INT_MIN, INT_MAX, &v)) {
				if (v == 3 || v == 5)
					cfg->mqtt.version = (int)v;
				else
					err(c, s,
						"invalid value %lld for 'version' (expected 5 or "
						"3)",
						v);
			}
		} else if (strcmp(k, "client_id") == 0) {
			if (get_string(c, s, MQTT_STRING_MAX, true, &cfg->mqtt.client_id) &&
				!mxb_text_utf8_valid(
					cfg->mqtt.client_id, strlen(cfg->mqtt.client_id)))
				err(c, s, "'client_id' must be valid UTF-8");
		} else if (strcmp(k, "username") == 0) {
			username = s;
			if (get_string(c, s, MQTT_STRING_MAX, true, &cfg->mqtt.username) &&
				!mxb_text_utf8_valid(
					cfg->mqtt.username, strlen(cfg->mqtt.username)))
				err(c, s, "'username' must be valid UTF-8");
		} else if (strcmp(k, "password") == 0) {
			password = s;
		} else if (strcmp(k, "password_file") == 0) {
			password_file = s;
		} else if (strcmp(k, "keepalive") == 0) {
			get_int_field(c, s, 5, 65535, &cfg->mqtt.keepalive);
		} else if (strcmp(k, "status_topic") == 0) {
			char **t = &cfg->mqtt.status_topic;
			if (get_string(c, s, MXB_TOPIC_MAX, false, t) && **t &&
				!mxb_topic_name_valid(*t, strlen(*t)))
				err(c, s, "invalid topic '%s' in 'status_topic'", *t);
		} else if (strcmp(k, "reconnect_max") == 0) {
			get_int_field(c, s, 1, RECONNECT_MAX_MAX, &cfg->mqtt.reconnect_max);
		} else if (strcmp(k, "session_expiry") == 0) {
			get_int_field(c, s, 0, 0x7fffffff, &cfg->mqtt.session_expiry);
		} else if (strcmp(k, "tls") == 0) {
			if (get_group(c, s)) {
				cfg->mqtt.tls = true;
				parse_mqtt_tls(c, s, cfg);
			}
		} else {
			unknown_key(c, s, "'mqtt'");
		}
	}
	if (!username && (password || password_file)) {
		const config_setting_t *s = password ? password : password_file;
		err(c, s, "'%s' needs 'username'", config_setting_name(s));
	}
	get_password(c, password, password_file, &cfg->mqtt.password);
	if (!port)
		cfg->mqtt.port = cfg->mqtt.tls ? 8883 : 1883;
}

static bool set_template(struct ctx *c, const config_setting_t *s, struct mxb_notify_route *r)
{
	char msg[256];
	mxb_template_destroy(r->tmpl);
	r->tmpl = NULL;
	int ret = mxb_template_parse(r->message, &r->tmpl, msg, sizeof(msg));
	if (ret == -ENOMEM) {
		c->oom = true;
		return false;
	}
	if (ret < 0) {
		err(c, s, "invalid template in 'message': %s", msg);
		return false;
	}
	return true;
}

static void parse_notify_route(struct ctx *c, const config_setting_t *g, void *elem)
{
	struct mxb_notify_route *r = elem;
	r->line = (int)config_setting_source_line(g);
	const config_setting_t *topic = NULL, *to = NULL, *message = NULL;
	/* QoS 1 by default: an alarm must survive a broker hiccup. */
	r->qos = 1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		int v;
		if (strcmp(k, "topic") == 0) {
			topic = s;
			if (get_string(c, s, MXB_TOPIC_MAX, true, &r->topic) &&
				!mxb_topic_filter_valid(r->topic))
				err(c, s, "invalid topic filter '%s' in 'topic'", r->topic);
		} else if (strcmp(k, "to") == 0) {
			to = s;
			get_strlist(c, s, LIST_BARE_JIDS, &r->to);
		} else if (strcmp(k, "message") == 0) {
			message = s;
			if (get_string(c, s, TEMPLATE_MAX, true, &r->message))
				set_template(c, s, r);
		} else if (strcmp(k, "qos") == 0) {
			get_int_field(c, s, 0, 2, &r->qos);
		} else if (strcmp(k, "type") == 0) {
			if (get_enum(c, s, message_type_names, COUNT(message_type_names),
				    "chat, normal, headline or groupchat", &v))
				r->type = (enum mxb_message_type)v;
		} else if (strcmp(k, "retained") == 0) {
			get_bool(c, s, &r->retained);
		} else if (strcmp(k, "min_interval") == 0) {
			get_int_field(c, s, 0, MIN_INTERVAL_MAX, &r->min_interval);
		} else if (strcmp(k, "only_changes") == 0) {
			get_bool(c, s, &r->only_changes);
		} else if (strcmp(k, "binary") == 0) {
			if (get_enum(c, s, binary_names, COUNT(binary_names),
				    "text, skip, base64 or hex", &v))
				r->binary = (enum mxb_binary)v;
		} else if (strcmp(k, "max_payload") == 0) {
			get_size_field(c, s, 1, MAX_PAYLOAD_MAX, &r->max_payload);
		} else if (strcmp(k, "fallback") == 0) {
			if (get_string(c, s, TEMPLATE_MAX, false, &r->fallback) &&
				!mxb_text_xml_valid(r->fallback, strlen(r->fallback)))
				err(c, s,
					"'fallback' must be valid UTF-8 without control "
					"characters");
		} else {
			unknown_key(c, s, "a 'notify' route");
		}
	}
	if (!topic)
		err(c, g, "missing 'topic' in a 'notify' route");
	if (!to)
		err(c, g, "missing 'to' in a 'notify' route");
	if (!message) {
		r->message = strdup(DEFAULT_MESSAGE);
		if (!r->message)
			c->oom = true;
		else
			set_template(c, g, r);
	}
}

static bool command_word_valid(const char *w)
{
	if (!*w || strcasecmp(w, "help") == 0)
		return false;
	for (const char *p = w; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return false;
	}
	return true;
}

static bool get_template(
	struct ctx *c, const config_setting_t *s, char **src, struct mxb_template **out)
{
	char msg[256];
	if (!get_string(c, s, TEMPLATE_MAX, true, src))
		return false;
	mxb_template_destroy(*out);
	*out = NULL;
	int ret = mxb_template_parse(*src, out, msg, sizeof(msg));
	if (ret == -ENOMEM) {
		c->oom = true;
		return false;
	}
	if (ret < 0) {
		err(c, s, "invalid template in '%s': %s", config_setting_name(s), msg);
		return false;
	}
	return true;
}

static void parse_command_route(struct ctx *c, const config_setting_t *g, void *elem)
{
	struct mxb_command_route *r = elem;
	r->line = (int)config_setting_source_line(g);
	const config_setting_t *from = NULL, *allow = NULL, *command = NULL, *topic = NULL;
	const config_setting_t *payload = NULL;
	/* QoS 1 by default: a command to a device must not vanish silently. */
	r->qos = 1;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		int v = -1;
		if (strcmp(k, "from") == 0) {
			from = s;
			get_strlist(c, s, LIST_SENDERS, &r->from);
		} else if (strcmp(k, "allow") == 0) {
			allow = s;
			get_strlist(c, s, LIST_TOPIC_FILTERS, &r->allow);
		} else if (strcmp(k, "command") == 0) {
			command = s;
			if (get_string(c, s, COMMAND_MAX, true, &r->command) &&
				!command_word_valid(r->command))
				err(c, s,
					"invalid command '%s' (letters, digits, '-' and '_'; not "
					"'help')",
					r->command);
		} else if (strcmp(k, "topic") == 0) {
			topic = s;
			get_template(c, s, &r->topic, &r->topic_tmpl);
		} else if (strcmp(k, "payload") == 0) {
			payload = s;
			get_template(c, s, &r->payload, &r->payload_tmpl);
		} else if (strcmp(k, "role") == 0) {
			if (get_enum(c, s, role_names, COUNT(role_names),
				    "visitor, participant or moderator", &v) &&
				v != MXB_ROLE_NONE) {
				r->has_role = true;
				r->role = (enum mxb_muc_role)v;
			} else if (v == MXB_ROLE_NONE) {
				err(c, s,
					"invalid value 'none' for 'role' (expected visitor, "
					"participant or moderator)");
			}
		} else if (strcmp(k, "affiliation") == 0) {
			if (get_enum(c, s, affiliation_names, COUNT(affiliation_names),
				    "none, member, admin or owner", &v) &&
				v != MXB_AFFILIATION_OUTCAST) {
				r->has_affiliation = true;
				r->affiliation = (enum mxb_muc_affiliation)v;
			} else if (v == MXB_AFFILIATION_OUTCAST) {
				err(c, s,
					"invalid value 'outcast' for 'affiliation' (expected none, "
					"member, admin or owner)");
			}
		} else if (strcmp(k, "qos") == 0) {
			get_int_field(c, s, 0, 2, &r->qos);
		} else if (strcmp(k, "retain") == 0) {
			get_bool(c, s, &r->retain);
		} else {
			unknown_key(c, s, "a 'commands' route");
		}
	}
	if (!from)
		err(c, g, "missing 'from' in a 'commands' route");
	if (command) {
		if (!topic)
			err(c, g, "missing 'topic' in the 'commands' route of command '%s'",
				r->command ? r->command : "");
		if (!payload && !c->oom) {
			r->payload = strdup("{{args}}");
			char msg[64];
			if (!r->payload || mxb_template_parse(r->payload, &r->payload_tmpl, msg,
						   sizeof(msg)) < 0)
				c->oom = true;
		}
	} else {
		if (!allow)
			err(c, g, "missing 'allow' in a 'commands' route");
		if (topic)
			err(c, topic,
				"'topic' needs 'command' (a TOPIC PAYLOAD route uses 'allow')");
		if (payload)
			err(c, payload, "'payload' needs 'command'");
	}
}

static const char *const convention_names[] = {"none", "tasmota", "zigbee2mqtt", "homeassistant"};

static bool set_default_template(
	struct ctx *c, char **src, struct mxb_template **tmpl, const char *value)
{
	if (*src)
		return true;
	char msg[128];
	*src = strdup(value);
	if (!*src || mxb_template_parse(*src, tmpl, msg, sizeof(msg)) < 0) {
		c->oom = true;
		return false;
	}
	return true;
}

static void default_str(struct ctx *c, char **field, const char *value)
{
	if (!*field && value && !(*field = strdup(value)))
		c->oom = true;
}

/* Fills what a convention implies and the route did not say. */
static void apply_convention(struct ctx *c, struct mxb_device_rule *d)
{
	const char *avail = NULL, *state = NULL, *command = NULL, *payload = NULL;
	const char *online = "online", *offline = "offline", *status = NULL;
	const char *away = NULL;
	switch (d->convention) {
	case MXB_CONVENTION_TASMOTA:
		avail = "tele/+/LWT";
		state = "stat/+/POWER";
		command = "cmnd/{{name}}/POWER";
		online = "Online";
		offline = "Offline";
		away = "OFF";
		break;
	case MXB_CONVENTION_ZIGBEE2MQTT:
		avail = "zigbee2mqtt/+/availability";
		state = "zigbee2mqtt/+";
		command = "zigbee2mqtt/{{name}}/set";
		payload = "{\"state\": \"{{body}}\"}";
		status = "{{json.state|}}";
		break;
	case MXB_CONVENTION_HOMEASSISTANT:
		avail = "homeassistant/+/availability";
		state = "homeassistant/+/state";
		command = "homeassistant/{{name}}/set";
		break;
	case MXB_CONVENTION_NONE:
		break;
	}
	default_str(c, &d->availability, avail);
	default_str(c, &d->state, state);
	default_str(c, &d->online, online);
	default_str(c, &d->offline, offline);
	if (command && !d->command) {
		set_default_template(c, &d->command, &d->command_tmpl, command);
	}
	set_default_template(c, &d->name, &d->name_tmpl, "{{topic.2}}");
	set_default_template(c, &d->status, &d->status_tmpl, status ? status : "{{payload}}");
	set_default_template(c, &d->show, &d->show_tmpl, "{{payload}}");
	set_default_template(
		c, &d->command_payload, &d->command_payload_tmpl, payload ? payload : "{{body}}");
	set_default_template(c, &d->friendly, &d->friendly_tmpl, "{{name}}");
	if (away && d->away.len == 0 && d->xa.len == 0 && d->dnd.len == 0 &&
		mxb_strlist_push(&d->away, away) < 0)
		c->oom = true;
}

static void parse_device(struct ctx *c, const config_setting_t *g, void *elem)
{
	struct mxb_device_rule *d = elem;
	d->line = (int)config_setting_source_line(g);
	const config_setting_t *allow = NULL;
	d->qos = 1;
	d->timeout = 10;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *k = config_setting_name(s);
		int v;
		if (strcmp(k, "convention") == 0) {
			if (get_enum(c, s, convention_names, COUNT(convention_names),
				    "none, tasmota, zigbee2mqtt or homeassistant", &v))
				d->convention = (enum mxb_convention)v;
		} else if (strcmp(k, "availability") == 0 || strcmp(k, "state") == 0) {
			char **f = k[0] == 'a' ? &d->availability : &d->state;
			if (get_string(c, s, MXB_TOPIC_MAX, true, f) && !mxb_topic_filter_valid(*f))
				err(c, s, "invalid topic filter '%s' in '%s'", *f, k);
		} else if (strcmp(k, "name") == 0) {
			get_template(c, s, &d->name, &d->name_tmpl);
		} else if (strcmp(k, "online") == 0) {
			get_string(c, s, STATUS_MAX, true, &d->online);
		} else if (strcmp(k, "offline") == 0) {
			get_string(c, s, STATUS_MAX, true, &d->offline);
		} else if (strcmp(k, "status") == 0) {
			get_template(c, s, &d->status, &d->status_tmpl);
		} else if (strcmp(k, "show") == 0) {
			get_template(c, s, &d->show, &d->show_tmpl);
		} else if (strcmp(k, "away") == 0 || strcmp(k, "xa") == 0 ||
			   strcmp(k, "dnd") == 0) {
			struct mxb_strlist *l = k[0] == 'a'   ? &d->away
						: k[0] == 'x' ? &d->xa
							      : &d->dnd;
			get_plain_strlist(c, s, l);
		} else if (strcmp(k, "command") == 0) {
			get_template(c, s, &d->command, &d->command_tmpl);
		} else if (strcmp(k, "command_payload") == 0) {
			get_template(c, s, &d->command_payload, &d->command_payload_tmpl);
		} else if (strcmp(k, "friendly") == 0) {
			get_template(c, s, &d->friendly, &d->friendly_tmpl);
		} else if (strcmp(k, "allow") == 0) {
			allow = s;
			get_strlist(c, s, LIST_SENDERS, &d->allow);
		} else if (strcmp(k, "qos") == 0) {
			get_int_field(c, s, 0, 2, &d->qos);
		} else if (strcmp(k, "timeout") == 0) {
			get_int_field(c, s, 1, 3600, &d->timeout);
		} else {
			unknown_key(c, s, "a 'devices' entry");
		}
	}
	if (!allow)
		err(c, g,
			"missing 'allow' in a 'devices' entry (who may see and command the "
			"devices)");
	apply_convention(c, d);
	if (!d->availability && !d->state)
		err(c, g, "a 'devices' entry needs 'availability', 'state' or a 'convention'");
}

static void parse_root(struct ctx *c, const config_setting_t *root, struct mxb_config *cfg)
{
	bool xmpp = false, mqtt = false;
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *k = config_setting_name(s);
		if (strcmp(k, "bridge") == 0) {
			if (get_group(c, s))
				parse_bridge(c, s, cfg);
		} else if (strcmp(k, "xmpp") == 0) {
			xmpp = true;
			if (get_group(c, s))
				parse_xmpp(c, s, cfg);
		} else if (strcmp(k, "mqtt") == 0) {
			mqtt = true;
			if (get_group(c, s))
				parse_mqtt(c, s, cfg);
		} else if (strcmp(k, "notify") == 0) {
			cfg->notify = parse_groups(
				c, s, sizeof(*cfg->notify), &cfg->notify_len, parse_notify_route);
		} else if (strcmp(k, "commands") == 0) {
			cfg->commands = parse_groups(c, s, sizeof(*cfg->commands),
				&cfg->commands_len, parse_command_route);
		} else if (strcmp(k, "devices") == 0) {
			cfg->devices = parse_groups(
				c, s, sizeof(*cfg->devices), &cfg->devices_len, parse_device);
		} else {
			unknown_key(c, s, NULL);
		}
	}
	if (!xmpp)
		err(c, root, "missing group 'xmpp'");
	if (!mqtt)
		cfg->mqtt.port = 1883;
}

static bool default_string(char **field, const char *value)
{
	if (*field)
		return true;
	*field = strdup(value);
	return *field != NULL;
}

static const struct mxb_room *find_room(const struct mxb_config *cfg, const char *jid)
{
	for (size_t i = 0; i < cfg->xmpp.rooms_len; i++) {
		if (cfg->xmpp.rooms[i].jid && mxb_jid_bare_equal(cfg->xmpp.rooms[i].jid, jid))
			return &cfg->xmpp.rooms[i];
	}
	return NULL;
}

/* Checks that span groups: rooms named by routes, and the bridge's nick in them. */
static void cross_check(struct ctx *c, struct mxb_config *cfg)
{
	/* NULL: the main file, where routes and groups start. */
	const char *file = NULL;
	/* Only a component-only config lacks a jid on purpose; otherwise that was reported. */
	if (!cfg->xmpp.jid && cfg->xmpp.component.domain) {
		if (cfg->notify_len)

			error_at(c, file, (unsigned)cfg->notify[0].line,
				"'notify' needs an XMPP account: set xmpp.jid");
		if (cfg->commands_len)
			error_at(c, file, (unsigned)cfg->commands[0].line,
				"'commands' needs an XMPP account: set xmpp.jid");
		if (cfg->xmpp.rooms_len)
			error_at(c, file, (unsigned)cfg->xmpp.rooms[0].line,
				"'rooms' needs an XMPP account: set xmpp.jid");
	}
	if (cfg->devices_len && !cfg->xmpp.component.domain)
		error_at(c, file, (unsigned)cfg->devices[0].line,
			"'devices' need a component: set xmpp.component");
	if (!default_string(&cfg->xmpp.component.host, "localhost"))
		c->oom = true;
	if (!cfg->xmpp.component.port)
		cfg->xmpp.component.port = 5347;
	for (size_t i = 0; i < cfg->xmpp.rooms_len; i++) {
		struct mxb_room *room = &cfg->xmpp.rooms[i];
		if (!room->nick && cfg->xmpp.jid && room->jid) {
			const char *at = strchr(cfg->xmpp.jid, '@');
			room->nick = at ? strndup(cfg->xmpp.jid, (size_t)(at - cfg->xmpp.jid))
					: strdup("bridge");
			if (!room->nick)
				c->oom = true;
		}
	}
	for (size_t i = 0; i < cfg->notify_len; i++) {
		const struct mxb_notify_route *r = &cfg->notify[i];
		for (size_t t = 0; t < r->to.len; t++) {
			if (r->type == MXB_MESSAGE_GROUPCHAT && !find_room(cfg, r->to.v[t]))
				error_at(c, file, (unsigned)r->line,
					"'%s' is not a room of 'xmpp.rooms', but the route's type "
					"is groupchat",
					r->to.v[t]);
		}
	}
	for (size_t i = 0; i < cfg->commands_len; i++) {
		struct mxb_command_route *r = &cfg->commands[i];
		/* Rooms move to their own list: an occupant is never taken for a direct sender. */
		size_t kept = 0;
		for (size_t f = 0; f < r->from.len; f++) {
			if (find_room(cfg, r->from.v[f])) {
				if (mxb_strlist_push(&r->rooms, r->from.v[f]) < 0)
					c->oom = true;
				free(r->from.v[f]);
			} else {
				r->from.v[kept++] = r->from.v[f];
			}
		}
		r->from.len = kept;
		if (r->from.v)
			r->from.v[kept] = NULL;
		bool rooms = r->rooms.len > 0;

		if (rooms && !r->has_role && !r->has_affiliation)
			error_at(c, file, (unsigned)r->line,
				"a 'commands' route that names a room needs 'role' or "
				"'affiliation'");
		if (!rooms && (r->has_role || r->has_affiliation))
			error_at(c, file, (unsigned)r->line,
				"'role' and 'affiliation' need a room of 'xmpp.rooms' in 'from'");
	}
}

static void set_defaults(struct mxb_config *cfg)
{
	cfg->bridge.log_level = MXB_LOG_INFO;
	cfg->bridge.queue_size = 1000;
	cfg->bridge.max_payload = 4096;
	cfg->bridge.max_message = 8192;
	cfg->bridge.bad_text = MXB_BAD_TEXT_REPLACE;
	cfg->max_devices = 10000;
	cfg->xmpp.tls = MXB_XMPP_TLS_STARTTLS;
	cfg->xmpp.reconnect_max = 60;
	cfg->xmpp.ping_interval = 30;
	cfg->xmpp.ping_timeout = 15;
	cfg->mqtt.version = 5;
	cfg->mqtt.keepalive = 30;
	cfg->mqtt.reconnect_max = 60;
	cfg->mqtt.session_expiry = 3600;
}

/* libconfig's parse error, with the name of an @include file it could not open. */
static void parse_error(struct ctx *c, const config_t *lc)
{
	const char *text = config_error_text(lc);
	unsigned line = (unsigned)config_error_line(lc);
	const char *raw = config_error_file(lc);
	char *file = display_file(c, raw);
	if (!file) {
		add_error(c, NULL);
		return;
	}
	char *src = text && strcmp(text, "cannot open include file") == 0 ? read_line(file, line)
									  : NULL;
	const char *name = src ? strstr(src, "@include") : NULL;
	if (name)
		name = strchr(name, '"');
	char *end = name ? strchr(name + 1, '"') : NULL;
	if (end) {
		*end = '\0';
		name++;
		/* libconfig 1.5 puts the include directory in front of absolute names too */
		if (name[0] == '/')
			error_at(c, raw, line,
				"cannot open include file '%s' (@include paths are relative to "
				"the directory of the main file)",
				name);
		else
			error_at(c, raw, line, "cannot open include file '%.*s%s'",
				(int)c->prefix_len, c->path, name);
	} else {
		error_at(c, raw, line, "%s", text ? text : "parse error");
	}
	free(src);
	free(file);
}

/* A regular file opened as a stream, or NULL with *err (if given) set to a -errno. */
static FILE *open_stream(const char *path, int *err)
{
	int fd = mxb_file_open(path);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (!f && err)
		*err = fd < 0 ? fd : -errno;
	if (!f && fd >= 0)
		close(fd);
	return f;
}

/*
 * libconfig 1.5 exits the process when an @include names a directory (its scanner cannot
 * read it): check every include target, recursively, before libconfig sees the file.
 * file is NULL for the main file, else the name as libconfig records it.
 */
struct include_walk {
	dev_t dev[INCLUDE_DEPTH_MAX + 1];
	ino_t ino[INCLUDE_DEPTH_MAX + 1];
	int depth;
	int files; /* visited, bounded: each file may include several */
};

static bool includes_readable(struct ctx *c, const char *file, struct include_walk *w)
{
	char *path = display_file(c, file);
	FILE *f = path ? open_stream(path, NULL) : NULL;
	free(path);
	if (!f)
		return true; /* libconfig reports what cannot be opened */
	struct stat self;
	if (fstat(fileno(f), &self) < 0 || w->depth > INCLUDE_DEPTH_MAX ||
		++w->files > INCLUDE_FILES_MAX) {
		fclose(f);
		return true;
	}
	w->dev[w->depth] = self.st_dev;
	w->ino[w->depth] = self.st_ino;
	bool ok = true;
	char buf[4096];
	unsigned line = 0;
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		const char *p = buf;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "@include", 8) != 0)
			continue;
		const char *q = strchr(p + 8, '"');
		const char *e = q ? strchr(q + 1, '"') : NULL;
		if (!e)
			continue;
		/* libconfig joins the include directory to every name, absolute or not. */
		char *name = format("%.*s", (int)(e - q - 1), q + 1);
		char *target = name ? format("%s/%s", c->dir, name) : NULL;
		struct stat st;
		bool exists = target && stat(target, &st) == 0;
		bool cycle = false;
		for (int i = 0; exists && i <= w->depth; i++)
			cycle = cycle || (st.st_dev == w->dev[i] && st.st_ino == w->ino[i]);
		if (exists && !S_ISREG(st.st_mode)) {
			error_at(c, file, line, "cannot include '%s': not a regular file", name);
			ok = false;
		} else if (cycle) {
			/* libconfig would parse it again and again, each copy including more. */
			error_at(c, file, line, "cannot include '%s': it includes this file", name);
			ok = false;
		} else if (exists && w->depth < INCLUDE_DEPTH_MAX) {
			w->depth++;
			if (!includes_readable(c, name, w))
				ok = false;
			w->depth--;
		}
		free(name);
		free(target);
	}
	fclose(f);
	return ok;
}

int mxb_config_load(struct mxb_config *cfg, const char *path, struct mxb_strlist *errors)
{
	memset(cfg, 0, sizeof(*cfg));
	set_defaults(cfg);
	struct ctx c = {.path = path, .errors = errors};

	const char *slash = strrchr(path, '/');
	c.prefix_len = slash ? (size_t)(slash - path) + 1 : 0;
	if (!slash)
		c.dir = strdup(".");
	else if (slash == path)
		c.dir = strdup("/");
	else
		c.dir = format("%.*s", (int)(slash - path), path);
	cfg->path = strdup(path);
	if (!c.dir || !cfg->path) {
		c.oom = true;
		goto out;
	}

	/* Opened here rather than by libconfig, which loses errno and would block on a FIFO. */
	int open_err;
	FILE *f = open_stream(path, &open_err);
	if (!f) {
		add_error(&c, format("%s: cannot open: %s", path, mxb_file_strerror(open_err)));
		goto out;
	}

	config_t lc;
	config_init(&lc);
	/* libconfig resolves @include against the working directory otherwise */
	config_set_include_dir(&lc, c.dir);
	struct include_walk walk = {0};
	if (!includes_readable(&c, NULL, &walk)) {
		/* reported */
	} else if (!config_read(&lc, f)) {
		parse_error(&c, &lc);
	} else {
		parse_root(&c, config_root_setting(&lc), cfg);
		cross_check(&c, cfg);
		for (size_t i = 0; i < cfg->notify_len && !c.oom; i++) {
			if (!default_string(&cfg->notify[i].fallback, ""))
				c.oom = true;
		}
		if (!default_string(&cfg->xmpp.status, "") ||
			!default_string(&cfg->mqtt.host, DEFAULT_MQTT_HOST) ||
			!default_string(&cfg->mqtt.client_id, DEFAULT_CLIENT_ID) ||
			!default_string(&cfg->mqtt.status_topic, DEFAULT_STATUS_TOPIC))
			c.oom = true;
	}
	config_destroy(&lc);
	fclose(f);

out:
	free(c.dir);
	if (c.oom) {
		mxb_config_finish(cfg);
		return -ENOMEM;
	}
	if (c.error_count > 0) {
		mxb_config_finish(cfg);
		return -EINVAL;
	}
	return 0;
}

void mxb_config_finish(struct mxb_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);

	free(cfg->bridge.spool);
	free(cfg->xmpp.jid);
	wipe_free(cfg->xmpp.password);
	free(cfg->xmpp.host);
	free(cfg->xmpp.ca_file);
	free(cfg->xmpp.client_cert);
	free(cfg->xmpp.client_key);
	free(cfg->xmpp.status);
	for (size_t i = 0; cfg->xmpp.rooms && i < cfg->xmpp.rooms_len; i++) {
		free(cfg->xmpp.rooms[i].jid);
		free(cfg->xmpp.rooms[i].nick);
		wipe_free(cfg->xmpp.rooms[i].password);
	}
	free(cfg->xmpp.rooms);
	free(cfg->xmpp.presence_topic);
	free(cfg->xmpp.component.domain);
	wipe_free(cfg->xmpp.component.secret);
	free(cfg->xmpp.component.host);
	for (size_t i = 0; cfg->devices && i < cfg->devices_len; i++) {
		struct mxb_device_rule *d = &cfg->devices[i];
		char *strs[] = {d->availability, d->state, d->name, d->online, d->offline,
			d->status, d->show, d->command, d->command_payload, d->friendly};
		for (size_t j = 0; j < COUNT(strs); j++)
			free(strs[j]);
		struct mxb_template *t[] = {d->name_tmpl, d->status_tmpl, d->show_tmpl,
			d->command_tmpl, d->command_payload_tmpl, d->friendly_tmpl};
		for (size_t j = 0; j < COUNT(t); j++)
			mxb_template_destroy(t[j]);
		mxb_strlist_finish(&d->away);
		mxb_strlist_finish(&d->xa);
		mxb_strlist_finish(&d->dnd);
		mxb_strlist_finish(&d->allow);
	}
	free(cfg->devices);

	free(cfg->mqtt.host);
	free(cfg->mqtt.client_id);
	free(cfg->mqtt.username);
	wipe_free(cfg->mqtt.password);
	free(cfg->mqtt.status_topic);
	free(cfg->mqtt.ca_file);
	free(cfg->mqtt.cert_file);
	free(cfg->mqtt.key_file);

	for (size_t i = 0; cfg->notify && i < cfg->notify_len; i++) {
		struct mxb_notify_route *r = &cfg->notify[i];
		free(r->topic);
		mxb_strlist_finish(&r->to);
		free(r->message);
		free(r->fallback);
		if (r->tmpl)
			mxb_template_destroy(r->tmpl);
	}
	free(cfg->notify);
	for (size_t i = 0; cfg->commands && i < cfg->commands_len; i++) {
		struct mxb_command_route *r = &cfg->commands[i];
		mxb_strlist_finish(&r->from);
		mxb_strlist_finish(&r->rooms);
		mxb_strlist_finish(&r->allow);

		free(r->command);
		free(r->topic);
		free(r->payload);
		mxb_template_destroy(r->topic_tmpl);
		mxb_template_destroy(r->payload_tmpl);
	}
	free(cfg->commands);

	memset(cfg, 0, sizeof(*cfg));
}

static const char *name_of(const char *const *names, size_t count, unsigned i)
{
	return i < count ? names[i] : "?";
}

static void print_opt(FILE *out, const char *key, const char *value, const char *unset)
{
	if (value)
		fprintf(out, "%s: '%s'\n", key, value);
	else
		fprintf(out, "%s: %s\n", key, unset);
}

static void print_list(FILE *out, const struct mxb_strlist *list)
{
	for (size_t i = 0; i < list->len; i++)
		fprintf(out, "%s'%s'", i ? ", " : "", list->v[i]);
}

void mxb_config_print(const struct mxb_config *cfg, FILE *out)
{
	fprintf(out, "config: '%s'\n", cfg->path ? cfg->path : "");

	fprintf(out, "bridge.log_level: %s\n",
		name_of(log_level_names, COUNT(log_level_names), cfg->bridge.log_level));
	fprintf(out, "bridge.queue_size: %zu\n", cfg->bridge.queue_size);
	fprintf(out, "bridge.max_payload: %zu\n", cfg->bridge.max_payload);
	fprintf(out, "bridge.max_message: %zu\n", cfg->bridge.max_message);
	fprintf(out, "bridge.bad_text: %s\n",
		name_of(bad_text_names, COUNT(bad_text_names), cfg->bridge.bad_text));

	print_opt(out, "xmpp.jid", cfg->xmpp.jid, "(none)");
	fprintf(out, "xmpp.password: %s\n", cfg->xmpp.password ? "(set)" : "(none)");
	print_opt(out, "xmpp.host", cfg->xmpp.host, "(the JID's domain, SRV first)");
	if (cfg->xmpp.port)
		fprintf(out, "xmpp.port: %d\n", cfg->xmpp.port);
	else
		fprintf(out, "xmpp.port: (default: %d)\n",
			cfg->xmpp.tls == MXB_XMPP_TLS_DIRECT ? 5223 : 5222);
	fprintf(out, "xmpp.tls: %s\n",
		name_of(xmpp_tls_names, COUNT(xmpp_tls_names), cfg->xmpp.tls));
	print_opt(out, "xmpp.ca_file", cfg->xmpp.ca_file, "(system store)");
	print_opt(out, "xmpp.client_cert", cfg->xmpp.client_cert, "(none)");
	print_opt(out, "xmpp.client_key", cfg->xmpp.client_key, "(none)");
	print_opt(out, "xmpp.status", cfg->xmpp.status, "(none)");
	fprintf(out, "xmpp.reconnect_max: %d\n", cfg->xmpp.reconnect_max);
	fprintf(out, "xmpp.ping_interval: %d, ping_timeout: %d\n", cfg->xmpp.ping_interval,
		cfg->xmpp.ping_timeout);

	print_opt(out, "mqtt.host", cfg->mqtt.host, "(none)");
	fprintf(out, "mqtt.port: %d\n", cfg->mqtt.port);
	fprintf(out, "mqtt.version: %s\n", cfg->mqtt.version == 3 ? "3 (3.1.1)" : "5");
	print_opt(out, "mqtt.client_id", cfg->mqtt.client_id, "(none)");
	print_opt(out, "mqtt.username", cfg->mqtt.username, "(none)");
	fprintf(out, "mqtt.password: %s\n", cfg->mqtt.password ? "(set)" : "(none)");
	fprintf(out, "mqtt.keepalive: %d\n", cfg->mqtt.keepalive);
	if (cfg->mqtt.status_topic && *cfg->mqtt.status_topic)
		fprintf(out, "mqtt.status_topic: '%s'\n", cfg->mqtt.status_topic);
	else
		fprintf(out, "mqtt.status_topic: (disabled)\n");
	fprintf(out, "mqtt.reconnect_max: %d\n", cfg->mqtt.reconnect_max);
	fprintf(out, "mqtt.session_expiry: %d\n", cfg->mqtt.session_expiry);
	fprintf(out, "mqtt.tls: %s\n", cfg->mqtt.tls ? "on" : "off");
	if (cfg->mqtt.tls) {
		print_opt(out, "mqtt.tls.ca_file", cfg->mqtt.ca_file, "(system store)");
		print_opt(out, "mqtt.tls.cert_file", cfg->mqtt.cert_file, "(none)");
		print_opt(out, "mqtt.tls.key_file", cfg->mqtt.key_file, "(none)");
	}

	print_opt(out, "bridge.spool", cfg->bridge.spool, "(none: held messages live in memory)");
	fprintf(out, "xmpp.rooms: %zu\n", cfg->xmpp.rooms_len);
	for (size_t i = 0; i < cfg->xmpp.rooms_len; i++)
		fprintf(out, "  line %d: '%s' as '%s'%s\n", cfg->xmpp.rooms[i].line,
			cfg->xmpp.rooms[i].jid, cfg->xmpp.rooms[i].nick,
			cfg->xmpp.rooms[i].password ? " (password set)" : "");
	fprintf(out, "notify: %zu route%s\n", cfg->notify_len, cfg->notify_len == 1 ? "" : "s");
	for (size_t i = 0; i < cfg->notify_len; i++) {
		const struct mxb_notify_route *r = &cfg->notify[i];
		fprintf(out, "  line %d: '%s' (qos %d) -> ", r->line, r->topic ? r->topic : "",
			r->qos);
		print_list(out, &r->to);
		fprintf(out, " (%s)\n    message: '%s'\n",
			name_of(message_type_names, COUNT(message_type_names), r->type),
			r->message ? r->message : "");
		if (r->retained || r->min_interval || r->only_changes || r->max_payload ||
			r->binary != MXB_BINARY_TEXT)
			fprintf(out,
				"    retained %s, min_interval %d, only_changes %s, binary %s, "
				"max_payload %zu\n",
				r->retained ? "true" : "false", r->min_interval,
				r->only_changes ? "true" : "false",
				name_of(binary_names, COUNT(binary_names), r->binary),
				r->max_payload ? r->max_payload : cfg->bridge.max_payload);
	}
	if (cfg->xmpp.presence_topic)
		fprintf(out, "xmpp.presence_topic: '%s' (%s)\n", cfg->xmpp.presence_topic,
			cfg->xmpp.presence_json ? "json" : "show");
	if (cfg->xmpp.component.domain)
		fprintf(out, "xmpp.component: '%s' at %s:%d, secret (set)\n",
			cfg->xmpp.component.domain, cfg->xmpp.component.host,
			cfg->xmpp.component.port);
	fprintf(out, "devices: %zu rule%s (at most %zu devices)\n", cfg->devices_len,
		cfg->devices_len == 1 ? "" : "s", cfg->max_devices);
	for (size_t i = 0; i < cfg->devices_len; i++) {
		const struct mxb_device_rule *d = &cfg->devices[i];
		fprintf(out,
			"  line %d: %s, name '%s', availability '%s' (%s/%s), state '%s', "
			"command '%s', allow ",
			d->line, convention_names[d->convention], d->name,
			d->availability ? d->availability : "", d->online, d->offline,
			d->state ? d->state : "", d->command ? d->command : "");
		print_list(out, &d->allow);
		fprintf(out, "\n");
	}
	fprintf(out, "commands: %zu route%s\n", cfg->commands_len,
		cfg->commands_len == 1 ? "" : "s");
	for (size_t i = 0; i < cfg->commands_len; i++) {
		const struct mxb_command_route *r = &cfg->commands[i];
		fprintf(out, "  line %d: from ", r->line);
		print_list(out, &r->from);
		if (r->rooms.len) {
			fprintf(out, "%srooms ", r->from.len ? ", " : "");
			print_list(out, &r->rooms);
		}

		if (r->has_role)
			fprintf(out, " (role %s or higher)",
				name_of(role_names, COUNT(role_names), r->role));
		if (r->has_affiliation)
			fprintf(out, " (affiliation %s or higher)",
				name_of(affiliation_names, COUNT(affiliation_names),
					r->affiliation));
		if (r->command)
			fprintf(out, " command '%s' -> topic '%s' payload '%s'", r->command,
				r->topic, r->payload);
		if (r->allow.len) {
			fprintf(out, " may publish to ");
			print_list(out, &r->allow);
		}
		fprintf(out, " (qos %d, retain %s)\n", r->qos, r->retain ? "true" : "false");
	}
}
