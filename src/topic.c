#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "topic.h"

#define SHARE_PREFIX "$share/"

bool mxb_topic_name_valid(const char *topic, size_t len)
{
	if (len == 0 || len > MXB_TOPIC_MAX)
		return false;
	if (memchr(topic, '\0', len) || memchr(topic, '+', len) || memchr(topic, '#', len))
		return false;
	return mxb_text_utf8_valid(topic, len);
}

static bool plain_filter_valid(const char *f)
{
	size_t len = strlen(f);
	if (len == 0 || len > MXB_TOPIC_MAX || !mxb_text_utf8_valid(f, len))
		return false;
	const char *level = f;
	for (;;) {
		const char *end = strchr(level, '/');
		size_t n = end ? (size_t)(end - level) : strlen(level);
		bool plus = memchr(level, '+', n) != NULL;
		bool hash = memchr(level, '#', n) != NULL;
		if ((plus || hash) && n != 1)
			return false;
		if (hash && end)
			return false;
		if (!end)
			return true;
		level = end + 1;
	}
}

const char *mxb_topic_filter_strip_share(const char *filter)
{
	if (strncmp(filter, SHARE_PREFIX, strlen(SHARE_PREFIX)) != 0)
		return filter;
	const char *group = filter + strlen(SHARE_PREFIX);
	const char *slash = strchr(group, '/');
	return slash ? slash + 1 : filter;
}

bool mxb_topic_filter_valid(const char *filter)
{
	if (strncmp(filter, SHARE_PREFIX, strlen(SHARE_PREFIX)) == 0) {
		const char *group = filter + strlen(SHARE_PREFIX);
		const char *slash = strchr(group, '/');
		if (!slash || slash == group)
			return false;
		for (const char *p = group; p < slash; p++) {
			if (*p == '+' || *p == '#')
				return false;
		}
		return plain_filter_valid(slash + 1);
	}
	return plain_filter_valid(filter);
}

bool mxb_topic_matches(const char *filter, const char *topic)
{
	const char *f = mxb_topic_filter_strip_share(filter);
	const char *t = topic;
	if (*t == '$' && (*f == '+' || *f == '#'))
		return false;
	for (;;) {
		const char *fe = strchr(f, '/');
		size_t fn = fe ? (size_t)(fe - f) : strlen(f);
		if (fn == 1 && *f == '#')
			return true;
		const char *te = strchr(t, '/');
		size_t tn = te ? (size_t)(te - t) : strlen(t);
		if (!(fn == 1 && *f == '+') && (fn != tn || memcmp(f, t, fn) != 0))
			return false;
		if (!fe && !te)
			return true;
		if (!te)
			/* "a/#" also matches "a". */
			return fe && strcmp(fe + 1, "#") == 0;
		if (!fe)
			return false;
		f = fe + 1;
		t = te + 1;
	}
}

bool mxb_topic_filters_overlap(const char *a, const char *b)
{
	const char *p = mxb_topic_filter_strip_share(a);
	const char *q = mxb_topic_filter_strip_share(b);
	/* Wildcards at the first level never match '$' topics. */
	if ((*p == '$' && (*q == '+' || *q == '#')) || (*q == '$' && (*p == '+' || *p == '#')))
		return false;
	for (;;) {
		const char *pe = strchr(p, '/');
		const char *qe = strchr(q, '/');
		size_t pn = pe ? (size_t)(pe - p) : strlen(p);
		size_t qn = qe ? (size_t)(qe - q) : strlen(q);
		if ((pn == 1 && *p == '#') || (qn == 1 && *q == '#'))
			return true;
		bool wild = (pn == 1 && *p == '+') || (qn == 1 && *q == '+');
		if (!wild && (pn != qn || memcmp(p, q, pn) != 0))
			return false;
		if (!pe && !qe)
			return true;
		if (!pe)
			/* "a" and "a/#" share the topic "a". */
			return strcmp(qe + 1, "#") == 0;
		if (!qe)
			return strcmp(pe + 1, "#") == 0;
		p = pe + 1;
		q = qe + 1;
	}
}

bool mxb_topic_filter_covers(const char *wide, const char *narrow)
{
	const char *p = mxb_topic_filter_strip_share(wide);
	const char *q = mxb_topic_filter_strip_share(narrow);
	/* A wildcard first level of wide takes no '$' topic that narrow may name. */
	if ((*p == '+' || *p == '#') && *q == '$')
		return false;
	for (;;) {
		const char *pe = strchr(p, '/');
		const char *qe = strchr(q, '/');
		size_t pn = pe ? (size_t)(pe - p) : strlen(p);
		size_t qn = qe ? (size_t)(qe - q) : strlen(q);
		if (pn == 1 && *p == '#')
			return true;
		if (qn == 1 && *q == '#')
			return false;
		bool level = (pn == 1 && *p == '+') || (pn == qn && memcmp(p, q, pn) == 0);
		if (!level || (qn == 1 && *q == '+' && !(pn == 1 && *p == '+')))
			return false;
		if (!pe && !qe)
			return true;
		if (!qe)
			/* "a/#" takes "a" too */
			return strcmp(pe + 1, "#") == 0;
		if (!pe)
			return false;
		p = pe + 1;
		q = qe + 1;
	}
}

/*
 * The index is a trie with one node per filter level. Named children sit in an
 * open-addressing hash table, so a level with thousands of siblings costs one probe.
 */
struct idlist {
	size_t *v;
	size_t len, cap;
};

struct node {
	char *name;
	size_t name_len;
	uint64_t hash;
	struct node **slots;
	size_t slots_cap, slots_len;
	struct node *plus;
	struct idlist exact; /* filters ending at this node */
	struct idlist multi; /* filters ending with '#' below this node */
};

struct mxb_topic_index {
	struct node root;
};

static uint64_t hash_level(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int idlist_push(struct idlist *l, size_t id)
{
	if (l->len == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 2;
		size_t *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->len++] = id;
	return 0;
}

static void node_finish(struct node *n)
{
	for (size_t i = 0; i < n->slots_cap; i++) {
		if (n->slots[i]) {
			node_finish(n->slots[i]);
			free(n->slots[i]);
		}
	}
	if (n->plus) {
		node_finish(n->plus);
		free(n->plus);
	}
	free(n->slots);
	free(n->name);
	free(n->exact.v);
	free(n->multi.v);
}

static struct node *child_find(const struct node *n, const char *name, size_t len, uint64_t h)
{
	if (n->slots_cap == 0)
		return NULL;
	size_t mask = n->slots_cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct node *c = n->slots[i];
		if (!c)
			return NULL;
		if (c->hash == h && c->name_len == len && memcmp(c->name, name, len) == 0)
			return c;
	}
}

static void slot_put(struct node **slots, size_t cap, struct node *c)
{
	size_t mask = cap - 1;
	size_t i = c->hash & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = c;
}

static struct node *child_add(struct node *n, const char *name, size_t len, uint64_t h)
{
	if (2 * (n->slots_len + 1) > n->slots_cap) {
		size_t cap = n->slots_cap ? 2 * n->slots_cap : 4;
		struct node **slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return NULL;
		for (size_t i = 0; i < n->slots_cap; i++) {
			if (n->slots[i])
				slot_put(slots, cap, n->slots[i]);
		}
		free(n->slots);
		n->slots = slots;
		n->slots_cap = cap;
	}
	struct node *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->name = malloc(len + 1);
	if (!c->name) {
		free(c);
		return NULL;
	}
	memcpy(c->name, name, len);
	c->name[len] = '\0';
	c->name_len = len;
	c->hash = h;
	slot_put(n->slots, n->slots_cap, c);
	n->slots_len++;
	return c;
}

struct mxb_topic_index *mxb_topic_index_create(void)
{
	return calloc(1, sizeof(struct mxb_topic_index));
}

void mxb_topic_index_destroy(struct mxb_topic_index *index)
{
	if (!index)
		return;
	node_finish(&index->root);
	free(index);
}

int mxb_topic_index_add(struct mxb_topic_index *index, const char *filter, size_t id)
{
	struct node *n = &index->root;
	const char *level = mxb_topic_filter_strip_share(filter);
	for (;;) {
		const char *end = strchr(level, '/');
		size_t len = end ? (size_t)(end - level) : strlen(level);
		if (len == 1 && *level == '#')
			return idlist_push(&n->multi, id);
		struct node *next;
		if (len == 1 && *level == '+') {
			if (!n->plus) {
				n->plus = calloc(1, sizeof(*n->plus));
				if (!n->plus)
					return -ENOMEM;
			}
			next = n->plus;
		} else {
			uint64_t h = hash_level(level, len);
			next = child_find(n, level, len, h);
			if (!next)
				next = child_add(n, level, len, h);
			if (!next)
				return -ENOMEM;
		}
		n = next;
		if (!end)
			return idlist_push(&n->exact, id);
		level = end + 1;
	}
}

struct walk {
	mxb_topic_match_fn fn;
	void *data;
	size_t count;
};

static void emit(struct walk *w, const struct idlist *l)
{
	for (size_t i = 0; i < l->len; i++)
		w->fn(l->v[i], w->data);
	w->count += l->len;
}

/* level points at the start of a topic level; last tells whether it is the final one. */
static void walk(const struct node *n, const char *level, struct walk *w, bool root)
{
	const char *end = strchr(level, '/');
	size_t len = end ? (size_t)(end - level) : strlen(level);
	bool wild_ok = !(root && *level == '$');

	if (wild_ok)
		emit(w, &n->multi);
	const struct node *c = child_find(n, level, len, hash_level(level, len));
	const struct node *next[2] = {c, wild_ok ? n->plus : NULL};
	for (int i = 0; i < 2; i++) {
		if (!next[i])
			continue;
		if (end) {
			walk(next[i], end + 1, w, false);
		} else {
			emit(w, &next[i]->exact);
			emit(w, &next[i]->multi);
		}
	}
}

size_t mxb_topic_index_match(
	const struct mxb_topic_index *index, const char *topic, mxb_topic_match_fn fn, void *data)
{
	struct walk w = {.fn = fn, .data = data, .count = 0};
	walk(&index->root, topic, &w, true);
	return w.count;
}
