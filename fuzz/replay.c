/*
 * Runs LLVMFuzzerTestOneInput over every file of the directories (or files) given as
 * arguments, so that corpora replay as ordinary tests in builds without libFuzzer.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path, size_t *count)
{
	FILE *f = fopen(path, "rbe");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			uint8_t *b = realloc(buf, cap);
			if (!b) {
				fprintf(stderr, "replay: %s: out of memory\n", path);
				free(buf);
				fclose(f);
				return -1;
			}
			buf = b;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		return -1;
	}
	/* An exact-size copy, so that ASan sees reads past the end of the input. */
	uint8_t *input = malloc(len ? len : 1);
	if (!input) {
		free(buf);
		return -1;
	}
	if (len)
		memcpy(input, buf, len);
	free(buf);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(input, len);
	free(input);
	(*count)++;
	return 0;
}

static int compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the regular files of dir in name order, so that a failure reproduces. */
static int run_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t len = 0;
	int ret = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		size_t n = strlen(dir) + strlen(e->d_name) + 2;
		char *path = malloc(n);
		char **v = realloc(names, (len + 1) * sizeof(*v));
		if (!path || !v) {
			free(path);
			if (v)
				names = v;
			ret = -1;
			break;
		}
		names = v;
		snprintf(path, n, "%s/%s", dir, e->d_name);
		names[len++] = path;
	}
	closedir(d);
	if (len > 0)
		qsort(names, len, sizeof(*names), compare);
	for (size_t i = 0; i < len; i++) {
		struct stat st;
		if (ret == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			ret = run_file(names[i], count);
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	size_t count = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		int r = S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : run_file(argv[i], &count);
		if (r < 0)
			return 1;
	}
	fprintf(stderr, "replay: %zu inputs, no property violated\n", count);
	return 0;
}
