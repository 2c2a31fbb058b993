/*
 * envelope.h - the envelope of a message as the mbox and MDA sinks give
 * it: the sender found in its Return-Path, the mbox From_ line, and the
 * %-expansion of an MDA command with the filter every expanded value
 * passes.  Pure: no I/O; only mda_expand allocates.
 *
 * The sender.  The address inside <> of the message's first Return-Path
 * header field (or the field's whole value when it has no <>), if it is
 * 1..MBOX_SENDER_MAX printable ASCII bytes without spaces, '<' or '>';
 * otherwise, and for "<>" or no Return-Path at all, MAILER-DAEMON.
 *
 * The filter.  A value an MDA command is given passes when it holds only
 * ASCII letters, digits and @ . _ + = - and does not start with '-' (the
 * set of Postfix's command_expansion_filter, narrowed): a command such as
 * su nobody -c "deliver -f %f" hands the value to a second shell that
 * yubin's quoting does not reach.  A value that fails is never cleaned (a
 * partly cleaned address could name someone else).  mda.h says what the
 * MDA sink does with one that fails.
 *
 * The names carry the prefix of the sink whose rule each one is: the
 * mbox's From_ line, the MDA's command.
 */
#ifndef YUBIN_ENVELOPE_H
#define YUBIN_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MBOX_SENDER_MAX 256           /* longest sender kept */
#define MBOX_RETURN_PATH_MAX 998      /* longest Return-Path value read */
#define MBOX_HEADER_SCAN_MAX (256u << 10) /* header bytes looked at */

/* "From " SENDER " " DATE(24) "\n", with room to spare. */
#define MBOX_FROM_LINE_MAX (5 + MBOX_SENDER_MAX + 1 + 24 + 1)

/* The sender in a From_ line and the %f of an MDA when none passes. */
#define MDA_FALLBACK_SENDER "MAILER-DAEMON"

/* ---- the sender --------------------------------------------------------- */

/*
 * Finds the envelope sender in a message's header as its bytes stream by,
 * in chunks split anywhere.  Looks only at the header (up to the first
 * empty line) and at most MBOX_HEADER_SCAN_MAX bytes of it; only the
 * first Return-Path field counts, folded lines are joined.
 */
struct mbox_envelope {
	unsigned state;          /* private */
	size_t matched;          /* private: bytes of the field name matched */
	uint64_t scanned;        /* header bytes seen */
	bool found;              /* a Return-Path field was read */
	bool too_long;           /* its value was cut at MBOX_RETURN_PATH_MAX */
	size_t value_len;
	char value[MBOX_RETURN_PATH_MAX + 1];
	char sender[MBOX_SENDER_MAX + 1];
};

void mbox_envelope_init(struct mbox_envelope *envelope);
void mbox_envelope_feed(struct mbox_envelope *envelope, const char *data,
			size_t len);

/*
 * The sender, as described at the top of this file: never empty, never
 * holding a space, a control byte or a byte above 0x7e.  Call once the
 * message is complete (a header without an end is judged as it stands).
 * Owned by envelope.
 */
const char *mbox_envelope_sender(struct mbox_envelope *envelope);

/* ---- the mbox From_ line ------------------------------------------------ */

/*
 * when in asctime form ("Fri Feb 13 23:31:30 2009"), in UTC and in
 * English whatever the locale; false for a time it cannot say (before
 * 1970 or past 9999).
 */
bool mbox_envelope_date(time_t when, char out[25]);

/*
 * "From SENDER DATE\n" into out (size bytes); its length, or 0 when it
 * does not fit.
 */
size_t mbox_envelope_from_line(const char *sender, const char *date,
			       char *out, size_t size);

/* ---- the MDA's expansions ----------------------------------------------- */

/* The filter above: true when value (NULL is "") passes.  "" passes. */
bool mda_value_is_safe(const char *value);

/* sender when it is not empty and passes the filter, else
   MDA_FALLBACK_SENDER (static). */
const char *mda_safe_sender(const char *sender);

/* After a '%': is c one an MDA command may use (u, a, f or %)? */
bool mda_expansion_known(char c);

/* Does command use %c (not as part of a "%%")? */
bool mda_expansion_used(const char *command, char c);

/* The values %u, %a and %f stand for, filtered already (NULL is ""). */
struct mda_values {
	const char *user;
	const char *account;
	const char *sender;
};

/*
 * word with %u %a %f %% replaced by their values, malloc'd (the caller
 * frees; NULL when out of memory).  Every '%' in word must start one of
 * those (mda_expansion_known): the values are put in as they are.
 */
char *mda_expand(const char *word, const struct mda_values *values);

#endif
