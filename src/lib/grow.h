/*
 * grow.h - room for one more: the growth of every array and byte buffer
 * that is not a secret (those grow with wipe.h), with the size checked.
 */
#ifndef YUBIN_GROW_H
#define YUBIN_GROW_H

#include <stddef.h>

/*
 * The array items (*cap elements of size bytes, malloc'd; NULL when *cap
 * is 0) with room for need elements: items itself when it has room,
 * else the block realloc'd to a capacity doubled from first (or *cap)
 * until it holds need, and *cap updated.  NULL, with items and *cap
 * untouched, when memory runs out or the size would overflow; the
 * caller still owns items then.
 */
void *grow_array(void *items, size_t *cap, size_t need, size_t size,
		 size_t first);

#endif
