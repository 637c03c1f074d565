#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "session.h"
#include "session_attempt.h"

/* libstrophe 0.12.2 reads at most this much per pass (STROPE_MESSAGE_BUFFER_SIZE). */
#define READ_SIZE 4096
/* The passes one session gets per pass of the loop. */
#define PASSES_MAX 64
/* The most plaintext one TLS record holds. */
#define RECORD_MAX 16384
/* What one pass hands libstrophe at most: one queue entry is one write and one TLS record. */
#define BATCH_MAX RECORD_MAX
/* A batch buffer that grew past this for a burst is given back once it is written. */
#define BATCH_KEEP (4 * RECORD_MAX)
/* A stream is dense enough to wait for when this many stanzas come per batch_delay_us. */
#define BATCH_DENSE 4

/*
 * What a pass sends leaves together: libstrophe writes every queued stanza on its own,
 * each its own TLS record and syscall. The stanzas are rendered here and handed over as
 * one raw string. The buffer stays NUL-terminated: xmpp_send_raw() of 0.12.2 copies with
 * strndup(), which reads up to the terminator.
 */
void mxb_session_flush(struct mxb_session *s)
{
	if (!s->out.len)
		return;
	xmpp_send_raw(s->conn, s->out.p, s->out.len);
	s->flushed_us = mxb_now_us();
	s->batches++;
	s->out.len = 0;
	s->out.p[0] = '\0';
	if (s->out.cap > BATCH_KEEP)
		mxb_session_drop_batch(s);
}

void mxb_session_drop_batch(struct mxb_session *s)
{
	free(s->out.p);
	s->out = (struct mxb_render_buf){0};
}

void mxb_session_send_raw(struct mxb_session *s, const char *text, size_t len)
{
	if (s->out.len && s->out.len + len > BATCH_MAX)
		mxb_session_flush(s);
	if (mxb_render_append(&s->out, text, len) < 0) {
		/* No memory for the batch: straight to libstrophe, which copies it itself. */
		mxb_session_flush(s);
		xmpp_send_raw(s->conn, text, len);
	}
}

/*
 * Counts a stanza sent, and the mean gap between stanzas: a moving average over about the
 * last eight. A gap counts as batch_delay_us at most (BATCH_DENSE times the densest one),
 * so that after a silence a burst is seen as dense within a dozen stanzas, while a clump
 * of a few in a thinner stream is not.
 */
static void count_sent(struct mxb_session *s)
{
	int64_t now = mxb_now_us();
	int64_t gap = now - s->sent_us;
	int64_t cap = s->params.batch_delay_us;
	if (gap > cap || gap < 0)
		gap = cap;
	if (s->gap_us > cap)
		s->gap_us = cap;
	s->gap_us += (gap - s->gap_us) / 8;
	s->sent_us = now;
	s->sent++;
}

void mxb_session_send(struct mxb_session *s, xmpp_stanza_t *st)
{
	if (s->out.len >= BATCH_MAX)
		mxb_session_flush(s);
	if (mxb_stanza_render(&s->out, st) < 0) {
		/* Too deep or no memory: libstrophe renders it, after what waits. */
		mxb_session_flush(s);
		xmpp_send(s->conn, st);
	}
	/* Counted all the same: the server's count must not run ahead of ours. */
	count_sent(s);
}

int mxb_session_send_message(struct mxb_session *s, const char *type, const char *to,
	const char *id, const char *body, bool oob)
{
	if (s->out.len >= BATCH_MAX)
		mxb_session_flush(s);
	if (mxb_render_message(&s->out, type, to, id, body, oob) < 0)
		return -ENOMEM;
	count_sent(s);
	return 0;
}

/* libstrophe runs its own exchange and timers: login, handshake, closing the stream. */
static bool busy(const struct mxb_session *s)
{
	return s->state != MXB_SESSION_UP || s->disconnecting;
}

/*
 * What a pass made leaves at its end, unless stanzas come so fast that BATCH_DENSE or more
 * are due within batch_delay_us (the mean gap says so): then the batch waits until
 * batch_delay_us has passed since the last one left, or until it fills a TLS record. A
 * dense stream thus leaves in one record per batch_delay_us, not one per message (each
 * record costs the server a read and a decryption of its own), while a lone message, or a
 * stream too thin to gather anything, waits for nothing.
 */
int64_t mxb_session_flush_at(const struct mxb_session *s)
{
	/* Without a socket nothing can leave: went_down() forgets the batch. */
	if (!s->out.len || s->fd < 0)
		return INT64_MAX;
	int delay = s->params.batch_delay_us;
	if (busy(s) || s->out.len >= BATCH_MAX || delay <= 0 || s->gap_us * BATCH_DENSE > delay)
		return 0;
	return s->flushed_us + delay;
}

static void flush_due(struct mxb_session *s)
{
	int64_t at = mxb_session_flush_at(s);
	if (at != INT64_MAX && (at == 0 || mxb_now_us() >= at))
		mxb_session_flush(s);
}

short mxb_session_events(const struct mxb_session *s)
{
	if (s->attempt)
		return POLLIN;
	/* A batch needs no POLLOUT: the loop sleeps at most until it is due (flush_at). */
	short ev = POLLIN;
	if (xmpp_conn_is_connecting(s->conn) || s->tls_held ||
		xmpp_conn_send_queue_len(s->conn) > 0)
		ev |= POLLOUT;
	return ev;
}

static int bytes_waiting(int fd)
{
	int n = 0;
	return ioctl(fd, FIONREAD, &n) < 0 ? 0 : n;
}

/*
 * ACK what was read at once: servers that keep Nagle on (Prosody 0.12 does by default)
 * hold their next small write until then, and Linux would delay the ACK up to 40 ms. The
 * kernel clears the flag again, so it is set after every handling that ran libstrophe.
 */
static void quickack(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/*
 * While libstrophe runs its own exchange: pass while the socket has data (bounded, so one
 * peer cannot starve the loop), then a few more to write what it queued itself (which
 * xmpp_conn_send_queue_len() does not count) and drain TLS records.
 */
static void handle_busy(struct mxb_session *s)
{
	for (int i = 0; i < 64; i++) {
		xmpp_run_once(s->ctx, 0);
		mxb_session_flush(s);
		if (s->fd < 0)
			return;
		quickack(s->fd);
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
			continue;
		for (int k = 0; k < 4 && s->fd >= 0; k++) {
			xmpp_run_once(s->ctx, 0);
			mxb_session_flush(s);
		}
		return;
	}
}

/*
 * An established session runs libstrophe only for what waits: data on the socket, data to
 * write, or plaintext OpenSSL may still hold. A pass writes the queue, then reads at most
 * READ_SIZE bytes of one TLS record; a record larger than that leaves the rest in OpenSSL,
 * where poll cannot see it. While the socket has more, the next pass reads that rest
 * first; when the pass that emptied the socket began with READ_SIZE or more on it, the
 * passes that drain one record follow. (What arrives between the count and the pass's own
 * select is read unseen; a large record among it waits for the socket's next data.) At
 * most PASSES_MAX passes, so that one peer cannot starve the loop.
 */
void mxb_session_handle(struct mxb_session *s, short revents)
{
	if (s->attempt) {
		if (!(revents & POLLIN) && !mxb_session_attempt_done(s))
			return;
		mxb_session_attempt_finish(s);
		if (s->attempt || s->state != MXB_SESSION_CONNECTING)
			return;
	}
	flush_due(s);
	if (s->state == MXB_SESSION_DOWN || s->state == MXB_SESSION_CLOSED || s->fd < 0)
		return;
	if (busy(s)) {
		handle_busy(s);
		return;
	}
	bool held = s->tls_held;
	s->tls_held = false;
	/* Readable with nothing to read is the peer's close: a pass reads it. */
	bool ready = revents & (POLLIN | POLLERR | POLLHUP);
	int waiting = ready ? bytes_waiting(s->fd) : 0;
	bool work = ready || held || xmpp_conn_send_queue_len(s->conn) > 0;
	int passes = 0;
	while (work && passes < PASSES_MAX) {
		int before = waiting;
		xmpp_run_once(s->ctx, 0);
		passes++;
		flush_due(s);
		if (s->fd < 0 || busy(s))
			return;
		waiting = bytes_waiting(s->fd);
		if (waiting)
			continue;
		if (held || before >= READ_SIZE) {
			for (int k = 0; k < RECORD_MAX / READ_SIZE - 1 && passes < PASSES_MAX;
				k++) {
				xmpp_run_once(s->ctx, 0);
				passes++;
				flush_due(s);
				if (s->fd < 0 || busy(s))
					return;
			}
			held = false;
			waiting = bytes_waiting(s->fd);
			if (waiting)
				continue;
		}
		work = xmpp_conn_send_queue_len(s->conn) > 0;
	}
	/* Any pass may have read, the one that only meant to write too. */
	if (passes)
		quickack(s->fd);
	/* Stopped at the bound: the rest is for the loop's next pass, after the others. */
	s->tls_held = work;
}
