/*
 * maildir_index.h - where a file of a Maildir's cur/ is now, by the unique
 * part of its name (before ":2,").  A mail reader renames the files it
 * shows (new/ to cur/, its flag letters), so the names the state keeps go
 * stale by the thousand; cur/ is listed once for all their look-ups of a
 * run rather than once for each.
 *
 * A look-up that finds nothing is sure only when cur/ is as it was when
 * listed (its mtime unchanged) and had been left alone for a second
 * before (a rename within the file system's timestamp tick after the
 * listing would leave the mtime as it was): otherwise the caller reads
 * cur/ itself.  A file missed for sure and taken as deleted is what
 * push_deletions would send to the server.
 */
#ifndef YUBIN_MAILDIR_INDEX_H
#define YUBIN_MAILDIR_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "error.h"
#include "name_set.h"

struct maildir_index {
	struct name_set names;  /* unique part -> the whole file name */
	char **files;           /* owned: the file names the set points into */
	size_t file_count, file_cap;
	struct timespec mtime;  /* cur/'s when listed */
	bool listed;
	bool settled;           /* cur/ unchanged for a second before */
};

/* An empty index: cur/ is listed at the first look-up. */
void maildir_index_init(struct maildir_index *index);

/* Free what the index holds; it is empty again. */
void maildir_index_free(struct maildir_index *index);

/*
 * The file of cur/ under maildir_path whose unique part is base: found
 * (found_size bytes) gets "cur/NAME" when it is there, else "".  *sure:
 * an empty found may be trusted.  cur/ is listed again when it changed
 * since.  YB_ERR_IO names cur/ when it cannot be read.
 */
int maildir_index_find(struct maildir_index *index, const char *maildir_path,
		       const char *base, char *found, size_t found_size,
		       bool *sure, struct yb_error *err);

#endif
