#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "presence.h"

/* In rank order: a lower value is more available, as clients pick the resource to show. */
enum show {
	SHOW_CHAT,
	SHOW_NONE,
	SHOW_AWAY,
	SHOW_XA,
	SHOW_DND,
};

static const char *const show_words[] = {"chat", "available", "away", "xa", "dnd"};

struct resource {
	char *name;
	char *status; /* NULL: none */
	enum show show;
	int priority;
};

struct mxb_presence_contact {
	char *bare;
	char *key; /* bare in lower case: the hash key */
	struct resource res[MXB_PRESENCE_RESOURCES_MAX];
	size_t len;
	char *value; /* the latest rendering */
	char *published; /* the value last published, NULL before the first */
};

/*
 * Open addressing over at least twice as many slots as contacts, so that probes stay
 * short; contacts are never removed, so no tombstones are needed.
 */
struct mxb_presence {
	struct mxb_presence_contact **slots;
	size_t nslots; /* a power of two */
	size_t len, max;
	bool json;
};

static uint64_t hash(const char *key)
{
	/* FNV-1a: the key is a peer's JID, but the table's bound caps any bad chain. */
	uint64_t h = 14695981039346656037ULL;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

static char *lower_dup(const char *s)
{
	char *d = strdup(s);
	for (char *p = d; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

struct mxb_presence *mxb_presence_create(size_t max, bool json)
{
	struct mxb_presence *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->max = max ? max : MXB_PRESENCE_CONTACTS_MAX;
	t->json = json;
	t->nslots = 16;
	while (t->nslots < 2 * t->max)
		t->nslots *= 2;
	t->slots = calloc(t->nslots, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	return t;
}

static void contact_free(struct mxb_presence_contact *c)
{
	for (size_t i = 0; i < c->len; i++) {
		free(c->res[i].name);
		free(c->res[i].status);
	}
	free(c->bare);
	free(c->key);
	free(c->value);
	free(c->published);
	free(c);
}

void mxb_presence_destroy(struct mxb_presence *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nslots; i++) {
		if (t->slots[i])
			contact_free(t->slots[i]);
	}
	free(t->slots);
	free(t);
}

/* The slot of key: the contact's, or the empty one where it would go. */
static size_t slot_of(const struct mxb_presence *t, const char *key)
{
	size_t i = (size_t)hash(key) & (t->nslots - 1);
	while (t->slots[i] && strcmp(t->slots[i]->key, key) != 0)
		i = (i + 1) & (t->nslots - 1);
	return i;
}

struct mxb_presence_contact *mxb_presence_find(const struct mxb_presence *t, const char *bare)
{
	char *key = lower_dup(bare);
	if (!key)
		return NULL;
	struct mxb_presence_contact *c = t->slots[slot_of(t, key)];
	free(key);
	return c;
}

size_t mxb_presence_len(const struct mxb_presence *t)
{
	return t->len;
}

const char *mxb_presence_value(const struct mxb_presence_contact *c)
{
	return c->value;
}

void mxb_presence_published(struct mxb_presence_contact *c)
{
	char *v = strdup(c->value);
	/* Without memory the old value stays: at worst an equal value is published again. */
	if (!v)
		return;
	free(c->published);
	c->published = v;
}

const char *mxb_presence_bare(const struct mxb_presence_contact *c)
{
	return c->bare;
}

size_t mxb_presence_resources(const struct mxb_presence_contact *c)
{
	return c->len;
}

size_t mxb_presence_status_cut(const char *s)
{
	size_t n = strnlen(s, MXB_PRESENCE_STATUS_MAX + 1);
	if (n <= MXB_PRESENCE_STATUS_MAX)
		return n;
	n = MXB_PRESENCE_STATUS_MAX;
	/* s[n] is where the kept part ends: back off while it continues a character. */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static enum show parse_show(const char *s)
{
	if (!s)
		return SHOW_NONE;
	static const struct {
		const char *word;
		enum show show;
	} words[] = {{"chat", SHOW_CHAT}, {"away", SHOW_AWAY}, {"xa", SHOW_XA}, {"dnd", SHOW_DND}};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(s, words[i].word) == 0)
			return words[i].show;
	}
	return SHOW_NONE;
}

static const struct resource *best_of(const struct mxb_presence_contact *c)
{
	const struct resource *best = NULL;
	for (size_t i = 0; i < c->len; i++) {
		const struct resource *r = &c->res[i];
		if (r->priority < 0)
			continue;
		if (!best || r->priority > best->priority ||
			(r->priority == best->priority && r->show < best->show))
			best = r;
	}
	return best;
}

void mxb_presence_best(const struct mxb_presence_contact *c, struct mxb_presence_best *out)
{
	const struct resource *r = best_of(c);
	*out = (struct mxb_presence_best){
		.show = r ? show_words[r->show] : "unavailable",
		.status = r ? r->status : NULL,
		.priority = r ? r->priority : 0,
	};
}

/* The value of c as published: the show word, or {"show":..,"status":..,"priority":..}. */
static char *render(const struct mxb_presence *t, const struct mxb_presence_contact *c)
{
	struct mxb_presence_best best;
	mxb_presence_best(c, &best);
	if (!t->json)
		return strdup(best.show);
	char *out = NULL;
	cJSON *o = cJSON_CreateObject();
	if (o && cJSON_AddStringToObject(o, "show", best.show) &&
		cJSON_AddStringToObject(o, "status", best.status ? best.status : "") &&
		cJSON_AddNumberToObject(o, "priority", best.priority))
		out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

static int set_resource(struct resource *r, const struct mxb_presence_update *u)
{
	char *status = NULL;
	if (u->status) {
		status = strndup(u->status, mxb_presence_status_cut(u->status));
		if (!status)
			return -ENOMEM;
	}
	free(r->status);
	r->status = status;
	r->show = parse_show(u->show);
	r->priority = u->priority < -128 ? -128 : u->priority > 127 ? 127 : u->priority;
	return 0;
}

/* Applies u to c's resources. Returns 0, -ENOSPC (a resource too many) or -ENOMEM. */
static int apply(struct mxb_presence_contact *c, const struct mxb_presence_update *u)
{
	const char *name = u->resource ? u->resource : "";
	size_t i = 0;
	while (i < c->len && strcmp(c->res[i].name, name) != 0)
		i++;
	if (!u->available) {
		if (i < c->len) {
			free(c->res[i].name);
			free(c->res[i].status);
			c->res[i] = c->res[--c->len];
		}
		return 0;
	}
	if (i < c->len)
		return set_resource(&c->res[i], u);
	if (c->len == MXB_PRESENCE_RESOURCES_MAX)
		return -ENOSPC;
	struct resource r = {.name = strdup(name)};
	if (!r.name || set_resource(&r, u) < 0) {
		free(r.name);
		return -ENOMEM;
	}
	c->res[c->len++] = r;
	return 0;
}

static struct mxb_presence_contact *contact_new(const char *bare, char *key)
{
	struct mxb_presence_contact *c = calloc(1, sizeof(*c));
	if (!c) {
		free(key);
		return NULL;
	}
	c->bare = strdup(bare);
	c->key = key;
	if (!c->bare) {
		contact_free(c);
		return NULL;
	}
	return c;
}

int mxb_presence_update(struct mxb_presence *t, const struct mxb_presence_update *u,
	struct mxb_presence_contact **contact)
{
	if (contact)
		*contact = NULL;
	if (!u->bare || !*u->bare)
		return -EINVAL;
	char *key = lower_dup(u->bare);
	if (!key)
		return -ENOMEM;
	size_t slot = slot_of(t, key);
	struct mxb_presence_contact *c = t->slots[slot];
	bool fresh = !c;
	if (fresh) {
		/* Only the rule's admitted ever take a place: a stranger cannot evict anyone. */
		int verdict = -1;
		if (!u->subscribed && !u->named)
			verdict = MXB_PRESENCE_STRANGER;
		else if (!u->available && !u->subscribed)
			verdict = MXB_PRESENCE_IGNORED;
		else if (t->len == t->max)
			verdict = MXB_PRESENCE_FULL;
		if (verdict >= 0) {
			free(key);
			return verdict;
		}
		c = contact_new(u->bare, key);
		if (!c)
			return -ENOMEM;
	} else {
		free(key);
		/* One who lost the subscription may still go away, but not come back. */
		if (u->available && !u->subscribed && !u->named)
			return MXB_PRESENCE_STRANGER;
	}
	int r = apply(c, u);
	char *value = r < 0 ? NULL : render(t, c);
	if (!value) {
		if (fresh)
			contact_free(c);
		return r == -ENOSPC ? MXB_PRESENCE_FULL : -ENOMEM;
	}
	if (fresh) {
		t->slots[slot] = c;
		t->len++;
	}
	free(c->value);
	c->value = value;
	if (contact)
		*contact = c;
	if (c->published && strcmp(c->published, value) == 0)
		return MXB_PRESENCE_UNCHANGED;
	return MXB_PRESENCE_CHANGED;
}
