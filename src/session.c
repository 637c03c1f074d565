#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "ns.h"
#include "session.h"
#include "session_attempt.h"

#define SHUTDOWN_TIMEOUT_MS 3000
/*
 * libstrophe only fires its own timers (connect, features, bind, disconnect timeouts) inside
 * xmpp_run_once: while one may be set, a pass is due this often. An established session has
 * none of them.
 */
#define RUN_INTERVAL_MS 1000
/* An attempt that took this long (DNS to login) is given up. */
#define CONNECT_TIMEOUT_S 30
/* libstrophe reads at most this much per pass; a TLS record may hold four times as much. */
#define READ_CHUNK 4096
/*
 * Passes of an established session per wakeup: 64 KiB of input, then the loop serves the
 * others (the MQTT side's acks, which free its in-flight window) before it reads on.
 */
#define PASSES_MAX 16
/* A pass this long after a read catches plaintext that the estimate below missed. */
#define RECHECK_MS 200

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
	/* On an attempt's thread the registry is not walked: the loop may change it. */
	struct mxb_session *s = mxb_attempt_running();
	if (s)
		mxb_attempt_socket(s, *(int *)sock);
	else if ((s = session_of(conn)) != NULL)
		s->fd = *(int *)sock;
	int one = 1;
	setsockopt(*(int *)sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return xmpp_sockopt_cb_keepalive(conn, sock);
}

/* The session whose fresh connection object ops->setup is setting up (the loop only). */
static struct mxb_session *setting_up;

/* Every stanza handler of a user: on an attempt's thread the stanza passes it by. */
static int on_stanza(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	const struct mxb_session_handler *h = data;
	if (mxb_attempt_on_thread(NULL))
		return 1;
	return h->fn(conn, st, h->data);
}

int mxb_session_handler_add(xmpp_conn_t *conn, xmpp_handler fn, const char *ns, const char *name,
	const char *type, void *data)
{
	struct mxb_session *s = setting_up ? setting_up : session_of(conn);
	if (!s || s->handlers_len == MXB_SESSION_HANDLERS_MAX)
		return -ENOSPC;
	struct mxb_session_handler *h = &s->handlers[s->handlers_len++];
	*h = (struct mxb_session_handler){.fn = fn, .data = data};
	xmpp_handler_add(conn, on_stanza, ns, name, type, h);
	return 0;
}

/*
 * Every disconnect goes through here: what the stream still has to say goes before the
 * </stream:stream> that libstrophe queues (and it arms a timer of its own).
 */
static void disconnect(struct mxb_session *s)
{
	mxb_session_flush(s);
	xmpp_disconnect(s->conn);
	s->disconnecting = true;
	s->queued = true;
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
	/* The old connection object goes below: its handlers' entries are reused. */
	s->handlers_len = 0;
	setting_up = s;
	int rc = s->ops->setup(conn, s->data);
	setting_up = NULL;
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
	if (s->conn)
		release_conn(s->conn);
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
	if (mxb_attempt_live(s)) {
		/* Blocks while the thread waits for the resolver; a TLS handshake ends at once. */
		struct mxb_attempt_result r;
		mxb_attempt_cancel(s);
		mxb_attempt_join(s, &r);
		free(r.se_text);
		free(r.se_condition);
	}
	free(s->out);
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

/* Where the session connects, for log lines. */
static const char *peer(const struct mxb_session *s, char *buf, size_t len)
{
	if (!s->params.host)
		return "the JID's domain";
	if (!s->params.port)
		return s->params.host;
	snprintf(buf, len, "%s:%u", s->params.host, s->params.port);
	return buf;
}

static void went_down(struct mxb_session *s, int64_t now, bool stream_error)
{
	if (s->ops->down)
		s->ops->down(s->data);
	s->fd = -1;
	s->ping_deadline = 0;
	s->disconnecting = false;
	s->queued = false;
	/* Counted as sent: the users resend what the server did not acknowledge. */
	s->out_len = 0;
	s->tls_pending = 0;
	s->recheck = 0;
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
	char buf[300];
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

/* A connection event, on the loop: from libstrophe, or recorded by an attempt's thread. */
static void conn_event(struct mxb_session *s, xmpp_conn_event_t event, int error, bool stream_error,
	xmpp_error_type_t se_type, const char *se_text, const char *condition)
{
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
	/* A connection given up or released fires its end when the session is down already. */
	if ((event != XMPP_CONN_DISCONNECT && event != XMPP_CONN_FAIL) ||
		s->state == MXB_SESSION_DOWN || s->state == MXB_SESSION_CLOSED)
		return;
	xmpp_stream_error_t se = {.type = se_type, .text = (char *)se_text};
	if (s->state == MXB_SESSION_CONNECTING) {
		log_failure(s, error ? error : s->connect_error, stream_error ? &se : NULL);
	} else if (s->state == MXB_SESSION_UP) {
		if (stream_error)
			mxb_log_warn("%s: stream error <%s/>%s%s", s->params.tag, condition,
				se_text ? ": " : "", se_text ? se_text : "");
		else
			mxb_log_warn("%s: disconnected%s%s", s->params.tag, error ? ": " : "",
				error ? strerror(error) : "");
	}
	s->auth_failed = false;
	went_down(s, now, stream_error && mxb_session_error_blames_sent(condition));
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
	xmpp_stream_error_t *stream_error, void *data)
{
	(void)conn;
	struct mxb_session *s = data;
	if (mxb_attempt_on_thread(s)) {
		mxb_attempt_record(s, event, error, stream_error,
			stream_error ? condition_of(stream_error) : NULL);
		return;
	}
	conn_event(s, event, error, stream_error != NULL,
		stream_error ? stream_error->type : XMPP_SE_UNDEFINED_CONDITION,
		stream_error ? stream_error->text : NULL,
		stream_error ? condition_of(stream_error) : NULL);
}

/* On the attempt's thread: DNS and the start of the connection. */
static int connect_on_thread(struct mxb_session *s)
{
	return s->params.kind == MXB_SESSION_CLIENT
		       ? xmpp_connect_client(s->conn, s->params.host, s->params.port, on_conn, s)
		       : xmpp_connect_component(
				 s->conn, s->params.host, s->params.port, on_conn, s);
}

static void attempt(struct mxb_session *s, int64_t now)
{
	char buf[300];
	s->state = MXB_SESSION_CONNECTING;
	if (s->used && new_conn(s) < 0) {
		mxb_log_error("%s: out of memory", s->params.tag);
		went_down(s, now, false);
		return;
	}
	s->used = true;
	s->out_len = 0;
	s->auth_failed = false;
	s->connect_error = 0;
	s->sm_offered = false;
	s->log.handler = on_log;
	int timeout = s->params.connect_timeout ? s->params.connect_timeout : CONNECT_TIMEOUT_S;
	s->deadline = now + (int64_t)timeout * 1000;
	mxb_log_debug("%s: connecting to %s", s->params.tag, peer(s, buf, sizeof(buf)));
	int rc = mxb_attempt_start(s, connect_on_thread);
	if (rc < 0) {
		mxb_log_error(
			"%s: cannot start a connection attempt: %s", s->params.tag, strerror(-rc));
		went_down(s, now, false);
	}
}

/*
 * The attempt's thread ended: the connection is the loop's again. What it saw is acted on
 * here, unless the attempt was given up meanwhile (then it was said and counted already).
 */
static void attempt_joined(struct mxb_session *s)
{
	char buf[300];
	bool cancelled = mxb_attempt_cancelled(s);
	struct mxb_attempt_result r;
	mxb_attempt_join(s, &r);
	if (!cancelled && r.started && r.sock >= 0)
		s->fd = r.sock;
	if (cancelled) {
		/* The connection object, in whatever state, goes with the next attempt. */
	} else if (!r.started) {
		/* A synchronous failure (resolver, socket) fires no callback. */
		mxb_log_warn("%s: cannot start a connection to %s", s->params.tag,
			peer(s, buf, sizeof(buf)));
		went_down(s, mxb_now_ms(), false);
	} else {
		conn_event(s, r.event, r.error, r.stream_error, r.se_type, r.se_text,
			r.se_condition ? r.se_condition : "undefined-condition");
	}
	free(r.se_text);
	free(r.se_condition);
}

/* The loop gives the attempt up: it is said now, the thread is joined when it ends. */
static void attempt_give_up(struct mxb_session *s, int64_t now, const char *why)
{
	char buf[300];
	mxb_attempt_cancel(s);
	if (why)
		mxb_log_error("%s: no session with %s %s; giving up this attempt", s->params.tag,
			peer(s, buf, sizeof(buf)), why);
	went_down(s, now, false);
}

void mxb_session_start(struct mxb_session *s, int64_t now)
{
	attempt(s, now);
}

int mxb_session_fd(const struct mxb_session *s)
{
	/* While an attempt runs, its thread owns the socket: the loop waits for its end. */
	if (mxb_attempt_live(s))
		return mxb_attempt_fd(s);
	if (s->state == MXB_SESSION_DOWN || s->state == MXB_SESSION_CLOSED)
		return -1;
	return s->fd;
}

short mxb_session_events(const struct mxb_session *s)
{
	short ev = POLLIN;
	if (mxb_attempt_live(s))
		return ev;
	if (s->queued || xmpp_conn_is_connecting(s->conn) || xmpp_conn_send_queue_len(s->conn) > 0)
		ev |= POLLOUT;
	return ev;
}

/* Whether libstrophe may have a timer of its own set: then it needs passes on a cadence. */
static bool strophe_timers(const struct mxb_session *s)
{
	return s->state != MXB_SESSION_UP || s->disconnecting;
}

/* Bytes waiting in the socket's receive buffer (0 when unknown). */
static int unread(int fd)
{
	int n = 0;
	return ioctl(fd, FIONREAD, &n) < 0 ? 0 : n;
}

/*
 * While connecting or closing, libstrophe writes what a read answered only in the next
 * pass and keeps timers: pass while the socket has data (bounded, so one peer cannot
 * starve the loop), then a few more to flush what the last reads queued.
 */
static void handle_busy(struct mxb_session *s, short revents, int64_t now)
{
	if (!revents && !s->queued && now < s->next_run)
		return;
	s->next_run = now + RUN_INTERVAL_MS;
	for (int i = 0; i < 64; i++) {
		if (s->state == MXB_SESSION_UP && !s->disconnecting)
			mxb_session_flush(s);
		s->queued = false;
		xmpp_run_once(s->ctx, 0);
		if (s->fd < 0)
			return;
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
			continue;
		for (int k = 0; k < 4 && s->fd >= 0; k++) {
			if (s->state == MXB_SESSION_UP && !s->disconnecting)
				mxb_session_flush(s);
			xmpp_run_once(s->ctx, 0);
		}
		return;
	}
}

/*
 * An established session passes only when something waits: the socket woke, something was
 * queued since the last pass, or TLS holds plaintext. A pass of xmpp_run_once() first
 * writes the queue, then reads at most 4 KiB if the socket has data; a TLS record holds up
 * to 16 KiB, which OpenSSL keeps where poll cannot see it. How much it keeps is told by
 * what the pass took from the socket (FIONREAD before and after): a record of n bytes
 * leaves about n - 4 KiB. What arrives during a pass blurs that count, so a pass
 * RECHECK_MS after a read catches what it missed. Passes go on while data waits or
 * handlers queued answers (bounded, so one peer cannot starve the loop).
 */
void mxb_session_handle(struct mxb_session *s, short revents, int64_t now)
{
	if (mxb_attempt_live(s)) {
		if (!mxb_attempt_done(s))
			return;
		attempt_joined(s);
		revents = POLLIN;
	}
	if (s->state == MXB_SESSION_DOWN || s->state == MXB_SESSION_CLOSED ||
		s->state == MXB_SESSION_CONNECTING)
		return;
	if (strophe_timers(s)) {
		handle_busy(s, revents, now);
		return;
	}
	bool recheck = s->recheck && now >= s->recheck;
	if (!revents && !s->queued && s->tls_pending <= 0 && !recheck)
		return;
	if (recheck) {
		/* Whatever OpenSSL may hold: a record's worth of passes. */
		s->recheck = 0;
		if (s->tls_pending <= 0)
			s->tls_pending = 3 * READ_CHUNK + 1;
	}
	bool read = false;
	int before = unread(s->fd);
	for (int i = 0; i < PASSES_MAX; i++) {
		mxb_session_flush(s);
		s->queued = false;
		xmpp_run_once(s->ctx, 0);
		if (s->fd < 0)
			return;
		if (strophe_timers(s)) {
			s->next_run = now;
			return;
		}
		int after = unread(s->fd);
		/*
		 * OpenSSL takes a record from the socket only once the last one is read out: what
		 * a pass took is a new record, of which 4 KiB were read. Nothing taken: the pass
		 * read from what OpenSSL held.
		 */
		int consumed = before - after;
		if (consumed > 0)
			s->tls_pending = consumed - READ_CHUNK;
		else if (s->tls_pending > 0)
			s->tls_pending -= READ_CHUNK;
		if (consumed > 0)
			read = true;
		before = after;
		if (after == 0 && s->tls_pending <= 0 && !s->queued)
			break;
	}
	if (read) {
		if (!s->recheck)
			s->recheck = now + RECHECK_MS;
		/*
		 * ACK what was read at once: servers that keep Nagle on (Prosody 0.12 does by
		 * default) hold their next small write until then, and Linux would delay the ACK
		 * up to 40 ms. The kernel clears the flag again, so it is set after each read.
		 */
		int one = 1;
		setsockopt(s->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	}
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

int64_t mxb_session_tick(struct mxb_session *s, int64_t now)
{
	switch (s->state) {
	case MXB_SESSION_DOWN:
		/* The next attempt waits for the last one's thread (its end wakes the loop). */
		if (now >= s->deadline && !mxb_attempt_live(s)) {
			if (s->shutting_down)
				s->state = MXB_SESSION_CLOSED;
			else
				attempt(s, now);
		}
		break;
	case MXB_SESSION_CONNECTING:
		if (now >= s->deadline && mxb_attempt_live(s)) {
			char within[32];
			snprintf(within, sizeof(within), "within %d s",
				s->params.connect_timeout ? s->params.connect_timeout
							  : CONNECT_TIMEOUT_S);
			attempt_give_up(s, now, within);
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
	case MXB_SESSION_CLOSED:
		break;
	}
	/* Stable deadlines: the loop re-arms its timer only when one changes. */
	int64_t next = INT64_MAX;
	if (s->state == MXB_SESSION_DOWN || s->state == MXB_SESSION_CLOSING ||
		s->state == MXB_SESSION_CONNECTING)
		next = s->deadline;
	if (s->state == MXB_SESSION_DOWN && mxb_attempt_live(s))
		next = INT64_MAX;
	if (s->state != MXB_SESSION_UP && s->state != MXB_SESSION_CLOSING)
		return next;
	if (s->queued || s->tls_pending > 0)
		return now;
	if (strophe_timers(s))
		return s->next_run < next ? s->next_run : next;
	if (s->recheck && s->recheck < next)
		next = s->recheck;
	if (s->params.ping_interval) {
		int64_t p = s->ping_deadline ? s->ping_deadline : s->next_ping;
		if (p < next)
			next = p;
	}
	return next;
}

void mxb_session_shutdown(struct mxb_session *s, int64_t now)
{
	s->shutting_down = true;
	if (s->state == MXB_SESSION_CONNECTING && mxb_attempt_live(s)) {
		/* Nothing to close yet: the thread ends on its own, joined at the latest by finish.
		 */
		mxb_attempt_cancel(s);
		s->state = MXB_SESSION_CLOSED;
		return;
	}
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
	case MXB_SESSION_CONNECTING:
		if (mxb_attempt_live(s)) {
			/* went_down() plans no backoff; the next attempt waits for this thread. */
			s->reconnecting = true;
			attempt_give_up(s, now, NULL);
			break;
		}
		/* fall through */
	case MXB_SESSION_UP:
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
