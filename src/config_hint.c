#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_hint.h"

/* Brackets nested deeper than this are no usual mistake: no hint then. */
#define DEPTH_MAX 64
#define NAME_MAX_LEN 64

enum tok {
	TOK_NONE, /* the start of the file */
	TOK_PUNCT, /* one of { } ( ) [ ] = : ; , */
	TOK_WORD, /* a name, a number, true or false */
	TOK_STRING,
	TOK_END,
};

struct scan {
	const char *s, *end;
	unsigned line;
	char stack[DEPTH_MAX];
	unsigned opened[DEPTH_MAX]; /* the line of each open bracket */
	size_t depth;
	enum tok prev, prev2; /* the last two tokens */
	char prev_ch, prev2_ch; /* their character when punctuation */
};

/* Skips blanks and comments (#, //, C style) and @include lines, counting lines. */
static void skip_space(struct scan *sc)
{
	while (sc->s < sc->end) {
		char ch = *sc->s;
		if (ch == '\n') {
			sc->line++;
			sc->s++;
		} else if (isspace((unsigned char)ch)) {
			sc->s++;
		} else if (ch == '#' || ch == '@' ||
			   (ch == '/' && sc->s + 1 < sc->end && sc->s[1] == '/')) {
			while (sc->s < sc->end && *sc->s != '\n')
				sc->s++;
		} else if (ch == '/' && sc->s + 1 < sc->end && sc->s[1] == '*') {
			sc->s += 2;
			while (sc->s < sc->end &&
				!(*sc->s == '*' && sc->s + 1 < sc->end && sc->s[1] == '/')) {
				if (*sc->s == '\n')
					sc->line++;
				sc->s++;
			}
			sc->s = sc->s + 2 <= sc->end ? sc->s + 2 : sc->end;
		} else {
			return;
		}
	}
}

static bool word_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '+' || ch == '.' ||
	       ch == '*';
}

static char closer_of(char open)
{
	return open == '{' ? '}' : open == '(' ? ')' : ']';
}

/* A value libconfig reads without quotes: a number, true or false. */
static bool bare_value(const char *w, size_t n)
{
	if (n > 0 && (isdigit((unsigned char)w[0]) || w[0] == '-' || w[0] == '+' || w[0] == '.'))
		return true;
	return (n == 4 && strncasecmp(w, "true", 4) == 0) ||
	       (n == 5 && strncasecmp(w, "false", 5) == 0);
}

static bool after_assign(const struct scan *sc)
{
	return sc->prev == TOK_PUNCT && (sc->prev_ch == '=' || sc->prev_ch == ':');
}

/* A name stands where a setting starts: first in the file or a group, after ; or ,. */
static bool name_position(enum tok t, char ch)
{
	return t == TOK_NONE || (t == TOK_PUNCT && (ch == '{' || ch == ';' || ch == ','));
}

/*
 * Checks the token at sc->s (already skipped to) and moves past it. Returns a hint when it
 * is a usual mistake, writing its line to *at; NULL otherwise.
 */
static const char *step(struct scan *sc, char *buf, size_t cap, unsigned *at, bool *stop)
{
	*at = sc->line;
	if (sc->s >= sc->end) {
		*stop = true;
		if (sc->depth == 0)
			return NULL;
		size_t top = sc->depth - 1;
		snprintf(buf, cap, "the '%c' of line %u is never closed with '%c'", sc->stack[top],
			sc->opened[top], closer_of(sc->stack[top]));
		return buf;
	}
	char ch = *sc->s;
	enum tok t;
	const char *hint = NULL;
	if (strchr("{}()[]=:;,", ch)) {
		t = TOK_PUNCT;
		char top = sc->depth ? sc->stack[sc->depth - 1] : 0;
		if (ch == '{' && top == '[') {
			hint = "a list of groups is written ( { ... }, { ... } ); [ ] holds only "
			       "strings, numbers or booleans";
		} else if (ch == '{' && top == '(' && sc->prev == TOK_PUNCT && sc->prev_ch == '}') {
			hint = "a ',' is missing between two groups of a list";
		} else if (ch == '{' || ch == '(' || ch == '[') {
			if (sc->depth == DEPTH_MAX) {
				*stop = true;
				return NULL;
			}
			sc->opened[sc->depth] = sc->line;
			sc->stack[sc->depth++] = ch;
		} else if (ch == '}' || ch == ')' || ch == ']') {
			if (!top) {
				snprintf(buf, cap,
					"this '%c' closes nothing: one too many, or its "
					"opening bracket is missing",
					ch);
				hint = buf;
			} else if (closer_of(top) != ch) {
				snprintf(buf, cap, "'%c' where the '%c' of line %u needs '%c'", ch,
					top, sc->opened[sc->depth - 1], closer_of(top));
				hint = buf;
			} else {
				sc->depth--;
			}
		}
		sc->s++;
	} else if (ch == '"') {
		t = TOK_STRING;
		if (sc->prev == TOK_WORD && name_position(sc->prev2, sc->prev2_ch))
			hint = "a '=' is missing between a name and its value";
		for (sc->s++; sc->s < sc->end && *sc->s != '"'; sc->s++) {
			if (*sc->s == '\\' && sc->s + 1 < sc->end)
				sc->s++;
			else if (*sc->s == '\n')
				sc->line++;
		}
		if (sc->s < sc->end)
			sc->s++;
	} else if (word_char(ch)) {
		t = TOK_WORD;
		const char *w = sc->s;
		while (sc->s < sc->end && word_char(*sc->s))
			sc->s++;
		size_t n = (size_t)(sc->s - w);
		if (after_assign(sc) && !bare_value(w, n))
			hint = "a text value is written in double quotes, as in host = "
			       "\"localhost\";";
		else if (bare_value(w, n) && sc->prev == TOK_WORD &&
			 name_position(sc->prev2, sc->prev2_ch))
			hint = "a '=' is missing between a name and its value";
	} else {
		/* a character libconfig has no use for: nothing usual to say */
		*stop = true;
		return NULL;
	}
	sc->prev2 = sc->prev;
	sc->prev2_ch = sc->prev_ch;
	sc->prev = t;
	sc->prev_ch = ch;
	return hint;
}

bool mxb_conf_syntax_hint(const char *text, size_t len, unsigned line, char *buf, size_t cap)
{
	if (cap == 0)
		return false;
	buf[0] = '\0';
	struct scan sc = {.s = text, .end = text + len, .line = 1};
	char tmp[160];
	bool stop = false;
	while (!stop) {
		skip_space(&sc);
		unsigned at;
		const char *hint = step(&sc, tmp, sizeof(tmp), &at, &stop);
		if (!hint)
			continue;
		/* the first mistake is where libconfig stopped, or libconfig saw another */
		if (at != line)
			return false;
		snprintf(buf, cap, "%s", hint);
		return true;
	}
	return false;
}

size_t mxb_conf_distance(const char *a, const char *b, size_t max)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > NAME_MAX_LEN || lb > NAME_MAX_LEN)
		return max + 1;
	if ((la > lb ? la - lb : lb - la) > max)
		return max + 1;
	/* three rows of the optimal string alignment table */
	size_t rows[3][NAME_MAX_LEN + 1];
	size_t *pp = rows[0], *p = rows[1], *cur = rows[2];
	for (size_t j = 0; j <= lb; j++)
		p[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t d = p[j - 1] + cost;
			if (p[j] + 1 < d)
				d = p[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
				pp[j - 2] + 1 < d)
				d = pp[j - 2] + 1;
			cur[j] = d;
		}
		size_t *t = pp;
		pp = p;
		p = cur;
		cur = t;
	}
	return p[lb] > max ? max + 1 : p[lb];
}

bool mxb_conf_is_close(const char *name, const char *key)
{
	size_t n = strlen(name);
	size_t max = n <= 4 ? 1 : 2;
	size_t d = mxb_conf_distance(name, key, max);
	return d <= max && d < n && d < strlen(key);
}
