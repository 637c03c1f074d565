/*
 * Ad-hoc commands (XEP-0050): the stanza side. What a requester sent is read into a
 * struct mxb_adhoc_request (bounded, see adhoc_form.h) and the answer built from a struct
 * mxb_adhoc_response; what each command does is the handlers' business.
 *
 * No session state is kept between the stages of a command: the form a stage submits is
 * checked on its own against what the bridge knows then, so that a requester cannot fill
 * a table by starting commands it never finishes. The session id only lets a client tie
 * the stages together.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adhoc.h"
#include "log.h"
#include "session.h"
#include "text.h"

void mxb_adhoc_init(struct mxb_adhoc *a, struct mxb_session *s,
	const struct mxb_adhoc_handlers *handlers, void *data)
{
	/*
	 * Tokens start anywhere: a client made anew after a reload must not take an answer
	 * meant for a request of the one before it.
	 */
	*a = (struct mxb_adhoc){.s = s, .handlers = handlers, .data = data};
	a->next_token = ((uint32_t)rand() << 16 ^ (uint32_t)rand()) | 1;
}

static void pending_free(struct mxb_adhoc_pending *p)
{
	free(p->to);
	free(p->id);
	free(p->node);
	free(p->sessionid);
	*p = (struct mxb_adhoc_pending){0};
}

void mxb_adhoc_down(struct mxb_adhoc *a)
{
	for (size_t i = 0; i < MXB_ADHOC_PENDING_MAX; i++)
		pending_free(&a->pending[i]);
}

void mxb_adhoc_finish(struct mxb_adhoc *a)
{
	mxb_adhoc_down(a);
}

/*
 * Text the bridge did not write itself (device names, states, topics) may hold what XML
 * forbids; libstrophe would send it raw and the server close the stream. Returns s, or a
 * sanitized copy in *tmp (the caller frees it), or NULL without memory.
 */
static const char *safe(const char *s, char **tmp)
{
	*tmp = NULL;
	size_t n = strlen(s);
	if (mxb_text_xml_valid(s, n))
		return s;
	*tmp = malloc(3 * n + 1);
	if (!*tmp || mxb_text_sanitize(s, n, *tmp, 3 * n + 1, NULL) < 0) {
		free(*tmp);
		*tmp = NULL;
		return NULL;
	}
	return *tmp;
}

static void set_attr(xmpp_stanza_t *e, const char *name, const char *value)
{
	char *tmp;
	const char *v = value ? safe(value, &tmp) : NULL;
	if (v)
		xmpp_stanza_set_attribute(e, name, v);
	if (value)
		free(tmp);
}

static xmpp_stanza_t *add_text(
	xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *text)
{
	xmpp_stanza_t *c = mxb_stanza_add_child(ctx, parent, name, NULL);
	char *tmp;
	const char *v = c ? safe(text, &tmp) : NULL;
	xmpp_stanza_t *t = v ? xmpp_stanza_new(ctx) : NULL;
	if (t) {
		xmpp_stanza_set_text(t, v);
		xmpp_stanza_add_child(c, t);
		xmpp_stanza_release(t);
	}
	if (v)
		free(tmp);
	return c;
}

static const char *const field_types[] = {
	[MXB_FIELD_TEXT_SINGLE] = "text-single",
	[MXB_FIELD_LIST_SINGLE] = "list-single",
	[MXB_FIELD_FIXED] = "fixed",
};

static void add_field(
	xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const struct mxb_form_field *fl, const char *value)
{
	xmpp_stanza_t *e = mxb_stanza_add_child(ctx, parent, "field", NULL);
	if (!e)
		return;
	set_attr(e, "type", field_types[fl->type]);
	set_attr(e, "var", fl->var);
	set_attr(e, "label", fl->label);
	if (fl->required)
		mxb_stanza_add_child(ctx, e, "required", NULL);
	for (size_t i = 0; i < fl->options_len; i++) {
		xmpp_stanza_t *o = mxb_stanza_add_child(ctx, e, "option", NULL);
		if (!o)
			continue;
		set_attr(o, "label", fl->options[i].label);
		add_text(ctx, o, "value", fl->options[i].value);
	}
	if (value)
		add_text(ctx, e, "value", value);
}

static void add_form(xmpp_ctx_t *ctx, xmpp_stanza_t *cmd, const struct mxb_form *f)
{
	if (f->type == MXB_FORM_NONE)
		return;
	xmpp_stanza_t *x = mxb_stanza_add_child(ctx, cmd, "x", NS_DATA);
	if (!x)
		return;
	xmpp_stanza_set_type(x, f->type == MXB_FORM_FORM ? "form" : "result");
	if (f->title)
		add_text(ctx, x, "title", f->title);
	if (f->instructions)
		add_text(ctx, x, "instructions", f->instructions);
	for (size_t i = 0; i < f->fields_len; i++)
		add_field(ctx, x, &f->fields[i], f->fields[i].value);
	if (!f->reported_len)
		return;
	xmpp_stanza_t *rep = mxb_stanza_add_child(ctx, x, "reported", NULL);
	for (size_t i = 0; rep && i < f->reported_len; i++)
		add_field(ctx, rep, &f->reported[i], NULL);
	for (size_t r = 0; r < f->rows; r++) {
		xmpp_stanza_t *item = mxb_stanza_add_child(ctx, x, "item", NULL);
		for (size_t i = 0; item && i < f->reported_len; i++) {
			xmpp_stanza_t *e = mxb_stanza_add_child(ctx, item, "field", NULL);
			if (!e)
				continue;
			set_attr(e, "var", f->reported[i].var);
			add_text(ctx, e, "value", f->cells[r * f->reported_len + i]);
		}
	}
}

static const char *const statuses[] = {
	[MXB_ADHOC_COMPLETED] = "completed",
	[MXB_ADHOC_EXECUTING] = "executing",
	[MXB_ADHOC_CANCELED] = "canceled",
};
static const char *const note_types[] = {
	[MXB_NOTE_INFO] = "info",
	[MXB_NOTE_WARN] = "warn",
	[MXB_NOTE_ERROR] = "error",
};

/* The <command/> of an answer, added to iq. */
static void add_command(xmpp_ctx_t *ctx, xmpp_stanza_t *iq, const char *node, const char *sessionid,
	const struct mxb_adhoc_response *r)
{
	xmpp_stanza_t *cmd = mxb_stanza_add_child(ctx, iq, "command", NS_COMMANDS);
	if (!cmd)
		return;
	set_attr(cmd, "node", node);
	set_attr(cmd, "sessionid", sessionid);
	xmpp_stanza_set_attribute(cmd, "status", statuses[r->status]);
	if (r->status == MXB_ADHOC_EXECUTING) {
		/* One stage to go: the form is submitted with "complete". */
		xmpp_stanza_t *acts = mxb_stanza_add_child(ctx, cmd, "actions", NULL);
		if (acts) {
			xmpp_stanza_set_attribute(acts, "execute", "complete");
			mxb_stanza_add_child(ctx, acts, "complete", NULL);
		}
	}
	if (r->note && r->note_type != MXB_NOTE_NONE) {
		xmpp_stanza_t *n = add_text(ctx, cmd, "note", r->note);
		if (n)
			xmpp_stanza_set_attribute(n, "type", note_types[r->note_type]);
	}
	add_form(ctx, cmd, &r->form);
}

static void send_release(struct mxb_adhoc *a, xmpp_stanza_t *st)
{
	if (!st)
		return;
	mxb_session_send(a->s, st);
	xmpp_stanza_release(st);
}

static void send_error(struct mxb_adhoc *a, xmpp_stanza_t *st, int err)
{
	const char *type = "modify", *cond = "bad-request";
	switch (err) {
	case -EPERM:
		type = "auth";
		cond = "forbidden";
		break;
	case -ENOENT:
		type = "cancel";
		cond = "item-not-found";
		break;
	case -ENOMEM:
	case -EBUSY:
		type = "wait";
		cond = "resource-constraint";
		break;
	default:
		break;
	}
	send_release(a, xmpp_stanza_reply_error(st, type, cond, NULL));
}

/* disco#items on the commands node: the commands from may run. */
static void items(struct mxb_adhoc *a, xmpp_stanza_t *st, const char *from)
{
	xmpp_ctx_t *ctx = a->s->ctx;
	struct mxb_adhoc_list *l = calloc(1, sizeof(*l));
	int r = l ? a->handlers->list(from, l, a->data) : -ENOMEM;
	if (r < 0) {
		free(l);
		send_error(a, st, r);
		return;
	}
	xmpp_stanza_t *reply = mxb_stanza_result(st);
	xmpp_stanza_t *q = reply ? mxb_stanza_add_child(ctx, reply, "query", NS_DISCO_ITEMS) : NULL;
	if (q)
		xmpp_stanza_set_attribute(q, "node", NS_COMMANDS);
	/* The bound JID: the server stamps the bridge's IQs with it too. */
	const char *self = xmpp_conn_get_bound_jid(a->s->conn);
	for (size_t i = 0; q && i < l->len; i++) {
		xmpp_stanza_t *it = mxb_stanza_add_child(ctx, q, "item", NULL);
		if (!it)
			continue;
		if (self)
			xmpp_stanza_set_attribute(it, "jid", self);
		set_attr(it, "node", l->items[i].node);
		set_attr(it, "name", l->items[i].name);
	}
	free(l);
	send_release(a, reply);
}

/* disco#info on the commands node or on one command (XEP-0050 2.3). */
static void info(struct mxb_adhoc *a, xmpp_stanza_t *st, const char *from, const char *node)
{
	xmpp_ctx_t *ctx = a->s->ctx;
	bool list = strcmp(node, NS_COMMANDS) == 0;
	const struct mxb_adhoc_item *item = NULL;
	struct mxb_adhoc_list *l = calloc(1, sizeof(*l));
	int r = l ? a->handlers->list(from, l, a->data) : -ENOMEM;
	if (r == 0 && !list && !(item = mxb_adhoc_list_find(l, node)))
		r = -ENOENT;
	if (r < 0) {
		free(l);
		send_error(a, st, r);
		return;
	}
	xmpp_stanza_t *reply = mxb_stanza_result(st);
	xmpp_stanza_t *q = reply ? mxb_stanza_add_child(ctx, reply, "query", NS_DISCO_INFO) : NULL;
	xmpp_stanza_t *id = q ? mxb_stanza_add_child(ctx, q, "identity", NULL) : NULL;
	if (id) {
		set_attr(q, "node", node);
		xmpp_stanza_set_attribute(id, "category", "automation");
		xmpp_stanza_set_attribute(id, "type", list ? "command-list" : "command-node");
		set_attr(id, "name", list ? "Commands" : item->name);
		xmpp_stanza_t *f = mxb_stanza_add_child(ctx, q, "feature", NULL);
		if (f)
			xmpp_stanza_set_attribute(f, "var", NS_COMMANDS);
		f = list ? NULL : mxb_stanza_add_child(ctx, q, "feature", NULL);
		if (f)
			xmpp_stanza_set_attribute(f, "var", NS_DATA);
	}
	free(l);
	send_release(a, reply);
}

/* Reads the submitted form of cmd into req. Returns 0 or -EINVAL (over a bound). */
static int read_form(xmpp_ctx_t *ctx, xmpp_stanza_t *cmd, struct mxb_adhoc_request *req)
{
	xmpp_stanza_t *x = xmpp_stanza_get_child_by_ns(cmd, NS_DATA);
	const char *type = x ? xmpp_stanza_get_type(x) : NULL;
	if (!type || strcmp(type, "submit") != 0)
		return 0;
	req->submitted = true;
	for (xmpp_stanza_t *f = xmpp_stanza_get_children(x); f; f = xmpp_stanza_get_next(f)) {
		const char *name = xmpp_stanza_is_tag(f) ? xmpp_stanza_get_name(f) : NULL;
		const char *var = xmpp_stanza_get_attribute(f, "var");
		if (!name || strcmp(name, "field") != 0 || !var)
			continue;
		xmpp_stanza_t *v = xmpp_stanza_get_child_by_name(f, "value");
		char *text = v ? xmpp_stanza_get_text(v) : NULL;
		int r = mxb_adhoc_request_add(req, var, text ? text : "");
		xmpp_free(ctx, text);
		if (r < 0)
			return -EINVAL;
	}
	return 0;
}

static struct mxb_adhoc_pending *pending_find(struct mxb_adhoc *a, uint32_t token)
{
	for (size_t i = 0; token && i < MXB_ADHOC_PENDING_MAX; i++) {
		if (a->pending[i].token == token)
			return &a->pending[i];
	}
	return NULL;
}

/* A pending slot for the request st, or NULL (-EBUSY: all taken; -ENOMEM). */
static struct mxb_adhoc_pending *pending_take(
	struct mxb_adhoc *a, xmpp_stanza_t *st, const char *node, const char *sessionid, int *err)
{
	struct mxb_adhoc_pending *p = NULL;
	for (size_t i = 0; !p && i < MXB_ADHOC_PENDING_MAX; i++) {
		if (!a->pending[i].token)
			p = &a->pending[i];
	}
	if (!p) {
		*err = -EBUSY;
		return NULL;
	}
	const char *id = xmpp_stanza_get_id(st);
	*p = (struct mxb_adhoc_pending){
		.to = strdup(xmpp_stanza_get_from(st)),
		.id = strdup(id ? id : ""),
		.node = strdup(node),
		.sessionid = strdup(sessionid),
	};
	if (!p->to || !p->id || !p->node || !p->sessionid) {
		pending_free(p);
		*err = -ENOMEM;
		return NULL;
	}
	/* Never 0, which marks a free slot. */
	p->token = a->next_token++;
	if (!a->next_token)
		a->next_token = 1;
	return p;
}

static void execute(struct mxb_adhoc *a, xmpp_stanza_t *st, xmpp_stanza_t *cmd, const char *from)
{
	xmpp_ctx_t *ctx = a->s->ctx;
	const char *node = xmpp_stanza_get_attribute(cmd, "node");
	const char *sid = xmpp_stanza_get_attribute(cmd, "sessionid");
	int action = mxb_adhoc_action_parse(xmpp_stanza_get_attribute(cmd, "action"));
	if (!node || strlen(node) > MXB_ADHOC_NODE_MAX || action < 0 ||
		(sid && (strlen(sid) > MXB_ADHOC_NODE_MAX ||
				!mxb_text_xml_valid(sid, strlen(sid))))) {
		send_error(a, st, node && strlen(node) > MXB_ADHOC_NODE_MAX ? -ENOENT : -EINVAL);
		return;
	}
	struct mxb_adhoc_request *req = calloc(1, sizeof(*req));
	if (!req) {
		send_error(a, st, -ENOMEM);
		return;
	}
	*req = (struct mxb_adhoc_request){
		.from = from, .node = node, .sessionid = sid, .action = action};
	char made[32];
	if (!sid) {
		snprintf(made, sizeof(made), "mxb-%u", ++a->next_session);
		sid = made;
	}
	struct mxb_adhoc_response resp;
	mxb_adhoc_response_init(&resp);
	int err = 0;
	struct mxb_adhoc_pending *p = NULL;
	if (read_form(ctx, cmd, req) < 0)
		err = -EINVAL;
	else if (action == MXB_ADHOC_CANCEL)
		resp.status = MXB_ADHOC_CANCELED;
	else if (!(p = pending_take(a, st, node, sid, &err)))
		;
	else
		err = a->handlers->execute(req, p->token, &resp, a->data);
	if (err == 1) {
		/* Answered later; perhaps already, while the handler ran. */
	} else if (err < 0 || resp.form.failed) {
		send_error(a, st, err < 0 ? err : -ENOMEM);
	} else {
		xmpp_stanza_t *reply = mxb_stanza_result(st);
		if (reply)
			add_command(ctx, reply, node, sid, &resp);
		send_release(a, reply);
	}
	if (p && err != 1)
		pending_free(p);
	mxb_adhoc_response_finish(&resp);
	free(req);
}

bool mxb_adhoc_handle(
	struct mxb_adhoc *a, xmpp_stanza_t *st, xmpp_stanza_t *query, const char *ns, bool get)
{
	const char *from = xmpp_stanza_get_from(st);
	if (!ns || !a->handlers || !from)
		return false;
	const char *node = xmpp_stanza_get_attribute(query, "node");
	if (get && node && strcmp(ns, NS_DISCO_ITEMS) == 0 && strcmp(node, NS_COMMANDS) == 0) {
		items(a, st, from);
		return true;
	}
	if (get && node && strcmp(ns, NS_DISCO_INFO) == 0) {
		info(a, st, from, node);
		return true;
	}
	if (!get && strcmp(ns, NS_COMMANDS) == 0) {
		execute(a, st, query, from);
		return true;
	}
	return false;
}

int mxb_adhoc_answer(struct mxb_adhoc *a, uint32_t token, const struct mxb_adhoc_response *r)
{
	struct mxb_adhoc_pending *p = pending_find(a, token);
	if (!p)
		return -ENOENT;
	int rc = 0;
	if (a->s->state != MXB_SESSION_UP) {
		rc = -ENOTCONN;
		goto out_free;
	}
	xmpp_stanza_t *iq = xmpp_iq_new(a->s->ctx, "result", p->id);
	if (!iq) {
		rc = -ENOMEM;
		goto out_free;
	}
	xmpp_stanza_set_to(iq, p->to);
	add_command(a->s->ctx, iq, p->node, p->sessionid, r);
	send_release(a, iq);
out_free:
	pending_free(p);
	return rc;
}
