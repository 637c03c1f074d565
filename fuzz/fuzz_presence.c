/*
 * Fuzzes presence.c with a sequence of presence updates decoded from the input, against a
 * model written from the rule in presence.h: who is admitted, the bounds of the table and
 * of each contact's resources, the resource that counts, and the value: the JSON form
 * always parses with cJSON and carries the status exactly, or cut on a character
 * boundary within MXB_PRESENCE_STATUS_MAX bytes.
 *
 * Input: one byte of options (bit 0: JSON), then records of
 *   flags (bit 0 available, 1 subscribed, 2 named, 3 published, 4 upper-case JID,
 *          5-7 show), contact, resource, priority (signed), status length (bit 7: times
 *          16), status bytes.
 */

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "presence.h"
#include "text.h"

#define TABLE_MAX 4
#define CONTACTS 8
#define RESOURCES 12

static const char *const shows[] = {NULL, "chat", "away", "xa", "dnd", "", "bogus", "Away"};

struct model_res {
	bool used;
	int rank; /* chat 0, none 1, away 2, xa 3, dnd 4 */
	int priority;
	char *status;
};

struct model_contact {
	bool in;
	struct model_res res[RESOURCES];
	size_t len;
	char *published;
};

static int rank_of(const char *show)
{
	static const char *const words[] = {"chat", NULL, "away", "xa", "dnd"};
	for (int i = 0; show && i < 5; i++) {
		if (words[i] && strcmp(show, words[i]) == 0)
			return i;
	}
	return 1;
}

/* The longest prefix of s within the bound that does not end inside a character. */
static size_t ref_cut(const char *s)
{
	size_t len = strlen(s);
	if (len <= MXB_PRESENCE_STATUS_MAX)
		return len;
	size_t n = MXB_PRESENCE_STATUS_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* The best resource of the model: highest priority, then lowest rank; NULL when none. */
static const struct model_res *model_best(const struct model_contact *m)
{
	const struct model_res *best = NULL;
	for (size_t i = 0; i < RESOURCES; i++) {
		const struct model_res *r = &m->res[i];
		if (!r->used || r->priority < 0)
			continue;
		if (!best || r->priority > best->priority ||
			(r->priority == best->priority && r->rank < best->rank))
			best = r;
	}
	return best;
}

static const char *const rank_words[] = {"chat", "available", "away", "xa", "dnd"};

/* The value of c agrees with the model: show and priority, and a status of a tied best. */
static void check_value(const struct model_contact *m, const char *value, bool json)
{
	const struct model_res *best = model_best(m);
	const char *show = best ? rank_words[best->rank] : "unavailable";
	if (!json) {
		FUZZ_CHECK(strcmp(value, show) == 0);
		return;
	}
	cJSON *o = cJSON_Parse(value);
	FUZZ_CHECK(o && cJSON_IsObject(o) && cJSON_GetArraySize(o) == 3);
	cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "show");
	cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
	cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, "priority");
	FUZZ_CHECK(cJSON_IsString(sh) && cJSON_IsString(st) && cJSON_IsNumber(pr));
	FUZZ_CHECK(strcmp(sh->valuestring, show) == 0);
	FUZZ_CHECK(pr->valuedouble == (best ? best->priority : 0));
	bool found = !best && st->valuestring[0] == '\0';
	for (size_t i = 0; best && i < RESOURCES && !found; i++) {
		const struct model_res *r = &m->res[i];
		found = r->used && r->priority == best->priority && r->rank == best->rank &&
			strcmp(r->status ? r->status : "", st->valuestring) == 0;
	}
	FUZZ_CHECK(found);
	FUZZ_CHECK(strlen(st->valuestring) <= MXB_PRESENCE_STATUS_MAX);
	cJSON_Delete(o);
}

static void check_cut(const char *status)
{
	size_t n = mxb_presence_status_cut(status);
	size_t len = strlen(status);
	FUZZ_CHECK(n == ref_cut(status));
	FUZZ_CHECK(n <= MXB_PRESENCE_STATUS_MAX && n <= len);
	FUZZ_CHECK(len > MXB_PRESENCE_STATUS_MAX || n == len);
	/* Valid text stays valid, and loses less than one character. */
	if (mxb_text_utf8_valid(status, len) && len > MXB_PRESENCE_STATUS_MAX) {
		FUZZ_CHECK(mxb_text_utf8_valid(status, n));
		FUZZ_CHECK(n > MXB_PRESENCE_STATUS_MAX - 4);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool json = data[0] & 1;
	struct mxb_presence *t = mxb_presence_create(TABLE_MAX, json);
	FUZZ_CHECK(t);
	struct model_contact model[CONTACTS] = {0};
	size_t in_table = 0;
	char *status = malloc(255 * 16 + 1);
	FUZZ_CHECK(status);
	size_t i = 1;
	while (i + 5 <= size) {
		uint8_t flags = data[i], who = data[i + 1] % CONTACTS;
		uint8_t res = data[i + 2] % RESOURCES;
		int priority = (int8_t)data[i + 3];
		size_t slen = data[i + 4] & 0x7f;
		if (data[i + 4] & 0x80)
			slen *= 16;
		i += 5;
		/* Long statuses repeat the bytes that are there, to cross the bound cheaply. */
		size_t avail = size - i;
		size_t take = slen < avail ? slen : avail;
		for (size_t k = 0; k < slen; k++)
			status[k] = take ? (char)data[i + k % take] : 'x';
		status[slen] = '\0';
		i += take;

		char bare[32], resource[16];
		snprintf(bare, sizeof(bare), (flags & 16) ? "C%u@Example.ORG" : "c%u@example.org",
			(unsigned)who);
		snprintf(resource, sizeof(resource), "r%u", (unsigned)res);
		struct mxb_presence_update u = {
			.bare = bare,
			.resource = resource,
			.available = flags & 1,
			.subscribed = flags & 2,
			.named = flags & 4,
			.show = shows[flags >> 5],
			.status = (slen || (flags & 8)) ? status : NULL,
			.priority = priority,
		};
		check_cut(status);

		/* What the rule says. */
		struct model_contact *m = &model[who];
		int want = -1;
		if (!m->in) {
			if (!u.subscribed && !u.named)
				want = MXB_PRESENCE_STRANGER;
			else if (!u.available && !u.subscribed)
				want = MXB_PRESENCE_IGNORED;
			else if (in_table == TABLE_MAX)
				want = MXB_PRESENCE_FULL;
		} else if (u.available && !u.subscribed && !u.named) {
			want = MXB_PRESENCE_STRANGER;
		}
		struct model_res *mr = &m->res[res];
		if (want < 0 && u.available && !mr->used && m->len == MXB_PRESENCE_RESOURCES_MAX)
			want = MXB_PRESENCE_FULL;

		struct mxb_presence_contact *c = (struct mxb_presence_contact *)1;
		size_t before = mxb_presence_len(t);
		int got = mxb_presence_update(t, &u, &c);
		FUZZ_CHECK(got >= 0); /* no allocation fails here */
		FUZZ_CHECK(mxb_presence_len(t) <= TABLE_MAX);
		if (want >= 0) {
			FUZZ_CHECK(got == want);
			FUZZ_CHECK(c == NULL);
			FUZZ_CHECK(mxb_presence_len(t) == before);
			FUZZ_CHECK((mxb_presence_find(t, bare) != NULL) == m->in);
			continue;
		}
		FUZZ_CHECK(got == MXB_PRESENCE_CHANGED || got == MXB_PRESENCE_UNCHANGED);
		FUZZ_CHECK(c != NULL && c == mxb_presence_find(t, bare));
		if (!m->in) {
			m->in = true;
			in_table++;
		}
		FUZZ_CHECK(mxb_presence_len(t) == in_table);
		if (!u.available && mr->used) {
			free(mr->status);
			*mr = (struct model_res){0};
			m->len--;
		} else if (u.available) {
			if (!mr->used)
				m->len++;
			free(mr->status);
			*mr = (struct model_res){
				.used = true,
				.rank = rank_of(u.show),
				.priority = priority,
				.status = u.status ? strndup(u.status, ref_cut(u.status)) : NULL,
			};
			FUZZ_CHECK(!u.status || mr->status);
		}
		FUZZ_CHECK(mxb_presence_resources(c) == m->len);
		FUZZ_CHECK(m->len <= MXB_PRESENCE_RESOURCES_MAX);

		const char *value = mxb_presence_value(c);
		FUZZ_CHECK(value);
		check_value(m, value, json);
		bool same = m->published && strcmp(m->published, value) == 0;
		FUZZ_CHECK(same == (got == MXB_PRESENCE_UNCHANGED));
		/* Publishing may fail (MQTT down): then the value stays due. */
		if (got == MXB_PRESENCE_CHANGED && !(flags & 8)) {
			mxb_presence_published(c);
			free(m->published);
			m->published = strdup(value);
			FUZZ_CHECK(m->published);
		}
	}
	for (size_t k = 0; k < CONTACTS; k++) {
		for (size_t r = 0; r < RESOURCES; r++)
			free(model[k].res[r].status);
		free(model[k].published);
	}
	free(status);
	mxb_presence_destroy(t);
	return 0;
}
