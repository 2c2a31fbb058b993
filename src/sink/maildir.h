/*
 * maildir.h - the Maildir sink.
 *
 * Messages are written to tmp/ under a unique name
 * (SECONDS.M<usec>P<pid>Q<seq>Y<random>.HOST), fsynced as a batch, and on
 * publish renamed to new/NAME,S=<size> (or cur/NAME,S=<size>:2,FLAGS when
 * the message carries flags), then new/ and cur/ are fsynced.  The mtime
 * of a published file is the message's internal date when known.
 * The sink's dest string is the published name relative to the Maildir
 * ("new/..." or "cur/...").
 */
#ifndef YUBIN_MAILDIR_H
#define YUBIN_MAILDIR_H

#include "error.h"
#include "sink.h"

/*
 * Open (creating with mode 0700 if missing: the directory, tmp, new, cur)
 * the Maildir at path.  A path that exists but is not a Maildir-shaped
 * directory is YB_ERR_IO; so are a symbolic link at the Maildir or at
 * tmp, new or cur, a link above it that dir_open_path (fileio.h) does not
 * follow, and, when yubin runs as root, any of those four directories
 * that belongs to another user.  Temporary files left in tmp/ by an earlier
 * yubin run that died are removed (only names yubin makes, and only if
 * the process that made them is gone).  The caller frees with sink_close().
 */
int maildir_open(const char *path, struct sink **out, struct yb_error *err);

#endif
