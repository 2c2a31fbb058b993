/*
 * test_state.c - the state journal and snapshot: replay, torn writes,
 * corruption, compaction and its crash window, the lock, escaping, scale.
 *
 * Every test works in its own temporary directory.  Journal lines the
 * tests write by hand carry a CRC-32 computed here, bit by bit, so the
 * on-disk format is checked against an independent implementation.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "state.h"

/* Path buffers: each is longer than what it is built from. */
#define ROOT_MAX 1024
#define PATH_BUF (ROOT_MAX + 256)

struct fixture {
	char root[ROOT_MAX];           /* mkdtemp directory, removed after */
	char state_dir[ROOT_MAX + 64]; /* root/state */
	char account_dir[ROOT_MAX + 128]; /* root/state/acct */
};

static const char ACCOUNT[] = "acct";

/* ---- helpers ----------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int setup(void **fixture_ptr)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	const char *tmp = getenv("TMPDIR");
	int written = snprintf(fx->root, sizeof(fx->root), "%s/yubin-state-XXXXXX",
			       tmp && tmp[0] ? tmp : "/tmp");
	assert_true(written > 0 && (size_t)written < sizeof(fx->root));
	assert_non_null(mkdtemp(fx->root));
	snprintf(fx->state_dir, sizeof(fx->state_dir), "%s/state", fx->root);
	snprintf(fx->account_dir, sizeof(fx->account_dir), "%s/%s",
		 fx->state_dir, ACCOUNT);
	*fixture_ptr = fx;
	return 0;
}

static int teardown(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	nftw(fx->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* A file of the account's state directory, in a static buffer per slot. */
static const char *state_file(const struct fixture *fx, const char *name)
{
	static char paths[4][PATH_BUF];
	static int next;
	char *path = paths[next++ % 4];
	int written = snprintf(path, PATH_BUF, "%s/%s", fx->account_dir, name);
	assert_true(written > 0 && written < PATH_BUF);
	return path;
}

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static long file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_size;
}

/* The whole file, NUL-terminated; *len without the NUL. */
static char *read_whole(const char *path, size_t *len)
{
	FILE *file = fopen(path, "rb");
	assert_non_null(file);
	assert_int_equal(fseek(file, 0, SEEK_END), 0);
	long size = ftell(file);
	assert_true(size >= 0);
	rewind(file);
	char *data = malloc((size_t)size + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)size, file), (size_t)size);
	fclose(file);
	data[size] = '\0';
	if (len)
		*len = (size_t)size;
	return data;
}

static void write_whole(const char *path, const char *data, size_t len)
{
	FILE *file = fopen(path, "wb");
	assert_non_null(file);
	assert_int_equal(fwrite(data, 1, len, file), len);
	assert_int_equal(fclose(file), 0);
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	char *data = read_whole(from, &len);
	write_whole(to, data, len);
	free(data);
}

/* CRC-32 (IEEE), bit by bit: independent of the table in state.c. */
static uint32_t reference_crc32(const char *data, size_t len)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		crc ^= (unsigned char)data[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc & 1) ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
	}
	return ~crc;
}

/* "BODY #crc\n" appended to out (size out_size). */
static void append_line(char *out, size_t out_size, const char *body)
{
	size_t used = strlen(out);
	int written = snprintf(out + used, out_size - used, "%s #%08x\n", body,
			       reference_crc32(body, strlen(body)));
	assert_true(written > 0 && (size_t)written < out_size - used);
}

static void ensure_account_dir(const struct fixture *fx)
{
	assert_true(mkdir(fx->state_dir, 0700) == 0 || errno == EEXIST);
	assert_true(mkdir(fx->account_dir, 0700) == 0 || errno == EEXIST);
}

/* Write the journal: header, then each body with its checksum. */
static void write_journal_lines(const struct fixture *fx, const char *header,
				const char *const *bodies, size_t count)
{
	static char text[64 * 1024];
	snprintf(text, sizeof(text), "%s", header);
	for (size_t i = 0; i < count; i++)
		append_line(text, sizeof(text), bodies[i]);
	ensure_account_dir(fx);
	write_whole(state_file(fx, "journal"), text, strlen(text));
}

static struct state *open_state(const struct fixture *fx, bool read_only)
{
	struct state *state = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	int rc = state_open(fx->state_dir, ACCOUNT, read_only, &state, &err);
	if (rc != YB_OK)
		print_error("state_open: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
	assert_non_null(state);
	return state;
}

/* state_open must fail with status; returns its message (static). */
static const char *open_fails(const struct fixture *fx, int status)
{
	static struct yb_error err;
	struct state *state = (struct state *)&err; /* must be reset */
	yb_error_clear(&err);
	int rc = state_open(fx->state_dir, ACCOUNT, false, &state, &err);
	assert_int_equal(rc, status);
	assert_int_equal(err.status, status);
	assert_null(state);
	return err.msg;
}

static void commit(struct state *state, const char *mailbox, const char *key,
		   time_t when)
{
	struct yb_error err;
	int rc = state_commit(state, mailbox, key, when, &err);
	if (rc != YB_OK)
		print_error("state_commit: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

static void intent(struct state *state, const char *mailbox, const char *key,
		   const char *dest)
{
	struct yb_error err;
	int rc = state_intent(state, mailbox, key, dest, &err);
	if (rc != YB_OK)
		print_error("state_intent: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

static void forget(struct state *state, const char *mailbox, const char *key)
{
	struct yb_error err;
	assert_int_equal(state_forget(state, mailbox, key, &err), YB_OK);
}

static void drop(struct state *state, const char *mailbox, const char *key)
{
	struct yb_error err;
	assert_int_equal(state_drop_intent(state, mailbox, key, &err), YB_OK);
}

static void sync_ok(struct state *state)
{
	struct yb_error err;
	int rc = state_sync(state, &err);
	if (rc != YB_OK)
		print_error("state_sync: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

static void close_ok(struct state *state)
{
	struct yb_error err;
	int rc = state_close(state, &err);
	if (rc != YB_OK)
		print_error("state_close: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

static void assert_fetched_at(const struct state *state, const char *mailbox,
			      const char *key, time_t want)
{
	time_t got = 0;
	assert_true(state_contains(state, mailbox, key));
	assert_true(state_fetched_at(state, mailbox, key, &got));
	assert_int_equal((long long)got, (long long)want);
}

/* All (key, time) pairs of a mailbox, sorted, for comparing states. */
struct pair {
	char *key;
	time_t fetched_at;
};

struct pairs {
	struct pair *items;
	size_t count;
	size_t cap;
};

static int collect_pair(void *ctx, const char *key, time_t fetched_at)
{
	struct pairs *pairs = ctx;
	if (pairs->count == pairs->cap) {
		pairs->cap = pairs->cap ? pairs->cap * 2 : 64;
		pairs->items = realloc(pairs->items,
				       pairs->cap * sizeof(pairs->items[0]));
		assert_non_null(pairs->items);
	}
	pairs->items[pairs->count].key = strdup(key);
	assert_non_null(pairs->items[pairs->count].key);
	pairs->items[pairs->count].fetched_at = fetched_at;
	pairs->count++;
	return 0;
}

static int compare_pairs(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->key,
		      ((const struct pair *)b)->key);
}

static struct pairs collect(const struct state *state, const char *mailbox)
{
	struct pairs pairs = { NULL, 0, 0 };
	assert_int_equal(state_foreach(state, mailbox, collect_pair, &pairs), 0);
	assert_int_equal(pairs.count, state_count(state, mailbox));
	if (pairs.count)
		qsort(pairs.items, pairs.count, sizeof(pairs.items[0]),
		      compare_pairs);
	return pairs;
}

static void pairs_free(struct pairs *pairs)
{
	for (size_t i = 0; i < pairs->count; i++)
		free(pairs->items[i].key);
	free(pairs->items);
	memset(pairs, 0, sizeof(*pairs));
}

static void assert_same_pairs(const struct pairs *a, const struct pairs *b)
{
	assert_int_equal(a->count, b->count);
	for (size_t i = 0; i < a->count; i++) {
		assert_string_equal(a->items[i].key, b->items[i].key);
		assert_int_equal((long long)a->items[i].fetched_at,
				 (long long)b->items[i].fetched_at);
	}
}

/* The open intents as "MAILBOX|KEY|DEST;" lines, for comparing. */
static void intents_text(const struct state *state, char *out, size_t size)
{
	const struct state_intent *intents = NULL;
	size_t count = state_open_intents(state, &intents);
	out[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		size_t used = strlen(out);
		int written = snprintf(out + used, size - used, "%s|%s|%s;",
				       intents[i].mailbox, intents[i].key,
				       intents[i].dest);
		assert_true(written > 0 && (size_t)written < size - used);
	}
}

/* ---- opening and closing ----------------------------------------------- */

static void test_open_close_empty(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	mode_t old_umask = umask(022);
	struct state *state = open_state(fx, false);
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 0);
	assert_false(state_contains(state, "INBOX", "x"));
	assert_int_equal(state_count(state, "INBOX"), 0);
	close_ok(state);
	umask(old_umask);

	struct stat st;
	assert_int_equal(stat(fx->account_dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(state_file(fx, "lock"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Nothing was recorded, so nothing was written. */
	assert_false(file_exists(state_file(fx, "journal")));
	assert_false(file_exists(state_file(fx, "snapshot")));
}

static void test_open_creates_missing_parents(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	char deep[PATH_BUF];
	snprintf(deep, sizeof(deep), "%s/a/b//c/", fx->root);
	mode_t old_umask = umask(022);
	struct state *state = NULL;
	struct yb_error err;
	assert_int_equal(state_open(deep, "work", false, &state, &err), YB_OK);
	commit(state, "INBOX", "k", 5);
	close_ok(state);
	umask(old_umask);

	const char *dirs[] = { "a", "a/b", "a/b/c", "a/b/c/work" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char path[PATH_BUF];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", fx->root, dirs[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	assert_int_equal(state_open(deep, "work", false, &state, &err), YB_OK);
	assert_fetched_at(state, "INBOX", "k", 5);
	state_free(state);
}

static void test_bad_account_and_dir_refused(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	const char *bad[] = { "", ".", "..", "a/b", "/abs" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct state *state = NULL;
		struct yb_error err;
		assert_int_equal(state_open(fx->state_dir, bad[i], false, &state,
					    &err),
				 YB_ERR_CONFIG);
		assert_null(state);
	}
	struct state *state = NULL;
	struct yb_error err;
	assert_int_equal(state_open("", "acct", false, &state, &err),
			 YB_ERR_CONFIG);
	assert_null(state);
	/* Nothing was created for a refused name. */
	assert_false(file_exists(fx->state_dir));
}

static void test_state_dir_is_a_file(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	write_whole(fx->state_dir, "x", 1);
	const char *msg = open_fails(fx, YB_ERR_IO);
	assert_non_null(strstr(msg, fx->state_dir));
}

static void test_free_and_close_accept_null(void **fixture_ptr)
{
	(void)fixture_ptr;
	struct yb_error err;
	yb_error_clear(&err);
	state_free(NULL);
	assert_int_equal(state_close(NULL, &err), YB_OK);
	assert_int_equal(err.status, YB_OK);
}

/* ---- commits, forgets, intents ----------------------------------------- */

static void test_commit_reopen_sees_time(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "uidl-1", 1700000000);
	assert_fetched_at(state, "INBOX", "uidl-1", 1700000000);
	close_ok(state);

	state = open_state(fx, false);
	assert_fetched_at(state, "INBOX", "uidl-1", 1700000000);
	assert_false(state_contains(state, "INBOX", "uidl-2"));
	assert_int_equal(state_count(state, "INBOX"), 1);
	state_free(state);
}

static void test_free_without_sync_writes_nothing(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "k", 10);
	intent(state, "INBOX", "j", "new/j");
	state_free(state);
	assert_false(file_exists(state_file(fx, "journal")));

	state = open_state(fx, false);
	assert_false(state_contains(state, "INBOX", "k"));
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 0);
	state_free(state);
}

static void test_sync_makes_journal_durable(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "k", 10);
	sync_ok(state);
	/* A crash after the sync: the journal alone carries the commit. */
	state_free(state);
	assert_true(file_exists(state_file(fx, "journal")));
	assert_false(file_exists(state_file(fx, "snapshot")));

	state = open_state(fx, false);
	assert_fetched_at(state, "INBOX", "k", 10);
	state_free(state);
}

static void test_sync_with_nothing_pending_creates_nothing(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	sync_ok(state);
	sync_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));
	close_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));
	assert_false(file_exists(state_file(fx, "snapshot")));
}

static void test_journal_line_format(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	intent(state, "INBOX", "a b%", "new/1.x:2,S");
	commit(state, "INBOX", "a b%", 42);
	forget(state, "INBOX", "a b%");
	sync_ok(state);
	state_free(state);

	char want[1024] = "yubin-journal 1\n";
	append_line(want, sizeof(want), "I INBOX a%20b%25 new/1.x:2,S");
	append_line(want, sizeof(want), "C INBOX a%20b%25 42");
	append_line(want, sizeof(want), "F INBOX a%20b%25");
	char *journal = read_whole(state_file(fx, "journal"), NULL);
	assert_string_equal(journal, want);
	free(journal);
}

static void test_handwritten_journal_is_read(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	const char *bodies[] = {
		"C INBOX one 100",
		"C Other%20Box t%77%6f 200",  /* lower-case escapes too */
		"I INBOX three cur/3:2,S",
		"C INBOX gone 300",
		"F INBOX gone",
		"I INBOX four new/4",
		"X INBOX four",
	};
	write_journal_lines(fx, "yubin-journal 1\n", bodies,
			    sizeof(bodies) / sizeof(bodies[0]));
	struct state *state = open_state(fx, false);
	assert_fetched_at(state, "INBOX", "one", 100);
	assert_fetched_at(state, "Other Box", "two", 200);
	assert_false(state_contains(state, "INBOX", "gone"));
	assert_false(state_contains(state, "INBOX", "four"));
	char text[256];
	intents_text(state, text, sizeof(text));
	assert_string_equal(text, "INBOX|three|cur/3:2,S;");
	state_free(state);
}

static void test_forget_removes(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "a", 1);
	commit(state, "INBOX", "b", 2);
	close_ok(state);

	state = open_state(fx, false);
	forget(state, "INBOX", "a");
	assert_false(state_contains(state, "INBOX", "a"));
	assert_true(state_contains(state, "INBOX", "b"));
	close_ok(state);

	state = open_state(fx, false);
	assert_false(state_contains(state, "INBOX", "a"));
	time_t when;
	assert_false(state_fetched_at(state, "INBOX", "a", &when));
	assert_fetched_at(state, "INBOX", "b", 2);
	assert_int_equal(state_count(state, "INBOX"), 1);
	state_free(state);
}

static void test_noop_changes_write_nothing(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	/* Forgetting what is unknown, dropping an intent never opened. */
	forget(state, "INBOX", "unknown");
	drop(state, "INBOX", "unknown");
	sync_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));
	commit(state, "INBOX", "k", 1);
	sync_ok(state);
	long size = file_size(state_file(fx, "journal"));
	/* Committing again changes nothing and records nothing. */
	commit(state, "INBOX", "k", 2);
	sync_ok(state);
	assert_int_equal(file_size(state_file(fx, "journal")), size);
	assert_fetched_at(state, "INBOX", "k", 1);
	state_free(state);
}

static void test_commit_keeps_first_time(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "k", 100);
	intent(state, "INBOX", "k", "new/k");
	commit(state, "INBOX", "k", 200);
	assert_fetched_at(state, "INBOX", "k", 100);
	sync_ok(state);
	state_free(state);
	state = open_state(fx, false);
	assert_fetched_at(state, "INBOX", "k", 100);
	/* Forgotten and delivered again: the new time counts. */
	forget(state, "INBOX", "k");
	commit(state, "INBOX", "k", 300);
	close_ok(state);
	state = open_state(fx, false);
	assert_fetched_at(state, "INBOX", "k", 300);
	state_free(state);
}

static void test_intent_reported_after_reopen(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	intent(state, "INBOX", "uidl 7", "new/1700000000.M1P2.host");
	sync_ok(state);
	state_free(state);     /* crash before the publish and commit */

	state = open_state(fx, false);
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 1);
	assert_string_equal(intents[0].mailbox, "INBOX");
	assert_string_equal(intents[0].key, "uidl 7");
	assert_string_equal(intents[0].dest, "new/1700000000.M1P2.host");
	assert_false(state_contains(state, "INBOX", "uidl 7"));
	state_free(state);
}

static void test_intent_resolved_by_commit_persists(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	intent(state, "INBOX", "k", "new/k");
	sync_ok(state);
	state_free(state);

	state = open_state(fx, false);
	commit(state, "INBOX", "k", 77);
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 0);
	close_ok(state);

	state = open_state(fx, false);
	assert_int_equal(state_open_intents(state, &intents), 0);
	assert_fetched_at(state, "INBOX", "k", 77);
	state_free(state);
}

static void test_intent_resolved_by_drop_persists(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	intent(state, "INBOX", "k", "new/k");
	sync_ok(state);
	state_free(state);

	state = open_state(fx, false);
	drop(state, "INBOX", "k");
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 0);
	close_ok(state);

	state = open_state(fx, false);
	assert_int_equal(state_open_intents(state, &intents), 0);
	assert_false(state_contains(state, "INBOX", "k"));
	state_free(state);
}

static void test_intents_in_journal_order(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	intent(state, "INBOX", "a", "new/a");
	intent(state, "Sent", "b", "new/b");
	intent(state, "INBOX", "c", "new/c");
	/* A second intent for the same key replaces the first. */
	intent(state, "Sent", "b", "new/b2");
	/* The same key in another mailbox is another intent. */
	intent(state, "INBOX", "b", "new/b3");
	char before[512];
	intents_text(state, before, sizeof(before));
	assert_string_equal(before, "INBOX|a|new/a;INBOX|c|new/c;"
				    "Sent|b|new/b2;INBOX|b|new/b3;");
	sync_ok(state);
	state_free(state);

	state = open_state(fx, false);
	char after[512];
	intents_text(state, after, sizeof(after));
	assert_string_equal(after, before);
	/* Forget closes an intent too. */
	forget(state, "INBOX", "c");
	intents_text(state, after, sizeof(after));
	assert_string_equal(after, "INBOX|a|new/a;Sent|b|new/b2;INBOX|b|new/b3;");
	state_free(state);
}

static void test_same_key_two_mailboxes(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "1234/5", 1);
	commit(state, "Archive", "1234/5", 2);
	assert_int_equal(state_count(state, "INBOX"), 1);
	assert_int_equal(state_count(state, "Archive"), 1);
	forget(state, "INBOX", "1234/5");
	assert_false(state_contains(state, "INBOX", "1234/5"));
	assert_fetched_at(state, "Archive", "1234/5", 2);
	close_ok(state);
	state = open_state(fx, false);
	assert_false(state_contains(state, "INBOX", "1234/5"));
	assert_fetched_at(state, "Archive", "1234/5", 2);
	state_free(state);
}

static int stop_at_second(void *ctx, const char *key, time_t fetched_at)
{
	(void)key;
	(void)fetched_at;
	int *seen = ctx;
	return ++*seen == 2 ? 42 : 0;
}

static void test_foreach_and_count(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	for (int i = 0; i < 50; i++) {
		char key[32];
		snprintf(key, sizeof(key), "key-%02d", i);
		commit(state, i % 2 ? "Odd" : "Even", key, 1000 + i);
	}
	assert_int_equal(state_count(state, "Odd"), 25);
	assert_int_equal(state_count(state, "Even"), 25);
	assert_int_equal(state_count(state, "None"), 0);
	struct pairs odd = collect(state, "Odd");
	assert_int_equal(odd.count, 25);
	for (size_t i = 0; i < odd.count; i++) {
		char key[32];
		snprintf(key, sizeof(key), "key-%02zu", 2 * i + 1);
		assert_string_equal(odd.items[i].key, key);
		assert_int_equal((long long)odd.items[i].fetched_at,
				 1000 + 2 * (long long)i + 1);
	}
	pairs_free(&odd);
	int seen = 0;
	assert_int_equal(state_foreach(state, "Even", stop_at_second, &seen), 42);
	assert_int_equal(seen, 2);
	seen = 0;
	assert_int_equal(state_foreach(state, "None", stop_at_second, &seen), 0);
	assert_int_equal(seen, 0);
	state_free(state);
}

/* ---- invalid input ----------------------------------------------------- */

static void test_invalid_inputs_refused(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	char long_key[1026];
	memset(long_key, 'k', 1025);
	long_key[1025] = '\0';
	char long_dest[4098];
	memset(long_dest, 'd', 4097);
	long_dest[4097] = '\0';
	struct yb_error err;

	assert_int_equal(state_commit(state, "INBOX", "", 1, &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(state_commit(state, "", "k", 1, &err), YB_ERR_INTERNAL);
	assert_int_equal(state_commit(state, "INBOX", long_key, 1, &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "1024"));
	assert_int_equal(state_commit(state, long_key, "k", 1, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_commit(state, "INBOX", "k", -1, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_intent(state, "INBOX", "k", "", &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_intent(state, "INBOX", "k", long_dest, &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "4096"));
	assert_int_equal(state_intent(state, "INBOX", long_key, "d", &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_forget(state, "INBOX", "", &err), YB_ERR_INTERNAL);
	assert_int_equal(state_drop_intent(state, "", "k", &err),
			 YB_ERR_INTERNAL);

	/* None of it was recorded. */
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 0);
	assert_int_equal(state_count(state, "INBOX"), 0);
	sync_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));
	state_free(state);
}

static void test_longest_fields_round_trip(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	/* Every byte escaped: the longest line the format can hold. */
	char mailbox[1025], key[1025], dest[4097];
	memset(mailbox, ' ', 1024);
	mailbox[1024] = '\0';
	memset(key, '\xff', 1024);
	key[1024] = '\0';
	memset(dest, '%', 4096);
	dest[4096] = '\0';
	struct state *state = open_state(fx, false);
	intent(state, mailbox, key, dest);
	sync_ok(state);
	state_free(state);

	state = open_state(fx, false);
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 1);
	assert_string_equal(intents[0].mailbox, mailbox);
	assert_string_equal(intents[0].key, key);
	assert_string_equal(intents[0].dest, dest);
	commit(state, mailbox, key, 9);
	close_ok(state);
	state = open_state(fx, false);
	assert_fetched_at(state, mailbox, key, 9);
	state_free(state);
}

/* ---- escaping ---------------------------------------------------------- */

static const char *const ODD_KEYS[] = {
	"plain", "a b", "100%", "%20", "%", "%%", "#", " #deadbeef",
	"x #00000000", "ends with space ", " starts", "tab\there",
	"new\nline", "cr\rlf\r\n", "\x01\x02\x1f", "\x7f\xff\x80",
	"\xc3\xbc\xe6\x97\xa5\xe6\x9c\xac", "quote\"back\\slash", "+/=",
};
#define ODD_KEY_COUNT (sizeof(ODD_KEYS) / sizeof(ODD_KEYS[0]))

static void assert_odd_keys_present(const struct state *state)
{
	for (size_t i = 0; i < ODD_KEY_COUNT; i++)
		assert_fetched_at(state, "Box with spaces/\xc3\xa4", ODD_KEYS[i],
				  (time_t)(1000 + i));
	assert_int_equal(state_count(state, "Box with spaces/\xc3\xa4"),
			 ODD_KEY_COUNT);
}

static void test_escaping_round_trip(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	for (size_t i = 0; i < ODD_KEY_COUNT; i++)
		commit(state, "Box with spaces/\xc3\xa4", ODD_KEYS[i],
		       (time_t)(1000 + i));
	intent(state, "IN BOX", "k #1", "new/a b%c\n");
	sync_ok(state);
	state_free(state);

	/* Through the journal... */
	state = open_state(fx, false);
	assert_odd_keys_present(state);
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 1);
	assert_string_equal(intents[0].mailbox, "IN BOX");
	assert_string_equal(intents[0].key, "k #1");
	assert_string_equal(intents[0].dest, "new/a b%c\n");
	drop(state, "IN BOX", "k #1");
	close_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));

	/* ...and through the snapshot. */
	state = open_state(fx, false);
	assert_odd_keys_present(state);
	assert_false(state_contains(state, "Box with spaces/\xc3\xa4", "a"));
	state_free(state);
}

static void test_files_hold_only_printable_fields(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	for (size_t i = 0; i < ODD_KEY_COUNT; i++)
		commit(state, "M\x01 x", ODD_KEYS[i], 7);
	sync_ok(state);
	state_free(state);
	const char *names[] = { "journal", "snapshot" };
	for (size_t n = 0; n < 2; n++) {
		if (n == 1) {
			state = open_state(fx, false);
			close_ok(state); /* compacts */
		}
		size_t len;
		char *text = read_whole(state_file(fx, names[n]), &len);
		size_t lines = 0;
		for (size_t i = 0; i < len; i++) {
			unsigned char byte = (unsigned char)text[i];
			if (byte == '\n')
				lines++;
			else
				assert_true(byte >= 0x20 && byte < 0x7f);
		}
		assert_int_equal(lines, ODD_KEY_COUNT + 1);
		free(text);
	}
}

/* ---- torn writes ------------------------------------------------------- */

static void test_torn_last_record_every_offset(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "k1", 1);
	commit(state, "INBOX", "k2", 2);
	sync_ok(state);
	long before = file_size(state_file(fx, "journal"));
	commit(state, "INBOX", "the last one", 3);
	sync_ok(state);
	state_free(state);
	size_t full_len;
	char *full = read_whole(state_file(fx, "journal"), &full_len);
	assert_true((long)full_len > before + 10);

	for (size_t cut = (size_t)before; cut < full_len; cut++) {
		write_whole(state_file(fx, "journal"), full, cut);
		state = open_state(fx, false);
		assert_fetched_at(state, "INBOX", "k1", 1);
		assert_fetched_at(state, "INBOX", "k2", 2);
		assert_false(state_contains(state, "INBOX", "the last one"));
		/* Cut back to the end of the last whole line. */
		assert_int_equal(file_size(state_file(fx, "journal")), before);
		/* What follows is appended after a clean line end. */
		commit(state, "INBOX", "next", 4);
		sync_ok(state);
		state_free(state);
		state = open_state(fx, false);
		assert_fetched_at(state, "INBOX", "next", 4);
		assert_int_equal(state_count(state, "INBOX"), 3);
		state_free(state);
	}
	write_whole(state_file(fx, "journal"), full, full_len);
	state = open_state(fx, false);
	assert_fetched_at(state, "INBOX", "the last one", 3);
	state_free(state);
	free(full);
}

static void test_torn_commit_leaves_intent_open(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	intent(state, "INBOX", "k", "new/k");
	sync_ok(state);
	long before = file_size(state_file(fx, "journal"));
	commit(state, "INBOX", "k", 5);
	sync_ok(state);
	state_free(state);
	size_t full_len;
	char *full = read_whole(state_file(fx, "journal"), &full_len);
	for (size_t cut = (size_t)before; cut < full_len; cut++) {
		write_whole(state_file(fx, "journal"), full, cut);
		state = open_state(fx, false);
		const struct state_intent *intents = NULL;
		assert_int_equal(state_open_intents(state, &intents), 1);
		assert_string_equal(intents[0].dest, "new/k");
		assert_false(state_contains(state, "INBOX", "k"));
		state_free(state);
	}
	free(full);
}

static void test_torn_journal_header(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	const char *torn[] = { "", "yubin-jour", "yubin-journal 1" };
	for (size_t i = 0; i < 3; i++) {
		ensure_account_dir(fx);
		write_whole(state_file(fx, "journal"), torn[i], strlen(torn[i]));
		struct state *state = open_state(fx, false);
		assert_int_equal(state_count(state, "INBOX"), 0);
		assert_int_equal(file_size(state_file(fx, "journal")), 0);
		commit(state, "INBOX", "k", 8);
		sync_ok(state);
		state_free(state);
		char *text = read_whole(state_file(fx, "journal"), NULL);
		assert_memory_equal(text, "yubin-journal 1\nC INBOX k 8 #", 29);
		free(text);
		state = open_state(fx, false);
		assert_fetched_at(state, "INBOX", "k", 8);
		state_free(state);
	}
}

static void test_bad_checksum_on_last_line_dropped(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	const char *bodies[] = { "C INBOX a 1", "C INBOX b 2" };
	write_journal_lines(fx, "yubin-journal 1\n", bodies, 2);
	size_t len;
	char *text = read_whole(state_file(fx, "journal"), &len);
	long good = (long)(strchr(strchr(text, '\n') + 1, '\n') + 1 - text);
	text[len - 2] = text[len - 2] == '0' ? '1' : '0';  /* a checksum digit */
	write_whole(state_file(fx, "journal"), text, len);
	free(text);

	struct state *state = open_state(fx, false);
	assert_fetched_at(state, "INBOX", "a", 1);
	assert_false(state_contains(state, "INBOX", "b"));
	assert_int_equal(file_size(state_file(fx, "journal")), good);
	state_free(state);
}

static void test_corrupt_middle_line_is_error(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	const char *bodies[] = { "C INBOX a 1", "C INBOX b 2", "C INBOX c 3" };
	write_journal_lines(fx, "yubin-journal 1\n", bodies, 3);
	size_t len;
	char *text = read_whole(state_file(fx, "journal"), &len);
	char *b = strstr(text, " b ");
	assert_non_null(b);
	b[1] = 'B';   /* the checksum no longer matches */
	write_whole(state_file(fx, "journal"), text, len);

	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	char want[PATH_BUF + 8];
	snprintf(want, sizeof(want), "%s:3:", state_file(fx, "journal"));
	assert_non_null(strstr(msg, want));
	assert_non_null(strstr(msg, "corrupt record"));
	assert_non_null(strstr(msg, "move the file away"));
	/* Nothing was cut away. */
	assert_int_equal(file_size(state_file(fx, "journal")), (long)len);
	free(text);
}

static void test_valid_checksum_bad_record_is_error(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	/* Checksummed, so not a torn write, even as the last line. */
	const char *cases[] = {
		"Z INBOX a 1", "C INBOX a", "C INBOX a b 1", "C INBOX a -5",
		"C INBOX a 99999999999999999999", "C INBOX %00 1", "C INBOX %4 1",
		"C INBOX a%zz 1", "C  a 1", "C INBOX a 1 ", "M INBOX a 1",
		"X INBOX", "F INBOX a b",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *bodies[] = { "C INBOX ok 1", cases[i] };
		write_journal_lines(fx, "yubin-journal 1\n", bodies, 2);
		const char *msg = open_fails(fx, YB_ERR_CONFIG);
		char want[PATH_BUF + 8];
		snprintf(want, sizeof(want), "%s:3:", state_file(fx, "journal"));
		if (!strstr(msg, want))
			print_error("case %zu: %s\n", i, msg);
		assert_non_null(strstr(msg, want));
	}
}

static void test_raw_control_byte_in_field_is_error(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	const char *bodies[] = { "C INBOX a\tb 1", "C INBOX c 2" };
	write_journal_lines(fx, "yubin-journal 1\n", bodies, 2);
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "journal:2:"));
}

static void test_long_lines(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	size_t long_len = 40 * 1024;
	char *junk = malloc(long_len);
	assert_non_null(junk);
	memset(junk, 'x', long_len);
	ensure_account_dir(fx);

	/* A too-long last line is a torn write: dropped, cut away. */
	char head[256] = "yubin-journal 1\n";
	append_line(head, sizeof(head), "C INBOX a 1");
	size_t head_len = strlen(head);
	size_t total = head_len + long_len + 1;
	char *text = malloc(total);
	assert_non_null(text);
	memcpy(text, head, head_len);
	memcpy(text + head_len, junk, long_len);
	text[total - 1] = '\n';
	for (int with_newline = 0; with_newline < 2; with_newline++) {
		write_whole(state_file(fx, "journal"), text,
			    total - (with_newline ? 0 : 1));
		struct state *state = open_state(fx, false);
		assert_fetched_at(state, "INBOX", "a", 1);
		assert_int_equal(file_size(state_file(fx, "journal")),
				 (long)head_len);
		state_free(state);
	}

	/* In the middle it is corruption. */
	char tail[128] = "";
	append_line(tail, sizeof(tail), "C INBOX b 2");
	char *middle = malloc(total + strlen(tail));
	assert_non_null(middle);
	memcpy(middle, text, total);
	memcpy(middle + total, tail, strlen(tail));
	write_whole(state_file(fx, "journal"), middle, total + strlen(tail));
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "journal:3:"));
	assert_non_null(strstr(msg, "too long"));
	free(middle);
	free(text);
	free(junk);
}

static void test_unknown_versions_are_errors(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	const char *bodies[] = { "C INBOX a 1" };
	write_journal_lines(fx, "yubin-journal 2\n", bodies, 1);
	long size = file_size(state_file(fx, "journal"));
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "version"));
	assert_non_null(strstr(msg, state_file(fx, "journal")));
	/* A newer yubin's file is never cut. */
	assert_int_equal(file_size(state_file(fx, "journal")), size);

	remove(state_file(fx, "journal"));
	write_whole(state_file(fx, "snapshot"), "yubin-snapshot 9\n", 17);
	msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "version"));
	assert_non_null(strstr(msg, state_file(fx, "snapshot")));
}

static void test_bad_journal_header_is_error(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	const char *bodies[] = { "C INBOX a 1" };
	write_journal_lines(fx, "not a journal\n", bodies, 1);
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "journal:1:"));
}

/* ---- the snapshot ------------------------------------------------------ */

static void make_snapshot(const struct fixture *fx)
{
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "a", 1);
	commit(state, "INBOX", "b", 2);
	commit(state, "INBOX", "c", 3);
	close_ok(state);
	assert_true(file_exists(state_file(fx, "snapshot")));
	assert_false(file_exists(state_file(fx, "journal")));
}

static void test_snapshot_corruption_is_error(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	make_snapshot(fx);
	size_t len;
	char *text = read_whole(state_file(fx, "snapshot"), &len);
	char *second = strchr(strchr(text, '\n') + 1, '\n') + 1;
	second[2] = 'x';   /* line 3's mailbox: INBOX -> xNBOX */
	write_whole(state_file(fx, "snapshot"), text, len);
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	char want[PATH_BUF + 8];
	snprintf(want, sizeof(want), "%s:3: corrupt record",
		 state_file(fx, "snapshot"));
	assert_non_null(strstr(msg, want));
	assert_non_null(strstr(msg, "move the file away"));
	/* The snapshot is left as it was, for inspection. */
	assert_int_equal(file_size(state_file(fx, "snapshot")), (long)len);
	free(text);
}

static void test_snapshot_last_line_has_no_torn_excuse(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	make_snapshot(fx);
	size_t len;
	char *text = read_whole(state_file(fx, "snapshot"), &len);
	write_whole(state_file(fx, "snapshot"), text, len - 1);
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "snapshot:4:"));
	write_whole(state_file(fx, "snapshot"), "", 0);
	msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "snapshot:1:"));
	free(text);
}

static void test_snapshot_holds_only_m_records(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	ensure_account_dir(fx);
	char text[256] = "yubin-snapshot 1\n";
	append_line(text, sizeof(text), "M INBOX a 1");
	append_line(text, sizeof(text), "C INBOX b 2");
	write_whole(state_file(fx, "snapshot"), text, strlen(text));
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "snapshot:3:"));
}

/* ---- compaction -------------------------------------------------------- */

static void build_mixed_state(struct state *state)
{
	for (int i = 0; i < 300; i++) {
		char key[32];
		snprintf(key, sizeof(key), "m%d", i);
		const char *mailbox = i % 3 == 0 ? "INBOX" : "Lists/rust";
		intent(state, mailbox, key, "new/x");
		commit(state, mailbox, key, 1000 + i);
		if (i % 7 == 0)
			forget(state, mailbox, key);
		if (i % 14 == 0)
			commit(state, mailbox, key, 5000 + i);
	}
	intent(state, "INBOX", "dropped", "new/d");
	drop(state, "INBOX", "dropped");
}

static void test_compaction_keeps_state(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	build_mixed_state(state);
	struct pairs inbox = collect(state, "INBOX");
	struct pairs lists = collect(state, "Lists/rust");
	close_ok(state);
	assert_true(file_exists(state_file(fx, "snapshot")));
	assert_false(file_exists(state_file(fx, "journal")));
	assert_false(file_exists(state_file(fx, "snapshot.new")));

	state = open_state(fx, false);
	struct pairs inbox2 = collect(state, "INBOX");
	struct pairs lists2 = collect(state, "Lists/rust");
	assert_same_pairs(&inbox, &inbox2);
	assert_same_pairs(&lists, &lists2);
	assert_fetched_at(state, "INBOX", "m0", 5000);
	assert_false(state_contains(state, "Lists/rust", "m7"));
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 0);
	state_free(state);
	pairs_free(&inbox);
	pairs_free(&lists);
	pairs_free(&inbox2);
	pairs_free(&lists2);
}

static void test_compaction_skipped_while_intent_open(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "a", 1);
	intent(state, "INBOX", "b", "new/b");
	close_ok(state);
	assert_true(file_exists(state_file(fx, "journal")));
	assert_false(file_exists(state_file(fx, "snapshot")));

	state = open_state(fx, false);
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 1);
	assert_fetched_at(state, "INBOX", "a", 1);
	commit(state, "INBOX", "b", 2);
	close_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));
	assert_true(file_exists(state_file(fx, "snapshot")));
}

static void test_small_journal_not_compacted(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	for (int i = 0; i < 100; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		commit(state, "INBOX", key, i);
	}
	close_ok(state);
	long snapshot_size = file_size(state_file(fx, "snapshot"));
	/* One more: the journal stays smaller than the snapshot. */
	state = open_state(fx, false);
	commit(state, "INBOX", "one more", 1);
	close_ok(state);
	assert_true(file_exists(state_file(fx, "journal")));
	assert_int_equal(file_size(state_file(fx, "snapshot")), snapshot_size);
	state = open_state(fx, false);
	assert_int_equal(state_count(state, "INBOX"), 101);
	state_free(state);
}

static void test_crash_between_rename_and_unlink(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	/* An older snapshot, then a journal on top of it. */
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "old", 10);
	commit(state, "INBOX", "forgotten later", 11);
	close_ok(state);
	state = open_state(fx, false);
	build_mixed_state(state);
	forget(state, "INBOX", "forgotten later");
	commit(state, "INBOX", "old", 99);   /* no change: first time stands */
	sync_ok(state);
	struct pairs inbox = collect(state, "INBOX");
	struct pairs lists = collect(state, "Lists/rust");
	char journal_copy[PATH_BUF];
	snprintf(journal_copy, sizeof(journal_copy), "%s/journal.copy", fx->root);
	copy_file(state_file(fx, "journal"), journal_copy);
	close_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));

	/* The new snapshot is in place but the journal was not removed. */
	copy_file(journal_copy, state_file(fx, "journal"));
	for (int round = 0; round < 2; round++) {
		state = open_state(fx, false);
		struct pairs inbox2 = collect(state, "INBOX");
		struct pairs lists2 = collect(state, "Lists/rust");
		assert_same_pairs(&inbox, &inbox2);
		assert_same_pairs(&lists, &lists2);
		assert_fetched_at(state, "INBOX", "old", 10);
		assert_false(state_contains(state, "INBOX", "forgotten later"));
		const struct state_intent *intents = NULL;
		assert_int_equal(state_open_intents(state, &intents), 0);
		pairs_free(&inbox2);
		pairs_free(&lists2);
		/* Round 0 compacts again; round 1 reads the result. */
		close_ok(state);
	}
	pairs_free(&inbox);
	pairs_free(&lists);
}

static void test_stale_snapshot_new_ignored(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	make_snapshot(fx);
	write_whole(state_file(fx, "snapshot.new"), "garbage", 7);
	struct state *state = open_state(fx, false);
	assert_int_equal(state_count(state, "INBOX"), 3);
	commit(state, "INBOX", "d", 4);
	commit(state, "INBOX", "e", 5);
	forget(state, "INBOX", "a");
	forget(state, "INBOX", "b");
	forget(state, "INBOX", "c");
	close_ok(state);   /* the journal outgrew the snapshot: compacted */
	assert_false(file_exists(state_file(fx, "snapshot.new")));
	assert_false(file_exists(state_file(fx, "journal")));
	state = open_state(fx, false);
	assert_int_equal(state_count(state, "INBOX"), 2);
	assert_fetched_at(state, "INBOX", "d", 4);
	assert_fetched_at(state, "INBOX", "e", 5);
	state_free(state);
}

#ifdef YUBIN_TEST_HOOKS
/* argv[0], to re-run this program as a child that compacts and closes. */
static const char *test_program;
static const char COMPACT_CHILD_FLAG[] = "--compact-and-close";

/* The re-run child: open the state and close it (compacting). */
static int compact_child(const char *state_dir)
{
	struct state *state = NULL;
	struct yb_error err;
	if (state_open(state_dir, ACCOUNT, false, &state, &err) != YB_OK)
		return 1;
	return state_close(state, &err) == YB_OK ? 0 : 2;
}

/* Run compact_child with YUBIN_TEST_KILL_AT=kill_at; its wait status.  A
   fresh exec, because the hook reads its variable once per process. */
static int run_compact_child(const struct fixture *fx, int kill_at)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char value[16];
		snprintf(value, sizeof(value), "%d", kill_at);
		setenv("YUBIN_TEST_KILL_AT", value, 1);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		execl(test_program, test_program, COMPACT_CHILD_FLAG,
		      fx->state_dir, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_killed_during_compaction(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	/* Step 1: snapshot.new durable; step 2: renamed, journal still there;
	   step 3 does not exist: the child finishes. */
	for (int kill_at = 1; kill_at <= 3; kill_at++) {
		nftw(fx->state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		struct state *state = open_state(fx, false);
		commit(state, "INBOX", "before", 1);
		close_ok(state);
		state = open_state(fx, false);
		build_mixed_state(state);
		struct pairs want = collect(state, "Lists/rust");
		sync_ok(state);
		state_free(state);

		int status = run_compact_child(fx, kill_at);
		bool killed = kill_at < 3;
		if (killed) {
			assert_true(WIFSIGNALED(status));
			assert_int_equal(WTERMSIG(status), SIGKILL);
		} else {
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}
		assert_int_equal(file_exists(state_file(fx, "snapshot.new")),
				 kill_at == 1);
		assert_int_equal(file_exists(state_file(fx, "journal")), killed);

		for (int round = 0; round < 2; round++) {
			state = open_state(fx, false);
			struct pairs got = collect(state, "Lists/rust");
			assert_same_pairs(&want, &got);
			assert_fetched_at(state, "INBOX", "before", 1);
			assert_fetched_at(state, "INBOX", "m0", 5000);
			pairs_free(&got);
			close_ok(state);   /* finishes the compaction */
		}
		assert_false(file_exists(state_file(fx, "journal")));
		assert_false(file_exists(state_file(fx, "snapshot.new")));
		pairs_free(&want);
	}
}
#endif

/* ---- the lock ---------------------------------------------------------- */

/* In a child: try to open; exit 0 if it failed as a held lock should. */
static void child_expects_lock_held(const struct fixture *fx)
{
	struct state *state = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	int rc = state_open(fx->state_dir, ACCOUNT, false, &state, &err);
	char want[PATH_BUF + 64];
	snprintf(want, sizeof(want), "(lock %s/lock held)", fx->account_dir);
	bool ok = rc == YB_ERR_TEMP && state == NULL &&
		  strstr(err.msg, "account acct is being fetched by another "
				  "yubin run") && strstr(err.msg, want) &&
		  strstr(err.msg, "try again later");
	_exit(ok ? 0 : 1);
}

static void child_expects_open(const struct fixture *fx)
{
	struct state *state = NULL;
	struct yb_error err;
	int rc = state_open(fx->state_dir, ACCOUNT, false, &state, &err);
	bool ok = rc == YB_OK && state_contains(state, "INBOX", "k");
	state_free(state);
	_exit(ok ? 0 : 1);
}

/*
 * Run child(fx) in a forked process; its exit status.  The child first
 * frees its copy of the parent's open state (closing copies of the
 * parent's descriptors releases no lock), so leak checkers see it exit
 * clean.
 */
static int run_child(const struct fixture *fx, struct state *inherited,
		     void (*child)(const struct fixture *fx))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		state_free(inherited);
		child(fx);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_lock_held_by_another_process(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "k", 1);
	sync_ok(state);
	long journal_size = file_size(state_file(fx, "journal"));
	assert_int_equal(run_child(fx, state, child_expects_lock_held), 0);
	/* The refused run touched nothing. */
	assert_int_equal(file_size(state_file(fx, "journal")), journal_size);
	close_ok(state);
	assert_int_equal(run_child(fx, NULL, child_expects_open), 0);
}

static void test_lock_read_only_also_locks(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, true);
	assert_int_equal(run_child(fx, state, child_expects_lock_held), 0);
	state_free(state);
}

#ifdef F_OFD_SETLK
static void test_lock_held_in_same_process(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	const char *msg = open_fails(fx, YB_ERR_TEMP);
	assert_non_null(strstr(msg, "is being fetched by another yubin run"));
	/* The refused open did not release the first one's lock. */
	msg = open_fails(fx, YB_ERR_TEMP);
	assert_non_null(strstr(msg, "try again later"));
	state_free(state);
	state = open_state(fx, false);
	state_free(state);
}
#endif

/* ---- read-only --------------------------------------------------------- */

static void test_read_only_writes_nothing(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	make_snapshot(fx);
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "d", 4);
	intent(state, "INBOX", "e", "new/e");
	sync_ok(state);
	state_free(state);
	/* A torn tail that a writer would cut away. */
	int fd = open(state_file(fx, "journal"), O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "C INBOX e 5 #0", 14), 14);
	close(fd);
	size_t journal_len, snapshot_len;
	char *journal = read_whole(state_file(fx, "journal"), &journal_len);
	char *snapshot = read_whole(state_file(fx, "snapshot"), &snapshot_len);

	state = open_state(fx, true);
	assert_int_equal(state_count(state, "INBOX"), 4);
	assert_false(state_contains(state, "INBOX", "e"));
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 1);
	struct yb_error err;
	int results[] = {
		state_intent(state, "INBOX", "f", "new/f", &err),
		state_commit(state, "INBOX", "e", 5, &err),
		state_drop_intent(state, "INBOX", "e", &err),
		state_forget(state, "INBOX", "a", &err),
		state_sync(state, &err),
	};
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
		assert_int_equal(results[i], YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "state opened read-only"));
	assert_true(state_contains(state, "INBOX", "a"));
	assert_int_equal(state_open_intents(state, &intents), 1);
	close_ok(state);

	size_t len;
	char *now = read_whole(state_file(fx, "journal"), &len);
	assert_int_equal(len, journal_len);
	assert_memory_equal(now, journal, len);
	free(now);
	now = read_whole(state_file(fx, "snapshot"), &len);
	assert_int_equal(len, snapshot_len);
	assert_memory_equal(now, snapshot, len);
	free(now);
	free(journal);
	free(snapshot);
}

/* ---- failures while writing -------------------------------------------- */

/* In a child (exit codes say which check failed): a write cut short by
   RLIMIT_FSIZE is undone, and a later sync succeeds. */
static void child_write_failure(const struct fixture *fx)
{
	signal(SIGXFSZ, SIG_IGN);
	struct state *state = NULL;
	struct yb_error err;
	if (state_open(fx->state_dir, ACCOUNT, false, &state, &err) != YB_OK)
		_exit(10);
	if (state_commit(state, "INBOX", "first", 1, &err) != YB_OK ||
	    state_sync(state, &err) != YB_OK)
		_exit(11);
	struct stat st;
	if (stat(state_file(fx, "journal"), &st) != 0)
		_exit(12);
	struct rlimit saved, low;
	if (getrlimit(RLIMIT_FSIZE, &saved) != 0)
		_exit(13);
	low = saved;
	low.rlim_cur = (rlim_t)st.st_size + 20;
	if (setrlimit(RLIMIT_FSIZE, &low) != 0)
		_exit(14);
	for (int i = 0; i < 5; i++) {
		char key[32];
		snprintf(key, sizeof(key), "later-%d", i);
		if (state_commit(state, "INBOX", key, 2, &err) != YB_OK)
			_exit(15);
	}
	if (state_sync(state, &err) != YB_ERR_IO || !strstr(err.msg, "journal"))
		_exit(16);
	struct stat after;
	if (stat(state_file(fx, "journal"), &after) != 0 ||
	    after.st_size != st.st_size)
		_exit(17);
	if (setrlimit(RLIMIT_FSIZE, &saved) != 0)
		_exit(18);
	if (state_sync(state, &err) != YB_OK)
		_exit(19);
	state_free(state);
	_exit(0);
}

static void test_failed_write_is_undone(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	assert_int_equal(run_child(fx, NULL, child_write_failure), 0);
	struct state *state = open_state(fx, false);
	assert_int_equal(state_count(state, "INBOX"), 6);
	assert_fetched_at(state, "INBOX", "later-4", 2);
	state_free(state);
}

static void test_large_pending_is_written_early(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	char key[1025];
	memset(key, '\x01', 1024);   /* 3 KiB escaped */
	key[1024] = '\0';
	for (int i = 0; i < 600; i++) {
		snprintf(key, 8, "%07d", i);
		key[7] = '\x01';
		commit(state, "INBOX", key, i);
	}
	/* More than a megabyte was buffered: some is in the file already. */
	assert_true(file_exists(state_file(fx, "journal")));
	assert_true(file_size(state_file(fx, "journal")) > 512 * 1024);
	sync_ok(state);
	state_free(state);
	state = open_state(fx, false);
	assert_int_equal(state_count(state, "INBOX"), 600);
	state_free(state);
}

/* ---- scale ------------------------------------------------------------- */

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void test_hundred_thousand_keys(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	enum { KEYS = 100000 };
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct state *state = open_state(fx, false);
	char key[64];
	for (int i = 0; i < KEYS; i++) {
		snprintf(key, sizeof(key), "%08x-uidl-%d", (unsigned)i * 2654435761u,
			 i);
		commit(state, "INBOX", key, i);
	}
	assert_int_equal(state_count(state, "INBOX"), KEYS);
	sync_ok(state);
	state_free(state);
	double write_time = seconds_since(&start);

	/* Replay a 100,001-line journal. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	state = open_state(fx, false);
	double replay_time = seconds_since(&start);
	for (int i = 0; i < KEYS; i++) {
		snprintf(key, sizeof(key), "%08x-uidl-%d", (unsigned)i * 2654435761u,
			 i);
		time_t when = 0;
		assert_true(state_fetched_at(state, "INBOX", key, &when));
		assert_int_equal((long long)when, i);
	}
	assert_false(state_contains(state, "INBOX", "absent"));
	assert_false(state_contains(state, "INBOX", "00000000-uidl-1"));
	assert_false(state_contains(state, "INBOX", "00000000-uidl-100000"));
	assert_false(state_contains(state, "Other", "00000000-uidl-0"));
	/* Remove every other key: the set's deletion keeps lookups right. */
	for (int i = 0; i < KEYS; i += 2) {
		snprintf(key, sizeof(key), "%08x-uidl-%d", (unsigned)i * 2654435761u,
			 i);
		forget(state, "INBOX", key);
	}
	assert_int_equal(state_count(state, "INBOX"), KEYS / 2);
	for (int i = 0; i < KEYS; i++) {
		snprintf(key, sizeof(key), "%08x-uidl-%d", (unsigned)i * 2654435761u,
			 i);
		assert_int_equal(state_contains(state, "INBOX", key), i % 2 == 1);
	}
	close_ok(state);
	state = open_state(fx, false);
	assert_int_equal(state_count(state, "INBOX"), KEYS / 2);
	state_free(state);
	print_message("# 100000 commits+sync %.3fs, journal replay %.3fs\n",
		      write_time, replay_time);
}

static void test_batched_commits_with_sync(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	enum { MESSAGES = 10000, BATCH = 64 };
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct state *state = open_state(fx, false);
	char key[32], dest[64];
	for (int first = 0; first < MESSAGES; first += BATCH) {
		int last = first + BATCH < MESSAGES ? first + BATCH : MESSAGES;
		for (int i = first; i < last; i++) {
			snprintf(key, sizeof(key), "msg-%d", i);
			snprintf(dest, sizeof(dest), "new/%d.M%dP1.host", i, i);
			intent(state, "INBOX", key, dest);
		}
		sync_ok(state);
		for (int i = first; i < last; i++) {
			snprintf(key, sizeof(key), "msg-%d", i);
			commit(state, "INBOX", key, 1700000000 + i);
		}
		sync_ok(state);
	}
	close_ok(state);
	double elapsed = seconds_since(&start);
	state = open_state(fx, false);
	assert_int_equal(state_count(state, "INBOX"), MESSAGES);
	assert_fetched_at(state, "INBOX", "msg-9999", 1700009999);
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 0);
	state_free(state);
	print_message("# 10000 messages in batches of 64: %.3fs\n", elapsed);
}

int main(int argc, char **argv)
{
#ifdef YUBIN_TEST_HOOKS
	test_program = argv[0];
	if (argc == 3 && strcmp(argv[1], COMPACT_CHILD_FLAG) == 0)
		return compact_child(argv[2]);
#else
	(void)argc;
	(void)argv;
#endif
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_close_empty),
		T(test_open_creates_missing_parents),
		T(test_bad_account_and_dir_refused),
		T(test_state_dir_is_a_file),
		T(test_free_and_close_accept_null),
		T(test_commit_reopen_sees_time),
		T(test_free_without_sync_writes_nothing),
		T(test_sync_makes_journal_durable),
		T(test_sync_with_nothing_pending_creates_nothing),
		T(test_journal_line_format),
		T(test_handwritten_journal_is_read),
		T(test_forget_removes),
		T(test_noop_changes_write_nothing),
		T(test_commit_keeps_first_time),
		T(test_intent_reported_after_reopen),
		T(test_intent_resolved_by_commit_persists),
		T(test_intent_resolved_by_drop_persists),
		T(test_intents_in_journal_order),
		T(test_same_key_two_mailboxes),
		T(test_foreach_and_count),
		T(test_invalid_inputs_refused),
		T(test_longest_fields_round_trip),
		T(test_escaping_round_trip),
		T(test_files_hold_only_printable_fields),
		T(test_torn_last_record_every_offset),
		T(test_torn_commit_leaves_intent_open),
		T(test_torn_journal_header),
		T(test_bad_checksum_on_last_line_dropped),
		T(test_corrupt_middle_line_is_error),
		T(test_valid_checksum_bad_record_is_error),
		T(test_raw_control_byte_in_field_is_error),
		T(test_long_lines),
		T(test_unknown_versions_are_errors),
		T(test_bad_journal_header_is_error),
		T(test_snapshot_corruption_is_error),
		T(test_snapshot_last_line_has_no_torn_excuse),
		T(test_snapshot_holds_only_m_records),
		T(test_compaction_keeps_state),
		T(test_compaction_skipped_while_intent_open),
		T(test_small_journal_not_compacted),
		T(test_crash_between_rename_and_unlink),
		T(test_stale_snapshot_new_ignored),
#ifdef YUBIN_TEST_HOOKS
		T(test_killed_during_compaction),
#endif
		T(test_lock_held_by_another_process),
		T(test_lock_read_only_also_locks),
#ifdef F_OFD_SETLK
		T(test_lock_held_in_same_process),
#endif
		T(test_read_only_writes_nothing),
		T(test_failed_write_is_undone),
		T(test_large_pending_is_written_early),
		T(test_hundred_thousand_keys),
		T(test_batched_commits_with_sync),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
