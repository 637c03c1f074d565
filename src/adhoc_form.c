#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adhoc_form.h"

static bool copy_into(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (n >= cap)
		return false;
	memcpy(dst, s, n + 1);
	return true;
}

bool mxb_adhoc_list_add(struct mxb_adhoc_list *l, const char *node, const char *name)
{
	if (l->len == MXB_ADHOC_COMMANDS_MAX)
		return false;
	struct mxb_adhoc_item *it = &l->items[l->len];
	if (!copy_into(it->node, sizeof(it->node), node))
		return false;
	/* Names are the bridge's own; a long one is cut rather than left out. */
	snprintf(it->name, sizeof(it->name), "%s", name);
	l->len++;
	return true;
}

const struct mxb_adhoc_item *mxb_adhoc_list_find(const struct mxb_adhoc_list *l, const char *node)
{
	for (size_t i = 0; node && i < l->len; i++) {
		if (strcmp(l->items[i].node, node) == 0)
			return &l->items[i];
	}
	return NULL;
}

int mxb_adhoc_action_parse(const char *s)
{
	static const char *const names[] = {
		[MXB_ADHOC_EXECUTE] = "execute",
		[MXB_ADHOC_NEXT] = "next",
		[MXB_ADHOC_PREV] = "prev",
		[MXB_ADHOC_COMPLETE] = "complete",
		[MXB_ADHOC_CANCEL] = "cancel",
	};
	if (!s)
		return MXB_ADHOC_EXECUTE;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	}
	return -1;
}

int mxb_adhoc_request_add(struct mxb_adhoc_request *r, const char *var, const char *value)
{
	if (r->values_len == MXB_ADHOC_VALUES_MAX)
		return -E2BIG;
	struct mxb_adhoc_value *v = &r->values[r->values_len];
	if (!copy_into(v->var, sizeof(v->var), var) ||
		!copy_into(v->value, sizeof(v->value), value ? value : ""))
		return -E2BIG;
	r->values_len++;
	return 0;
}

const char *mxb_adhoc_request_value(const struct mxb_adhoc_request *r, const char *var)
{
	for (size_t i = 0; i < r->values_len; i++) {
		if (strcmp(r->values[i].var, var) == 0)
			return r->values[i].value;
	}
	return NULL;
}

static char *dup_or_null(const char *s, bool *failed)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*failed = true;
	return d;
}

void mxb_form_init(struct mxb_form *f, enum mxb_form_type type, const char *title)
{
	*f = (struct mxb_form){.type = type};
	f->title = dup_or_null(title, &f->failed);
}

static void field_finish(struct mxb_form_field *fl)
{
	free(fl->var);
	free(fl->label);
	free(fl->value);
	for (size_t i = 0; i < fl->options_len; i++) {
		free(fl->options[i].label);
		free(fl->options[i].value);
	}
	free(fl->options);
}

void mxb_form_finish(struct mxb_form *f)
{
	free(f->title);
	free(f->instructions);
	for (size_t i = 0; i < f->fields_len; i++)
		field_finish(&f->fields[i]);
	free(f->fields);
	for (size_t i = 0; i < f->reported_len; i++)
		field_finish(&f->reported[i]);
	free(f->reported);
	for (size_t i = 0; i < f->rows * f->reported_len; i++)
		free(f->cells[i]);
	free(f->cells);
	*f = (struct mxb_form){0};
}

struct mxb_form_field *mxb_form_add_field(struct mxb_form *f, enum mxb_field_type type,
	const char *var, const char *label, const char *value)
{
	if (f->fields_len == f->fields_cap) {
		size_t cap = f->fields_cap ? 2 * f->fields_cap : 8;
		struct mxb_form_field *v = realloc(f->fields, cap * sizeof(*v));
		if (!v) {
			f->failed = true;
			return NULL;
		}
		f->fields = v;
		f->fields_cap = cap;
	}
	struct mxb_form_field *fl = &f->fields[f->fields_len++];
	bool failed = false;
	*fl = (struct mxb_form_field){
		.type = type,
		.var = dup_or_null(var, &failed),
		.label = dup_or_null(label, &failed),
		.value = dup_or_null(value, &failed),
	};
	if (failed) {
		f->failed = true;
		field_finish(fl);
		f->fields_len--;
		return NULL;
	}
	return fl;
}

int mxb_form_add_option(
	struct mxb_form *f, struct mxb_form_field *field, const char *value, const char *label)
{
	if (field->options_len == MXB_FORM_ROWS_MAX)
		return -E2BIG;
	struct mxb_form_option *v =
		realloc(field->options, (field->options_len + 1) * sizeof(*field->options));
	if (!v) {
		f->failed = true;
		return -ENOMEM;
	}
	field->options = v;
	bool failed = false;
	struct mxb_form_option o = {dup_or_null(label, &failed), dup_or_null(value, &failed)};
	if (failed || !o.value) {
		free(o.label);
		free(o.value);
		f->failed = true;
		return -ENOMEM;
	}
	field->options[field->options_len++] = o;
	return 0;
}

int mxb_form_set_columns(
	struct mxb_form *f, const char *const *vars, const char *const *labels, size_t ncols)
{
	if (f->reported_len || f->rows)
		return -EINVAL;
	f->reported = calloc(ncols, sizeof(*f->reported));
	if (!f->reported) {
		f->failed = true;
		return -ENOMEM;
	}
	bool failed = false;
	for (size_t i = 0; i < ncols; i++) {
		f->reported[i] = (struct mxb_form_field){
			.type = MXB_FIELD_TEXT_SINGLE,
			.var = dup_or_null(vars[i], &failed),
			.label = dup_or_null(labels[i], &failed),
		};
	}
	f->reported_len = ncols;
	if (failed) {
		f->failed = true;
		return -ENOMEM;
	}
	return 0;
}

int mxb_form_add_row(struct mxb_form *f, const char *const *cells)
{
	size_t n = f->reported_len;
	if (!n)
		return -EINVAL;
	if (f->rows == MXB_FORM_ROWS_MAX)
		return -E2BIG;
	if (f->rows == f->rows_cap) {
		size_t cap = f->rows_cap ? 2 * f->rows_cap : 16;
		char **v = realloc(f->cells, cap * n * sizeof(*v));
		if (!v) {
			f->failed = true;
			return -ENOMEM;
		}
		f->cells = v;
		f->rows_cap = cap;
	}
	char **row = f->cells + f->rows * n;
	bool failed = false;
	for (size_t i = 0; i < n; i++) {
		row[i] = strdup(cells[i] ? cells[i] : "");
		failed = failed || !row[i];
	}
	if (failed) {
		for (size_t i = 0; i < n; i++)
			free(row[i]);
		f->failed = true;
		return -ENOMEM;
	}
	f->rows++;
	return 0;
}

void mxb_adhoc_response_init(struct mxb_adhoc_response *r)
{
	*r = (struct mxb_adhoc_response){.status = MXB_ADHOC_COMPLETED};
	mxb_form_init(&r->form, MXB_FORM_NONE, NULL);
}

void mxb_adhoc_response_finish(struct mxb_adhoc_response *r)
{
	free(r->note);
	mxb_form_finish(&r->form);
	*r = (struct mxb_adhoc_response){0};
}

int mxb_adhoc_response_note(
	struct mxb_adhoc_response *r, enum mxb_adhoc_note type, const char *text)
{
	char *n = strdup(text);
	if (!n)
		return -ENOMEM;
	free(r->note);
	r->note = n;
	r->note_type = type;
	return 0;
}

int mxb_adhoc_switch_index(const char *node, size_t max)
{
	size_t plen = strlen(MXB_ADHOC_NODE_SWITCH);
	if (!node || strncmp(node, MXB_ADHOC_NODE_SWITCH, plen) != 0)
		return -1;
	const char *p = node + plen;
	/* Digits only, no sign, no leading zero, no more than the rules there are. */
	if (*p < '1' || *p > '9')
		return -1;
	size_t n = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || n > max)
			return -1;
		n = n * 10 + (size_t)(*p - '0');
	}
	return n <= max ? (int)n : -1;
}
