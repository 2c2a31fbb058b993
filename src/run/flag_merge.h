/*
 * flag_merge.h - the three-way merge of a message's flags (sync_flags:
 * both): the flags as last agreed with the server (the base), the
 * Maildir letters now and the server's flags now give what both sides
 * should hold and what to push.  A pure function: no I/O, no state.
 *
 * The merged flags are \Seen, \Answered, \Flagged and \Draft (letters S,
 * R, F, D).  Per flag, with base b, local l and server s:
 *
 *   b l s   result   action
 *   0 0 0   0        none
 *   0 1 0   1        push +FLAGS (set locally)
 *   0 0 1   1        mirror: letter added (set on the server)
 *   0 1 1   1        none (both set it)
 *   1 1 1   1        none
 *   1 0 1   0        push -FLAGS (cleared locally)
 *   1 1 0   0        mirror: letter removed (cleared on the server)
 *   1 0 0   0        none (both cleared it)
 *
 * With a base, the two sides can only disagree where exactly one of them
 * changed, and that side's change wins: nothing is lost.  One side
 * setting a flag and the other clearing it needs two different bases, so
 * it is met only where no base is known (a message first seen with
 * sync_flags: both): its base is taken as local AND server, so a flag
 * one side holds and the other lacks counts as set on that side: set
 * wins.
 *
 * \Deleted (T) is merged only with push_deletions (FLAG_MERGE_DELETIONS,
 * passed to the _with variants); otherwise it is mirrored from the
 * server as with sync_flags: auto, never pushed.
 */
#ifndef YUBIN_FLAG_MERGE_H
#define YUBIN_FLAG_MERGE_H

#include <stdint.h>

#include "sink.h"

/* The flags the merge pushes: SINK_FLAG_* bits. */
#define FLAG_MERGE_PUSHED                                                     \
	(SINK_FLAG_SEEN | SINK_FLAG_ANSWERED | SINK_FLAG_FLAGGED |            \
	 SINK_FLAG_DRAFT)

/* The flags push_deletions merges: the others and \Deleted. */
#define FLAG_MERGE_DELETIONS (FLAG_MERGE_PUSHED | SINK_FLAG_DELETED)

/* What a merge decides (SINK_FLAG_* bits). */
struct flag_merge {
	uint32_t base;        /* the new base, once the push is done */
	uint32_t local;       /* the Maildir letters afterwards */
	uint32_t push_add;    /* UID STORE +FLAGS, none if 0 */
	uint32_t push_remove; /* UID STORE -FLAGS, none if 0 */
};

/*
 * Merge base, local and server flags (SINK_FLAG_* bits; bits no flag
 * names are ignored).  The result is such that merging again from
 * (result.base, result.local, the server after the push) finds nothing
 * to do.
 */
struct flag_merge flag_merge(uint32_t base, uint32_t local, uint32_t server);

/* The same over the flags of pushed (FLAG_MERGE_PUSHED or
   FLAG_MERGE_DELETIONS); a flag outside it is mirrored from the server
   if it is \Deleted, else ignored. */
struct flag_merge flag_merge_with(uint32_t pushed, uint32_t base, uint32_t local,
				  uint32_t server);

/*
 * The base to merge from when a push (push_add, push_remove) was
 * recorded and no new base after it: a run killed between the two.  The
 * server's flags decide whether the push happened: a flag it holds as
 * the push would have left it counts as pushed (agreed), the others keep
 * the old base.  So the next merge finds a push done (nothing to do) or
 * derives it again, and a local change made after the push is not taken
 * for the server's.  One window stays: a flag being mirrored from the
 * server that a mail reader changes back between the local rename and
 * the killed run's recorded base reads as not yet mirrored, and the
 * server's value wins.
 */
uint32_t flag_merge_resume_base(uint32_t base, uint32_t push_add,
				uint32_t push_remove, uint32_t server);
uint32_t flag_merge_resume_base_with(uint32_t pushed, uint32_t base,
				     uint32_t push_add, uint32_t push_remove,
				     uint32_t server);

/*
 * push_deletions: a message whose file is gone from the Maildir.  The
 * removal cannot be undone by the server, so it always wins: the server
 * is to hold \Deleted, and nothing else is pushed.
 */
struct flag_merge flag_merge_removed(uint32_t server);

#endif
