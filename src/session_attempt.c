#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session.h"
#include "session_attempt.h"

/* How long a pass of the thread waits for the socket: a cancel is seen this soon. */
#define PASS_MS 100

struct mxb_session_attempt {
	pthread_t thread;
	int efd; /* written once by the thread when it ends */
	atomic_bool done;
	atomic_bool cancel;
	/*
	 * A duplicate of the socket libstrophe made: the loop may shut it down to end a TLS
	 * handshake that waits, and a duplicate cannot be closed and its number reused under
	 * it by libstrophe. Closed at the join.
	 */
	atomic_int sock_dup;
	int (*connect)(struct mxb_session *s);
	struct mxb_attempt_result r; /* the thread's until it is done */
};

/*
 * libstrophe 0.12.2 keeps some state of the login in static storage (helgrind sees two
 * attempts' threads write the same bytes): the attempts of several sessions take turns,
 * one libstrophe call at a time. The loop's own calls, for sessions that are up, do not
 * run that code and do not take it.
 */
static pthread_mutex_t login = PTHREAD_MUTEX_INITIALIZER;

/* The session whose attempt the calling thread runs, NULL on the loop. */
static _Thread_local struct mxb_session *running;

bool mxb_attempt_on_thread(const struct mxb_session *s)
{
	return running && (!s || running == s);
}

struct mxb_session *mxb_attempt_running(void)
{
	return running;
}

void mxb_attempt_record(struct mxb_session *s, xmpp_conn_event_t event, int error,
	const xmpp_stream_error_t *se, const char *condition)
{
	struct mxb_attempt_result *r = &s->attempt->r;
	if (r->seen)
		return;
	r->seen = true;
	r->event = event;
	r->error = error;
	r->stream_error = se != NULL;
	if (se) {
		r->se_type = se->type;
		r->se_text = se->text ? strdup(se->text) : NULL;
		r->se_condition = condition ? strdup(condition) : NULL;
	}
}

void mxb_attempt_socket(struct mxb_session *s, int sock)
{
	struct mxb_session_attempt *a = s->attempt;
	a->r.sock = sock;
	int old = atomic_exchange(&a->sock_dup, fcntl(sock, F_DUPFD_CLOEXEC, 3));
	if (old >= 0)
		close(old);
	/* A cancel that came before this socket existed. */
	if (atomic_load(&a->cancel))
		shutdown(sock, SHUT_RDWR);
}

static void *run(void *arg)
{
	struct mxb_session *s = arg;
	struct mxb_session_attempt *a = s->attempt;
	running = s;
	pthread_mutex_lock(&login);
	a->r.started = a->connect(s) == XMPP_EOK;
	pthread_mutex_unlock(&login);
	while (a->r.started && !a->r.seen && !atomic_load(&a->cancel)) {
		pthread_mutex_lock(&login);
		xmpp_run_once(s->ctx, PASS_MS);
		pthread_mutex_unlock(&login);
	}
	running = NULL;
	atomic_store(&a->done, true);
	uint64_t one = 1;
	if (write(a->efd, &one, sizeof(one)) < 0) {
		/* An eventfd write fails only on overflow, which one write cannot cause. */
	}
	return NULL;
}

int mxb_attempt_start(struct mxb_session *s, int (*connect)(struct mxb_session *s))
{
	struct mxb_session_attempt *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		int rc = -errno;
		free(a);
		return rc;
	}
	atomic_init(&a->done, false);
	atomic_init(&a->cancel, false);
	atomic_init(&a->sock_dup, -1);
	a->connect = connect;
	a->r.sock = -1;
	s->attempt = a;
	int rc = pthread_create(&a->thread, NULL, run, s);
	if (rc != 0) {
		close(a->efd);
		free(a);
		s->attempt = NULL;
		return -rc;
	}
	return 0;
}

bool mxb_attempt_live(const struct mxb_session *s)
{
	return s->attempt != NULL;
}

int mxb_attempt_fd(const struct mxb_session *s)
{
	return s->attempt ? s->attempt->efd : -1;
}

bool mxb_attempt_done(const struct mxb_session *s)
{
	return s->attempt && atomic_load(&s->attempt->done);
}

void mxb_attempt_cancel(struct mxb_session *s)
{
	struct mxb_session_attempt *a = s->attempt;
	if (!a || atomic_exchange(&a->cancel, true))
		return;
	int sock = atomic_load(&a->sock_dup);
	if (sock >= 0)
		shutdown(sock, SHUT_RDWR);
}

bool mxb_attempt_cancelled(const struct mxb_session *s)
{
	return s->attempt && atomic_load(&s->attempt->cancel);
}

void mxb_attempt_join(struct mxb_session *s, struct mxb_attempt_result *r)
{
	struct mxb_session_attempt *a = s->attempt;
	pthread_join(a->thread, NULL);
	*r = a->r;
	int sock = atomic_load(&a->sock_dup);
	if (sock >= 0)
		close(sock);
	close(a->efd);
	free(a);
	s->attempt = NULL;
}
