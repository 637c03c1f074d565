#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"
#include "check.h"

static void test_id(void)
{
	char *a = mxb_announce_id("Alice@Example.org");
	char *b = mxb_announce_id("alice@example.org");
	char *c = mxb_announce_id("alice_example.org");
	CHECK(a && b && c);
	CHECK(strncmp(a, "mqtt_xmpp_bridge_alice_example_org_", 35) == 0 && strlen(a) == 43);
	CHECK_STR(a, b); /* the same JID whatever its case */
	CHECK(strcmp(b, c) != 0); /* the hash keeps apart what the mapping merges */
	char *u = mxb_announce_id("j\xc3\xb6rg@x/+#");
	CHECK(u && strncmp(u, "mqtt_xmpp_bridge_j__rg_x___", 27) == 0);
	free(a);
	free(b);
	free(c);
	free(u);
	char *t = mxb_announce_topic("homeassistant", "bob@x");
	CHECK(t && strncmp(t, "homeassistant/binary_sensor/mqtt_xmpp_bridge_bob_x_", 51) == 0);
	CHECK(t && strcmp(t + strlen(t) - 7, "/config") == 0);
	free(t);
}

static void test_config(void)
{
	char *text = mxb_announce_config("bob@x", "xmpp/presence/bob@x", true, "mxb/status");
	cJSON *o = text ? cJSON_Parse(text) : NULL;
	CHECK(o != NULL);
	CHECK_STR(
		cJSON_GetStringValue(cJSON_GetObjectItem(o, "state_topic")), "xmpp/presence/bob@x");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "json_attributes_topic")),
		"xmpp/presence/bob@x");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "value_template")),
		"{{ 'OFF' if value_json.show == 'unavailable' else 'ON' }}");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "availability_topic")), "mxb/status");
	cJSON *dev = cJSON_GetObjectItem(o, "device");
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(dev, "identifiers")) == 1);
	cJSON_Delete(o);
	free(text);
	text = mxb_announce_config("bob@x", "p/bob@x", false, NULL);
	o = text ? cJSON_Parse(text) : NULL;
	CHECK(o && !cJSON_GetObjectItem(o, "availability_topic") &&
		!cJSON_GetObjectItem(o, "json_attributes_topic"));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "value_template")),
		"{{ 'OFF' if value == 'unavailable' else 'ON' }}");
	cJSON_Delete(o);
	free(text);
}

static int taken;
static void take(const char *topic, void *data)
{
	(void)data;
	taken += topic != NULL;
}

static void test_table(void)
{
	struct mxb_announce *d = mxb_announce_create();
	CHECK(mxb_announce_needed(d, "a@x", "t1"));
	CHECK(mxb_announce_add(d, "a@x", "t1") == 0);
	CHECK(!mxb_announce_needed(d, "A@X", "t1"));
	CHECK(mxb_announce_needed(d, "a@x", "t2"));
	CHECK(mxb_announce_add(d, "A@x", "t2") == 0 && mxb_announce_len(d) == 1);
	int r = 0;
	for (int i = 1; i < MXB_ANNOUNCE_MAX && r == 0; i++) {
		char jid[32];
		snprintf(jid, sizeof(jid), "u%d@x", i);
		r = mxb_announce_add(d, jid, "t");
	}
	CHECK(r == 0 && mxb_announce_len(d) == MXB_ANNOUNCE_MAX);
	CHECK(mxb_announce_add(d, "one-more@x", "t") == -ENOSPC);
	mxb_announce_take_all(d, take, NULL);
	CHECK(taken == MXB_ANNOUNCE_MAX && mxb_announce_len(d) == 0);
	mxb_announce_destroy(d);
	mxb_announce_destroy(NULL);
}

int main(void)
{
	test_id();
	test_config();
	test_table();
	return check_report("discovery");
}
