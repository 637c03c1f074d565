/*
 * Fuzzes the pure pubsub layer (pubsub_item.c) with the properties the bridge relies on:
 *  - a journal body that decodes re-encodes to the very same bytes;
 *  - a payload element, in every format, is XML text (what the session may parse and
 *    send) or an error, never a cut value, and stays within its bound;
 *  - a publish request of any node and item is XML text within its bound, or an error;
 *  - base64 and node patterns never read outside their input.
 */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "pubsub_item.h"
#include "text.h"

static char *copy_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	FUZZ_CHECK(s);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static void journal(const uint8_t *data, size_t size)
{
	char *exact = malloc(size ? size : 1);
	FUZZ_CHECK(exact);
	if (size)
		memcpy(exact, data, size);
	struct mxb_pubsub_journal j;
	if (mxb_pubsub_journal_decode(exact, size, &j) == 0) {
		struct mxb_strbuf b;
		mxb_strbuf_init(&b, size + 1);
		FUZZ_CHECK(mxb_pubsub_journal_encode(&b, &j) == 0);
		FUZZ_CHECK(b.len == size && memcmp(b.s, exact, size) == 0);
		mxb_strbuf_finish(&b);
	}
	free(exact);
}

static void payloads(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	for (int f = MXB_PUBSUB_JSON; f <= MXB_PUBSUB_BASE64; f++) {
		struct mxb_strbuf b;
		size_t max = 64 + 4 * size;
		mxb_strbuf_init(&b, max);
		struct mxb_pubsub_entry e = {"title", "summary", "tag:x,2000:n/1", 0};
		enum mxb_pubsub_built how;
		int r = mxb_pubsub_payload(&b, (enum mxb_pubsub_format)f, p, size, &e, &how);
		FUZZ_CHECK(r == 0 || r == -E2BIG || r == -ENOMEM);
		if (r == 0) {
			FUZZ_CHECK(b.len <= max && mxb_text_xml_valid(b.s, b.len));
			struct mxb_strbuf iq;
			mxb_strbuf_init(&iq, b.len + 4096);
			struct mxb_pubsub_publish pub = {"mxb-ps-1", "pubsub.example.org", "n",
				MXB_PUBSUB_CURRENT, b.s, f & 1};
			FUZZ_CHECK(mxb_pubsub_iq_publish(&iq, &pub) == 0);
			FUZZ_CHECK(mxb_text_xml_valid(iq.s, iq.len));
			mxb_strbuf_finish(&iq);
		}
		mxb_strbuf_finish(&b);
	}
}

static void requests(const uint8_t *data, size_t size)
{
	char *s = copy_str(data, size);
	if (!mxb_pubsub_node_valid(s, size)) {
		free(s);
		return;
	}
	struct mxb_strbuf b;
	mxb_strbuf_init(&b, 3 * 6 * size + 1024);
	FUZZ_CHECK(mxb_pubsub_iq_create(&b, s, "ps.example.org", s, 5) == 0);
	FUZZ_CHECK(mxb_text_xml_valid(b.s, b.len));
	mxb_strbuf_finish(&b);
	mxb_strbuf_init(&b, 3 * 6 * size + 1024);
	FUZZ_CHECK(mxb_pubsub_iq_retract(&b, "r", "ps.example.org", s, s) == 0);
	FUZZ_CHECK(mxb_text_xml_valid(b.s, b.len));
	mxb_strbuf_finish(&b);
	/* The first half as a pattern of the second. */
	size_t half = size / 2;
	char saved = s[half];
	s[half] = '\0';
	(void)mxb_pubsub_node_matches(s, half < size ? s + half + 1 : s + half);
	s[half] = saved;
	free(s);
}

static void values(const uint8_t *data, size_t size)
{
	char *s = copy_str(data, size);
	struct mxb_strbuf b;
	mxb_strbuf_init(&b, size + 1);
	struct mxb_pubsub_element e = {MXB_NS_PAYLOAD, "base64", s, ""};
	int r = mxb_pubsub_element_value(&b, &e);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -E2BIG);
	FUZZ_CHECK(r != 0 || b.len <= size);
	mxb_strbuf_finish(&b);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	journal(data, size);
	payloads(data, size);
	requests(data, size);
	values(data, size);
	return 0;
}
