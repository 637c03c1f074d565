/*
 * Commands (XMPP -> MQTT): a message from someone allowed becomes a publish through the
 * outbox; the sender is answered at each step the outbox tells. command.c decides what a
 * message means; this publishes, answers, counts and logs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "command.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "outbox.h"
#include "strbuf.h"
#include "text.h"

/* Where a reply goes: a JID (chat), or a room (groupchat, prefixed with the nick). */
struct reply_target {
	char *to;
	char *prefix; /* "nick: " in a room, else NULL */
	char *who; /* the sender, for log lines */
};

static void target_finish(struct reply_target *t)
{
	free(t->to);
	free(t->prefix);
	free(t->who);
	*t = (struct reply_target){0};
}

/* Sends text to a reply target: in a room, after "nick: ". Made on the heap: nicks and
 * echoed words are the sender's, of any length the server lets through. */
static void reply_text(struct mxb_bridge *b, const struct reply_target *to, const char *text)
{
	struct mxb_strbuf t;
	mxb_strbuf_init(&t, (size_t)-1 / 4);
	if (to->prefix)
		mxb_strbuf_puts(&t, to->prefix);
	mxb_strbuf_puts(&t, text);
	char *clean = t.failed ? NULL : malloc(3 * t.len + 1);
	if (!clean || mxb_text_sanitize(t.s ? t.s : "", t.len, clean, 3 * t.len + 1, NULL) < 0) {
		mxb_log_error("command: out of memory; no reply to '%s'", to->to);
	} else {
		mxb_outbox_send(b->outbox, to->to, "chat", clean);
	}
	free(clean);
	mxb_strbuf_finish(&t);
}

static void reply(struct mxb_bridge *b, const struct reply_target *to, const char *fmt, ...)
	MXB_PRINTF(3, 4);

static void reply(struct mxb_bridge *b, const struct reply_target *to, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = NULL;
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		mxb_log_error("command: out of memory; no reply to '%s'", to->to);
		return;
	}
	reply_text(b, to, text);
	free(text);
}

static int target_copy(struct reply_target *dst, const struct reply_target *src)
{
	dst->to = strdup(src->to);
	dst->prefix = src->prefix ? strdup(src->prefix) : NULL;
	dst->who = strdup(src->who ? src->who : src->to);
	if (!dst->to || (src->prefix && !dst->prefix) || !dst->who) {
		target_finish(dst);
		return -ENOMEM;
	}
	return 0;
}

/* A command in the outbox: whom to answer about which topic. */
struct command_wait {
	struct mxb_bridge *b;
	struct reply_target reply;
	char *topic;
};

static void command_free(void *ctx)
{
	struct command_wait *w = ctx;
	target_finish(&w->reply);
	free(w->topic);
	free(w);
}

/* Each step of a command's way to MQTT, told to its sender. */
static void command_event(enum mxb_outbox_event ev, int err, void *ctx)
{
	struct command_wait *w = ctx;
	struct mxb_bridge *b = w->b;
	switch (ev) {
	case MXB_OUTBOX_QUEUED:
		mxb_log_info(
			"command: queued for '%s' for '%s': MQTT is down", w->topic, w->reply.who);
		reply(b, &w->reply, "queued for '%s': MQTT is down", w->topic);
		break;
	case MXB_OUTBOX_WRITTEN:
		b->n.commands_published++;
		mxb_log_info("command: published to '%s' for '%s'", w->topic, w->reply.who);
		break;
	case MXB_OUTBOX_PUBLISHED:
		reply(b, &w->reply, "published to '%s'", w->topic);
		break;
	case MXB_OUTBOX_UNTRACKED:
		reply(b, &w->reply, "sent to '%s'", w->topic);
		break;
	case MXB_OUTBOX_FAILED:
		if (err != -ENOMEM)
			mxb_log_warn("command: cannot publish to '%s' for '%s': %s", w->topic,
				w->reply.who, strerror(-err));
		reply(b, &w->reply, "failed: cannot publish to '%s': %s", w->topic, strerror(-err));
		break;
	case MXB_OUTBOX_DROPPED:
	case MXB_OUTBOX_REPLACED:
		/* Counted and logged once per burst by the outbox; the sender learns it here. */
		reply(b, &w->reply,
			"dropped: MQTT stayed down and %zu newer commands wait; '%s' is "
			"not published",
			b->cfg->bridge.queue_size, w->topic);
		break;
	}
}

static const struct mxb_outbox_client command_client = {command_event, command_free};

/* Hands a command to the outbox. Takes topic and payload. */
static void submit(struct mxb_bridge *b, const struct mxb_command_route *route,
	const struct reply_target *to, char *topic, char *payload, size_t len)
{
	struct command_wait *w = calloc(1, sizeof(*w));
	if (!w || target_copy(&w->reply, to) < 0) {
		mxb_log_error("command: out of memory; '%s' not published", topic);
		reply(b, to, "failed: out of memory; '%s' not published", topic);
		free(w);
		free(topic);
		free(payload);
		return;
	}
	w->b = b;
	w->topic = topic;
	struct mxb_outbox_publish p = {topic, payload, len, route->qos, route->retain, false};
	mxb_outbox_publish(b->outbox, &p, &command_client, w);
	free(payload);
}

/* Who sent a command, for log lines: "JID", or "nick 'N' in room 'R'". */
static char *who_of(const struct mxb_xmpp_message *msg)
{
	char *s = NULL;
	int n = msg->room ? asprintf(&s, "%s (nick '%s' in room '%s')",
				    msg->real_jid ? msg->real_jid : msg->from, msg->nick, msg->room)
			  : asprintf(&s, "%s", msg->from);
	return n < 0 ? NULL : s;
}

void mxb_bridge_command_message(const struct mxb_xmpp_message *msg, void *data)
{
	struct mxb_bridge *b = data;
	const struct mxb_config *cfg = b->cfg;
	char bare[MXB_JID_MAX + 1];
	struct mxb_sender s = {0};
	struct reply_target to = {.to = (char *)msg->from};
	struct mxb_command_input in = {
		.sender = &s, .from = msg->from, .body = msg->body, .now = (int64_t)time(NULL)};
	bool to_room = false;

	if (msg->room) {
		s.room = msg->room;
		s.nick = msg->nick;
		s.jid = msg->real_jid;
		s.role = (enum mxb_muc_role)msg->role;
		s.affiliation = (enum mxb_muc_affiliation)msg->affiliation;
		if (strcmp(msg->type, "groupchat") == 0) {
			in.addressed_to = msg->own_nick;
			if (!in.addressed_to)
				return;
			to.to = (char *)msg->room;
			to_room = true;
		}
	} else {
		if (mxb_jid_bare(msg->from, bare, sizeof(bare)) < 0) {
			b->n.commands_malformed++;
			return;
		}
		s.jid = bare;
	}

	struct mxb_command_result res;
	mxb_command_parse(cfg, &in, &res);
	if (res.verdict == MXB_COMMAND_IGNORE) {
		mxb_command_result_finish(&res);
		return;
	}
	char *who = who_of(msg);
	char *prefix = NULL;
	if (to_room && asprintf(&prefix, "%s: ", msg->nick) < 0)
		prefix = NULL;
	to.prefix = prefix;
	to.who = who ? who : (char *)msg->from;
	const char *word = res.word ? res.word : "";
	switch (res.verdict) {
	case MXB_COMMAND_IGNORE:
		break;
	case MXB_COMMAND_STRANGER:
		b->n.commands_from_strangers++;
		if (msg->room) {
			mxb_log_warn("command: refused message from '%s' in room '%s': not allowed "
				     "('%s')",
				msg->nick, msg->room, word);
			reply_text(b, &to, res.reply);
		} else {
			mxb_log_warn("command: refused message from '%s': not allowed ('%s')",
				msg->from, word);
			mxb_xmpp_send_forbidden(b->xmpp, msg->from, msg->id,
				"You are not allowed to send commands to this bridge.");
		}
		break;
	case MXB_COMMAND_HELP:
		mxb_log_info("command: help for '%s'", to.who);
		reply_text(b, &to, res.reply);
		break;
	case MXB_COMMAND_REFUSED:
		b->n.commands_refused++;
		mxb_log_warn("command: refused '%s' from '%s': %s", word, to.who, res.why);
		reply_text(b, &to, res.reply);
		break;
	case MXB_COMMAND_MALFORMED:
		b->n.commands_malformed++;
		mxb_log_info(
			"command: malformed message from '%s': %s ('%s')", to.who, res.why, word);
		reply_text(b, &to, res.reply);
		break;
	case MXB_COMMAND_NOMEM:
		mxb_log_error("command: out of memory reading a message from '%s'", to.who);
		if (res.reply)
			reply_text(b, &to, res.reply);
		break;
	case MXB_COMMAND_PUBLISH:
		submit(b, res.route, &to, res.topic, res.payload, res.payload_len);
		res.topic = res.payload = NULL;
		break;
	}
	mxb_command_result_finish(&res);
	free(prefix);
	free(who);
}
