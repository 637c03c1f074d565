/*
 * What a session says: libstrophe's own log lines, filtered (nothing that can hold a
 * secret above debug) and read for what the connection handler is not told (a refused
 * login, stream management offered, the errno of a failed connect); why an attempt did
 * not become a session; the names of stream errors.
 */

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "ns.h"
#include "session.h"
#include "session_log.h"

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
void mxb_session_on_log(void *data, xmpp_log_level_t level, const char *area, const char *msg)
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

const char *mxb_session_error_name(xmpp_error_type_t type)
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
const char *mxb_session_condition(const xmpp_stream_error_t *se)
{
	for (xmpp_stanza_t *c = se->stanza ? xmpp_stanza_get_children(se->stanza) : NULL; c;
		c = xmpp_stanza_get_next(c)) {
		const char *name = xmpp_stanza_get_name(c), *ns = xmpp_stanza_get_ns(c);
		if (xmpp_stanza_is_tag(c) && name && strcmp(name, "text") != 0 && ns &&
			strcmp(ns, XMPP_NS_STREAMS_IETF) == 0)
			return name;
	}
	return mxb_session_error_name(se->type);
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
const char *mxb_session_peer(const struct mxb_session *s, char *buf, size_t len)
{
	if (!s->params.host)
		return "the JID's domain";
	if (!s->params.port)
		return s->params.host;
	snprintf(buf, len, "%s:%u", s->params.host, s->params.port);
	return buf;
}

/* Says once, at the error level, why an attempt did not become a session. */
void mxb_session_log_failure(const struct mxb_session *s, int error, const xmpp_stream_error_t *se)
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
			mxb_session_error_name(se->type), se->text ? ": " : "",
			se->text ? se->text : "");
	} else if (error) {
		mxb_log_error("%s: cannot connect to %s: %s", tag,
			mxb_session_peer(s, buf, sizeof(buf)), strerror(error));
	} else if (s->params.kind == MXB_SESSION_CLIENT) {
		mxb_log_error("%s: connection closed before the session was established (TLS or "
			      "authentication refused)",
			tag);
	} else {
		mxb_log_error("%s: connection closed before the session was established", tag);
	}
}
