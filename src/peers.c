/* The other instances of a share group and which one leads (peers.h). */

#include <errno.h>
#include <string.h>

#include "peers.h"

void mxb_peers_clear(struct mxb_peers *p)
{
	p->len = 0;
}

static struct mxb_peer *find(struct mxb_peers *p, const char *resource)
{
	for (size_t i = 0; i < p->len; i++) {
		if (strcmp(p->v[i].resource, resource) == 0)
			return &p->v[i];
	}
	return NULL;
}

int mxb_peers_set(
	struct mxb_peers *p, const char *resource, bool available, int priority, bool devices)
{
	size_t len = strlen(resource);
	if (len == 0 || len > MXB_PEERS_RESOURCE_MAX)
		return -EINVAL;
	struct mxb_peer *e = find(p, resource);
	if (!available) {
		if (!e)
			return 0;
		*e = p->v[--p->len];
		return 1;
	}
	if (e) {
		if (e->priority == priority && e->devices == devices)
			return 0;
		e->priority = priority;
		e->devices = devices;
		return 1;
	}
	if (p->len == MXB_PEERS_MAX)
		return -ENOSPC;
	e = &p->v[p->len++];
	memcpy(e->resource, resource, len + 1);
	e->priority = priority;
	e->devices = devices;
	return 1;
}

bool mxb_peers_leads(const struct mxb_peers *p, const char *self, int priority, bool devices)
{
	for (size_t i = 0; i < p->len; i++) {
		const struct mxb_peer *e = &p->v[i];
		if (devices && !e->devices)
			continue;
		if (e->priority > priority ||
			(e->priority == priority && strcmp(e->resource, self) < 0))
			return false;
	}
	return true;
}
