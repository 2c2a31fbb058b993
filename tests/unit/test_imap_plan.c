/*
 * test_imap_plan.c - what the IMAP engine does with a folder: a table of
 * situations and the plan each must give, and every combination of the
 * inputs checked against the rules no plan may break.
 */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>

#include "imap_plan.h"

/* A folder fetched before (UIDVALIDITY 7, next UID 100, HIGHESTMODSEQ
   50) on a server with CONDSTORE and UIDPLUS, keep: true. */
static struct imap_plan_known known_before(void)
{
	struct imap_plan_known known = {
		.stored_validity = 7, .stored_uidnext = 100, .stored_modseq = 50,
		.keep = true, .sync_flags = SYNC_FLAGS_AUTO,
		.condstore = true, .uidplus = true,
	};
	return known;
}

/* ...which says nothing changed. */
static struct imap_plan_selected selected_same(void)
{
	struct imap_plan_selected selected = {
		.uidvalidity = 7, .uidnext = 100, .highestmodseq = 50, .exists = 10,
	};
	return selected;
}

/* The plan of a folder unchanged since, keep: true, and the others'
   differences from it. */
static struct imap_folder_plan plan_unchanged(void)
{
	struct imap_folder_plan plan = {
		.list_start = 100, .mirror_flags = true, .record_modseq = true,
	};
	return plan;
}

struct row {
	const char *name;
	struct imap_plan_known known;
	struct imap_plan_selected selected;
	struct imap_folder_plan plan;
};

#define SAME_FIELD(field)                                                      \
	do {                                                                   \
		if (got->field != want->field) {                               \
			print_error("%s: " #field " is %lld, not %lld\n", name,  \
				    (long long)got->field, (long long)want->field); \
			fail();                                                \
		}                                                              \
	} while (0)

static void expect_plan(const char *name, const struct imap_folder_plan *got,
			const struct imap_folder_plan *want)
{
	SAME_FIELD(validity_changed);
	SAME_FIELD(renumbered);
	SAME_FIELD(uidnext_stalled);
	SAME_FIELD(list);
	SAME_FIELD(list_start);
	SAME_FIELD(list_sizes);
	SAME_FIELD(count_only);
	SAME_FIELD(recognise_by_content);
	SAME_FIELD(mirror_flags);
	SAME_FIELD(flag_listing);
	SAME_FIELD(changed_since);
	SAME_FIELD(doom_delivered);
	SAME_FIELD(doom_fetched);
	SAME_FIELD(redo_expunging);
	SAME_FIELD(doom_aged);
	SAME_FIELD(delete_with);
	SAME_FIELD(forget_old_validity);
	SAME_FIELD(record_modseq);
	SAME_FIELD(restart_uidnext);
}

/* keep: false on a plan: what was delivered goes, with UID EXPUNGE. */
static void doom_all(struct imap_folder_plan *plan, enum imap_delete_with with)
{
	plan->doom_delivered = true;
	plan->doom_fetched = true;
	plan->redo_expunging = true;
	plan->delete_with = with;
}

static void test_plan_table(void **state)
{
	(void)state;
	struct row rows[40];
	size_t n = 0;
	struct row *r;

#define ROW(label)                                                             \
	r = &rows[n++];                                                        \
	r->name = (label);                                                     \
	r->known = known_before();                                             \
	r->selected = selected_same();                                         \
	r->plan = plan_unchanged()

	ROW("unchanged: one SELECT, no listing");

	ROW("new mail: listed from the stored UIDNEXT");
	r->selected.uidnext = 103;
	r->plan.list = true;

	ROW("same UIDNEXT, as many messages as left: no listing");
	r->known.exists_recorded = true;
	r->known.stored_exists = r->selected.exists;

	ROW("same UIDNEXT, fewer messages (expunged elsewhere): no listing");
	r->known.exists_recorded = true;
	r->known.stored_exists = r->selected.exists + 3;

	ROW("same UIDNEXT, more messages than left: listed all the same");
	r->known.exists_recorded = true;
	r->known.stored_exists = r->selected.exists - 1;
	r->plan.uidnext_stalled = true;
	r->plan.list = true;

	ROW("UIDNEXT not said: listed from the stored UIDNEXT");
	r->selected.uidnext = 0;
	r->plan.list = true;

	ROW("empty folder with new UIDNEXT: nothing to list");
	r->selected.uidnext = 103;
	r->selected.exists = 0;

	ROW("first run: from UID 1, recognising what the sink holds");
	r->known.stored_validity = 0;
	r->known.stored_uidnext = 0;
	r->known.stored_modseq = 0;
	r->plan = (struct imap_folder_plan){ .list = true, .list_start = 1,
					     .recognise_by_content = true,
					     .record_modseq = true };

	ROW("first run into an empty folder");
	r->known.stored_validity = 0;
	r->known.stored_uidnext = 0;
	r->known.stored_modseq = 0;
	r->selected.exists = 0;
	r->plan = (struct imap_folder_plan){ .list_start = 1,
					     .recognise_by_content = true,
					     .record_modseq = true };

	ROW("UIDVALIDITY changed: everything again, old keys forgotten");
	r->selected.uidvalidity = 8;
	r->plan = (struct imap_folder_plan){ .validity_changed = true, .list = true,
					     .list_start = 1,
					     .recognise_by_content = true,
					     .forget_old_validity = true,
					     .restart_uidnext = true };

	ROW("UIDVALIDITY changed, keep: false: doomed by delivery alone");
	r->known.keep = false;
	r->selected.uidvalidity = 8;
	r->plan = (struct imap_folder_plan){ .validity_changed = true, .list = true,
					     .list_start = 1,
					     .recognise_by_content = true,
					     .forget_old_validity = true,
					     .restart_uidnext = true };
	doom_all(&r->plan, DELETE_UID_EXPUNGE);

	ROW("UIDVALIDITY changed, delete_after_days: no age counts");
	r->known.delete_aged = true;
	r->selected.uidvalidity = 8;
	r->plan = (struct imap_folder_plan){ .validity_changed = true, .list = true,
					     .list_start = 1,
					     .recognise_by_content = true,
					     .forget_old_validity = true,
					     .restart_uidnext = true };

	ROW("UIDNEXT went back: from UID 1, recorded UIDs trusted for nothing");
	r->known.keep = false;
	r->selected.uidnext = 90;
	r->plan = (struct imap_folder_plan){ .renumbered = true, .list = true,
					     .list_start = 1,
					     .recognise_by_content = true,
					     .doom_fetched = true,
					     .delete_with = DELETE_UID_EXPUNGE,
					     .record_modseq = true };

	ROW("UIDNEXT went back, delete_after_days: nothing aged goes");
	r->known.delete_aged = true;
	r->selected.uidnext = 90;
	r->plan = (struct imap_folder_plan){ .renumbered = true, .list = true,
					     .list_start = 1,
					     .recognise_by_content = true,
					     .record_modseq = true };

	ROW("no UIDNEXT recorded: listed from 1, no flags below it");
	r->known.stored_uidnext = 0;
	r->known.sync_flags = SYNC_FLAGS_FULL;
	r->known.condstore = false;
	r->plan.list = true;
	r->plan.list_start = 1;
	r->plan.record_modseq = false;

	ROW("CONDSTORE, modseq moved: flag changes since the stored one");
	r->selected.highestmodseq = 60;
	r->plan.flag_listing = FLAG_LISTING_CHANGED_SINCE;
	r->plan.changed_since = 50;

	ROW("QRESYNC, modseq moved: the SELECT brought the changes");
	r->known.qresync = true;
	r->selected.highestmodseq = 60;

	ROW("CONDSTORE, nothing stored of modseq: no changes to ask");
	r->known.stored_modseq = 0;
	r->selected.highestmodseq = 60;

	ROW("CONDSTORE, sync_flags: off: no flag listing, modseq recorded");
	r->known.sync_flags = SYNC_FLAGS_OFF;
	r->selected.highestmodseq = 60;

	ROW("CONDSTORE, sync_flags: full, modseq moved: changes only");
	r->known.sync_flags = SYNC_FLAGS_FULL;
	r->selected.highestmodseq = 60;
	r->plan.flag_listing = FLAG_LISTING_CHANGED_SINCE;
	r->plan.changed_since = 50;

	ROW("NOMODSEQ folder, sync_flags: full: every flag listed");
	r->known.sync_flags = SYNC_FLAGS_FULL;
	r->selected.nomodseq = true;
	r->selected.highestmodseq = 0;
	r->plan.flag_listing = FLAG_LISTING_ALL;
	r->plan.record_modseq = false;

	ROW("no CONDSTORE, sync_flags: full: every flag listed");
	r->known.condstore = false;
	r->known.sync_flags = SYNC_FLAGS_FULL;
	r->plan.flag_listing = FLAG_LISTING_ALL;
	r->plan.record_modseq = false;

	ROW("no CONDSTORE, sync_flags: auto: no flag listing");
	r->known.condstore = false;
	r->plan.record_modseq = false;

	ROW("CONDSTORE with no HIGHESTMODSEQ said: as without it");
	r->known.sync_flags = SYNC_FLAGS_FULL;
	r->selected.highestmodseq = 0;
	r->plan.flag_listing = FLAG_LISTING_ALL;
	r->plan.record_modseq = false;

	ROW("keep: false: UID EXPUNGE");
	r->known.keep = false;
	doom_all(&r->plan, DELETE_UID_EXPUNGE);

	ROW("keep: false without UIDPLUS, expunge: all: EXPUNGE");
	r->known.keep = false;
	r->known.uidplus = false;
	r->known.expunge_all = true;
	doom_all(&r->plan, DELETE_EXPUNGE);

	ROW("keep: false without UIDPLUS: marked \\Deleted, with a warning");
	r->known.keep = false;
	r->known.uidplus = false;
	doom_all(&r->plan, DELETE_NO_UIDPLUS);

	ROW("keep: false, opened read-only: recorded for a later run");
	r->known.keep = false;
	r->selected.read_only = true;
	doom_all(&r->plan, DELETE_LATER);

	ROW("keep: false, read-only, no UIDPLUS: recorded (no STORE is sent)");
	r->known.keep = false;
	r->known.uidplus = false;
	r->selected.read_only = true;
	doom_all(&r->plan, DELETE_LATER);

	ROW("delete_after_days: the aged go");
	r->known.delete_aged = true;
	r->plan.doom_aged = true;
	r->plan.delete_with = DELETE_UID_EXPUNGE;

	ROW("keep: true, read-only (EXAMINE): nothing to delete");
	r->selected.read_only = true;

	ROW("max_size: sizes listed");
	r->known.max_size = true;
	r->selected.uidnext = 103;
	r->plan.list = true;
	r->plan.list_sizes = true;

	ROW("dry run: list and count, nothing else");
	r->known.dry_run = true;
	r->known.keep = false;
	r->selected.uidnext = 103;
	r->plan = (struct imap_folder_plan){ .list = true, .list_start = 100,
					     .count_only = true };

	ROW("dry run after a UIDVALIDITY change: counted from UID 1");
	r->known.dry_run = true;
	r->selected.uidvalidity = 8;
	r->plan = (struct imap_folder_plan){ .validity_changed = true, .list = true,
					     .list_start = 1, .count_only = true };
#undef ROW

	assert_true(n <= sizeof(rows) / sizeof(rows[0]));
	for (size_t i = 0; i < n; i++) {
		struct imap_folder_plan got = plan_folder(&rows[i].known,
							  &rows[i].selected);
		expect_plan(rows[i].name, &got, &rows[i].plan);
	}
}

static void test_open_plan(void **state)
{
	(void)state;
	struct imap_plan_known known = known_before();
	known.qresync = true;
	struct imap_open_plan open = plan_open(&known);
	assert_true(open.examine);
	assert_true(open.qresync_if_sink_keeps_flags);

	known.delete_aged = true;
	assert_false(plan_open(&known).examine);
	known.delete_aged = false;
	known.keep = false;
	assert_false(plan_open(&known).examine);
	known.keep = true;

	/* QRESYNC needs a stored UIDVALIDITY and HIGHESTMODSEQ to resume
	   from, and flags to mirror. */
	struct imap_plan_known without = known;
	without.stored_validity = 0;
	assert_false(plan_open(&without).qresync_if_sink_keeps_flags);
	without = known;
	without.stored_modseq = 0;
	assert_false(plan_open(&without).qresync_if_sink_keeps_flags);
	without = known;
	without.sync_flags = SYNC_FLAGS_OFF;
	assert_false(plan_open(&without).qresync_if_sink_keeps_flags);
	without = known;
	without.dry_run = true;
	assert_false(plan_open(&without).qresync_if_sink_keeps_flags);
	without = known;
	without.qresync = false;
	assert_false(plan_open(&without).qresync_if_sink_keeps_flags);
	without = known;
	without.sync_flags = SYNC_FLAGS_FULL;
	assert_true(plan_open(&without).qresync_if_sink_keeps_flags);
}

/* --- every combination --- */

/* The inputs that matter, one bit (or a few) each. */
enum bit {
	BIT_VALIDITY_KNOWN, BIT_VALIDITY_CHANGED, BIT_UIDNEXT_KNOWN,
	BIT_UIDNEXT_LOW, BIT_UIDNEXT_HIGH, /* both: not said */
	BIT_MODSEQ_KNOWN, BIT_MODSEQ_MOVED, BIT_MODSEQ_SAID, BIT_NOMODSEQ,
	BIT_EXISTS, BIT_READ_ONLY, BIT_KEEP, BIT_DELETE_AGED, BIT_MAX_SIZE,
	BIT_EXPUNGE_ALL, BIT_DRY_RUN, BIT_CONDSTORE, BIT_QRESYNC, BIT_UIDPLUS,
	BIT_SYNC_FULL, BIT_SYNC_OFF, /* both bits: sync_flags: both */
	BIT_EXISTS_RECORDED, BIT_EXISTS_GREW,
	BIT_COUNT
};

#define HAS(combo, bit) (((combo) >> (bit)) & 1u)

static void combination(uint32_t combo, struct imap_plan_known *known,
			struct imap_plan_selected *selected)
{
	const uint32_t stored_uidnext = 100;
	*known = (struct imap_plan_known){
		.stored_validity = HAS(combo, BIT_VALIDITY_KNOWN) ? 7 : 0,
		.stored_uidnext = HAS(combo, BIT_UIDNEXT_KNOWN) ? stored_uidnext : 0,
		.stored_modseq = HAS(combo, BIT_MODSEQ_KNOWN) ? 50 : 0,
		.keep = HAS(combo, BIT_KEEP),
		.delete_aged = HAS(combo, BIT_DELETE_AGED),
		.max_size = HAS(combo, BIT_MAX_SIZE),
		.expunge_all = HAS(combo, BIT_EXPUNGE_ALL),
		.dry_run = HAS(combo, BIT_DRY_RUN),
		.condstore = HAS(combo, BIT_CONDSTORE),
		.qresync = HAS(combo, BIT_QRESYNC),
		.uidplus = HAS(combo, BIT_UIDPLUS),
		.exists_recorded = HAS(combo, BIT_EXISTS_RECORDED),
		/* The folder holds 10 or none now. */
		.stored_exists = HAS(combo, BIT_EXISTS_GREW) ? 4 : 10,
	};
	bool full = HAS(combo, BIT_SYNC_FULL), off = HAS(combo, BIT_SYNC_OFF);
	known->sync_flags = full && off ? SYNC_FLAGS_BOTH :
			    full ? SYNC_FLAGS_FULL :
			    off ? SYNC_FLAGS_OFF : SYNC_FLAGS_AUTO;
	bool low = HAS(combo, BIT_UIDNEXT_LOW), high = HAS(combo, BIT_UIDNEXT_HIGH);
	uint32_t uidnext = low && high ? 0 : low ? stored_uidnext - 10 :
			   high ? stored_uidnext + 3 : stored_uidnext;
	uint64_t modseq = HAS(combo, BIT_MODSEQ_MOVED) ? 60 : 50;
	*selected = (struct imap_plan_selected){
		.uidvalidity = HAS(combo, BIT_VALIDITY_CHANGED) ? 8 : 7,
		.uidnext = uidnext,
		.highestmodseq = HAS(combo, BIT_MODSEQ_SAID) ? modseq : 0,
		.exists = HAS(combo, BIT_EXISTS) ? 10 : 0,
		.nomodseq = HAS(combo, BIT_NOMODSEQ),
		.read_only = HAS(combo, BIT_READ_ONLY),
	};
}

/* A rule every plan keeps; on a break, the combination that broke it. */
#define RULE(holds)                                                            \
	do {                                                                   \
		if (!(holds)) {                                                \
			print_error("combination %#x breaks: %s\n",            \
				    (unsigned)combo, #holds);                  \
			fail();                                                \
		}                                                              \
	} while (0)

static bool deletes(enum imap_delete_with with)
{
	return with == DELETE_UID_EXPUNGE || with == DELETE_EXPUNGE;
}

static void check_rules(uint32_t combo, const struct imap_plan_known *k,
			const struct imap_plan_selected *s,
			const struct imap_open_plan *open,
			const struct imap_folder_plan *p)
{
	bool first_run = !k->stored_validity;
	bool uids_moved = p->validity_changed || p->renumbered;
	/* What is opened with EXAMINE or read-only loses nothing. */
	RULE(!open->examine || p->delete_with == DELETE_NOTHING);
	RULE(!s->read_only || !deletes(p->delete_with));
	/* Even the mark-only STORE is refused on a read-only folder. */
	RULE(!s->read_only || p->delete_with != DELETE_NO_UIDPLUS);
	RULE(!(k->keep && !k->delete_aged) ||
	     (p->delete_with == DELETE_NOTHING && !p->doom_delivered &&
	      !p->doom_fetched && !p->redo_expunging && !p->doom_aged));
	RULE(p->delete_with != DELETE_UID_EXPUNGE || k->uidplus);
	RULE(p->delete_with != DELETE_EXPUNGE || (k->expunge_all && !k->uidplus));
	RULE(!k->keep || (!p->doom_delivered && !p->doom_fetched));
	/* A listing is never skipped when the UIDs changed meaning, and
	   starts from UID 1 then. */
	RULE(!p->list || s->exists > 0);
	RULE(!(uids_moved || first_run) || p->list_start == 1);
	RULE(!(uids_moved || first_run) || p->list == (s->exists > 0));
	RULE(p->validity_changed ==
	     (k->stored_validity && k->stored_validity != s->uidvalidity));
	RULE(p->list || s->exists == 0 ||
	     (!uids_moved && !first_run && s->uidnext == k->stored_uidnext));
	/* An unchanged UIDNEXT is not enough when the folder grew. */
	RULE(p->list || s->exists == 0 || !k->exists_recorded ||
	     s->exists <= k->stored_exists);
	RULE(!p->uidnext_stalled || (p->list && p->list_start == k->stored_uidnext));
	RULE(p->list_sizes == k->max_size);
	/* After the UIDs changed meaning, no recorded UID is trusted. */
	RULE(!uids_moved || (!p->mirror_flags && !p->doom_aged));
	/* Nor the set an interrupted run was deleting: its UIDs may name
	   other messages now. */
	RULE(!p->renumbered || (!p->doom_delivered && !p->redo_expunging));
	RULE(!p->validity_changed || !p->record_modseq);
	/* A dry run counts and writes nothing. */
	RULE(p->count_only == k->dry_run);
	RULE(!k->dry_run ||
	     (!open->qresync_if_sink_keeps_flags && !p->recognise_by_content &&
	      !p->mirror_flags && p->delete_with == DELETE_NOTHING &&
	      !p->doom_aged && !p->forget_old_validity && !p->record_modseq &&
	      !p->restart_uidnext));
	/* Otherwise mail that may be in the sink already is recognised, and
	   the old keys of a changed UIDVALIDITY forgotten. */
	RULE(k->dry_run || p->recognise_by_content == (uids_moved || first_run));
	RULE(k->dry_run || p->forget_old_validity == p->validity_changed);
	/* Flags: only below the listing, only when asked, one way. */
	RULE(p->flag_listing == FLAG_LISTING_NONE ||
	     (p->mirror_flags && p->list_start > 1 && k->sync_flags != SYNC_FLAGS_OFF));
	RULE(p->flag_listing != FLAG_LISTING_ALL || k->sync_flags == SYNC_FLAGS_FULL ||
	     k->sync_flags == SYNC_FLAGS_BOTH);
	/* sync_flags: both pushes only where it may write, lists every
	   flag to merge, and never mirrors alone (that would undo local
	   changes). */
	bool both = k->sync_flags == SYNC_FLAGS_BOTH;
	RULE(!p->push_flags ||
	     (both && !k->dry_run && !s->read_only && p->mirror_flags));
	RULE(!both || p->mirror_flags == p->push_flags);
	RULE(!both || !p->push_flags || p->list_start <= 1 ||
	     p->flag_listing == FLAG_LISTING_ALL);
	RULE(!both || !open->qresync_if_sink_keeps_flags);
	RULE(p->flag_listing != FLAG_LISTING_CHANGED_SINCE ||
	     (!k->qresync && p->changed_since == k->stored_modseq &&
	      p->changed_since != s->highestmodseq && k->condstore));
	RULE(!open->qresync_if_sink_keeps_flags ||
	     (k->qresync && k->stored_validity && k->stored_modseq &&
	      k->sync_flags != SYNC_FLAGS_OFF));
	RULE(open->examine == (k->keep && !k->delete_aged && (!both || k->dry_run)));
}

static void test_every_combination_keeps_the_rules(void **state)
{
	(void)state;
	unsigned long plans = 0;
	for (uint32_t combo = 0; combo < (1u << BIT_COUNT); combo++) {
		/* A changed UIDVALIDITY needs one stored, and the state
		   records UIDNEXT and HIGHESTMODSEQ only beside it. */
		bool stored = HAS(combo, BIT_VALIDITY_KNOWN);
		if (!stored && (HAS(combo, BIT_VALIDITY_CHANGED) ||
				HAS(combo, BIT_UIDNEXT_KNOWN) ||
				HAS(combo, BIT_MODSEQ_KNOWN)))
			continue;
		struct imap_plan_known known;
		struct imap_plan_selected selected;
		combination(combo, &known, &selected);
		struct imap_open_plan open = plan_open(&known);
		struct imap_folder_plan plan = plan_folder(&known, &selected);
		check_rules(combo, &known, &selected, &open, &plan);
		plans++;
	}
	/* Of the 16 ways to set the four record bits, 9 remain. */
	assert_int_equal(plans, 9u << (BIT_COUNT - 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_table),
		cmocka_unit_test(test_open_plan),
		cmocka_unit_test(test_every_combination_keeps_the_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
