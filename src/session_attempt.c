#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session_attempt.h"

struct mxb_session_attempt {
	pthread_t thread;
	int efd;
	atomic_bool cancel;
	pthread_mutex_t lock; /* of sock: cut by the loop, replaced by the thread */
	int sock; /* a duplicate of the attempt's socket, -1 before it has one */
	char *host; /* copied: a reload may free the configuration's strings meanwhile */
	unsigned short port;
	bool client; /* the parameters are copied: the loop may replace them meanwhile */
	bool tls;
	xmpp_conn_handler handler;
	struct mxb_attempt_result r;
};

static _Thread_local struct mxb_session *attempting;

struct mxb_session *mxb_session_attempt_current(void)
{
	return attempting;
}

/* Secured, or without TLS connected: what can block is behind. */
static bool reached(struct mxb_session *s, const struct mxb_session_attempt *a)
{
	return a->tls ? xmpp_conn_is_secured(s->conn) : xmpp_conn_is_connected(s->conn);
}

static void *run(void *data)
{
	struct mxb_session *s = data;
	struct mxb_session_attempt *a = s->attempt;
	attempting = s;
	a->r.rc = a->client ? xmpp_connect_client(s->conn, a->host, a->port, a->handler, s)
			    : xmpp_connect_component(s->conn, a->host, a->port, a->handler, s);
	while (a->r.rc == XMPP_EOK && !a->r.failed && !atomic_load(&a->cancel) && !reached(s, a))
		xmpp_run_once(s->ctx, 100);
	attempting = NULL;
	uint64_t one = 1;
	if (write(a->efd, &one, sizeof(one)) < 0) {
		/* An eventfd write fails only on overflow, which one write cannot reach. */
	}
	return NULL;
}

int mxb_session_attempt_start(struct mxb_session *s, xmpp_conn_handler handler)
{
	struct mxb_session_attempt *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->handler = handler;
	a->port = s->params.port;
	a->client = s->params.kind == MXB_SESSION_CLIENT;
	a->sock = -1;
	a->r.fd = -1;
	atomic_init(&a->cancel, false);
	pthread_mutex_init(&a->lock, NULL);
	a->tls = !(xmpp_conn_get_flags(s->conn) & XMPP_CONN_FLAG_DISABLE_TLS) &&
		 s->params.kind == MXB_SESSION_CLIENT;
	int rc = -ENOMEM;
	if (s->params.host && !(a->host = strdup(s->params.host)))
		goto err_free;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		rc = -errno;
		goto err_free;
	}
	s->attempt = a;
	int e = pthread_create(&a->thread, NULL, run, s);
	if (e != 0) {
		s->attempt = NULL;
		close(a->efd);
		rc = -e;
		goto err_free;
	}
	return 0;

err_free:
	free(a->host);
	free(a);
	return rc;
}

int mxb_session_attempt_fd(const struct mxb_session *s)
{
	return s->attempt ? s->attempt->efd : -1;
}

/*
 * The thread's socket, duplicated: shutdown() on the duplicate reaches the socket even
 * after libstrophe closed its own descriptor, and the number cannot meanwhile name another.
 */
void mxb_session_attempt_socket(struct mxb_session *s, int fd)
{
	struct mxb_session_attempt *a = s->attempt;
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	a->r.fd = fd;
	pthread_mutex_lock(&a->lock);
	if (a->sock >= 0)
		close(a->sock);
	a->sock = d;
	if (d >= 0 && atomic_load(&a->cancel))
		shutdown(d, SHUT_RDWR);
	pthread_mutex_unlock(&a->lock);
}

void mxb_session_attempt_failed(
	struct mxb_session *s, int error, const xmpp_stream_error_t *stream_error)
{
	struct mxb_session_attempt *a = s->attempt;
	a->r.failed = true;
	a->r.error = error;
	a->r.has_stream_error = stream_error != NULL;
	if (stream_error)
		a->r.stream_error = stream_error->type;
}

void mxb_session_attempt_cancel(struct mxb_session *s)
{
	struct mxb_session_attempt *a = s->attempt;
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	atomic_store(&a->cancel, true);
	a->r.cancelled = true;
	if (a->sock >= 0)
		shutdown(a->sock, SHUT_RDWR);
	pthread_mutex_unlock(&a->lock);
}

bool mxb_session_attempt_wait(const struct mxb_session *s, int ms)
{
	if (!s->attempt)
		return true;
	struct pollfd p = {.fd = s->attempt->efd, .events = POLLIN};
	return poll(&p, 1, ms) > 0 && (p.revents & POLLIN);
}

void mxb_session_attempt_join(struct mxb_session *s, struct mxb_attempt_result *r)
{
	struct mxb_session_attempt *a = s->attempt;
	pthread_join(a->thread, NULL);
	/* Joined: the thread's writes are seen, and the loop's own were its own. */
	*r = a->r;
	if (a->sock >= 0)
		close(a->sock);
	pthread_mutex_destroy(&a->lock);
	close(a->efd);
	free(a->host);
	free(a);
	s->attempt = NULL;
}
