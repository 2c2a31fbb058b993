/*
 * imap_utf7.h - IMAP's modified UTF-7 for mailbox names (RFC 3501
 * section 5.1.3) to and from UTF-8.
 *
 * Both directions are strict, so a name has exactly one spelling in each
 * form and a round trip gives back the same bytes:
 *   to UTF-8    printable ASCII other than "&" stands for itself; "&-" is
 *               "&"; "&...-" is modified base64 ("," for "/") of UTF-16BE.
 *               Refused: other bytes outside 0x20..0x7e, an unterminated
 *               or empty shift, a base64 run of printable ASCII or with
 *               non-zero or too many padding bits, two shifts in a row
 *               ("&AOk-&AOk-" must be one shift), an unpaired surrogate,
 *               and U+0000.
 *   from UTF-8  refused: invalid UTF-8 (overlong forms, surrogates, code
 *               points above U+10FFFF, truncated sequences) and NUL.
 *
 * Errors: YB_OK, or YB_ERR_PROTOCOL for invalid input (the message says
 * what and where, bytes sanitized; a caller converting a name from the
 * account file may relabel it YB_ERR_CONFIG), or YB_ERR_INTERNAL when out
 * of memory.  err may be NULL.
 *
 * Ownership: on success *out is a malloc'd NUL-terminated string of
 * *out_len bytes that the caller frees; on failure *out is NULL.  in is
 * not kept.
 */
#ifndef YUBIN_IMAP_UTF7_H
#define YUBIN_IMAP_UTF7_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

int imap_utf7_to_utf8(const char *in, size_t len, char **out, size_t *out_len,
		      struct yb_error *err);

int imap_utf8_to_utf7(const char *in, size_t len, char **out, size_t *out_len,
		      struct yb_error *err);

/*
 * A mailbox name as the server sent it to UTF-8 (imap_mailbox_to_utf8),
 * and UTF-8 to the form the server takes (imap_mailbox_from_utf8): with
 * utf8_accept (ENABLE UTF8=ACCEPT, RFC 6855) both are UTF-8 already, and
 * the name is only checked (valid UTF-8, no NUL) and copied; else the
 * conversions above.  So one folder has one UTF-8 name whether or not
 * the server enabled UTF8=ACCEPT.  Errors and ownership as above.
 */
int imap_mailbox_to_utf8(const char *in, size_t len, bool utf8_accept,
			 char **out, size_t *out_len, struct yb_error *err);
int imap_mailbox_from_utf8(const char *in, size_t len, bool utf8_accept,
			   char **out, size_t *out_len, struct yb_error *err);

#endif
