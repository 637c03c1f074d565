#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reload.h"

static int by_topic(const void *a, const void *b)
{
	const struct mxb_filter *x = a, *y = b;
	return strcmp(x->topic, y->topic);
}

size_t mxb_reload_filters_normalize(struct mxb_filter *f, size_t len)
{
	if (len == 0)
		return 0;
	/* Sorted, equal filters sit together: n log n rather than n squared for big configs. */
	qsort(f, len, sizeof(*f), by_topic);
	size_t n = 0;
	for (size_t i = 1; i < len; i++) {
		if (strcmp(f[i].topic, f[n].topic) == 0) {
			if (f[i].qos > f[n].qos)
				f[n].qos = f[i].qos;
		} else {
			f[++n] = f[i];
		}
	}
	return n + 1;
}

void mxb_reload_filters_diff(const struct mxb_filter *old, size_t old_len,
	const struct mxb_filter *fresh, size_t fresh_len, const struct mxb_reload_ops *ops,
	void *data)
{
	size_t i = 0, j = 0;
	while (i < old_len || j < fresh_len) {
		int cmp = i == old_len     ? 1
			  : j == fresh_len ? -1
					   : strcmp(old[i].topic, fresh[j].topic);
		if (cmp < 0) {
			ops->unsubscribe(old[i++].topic, data);
		} else if (cmp > 0) {
			ops->subscribe(fresh[j].topic, fresh[j].qos, false, data);
			j++;
		} else {
			/* A lower QoS is left as it is: subscribing again resends retained ones. */
			if (fresh[j].qos > old[i].qos)
				ops->subscribe(fresh[j].topic, fresh[j].qos, true, data);
			i++;
			j++;
		}
	}
}

struct key {
	const struct mxb_notify_route *route;
	size_t index;
};

static int by_throttle(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = strcmp(x->route->topic, y->route->topic);
	if (c)
		return c;
	if (x->route->min_interval != y->route->min_interval)
		return x->route->min_interval < y->route->min_interval ? -1 : 1;
	if (x->route->only_changes != y->route->only_changes)
		return x->route->only_changes ? 1 : -1;
	/* The order of the file, so that equal routes pair first with first. */
	return x->index < y->index ? -1 : x->index > y->index;
}

static bool throttled(const struct mxb_notify_route *r)
{
	return r->min_interval > 0 || r->only_changes;
}

static struct key *keys_of(const struct mxb_notify_route *routes, size_t len, size_t *n)
{
	struct key *k = malloc((len ? len : 1) * sizeof(*k));
	if (!k)
		return NULL;
	*n = 0;
	for (size_t i = 0; i < len; i++) {
		if (throttled(&routes[i]))
			k[(*n)++] = (struct key){.route = &routes[i], .index = i};
	}
	qsort(k, *n, sizeof(*k), by_throttle);
	return k;
}

static bool same_throttle(const struct key *a, const struct key *b)
{
	return strcmp(a->route->topic, b->route->topic) == 0 &&
	       a->route->min_interval == b->route->min_interval &&
	       a->route->only_changes == b->route->only_changes;
}

int mxb_reload_pair_throttles(const struct mxb_notify_route *old, size_t old_len,
	const struct mxb_notify_route *fresh, size_t fresh_len, size_t *out)
{
	for (size_t j = 0; j < fresh_len; j++)
		out[j] = SIZE_MAX;
	size_t on, fn;
	struct key *ok = keys_of(old, old_len, &on);
	struct key *fk = keys_of(fresh, fresh_len, &fn);
	int ret = -ENOMEM;
	if (!ok || !fk)
		goto out;
	for (size_t i = 0, j = 0; i < on && j < fn;) {
		if (same_throttle(&ok[i], &fk[j])) {
			out[fk[j].index] = ok[i].index;
			i++;
			j++;
		} else if (by_throttle(&ok[i], &fk[j]) < 0) {
			i++;
		} else {
			j++;
		}
	}
	ret = 0;
out:
	free(ok);
	free(fk);
	return ret;
}

static bool same_str(const char *a, const char *b)
{
	return (!a || !b) ? a == b : strcmp(a, b) == 0;
}

static bool same_list(const struct mxb_strlist *a, const struct mxb_strlist *b)
{
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++) {
		if (!same_str(a->v[i], b->v[i]))
			return false;
	}
	return true;
}

static bool same_notify(const struct mxb_notify_route *a, const struct mxb_notify_route *b)
{
	return same_str(a->topic, b->topic) && same_list(&a->to, &b->to) &&
	       same_str(a->message, b->message) && same_str(a->fallback, b->fallback) &&
	       a->type == b->type && a->qos == b->qos && a->retained == b->retained &&
	       a->min_interval == b->min_interval && a->only_changes == b->only_changes &&
	       a->binary == b->binary && a->max_payload == b->max_payload &&
	       same_str(a->content_type, b->content_type) && same_str(a->file_name, b->file_name);
}

static bool same_command(const struct mxb_command_route *a, const struct mxb_command_route *b)
{
	return same_list(&a->from, &b->from) && same_list(&a->rooms, &b->rooms) &&
	       same_list(&a->allow, &b->allow) && same_str(a->command, b->command) &&
	       same_str(a->usage, b->usage) && same_str(a->description, b->description) &&
	       same_str(a->topic, b->topic) && same_str(a->payload, b->payload) &&
	       a->has_role == b->has_role && a->role == b->role &&
	       a->has_affiliation == b->has_affiliation && a->affiliation == b->affiliation &&
	       a->qos == b->qos && a->retain == b->retain;
}

bool mxb_reload_same_device_rule(const struct mxb_device_rule *a, const struct mxb_device_rule *b)
{
	return a->convention == b->convention && same_str(a->availability, b->availability) &&
	       same_str(a->state, b->state) && same_str(a->name, b->name) &&
	       same_str(a->online, b->online) && same_str(a->offline, b->offline) &&
	       same_str(a->status, b->status) && same_str(a->show, b->show) &&
	       same_list(&a->away, &b->away) && same_list(&a->xa, &b->xa) &&
	       same_list(&a->dnd, &b->dnd) && same_str(a->command, b->command) &&
	       same_str(a->command_payload, b->command_payload) &&
	       same_str(a->friendly, b->friendly) && same_list(&a->allow, &b->allow) &&
	       a->qos == b->qos && a->timeout == b->timeout &&
	       same_list(&a->exclude, &b->exclude) && a->ask_state == b->ask_state;
}

static bool same_room(const struct mxb_room *a, const struct mxb_room *b)
{
	return same_str(a->jid, b->jid) && same_str(a->nick, b->nick) &&
	       same_str(a->password, b->password);
}

static bool same_notifies(const struct mxb_config *a, const struct mxb_config *b)
{
	bool same = a->notify_len == b->notify_len;
	for (size_t i = 0; same && i < a->notify_len; i++)
		same = same_notify(&a->notify[i], &b->notify[i]);
	return same;
}

static bool same_commands(const struct mxb_config *a, const struct mxb_config *b)
{
	bool same = a->commands_len == b->commands_len;
	for (size_t i = 0; same && i < a->commands_len; i++)
		same = same_command(&a->commands[i], &b->commands[i]);
	return same;
}

static bool same_pubsub(const struct mxb_config *a, const struct mxb_config *b)
{
	bool same = a->pubsub_len == b->pubsub_len && a->subscribe_len == b->subscribe_len;
	for (size_t i = 0; same && i < a->pubsub_len; i++) {
		const struct mxb_pubsub_route *x = &a->pubsub[i], *y = &b->pubsub[i];
		same = same_str(x->topic, y->topic) && same_str(x->service, y->service) &&
		       same_str(x->node, y->node) && x->format == y->format &&
		       same_str(x->title, y->title) && same_str(x->summary, y->summary) &&
		       x->history == y->history && x->qos == y->qos && x->retained == y->retained &&
		       x->max_item == y->max_item;
	}
	for (size_t i = 0; same && i < a->subscribe_len; i++) {
		const struct mxb_subscribe_route *x = &a->subscribe[i], *y = &b->subscribe[i];
		same = same_str(x->service, y->service) && same_list(&x->nodes, &y->nodes) &&
		       same_str(x->pattern, y->pattern) && same_str(x->topic, y->topic) &&
		       x->qos == y->qos && x->retain == y->retain;
	}
	return same;
}

static bool same_devices(const struct mxb_config *a, const struct mxb_config *b)
{
	bool same = a->devices_len == b->devices_len && a->max_devices == b->max_devices;
	for (size_t i = 0; same && i < a->devices_len; i++)
		same = mxb_reload_same_device_rule(&a->devices[i], &b->devices[i]);
	return same;
}

static bool same_rooms(const struct mxb_config *a, const struct mxb_config *b)
{
	bool same = a->xmpp.rooms_len == b->xmpp.rooms_len;
	for (size_t i = 0; same && i < a->xmpp.rooms_len; i++)
		same = same_room(&a->xmpp.rooms[i], &b->xmpp.rooms[i]);
	return same;
}

unsigned mxb_reload_changes(const struct mxb_config *o, const struct mxb_config *f)
{
	unsigned c = 0;
	if (!same_notifies(o, f) || !same_commands(o, f) || !same_pubsub(o, f))
		c |= MXB_CHANGE_ROUTES;
	if (o->bridge.log_level != f->bridge.log_level ||
		o->bridge.max_payload != f->bridge.max_payload ||
		o->bridge.max_message != f->bridge.max_message ||
		o->bridge.bad_text != f->bridge.bad_text)
		c |= MXB_CHANGE_LIMITS;
	if (o->bridge.queue_size != f->bridge.queue_size)
		c |= MXB_CHANGE_QUEUE;
	if (!same_str(o->bridge.spool, f->bridge.spool))
		c |= MXB_CHANGE_SPOOL;
	if (!same_devices(o, f))
		c |= MXB_CHANGE_DEVICES;
	if (!same_str(o->xmpp.status, f->xmpp.status) || o->xmpp.priority != f->xmpp.priority)
		c |= MXB_CHANGE_XMPP_STATUS;
	if (o->xmpp.ack_every != f->xmpp.ack_every || o->xmpp.ack_delay != f->xmpp.ack_delay ||
		o->xmpp.batch_delay_us != f->xmpp.batch_delay_us)
		c |= MXB_CHANGE_XMPP_ACKS;
	if (!same_rooms(o, f))
		c |= MXB_CHANGE_XMPP_ROOMS;
	if (!same_str(o->xmpp.presence_topic, f->xmpp.presence_topic) ||
		o->xmpp.presence_json != f->xmpp.presence_json ||
		!same_str(o->xmpp.presence_discovery, f->xmpp.presence_discovery))
		c |= MXB_CHANGE_XMPP_PRESENCE;
	if (!same_str(o->xmpp.jid, f->xmpp.jid) || !same_str(o->xmpp.password, f->xmpp.password) ||
		!same_str(o->xmpp.host, f->xmpp.host) || o->xmpp.port != f->xmpp.port ||
		o->xmpp.tls != f->xmpp.tls || !same_str(o->xmpp.ca_file, f->xmpp.ca_file) ||
		!same_str(o->xmpp.client_cert, f->xmpp.client_cert) ||
		!same_str(o->xmpp.client_key, f->xmpp.client_key) ||
		o->xmpp.reconnect_max != f->xmpp.reconnect_max ||
		o->xmpp.ping_interval != f->xmpp.ping_interval ||
		o->xmpp.ping_timeout != f->xmpp.ping_timeout ||
		o->xmpp.connect_timeout != f->xmpp.connect_timeout)
		c |= MXB_CHANGE_XMPP;
	if (!same_str(o->xmpp.component.domain, f->xmpp.component.domain) ||
		!same_str(o->xmpp.component.secret, f->xmpp.component.secret) ||
		!same_str(o->xmpp.component.host, f->xmpp.component.host) ||
		o->xmpp.component.port != f->xmpp.component.port)
		c |= MXB_CHANGE_COMPONENT;
	if (!same_str(o->mqtt.host, f->mqtt.host) || o->mqtt.port != f->mqtt.port ||
		o->mqtt.version != f->mqtt.version ||
		!same_str(o->mqtt.client_id, f->mqtt.client_id) ||
		!same_str(o->mqtt.username, f->mqtt.username) ||
		!same_str(o->mqtt.password, f->mqtt.password) ||
		o->mqtt.keepalive != f->mqtt.keepalive ||
		!same_str(o->mqtt.status_topic, f->mqtt.status_topic) ||
		o->mqtt.tls != f->mqtt.tls || !same_str(o->mqtt.ca_file, f->mqtt.ca_file) ||
		!same_str(o->mqtt.cert_file, f->mqtt.cert_file) ||
		!same_str(o->mqtt.key_file, f->mqtt.key_file) ||
		o->mqtt.reconnect_max != f->mqtt.reconnect_max ||
		o->mqtt.session_expiry != f->mqtt.session_expiry ||
		!same_str(o->mqtt.share_group, f->mqtt.share_group))
		c |= MXB_CHANGE_MQTT;
	if (!same_str(o->mqtt.stats_topic, f->mqtt.stats_topic) ||
		o->mqtt.stats_interval != f->mqtt.stats_interval)
		c |= MXB_CHANGE_STATS;
	if (!same_str(o->xmpp.upload.service, f->xmpp.upload.service) ||
		o->xmpp.upload.allow_http != f->xmpp.upload.allow_http ||
		o->xmpp.upload.concurrency != f->xmpp.upload.concurrency ||
		o->xmpp.upload.queue != f->xmpp.upload.queue ||
		o->xmpp.upload.timeout != f->xmpp.upload.timeout ||
		o->xmpp.upload.retries != f->xmpp.upload.retries)
		c |= MXB_CHANGE_UPLOAD;
	return c;
}

const char *mxb_reload_describe(unsigned changes, char *buf, size_t len)
{
	static const char *const names[] = {"routes", "limits", "queue_size", "spool", "devices",
		"status", "rooms", "presence", "xmpp connection", "component connection",
		"mqtt connection", "stats", "upload", "acks"};
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(changes & (1u << i)))
			continue;
		int w = snprintf(buf + n, len - n, "%s%s", n ? ", " : "", names[i]);
		if (w < 0 || (size_t)w >= len - n)
			break;
		n += (size_t)w;
	}
	return n ? buf : "nothing";
}
