#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

enum mxb_log_level mxb_log_level = MXB_LOG_INFO;
static int journal;

static const char *const names[] = {"error", "warn", "info", "debug"};
/* syslog priorities for the journal's <N> prefix: err, warning, info, debug. */
static const int priorities[] = {3, 4, 6, 7};

void mxb_log_init(enum mxb_log_level level)
{
	mxb_log_level = level;
	journal = getenv("JOURNAL_STREAM") != NULL;
}

void mxb_logv(enum mxb_log_level level, const char *fmt, va_list ap)
{
	if (level > mxb_log_level)
		return;
	/* One buffer and one write per line, so lines from one process never interleave. */
	char line[2048];
	int n;
	if (journal)
		n = snprintf(line, sizeof(line), "<%d>", priorities[level]);
	else
		n = snprintf(line, sizeof(line), "%s: ", names[level]);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}

void mxb_log(enum mxb_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mxb_logv(level, fmt, ap);
	va_end(ap);
}

void mxb_log_errno(enum mxb_log_level level, const char *fmt, ...)
{
	int err = errno;
	char msg[1536];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mxb_log(level, "%s: %s", msg, strerror(err));
}

int mxb_log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i]) == 0)
			return (int)i;
	}
	return -1;
}

const char *mxb_log_level_name(enum mxb_log_level level)
{
	return names[level];
}
