/*
 * test_name_set_random.c - the hash set of names under generated
 * histories: random inserts and removes, with data kept in each entry,
 * checked after every step against a plain array of what should be
 * there.  Small pools of names make inserts of present names, removes of
 * absent ones and long probe runs (backward-shift deletion) common.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name_set.h"

#define POOL_MAX 600
#define NAME_MAX_LEN 16

/* An entry with data beside its name, as the state keeps. */
struct tagged_entry {
	struct name_entry head;
	uint64_t tag;
	char pad[5];   /* an entry size that is no multiple of 8 */
};

/* The reference: which pool names are in, with what tag. */
struct model {
	char names[POOL_MAX][NAME_MAX_LEN];
	size_t lens[POOL_MAX];
	bool present[POOL_MAX];
	uint64_t tags[POOL_MAX];
	size_t pool;
	size_t count;
};

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t rng_below(size_t bound)
{
	return (size_t)(rng_next() % bound);
}

/* pool distinct names of 0..NAME_MAX_LEN bytes, NULs included. */
static void make_pool(struct model *model, size_t pool)
{
	memset(model, 0, sizeof(*model));
	model->pool = pool;
	for (size_t i = 0; i < pool; i++) {
		/* The index first keeps names distinct, random bytes after. */
		int len = snprintf(model->names[i], NAME_MAX_LEN, "%zu", i);
		assert_true(len > 0);
		size_t extra = rng_below(NAME_MAX_LEN - (size_t)len);
		for (size_t j = 0; j < extra; j++)
			model->names[i][len + j] = (char)rng_below(256);
		/* "1" then "12" must differ from "12": mark the split. */
		model->names[i][len] = extra ? (char)('a' + rng_below(26)) : '\0';
		model->lens[i] = (size_t)len + extra;
	}
}

static void check_one(const struct name_set *set, const struct model *model,
		      size_t i)
{
	struct tagged_entry *entry = (struct tagged_entry *)name_set_find(
		set, model->names[i], model->lens[i]);
	if (!model->present[i]) {
		assert_null(entry);
		return;
	}
	assert_non_null(entry);
	assert_ptr_equal(entry->head.name, model->names[i]);
	assert_int_equal(entry->head.len, model->lens[i]);
	assert_true(entry->tag == model->tags[i]);
}

/* Every name as the model says, and iteration visits each present one once. */
static void check_all(const struct name_set *set, const struct model *model)
{
	assert_int_equal(set->count, model->count);
	for (size_t i = 0; i < model->pool; i++)
		check_one(set, model, i);
	size_t visited = 0;
	size_t cursor = 0;
	for (struct name_entry *entry = name_set_next(set, &cursor); entry;
	     entry = name_set_next(set, &cursor)) {
		size_t i = (size_t)(entry->name - model->names[0]) / NAME_MAX_LEN;
		assert_true(i < model->pool && model->present[i]);
		visited++;
	}
	assert_int_equal(visited, model->count);
}

static void step_insert(struct name_set *set, struct model *model, size_t i)
{
	struct name_entry *head = NULL;
	int added = name_set_insert(set, model->names[i], model->lens[i], &head);
	assert_int_equal(added, model->present[i] ? 0 : 1);
	struct tagged_entry *entry = (struct tagged_entry *)head;
	assert_non_null(entry);
	if (added) {
		assert_true(entry->tag == 0);
		entry->tag = rng_next();
		model->tags[i] = entry->tag;
		model->present[i] = true;
		model->count++;
	}
}

static void step_remove(struct name_set *set, struct model *model, size_t i)
{
	assert_int_equal(name_set_remove(set, model->names[i], model->lens[i]),
			 model->present[i]);
	if (model->present[i]) {
		model->present[i] = false;
		model->count--;
	}
}

/* steps random operations on names of a pool of pool. */
static void run_history(uint64_t seed, size_t pool, size_t steps,
			unsigned insert_percent)
{
	rng_state = seed;
	struct model *model = malloc(sizeof(*model));
	assert_non_null(model);
	make_pool(model, pool);
	struct name_set set;
	name_set_init_entries(&set, sizeof(struct tagged_entry));
	for (size_t step = 0; step < steps; step++) {
		size_t i = rng_below(pool);
		if (rng_below(100) < insert_percent)
			step_insert(&set, model, i);
		else
			step_remove(&set, model, i);
		check_one(&set, model, rng_below(pool));
		if (step % 97 == 0)
			check_all(&set, model);
	}
	check_all(&set, model);
	name_set_free(&set);
	assert_int_equal(set.count, 0);
	assert_null(name_set_find(&set, model->names[0], model->lens[0]));
	free(model);
}

static void test_random_histories(void **unused)
{
	(void)unused;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		run_history(seed * 0x9e3779b97f4a7c15ULL, 8 + seed * 25, 5000,
			    seed % 2 ? 60 : 75);
	}
}

/* Grow to many names, then remove all but a few: shrinking never breaks
   a probe run. */
static void test_fill_then_drain(void **unused)
{
	(void)unused;
	rng_state = 42;
	struct model *model = malloc(sizeof(*model));
	assert_non_null(model);
	make_pool(model, POOL_MAX);
	struct name_set set;
	name_set_init_entries(&set, sizeof(struct tagged_entry));
	for (size_t i = 0; i < POOL_MAX; i++)
		step_insert(&set, model, i);
	check_all(&set, model);
	for (size_t i = 0; i + 5 < POOL_MAX; i++) {
		step_remove(&set, model, (i * 7) % POOL_MAX);
		if (i % 50 == 0)
			check_all(&set, model);
	}
	check_all(&set, model);
	name_set_free(&set);
	free(model);
}

/* A zeroed set, as a struct cleared whole holds it, is an empty set of
   bare names. */
static void test_zeroed_set(void **unused)
{
	(void)unused;
	struct name_set set;
	memset(&set, 0, sizeof(set));
	assert_false(name_set_contains(&set, "INBOX"));
	assert_false(name_set_remove(&set, "INBOX", 5));
	size_t cursor = 0;
	assert_null(name_set_next(&set, &cursor));
	for (int round = 0; round < 2; round++) {
		assert_int_equal(name_set_add(&set, "INBOX"), 1);
		assert_int_equal(name_set_add(&set, "Archive"), 1);
		assert_int_equal(name_set_add(&set, "INBOX"), 0);
		assert_true(name_set_contains(&set, "Archive"));
		assert_int_equal(set.count, 2);
		name_set_free(&set);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_histories),
		cmocka_unit_test(test_fill_then_drain),
		cmocka_unit_test(test_zeroed_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
