/*
 * session.h - the one way a run logs in: obtain the account's secret,
 * hand it to a session, and when the server refuses an OAuth2 token that
 * came from the cache, refresh it and try once more.
 */
#ifndef YUBIN_SESSION_H
#define YUBIN_SESSION_H

#include "account.h"
#include "error.h"

/*
 * One session from connect to logout, logging in with *secret (the
 * password, the OAuth2 access token, or NULL for a client certificate or
 * an account without a password source).  The session owns *secret: it
 * wipes and frees it (secret_free) once the login is over and sets it to
 * NULL; what is left when it returns is freed by session_run.
 */
typedef int (*session_fn)(void *ctx, const struct account *account,
			  char **secret, struct yb_error *err);

/*
 * Obtain the secret account_credential() asks for and run fn with it.
 * A YB_ERR_AUTH from fn with a token from the cache (revoked early, or
 * the clock was off) refreshes the token and runs fn once more: a
 * refused login changed nothing, so the second session starts from the
 * same place.  *secret_obtained (may be NULL) says whether fn ran at all,
 * which tells a failed password source from a failed session.  Returns
 * fn's status, or the secret source's (YB_ERR_CONFIG, see secret.h and
 * oauth2.h).
 */
int session_run(const struct account *account, session_fn fn, void *ctx,
		bool *secret_obtained, struct yb_error *err);

#endif
