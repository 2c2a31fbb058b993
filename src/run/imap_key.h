/*
 * imap_key.h - the state's key of an IMAP message: "UIDVALIDITY/UID".
 * Delivery, expunge and flag pushes must name a message the same way,
 * so the format lives here once.
 */
#ifndef YUBIN_IMAP_KEY_H
#define YUBIN_IMAP_KEY_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

/* Room for "4294967295/4294967295" and its NUL. */
#define IMAP_KEY_MAX 24

static inline void imap_key_format(char out[IMAP_KEY_MAX], uint32_t uidvalidity,
				   uint32_t uid)
{
	snprintf(out, IMAP_KEY_MAX, "%" PRIu32 "/%" PRIu32, uidvalidity, uid);
}

#endif
