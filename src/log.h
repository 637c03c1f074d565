#ifndef MXB_LOG_H
#define MXB_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum mxb_log_level {
	MXB_LOG_ERROR = 0,
	MXB_LOG_WARN = 1,
	MXB_LOG_INFO = 2,
	MXB_LOG_DEBUG = 3,
};

#define MXB_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* The only global besides the signal state: read by every module. */
extern enum mxb_log_level mxb_log_level;

/*
 * Logs go to stderr, one line each. Under journald (JOURNAL_STREAM names the device and
 * inode of stderr) every line starts with a <N> priority prefix so the journal keeps the
 * levels, and no time: the journal adds its own. On a terminal every line starts with the
 * local time, "YYYY-MM-DD HH:MM:SS.mmm ". Decided once, here.
 */
void mxb_log_init(enum mxb_log_level level);
void mxb_log(enum mxb_log_level level, const char *fmt, ...) MXB_PRINTF(2, 3);
void mxb_logv(enum mxb_log_level level, const char *fmt, va_list ap) MXB_PRINTF(2, 0);
/* Like mxb_log, with ": strerror(errno)" appended. */
void mxb_log_errno(enum mxb_log_level level, const char *fmt, ...) MXB_PRINTF(2, 3);
/*
 * Copies src[0..len) to dst (cap bytes, NUL-terminated) with every character that could
 * end or rewrite a log line escaped: C0 and C1 controls, DEL, U+2028/2029, bidi controls
 * (as \n, \t, \r, \xNN or \uNNNN), and bytes that are not UTF-8 (\xNN). What does not
 * fit ends in "…". Returns the bytes written without the NUL.
 */
size_t mxb_log_escape(const char *src, size_t len, char *dst, size_t cap);
/* Parses "error", "warn", "info", "debug"; returns -1 when unknown. */
int mxb_log_level_parse(const char *name);
const char *mxb_log_level_name(enum mxb_log_level level);

#define mxb_log_error(...) mxb_log(MXB_LOG_ERROR, __VA_ARGS__)
#define mxb_log_warn(...) mxb_log(MXB_LOG_WARN, __VA_ARGS__)
#define mxb_log_info(...) mxb_log(MXB_LOG_INFO, __VA_ARGS__)
#define mxb_log_debug(...)                                   \
	do {                                                 \
		if (mxb_log_level >= MXB_LOG_DEBUG)          \
			mxb_log(MXB_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
