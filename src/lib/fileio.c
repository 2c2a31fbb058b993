/*
 * fileio.c - write, close and directory-sync loops, and the checks on a
 * sink's destination.
 */
#include "config.h"

#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

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

int fd_pwrite_all(int fd, const void *data, size_t len, uint64_t offset)
{
	const char *p = data;
	while (len > 0) {
		ssize_t written = pwrite(fd, p, len, (off_t)offset);
		if (written < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (written == 0)
			return EIO;
		p += written;
		len -= (size_t)written;
		offset += (uint64_t)written;
	}
	return 0;
}

int fd_pread_all(int fd, void *data, size_t len, uint64_t offset)
{
	char *p = data;
	while (len > 0) {
		ssize_t got = pread(fd, p, len, (off_t)offset);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (got == 0)
			return EIO;
		p += got;
		len -= (size_t)got;
		offset += (uint64_t)got;
	}
	return 0;
}

static int sync_retry(int fd, bool data_only)
{
	int rc;
	do
		rc = data_only ? fdatasync(fd) : fsync(fd);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? errno : 0;
}

int fd_sync(int fd)
{
	return sync_retry(fd, false);
}

int fd_datasync(int fd)
{
	return sync_retry(fd, true);
}

char *path_join(const char *dir, const char *name)
{
	size_t dir_len = strlen(dir), name_len = strlen(name);
	if (dir_len > SIZE_MAX / 2 || name_len > SIZE_MAX / 2)
		return NULL;
	char *path = malloc(dir_len + name_len + 2);
	if (!path)
		return NULL;
	memcpy(path, dir, dir_len);
	size_t at = dir_len;
	if (at == 0 || path[at - 1] != '/')
		path[at++] = '/';
	memcpy(path + at, name, name_len + 1);
	return path;
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

int write_buffer_start(struct write_buffer *buffer, char **spare)
{
	buffer->used = 0;
	buffer->bytes = buffer_take(spare, WRITE_BUFFER_SIZE);
	return buffer->bytes ? 0 : ENOMEM;
}

void write_buffer_release(struct write_buffer *buffer, char **spare)
{
	buffer_give(spare, buffer->bytes);
	buffer->bytes = NULL;
	buffer->used = 0;
}

int write_buffer_flush(struct write_buffer *buffer, int fd)
{
	int rc = fd_write_all(fd, buffer->bytes, buffer->used);
	if (!rc)
		buffer->used = 0;
	return rc;
}

int write_buffer_put(struct write_buffer *buffer, int fd, const void *data,
		     size_t len)
{
	if (len > WRITE_BUFFER_SIZE - buffer->used) {
		int rc = write_buffer_flush(buffer, fd);
		if (rc)
			return rc;
	}
	if (len >= WRITE_BUFFER_SIZE)
		return fd_write_all(fd, data, len);
	memcpy(buffer->bytes + buffer->used, data, len);
	buffer->used += len;
	return 0;
}

/* ---- spool files -------------------------------------------------------- */

/* No O_TMPFILE: a file of a random name, unlinked at once. */
static int spool_open_named(int dir_fd, int *out)
{
	int saved = EEXIST;
	for (int attempt = 0; attempt < 3 && saved == EEXIST; attempt++) {
		unsigned char random_bytes[8];
		if (RAND_bytes(random_bytes, sizeof(random_bytes)) != 1)
			return EIO;
		char name[sizeof(".yubin-spool.") + 2 * sizeof(random_bytes)];
		int at = snprintf(name, sizeof(name), "%s", ".yubin-spool.");
		for (size_t i = 0; i < sizeof(random_bytes) && at > 0; i++)
			at += snprintf(name + at, sizeof(name) - (size_t)at,
				       "%02x", random_bytes[i]);
		*out = openat(dir_fd, name, O_RDWR | O_CREAT | O_EXCL |
			      O_NOFOLLOW | O_CLOEXEC, 0600);
		saved = errno;
		if (*out >= 0) {
			unlinkat(dir_fd, name, 0);
			return 0;
		}
	}
	return saved;
}

int spool_open_at(int dir_fd, int *out)
{
#ifdef O_TMPFILE
	*out = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*out >= 0)
		return 0;
	/* A kernel or file system without O_TMPFILE says one of these. */
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL &&
	    errno != ENOENT)
		return errno;
#endif
	return spool_open_named(dir_fd, out);
}

int spool_open_in(const char *dir_path, int *out)
{
	*out = -1;
	int dir_fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return errno;
	int rc = spool_open_at(dir_fd, out);
	fd_close(&dir_fd);
	return rc;
}

/* ---- destinations ------------------------------------------------------- */

int dir_open_at(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 || (errno != ELOOP && errno != ENOTDIR))
		return fd;
	/* Systems differ on which of the two a link gives: say which. */
	int saved = errno;
	struct stat st;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		saved = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
	errno = saved;
	return -1;
}

/* A link we may follow: root's, or our own (the user who runs us). */
static bool link_trusted(int dir_fd, const char *name)
{
	struct stat st;
	return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISLNK(st.st_mode) &&
	       (st.st_uid == 0 || st.st_uid == geteuid());
}

int dir_make_at(int dir_fd, const char *name)
{
	if (mkdirat(dir_fd, name, 0700) != 0)
		return errno == EEXIST ? 0 : errno;
	return fsync(dir_fd) == 0 ? 0 : errno;
}

/* One step of dir_open_path: the descriptor of name in dir_fd, or -1. */
static int open_component(int dir_fd, const char *name, bool create)
{
	int fd = dir_open_at(dir_fd, name);
	if (fd < 0 && errno == ENOENT && create) {
		int rc = dir_make_at(dir_fd, name);
		if (rc) {
			errno = rc;
			return -1;
		}
		fd = dir_open_at(dir_fd, name);
	}
	/*
	 * Between the look and the open only someone who may write in
	 * dir_fd can swap the link; the destination's own checks follow.
	 */
	if (fd < 0 && errno == ELOOP && link_trusted(dir_fd, name))
		fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd;
}

int dir_open_path(const char *path, bool create, int *out, size_t *fault_len)
{
	*out = -1;
	*fault_len = 0;
	int dir_fd = open(path[0] == '/' ? "/" : ".",
			  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return errno;
	const char *p = path;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, "/");
		const char *rest = p + len;
		while (*rest == '/')
			rest++;
		*fault_len = (size_t)(p - path) + len;
		if (len > NAME_MAX) {
			fd_close(&dir_fd);
			return ENAMETOOLONG;
		}
		char name[NAME_MAX + 1];
		memcpy(name, p, len);
		name[len] = '\0';
		int fd = open_component(dir_fd, name, create);
		int saved = errno;
		fd_close(&dir_fd);
		if (fd < 0)
			return saved;
		dir_fd = fd;
		p = rest;
	}
	*out = dir_fd;
	return 0;
}

int dest_fail_path(struct yb_error *err, const char *what, const char *path,
		   const char *walked, int errnum, size_t fault_len)
{
	int shown = fault_len > 0 && fault_len <= strlen(walked) ?
		    (int)fault_len : (int)strlen(walked);
	if (errnum == ELOOP)
		return yb_fail(err, YB_ERR_IO,
			       "cannot use %s %s: %.*s is a symbolic link, "
			       "which yubin does not follow (a link is followed "
			       "only when it belongs to root or to the user "
			       "yubin runs as, and never at a Maildir's tmp, "
			       "new or cur, an mbox file or its lock): give "
			       "the real path in the account's deliver key",
			       what, path, shown, walked);
	if (errnum == ENOTDIR)
		return yb_fail(err, YB_ERR_IO,
			       "cannot use %s %s: %.*s exists but is not a "
			       "directory", what, path, shown, walked);
	return yb_fail_errno(err, YB_ERR_IO, errnum,
			     "cannot use %s %s: cannot open or create %.*s",
			     what, path, shown, walked);
}

int dest_check_owner(struct yb_error *err, const char *what, const char *path,
		     const struct stat *st)
{
	if (geteuid() != 0 || st->st_uid == 0)
		return YB_OK;
	/* The user's name and group for the hint, when the system knows them. */
	char user[64] = "";
	unsigned long gid = (unsigned long)st->st_gid;
	struct passwd entry, *found = NULL;
	char buffer[2048];
	if (getpwuid_r(st->st_uid, &entry, buffer, sizeof(buffer), &found) == 0 &&
	    found && found->pw_name && strlen(found->pw_name) < sizeof(user)) {
		snprintf(user, sizeof(user), "%s", found->pw_name);
		gid = (unsigned long)found->pw_gid;
	}
	unsigned long uid = (unsigned long)st->st_uid;
	return yb_fail(err, YB_ERR_IO,
		       "refusing to deliver as root into %s %s: it belongs to "
		       "%s%s(uid %lu), who could then make root write anywhere; "
		       "run yubin as that user instead: from the user's "
		       "crontab, a systemd unit with User=, or in a root job "
		       "\"setpriv --reuid=%lu --regid=%lu %s yubin ...\" or "
		       "\"su\"", what, path, user, user[0] ? " " : "", uid, uid,
		       gid,
		       user[0] ? "--init-groups" : "--clear-groups");
}
