/*
 * held.c - the copies a sink holds, claimed one message each.
 */
#include "config.h"

#include "held.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct held {
	struct sink_digest *items;  /* sorted by digest, then dest */
	size_t *copy_of;            /* items[i] is copy copy_of[i] */
	size_t count;
	const char **dests;         /* one per copy, sorted */
	bool *claimed;              /* per copy */
	size_t copies;
};

static int compare_items(const void *a, const void *b)
{
	const struct sink_digest *x = a, *y = b;
	int order = memcmp(x->digest, y->digest, sizeof(x->digest));
	return order ? order : strcmp(x->dest, y->dest);
}

static int compare_dest_refs(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Drop entries equal to the one before (the same copy given twice). */
static size_t drop_repeats(struct sink_digest *items, size_t count)
{
	size_t kept = 0;
	for (size_t i = 0; i < count; i++)
		if (kept == 0 || compare_items(&items[kept - 1], &items[i]) != 0)
			items[kept++] = items[i];
	return kept;
}

static size_t copy_index(const struct held *held, const char *dest, bool *found)
{
	size_t lo = 0, hi = held->copies;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int order = strcmp(held->dests[mid], dest);
		if (order == 0) {
			*found = true;
			return mid;
		}
		if (order < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return 0;
}

/* The distinct dests, sorted, and which one each item is. */
static int index_copies(struct held *held)
{
	held->dests = malloc((held->count ? held->count : 1) * sizeof(*held->dests));
	held->copy_of = malloc((held->count ? held->count : 1) * sizeof(*held->copy_of));
	if (!held->dests || !held->copy_of)
		return YB_ERR_INTERNAL;
	for (size_t i = 0; i < held->count; i++)
		held->dests[i] = held->items[i].dest;
	if (held->count > 1)
		qsort(held->dests, held->count, sizeof(*held->dests), compare_dest_refs);
	for (size_t i = 0; i < held->count; i++)
		if (held->copies == 0 || strcmp(held->dests[held->copies - 1], held->dests[i]) != 0)
			held->dests[held->copies++] = held->dests[i];
	for (size_t i = 0; i < held->count; i++) {
		bool found;
		held->copy_of[i] = copy_index(held, held->items[i].dest, &found);
	}
	held->claimed = calloc(held->copies ? held->copies : 1, sizeof(*held->claimed));
	return held->claimed ? YB_OK : YB_ERR_INTERNAL;
}

int held_new(struct sink_digest *digests, size_t count, struct held **out,
	     struct yb_error *err)
{
	*out = NULL;
	struct held *held = calloc(1, sizeof(*held));
	if (!held) {
		free(digests);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	held->items = digests;
	for (size_t i = 0; i < count; i++)
		digests[i].dest[SINK_DEST_MAX - 1] = '\0';
	if (count > 1)
		qsort(digests, count, sizeof(*digests), compare_items);
	held->count = drop_repeats(digests, count);
	if (index_copies(held) != YB_OK) {
		held_free(held);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	*out = held;
	return YB_OK;
}

int held_from_sink(struct sink *sink, const char *const *recorded,
		   size_t recorded_count, struct held **out, struct yb_error *err)
{
	struct sink_recorded list = { .dests = recorded, .count = recorded_count };
	struct sink_digest *digests = NULL;
	size_t count = 0;
	*out = NULL;
	int rc = sink_digests(sink, &list, &digests, &count, err);
	if (rc != YB_OK) {
		free(digests);
		return rc;
	}
	return held_new(digests, count, out, err);
}

void held_claim_dest(struct held *held, const char *dest)
{
	bool found;
	size_t copy = copy_index(held, dest, &found);
	if (found)
		held->claimed[copy] = true;
}

void held_claim_all(struct held *held)
{
	for (size_t i = 0; i < held->copies; i++)
		held->claimed[i] = true;
}

void held_release_dest(struct held *held, const char *dest)
{
	bool found;
	size_t copy = copy_index(held, dest, &found);
	if (found)
		held->claimed[copy] = false;
}

static int compare_digest_key(const void *key, const void *item)
{
	return memcmp(key, ((const struct sink_digest *)item)->digest, 32);
}

const char *held_match(struct held *held, const unsigned char digest[32])
{
	if (held->count == 0)
		return NULL;
	const struct sink_digest *found = bsearch(digest, held->items, held->count,
						  sizeof(*held->items), compare_digest_key);
	if (!found)
		return NULL;
	/* Equal digests sit together; take the first copy not yet claimed. */
	size_t i = (size_t)(found - held->items);
	while (i > 0 && memcmp(held->items[i - 1].digest, digest, 32) == 0)
		i--;
	for (; i < held->count && memcmp(held->items[i].digest, digest, 32) == 0; i++) {
		size_t copy = held->copy_of[i];
		if (!held->claimed[copy]) {
			held->claimed[copy] = true;
			return held->items[i].dest;
		}
	}
	return NULL;
}

size_t held_copies(const struct held *held)
{
	return held->copies;
}

void held_free(struct held *held)
{
	if (!held)
		return;
	free(held->items);
	free(held->copy_of);
	free(held->dests);
	free(held->claimed);
	free(held);
}
