/*
 * watch.h - yubin --watch: fetch, then stay and fetch again as new mail
 * arrives, until stopped.
 *
 * Each account is fetched once (fetch_account, the one fetch path), then
 * an IMAP account keeps its notifiers (notifier.h: one connection with
 * NOTIFY, else one per folder) and is fetched again when one hears of
 * new mail; events that come while a fetch runs make one more fetch, not
 * one each.  A POP3 account, an IMAP server without IDLE and, without
 * NOTIFY, folders beyond NOTIFIERS_MAX are fetched every poll_interval
 * seconds.  IDLE is renewed every WATCH_REIDLE_SEC (servers may end it
 * after 30 minutes) and a fetch follows, as it follows every reconnect.
 * An OAuth2 account logs its notifiers in afresh at each renewal
 * instead, so that no session outlives its token, and with a new token
 * shortly before the one in use expires, when its expiry is known.
 *
 * A lost connection or a failed fetch that may succeed later is tried
 * again with backoff (backoff.h), one warning when it starts failing and
 * one note when it works again.  A failure only the user can fix
 * (YB_ERR_CONFIG, YB_ERR_AUTH) stops watching that account; the others
 * go on.  SIGINT, SIGTERM and SIGHUP stop the watch in order: a fetch
 * running finishes its message and records it, the notifiers end IDLE
 * and log out.
 */
#ifndef YUBIN_WATCH_H
#define YUBIN_WATCH_H

#include <stddef.h>

#include "account.h"
#include "error.h"
#include "fetch_report.h"

/* Renew IDLE this often: under RFC 2177's 29 minutes. */
#define WATCH_REIDLE_SEC (25 * 60)

/* What the watch tells its caller after each fetch (for -v and --json):
   why it ran ("start", "new mail", "poll", "reconnect", "renew", "retry"),
   how it ended, and how long it took. */
struct watch_fetch {
	const struct account *account;
	const char *trigger;
	enum yb_status status;
	const char *message;             /* err text; "" on success */
	const struct fetch_report *report;
	int64_t elapsed_ms;
};

typedef void watch_report_fn(void *ctx, const struct watch_fetch *fetch);

/*
 * Watch the accounts until a stop signal (YB_OK) or until every one has
 * stopped on a failure only its user can fix (the worst of those).
 * report, if not NULL, is called after every fetch.
 */
enum yb_status watch_accounts(const struct account *const *accounts,
			      size_t count, watch_report_fn *report, void *ctx);

#endif
