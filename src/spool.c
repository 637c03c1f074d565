#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "spool_record.h"

#define JOURNAL "spool.journal"
#define JOURNAL_NEW "spool.journal.new"
/* A journal that cannot be read to its end is kept as this, with the time appended. */
#define JOURNAL_UNREADABLE "spool.journal.unreadable"
/* Past this size, and mostly dead records, the journal is rewritten. */
#define REWRITE_BYTES (4 * 1024 * 1024)
/* Reads of the journal at start. */
#define READ_CHUNK (64 * 1024)

struct mxb_spool {
	char *dir;
	char *path;
	char *path_new;
	int fd;
	int new_fd; /* during a rewrite */
	bool dirty;
	bool failing;
	uint64_t size; /* appended since the last rewrite */
	uint64_t end, new_end; /* of fd and new_fd: where a failed append is cut back to */
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

static int writev_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

struct live {
	char *id, *to, *type, *body;
};

static void live_free(struct live *l)
{
	free(l->id);
	free(l->to);
	free(l->type);
	free(l->body);
	*l = (struct live){0};
}

/* What load found. */
struct journal {
	struct live *v; /* in order; done ones have id NULL */
	size_t len, cap;
	size_t first; /* before it every message is done */
	bool legacy; /* records of the previous format were read */
	bool unreadable; /* reading stopped before the end */
};

/*
 * A field as a C string. Not strndup: the field is not NUL-terminated, and strndup may
 * look for a NUL past len (ASan's strict string checks do).
 */
static char *copy(const char *s, size_t len)
{
	char *p = malloc(len + 1);
	if (p) {
		if (len > 0)
			memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

static int apply(struct journal *j, const struct mxb_spool_record *rec)
{
	j->legacy |= rec->legacy;
	if (rec->kind == MXB_SPOOL_DONE) {
		/* Messages are mostly done in the order they came: look from the oldest. */
		while (j->first < j->len && !j->v[j->first].id)
			j->first++;
		for (size_t i = j->first; i < j->len; i++) {
			if (j->v[i].id && strlen(j->v[i].id) == rec->id_len &&
				memcmp(j->v[i].id, rec->id, rec->id_len) == 0) {
				live_free(&j->v[i]);
				break;
			}
		}
		return 0;
	}
	if (j->len == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 64;
		struct live *nv = realloc(j->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		j->v = nv;
		j->cap = cap;
	}
	struct live l = {
		copy(rec->id, rec->id_len),
		copy(rec->to, rec->to_len),
		copy(rec->type, rec->type_len),
		copy(rec->body, rec->body_len),
	};
	if (!l.id || !l.to || !l.type || !l.body) {
		live_free(&l);
		return -ENOMEM;
	}
	j->v[j->len++] = l;
	return 0;
}

static void journal_free(struct journal *j)
{
	for (size_t i = 0; i < j->len; i++)
		live_free(&j->v[i]);
	free(j->v);
}

/* Reads up to want bytes into buf, less only at the end of the file. */
static ssize_t read_full(int fd, char *buf, size_t want)
{
	size_t got = 0;
	while (got < want) {
		ssize_t n = read(fd, buf + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Reads the journal into j. A torn last record (the process died while writing it) ends
 * the journal quietly; anything else unreadable ends it with a log line and marks j.
 */
static int load(const char *path, struct journal *j)
{
	*j = (struct journal){0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	size_t cap = READ_CHUNK, len = 0, off = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	uint64_t at = 0; /* offset in the file of buf[off] */
	bool eof = false;
	int ret = 0;
	for (;;) {
		struct mxb_spool_record rec;
		size_t size;
		int r = mxb_spool_record_decode(buf + off, len - off, &rec, &size);
		if (r == 0) {
			ret = apply(j, &rec);
			if (ret < 0)
				break;
			off += size;
			at += size;
			continue;
		}
		if (r != -EAGAIN) {
			mxb_log_error("spool: '%s' has an unreadable record at byte %llu (%s); the "
				      "messages after it are not replayed",
				path, (unsigned long long)at,
				r == -E2BIG ? "a length over its bound" : "malformed");
			j->unreadable = true;
			break;
		}
		if (eof) {
			if (len > off)
				mxb_log_warn("spool: '%s' ends in a torn record (%zu bytes at byte "
					     "%llu), written when the bridge died; ignored",
					path, len - off, (unsigned long long)at);
			break;
		}
		/* The decoder checked the record's length against the bounds before this. */
		size_t need = size ? size : len - off + READ_CHUNK;
		memmove(buf, buf + off, len - off);
		len -= off;
		off = 0;
		if (need < READ_CHUNK)
			need = READ_CHUNK;
		if (cap < need) {
			char *nb = realloc(buf, need);
			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			buf = nb;
			cap = need;
		}
		ssize_t n = read_full(fd, buf + len, cap - len);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		len += (size_t)n;
		eof = len < cap;
	}
	free(buf);
	close(fd);
	if (ret < 0)
		journal_free(j);
	return ret;
}

/* The rewrite would destroy what could not be read: keep it for a person to look at. */
static void keep_unreadable(const struct mxb_spool *s)
{
	char name[64];
	snprintf(name, sizeof(name), "%s.%lld", JOURNAL_UNREADABLE, (long long)time(NULL));
	char *keep = join(s->dir, name);
	if (keep && link(s->path, keep) == 0)
		mxb_log_warn("spool: the unreadable journal is kept as '%s'", keep);
	else
		mxb_log_errno(MXB_LOG_WARN, "spool: cannot keep the unreadable journal");
	free(keep);
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
	struct journal j;
	int r = load(s->path, &j);
	if (r < 0) {
		mxb_log_error("spool: cannot read '%s': %s", s->path, strerror(-r));
		mxb_spool_close(s);
		return r;
	}
	if (j.unreadable)
		keep_unreadable(s);
	/* Start from a clean journal holding only what is live, in the current format. */
	r = mxb_spool_rewrite_begin(s);
	size_t replayed = 0;
	for (size_t i = 0; i < j.len; i++) {
		struct live *l = &j.v[i];
		if (!l->id)
			continue;
		if (replay(l->id, l->to, l->type, l->body, data)) {
			if (r == 0)
				r = mxb_spool_add(s, l->id, l->to, l->type, l->body);
			replayed++;
		}
	}
	journal_free(&j);
	if (r == 0)
		r = mxb_spool_rewrite_commit(s);
	if (r < 0) {
		mxb_log_error("spool: cannot write '%s': %s", s->path, strerror(-r));
		mxb_spool_close(s);
		return r;
	}
	if (j.legacy)
		mxb_log_info("spool: '%s' was in the previous format; rewritten", s->path);
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

/* Appends the record whose header is head: its fields follow from rec. */
static int append(struct mxb_spool *s, const struct mxb_spool_record *rec, char *head, size_t hlen,
	size_t total)
{
	bool rewriting = s->new_fd >= 0;
	int fd = rewriting ? s->new_fd : s->fd;
	uint64_t *end = rewriting ? &s->new_end : &s->end;
	struct iovec iov[6];
	int n = 0;
	iov[n++] = (struct iovec){head, hlen};
	iov[n++] = (struct iovec){(char *)rec->id, rec->id_len};
	if (rec->kind == MXB_SPOOL_ADD) {
		iov[n++] = (struct iovec){(char *)rec->to, rec->to_len};
		iov[n++] = (struct iovec){(char *)rec->type, rec->type_len};
		iov[n++] = (struct iovec){(char *)rec->body, rec->body_len};
	}
	iov[n++] = (struct iovec){"\n", 1};
	int r = writev_all(fd, iov, n);
	if (r < 0) {
		/*
		 * A part of a record in the middle of the journal would end its reading there:
		 * cut it off, so that the records appended later are read back.
		 */
		if (ftruncate(fd, (off_t)*end) < 0 || lseek(fd, (off_t)*end, SEEK_SET) < 0)
			mxb_log_errno(MXB_LOG_WARN, "spool: cannot cut a failed record off '%s'",
				s->path);
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
	s->size += total;
	*end += total;
	return 0;
}

/* Checks rec against the bounds of the format, then appends it. */
static int put(struct mxb_spool *s, const struct mxb_spool_record *rec)
{
	char head[MXB_SPOOL_HEAD_MAX];
	size_t hlen, total;
	int r = mxb_spool_record_head(rec, head, &hlen, &total);
	if (r < 0) {
		mxb_log_error("spool: message '%.64s' is over the journal's bounds; it would not "
			      "survive a crash",
			rec->id);
		return r;
	}
	r = append(s, rec, head, hlen, total);
	if (r == 0 && rec->kind == MXB_SPOOL_ADD)
		s->live_bytes += total;
	return r;
}

int mxb_spool_add(
	struct mxb_spool *s, const char *id, const char *to, const char *type, const char *body)
{
	struct mxb_spool_record rec = {
		.kind = MXB_SPOOL_ADD,
		.id = id,
		.id_len = strlen(id),
		.to = to,
		.to_len = strlen(to),
		.type = type,
		.type_len = strlen(type),
		.body = body,
		.body_len = strlen(body),
	};
	return put(s, &rec);
}

int mxb_spool_done(struct mxb_spool *s, const char *id)
{
	struct mxb_spool_record rec = {.kind = MXB_SPOOL_DONE, .id = id, .id_len = strlen(id)};
	return put(s, &rec);
}

void mxb_spool_sync(struct mxb_spool *s)
{
	if (!s->dirty || s->fd < 0)
		return;
	if (fdatasync(s->fd) < 0)
		mxb_log_errno(MXB_LOG_WARN, "spool: fdatasync '%s'", s->path);
	s->dirty = false;
}

bool mxb_spool_dirty(const struct mxb_spool *s)
{
	return s->dirty;
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
	s->new_end = 0;
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
	off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	s->end = (uint64_t)end;
	s->dirty = false;
	return 0;
}
