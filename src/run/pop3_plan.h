/*
 * pop3_plan.h - the POP3 engine's decisions over a UIDL listing, as pure
 * functions (no I/O, no state): when a delivered key missing from the
 * listings may be forgotten, and whether a listing looks renumbered.
 *
 * A listing is evidence, not truth: a server may list nothing or only
 * part of the maildrop for a moment, or renumber every UIDL when it
 * rebuilds its index.  See fetch_pop3.c for how the engine acts on these.
 */
#ifndef YUBIN_POP3_PLAN_H
#define YUBIN_POP3_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * The grace before a key missing from the listings is forgotten: it must
 * be missing from this many complete listings AND for this many days.
 * Runs alone pass in minutes from cron, so a server that lists an empty
 * or partial maildrop for a quarter of an hour would still make yubin
 * forget; days alone would forget after one listing of a run made once a
 * week.  Both together outlast a server's bad moment by far, and the key
 * of a message that really is gone costs only its line in the state
 * meanwhile.
 */
#define POP3_FORGET_AFTER_LISTINGS 3
#define POP3_FORGET_AFTER_DAYS 7

/*
 * A renumbering is suspected only when at least this many known keys
 * vanish from one listing.  Renumbered messages are recognised by their
 * bytes wherever the destination can say what it holds; this rule only
 * decides when a destination that cannot makes the run refuse, and one
 * or two messages renumbered cost at most two duplicates there, while
 * refusing would stop every run of a user who deleted a message
 * elsewhere and got one of equal size.
 */
#define POP3_RENUMBER_MIN_GONE 3

/*
 * A key missing from one more listing: *runs and *since (the first
 * listing that lacked it) after it.  was_missing: it was missing before,
 * with since and runs.  runs saturates at UINT32_MAX.
 */
void pop3_missing_once_more(bool was_missing, time_t since, unsigned long runs,
			    time_t now, time_t *next_since,
			    unsigned long *next_runs);

/* May a key missing from runs listings since `since` be forgotten now? */
bool pop3_grace_is_over(unsigned long runs, time_t since, time_t now);

/* What a listing shows of the delivered keys, for the renumbering rule. */
struct pop3_listing_counts {
	size_t present;    /* delivered keys not missing from earlier listings */
	size_t gone_now;   /* of those, missing from this listing */
	size_t sized;      /* of those gone, with a recorded size */
	size_t fresh;      /* listed messages with a key never delivered */
	size_t matched;    /* fresh ones whose size is that of a sized one
			      gone (each size used once) */
};

/*
 * How many sizes of a match one of b, each used once; both sorted
 * ascending.
 */
size_t pop3_count_size_matches(const uint64_t *a, size_t a_len,
			       const uint64_t *b, size_t b_len);

/*
 * Has the server renumbered its UIDLs?  Messages deleted with another
 * client are legitimate, however many, so vanished keys alone prove
 * nothing; a renumbering is when the server still holds the messages
 * under new UIDLs.  Suspected when, in this one listing:
 *   - at least POP3_RENUMBER_MIN_GONE known keys vanished, and more than
 *     half of those that were listed last time; and
 *   - messages stand in their place: more than half of the vanished keys
 *     whose size is recorded have a new message of exactly that size; or,
 *     where most sizes are unknown (a state written before sizes were
 *     kept), at least as many new messages as keys vanished.
 */
bool pop3_renumbering_suspected(const struct pop3_listing_counts *counts);

#endif
