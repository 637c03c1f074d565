#ifndef MXB_DEVICE_RULES_H
#define MXB_DEVICE_RULES_H

/*
 * Which device rule takes a message, and what the extra state topics of a convention say.
 * Rules are tried in the order of the file: the first rule that takes a device owns it
 * (docs/configuration.md, "Overlapping rules"). Pure: no I/O, no library types (cJSON
 * reads the JSON reports).
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* Whether topic matches one of r's exclude filters: then r does not take the message. */
bool mxb_device_rule_excludes(const struct mxb_device_rule *r, const char *topic);

/*
 * Whether a and b can both claim one device: a filter of each (availability, state or a
 * convention's report) shares a topic with one of the other, and neither rule excludes
 * all of what the other's filter takes. *fa and *fb are then the two filters.
 */
bool mxb_device_rules_overlap(const struct mxb_device_rule *a, const struct mxb_device_rule *b,
	const char **fa, const char **fb);

/*
 * The state a report payload tells, into out (cap bytes, NUL-terminated): for
 * MXB_REPORT_POWER the "POWER" (or "POWER1") string of a JSON object; for
 * MXB_REPORT_SENSOR the readings of a JSON object as "AM2301 Temperature 21.5, Humidity
 * 40.2" (Time and the units left out; several sensors joined with "; "), ending in "…"
 * when cut, never inside a character. Returns the length, 0 when the payload says nothing
 * of that kind (not JSON, no POWER, a RESULT of another command).
 */
size_t mxb_device_report_value(
	enum mxb_device_report kind, const char *payload, size_t len, char *out, size_t cap);

#endif
