/* The location group of bridge.conf: values, defaults and every error with file:line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char dir[] = "/tmp/test_config_location.XXXXXX";

static char *write_conf(const char *name, const char *content, mode_t mode)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	char *path = malloc(len);
	if (!path)
		abort();
	snprintf(path, len, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f || fputs(content, f) < 0 || fclose(f) != 0)
		abort();
	chmod(path, mode);
	return path;
}

#define XMPP "xmpp: { jid = \"home@example.org\"; password = \"x\"; };\n"

/* Loads content and expects exactly the errors, each "LINE: message" after the path. */
static void expect_errors(int at, const char *content, const char *const *want)
{
	char *path = write_conf("bridge.conf", content, 0600);
	struct mxb_config cfg;
	struct mxb_strlist errors = {0};
	int ret = mxb_config_load(&cfg, path, &errors);
	size_t n = 0;
	while (want[n])
		n++;
	bool same = ret == -EINVAL && errors.len == n;
	for (size_t i = 0; same && i < n; i++) {
		char full[512];
		snprintf(full, sizeof(full), "%s:%s", path, want[i]);
		same = strcmp(errors.v[i], full) == 0;
	}
	check_count++;
	if (!same) {
		check_failures++;
		fprintf(stderr, "%s:%d: unexpected errors (ret %d):\n", __FILE__, at, ret);
		for (size_t i = 0; i < errors.len; i++)
			fprintf(stderr, "  got  %s\n", errors.v[i]);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "  want %s\n", want[i]);
	}
	mxb_strlist_finish(&errors);
	mxb_config_finish(&cfg);
	free(path);
}

#define EXPECT_ERRORS(content, ...) \
	expect_errors(__LINE__, content, (const char *const[]){__VA_ARGS__, NULL})

static void test_values(void)
{
	free(write_conf("alice.pw", "alice-secret\n", 0600));
	char *path = write_conf("ok.conf",
		XMPP
		"location: {\n"
		"  accounts = ( { user = \"alice\"; jid = \"alice@example.org/ot\";\n"
		"                 password_file = \"alice.pw\"; },\n"
		"               { user = \"ben\"; jid = \"ben@example.org\"; password = \"b\"; "
		"} );\n"
		"  contacts = [ \"granny@example.org\" ];\n"
		"  format = \"json\"; topic = \"family/where\"; min_interval = 5;\n"
		"};\n",
		0600);
	struct mxb_config cfg;
	struct mxb_strlist errors = {0};
	CHECK(mxb_config_load(&cfg, path, &errors) == 0 && errors.len == 0);
	CHECK(cfg.location.accounts_len == 2);
	if (cfg.location.accounts_len == 2) {
		CHECK_STR(cfg.location.accounts[0].user, "alice");
		CHECK_STR(cfg.location.accounts[0].password, "alice-secret");
		CHECK(cfg.location.accounts[0].line == 3);
		CHECK_STR(cfg.location.accounts[1].jid, "ben@example.org");
	}
	CHECK(cfg.location.contacts.len == 1);
	CHECK(cfg.location.format == MXB_LOCATION_JSON);
	CHECK_STR(cfg.location.topic, "family/where");
	CHECK_STR(cfg.location.owntracks_topic, "owntracks");
	CHECK(cfg.location.min_interval == 5);
	mxb_config_finish(&cfg);
	mxb_strlist_finish(&errors);
	free(path);

	/* Default: nobody. */
	path = write_conf("none.conf", XMPP, 0600);
	CHECK(mxb_config_load(&cfg, path, &errors) == 0);
	CHECK(cfg.location.accounts_len == 0 && cfg.location.contacts.len == 0);
	CHECK(cfg.location.min_interval == 30);
	CHECK_STR(cfg.location.topic, "owntracks/xmpp");
	mxb_config_finish(&cfg);
	mxb_strlist_finish(&errors);
	free(path);
}

static void test_errors(void)
{
	EXPECT_ERRORS(XMPP "location: {\n  typo = 1;\n};\n", "3: unknown key 'typo' in 'location'");
	EXPECT_ERRORS(XMPP "location: {\n  accounts = ( { user = \"a/b\"; jid = \"a@b\"; "
			   "password = \"p\"; } );\n};\n",
		"3: invalid OwnTracks user 'a/b' in 'user' (one topic level, no '/', '+' or "
		"'#')");
	EXPECT_ERRORS(XMPP "location: {\n  accounts = ( { user = \"a\";\n  jid = \"not a jid\"; "
			   "} );\n};\n",
		"4: invalid JID 'not a jid' in 'jid'",
		"3: missing 'password' or 'password_file' in an account of 'location.accounts'");
	EXPECT_ERRORS(XMPP
		"location: {\n  accounts = ( { jid = \"a@b\"; password = \"p\"; } );\n};\n",
		"3: missing 'user' in an account of 'location.accounts'");
	EXPECT_ERRORS(XMPP "location: {\n  accounts = (\n    { user = \"a\"; jid = \"a@b\"; "
			   "password = \"p\"; },\n    { user = \"a\"; jid = \"c@d\"; password = "
			   "\"q\"; } );\n};\n",
		"5: OwnTracks user 'a' is mapped twice (first at line 4)");
	EXPECT_ERRORS(XMPP "location: {\n  contacts = [ \"a+b@example.org\" ];\n};\n",
		"2: contact 'a+b@example.org' cannot be part of a topic name");
	EXPECT_ERRORS(XMPP "location: {\n  contacts = [ \"a@example.org/res\" ];\n};\n",
		"3: JID 'a@example.org/res' in 'contacts' must be bare (without a resource)");
	EXPECT_ERRORS(
		XMPP "location: {\n  topic = \"a/#\";\n};\n", "3: invalid topic 'a/#' in 'topic'");
	EXPECT_ERRORS(XMPP "location: {\n  format = \"xml\";\n};\n",
		"3: invalid value 'xml' for 'format' (expected owntracks or json)");
	EXPECT_ERRORS(XMPP "location: {\n  topic = \"owntracks/alice\";\n  accounts = ( { user = "
			   "\"alice\"; jid = \"a@b\"; password = \"p\"; } );\n};\n",
		"2: 'topic' 'owntracks/alice' is where OwnTracks user 'alice' publishes; choose "
		"another user level for the contacts");
	EXPECT_ERRORS(XMPP "location: {\n  json_topic = \"p/{{payload}}\";\n  format = "
			   "\"json\";\n};\n",
		"3: 'json_topic' may use {{from}} and {{name}} only, not {{payload}}");
	EXPECT_ERRORS(XMPP "location: {\n  json_topic = \"p/{{name}}\";\n};\n",
		"3: 'json_topic' needs format = \"json\"");
	EXPECT_ERRORS(XMPP "location: {\n  json_topic = \"p/+/{{name}}\"; format = \"json\";\n};\n",
		"3: invalid topic 'p/+/{{name}}' in 'json_topic'");
	EXPECT_ERRORS("xmpp: { component: { domain = \"iot.example.org\"; secret = \"s\"; }; };\n"
		      "location: {\n  contacts = [ \"a@example.org\" ];\n};\n",
		"2: 'contacts' in 'location' needs 'xmpp.jid'");
	free(write_conf("open.pw", "pw\n", 0644));
	char want[512];
	snprintf(want, sizeof(want),
		"3: password_file '%s/open.pw' can be read or written by others (mode 0644); run "
		"chmod o-rwx on it",
		dir);
	EXPECT_ERRORS(XMPP "location: {\n  accounts = ( { user = \"a\"; jid = \"a@b\"; "
			   "password_file = \"open.pw\"; } );\n};\n",
		want);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_values();
	test_errors();
	const char *names[] = {"bridge.conf", "ok.conf", "none.conf", "alice.pw", "open.pw"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
	return check_report("config_location");
}
