/*
 * fetch_imap.h - the IMAP part of a run: resolve folders, and for each
 * fetch what is new into its sink in durable batches, mirror flag
 * changes, delete on the server what may go.
 */
#ifndef YUBIN_FETCH_IMAP_H
#define YUBIN_FETCH_IMAP_H

#include <stdbool.h>

#include "account.h"
#include "error.h"
#include "fetch_report.h"
#include "sink.h"
#include "state.h"

/* Opens (or returns an already open) sink for a local path; not owned. */
typedef int fetch_sink_fn(void *ctx, const char *path, struct sink **out,
			  struct yb_error *err);

/*
 * state is open (read-only for a dry run) with its intents resolved.
 * open_sink gives the sink for a folder's local path (never called in a
 * dry run).  *secret is what the session logs in with (a password or an
 * OAuth2 access token, malloc'd), or NULL; it is wiped with secret_free()
 * and set to NULL as soon as the login is over, succeeded or refused, so
 * it does not live on through the fetch.
 */
int fetch_imap(const struct account *account, char **secret,
	       struct state *state, fetch_sink_fn *open_sink, void *sink_ctx,
	       bool dry_run, struct fetch_report *report, struct yb_error *err);

#endif
