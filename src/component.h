#ifndef MXB_COMPONENT_H
#define MXB_COMPONENT_H

/*
 * The XMPP component side (XEP-0114): one libstrophe component connection that gives
 * every device a JID NAME@DOMAIN, driven from the main poll loop and reconnecting on its
 * own. The rest of the bridge sees plain strings only.
 */

#include <stdbool.h>
#include <stdint.h>

struct mxb_config;
struct mxb_component;

struct mxb_component_info {
	bool exists; /* the device is known */
	bool allowed; /* the asker may see it */
	const char *friendly; /* its name for people (vCard FN, disco name) */
	const char *name;
};

struct mxb_component_handlers {
	void (*online)(void *data);
	void (*offline)(void *data);
	/*
	 * Presence addressed to a device: type NULL (available), "subscribe", "subscribed",
	 * "unsubscribe", "unsubscribed", "probe" or "unavailable". from is a full or bare JID.
	 */
	void (*presence)(const char *local, const char *from, const char *type, void *data);
	/* A chat or normal message with a body addressed to a device. */
	void (*message)(
		const char *local, const char *from, const char *id, const char *body, void *data);
	/* What a disco#info or vCard request for local, asked by from (bare), may tell. */
	void (*describe)(
		const char *local, const char *from, struct mxb_component_info *out, void *data);
	/*
	 * The devices from (bare) may see, for a disco#items on the domain: add(local,
	 * friendly, ctx) once for each, its strings borrowed for the call. May be NULL.
	 */
	void (*items)(const char *from,
		void (*add)(const char *local, const char *friendly, void *ctx), void *ctx,
		void *data);
	/* A chat or normal message with a body addressed to the domain itself. May be NULL. */
	void (*domain_message)(const char *from, const char *id, const char *body, void *data);
};

int mxb_component_create(struct mxb_component **out, const struct mxb_config *cfg,
	const struct mxb_component_handlers *handlers, void *data);
void mxb_component_destroy(struct mxb_component *c);
/*
 * After a reload put new values in the config c reads: takes the new strings, and with
 * reconnect closes the connection and opens it again with the new settings at once.
 */
void mxb_component_reconfigure(struct mxb_component *c, bool reconnect, int64_t now);

void mxb_component_start(struct mxb_component *c, int64_t now);
int mxb_component_fd(const struct mxb_component *c);
short mxb_component_events(const struct mxb_component *c);
void mxb_component_handle(struct mxb_component *c, short revents, int64_t now);
int64_t mxb_component_tick(struct mxb_component *c, int64_t now);
bool mxb_component_is_up(const struct mxb_component *c);

/*
 * Sends presence from local@domain to `to`: type NULL (available, with show and status,
 * either may be NULL), "unavailable", "subscribed", "unsubscribed" or "subscribe".
 * status must be XML-safe. Returns 0 or -ENOTCONN.
 */
int mxb_component_send_presence(struct mxb_component *c, const char *local, const char *to,
	const char *type, const char *show, const char *status);
/* Sends a chat message from local@domain (local NULL: the domain). body must be XML-safe. */
int mxb_component_send_message(
	struct mxb_component *c, const char *local, const char *to, const char *body);
/* Answers message id from `to` to local (NULL: the domain) with an error <forbidden/>. */
int mxb_component_send_forbidden(struct mxb_component *c, const char *local, const char *to,
	const char *id, const char *text);

void mxb_component_shutdown(struct mxb_component *c, int64_t now);
bool mxb_component_is_closed(const struct mxb_component *c);

#endif
