/*
 * fuzz_state.c - replaying the state journal and snapshot.
 *
 * Input: one parameter byte, then file contents.
 *   byte 0  bit 0: the rest is a snapshot up to the first line that
 *                  starts with "yubin-journal", and a journal from that
 *                  line on (no such line: a snapshot and no journal);
 *                  clear: the rest is the journal and there is no
 *                  snapshot
 *           bit 1: first give every line that ends in " #" and 8
 *                  characters the right CRC-32 there, so mutations get
 *                  past the checksum to the record parser
 *           bit 2: after a read-only replay that succeeds, open read-
 *                  write (cutting a torn tail away), close (compacting
 *                  when due) and replay again: the state must not change
 * Printable seeds: '0' journal only; '1' snapshot and journal; '3' with
 * checksums fixed; '7' also the read-write round.
 *
 * The files go to STATE_DIR/fuzz/ in a private directory made once per
 * process.  After state_open (read-only), every mailbox and value name
 * that appears in the input is looked up and iterated.  Checked: errors
 * are YB_ERR_CONFIG or YB_ERR_IO with sanitized messages; lookups agree
 * with iteration (state_contains, state_fetched_at, state_count); values
 * keep state.h's limits; open intents have all their fields; and with
 * bit 2 the state read back after a read-write open and a compaction is
 * the state first read.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "state.h"

#define ACCOUNT "fuzz"
#define NAMES_MAX 32
#define META_VALUE_MAX 4096

static const char JOURNAL_MAGIC[] = "yubin-journal";

struct paths {
	char state_dir[4096];
	char snapshot[4200];
	char journal[4200];
	char snapshot_new[4200];
};

static const struct paths *setup(void)
{
	static struct paths paths;
	if (paths.state_dir[0] != '\0')
		return &paths;
	const char *dir = fuzz_temp_dir();
	if (!dir)
		fuzz_fail("no temporary directory");
	fuzz_path(paths.state_dir, sizeof(paths.state_dir), dir, "state");
	char account_dir[4200];
	fuzz_path(account_dir, sizeof(account_dir), paths.state_dir, ACCOUNT);
	fuzz_path(paths.snapshot, sizeof(paths.snapshot), account_dir,
		  "snapshot");
	fuzz_path(paths.journal, sizeof(paths.journal), account_dir, "journal");
	fuzz_path(paths.snapshot_new, sizeof(paths.snapshot_new), account_dir,
		  "snapshot.new");
	/* A read-write state_open makes the directories and the lock (a
	   read-only one, as a dry run's, creates nothing). */
	struct state *state = NULL;
	struct yb_error err;
	if (state_open(paths.state_dir, ACCOUNT, false, &state, &err) != YB_OK)
		fuzz_fail("cannot open an empty state: %s", err.msg);
	state_free(state);
	return &paths;
}

/* --- preparing the files --- */

static uint32_t crc32_ieee(const char *data, size_t len)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		crc ^= (unsigned char)data[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return crc ^ 0xffffffffu;
}

/* Give line[0..len) (no newline) a correct " #xxxxxxxx" if it has one. */
static void fix_checksum(char *line, size_t len)
{
	if (len < 10 || line[len - 10] != ' ' || line[len - 9] != '#')
		return;
	uint32_t crc = crc32_ieee(line, len - 10);
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 8; i++)
		line[len - 8 + i] = hex[(crc >> (28 - 4 * i)) & 0x0f];
}

static void fix_checksums(char *data, size_t len)
{
	char *at = data;
	char *end = data + len;
	while (at < end) {
		char *lf = memchr(at, '\n', (size_t)(end - at));
		char *stop = lf ? lf : end;
		fix_checksum(at, (size_t)(stop - at));
		at = lf ? lf + 1 : end;
	}
}

/* Where the journal starts: a line beginning with its magic, or len. */
static size_t journal_start(const char *data, size_t len)
{
	size_t magic_len = strlen(JOURNAL_MAGIC);
	for (size_t at = 0; at < len;) {
		if (len - at >= magic_len &&
		    memcmp(data + at, JOURNAL_MAGIC, magic_len) == 0)
			return at;
		const char *lf = memchr(data + at, '\n', len - at);
		if (!lf)
			break;
		at = (size_t)(lf - data) + 1;
	}
	return len;
}

static void write_files(const struct paths *paths, const char *data,
			size_t len, bool has_snapshot)
{
	fuzz_write_file(paths->snapshot_new, NULL, 0, 0600);
	if (!has_snapshot) {
		fuzz_write_file(paths->snapshot, NULL, 0, 0600);
		fuzz_write_file(paths->journal, data, len, 0600);
		return;
	}
	size_t split = journal_start(data, len);
	fuzz_write_file(paths->snapshot, data, split, 0600);
	fuzz_write_file(paths->journal, split < len ? data + split : NULL,
			len - split, 0600);
}

/* --- names to look up --- */

struct names {
	char *name[NAMES_MAX]; /* owned */
	size_t count;
};

static void names_add(struct names *names, const char *text, size_t len)
{
	if (names->count == NAMES_MAX)
		return;
	for (size_t i = 0; i < names->count; i++)
		if (strlen(names->name[i]) == len &&
		    memcmp(names->name[i], text, len) == 0)
			return;
	char *copy = malloc(len + 1);
	if (!copy)
		fuzz_fail("out of memory");
	memcpy(copy, text, len);
	copy[len] = '\0';
	names->name[names->count++] = copy;
}

static void names_free(struct names *names)
{
	for (size_t i = 0; i < names->count; i++)
		free(names->name[i]);
	names->count = 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Field number index (0: the op) of a line, percent-decoded, if any. */
static void add_field(struct names *names, const char *line, size_t len,
		      unsigned index)
{
	const char *at = line;
	const char *end = line + len;
	for (unsigned i = 0; i < index; i++) {
		const char *space = memchr(at, ' ', (size_t)(end - at));
		if (!space)
			return;
		at = space + 1;
	}
	const char *space = memchr(at, ' ', (size_t)(end - at));
	const char *stop = space ? space : end;
	char decoded[1100];
	size_t out = 0;
	for (const char *p = at; p < stop && out < sizeof(decoded); p++) {
		if (*p == '%' && stop - p >= 3 && hex_digit(p[1]) >= 0 &&
		    hex_digit(p[2]) >= 0) {
			decoded[out++] = (char)(hex_digit(p[1]) << 4 |
						hex_digit(p[2]));
			p += 2;
		} else {
			decoded[out++] = *p;
		}
	}
	if (out > 0 && !memchr(decoded, '\0', out))
		names_add(names, decoded, out);
}

static void collect_names(const char *data, size_t len, struct names *mailboxes,
			  struct names *values)
{
	names_add(mailboxes, "INBOX", 5);
	names_add(values, "uidvalidity", 11);
	names_add(values, "uidnext", 7);
	names_add(values, "highestmodseq", 13);
	const char *at = data;
	const char *end = data + len;
	while (at < end) {
		const char *lf = memchr(at, '\n', (size_t)(end - at));
		const char *stop = lf ? lf : end;
		size_t line_len = (size_t)(stop - at);
		if (line_len > 2 && at[1] == ' ') {
			add_field(mailboxes, at, line_len, 1);
			if (at[0] == 'V')
				add_field(values, at, line_len, 2);
		}
		at = lf ? lf + 1 : end;
	}
}

/* --- reading the state back --- */

struct walk {
	const struct state *state;
	const char *mailbox;
	size_t seen;
	uint64_t sum;  /* order-independent: a sum of per-key hashes */
};

static int visit_key(void *ctx, const char *key, time_t fetched_at)
{
	struct walk *walk = ctx;
	FUZZ_CHECK(key != NULL);
	FUZZ_CHECK(state_contains(walk->state, walk->mailbox, key));
	time_t when = 0;
	FUZZ_CHECK(state_fetched_at(walk->state, walk->mailbox, key, &when));
	FUZZ_CHECK(when == fetched_at);
	const char *dest = state_dest(walk->state, walk->mailbox, key);
	uint64_t h = fuzz_hash(FUZZ_HASH_INIT, key, strlen(key) + 1);
	h = fuzz_hash_u64(h, (uint64_t)fetched_at);
	h = dest ? fuzz_hash(h, dest, strlen(dest) + 1) : fuzz_hash_u64(h, 1);
	walk->sum += h;
	walk->seen++;
	return 0;
}

static uint64_t digest_mailbox(const struct state *state, const char *mailbox,
			       const struct names *values)
{
	struct walk walk = { state, mailbox, 0, 0 };
	FUZZ_CHECK(state_foreach(state, mailbox, visit_key, &walk) == 0);
	FUZZ_CHECK(walk.seen == state_count(state, mailbox));
	uint64_t h = fuzz_hash_u64(FUZZ_HASH_INIT, walk.seen);
	h = fuzz_hash_u64(h, walk.sum);
	for (size_t i = 0; i < values->count; i++) {
		const char *value = state_get_meta(state, mailbox,
						   values->name[i]);
		if (!value) {
			h = fuzz_hash_u64(h, 0);
			continue;
		}
		size_t len = strlen(value);
		FUZZ_CHECK(len >= 1 && len <= META_VALUE_MAX);
		for (size_t j = 0; j < len; j++)
			FUZZ_CHECK((unsigned char)value[j] >= 0x20 &&
				   value[j] != 0x7f);
		h = fuzz_hash(h, value, len + 1);
	}
	return h;
}

/* Everything the names reach, as one hash; intents in their order. */
static uint64_t digest_state(const struct state *state,
			     const struct names *mailboxes,
			     const struct names *values)
{
	uint64_t h = FUZZ_HASH_INIT;
	for (size_t i = 0; i < mailboxes->count; i++)
		h = fuzz_hash_u64(h, digest_mailbox(state, mailboxes->name[i],
						    values));
	const struct state_intent *intents = NULL;
	size_t count = state_open_intents(state, &intents);
	FUZZ_CHECK(count == 0 || intents != NULL);
	h = fuzz_hash_u64(h, count);
	for (size_t i = 0; i < count; i++) {
		const struct state_intent *in = &intents[i];
		FUZZ_CHECK(in->mailbox && in->key && in->dest);
		h = fuzz_hash(h, in->mailbox, strlen(in->mailbox) + 1);
		h = fuzz_hash(h, in->key, strlen(in->key) + 1);
		h = fuzz_hash(h, in->dest, strlen(in->dest) + 1);
	}
	return h;
}

#define STATE_ERRORS (FUZZ_STATUS(YB_ERR_CONFIG) | FUZZ_STATUS(YB_ERR_IO))

/* Open, digest, free; false when the open failed (checked). */
static bool read_state(const struct paths *paths, bool read_only,
		       const struct names *mailboxes,
		       const struct names *values, uint64_t *digest)
{
	struct state *state = NULL;
	struct yb_error err;
	int rc = state_open(paths->state_dir, ACCOUNT, read_only, &state, &err);
	fuzz_check_error("state_open", rc, &err, STATE_ERRORS);
	if (rc != YB_OK) {
		FUZZ_CHECK(state == NULL);
		return false;
	}
	*digest = digest_state(state, mailboxes, values);
	if (read_only) {
		state_free(state);
		return true;
	}
	rc = state_close(state, &err);
	if (rc != YB_OK)
		fuzz_fail("state_close after a good replay failed: %s", err.msg);
	return true;
}

/* Read-write open (cuts a torn tail), close (compacts), read again. */
static void check_round(const struct paths *paths,
			const struct names *mailboxes,
			const struct names *values, uint64_t first)
{
	uint64_t digest = 0;
	if (!read_state(paths, false, mailboxes, values, &digest))
		fuzz_fail("a state read-only replay took fails read-write");
	if (digest != first)
		fuzz_fail("read-write replay differs from read-only replay");
	if (!read_state(paths, true, mailboxes, values, &digest))
		fuzz_fail("the state written by state_close does not replay");
	if (digest != first)
		fuzz_fail("the state changed across state_close and replay");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct paths *paths = setup();
	struct fuzz_input in = { data, size };
	uint8_t flags = fuzz_take_byte(&in);
	char *bytes = malloc(in.len ? in.len : 1);
	if (!bytes)
		fuzz_fail("out of memory");
	memcpy(bytes, in.data, in.len);
	if (flags & 2)
		fix_checksums(bytes, in.len);
	write_files(paths, bytes, in.len, (flags & 1) != 0);

	struct names mailboxes = { { NULL }, 0 };
	struct names values = { { NULL }, 0 };
	collect_names(bytes, in.len, &mailboxes, &values);
	uint64_t digest = 0;
	if (read_state(paths, true, &mailboxes, &values, &digest) &&
	    (flags & 4))
		check_round(paths, &mailboxes, &values, digest);
	names_free(&mailboxes);
	names_free(&values);
	free(bytes);
	return 0;
}
