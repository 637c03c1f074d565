#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_schema.h"
#include "file.h"

void mxb_conf_wipe_free(char *s)
{
	if (!s)
		return;
	/* volatile, so that clearing a secret about to be freed is not optimized away */
	for (volatile char *p = s; *p; p++)
		*p = 0;
	free(s);
}

/* The password is the first line of the file, without its line ending. */
static bool read_secret(
	struct mxb_conf_ctx *c, const struct mxb_conf_node *s, const char *path, char **out)
{
	const char *name = s->name;
	int fd = mxb_file_open(path);
	if (fd < 0) {
		mxb_conf_error_at(
			c, s, "cannot read %s '%s': %s", name, path, mxb_file_strerror(fd));
		return false;
	}
	/* As ssh does with keys: a secret that anyone on the machine can read is no secret. */
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH))) {
		mxb_conf_error_at(c, s,
			"%s '%s' can be read or written by others (mode %04o); run chmod o-rwx on "
			"it",
			name, path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return false;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		mxb_conf_error_at(c, s, "cannot read %s '%s': %s", name, path, strerror(errno));
		close(fd);
		return false;
	}
	/* room for the longest password, "\r\n" and the NUL */
	char buf[MXB_CONF_SECRET_MAX + 3];
	bool ok = false;
	if (!fgets(buf, sizeof(buf), f)) {
		if (ferror(f))
			mxb_conf_error_at(
				c, s, "cannot read %s '%s': %s", name, path, strerror(errno));
		else
			mxb_conf_error_at(c, s, "%s '%s' is empty", name, path);
		goto close_file;
	}
	size_t len = strlen(buf);
	bool newline = len > 0 && buf[len - 1] == '\n';
	if (newline)
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len > MXB_CONF_SECRET_MAX || (!newline && len == sizeof(buf) - 1)) {
		mxb_conf_error_at(c, s, "first line of %s '%s' is too long (at most %d bytes)",
			name, path, MXB_CONF_SECRET_MAX);
		goto close_file;
	}
	if (len == 0) {
		mxb_conf_error_at(c, s, "first line of %s '%s' is empty", name, path);
		goto close_file;
	}
	char *copy = strdup(buf);
	if (!copy) {
		c->oom = true;
		goto close_file;
	}
	mxb_conf_wipe_free(*out);
	*out = copy;
	ok = true;
close_file:
	for (volatile char *p = buf; p < buf + sizeof(buf); p++)
		*p = 0;
	fclose(f);
	return ok;
}

bool mxb_conf_secret_file(struct mxb_conf_ctx *c, const struct mxb_conf_node *s, char **out)
{
	char *path = NULL;
	bool ok = mxb_conf_path(c, s, &path) && read_secret(c, s, path, out);
	free(path);
	return ok;
}

bool mxb_conf_password(struct mxb_conf_ctx *c, const struct mxb_conf_node *password,
	const struct mxb_conf_node *password_file, char **out)
{
	if (password && password_file) {
		const struct mxb_conf_node *later =
			password_file->line > password->line ? password_file : password;
		mxb_conf_error_at(c, later, "use either 'password' or 'password_file', not both");
		return true;
	}
	if (password)
		mxb_conf_string(c, password, MXB_CONF_SECRET_MAX, true, out);
	else if (password_file)
		mxb_conf_secret_file(c, password_file, out);
	return password || password_file;
}
