/*
 * Fuzzes discovery.c with a peer's discovery messages: the first line is the topic, the
 * rest the JSON config. Checked: a device always has a valid name and valid topics, its
 * availability and state readers stay in bounds for any payload (the input again), and a
 * config read twice is the same. The same payload goes through the readers of Tasmota's
 * reports (device_rules.c): a value within the buffer, never cut inside a character.
 */

#include <stdbool.h>
#include <string.h>

#include "device_rules.h"
#include "devices.h"
#include "discovery.h"
#include "fuzz.h"
#include "topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	FUZZ_CHECK(in);
	memcpy(in, data, size);
	in[size] = '\0';
	char *nl = memchr(in, '\n', size);
	const char *topic = in, *payload = nl ? nl + 1 : "";
	if (nl)
		*nl = '\0';
	size_t plen = nl ? size - (size_t)(nl + 1 - in) : 0;
	char report[48];
	for (int k = MXB_REPORT_POWER; k <= MXB_REPORT_SENSOR; k++) {
		size_t n = mxb_device_report_value(
			(enum mxb_device_report)k, payload, plen, report, sizeof(report));
		FUZZ_CHECK(n < sizeof(report) && report[n] == '\0');
	}
	struct mxb_discovered d, again;
	const char *why = NULL;
	enum mxb_discovery_verdict v = mxb_discovery_parse(topic, payload, plen, 4096, &d, &why);
	if (v == MXB_DISCOVERY_INVALID)
		FUZZ_CHECK(why && d.name == NULL);
	if (v == MXB_DISCOVERY_DEVICE) {
		FUZZ_CHECK(mxb_device_name_valid(d.name));
		FUZZ_CHECK(d.state_topic || d.avail_len);
		FUZZ_CHECK(!d.state_topic ||
			   mxb_topic_name_valid(d.state_topic, strlen(d.state_topic)));
		FUZZ_CHECK(!d.command_topic ||
			   mxb_topic_name_valid(d.command_topic, strlen(d.command_topic)));
		for (size_t i = 0; i < d.avail_len; i++) {
			FUZZ_CHECK(
				mxb_topic_name_valid(d.avail_topics[i], strlen(d.avail_topics[i])));
			FUZZ_CHECK(strlen(d.avail_on[i]) <= MXB_DISCOVERY_WORD_MAX);
			mxb_discovery_availability(&d, i, payload, plen);
		}
		char out[64];
		size_t n = mxb_discovery_state(&d, payload, plen, out, sizeof(out));
		/* a payload's NUL bytes are kept: the length counts, the caller sanitizes */
		FUZZ_CHECK(n < sizeof(out) && out[n] == '\0');
		n = mxb_discovery_command(&d, out, out, sizeof(out));
		FUZZ_CHECK(n < sizeof(out));
		FUZZ_CHECK(mxb_discovery_parse(topic, payload, plen, 4096, &again, &why) ==
			   MXB_DISCOVERY_DEVICE);
		FUZZ_CHECK(mxb_discovery_same(&d, &again));
		mxb_discovery_finish(&again);
		mxb_discovery_finish(&d);
	}
	free(in);
	return 0;
}
