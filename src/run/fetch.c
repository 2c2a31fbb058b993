/*
 * fetch.c - one account's run, in the order DESIGN.md gives: lock and
 * open the state, open the sink, settle what a crashed run left, fetch.
 */
#include "config.h"

#include "fetch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch_imap.h"
#include "fetch_pop3.h"
#include "grow.h"
#include "log.h"
#include "maildir.h"
#include "mbox.h"
#include "mda.h"
#include "session.h"
#include "sink.h"
#include "state.h"

/* The sinks of a run, one per local path, opened on first use. */
struct sink_cache {
	const struct account *account;
	struct cached_sink {
		char *path;
		struct sink *sink;
	} *items;
	size_t count, cap;
};

static int open_new_sink(const struct account *account, const char *path,
			 struct sink **out, struct yb_error *err)
{
	if (account->deliver == DELIVER_MBOX)
		return mbox_open(path, out, err);
	if (account->deliver == DELIVER_MDA) {
		struct mda_vars vars = { .user = account->user, .account = account->name };
		return mda_open(account->deliver_target, &vars, 0, out, err);
	}
	return maildir_open(path, out, err);
}

static int cached_sink(void *ctx, const char *path, struct sink **out,
		       struct yb_error *err)
{
	struct sink_cache *cache = ctx;
	for (size_t i = 0; i < cache->count; i++)
		if (strcmp(cache->items[i].path, path) == 0) {
			*out = cache->items[i].sink;
			return YB_OK;
		}
	struct cached_sink *grown = grow_array(cache->items, &cache->cap,
					       cache->count + 1, sizeof(*grown), 4);
	if (!grown)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	cache->items = grown;
	char *copy = strdup(path);
	if (!copy)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	int rc = open_new_sink(cache->account, path, out, err);
	if (rc != YB_OK) {
		free(copy);
		return rc;
	}
	cache->items[cache->count].path = copy;
	cache->items[cache->count].sink = *out;
	cache->count++;
	return YB_OK;
}

static void close_sinks(struct sink_cache *cache)
{
	for (size_t i = 0; i < cache->count; i++) {
		sink_close(cache->items[i].sink);
		free(cache->items[i].path);
	}
	free(cache->items);
}

/* The local path an intent's mailbox delivers to. */
static const char *path_of_mailbox(const struct account *account,
				   const struct state *state, const char *mailbox)
{
	if (account->protocol == PROTOCOL_IMAP) {
		const char *path = state_get_meta(state, mailbox, "path");
		if (path)
			return path;
	}
	return account->deliver_target;
}

/*
 * A crashed run may have left intents: each names a message that was
 * durable in the sink's temporary place and maybe published.  Ask the
 * sink which, and commit or drop accordingly, before anything is fetched.
 */
static int resolve_intents(const struct account *account, struct state *state,
			   struct sink_cache *sinks, struct fetch_report *report,
			   struct yb_error *err)
{
	const struct state_intent *intents;
	size_t count = state_open_intents(state, &intents);
	if (count == 0)
		return YB_OK;
	/* Copy: committing or dropping invalidates the intents array. */
	struct state_intent *copy = calloc(count, sizeof(*copy));
	char **strings = calloc(count * 3, sizeof(*strings));
	int rc = YB_OK;
	if (!copy || !strings) {
		rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		strings[3 * i] = strdup(intents[i].mailbox);
		strings[3 * i + 1] = strdup(intents[i].key);
		strings[3 * i + 2] = strdup(intents[i].dest);
		if (!strings[3 * i] || !strings[3 * i + 1] || !strings[3 * i + 2]) {
			rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
			goto out;
		}
		copy[i].mailbox = strings[3 * i];
		copy[i].key = strings[3 * i + 1];
		copy[i].dest = strings[3 * i + 2];
	}
	time_t now = time(NULL);
	for (size_t i = 0; i < count && rc == YB_OK; i++) {
		bool present = false;
		struct sink *sink;
		rc = cached_sink(sinks, path_of_mailbox(account, state, copy[i].mailbox),
				 &sink, err);
		if (rc == YB_OK)
			rc = sink_resolve(sink, copy[i].dest, &present, err);
		if (rc != YB_OK)
			break;
		if (present) {
			rc = state_commit(state, copy[i].mailbox, copy[i].key, now, err);
			report->recovered++;
			log_info("recovered %s from an interrupted run", copy[i].dest);
		} else {
			rc = state_drop_intent(state, copy[i].mailbox, copy[i].key, err);
			if (sink_has_outcomes(sink))
				log_warn("%s: message %s was being handed to the MDA when an "
					 "earlier run stopped; whether the MDA delivered it is "
					 "unknown, so it is fetched again and may arrive twice",
					 copy[i].mailbox, copy[i].key);
			else
				log_debug("interrupted delivery of %s rolled back", copy[i].dest);
		}
	}
	if (rc == YB_OK)
		rc = state_sync(state, err);
out:
	if (strings)
		for (size_t i = 0; i < count * 3; i++)
			free(strings[i]);
	free(strings);
	free(copy);
	return rc;
}

/* What a fetch's session needs besides the secret. */
struct fetch_session {
	const struct fetch_options *options;
	struct state *state;
	struct sink_cache *sinks;
	struct fetch_report *report;
};

/*
 * One session with *secret (see imap_connect) from login to logout.  The
 * session wipes and frees *secret as soon as its login is over and sets
 * it to NULL (session.h).
 */
static int fetch_with_secret(void *ctx, const struct account *account,
			     char **secret, struct yb_error *err)
{
	struct fetch_session *session = ctx;
	if (account->protocol == PROTOCOL_IMAP)
		return fetch_imap(account, secret, session->state, cached_sink,
				  session->sinks, session->options,
				  session->report, err);
	struct sink *sink = NULL;
	int rc = YB_OK;
	if (!session->options->dry_run)
		rc = cached_sink(session->sinks, account->deliver_target, &sink,
				 err);
	if (rc == YB_OK)
		rc = fetch_pop3(account, secret, session->state, sink,
				session->options, session->report, err);
	return rc;
}

int fetch_account(const struct account *account,
		  const struct fetch_options *options,
		  struct fetch_report *report, struct yb_error *err)
{
	memset(report, 0, sizeof(*report));
	int rc = YB_OK;

	if (!account->tls_verify && account->tls != TLS_NONE)
		log_warn("tls_verify is false: the certificate of %s is not checked%s",
			 account->host, account->tls_pin_count > 0
			 ? " (only its pinned fingerprint is, not its name; a "
			   "matching tls_fingerprint is trusted without it: "
			   "remove tls_verify: false)"
			 : "; anyone in the middle can read the password and the mail");
	struct state *state = NULL;
	struct sink_cache sinks = { .account = account };
	rc = state_open(account->state_dir, account->name, options->dry_run,
			&state, err);
	if (rc != YB_OK)
		return rc;
	if (!options->dry_run)
		rc = resolve_intents(account, state, &sinks, report, err);
	struct fetch_session session = { .options = options, .state = state,
					 .sinks = &sinks, .report = report };
	if (rc == YB_OK)
		rc = session_run(account, fetch_with_secret, &session, NULL, err);
	close_sinks(&sinks);
	if (rc == YB_OK) {
		rc = state_close(state, err);
	} else {
		/* Keep the first error; the state's records are already synced. */
		struct yb_error close_err;
		if (state_close(state, &close_err) != YB_OK)
			log_warn("%s", close_err.msg);
	}
	return rc;
}
