/*
 * mqtt.share_group and bridge.instance: one feed split among the instances of a group.
 * Every notify and pubsub filter becomes $share/GROUP/FILTER, and each instance gets its
 * own MQTT client id and XMPP resource from its name, so that the broker and the server
 * tell the instances apart, and its own status and stats topics. Device, location and discovery
 * subscriptions stay whole: the state behind a device's presence must be seen by one instance
 * entirely (docs/scaling.md).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_schema.h"
#include "jid.h"
#include "topic.h"

#define SHARE_PREFIX "$share/"

bool mxb_conf_instance_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > MXB_CONF_INSTANCE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

bool mxb_conf_share_group_valid(const char *group)
{
	return *group && !strpbrk(group, "/+#");
}

/* *s = PREFIX SEP SUFFIX, or an error at n when it would pass max bytes. */
static bool join(struct mxb_conf_ctx *c, const struct mxb_conf_node *n, char **s,
	const char *prefix, const char *sep, const char *suffix, size_t max, const char *what)
{
	size_t len = strlen(prefix) + strlen(sep) + strlen(suffix);
	if (len > max) {
		if (n)
			mxb_conf_error_at(c, n,
				"%s with the share group would be %zu bytes, "
				"more than %zu",
				what, len, max);
		else
			mxb_conf_error_plain(c,
				"%s with the share group would be %zu bytes, "
				"more than %zu",
				what, len, max);
		return false;
	}
	char *j = malloc(len + 1);
	if (!j) {
		mxb_conf_error_oom(c);
		return false;
	}
	snprintf(j, len + 1, "%s%s%s", prefix, sep, suffix);
	free(*s);
	*s = j;
	return true;
}

static void share_filter(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *n, char **topic, const char *group)
{
	if (!*topic || strncmp(*topic, SHARE_PREFIX, strlen(SHARE_PREFIX)) == 0)
		return;
	char *prefix = NULL;
	if (!join(c, n, &prefix, SHARE_PREFIX, group, "/", MXB_TOPIC_MAX, "the topic filter"))
		return;
	char *plain = *topic;
	*topic = NULL;
	if (join(c, n, topic, prefix, "", plain, MXB_TOPIC_MAX, "the topic filter"))
		free(plain);
	else
		*topic = plain;
	free(prefix);
}

/* The resource of the bridge's JID: RESOURCE-INSTANCE, or INSTANCE without one. */
static void instance_resource(struct mxb_conf_ctx *c, struct mxb_config *cfg, const char *name)
{
	char *jid = cfg->xmpp.jid;
	if (!jid)
		return;
	const char *slash = strchr(jid, '/');
	char *bare = strndup(jid, slash ? (size_t)(slash - jid) : strlen(jid));
	char *resource = NULL;
	if (!bare) {
		mxb_conf_error_oom(c);
		return;
	}
	bool ok = slash ? join(c, NULL, &resource, slash + 1, "-", name, MXB_JID_PART_MAX,
				  "the resource of 'xmpp.jid'")
			: join(c, NULL, &resource, "", "", name, MXB_JID_PART_MAX,
				  "the resource of 'xmpp.jid'");
	if (ok) {
		cfg->xmpp.jid = NULL;
		if (join(c, NULL, &cfg->xmpp.jid, bare, "/", resource, MXB_JID_MAX, "'xmpp.jid'"))
			free(jid);
		else
			cfg->xmpp.jid = jid;
	}
	free(bare);
	free(resource);
}

void mxb_conf_apply_share(struct mxb_conf_ctx *c, struct mxb_config *cfg, const char *host)
{
	const char *group = cfg->mqtt.share_group;
	if (!group)
		return;
	const char *name = cfg->bridge.instance ? cfg->bridge.instance : host;
	if (cfg->bridge.instance && !mxb_conf_instance_valid(name))
		return; /* said where it is written */
	if (!name || !mxb_conf_instance_valid(name)) {
		mxb_conf_error_plain(c,
			"'mqtt.share_group' needs 'bridge.instance': the host name '%s' is not "
			"one (letters, digits, '-', '_', '.', at most %d bytes)",
			name ? name : "", MXB_CONF_INSTANCE_MAX);
		return;
	}
	if (!cfg->bridge.instance && !(cfg->bridge.instance = strdup(name))) {
		mxb_conf_error_oom(c);
		return;
	}
	for (size_t i = 0; i < cfg->notify_len; i++)
		share_filter(
			c, c->notify_at ? c->notify_at[i] : NULL, &cfg->notify[i].topic, group);
	for (size_t i = 0; i < cfg->pubsub_len; i++)
		share_filter(
			c, c->pubsub_at ? c->pubsub_at[i] : NULL, &cfg->pubsub[i].topic, group);
	char *id = cfg->mqtt.client_id;
	cfg->mqtt.client_id = NULL;
	if (join(c, NULL, &cfg->mqtt.client_id, id ? id : "", "-", name, MXB_CONF_MQTT_STRING_MAX,
		    "'mqtt.client_id'"))
		free(id);
	else
		cfg->mqtt.client_id = id;
	instance_resource(c, cfg, name);
	/* Each instance's own health: one instance's will must not say the others are gone. */
	char **own[] = {&cfg->mqtt.status_topic, &cfg->mqtt.stats_topic};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		char *t = *own[i];
		if (!t || !*t)
			continue;
		*own[i] = NULL;
		if (join(c, NULL, own[i], t, "/", name, MXB_TOPIC_MAX, "the status topic"))
			free(t);
		else
			*own[i] = t;
	}
}
