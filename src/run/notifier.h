/*
 * notifier.h - the connections --watch keeps to hear of new mail.  Where
 * the server offers NOTIFY (RFC 5465), one connection for all of the
 * account's folders: NOTIFY SET names them, nothing is selected, and it
 * waits in IDLE for STATUS responses.  Otherwise, or when the server
 * refuses NOTIFY SET, one per IMAP folder: each EXAMINEs its folder
 * (read-only, so it changes no \Recent or \Seen) and waits in IDLE.
 * They fetch nothing: the watch runs fetch_account when one hears news.
 *
 * A set belongs to one account.  notifier_set_open logs in as a fetch
 * does (the password, or the OAuth2 access token, refreshed once when
 * the server refuses a cached one; a new one whatever the cache holds
 * when new_token), notes when that token expires, resolves the
 * account's folders with LIST, and opens the NOTIFY notifier or one for
 * each of the first
 * NOTIFIERS_MAX; without NOTIFY, folders beyond, a server without IDLE
 * and folders the server will not EXAMINE leave set->polled true: the
 * watch polls the account.
 *
 * Errors are the session's (imap.h, imap_idle.h) and name the host and
 * folder; YB_ERR_AUTH and YB_ERR_CONFIG are the account's to fix.
 */
#ifndef YUBIN_NOTIFIER_H
#define YUBIN_NOTIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "error.h"
#include "imap.h"
#include "imap_idle.h"

/* Connections kept per account: servers cap them per user (Dovecot's
   mail_max_userip_connections is 10 by default), and a fetch needs one
   more while it runs. */
#define NOTIFIERS_MAX 8

struct notifier {
	char *quoted;               /* the folder, quoted for EXAMINE; owned;
				       NULL for the NOTIFY notifier */
	char shown[256];            /* its name for messages */
	struct imap *imap;          /* owned; NULL once closed */
	struct imap_idle_news news; /* what the server said since cleared */
	int64_t idle_since_ms;      /* when IDLE was last started */
};

struct notifier_set {
	struct notifier *items;     /* owned, count of them */
	size_t count;
	bool polled;                /* some folders have no notifier */
	bool notify;                /* one notifier, NOTIFY: all folders */
	bool notify_refused;        /* the server offered NOTIFY, then
				       refused NOTIFY SET: refusal says why */
	char refusal[512];
	int64_t token_expires_at;   /* OAuth2: the expiry of the token the
				       set logged in with, unix seconds;
				       0 unknown (or not OAuth2) */
};

/* Open the account's notifiers; on failure the set is empty. */
int notifier_set_open(const struct account *account, bool new_token,
		      struct notifier_set *set, struct yb_error *err);

/* Read what n's server sent (poll said its socket is readable, or
   imap_idle_buffered); news accumulates in n->news. */
int notifier_read(struct notifier *n, struct yb_error *err);

/* DONE, then IDLE again: before the server's 30-minute limit. */
int notifier_reidle(struct notifier *n, struct yb_error *err);

/* Close every notifier; polite: DONE and LOGOUT first (bounded by the
   account's timeout), else just hang up (a broken connection). */
void notifier_set_close(struct notifier_set *set, bool polite);

#endif
