#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum mxb_log_level mxb_log_level = MXB_LOG_INFO;
static bool journal;
static bool stamps;

static const char *const names[] = {"error", "warn", "info", "debug"};
/* syslog priorities for the journal's <N> prefix: err, warning, info, debug. */
static const int priorities[] = {3, 4, 6, 7};

/*
 * systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected; a child whose
 * stderr went elsewhere inherits the variable, so it counts only when stderr is that stream
 * (systemd.exec(5), "Environment variables in spawned processes").
 */
static bool on_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char end;
	struct stat st;
	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void mxb_log_init(enum mxb_log_level level)
{
	mxb_log_level = level;
	journal = on_journal();
	/* The journal stamps every line itself; a terminal shows only what is written. */
	stamps = !journal && isatty(STDERR_FILENO);
}

/* "2026-12-01 23:55:34.123 ", local time, as a terminal reader wants it. */
static size_t stamp(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (localtime_r(&ts.tv_sec, &tm) == NULL)
		return 0;
	size_t n = strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
	if (n == 0)
		return 0;
	return n + (size_t)snprintf(buf + n, cap - n, ".%03ld ", ts.tv_nsec / 1000000);
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Characters that end or rewrite a line on a terminal or in a log viewer. */
static bool forges(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* The escaped form of the character at s[0..len): its bytes, or an escape in esc. */
static size_t escape_one(
	const unsigned char *s, size_t len, char esc[12], const char **out, size_t *used)
{
	uint32_t c = 0;
	size_t n = utf8_seq(s, len, &c);
	*out = (const char *)s;
	if (n == 0) {
		*used = 1;
		*out = esc;
		return (size_t)snprintf(esc, 12, "\\x%02x", s[0]);
	}
	*used = n;
	if (!forges(c))
		return n;
	*out = esc;
	if (c == '\n')
		return (size_t)snprintf(esc, 12, "\\n");
	if (c == '\t')
		return (size_t)snprintf(esc, 12, "\\t");
	if (c == '\r')
		return (size_t)snprintf(esc, 12, "\\r");
	if (c < 0x80)
		return (size_t)snprintf(esc, 12, "\\x%02x", (unsigned)c);
	return (size_t)snprintf(esc, 12, "\\u%04x", (unsigned)c);
}

size_t mxb_log_escape(const char *src, size_t len, char *dst, size_t cap)
{
	const unsigned char *s = (const unsigned char *)src;
	if (cap == 0)
		return 0;
	/* Most lines are printable ASCII, which needs no escape: copied as they are. */
	size_t plain = 0;
	while (plain < len && s[plain] >= 0x20 && s[plain] < 0x7f)
		plain++;
	if (plain == len && len < cap) {
		memcpy(dst, src, len);
		dst[len] = '\0';
		return len;
	}
	char esc[12];
	const char *out;
	size_t used, total = 0;
	for (size_t i = 0; i < len && total < cap; i += used)
		total += escape_one(s + i, len - i, esc, &out, &used);
	/* When it does not all fit, keep room for "…". */
	size_t room = total < cap ? cap - 1 : (cap > 4 ? cap - 4 : 0);
	size_t o = 0;
	for (size_t i = 0; i < len; i += used) {
		size_t olen = escape_one(s + i, len - i, esc, &out, &used);
		if (o + olen > room)
			break;
		memcpy(dst + o, out, olen);
		o += olen;
	}
	if (total >= cap && cap > 4) {
		memcpy(dst + o, "\xe2\x80\xa6", 3);
		o += 3;
	}
	dst[o] = '\0';
	return o;
}

void mxb_logv(enum mxb_log_level level, const char *fmt, va_list ap)
{
	if (level > mxb_log_level)
		return;
	/* Formatted on the stack when it fits, which is nearly always. */
	char small[1024];
	char *msg = small;
	va_list copy;
	va_copy(copy, ap);
	int m = vsnprintf(small, sizeof(small), fmt, ap);
	if (m >= (int)sizeof(small) && vasprintf(&msg, fmt, copy) < 0)
		m = -1;
	va_end(copy);
	/*
	 * Peers' words reach log lines (topics, JIDs, a server's error text): every character
	 * that could end a line or rewrite it is escaped, so no line can be forged. One buffer
	 * and one write per line, so lines from one process never interleave.
	 */
	char line[4096];
	size_t n = stamps ? stamp(line, 64) : 0;
	if (journal)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "<%d>", priorities[level]);
	else
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: ", names[level]);
	if (m < 0)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "(out of memory)");
	else
		n += mxb_log_escape(msg, (size_t)m, line + n, sizeof(line) - n - 1);
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
	if (msg != small && m >= 0)
		free(msg);
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
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	mxb_log(level, "%s: %s", n < 0 ? "(out of memory)" : msg, strerror(err));
	if (n >= 0)
		free(msg);
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
