/*
 * flag_push.h - sync_flags: both, for one open folder.  Each delivered
 * message's Maildir letters and the server's flags are merged with the
 * base the state keeps (flag_merge.h): local changes go to the server
 * with UID STORE +FLAGS/-FLAGS (flag_store.h: grouped by sign and flags,
 * pipelined), server changes onto the file, and the state records the
 * new base.
 *
 * Journaled like delivery: every push is recorded (state P) and synced
 * before its STORE; the new base (state B) after the server's OK and the
 * local rename.  A run killed in between leaves the push open, and the
 * next run resumes from it (flag_merge_resume_base): it finds the push
 * done or derives it again.  A STORE the server refuses with [MODIFIED]
 * (another client changed the message since the listing) leaves the push
 * open too, for the next run to merge again.
 *
 * push_deletions: \Deleted is merged like the other flags (the T
 * letter), and a message whose file is gone from the Maildir is to be
 * \Deleted on the server (flag_merge_removed).  Before anything is
 * recorded or sent, deletion_guard.h decides whether the folder's
 * deletions may go: a Maildir holding none of the known files pushes
 * nothing (counts->wiped), and one over the share stops the account
 * (YB_ERR_IO) unless --force.  A message whose file is gone and which
 * the server holds \Deleted is named in counts->expunge when the
 * account expunges: the caller deletes it as keep: false would, and
 * only then does the state forget it.
 */
#ifndef YUBIN_FLAG_PUSH_H
#define YUBIN_FLAG_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "imap.h"
#include "sink.h"
#include "state.h"

/* A message's flags as the server listed them. */
struct flag_seen {
	uint32_t uid;
	uint32_t flags;     /* SINK_FLAG_* bits */
	uint64_t modseq;    /* 0: not listed (no CONDSTORE) */
};

/* The folder, all borrowed. */
struct flag_push_folder {
	struct imap *imap;
	const struct imap_handler *handler; /* the folder's untagged handler */
	struct state *state;
	struct sink *sink;                  /* one that sink_can_apply_flags */
	const char *mailbox;                /* the state's name of it */
	const char *shown;                  /* sanitized, for messages */
	uint32_t uidvalidity;
	bool condstore;                     /* STORE with UNCHANGEDSINCE */
	uint64_t highestmodseq;             /* SELECT's: the condition of the
					       grouped STOREs (0: none) */
	bool push_deletions;                /* push_deletions: true */
	bool force;                         /* --force: past the share */
	bool expunges;                      /* the account expunges what it
					       deletes (keep, delete_after_days) */
	const char *account;                /* its name, for messages */
	const char *local_path;             /* the folder's Maildir */
};

/* What a folder's merge did. */
struct flag_push_counts {
	size_t pushed;      /* messages whose flags went to the server */
	size_t renamed;     /* messages whose letters changed locally */
	size_t first_seen;  /* messages given a base, nothing pushed */
	size_t modified;    /* pushes the server refused: changed meanwhile */
	size_t deleted;     /* messages this run marked \Deleted */
	bool wiped;         /* the Maildir held none of the known files:
			       nothing was pushed */
	uint32_t *expunge;  /* owned (free it): UIDs to expunge, or NULL */
	size_t expunge_len;
};

/*
 * Merge and push the flags of the count messages of seen (as the server
 * listed them; those not delivered, or gone locally, are passed over).
 * Errors: the session's (YB_ERR_PROTOCOL, a NO to STORE naming the
 * folder), the state's and the sink's (YB_ERR_IO naming the file), and
 * YB_ERR_IO for deletions over the share (nothing sent in the folder).
 * counts->expunge is the caller's to free, on error too.
 */
int flag_push_folder(const struct flag_push_folder *folder,
		     const struct flag_seen *seen, size_t count,
		     struct flag_push_counts *counts, struct yb_error *err);

#endif
