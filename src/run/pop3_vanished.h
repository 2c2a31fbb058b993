/*
 * pop3_vanished.h - the UIDLs a listing lacked, by the copy each left.
 *
 * When a new UIDL's message is recognised as the copy a vanished UIDL
 * left (a renumbered maildrop), that copy now stands for the new UIDL:
 * the vanished UIDL must let go of it, or a message that was only left
 * out of one listing would come back with no copy of its own.  This
 * table finds the vanished UIDLs that held a copy.
 */
#ifndef YUBIN_POP3_VANISHED_H
#define YUBIN_POP3_VANISHED_H

#include <stddef.h>

#include "error.h"

struct pop3_vanished;

/* An empty table; YB_ERR_INTERNAL when out of memory.  Free with
   pop3_vanished_free. */
int pop3_vanished_new(struct pop3_vanished **out, struct yb_error *err);

/* Remember that key vanished and left the copy dest (both copied). */
int pop3_vanished_add(struct pop3_vanished *table, const char *key,
		      const char *dest, struct yb_error *err);

/* Done adding: sort for lookups. */
void pop3_vanished_seal(struct pop3_vanished *table);

/*
 * Call fn(ctx, key) for each key that left the copy dest, until it
 * returns non-zero; returns that value, or 0.  Only after
 * pop3_vanished_seal.
 */
int pop3_vanished_each_key(const struct pop3_vanished *table, const char *dest,
			   int (*fn)(void *ctx, const char *key), void *ctx);

/* NULL is fine. */
void pop3_vanished_free(struct pop3_vanished *table);

#endif
