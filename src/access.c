#include <string.h>
#include <strings.h>

#include "access.h"
#include "jid.h"

bool mxb_access_jid_matches(const char *pattern, const char *bare)
{
	if (strncmp(pattern, "*@", 2) == 0) {
		size_t len;
		const char *domain = mxb_jid_domain(bare, &len);
		/* "*@domain" means people of that domain, not the domain's own services. */
		if (domain == bare)
			return false;
		return strlen(pattern + 2) == len && strncasecmp(pattern + 2, domain, len) == 0;
	}
	return mxb_jid_bare_equal(pattern, bare);
}

bool mxb_access_allows(const struct mxb_command_route *r, const struct mxb_sender *sender)
{
	if (sender->room) {
		if (!r->has_role && !r->has_affiliation)
			return false;
		bool named = false;
		for (size_t i = 0; i < r->rooms.len && !named; i++)
			named = mxb_jid_bare_equal(r->rooms.v[i], sender->room);

		if (!named)
			return false;
		if (r->has_role && sender->role < r->role)
			return false;
		if (r->has_affiliation && sender->affiliation < r->affiliation)
			return false;
		return true;
	}
	if (!sender->jid)
		return false;
	for (size_t i = 0; i < r->from.len; i++) {
		if (mxb_access_jid_matches(r->from.v[i], sender->jid))
			return true;
	}
	return false;
}

int mxb_access_role_parse(const char *name)
{
	static const char *const names[] = {"none", "visitor", "participant", "moderator"};
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		if (name && strcmp(name, names[i]) == 0)
			return i;
	}
	return -1;
}

int mxb_access_affiliation_parse(const char *name)
{
	static const char *const names[] = {"outcast", "none", "member", "admin", "owner"};
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		if (name && strcmp(name, names[i]) == 0)
			return i;
	}
	return -1;
}
