/*
 * test_flag_merge.c - the three-way flag merge against its rule table
 * (flag_merge.h): every combination of base, local and server for every
 * flag at once, then generated inputs with bits no flag names, and the
 * properties that keep runs from flip-flopping: a second merge after the
 * push finds nothing to do, and a first sight unites both sides.  With
 * push_deletions, \Deleted by the same table, and a file gone locally.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "flag_merge.h"

/* The table of flag_merge.h, row by row, written out independently of
   the code: for (base, local, server), the result and the action. */
enum action { NONE, PUSH_ADD, PUSH_REMOVE, MIRROR };

struct rule {
	int base, local, server;
	int result;
	enum action action;
};

static const struct rule rules[] = {
	{ 0, 0, 0, 0, NONE },   { 0, 1, 0, 1, PUSH_ADD },
	{ 0, 0, 1, 1, MIRROR }, { 0, 1, 1, 1, NONE },
	{ 1, 1, 1, 1, NONE },   { 1, 0, 1, 0, PUSH_REMOVE },
	{ 1, 1, 0, 0, MIRROR }, { 1, 0, 0, 0, NONE },
};

static const uint32_t merged_flags[] = {
	SINK_FLAG_SEEN, SINK_FLAG_ANSWERED, SINK_FLAG_FLAGGED, SINK_FLAG_DRAFT,
};

#define FLAG_COUNT (sizeof(merged_flags) / sizeof(merged_flags[0]))

static const struct rule *rule_for(int base, int local, int server)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].base == base && rules[i].local == local &&
		    rules[i].server == server)
			return &rules[i];
	fail_msg("no rule for %d %d %d", base, local, server);
	return NULL;
}

static int bit(uint32_t flags, uint32_t flag)
{
	return (flags & flag) != 0;
}

/* One flag of a merge against its row of the table. */
static void check_flag(uint32_t flag, uint32_t base, uint32_t local,
		       uint32_t server, const struct flag_merge *merge)
{
	const struct rule *rule =
		rule_for(bit(base, flag), bit(local, flag), bit(server, flag));
	assert_int_equal(bit(merge->base, flag), rule->result);
	assert_int_equal(bit(merge->local, flag), rule->result);
	assert_int_equal(bit(merge->push_add, flag), rule->action == PUSH_ADD);
	assert_int_equal(bit(merge->push_remove, flag),
			 rule->action == PUSH_REMOVE);
	int local_moves = bit(local, flag) != rule->result;
	assert_int_equal(local_moves, rule->action == MIRROR && rule->local != rule->result);
}

/* The server's flags once the merge's push is done. */
static uint32_t server_after(uint32_t server, const struct flag_merge *merge)
{
	return (server | merge->push_add) & ~merge->push_remove;
}

/* Everything a merge of (base, local, server) must satisfy. */
static void check_merge(uint32_t base, uint32_t local, uint32_t server)
{
	struct flag_merge merge = flag_merge(base, local, server);
	for (size_t i = 0; i < FLAG_COUNT; i++)
		check_flag(merged_flags[i], base, local, server, &merge);
	/* \Deleted follows the server and is never pushed. */
	assert_int_equal(bit(merge.local, SINK_FLAG_DELETED),
			 bit(server, SINK_FLAG_DELETED));
	assert_int_equal((merge.push_add | merge.push_remove) & ~FLAG_MERGE_PUSHED, 0);
	assert_int_equal(merge.base & ~FLAG_MERGE_PUSHED, 0);
	assert_int_equal(merge.local & ~(uint32_t)SINK_FLAGS_ALL, 0);
	assert_int_equal(merge.push_add & merge.push_remove, 0);
	/* Once carried out, both sides agree with the new base... */
	uint32_t server_now = server_after(server, &merge);
	assert_int_equal(server_now & FLAG_MERGE_PUSHED, merge.base);
	/* ...and the next run has nothing to do: no flip-flop. */
	struct flag_merge again = flag_merge(merge.base, merge.local, server_now);
	assert_int_equal(again.push_add, 0);
	assert_int_equal(again.push_remove, 0);
	assert_int_equal(again.base, merge.base);
	assert_int_equal(again.local, merge.local);
}

static void test_every_combination(void **unused)
{
	(void)unused;
	for (uint32_t base = 0; base <= SINK_FLAGS_ALL; base++)
		for (uint32_t local = 0; local <= SINK_FLAGS_ALL; local++)
			for (uint32_t server = 0; server <= SINK_FLAGS_ALL; server++)
				check_merge(base, local, server);
}

static uint64_t rng_state;

static uint32_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

/* Bits no flag names (a caller's stray bits) change nothing. */
static void test_generated_with_stray_bits(void **unused)
{
	(void)unused;
	const char *seed_text = getenv("YUBIN_TEST_SEED");
	rng_state = seed_text ? strtoull(seed_text, NULL, 0) : 0x9e3779b97f4a7c15ULL;
	if (rng_state == 0)
		rng_state = 1;
	print_message("seed %llu\n", (unsigned long long)rng_state);
	for (int i = 0; i < 100000; i++) {
		uint32_t base = rng_next(), local = rng_next(), server = rng_next();
		struct flag_merge merge = flag_merge(base, local, server);
		struct flag_merge clean =
			flag_merge(base & SINK_FLAGS_ALL, local & SINK_FLAGS_ALL,
				   server & SINK_FLAGS_ALL);
		assert_memory_equal(&merge, &clean, sizeof(merge));
		check_merge(base & SINK_FLAGS_ALL, local & SINK_FLAGS_ALL,
			    server & SINK_FLAGS_ALL);
	}
}

/*
 * A run killed after recording a push (stored: with its STORE done or
 * not), the Maildir letters then later_local: the run after it merges
 * from the resumed base and must end as expected, the result of the
 * uninterrupted history.
 */
static void check_resume(uint32_t base, uint32_t local, uint32_t server,
			 uint32_t later_local, bool stored,
			 const struct flag_merge *expected)
{
	struct flag_merge push = flag_merge(base, local, server);
	uint32_t server_now = stored ? server_after(server, &push) : server;
	uint32_t resumed = flag_merge_resume_base(base, push.push_add,
						  push.push_remove, server_now);
	struct flag_merge after = flag_merge(resumed, later_local, server_now);
	assert_int_equal(after.base, expected->base);
	assert_int_equal(after.local & FLAG_MERGE_PUSHED,
			 expected->local & FLAG_MERGE_PUSHED);
	/* The server ends as the expected base says, after the resumed
	   run's own push. */
	assert_int_equal(server_after(server_now, &after) & FLAG_MERGE_PUSHED,
			 expected->base);
}

/* The histories of one kill: before or after the STORE, before or after
   the local rename, and a reader's later change to any flag the server
   did not change (one the server changed is being mirrored: see
   flag_merge.h). */
static void check_kills(uint32_t base, uint32_t local, uint32_t server)
{
	struct flag_merge push = flag_merge(base, local, server);
	uint32_t server_changed = (server ^ base) & FLAG_MERGE_PUSHED;
	/* Killed before the local rename: the run after it does it all. */
	check_resume(base, local, server, local, false, &push);
	check_resume(base, local, server, local, true, &push);
	for (uint32_t toggles = 0; toggles <= FLAG_MERGE_PUSHED; toggles++) {
		if ((toggles & ~FLAG_MERGE_PUSHED) || (toggles & server_changed))
			continue;
		/* After the rename, and a reader's change since. */
		uint32_t later = push.local ^ toggles;
		struct flag_merge expected =
			flag_merge(push.base, later, server_after(server, &push));
		check_resume(base, local, server, later, false, &expected);
		check_resume(base, local, server, later, true, &expected);
	}
}

static void test_resume_after_kill(void **unused)
{
	(void)unused;
	for (uint32_t base = 0; base <= FLAG_MERGE_PUSHED; base++)
		for (uint32_t local = 0; local <= FLAG_MERGE_PUSHED; local++)
			for (uint32_t server = 0; server <= FLAG_MERGE_PUSHED; server++)
				check_kills(base, local, server);
}

/*
 * push_deletions: \Deleted (T) merged like the others, by the same
 * table; a run killed with the push recorded, its STORE done or not,
 * ends as the uninterrupted one; and a file gone locally always asks
 * the server for \Deleted, once.
 */
static void test_deletions_merged(void **unused)
{
	(void)unused;
	static const uint32_t with_deleted[] = {
		SINK_FLAG_SEEN, SINK_FLAG_ANSWERED, SINK_FLAG_FLAGGED,
		SINK_FLAG_DRAFT, SINK_FLAG_DELETED,
	};
	const uint32_t pushed = FLAG_MERGE_DELETIONS;
	for (uint32_t base = 0; base <= SINK_FLAGS_ALL; base++)
		for (uint32_t local = 0; local <= SINK_FLAGS_ALL; local++)
			for (uint32_t server = 0; server <= SINK_FLAGS_ALL; server++) {
				struct flag_merge merge =
					flag_merge_with(pushed, base, local, server);
				for (size_t i = 0; i < 5; i++)
					check_flag(with_deleted[i], base, local, server, &merge);
				uint32_t server_now = server_after(server, &merge);
				assert_int_equal(server_now & pushed, merge.base);
				struct flag_merge again =
					flag_merge_with(pushed, merge.base, merge.local, server_now);
				assert_int_equal(again.push_add | again.push_remove, 0);
				for (int stored = 0; stored <= 1; stored++) {
					uint32_t seen = stored ? server_now : server;
					uint32_t resumed = flag_merge_resume_base_with(
						pushed, base, merge.push_add,
						merge.push_remove, seen);
					struct flag_merge after =
						flag_merge_with(pushed, resumed, local, seen);
					assert_int_equal(after.base, merge.base);
					assert_int_equal(server_after(seen, &after) & pushed,
							 merge.base);
				}
			}
	for (uint32_t server = 0; server <= SINK_FLAGS_ALL; server++) {
		struct flag_merge gone = flag_merge_removed(server);
		assert_int_equal(gone.push_add, SINK_FLAG_DELETED & ~server);
		assert_int_equal(gone.push_remove, 0);
		uint32_t server_now = server_after(server, &gone);
		assert_int_equal(gone.base, server_now & pushed);
		assert_int_equal(flag_merge_removed(server_now).push_add, 0);
		/* Killed after the STORE: the resumed base holds it. */
		if (gone.push_add)
				assert_true(flag_merge_resume_base_with(pushed, 0, gone.push_add,
								0, server_now) &
				    SINK_FLAG_DELETED);
	}
}

/* A few rows spelled out, as a reader of the man page would check. */
static void test_examples(void **unused)
{
	(void)unused;
	/* Read locally, flagged on the phone: both end up seen and flagged. */
	struct flag_merge merge =
		flag_merge(0, SINK_FLAG_SEEN, SINK_FLAG_FLAGGED);
	assert_int_equal(merge.base, SINK_FLAG_SEEN | SINK_FLAG_FLAGGED);
	assert_int_equal(merge.push_add, SINK_FLAG_SEEN);
	assert_int_equal(merge.push_remove, 0);
	/* Marked unread locally while the server only kept it seen. */
	merge = flag_merge(SINK_FLAG_SEEN, 0, SINK_FLAG_SEEN | SINK_FLAG_DELETED);
	assert_int_equal(merge.base, 0);
	assert_int_equal(merge.local, SINK_FLAG_DELETED);
	assert_int_equal(merge.push_remove, SINK_FLAG_SEEN);
	assert_int_equal(merge.push_add, 0);
	/* A local T is never pushed, and the server's lack of it wins. */
	merge = flag_merge(0, SINK_FLAG_DELETED, 0);
	assert_int_equal(merge.local, 0);
	assert_int_equal(merge.push_add, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_combination),
		cmocka_unit_test(test_generated_with_stray_bits),
		cmocka_unit_test(test_resume_after_kill),
		cmocka_unit_test(test_deletions_merged),
		cmocka_unit_test(test_examples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
