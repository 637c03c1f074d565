#ifndef MXB_CHECK_H
#define MXB_CHECK_H

/* A minimal harness: CHECK records a failure with its location and goes on. */

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		check_count++;                                                                   \
		if (!(cond)) {                                                                   \
			check_failures++;                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                                \
	} while (0)

#define CHECK_STR(got, want)                                                                \
	do {                                                                                \
		const char *g_ = (got), *w_ = (want);                                       \
		check_count++;                                                              \
		if (!g_ || strcmp(g_, w_) != 0) {                                           \
			check_failures++;                                                   \
			fprintf(stderr, "%s:%d: got '%s', want '%s'\n", __FILE__, __LINE__, \
				g_ ? g_ : "(null)", w_);                                    \
		}                                                                           \
	} while (0)

static inline int check_report(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
