/* Unit test of the device rules: exclude lists, overlapping rules, convention reports. */

#include <string.h>

#include "check.h"
#include "device_rules.h"

static char *ex_hall[] = {"zigbee2mqtt/hall/#"};

static void test_excludes_and_overlap(void)
{
	struct mxb_device_rule general = {
		.availability = "zigbee2mqtt/+/availability", .state = "zigbee2mqtt/+"};
	struct mxb_device_rule hall = {.state = "zigbee2mqtt/hall"};
	struct mxb_device_rule tasmota = {.availability = "tele/+/LWT",
		.state = "stat/+/POWER",
		.reports = {"tele/+/STATE", "stat/+/RESULT", "tele/+/SENSOR"},
		.reports_len = 3};
	struct mxb_device_rule sensors = {.state = "tele/+/SENSOR"};
	const char *fa = NULL, *fb = NULL;

	CHECK(!mxb_device_rule_excludes(&general, "zigbee2mqtt/hall"));
	CHECK(mxb_device_rules_overlap(&general, &hall, &fa, &fb));
	CHECK_STR(fa, "zigbee2mqtt/+");
	CHECK_STR(fb, "zigbee2mqtt/hall");
	CHECK(mxb_device_rules_overlap(&hall, &general, &fa, &fb));
	CHECK_STR(fa, "zigbee2mqtt/hall");

	/* an exclude that covers the other rule's filter keeps them apart, both ways round */
	general.exclude = (struct mxb_strlist){.v = ex_hall, .len = 1};
	CHECK(mxb_device_rule_excludes(&general, "zigbee2mqtt/hall"));
	CHECK(mxb_device_rule_excludes(&general, "zigbee2mqtt/hall/availability"));
	CHECK(!mxb_device_rule_excludes(&general, "zigbee2mqtt/kitchen"));
	CHECK(!mxb_device_rules_overlap(&general, &hall, &fa, &fb));
	CHECK(!mxb_device_rules_overlap(&hall, &general, &fa, &fb));

	/* different layouts never meet; a convention's reports count */
	CHECK(!mxb_device_rules_overlap(&tasmota, &general, &fa, &fb));
	CHECK(mxb_device_rules_overlap(&tasmota, &sensors, &fa, &fb));
	CHECK_STR(fa, "tele/+/SENSOR");
	CHECK_STR(fb, "tele/+/SENSOR");
}

#define VALUE(kind, payload, want) expect_value(__LINE__, kind, payload, want)

static void expect_value(
	int line, enum mxb_device_report kind, const char *payload, const char *want)
{
	char out[64];
	size_t n = mxb_device_report_value(kind, payload, strlen(payload), out, sizeof(out));
	check_count++;
	if (n != strlen(want) || strcmp(out, want) != 0) {
		fprintf(stderr, "%s:%d: got '%s' (%zu), want '%s'\n", __FILE__, line, out, n, want);
		check_failures++;
	}
}

static void test_reports(void)
{
	/* real Tasmota payloads */
	VALUE(MXB_REPORT_POWER,
		"{\"Time\":\"2024-05-01T10:00:00\",\"Uptime\":\"0T01:00:00\",\"Heap\":25,"
		"\"POWER\":\"ON\",\"Wifi\":{\"AP\":1,\"SSId\":\"home\",\"RSSI\":80}}",
		"ON");
	VALUE(MXB_REPORT_POWER, "{\"POWER1\":\"OFF\",\"POWER2\":\"ON\"}", "OFF");
	VALUE(MXB_REPORT_POWER, "{\"POWER\":\"OFF\"}", "OFF");
	/* the RESULT of another command, not JSON, a number, too long: nothing */
	VALUE(MXB_REPORT_POWER, "{\"Dimmer\":50}", "");
	VALUE(MXB_REPORT_POWER, "ON", "");
	VALUE(MXB_REPORT_POWER, "{\"POWER\":1}", "");
	VALUE(MXB_REPORT_POWER, "[\"POWER\"]", "");
	VALUE(MXB_REPORT_POWER,
		"{\"POWER\":\"0123456789012345678901234567890123456789012345678901234567890123\"}",
		"");
	VALUE(MXB_REPORT_SENSOR,
		"{\"Time\":\"2024-05-01T10:00:00\",\"AM2301\":{\"Temperature\":21.5,"
		"\"Humidity\":40.2},\"TempUnit\":\"C\"}",
		"AM2301 Temperature 21.5, Humidity 40.2");
	VALUE(MXB_REPORT_SENSOR, "{\"A\":{\"x\":1},\"B\":{\"y\":\"z\"},\"C\":true}",
		"A x 1; B y z; C true");
	VALUE(MXB_REPORT_SENSOR, "{\"Time\":\"t\"}", "");
	/* cut with "…", never inside a character */
	VALUE(MXB_REPORT_SENSOR,
		"{\"S\":{\"k\":"
		"\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
		"\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
		"\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3"
		"\xa9\"}}",
		"S k "
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		"\xe2\x80\xa6");
	char small[4];
	CHECK(mxb_device_report_value(MXB_REPORT_POWER, "{\"POWER\":\"ON\"}", 14, small, 4) == 0);
}

int main(void)
{
	test_excludes_and_overlap();
	test_reports();
	return check_report("device_rules");
}
