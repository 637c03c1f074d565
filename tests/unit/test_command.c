#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "command.h"
#include "strbuf.h"
#include "template.h"
#include "topic.h"

static char *alice_v[] = {"alice@example.org"};
static char *bob_v[] = {"bob@example.org"};
static char *room_v[] = {"family@muc.example.org"};
static char *home_set[] = {"home/+/set"};
static char *lights[] = {"home/+/light"};

static struct mxb_template *tmpl(const char *src)
{
	char err[128];
	struct mxb_template *t = NULL;
	if (mxb_template_parse(src, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "template '%s': %s\n", src, err);
		exit(1);
	}
	return t;
}

static struct mxb_command_route routes[4];
static struct mxb_config cfg;

static void setup(void)
{
	routes[0] = (struct mxb_command_route){
		.from = {.v = alice_v, .len = 1}, .allow = {.v = home_set, .len = 1}, .qos = 1};
	routes[1] = (struct mxb_command_route){.from = {.v = alice_v, .len = 1},
		.allow = {.v = lights, .len = 1},
		.command = "lamp",
		.topic_tmpl = tmpl("home/{{arg.1}}/light"),
		.payload_tmpl = tmpl("{{arg.2}}"),
		.qos = 1};
	routes[2] = (struct mxb_command_route){.from = {.v = bob_v, .len = 1},
		.command = "say",
		.topic_tmpl = tmpl("home/say"),
		.payload_tmpl = tmpl("{{from}}: {{args}}")};
	routes[3] = (struct mxb_command_route){.rooms = {.v = room_v, .len = 1},
		.has_role = true,
		.role = MXB_ROLE_MODERATOR,
		.allow = {.v = home_set, .len = 1}};
	cfg.commands = routes;
	cfg.commands_len = 4;
	cfg.bridge.max_message = 64;
}

static struct mxb_command_result run(const struct mxb_sender *s, const char *body, const char *nick)
{
	struct mxb_command_input in = {.sender = s,
		.from = s->jid ? s->jid : "family@muc.example.org/x",
		.body = body,
		.addressed_to = nick,
		.now = 0};
	struct mxb_command_result r;
	mxb_command_parse(&cfg, &in, &r);
	return r;
}

static void expect(
	const struct mxb_sender *s, const char *body, enum mxb_command_verdict v, const char *reply)
{
	struct mxb_command_result r = run(s, body, NULL);
	CHECK(r.verdict == v);
	if (reply)
		CHECK_STR(r.reply, reply);
	if (r.verdict != v || (reply && (!r.reply || strcmp(r.reply, reply) != 0)))
		fprintf(stderr, "  for body '%.80s'\n", body);
	mxb_command_result_finish(&r);
}

static void test_replies(void)
{
	struct mxb_sender alice = {.jid = "alice@example.org"};
	struct mxb_sender bob = {.jid = "bob@example.org"};
	struct mxb_sender mallory = {.jid = "mallory@example.org"};

	expect(&mallory, "home/x/set ON", MXB_COMMAND_STRANGER, "you may not send commands here");
	expect(&alice, "   ", MXB_COMMAND_MALFORMED,
		"usage: TOPIC PAYLOAD or COMMAND ARGS (send 'help')");
	expect(&alice, "help", MXB_COMMAND_HELP,
		"you may send: TOPIC PAYLOAD with TOPIC in: home/+/set; lamp ARG1 ARG2");
	expect(&bob, "help", MXB_COMMAND_HELP, "you may send: say ...");
	expect(&alice, "lamp kitchen", MXB_COMMAND_MALFORMED, "usage: lamp with 2 arguments");
	expect(&alice, "lamp a/b on", MXB_COMMAND_MALFORMED,
		"refused: arguments must not contain '/', '+' or '#'");
	/* a command one may not use is told as unknown, like any other word */
	expect(&alice, "say hi", MXB_COMMAND_REFUSED, "unknown command 'say'; send 'help'");
	expect(&alice, "hello?", MXB_COMMAND_MALFORMED, "unknown command 'hello?'; send 'help'");
	expect(&bob, "hello?", MXB_COMMAND_MALFORMED, "unknown command 'hello?'; send 'help'");
	expect(&alice, "a+b x", MXB_COMMAND_MALFORMED, "unknown command 'a+b'; send 'help'");
	/* a topic path is refused as one, whether or not the sender has topic routes */
	expect(&bob, "home/x/set ON", MXB_COMMAND_REFUSED,
		"refused: you may not publish to 'home/x/set'");
	expect(&bob, "nope hi", MXB_COMMAND_MALFORMED, "unknown command 'nope'; send 'help'");
	expect(&bob, "lamp kitchen on", MXB_COMMAND_REFUSED, "unknown command 'lamp'; send 'help'");
	expect(&alice, "home/x/get 1", MXB_COMMAND_REFUSED,
		"refused: you may not publish to 'home/x/get'");
	expect(&alice, "home/+/set 1", MXB_COMMAND_MALFORMED,
		"refused: 'home/+/set' is not a topic one can publish to");
	expect(&alice, "lamp 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", MXB_COMMAND_MALFORMED,
		"usage: lamp takes at most 16 arguments");
	expect(&alice, "home/x/set 0123456789012345678901234567890123456789012345678901234567890",
		MXB_COMMAND_PUBLISH, NULL);
	expect(&alice,
		"home/x/set 01234567890123456789012345678901234567890123456789012345678901234",
		MXB_COMMAND_MALFORMED,
		"refused: the payload is longer than 64 bytes (bridge.max_message)");
	expect(&bob, "say 0123456789012345678901234567890123456789012345678901234567890",
		MXB_COMMAND_MALFORMED,
		"refused: the payload would be longer than 64 bytes (bridge.max_message)");

	struct mxb_command_result r = run(&alice, " lamp  Kitchen  ON ", NULL);
	CHECK(r.verdict == MXB_COMMAND_PUBLISH);
	CHECK(r.route == &routes[1]);
	CHECK_STR(r.topic, "home/Kitchen/light");
	CHECK_STR(r.payload, "ON");
	CHECK(r.payload_len == 2);
	mxb_command_result_finish(&r);
	r = run(&bob, "say hello  world", NULL);
	CHECK(r.verdict == MXB_COMMAND_PUBLISH);
	CHECK_STR(r.payload, "bob@example.org: hello  world");
	mxb_command_result_finish(&r);
}

/* What the sender typed is echoed cut, never whole, and never inside a character. */
static void test_long_words(void)
{
	struct mxb_sender alice = {.jid = "alice@example.org"};
	size_t n = 300000;
	char *body = malloc(n + 3);
	memset(body, 'T', n);
	memcpy(body + n, " x", 3);
	struct mxb_command_result r = run(&alice, body, NULL);
	CHECK(r.verdict == MXB_COMMAND_MALFORMED);
	CHECK(r.reply && strlen(r.reply) < 400);
	CHECK(r.reply && strstr(r.reply, "is longer than a topic can be (65535 bytes)"));
	mxb_command_result_finish(&r);

	/* "é" is 2 bytes: a topic of 101 of them is cut before a whole character. */
	char word[1024] = "home/";
	for (int i = 0; i < 150; i++)
		strcat(word, "\xc3\xa9");
	strcat(word, " 1");
	r = run(&alice, word, NULL);
	CHECK(r.verdict == MXB_COMMAND_REFUSED);
	const char *q = r.reply ? strstr(r.reply, "'home/") : NULL;
	const char *end = q ? strstr(q, "\xe2\x80\xa6'") : NULL;
	CHECK(end != NULL);
	if (end) {
		/* Every byte before "…" is a whole "é". */
		size_t len = (size_t)(end - (q + 6));
		CHECK(len % 2 == 0);
		CHECK(len <= MXB_COMMAND_ECHO_MAX);
	}
	mxb_command_result_finish(&r);
	free(body);
}

static void test_rooms(void)
{
	struct mxb_sender mod = {.room = "family@muc.example.org",
		.nick = "alice",
		.role = MXB_ROLE_MODERATOR,
		.affiliation = MXB_AFFILIATION_OWNER};
	struct mxb_sender visitor = mod;
	visitor.role = MXB_ROLE_VISITOR;
	visitor.affiliation = MXB_AFFILIATION_NONE;
	struct mxb_command_result r = run(&mod, "hello all", "home");
	CHECK(r.verdict == MXB_COMMAND_IGNORE);
	mxb_command_result_finish(&r);
	r = run(&mod, "HOME: home/hall/set ON", "home");
	CHECK(r.verdict == MXB_COMMAND_PUBLISH);
	CHECK_STR(r.topic, "home/hall/set");
	mxb_command_result_finish(&r);
	r = run(&mod, "home, help", "home");
	CHECK(r.verdict == MXB_COMMAND_HELP);
	mxb_command_result_finish(&r);
	r = run(&visitor, "home: home/hall/set ON", "home");
	CHECK(r.verdict == MXB_COMMAND_STRANGER);
	mxb_command_result_finish(&r);
	/* A private message through the room needs no address. */
	r = run(&mod, "home/hall/set OFF", NULL);
	CHECK(r.verdict == MXB_COMMAND_PUBLISH);
	mxb_command_result_finish(&r);
	/* the same words as in a direct chat */
	const char *same[][2] = {
		{"home: hello?", "unknown command 'hello?'; send 'help'"},
		{"home: lamp kitchen on", "unknown command 'lamp'; send 'help'"},
		{"home: home/x/get 1", "refused: you may not publish to 'home/x/get'"},
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		r = run(&mod, same[i][0], "home");
		CHECK_STR(r.reply, same[i][1]);
		mxb_command_result_finish(&r);
	}
}

/* help shows a command's usage and description where the config gives them. */
static void test_described_help(void)
{
	struct mxb_command_route r0 = routes[1];
	r0.usage = "ROOM STATE";
	r0.description = "switch the lamp of ROOM";
	struct mxb_command_route r1 = routes[1];
	r1.command = "dim";
	r1.description = "dim a lamp";
	struct mxb_command_route both[] = {r0, r1};
	struct mxb_config c = {.commands = both, .commands_len = 2};
	c.bridge.max_message = 512;
	struct mxb_sender alice = {.jid = "alice@example.org"};
	struct mxb_command_input in = {
		.sender = &alice, .from = "alice@example.org", .body = "help"};
	struct mxb_command_result r;
	mxb_command_parse(&c, &in, &r);
	CHECK(r.verdict == MXB_COMMAND_HELP);
	CHECK_STR(r.reply, "you may send: lamp ROOM STATE (switch the lamp of ROOM); "
			   "dim ARG1 ARG2 (dim a lamp)");
	mxb_command_result_finish(&r);
}

static void test_device_request(void)
{
	CHECK(mxb_command_device_request(" Help ") == MXB_DEVICE_HELP);
	CHECK(mxb_command_device_request("STATUS\n") == MXB_DEVICE_STATUS);
	CHECK(mxb_command_device_request("on") == MXB_DEVICE_PAYLOAD);
	CHECK(mxb_command_device_request("status now") == MXB_DEVICE_PAYLOAD);
	CHECK(mxb_command_device_request("") == MXB_DEVICE_PAYLOAD);
}

/* help lists what fits in a message and says how much more there is. */
static void test_long_help(void)
{
	static char *many[40];
	char names[40][16];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "a/%d/long/topic", i);
		many[i] = names[i];
	}
	struct mxb_command_route r0 = {
		.from = {.v = alice_v, .len = 1}, .allow = {.v = many, .len = 40}};
	struct mxb_config c = {.commands = &r0, .commands_len = 1};
	c.bridge.max_message = 200;
	struct mxb_sender alice = {.jid = "alice@example.org"};
	struct mxb_command_input in = {
		.sender = &alice, .from = "alice@example.org", .body = "help"};
	struct mxb_command_result r;
	mxb_command_parse(&c, &in, &r);
	CHECK(r.verdict == MXB_COMMAND_HELP);
	CHECK(r.reply && strlen(r.reply) <= 200 + 64);
	CHECK(r.reply && strstr(r.reply, "more (the list is longer than a message)"));
	mxb_command_result_finish(&r);
}

static void test_device_word(void)
{
	char *w = mxb_command_device_word("  On \n");
	CHECK_STR(w, "ON");
	free(w);
	w = mxb_command_device_word("toggle");
	CHECK_STR(w, "TOGGLE");
	free(w);
	w = mxb_command_device_word(" 50 % ");
	CHECK_STR(w, "50 %");
	free(w);
	w = mxb_command_device_word("   ");
	CHECK_STR(w, "");
	free(w);
}

static void test_strbuf(void)
{
	struct mxb_strbuf b;
	mxb_strbuf_init(&b, 8);
	CHECK(mxb_strbuf_puts(&b, "abcd") == 0);
	CHECK(mxb_strbuf_puts(&b, "efghi") < 0);
	CHECK(b.over);
	CHECK_STR(b.s, "abcd");
	CHECK(mxb_strbuf_printf(&b, "%d", 1234) == 0);
	CHECK_STR(b.s, "abcd1234");
	char *s = mxb_strbuf_take(&b);
	CHECK_STR(s, "abcd1234");
	free(s);
	mxb_strbuf_finish(&b);
	/* a 3-byte and a 4-byte character are never cut */
	CHECK(mxb_utf8_cut("ab\xe2\x82\xac", 5, 4) == 2);
	CHECK(mxb_utf8_cut("a\xf0\x9f\x98\x80z", 6, 4) == 1);
	CHECK(mxb_utf8_cut("a\xf0\x9f\x98\x80z", 6, 5) == 5);
	CHECK(mxb_utf8_cut("abc", 3, 10) == 3);
}

static void test_domain_request(void)
{
	CHECK(mxb_command_domain_request("help") == MXB_DOMAIN_HELP);
	CHECK(mxb_command_domain_request("  LIST\n") == MXB_DOMAIN_LIST);
	CHECK(mxb_command_domain_request("Help ") == MXB_DOMAIN_HELP);
	CHECK(mxb_command_domain_request("helpme") == MXB_DOMAIN_UNKNOWN);
	CHECK(mxb_command_domain_request("list all") == MXB_DOMAIN_UNKNOWN);
	CHECK(mxb_command_domain_request("") == MXB_DOMAIN_UNKNOWN);
	CHECK(mxb_command_domain_request("lis") == MXB_DOMAIN_UNKNOWN);
}

int main(void)
{
	setup();
	test_described_help();
	test_device_request();
	test_replies();
	test_long_words();
	test_rooms();
	test_long_help();
	test_device_word();
	test_domain_request();
	test_strbuf();
	for (size_t i = 1; i < 3; i++) {
		mxb_template_destroy(routes[i].topic_tmpl);
		mxb_template_destroy(routes[i].payload_tmpl);
	}
	return check_report("command");
}
