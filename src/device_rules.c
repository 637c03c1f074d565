#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "device_rules.h"
#include "strbuf.h"
#include "topic.h"

/* Reports bigger than this are no Tasmota telemetry: not parsed. */
#define REPORT_MAX 8192

bool mxb_device_rule_excludes(const struct mxb_device_rule *r, const char *topic)
{
	for (size_t i = 0; i < r->exclude.len; i++) {
		if (mxb_topic_matches(r->exclude.v[i], topic))
			return true;
	}
	return false;
}

/* Whether every topic filter takes is excluded by r. */
static bool excludes_all(const struct mxb_device_rule *r, const char *filter)
{
	for (size_t i = 0; i < r->exclude.len; i++) {
		if (mxb_topic_filter_covers(r->exclude.v[i], filter))
			return true;
	}
	return false;
}

/* The filters a rule takes messages from; returns how many (at most 2 + reports). */
static size_t filters_of(const struct mxb_device_rule *r, const char **f)
{
	size_t n = 0;
	if (r->availability)
		f[n++] = r->availability;
	if (r->state)
		f[n++] = r->state;
	for (size_t i = 0; i < r->reports_len; i++)
		f[n++] = r->reports[i];
	return n;
}

bool mxb_device_rules_overlap(const struct mxb_device_rule *a, const struct mxb_device_rule *b,
	const char **fa, const char **fb)
{
	const char *x[2 + MXB_DEVICE_REPORTS_MAX], *y[2 + MXB_DEVICE_REPORTS_MAX];
	size_t nx = filters_of(a, x), ny = filters_of(b, y);
	for (size_t i = 0; i < nx; i++) {
		for (size_t j = 0; j < ny; j++) {
			if (!mxb_topic_filters_overlap(x[i], y[j]) || excludes_all(a, y[j]) ||
				excludes_all(b, x[i]))
				continue;
			*fa = x[i];
			*fb = y[j];
			return true;
		}
	}
	return false;
}

static size_t power_value(const cJSON *json, char *out, size_t cap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, "POWER");
	if (!cJSON_IsString(v))
		v = cJSON_GetObjectItemCaseSensitive(json, "POWER1");
	if (!cJSON_IsString(v) || !v->valuestring[0])
		return 0;
	size_t n = strlen(v->valuestring);
	if (n >= cap)
		return 0;
	memcpy(out, v->valuestring, n + 1);
	return n;
}

/* A reading worth showing: not the time, not a unit. */
static bool shown(const char *key)
{
	size_t n = strlen(key);
	return strcmp(key, "Time") != 0 && !(n >= 4 && strcmp(key + n - 4, "Unit") == 0);
}

static void add_scalar(struct mxb_strbuf *b, const cJSON *v)
{
	if (cJSON_IsString(v))
		mxb_strbuf_puts(b, v->valuestring);
	else if (cJSON_IsNumber(v))
		mxb_strbuf_printf(b, "%.10g", v->valuedouble);
	else if (cJSON_IsBool(v))
		mxb_strbuf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
}

static bool scalar(const cJSON *v)
{
	return cJSON_IsString(v) || cJSON_IsNumber(v) || cJSON_IsBool(v);
}

static void sensor_text(const cJSON *json, struct mxb_strbuf *b)
{
	const char *sep = "";
	for (const cJSON *s = json->child; s; s = s->next) {
		if (!s->string || !shown(s->string))
			continue;
		if (scalar(s)) {
			mxb_strbuf_printf(b, "%s%s ", sep, s->string);
			add_scalar(b, s);
			sep = ", ";
			continue;
		}
		if (!cJSON_IsObject(s))
			continue;
		mxb_strbuf_printf(b, "%s%s", *sep ? "; " : "", s->string);
		const char *inner = " ";
		for (const cJSON *r = s->child; r; r = r->next) {
			if (!r->string || !shown(r->string) || !scalar(r))
				continue;
			mxb_strbuf_printf(b, "%s%s ", inner, r->string);
			add_scalar(b, r);
			inner = ", ";
		}
		sep = "; ";
	}
}

size_t mxb_device_report_value(
	enum mxb_device_report kind, const char *payload, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return 0;
	out[0] = '\0';
	if (len == 0 || len > REPORT_MAX || cap < 8 || kind == MXB_REPORT_DISCOVERY)
		return 0;
	cJSON *json = cJSON_ParseWithLength(payload, len);
	size_t n = 0;
	if (cJSON_IsObject(json) && kind == MXB_REPORT_POWER) {
		n = power_value(json, out, cap);
	} else if (cJSON_IsObject(json)) {
		struct mxb_strbuf b;
		/* A text as long as the report fits whole; only out's size cuts it. */
		mxb_strbuf_init(&b, 2 * REPORT_MAX);
		sensor_text(json, &b);
		if (!b.failed && b.s) {
			n = b.len;
			if (n >= cap) {
				n = mxb_utf8_cut(b.s, n, cap - 4);
				memcpy(out, b.s, n);
				memcpy(out + n, "\xe2\x80\xa6", 3);
				n += 3;
			} else {
				memcpy(out, b.s, n);
			}
			out[n] = '\0';
		}
		mxb_strbuf_finish(&b);
	}
	cJSON_Delete(json);
	return n;
}
