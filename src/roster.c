#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "roster.h"

/* Sorted bare JIDs in lower case: a roster is read far more often than it changes. */
struct mxb_roster {
	char **v;
	size_t len, cap;
};

struct mxb_roster *mxb_roster_create(void)
{
	return calloc(1, sizeof(struct mxb_roster));
}

void mxb_roster_clear(struct mxb_roster *r)
{
	for (size_t i = 0; i < r->len; i++)
		free(r->v[i]);
	r->len = 0;
}

void mxb_roster_destroy(struct mxb_roster *r)
{
	if (!r)
		return;
	mxb_roster_clear(r);
	free(r->v);
	free(r);
}

/* The index of key, or where it would go; *found tells which. */
static size_t search(const struct mxb_roster *r, const char *key, bool *found)
{
	size_t lo = 0, hi = r->len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->v[mid], key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/* bare in lower case into buf (MXB_JID_MAX + 1 bytes). Returns 0 or -EINVAL. */
static int key_of(const char *bare, char *buf)
{
	size_t n = strnlen(bare, MXB_JID_MAX + 1);
	if (n == 0 || n > MXB_JID_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)bare[i]);
	buf[n] = '\0';
	return 0;
}

int mxb_roster_set(struct mxb_roster *r, const char *bare, const char *subscription)
{
	char key[MXB_JID_MAX + 1];
	if (key_of(bare, key) < 0)
		return -EINVAL;
	bool sees = subscription &&
		    (strcmp(subscription, "to") == 0 || strcmp(subscription, "both") == 0);
	bool found;
	size_t i = search(r, key, &found);
	if (found && !sees) {
		free(r->v[i]);
		memmove(&r->v[i], &r->v[i + 1], (r->len - i - 1) * sizeof(*r->v));
		r->len--;
	}
	if (found || !sees)
		return 0;
	if (r->len == MXB_ROSTER_MAX)
		return -ENOSPC;
	if (r->len == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		char **v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	char *copy = strdup(key);
	if (!copy)
		return -ENOMEM;
	memmove(&r->v[i + 1], &r->v[i], (r->len - i) * sizeof(*r->v));
	r->v[i] = copy;
	r->len++;
	return 0;
}

bool mxb_roster_sees(const struct mxb_roster *r, const char *bare)
{
	char key[MXB_JID_MAX + 1];
	bool found;
	if (key_of(bare, key) < 0)
		return false;
	search(r, key, &found);
	return found;
}

size_t mxb_roster_len(const struct mxb_roster *r)
{
	return r->len;
}

void mxb_roster_each(
	const struct mxb_roster *r, void (*fn)(const char *bare, void *data), void *data)
{
	for (size_t i = 0; i < r->len; i++)
		fn(r->v[i], data);
}
