/*
 * state_key.h - a delivered key's values in 24 bytes.
 *
 * A state may hold a million keys, so each costs what the common case
 * needs and no more: the name (the set's), the delivery time in 32 bits,
 * where its dest is (the snapshot's M line, or its number in the
 * mailbox's dest store, in 32 bits), the flags as last agreed with the
 * server and a listed size of up to 8 MiB.  What does not fit (a time
 * past 2106 or before 1970, a dest on a line or at a number past 2^31,
 * a bigger size) and what few keys have (a missing count, a flag push)
 * live in a side set of the mailbox, keyed
 * by the same name; the entry's KEY_HAS_EXTRA bit says whether it has
 * one there, so that the common look-up never hashes twice.
 *
 * Every setter returns 0, or -1 when out of memory with nothing changed.
 * The side set ("extras", of struct key_extra) holds the key's name by
 * pointer, like the key set: key_drop_extra before the key is removed.
 */
#ifndef YUBIN_STATE_KEY_H
#define YUBIN_STATE_KEY_H

#include <stdbool.h>
#include <stdint.h>

#include "name_set.h"

/* A delivered key in its mailbox's set; head.spare holds the flags as
   last agreed (low 8 bits, KEY_FLAG_KNOWN once recorded), KEY_HAS_EXTRA
   and the listed size (see state_key.c). */
struct key_entry {
	struct name_entry head;
	uint32_t fetched;  /* fetched_at, or in the extra */
	uint32_t dest;     /* 0: none; an M line's offset; a dest store's
			      number; or in the extra (state_key.c) */
};

/* What a key's entry has no room for. */
struct key_extra {
	struct name_entry head;
	uint64_t dest_ref;      /* state.c's encoding, as below */
	int64_t fetched_at;
	uint64_t listed_size;
	int64_t missing_since;
	uint32_t missing_runs;  /* 0: not missing */
	uint8_t push_add;       /* both 0: no push open */
	uint8_t push_remove;
};

#define KEY_FLAG_KNOWN 0x80u
#define KEY_FLAG_BITS 0x7fu

/* A dest_ref says where a key's dest is: KEY_DEST_NONE for none, an odd
   number for the snapshot line at (dest_ref - 1) / 2, an even one for
   the dest store's number dest_ref / 2 - 1. */
#define KEY_DEST_NONE 0

void key_extras_init(struct name_set *extras);

int64_t key_fetched_at(const struct name_set *extras,
		       const struct key_entry *entry);
int key_set_fetched_at(struct name_set *extras, struct key_entry *entry,
		       int64_t fetched_at);

uint64_t key_dest_ref(const struct name_set *extras,
		      const struct key_entry *entry);
int key_set_dest_ref(struct name_set *extras, struct key_entry *entry,
		     uint64_t dest_ref);

bool key_listed_size(const struct name_set *extras,
		     const struct key_entry *entry, uint64_t *size);
int key_set_listed_size(struct name_set *extras, struct key_entry *entry,
			uint64_t size);

/* runs 0: not missing (since is then 0). */
void key_missing(const struct name_set *extras, const struct key_entry *entry,
		 int64_t *since, uint32_t *runs);
int key_set_missing(struct name_set *extras, struct key_entry *entry,
		    int64_t since, uint32_t runs);

/* Both 0: no push open. */
void key_push(const struct name_set *extras, const struct key_entry *entry,
	      unsigned *add, unsigned *remove);
int key_set_push(struct name_set *extras, struct key_entry *entry,
		 unsigned add, unsigned remove);

/* The flags byte: KEY_FLAG_KNOWN and the bits (0: none recorded). */
unsigned key_flag_base(const struct key_entry *entry);
void key_set_flag_base(struct key_entry *entry, unsigned flags);

/* Forget entry's extra, if it has one: before the key leaves its set. */
void key_drop_extra(struct name_set *extras, struct key_entry *entry);

#endif
