#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "command.h"
#include "strbuf.h"
#include "template.h"
#include "topic.h"

/* The one reply to a word that is neither a command nor a topic the sender may use. */
#define UNKNOWN_REPLY "unknown command '%Q'; send 'help'"

/* Replies are short sentences around at most a few echoed words. */
#define REPLY_MAX (4 * MXB_COMMAND_ECHO_MAX + 512)

void mxb_command_result_finish(struct mxb_command_result *r)
{
	free(r->topic);
	free(r->payload);
	free(r->reply);
	free(r->word);
	*r = (struct mxb_command_result){0};
}

bool mxb_command_allowed_anywhere(const struct mxb_config *cfg, const struct mxb_sender *s)
{
	for (size_t i = 0; i < cfg->commands_len; i++) {
		if (mxb_access_allows(&cfg->commands[i], s))
			return true;
	}
	return false;
}

/*
 * Sets the verdict and the reply: fmt's "%Q" stands for the next quoted word (cut past
 * MXB_COMMAND_ECHO_MAX bytes), "%U" for an unsigned, "%S" for a plain string.
 */
static void answer(struct mxb_command_result *r, enum mxb_command_verdict v, const char *why,
	const char *fmt, const char *word, unsigned num, const char *str)
{
	struct mxb_strbuf b;
	mxb_strbuf_init(&b, REPLY_MAX);
	for (const char *p = fmt; *p; p++) {
		if (p[0] == '%' && p[1] == 'Q') {
			mxb_strbuf_quote(&b, word ? word : "", MXB_COMMAND_ECHO_MAX);
			p++;
		} else if (p[0] == '%' && p[1] == 'U') {
			mxb_strbuf_printf(&b, "%u", num);
			p++;
		} else if (p[0] == '%' && p[1] == 'S') {
			mxb_strbuf_quote(&b, str ? str : "", MXB_COMMAND_ECHO_MAX);
			p++;
		} else {
			mxb_strbuf_add(&b, p, 1);
		}
	}
	r->verdict = b.failed ? MXB_COMMAND_NOMEM : v;
	r->why = why;
	free(r->reply);
	r->reply = mxb_strbuf_take(&b);
	mxb_strbuf_finish(&b);
}

static unsigned args_needed(const struct mxb_command_route *r)
{
	unsigned need = mxb_template_max_arg(r->topic_tmpl);
	if (mxb_template_max_arg(r->payload_tmpl) > need)
		need = mxb_template_max_arg(r->payload_tmpl);
	return need;
}

/* Appends one entry of help; false when the list is full. */
static bool help_entry(struct mxb_strbuf *b, const char *text, size_t room)
{
	size_t need = strlen(text) + (b->len ? 2 : 0);
	if (b->len + need > room)
		return false;
	if (b->len)
		mxb_strbuf_puts(b, "; ");
	mxb_strbuf_puts(b, text);
	return true;
}

/* "NAME USAGE (DESCRIPTION)": the usage as configured, else ARG1... from the templates. */
static void command_entry(struct mxb_strbuf *entry, const struct mxb_command_route *r)
{
	mxb_strbuf_puts(entry, r->command);
	if (r->usage) {
		mxb_strbuf_printf(entry, " %s", r->usage);
	} else {
		unsigned need = args_needed(r);
		for (unsigned a = 1; a <= need; a++)
			mxb_strbuf_printf(entry, " ARG%u", a);
		if (mxb_template_uses(r->payload_tmpl, "args"))
			mxb_strbuf_puts(entry, " ...");
	}
	if (r->description)
		mxb_strbuf_printf(entry, " (%s)", r->description);
}

static void help(
	const struct mxb_config *cfg, const struct mxb_sender *s, struct mxb_command_result *out)
{
	/* The whole reply fits in a message: a long list ends with how much is left out. */
	size_t max = cfg->bridge.max_message;
	size_t room = max > 64 ? max - 64 : max;
	struct mxb_strbuf list, entry;
	mxb_strbuf_init(&list, max);
	size_t shown = 0, total = 0;
	bool plain = false, full = false;
	for (size_t i = 0; i < cfg->commands_len; i++) {
		const struct mxb_command_route *r = &cfg->commands[i];
		if (!mxb_access_allows(r, s))
			continue;
		size_t n = r->command ? 1 : r->allow.len;
		for (size_t j = 0; j < n; j++) {
			mxb_strbuf_init(&entry, max);
			if (r->command) {
				command_entry(&entry, r);
			} else {
				mxb_strbuf_printf(&entry, "%s%s",
					plain ? "" : "TOPIC PAYLOAD with TOPIC in: ",
					r->allow.v[j]);
				plain = true;
			}
			total++;
			if (!full && entry.s && help_entry(&list, entry.s, room))
				shown++;
			else
				full = true;
			list.failed |= entry.failed;
			mxb_strbuf_finish(&entry);
		}
	}
	struct mxb_strbuf b;
	mxb_strbuf_init(&b, max + 64);
	mxb_strbuf_printf(&b, "you may send: %s", list.len ? list.s : "nothing");
	if (shown < total)
		mxb_strbuf_printf(
			&b, "; and %zu more (the list is longer than a message)", total - shown);
	out->verdict = b.failed || list.failed ? MXB_COMMAND_NOMEM : MXB_COMMAND_HELP;
	out->reply = mxb_strbuf_take(&b);
	mxb_strbuf_finish(&b);
	mxb_strbuf_finish(&list);
}

/* Splits s in place into words; returns how many (max + 1 when there are more). */
static size_t split_words(char *s, char **words, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *w = strtok_r(s, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == max)
			return max + 1;
		words[n++] = w;
	}
	return n;
}

/* Renders t into a new string of at most max bytes; NULL and *len -E2BIG or -ENOMEM. */
static char *render(
	const struct mxb_template *t, const struct mxb_template_input *in, size_t max, ssize_t *len)
{
	char *buf = malloc(max + 1);
	if (!buf) {
		*len = -ENOMEM;
		return NULL;
	}
	*len = mxb_template_render(t, in, buf, max + 1, NULL);
	if (*len < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Returns false when no named command is called word. */
static bool run_named(const struct mxb_config *cfg, const struct mxb_command_input *cin,
	const char *word, const char *rest, struct mxb_command_result *out)
{
	const struct mxb_sender *s = cin->sender;
	const struct mxb_command_route *route = NULL;
	bool exists = false;
	for (size_t i = 0; i < cfg->commands_len && !route; i++) {
		const struct mxb_command_route *r = &cfg->commands[i];
		if (!r->command || strcasecmp(r->command, word) != 0)
			continue;
		exists = true;
		if (mxb_access_allows(r, s))
			route = r;
	}
	if (!route) {
		/* Told as an unknown word: whether a command exists is not the sender's to know. */
		if (exists)
			answer(out, MXB_COMMAND_REFUSED, "a command the sender may not use",
				UNKNOWN_REPLY, word, 0, NULL);
		return exists;
	}

	char *args_buf = strdup(rest);
	if (!args_buf) {
		out->verdict = MXB_COMMAND_NOMEM;
		return true;
	}
	char *args[MXB_COMMAND_ARGS_MAX];
	size_t nargs = split_words(args_buf, args, MXB_COMMAND_ARGS_MAX);
	unsigned need = args_needed(route);
	if (nargs > MXB_COMMAND_ARGS_MAX) {
		answer(out, MXB_COMMAND_MALFORMED, "too many arguments",
			"usage: %Q takes at most %U arguments", route->command,
			MXB_COMMAND_ARGS_MAX, NULL);
		goto out_free_args;
	}
	if (nargs < need) {
		answer(out, MXB_COMMAND_MALFORMED, "too few arguments",
			need == 1 ? "usage: %Q with %U argument" : "usage: %Q with %U arguments",
			route->command, need, NULL);
		goto out_free_args;
	}
	/* An argument must stay inside its topic level. */
	for (size_t i = 0; i < nargs; i++) {
		if (strpbrk(args[i], "/+#")) {
			answer(out, MXB_COMMAND_MALFORMED, "an argument with '/', '+' or '#'",
				"refused: arguments must not contain '/', '+' or '#'", NULL, 0,
				NULL);
			goto out_free_args;
		}
	}
	struct mxb_template_input in = {
		.args = (const char *const *)args,
		.nargs = nargs,
		.args_text = rest,
		.from = s->jid ? s->jid : cin->from,
		.time = cin->now,
	};
	ssize_t tl, pl;
	char *topic = render(route->topic_tmpl, &in, MXB_TOPIC_MAX, &tl);
	if (!topic || tl == 0 || !mxb_topic_name_valid(topic, (size_t)tl)) {
		if (tl == -ENOMEM) {
			out->verdict = MXB_COMMAND_NOMEM;
		} else if (tl == -E2BIG) {
			answer(out, MXB_COMMAND_MALFORMED, "the topic is too long",
				"refused: '%Q' makes a topic longer than %U bytes", word,
				MXB_TOPIC_MAX, NULL);
		} else {
			answer(out, MXB_COMMAND_MALFORMED, "the command makes no valid topic",
				"refused: '%Q' does not make a topic one can publish to", word, 0,
				NULL);
		}
		free(topic);
		goto out_free_args;
	}
	bool ok = route->allow.len == 0;
	for (size_t j = 0; j < route->allow.len && !ok; j++)
		ok = mxb_topic_matches(route->allow.v[j], topic);
	if (!ok) {
		answer(out, MXB_COMMAND_REFUSED, "topic not allowed",
			"refused: you may not publish to '%Q'", topic, 0, NULL);
		free(topic);
		goto out_free_args;
	}
	char *payload = render(route->payload_tmpl, &in, cfg->bridge.max_message, &pl);
	if (!payload) {
		if (pl == -ENOMEM)
			out->verdict = MXB_COMMAND_NOMEM;
		else
			answer(out, MXB_COMMAND_MALFORMED, "the payload is too long",
				"refused: the payload would be longer than %U bytes "
				"(bridge.max_message)",
				NULL, (unsigned)cfg->bridge.max_message, NULL);
		free(topic);
		goto out_free_args;
	}
	out->verdict = MXB_COMMAND_PUBLISH;
	out->route = route;
	out->topic = topic;
	out->payload = payload;
	out->payload_len = (size_t)pl;
out_free_args:
	free(args_buf);
	return true;
}

static void run_topic_payload(const struct mxb_config *cfg, const struct mxb_sender *s,
	const char *topic, const char *payload, size_t plen, struct mxb_command_result *out)
{
	/* A word that is no topic path is told the same everywhere: an unknown command. */
	bool path = strchr(topic, '/') != NULL;
	bool valid = mxb_topic_name_valid(topic, strlen(topic));
	const struct mxb_command_route *route = NULL;
	for (size_t i = 0; valid && i < cfg->commands_len && !route; i++) {
		const struct mxb_command_route *r = &cfg->commands[i];
		if (r->command || !mxb_access_allows(r, s))
			continue;
		for (size_t j = 0; j < r->allow.len; j++) {
			if (mxb_topic_matches(r->allow.v[j], topic)) {
				route = r;
				break;
			}
		}
	}
	if (!route && !path) {
		answer(out, MXB_COMMAND_MALFORMED, "no such command", UNKNOWN_REPLY, topic, 0,
			NULL);
		return;
	}
	if (!valid) {
		answer(out, MXB_COMMAND_MALFORMED, "not a topic one can publish to",
			"refused: '%Q' is not a topic one can publish to", topic, 0, NULL);
		return;
	}
	if (!route) {
		answer(out, MXB_COMMAND_REFUSED, "topic not allowed",
			"refused: you may not publish to '%Q'", topic, 0, NULL);
		return;
	}
	if (plen > cfg->bridge.max_message) {
		answer(out, MXB_COMMAND_MALFORMED, "the payload is too long",
			"refused: the payload is longer than %U bytes (bridge.max_message)", NULL,
			(unsigned)cfg->bridge.max_message, NULL);
		return;
	}
	out->topic = strdup(topic);
	out->payload = strndup(payload, plen);
	if (!out->topic || !out->payload) {
		out->verdict = MXB_COMMAND_NOMEM;
		return;
	}
	out->verdict = MXB_COMMAND_PUBLISH;
	out->route = route;
	out->payload_len = plen;
}

/* In a room, only "NICK: ..." or "NICK, ..." is meant for the bridge. */
static const char *addressed(const char *body, const char *nick)
{
	size_t n = strlen(nick);
	if (strncasecmp(body, nick, n) != 0 || (body[n] != ':' && body[n] != ','))
		return NULL;
	return body + n + 1;
}

void mxb_command_parse(const struct mxb_config *cfg, const struct mxb_command_input *in,
	struct mxb_command_result *out)
{
	*out = (struct mxb_command_result){.verdict = MXB_COMMAND_IGNORE};
	const char *body = in->body;
	if (in->addressed_to && !(body = addressed(body, in->addressed_to)))
		return;
	/* The first word is a command name or a topic; the rest its arguments or payload. */
	while (isspace((unsigned char)*body))
		body++;
	const char *word_end = body;
	while (*word_end && !isspace((unsigned char)*word_end))
		word_end++;
	size_t word_len = (size_t)(word_end - body);
	if (!mxb_command_allowed_anywhere(cfg, in->sender)) {
		/* The word only names what was refused in the log: a bounded prefix does. */
		size_t keep = mxb_utf8_cut(body, word_len, MXB_COMMAND_ECHO_MAX);
		out->word = strndup(body, keep);
		answer(out, MXB_COMMAND_STRANGER, "not allowed", "you may not send commands here",
			NULL, 0, NULL);
		return;
	}

	const char *rest = word_end;
	while (isspace((unsigned char)*rest))
		rest++;
	size_t rest_len = strlen(rest);
	while (rest_len && isspace((unsigned char)rest[rest_len - 1]))
		rest_len--;
	if (word_len == 0) {
		answer(out, MXB_COMMAND_MALFORMED, "empty",
			"usage: TOPIC PAYLOAD or COMMAND ARGS (send 'help')", NULL, 0, NULL);
		return;
	}
	out->word = strndup(body, word_len);
	if (!out->word) {
		out->verdict = MXB_COMMAND_NOMEM;
		return;
	}
	if (word_len > MXB_TOPIC_MAX) {
		answer(out, MXB_COMMAND_MALFORMED, "the first word is too long",
			"refused: '%Q' is longer than a topic can be (%U bytes)", out->word,
			MXB_TOPIC_MAX, NULL);
		return;
	}
	char *args = strndup(rest, rest_len);
	if (!args) {
		out->verdict = MXB_COMMAND_NOMEM;
		return;
	}
	if (strcasecmp(out->word, "help") == 0 && rest_len == 0)
		help(cfg, in->sender, out);
	else if (!run_named(cfg, in, out->word, args, out))
		run_topic_payload(cfg, in->sender, out->word, args, rest_len, out);
	free(args);
}

char *mxb_command_device_word(const char *body)
{
	while (isspace((unsigned char)*body))
		body++;
	size_t n = strlen(body);
	while (n && isspace((unsigned char)body[n - 1]))
		n--;
	char *out = strndup(body, n);
	if (!out)
		return NULL;
	static const char *const words[] = {"on", "off", "toggle"};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasecmp(out, words[i]) == 0) {
			for (size_t k = 0; k < n; k++)
				out[k] = (char)toupper((unsigned char)out[k]);
		}
	}
	return out;
}

/* Whether body, without the spaces around it, is word (any case). */
static bool is_word(const char *body, const char *word)
{
	while (isspace((unsigned char)*body))
		body++;
	size_t n = strlen(body);
	while (n && isspace((unsigned char)body[n - 1]))
		n--;
	return n == strlen(word) && strncasecmp(body, word, n) == 0;
}

enum mxb_domain_request mxb_command_domain_request(const char *body)
{
	if (is_word(body, "help"))
		return MXB_DOMAIN_HELP;
	if (is_word(body, "list"))
		return MXB_DOMAIN_LIST;
	return MXB_DOMAIN_UNKNOWN;
}

enum mxb_device_request mxb_command_device_request(const char *body)
{
	if (is_word(body, "help"))
		return MXB_DEVICE_HELP;
	if (is_word(body, "status"))
		return MXB_DEVICE_STATUS;
	return MXB_DEVICE_PAYLOAD;
}
