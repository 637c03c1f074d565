/*
 * MQTT -> XMPP pictures: a binary payload of a route with binary = "upload" is put on the
 * server's HTTP File Upload service (XEP-0363) and its URL sent with an out-of-band data
 * element (XEP-0066), so that clients show the image. The slot comes through the XMPP
 * session (upload_slot.c), the PUT through libcurl (http.c); both run from the one poll
 * loop. Uploads under way are bounded by xmpp.upload_concurrency, those waiting by
 * xmpp.upload_queue (the oldest dropped and counted); a failed one is retried with backoff
 * xmpp.upload_retries times, then said in a text message to the route's targets.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "bridge.h"
#include "config.h"
#include "http.h"
#include "jid.h"
#include "log.h"
#include "outbox.h"
#include "queue.h"
#include "template.h"
#include "text.h"
#include "upload.h"
#include "upload_slot.h"

#define ACTIVE_MAX 16 /* the top of xmpp.upload_concurrency */
#define BACKOFF_MAX_MS 60000

enum job_state { WAITING, SLOT, PUT, BACKOFF };
enum service { SERVICE_UNKNOWN, SERVICE_FOUND, SERVICE_NONE };

/* One upload, with copies of what it needs of its route: a reload may replace the route. */
struct job {
	struct mxb_bridge_upload *u;
	uint64_t token;
	enum job_state state;
	int failures;
	int64_t deadline; /* BACKOFF: the next attempt */
	struct mxb_http_transfer *t;
	enum mxb_message_type type;
	struct mxb_strlist to;
	char *topic;
	char *caption; /* NULL: none */
	char ctype[MXB_UPLOAD_TYPE_MAX + 1];
	char name[MXB_UPLOAD_NAME_MAX + 1];
	struct mxb_upload_slot slot;
	const char *headers[MXB_UPLOAD_HEADERS_MAX];
	size_t len;
	char payload[];
};

struct mxb_bridge_upload {
	struct mxb_bridge *b;
	struct mxb_http *http;
	struct mxb_upload_slots *slots;
	struct mxb_queue waiting;
	struct job *active[ACTIVE_MAX];
	size_t nactive;
	enum service service;
	uint64_t max_size; /* the service's max-file-size, 0: not said */
	uint64_t next_token;
	bool dropping; /* the queue is full: one line until it drains */
	bool none_said;
};

static const char *const type_names[] = {"chat+oob", "normal+oob", "headline+oob", "groupchat+oob"};
static const char *const text_types[] = {"chat", "normal", "headline", "groupchat"};

static void job_free(void *p)
{
	struct job *j = p;
	if (!j)
		return;
	mxb_strlist_finish(&j->to);
	free(j->topic);
	free(j->caption);
	free(j);
}

static void on_discovered(const char *service, uint64_t max, void *data);
static void on_answer(const struct mxb_upload_slot_answer *a, void *data);

static const struct mxb_upload_slots_ops slot_ops = {
	.discovered = on_discovered,
	.answer = on_answer,
};

static int upload_create(struct mxb_bridge *b)
{
	const struct mxb_config *cfg = b->cfg;
	struct mxb_bridge_upload *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->b = b;
	int r = mxb_http_create(&u->http, cfg->xmpp.ca_file);
	if (r < 0)
		goto err_free;
	r = mxb_upload_slots_create(&u->slots, &slot_ops, u);
	if (r < 0)
		goto err_destroy_http;
	/* The queue's bound is the one of the start: a reload keeps it. */
	r = mxb_queue_init(&u->waiting, (size_t)cfg->xmpp.upload.queue);
	if (r < 0)
		goto err_destroy_slots;
	b->upload = u;
	/* Created after the session came up (a reload added the first upload route). */
	if (b->xmpp && mxb_xmpp_is_up(b->xmpp))
		mxb_bridge_upload_online(b);
	return 0;

err_destroy_slots:
	mxb_upload_slots_destroy(u->slots);
err_destroy_http:
	mxb_http_destroy(u->http);
err_free:
	free(u);
	return r;
}

int mxb_bridge_upload_init(struct mxb_bridge *b)
{
	for (size_t i = 0; i < b->cfg->notify_len; i++) {
		if (b->cfg->notify[i].binary == MXB_BINARY_UPLOAD)
			return upload_create(b);
	}
	return 0;
}

void mxb_bridge_upload_finish(struct mxb_bridge *b)
{
	struct mxb_bridge_upload *u = b->upload;
	if (!u)
		return;
	size_t lost = u->nactive + u->waiting.len;
	if (lost)
		mxb_log_warn("upload: %zu snapshots not uploaded at exit", lost);
	mxb_http_destroy(u->http);
	mxb_upload_slots_destroy(u->slots);
	for (size_t i = 0; i < u->nactive; i++)
		job_free(u->active[i]);
	mxb_queue_finish(&u->waiting, job_free);
	free(u);
	b->upload = NULL;
}

/* Sends text to each target of j; text is checked here, it holds the peer's words. */
static void say(struct mxb_bridge *b, const struct job *j, const char *text)
{
	size_t n = strlen(text);
	char *clean = NULL;
	const char *body = text;
	if (!mxb_text_xml_valid(text, n)) {
		/* U+FFFD is 3 bytes for 1 bad byte */
		clean = malloc(3 * n + 1);
		if (!clean || mxb_text_sanitize(text, n, clean, 3 * n + 1, NULL) < 0) {
			mxb_log_error("upload: out of memory; a message to the route is lost");
			free(clean);
			return;
		}
		body = clean;
	}
	for (size_t t = 0; t < j->to.len; t++)
		mxb_outbox_send(b->outbox, j->to.v[t], text_types[j->type], body);
	free(clean);
}

/* "snapshot from TOPIC could not be uploaded: WHY" to j's targets, the topic whole. */
static void say_failed(
	struct mxb_bridge *b, const struct job *j, const char *topic, const char *why)
{
	static const char fmt[] = "snapshot from %s could not be uploaded: %s";
	size_t cap = sizeof(fmt) + strlen(topic) + strlen(why);
	char *text = malloc(cap);
	if (!text) {
		mxb_log_error("upload: out of memory; a message to the route is lost");
		return;
	}
	snprintf(text, cap, fmt, topic, why);
	say(b, j, text);
	free(text);
}

static void remove_active(struct mxb_bridge_upload *u, struct job *j)
{
	for (size_t i = 0; i < u->nactive; i++) {
		if (u->active[i] == j) {
			u->active[i] = u->active[--u->nactive];
			return;
		}
	}
}

/* The end of j: said as a failure in its targets' chat, counted, freed. */
static void fail(struct mxb_bridge_upload *u, struct job *j, const char *why)
{
	struct mxb_bridge *b = u->b;
	b->n.upload_failed++;
	mxb_log_warn("upload: snapshot from '%s' (%zu bytes) could not be uploaded: %s", j->topic,
		j->len, why);
	say_failed(b, j, j->topic, why);
	remove_active(u, j); /* when it is there: it may not have started */
	job_free(j);
}

static void deliver(struct mxb_bridge_upload *u, struct job *j)
{
	struct mxb_bridge *b = u->b;
	b->n.upload_sent++;
	mxb_log_info("upload: snapshot from '%s' (%zu bytes, %s) at '%s'", j->topic, j->len,
		j->ctype, j->slot.get);
	/* The URL alone in the body: clients show the picture when body and OOB URL agree. */
	for (size_t t = 0; t < j->to.len; t++)
		mxb_outbox_send(b->outbox, j->to.v[t], type_names[j->type], j->slot.get);
	if (j->caption)
		say(b, j, j->caption);
	remove_active(u, j);
	job_free(j);
}

/* Another attempt after a backoff, or the end when the retries are spent. */
static void retry(struct mxb_bridge_upload *u, struct job *j, const char *why)
{
	int retries = u->b->cfg->xmpp.upload.retries;
	if (j->failures >= retries) {
		fail(u, j, why);
		return;
	}
	j->failures++;
	u->b->n.upload_retried++;
	int64_t wait = 1000LL << (j->failures - 1);
	if (wait > BACKOFF_MAX_MS)
		wait = BACKOFF_MAX_MS;
	mxb_log_warn("upload: snapshot from '%s': %s; trying again in %lld s (%d of %d)", j->topic,
		why, (long long)(wait / 1000), j->failures, retries);
	j->state = BACKOFF;
	j->deadline = mxb_now_ms() + wait;
}

static void pump(struct mxb_bridge_upload *u);

/* Back to the front of the queue: it waits for the session or a free request slot. */
static void requeue(struct mxb_bridge_upload *u, struct job *j)
{
	remove_active(u, j);
	j->state = WAITING;
	struct job *dropped = mxb_queue_push_front(&u->waiting, j);
	if (dropped) {
		u->b->n.upload_dropped++;
		mxb_log_warn("upload: queue full; snapshot from '%s' dropped", dropped->topic);
		job_free(dropped);
	}
}

/* Asks for a slot; false when j went back to the queue (no session or service yet). */
static bool ask_slot(struct mxb_bridge_upload *u, struct job *j)
{
	if (u->max_size && j->len > u->max_size) {
		char why[120];
		snprintf(why, sizeof(why), "%zu bytes, the server takes at most %llu", j->len,
			(unsigned long long)u->max_size);
		u->b->n.upload_refused++;
		fail(u, j, why);
		return true;
	}
	int r = mxb_upload_slots_request(
		u->slots, j->token, j->name, j->len, j->ctype, mxb_now_ms());
	if (r < 0) {
		requeue(u, j);
		return false;
	}
	j->state = SLOT;
	return true;
}

static void pump(struct mxb_bridge_upload *u)
{
	int limit = u->b->cfg->xmpp.upload.concurrency;
	while (u->service == SERVICE_FOUND && u->waiting.len && u->nactive < (size_t)limit &&
		u->nactive < ACTIVE_MAX) {
		struct job *j = mxb_queue_pop(&u->waiting);
		u->active[u->nactive++] = j;
		if (!ask_slot(u, j))
			break;
	}
}

static void put_done(long status, const char *error, void *ctx);

static void start_put(struct mxb_bridge_upload *u, struct job *j)
{
	for (size_t i = 0; i < j->slot.nheaders; i++)
		j->headers[i] = j->slot.headers[i];
	const struct mxb_config *cfg = u->b->cfg;
	struct mxb_http_put req = {
		.url = j->slot.put,
		.body = j->payload,
		.len = j->len,
		.content_type = j->ctype,
		.headers = j->headers,
		.nheaders = j->slot.nheaders,
		.timeout = cfg->xmpp.upload.timeout,
		.allow_http = cfg->xmpp.upload.allow_http,
	};
	j->state = PUT;
	if (mxb_http_put(u->http, &req, put_done, j, &j->t) < 0)
		retry(u, j, "the HTTP request could not be made");
}

static struct job *find(struct mxb_bridge_upload *u, uint64_t token)
{
	for (size_t i = 0; i < u->nactive; i++) {
		if (u->active[i]->token == token)
			return u->active[i];
	}
	return NULL;
}

static void on_answer(const struct mxb_upload_slot_answer *a, void *data)
{
	struct mxb_bridge_upload *u = data;
	struct job *j = find(u, a->token);
	if (!j || j->state != SLOT)
		return;
	if (a->ok) {
		j->slot = a->slot;
		start_put(u, j);
	} else if (a->temporary && !(u->b->xmpp && mxb_xmpp_is_up(u->b->xmpp))) {
		/* The session ended: not the upload's fault, it waits for the next one. */
		requeue(u, j);
	} else if (a->temporary) {
		retry(u, j, a->why);
	} else {
		u->b->n.upload_refused++;
		fail(u, j, a->why);
	}
}

static void put_done(long status, const char *error, void *ctx)
{
	struct job *j = ctx;
	struct mxb_bridge_upload *u = j->u;
	j->t = NULL;
	if (!error && (status == 200 || status == 201)) {
		deliver(u, j);
		pump(u);
		return;
	}
	char why[400];
	if (error)
		snprintf(why, sizeof(why), "the upload failed: %s", error);
	else
		snprintf(why, sizeof(why), "the upload server answered HTTP %ld", status);
	retry(u, j, why);
}

static void on_discovered(const char *service, uint64_t max, void *data)
{
	struct mxb_bridge_upload *u = data;
	if (service) {
		u->service = SERVICE_FOUND;
		u->max_size = max;
		mxb_log_info("upload: HTTP File Upload service '%s' (max-file-size %llu)", service,
			(unsigned long long)max);
		pump(u);
		return;
	}
	u->service = SERVICE_NONE;
	if (!u->none_said)
		mxb_log_warn("upload: the server offers no HTTP File Upload service (XEP-0363); "
			     "snapshots are said in text");
	u->none_said = true;
	struct job *j;
	while ((j = mxb_queue_pop(&u->waiting)))
		fail(u, j, "the server offers no upload service");
}

void mxb_bridge_upload_online(struct mxb_bridge *b)
{
	struct mxb_bridge_upload *u = b->upload;
	if (!u || !b->xmpp)
		return;
	const struct mxb_config *cfg = b->cfg;
	char domain[MXB_JID_MAX + 1];
	const char *at = strchr(cfg->xmpp.jid, '@');
	snprintf(domain, sizeof(domain), "%s", at ? at + 1 : cfg->xmpp.jid);
	domain[strcspn(domain, "/")] = '\0';
	u->service = SERVICE_UNKNOWN;
	mxb_upload_slots_online(u->slots, mxb_xmpp_session(b->xmpp), domain,
		cfg->xmpp.upload.service, cfg->xmpp.upload.allow_http, mxb_now_ms());
}

void mxb_bridge_upload_offline(struct mxb_bridge *b)
{
	struct mxb_bridge_upload *u = b->upload;
	if (!u)
		return;
	u->service = SERVICE_UNKNOWN;
	/* Slot requests answer as failed; PUTs under way go on, their URLs wait in the outbox. */
	mxb_upload_slots_offline(u->slots);
}

/* The file name of the route's template, for the content type. */
static void file_name(struct mxb_bridge *b, const struct mxb_notify_route *route, const char *topic,
	struct job *j)
{
	char raw[4 * MXB_UPLOAD_NAME_MAX] = "";
	struct mxb_template_input in = {
		.topic = topic,
		.time = (int64_t)time(NULL),
		.fallback = route->fallback,
	};
	ssize_t n = route->file_tmpl
			    ? mxb_template_render(route->file_tmpl, &in, raw, sizeof(raw), NULL)
			    : 0;
	/* A name too long for the buffer is cut like any long name. */
	if (n < 0)
		n = (ssize_t)strnlen(raw, sizeof(raw) - 1);
	mxb_upload_file_name(raw, (size_t)n, j->ctype, j->name, sizeof(j->name));
}

void mxb_bridge_upload(struct mxb_bridge *b, const struct mxb_notify_route *route,
	const char *topic, const char *payload, size_t len)
{
	if (!b->upload && upload_create(b) < 0) {
		mxb_log_error("upload: cannot start uploads: out of memory");
		return;
	}
	struct mxb_bridge_upload *u = b->upload;
	struct job *j = calloc(1, sizeof(*j) + len);
	if (!j || !(j->topic = strdup(topic))) {
		free(j);
		mxb_log_error("upload: out of memory; snapshot from '%s' lost", topic);
		return;
	}
	j->u = u;
	j->token = ++u->next_token;
	j->type = route->type;
	j->len = len;
	memcpy(j->payload, payload, len);
	bool oom = false;
	for (size_t t = 0; t < route->to.len; t++)
		oom |= mxb_strlist_push(&j->to, route->to.v[t]) < 0;
	snprintf(j->ctype, sizeof(j->ctype), "%s",
		route->content_type ? route->content_type : mxb_upload_sniff(payload, len));
	file_name(b, route, topic, j);
	if (route->caption) {
		const char *c = mxb_bridge_render(b, route, topic, "", 0);
		if (c && !(j->caption = strdup(c)))
			oom = true;
	}
	if (oom) {
		mxb_log_error("upload: out of memory; snapshot from '%s' lost", topic);
		job_free(j);
		return;
	}
	if (u->service == SERVICE_NONE) {
		fail(u, j, "the server offers no upload service");
		return;
	}
	struct job *dropped = mxb_queue_push(&u->waiting, j);
	if (dropped) {
		b->n.upload_dropped++;
		if (!u->dropping)
			mxb_log_warn(
				"upload: %zu snapshots wait already; dropping the oldest until "
				"the queue drains",
				u->waiting.cap);
		u->dropping = true;
		job_free(dropped);
	} else if (u->waiting.len == 1) {
		u->dropping = false;
	}
	pump(u);
}

void mxb_bridge_upload_refused(struct mxb_bridge *b, const struct mxb_notify_route *route,
	const char *topic, const char *why)
{
	struct job j = {.type = route->type, .to = route->to};
	say_failed(b, &j, topic, why);
	b->n.upload_failed++;
}

int64_t mxb_bridge_upload_tick(struct mxb_bridge *b, int64_t now)
{
	struct mxb_bridge_upload *u = b->upload;
	if (!u)
		return INT64_MAX;
	int64_t next = mxb_upload_slots_tick(u->slots, now);
	int64_t t = mxb_http_tick(u->http, now);
	if (t < next)
		next = t;
	/* Each ask may end a job and reorder the list: look again after each. */
	for (;;) {
		struct job *due = NULL;
		for (size_t i = 0; i < u->nactive && !due; i++) {
			struct job *j = u->active[i];
			if (j->state != BACKOFF)
				continue;
			if (now >= j->deadline)
				due = j;
			else if (j->deadline < next)
				next = j->deadline;
		}
		/* The slot is asked for again: a slot serves one PUT (Prosody: 409). */
		if (!due || !ask_slot(u, due))
			break;
	}
	pump(u);
	return next;
}

size_t mxb_bridge_poll_fds(const struct mxb_bridge *b, struct pollfd *pfd, size_t cap)
{
	return b->upload ? mxb_http_fds(b->upload->http, pfd, cap) : 0;
}

void mxb_bridge_poll_handle(struct mxb_bridge *b, const struct pollfd *pfd, size_t n)
{
	if (b->upload && n)
		mxb_http_handle(b->upload->http, pfd, n);
}
