#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "config.h"
#include "log.h"
#include "mqtt.h"

/* libmosquitto 2.0.11 may spin on a TLS handshake the peer dropped: bound it ourselves. */
#define CONNACK_TIMEOUT_MS 15000
#define SHUTDOWN_TIMEOUT_MS 3000
/* libmosquitto's timers (keepalive) while connecting, and at most this often when up. */
#define MISC_INTERVAL_MS 1000
/* The user property that marks the bridge's own publishes (MQTT 5). */
#define ORIGIN_PROPERTY "mqtt-xmpp-bridge"

enum state {
	STATE_DOWN, /* waiting for the reconnect deadline */
	STATE_CONNECTING, /* socket open, waiting for CONNACK */
	STATE_UP,
	STATE_CLOSING, /* offline status sent, waiting for its PUBACK */
	STATE_CLOSED,
};

struct mxb_mqtt {
	const struct mxb_config *cfg;
	struct mosquitto *mosq;
	struct mxb_mqtt_handlers handlers;
	void *data;
	enum state state;
	struct mxb_backoff backoff;
	int64_t deadline; /* reconnect, CONNACK or shutdown deadline */
	int64_t next_misc;
	int offline_mid;
	mosquitto_property *mark; /* ORIGIN_PROPERTY = client id, on every publish */
	char tls_error[256]; /* OpenSSL's reason for the last failure */
	bool shutting_down;
	bool tls_opts_set; /* mosquitto_tls_opts_set was called on this client object */
	/*
	 * What the broker's CONNACK grants (MQTT 5; 3.1.1 says nothing, so: all). Each limit
	 * is logged when it is first seen or changes, not on every reconnect.
	 */
	struct {
		bool known;
		uint32_t session_expiry; /* what the broker keeps, in s */
		uint32_t max_packet; /* 0: no limit */
		bool shared; /* $share/ filters */
		bool retain;
		int max_qos;
	} grant;
};

static int translate(int rc)
{
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		return 0;
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	case MOSQ_ERR_NO_CONN:
	case MOSQ_ERR_CONN_LOST:
		return -ENOTCONN;
	case MOSQ_ERR_INVAL:
	case MOSQ_ERR_MALFORMED_UTF8:
		return -EINVAL;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return -EMSGSIZE;
	case MOSQ_ERR_ERRNO:
		return errno ? -errno : -EIO;
	default:
		return -EIO;
	}
}

static void on_log(struct mosquitto *mosq, void *data, int level, const char *str)
{
	(void)mosq;
	struct mxb_mqtt *m = data;
	/*
	 * The library logs no secrets; CONNECT lines carry the client id only. OpenSSL's
	 * errors are kept for the one line that says what failed, once per attempt.
	 */
	const char *ssl = strstr(str, "OpenSSL Error");
	if (ssl) {
		const char *reason = strrchr(str, ':');
		snprintf(m->tls_error, sizeof(m->tls_error), "%s", reason ? reason + 1 : str);
		mxb_log_debug("mqtt: %s", str);
	} else if (level & MOSQ_LOG_ERR)
		mxb_log_error("mqtt: %s", str);
	else if (level & MOSQ_LOG_WARNING)
		mxb_log_warn("mqtt: %s", str);
	else if (level & (MOSQ_LOG_NOTICE | MOSQ_LOG_INFO))
		mxb_log_debug("mqtt: %s", str);
	else if (level & MOSQ_LOG_DEBUG)
		mxb_log_debug("mqtt: %s", str);
}

static void went_down(struct mxb_mqtt *m, int64_t now)
{
	if (m->state == STATE_CLOSING || m->state == STATE_CLOSED) {
		m->state = STATE_CLOSED;
		return;
	}
	if (m->state == STATE_DOWN)
		return;
	bool was_up = m->state == STATE_UP;
	m->state = STATE_DOWN;
	int64_t delay = mxb_backoff_down(&m->backoff, now);
	m->deadline = now + delay;
	mxb_log_info("mqtt: reconnecting in %.1f s", (double)delay / 1000.0);
	if (was_up && m->handlers.disconnected)
		m->handlers.disconnected(m->data);
}

/*
 * Reads what the broker grants from the CONNACK properties and says, once per change, which
 * guarantee a limit weakens. An absent property means the broker takes the client's value
 * (session expiry) or sets no limit.
 */
static void read_grant(struct mxb_mqtt *m, const mosquitto_property *props)
{
	uint32_t want = (uint32_t)m->cfg->mqtt.session_expiry;
	uint32_t expiry = want, max_packet = 0;
	uint8_t shared = 1, retain = 1, max_qos = 2;
	if (m->cfg->mqtt.version == 5) {
		mosquitto_property_read_int32(
			props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, &expiry, false);
		mosquitto_property_read_int32(
			props, MQTT_PROP_MAXIMUM_PACKET_SIZE, &max_packet, false);
		mosquitto_property_read_byte(props, MQTT_PROP_SHARED_SUB_AVAILABLE, &shared, false);
		mosquitto_property_read_byte(props, MQTT_PROP_RETAIN_AVAILABLE, &retain, false);
		mosquitto_property_read_byte(props, MQTT_PROP_MAXIMUM_QOS, &max_qos, false);
	}
	bool first = !m->grant.known;
	if (want > 0 && expiry < want && (first || expiry != m->grant.session_expiry))
		mxb_log_warn("mqtt: the broker keeps the session %" PRIu32 " s, not %" PRIu32
			     " s: a longer outage loses what arrives meanwhile",
			expiry, want);
	if (max_packet > 0 && (first || max_packet != m->grant.max_packet))
		mxb_log_warn("mqtt: the broker takes packets of at most %" PRIu32
			     " bytes: a larger command is refused",
			max_packet);
	if (!shared && (first || m->grant.shared) && m->cfg->mqtt.share_group)
		mxb_log_error(
			"mqtt: 'mqtt.share_group' needs shared subscriptions, which the "
			"broker does not have: the notify and pubsub feeds are not subscribed");
	else if (!shared && (first || m->grant.shared))
		mxb_log_warn("mqtt: the broker has no shared subscriptions: '$share/' filters are "
			     "not subscribed");
	if (!retain && (first || m->grant.retain))
		mxb_log_warn("mqtt: the broker keeps no retained messages: the status and "
			     "retained publishes are sent unretained");
	if (max_qos < 2 && (first || max_qos != m->grant.max_qos))
		mxb_log_warn("mqtt: the broker takes QoS %d at most: publishes asking for more go "
			     "at QoS %d",
			max_qos, max_qos);
	m->grant.known = true;
	m->grant.session_expiry = expiry;
	m->grant.max_packet = max_packet;
	m->grant.shared = shared != 0;
	m->grant.retain = retain != 0;
	m->grant.max_qos = max_qos;
}

static void on_connect(
	struct mosquitto *mosq, void *data, int rc, int flags, const mosquitto_property *props)
{
	(void)mosq;
	struct mxb_mqtt *m = data;
	int64_t now = mxb_now_ms();
	if (rc != 0) {
		const char *why = m->cfg->mqtt.version == 5 ? mosquitto_reason_string(rc)
							    : mosquitto_connack_string(rc);
		mxb_log_error("mqtt: %s:%d refused the connection: %s", m->cfg->mqtt.host,
			m->cfg->mqtt.port, why);
		/* The broker closes the socket; make sure we retry later rather than now. */
		mosquitto_disconnect(m->mosq);
		went_down(m, now);
		return;
	}
	m->state = STATE_UP;
	read_grant(m, props);
	/* libmosquitto formats a debug line per packet for an installed callback. */
	if (mxb_log_level < MXB_LOG_DEBUG)
		mosquitto_log_callback_set(m->mosq, NULL);
	mxb_backoff_up(&m->backoff, now);
	mxb_log_info("mqtt: connected to %s:%d as '%s'%s", m->cfg->mqtt.host, m->cfg->mqtt.port,
		m->cfg->mqtt.client_id, flags & 1 ? " (session resumed)" : "");
	const char *status = m->cfg->mqtt.status_topic;
	if (status && *status) {
		int prc = mosquitto_publish(m->mosq, NULL, status, 6, "online",
			m->grant.max_qos ? 1 : 0, m->grant.retain);
		if (prc != MOSQ_ERR_SUCCESS)
			mxb_log_warn("mqtt: cannot publish status to '%s': %s", status,
				mosquitto_strerror(prc));
	}
	if (m->handlers.connected)
		m->handlers.connected(m->data);
}

static void on_disconnect(struct mosquitto *mosq, void *data, int rc, const mosquitto_property *p)
{
	(void)mosq;
	(void)p;
	struct mxb_mqtt *m = data;
	if ((m->state == STATE_UP || m->state == STATE_CONNECTING) && m->tls_error[0])
		mxb_log_error("mqtt: TLS with %s:%d failed: %s", m->cfg->mqtt.host,
			m->cfg->mqtt.port, m->tls_error);
	else if (m->state == STATE_UP || m->state == STATE_CONNECTING)
		mxb_log_warn("mqtt: disconnected from %s:%d: %s", m->cfg->mqtt.host,
			m->cfg->mqtt.port, rc ? mosquitto_strerror(rc) : "closed");
	m->tls_error[0] = '\0';

	went_down(m, mxb_now_ms());
}

static bool marked_as_own(struct mxb_mqtt *m, const mosquitto_property *props)
{
	const mosquitto_property *p = props;
	bool skip = false;
	for (;;) {
		char *name = NULL, *value = NULL;
		p = mosquitto_property_read_string_pair(
			p, MQTT_PROP_USER_PROPERTY, &name, &value, skip);
		if (!p)
			return false;
		skip = true;
		bool own = strcmp(name, ORIGIN_PROPERTY) == 0 &&
			   strcmp(value, m->cfg->mqtt.client_id) == 0;
		free(name);
		free(value);
		if (own)
			return true;
	}
}

static void on_message(struct mosquitto *mosq, void *data, const struct mosquitto_message *msg,
	const mosquitto_property *props)
{
	(void)mosq;
	struct mxb_mqtt *m = data;
	/* While closing, what arrives was acknowledged to the broker already: pass it on. */
	struct mxb_mqtt_message out = {
		.topic = msg->topic,
		.payload = msg->payload ? msg->payload : "",
		.len = (size_t)msg->payloadlen,
		.qos = msg->qos,
		.retain = msg->retain,
		.own = props && marked_as_own(m, props),
	};
	if (m->handlers.message)
		m->handlers.message(&out, m->data);
}

static void on_publish(
	struct mosquitto *mosq, void *data, int mid, int reason, const mosquitto_property *props)
{
	(void)mosq;
	(void)props;
	struct mxb_mqtt *m = data;
	if (reason >= 0x80)
		mxb_log_warn("mqtt: broker refused publish %d: %s", mid,
			mosquitto_reason_string(reason));
	if (m->state == STATE_CLOSING && mid == m->offline_mid) {
		mosquitto_disconnect_v5(m->mosq, 0, NULL);
		return;
	}
	if (m->handlers.published)
		m->handlers.published(mid, m->data);
}

static int setup(struct mxb_mqtt *m)
{
	const struct mxb_config *cfg = m->cfg;
	int rc;
	rc = mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
		cfg->mqtt.version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	if (rc != MOSQ_ERR_SUCCESS)
		goto err;
	/* No Nagle delay: messages are small and a command should not wait 40 ms. */
	rc = mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	if (rc != MOSQ_ERR_SUCCESS)
		goto err;
	if (cfg->mqtt.username) {
		rc = mosquitto_username_pw_set(m->mosq, cfg->mqtt.username, cfg->mqtt.password);
		if (rc != MOSQ_ERR_SUCCESS)
			goto err;
	}
	if (cfg->mqtt.tls) {
		if (cfg->mqtt.ca_file) {
			/* An unreadable CA would leave the client in plaintext: never ignore this.
			 */
			rc = mosquitto_tls_set(m->mosq, cfg->mqtt.ca_file, NULL,
				cfg->mqtt.cert_file, cfg->mqtt.key_file, NULL);
		} else {
			rc = mosquitto_int_option(m->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
			if (rc == MOSQ_ERR_SUCCESS && cfg->mqtt.cert_file)
				rc = mosquitto_tls_set(m->mosq, NULL, "/etc/ssl/certs",
					cfg->mqtt.cert_file, cfg->mqtt.key_file, NULL);
		}
		if (rc != MOSQ_ERR_SUCCESS) {
			mxb_log_error("mqtt: TLS setup failed (ca_file '%s', cert_file '%s'): %s",
				cfg->mqtt.ca_file ? cfg->mqtt.ca_file : "(system)",
				cfg->mqtt.cert_file ? cfg->mqtt.cert_file : "(none)",
				mosquitto_strerror(rc));
			return -EINVAL;
		}
		/*
		 * libmosquitto 2.0.11 does not free what an earlier call set: set once per
		 * client object (the values never change).
		 */
		if (!m->tls_opts_set) {
			rc = mosquitto_tls_opts_set(m->mosq, 1, NULL, NULL);
			if (rc != MOSQ_ERR_SUCCESS)
				goto err;
			m->tls_opts_set = true;
		}
	}
	if (cfg->mqtt.status_topic && *cfg->mqtt.status_topic) {
		rc = mosquitto_will_set_v5(
			m->mosq, cfg->mqtt.status_topic, 7, "offline", 1, true, NULL);
		if (rc != MOSQ_ERR_SUCCESS)
			goto err;
	}
	if (cfg->mqtt.version == 5 && cfg->mqtt.session_expiry > 0) {
		/*
		 * MQTT 5 ends a session at disconnect unless CONNECT says how long to keep it,
		 * and only the blocking connect takes CONNECT properties. libmosquitto 2.0.11
		 * stores them before it checks the port, and every later connect sends them: an
		 * invalid port stores them without connecting.
		 */
		mosquitto_property *props = NULL;
		rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
			(uint32_t)cfg->mqtt.session_expiry);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_connect_bind_v5(
				m->mosq, "localhost", -1, cfg->mqtt.keepalive, NULL, props);
		mosquitto_property_free_all(&props);
		if (rc != MOSQ_ERR_INVAL)
			goto err;
	}
	if (cfg->mqtt.version == 5) {
		rc = mosquitto_property_add_string_pair(
			&m->mark, MQTT_PROP_USER_PROPERTY, ORIGIN_PROPERTY, cfg->mqtt.client_id);
		if (rc != MOSQ_ERR_SUCCESS)
			goto err;
	}
	mosquitto_log_callback_set(m->mosq, on_log);

	mosquitto_connect_v5_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
	mosquitto_message_v5_callback_set(m->mosq, on_message);
	mosquitto_publish_v5_callback_set(m->mosq, on_publish);
	return 0;
err:
	mxb_log_error("mqtt: client setup failed: %s", mosquitto_strerror(rc));
	return translate(rc);
}

int mxb_mqtt_create(struct mxb_mqtt **out, const struct mxb_config *cfg,
	const struct mxb_mqtt_handlers *handlers, void *data)
{
	struct mxb_mqtt *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = cfg;
	m->handlers = *handlers;
	m->data = data;
	m->state = STATE_DOWN;
	m->offline_mid = -1;
	mxb_backoff_init(&m->backoff, cfg->mqtt.reconnect_max);
	mosquitto_lib_init();
	/* A persistent session keeps subscriptions and queues QoS 1 while the bridge is away. */
	m->mosq = mosquitto_new(cfg->mqtt.client_id, cfg->mqtt.session_expiry == 0, m);
	if (!m->mosq) {
		int err = -errno;
		mxb_log_errno(MXB_LOG_ERROR, "mqtt: cannot create client");
		mosquitto_lib_cleanup();
		free(m);
		return err ? err : -ENOMEM;
	}
	int r = setup(m);
	if (r < 0) {
		mosquitto_property_free_all(&m->mark);
		mosquitto_destroy(m->mosq);
		mosquitto_lib_cleanup();
		free(m);
		return r;
	}
	*out = m;
	return 0;
}

void mxb_mqtt_destroy(struct mxb_mqtt *m)
{
	if (!m)
		return;
	mosquitto_destroy(m->mosq);
	mosquitto_property_free_all(&m->mark);
	mosquitto_lib_cleanup();
	free(m);
}

static void attempt(struct mxb_mqtt *m, int64_t now)
{
	const struct mxb_config *cfg = m->cfg;
	int rc;
	m->state = STATE_CONNECTING;
	m->deadline = now + CONNACK_TIMEOUT_MS;
	m->tls_error[0] = '\0';
	/* The library's log tells why a TLS handshake failed; once up, it is debug chatter. */
	mosquitto_log_callback_set(m->mosq, on_log);
	rc = mosquitto_connect_bind_async(
		m->mosq, cfg->mqtt.host, cfg->mqtt.port, cfg->mqtt.keepalive, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		if (rc == MOSQ_ERR_TLS || m->tls_error[0])
			mxb_log_error("mqtt: TLS with %s:%d failed: %s", cfg->mqtt.host,
				cfg->mqtt.port, m->tls_error[0] ? m->tls_error : "handshake error");
		else
			mxb_log_warn("mqtt: cannot connect to %s:%d: %s", cfg->mqtt.host,
				cfg->mqtt.port,
				rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		m->tls_error[0] = '\0';
		went_down(m, now);
		return;
	}
	m->next_misc = now + MISC_INTERVAL_MS;
	mxb_log_debug("mqtt: connecting to %s:%d", cfg->mqtt.host, cfg->mqtt.port);
}

void mxb_mqtt_start(struct mxb_mqtt *m, int64_t now)
{
	attempt(m, now);
}

int mxb_mqtt_fd(const struct mxb_mqtt *m)
{
	if (m->state == STATE_DOWN || m->state == STATE_CLOSED)
		return -1;
	return mosquitto_socket(m->mosq);
}

short mxb_mqtt_events(struct mxb_mqtt *m)
{
	return POLLIN | (mosquitto_want_write(m->mosq) ? POLLOUT : 0);
}

static void check(struct mxb_mqtt *m, int rc, int64_t now)
{
	if (rc == MOSQ_ERR_SUCCESS)
		return;
	/* Most errors already went through on_disconnect; TLS handshake failures do not. */
	if (m->state == STATE_CONNECTING || m->state == STATE_UP) {
		if (rc == MOSQ_ERR_TLS || m->tls_error[0])
			mxb_log_error("mqtt: TLS with %s:%d failed: %s", m->cfg->mqtt.host,
				m->cfg->mqtt.port,
				m->tls_error[0] ? m->tls_error : "handshake error");
		else
			mxb_log_warn("mqtt: connection to %s:%d failed: %s", m->cfg->mqtt.host,
				m->cfg->mqtt.port,
				rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		mosquitto_disconnect(m->mosq);
	}
	m->tls_error[0] = '\0';
	went_down(m, now);
}

void mxb_mqtt_handle(struct mxb_mqtt *m, short revents, int64_t now)
{
	int rc = MOSQ_ERR_SUCCESS;
	/*
	 * libmosquitto reads one packet per call: take what the socket holds now (bounded,
	 * so the XMPP side is not starved), so that one pass of the loop, and one XEP-0198
	 * ack request, covers a whole burst.
	 */
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		for (int i = 0; i < 64 && rc == MOSQ_ERR_SUCCESS; i++) {
			rc = mosquitto_loop_read(m->mosq, 1);
			int fd = mosquitto_socket(m->mosq);
			struct pollfd p = {.fd = fd, .events = POLLIN};
			if (fd < 0 || poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) {
				/*
				 * ACK what was read at once: mosquitto keeps Nagle on by default
				 * and holds its next small packet (a PUBACK, the next PUBLISH)
				 * until then, which Linux would delay up to 40 ms.
				 */
				int one = 1;
				if (fd >= 0)
					setsockopt(
						fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
				break;
			}
		}
	}
	if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket(m->mosq) >= 0 &&
		(revents & POLLOUT || mosquitto_want_write(m->mosq)))
		rc = mosquitto_loop_write(m->mosq, 1);
	check(m, rc, now);
}

/*
 * mosquitto_loop_misc() sends the keepalive's PINGREQ once keepalive seconds passed without
 * a packet, and drops a connection whose PINGRESP did not come within as long: a quarter
 * of the keepalive keeps both within a quarter of it, and idle costs four wakeups per
 * keepalive.
 */
static int64_t misc_interval(const struct mxb_mqtt *m)
{
	int64_t ms = (int64_t)m->cfg->mqtt.keepalive * 250;
	if (m->state != STATE_UP || ms < MISC_INTERVAL_MS)
		return MISC_INTERVAL_MS;
	return ms;
}

int64_t mxb_mqtt_tick(struct mxb_mqtt *m, int64_t now)
{
	switch (m->state) {
	case STATE_DOWN:
		if (now >= m->deadline) {
			if (m->shutting_down) {
				m->state = STATE_CLOSED;
				return now + 60000;
			}
			attempt(m, now);
		}
		break;
	case STATE_CONNECTING:
		if (now >= m->deadline) {
			mxb_log_warn("mqtt: no CONNACK from %s:%d within %d s", m->cfg->mqtt.host,
				m->cfg->mqtt.port, CONNACK_TIMEOUT_MS / 1000);
			mosquitto_disconnect(m->mosq);
			went_down(m, now);
		}
		break;
	case STATE_CLOSING:
		if (now >= m->deadline) {
			mxb_log_warn("mqtt: status 'offline' not acknowledged; closing anyway");
			mosquitto_disconnect_v5(m->mosq, 0, NULL);
			mosquitto_loop_write(m->mosq, 1);
			m->state = STATE_CLOSED;
		}
		break;
	case STATE_UP:
	case STATE_CLOSED:
		break;
	}
	bool misc = m->state == STATE_UP || m->state == STATE_CONNECTING;
	if (misc && now >= m->next_misc) {
		m->next_misc = now + misc_interval(m);
		int rc = mosquitto_loop_misc(m->mosq);
		if (rc != MOSQ_ERR_NO_CONN)
			check(m, rc, now);
	}
	int64_t next = misc ? m->next_misc : INT64_MAX;
	if (m->state != STATE_UP && m->state != STATE_CLOSED && m->deadline < next)
		next = m->deadline;
	return next;
}

bool mxb_mqtt_is_up(const struct mxb_mqtt *m)
{
	return m->state == STATE_UP;
}

static int subscribe(struct mxb_mqtt *m, const char *filter, int qos, int options)
{
	if (m->state != STATE_UP)
		return -ENOTCONN;
	/* A broker without them drops the connection on a $share/ filter (0x9E). */
	if (!m->grant.shared && strncmp(filter, "$share/", 7) == 0) {
		mxb_log_warn(
			"mqtt: not subscribing to '%s': the broker has no shared subscriptions",
			filter);
		return -EOPNOTSUPP;
	}
	if (qos > m->grant.max_qos)
		qos = m->grant.max_qos;
	/* No-local (MQTT 5): the broker keeps our own publishes from coming back to us. */
	int rc = m->cfg->mqtt.version == 5 ? mosquitto_subscribe_v5(m->mosq, NULL, filter, qos,
						     MQTT_SUB_OPT_NO_LOCAL | options, NULL)
					   : mosquitto_subscribe(m->mosq, NULL, filter, qos);
	if (rc != MOSQ_ERR_SUCCESS)
		mxb_log_warn("mqtt: cannot subscribe to '%s': %s", filter, mosquitto_strerror(rc));
	return translate(rc);
}

int mxb_mqtt_subscribe(struct mxb_mqtt *m, const char *filter, int qos)
{
	return subscribe(m, filter, qos, 0);
}

int mxb_mqtt_resubscribe(struct mxb_mqtt *m, const char *filter, int qos)
{
	/* Retain handling 1: retained messages only for a subscription the broker lacks. */
	return subscribe(m, filter, qos, MQTT_SUB_OPT_SEND_RETAIN_NEW);
}

int mxb_mqtt_unsubscribe(struct mxb_mqtt *m, const char *filter)
{
	if (m->state != STATE_UP)
		return -ENOTCONN;
	return translate(mosquitto_unsubscribe(m->mosq, NULL, filter));
}

int mxb_mqtt_publish(struct mxb_mqtt *m, const char *topic, const void *payload, size_t len,
	int qos, bool retain, int *mid)
{
	/* libmosquitto would queue QoS>0 unboundedly while down: the bridge holds it instead. */
	if (m->state != STATE_UP)
		return -ENOTCONN;
	if (len > INT32_MAX)
		return -EMSGSIZE;
	/* Above what CONNACK granted the broker would close the connection: ask for less. */
	if (qos > m->grant.max_qos)
		qos = m->grant.max_qos;
	retain = retain && m->grant.retain;
	int rc = mosquitto_publish_v5(m->mosq, mid, topic, (int)len, payload, qos, retain, m->mark);
	/*
	 * libmosquitto refuses a packet over the Maximum Packet Size of the CONNACK: sent, it
	 * would make the broker close the connection (and with it everything in flight).
	 */
	if (rc == MOSQ_ERR_OVERSIZE_PACKET)
		mxb_log_warn("mqtt: not publishing to '%s': %zu bytes of payload make a packet "
			     "larger than the broker takes (%" PRIu32 " bytes)",
			topic, len, m->grant.max_packet);
	return translate(rc);
}

int mxb_mqtt_reconfigure(struct mxb_mqtt *m, bool new_client, int64_t now)
{
	const struct mxb_config *cfg = m->cfg;
	if (m->shutting_down)
		return 0;
	bool was_up = m->state == STATE_UP;
	if (m->state == STATE_UP || m->state == STATE_CONNECTING) {
		/* A normal disconnect: the broker keeps the session and sends no will. */
		mosquitto_disconnect_v5(m->mosq, 0, NULL);
		mosquitto_loop_write(m->mosq, 1);
	}
	m->state = STATE_DOWN;
	if (new_client && mosquitto_reinitialise(m->mosq, cfg->mqtt.client_id,
				  cfg->mqtt.session_expiry == 0, m) != MOSQ_ERR_SUCCESS) {
		mxb_log_error("mqtt: cannot make a client for the new settings");
		return -ENOMEM;
	}
	if (new_client)
		m->tls_opts_set = false;
	/* The options are set again on the same client, which keeps what is in flight. */
	mosquitto_property_free_all(&m->mark);
	mosquitto_will_clear(m->mosq);
	int r = setup(m);
	mxb_backoff_init(&m->backoff, cfg->mqtt.reconnect_max);
	m->deadline = now;
	mxb_log_info("mqtt: the connection settings changed; reconnecting to %s:%d%s",
		cfg->mqtt.host, cfg->mqtt.port, new_client ? " as a new client" : "");
	if (was_up && m->handlers.disconnected)
		m->handlers.disconnected(m->data);
	return r;
}

void mxb_mqtt_shutdown(struct mxb_mqtt *m, int64_t now)
{
	m->shutting_down = true;
	const char *status = m->cfg->mqtt.status_topic;
	if (m->state == STATE_UP && status && *status) {
		int rc = mosquitto_publish(m->mosq, &m->offline_mid, status, 7, "offline",
			m->grant.max_qos ? 1 : 0, m->grant.retain);
		if (rc == MOSQ_ERR_SUCCESS) {
			m->state = STATE_CLOSING;
			m->deadline = now + SHUTDOWN_TIMEOUT_MS;
			return;
		}
	}
	if (m->state == STATE_UP || m->state == STATE_CONNECTING) {
		mosquitto_disconnect_v5(m->mosq, 0, NULL);
		mosquitto_loop_write(m->mosq, 1);
	}
	m->state = STATE_CLOSED;
}

bool mxb_mqtt_is_closed(const struct mxb_mqtt *m)
{
	return m->state == STATE_CLOSED;
}
