#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "http.h"
#include "log.h"

struct mxb_http_transfer {
	CURL *easy;
	struct curl_slist *headers;
	const char *body;
	size_t len, off;
	mxb_http_done_fn done;
	void *ctx;
	char error[CURL_ERROR_SIZE];
	struct mxb_http_transfer *next;
};

struct watch {
	curl_socket_t fd;
	short events;
};

struct mxb_http {
	CURLM *multi;
	char *ca_file;
	struct watch watch[MXB_HTTP_FDS_MAX];
	size_t nwatch;
	int64_t deadline; /* libcurl's timer; INT64_MAX: none */
	struct mxb_http_transfer *transfers;
	size_t active;
	bool full_warned;
};

static bool global_done;

/* libcurl says which sockets to watch for what. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *data, void *socketp)
{
	(void)easy, (void)socketp;
	struct mxb_http *h = data;
	size_t i = 0;
	while (i < h->nwatch && h->watch[i].fd != fd)
		i++;
	if (what == CURL_POLL_REMOVE) {
		if (i < h->nwatch)
			h->watch[i] = h->watch[--h->nwatch];
		return 0;
	}
	short ev = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) |
			   ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	if (i == h->nwatch) {
		if (h->nwatch == MXB_HTTP_FDS_MAX) {
			/* Not polled, the transfer still ends by its timeout. */
			if (!h->full_warned)
				mxb_log_warn("http: more than %d sockets at once; some wait for "
					     "their timeout",
					MXB_HTTP_FDS_MAX);
			h->full_warned = true;
			return 0;
		}
		h->watch[h->nwatch++].fd = fd;
	}
	h->watch[i].events = ev;
	return 0;
}

/* libcurl's one timer; it must not be run from inside this callback. */
static int on_timer(CURLM *multi, long ms, void *data)
{
	(void)multi;
	struct mxb_http *h = data;
	h->deadline = ms < 0 ? INT64_MAX : mxb_now_ms() + ms;
	return 0;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *data)
{
	struct mxb_http_transfer *t = data;
	size_t n = size * nitems, left = t->len - t->off;
	if (n > left)
		n = left;
	memcpy(buf, t->body + t->off, n);
	t->off += n;
	return n;
}

/* The response body is not needed: a status says it all. */
static size_t on_write(char *buf, size_t size, size_t nmemb, void *data)
{
	(void)buf, (void)data;
	return size * nmemb;
}

int mxb_http_create(struct mxb_http **out, const char *ca_file)
{
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		global_done = true;
	}
	struct mxb_http *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->deadline = INT64_MAX;
	if (ca_file && !(h->ca_file = strdup(ca_file)))
		goto err_free;
	h->multi = curl_multi_init();
	if (!h->multi)
		goto err_free;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*out = h;
	return 0;

err_free:
	free(h->ca_file);
	free(h);
	return -ENOMEM;
}

static void transfer_free(struct mxb_http *h, struct mxb_http_transfer *t)
{
	for (struct mxb_http_transfer **p = &h->transfers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	curl_multi_remove_handle(h->multi, t->easy);
	curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t);
	h->active--;
}

void mxb_http_destroy(struct mxb_http *h)
{
	if (!h)
		return;
	while (h->transfers)
		transfer_free(h, h->transfers);
	curl_multi_cleanup(h->multi);
	free(h->ca_file);
	free(h);
}

static struct curl_slist *header(struct curl_slist *list, const char *line, bool *ok)
{
	struct curl_slist *l = curl_slist_append(list, line);
	if (!l) {
		*ok = false;
		return list;
	}
	return l;
}

int mxb_http_put(struct mxb_http *h, const struct mxb_http_put *req, mxb_http_done_fn done,
	void *ctx, struct mxb_http_transfer **out)
{
	struct mxb_http_transfer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->body = req->body;
	t->len = req->len;
	t->done = done;
	t->ctx = ctx;
	t->easy = curl_easy_init();
	if (!t->easy) {
		free(t);
		return -ENOMEM;
	}
	bool ok = true;
	char ctype[300];
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", req->content_type);
	t->headers = header(t->headers, ctype, &ok);
	/* No 100-continue round trip: the body is small and the slot already says yes. */
	t->headers = header(t->headers, "Expect:", &ok);
	for (size_t i = 0; i < req->nheaders; i++)
		t->headers = header(t->headers, req->headers[i], &ok);
	CURL *e = t->easy;
	const char *protocols = req->allow_http ? "http,https" : "https";
	/* Each option is checked: one refused would change what is sent, or to whom. */
	ok = ok && curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, protocols) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->len) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_READDATA, t) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout * 1000L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_PRIVATE, t) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_USERAGENT, "mqtt-xmpp-bridge/" MXB_VERSION) == CURLE_OK;
	if (ok && h->ca_file) {
		/* The CA of xmpp.ca_file alone, as for the XMPP session. */
		ok = curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file) == CURLE_OK &&
		     curl_easy_setopt(e, CURLOPT_CAPATH, NULL) == CURLE_OK;
	}
	if (!ok || curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		curl_slist_free_all(t->headers);
		free(t);
		return -EINVAL;
	}
	t->next = h->transfers;
	h->transfers = t;
	h->active++;
	if (out)
		*out = t;
	return 0;
}

void mxb_http_cancel(struct mxb_http *h, struct mxb_http_transfer *t)
{
	if (t)
		transfer_free(h, t);
}

size_t mxb_http_active(const struct mxb_http *h)
{
	return h->active;
}

size_t mxb_http_fds(const struct mxb_http *h, struct pollfd *pfd, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < h->nwatch && n < cap; i++) {
		pfd[n].fd = h->watch[i].fd;
		pfd[n].events = h->watch[i].events;
		pfd[n].revents = 0;
		n++;
	}
	return n;
}

/* Calls done for every transfer that ended, after taking it out of the multi handle. */
static void finished(struct mxb_http *h)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct mxb_http_transfer *t = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (!t)
			continue;
		long status = 0;
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		char why[CURL_ERROR_SIZE + 64];
		const char *error = NULL;
		if (msg->data.result != CURLE_OK) {
			snprintf(why, sizeof(why), "%s",
				t->error[0] ? t->error : curl_easy_strerror(msg->data.result));
			error = why;
		}
		mxb_http_done_fn done = t->done;
		void *ctx = t->ctx;
		transfer_free(h, t);
		/* done may start another transfer: the multi handle is consistent again. */
		done(status, error, ctx);
	}
}

void mxb_http_handle(struct mxb_http *h, const struct pollfd *pfd, size_t n)
{
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		int flags = 0;
		if (pfd[i].revents & (POLLIN | POLLHUP))
			flags |= CURL_CSELECT_IN;
		if (pfd[i].revents & POLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (pfd[i].revents & (POLLERR | POLLNVAL))
			flags |= CURL_CSELECT_ERR;
		int running;
		curl_multi_socket_action(h->multi, pfd[i].fd, flags, &running);
		any = true;
	}
	if (any)
		finished(h);
}

int64_t mxb_http_tick(struct mxb_http *h, int64_t now)
{
	if (now >= h->deadline) {
		h->deadline = INT64_MAX;
		int running;
		curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		finished(h);
	}
	return h->deadline;
}
