#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "caps.h"

/* The longest S the bridge makes: a few identities and features. */
#define CAPS_STRING_MAX 4096

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* Identities sort by category, then type, then xml:lang, then name (octets). */
static int cmp_identity(const void *a, const void *b)
{
	const struct mxb_caps_identity *x = *(const struct mxb_caps_identity *const *)a;
	const struct mxb_caps_identity *y = *(const struct mxb_caps_identity *const *)b;
	int r = strcmp(or_empty(x->category), or_empty(y->category));
	if (!r)
		r = strcmp(or_empty(x->type), or_empty(y->type));
	if (!r)
		r = strcmp(or_empty(x->lang), or_empty(y->lang));
	if (!r)
		r = strcmp(or_empty(x->name), or_empty(y->name));
	return r;
}

static int cmp_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool append(char *buf, size_t size, size_t *len, const char *s)
{
	size_t n = strlen(s);
	if (*len + n >= size)
		return false;
	memcpy(buf + *len, s, n + 1);
	*len += n;
	return true;
}

int mxb_caps_string(const struct mxb_caps_identity *ids, size_t nids, const char *const *features,
	char *buf, size_t size)
{
	size_t nf = 0;
	while (features[nf])
		nf++;
	const struct mxb_caps_identity **id = malloc((nids ? nids : 1) * sizeof(*id));
	const char **f = malloc((nf ? nf : 1) * sizeof(*f));
	int rc = -ENOMEM;
	if (!id || !f)
		goto out;
	for (size_t i = 0; i < nids; i++)
		id[i] = &ids[i];
	memcpy(f, features, nf * sizeof(*f));
	qsort(id, nids, sizeof(*id), cmp_identity);
	qsort(f, nf, sizeof(*f), cmp_string);
	size_t len = 0;
	bool ok = size > 0;
	if (ok)
		buf[0] = '\0';
	/* category/type/lang/name< for each identity, then feature< for each feature */
	for (size_t i = 0; ok && i < nids; i++) {
		ok = append(buf, size, &len, or_empty(id[i]->category)) &&
		     append(buf, size, &len, "/") &&
		     append(buf, size, &len, or_empty(id[i]->type)) &&
		     append(buf, size, &len, "/") &&
		     append(buf, size, &len, or_empty(id[i]->lang)) &&
		     append(buf, size, &len, "/") &&
		     append(buf, size, &len, or_empty(id[i]->name)) && append(buf, size, &len, "<");
	}
	for (size_t i = 0; ok && i < nf; i++) {
		/* A feature listed twice would be an error (5.4); the list is the bridge's. */
		if (i > 0 && strcmp(f[i], f[i - 1]) == 0)
			continue;
		ok = append(buf, size, &len, f[i]) && append(buf, size, &len, "<");
	}
	rc = ok ? (int)len : -ENOSPC;
out:
	free(id);
	free(f);
	return rc;
}

int mxb_caps_ver(const struct mxb_caps_identity *ids, size_t nids, const char *const *features,
	char ver[MXB_CAPS_VER_LEN])
{
	char s[CAPS_STRING_MAX];
	int n = mxb_caps_string(ids, nids, features, s, sizeof(s));
	if (n < 0)
		return n;
	unsigned char md[SHA_DIGEST_LENGTH];
	SHA1((const unsigned char *)s, (size_t)n, md);
	/* 20 bytes make 28 characters of base64 and the NUL EVP_EncodeBlock adds. */
	int len = EVP_EncodeBlock((unsigned char *)ver, md, SHA_DIGEST_LENGTH);
	return len == MXB_CAPS_VER_LEN - 1 ? 0 : -EINVAL;
}
