#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

#define JOURNAL "spool.journal"
#define JOURNAL_NEW "spool.journal.new"
/* Past this size, and mostly dead records, the journal is rewritten. */
#define REWRITE_BYTES (4 * 1024 * 1024)

struct mxb_spool {
	char *dir;
	char *path;
	char *path_new;
	int fd;
	int new_fd; /* during a rewrite */
	bool dirty;
	bool failing;
	uint64_t size;
	uint64_t live_bytes;
};

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

struct live {
	char *id, *to, *type, *body;
};

/* Reads the journal into the live messages, in order. Tolerates a torn last record. */
static int load(const char *path, struct live **out, size_t *count)
{
	*out = NULL;
	*count = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	struct live *v = NULL;
	size_t len = 0, cap = 0, first = 0;
	char head[4096];
	while (fgets(head, sizeof(head), f)) {
		char id[64], type[16], to[3072];
		size_t blen;
		if (sscanf(head, "D\t%63s", id) == 1 && head[0] == 'D') {
			/* Messages are mostly done in the order they came: look from the oldest. */
			while (first < len && !v[first].id)
				first++;
			for (size_t i = first; i < len; i++) {
				if (v[i].id && strcmp(v[i].id, id) == 0) {
					free(v[i].id);
					free(v[i].to);
					free(v[i].type);
					free(v[i].body);
					v[i] = (struct live){0};
					break;
				}
			}
			continue;
		}
		if (head[0] != 'A' ||
			sscanf(head, "A\t%63s\t%15s\t%3071s\t%zu", id, type, to, &blen) != 4 ||
			blen > 16 * 1024 * 1024)
			break;
		char *body = malloc(blen + 1);
		if (!body || fread(body, 1, blen, f) != blen || fgetc(f) != '\n') {
			free(body);
			break; /* torn at the end: the process died while writing it */
		}
		body[blen] = '\0';
		if (len == cap) {
			cap = cap ? 2 * cap : 64;
			struct live *nv = realloc(v, cap * sizeof(*nv));
			if (!nv) {
				free(body);
				break;
			}
			v = nv;
		}
		v[len++] = (struct live){strdup(id), strdup(to), strdup(type), body};
	}
	fclose(f);
	*out = v;
	*count = len;
	return 0;
}

int mxb_spool_open(struct mxb_spool **out, const char *dir, mxb_spool_replay_fn replay, void *data)
{
	struct mxb_spool *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = s->new_fd = -1;
	s->dir = strdup(dir);
	s->path = join(dir, JOURNAL);
	s->path_new = join(dir, JOURNAL_NEW);
	if (!s->dir || !s->path || !s->path_new) {
		mxb_spool_close(s);
		return -ENOMEM;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int err = -errno;
		mxb_log_errno(MXB_LOG_ERROR, "spool: cannot create '%s'", dir);
		mxb_spool_close(s);
		return err;
	}
	struct live *v;
	size_t n;
	int r = load(s->path, &v, &n);
	if (r < 0) {
		mxb_log_error("spool: cannot read '%s': %s", s->path, strerror(-r));
		mxb_spool_close(s);
		return r;
	}
	/* Start from a clean journal holding only what is live. */
	r = mxb_spool_rewrite_begin(s);
	size_t replayed = 0;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].id)
			continue;
		if (replay(v[i].id, v[i].to, v[i].type, v[i].body, data)) {
			if (r == 0)
				r = mxb_spool_add(s, v[i].id, v[i].to, v[i].type, v[i].body);
			replayed++;
		}
		free(v[i].id);
		free(v[i].to);
		free(v[i].type);
		free(v[i].body);
	}
	free(v);
	if (r == 0)
		r = mxb_spool_rewrite_commit(s);
	if (r < 0) {
		mxb_log_error("spool: cannot write '%s': %s", s->path, strerror(-r));
		mxb_spool_close(s);
		return r;
	}
	if (replayed)
		mxb_log_info("spool: %zu messages from the last run go out again", replayed);
	*out = s;
	return 0;
}

void mxb_spool_close(struct mxb_spool *s)
{
	if (!s)
		return;
	if (s->fd >= 0) {
		mxb_spool_sync(s);
		close(s->fd);
	}
	if (s->new_fd >= 0)
		close(s->new_fd);
	free(s->dir);
	free(s->path);
	free(s->path_new);
	free(s);
}

static int append(struct mxb_spool *s, const char *head, size_t hlen, const char *body, size_t blen)
{
	int fd = s->new_fd >= 0 ? s->new_fd : s->fd;
	int r = write_all(fd, head, hlen);
	if (r == 0 && body)
		r = write_all(fd, body, blen);
	if (r == 0 && body)
		r = write_all(fd, "\n", 1);
	if (r < 0) {
		if (!s->failing)
			mxb_log_error("spool: cannot write '%s': %s; messages held now would not "
				      "survive a crash",
				s->path, strerror(-r));
		s->failing = true;
		return r;
	}
	if (s->failing)
		mxb_log_info("spool: writing again");
	s->failing = false;
	s->dirty = true;
	s->size += hlen + (body ? blen + 1 : 0);
	return 0;
}

int mxb_spool_add(
	struct mxb_spool *s, const char *id, const char *to, const char *type, const char *body)
{
	char head[4096];
	size_t blen = strlen(body);
	int n = snprintf(head, sizeof(head), "A\t%s\t%s\t%s\t%zu\n", id, type, to, blen);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -E2BIG;
	s->live_bytes += (size_t)n + blen + 1;
	return append(s, head, (size_t)n, body, blen);
}

int mxb_spool_done(struct mxb_spool *s, const char *id)
{
	char head[128];
	int n = snprintf(head, sizeof(head), "D\t%s\n", id);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -E2BIG;
	return append(s, head, (size_t)n, NULL, 0);
}

void mxb_spool_sync(struct mxb_spool *s)
{
	if (!s->dirty || s->fd < 0)
		return;
	if (fdatasync(s->fd) < 0)
		mxb_log_errno(MXB_LOG_WARN, "spool: fdatasync '%s'", s->path);
	s->dirty = false;
}

bool mxb_spool_wants_rewrite(const struct mxb_spool *s)
{
	return s->size > REWRITE_BYTES;
}

int mxb_spool_rewrite_begin(struct mxb_spool *s)
{
	s->new_fd = open(s->path_new, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s->new_fd < 0)
		return -errno;
	s->size = 0;
	s->live_bytes = 0;
	return 0;
}

int mxb_spool_rewrite_commit(struct mxb_spool *s)
{
	int fd = s->new_fd;
	s->new_fd = -1;
	/* The new journal is complete on disk before it replaces the old one. */
	if (fdatasync(fd) < 0 || rename(s->path_new, s->path) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	/* Appends go to the end. */
	if (lseek(fd, 0, SEEK_END) < 0)
		return -errno;
	s->dirty = false;
	return 0;
}
