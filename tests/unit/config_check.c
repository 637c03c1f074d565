/* What the config tests share: see config_check.h. */

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_check.h"

char config_check_dir[] = "/tmp/test_config.XXXXXX";
#define dir config_check_dir

void config_check_init(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
}

char *path_of(const char *name)
{
	size_t len = strlen(dir) + 1 + strlen(name) + 1;
	char *p = malloc(len);
	if (!p)
		abort();
	snprintf(p, len, "%s/%s", dir, name);
	return p;
}

/* Copies s with "$F" replaced by file and "$D" by the temporary directory. */
char *expand(const char *s, const char *file)
{
	size_t cap = strlen(s) + 1;
	for (const char *p = s; (p = strchr(p, '$')); p++)
		cap += strlen(dir) + strlen(file);
	char *out = malloc(cap), *o = out;
	if (!out)
		abort();
	for (const char *p = s; *p; p++) {
		if (p[0] == '$' && (p[1] == 'F' || p[1] == 'D')) {
			const char *r = p[1] == 'F' ? file : dir;
			o += sprintf(o, "%s", r);
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* Writes content, "$D" standing for the temporary directory, into name in it. */
void write_file(const char *name, const char *content)
{
	char *p = path_of(name);
	char *text = expand(content, p);
	FILE *f = fopen(p, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(p);
		abort();
	}
	/* Secrets as their owner would keep them: the loader refuses world-readable ones. */
	size_t n = strlen(name);
	if (n > 3 && strcmp(name + n - 3, ".pw") == 0 && chmod(p, 0640) != 0)
		abort();
	free(text);
	free(p);
}

static void print_errors(const struct mxb_strlist *errors)
{
	for (size_t i = 0; i < errors->len; i++)
		fprintf(stderr, "    %s\n", errors->v[i]);
}

/* Loads file (already written, a name in dir or a path as given) and expects success. */
int load_ok_at(int line, const char *file, struct mxb_config *cfg)
{
	struct mxb_strlist errors = {0};
	int ret = mxb_config_load(cfg, file, &errors);
	if (ret != 0 || errors.len != 0) {
		fprintf(stderr, "line %d: loading %s failed (%d):\n", line, file, ret);
		print_errors(&errors);
	}
	mxb_strlist_finish(&errors);
	return ret;
}

int load_str_ok_at(int line, const char *name, const char *content, struct mxb_config *cfg)
{
	write_file(name, content);
	char *p = path_of(name);
	int ret = load_ok_at(line, p, cfg);
	free(p);
	return ret;
}

/*
 * Loads file and checks that it fails with exactly the expected errors, in order. "$F" in
 * an expected message stands for file, "$D" for the temporary directory.
 */
bool expect_errors_file(int line, const char *file, const char *const *expected)
{
	struct mxb_config cfg;
	struct mxb_strlist errors = {0};
	int ret = mxb_config_load(&cfg, file, &errors);
	size_t n = 0;
	while (expected[n])
		n++;
	bool same = ret == -EINVAL && errors.len == n;
	for (size_t i = 0; same && i < n; i++) {
		char *want = expand(expected[i], file);
		same = strcmp(errors.v[i], want) == 0;
		free(want);
	}
	if (!same) {
		fprintf(stderr, "line %d: unexpected result %d for %s; expected:\n", line, ret,
			file);
		for (size_t i = 0; i < n; i++) {
			char *want = expand(expected[i], file);
			fprintf(stderr, "    %s\n", want);
			free(want);
		}
		fprintf(stderr, "  got:\n");
		print_errors(&errors);
	}
	/* a failed load leaves nothing behind */
	bool clean = cfg.path == NULL && cfg.xmpp.jid == NULL && cfg.notify == NULL;
	if (!clean)
		fprintf(stderr, "line %d: a failed load of %s left values behind\n", line, file);
	mxb_config_finish(&cfg);
	mxb_strlist_finish(&errors);
	return same && clean;
}

bool expect_errors_at(int line, const char *name, const char *content, const char *const *expected)
{
	write_file(name, content);
	char *p = path_of(name);
	bool ok = expect_errors_file(line, p, expected);
	free(p);
	return ok;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

void config_check_cleanup(void)
{
	if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		perror(dir);
}
