/*
 * imap_notify.h - news of several mailboxes on one session: NOTIFY
 * (RFC 5465), where the server offers it.
 *
 * imap_notify_set asks a logged-in session (nothing selected) for
 * MessageNew and MessageExpunge in the named mailboxes; the server then
 * sends an untagged STATUS naming a mailbox whenever one changes, which
 * imap_idle.h's readers take as news while the session waits in IDLE.
 * The mailboxes are named one by one, as a fetch resolved them, rather
 * than as a subtree or "personal": a fetch takes only those, so that is
 * what is worth waking for.
 *
 * Ownership: the caller's strings are only read; the command string
 * imap_notify_command returns is the caller's to free.
 */
#ifndef YUBIN_IMAP_NOTIFY_H
#define YUBIN_IMAP_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "imap.h"

/* The longest NOTIFY SET command sent: past it (thousands of folders)
   the caller waits with IDLE per folder instead. */
#define IMAP_NOTIFY_COMMAND_MAX 32768

/*
 * "NOTIFY SET (mailboxes (Q1 Q2 ...) (MessageNew MessageExpunge))" for
 * count (>= 1) mailbox names already quoted (imap_quote_mailbox);
 * malloc'd, or NULL when it would be longer than
 * IMAP_NOTIFY_COMMAND_MAX (or memory ran out).  Pure.
 */
char *imap_notify_command(char *const *quoted, size_t count);

/*
 * Send the NOTIFY SET for count quoted mailboxes and read its
 * completion.  YB_OK with *refused false: the server will tell of
 * changes from now on.  YB_OK with *refused true: it answered NO or BAD
 * (reason, sanitized, in refusal; e.g. too many names) and the session
 * is still good for other commands; also when the command would be too
 * long, then without asking.  Other errors as imap.h's: the session is
 * then good only for imap_close().
 */
int imap_notify_set(struct imap *imap, char *const *quoted, size_t count,
		    bool *refused, char refusal[512], struct yb_error *err);

#endif
