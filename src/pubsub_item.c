#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pubsub_item.h"
#include "text.h"

bool mxb_pubsub_node_valid(const char *node, size_t len)
{
	return len > 0 && len <= MXB_PUBSUB_NODE_MAX && mxb_text_xml_valid(node, len);
}

bool mxb_pubsub_node_matches(const char *pattern, const char *node)
{
	/* Greedy with one backtrack point: linear in practice, never recursive. */
	const char *star = NULL, *resume = NULL;
	while (*node) {
		if (*pattern == '*') {
			star = pattern++;
			resume = node;
		} else if (*pattern == *node) {
			pattern++;
			node++;
		} else if (star) {
			pattern = star + 1;
			node = ++resume;
		} else {
			return false;
		}
	}
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}

/* s[0..len) escaped for XML text and attribute values (quoted with '). */
static int add_escaped(struct mxb_strbuf *b, const char *s, size_t len)
{
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		const char *rep = NULL;
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		case '"':
			rep = "&quot;";
			break;
		default:
			continue;
		}
		int r = mxb_strbuf_add(b, s + run, i - run);
		if (r == 0)
			r = mxb_strbuf_puts(b, rep);
		if (r < 0)
			return r;
		run = i + 1;
	}
	return mxb_strbuf_add(b, s + run, len - run);
}

static int esc(struct mxb_strbuf *b, const char *s)
{
	return add_escaped(b, s, strlen(s));
}

/* Appends the pieces in turn: literal text, then escaped values where fmt says 'e'. */
static int put(struct mxb_strbuf *b, const char *lit)
{
	return mxb_strbuf_puts(b, lit);
}

static int base64_element(struct mxb_strbuf *out, const char *payload, size_t len)
{
	size_t need = 4 * ((len + 2) / 3) + 1;
	if (len > out->max || out->len + need > out->max + 1)
		return -E2BIG;
	char *enc = malloc(need);
	if (!enc)
		return -ENOMEM;
	ssize_t n = mxb_text_base64(payload, len, enc, need);
	int r = n < 0 ? -E2BIG : put(out, "<base64 xmlns='" MXB_NS_PAYLOAD "'>");
	if (r == 0)
		r = mxb_strbuf_add(out, enc, (size_t)n);
	if (r == 0)
		r = put(out, "</base64>");
	free(enc);
	return r;
}

static int time_text(struct mxb_strbuf *out, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];
	if (!gmtime_r(&tt, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, sizeof(buf), "1970-01-01T00:00:00Z");
	return put(out, buf);
}

static int atom_entry(
	struct mxb_strbuf *out, const char *payload, size_t len, const struct mxb_pubsub_entry *e)
{
	int r = put(out, "<entry xmlns='" MXB_NS_ATOM "'><title type='text'>");
	if (r == 0)
		r = esc(out, e->title ? e->title : "");
	if (r == 0)
		r = put(out, "</title><summary type='text'>");
	if (r == 0)
		r = esc(out, e->summary ? e->summary : "");
	if (r == 0)
		r = put(out, "</summary><content type='text'>");
	if (r == 0)
		r = add_escaped(out, payload, len);
	if (r == 0)
		r = put(out, "</content><id>");
	if (r == 0)
		r = esc(out, e->id ? e->id : "");
	if (r == 0)
		r = put(out, "</id><published>");
	if (r == 0)
		r = time_text(out, e->time);
	if (r == 0)
		r = put(out, "</published><updated>");
	if (r == 0)
		r = time_text(out, e->time);
	if (r == 0)
		r = put(out, "</updated></entry>");
	return r;
}

static bool is_json(const char *payload, size_t len)
{
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(payload, len, &end, false);
	bool ok = j != NULL;
	/* Only white space may follow the value. */
	while (ok && end && (size_t)(end - payload) < len) {
		char c = *end++;
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			ok = false;
	}
	cJSON_Delete(j);
	return ok;
}

int mxb_pubsub_payload(struct mxb_strbuf *out, enum mxb_pubsub_format f, const char *payload,
	size_t len, const struct mxb_pubsub_entry *entry, enum mxb_pubsub_built *how)
{
	*how = MXB_PUBSUB_BUILT_ASKED;
	if (f != MXB_PUBSUB_BASE64 && !mxb_text_xml_valid(payload, len)) {
		*how = MXB_PUBSUB_BUILT_BASE64;
		f = MXB_PUBSUB_BASE64;
	}
	if (f == MXB_PUBSUB_JSON && !is_json(payload, len)) {
		*how = MXB_PUBSUB_BUILT_TEXT;
		f = MXB_PUBSUB_TEXT;
	}
	int r;
	switch (f) {
	case MXB_PUBSUB_JSON:
		r = put(out, "<json xmlns='" MXB_NS_JSON "'>");
		if (r == 0)
			r = add_escaped(out, payload, len);
		return r ? r : put(out, "</json>");
	case MXB_PUBSUB_TEXT:
		r = put(out, "<text xmlns='" MXB_NS_PAYLOAD "'>");
		if (r == 0)
			r = add_escaped(out, payload, len);
		return r ? r : put(out, "</text>");
	case MXB_PUBSUB_ATOM: {
		static const struct mxb_pubsub_entry none = {0};
		return atom_entry(out, payload, len, entry ? entry : &none);
	}
	case MXB_PUBSUB_BASE64:
		break;
	}
	return base64_element(out, payload, len);
}

/* <iq type=TYPE to=SERVICE id=ID><pubsub xmlns=NS> */
static int iq_open(struct mxb_strbuf *out, const char *type, const char *id, const char *service,
	const char *ns)
{
	int r = put(out, "<iq type='");
	if (r == 0)
		r = put(out, type);
	if (r == 0)
		r = put(out, "' to='");
	if (r == 0)
		r = esc(out, service);
	if (r == 0)
		r = put(out, "' id='");
	if (r == 0)
		r = esc(out, id);
	if (r == 0)
		r = put(out, "'><pubsub xmlns='");
	if (r == 0)
		r = put(out, ns);
	return r ? r : put(out, "'>");
}

/* <NAME node='NODE' */
static int node_open(struct mxb_strbuf *out, const char *name, const char *node)
{
	int r = put(out, "<");
	if (r == 0)
		r = put(out, name);
	if (r == 0)
		r = put(out, " node='");
	if (r == 0)
		r = esc(out, node);
	return r ? r : put(out, "'");
}

static int field(struct mxb_strbuf *out, const char *var, const char *type, const char *value)
{
	int r = put(out, "<field var='");
	if (r == 0)
		r = put(out, var);
	if (r == 0 && type) {
		r = put(out, "' type='");
		if (r == 0)
			r = put(out, type);
	}
	if (r == 0)
		r = put(out, "'><value>");
	if (r == 0)
		r = esc(out, value);
	return r ? r : put(out, "</value></field>");
}

int mxb_pubsub_iq_publish(struct mxb_strbuf *out, const struct mxb_pubsub_publish *p)
{
	int r = iq_open(out, "set", p->id, p->service, MXB_NS_PUBSUB);
	if (r == 0)
		r = node_open(out, "publish", p->node);
	if (r == 0)
		r = put(out, "><item id='");
	if (r == 0)
		r = esc(out, p->item);
	if (r == 0)
		r = put(out, "'>");
	if (r == 0)
		r = put(out, p->payload_xml);
	if (r == 0)
		r = put(out, "</item></publish>");
	if (r == 0 && p->options) {
		r = put(out, "<publish-options><x xmlns='jabber:x:data' type='submit'>");
		if (r == 0)
			r = field(out, "FORM_TYPE", "hidden", MXB_NS_PUBSUB "#publish-options");
		if (r == 0)
			r = field(out, "pubsub#persist_items", NULL, "true");
		if (r == 0)
			r = put(out, "</x></publish-options>");
	}
	return r ? r : put(out, "</pubsub></iq>");
}

int mxb_pubsub_iq_retract(struct mxb_strbuf *out, const char *id, const char *service,
	const char *node, const char *item)
{
	int r = iq_open(out, "set", id, service, MXB_NS_PUBSUB);
	if (r == 0)
		r = node_open(out, "retract", node);
	if (r == 0)
		r = put(out, " notify='true'><item id='");
	if (r == 0)
		r = esc(out, item);
	return r ? r : put(out, "'/></retract></pubsub></iq>");
}

int mxb_pubsub_iq_create(struct mxb_strbuf *out, const char *id, const char *service,
	const char *node, int max_items)
{
	char max[24];
	snprintf(max, sizeof(max), "%d", max_items);
	int r = iq_open(out, "set", id, service, MXB_NS_PUBSUB);
	if (r == 0)
		r = node_open(out, "create", node);
	if (max_items <= 0)
		return r ? r : put(out, "/></pubsub></iq>");
	if (r == 0)
		r = put(out, "/><configure><x xmlns='jabber:x:data' type='submit'>");
	if (r == 0)
		r = field(out, "FORM_TYPE", "hidden", MXB_NS_PUBSUB "#node_config");
	if (r == 0)
		r = field(out, "pubsub#persist_items", NULL, "true");
	if (r == 0)
		r = field(out, "pubsub#max_items", NULL, max);
	if (r == 0)
		r = field(out, "pubsub#access_model", NULL, "open");
	return r ? r : put(out, "</x></configure></pubsub></iq>");
}

int mxb_pubsub_iq_subscribe(struct mxb_strbuf *out, const char *id, const char *service,
	const char *node, const char *jid)
{
	int r = iq_open(out, "set", id, service, MXB_NS_PUBSUB);
	if (r == 0)
		r = node_open(out, "subscribe", node);
	if (r == 0)
		r = put(out, " jid='");
	if (r == 0)
		r = esc(out, jid);
	return r ? r : put(out, "'/></pubsub></iq>");
}

int mxb_pubsub_iq_last_item(
	struct mxb_strbuf *out, const char *id, const char *service, const char *node)
{
	int r = iq_open(out, "get", id, service, MXB_NS_PUBSUB);
	if (r == 0)
		r = node_open(out, "items", node);
	return r ? r : put(out, " max_items='1'/></pubsub></iq>");
}

int mxb_pubsub_iq_nodes(struct mxb_strbuf *out, const char *id, const char *service)
{
	int r = put(out, "<iq type='get' to='");
	if (r == 0)
		r = esc(out, service);
	if (r == 0)
		r = put(out, "' id='");
	if (r == 0)
		r = esc(out, id);
	return r ? r : put(out, "'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
}

static bool is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

enum mxb_pubsub_outcome mxb_pubsub_classify(
	const char *type, const char *condition, const char *pubsub_condition, bool options)
{
	if (is(type, "result"))
		return MXB_PUBSUB_DONE;
	if (is(pubsub_condition, "payload-too-big"))
		return MXB_PUBSUB_TOO_BIG;
	/* The node's configuration differs from the publish-options (XEP-0060 7.1.5). */
	if (is(pubsub_condition, "precondition-not-met") || is(condition, "conflict"))
		return options ? MXB_PUBSUB_RETRY_PLAIN : MXB_PUBSUB_DROP;
	/* A field the service does not take: ejabberd 23.01 says resource-constraint. */
	if (options &&
		(is(pubsub_condition, "invalid-options") || is(pubsub_condition, "unsupported") ||
			is(condition, "bad-request") || is(condition, "resource-constraint") ||
			is(condition, "feature-not-implemented")))
		return MXB_PUBSUB_RETRY_PLAIN;
	if (is(condition, "item-not-found"))
		return MXB_PUBSUB_CREATE;
	if (is(condition, "forbidden") || is(condition, "not-authorized") ||
		is(condition, "not-allowed") || is(condition, "registration-required"))
		return MXB_PUBSUB_DISABLE;
	/* ejabberd's answer to a payload over its limit. */
	if (is(condition, "not-acceptable"))
		return MXB_PUBSUB_TOO_BIG;
	return MXB_PUBSUB_DROP;
}

const char *mxb_pubsub_outcome_name(enum mxb_pubsub_outcome o)
{
	static const char *const names[] = {
		[MXB_PUBSUB_DONE] = "done",
		[MXB_PUBSUB_CREATE] = "create",
		[MXB_PUBSUB_RETRY_PLAIN] = "retry without publish-options",
		[MXB_PUBSUB_DISABLE] = "disable",
		[MXB_PUBSUB_TOO_BIG] = "too big",
		[MXB_PUBSUB_DROP] = "drop",
	};
	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

static int b64_digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Base64 with or without padding; white space between the digits is allowed. */
static int base64_decode(struct mxb_strbuf *out, const char *s)
{
	uint32_t acc = 0;
	int bits = 0;
	bool pad = false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == '=') {
			pad = true;
			continue;
		}
		int d = b64_digit(c);
		if (d < 0 || pad)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			char byte = (char)((acc >> bits) & 0xff);
			int r = mxb_strbuf_add(out, &byte, 1);
			if (r < 0)
				return r;
		}
	}
	/* An empty value gives an empty buffer: make it a string. */
	return out->s ? 0 : mxb_strbuf_add(out, "", 0);
}

int mxb_pubsub_element_value(struct mxb_strbuf *out, const struct mxb_pubsub_element *e)
{
	const char *text = e->text ? e->text : "";
	if (is(e->ns, MXB_NS_JSON) && is(e->name, "json"))
		return mxb_strbuf_puts(out, text);
	if (is(e->ns, MXB_NS_PAYLOAD) && is(e->name, "text"))
		return mxb_strbuf_puts(out, text);
	if (is(e->ns, MXB_NS_PAYLOAD) && is(e->name, "base64"))
		return base64_decode(out, text);
	return mxb_strbuf_puts(out, e->xml ? e->xml : "");
}

void mxb_pubsub_item_id(char *buf, size_t cap, int64_t ms, uint32_t seq)
{
	snprintf(buf, cap, "%" PRId64 "-%" PRIu32, ms, seq);
}

uint64_t mxb_pubsub_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static bool journal_valid(const struct mxb_pubsub_journal *j)
{
	return mxb_pubsub_node_valid(j->node, j->node_len) && j->item_len > 0 &&
	       j->item_len <= MXB_PUBSUB_ITEM_ID_MAX && mxb_text_xml_valid(j->item, j->item_len) &&
	       j->max_items >= 1 && j->max_items <= 1000 && j->max >= 512 && j->max <= 240000 &&
	       j->payload_len <= j->max &&
	       (j->retract ? j->payload_len == 0 : j->payload_len > 0) &&
	       mxb_text_xml_valid(j->payload ? j->payload : "", j->payload_len);
}

int mxb_pubsub_journal_encode(struct mxb_strbuf *out, const struct mxb_pubsub_journal *j)
{
	if (!journal_valid(j))
		return -EINVAL;
	int r = mxb_strbuf_printf(out, "%d %zu %zu %zu %c\n", j->max_items, j->max, j->node_len,
		j->item_len, j->retract ? 'r' : 'p');
	if (r == 0)
		r = mxb_strbuf_add(out, j->node, j->node_len);
	if (r == 0)
		r = mxb_strbuf_add(out, j->item, j->item_len);
	if (r == 0 && j->payload_len)
		r = mxb_strbuf_add(out, j->payload, j->payload_len);
	return r;
}

/* A decimal number without sign or leading zeros, at most max, then sep. */
static bool number(
	const char **p, const char *end, char sep, unsigned long long max, unsigned long long *out)
{
	const char *s = *p;
	unsigned long long v = 0;
	if (s >= end || *s < '0' || *s > '9' || (*s == '0' && s + 1 < end && s[1] != sep))
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v > max)
			return false;
	}
	if (s >= end || *s != sep)
		return false;
	*p = s + 1;
	*out = v;
	return true;
}

int mxb_pubsub_journal_decode(const char *body, size_t len, struct mxb_pubsub_journal *j)
{
	const char *p = body, *end = body + len;
	unsigned long long mi, max, nl, il;
	if (!number(&p, end, ' ', 1000, &mi) || !number(&p, end, ' ', 240000, &max) ||
		!number(&p, end, ' ', MXB_PUBSUB_NODE_MAX, &nl) ||
		!number(&p, end, ' ', MXB_PUBSUB_ITEM_ID_MAX, &il) || end - p < 2 ||
		(p[0] != 'p' && p[0] != 'r') || p[1] != '\n')
		return -EBADMSG;
	*j = (struct mxb_pubsub_journal){
		.retract = p[0] == 'r', .max_items = (int)mi, .max = (size_t)max};
	p += 2;
	if ((size_t)(end - p) < nl + il)
		return -EBADMSG;
	j->node = p;
	j->node_len = (size_t)nl;
	j->item = p + nl;
	j->item_len = (size_t)il;
	j->payload = p + nl + il;
	j->payload_len = (size_t)(end - j->payload);
	return journal_valid(j) ? 0 : -EBADMSG;
}
