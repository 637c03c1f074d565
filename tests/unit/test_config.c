/*
 * Unit test of the config loader: writes bridge.conf variants into a temporary directory
 * and checks the parsed values and the exact "file:line: message" errors.
 */

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "template.h"

#include "config_check.h"
#define dir config_check_dir

static void test_full(void)
{
	write_file("xmpp.pw", "xmpp-secret\r\nsecond line\n");
	write_file("mqtt.pw", "mqtt-secret");
	write_file("ca.pem", "ca\n");
	write_file("client.pem", "cert\n");
	write_file("client.key", "key\n");

	const char *conf =
		"# every key\n"
		"bridge: {\n"
		"  log_level = \"debug\";\n"
		"  queue_size = 50;\n"
		"  max_payload = 1024L;\n"
		"  max_message = 2048;\n"
		"  bad_text = \"refuse\";\n"
		"};\n"
		"xmpp: {\n" /* line 9 */
		"  jid = \"home@example.org/bridge\";\n"
		"  password_file = \"$D/xmpp.pw\";\n"
		"  host = \"xmpp.example.org\";\n"
		"  port = 5223;\n"
		"  tls = \"direct\";\n"
		"  ca_file = \"ca.pem\";\n"
		"  client_cert = \"client.pem\"; client_key = \"$D/client.key\";\n"
		"  status = \"at home\";\n"
		"  reconnect_max = 120;\n"
		"};\n"
		"mqtt: {\n"
		"  host = \"broker.lan\"; port = 8884;\n"
		"  version = 3;\n"
		"  client_id = \"bridge-1\";\n"
		"  username = \"bridge\"; password_file = \"mqtt.pw\";\n"
		"  keepalive = 30;\n"
		"  status_topic = \"\";\n"
		"  reconnect_max = 10; stats_topic = \"bridge/stats\"; stats_interval = 5;\n"
		"  tls: { ca_file = \"ca.pem\"; cert_file = \"client.pem\";\n"
		"         key_file = \"client.key\"; };\n"
		"};\n"
		"notify = (\n" /* line 31 */
		"  { topic = \"home/+/alarm\"; to = [ \"alice@example.org\",\n"
		"      \"family@muc.example.org\" ];\n"
		"    message = \"{{topic.2}}: {{json.state}}\"; qos = 1; },\n"
		"  { topic = \"$share/g/tele/#\"; to = ( \"bob@example.org\" ); }\n"
		");\n"
		"commands = (\n"
		"  { from = [ \"alice@example.org\" ]; allow = [ \"home/+/set\", \"x/#\" ];\n"
		"    qos = 2; retain = true; },\n"
		"  { from = [ \"bob@example.org\", \"carol@example.org\" ];\n"
		"    allow = [ \"garden/light\" ]; }\n"
		");\n";
	struct mxb_config cfg;
	if (LOAD_OK("full.conf", conf, &cfg) != 0)
		return;

	char *p = path_of("full.conf");
	CHECK_STR(cfg.path, p);
	free(p);
	CHECK(cfg.bridge.log_level == MXB_LOG_DEBUG);
	CHECK(cfg.bridge.queue_size == 50);
	CHECK(cfg.bridge.max_payload == 1024);
	CHECK(cfg.bridge.max_message == 2048);
	CHECK(cfg.bridge.bad_text == MXB_BAD_TEXT_REFUSE);

	CHECK_STR(cfg.xmpp.jid, "home@example.org/bridge");
	CHECK_STR(cfg.xmpp.password, "xmpp-secret");
	CHECK_STR(cfg.xmpp.host, "xmpp.example.org");
	CHECK(cfg.xmpp.port == 5223);
	CHECK(cfg.xmpp.tls == MXB_XMPP_TLS_DIRECT);
	/* relative file names are taken from the config's directory */
	char *ca = path_of("ca.pem"), *cert = path_of("client.pem"), *key = path_of("client.key");
	CHECK_STR(cfg.xmpp.ca_file, ca);
	CHECK_STR(cfg.xmpp.client_cert, cert);
	CHECK_STR(cfg.xmpp.client_key, key);
	CHECK_STR(cfg.xmpp.status, "at home");
	CHECK(cfg.xmpp.reconnect_max == 120);

	CHECK_STR(cfg.mqtt.host, "broker.lan");
	CHECK(cfg.mqtt.port == 8884);
	CHECK(cfg.mqtt.version == 3);
	CHECK_STR(cfg.mqtt.client_id, "bridge-1");
	CHECK_STR(cfg.mqtt.username, "bridge");
	CHECK_STR(cfg.mqtt.password, "mqtt-secret");
	CHECK(cfg.mqtt.keepalive == 30);
	CHECK_STR(cfg.mqtt.status_topic, "");
	CHECK(cfg.mqtt.reconnect_max == 10);
	CHECK_STR(cfg.mqtt.stats_topic, "bridge/stats");
	CHECK(cfg.mqtt.stats_interval == 5);
	CHECK(cfg.mqtt.tls);
	CHECK_STR(cfg.mqtt.ca_file, ca);
	CHECK_STR(cfg.mqtt.cert_file, cert);
	CHECK_STR(cfg.mqtt.key_file, key);
	free(ca);
	free(cert);
	free(key);

	CHECK(cfg.notify_len == 2);
	if (cfg.notify_len == 2) {
		struct mxb_notify_route *r = &cfg.notify[0];
		CHECK_STR(r->topic, "home/+/alarm");
		CHECK(r->to.len == 2);
		if (r->to.len == 2) {
			CHECK_STR(r->to.v[0], "alice@example.org");
			CHECK_STR(r->to.v[1], "family@muc.example.org");
		}
		CHECK_STR(r->message, "{{topic.2}}: {{json.state}}");
		CHECK(r->tmpl != NULL);
		CHECK(r->qos == 1);
		CHECK(r->line == 32);
		r = &cfg.notify[1];
		CHECK_STR(r->topic, "$share/g/tele/#");
		CHECK(r->to.len == 1 && strcmp(r->to.v[0], "bob@example.org") == 0);
		CHECK_STR(r->message, "{{topic}}: {{payload}}");
		CHECK(r->tmpl != NULL);
		CHECK(r->qos == 1);
		CHECK(r->line == 35);
	}
	CHECK(cfg.commands_len == 2);
	if (cfg.commands_len == 2) {
		struct mxb_command_route *r = &cfg.commands[0];
		CHECK(r->from.len == 1 && strcmp(r->from.v[0], "alice@example.org") == 0);
		CHECK(r->allow.len == 2);
		if (r->allow.len == 2) {
			CHECK_STR(r->allow.v[0], "home/+/set");
			CHECK_STR(r->allow.v[1], "x/#");
		}
		CHECK(r->qos == 2);
		CHECK(r->retain);
		CHECK(r->line == 38);
		r = &cfg.commands[1];
		CHECK(r->from.len == 2);
		if (r->from.len == 2)
			CHECK_STR(r->from.v[1], "carol@example.org");
		CHECK(r->allow.len == 1 && strcmp(r->allow.v[0], "garden/light") == 0);
		CHECK(r->qos == 1);
		CHECK(!r->retain);
		CHECK(r->line == 40);
	}

	/* the summary names everything but shows no secret */
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	CHECK(out != NULL);
	if (out) {
		mxb_config_print(&cfg, out);
		fclose(out);
		CHECK(strstr(text, "xmpp.jid: 'home@example.org/bridge'\n") != NULL);
		CHECK(strstr(text, "xmpp.password: (set)\n") != NULL);
		CHECK(strstr(text, "mqtt.password: (set)\n") != NULL);
		CHECK(strstr(text, "mqtt.status_topic: (disabled)\n") != NULL);
		CHECK(strstr(text, "mqtt.stats_topic: 'bridge/stats'\n") != NULL);
		CHECK(strstr(text, "mqtt.stats_interval: 5\n") != NULL);
		CHECK(strstr(text, "notify: 2 routes\n") != NULL);
		CHECK(strstr(text, "commands: 2 routes\n") != NULL);
		CHECK(strstr(text, "secret") == NULL);
		free(text);
	}

	mxb_config_finish(&cfg);
	CHECK(cfg.path == NULL && cfg.notify == NULL && cfg.notify_len == 0);
	/* finishing twice, or a zeroed struct, is harmless */
	mxb_config_finish(&cfg);
}

static void test_defaults(void)
{
	struct mxb_config cfg;
	if (LOAD_OK("minimal.conf",
		    "xmpp: { jid = \"bot@example.org\"; password = \"pw\"; };\n"
		    "notify = ( { topic = \"a/b\"; to = [ \"alice@example.org\" ]; } );\n",
		    &cfg) != 0)
		return;
	CHECK(cfg.bridge.log_level == MXB_LOG_INFO);
	CHECK(cfg.bridge.queue_size == 1000);
	CHECK(cfg.bridge.max_payload == 4096);
	CHECK(cfg.bridge.max_message == 8192);
	CHECK(cfg.bridge.bad_text == MXB_BAD_TEXT_REPLACE);
	CHECK_STR(cfg.xmpp.password, "pw");
	CHECK(cfg.xmpp.host == NULL);
	CHECK(cfg.xmpp.port == 0);
	CHECK(cfg.xmpp.tls == MXB_XMPP_TLS_STARTTLS);
	CHECK(cfg.xmpp.ca_file == NULL);
	CHECK(cfg.xmpp.client_cert == NULL && cfg.xmpp.client_key == NULL);
	CHECK_STR(cfg.xmpp.status, "");
	CHECK(cfg.xmpp.reconnect_max == 60);
	CHECK_STR(cfg.mqtt.host, "localhost");
	CHECK(cfg.mqtt.port == 1883);
	CHECK(cfg.mqtt.version == 5);
	CHECK_STR(cfg.mqtt.client_id, "mqtt-xmpp-bridge");
	CHECK(cfg.mqtt.username == NULL && cfg.mqtt.password == NULL);
	CHECK(cfg.mqtt.keepalive == 30);
	CHECK_STR(cfg.mqtt.status_topic, "mqtt-xmpp-bridge/status");
	CHECK(cfg.mqtt.stats_topic == NULL);
	CHECK(cfg.mqtt.stats_interval == 60);
	CHECK(!cfg.mqtt.tls);
	CHECK(cfg.mqtt.reconnect_max == 60);
	CHECK(cfg.notify_len == 1 && cfg.commands_len == 0 && cfg.commands == NULL);
	if (cfg.notify_len == 1) {
		CHECK_STR(cfg.notify[0].message, "{{topic}}: {{payload}}");
		CHECK(cfg.notify[0].tmpl != NULL);
		CHECK(cfg.notify[0].line == 2);
	}
	mxb_config_finish(&cfg);

	/* a tls group, even empty, turns TLS on and moves the default port */
	if (LOAD_OK("tls.conf", XMPP_OK "mqtt: { tls: { }; };\nnotify = ();\ncommands = [];\n",
		    &cfg) == 0) {
		CHECK(cfg.mqtt.tls);
		CHECK(cfg.mqtt.port == 8883);
		CHECK(cfg.mqtt.ca_file == NULL);
		CHECK(cfg.notify_len == 0 && cfg.commands_len == 0);
		mxb_config_finish(&cfg);
	}

	/* SASL EXTERNAL needs no password */
	write_file("c.pem", "x");
	write_file("c.key", "x");
	if (LOAD_OK("external.conf",
		    "xmpp: { jid = \"bot@example.org\"; client_cert = \"c.pem\";\n"
		    "  client_key = \"c.key\"; };\n",
		    &cfg) == 0) {
		CHECK(cfg.xmpp.password == NULL);
		mxb_config_finish(&cfg);
	}

	/* integers written with L fit where they are in range */
	if (LOAD_OK("int64.conf", XMPP_OK "mqtt: { port = 1883L; keepalive = 0x3C; };\n", &cfg) ==
		0) {
		CHECK(cfg.mqtt.port == 1883);
		CHECK(cfg.mqtt.keepalive == 60);
		mxb_config_finish(&cfg);
	}
}

static void test_file_errors(void)
{
	EXPECT_FILE_ERRORS("/nonexistent/bridge.conf",
		"/nonexistent/bridge.conf: cannot open: No such file or directory");
	EXPECT_FILE_ERRORS(dir, "$D: cannot open: Is a directory");
	EXPECT_ERRORS("syntax.conf", XMPP_OK "mqtt: {\n  host = \"x\";\n  port = ;\n};\n",
		"$F:4: syntax error");
	EXPECT_ERRORS("comma.conf",
		XMPP_OK "notify = ( { topic = \"a\"; to = [ \"a@b\" ]; }\n"
			"  { topic = \"b\"; to = [ \"a@b\" ]; } );\n",
		"$F:3: syntax error (a ',' is missing between two groups of a list)");
	EXPECT_ERRORS("dup.conf", XMPP_OK "mqtt: { port = 1; port = 2; };\n",
		"$F:2: duplicate setting name");
	EXPECT_ERRORS("empty.conf", "", "$F:1: missing group 'xmpp'");
}

static void test_unknown_keys(void)
{
	EXPECT_ERRORS("unknown.conf",
		"colour = \"red\";\n"
		"bridge: { log_lvl = \"info\"; };\n"
		"xmpp: { jid = \"bot@example.org\"; password = \"pw\";\n"
		"  pasword = \"x\"; };\n"
		"mqtt: { hots = \"x\";\n"
		"  tls: { cafile = \"x\"; }; };\n"
		"notify = ( { topic = \"a\"; to = [ \"a@b\" ];\n"
		"  mesage = \"x\"; } );\n"
		"commands = ( { from = [ \"a@b\" ]; allow = [ \"a\" ]; retian = true; } );\n",
		"$F:1: unknown key 'colour'",
		"$F:2: unknown key 'log_lvl' in 'bridge' (did you mean 'log_level'?)",
		"$F:4: unknown key 'pasword' in 'xmpp' (did you mean 'password'?)",
		"$F:5: unknown key 'hots' in 'mqtt' (did you mean 'host'?)",
		"$F:6: unknown key 'cafile' in 'mqtt.tls' (did you mean 'ca_file'?)",
		"$F:8: unknown key 'mesage' in a 'notify' route (did you mean 'message'?)",
		"$F:9: unknown key 'retian' in a 'commands' route (did you mean 'retain'?)");
	/* a wrong convention is one error, not also a missing one */
	EXPECT_ERRORS("convention.conf",
		XMPP_OK "devices = ( { convention = \"tasmotta\"; allow = [ \"a@b\" ]; } );\n",
		"$F:2: invalid value 'tasmotta' for 'convention' (expected none, tasmota, "
		"zigbee2mqtt or homeassistant)",
		"$F:2: 'devices' need a component: set xmpp.component");
	EXPECT_ERRORS("convention_none.conf",
		XMPP_OK "devices = ( { convention = \"none\"; allow = [ \"a@b\" ]; } );\n",
		"$F:2: a 'devices' entry needs 'availability', 'state' or a 'convention'",
		"$F:2: 'devices' need a component: set xmpp.component");
}

static void test_wrong_types(void)
{
	EXPECT_ERRORS("types.conf",
		"bridge = \"loud\";\n"
		"xmpp: { jid = 42; password = \"pw\"; port = \"5222\"; status = 1.5; };\n"
		"mqtt: { port = 1883.0; keepalive = true; username = [ \"u\" ]; tls = \"on\"; };\n"
		"notify = { topic = \"a\"; };\n"
		"commands = ( { from = \"alice@example.org\"; allow = ( \"a\", 1 );\n"
		"  retain = 1; qos = \"1\"; }, \"x\" );\n",
		"$F:1: 'bridge' must be a group", "$F:2: 'jid' must be a string",
		"$F:2: 'port' must be an integer", "$F:2: 'status' must be a string",
		"$F:3: 'port' must be an integer", "$F:3: 'keepalive' must be an integer",
		"$F:3: 'username' must be a string", "$F:3: 'tls' must be a group",
		"$F:4: 'notify' must be a list of groups", "$F:5: 'from' must be a list of strings",
		"$F:5: 'allow' must be a list of strings",
		"$F:6: 'retain' must be a boolean (true or false)",
		"$F:6: 'qos' must be an integer", "$F:6: 'commands' must be a list of groups");
}

static void test_enums(void)
{
	EXPECT_ERRORS("enums.conf",
		"bridge: { log_level = \"loud\"; bad_text = \"drop\"; };\n"
		"xmpp: { jid = \"bot@example.org\"; password = \"pw\"; tls = \"ssl\"; };\n"
		"mqtt: { version = 4; };\n",
		"$F:1: invalid value 'loud' for 'log_level' (expected error, warn, info or debug)",
		"$F:1: invalid value 'drop' for 'bad_text' (expected replace or refuse)",
		"$F:2: invalid value 'ssl' for 'tls' (expected starttls, direct or none)",
		"$F:3: invalid value 4 for 'version' (expected 5 or 3)");
}

static void test_ranges(void)
{
	EXPECT_ERRORS("ranges.conf",
		"bridge: { queue_size = 0; max_payload = -1; max_message = 262145; };\n"
		"xmpp: { jid = \"bot@example.org\"; password = \"pw\"; port = 65536;\n"
		"  reconnect_max = 0; };\n"
		"mqtt: { port = 0; keepalive = 4; reconnect_max = 86401; };\n"
		"notify = ( { topic = \"a\"; to = [ \"a@b\" ]; qos = 3; } );\n"
		"commands = ( { from = [ \"a@b\" ]; allow = [ \"a\" ]; qos = -1; } );\n",
		"$F:1: 'queue_size' must be between 1 and 1000000",
		"$F:1: 'max_payload' must be between 1 and 16777216",
		"$F:1: 'max_message' must be between 1 and 262144",
		"$F:2: 'port' must be between 0 and 65535",
		"$F:3: 'reconnect_max' must be between 1 and 86400",
		"$F:4: 'port' must be between 1 and 65535",
		"$F:4: 'keepalive' must be between 5 and 65535",
		"$F:4: 'reconnect_max' must be between 1 and 86400",
		"$F:5: 'qos' must be between 0 and 2", "$F:6: 'qos' must be between 0 and 2");

	/* libconfig 1.5 wraps 4294968179 to 883 and 0x100000050 to 80: still out of range */
	EXPECT_ERRORS("wrap.conf",
		XMPP_OK "mqtt: {\n  port = 4294968179;\n  keepalive = 0x100000050;\n"
			"  reconnect_max = 99999999999L;\n  stats_interval = 4;\n};\n",
		"$F:3: 'port' must be between 1 and 65535",
		"$F:4: 'keepalive' must be between 5 and 65535",
		"$F:5: 'reconnect_max' must be between 1 and 86400",
		"$F:6: 'stats_interval' must be between 5 and 86400");
}

static void test_jids_and_topics(void)
{
	EXPECT_ERRORS("values.conf",
		"xmpp: { jid = \"bad jid@example.org\"; password = \"pw\"; };\n"
		"mqtt: { status_topic = \"bridge/+\"; stats_topic = \"s/#\"; };\n"
		"notify = ( { topic = \"a/#/b\";\n"
		"  to = [ \"alice@example.org\",\n"
		"         \"alice@example.org/phone\",\n"
		"         \"bob smith@example.org\" ]; } );\n"
		"commands = ( { from = [ \"alice@example.org\" ];\n"
		"  allow = [ \"ok/+\", \"bad+/x\" ]; } );\n",
		"$F:1: invalid JID 'bad jid@example.org' in 'jid'",
		"$F:2: invalid topic 'bridge/+' in 'status_topic'",
		"$F:2: invalid topic 's/#' in 'stats_topic'",
		"$F:3: invalid topic filter 'a/#/b' in 'topic'",
		"$F:5: JID 'alice@example.org/phone' in 'to' must be bare (without a resource)",
		"$F:6: invalid JID 'bob smith@example.org' in 'to'",
		"$F:8: invalid topic filter 'bad+/x' in 'allow'");
}

static void test_template(void)
{
	/* the message is the template parser's own */
	struct mxb_template *tmpl = NULL;
	char msg[256] = "";
	CHECK(mxb_template_parse("{{nope}} {{payload}}", &tmpl, msg, sizeof(msg)) == -EINVAL);
	mxb_template_destroy(tmpl);
	char want[400];
	snprintf(want, sizeof(want), "$F:3: invalid template in 'message': %s", msg);

	EXPECT_ERRORS("template.conf",
		XMPP_OK "notify = ( { topic = \"a\"; to = [ \"a@b\" ];\n"
			"  message = \"{{nope}} {{payload}}\"; },\n"
			"  { topic = \"b\"; to = [ \"a@b\" ]; message = \"\"; } );\n",
		want, "$F:4: 'message' must not be empty");
}

static void test_missing(void)
{
	EXPECT_ERRORS("missing.conf",
		"xmpp: {\n  password = \"pw\";\n};\n"
		"notify = ( { topic = \"a\"; },\n"
		"  { to = [ \"a@b\" ]; },\n"
		"  { topic = \"a\"; to = [ ]; } );\n"
		"commands = ( { from = [ \"a@b\" ]; },\n"
		"  { allow = [ \"a\" ]; from = ( ); } );\n",
		"$F:1: missing 'jid' in 'xmpp'", "$F:4: missing 'to' in a 'notify' route",
		"$F:5: missing 'topic' in a 'notify' route", "$F:6: 'to' must not be empty",
		"$F:7: missing 'allow' in a 'commands' route", "$F:8: 'from' must not be empty");
	EXPECT_ERRORS("nopassword.conf",
		"mqtt: { };\n"
		"xmpp: {\n  jid = \"bot@example.org\"; client_cert = \"c.pem\";\n};\n",
		"$F:3: 'client_cert' needs 'client_key'",
		"$F:2: missing 'password' or 'password_file' in 'xmpp'");
	EXPECT_ERRORS("mqtt_tls.conf",
		XMPP_OK "mqtt: { tls: { key_file = \"c.key\"; }; };\n"
			"mqtt2 = 1;\n",
		"$F:2: 'key_file' needs 'cert_file'",
		"$F:3: unknown key 'mqtt2' (did you mean 'mqtt'?)");
}

static void test_passwords(void)
{
	write_file("empty.pw", "");
	write_file("blank.pw", "\r\nsecond\n");
	write_file("good.pw", "pw\n");
	write_file("open.pw", "pw\n");
	char *open_pw = path_of("open.pw");
	CHECK(chmod(open_pw, 0644) == 0);
	free(open_pw);
	EXPECT_ERRORS("open_pw.conf", "xmpp: { jid = \"a@b\";\n  password_file = \"open.pw\"; };\n",
		"$F:2: password_file '$D/open.pw' can be read or written by others (mode 0644); "
		"run "
		"chmod o-rwx on it");
	EXPECT_ERRORS("both.conf",
		"xmpp: { jid = \"bot@example.org\";\n"
		"  password = \"pw\";\n"
		"  password_file = \"good.pw\"; };\n",
		"$F:3: use either 'password' or 'password_file', not both");
	EXPECT_ERRORS("both2.conf",
		XMPP_OK "mqtt: { password_file = \"good.pw\"; username = \"u\";\n"
			"  password = \"pw\"; };\n",
		"$F:3: use either 'password' or 'password_file', not both");
	EXPECT_ERRORS("nouser.conf", XMPP_OK "mqtt: { password = \"pw\"; };\n",
		"$F:2: 'password' needs 'username'");
	EXPECT_ERRORS("pwfiles.conf",
		"xmpp: { jid = \"bot@example.org\";\n"
		"  password_file = \"nope.pw\"; };\n"
		"mqtt: { username = \"u\";\n"
		"  password_file = \"$D/empty.pw\"; };\n",
		"$F:2: cannot read password_file '$D/nope.pw': No such file or directory",
		"$F:4: password_file '$D/empty.pw' is empty");
	EXPECT_ERRORS("pwfiles2.conf",
		"xmpp: { jid = \"bot@example.org\";\n"
		"  password_file = \"blank.pw\"; };\n"
		"mqtt: { username = \"u\";\n"
		"  password_file = \"$D\"; password = \"\"; };\n",
		"$F:2: first line of password_file '$D/blank.pw' is empty",
		"$F:4: use either 'password' or 'password_file', not both");
	EXPECT_ERRORS("files.conf",
		"xmpp: { jid = \"bot@example.org\"; password = \"pw\";\n"
		"  ca_file = \"/nonexistent/ca.pem\"; };\n"
		"mqtt: { tls: { ca_file = \"$D\"; }; };\n",
		"$F:2: cannot read ca_file '/nonexistent/ca.pem': No such file or directory",
		"$F:3: cannot read ca_file '$D': Is a directory");
}

/*
 * A FIFO blocks open() and read() until a writer comes and /dev/zero reads forever: any
 * file the config names must be a regular file, refused otherwise without waiting.
 */
static void test_special_files(void)
{
	char *fifo = path_of("fifo");
	if (mkfifo(fifo, 0600) != 0) {
		perror(fifo);
		abort();
	}
	EXPECT_FILE_ERRORS(fifo, "$F: cannot open: not a regular file");
	EXPECT_FILE_ERRORS("/dev/zero", "/dev/zero: cannot open: not a regular file");
	EXPECT_ERRORS("fifo-pw.conf",
		"xmpp: { jid = \"bot@example.org\";\n"
		"  password_file = \"fifo\"; };\n"
		"mqtt: { username = \"u\";\n"
		"  password_file = \"/dev/zero\"; };\n",
		"$F:2: cannot read password_file '$D/fifo': not a regular file",
		"$F:4: cannot read password_file '/dev/zero': not a regular file");
	EXPECT_ERRORS("fifo-tls.conf",
		"xmpp: { jid = \"bot@example.org\"; password = \"pw\";\n"
		"  ca_file = \"fifo\"; client_cert = \"/dev/zero\"; client_key = \"$D\"; };\n"
		"mqtt: { tls: { ca_file = \"/dev/null\";\n"
		"  cert_file = \"fifo\"; key_file = \"/dev/zero\"; }; };\n",
		"$F:2: cannot read ca_file '$D/fifo': not a regular file",
		"$F:2: cannot read client_cert '/dev/zero': not a regular file",
		"$F:2: cannot read client_key '$D': Is a directory",
		"$F:3: cannot read ca_file '/dev/null': not a regular file",
		"$F:4: cannot read cert_file '$D/fifo': not a regular file",
		"$F:4: cannot read key_file '/dev/zero': not a regular file");
	EXPECT_ERRORS("fifo-secret.conf",
		"xmpp: { component: { domain = \"iot.example.org\";\n"
		"  secret_file = \"fifo\"; }; };\n",
		"$F:2: cannot read secret_file '$D/fifo': not a regular file");
	EXPECT_ERRORS("fifo-inc.conf", XMPP_OK "@include \"fifo\"\n",
		"$F:2: cannot include 'fifo': not a regular file");
	unlink(fifo);
	free(fifo);
}

static void test_many_errors(void)
{
	struct mxb_template *tmpl = NULL;
	char msg[256] = "";
	CHECK(mxb_template_parse("{{topic", &tmpl, msg, sizeof(msg)) == -EINVAL);
	mxb_template_destroy(tmpl);
	char want[400];
	snprintf(want, sizeof(want), "$F:17: invalid template in 'message': %s", msg);

	/* one run reports all of them, in file order within each section */
	EXPECT_ERRORS("many.conf",
		"bridge: {\n"
		"  log_level = \"verbose\";\n"
		"  queue_size = \"big\";\n"
		"};\n"
		"xmpp: {\n"
		"  jid = \"home@example.org/bridge\";\n"
		"  password = \"pw\";\n"
		"  tls = \"yes\";\n"
		"  port = 70000;\n"
		"};\n"
		"mqtt: {\n"
		"  version = \"5\";\n"
		"  qos = 1;\n"
		"};\n"
		"notify = (\n"
		"  { topic = \"home/#/x\"; to = [ \"alice@example.org\" ];\n"
		"    message = \"{{topic\"; }\n"
		");\n",
		"$F:2: invalid value 'verbose' for 'log_level' (expected error, warn, info or "
		"debug)",
		"$F:3: 'queue_size' must be an integer",
		"$F:8: invalid value 'yes' for 'tls' (expected starttls, direct or none)",
		"$F:9: 'port' must be between 0 and 65535", "$F:12: 'version' must be an integer",
		"$F:13: unknown key 'qos' in 'mqtt'",
		"$F:16: invalid topic filter 'home/#/x' in 'topic'", want);
}

static void test_include(void)
{
	char *sub = path_of("inc");
	CHECK(mkdir(sub, 0700) == 0);
	free(sub);
	write_file("inc/xmpp.inc",
		"xmpp: {\n  jid = \"bot@example.org\";\n  password = \"pw\";\n};\n");
	write_file("inc/bad.inc", "mqtt: {\n  host = \"x\";\n  hots = \"y\";\n};\n");
	write_file("inc/syntax.inc", "bridge: {\n  queue_size = ;\n};\n");

	/* resolved against the config's directory, not the working directory */
	CHECK(chdir("/") == 0);
	struct mxb_config cfg;
	if (LOAD_OK("include.conf", "@include \"inc/xmpp.inc\"\nmqtt: { port = 1884; };\n", &cfg) ==
		0) {
		CHECK_STR(cfg.xmpp.jid, "bot@example.org");
		CHECK(cfg.mqtt.port == 1884);
		mxb_config_finish(&cfg);
	}
	/* errors inside an included file name that file */
	EXPECT_ERRORS("include_bad.conf", "@include \"inc/xmpp.inc\"\n@include \"inc/bad.inc\"\n",
		"$D/inc/bad.inc:3: unknown key 'hots' in 'mqtt' (did you mean 'host'?)");
	EXPECT_ERRORS("include_syntax.conf",
		"@include \"inc/xmpp.inc\"\n\n@include \"inc/syntax.inc\"\n",
		"$D/inc/syntax.inc:2: syntax error");
	EXPECT_ERRORS("include_missing.conf", XMPP_OK "@include \"inc/missing.inc\"\n",
		"$F:2: cannot open include file '$D/inc/missing.inc'");
	/* a wrong value, a route's unknown key and a route's cross-group error, all included */
	write_file("inc/types.inc", "mqtt: {\n  host = \"x\";\n  port = \"1883\";\n};\n");
	write_file("inc/routes.inc", "notify = (\n"
				     "  { topic = \"a\"; to = [ \"a@b\" ]; },\n"
				     "  { topic = \"b\"; to = [ \"x@y\" ];\n"
				     "    type = \"groupchat\"; },\n"
				     "  { topic = \"c\"; to = [ \"a@b\" ];\n"
				     "    mesage = \"x\"; }\n"
				     ");\n"
				     "devices = (\n"
				     "  { convention = \"tasmota\"; allow = [ \"a@b\" ]; }\n"
				     ");\n");
	EXPECT_ERRORS("include_values.conf",
		"@include \"inc/xmpp.inc\"\n@include \"inc/types.inc\"\n@include "
		"\"inc/routes.inc\"\n",
		"$D/inc/types.inc:3: 'port' must be an integer",
		"$D/inc/routes.inc:6: unknown key 'mesage' in a 'notify' route "
		"(did you mean 'message'?)",
		"$D/inc/routes.inc:9: 'devices' need a component: set xmpp.component",
		"$D/inc/routes.inc:3: 'x@y' is not a room of 'xmpp.rooms', but the route's type is "
		"groupchat");
	/* a file that an included file includes again, named where it is included */
	write_file("inc/loop.inc", "bridge: { };\n@include \"inc/loop.inc\"\n");
	EXPECT_ERRORS("include_loop.conf", XMPP_OK "@include \"inc/loop.inc\"\n",
		"$D/inc/loop.inc:2: cannot include 'inc/loop.inc': it includes this file");

	/* a relative config path is reported as given, includes still found beside it */
	CHECK(chdir(dir) == 0);
	write_file("rel.conf", "@include \"inc/xmpp.inc\"\nsurprise = 1;\n");
	EXPECT_FILE_ERRORS("rel.conf", "rel.conf:2: unknown key 'surprise'");
	CHECK(mkdir("sub", 0700) == 0);
	write_file("sub/rel.conf", "@include \"../inc/xmpp.inc\"\nmqtt: { bad = 1; };\n");
	EXPECT_FILE_ERRORS("sub/rel.conf", "sub/rel.conf:2: unknown key 'bad' in 'mqtt'");
	/* a syntax error and a cross-group error name a relative file once */
	write_file("sub/syntax.conf", XMPP_OK "mqtt: { host = ; };\n");
	EXPECT_FILE_ERRORS("sub/syntax.conf", "sub/syntax.conf:2: syntax error");
	write_file("sub/cross.conf",
		XMPP_OK "notify = ({ topic = \"a\"; to = [\"x@y\"]; type = \"groupchat\"; });\n");
	EXPECT_FILE_ERRORS("sub/cross.conf",
		"sub/cross.conf:2: 'x@y' is not a room of 'xmpp.rooms', but the route's type is "
		"groupchat");
	/* libconfig 1.5 would exit the process on a directory: refused before it reads */
	write_file("sub/incdir.conf", XMPP_OK "@include \"\"\n@include \".\"\n");
	EXPECT_FILE_ERRORS("sub/incdir.conf",
		"sub/incdir.conf:2: cannot include '': not a regular file",
		"sub/incdir.conf:3: cannot include '.': not a regular file");
	/* a file that includes itself would be parsed over and over */
	write_file("sub/self.conf", XMPP_OK "@include \"self.conf\"\n");
	EXPECT_FILE_ERRORS("sub/self.conf",
		"sub/self.conf:2: cannot include 'self.conf': it includes this file");
	CHECK(chdir("/") == 0);
}

int main(void)
{
	config_check_init();
	test_full();
	test_defaults();
	test_file_errors();
	test_unknown_keys();
	test_wrong_types();
	test_enums();
	test_ranges();
	test_jids_and_topics();
	test_template();
	test_missing();
	test_passwords();
	test_many_errors();
	test_special_files();
	test_include();
	config_check_cleanup();
	return check_report("test_config");
}
