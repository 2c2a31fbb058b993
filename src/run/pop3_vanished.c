/*
 * pop3_vanished.c - the UIDLs a listing lacked, by the copy each left:
 * pairs sorted by dest, so a lookup is one bsearch and a short walk
 * (a whole maildrop may have been renumbered: a million pairs).
 */
#include "config.h"

#include "pop3_vanished.h"

#include <stdlib.h>
#include <string.h>

#include "grow.h"

struct vanished_pair {
	char *dest;     /* owned */
	char *key;      /* owned */
};

struct pop3_vanished {
	struct vanished_pair *pairs;
	size_t count, cap;
};

int pop3_vanished_new(struct pop3_vanished **out, struct yb_error *err)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return YB_OK;
}

int pop3_vanished_add(struct pop3_vanished *table, const char *key,
		      const char *dest, struct yb_error *err)
{
	struct vanished_pair *grown = grow_array(table->pairs, &table->cap,
						 table->count + 1,
						 sizeof(*grown), 16);
	if (!grown)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	table->pairs = grown;
	struct vanished_pair *pair = &table->pairs[table->count];
	pair->dest = strdup(dest);
	pair->key = strdup(key);
	if (!pair->dest || !pair->key) {
		free(pair->dest);
		free(pair->key);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	table->count++;
	return YB_OK;
}

static int compare_pairs(const void *a, const void *b)
{
	const struct vanished_pair *pa = a, *pb = b;
	return strcmp(pa->dest, pb->dest);
}

void pop3_vanished_seal(struct pop3_vanished *table)
{
	if (table->count > 1)
		qsort(table->pairs, table->count, sizeof(*table->pairs),
		      compare_pairs);
}

static int compare_dest_pair(const void *dest, const void *pair)
{
	return strcmp(dest, ((const struct vanished_pair *)pair)->dest);
}

int pop3_vanished_each_key(const struct pop3_vanished *table, const char *dest,
			   int (*fn)(void *ctx, const char *key), void *ctx)
{
	if (table->count == 0)
		return 0;
	const struct vanished_pair *found =
		bsearch(dest, table->pairs, table->count, sizeof(*table->pairs),
			compare_dest_pair);
	if (!found)
		return 0;
	/* Equal dests sit together around the one bsearch found. */
	size_t i = (size_t)(found - table->pairs);
	while (i > 0 && strcmp(table->pairs[i - 1].dest, dest) == 0)
		i--;
	for (; i < table->count && strcmp(table->pairs[i].dest, dest) == 0; i++) {
		int rc = fn(ctx, table->pairs[i].key);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void pop3_vanished_free(struct pop3_vanished *table)
{
	if (!table)
		return;
	for (size_t i = 0; i < table->count; i++) {
		free(table->pairs[i].dest);
		free(table->pairs[i].key);
	}
	free(table->pairs);
	free(table);
}
