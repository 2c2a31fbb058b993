/*
 * fetch_imap.c - the IMAP fetch engine.
 *
 * Per folder: SELECT (EXAMINE when nothing will be deleted) tells
 * UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ; when they match the state, the
 * folder costs that one round trip.  Otherwise one UID FETCH lists what
 * arrived since the stored UIDNEXT (UID FLAGS INTERNALDATE RFC822.SIZE),
 * and the bodies come in pipelined UID FETCH BODY.PEEK[] commands whose
 * literals stream straight into a delivery (delivery.h: exactly-once
 * batches).  State keys are "UIDVALIDITY/UID" per folder; the folder's
 * values "uidvalidity", "uidnext", "highestmodseq" and "path" are written
 * only once everything below them is committed.
 *
 * A changed UIDVALIDITY (or a first run into a sink that already holds
 * mail) is never silently skipped: the folder is fetched again from UID 1
 * and each message whose bytes match a copy the sink already holds
 * (SHA-256; sink_digests: the files of a Maildir, the messages of an
 * mbox, what was handed to an MDA) is recorded without being delivered
 * twice.  Flags are mirrored only onto a sink that keeps them.
 */
#include "config.h"

#include "fetch_imap.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "delivery.h"
#include "folder_ns.h"
#include "flag_push.h"
#include "folder_path.h"
#include "held.h"
#include "imap.h"
#include "imap_key.h"
#include "imap_plan.h"
#include "imap_utf7.h"
#include "log.h"
#include "maildir_presence.h"
#include "name_set.h"
#include "progress.h"
#include "secret.h"
#include "testhook.h"
#include "text.h"

#define BODY_WINDOW 4            /* UID FETCH commands in flight */
#define BODY_CHUNK_MESSAGES 64
#define BODY_CHUNK_BYTES (8u << 20)
#define SET_TEXT_MAX 4096
#define VANISHED_RANGES_MAX 4096 /* ranges in one VANISHED response */
/* The most messages one folder's listing may name: an entry costs ~40
   bytes, so a hostile server can make a run take at most ~500 MB
   (yubin-failures(7), LIMITS). */
#define LISTING_MAX 10000000
/* The most folders one account fetches: a LIST reply naming more is a
   server to stop for, not to follow (yubin.yaml(5), folders). */
#define FOLDERS_MAX 100000
/* A local path leaves this much of PATH_MAX to what a sink adds under
   it (a Maildir's "/tmp/" and file name, an mbox's lock file). */
#define SINK_PATH_RESERVE 256

/* One message of a folder's listing (its sequence number, and whether it
   is still there, are fr->seqs'). */
struct entry {
	uint32_t uid;
	uint32_t flags;
	time_t internaldate;
	uint64_t size;
	bool sized;      /* the listing gave RFC822.SIZE */
	bool wanted;
	bool done;
};

/* What the untagged responses of the command in flight are taken for:
   flags are mirrored from SELECT and flag listings only, never from the
   echo of yubin's own \Deleted while it deletes. */
enum phase { PHASE_SELECT, PHASE_LISTING, PHASE_BODIES, PHASE_FLAGS, PHASE_PUSHING,
	     PHASE_DELETING };

struct folder {
	char *name;      /* UTF-8: the state's mailbox name */
	char *wire;      /* as LIST sent it (modified UTF-7) */
	char *local;     /* UTF-8, the personal namespace's prefix taken off */
	char delimiter;
	char shown[256]; /* the name sanitized, for messages and logs */
};

struct imap_run {
	const struct account *account;
	struct imap *imap;
	struct state *state;
	struct fetch_report *report;
	fetch_sink_fn *open_sink;
	void *sink_ctx;
	bool dry_run;
	bool force;                    /* --force: push_deletions past its share */
	struct folder *folders;
	size_t folder_count, folder_cap;
	struct name_set folder_names;  /* of folders[].name, for O(1) dedup */
	struct folder_ns ns;
	enum yb_status skipped_status; /* worst of the folders not opened */
	size_t refused_count;          /* folders the server would not open */
	char first_refused[256];       /* the first of them, sanitized */
	size_t guarded_count;          /* folders push_deletions skipped: their
					  Maildir missing, emptied, unreadable */
	char first_guarded[256];       /* the first of them, sanitized */
};

/* One LIST command: the pattern sent, to check each entry against. */
struct list_request {
	struct imap_run *run;
	const char *pattern;    /* on the wire (modified UTF-7), unquoted */
	size_t pattern_len;
	size_t matched;         /* selectable entries that matched */
};

/* The work on one folder. */
struct folder_run {
	struct imap_run *run;
	const struct folder *folder;
	char *quoted;
	char *local_path;
	struct sink *sink;       /* borrowed from the run's cache; NULL until opened */
	struct delivery *delivery;
	enum phase phase;
	uint32_t uidvalidity;
	struct imap_folder_plan plan; /* decided once SELECT answered */

	struct entry *entries;   /* sorted by uid (the server lists ascending) */
	size_t count, cap;
	struct imap_seqmap seqs; /* entries[i]'s sequence number now */
	size_t listing_max;      /* LISTING_MAX (lower in tests) */
	struct entry *current;   /* being streamed */
	bool discard_stream;
	struct yb_error stream_err;
	struct fetch_folder_report *figures; /* in the run's report, or NULL */

	uint32_t *doomed;        /* UIDs to delete on the server */
	uint32_t gap_after_uid;  /* the listing left out messages after this
				    UID (0: it left none out) */
	uint32_t past_expunged;  /* one past the highest unlisted UID from
				    start on that settle_expunging doomed */
	size_t doomed_len, doomed_cap;

	struct held *held;       /* copies the sink held, after a UIDVALIDITY change */
	size_t flag_changes;
	struct flag_seen *seen;  /* sync_flags: both: the flag listing */
	size_t seen_len, seen_cap;
	uint32_t *gone_marked;   /* push_deletions: files gone, \Deleted on
				    the server, to expunge (flag_push.h) */
	size_t gone_marked_len;
	uint64_t selected_modseq; /* SELECT's HIGHESTMODSEQ, before the flags
				     were read (0: none) */
	size_t expunged;         /* messages this run deleted from the folder */
	bool refused;            /* the server answered NO to SELECT/EXAMINE */
	enum imap_code refusal_code;
};

static bool meta_u64(const struct state *state, const char *mailbox,
		     const char *name, uint64_t max, uint64_t *out)
{
	const char *value = state_get_meta(state, mailbox, name);
	unsigned long long parsed;
	if (!value || !text_parse_u64(value, strlen(value), max, &parsed))
		return false;
	*out = parsed;
	return true;
}

static int set_meta_u64(struct state *state, const char *mailbox,
			const char *name, uint64_t value, struct yb_error *err)
{
	char text[32];
	snprintf(text, sizeof(text), "%" PRIu64, value);
	return state_set_meta(state, mailbox, name, text, err);
}

/* --- listing entries --- */

/* The index of the first entry whose UID is uid or more (count: none). */
static size_t first_at_or_above(const struct folder_run *fr, uint32_t uid)
{
	size_t lo = 0, hi = fr->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (fr->entries[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct entry *find_uid(struct folder_run *fr, uint32_t uid)
{
	size_t i = first_at_or_above(fr, uid);
	return i < fr->count && fr->entries[i].uid == uid ? &fr->entries[i] : NULL;
}

static struct entry *find_seq(struct folder_run *fr, uint32_t seq)
{
	size_t i = imap_seqmap_find(&fr->seqs, seq);
	return i < fr->count ? &fr->entries[i] : NULL;
}

static int add_entry(struct folder_run *fr, const struct imap_fetch *fetch,
		     struct yb_error *err)
{
	if (fr->count > 0 && fetch->uid <= fr->entries[fr->count - 1].uid) {
		struct entry *known = find_uid(fr, fetch->uid);
		if (known)
			return YB_OK; /* a repeat: keep the first */
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "%s: folder %s: UIDs listed out of order",
			       imap_host(fr->run->imap), fr->folder->shown);
	}
	if (fr->count >= fr->listing_max)
		return yb_fail(err, YB_ERR_PROTOCOL,
			       "%s: folder %s: the listing names more than %zu "
			       "messages, yubin's limit for one folder (see "
			       "yubin-failures(7), LIMITS)", imap_host(fr->run->imap),
			       fr->folder->shown, fr->listing_max);
	if (fr->count == fr->cap) {
		size_t cap = fr->cap ? fr->cap * 2 : 256;
		if (cap > fr->listing_max)
			cap = fr->listing_max;
		struct entry *grown = realloc(fr->entries, cap * sizeof(*grown));
		if (!grown)
			return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		fr->entries = grown;
		fr->cap = cap;
	}
	int rc = imap_seqmap_append(&fr->seqs, fetch->seq, err);
	if (rc != YB_OK) {
		yb_error_prefix(err, "%s: folder %s: UID %" PRIu32 ": ",
				imap_host(fr->run->imap), fr->folder->shown, fetch->uid);
		return rc;
	}
	struct entry *e = &fr->entries[fr->count++];
	memset(e, 0, sizeof(*e));
	e->uid = fetch->uid;
	e->flags = fetch->has_flags ? fetch->flags : 0;
	e->internaldate = fetch->has_internaldate ? fetch->internaldate : 0;
	e->size = fetch->has_rfc822_size ? fetch->rfc822_size : 0;
	e->sized = fetch->has_rfc822_size;
	return YB_OK;
}

/* An EXPUNGE shifts the sequence numbers of everything after it
   (O(log n): a flood of them stays linear). */
static void apply_expunge(struct folder_run *fr, uint64_t seq)
{
	imap_seqmap_expunge(&fr->seqs, seq);
}

/*
 * "* VANISHED uid-set" is QRESYNC's EXPUNGE: it shifts the sequence
 * numbers after each UID just as much, and a body that comes by sequence
 * number alone must be matched against the shifted numbers.  VANISHED
 * (EARLIER) speaks of the time before this session and shifts nothing.
 * A range is walked over the listed messages still there, never number
 * by number: 1:4294967295 costs what the listing holds, and overlapping
 * ranges or repeated responses step over what already went.
 */
static int apply_vanished(struct folder_run *fr, const struct imap_response *resp,
			  struct yb_error *err)
{
	bool earlier = false;
	const char *set = NULL;
	size_t set_len = 0;
	int rc = imap_vanished_decode(resp, &earlier, &set, &set_len, err);
	if (rc != YB_OK || earlier)
		return rc;
	struct imap_range *ranges = NULL;
	size_t range_count = 0;
	rc = imap_seqset_parse(set, set_len, 0, VANISHED_RANGES_MAX, &ranges,
			       &range_count, err);
	if (rc != YB_OK) {
		yb_error_prefix(err, "%s: folder %s: VANISHED: ", imap_host(fr->run->imap),
				fr->folder->shown);
		return rc;
	}
	for (size_t r = 0; r < range_count; r++)
		for (size_t i = imap_seqmap_next_live(&fr->seqs,
						      first_at_or_above(fr, ranges[r].first));
		     i < fr->count && fr->entries[i].uid <= ranges[r].last;
		     i = imap_seqmap_next_live(&fr->seqs, i + 1))
			imap_seqmap_remove(&fr->seqs, i);
	free(ranges);
	return YB_OK;
}

/* --- flags onto delivered messages --- */

/* IMAP's system flags as the sink's neutral ones; \Recent is not kept. */
static bool sink_keeps_flags(const struct folder_run *fr)
{
	return fr->sink && sink_can_apply_flags(fr->sink);
}

static int apply_flags(struct folder_run *fr, uint32_t uid, uint32_t flags,
		       struct yb_error *err)
{
	if (!sink_keeps_flags(fr))
		return YB_OK;
	char key[IMAP_KEY_MAX];
	imap_key_format(key, fr->uidvalidity, uid);
	const char *dest = state_dest(fr->run->state, fr->folder->name, key);
	if (!dest)
		return YB_OK;
	char new_dest[SINK_DEST_MAX];
	int rc = sink_apply_flags(fr->sink, dest, imap_flags_neutral(flags), new_dest, err);
	if (rc != YB_OK || !new_dest[0] || strcmp(new_dest, dest) == 0)
		return rc;
	fr->flag_changes++;
	return state_set_dest(fr->run->state, fr->folder->name, key, new_dest, err);
}

/* sync_flags: both: a message's flags as listed, merged after the
   listing (flag_push.c). */
static int note_seen(struct folder_run *fr, const struct imap_fetch *fetch,
		     struct yb_error *err)
{
	if (fr->seen_len >= fr->listing_max)
		return yb_fail(err, YB_ERR_PROTOCOL, "%s: folder %s: more than %zu "
			       "messages in a flag listing", imap_host(fr->run->imap),
			       fr->folder->shown, fr->listing_max);
	if (fr->seen_len == fr->seen_cap) {
		size_t cap = fr->seen_cap ? fr->seen_cap * 2 : 256;
		if (cap > fr->listing_max)
			cap = fr->listing_max;
		struct flag_seen *grown = realloc(fr->seen, cap * sizeof(*grown));
		if (!grown)
			return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		fr->seen = grown;
		fr->seen_cap = cap;
	}
	fr->seen[fr->seen_len++] = (struct flag_seen){
		.uid = fetch->uid,
		.flags = imap_flags_neutral(fetch->flags),
		.modseq = fetch->has_modseq ? fetch->modseq : 0,
	};
	return YB_OK;
}

/* --- the untagged handler --- */

static int on_fetch(struct folder_run *fr, const struct imap_response *resp,
		    struct yb_error *err)
{
	struct imap_fetch fetch;
	int rc = imap_fetch_decode(resp, &fetch, err);
	if (rc != YB_OK) {
		yb_error_prefix(err, "%s: ", imap_host(fr->run->imap));
		return rc;
	}
	if (fr->phase == PHASE_LISTING) {
		if (!fetch.has_uid)
			return YB_OK; /* an unsolicited flag update */
		return add_entry(fr, &fetch, err);
	}
	if (fr->phase == PHASE_BODIES && fr->current &&
	    (fetch.body.kind != IMAP_PART_STREAMED || fetch.body.has_origin)) {
		/* A literal that was not the whole message (BODY[]<0>, a
		   header, a part): drop it; the message stays unfetched. */
		delivery_abort(fr->delivery);
		fr->current = NULL;
		return YB_OK;
	}
	if (fr->phase == PHASE_BODIES && fetch.body.kind == IMAP_PART_STREAMED) {
		struct entry *e = fr->current;
		fr->current = NULL;
		if (!e)
			return YB_OK; /* a body we did not ask for: dropped */
		if (fetch.has_uid && fetch.uid != e->uid) {
			delivery_abort(fr->delivery);
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "%s: folder %s: a body announced for UID %" PRIu32
				       " came as UID %" PRIu32, imap_host(fr->run->imap),
				       fr->folder->shown, e->uid, fetch.uid);
		}
		char key[IMAP_KEY_MAX];
		imap_key_format(key, fr->uidvalidity, e->uid);
		e->done = true;
		progress_message_done();
		return delivery_end(fr->delivery, key, e, err);
	}
	if (fr->plan.push_flags && fr->phase == PHASE_FLAGS && fetch.has_uid &&
	    fetch.has_flags)
		return note_seen(fr, &fetch, err);
	if (fetch.has_uid && fetch.has_flags &&
	    (fr->phase == PHASE_FLAGS || fr->phase == PHASE_SELECT) && !fr->run->dry_run &&
	    fr->run->account->sync_flags != SYNC_FLAGS_OFF &&
	    fr->run->account->sync_flags != SYNC_FLAGS_BOTH)
		return apply_flags(fr, fetch.uid, fetch.flags, err);
	return YB_OK;
}

static int on_untagged(void *ctx, const struct imap_response *resp,
		       struct yb_error *err)
{
	struct folder_run *fr = ctx;
	if (imap_response_is(resp, "FETCH"))
		return on_fetch(fr, resp, err);
	if (resp->status == IMAP_STATUS_OK && resp->has_code && fr->phase != PHASE_SELECT) {
		struct imap_code_info code;
		if (imap_code_decode(resp, &code, NULL) == YB_OK &&
		    code.code == IMAP_CODE_UIDVALIDITY && code.number != fr->uidvalidity)
			return yb_fail(err, YB_ERR_PROTOCOL,
				       "%s: folder %s: UIDVALIDITY changed during the session "
				       "(%" PRIu32 " to %" PRIu64 "); stopping", imap_host(fr->run->imap),
				       fr->folder->shown, fr->uidvalidity, code.number);
	}
	if (imap_response_is(resp, "EXPUNGE") && resp->has_number)
		apply_expunge(fr, resp->number);
	if (imap_response_is(resp, "VANISHED"))
		return apply_vanished(fr, resp, err);
	return YB_OK;
}

/* Which message does a literal belong to?  UID if already given, else seq. */
static struct entry *entry_of_partial(struct folder_run *fr,
				      const struct imap_response *partial)
{
	if (partial->value_count > 0 && partial->values[0].type == IMAP_VALUE_LIST) {
		const struct imap_value *list = &partial->values[0];
		for (size_t i = 0; i + 1 < list->count; i += 2)
			if (imap_value_is_atom(&list->items[i], "UID") &&
			    list->items[i + 1].type == IMAP_VALUE_NUMBER &&
			    list->items[i + 1].number <= UINT32_MAX)
				return find_uid(fr, (uint32_t)list->items[i + 1].number);
	}
	if (partial->has_number && partial->number <= UINT32_MAX)
		return find_seq(fr, (uint32_t)partial->number);
	return NULL;
}

/* Is the literal about to come the whole message: BODY[] or RFC822? */
static bool names_whole_body(const struct imap_response *partial)
{
	if (partial->value_count == 0 || partial->values[0].type != IMAP_VALUE_LIST)
		return false;
	const struct imap_value *list = &partial->values[0];
	if (list->count == 0)
		return false;
	const struct imap_value *item = &list->items[list->count - 1];
	if (item->type != IMAP_VALUE_ATOM)
		return false;
	struct imap_section section;
	if (imap_section_split(item->str, item->len, &section, NULL) != YB_OK ||
	    section.has_origin)
		return false;
	if (imap_word_equals(section.name, section.name_len, "RFC822"))
		return !section.has_section;
	return imap_word_equals(section.name, section.name_len, "BODY") &&
	       section.has_section && section.section_len == 0;
}

/* The body is the message as sent, whatever RFC822.SIZE said: said. */
static void check_literal_size(const struct folder_run *fr, const struct entry *e,
			       uint64_t size)
{
	if (e->sized && size != e->size)
		log_warn("folder %s: UID %" PRIu32 ": %s sent %" PRIu64 " bytes where "
			 "RFC822.SIZE said %" PRIu64 "; stored as sent", fr->folder->shown,
			 e->uid, imap_host(fr->run->imap), size, e->size);
}

static bool want_stream(void *ctx, const struct imap_response *partial,
			uint64_t size)
{
	struct folder_run *fr = ctx;
	if (fr->phase != PHASE_BODIES || !imap_response_is(partial, "FETCH"))
		return false;
	fr->discard_stream = true;
	if (fr->current) {
		/* A second literal in the FETCH response whose first began a
		   delivery: which one is the message is anyone's guess, so
		   drop it; the message stays unfetched. */
		delivery_abort(fr->delivery);
		fr->current = NULL;
		return true;
	}
	struct entry *e = entry_of_partial(fr, partial);
	if (!e || !e->wanted || e->done || !names_whole_body(partial))
		return true;
	check_literal_size(fr, e, size);
	struct msg_meta meta = {
		.size_hint = e->size,
		.internal_date = e->internaldate,
		.flags = imap_flags_neutral(e->flags),
	};
	if (delivery_begin(fr->delivery, &meta, &fr->stream_err) != YB_OK)
		return true; /* stream_data reports the error */
	fr->current = e;
	fr->discard_stream = false;
	return true;
}

static int stream_data(void *ctx, const char *data, size_t len,
		       struct yb_error *err)
{
	struct folder_run *fr = ctx;
	if (fr->stream_err.status != YB_OK) {
		*err = fr->stream_err;
		return err->status;
	}
	if (fr->discard_stream)
		return YB_OK;
	progress_received(len);
	return delivery_write(fr->delivery, data, len, err);
}

static const struct imap_handler *handler_for(struct folder_run *fr,
					      struct imap_handler *handler)
{
	memset(handler, 0, sizeof(*handler));
	handler->untagged = on_untagged;
	handler->want_stream = want_stream;
	handler->stream_data = stream_data;
	handler->ctx = fr;
	return handler;
}

/* --- delivery callbacks --- */

static void message_committed(void *ctx, void *item, uint64_t bytes)
{
	struct folder_run *fr = ctx;
	struct entry *e = item;
	fr->run->report->fetched++;
	fr->run->report->fetched_bytes += bytes;
	if (fr->figures) {
		fr->figures->fetched++;
		fr->figures->bytes += bytes;
	}
	if (fr->plan.doom_fetched && fr->doomed_len < fr->doomed_cap)
		fr->doomed[fr->doomed_len++] = e->uid;
}

static void message_refused(void *ctx, void *item, const char *detail)
{
	struct folder_run *fr = ctx;
	struct entry *e = item;
	fr->run->report->refused++;
	log_warn("folder %s: the MDA did not take UID %" PRIu32 ": %s; it stays on "
		 "the server", fr->folder->shown, e->uid, detail);
}

static const char *match_existing(void *ctx, const unsigned char digest[32])
{
	struct folder_run *fr = ctx;
	return held_match(fr->held, digest);
}

/* --- steps of a folder --- */

/*
 * A listing is a run of sequence numbers: one missing between two listed
 * messages is a message the server did not name (a dropped line, a line
 * without its UID).  Its UID lies between its neighbours', so the next
 * run must list again from just past the one before the gap.
 */
static void find_listing_gap(struct folder_run *fr)
{
	const struct entry *before = NULL;
	uint32_t before_seq = 0;
	for (size_t i = imap_seqmap_next_live(&fr->seqs, 0); i < fr->count;
	     i = imap_seqmap_next_live(&fr->seqs, i + 1)) {
		const struct entry *e = &fr->entries[i];
		uint32_t seq = imap_seqmap_seq(&fr->seqs, i);
		if (before && seq != before_seq + 1) {
			fr->gap_after_uid = before->uid;
			log_warn("folder %s: %s listed UID %" PRIu32 " as message %" PRIu32
				 " and UID %" PRIu32 " as message %" PRIu32 ", naming "
				 "nothing in between; the next run lists from UID %" PRIu32
				 " again", fr->folder->shown, imap_host(fr->run->imap),
				 before->uid, before_seq, e->uid, seq, before->uid + 1);
			return;
		}
		before = e;
		before_seq = seq;
	}
}

static int list_new(struct folder_run *fr, struct yb_error *err)
{
	uint32_t start = fr->plan.list_start;
	char command[96];
	snprintf(command, sizeof(command), "UID FETCH %" PRIu32 ":* (UID FLAGS INTERNALDATE%s)",
		 start, fr->plan.list_sizes ? " RFC822.SIZE" : "");
	struct imap_handler handler;
	fr->phase = PHASE_LISTING;
	fr->listing_max = testhook_limit("YUBIN_TEST_LISTING_MAX", LISTING_MAX);
	int rc = imap_command(fr->run->imap, command, "UID FETCH (listing)",
			      handler_for(fr, &handler), err);
	/* "N:*" also names the last message when N is past it: drop below N
	   (the entries are in UID order, so those are the first ones). */
	size_t below = first_at_or_above(fr, start);
	if (below > 0) {
		int drop_rc = imap_seqmap_drop_front(&fr->seqs, below, err);
		if (drop_rc != YB_OK)
			return drop_rc;
		memmove(fr->entries, fr->entries + below,
			(fr->count - below) * sizeof(*fr->entries));
		fr->count -= below;
	}
	if (rc == YB_OK)
		find_listing_gap(fr);
	return rc;
}

/* Mark what to fetch; count new and too large.  Returns how many. */
static size_t mark_wanted(struct folder_run *fr)
{
	const struct account *account = fr->run->account;
	size_t wanted = 0;
	for (size_t i = 0; i < fr->count; i++) {
		struct entry *e = &fr->entries[i];
		char key[IMAP_KEY_MAX];
		imap_key_format(key, fr->uidvalidity, e->uid);
		if (!fr->plan.renumbered &&
		    state_contains(fr->run->state, fr->folder->name, key)) {
			/* Delivered before: done, also once deleting it below
			   makes the state forget it (the next listing must not
			   start back at its UID). */
			e->done = true;
			/* Delivered by a run that stopped before deleting it. */
			if (fr->plan.doom_delivered && fr->doomed_len < fr->doomed_cap)
				fr->doomed[fr->doomed_len++] = e->uid;
			continue;
		}
		fr->run->report->new_messages++;
		if (account->max_size > 0 && e->size > account->max_size) {
			fr->run->report->too_large++;
			log_warn("folder %s: UID %" PRIu32 " is %" PRIu64 " bytes, over "
				 "max_size %" PRIu64 "; left on the server",
				 fr->folder->shown, e->uid, e->size, account->max_size);
			continue;
		}
		e->wanted = true;
		wanted++;
	}
	return wanted;
}

/* The next chunk of wanted UIDs from *next on, as set text. */
static size_t next_chunk(struct folder_run *fr, size_t *next, char *set,
			 size_t set_size)
{
	uint32_t uids[BODY_CHUNK_MESSAGES];
	size_t n = 0;
	uint64_t bytes = 0;
	while (*next < fr->count && n < BODY_CHUNK_MESSAGES && bytes < BODY_CHUNK_BYTES) {
		struct entry *e = &fr->entries[(*next)++];
		if (!e->wanted)
			continue;
		uids[n++] = e->uid;
		bytes += e->size;
	}
	if (n == 0)
		return 0;
	size_t consumed = 0, len = 0;
	if (imap_seqset_build(uids, n, set, set_size, &consumed, &len, NULL) != YB_OK)
		return 0;
	return consumed; /* n <= 64 UIDs always fit in SET_TEXT_MAX */
}

static int fetch_bodies(struct folder_run *fr, struct yb_error *err)
{
	struct imap_handler handler;
	handler_for(fr, &handler);
	fr->phase = PHASE_BODIES;
	size_t next = 0, in_flight = 0;
	bool more = true;
	int rc = YB_OK;
	while (rc == YB_OK && (more || in_flight > 0)) {
		while (more && in_flight < BODY_WINDOW) {
			char set[SET_TEXT_MAX];
			if (next_chunk(fr, &next, set, sizeof(set)) == 0) {
				more = false;
				break;
			}
			char command[SET_TEXT_MAX + 64];
			snprintf(command, sizeof(command), "UID FETCH %s (UID BODY.PEEK[])", set);
			rc = imap_send(fr->run->imap, command, err);
			if (rc != YB_OK)
				return rc;
			in_flight++;
		}
		if (in_flight == 0)
			break;
		struct imap_result result;
		rc = imap_wait(fr->run->imap, &handler, &result, err);
		in_flight--;
		if (rc == YB_OK && result.status != IMAP_STATUS_OK) {
			bool later = result.code.code == IMAP_CODE_UNAVAILABLE ||
				     result.code.code == IMAP_CODE_INUSE;
			rc = yb_fail(err, later ? YB_ERR_TEMP : YB_ERR_PROTOCOL,
				     "%s: folder %s: UID FETCH failed: %s",
				     imap_host(fr->run->imap), fr->folder->shown, result.text);
		}
	}
	if (rc != YB_OK) {
		/* Whole messages already received are kept: commit them. */
		struct yb_error flush_err;
		delivery_abort(fr->delivery);
		fr->current = NULL;
		if (delivery_flush(fr->delivery, &flush_err) != YB_OK)
			log_warn("%s", flush_err.msg);
		return rc;
	}
	return delivery_flush(fr->delivery, err);
}

/*
 * Wanted messages the server did not send whole: expunged meanwhile, or
 * answered with NIL, a part or a partial body.  They are listed again
 * next run.
 */
static void report_missing(struct folder_run *fr)
{
	for (size_t i = 0; i < fr->count; i++) {
		struct entry *e = &fr->entries[i];
		if (e->wanted && !e->done) {
			fr->run->report->refused++;
			log_warn("folder %s: %s did not send UID %" PRIu32 " whole "
				 "(expunged meanwhile, or a partial answer); it is "
				 "tried again next run", fr->folder->shown,
				 imap_host(fr->run->imap), e->uid);
		}
	}
}

/* The flag listing the plan asks for, of the UIDs below its listing's. */
static int list_flags(struct folder_run *fr, struct yb_error *err)
{
	uint32_t below = fr->plan.list_start;
	char command[128];
	if (fr->plan.flag_listing == FLAG_LISTING_NONE)
		return YB_OK;
	if (fr->plan.flag_listing == FLAG_LISTING_CHANGED_SINCE)
		snprintf(command, sizeof(command),
			 "UID FETCH 1:%" PRIu32 " (UID FLAGS) (CHANGEDSINCE %" PRIu64 ")",
			 below - 1, fr->plan.changed_since);
	else
		snprintf(command, sizeof(command), "UID FETCH 1:%" PRIu32 " (UID FLAGS%s)",
			 below - 1, fr->plan.push_flags &&
			 imap_condstore_enabled(fr->run->imap) ? " MODSEQ" : "");
	struct imap_handler handler;
	fr->phase = PHASE_FLAGS;
	fr->listing_max = testhook_limit("YUBIN_TEST_LISTING_MAX", LISTING_MAX);
	return imap_command(fr->run->imap, command, "UID FETCH (flags)",
			    handler_for(fr, &handler), err);
}

struct aged_ctx {
	struct folder_run *fr;
	time_t now;
	char prefix[16];
};

static int collect_aged(void *ctx, const char *key, time_t fetched_at)
{
	struct aged_ctx *aged = ctx;
	struct folder_run *fr = aged->fr;
	size_t plen = strlen(aged->prefix);
	if (strncmp(key, aged->prefix, plen) != 0)
		return 0;
	long long age = (long long)aged->now - (long long)fetched_at;
	if (age < (long long)fr->run->account->delete_after_days * 86400)
		return 0;
	unsigned long long uid;
	if (!text_parse_u64(key + plen, strlen(key + plen), UINT32_MAX, &uid) || uid == 0)
		return 0;
	if (fr->doomed_len < fr->doomed_cap)
		fr->doomed[fr->doomed_len++] = (uint32_t)uid;
	return 0;
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Before a UID STORE \Deleted and UID EXPUNGE, the state durably names
 * the set ("expunging": "UIDVALIDITY SET"), and once its keys are
 * forgotten says "none".  A run stopped in between leaves the set for
 * the next one to settle (settle_expunging); without it the keys of the
 * messages the server did delete would stay recorded for ever.
 */
#define EXPUNGING_META "expunging"
#define EXPUNGING_NONE "none"
#define EXPUNGING_RANGES_MAX 4096

static int mark_expunging(struct folder_run *fr, const char *set, struct yb_error *err)
{
	char value[SET_TEXT_MAX];
	snprintf(value, sizeof(value), "%" PRIu32 " %s", fr->uidvalidity, set);
	int rc = state_set_meta(fr->run->state, fr->folder->name, EXPUNGING_META, value, err);
	if (rc == YB_OK)
		rc = state_sync(fr->run->state, err);
	if (rc == YB_OK)
		testhook_step("mark");
	return rc;
}

struct expunging_ctx {
	struct folder_run *fr;
	const struct imap_range *ranges;
	size_t range_count;
	uint32_t start;
	size_t added;
	char prefix[16];
};

/* A recorded key of the set that the listing lacks: doom it again. */
static int doom_unlisted(void *ctx, const char *key, time_t fetched_at)
{
	(void)fetched_at;
	struct expunging_ctx *ex = ctx;
	struct folder_run *fr = ex->fr;
	size_t plen = strlen(ex->prefix);
	unsigned long long uid;
	if (strncmp(key, ex->prefix, plen) != 0 ||
	    !text_parse_u64(key + plen, strlen(key + plen), UINT32_MAX, &uid) || uid == 0)
		return 0;
	bool in_set = false;
	for (size_t i = 0; i < ex->range_count && !in_set; i++)
		in_set = uid >= ex->ranges[i].first && uid <= ex->ranges[i].last;
	if (!in_set || find_uid(fr, (uint32_t)uid))
		return 0; /* listed ones (even vanished since) are mark_wanted's */
	/* Room for these and for every listed message (mark_wanted,
	   commits). */
	size_t need = fr->count + ++ex->added;
	if (need > fr->doomed_cap) {
		size_t cap = fr->doomed_cap * 2 > need ? fr->doomed_cap * 2 : need;
		uint32_t *grown = realloc(fr->doomed, cap * sizeof(*grown));
		if (!grown)
			return -1;
		fr->doomed = grown;
		fr->doomed_cap = cap;
	}
	fr->doomed[fr->doomed_len++] = (uint32_t)uid;
	if (uid >= ex->start && uid < UINT32_MAX && uid + 1 > fr->past_expunged)
		fr->past_expunged = (uint32_t)uid + 1;
	return 0;
}

/*
 * keep: false, after the listing: the set a stopped run was expunging.
 * Its UIDs still recorded are delivered messages; those the listing
 * shows are doomed again by mark_wanted, the others here, and delete_doomed
 * sends UID STORE and UID EXPUNGE for them once more (a no-op for what
 * is gone) and forgets them on the server's OK: the state trusts the
 * server's answer to an expunge, never a listing's silence.  Nothing
 * left to do clears the record.
 */
static int settle_expunging(struct folder_run *fr, struct yb_error *err)
{
	uint32_t start = fr->plan.list_start;
	struct state *state = fr->run->state;
	const char *mailbox = fr->folder->name;
	const char *value = state_get_meta(state, mailbox, EXPUNGING_META);
	if (!value || strcmp(value, EXPUNGING_NONE) == 0)
		return YB_OK;
	const char *space = strchr(value, ' ');
	unsigned long long validity = 0;
	struct imap_range *ranges = NULL;
	size_t range_count = 0;
	if (!space || !text_parse_u64(value, (size_t)(space - value), UINT32_MAX, &validity) ||
	    imap_seqset_parse(space + 1, strlen(space + 1), 0, EXPUNGING_RANGES_MAX,
			      &ranges, &range_count, NULL) != YB_OK)
		return yb_fail(err, YB_ERR_IO, "folder %s: the state's record of the UIDs "
			       "being expunged is malformed", fr->folder->shown);
	size_t before = fr->doomed_len;
	int failed = 0;
	if (validity == fr->uidvalidity && fr->plan.redo_expunging) {
		struct expunging_ctx ex = { .fr = fr, .ranges = ranges,
					    .range_count = range_count, .start = start };
		snprintf(ex.prefix, sizeof(ex.prefix), "%" PRIu32 "/", fr->uidvalidity);
		failed = state_foreach(state, mailbox, doom_unlisted, &ex);
	}
	free(ranges);
	if (failed)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (fr->doomed_len > before) {
		log_info("folder %s: deleting again %zu messages an interrupted run was "
			 "deleting", fr->folder->shown, fr->doomed_len - before);
		return YB_OK;
	}
	/* keep: true deletes only what delete_after_days collects again. */
	return state_set_meta(state, mailbox, EXPUNGING_META, EXPUNGING_NONE, err);
}

static int store_deleted(struct folder_run *fr, const char *set,
			 const struct imap_handler *handler, struct yb_error *err)
{
	char command[SET_TEXT_MAX + 64];
	snprintf(command, sizeof(command), "UID STORE %s +FLAGS.SILENT (\\Deleted)", set);
	return imap_command(fr->run->imap, command, "UID STORE", handler, err);
}

/*
 * The server opened the folder read-only: a STORE would be refused, or
 * ignored by a server that still answers OK.  Record the UIDs as being
 * expunged, so that each later run asks again until the server lets it
 * (settle_expunging), and send nothing now.
 */
static int delete_later(struct folder_run *fr, struct yb_error *err)
{
	log_warn("folder %s: %s opened it read-only, so %zu messages are left on "
		 "it until it lets yubin delete them", fr->folder->shown,
		 imap_host(fr->run->imap), fr->doomed_len);
	char set[SET_TEXT_MAX - 16];
	size_t consumed = 0, len = 0;
	int rc = imap_seqset_build(fr->doomed, fr->doomed_len, set, sizeof(set),
				   &consumed, &len, err);
	return rc == YB_OK ? mark_expunging(fr, set, err) : rc;
}

/*
 * One set of doomed UIDs, fr->doomed[done..done+consumed): named in the
 * state, UID STORE \Deleted, UID EXPUNGE (or EXPUNGE), then forgotten.
 */
static int expunge_set(struct folder_run *fr, const char *set, size_t done,
		       size_t consumed, const struct imap_handler *handler,
		       struct yb_error *err)
{
	int rc = mark_expunging(fr, set, err);
	if (rc == YB_OK)
		rc = store_deleted(fr, set, handler, err);
	if (rc == YB_OK) {
		char command[SET_TEXT_MAX + 64];
		if (fr->plan.delete_with == DELETE_UID_EXPUNGE)
			snprintf(command, sizeof(command), "UID EXPUNGE %s", set);
		else
			snprintf(command, sizeof(command), "EXPUNGE");
		rc = imap_command(fr->run->imap, command, "EXPUNGE", handler, err);
	}
	if (rc == YB_OK)
		testhook_step("delete");
	for (size_t i = done; rc == YB_OK && i < done + consumed; i++) {
		char key[IMAP_KEY_MAX];
		imap_key_format(key, fr->uidvalidity, fr->doomed[i]);
		rc = state_forget(fr->run->state, fr->folder->name, key, err);
	}
	if (rc == YB_OK)
		rc = state_set_meta(fr->run->state, fr->folder->name, EXPUNGING_META,
				    EXPUNGING_NONE, err);
	if (rc == YB_OK)
		rc = state_sync(fr->run->state, err);
	return rc;
}

/*
 * No UIDPLUS and no expunge: all: a plain EXPUNGE would also remove what
 * others marked, so yubin only marks its own messages \Deleted (UID STORE
 * touches only the UIDs named) and leaves the expunge to the user or
 * another client.  Their records stay: the messages are still there.
 */
static void warn_marked_only(const struct folder_run *fr)
{
	log_warn("folder %s: %s lacks UIDPLUS, so %zu messages are marked \\Deleted "
		 "and left on it until a client expunges the folder (set expunge: all "
		 "to let yubin remove them with a plain EXPUNGE, which also removes "
		 "whatever else is marked \\Deleted there)", fr->folder->shown,
		 imap_host(fr->run->imap), fr->doomed_len);
}

/* UID STORE \Deleted then UID EXPUNGE, set by set; forget what went. */
static int delete_doomed(struct folder_run *fr, struct yb_error *err)
{
	enum imap_delete_with with = fr->plan.delete_with;
	if (fr->doomed_len == 0 || with == DELETE_NOTHING)
		return YB_OK;
	qsort(fr->doomed, fr->doomed_len, sizeof(*fr->doomed), compare_u32);
	if (with == DELETE_LATER)
		return delete_later(fr, err);
	if (with == DELETE_NO_UIDPLUS)
		warn_marked_only(fr);
	struct imap_handler handler;
	handler_for(fr, &handler);
	fr->phase = PHASE_DELETING;
	size_t done = 0;
	int rc = YB_OK;
	while (rc == YB_OK && done < fr->doomed_len) {
		/* Room for the UIDVALIDITY in front of it in the state. */
		char set[SET_TEXT_MAX - 16];
		size_t consumed = 0, len = 0;
		rc = imap_seqset_build(fr->doomed + done, fr->doomed_len - done, set,
				       sizeof(set), &consumed, &len, err);
		if (rc == YB_OK && with == DELETE_NO_UIDPLUS)
			rc = store_deleted(fr, set, &handler, err);
		else if (rc == YB_OK)
			rc = expunge_set(fr, set, done, consumed, &handler, err);
		done += consumed;
	}
	if (rc == YB_OK && with == DELETE_NO_UIDPLUS)
		return state_set_meta(fr->run->state, fr->folder->name, EXPUNGING_META,
				      EXPUNGING_NONE, err);
	if (rc == YB_OK) {
		fr->run->report->deleted += fr->doomed_len;
		fr->expunged += fr->doomed_len;
	}
	return rc;
}

static bool of_another_validity(void *ctx, const char *key, time_t fetched_at)
{
	(void)fetched_at;
	const char *prefix = ctx;
	return strncmp(key, prefix, strlen(prefix)) != 0;
}

/* After a UIDVALIDITY change: the old keys name nothing any more. */
static int forget_old_validity(struct folder_run *fr, struct yb_error *err)
{
	char prefix[16];
	snprintf(prefix, sizeof(prefix), "%" PRIu32 "/", fr->uidvalidity);
	return state_forget_where(fr->run->state, fr->folder->name, of_another_validity,
				  prefix, NULL, err);
}

/*
 * Where the next run's listing starts: the lowest UID listed but not
 * delivered (too large, refused, reported expunged: it is looked at
 * again), else one past the highest UID listed (or listed by a stopped
 * run whose expunge this run finishes).  Never the server's
 * UIDNEXT alone: a server whose UIDNEXT runs ahead of its messages must
 * not make yubin skip the UIDs in between.  0 keeps the stored value.
 */
static uint32_t past_what_was_listed(const struct folder_run *fr, uint32_t uidnext)
{
	for (size_t i = 0; i < fr->count; i++) {
		const struct entry *e = &fr->entries[i];
		if (e->done)
			continue;
		char key[IMAP_KEY_MAX];
		imap_key_format(key, fr->uidvalidity, e->uid);
		if (!state_contains(fr->run->state, fr->folder->name, key))
			return e->uid;
	}
	if (fr->count == 0 && fr->past_expunged == 0)
		return 0;
	uint32_t past_listed = fr->past_expunged;
	if (fr->count > 0) {
		uint32_t last = fr->entries[fr->count - 1].uid;
		if (last == UINT32_MAX)
			return last;
		if (last + 1 > past_listed)
			past_listed = last + 1;
	}
	return uidnext && uidnext < past_listed ? uidnext : past_listed;
}

/* Where the next listing starts; 0 keeps the stored value. */
static uint32_t next_uid_to_record(const struct folder_run *fr, uint32_t uidnext)
{
	uint32_t next = past_what_was_listed(fr, uidnext);
	/* Past a gap in the listing lie messages nobody has seen yet. */
	if (fr->gap_after_uid && (next == 0 || next > fr->gap_after_uid + 1))
		next = fr->gap_after_uid + 1;
	return next;
}

static int record_folder(struct folder_run *fr, const struct imap_mailbox_info *info,
			 struct yb_error *err)
{
	struct state *state = fr->run->state;
	const char *mailbox = fr->folder->name;
	int rc = set_meta_u64(state, mailbox, "uidvalidity", info->uidvalidity, err);
	uint32_t uidnext = next_uid_to_record(fr, info->uidnext);
	if (uidnext == 0 && fr->plan.restart_uidnext)
		uidnext = 1;
	if (rc == YB_OK && uidnext > 0)
		rc = set_meta_u64(state, mailbox, "uidnext", uidnext, err);
	if (rc == YB_OK && fr->plan.record_modseq && info->highestmodseq > 0)
		rc = set_meta_u64(state, mailbox, "highestmodseq", info->highestmodseq, err);
	/* What the folder holds as this run leaves it, to corroborate an
	   unchanged UIDNEXT next time. */
	if (rc == YB_OK)
		rc = set_meta_u64(state, mailbox, "exists",
				  info->exists > fr->expunged ?
				  info->exists - fr->expunged : 0, err);
	if (rc == YB_OK)
		rc = state_sync(state, err);
	return rc;
}

static bool of_this_validity(void *ctx, const char *key)
{
	const char *prefix = ctx;
	return strncmp(key, prefix, strlen(prefix)) == 0;
}

/*
 * What the sink already holds, for messages the state knows nothing of
 * under this UIDVALIDITY.  A copy already standing for a key of this
 * UIDVALIDITY (an interrupted run recognised it) is claimed up front, so
 * that it cannot stand for a second message.
 */
static int load_digests(struct folder_run *fr, struct yb_error *err)
{
	if (!sink_can_digest(fr->sink))
		return YB_OK;
	struct state *state = fr->run->state;
	const char **dests = NULL;
	size_t count = 0;
	int rc = state_dests_where(state, fr->folder->name, NULL, NULL, &dests, &count, err);
	if (rc == YB_OK)
		rc = held_from_sink(fr->sink, dests, count, &fr->held, err);
	free(dests);
	if (rc != YB_OK || held_copies(fr->held) == 0)
		return rc;
	char prefix[16];
	snprintf(prefix, sizeof(prefix), "%" PRIu32 "/", fr->uidvalidity);
	/* After UIDNEXT went back a recorded key proves nothing: every copy
	   is free to stand for the message whose bytes it holds. */
	if (!fr->plan.renumbered) {
		rc = state_dests_where(state, fr->folder->name, of_this_validity, prefix,
				       &dests, &count, err);
		for (size_t i = 0; rc == YB_OK && i < count; i++)
			held_claim_dest(fr->held, dests[i]);
		free(dests);
		if (rc != YB_OK)
			return rc;
	}
	log_debug("folder %s: the sink holds %zu copies to recognise", fr->folder->shown,
		  held_copies(fr->held));
	return delivery_set_matcher(fr->delivery, match_existing, fr, err);
}

/* The folder's sink, opened (or found in the run's cache) once. */
static int open_folder_sink(struct folder_run *fr, struct yb_error *err)
{
	if (fr->sink)
		return YB_OK;
	return fr->run->open_sink(fr->run->sink_ctx, fr->local_path, &fr->sink, err);
}

static int open_delivery(struct folder_run *fr, struct yb_error *err)
{
	struct imap_run *run = fr->run;
	int rc = open_folder_sink(fr, err);
	if (rc != YB_OK)
		return rc;
	struct delivery_params params = {
		.state = run->state, .sink = fr->sink, .mailbox = fr->folder->name,
		.committed = message_committed, .ctx = fr,
		.refused = message_refused,
	};
	rc = delivery_new(&params, &fr->delivery, err);
	if (rc == YB_OK) {
		const char *known = state_get_meta(run->state, fr->folder->name, "path");
		if (!known || strcmp(known, fr->local_path) != 0)
			rc = state_set_meta(run->state, fr->folder->name, "path",
					    fr->local_path, err);
	}
	return rc;
}

/* What is known of the folder before it is opened, for the plan. */
static void gather_known(const struct folder_run *fr, struct imap_plan_known *known)
{
	const struct imap_run *run = fr->run;
	const struct account *account = run->account;
	const char *mailbox = fr->folder->name;
	uint64_t validity = 0, uidnext = 0, modseq = 0;
	meta_u64(run->state, mailbox, "uidvalidity", UINT32_MAX, &validity);
	meta_u64(run->state, mailbox, "uidnext", UINT32_MAX, &uidnext);
	meta_u64(run->state, mailbox, "highestmodseq", INT64_MAX, &modseq);
	uint64_t exists = 0;
	bool exists_recorded = meta_u64(run->state, mailbox, "exists",
					UINT32_MAX, &exists);
	*known = (struct imap_plan_known){
		.exists_recorded = exists_recorded,
		.stored_exists = (uint32_t)exists,
		.stored_validity = (uint32_t)validity,
		.stored_uidnext = (uint32_t)uidnext,
		.stored_modseq = modseq,
		.keep = account->keep,
		.delete_aged = account->delete_after_days > 0,
		.max_size = account->max_size > 0,
		.expunge_all = account->expunge_all,
		.sync_flags = account->sync_flags,
		.dry_run = run->dry_run,
		.condstore = imap_condstore_enabled(run->imap),
		.qresync = imap_qresync_enabled(run->imap),
		.uidplus = (imap_capabilities(run->imap) & IMAP_CAPA_UIDPLUS) != 0,
	};
}

static int select_folder(struct folder_run *fr, const struct imap_plan_known *known,
			 struct imap_mailbox_info *info, struct yb_error *err)
{
	struct imap_open_plan open = plan_open(known);
	bool use_qresync = open.qresync_if_sink_keeps_flags;
	/* QRESYNC's flag changes come with the SELECT: only worth asking for
	   when the sink keeps flags, so it is opened now (it exists: the
	   folder was fetched before). */
	if (use_qresync) {
		int rc = open_folder_sink(fr, err);
		if (rc != YB_OK)
			return rc;
		use_qresync = sink_keeps_flags(fr);
	}
	char qresync[64];
	if (use_qresync)
		snprintf(qresync, sizeof(qresync), "%" PRIu32 " %" PRIu64,
			 known->stored_validity, known->stored_modseq);
	struct imap_handler handler;
	fr->phase = PHASE_SELECT;
	/* Flag updates QRESYNC brings belong to the stored UIDVALIDITY. */
	fr->uidvalidity = known->stored_validity;
	return imap_select(fr->run->imap, fr->quoted, open.examine,
			   use_qresync ? qresync : NULL, handler_for(fr, &handler),
			   info, err);
}

static void warn_renumbering(const struct folder_run *fr,
			     const struct imap_plan_known *known,
			     const struct imap_mailbox_info *info)
{
	const char *shown = fr->folder->shown;
	if (fr->plan.renumbered)
		log_warn("folder %s: %s says UIDNEXT is %" PRIu32 ", below the %" PRIu32
			 " it said before, so a UID yubin recorded may name another "
			 "message now; fetching the folder again and recognising what "
			 "was already delivered, and deleting nothing in it this run",
			 shown, imap_host(fr->run->imap), info->uidnext,
			 known->stored_uidnext);
	if (fr->plan.uidnext_stalled)
		log_warn("folder %s: %s says UIDNEXT is still %" PRIu32 ", yet the "
			 "folder holds %" PRIu32 " messages where it held %" PRIu32
			 ": listing it anyway", shown, imap_host(fr->run->imap),
			 info->uidnext, info->exists, known->stored_exists);
	if (fr->plan.validity_changed)
		log_warn("folder %s: UIDVALIDITY changed from %" PRIu32 " to %" PRIu32
			 "; fetching it again and recognising what was already delivered",
			 shown, known->stored_validity, info->uidvalidity);
}

/* The listing, and room to doom every message of it. */
static int list_folder(struct folder_run *fr, struct yb_error *err)
{
	if (fr->plan.list) {
		int rc = list_new(fr, err);
		if (rc != YB_OK)
			return rc;
	}
	fr->doomed_cap = fr->count;
	fr->doomed = calloc(fr->doomed_cap ? fr->doomed_cap : 1, sizeof(*fr->doomed));
	if (!fr->doomed)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return YB_OK;
}

/* The size of the wanted messages, when the listing gave it (max_size):
   no size is asked for the progress line alone. */
static uint64_t wanted_bytes(const struct folder_run *fr)
{
	uint64_t bytes = 0;
	if (!fr->plan.list_sizes)
		return 0;
	for (size_t i = 0; i < fr->count; i++)
		if (fr->entries[i].wanted)
			bytes += fr->entries[i].size;
	return bytes;
}

/* The bodies of the wanted messages, into the delivery. */
static int fetch_wanted(struct folder_run *fr, size_t wanted, struct yb_error *err)
{
	struct imap_run *run = fr->run;
	const char *shown = fr->folder->shown;
	int rc = YB_OK;
	if (fr->plan.recognise_by_content)
		rc = load_digests(fr, err);
	if (rc != YB_OK)
		return rc;
	char label[320];
	snprintf(label, sizeof(label), "%s: %s", run->account->name, shown);
	progress_start(label, wanted, wanted_bytes(fr));
	rc = fetch_bodies(fr, err);
	progress_clear();
	if (rc == YB_OK)
		report_missing(fr);
	if (rc == YB_OK && delivery_matched(fr->delivery) > 0) {
		run->report->recovered += delivery_matched(fr->delivery);
		log_info("folder %s: %zu messages were already delivered and were "
			 "not delivered again", shown, delivery_matched(fr->delivery));
	}
	return rc;
}

/*
 * push_deletions: a folder whose Maildir cannot say what the user
 * deleted is left alone, said and counted; the run ends with 74 once the
 * other folders are done (yubin.yaml(5), push_deletions).
 */
static void guard_folder(struct imap_run *run, const struct folder *folder,
			 const char *local_path, const char *why)
{
	log_warn("account %s: folder %s: skipped, and nothing in it deleted on the "
		 "server: its Maildir %s %s.  Put the Maildir back (or set "
		 "push_deletions: false to fetch into a new one)", run->account->name,
		 folder->shown, local_path, why);
	if (run->guarded_count++ == 0)
		snprintf(run->first_guarded, sizeof(run->first_guarded), "%s",
			 folder->shown);
}

/* A key whose deletion both sides have not agreed on (flag_push.h). */
static bool not_agreed_deleted(void *ctx, const char *key)
{
	const struct folder_run *fr = ctx;
	unsigned base = 0;
	return !state_flag_base(fr->run->state, fr->folder->name, key, &base) ||
	       !(base & SINK_FLAG_DELETED);
}

/*
 * Before the folder's Maildir is opened (which would create it).  A
 * Maildir without any known file is one to stop for only if some of
 * them are not deletions already agreed: a user who deleted everything
 * one run after the other has a genuine empty Maildir.
 */
static int check_local_maildir(struct folder_run *fr, bool *skip,
			       struct yb_error *err)
{
	*skip = false;
	if (!fr->run->account->push_deletions)
		return YB_OK;
	const char **dests = NULL;
	size_t count = 0, live = 0;
	int rc = state_dests_where(fr->run->state, fr->folder->name, NULL, NULL,
				   &dests, &count, err);
	if (rc != YB_OK)
		return rc;
	char why[PATH_MAX + 128], reason[PATH_MAX + 160];
	enum maildir_presence presence = maildir_presence(fr->local_path, dests, count,
							  why, sizeof(why));
	free(dests);
	if (presence == MAILDIR_HOLDS_NONE) {
		rc = state_dests_where(fr->run->state, fr->folder->name,
				       not_agreed_deleted, fr, &dests, &live, err);
		free(dests);
		if (rc != YB_OK)
			return rc;
	}
	/* Emptied by the user (every message deleted in one go) looks
	   just like wiped: --force is the user saying which. */
	if (presence == MAILDIR_HOLDS_SOME ||
	    (presence == MAILDIR_HOLDS_NONE && (live == 0 || fr->run->force)))
		return YB_OK;
	*skip = true;
	if (presence == MAILDIR_HOLDS_NONE)
		snprintf(reason, sizeof(reason), "holds none of the %zu files yubin "
			 "delivered there (if you deleted them all, run once with "
			 "--force to delete them on the server too)", count);
	else
		snprintf(reason, sizeof(reason), "%s (%s)", presence == MAILDIR_MISSING ?
			 "is missing" : "cannot be read", why);
	guard_folder(fr->run, fr->folder, fr->local_path, reason);
	return YB_OK;
}

/* sync_flags: both: the listing merged with the local letters. */
static int push_flags(struct folder_run *fr, struct yb_error *err)
{
	struct imap_handler handler;
	struct flag_push_folder folder = {
		.imap = fr->run->imap, .handler = handler_for(fr, &handler),
		.state = fr->run->state, .sink = fr->sink,
		.mailbox = fr->folder->name, .shown = fr->folder->shown,
		.uidvalidity = fr->uidvalidity,
		.condstore = imap_condstore_enabled(fr->run->imap),
		.highestmodseq = fr->selected_modseq,
		.push_deletions = fr->run->account->push_deletions,
		.force = fr->run->force,
		.expunges = fr->plan.delete_with == DELETE_UID_EXPUNGE ||
			    fr->plan.delete_with == DELETE_EXPUNGE,
		.account = fr->run->account->name, .local_path = fr->local_path,
	};
	struct flag_push_counts counts;
	fr->phase = PHASE_PUSHING;
	int rc = flag_push_folder(&folder, fr->seen, fr->seen_len, &counts, err);
	fr->gone_marked = counts.expunge;
	fr->gone_marked_len = counts.expunge_len;
	if (counts.wiped)
		guard_folder(fr->run, fr->folder, fr->local_path, "holds none of the "
			     "files yubin delivered there (if you deleted them all, "
			     "run once with --force to delete them on the server "
			     "too)");
	if (counts.deleted > 0)
		log_info("folder %s: %zu messages deleted locally marked \\Deleted "
			 "on the server", fr->folder->shown, counts.deleted);
	fr->flag_changes += counts.renamed;
	if (counts.pushed > 0)
		log_info("folder %s: flags of %zu messages pushed to the server",
			 fr->folder->shown, counts.pushed);
	if (counts.modified > 0)
		log_info("folder %s: %zu messages changed on the server meanwhile; "
			 "their flags are merged again next run", fr->folder->shown,
			 counts.modified);
	return rc;
}

/* Flags of messages fetched before, onto a sink that keeps them. */
static int mirror_flags(struct folder_run *fr, struct yb_error *err)
{
	if (!fr->plan.mirror_flags || !sink_keeps_flags(fr))
		return YB_OK;
	int rc = list_flags(fr, err);
	if (rc == YB_OK && fr->plan.push_flags)
		rc = push_flags(fr, err);
	if (fr->flag_changes > 0)
		log_info("folder %s: flags of %zu messages updated", fr->folder->shown,
			 fr->flag_changes);
	return rc;
}

/* keep: true with delete_after_days: the doomed are the aged, alone. */
static int doom_by_age(struct folder_run *fr, struct yb_error *err)
{
	struct state *state = fr->run->state;
	free(fr->doomed);
	fr->doomed_len = 0;
	fr->doomed_cap = state_count(state, fr->folder->name);
	fr->doomed = calloc(fr->doomed_cap ? fr->doomed_cap : 1, sizeof(*fr->doomed));
	if (!fr->doomed)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	struct aged_ctx aged = { .fr = fr, .now = time(NULL) };
	snprintf(aged.prefix, sizeof(aged.prefix), "%" PRIu32 "/", fr->uidvalidity);
	state_foreach(state, fr->folder->name, collect_aged, &aged);
	return YB_OK;
}

/* push_deletions: the gone files' messages join the doomed, once each. */
static int doom_gone_marked(struct folder_run *fr, struct yb_error *err)
{
	if (fr->gone_marked_len == 0)
		return YB_OK;
	size_t need = fr->doomed_len + fr->gone_marked_len;
	if (need > fr->doomed_cap) {
		uint32_t *grown = realloc(fr->doomed, need * sizeof(*grown));
		if (!grown)
			return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		fr->doomed = grown;
		fr->doomed_cap = need;
	}
	memcpy(fr->doomed + fr->doomed_len, fr->gone_marked,
	       fr->gone_marked_len * sizeof(*fr->doomed));
	qsort(fr->doomed, need, sizeof(*fr->doomed), compare_u32);
	size_t unique = 0;
	for (size_t i = 0; i < need; i++)
		if (unique == 0 || fr->doomed[unique - 1] != fr->doomed[i])
			fr->doomed[unique++] = fr->doomed[i];
	fr->doomed_len = unique;
	return YB_OK;
}

/* Delete what is doomed, then record what the folder now is. */
static int finish_folder(struct folder_run *fr, const struct imap_mailbox_info *info,
			 struct yb_error *err)
{
	int rc = YB_OK;
	if (fr->plan.doom_aged)
		rc = doom_by_age(fr, err);
	if (rc == YB_OK)
		rc = doom_gone_marked(fr, err);
	if (rc == YB_OK)
		rc = delete_doomed(fr, err);
	if (rc == YB_OK && fr->plan.forget_old_validity)
		rc = forget_old_validity(fr, err);
	if (rc == YB_OK)
		rc = record_folder(fr, info, err);
	return rc;
}

/* Open the folder, ask plan_folder what to do, and do it. */
static int run_folder(struct folder_run *fr, struct yb_error *err)
{
	struct imap_run *run = fr->run;
	struct imap_plan_known known;
	gather_known(fr, &known);
	struct imap_mailbox_info info;
	memset(&info, 0, sizeof(info));
	int rc = select_folder(fr, &known, &info, err);
	if (rc != YB_OK) {
		/* Nothing of the folder was touched: its records stay. */
		fr->refused = info.refused;
		fr->refusal_code = info.refusal_code;
		return rc;
	}
	if (info.uidvalidity == 0)
		return yb_fail(err, YB_ERR_PROTOCOL, "%s: folder %s: no UIDVALIDITY in "
			       "the SELECT reply", imap_host(run->imap), fr->folder->shown);
	run->report->on_server += info.exists;
	fr->figures = fetch_report_add_folder(run->report, fr->folder->name);
	struct imap_plan_selected selected = {
		.uidvalidity = info.uidvalidity, .uidnext = info.uidnext,
		.highestmodseq = info.highestmodseq, .exists = info.exists,
		.nomodseq = info.nomodseq, .read_only = info.read_only,
	};
	fr->plan = plan_folder(&known, &selected);
	fr->uidvalidity = info.uidvalidity;
	fr->selected_modseq = info.nomodseq ? 0 : info.highestmodseq;
	warn_renumbering(fr, &known, &info);
	rc = list_folder(fr, err);
	if (rc != YB_OK)
		return rc;
	size_t wanted = mark_wanted(fr);
	if (fr->plan.count_only)
		return YB_OK;
	bool skip = false;
	rc = check_local_maildir(fr, &skip, err);
	if (rc != YB_OK || skip)
		return rc;
	rc = settle_expunging(fr, err);
	if (rc == YB_OK)
		rc = open_delivery(fr, err);
	if (rc == YB_OK && wanted > 0)
		rc = fetch_wanted(fr, wanted, err);
	if (rc == YB_OK)
		rc = mirror_flags(fr, err);
	if (rc == YB_OK)
		rc = finish_folder(fr, &info, err);
	return rc;
}

static void folder_run_free(struct folder_run *fr)
{
	delivery_free(fr->delivery);
	free(fr->quoted);
	free(fr->local_path);
	free(fr->entries);
	imap_seqmap_free(&fr->seqs);
	free(fr->doomed);
	free(fr->seen);
	free(fr->gone_marked);
	held_free(fr->held);
}

static int folder_local_path(const struct imap_run *run, const struct folder *folder,
			     char **out, struct yb_error *err);

/*
 * What a folder the server would not open makes of the run's exit
 * status: [NOPERM] stays until someone changes rights or the account's
 * folders (77, as a refused login: a person must act, and a transient 75
 * would hide it for ever); [INUSE], [UNAVAILABLE] and [NONEXISTENT] (gone
 * since LIST: the next listing will not name it) may pass (75); any other
 * NO is the server's failure (76).
 */
static enum yb_status refusal_status(enum imap_code code)
{
	switch (code) {
	case IMAP_CODE_NOPERM:
		return YB_ERR_AUTH;
	case IMAP_CODE_INUSE:
	case IMAP_CODE_UNAVAILABLE:
	case IMAP_CODE_NONEXISTENT:
		return YB_ERR_TEMP;
	default:
		return YB_ERR_PROTOCOL;
	}
}

/* A folder not fetched this run: said, counted, and the others go on. */
static void skip_folder(struct imap_run *run, const struct folder *folder,
			const struct yb_error *why)
{
	struct fetch_report *report = run->report;
	log_warn("skipping folder %s: %s", folder->shown, why->msg);
	if (report->folders_skipped < FETCH_SKIPPED_SHOWN)
		snprintf(report->skipped_folders[report->folders_skipped],
			 sizeof(report->skipped_folders[0]), "%s", folder->shown);
	report->folders_skipped++;
}

/* The response code of a refusal, for the warning (the text omits it). */
static const char *refusal_word(enum imap_code code)
{
	switch (code) {
	case IMAP_CODE_NOPERM:      return "NOPERM";
	case IMAP_CODE_INUSE:       return "INUSE";
	case IMAP_CODE_UNAVAILABLE: return "UNAVAILABLE";
	case IMAP_CODE_NONEXISTENT: return "NONEXISTENT";
	default:                    return NULL;
	}
}

static void refuse_folder(struct imap_run *run, const struct folder *folder,
			  enum imap_code code, struct yb_error *why)
{
	if (refusal_word(code))
		yb_error_suffix(why, " [%s]", refusal_word(code));
	skip_folder(run, folder, why);
	if (run->refused_count++ == 0)
		snprintf(run->first_refused, sizeof(run->first_refused), "%s",
			 folder->shown);
	run->skipped_status = yb_status_worse(run->skipped_status, refusal_status(code));
}

static int fetch_folder(struct imap_run *run, const struct folder *folder,
			struct yb_error *err)
{
	struct folder_run fr = { .run = run, .folder = folder };
	yb_error_clear(&fr.stream_err);
	fr.quoted = imap_quote_mailbox(folder->wire, strlen(folder->wire));
	if (!fr.quoted)
		return yb_fail(err, YB_ERR_PROTOCOL, "folder %s: name cannot be sent",
			       folder->shown);
	int rc = folder_local_path(run, folder, &fr.local_path, err);
	if (rc == YB_OK && strlen(folder->name) > STATE_MAILBOX_MAX)
		rc = yb_fail(err, YB_ERR_PROTOCOL, "its name is longer than the %d "
			     "bytes the state records", STATE_MAILBOX_MAX);
	if (rc == YB_ERR_PROTOCOL) {
		/* A name that cannot be stored safely: skip it, loudly. */
		skip_folder(run, folder, err);
		yb_error_clear(err);
		folder_run_free(&fr);
		return YB_OK;
	}
	if (rc == YB_OK)
		rc = run_folder(&fr, err);
	if (rc != YB_OK && fr.refused) {
		refuse_folder(run, folder, fr.refusal_code, err);
		yb_error_clear(err);
		rc = YB_OK;
	}
	if (rc != YB_OK && fr.stream_err.status != YB_OK && err->status == YB_OK)
		*err = fr.stream_err;
	folder_run_free(&fr);
	return rc;
}

/* --- folders --- */

/* Does a LIST entry answer the pattern sent?  A server may add others. */
static int entry_matches(const struct list_request *request,
			 const struct imap_list_entry *entry, bool *matches,
			 struct yb_error *err)
{
	int rc = imap_list_match(request->pattern, request->pattern_len, entry->name,
				 entry->name_len, entry->delimiter, matches, err);
	if (rc == YB_OK && !*matches) {
		char shown[160], pattern[160];
		text_sanitize(shown, sizeof(shown), entry->name, entry->name_len);
		text_sanitize(pattern, sizeof(pattern), request->pattern,
			      request->pattern_len);
		log_debug("%s listed folder %s in reply to LIST \"%s\", which it does "
			  "not match; ignored", imap_host(request->run->imap), shown, pattern);
	}
	return rc;
}

/*
 * The folder's UTF-8 name, malloc'd: INBOX in any case is "INBOX", one
 * folder however the server or the account file spells it (RFC 3501
 * 5.1), and one name whether the server sent modified UTF-7 or, with
 * UTF8=ACCEPT, UTF-8: the state knows the folder by it either way.  NULL
 * with err set when the name is not valid in the form it came in.
 */
static char *folder_name(const struct imap_run *run, const struct imap_list_entry *entry,
			 struct yb_error *err)
{
	if (imap_mailbox_is_inbox(entry->name, entry->name_len)) {
		char *inbox = strdup("INBOX");
		if (!inbox)
			yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		return inbox;
	}
	char *utf8 = NULL;
	size_t utf8_len = 0;
	if (imap_mailbox_to_utf8(entry->name, entry->name_len,
				 imap_utf8_accepted(run->imap), &utf8, &utf8_len,
				 err) != YB_OK)
		return NULL;
	return utf8;
}

static int grow_folders(struct imap_run *run, struct yb_error *err)
{
	if (run->folder_count < run->folder_cap)
		return YB_OK;
	if (run->folder_count >= FOLDERS_MAX)
		return yb_fail(err, YB_ERR_PROTOCOL, "%s lists more than %d folders for "
			       "the account's folders; yubin fetches at most %d (name "
			       "fewer folders or narrower patterns)", imap_host(run->imap),
			       FOLDERS_MAX, FOLDERS_MAX);
	size_t cap = run->folder_cap ? run->folder_cap * 2 : 8;
	struct folder *grown = realloc(run->folders, cap * sizeof(*grown));
	if (!grown)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	run->folders = grown;
	run->folder_cap = cap;
	return YB_OK;
}

/* Takes utf8 (freed on failure too). */
static int append_folder(struct imap_run *run, const struct imap_list_entry *entry,
			 char *utf8, struct yb_error *err)
{
	int rc = grow_folders(run, err);
	if (rc != YB_OK) {
		free(utf8);
		return rc;
	}
	struct folder *f = &run->folders[run->folder_count];
	f->name = utf8;
	text_sanitize(f->shown, sizeof(f->shown), utf8, strlen(utf8));
	f->wire = strcmp(utf8, "INBOX") == 0 ? strdup("INBOX")
		  : strndup(entry->name, entry->name_len);
	f->local = strdup(folder_ns_local_name(&run->ns, utf8));
	f->delimiter = entry->delimiter;
	if (!f->wire || !f->local || name_set_add(&run->folder_names, f->name) < 0) {
		free(f->wire);
		free(f->local);
		free(utf8);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	run->folder_count++;
	return YB_OK;
}

static int add_folder(void *ctx, const struct imap_list_entry *entry,
		      struct yb_error *err)
{
	struct list_request *request = ctx;
	struct imap_run *run = request->run;
	bool matches = false;
	int rc = entry_matches(request, entry, &matches, err);
	if (rc != YB_OK || !matches)
		return rc;
	if (entry->attrs & (IMAP_MBOX_NOSELECT | IMAP_MBOX_NONEXISTENT))
		return YB_OK;
	request->matched++;
	char *utf8 = folder_name(run, entry, err);
	if (!utf8) {
		if (err->status == YB_ERR_INTERNAL)
			return err->status;
		char shown[160];
		text_sanitize(shown, sizeof(shown), entry->name, entry->name_len);
		log_warn("skipping folder %s: %s", shown, err->msg);
		run->report->folders_skipped++;
		yb_error_clear(err);
		return YB_OK;
	}
	if (name_set_contains(&run->folder_names, utf8)) {
		free(utf8);
		return YB_OK;
	}
	return append_folder(run, entry, utf8, err);
}

/* LIST one name or pattern (UTF-8, as the server spells it) and add
   what it selects. */
static int list_wanted(struct imap_run *run, const char *wanted, struct yb_error *err)
{
	char *wire = NULL;
	size_t wire_len = 0;
	int rc = imap_mailbox_from_utf8(wanted, strlen(wanted),
					imap_utf8_accepted(run->imap), &wire, &wire_len,
					err);
	char *quoted = rc == YB_OK ? imap_quote_mailbox(wire, wire_len) : NULL;
	if (rc == YB_OK && !quoted)
		rc = yb_fail(err, YB_ERR_CONFIG, "folder %s cannot be sent", wanted);
	struct list_request request = { .run = run, .pattern = wire,
					.pattern_len = wire_len };
	if (rc == YB_OK)
		rc = imap_list(run->imap, quoted, add_folder, &request, err);
	free(quoted);
	free(wire);
	if (rc == YB_OK && request.matched == 0 && !folder_is_pattern(wanted))
		log_warn("folder %s does not exist on %s", wanted, imap_host(run->imap));
	return rc;
}

/* One configured name or pattern; with a namespace prefix put in front
   of a pattern that would match INBOX, INBOX as well (folder_ns.h). */
static int resolve_configured(struct imap_run *run, const char *configured,
			      struct yb_error *err)
{
	bool takes_inbox = false;
	int rc = folder_ns_takes_inbox(&run->ns, configured, &takes_inbox, err);
	if (rc == YB_OK && takes_inbox)
		rc = list_wanted(run, "INBOX", err);
	if (rc != YB_OK)
		return rc;
	char *wanted = folder_ns_server_name(&run->ns, configured);
	if (!wanted)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	rc = list_wanted(run, wanted, err);
	free(wanted);
	return rc;
}

static int resolve_folders(struct imap_run *run, struct yb_error *err)
{
	const struct account *account = run->account;
	size_t configured = account->folder_count;
	int rc = folder_ns_ask(run->imap, &run->ns, err);
	for (size_t i = 0; rc == YB_OK && i < (configured ? configured : 1); i++)
		rc = resolve_configured(run, configured ? account->folders[i] : "INBOX",
					err);
	return rc;
}

/* Does the path fit where the system takes paths, with room for the sink? */
static int check_path_length(const struct imap_run *run, const struct folder *folder,
			     size_t path_len, struct yb_error *err)
{
	if (path_len + SINK_PATH_RESERVE < PATH_MAX)
		return YB_OK;
	return yb_fail(err, YB_ERR_PROTOCOL, "folder %s on %s: its local path would be "
		       "%zu bytes, too long for this system (PATH_MAX %d, less %d for "
		       "the files under it)", folder->shown, imap_host(run->imap), path_len,
		       PATH_MAX, SINK_PATH_RESERVE);
}

/*
 * Where a folder's messages go: the deliver path itself when the account
 * names one folder and no pattern, else the path the layout gives under
 * it.  Writes a malloc'd path to *out (caller frees).  YB_ERR_PROTOCOL
 * for a name that cannot be stored locally (refused by folder_path_map,
 * or a path the system cannot take): the caller skips that folder.
 */
static int folder_local_path(const struct imap_run *run, const struct folder *folder,
			     char **out, struct yb_error *err)
{
	const struct account *account = run->account;
	if (folder_path_single(account) || account->deliver == DELIVER_MDA) {
		*out = strdup(account->deliver_target);
		return *out ? YB_OK : yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	struct folder_path_opts opts = folder_path_opts_for(account);
	char relative[FOLDER_PATH_MAX + 1];
	size_t len = 0;
	int rc = folder_path_map(folder->local, strlen(folder->local), folder->delimiter,
				 &opts, relative, sizeof(relative), &len, err);
	size_t target_len = strlen(account->deliver_target);
	if (rc == YB_OK)
		rc = check_path_length(run, folder, target_len + 1 + len, err);
	if (rc != YB_OK)
		return rc;
	size_t size = target_len + len + 2;
	*out = malloc(size);
	if (!*out)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (len == 0)
		snprintf(*out, size, "%s", account->deliver_target);
	else
		snprintf(*out, size, "%s/%s", account->deliver_target, relative);
	return YB_OK;
}

static void free_folders(struct imap_run *run)
{
	name_set_free(&run->folder_names);
	for (size_t i = 0; i < run->folder_count; i++) {
		free(run->folders[i].name);
		free(run->folders[i].wire);
		free(run->folders[i].local);
	}
	free(run->folders);
}

int fetch_imap_folders(const struct account *account, struct imap *imap,
		       struct fetch_imap_folder **out, size_t *count,
		       struct yb_error *err)
{
	struct fetch_report report;
	memset(&report, 0, sizeof(report));
	struct imap_run run = { .account = account, .imap = imap,
				.report = &report, .dry_run = true };
	*out = NULL;
	*count = 0;
	int rc = resolve_folders(&run, err);
	struct fetch_imap_folder *folders = NULL;
	if (rc == YB_OK && run.folder_count > 0) {
		folders = calloc(run.folder_count, sizeof(*folders));
		if (!folders)
			rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	for (size_t i = 0; rc == YB_OK && i < run.folder_count; i++) {
		/* The wire name was a LIST reply's, so it can be quoted. */
		folders[i].quoted = imap_quote_mailbox(run.folders[i].wire,
						       strlen(run.folders[i].wire));
		memcpy(folders[i].shown, run.folders[i].shown, sizeof(folders[i].shown));
		*count = i + 1;
		if (!folders[i].quoted)
			rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	free_folders(&run);
	*out = folders;
	if (rc != YB_OK) {
		fetch_imap_folders_free(folders, *count);
		*out = NULL;
		*count = 0;
	}
	return rc;
}

void fetch_imap_folders_free(struct fetch_imap_folder *folders, size_t count)
{
	for (size_t i = 0; folders && i < count; i++)
		free(folders[i].quoted);
	free(folders);
}

int fetch_imap(const struct account *account, char **secret,
	       struct state *state, fetch_sink_fn *open_sink, void *sink_ctx,
	       const struct fetch_options *options, struct fetch_report *report,
	       struct yb_error *err)
{
	struct imap_run run = {
		.account = account, .state = state, .report = report,
		.open_sink = open_sink, .sink_ctx = sink_ctx,
		.dry_run = options->dry_run, .force = options->force,
	};
	int rc = imap_connect(account, *secret, &run.imap, err);
	secret_free(*secret); /* logged in or not, its work is done */
	*secret = NULL;
	if (rc == YB_OK)
		rc = resolve_folders(&run, err);
	for (size_t i = 0; rc == YB_OK && i < run.folder_count; i++) {
		rc = fetch_folder(&run, &run.folders[i], err);
	}
	if (rc == YB_OK)
		log_info("%zu messages in %zu folders on %s, %zu new", report->on_server,
			 run.folder_count, account->host, report->new_messages);
	if (rc == YB_OK)
		rc = imap_logout(run.imap, err);
	imap_close(run.imap);
	free_folders(&run);
	if (rc == YB_OK && run.refused_count > 0)
		rc = yb_fail(err, run.skipped_status, "%zu folder%s on %s could not be "
			     "opened and %s skipped (%s%s); the others were fetched",
			     run.refused_count, run.refused_count == 1 ? "" : "s",
			     account->host, run.refused_count == 1 ? "was" : "were",
			     run.first_refused, run.refused_count == 1 ? "" : ", ...");
	if (rc == YB_OK && run.guarded_count > 0)
		rc = yb_fail(err, YB_ERR_IO, "%zu folder%s skipped by push_deletions "
			     "(%s%s): a Maildir missing, emptied or unreadable; nothing "
			     "was deleted on the server there", run.guarded_count,
			     run.guarded_count == 1 ? "" : "s", run.first_guarded,
			     run.guarded_count == 1 ? "" : ", ...");
	return rc;
}
