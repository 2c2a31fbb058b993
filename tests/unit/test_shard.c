/*
 * test_shard.c - --shard: the hash against published FNV-1a 64 vectors
 * and fixed placements (a change of either moves accounts between shards
 * on upgrade), every account in exactly one shard with roughly even
 * shares, and every hostile K/N or job runner variable refused by name.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "assert_error.h"
#include "shard.h"

/* ---- the hash ----------------------------------------------------------- */

/* FNV-1a 64 as its authors publish it, then the fold shard.h writes down. */
static uint64_t folded(uint64_t fnv1a)
{
	return fnv1a ^ (fnv1a >> 32);
}

static void test_hash_published_vectors(void **state)
{
	(void)state;
	assert_true(shard_hash("") == folded(0xcbf29ce484222325ull));
	assert_true(shard_hash("a") == folded(0xaf63dc4c8601ec8cull));
	assert_true(shard_hash("foobar") == folded(0x85944171f73967e8ull));
}

/* Where some names land: written down once, never to change. */
static void test_fixed_placements(void **state)
{
	(void)state;
	static const struct { const char *name; uint32_t count, index; } placed[] = {
		{ "work", 3, 2 }, { "work", 7, 4 }, { "work", 16, 6 },
		{ "Work", 3, 0 }, { "Work", 16, 2 },
		{ "alice", 3, 1 }, { "alice", 16, 12 },
		{ "bob", 2, 1 }, { "bob", 16, 13 },
		{ "carol", 7, 5 }, { "demo", 7, 6 },
		{ "acct-000", 3, 2 }, { "acct-000", 7, 3 },
	};
	for (size_t i = 0; i < sizeof(placed) / sizeof(placed[0]); i++) {
		for (uint32_t k = 0; k < placed[i].count; k++) {
			struct shard shard = { k, placed[i].count, "test" };
			assert_int_equal(shard_holds(&shard, placed[i].name),
					 k == placed[i].index);
		}
	}
}

#define NAMES 600

/* Names as people give them: a prefix, a number, sometimes a domain. */
static void generated_name(size_t i, char *out, size_t size)
{
	static const char *const prefixes[] = { "acct-", "user.", "mail_", "x" };
	static const char *const suffixes[] = { "", ".example.com", "-work", "" };
	snprintf(out, size, "%s%zu%s", prefixes[i % 4], i, suffixes[(i / 4) % 4]);
}

static void check_partition(uint32_t count)
{
	size_t shares[16] = { 0 };
	char name[64];
	for (size_t i = 0; i < NAMES; i++) {
		generated_name(i, name, sizeof(name));
		size_t holders = 0;
		for (uint32_t k = 0; k < count; k++) {
			struct shard shard = { k, count, "test" };
			if (shard_holds(&shard, name)) {
				holders++;
				shares[k]++;
			}
		}
		assert_int_equal(holders, 1);
	}
	/* Roughly even: each share within half of the mean either way. */
	size_t mean = NAMES / count;
	for (uint32_t k = 0; k < count; k++) {
		if (shares[k] < mean / 2 || shares[k] > mean + mean / 2)
			fail_msg("N=%u: shard %u holds %zu of %d names (mean %zu)",
				 (unsigned)count, (unsigned)k, shares[k], NAMES, mean);
	}
}

static void test_every_name_in_one_shard(void **state)
{
	(void)state;
	static const uint32_t counts[] = { 1, 2, 3, 7, 16 };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		check_partition(counts[i]);
}

static void test_no_shard_holds_all(void **state)
{
	(void)state;
	struct shard none = { 0, 0, NULL };
	assert_true(shard_holds(&none, "work"));
	assert_true(shard_holds(&none, ""));
}

static void test_select_keeps_order(void **state)
{
	(void)state;
	struct account accounts[5] = {
		{ .name = "work" }, { .name = "alice" }, { .name = "bob" },
		{ .name = "carol" }, { .name = "demo" },
	};
	const struct account *list[5];
	for (size_t i = 0; i < 5; i++)
		list[i] = &accounts[i];
	/* N = 7: work 4, alice 0, bob 0, carol 5, demo 6. */
	struct shard shard = { 0, 7, "test" };
	assert_int_equal(shard_select(&shard, list, 5), 2);
	assert_ptr_equal(list[0], &accounts[1]);
	assert_ptr_equal(list[1], &accounts[2]);
	struct shard empty = { 1, 7, "test" };
	assert_int_equal(shard_select(&empty, list, 2), 0);
}

/* ---- K/N on the command line -------------------------------------------- */

static const char *no_environment(const char *name)
{
	(void)name;
	return NULL;
}

static void test_parse_k_of_n(void **state)
{
	(void)state;
	struct shard shard;
	struct yb_error err;
	assert_ok(shard_parse("0/1", no_environment, &shard, &err), &err);
	assert_int_equal(shard.index, 0);
	assert_int_equal(shard.count, 1);
	assert_string_equal(shard.from, "command-line");
	assert_ok(shard_parse("2/3", no_environment, &shard, &err), &err);
	assert_int_equal(shard.index, 2);
	assert_int_equal(shard.count, 3);
	assert_ok(shard_parse("3999999/4000000", no_environment, &shard, &err), &err);
	assert_int_equal(shard.index, 3999999);
	assert_int_equal(shard.count, 4000000);
}

static void test_parse_k_of_n_hostile(void **state)
{
	(void)state;
	static const struct { const char *arg; const char *says; } bad[] = {
		{ "3/3", "does not exist among 3" },
		{ "7/3", "does not exist among 3" },
		{ "0/0", "count is 0" },
		{ "1", "is not K/N" },
		{ "", "is not K/N" },
		{ "-1/3", "'-1' is not a whole number" },
		{ "+1/3", "'+1' is not a whole number" },
		{ " 1/3", "' 1' is not a whole number" },
		{ "1/3 ", "'3 ' is not a whole number" },
		{ "1/", "'' is not a whole number" },
		{ "/3", "'' is not a whole number" },
		{ "1/3/4", "'3/4' is not a whole number" },
		{ "a/b", "'a' is not a whole number" },
		{ "0x1/3", "'0x1' is not a whole number" },
		{ "1/99999999999999999999999", "from 0 to 4000000" },
		{ "18446744073709551617/3", "from 0 to 4000000" },
		{ "0/4000001", "'4000001' is not a whole number" },
		{ "1/3\n", "'3\\x0a' is not a whole number" },
		{ "AUTO", "is not K/N" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct shard shard = { 9, 9, "junk" };
		struct yb_error err;
		int rc = shard_parse(bad[i].arg, no_environment, &shard, &err);
		if (rc != YB_ERR_USAGE || !strstr(err.msg, bad[i].says))
			fail_msg("--shard '%s': status %d, '%s' (wanted '%s')", bad[i].arg,
				 rc, rc ? err.msg : "", bad[i].says);
		assert_true(strstr(err.msg, "--shard") != NULL);
		assert_int_equal(shard.count, 0);
	}
}

/* ---- auto: the environment of a job runner ------------------------------ */

/* The environment a test sets: NAME=VALUE strings, NULL-terminated. */
static const char *const *fake_environment;

static const char *fake_getenv(const char *name)
{
	size_t len = strlen(name);
	for (const char *const *var = fake_environment; *var; var++)
		if (strncmp(*var, name, len) == 0 && (*var)[len] == '=')
			return *var + len + 1;
	return NULL;
}

static int parse_auto_with(const char *const *environment, struct shard *shard,
			   struct yb_error *err)
{
	fake_environment = environment;
	return shard_parse("auto", fake_getenv, shard, err);
}

static void expect_auto(const char *const *environment, uint32_t index, uint32_t count,
			const char *from)
{
	struct shard shard;
	struct yb_error err;
	assert_ok(parse_auto_with(environment, &shard, &err), &err);
	assert_int_equal(shard.index, index);
	assert_int_equal(shard.count, count);
	assert_string_equal(shard.from, from);
}

static void expect_auto_fails(const char *const *environment, const char *says)
{
	struct shard shard;
	struct yb_error err;
	assert_fails(parse_auto_with(environment, &shard, &err), &err, YB_ERR_USAGE, says);
	assert_int_equal(shard.count, 0);
}

static void test_auto_kubernetes(void **state)
{
	(void)state;
	expect_auto((const char *const[]){ "JOB_COMPLETION_INDEX=2", "YUBIN_SHARD_COUNT=3",
					   NULL }, 2, 3, "kubernetes");
	expect_auto((const char *const[]){ "JOB_COMPLETION_INDEX=0", "YUBIN_SHARD_COUNT=1",
					   NULL }, 0, 1, "kubernetes");
	expect_auto_fails((const char *const[]){ "JOB_COMPLETION_INDEX=2", NULL },
			  "YUBIN_SHARD_COUNT is not set");
	expect_auto_fails((const char *const[]){ "JOB_COMPLETION_INDEX=3",
						 "YUBIN_SHARD_COUNT=3", NULL },
			  "shard 3 does not exist among 3");
	expect_auto_fails((const char *const[]){ "JOB_COMPLETION_INDEX=0",
						 "YUBIN_SHARD_COUNT=0", NULL },
			  "count is 0");
	expect_auto_fails((const char *const[]){ "JOB_COMPLETION_INDEX=",
						 "YUBIN_SHARD_COUNT=3", NULL },
			  "JOB_COMPLETION_INDEX: '' is not a whole number");
	expect_auto_fails((const char *const[]){ "JOB_COMPLETION_INDEX=1",
						 "YUBIN_SHARD_COUNT=three", NULL },
			  "YUBIN_SHARD_COUNT: 'three' is not a whole number");
	expect_auto_fails((const char *const[]){ "JOB_COMPLETION_INDEX=1",
						 "YUBIN_SHARD_COUNT=4294967299", NULL },
			  "YUBIN_SHARD_COUNT: '4294967299' is not a whole number");
	expect_auto_fails((const char *const[]){ "JOB_COMPLETION_INDEX=-1",
						 "YUBIN_SHARD_COUNT=3", NULL },
			  "JOB_COMPLETION_INDEX: '-1'");
}

static void test_auto_slurm(void **state)
{
	(void)state;
	/* --array=0-2 */
	expect_auto((const char *const[]){ "SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_MIN=0",
					   "SLURM_ARRAY_TASK_MAX=2",
					   "SLURM_ARRAY_TASK_COUNT=3", NULL }, 1, 3, "slurm");
	/* --array=5-7: task 5 is shard 0 */
	expect_auto((const char *const[]){ "SLURM_ARRAY_TASK_ID=5", "SLURM_ARRAY_TASK_MIN=5",
					   "SLURM_ARRAY_TASK_MAX=7",
					   "SLURM_ARRAY_TASK_COUNT=3", NULL }, 0, 3, "slurm");
	/* --array=1-9:4 (1, 5, 9) */
	expect_auto((const char *const[]){ "SLURM_ARRAY_TASK_ID=9", "SLURM_ARRAY_TASK_MIN=1",
					   "SLURM_ARRAY_TASK_MAX=9", "SLURM_ARRAY_TASK_STEP=4",
					   "SLURM_ARRAY_TASK_COUNT=3", NULL }, 2, 3, "slurm");
	/* No MAX: trusted as a plain range */
	expect_auto((const char *const[]){ "SLURM_ARRAY_TASK_ID=12", "SLURM_ARRAY_TASK_MIN=10",
					   "SLURM_ARRAY_TASK_COUNT=4", NULL }, 2, 4, "slurm");
}

static void test_auto_slurm_hostile(void **state)
{
	(void)state;
	expect_auto_fails((const char *const[]){ "SLURM_ARRAY_TASK_ID=1",
						 "SLURM_ARRAY_TASK_COUNT=3", NULL },
			  "SLURM_ARRAY_TASK_MIN is not set");
	expect_auto_fails((const char *const[]){ "SLURM_ARRAY_TASK_ID=1",
						 "SLURM_ARRAY_TASK_MIN=0", NULL },
			  "SLURM_ARRAY_TASK_COUNT is not set");
	/* --array=1,5,7: three tasks, not a range */
	expect_auto_fails((const char *const[]){ "SLURM_ARRAY_TASK_ID=5",
						 "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_MAX=7",
						 "SLURM_ARRAY_TASK_COUNT=3", NULL },
			  "does not hold exactly SLURM_ARRAY_TASK_COUNT=3");
	expect_auto_fails((const char *const[]){ "SLURM_ARRAY_TASK_ID=4",
						 "SLURM_ARRAY_TASK_MIN=5",
						 "SLURM_ARRAY_TASK_COUNT=3", NULL },
			  "SLURM_ARRAY_TASK_ID=4 is not in the job array");
	expect_auto_fails((const char *const[]){ "SLURM_ARRAY_TASK_ID=3",
						 "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_STEP=4",
						 "SLURM_ARRAY_TASK_COUNT=3", NULL },
			  "SLURM_ARRAY_TASK_ID=3 is not in the job array");
	expect_auto_fails((const char *const[]){ "SLURM_ARRAY_TASK_ID=3",
						 "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_STEP=0",
						 "SLURM_ARRAY_TASK_COUNT=3", NULL },
			  "SLURM_ARRAY_TASK_STEP is 0");
	expect_auto_fails((const char *const[]){ "SLURM_ARRAY_TASK_ID=3",
						 "SLURM_ARRAY_TASK_MIN=0",
						 "SLURM_ARRAY_TASK_COUNT=3", NULL },
			  "shard 3 does not exist among 3");
	expect_auto_fails((const char *const[]){ "SLURM_ARRAY_TASK_ID=0",
						 "SLURM_ARRAY_TASK_MIN=0",
						 "SLURM_ARRAY_TASK_COUNT=0", NULL },
			  "count is 0");
	expect_auto_fails((const char *const[]){ "SLURM_ARRAY_TASK_ID=99999999999999999999",
						 "SLURM_ARRAY_TASK_MIN=0",
						 "SLURM_ARRAY_TASK_COUNT=3", NULL },
			  "SLURM_ARRAY_TASK_ID: '99999999999999999999' is not a whole number");
	expect_auto_fails((const char *const[]){ "SLURM_ARRAY_TASK_ID=1",
						 "SLURM_ARRAY_TASK_MIN=0",
						 "SLURM_ARRAY_TASK_COUNT=3x", NULL },
			  "SLURM_ARRAY_TASK_COUNT: '3x'");
}

static void test_auto_neither_or_both(void **state)
{
	(void)state;
	expect_auto_fails((const char *const[]){ "YUBIN_SHARD_COUNT=3", NULL },
			  "neither JOB_COMPLETION_INDEX");
	expect_auto_fails((const char *const[]){ "JOB_COMPLETION_INDEX=0", "YUBIN_SHARD_COUNT=3",
						 "SLURM_ARRAY_TASK_ID=0", "SLURM_ARRAY_TASK_MIN=0",
						 "SLURM_ARRAY_TASK_COUNT=3", NULL },
			  "both JOB_COMPLETION_INDEX");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_published_vectors),
		cmocka_unit_test(test_fixed_placements),
		cmocka_unit_test(test_every_name_in_one_shard),
		cmocka_unit_test(test_no_shard_holds_all),
		cmocka_unit_test(test_select_keeps_order),
		cmocka_unit_test(test_parse_k_of_n),
		cmocka_unit_test(test_parse_k_of_n_hostile),
		cmocka_unit_test(test_auto_kubernetes),
		cmocka_unit_test(test_auto_slurm),
		cmocka_unit_test(test_auto_slurm_hostile),
		cmocka_unit_test(test_auto_neither_or_both),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
