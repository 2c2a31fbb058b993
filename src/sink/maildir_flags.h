/*
 * maildir_flags.h - mirroring server flags onto delivered Maildir files,
 * and finding what a Maildir already holds (for matching after a
 * UIDVALIDITY change).
 */
#ifndef YUBIN_MAILDIR_FLAGS_H
#define YUBIN_MAILDIR_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sink.h"

#define MAILDIR_DEST_MAX SINK_DEST_MAX

/* "DFRST" at most, and the NUL. */
#define MAILDIR_LETTERS_SIZE 6

/*
 * The Maildir info letters of SINK_FLAG_* bits, in ASCII order: D draft,
 * F flagged, R answered, S seen, T deleted ("" for none).  false (and
 * "") for bits no flag names.
 */
bool maildir_letters(uint32_t flags, char letters[MAILDIR_LETTERS_SIZE]);

/* The SINK_FLAG_* bits of the info letters a dest names ("cur/X:2,FS"
   gives flagged and seen; "new/X" none), without looking at the file. */
uint32_t maildir_dest_flags(const char *dest);

/* The length of a file name's unique part: up to ":2," (all of it when
   there is none), by which a file is known whatever its flags. */
size_t maildir_unique_len(const char *name);

/*
 * The message published at dest ("new/NAME..." or "cur/NAME...:2,FL" under
 * maildir_path; a mail reader may have moved it to cur/ and added flags
 * since) gets the IMAP flag letters `letters` (from "DFRST"), keeping any
 * other letters it has (a reader's own, like P).  It moves to cur/ when
 * it has flags.  new_dest (MAILDIR_DEST_MAX bytes) gets where it is now.
 * A message no longer there (deleted locally), or renamed by a mail reader
 * meanwhile more often than it can be followed, is not an error: new_dest
 * is set to "" then, and the next run tries again.  Errors are YB_ERR_IO
 * naming the file.
 */
int maildir_apply_flags(const char *maildir_path, const char *dest,
			const char *letters, char *new_dest,
			struct yb_error *err);

/*
 * The step of maildir_apply_flags after the lookup: the message was found
 * at `found` ("new/NAME" or "cur/NAME:2,FL" under maildir_path); give it
 * `letters` as maildir_apply_flags does, and set new_dest likewise.
 * found may be stale: a mail reader may have renamed the file since it
 * was looked up (moved it to cur/, changed its flags).  It is then
 * looked up again by its unique part in new/ and cur/ and renamed
 * there; if it is gone, or keeps moving, it is left for the next run
 * (YB_OK, new_dest "").  Never an error for a reader's rename.
 */
int maildir_rename_flags(const char *maildir_path, const char *found,
			 const char *letters, char *new_dest,
			 struct yb_error *err);

/*
 * The message published at dest (as for maildir_apply_flags), looked up
 * again by its unique part if a mail reader renamed it: found
 * (MAILDIR_DEST_MAX bytes) gets where it is now ("" when it is gone),
 * *flags the SINK_FLAG_* bits of its info letters (other letters are the
 * reader's own and ignored; a file in new/ has none).  index (may be
 * NULL; see maildir_index.h) spares listing cur/ for each stale name,
 * which a first run over a mailbox a reader has gone through has by the
 * thousand.  Errors are
 * YB_ERR_IO naming the directory, YB_ERR_INTERNAL for a malformed dest.
 */
struct maildir_index;
int maildir_read_flags(const char *maildir_path, struct maildir_index *index,
		       const char *dest, uint32_t *flags, char *found,
		       struct yb_error *err);

/*
 * Hash every message file in new/ and cur/ of maildir_path: one
 * sink_digest per file, its dest "new/NAME" or "cur/NAME".  *out is a
 * malloc'd array of *count entries sorted by digest (the caller frees);
 * a Maildir that does not exist gives none.  YB_ERR_IO names the file.
 */
int maildir_digests(const char *maildir_path, struct sink_digest **out,
		    size_t *count, struct yb_error *err);

#endif
