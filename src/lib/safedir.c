/*
 * safedir.c - open a directory we own, refuse one we don't.
 *
 * With state_dir in a shared place (under /tmp, a group-writable
 * directory) another user could create the account's directory before
 * us and fill it with links to our files: opening or truncating a state
 * file there would then overwrite any file of ours.  So the directory is
 * judged on the descriptor we go on to use (no window between check and
 * use), and every file in it is reached through that descriptor.
 */
#include "config.h"

#include "safedir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

/*
 * Split path into its parent and last name: *parent is malloc'd (the
 * caller frees it; "." or "/" when path names no other parent) and
 * *name points into the same allocation.  Trailing slashes do not
 * count.  0, ENOENT when path has no last name ("/", ""), or ENOMEM.
 */
static int split_path(const char *path, char **parent, const char **name)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	size_t start = len;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (start == len)
		return ENOENT;
	size_t parent_len = start;
	while (parent_len > 1 && path[parent_len - 1] == '/')
		parent_len--;
	/* parent, NUL, name, NUL: at most len + 3 bytes (parent "."). */
	char *buf = malloc(len + 3);
	if (!buf)
		return ENOMEM;
	if (parent_len == 0)
		memcpy(buf, ".", 2);
	else {
		memcpy(buf, path, parent_len);
		buf[parent_len] = '\0';
	}
	char *last = buf + strlen(buf) + 1;
	memcpy(last, path + start, len - start);
	last[len - start] = '\0';
	*parent = buf;
	*name = last;
	return 0;
}

/*
 * The parent may hold others' files (root's /var, a sticky /tmp), but
 * nobody else may be able to rename our directory away: then a run
 * would start over with an empty state, or use theirs.
 */
static int check_parent(const char *parent, const struct stat *st,
			const char *what, const char *path,
			struct yb_error *err)
{
	unsigned long ours = (unsigned long)geteuid();
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s, which holds the %s %s, belongs to uid %lu "
			       "(neither ours, uid %lu, nor root's): its owner "
			       "could replace the %s; set state_dir to a "
			       "directory of your own", parent, what, path,
			       (unsigned long)st->st_uid, ours, what);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s, which holds the %s %s, is writable by group "
			       "or others without the sticky bit (mode %04o): "
			       "any of them could replace the %s; run chmod "
			       "go-w %s, or set state_dir to a directory of "
			       "your own", parent, what, path,
			       (unsigned)(st->st_mode & 07777), what, parent);
	return YB_OK;
}

static int check_dir(const char *path, const struct stat *st,
		     const char *what, struct yb_error *err)
{
	unsigned long ours = (unsigned long)geteuid();
	if (!S_ISDIR(st->st_mode))
		return yb_fail(err, YB_ERR_CONFIG, "%s %s is not a directory; "
			       "move it away", what, path);
	if (st->st_uid != geteuid())
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s %s belongs to uid %lu, not to us (uid %lu): "
			       "another user could read or change what yubin "
			       "keeps there; set state_dir to a directory of "
			       "your own, or check what is in this one and chown "
			       "it to uid %lu", what, path,
			       (unsigned long)st->st_uid, ours, ours);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s %s is writable by group or others (mode "
			       "%04o): another user could change what yubin "
			       "keeps there; check what is in it, then run "
			       "chmod go-w %s", what, path,
			       (unsigned)(st->st_mode & 07777), path);
	return YB_OK;
}

/* Why name could not be opened as a directory: a link, or no directory. */
static int refuse_not_dir(int parent_fd, const char *name, const char *what,
			  const char *path, int errnum, struct yb_error *err)
{
	struct stat st;
	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errnum, "cannot open %s %s",
				     what, path);
	if (S_ISLNK(st.st_mode))
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s %s is a symbolic link, which yubin does not "
			       "follow (whoever can change the link could point "
			       "it anywhere); put the directory itself in its "
			       "place", what, path);
	return check_dir(path, &st, what, err);
}

/*
 * Open (creating when create) the directory holding ours, the way the
 * sinks open theirs (fileio.h): a symbolic link on the way is followed
 * only when it belongs to root or to us.  Without create a missing one
 * leaves *parent_fd -1.
 */
static int open_parent(const char *parent, bool create, const char *what,
		       const char *path, int *parent_fd, struct yb_error *err)
{
	size_t fault_len;
	int errnum = dir_open_path(parent, create, parent_fd, &fault_len);
	if (errnum == 0 || (errnum == ENOENT && !create))
		return YB_OK;
	int shown = (int)(fault_len <= strlen(parent) ? fault_len
						       : strlen(parent));
	if (errnum == ELOOP)
		return yb_fail(err, YB_ERR_CONFIG,
			       "%.*s, on the way to the %s %s, is a symbolic "
			       "link of another user's, which yubin does not "
			       "follow; set state_dir to a directory of your "
			       "own", shown, parent, what, path);
	return yb_fail_errno(err, YB_ERR_IO, errnum,
			     "cannot open or create %.*s, on the way to the "
			     "%s %s", shown, parent, what, path);
}

static int open_checked(int parent_fd, const char *name, bool create,
			const char *what, const char *path, int *dir_fd,
			struct yb_error *err)
{
	*dir_fd = dir_open_at(parent_fd, name);
	if (*dir_fd < 0 && errno == ENOENT && create) {
		int errnum = dir_make_at(parent_fd, name);
		if (errnum)
			return yb_fail_errno(err, YB_ERR_IO, errnum,
					     "cannot create %s %s", what, path);
		*dir_fd = dir_open_at(parent_fd, name);
	}
	if (*dir_fd < 0) {
		int errnum = errno;
		if (errnum == ENOENT && !create)
			return YB_OK;
		if (errnum == ENOTDIR || errnum == ELOOP)
			return refuse_not_dir(parent_fd, name, what, path,
					      errnum, err);
		return yb_fail_errno(err, YB_ERR_IO, errnum, "cannot open %s %s",
				     what, path);
	}
	struct stat st;
	int rc = fstat(*dir_fd, &st) == 0
		 ? check_dir(path, &st, what, err)
		 : yb_fail_errno(err, YB_ERR_IO, errno, "cannot stat %s %s",
				 what, path);
	if (rc != YB_OK)
		fd_close(dir_fd);
	return rc;
}

int safedir_open(const char *path, bool create, const char *what,
		 int *dir_fd, struct yb_error *err)
{
	*dir_fd = -1;
	char *parent;
	const char *name;
	int errnum = split_path(path, &parent, &name);
	if (errnum == ENOMEM)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (errnum)
		return yb_fail(err, YB_ERR_CONFIG, "%s \"%s\" names no "
			       "directory", what, path);
	int parent_fd = -1;
	int rc = open_parent(parent, create, what, path, &parent_fd, err);
	struct stat st;
	if (rc == YB_OK && parent_fd >= 0 && fstat(parent_fd, &st) != 0)
		rc = yb_fail_errno(err, YB_ERR_IO, errno, "cannot stat %s",
				   parent);
	else if (rc == YB_OK && parent_fd >= 0)
		rc = check_parent(parent, &st, what, path, err);
	if (rc == YB_OK && parent_fd >= 0)
		rc = open_checked(parent_fd, name, create, what, path, dir_fd,
				  err);
	fd_close(&parent_fd);
	free(parent);
	return rc;
}

int safedir_open_file(int dir_fd, const char *name, int flags, int *fd)
{
	int plain = (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW | O_CLOEXEC;
	/* Twice at most: another run of ours may create it in between. */
	for (int tries = 0; tries < 2; tries++) {
		*fd = openat(dir_fd, name, plain);
		if (*fd >= 0)
			return 0;
		if (errno != ENOENT || !(flags & O_CREAT))
			return errno;
		*fd = openat(dir_fd, name, plain | O_CREAT | O_EXCL, 0600);
		if (*fd >= 0)
			return 0;
		if (errno != EEXIST)
			return errno;
	}
	return EEXIST;
}

int safedir_create_file(int dir_fd, const char *name, int flags, int *fd)
{
	*fd = -1;
	if (unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT)
		return errno;
	*fd = openat(dir_fd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW |
		     O_CLOEXEC, 0600);
	return *fd >= 0 ? 0 : errno;
}
