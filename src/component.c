#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "backoff.h"
#include "component.h"
#include "config.h"
#include "jid.h"
#include "log.h"
#include "stanza.h"

#define NS_PING "urn:xmpp:ping"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_VCARD "vcard-temp"
#define NS_VERSION "jabber:iq:version"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define SHUTDOWN_TIMEOUT_MS 3000
#define RUN_INTERVAL_MS 1000

enum state {
	STATE_DOWN,
	STATE_CONNECTING,
	STATE_UP,
	STATE_CLOSING,
	STATE_CLOSED,
};

struct mxb_component {
	const struct mxb_config *cfg;
	xmpp_ctx_t *ctx;
	xmpp_conn_t *conn;
	xmpp_log_t log;
	struct mxb_component_handlers handlers;
	void *data;
	enum state state;
	int fd;
	struct mxb_backoff backoff;
	int64_t deadline;
	bool handshake_failed;
	bool shutting_down;
};

/* libstrophe's socket callback has no user data: one component per process. */
static struct mxb_component *the_component;

static void on_log(void *data, xmpp_log_level_t level, const char *area, const char *msg)
{
	struct mxb_component *c = data;
	if (strcmp(area, "auth") == 0 && strstr(msg, "Handshake failed"))
		c->handshake_failed = true;
	if (level == XMPP_LEVEL_DEBUG) {
		/* The handshake digest and stanza dumps stay out of the log. */
		if (strcmp(area, "tls") == 0 || strcmp(area, "sock") == 0)
			mxb_log_debug("component: %s: %s", area, msg);
		return;
	}
	if (strcmp(area, "auth") == 0 && strstr(msg, "Digest"))
		return;
	mxb_log(level == XMPP_LEVEL_INFO ? MXB_LOG_INFO : MXB_LOG_WARN, "component: %s: %s", area,
		msg);
}

static int on_sockopt(xmpp_conn_t *conn, void *sock)
{
	if (the_component && the_component->conn == conn)
		the_component->fd = *(int *)sock;
	return mxb_strophe_sockopt(conn, sock);
}

/* local@domain, or the domain itself when local is NULL. */
static void device_jid(struct mxb_component *c, const char *local, char *buf, size_t len)
{
	if (local)
		snprintf(buf, len, "%s@%s", local, c->cfg->xmpp.component.domain);
	else
		snprintf(buf, len, "%s", c->cfg->xmpp.component.domain);
}

/* The local part a stanza is addressed to, copied into buf; "" for the domain itself. */
static bool addressee(struct mxb_component *c, xmpp_stanza_t *st, char *buf, size_t len)
{
	const char *to = xmpp_stanza_get_to(st);
	if (!to)
		return false;
	size_t dlen;
	const char *domain = mxb_jid_domain(to, &dlen);
	if (dlen != strlen(c->cfg->xmpp.component.domain) ||
		strncasecmp(domain, c->cfg->xmpp.component.domain, dlen) != 0)
		return false;
	size_t n = domain == to ? 0 : (size_t)(domain - to - 1);
	if (n >= len)
		return false;
	memcpy(buf, to, n);
	buf[n] = '\0';
	return true;
}

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_component *c = data;
	char local[MXB_JID_PART_MAX + 1];
	const char *from = xmpp_stanza_get_from(st);
	if (!from || !addressee(c, st, local, sizeof(local)) || !local[0])
		return 1;
	if (c->handlers.presence)
		c->handlers.presence(local, from, xmpp_stanza_get_type(st), c->data);
	return 1;
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_component *c = data;
	char local[MXB_JID_PART_MAX + 1];
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	if (type && strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0)
		return 1;
	if (!from || !addressee(c, st, local, sizeof(local)) || !local[0])
		return 1;
	/* Forwarded words are someone else's: never a command of the sender. */
	if (xmpp_stanza_get_child_by_ns(st, "urn:xmpp:carbons:2") ||
		xmpp_stanza_get_child_by_ns(st, "urn:xmpp:forward:0"))
		return 1;
	char *body = xmpp_message_get_body(st);
	if (!body)
		return 1;
	if (c->handlers.message)
		c->handlers.message(local, from, xmpp_stanza_get_id(st), body, c->data);
	xmpp_free(c->ctx, body);
	return 1;
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	struct mxb_component *c = data;
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	char local[MXB_JID_PART_MAX + 1];
	if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) || !from ||
		!addressee(c, st, local, sizeof(local)))
		return 1;
	xmpp_stanza_t *child = xmpp_stanza_get_children(st);
	while (child && !xmpp_stanza_is_tag(child))
		child = xmpp_stanza_get_next(child);
	const char *ns = child ? xmpp_stanza_get_ns(child) : NULL;
	bool get = strcmp(type, "get") == 0;
	char bare[MXB_JID_MAX + 1];
	if (mxb_jid_bare(from, bare, sizeof(bare)) < 0)
		return 1;
	struct mxb_component_info info = {0};
	if (local[0] && c->handlers.describe)
		c->handlers.describe(local, bare, &info, c->data);
	bool visible = !local[0] || (info.exists && info.allowed);
	xmpp_stanza_t *reply = NULL;
	if (ns && get && strcmp(ns, NS_PING) == 0 && visible) {
		reply = mxb_stanza_result(st);
	} else if (ns && get && strcmp(ns, NS_DISCO_INFO) == 0 && visible) {
		reply = mxb_stanza_result(st);
		xmpp_stanza_t *q =
			reply ? mxb_stanza_add_child(c->ctx, reply, "query", NS_DISCO_INFO) : NULL;
		xmpp_stanza_t *id = q ? mxb_stanza_add_child(c->ctx, q, "identity", NULL) : NULL;
		if (id && local[0]) {
			xmpp_stanza_set_attribute(id, "category", "client");
			xmpp_stanza_set_attribute(id, "type", "bot");
			xmpp_stanza_set_attribute(
				id, "name", info.friendly ? info.friendly : local);
		} else if (id) {
			xmpp_stanza_set_attribute(id, "category", "gateway");
			xmpp_stanza_set_attribute(id, "type", "mqtt");
			xmpp_stanza_set_attribute(id, "name", "mqtt-xmpp-bridge devices");
		}
		const char *features[] = {NS_DISCO_INFO, NS_PING, NS_VCARD, NS_VERSION};
		for (size_t i = 0; q && i < sizeof(features) / sizeof(features[0]); i++) {
			xmpp_stanza_t *f = mxb_stanza_add_child(c->ctx, q, "feature", NULL);
			if (f)
				xmpp_stanza_set_attribute(f, "var", features[i]);
		}
	} else if (ns && get && strcmp(ns, NS_VCARD) == 0 && local[0] && visible) {
		reply = mxb_stanza_result(st);
		xmpp_stanza_t *v =
			reply ? mxb_stanza_add_child(c->ctx, reply, "vCard", NS_VCARD) : NULL;
		if (v) {
			mxb_stanza_add_text(c->ctx, v, "FN", info.friendly ? info.friendly : local);
			mxb_stanza_add_text(c->ctx, v, "NICKNAME", info.name ? info.name : local);
			mxb_stanza_add_text(c->ctx, v, "DESC", "A device behind mqtt-xmpp-bridge");
		}
	} else if (ns && get && strcmp(ns, NS_VERSION) == 0 && visible) {
		reply = mxb_stanza_result(st);
		xmpp_stanza_t *q =
			reply ? mxb_stanza_add_child(c->ctx, reply, "query", NS_VERSION) : NULL;
		if (q) {
			mxb_stanza_add_text(c->ctx, q, "name", "mqtt-xmpp-bridge");
			mxb_stanza_add_text(c->ctx, q, "version", MXB_VERSION);
		}
	} else if (!visible) {
		/* Devices the asker may not see do not exist for it. */
		reply = xmpp_stanza_reply_error(st, "cancel", "item-not-found", NULL);
	} else {
		reply = xmpp_stanza_reply_error(st, "cancel", "service-unavailable", NULL);
	}
	if (reply) {
		/* The reply comes from whom the request went to. */
		xmpp_stanza_set_from(reply, xmpp_stanza_get_to(st));
		xmpp_send(conn, reply);
		xmpp_stanza_release(reply);
	}
	return 1;
}

static void went_down(struct mxb_component *c, int64_t now)
{
	c->fd = -1;
	if (c->state == STATE_CLOSING || c->shutting_down) {
		c->state = STATE_CLOSED;
		return;
	}
	bool was_up = c->state == STATE_UP;
	c->state = STATE_DOWN;
	int64_t delay = mxb_backoff_down(&c->backoff, now);
	c->deadline = now + delay;
	mxb_log_info("component: reconnecting in %.1f s", (double)delay / 1000.0);
	if (was_up && c->handlers.offline)
		c->handlers.offline(c->data);
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
	xmpp_stream_error_t *stream_error, void *data)
{
	(void)conn;
	struct mxb_component *c = data;
	int64_t now = mxb_now_ms();
	if (event == XMPP_CONN_CONNECT) {
		c->state = STATE_UP;
		mxb_backoff_up(&c->backoff, now);
		/* As in xmpp.c: a log handler costs a formatted string per stanza. */
		if (mxb_log_level < MXB_LOG_DEBUG)
			c->log.handler = NULL;
		mxb_log_info("component: connected as '%s' to %s:%d", c->cfg->xmpp.component.domain,
			c->cfg->xmpp.component.host, c->cfg->xmpp.component.port);
		if (c->handlers.online)
			c->handlers.online(c->data);
		return;
	}
	if (event != XMPP_CONN_DISCONNECT && event != XMPP_CONN_FAIL)
		return;
	if (c->state == STATE_CONNECTING) {
		if (c->handshake_failed ||
			(stream_error && stream_error->type == XMPP_SE_NOT_AUTHORIZED))
			mxb_log_error("component: the server refused the secret for '%s'",
				c->cfg->xmpp.component.domain);
		else if (stream_error)
			mxb_log_error("component: the server closed the stream (condition %d)%s%s",
				(int)stream_error->type, stream_error->text ? ": " : "",
				stream_error->text ? stream_error->text : "");
		else
			mxb_log_error("component: cannot connect to %s:%d%s%s",
				c->cfg->xmpp.component.host, c->cfg->xmpp.component.port,
				error ? ": " : "", error ? strerror(error) : "");
	} else if (c->state == STATE_UP) {
		mxb_log_warn("component: disconnected%s%s", error ? ": " : "",
			error ? strerror(error) : "");
	}
	c->handshake_failed = false;
	went_down(c, now);
}

static void noop_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
	xmpp_stream_error_t *stream_error, void *data)
{
	(void)conn;
	(void)event;
	(void)error;
	(void)stream_error;
	(void)data;
}

int mxb_component_create(struct mxb_component **out, const struct mxb_config *cfg,
	const struct mxb_component_handlers *handlers, void *data)
{
	if (the_component)
		return -EBUSY;
	struct mxb_component *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = cfg;
	c->handlers = *handlers;
	c->data = data;
	c->fd = -1;
	mxb_backoff_init(&c->backoff, cfg->xmpp.reconnect_max);
	xmpp_initialize();
	c->log.handler = on_log;
	c->log.userdata = c;
	c->ctx = xmpp_ctx_new(NULL, &c->log);
	if (!c->ctx)
		goto err_shutdown;
	c->conn = xmpp_conn_new(c->ctx);
	if (!c->conn)
		goto err_free_ctx;
	xmpp_conn_set_jid(c->conn, cfg->xmpp.component.domain);
	xmpp_conn_set_pass(c->conn, cfg->xmpp.component.secret);
	xmpp_conn_set_sockopt_callback(c->conn, on_sockopt);
	/*
	 * libstrophe 0.12.2 allocates the stream management state only in
	 * xmpp_connect_client() and then uses it on every component stanza: let it allocate
	 * it with an attempt that fails at once (no host) before the first real connect.
	 */
	if (xmpp_connect_client(c->conn, "", 1, noop_conn, NULL) == XMPP_EOK)
		xmpp_disconnect(c->conn);
	xmpp_handler_add(c->conn, on_message, NULL, "message", NULL, c);
	xmpp_handler_add(c->conn, on_presence, NULL, "presence", NULL, c);
	xmpp_handler_add(c->conn, on_iq, NULL, "iq", NULL, c);
	the_component = c;
	*out = c;
	return 0;

err_free_ctx:
	xmpp_ctx_free(c->ctx);
err_shutdown:
	xmpp_shutdown();
	free(c);
	return -ENOMEM;
}

void mxb_component_destroy(struct mxb_component *c)
{
	if (!c)
		return;
	if (the_component == c)
		the_component = NULL;
	xmpp_conn_release(c->conn);
	xmpp_ctx_free(c->ctx);
	xmpp_shutdown();
	free(c);
}

static void attempt(struct mxb_component *c, int64_t now)
{
	const struct mxb_config *cfg = c->cfg;
	c->state = STATE_CONNECTING;
	c->handshake_failed = false;
	c->log.handler = on_log;
	int rc = xmpp_connect_component(c->conn, cfg->xmpp.component.host,
		(unsigned short)cfg->xmpp.component.port, on_conn, c);
	if (rc != XMPP_EOK) {
		mxb_log_warn("component: cannot start a connection to %s:%d",
			cfg->xmpp.component.host, cfg->xmpp.component.port);
		went_down(c, now);
	}
}

void mxb_component_start(struct mxb_component *c, int64_t now)
{
	attempt(c, now);
}

int mxb_component_fd(const struct mxb_component *c)
{
	if (c->state == STATE_DOWN || c->state == STATE_CLOSED)
		return -1;
	return c->fd;
}

short mxb_component_events(const struct mxb_component *c)
{
	return mxb_strophe_events(c->conn);
}

void mxb_component_handle(struct mxb_component *c, int64_t now)
{
	(void)now;
	mxb_strophe_run(c->ctx, &c->fd);
}

int64_t mxb_component_tick(struct mxb_component *c, int64_t now)
{
	if (c->state == STATE_DOWN && now >= c->deadline) {
		if (c->shutting_down)
			c->state = STATE_CLOSED;
		else
			attempt(c, now);
	} else if (c->state == STATE_CLOSING && now >= c->deadline) {
		c->state = STATE_CLOSED;
	}
	int64_t next = now + RUN_INTERVAL_MS;
	if ((c->state == STATE_DOWN || c->state == STATE_CLOSING) && c->deadline < next)
		next = c->deadline;
	return next;
}

bool mxb_component_is_up(const struct mxb_component *c)
{
	return c->state == STATE_UP;
}

int mxb_component_send_presence(struct mxb_component *c, const char *local, const char *to,
	const char *type, const char *show, const char *status)
{
	if (c->state != STATE_UP)
		return -ENOTCONN;
	char from[MXB_JID_MAX + 1];
	device_jid(c, local, from, sizeof(from));
	xmpp_stanza_t *p = xmpp_presence_new(c->ctx);
	if (!p)
		return -ENOMEM;
	xmpp_stanza_set_from(p, from);
	xmpp_stanza_set_to(p, to);
	if (type)
		xmpp_stanza_set_type(p, type);
	if (show)
		mxb_stanza_add_text(c->ctx, p, "show", show);
	if (status && *status)
		mxb_stanza_add_text(c->ctx, p, "status", status);
	xmpp_send(c->conn, p);
	xmpp_stanza_release(p);
	return 0;
}

int mxb_component_send_message(
	struct mxb_component *c, const char *local, const char *to, const char *body)
{
	if (c->state != STATE_UP)
		return -ENOTCONN;
	char from[MXB_JID_MAX + 1];
	device_jid(c, local, from, sizeof(from));
	char *id = xmpp_uuid_gen(c->ctx);
	xmpp_stanza_t *m = xmpp_message_new(c->ctx, "chat", to, id);
	if (id)
		xmpp_free(c->ctx, id);
	if (!m)
		return -ENOMEM;
	xmpp_stanza_set_from(m, from);
	xmpp_message_set_body(m, body);
	xmpp_send(c->conn, m);
	xmpp_stanza_release(m);
	return 0;
}

int mxb_component_send_forbidden(struct mxb_component *c, const char *local, const char *to,
	const char *id, const char *text)
{
	if (c->state != STATE_UP)
		return -ENOTCONN;
	char from[MXB_JID_MAX + 1];
	device_jid(c, local, from, sizeof(from));
	xmpp_stanza_t *m = mxb_stanza_forbidden(c->ctx, to, id, text);
	if (!m)
		return -ENOMEM;
	xmpp_stanza_set_from(m, from);
	xmpp_send(c->conn, m);
	xmpp_stanza_release(m);
	return 0;
}

void mxb_component_shutdown(struct mxb_component *c, int64_t now)
{
	c->shutting_down = true;
	if (c->state == STATE_UP || c->state == STATE_CONNECTING) {
		xmpp_disconnect(c->conn);
		c->state = STATE_CLOSING;
		c->deadline = now + SHUTDOWN_TIMEOUT_MS;
		return;
	}
	c->state = STATE_CLOSED;
}

bool mxb_component_is_closed(const struct mxb_component *c)
{
	return c->state == STATE_CLOSED;
}
