/*
 * maildir_presence.h - push_deletions, before a folder is touched: does
 * its Maildir still hold any file yubin delivered there?  A Maildir
 * that is gone, cannot be read, or holds none of them says nothing
 * about what the user deleted (a wiped disk, a mount point without its
 * disk, a wrong path), so the folder is left alone rather than taken
 * for one whose every message was deleted.  Only looks: never creates
 * the Maildir, as opening the sink would.
 */
#ifndef YUBIN_MAILDIR_PRESENCE_H
#define YUBIN_MAILDIR_PRESENCE_H

#include <stddef.h>

enum maildir_presence {
	MAILDIR_HOLDS_SOME,  /* a known file is there, or none is known */
	MAILDIR_MISSING,     /* the Maildir, its cur/ or its new/ is gone */
	MAILDIR_UNREADABLE,  /* one of them cannot be listed */
	MAILDIR_HOLDS_NONE,  /* readable, and none of the known files */
};

/*
 * How the Maildir at path holds the count dests (as the state records
 * them: "new/NAME" or "cur/NAME:2,FLAGS"; a file found under another
 * info suffix counts).  why gets the path and reason for anything but
 * MAILDIR_HOLDS_SOME.  Out of memory reads as MAILDIR_UNREADABLE: the
 * answer must never be a guess that lets deletions through.
 */
enum maildir_presence maildir_presence(const char *path, const char *const *dests,
				       size_t count, char *why, size_t why_size);

#endif
