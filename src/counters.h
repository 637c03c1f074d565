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
	uint64_t mqtt_too_large; /* publishes over the broker's maximum packet size, not sent */
	uint64_t device_updates;
	uint64_t devices_refused; /* names not valid as JIDs, or over bridge.max_devices */
	uint64_t device_commands;
	uint64_t device_strangers;
	uint64_t contact_presences;
	uint64_t presence_strangers; /* neither sharing their presence nor named in the config */
	uint64_t presence_table_full; /* over MXB_PRESENCE_CONTACTS_MAX or its resources bound */
	/* Location (bridge_location.c, location_session.c) */
	uint64_t location_received; /* OwnTracks positions of mapped users */
	uint64_t location_ignored; /* OwnTracks messages that are not positions */
	uint64_t location_invalid; /* OwnTracks payloads refused: not JSON, out of range */
	uint64_t location_stale; /* positions not newer than the last one (replays) */
	uint64_t location_paced; /* positions held for the end of min_interval */
	uint64_t location_published; /* positions the server acknowledged */
	uint64_t location_failed; /* positions the server refused */
	uint64_t geoloc_received; /* contacts' locations published to MQTT */
	uint64_t geoloc_invalid; /* contacts' <geoloc/> refused: a field not a number in range */
	uint64_t geoloc_strangers; /* locations of JIDs location.contacts does not name */
	uint64_t location_names_refused; /* roster names too long or not text for a card */
	/* Pubsub (XEP-0060), bridge_pubsub.c */
	uint64_t pubsub_published; /* items the service took */
	uint64_t pubsub_retracted; /* empty retained messages that retracted an item */
	uint64_t pubsub_replaced; /* held values a newer one replaced before they went out */
	uint64_t pubsub_resent; /* sent again after a connection loss */
	uint64_t pubsub_queue_dropped;
	uint64_t pubsub_nodes_created;
	uint64_t pubsub_not_json; /* format json, payload not JSON: published as text */
	uint64_t pubsub_base64; /* payload not UTF-8 text: published base64-encoded */
	uint64_t pubsub_too_big; /* over max_item, or refused by the service as too large */
	uint64_t pubsub_refused; /* the service forbids the bridge (route off) */
	uint64_t pubsub_failed; /* other errors of the service */
	uint64_t pubsub_received; /* items published to MQTT */
	uint64_t pubsub_own_skipped; /* the bridge's own items that came back */
	uint64_t pubsub_invalid; /* bad node names, topics, payloads or fields */
	uint64_t upload_sent; /* snapshots uploaded and their URL sent */
	uint64_t upload_failed; /* said as not uploaded, in a text message */
	uint64_t upload_refused; /* by the server's slot answer or its max-file-size */
	uint64_t upload_retried;
	uint64_t upload_dropped; /* the oldest waiting, when xmpp.upload_queue was full */
};

#endif
