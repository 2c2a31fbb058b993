/*
 * dest_store.c - the dests a mailbox holds in memory (dest_store.h).
 *
 * A dest's number is its chunk's index times CHUNK_SPAN plus its offset
 * in the chunk.  Chunks start small (a mailbox of few new messages stays
 * small) and double up to CHUNK_SPAN bytes; a smaller chunk still takes
 * a whole span of numbers, which costs numbers, not memory.
 */
#include "config.h"

#include "dest_store.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_SHIFT 16
#define CHUNK_SPAN ((size_t)1 << CHUNK_SHIFT)
#define CHUNK_MIN 256
/* Numbers stay below 2^56 (dest_store.h). */
#define CHUNKS_MAX ((uint64_t)1 << (56 - CHUNK_SHIFT))

_Static_assert(DEST_STORE_LEN_MAX + 1 == CHUNK_SPAN,
	       "the longest dest fills one whole chunk");

void dest_store_init(struct dest_store *store)
{
	store->chunks = NULL;
	store->count = 0;
	store->cap = 0;
}

/* A new empty chunk with room for need bytes, after the last; -1: OOM,
   or past the numbers the store hands out. */
static int add_chunk(struct dest_store *store, size_t need)
{
	if ((uint64_t)store->count >= CHUNKS_MAX)
		return -1;
	if (store->count == store->cap) {
		size_t cap = store->cap ? store->cap * 2 : 4;
		if (cap < store->cap || cap > SIZE_MAX / sizeof(struct dest_chunk))
			return -1;
		struct dest_chunk *grown = realloc(store->chunks,
						   cap * sizeof(*grown));
		if (!grown)
			return -1;
		store->chunks = grown;
		store->cap = cap;
	}
	size_t size = CHUNK_MIN;
	if (store->count > 0)
		size = store->chunks[store->count - 1].size * 2;
	if (size > CHUNK_SPAN)
		size = CHUNK_SPAN;
	if (size < need)
		size = need;
	char *data = malloc(size);
	if (!data)
		return -1;
	store->chunks[store->count++] = (struct dest_chunk){ data, 0,
							     (uint32_t)size };
	return 0;
}

int dest_store_add(struct dest_store *store, const char *dest, size_t len,
		   uint64_t *number)
{
	if (len > DEST_STORE_LEN_MAX)
		return -1;
	size_t need = len + 1;
	struct dest_chunk *last = store->count ? &store->chunks[store->count - 1]
					       : NULL;
	if (!last || last->size - last->used < need) {
		if (add_chunk(store, need) != 0)
			return -1;
		last = &store->chunks[store->count - 1];
	}
	char *copy = last->data + last->used;
	memcpy(copy, dest, len);
	copy[len] = '\0';
	*number = ((uint64_t)(store->count - 1) << CHUNK_SHIFT) | last->used;
	last->used += (uint32_t)need;
	return 0;
}

const char *dest_store_get(const struct dest_store *store, uint64_t number)
{
	uint64_t index = number >> CHUNK_SHIFT;
	size_t offset = (size_t)(number & (CHUNK_SPAN - 1));
	if (index >= store->count)
		return NULL;
	const struct dest_chunk *chunk = &store->chunks[index];
	/* Only where a dest starts: after the chunk's start or a NUL. */
	if (offset >= chunk->used ||
	    (offset > 0 && chunk->data[offset - 1] != '\0'))
		return NULL;
	return chunk->data + offset;
}

void dest_store_free(struct dest_store *store)
{
	for (size_t i = 0; i < store->count; i++)
		free(store->chunks[i].data);
	free(store->chunks);
	dest_store_init(store);
}
