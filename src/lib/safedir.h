/*
 * safedir.h - the private directory an account's state and token cache
 * live in (STATE_DIR/ACCOUNT), opened so that no other local user can
 * steer what yubin reads or writes there.
 *
 * The directory is opened without following a symbolic link and checked
 * on the open descriptor: a directory, owned by the effective user, with
 * no write bit for group or others.  Its parent (the state_dir the user
 * named) must belong to the effective user or root, and may be writable
 * by group or others only with the sticky bit (as /tmp is), so that
 * nobody else can rename the directory away and put another in its
 * place.  On the way there (created 0700 where missing, each new entry
 * synced) a symbolic link is followed only when it belongs to root or to
 * the effective user, as for the sinks (fileio.h); the owners and modes
 * of the directories above the parent are the user's choice.  Files are
 * then opened relative to the directory's descriptor, never by path and
 * never through a symbolic link, and temporary files are created afresh
 * (O_EXCL).
 *
 * Errors: YB_ERR_CONFIG for a directory that fails the checks (the
 * message names it, says why and what to change); YB_ERR_IO when it
 * cannot be created or opened; YB_ERR_INTERNAL when out of memory.
 */
#ifndef YUBIN_SAFEDIR_H
#define YUBIN_SAFEDIR_H

#include <stdbool.h>

#include "error.h"

/*
 * Open the directory path (checked as above) into *dir_fd, creating it
 * and its missing parents (0700) first when create.  Without create, a
 * missing directory or parent gives *dir_fd -1 and YB_OK.  what names
 * the directory in messages ("state directory").  The caller closes
 * *dir_fd.
 */
int safedir_open(const char *path, bool create, const char *what,
		 int *dir_fd, struct yb_error *err);

/*
 * Open name in dir_fd into *fd with flags, adding O_NOFOLLOW and
 * O_CLOEXEC: a symbolic link is refused (ELOOP), never followed.  With
 * O_CREAT a missing file is created with O_EXCL (mode 0600), and an
 * existing one is opened as it is.  0 or an errno value (*fd is -1).
 */
int safedir_open_file(int dir_fd, const char *name, int flags, int *fd);

/*
 * Create name in dir_fd afresh into *fd: whatever is left under that
 * name (a file, a symbolic link: never followed) is removed first, then
 * the file is created with O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600.
 * flags are the access flags (O_WRONLY...).  0 or an errno value (*fd is
 * -1); EISDIR when a directory is in the way.
 */
int safedir_create_file(int dir_fd, const char *name, int flags, int *fd);

#endif
