/* The outbox driven by a fake XMPP sender, a fake MQTT publisher and a fake journal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "counters.h"
#include "log.h"
#include "outbox.h"

#define MAX 64

struct fake {
	/* XMPP */
	bool up; /* else send returns -ENOTCONN */
	int send_ret; /* when up: returned instead of 0 when not 0 */
	bool acks; /* the session numbers stanzas (XEP-0198) */
	uint32_t seq; /* the last number given */
	size_t nsent;
	char ids[MAX][48];
	char bodies[MAX][32];
	/* MQTT */
	bool mqtt_up;
	int pub_ret;
	int mid;
	size_t npub;
	char topics[MAX][32];
	char payloads[MAX][32];
	/* Journal */
	size_t nadd, ndone;
	char done_ids[MAX][48];
};

static struct fake f;
static struct mxb_counters n;

static int fake_send(const char *to, const char *type, const char *body, const char *id,
	uint32_t *seq, void *data)
{
	(void)to;
	(void)type;
	CHECK(data == &f);
	if (!f.up)
		return -ENOTCONN;
	if (f.send_ret)
		return f.send_ret;
	if (f.nsent < MAX) {
		snprintf(f.ids[f.nsent], sizeof(f.ids[0]), "%s", id);
		snprintf(f.bodies[f.nsent], sizeof(f.bodies[0]), "%s", body);
	}
	f.nsent++;
	if (f.acks) {
		if (++f.seq == 0) /* 0 means "no acks": the session skips it */
			f.seq = 1;
		*seq = f.seq;
	} else {
		*seq = 0;
	}
	return 0;
}

static int fake_publish(const char *topic, const void *payload, size_t len, int qos, bool retain,
	int *mid, void *data)
{
	(void)qos;
	(void)retain;
	(void)data;
	if (!f.mqtt_up)
		return -ENOTCONN;
	if (f.pub_ret)
		return f.pub_ret;
	if (f.npub < MAX) {
		snprintf(f.topics[f.npub], sizeof(f.topics[0]), "%s", topic);
		snprintf(f.payloads[f.npub], sizeof(f.payloads[0]), "%.*s", (int)len,
			(const char *)payload);
	}
	f.npub++;
	*mid = ++f.mid;
	return 0;
}

static void fake_add(const char *id, const char *to, const char *type, const char *body, void *data)
{
	(void)id;
	(void)to;
	(void)type;
	(void)body;
	(void)data;
	f.nadd++;
}

static void fake_done(const char *id, void *data)
{
	(void)data;
	if (f.ndone < MAX)
		snprintf(f.done_ids[f.ndone], sizeof(f.done_ids[0]), "%s", id);
	f.ndone++;
}

static const struct mxb_outbox_ops ops = {fake_send, fake_publish, fake_add, fake_done};

/*
 * The log goes to a file, so that tests count the lines a burst makes. Failed checks write
 * to stderr too: logged() passes their lines on to the real one.
 */
static FILE *log_file;
static int real_stderr = -1;

static void log_capture(void)
{
	real_stderr = dup(STDERR_FILENO);
	CHECK(real_stderr >= 0);
	log_file = tmpfile();
	CHECK(log_file != NULL);
	CHECK(dup2(fileno(log_file), STDERR_FILENO) == STDERR_FILENO);
}

/* Lines logged since the last call that contain s; the log is emptied. */
static int logged(const char *s)
{
	static char buf[1 << 16];
	fflush(stderr);
	long end = lseek(STDERR_FILENO, 0, SEEK_END);
	CHECK(end >= 0 && end < (long)sizeof(buf));
	ssize_t got = pread(STDERR_FILENO, buf, (size_t)end, 0);
	CHECK(got == end);
	buf[got > 0 ? got : 0] = '\0';
	for (char *line = buf; *line;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		if (memmem(line, len, "check failed", 12) || memmem(line, len, "', want '", 9))
			CHECK(write(real_stderr, line, len) == (ssize_t)len);
		line += len;
	}
	int count = 0;
	for (char *p = buf; *s && (p = strstr(p, s)) != NULL; p += strlen(s))
		count++;
	CHECK(ftruncate(STDERR_FILENO, 0) == 0);
	CHECK(lseek(STDERR_FILENO, 0, SEEK_SET) == 0);
	return count;
}

static struct mxb_outbox *fresh(size_t bound)
{
	memset(&f, 0, sizeof(f));
	memset(&n, 0, sizeof(n));
	logged("");
	struct mxb_outbox *o = NULL;
	CHECK(mxb_outbox_create(&o, bound, &ops, &f, &n) == 0);
	return o;
}

static void send_n(struct mxb_outbox *o, int from, int count)
{
	for (int i = from; i < from + count; i++) {
		char body[16];
		snprintf(body, sizeof(body), "m%d", i);
		CHECK(mxb_outbox_send(o, "alice@example.org", "chat", body) == 0);
	}
}

static void test_acks_in_order(void)
{
	struct mxb_outbox *o = fresh(8);
	f.up = f.acks = true;
	send_n(o, 1, 3);
	CHECK(f.nsent == 3 && n.xmpp_sent == 3 && f.nadd == 3);
	CHECK(mxb_outbox_xmpp_unacked(o) == 3 && !mxb_outbox_xmpp_drained(o));
	mxb_outbox_acked(o, 2);
	CHECK(n.xmpp_acked == 2 && f.ndone == 2);
	CHECK_STR(f.done_ids[0], f.ids[0]);
	CHECK_STR(f.done_ids[1], f.ids[1]);
	mxb_outbox_acked(o, 3);
	CHECK(n.xmpp_acked == 3 && mxb_outbox_xmpp_drained(o));
	/* Ids differ per message. */
	CHECK(strcmp(f.ids[0], f.ids[1]) != 0 && strncmp(f.ids[0], "mxb-", 4) == 0);
	mxb_outbox_destroy(o);
}

static void test_acks_out_of_order(void)
{
	struct mxb_outbox *o = fresh(8);
	f.up = f.acks = true;
	f.seq = UINT32_MAX - 2;
	send_n(o, 1, 4); /* UINT32_MAX-1, UINT32_MAX, 1, 2 */
	mxb_outbox_acked(o, UINT32_MAX);
	CHECK(n.xmpp_acked == 2);
	/* A stale, lower count acknowledges nothing more. */
	mxb_outbox_acked(o, UINT32_MAX - 1);
	CHECK(n.xmpp_acked == 2 && mxb_outbox_xmpp_unacked(o) == 2);
	/* Past the wrap: the rest. */
	mxb_outbox_acked(o, 2);
	CHECK(n.xmpp_acked == 4 && mxb_outbox_xmpp_drained(o));
	/* Without acks a message is done once written. */
	f.acks = false;
	send_n(o, 5, 1);
	CHECK(mxb_outbox_xmpp_drained(o) && f.ndone == 5);
	mxb_outbox_destroy(o);
}

static void test_resend_same_ids(void)
{
	struct mxb_outbox *o = fresh(8);
	f.up = f.acks = true;
	send_n(o, 1, 3);
	char first[3][48];
	memcpy(first, f.ids, sizeof(first));
	mxb_outbox_acked(o, 1);
	f.up = false;
	mxb_outbox_xmpp_lost(o, false);
	CHECK(n.xmpp_resent == 2 && mxb_outbox_xmpp_queued(o) == 2);
	CHECK(logged("2 messages were not acknowledged; they go out again") == 1);
	send_n(o, 4, 1); /* waits behind the two */
	CHECK(mxb_outbox_xmpp_queued(o) == 3 && f.nsent == 3);
	f.up = true;
	mxb_outbox_flush_xmpp(o);
	CHECK(f.nsent == 6);
	CHECK_STR(f.ids[3], first[1]);
	CHECK_STR(f.ids[4], first[2]);
	CHECK_STR(f.bodies[3], "m2");
	CHECK_STR(f.bodies[4], "m3");
	CHECK_STR(f.bodies[5], "m4");
	CHECK(f.nadd == 4); /* journaled once, whatever the copies */
	mxb_outbox_acked(o, f.seq);
	CHECK(mxb_outbox_xmpp_drained(o));
	mxb_outbox_destroy(o);
}

static void test_quarantine(void)
{
	struct mxb_outbox *o = fresh(8);
	f.up = f.acks = true;
	send_n(o, 1, 2);
	mxb_outbox_xmpp_lost(o, true); /* first strike: resent */
	CHECK(n.quarantined == 0 && mxb_outbox_xmpp_queued(o) == 2);
	mxb_outbox_flush_xmpp(o);
	CHECK(f.nsent == 4 && mxb_outbox_xmpp_unacked(o) == 2);
	mxb_outbox_xmpp_lost(o, true); /* second: the first in flight is the cause */
	CHECK(n.quarantined == 1 && mxb_outbox_xmpp_queued(o) == 1);
	CHECK(f.ndone == 1);
	CHECK_STR(f.done_ids[0], f.ids[0]);
	CHECK(logged("quarantined the message") == 1);
	mxb_outbox_flush_xmpp(o);
	CHECK(f.nsent == 5);
	CHECK_STR(f.bodies[4], "m2");
	/* A loss without a stream error strikes no one. */
	mxb_outbox_xmpp_lost(o, false);
	mxb_outbox_flush_xmpp(o);
	mxb_outbox_xmpp_lost(o, false);
	CHECK(n.quarantined == 1 && mxb_outbox_xmpp_queued(o) == 1);
	mxb_outbox_destroy(o);
}

static void test_xmpp_bounds(void)
{
	struct mxb_outbox *o = fresh(3);
	send_n(o, 1, 5); /* XMPP down */
	CHECK(n.xmpp_queue_dropped == 2 && mxb_outbox_xmpp_queued(o) == 3);
	CHECK(logged("XMPP queue of 3 is full") == 1);
	CHECK(f.ndone == 2); /* the dropped leave the journal */
	send_n(o, 6, 2);
	CHECK(n.xmpp_queue_dropped == 4 && logged("XMPP queue of 3 is full") == 0);
	f.up = true;
	mxb_outbox_flush_xmpp(o);
	CHECK(f.nsent == 3);
	CHECK_STR(f.bodies[0], "m5"); /* the oldest went */
	CHECK(logged("XMPP queue drained") == 1);
	/* A new burst gets its own line. */
	f.up = false;
	send_n(o, 8, 4);
	CHECK(logged("XMPP queue of 3 is full") == 1);
	f.up = true;
	mxb_outbox_flush_xmpp(o);

	/* The window of unacknowledged messages. */
	logged("");
	f.acks = true;
	send_n(o, 20, 5);
	CHECK(n.unacked_dropped == 2 && mxb_outbox_xmpp_unacked(o) == 3);
	CHECK(logged("wait for the server's acknowledgement") == 1);
	mxb_outbox_acked(o, f.seq);
	CHECK(logged("acknowledgements come again") == 1);
	CHECK(mxb_outbox_xmpp_drained(o));

	/* Resending into a full queue drops the oldest of them. */
	send_n(o, 30, 3);
	f.up = false;
	send_n(o, 33, 1);
	mxb_outbox_xmpp_lost(o, false);
	CHECK(n.xmpp_resent == 2 && logged("2 go out again after the reconnect and 1 are") == 1);
	mxb_outbox_destroy(o);
}

static void test_room_refused(void)
{
	struct mxb_outbox *o = fresh(4);
	f.up = true;
	f.send_ret = -EHOSTUNREACH;
	CHECK(mxb_outbox_send(o, "room@muc", "groupchat", "x") == -EHOSTUNREACH);
	CHECK(n.room_unreachable == 1 && f.ndone == 1 && mxb_outbox_xmpp_drained(o));
	CHECK(logged("room 'room@muc' refused the bridge") == 1);
	/* A room not joined yet keeps it. */
	f.send_ret = -EAGAIN;
	CHECK(mxb_outbox_send(o, "room@muc", "groupchat", "y") == 0);
	CHECK(mxb_outbox_xmpp_queued(o) == 1);
	f.send_ret = 0;
	mxb_outbox_flush_xmpp(o);
	CHECK(f.nsent == 1 && mxb_outbox_xmpp_drained(o));
	mxb_outbox_destroy(o);
}

static void test_replay(void)
{
	struct mxb_outbox *o = fresh(4);
	CHECK(mxb_outbox_replay(o, "old-1", "alice@example.org", "chat", "kept 1") == 0);
	CHECK(mxb_outbox_replay(o, "old-2", "alice@example.org", "chat", "kept 2") == 0);
	char id[64];
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	CHECK(mxb_outbox_replay(o, id, "alice@example.org", "chat", "too long") == -EINVAL);
	CHECK(f.nadd == 0 && mxb_outbox_xmpp_queued(o) == 2);
	f.up = true;
	mxb_outbox_flush_xmpp(o);
	CHECK(f.nsent == 2);
	CHECK_STR(f.ids[0], "old-1");
	CHECK_STR(f.ids[1], "old-2");
	CHECK_STR(f.bodies[1], "kept 2");
	CHECK(f.ndone == 2 && mxb_outbox_xmpp_drained(o));
	mxb_outbox_destroy(o);
}

/* A producer that records the events of its publishes. */
struct ctx {
	int events[8];
	int nevents;
	int err;
	bool freed;
};

static void ctx_event(enum mxb_outbox_event ev, int err, void *p)
{
	struct ctx *c = p;
	CHECK(!c->freed);
	if (c->nevents < 8)
		c->events[c->nevents++] = (int)ev;
	c->err = err;
}

static void ctx_free(void *p)
{
	struct ctx *c = p;
	CHECK(!c->freed);
	c->freed = true;
}

static const struct mxb_outbox_client client = {ctx_event, ctx_free};

static int pub(struct mxb_outbox *o, const char *topic, const char *payload, int qos, bool latest,
	struct ctx *c)
{
	struct mxb_outbox_publish p = {topic, payload, strlen(payload), qos, true, latest};
	return mxb_outbox_publish(o, &p, &client, c);
}

static void test_publish(void)
{
	struct mxb_outbox *o = fresh(2);
	struct ctx c[8] = {0};
	f.mqtt_up = true;
	/* QoS 0: answered at once. */
	CHECK(pub(o, "a", "0", 0, false, &c[0]) == 0);
	CHECK(c[0].nevents == 2 && c[0].events[0] == MXB_OUTBOX_WRITTEN &&
		c[0].events[1] == MXB_OUTBOX_PUBLISHED && c[0].freed);
	/* QoS 1: when the PUBACK comes. */
	CHECK(pub(o, "a", "1", 1, false, &c[1]) == 0);
	CHECK(c[1].nevents == 1 && !c[1].freed && !mxb_outbox_mqtt_drained(o));
	CHECK(pub(o, "a", "2", 1, false, &c[2]) == 0);
	/* The window of unacknowledged publishes is full: answered now. */
	CHECK(pub(o, "a", "3", 1, false, &c[3]) == 0);
	CHECK(c[3].nevents == 2 && c[3].events[1] == MXB_OUTBOX_UNTRACKED && c[3].freed);
	mxb_outbox_published(o, 99); /* not ours: nothing */
	mxb_outbox_published(o, 3);
	CHECK(c[2].freed && c[2].events[1] == MXB_OUTBOX_PUBLISHED && !c[1].freed);
	mxb_outbox_published(o, 2);
	CHECK(c[1].freed && mxb_outbox_mqtt_drained(o));
	/* Refused by MQTT. */
	f.pub_ret = -EINVAL;
	CHECK(pub(o, "a", "4", 1, false, &c[4]) == -EINVAL);
	CHECK(c[4].nevents == 1 && c[4].events[0] == MXB_OUTBOX_FAILED && c[4].err == -EINVAL &&
		c[4].freed);
	mxb_outbox_destroy(o);
}

static void test_publish_while_down(void)
{
	struct mxb_outbox *o = fresh(2);
	struct ctx c[8] = {0};
	for (int i = 0; i < 4; i++) {
		char payload[8];
		snprintf(payload, sizeof(payload), "p%d", i);
		CHECK(pub(o, "cmd", payload, 1, false, &c[i]) == 0);
		CHECK(c[i].events[0] == MXB_OUTBOX_QUEUED);
	}
	CHECK(n.mqtt_queue_dropped == 2 && mxb_outbox_mqtt_queued(o) == 2);
	CHECK(logged("MQTT queue of 2 is full") == 1);
	CHECK(c[0].freed && c[0].events[1] == MXB_OUTBOX_DROPPED);
	CHECK(c[1].freed && c[1].events[1] == MXB_OUTBOX_DROPPED);
	CHECK(!c[2].freed && !c[3].freed);
	f.mqtt_up = true;
	mxb_outbox_flush_mqtt(o);
	CHECK(f.npub == 2);
	CHECK_STR(f.payloads[0], "p2");
	CHECK_STR(f.payloads[1], "p3");
	CHECK(logged("MQTT queue drained") == 1);
	CHECK(c[2].events[1] == MXB_OUTBOX_WRITTEN && !c[2].freed);
	mxb_outbox_published(o, 1);
	mxb_outbox_published(o, 2);
	CHECK(c[2].freed && c[3].freed && mxb_outbox_mqtt_drained(o));
	mxb_outbox_destroy(o);
}

static void test_latest(void)
{
	struct mxb_outbox *o = fresh(4);
	struct ctx c[8] = {0};
	CHECK(pub(o, "presence/alice", "away", 1, true, &c[0]) == 0);
	CHECK(pub(o, "presence/bob", "available", 1, true, &c[1]) == 0);
	CHECK(pub(o, "cmd", "x", 1, false, &c[2]) == 0);
	CHECK(pub(o, "presence/alice", "dnd", 1, true, &c[3]) == 0);
	CHECK(mxb_outbox_mqtt_queued(o) == 3 && n.mqtt_queue_dropped == 0);
	CHECK(c[0].freed && c[0].events[1] == MXB_OUTBOX_REPLACED);
	f.mqtt_up = true;
	mxb_outbox_flush_mqtt(o);
	CHECK(f.npub == 3);
	CHECK_STR(f.topics[0], "presence/alice");
	CHECK_STR(f.payloads[0], "dnd");
	CHECK_STR(f.payloads[1], "available");
	CHECK_STR(f.payloads[2], "x");
	mxb_outbox_destroy(o); /* what waits for its ack is released */
	CHECK(c[1].freed && c[2].freed && c[3].freed);
}

static void test_destroy_logs(void)
{
	struct mxb_outbox *o = fresh(4);
	struct ctx c = {0};
	send_n(o, 1, 2);
	pub(o, "cmd", "x", 1, false, &c);
	mxb_outbox_destroy(o);
	CHECK(c.freed && f.ndone == 0); /* held messages stay in the journal */
	CHECK(logged("2 messages for XMPP not delivered at exit") == 1);
	mxb_outbox_destroy(NULL);
}

int main(void)
{
	mxb_log_init(MXB_LOG_INFO);
	log_capture();
	test_acks_in_order();
	test_acks_out_of_order();
	test_resend_same_ids();
	test_quarantine();
	test_xmpp_bounds();
	test_room_refused();
	test_replay();
	test_publish();
	test_publish_while_down();
	test_latest();
	test_destroy_logs();
	logged("");
	return check_report("outbox");
}
