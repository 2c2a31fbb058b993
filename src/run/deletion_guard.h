/*
 * deletion_guard.h - push_deletions: whether a folder's local deletions
 * may reach the server this run.  A pure function: the engine counts,
 * this decides, before any STORE in the folder.
 *
 * A Maildir that holds none of the files yubin knows there (emptied,
 * wiped, a mount point without its disk) deletes nothing unless --force
 * says the user emptied it.  A run that would delete more than a share of what
 * yubin knows in the folder (more than DELETION_GUARD_MIN messages and
 * more than 1/DELETION_GUARD_SHARE of them) deletes nothing either,
 * unless --force says it is meant (yubin.yaml(5), push_deletions).
 */
#ifndef YUBIN_DELETION_GUARD_H
#define YUBIN_DELETION_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#define DELETION_GUARD_MIN 10
#define DELETION_GUARD_SHARE 4

/* What one folder's run would do. */
struct deletion_counts {
	size_t known;     /* delivered messages the server still lists,
			     but for those both sides agree are \Deleted */
	size_t present;   /* of all listed, those whose file the Maildir
			     holds (any of them shows it is the right one) */
	size_t deleting;  /* of the known, those this run would mark
			     \Deleted or expunge */
};

enum deletion_verdict {
	DELETIONS_GO,       /* push them (none is fine too) */
	DELETIONS_WIPED,    /* none of the known files is there, without
			       --force: push none */
	DELETIONS_TOO_MANY, /* over the share, without --force: push none */
};

enum deletion_verdict deletion_guard(const struct deletion_counts *counts,
				     bool force);

#endif
