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

/*
 * *s = A B C D, made before *s is freed (so a part may be *s itself); an error at n (or at
 * the share group, which makes the name) when it would pass max bytes, *s left as it was.
 */
static bool join(struct mxb_conf_ctx *c, const struct mxb_conf_node *n, char **s, size_t max,
	const char *what, const char *a, const char *b, const char *d, const char *e)
{
	size_t len = strlen(a) + strlen(b) + strlen(d) + strlen(e);
	if (len > max) {
		mxb_conf_error_at(c, n ? n : c->share_at,
			"%s with the share group would be %zu bytes, more than %zu", what, len,
			max);
		return false;
	}
	char *j = malloc(len + 1);
	if (!j) {
		mxb_conf_error_oom(c);
		return false;
	}
	snprintf(j, len + 1, "%s%s%s%s", a, b, d, e);
	free(*s);
	*s = j;
	return true;
}

static void share_filter(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *n, char **topic, const char *group)
{
	if (*topic && strncmp(*topic, SHARE_PREFIX, strlen(SHARE_PREFIX)) != 0)
		join(c, n, topic, MXB_TOPIC_MAX, "the topic filter", SHARE_PREFIX, group, "/",
			*topic);
}

/* The resource of the bridge's JID: RESOURCE-INSTANCE, or INSTANCE without one. */
static void instance_resource(struct mxb_conf_ctx *c, struct mxb_config *cfg, const char *name)
{
	const char *jid = cfg->xmpp.jid;
	const char *slash = jid ? strchr(jid, '/') : NULL;
	bool own = slash && slash[1];
	char *resource = NULL, *bare = NULL;
	if (jid && join(c, NULL, &resource, MXB_JID_PART_MAX, "the resource of 'xmpp.jid'",
			   own ? slash + 1 : "", own ? "-" : "", name, "")) {
		if ((bare = strndup(jid, slash ? (size_t)(slash - jid) : strlen(jid))))
			join(c, NULL, &cfg->xmpp.jid, MXB_JID_MAX, "'xmpp.jid'", bare, "/",
				resource, "");
		else
			mxb_conf_error_oom(c);
	}
	free(resource);
	free(bare);
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
		mxb_conf_error_at(c, c->share_at,
			"'share_group' needs 'bridge.instance': the host name%s%s%s is not "
			"one (letters, digits, '-', '_', '.', at most %d bytes)",
			name ? " '" : "", name ? name : "", name ? "'" : "", MXB_CONF_INSTANCE_MAX);
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
	join(c, NULL, &cfg->mqtt.client_id, MXB_CONF_MQTT_STRING_MAX, "'mqtt.client_id'",
		cfg->mqtt.client_id ? cfg->mqtt.client_id : "", "-", name, "");
	instance_resource(c, cfg, name);
	/* Each instance's own health: one instance's will must not say the others are gone. */
	char **own[] = {&cfg->mqtt.status_topic, &cfg->mqtt.stats_topic};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (*own[i] && **own[i])
			join(c, NULL, own[i], MXB_TOPIC_MAX, "the status topic", *own[i], "/", name,
				"");
	}
}
