#include <errno.h>
#include <string.h>
#include <strings.h>

#include "jid.h"

static bool forbidden_in_local(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || strchr("\"&'/:<>@", c) != NULL;
}

static bool forbidden_in_domain(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || strchr("\"&'/:<>@\\", c) != NULL;
}

bool mxb_jid_valid(const char *jid)
{
	const char *slash = strchr(jid, '/');
	size_t barelen = slash ? (size_t)(slash - jid) : strlen(jid);
	const char *at = memchr(jid, '@', barelen);
	const char *domain = at ? at + 1 : jid;
	size_t domlen = barelen - (size_t)(domain - jid);

	if (at) {
		size_t loclen = (size_t)(at - jid);
		if (loclen == 0 || loclen > MXB_JID_PART_MAX)
			return false;
		for (size_t i = 0; i < loclen; i++) {
			if (forbidden_in_local((unsigned char)jid[i]))
				return false;
		}
	}
	if (domlen == 0 || domlen > MXB_JID_PART_MAX || domain[domlen - 1] == '.' ||
		domain[0] == '.')
		return false;
	for (size_t i = 0; i < domlen; i++) {
		if (forbidden_in_domain((unsigned char)domain[i]))
			return false;
	}
	if (slash) {
		size_t reslen = strlen(slash + 1);
		if (reslen == 0 || reslen > MXB_JID_PART_MAX)
			return false;
		for (const char *r = slash + 1; *r; r++) {
			unsigned char c = (unsigned char)*r;
			if (c < 0x20 || c == 0x7f)
				return false;
		}
	}
	return true;
}

bool mxb_jid_is_bare(const char *jid)
{
	return mxb_jid_valid(jid) && strchr(jid, '/') == NULL;
}

int mxb_jid_bare(const char *jid, char *buf, size_t len)
{
	const char *slash = strchr(jid, '/');
	size_t n = slash ? (size_t)(slash - jid) : strlen(jid);
	if (n >= len)
		return -E2BIG;
	memcpy(buf, jid, n);
	buf[n] = '\0';
	return 0;
}

static size_t bare_len(const char *jid)
{
	const char *slash = strchr(jid, '/');
	return slash ? (size_t)(slash - jid) : strlen(jid);
}

bool mxb_jid_bare_equal(const char *a, const char *b)
{
	size_t la = bare_len(a), lb = bare_len(b);
	return la == lb && strncasecmp(a, b, la) == 0;
}

const char *mxb_jid_domain(const char *jid, size_t *len)
{
	size_t bl = bare_len(jid);
	const char *at = memchr(jid, '@', bl);
	const char *domain = at ? at + 1 : jid;
	*len = bl - (size_t)(domain - jid);
	return domain;
}
