#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

int mxb_file_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENODEV || errno == ENXIO ? -MXB_FILE_ENOTREG : -errno;
	struct stat st;
	int ret = fd;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (S_ISDIR(st.st_mode))
		ret = -EISDIR;
	else if (!S_ISREG(st.st_mode))
		ret = -MXB_FILE_ENOTREG;
	if (ret < 0)
		close(fd);
	return ret;
}

const char *mxb_file_strerror(int err)
{
	return err == -MXB_FILE_ENOTREG ? "not a regular file" : strerror(-err);
}
