#ifndef MXB_FILE_H
#define MXB_FILE_H

/*
 * Opening the files a config names. A FIFO blocks open() and read() until a writer
 * comes, and a device reads forever (/dev/zero) or has side effects: either would hang
 * --check-config and, through SIGHUP, the loop. Only regular files are opened for good.
 */

/*
 * Opens path read-only without blocking (O_NONBLOCK, so a FIFO cannot stall the open;
 * O_NOCTTY, O_CLOEXEC) and returns the fd, the caller's to close, if it is a regular file.
 * Else a negative errno: -EISDIR for a directory, -MXB_FILE_ENOTREG for anything else that
 * is not a regular file (FIFO, device, socket), or open's or fstat's error.
 */
int mxb_file_open(const char *path);

/* ENODEV is not what open(2) gives for a regular file, so it cannot be taken for one. */
#define MXB_FILE_ENOTREG ENODEV

/* The text for an error of mxb_file_open (err negative), as strerror would give it. */
const char *mxb_file_strerror(int err);

#endif
