/*
 * held.h - the copies a sink already holds, for recognising a message
 * that was delivered before (after a UIDVALIDITY change) by its bytes.
 *
 * Built from sink_digests.  One copy stands for one message: two equal
 * messages on the server need two copies, and the digests a sink gives
 * for one copy (same dest) are claimed together.  No I/O of its own:
 * held_from_sink asks the sink what it holds.
 */
#ifndef YUBIN_HELD_H
#define YUBIN_HELD_H

#include <stddef.h>

#include "error.h"
#include "sink.h"

struct held;

/*
 * What sink holds (sink_digests, given the dests the state records as
 * recorded), as a held; the sink must sink_can_digest.  Errors are the
 * sink's (YB_ERR_IO naming its path) or YB_ERR_INTERNAL.
 */
int held_from_sink(struct sink *sink, const char *const *recorded,
		   size_t recorded_count, struct held **out, struct yb_error *err);

/*
 * Takes digests (count entries, malloc'd; NULL when count is 0) whatever
 * it returns.  Entries equal in digest and dest count once.  Errors:
 * YB_ERR_INTERNAL (out of memory).  Free with held_free.
 */
int held_new(struct sink_digest *digests, size_t count, struct held **out,
	     struct yb_error *err);

/* The copy named dest already stands for a recorded message: claim it. */
void held_claim_dest(struct held *held, const char *dest);

/*
 * Claim every copy, then free those named: to match only against the
 * copies of particular records (POP3: those of UIDLs that vanished).
 */
void held_claim_all(struct held *held);
void held_release_dest(struct held *held, const char *dest);

/*
 * The dest of a copy with this digest not claimed yet, now claimed; NULL
 * if none.  Owned by held.
 */
const char *held_match(struct held *held, const unsigned char digest[32]);

/* How many distinct copies (dests) it knows. */
size_t held_copies(const struct held *held);

/* NULL is fine. */
void held_free(struct held *held);

#endif
