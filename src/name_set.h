/*
 * name_set.h - a set of NUL-terminated names with O(1) adds and look-ups
 * (open addressing, FNV-1a), so that a LIST reply of N folders costs O(N)
 * to deduplicate, not O(N^2).
 *
 * The set does not own the names: each must stay valid and unchanged
 * while it is in the set.
 */
#ifndef YUBIN_NAME_SET_H
#define YUBIN_NAME_SET_H

#include <stdbool.h>
#include <stddef.h>

struct name_set {
	const char **slots;  /* NULL: free */
	size_t cap;          /* a power of two, or 0 before the first add */
	size_t count;
	size_t comparisons;  /* strcmp calls made, for tests that check the cost */
};

/* An empty set; nothing is allocated until the first add. */
void name_set_init(struct name_set *set);

/*
 * Add name unless an equal one is there.  Returns 1 if added, 0 if it
 * was there already, -1 when out of memory (the set is unchanged).
 */
int name_set_add(struct name_set *set, const char *name);

/* Is an equal name in the set? */
bool name_set_contains(const struct name_set *set, const char *name);

/* Free the slots (not the names); the set is empty again. */
void name_set_free(struct name_set *set);

#endif
