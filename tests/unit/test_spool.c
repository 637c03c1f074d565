#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "spool.h"
#include "spool_record.h"

static char got[16][64];
static size_t ngot;

/* The fields of every replayed message, whole, for the values too long for got. */
struct msg {
	char *id, *to, *type, *body;
};
static struct msg full[16];

static void forget(void)
{
	for (size_t i = 0; i < 16; i++) {
		free(full[i].id);
		free(full[i].to);
		free(full[i].type);
		free(full[i].body);
		full[i] = (struct msg){0};
	}
	ngot = 0;
}

static bool collect(const char *id, const char *to, const char *type, const char *body, void *data)
{
	(void)data;
	if (ngot < 16) {
		full[ngot] = (struct msg){strdup(id), strdup(to), strdup(type), strdup(body)};
		snprintf(got[ngot++], sizeof(got[0]), "%s %s %s [%s]", id, to, type, body);
	}
	/* A message called "drop" is refused at replay: it must leave the journal. */
	return strcmp(id, "drop") != 0;
}

static struct mxb_spool *reopen(const char *dir)
{
	struct mxb_spool *s = NULL;
	forget();
	CHECK(mxb_spool_open(&s, dir, collect, NULL) == 0);
	return s;
}

static void write_file(const char *path, const char *data, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

/* The journal's bytes, NUL-terminated; *len (may be NULL) their count. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	CHECK(f != NULL);
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t n = 0;
	for (int c; (c = fgetc(f)) != EOF;) {
		char *nb = realloc(buf, n + 2);
		if (!nb)
			break;
		buf = nb;
		buf[n++] = (char)c;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	else
		buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memset(s, c, n);
		s[n] = '\0';
	}
	return s;
}

#define DIRTY_RESOURCE "alice@localhost/my \"phone\" o'neil caf\xc3\xa9 \xe2\x98\x95"

/* Odd but legal values come back after a crash byte for byte. */
static void test_odd_values(const char *dir, const char *path)
{
	unlink(path);
	struct mxb_spool *s = reopen(dir);
	char *jid = repeat('r', MXB_JID_MAX);
	CHECK(jid != NULL);
	memcpy(jid, "alice@localhost/", 16);
	jid[20] = ' ';
	CHECK(mxb_spool_add(s, "o1", "alice@localhost/my phone", "chat", "one") == 0);
	CHECK(mxb_spool_add(s, "o2", DIRTY_RESOURCE, "chat", "two\n\ttabbed\nA\tx\n") == 0);
	CHECK(mxb_spool_add(s, "o3", jid, "headline", "") == 0);
	CHECK(mxb_spool_add(s, "o4", "bob@localhost", "chat", "D\to1\nD 2\no1\n") == 0);
	CHECK(mxb_spool_done(s, "o4") == 0);
	struct mxb_spool *t = reopen(dir);
	mxb_spool_close(s);
	CHECK(ngot == 3);
	CHECK_STR(full[0].to, "alice@localhost/my phone");
	CHECK_STR(full[0].body, "one");
	CHECK_STR(full[1].to, DIRTY_RESOURCE);
	CHECK_STR(full[1].body, "two\n\ttabbed\nA\tx\n");
	CHECK_STR(full[2].to, jid);
	CHECK_STR(full[2].type, "headline");
	CHECK_STR(full[2].body, "");
	/* And again from the journal the reopen rewrote. */
	mxb_spool_close(t);
	t = reopen(dir);
	CHECK(ngot == 3);
	CHECK_STR(full[1].to, DIRTY_RESOURCE);
	CHECK_STR(full[2].to, jid);
	/* Over the bounds: refused, and the journal goes on. */
	char *over = repeat('r', MXB_JID_MAX + 1);
	CHECK(over != NULL);
	CHECK(mxb_spool_add(t, "o5", over, "chat", "x") == -E2BIG);
	CHECK(mxb_spool_add(t, "o6", "bob@localhost", "chat", "six") == 0);
	mxb_spool_close(t);
	t = reopen(dir);
	CHECK(ngot == 4);
	CHECK_STR(full[3].id, "o6");
	mxb_spool_close(t);
	free(over);
	free(jid);
}

/* A journal of the previous format is replayed, then rewritten in the current one. */
static void test_legacy(const char *dir, const char *path)
{
	const char old[] = "A\tmxb-1\tchat\talice@localhost/my phone\t4\none\n\n"
			   "A\tmxb-2\tchat\tbob@localhost\t3\ntwo\n"
			   "A\tmxb-3\tgroupchat\troom@muc.localhost\t5\nthree\n"
			   "D\tmxb-2\n"
			   "A\tmxb-4\tchat\tbob@localhost\t100\ntorn";
	unlink(path);
	write_file(path, old, sizeof(old) - 1, O_TRUNC);
	struct mxb_spool *s = reopen(dir);
	CHECK(ngot == 2);
	CHECK_STR(got[0], "mxb-1 alice@localhost/my phone chat [one\n]");
	CHECK_STR(got[1], "mxb-3 room@muc.localhost groupchat [three]");
	mxb_spool_close(s);
	char *text = read_file(path, NULL);
	CHECK_STR(text, "A 5 24 4 4\nmxb-1alice@localhost/my phonechatone\n\n"
			"A 5 18 9 5\nmxb-3room@muc.localhostgroupchatthree\n");
	free(text);
	s = reopen(dir);
	CHECK(ngot == 2);
	CHECK_STR(got[0], "mxb-1 alice@localhost/my phone chat [one\n]");
	mxb_spool_close(s);
}

/*
 * A write that fails halfway (here: past RLIMIT_FSIZE, as on a full disk) leaves no part
 * of a record behind, so that the records appended after it are read back.
 */
static void test_failed_write(const char *dir, const char *path)
{
	unlink(path);
	struct mxb_spool *s = reopen(dir);
	CHECK(mxb_spool_add(s, "f1", "alice@localhost/my phone", "chat", "first") == 0);
	struct stat st;
	CHECK(stat(path, &st) == 0);
	struct rlimit old, lim;
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 100;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	char *big = repeat('b', 1000);
	CHECK(big != NULL);
	CHECK(mxb_spool_add(s, "f2", "alice@localhost", "chat", big) == -EFBIG);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_DFL);
	struct stat after;
	CHECK(stat(path, &after) == 0 && after.st_size == st.st_size);
	CHECK(mxb_spool_add(s, "f3", "alice@localhost", "chat", "third") == 0);
	struct mxb_spool *t = reopen(dir);
	mxb_spool_close(s);
	CHECK(ngot == 2);
	CHECK_STR(got[0], "f1 alice@localhost/my phone chat [first]");
	CHECK_STR(got[1], "f3 alice@localhost chat [third]");
	mxb_spool_close(t);
	free(big);
}

/*
 * A journal that fills the loader's first read exactly: its last field ends at the end
 * of the buffer, with no NUL after it (which ASan's strict string checks would see read).
 */
static void test_buffer_end(const char *dir, const char *path)
{
	unlink(path);
	struct mxb_spool *s = reopen(dir);
	/* "A 2 3 4 65512\n" (14 bytes), the fields (9 + 65512), the newline: 65536. */
	char *body = repeat('b', 65512);
	CHECK(body != NULL);
	CHECK(mxb_spool_add(s, "m1", "a@b", "chat", body) == 0);
	mxb_spool_close(s);
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size == 65536);
	s = reopen(dir);
	CHECK(ngot == 1);
	CHECK(full[0].body && strcmp(full[0].body, body) == 0);
	mxb_spool_close(s);
	free(body);
}

/* A record that cannot be read ends the reading there; the file is kept, not lost. */
static void test_unreadable(const char *dir, const char *path)
{
	unlink(path);
	struct mxb_spool *s = reopen(dir);
	CHECK(mxb_spool_add(s, "u1", "alice@localhost", "chat", "before") == 0);
	mxb_spool_close(s);
	const char bad[] = "A 1 0 0 99999999\nx";
	write_file(path, bad, sizeof(bad) - 1, O_APPEND);
	s = reopen(dir);
	mxb_spool_close(s);
	CHECK(ngot == 1);
	CHECK_STR(got[0], "u1 alice@localhost chat [before]");
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	size_t kept = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		if (strncmp(e->d_name, "spool.journal.unreadable.", 25) != 0)
			continue;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		size_t len;
		char *text = read_file(p, &len);
		CHECK(text && len > sizeof(bad) - 1 &&
			memcmp(text + len - (sizeof(bad) - 1), bad, sizeof(bad) - 1) == 0);
		free(text);
		unlink(p);
		kept++;
	}
	if (d)
		closedir(d);
	CHECK(kept == 1);
}

int main(void)
{
	mxb_log_init(MXB_LOG_ERROR);
	char dir[] = "/tmp/test_spool.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);

	struct mxb_spool *s = reopen(dir);
	CHECK(ngot == 0);
	CHECK(mxb_spool_add(s, "m1", "alice@example.org", "chat", "one") == 0);
	CHECK(mxb_spool_add(s, "m2", "bob@example.org", "chat", "two\nlines") == 0);
	CHECK(mxb_spool_add(s, "m3", "room@muc.example.org", "groupchat", "") == 0);
	CHECK(mxb_spool_done(s, "m2") == 0);
	/* No sync and no close: a SIGKILL leaves what was written in the kernel. */
	char path[128];
	snprintf(path, sizeof(path), "%s/spool.journal", dir);

	struct mxb_spool *t = reopen(dir);
	CHECK(ngot == 2);
	CHECK_STR(got[0], "m1 alice@example.org chat [one]");
	CHECK_STR(got[1], "m3 room@muc.example.org groupchat []");
	mxb_spool_close(s);

	/* The reopened journal holds only the live ones, and goes on from there. */
	CHECK(mxb_spool_done(t, "m1") == 0);
	CHECK(mxb_spool_add(t, "m4", "alice@example.org", "chat", "four") == 0);
	mxb_spool_close(t);
	t = reopen(dir);
	CHECK(ngot == 2);
	CHECK_STR(got[0], "m3 room@muc.example.org groupchat []");
	CHECK_STR(got[1], "m4 alice@example.org chat [four]");
	mxb_spool_close(t);

	/* A record torn by a crash mid-write is ignored; what came before survives. */
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	const char torn[] = "A\tm5\tchat\talice@example.org\t100\nonly a part";
	CHECK(write(fd, torn, sizeof(torn) - 1) == (ssize_t)(sizeof(torn) - 1));
	close(fd);
	t = reopen(dir);
	CHECK(ngot == 2);
	CHECK_STR(got[1], "m4 alice@example.org chat [four]");
	mxb_spool_close(t);
	/* The same in the current format, torn in its header or in its fields. */
	const char torn_head[] = "A 2 17 4 1";
	write_file(path, torn_head, sizeof(torn_head) - 1, O_APPEND);
	t = reopen(dir);
	CHECK(ngot == 2);
	mxb_spool_close(t);
	const char torn_fields[] = "A 2 17 4 100\nm5alice@example.orgchatonly a part";
	write_file(path, torn_fields, sizeof(torn_fields) - 1, O_APPEND);
	t = reopen(dir);
	CHECK(ngot == 2);
	CHECK_STR(got[1], "m4 alice@example.org chat [four]");
	mxb_spool_close(t);

	/* What replay refuses is gone from the journal the next time. */
	t = reopen(dir);
	CHECK(mxb_spool_add(t, "drop", "alice@example.org", "chat", "bad") == 0);
	mxb_spool_close(t);
	t = reopen(dir);
	CHECK(ngot == 3);
	mxb_spool_close(t);
	t = reopen(dir);
	CHECK(ngot == 2);
	CHECK_STR(got[1], "m4 alice@example.org chat [four]");
	mxb_spool_close(t);
	mxb_spool_close(NULL);

	test_odd_values(dir, path);
	test_legacy(dir, path);
	test_unreadable(dir, path);
	test_failed_write(dir, path);
	test_buffer_end(dir, path);
	forget();

	unlink(path);
	rmdir(dir);
	return check_report("spool");
}
