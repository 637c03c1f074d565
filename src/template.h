#ifndef MXB_TEMPLATE_H
#define MXB_TEMPLATE_H

/*
 * Message templates with {{...}} placeholders, parsed once at config load:
 *   {{payload}}  the MQTT payload
 *   {{topic}}    the MQTT topic; {{topic.N}} its level N, counted from 1
 *   {{json.a.b}} a field of a JSON payload; {{json.a.0}} an array element
 *   {{from}}     the sender's JID; {{body}} the chat message body
 *   {{arg.N}}    word N of a named command's arguments, from 1; {{args}} all of them
 *   {{time}}     the time of the event, ISO 8601 in UTC
 *   {{name}}     the name of a device
 * A placeholder without a value renders as its own fallback ({{json.t|n/a}}) or else as
 * the input's fallback (empty when NULL). "{{" with no closing "}}" and unknown
 * placeholders are parse errors. Pure apart from cJSON, used to read payloads.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mxb_template;

struct mxb_template_input {
	const char *topic;
	const char *payload;
	size_t payload_len;
	const char *from;
	const char *body;
	const char *const *args; /* args[0] is {{arg.1}} */
	size_t nargs;
	const char *args_text; /* {{args}}: the arguments as typed */
	int64_t time; /* seconds since the epoch, for {{time}} */
	const char *fallback; /* for placeholders without a value; NULL: "" */
	const char *name; /* {{name}}: a device's name */
};

struct mxb_template_stats {
	/* A {{json...}} placeholder met a payload that is not JSON, or a missing field. */
	unsigned json_misses;
	/* Any placeholder rendered as a fallback. */
	unsigned misses;
};

/*
 * Parses src. On success returns 0 and *out owns the template. On error returns -EINVAL
 * and writes a message into err (errlen bytes), e.g. "unknown placeholder '{{foo}}'".
 */
int mxb_template_parse(const char *src, struct mxb_template **out, char *err, size_t errlen);
void mxb_template_destroy(struct mxb_template *tmpl);

/* Whether the template uses any {{json...}} placeholder. */
bool mxb_template_uses_json(const struct mxb_template *tmpl);
/* The highest N of the {{arg.N}} placeholders, 0 when none. */
unsigned mxb_template_max_arg(const struct mxb_template *tmpl);
/* Whether the template uses a placeholder of this name ("payload", "arg", "json", ...). */
bool mxb_template_uses(const struct mxb_template *tmpl, const char *name);

/*
 * Renders into buf (cap bytes, NUL-terminated). Returns the length, or -E2BIG when the
 * result does not fit. The result is raw bytes: payloads are copied as they are, so the
 * caller sanitizes before the text reaches XML. stats may be NULL.
 */
ssize_t mxb_template_render(const struct mxb_template *tmpl, const struct mxb_template_input *in,
	char *buf, size_t cap, struct mxb_template_stats *stats);

#endif
