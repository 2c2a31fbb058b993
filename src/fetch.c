/*
 * fetch.c - one account's run, in the order DESIGN.md gives: lock and
 * open the state, open the sink, settle what a crashed run left, fetch.
 */
#include "config.h"

#include "fetch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch_pop3.h"
#include "log.h"
#include "maildir.h"
#include "secret.h"
#include "sink.h"
#include "state.h"

static int check_supported(const struct account *account, struct yb_error *err)
{
	if (account->protocol != PROTOCOL_POP3)
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s:%u: account %s: protocol imap is not supported by "
			       "this version of yubin (only pop3)",
			       account->mark.file, account->mark.line, account->name);
	if (account->deliver != DELIVER_MAILDIR)
		return yb_fail(err, YB_ERR_CONFIG,
			       "%s:%u: account %s: only deliver: maildir is supported "
			       "by this version of yubin",
			       account->mark.file, account->mark.line, account->name);
	return YB_OK;
}

/*
 * A crashed run may have left intents: each names a message that was
 * durable in the sink's temporary place and maybe published.  Ask the
 * sink which, and commit or drop accordingly, before anything is fetched.
 */
static int resolve_intents(struct state *state, struct sink *sink,
			   struct fetch_report *report, struct yb_error *err)
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
		rc = sink_resolve(sink, copy[i].dest, &present, err);
		if (rc != YB_OK)
			break;
		if (present) {
			rc = state_commit(state, copy[i].mailbox, copy[i].key, now, err);
			report->recovered++;
			log_info("recovered %s from an interrupted run", copy[i].dest);
		} else {
			rc = state_drop_intent(state, copy[i].mailbox, copy[i].key, err);
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

static int open_sink(const struct account *account, struct sink **out,
		     struct yb_error *err)
{
	return maildir_open(account->deliver_target, out, err);
}

int fetch_account(const struct account *account,
		  const struct fetch_options *options,
		  struct fetch_report *report, struct yb_error *err)
{
	memset(report, 0, sizeof(*report));
	int rc = check_supported(account, err);
	if (rc != YB_OK)
		return rc;

	if (!account->tls_verify && account->tls != TLS_NONE)
		log_warn("tls_verify is false: the certificate of %s is not checked%s",
			 account->host, account->has_tls_fingerprint
			 ? " (only its pinned fingerprint is)"
			 : "; anyone in the middle can read the password and the mail");
	struct state *state = NULL;
	struct sink *sink = NULL;
	char *password = NULL;
	rc = state_open(account->state_dir, account->name, options->dry_run,
			&state, err);
	if (rc != YB_OK)
		return rc;
	if (!options->dry_run) {
		rc = open_sink(account, &sink, err);
		if (rc == YB_OK)
			rc = resolve_intents(state, sink, report, err);
	}
	if (rc == YB_OK && account->password_source != PASSWORD_NONE)
		rc = secret_get_password(account, &password, err);
	if (rc == YB_OK)
		rc = fetch_pop3(account, password, state, sink, options->dry_run,
				report, err);
	secret_free(password);
	sink_close(sink);
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
