/*
 * The session core against a scripted XEP-0114 server on loopback: two sessions in one
 * process, each finding its own socket; stanzas handled on a component connection (which
 * libstrophe 0.12.2 crashes on without the core's workaround); a reconnect on a fresh
 * connection object; and the answers every entity gives.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "session.h"

struct peer {
	struct mxb_session s;
	const char *domain;
	int listener;
	unsigned short port;
	int ups, downs, offlines, messages;
	bool blamed; /* what the last offline said */
};

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	(void)st;
	((struct peer *)data)->messages++;
	return 1;
}

static int setup(xmpp_conn_t *conn, void *data)
{
	struct peer *p = data;
	xmpp_conn_set_jid(conn, p->domain);
	xmpp_conn_set_pass(conn, "secret");
	xmpp_handler_add(conn, on_message, NULL, "message", NULL, p);
	return 0;
}

static void up(int64_t now, void *data)
{
	(void)now;
	((struct peer *)data)->ups++;
}

static void down(void *data)
{
	((struct peer *)data)->downs++;
}

static void offline(bool stream_error, void *data)
{
	((struct peer *)data)->offlines++;
	((struct peer *)data)->blamed = stream_error;
}

static const struct mxb_session_ops ops = {
	.setup = setup,
	.up = up,
	.down = down,
	.offline = offline,
};

static int listen_loopback(unsigned short *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
		getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static int peer_init(struct peer *p, const char *domain)
{
	*p = (struct peer){.domain = domain};
	p->listener = listen_loopback(&p->port);
	if (p->listener < 0)
		return -1;
	struct mxb_session_params params = {
		.kind = MXB_SESSION_COMPONENT,
		.tag = "component",
		.name = domain,
		.host = "127.0.0.1",
		.port = p->port,
		.reconnect_max = 1,
	};
	return mxb_session_init(&p->s, &params, &ops, p);
}

/* The port the session's socket is connected to, or 0. */
static unsigned short remote_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&a, &len) < 0)
		return 0;
	return ntohs(a.sin_port);
}

/* One pass of a session, with what poll says of its socket now, as the loop does. */
static void handle(struct peer *p)
{
	struct pollfd pfd = {.fd = mxb_session_fd(&p->s), .events = mxb_session_events(&p->s)};
	if (pfd.fd >= 0 && poll(&pfd, 1, 0) < 0)
		pfd.revents = 0;
	mxb_session_handle(&p->s, pfd.fd >= 0 ? pfd.revents : 0);
}

/* Runs p until its attempt's thread handed the connection over (or 3 s passed). */
static void settle(struct peer *p)
{
	for (int i = 0; i < 300 && p->s.attempt; i++) {
		struct pollfd pfd = {.fd = mxb_session_fd(&p->s), .events = POLLIN};
		poll(&pfd, 1, 10);
		handle(p);
	}
	CHECK(!p->s.attempt);
}

/* Runs both sessions and reads fd until what it read contains want (or 3 s passed). */
static bool pump_until(struct peer *a, struct peer *b, int fd, const char *want)
{
	char buf[4096];
	size_t have = 0;
	for (int i = 0; i < 300; i++) {
		handle(a);
		handle(b);
		if (fd < 0)
			return false;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 10) > 0) {
			ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
			if (n <= 0)
				return false;
			have += (size_t)n;
			buf[have] = '\0';
			if (strstr(buf, want))
				return true;
		}
	}
	return false;
}

static void pump(struct peer *a, struct peer *b, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		handle(a);
		handle(b);
		usleep(5000);
	}
}

static int accept_one(int listener)
{
	struct pollfd pfd = {.fd = listener, .events = POLLIN};
	if (poll(&pfd, 1, 3000) <= 0)
		return -1;
	return accept4(listener, NULL, NULL, SOCK_CLOEXEC);
}

static void say(int fd, const char *text)
{
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
}

/* Plays the server's part of XEP-0114 up to the accepted handshake. */
static void handshake(struct peer *a, struct peer *b, struct peer *p, int fd)
{
	CHECK(pump_until(a, b, fd, "jabber:component:accept"));
	say(fd, "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/"
		"streams' xmlns='jabber:component:accept' id='s1' from='");
	say(fd, p->domain);
	say(fd, "'>");
	CHECK(pump_until(a, b, fd, "</handshake>"));
	say(fd, "<handshake/>");
	pump(a, b, 10);
}

static void check_two_sessions(void)
{
	struct peer a, b;
	CHECK(peer_init(&a, "one.test") == 0);
	CHECK(peer_init(&b, "two.test") == 0);
	int64_t now = mxb_now_ms();
	mxb_session_start(&a.s, now);
	mxb_session_start(&b.s, now);
	CHECK(a.s.state == MXB_SESSION_CONNECTING);
	CHECK(b.s.state == MXB_SESSION_CONNECTING);
	/* Each session found its own socket in the socket callback. */
	settle(&a);
	settle(&b);
	CHECK(remote_port(mxb_session_fd(&a.s)) == a.port);
	CHECK(remote_port(mxb_session_fd(&b.s)) == b.port);

	int fa = accept_one(a.listener);
	int fb = accept_one(b.listener);
	CHECK(fa >= 0 && fb >= 0);
	handshake(&a, &b, &a, fa);
	handshake(&a, &b, &b, fb);
	CHECK(a.ups == 1 && b.ups == 1);
	CHECK(a.s.state == MXB_SESSION_UP && b.s.state == MXB_SESSION_UP);

	/* Stanzas on a component connection: 0.12.2 needs its stream management state. */
	say(fa, "<message from='x@y' to='one.test' type='chat'><body>hi</body></message>");
	say(fb, "<message from='x@y' to='two.test' type='chat'><body>hi</body></message>");
	pump(&a, &b, 10);
	CHECK(a.messages == 1 && b.messages == 1);

	xmpp_stanza_t *st = xmpp_message_new(a.s.ctx, "chat", "x@y", "m1");
	xmpp_stanza_set_from(st, "one.test");
	mxb_session_send(&a.s, st);
	xmpp_stanza_release(st);
	CHECK(a.s.sent == 1 && b.s.sent == 0);
	CHECK(pump_until(&a, &b, fa, "id=\"m1\""));

	/* The server drops a: it goes down alone and comes back on a fresh connection. */
	xmpp_conn_t *old = a.s.conn;
	close(fa);
	for (int i = 0; i < 100 && a.s.state == MXB_SESSION_UP; i++)
		pump(&a, &b, 1);
	CHECK(a.s.state == MXB_SESSION_DOWN);
	CHECK(a.downs == 1 && a.offlines == 1 && b.downs == 0);
	CHECK(mxb_session_fd(&a.s) == -1);
	mxb_session_tick(&a.s, a.s.deadline);
	CHECK(a.s.state == MXB_SESSION_CONNECTING);
	CHECK(a.s.conn != old);
	settle(&a);
	CHECK(remote_port(mxb_session_fd(&a.s)) == a.port);
	fa = accept_one(a.listener);
	CHECK(fa >= 0);
	handshake(&a, &b, &a, fa);
	CHECK(a.ups == 2 && a.s.state == MXB_SESSION_UP);
	say(fa, "<message from='x@y' to='one.test' type='chat'><body>again</body></message>");
	pump(&a, &b, 10);
	CHECK(a.messages == 2);

	/* Shutting down waits for the server's close, then the deadline. */
	mxb_session_shutdown(&a.s, now);
	CHECK(a.s.state == MXB_SESSION_CLOSING);
	mxb_session_tick(&a.s, a.s.deadline);
	CHECK(a.s.state == MXB_SESSION_CLOSED);
	CHECK(b.s.state == MXB_SESSION_UP);

	mxb_session_finish(&a.s);
	mxb_session_finish(&b.s);
	close(fa);
	close(fb);
	close(a.listener);
	close(b.listener);
}

/*
 * A stream error blames what was in flight unless it says the server goes away, moves or
 * replaced the session: ejabberd's <reset/> at its stop (which libstrophe 0.12 calls
 * undefined-condition) and Prosody's <system-shutdown/> do not.
 */
static void check_stream_errors(void)
{
	static const struct {
		const char *condition;
		bool blamed;
	} cases[] = {
		{"reset", false},
		{"system-shutdown", false},
		{"not-well-formed", true},
		{"policy-violation", true},
	};
	CHECK(!mxb_session_error_blames_sent("see-other-host"));
	CHECK(!mxb_session_error_blames_sent("conflict"));
	CHECK(mxb_session_error_blames_sent("undefined-condition"));
	CHECK(mxb_session_error_blames_sent("invalid-xml"));

	struct peer a;
	CHECK(peer_init(&a, "one.test") == 0);
	mxb_session_start(&a.s, mxb_now_ms());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = accept_one(a.listener);
		CHECK(fd >= 0);
		handshake(&a, &a, &a, fd);
		CHECK(a.s.state == MXB_SESSION_UP);
		say(fd, "<stream:error><");
		say(fd, cases[i].condition);
		say(fd, " xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
			"xmlns='urn:ietf:params:"
			"xml:ns:xmpp-streams'>bye</text></stream:error></stream:stream>");
		for (int j = 0; j < 100 && a.s.state == MXB_SESSION_UP; j++)
			pump(&a, &a, 1);
		CHECK(a.s.state == MXB_SESSION_DOWN);
		CHECK(a.offlines == (int)i + 1);
		if (a.blamed != cases[i].blamed)
			fprintf(stderr, "stream error <%s/>: blamed %d, want %d\n",
				cases[i].condition, a.blamed, cases[i].blamed);
		CHECK(a.blamed == cases[i].blamed);
		close(fd);
		mxb_session_tick(&a.s, a.s.deadline);
		CHECK(a.s.state == MXB_SESSION_CONNECTING);
	}
	mxb_session_finish(&a.s);
	close(a.listener);
}

static xmpp_stanza_t *answer(xmpp_ctx_t *ctx, const char *xml)
{
	static const char *const features[] = {"urn:xmpp:ping", NULL};
	static const struct mxb_session_identity id = {"client", "bot", "name", features};
	xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, xml);
	xmpp_stanza_t *query, *reply = NULL;
	const char *ns;
	bool get;
	if (st && mxb_stanza_iq_request(st, &query, &ns, &get))
		reply = mxb_session_answer(ctx, st, query, ns, get, &id);
	if (st)
		xmpp_stanza_release(st);
	return reply;
}

static void check_answers(void)
{
	xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);
	xmpp_stanza_t *r =
		answer(ctx, "<iq type='get' id='p1' from='a@b'><ping xmlns='urn:xmpp:ping'/></iq>");
	CHECK_STR(r ? xmpp_stanza_get_type(r) : NULL, "result");
	CHECK_STR(r ? xmpp_stanza_get_id(r) : NULL, "p1");
	if (r)
		xmpp_stanza_release(r);

	r = answer(ctx, "<iq type='get' id='d1' from='a@b'><query "
			"xmlns='http://jabber.org/protocol/disco#info'/></iq>");
	xmpp_stanza_t *q = r ? xmpp_stanza_get_child_by_ns(r, NS_DISCO_INFO) : NULL;
	xmpp_stanza_t *ident = q ? xmpp_stanza_get_child_by_name(q, "identity") : NULL;
	xmpp_stanza_t *feature = q ? xmpp_stanza_get_child_by_name(q, "feature") : NULL;
	CHECK_STR(ident ? xmpp_stanza_get_attribute(ident, "type") : NULL, "bot");
	CHECK_STR(feature ? xmpp_stanza_get_attribute(feature, "var") : NULL, "urn:xmpp:ping");
	if (r)
		xmpp_stanza_release(r);

	r = answer(
		ctx, "<iq type='get' id='v1' from='a@b'><query xmlns='jabber:iq:version'/></iq>");
	q = r ? xmpp_stanza_get_child_by_ns(r, NS_VERSION) : NULL;
	CHECK(q && xmpp_stanza_get_child_by_name(q, "version"));
	if (r)
		xmpp_stanza_release(r);

	/* A node is not the entity itself; sets, results and unknown requests are not ours. */
	CHECK(answer(ctx, "<iq type='get' id='d2' from='a@b'><query node='x' "
			  "xmlns='http://jabber.org/protocol/disco#info'/></iq>") == NULL);
	CHECK(answer(ctx, "<iq type='set' id='p2' from='a@b'><ping xmlns='urn:xmpp:ping'/></iq>") ==
		NULL);
	CHECK(answer(ctx, "<iq type='result' id='p3'/>") == NULL);
	CHECK(answer(ctx, "<iq type='get' id='u1' from='a@b'><query xmlns='urn:example'/></iq>") ==
		NULL);
	xmpp_ctx_free(ctx);
}

int main(void)
{
	mxb_log_init(MXB_LOG_ERROR);
	check_two_sessions();
	check_stream_errors();
	xmpp_initialize();
	check_answers();
	xmpp_shutdown();
	return check_report("session");
}
