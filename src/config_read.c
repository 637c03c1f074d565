#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_hint.h"
#include "config_read.h"
#include "file.h"

/* libconfig 1.5 nests at most 10 includes. */
#define INCLUDE_DEPTH_MAX 10
#define INCLUDE_FILES_MAX 256

/*
 * The file a setting or an error comes from, as the user can open it: the path as given
 * for the main file (libconfig records NULL when reading a stream), the name in @include
 * joined to the directory of the main file otherwise, as libconfig resolved it.
 */
static char *display_file(const struct mxb_conf_ctx *c, const char *name)
{
	if (!name)
		return strdup(c->path);
	if (name[0] == '/')
		return strdup(name);
	return mxb_conf_format("%.*s%s", (int)c->prefix_len, c->path, name);
}

/* An error at a file as libconfig names it (NULL: the main file). */
static void error_in(struct mxb_conf_ctx *c, const char *raw, unsigned line, const char *fmt, ...)
	MXB_PRINTF(4, 5);
static void error_in(struct mxb_conf_ctx *c, const char *raw, unsigned line, const char *fmt, ...)
{
	char *file = display_file(c, raw);
	va_list ap;
	va_start(ap, fmt);
	char *msg = file ? mxb_conf_vformat(fmt, ap) : NULL;
	va_end(ap);
	if (msg)
		mxb_conf_error(c, file, line, "%s", msg);
	else
		mxb_conf_error_oom(c);
	free(msg);
	free(file);
}

/*
 * Reads lines of the files again, forward: the settings come in file order, so reading on
 * from the last line keeps checking every integer of a file linear in its size. Only
 * regular files are read again: a FIFO given as the config would block the second time.
 */
struct lines {
	const char *file; /* the display name, interned in the tree */
	FILE *f;
	unsigned at; /* the number of the line in buf, 0: none yet */
	char *buf;
	size_t cap;
};

static void lines_finish(struct lines *l)
{
	if (l->f)
		fclose(l->f);
	free(l->buf);
	*l = (struct lines){0};
}

/* Line n (from 1) of file without its newline, valid until the next call, or NULL. */
static const char *line_of(struct lines *l, const char *file, unsigned n)
{
	if (l->file != file || n < l->at || !l->f) {
		if (l->f)
			fclose(l->f);
		int fd = mxb_file_open(file);
		l->f = fd >= 0 ? fdopen(fd, "r") : NULL;
		if (!l->f && fd >= 0)
			close(fd);
		l->file = file;
		l->at = 0;
		if (!l->f)
			return NULL;
	}
	while (l->at < n) {
		if (getline(&l->buf, &l->cap, l->f) < 0) {
			l->at = 0;
			fclose(l->f);
			l->f = NULL;
			return NULL;
		}
		l->buf[strcspn(l->buf, "\r\n")] = '\0';
		l->at++;
	}
	return l->buf;
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
 * wrapped around. Reads the literal back from the setting's line: false only when
 * "name = literal" is there and none of them says value.
 */
static bool literal_matches(
	struct lines *l, const char *file, unsigned line_no, const char *name, long long value)
{
	const char *line = line_of(l, file, line_no);
	if (!line)
		return true;
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
	return !found || match;
}

static FILE *open_stream(const char *path, int *err);

/* Config files are small; a bigger one gets libconfig's words alone. */
#define HINT_FILE_MAX (1024 * 1024)
#define HINT_MAX 160

/* What the usual mistake at line of file is, into hint (HINT_MAX bytes): true if one is. */
static bool syntax_hint(const char *file, unsigned line, char *hint)
{
	FILE *f = open_stream(file, NULL);
	if (!f)
		return false;
	char *text = malloc(HINT_FILE_MAX);
	size_t len = text ? fread(text, 1, HINT_FILE_MAX, f) : 0;
	bool whole = text && len < HINT_FILE_MAX && !ferror(f);
	fclose(f);
	bool found = whole && mxb_conf_syntax_hint(text, len, line, hint, HINT_MAX);
	free(text);
	return found;
}

/* libconfig's parse error, with the name of an @include file it could not open. */
static void parse_error(struct mxb_conf_ctx *c, const config_t *lc)
{
	const char *text = config_error_text(lc);
	unsigned line = (unsigned)config_error_line(lc);
	const char *raw = config_error_file(lc);
	char *file = display_file(c, raw);
	if (!file) {
		mxb_conf_error_oom(c);
		return;
	}
	struct lines l = {0};
	char hint[HINT_MAX];
	const char *src = text && strcmp(text, "cannot open include file") == 0
				  ? line_of(&l, file, line)
				  : NULL;
	const char *name = src ? strstr(src, "@include") : NULL;
	if (name)
		name = strchr(name, '"');
	const char *end = name ? strchr(name + 1, '"') : NULL;
	if (end) {
		int len = (int)(end - name - 1);
		name++;
		/* libconfig 1.5 puts the include directory in front of absolute names too */
		if (name[0] == '/')
			mxb_conf_error(c, file, line,
				"cannot open include file '%.*s' (@include paths are relative to "
				"the directory of the main file)",
				len, name);
		else
			mxb_conf_error(c, file, line, "cannot open include file '%.*s%.*s'",
				(int)c->prefix_len, c->path, len, name);
	} else if (text && strcmp(text, "syntax error") == 0 && syntax_hint(file, line, hint)) {
		mxb_conf_error(c, file, line, "syntax error (%s)", hint);
	} else {
		mxb_conf_error(c, file, line, "%s", text ? text : "parse error");
	}
	lines_finish(&l);
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

/* One @include line: false when it names something libconfig must not open. */
static bool include_readable(struct mxb_conf_ctx *c, const char *file, unsigned line,
	const char *name, struct include_walk *w);

static bool includes_readable(struct mxb_conf_ctx *c, const char *file, struct include_walk *w)
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
		char *name = mxb_conf_format("%.*s", (int)(e - q - 1), q + 1);
		if (!name) {
			c->oom = true;
			break;
		}
		if (!include_readable(c, file, line, name, w))
			ok = false;
		free(name);
	}
	fclose(f);
	return ok;
}

static bool include_readable(struct mxb_conf_ctx *c, const char *file, unsigned line,
	const char *name, struct include_walk *w)
{
	/* libconfig joins the include directory to every name, absolute or not. */
	char *target = mxb_conf_format("%s/%s", c->dir, name);
	struct stat st;
	if (!target || stat(target, &st) != 0) {
		free(target);
		return true; /* libconfig reports what cannot be opened */
	}
	free(target);
	if (!S_ISREG(st.st_mode)) {
		error_in(c, file, line, "cannot include '%s': not a regular file", name);
		return false;
	}
	for (int i = 0; i <= w->depth; i++) {
		if (st.st_dev == w->dev[i] && st.st_ino == w->ino[i]) {
			/* libconfig would parse it again and again, each copy including more. */
			error_in(c, file, line, "cannot include '%s': it includes this file", name);
			return false;
		}
	}
	if (w->depth >= INCLUDE_DEPTH_MAX)
		return true;
	w->depth++;
	bool ok = includes_readable(c, name, w);
	w->depth--;
	return ok;
}

/* The display name of libconfig's file name raw, made once per file and kept in tree. */
static const char *tree_file(struct mxb_conf_ctx *c, struct mxb_conf_tree *tree, const char *raw)
{
	for (size_t i = 0; i < tree->files_len; i++) {
		if (tree->sources[i] == raw)
			return tree->files[i];
	}
	char **files = realloc(tree->files, (tree->files_len + 1) * sizeof(*files));
	if (files)
		tree->files = files;
	const char **sources = realloc(tree->sources, (tree->files_len + 1) * sizeof(*sources));
	if (sources)
		tree->sources = sources;
	char *name = files && sources ? display_file(c, raw) : NULL;
	if (!name)
		return NULL;
	tree->files[tree->files_len] = name;
	tree->sources[tree->files_len++] = raw;
	return name;
}

static enum mxb_conf_type type_of(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return MXB_CONF_GROUP;
	case CONFIG_TYPE_LIST:
		return MXB_CONF_LIST;
	case CONFIG_TYPE_ARRAY:
		return MXB_CONF_ARRAY;
	case CONFIG_TYPE_STRING:
		return MXB_CONF_STRING;
	case CONFIG_TYPE_INT:
		return MXB_CONF_INT;
	case CONFIG_TYPE_INT64:
		return MXB_CONF_INT64;
	case CONFIG_TYPE_BOOL:
		return MXB_CONF_BOOL;
	}
	/* floats, and anything a later libconfig adds: a type no key takes */
	return MXB_CONF_FLOAT;
}

/* Copies setting s into n, so that nothing of libconfig outlives config_destroy. */
static int copy_setting(struct mxb_conf_ctx *c, struct mxb_conf_tree *tree, struct lines *l,
	const config_setting_t *s, struct mxb_conf_node *n)
{
	const char *name = config_setting_name(s);
	int type = config_setting_type(s);
	n->type = type_of(type);
	n->line = config_setting_source_line(s);
	n->file = tree_file(c, tree, config_setting_source_file(s));
	if (!n->file || (name && !(n->name = strdup(name))))
		return -ENOMEM;
	switch (type) {
	case CONFIG_TYPE_STRING:
		n->str = strdup(config_setting_get_string(s));
		return n->str ? 0 : -ENOMEM;
	case CONFIG_TYPE_INT:
		n->integer = config_setting_get_int(s);
		/* Only a named setting can be found again on its line. */
		n->wrapped = name && !literal_matches(l, n->file, n->line, name, n->integer);
		return 0;
	case CONFIG_TYPE_INT64:
		n->integer = config_setting_get_int64(s);
		return 0;
	case CONFIG_TYPE_BOOL:
		n->integer = config_setting_get_bool(s);
		return 0;
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		break;
	default:
		return 0;
	}
	int len = config_setting_length(s);
	if (len <= 0)
		return 0;
	n->children = calloc((size_t)len, sizeof(*n->children));
	if (!n->children)
		return -ENOMEM;
	n->len = (size_t)len;
	for (int i = 0; i < len; i++) {
		int ret = copy_setting(
			c, tree, l, config_setting_get_elem(s, (unsigned)i), &n->children[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int mxb_conf_read(struct mxb_conf_ctx *c, struct mxb_conf_tree *tree)
{
	/* Opened here rather than by libconfig, which loses errno and would block on a FIFO. */
	int open_err;
	FILE *f = open_stream(c->path, &open_err);
	if (!f) {
		mxb_conf_error_plain(
			c, "%s: cannot open: %s", c->path, mxb_file_strerror(open_err));
		return c->oom ? -ENOMEM : -EINVAL;
	}
	int ret = 0;
	config_t lc;
	config_init(&lc);
	/* libconfig resolves @include against the working directory otherwise */
	config_set_include_dir(&lc, c->dir);
	struct include_walk walk = {0};
	if (!includes_readable(c, NULL, &walk)) {
		ret = -EINVAL;
	} else if (c->oom) {
		ret = -ENOMEM;
	} else if (!config_read(&lc, f)) {
		parse_error(c, &lc);
		ret = -EINVAL;
	} else {
		struct lines l = {0};
		ret = copy_setting(c, tree, &l, config_root_setting(&lc), &tree->root);
		lines_finish(&l);
	}
	config_destroy(&lc);
	fclose(f);
	if (ret == -ENOMEM)
		c->oom = true;
	return ret;
}

static void node_finish(struct mxb_conf_node *n)
{
	for (size_t i = 0; i < n->len; i++)
		node_finish(&n->children[i]);
	free(n->children);
	free((char *)n->name);
	free((char *)n->str);
}

void mxb_conf_tree_finish(struct mxb_conf_tree *tree)
{
	node_finish(&tree->root);
	for (size_t i = 0; i < tree->files_len; i++)
		free(tree->files[i]);
	free(tree->files);
	free(tree->sources);
	*tree = (struct mxb_conf_tree){0};
}
