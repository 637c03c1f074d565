/* Where the loader's errors go: "file:line: message" strings, counted. */

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_read.h"

char *mxb_conf_vformat(const char *fmt, va_list ap)
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

char *mxb_conf_format(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = mxb_conf_vformat(fmt, ap);
	va_end(ap);
	return s;
}

int mxb_conf_ctx_init(struct mxb_conf_ctx *c, const char *path, struct mxb_strlist *errors)
{
	*c = (struct mxb_conf_ctx){.path = path, .errors = errors};
	const char *slash = strrchr(path, '/');
	c->prefix_len = slash ? (size_t)(slash - path) + 1 : 0;
	if (!slash)
		c->dir = strdup(".");
	else if (slash == path)
		c->dir = strdup("/");
	else
		c->dir = mxb_conf_format("%.*s", (int)(slash - path), path);
	if (!c->dir) {
		c->oom = true;
		return -ENOMEM;
	}
	return 0;
}

void mxb_conf_ctx_finish(struct mxb_conf_ctx *c)
{
	free(c->dir);
	free(c->rooms_at);
	free(c->notify_at);
	free(c->commands_at);
	free(c->devices_at);
	free(c->pubsub_at);
	free(c->subscribe_at);
	c->pubsub_at = c->subscribe_at = NULL;
	c->dir = NULL;
	c->rooms_at = c->notify_at = c->commands_at = c->devices_at = NULL;
}

static void add_error(struct mxb_conf_ctx *c, char *msg)
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

static void verror(struct mxb_conf_ctx *c, const char *file, unsigned line, const char *fmt,
	va_list ap) MXB_PRINTF(4, 0);
static void verror(
	struct mxb_conf_ctx *c, const char *file, unsigned line, const char *fmt, va_list ap)
{
	char *msg = mxb_conf_vformat(fmt, ap);
	char *full = msg ? mxb_conf_format("%s:%u: %s", file, line ? line : 1, msg) : NULL;
	free(msg);
	add_error(c, full);
}

void mxb_conf_error(struct mxb_conf_ctx *c, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(c, file, line, fmt, ap);
	va_end(ap);
}

void mxb_conf_error_at(struct mxb_conf_ctx *c, const struct mxb_conf_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(c, n->file, n->line, fmt, ap);
	va_end(ap);
}

void mxb_conf_error_plain(struct mxb_conf_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_error(c, mxb_conf_vformat(fmt, ap));
	va_end(ap);
}

void mxb_conf_error_oom(struct mxb_conf_ctx *c)
{
	add_error(c, NULL);
}
