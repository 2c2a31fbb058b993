/* name_set.c - a set of names: open addressing, linear probing. */
#include "config.h"

#include "name_set.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_CAP 16

void name_set_init(struct name_set *set)
{
	memset(set, 0, sizeof(*set));
}

static uint64_t hash_name(const char *name)
{
	uint64_t hash = 14695981039346656037ull;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		hash ^= *p;
		hash *= 1099511628211ull;
	}
	return hash;
}

/* The slot holding name, or the free slot where it would go. */
static size_t slot_of(const char **slots, size_t cap, const char *name,
		      size_t *comparisons)
{
	size_t mask = cap - 1;
	size_t i = (size_t)hash_name(name) & mask;
	while (slots[i]) {
		++*comparisons;
		if (strcmp(slots[i], name) == 0)
			return i;
		i = (i + 1) & mask;
	}
	return i;
}

/* Double the table; the load stays at most one half, so probes stay short. */
static int grow(struct name_set *set)
{
	size_t cap = set->cap ? set->cap * 2 : FIRST_CAP;
	if (cap < set->cap || cap > SIZE_MAX / sizeof(*set->slots))
		return -1;
	const char **slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	size_t unused = 0;
	for (size_t i = 0; i < set->cap; i++)
		if (set->slots[i])
			slots[slot_of(slots, cap, set->slots[i], &unused)] = set->slots[i];
	free(set->slots);
	set->slots = slots;
	set->cap = cap;
	return 0;
}

int name_set_add(struct name_set *set, const char *name)
{
	if ((set->count + 1) * 2 > set->cap && grow(set) != 0)
		return -1;
	size_t i = slot_of(set->slots, set->cap, name, &set->comparisons);
	if (set->slots[i])
		return 0;
	set->slots[i] = name;
	set->count++;
	return 1;
}

bool name_set_contains(const struct name_set *set, const char *name)
{
	if (set->cap == 0)
		return false;
	size_t comparisons = 0;
	return set->slots[slot_of(set->slots, set->cap, name, &comparisons)] != NULL;
}

void name_set_free(struct name_set *set)
{
	free(set->slots);
	name_set_init(set);
}
