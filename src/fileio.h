/*
 * fileio.h - the file-descriptor loops the sinks, the state and main
 * share.  Each returns 0 or an errno value; none allocates.
 */
#ifndef YUBIN_FILEIO_H
#define YUBIN_FILEIO_H

#include <stddef.h>

/* Write all of data, through EINTR and short writes. */
int fd_write_all(int fd, const void *data, size_t len);

/* Close *fd if it is open and set it to -1; EINTR counts as closed. */
int fd_close(int *fd);

/* fsync a directory by path (a rename in it is durable only then). */
int fsync_dir_path(const char *path);

/*
 * Write buffers reused from one message to the next: a sink keeps one
 * spare (*spare, NULL at first).  buffer_take returns it, or a new
 * buffer of size bytes (NULL when out of memory); buffer_give keeps
 * buffer as the spare, or frees it if there is one already (NULL is
 * fine).  Free the spare itself when the sink goes.
 */
char *buffer_take(char **spare, size_t size);
void buffer_give(char **spare, char *buffer);

#endif
