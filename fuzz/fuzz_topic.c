/*
 * Fuzzes topic.c. The input is split at '\n' and NUL into lines, each used both as a
 * filter and as a topic. Checked: filter and name validity against the MQTT rules
 * written out here, mxb_topic_matches against a level-by-level reference matcher, and the
 * index against mxb_topic_matches for every valid filter and every valid topic name.
 */

#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "text.h"
#include "topic.h"

#define MAX_LINES 64
#define MAX_LEVELS 256

struct levels {
	const char *v[MAX_LEVELS];
	size_t len[MAX_LEVELS];
	size_t n;
};

/* Splits s at '/'. Returns false when there are more levels than the reference handles. */
static bool split_levels(const char *s, struct levels *l)
{
	l->n = 0;
	for (;;) {
		if (l->n == MAX_LEVELS)
			return false;
		const char *end = strchr(s, '/');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		l->v[l->n] = s;
		l->len[l->n++] = len;
		if (!end)
			return true;
		s = end + 1;
	}
}

static bool level_is(const struct levels *l, size_t i, char c)
{
	return l->len[i] == 1 && l->v[i][0] == c;
}

/* MQTT 5 section 4.7.1: wildcards fill a whole level, '#' only the last one. */
static bool ref_plain_filter_valid(const char *f)
{
	size_t len = strlen(f);
	if (len == 0 || len > MXB_TOPIC_MAX || !mxb_text_utf8_valid(f, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		bool level_start = i == 0 || f[i - 1] == '/';
		bool level_end = f[i + 1] == '\0' || f[i + 1] == '/';
		if ((f[i] == '+' || f[i] == '#') && !(level_start && level_end))
			return false;
		if (f[i] == '#' && f[i + 1] != '\0')
			return false;
	}
	return true;
}

/* Section 4.8.2: "$share/" ShareName "/" filter, the name non-empty and wildcard-free. */
static const char *ref_share_rest(const char *f)
{
	if (strncmp(f, "$share/", 7) != 0)
		return NULL;
	const char *group = f + 7;
	size_t n = strcspn(group, "/");
	if (group[n] != '/')
		return NULL;
	return group + n + 1;
}

static bool ref_filter_valid(const char *f)
{
	if (strncmp(f, "$share/", 7) != 0)
		return ref_plain_filter_valid(f);
	const char *rest = ref_share_rest(f);
	const char *group = f + 7;
	if (!rest || rest == group + 1)
		return false;
	for (const char *p = group; p < rest - 1; p++) {
		if (*p == '+' || *p == '#')
			return false;
	}
	return ref_plain_filter_valid(rest);
}

static bool ref_name_valid(const char *t, size_t len)
{
	return len > 0 && len <= MXB_TOPIC_MAX && !memchr(t, '\0', len) &&
	       strcspn(t, "+#") == strlen(t) && mxb_text_utf8_valid(t, len);
}

static bool ref_match_levels(const struct levels *f, size_t fi, const struct levels *t, size_t ti)
{
	for (;; fi++, ti++) {
		if (fi == f->n)
			return ti == t->n;
		/* '#' matches the rest, including no level at all ("a/#" matches "a"). */
		if (level_is(f, fi, '#'))
			return true;
		if (ti == t->n)
			return false;
		if (!level_is(f, fi, '+') &&
			(f->len[fi] != t->len[ti] || memcmp(f->v[fi], t->v[ti], f->len[fi]) != 0))
			return false;
	}
}

/* For a valid filter and a valid name. Returns -1 when too deep for the reference. */
static int ref_matches(const char *filter, const char *topic)
{
	const char *f = ref_share_rest(filter);
	if (!f)
		f = filter;
	/* Section 4.7.2: wildcards at the first level do not match "$..." topics. */
	if (topic[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return 0;
	static struct levels fl, tl;
	if (!split_levels(f, &fl) || !split_levels(topic, &tl))
		return -1;
	return ref_match_levels(&fl, 0, &tl, 0);
}

struct hits {
	unsigned calls[MAX_LINES];
	size_t total;
};

static void on_match(size_t id, void *data)
{
	struct hits *h = data;
	FUZZ_CHECK(id < MAX_LINES);
	h->calls[id]++;
	h->total++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	FUZZ_CHECK(copy);
	memcpy(copy, data, size);
	copy[size] = '\0';

	char *lines[MAX_LINES];
	size_t n = 0;
	for (char *p = copy; n < MAX_LINES;) {
		size_t len = strcspn(p, "\n");
		lines[n++] = p;
		if (p + len >= copy + size)
			break;
		p[len] = '\0';
		p += len + 1;
	}

	bool valid[MAX_LINES];
	bool name[MAX_LINES];
	struct mxb_topic_index *index = mxb_topic_index_create();
	FUZZ_CHECK(index);
	for (size_t i = 0; i < n; i++) {
		const char *l = lines[i];
		valid[i] = mxb_topic_filter_valid(l);
		FUZZ_CHECK(valid[i] == ref_filter_valid(l));
		name[i] = mxb_topic_name_valid(l, strlen(l));
		FUZZ_CHECK(name[i] == ref_name_valid(l, strlen(l)));
		const char *stripped = mxb_topic_filter_strip_share(l);
		FUZZ_CHECK(stripped >= l && stripped <= l + strlen(l));
		if (valid[i]) {
			const char *rest = ref_share_rest(l);
			FUZZ_CHECK(stripped == (rest ? rest : l));
			FUZZ_CHECK(mxb_topic_index_add(index, l, i) == 0);
		}
	}

	for (size_t t = 0; t < n; t++) {
		const char *topic = lines[t];
		struct hits h = {0};
		size_t count = mxb_topic_index_match(index, topic, on_match, &h);
		FUZZ_CHECK(count == h.total);
		for (size_t f = 0; f < n; f++) {
			bool m = mxb_topic_matches(lines[f], topic);
			if (!valid[f]) {
				FUZZ_CHECK(h.calls[f] == 0);
				continue;
			}
			/* The bridge only looks up names a broker could deliver. */
			if (!name[t])
				continue;
			FUZZ_CHECK(h.calls[f] == (m ? 1u : 0u));
			int want = ref_matches(lines[f], topic);
			FUZZ_CHECK(want < 0 || m == (want == 1));
		}
	}

	mxb_topic_index_destroy(index);
	free(copy);
	return 0;
}
