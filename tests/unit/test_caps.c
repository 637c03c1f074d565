/* The XEP-0115 verification string and hash, against the XEP's own examples (5.2). */
#include <string.h>

#include "caps.h"
#include "check.h"

static void xep_simple_example(void)
{
	const struct mxb_caps_identity id = {"client", "pc", NULL, "Exodus 0.9.1"};
	/* Out of order on purpose: the hash sorts them. */
	const char *const features[] = {"http://jabber.org/protocol/muc",
		"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/caps",
		"http://jabber.org/protocol/disco#items", NULL};
	char s[512];
	CHECK(mxb_caps_string(&id, 1, features, s, sizeof(s)) > 0);
	CHECK_STR(s, "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<"
		     "http://jabber.org/protocol/disco#info<"
		     "http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<");
	char ver[MXB_CAPS_VER_LEN];
	CHECK(mxb_caps_ver(&id, 1, features, ver) == 0);
	CHECK_STR(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
}

static void identities_sorted(void)
{
	/* 5.3's complex example without its form: two identities, in lang order. */
	const struct mxb_caps_identity ids[] = {
		{"client", "pc", "el", "Ψ 0.11"},
		{"client", "pc", "en", "Psi 0.11"},
	};
	const struct mxb_caps_identity reversed[] = {ids[1], ids[0]};
	const char *const features[] = {
		"urn:xmpp:dataforms:softwareinfo", "http://jabber.org/protocol/caps", NULL};
	char a[512], b[512];
	CHECK(mxb_caps_string(ids, 2, features, a, sizeof(a)) > 0);
	CHECK(mxb_caps_string(reversed, 2, features, b, sizeof(b)) > 0);
	CHECK_STR(a, "client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<"
		     "http://jabber.org/protocol/caps<urn:xmpp:dataforms:softwareinfo<");
	CHECK_STR(b, a);
}

static void too_small(void)
{
	const struct mxb_caps_identity id = {"client", "bot", NULL, "x"};
	const char *const features[] = {"urn:xmpp:ping", NULL};
	char s[8];
	CHECK(mxb_caps_string(&id, 1, features, s, sizeof(s)) < 0);
}

int main(void)
{
	xep_simple_example();
	identities_sorted();
	too_small();
	return check_report("caps");
}
