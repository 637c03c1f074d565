#ifndef MXB_COUNTERS_H
#define MXB_COUNTERS_H

/*
 * What the bridge counts, logged on SIGUSR1 and at exit (mxb_bridge_log_counters). The
 * bridge owns the struct; the outbox counts in it too, through a pointer it is given.
 */

#include <stdint.h>

struct mxb_counters {
	uint64_t mqtt_received;
	uint64_t own_dropped; /* our own publishes that came back */
	uint64_t retained_skipped;
	uint64_t xmpp_sent;
	uint64_t xmpp_queue_dropped;
	uint64_t xmpp_acked; /* acknowledged by the server (XEP-0198) */
	uint64_t xmpp_resent; /* sent again after a connection loss */
	uint64_t unacked_dropped; /* never acknowledged, dropped to bound the window */
	uint64_t quarantined;
	uint64_t room_unreachable;
	uint64_t payload_too_large;
	uint64_t binary_skipped;
	uint64_t message_too_long;
	uint64_t status_cut; /* device statuses shown cut (with "…") at the status limit */
	uint64_t text_replaced;
	uint64_t text_refused;
	uint64_t template_misses;
	uint64_t throttled;
	uint64_t unchanged;
	uint64_t commands_published;
	uint64_t commands_refused;
	uint64_t commands_from_strangers;
	uint64_t commands_malformed;
	uint64_t mqtt_queue_dropped;
	uint64_t device_updates;
	uint64_t devices_refused; /* names not valid as JIDs, or over bridge.max_devices */
	uint64_t device_commands;
	uint64_t device_strangers;
	uint64_t contact_presences;
	uint64_t presence_strangers; /* neither sharing their presence nor named in the config */
	uint64_t presence_table_full; /* over MXB_PRESENCE_CONTACTS_MAX or its resources bound */
	uint64_t upload_sent; /* snapshots uploaded and their URL sent */
	uint64_t upload_failed; /* said as not uploaded, in a text message */
	uint64_t upload_refused; /* by the server's slot answer or its max-file-size */
	uint64_t upload_retried;
	uint64_t upload_dropped; /* the oldest waiting, when xmpp.upload_queue was full */
};

#endif
