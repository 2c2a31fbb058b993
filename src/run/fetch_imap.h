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
 * dry run, options->dry_run).  *secret is what the session logs in with (a password or an
 * OAuth2 access token, malloc'd), or NULL; it is wiped with secret_free()
 * and set to NULL as soon as the login is over, succeeded or refused, so
 * it does not live on through the fetch.
 */
int fetch_imap(const struct account *account, char **secret,
	       struct state *state, fetch_sink_fn *open_sink, void *sink_ctx,
	       const struct fetch_options *options, struct fetch_report *report,
	       struct yb_error *err);

struct imap;

/* A folder of the account as the server names it, for --watch. */
struct fetch_imap_folder {
	char *quoted;        /* for EXAMINE: imap_quote_mailbox'd, malloc'd */
	char shown[256];     /* UTF-8, sanitized for messages */
};

/*
 * The account's folders (patterns resolved with LIST, as a fetch does)
 * on a logged-in session.  *out is malloc'd, *count entries; release it
 * with fetch_imap_folders_free.  Errors as the session's.
 */
int fetch_imap_folders(const struct account *account, struct imap *imap,
		       struct fetch_imap_folder **out, size_t *count,
		       struct yb_error *err);
void fetch_imap_folders_free(struct fetch_imap_folder *folders, size_t count);

#endif
