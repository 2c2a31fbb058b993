/*
 * test_delivery.c - the exactly-once batch on its own: a recording fake
 * sink (fakesink.h) and a real state in a temporary directory.
 *
 * What is checked is the order DESIGN.md gives: a key's intent is in the
 * journal on disk before its message is published, its commit only after
 * the publish returned, and `committed` is called only once the commit
 * is on disk; and, after every failure, exactly what the state holds and
 * what the sink was told.  The journal is read as a file (lines "OP
 * MAILBOX KEY ... CHECK"), so "durable" means written by state_sync, not
 * merely held in memory.  A seeded random test runs many histories with
 * a failure in each, then a second run that settles the intents, and
 * checks that every keyed message ends up published exactly once.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "delivery.h"
#include "error.h"
#include "fakesink.h"
#include "log.h"
#include "runstop.h"
#include "sinktest.h"
#include "state.h"

#define PATH_BUF 1024
#define LINE_BUF 4096   /* a journal line's start: keys up to 1024 bytes */
#define MAX_SEEN 1024

struct gen_msg;

static const char ACCOUNT[] = "acct";
static const char MAILBOX[] = "INBOX";

struct fixture {
	char root[PATH_BUF];          /* mkdtemp directory, removed after */
	char state_dir[PATH_BUF];     /* root/state */
	char journal_path[PATH_BUF];  /* root/state/acct/journal */
	struct state *state;
	struct fakesink *fake;
	struct delivery *delivery;
	bool with_outcomes;
	const char *mailbox;

	/* What `committed` and `refused` were given, in order. */
	const char *committed_key[MAX_SEEN];  /* the item: its key */
	uint64_t committed_bytes[MAX_SEEN];
	size_t committed_count;
	const char *refused_key[MAX_SEEN];
	const char *refused_detail[MAX_SEEN];
	size_t refused_count;
	/* `committed` checks that the key's commit is in the journal. */
	bool commit_must_be_on_disk;
	unsigned publish_checked;

	/* What the publish hook saw (fakesink_on_publish). */
	size_t intents_at_publish;
	size_t commits_on_disk_at_publish;
	bool intents_on_disk_at_publish;  /* for every keyed pending message */
	/* The publish hook then caps the journal's size: commits fail.  The
	   random test caps it at the cap_at_publish-th publish only. */
	bool cap_journal_at_publish;
	unsigned cap_at_publish;
	/* The random test: its messages, checked at every publish. */
	struct gen_msg *gen;
	size_t gen_count;
	size_t violations;
	bool journal_capped;
	struct rlimit saved_limit;
};

/* ---- helpers ----------------------------------------------------------- */

static char *read_journal(const struct fixture *fx)
{
	size_t len = 0;
	char *text = slurp_maybe(fx->journal_path, &len);
	if (!text) {
		text = calloc(1, 1);
		assert_non_null(text);
	}
	return text;
}

/* Lines of the journal on disk that start with "OP MAILBOX KEY " (key
   NULL: "OP MAILBOX "). */
static size_t journal_count(const struct fixture *fx, char op, const char *key)
{
	char prefix[LINE_BUF];
	int written = key ? snprintf(prefix, sizeof(prefix), "%c %s %s ", op,
				     fx->mailbox, key)
			  : snprintf(prefix, sizeof(prefix), "%c %s ", op,
				     fx->mailbox);
	assert_true(written > 0 && (size_t)written < sizeof(prefix));
	char *text = read_journal(fx);
	size_t count = 0;
	for (const char *line = text; *line;) {
		if (strncmp(line, prefix, (size_t)written) == 0)
			count++;
		const char *next = strchr(line, '\n');
		line = next ? next + 1 : line + strlen(line);
	}
	free(text);
	return count;
}

/* The journal has "I MAILBOX KEY DEST ". */
static bool intent_on_disk(const struct fixture *fx, const char *key,
			   const char *dest)
{
	char with_dest[LINE_BUF];
	int written = snprintf(with_dest, sizeof(with_dest), "%s %s", key, dest);
	assert_true(written > 0 && (size_t)written < sizeof(with_dest));
	return journal_count(fx, 'I', with_dest) == 1;
}

static void on_committed(void *ctx, void *item, uint64_t bytes)
{
	struct fixture *fx = ctx;
	assert_true(fx->committed_count < MAX_SEEN);
	const char *key = item;
	if (fx->commit_must_be_on_disk && key && *key &&
	    fakesink_publishes(fx->fake) != fx->publish_checked) {
		/* The first report of a batch: the whole batch is synced. */
		fx->publish_checked = fakesink_publishes(fx->fake);
		assert_true(state_contains(fx->state, fx->mailbox, key));
		assert_int_equal(journal_count(fx, 'C', key), 1);
	}
	fx->committed_key[fx->committed_count] = key;
	fx->committed_bytes[fx->committed_count++] = bytes;
}

static void on_refused(void *ctx, void *item, const char *detail)
{
	struct fixture *fx = ctx;
	assert_true(fx->refused_count < MAX_SEEN);
	fx->refused_key[fx->refused_count] = item;
	fx->refused_detail[fx->refused_count++] = detail;
}

/* The open intent for key, or NULL. */
static const struct state_intent *find_intent(const struct state *state,
					      const char *key)
{
	const struct state_intent *intents = NULL;
	size_t count = state_open_intents(state, &intents);
	for (size_t i = 0; i < count; i++)
		if (strcmp(intents[i].key, key) == 0)
			return &intents[i];
	return NULL;
}

static void cap_journal(struct fixture *fx)
{
	struct stat st;
	off_t size = stat(fx->journal_path, &st) == 0 ? st.st_size : 0;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &fx->saved_limit), 0);
	struct rlimit low = fx->saved_limit;
	low.rlim_cur = (rlim_t)size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
	fx->journal_capped = true;
}

static void uncap_journal(struct fixture *fx)
{
	if (!fx->journal_capped)
		return;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &fx->saved_limit), 0);
	fx->journal_capped = false;
}

static void check_publish_order(struct fixture *fx);

/* Before every publish: what is durable, and (if asked) cap the journal. */
static void on_publish(void *ctx)
{
	struct fixture *fx = ctx;
	const struct state_intent *intents = NULL;
	fx->intents_at_publish = state_open_intents(fx->state, &intents);
	fx->commits_on_disk_at_publish = journal_count(fx, 'C', NULL);
	const struct fake_msg *const *pending = NULL;
	size_t count = fakesink_pending(fx->fake, &pending);
	fx->intents_on_disk_at_publish = true;
	for (size_t i = 0; i < count; i++) {
		const struct state_intent *intent = NULL;
		for (size_t j = 0; j < fx->intents_at_publish; j++)
			if (strcmp(intents[j].dest, pending[i]->dest) == 0)
				intent = &intents[j];
		if (intent && !intent_on_disk(fx, intent->key, intent->dest))
			fx->intents_on_disk_at_publish = false;
	}
	if (fx->gen)
		check_publish_order(fx);
	if (fx->cap_journal_at_publish ||
	    (fx->cap_at_publish &&
	     fakesink_publishes(fx->fake) + 1 == fx->cap_at_publish))
		cap_journal(fx);
}

static void new_delivery(struct fixture *fx)
{
	struct delivery_params params = {
		.state = fx->state,
		.sink = fakesink_sink(fx->fake),
		.mailbox = fx->mailbox,
		.committed = on_committed,
		.refused = on_refused,
		.ctx = fx,
	};
	struct yb_error err;
	assert_int_equal(delivery_new(&params, &fx->delivery, &err), YB_OK);
}

static void open_state(struct fixture *fx, bool read_only)
{
	struct yb_error err;
	int rc = state_open(fx->state_dir, ACCOUNT, read_only, &fx->state, &err);
	if (rc != YB_OK)
		print_error("state_open: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

/* A new sink and delivery over the same state. */
static void use_sink(struct fixture *fx, bool with_outcomes)
{
	delivery_free(fx->delivery);
	fakesink_free(fx->fake);
	fx->fake = fakesink_new(with_outcomes);
	fx->with_outcomes = with_outcomes;
	fakesink_on_publish(fx->fake, on_publish, fx);
	new_delivery(fx);
}

/* End the run as a crash would (what is not synced is lost) and open
   the state again; the delivery is gone, the sink stays. */
static void reopen_state(struct fixture *fx, bool read_only)
{
	delivery_free(fx->delivery);
	fx->delivery = NULL;
	state_free(fx->state);
	fx->state = NULL;
	open_state(fx, read_only);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	make_temp_dir(fx->root, sizeof(fx->root), "yubin-delivery-XXXXXX");
	join(fx->state_dir, sizeof(fx->state_dir), fx->root, "state");
	int written = snprintf(fx->journal_path, sizeof(fx->journal_path),
			       "%s/%s/journal", fx->state_dir, ACCOUNT);
	assert_true(written > 0 && (size_t)written < sizeof(fx->journal_path));
	fx->mailbox = MAILBOX;
	open_state(fx, false);
	fx->fake = fakesink_new(false);
	fakesink_on_publish(fx->fake, on_publish, fx);
	new_delivery(fx);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	uncap_journal(fx);
	delivery_free(fx->delivery);
	fakesink_free(fx->fake);
	state_free(fx->state);
	remove_tree(fx->root);
	free(fx);
	return 0;
}

static const struct msg_meta META = { 0, 0, 0 };

static int begin(struct fixture *fx, struct yb_error *err)
{
	return delivery_begin(fx->delivery, &META, err);
}

/* One whole message, each step asserted to succeed. */
static void deliver(struct fixture *fx, const char *key, const char *text)
{
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	assert_int_equal(delivery_write(fx->delivery, text, strlen(text), &err),
			 YB_OK);
	int rc = delivery_end(fx->delivery, key, (void *)key, &err);
	if (rc != YB_OK)
		print_error("delivery_end: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

static void flush_ok(struct fixture *fx)
{
	struct yb_error err;
	int rc = delivery_flush(fx->delivery, &err);
	if (rc != YB_OK)
		print_error("delivery_flush: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
}

static void assert_msg_bytes(const struct fixture *fx, unsigned id,
			     const char *bytes, size_t len)
{
	const struct fake_msg *msg = fakesink_msg(fx->fake, id);
	assert_non_null(msg);
	assert_int_equal(msg->len, len);
	if (len > 0)
		assert_memory_equal(msg->bytes, bytes, len);
}

static void assert_status(const struct fixture *fx, unsigned id,
			  enum fake_msg_status status)
{
	const struct fake_msg *msg = fakesink_msg(fx->fake, id);
	assert_non_null(msg);
	assert_int_equal(msg->status, status);
}

static size_t open_intent_count(const struct fixture *fx)
{
	const struct state_intent *intents = NULL;
	return state_open_intents(fx->state, &intents);
}

/* key is delivered, recorded at dest, with no intent left open. */
static void assert_committed(const struct fixture *fx, const char *key,
			     const char *dest)
{
	assert_true(state_contains(fx->state, fx->mailbox, key));
	assert_non_null(state_dest(fx->state, fx->mailbox, key));
	assert_string_equal(state_dest(fx->state, fx->mailbox, key), dest);
	assert_null(find_intent(fx->state, key));
}

static void assert_unknown(const struct fixture *fx, const char *key)
{
	assert_false(state_contains(fx->state, fx->mailbox, key));
	assert_null(find_intent(fx->state, key));
}

/* ---- the protocol ------------------------------------------------------ */

static void test_idle_delivery_calls_nothing(void **state)
{
	struct fixture *fx = *state;
	flush_ok(fx);
	delivery_abort(fx->delivery);
	assert_string_equal(fakesink_trace(fx->fake), "");
	assert_int_equal(delivery_matched(fx->delivery), 0);
	delivery_free(fx->delivery);
	fx->delivery = NULL;
	delivery_free(NULL);
	assert_string_equal(fakesink_trace(fx->fake), "");
	assert_false(exists(fx->journal_path));
}

static void test_one_message_in_protocol_order(void **state)
{
	struct fixture *fx = *state;
	fx->commit_must_be_on_disk = true;
	deliver(fx, "uid-1", "Subject: x\r\n\r\nbody\r\n");
	/* Ended, not yet published or recorded. */
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 17\nend 1\n");
	assert_int_equal(fx->committed_count, 0);
	assert_unknown(fx, "uid-1");
	flush_ok(fx);
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 17\nend 1\n"
			    "prepare\ndest 1\npublish\n");
	/* At publish: the intent was open and on disk, no commit yet. */
	assert_int_equal(fx->intents_at_publish, 1);
	assert_true(fx->intents_on_disk_at_publish);
	assert_int_equal(fx->commits_on_disk_at_publish, 0);
	/* After: committed at the intent's dest, on disk, reported once. */
	assert_committed(fx, "uid-1", "msg-1");
	assert_int_equal(journal_count(fx, 'I', "uid-1 msg-1"), 1);
	assert_int_equal(journal_count(fx, 'C', "uid-1"), 1);
	assert_int_equal(fx->committed_count, 1);
	assert_string_equal(fx->committed_key[0], "uid-1");
	assert_int_equal(fx->committed_bytes[0], 17);
	assert_msg_bytes(fx, 1, "Subject: x\n\nbody\n", 17);
	assert_status(fx, 1, FAKE_PUBLISHED);
	/* A second flush has nothing to do. */
	fakesink_clear_trace(fx->fake);
	flush_ok(fx);
	assert_string_equal(fakesink_trace(fx->fake), "");
	/* Durable: a new run sees it. */
	reopen_state(fx, false);
	assert_committed(fx, "uid-1", "msg-1");
}

static void test_crlf_split_everywhere(void **state)
{
	struct fixture *fx = *state;
	static const char input[] = "From: a\r\nSubject: b\r\n\r\nline\rbare\n\r\r\nend\r";
	static const char expected[] = "From: a\nSubject: b\n\nline\rbare\n\r\nend\r";
	size_t len = strlen(input);
	size_t expected_len = strlen(expected);
	char keys[64][16];
	unsigned id = 0;
	/* Two pieces, split at every point. */
	for (size_t cut = 0; cut <= len; cut++) {
		struct yb_error err;
		snprintf(keys[cut], sizeof(keys[cut]), "cut-%zu", cut);
		assert_int_equal(begin(fx, &err), YB_OK);
		assert_int_equal(delivery_write(fx->delivery, input, cut, &err), YB_OK);
		assert_int_equal(delivery_write(fx->delivery, input + cut, len - cut,
						&err), YB_OK);
		assert_int_equal(delivery_end(fx->delivery, keys[cut], keys[cut], &err),
				 YB_OK);
		assert_msg_bytes(fx, ++id, expected, expected_len);
	}
	/* One byte at a time, through the callback form. */
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(delivery_write_cb(fx->delivery, input + i, 1, &err),
				 YB_OK);
	assert_int_equal(delivery_end(fx->delivery, "bytewise", "bytewise", &err),
			 YB_OK);
	assert_msg_bytes(fx, ++id, expected, expected_len);
	flush_ok(fx);
	assert_int_equal(fx->committed_count, len + 2);
	for (size_t i = 0; i < fx->committed_count; i++)
		assert_int_equal(fx->committed_bytes[i], expected_len);
	assert_int_equal(state_count(fx->state, fx->mailbox), len + 2);
}

static void test_write_slices_and_empty_pieces(void **state)
{
	struct fixture *fx = *state;
	/* 64 KiB slices: a CRLF across the slice boundary still becomes LF. */
	size_t len = 65535 + 3;
	char *input = malloc(len);
	assert_non_null(input);
	memset(input, 'x', 65535);
	memcpy(input + 65535, "\r\ny", 3);
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	assert_int_equal(delivery_write(fx->delivery, input, len, &err), YB_OK);
	/* A lone CR gives nothing yet, and the sink is called with 0 bytes;
	   a write of nothing calls nothing. */
	assert_int_equal(delivery_write(fx->delivery, "\r", 1, &err), YB_OK);
	assert_int_equal(delivery_write(fx->delivery, NULL, 0, &err), YB_OK);
	assert_int_equal(delivery_end(fx->delivery, "big", "big", &err), YB_OK);
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 65535\nwrite 1 2\nwrite 1 0\n"
			    "write 1 1\nend 1\n");
	input[65535] = '\n';
	input[65536] = 'y';
	input[65537] = '\r';
	assert_msg_bytes(fx, 1, input, len);
	flush_ok(fx);
	assert_int_equal(fx->committed_bytes[0], len);
	free(input);
}

static void test_message_without_key(void **state)
{
	struct fixture *fx = *state;
	deliver(fx, NULL, "no key\r\n");
	deliver(fx, "k", "keyed\r\n");
	flush_ok(fx);
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 7\nend 1\nbegin 2\nwrite 2 6\nend 2\n"
			    "prepare\ndest 2\npublish\n");
	assert_status(fx, 1, FAKE_PUBLISHED);
	/* Both reported, only the keyed one recorded. */
	assert_int_equal(fx->committed_count, 2);
	assert_null(fx->committed_key[0]);
	assert_string_equal(fx->committed_key[1], "k");
	assert_int_equal(state_count(fx->state, fx->mailbox), 1);
	assert_int_equal(journal_count(fx, 'I', NULL), 1);
	/* A batch of keyless messages only writes nothing to the state. */
	reopen_state(fx, false);
	use_sink(fx, false);
	deliver(fx, NULL, "again\r\n");
	flush_ok(fx);
	assert_int_equal(fakesink_published(fx->fake), 1);
	assert_int_equal(journal_count(fx, 'I', NULL), 1);
	assert_int_equal(state_count(fx->state, fx->mailbox), 1);
}

static void test_batch_by_count(void **state)
{
	struct fixture *fx = *state;
	static char keys[DELIVERY_BATCH_MESSAGES + 1][16];
	for (size_t i = 0; i < DELIVERY_BATCH_MESSAGES - 1; i++) {
		snprintf(keys[i], sizeof(keys[i]), "n-%zu", i);
		deliver(fx, keys[i], "m\r\n");
	}
	assert_int_equal(fakesink_publishes(fx->fake), 0);
	assert_int_equal(fx->committed_count, 0);
	assert_false(exists(fx->journal_path));
	/* The 128th message completes the batch: delivery_end flushes. */
	snprintf(keys[DELIVERY_BATCH_MESSAGES - 1], 16, "n-%d",
		 DELIVERY_BATCH_MESSAGES - 1);
	deliver(fx, keys[DELIVERY_BATCH_MESSAGES - 1], "m\r\n");
	assert_int_equal(fakesink_publishes(fx->fake), 1);
	assert_int_equal(fx->intents_at_publish, DELIVERY_BATCH_MESSAGES);
	assert_true(fx->intents_on_disk_at_publish);
	assert_int_equal(fx->committed_count, DELIVERY_BATCH_MESSAGES);
	for (size_t i = 0; i < DELIVERY_BATCH_MESSAGES; i++) {
		assert_string_equal(fx->committed_key[i], keys[i]);
		assert_committed(fx, keys[i], fakesink_msg(fx->fake, (unsigned)i + 1)->dest);
	}
	/* The next one starts a new batch. */
	snprintf(keys[DELIVERY_BATCH_MESSAGES], 16, "n-%d", DELIVERY_BATCH_MESSAGES);
	deliver(fx, keys[DELIVERY_BATCH_MESSAGES], "m\r\n");
	assert_int_equal(fakesink_publishes(fx->fake), 1);
	flush_ok(fx);
	assert_int_equal(fakesink_publishes(fx->fake), 2);
	assert_int_equal(fx->intents_at_publish, 1);
	assert_int_equal(state_count(fx->state, fx->mailbox),
			 DELIVERY_BATCH_MESSAGES + 1);
}

/* Write len bytes of 'a' (no line ends) in 1 MiB pieces. */
static void write_bulk(struct fixture *fx, size_t len, char fill)
{
	static char chunk[1u << 20];
	memset(chunk, fill, sizeof(chunk));
	struct yb_error err;
	while (len > 0) {
		size_t piece = len < sizeof(chunk) ? len : sizeof(chunk);
		assert_int_equal(delivery_write(fx->delivery, chunk, piece, &err),
				 YB_OK);
		len -= piece;
	}
}

static void bulk_message(struct fixture *fx, const char *key, size_t len,
			 char fill)
{
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	write_bulk(fx, len, fill);
	assert_int_equal(delivery_end(fx->delivery, key, (void *)key, &err), YB_OK);
}

static void test_batch_by_bytes(void **state)
{
	struct fixture *fx = *state;
	/* One byte short of the limit: still pending. */
	bulk_message(fx, "b-1", DELIVERY_BATCH_BYTES - 1, 'a');
	assert_int_equal(fakesink_publishes(fx->fake), 0);
	/* One more byte reaches it: the batch of two is flushed. */
	bulk_message(fx, "b-2", 1, 'b');
	assert_int_equal(fakesink_publishes(fx->fake), 1);
	assert_int_equal(fx->intents_at_publish, 2);
	assert_int_equal(fx->committed_count, 2);
	assert_int_equal(fx->committed_bytes[0], DELIVERY_BATCH_BYTES - 1);
	assert_int_equal(fx->committed_bytes[1], 1);
	/* The limit counts the bytes after CRLF -> LF: 16 MiB from the server
	   that are 8 MiB on disk do not flush. */
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	static char crlf[1u << 20];
	for (size_t i = 0; i < sizeof(crlf); i += 2)
		memcpy(crlf + i, "\r\n", 2);
	for (size_t i = 0; i < DELIVERY_BATCH_BYTES / sizeof(crlf); i++)
		assert_int_equal(delivery_write(fx->delivery, crlf, sizeof(crlf), &err),
				 YB_OK);
	assert_int_equal(delivery_end(fx->delivery, "b-3", "b-3", &err), YB_OK);
	assert_int_equal(fakesink_publishes(fx->fake), 1);
	assert_int_equal(fakesink_msg(fx->fake, 3)->len, DELIVERY_BATCH_BYTES / 2);
	/* A single message of the whole limit flushes at its end. */
	bulk_message(fx, "b-4", DELIVERY_BATCH_BYTES / 2, 'c');
	assert_int_equal(fakesink_publishes(fx->fake), 2);
	assert_int_equal(fx->intents_at_publish, 2);
	assert_int_equal(state_count(fx->state, fx->mailbox), 4);
}

static void test_abort(void **state)
{
	struct fixture *fx = *state;
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	assert_int_equal(delivery_write(fx->delivery, "part\r", 5, &err), YB_OK);
	delivery_abort(fx->delivery);
	delivery_abort(fx->delivery);
	deliver(fx, "kept", "whole\r\n");
	flush_ok(fx);
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 4\nabort 1\n"
			    "begin 2\nwrite 2 6\nend 2\nprepare\ndest 2\npublish\n");
	assert_status(fx, 1, FAKE_ABORTED);
	assert_committed(fx, "kept", "msg-2");
	assert_int_equal(state_count(fx->state, fx->mailbox), 1);
	assert_int_equal(fx->committed_count, 1);
}

static void test_free_discards_pending_batch(void **state)
{
	struct fixture *fx = *state;
	deliver(fx, "a", "one\r\n");
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	delivery_free(fx->delivery);
	fx->delivery = NULL;
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 4\nend 1\nbegin 2\nabort 2\ndiscard\n");
	assert_status(fx, 1, FAKE_DISCARDED);
	assert_unknown(fx, "a");
	assert_int_equal(fx->committed_count, 0);
	assert_false(exists(fx->journal_path));
}

static void test_begin_twice_refused(void **state)
{
	struct fixture *fx = *state;
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	assert_int_equal(begin(fx, &err), YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "already being delivered"));
	/* The first message goes on. */
	assert_int_equal(delivery_write(fx->delivery, "x\r\n", 3, &err), YB_OK);
	assert_int_equal(delivery_end(fx->delivery, "k", "k", &err), YB_OK);
	flush_ok(fx);
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 2\nend 1\nprepare\ndest 1\npublish\n");
	assert_committed(fx, "k", "msg-1");
}

static void test_write_or_end_without_message_refused(void **state)
{
	struct fixture *fx = *state;
	struct yb_error err;
	assert_int_equal(delivery_write(fx->delivery, "x\r\n", 3, &err),
			 YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "no message"));
	assert_int_equal(delivery_end(fx->delivery, "k", "k", &err),
			 YB_ERR_INTERNAL);
	/* The sink never heard of it, and nothing was recorded. */
	assert_string_equal(fakesink_trace(fx->fake), "");
	assert_unknown(fx, "k");
}

/* ---- the matcher ------------------------------------------------------- */

struct matcher {
	unsigned char known[32];   /* the digest of the copy held */
	const char *dest;          /* its dest */
	unsigned char asked[8][32];
	size_t asked_count;
};

static const char *match_known(void *ctx, const unsigned char digest[32])
{
	struct matcher *matcher = ctx;
	assert_true(matcher->asked_count < 8);
	memcpy(matcher->asked[matcher->asked_count++], digest, 32);
	return memcmp(digest, matcher->known, 32) == 0 ? matcher->dest : NULL;
}

static void sha256(const char *text, size_t len, unsigned char out[32])
{
	unsigned int out_len = 0;
	assert_int_equal(EVP_Digest(text, len, out, &out_len, EVP_sha256(), NULL), 1);
	assert_int_equal(out_len, 32);
}

static void deliver_in_pieces(struct fixture *fx, const char *key,
			      const char *text, size_t piece)
{
	struct yb_error err;
	size_t len = strlen(text);
	assert_int_equal(begin(fx, &err), YB_OK);
	for (size_t at = 0; at < len; at += piece) {
		size_t n = len - at < piece ? len - at : piece;
		assert_int_equal(delivery_write(fx->delivery, text + at, n, &err), YB_OK);
	}
	assert_int_equal(delivery_end(fx->delivery, key, (void *)key, &err), YB_OK);
}

static void test_matcher_drops_copy_and_commits_dest(void **state)
{
	struct fixture *fx = *state;
	struct matcher matcher = { .dest = "held-7" };
	sha256("held\nbody\r\n", 11, matcher.known);
	struct yb_error err;
	assert_int_equal(delivery_set_matcher(fx->delivery, match_known, &matcher,
					      &err), YB_OK);
	/* Setting it again keeps one digest context. */
	assert_int_equal(delivery_set_matcher(fx->delivery, match_known, &matcher,
					      &err), YB_OK);
	deliver(fx, "new", "fresh\r\n");
	/* The held copy, in pieces that split its CRLFs. */
	deliver_in_pieces(fx, "old", "held\r\nbody\r\r\n", 3);
	assert_int_equal(delivery_matched(fx->delivery), 1);
	/* The matcher saw the digests of the bytes after CRLF -> LF. */
	unsigned char fresh[32];
	sha256("fresh\n", 6, fresh);
	assert_int_equal(matcher.asked_count, 2);
	assert_memory_equal(matcher.asked[0], fresh, 32);
	assert_memory_equal(matcher.asked[1], matcher.known, 32);
	/* The copy is ended, then aborted: it leaves the batch. */
	assert_status(fx, 2, FAKE_ABORTED);
	/* Its key is committed at once with the held copy's dest (buffered:
	   made durable by the next sync), and not reported as committed. */
	assert_committed(fx, "old", "held-7");
	assert_int_equal(fx->committed_count, 0);
	flush_ok(fx);
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 6\nend 1\n"
			    "begin 2\nwrite 2 3\nwrite 2 2\nwrite 2 3\nwrite 2 2\nwrite 2 1\n"
			    "end 2\n"
			    "abort 2\nprepare\ndest 1\npublish\n");
	assert_int_equal(fx->intents_at_publish, 1);
	assert_int_equal(fx->commits_on_disk_at_publish, 1);
	assert_committed(fx, "new", "msg-1");
	assert_int_equal(fx->committed_count, 1);
	assert_string_equal(fx->committed_key[0], "new");
	assert_int_equal(journal_count(fx, 'I', "old"), 0);
	reopen_state(fx, false);
	assert_committed(fx, "old", "held-7");
}

static void test_matcher_without_key_and_off(void **state)
{
	struct fixture *fx = *state;
	struct matcher matcher = { .dest = "held-1" };
	sha256("same\n", 5, matcher.known);
	struct yb_error err;
	assert_int_equal(delivery_set_matcher(fx->delivery, match_known, &matcher,
					      &err), YB_OK);
	/* No key: dropped and counted, nothing recorded. */
	deliver(fx, NULL, "same\r\n");
	assert_int_equal(delivery_matched(fx->delivery), 1);
	assert_status(fx, 1, FAKE_ABORTED);
	/* An empty message is hashed too (and not matched here). */
	deliver(fx, "empty", "");
	assert_int_equal(matcher.asked_count, 2);
	/* Off: the same bytes are delivered. */
	assert_int_equal(delivery_set_matcher(fx->delivery, NULL, NULL, &err), YB_OK);
	deliver(fx, "same", "same\r\n");
	flush_ok(fx);
	assert_int_equal(matcher.asked_count, 2);
	assert_int_equal(delivery_matched(fx->delivery), 1);
	assert_committed(fx, "same", "msg-3");
	assert_committed(fx, "empty", "msg-2");
	assert_int_equal(state_count(fx->state, fx->mailbox), 2);
}

/* A key already delivered that matches again: its dest moves to the copy. */
static void test_matcher_on_delivered_key(void **state)
{
	struct fixture *fx = *state;
	deliver(fx, "k", "text\r\n");
	flush_ok(fx);
	assert_committed(fx, "k", "msg-1");
	struct matcher matcher = { .dest = "elsewhere" };
	sha256("text\n", 5, matcher.known);
	struct yb_error err;
	assert_int_equal(delivery_set_matcher(fx->delivery, match_known, &matcher,
					      &err), YB_OK);
	deliver(fx, "k", "text\r\n");
	assert_committed(fx, "k", "elsewhere");
	assert_int_equal(fakesink_published(fx->fake), 1);
}

/* ---- the sink fails ---------------------------------------------------- */

static void test_sink_begin_fails(void **state)
{
	struct fixture *fx = *state;
	fakesink_fail(fx->fake, FAKE_BEGIN, 1, YB_ERR_IO);
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_ERR_IO);
	assert_string_equal(err.msg, "fake begin failed");
	/* No current message: abort does nothing, the next begin works. */
	delivery_abort(fx->delivery);
	deliver(fx, "k", "x\r\n");
	flush_ok(fx);
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1 fail\nbegin 1\nwrite 1 2\nend 1\n"
			    "prepare\ndest 1\npublish\n");
	assert_committed(fx, "k", "msg-1");
}

static void test_sink_write_fails(void **state)
{
	struct fixture *fx = *state;
	deliver(fx, "before", "first\r\n");
	fakesink_fail(fx->fake, FAKE_WRITE, 2, YB_ERR_IO);
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	assert_int_equal(delivery_write(fx->delivery, "ab\r\n", 4, &err), YB_OK);
	assert_int_equal(delivery_write(fx->delivery, "cd\r\n", 4, &err), YB_ERR_IO);
	assert_string_equal(err.msg, "fake write failed");
	/* The engine aborts; the batch before is untouched. */
	delivery_abort(fx->delivery);
	assert_status(fx, 2, FAKE_ABORTED);
	assert_msg_bytes(fx, 2, "ab\n", 3);
	flush_ok(fx);
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 6\nend 1\n"
			    "begin 2\nwrite 2 3\nwrite 2 3 fail\nabort 2\n"
			    "prepare\ndest 1\npublish\n");
	assert_committed(fx, "before", "msg-1");
	assert_int_equal(state_count(fx->state, fx->mailbox), 1);
	assert_int_equal(fx->committed_count, 1);
}

static void test_sink_end_fails(void **state)
{
	struct fixture *fx = *state;
	deliver(fx, "before", "first\r\n");
	/* msg_end fails: delivery_end aborts the message itself. */
	fakesink_fail(fx->fake, FAKE_END, 1, YB_ERR_IO);
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	assert_int_equal(delivery_write(fx->delivery, "x\r\n", 3, &err), YB_OK);
	assert_int_equal(delivery_end(fx->delivery, "lost", "lost", &err), YB_ERR_IO);
	assert_string_equal(err.msg, "fake end failed");
	assert_status(fx, 2, FAKE_ABORTED);
	/* The held CR of a message is written at its end: that write fails. */
	fakesink_fail(fx->fake, FAKE_WRITE, 2, YB_ERR_IO);
	assert_int_equal(begin(fx, &err), YB_OK);
	assert_int_equal(delivery_write(fx->delivery, "y\r", 2, &err), YB_OK);
	assert_int_equal(delivery_end(fx->delivery, "cr", "cr", &err), YB_ERR_IO);
	assert_status(fx, 3, FAKE_ABORTED);
	/* A new message can begin: no current one is left. */
	deliver(fx, "after", "last\r\n");
	flush_ok(fx);
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 6\nend 1\n"
			    "begin 2\nwrite 2 2\nend 2 fail\nabort 2\n"
			    "begin 3\nwrite 3 1\nwrite 3 1 fail\nabort 3\n"
			    "begin 4\nwrite 4 5\nend 4\n"
			    "prepare\ndest 1\ndest 4\npublish\n");
	assert_committed(fx, "before", "msg-1");
	assert_committed(fx, "after", "msg-4");
	assert_unknown(fx, "lost");
	assert_unknown(fx, "cr");
	assert_int_equal(fx->committed_count, 2);
}

static void test_sink_prepare_fails(void **state)
{
	struct fixture *fx = *state;
	deliver(fx, "a", "one\r\n");
	deliver(fx, "b", "two\r\n");
	fakesink_fail(fx->fake, FAKE_PREPARE, 1, YB_ERR_IO);
	struct yb_error err;
	assert_int_equal(delivery_flush(fx->delivery, &err), YB_ERR_IO);
	assert_string_equal(err.msg, "fake prepare failed");
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 4\nend 1\nbegin 2\nwrite 2 4\nend 2\n"
			    "prepare fail\ndiscard\n");
	/* Nothing happened: no intent, no commit, nothing reported. */
	assert_status(fx, 1, FAKE_DISCARDED);
	assert_status(fx, 2, FAKE_DISCARDED);
	assert_unknown(fx, "a");
	assert_unknown(fx, "b");
	assert_int_equal(fx->committed_count, 0);
	assert_false(exists(fx->journal_path));
	/* The batch is gone: the next flush has nothing; a new one works. */
	flush_ok(fx);
	deliver(fx, "c", "three\r\n");
	flush_ok(fx);
	assert_int_equal(fx->intents_at_publish, 1);
	assert_committed(fx, "c", "msg-3");
}

/* Settle the open intents as the next run does (fetch.c): present in the
   sink, commit; absent, drop. */
static void settle_intents(struct fixture *fx)
{
	const struct state_intent *intents = NULL;
	size_t count = state_open_intents(fx->state, &intents);
	char keys[MAX_SEEN][64];
	bool present[MAX_SEEN];
	assert_true(count <= MAX_SEEN);
	struct yb_error err;
	for (size_t i = 0; i < count; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%s", intents[i].key);
		assert_int_equal(sink_resolve(fakesink_sink(fx->fake), intents[i].dest,
					      &present[i], &err), YB_OK);
	}
	for (size_t i = 0; i < count; i++) {
		int rc = present[i]
			? state_commit(fx->state, fx->mailbox, keys[i], 1, &err)
			: state_drop_intent(fx->state, fx->mailbox, keys[i], &err);
		assert_int_equal(rc, YB_OK);
	}
	assert_int_equal(state_sync(fx->state, &err), YB_OK);
}

static void test_sink_publish_fails(void **state)
{
	struct fixture *fx = *state;
	deliver(fx, "a", "one\r\n");
	deliver(fx, "b", "two\r\n");
	deliver(fx, "c", "three\r\n");
	/* Two of three reach the sink before the failure. */
	fakesink_fail(fx->fake, FAKE_PUBLISH, 1, YB_ERR_IO);
	fakesink_publish_partly(fx->fake, 2);
	struct yb_error err;
	assert_int_equal(delivery_flush(fx->delivery, &err), YB_ERR_IO);
	assert_string_equal(err.msg, "fake publish failed");
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 4\nend 1\nbegin 2\nwrite 2 4\nend 2\n"
			    "begin 3\nwrite 3 6\nend 3\n"
			    "prepare\ndest 1\ndest 2\ndest 3\npublish fail\n");
	/* No commit, nothing reported; the three intents are open, on disk. */
	assert_int_equal(fx->committed_count, 0);
	assert_int_equal(journal_count(fx, 'C', NULL), 0);
	assert_int_equal(open_intent_count(fx), 3);
	assert_string_equal(find_intent(fx->state, "a")->dest, "msg-1");
	assert_string_equal(find_intent(fx->state, "c")->dest, "msg-3");
	assert_false(state_contains(fx->state, fx->mailbox, "a"));
	/* The batch is gone (no discard: publish freed it). */
	fakesink_clear_trace(fx->fake);
	flush_ok(fx);
	assert_string_equal(fakesink_trace(fx->fake), "");
	/* The next run settles them from the sink. */
	reopen_state(fx, false);
	assert_int_equal(open_intent_count(fx), 3);
	settle_intents(fx);
	assert_committed(fx, "a", "msg-1");
	assert_committed(fx, "b", "msg-2");
	assert_unknown(fx, "c");
}

/* ---- the state fails --------------------------------------------------- */

static void test_intent_sync_fails(void **state)
{
	struct fixture *fx = *state;
	deliver(fx, "first", "1\r\n");
	flush_ok(fx);
	size_t journal_before = 0;
	free(slurp(fx->journal_path, &journal_before));
	deliver(fx, "a", "one\r\n");
	deliver(fx, "b", "two\r\n");
	cap_journal(fx);
	struct yb_error err;
	assert_int_equal(delivery_flush(fx->delivery, &err), YB_ERR_IO);
	uncap_journal(fx);
	assert_non_null(strstr(err.msg, "journal"));
	/* Never published: discarded, nothing reported, nothing on disk. */
	assert_int_equal(fakesink_publishes(fx->fake), 1);
	assert_status(fx, 2, FAKE_DISCARDED);
	assert_status(fx, 3, FAKE_DISCARDED);
	assert_int_equal(fx->committed_count, 1);
	size_t journal_after = 0;
	free(slurp(fx->journal_path, &journal_after));
	assert_int_equal(journal_after, journal_before);
	/* In memory the two intents stay open, their records still pending:
	   the next sync writes them, and the run after drops them. */
	assert_int_equal(open_intent_count(fx), 2);
	assert_false(state_contains(fx->state, fx->mailbox, "a"));
	deliver(fx, "c", "three\r\n");
	flush_ok(fx);
	assert_int_equal(fx->intents_at_publish, 3);
	assert_true(intent_on_disk(fx, "a", "msg-2"));
	assert_committed(fx, "c", "msg-4");
	reopen_state(fx, false);
	assert_int_equal(open_intent_count(fx), 2);
	settle_intents(fx);
	assert_unknown(fx, "a");
	assert_unknown(fx, "b");
	assert_committed(fx, "c", "msg-4");
}

static void test_commit_sync_fails(void **state)
{
	struct fixture *fx = *state;
	deliver(fx, "a", "one\r\n");
	deliver(fx, "b", "two\r\n");
	fx->cap_journal_at_publish = true;
	struct yb_error err;
	assert_int_equal(delivery_flush(fx->delivery, &err), YB_ERR_IO);
	uncap_journal(fx);
	fx->cap_journal_at_publish = false;
	/* Published, intents on disk, no commit on disk, nothing reported. */
	assert_status(fx, 1, FAKE_PUBLISHED);
	assert_status(fx, 2, FAKE_PUBLISHED);
	assert_true(fx->intents_on_disk_at_publish);
	assert_int_equal(journal_count(fx, 'C', NULL), 0);
	assert_int_equal(fx->committed_count, 0);
	/* In memory both are delivered already (the records wait to be
	   written), and no intent is open. */
	assert_committed(fx, "a", "msg-1");
	assert_committed(fx, "b", "msg-2");
	/* A crash now: the next run finds the intents and the sink has them. */
	reopen_state(fx, false);
	assert_int_equal(open_intent_count(fx), 2);
	assert_false(state_contains(fx->state, fx->mailbox, "a"));
	settle_intents(fx);
	assert_committed(fx, "a", "msg-1");
	assert_committed(fx, "b", "msg-2");
	assert_int_equal(journal_count(fx, 'C', "a"), 1);
}

static void test_commit_sync_fails_then_recovers(void **state)
{
	struct fixture *fx = *state;
	deliver(fx, "a", "one\r\n");
	fx->cap_journal_at_publish = true;
	struct yb_error err;
	assert_int_equal(delivery_flush(fx->delivery, &err), YB_ERR_IO);
	uncap_journal(fx);
	fx->cap_journal_at_publish = false;
	/* The pending commit is written by the next batch's sync. */
	deliver(fx, "b", "two\r\n");
	flush_ok(fx);
	assert_int_equal(journal_count(fx, 'C', "a"), 1);
	assert_int_equal(journal_count(fx, 'C', "b"), 1);
	/* Only b is reported: a's report was lost with its failed batch. */
	assert_int_equal(fx->committed_count, 1);
	assert_string_equal(fx->committed_key[0], "b");
	reopen_state(fx, false);
	assert_int_equal(open_intent_count(fx), 0);
	assert_committed(fx, "a", "msg-1");
}

static void test_read_only_state(void **state)
{
	struct fixture *fx = *state;
	reopen_state(fx, true);
	use_sink(fx, false);
	deliver(fx, "a", "one\r\n");
	struct yb_error err;
	assert_int_equal(delivery_flush(fx->delivery, &err), YB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "read-only"));
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 4\nend 1\nprepare\ndest 1\ndiscard\n");
	assert_unknown(fx, "a");
	assert_int_equal(fx->committed_count, 0);
	/* Keyless messages record nothing, but the flush syncs the state
	   all the same: refused too. */
	deliver(fx, NULL, "free\r\n");
	assert_int_equal(delivery_flush(fx->delivery, &err), YB_ERR_INTERNAL);
	assert_status(fx, 2, FAKE_DISCARDED);
	assert_int_equal(fakesink_published(fx->fake), 0);
	assert_int_equal(fx->committed_count, 0);
	/* A matched copy with a key cannot be recorded either. */
	struct matcher matcher = { .dest = "held" };
	sha256("copy\n", 5, matcher.known);
	assert_int_equal(delivery_set_matcher(fx->delivery, match_known, &matcher,
					      &err), YB_OK);
	assert_int_equal(begin(fx, &err), YB_OK);
	assert_int_equal(delivery_write(fx->delivery, "copy\r\n", 6, &err), YB_OK);
	assert_int_equal(delivery_end(fx->delivery, "m", "m", &err), YB_ERR_INTERNAL);
	assert_status(fx, 3, FAKE_ABORTED);
	assert_int_equal(delivery_matched(fx->delivery), 1);
	assert_unknown(fx, "m");
}

/* ---- inputs out of range ----------------------------------------------- */

static void test_bad_key_spoils_its_batch(void **state)
{
	struct fixture *fx = *state;
	char long_key[1100];
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	const char *bad_keys[] = { "", long_key };
	for (size_t i = 0; i < 2; i++) {
		deliver(fx, "good", "fine\r\n");
		deliver(fx, bad_keys[i], "bad\r\n");
		struct yb_error err;
		assert_int_equal(delivery_flush(fx->delivery, &err), YB_ERR_INTERNAL);
		assert_non_null(strstr(err.msg, "message key"));
		/* The good message of the batch is not published either, and
		   its intent (recorded before the bad one) stays open in
		   memory, pending. */
		assert_status(fx, (unsigned)(2 * i + 1), FAKE_DISCARDED);
		assert_status(fx, (unsigned)(2 * i + 2), FAKE_DISCARDED);
		assert_false(state_contains(fx->state, fx->mailbox, "good"));
		assert_non_null(find_intent(fx->state, "good"));
	}
	assert_int_equal(fakesink_publishes(fx->fake), 0);
	assert_int_equal(fx->committed_count, 0);
	assert_false(exists(fx->journal_path));
	/* A key of 1024 bytes, the most the state takes, goes through. */
	long_key[1024] = '\0';
	deliver(fx, long_key, "edge\r\n");
	flush_ok(fx);
	assert_committed(fx, long_key, "msg-5");
}

static void test_bad_mailbox(void **state)
{
	struct fixture *fx = *state;
	/* Nothing checks the mailbox before the state does, at the flush. */
	static char long_mailbox[STATE_MAILBOX_MAX + 2];
	memset(long_mailbox, 'm', sizeof(long_mailbox) - 1);
	long_mailbox[5] = '\x1b';   /* sanitised for messages, escaped by the state */
	const char *mailboxes[] = { "", long_mailbox };
	for (size_t i = 0; i < 2; i++) {
		fx->mailbox = mailboxes[i];
		use_sink(fx, false);
		deliver(fx, "k", "x\r\n");
		struct yb_error err;
		assert_int_equal(delivery_flush(fx->delivery, &err), YB_ERR_INTERNAL);
		assert_non_null(strstr(err.msg, "mailbox"));
		assert_status(fx, 1, FAKE_DISCARDED);
	}
	fx->mailbox = MAILBOX;
	assert_int_equal(state_count(fx->state, MAILBOX), 0);
	assert_false(exists(fx->journal_path));
}

/* In a child, as the flag cannot be cleared: after SIGTERM no message
   begins.  Exit codes say which check failed. */
static void test_stop_refuses_begin(void **state)
{
	struct fixture *fx = *state;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		runstop_catch_signals();
		raise(SIGTERM);
		struct yb_error err;
		int code = 0;
		if (begin(fx, &err) != YB_ERR_TEMP)
			code = 10;
		else if (!strstr(err.msg, MAILBOX))
			code = 11;
		else if (strcmp(fakesink_trace(fx->fake), "") != 0)
			code = 12;
		delivery_free(fx->delivery);
		fakesink_free(fx->fake);
		state_free(fx->state);
		free(fx);
		_exit(code);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- sinks with outcomes (an MDA) -------------------------------------- */

static void test_outcomes_one_message_per_batch(void **state)
{
	struct fixture *fx = *state;
	use_sink(fx, true);
	fx->commit_must_be_on_disk = true;
	deliver(fx, "a", "one\r\n");
	/* Published and committed at its own end. */
	assert_string_equal(fakesink_trace(fx->fake),
			    "begin 1\nwrite 1 4\nend 1\nprepare\ndest 1\npublish\n"
			    "outcome 1\n");
	assert_true(fx->intents_on_disk_at_publish);
	assert_committed(fx, "a", "msg-1");
	assert_int_equal(fx->committed_count, 1);
	deliver(fx, NULL, "two\r\n");
	assert_int_equal(fakesink_publishes(fx->fake), 2);
	assert_int_equal(fx->committed_count, 2);
	assert_null(fx->committed_key[1]);
	assert_int_equal(fx->committed_bytes[1], 4);
}

static void test_outcomes_refused_and_deferred(void **state)
{
	struct fixture *fx = *state;
	use_sink(fx, true);
	fakesink_set_outcome(fx->fake, 1, SINK_REFUSED, "550 no such user");
	fakesink_set_outcome(fx->fake, 2, SINK_DEFERRED, NULL);
	fakesink_set_outcome(fx->fake, 3, SINK_DEFERRED, NULL);
	fakesink_set_outcome(fx->fake, 5, SINK_REFUSED, NULL);
	struct yb_error err;
	/* Refused: reported, not recorded, no error; the run goes on. */
	deliver(fx, "refused", "r\r\n");
	assert_int_equal(fx->refused_count, 1);
	assert_string_equal(fx->refused_key[0], "refused");
	assert_string_equal(fx->refused_detail[0], "550 no such user");
	assert_unknown(fx, "refused");
	assert_int_equal(journal_count(fx, 'X', "refused"), 1);
	/* Deferred with publish's error: the error, the intent dropped. */
	fakesink_fail(fx->fake, FAKE_PUBLISH, 1, YB_ERR_TEMP);
	assert_int_equal(begin(fx, &err), YB_OK);
	assert_int_equal(delivery_end(fx->delivery, "later", "later", &err),
			 YB_ERR_TEMP);
	assert_string_equal(err.msg, "fake publish failed");
	assert_unknown(fx, "later");
	assert_int_equal(journal_count(fx, 'X', "later"), 1);
	/* Deferred while publish said nothing: no error, nothing reported. */
	deliver(fx, "quiet", "q\r\n");
	assert_unknown(fx, "quiet");
	/* Delivered although publish failed: committed, reported, no error. */
	fakesink_fail(fx->fake, FAKE_PUBLISH, 1, YB_ERR_IO);
	deliver(fx, "ok", "o\r\n");
	assert_committed(fx, "ok", "msg-4");
	/* Refused without a key or detail. */
	deliver(fx, NULL, "n\r\n");
	assert_int_equal(fx->refused_count, 2);
	assert_null(fx->refused_key[1]);
	assert_null(fx->refused_detail[1]);
	assert_int_equal(fx->committed_count, 1);
	assert_string_equal(fx->committed_key[0], "ok");
	assert_int_equal(open_intent_count(fx), 0);
	assert_int_equal(state_count(fx->state, fx->mailbox), 1);
	reopen_state(fx, false);
	assert_int_equal(open_intent_count(fx), 0);
	assert_committed(fx, "ok", "msg-4");
}

static void test_outcomes_commit_fails(void **state)
{
	struct fixture *fx = *state;
	use_sink(fx, true);
	fx->cap_journal_at_publish = true;
	struct yb_error err;
	assert_int_equal(begin(fx, &err), YB_OK);
	assert_int_equal(delivery_end(fx->delivery, "a", "a", &err), YB_ERR_IO);
	uncap_journal(fx);
	fx->cap_journal_at_publish = false;
	/* Published, not reported; the intent is on disk for the next run. */
	assert_status(fx, 1, FAKE_PUBLISHED);
	assert_int_equal(fx->committed_count, 0);
	reopen_state(fx, false);
	assert_int_equal(open_intent_count(fx), 1);
	settle_intents(fx);
	assert_committed(fx, "a", "msg-1");
}

/* ---- generated histories ----------------------------------------------- */

/*
 * Each history: up to GEN_MESSAGES_MAX messages (a few without a key)
 * whose bytes mix CR, LF and CRLF, written in random pieces; a first run
 * with one fault (a sink call failing, a publish that gets part of the
 * batch out, the journal full from a given publish on, or messages
 * aborted half-way) that stops the run as an engine does; a crash; the
 * intents settled from the sink; a second run without faults.  At every
 * publish, every keyed message of the batch has its intent on disk and
 * no commit; after the crash, a key is committed only if its message was
 * published, at that message's dest, and a published message's key is
 * committed or an open intent; in the end every keyed message is
 * published exactly once and committed once.
 */
#define GEN_HISTORIES 120
#define GEN_MESSAGES_MAX 300
#define GEN_IDS_MAX 4

struct gen_msg {
	char key[24];          /* first: the item `committed` gets; "" none */
	char *text;            /* server bytes; owned */
	size_t len;
	char *expected;        /* text with CRLF -> LF; owned */
	size_t expected_len;
	unsigned ids[GEN_IDS_MAX];   /* fake sink messages begun for it */
	size_t id_count;
};

enum gen_fault {
	GEN_NONE,
	GEN_FAIL_BEGIN,
	GEN_FAIL_WRITE,
	GEN_FAIL_END,
	GEN_FAIL_PREPARE,
	GEN_FAIL_PUBLISH,
	GEN_JOURNAL_FULL,
	GEN_ABORTS,
	GEN_FAULT_COUNT,
};

static uint64_t gen_next(uint64_t *rng)
{
	/* xorshift64* */
	*rng ^= *rng >> 12;
	*rng ^= *rng << 25;
	*rng ^= *rng >> 27;
	return *rng * 0x2545F4914F6CDD1DULL;
}

static size_t gen_below(uint64_t *rng, size_t bound)
{
	return bound ? (size_t)(gen_next(rng) % bound) : 0;
}

/* CRLF -> LF, written here apart from eol.c. */
static size_t lf_only(const char *in, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (!(in[i] == '\r' && i + 1 < len && in[i + 1] == '\n'))
			out[n++] = in[i];
	return n;
}

static void gen_messages(uint64_t *rng, struct gen_msg *msgs, size_t count)
{
	static const char alphabet[] = "ab \r\n\r\n";
	for (size_t i = 0; i < count; i++) {
		struct gen_msg *msg = &msgs[i];
		memset(msg, 0, sizeof(*msg));
		char head[32];
		if (gen_below(rng, 20) == 0) {
			snprintf(head, sizeof(head), "none-%zu\r\n", i);
		} else {
			snprintf(msg->key, sizeof(msg->key), "k%zu", i);
			snprintf(head, sizeof(head), "k%zu\r\n", i);
		}
		size_t body = gen_below(rng, 200);
		size_t head_len = strlen(head);
		msg->len = head_len + body;
		msg->text = malloc(msg->len);
		msg->expected = malloc(msg->len);
		assert_non_null(msg->text);
		assert_non_null(msg->expected);
		memcpy(msg->text, head, head_len);
		for (size_t j = 0; j < body; j++)
			msg->text[head_len + j] = alphabet[gen_below(rng, sizeof(alphabet) - 1)];
		msg->expected_len = lf_only(msg->text, msg->len, msg->expected);
	}
}

static void free_messages(struct gen_msg *msgs, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(msgs[i].text);
		free(msgs[i].expected);
	}
}

static struct gen_msg *gen_owner(const struct fixture *fx, unsigned id)
{
	for (size_t i = 0; i < fx->gen_count; i++)
		for (size_t j = 0; j < fx->gen[i].id_count; j++)
			if (fx->gen[i].ids[j] == id)
				return &fx->gen[i];
	return NULL;
}

/* At a publish: each keyed message of the batch has its intent, at its
   dest, in the journal on disk, and no commit. */
static void check_publish_order(struct fixture *fx)
{
	char *journal = read_journal(fx);
	const struct fake_msg *const *pending = NULL;
	size_t count = fakesink_pending(fx->fake, &pending);
	for (size_t i = 0; i < count; i++) {
		const struct gen_msg *msg = gen_owner(fx, pending[i]->id);
		assert_non_null(msg);
		if (!msg->key[0])
			continue;
		char line[128];
		snprintf(line, sizeof(line), "\nI %s %s %s ", fx->mailbox, msg->key,
			 pending[i]->dest);
		const struct state_intent *intent = find_intent(fx->state, msg->key);
		if (!intent || strcmp(intent->dest, pending[i]->dest) != 0 ||
		    !strstr(journal, line))
			fx->violations++;
		snprintf(line, sizeof(line), "\nC %s %s ", fx->mailbox, msg->key);
		if (strstr(journal, line))
			fx->violations++;
	}
	free(journal);
}

struct gen_plan {
	enum gen_fault fault;
	size_t abort_one_in;   /* GEN_ABORTS: chance of aborting a message */
};

/* An engine's loop over the mailbox: the known keys skipped, the first
   error ends the run after a last flush (as fetch_pop3.c does). */
static void gen_run(struct fixture *fx, uint64_t *rng, const struct gen_plan *plan)
{
	new_delivery(fx);
	struct yb_error err;
	int rc = YB_OK;
	for (size_t i = 0; i < fx->gen_count && rc == YB_OK; i++) {
		struct gen_msg *msg = &fx->gen[i];
		if (msg->key[0] ? state_contains(fx->state, fx->mailbox, msg->key)
				: msg->id_count > 0)
			continue;
		unsigned before = fakesink_msg_count(fx->fake);
		rc = begin(fx, &err);
		if (rc != YB_OK)
			break;
		assert_int_equal(fakesink_msg_count(fx->fake), before + 1);
		assert_true(msg->id_count < GEN_IDS_MAX);
		msg->ids[msg->id_count++] = before + 1;
		bool aborting = plan->abort_one_in &&
				gen_below(rng, plan->abort_one_in) == 0;
		size_t stop_at = aborting ? gen_below(rng, msg->len + 1) : msg->len;
		for (size_t at = 0; at < stop_at && rc == YB_OK;) {
			size_t piece = gen_below(rng, 40);
			if (piece > stop_at - at)
				piece = stop_at - at;
			rc = delivery_write(fx->delivery, msg->text + at, piece, &err);
			at += piece;
		}
		if (rc != YB_OK || aborting) {
			delivery_abort(fx->delivery);
			continue;
		}
		rc = delivery_end(fx->delivery, msg->key[0] ? msg->key : NULL, msg, &err);
	}
	struct yb_error flush_err;
	int flushed = delivery_flush(fx->delivery, &flush_err);
	if (plan->fault == GEN_NONE)
		assert_int_equal(flushed, YB_OK);
	if (plan->fault == GEN_NONE || plan->fault == GEN_ABORTS)
		assert_int_equal(rc, YB_OK);
	if (getenv("DELIVERY_DEBUG"))
		print_message("# fault %d rc %d flushed %d published %zu msgs %u\n",
			      plan->fault, rc, flushed, fakesink_published(fx->fake),
			      fakesink_msg_count(fx->fake));
	delivery_free(fx->delivery);
	fx->delivery = NULL;
}

static void gen_arm_fault(struct fixture *fx, uint64_t *rng,
			  struct gen_plan *plan)
{
	plan->fault = (enum gen_fault)gen_below(rng, GEN_FAULT_COUNT);
	plan->abort_one_in = 0;
	unsigned nth = 1 + (unsigned)gen_below(rng, fx->gen_count + 1);
	switch (plan->fault) {
	case GEN_FAIL_BEGIN:
		fakesink_fail(fx->fake, FAKE_BEGIN, nth, YB_ERR_IO);
		break;
	case GEN_FAIL_WRITE:
		fakesink_fail(fx->fake, FAKE_WRITE, nth * 3, YB_ERR_IO);
		break;
	case GEN_FAIL_END:
		fakesink_fail(fx->fake, FAKE_END, nth, YB_ERR_IO);
		break;
	case GEN_FAIL_PREPARE:
		fakesink_fail(fx->fake, FAKE_PREPARE, 1 + nth % 3, YB_ERR_IO);
		break;
	case GEN_FAIL_PUBLISH:
		fakesink_fail(fx->fake, FAKE_PUBLISH, 1 + nth % 3, YB_ERR_IO);
		fakesink_publish_partly(fx->fake, gen_below(rng, DELIVERY_BATCH_MESSAGES));
		break;
	case GEN_JOURNAL_FULL:
		fx->cap_at_publish = 1 + nth % 3;
		break;
	case GEN_ABORTS:
		plan->abort_one_in = 2 + gen_below(rng, 30);
		break;
	default:
		break;
	}
}

static void gen_disarm(struct fixture *fx)
{
	for (int op = 0; op < FAKE_OP_COUNT; op++)
		fakesink_fail(fx->fake, (enum fake_op)op, 0, YB_OK);
	fakesink_publish_partly(fx->fake, 0);
	fx->cap_at_publish = 0;
	uncap_journal(fx);
	for (unsigned id = 1; id <= FAKE_PLANNED_MAX; id++)
		fakesink_set_outcome(fx->fake, id, SINK_DELIVERED, NULL);
}

/* The published copy of msg, or NULL; *count gets how many there are. */
static const struct fake_msg *gen_published(const struct fixture *fx,
					    const struct gen_msg *msg,
					    size_t *count)
{
	const struct fake_msg *found = NULL;
	*count = 0;
	for (size_t j = 0; j < msg->id_count; j++) {
		const struct fake_msg *copy = fakesink_msg(fx->fake, msg->ids[j]);
		if (copy->status == FAKE_PUBLISHED) {
			found = copy;
			++*count;
		}
	}
	return found;
}

/* After the crash: committed => published there; published => committed
   or an open intent for it; never two commits. */
static void gen_check_after_crash(const struct fixture *fx)
{
	for (size_t i = 0; i < fx->gen_count; i++) {
		const struct gen_msg *msg = &fx->gen[i];
		if (!msg->key[0])
			continue;
		size_t copies = 0;
		const struct fake_msg *copy = gen_published(fx, msg, &copies);
		assert_true(copies <= 1);
		assert_true(journal_count(fx, 'C', msg->key) <= 1);
		if (state_contains(fx->state, fx->mailbox, msg->key)) {
			assert_non_null(copy);
			assert_string_equal(state_dest(fx->state, fx->mailbox, msg->key),
					    copy->dest);
		} else if (copy) {
			const struct state_intent *intent = find_intent(fx->state, msg->key);
			assert_non_null(intent);
			assert_string_equal(intent->dest, copy->dest);
		}
	}
	/* Every report names a key that is durable. */
	for (size_t i = 0; i < fx->committed_count; i++)
		if (fx->committed_key[i][0])
			assert_true(state_contains(fx->state, fx->mailbox,
						   fx->committed_key[i]));
}

static void gen_check_final(const struct fixture *fx)
{
	assert_int_equal(open_intent_count(fx), 0);
	for (size_t i = 0; i < fx->gen_count; i++) {
		const struct gen_msg *msg = &fx->gen[i];
		size_t copies = 0;
		const struct fake_msg *copy = gen_published(fx, msg, &copies);
		if (copy) {
			assert_int_equal(copy->len, msg->expected_len);
			assert_memory_equal(copy->bytes, msg->expected, msg->expected_len);
		}
		if (!msg->key[0])
			continue;
		assert_int_equal(copies, 1);
		assert_committed(fx, msg->key, copy->dest);
		assert_int_equal(journal_count(fx, 'C', msg->key), 1);
		size_t reports = 0;
		for (size_t j = 0; j < fx->committed_count; j++)
			reports += fx->committed_key[j] == msg->key;
		assert_true(reports <= 1);
	}
}

/* A fresh state and sink for the next history: one in four publishes
   message by message, and then defers some messages in the first run. */
static void gen_reset(struct fixture *fx, uint64_t *rng)
{
	delivery_free(fx->delivery);
	fx->delivery = NULL;
	fakesink_free(fx->fake);
	state_free(fx->state);
	remove_tree(fx->state_dir);
	open_state(fx, false);
	bool with_outcomes = gen_below(rng, 4) == 0;
	fx->fake = fakesink_new(with_outcomes);
	fakesink_on_publish(fx->fake, on_publish, fx);
	for (unsigned id = 1; with_outcomes && id <= FAKE_PLANNED_MAX; id++)
		if (gen_below(rng, 10) == 0)
			fakesink_set_outcome(fx->fake, id, SINK_DEFERRED, NULL);
	fx->committed_count = 0;
	fx->refused_count = 0;
	fx->publish_checked = 0;
}

static uint64_t gen_seed(void)
{
	const char *text = getenv("DELIVERY_SEED");
	if (text && *text)
		return strtoull(text, NULL, 10);
	return 20261207;
}

static void test_random_histories(void **state)
{
	struct fixture *fx = *state;
	static struct gen_msg msgs[GEN_MESSAGES_MAX];
	uint64_t base = gen_seed();
	print_message("# seed %llu (DELIVERY_SEED)\n", (unsigned long long)base);
	fx->commit_must_be_on_disk = true;
	for (unsigned history = 0; history < GEN_HISTORIES; history++) {
		uint64_t rng = base * 1000003u + history + 1;
		gen_next(&rng);
		gen_reset(fx, &rng);
		size_t count = gen_below(&rng, GEN_MESSAGES_MAX + 1);
		gen_messages(&rng, msgs, count);
		fx->gen = msgs;
		fx->gen_count = count;
		fx->violations = 0;
		struct gen_plan plan;
		gen_arm_fault(fx, &rng, &plan);
		gen_run(fx, &rng, &plan);
		gen_disarm(fx);
		/* The crash, and the next run's start. */
		reopen_state(fx, false);
		gen_check_after_crash(fx);
		settle_intents(fx);
		struct gen_plan calm = { GEN_NONE, 0 };
		gen_run(fx, &rng, &calm);
		reopen_state(fx, false);
		gen_check_final(fx);
		if (fx->violations)
			print_error("history %u: %zu violations at publish\n", history,
				    fx->violations);
		assert_int_equal(fx->violations, 0);
		fx->gen = NULL;
		free_messages(msgs, count);
	}
}

int main(void)
{
	umask(022);
	log_init(-1, false);
	/* A capped journal gives EFBIG, not a signal. */
	signal(SIGXFSZ, SIG_IGN);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_idle_delivery_calls_nothing),
		T(test_one_message_in_protocol_order),
		T(test_crlf_split_everywhere),
		T(test_write_slices_and_empty_pieces),
		T(test_message_without_key),
		T(test_batch_by_count),
		T(test_batch_by_bytes),
		T(test_abort),
		T(test_free_discards_pending_batch),
		T(test_begin_twice_refused),
		T(test_write_or_end_without_message_refused),
		T(test_matcher_drops_copy_and_commits_dest),
		T(test_matcher_without_key_and_off),
		T(test_matcher_on_delivered_key),
		T(test_sink_begin_fails),
		T(test_sink_write_fails),
		T(test_sink_end_fails),
		T(test_sink_prepare_fails),
		T(test_sink_publish_fails),
		T(test_intent_sync_fails),
		T(test_commit_sync_fails),
		T(test_commit_sync_fails_then_recovers),
		T(test_read_only_state),
		T(test_bad_key_spoils_its_batch),
		T(test_bad_mailbox),
		T(test_stop_refuses_begin),
		T(test_outcomes_one_message_per_batch),
		T(test_outcomes_refused_and_deferred),
		T(test_outcomes_commit_fails),
		T(test_random_histories),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
