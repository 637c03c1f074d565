#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "template.h"

static char out[256];

/* Renders src with the given input; returns the output or "(error)". */
static const char *render(const char *src, const char *topic, const char *payload)
{
	struct mxb_template *t = NULL;
	char err[128];
	if (mxb_template_parse(src, &t, err, sizeof(err)) < 0) {
		snprintf(out, sizeof(out), "(parse error: %s)", err);
		return out;
	}
	struct mxb_template_input in = {
		.topic = topic,
		.payload = payload,
		.payload_len = payload ? strlen(payload) : 0,
		.from = "alice@example.org/phone",
		.body = "lamp on",
	};
	if (mxb_template_render(t, &in, out, sizeof(out), NULL) < 0)
		snprintf(out, sizeof(out), "(error)");
	mxb_template_destroy(t);
	return out;
}

static const char *parse_error(const char *src)
{
	struct mxb_template *t = NULL;
	static char err[128];
	if (mxb_template_parse(src, &t, err, sizeof(err)) == 0) {
		mxb_template_destroy(t);
		return "(parsed)";
	}
	return err;
}

int main(void)
{
	CHECK_STR(render("{{topic}}: {{payload}}", "home/x/alarm", "FIRE"), "home/x/alarm: FIRE");
	CHECK_STR(render("plain", "t", "p"), "plain");
	CHECK_STR(render("", "t", "p"), "");
	CHECK_STR(render("{{ payload }}", "t", "p"), "p");
	CHECK_STR(render("{{topic.1}}|{{topic.2}}|{{topic.3}}|{{topic.4}}", "home/x/alarm", ""),
		"home|x|alarm|");
	CHECK_STR(render("{{topic.2}}", "a//c", ""), "");
	CHECK_STR(
		render("{{from}} said {{body}}", "t", ""), "alice@example.org/phone said lamp on");

	const char *tasmota = "{\"Time\":\"2024-01-01T00:00:00\",\"AM2301\":{\"Temperature\":21.5,"
			      "\"Humidity\":40},\"List\":[1,\"two\",true,null],\"Obj\":{\"k\":1}}";
	CHECK_STR(render("{{json.AM2301.Temperature}} C", "tele/x/SENSOR", tasmota), "21.5 C");
	CHECK_STR(render("{{json.AM2301.Humidity}}%", "t", tasmota), "40%");
	CHECK_STR(render("{{json.List.0}} {{json.List.1}} {{json.List.2}} {{json.List.3}}", "t",
			  tasmota),
		"1 two true null");
	CHECK_STR(render("{{json.Obj}}", "t", tasmota), "{\"k\":1}");
	CHECK_STR(render("[{{json.Missing}}]", "t", tasmota), "[]");
	CHECK_STR(render("[{{json.List.9}}]", "t", tasmota), "[]");
	CHECK_STR(render("[{{json.a}}]", "t", "not json"), "[]");

	struct mxb_template *t;
	char err[64];
	CHECK(mxb_template_parse("{{json.a}} {{json.b}}", &t, err, sizeof(err)) == 0);
	CHECK(mxb_template_uses_json(t));
	struct mxb_template_stats stats = {0};
	struct mxb_template_input in = {.payload = "x", .payload_len = 1};
	CHECK(mxb_template_render(t, &in, out, sizeof(out), &stats) == 1);
	CHECK(stats.json_misses == 2);
	/* Output that does not fit is an error, not a silent cut. */
	in.payload = "{\"a\":\"0123456789\",\"b\":1}";
	in.payload_len = strlen(in.payload);
	CHECK(mxb_template_render(t, &in, out, 8, NULL) == -E2BIG);
	mxb_template_destroy(t);
	mxb_template_destroy(NULL);

	/* Fallbacks: per placeholder, else the input's. */
	CHECK_STR(render("{{json.Missing|n/a}} {{json.AM2301.Humidity | ?}}", "t", tasmota),
		"n/a 40");
	CHECK_STR(render("[{{topic.9|none}}]", "a/b", ""), "[none]");
	struct mxb_template_input fb = {
		.topic = "a", .payload = "x", .payload_len = 1, .fallback = "-"};
	CHECK(mxb_template_parse("{{json.a}}|{{from}}|{{arg.1}}", &t, err, sizeof(err)) == 0);
	stats = (struct mxb_template_stats){0};
	CHECK(mxb_template_render(t, &fb, out, sizeof(out), &stats) == 5);
	CHECK_STR(out, "-|-|-");
	CHECK(stats.misses == 3);
	CHECK(stats.json_misses == 1);
	mxb_template_destroy(t);

	/* Named command arguments and the time. */
	const char *args[] = {"kitchen", "on"};
	struct mxb_template_input cmd = {
		.args = args, .nargs = 2, .args_text = "kitchen on", .time = 1700000000};
	CHECK(mxb_template_parse("cmnd/{{arg.1}}/POWER={{arg.2}} ({{args}}) at {{time}}", &t, err,
		      sizeof(err)) == 0);
	CHECK(mxb_template_max_arg(t) == 2);
	CHECK(mxb_template_uses(t, "args"));
	CHECK(mxb_template_uses(t, "time"));
	CHECK(!mxb_template_uses(t, "payload"));
	CHECK(mxb_template_render(t, &cmd, out, sizeof(out), NULL) > 0);
	CHECK_STR(out, "cmnd/kitchen/POWER=on (kitchen on) at 2023-11-14T22:13:20Z");
	mxb_template_destroy(t);
	CHECK_STR(parse_error("{{arg.0}}"),
		"bad argument number in '{{arg.0}}' (arguments count from 1)");

	CHECK_STR(parse_error("{{nope}}"), "unknown placeholder '{{nope}}'");

	CHECK_STR(parse_error("a {{payload"), "unterminated placeholder at column 3");
	CHECK_STR(parse_error("{{topic.0}}"),
		"bad topic level in '{{topic.0}}' (levels count from 1)");
	CHECK_STR(parse_error("{{topic.x}}"),
		"bad topic level in '{{topic.x}}' (levels count from 1)");
	CHECK_STR(parse_error("{{json.a..b}}"), "empty field name in '{{json.a..b}}'");
	CHECK_STR(parse_error("{{json.}}"), "unknown placeholder '{{json.}}'");
	CHECK_STR(parse_error("{{}}"), "unknown placeholder '{{}}'");
	return check_report("template");
}
