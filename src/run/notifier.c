/* notifier.c - IDLE connections that tell --watch of new mail. */
#include "config.h"

#include "notifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "credential.h"
#include "fetch_imap.h"
#include "imap_notify.h"
#include "log.h"
#include "oauth2.h"
#include "oauth2_cache.h"
#include "secret.h"

/* The secret every notifier of a set logs in with (see imap_connect). */
struct login {
	const struct account *account;
	char *secret;       /* owned (secret_free), or NULL */
	bool from_cache;    /* an OAuth2 token not issued just now */
	int64_t expires_at; /* the token's expiry, unix seconds; 0 unknown */
};

/* When the OAuth2 token just obtained expires, as the token cache
   recorded it; 0 when the cache holds another token (another run
   refreshed meanwhile) or none, or cannot be read. */
static int64_t token_expiry(const struct login *login)
{
	struct oauth2_cache cache;
	struct yb_error ignored;
	if (oauth2_cache_load(login->account, &cache, &ignored) != YB_OK)
		return 0;
	int64_t expires_at = 0;
	if (cache.access_token && cache.expires_at.present &&
	    cache.expires_at.value <= INT64_MAX &&
	    strcmp(cache.access_token, login->secret) == 0)
		expires_at = (int64_t)cache.expires_at.value;
	oauth2_cache_free(&cache);
	return expires_at;
}

static int login_get(struct login *login, bool force_refresh,
		     struct yb_error *err)
{
	const struct account *account = login->account;
	enum account_credential credential = account_credential(account);
	secret_free(login->secret);
	login->secret = NULL;
	login->from_cache = false;
	if (credential == CRED_TOKEN) {
		bool fresh = false;
		int rc = oauth2_access_token(account, force_refresh,
					     &login->secret, &fresh, err);
		login->from_cache = rc == YB_OK && !fresh;
		login->expires_at = rc == YB_OK ? token_expiry(login) : 0;
		return rc;
	}
	if (credential == CRED_PASSWORD &&
	    account->password_source != PASSWORD_NONE)
		return secret_get_password(account, &login->secret, err);
	return YB_OK;
}

/* Log in; a cached token the server refuses is refreshed once, as a
   fetch does (it may have been revoked early, or the clock was off). */
static int login_connect(struct login *login, struct imap **out,
			 struct yb_error *err)
{
	int rc = imap_connect(login->account, login->secret, out, err);
	if (rc != YB_ERR_AUTH || !login->from_cache)
		return rc;
	log_info("account %s: %s; refreshing the OAuth2 token and trying "
		 "once more", login->account->name, err->msg);
	rc = login_get(login, true, err);
	if (rc == YB_OK)
		rc = imap_connect(login->account, login->secret, out, err);
	return rc;
}

/* EXAMINE the folder and start IDLE.  *refused: the server will not
   open it (the fetch skips it too); the session is still good. */
static int watch_folder(struct notifier *n, bool *refused,
			struct yb_error *err)
{
	struct imap_mailbox_info info;
	memset(&info, 0, sizeof(info));
	int rc = imap_select(n->imap, n->quoted, true, NULL, NULL, &info, err);
	*refused = info.refused;
	if (rc != YB_OK)
		return rc;
	memset(&n->news, 0, sizeof(n->news));
	rc = imap_idle_start(n->imap, &n->news, err);
	n->idle_since_ms = clock_now_ms();
	return rc;
}

/* Takes folder->quoted. */
static int open_one(struct login *login, struct imap *session,
		    struct fetch_imap_folder *folder, struct notifier_set *set,
		    struct yb_error *err)
{
	struct notifier *n = &set->items[set->count];
	memset(n, 0, sizeof(*n));
	n->quoted = folder->quoted;
	folder->quoted = NULL;
	memcpy(n->shown, folder->shown, sizeof(n->shown));
	int rc = session ? YB_OK : login_connect(login, &session, err);
	n->imap = session;
	if (rc != YB_OK) {
		free(n->quoted);
		return rc;
	}
	set->count++;
	bool refused = false;
	rc = watch_folder(n, &refused, err);
	if (rc != YB_OK && (refused || n->news.refused)) {
		log_warn("account %s: folder %s is not watched: %s",
			 login->account->name, n->shown, err->msg);
		yb_error_clear(err);
		set->polled = true;
		set->count--;
		imap_close(n->imap);
		free(n->quoted);
		return YB_OK;
	}
	log_debug("account %s: waiting in IDLE for news of %s",
		  login->account->name, n->shown);
	return rc;
}

/* Folders in a notifier set: NOTIFY watches them all on one session. */
static size_t watched_count(const struct notifier_set *set, size_t count)
{
	if (set->notify)
		return 1;
	return count < NOTIFIERS_MAX ? count : NOTIFIERS_MAX;
}

/*
 * Where the server offers NOTIFY, ask it on the first session for news of
 * every folder; set->notify when it agreed.  A refusal (NO, BAD) leaves
 * the session good for the per-folder IDLE instead, and
 * set->notify_refused with the server's reason for the watch to tell.
 */
static int try_notify(struct login *login, struct imap *first,
		      const struct fetch_imap_folder *folders, size_t count,
		      struct notifier_set *set, struct yb_error *err)
{
	if (!(imap_capabilities(first) & IMAP_CAPA_NOTIFY) || count == 0)
		return YB_OK;
	char **quoted = calloc(count, sizeof(*quoted));
	if (!quoted)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < count; i++)
		quoted[i] = folders[i].quoted;
	bool refused = false;
	int rc = imap_notify_set(first, quoted, count, &refused,
				 set->refusal, err);
	free(quoted);
	set->notify = rc == YB_OK && !refused;
	set->notify_refused = rc == YB_OK && refused;
	if (set->notify_refused)
		log_debug("account %s: %s refused NOTIFY: %s", login->account->name,
			  login->account->host, set->refusal);
	return rc;
}

/* One notifier for every folder, on the session NOTIFY was set on. */
static int open_notify(struct login *login, struct imap *first, size_t count,
		       struct notifier_set *set, struct yb_error *err)
{
	struct notifier *n = &set->items[0];
	memset(n, 0, sizeof(*n));
	n->imap = first;
	snprintf(n->shown, sizeof(n->shown), "%zu folder%s (NOTIFY)", count,
		 count == 1 ? "" : "s");
	set->count = 1;
	int rc = imap_idle_start(n->imap, &n->news, err);
	n->idle_since_ms = clock_now_ms();
	if (rc == YB_OK)
		log_debug("account %s: waiting in IDLE for NOTIFY's news of %s",
			  login->account->name, n->shown);
	return rc;
}

/* The folders of the session: all on it with NOTIFY, else one notifier
   each up to NOTIFIERS_MAX, the first on this session itself. */
static int open_notifiers(struct login *login, struct imap *first,
			  struct notifier_set *set, struct yb_error *err)
{
	struct fetch_imap_folder *folders = NULL;
	size_t count = 0;
	int rc = fetch_imap_folders(login->account, first, &folders, &count, err);
	if (rc == YB_OK)
		rc = try_notify(login, first, folders, count, set, err);
	size_t watched = watched_count(set, count);
	if (rc == YB_OK && watched > 0) {
		set->items = calloc(watched, sizeof(*set->items));
		if (!set->items)
			rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	if (rc != YB_OK || watched == 0)
		imap_close(first);
	if (rc == YB_OK && set->notify)
		rc = open_notify(login, first, count, set, err);
	for (size_t i = 0; rc == YB_OK && !set->notify && i < watched; i++)
		rc = open_one(login, i == 0 ? first : NULL, &folders[i], set, err);
	if (rc == YB_OK && !set->notify && count > NOTIFIERS_MAX) {
		log_info("account %s: %zu folders; the first %d are watched with "
			 "IDLE, the others are polled every poll_interval",
			 login->account->name, count, NOTIFIERS_MAX);
		set->polled = true;
	}
	fetch_imap_folders_free(folders, count);
	return rc;
}

int notifier_set_open(const struct account *account, bool new_token,
		      struct notifier_set *set, struct yb_error *err)
{
	memset(set, 0, sizeof(*set));
	struct login login = { .account = account };
	struct imap *first = NULL;
	int rc = login_get(&login, new_token, err);
	if (rc == YB_OK)
		rc = login_connect(&login, &first, err);
	if (rc == YB_OK && !(imap_capabilities(first) & IMAP_CAPA_IDLE)) {
		log_info("account %s: %s does not offer IDLE; polling every %u s",
			 account->name, account->host, account->poll_interval);
		set->polled = true;
		struct yb_error ignored;
		(void)imap_logout(first, &ignored);
		imap_close(first);
	} else if (rc == YB_OK) {
		rc = open_notifiers(&login, first, set, err);
	}
	set->token_expires_at = login.expires_at;
	secret_free(login.secret);
	if (rc != YB_OK)
		notifier_set_close(set, false);
	return rc;
}

int notifier_read(struct notifier *n, struct yb_error *err)
{
	int rc = imap_idle_read(n->imap, &n->news, err);
	/* A server that ended IDLE on its own is asked to go on. */
	if (rc == YB_OK && n->news.ended)
		rc = notifier_reidle(n, err);
	return rc;
}

int notifier_reidle(struct notifier *n, struct yb_error *err)
{
	int rc = imap_idle_done(n->imap, &n->news, err);
	if (rc == YB_OK)
		rc = imap_idle_start(n->imap, &n->news, err);
	n->idle_since_ms = clock_now_ms();
	return rc;
}

void notifier_set_close(struct notifier_set *set, bool polite)
{
	for (size_t i = 0; i < set->count; i++) {
		struct notifier *n = &set->items[i];
		struct yb_error ignored;
		if (polite && imap_idle_done(n->imap, &n->news, &ignored) == YB_OK)
			(void)imap_logout(n->imap, &ignored);
		imap_close(n->imap);
		free(n->quoted);
	}
	free(set->items);
	memset(set, 0, sizeof(*set));
}
