/*
 * The loader's table of keys against docs/configuration.md (given as argv[1]) and against
 * the loader itself: every key is documented with the same type and default, every
 * documented key exists, every default in the table is one its key can take, and the
 * loader parses every key of the table (none is silently ignored).
 *
 * The docs' convention: a line "<!-- keys: SECTION -->" (SECTION as in the table, or
 * "top level") is followed by a table whose rows start "| `KEY` | TYPE | DEFAULT |".
 */

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "config_keys.h"

#define MAX_ROWS 256

struct row {
	char section[64];
	char name[64];
	char type[128];
	char def[256];
	int line;
};

static struct row rows[MAX_ROWS];
static size_t rows_len;

/* s without the spaces around it, into out. */
static void trim_into(char *out, size_t size, const char *s, size_t len)
{
	while (len > 0 && *s == ' ') {
		s++;
		len--;
	}
	while (len > 0 && s[len - 1] == ' ')
		len--;
	snprintf(out, size, "%.*s", (int)len, s);
}

/* "| `KEY` | TYPE | DEFAULT | ..." into r; false for a line that is no such row. */
static bool parse_row(const char *line, struct row *r)
{
	const char *cell[4];
	const char *p = line;
	for (int i = 0; i < 4; i++) {
		if (!(p = strchr(p, '|')))
			return false;
		cell[i] = ++p;
	}
	char key[80];
	trim_into(key, sizeof(key), cell[0], (size_t)(cell[1] - 1 - cell[0]));
	size_t n = strlen(key);
	if (n < 3 || key[0] != '`' || key[n - 1] != '`')
		return false;
	snprintf(r->name, sizeof(r->name), "%.*s", (int)(n - 2), key + 1);
	trim_into(r->type, sizeof(r->type), cell[1], (size_t)(cell[2] - 1 - cell[1]));
	trim_into(r->def, sizeof(r->def), cell[2], (size_t)(cell[3] - 1 - cell[2]));
	return true;
}

static void read_docs(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		exit(1);
	}
	char line[4096], section[64] = "";
	bool in_table = false;
	int line_no = 0;
	while (fgets(line, sizeof(line), f)) {
		line_no++;
		line[strcspn(line, "\n")] = '\0';
		char name[64];
		if (sscanf(line, "<!-- keys: %63[^-] -->", name) == 1) {
			trim_into(section, sizeof(section), name, strlen(name));
			if (strcmp(section, "top level") == 0)
				section[0] = '\0';
			in_table = true;
			continue;
		}
		if (!in_table)
			continue;
		if (line[0] != '|') {
			in_table = false;
			continue;
		}
		struct row r = {.line = line_no};
		if (!parse_row(line, &r) || strcmp(r.name, "Key") == 0)
			continue;
		snprintf(r.section, sizeof(r.section), "%s", section);
		CHECK(rows_len < MAX_ROWS);
		if (rows_len < MAX_ROWS)
			rows[rows_len++] = r;
	}
	fclose(f);
	/* the docs must have been found and read: every section has a table */
	CHECK(rows_len >= 80);
}

static const char *section_name(const char *section)
{
	return *section ? section : "(top level)";
}

/* Every documented key is in the table, with its type and default. */
static void test_documented_keys_exist(const char *docs)
{
	for (size_t i = 0; i < rows_len; i++) {
		const struct row *r = &rows[i];
		const struct mxb_config_key *k = mxb_config_key_find(r->section, r->name);
		check_count++;
		if (!k) {
			fprintf(stderr, "%s:%d: '%s' in %s is not a key the loader knows\n", docs,
				r->line, r->name, section_name(r->section));
			check_failures++;
			continue;
		}
		char type[128], def[256];
		mxb_config_key_type_text(k, type, sizeof(type));
		mxb_config_key_default_text(k, def, sizeof(def));
		check_count++;
		if (strcmp(type, r->type) != 0 || strcmp(def, r->def) != 0) {
			fprintf(stderr,
				"%s:%d: %s.%s is documented as '%s', default '%s'; the loader "
				"says '%s', default '%s'\n",
				docs, r->line, section_name(r->section), r->name, r->type, r->def,
				type, def);
			check_failures++;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(rows[j].section, r->section) == 0 &&
				strcmp(rows[j].name, r->name) == 0) {
				fprintf(stderr, "%s:%d: %s.%s documented twice\n", docs, r->line,
					section_name(r->section), r->name);
				check_failures++;
			}
		}
	}
}

/* Every key of the table is documented, once. */
static void test_keys_documented(const char *docs)
{
	for (size_t i = 0; i < mxb_config_keys_len; i++) {
		const struct mxb_config_key *k = &mxb_config_keys[i];
		size_t found = 0;
		for (size_t j = 0; j < rows_len; j++)
			found += strcmp(rows[j].section, k->section) == 0 &&
				 strcmp(rows[j].name, k->name) == 0;
		check_count++;
		if (found == 0) {
			fprintf(stderr, "%s: %s.%s is not documented\n", docs,
				section_name(k->section), k->name);
			check_failures++;
		}
		CHECK(mxb_config_key_find(k->section, k->name) == k);
		CHECK(k->value || k->def);
	}
}

/* A default held in a field is one the key can take, and the defaults put it there. */
static void test_defaults_valid(void)
{
	struct mxb_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	CHECK(mxb_config_defaults(NULL, &cfg) == 0);
	for (size_t i = 0; i < mxb_config_keys_len; i++) {
		const struct mxb_config_key *k = &mxb_config_keys[i];
		if (k->kind == MXB_KEY_NONE || !k->value)
			continue;
		if (strcmp(k->section, "notify") == 0 || strcmp(k->section, "commands") == 0 ||
			strcmp(k->section, "devices") == 0 ||
			strcmp(k->section, "xmpp.rooms") == 0 ||
			strcmp(k->section, "location.accounts") == 0 ||
			strcmp(k->section, "pubsub") == 0 || strcmp(k->section, "subscribe") == 0)
			continue;
		const char *field = (const char *)&cfg + k->offset;
		char *end = NULL;
		long long v = strtoll(k->value, &end, 10);
		switch (k->kind) {
		case MXB_KEY_INT:
			CHECK(*end == '\0' && (!k->ranged || (v >= k->min && v <= k->max)));
			CHECK(*(const int *)(const void *)field == v);
			break;
		case MXB_KEY_SIZE:
			CHECK(*end == '\0' && (!k->ranged || (v >= k->min && v <= k->max)));
			CHECK(*(const size_t *)(const void *)field == (size_t)v);
			break;
		case MXB_KEY_BOOL:
			CHECK(strcmp(k->value, "true") == 0 || strcmp(k->value, "false") == 0);
			CHECK(*(const bool *)(const void *)field ==
				(strcmp(k->value, "true") == 0));
			break;
		case MXB_KEY_ENUM: {
			int e = *(const int *)(const void *)field;
			CHECK(k->names != NULL);
			if (k->names)
				CHECK_STR(mxb_config_name(k->names, e), k->value);
			break;
		}
		case MXB_KEY_STRING:
			CHECK_STR(*(char *const *)(const void *)field, k->value);
			break;
		case MXB_KEY_NONE:
			break;
		}
	}
	mxb_config_finish(&cfg);
}

/* Entries of lists get their defaults as the top level does. */
static void test_entry_defaults(void)
{
	struct mxb_notify_route r = {0};
	CHECK(mxb_config_defaults("notify", &r) == 0);
	CHECK(r.qos == 1);
	CHECK_STR(r.message, mxb_config_key_value("notify", "message"));
	CHECK_STR(r.fallback, "");
	CHECK_STR(r.file_name, mxb_config_key_value("notify", "file_name"));
	free(r.message);
	free(r.fallback);
	free(r.file_name);
	struct mxb_device_rule d = {0};
	CHECK(mxb_config_defaults("devices", &d) == 0);
	CHECK(d.qos == 1 && d.timeout == 10 && d.convention == MXB_CONVENTION_NONE);
	for (size_t i = 0; i < mxb_config_keys_len; i++) {
		const struct mxb_config_key *k = &mxb_config_keys[i];
		if (k->kind == MXB_KEY_ENUM && k->value) {
			bool known = false;
			for (size_t j = 0; k->names && j < k->names->len; j++)
				known = known || strcmp(k->names->v[j], k->value) == 0;
			CHECK(known);
		}
	}
}

static char dir[] = "/tmp/test_config_keys.XXXXXX";

/* bridge.conf setting the key to 1.5, a type no key has, in its place. */
static char *config_with(const struct mxb_config_key *k)
{
	static const struct {
		const char *section, *before, *after;
	} places[] = {
		{"", "", ""},
		{"bridge", "bridge: { ", " };"},
		{"xmpp", "xmpp: { ", " };"},
		{"xmpp.rooms", "xmpp: { jid = \"a@b\"; password = \"p\"; rooms = ( { ", " } ); };"},
		{"xmpp.component", "xmpp: { component: { ", " }; };"},
		{"mqtt", "mqtt: { ", " };"},
		{"mqtt.tls", "mqtt: { tls: { ", " }; };"},
		{"notify", "notify = ( { ", " } );"},
		{"commands", "commands = ( { ", " } );"},
		{"devices", "devices = ( { ", " } );"},
		{"location", "location: { ", " };"},
		{"location.accounts", "location: { accounts = ( { ", " } ); };"},
		{"pubsub", "pubsub = ( { ", " } );"},
		{"subscribe", "subscribe = ( { ", " } );"},
	};
	for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
		if (strcmp(places[i].section, k->section) != 0)
			continue;
		size_t len = 256 + strlen(k->name);
		char *s = malloc(len);
		if (!s)
			abort();
		snprintf(s, len, "%s%s = 1.5;%s\n", places[i].before, k->name, places[i].after);
		return s;
	}
	return NULL;
}

/* The loader reads every key of the table: a value of no key's type is an error about it. */
static void test_every_key_parsed(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	char path[sizeof(dir) + 16];
	snprintf(path, sizeof(path), "%s/bridge.conf", dir);
	for (size_t i = 0; i < mxb_config_keys_len; i++) {
		const struct mxb_config_key *k = &mxb_config_keys[i];
		char *text = config_with(k);
		check_count++;
		if (!text) {
			fprintf(stderr, "no place for a key of section '%s'\n", k->section);
			check_failures++;
			continue;
		}
		FILE *f = fopen(path, "w");
		if (!f || fputs(text, f) < 0 || fclose(f) != 0)
			abort();
		struct mxb_config cfg;
		struct mxb_strlist errors = {0};
		int ret = mxb_config_load(&cfg, path, &errors);
		char want[128];
		snprintf(want, sizeof(want), ": '%s' must be ", k->name);
		bool found = false;
		for (size_t j = 0; j < errors.len; j++)
			found = found || strstr(errors.v[j], want) != NULL;
		check_count++;
		if (ret != -EINVAL || !found) {
			fprintf(stderr, "%s.%s = 1.5 was not refused for its type:\n  %s",
				section_name(k->section), k->name, text);
			for (size_t j = 0; j < errors.len; j++)
				fprintf(stderr, "    %s\n", errors.v[j]);
			check_failures++;
		}
		mxb_strlist_finish(&errors);
		mxb_config_finish(&cfg);
		free(text);
	}
	unlink(path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s docs/configuration.md\n", argv[0]);
		return 1;
	}
	read_docs(argv[1]);
	test_documented_keys_exist(argv[1]);
	test_keys_documented(argv[1]);
	test_defaults_valid();
	test_entry_defaults();
	test_every_key_parsed();
	return check_report("test_config_keys");
}
