/*
 * name_set.h - yubin's one hash set of names, with O(1) adds, look-ups
 * and removals: the folders of a LIST reply (deduplicated in O(N), not
 * O(N^2)), and the state's mailboxes and delivered keys.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones), at most 3/4 full, over small slots that point into a
 * dense array of the entries (a removed entry's place is taken by the
 * last one).  Names are hashed with SipHash-1-3
 * under a random key of each set, so that names a hostile server picks
 * cannot be made to collide.
 *
 * Entries: a set holds entries of entry_size bytes, each beginning with a
 * struct name_entry; a caller that keeps data with each name embeds
 * name_entry as the first member of its own entry struct and casts.  The
 * set owns its slots; it does not own the names: each must stay valid
 * and unchanged while it is in the set.  A pointer to an entry is valid
 * until the set next grows or loses an entry.
 *
 * Names hold any bytes but are at most UINT32_MAX bytes long.
 */
#ifndef YUBIN_NAME_SET_H
#define YUBIN_NAME_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct name_entry {
	const char *name;   /* NULL: the slot is free */
	uint32_t len;
	/* The caller's (zero when added): the set never reads it.  The hash
	   is the slot's alone, so that an entry of many is no bigger. */
	uint32_t spare;
};

/* A slot of the table: an entry's hash, and its index + 1 (0: free). */
struct name_slot {
	uint32_t hash;
	uint32_t index;
};

struct name_set {
	unsigned char *entries;  /* owned: entry_cap entries of entry_size
				    bytes, the first count in use */
	size_t entry_size;
	size_t entry_cap;
	struct name_slot *slots; /* owned: capacity of them */
	size_t capacity;      /* a power of two, or 0 before the first add */
	size_t count;
	size_t comparisons;   /* names compared by adds, for tests of the cost */
	uint64_t hash_key[2];
};

/*
 * An empty set of bare names; nothing is allocated until the first add.
 * A zeroed struct name_set is the same.
 */
void name_set_init(struct name_set *set);

/* An empty set of entries of entry_size bytes (at least a name_entry). */
void name_set_init_entries(struct name_set *set, size_t entry_size);

/*
 * Add name[0..len) unless an equal name is there.  *entry (may be NULL)
 * is then the entry: when added, every byte of it after the name_entry
 * is zero.  Returns 1 if added, 0 if it was there already, -1 when out of
 * memory or too big (the set is unchanged).
 */
int name_set_insert(struct name_set *set, const char *name, size_t len,
		    struct name_entry **entry);

/* The entry of name[0..len), or NULL. */
struct name_entry *name_set_find(const struct name_set *set, const char *name,
				 size_t len);

/*
 * Start loading the slot where name[0..len) would be, for a look-up of
 * it soon after: a loop that hints a few names ahead of its look-ups
 * overlaps their cache misses.  Changes nothing.
 */
void name_set_prefetch(const struct name_set *set, const char *name,
		       size_t len);

/* Remove name[0..len); false if it was not there. */
bool name_set_remove(struct name_set *set, const char *name, size_t len);

/*
 * The entries, in no order: start *cursor at 0 and call until NULL.  The
 * set must not change meanwhile.
 */
struct name_entry *name_set_next(const struct name_set *set, size_t *cursor);

/* name_set_insert of a NUL-terminated name, without the entry. */
int name_set_add(struct name_set *set, const char *name);

/* Is an equal NUL-terminated name in the set? */
bool name_set_contains(const struct name_set *set, const char *name);

/* Free the slots (not the names); the set is empty again, of the same
   entry size. */
void name_set_free(struct name_set *set);

#endif
