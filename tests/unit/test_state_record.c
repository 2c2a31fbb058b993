/*
 * test_state_record.c - the record codec of the state files: generated
 * records of every type come back from their line unchanged, a line cut
 * short or with a byte changed is refused, and the snapshot trailer
 * agrees only with the lines it was written for.
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

#include "state_record.h"

#define ROUNDS 2000

/* A small deterministic generator (xorshift64*), so a failure repeats. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

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

/* A field of 1..max_len bytes: any byte but NUL, often a lone "-", '%'
   or space, which the escaping must carry. */
static size_t gen_any_bytes(char *out, size_t max_len)
{
	static const char tricky[] = "-% #\n\r\t\x7f\xff";
	if (rng_below(8) == 0) {
		out[0] = '-';
		return 1;
	}
	size_t len = 1 + rng_below(rng_below(4) == 0 ? max_len : 12);
	for (size_t i = 0; i < len; i++)
		out[i] = rng_below(3) == 0 ? tricky[rng_below(sizeof(tricky) - 1)]
					   : (char)(1 + rng_below(255));
	return len;
}

static size_t gen_from(char *out, size_t max_len, const char *alphabet)
{
	size_t len = 1 + rng_below(max_len);
	size_t count = strlen(alphabet);
	for (size_t i = 0; i < len; i++)
		out[i] = alphabet[rng_below(count)];
	return len;
}

/* A meta value: printable ASCII and UTF-8 bytes, no control byte. */
static size_t gen_meta_value(char *out)
{
	size_t len = 1 + rng_below(rng_below(4) == 0 ? STATE_META_VALUE_MAX : 20);
	for (size_t i = 0; i < len; i++)
		out[i] = rng_below(4) == 0 ? (char)(0x80 + rng_below(0x80))
					   : (char)(0x20 + rng_below(0x5f));
	return len;
}

static size_t gen_number(char *out, unsigned long long max,
			 unsigned long long *value)
{
	*value = rng_below(4) == 0 ? max : rng_next() % (max + (max < ~0ULL));
	return (size_t)snprintf(out, RECORD_NUMBER_SIZE, "%llu", *value);
}

/* Storage for a generated record's fields. */
struct gen_fields {
	char text[RECORD_FIELDS_MAX][STATE_DEST_MAX + 1];
};

static void set_field(struct record *rec, struct gen_fields *store, size_t i,
		      size_t len)
{
	store->text[i][len] = '\0';
	rec->field[i] = store->text[i];
	rec->field_len[i] = len;
}

/* The fields after MAILBOX and KEY, as op wants them. */
static void gen_tail(struct record *rec, struct gen_fields *store)
{
	unsigned long long number;
	switch (rec->op) {
	case 'I': case 'D':
		set_field(rec, store, 2, gen_any_bytes(store->text[2], STATE_DEST_MAX));
		rec->field_count = 3;
		break;
	case 'C': case 'M':
		set_field(rec, store, 2, gen_number(store->text[2], INT64_MAX, &number));
		rec->fetched_at = (int64_t)number;
		rec->field_count = 3;
		if (rec->op == 'M' && rng_below(3) != 0) {
			rec->field_none[3] = rng_below(3) == 0;
			set_field(rec, store, 3, rec->field_none[3] ? 0 :
				  gen_any_bytes(store->text[3], STATE_DEST_MAX));
			rec->field_count = 4;
		}
		break;
	case 'Z':
		set_field(rec, store, 2, gen_number(store->text[2], ~0ULL, &number));
		rec->number = number;
		rec->field_count = 3;
		break;
	case 'S':
		set_field(rec, store, 2, gen_number(store->text[2], INT64_MAX, &number));
		rec->fetched_at = (int64_t)number;
		set_field(rec, store, 3, gen_number(store->text[3], MISSING_RUNS_MAX,
						    &number));
		rec->number = number;
		rec->field_count = 4;
		break;
	}
}

/* A valid record of a random type. */
static void gen_record(struct record *rec, struct gen_fields *store)
{
	static const char ops[] = "MVZSICXFDG";
	memset(rec, 0, sizeof(*rec));
	rec->op = ops[rng_below(sizeof(ops) - 1)];
	set_field(rec, store, 0, gen_any_bytes(store->text[0], 1024));
	rec->field_count = 1;
	if (rec->op == 'G')
		return;
	if (rec->op == 'V') {
		set_field(rec, store, 1, gen_from(store->text[1], STATE_META_NAME_MAX,
						  "abcdefghijklmnopqrstuvwxyz0123456789_"));
		set_field(rec, store, 2, gen_meta_value(store->text[2]));
		rec->field_count = 3;
		return;
	}
	set_field(rec, store, 1, gen_any_bytes(store->text[1], STATE_KEY_MAX));
	rec->field_count = 2;
	gen_tail(rec, store);
}

/* rec encoded, NUL-terminated (after its newline); the caller frees. */
static char *encode(const struct record *rec, size_t *line_len)
{
	*line_len = record_line_len(rec);
	assert_true(*line_len <= STATE_LINE_MAX + 1);
	char *line = malloc(*line_len + 1);
	assert_non_null(line);
	record_encode(rec, line);
	line[*line_len] = '\0';
	return line;
}

static void assert_same_record(const struct record *want,
			       const struct record *got)
{
	assert_int_equal(got->op, want->op);
	assert_int_equal(got->field_count, want->field_count);
	for (size_t i = 0; i < want->field_count; i++) {
		assert_int_equal(got->field_none[i], want->field_none[i]);
		if (want->field_none[i])
			continue;
		assert_int_equal(got->field_len[i], want->field_len[i]);
		assert_memory_equal(got->field[i], want->field[i], want->field_len[i]);
	}
	if (strchr("MCS", want->op))
		assert_true(got->fetched_at == want->fetched_at);
	if (strchr("ZS", want->op))
		assert_true(got->number == want->number);
}

static void test_round_trip(void **unused)
{
	(void)unused;
	struct gen_fields *store = malloc(sizeof(*store));
	assert_non_null(store);
	for (int round = 0; round < ROUNDS; round++) {
		struct record rec, parsed;
		gen_record(&rec, store);
		size_t line_len;
		char *line = encode(&rec, &line_len);
		assert_int_equal(line[line_len - 1], '\n');
		/* Fields hold no space, control byte or newline. */
		for (size_t i = 0; i + 1 < line_len; i++)
			assert_true(line[i] >= 0x20 && line[i] < 0x7f);
		assert_true(record_checksum_ok(line, line_len - 1));
		assert_null(record_parse(line, line_len - 1, &parsed));
		assert_same_record(&rec, &parsed);
		free(line);
	}
	free(store);
}

/* Every prefix of a line, and every line with one byte changed, fails its
   checksum: a torn or garbled write is never read as a record. */
static void test_cut_or_garbled_refused(void **unused)
{
	(void)unused;
	struct gen_fields *store = malloc(sizeof(*store));
	assert_non_null(store);
	for (int round = 0; round < ROUNDS / 10; round++) {
		struct record rec;
		gen_record(&rec, store);
		size_t line_len;
		char *line = encode(&rec, &line_len);
		size_t text_len = line_len - 1;
		for (size_t cut = 0; cut < text_len; cut++)
			assert_false(record_checksum_ok(line, cut));
		for (int flips = 0; flips < 50; flips++) {
			size_t at = rng_below(text_len);
			char was = line[at];
			line[at] = (char)(was ^ (1 + rng_below(255)));
			assert_false(record_checksum_ok(line, text_len));
			line[at] = was;
		}
		assert_true(record_checksum_ok(line, text_len));
		free(line);
	}
	free(store);
}

/* body followed by its correct " #xxxxxxxx", so only parsing can refuse it. */
static char *checksummed(const char *body, size_t *len)
{
	uint32_t crc = record_crc32_final(
		record_crc32_update(CRC32_INIT, body, strlen(body)));
	size_t size = strlen(body) + 16;
	char *line = malloc(size);
	assert_non_null(line);
	int written = snprintf(line, size, "%s #%08lx", body, (unsigned long)crc);
	assert_true(written > 0 && (size_t)written < size);
	*len = (size_t)written;
	return line;
}

static void test_checksummed_but_malformed_refused(void **unused)
{
	(void)unused;
	static const char *const bad[] = {
		"M", "Q INBOX k", "C INBOX", "C INBOX k 12 extra",
		"C INBOX k -1", "C INBOX k 12x", "I INBOX k %4", "I INBOX k %G1",
		"I INBOX k %00", "I INBOX  k d", "V INBOX Name x", "V INBOX n %0A",
		"S INBOX k 1 4294967296", "Z INBOX k 18446744073709551616",
		"G INBOX x", "X INBOX k d e",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len;
		char *line = checksummed(bad[i], &len);
		struct record rec;
		assert_true(record_checksum_ok(line, len));
		const char *problem = record_parse(line, len, &rec);
		if (!problem)
			fail_msg("accepted: %s", bad[i]);
		free(line);
	}
	size_t len;
	char *line = checksummed("S INBOX k 1 4294967295", &len);
	struct record rec;
	assert_null(record_parse(line, len, &rec));
	free(line);
}

static void test_trailer(void **unused)
{
	(void)unused;
	struct gen_fields *store = malloc(sizeof(*store));
	assert_non_null(store);
	struct snapshot_tally tally = { .crc = CRC32_INIT, .has_trailer = true };
	snapshot_tally_line(&tally, SNAPSHOT_HEADER, strlen(SNAPSHOT_HEADER) - 1);
	uint32_t file_crc = record_crc32_update(CRC32_INIT, SNAPSHOT_HEADER,
						strlen(SNAPSHOT_HEADER));
	for (int i = 0; i < 100; i++) {
		struct record rec;
		gen_record(&rec, store);
		size_t line_len;
		char *line = encode(&rec, &line_len);
		file_crc = record_crc32_update(file_crc, line, line_len);
		snapshot_tally_line(&tally, line, line_len - 1);
		tally.records++;
		free(line);
	}
	char trailer[SNAPSHOT_TRAILER_SIZE];
	size_t len = snapshot_trailer_encode(trailer, tally.records,
					     record_crc32_final(file_crc));
	assert_true(len > 0 && trailer[len - 1] == '\n');
	assert_true(record_checksum_ok(trailer, len - 1));
	assert_true(snapshot_is_trailer(trailer, len - 1));
	assert_null(snapshot_trailer_problem(trailer, len - 1, &tally));
	/* A line more or less, or other bytes, and it disagrees. */
	struct snapshot_tally other = tally;
	other.records++;
	assert_non_null(snapshot_trailer_problem(trailer, len - 1, &other));
	other = tally;
	snapshot_tally_line(&other, "M a b 1 #00000000", 17);
	assert_non_null(snapshot_trailer_problem(trailer, len - 1, &other));
	free(store);
}

static void test_headers(void **unused)
{
	(void)unused;
	assert_int_equal(record_check_header("yubin-journal 1", 15, JOURNAL_MAGIC,
					     JOURNAL_HEADER), HEADER_OK);
	assert_int_equal(record_check_header("yubin-journal 7", 15, JOURNAL_MAGIC,
					     JOURNAL_HEADER), HEADER_OTHER_VERSION);
	assert_int_equal(record_check_header("yubin-journal", 13, JOURNAL_MAGIC,
					     JOURNAL_HEADER), HEADER_BAD);
	assert_int_equal(record_check_header(NULL, 0, SNAPSHOT_MAGIC,
					     SNAPSHOT_HEADER), HEADER_BAD);
	assert_int_equal(record_check_header("yubin-snapshot 1", 16, SNAPSHOT_MAGIC,
					     SNAPSHOT_HEADER_V1), HEADER_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_cut_or_garbled_refused),
		cmocka_unit_test(test_checksummed_but_malformed_refused),
		cmocka_unit_test(test_trailer),
		cmocka_unit_test(test_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
