/*
 * imap_idle.h - waiting for news of the selected mailbox with IDLE
 * (RFC 2177) on a session from imap_connect that has SELECTed or
 * EXAMINEd it.
 *
 * imap_idle_start sends IDLE and reads until the server's go-ahead;
 * imap_idle_wait (one session) or poll on imap_idle_fd plus
 * imap_idle_read (several) take what the server sends meanwhile;
 * imap_idle_done sends DONE and reads IDLE's completion.  News found on
 * the way is added to a struct imap_idle_news the caller clears.  On a
 * session with NOTIFY set (imap_notify.h) and nothing selected, the news
 * is a STATUS naming a mailbox that changed.
 *
 * Errors name the host: YB_ERR_PROTOCOL for a NO or BAD to IDLE (with
 * news->refused: the server will not IDLE, poll it instead), a
 * continuation request at the wrong moment, more than
 * IMAP_IDLE_RESPONSES_MAX responses between DONE and its completion;
 * YB_ERR_TEMP when the go-ahead, the rest of a response or the
 * completion does not come within the account's timeout, or on a BYE
 * [UNAVAILABLE]; the rest as imap.h says (BYE, closed connection).
 * After an error other than a refusal the session is good only for
 * imap_close().
 */
#ifndef YUBIN_IMAP_IDLE_H
#define YUBIN_IMAP_IDLE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "imap.h"

/* Responses imap_idle_read takes in one call when they come in a burst:
   a server that floods cannot keep its caller from its other work. */
#define IMAP_IDLE_BURST_MAX 256
/* Responses allowed between DONE and IDLE's completion. */
#define IMAP_IDLE_RESPONSES_MAX 100000

struct imap_idle_news {
	bool new_mail;     /* EXISTS or RECENT: a message arrived; or with
			      NOTIFY, a STATUS, or "* NO" (events lost) */
	bool overflow;     /* NOTIFY: [NOTIFICATIONOVERFLOW], the server
			      stopped telling; set NOTIFY again */
	bool changed;      /* EXPUNGE, VANISHED or FETCH: flags or removals */
	bool ended;        /* the server completed IDLE without our DONE */
	bool refused;      /* it answered IDLE with NO or BAD */
	size_t responses;  /* untagged responses seen */
};

int imap_idle_start(struct imap *imap, struct imap_idle_news *news,
		    struct yb_error *err);

/* The socket to poll for POLLIN, and whether bytes wait already buffered
   (then call imap_idle_read without polling). */
int imap_idle_fd(const struct imap *imap);
bool imap_idle_buffered(const struct imap *imap);

/* Read at least one response (waiting up to the account's timeout for
   the rest of it), and what else is buffered, up to IMAP_IDLE_BURST_MAX. */
int imap_idle_read(struct imap *imap, struct imap_idle_news *news,
		   struct yb_error *err);

/* Wait up to timeout_ms for the server to say something, then read it;
   YB_OK with nothing new when the time passed or a signal came. */
int imap_idle_wait(struct imap *imap, int timeout_ms,
		   struct imap_idle_news *news, struct yb_error *err);

/* End IDLE (unless news->ended says the server did) and read until its
   completion; then the session takes commands again. */
int imap_idle_done(struct imap *imap, struct imap_idle_news *news,
		   struct yb_error *err);

#endif
