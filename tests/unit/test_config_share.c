/* mqtt.share_group and bridge.instance: the feeds shared, each instance its own ids. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config_check.h"

static void test_share_applied(void)
{
	struct mxb_config cfg;
	if (LOAD_OK("share_ok.conf",
		    "xmpp: { jid = \"bot@example.org/home\"; password = \"s\"; priority = 3;\n"
		    "  component = { domain = \"iot.example.org\"; secret = \"c\"; }; };\n"
		    "mqtt: { share_group = \"feed\"; client_id = \"mxb\"; stats_topic = \"st\"; "
		    "};\n"
		    "bridge: { instance = \"node-2.a_b\"; };\n"
		    "notify = ( { topic = \"alarm/#\"; to = [\"a@example.org\"]; },\n"
		    "  { topic = \"$share/own/x/+\"; to = [\"a@example.org\"]; } );\n"
		    "pubsub = ( { topic = \"s/+\"; service = \"ps.example.org\"; node = \"n\"; } "
		    ");\n"
		    "devices = ( { availability = \"tele/+/LWT\"; allow = [\"a@example.org\"]; } "
		    ");\n",
		    &cfg) == 0) {
		CHECK_STR(cfg.notify[0].topic, "$share/feed/alarm/#");
		/* a filter already shared keeps its own group */
		CHECK_STR(cfg.notify[1].topic, "$share/own/x/+");
		CHECK_STR(cfg.pubsub[0].topic, "$share/feed/s/+");
		/* the state behind a device's presence is not split */
		CHECK_STR(cfg.devices[0].availability, "tele/+/LWT");
		CHECK_STR(cfg.mqtt.client_id, "mxb-node-2.a_b");
		CHECK_STR(cfg.xmpp.jid, "bot@example.org/home-node-2.a_b");
		CHECK_STR(cfg.mqtt.status_topic, "mqtt-xmpp-bridge/status/node-2.a_b");
		CHECK_STR(cfg.mqtt.stats_topic, "st/node-2.a_b");
		CHECK(cfg.xmpp.priority == 3);
		mxb_config_finish(&cfg);
	}
	/* Without a resource the instance is the resource; without a name, the host name. */
	if (LOAD_OK("share_host.conf",
		    XMPP_OK "mqtt: { share_group = \"g\"; status_topic = \"\"; };\n", &cfg) == 0) {
		char host[256] = "";
		CHECK(gethostname(host, sizeof(host) - 1) == 0);
		CHECK_STR(cfg.bridge.instance, host);
		char want[300];
		snprintf(want, sizeof(want), "bot@example.org/%s", host);
		CHECK_STR(cfg.xmpp.jid, want);
		snprintf(want, sizeof(want), "mqtt-xmpp-bridge-%s", host);
		CHECK_STR(cfg.mqtt.client_id, want);
		CHECK_STR(cfg.mqtt.status_topic, "");
		mxb_config_finish(&cfg);
	}
	/* Without a share group, the instance's name changes nothing. */
	if (LOAD_OK("share_none.conf",
		    XMPP_OK "bridge: { instance = \"a\"; };\n"
			    "notify = ( { topic = \"t/#\"; to = [\"a@example.org\"]; } );\n",
		    &cfg) == 0) {
		CHECK_STR(cfg.notify[0].topic, "t/#");
		CHECK_STR(cfg.mqtt.client_id, "mqtt-xmpp-bridge");
		CHECK_STR(cfg.xmpp.jid, "bot@example.org");
		CHECK(cfg.xmpp.priority == 0);
		mxb_config_finish(&cfg);
	}
}

static void test_share_errors(void)
{
	EXPECT_ERRORS("share_bad.conf",
		XMPP_OK "mqtt: { share_group = \"a/b\"; };\n"
			"bridge: { instance = \"a b\"; };\n",
		"$F:2: invalid 'share_group' 'a/b': a non-empty name without '/', '+' or '#'",
		"$F:3: invalid 'instance' 'a b': letters, digits, '-', '_' and '.' only");
	EXPECT_ERRORS("share_wild.conf", XMPP_OK "mqtt: { share_group = \"+\"; };\n",
		"$F:2: invalid 'share_group' '+': a non-empty name without '/', '+' or '#'");
	EXPECT_ERRORS("share_prio.conf",
		"xmpp: { jid = \"b@example.org\"; password = \"s\"; priority = 128; };\n",
		"$F:1: 'priority' must be between -128 and 127");
	EXPECT_ERRORS("share_long.conf",
		XMPP_OK
		"mqtt: { share_group = \"g\"; };\n"
		"bridge: { instance = "
		"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"; };\n",
		"$F:3: 'instance' is too long (at most 64 bytes)");
	/* What the name is added to is bounded as a whole, refused rather than cut. */
	char conf[4096];
	char resource[1024];
	memset(resource, 'r', 1020);
	resource[1020] = '\0';
	snprintf(conf, sizeof(conf),
		"xmpp: { jid = \"bot@example.org/%s\"; password = \"s\"; };\n"
		"mqtt: { share_group = \"g\"; };\nbridge: { instance = \"abc\"; };\n",
		resource);
	EXPECT_ERRORS("share_resource.conf", conf,
		"$F:2: the resource of 'xmpp.jid' with the share group would be 1024 bytes, "
		"more than 1023");
}

/* What --check-config prints: the names the instance will use. */
static void test_share_printed(void)
{
	struct mxb_config cfg;
	if (LOAD_OK("share_print.conf",
		    XMPP_OK "mqtt: { share_group = \"g\"; client_id = \"m\"; };\n"
			    "bridge: { instance = \"i2\"; };\n"
			    "notify = ( { topic = \"t/#\"; to = [\"a@example.org\"]; } );\n",
		    &cfg) != 0)
		return;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	mxb_config_print(&cfg, f);
	fclose(f);
	CHECK(strstr(text, "xmpp.jid: 'bot@example.org/i2'\n") != NULL);
	CHECK(strstr(text, "mqtt.client_id: 'm-i2'\n") != NULL);
	CHECK(strstr(text, "mqtt.share_group: 'g'\n") != NULL);
	CHECK(strstr(text, "'$share/g/t/#'") != NULL);
	free(text);
	mxb_config_finish(&cfg);
}

int main(void)
{
	config_check_init();
	test_share_applied();
	test_share_errors();
	test_share_printed();
	config_check_cleanup();
	return check_report("test_config_share");
}
