/*
 * error.h - one error contract for every module.
 *
 * Functions below main return YB_OK (0) or a status kind, and fill a
 * struct yb_error once, where the cause is known: what failed, and for
 * which account, host, mailbox or file.  Only main maps a status to an
 * exit code (yb_exit_code).
 */
#ifndef YUBIN_ERROR_H
#define YUBIN_ERROR_H

#include <stddef.h>

enum yb_status {
	YB_OK = 0,
	YB_ERR_USAGE,       /* bad command line                 -> 64 */
	YB_ERR_CONFIG,      /* bad account file or secret       -> 78 */
	YB_ERR_AUTH,        /* server refused our credentials   -> 77 */
	YB_ERR_UNAVAILABLE, /* server unreachable               -> 69 */
	YB_ERR_TEMP,        /* timeout, lock held, try later    -> 75 */
	YB_ERR_PROTOCOL,    /* server broke the protocol        -> 76 */
	YB_ERR_IO,          /* local I/O error (disk full)      -> 74 */
	YB_ERR_INTERNAL,    /* our bug, out of memory           -> 70 */
};

#define YB_ERROR_MSG_MAX 1024

struct yb_error {
	enum yb_status status;
	char msg[YB_ERROR_MSG_MAX];
};

/* Clear an error record to YB_OK with an empty message. */
void yb_error_clear(struct yb_error *err);

/*
 * Set status and message (printf format); returns status so callers can
 * write "return yb_fail(err, YB_ERR_IO, ...);".  err may be NULL.
 * A message too long for the buffer loses its middle, replaced by "...",
 * never its end (where the reason is: strerror, the server's text).
 */
int yb_fail(struct yb_error *err, enum yb_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like yb_fail, with strerror(errnum) appended as ": <text>". */
int yb_fail_errno(struct yb_error *err, enum yb_status status, int errnum,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prepend context ("account work: ") to an error already set. */
void yb_error_prefix(struct yb_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Append to err's message (with the same elision rule). */
void yb_error_suffix(struct yb_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The sysexits.h exit code for a status. */
int yb_exit_code(enum yb_status status);

/* Which of two statuses is worse (for "the worst account wins"). */
enum yb_status yb_status_worse(enum yb_status a, enum yb_status b);

/* A short name for a status, for --json ("ok", "auth", "io", ...). */
const char *yb_status_name(enum yb_status status);

#endif
