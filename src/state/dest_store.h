/*
 * dest_store.h - the dests a mailbox holds in memory, each at a number.
 *
 * A run that delivers N messages holds N dests until the state closes (a
 * loaded snapshot's stay on disk until asked for).  Each is kept once,
 * NUL-terminated, in chunks that never move, and named by a number
 * small enough for a key's 32-bit entry (state_key.h), so that a dest
 * costs its own bytes, not a pointer or an entry of a side set.  A
 * replaced dest stays until the store goes, as in an arena: at most what
 * one run's journal holds.
 *
 * Numbers are the store's own making.  dest_store_get checks any number
 * against what was stored, and answers only for the start of a stored
 * dest: a wrong number reads nothing, never past the store.
 *
 * The store owns its chunks; a dest it returns is valid until
 * dest_store_free.
 */
#ifndef YUBIN_DEST_STORE_H
#define YUBIN_DEST_STORE_H

#include <stddef.h>
#include <stdint.h>

/* The longest dest the store takes, in bytes (without its NUL). */
#define DEST_STORE_LEN_MAX (64 * 1024 - 1)

struct dest_chunk {
	char *data;      /* owned: size bytes, the first used in use */
	uint32_t used;
	uint32_t size;
};

struct dest_store {
	struct dest_chunk *chunks;  /* owned: count of cap in use */
	size_t count;
	size_t cap;
};

/* An empty store; nothing is allocated until the first add.  A zeroed
   struct dest_store is the same. */
void dest_store_init(struct dest_store *store);

/*
 * Keep a NUL-terminated copy of dest[0..len) (len at most
 * DEST_STORE_LEN_MAX); *number names it, below 2^56 and greater
 * than any handed out before.  0, or -1 when out of memory or too long,
 * with nothing kept.
 */
int dest_store_add(struct dest_store *store, const char *dest, size_t len,
		   uint64_t *number);

/* The dest kept at number, or NULL if none starts there. */
const char *dest_store_get(const struct dest_store *store, uint64_t number);

/* Free every dest; the store is empty again. */
void dest_store_free(struct dest_store *store);

#endif
