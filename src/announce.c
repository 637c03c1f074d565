#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "announce.h"

struct entry {
	char *bare;
	char *topic;
};

struct mxb_announce {
	struct entry *v;
	size_t len, cap;
};

struct mxb_announce *mxb_announce_create(void)
{
	return calloc(1, sizeof(struct mxb_announce));
}

static void forget_all(struct mxb_announce *d)
{
	for (size_t i = 0; i < d->len; i++) {
		free(d->v[i].bare);
		free(d->v[i].topic);
	}
	d->len = 0;
}

void mxb_announce_destroy(struct mxb_announce *d)
{
	if (!d)
		return;
	forget_all(d);
	free(d->v);
	free(d);
}

/* FNV-1a over the lower-case bytes: JIDs compare without regard to ASCII case. */
static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 16777619u;
	}
	return h;
}

char *mxb_announce_id(const char *bare)
{
	static const char prefix[] = "mqtt_xmpp_bridge_";
	size_t n = strlen(bare);
	char *id = malloc(sizeof(prefix) - 1 + n + 1 + 8 + 1);
	if (!id)
		return NULL;
	char *o = id + sprintf(id, "%s", prefix);
	for (const char *p = bare; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		*o++ = (ch < 128 && isalnum(ch)) ? (char)tolower(ch) : '_';
	}
	sprintf(o, "_%08x", (unsigned)hash(bare));
	return id;
}

char *mxb_announce_topic(const char *prefix, const char *bare)
{
	char *id = mxb_announce_id(bare), *t = NULL;
	if (id && asprintf(&t, "%s/binary_sensor/%s/config", prefix, id) < 0)
		t = NULL;
	free(id);
	return t;
}

char *mxb_announce_config(
	const char *bare, const char *state_topic, bool json, const char *availability_topic)
{
	char *id = mxb_announce_id(bare);
	cJSON *o = id ? cJSON_CreateObject() : NULL;
	cJSON *dev = o ? cJSON_AddObjectToObject(o, "device") : NULL;
	cJSON *ids = dev ? cJSON_AddArrayToObject(dev, "identifiers") : NULL;
	bool ok = ids && cJSON_AddStringToObject(o, "name", bare) &&
		  cJSON_AddStringToObject(o, "unique_id", id) &&
		  cJSON_AddStringToObject(o, "state_topic", state_topic) &&
		  cJSON_AddStringToObject(o, "value_template",
			  json ? "{{ 'OFF' if value_json.show == 'unavailable' else 'ON' }}"
			       : "{{ 'OFF' if value == 'unavailable' else 'ON' }}") &&
		  cJSON_AddStringToObject(o, "payload_on", "ON") &&
		  cJSON_AddStringToObject(o, "payload_off", "OFF") &&
		  cJSON_AddStringToObject(o, "device_class", "presence") &&
		  cJSON_AddStringToObject(o, "icon", "mdi:account");
	/* With the JSON value, show, status and priority become the entity's attributes. */
	if (ok && json)
		ok = cJSON_AddStringToObject(o, "json_attributes_topic", state_topic) != NULL;
	if (ok && availability_topic)
		ok = cJSON_AddStringToObject(o, "availability_topic", availability_topic) &&
		     cJSON_AddStringToObject(o, "payload_available", "online") &&
		     cJSON_AddStringToObject(o, "payload_not_available", "offline");
	cJSON *idv = ok ? cJSON_CreateString(id) : NULL;
	ok = idv && cJSON_AddItemToArray(ids, idv);
	if (!ok)
		cJSON_Delete(idv);
	ok = ok && cJSON_AddStringToObject(dev, "name", bare) &&
	     cJSON_AddStringToObject(dev, "model", "XMPP contact") &&
	     cJSON_AddStringToObject(dev, "manufacturer", "mqtt-xmpp-bridge");
	char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	free(id);
	/* cJSON allocates with malloc unless told otherwise: free() releases it. */
	return text;
}

static struct entry *find(const struct mxb_announce *d, const char *bare)
{
	for (size_t i = 0; i < d->len; i++) {
		if (strcasecmp(d->v[i].bare, bare) == 0)
			return &d->v[i];
	}
	return NULL;
}

bool mxb_announce_needed(const struct mxb_announce *d, const char *bare, const char *topic)
{
	const struct entry *e = find(d, bare);
	return !e || strcmp(e->topic, topic) != 0;
}

int mxb_announce_add(struct mxb_announce *d, const char *bare, const char *topic)
{
	char *t = strdup(topic);
	if (!t)
		return -ENOMEM;
	struct entry *e = find(d, bare);
	if (e) {
		free(e->topic);
		e->topic = t;
		return 0;
	}
	if (d->len == MXB_ANNOUNCE_MAX) {
		free(t);
		return -ENOSPC;
	}
	if (d->len == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		struct entry *v = realloc(d->v, cap * sizeof(*v));
		if (!v) {
			free(t);
			return -ENOMEM;
		}
		d->v = v;
		d->cap = cap;
	}
	char *b = strdup(bare);
	if (!b) {
		free(t);
		return -ENOMEM;
	}
	d->v[d->len++] = (struct entry){b, t};
	return 0;
}

void mxb_announce_take_all(
	struct mxb_announce *d, void (*fn)(const char *topic, void *data), void *data)
{
	for (size_t i = 0; i < d->len; i++)
		fn(d->v[i].topic, data);
	forget_all(d);
}

size_t mxb_announce_len(const struct mxb_announce *d)
{
	return d->len;
}
