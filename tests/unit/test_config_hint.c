/* Unit test of the config hints: libconfig's usual syntax errors and near keys. */

#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "config_hint.h"

#define X "xmpp: { jid = \"a@b\"; password = \"p\"; };\n"

static void expect_hint_at(int at, const char *text, unsigned line, const char *want)
{
	char buf[160];
	bool found = mxb_conf_syntax_hint(text, strlen(text), line, buf, sizeof(buf));
	check_count++;
	if (found != (want != NULL) || (want && strcmp(buf, want) != 0)) {
		fprintf(stderr, "%s:%d: hint '%s' (%d), expected '%s'\n", __FILE__, at,
			found ? buf : "", found, want ? want : "(none)");
		check_failures++;
	}
}

#define EXPECT_HINT(text, line, want) expect_hint_at(__LINE__, text, line, want)

static void test_syntax(void)
{
	EXPECT_HINT(X "notify = ( { topic = \"a\"; }\n  { topic = \"b\"; } );\n", 3,
		"a ',' is missing between two groups of a list");
	EXPECT_HINT(X "notify = [ { topic = \"a\"; } ];\n", 2,
		"a list of groups is written ( { ... }, { ... } ); [ ] holds only strings, numbers "
		"or booleans");
	EXPECT_HINT(X "notify = [\n  { topic = \"a\"; }\n];\n", 3,
		"a list of groups is written ( { ... }, { ... } ); [ ] holds only strings, numbers "
		"or booleans");
	EXPECT_HINT(X "mqtt: { host = localhost; };\n", 2,
		"a text value is written in double quotes, as in host = \"localhost\";");
	EXPECT_HINT(
		X "mqtt: {\n  host = \"x\";\n", 4, "the '{' of line 2 is never closed with '}'");
	EXPECT_HINT(X "mqtt: { host = \"x\"; }; }\n", 2,
		"this '}' closes nothing: one too many, or its opening bracket is missing");
	EXPECT_HINT(X "mqtt: { port = 1; );\n", 2, "')' where the '{' of line 2 needs '}'");
	EXPECT_HINT(
		X "mqtt: { host \"x\"; };\n", 2, "a '=' is missing between a name and its value");
	EXPECT_HINT(
		X "mqtt: { port 1883; };\n", 2, "a '=' is missing between a name and its value");
	/* what is not one of those: libconfig's words alone */
	EXPECT_HINT(X "mqtt: { port = ; };\n", 2, NULL);
	/* a mistake elsewhere than where libconfig stopped: no guess */
	EXPECT_HINT(X "mqtt: { host = x; };\nfoo = = 1;\n", 3, NULL);
	/* comments, strings with brackets and escapes, @include are read past */
	EXPECT_HINT("# { [ (\n// }\n/* {\n ( */ @include \"a{.conf\"\n"
		    "a = \"} \\\" {\";\nb = [ { } ];\n",
		6,
		"a list of groups is written ( { ... }, { ... } ); [ ] holds only strings, numbers "
		"or booleans");
	EXPECT_HINT("a = 0x10; b = -1; c = true; d = FALSE; e = 1.5e3; f = [ 1, 2 ]\ng = x;\n", 2,
		"a text value is written in double quotes, as in host = \"localhost\";");
	/* cut at the buffer, and nothing for an empty one */
	char small[8];
	CHECK(mxb_conf_syntax_hint("a = x;", 6, 1, small, sizeof(small)));
	CHECK_STR(small, "a text ");
	CHECK(!mxb_conf_syntax_hint("a = x;", 6, 1, small, 0));
	/* a file cut inside a string or a comment */
	EXPECT_HINT("a = { b = \"x", 1, "the '{' of line 1 is never closed with '}'");
	EXPECT_HINT("a = ( /* x", 1, "the '(' of line 1 is never closed with ')'");
}

static void test_distance(void)
{
	CHECK(mxb_conf_distance("host", "host", 2) == 0);
	CHECK(mxb_conf_distance("hots", "host", 2) == 1);
	CHECK(mxb_conf_distance("log_lvl", "log_level", 2) == 2);
	CHECK(mxb_conf_distance("colour", "mqtt", 2) == 3);
	CHECK(mxb_conf_distance("", "ab", 2) == 2);
	CHECK(mxb_conf_is_close("pasword", "password"));
	CHECK(mxb_conf_is_close("prot", "port"));
	CHECK(!mxb_conf_is_close("tls", "jid"));
	CHECK(!mxb_conf_is_close("ab", "jid"));
	CHECK(!mxb_conf_is_close("x", "qos"));
	CHECK(!mxb_conf_is_close("colour", "commands"));
	char long_name[100];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[99] = '\0';
	CHECK(!mxb_conf_is_close(long_name, long_name + 1));
}

int main(void)
{
	test_syntax();
	test_distance();
	return check_report("config_hint");
}
