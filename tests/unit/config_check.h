#ifndef MXB_TEST_CONFIG_CHECK_H
#define MXB_TEST_CONFIG_CHECK_H

/*
 * What the config tests share: bridge.conf variants written into a temporary directory,
 * loaded, and checked for success or for the exact "file:line: message" errors. "$F" in a
 * text stands for the file, "$D" for the directory.
 */

#include <stdbool.h>

#include "check.h"
#include "config.h"

/* A valid xmpp group, for tests about the other sections. */
#define XMPP_OK "xmpp: { jid = \"bot@example.org\"; password = \"secret\"; };\n"

/* The temporary directory, made by config_check_init (template: /tmp/NAME.XXXXXX). */
extern char config_check_dir[];
void config_check_init(void);
/* Removes the directory and everything in it. */
void config_check_cleanup(void);

/* name in the directory (a new string). */
char *path_of(const char *name);
/* s with "$F" replaced by file and "$D" by the directory (a new string). */
char *expand(const char *s, const char *file);
/* Writes content into name in the directory; a name ending in .pw is made 0640. */
void write_file(const char *name, const char *content);
int load_ok_at(int line, const char *file, struct mxb_config *cfg);
int load_str_ok_at(int line, const char *name, const char *content, struct mxb_config *cfg);
/* Whether the load failed with exactly the expected errors (said on stderr if not). */
bool expect_errors_file(int line, const char *file, const char *const *expected);
bool expect_errors_at(int line, const char *name, const char *content, const char *const *expected);

/* The checks are counted by the test's own check.h counters, in the test's file. */
static inline int config_check_counted(int ret)
{
	check_count++;
	if (ret != 0)
		check_failures++;
	return ret;
}

#define LOAD_OK(name, content, cfg) \
	config_check_counted(load_str_ok_at(__LINE__, name, content, cfg))
#define EXPECT_ERRORS(name, content, ...)       \
	config_check_counted(!expect_errors_at( \
		__LINE__, name, content, (const char *const[]){__VA_ARGS__, NULL}))
#define EXPECT_FILE_ERRORS(file, ...) \
	config_check_counted(         \
		!expect_errors_file(__LINE__, file, (const char *const[]){__VA_ARGS__, NULL}))

#endif
