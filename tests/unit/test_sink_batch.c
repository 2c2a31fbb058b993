/*
 * test_sink_batch.c - the pending batch every sink keeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "sink_batch.h"

#define MSGS 5

/* The batch being dropped from, for drop_one (sink_batch_drop's callback). */
static struct sink_batch *dropping;
static int drops;

static void drop_one(struct batch_msg *msg)
{
	sink_batch_remove(dropping, msg);
	drops++;
}

/* The states of the batch's messages, oldest first, as letters. */
static void states_of(const struct sink_batch *batch, char *out)
{
	size_t n = 0;
	for (const struct batch_msg *m = batch->head; m; m = m->next)
		out[n++] = (char)('W' + m->state);
	out[n] = '\0';
}

/* The list reads the same both ways. */
static void check_links(const struct sink_batch *batch)
{
	const struct batch_msg *last = NULL;
	for (const struct batch_msg *m = batch->head; m; m = m->next) {
		assert_ptr_equal(m->prev, last);
		last = m;
	}
	assert_ptr_equal(batch->tail, last);
}

static void fill(struct sink_batch *batch, struct batch_msg msgs[MSGS])
{
	*batch = (struct sink_batch){ 0 };
	for (int i = 0; i < MSGS; i++) {
		msgs[i] = (struct batch_msg){ .state = MSG_WRITING };
		sink_batch_add(batch, &msgs[i]);
		check_links(batch);
	}
}

static void test_add_keeps_order(void **unused)
{
	(void)unused;
	struct sink_batch batch;
	struct batch_msg msgs[MSGS];
	fill(&batch, msgs);
	int i = 0;
	for (struct batch_msg *m = batch.head; m; m = m->next)
		assert_ptr_equal(m, &msgs[i++]);
	assert_int_equal(i, MSGS);
}

static void test_remove_anywhere(void **unused)
{
	(void)unused;
	/* First, middle, last, then the rest. */
	static const int order[MSGS] = { 0, 2, 4, 1, 3 };
	struct sink_batch batch;
	struct batch_msg msgs[MSGS];
	fill(&batch, msgs);
	for (int i = 0; i < MSGS; i++) {
		sink_batch_remove(&batch, &msgs[order[i]]);
		assert_null(msgs[order[i]].prev);
		assert_null(msgs[order[i]].next);
		check_links(&batch);
	}
	assert_null(batch.head);
	assert_null(batch.tail);
}

static void test_has(void **unused)
{
	(void)unused;
	struct sink_batch batch;
	struct batch_msg msgs[MSGS];
	fill(&batch, msgs);
	assert_true(sink_batch_has(&batch, MSG_WRITING));
	assert_false(sink_batch_has(&batch, MSG_ENDED));
	msgs[3].state = MSG_ENDED;
	assert_true(sink_batch_has(&batch, MSG_ENDED));
	assert_false(sink_batch_has(&batch, MSG_DONE));
	struct sink_batch empty = { 0 };
	assert_false(sink_batch_has(&empty, MSG_WRITING));
}

/* Every mask of states over every mix of states drops exactly those. */
static void test_drop_by_state(void **unused)
{
	(void)unused;
	for (unsigned mix = 0; mix < 4u * 4 * 4 * 4 * 4; mix++) {
		for (unsigned mask = 0; mask < 16; mask++) {
			struct sink_batch batch;
			struct batch_msg msgs[MSGS];
			fill(&batch, msgs);
			char kept[MSGS + 1];
			size_t kept_len = 0;
			int expected_drops = 0;
			unsigned m = mix;
			for (int i = 0; i < MSGS; i++, m /= 4) {
				msgs[i].state = (enum batch_state)(m % 4);
				if (mask & 1u << msgs[i].state)
					expected_drops++;
				else
					kept[kept_len++] =
						(char)('W' + msgs[i].state);
			}
			kept[kept_len] = '\0';
			dropping = &batch;
			drops = 0;
			sink_batch_drop(&batch, mask, drop_one);
			assert_int_equal(drops, expected_drops);
			char left[MSGS + 1];
			states_of(&batch, left);
			assert_string_equal(left, kept);
			check_links(&batch);
		}
	}
}

static void test_drop_masks(void **unused)
{
	(void)unused;
	struct sink_batch batch;
	struct batch_msg msgs[MSGS];
	fill(&batch, msgs);
	msgs[1].state = MSG_ENDED;
	msgs[2].state = MSG_PREPARED;
	msgs[3].state = MSG_DONE;
	dropping = &batch;
	drops = 0;
	sink_batch_drop(&batch, BATCH_PAST_WRITING, drop_one);
	assert_int_equal(drops, 3);
	assert_ptr_equal(batch.head, &msgs[0]);
	assert_ptr_equal(batch.tail, &msgs[4]);
	sink_batch_drop(&batch, BATCH_ALL, drop_one);
	assert_int_equal(drops, 5);
	assert_null(batch.head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_keeps_order),
		cmocka_unit_test(test_remove_anywhere),
		cmocka_unit_test(test_has),
		cmocka_unit_test(test_drop_by_state),
		cmocka_unit_test(test_drop_masks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
