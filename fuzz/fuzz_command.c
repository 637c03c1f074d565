/*
 * Fuzzes the command language (command.c) with the input strangers control: the first
 * bytes pick the sender, whether the message is a group-chat line that must address the
 * bridge, and the message size bound; the rest is the body. Checks what every verdict
 * promises: a publish only for a sender a route allows, to a valid topic the route allows,
 * with a payload within bridge.max_message; every other answer a bounded, well-formed reply
 * that never cuts a character.
 */

#include <ctype.h>
#include <string.h>

#include "command.h"
#include "fuzz.h"
#include "template.h"
#include "text.h"
#include "topic.h"

static char *alice_v[] = {"alice@example.org"};
static char *bob_v[] = {"bob@example.org", "*@family.example"};
static char *room_v[] = {"family@muc.example.org"};
static char *home_set[] = {"home/+/set", "home/#"};
static char *lights[] = {"home/+/light"};

static struct mxb_command_route routes[5];
static struct mxb_config cfg;

static struct mxb_template *tmpl(const char *src)
{
	char err[128];
	struct mxb_template *t = NULL;
	if (mxb_template_parse(src, &t, err, sizeof(err)) < 0)
		abort();
	return t;
}

static void setup(void)
{
	routes[0] = (struct mxb_command_route){
		.from = {.v = alice_v, .len = 1}, .allow = {.v = home_set, .len = 1}};
	routes[1] = (struct mxb_command_route){.from = {.v = alice_v, .len = 1},
		.allow = {.v = lights, .len = 1},
		.command = "lamp",
		.topic_tmpl = tmpl("home/{{arg.1}}/light"),
		.payload_tmpl = tmpl("{{arg.2}} {{arg.3|x}}")};
	routes[2] = (struct mxb_command_route){.from = {.v = bob_v, .len = 2},
		.command = "say",
		.topic_tmpl = tmpl("say/{{arg.1}}"),
		.payload_tmpl = tmpl("{{from}}: {{args}} {{time}}")};
	routes[3] = (struct mxb_command_route){.rooms = {.v = room_v, .len = 1},
		.has_role = true,
		.role = MXB_ROLE_PARTICIPANT,
		.allow = {.v = home_set, .len = 2}};
	routes[4] = (struct mxb_command_route){.from = {.v = bob_v, .len = 2},
		.command = "Help",
		.topic_tmpl = tmpl("{{arg.1}}{{arg.16}}"),
		.payload_tmpl = tmpl("{{args}}")};
	cfg.commands = routes;
	cfg.commands_len = 5;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cfg.commands)
		setup();
	if (size < 3)
		return 0;
	static const struct mxb_sender senders[] = {
		{.jid = "alice@example.org"},
		{.jid = "bob@example.org"},
		{.jid = "carol@family.example"},
		{.jid = "mallory@example.org"},
		{.room = "family@muc.example.org",
			.nick = "n",
			.role = MXB_ROLE_MODERATOR,
			.affiliation = MXB_AFFILIATION_MEMBER},
		{.room = "family@muc.example.org",
			.nick = "v",
			.role = MXB_ROLE_VISITOR,
			.jid = "alice@example.org"},
	};
	const struct mxb_sender *s = &senders[data[0] % 6];
	static const size_t maxes[] = {0, 1, 16, 64, 8192};
	cfg.bridge.max_message = maxes[data[2] % 5];
	/* Stanza text has no NUL: the body ends at the first one. */
	const char *text = (const char *)data + 3;
	const char *nul = memchr(text, '\0', size - 3);
	size_t len = nul ? (size_t)(nul - text) : size - 3;
	char *body = malloc(len + 1);
	if (!body)
		return 0;
	memcpy(body, text, len);
	body[len] = '\0';
	struct mxb_command_input in = {.sender = s,
		.from = "family@muc.example.org/n",
		.body = body,
		.addressed_to = data[1] & 1 ? "home" : NULL,
		.now = 1700000000};
	struct mxb_command_result r;
	mxb_command_parse(&cfg, &in, &r);
	bool utf8 = mxb_text_utf8_valid(body, strlen(body));

	/* A request to the domain is one word of four letters between spaces, or unknown. */
	if (mxb_command_domain_request(body) != MXB_DOMAIN_UNKNOWN) {
		size_t lead = strspn(body, " \t\n\v\f\r");
		size_t n = strlen(body + lead);
		while (n && isspace((unsigned char)body[lead + n - 1]))
			n--;
		FUZZ_CHECK(n == 4);
	}

	switch (r.verdict) {
	case MXB_COMMAND_IGNORE:
		FUZZ_CHECK(in.addressed_to != NULL);
		FUZZ_CHECK(strncasecmp(body, "home", 4) != 0 || (body[4] != ':' && body[4] != ','));
		break;
	case MXB_COMMAND_PUBLISH:
		FUZZ_CHECK(r.route && mxb_access_allows(r.route, s));
		FUZZ_CHECK(r.topic && mxb_topic_name_valid(r.topic, strlen(r.topic)));
		FUZZ_CHECK(r.payload && strlen(r.payload) == r.payload_len);
		FUZZ_CHECK(r.payload_len <= cfg.bridge.max_message);
		if (r.route->allow.len) {
			bool ok = false;
			for (size_t i = 0; i < r.route->allow.len; i++)
				ok |= mxb_topic_matches(r.route->allow.v[i], r.topic);
			FUZZ_CHECK(ok);
		}
		FUZZ_CHECK(r.reply == NULL);
		break;
	case MXB_COMMAND_STRANGER:
		FUZZ_CHECK(!mxb_command_allowed_anywhere(&cfg, s));
		FUZZ_CHECK(r.reply != NULL);
		break;
	case MXB_COMMAND_HELP:
	case MXB_COMMAND_REFUSED:
	case MXB_COMMAND_MALFORMED:
		FUZZ_CHECK(mxb_command_allowed_anywhere(&cfg, s));
		FUZZ_CHECK(r.reply != NULL);
		FUZZ_CHECK(
			strlen(r.reply) <= 4 * MXB_COMMAND_ECHO_MAX + 512 + cfg.bridge.max_message);
		/* A reply echoes whole characters only: valid in, valid out. */
		if (utf8)
			FUZZ_CHECK(mxb_text_utf8_valid(r.reply, strlen(r.reply)));
		break;
	case MXB_COMMAND_NOMEM:
		break;
	default:
		FUZZ_CHECK(!"a verdict the header does not name");
	}
	mxb_command_result_finish(&r);
	free(body);
	return 0;
}
