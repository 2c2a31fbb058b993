/*
 * oauth2.h - OAuth2 access tokens for XOAUTH2 and OAUTHBEARER logins:
 * refreshed over HTTPS (libcurl) from the account's oauth2.token_url with
 * its refresh token, cached with their expiry in the account's state
 * directory, and obtained the first time with --authorize.
 *
 * Every token and refresh token is a secret: never logged, wiped before
 * it is freed.  Errors name the account and the endpoint, never a token:
 *   YB_ERR_CONFIG       no refresh token anywhere, unreadable or unsafe
 *                       refresh_token_file, client_secret_cmd failed
 *   YB_ERR_AUTH         the endpoint refused (invalid_grant: the refresh
 *                       token was revoked or expired; run --authorize)
 *   YB_ERR_UNAVAILABLE  the endpoint could not be reached or verified,
 *                       or libcurl cannot be loaded
 *   YB_ERR_TEMP         a deadline passed, or the endpoint answered 5xx
 *   YB_ERR_PROTOCOL     the reply is not the JSON a token endpoint sends
 *   YB_ERR_IO           the cache or refresh_token_file cannot be written
 */
#ifndef YUBIN_OAUTH2_H
#define YUBIN_OAUTH2_H

#include <stdbool.h>
#include <stdio.h>

#include "account.h"
#include "error.h"

/*
 * An access token for account (which must have oauth2 settings).  Unless
 * force_refresh, a cached token valid for at least another minute is
 * returned without contacting the endpoint; otherwise the token is
 * refreshed, cached (mode 0600, written atomically) and returned, and a
 * refresh token the endpoint rotated is written back where it came from.
 * *fresh says whether the token was just issued (a login refused with a
 * fresh token is not retried).  On success *token is malloc'd; release
 * it with secret_free() (secret.h), which wipes it.
 */
int oauth2_access_token(const struct account *account, bool force_refresh,
			char **token, bool *fresh, struct yb_error *err);

/*
 * --authorize: obtain the account's first refresh token interactively,
 * by the device authorization flow when the account (or its provider
 * preset) has a device_auth_url, else by the authorization-code flow with
 * PKCE and a redirect to a listener on 127.0.0.1.  Instructions for the
 * user go to out; the refresh token is stored where the next run reads it.
 */
int oauth2_authorize(const struct account *account, FILE *out,
		     struct yb_error *err);

#endif
