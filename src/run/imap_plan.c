/* imap_plan.c - what the IMAP engine does with a folder (imap_plan.h). */
#include "config.h"

#include "imap_plan.h"

struct imap_open_plan plan_open(const struct imap_plan_known *known)
{
	struct imap_open_plan open = {
		/* sync_flags: both writes flags to the folder. */
		.examine = known->keep && !known->delete_aged &&
			   (known->sync_flags != SYNC_FLAGS_BOTH || known->dry_run),
		/* Changes since a HIGHESTMODSEQ of the stored UIDVALIDITY;
		   a dry run records none of them. */
		.qresync_if_sink_keeps_flags =
			known->stored_validity && known->stored_modseq &&
			!known->dry_run && known->sync_flags != SYNC_FLAGS_OFF &&
			known->sync_flags != SYNC_FLAGS_BOTH && known->qresync,
	};
	return open;
}

/*
 * Where the listing starts: past what was listed before, unless the
 * UIDs may name other messages now.  A UIDNEXT below the stored one
 * means the server renumbered (or lost) its messages, though it kept
 * its UIDVALIDITY.
 */
static void plan_listing(const struct imap_plan_known *known,
			 const struct imap_plan_selected *selected,
			 struct imap_folder_plan *plan)
{
	plan->validity_changed = known->stored_validity &&
				 known->stored_validity != selected->uidvalidity;
	plan->renumbered = !plan->validity_changed && known->stored_uidnext &&
			   selected->uidnext && selected->uidnext < known->stored_uidnext;
	bool from_start = plan->validity_changed || plan->renumbered ||
			  !known->stored_uidnext;
	plan->list_start = from_start ? 1 : known->stored_uidnext;
	/* The same UIDVALIDITY and UIDNEXT: nothing arrived since, unless
	   the folder holds more messages than the last run left in it (a
	   server whose UIDNEXT does not move would hide them for good). */
	bool same_uidnext = !plan->validity_changed && known->stored_validity &&
			    selected->uidnext != 0 &&
			    selected->uidnext == known->stored_uidnext;
	plan->uidnext_stalled = same_uidnext && known->exists_recorded &&
				selected->exists > known->stored_exists;
	plan->list = !(same_uidnext && !plan->uidnext_stalled) &&
		     selected->exists > 0;
	/* RFC822.SIZE only when max_size needs it: a server without sizes
	   cached must read every message to answer it. */
	plan->list_sizes = known->max_size;
}

/*
 * Flags of the messages below the listing's start, delivered before
 * under this UIDVALIDITY: the changes since the stored HIGHESTMODSEQ
 * when the server counts them (unless QRESYNC brought them with the
 * SELECT), or all of them when asked to.
 */
static void plan_flags(const struct imap_plan_known *known,
		       const struct imap_plan_selected *selected, bool condstore,
		       struct imap_folder_plan *plan)
{
	plan->mirror_flags = !plan->validity_changed && !plan->renumbered &&
			     known->stored_validity;
	plan->flag_listing = FLAG_LISTING_NONE;
	if (known->sync_flags == SYNC_FLAGS_BOTH) {
		/* Every message's flags against its local letters, pushed
		   where it changed; nothing at all where nothing may be
		   written, as mirroring alone would undo local changes. */
		plan->push_flags = plan->mirror_flags && !known->dry_run &&
				   !selected->read_only;
		plan->mirror_flags = plan->push_flags;
		if (plan->push_flags && plan->list_start > 1)
			plan->flag_listing = FLAG_LISTING_ALL;
		return;
	}
	if (!plan->mirror_flags || plan->list_start <= 1)
		return;
	if (condstore && known->stored_modseq &&
	    known->stored_modseq != selected->highestmodseq &&
	    known->sync_flags != SYNC_FLAGS_OFF && !known->qresync) {
		plan->flag_listing = FLAG_LISTING_CHANGED_SINCE;
		plan->changed_since = known->stored_modseq;
	} else if (!condstore && known->sync_flags == SYNC_FLAGS_FULL) {
		plan->flag_listing = FLAG_LISTING_ALL;
	}
}

/*
 * What may go from the server.  keep: false dooms what was delivered
 * (and what a stopped run was deleting); keep: true only what is older
 * than delete_after_days.  After the UIDs changed meaning no UID
 * recorded before is doomed by a listing or by age, as it may name a
 * message never delivered.
 */
static void plan_deleting(const struct imap_plan_known *known,
			  const struct imap_plan_selected *selected,
			  struct imap_folder_plan *plan)
{
	bool uids_trusted = !plan->validity_changed && !plan->renumbered;
	plan->doom_delivered = !known->keep && !plan->renumbered;
	/* Fetched by this UID in this session: it names what was delivered. */
	plan->doom_fetched = !known->keep;
	/* After UIDNEXT went back the set a stopped run was deleting may
	   name other messages; what it held is recognised by content and
	   deleted by a later run. */
	plan->redo_expunging = !known->keep && !plan->renumbered;
	plan->doom_aged = known->keep && known->delete_aged && uids_trusted;
	if (!plan->doom_delivered && !plan->doom_fetched && !plan->redo_expunging &&
	    !plan->doom_aged)
		plan->delete_with = DELETE_NOTHING;
	else if (selected->read_only)
		/* A STORE would be refused, or ignored by a server that
		   still answers OK. */
		plan->delete_with = DELETE_LATER;
	else if (!known->uidplus && !known->expunge_all)
		plan->delete_with = DELETE_NO_UIDPLUS;
	else if (known->uidplus)
		plan->delete_with = DELETE_UID_EXPUNGE;
	else
		plan->delete_with = DELETE_EXPUNGE;
}

struct imap_folder_plan plan_folder(const struct imap_plan_known *known,
				    const struct imap_plan_selected *selected)
{
	struct imap_folder_plan plan = { .count_only = known->dry_run };
	plan_listing(known, selected, &plan);
	if (plan.count_only)
		return plan;
	bool condstore = known->condstore && !selected->nomodseq &&
			 selected->highestmodseq > 0;
	/* A first run too: the sink may hold mail of an earlier setup. */
	plan.recognise_by_content = plan.validity_changed || plan.renumbered ||
				    !known->stored_validity;
	plan_flags(known, selected, condstore, &plan);
	plan_deleting(known, selected, &plan);
	plan.forget_old_validity = plan.validity_changed;
	/* The stored value counts in the old numbering: kept beside the new
	   UIDVALIDITY it would skip the new numbering's first UIDs for good. */
	plan.restart_uidnext = plan.validity_changed;
	plan.record_modseq = condstore && !plan.validity_changed;
	return plan;
}
