/*
 * test_state.c - the state journal and snapshot: replay, torn writes and
 * torn tails, corruption, dests, per-mailbox values, forgetting a mailbox,
 * compaction and its crash window, the lock, escaping, memory, scale.
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

/* Bytes the heap holds, where the allocator says (0 where not). */
#if defined(__SANITIZE_ADDRESS__)
#define STATE_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STATE_TEST_ASAN 1
#endif
#endif

#if defined(STATE_TEST_ASAN)
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#elif defined(__GLIBC__) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
static size_t heap_in_use(void)
{
	return mallinfo2().uordblks;
}
#else
static size_t heap_in_use(void)
{
	return 0;
}
#endif

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

static void set_dest(struct state *state, const char *mailbox, const char *key,
		     const char *dest)
{
	struct yb_error err;
	int rc = state_set_dest(state, mailbox, key, dest, &err);
	if (rc != YB_OK)
		print_error("state_set_dest: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

static void set_meta(struct state *state, const char *mailbox,
		     const char *name, const char *value)
{
	struct yb_error err;
	int rc = state_set_meta(state, mailbox, name, value, &err);
	if (rc != YB_OK)
		print_error("state_set_meta: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

static void forget_mailbox(struct state *state, const char *mailbox)
{
	struct yb_error err;
	int rc = state_forget_mailbox(state, mailbox, &err);
	if (rc != YB_OK)
		print_error("state_forget_mailbox: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

/* dest is NULL for "no dest recorded". */
static void assert_dest(const struct state *state, const char *mailbox,
			const char *key, const char *want)
{
	const char *got = state_dest(state, mailbox, key);
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
}

static void assert_meta(const struct state *state, const char *mailbox,
			const char *name, const char *want)
{
	const char *got = state_get_meta(state, mailbox, name);
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
}

/* A growable string for describing a whole state. */
struct text {
	char *data;   /* NUL-terminated */
	size_t len;
	size_t cap;
};

static void text_add(struct text *text, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void text_add(struct text *text, const char *fmt, ...)
{
	for (;;) {
		va_list args;
		va_start(args, fmt);
		int written = vsnprintf(text->data ? text->data + text->len : NULL,
					text->cap - text->len, fmt, args);
		va_end(args);
		assert_true(written >= 0);
		if ((size_t)written < text->cap - text->len) {
			text->len += (size_t)written;
			return;
		}
		text->cap = (text->cap + (size_t)written + 1) * 2;
		text->data = realloc(text->data, text->cap);
		assert_non_null(text->data);
	}
}

/* The mailboxes and value names the state tests use. */
static const char *const KNOWN_MAILBOXES[] = {
	"INBOX", "Lists/rust", "Archive", "Gone", "Temp", "-",
};
static const char *const KNOWN_META[] = {
	"uidvalidity", "uidnext", "highestmodseq", "x",
};
#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/*
 * Everything observable about the known mailboxes, as text: sorted keys
 * with time and dest, then values, then open intents.  Two states are
 * the same if their descriptions are.
 */
static char *describe_state(const struct state *state)
{
	struct text text = { NULL, 0, 0 };
	text_add(&text, "%s", "");
	for (size_t m = 0; m < COUNT_OF(KNOWN_MAILBOXES); m++) {
		const char *mailbox = KNOWN_MAILBOXES[m];
		struct pairs pairs = collect(state, mailbox);
		text_add(&text, "[%s] %zu\n", mailbox, pairs.count);
		for (size_t i = 0; i < pairs.count; i++) {
			const char *dest = state_dest(state, mailbox,
						      pairs.items[i].key);
			text_add(&text, "%s %lld %s%s", pairs.items[i].key,
				 (long long)pairs.items[i].fetched_at,
				 dest ? "=" : "(none)", dest ? dest : "");
			uint64_t size;
			if (state_listed_size(state, mailbox, pairs.items[i].key,
					      &size))
				text_add(&text, " size %llu",
					 (unsigned long long)size);
			time_t since;
			unsigned long runs;
			if (state_missing(state, mailbox, pairs.items[i].key,
					  &since, &runs))
				text_add(&text, " missing %lu since %lld", runs,
					 (long long)since);
			text_add(&text, "%s", "\n");
		}
		pairs_free(&pairs);
		for (size_t n = 0; n < COUNT_OF(KNOWN_META); n++) {
			const char *value = state_get_meta(state, mailbox,
							   KNOWN_META[n]);
			if (value)
				text_add(&text, "@%s=%s\n", KNOWN_META[n], value);
		}
	}
	char intents[4096];
	intents_text(state, intents, sizeof(intents));
	text_add(&text, "intents: %s\n", intents);
	return text.data;
}

/* Does text hold line (without its newline) as a whole line? */
static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	for (const char *at = text; (at = strstr(at, line)) != NULL; at++)
		if ((at == text || at[-1] == '\n') && at[len] == '\n')
			return true;
	return false;
}

static size_t count_lines(const char *text, size_t len)
{
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	return lines;
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

/* ---- where delivered keys are (dest) ----------------------------------- */

static void test_commit_keeps_intent_dest(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	intent(state, "INBOX", "with", "new/1.M1P1.host");
	commit(state, "INBOX", "with", 10);
	commit(state, "INBOX", "without", 11);
	/* The intent of another key, or another mailbox, is not this one's. */
	intent(state, "Other", "without2", "new/other");
	commit(state, "INBOX", "without2", 12);
	assert_dest(state, "INBOX", "with", "new/1.M1P1.host");
	assert_dest(state, "INBOX", "without", NULL);
	assert_dest(state, "INBOX", "without2", NULL);
	assert_dest(state, "INBOX", "absent", NULL);
	assert_dest(state, "Nowhere", "with", NULL);
	drop(state, "Other", "without2");
	sync_ok(state);
	state_free(state);

	/* Replayed from the journal... */
	state = open_state(fx, false);
	assert_dest(state, "INBOX", "with", "new/1.M1P1.host");
	assert_dest(state, "INBOX", "without", NULL);
	assert_dest(state, "INBOX", "without2", NULL);
	close_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));

	/* ...and from the snapshot. */
	state = open_state(fx, false);
	assert_dest(state, "INBOX", "with", "new/1.M1P1.host");
	assert_dest(state, "INBOX", "without", NULL);
	assert_fetched_at(state, "INBOX", "without2", 12);
	/* Forgotten: no dest; delivered again without an intent: still none. */
	forget(state, "INBOX", "with");
	assert_dest(state, "INBOX", "with", NULL);
	commit(state, "INBOX", "with", 13);
	assert_dest(state, "INBOX", "with", NULL);
	close_ok(state);
	state = open_state(fx, false);
	assert_dest(state, "INBOX", "with", NULL);
	assert_fetched_at(state, "INBOX", "with", 13);
	state_free(state);
}

static void test_redelivery_takes_new_dest_keeps_time(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	intent(state, "INBOX", "k", "new/first");
	commit(state, "INBOX", "k", 100);
	close_ok(state);
	state = open_state(fx, false);
	intent(state, "INBOX", "k", "new/second");
	/* The open intent does not change the recorded dest yet. */
	assert_dest(state, "INBOX", "k", "new/first");
	commit(state, "INBOX", "k", 200);
	assert_dest(state, "INBOX", "k", "new/second");
	assert_fetched_at(state, "INBOX", "k", 100);
	/* Committing again without an intent changes nothing. */
	sync_ok(state);
	long size = file_size(state_file(fx, "journal"));
	commit(state, "INBOX", "k", 300);
	sync_ok(state);
	assert_int_equal(file_size(state_file(fx, "journal")), size);
	assert_dest(state, "INBOX", "k", "new/second");
	state_free(state);
	state = open_state(fx, false);
	assert_dest(state, "INBOX", "k", "new/second");
	assert_fetched_at(state, "INBOX", "k", 100);
	state_free(state);
}

static void test_set_dest_persists(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	intent(state, "INBOX", "k", "new/k");
	commit(state, "INBOX", "k", 1);
	commit(state, "INBOX", "bare", 2);
	set_dest(state, "INBOX", "k", "cur/k:2,S");
	set_dest(state, "INBOX", "k", "cur/k:2,RS");
	set_dest(state, "INBOX", "bare", "cur/bare:2,");
	assert_dest(state, "INBOX", "k", "cur/k:2,RS");
	assert_dest(state, "INBOX", "bare", "cur/bare:2,");
	/* The same dest again writes nothing. */
	sync_ok(state);
	long size = file_size(state_file(fx, "journal"));
	set_dest(state, "INBOX", "k", "cur/k:2,RS");
	sync_ok(state);
	assert_int_equal(file_size(state_file(fx, "journal")), size);
	char *journal = read_whole(state_file(fx, "journal"), NULL);
	char want[128] = "";
	append_line(want, sizeof(want), "D INBOX k cur/k:2,RS");
	want[strlen(want) - 1] = '\0';
	assert_true(has_line(journal, want));
	free(journal);
	state_free(state);

	state = open_state(fx, false);
	assert_dest(state, "INBOX", "k", "cur/k:2,RS");
	assert_dest(state, "INBOX", "bare", "cur/bare:2,");
	assert_fetched_at(state, "INBOX", "k", 1);
	close_ok(state);
	state = open_state(fx, false);
	assert_dest(state, "INBOX", "k", "cur/k:2,RS");
	assert_dest(state, "INBOX", "bare", "cur/bare:2,");
	set_dest(state, "INBOX", "k", "cur/k:2,");
	close_ok(state);
	state = open_state(fx, false);
	assert_dest(state, "INBOX", "k", "cur/k:2,");
	state_free(state);
}

static void test_set_dest_refusals(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "k", 1);
	sync_ok(state);
	long size = file_size(state_file(fx, "journal"));
	char long_dest[4098];
	memset(long_dest, 'd', 4097);
	long_dest[4097] = '\0';
	char long_key[1026];
	memset(long_key, 'k', 1025);
	long_key[1025] = '\0';
	struct yb_error err;

	assert_int_equal(state_set_dest(state, "INBOX", "k", "", &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "empty destination"));
	assert_int_equal(state_set_dest(state, "INBOX", "k", NULL, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_dest(state, "INBOX", "k", long_dest, &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "4096"));
	assert_int_equal(state_set_dest(state, "INBOX", "", "d", &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_dest(state, "INBOX", long_key, "d", &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_dest(state, "", "k", "d", &err),
			 YB_ERR_INTERNAL);
	/* Only a delivered key has a dest to change. */
	assert_int_equal(state_set_dest(state, "INBOX", "other\n", "d", &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "not recorded as delivered"));
	assert_non_null(strstr(err.msg, "other\\x0a"));
	intent(state, "INBOX", "pending", "new/p");
	assert_int_equal(state_set_dest(state, "INBOX", "pending", "d", &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_dest(state, "Other", "k", "d", &err),
			 YB_ERR_INTERNAL);
	drop(state, "INBOX", "pending");

	assert_dest(state, "INBOX", "k", NULL);
	assert_dest(state, "INBOX", "pending", NULL);
	sync_ok(state);
	/* Only the intent and its drop were recorded. */
	char *journal = read_whole(state_file(fx, "journal"), NULL);
	assert_null(strstr(journal, "\nD "));
	free(journal);
	assert_true(file_size(state_file(fx, "journal")) > size);
	state_free(state);

	state = open_state(fx, true);
	assert_int_equal(state_set_dest(state, "INBOX", "k", "d", &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "read-only"));
	state_free(state);
}

/* The snapshot holds the current header, exactly count record lines,
   each of bodies (checksummed) among them, and the trailer. */
static void assert_snapshot_lines(const struct fixture *fx,
				  const char *const *bodies, size_t count)
{
	size_t len;
	char *snapshot = read_whole(state_file(fx, "snapshot"), &len);
	assert_int_equal(count_lines(snapshot, len), count + 2);
	assert_memory_equal(snapshot, "yubin-snapshot 3\n", 17);
	for (size_t i = 0; i < count; i++) {
		char want[128] = "";
		append_line(want, sizeof(want), bodies[i]);
		want[strlen(want) - 1] = '\0';
		if (!has_line(snapshot, want))
			print_error("missing: %s\n", want);
		assert_true(has_line(snapshot, want));
	}
	free(snapshot);
}

static void test_snapshot_dest_encoding(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	intent(state, "INBOX", "with", "new/a b%");
	commit(state, "INBOX", "with", 1);
	commit(state, "INBOX", "none", 2);
	intent(state, "INBOX", "dash", "-");
	commit(state, "INBOX", "dash", 3);
	intent(state, "INBOX", "-", "--");
	commit(state, "INBOX", "-", 4);
	intent(state, "-", "x", "-x");
	commit(state, "-", "x", 5);
	close_ok(state);

	const char *bodies[] = {
		"M INBOX with 1 new/a%20b%25", "M INBOX none 2 -",
		"M INBOX dash 3 %2D", "M INBOX %2D 4 --", "M %2D x 5 -x",
	};
	assert_snapshot_lines(fx, bodies, COUNT_OF(bodies));

	state = open_state(fx, false);
	assert_dest(state, "INBOX", "with", "new/a b%");
	assert_dest(state, "INBOX", "none", NULL);
	assert_dest(state, "INBOX", "dash", "-");
	assert_dest(state, "INBOX", "-", "--");
	assert_dest(state, "-", "x", "-x");
	assert_fetched_at(state, "-", "x", 5);
	state_free(state);
}

static void test_handwritten_snapshot_with_dests_and_values(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	ensure_account_dir(fx);
	char text[1024] = "yubin-snapshot 1\n";
	append_line(text, sizeof(text), "M INBOX old 1");      /* no DEST */
	append_line(text, sizeof(text), "M INBOX none 2 -");
	append_line(text, sizeof(text), "M INBOX dash 3 %2d");
	append_line(text, sizeof(text), "M INBOX full 4 cur/x%3A2,S");
	append_line(text, sizeof(text), "V INBOX uidvalidity 1700000000");
	append_line(text, sizeof(text), "V INBOX x a%20b%25c");
	append_line(text, sizeof(text), "M - - 5 -");
	write_whole(state_file(fx, "snapshot"), text, strlen(text));
	struct state *state = open_state(fx, false);
	assert_fetched_at(state, "INBOX", "old", 1);
	assert_dest(state, "INBOX", "old", NULL);
	assert_dest(state, "INBOX", "none", NULL);
	assert_dest(state, "INBOX", "dash", "-");
	assert_dest(state, "INBOX", "full", "cur/x:2,S");
	assert_meta(state, "INBOX", "uidvalidity", "1700000000");
	assert_meta(state, "INBOX", "x", "a b%c");
	/* Where a field is required, "-" is the text "-". */
	assert_fetched_at(state, "-", "-", 5);
	assert_dest(state, "-", "-", NULL);
	state_free(state);
}

static void test_bad_new_records_are_errors(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	/* Checksummed journal lines that no writer produces. */
	const char *journal_cases[] = {
		"D INBOX ok", "D INBOX ok d e", "V INBOX uidnext", "V INBOX Big 1",
		"V INBOX a-b 1", "V INBOX a%20b 1", "V INBOX x %09",
		"V INBOX x a%7Fb", "G", "G INBOX extra",
		"M INBOX a 1 -", "V INBOX x 1 2",
	};
	for (size_t i = 0; i < COUNT_OF(journal_cases); i++) {
		const char *bodies[] = { "C INBOX ok 1", journal_cases[i] };
		write_journal_lines(fx, "yubin-journal 1\n", bodies, 2);
		const char *msg = open_fails(fx, YB_ERR_CONFIG);
		char want[PATH_BUF + 8];
		snprintf(want, sizeof(want), "%s:3:", state_file(fx, "journal"));
		if (!strstr(msg, want))
			print_error("case %zu: %s\n", i, msg);
		assert_non_null(strstr(msg, want));
	}
	remove(state_file(fx, "journal"));

	/* Snapshot lines: only M and V, and those well-formed. */
	const char *snapshot_cases[] = {
		"M INBOX a 1 d extra", "D INBOX a d", "G INBOX", "I INBOX a d",
		"V INBOX UIDNEXT 1", "M INBOX a 1 %00",
		/* M's SIZE (version 3): a decimal number of 64 bits. */
		"M INBOX a 1 - x", "M INBOX a 1 - -1", "M INBOX a 1 new/a 5 6",
		"M INBOX a 1 - 99999999999999999999",
	};
	for (size_t i = 0; i < COUNT_OF(snapshot_cases); i++) {
		char text[256] = "yubin-snapshot 1\n";
		append_line(text, sizeof(text), "M INBOX ok 1 -");
		append_line(text, sizeof(text), snapshot_cases[i]);
		write_whole(state_file(fx, "snapshot"), text, strlen(text));
		const char *msg = open_fails(fx, YB_ERR_CONFIG);
		if (!strstr(msg, "snapshot:3:"))
			print_error("case %zu: %s\n", i, msg);
		assert_non_null(strstr(msg, "snapshot:3:"));
	}
}

/*
 * Version 3: a key's listed size rides on its M line (after DEST, "-"
 * when there is none), one line a POP3 message (a bad size there:
 * test_bad_new_records_are_errors).
 */
static void test_size_on_the_m_line(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct yb_error err;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "a", 1);
	commit(state, "INBOX", "b", 2);
	intent(state, "INBOX", "c", "new/c");
	commit(state, "INBOX", "c", 3);
	assert_int_equal(state_set_listed_size(state, "INBOX", "a", 1234, &err),
			 YB_OK);
	assert_int_equal(state_set_listed_size(state, "INBOX", "c", 0, &err),
			 YB_OK);
	close_ok(state);
	/* One line a key. */
	const char *bodies[] = {
		"M INBOX a 1 - 1234", "M INBOX b 2 -", "M INBOX c 3 new/c 0",
	};
	assert_snapshot_lines(fx, bodies, COUNT_OF(bodies));
	state = open_state(fx, false);
	uint64_t size = 1;
	assert_true(state_listed_size(state, "INBOX", "a", &size));
	assert_int_equal(size, 1234);
	assert_false(state_listed_size(state, "INBOX", "b", &size));
	assert_true(state_listed_size(state, "INBOX", "c", &size));
	assert_int_equal(size, 0);
	assert_dest(state, "INBOX", "c", "new/c");
	state_free(state);
}

static void test_longest_dest_in_snapshot(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	char mailbox[1025], key[1025], dest[4097];
	memset(mailbox, ' ', 1024);
	mailbox[1024] = '\0';
	memset(key, '\x01', 1024);
	key[1024] = '\0';
	memset(dest, '%', 4096);
	dest[4096] = '\0';
	struct state *state = open_state(fx, false);
	intent(state, mailbox, key, "new/short");
	commit(state, mailbox, key, INT32_MAX);
	set_dest(state, mailbox, key, dest);
	close_ok(state);
	assert_true(file_exists(state_file(fx, "snapshot")));
	state = open_state(fx, false);
	assert_dest(state, mailbox, key, dest);
	assert_fetched_at(state, mailbox, key, INT32_MAX);
	state_free(state);
}

/* ---- per-mailbox values ------------------------------------------------ */

static void test_meta_set_get_persist(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	assert_meta(state, "INBOX", "uidvalidity", NULL);
	set_meta(state, "INBOX", "uidvalidity", "1700000000");
	set_meta(state, "INBOX", "uidnext", "10");
	set_meta(state, "INBOX", "uidnext", "25");
	set_meta(state, "Lists/rust", "uidnext", "3");
	set_meta(state, "Lists/rust", "x", " a b%c~ ");
	assert_meta(state, "INBOX", "uidvalidity", "1700000000");
	assert_meta(state, "INBOX", "uidnext", "25");
	assert_meta(state, "Lists/rust", "uidnext", "3");
	assert_meta(state, "Lists/rust", "x", " a b%c~ ");
	assert_meta(state, "INBOX", "highestmodseq", NULL);
	assert_meta(state, "Nowhere", "uidnext", NULL);
	/* Values are no keys. */
	assert_int_equal(state_count(state, "INBOX"), 0);
	assert_false(state_contains(state, "INBOX", "uidnext"));
	/* Setting the same value again writes nothing. */
	sync_ok(state);
	long size = file_size(state_file(fx, "journal"));
	set_meta(state, "INBOX", "uidnext", "25");
	sync_ok(state);
	assert_int_equal(file_size(state_file(fx, "journal")), size);
	char *journal = read_whole(state_file(fx, "journal"), NULL);
	char want[128] = "";
	append_line(want, sizeof(want), "V Lists/rust x %20a%20b%25c~%20");
	want[strlen(want) - 1] = '\0';
	assert_true(has_line(journal, want));
	free(journal);
	state_free(state);

	/* Replayed from the journal... */
	state = open_state(fx, false);
	assert_meta(state, "INBOX", "uidvalidity", "1700000000");
	assert_meta(state, "INBOX", "uidnext", "25");
	assert_meta(state, "Lists/rust", "x", " a b%c~ ");
	set_meta(state, "INBOX", "uidnext", "26");
	close_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));

	/* ...and from the snapshot, which holds one V line per value. */
	size_t len;
	char *snapshot = read_whole(state_file(fx, "snapshot"), &len);
	assert_int_equal(count_lines(snapshot, len), 6); /* with the trailer */
	want[0] = '\0';
	append_line(want, sizeof(want), "V INBOX uidnext 26");
	want[strlen(want) - 1] = '\0';
	assert_true(has_line(snapshot, want));
	free(snapshot);
	state = open_state(fx, false);
	assert_meta(state, "INBOX", "uidvalidity", "1700000000");
	assert_meta(state, "INBOX", "uidnext", "26");
	assert_meta(state, "Lists/rust", "uidnext", "3");
	assert_meta(state, "Lists/rust", "x", " a b%c~ ");
	state_free(state);
}

static void test_meta_limits(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	char name64[65], value1024[1025];
	memset(name64, 'n', 64);
	name64[64] = '\0';
	memset(value1024, '~', 1024);
	value1024[1024] = '\0';
	struct state *state = open_state(fx, false);
	set_meta(state, "INBOX", name64, value1024);
	set_meta(state, "INBOX", "a_0_z_9", "0");
	set_meta(state, "INBOX", "path", "/home/a/Mail/Entw\xc3\xbcrfe");
	close_ok(state);
	state = open_state(fx, false);
	assert_meta(state, "INBOX", name64, value1024);
	assert_meta(state, "INBOX", "a_0_z_9", "0");
	assert_meta(state, "INBOX", "path", "/home/a/Mail/Entw\xc3\xbcrfe");
	state_free(state);
}

static void test_meta_refusals(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	char name65[66], value1025[4098], long_mailbox[1026];
	memset(name65, 'n', 65);
	name65[65] = '\0';
	memset(value1025, 'v', 4097);
	value1025[4097] = '\0';
	memset(long_mailbox, 'm', 1025);
	long_mailbox[1025] = '\0';
	struct state *state = open_state(fx, false);
	const char *bad_names[] = {
		"", "UIDNEXT", "uid-next", "uid next", "uid.next", "\xc3\xa4",
		"a\n", name65,
	};
	const char *bad_values[] = {
		"", "tab\there", "new\nline", "del\x7f", "\x1b[0m",
		value1025,
	};
	struct yb_error err;
	for (size_t i = 0; i < COUNT_OF(bad_names); i++) {
		assert_int_equal(state_set_meta(state, "INBOX", bad_names[i], "1",
						&err),
				 YB_ERR_INTERNAL);
		assert_non_null(strstr(err.msg, "refused"));
		/* The message shows the name safely. */
		for (const char *c = err.msg; *c; c++)
			assert_true(*c >= 0x20 && *c < 0x7f);
	}
	assert_non_null(strstr(err.msg, "too long"));
	for (size_t i = 0; i < COUNT_OF(bad_values); i++) {
		assert_int_equal(state_set_meta(state, "INBOX", "x", bad_values[i],
						&err),
				 YB_ERR_INTERNAL);
		assert_non_null(strstr(err.msg, "refused"));
	}
	assert_int_equal(state_set_meta(state, "INBOX", NULL, "1", &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_meta(state, "INBOX", "x", NULL, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_meta(state, "", "x", "1", &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_meta(state, long_mailbox, "x", "1", &err),
			 YB_ERR_INTERNAL);
	assert_meta(state, "INBOX", "x", NULL);
	sync_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));
	state_free(state);

	state = open_state(fx, true);
	assert_int_equal(state_set_meta(state, "INBOX", "x", "1", &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "read-only"));
	state_free(state);
}

static void test_meta_per_mailbox_cap(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	char name[16];
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		set_meta(state, "INBOX", name, "1");
	}
	struct yb_error err;
	assert_int_equal(state_set_meta(state, "INBOX", "one_more", "1", &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "64"));
	/* Changing a value it holds, and another mailbox, still work. */
	set_meta(state, "INBOX", "v7", "2");
	set_meta(state, "Other", "one_more", "1");
	close_ok(state);
	state = open_state(fx, false);
	assert_meta(state, "INBOX", "v7", "2");
	assert_meta(state, "INBOX", "v63", "1");
	assert_meta(state, "INBOX", "one_more", NULL);
	state_free(state);

	/* A snapshot holding more than the cap is corrupt. */
	static char text[16 * 1024];
	snprintf(text, sizeof(text), "yubin-snapshot 1\n");
	for (int i = 0; i < 65; i++) {
		char body[64];
		snprintf(body, sizeof(body), "V INBOX v%d 1", i);
		append_line(text, sizeof(text), body);
	}
	write_whole(state_file(fx, "snapshot"), text, strlen(text));
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "snapshot:66:"));
	assert_non_null(strstr(msg, "too many values"));
}

/* ---- forgetting a mailbox ---------------------------------------------- */

static void fill_mailbox(struct state *state, const char *mailbox, int keys)
{
	for (int i = 0; i < keys; i++) {
		char key[32], dest[64];
		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(dest, sizeof(dest), "new/%d.M%dP1.host", i, i);
		intent(state, mailbox, key, dest);
		commit(state, mailbox, key, 1000 + i);
	}
	set_meta(state, mailbox, "uidvalidity", "42");
	set_meta(state, mailbox, "uidnext", "43");
}

static void test_forget_mailbox(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	fill_mailbox(state, "INBOX", 20);
	fill_mailbox(state, "Archive", 5);
	close_ok(state);

	state = open_state(fx, false);
	sync_ok(state);
	forget_mailbox(state, "INBOX");
	assert_int_equal(state_count(state, "INBOX"), 0);
	assert_false(state_contains(state, "INBOX", "key-0"));
	assert_dest(state, "INBOX", "key-0", NULL);
	assert_meta(state, "INBOX", "uidvalidity", NULL);
	assert_meta(state, "INBOX", "uidnext", NULL);
	assert_int_equal(state_count(state, "Archive"), 5);
	assert_meta(state, "Archive", "uidnext", "43");
	/* One record: a new journal holds its header and that line. */
	sync_ok(state);
	char want[128] = "yubin-journal 1\n";
	append_line(want, sizeof(want), "G INBOX");
	char *journal = read_whole(state_file(fx, "journal"), NULL);
	assert_string_equal(journal, want);
	free(journal);
	/* Forgetting what is not there records nothing. */
	forget_mailbox(state, "INBOX");
	forget_mailbox(state, "Nowhere");
	sync_ok(state);
	assert_int_equal(file_size(state_file(fx, "journal")), (long)strlen(want));
	state_free(state);

	/* Replayed from the journal... */
	state = open_state(fx, false);
	assert_int_equal(state_count(state, "INBOX"), 0);
	assert_meta(state, "INBOX", "uidvalidity", NULL);
	assert_int_equal(state_count(state, "Archive"), 5);
	assert_dest(state, "Archive", "key-4", "new/4.M4P1.host");
	/* The mailbox starts afresh. */
	commit(state, "INBOX", "key-0", 5);
	set_meta(state, "INBOX", "uidvalidity", "43");
	close_ok(state);

	/* ...and once more (test_rich_state_replay_and_compaction compacts). */
	state = open_state(fx, false);
	assert_int_equal(state_count(state, "INBOX"), 1);
	assert_fetched_at(state, "INBOX", "key-0", 5);
	assert_dest(state, "INBOX", "key-0", NULL);
	assert_meta(state, "INBOX", "uidvalidity", "43");
	assert_meta(state, "INBOX", "uidnext", NULL);
	assert_meta(state, "Archive", "uidvalidity", "42");
	forget_mailbox(state, "Archive");
	forget_mailbox(state, "INBOX");
	close_ok(state);
	state = open_state(fx, false);
	assert_int_equal(state_count(state, "INBOX"), 0);
	assert_int_equal(state_count(state, "Archive"), 0);
	assert_meta(state, "Archive", "uidvalidity", NULL);
	assert_meta(state, "INBOX", "uidvalidity", NULL);
	state_free(state);
}

static void test_forget_mailbox_with_only_values(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	set_meta(state, "INBOX", "uidvalidity", "1");
	forget_mailbox(state, "INBOX");
	assert_meta(state, "INBOX", "uidvalidity", NULL);
	sync_ok(state);
	state_free(state);
	state = open_state(fx, false);
	assert_meta(state, "INBOX", "uidvalidity", NULL);
	state_free(state);
}

static void test_forget_mailbox_refusals(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	fill_mailbox(state, "INBOX", 3);
	intent(state, "INBOX", "pending", "new/p");
	intent(state, "Other", "pending", "new/o");
	sync_ok(state);
	long size = file_size(state_file(fx, "journal"));
	struct yb_error err;
	assert_int_equal(state_forget_mailbox(state, "INBOX", &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "open intent"));
	assert_non_null(strstr(err.msg, "INBOX"));
	char long_mailbox[1026];
	memset(long_mailbox, 'm', 1025);
	long_mailbox[1025] = '\0';
	assert_int_equal(state_forget_mailbox(state, "", &err), YB_ERR_INTERNAL);
	assert_int_equal(state_forget_mailbox(state, NULL, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_forget_mailbox(state, long_mailbox, &err),
			 YB_ERR_INTERNAL);
	/* Nothing changed, nothing was written. */
	assert_int_equal(state_count(state, "INBOX"), 3);
	assert_meta(state, "INBOX", "uidnext", "43");
	const struct state_intent *intents = NULL;
	assert_int_equal(state_open_intents(state, &intents), 2);
	sync_ok(state);
	assert_int_equal(file_size(state_file(fx, "journal")), size);
	/* Once the intent is resolved, it goes. */
	drop(state, "INBOX", "pending");
	forget_mailbox(state, "INBOX");
	assert_int_equal(state_count(state, "INBOX"), 0);
	assert_int_equal(state_open_intents(state, &intents), 1);
	assert_string_equal(intents[0].mailbox, "Other");
	sync_ok(state);
	state_free(state);

	state = open_state(fx, true);
	assert_int_equal(state_forget_mailbox(state, "Other", &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "read-only"));
	state_free(state);

	/* A journal that forgets a mailbox under an open intent is corrupt. */
	const char *bodies[] = { "C INBOX a 1", "I INBOX b new/b", "G INBOX" };
	write_journal_lines(fx, "yubin-journal 1\n", bodies, 3);
	remove(state_file(fx, "snapshot"));
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "journal:4:"));
	assert_non_null(strstr(msg, "open intent"));
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
		/* The header, the records and (snapshot) the trailer. */
		assert_int_equal(lines, ODD_KEY_COUNT + 1 + n);
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

/* ---- torn tails: what a power loss leaves past the last sync ----------- */

/* Deterministic pseudo-random bytes with a newline about every 40. */
static void random_garbage(char *out, size_t len, uint32_t seed)
{
	uint32_t x = seed;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		unsigned char byte = (unsigned char)(x >> 16);
		out[i] = byte % 40 == 0 ? '\n' : (char)byte;
	}
}

/* One kind of garbage a crash can leave: bytes and a name for messages. */
struct garbage {
	const char *name;
	char *bytes;   /* owned */
	size_t len;
};

static struct garbage make_garbage(const char *name, const char *bytes,
				   size_t len)
{
	struct garbage g = { name, malloc(len + 1), len };
	assert_non_null(g.bytes);
	memcpy(g.bytes, bytes, len);
	return g;
}

/* Several kinds; the ones that end in a newline come first (n_newline). */
static size_t garbage_kinds(struct garbage *out, size_t max,
			    size_t *n_newline)
{
	size_t n = 0;
	static const char half_lines[] =
		"C INBOX half 1\nI INBOX q new/q #12345678\nC INB\n";
	out[n++] = make_garbage("half lines", half_lines,
				strlen(half_lines));
	char zeros[4097];
	memset(zeros, 0, sizeof(zeros));
	zeros[4096] = '\n';
	out[n++] = make_garbage("zero page, newline", zeros, 4097);
	char noise[3001];
	random_garbage(noise, 3000, 7);
	noise[3000] = '\n';
	out[n++] = make_garbage("random bytes", noise, 3001);
	char wrong_crc[64] = "";
	snprintf(wrong_crc, sizeof(wrong_crc), "C INBOX z 3 #00000000\n\n\n");
	out[n++] = make_garbage("wrong checksum, empty lines", wrong_crc,
				strlen(wrong_crc));
	*n_newline = n;
	out[n++] = make_garbage("zero page", zeros, 4096);
	char mixed[4096 + 12 + 8192];
	memset(mixed, 0, sizeof(mixed));
	memcpy(mixed + 4096, "C INBOX x 1\n", 12);
	out[n++] = make_garbage("zeros, half line, zeros", mixed,
				sizeof(mixed));
	size_t long_len = 40 * 1024;
	char *long_line = malloc(long_len + 6);
	assert_non_null(long_line);
	memset(long_line, 'x', long_len);
	memcpy(long_line + long_len, "\nhalf", 5);
	out[n++] = make_garbage("long line, half line", long_line,
				long_len + 5);
	free(long_line);
	random_garbage(noise, 3000, 11);
	out[n++] = make_garbage("random bytes, no last newline", noise, 3000);
	assert_true(n <= max);
	return n;
}

static void garbage_free(struct garbage *kinds, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(kinds[i].bytes);
}

/* Write the journal as good[0..good_len) followed by garbage. */
static void write_with_garbage(const struct fixture *fx, const char *good,
			       size_t good_len, const struct garbage *g,
			       const char *after)
{
	size_t after_len = after ? strlen(after) : 0;
	size_t total = good_len + g->len + after_len;
	char *text = malloc(total);
	assert_non_null(text);
	memcpy(text, good, good_len);
	memcpy(text + good_len, g->bytes, g->len);
	if (after_len)
		memcpy(text + good_len + g->len, after, after_len);
	write_whole(state_file(fx, "journal"), text, total);
	free(text);
}

/* A journal of good records; returns it (and its length). */
static char *good_journal(const struct fixture *fx, size_t *len)
{
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "a", 1);
	intent(state, "INBOX", "b", "new/b");
	commit(state, "INBOX", "b", 2);
	set_meta(state, "INBOX", "uidnext", "3");
	intent(state, "INBOX", "open", "new/open");
	sync_ok(state);
	state_free(state);
	return read_whole(state_file(fx, "journal"), len);
}

static void assert_good_journal_state(const struct state *state)
{
	assert_fetched_at(state, "INBOX", "a", 1);
	assert_fetched_at(state, "INBOX", "b", 2);
	assert_dest(state, "INBOX", "b", "new/b");
	assert_meta(state, "INBOX", "uidnext", "3");
	assert_int_equal(state_count(state, "INBOX"), 2);
	char text[256];
	intents_text(state, text, sizeof(text));
	assert_string_equal(text, "INBOX|open|new/open;");
}

static void test_torn_tail_of_garbage_dropped(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	size_t good_len;
	char *good = good_journal(fx, &good_len);
	struct garbage kinds[16];
	size_t n_newline;
	size_t count = garbage_kinds(kinds, 16, &n_newline);
	for (size_t i = 0; i < count; i++) {
		print_message("# garbage: %s\n", kinds[i].name);
		write_with_garbage(fx, good, good_len, &kinds[i], NULL);
		long torn_size = (long)(good_len + kinds[i].len);

		/* Read-only: the same state, the file left as it is. */
		struct state *state = open_state(fx, true);
		assert_good_journal_state(state);
		state_free(state);
		assert_int_equal(file_size(state_file(fx, "journal")), torn_size);

		/* A writer cuts the tail away, back to the last good line. */
		state = open_state(fx, false);
		assert_good_journal_state(state);
		assert_int_equal(file_size(state_file(fx, "journal")),
				 (long)good_len);
		commit(state, "INBOX", "open", 9);
		sync_ok(state);
		state_free(state);
		state = open_state(fx, false);
		assert_fetched_at(state, "INBOX", "open", 9);
		assert_dest(state, "INBOX", "open", "new/open");
		state_free(state);
	}
	garbage_free(kinds, count);
	free(good);
}

static void test_journal_of_only_garbage_emptied(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct garbage kinds[16];
	size_t n_newline;
	size_t count = garbage_kinds(kinds, 16, &n_newline);
	ensure_account_dir(fx);
	for (size_t i = 0; i < count; i++) {
		/* Even the header never reached the disk. */
		write_with_garbage(fx, "", 0, &kinds[i], NULL);
		struct state *state = open_state(fx, false);
		assert_int_equal(state_count(state, "INBOX"), 0);
		assert_int_equal(file_size(state_file(fx, "journal")), 0);
		commit(state, "INBOX", "k", 8);
		sync_ok(state);
		state_free(state);
		char *text = read_whole(state_file(fx, "journal"), NULL);
		assert_memory_equal(text, "yubin-journal 1\nC INBOX k 8 #", 29);
		free(text);
		remove(state_file(fx, "journal"));
	}
	garbage_free(kinds, count);
}

static void test_garbage_then_good_record_is_error(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	size_t good_len;
	char *good = good_journal(fx, &good_len);
	unsigned long first_bad = (unsigned long)count_lines(good, good_len) + 1;
	char record[64] = "";
	append_line(record, sizeof(record), "C INBOX late 5");
	struct garbage kinds[16];
	size_t n_newline;
	size_t count = garbage_kinds(kinds, 16, &n_newline);
	/* Only garbage that ends its line leaves the record a line of its own. */
	for (size_t i = 0; i < n_newline; i++) {
		print_message("# garbage: %s\n", kinds[i].name);
		write_with_garbage(fx, good, good_len, &kinds[i], record);
		long size = file_size(state_file(fx, "journal"));
		unsigned long record_line =
			first_bad + (unsigned long)count_lines(kinds[i].bytes,
							       kinds[i].len);
		const char *msg = open_fails(fx, YB_ERR_CONFIG);
		char want[PATH_BUF + 32];
		snprintf(want, sizeof(want), "%s:%lu: corrupt record (",
			 state_file(fx, "journal"), first_bad);
		if (!strstr(msg, want))
			print_error("%s\n", msg);
		assert_non_null(strstr(msg, want));
		snprintf(want, sizeof(want), "followed by a good record at line %lu",
			 record_line);
		assert_non_null(strstr(msg, want));
		assert_non_null(strstr(msg, "move the file away"));
		/* Nothing was cut away. */
		assert_int_equal(file_size(state_file(fx, "journal")), size);
	}
	garbage_free(kinds, count);
	free(good);
}

static void test_garbage_then_checksummed_nonsense_is_error(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	size_t good_len;
	char *good = good_journal(fx, &good_len);
	unsigned long first_bad = (unsigned long)count_lines(good, good_len) + 1;
	char record[64] = "";
	append_line(record, sizeof(record), "C INBOX late soon");
	struct garbage half = make_garbage("half line", "C INB\n", 6);
	write_with_garbage(fx, good, good_len, &half, record);
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	char want[PATH_BUF + 32];
	snprintf(want, sizeof(want), "%s:%lu: corrupt record (bad time)",
		 state_file(fx, "journal"), first_bad + 1);
	assert_non_null(strstr(msg, want));
	garbage_free(&half, 1);
	free(good);
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
		"Q INBOX a 1", "C INBOX a", "C INBOX a b 1", "C INBOX a -5",
		"Z INBOX a", "Z INBOX a -1", "Z INBOX a x", "S INBOX a 1",
		"S INBOX a 1 x", "S INBOX a x 1", "S INBOX a 1 4294967296",
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
	assert_non_null(strstr(msg, "snapshot:5:")); /* the trailer */
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

/* ---- listed sizes and missing keys (POP3's grace) ----------------------- */

static void assert_missing(const struct state *state, const char *key,
			   time_t since, unsigned long runs)
{
	time_t got_since = -1;
	unsigned long got_runs = 0;
	bool missing = state_missing(state, "INBOX", key, &got_since, &got_runs);
	assert_int_equal(missing, runs > 0);
	/* The engine's one look-up says the same. */
	bool noted = !missing;
	assert_int_equal(state_contains_note_missing(state, "INBOX", key, &noted),
			 state_contains(state, "INBOX", key));
	assert_int_equal(noted, missing);
	if (runs > 0) {
		assert_int_equal(got_since, since);
		assert_int_equal(got_runs, runs);
	}
}

static void test_sizes_and_missing_persist(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct yb_error err;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "a", 1);
	commit(state, "INBOX", "b", 2);
	assert_int_equal(state_set_listed_size(state, "INBOX", "a", 1234, &err), YB_OK);
	assert_int_equal(state_set_missing(state, "INBOX", "a", 500, 2, &err), YB_OK);
	assert_int_equal(state_set_missing(state, "INBOX", "b", 600, 1, &err), YB_OK);
	assert_int_equal(state_set_missing(state, "INBOX", "b", 0, 0, &err), YB_OK);
	/* Not delivered: refused, and nothing recorded. */
	assert_int_equal(state_set_listed_size(state, "INBOX", "c", 1, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_missing(state, "INBOX", "c", 1, 1, &err),
			 YB_ERR_INTERNAL);
	sync_ok(state);
	state_free(state);
	/* From the journal... */
	for (int pass = 0; pass < 2; pass++) {
		state = open_state(fx, false);
		uint64_t size = 0;
		assert_true(state_listed_size(state, "INBOX", "a", &size));
		assert_int_equal(size, 1234);
		assert_false(state_listed_size(state, "INBOX", "b", &size));
		assert_missing(state, "a", 500, 2);
		assert_missing(state, "b", 0, 0);
		/* ...then from the snapshot compaction writes. */
		close_ok(state);
		assert_false(file_exists(state_file(fx, "journal")));
	}
	/* Unchanged values write nothing. */
	state = open_state(fx, false);
	assert_int_equal(state_set_listed_size(state, "INBOX", "a", 1234, &err), YB_OK);
	assert_int_equal(state_set_missing(state, "INBOX", "a", 500, 2, &err), YB_OK);
	sync_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));
	/* Forgetting the key forgets its values; a new commit starts clean. */
	forget(state, "INBOX", "a");
	commit(state, "INBOX", "a", 9);
	uint64_t size;
	assert_false(state_listed_size(state, "INBOX", "a", &size));
	assert_missing(state, "a", 0, 0);
	close_ok(state);
	state = open_state(fx, false);
	assert_missing(state, "a", 0, 0);
	state_free(state);
}

/*
 * Values a key's small entry has no room for (a size of 8 MiB or more,
 * a time past 32 bits, a dest held in memory, a missing count, a push)
 * go beside it: each is read back as it was, through the journal and
 * through compaction, next to keys whose values fit, and forgetting a
 * key (or many, so that entries move) forgets them.
 */
struct edge_key {
	const char *key;
	uint64_t size;
	time_t fetched_at;
};

static const struct edge_key EDGE_KEYS[] = {
	{ "small", 0, 0 },
	{ "fits", (1u << 23) - 3, 4294967294LL },
	{ "first-beside", (1u << 23) - 2, 4294967295LL },
	{ "beside", (1u << 23) - 1, 4294967296LL },
	{ "huge", 5000000000ULL, 1LL << 40 },
};

static void assert_edge_keys(const struct state *state)
{
	for (size_t i = 0; i < sizeof(EDGE_KEYS) / sizeof(EDGE_KEYS[0]); i++) {
		uint64_t size = 1;
		assert_fetched_at(state, "INBOX", EDGE_KEYS[i].key,
				  EDGE_KEYS[i].fetched_at);
		assert_true(state_listed_size(state, "INBOX", EDGE_KEYS[i].key,
					      &size));
		assert_int_equal(size, EDGE_KEYS[i].size);
	}
	unsigned flags = 0, add = 0, remove = 0;
	assert_true(state_flag_base(state, "INBOX", "huge", &flags));
	assert_int_equal(flags, 0x41);
	assert_true(state_flag_push(state, "INBOX", "huge", &add, &remove));
	assert_int_equal(add, 0x02);
	assert_int_equal(remove, 0x01);
	assert_false(state_flag_push(state, "INBOX", "small", &add, &remove));
	assert_missing(state, "huge", 77, 3);
	assert_missing(state, "small", 0, 0);
	assert_dest(state, "INBOX", "huge", "cur/huge:2,S");
	assert_dest(state, "INBOX", "small", NULL);
}

static void test_values_beside_the_entry_persist(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct yb_error err;
	struct state *state = open_state(fx, false);
	for (size_t i = 0; i < sizeof(EDGE_KEYS) / sizeof(EDGE_KEYS[0]); i++) {
		const char *key = EDGE_KEYS[i].key;
		commit(state, "INBOX", key, EDGE_KEYS[i].fetched_at);
		assert_int_equal(state_set_listed_size(state, "INBOX", key,
						       EDGE_KEYS[i].size, &err),
				 YB_OK);
	}
	set_dest(state, "INBOX", "huge", "cur/huge:2,S");
	assert_int_equal(state_set_flag_base(state, "INBOX", "huge", 0x41, &err),
			 YB_OK);
	assert_int_equal(state_set_flag_push(state, "INBOX", "huge", 0x02, 0x01,
					     &err), YB_OK);
	assert_int_equal(state_set_missing(state, "INBOX", "huge", 77, 3, &err),
			 YB_OK);
	/* Many keys with values beside them, most forgotten again. */
	char key[32];
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "many-%d", i);
		commit(state, "INBOX", key, 1LL << 33);
		assert_int_equal(state_set_missing(state, "INBOX", key, 5, 1, &err),
				 YB_OK);
	}
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "many-%d", i);
		if (i % 100 != 7)
			forget(state, "INBOX", key);
	}
	assert_edge_keys(state);
	sync_ok(state);
	state_free(state);
	/* From the journal, then from the snapshot compaction writes. */
	for (int pass = 0; pass < 2; pass++) {
		state = open_state(fx, false);
		assert_edge_keys(state);
		assert_int_equal(state_count(state, "INBOX"),
				 sizeof(EDGE_KEYS) / sizeof(EDGE_KEYS[0]) + 3);
		assert_fetched_at(state, "INBOX", "many-107", 1LL << 33);
		assert_missing(state, "many-207", 5, 1);
		close_ok(state);
	}
	/* A key forgotten and delivered again starts with none of them. */
	state = open_state(fx, false);
	forget(state, "INBOX", "huge");
	commit(state, "INBOX", "huge", 5);
	uint64_t size;
	unsigned add, remove, flags;
	assert_false(state_listed_size(state, "INBOX", "huge", &size));
	assert_false(state_flag_base(state, "INBOX", "huge", &flags));
	assert_false(state_flag_push(state, "INBOX", "huge", &add, &remove));
	assert_missing(state, "huge", 0, 0);
	assert_dest(state, "INBOX", "huge", NULL);
	assert_fetched_at(state, "INBOX", "huge", 5);
	state_free(state);
}

/* Z and S for a key the journal no longer holds are ignored on replay. */
static void test_values_of_forgotten_key_ignored(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	const char *bodies[] = {
		"C INBOX a 1", "F INBOX a", "Z INBOX a 5", "S INBOX a 7 3",
		"C INBOX b 2", "S INBOX b 7 3",
	};
	write_journal_lines(fx, "yubin-journal 1\n", bodies, COUNT_OF(bodies));
	struct state *state = open_state(fx, false);
	assert_false(state_contains(state, "INBOX", "a"));
	assert_missing(state, "b", 7, 3);
	state_free(state);
}

/* ---- a snapshot cut short ---------------------------------------------- */

/* A small deterministic generator (xorshift64*), so a failure repeats. */
static uint64_t next_random(uint64_t *seed)
{
	*seed ^= *seed >> 12;
	*seed ^= *seed << 25;
	*seed ^= *seed >> 27;
	return *seed * 0x2545f4914f6cdd1dULL;
}

/* A state of random keys, dests and values in the known mailboxes. */
static void build_random_state(struct state *state, uint64_t seed)
{
	size_t keys = 1 + next_random(&seed) % 60;
	for (size_t i = 0; i < keys; i++) {
		const char *mailbox =
			KNOWN_MAILBOXES[next_random(&seed) % COUNT_OF(KNOWN_MAILBOXES)];
		char key[48];
		snprintf(key, sizeof(key), "k%zu-%llx", i,
			 (unsigned long long)(next_random(&seed) % 100000));
		if (next_random(&seed) % 2)
			intent(state, mailbox, key, "new/a b%");
		commit(state, mailbox, key, (time_t)(next_random(&seed) % 2000000000));
		struct yb_error err;
		if (next_random(&seed) % 2)
			assert_int_equal(state_set_listed_size(state, mailbox, key,
					 next_random(&seed) % 100000, &err), YB_OK);
		if (next_random(&seed) % 3 == 0)
			assert_int_equal(state_set_missing(state, mailbox, key,
					 (time_t)(next_random(&seed) % 2000000000),
					 1 + next_random(&seed) % 5, &err), YB_OK);
		if (next_random(&seed) % 5 == 0)
			set_meta(state, mailbox,
				 KNOWN_META[next_random(&seed) % COUNT_OF(KNOWN_META)],
				 "v 1");
	}
}

/*
 * Cut a valid snapshot at every offset: each cut must be refused (exit
 * 78's kind) or load the very same state, never a smaller valid one: a
 * snapshot cut at a line end used to load as a state that had lost what
 * followed, and the next run fetched it all again.
 */
static void test_snapshot_cut_at_every_offset(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	static const uint64_t seeds[] = { 1, 0x9e3779b97f4a7c15ULL, 42, 7777 };
	for (size_t s = 0; s < COUNT_OF(seeds); s++) {
		nftw(fx->state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		struct state *state = open_state(fx, false);
		build_random_state(state, seeds[s]);
		char *whole = describe_state(state);
		close_ok(state); /* compacts into the snapshot */
		assert_false(file_exists(state_file(fx, "journal")));
		size_t len;
		char *text = read_whole(state_file(fx, "snapshot"), &len);
		size_t refused = 0;
		for (size_t cut = 0; cut < len; cut++) {
			write_whole(state_file(fx, "snapshot"), text, cut);
			struct yb_error err;
			state = NULL;
			int rc = state_open(fx->state_dir, ACCOUNT, true, &state, &err);
			if (rc != YB_OK) {
				assert_int_equal(rc, YB_ERR_CONFIG);
				assert_non_null(strstr(err.msg, "move the file away"));
				refused++;
				continue;
			}
			char *loaded = describe_state(state);
			state_free(state);
			if (strcmp(loaded, whole) != 0)
				print_error("seed %llu: cut at %zu of %zu loads "
					    "another state\n",
					    (unsigned long long)seeds[s], cut, len);
			assert_string_equal(loaded, whole);
			free(loaded);
		}
		/* Every strict prefix lacks the trailer or disagrees with it. */
		assert_int_equal(refused, len);
		write_whole(state_file(fx, "snapshot"), text, len);
		state = open_state(fx, true);
		char *again = describe_state(state);
		state_free(state);
		assert_string_equal(again, whole);
		free(again);
		free(text);
		free(whole);
	}
}

/* A whole line taken out of the middle, or added after the end: refused. */
static void test_snapshot_lines_missing_or_added(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	make_snapshot(fx);
	size_t len;
	char *text = read_whole(state_file(fx, "snapshot"), &len);
	/* Drop line 3, a valid record of its own. */
	char *third = strchr(strchr(text, '\n') + 1, '\n') + 1;
	char *fourth = strchr(third, '\n') + 1;
	char *shorter = malloc(len);
	assert_non_null(shorter);
	size_t head = (size_t)(third - text);
	memcpy(shorter, text, head);
	memcpy(shorter + head, fourth, len - (size_t)(fourth - text));
	write_whole(state_file(fx, "snapshot"), shorter,
		    len - (size_t)(fourth - third));
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "another number of records"));
	/* A valid record after the trailer. */
	char *longer = malloc(len + 64);
	assert_non_null(longer);
	memcpy(longer, text, len);
	longer[len] = '\0';
	append_line(longer, len + 64, "M INBOX z 9");
	write_whole(state_file(fx, "snapshot"), longer, strlen(longer));
	msg = open_fails(fx, YB_ERR_CONFIG);
	assert_non_null(strstr(msg, "data after the end line"));
	free(longer);
	free(shorter);
	free(text);
}

/* A version 1 snapshot (no trailer) loads, and is rewritten as version 3. */
static void test_snapshot_version_1_loads_and_is_rewritten(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	ensure_account_dir(fx);
	char text[256] = "yubin-snapshot 1\n";
	append_line(text, sizeof(text), "M INBOX a 1 new/a");
	append_line(text, sizeof(text), "V INBOX uidnext 5");
	write_whole(state_file(fx, "snapshot"), text, strlen(text));
	/* Read-only leaves it as it is. */
	struct state *state = open_state(fx, true);
	assert_true(state_contains(state, "INBOX", "a"));
	state_free(state);
	size_t len;
	char *after = read_whole(state_file(fx, "snapshot"), &len);
	assert_string_equal(after, text);
	free(after);

	state = open_state(fx, false);
	assert_dest(state, "INBOX", "a", "new/a");
	assert_meta(state, "INBOX", "uidnext", "5");
	close_ok(state);
	after = read_whole(state_file(fx, "snapshot"), &len);
	assert_memory_equal(after, "yubin-snapshot 3\n", 17);
	/* The trailer: "end COUNT CRC" over every byte before its line. */
	assert_true(len > 1 && after[len - 1] == '\n');
	after[len - 1] = '\0';
	size_t trailer_at = (size_t)(strrchr(after, '\n') + 1 - after);
	after[len - 1] = '\n';
	char trailer[64] = "";
	char body[48];
	uint32_t crc = reference_crc32(after, trailer_at);
	snprintf(body, sizeof(body), "end 2 %08x", crc);
	append_line(trailer, sizeof(trailer), body);
	assert_true(len > strlen(trailer));
	assert_string_equal(after + len - strlen(trailer), trailer);
	free(after);
	state = open_state(fx, false);
	assert_dest(state, "INBOX", "a", "new/a");
	assert_meta(state, "INBOX", "uidnext", "5");
	state_free(state);
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

/* ---- the whole state through replay, compaction and its crash window --- */

/* On top of build_mixed_state: dests, values, forgotten mailboxes. */
static void build_rich_state(struct state *state)
{
	build_mixed_state(state);
	for (int i = 0; i < 40; i++) {
		char key[32], dest[64];
		snprintf(key, sizeof(key), "d%d", i);
		snprintf(dest, sizeof(dest), "new/d%d", i);
		intent(state, "Archive", key, dest);
		commit(state, "Archive", key, 2000 + i);
		if (i % 4 == 0) {
			snprintf(dest, sizeof(dest), "cur/d%d:2,S", i);
			set_dest(state, "Archive", key, dest);
		}
		if (i % 5 == 0)
			forget(state, "Archive", key);
		if (i % 10 == 0)
			commit(state, "Archive", key, 3000 + i);
	}
	intent(state, "Archive", "d1", "new/again");   /* delivered again */
	commit(state, "Archive", "d1", 9999);
	commit(state, "Archive", "late", 4000);
	set_dest(state, "Archive", "late", "cur/late");
	intent(state, "Archive", "dash", "-");
	commit(state, "Archive", "dash", 4001);
	intent(state, "-", "-", "-");
	commit(state, "-", "-", 4002);
	set_meta(state, "INBOX", "uidvalidity", "1");
	set_meta(state, "INBOX", "uidnext", "10");
	set_meta(state, "INBOX", "uidnext", "301");
	set_meta(state, "Lists/rust", "highestmodseq", "x y%z");
	set_meta(state, "-", "x", "-");
	fill_mailbox(state, "Gone", 3);
	forget_mailbox(state, "Gone");
	commit(state, "Gone", "after", 7);
	set_meta(state, "Gone", "uidvalidity", "6");
	fill_mailbox(state, "Temp", 2);
	forget_mailbox(state, "Temp");
}

static void assert_description(const struct state *state, const char *want)
{
	char *got = describe_state(state);
	assert_string_equal(got, want);
	free(got);
}

static void test_rich_state_replay_and_compaction(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	build_rich_state(state);
	char *want = describe_state(state);
	/* Spot checks that the description holds what it should. */
	assert_non_null(strstr(want, "\nd1 2001 =new/again\n"));
	assert_non_null(strstr(want, "\nd0 3000 (none)\n"));
	assert_non_null(strstr(want, "\nd4 2004 =cur/d4:2,S\n"));
	assert_non_null(strstr(want, "[Gone] 1\nafter 7 (none)\n@uidvalidity=6\n"));
	assert_non_null(strstr(want, "[Temp] 0\n[-] 1\n- 4002 =-\n@x=-\n"));
	sync_ok(state);
	state_free(state);

	/* After reopening: replayed from the journal. */
	state = open_state(fx, false);
	assert_description(state, want);
	close_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));
	assert_true(file_exists(state_file(fx, "snapshot")));

	/* From the snapshot. */
	state = open_state(fx, false);
	assert_description(state, want);
	/* More changes after reopening, then compacted again. */
	set_dest(state, "Archive", "d4", "cur/d4:2,RS");
	set_meta(state, "INBOX", "uidnext", "302");
	forget_mailbox(state, "Lists/rust");
	forget_mailbox(state, "Gone");
	/* Enough that the journal outgrows the snapshot. */
	for (int i = 0; i < 1000; i++) {
		char key[16];
		snprintf(key, sizeof(key), "more%d", i);
		commit(state, "Temp", key, i);
	}
	free(want);
	want = describe_state(state);
	assert_non_null(strstr(want, "[Lists/rust] 0\n[Archive]"));
	sync_ok(state);
	state_free(state);
	state = open_state(fx, false);
	assert_description(state, want);
	close_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));
	state = open_state(fx, false);
	assert_description(state, want);
	state_free(state);
	free(want);
}

static void test_rich_crash_between_rename_and_unlink(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	/* An older snapshot holding what the journal will change. */
	struct state *state = open_state(fx, false);
	intent(state, "Archive", "d1", "new/old-d1");
	commit(state, "Archive", "d1", 1);
	intent(state, "Archive", "d0", "new/old-d0");
	commit(state, "Archive", "d0", 1);
	set_meta(state, "INBOX", "uidnext", "5");
	fill_mailbox(state, "Gone", 4);
	set_meta(state, "Temp", "x", "old");
	close_ok(state);
	assert_true(file_exists(state_file(fx, "snapshot")));

	state = open_state(fx, false);
	build_rich_state(state);
	char *want = describe_state(state);
	sync_ok(state);
	char journal_copy[PATH_BUF];
	snprintf(journal_copy, sizeof(journal_copy), "%s/journal.copy", fx->root);
	copy_file(state_file(fx, "journal"), journal_copy);
	close_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));

	/* The new snapshot is in place but the journal was not removed. */
	copy_file(journal_copy, state_file(fx, "journal"));
	for (int round = 0; round < 2; round++) {
		state = open_state(fx, false);
		assert_description(state, want);
		close_ok(state);   /* round 0 compacts again */
	}
	free(want);
}

static bool older_than_100(void *ctx, const char *key, time_t fetched_at)
{
	(void)key;
	int *calls = ctx;
	(*calls)++;
	return fetched_at < 100;
}

static void test_forget_where(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "old-1", 10);
	commit(state, "INBOX", "old-2", 20);
	commit(state, "INBOX", "new", 500);
	commit(state, "Other", "old-3", 10);
	int calls = 0;
	size_t forgotten = 99;
	struct yb_error err;
	assert_int_equal(state_forget_where(state, "INBOX", older_than_100, &calls,
					    &forgotten, &err), YB_OK);
	assert_int_equal(calls, 3);
	assert_int_equal(forgotten, 2);
	close_ok(state);
	state = open_state(fx, false);
	assert_false(state_contains(state, "INBOX", "old-1"));
	assert_false(state_contains(state, "INBOX", "old-2"));
	assert_true(state_contains(state, "INBOX", "new"));
	assert_true(state_contains(state, "Other", "old-3"));
	state_free(state);
}

static void test_forget_mailbox_releases_memory(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	enum { KEYS = 5000 };
	struct state *state = open_state(fx, false);
	/* A first round brings what stays (the pending buffer, the mailbox
	   index) to its size. */
	fill_mailbox(state, "Big", KEYS);
	sync_ok(state);
	forget_mailbox(state, "Big");
	sync_ok(state);
	size_t before = heap_in_use();
	fill_mailbox(state, "Big", KEYS);
	set_dest(state, "Big", "key-0", "cur/renamed");
	sync_ok(state);
	size_t filled = heap_in_use();
	forget_mailbox(state, "Big");
	sync_ok(state);
	size_t after = heap_in_use();
	assert_int_equal(state_count(state, "Big"), 0);
	state_free(state);
	if (filled == 0 && before == 0) {
		print_message("# heap use not reported here (valgrind?); "
			      "the leak check covers the release\n");
		return;
	}
	print_message("# heap: %zu before, %zu filled, %zu after\n", before,
		      filled, after);
	/* The measure sees the keys... */
	assert_true(filled > before + (size_t)KEYS * 40);
	/* ...and forgetting gave (almost) all of it back. */
	assert_true(after < before + (filled - before) / 20);
}

/* ---- many dests held in memory ----------------------------------------- */

enum { MANY_KEYS = 4000, MANY_OTHER = 500 };

/* Key i's dest as of round (0: as delivered, then as moved); lengths
   vary from about 30 to 330 bytes, so that they fill several chunks. */
static void many_dest(char *buf, size_t size, int i, int round)
{
	int len = snprintf(buf, size, "%s/%d.M%dP%d.host,S=%d%s",
			   round ? "cur" : "new", i, i * 7, round, i * 13,
			   round ? ":2,S" : "");
	assert_true(len > 0);
	int want = len + i * 37 % 300;
	assert_true((size_t)want < size);
	for (int at = len; at < want; at++)
		buf[at] = (char)('a' + (i + at) % 26);
	buf[want] = '\0';
}

/* The round key i's dest is in: round 0, 1 for every 3rd, 2 for every
   5th once moved again. */
static int many_round(int i, bool moved_again)
{
	if (moved_again && i % 5 == 0)
		return 2;
	return i % 3 == 0 ? 1 : 0;
}

static void many_key(char *buf, size_t size, int i)
{
	snprintf(buf, size, "uidl-%05d", i);
}

static void assert_many_dests(struct state *state, const char *mailbox,
			      int keys, bool moved_again)
{
	char key[32], dest[512];
	for (int i = 0; i < keys; i++) {
		many_key(key, sizeof(key), i);
		many_dest(dest, sizeof(dest), i, many_round(i, moved_again));
		assert_dest(state, mailbox, key, dest);
	}
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* state_dests_where gives every key's dest once: the same strings. */
static void assert_dests_where(struct state *state, const char *mailbox,
			       int keys, bool moved_again)
{
	const char **dests = NULL;
	size_t count = 0;
	struct yb_error err;
	assert_int_equal(state_dests_where(state, mailbox, NULL, NULL, &dests,
					   &count, &err), YB_OK);
	assert_int_equal(count, (size_t)keys);
	char **want = calloc((size_t)keys, sizeof(*want));
	assert_non_null(want);
	for (int i = 0; i < keys; i++) {
		want[i] = malloc(512);
		assert_non_null(want[i]);
		many_dest(want[i], 512, i, many_round(i, moved_again));
	}
	qsort(dests, count, sizeof(*dests), compare_strings);
	qsort(want, (size_t)keys, sizeof(*want), compare_strings);
	for (int i = 0; i < keys; i++) {
		assert_string_equal(dests[i], want[i]);
		free(want[i]);
	}
	free(want);
	free(dests);
}

static void deliver_many(struct state *state, const char *mailbox, int keys)
{
	char key[32], dest[512];
	for (int i = 0; i < keys; i++) {
		many_key(key, sizeof(key), i);
		many_dest(dest, sizeof(dest), i, 0);
		intent(state, mailbox, key, dest);
		commit(state, mailbox, key, 1000 + i);
		if (i % 100 == 99)
			sync_ok(state);
	}
	for (int i = 0; i < keys; i += 3) {
		many_key(key, sizeof(key), i);
		many_dest(dest, sizeof(dest), i, 1);
		set_dest(state, mailbox, key, dest);
	}
	sync_ok(state);
}

/* Dests of this run, held in memory, move to the snapshot at compaction
   and read back the same; moved again from there, the same again. */
static void test_many_dests_through_compaction(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	deliver_many(state, "INBOX", MANY_KEYS);
	deliver_many(state, "Other", MANY_OTHER);
	assert_many_dests(state, "INBOX", MANY_KEYS, false);
	assert_dests_where(state, "Other", MANY_OTHER, false);
	state_free(state);

	/* Replayed from the journal, then compacted. */
	state = open_state(fx, false);
	assert_many_dests(state, "INBOX", MANY_KEYS, false);
	assert_many_dests(state, "Other", MANY_OTHER, false);
	close_ok(state);
	assert_false(file_exists(state_file(fx, "journal")));
	char *snapshot = read_whole(state_file(fx, "snapshot"), NULL);
	char dest[512];
	many_dest(dest, sizeof(dest), MANY_KEYS - 2, 0);
	assert_non_null(strstr(snapshot, dest));
	many_dest(dest, sizeof(dest), 0, 1);
	assert_non_null(strstr(snapshot, dest));
	free(snapshot);

	/* From the snapshot, read when asked; moved again, and read back. */
	state = open_state(fx, false);
	assert_dests_where(state, "INBOX", MANY_KEYS, false);
	char key[32];
	for (int i = 0; i < MANY_KEYS; i += 5) {
		many_key(key, sizeof(key), i);
		many_dest(dest, sizeof(dest), i, 2);
		set_dest(state, "INBOX", key, dest);
	}
	assert_many_dests(state, "INBOX", MANY_KEYS, true);
	assert_dests_where(state, "INBOX", MANY_KEYS, true);
	assert_many_dests(state, "Other", MANY_OTHER, false);
	close_ok(state);
	state = open_state(fx, false);
	assert_dests_where(state, "INBOX", MANY_KEYS, true);
	assert_many_dests(state, "Other", MANY_OTHER, false);
	state_free(state);
}

/* Heap bytes that committing keys keys of 10 bytes into mailbox takes,
   each with a dest of dest_len bytes (0: none). */
static size_t heap_of_commits(struct state *state, const char *mailbox,
			      int keys, size_t dest_len)
{
	char key[32], dest[128];
	assert_true(dest_len < sizeof(dest));
	size_t before = heap_in_use();
	for (int i = 0; i < keys; i++) {
		many_key(key, sizeof(key), i);
		if (dest_len) {
			snprintf(dest, sizeof(dest), "new/%0*d", (int)dest_len - 4,
				 i);
			intent(state, mailbox, key, dest);
		}
		commit(state, mailbox, key, 1000 + i);
		if (i % 64 == 63)
			sync_ok(state);
	}
	sync_ok(state);
	size_t after = heap_in_use();
	return after > before ? after - before : 0;
}

/* A dest of this run costs its bytes (and its NUL), not an entry beside
   the key: what a fetch of many new messages holds until the end. */
static void test_run_dests_cost_their_bytes(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	enum { KEYS = 10000, DEST_LEN = 60 };
	struct state *state = open_state(fx, false);
	/* A first round brings what stays (the pending buffer, the mailbox
	   index) to its size. */
	heap_of_commits(state, "Warm", KEYS / 10, DEST_LEN);
	size_t bare = heap_of_commits(state, "Bare", KEYS, 0);
	size_t with_dests = heap_of_commits(state, "Dests", KEYS, DEST_LEN);
	char dest[128];
	snprintf(dest, sizeof(dest), "new/%0*d", DEST_LEN - 4, KEYS - 1);
	assert_dest(state, "Dests", "uidl-09999", dest);
	assert_dest(state, "Bare", "uidl-09999", NULL);
	assert_int_equal(state_count(state, "Dests"), KEYS);
	state_free(state);
	if (bare == 0 && with_dests == 0) {
		print_message("# heap use not reported here (valgrind?)\n");
		return;
	}
	print_message("# heap: %zu for %d keys, %zu with dests of %d bytes\n",
		      bare, KEYS, with_dests, DEST_LEN);
	assert_true(bare > (size_t)KEYS * 24);
	assert_true(with_dests > bare + (size_t)KEYS * DEST_LEN);
	/* Each dest: its bytes, its NUL, and less than 8 bytes more. */
	assert_true(with_dests < bare + (size_t)KEYS * (DEST_LEN + 1 + 8));
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
		fill_mailbox(state, "Gone", 2);
		close_ok(state);
		state = open_state(fx, false);
		build_rich_state(state);
		struct pairs want = collect(state, "Lists/rust");
		char *want_all = describe_state(state);
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
			assert_description(state, want_all);
			pairs_free(&got);
			close_ok(state);   /* finishes the compaction */
		}
		assert_false(file_exists(state_file(fx, "journal")));
		assert_false(file_exists(state_file(fx, "snapshot.new")));
		pairs_free(&want);
		free(want_all);
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
	/* Read-only creates no lock file; it locks one a fetch left. */
	state_free(open_state(fx, false));
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

/* ---- state files that are not regular files ----------------------------- */

enum odd_file { ODD_FIFO, ODD_DIRECTORY, ODD_SYMLINK };

/* Put an odd file at name; a symlink points at a valid copy of the file. */
static void make_odd_file(const struct fixture *fx, const char *name,
			  enum odd_file kind)
{
	const char *path = state_file(fx, name);
	const char *target = state_file(fx, "target");
	switch (kind) {
	case ODD_FIFO:
		assert_int_equal(mkfifo(path, 0600), 0);
		break;
	case ODD_DIRECTORY:
		assert_int_equal(mkdir(path, 0700), 0);
		break;
	case ODD_SYMLINK:
		if (strcmp(name, "snapshot") == 0)
			write_whole(target, "yubin-snapshot 1\n", 17);
		else if (strcmp(name, "journal") == 0)
			write_whole(target, "yubin-journal 1\n", 16);
		else
			write_whole(target, "", 0);
		assert_int_equal(symlink(target, path), 0);
		break;
	}
}

/*
 * state_open in a child, so that an open() blocked on a FIFO fails the
 * test after a few seconds instead of hanging it.  The child exits with
 * the status state_open returned; -1 when it had to be killed.
 */
static int open_status_in_child(const struct fixture *fx)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct state *state = NULL;
		struct yb_error err;
		int rc = state_open(fx->state_dir, ACCOUNT, false, &state, &err);
		if (rc == YB_OK)
			rc = state_close(state, &err);
		else if (!strstr(err.msg, fx->account_dir))
			rc = 100; /* the message must name the file */
		_exit(rc);
	}
	int status = 0;
	for (int tries = 0; tries < 500; tries++) {
		pid_t done = waitpid(pid, &status, WNOHANG);
		assert_true(done >= 0);
		if (done == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		struct timespec pause = { 0, 10 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return -1;
}

static void test_non_regular_state_files_refused(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	static const char *const names[] = { "lock", "snapshot", "journal" };
	static const enum odd_file kinds[] = { ODD_FIFO, ODD_DIRECTORY,
					       ODD_SYMLINK };
	for (size_t n = 0; n < sizeof(names) / sizeof(*names); n++) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++) {
			nftw(fx->state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
			ensure_account_dir(fx);
			make_odd_file(fx, names[n], kinds[k]);
			int status = open_status_in_child(fx);
			if (status != YB_ERR_IO)
				print_error("%s as kind %zu: status %d\n",
					    names[n], k, status);
			assert_int_equal(status, YB_ERR_IO);
		}
	}
}

/*
 * Whatever is left where compaction writes snapshot.new (a FIFO that
 * would block it, a link someone planted) is removed and replaced by a
 * new file, never opened.
 */
static void test_snapshot_new_leftover_replaced(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	char victim[PATH_BUF];
	snprintf(victim, sizeof(victim), "%s/victim", fx->root);
	for (int kind = 0; kind < 2; kind++) {
		nftw(fx->state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		struct state *state = open_state(fx, false);
		commit(state, "INBOX", "k", 1);
		sync_ok(state);
		state_free(state);
		write_whole(victim, "precious\n", 9);
		if (kind == 0)
			assert_int_equal(mkfifo(state_file(fx, "snapshot.new"),
						0600), 0);
		else
			assert_int_equal(symlink(victim,
						 state_file(fx, "snapshot.new")), 0);
		assert_int_equal(open_status_in_child(fx), YB_OK);
		struct stat st;
		assert_false(lstat(state_file(fx, "snapshot.new"), &st) == 0);
		assert_int_equal(lstat(state_file(fx, "snapshot"), &st), 0);
		assert_true(S_ISREG(st.st_mode));
		size_t len;
		char *kept = read_whole(victim, &len);
		assert_int_equal(len, 9);
		assert_memory_equal(kept, "precious\n", 9);
		free(kept);
		state = open_state(fx, true);
		assert_true(state_contains(state, "INBOX", "k"));
		state_free(state);
	}
}

/* ---- a state directory another user could change ------------------------ */

/* state_open (read_only or not) must fail with YB_ERR_CONFIG naming dir. */
static void assert_dir_refused(const struct fixture *fx, bool read_only,
			       const char *dir, const char *why)
{
	struct state *state = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	int rc = state_open(fx->state_dir, ACCOUNT, read_only, &state, &err);
	if (rc != YB_ERR_CONFIG || !strstr(err.msg, dir) || !strstr(err.msg, why))
		print_error("state_open: %d: %s\n", rc, err.msg);
	assert_int_equal(rc, YB_ERR_CONFIG);
	assert_null(state);
	assert_non_null(strstr(err.msg, dir));
	assert_non_null(strstr(err.msg, why));
}

/*
 * The account's directory as an attacker leaves it: every state file a
 * symbolic link to the victim, plus a hard link named journal where one
 * can be made.  Returns the victim's path.
 */
static const char *plant_links(const struct fixture *fx)
{
	static char victim[PATH_BUF];
	snprintf(victim, sizeof(victim), "%s/victim", fx->root);
	write_whole(victim, "precious\n", 9);
	const char *names[] = { "lock", "snapshot", "snapshot.new" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(symlink(victim, state_file(fx, names[i])), 0);
	/* A torn tail to cut away, if the journal were replayed. */
	assert_int_equal(link(victim, state_file(fx, "journal")), 0);
	return victim;
}

static void assert_victim_intact(const char *victim)
{
	size_t len;
	char *kept = read_whole(victim, &len);
	assert_int_equal(len, 9);
	assert_memory_equal(kept, "precious\n", 9);
	free(kept);
}

static void test_dir_writable_by_others_refused(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	ensure_account_dir(fx);
	const char *victim = plant_links(fx);
	assert_int_equal(chmod(fx->account_dir, 0777), 0);
	assert_dir_refused(fx, false, fx->account_dir, "mode 0777");
	assert_dir_refused(fx, true, fx->account_dir, "mode 0777");
	assert_int_equal(chmod(fx->account_dir, 0720), 0);
	assert_dir_refused(fx, false, fx->account_dir, "mode 0720");
	assert_victim_intact(victim);
	/* Read-only for others is no threat to the state. */
	assert_int_equal(chmod(fx->account_dir, 0755), 0);
	nftw(fx->account_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	ensure_account_dir(fx);
	assert_int_equal(chmod(fx->account_dir, 0755), 0);
	close_ok(open_state(fx, false));
}

static void test_dir_of_another_user_refused(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	if (geteuid() != 0) {
		print_message("not root: cannot give a directory to uid 65534\n");
		skip();
	}
	ensure_account_dir(fx);
	const char *victim = plant_links(fx);
	assert_int_equal(lchown(fx->account_dir, 65534, 65534), 0);
	assert_dir_refused(fx, false, fx->account_dir, "uid 65534");
	assert_dir_refused(fx, true, fx->account_dir, "uid 65534");
	assert_victim_intact(victim);
}

static void test_dir_symlink_refused(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	char elsewhere[PATH_BUF];
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", fx->root);
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	assert_int_equal(mkdir(fx->state_dir, 0700), 0);
	assert_int_equal(symlink(elsewhere, fx->account_dir), 0);
	assert_dir_refused(fx, false, fx->account_dir, "symbolic link");
	assert_dir_refused(fx, true, fx->account_dir, "symbolic link");
	/* Nothing was created where the link points. */
	char lock[PATH_BUF + 8];
	snprintf(lock, sizeof(lock), "%s/lock", elsewhere);
	assert_false(file_exists(lock));
}

/*
 * state_dir reached through a symbolic link: the user's own is followed
 * (a state kept on another disk), another user's is not, since they
 * could point it at a directory they fill.
 */
static void test_state_dir_link_followed_only_if_ours(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	char real[PATH_BUF];
	snprintf(real, sizeof(real), "%s/real-state", fx->root);
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink(real, fx->state_dir), 0);
	struct state *state = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	assert_int_equal(state_open(fx->state_dir, ACCOUNT, false, &state, &err),
			 YB_OK);
	close_ok(state);
	char lock[PATH_BUF + 64];
	snprintf(lock, sizeof(lock), "%s/%s/lock", real, ACCOUNT);
	assert_true(file_exists(lock));
	if (geteuid() != 0) {
		print_message("not root: cannot give a link to uid 65534\n");
		skip();
	}
	assert_int_equal(lchown(fx->state_dir, 65534, 65534), 0);
	assert_dir_refused(fx, false, fx->state_dir, "symbolic link");
	assert_dir_refused(fx, true, fx->state_dir, "symbolic link");
}

/*
 * Whoever can write to state_dir can rename the account's directory away
 * and put another in its place: refused, unless the sticky bit stops
 * them (as in /tmp).
 */
static void test_parent_writable_by_others(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	ensure_account_dir(fx);
	assert_int_equal(chmod(fx->state_dir, 0770), 0);
	assert_dir_refused(fx, false, fx->state_dir, "mode 0770");
	assert_int_equal(chmod(fx->state_dir, 01777), 0);
	close_ok(open_state(fx, false));
	/* Created by yubin: 0700, whatever the umask. */
	nftw(fx->state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	mode_t old_umask = umask(0);
	close_ok(open_state(fx, false));
	umask(old_umask);
	struct stat st;
	assert_int_equal(stat(fx->state_dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(fx->account_dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

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

/* ---- flags as last agreed with the server (B) and pushes (P) ---------- */

static void set_base(struct state *state, const char *key, unsigned flags)
{
	struct yb_error err;
	int rc = state_set_flag_base(state, "INBOX", key, flags, &err);
	if (rc != YB_OK)
		print_error("state_set_flag_base: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

static void set_push(struct state *state, const char *key, unsigned add,
		     unsigned remove)
{
	struct yb_error err;
	int rc = state_set_flag_push(state, "INBOX", key, add, remove, &err);
	if (rc != YB_OK)
		print_error("state_set_flag_push: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

/* The key's base and open push as "BASE +ADD -REMOVE" ("?" and "none"
   for what is not recorded). */
static const char *flags_text(const struct state *state, const char *key)
{
	static char text[64];
	unsigned base = 0, add = 0, remove = 0;
	bool has_base = state_flag_base(state, "INBOX", key, &base);
	bool has_push = state_flag_push(state, "INBOX", key, &add, &remove);
	if (has_push)
		snprintf(text, sizeof(text), "%s%u +%u -%u", has_base ? "" : "?",
			 has_base ? base : 0, add, remove);
	else if (has_base)
		snprintf(text, sizeof(text), "%u none", base);
	else
		snprintf(text, sizeof(text), "? none");
	return text;
}

/* Base and push survive the journal and then the snapshot; B closes P. */
static void test_flag_base_and_push_persist(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "1/1", 10);
	commit(state, "INBOX", "1/2", 10);
	commit(state, "INBOX", "1/3", 10);
	assert_string_equal(flags_text(state, "1/1"), "? none");
	set_base(state, "1/1", 5);
	set_base(state, "1/2", 0);
	set_push(state, "1/2", 1, 4);
	set_base(state, "1/3", 3);
	set_push(state, "1/3", 4, 1);
	set_base(state, "1/3", 6);
	sync_ok(state);
	state_free(state);

	char want[1024] = "yubin-journal 1\n";
	append_line(want, sizeof(want), "C INBOX 1/1 10");
	append_line(want, sizeof(want), "C INBOX 1/2 10");
	append_line(want, sizeof(want), "C INBOX 1/3 10");
	append_line(want, sizeof(want), "B INBOX 1/1 5");
	append_line(want, sizeof(want), "B INBOX 1/2 0");
	append_line(want, sizeof(want), "P INBOX 1/2 1 4");
	append_line(want, sizeof(want), "B INBOX 1/3 3");
	append_line(want, sizeof(want), "P INBOX 1/3 4 1");
	append_line(want, sizeof(want), "B INBOX 1/3 6");
	char *journal = read_whole(state_file(fx, "journal"), NULL);
	assert_string_equal(journal, want);
	free(journal);

	for (int round = 0; round < 2; round++) {
		/* Round 0 replays the journal, round 1 the snapshot the
		   close of round 0 compacted it into. */
		state = open_state(fx, false);
		assert_string_equal(flags_text(state, "1/1"), "5 none");
		assert_string_equal(flags_text(state, "1/2"), "0 +1 -4");
		assert_string_equal(flags_text(state, "1/3"), "6 none");
		close_ok(state);
		assert_false(file_exists(state_file(fx, "journal")));
	}
	char *snapshot = read_whole(state_file(fx, "snapshot"), NULL);
	assert_non_null(strstr(snapshot, "\nP INBOX 1/2 1 4 #"));
	assert_non_null(strstr(snapshot, "\nB INBOX 1/1 5 #"));
	free(snapshot);
}

/* Recording what is already recorded writes nothing; forgetting a key
   forgets its flags. */
static void test_flag_base_noop_and_forget(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	commit(state, "INBOX", "k", 10);
	set_base(state, "k", 2);
	sync_ok(state);
	long size = file_size(state_file(fx, "journal"));
	set_base(state, "k", 2);
	sync_ok(state);
	assert_int_equal(file_size(state_file(fx, "journal")), size);
	forget(state, "INBOX", "k");
	commit(state, "INBOX", "k", 20);
	assert_string_equal(flags_text(state, "k"), "? none");
	state_free(state);
}

/* A push needs a delivered key and two disjoint sets, not both empty;
   bits past STATE_FLAGS_MAX are refused. */
static void test_flag_push_refused(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	struct state *state = open_state(fx, false);
	struct yb_error err;
	assert_int_equal(state_set_flag_base(state, "INBOX", "absent", 1, &err),
			 YB_ERR_INTERNAL);
	commit(state, "INBOX", "k", 10);
	assert_int_equal(state_set_flag_push(state, "INBOX", "k", 1, 1, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_flag_push(state, "INBOX", "k", 0, 0, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_flag_push(state, "INBOX", "k", 0x80, 0, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(state_set_flag_base(state, "INBOX", "k", 0x80, &err),
			 YB_ERR_INTERNAL);
	assert_string_equal(flags_text(state, "k"), "? none");
	state_free(state);
}

/* Hand-written B and P lines; a B or P of a key not delivered is
   ignored, as Z and S are; flags out of range are corruption. */
static void test_flag_records_handwritten(void **fixture_ptr)
{
	struct fixture *fx = *fixture_ptr;
	const char *bodies[] = {
		"C INBOX a 1", "B INBOX a 9", "P INBOX a 2 1",
		"B INBOX gone 3", "P INBOX gone 1 0",
	};
	write_journal_lines(fx, "yubin-journal 1\n", bodies,
			    sizeof(bodies) / sizeof(bodies[0]));
	struct state *state = open_state(fx, false);
	assert_string_equal(flags_text(state, "a"), "9 +2 -1");
	assert_false(state_contains(state, "INBOX", "gone"));
	state_free(state);

	const char *bad[] = { "C INBOX a 1", "B INBOX a 128" };
	write_journal_lines(fx, "yubin-journal 1\n", bad, 2);
	const char *msg = open_fails(fx, YB_ERR_CONFIG);
	char want[PATH_BUF + 32];
	snprintf(want, sizeof(want), "%s:3: corrupt record (bad flags)",
		 state_file(fx, "journal"));
	assert_non_null(strstr(msg, want));
	const char *short_push[] = { "C INBOX a 1", "P INBOX a 2" };
	write_journal_lines(fx, "yubin-journal 1\n", short_push, 2);
	assert_non_null(strstr(open_fails(fx, YB_ERR_CONFIG), "corrupt record"));
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
		T(test_commit_keeps_intent_dest),
		T(test_redelivery_takes_new_dest_keeps_time),
		T(test_set_dest_persists),
		T(test_set_dest_refusals),
		T(test_snapshot_dest_encoding),
		T(test_size_on_the_m_line),
		T(test_handwritten_snapshot_with_dests_and_values),
		T(test_bad_new_records_are_errors),
		T(test_longest_dest_in_snapshot),
		T(test_meta_set_get_persist),
		T(test_meta_limits),
		T(test_meta_refusals),
		T(test_meta_per_mailbox_cap),
		T(test_forget_mailbox),
		T(test_forget_mailbox_with_only_values),
		T(test_forget_mailbox_refusals),
		T(test_invalid_inputs_refused),
		T(test_longest_fields_round_trip),
		T(test_escaping_round_trip),
		T(test_files_hold_only_printable_fields),
		T(test_torn_last_record_every_offset),
		T(test_torn_commit_leaves_intent_open),
		T(test_torn_journal_header),
		T(test_bad_checksum_on_last_line_dropped),
		T(test_torn_tail_of_garbage_dropped),
		T(test_journal_of_only_garbage_emptied),
		T(test_garbage_then_good_record_is_error),
		T(test_garbage_then_checksummed_nonsense_is_error),
		T(test_corrupt_middle_line_is_error),
		T(test_valid_checksum_bad_record_is_error),
		T(test_raw_control_byte_in_field_is_error),
		T(test_long_lines),
		T(test_unknown_versions_are_errors),
		T(test_bad_journal_header_is_error),
		T(test_snapshot_corruption_is_error),
		T(test_snapshot_last_line_has_no_torn_excuse),
		T(test_snapshot_holds_only_m_records),
		T(test_sizes_and_missing_persist),
		T(test_values_beside_the_entry_persist),
		T(test_values_of_forgotten_key_ignored),
		T(test_snapshot_cut_at_every_offset),
		T(test_snapshot_lines_missing_or_added),
		T(test_snapshot_version_1_loads_and_is_rewritten),
		T(test_compaction_keeps_state),
		T(test_compaction_skipped_while_intent_open),
		T(test_small_journal_not_compacted),
		T(test_crash_between_rename_and_unlink),
		T(test_stale_snapshot_new_ignored),
		T(test_rich_state_replay_and_compaction),
		T(test_rich_crash_between_rename_and_unlink),
		T(test_forget_where),
		T(test_forget_mailbox_releases_memory),
		T(test_many_dests_through_compaction),
		T(test_run_dests_cost_their_bytes),
#ifdef YUBIN_TEST_HOOKS
		T(test_killed_during_compaction),
#endif
		T(test_lock_held_by_another_process),
		T(test_lock_read_only_also_locks),
#ifdef F_OFD_SETLK
		T(test_lock_held_in_same_process),
#endif
		T(test_non_regular_state_files_refused),
		T(test_snapshot_new_leftover_replaced),
		T(test_dir_writable_by_others_refused),
		T(test_dir_of_another_user_refused),
		T(test_dir_symlink_refused),
		T(test_parent_writable_by_others),
		T(test_state_dir_link_followed_only_if_ours),
		T(test_read_only_writes_nothing),
		T(test_failed_write_is_undone),
		T(test_large_pending_is_written_early),
		T(test_hundred_thousand_keys),
		T(test_batched_commits_with_sync),
		T(test_flag_base_and_push_persist),
		T(test_flag_base_noop_and_forget),
		T(test_flag_push_refused),
		T(test_flag_records_handwritten),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
