/* fileio.c - write, close and directory-sync loops. */
#include "config.h"

#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int fd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t written = write(fd, p, len);
		if (written < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (written == 0)
			return EIO; /* cannot happen for len > 0; never spin */
		p += written;
		len -= (size_t)written;
	}
	return 0;
}

int fd_close(int *fd)
{
	if (*fd < 0)
		return 0;
	int rc = close(*fd);
	*fd = -1;
	return rc == 0 || errno == EINTR ? 0 : errno;
}

int fsync_dir_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int rc = fsync(fd) == 0 ? 0 : errno;
	int closed = fd_close(&fd);
	return rc ? rc : closed;
}

char *buffer_take(char **spare, size_t size)
{
	char *buffer = *spare;
	*spare = NULL;
	return buffer ? buffer : malloc(size);
}

void buffer_give(char **spare, char *buffer)
{
	if (!buffer)
		return;
	if (*spare)
		free(buffer);
	else
		*spare = buffer;
}
