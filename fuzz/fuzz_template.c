/*
 * Fuzzes template.c. The input is "SRC\0TOPIC\0FROM\0BODY\0ARGS\0FALLBACK\0PAYLOAD": the
 * template source, then the inputs it is rendered against. Fields missing from a short
 * input are NULL; ARGS is split at spaces into the arguments; the payload (the rest) may
 * hold NULs; the time is derived from a hash of the input. A reference parser written from
 * the rules in template.h says which sources must parse and what they must render to. The
 * values of {{json...}} with a JSON payload, and of {{time}} outside years 1000..9999, are
 * not computed: there only the text around them is checked.
 */

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

#include "fuzz.h"
#include "template.h"

#define MAX_ARGS 16

enum ref_verdict {
	REF_OK,
	REF_ERROR,
	/* Depends on a limit template.h does not state (very high {{topic.N}}, {{arg.N}}). */
	REF_EITHER,
};

struct piece {
	const char *s;
	size_t len;
	/* A value the reference does not compute. */
	bool unknown;
};

enum ref_kind {
	K_PAYLOAD,
	K_TOPIC,
	K_FROM,
	K_BODY,
	K_ARG,
	K_ARGS,
	K_TIME,
	K_JSON,
	K_NAME,
	K_COUNT,
};

static const char *const kind_names[K_COUNT] = {
	"payload", "topic", "from", "body", "arg", "args", "time", "json", "name"};

struct ref {
	enum ref_verdict verdict;
	struct piece *pieces;
	size_t len;
	bool json_payload;
	bool used[K_COUNT];
	unsigned max_arg;
	/* Placeholders rendered as a fallback; the {{json...}} ones when not JSON mode. */
	unsigned misses;
	unsigned json_count;
	char time[64];
};

static void ref_push(struct ref *r, const char *s, size_t len, bool unknown)
{
	if (len == 0 && !unknown)
		return;
	struct piece *v = realloc(r->pieces, (r->len + 1) * sizeof(*v));
	FUZZ_CHECK(v);
	r->pieces = v;
	r->pieces[r->len++] = (struct piece){.s = s, .len = len, .unknown = unknown};
}

static void ref_push_str(struct ref *r, const char *s)
{
	if (s)
		ref_push(r, s, strlen(s), false);
}

/* Level n (from 1) of topic; false when there is no such level. */
static bool ref_level(struct ref *r, const char *topic, unsigned long n)
{
	if (!topic)
		return false;
	const char *p = topic;
	for (unsigned long i = 1; i < n; i++) {
		p = strchr(p, '/');
		if (!p)
			return false;
		p++;
	}
	ref_push(r, p, strcspn(p, "/"), false);
	return true;
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil, inverted). */
static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
	z += 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (long long)yoe + era * 400 + (*m <= 2);
}

/*
 * ISO 8601 in UTC, or "" outside years 1000..9999, where the format has no settled
 * form for the year.
 */
static void ref_time(int64_t t, char *buf, size_t len)
{
	long long days = t / 86400, secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	long long y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	buf[0] = '\0';
	if (y >= 1000 && y <= 9999)
		snprintf(buf, len, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", y, m, d, secs / 3600,
			secs / 60 % 60, secs % 60);
}

static bool name_is(const char *name, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(name, word, n) == 0;
}

/* A level or argument number: digits only, from 1. Returns 0 when invalid. */
static unsigned long ref_number(const char *s, size_t n)
{
	unsigned long v = 0;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 1000000000)
			v = 1000000000;
	}
	return v;
}

/*
 * Pushes what the placeholder renders to. Sets *found to whether it has a value; the
 * caller then pushes the fallback.
 */
static enum ref_verdict ref_placeholder(
	struct ref *r, const char *name, size_t n, const struct mxb_template_input *in, bool *found)
{
	*found = true;
	if (name_is(name, n, "payload")) {
		r->used[K_PAYLOAD] = true;
		*found = in->payload != NULL;
		if (*found)
			ref_push(r, in->payload, in->payload_len, false);
		return REF_OK;
	}
	const struct {
		const char *name;
		enum ref_kind kind;
		const char *value;
	} strings[] = {
		{"topic", K_TOPIC, in->topic},
		{"from", K_FROM, in->from},
		{"body", K_BODY, in->body},
		{"args", K_ARGS, in->args_text},
		{"name", K_NAME, in->name},
	};
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		if (!name_is(name, n, strings[i].name))
			continue;
		r->used[strings[i].kind] = true;
		*found = strings[i].value != NULL;
		ref_push_str(r, strings[i].value);
		return REF_OK;
	}
	if (name_is(name, n, "time")) {
		r->used[K_TIME] = true;
		if (r->time[0])
			ref_push_str(r, r->time);
		else
			ref_push(r, NULL, 0, true);
		return REF_OK;
	}
	if (n > 6 && memcmp(name, "topic.", 6) == 0) {
		unsigned long level = ref_number(name + 6, n - 6);
		if (level == 0)
			return REF_ERROR;
		r->used[K_TOPIC] = true;
		*found = ref_level(r, in->topic, level);
		return level <= 10000 ? REF_OK : REF_EITHER;
	}
	if (n > 4 && memcmp(name, "arg.", 4) == 0) {
		unsigned long k = ref_number(name + 4, n - 4);
		if (k == 0)
			return REF_ERROR;
		r->used[K_ARG] = true;
		if (k > r->max_arg)
			r->max_arg = (unsigned)k;
		*found = in->args && k <= in->nargs;
		if (*found)
			ref_push_str(r, in->args[k - 1]);
		return k <= 10000 ? REF_OK : REF_EITHER;
	}
	if (n > 5 && memcmp(name, "json.", 5) == 0) {
		/* Dot-separated field names, none empty. */
		for (size_t i = 5; i < n; i++) {
			bool part_start = i == 5 || name[i - 1] == '.';
			bool part_end = i + 1 == n || name[i + 1] == '.';
			if (name[i] == '.' && (part_start || part_end))
				return REF_ERROR;
		}
		r->used[K_JSON] = true;
		r->json_count++;
		/* Found or not, the value is unknown: a fallback is one of the outcomes. */
		if (r->json_payload)
			ref_push(r, NULL, 0, true);
		else
			*found = false;
		return REF_OK;
	}
	return REF_ERROR;
}

static void trim(const char **b, const char **e)
{
	while (*b < *e && isspace((unsigned char)**b))
		(*b)++;
	while (*e > *b && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

static void ref_parse(const char *src, const struct mxb_template_input *in, struct ref *r)
{
	const char *p = src;
	while (*p) {
		const char *open = strstr(p, "{{");
		if (!open) {
			ref_push_str(r, p);
			return;
		}
		ref_push(r, p, (size_t)(open - p), false);
		const char *close = strstr(open + 2, "}}");
		if (!close) {
			r->verdict = REF_ERROR;
			return;
		}
		/* {{name|fallback}}: the name ends at the first '|'. */
		const char *name = open + 2, *end = close;
		const char *bar = memchr(name, '|', (size_t)(close - name));
		if (bar)
			end = bar;
		trim(&name, &end);
		bool found;
		enum ref_verdict v = ref_placeholder(r, name, (size_t)(end - name), in, &found);
		if (v == REF_ERROR) {
			r->verdict = REF_ERROR;
			return;
		}
		if (v == REF_EITHER)
			r->verdict = REF_EITHER;
		if (!found) {
			r->misses++;
			if (bar) {
				const char *fb = bar + 1, *fe = close;
				trim(&fb, &fe);
				ref_push(r, fb, (size_t)(fe - fb), false);
			} else {
				ref_push_str(r, in->fallback);
			}
		}
		p = close + 2;
	}
}

/* Renders into an exact-size heap buffer, so that ASan sees a write past cap. */
static ssize_t render(const struct mxb_template *t, const struct mxb_template_input *in, size_t cap,
	char **out, struct mxb_template_stats *stats)
{
	char *buf = malloc(cap ? cap : 1);
	FUZZ_CHECK(buf);
	ssize_t n = mxb_template_render(t, in, buf, cap, stats);
	FUZZ_CHECK(n >= 0 || n == -E2BIG);
	if (n >= 0) {
		FUZZ_CHECK((size_t)n < cap);
		FUZZ_CHECK(buf[n] == '\0');
	}
	*out = buf;
	return n;
}

/* Checks the text before the first and after the last unknown value. */
static void check_pattern(const struct ref *r, const char *out, size_t len)
{
	size_t first = 0, last = r->len;
	size_t pos = 0;
	for (; first < r->len && !r->pieces[first].unknown; first++) {
		const struct piece *p = &r->pieces[first];
		FUZZ_CHECK(pos + p->len <= len);
		FUZZ_CHECK(memcmp(out + pos, p->s, p->len) == 0);
		pos += p->len;
	}
	if (first == r->len) {
		FUZZ_CHECK(pos == len);
		return;
	}
	size_t tail = len;
	for (; last > first && !r->pieces[last - 1].unknown; last--) {
		const struct piece *p = &r->pieces[last - 1];
		FUZZ_CHECK(p->len <= tail - pos);
		tail -= p->len;
		FUZZ_CHECK(memcmp(out + tail, p->s, p->len) == 0);
	}
}

static void check_render(
	const struct mxb_template *t, const struct mxb_template_input *in, const struct ref *r)
{
	bool unknown = false;
	size_t want = 0;
	for (size_t i = 0; i < r->len; i++) {
		unknown |= r->pieces[i].unknown;
		want += r->pieces[i].len;
	}

	char *out;
	struct mxb_template_stats stats = {0};
	ssize_t n;
	if (!unknown) {
		n = render(t, in, want + 1, &out, &stats);
		FUZZ_CHECK(n == (ssize_t)want);
	} else {
		size_t cap = 4096;
		for (;;) {
			stats = (struct mxb_template_stats){0};
			n = render(t, in, cap, &out, &stats);
			if (n >= 0 || cap >= 64 * 1024 * 1024)
				break;
			free(out);
			cap *= 4;
		}
		if (n < 0) {
			free(out);
			return;
		}
	}
	check_pattern(r, out, (size_t)n);
	if (r->json_payload) {
		/* Only the {{json...}} misses are unknown. */
		FUZZ_CHECK(stats.json_misses <= r->json_count);
		FUZZ_CHECK(stats.misses == r->misses + stats.json_misses);
	} else {
		FUZZ_CHECK(stats.json_misses == r->json_count);
		FUZZ_CHECK(stats.misses == r->misses);
	}

	/* Exactly n + 1 bytes fit, n do not; the same bytes come out again. */
	char *again;
	FUZZ_CHECK(render(t, in, (size_t)n + 1, &again, NULL) == n);
	FUZZ_CHECK(memcmp(again, out, (size_t)n + 1) == 0);
	free(again);
	FUZZ_CHECK(render(t, in, (size_t)n, &again, NULL) == -E2BIG);
	free(again);
	free(out);
}

static int64_t input_time(const uint8_t *data, size_t size)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ull;
	/* Mostly years 0..9999, most of which the reference computes; sometimes anything. */
	if (h % 8 == 0)
		return (int64_t)h;
	const int64_t lo = -62167219200, hi = 253402300799;
	return lo + (int64_t)(h % (uint64_t)(hi - lo + 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	FUZZ_CHECK(copy);
	memcpy(copy, data, size);
	copy[size] = '\0';

	/* SRC, TOPIC, FROM, BODY, ARGS, FALLBACK end at a NUL; the payload is the rest. */
	const char *field[6] = {NULL};
	char *p = copy;
	size_t nfields = 0;
	while (nfields < 6 && p <= copy + size) {
		field[nfields++] = p;
		p += strlen(p) + 1;
	}
	bool payload = p <= copy + size;

	char *args_copy = field[4] ? strdup(field[4]) : NULL;
	const char *args[MAX_ARGS];
	size_t nargs = 0;
	for (char *save, *w = args_copy ? strtok_r(args_copy, " ", &save) : NULL;
		w && nargs < MAX_ARGS; w = strtok_r(NULL, " ", &save))
		args[nargs++] = w;

	const char *src = field[0];
	struct mxb_template_input in = {
		.topic = field[1],
		.from = field[2],
		.body = field[3],
		.args = field[4] ? args : NULL,
		.nargs = nargs,
		.args_text = field[4],
		.fallback = field[5],
		.payload = payload ? p : NULL,
		.payload_len = payload ? (size_t)(copy + size - p) : 0,
		.time = input_time(data, size),
	};

	struct ref r = {.verdict = REF_OK};
	ref_time(in.time, r.time, sizeof(r.time));
	if (in.payload && strstr(src, "json.")) {
		cJSON *j = cJSON_ParseWithLength(in.payload, in.payload_len);
		r.json_payload = j != NULL;
		cJSON_Delete(j);
	}
	ref_parse(src, &in, &r);

	char err[256];
	memset(err, 0xaa, sizeof(err));
	struct mxb_template *t = NULL;
	int ret = mxb_template_parse(src, &t, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	if (r.verdict == REF_OK)
		FUZZ_CHECK(ret == 0);
	if (r.verdict == REF_ERROR)
		FUZZ_CHECK(ret == -EINVAL);

	if (ret < 0) {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		/* A short error buffer is truncated, not overrun. */
		size_t errlen = 1 + size % 16;
		char *small = malloc(errlen);
		FUZZ_CHECK(small);
		struct mxb_template *t2 = NULL;
		FUZZ_CHECK(mxb_template_parse(src, &t2, small, errlen) == -EINVAL);
		FUZZ_CHECK(memchr(small, '\0', errlen) != NULL);
		free(small);
	} else {
		FUZZ_CHECK(t != NULL);
		FUZZ_CHECK(mxb_template_uses_json(t) == r.used[K_JSON]);
		FUZZ_CHECK(mxb_template_max_arg(t) == r.max_arg);
		for (size_t k = 0; k < K_COUNT; k++)
			FUZZ_CHECK(mxb_template_uses(t, kind_names[k]) == r.used[k]);
		FUZZ_CHECK(!mxb_template_uses(t, "nope"));
		check_render(t, &in, &r);
		mxb_template_destroy(t);
	}

	free(r.pieces);
	free(args_copy);
	free(copy);
	return 0;
}
