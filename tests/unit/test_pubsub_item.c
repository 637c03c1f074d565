/* The pure pubsub layer: payloads, requests, error outcomes, node patterns, item values. */

#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "pubsub_item.h"

static char *payload(enum mxb_pubsub_format f, const char *p, size_t len,
	const struct mxb_pubsub_entry *e, enum mxb_pubsub_built *how, size_t max)
{
	struct mxb_strbuf b;
	mxb_strbuf_init(&b, max);
	int r = mxb_pubsub_payload(&b, f, p, len, e, how);
	char *s = r == 0 ? mxb_strbuf_take(&b) : NULL;
	mxb_strbuf_finish(&b);
	return s;
}

static void test_payloads(void)
{
	enum mxb_pubsub_built how;
	char *s = payload(MXB_PUBSUB_JSON, "{\"t\": 21.5}", 11, NULL, &how, 1000);
	CHECK_STR(s, "<json xmlns='urn:xmpp:json:0'>{&quot;t&quot;: 21.5}</json>");
	CHECK(how == MXB_PUBSUB_BUILT_ASKED);
	free(s);
	s = payload(MXB_PUBSUB_JSON, "21.5 \n", 6, NULL, &how, 1000);
	CHECK(s && how == MXB_PUBSUB_BUILT_ASKED);
	free(s);
	/* Not JSON: text, and said so. Trailing garbage after a value is not JSON either. */
	s = payload(MXB_PUBSUB_JSON, "on <b>", 6, NULL, &how, 1000);
	CHECK_STR(s, "<text xmlns='urn:mqtt-xmpp-bridge:payload:0'>on &lt;b&gt;</text>");
	CHECK(how == MXB_PUBSUB_BUILT_TEXT);
	free(s);
	s = payload(MXB_PUBSUB_JSON, "{} x", 4, NULL, &how, 1000);
	CHECK(s && how == MXB_PUBSUB_BUILT_TEXT);
	free(s);
	/* Not XML text: base64, whatever the format. */
	s = payload(MXB_PUBSUB_TEXT, "a\0b\xff", 4, NULL, &how, 1000);
	CHECK_STR(s, "<base64 xmlns='urn:mqtt-xmpp-bridge:payload:0'>YQBi/w==</base64>");
	CHECK(how == MXB_PUBSUB_BUILT_BASE64);
	free(s);
	s = payload(MXB_PUBSUB_BASE64, "hi", 2, NULL, &how, 1000);
	CHECK_STR(s, "<base64 xmlns='urn:mqtt-xmpp-bridge:payload:0'>aGk=</base64>");
	CHECK(how == MXB_PUBSUB_BUILT_ASKED);
	free(s);
	struct mxb_pubsub_entry e = {"Door & hall", "open", "tag:x,2026:1", 0};
	s = payload(MXB_PUBSUB_ATOM, "open", 4, &e, &how, 1000);
	CHECK_STR(s, "<entry xmlns='http://www.w3.org/2005/Atom'><title type='text'>Door &amp; "
		     "hall</title><summary type='text'>open</summary><content "
		     "type='text'>open</content><id>tag:x,2026:1</id><published>1970-01-01T00:00:"
		     "00Z</published><updated>1970-01-01T00:00:00Z</updated></entry>");
	free(s);
	/* Over the bound: refused whole, never cut. */
	CHECK(payload(MXB_PUBSUB_TEXT, "0123456789", 10, NULL, &how, 40) == NULL);
	CHECK(payload(MXB_PUBSUB_BASE64, "0123456789", 10, NULL, &how, 40) == NULL);
}

static void test_requests(void)
{
	struct mxb_strbuf b;
	mxb_strbuf_init(&b, 4096);
	struct mxb_pubsub_publish p = {"p1", "pubsub.localhost", "a/'b'", "current",
		"<json xmlns='urn:xmpp:json:0'>1</json>", true};
	CHECK(mxb_pubsub_iq_publish(&b, &p) == 0);
	CHECK_STR(b.s, "<iq type='set' to='pubsub.localhost' id='p1'><pubsub "
		       "xmlns='http://jabber.org/protocol/pubsub'><publish node='a/&apos;b&apos;'>"
		       "<item id='current'><json xmlns='urn:xmpp:json:0'>1</json></item></publish>"
		       "<publish-options><x xmlns='jabber:x:data' type='submit'><field "
		       "var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/"
		       "pubsub#publish-options</value></field><field "
		       "var='pubsub#persist_items'><value>true</value></field></x>"
		       "</publish-options></pubsub></iq>");
	mxb_strbuf_finish(&b);
	mxb_strbuf_init(&b, 4096);
	CHECK(mxb_pubsub_iq_retract(&b, "r1", "ps", "n", "current") == 0);
	CHECK_STR(b.s, "<iq type='set' to='ps' id='r1'><pubsub "
		       "xmlns='http://jabber.org/protocol/pubsub'><retract node='n' "
		       "notify='true'><item id='current'/></retract></pubsub></iq>");
	mxb_strbuf_finish(&b);
	mxb_strbuf_init(&b, 4096);
	CHECK(mxb_pubsub_iq_create(&b, "c1", "ps", "n", 5) == 0);
	CHECK(strstr(b.s, "<create node='n'/><configure>") != NULL);
	CHECK(strstr(b.s, "<field var='pubsub#max_items'><value>5</value></field>") != NULL);
	mxb_strbuf_finish(&b);
	mxb_strbuf_init(&b, 4096);
	CHECK(mxb_pubsub_iq_create(&b, "c2", "ps", "n", 0) == 0);
	CHECK_STR(b.s,
		"<iq type='set' to='ps' id='c2'><pubsub "
		"xmlns='http://jabber.org/protocol/pubsub'><create node='n'/></pubsub></iq>");
	mxb_strbuf_finish(&b);
	mxb_strbuf_init(&b, 4096);
	CHECK(mxb_pubsub_iq_last_item(&b, "i1", "ps", "n") == 0);
	CHECK_STR(b.s, "<iq type='get' to='ps' id='i1'><pubsub "
		       "xmlns='http://jabber.org/protocol/pubsub'><items node='n' "
		       "max_items='1'/></pubsub></iq>");
	mxb_strbuf_finish(&b);
	mxb_strbuf_init(&b, 4096);
	CHECK(mxb_pubsub_iq_subscribe(&b, "s1", "ps", "n", "bridge@localhost") == 0);
	CHECK(strstr(b.s, "<subscribe node='n' jid='bridge@localhost'/>") != NULL);
	mxb_strbuf_finish(&b);
	mxb_strbuf_init(&b, 4096);
	CHECK(mxb_pubsub_iq_nodes(&b, "d1", "ps") == 0);
	CHECK_STR(b.s, "<iq type='get' to='ps' id='d1'><query "
		       "xmlns='http://jabber.org/protocol/disco#items'/></iq>");
	mxb_strbuf_finish(&b);
	/* The size cap: a request one byte over is refused, not cut. */
	mxb_strbuf_init(&b, 100);
	CHECK(mxb_pubsub_iq_publish(&b, &p) == -E2BIG);
	mxb_strbuf_finish(&b);
}

static void test_classify(void)
{
	CHECK(mxb_pubsub_classify("result", NULL, NULL, true) == MXB_PUBSUB_DONE);
	CHECK(mxb_pubsub_classify("error", "item-not-found", NULL, true) == MXB_PUBSUB_CREATE);
	CHECK(mxb_pubsub_classify("error", "conflict", "precondition-not-met", true) ==
		MXB_PUBSUB_RETRY_PLAIN);
	CHECK(mxb_pubsub_classify("error", "conflict", "precondition-not-met", false) ==
		MXB_PUBSUB_DROP);
	CHECK(mxb_pubsub_classify("error", "resource-constraint", NULL, true) ==
		MXB_PUBSUB_RETRY_PLAIN);
	CHECK(mxb_pubsub_classify("error", "bad-request", "invalid-options", true) ==
		MXB_PUBSUB_RETRY_PLAIN);
	CHECK(mxb_pubsub_classify("error", "bad-request", NULL, false) == MXB_PUBSUB_DROP);
	CHECK(mxb_pubsub_classify("error", "forbidden", NULL, true) == MXB_PUBSUB_DISABLE);
	CHECK(mxb_pubsub_classify("error", "not-allowed", "closed-node", false) ==
		MXB_PUBSUB_DISABLE);
	CHECK(mxb_pubsub_classify("error", "not-acceptable", "payload-too-big", true) ==
		MXB_PUBSUB_TOO_BIG);
	CHECK(mxb_pubsub_classify("error", "not-acceptable", NULL, false) == MXB_PUBSUB_TOO_BIG);
	CHECK(mxb_pubsub_classify("error", "service-unavailable", NULL, true) == MXB_PUBSUB_DROP);
	CHECK(mxb_pubsub_classify("error", NULL, NULL, true) == MXB_PUBSUB_DROP);
}

static void test_patterns(void)
{
	CHECK(mxb_pubsub_node_matches("sensors/*", "sensors/kitchen/temp"));
	CHECK(mxb_pubsub_node_matches("*", "x"));
	CHECK(mxb_pubsub_node_matches("a*b*c", "aXXbYYc"));
	CHECK(!mxb_pubsub_node_matches("a*b*c", "aXXbYY"));
	CHECK(mxb_pubsub_node_matches("exact", "exact"));
	CHECK(!mxb_pubsub_node_matches("exact", "exact2"));
	CHECK(!mxb_pubsub_node_matches("sensors/*", "sensor"));
	CHECK(mxb_pubsub_node_valid("a", 1));
	CHECK(!mxb_pubsub_node_valid("", 0));
	CHECK(!mxb_pubsub_node_valid("a\x01", 2));
	CHECK(!mxb_pubsub_node_valid("\xe2\x82", 2));
}

static char *value(const char *ns, const char *name, const char *text, const char *xml, int *rc)
{
	struct mxb_strbuf b;
	mxb_strbuf_init(&b, 64);
	struct mxb_pubsub_element e = {ns, name, text, xml};
	*rc = mxb_pubsub_element_value(&b, &e);
	char *s = *rc == 0 ? mxb_strbuf_take(&b) : NULL;
	mxb_strbuf_finish(&b);
	return s;
}

static void test_values(void)
{
	int rc;
	char *s = value(MXB_NS_JSON, "json", "{\"a\":1}", "<json/>", &rc);
	CHECK_STR(s, "{\"a\":1}");
	free(s);
	s = value(MXB_NS_PAYLOAD, "base64", "aGk=\n", "", &rc);
	CHECK_STR(s, "hi");
	free(s);
	s = value(MXB_NS_PAYLOAD, "base64", "a*k=", "", &rc);
	CHECK(s == NULL && rc == -EINVAL);
	s = value(MXB_NS_ATOM, "entry", "x", "<entry xmlns='a'/>", &rc);
	CHECK_STR(s, "<entry xmlns='a'/>");
	free(s);
	s = value(MXB_NS_PAYLOAD, "text", NULL, "", &rc);
	CHECK_STR(s, "");
	free(s);
	/* Over the bound: an error, not a cut value. */
	char big[100];
	memset(big, 'x', sizeof(big) - 1);
	big[99] = '\0';
	s = value(MXB_NS_JSON, "json", big, "", &rc);
	CHECK(s == NULL && rc == -E2BIG);
	char id[32];
	mxb_pubsub_item_id(id, sizeof(id), 1700000000123, 7);
	CHECK_STR(id, "1700000000123-7");
	CHECK(mxb_pubsub_hash("a", 1) != mxb_pubsub_hash("b", 1));
}

static void test_journal(void)
{
	struct mxb_pubsub_journal j = {
		"a/b", "current", "<text xmlns='x'>v\n</text>", 3, 7, 25, 1, 65536, false};
	struct mxb_strbuf b;
	mxb_strbuf_init(&b, 4096);
	CHECK(mxb_pubsub_journal_encode(&b, &j) == 0);
	CHECK_STR(b.s, "1 65536 3 7 p\na/bcurrent<text xmlns='x'>v\n</text>");
	struct mxb_pubsub_journal d;
	CHECK(mxb_pubsub_journal_decode(b.s, b.len, &d) == 0);
	CHECK(d.node_len == 3 && memcmp(d.node, "a/b", 3) == 0 && d.item_len == 7 &&
		d.payload_len == 25 && d.max == 65536 && d.max_items == 1 && !d.retract);
	mxb_strbuf_finish(&b);
	struct mxb_pubsub_journal r = {"n", "current", NULL, 1, 7, 0, 5, 512, true};
	mxb_strbuf_init(&b, 4096);
	CHECK(mxb_pubsub_journal_encode(&b, &r) == 0);
	CHECK(mxb_pubsub_journal_decode(b.s, b.len, &d) == 0 && d.retract && d.payload_len == 0);
	mxb_strbuf_finish(&b);
	/* Out of bounds, torn, or not one at all: refused. */
	const char *bad[] = {"", "1 65536 3 7 p", "1 65536 3 7 p\na/b", "01 65536 1 1 p\nabx",
		"1 65536 1 1 x\nabx", "1001 65536 1 1 p\nabx", "1 100 1 1 p\nabx",
		"1 65536 0 1 p\nbx", "1 65536 1 1 r\nabx", "1 65536 1 1 p\nab", "-1 512 1 1 p\nabx",
		"1 65536 1 1 p\na\x01x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(mxb_pubsub_journal_decode(bad[i], strlen(bad[i]), &d) == -EBADMSG);
	CHECK(mxb_pubsub_journal_decode("1 512 1 1 p\nabx", 15, &d) == 0);
	struct mxb_pubsub_journal big = {"n", "i", "x", 1, 1, 1, 1, 100, false};
	mxb_strbuf_init(&b, 4096);
	CHECK(mxb_pubsub_journal_encode(&b, &big) == -EINVAL);
	mxb_strbuf_finish(&b);
}

int main(void)
{
	test_journal();
	test_payloads();
	test_requests();
	test_classify();
	test_patterns();
	test_values();
	return check_report("pubsub_item");
}
