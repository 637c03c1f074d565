/* The other instances of a share group, and who leads (peers.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "peers.h"

static void test_set(void)
{
	struct mxb_peers *p = calloc(1, sizeof(*p));
	CHECK(mxb_peers_set(p, "b", true, 0, false) == 1);
	CHECK(mxb_peers_set(p, "b", true, 0, false) == 0); /* the same again: no change */
	CHECK(mxb_peers_set(p, "b", true, 2, false) == 1);
	CHECK(mxb_peers_set(p, "b", true, 2, true) == 1);
	CHECK(p->len == 1 && p->v[0].priority == 2 && p->v[0].devices);
	CHECK(mxb_peers_set(p, "c", false, 0, false) == 0); /* gone, never here */
	CHECK(mxb_peers_set(p, "b", false, 0, false) == 1);
	CHECK(p->len == 0);
	CHECK(mxb_peers_set(p, "", true, 0, false) == -EINVAL);
	char longer[MXB_PEERS_RESOURCE_MAX + 2];
	memset(longer, 'r', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	CHECK(mxb_peers_set(p, longer, true, 0, false) == -EINVAL);
	longer[MXB_PEERS_RESOURCE_MAX] = '\0';
	CHECK(mxb_peers_set(p, longer, true, 0, false) == 1);
	mxb_peers_clear(p);
	char name[16];
	for (int i = 0; i < MXB_PEERS_MAX; i++) {
		snprintf(name, sizeof(name), "i%d", i);
		CHECK(mxb_peers_set(p, name, true, 0, false) == 1);
	}
	CHECK(mxb_peers_set(p, "one-more", true, 0, false) == -ENOSPC);
	CHECK(mxb_peers_set(p, "i7", true, 1, false) == 1); /* those known still change */
	CHECK(mxb_peers_set(p, "i0", false, 0, false) == 1);
	CHECK(mxb_peers_set(p, "one-more", true, 0, false) == 1);
	free(p);
}

static void test_leads(void)
{
	struct mxb_peers *p = calloc(1, sizeof(*p));
	/* alone */
	CHECK(mxb_peers_leads(p, "b", 0, false) && mxb_peers_leads(p, "b", 0, true));
	/* the same priority: the resource first byte by byte */
	mxb_peers_set(p, "c", true, 0, true);
	CHECK(mxb_peers_leads(p, "b", 0, false) && mxb_peers_leads(p, "b", 0, true));
	mxb_peers_set(p, "a", true, 0, false);
	CHECK(!mxb_peers_leads(p, "b", 0, false));
	/* a's component is down: among those that tell devices, b comes first */
	CHECK(mxb_peers_leads(p, "b", 0, true));
	mxb_peers_set(p, "a", true, 0, true);
	CHECK(!mxb_peers_leads(p, "b", 0, true));
	/* priority before the name */
	CHECK(mxb_peers_leads(p, "z", 1, false) && mxb_peers_leads(p, "z", 1, true));
	mxb_peers_set(p, "c", true, 5, true);
	CHECK(!mxb_peers_leads(p, "z", 1, false));
	CHECK(mxb_peers_leads(p, "z", 6, true));
	/* negative priorities order too */
	mxb_peers_clear(p);
	mxb_peers_set(p, "a", true, -5, true);
	CHECK(mxb_peers_leads(p, "b", -1, true) && !mxb_peers_leads(p, "b", -6, true));
	free(p);
}

int main(void)
{
	test_set();
	test_leads();
	return check_report("test_peers");
}
