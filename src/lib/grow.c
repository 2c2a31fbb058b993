/*
 * grow.c - room for one more, with the size checked.
 */
#include "config.h"

#include "grow.h"

#include <stdint.h>
#include <stdlib.h>

void *grow_array(void *items, size_t *cap, size_t need, size_t size,
		 size_t first)
{
	if (need <= *cap)
		return items;
	if (size == 0 || need > SIZE_MAX / size)
		return NULL;
	size_t grown_cap = *cap ? *cap : (first ? first : 1);
	while (grown_cap < need)
		grown_cap = grown_cap > SIZE_MAX / 2 ? need : grown_cap * 2;
	if (grown_cap > SIZE_MAX / size)
		grown_cap = need;
	void *grown = realloc(items, grown_cap * size);
	if (!grown)
		return NULL;
	*cap = grown_cap;
	return grown;
}
