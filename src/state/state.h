/*
 * state.h - what has been fetched, per account and mailbox; crash-safe.
 *
 * Files in STATE_DIR/ACCOUNT/ (directory mode 0700):
 *   lock      held (fcntl write lock) for the whole run
 *   snapshot  the committed state, replaced atomically by compaction
 *   journal   records appended since the snapshot, one per line
 * The directory must be ours and closed to other users, and the files
 * are reached through its descriptor, never through a symbolic link
 * (safedir.h); a missing lock or journal is created with O_EXCL, and
 * compaction's snapshot.new always afresh.
 *
 * A record is a line "OP FIELDS... CHECK\n" where every field is
 * percent-escaped (no spaces, no control bytes) and CHECK is a checksum
 * of the line; a last line without its newline or with a bad checksum is
 * a torn write and is dropped (and truncated away) on replay; so are bad
 * lines that run to the end of the file with no good record after them
 * (what a power loss can leave past the last sync).  A bad record followed
 * by a good one is corruption: an error naming file and line.
 *
 * A message is identified by (mailbox, key): for POP3 mailbox "INBOX" and
 * key the UIDL (a repeated UIDL's n-th copy gets key "UIDL #n"); for IMAP
 * the folder and "UIDVALIDITY/UID".  Lookups are O(1) (hash set).
 *
 * Durability: records are buffered until state_sync(), which writes them
 * and fdatasyncs the journal.  The engine's order for each batch is:
 * intents, sync, publish, commits, sync.
 *
 * Errors: YB_ERR_TEMP (another run holds the lock), YB_ERR_IO (files; the
 * write calls too, as they may write early when much is pending),
 * YB_ERR_CONFIG (a corrupt state file: it names file and line and says
 * how to recover; a state directory another user owns or could write,
 * or a symbolic link: safedir.h), YB_ERR_INTERNAL (out of memory).
 */
#ifndef YUBIN_STATE_H
#define YUBIN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

/* The longest mailbox name the state records: a longer one is refused. */
#define STATE_MAILBOX_MAX 1024

struct state;

/* An intent replayed from the journal with no commit after it. */
struct state_intent {
	const char *mailbox;
	const char *key;
	const char *dest;     /* the sink's dest string */
};

/*
 * Open the account's state: create state_dir/account (0700) if missing,
 * check it (safedir_open), take the lock without waiting, load the
 * snapshot and replay the journal.  read_only (for --dry-run) creates
 * nothing and never writes: a missing directory is an empty state, and
 * the lock is taken only when its file exists; a directory that fails
 * the check is refused all the same.  The caller releases with state_close() or state_free().
 */
int state_open(const char *state_dir, const char *account, bool read_only,
	       struct state **out, struct yb_error *err);

/*
 * Intents without a commit, in journal order; valid until the next call
 * that changes the state.  The engine resolves each one with the sink
 * and then calls state_commit (present) or state_drop_intent (absent).
 */
size_t state_open_intents(const struct state *state,
			  const struct state_intent **out);

/* Is (mailbox, key) recorded as delivered? */
bool state_contains(const struct state *state, const char *mailbox,
		    const char *key);

/*
 * state_contains and, for a key it holds, whether state_missing is true
 * for it, in one look-up: what the POP3 engine asks of each listed key.
 */
bool state_contains_note_missing(const struct state *state,
				 const char *mailbox, const char *key,
				 bool *missing);

/* A hint that a look-up of (mailbox, key) comes soon (name_set_prefetch). */
void state_prefetch(const struct state *state, const char *mailbox,
		    const char *key);

/* When (mailbox, key) was first delivered; false if it is not recorded. */
bool state_fetched_at(const struct state *state, const char *mailbox,
		      const char *key, time_t *out);

/* Record that (mailbox, key) is about to be published at dest. */
int state_intent(struct state *state, const char *mailbox, const char *key,
		 const char *dest, struct yb_error *err);

/*
 * Record that (mailbox, key) is delivered, at time fetched_at.  The dest of
 * the open intent this closes (if any) is kept with the key (state_dest).
 * A key already delivered keeps its first fetched_at.
 */
int state_commit(struct state *state, const char *mailbox, const char *key,
		 time_t fetched_at, struct yb_error *err);

/*
 * Where a delivered key was published (the sink's dest string, as last
 * recorded), or NULL if unknown.  Valid until the next call that changes
 * the state.  A dest loaded from the snapshot is read from it now (and
 * kept): should that line have changed since the load, the error is
 * logged and the dest is unknown.
 */
const char *state_dest(const struct state *state, const char *mailbox,
		       const char *key);

/*
 * Change the dest of a delivered key (its file was renamed, say for
 * flags); YB_ERR_INTERNAL for a key that is not delivered.
 */
int state_set_dest(struct state *state, const char *mailbox, const char *key,
		   const char *dest, struct yb_error *err);

/*
 * Per-mailbox values (IMAP: "uidvalidity", "uidnext", "highestmodseq"):
 * names [a-z0-9_]{1,64}, values non-empty without control characters
 * (UTF-8 is fine) up to 4096 bytes, at most 64 values per mailbox.  state_get_meta returns NULL if
 * unset; valid until the next call that changes the state.
 */
int state_set_meta(struct state *state, const char *mailbox, const char *name,
		   const char *value, struct yb_error *err);
const char *state_get_meta(const struct state *state, const char *mailbox,
			   const char *name);

/* Forget every key, intent-free, and every value of mailbox. */
int state_forget_mailbox(struct state *state, const char *mailbox,
			 struct yb_error *err);

/* Forget an open intent whose message was not published. */
int state_drop_intent(struct state *state, const char *mailbox,
		      const char *key, struct yb_error *err);

/* Forget (mailbox, key): deleted from the server, or gone from it. */
int state_forget(struct state *state, const char *mailbox, const char *key,
		 struct yb_error *err);

/* Write buffered records and make them durable (fdatasync). */
int state_sync(struct state *state, struct yb_error *err);

/*
 * Call fn for every delivered key of mailbox (order unspecified).  fn must
 * not change the state; collect keys and act after.  Returns the first
 * non-zero value fn returned, or 0.
 */
int state_foreach(const struct state *state, const char *mailbox,
		  int (*fn)(void *ctx, const char *key, time_t fetched_at),
		  void *ctx);

/*
 * The dests of mailbox's delivered keys that wanted(ctx, key) picks
 * (wanted NULL: every key with a dest), to recognise what a sink holds.
 * *dests is a malloc'd array of *count pointers into the state, valid
 * until the state next changes: the caller frees the array, not the
 * strings.  YB_ERR_INTERNAL when out of memory, YB_ERR_IO when a dest
 * left in the snapshot cannot be read back from it (state_dest).
 */
int state_dests_where(const struct state *state, const char *mailbox,
		      bool (*wanted)(void *ctx, const char *key), void *ctx,
		      const char ***dests, size_t *count, struct yb_error *err);

/*
 * Forget every delivered key of mailbox that doomed(ctx, key, fetched_at)
 * picks (records buffered, like state_forget); *forgotten (may be NULL)
 * gets how many.  doomed must not change the state.
 */
int state_forget_where(struct state *state, const char *mailbox,
		       bool (*doomed)(void *ctx, const char *key, time_t fetched_at),
		       void *ctx, size_t *forgotten, struct yb_error *err);

/*
 * The size the server listed for a delivered key (POP3: LIST's size), to
 * recognise the message under another key.  state_listed_size is false
 * when none is recorded; state_set_listed_size records one
 * (YB_ERR_INTERNAL for a key that is not delivered).
 */
bool state_listed_size(const struct state *state, const char *mailbox,
		       const char *key, uint64_t *size);
int state_set_listed_size(struct state *state, const char *mailbox,
			  const char *key, uint64_t size, struct yb_error *err);

/*
 * A delivered key missing from the server's listings: since when (the
 * first listing that lacked it) and in how many listings.  One listing
 * is no proof that a message is gone, so the engine forgets a key only
 * after a grace (fetch_pop3.c).  state_missing is false for a key that
 * is not missing (or not delivered); state_set_missing with runs 0 marks
 * it listed again (YB_ERR_INTERNAL for a key that is not delivered).
 */
bool state_missing(const struct state *state, const char *mailbox,
		   const char *key, time_t *since, unsigned long *runs);
int state_set_missing(struct state *state, const char *mailbox,
		      const char *key, time_t since, unsigned long runs,
		      struct yb_error *err);

/*
 * A delivered key's flags as last agreed with the server, and a push of
 * flag changes to the server under way (sync_flags: both).  The bits
 * (at most STATE_FLAGS_MAX) are the engine's; the state only keeps them.
 * state_flag_base is false when none is recorded (a state written
 * before they were, or a key not delivered); state_flag_push is false
 * when no push is open.  state_set_flag_push records a push (add and
 * remove disjoint, not both empty) before it is sent; state_set_flag_base
 * records the new base and closes the push.  Both buffer records like
 * state_commit and are durable after state_sync; YB_ERR_INTERNAL for a
 * key that is not delivered or bits out of range.
 */
#define STATE_FLAGS_MAX 0x7fu
bool state_flag_base(const struct state *state, const char *mailbox,
		     const char *key, unsigned *flags);
bool state_flag_push(const struct state *state, const char *mailbox,
		     const char *key, unsigned *add, unsigned *remove);
int state_set_flag_base(struct state *state, const char *mailbox,
			const char *key, unsigned flags, struct yb_error *err);
int state_set_flag_push(struct state *state, const char *mailbox,
			const char *key, unsigned add, unsigned remove,
			struct yb_error *err);

/* Number of delivered keys of mailbox. */
size_t state_count(const struct state *state, const char *mailbox);

/*
 * Make every record durable and release the lock and free: by syncing
 * the journal, or, when it has grown, by compacting it into a new
 * snapshot (write snapshot.new, fsync, rename, fsync dir, then remove
 * the journal), which makes a journal sync first needless.  state is
 * freed even on error.
 */
int state_close(struct state *state, struct yb_error *err);

/* Release the lock and free without writing anything.  NULL is fine. */
void state_free(struct state *state);

#endif
