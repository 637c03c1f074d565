#include <fcntl.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

#define EXPECT(in, cap, want) expect(in, sizeof(in) - 1, cap, want)

static void expect(const char *in, size_t len, size_t cap, const char *want)
{
	char out[256];
	size_t n = mxb_log_escape(in, len, out, cap);
	CHECK(n == strlen(out));
	CHECK_STR(out, want);
}

/* Runs one info line through mxb_log with stderr on fd, returns what fd got (static). */
static const char *one_line(int wfd, int rfd)
{
	static char got[512];
	int saved = dup(2);
	CHECK(saved >= 0 && dup2(wfd, 2) == 2);
	mxb_log_init(MXB_LOG_INFO);
	mxb_log_info("started %d", 1);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = read(rfd, got, sizeof(got) - 1);
	got[n > 0 ? n : 0] = '\0';
	return got;
}

static bool matches(const char *text, const char *re)
{
	regex_t r;
	CHECK(regcomp(&r, re, REG_EXTENDED | REG_NOSUB) == 0);
	bool ok = regexec(&r, text, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

/* Where a line starts: a time on a terminal, a priority under journald, a level in a pipe. */
static void check_prefixes(void)
{
	const char *stamp = "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "
			    "info: started 1\r?\n$";
	int p[2];
	CHECK(pipe(p) == 0);
	unsetenv("JOURNAL_STREAM");
	CHECK_STR(one_line(p[1], p[0]), "info: started 1\n");

	/* journald: JOURNAL_STREAM names stderr's device and inode */
	struct stat st;
	CHECK(fstat(p[1], &st) == 0);
	char v[64];
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		(unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
	CHECK_STR(one_line(p[1], p[0]), "<6>started 1\n");
	/* inherited by a process whose stderr went elsewhere: not the journal */
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		(unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", v, 1);
	CHECK_STR(one_line(p[1], p[0]), "info: started 1\n");
	setenv("JOURNAL_STREAM", "garbage", 1);
	CHECK_STR(one_line(p[1], p[0]), "info: started 1\n");
	close(p[0]);
	close(p[1]);

	/* a terminal: every line with the time, also with a stale JOURNAL_STREAM */
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	CHECK(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	CHECK(slave >= 0);
	const char *got = one_line(slave, master);
	CHECK(matches(got, stamp));
	unsetenv("JOURNAL_STREAM");
	got = one_line(slave, master);
	CHECK(matches(got, stamp));
	close(slave);
	close(master);
	mxb_log_init(MXB_LOG_INFO);
}

int main(void)
{
	check_prefixes();
	EXPECT("plain text", 256, "plain text");
	/* A peer's newline would start a line of its own: "error: forged". */
	EXPECT("x\nerror: forged", 256, "x\\nerror: forged");
	EXPECT("a\tb\rc", 256, "a\\tb\\rc");
	EXPECT("\x1b[31mred", 256, "\\x1b[31mred");
	EXPECT("del\x7f", 256, "del\\x7f");
	EXPECT("nul\0x", 256, "nul\\x00x");
	/* C1 controls, line and paragraph separators, bidi overrides */
	EXPECT("\xc2\x85|\xc2\x9b|\xe2\x80\xa8|\xe2\x80\xa9|\xe2\x80\xae", 256,
		"\\u0085|\\u009b|\\u2028|\\u2029|\\u202e");
	/* bytes that are not UTF-8: a lone continuation, an overlong, a surrogate, a cut */
	EXPECT("\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82", 256,
		"\\x80|\\xc0\\xaf|\\xed\\xa0\\x80|\\xe2\\x82");
	/* kept: UTF-8 text */
	EXPECT("caf\xc3\xa9 \xf0\x9f\x98\x80", 256, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	/* what does not fit ends with "…", never inside a character or an escape */
	EXPECT("abcdefghij", 8, "abcd\xe2\x80\xa6");
	EXPECT("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, "\xc3\xa9\xc3\xa9\xe2\x80\xa6");
	EXPECT("\n\n\n\n", 8, "\\n\\n\xe2\x80\xa6");
	EXPECT("abc", 4, "abc");

	/* Whole lines: short, longer than the stack buffer, longer than a line. */
	char path[] = "/tmp/mxb-test-log-XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(2);
	CHECK(fd >= 0 && saved >= 0 && dup2(fd, 2) == 2);
	char *big = malloc(5000);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	mxb_log_init(MXB_LOG_INFO);
	mxb_log_info("short %s", "line\nforged");
	big[2000] = '\0';
	mxb_log_warn("%s", big);
	big[2000] = 'x';
	mxb_log_error("%s", big);
	mxb_log_debug("not at info level");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 20000);
	size_t n = f ? fread(text, 1, 19999, f) : 0;
	CHECK(n > 0);
	char *l1 = text, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	CHECK(strncmp(l1, "info: short line\\nforged\n", 25) == 0);
	CHECK(strncmp(l2, "warn: xxx", 9) == 0 && strchr(l2, '\n') - l2 == 6 + 2000);
	CHECK(strncmp(l3, "error: xxx", 10) == 0 && strchr(l3, '\n') - l3 == 4094);
	CHECK(memcmp(strchr(l3, '\n') - 3, "\xe2\x80\xa6", 3) == 0);
	CHECK(strchr(l3, '\n')[1] == '\0');
	if (f)
		fclose(f);
	unlink(path);
	free(text);
	free(big);
	return check_report("log");
}
