/* flag_push.c - sync_flags: both, for one open folder (flag_push.h). */
#include "config.h"

#include "flag_push.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deletion_guard.h"
#include "flag_merge.h"
#include "flag_store.h"
#include "imap_key.h"
#include "imap_resp.h"
#include "maildir_flags.h"
#include "testhook.h"
#include "text.h"


/* A message with something to do, decided before anything is done. */
struct flag_step {
	uint32_t uid;
	uint64_t modseq;
	uint32_t local;          /* the letters found */
	uint32_t from_base;      /* the base merged from */
	struct flag_merge merge;
	char *found;             /* owned: where the file is now; NULL when
				    it is gone (push_deletions) */
	bool expunge;            /* gone: expunge it once \Deleted */
	bool refused;            /* the server did not apply a change */
	bool half_done;          /* ... but had applied its -FLAGS */
};

struct flag_plan {
	struct flag_step *steps; /* owned */
	size_t len;
	struct deletion_counts tally; /* for deletion_guard */
};

static void plan_free(struct flag_plan *plan)
{
	for (size_t i = 0; i < plan->len; i++)
		free(plan->steps[i].found);
	free(plan->steps);
	plan->steps = NULL;
	plan->len = 0;
}

static uint32_t pushed_flags(const struct flag_push_folder *folder)
{
	return folder->push_deletions ? FLAG_MERGE_DELETIONS : FLAG_MERGE_PUSHED;
}

/* The base to merge from: the recorded one, resumed past an open push. */
static bool base_of(const struct flag_push_folder *folder, const char *key,
		    uint32_t server, uint32_t *base)
{
	unsigned stored = 0, add = 0, remove = 0;
	if (!state_flag_base(folder->state, folder->mailbox, key, &stored))
		return false;
	*base = stored;
	if (state_flag_push(folder->state, folder->mailbox, key, &add, &remove))
		*base = flag_merge_resume_base_with(pushed_flags(folder), stored,
						    add, remove, server);
	return true;
}

static int add_step(struct flag_plan *plan, struct flag_step *step,
		    const char *found, struct yb_error *err)
{
	step->found = found ? strdup(found) : NULL;
	struct flag_step *grown = realloc(plan->steps,
					  (plan->len + 1) * sizeof(*grown));
	if ((found && !step->found) || !grown) {
		free(step->found);
		if (grown)
			plan->steps = grown;
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	plan->steps = grown;
	plan->steps[plan->len++] = *step;
	return YB_OK;
}

/*
 * A step whose file is gone: \Deleted to push, or to expunge.  One
 * whose deletion both sides already agreed on (an earlier run marked
 * it) was weighed by the guard then, and is not again.
 */
static int plan_removed(const struct flag_push_folder *folder,
			const struct flag_seen *seen, const char *key,
			struct flag_plan *plan, struct yb_error *err)
{
	struct flag_step step = { .uid = seen->uid, .modseq = seen->modseq };
	step.merge = flag_merge_removed(seen->flags);
	step.local = step.merge.local;
	step.expunge = folder->expunges;
	uint32_t base = 0;
	bool agreed = base_of(folder, key, seen->flags, &base) &&
		      (base & SINK_FLAG_DELETED);
	step.from_base = base;
	if (!agreed) {
		plan->tally.known++;
		plan->tally.deleting += step.merge.push_add || step.expunge;
	}
	if (step.merge.push_add || step.expunge)
		return add_step(plan, &step, NULL, err);
	return state_set_flag_base(folder->state, folder->mailbox, key,
				   step.merge.base, err);
}

/*
 * Decide for one listed message: nothing, a first base, or a step.
 * Nothing is pushed or recorded as a push yet: the guard decides first.
 */
static int plan_one(const struct flag_push_folder *folder,
		    const struct flag_seen *seen, struct flag_plan *plan,
		    struct flag_push_counts *counts, struct yb_error *err)
{
	char key[IMAP_KEY_MAX];
	imap_key_format(key, folder->uidvalidity, seen->uid);
	const char *dest = state_dest(folder->state, folder->mailbox, key);
	if (!dest)
		return YB_OK;
	struct flag_step step = { .uid = seen->uid, .modseq = seen->modseq };
	char found[SINK_DEST_MAX];
	int rc = sink_read_flags(folder->sink, dest, &step.local, found, err);
	if (rc != YB_OK)
		return rc;
	if (!found[0]) /* removed locally: pushed with push_deletions only */
		return folder->push_deletions ? plan_removed(folder, seen, key, plan, err)
					      : YB_OK;
	plan->tally.present++;
	uint32_t pushed = pushed_flags(folder), base;
	bool based = base_of(folder, key, seen->flags, &base);
	if (!based || !(base & SINK_FLAG_DELETED))
		plan->tally.known++;
	if (!based) {
		/* Met first: fetched before sync_flags: both, or in a run
		   stopped before it agreed.  The letters yubin last gave
		   its file (as the state names it) are what the server had
		   then: the last agreement there was. */
		counts->first_seen++;
		base = maildir_dest_flags(dest) & pushed;
	}
	step.from_base = base;
	step.merge = flag_merge_with(pushed, base, step.local, seen->flags);
	bool renames = step.merge.local != step.local;
	bool pushes = (step.merge.push_add | step.merge.push_remove) != 0;
	if (!renames && !pushes) /* the base moves (or stays): no record */
		return state_set_flag_base(folder->state, folder->mailbox, key,
					   step.merge.base, err);
	if (step.merge.push_add & SINK_FLAG_DELETED)
		plan->tally.deleting++;
	return add_step(plan, &step, found, err);
}

/* Every push recorded, before the first STORE. */
static int record_pushes(const struct flag_push_folder *folder,
			 const struct flag_plan *plan, struct yb_error *err)
{
	int rc = YB_OK;
	for (size_t i = 0; i < plan->len && rc == YB_OK; i++) {
		const struct flag_step *step = &plan->steps[i];
		if (!(step->merge.push_add | step->merge.push_remove))
			continue;
		char key[IMAP_KEY_MAX];
		imap_key_format(key, folder->uidvalidity, step->uid);
		rc = state_set_flag_push(folder->state, folder->mailbox, key,
					 step->merge.push_add,
					 step->merge.push_remove, err);
	}
	return rc;
}

/* After the push: the letters onto the file, then the new base. */
static int settle_step(const struct flag_push_folder *folder,
		       const struct flag_step *step,
		       struct flag_push_counts *counts, struct yb_error *err)
{
	char key[IMAP_KEY_MAX];
	imap_key_format(key, folder->uidvalidity, step->uid);
	if (step->found && step->merge.local != step->local) {
		char new_dest[SINK_DEST_MAX];
		int rc = sink_apply_flags(folder->sink, step->found,
					  step->merge.local, new_dest, err);
		if (rc != YB_OK)
			return rc;
		if (!new_dest[0])
			return YB_OK; /* gone or moving: the next run merges */
		rc = state_set_dest(folder->state, folder->mailbox, key, new_dest, err);
		if (rc != YB_OK)
			return rc;
		counts->renamed++;
		testhook_step("flag-rename");
	}
	return state_set_flag_base(folder->state, folder->mailbox, key,
				   step->merge.base, err);
}

/* A gone message the server now holds \Deleted: to expunge. */
static int note_expunge(struct flag_push_counts *counts, uint32_t uid,
			struct yb_error *err)
{
	uint32_t *grown = realloc(counts->expunge,
				  (counts->expunge_len + 1) * sizeof(*grown));
	if (!grown)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	counts->expunge = grown;
	counts->expunge[counts->expunge_len++] = uid;
	return YB_OK;
}

/* The first change of each step: its -FLAGS if any, else its +FLAGS. */
static struct flag_store_op first_op(const struct flag_step *step, size_t index)
{
	bool removes = step->merge.push_remove != 0;
	return (struct flag_store_op){
		.uid = step->uid, .sign = removes ? '-' : '+',
		.flags = removes ? step->merge.push_remove : step->merge.push_add,
		.tag = index,
	};
}

/*
 * Every step's STOREs: first one change each, grouped by sign and flags
 * and conditional on the folder's HIGHESTMODSEQ; then the +FLAGS of the
 * steps that also had a -FLAGS, each on the MODSEQ the first left
 * (without CONDSTORE too: never a FLAGS replace).
 */
static int store_all(const struct flag_push_folder *folder, struct flag_plan *plan,
		     struct yb_error *refusal, struct yb_error *err)
{
	struct flag_store_target target = {
		.imap = folder->imap, .handler = folder->handler,
		.shown = folder->shown, .condstore = folder->condstore,
	};
	struct flag_store_op *ops = calloc(plan->len ? plan->len : 1, sizeof(*ops));
	if (!ops)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	size_t count = 0;
	for (size_t i = 0; i < plan->len; i++)
		if (plan->steps[i].merge.push_add | plan->steps[i].merge.push_remove)
			ops[count++] = first_op(&plan->steps[i], i);
	int rc = flag_store_send(&target, ops, count, true, folder->highestmodseq,
				 refusal, err);
	size_t second = 0;
	for (size_t i = 0; rc == YB_OK && i < count; i++) {
		struct flag_step *step = &plan->steps[ops[i].tag];
		step->refused = ops[i].refused;
		if (step->refused || ops[i].sign != '-' || !step->merge.push_add)
			continue;
		ops[second++] = (struct flag_store_op){
			.uid = step->uid, .sign = '+', .flags = step->merge.push_add,
			.modseq = ops[i].modseq ? ops[i].modseq : step->modseq,
			.tag = ops[i].tag,
		};
	}
	if (rc == YB_OK)
		rc = flag_store_send(&target, ops, second, false, 0, refusal, err);
	for (size_t i = 0; rc == YB_OK && i < second; i++) {
		plan->steps[ops[i].tag].refused = ops[i].refused;
		plan->steps[ops[i].tag].half_done = ops[i].refused;
	}
	free(ops);
	return rc;
}

/*
 * A push the server refused ([MODIFIED] or a NO) is closed on what it
 * did apply: left open, the next run would take a value another client
 * set meanwhile for this push having landed, and undo that client's
 * later change.  Merged again from there next run.
 */
static int close_refused(const struct flag_push_folder *folder,
			 const struct flag_step *step, struct yb_error *err)
{
	char key[IMAP_KEY_MAX];
	imap_key_format(key, folder->uidvalidity, step->uid);
	uint32_t base = step->from_base & pushed_flags(folder);
	if (step->half_done)
		base &= ~step->merge.push_remove;
	return state_set_flag_base(folder->state, folder->mailbox, key, base, err);
}

/* The STOREs, and each step settled on its answer; a NO is left in
   *refusal for after the sync. */
static int carry_out(const struct flag_push_folder *folder,
		     struct flag_plan *plan, struct flag_push_counts *counts,
		     struct yb_error *refusal, struct yb_error *err)
{
	int rc = store_all(folder, plan, refusal, err);
	for (size_t i = 0; rc == YB_OK && i < plan->len; i++) {
		struct flag_step *step = &plan->steps[i];
		bool pushes = (step->merge.push_add | step->merge.push_remove) != 0;
		if (step->refused) {
			counts->modified++;
			rc = close_refused(folder, step, err);
			continue;
		}
		rc = settle_step(folder, step, counts, err);
		if (rc == YB_OK && step->expunge)
			rc = note_expunge(counts, step->uid, err);
		counts->pushed += pushes;
		counts->deleted += (step->merge.push_add & SINK_FLAG_DELETED) != 0;
	}
	return rc;
}

/* The guard's verdict on the folder's deletions, before any record. */
static int guard_deletions(const struct flag_push_folder *folder,
			   struct flag_plan *plan, struct flag_push_counts *counts,
			   struct yb_error *err)
{
	const struct deletion_counts *tally = &plan->tally;
	switch (deletion_guard(tally, folder->force)) {
	case DELETIONS_GO:
		return YB_OK;
	case DELETIONS_WIPED:
		counts->wiped = true;
		plan_free(plan);
		return YB_OK;
	case DELETIONS_TOO_MANY:
		break;
	}
	return yb_fail(err, YB_ERR_IO, "account %s: folder %s: %zu of the %zu "
		       "messages yubin fetched there and the server still holds "
		       "are deleted locally (Maildir %s), more than %d and more "
		       "than 1/%d of them; nothing was deleted on the server and "
		       "the account stops here.  If that is what you meant, run "
		       "again with --force", folder->account, folder->shown,
		       tally->deleting, tally->known, folder->local_path,
		       DELETION_GUARD_MIN, DELETION_GUARD_SHARE);
}

int flag_push_folder(const struct flag_push_folder *folder,
		     const struct flag_seen *seen, size_t count,
		     struct flag_push_counts *counts, struct yb_error *err)
{
	struct flag_plan plan = { 0 };
	memset(counts, 0, sizeof(*counts));
	int rc = YB_OK;
	for (size_t i = 0; i < count && rc == YB_OK; i++)
		rc = plan_one(folder, &seen[i], &plan, counts, err);
	if (rc == YB_OK && folder->push_deletions)
		rc = guard_deletions(folder, &plan, counts, err);
	if (rc == YB_OK)
		rc = record_pushes(folder, &plan, err);
	/* Every push is durable before the first STORE. */
	if (rc == YB_OK)
		rc = state_sync(folder->state, err);
	if (rc == YB_OK && plan.len > 0)
		testhook_step("flag-intent");
	struct yb_error refusal = { 0 };
	if (rc == YB_OK)
		rc = carry_out(folder, &plan, counts, &refusal, err);
	if (rc == YB_OK)
		rc = state_sync(folder->state, err);
	if (rc == YB_OK && plan.len > 0)
		testhook_step("flag-base");
	plan_free(&plan);
	if (rc == YB_OK && refusal.status != YB_OK) {
		*err = refusal;
		rc = refusal.status;
	}
	return rc;
}
