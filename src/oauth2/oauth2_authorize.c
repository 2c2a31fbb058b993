/*
 * oauth2_authorize.c - `yubin --authorize ACCOUNT`: obtain the first
 * refresh token interactively and store it where the next run reads it.
 *
 * The device flow is preferred when there is a device_auth_url: it works
 * over ssh and on machines without a browser.  Otherwise the browser is
 * sent to auth_url and back to a listener on 127.0.0.1.  Either way we
 * wait at most AUTHORIZE_WAIT_S for the user.
 */
#include "config.h"

#include "oauth2.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "oauth2_cache.h"
#include "oauth2_flow.h"
#include "secret.h"

/* Long enough to log in and approve with a second factor; Microsoft's
   device codes live this long too. */
#define AUTHORIZE_WAIT_S (15 * 60)

/* Where the refresh token goes, and what to tell the user about it. */
static int store_refresh(const struct account *account, const char *token,
			 struct oauth2_cache *cache, const char **where,
			 struct yb_error *err)
{
	const struct oauth2_settings *o = &account->oauth2;
	*where = "the token cache";
	if (o->refresh_source == OAUTH2_REFRESH_FILE) {
		*where = o->refresh_token_file;
		return oauth2_write_secret_file(account, "refresh_token_file",
						o->refresh_token_file, token, err);
	}
	if (!oauth2_cache_set(&cache->refresh_token, token))
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (o->refresh_source != OAUTH2_REFRESH_CMD)
		return YB_OK;
	/* The command's present output is what the new token replaces;
	   once it prints something else, that wins again. */
	char *current = NULL;
	char sha[65];
	struct yb_error ignored;
	bool have = oauth2_secret_from_cmd(account, "refresh_token_cmd",
					   o->refresh_token_cmd, &current,
					   &ignored) == YB_OK;
	if (have)
		oauth2_sha256_hex(current, sha);
	secret_free(current);
	if (!oauth2_cache_set(&cache->replaces_sha256, have ? sha : NULL))
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return YB_OK;
}

static int store_tokens(const struct account *account,
			const struct oauth2_reply *tokens, FILE *out,
			struct yb_error *err)
{
	/* A fresh cache: nothing from an earlier authorization survives. */
	struct oauth2_cache cache = { 0 };
	const char *where = NULL;
	int rc = store_refresh(account, tokens->refresh_token, &cache, &where,
			       err);
	uint64_t lifetime = tokens->expires_in.present ? tokens->expires_in.value : 0;
	time_t now = time(NULL);
	cache.expires_at.present = true;
	cache.expires_at.value = (uint64_t)(now > 0 ? now : 0) + lifetime;
	if (rc == YB_OK && (!oauth2_cache_set(&cache.access_token, tokens->access_token) ||
			    !oauth2_cache_set(&cache.token_type, tokens->token_type)))
		rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (rc == YB_OK)
		rc = oauth2_cache_save(account, &cache, err);
	if (rc == YB_OK) {
		fprintf(out, "Account '%s' is authorized; its refresh token is stored in %s.\n",
			account->name, where);
		if (account->oauth2.refresh_source == OAUTH2_REFRESH_CMD)
			fprintf(out, "It is used instead of refresh_token_cmd's output until that output changes.\n");
		fflush(out);
	}
	oauth2_cache_free(&cache);
	return rc;
}

int oauth2_authorize(const struct account *account, FILE *out,
		     struct yb_error *err)
{
	if (!account->has_oauth2)
		return yb_fail(err, YB_ERR_USAGE,
			       "account '%s' has no oauth2 settings; --authorize is for OAuth2 accounts",
			       account->name);
	const struct oauth2_settings *o = &account->oauth2;
	if (!o->device_auth_url && !o->auth_url)
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': --authorize needs device_auth_url or auth_url in oauth2 (or a provider)",
			       account->name);
	long long deadline = clock_now_ms() + AUTHORIZE_WAIT_S * 1000LL;
	struct oauth2_reply tokens = { 0 };
	int rc = o->device_auth_url ?
			 oauth2_device_flow(account, out, deadline, &tokens, err) :
			 oauth2_code_flow(account, out, deadline, &tokens, err);
	if (rc == YB_OK && !tokens.refresh_token)
		rc = yb_fail(err, YB_ERR_AUTH,
			     "account '%s': %s issued no refresh token (does scope ask for offline access?)",
			     account->name, o->token_url);
	if (rc == YB_OK)
		rc = store_tokens(account, &tokens, out, err);
	oauth2_reply_free(&tokens);
	return rc;
}
