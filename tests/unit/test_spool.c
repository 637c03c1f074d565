#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "spool.h"

static char got[16][64];
static size_t ngot;

static bool collect(const char *id, const char *to, const char *type, const char *body, void *data)
{
	(void)data;
	if (ngot < 16)
		snprintf(got[ngot++], sizeof(got[0]), "%s %s %s [%s]", id, to, type, body);
	/* A message called "drop" is refused at replay: it must leave the journal. */
	return strcmp(id, "drop") != 0;
}

static struct mxb_spool *reopen(const char *dir)
{
	struct mxb_spool *s = NULL;
	ngot = 0;
	CHECK(mxb_spool_open(&s, dir, collect, NULL) == 0);
	return s;
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

	unlink(path);
	rmdir(dir);
	return check_report("spool");
}
