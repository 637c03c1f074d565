#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "discovery.h"
#include "text.h"
#include "topic.h"

#define NOMEM "out of memory"

/* A key, or its abbreviation as Home Assistant documents them. */
static const cJSON *get(const cJSON *o, const char *key, const char *abbr)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v && abbr)
		v = cJSON_GetObjectItemCaseSensitive(o, abbr);
	return cJSON_IsNull(v) ? NULL : v;
}

struct reader {
	const char *base; /* "~", or NULL */
	const char *why;
	bool nomem;
};

/* Copies a string of at most max bytes; false (why set) when it is not one. */
static bool word(struct reader *r, const cJSON *v, const char *what, size_t max, char **out)
{
	*out = NULL;
	if (!v)
		return true;
	if (!cJSON_IsString(v) || strlen(v->valuestring) > max) {
		r->why = what;
		return false;
	}
	*out = strdup(v->valuestring);
	if (!*out)
		r->nomem = true;
	return *out != NULL;
}

/* A topic with "~" at its start or end replaced by the base topic, checked. */
static bool topic(struct reader *r, const cJSON *v, const char *what, char **out)
{
	*out = NULL;
	if (!v)
		return true;
	if (!cJSON_IsString(v) || !v->valuestring[0]) {
		r->why = what;
		return false;
	}
	const char *s = v->valuestring, *base = r->base ? r->base : "";
	size_t n = strlen(s), bn = strlen(base);
	bool head = r->base && s[0] == '~', tail = r->base && !head && s[n - 1] == '~';
	size_t total = n - (head || tail) + ((head || tail) ? bn : 0);
	if (total > MXB_TOPIC_MAX) {
		r->why = what;
		return false;
	}
	char *t = malloc(total + 1);
	if (!t) {
		r->nomem = true;
		return false;
	}
	if (head)
		snprintf(t, total + 1, "%s%s", base, s + 1);
	else if (tail)
		snprintf(t, total + 1, "%.*s%s", (int)(n - 1), s, base);
	else
		memcpy(t, s, n + 1);
	if (!mxb_topic_name_valid(t, strlen(t))) {
		free(t);
		r->why = what;
		return false;
	}
	*out = t;
	return true;
}

/* "{{ value_json.KEY }}" gives KEY; any other template NULL (the payload as it is). */
static bool template_key(struct reader *r, const cJSON *v, char **out)
{
	*out = NULL;
	if (!v)
		return true;
	if (!cJSON_IsString(v)) {
		r->why = "value_template is not a string";
		return false;
	}
	const char *p = v->valuestring;
	while (*p == ' ')
		p++;
	if (strncmp(p, "{{", 2) != 0)
		return true;
	p += 2;
	while (*p == ' ')
		p++;
	if (strncmp(p, "value_json.", 11) != 0)
		return true;
	p += 11;
	const char *k = p;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	size_t kn = (size_t)(p - k);
	while (*p == ' ')
		p++;
	if (kn == 0 || kn > MXB_DISCOVERY_WORD_MAX || strcmp(p, "}}") != 0)
		return true;
	*out = strndup(k, kn);
	if (!*out)
		r->nomem = true;
	return *out != NULL;
}

/* The domain (second level) and the object (level before "config") of topic. */
static bool topic_parts(const char *t, char *domain, size_t dcap, char *object, size_t ocap)
{
	const char *l[6];
	size_t len[6], n = 0;
	for (const char *p = t;; n++) {
		if (n == 6)
			return false;
		const char *e = strchr(p, '/');
		l[n] = p;
		len[n] = e ? (size_t)(e - p) : strlen(p);
		if (!e) {
			n++;
			break;
		}
		p = e + 1;
	}
	if ((n != 4 && n != 5) || len[n - 1] != 6 || strncmp(l[n - 1], "config", 6) != 0 ||
		len[1] >= dcap || len[n - 2] >= ocap)
		return false;
	snprintf(domain, dcap, "%.*s", (int)len[1], l[1]);
	snprintf(object, ocap, "%.*s", (int)len[n - 2], l[n - 2]);
	return true;
}

static bool taken_domain(const char *domain)
{
	static const char *const domains[] = {"switch", "light", "fan", "binary_sensor"};
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		if (strcmp(domain, domains[i]) == 0)
			return true;
	}
	return false;
}

/* The first of the candidates that can be a device name. */
static char *device_name(const cJSON *json, const char *object)
{
	const cJSON *c[] = {get(json, "object_id", "obj_id"), get(json, "unique_id", "uniq_id")};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (c[i] && cJSON_IsString(c[i]) && mxb_device_name_valid(c[i]->valuestring))
			return strdup(c[i]->valuestring);
	}
	return mxb_device_name_valid(object) ? strdup(object) : NULL;
}

/* One availability entry (a topic and its words); the defaults are the device's. */
static bool avail_entry(struct reader *r, struct mxb_discovered *d, const cJSON *t, const cJSON *on,
	const cJSON *off, const cJSON *on_def, const cJSON *off_def)
{
	if (d->avail_len == MXB_DISCOVERY_AVAIL_MAX) {
		r->why = "more availability topics than the bridge keeps";
		return false;
	}
	size_t i = d->avail_len++;
	return topic(r, t, "availability topic is no topic", &d->avail_topics[i]) &&
	       word(r, on ? on : on_def, "payload_available is too long", MXB_DISCOVERY_WORD_MAX,
		       &d->avail_on[i]) &&
	       word(r, off ? off : off_def, "payload_not_available is too long",
		       MXB_DISCOVERY_WORD_MAX, &d->avail_off[i]);
}

static bool read_availability(struct reader *r, struct mxb_discovered *d, const cJSON *json)
{
	const cJSON *on = get(json, "payload_available", "pl_avail");
	const cJSON *off = get(json, "payload_not_available", "pl_not_avail");
	const cJSON *t = get(json, "availability_topic", "avty_t");
	if (t && !avail_entry(r, d, t, NULL, NULL, on, off))
		return false;
	const cJSON *list = get(json, "availability", "avty");
	if (list && !cJSON_IsArray(list)) {
		r->why = "availability is not a list";
		return false;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, list)
	{
		if (!cJSON_IsObject(e) || !get(e, "topic", "t")) {
			r->why = "an availability entry has no topic";
			return false;
		}
		if (!avail_entry(r, d, get(e, "topic", "t"),
			    get(e, "payload_available", "pl_avail"),
			    get(e, "payload_not_available", "pl_not_avail"), on, off))
			return false;
	}
	const cJSON *mode = get(json, "availability_mode", "avty_mode");
	if (cJSON_IsString(mode) && strcmp(mode->valuestring, "all") == 0)
		d->mode = MXB_DISCOVERY_ALL;
	else if (cJSON_IsString(mode) && strcmp(mode->valuestring, "any") == 0)
		d->mode = MXB_DISCOVERY_ANY;
	else if (mode && !(cJSON_IsString(mode) && strcmp(mode->valuestring, "latest") == 0)) {
		r->why = "availability_mode is not latest, all or any";
		return false;
	}
	for (size_t i = 0; i < d->avail_len; i++) {
		if ((!d->avail_on[i] && !(d->avail_on[i] = strdup("online"))) ||
			(!d->avail_off[i] && !(d->avail_off[i] = strdup("offline")))) {
			r->nomem = true;
			return false;
		}
	}
	return true;
}

/* A friendly name: the entity's, else its device's; valid text or none. */
static bool read_friendly(struct reader *r, struct mxb_discovered *d, const cJSON *json)
{
	const cJSON *n = get(json, "name", NULL);
	if (!cJSON_IsString(n))
		n = get(get(json, "device", "dev"), "name", NULL);
	if (!cJSON_IsString(n) || !n->valuestring[0])
		return true;
	size_t len = strlen(n->valuestring);
	if (len > MXB_DISCOVERY_FRIENDLY_MAX || !mxb_text_xml_valid(n->valuestring, len)) {
		r->why = "name is too long or not valid text";
		return false;
	}
	return word(r, n, "name", MXB_DISCOVERY_FRIENDLY_MAX, &d->friendly);
}

static bool read_device(struct reader *r, struct mxb_discovered *d, const cJSON *json)
{
	const cJSON *schema = get(json, "schema", NULL);
	d->json = cJSON_IsString(schema) && strcmp(schema->valuestring, "json") == 0;
	const cJSON *tpl = get(json, "state_value_template", "stat_val_tpl");
	if (!tpl)
		tpl = get(json, "value_template", "val_tpl");
	return read_friendly(r, d, json) &&
	       topic(r, get(json, "state_topic", "stat_t"), "state_topic is no topic",
		       &d->state_topic) &&
	       topic(r, get(json, "command_topic", "cmd_t"), "command_topic is no topic",
		       &d->command_topic) &&
	       read_availability(r, d, json) &&
	       word(r, get(json, "payload_on", "pl_on"), "payload_on is too long",
		       MXB_DISCOVERY_WORD_MAX, &d->payload_on) &&
	       word(r, get(json, "payload_off", "pl_off"), "payload_off is too long",
		       MXB_DISCOVERY_WORD_MAX, &d->payload_off) &&
	       template_key(r, tpl, &d->value_key);
}

enum mxb_discovery_verdict mxb_discovery_parse(const char *topic_name, const char *payload,
	size_t len, size_t max_len, struct mxb_discovered *out, const char **why)
{
	*out = (struct mxb_discovered){0};
	*why = NULL;
	char domain[32], object[MXB_DEVICE_NAME_MAX + 1];
	if (!topic_parts(topic_name, domain, sizeof(domain), object, sizeof(object))) {
		*why = "not a discovery topic (PREFIX/DOMAIN/[NODE/]OBJECT/config)";
		return MXB_DISCOVERY_INVALID;
	}
	if (len == 0)
		return MXB_DISCOVERY_REMOVED;
	if (!taken_domain(domain))
		return MXB_DISCOVERY_IGNORED;
	if (len > max_len) {
		*why = "the config is longer than bridge.max_payload";
		return MXB_DISCOVERY_INVALID;
	}
	cJSON *json = cJSON_ParseWithLength(payload, len);
	if (!cJSON_IsObject(json)) {
		cJSON_Delete(json);
		*why = "the config is not a JSON object";
		return MXB_DISCOVERY_INVALID;
	}
	const cJSON *base = get(json, "~", NULL);
	struct reader r = {.base = cJSON_IsString(base) ? base->valuestring : NULL};
	if (base && (!r.base || strlen(r.base) > MXB_TOPIC_MAX)) {
		cJSON_Delete(json);
		*why = "'~' is no topic";
		return MXB_DISCOVERY_INVALID;
	}
	bool ok = (out->config_topic = strdup(topic_name)) != NULL;
	r.nomem = !ok;
	if (ok && !(out->name = device_name(json, object))) {
		ok = false;
		r.why = "no object_id, unique_id or object that can be a device name";
	}
	ok = ok && read_device(&r, out, json);
	if (ok && !out->state_topic && out->avail_len == 0) {
		ok = false;
		r.why = "neither a state_topic nor an availability topic";
	}
	if (ok && ((!out->payload_on && !(out->payload_on = strdup("ON"))) ||
			  (!out->payload_off && !(out->payload_off = strdup("OFF"))))) {
		ok = false;
		r.nomem = true;
	}
	cJSON_Delete(json);
	if (ok)
		return MXB_DISCOVERY_DEVICE;
	*why = r.nomem ? NOMEM : r.why ? r.why : "invalid";
	mxb_discovery_finish(out);
	return MXB_DISCOVERY_INVALID;
}

void mxb_discovery_finish(struct mxb_discovered *d)
{
	char *s[] = {d->config_topic, d->name, d->friendly, d->state_topic, d->command_topic,
		d->payload_on, d->payload_off, d->value_key};
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		free(s[i]);
	for (size_t i = 0; i < MXB_DISCOVERY_AVAIL_MAX; i++) {
		free(d->avail_topics[i]);
		free(d->avail_on[i]);
		free(d->avail_off[i]);
	}
	*d = (struct mxb_discovered){0};
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool mxb_discovery_same(const struct mxb_discovered *a, const struct mxb_discovered *b)
{
	bool eq = same(a->config_topic, b->config_topic) && same(a->name, b->name) &&
		  same(a->friendly, b->friendly) && same(a->state_topic, b->state_topic) &&
		  same(a->command_topic, b->command_topic) && a->avail_len == b->avail_len &&
		  a->mode == b->mode && same(a->payload_on, b->payload_on) &&
		  same(a->payload_off, b->payload_off) && same(a->value_key, b->value_key) &&
		  a->json == b->json;
	for (size_t i = 0; eq && i < a->avail_len; i++)
		eq = same(a->avail_topics[i], b->avail_topics[i]) &&
		     same(a->avail_on[i], b->avail_on[i]) && same(a->avail_off[i], b->avail_off[i]);
	return eq;
}

/* The payload, or the "state" of a JSON object ({{ value_json.state }}, Zigbee2MQTT). */
static enum mxb_availability one_availability(
	const char *on, const char *off, const char *payload, size_t len)
{
	if (strlen(on) == len && strncasecmp(payload, on, len) == 0)
		return MXB_AVAIL_ONLINE;
	if (strlen(off) == len && strncasecmp(payload, off, len) == 0)
		return MXB_AVAIL_OFFLINE;
	if (len == 0 || len > 4096 || payload[0] != '{')
		return MXB_AVAIL_UNKNOWN;
	cJSON *json = cJSON_ParseWithLength(payload, len);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, "state");
	enum mxb_availability a = MXB_AVAIL_UNKNOWN;
	if (cJSON_IsString(v) && strcasecmp(v->valuestring, on) == 0)
		a = MXB_AVAIL_ONLINE;
	else if (cJSON_IsString(v) && strcasecmp(v->valuestring, off) == 0)
		a = MXB_AVAIL_OFFLINE;
	cJSON_Delete(json);
	return a;
}

enum mxb_availability mxb_discovery_availability(
	struct mxb_discovered *d, size_t i, const char *payload, size_t len)
{
	if (i >= d->avail_len)
		return MXB_AVAIL_UNKNOWN;
	enum mxb_availability a = one_availability(d->avail_on[i], d->avail_off[i], payload, len);
	if (a == MXB_AVAIL_UNKNOWN)
		return MXB_AVAIL_UNKNOWN;
	d->avail_seen[i] = a;
	if (d->mode == MXB_DISCOVERY_LATEST)
		return a;
	size_t online = 0, known = 0;
	for (size_t k = 0; k < d->avail_len; k++) {
		known += d->avail_seen[k] != MXB_AVAIL_UNKNOWN;
		online += d->avail_seen[k] == MXB_AVAIL_ONLINE;
	}
	if (d->mode == MXB_DISCOVERY_ANY)
		return online ? MXB_AVAIL_ONLINE : MXB_AVAIL_OFFLINE;
	if (online == d->avail_len)
		return MXB_AVAIL_ONLINE;
	return known > online ? MXB_AVAIL_OFFLINE : MXB_AVAIL_UNKNOWN;
}

static size_t copy_out(const char *s, size_t n, char *out, size_t cap)
{
	if (n == 0 || n >= cap)
		return 0;
	memcpy(out, s, n);
	out[n] = '\0';
	return n;
}

size_t mxb_discovery_state(
	const struct mxb_discovered *d, const char *payload, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return 0;
	out[0] = '\0';
	const char *key = d->value_key ? d->value_key : d->json ? "state" : NULL;
	if (!key)
		return copy_out(payload, len, out, cap);
	cJSON *json = cJSON_ParseWithLength(payload, len);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, key);
	size_t n = 0;
	char num[32];
	if (cJSON_IsString(v))
		n = copy_out(v->valuestring, strlen(v->valuestring), out, cap);
	else if (cJSON_IsNumber(v))
		n = copy_out(
			num, (size_t)snprintf(num, sizeof(num), "%.10g", v->valuedouble), out, cap);
	else if (cJSON_IsBool(v))
		n = copy_out(cJSON_IsTrue(v) ? "true" : "false", cJSON_IsTrue(v) ? 4 : 5, out, cap);
	cJSON_Delete(json);
	return n;
}

bool mxb_discovery_is_off(const struct mxb_discovered *d, const char *state)
{
	return d->payload_off && strcasecmp(state, d->payload_off) == 0;
}

size_t mxb_discovery_command(
	const struct mxb_discovered *d, const char *word_in, char *out, size_t cap)
{
	const char *w = word_in;
	if (d->json) {
		/* the word as a JSON string: quotes and backslashes escaped by cJSON */
		cJSON *o = cJSON_CreateObject();
		char *text = o && cJSON_AddStringToObject(o, "state", w) ? cJSON_PrintUnformatted(o)
									 : NULL;
		size_t n = text ? copy_out(text, strlen(text), out, cap) : 0;
		cJSON_free(text);
		cJSON_Delete(o);
		return n;
	}
	if (strcmp(w, "ON") == 0)
		w = d->payload_on;
	else if (strcmp(w, "OFF") == 0)
		w = d->payload_off;
	return copy_out(w, strlen(w), out, cap);
}
