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
 */
#include "config.h"

#include "fetch_pop3.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery.h"
#include "log.h"
#include "pop3.h"
#include "pop3_parse.h"
#include "progress.h"
#include "testhook.h"

#define POP3_MAILBOX "INBOX"
#define RETR_WINDOW 32
/* "UIDL #N" for the N-th copy of a repeated UIDL: a space never occurs in a UIDL. */
#define KEY_MAX (POP3_UIDL_MAX + 24)

/* One message of the listing, as the engine plans it. */
struct planned {
	const struct pop3_msg *msg;
	char key[KEY_MAX]; /* empty when the server has no UIDL */
};

struct pop3_run {
	const struct account *account;
	struct pop3 *pop3;
	struct state *state;
	struct delivery *delivery;
	struct fetch_report *report;

	/* Messages whose deletion is due, sent as DELEs before QUIT. */
	const struct planned **doomed;
	size_t doomed_len;
};

static int compare_by_uidl_then_msgno(const void *a, const void *b)
{
	const struct planned *pa = a, *pb = b;
	int order = strcmp(pa->msg->uidl, pb->msg->uidl);
	if (order != 0)
		return order;
	return pa->msg->msgno < pb->msg->msgno ? -1 : pa->msg->msgno > pb->msg->msgno;
}

static int compare_by_msgno(const void *a, const void *b)
{
	const struct planned *pa = a, *pb = b;
	return pa->msg->msgno < pb->msg->msgno ? -1 : pa->msg->msgno > pb->msg->msgno;
}

/*
 * Give every message its state key.  A server that repeats a UIDL must not
 * make yubin skip the second message, so the n-th copy (in message number
 * order) is keyed "UIDL #n".
 */
static void assign_keys(struct planned *plan, size_t count)
{
	if (count == 0 || !plan[0].msg->uidl) {
		for (size_t i = 0; i < count; i++)
			plan[i].key[0] = '\0';
		return;
	}
	qsort(plan, count, sizeof(*plan), compare_by_uidl_then_msgno);
	unsigned long copy = 0;
	for (size_t i = 0; i < count; i++) {
		bool repeat = i > 0 && strcmp(plan[i].msg->uidl, plan[i - 1].msg->uidl) == 0;
		copy = repeat ? copy + 1 : 1;
		if (copy == 1)
			snprintf(plan[i].key, sizeof(plan[i].key), "%s", plan[i].msg->uidl);
		else
			snprintf(plan[i].key, sizeof(plan[i].key), "%s #%lu",
				 plan[i].msg->uidl, copy);
	}
	qsort(plan, count, sizeof(*plan), compare_by_msgno);
}

static bool has_key(const struct planned *plan)
{
	return plan->key[0] != '\0';
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

/* The delivery calls this once a message's commit is durable. */
static void message_committed(void *ctx, void *item, uint64_t bytes)
{
	struct pop3_run *run = ctx;
	run->report->fetched++;
	run->report->fetched_bytes += bytes;
	if (!run->account->keep)
		run->doomed[run->doomed_len++] = item;
}

/* --- fetching --- */

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
	rc = pop3_read_retr(run->pop3, plan->msg->size, delivery_write_cb,
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
	progress_add(plan->msg->size);
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
		if (has_key(&plan[i]) && state_contains(run->state, POP3_MAILBOX, plan[i].key)) {
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

struct server_keys {
	const char **keys; /* sorted */
	size_t count;
};

static bool not_on_server(void *ctx, const char *key, time_t fetched_at)
{
	(void)fetched_at;
	const struct server_keys *server = ctx;
	return !bsearch(&key, server->keys, server->count, sizeof(*server->keys),
			compare_key_ptrs);
}

/*
 * Forget keys of messages the server no longer has (deleted by another
 * client), so the state does not grow forever.  Only called after a
 * complete UIDL listing.
 */
static int prune_gone(struct pop3_run *run, const struct planned *plan,
		      size_t count, size_t known_on_server, struct yb_error *err)
{
	if (state_count(run->state, POP3_MAILBOX) <= known_on_server)
		return YB_OK;
	struct server_keys server = { .count = count };
	server.keys = malloc((count ? count : 1) * sizeof(*server.keys));
	if (!server.keys)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < count; i++)
		server.keys[i] = plan[i].key;
	qsort(server.keys, count, sizeof(*server.keys), compare_key_ptrs);
	size_t gone = 0;
	int rc = state_forget_where(run->state, POP3_MAILBOX, not_on_server, &server,
				    &gone, err);
	if (rc == YB_OK && gone > 0) {
		log_debug("forgot %zu messages no longer on the server", gone);
		rc = state_sync(run->state, err);
	}
	free(server.keys);
	return rc;
}

static size_t count_known(const struct pop3_run *run, const struct planned *plan,
			  size_t count)
{
	size_t known = 0;
	for (size_t i = 0; i < count; i++)
		if (has_key(&plan[i]) && state_contains(run->state, POP3_MAILBOX, plan[i].key))
			known++;
	return known;
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
	int rc = pop3_list(run->pop3, &msgs, &count, err);
	if (rc != YB_OK)
		return rc;
	run->report->on_server = count;
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
	assign_keys(plan, count);
	size_t todo_len = plan_fetch(run, plan, count, todo);
	if (dry_run) {
		run->doomed_len = 0;
		rc = pop3_quit(run->pop3, err);
		goto out;
	}
	if (pop3_has_uidl(run->pop3)) {
		rc = prune_gone(run, plan, count, count_known(run, plan, count), err);
		if (rc != YB_OK)
			goto out;
	}
	log_info("%zu messages on %s, %zu new", count, run->account->host,
		 run->report->new_messages);
	progress_start(run->account->name, todo_len);
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
	free(plan);
	pop3_free_msgs(msgs, count);
	return rc;
}

int fetch_pop3(const struct account *account, const char *password,
	       struct state *state, struct sink *sink, bool dry_run,
	       struct fetch_report *report, struct yb_error *err)
{
	struct pop3_run *run = calloc(1, sizeof(*run));
	if (!run)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	run->account = account;
	run->state = state;
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
		rc = pop3_connect(account, password, &run->pop3, err);
	if (rc == YB_OK)
		rc = run_session(run, dry_run, err);
	pop3_close(run->pop3);
	delivery_free(run->delivery);
	free(run);
	return rc;
}
