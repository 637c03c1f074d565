/* The pubsub and subscribe routes of bridge.conf: values, defaults and exact errors. */

#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "config_check.h"

static void test_pubsub_routes(void)
{
	struct mxb_config cfg;
	if (LOAD_OK("pubsub_ok.conf",
		    XMPP_OK "pubsub = ( { topic = \"s/+/state\"; service = \"pubsub.localhost\";\n"
			    "  node = \"sensors/{{topic.2}}\"; },\n"
			    "  { topic = \"log/#\"; service = \"ps.example.org\"; node = \"log\";\n"
			    "    format = \"atom\"; title = \"{{topic.2}}\"; history = 5; } );\n"
			    "subscribe = ( { service = \"pubsub.localhost\"; pattern = \"w/*\";\n"
			    "  topic = \"xmpp/{{name}}\"; } );\n",
		    &cfg) == 0) {
		CHECK(cfg.pubsub_len == 2 && cfg.subscribe_len == 1);
		const struct mxb_pubsub_route *r = &cfg.pubsub[0];
		CHECK(r->format == MXB_PUBSUB_JSON && r->history == 0 && r->qos == 1 &&
			r->retained && r->max_item == 65536 && r->node_tmpl && r->line == 2);
		CHECK_STR(cfg.pubsub[1].summary, "{{payload}}");
		CHECK_STR(cfg.pubsub[1].title, "{{topic.2}}");
		CHECK(cfg.pubsub[1].format == MXB_PUBSUB_ATOM && cfg.pubsub[1].history == 5);
		CHECK(cfg.subscribe[0].retain && cfg.subscribe[0].qos == 1 &&
			cfg.subscribe[0].nodes.len == 0);
		CHECK_STR(cfg.subscribe[0].pattern, "w/*");
		mxb_config_finish(&cfg);
	}
	EXPECT_ERRORS("pubsub_bad.conf",
		XMPP_OK
		"pubsub = ( { topic = \"a/#/b\"; service = \"bad jid@x/y\"; },\n"
		"  { topic = \"a\"; service = \"ps.x\"; node = \"n\"; format = \"xml\"; },\n"
		"  { topic = \"a\"; service = \"ps.x\"; node = \"{{nope}}\"; history = 1001; },\n"
		"  { topic = \"a\"; service = \"ps.x\"; node = \"n\"; title = \"t\"; nod = 1; } "
		");\n",
		"$F:2: invalid topic filter 'a/#/b' in 'topic'",
		"$F:2: invalid service JID 'bad jid@x/y' in 'service' (a bare JID)",
		"$F:2: missing 'node' in a 'pubsub' route",
		"$F:3: invalid value 'xml' for 'format' (expected json, text, atom or base64)",
		"$F:4: invalid template in 'node': unknown placeholder '{{nope}}'",
		"$F:4: 'history' must be between 0 and 1000",
		"$F:5: unknown key 'nod' in a 'pubsub' route (did you mean 'node'?)",
		"$F:5: 'title' and 'summary' need format = \"atom\"");
	EXPECT_ERRORS("subscribe_bad.conf",
		XMPP_OK
		"subscribe = ( { service = \"ps.x\"; topic = \"t\"; },\n"
		"  { service = \"ps.x\"; nodes = [ \"a\" ]; pattern = \"b\"; topic = \"t\"; },\n"
		"  { service = \"ps.x\"; nodes = [ \"a\\x01\" ]; } );\n",
		"$F:2: a 'subscribe' route needs 'nodes' or 'pattern' (one of them)",
		"$F:3: a 'subscribe' route needs 'nodes' or 'pattern' (one of them)",
		"$F:4: invalid node 'a\x01' in 'nodes'",
		"$F:4: missing 'topic' in a 'subscribe' route");
	EXPECT_ERRORS("pubsub_component.conf",
		"xmpp: { component: { domain = \"iot.x\"; secret = \"s\"; }; };\n"
		"pubsub = ( { topic = \"a\"; service = \"ps.x\"; node = \"n\"; } );\n"
		"subscribe = ( { service = \"ps.x\"; nodes = [ \"n\" ]; topic = \"t\"; } );\n",
		"$F:2: 'pubsub' needs an XMPP account: set xmpp.jid",
		"$F:3: 'subscribe' needs an XMPP account: set xmpp.jid");
}

int main(void)
{
	config_check_init();
	test_pubsub_routes();
	config_check_cleanup();
	return check_report("test_config_pubsub");
}
