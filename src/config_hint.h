#ifndef MXB_CONFIG_HINT_H
#define MXB_CONFIG_HINT_H

/*
 * Hints for config errors, pure: what a user most likely meant when libconfig says only
 * "syntax error", and which known key an unknown one is closest to.
 */

#include <stdbool.h>
#include <stddef.h>

/*
 * Reads text[0..len) (a file libconfig refused with "syntax error" at line) the way
 * libconfig's scanner does, and finds the first of the usual mistakes: a ',' missing
 * between two groups of a list, '[ ]' around groups where a list needs '( )', a closing
 * bracket that closes nothing or the wrong one, a bracket left open at the end, a word
 * where a value needs quotes, a name and a value with no '=' between. True, with the hint
 * in buf (NUL-terminated, cut to cap), only when that mistake is on line.
 * (A missing ';' is no error for libconfig: the terminator is optional.)
 */
bool mxb_conf_syntax_hint(const char *text, size_t len, unsigned line, char *buf, size_t cap);

/*
 * The optimal string alignment distance between a and b (insertions, deletions,
 * substitutions and swaps of two neighbours each count 1), or max + 1 when it is more
 * than max. Names longer than 64 bytes are never close.
 */
size_t mxb_conf_distance(const char *a, const char *b, size_t max);

/*
 * Whether a name that is not a key is close enough to key to suggest it: one edit for
 * names up to 4 characters, two beyond, never the whole name.
 */
bool mxb_conf_is_close(const char *name, const char *key);

#endif
