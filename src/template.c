#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template.h"

enum seg_kind {
	SEG_TEXT,
	SEG_PAYLOAD,
	SEG_TOPIC,
	SEG_TOPIC_LEVEL,
	SEG_JSON,
	SEG_FROM,
	SEG_BODY,
	SEG_ARG,
	SEG_ARGS,
	SEG_TIME,
	SEG_NAME,
};

struct seg {
	enum seg_kind kind;
	char *text; /* SEG_TEXT: the literal; SEG_JSON: the path, NUL-separated */
	size_t len; /* SEG_TEXT: literal length; SEG_JSON: number of path parts */
	unsigned level; /* SEG_TOPIC_LEVEL and SEG_ARG, from 1 */
	char *fallback; /* NULL: the input's fallback */
};

struct mxb_template {
	struct seg *segs;
	size_t len;
	bool json;
	unsigned max_arg;
};

void mxb_template_destroy(struct mxb_template *tmpl)
{
	if (!tmpl)
		return;
	for (size_t i = 0; i < tmpl->len; i++) {
		free(tmpl->segs[i].text);
		free(tmpl->segs[i].fallback);
	}
	free(tmpl->segs);
	free(tmpl);
}

bool mxb_template_uses_json(const struct mxb_template *tmpl)
{
	return tmpl->json;
}

unsigned mxb_template_max_arg(const struct mxb_template *tmpl)
{
	return tmpl->max_arg;
}

bool mxb_template_uses(const struct mxb_template *tmpl, const char *name)
{
	static const struct {
		const char *name;
		enum seg_kind kind;
	} kinds[] = {
		{"payload", SEG_PAYLOAD},
		{"topic", SEG_TOPIC},
		{"topic", SEG_TOPIC_LEVEL},
		{"json", SEG_JSON},
		{"from", SEG_FROM},
		{"body", SEG_BODY},
		{"arg", SEG_ARG},
		{"args", SEG_ARGS},
		{"time", SEG_TIME},
		{"name", SEG_NAME},
	};
	for (size_t i = 0; i < tmpl->len; i++) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			if (tmpl->segs[i].kind == kinds[k].kind && strcmp(kinds[k].name, name) == 0)
				return true;
		}
	}
	return false;
}

static int push(struct mxb_template *t, struct seg s)
{
	struct seg *segs = realloc(t->segs, (t->len + 1) * sizeof(*segs));
	if (!segs)
		return -ENOMEM;
	t->segs = segs;
	t->segs[t->len++] = s;
	return 0;
}

static int push_text(struct mxb_template *t, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	char *copy = strndup(s, n);
	if (!copy)
		return -ENOMEM;
	int r = push(t, (struct seg){.kind = SEG_TEXT, .text = copy, .len = n});
	if (r < 0)
		free(copy);
	return r;
}

static bool parse_level(const char *digits, size_t n, unsigned *out)
{
	unsigned level = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)digits[i]) || level > 10000)
			return false;
		level = level * 10 + (unsigned)(digits[i] - '0');
	}
	*out = level;
	return level > 0;
}

/* Parses the name between the braces, already trimmed. */
static int parse_name(struct mxb_template *t, const char *name, size_t n, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum seg_kind kind;
	} simple[] = {
		{"payload", SEG_PAYLOAD},
		{"topic", SEG_TOPIC},
		{"from", SEG_FROM},
		{"body", SEG_BODY},
		{"args", SEG_ARGS},
		{"time", SEG_TIME},
		{"name", SEG_NAME},
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (strlen(simple[i].name) == n && memcmp(name, simple[i].name, n) == 0)
			return push(t, (struct seg){.kind = simple[i].kind});
	}
	if (n > 6 && memcmp(name, "topic.", 6) == 0) {
		unsigned level;
		if (!parse_level(name + 6, n - 6, &level)) {
			snprintf(err, errlen, "bad topic level in '{{%.*s}}' (levels count from 1)",
				(int)n, name);
			return -EINVAL;
		}
		return push(t, (struct seg){.kind = SEG_TOPIC_LEVEL, .level = level});
	}
	if (n > 4 && memcmp(name, "arg.", 4) == 0) {
		unsigned level;
		if (!parse_level(name + 4, n - 4, &level)) {
			snprintf(err, errlen,
				"bad argument number in '{{%.*s}}' (arguments count from 1)",
				(int)n, name);
			return -EINVAL;
		}
		if (level > t->max_arg)
			t->max_arg = level;
		return push(t, (struct seg){.kind = SEG_ARG, .level = level});
	}
	if (n > 5 && memcmp(name, "json.", 5) == 0) {
		char *path = strndup(name + 5, n - 5);
		if (!path)
			return -ENOMEM;
		size_t parts = 1;
		bool bad = path[0] == '\0';
		for (char *p = path; *p; p++) {
			if (*p == '.') {
				*p = '\0';
				parts++;
				if (p[1] == '\0' || p[1] == '.' || p == path || p[-1] == '\0')
					bad = true;
			}
		}
		if (bad) {
			free(path);
			snprintf(err, errlen, "empty field name in '{{%.*s}}'", (int)n, name);
			return -EINVAL;
		}
		t->json = true;
		int r = push(t, (struct seg){.kind = SEG_JSON, .text = path, .len = parts});
		if (r < 0)
			free(path);
		return r;
	}
	snprintf(err, errlen, "unknown placeholder '{{%.*s}}'", (int)n, name);
	return -EINVAL;
}

int mxb_template_parse(const char *src, struct mxb_template **out, char *err, size_t errlen)
{
	struct mxb_template *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	const char *p = src;
	int r = 0;
	while (*p) {
		const char *open = strstr(p, "{{");
		if (!open) {
			r = push_text(t, p, strlen(p));
			break;
		}
		r = push_text(t, p, (size_t)(open - p));
		if (r < 0)
			break;
		const char *close = strstr(open + 2, "}}");
		if (!close) {
			snprintf(err, errlen, "unterminated placeholder at column %zu",
				(size_t)(open - src) + 1);
			r = -EINVAL;
			break;
		}
		const char *name = open + 2;
		const char *end = close;
		const char *bar = memchr(name, '|', (size_t)(close - name));
		if (bar)
			end = bar;
		while (name < end && isspace((unsigned char)*name))
			name++;
		while (end > name && isspace((unsigned char)end[-1]))
			end--;
		r = parse_name(t, name, (size_t)(end - name), err, errlen);
		if (r < 0)
			break;
		if (bar) {
			const char *fb = bar + 1, *fe = close;
			while (fb < fe && isspace((unsigned char)*fb))
				fb++;
			while (fe > fb && isspace((unsigned char)fe[-1]))
				fe--;
			t->segs[t->len - 1].fallback = strndup(fb, (size_t)(fe - fb));
			if (!t->segs[t->len - 1].fallback) {
				r = -ENOMEM;
				break;
			}
		}
		p = close + 2;
	}
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		mxb_template_destroy(t);
		return r;
	}
	*out = t;
	return 0;
}

struct out {
	char *buf;
	size_t cap, len;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->len + n >= o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void put_str(struct out *o, const char *s)
{
	if (s)
		put(o, s, strlen(s));
}

static bool put_topic_level(struct out *o, const char *topic, unsigned level)
{
	if (!topic)
		return false;
	const char *p = topic;
	for (unsigned i = 1; i < level; i++) {
		p = strchr(p, '/');
		if (!p)
			return false;
		p++;
	}
	const char *end = strchr(p, '/');
	put(o, p, end ? (size_t)(end - p) : strlen(p));
	return true;
}

static void put_time(struct out *o, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];
	if (!gmtime_r(&tt, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return;
	put_str(o, buf);
}

static const cJSON *json_lookup(const cJSON *root, const struct seg *s)
{
	const cJSON *node = root;
	const char *part = s->text;
	for (size_t i = 0; i < s->len && node; i++) {
		if (cJSON_IsArray(node)) {
			char *end;
			long idx = strtol(part, &end, 10);
			node = (*end == '\0' && idx >= 0 && idx < INT32_MAX)
				       ? cJSON_GetArrayItem(node, (int)idx)
				       : NULL;
		} else if (cJSON_IsObject(node)) {
			node = cJSON_GetObjectItemCaseSensitive(node, part);
		} else {
			node = NULL;
		}
		part += strlen(part) + 1;
	}
	return node;
}

static void put_json(struct out *o, const cJSON *v)
{
	char num[64];
	if (cJSON_IsString(v)) {
		put_str(o, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d == floor(d) && fabs(d) < 1e15)
			snprintf(num, sizeof(num), "%.0f", d);
		else
			snprintf(num, sizeof(num), "%.15g", d);
		put_str(o, num);
	} else if (cJSON_IsBool(v)) {
		put_str(o, cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsNull(v)) {
		put_str(o, "null");
	} else {
		char *s = cJSON_PrintUnformatted(v);
		if (!s) {
			o->full = true;
			return;
		}
		put_str(o, s);
		cJSON_free(s);
	}
}

ssize_t mxb_template_render(const struct mxb_template *tmpl, const struct mxb_template_input *in,
	char *buf, size_t cap, struct mxb_template_stats *stats)
{
	struct out o = {.buf = buf, .cap = cap};
	cJSON *json = NULL;
	bool json_tried = false;
	if (cap == 0)
		return -E2BIG;
	for (size_t i = 0; i < tmpl->len && !o.full; i++) {
		const struct seg *s = &tmpl->segs[i];
		bool found = true;
		switch (s->kind) {
		case SEG_TEXT:
			put(&o, s->text, s->len);
			break;
		case SEG_PAYLOAD:
			found = in->payload != NULL;
			if (found)
				put(&o, in->payload, in->payload_len);
			break;
		case SEG_TOPIC:
			found = in->topic != NULL;
			put_str(&o, in->topic);
			break;
		case SEG_TOPIC_LEVEL:
			found = put_topic_level(&o, in->topic, s->level);
			break;
		case SEG_FROM:
			found = in->from != NULL;
			put_str(&o, in->from);
			break;
		case SEG_BODY:
			found = in->body != NULL;
			put_str(&o, in->body);
			break;
		case SEG_ARG:
			found = in->args && s->level <= in->nargs;
			if (found)
				put_str(&o, in->args[s->level - 1]);
			break;
		case SEG_ARGS:
			found = in->args_text != NULL;
			put_str(&o, in->args_text);
			break;
		case SEG_TIME:
			put_time(&o, in->time);
			break;
		case SEG_NAME:
			found = in->name != NULL;
			put_str(&o, in->name);
			break;
		case SEG_JSON: {
			if (!json_tried) {
				json_tried = true;
				if (in->payload)
					json = cJSON_ParseWithLength(in->payload, in->payload_len);
			}
			const cJSON *v = json ? json_lookup(json, s) : NULL;
			found = v != NULL;
			if (found)
				put_json(&o, v);
			else if (stats)
				stats->json_misses++;
			break;
		}
		}
		if (!found) {
			if (stats)
				stats->misses++;
			put_str(&o, s->fallback ? s->fallback : in->fallback);
		}
	}
	cJSON_Delete(json);
	if (o.full)
		return -E2BIG;
	buf[o.len] = '\0';
	return (ssize_t)o.len;
}
