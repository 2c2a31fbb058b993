/* watch.c - yubin --watch: the loop, the timers, backoff, stopping. */
#include "config.h"

#include "watch.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "fetch.h"
#include "log.h"
#include "notifier.h"
#include "runstop.h"
#include "testhook.h"

#define NEVER INT64_MAX
/* The loop looks at its timers at least this often. */
#define WAKE_MAX_MS 60000
/* How long before an OAuth2 token expires the watch logs in afresh (a
   fifth of the token's time, within these bounds; token_renew_at). */
#define TOKEN_MARGIN_MIN_MS 5000
#define TOKEN_MARGIN_MAX_MS (5 * 60 * 1000)
#define TOKEN_RENEW_MIN_MS 5000

/* One account under watch. */
struct watched {
	const struct account *account;
	bool stopped;              /* a failure only the user can fix */
	enum yb_status status;     /* why it stopped */
	struct notifier_set set;   /* IMAP: open while connected */
	bool connected;
	bool fetch_due;
	const char *trigger;       /* why the next fetch runs */
	int64_t next_poll_ms;      /* NEVER: not polled */
	int64_t retry_at_ms;       /* backoff: nothing before this */
	unsigned failures;         /* in a row */
	bool failing;              /* warned; say so when it works again */
	bool told_notify;          /* noted how its folders are watched */
	int64_t token_renew_ms;    /* OAuth2: log in afresh with a new token
				      at this time; NEVER: no known expiry */
	bool new_token;            /* the next connect refreshes the token */
};

struct watch {
	struct watched *items;
	size_t count;
	watch_report_fn *report;
	void *report_ctx;
	int64_t reidle_ms;
	uint32_t random;           /* xorshift state for the jitter */
	struct pollfd *fds;        /* one per notifier, rebuilt each turn */
	struct notifier **fd_notifier;
	struct watched **fd_watched;
	size_t fd_cap;
};

static uint32_t next_random(struct watch *w)
{
	uint32_t x = w->random;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	w->random = x ? x : 2463534242u;
	return w->random;
}

static int64_t poll_interval_ms(const struct account *account)
{
	/* A test may shorten it; the account file cannot go below 10 s. */
	size_t seconds = testhook_limit("YUBIN_TEST_POLL_INTERVAL",
					account->poll_interval);
	return (int64_t)seconds * 1000;
}

static bool is_permanent(enum yb_status status)
{
	return status == YB_ERR_CONFIG || status == YB_ERR_AUTH ||
	       status == YB_ERR_USAGE;
}

/* A failure: stop the account, or try again after a backoff. */
static void note_failure(struct watch *w, struct watched *wa,
			 const struct yb_error *err)
{
	const char *name = wa->account->name;
	if (is_permanent(err->status)) {
		log_error("%s; no longer watching account %s", err->msg, name);
		wa->stopped = true;
		wa->status = err->status;
		notifier_set_close(&wa->set, true);
		wa->connected = false;
		return;
	}
	wa->failures++;
	int64_t delay = backoff_delay_ms(wa->failures, next_random(w));
	wa->retry_at_ms = clock_now_ms() + delay;
	if (!wa->failing)
		log_warn("%s; account %s: trying again, waiting longer after "
			 "each failure (at most %d minutes)", err->msg, name,
			 BACKOFF_MAX_MS / 60000);
	else
		log_debug("%s; trying again in %lld ms", err->msg,
			  (long long)delay);
	wa->failing = true;
}

static void note_success(struct watched *wa)
{
	if (wa->failing)
		log_info("account %s: %s answers again", wa->account->name,
			 wa->account->host);
	wa->failing = false;
	wa->failures = 0;
	wa->retry_at_ms = 0;
}

static void want_fetch(struct watched *wa, const char *trigger)
{
	if (!wa->fetch_due)
		wa->trigger = trigger;
	wa->fetch_due = true;
}

/* A notifier's connection broke: close them all, connect again later. */
static void drop_connection(struct watch *w, struct watched *wa,
			    const struct yb_error *err)
{
	notifier_set_close(&wa->set, false);
	wa->connected = false;
	note_failure(w, wa, err);
}

/* Once per account (not at each reconnect): NOTIFY, or why not. */
static void note_notify(struct watched *wa)
{
	const struct notifier_set *set = &wa->set;
	if (wa->told_notify || (!set->notify && !set->notify_refused))
		return;
	wa->told_notify = true;
	if (set->notify)
		log_info("account %s: %s offers NOTIFY: one connection waits "
			 "for news of every folder", wa->account->name,
			 wa->account->host);
	else
		log_info("account %s: %s refused NOTIFY (%s); waiting with IDLE "
			 "on each folder instead (at most %d)", wa->account->name,
			 wa->account->host, set->refusal, NOTIFIERS_MAX);
}

/*
 * When to log in afresh before the token expires: a fifth of its time
 * left, at least TOKEN_MARGIN_MIN_MS and at most TOKEN_MARGIN_MAX_MS
 * before, and never sooner than TOKEN_RENEW_MIN_MS from now, so that a
 * server handing out tokens of a few seconds is not asked in a loop.
 */
static int64_t token_renew_at(int64_t expires_at, int64_t now_ms)
{
	if (expires_at <= 0)
		return NEVER;
	int64_t now_s = (int64_t)time(NULL);
	int64_t left_ms = expires_at > now_s ? (expires_at - now_s) * 1000 : 0;
	int64_t margin = left_ms / 5;
	margin = margin < TOKEN_MARGIN_MIN_MS ? TOKEN_MARGIN_MIN_MS : margin;
	margin = margin > TOKEN_MARGIN_MAX_MS ? TOKEN_MARGIN_MAX_MS : margin;
	int64_t wait = left_ms - margin;
	return now_ms + (wait > TOKEN_RENEW_MIN_MS ? wait : TOKEN_RENEW_MIN_MS);
}

static void connect_account(struct watch *w, struct watched *wa)
{
	struct yb_error err;
	yb_error_clear(&err);
	log_set_account(wa->account->name);
	int rc = notifier_set_open(wa->account, wa->new_token, &wa->set, &err);
	log_set_account(NULL);
	if (rc != YB_OK) {
		note_failure(w, wa, &err);
		return;
	}
	wa->new_token = false;
	wa->token_renew_ms = token_renew_at(wa->set.token_expires_at,
					    clock_now_ms());
	note_notify(wa);
	bool first = wa->trigger == NULL;
	wa->connected = true;
	wa->next_poll_ms = wa->set.polled
		? clock_now_ms() + poll_interval_ms(wa->account) : NEVER;
	/* What came while no notifier listened is fetched now. */
	want_fetch(wa, first ? "start" : "reconnect");
}

static void run_fetch(struct watch *w, struct watched *wa)
{
	struct fetch_options options = { .dry_run = false };
	struct fetch_report report;
	struct yb_error err;
	yb_error_clear(&err);
	const char *trigger = wa->trigger ? wa->trigger : "start";
	wa->fetch_due = false;
	log_set_account(wa->account->name);
	int64_t started = clock_now_ms();
	int rc = fetch_account(wa->account, &options, &report, &err);
	struct watch_fetch done = {
		.account = wa->account, .trigger = trigger,
		.status = (enum yb_status)rc, .message = err.msg,
		.report = &report, .elapsed_ms = clock_now_ms() - started,
	};
	if (w->report)
		w->report(w->report_ctx, &done);
	log_set_account(NULL);
	wa->trigger = "new mail";
	if (rc == YB_OK) {
		note_success(wa);
	} else if (!run_stopping()) {
		want_fetch(wa, "retry");
		note_failure(w, wa, &err);
	}
	if (wa->next_poll_ms != NEVER)
		wa->next_poll_ms = clock_now_ms() + poll_interval_ms(wa->account);
}

/* Close the notifiers to log in again at once; the fetch that follows
   every connect takes what came meanwhile. */
static void log_in_afresh(struct watched *wa)
{
	notifier_set_close(&wa->set, true);
	wa->connected = false;
	want_fetch(wa, "renew");
}

/* Renew IDLE where it has run WATCH_REIDLE_SEC; with an OAuth2 token,
   log in afresh instead, so that no session outlives its token, and
   with a new token before the one in use expires. */
static void renew_idle(struct watch *w, struct watched *wa, int64_t now)
{
	if (wa->connected && now >= wa->token_renew_ms) {
		log_info("account %s: the OAuth2 access token expires in %lld s; "
			 "logging in afresh with a new one", wa->account->name,
			 (long long)(wa->set.token_expires_at - (int64_t)time(NULL)));
		wa->new_token = true;
		log_in_afresh(wa);
		return;
	}
	for (size_t i = 0; wa->connected && i < wa->set.count; i++) {
		struct notifier *n = &wa->set.items[i];
		if (now - n->idle_since_ms < w->reidle_ms)
			continue;
		if (wa->account->has_oauth2) {
			log_in_afresh(wa);
			return;
		}
		struct yb_error err;
		yb_error_clear(&err);
		if (notifier_reidle(n, &err) != YB_OK) {
			drop_connection(w, wa, &err);
			return;
		}
		want_fetch(wa, "renew");
	}
}

/* Whatever is due for one account now: connect, poll, renew, fetch. */
static void tend(struct watch *w, struct watched *wa)
{
	int64_t now = clock_now_ms();
	if (wa->stopped || now < wa->retry_at_ms)
		return;
	if (wa->account->protocol == PROTOCOL_IMAP && !wa->connected) {
		connect_account(w, wa);
		if (!wa->connected)
			return;
	}
	if (wa->next_poll_ms != NEVER && now >= wa->next_poll_ms)
		want_fetch(wa, "poll");
	renew_idle(w, wa, now);
	bool can_fetch = wa->account->protocol != PROTOCOL_IMAP || wa->connected;
	if (wa->fetch_due && can_fetch && !run_stopping())
		run_fetch(w, wa);
}

/* When the loop must look again at one account, at the latest. */
static int64_t next_wake(const struct watch *w, const struct watched *wa)
{
	if (wa->stopped)
		return NEVER;
	bool idle_account = wa->account->protocol == PROTOCOL_IMAP;
	if (wa->fetch_due || (idle_account && !wa->connected))
		return wa->retry_at_ms;
	int64_t wake = wa->next_poll_ms;
	if (wa->connected && wa->token_renew_ms < wake)
		wake = wa->token_renew_ms;
	for (size_t i = 0; i < wa->set.count; i++) {
		int64_t renew = wa->set.items[i].idle_since_ms + w->reidle_ms;
		wake = renew < wake ? renew : wake;
	}
	return wake;
}

static int grow_fds(struct watch *w, size_t wanted)
{
	if (wanted <= w->fd_cap)
		return 0;
	size_t cap = wanted + 8;
	struct pollfd *fds = realloc(w->fds, cap * sizeof(*fds));
	if (fds)
		w->fds = fds;
	struct notifier **owners = realloc(w->fd_notifier, cap * sizeof(*owners));
	if (owners)
		w->fd_notifier = owners;
	struct watched **accounts = realloc(w->fd_watched, cap * sizeof(*accounts));
	if (accounts)
		w->fd_watched = accounts;
	if (!fds || !owners || !accounts)
		return -1;
	w->fd_cap = cap;
	return 0;
}

/* The notifiers' sockets; *buffered: one has bytes read already. */
static size_t gather_fds(struct watch *w, bool *buffered)
{
	size_t used = 0;
	*buffered = false;
	for (size_t i = 0; i < w->count; i++) {
		struct watched *wa = &w->items[i];
		for (size_t j = 0; wa->connected && j < wa->set.count; j++) {
			struct notifier *n = &wa->set.items[j];
			if (grow_fds(w, used + 1) != 0)
				return used;
			w->fds[used] = (struct pollfd){ .fd = imap_idle_fd(n->imap),
							.events = POLLIN };
			w->fd_notifier[used] = n;
			w->fd_watched[used] = wa;
			*buffered = *buffered || imap_idle_buffered(n->imap);
			used++;
		}
	}
	return used;
}

/* What a readable notifier's server said. */
static void take_news(struct watch *w, struct watched *wa, struct notifier *n)
{
	struct yb_error err;
	yb_error_clear(&err);
	int rc = notifier_read(n, &err);
	if (rc == YB_OK && n->news.overflow)
		rc = yb_fail(&err, YB_ERR_TEMP, "%s stopped telling of changes "
			     "(NOTIFICATIONOVERFLOW)", wa->account->host);
	if (rc != YB_OK) {
		drop_connection(w, wa, &err);
		return;
	}
	if (n->news.new_mail) {
		log_debug("account %s: new mail in %s", wa->account->name, n->shown);
		want_fetch(wa, "new mail");
	}
	/* n->news.changed (flags, removals) is where pushing and mirroring
	   flags as they change will hook in; a fetch does not need it. */
	memset(&n->news, 0, sizeof(n->news));
}

/*
 * poll(), but a stop signal that arrives after the loop last looked and
 * before the wait begins still ends the wait at once: the signals are
 * blocked while run_stopping() is asked and let in only inside ppoll.
 */
static int poll_unless_stopped(struct pollfd *fds, size_t nfds, int timeout_ms)
{
	sigset_t stops, before;
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGHUP);
	sigprocmask(SIG_BLOCK, &stops, &before);
	int ready = -1;
	errno = EINTR;
	if (!run_stopping()) {
		struct timespec wait = { .tv_sec = timeout_ms / 1000,
					 .tv_nsec = (long)(timeout_ms % 1000) * 1000000 };
		ready = ppoll(fds, nfds, &wait, &before);
	}
	int saved = errno;
	sigprocmask(SIG_SETMASK, &before, NULL);
	errno = saved;
	return ready;
}

/* Sleep until a notifier speaks, a timer is due or a signal comes. */
static void wait_turn(struct watch *w)
{
	int64_t wake = clock_now_ms() + WAKE_MAX_MS;
	for (size_t i = 0; i < w->count; i++) {
		int64_t at = next_wake(w, &w->items[i]);
		wake = at < wake ? at : wake;
	}
	bool buffered = false;
	size_t nfds = gather_fds(w, &buffered);
	int timeout = buffered ? 0 : clock_poll_timeout(wake, WAKE_MAX_MS);
	int ready = poll_unless_stopped(w->fds, nfds, timeout);
	if (ready < 0 && errno != EINTR)
		log_warn("waiting for the servers: %s", strerror(errno));
	for (size_t i = 0; i < nfds && ready >= 0 && !run_stopping(); i++) {
		struct watched *wa = w->fd_watched[i];
		/* A connection dropped earlier in this turn took all of its
		   account's notifiers with it: n is gone. */
		if (!wa->connected)
			continue;
		struct notifier *n = w->fd_notifier[i];
		bool speaks = (w->fds[i].revents & (POLLIN | POLLHUP | POLLERR)) ||
			      imap_idle_buffered(n->imap);
		if (speaks)
			take_news(w, wa, n);
	}
}

static bool any_active(const struct watch *w)
{
	for (size_t i = 0; i < w->count; i++)
		if (!w->items[i].stopped)
			return true;
	return false;
}

static int watch_init(struct watch *w, const struct account *const *accounts,
		      size_t count)
{
	w->items = calloc(count ? count : 1, sizeof(*w->items));
	if (!w->items)
		return -1;
	w->count = count;
	w->reidle_ms = (int64_t)testhook_limit("YUBIN_TEST_REIDLE_SECONDS",
					       WATCH_REIDLE_SEC) * 1000;
	w->random = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16) ^ 0x9e3779b9u;
	for (size_t i = 0; i < count; i++) {
		struct watched *wa = &w->items[i];
		wa->account = accounts[i];
		bool imap = accounts[i]->protocol == PROTOCOL_IMAP;
		/* IMAP: connect the notifiers first, then fetch, so nothing
		   arriving in between goes unheard. */
		wa->fetch_due = !imap;
		wa->trigger = imap ? NULL : "start";
		wa->next_poll_ms = imap ? NEVER : 0;
		wa->token_renew_ms = NEVER;
	}
	return 0;
}

/* The worst failure of the accounts that stopped. */
static enum yb_status watch_end(struct watch *w)
{
	enum yb_status worst = YB_OK;
	for (size_t i = 0; i < w->count; i++) {
		struct watched *wa = &w->items[i];
		notifier_set_close(&wa->set, true);
		if (wa->stopped)
			worst = yb_status_worse(worst, wa->status);
	}
	free(w->items);
	free(w->fds);
	free(w->fd_notifier);
	free(w->fd_watched);
	return worst;
}

enum yb_status watch_accounts(const struct account *const *accounts,
			      size_t count, watch_report_fn *report, void *ctx)
{
	struct watch w = { .report = report, .report_ctx = ctx };
	if (watch_init(&w, accounts, count) != 0) {
		log_error("out of memory");
		return YB_ERR_INTERNAL;
	}
	while (any_active(&w) && !run_stopping()) {
		for (size_t i = 0; i < w.count && !run_stopping(); i++)
			tend(&w, &w.items[i]);
		if (!run_stopping() && any_active(&w))
			wait_turn(&w);
	}
	if (run_stopping())
		log_info("stopped by %s; logging out", run_stop_signal_name());
	enum yb_status worst = watch_end(&w);
	/* Stopped by a signal: the way a watch is meant to end. */
	return run_stopping() ? YB_OK : worst;
}
