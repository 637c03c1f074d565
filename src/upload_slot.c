#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "log.h"
#include "session.h"
#include "upload_slot.h"

#define NS_UPLOAD "urn:xmpp:http:upload:0"
/* Requests waiting at once: slots, plus the disco#info of the server's items. */
#define PENDING_MAX 32
/* Items of the server's disco#items asked whether they are the upload service. */
#define ITEMS_MAX 16
/* Seconds a server has to answer a request. */
#define ANSWER_TIMEOUT_MS 20000

enum kind { FREE, ITEMS, INFO, SLOT };

struct pending {
	enum kind kind;
	char id[40];
	char to[MXB_JID_MAX + 1];
	uint64_t token;
	int64_t deadline;
};

struct mxb_upload_slots {
	const struct mxb_upload_slots_ops *ops;
	void *data;
	struct mxb_session *s; /* NULL while offline */
	xmpp_conn_t *conn; /* the connection the handlers were added to */
	bool allow_http;
	bool discovering;
	char service[MXB_JID_MAX + 1]; /* "" until found */
	uint64_t next_id;
	struct pending p[PENDING_MAX];
};

int mxb_upload_slots_create(
	struct mxb_upload_slots **out, const struct mxb_upload_slots_ops *ops, void *data)
{
	struct mxb_upload_slots *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->ops = ops;
	u->data = data;
	*out = u;
	return 0;
}

static void forget(struct mxb_upload_slots *u, struct pending *p);

void mxb_upload_slots_destroy(struct mxb_upload_slots *u)
{
	if (!u)
		return;
	/* The session may be gone already (it is torn down first): its handlers go with it. */
	free(u);
}

static int on_answer(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data);

/*
 * Frees p; its handler goes too while its session is up on the same connection. A session
 * that ended takes its handlers along, and one that resumes finds no entry for an old id.
 */
static void forget(struct mxb_upload_slots *u, struct pending *p)
{
	if (p->kind != FREE && u->s && u->s->state == MXB_SESSION_UP && u->conn == u->s->conn)
		xmpp_id_handler_delete(u->conn, on_answer, p->id);
	p->kind = FREE;
}

static struct pending *take(struct mxb_upload_slots *u, enum kind kind, const char *to, int64_t now)
{
	for (size_t i = 0; i < PENDING_MAX; i++) {
		struct pending *p = &u->p[i];
		if (p->kind != FREE)
			continue;
		if (strlen(to) > MXB_JID_MAX)
			return NULL;
		p->kind = kind;
		snprintf(p->id, sizeof(p->id), "mxb-up-%llu", (unsigned long long)++u->next_id);
		strcpy(p->to, to);
		p->deadline = now + ANSWER_TIMEOUT_MS;
		p->token = 0;
		return p;
	}
	return NULL;
}

/* Sends iq get with <name xmlns=ns/> (returned, owned by the iq) to p->to. */
static int send_iq(struct mxb_upload_slots *u, struct pending *p, const char *name, const char *ns,
	void (*fill)(xmpp_stanza_t *q, const void *arg), const void *arg)
{
	xmpp_ctx_t *ctx = u->s->ctx;
	xmpp_stanza_t *iq = xmpp_iq_new(ctx, "get", p->id);
	if (!iq)
		return -ENOMEM;
	xmpp_stanza_set_to(iq, p->to);
	xmpp_stanza_t *q = mxb_stanza_add_child(ctx, iq, name, ns);
	if (!q) {
		xmpp_stanza_release(iq);
		return -ENOMEM;
	}
	if (fill)
		fill(q, arg);
	xmpp_id_handler_add(u->s->conn, on_answer, p->id, u);
	mxb_session_send(u->s, iq);
	xmpp_stanza_release(iq);
	return 0;
}

static void discovery_end(struct mxb_upload_slots *u, const char *service, uint64_t max)
{
	if (!u->discovering)
		return;
	u->discovering = false;
	if (service)
		snprintf(u->service, sizeof(u->service), "%s", service);
	/* The other items' answers no longer matter. */
	for (size_t i = 0; i < PENDING_MAX; i++) {
		if (u->p[i].kind == INFO || u->p[i].kind == ITEMS)
			forget(u, &u->p[i]);
	}
	u->ops->discovered(service, max, u->data);
}

static bool discovery_waits(const struct mxb_upload_slots *u)
{
	for (size_t i = 0; i < PENDING_MAX; i++) {
		if (u->p[i].kind == INFO || u->p[i].kind == ITEMS)
			return true;
	}
	return false;
}

static void ask_info(struct mxb_upload_slots *u, const char *to, int64_t now)
{
	struct pending *p = take(u, INFO, to, now);
	if (p && send_iq(u, p, "query", NS_DISCO_INFO, NULL, NULL) < 0)
		forget(u, p);
}

void mxb_upload_slots_online(struct mxb_upload_slots *u, struct mxb_session *s, const char *domain,
	const char *service, bool allow_http, int64_t now)
{
	mxb_upload_slots_offline(u);
	u->s = s;
	u->conn = s->conn;
	u->allow_http = allow_http;
	u->service[0] = '\0';
	u->discovering = true;
	if (service) {
		ask_info(u, service, now);
	} else {
		struct pending *p = take(u, ITEMS, domain, now);
		if (p && send_iq(u, p, "query", NS_DISCO_ITEMS, NULL, NULL) < 0)
			forget(u, p);
	}
	if (!discovery_waits(u))
		discovery_end(u, NULL, 0);
}

static void fail(struct mxb_upload_slots *u, struct pending *p, bool temporary, const char *why)
{
	struct mxb_upload_slot_answer a = {.token = p->token, .temporary = temporary};
	snprintf(a.why, sizeof(a.why), "%s", why);
	forget(u, p);
	u->ops->answer(&a, u->data);
}

void mxb_upload_slots_offline(struct mxb_upload_slots *u)
{
	/* First: the session may be gone already, nothing below may touch it. */
	u->s = NULL;
	u->conn = NULL;
	for (size_t i = 0; i < PENDING_MAX; i++) {
		struct pending *p = &u->p[i];
		if (p->kind == SLOT)
			fail(u, p, true, "the XMPP session ended");
		else
			forget(u, p);
	}
	u->discovering = false;
}

static void fill_request(xmpp_stanza_t *q, const void *arg)
{
	const char *const *a = arg;
	xmpp_stanza_set_attribute(q, "filename", a[0]);
	xmpp_stanza_set_attribute(q, "size", a[1]);
	xmpp_stanza_set_attribute(q, "content-type", a[2]);
}

int mxb_upload_slots_request(struct mxb_upload_slots *u, uint64_t token, const char *name,
	uint64_t size, const char *content_type, int64_t now)
{
	if (!u->s || u->s->state != MXB_SESSION_UP || !u->service[0])
		return -ENOTCONN;
	struct pending *p = take(u, SLOT, u->service, now);
	if (!p)
		return -EBUSY;
	p->token = token;
	char sz[24];
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	const char *arg[] = {name, sz, content_type};
	if (send_iq(u, p, "request", NS_UPLOAD, fill_request, arg) < 0) {
		p->kind = FREE;
		return -ENOMEM;
	}
	return 0;
}

int64_t mxb_upload_slots_tick(struct mxb_upload_slots *u, int64_t now)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < PENDING_MAX; i++) {
		struct pending *p = &u->p[i];
		if (p->kind == FREE)
			continue;
		if (now < p->deadline) {
			if (p->deadline < next)
				next = p->deadline;
			continue;
		}
		mxb_log_warn(
			"upload: no answer from '%s' in %d s", p->to, ANSWER_TIMEOUT_MS / 1000);
		if (p->kind == SLOT) {
			fail(u, p, true, "no answer to the slot request");
		} else {
			forget(u, p);
			if (u->discovering && !discovery_waits(u))
				discovery_end(u, NULL, 0);
		}
	}
	return next;
}

static bool is_ns(xmpp_stanza_t *st, const char *name, const char *ns)
{
	const char *n = xmpp_stanza_is_tag(st) ? xmpp_stanza_get_name(st) : NULL;
	const char *s = xmpp_stanza_get_ns(st);
	return n && strcmp(n, name) == 0 && (!ns || (s && strcmp(s, ns) == 0));
}

/* The text of el's first child <name/>, copied into buf; false when none or too long. */
static bool child_text(xmpp_ctx_t *ctx, xmpp_stanza_t *el, const char *name, char *buf, size_t cap)
{
	xmpp_stanza_t *c = el ? xmpp_stanza_get_child_by_name(el, name) : NULL;
	char *t = c ? xmpp_stanza_get_text(c) : NULL;
	if (!t)
		return false;
	bool ok = strlen(t) < cap;
	if (ok)
		strcpy(buf, t);
	xmpp_free(ctx, t);
	return ok;
}

/* max-file-size of the upload form in a disco#info query (0: none given). */
static uint64_t form_max_size(xmpp_ctx_t *ctx, xmpp_stanza_t *query)
{
	for (xmpp_stanza_t *x = xmpp_stanza_get_children(query); x; x = xmpp_stanza_get_next(x)) {
		if (!is_ns(x, "x", NS_DATA))
			continue;
		bool upload = false;
		uint64_t max = 0;
		for (xmpp_stanza_t *f = xmpp_stanza_get_children(x); f;
			f = xmpp_stanza_get_next(f)) {
			const char *var = is_ns(f, "field", NULL)
						  ? xmpp_stanza_get_attribute(f, "var")
						  : NULL;
			char v[64];
			if (!var || !child_text(ctx, f, "value", v, sizeof(v)))
				continue;
			if (strcmp(var, "FORM_TYPE") == 0)
				upload = strcmp(v, NS_UPLOAD) == 0;
			else if (strcmp(var, "max-file-size") == 0 &&
				 mxb_upload_parse_size(v, &max) < 0)
				mxb_log_warn(
					"upload: max-file-size '%s' is not a size; ignored", v);
		}
		if (upload)
			return max;
	}
	return 0;
}

static void on_items(struct mxb_upload_slots *u, xmpp_stanza_t *st, int64_t now)
{
	xmpp_stanza_t *q = xmpp_stanza_get_child_by_ns(st, NS_DISCO_ITEMS);
	size_t asked = 0;
	for (xmpp_stanza_t *i = q ? xmpp_stanza_get_children(q) : NULL; i && asked < ITEMS_MAX;
		i = xmpp_stanza_get_next(i)) {
		const char *jid =
			is_ns(i, "item", NULL) ? xmpp_stanza_get_attribute(i, "jid") : NULL;
		/* Items with a node are not services of their own. */
		if (!jid || xmpp_stanza_get_attribute(i, "node") || strlen(jid) > MXB_JID_MAX)
			continue;
		ask_info(u, jid, now);
		asked++;
	}
}

static void on_info(struct mxb_upload_slots *u, struct pending *p, xmpp_stanza_t *st)
{
	xmpp_stanza_t *q = xmpp_stanza_get_child_by_ns(st, NS_DISCO_INFO);
	for (xmpp_stanza_t *f = q ? xmpp_stanza_get_children(q) : NULL; f;
		f = xmpp_stanza_get_next(f)) {
		const char *var =
			is_ns(f, "feature", NULL) ? xmpp_stanza_get_attribute(f, "var") : NULL;
		if (var && strcmp(var, NS_UPLOAD) == 0) {
			char to[MXB_JID_MAX + 1];
			strcpy(to, p->to);
			discovery_end(u, to, form_max_size(u->s->ctx, q));
			return;
		}
	}
}

static void on_slot(struct mxb_upload_slots *u, struct pending *p, xmpp_stanza_t *st)
{
	xmpp_stanza_t *slot = xmpp_stanza_get_child_by_ns(st, NS_UPLOAD);
	xmpp_stanza_t *put = slot ? xmpp_stanza_get_child_by_name(slot, "put") : NULL;
	xmpp_stanza_t *get = slot ? xmpp_stanza_get_child_by_name(slot, "get") : NULL;
	struct mxb_upload_slot_raw raw = {
		.put = put ? xmpp_stanza_get_attribute(put, "url") : NULL,
		.get = get ? xmpp_stanza_get_attribute(get, "url") : NULL,
	};
	char *texts[MXB_UPLOAD_HEADERS_SEEN_MAX] = {NULL};
	for (xmpp_stanza_t *h = put ? xmpp_stanza_get_children(put) : NULL; h;
		h = xmpp_stanza_get_next(h)) {
		if (!is_ns(h, "header", NULL))
			continue;
		if (raw.nheaders == MXB_UPLOAD_HEADERS_SEEN_MAX) {
			raw.too_many_headers = true;
			break;
		}
		texts[raw.nheaders] = xmpp_stanza_get_text(h);
		raw.headers[raw.nheaders].name = xmpp_stanza_get_attribute(h, "name");
		raw.headers[raw.nheaders].value = texts[raw.nheaders];
		raw.nheaders++;
	}
	struct mxb_upload_slot_answer *a = calloc(1, sizeof(*a));
	if (a) {
		a->token = p->token;
		const char *why = NULL;
		a->ok = mxb_upload_slot_check(&raw, u->allow_http, &a->slot, &why) == 0;
		if (!a->ok) {
			snprintf(
				a->why, sizeof(a->why), "the server's slot is not usable: %s", why);
			mxb_log_warn("upload: the slot from '%s' is not usable: %s", p->to, why);
		} else if (a->slot.ignored) {
			mxb_log_debug(
				"upload: %zu headers of the slot are not allowed by XEP-0363; "
				"not sent",
				a->slot.ignored);
		}
	}
	for (size_t i = 0; i < raw.nheaders; i++) {
		if (texts[i])
			xmpp_free(u->s->ctx, texts[i]);
	}
	p->kind = FREE; /* its handler goes away by returning 0 */
	if (!a) {
		struct mxb_upload_slot_answer oom = {.token = p->token, .temporary = true};
		snprintf(oom.why, sizeof(oom.why), "out of memory");
		u->ops->answer(&oom, u->data);
		return;
	}
	u->ops->answer(a, u->data);
	free(a);
}

static void on_slot_error(struct mxb_upload_slots *u, struct pending *p, xmpp_stanza_t *st)
{
	struct mxb_upload_slot_answer a = {.token = p->token};
	xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "error");
	const char *type = e ? xmpp_stanza_get_type(e) : NULL;
	a.temporary = type && strcmp(type, "wait") == 0;
	xmpp_stanza_t *big = e ? xmpp_stanza_get_child_by_ns(e, NS_UPLOAD) : NULL;
	char text[160] = "";
	xmpp_stanza_t *t = e ? xmpp_stanza_get_child_by_name(e, "text") : NULL;
	char *tt = t ? xmpp_stanza_get_text(t) : NULL;
	if (tt) {
		/* Shown in a chat message: printable ASCII, and "..." where it is cut. */
		size_t n = 0;
		const char *c = tt;
		for (; *c && n + 4 < sizeof(text); c++)
			text[n++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
		if (*c) {
			memcpy(text + n, "...", 3);
			n += 3;
		}
		text[n] = '\0';
		xmpp_free(u->s->ctx, tt);
	}
	if (big && is_ns(big, "file-too-large", NS_UPLOAD)) {
		char v[64];
		a.too_large = true;
		if (child_text(u->s->ctx, big, "max-file-size", v, sizeof(v)))
			mxb_upload_parse_size(v, &a.max_size);
		if (a.max_size)
			snprintf(a.why, sizeof(a.why),
				"the file is too large for the server (at most %llu bytes)",
				(unsigned long long)a.max_size);
		else
			snprintf(a.why, sizeof(a.why), "the file is too large for the server");
	} else {
		snprintf(a.why, sizeof(a.why), "the server refused the slot (%s%s%s)",
			mxb_stanza_error_condition(st), text[0] ? ": " : "", text);
	}
	p->kind = FREE;
	u->ops->answer(&a, u->data);
}

static int on_answer(xmpp_conn_t *conn, xmpp_stanza_t *st, void *data)
{
	(void)conn;
	struct mxb_upload_slots *u = data;
	const char *id = xmpp_stanza_get_id(st);
	struct pending *p = NULL;
	for (size_t i = 0; id && i < PENDING_MAX && !p; i++) {
		if (u->p[i].kind != FREE && strcmp(u->p[i].id, id) == 0)
			p = &u->p[i];
	}
	if (!p)
		return 0;
	/* Only the entity asked may answer (the server answers for its own domain). */
	const char *from = xmpp_stanza_get_from(st);
	if (from ? !mxb_jid_bare_equal(from, p->to) : p->kind != ITEMS) {
		mxb_log_warn("upload: an answer to '%s' came from '%s'; ignored", p->to,
			from ? from : "(none)");
		return 1;
	}
	const char *type = xmpp_stanza_get_type(st);
	bool result = type && strcmp(type, "result") == 0;
	if (!result && !(type && strcmp(type, "error") == 0))
		return 1;
	int64_t now = mxb_now_ms();
	/* Returning 0 drops this id's handler: the entry is free, not forgotten. */
	if (p->kind == SLOT) {
		if (result)
			on_slot(u, p, st);
		else
			on_slot_error(u, p, st);
		return 0;
	}
	struct pending copy = *p;
	p->kind = FREE;
	if (result && copy.kind == ITEMS)
		on_items(u, st, now);
	else if (result && copy.kind == INFO)
		on_info(u, &copy, st);
	if (u->discovering && !discovery_waits(u))
		discovery_end(u, NULL, 0);
	return 0;
}
