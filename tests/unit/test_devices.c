#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "devices.h"

static char *online_off[] = {"OFF"};
static char *xa_list[] = {"sleeping"};
static char *allow_list[] = {"alice@example.org", "*@family.example"};

static struct mxb_device_rule rule(void)
{
	return (struct mxb_device_rule){
		.online = "Online",
		.offline = "Offline",
		.away = {.v = online_off, .len = 1},
		.xa = {.v = xa_list, .len = 1},
		.allow = {.v = allow_list, .len = 2},
	};
}

static enum mxb_availability avail(const char *payload)
{
	struct mxb_device_rule r = rule();
	return mxb_device_availability(&r, payload, strlen(payload));
}

int main(void)
{
	/* Availability: plain words without case or space, and the JSON forms. */
	CHECK(avail("Online") == MXB_AVAIL_ONLINE);
	CHECK(avail("online") == MXB_AVAIL_ONLINE);
	CHECK(avail(" ONLINE\n") == MXB_AVAIL_ONLINE);
	CHECK(avail("Offline") == MXB_AVAIL_OFFLINE);
	CHECK(avail("{\"state\":\"online\"}") == MXB_AVAIL_ONLINE);
	CHECK(avail("{\"state\":\"offline\"}") == MXB_AVAIL_OFFLINE);
	CHECK(avail("{\"availability\":\"Online\"}") == MXB_AVAIL_ONLINE);
	CHECK(avail("{\"state\":1}") == MXB_AVAIL_UNKNOWN);
	CHECK(avail("maybe") == MXB_AVAIL_UNKNOWN);
	CHECK(avail("") == MXB_AVAIL_UNKNOWN);
	CHECK(avail("{\"state\":") == MXB_AVAIL_UNKNOWN);

	/* Show from the state. */
	struct mxb_device_rule r = rule();
	CHECK(mxb_device_show(&r, "OFF") != NULL &&
		strcmp(mxb_device_show(&r, "OFF"), "away") == 0);
	CHECK(mxb_device_show(&r, "off") != NULL);
	CHECK(mxb_device_show(&r, "sleeping") != NULL &&
		strcmp(mxb_device_show(&r, "sleeping"), "xa") == 0);
	CHECK(mxb_device_show(&r, "ON") == NULL);

	/* Who may see and command. */
	CHECK(mxb_device_allowed(&r, "alice@example.org"));
	CHECK(mxb_device_allowed(&r, "bob@family.example"));
	CHECK(!mxb_device_allowed(&r, "mallory@example.org"));

	/* Names become JID local parts. */
	CHECK(mxb_device_name_valid("kitchen_plug-1"));
	CHECK(mxb_device_name_valid("Kitchen"));
	CHECK(!mxb_device_name_valid(""));
	CHECK(!mxb_device_name_valid("a b"));
	CHECK(!mxb_device_name_valid("a@b"));
	CHECK(!mxb_device_name_valid("a/b"));
	CHECK(!mxb_device_name_valid("caf\xc3\xa9"));
	CHECK(!mxb_device_name_valid(
		"a123456789012345678901234567890123456789012345678901234567890123456789"));

	/* The registry: one device per local part, bounded. */
	struct mxb_devices *d = mxb_devices_create(3);
	bool full = false;
	struct mxb_device *k = mxb_devices_get(d, "Kitchen", &full);
	CHECK(k != NULL && strcmp(k->name, "Kitchen") == 0 && strcmp(k->local, "kitchen") == 0);
	CHECK(k && k->avail == MXB_AVAIL_UNKNOWN);
	CHECK(mxb_devices_get(d, "Kitchen", NULL) == k);
	CHECK(mxb_devices_find(d, "kitchen") == k);
	CHECK(mxb_devices_find(d, "KITCHEN") == k);
	CHECK(mxb_devices_get(d, "bad name", &full) == NULL && !full);
	CHECK(mxb_devices_get(d, "b", NULL) != NULL);
	CHECK(mxb_devices_get(d, "c", NULL) != NULL);
	CHECK(mxb_devices_get(d, "d", &full) == NULL && full);
	CHECK(mxb_devices_count(d) == 3);

	/* Subscribers: no duplicates, bounded, removable. */
	CHECK(mxb_device_add_subscriber(k, "alice@example.org") == 0);
	CHECK(mxb_device_add_subscriber(k, "Alice@Example.org") == 0);
	CHECK(k->subscribers.len == 1);
	char jid[32];
	int r2 = 0;
	for (int i = 0; i < MXB_DEVICE_SUBSCRIBERS_MAX + 5; i++) {
		snprintf(jid, sizeof(jid), "u%d@example.org", i);
		r2 = mxb_device_add_subscriber(k, jid);
	}
	CHECK(r2 == -ENOSPC);
	CHECK(k->subscribers.len == MXB_DEVICE_SUBSCRIBERS_MAX);
	mxb_device_remove_subscriber(k, "alice@example.org");
	CHECK(k->subscribers.len == MXB_DEVICE_SUBSCRIBERS_MAX - 1);
	CHECK(mxb_device_set_status(k, "ON") == 0 && strcmp(k->status, "ON") == 0);
	mxb_devices_destroy(d);
	mxb_devices_destroy(NULL);

	/* Many devices stay findable as the table grows. */
	d = mxb_devices_create(10000);
	char name[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "dev%d", i);
		CHECK(mxb_devices_get(d, name, NULL) != NULL);
	}
	CHECK(mxb_devices_find(d, "dev9999") != NULL && mxb_devices_find(d, "dev10000") == NULL);
	mxb_devices_destroy(d);
	return check_report("devices");
}
