#ifndef MXB_HTTP_H
#define MXB_HTTP_H

/*
 * HTTP PUTs of buffers for file uploads, with libcurl's multi interface driven from the
 * main poll loop: no thread of the bridge's own and no blocking call. libcurl tells which
 * sockets to watch and when its timer is due; the loop polls them and hands back what is
 * ready. Only this file includes <curl/curl.h>.
 */

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sockets libcurl may watch at once; a transfer uses one, its name lookup maybe another. */
#define MXB_HTTP_FDS_MAX 64

struct mxb_http;
struct mxb_http_transfer;

struct mxb_http_put {
	const char *url; /* checked by the caller (mxb_upload_url_valid) */
	const void *body; /* borrowed until done is called */
	size_t len; /* sent as Content-Length */
	const char *content_type;
	const char *const *headers; /* "Name: value" lines, also borrowed */
	size_t nheaders;
	int timeout; /* seconds for the whole transfer */
	bool allow_http; /* else only https is spoken */
};

/*
 * The end of a transfer: status is the HTTP status (0 when none came), error NULL on a
 * response or libcurl's words for what failed (a timeout, a refused certificate). Called
 * from mxb_http_handle or mxb_http_tick, never from mxb_http_put.
 */
typedef void (*mxb_http_done_fn)(long status, const char *error, void *ctx);

/*
 * ca_file (NULL: the system store) verifies every server; it is copied. Returns 0, or
 * -ENOMEM / -EIO (libcurl could not start).
 */
int mxb_http_create(struct mxb_http **out, const char *ca_file);
/* Cancels what is under way without calling done. */
void mxb_http_destroy(struct mxb_http *h);

/*
 * Starts a PUT; done(ctx) is called once when it ends, unless it is cancelled. *t (may be
 * NULL) receives a handle for mxb_http_cancel, valid until done. Returns 0, -ENOMEM or
 * -EINVAL (libcurl refused an option).
 */
int mxb_http_put(struct mxb_http *h, const struct mxb_http_put *req, mxb_http_done_fn done,
	void *ctx, struct mxb_http_transfer **t);
/* Stops a transfer; its done is not called. */
void mxb_http_cancel(struct mxb_http *h, struct mxb_http_transfer *t);
/* Transfers under way. */
size_t mxb_http_active(const struct mxb_http *h);

/* Fills pfd[0..cap) with the sockets to poll; returns how many. */
size_t mxb_http_fds(const struct mxb_http *h, struct pollfd *pfd, size_t cap);
/* Hands libcurl the sockets that are ready (pfd as filled by mxb_http_fds, polled). */
void mxb_http_handle(struct mxb_http *h, const struct pollfd *pfd, size_t n);
/* Runs libcurl's timer when it is due; returns when it is due next (INT64_MAX: never). */
int64_t mxb_http_tick(struct mxb_http *h, int64_t now);

#endif
