#include <errno.h>
#include <string.h>

#include "adhoc_form.h"
#include "check.h"

static void test_switch_index(void)
{
	CHECK(mxb_adhoc_switch_index("switch-1", 3) == 1);
	CHECK(mxb_adhoc_switch_index("switch-3", 3) == 3);
	CHECK(mxb_adhoc_switch_index("switch-4", 3) == -1);
	CHECK(mxb_adhoc_switch_index("switch-0", 3) == -1);
	CHECK(mxb_adhoc_switch_index("switch-01", 3) == -1);
	CHECK(mxb_adhoc_switch_index("switch-", 3) == -1);
	CHECK(mxb_adhoc_switch_index("switch-+1", 3) == -1);
	CHECK(mxb_adhoc_switch_index("switch-1x", 3) == -1);
	CHECK(mxb_adhoc_switch_index("switch-99999999999999999999", 3) == -1);
	CHECK(mxb_adhoc_switch_index("status", 3) == -1);
	CHECK(mxb_adhoc_switch_index(NULL, 3) == -1);
}

static void test_actions(void)
{
	CHECK(mxb_adhoc_action_parse(NULL) == MXB_ADHOC_EXECUTE);
	CHECK(mxb_adhoc_action_parse("complete") == MXB_ADHOC_COMPLETE);
	CHECK(mxb_adhoc_action_parse("cancel") == MXB_ADHOC_CANCEL);
	CHECK(mxb_adhoc_action_parse("Complete") == -1);
	CHECK(mxb_adhoc_action_parse("") == -1);
}

static void test_request_bounds(void)
{
	struct mxb_adhoc_request r = {0};
	char var[MXB_ADHOC_VAR_MAX + 2], value[MXB_ADHOC_VALUE_MAX + 2];
	memset(var, 'v', sizeof(var) - 1);
	var[sizeof(var) - 1] = 0;
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = 0;
	CHECK(mxb_adhoc_request_add(&r, var, "a") == -E2BIG);
	CHECK(mxb_adhoc_request_add(&r, "device", value) == -E2BIG);
	value[MXB_ADHOC_VALUE_MAX] = 0;
	CHECK(mxb_adhoc_request_add(&r, "device", value) == 0);
	CHECK(strlen(mxb_adhoc_request_value(&r, "device")) == MXB_ADHOC_VALUE_MAX);
	CHECK(mxb_adhoc_request_value(&r, "action") == NULL);
	for (int i = 1; i < MXB_ADHOC_VALUES_MAX; i++)
		CHECK(mxb_adhoc_request_add(&r, "f", "") == 0);
	CHECK(mxb_adhoc_request_add(&r, "one-too-many", "") == -E2BIG);
	CHECK(r.values_len == MXB_ADHOC_VALUES_MAX);
}

static void test_list(void)
{
	struct mxb_adhoc_list l = {0};
	CHECK(mxb_adhoc_list_add(&l, "status", "Bridge status"));
	char node[MXB_ADHOC_NODE_MAX + 2];
	memset(node, 'n', sizeof(node) - 1);
	node[sizeof(node) - 1] = 0;
	CHECK(!mxb_adhoc_list_add(&l, node, "too long"));
	CHECK(mxb_adhoc_list_find(&l, "status") != NULL);
	CHECK(mxb_adhoc_list_find(&l, "devices") == NULL);
	for (int i = 1; i < MXB_ADHOC_COMMANDS_MAX; i++)
		CHECK(mxb_adhoc_list_add(&l, "x", "x"));
	CHECK(!mxb_adhoc_list_add(&l, "full", "full"));
}

static void test_form(void)
{
	struct mxb_form f;
	mxb_form_init(&f, MXB_FORM_RESULT, "Devices");
	static const char *const vars[] = {"device", "state"};
	CHECK(mxb_form_add_row(&f, vars) == -EINVAL);
	CHECK(mxb_form_set_columns(&f, vars, vars, 2) == 0);
	CHECK(mxb_form_set_columns(&f, vars, vars, 2) == -EINVAL);
	int r = 0;
	for (int i = 0; i < MXB_FORM_ROWS_MAX && r == 0; i++) {
		const char *cells[] = {"kitchen", NULL};
		r = mxb_form_add_row(&f, cells);
	}
	CHECK(r == 0 && f.rows == MXB_FORM_ROWS_MAX);
	const char *cells[] = {"hall", "ON"};
	CHECK(mxb_form_add_row(&f, cells) == -E2BIG);
	CHECK_STR(f.cells[1], "");
	struct mxb_form_field *fl = mxb_form_add_field(&f, MXB_FIELD_LIST_SINGLE, "a", "A", NULL);
	CHECK(fl && mxb_form_add_option(&f, fl, "on", "On") == 0);
	CHECK(fl->options_len == 1);
	CHECK_STR(fl->options[0].label, "On");
	CHECK(!f.failed);
	mxb_form_finish(&f);
	CHECK(f.fields == NULL && f.rows == 0);
}

int main(void)
{
	test_switch_index();
	test_actions();
	test_request_bounds();
	test_list();
	test_form();
	return check_report("adhoc_form");
}
