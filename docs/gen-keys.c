/*
 * bridge.conf(5) in scdoc: the hand-written prose of docs/bridge.conf.5.scd.in with every
 * line "%keys SECTION" replaced by the keys of that section, as the loader's table
 * (src/config_keys.c) gives them: name, type, range and default from the table itself, so
 * the man page cannot document a key the loader does not know or a default it does not
 * set. The meaning of each key is the one docs/configuration.md gives it (its tables
 * follow "<!-- keys: SECTION -->" lines, held to the same table by test_config_keys).
 *
 * gen-keys TEMPLATE CONFIGURATION_MD > bridge.conf.5.scd
 *
 * Exits 1, naming the file and line, when the template places a section twice or one the
 * table has not, leaves a section of the table out, or a key has no meaning in the docs.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"

#define MAX_ROWS 256

struct meaning {
	char section[64];
	char name[64];
	char *text;
};

static struct meaning meanings[MAX_ROWS];
static size_t meanings_len;

static char *trim(char *s)
{
	while (*s == ' ')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* "| `KEY` | TYPE | DEFAULT | MEANING |": the key and the meaning, else false. */
static bool parse_row(char *line, char **key, char **text)
{
	char *cell[5];
	char *p = line;
	for (int i = 0; i < 5; i++) {
		if (!(p = strchr(p, '|')))
			return false;
		*p++ = '\0';
		cell[i] = p;
	}
	*key = trim(cell[0]);
	size_t n = strlen(*key);
	if (n < 3 || (*key)[0] != '`' || (*key)[n - 1] != '`')
		return false;
	(*key)[n - 1] = '\0';
	(*key)++;
	/* the meaning runs to the last '|' of the row */
	char *end = strrchr(cell[3], '|');
	if (end)
		*end = '\0';
	*text = trim(cell[3]);
	return true;
}

static int read_meanings(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		return -1;
	}
	char line[8192], section[64] = "";
	bool in_table = false;
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		if (sscanf(line, "<!-- keys: %63[^-] -->", name) == 1) {
			snprintf(section, sizeof(section), "%s", trim(name));
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
		char *key, *text;
		if (!parse_row(line, &key, &text) || meanings_len == MAX_ROWS)
			continue;
		struct meaning *m = &meanings[meanings_len++];
		snprintf(m->section, sizeof(m->section), "%s", section);
		snprintf(m->name, sizeof(m->name), "%s", key);
		if (!(m->text = strdup(text))) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

static const char *meaning_of(const struct mxb_config_key *k)
{
	for (size_t i = 0; i < meanings_len; i++) {
		if (strcmp(meanings[i].section, k->section) == 0 &&
			strcmp(meanings[i].name, k->name) == 0)
			return meanings[i].text;
	}
	return NULL;
}

/* Markdown of the docs' cells as scdoc: `code` bold, [text](link) as text, the rest escaped. */
static void put_scdoc(const char *s)
{
	bool code = false;
	for (; *s; s++) {
		if (*s == '`') {
			code = !code;
			putchar('*');
		} else if (*s == '[' && !code && strstr(s, "](")) {
			/* the link's text stays, the target goes */
			continue;
		} else if (*s == ']' && !code && s[1] == '(') {
			const char *close = strchr(s, ')');
			s = close ? close : s;
		} else if (*s == '*' || *s == '_' || *s == '\\') {
			putchar('\\');
			putchar(*s);
		} else {
			putchar(*s);
		}
	}
}

static bool has_section(const char *section)
{
	for (size_t i = 0; i < mxb_config_keys_len; i++) {
		if (strcmp(mxb_config_keys[i].section, section) == 0)
			return true;
	}
	return false;
}

/* The keys of one section as an scdoc list; -1 when one has no meaning in the docs. */
static int put_section(const char *section, const char *docs)
{
	int ret = 0;
	for (size_t i = 0; i < mxb_config_keys_len; i++) {
		const struct mxb_config_key *k = &mxb_config_keys[i];
		if (strcmp(k->section, section) != 0)
			continue;
		const char *text = meaning_of(k);
		if (!text) {
			fprintf(stderr, "%s: %s.%s has no meaning there\n", docs,
				*section ? section : "(top level)", k->name);
			ret = -1;
			continue;
		}
		char type[128], def[256];
		mxb_config_key_type_text(k, type, sizeof(type));
		mxb_config_key_default_text(k, def, sizeof(def));
		putchar('*');
		put_scdoc(k->name);
		fputs("* (", stdout);
		put_scdoc(type);
		fputs("; default: ", stdout);
		put_scdoc(def);
		fputs(")\n\t", stdout);
		put_scdoc(text);
		fputs("\n\n", stdout);
	}
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s bridge.conf.5.scd.in configuration.md\n", argv[0]);
		return 1;
	}
	if (read_meanings(argv[2]) < 0)
		return 1;
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	/* the keys whose section is placed */
	bool placed[MAX_ROWS] = {false};
	char line[4096];
	int line_no = 0, ret = 0;
	while (fgets(line, sizeof(line), f)) {
		line_no++;
		if (strncmp(line, "%keys ", 6) != 0) {
			fputs(line, stdout);
			continue;
		}
		char *section = trim(line + 6);
		if (strcmp(section, "top level") == 0)
			section[0] = '\0';
		if (!has_section(section)) {
			fprintf(stderr, "%s:%d: no section '%s' in the table of keys\n", argv[1],
				line_no, section);
			ret = 1;
			continue;
		}
		bool twice = false;
		for (size_t i = 0; i < mxb_config_keys_len && i < MAX_ROWS; i++) {
			if (strcmp(mxb_config_keys[i].section, section) != 0)
				continue;
			twice = twice || placed[i];
			placed[i] = true;
		}
		if (twice) {
			fprintf(stderr, "%s:%d: section '%s' placed twice\n", argv[1], line_no,
				*section ? section : "top level");
			ret = 1;
			continue;
		}
		if (put_section(section, argv[2]) < 0)
			ret = 1;
	}
	fclose(f);
	for (size_t i = 0; i < mxb_config_keys_len && i < MAX_ROWS; i++) {
		const char *section = mxb_config_keys[i].section;
		if (!placed[i] &&
			!(i > 0 && strcmp(mxb_config_keys[i - 1].section, section) == 0)) {
			fprintf(stderr, "%s: no line '%%keys %s'\n", argv[1],
				*section ? section : "top level");
			ret = 1;
		}
	}
	for (size_t i = 0; i < meanings_len; i++)
		free(meanings[i].text);
	return ret;
}
