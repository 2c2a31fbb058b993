/*
 * fetch_pop3.c - the POP3 fetch engine.
 *
 * One UIDL listing tells what the server has; the state says what is
 * done.  New messages are RETRieved through a window of pipelined
 * commands and streamed (unstuffed) into a delivery (delivery.h), which
 * makes them durable and recorded in exactly-once batches.  DELE is sent
 * only for messages whose commit is durable, and all of them at the end:
 * POP3 deletes nothing before QUIT anyway, and a session that dies first
 * deletes nothing.
 *
 * A listing is evidence, not truth: a server may list nothing or only
 * part of the maildrop for a moment, or renumber every UIDL when it
 * rebuilds its index.  So a delivered key missing from the listing is
 * forgotten only after a grace of listings and days, and where known
 * UIDLs vanished and new ones stand there, each new message is compared
 * by its bytes with the copies the destination holds for the vanished
 * ones: a renumbered message is recorded, not delivered again.  Only a
 * destination that cannot say what it holds makes a listing that looks
 * renumbered be refused, unless the run was told to accept it (the rules:
 * pop3_plan.h).  Keys of messages yubin deleted itself (keep: false,
 * delete_after_days) are forgotten at once on QUIT's +OK, which nothing
 * else corroborates (see yubin-failures(7), WHAT YUBIN TRUSTS).
 */
#include "config.h"

#include "fetch_pop3.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery.h"
#include "grow.h"
#include "held.h"
#include "pop3_vanished.h"
#include "log.h"
#include "pop3.h"
#include "pop3_parse.h"
#include "pop3_plan.h"
#include "progress.h"
#include "secret.h"
#include "testhook.h"

#define POP3_MAILBOX "INBOX"
#define RETR_WINDOW 32

/* "UIDL #N" for the N-th copy of a repeated UIDL: a space never occurs in a UIDL. */
#define KEY_MAX (POP3_UIDL_MAX + 24)

/* One message of the listing, as the engine plans it. */
struct planned {
	const struct pop3_msg *msg;
	/* NULL when the server has no UIDL; else msg->uidl, or owned_key
	   for the second and later copies of a repeated UIDL.  (A key of
	   its own for every message was 94 of each entry's 104 bytes.) */
	const char *key;
	char *owned_key;   /* owned, or NULL */
	/* What the state held for the key before the run changed it:
	   (state_contains_note_missing, asked once for each message). */
	bool known;
	bool was_missing;
};

struct pop3_run {
	const struct account *account;
	bool accept_new_uidls;   /* this run may take a renumbered maildrop */
	struct pop3 *pop3;
	struct state *state;
	struct delivery *delivery;
	struct sink *sink;
	struct held *held;       /* copies to recognise new UIDLs by, or NULL */
	struct pop3_vanished *vanished; /* with held: who left each copy */
	bool match_failed;       /* forgetting a vanished UIDL failed */
	struct fetch_report *report;
	struct fetch_folder_report *inbox; /* in report, or NULL */

	/* Messages whose deletion is due, sent as DELEs before QUIT. */
	const struct planned **doomed;
	size_t doomed_len;
};

static int compare_by_uidl_then_msgno(const void *a, const void *b)
{
	const struct planned *pa = *(const struct planned *const *)a;
	const struct planned *pb = *(const struct planned *const *)b;
	int order = strcmp(pa->msg->uidl, pb->msg->uidl);
	if (order != 0)
		return order;
	return pa->msg->msgno < pb->msg->msgno ? -1 : pa->msg->msgno > pb->msg->msgno;
}

/* The key of the copy-th message listed with plan's UIDL (copy >= 1);
   -1 when out of memory. */
static int set_key(struct planned *plan, unsigned long copy)
{
	if (copy == 1) {
		plan->key = plan->msg->uidl;
		return 0;
	}
	char key[KEY_MAX];
	snprintf(key, sizeof(key), "%s #%lu", plan->msg->uidl, copy);
	plan->owned_key = strdup(key);
	plan->key = plan->owned_key;
	return plan->key ? 0 : -1;
}

/*
 * Do the UIDLs ascend strictly in message number order?  Many servers
 * (Dovecot among them) make them so, and then no two are the same: no
 * sort is needed to find repeats.
 */
static bool uidls_ascend(const struct planned *plan, size_t count)
{
	for (size_t i = 1; i < count; i++)
		if (strcmp(plan[i - 1].msg->uidl, plan[i].msg->uidl) >= 0)
			return false;
	return true;
}

/*
 * Give every message its state key.  A server that repeats a UIDL must not
 * make yubin skip the second message, so the n-th copy (in message number
 * order) is keyed "UIDL #n".  Pointers are sorted, not the plan, which
 * stays in listing (message number) order: sorting the 100-byte plan
 * entries by UIDL and back by number was the largest cost of a run that
 * found nothing new.  Returns -1 when out of memory.
 */
static int assign_keys(struct planned *plan, size_t count)
{
	if (count == 0 || !plan[0].msg->uidl)
		return 0; /* no UIDL: every key stays NULL */
	if (uidls_ascend(plan, count)) {
		/* Strictly ascending, so each UIDL is listed once. */
		for (size_t i = 0; i < count; i++)
			plan[i].key = plan[i].msg->uidl;
		return 0;
	}
	struct planned **by_uidl = malloc(count * sizeof(*by_uidl));
	if (!by_uidl)
		return -1;
	for (size_t i = 0; i < count; i++)
		by_uidl[i] = &plan[i];
	qsort(by_uidl, count, sizeof(*by_uidl), compare_by_uidl_then_msgno);
	unsigned long copy = 0;
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		bool repeat = i > 0 && strcmp(by_uidl[i]->msg->uidl,
					      by_uidl[i - 1]->msg->uidl) == 0;
		copy = repeat ? copy + 1 : 1;
		rc = set_key(by_uidl[i], copy);
	}
	free(by_uidl);
	return rc;
}

static bool has_key(const struct planned *plan)
{
	return plan->key != NULL;
}

static void plan_free(struct planned *plan, size_t count)
{
	for (size_t i = 0; plan && i < count; i++)
		free(plan[i].owned_key);
	free(plan);
}

/* Ask the state once about each listed key (planned.known, was_missing). */
/* How far ahead note_known hints its look-ups: enough to cover a
   memory access or two of each, few enough to stay in the cache. */
#define NOTE_AHEAD 8

static void note_known(const struct pop3_run *run, struct planned *plan,
		       size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (i + NOTE_AHEAD < count && has_key(&plan[i + NOTE_AHEAD]))
			state_prefetch(run->state, POP3_MAILBOX,
				       plan[i + NOTE_AHEAD].key);
		plan[i].known = has_key(&plan[i]) &&
			state_contains_note_missing(run->state, POP3_MAILBOX,
						    plan[i].key,
						    &plan[i].was_missing);
	}
}

/*
 * Is any listed message new?  Only a new one's LIST size is ever used
 * (max_size, the RETR check, the renumbering test, the recorded size),
 * so a run where every UIDL is known sends no LIST: a third of the
 * listing's bytes, and the server's work to size every message.
 */
static bool any_unknown(const struct planned *plan, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!plan[i].known)
			return true;
	return false;
}

/* An MDA refused a message: it stays on the server for the next run. */
static void message_refused(void *ctx, void *item, const char *detail)
{
	struct pop3_run *run = ctx;
	const struct planned *plan = item;
	run->report->refused++;
	log_warn("the MDA did not take message %lu (%s): %s; it stays on the server",
		 plan->msg->msgno, has_key(plan) ? plan->key : "no UIDL", detail);
}

/*
 * The delivery calls this once a message's commit is durable.  Its
 * listed size is recorded too (synced with the next batch), so that a
 * renumbered maildrop can be recognised by it later.
 */
static void message_committed(void *ctx, void *item, uint64_t bytes)
{
	struct pop3_run *run = ctx;
	const struct planned *plan = item;
	run->report->fetched++;
	run->report->fetched_bytes += bytes;
	if (run->inbox) {
		run->inbox->fetched++;
		run->inbox->bytes += bytes;
	}
	if (!run->account->keep)
		run->doomed[run->doomed_len++] = item;
	struct yb_error size_err;
	if (has_key(plan) &&
	    state_set_listed_size(run->state, POP3_MAILBOX, plan->key,
				  plan->msg->size, &size_err) != YB_OK)
		log_warn("%s", size_err.msg);
}

/* --- fetching --- */

/* The bytes of a message as they arrive: counted, then delivered. */
static int receive_counted(void *ctx, const char *data, size_t len,
			   struct yb_error *err)
{
	progress_received(len);
	return delivery_write_cb(ctx, data, len, err);
}

static int fetch_one(struct pop3_run *run, const struct planned *plan,
		     struct yb_error *err)
{
	struct msg_meta meta = { .size_hint = plan->msg->size };
	int rc = delivery_begin(run->delivery, &meta, err);
	if (rc != YB_OK)
		return rc;
	bool refused = false;
	struct yb_error retr_err;
	yb_error_clear(&retr_err);
	rc = pop3_read_retr(run->pop3, plan->msg->size, receive_counted,
			    run->delivery, &refused, &retr_err);
	if (rc != YB_OK || refused) {
		delivery_abort(run->delivery);
		if (rc != YB_OK) {
			*err = retr_err;
			return rc;
		}
		run->report->refused++;
		log_warn("message %lu (%s) not fetched: %s", plan->msg->msgno,
			 has_key(plan) ? plan->key : "no UIDL", retr_err.msg);
		return YB_OK;
	}
	uint64_t served = 0;
	if (pop3_last_size_disagreed(run->pop3, &served))
		log_warn("message %lu (%s): %s sent %" PRIu64 " bytes where LIST said "
			 "%" PRIu64 "; stored as sent", plan->msg->msgno,
			 has_key(plan) ? plan->key : "no UIDL", run->account->host, served,
			 plan->msg->size);
	progress_message_done();
	/* The cast drops const only to pass the plan through the delivery. */
	return delivery_end(run->delivery, has_key(plan) ? plan->key : NULL,
			    (void *)plan, err);
}

static int fetch_all(struct pop3_run *run, const struct planned **todo,
		     size_t count, struct yb_error *err)
{
	size_t window = pop3_pipelining(run->pop3) ? RETR_WINDOW : 1;
	size_t sent = 0;
	for (size_t done = 0; done < count; done++) {
		/* Refill only when half the window is answered: fewer, fuller writes. */
		while (sent < count && sent - done <= window / 2) {
			while (sent < count && sent - done < window) {
				int rc = pop3_send_retr(run->pop3, todo[sent]->msg->msgno, err);
				if (rc != YB_OK)
					return rc;
				sent++;
			}
		}
		int rc = fetch_one(run, todo[done], err);
		if (rc != YB_OK) {
			/* Whole messages already received are kept: commit them. */
			struct yb_error flush_err;
			if (delivery_flush(run->delivery, &flush_err) != YB_OK)
				log_warn("%s", flush_err.msg);
			return rc;
		}
	}
	return delivery_flush(run->delivery, err);
}

/* --- deleting --- */

static int send_deletions(struct pop3_run *run, struct yb_error *err)
{
	size_t window = pop3_pipelining(run->pop3) ? RETR_WINDOW : 1;
	size_t sent = 0;
	for (size_t done = 0; done < run->doomed_len; done++) {
		while (sent < run->doomed_len && sent - done < window) {
			int rc = pop3_send_dele(run->pop3, run->doomed[sent]->msg->msgno, err);
			if (rc != YB_OK)
				return rc;
			sent++;
		}
		int rc = pop3_read_dele(run->pop3, err);
		if (rc != YB_OK)
			return rc;
	}
	testhook_step("delete");
	return YB_OK;
}

/* After QUIT's +OK the deleted messages are gone: forget their keys. */
static int forget_deleted(struct pop3_run *run, struct yb_error *err)
{
	for (size_t i = 0; i < run->doomed_len; i++) {
		if (!has_key(run->doomed[i]))
			continue;
		int rc = state_forget(run->state, POP3_MAILBOX, run->doomed[i]->key, err);
		if (rc != YB_OK)
			return rc;
	}
	run->report->deleted = run->doomed_len;
	/* Nothing forgotten: what is pending (the sizes message_committed
	   recorded) is made durable by state_close, which follows; a crash
	   before it loses only those sizes, hints for recognising a
	   renumbered maildrop, never a delivery. */
	if (run->doomed_len == 0)
		return YB_OK;
	return state_sync(run->state, err);
}

/* --- planning --- */

static bool is_due_for_deletion(const struct pop3_run *run, const char *key,
				time_t now)
{
	if (!run->account->keep)
		return true;
	if (run->account->delete_after_days == 0)
		return false;
	time_t fetched_at;
	if (!state_fetched_at(run->state, POP3_MAILBOX, key, &fetched_at))
		return false;
	long long age = (long long)now - (long long)fetched_at;
	return age >= (long long)run->account->delete_after_days * 86400;
}

/*
 * Split the listing into messages to fetch and delivered ones whose
 * deletion is due.  Too large ones are reported and left alone.
 */
static size_t plan_fetch(struct pop3_run *run, struct planned *plan, size_t count,
			 const struct planned **todo)
{
	time_t now = time(NULL);
	size_t todo_len = 0;
	for (size_t i = 0; i < count; i++) {
		if (has_key(&plan[i]) && plan[i].known) {
			if (is_due_for_deletion(run, plan[i].key, now))
				run->doomed[run->doomed_len++] = &plan[i];
			continue;
		}
		run->report->new_messages++;
		uint64_t max = run->account->max_size;
		if (max > 0 && plan[i].msg->size > max) {
			run->report->too_large++;
			log_warn("message %lu (%s) is %" PRIu64 " bytes, over max_size %"
				 PRIu64 "; left on the server", plan[i].msg->msgno,
				 has_key(&plan[i]) ? plan[i].key : "no UIDL",
				 plan[i].msg->size, max);
			continue;
		}
		todo[todo_len++] = &plan[i];
	}
	return todo_len;
}

static int compare_key_ptrs(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int compare_sizes(const void *a, const void *b)
{
	uint64_t sa = *(const uint64_t *)a, sb = *(const uint64_t *)b;
	return sa < sb ? -1 : sa > sb;
}

/* A delivered key the listing lacks, as found in the state. */
struct gone_key {
	char *key;              /* owned */
	bool was_missing;       /* missing from an earlier listing too */
	time_t missing_since;
	unsigned long missing_runs;
	bool has_size;
	uint64_t size;
};

/* What the listing says about the state's keys. */
struct reconcile {
	const char **listed;    /* the listing's keys, sorted; not owned */
	size_t listed_count;
	struct gone_key *gone;  /* owned */
	size_t gone_count, gone_cap;
	bool oom;
	const struct state *state;
};

static bool is_listed(const struct reconcile *rec, const char *key)
{
	return bsearch(&key, rec->listed, rec->listed_count, sizeof(*rec->listed),
		       compare_key_ptrs) != NULL;
}

/* state_foreach: collect the keys the listing lacks. */
static int collect_gone(void *ctx, const char *key, time_t fetched_at)
{
	(void)fetched_at;
	struct reconcile *rec = ctx;
	if (is_listed(rec, key))
		return 0;
	struct gone_key *grown = grow_array(rec->gone, &rec->gone_cap,
					    rec->gone_count + 1, sizeof(*grown), 64);
	if (!grown) {
		rec->oom = true;
		return 1;
	}
	rec->gone = grown;
	struct gone_key *gone = &rec->gone[rec->gone_count];
	memset(gone, 0, sizeof(*gone));
	gone->key = strdup(key);
	if (!gone->key) {
		rec->oom = true;
		return 1;
	}
	gone->was_missing = state_missing(rec->state, POP3_MAILBOX, key,
					  &gone->missing_since,
					  &gone->missing_runs);
	gone->has_size = state_listed_size(rec->state, POP3_MAILBOX, key,
					   &gone->size);
	rec->gone_count++;
	return 0;
}

static void reconcile_free(struct reconcile *rec)
{
	for (size_t i = 0; i < rec->gone_count; i++)
		free(rec->gone[i].key);
	free(rec->gone);
	free(rec->listed);
}

static int reconcile_collect(struct pop3_run *run, const struct planned *plan,
			     size_t count, struct reconcile *rec,
			     struct yb_error *err)
{
	memset(rec, 0, sizeof(*rec));
	rec->state = run->state;
	rec->listed = malloc((count ? count : 1) * sizeof(*rec->listed));
	if (!rec->listed)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	size_t known = 0;
	for (size_t i = 0; i < count; i++) {
		if (!has_key(&plan[i]))
			continue;
		rec->listed[rec->listed_count++] = plan[i].key;
		if (plan[i].known)
			known++;
	}
	/* Every delivered key listed: nothing is gone, and the run's cost
	   stays with the listing. */
	if (known == state_count(run->state, POP3_MAILBOX))
		return YB_OK;
	qsort(rec->listed, rec->listed_count, sizeof(*rec->listed),
	      compare_key_ptrs);
	state_foreach(run->state, POP3_MAILBOX, collect_gone, rec);
	if (rec->oom)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return YB_OK;
}

static int count_listing(const struct pop3_run *run, const struct planned *plan,
			 size_t count, const struct reconcile *rec,
			 struct pop3_listing_counts *counts, struct yb_error *err)
{
	memset(counts, 0, sizeof(*counts));
	uint64_t *gone_sizes = malloc((rec->gone_count ? rec->gone_count : 1) *
				      sizeof(*gone_sizes));
	uint64_t *fresh_sizes = malloc((count ? count : 1) * sizeof(*fresh_sizes));
	if (!gone_sizes || !fresh_sizes) {
		free(gone_sizes);
		free(fresh_sizes);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	size_t already_missing = 0;
	for (size_t i = 0; i < rec->gone_count; i++) {
		if (rec->gone[i].was_missing) {
			already_missing++;
			continue;
		}
		counts->gone_now++;
		if (rec->gone[i].has_size)
			gone_sizes[counts->sized++] = rec->gone[i].size;
	}
	counts->present = state_count(run->state, POP3_MAILBOX) - already_missing;
	for (size_t i = 0; i < count; i++)
		if (has_key(&plan[i]) && !plan[i].known)
			fresh_sizes[counts->fresh++] = plan[i].msg->size;
	qsort(gone_sizes, counts->sized, sizeof(*gone_sizes), compare_sizes);
	qsort(fresh_sizes, counts->fresh, sizeof(*fresh_sizes), compare_sizes);
	counts->matched = pop3_count_size_matches(gone_sizes, counts->sized,
						  fresh_sizes, counts->fresh);
	free(gone_sizes);
	free(fresh_sizes);
	return YB_OK;
}

static int refuse_renumbering(const struct pop3_run *run,
			      const struct pop3_listing_counts *counts,
			      struct yb_error *err)
{
	return yb_fail(err, YB_ERR_PROTOCOL,
		       "%s: %zu of the %zu messages yubin fetched are missing "
		       "from the UIDL listing, and %zu new messages stand there "
		       "(%zu of the same sizes): the server seems to have "
		       "renumbered its UIDLs (an index rebuild), and fetching "
		       "them would deliver them a second time; nothing was "
		       "fetched.  If the server did renumber, run yubin "
		       "--accept-new-uidls %s once to fetch them again under "
		       "the new numbering", run->account->host, counts->gone_now,
		       counts->present, counts->fresh, counts->matched,
		       run->account->name);
}

/* The listed keys that were missing before are there again. */
static int mark_listed(struct pop3_run *run, const struct planned *plan,
		       size_t count, struct yb_error *err)
{
	for (size_t i = 0; i < count; i++) {
		if (!has_key(&plan[i]) || !plan[i].was_missing)
			continue;
		int rc = state_set_missing(run->state, POP3_MAILBOX, plan[i].key,
					   0, 0, err);
		if (rc != YB_OK)
			return rc;
	}
	return YB_OK;
}

/*
 * Count one more listing for each key the listing lacks, and forget
 * those whose grace is over.
 */
static int age_gone(struct pop3_run *run, const struct reconcile *rec,
		    time_t now, size_t *forgotten, struct yb_error *err)
{
	*forgotten = 0;
	for (size_t i = 0; i < rec->gone_count; i++) {
		const struct gone_key *gone = &rec->gone[i];
		time_t since;
		unsigned long runs;
		pop3_missing_once_more(gone->was_missing, gone->missing_since,
				       gone->missing_runs, now, &since, &runs);
		int rc;
		if (pop3_grace_is_over(runs, since, now)) {
			rc = state_forget(run->state, POP3_MAILBOX, gone->key, err);
			(*forgotten)++;
		} else {
			rc = state_set_missing(run->state, POP3_MAILBOX, gone->key,
					       since, runs, err);
		}
		if (rc != YB_OK)
			return rc;
	}
	return YB_OK;
}

/* state_dests_where: the recorded keys the listing lacks, or names. */
static bool is_gone(void *ctx, const char *key)
{
	return !is_listed(ctx, key);
}

static bool is_listed_key(void *ctx, const char *key)
{
	return is_listed(ctx, key);
}

/* Claim or free the copies of the recorded keys wanted picks. */
static int mark_copies(struct pop3_run *run, const struct reconcile *rec,
		       bool (*wanted)(void *ctx, const char *key),
		       void (*mark)(struct held *held, const char *dest),
		       struct yb_error *err)
{
	const char **dests = NULL;
	size_t count = 0;
	/* The predicates only read the reconcile. */
	int rc = state_dests_where(run->state, POP3_MAILBOX, wanted, (void *)rec,
				   &dests, &count, err);
	for (size_t i = 0; rc == YB_OK && i < count; i++)
		mark(run->held, dests[i]);
	free(dests);
	return rc;
}

static int forget_vanished(void *ctx, const char *key)
{
	struct pop3_run *run = ctx;
	struct yb_error err;
	if (state_forget(run->state, POP3_MAILBOX, key, &err) == YB_OK)
		return 0;
	log_warn("%s: %s", run->account->host, err.msg);
	return 1;
}

/*
 * A new UIDL's message is the copy a vanished UIDL left: that copy now
 * stands for the new UIDL, so the vanished one lets go of it first (its
 * record is forgotten, buffered before the new UIDL's commit).  Were it
 * kept, a message only left out of one listing would be taken, when it
 * came back, for one that has its copy, while its copy went to a twin
 * with the same bytes.  When the record cannot be forgotten the message
 * is delivered as new: a second copy, never none.
 */
static const char *match_held(void *ctx, const unsigned char digest[32])
{
	struct pop3_run *run = ctx;
	if (run->match_failed)
		return NULL;
	const char *dest = held_match(run->held, digest);
	if (dest && pop3_vanished_each_key(run->vanished, dest, forget_vanished,
					   run) != 0) {
		run->match_failed = true;
		return NULL;
	}
	return dest;
}

/* Remember which vanished keys left which copy, for match_held. */
static int index_vanished(struct pop3_run *run, const struct reconcile *rec,
			  struct yb_error *err)
{
	int rc = pop3_vanished_new(&run->vanished, err);
	for (size_t i = 0; rc == YB_OK && i < rec->gone_count; i++) {
		const char *dest = state_dest(run->state, POP3_MAILBOX,
					      rec->gone[i].key);
		if (dest)
			rc = pop3_vanished_add(run->vanished, rec->gone[i].key,
					       dest, err);
	}
	if (rc == YB_OK)
		pop3_vanished_seal(run->vanished);
	return rc;
}

/*
 * Known UIDLs vanished and new ones stand there: the server may have
 * renumbered its messages.  A new message whose bytes match the copy the
 * sink holds for a vanished key is then recorded under its new UIDL, not
 * delivered again.  Only those copies count: a copy of a key still
 * listed stands for that message, and a file the state names for no key
 * (a message deleted on the server, whose record went) proves nothing
 * about a new message that happens to have the same bytes.
 * Returns YB_OK without a matcher when the sink cannot say what it holds.
 */
static int recognise_by_content(struct pop3_run *run, const struct reconcile *rec,
				 struct yb_error *err)
{
	if (!sink_can_digest(run->sink))
		return YB_OK;
	const char **dests = NULL;
	size_t count = 0;
	int rc = state_dests_where(run->state, POP3_MAILBOX, NULL, NULL, &dests, &count, err);
	if (rc == YB_OK)
		rc = held_from_sink(run->sink, dests, count, &run->held, err);
	free(dests);
	if (rc != YB_OK)
		return rc;
	held_claim_all(run->held);
	rc = mark_copies(run, rec, is_gone, held_release_dest, err);
	/* A copy that a listed key shares with a gone one stands for it. */
	if (rc == YB_OK)
		rc = mark_copies(run, rec, is_listed_key, held_claim_dest, err);
	if (rc == YB_OK)
		rc = index_vanished(run, rec, err);
	if (rc != YB_OK)
		return rc;
	log_debug("%s: %zu known UIDLs are missing from the listing and new "
		  "ones stand there; new messages are compared with the %zu "
		  "copies held", run->account->host, rec->gone_count,
		  held_copies(run->held));
	return delivery_set_matcher(run->delivery, match_held, run, err);
}

/*
 * A listing that looks renumbered: accepted when the run was told so,
 * recognised by content where the destination can tell (run->held),
 * else refused.
 */
static int weigh_renumbering(const struct pop3_run *run,
			     const struct pop3_listing_counts *counts,
			     struct yb_error *err)
{
	const char *host = run->account->host;
	if (run->accept_new_uidls) {
		log_warn("%s: %zu known UIDLs vanished and %zu new ones stand "
			 "there: accepting the new numbering, so those messages "
			 "are fetched again", host, counts->gone_now, counts->fresh);
		return YB_OK;
	}
	if (!run->held)
		return refuse_renumbering(run, counts, err);
	log_warn("%s: %zu known UIDLs vanished and %zu new ones stand there, "
		 "%zu of the same sizes: the server seems to have renumbered "
		 "them; recognising by their bytes the messages already "
		 "delivered", host, counts->gone_now, counts->fresh, counts->matched);
	return YB_OK;
}

/*
 * Weigh the listing against the state before anything is fetched:
 * refuse a renumbered maildrop (unless accepted); then, unless dry_run,
 * record what it shows: keys listed again, keys missing one listing
 * more, keys whose grace is over forgotten.
 */
static int reconcile_listing(struct pop3_run *run, const struct planned *plan,
			     size_t count, bool dry_run, struct yb_error *err)
{
	struct reconcile rec;
	struct pop3_listing_counts counts;
	int rc = reconcile_collect(run, plan, count, &rec, err);
	if (rc == YB_OK)
		rc = count_listing(run, plan, count, &rec, &counts, err);
	/* Vanished keys and new ones: recognise what is held by its bytes,
	   where the sink can tell (not in a dry run, which fetches nothing). */
	if (rc == YB_OK && !dry_run && rec.gone_count > 0 && counts.fresh > 0)
		rc = recognise_by_content(run, &rec, err);
	if (rc == YB_OK && pop3_renumbering_suspected(&counts))
		rc = weigh_renumbering(run, &counts, err);
	size_t forgotten = 0;
	if (rc == YB_OK && !dry_run)
		rc = mark_listed(run, plan, count, err);
	if (rc == YB_OK && !dry_run)
		rc = age_gone(run, &rec, time(NULL), &forgotten, err);
	if (rc == YB_OK && !dry_run)
		rc = state_sync(run->state, err);
	if (rc == YB_OK && rec.gone_count > 0)
		log_debug("%zu fetched messages missing from the listing, %zu "
			  "forgotten after %d listings and %d days missing",
			  rec.gone_count, forgotten, POP3_FORGET_AFTER_LISTINGS,
			  POP3_FORGET_AFTER_DAYS);
	reconcile_free(&rec);
	return rc;
}

/* --- the session --- */

static int check_uidl(const struct pop3_run *run, struct yb_error *err)
{
	if (pop3_has_uidl(run->pop3) || !run->account->keep)
		return YB_OK;
	return yb_fail(err, YB_ERR_PROTOCOL,
		       "%s does not support UIDL, so yubin cannot tell which "
		       "messages it has already fetched; set keep: false to fetch "
		       "and delete every message instead", run->account->host);
}

static int run_session(struct pop3_run *run, bool dry_run, struct yb_error *err)
{
	struct pop3_msg *msgs = NULL;
	size_t count = 0;
	bool sized = false;
	int rc = pop3_list_uidls(run->pop3, &msgs, &count, &sized, err);
	if (rc != YB_OK)
		return rc;
	run->report->on_server = count;
	run->inbox = fetch_report_add_folder(run->report, POP3_MAILBOX);
	struct planned *plan = calloc(count ? count : 1, sizeof(*plan));
	const struct planned **todo = calloc(count ? count : 1, sizeof(*todo));
	run->doomed = calloc(count ? count : 1, sizeof(*run->doomed));
	if (!plan || !todo || !run->doomed) {
		rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory listing %zu messages", count);
		goto out;
	}
	for (size_t i = 0; i < count; i++)
		plan[i].msg = &msgs[i];
	rc = check_uidl(run, err);
	if (rc != YB_OK)
		goto out;
	if (assign_keys(plan, count) != 0) {
		rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory listing %zu messages", count);
		goto out;
	}
	note_known(run, plan, count);
	if (!sized && any_unknown(plan, count)) {
		rc = pop3_list_sizes(run->pop3, msgs, count, err);
		if (rc != YB_OK)
			goto out;
	}
	if (pop3_has_uidl(run->pop3)) {
		rc = reconcile_listing(run, plan, count, dry_run, err);
		if (rc != YB_OK)
			goto out;
	}
	size_t todo_len = plan_fetch(run, plan, count, todo);
	if (dry_run) {
		run->doomed_len = 0;
		rc = pop3_quit(run->pop3, err);
		goto out;
	}
	log_info("%zu messages on %s, %zu new", count, run->account->host,
		 run->report->new_messages);
	uint64_t todo_bytes = 0;
	for (size_t i = 0; i < todo_len; i++)
		todo_bytes += todo[i]->msg->size;
	progress_start(run->account->name, todo_len, todo_bytes);
	rc = fetch_all(run, todo, todo_len, err);
	progress_clear();
	if (rc == YB_OK)
		rc = send_deletions(run, err);
	if (rc == YB_OK)
		rc = pop3_quit(run->pop3, err);
	if (rc == YB_OK)
		rc = forget_deleted(run, err);
out:
	free(run->doomed);
	run->doomed = NULL;
	free(todo);
	plan_free(plan, count);
	pop3_free_msgs(msgs, count);
	return rc;
}

int fetch_pop3(const struct account *account, char **secret,
	       struct state *state, struct sink *sink,
	       const struct fetch_options *options,
	       struct fetch_report *report, struct yb_error *err)
{
	bool dry_run = options->dry_run;
	struct pop3_run *run = calloc(1, sizeof(*run));
	if (!run)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	run->account = account;
	run->accept_new_uidls = options->accept_new_uidls;
	run->state = state;
	run->sink = sink;
	run->report = report;
	int rc = YB_OK;
	if (!dry_run) {
		struct delivery_params params = {
			.state = state, .sink = sink, .mailbox = POP3_MAILBOX,
			.committed = message_committed, .ctx = run,
			.refused = message_refused,
		};
		rc = delivery_new(&params, &run->delivery, err);
	}
	if (rc == YB_OK)
		rc = pop3_connect(account, *secret, &run->pop3, err);
	secret_free(*secret); /* logged in or not, its work is done */
	*secret = NULL;
	if (rc == YB_OK)
		rc = run_session(run, dry_run, err);
	pop3_close(run->pop3);
	delivery_free(run->delivery);
	held_free(run->held);
	pop3_vanished_free(run->vanished);
	free(run);
	return rc;
}
