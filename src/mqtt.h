#ifndef MXB_MQTT_H
#define MXB_MQTT_H

/*
 * The MQTT side: one libmosquitto client driven from the main poll loop, reconnecting on
 * its own with backoff. The rest of the bridge sees plain structs only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mxb_config;
struct mxb_mqtt;

struct mxb_mqtt_message {
	const char *topic;
	const char *payload; /* not NUL-terminated; valid only during the callback */
	size_t len;
	int qos;
	bool retain;
	/* It carries the bridge's own mark (an MQTT 5 user property): it came back. */
	bool own;
};

struct mxb_mqtt_handlers {
	/* The session is up and subscriptions may be made. */
	void (*connected)(void *data);
	void (*disconnected)(void *data);
	void (*message)(const struct mxb_mqtt_message *msg, void *data);
	/* A QoS 1/2 publish with this mid was acknowledged (QoS 0: sent). */
	void (*published)(int mid, void *data);
};

/* Creates the client from cfg (which must outlive it). Returns 0 or a negative errno. */
int mxb_mqtt_create(struct mxb_mqtt **out, const struct mxb_config *cfg,
	const struct mxb_mqtt_handlers *handlers, void *data);
void mxb_mqtt_destroy(struct mxb_mqtt *m);

/* Starts the first connection attempt; failures are retried with backoff. */
void mxb_mqtt_start(struct mxb_mqtt *m, int64_t now);

/* The socket to poll (-1 when none) and the events to wait for. */
int mxb_mqtt_fd(const struct mxb_mqtt *m);
short mxb_mqtt_events(struct mxb_mqtt *m);
void mxb_mqtt_handle(struct mxb_mqtt *m, short revents, int64_t now);
/* Timers: keepalive, reconnect, CONNACK deadline. Returns the next deadline (ms). */
int64_t mxb_mqtt_tick(struct mxb_mqtt *m, int64_t now);

bool mxb_mqtt_is_up(const struct mxb_mqtt *m);

/* Returns 0, or a negative errno (-ENOTCONN while down: nothing was queued). */
int mxb_mqtt_subscribe(struct mxb_mqtt *m, const char *filter, int qos);
/*
 * Subscribes again to a filter already subscribed to (a higher QoS). On MQTT 5 the broker
 * is asked not to send its retained messages again; MQTT 3.1.1 cannot ask, so they come
 * again. Returns like mxb_mqtt_subscribe.
 */
int mxb_mqtt_resubscribe(struct mxb_mqtt *m, const char *filter, int qos);
/* Returns 0, or a negative errno (-ENOTCONN while down). */
int mxb_mqtt_unsubscribe(struct mxb_mqtt *m, const char *filter);
/* Returns 0 with *mid set, or a negative errno (-ENOTCONN while down: nothing was queued). */
int mxb_mqtt_publish(struct mxb_mqtt *m, const char *topic, const void *payload, size_t len,
	int qos, bool retain, int *mid);

/*
 * Begins a clean shutdown: publishes "offline" to the status topic and disconnects once it
 * is acknowledged (or at once when down). mxb_mqtt_is_closed() tells when it is done.
 */
/*
 * After a reload put new values in the config m reads: disconnects cleanly (no will) and
 * reconnects at once with them. With new_client (another client id, protocol version or
 * session expiry) the client is made anew and what was in flight in it is gone (the
 * caller tells the producers); else it stays and goes out again after the reconnect.
 * Returns 0 or a negative errno (then the next attempts use what could be set).
 */
int mxb_mqtt_reconfigure(struct mxb_mqtt *m, bool new_client, int64_t now);
void mxb_mqtt_shutdown(struct mxb_mqtt *m, int64_t now);
bool mxb_mqtt_is_closed(const struct mxb_mqtt *m);

#endif
