#ifndef MXB_BRIDGE_DEVICE_H
#define MXB_BRIDGE_DEVICE_H

/* Shared by the device files of the bridge: bridge_devices.c and bridge_device_chat.c. */

#include <stdbool.h>
#include <stdint.h>

struct mxb_bridge;

/* A command sent to a device, answered with its next state or a timeout note. */
struct mxb_device_command {
	char *local;
	char *reply_to;
	char *topic;
	char *payload;
	uint64_t seq;
	int64_t deadline;
};

void mxb_bridge_device_command_free(struct mxb_device_command *c);

/* A chat message to device local from an XMPP user: a command, or "help" or "status". */
void mxb_bridge_device_message(
	const char *local, const char *from, const char *id, const char *body, void *data);

struct mxb_device;
struct mxb_device_rule;
struct mxb_config;
struct mxb_mqtt_message;

/* Sends dev's presence to its subscribers and to the people its rule names. */
void mxb_bridge_device_broadcast(struct mxb_bridge *b, const struct mxb_device *dev);
/*
 * A new state: the status (NULL: the last one stays) and show, power when it is a
 * switch's state; the commands that waited for it are answered.
 */
void mxb_bridge_device_new_state(struct mxb_bridge *b, struct mxb_device *dev, const char *status,
	const char *show, bool power);
/*
 * Whether rule may update dev: the first rule of the file that takes a device owns it,
 * whatever order messages come in; an earlier rule takes it over from a later one.
 */
bool mxb_bridge_device_owns(
	const struct mxb_config *cfg, struct mxb_device *dev, const struct mxb_device_rule *rule);

/* Home Assistant discovery (bridge_discovery.c): a config message of rule's filters. */
void mxb_bridge_discovery_config(struct mxb_bridge *b, const struct mxb_device_rule *rule,
	const struct mxb_mqtt_message *msg);
void mxb_bridge_discovery_finish(struct mxb_bridge *b);

#endif
