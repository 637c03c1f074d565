/* Unit test of Home Assistant discovery with configs as Zigbee2MQTT, Tasmota and hand-written
 * MQTT entities publish them. */

#include <string.h>

#include "check.h"
#include "discovery.h"

/* Zigbee2MQTT 1.35: a light, schema json, two availability topics, mode all. */
static const char z2m_light[] =
	"{\"availability\":[{\"topic\":\"zigbee2mqtt/bridge/state\",\"value_template\":\"{{ "
	"value_json.state }}\"},{\"topic\":\"zigbee2mqtt/hall_lamp/availability\","
	"\"value_template\":\"{{ value_json.state }}\"}],\"availability_mode\":\"all\","
	"\"brightness\":true,\"brightness_scale\":254,\"command_topic\":\"zigbee2mqtt/hall_lamp/"
	"set\",\"device\":{\"identifiers\":[\"zigbee2mqtt_0x00158d0001a2b3c4\"],\"manufacturer\":"
	"\"IKEA\",\"model\":\"TRADFRI bulb E27 WW 806 lumen (LED1836G9)\",\"name\":\"hall_lamp\","
	"\"via_device\":\"zigbee2mqtt_bridge_0x00124b0022334455\"},\"name\":null,\"object_id\":"
	"\"hall_lamp\",\"origin\":{\"name\":\"Zigbee2MQTT\",\"sw\":\"1.35.1\",\"url\":\"https://"
	"www.zigbee2mqtt.io\"},\"schema\":\"json\",\"state_topic\":\"zigbee2mqtt/hall_lamp\","
	"\"supported_color_modes\":[\"brightness\"],\"unique_id\":\"0x00158d0001a2b3c4_light_"
	"zigbee2mqtt\"}";

/* Tasmota with SetOption19 1: abbreviations and the "~" base topic. */
static const char tasmota_switch[] =
	"{\"name\":\"Garden pump\",\"cmd_t\":\"~cmnd/POWER\",\"stat_t\":\"~tele/STATE\","
	"\"val_tpl\":\"{{value_json.POWER}}\",\"pl_off\":\"OFF\",\"pl_on\":\"ON\",\"avty_t\":\"~"
	"tele/"
	"LWT\",\"pl_avail\":\"Online\",\"pl_not_avail\":\"Offline\",\"uniq_id\":\"A1B2C3_RL_1\","
	"\"dev\":{\"ids\":[\"A1B2C3\"]},\"~\":\"garden_pump/\"}";

/* A switch written by hand for Home Assistant's MQTT integration. */
static const char plain_switch[] =
	"{\"name\":\"Coffee\",\"unique_id\":\"coffee\",\"state_topic\":\"home/coffee/state\","
	"\"command_topic\":\"home/coffee/set\",\"availability_topic\":\"home/coffee/available\","
	"\"payload_on\":\"1\",\"payload_off\":\"0\"}";

#define PARSE(topic, json, d) mxb_discovery_parse(topic, json, strlen(json), 4096, d, &why)

static void test_zigbee2mqtt(void)
{
	struct mxb_discovered d;
	const char *why;
	CHECK(PARSE("homeassistant/light/0x00158d0001a2b3c4/light/config", z2m_light, &d) ==
		MXB_DISCOVERY_DEVICE);
	CHECK_STR(d.name, "hall_lamp");
	CHECK_STR(d.friendly, "hall_lamp");
	CHECK_STR(d.state_topic, "zigbee2mqtt/hall_lamp");
	CHECK_STR(d.command_topic, "zigbee2mqtt/hall_lamp/set");
	CHECK(d.avail_len == 2 && d.mode == MXB_DISCOVERY_ALL && d.json);
	CHECK_STR(d.avail_topics[1], "zigbee2mqtt/hall_lamp/availability");
	CHECK_STR(d.avail_on[0], "online");
	/* all: online only when both say so */
	CHECK(mxb_discovery_availability(&d, 0, "{\"state\":\"online\"}", 18) == MXB_AVAIL_UNKNOWN);
	CHECK(mxb_discovery_availability(&d, 1, "{\"state\":\"online\"}", 18) == MXB_AVAIL_ONLINE);
	CHECK(mxb_discovery_availability(&d, 1, "{\"state\":\"offline\"}", 19) ==
		MXB_AVAIL_OFFLINE);
	CHECK(mxb_discovery_availability(&d, 1, "garbage", 7) == MXB_AVAIL_UNKNOWN);
	CHECK(mxb_discovery_availability(&d, 7, "online", 6) == MXB_AVAIL_UNKNOWN);
	char out[64];
	const char *st = "{\"brightness\":254,\"state\":\"ON\",\"linkquality\":87}";
	CHECK(mxb_discovery_state(&d, st, strlen(st), out, sizeof(out)) == 2);
	CHECK_STR(out, "ON");
	CHECK(mxb_discovery_command(&d, "OFF", out, sizeof(out)) == 15);
	CHECK_STR(out, "{\"state\":\"OFF\"}");
	CHECK(mxb_discovery_command(&d, "a\"b", out, sizeof(out)) > 0);
	CHECK_STR(out, "{\"state\":\"a\\\"b\"}");
	struct mxb_discovered again;
	CHECK(PARSE("homeassistant/light/0x00158d0001a2b3c4/light/config", z2m_light, &again) ==
		MXB_DISCOVERY_DEVICE);
	CHECK(mxb_discovery_same(&d, &again));
	mxb_discovery_finish(&again);
	mxb_discovery_finish(&d);
}

static void test_tasmota_and_plain(void)
{
	struct mxb_discovered d;
	const char *why;
	CHECK(PARSE("homeassistant/switch/A1B2C3_RL_1/config", tasmota_switch, &d) ==
		MXB_DISCOVERY_DEVICE);
	CHECK_STR(d.name, "A1B2C3_RL_1");
	CHECK_STR(d.friendly, "Garden pump");
	CHECK_STR(d.command_topic, "garden_pump/cmnd/POWER");
	CHECK_STR(d.state_topic, "garden_pump/tele/STATE");
	CHECK_STR(d.avail_topics[0], "garden_pump/tele/LWT");
	CHECK_STR(d.value_key, "POWER");
	CHECK(d.mode == MXB_DISCOVERY_LATEST);
	CHECK(mxb_discovery_availability(&d, 0, "Online", 6) == MXB_AVAIL_ONLINE);
	char out[64];
	const char *st = "{\"Time\":\"t\",\"POWER\":\"OFF\"}";
	CHECK(mxb_discovery_state(&d, st, strlen(st), out, sizeof(out)) == 3);
	CHECK(mxb_discovery_is_off(&d, out));
	mxb_discovery_finish(&d);

	CHECK(PARSE("homeassistant/switch/coffee/config", plain_switch, &d) ==
		MXB_DISCOVERY_DEVICE);
	CHECK_STR(d.name, "coffee");
	CHECK(mxb_discovery_command(&d, "ON", out, sizeof(out)) == 1);
	CHECK_STR(out, "1");
	CHECK(mxb_discovery_command(&d, "TOGGLE", out, sizeof(out)) == 6);
	CHECK(mxb_discovery_state(&d, "0", 1, out, sizeof(out)) == 1 &&
		mxb_discovery_is_off(&d, out));
	CHECK(mxb_discovery_availability(&d, 0, "offline", 7) == MXB_AVAIL_OFFLINE);
	mxb_discovery_finish(&d);
}

#define REFUSED(topic, json, reason)                                     \
	do {                                                             \
		struct mxb_discovered d_;                                \
		CHECK(PARSE(topic, json, &d_) == MXB_DISCOVERY_INVALID); \
		CHECK_STR(why, reason);                                  \
		CHECK(d_.name == NULL && d_.config_topic == NULL);       \
	} while (0)

static void test_refused(void)
{
	struct mxb_discovered d;
	const char *why;
	/* removed, another kind, not discovery */
	CHECK(mxb_discovery_parse("homeassistant/switch/x/config", "", 0, 4096, &d, &why) ==
		MXB_DISCOVERY_REMOVED);
	CHECK(PARSE("homeassistant/sensor/x/linkquality/config", "{}", &d) ==
		MXB_DISCOVERY_IGNORED);
	REFUSED("homeassistant/switch/config", "{}",
		"not a discovery topic (PREFIX/DOMAIN/[NODE/]OBJECT/config)");
	REFUSED("homeassistant/switch/a/b/c/config", "{}",
		"not a discovery topic (PREFIX/DOMAIN/[NODE/]OBJECT/config)");
	REFUSED("homeassistant/switch/x/config", "[1]", "the config is not a JSON object");
	REFUSED("homeassistant/switch/x/config",
		"{\"state_topic\":", "the config is not a JSON object");
	REFUSED("homeassistant/switch/x/config", "{\"name\":\"x\"}",
		"neither a state_topic nor an availability topic");
	REFUSED("homeassistant/switch/x/config", "{\"state_topic\":\"a/+/b\"}",
		"state_topic is no topic");
	REFUSED("homeassistant/switch/x/config", "{\"state_topic\":7}", "state_topic is no topic");
	REFUSED("homeassistant/switch/x y/config", "{\"state_topic\":\"a\"}",
		"no object_id, unique_id or object that can be a device name");
	REFUSED("homeassistant/switch/x/config",
		"{\"state_topic\":\"a\",\"payload_on\":\"0123456789012345678901234567890123456789"
		"0123456789012345678901234567\"}",
		"payload_on is too long");
	REFUSED("homeassistant/switch/x/config",
		"{\"state_topic\":\"a\",\"availability\":[{\"topic\":\"a\"},{\"topic\":\"b\"},"
		"{\"topic\":\"c\"},{\"topic\":\"d\"},{\"topic\":\"e\"}]}",
		"more availability topics than the bridge keeps");
	REFUSED("homeassistant/switch/x/config", "{\"state_topic\":\"a\",\"availability\":{}}",
		"availability is not a list");
	REFUSED("homeassistant/switch/x/config",
		"{\"state_topic\":\"a\",\"availability_mode\":\"most\"}",
		"availability_mode is not latest, all or any");
	REFUSED("homeassistant/switch/x/config", "{\"state_topic\":\"a\",\"name\":\"a\\u0001b\"}",
		"name is too long or not valid text");
	REFUSED("homeassistant/switch/x/config", "{\"state_topic\":\"a\",\"~\":5}",
		"'~' is no topic");
	/* over the byte bound */
	CHECK(mxb_discovery_parse("homeassistant/switch/x/config", plain_switch,
		      sizeof(plain_switch) - 1, 16, &d, &why) == MXB_DISCOVERY_INVALID);
	CHECK_STR(why, "the config is longer than bridge.max_payload");
	/* an unknown template is ignored: the payload as it is */
	CHECK(PARSE("homeassistant/switch/x/config",
		      "{\"state_topic\":\"a\",\"value_template\":\"{{ value | upper }}\"}",
		      &d) == MXB_DISCOVERY_DEVICE);
	CHECK(d.value_key == NULL);
	mxb_discovery_finish(&d);
}

int main(void)
{
	test_zigbee2mqtt();
	test_tasmota_and_plain();
	test_refused();
	return check_report("discovery");
}
