#ifndef MXB_BRIDGE_DEVICE_H
#define MXB_BRIDGE_DEVICE_H

/* Shared by the device files of the bridge: bridge_devices.c and bridge_device_chat.c. */

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

#endif
