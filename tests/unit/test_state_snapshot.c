/*
 * test_state_snapshot.c - generated snapshots, loaded and checked against
 * what was generated.  A version 2 snapshot (its end line's CRC of the
 * whole file vouches for every record line) and the same records as
 * version 1 (no end line: every line's own checksum is checked) must
 * give the same answers; a byte changed anywhere in a record line or
 * the end line must refuse either file with the same message, naming
 * the changed line.  Dests stay in the file until asked for: they must
 * come back the same after the load, through a compaction, and a line
 * changed after the load must be an error, never another dest.  Lines
 * are written here with a bit-by-bit CRC-32 and
 * escaping of this file's own, independent of state_record.c.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "state.h"

#define RECORDS_MAX 400
#define KEY_BUF 48
#define TEXT_BUF (RECORDS_MAX * 3 * 200)

static const char ACCOUNT[] = "acct";
static const char *const MAILBOXES[] = { "INBOX", "a b", "\xc3\x9cn%-" };
#define MAILBOX_COUNT (sizeof(MAILBOXES) / sizeof(MAILBOXES[0]))

/* One generated delivered key and what the state must say of it. */
struct gen_key {
	size_t mailbox;
	char key[KEY_BUF];
	long long fetched_at;
	char dest[KEY_BUF];      /* "" for none */
	unsigned long long size; /* 0: no Z line */
	long long since;         /* 0: no S line */
	unsigned long runs;
};

struct gen {
	struct gen_key keys[RECORDS_MAX];
	size_t count;
	char text[TEXT_BUF];     /* the file after its header */
	size_t len;
	size_t lines;            /* record lines in text */
	bool size_on_m;          /* version 3: a size on its M line, no Z */
	char root[256];
	char state_dir[300];
	char snapshot[400];
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

static uint32_t crc32_update(uint32_t crc, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		crc ^= (unsigned char)data[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc & 1) ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
	}
	return crc;
}

/* Append str to body, %XX-escaping every byte outside 0x21..0x7e and '%'. */
static void add_field(char *body, const char *str)
{
	char *at = body + strlen(body);
	*at++ = ' ';
	for (const unsigned char *p = (const unsigned char *)str; *p; p++)
		at += *p > 0x20 && *p < 0x7f && *p != '%' && strcmp(str, "-")
			      ? sprintf(at, "%c", *p)
			      : sprintf(at, "%%%02X", *p);
	*at = '\0';
}

static void add_line(struct gen *gen, const char *body)
{
	int written = snprintf(gen->text + gen->len, TEXT_BUF - gen->len,
			       "%s #%08x\n", body,
			       ~crc32_update(0xffffffffu, body, strlen(body)));
	assert_true(written > 0 && (size_t)written < TEXT_BUF - gen->len);
	gen->len += (size_t)written;
	gen->lines++;
}

/* A key of printable and other bytes, unique by its number. */
static void random_text(char *out, size_t number, const char *prefix)
{
	static const char extra[] = " %-#\xc3\xa9\x7f\x01";
	int at = sprintf(out, "%s%zu.", prefix, number);
	for (size_t n = rng_below(12); n > 0; n--)
		out[at++] = rng_below(4) ? (char)(0x21 + rng_below(94))
					 : extra[rng_below(sizeof(extra) - 1)];
	out[at] = '\0';
}

static void write_key_lines(struct gen *gen, const struct gen_key *key)
{
	char body[512] = "M";
	add_field(body, MAILBOXES[key->mailbox]);
	add_field(body, key->key);
	sprintf(body + strlen(body), " %lld", key->fetched_at);
	if (key->dest[0])
		add_field(body, key->dest);
	else if (rng_below(2) || (gen->size_on_m && key->size))
		strcat(body, " -");
	if (gen->size_on_m && key->size)
		sprintf(body + strlen(body), " %llu", key->size);
	add_line(gen, body);
	if (key->size && !gen->size_on_m) {
		snprintf(body, sizeof(body), "Z");
		add_field(body, MAILBOXES[key->mailbox]);
		add_field(body, key->key);
		sprintf(body + strlen(body), " %llu", key->size);
		add_line(gen, body);
	}
	if (key->since) {
		snprintf(body, sizeof(body), "S");
		add_field(body, MAILBOXES[key->mailbox]);
		add_field(body, key->key);
		sprintf(body + strlen(body), " %lld %lu", key->since, key->runs);
		add_line(gen, body);
	}
}

static void generate(struct gen *gen, size_t count)
{
	gen->count = count;
	gen->len = gen->lines = 0;
	for (size_t i = 0; i < count; i++) {
		struct gen_key *key = &gen->keys[i];
		memset(key, 0, sizeof(*key));
		key->mailbox = rng_below(MAILBOX_COUNT);
		random_text(key->key, i, rng_below(20) ? "k" : "-");
		key->fetched_at = (long long)rng_below(4000000000u);
		if (rng_below(4))
			random_text(key->dest, i, "new/");
		key->size = rng_below(3) ? 1 + rng_below(1u << 30) : 0;
		key->since = rng_below(5) ? 0 : 1 + (long long)rng_below(1u << 31);
		key->runs = key->since ? 1 + rng_below(9) : 0;
		write_key_lines(gen, key);
	}
	char body[256];
	for (size_t i = 0; i < MAILBOX_COUNT; i++) {
		snprintf(body, sizeof(body), "V");
		add_field(body, MAILBOXES[i]);
		sprintf(body + strlen(body), " uidvalidity %zu", i + 7);
		add_line(gen, body);
	}
}

/* Write the snapshot, version 2 (with its end line) or 1. */
static void write_snapshot(const struct gen *gen, int version)
{
	char header[32];
	snprintf(header, sizeof(header), "yubin-snapshot %d\n", version);
	FILE *file = fopen(gen->snapshot, "wb");
	assert_non_null(file);
	fputs(header, file);
	fwrite(gen->text, 1, gen->len, file);
	if (version >= 2) {
		uint32_t crc = crc32_update(0xffffffffu, header, strlen(header));
		crc = ~crc32_update(crc, gen->text, gen->len);
		char body[64];
		snprintf(body, sizeof(body), "end %zu %08x", gen->lines, crc);
		fprintf(file, "%s #%08x\n", body,
			~crc32_update(0xffffffffu, body, strlen(body)));
	}
	assert_int_equal(fclose(file), 0);
}

static void check_key(const struct state *state, const struct gen_key *key)
{
	const char *mailbox = MAILBOXES[key->mailbox];
	time_t at;
	assert_true(state_fetched_at(state, mailbox, key->key, &at));
	assert_int_equal((long long)at, key->fetched_at);
	const char *dest = state_dest(state, mailbox, key->key);
	if (key->dest[0])
		assert_string_equal(dest, key->dest);
	else
		assert_null(dest);
	uint64_t size;
	assert_int_equal(state_listed_size(state, mailbox, key->key, &size),
			 key->size != 0);
	if (key->size)
		assert_int_equal(size, key->size);
	time_t since;
	unsigned long runs;
	assert_int_equal(state_missing(state, mailbox, key->key, &since, &runs),
			 key->since != 0);
	if (key->since) {
		assert_int_equal((long long)since, key->since);
		assert_int_equal(runs, key->runs);
	}
}

/* Open the state and check it holds exactly what was generated. */
static void check_loads(const struct gen *gen)
{
	struct state *state = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	int rc = state_open(gen->state_dir, ACCOUNT, true, &state, &err);
	if (rc != 0)
		fail_msg("%s", err.msg);
	size_t per_mailbox[MAILBOX_COUNT] = { 0 };
	for (size_t i = 0; i < gen->count; i++) {
		check_key(state, &gen->keys[i]);
		per_mailbox[gen->keys[i].mailbox]++;
	}
	for (size_t i = 0; i < MAILBOX_COUNT; i++) {
		assert_int_equal(state_count(state, MAILBOXES[i]), per_mailbox[i]);
		char want[8];
		snprintf(want, sizeof(want), "%zu", i + 7);
		assert_string_equal(state_get_meta(state, MAILBOXES[i],
						   "uidvalidity"), want);
	}
	assert_false(state_contains(state, "INBOX", "absent"));
	state_free(state);
}

/* The message state_open refuses the snapshot with, in a static buffer. */
static const char *refusal(const struct gen *gen)
{
	static struct yb_error err;
	struct state *state = NULL;
	yb_error_clear(&err);
	assert_int_equal(state_open(gen->state_dir, ACCOUNT, true, &state, &err),
			 YB_ERR_CONFIG);
	assert_null(state);
	return err.msg;
}

static int setup(void **fixture_ptr)
{
	struct gen *gen = calloc(1, sizeof(*gen));
	assert_non_null(gen);
	const char *tmp = getenv("TMPDIR");
	snprintf(gen->root, sizeof(gen->root), "%s/yubin-snap-XXXXXX",
		 tmp && tmp[0] ? tmp : "/tmp");
	assert_non_null(mkdtemp(gen->root));
	snprintf(gen->state_dir, sizeof(gen->state_dir), "%s/state", gen->root);
	assert_int_equal(mkdir(gen->state_dir, 0700), 0);
	snprintf(gen->snapshot, sizeof(gen->snapshot), "%s/%s", gen->state_dir,
		 ACCOUNT);
	assert_int_equal(mkdir(gen->snapshot, 0700), 0);
	strcat(gen->snapshot, "/snapshot");
	*fixture_ptr = gen;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int teardown(void **fixture_ptr)
{
	struct gen *gen = *fixture_ptr;
	nftw(gen->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(gen);
	return 0;
}

/* Both versions of generated snapshots of 0 to RECORDS_MAX keys load
   to the same state: the one generated. */
static void test_both_versions_load_alike(void **fixture_ptr)
{
	struct gen *gen = *fixture_ptr;
	rng_state = 0x5eed0001;
	for (int round = 0; round < 40; round++) {
		gen->size_on_m = false;
		generate(gen, round == 0 ? 0 : rng_below(RECORDS_MAX + 1));
		write_snapshot(gen, 2);
		check_loads(gen);
		write_snapshot(gen, 1);
		check_loads(gen);
		/* Version 3: sizes on the M lines. */
		gen->size_on_m = true;
		generate(gen, round == 0 ? 0 : rng_below(RECORDS_MAX + 1));
		write_snapshot(gen, 3);
		check_loads(gen);
	}
}

/* Overwrite byte at of the snapshot's records (after the header, of the
   same length in both versions) with byte. */
static void patch_snapshot(const struct gen *gen, size_t at, char byte)
{
	FILE *file = fopen(gen->snapshot, "r+b");
	assert_non_null(file);
	assert_int_equal(fseek(file, (long)(strlen("yubin-snapshot 2\n") + at),
			       SEEK_SET), 0);
	assert_int_not_equal(fputc(byte, file), EOF);
	assert_int_equal(fclose(file), 0);
}

/* Another byte than was, no newline. */
static char other_byte(char was)
{
	char byte;
	do
		byte = (char)(0x20 + rng_below(95));
	while (byte == was);
	return byte;
}

/* Line number (the header is 1) of gen->text's byte at. */
static size_t line_of(const struct gen *gen, size_t at)
{
	size_t line = 2;
	for (size_t i = 0; i < at; i++)
		line += gen->text[i] == '\n';
	return line;
}

/* One changed byte of a record line: refused alike, naming its line. */
static void test_changed_byte_refused_alike(void **fixture_ptr)
{
	struct gen *gen = *fixture_ptr;
	rng_state = 0x5eed0002;
	for (int round = 0; round < 300; round++) {
		generate(gen, 1 + rng_below(60));
		size_t at;
		do
			at = rng_below(gen->len);
		while (gen->text[at] == '\n');
		char byte = other_byte(gen->text[at]);
		char where[32];
		snprintf(where, sizeof(where), "snapshot:%zu: ", line_of(gen, at));
		write_snapshot(gen, 2);
		patch_snapshot(gen, at, byte);
		char newer[YB_ERROR_MSG_MAX];
		snprintf(newer, sizeof(newer), "%s", refusal(gen));
		if (!strstr(newer, where))
			fail_msg("byte %zu ('%c' for '%c'): want %s in: %s", at,
				 byte, gen->text[at], where, newer);
		write_snapshot(gen, 1);
		patch_snapshot(gen, at, byte);
		assert_string_equal(refusal(gen), newer);
	}
}

/* The end line is outside the CRC it holds: its own is checked. */
static void test_changed_end_line_refused(void **fixture_ptr)
{
	struct gen *gen = *fixture_ptr;
	rng_state = 0x5eed0003;
	generate(gen, 30);
	write_snapshot(gen, 2);
	FILE *file = fopen(gen->snapshot, "r+b");
	assert_non_null(file);
	assert_int_equal(fseek(file, -2, SEEK_END), 0);
	int last = fgetc(file);
	assert_int_equal(fseek(file, -2, SEEK_END), 0);
	fputc(last == '0' ? '1' : '0', file);   /* the end line's checksum */
	assert_int_equal(fclose(file), 0);
	char where[32];
	snprintf(where, sizeof(where), "snapshot:%zu: ", gen->lines + 2);
	const char *msg = refusal(gen);
	if (!strstr(msg, where) || !strstr(msg, "bad checksum"))
		fail_msg("want %s and bad checksum in: %s", where, msg);
}

/* Open the generated state (writable), or fail. */
static struct state *open_gen(const struct gen *gen)
{
	struct state *state = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	if (state_open(gen->state_dir, ACCOUNT, false, &state, &err) != 0)
		fail_msg("%s", err.msg);
	return state;
}

/* state_dests_where of every mailbox gives each generated dest once. */
static void check_dests_where(struct state *state, const struct gen *gen)
{
	for (size_t m = 0; m < MAILBOX_COUNT; m++) {
		const char **dests = NULL;
		size_t count = 0;
		struct yb_error err;
		yb_error_clear(&err);
		assert_int_equal(state_dests_where(state, MAILBOXES[m], NULL, NULL,
						   &dests, &count, &err), YB_OK);
		size_t want = 0;
		for (size_t i = 0; i < gen->count; i++) {
			const struct gen_key *key = &gen->keys[i];
			if (key->mailbox != m || !key->dest[0])
				continue;
			want++;
			size_t seen = 0;
			for (size_t j = 0; j < count; j++)
				seen += strcmp(dests[j], key->dest) == 0;
			assert_int_equal(seen, 1);
		}
		assert_int_equal(count, want);
		free(dests);
	}
}

/* Dests left in the snapshot: listed alike, and carried whole into the
   snapshot that replaces a version 1 file when the state is closed. */
static void test_dests_read_when_asked(void **fixture_ptr)
{
	struct gen *gen = *fixture_ptr;
	rng_state = 0x5eed0004;
	for (int round = 0; round < 10; round++) {
		generate(gen, 1 + rng_below(RECORDS_MAX));
		write_snapshot(gen, 1 + round % 2);
		struct state *state = open_gen(gen);
		check_dests_where(state, gen);
		state_free(state);
		/* Closed untouched: the version 1 or 2 file is rewritten as
		   version 3, every dest read from the old one, every size
		   moved onto its M line. */
		state = open_gen(gen);
		struct yb_error err;
		yb_error_clear(&err);
		if (state_close(state, &err) != 0)
			fail_msg("%s", err.msg);
		FILE *file = fopen(gen->snapshot, "rb");
		assert_non_null(file);
		char header[32] = "";
		assert_non_null(fgets(header, sizeof(header), file));
		fclose(file);
		assert_string_equal(header, "yubin-snapshot 3\n");
		check_loads(gen);
	}
}

#define WIDE_KEYS 3000
#define WIDE_DEST 120

static void wide_key(char *out, size_t i)
{
	sprintf(out, "uidl-%05zu", i);
}

/* Key i's dest: WIDE_DEST bytes, spaces and percents to escape. */
static void wide_dest(char *out, size_t i)
{
	int at = sprintf(out, "new/%zu %%", i);
	for (; at < WIDE_DEST; at++)
		out[at] = (char)('a' + (i + (size_t)at) % 26);
	out[at] = '\0';
}

/* Compaction reads dests through a window of the old file: a file many
   windows long, and keys whose order no longer follows their lines
   (forgetting a key moves the last one into its place), come through
   whole. */
static void test_dests_copied_across_windows(void **fixture_ptr)
{
	struct gen *gen = *fixture_ptr;
	FILE *file = fopen(gen->snapshot, "wb");
	assert_non_null(file);
	fputs("yubin-snapshot 1\n", file);
	char key[32], dest[WIDE_DEST + 1], body[512];
	for (size_t i = 0; i < WIDE_KEYS; i++) {
		wide_key(key, i);
		wide_dest(dest, i);
		snprintf(body, sizeof(body), "M INBOX");
		add_field(body, key);
		sprintf(body + strlen(body), " %zu", 1000 + i);
		add_field(body, dest);
		fprintf(file, "%s #%08x\n", body,
			~crc32_update(0xffffffffu, body, strlen(body)));
	}
	assert_int_equal(fclose(file), 0);
	struct state *state = open_gen(gen);
	struct yb_error err;
	for (size_t i = 0; i < WIDE_KEYS; i += 7) {
		wide_key(key, i);
		yb_error_clear(&err);
		assert_int_equal(state_forget(state, "INBOX", key, &err), YB_OK);
	}
	yb_error_clear(&err);
	if (state_close(state, &err) != 0)
		fail_msg("%s", err.msg);
	state = open_gen(gen);
	for (size_t i = 0; i < WIDE_KEYS; i++) {
		wide_key(key, i);
		const char *got = state_dest(state, "INBOX", key);
		if (i % 7 == 0) {
			assert_false(state_contains(state, "INBOX", key));
			continue;
		}
		wide_dest(dest, i);
		assert_non_null(got);
		assert_string_equal(got, dest);
	}
	assert_int_equal(state_count(state, "INBOX"), WIDE_KEYS - (WIDE_KEYS + 6) / 7);
	state_free(state);
}

/* The generated text's byte offset of a character of key's dest. */
static size_t dest_byte(const struct gen *gen, size_t index)
{
	size_t line = 0, at = 0;
	/* Keys are written in order, each M line then its Z and S lines. */
	for (size_t i = 0; i < index; i++)
		line += 1 + (gen->keys[i].size != 0) + (gen->keys[i].since != 0);
	for (size_t n = 0; n < line; n++)
		at = (size_t)(strchr(gen->text + at, '\n') - gen->text) + 1;
	const char *end = strchr(gen->text + at, '\n');
	/* The dest is the last field before " #CHECKSUM". */
	return (size_t)(end - gen->text) - 11;
}

/* A dest's line changed after the load: an error naming the file, never
   another dest; a compaction that would copy it fails, the file kept. */
static void test_changed_dest_line_is_error(void **fixture_ptr)
{
	struct gen *gen = *fixture_ptr;
	rng_state = 0x5eed0005;
	generate(gen, 40);
	size_t index = 0;
	while (!gen->keys[index].dest[0])
		index++;
	const struct gen_key *key = &gen->keys[index];
	write_snapshot(gen, 1);
	struct state *state = open_gen(gen);
	size_t at = dest_byte(gen, index);
	patch_snapshot(gen, at, other_byte(gen->text[at]));
	assert_null(state_dest(state, MAILBOXES[key->mailbox], key->key));
	const char **dests = NULL;
	size_t count = 0;
	struct yb_error err;
	yb_error_clear(&err);
	assert_int_equal(state_dests_where(state, MAILBOXES[key->mailbox], NULL,
					   NULL, &dests, &count, &err),
			 YB_ERR_IO);
	assert_null(dests);
	if (!strstr(err.msg, "snapshot changed while yubin ran"))
		fail_msg("want the file named in: %s", err.msg);
	/* Version 1 is rewritten at close: that must fail, not drop it. */
	yb_error_clear(&err);
	assert_int_equal(state_close(state, &err), YB_ERR_IO);
	FILE *file = fopen(gen->snapshot, "rb");
	assert_non_null(file);
	char header[32] = "";
	assert_non_null(fgets(header, sizeof(header), file));
	fclose(file);
	assert_string_equal(header, "yubin-snapshot 1\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_both_versions_load_alike,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_byte_refused_alike,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_end_line_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dests_read_when_asked,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_dest_line_is_error,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dests_copied_across_windows,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
