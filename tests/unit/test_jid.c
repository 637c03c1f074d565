#include <errno.h>
#include <string.h>

#include "check.h"
#include "jid.h"

int main(void)
{
	CHECK(mxb_jid_valid("alice@example.org"));
	CHECK(mxb_jid_valid("alice@example.org/phone"));
	CHECK(mxb_jid_valid("example.org"));
	CHECK(mxb_jid_valid("a@b/res with space"));
	CHECK(!mxb_jid_valid(""));
	CHECK(!mxb_jid_valid("@example.org"));
	CHECK(!mxb_jid_valid("alice@"));
	CHECK(!mxb_jid_valid("alice@example.org/"));
	CHECK(!mxb_jid_valid("al ice@example.org"));
	CHECK(!mxb_jid_valid("a<b@example.org"));
	CHECK(!mxb_jid_valid("a@b@example.org"));
	CHECK(!mxb_jid_valid("alice@.example.org"));
	CHECK(!mxb_jid_valid("alice@example.org."));

	char long_local[MXB_JID_PART_MAX + 20];
	memset(long_local, 'a', MXB_JID_PART_MAX + 1);
	strcpy(long_local + MXB_JID_PART_MAX + 1, "@x");
	CHECK(!mxb_jid_valid(long_local));

	CHECK(mxb_jid_is_bare("alice@example.org"));
	CHECK(!mxb_jid_is_bare("alice@example.org/x"));

	char buf[32];
	CHECK(mxb_jid_bare("alice@example.org/phone", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "alice@example.org");
	CHECK(mxb_jid_bare("alice@example.org/phone", buf, 5) == -E2BIG);

	CHECK(mxb_jid_bare_equal("Alice@Example.org/x", "alice@example.org"));
	CHECK(!mxb_jid_bare_equal("alice@example.org", "alice@example.com"));
	CHECK(!mxb_jid_bare_equal("alice@example.org", "alice@example.orgx"));

	size_t len;
	const char *d = mxb_jid_domain("alice@example.org/r", &len);
	CHECK(len == strlen("example.org") && strncmp(d, "example.org", len) == 0);
	d = mxb_jid_domain("example.org", &len);
	CHECK(len == strlen("example.org"));
	return check_report("jid");
}
