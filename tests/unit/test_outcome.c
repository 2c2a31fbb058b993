/*
 * test_outcome.c - an account's outcome kept small and read back whole:
 * status, message and every figure of the report, the folders it names
 * and nothing past them, for any number of folders (none, some, all the
 * report has room for, more than that); a message kept only for a
 * failure; keeping again replaces; and what is kept costs the folders
 * named, not the report's room (outcomes_kept_bytes).
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

#include "outcome.h"
#include "xorshift.h"

static uint64_t rng = 0x0c0ffee5eedULL;

static uint64_t next(void)
{
	return xorshift_next(&rng);
}

/* An outcome with folder_count folders (the first FETCH_FOLDERS_SHOWN
   named and counted) and every other figure from the generator. */
static void make(struct outcome *o, enum yb_status status,
		 size_t folder_count)
{
	memset(o, 0, sizeof(*o));
	o->status = status;
	snprintf(o->message, sizeof(o->message), "account a%llu: failed",
		 (unsigned long long)(next() % 1000));
	struct fetch_report *r = &o->report;
	r->on_server = next() % 100000;
	r->new_messages = next() % 1000;
	r->fetched = next() % 1000;
	r->fetched_bytes = next();
	r->too_large = next() % 5;
	r->refused = next() % 5;
	r->deleted = next() % 50;
	r->recovered = next() % 3;
	r->folders_skipped = next() % (FETCH_SKIPPED_SHOWN + 3);
	for (size_t i = 0; i < r->folders_skipped && i < FETCH_SKIPPED_SHOWN; i++)
		snprintf(r->skipped_folders[i], sizeof(r->skipped_folders[i]),
			 "skipped/%zu", i);
	for (size_t i = 0; i < folder_count; i++) {
		char name[64];
		snprintf(name, sizeof(name), "folder/%zu/%llu", i,
			 (unsigned long long)(next() % 99));
		struct fetch_folder_report *f = fetch_report_add_folder(r, name);
		if (!f)
			continue;
		f->fetched = next() % 100;
		f->bytes = next();
	}
}

/* What a reader of o may look at is the same in got. */
static void assert_same(const struct outcome *want, const struct outcome *got)
{
	assert_int_equal(got->status, want->status);
	if (want->status != YB_OK)
		assert_string_equal(got->message, want->message);
	else
		assert_string_equal(got->message, "");
	const struct fetch_report *w = &want->report, *g = &got->report;
	assert_memory_equal(g, w, offsetof(struct fetch_report, folders));
	size_t shown = w->folder_count < FETCH_FOLDERS_SHOWN ? w->folder_count
							     : FETCH_FOLDERS_SHOWN;
	assert_memory_equal(g->folders, w->folders, shown * sizeof(w->folders[0]));
	/* Past the folders named: nothing, never an earlier account's. */
	for (size_t i = shown; i < FETCH_FOLDERS_SHOWN; i++) {
		assert_string_equal(g->folders[i].name, "");
		assert_int_equal(g->folders[i].fetched, 0);
	}
}

static void test_round_trip_any_folder_count(void **state)
{
	(void)state;
	static const size_t counts[] = { 0, 1, 2, 7, FETCH_FOLDERS_SHOWN - 1,
					 FETCH_FOLDERS_SHOWN,
					 FETCH_FOLDERS_SHOWN + 1, 500 };
	size_t n = sizeof(counts) / sizeof(counts[0]);
	struct outcomes *all = outcomes_new(n * 2);
	assert_non_null(all);
	struct outcome *want = calloc(n * 2, sizeof(*want));
	assert_non_null(want);
	/* Kept in one order with big and small neighbours, read in another. */
	for (size_t i = 0; i < n * 2; i++) {
		enum yb_status status = i % 3 ? YB_OK : YB_ERR_PROTOCOL;
		make(&want[i], status, counts[(i * 5) % n]);
		struct outcome *scratch = outcomes_scratch(all);
		memcpy(scratch, &want[i], sizeof(*scratch));
		outcomes_keep(all, i, scratch);
	}
	for (size_t k = n * 2; k-- > 0;) {
		assert_int_equal(outcomes_status(all, k), want[k].status);
		assert_same(&want[k], outcomes_get(all, k));
	}
	free(want);
	outcomes_free(all);
}

static void test_keep_again_replaces(void **state)
{
	(void)state;
	struct outcomes *all = outcomes_new(1);
	assert_non_null(all);
	struct outcome first, second;
	make(&first, YB_ERR_TEMP, 300);
	make(&second, YB_OK, 1);
	outcomes_keep(all, 0, &first);
	outcomes_keep(all, 0, &second);
	assert_int_equal(outcomes_status(all, 0), YB_OK);
	assert_same(&second, outcomes_get(all, 0));
	outcomes_free(all);
}

static void test_never_kept_is_empty_ok(void **state)
{
	(void)state;
	struct outcomes *all = outcomes_new(3);
	assert_non_null(all);
	struct outcome none;
	memset(&none, 0, sizeof(none));
	assert_int_equal(outcomes_status(all, 2), YB_OK);
	assert_same(&none, outcomes_get(all, 2));
	outcomes_free(all);
	/* No account at all is a valid run. */
	all = outcomes_new(0);
	assert_non_null(all);
	outcomes_free(all);
}

/* What is kept is the report's head and the folders it names, and a
   failure's message: about 2.3 KB an account here, not 38 KB. */
static void test_kept_costs_the_folders_named(void **state)
{
	(void)state;
	size_t accounts = 10000, want = 0;
	struct outcomes *all = outcomes_new(accounts);
	assert_non_null(all);
	for (size_t i = 0; i < accounts; i++) {
		struct outcome *o = outcomes_scratch(all);
		make(o, i % 10 ? YB_OK : YB_ERR_AUTH, i % 2);
		want += offsetof(struct fetch_report, folders) +
			(i % 2) * sizeof(struct fetch_folder_report);
		if (i % 10 == 0)
			want += strlen(o->message) + 1;
		outcomes_keep(all, i, o);
	}
	assert_int_equal(outcomes_kept_bytes(all), want);
	assert_true(want / accounts < sizeof(struct outcome) / 8);
	for (size_t i = 0; i < accounts; i += 997)
		assert_int_equal(outcomes_get(all, i)->report.folder_count, i % 2);
	outcomes_free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_any_folder_count),
		cmocka_unit_test(test_keep_again_replaces),
		cmocka_unit_test(test_never_kept_is_empty_ok),
		cmocka_unit_test(test_kept_costs_the_folders_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
