/*
 * imap_plan.h - what the IMAP engine does with a folder, decided as pure
 * functions (no I/O, no state): how to open it, and once open whether
 * and from where to list, whether to recognise delivered mail by its
 * bytes, how to mirror flags, what may be deleted and with which
 * command, and what to record.  fetch_imap.c gathers the inputs, asks,
 * and carries the plan out; nothing here looks at a message.
 *
 * A decision also depends on what the engine finds on the way (whether
 * anything is wanted, whether the sink keeps flags, which UIDs are
 * doomed): the plan says what to do if there is something to do it to.
 */
#ifndef YUBIN_IMAP_PLAN_H
#define YUBIN_IMAP_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "account.h"

/* What is known of a folder before it is opened. */
struct imap_plan_known {
	/* The state's record of the folder; 0: none (a first run). */
	uint32_t stored_validity;
	uint32_t stored_uidnext;
	uint64_t stored_modseq;
	/* How many messages the folder held when the last run left it. */
	bool exists_recorded;
	uint32_t stored_exists;
	/* The account. */
	bool keep;
	bool delete_aged;          /* delete_after_days > 0 */
	bool max_size;             /* a max_size is set */
	bool expunge_all;          /* expunge: all */
	enum sync_flags_mode sync_flags;
	bool dry_run;
	/* The session: enabled (CONDSTORE, QRESYNC) or offered (UIDPLUS). */
	bool condstore;
	bool qresync;
	bool uidplus;
};

/* SELECT's (or EXAMINE's) answer. */
struct imap_plan_selected {
	uint32_t uidvalidity;      /* never 0: the engine refuses that reply */
	uint32_t uidnext;          /* 0: not said */
	uint64_t highestmodseq;    /* 0: not said */
	uint32_t exists;
	bool nomodseq;
	bool read_only;
};

/* How to open the folder. */
struct imap_open_plan {
	/* EXAMINE: nothing in the folder will be deleted this run. */
	bool examine;
	/* Ask SELECT for QRESYNC's flag changes since the stored
	   UIDVALIDITY and HIGHESTMODSEQ, if the sink keeps flags (they are
	   worth nothing otherwise). */
	bool qresync_if_sink_keeps_flags;
};

/* Flags of messages delivered before, onto a sink that keeps them. */
enum imap_flag_listing {
	FLAG_LISTING_NONE,          /* none, or QRESYNC brought them */
	FLAG_LISTING_CHANGED_SINCE, /* UID FETCH 1:start-1 (FLAGS) (CHANGEDSINCE) */
	FLAG_LISTING_ALL,           /* UID FETCH 1:start-1 (FLAGS) */
};

/* How doomed UIDs leave the server. */
enum imap_delete_with {
	DELETE_NOTHING,      /* nothing may be doomed this run */
	DELETE_UID_EXPUNGE,  /* UID STORE \Deleted, UID EXPUNGE (UIDPLUS) */
	DELETE_EXPUNGE,      /* UID STORE \Deleted, EXPUNGE (expunge: all) */
	DELETE_LATER,        /* read-only: record them, ask again next run */
	DELETE_NO_UIDPLUS,   /* UID STORE \Deleted only: the expunge is left
				to others, and the warning says expunge: all
				would do it */
};

/* What to do with an open folder. */
struct imap_folder_plan {
	/* What to warn of: the folder's UIDs name other messages now
	   (UIDVALIDITY changed), or may (UIDNEXT went back). */
	bool validity_changed;
	bool renumbered;
	/* UIDNEXT did not move, yet the folder holds more messages than it
	   did: listed anyway, from the recorded UIDNEXT. */
	bool uidnext_stalled;

	/* List UIDs from list_start on; list_sizes adds RFC822.SIZE. */
	bool list;
	uint32_t list_start;
	bool list_sizes;

	/* Stop after counting what the listing shows (a dry run). */
	bool count_only;

	/* Recognise what the sink already holds by its bytes, so it is
	   recorded and not delivered twice. */
	bool recognise_by_content;

	/* Mirror flags of delivered messages (the changes SELECT brought,
	   and flag_listing's), onto a sink that keeps them. */
	bool mirror_flags;
	/* sync_flags: both: merge the listed flags with the local letters
	   and push local changes (flag_push.h) instead of mirroring. */
	bool push_flags;
	enum imap_flag_listing flag_listing;
	uint64_t changed_since;    /* for FLAG_LISTING_CHANGED_SINCE */

	/* What is doomed: listed messages delivered before, those
	   delivered now, the UIDs an interrupted run was expunging,
	   messages older than delete_after_days (in place of the others). */
	bool doom_delivered;
	bool doom_fetched;
	bool redo_expunging;
	bool doom_aged;
	enum imap_delete_with delete_with;

	/* After: forget the keys of the old UIDVALIDITY, record the
	   HIGHESTMODSEQ, start the next listing from UID 1 at the latest. */
	bool forget_old_validity;
	bool record_modseq;
	bool restart_uidnext;
};

/* How to open a folder, from what is known before. */
struct imap_open_plan plan_open(const struct imap_plan_known *known);

/* What to do with a folder SELECT (or EXAMINE) opened. */
struct imap_folder_plan plan_folder(const struct imap_plan_known *known,
				    const struct imap_plan_selected *selected);

#endif
