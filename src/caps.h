#ifndef MXB_CAPS_H
#define MXB_CAPS_H

/*
 * XEP-0115 entity capabilities: the verification string of an identity and its features
 * (section 5.1, without extended forms), hashed with SHA-1 and base64-encoded. Pure but
 * for OpenSSL's SHA-1. ejabberd checks the hash and sends no PEP events to an entity whose
 * hash is wrong, so this is tested against the XEP's own example.
 */

#include <stddef.h>

/* The caps node the bridge names in its presence (XEP-0115: the software's URI). */
#define MXB_CAPS_NODE "https://github.com/mqtt-xmpp-bridge"
/* base64 of 20 bytes, and its NUL */
#define MXB_CAPS_VER_LEN 29

struct mxb_caps_identity {
	const char *category, *type, *lang, *name; /* lang and name may be NULL */
};

/*
 * S of XEP-0115 5.1 for ids[0..nids) and features (NULL-terminated), each sorted as the
 * XEP says, into buf. Returns its length or -ENOSPC (-ENOMEM when sorting cannot allocate).
 */
int mxb_caps_string(const struct mxb_caps_identity *ids, size_t nids, const char *const *features,
	char *buf, size_t size);
/* The ver attribute: base64(SHA-1(S)) into ver. Returns 0 or a negative errno. */
int mxb_caps_ver(const struct mxb_caps_identity *ids, size_t nids, const char *const *features,
	char ver[MXB_CAPS_VER_LEN]);

#endif
