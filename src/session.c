#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "ns.h"
#include "session.h"
#include "session_attempt.h"

#define SHUTDOWN_TIMEOUT_MS 3000
/* "HOST:PORT": the config takes host names up to MXB_CONF_HOST_MAX bytes. */
#define PEER_MAX (MXB_CONF_HOST_MAX + sizeof(":65535"))
/* libstrophe fires its own timers (login, closing) only inside xmpp_run_once. */
#define RUN_INTERVAL_MS 1000

/*
 * libstrophe 0.12.2 hands its socket callback the connection and nothing else: the live
 * sessions are listed here to find the one a new socket belongs to. It is walked once per
 * socket, never per stanza. Its first entry initializes the library, its last shuts it down.
 */
static struct mxb_session *sessions;

static struct mxb_session *session_of(const xmpp_conn_t *conn)
{
	for (struct mxb_session *s = sessions; s; s = s->next) {
		if (s->conn == conn)
			return s;
	}
	return NULL;
}

static void registry_add(struct mxb_session *s)
{
	if (!sessions)
		xmpp_initialize();
	s->next = sessions;
	sessions = s;
}

static void registry_remove(struct mxb_session *s)
{
	for (struct mxb_session **p = &sessions; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	if (!sessions)
		xmpp_shutdown();
}

int64_t mxb_sessions_flush_at(void)
{
	int64_t at = INT64_MAX;
	for (const struct mxb_session *s = sessions; s; s = s->next) {
		int64_t t = mxb_session_flush_at(s);
		if (t < at)
			at = t;
	}
	return at;
}

static bool is_area(const char *area, const char *name)
{
	return strcmp(area, name) == 0;
}

/*
 * libstrophe's log, routed through ours. At debug it dumps every stanza sent and received,
 * the SASL exchange and the component's handshake digest among them: only the areas free of
 * those pass. It is also the only place that tells a refused login from a dropped
 * connection, and whether the server offered stream management: read both on the way.
 */
static void on_log(void *data, xmpp_log_level_t level, const char *area, const char *msg)
{
	struct mxb_session *s = data;
	bool xmpp = is_area(area, "xmpp");
	bool dump = xmpp && (strncmp(msg, "RECV", 4) == 0 || strncmp(msg, "SENT", 4) == 0);
	if ((xmpp && strstr(msg, "auth failed")) ||
		(is_area(area, "auth") && strstr(msg, "Handshake failed")))
		s->auth_failed = true;
	if (dump && level == XMPP_LEVEL_DEBUG &&
		(strncmp(msg, "RECV: <features", 15) == 0 ||
			strncmp(msg, "RECV: <stream:features", 22) == 0) &&
		strstr(msg, NS_SM "\"") != NULL)
		s->sm_offered = true;
	/*
	 * A refused or unreachable TCP connect reaches the connection handler with error 0
	 * (libstrophe 0.12 keeps the errno for this debug line): without it the failure
	 * would read like a refused TLS or login.
	 */
	int e;
	if (xmpp && level == XMPP_LEVEL_DEBUG &&
		sscanf(msg, "connection failed, error %d", &e) == 1 && e > 0)
		s->connect_error = e;
	if (level == XMPP_LEVEL_DEBUG) {
		bool safe = is_area(area, "tls") || is_area(area, "sock") ||
			    is_area(area, "resolver") || (xmpp && !dump);
		if (safe)
			mxb_log_debug("%s: %s: %s", s->params.tag, area, msg);
		return;
	}
	if (is_area(area, "auth") && strstr(msg, "Digest"))
		return;
	/* libstrophe's errors are often followed by our own, clearer line: keep theirs lower. */
	enum mxb_log_level l = level == XMPP_LEVEL_INFO ? MXB_LOG_INFO : MXB_LOG_WARN;
	if (xmpp)
		mxb_log(l, "%s: %s", s->params.tag, msg);
	else
		mxb_log(l, "%s: %s: %s", s->params.tag, area, msg);
}

static int on_sockopt(xmpp_conn_t *conn, void *sock)
{
	struct mxb_session *s = mxb_session_attempt_current();
	if (s)
		mxb_session_attempt_socket(s, *(int *)sock);
	else if ((s = session_of(conn)))
		s->fd = *(int *)sock;
	int one = 1;
	setsockopt(*(int *)sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return xmpp_sockopt_cb_keepalive(conn, sock);
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

/* xmpp_conn_release() of 0.12.2 leaves the stream management state (and its copies). */
static void release_conn(xmpp_conn_t *conn)
{
	xmpp_sm_state_t *sm = xmpp_conn_get_sm_state(conn);
	if (sm)
		xmpp_free_sm_state(sm);
	xmpp_conn_release(conn);
}

/*
 * A fresh connection object for every attempt: reusing one makes libstrophe resume the old
 * stream and resend its own copies of what the bridge resends itself.
 */
static int new_conn(struct mxb_session *s)
{
	xmpp_conn_t *conn = xmpp_conn_new(s->ctx);
	if (!conn)
		return -ENOMEM;
	int rc = s->ops->setup(conn, s->data);
	if (rc < 0)
		goto err_release_conn;
	if (s->params.kind == MXB_SESSION_COMPONENT) {
		/*
		 * libstrophe 0.12.2 allocates the stream management state only in
		 * xmpp_connect_client() and then uses it on every component stanza: let it
		 * allocate it with an attempt that fails at once (no host) before the real
		 * connect. A libstrophe that fixes this allocates it anyway.
		 */
		if (xmpp_connect_client(conn, "", 1, noop_conn, NULL) == XMPP_EOK)
			xmpp_disconnect(conn);
	}
	xmpp_conn_set_sockopt_callback(conn, on_sockopt);
	if (s->conn) {
		/* One left mid-attempt disconnects now: its event is no news. */
		s->releasing = true;
		release_conn(s->conn);
		s->releasing = false;
	}
	s->conn = conn;
	return 0;

err_release_conn:
	release_conn(conn);
	return rc;
}

int mxb_session_init(struct mxb_session *s, const struct mxb_session_params *params,
	const struct mxb_session_ops *ops, void *data)
{
	int rc = -ENOMEM;
	*s = (struct mxb_session){
		.params = *params,
		.ops = ops,
		.data = data,
		.fd = -1,
		.state = MXB_SESSION_DOWN,
		.gap_us = INT32_MAX,
	};
	mxb_backoff_init(&s->backoff, params->reconnect_max);
	registry_add(s);
	s->log.handler = on_log;
	s->log.userdata = s;
	/* libstrophe keeps the pointer: the handler can be switched off later. */
	s->ctx = xmpp_ctx_new(NULL, &s->log);
	if (!s->ctx)
		goto err_unregister;
	rc = new_conn(s);
	if (rc < 0)
		goto err_free_ctx;
	return 0;

err_free_ctx:
	xmpp_ctx_free(s->ctx);
err_unregister:
	registry_remove(s);
	return rc;
}

void mxb_session_finish(struct mxb_session *s)
{
	mxb_session_drop_batch(s);
	if (s->attempt) {
		mxb_session_attempt_cancel(s);
		/* Cut, it returns within a pass of its own (100 ms), unless in the resolver. */
		if (!mxb_session_attempt_wait(s, 1000)) {
			/* Still in the resolver, with the context: left to the exit. */
			registry_remove(s);
			return;
		}
		struct mxb_attempt_result r;
		mxb_session_attempt_join(s, &r);
	}
	s->releasing = true;
	release_conn(s->conn);
	xmpp_ctx_free(s->ctx);
	registry_remove(s);
}

static const char *stream_error_name(xmpp_error_type_t type)
{
	static const char *const names[] = {"bad-format", "bad-namespace-prefix", "conflict",
		"connection-timeout", "host-gone", "host-unknown", "improper-addressing",
		"internal-server-error", "invalid-from", "invalid-id", "invalid-namespace",
		"invalid-xml", "not-authorized", "policy-violation", "remote-connection-failed",
		"resource-constraint", "restricted-xml", "see-other-host", "system-shutdown",
		"undefined-condition", "unsupported-encoding", "unsupported-stanza-type",
		"unsupported-version", "not-well-formed"};
	size_t i = (size_t)type;
	return i < sizeof(names) / sizeof(names[0]) ? names[i] : "unknown";
}

/*
 * The condition of a stream error as the server wrote it: libstrophe 0.12 knows only
 * RFC 6120's list and calls anything else (ejabberd's <reset/> when it stops)
 * undefined-condition.
 */
static const char *condition_of(const xmpp_stream_error_t *se)
{
	for (xmpp_stanza_t *c = se->stanza ? xmpp_stanza_get_children(se->stanza) : NULL; c;
		c = xmpp_stanza_get_next(c)) {
		const char *name = xmpp_stanza_get_name(c), *ns = xmpp_stanza_get_ns(c);
		if (xmpp_stanza_is_tag(c) && name && strcmp(name, "text") != 0 && ns &&
			strcmp(ns, XMPP_NS_STREAMS_IETF) == 0)
			return name;
	}
	return stream_error_name(se->type);
}

bool mxb_session_error_blames_sent(const char *condition)
{
	/* The server goes away, moves, or replaced or timed out the session. */
	static const char *const departures[] = {"system-shutdown", "reset", "see-other-host",
		"host-gone", "conflict", "connection-timeout", "remote-connection-failed"};
	for (size_t i = 0; i < sizeof(departures) / sizeof(departures[0]); i++)
		if (strcmp(condition, departures[i]) == 0)
			return false;
	return true;
}

/* Where the session connects, for log lines: a host name of the config and a port. */
static const char *peer(const struct mxb_session *s, char *buf, size_t len)
{
	if (!s->params.host)
		return "the JID's domain";
	if (!s->params.port)
		return s->params.host;
	snprintf(buf, len, "%s:%u", s->params.host, s->params.port);
	return buf;
}

/* What was sent before goes out before the stream's close. */
static void disconnect(struct mxb_session *s)
{
	if (s->attempt) {
		/* The thread's steps fail at once; the loop takes it up when it is done. */
		mxb_session_attempt_cancel(s);
		return;
	}
	mxb_session_flush(s);
	s->disconnecting = true;
	xmpp_disconnect(s->conn);
}

static void went_down(struct mxb_session *s, int64_t now, bool stream_error)
{
	if (s->ops->down)
		s->ops->down(s->data);
	s->fd = -1;
	s->out.len = 0;
	if (s->out.p)
		s->out.p[0] = '\0';
	s->disconnecting = false;
	s->tls_held = false;
	s->ping_deadline = 0;
	if (s->state == MXB_SESSION_CLOSING || s->shutting_down) {
		s->state = MXB_SESSION_CLOSED;
		return;
	}
	bool was_up = s->state == MXB_SESSION_UP;
	s->state = MXB_SESSION_DOWN;
	int64_t delay = s->reconnecting ? 0 : mxb_backoff_down(&s->backoff, now);
	s->deadline = now + delay;
	if (s->reconnecting)
		mxb_log_info("%s: reconnecting with the new settings", s->params.tag);
	else
		mxb_log_info("%s: reconnecting in %.1f s", s->params.tag, (double)delay / 1000.0);
	s->reconnecting = false;
	if (was_up && s->ops->offline)
		s->ops->offline(stream_error, s->data);
}

/* Says once, at the error level, why an attempt did not become a session. */
static void log_failure(const struct mxb_session *s, int error, const xmpp_stream_error_t *se)
{
	const char *tag = s->params.tag;
	char buf[PEER_MAX];
	if (s->auth_failed || (se && se->type == XMPP_SE_NOT_AUTHORIZED)) {
		if (s->params.kind == MXB_SESSION_CLIENT)
			mxb_log_error("%s: authentication failed for '%s'", tag, s->params.name);
		else
			mxb_log_error(
				"%s: the server refused the secret for '%s'", tag, s->params.name);
	} else if (se) {
		mxb_log_error("%s: server closed the stream before the session: %s%s%s", tag,
			stream_error_name(se->type), se->text ? ": " : "",
			se->text ? se->text : "");
	} else if (error) {
		mxb_log_error("%s: cannot connect to %s: %s", tag, peer(s, buf, sizeof(buf)),
			strerror(error));
	} else if (s->params.kind == MXB_SESSION_CLIENT) {
		mxb_log_error("%s: connection closed before the session was established (TLS or "
			      "authentication refused)",
			tag);
	} else {
		mxb_log_error("%s: connection closed before the session was established", tag);
	}
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
	xmpp_stream_error_t *stream_error, void *data)
{
	(void)conn;
	struct mxb_session *s = data;
	if (s->releasing)
		return;
	if (mxb_session_attempt_current() == s) {
		/* On the attempt's thread: the loop takes it up when the thread is done. */
		if (event == XMPP_CONN_DISCONNECT || event == XMPP_CONN_FAIL)
			mxb_session_attempt_failed(
				s, error ? error : s->connect_error, stream_error);
		return;
	}
	int64_t now = mxb_now_ms();
	if (event == XMPP_CONN_CONNECT) {
		s->state = MXB_SESSION_UP;
		/*
		 * libstrophe formats every stanza for a log handler, even one that drops it: once
		 * the login (whose failures the handler reads) is over, only debug needs it.
		 */
		if (mxb_log_level < MXB_LOG_DEBUG)
			s->log.handler = NULL;
		s->auth_failed = false;
		mxb_backoff_up(&s->backoff, now);
		s->next_ping = now + (int64_t)s->params.ping_interval * 1000;
		s->sent = 0;
		s->ops->up(now, s->data);
		return;
	}
	if (event != XMPP_CONN_DISCONNECT && event != XMPP_CONN_FAIL)
		return;
	if (s->state == MXB_SESSION_CONNECTING) {
		if (!s->timed_out)
			log_failure(s, error ? error : s->connect_error, stream_error);
	} else if (s->state == MXB_SESSION_UP) {
		if (stream_error)
			mxb_log_warn("%s: stream error <%s/>%s%s", s->params.tag,
				condition_of(stream_error), stream_error->text ? ": " : "",
				stream_error->text ? stream_error->text : "");
		else
			mxb_log_warn("%s: disconnected%s%s", s->params.tag, error ? ": " : "",
				error ? strerror(error) : "");
	}
	s->auth_failed = false;
	went_down(
		s, now, stream_error && mxb_session_error_blames_sent(condition_of(stream_error)));
}

static void attempt(struct mxb_session *s, int64_t now)
{
	char buf[PEER_MAX];
	if (s->attempt && !mxb_session_attempt_done(s)) {
		/* The thread of an attempt that timed out is still in the resolver. */
		mxb_log_warn("%s: the name lookup of the last attempt has not returned; not "
			     "trying again yet",
			s->params.tag);
		s->state = MXB_SESSION_CONNECTING;
		went_down(s, now, false);
		return;
	}
	if (s->attempt) {
		struct mxb_attempt_result r;
		mxb_session_attempt_join(s, &r);
	}
	s->state = MXB_SESSION_CONNECTING;
	s->timed_out = false;
	s->attempt_deadline =
		s->params.connect_timeout ? now + (int64_t)s->params.connect_timeout * 1000 : 0;
	if (s->used && new_conn(s) < 0) {
		mxb_log_error("%s: out of memory", s->params.tag);
		went_down(s, now, false);
		return;
	}
	s->used = true;
	s->auth_failed = false;
	s->connect_error = 0;
	s->sm_offered = false;
	s->log.handler = on_log;
	mxb_log_debug("%s: connecting to %s", s->params.tag, peer(s, buf, sizeof(buf)));
	if (mxb_session_attempt_start(s, on_conn) == 0)
		return;
	/* No thread: the same steps in the loop. */
	int rc = s->params.kind == MXB_SESSION_CLIENT
			 ? xmpp_connect_client(s->conn, s->params.host, s->params.port, on_conn, s)
			 : xmpp_connect_component(
				   s->conn, s->params.host, s->params.port, on_conn, s);
	if (rc != XMPP_EOK) {
		/* A synchronous failure (resolver, socket) fires no callback. */
		mxb_log_warn("%s: cannot start a connection to %s", s->params.tag,
			peer(s, buf, sizeof(buf)));
		went_down(s, now, false);
	}
}

void mxb_session_start(struct mxb_session *s, int64_t now)
{
	attempt(s, now);
}

int mxb_session_fd(const struct mxb_session *s)
{
	if (s->attempt)
		return mxb_session_attempt_fd(s);
	if (s->state == MXB_SESSION_DOWN || s->state == MXB_SESSION_CLOSED)
		return -1;
	return s->fd;
}

static int on_pong(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	(void)st;
	struct mxb_session *s = data;
	/* Any answer, even an error, proves the link is alive. */
	s->ping_deadline = 0;
	return 0;
}

int mxb_session_ping(struct mxb_session *s, const char *id, xmpp_handler handler, void *data)
{
	xmpp_stanza_t *iq = xmpp_iq_new(s->ctx, "get", id);
	if (!iq)
		return -ENOMEM;
	mxb_stanza_add_child(s->ctx, iq, "ping", NS_PING);
	xmpp_id_handler_add(s->conn, handler, id, data);
	mxb_session_send(s, iq);
	xmpp_stanza_release(iq);
	return 0;
}

static void tick_ping(struct mxb_session *s, int64_t now)
{
	if (!s->params.ping_interval)
		return;
	if (s->ping_deadline && now >= s->ping_deadline) {
		mxb_log_warn("%s: no answer to ping within %d s; reconnecting", s->params.tag,
			s->params.ping_timeout);
		s->ping_deadline = 0;
		disconnect(s);
	} else if (!s->ping_deadline && now >= s->next_ping) {
		if (mxb_session_ping(s, "mxb-ping", on_pong, s) == 0)
			s->ping_deadline = now + (int64_t)s->params.ping_timeout * 1000;
		s->next_ping = now + (int64_t)s->params.ping_interval * 1000;
	}
}

/*
 * An attempt that is no session after connect_timeout fails: cut on its thread (a stalled
 * handshake fails at once), closed in the loop. A thread still in the resolver a second
 * later is left to finish on its own, and the backoff goes on without it.
 */
static void tick_attempt(struct mxb_session *s, int64_t now)
{
	char buf[PEER_MAX];
	if (!s->attempt_deadline || now < s->attempt_deadline)
		return;
	if (!s->timed_out) {
		s->timed_out = true;
		mxb_log_error("%s: no session with %s within %d s (xmpp.connect_timeout)",
			s->params.tag, peer(s, buf, sizeof(buf)), s->params.connect_timeout);
		disconnect(s);
	} else if (s->attempt && now >= s->attempt_deadline + RUN_INTERVAL_MS) {
		went_down(s, now, false);
	}
}

void mxb_session_attempt_finish(struct mxb_session *s)
{
	char buf[PEER_MAX];
	struct mxb_attempt_result r;
	mxb_session_attempt_join(s, &r);
	if (s->state != MXB_SESSION_CONNECTING && s->state != MXB_SESSION_CLOSING)
		return; /* given up on already; the next attempt releases the connection */
	int64_t now = mxb_now_ms();
	if (r.rc != XMPP_EOK) {
		/* A synchronous failure (resolver, socket) fires no callback. */
		if (!s->timed_out)
			mxb_log_warn("%s: cannot start a connection to %s", s->params.tag,
				peer(s, buf, sizeof(buf)));
		went_down(s, now, false);
		return;
	}
	if (r.failed || r.cancelled) {
		xmpp_stream_error_t se = {.type = r.stream_error};
		if (r.failed && !r.cancelled && !s->timed_out)
			log_failure(s, r.error, r.has_stream_error ? &se : NULL);
		s->auth_failed = false;
		went_down(s, now, false);
		return;
	}
	/* What could block is done: the loop goes on with the login. */
	s->fd = r.fd;
}

int64_t mxb_session_tick(struct mxb_session *s, int64_t now)
{
	switch (s->state) {
	case MXB_SESSION_DOWN:
		if (now >= s->deadline) {
			if (s->shutting_down)
				s->state = MXB_SESSION_CLOSED;
			else
				attempt(s, now);
		}
		break;
	case MXB_SESSION_UP:
		tick_ping(s, now);
		break;
	case MXB_SESSION_CLOSING:
		if (now >= s->deadline) {
			mxb_log_warn("%s: server did not close the stream in time", s->params.tag);
			s->state = MXB_SESSION_CLOSED;
		}
		break;
	case MXB_SESSION_CONNECTING:
		tick_attempt(s, now);
		break;
	case MXB_SESSION_CLOSED:
		break;
	}
	int64_t next = now + RUN_INTERVAL_MS;
	if (s->state == MXB_SESSION_CONNECTING && s->attempt_deadline && !s->timed_out &&
		s->attempt_deadline < next)
		next = s->attempt_deadline;
	if (s->state == MXB_SESSION_UP && !s->disconnecting) {
		/* Established, libstrophe has no timer of its own: only the ping wakes it. */
		next = INT64_MAX;
		if (s->params.ping_interval)
			next = s->ping_deadline ? s->ping_deadline : s->next_ping;
	}
	if ((s->state == MXB_SESSION_DOWN || s->state == MXB_SESSION_CLOSING) && s->deadline < next)
		next = s->deadline;
	return next;
}

void mxb_session_shutdown(struct mxb_session *s, int64_t now)
{
	s->shutting_down = true;
	if (s->state == MXB_SESSION_UP || s->state == MXB_SESSION_CONNECTING) {
		disconnect(s);
		s->state = MXB_SESSION_CLOSING;
		s->deadline = now + SHUTDOWN_TIMEOUT_MS;
		return;
	}
	s->state = MXB_SESSION_CLOSED;
}

void mxb_session_set_params(struct mxb_session *s, const struct mxb_session_params *params)
{
	int old_max = s->params.reconnect_max;
	s->params = *params;
	if (params->reconnect_max != old_max)
		mxb_backoff_init(&s->backoff, params->reconnect_max);
}

void mxb_session_reconnect(
	struct mxb_session *s, const struct mxb_session_params *params, int64_t now)
{
	mxb_session_set_params(s, params);
	if (s->shutting_down)
		return;
	switch (s->state) {
	case MXB_SESSION_UP:
	case MXB_SESSION_CONNECTING:
		/* The DISCONNECT event goes through went_down(), which plans no backoff now. */
		s->reconnecting = true;
		disconnect(s);
		break;
	case MXB_SESSION_DOWN:
		s->deadline = now;
		break;
	case MXB_SESSION_CLOSING:
	case MXB_SESSION_CLOSED:
		break;
	}
}

xmpp_stanza_t *mxb_stanza_add_child(
	xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *ns)
{
	xmpp_stanza_t *c = xmpp_stanza_new(ctx);
	if (!c)
		return NULL;
	xmpp_stanza_set_name(c, name);
	if (ns)
		xmpp_stanza_set_ns(c, ns);
	xmpp_stanza_add_child(parent, c);
	/* The parent holds a reference now; the returned pointer stays valid with it. */
	xmpp_stanza_release(c);
	return c;
}

void mxb_stanza_add_text(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *text)
{
	xmpp_stanza_t *c = mxb_stanza_add_child(ctx, parent, name, NULL);
	xmpp_stanza_t *t = c ? xmpp_stanza_new(ctx) : NULL;
	if (!t)
		return;
	xmpp_stanza_set_text(t, text);
	xmpp_stanza_add_child(c, t);
	xmpp_stanza_release(t);
}

xmpp_stanza_t *mxb_stanza_result(xmpp_stanza_t *st)
{
	xmpp_stanza_t *r = xmpp_stanza_reply(st);
	if (r)
		xmpp_stanza_set_type(r, "result");
	return r;
}

xmpp_stanza_t *mxb_stanza_forbidden(
	xmpp_ctx_t *ctx, const char *to, const char *id, const char *text)
{
	xmpp_stanza_t *m = xmpp_message_new(ctx, "error", to, id);
	xmpp_stanza_t *err = m ? mxb_stanza_add_child(ctx, m, "error", NULL) : NULL;
	if (err) {
		xmpp_stanza_set_type(err, "auth");
		mxb_stanza_add_child(ctx, err, "forbidden", NS_STANZAS);
		xmpp_stanza_t *t = mxb_stanza_add_child(ctx, err, "text", NS_STANZAS);
		xmpp_stanza_t *tt = t ? xmpp_stanza_new(ctx) : NULL;
		if (tt) {
			xmpp_stanza_set_text(tt, text);
			xmpp_stanza_add_child(t, tt);
			xmpp_stanza_release(tt);
		}
	}
	return m;
}

xmpp_stanza_t *mxb_stanza_presence(
	xmpp_ctx_t *ctx, const char *type, const char *to, const char *status)
{
	xmpp_stanza_t *p = xmpp_presence_new(ctx);
	if (!p)
		return NULL;
	if (type)
		xmpp_stanza_set_type(p, type);
	if (to)
		xmpp_stanza_set_to(p, to);
	if (status && *status)
		mxb_stanza_add_text(ctx, p, "status", status);
	return p;
}

const char *mxb_stanza_error_condition(xmpp_stanza_t *st)
{
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "error");
	for (xmpp_stanza_t *c = e ? xmpp_stanza_get_children(e) : NULL; c;
		c = xmpp_stanza_get_next(c)) {
		const char *ns = xmpp_stanza_get_ns(c);
		const char *name = xmpp_stanza_get_name(c);
		if (ns && name && strcmp(ns, NS_STANZAS) == 0 && strcmp(name, "text") != 0)
			return name;
	}
	return "unknown";
}

bool mxb_stanza_iq_request(xmpp_stanza_t *st, xmpp_stanza_t **query, const char **ns, bool *get)
{
	const char *type = xmpp_stanza_get_type(st);
	if (!type)
		return false;
	*get = strcmp(type, "get") == 0;
	if (!*get && strcmp(type, "set") != 0)
		return false;
	xmpp_stanza_t *child = xmpp_stanza_get_children(st);
	while (child && !xmpp_stanza_is_tag(child))
		child = xmpp_stanza_get_next(child);
	*query = child;
	*ns = child ? xmpp_stanza_get_ns(child) : NULL;
	return true;
}

static xmpp_stanza_t *disco_info(
	xmpp_ctx_t *ctx, xmpp_stanza_t *st, const struct mxb_session_identity *id)
{
	xmpp_stanza_t *reply = mxb_stanza_result(st);
	xmpp_stanza_t *q = reply ? mxb_stanza_add_child(ctx, reply, "query", NS_DISCO_INFO) : NULL;
	xmpp_stanza_t *ident = q ? mxb_stanza_add_child(ctx, q, "identity", NULL) : NULL;
	if (ident) {
		xmpp_stanza_set_attribute(ident, "category", id->category);
		xmpp_stanza_set_attribute(ident, "type", id->type);
		xmpp_stanza_set_attribute(ident, "name", id->name);
	}
	for (const char *const *f = id->features; q && *f; f++) {
		xmpp_stanza_t *e = mxb_stanza_add_child(ctx, q, "feature", NULL);
		if (e)
			xmpp_stanza_set_attribute(e, "var", *f);
	}
	return reply;
}

xmpp_stanza_t *mxb_session_answer(xmpp_ctx_t *ctx, xmpp_stanza_t *st, xmpp_stanza_t *query,
	const char *ns, bool get, const struct mxb_session_identity *id)
{
	if (!ns || !get)
		return NULL;
	if (strcmp(ns, NS_PING) == 0)
		return mxb_stanza_result(st);
	if (strcmp(ns, NS_DISCO_INFO) == 0 && !xmpp_stanza_get_attribute(query, "node"))
		return disco_info(ctx, st, id);
	if (strcmp(ns, NS_VERSION) == 0) {
		xmpp_stanza_t *reply = mxb_stanza_result(st);
		xmpp_stanza_t *q =
			reply ? mxb_stanza_add_child(ctx, reply, "query", NS_VERSION) : NULL;
		if (q) {
			mxb_stanza_add_text(ctx, q, "name", "mqtt-xmpp-bridge");
			mxb_stanza_add_text(ctx, q, "version", MXB_VERSION);
		}
		return reply;
	}
	return NULL;
}

long mxb_session_tls_flags(int tls)
{
	switch ((enum mxb_xmpp_tls)tls) {
	case MXB_XMPP_TLS_DIRECT:
		return XMPP_CONN_FLAG_LEGACY_SSL;
	case MXB_XMPP_TLS_NONE:
		return XMPP_CONN_FLAG_DISABLE_TLS;
	case MXB_XMPP_TLS_STARTTLS:
		break;
	}
	return XMPP_CONN_FLAG_MANDATORY_TLS;
}
