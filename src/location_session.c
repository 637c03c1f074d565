#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "counters.h"
#include "jid.h"
#include "location_session.h"
#include "log.h"
#include "pep.h"
#include "session.h"

/* One account. It lives in an array that never moves: the core holds pointers into it. */
struct account {
	struct mxb_session s;
	struct mxb_location *l;
	const struct mxb_location_account *cfg;
	char bare[MXB_JID_MAX + 1];
	/*
	 * The server, copied: a reload swaps the xmpp section's strings, and the location
	 * accounts keep the settings they started with (the group is read at start).
	 */
	char host[256];
	char *ca_file; /* NULL: the system store */
	enum mxb_xmpp_tls tls;
	char *held; /* the latest position not yet acknowledged; NULL: none */
	bool in_flight; /* held was sent on this connection and its result is awaited */
	bool newer; /* held was replaced while the older one was in flight */
	unsigned serial; /* of the publish ids */
	char id[32];
};

struct mxb_location {
	const struct mxb_config *cfg;
	struct mxb_counters *n;
	struct account *a;
	size_t len;
};

static const char *const features[] = {NS_DISCO_INFO, NS_PING, NS_VERSION, NULL};
static const struct mxb_session_identity identity = {
	.category = "client",
	.type = "bot",
	.name = "mqtt-xmpp-bridge location",
	.features = features,
};

static int on_certfail(const xmpp_tlscert_t *cert, const char *errormsg)
{
	(void)cert;
	mxb_log_error("location: TLS certificate of the server not accepted: %s", errormsg);
	return 0;
}

static void send_held(struct account *a);

static int on_published(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct account *a = data;
	const char *type = xmpp_stanza_get_type(st);
	a->in_flight = false;
	if (type && strcmp(type, "result") == 0) {
		a->l->n->location_published++;
		mxb_log_debug("location: published the position of '%s'", a->cfg->user);
	} else {
		/*
		 * forbidden, not-acceptable, a precondition the node does not meet: the server
		 * will say the same again, so the position is dropped rather than retried.
		 */
		a->l->n->location_failed++;
		mxb_log_warn("location: the server refused the position of '%s' as '%s': %s",
			a->cfg->user, a->bare, mxb_stanza_error_condition(st));
	}
	if (a->newer) {
		a->newer = false;
		send_held(a);
	} else {
		free(a->held);
		a->held = NULL;
	}
	return 0;
}

static void send_held(struct account *a)
{
	if (!a->held || a->in_flight || a->s.state != MXB_SESSION_UP)
		return;
	snprintf(a->id, sizeof(a->id), "geoloc%u", ++a->serial);
	xmpp_stanza_t *iq = mxb_pep_geoloc_publish(a->s.ctx, a->held, a->id);
	if (!iq) {
		mxb_log_error("location: out of memory; the position of '%s' waits", a->cfg->user);
		return;
	}
	xmpp_id_handler_add(a->s.conn, on_published, a->id, a);
	mxb_session_send(&a->s, iq);
	xmpp_stanza_release(iq);
	a->in_flight = true;
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct account *a = data;
	xmpp_stanza_t *query;
	const char *ns;
	bool get;
	if (!mxb_stanza_iq_request(st, &query, &ns, &get))
		return 1;
	xmpp_stanza_t *reply = mxb_session_answer(a->s.ctx, st, query, ns, get, &identity);
	if (!reply)
		reply = xmpp_stanza_reply_error(st, "cancel", "service-unavailable", NULL);
	if (reply) {
		mxb_session_send(&a->s, reply);
		xmpp_stanza_release(reply);
	}
	return 1;
}

static int setup(xmpp_conn_t *conn, void *data)
{
	struct account *a = data;
	long flags = mxb_session_tls_flags((int)a->tls);
	/* The IQ result is the acknowledgement: no stream management needed. */
	if (xmpp_conn_set_flags(conn, flags | XMPP_CONN_FLAG_DISABLE_SM) != XMPP_EOK)
		return -EINVAL;
	xmpp_conn_set_jid(conn, a->cfg->jid);
	xmpp_conn_set_pass(conn, a->cfg->password);
	if (a->ca_file)
		xmpp_conn_set_cafile(conn, a->ca_file);
	xmpp_conn_set_certfail_handler(conn, on_certfail);
	xmpp_handler_add(conn, on_iq, NULL, "iq", NULL, a);
	return 0;
}

static void up(int64_t now, void *data)
{
	(void)now;
	struct account *a = data;
	/*
	 * No presence: the account publishes and nothing else, so that chat messages to the
	 * person keep going to their own clients and never to this resource.
	 */
	mxb_log_info("location: '%s' publishes as '%s'", a->cfg->user, a->bare);
	send_held(a);
}

static void down(void *data)
{
	struct account *a = data;
	/* Not acknowledged: it goes out again on the next connection. */
	a->in_flight = false;
	a->newer = false;
}

static const struct mxb_session_ops ops = {
	.setup = setup,
	.up = up,
	.down = down,
};

int mxb_location_create(
	struct mxb_location **out, const struct mxb_config *cfg, struct mxb_counters *n)
{
	*out = NULL;
	if (cfg->location.accounts_len == 0)
		return 0;
	struct mxb_location *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cfg = cfg;
	l->n = n;
	l->a = calloc(cfg->location.accounts_len, sizeof(*l->a));
	if (!l->a) {
		free(l);
		return -ENOMEM;
	}
	int rc = 0;
	for (; l->len < cfg->location.accounts_len; l->len++) {
		struct account *a = &l->a[l->len];
		a->l = l;
		a->cfg = &cfg->location.accounts[l->len];
		if (mxb_jid_bare(a->cfg->jid, a->bare, sizeof(a->bare)) < 0) {
			rc = -EINVAL;
			break;
		}
		if (cfg->xmpp.host)
			snprintf(a->host, sizeof(a->host), "%s", cfg->xmpp.host);
		a->tls = cfg->xmpp.tls;
		if (cfg->xmpp.ca_file && !(a->ca_file = strdup(cfg->xmpp.ca_file))) {
			rc = -ENOMEM;
			break;
		}
		struct mxb_session_params p = {
			.kind = MXB_SESSION_CLIENT,
			.tag = "location",
			.name = a->bare,
			.host = cfg->xmpp.host ? a->host : NULL,
			.port = (unsigned short)cfg->xmpp.port,
			.reconnect_max = cfg->xmpp.reconnect_max,
			.ping_interval = cfg->xmpp.ping_interval,
			.ping_timeout = cfg->xmpp.ping_timeout,
			.connect_timeout = cfg->xmpp.connect_timeout,
			.batch_delay_us = cfg->xmpp.batch_delay_us,
		};
		rc = mxb_session_init(&a->s, &p, &ops, a);
		if (rc < 0) {
			free(a->ca_file);
			break;
		}
	}
	if (rc < 0) {
		mxb_location_destroy(l);
		return rc;
	}
	*out = l;
	return 0;
}

void mxb_location_destroy(struct mxb_location *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->len; i++) {
		mxb_session_finish(&l->a[i].s);
		free(l->a[i].held);
		free(l->a[i].ca_file);
	}
	free(l->a);
	free(l);
}

void mxb_location_start(struct mxb_location *l, int64_t now)
{
	for (size_t i = 0; l && i < l->len; i++)
		mxb_session_start(&l->a[i].s, now);
}

size_t mxb_location_pollfds(const struct mxb_location *l, struct pollfd *pfd, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; l && i < l->len && n < max; i++) {
		int fd = mxb_session_fd(&l->a[i].s);
		if (fd < 0)
			continue;
		pfd[n++] = (struct pollfd){.fd = fd, .events = mxb_session_events(&l->a[i].s)};
	}
	return n;
}

void mxb_location_handle(struct mxb_location *l, const struct pollfd *pfd, size_t n)
{
	for (size_t i = 0; l && i < l->len; i++) {
		int fd = mxb_session_fd(&l->a[i].s);
		short revents = 0;
		for (size_t k = 0; fd >= 0 && k < n; k++) {
			if (pfd[k].fd == fd)
				revents = pfd[k].revents;
		}
		mxb_session_handle(&l->a[i].s, revents);
	}
}

int64_t mxb_location_tick(struct mxb_location *l, int64_t now)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; l && i < l->len; i++) {
		int64_t t = mxb_session_tick(&l->a[i].s, now);
		if (t < next)
			next = t;
	}
	return next;
}

int mxb_location_publish(struct mxb_location *l, size_t i, const char *geoloc_xml)
{
	if (!l || i >= l->len)
		return -EINVAL;
	struct account *a = &l->a[i];
	char *copy = strdup(geoloc_xml);
	if (!copy)
		return -ENOMEM;
	/* Only the latest position matters: it replaces what waits. */
	free(a->held);
	a->held = copy;
	if (a->in_flight)
		a->newer = true;
	else
		send_held(a);
	return 0;
}

size_t mxb_location_up(const struct mxb_location *l, size_t *total)
{
	size_t n = 0;
	*total = l ? l->len : 0;
	for (size_t i = 0; l && i < l->len; i++)
		n += l->a[i].s.state == MXB_SESSION_UP;
	return n;
}

void mxb_location_shutdown(struct mxb_location *l, int64_t now)
{
	for (size_t i = 0; l && i < l->len; i++)
		mxb_session_shutdown(&l->a[i].s, now);
}

bool mxb_location_is_closed(const struct mxb_location *l)
{
	for (size_t i = 0; l && i < l->len; i++) {
		if (l->a[i].s.state != MXB_SESSION_CLOSED)
			return false;
	}
	return true;
}
