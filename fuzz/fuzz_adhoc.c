/*
 * Fuzzes what a requester controls in an ad-hoc command (adhoc_form.c) and what a contact's
 * JID becomes in Home Assistant discovery (announce.c). Properties: a node is a switch of
 * 1..max or none, with the digits it spells; a submitted value is kept whole or refused,
 * never cut; a discovery id holds only [a-z0-9_] and the config always parses as JSON with
 * the JID as its name.
 *
 * Input: NUL-separated strings: node, action, then var/value pairs; the node is also the
 * contact's bare JID for discovery.
 */

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "adhoc_form.h"
#include "announce.h"
#include "fuzz.h"

/* The next NUL-terminated string of the input, or NULL at its end. */
static const char *next(const char **p, const char *end)
{
	if (*p >= end)
		return NULL;
	const char *s = *p;
	const char *nul = memchr(s, 0, (size_t)(end - s));
	if (!nul)
		return NULL;
	*p = nul + 1;
	return s;
}

static void check_switch(const char *node)
{
	int n = mxb_adhoc_switch_index(node, 12);
	FUZZ_CHECK(n == -1 || (n >= 1 && n <= 12));
	if (n > 0) {
		char want[32];
		snprintf(want, sizeof(want), "switch-%d", n);
		FUZZ_CHECK(strcmp(node, want) == 0);
	}
}

static void check_discovery(const char *bare)
{
	char *id = mxb_announce_id(bare);
	FUZZ_CHECK(id != NULL);
	for (const char *p = id; *p; p++)
		FUZZ_CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
	free(id);
	char *text = mxb_announce_config(bare, "state/topic", bare[0] & 1, NULL);
	FUZZ_CHECK(text != NULL);
	cJSON *o = cJSON_Parse(text);
	/* cJSON escapes what it writes; a JID that is not UTF-8 still round-trips its bytes. */
	FUZZ_CHECK(o != NULL);
	cJSON *name = cJSON_GetObjectItem(o, "name");
	FUZZ_CHECK(cJSON_IsString(name) && strcmp(name->valuestring, bare) == 0);
	cJSON_Delete(o);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	const char *node = next(&p, end);
	if (!node)
		return 0;
	check_switch(node);
	check_discovery(node);
	const char *action = next(&p, end);
	int a = mxb_adhoc_action_parse(action);
	FUZZ_CHECK(a >= -1 && a <= MXB_ADHOC_CANCEL);
	struct mxb_adhoc_request r = {.node = node};
	const char *var, *value;
	while ((var = next(&p, end)) && (value = next(&p, end))) {
		size_t before = r.values_len;
		int rc = mxb_adhoc_request_add(&r, var, value);
		bool fits = strlen(var) <= MXB_ADHOC_VAR_MAX &&
			    strlen(value) <= MXB_ADHOC_VALUE_MAX && before < MXB_ADHOC_VALUES_MAX;
		FUZZ_CHECK((rc == 0) == fits);
		FUZZ_CHECK(r.values_len == before + (rc == 0));
		if (rc == 0) {
			const char *got = mxb_adhoc_request_value(&r, var);
			/* The first value of a var counts; later ones of the same var do not. */
			FUZZ_CHECK(got != NULL);
			if (got == r.values[before].value)
				FUZZ_CHECK(strcmp(got, value) == 0);
		}
	}
	return 0;
}
