/*
 * The component domain as a directory of the devices: disco#items lists the devices the
 * asker may see, and a chat message to the domain answers "help" and "list".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "command.h"
#include "component.h"
#include "config.h"
#include "devices.h"
#include "jid.h"
#include "log.h"
#include "strbuf.h"

/* The known devices (seen on MQTT) bare may see, in the order of their local parts. */
struct visible {
	struct mxb_bridge *b;
	const char *bare;
	const struct mxb_device **v;
	size_t len, cap;
	bool failed;
};

static void collect(struct mxb_device *dev, void *data)
{
	struct visible *vis = data;
	if (!dev->rule || !mxb_device_allowed(dev->rule, vis->bare) || vis->failed)
		return;
	if (vis->len == vis->cap) {
		size_t cap = vis->cap ? 2 * vis->cap : 16;
		const struct mxb_device **v = realloc(vis->v, cap * sizeof(*v));
		if (!v) {
			vis->failed = true;
			return;
		}
		vis->v = v;
		vis->cap = cap;
	}
	vis->v[vis->len++] = dev;
}

static int by_local(const void *a, const void *b)
{
	const struct mxb_device *const *x = a, *const *y = b;
	return strcmp((*x)->local, (*y)->local);
}

/* Fills vis; returns 0 or -ENOMEM (vis is finished then too). */
static int visible_devices(struct mxb_bridge *b, const char *bare, struct visible *vis)
{
	*vis = (struct visible){.b = b, .bare = bare};
	if (b->devices)
		mxb_devices_each(b->devices, collect, vis);
	if (vis->failed) {
		free(vis->v);
		return -ENOMEM;
	}
	if (vis->len)
		qsort(vis->v, vis->len, sizeof(*vis->v), by_local);
	return 0;
}

void mxb_bridge_directory_items(const char *from,
	void (*add)(const char *local, const char *friendly, void *ctx), void *ctx, void *data)
{
	struct mxb_bridge *b = data;
	struct visible vis;
	if (visible_devices(b, from, &vis) < 0) {
		mxb_log_error("devices: out of memory; an empty device list to '%s'", from);
		return;
	}
	char friendly[MXB_BRIDGE_FRIENDLY_MAX];
	for (size_t i = 0; i < vis.len; i++)
		add(vis.v[i]->local,
			mxb_bridge_device_friendly(vis.v[i], friendly, sizeof(friendly)), ctx);
	free(vis.v);
}

static const char *avail_word(enum mxb_availability a)
{
	switch (a) {
	case MXB_AVAIL_ONLINE:
		return "online";
	case MXB_AVAIL_OFFLINE:
		return "offline";
	default:
		return "not heard from";
	}
}

/*
 * The devices to, whose bare JID is bare, may see, one a line with their state, as one
 * message of at most bridge.max_message bytes: a longer list says how many it left off.
 */
static void send_list(struct mxb_bridge *b, const char *to, const char *bare)
{
	struct visible vis;
	if (visible_devices(b, bare, &vis) < 0) {
		mxb_bridge_device_reply(b, NULL, to, "cannot list the devices: out of memory");
		return;
	}
	if (!vis.len) {
		mxb_bridge_device_reply(
			b, NULL, to, "no devices you may see have been heard of yet");
		return;
	}
	/* Room kept for the last line, which says how many did not fit. */
	size_t max = b->cfg->bridge.max_message;
	size_t room = max > 64 ? max - 64 : max;
	struct mxb_strbuf t;
	mxb_strbuf_init(&t, room);
	mxb_strbuf_printf(&t, "%zu device%s:", vis.len, vis.len == 1 ? "" : "s");
	char friendly[MXB_BRIDGE_FRIENDLY_MAX];
	size_t shown = 0;
	for (; shown < vis.len; shown++) {
		const struct mxb_device *dev = vis.v[shown];
		struct mxb_strbuf line;
		mxb_strbuf_init(&line, room);
		mxb_strbuf_printf(&line, "\n%s@%s", dev->local, b->cfg->xmpp.component.domain);
		const char *f = mxb_bridge_device_friendly(dev, friendly, sizeof(friendly));
		if (strcmp(f, dev->local) != 0) {
			mxb_strbuf_puts(&line, " (");
			mxb_strbuf_quote(&line, f, MXB_COMMAND_ECHO_MAX);
			mxb_strbuf_puts(&line, ")");
		}
		mxb_strbuf_printf(&line, ": %s", avail_word(dev->avail));
		if (dev->avail == MXB_AVAIL_ONLINE && dev->show)
			mxb_strbuf_printf(&line, " (%s)", dev->show);
		if (dev->status && *dev->status) {
			mxb_strbuf_puts(&line, ", ");
			mxb_strbuf_quote(&line, dev->status, MXB_COMMAND_ECHO_MAX);
		}
		int rc = line.failed || line.over ? -E2BIG : mxb_strbuf_add(&t, line.s, line.len);
		mxb_strbuf_finish(&line);
		if (rc < 0)
			break;
	}
	char *text = mxb_strbuf_take(&t);
	mxb_strbuf_finish(&t);
	if (!text)
		mxb_bridge_device_reply(b, NULL, to, "cannot list the devices: out of memory");
	else if (shown < vis.len)
		mxb_bridge_device_reply(b, NULL, to,
			"%s\n... and %zu more (the list is longer than a "
			"message)",
			text, vis.len - shown);
	else
		mxb_bridge_device_reply(b, NULL, to, "%s", text);
	free(text);
	free(vis.v);
}

static void send_help(struct mxb_bridge *b, const char *to)
{
	const char *domain = b->cfg->xmpp.component.domain;
	mxb_bridge_device_reply(b, NULL, to,
		"Devices of mqtt-xmpp-bridge, each a contact NAME@%s.\n"
		"Here: 'help' (this text); 'list' (the devices you may see, with their state).\n"
		"To a device: subscribe to see its state as its presence; send 'on', 'off', "
		"'toggle' or a payload to command it (where its rule has a command topic), and "
		"it answers with its new state; 'status' tells its state, 'help' what it takes.",
		domain);
}

void mxb_bridge_directory_message(const char *from, const char *id, const char *body, void *data)
{
	struct mxb_bridge *b = data;
	char bare[MXB_JID_MAX + 1];
	if (!b->devices || mxb_jid_bare(from, bare, sizeof(bare)) < 0)
		return;
	/* The same line as for a device: who may see none of them learns nothing here. */
	if (!mxb_bridge_may_see(b, NULL, bare)) {
		b->n.device_strangers++;
		mxb_log_warn("devices: refused a message from '%s' to '%s': not allowed", bare,
			b->cfg->xmpp.component.domain);
		mxb_component_send_forbidden(
			b->component, NULL, from, id, "You are not allowed to use these devices.");
		return;
	}
	switch (mxb_command_domain_request(body)) {
	case MXB_DOMAIN_HELP:
		send_help(b, from);
		break;
	case MXB_DOMAIN_LIST:
		send_list(b, from, bare);
		break;
	case MXB_DOMAIN_UNKNOWN: {
		char *q = mxb_bridge_quoted(body);
		mxb_bridge_device_reply(
			b, NULL, from, "unknown request '%s'; send 'help' or 'list'", q ? q : "");
		free(q);
		break;
	}
	}
}
