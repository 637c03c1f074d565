#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

enum seg_kind {
	SEG_TEXT,
	SEG_PAYLOAD,
	SEG_TOPIC,
	SEG_TOPIC_LEVEL,
	SEG_JSON,
	SEG_FROM,
	SEG_BODY,
};

struct seg {
	enum seg_kind kind;
	char *text; /* SEG_TEXT: the literal; SEG_JSON: the path, NUL-separated */
	size_t len; /* SEG_TEXT: literal length; SEG_JSON: number of path parts */
	unsigned level; /* SEG_TOPIC_LEVEL, from 1 */
};

struct mxb_template {
	struct seg *segs;
	size_t len;
	bool json;
};

void mxb_template_destroy(struct mxb_template *tmpl)
{
	if (!tmpl)
		return;
	for (size_t i = 0; i < tmpl->len; i++)
		free(tmpl->segs[i].text);
	free(tmpl->segs);
	free(tmpl);
}

bool mxb_template_uses_json(const struct mxb_template *tmpl)
{
	return tmpl->json;
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
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (strlen(simple[i].name) == n && memcmp(name, simple[i].name, n) == 0)
			return push(t, (struct seg){.kind = simple[i].kind});
	}
	if (n > 6 && memcmp(name, "topic.", 6) == 0) {
		unsigned level = 0;
		for (size_t i = 6; i < n; i++) {
			if (!isdigit((unsigned char)name[i]) || level > 10000) {
				level = 0;
				break;
			}
			level = level * 10 + (unsigned)(name[i] - '0');
		}
		if (level == 0) {
			snprintf(err, errlen, "bad topic level in '{{%.*s}}' (levels count from 1)",
				(int)n, name);
			return -EINVAL;
		}
		return push(t, (struct seg){.kind = SEG_TOPIC_LEVEL, .level = level});
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
		while (name < end && isspace((unsigned char)*name))
			name++;
		while (end > name && isspace((unsigned char)end[-1]))
			end--;
		r = parse_name(t, name, (size_t)(end - name), err, errlen);
		if (r < 0)
			break;
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

static void put_topic_level(struct out *o, const char *topic, unsigned level)
{
	if (!topic)
		return;
	const char *p = topic;
	for (unsigned i = 1; i < level; i++) {
		p = strchr(p, '/');
		if (!p)
			return;
		p++;
	}
	const char *end = strchr(p, '/');
	put(o, p, end ? (size_t)(end - p) : strlen(p));
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
		switch (s->kind) {
		case SEG_TEXT:
			put(&o, s->text, s->len);
			break;
		case SEG_PAYLOAD:
			if (in->payload)
				put(&o, in->payload, in->payload_len);
			break;
		case SEG_TOPIC:
			put_str(&o, in->topic);
			break;
		case SEG_TOPIC_LEVEL:
			put_topic_level(&o, in->topic, s->level);
			break;
		case SEG_FROM:
			put_str(&o, in->from);
			break;
		case SEG_BODY:
			put_str(&o, in->body);
			break;
		case SEG_JSON: {
			if (!json_tried) {
				json_tried = true;
				if (in->payload)
					json = cJSON_ParseWithLength(in->payload, in->payload_len);
			}
			const cJSON *v = json ? json_lookup(json, s) : NULL;
			if (v)
				put_json(&o, v);
			else if (stats)
				stats->json_misses++;
			break;
		}
		}
	}
	cJSON_Delete(json);
	if (o.full)
		return -E2BIG;
	buf[o.len] = '\0';
	return (ssize_t)o.len;
}
