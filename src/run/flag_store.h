/*
 * flag_store.h - the UID STOREs of a folder's flag pushes (flag_push.h),
 * as few and as fast as the server allows: the changes with the same
 * sign and flags go in one command over a UID set ("UID STORE 3,5,9:12
 * +FLAGS.SILENT (\Seen)"), and every command of a batch is sent before
 * the first reply is read.  With CONDSTORE each command is conditional
 * (UNCHANGEDSINCE): a grouped one on the folder's HIGHESTMODSEQ when its
 * flags were read, so any change made since by another client refuses
 * that message; a lone one on its message's own MODSEQ.  The UIDs of a
 * [MODIFIED set] answer are marked refused, the others done.
 */
#ifndef YUBIN_FLAG_STORE_H
#define YUBIN_FLAG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "imap.h"
#include "sink.h"

/* One change to one message. */
struct flag_store_op {
	uint32_t uid;
	char sign;          /* '+' or '-' */
	uint32_t flags;     /* SINK_FLAG_* bits */
	uint64_t modseq;    /* in: a lone op's condition (0: none); out: the
			       MODSEQ the server gave it, when it did */
	bool refused;       /* out: the server did not apply it ([MODIFIED]
			       naming it, or a NO to its command) */
	size_t tag;         /* the caller's, kept */
};

/* Where the STOREs go, all borrowed. */
struct flag_store_target {
	struct imap *imap;
	const struct imap_handler *handler; /* the folder's untagged handler */
	const char *shown;                  /* the folder, for messages */
	bool condstore;
};

/*
 * Send the count ops (one per UID) and read every answer.  grouped: ops
 * with equal sign and flags share commands, conditional on since (0:
 * none); otherwise one command each, on its own modseq.  The ops are
 * reordered (by UID).  testhook step "flag-store" after each answer.
 * A NO refuses every op of its command, and the first one is noted in
 * *refusal (YB_ERR_PROTOCOL, naming the folder) while the other answers
 * are still read; *refusal is left alone when there is none.  Errors:
 * the session's (what the unread answers did is then unknown), and
 * YB_ERR_INTERNAL when out of memory.
 */
int flag_store_send(const struct flag_store_target *target,
		    struct flag_store_op *ops, size_t count, bool grouped,
		    uint64_t since, struct yb_error *refusal, struct yb_error *err);

#endif
