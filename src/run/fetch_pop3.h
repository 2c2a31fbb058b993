/*
 * fetch_pop3.h - the POP3 part of a run: list, fetch new messages into
 * the sink in durable batches, delete on the server what may go.
 */
#ifndef YUBIN_FETCH_POP3_H
#define YUBIN_FETCH_POP3_H

#include <stdbool.h>

#include "account.h"
#include "error.h"
#include "fetch_report.h"
#include "sink.h"
#include "state.h"

/*
 * state is open (read-only for a dry run), its intents already resolved;
 * sink is NULL for a dry run.  Neither is owned.  *secret is what the
 * session logs in with (a password or an OAuth2 access token, malloc'd),
 * or NULL; it is wiped with secret_free() and set to NULL as soon as the
 * login is over, succeeded or refused, so it does not live on through
 * the fetch.
 * A listing that looks renumbered (every known UIDL replaced) is
 * YB_ERR_PROTOCOL unless options->accept_new_uidls.
 */
int fetch_pop3(const struct account *account, char **secret,
	       struct state *state, struct sink *sink,
	       const struct fetch_options *options,
	       struct fetch_report *report, struct yb_error *err);

#endif
