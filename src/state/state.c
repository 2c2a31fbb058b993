/*
 * state.c - what has been fetched, per account and mailbox; crash-safe.
 *
 * On disk (STATE_DIR/ACCOUNT/, see state.h):
 *
 *   snapshot   "yubin-snapshot 3\n" then the whole state, one record a
 *              line, in no particular order:
 *                M MAILBOX KEY FETCHED_AT DEST [SIZE]
 *                                               a delivered message, and
 *                                               its size as listed
 *                Z MAILBOX KEY SIZE             its size as listed
 *                                               (version 2)
 *                S MAILBOX KEY SINCE RUNS       it is missing from listings
 *                B MAILBOX KEY FLAGS            its flags as last agreed
 *                                               with the server
 *                P MAILBOX KEY ADD REMOVE       a flag push under way
 *                V MAILBOX NAME VALUE           a value of the mailbox
 *              (a Z, S, B or P line follows its key's M line) and last the trailer "end COUNT CRC #CHECK": COUNT is the
 *              number of record lines, CRC the CRC-32 (8 lowercase hex
 *              digits) of every byte of the file before the trailer.
 *              Only ever replaced whole, by rename, so every line of it
 *              must be valid, and a snapshot cut anywhere (even at a line
 *              end, where every line left would still be valid) lacks its
 *              trailer or disagrees with it: refused, never read as a
 *              smaller state that would make the next run fetch again.
 *              Version 1 had no trailer, and version 2 gave a key's
 *              size a Z line of its own (POP3 wrote two lines for each
 *              message): both are still read, once, and rewritten as
 *              version 3 when the state is closed.  A yubin older than
 *              version 3 refuses it as another version, never as a
 *              smaller state.
 *   journal    "yubin-journal 1\n" then records appended since the
 *              snapshot, in order:
 *                I MAILBOX KEY DEST       intent: about to publish at DEST
 *                C MAILBOX KEY FETCHED_AT delivered; closes the intent,
 *                                         whose DEST the key keeps
 *                X MAILBOX KEY            drop the intent (not published)
 *                F MAILBOX KEY            forget (and close any intent)
 *                D MAILBOX KEY DEST       the delivered key is now at DEST
 *                V MAILBOX NAME VALUE     set the mailbox's value NAME
 *                G MAILBOX                forget the mailbox's keys and
 *                                         values (it has no open intent)
 *                Z MAILBOX KEY SIZE       the server listed the delivered
 *                                         key with SIZE bytes
 *                S MAILBOX KEY SINCE RUNS the delivered key has been
 *                                         missing from RUNS listings, the
 *                                         first at SINCE; RUNS 0: listed
 *                                         again (SINCE is then 0)
 *                B MAILBOX KEY FLAGS      the delivered key's flags as
 *                                         last agreed with the server;
 *                                         closes any push (P) of the key
 *                P MAILBOX KEY ADD REMOVE about to add flags ADD to the
 *                                         delivered key on the server
 *                                         and remove REMOVE (sync_flags:
 *                                         both); open until its B
 *
 * FLAGS, ADD and REMOVE are decimal bit sets below 256 whose meaning is
 * the engine's (sink.h's SINK_FLAG_* bits); the state only keeps them.
 * A state written before B and P existed has none: the engine then
 * takes a base on first sight.
 How a record is written as a line (escaping, the per-line CRC-32), the
 * headers and the snapshot's trailer are state_record.h's.  FETCHED_AT is
 * decimal seconds since the epoch.  NAME is [a-z0-9_], 1 to 64 bytes;
 * VALUE 1 to 4096 bytes with no control character (UTF-8 is fine).
 *
 * Absent fields: M's DEST is "-" when no dest is known (the key was
 * committed without an intent); an M line of three fields, without DEST,
 * has no dest either.
 *
 * Replay: every snapshot line must be valid.  A version 2 snapshot's
 * record lines are read trusting the end line's CRC of the whole file,
 * which covers every byte of them, for their checksums (only the form of
 * each is checked); a file refused that way is read again checking each
 * line's own, to name the bad line.  In the journal, a line that
 * is too long, lacks its newline or has a wrong checksum starts a torn
 * tail if no checksummed line comes after it: what a crash cut short, or
 * what a power loss left past the last fdatasync (half lines, zero-filled
 * pages without a newline, stale bytes).  The tail is dropped and (unless
 * read-only) truncated away so the next append starts on a clean line.
 * A bad line with a good record after it, or a checksummed line that does
 * not parse, is corruption: an error naming file:line.  A header of
 * another version is an error too, and such a file is never truncated.
 *
 * Replay is idempotent: a journal replayed over a snapshot that already
 * holds its effects (compaction died between the rename and the unlink)
 * gives the same state.  C keeps the fetched_at of a key already
 * delivered, and takes a dest only from the intent it closes, which the
 * journal itself opened (the snapshot never holds intents: compaction is
 * skipped while any is open); D and V set a value outright and F and G
 * remove whatever is there, so the last of them decides either way (a D,
 * Z or S for a key no longer delivered is ignored: a later F removed it;
 * Z and S too set their values outright).
 *
 * Writes: records are encoded into a pending buffer as they are made;
 * state_sync appends it to the journal (O_APPEND) and fdatasyncs, and the
 * first sync of a run also fsyncs the directory so that the journal's
 * name is as durable as its contents.  A pending buffer past 1 MiB is
 * written early (unsynced).  A failed append is truncated back to the
 * last whole record, so a later append cannot leave a torn line in the
 * middle; if even that fails, or an fdatasync fails, the state refuses
 * further writes and the next run replays what reached the disk.
 *
 * Compaction (in state_close) runs when the journal holds more bytes than
 * the snapshot, so replay reads little more than the live state, and the
 * snapshot rewrite costs no more than the journal bytes that made it due.
 * The order follows isync's sync_state.c: write snapshot.new, fsync it,
 * rename it over snapshot, fsync the directory, and only then unlink the
 * journal.  Two syncs isync makes are left out, as a crash without them
 * loses nothing: the journal's at close when compaction follows (the
 * new snapshot holds every record), and the directory's after the
 * unlink (a journal that comes back is replayed idempotently).
 *
 * In memory: the delivered keys of each mailbox, and the mailboxes by
 * name, are hash sets (name_set.h: keyed so that a hostile server's
 * UIDLs cannot be chosen to collide).  Key strings live in the
 * mailbox's arena, dests in its dest store (dest_store.h: a replaced
 * dest stays there until the mailbox goes), which the key's entry names
 * by number, except a dest loaded from the snapshot: the key remembers
 * its line, and the snapshot's descriptor stays open to read it from
 * there when a run asks (its own checksum checked again), which few runs
 * do; it is then kept in the store.  A state of 1,000,000 POP3 messages
 * took 53 MiB for dests that no nothing-new run reads.  Each key's entry
 * is 24 bytes (state_key.h): what does not fit, and what few keys have,
 * lives beside it.  Values live in a
 * short array (at most 64 per mailbox), each freed when
 * replaced.  A mailbox left with no key and no value is freed whole, so
 * forgetting a mailbox releases its memory.
 */
#include "config.h"

#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "dest_store.h"
#include "fileio.h"
#include "log.h"
#include "name_set.h"
#include "safedir.h"
#include "state_key.h"
#include "state_record.h"
#include "testhook.h"
#include "text.h"

/*
 * Values one mailbox may hold.  The engine uses a handful; the cap keeps
 * the linear lookup (and a hostile snapshot's replay) cheap.
 */
#define STATE_META_PER_MAILBOX_MAX 64

#define READER_BUF_SIZE (2 * STATE_LINE_MAX)

/* Records waiting for state_sync are written out (unsynced) past this. */
#define PENDING_FLUSH_BYTES (1024 * 1024)

/* Snapshot writes go through a buffer of this size. */
#define WRITER_BUF_SIZE (64 * 1024)

/* Arena chunks start small (a mailbox of few keys stays small) and
   double up to the largest size. */
#define ARENA_CHUNK_MIN 256
#define ARENA_CHUNK_MAX (64 * 1024)

static const char SNAPSHOT_NAME[] = "snapshot";
static const char SNAPSHOT_NEW_NAME[] = "snapshot.new";
static const char JOURNAL_NAME[] = "journal";
static const char LOCK_NAME[] = "lock";

/* The record types each file holds. */
static const char SNAPSHOT_OPS[] = "MVZSBP";
static const char JOURNAL_OPS[] = "ICXFDVGZSBP";

static const char SNAPSHOT_ADVICE[] =
	"to recover, move the file away and run yubin again: it will fetch "
	"again every message still on the server, so mail already delivered "
	"may arrive a second time";
static const char JOURNAL_ADVICE[] =
	"to recover, move the file away and run yubin again: messages "
	"recorded since the last compaction will be fetched again, so some "
	"may arrive a second time";

/* ---- string arena ------------------------------------------------------ */

/* The key strings of one mailbox, freed together. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t size;
	char data[];
};

struct arena {
	struct arena_chunk *chunks;   /* newest first; owned */
};

/* A NUL-terminated copy of str[0..len) in the arena; NULL when out of
   memory. */
static const char *arena_copy(struct arena *arena, const char *str, size_t len)
{
	struct arena_chunk *chunk = arena->chunks;
	if (!chunk || chunk->size - chunk->used < len + 1) {
		size_t size = ARENA_CHUNK_MIN;
		if (chunk)
			size = chunk->size >= ARENA_CHUNK_MAX / 2 ? ARENA_CHUNK_MAX
								  : chunk->size * 2;
		if (size < len + 1)
			size = len + 1;
		chunk = malloc(sizeof(*chunk) + size);
		if (!chunk)
			return NULL;
		chunk->used = 0;
		chunk->size = size;
		chunk->next = arena->chunks;
		arena->chunks = chunk;
	}
	char *copy = chunk->data + chunk->used;
	memcpy(copy, str, len);
	copy[len] = '\0';
	chunk->used += len + 1;
	return copy;
}

static void arena_release(struct arena *arena)
{
	struct arena_chunk *chunk = arena->chunks;
	while (chunk) {
		struct arena_chunk *next = chunk->next;
		free(chunk);
		chunk = next;
	}
	arena->chunks = NULL;
}

/* ---- in-memory entries ------------------------------------------------ */

/* A delivered key: struct key_entry (state_key.h).  Its dest_ref is
   DEST_NONE, an M line of the loaded snapshot to read the dest from when
   asked (odd: its offset * 2 + 1), or a dest in the mailbox's dest store
   (even: (its number + 1) * 2).  Read from the snapshot lazily, the
   dests of a big state cost no memory until a run needs them: it rarely
   does (flag changes, renumbered listings). */

#define DEST_NONE KEY_DEST_NONE

static bool dest_in_snapshot(uint64_t dest_ref)
{
	return dest_ref & 1;
}

static uint64_t dest_ref_of_line(uint64_t offset)
{
	return offset * 2 + 1;
}

/* Keep a copy of dest in the store; *dest_ref is where.  -1: OOM. */
static int dest_ref_of_copy(struct dest_store *store, const char *dest,
			    uint64_t *dest_ref)
{
	uint64_t number;
	if (dest_store_add(store, dest, strlen(dest), &number) != 0)
		return -1;
	/* The store's numbers are below 2^56: no overflow. */
	*dest_ref = (number + 1) * 2;
	return 0;
}

/* The dest held in memory, or NULL (none, or still in the snapshot). */
static const char *dest_string(const struct dest_store *store,
			       uint64_t dest_ref)
{
	if (dest_ref == DEST_NONE || dest_in_snapshot(dest_ref))
		return NULL;
	return dest_store_get(store, dest_ref / 2 - 1);
}

#define FLAG_KNOWN KEY_FLAG_KNOWN
#define FLAG_BITS KEY_FLAG_BITS

/* A mailbox in state->mailbox_index; the name is the mailbox's own. */
struct mailbox_entry {
	struct name_entry head;
	size_t index;         /* in state->mailboxes */
};

/* ---- growable byte buffer ---------------------------------------------- */

struct byte_buf {
	char *data;   /* owned */
	size_t len;
	size_t cap;
};

static int buf_reserve(struct byte_buf *buf, size_t extra)
{
	if (buf->cap - buf->len >= extra)
		return 0;
	if (extra > SIZE_MAX / 2 - buf->len)
		return -1;
	size_t cap = buf->cap ? buf->cap : 4096;
	while (cap - buf->len < extra)
		cap *= 2;
	char *data = realloc(buf->data, cap);
	if (!data)
		return -1;
	buf->data = data;
	buf->cap = cap;
	return 0;
}

/* ---- buffered line reader ---------------------------------------------- */

struct line_reader {
	int fd;               /* borrowed */
	char *buf;            /* owned, READER_BUF_SIZE bytes */
	size_t start;         /* first unconsumed byte */
	size_t end;           /* end of the bytes read */
	bool eof;
	uint64_t offset;      /* file offset of buf[start] */
	unsigned long line_no;
};

struct line {
	char *text;           /* in the reader's buffer; NULL when too_long */
	size_t len;           /* without the newline */
	bool has_newline;
	bool too_long;
	uint64_t end_offset;  /* file offset just past the line */
};

static ssize_t read_retry(int fd, void *buf, size_t len)
{
	ssize_t got;
	do
		got = read(fd, buf, len);
	while (got < 0 && errno == EINTR);
	return got;
}

static int reader_init(struct line_reader *reader, int fd)
{
	memset(reader, 0, sizeof(*reader));
	reader->fd = fd;
	reader->buf = malloc(READER_BUF_SIZE);
	return reader->buf ? 0 : -1;
}

/* Back to the start of the file, to read it again; 0 or an errno. */
static int reader_rewind(struct line_reader *reader)
{
	if (lseek(reader->fd, 0, SEEK_SET) != 0)
		return errno;
	reader->start = reader->end = 0;
	reader->eof = false;
	reader->offset = 0;
	reader->line_no = 0;
	return 0;
}

static void reader_release(struct line_reader *reader)
{
	free(reader->buf);
	reader->buf = NULL;
}

/* Move what is unconsumed to the front and read once; 0 or an errno. */
static int reader_fill(struct line_reader *reader)
{
	size_t kept = reader->end - reader->start;
	memmove(reader->buf, reader->buf + reader->start, kept);
	reader->start = 0;
	reader->end = kept;
	ssize_t got = read_retry(reader->fd, reader->buf + kept,
				 READER_BUF_SIZE - kept);
	if (got < 0)
		return errno;
	if (got == 0)
		reader->eof = true;
	reader->end += (size_t)got;
	return 0;
}

static int reader_take(struct line_reader *reader, struct line *out,
		       size_t len, bool has_newline)
{
	size_t consumed = len + (has_newline ? 1 : 0);
	out->text = reader->buf + reader->start;
	out->len = len;
	out->has_newline = has_newline;
	out->too_long = len > STATE_LINE_MAX;
	if (out->too_long)
		out->text = NULL;
	reader->start += consumed;
	reader->offset += consumed;
	out->end_offset = reader->offset;
	reader->line_no++;
	return 1;
}

/* Consume a line longer than STATE_LINE_MAX up to its newline or EOF. */
static int reader_skip_long(struct line_reader *reader, struct line *out)
{
	memset(out, 0, sizeof(*out));
	out->too_long = true;
	for (;;) {
		char *text = reader->buf + reader->start;
		size_t avail = reader->end - reader->start;
		char *newline = memchr(text, '\n', avail);
		if (newline) {
			size_t consumed = (size_t)(newline - text) + 1;
			reader->start += consumed;
			reader->offset += consumed;
			out->has_newline = true;
			break;
		}
		reader->offset += avail;
		reader->start = reader->end = 0;
		if (reader->eof)
			break;
		int errnum = reader_fill(reader);
		if (errnum)
			return -errnum;
	}
	out->end_offset = reader->offset;
	reader->line_no++;
	return 1;
}

/* The next line: 1, 0 at the end of the file, or -errno. */
static int reader_next(struct line_reader *reader, struct line *out)
{
	for (;;) {
		char *text = reader->buf + reader->start;
		size_t avail = reader->end - reader->start;
		char *newline = memchr(text, '\n', avail);
		if (newline)
			return reader_take(reader, out, (size_t)(newline - text),
					   true);
		if (avail > STATE_LINE_MAX)
			return reader_skip_long(reader, out);
		if (reader->eof)
			return avail ? reader_take(reader, out, avail, false) : 0;
		int errnum = reader_fill(reader);
		if (errnum)
			return -errnum;
	}
}

/* ---- the state --------------------------------------------------------- */

/* One per-mailbox value; block is "NAME\0VALUE\0". */
struct meta_value {
	char *block;            /* owned */
	size_t name_len;
	const char *value;      /* in block */
	size_t value_len;
};

/*
 * A mailbox with delivered keys or values; one with neither is removed,
 * so forgetting releases its memory.
 */
struct mailbox {
	struct name_set keys;     /* delivered keys: struct key_entry */
	struct name_set extras;   /* what their entries have no room for */
	struct arena strings;     /* the keys' text */
	struct dest_store dests;  /* the dests held in memory */
	struct meta_value *meta;  /* owned; meta_count of meta_cap used */
	size_t meta_count;
	size_t meta_cap;
	size_t name_len;
	char name[];              /* NUL-terminated */
};

struct state {
	char *dir_path;         /* STATE_DIR/ACCOUNT, for messages; owned */
	char *snapshot_path;    /* owned */
	char *journal_path;     /* owned */
	int dir_fd;
	int lock_fd;            /* holds the lock while open */
	int snapshot_fd;        /* the loaded snapshot, for its dests; -1 */
	/* The offset of the snapshot line being replayed (0: not one). */
	uint64_t replay_line_at;
	int journal_fd;         /* for appending; -1 until the first write */
	bool read_only;
	bool broken;            /* a write failed in a way we could not undo */

	struct mailbox **mailboxes;   /* owned, each owned; in no order */
	size_t mailbox_count;
	size_t mailbox_cap;
	struct name_set mailbox_index; /* of struct mailbox_entry */
	/* The entry add_delivered last added or found, and its mailbox:
	   the snapshot's Z or S line after its M line finds it without a
	   look-up.  NULL once a key or mailbox is removed (an entry may
	   then move); an add that grows the set replaces it. */
	struct key_entry *last_key;
	struct mailbox *last_key_mailbox;

	/* Open intents in journal order; blocks[i] owns intents[i]'s strings. */
	struct state_intent *intents;
	char **intent_blocks;
	size_t intent_count;
	size_t intent_cap;

	struct byte_buf pending;      /* encoded records not yet written */
	bool journal_on_disk;         /* the journal file exists */
	bool journal_unsynced;        /* written since the last fdatasync */
	bool dir_unsynced;            /* journal opened, directory not synced */
	uint64_t journal_bytes;       /* good bytes of the journal on disk */
	uint64_t snapshot_bytes;
	bool snapshot_outdated;       /* version 1, to be rewritten */
};

static struct mailbox_entry *find_mailbox_entry(const struct state *state,
						const char *name, size_t len)
{
	return (struct mailbox_entry *)name_set_find(&state->mailbox_index,
						     name, len);
}

/* Up to this many mailboxes, comparing names beats hashing one. */
#define MAILBOX_SCAN_MAX 8

static struct mailbox *find_mailbox(const struct state *state,
				    const char *name, size_t len)
{
	/* Every key look-up starts here (a POP3 run asks for "INBOX" once
	   per listed message): most states hold one or a few mailboxes. */
	if (state->mailbox_count <= MAILBOX_SCAN_MAX) {
		for (size_t i = 0; i < state->mailbox_count; i++) {
			struct mailbox *mailbox = state->mailboxes[i];
			if (mailbox->name_len == len &&
			    memcmp(mailbox->name, name, len) == 0)
				return mailbox;
		}
		return NULL;
	}
	const struct mailbox_entry *entry = find_mailbox_entry(state, name, len);
	return entry ? state->mailboxes[entry->index] : NULL;
}

static bool mailbox_is_empty(const struct mailbox *mailbox)
{
	return mailbox->keys.count == 0 && mailbox->meta_count == 0;
}

/* A new empty mailbox named name[0..len); NULL when out of memory. */
static struct mailbox *mailbox_new(const char *name, size_t len)
{
	/* len is at most STATE_MAILBOX_MAX: no overflow. */
	struct mailbox *mailbox = calloc(1, sizeof(*mailbox) + len + 1);
	if (!mailbox)
		return NULL;
	name_set_init_entries(&mailbox->keys, sizeof(struct key_entry));
	key_extras_init(&mailbox->extras);
	memcpy(mailbox->name, name, len);
	mailbox->name[len] = '\0';
	mailbox->name_len = len;
	return mailbox;
}

static void mailbox_free(struct mailbox *mailbox)
{
	name_set_free(&mailbox->keys);
	name_set_free(&mailbox->extras);
	arena_release(&mailbox->strings);
	dest_store_free(&mailbox->dests);
	for (size_t i = 0; i < mailbox->meta_count; i++)
		free(mailbox->meta[i].block);
	free(mailbox->meta);
	free(mailbox);
}

static int reserve_mailbox(struct state *state)
{
	if (state->mailbox_count < state->mailbox_cap)
		return 0;
	size_t cap = state->mailbox_cap ? state->mailbox_cap * 2 : 8;
	struct mailbox **grown = realloc(state->mailboxes, cap * sizeof(*grown));
	if (!grown)
		return -1;
	state->mailboxes = grown;
	state->mailbox_cap = cap;
	return 0;
}

/* The mailbox, created (*created) if new; NULL when out of memory. */
static struct mailbox *get_mailbox(struct state *state, const char *name,
				   size_t len, bool *created)
{
	*created = false;
	struct mailbox *found = find_mailbox(state, name, len);
	if (found)
		return found;
	struct mailbox *mailbox = NULL;
	if (reserve_mailbox(state) == 0)
		mailbox = mailbox_new(name, len);
	struct name_entry *entry;
	if (!mailbox || name_set_insert(&state->mailbox_index, mailbox->name,
					len, &entry) < 0) {
		if (mailbox)
			mailbox_free(mailbox);
		return NULL;
	}
	((struct mailbox_entry *)entry)->index = state->mailbox_count;
	state->mailboxes[state->mailbox_count++] = mailbox;
	*created = true;
	return mailbox;
}

/* Drop the mailbox with all it holds; the last one takes its place. */
static void remove_mailbox(struct state *state, struct mailbox *mailbox)
{
	state->last_key = NULL;
	size_t at = find_mailbox_entry(state, mailbox->name,
				       mailbox->name_len)->index;
	name_set_remove(&state->mailbox_index, mailbox->name, mailbox->name_len);
	mailbox_free(mailbox);
	size_t last = --state->mailbox_count;
	if (at == last)
		return;
	struct mailbox *moved = state->mailboxes[last];
	state->mailboxes[at] = moved;
	find_mailbox_entry(state, moved->name, moved->name_len)->index = at;
}

/* After a failed change: a mailbox it created must not stay behind. */
static int undo_new_mailbox(struct state *state, struct mailbox *mailbox,
			    bool created)
{
	if (created && mailbox_is_empty(mailbox))
		remove_mailbox(state, mailbox);
	return -1;
}

static struct key_entry *find_key(const struct mailbox *mailbox,
				  const char *key, size_t len)
{
	return (struct key_entry *)name_set_find(&mailbox->keys, key, len);
}

/* The delivered entry of (mailbox_name, key), or NULL; *owner (unless
   owner is NULL) gets its mailbox. */
static struct key_entry *find_delivered(const struct state *state,
					const char *mailbox_name,
					const char *key, struct mailbox **owner)
{
	struct mailbox *mailbox = find_mailbox(state, mailbox_name,
					       strlen(mailbox_name));
	if (owner)
		*owner = mailbox;
	return mailbox ? find_key(mailbox, key, strlen(key)) : NULL;
}

/* The delivered key after *cursor (start at 0), or NULL past the last. */
static const struct key_entry *next_key(const struct mailbox *mailbox,
					size_t *cursor)
{
	return (const struct key_entry *)name_set_next(&mailbox->keys, cursor);
}

/* Point entry at a copy of dest (unless it holds that already); -1: OOM. */
static int set_key_dest(struct mailbox *mailbox, struct key_entry *entry,
			  const char *dest)
{
	const char *held = dest_string(&mailbox->dests,
				       key_dest_ref(&mailbox->extras, entry));
	if (held && strcmp(held, dest) == 0)
		return 0;
	/* A replaced dest stays in the store until the mailbox goes: at most
	   what this run's journal holds. */
	uint64_t dest_ref;
	if (dest_ref_of_copy(&mailbox->dests, dest, &dest_ref) != 0)
		return -1;
	return key_set_dest_ref(&mailbox->extras, entry, dest_ref);
}

/*
 * Fill the entry just added for rec's key: the key copied into the
 * mailbox's arena, the dest (NULL: unknown) into its dest store, and the
 * time; a dest of the snapshot line at dest_line (0: none) stays there,
 * read when asked.  -1 when out of memory, with the entry removed again.
 */
static int fill_new_key(struct mailbox *mailbox, struct key_entry *entry,
			const struct record *rec, const char *dest,
			uint64_t dest_line)
{
	const char *key = arena_copy(&mailbox->strings, rec->field[1],
				     rec->field_len[1]);
	uint64_t dest_ref = DEST_NONE;
	bool ok = key != NULL;
	if (ok && dest && dest_line)
		dest_ref = dest_ref_of_line(dest_line);
	else if (ok && dest)
		ok = dest_ref_of_copy(&mailbox->dests, dest, &dest_ref) == 0;
	if (ok) {
		/* The extras hold the arena's name, which stays. */
		entry->head.name = key;
		ok = key_set_dest_ref(&mailbox->extras, entry, dest_ref) == 0 &&
		     key_set_fetched_at(&mailbox->extras, entry,
					rec->fetched_at) == 0;
	}
	if (!ok) {
		key_drop_extra(&mailbox->extras, entry);
		name_set_remove(&mailbox->keys, rec->field[1], rec->field_len[1]);
		return -1;
	}
	return 0;
}

/*
 * Record (mailbox, key) of rec as delivered at rec->fetched_at, published
 * at dest (NULL: unknown).  A key already delivered keeps its first time
 * (keeps replay idempotent), and its dest unless replace_dest.  -1 when
 * out of memory, with nothing changed.
 */
static int add_delivered(struct state *state, const struct record *rec,
			 const char *dest, bool replace_dest)
{
	bool created;
	state->last_key = NULL;
	struct mailbox *mailbox = get_mailbox(state, rec->field[0],
					      rec->field_len[0], &created);
	if (!mailbox)
		return -1;
	struct name_entry *head;
	int added = name_set_insert(&mailbox->keys, rec->field[1],
				    rec->field_len[1], &head);
	struct key_entry *entry = (struct key_entry *)head;
	if (added == 0) {
		if (replace_dest && dest && set_key_dest(mailbox, entry, dest) != 0)
			return -1;
	} else if (added < 0 || fill_new_key(mailbox, entry, rec, dest,
					     state->replay_line_at) != 0) {
		return undo_new_mailbox(state, mailbox, created);
	}
	state->last_key = entry;
	state->last_key_mailbox = mailbox;
	return 0;
}

static void remove_delivered(struct state *state, const struct record *rec)
{
	state->last_key = NULL;
	struct mailbox *mailbox = find_mailbox(state, rec->field[0],
					       rec->field_len[0]);
	if (!mailbox)
		return;
	struct key_entry *entry = find_key(mailbox, rec->field[1],
					   rec->field_len[1]);
	if (!entry)
		return;
	key_drop_extra(&mailbox->extras, entry);
	name_set_remove(&mailbox->keys, rec->field[1], rec->field_len[1]);
	if (mailbox_is_empty(mailbox))
		remove_mailbox(state, mailbox);
}

static struct meta_value *find_meta(const struct mailbox *mailbox,
				    const char *name, size_t len)
{
	for (size_t i = 0; i < mailbox->meta_count; i++)
		if (mailbox->meta[i].name_len == len &&
		    memcmp(mailbox->meta[i].block, name, len) == 0)
			return &mailbox->meta[i];
	return NULL;
}

static int reserve_meta(struct mailbox *mailbox)
{
	if (mailbox->meta_count < mailbox->meta_cap)
		return 0;
	size_t cap = mailbox->meta_cap ? mailbox->meta_cap * 2 : 4;
	struct meta_value *grown = realloc(mailbox->meta, cap * sizeof(*grown));
	if (!grown)
		return -1;
	mailbox->meta = grown;
	mailbox->meta_cap = cap;
	return 0;
}

/*
 * Set the value of a V record (the caller keeps within
 * STATE_META_PER_MAILBOX_MAX); -1 when out of memory, with nothing changed.
 */
static int apply_meta(struct state *state, const struct record *rec)
{
	bool created;
	struct mailbox *mailbox = get_mailbox(state, rec->field[0],
					      rec->field_len[0], &created);
	if (!mailbox)
		return -1;
	size_t name_len = rec->field_len[1];
	size_t value_len = rec->field_len[2];
	struct meta_value *slot = find_meta(mailbox, rec->field[1], name_len);
	if (slot && slot->value_len == value_len &&
	    memcmp(slot->value, rec->field[2], value_len) == 0)
		return 0;
	/* Both lengths are checked (64, 1024): no overflow. */
	char *block = malloc(name_len + value_len + 2);
	if (!block || (!slot && reserve_meta(mailbox) != 0)) {
		free(block);
		return undo_new_mailbox(state, mailbox, created);
	}
	memcpy(block, rec->field[1], name_len);
	block[name_len] = '\0';
	memcpy(block + name_len + 1, rec->field[2], value_len);
	block[name_len + 1 + value_len] = '\0';
	if (slot)
		free(slot->block);
	else
		slot = &mailbox->meta[mailbox->meta_count++];
	*slot = (struct meta_value){ block, name_len, block + name_len + 1,
				     value_len };
	return 0;
}

/* Would setting the value named in rec exceed the mailbox's cap? */
static bool meta_would_overflow(const struct state *state, const char *mailbox,
				size_t mailbox_len, const char *name,
				size_t name_len)
{
	const struct mailbox *found = find_mailbox(state, mailbox, mailbox_len);
	return found && found->meta_count >= STATE_META_PER_MAILBOX_MAX &&
	       !find_meta(found, name, name_len);
}

/* Index of the open intent for (mailbox, key), or intent_count. */
static size_t find_intent(const struct state *state, const char *mailbox,
			  const char *key)
{
	size_t i;
	for (i = 0; i < state->intent_count; i++)
		if (strcmp(state->intents[i].key, key) == 0 &&
		    strcmp(state->intents[i].mailbox, mailbox) == 0)
			break;
	return i;
}

static bool mailbox_has_intent(const struct state *state, const char *mailbox)
{
	for (size_t i = 0; i < state->intent_count; i++)
		if (strcmp(state->intents[i].mailbox, mailbox) == 0)
			return true;
	return false;
}

/* Close intents[at]; at == intent_count is nothing to close. */
static void close_intent_at(struct state *state, size_t at)
{
	if (at >= state->intent_count)
		return;
	free(state->intent_blocks[at]);
	size_t after = state->intent_count - at - 1;
	memmove(&state->intents[at], &state->intents[at + 1],
		after * sizeof(state->intents[0]));
	memmove(&state->intent_blocks[at], &state->intent_blocks[at + 1],
		after * sizeof(state->intent_blocks[0]));
	state->intent_count--;
}

static void close_intent(struct state *state, const char *mailbox,
			 const char *key)
{
	close_intent_at(state, find_intent(state, mailbox, key));
}

static int reserve_intent(struct state *state)
{
	if (state->intent_count < state->intent_cap)
		return 0;
	size_t cap = state->intent_cap ? state->intent_cap * 2 : 16;
	struct state_intent *intents = realloc(state->intents,
					       cap * sizeof(*intents));
	if (!intents)
		return -1;
	state->intents = intents;
	char **blocks = realloc(state->intent_blocks, cap * sizeof(*blocks));
	if (!blocks)
		return -1;
	state->intent_blocks = blocks;
	state->intent_cap = cap;
	return 0;
}

/* Open an intent, replacing one for the same key; -1 when out of memory. */
static int open_intent(struct state *state, const struct record *rec)
{
	size_t total = rec->field_len[0] + rec->field_len[1] +
		       rec->field_len[2] + 3;
	char *block = malloc(total);
	if (!block || reserve_intent(state) != 0) {
		free(block);
		return -1;
	}
	char *at = block;
	struct state_intent intent;
	for (size_t i = 0; i < 3; i++) {
		memcpy(at, rec->field[i], rec->field_len[i]);
		at[rec->field_len[i]] = '\0';
		if (i == 0)
			intent.mailbox = at;
		else if (i == 1)
			intent.key = at;
		else
			intent.dest = at;
		at += rec->field_len[i] + 1;
	}
	close_intent(state, intent.mailbox, intent.key);
	state->intents[state->intent_count] = intent;
	state->intent_blocks[state->intent_count] = block;
	state->intent_count++;
	return 0;
}

/* C: delivered, with the dest of the intent it closes (if one is open). */
static int apply_commit(struct state *state, const struct record *rec)
{
	size_t at = find_intent(state, rec->field[0], rec->field[1]);
	const char *dest = at < state->intent_count ? state->intents[at].dest
						    : NULL;
	if (add_delivered(state, rec, dest, true) != 0)
		return -1;
	close_intent_at(state, at);
	return 0;
}

/* D: a delivered key's new dest; a key not delivered (any more) is left. */
static int apply_dest(struct state *state, const struct record *rec)
{
	struct mailbox *mailbox = find_mailbox(state, rec->field[0],
					       rec->field_len[0]);
	struct key_entry *entry = !mailbox ? NULL :
		find_key(mailbox, rec->field[1], rec->field_len[1]);
	return entry ? set_key_dest(mailbox, entry, rec->field[2]) : 0;
}

/* Z, S, B and P: values of a delivered key; ignored for a key not
   delivered.  -1 when out of memory, with nothing changed. */
static int apply_key_values(struct state *state, const struct record *rec)
{
	struct key_entry *entry = state->last_key;
	struct mailbox *mailbox = state->last_key_mailbox;
	bool same = entry && entry->head.len == rec->field_len[1] &&
		    memcmp(entry->head.name, rec->field[1], rec->field_len[1]) == 0 &&
		    mailbox->name_len == rec->field_len[0] &&
		    memcmp(mailbox->name, rec->field[0], rec->field_len[0]) == 0;
	if (!same) {
		mailbox = find_mailbox(state, rec->field[0], rec->field_len[0]);
		entry = mailbox ? find_key(mailbox, rec->field[1],
					   rec->field_len[1]) : NULL;
	}
	if (!entry)
		return 0;
	struct name_set *extras = &mailbox->extras;
	if (rec->op == 'Z')
		return key_set_listed_size(extras, entry, rec->number);
	if (rec->op == 'B') {
		/* Closing the push first: it cannot fail. */
		key_set_push(extras, entry, 0, 0);
		key_set_flag_base(entry, (unsigned)(rec->number | FLAG_KNOWN));
		return 0;
	}
	if (rec->op == 'P')
		return key_set_push(extras, entry, rec->number & 0xff,
				    (unsigned)(rec->number >> 8));
	return key_set_missing(extras, entry, rec->fetched_at,
			       (uint32_t)rec->number);
}

/*
 * M: a delivered key, its dest and (a fifth field) its listed size.  A
 * failure (-1, out of memory) may leave the key without its size: M
 * lines are the snapshot's, whose load then fails as a whole.
 */
static int apply_delivered_line(struct state *state, const struct record *rec)
{
	bool has_dest = rec->field_count >= 4 && !rec->field_none[3];
	if (add_delivered(state, rec, has_dest ? rec->field[3] : NULL,
			  false) != 0)
		return -1;
	if (rec->field_count < 5)
		return 0;
	return key_set_listed_size(&state->last_key_mailbox->extras,
				   state->last_key, rec->number);
}

/* G: the mailbox and all it holds (it has no open intent). */
static void apply_forget_mailbox(struct state *state, const struct record *rec)
{
	struct mailbox *mailbox = find_mailbox(state, rec->field[0],
					       rec->field_len[0]);
	if (mailbox)
		remove_mailbox(state, mailbox);
}

/*
 * Apply one record to memory.  Only the fallible step comes before any
 * change, so a failure (-1, out of memory) leaves the state as it was.
 */
static int apply_record(struct state *state, const struct record *rec)
{
	switch (rec->op) {
	case 'M':
		return apply_delivered_line(state, rec);
	case 'C':
		return apply_commit(state, rec);
	case 'I':
		return open_intent(state, rec);
	case 'X':
		close_intent(state, rec->field[0], rec->field[1]);
		return 0;
	case 'F':
		close_intent(state, rec->field[0], rec->field[1]);
		remove_delivered(state, rec);
		return 0;
	case 'D':
		return apply_dest(state, rec);
	case 'V':
		return apply_meta(state, rec);
	case 'G':
		apply_forget_mailbox(state, rec);
		return 0;
	case 'Z': case 'S': case 'B': case 'P':
		return apply_key_values(state, rec);
	}
	return -1;
}

/* ---- file helpers ------------------------------------------------------ */

/*
 * fd was just opened as the state file at path: refuse anything but a
 * regular file (closing fd), and clear O_NONBLOCK.
 */
static int keep_if_regular(int *fd, const char *path, struct yb_error *err)
{
	struct stat st;
	int errnum = fstat(*fd, &st) == 0 ? 0 : errno;
	if (errnum == 0 && !S_ISREG(st.st_mode)) {
		close(*fd);
		*fd = -1;
		return yb_fail(err, YB_ERR_IO, "%s is not a regular file (a "
			       "FIFO, directory or device?); refusing to use it "
			       "as state", path);
	}
	int status_flags = errnum == 0 ? fcntl(*fd, F_GETFL) : 0;
	if (errnum == 0 && (status_flags < 0 ||
			    fcntl(*fd, F_SETFL, status_flags & ~O_NONBLOCK) != 0))
		errnum = errno;
	if (errnum != 0) {
		close(*fd);
		*fd = -1;
		return yb_fail_errno(err, YB_ERR_IO, errnum, "cannot open %s",
				     path);
	}
	return 0;
}

/*
 * Open name in the state directory as a regular file, through the
 * directory's descriptor (safedir.h).  A FIFO there would block open()
 * (and every read) past any timeout, a symlink could lead writes
 * anywhere, and a directory or device is no state: all are refused at
 * once.  O_NONBLOCK only keeps open() itself from waiting; it is cleared
 * before the descriptor is used.  With O_CREAT a missing file is created
 * with O_EXCL.  *fd is -1 (and 0 returned) when the file is missing and
 * flags do not create it.
 */
static int open_state_file(const struct state *state, const char *name,
			   const char *path, int flags, int *fd,
			   struct yb_error *err)
{
	int errnum = safedir_open_file(state->dir_fd, name, flags | O_NONBLOCK,
				       fd);
	if (errnum == ENOENT && !(flags & O_CREAT))
		return 0;
	if (errnum == ELOOP)
		return yb_fail(err, YB_ERR_IO, "%s is a symbolic link, "
			       "not a regular file; refusing to use it "
			       "as state", path);
	if (errnum != 0)
		return yb_fail_errno(err, YB_ERR_IO, errnum, "cannot open %s",
				     path);
	return keep_if_regular(fd, path, err);
}

/* ---- opening: lock, snapshot, journal ---------------------------------- */

static int out_of_memory(struct state *state, struct yb_error *err)
{
	return yb_fail(err, YB_ERR_INTERNAL, "%s: out of memory",
		       state->dir_path);
}

/* Take the write lock on fd without waiting; 0 or an errno. */
static int lock_without_waiting(int fd)
{
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int rc;
#ifdef F_OFD_SETLK
	/* Owned by the open file, so even a second open in this process
	   conflicts, and closing another descriptor cannot drop it. */
	rc = fcntl(fd, F_OFD_SETLK, &lock);
	if (rc == 0 || errno != EINVAL)
		return rc == 0 ? 0 : errno;
#endif
	rc = fcntl(fd, F_SETLK, &lock);
	return rc == 0 ? 0 : errno;
}

static int take_lock(struct state *state, const char *account,
		     struct yb_error *err)
{
	char *lock_path = path_join(state->dir_path, LOCK_NAME);
	if (!lock_path)
		return out_of_memory(state, err);
	/* A dry run creates nothing: without a lock file no run ever
	   held this state, and a dry run only reads it. */
	int rc = open_state_file(state, LOCK_NAME, lock_path,
				 O_RDWR | (state->read_only ? 0 : O_CREAT),
				 &state->lock_fd, err);
	if (rc != 0 || state->lock_fd < 0) {
		free(lock_path);
		return rc;
	}
	int errnum = lock_without_waiting(state->lock_fd);
	if (errnum == EAGAIN || errnum == EACCES)
		rc = yb_fail(err, YB_ERR_TEMP,
			     "account %s is being fetched by another yubin run "
			     "(lock %s held); try again later",
			     account, lock_path);
	else if (errnum != 0)
		rc = yb_fail_errno(err, YB_ERR_IO, errnum, "cannot lock %s",
				   lock_path);
	free(lock_path);
	return rc;
}

static int corrupt(struct yb_error *err, const char *path,
		   unsigned long line_no, const char *problem,
		   const char *advice)
{
	return yb_fail(err, YB_ERR_CONFIG, "%s:%lu: corrupt record (%s); %s",
		       path, line_no, problem, advice);
}

static int other_version(struct yb_error *err, const char *path)
{
	return yb_fail(err, YB_ERR_CONFIG,
		       "%s:1: unsupported format version (written by a newer "
		       "yubin?); use that version, or move the file away to "
		       "start over (mail already delivered may arrive again)",
		       path);
}

static int read_failed(struct yb_error *err, const char *path, int errnum)
{
	return yb_fail_errno(err, YB_ERR_IO, errnum, "cannot read %s", path);
}

/*
 * Why a well-formed record cannot be applied here: a type the file does
 * not hold, or a change the API would have refused.  NULL if it can.
 */
static const char *replay_problem(const struct state *state,
				  const struct record *rec, const char *allowed)
{
	if (!strchr(allowed, rec->op))
		return "record type not allowed in this file";
	if (rec->op == 'G' && mailbox_has_intent(state, rec->field[0]))
		return "forgets a mailbox with an open intent";
	if (rec->op == 'V' &&
	    meta_would_overflow(state, rec->field[0], rec->field_len[0],
				rec->field[1], rec->field_len[1]))
		return "too many values for one mailbox";
	return NULL;
}

/* Does the line end in its newline and a correct checksum? */
static bool line_is_checksummed(const struct line *line)
{
	return !line->too_long && line->has_newline &&
	       record_checksum_ok(line->text, line->len);
}

/* What makes the line unusable (line_is_checksummed is false). */
static const char *line_problem(const struct line *line)
{
	if (line->too_long)
		return "line too long";
	return line->has_newline ? "bad checksum" : "missing newline";
}

/* Parse and apply one checksummed line; allowed: the ops this file holds. */
static int replay_line(struct state *state, const struct line *line,
		       unsigned long line_no, const char *path,
		       const char *allowed, const char *advice,
		       struct yb_error *err)
{
	struct record rec;
	const char *problem = record_parse(line->text, line->len, &rec);
	if (!problem)
		problem = replay_problem(state, &rec, allowed);
	if (problem)
		return corrupt(err, path, line_no, problem, advice);
	if (apply_record(state, &rec) != 0)
		return out_of_memory(state, err);
	return 0;
}

/* Is the line whole and shaped like a record, whatever its checksum? */
static bool line_is_whole(const struct line *line)
{
	return !line->too_long && line->has_newline &&
	       record_has_check_suffix(line->text, line->len);
}

/*
 * Is the snapshot's line usable?  With each_line false, a record line's
 * own checksum is left unchecked: the end line's CRC of the whole file
 * covers its bytes, and a mismatch there refuses the file just the same
 * (load_snapshot then reads it again line by line, to name the line).
 * The end line itself is outside that CRC: its own is always checked.
 */
static bool snapshot_line_ok(const struct line *line,
			     const struct snapshot_tally *tally, bool each_line)
{
	if (each_line || !tally->has_trailer)
		return line_is_checksummed(line);
	if (!line_is_whole(line))
		return false;
	return !snapshot_is_trailer(line->text, line->len) ||
	       record_checksum_ok(line->text, line->len);
}

/* One line after the header: a record, or (version 2) the trailer. */
static int read_snapshot_line(struct state *state, struct line_reader *reader,
			      const struct line *line,
			      struct snapshot_tally *tally, bool each_line,
			      struct yb_error *err)
{
	const char *path = state->snapshot_path;
	if (tally->trailer_seen)
		return corrupt(err, path, reader->line_no,
			       "data after the end line", SNAPSHOT_ADVICE);
	/* Written whole and renamed into place: no torn excuse. */
	if (!snapshot_line_ok(line, tally, each_line))
		return corrupt(err, path, reader->line_no, line_problem(line),
			       SNAPSHOT_ADVICE);
	if (tally->has_trailer && snapshot_is_trailer(line->text, line->len)) {
		const char *problem = snapshot_trailer_problem(line->text,
							       line->len, tally);
		if (problem)
			return corrupt(err, path, reader->line_no, problem,
				       SNAPSHOT_ADVICE);
		tally->trailer_seen = true;
		return 0;
	}
	/* Tallied first: replaying unescapes the line in place. */
	snapshot_tally_line(tally, line->text, line->len);
	tally->records++;
	/* A whole line: it ends in its newline. */
	state->replay_line_at = line->end_offset - line->len - 1;
	int rc = replay_line(state, line, reader->line_no, path, SNAPSHOT_OPS,
			     SNAPSHOT_ADVICE, err);
	state->replay_line_at = 0;
	return rc;
}

/* The header; *tally starts from it. */
static int read_snapshot_header(struct state *state, struct line_reader *reader,
				struct snapshot_tally *tally,
				struct yb_error *err)
{
	const char *path = state->snapshot_path;
	struct line line;
	int got = reader_next(reader, &line);
	if (got < 0)
		return read_failed(err, path, -got);
	if (got == 0)
		return corrupt(err, path, 1, "empty file", SNAPSHOT_ADVICE);
	/* Versions 1 and 2 are read, and rewritten as the current one (with
	   a trailer, a key's size on its M line) when the state is closed. */
	static const char *const headers[] = {
		SNAPSHOT_HEADER, SNAPSHOT_HEADER_V2, SNAPSHOT_HEADER_V1,
	};
	enum header_kind header = HEADER_BAD;
	size_t version = 0;
	while (version < sizeof(headers) / sizeof(headers[0]) && (header = record_check_header(
		       line.text, line.len, SNAPSHOT_MAGIC,
		       headers[version])) != HEADER_OK)
		version++;
	if (header == HEADER_OTHER_VERSION && line.has_newline)
		return other_version(err, path);
	if (header != HEADER_OK || !line.has_newline)
		return corrupt(err, path, 1, "bad header", SNAPSHOT_ADVICE);
	tally->has_trailer = headers[version] != SNAPSHOT_HEADER_V1;
	state->snapshot_outdated = headers[version] != SNAPSHOT_HEADER;
	tally->crc = CRC32_INIT;
	snapshot_tally_line(tally, line.text, line.len);
	return 0;
}

/* Read the snapshot; each_line: check every line's own checksum too. */
static int read_snapshot(struct state *state, struct line_reader *reader,
			 bool each_line, struct yb_error *err)
{
	struct snapshot_tally tally = { 0 };
	int rc = read_snapshot_header(state, reader, &tally, err);
	while (rc == 0) {
		struct line line;
		int got = reader_next(reader, &line);
		if (got < 0)
			return read_failed(err, state->snapshot_path, -got);
		if (got == 0)
			break;
		rc = read_snapshot_line(state, reader, &line, &tally, each_line,
					err);
	}
	if (rc == 0 && tally.has_trailer && !tally.trailer_seen)
		rc = corrupt(err, state->snapshot_path, reader->line_no + 1,
			     "no end line: the file is cut short",
			     SNAPSHOT_ADVICE);
	return rc;
}

/* Forget what a failed read of the snapshot loaded (it holds no intent). */
static void forget_loaded(struct state *state)
{
	for (size_t i = 0; i < state->mailbox_count; i++)
		mailbox_free(state->mailboxes[i]);
	state->mailbox_count = 0;
	name_set_free(&state->mailbox_index);
	name_set_init_entries(&state->mailbox_index,
			      sizeof(struct mailbox_entry));
	state->last_key = NULL;
	state->last_key_mailbox = NULL;
}

/*
 * Read the snapshot trusting its end line, and only if that fails again
 * line by line: a refused file is refused either way, but the second
 * read says which line is bad, as it always has.
 */
static int read_snapshot_twice(struct state *state, struct line_reader *reader,
			       struct yb_error *err)
{
	if (read_snapshot(state, reader, false, err) == 0)
		return 0;
	forget_loaded(state);
	int errnum = reader_rewind(reader);
	if (errnum)
		return read_failed(err, state->snapshot_path, errnum);
	return read_snapshot(state, reader, true, err);
}

static int load_snapshot(struct state *state, struct yb_error *err)
{
	int fd;
	int rc = open_state_file(state, SNAPSHOT_NAME, state->snapshot_path,
				 O_RDONLY, &fd, err);
	if (rc != 0 || fd < 0)
		return rc;
	struct line_reader reader;
	if (reader_init(&reader, fd) != 0)
		rc = out_of_memory(state, err);
	else
		rc = read_snapshot_twice(state, &reader, err);
	state->snapshot_bytes = reader.offset;
	reader_release(&reader);
	/* Kept open for the dests left in it (struct key_entry); the file
	   stays as read until compaction, which renames a new one over its
	   name, not over this descriptor's file. */
	state->snapshot_fd = fd;
	return rc;
}

/*
 * The journal's line first_bad is unusable (problem says why).  Is the
 * rest a torn tail?  Only if no checksummed line follows: a crash or a
 * power loss leaves cut lines, zeros or stale bytes past the last sync,
 * but only a completed append writes a line with a correct checksum.  So
 * a good record after it is corruption in the middle (an error naming
 * the bad line), and a checksummed line that is no record is corruption
 * wherever it is (an error naming it).  0 when it is a torn tail.
 */
static int check_torn_tail(struct state *state, struct line_reader *reader,
			   unsigned long first_bad, const char *problem,
			   struct yb_error *err)
{
	const char *path = state->journal_path;
	struct line line;
	for (;;) {
		int got = reader_next(reader, &line);
		if (got < 0)
			return read_failed(err, path, -got);
		if (got == 0)
			return 0;
		if (!line_is_checksummed(&line))
			continue;
		struct record rec;
		const char *later = record_parse(line.text, line.len, &rec);
		if (!later && !strchr(JOURNAL_OPS, rec.op))
			later = "record type not allowed in this file";
		if (later)
			return corrupt(err, path, reader->line_no, later,
				       JOURNAL_ADVICE);
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s:%lu: corrupt record (%s) followed by a good "
			       "record at line %lu; %s", path, first_bad,
			       problem, reader->line_no, JOURNAL_ADVICE);
	}
}

/* What read_journal found past its last good line. */
struct journal_tail {
	uint64_t good_end;        /* file offset past the last good line */
	uint64_t file_end;        /* offset past everything read */
	unsigned long first_bad;  /* line number of the torn tail, or 0 */
	unsigned long last_line;  /* number of the last line read */
};

/*
 * Read the journal's header and records; tail says where the good lines
 * end and whether a torn tail follows them.
 */
static int read_journal(struct state *state, struct line_reader *reader,
			struct journal_tail *tail, struct yb_error *err)
{
	const char *path = state->journal_path;
	struct line line;
	memset(tail, 0, sizeof(*tail));
	int got = reader_next(reader, &line);
	if (got <= 0)
		return got < 0 ? read_failed(err, path, -got) : 0;
	enum header_kind header = record_check_header(
		line.text, line.len, JOURNAL_MAGIC, JOURNAL_HEADER);
	/* Never cut away a file a newer yubin wrote. */
	if (header == HEADER_OTHER_VERSION && line.has_newline)
		return other_version(err, path);
	const char *problem = NULL;
	if (header != HEADER_OK || !line.has_newline)
		problem = line.has_newline ? "bad header" : "missing newline";
	else
		tail->good_end = line.end_offset;
	while (!problem) {
		got = reader_next(reader, &line);
		if (got <= 0)
			return got < 0 ? read_failed(err, path, -got) : 0;
		if (!line_is_checksummed(&line)) {
			problem = line_problem(&line);
			break;
		}
		int rc = replay_line(state, &line, reader->line_no, path,
				     JOURNAL_OPS, JOURNAL_ADVICE, err);
		if (rc != 0)
			return rc;
		tail->good_end = line.end_offset;
	}
	tail->first_bad = reader->line_no;
	int rc = check_torn_tail(state, reader, tail->first_bad, problem, err);
	tail->file_end = reader->offset;
	tail->last_line = reader->line_no;
	return rc;
}

/* Cut a torn tail away so that later appends follow a whole line. */
static int truncate_torn_tail(struct state *state, int fd, uint64_t good_end,
			      struct yb_error *err)
{
	int errnum = ftruncate(fd, (off_t)good_end) == 0 ? 0 : errno;
	if (errnum == 0)
		errnum = fd_datasync(fd);
	if (errnum != 0)
		return yb_fail_errno(err, YB_ERR_IO, errnum,
				     "cannot truncate the torn end of %s",
				     state->journal_path);
	return 0;
}

static void log_torn_tail(const struct state *state,
			  const struct journal_tail *tail)
{
	log_info("%s: dropped %lu unusable line(s) at the end, from line %lu "
		 "(%llu bytes left by an interrupted run)%s",
		 state->journal_path, tail->last_line - tail->first_bad + 1,
		 tail->first_bad,
		 (unsigned long long)(tail->file_end - tail->good_end),
		 state->read_only ? "; not cut away, as read-only" : "");
}

static int replay_journal(struct state *state, struct yb_error *err)
{
	int fd;
	int rc = open_state_file(state, JOURNAL_NAME, state->journal_path,
				 state->read_only ? O_RDONLY : O_RDWR, &fd, err);
	if (rc != 0 || fd < 0)
		return rc;
	state->journal_on_disk = true;
	struct line_reader reader;
	struct journal_tail tail = { 0, 0, 0, 0 };
	if (reader_init(&reader, fd) != 0)
		rc = out_of_memory(state, err);
	else
		rc = read_journal(state, &reader, &tail, err);
	if (rc == 0 && tail.first_bad) {
		log_torn_tail(state, &tail);
		if (!state->read_only)
			rc = truncate_torn_tail(state, fd, tail.good_end, err);
	}
	state->journal_bytes = tail.good_end;
	reader_release(&reader);
	close(fd);
	return rc;
}

static bool account_name_ok(const char *account)
{
	size_t len = strlen(account);
	return len > 0 && len <= 255 && !strchr(account, '/') &&
	       strcmp(account, ".") != 0 && strcmp(account, "..") != 0;
}

static int state_paths(struct state *state, const char *state_dir,
		       const char *account, struct yb_error *err)
{
	state->dir_path = path_join(state_dir, account);
	if (state->dir_path) {
		state->snapshot_path = path_join(state->dir_path, SNAPSHOT_NAME);
		state->journal_path = path_join(state->dir_path, JOURNAL_NAME);
	}
	if (!state->snapshot_path || !state->journal_path)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return 0;
}

/*
 * Read-only and no directory yet: an empty state, created by nobody
 * (dir_fd stays -1).  A directory another user could change is refused,
 * even for reading: its state could be forged.
 */
static int open_dir(struct state *state, struct yb_error *err)
{
	return safedir_open(state->dir_path, !state->read_only,
			    "state directory", &state->dir_fd, err);
}

int state_open(const char *state_dir, const char *account, bool read_only,
	       struct state **out, struct yb_error *err)
{
	*out = NULL;
	if (!state_dir || !state_dir[0])
		return yb_fail(err, YB_ERR_CONFIG, "state directory is empty");
	if (!account || !account_name_ok(account))
		return yb_fail(err, YB_ERR_CONFIG,
			       "invalid account name for a state directory");
	struct state *state = calloc(1, sizeof(*state));
	if (!state)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	state->dir_fd = state->lock_fd = state->journal_fd = -1;
	state->snapshot_fd = -1;
	state->read_only = read_only;
	name_set_init_entries(&state->mailbox_index,
			      sizeof(struct mailbox_entry));
	int rc = state_paths(state, state_dir, account, err);
	if (rc == 0)
		rc = open_dir(state, err);
	bool absent = rc == 0 && state->dir_fd < 0;
	/* Nothing but the lock file is touched until the lock is ours. */
	if (rc == 0 && !absent)
		rc = take_lock(state, account, err);
	if (rc == 0 && !absent)
		rc = load_snapshot(state, err);
	if (rc == 0 && !absent)
		rc = replay_journal(state, err);
	if (rc != 0) {
		state_free(state);
		return rc;
	}
	*out = state;
	return YB_OK;
}

/* ---- queries ----------------------------------------------------------- */

size_t state_open_intents(const struct state *state,
			  const struct state_intent **out)
{
	*out = state->intents;
	return state->intent_count;
}

bool state_contains(const struct state *state, const char *mailbox,
		    const char *key)
{
	return find_delivered(state, mailbox, key, NULL) != NULL;
}

/* Is (mailbox, key) delivered?  *runs (0: not missing) and *since get
   its missing count, or 0 when it is not delivered. */
static bool find_missing(const struct state *state, const char *mailbox,
			 const char *key, int64_t *since, uint32_t *runs)
{
	struct mailbox *owner;
	const struct key_entry *entry = find_delivered(state, mailbox, key,
						       &owner);
	*since = 0;
	*runs = 0;
	if (entry)
		key_missing(&owner->extras, entry, since, runs);
	return entry != NULL;
}

bool state_contains_note_missing(const struct state *state,
				 const char *mailbox, const char *key,
				 bool *missing)
{
	int64_t since;
	uint32_t runs;
	bool found = find_missing(state, mailbox, key, &since, &runs);
	*missing = runs != 0;
	return found;
}

void state_prefetch(const struct state *state, const char *mailbox,
		    const char *key)
{
	const struct mailbox *found = find_mailbox(state, mailbox,
						   strlen(mailbox));
	if (found)
		name_set_prefetch(&found->keys, key, strlen(key));
}

bool state_fetched_at(const struct state *state, const char *mailbox,
		      const char *key, time_t *out)
{
	struct mailbox *owner;
	const struct key_entry *entry = find_delivered(state, mailbox, key,
						       &owner);
	if (!entry)
		return false;
	*out = (time_t)key_fetched_at(&owner->extras, entry);
	return true;
}

int state_foreach(const struct state *state, const char *mailbox,
		  int (*fn)(void *ctx, const char *key, time_t fetched_at),
		  void *ctx)
{
	const struct mailbox *found = find_mailbox(state, mailbox,
						   strlen(mailbox));
	if (!found)
		return 0;
	size_t cursor = 0;
	for (const struct key_entry *entry = next_key(found, &cursor); entry;
	     entry = next_key(found, &cursor)) {
		int rc = fn(ctx, entry->head.name,
			    (time_t)key_fetched_at(&found->extras, entry));
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- dests left in the snapshot ---------------------------------------- */

/* Bytes read first for a line; most M lines are shorter. */
#define SHORT_LINE 512

static ssize_t pread_retry(int fd, void *buf, size_t len, uint64_t offset)
{
	if (offset > (uint64_t)INT64_MAX)
		return -1;
	ssize_t got;
	do
		got = pread(fd, buf, len, (off_t)offset);
	while (got < 0 && errno == EINTR);
	return got;
}

/*
 * The dest of entry's snapshot line, which starts text[0..avail) (its
 * bytes decoded in place): the line was checked when the state was
 * loaded, but is read again now, so it must still carry its own checksum
 * and name this key, or the file changed under the lock.  0, or an error
 * naming the file.
 */
static int parse_dest_line(const struct state *state,
			   const struct mailbox *mailbox,
			   const struct key_entry *entry, char *text,
			   size_t avail, const char **dest,
			   struct yb_error *err)
{
	const char *newline = memchr(text, '\n', avail);
	size_t len = newline ? (size_t)(newline - text) : 0;
	struct record rec;
	const char *problem = NULL;
	if (!newline || !record_checksum_ok(text, len))
		problem = "the line is gone or damaged";
	else
		problem = record_parse(text, len, &rec);
	if (!problem && (rec.op != 'M' || rec.field_count < 4 ||
			 rec.field_none[3] ||
			 rec.field_len[1] != entry->head.len ||
			 memcmp(rec.field[1], entry->head.name, entry->head.len) ||
			 rec.field_len[0] != mailbox->name_len ||
			 memcmp(rec.field[0], mailbox->name, mailbox->name_len)))
		problem = "not the line of the message read at start";
	if (problem)
		return yb_fail(err, YB_ERR_IO, "%s changed while yubin ran (at "
			       "byte %llu: %s); run yubin again, it reads the "
			       "file afresh", state->snapshot_path,
			       (unsigned long long)(key_dest_ref(&mailbox->extras,
								  entry) / 2),
			       problem);
	*dest = rec.field[3];
	return 0;
}

/* The dest of entry's snapshot line, read into buf (STATE_LINE_MAX + 1
   bytes): *dest points into it.  0, or an error naming the file. */
static int read_snapshot_dest(const struct state *state,
			      const struct mailbox *mailbox,
			      const struct key_entry *entry, char *buf,
			      const char **dest, struct yb_error *err)
{
	uint64_t offset = key_dest_ref(&mailbox->extras, entry) / 2;
	/* Most lines are short: the longest one is read only when needed. */
	ssize_t got = pread_retry(state->snapshot_fd, buf, SHORT_LINE, offset);
	if (got == SHORT_LINE && !memchr(buf, '\n', SHORT_LINE))
		got = pread_retry(state->snapshot_fd, buf, STATE_LINE_MAX + 1,
				  offset);
	if (got < 0)
		return read_failed(err, state->snapshot_path, errno);
	return parse_dest_line(state, mailbox, entry, buf, (size_t)got, dest,
			       err);
}

/*
 * entry's dest, or NULL for none: one still in the snapshot is read and
 * kept in the mailbox's dest store from then on, so that it lives as
 * long as a dest held from the start.  The state is const to its
 * callers and changes only in how it holds the same dest.  0, or -1
 * with err.
 */
static int entry_dest(const struct state *state, const struct mailbox *mailbox,
		      const struct key_entry *entry, const char **dest,
		      struct yb_error *err)
{
	uint64_t dest_ref = key_dest_ref(&mailbox->extras, entry);
	*dest = dest_string(&mailbox->dests, dest_ref);
	if (!dest_in_snapshot(dest_ref))
		return 0;
	char *buf = malloc(STATE_LINE_MAX + 1);
	if (!buf)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	const char *read;
	int rc = read_snapshot_dest(state, mailbox, entry, buf, &read, err);
	struct mailbox *owner = (struct mailbox *)mailbox;
	bool kept = rc == 0 &&
		    dest_ref_of_copy(&owner->dests, read, &dest_ref) == 0 &&
		    key_set_dest_ref(&owner->extras, (struct key_entry *)entry,
				     dest_ref) == 0;
	free(buf);
	if (rc != 0)
		return rc;
	if (!kept)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	*dest = dest_string(&owner->dests, dest_ref);
	return 0;
}

int state_dests_where(const struct state *state, const char *mailbox,
		      bool (*wanted)(void *ctx, const char *key), void *ctx,
		      const char ***dests, size_t *count, struct yb_error *err)
{
	*count = 0;
	*dests = NULL;
	const struct mailbox *found = find_mailbox(state, mailbox, strlen(mailbox));
	size_t cap = found ? found->keys.count : 0;
	const char **out = malloc((cap ? cap : 1) * sizeof(*out));
	if (!out)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	size_t cursor = 0;
	for (const struct key_entry *entry = found ? next_key(found, &cursor)
						   : NULL;
	     entry && *count < cap; entry = next_key(found, &cursor)) {
		if (key_dest_ref(&found->extras, entry) == DEST_NONE ||
		    (wanted && !wanted(ctx, entry->head.name)))
			continue;
		const char *dest;
		if (entry_dest(state, found, entry, &dest, err) != 0) {
			free(out);
			*count = 0;
			return err->status;
		}
		out[(*count)++] = dest;
	}
	*dests = out;
	return YB_OK;
}

size_t state_count(const struct state *state, const char *mailbox)
{
	const struct mailbox *found = find_mailbox(state, mailbox,
						   strlen(mailbox));
	return found ? found->keys.count : 0;
}

const char *state_dest(const struct state *state, const char *mailbox,
		       const char *key)
{
	const struct mailbox *found = find_mailbox(state, mailbox, strlen(mailbox));
	const struct key_entry *entry = found ? find_key(found, key, strlen(key))
					      : NULL;
	const char *dest = NULL;
	struct yb_error err;
	if (entry && entry_dest(state, found, entry, &dest, &err) != 0) {
		/* The callers act on a known dest only: unknown is safe. */
		log_warn("%s", err.msg);
		return NULL;
	}
	return dest;
}

const char *state_get_meta(const struct state *state, const char *mailbox,
			   const char *name)
{
	const struct mailbox *found = find_mailbox(state, mailbox,
						   strlen(mailbox));
	if (!found)
		return NULL;
	const struct meta_value *meta = find_meta(found, name, strlen(name));
	return meta ? meta->value : NULL;
}

/* ---- writing the journal ----------------------------------------------- */

static int check_writable(const struct state *state, struct yb_error *err)
{
	if (state->read_only)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: state opened read-only", state->dir_path);
	if (state->broken)
		return yb_fail(err, YB_ERR_IO,
			       "%s: not written after an earlier write failed; "
			       "the next run will recover", state->journal_path);
	return 0;
}

static int check_field(const struct state *state, const char *what,
		       const char *value, size_t max, struct yb_error *err)
{
	if (!value || !value[0])
		return yb_fail(err, YB_ERR_INTERNAL, "%s: empty %s refused",
			       state->dir_path, what);
	size_t len = strnlen(value, max + 1);
	if (len > max) {
		char shown[64];
		text_sanitize(shown, sizeof(shown), value, len);
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: %s longer than %zu bytes refused (\"%s\")",
			       state->dir_path, what, max, shown);
	}
	return 0;
}

static int check_mailbox_key(const struct state *state, const char *mailbox,
			     const char *key, struct yb_error *err)
{
	int rc = check_writable(state, err);
	if (rc == 0)
		rc = check_field(state, "mailbox", mailbox, STATE_MAILBOX_MAX, err);
	if (rc == 0)
		rc = check_field(state, "message key", key, STATE_KEY_MAX, err);
	return rc;
}

/* A value's name and text as state_set_meta takes them. */
static int check_meta(const struct state *state, const char *name,
		      const char *value, struct yb_error *err)
{
	const char *problem = "no value name";
	const char *what = name;
	if (name)
		problem = record_meta_name_problem(name,
					    strnlen(name, STATE_META_NAME_MAX + 1));
	if (!problem) {
		what = value;
		problem = value ? record_meta_value_problem(
					  value,
					  strnlen(value, STATE_META_VALUE_MAX + 1))
				: "no value";
	}
	if (!problem)
		return 0;
	char shown[64];
	text_sanitize(shown, sizeof(shown), what ? what : "",
		      what ? strnlen(what, sizeof(shown)) : 0);
	return yb_fail(err, YB_ERR_INTERNAL,
		       "%s: %s refused (\"%s\"; names are [a-z0-9_], at most "
		       "%d bytes; values printable, at most %d bytes)",
		       state->dir_path, problem, shown, STATE_META_NAME_MAX,
		       STATE_META_VALUE_MAX);
}

/* Append to the journal file, undoing a partial write on failure. */
static int journal_append(struct state *state, const char *data, size_t len,
			  struct yb_error *err)
{
	int errnum = fd_write_all(state->journal_fd, data, len);
	if (errnum == 0) {
		state->journal_bytes += len;
		state->journal_unsynced = true;
		return 0;
	}
	/* A partial line left there would turn into corruption in the
	   middle once more records follow it. */
	if (ftruncate(state->journal_fd, (off_t)state->journal_bytes) != 0)
		state->broken = true;
	return yb_fail_errno(err, YB_ERR_IO, errnum, "cannot write %s",
			     state->journal_path);
}

static int journal_open_for_append(struct state *state, struct yb_error *err)
{
	if (state->journal_fd >= 0)
		return 0;
	int rc = open_state_file(state, JOURNAL_NAME, state->journal_path,
				 O_WRONLY | O_APPEND | O_CREAT,
				 &state->journal_fd, err);
	if (rc != 0)
		return rc;
	state->journal_on_disk = true;
	/* The journal's name must be durable before its records are: a run
	   that died earlier may have created it without syncing the
	   directory.  One directory sync per run, at the first state_sync. */
	state->dir_unsynced = true;
	return 0;
}

/* Write the pending records (not synced); they leave the buffer. */
static int journal_write_pending(struct state *state, struct yb_error *err)
{
	if (state->pending.len == 0)
		return 0;
	int rc = journal_open_for_append(state, err);
	/* A new or emptied journal starts with its header. */
	if (rc == 0 && state->journal_bytes == 0)
		rc = journal_append(state, JOURNAL_HEADER,
				    strlen(JOURNAL_HEADER), err);
	if (rc == 0)
		rc = journal_append(state, state->pending.data,
				    state->pending.len, err);
	if (rc == 0)
		state->pending.len = 0;
	return rc;
}

/* Encode rec at the end of the pending buffer; *mark is where it starts. */
static int pending_add(struct state *state, const struct record *rec,
		       size_t *mark, struct yb_error *err)
{
	size_t line_len = record_line_len(rec);
	if (state->pending.len > 0 &&
	    state->pending.len + line_len > PENDING_FLUSH_BYTES) {
		int rc = journal_write_pending(state, err);
		if (rc != 0)
			return rc;
	}
	if (buf_reserve(&state->pending, line_len) != 0)
		return out_of_memory(state, err);
	*mark = state->pending.len;
	record_encode(rec, state->pending.data + state->pending.len);
	state->pending.len += line_len;
	return 0;
}

/* Log the record and apply it; on failure neither happens. */
static int record_and_apply(struct state *state, const struct record *rec,
			    struct yb_error *err)
{
	size_t mark = 0;
	int rc = pending_add(state, rec, &mark, err);
	if (rc != 0)
		return rc;
	if (apply_record(state, rec) != 0) {
		state->pending.len = mark;
		return out_of_memory(state, err);
	}
	return 0;
}

static bool intent_is_open(const struct state *state, const char *mailbox,
			   const char *key)
{
	return find_intent(state, mailbox, key) < state->intent_count;
}

int state_intent(struct state *state, const char *mailbox, const char *key,
		 const char *dest, struct yb_error *err)
{
	int rc = check_mailbox_key(state, mailbox, key, err);
	if (rc == 0)
		rc = check_field(state, "destination", dest, STATE_DEST_MAX, err);
	if (rc != 0)
		return rc;
	struct record rec;
	record_set(&rec, 'I', mailbox, key, dest);
	return record_and_apply(state, &rec, err);
}

int state_commit(struct state *state, const char *mailbox, const char *key,
		 time_t fetched_at, struct yb_error *err)
{
	int rc = check_mailbox_key(state, mailbox, key, err);
	if (rc != 0)
		return rc;
	if (fetched_at < 0)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: negative delivery time refused",
			       state->dir_path);
	/* Nothing would change: no record. */
	if (state_contains(state, mailbox, key) &&
	    !intent_is_open(state, mailbox, key))
		return 0;
	char seconds[24];
	if (!text_format(seconds, sizeof(seconds), "%lld", (long long)fetched_at))
		return yb_fail(err, YB_ERR_INTERNAL, "%s: bad delivery time",
			       state->dir_path);
	struct record rec;
	record_set(&rec, 'C', mailbox, key, seconds);
	rec.fetched_at = (int64_t)fetched_at;
	return record_and_apply(state, &rec, err);
}

int state_drop_intent(struct state *state, const char *mailbox,
		      const char *key, struct yb_error *err)
{
	int rc = check_mailbox_key(state, mailbox, key, err);
	if (rc != 0 || !intent_is_open(state, mailbox, key))
		return rc;
	struct record rec;
	record_set(&rec, 'X', mailbox, key, NULL);
	return record_and_apply(state, &rec, err);
}

int state_forget(struct state *state, const char *mailbox, const char *key,
		 struct yb_error *err)
{
	int rc = check_mailbox_key(state, mailbox, key, err);
	if (rc != 0)
		return rc;
	if (!state_contains(state, mailbox, key) &&
	    !intent_is_open(state, mailbox, key))
		return 0;
	struct record rec;
	record_set(&rec, 'F', mailbox, key, NULL);
	return record_and_apply(state, &rec, err);
}

int state_set_dest(struct state *state, const char *mailbox, const char *key,
		   const char *dest, struct yb_error *err)
{
	int rc = check_mailbox_key(state, mailbox, key, err);
	if (rc == 0)
		rc = check_field(state, "destination", dest, STATE_DEST_MAX, err);
	if (rc != 0)
		return rc;
	struct mailbox *owner;
	const struct key_entry *entry = find_delivered(state, mailbox, key,
						       &owner);
	if (!entry) {
		char shown_key[64], shown_mailbox[64];
		text_sanitize(shown_key, sizeof(shown_key), key, strlen(key));
		text_sanitize(shown_mailbox, sizeof(shown_mailbox), mailbox,
			      strlen(mailbox));
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: cannot record where \"%s\" of mailbox "
			       "\"%s\" is: not recorded as delivered",
			       state->dir_path, shown_key, shown_mailbox);
	}
	/* Nothing would change: no record. */
	const char *held = dest_string(&owner->dests,
				       key_dest_ref(&owner->extras, entry));
	if (held && strcmp(held, dest) == 0)
		return 0;
	struct record rec;
	record_set(&rec, 'D', mailbox, key, dest);
	return record_and_apply(state, &rec, err);
}

/* The delivered entry of (mailbox, key) for a change, or an error. */
static int find_for_change(struct state *state, const char *mailbox,
			   const char *key, const char *what,
			   struct key_entry **out, struct mailbox **owner,
			   struct yb_error *err)
{
	int rc = check_mailbox_key(state, mailbox, key, err);
	if (rc != 0)
		return rc;
	*out = find_delivered(state, mailbox, key, owner);
	if (*out)
		return 0;
	char shown_key[64], shown_mailbox[64];
	text_sanitize(shown_key, sizeof(shown_key), key, strlen(key));
	text_sanitize(shown_mailbox, sizeof(shown_mailbox), mailbox,
		      strlen(mailbox));
	return yb_fail(err, YB_ERR_INTERNAL,
		       "%s: cannot record %s of \"%s\" of mailbox \"%s\": "
		       "not recorded as delivered", state->dir_path, what,
		       shown_key, shown_mailbox);
}

/* Record "OP MAILBOX KEY NUMBER" (Z, B) and apply it. */
static int record_key_number(struct state *state, char op, const char *mailbox,
			     const char *key, uint64_t number,
			     struct yb_error *err)
{
	char number_text[RECORD_NUMBER_SIZE];
	struct record rec;
	record_set(&rec, op, mailbox, key, NULL);
	record_number_field(&rec, 2, number_text, number);
	rec.field_count = 3;
	rec.number = number;
	return record_and_apply(state, &rec, err);
}

bool state_listed_size(const struct state *state, const char *mailbox,
		       const char *key, uint64_t *size)
{
	struct mailbox *owner;
	const struct key_entry *entry = find_delivered(state, mailbox, key,
						       &owner);
	return entry && key_listed_size(&owner->extras, entry, size);
}

int state_set_listed_size(struct state *state, const char *mailbox,
			  const char *key, uint64_t size, struct yb_error *err)
{
	struct key_entry *entry;
	struct mailbox *owner;
	int rc = find_for_change(state, mailbox, key, "the size", &entry,
				 &owner, err);
	if (rc != 0)
		return rc;
	uint64_t held;
	if (key_listed_size(&owner->extras, entry, &held) && held == size)
		return 0;
	return record_key_number(state, 'Z', mailbox, key, size, err);
}

bool state_missing(const struct state *state, const char *mailbox,
		   const char *key, time_t *since, unsigned long *runs)
{
	int64_t held_since;
	uint32_t held_runs;
	find_missing(state, mailbox, key, &held_since, &held_runs);
	if (held_runs == 0)
		return false;
	*since = (time_t)held_since;
	*runs = held_runs;
	return true;
}

int state_set_missing(struct state *state, const char *mailbox,
		      const char *key, time_t since, unsigned long runs,
		      struct yb_error *err)
{
	struct key_entry *entry;
	struct mailbox *owner;
	int rc = find_for_change(state, mailbox, key, "a missing message",
				 &entry, &owner, err);
	if (rc != 0)
		return rc;
	if (since < 0 || runs > MISSING_RUNS_MAX)
		return yb_fail(err, YB_ERR_INTERNAL, "%s: bad missing count "
			       "%lu since %lld", state->dir_path, runs,
			       (long long)since);
	if (runs == 0)
		since = 0;
	int64_t held_since;
	uint32_t held_runs;
	key_missing(&owner->extras, entry, &held_since, &held_runs);
	if (held_runs == runs && held_since == since)
		return 0;
	char since_text[RECORD_NUMBER_SIZE], runs_text[RECORD_NUMBER_SIZE];
	struct record rec;
	record_set(&rec, 'S', mailbox, key, NULL);
	record_number_field(&rec, 2, since_text, (unsigned long long)since);
	record_number_field(&rec, 3, runs_text, runs);
	rec.field_count = 4;
	rec.fetched_at = since;
	rec.number = runs;
	return record_and_apply(state, &rec, err);
}

bool state_flag_base(const struct state *state, const char *mailbox,
		     const char *key, unsigned *flags)
{
	const struct key_entry *entry = find_delivered(state, mailbox, key, NULL);
	if (!entry || !(key_flag_base(entry) & FLAG_KNOWN))
		return false;
	*flags = key_flag_base(entry) & FLAG_BITS;
	return true;
}

bool state_flag_push(const struct state *state, const char *mailbox,
		     const char *key, unsigned *add, unsigned *remove)
{
	struct mailbox *owner;
	const struct key_entry *entry = find_delivered(state, mailbox, key,
						       &owner);
	unsigned held_add = 0, held_remove = 0;
	if (entry)
		key_push(&owner->extras, entry, &held_add, &held_remove);
	if ((held_add | held_remove) == 0)
		return false;
	*add = held_add;
	*remove = held_remove;
	return true;
}

/* Flag bits the state can keep, or an error naming them. */
static int check_flag_bits(const struct state *state, const char *what,
			   unsigned bits, struct yb_error *err)
{
	if (bits <= STATE_FLAGS_MAX)
		return 0;
	return yb_fail(err, YB_ERR_INTERNAL, "%s: bad %s %u", state->dir_path,
		       what, bits);
}

int state_set_flag_base(struct state *state, const char *mailbox,
			const char *key, unsigned flags, struct yb_error *err)
{
	struct key_entry *entry;
	struct mailbox *owner;
	int rc = find_for_change(state, mailbox, key, "flags", &entry, &owner,
				 err);
	if (rc == 0)
		rc = check_flag_bits(state, "flags", flags, err);
	if (rc != 0)
		return rc;
	unsigned add, remove;
	key_push(&owner->extras, entry, &add, &remove);
	if (key_flag_base(entry) == (flags | FLAG_KNOWN) && (add | remove) == 0)
		return 0;
	return record_key_number(state, 'B', mailbox, key, flags, err);
}

int state_set_flag_push(struct state *state, const char *mailbox,
			const char *key, unsigned add, unsigned remove,
			struct yb_error *err)
{
	struct key_entry *entry;
	struct mailbox *owner;
	int rc = find_for_change(state, mailbox, key, "a flag push", &entry,
				 &owner, err);
	if (rc == 0)
		rc = check_flag_bits(state, "flags to add", add, err);
	if (rc == 0)
		rc = check_flag_bits(state, "flags to remove", remove, err);
	if (rc == 0 && ((add & remove) != 0 || (add | remove) == 0))
		rc = yb_fail(err, YB_ERR_INTERNAL, "%s: bad flag push +%u -%u",
			     state->dir_path, add, remove);
	if (rc != 0)
		return rc;
	char add_text[RECORD_NUMBER_SIZE], remove_text[RECORD_NUMBER_SIZE];
	struct record rec;
	record_set(&rec, 'P', mailbox, key, NULL);
	record_number_field(&rec, 2, add_text, add);
	record_number_field(&rec, 3, remove_text, remove);
	rec.field_count = 4;
	rec.number = add | (remove << 8);
	return record_and_apply(state, &rec, err);
}

int state_set_meta(struct state *state, const char *mailbox, const char *name,
		   const char *value, struct yb_error *err)
{
	int rc = check_writable(state, err);
	if (rc == 0)
		rc = check_field(state, "mailbox", mailbox, STATE_MAILBOX_MAX, err);
	if (rc == 0)
		rc = check_meta(state, name, value, err);
	if (rc != 0)
		return rc;
	const char *current = state_get_meta(state, mailbox, name);
	if (current && strcmp(current, value) == 0)
		return 0;
	if (meta_would_overflow(state, mailbox, strlen(mailbox), name,
				strlen(name))) {
		char shown[64];
		text_sanitize(shown, sizeof(shown), mailbox, strlen(mailbox));
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: mailbox \"%s\" already holds %d values; "
			       "\"%s\" refused", state->dir_path, shown,
			       STATE_META_PER_MAILBOX_MAX, name);
	}
	struct record rec;
	record_set(&rec, 'V', mailbox, name, value);
	return record_and_apply(state, &rec, err);
}

int state_forget_mailbox(struct state *state, const char *mailbox,
			 struct yb_error *err)
{
	int rc = check_writable(state, err);
	if (rc == 0)
		rc = check_field(state, "mailbox", mailbox, STATE_MAILBOX_MAX, err);
	if (rc != 0)
		return rc;
	/* Its resolution needs the key it names: resolve it first. */
	if (mailbox_has_intent(state, mailbox)) {
		char shown[64];
		text_sanitize(shown, sizeof(shown), mailbox, strlen(mailbox));
		return yb_fail(err, YB_ERR_INTERNAL,
			       "%s: cannot forget mailbox \"%s\": it has an "
			       "open intent", state->dir_path, shown);
	}
	if (!find_mailbox(state, mailbox, strlen(mailbox)))
		return 0;
	struct record rec = { .op = 'G', .field_count = 1 };
	rec.field[0] = mailbox;
	rec.field_len[0] = strlen(mailbox);
	return record_and_apply(state, &rec, err);
}

int state_sync(struct state *state, struct yb_error *err)
{
	int rc = check_writable(state, err);
	if (rc == 0)
		rc = journal_write_pending(state, err);
	if (rc != 0)
		return rc;
	if (state->journal_unsynced) {
		int errnum = fd_datasync(state->journal_fd);
		if (errnum != 0) {
			/* After a failed fsync the kernel's copy cannot be
			   trusted to reach the disk; write nothing more. */
			state->broken = true;
			return yb_fail_errno(err, YB_ERR_IO, errnum,
					     "cannot sync %s",
					     state->journal_path);
		}
		state->journal_unsynced = false;
	}
	if (state->dir_unsynced) {
		int errnum = fd_sync(state->dir_fd);
		if (errnum != 0)
			return yb_fail_errno(err, YB_ERR_IO, errnum,
					     "cannot sync directory %s",
					     state->dir_path);
		state->dir_unsynced = false;
	}
	return 0;
}

/* ---- compaction -------------------------------------------------------- */

struct file_writer {
	int fd;
	char *buf;       /* owned, WRITER_BUF_SIZE bytes */
	size_t len;
	int errnum;      /* first write error, 0 if none */
	uint32_t crc;    /* running CRC-32 of every byte added */
	unsigned long long records;
	const struct state *state;  /* whose old snapshot holds dests */
	/* The old snapshot's bytes from window_at on, window_len of them:
	   the keys come in the order of their lines, mostly, so that one
	   read serves many. */
	char *window;    /* owned, SNAPSHOT_WINDOW bytes */
	uint64_t window_at;
	size_t window_len;
};

/* Holds the longest line whole, read from its start. */
#define SNAPSHOT_WINDOW (64 * 1024)
_Static_assert(SNAPSHOT_WINDOW > STATE_LINE_MAX, "a line fits the window");

static void writer_flush(struct file_writer *writer)
{
	if (writer->errnum == 0 && writer->len > 0)
		writer->errnum = fd_write_all(writer->fd, writer->buf, writer->len);
	writer->len = 0;
}

static void writer_add_record(struct file_writer *writer,
			      const struct record *rec)
{
	size_t line_len = record_line_len(rec);
	if (WRITER_BUF_SIZE - writer->len < line_len)
		writer_flush(writer);
	char *line = writer->buf + writer->len;
	record_encode(rec, line);
	writer->crc = record_crc32_update(writer->crc, line, line_len);
	writer->len += line_len;
	writer->records++;
}

/* The trailer "end COUNT CRC #CHECK" after everything added so far. */
static void writer_add_trailer(struct file_writer *writer)
{
	char line[SNAPSHOT_TRAILER_SIZE];
	size_t line_len = snapshot_trailer_encode(
		line, writer->records, record_crc32_final(writer->crc));
	if (line_len == 0) {
		writer->errnum = EOVERFLOW; /* cannot happen: it fits */
		return;
	}
	if (WRITER_BUF_SIZE - writer->len < line_len)
		writer_flush(writer);
	memcpy(writer->buf + writer->len, line, line_len);
	writer->len += line_len;
}

/* After a key's Z and S lines: its B line and any open push's P line. */
static void write_key_flags(struct file_writer *writer, struct record *rec,
			    const struct mailbox *mailbox,
			    const struct key_entry *entry)
{
	char first[RECORD_NUMBER_SIZE], second[RECORD_NUMBER_SIZE];
	unsigned flags = key_flag_base(entry);
	if (flags & FLAG_KNOWN) {
		rec->op = 'B';
		rec->field_count = 3;
		record_number_field(rec, 2, first, flags & FLAG_BITS);
		writer_add_record(writer, rec);
	}
	unsigned add, remove;
	key_push(&mailbox->extras, entry, &add, &remove);
	if ((add | remove) == 0)
		return;
	rec->op = 'P';
	rec->field_count = 4;
	record_number_field(rec, 2, first, add);
	record_number_field(rec, 3, second, remove);
	writer_add_record(writer, rec);
}

/* After a key's M line (which holds its size): while it is missing its
   S line, and its flags. */
static void write_key_values(struct file_writer *writer,
			     const struct mailbox *mailbox,
			     const struct key_entry *entry)
{
	char first[RECORD_NUMBER_SIZE], second[RECORD_NUMBER_SIZE];
	struct record rec = { .op = 'S', .field_count = 4 };
	rec.field[0] = mailbox->name;
	rec.field_len[0] = mailbox->name_len;
	rec.field[1] = entry->head.name;
	rec.field_len[1] = entry->head.len;
	int64_t since;
	uint32_t runs;
	key_missing(&mailbox->extras, entry, &since, &runs);
	if (runs != 0) {
		record_number_field(&rec, 2, first, (unsigned long long)since);
		record_number_field(&rec, 3, second, runs);
		writer_add_record(writer, &rec);
	}
	write_key_flags(writer, &rec, mailbox, entry);
}

/*
 * entry's dest for its M line, or NULL; one still in the old snapshot is
 * read into the writer's window, not kept: compaction reads every
 * one.  A failed read fails the write (the journal stays, and holds
 * what it did).
 */
static const char *writer_dest(struct file_writer *writer,
			       const struct mailbox *mailbox,
			       const struct key_entry *entry)
{
	uint64_t dest_ref = key_dest_ref(&mailbox->extras, entry);
	if (!dest_in_snapshot(dest_ref))
		return dest_string(&mailbox->dests, dest_ref);
	if (writer->errnum != 0)
		return NULL;
	uint64_t offset = dest_ref / 2;
	size_t at = (size_t)(offset - writer->window_at);
	if (offset < writer->window_at || offset - writer->window_at >=
	    writer->window_len || !memchr(writer->window + at, '\n',
					 writer->window_len - at)) {
		ssize_t got = pread_retry(writer->state->snapshot_fd,
					  writer->window, SNAPSHOT_WINDOW, offset);
		if (got < 0) {
			writer->errnum = errno;
			return NULL;
		}
		writer->window_at = offset;
		writer->window_len = (size_t)got;
		at = 0;
	}
	struct yb_error err;
	const char *dest = NULL;
	if (parse_dest_line(writer->state, mailbox, entry, writer->window + at,
			    writer->window_len - at, &dest, &err) != 0) {
		log_warn("%s", err.msg);
		writer->errnum = EIO;
	}
	return dest;
}

/* One M record per delivered key: "M MAILBOX KEY FETCHED_AT DEST SIZE",
   SIZE only when one is recorded. */
static void write_mailbox_keys(struct file_writer *writer,
			       const struct mailbox *mailbox)
{
	struct record rec = { .op = 'M', .field_count = 4 };
	rec.field[0] = mailbox->name;
	rec.field_len[0] = mailbox->name_len;
	size_t cursor = 0;
	for (const struct key_entry *entry = next_key(mailbox, &cursor); entry;
	     entry = next_key(mailbox, &cursor)) {
		char seconds[24];
		if (!text_format(seconds, sizeof(seconds), "%lld",
				 (long long)key_fetched_at(&mailbox->extras,
							   entry)))
			continue; /* cannot happen: an int64 fits */
		rec.field[1] = entry->head.name;
		rec.field_len[1] = entry->head.len;
		rec.field[2] = seconds;
		rec.field_len[2] = strlen(seconds);
		const char *dest = writer_dest(writer, mailbox, entry);
		rec.field_none[3] = dest == NULL;
		rec.field[3] = dest ? dest : "";
		rec.field_len[3] = dest ? strlen(dest) : 0;
		char size_text[RECORD_NUMBER_SIZE];
		uint64_t size;
		rec.field_count = 4;
		if (key_listed_size(&mailbox->extras, entry, &size)) {
			record_number_field(&rec, 4, size_text, size);
			rec.field_count = 5;
		}
		writer_add_record(writer, &rec);
		write_key_values(writer, mailbox, entry);
	}
}

/* One V record per value: "V MAILBOX NAME VALUE". */
static void write_mailbox_meta(struct file_writer *writer,
			       const struct mailbox *mailbox)
{
	struct record rec = { .op = 'V', .field_count = 3 };
	rec.field[0] = mailbox->name;
	rec.field_len[0] = mailbox->name_len;
	for (size_t i = 0; i < mailbox->meta_count; i++) {
		const struct meta_value *meta = &mailbox->meta[i];
		rec.field[1] = meta->block;
		rec.field_len[1] = meta->name_len;
		rec.field[2] = meta->value;
		rec.field_len[2] = meta->value_len;
		writer_add_record(writer, &rec);
	}
}

static void write_mailbox(struct file_writer *writer,
			  const struct mailbox *mailbox)
{
	write_mailbox_keys(writer, mailbox);
	write_mailbox_meta(writer, mailbox);
}

/* All delivered keys, through the writer; 0 or an errno. */
static int write_snapshot_records(const struct state *state, int fd)
{
	struct file_writer writer = { fd, malloc(WRITER_BUF_SIZE), 0, 0,
				      CRC32_INIT, 0, state,
				      malloc(SNAPSHOT_WINDOW), 0, 0 };
	if (!writer.buf || !writer.window) {
		free(writer.buf);
		free(writer.window);
		return ENOMEM;
	}
	size_t header_len = strlen(SNAPSHOT_HEADER);
	memcpy(writer.buf, SNAPSHOT_HEADER, header_len);
	writer.crc = record_crc32_update(writer.crc, SNAPSHOT_HEADER, header_len);
	writer.len = header_len;
	for (size_t i = 0; i < state->mailbox_count; i++)
		write_mailbox(&writer, state->mailboxes[i]);
	writer_add_trailer(&writer);
	writer_flush(&writer);
	free(writer.buf);
	free(writer.window);
	return writer.errnum;
}

/* snapshot.new holding the whole state, durable on disk. */
static int write_snapshot_new(struct state *state, const char *new_path,
			      struct yb_error *err)
{
	/* Always a new file: a leftover (an interrupted compaction's, or a
	   link someone planted) is removed, never written through. */
	int fd;
	int errnum = safedir_create_file(state->dir_fd, SNAPSHOT_NEW_NAME,
					 O_WRONLY, &fd);
	if (errnum != 0)
		return yb_fail_errno(err, YB_ERR_IO, errnum,
				     "cannot create %s", new_path);
	errnum = write_snapshot_records(state, fd);
	if (errnum == 0)
		errnum = fd_sync(fd);
	if (close(fd) != 0 && errnum == 0)
		errnum = errno;
	if (errnum == 0)
		return 0;
	unlinkat(state->dir_fd, SNAPSHOT_NEW_NAME, 0);
	return yb_fail_errno(err, YB_ERR_IO, errnum, "cannot write %s",
			     new_path);
}

static int sync_dir(struct state *state, struct yb_error *err)
{
	int errnum = fd_sync(state->dir_fd);
	if (errnum != 0)
		return yb_fail_errno(err, YB_ERR_IO, errnum,
				     "cannot sync directory %s", state->dir_path);
	return 0;
}

/*
 * Order is important: the new snapshot must be durable under its final
 * name before the journal goes, or a power loss could leave neither.
 * Dying anywhere in between leaves a snapshot and a journal whose replay
 * gives the same state (see the top of this file).
 */
static int compact(struct state *state, struct yb_error *err)
{
	char *new_path = path_join(state->dir_path, SNAPSHOT_NEW_NAME);
	if (!new_path)
		return out_of_memory(state, err);
	int rc = write_snapshot_new(state, new_path, err);
	/* Crash tests stop here and below: the window isync's order covers. */
	if (rc == 0)
		testhook_step("compact");
	if (rc == 0 && renameat(state->dir_fd, SNAPSHOT_NEW_NAME, state->dir_fd,
				SNAPSHOT_NAME) != 0) {
		rc = yb_fail_errno(err, YB_ERR_IO, errno,
				   "cannot rename %s to %s", new_path,
				   state->snapshot_path);
		unlinkat(state->dir_fd, SNAPSHOT_NEW_NAME, 0);
	}
	free(new_path);
	if (rc == 0)
		rc = sync_dir(state, err);
	if (rc == 0)
		testhook_step("compact");
	/* No directory sync after: should a crash bring the journal back,
	   it is replayed over a snapshot that holds its effects, which is
	   idempotent (see the top of this file), and the next run's first
	   sync of the directory makes the removal durable anyway. */
	if (rc == 0 && unlinkat(state->dir_fd, JOURNAL_NAME, 0) != 0 &&
	    errno != ENOENT)
		rc = yb_fail_errno(err, YB_ERR_IO, errno, "cannot remove %s",
				   state->journal_path);
	return rc;
}

/*
 * Compact once the journal outweighs the snapshot: replay then reads at
 * most about twice the live state, and rewriting the snapshot costs no
 * more than the journal bytes that made it due.  Never with intents open:
 * the snapshot does not hold them.
 */
static bool compaction_due(const struct state *state)
{
	if (state->read_only || state->broken || state->intent_count > 0)
		return false;
	/* A version 1 snapshot is rewritten with its trailer at once. */
	return state->snapshot_outdated ||
	       (state->journal_on_disk &&
		state->journal_bytes > state->snapshot_bytes);
}

/*
 * Make the state durable through a new snapshot: the journal is not
 * synced first, as the snapshot's own fsync and the directory's after
 * the rename make every record durable, and a crash before those leaves
 * the journal as the last state_sync left it (what is past that was
 * never promised).  Should compaction fail, the journal is synced
 * instead; the compaction's error is the one returned.
 */
static int close_by_compaction(struct state *state, struct yb_error *err)
{
	int rc = compact(state, err);
	if (rc != 0) {
		struct yb_error sync_err;
		if (state_sync(state, &sync_err) != 0)
			log_warn("%s", sync_err.msg);
	}
	return rc;
}

int state_close(struct state *state, struct yb_error *err)
{
	if (!state)
		return YB_OK;
	int rc = YB_OK;
	if (!state->read_only) {
		/* Written unsynced first, so that they count toward
		   compaction_due as they always have. */
		rc = check_writable(state, err);
		if (rc == 0)
			rc = journal_write_pending(state, err);
		if (rc == 0 && compaction_due(state))
			rc = close_by_compaction(state, err);
		else if (rc == 0)
			rc = state_sync(state, err);
	}
	state_free(state);
	return rc;
}

void state_free(struct state *state)
{
	if (!state)
		return;
	if (state->journal_fd >= 0)
		close(state->journal_fd);
	if (state->snapshot_fd >= 0)
		close(state->snapshot_fd);
	/* Closing the lock file releases the lock. */
	if (state->lock_fd >= 0)
		close(state->lock_fd);
	if (state->dir_fd >= 0)
		close(state->dir_fd);
	for (size_t i = 0; i < state->mailbox_count; i++)
		mailbox_free(state->mailboxes[i]);
	free(state->mailboxes);
	name_set_free(&state->mailbox_index);
	for (size_t i = 0; i < state->intent_count; i++)
		free(state->intent_blocks[i]);
	free(state->intents);
	free(state->intent_blocks);
	free(state->pending.data);
	free(state->dir_path);
	free(state->snapshot_path);
	free(state->journal_path);
	free(state);
}

/* Keys picked during state_foreach, forgotten after it (no change inside). */
struct doomed_keys {
	bool (*doomed)(void *ctx, const char *key, time_t fetched_at);
	void *ctx;
	char **keys;
	size_t len, cap;
	bool oom;
};

static int collect_doomed(void *ctx, const char *key, time_t fetched_at)
{
	struct doomed_keys *list = ctx;
	if (!list->doomed(list->ctx, key, fetched_at))
		return 0;
	if (list->len == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		char **grown = realloc(list->keys, cap * sizeof(*grown));
		if (!grown) {
			list->oom = true;
			return 1;
		}
		list->keys = grown;
		list->cap = cap;
	}
	list->keys[list->len] = strdup(key);
	if (!list->keys[list->len]) {
		list->oom = true;
		return 1;
	}
	list->len++;
	return 0;
}

int state_forget_where(struct state *state, const char *mailbox,
		       bool (*doomed)(void *ctx, const char *key, time_t fetched_at),
		       void *ctx, size_t *forgotten, struct yb_error *err)
{
	struct doomed_keys list = { .doomed = doomed, .ctx = ctx };
	state_foreach(state, mailbox, collect_doomed, &list);
	int rc = list.oom ? yb_fail(err, YB_ERR_INTERNAL, "out of memory") : YB_OK;
	for (size_t i = 0; i < list.len; i++) {
		if (rc == YB_OK)
			rc = state_forget(state, mailbox, list.keys[i], err);
		free(list.keys[i]);
	}
	free(list.keys);
	if (forgotten)
		*forgotten = rc == YB_OK ? list.len : 0;
	return rc;
}
