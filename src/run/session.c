/*
 * session.c - obtain the secret, log in, and refresh a refused cached
 * OAuth2 token once: the same for a fetch, --list-folders and --check.
 */
#include "config.h"

#include "session.h"

#include <stdbool.h>
#include <stddef.h>

#include "credential.h"
#include "log.h"
#include "oauth2.h"
#include "secret.h"

/* fn with a token; a cached one the server refuses is refreshed once. */
static int run_with_token(const struct account *account, session_fn fn,
			  void *ctx, bool *ran, struct yb_error *err)
{
	char *token = NULL;
	bool fresh = false;
	int rc = oauth2_access_token(account, false, &token, &fresh, err);
	bool from_cache = rc == YB_OK && !fresh;
	if (rc == YB_OK) {
		*ran = true;
		rc = fn(ctx, account, &token, err);
	}
	if (rc == YB_ERR_AUTH && from_cache) {
		log_info("account %s: %s; refreshing the OAuth2 token and "
			 "trying once more", account->name, err->msg);
		secret_free(token);
		token = NULL;
		rc = oauth2_access_token(account, true, &token, &fresh, err);
		if (rc == YB_OK)
			rc = fn(ctx, account, &token, err);
	}
	secret_free(token); /* NULL unless a session never started */
	return rc;
}

int session_run(const struct account *account, session_fn fn, void *ctx,
		bool *secret_obtained, struct yb_error *err)
{
	bool ran = false;
	int rc = YB_OK;
	enum account_credential credential = account_credential(account);
	if (credential == CRED_TOKEN) {
		rc = run_with_token(account, fn, ctx, &ran, err);
	} else {
		char *password = NULL;
		if (credential == CRED_PASSWORD &&
		    account->password_source != PASSWORD_NONE)
			rc = secret_get_password(account, &password, err);
		if (rc == YB_OK) {
			ran = true;
			rc = fn(ctx, account, &password, err);
		}
		secret_free(password); /* NULL unless the session never started */
	}
	if (secret_obtained)
		*secret_obtained = ran;
	return rc;
}
