/*
 * oauth2.c - an account's access token: from the cache while it is
 * valid, else refreshed at the token endpoint with the refresh token,
 * and a rotated refresh token written back where it came from.
 *
 * Where the refresh token comes from:
 *   no refresh_token_cmd or _file  the cache (written by --authorize);
 *   refresh_token_file             the file, rewritten on rotation;
 *   refresh_token_cmd              the command; we cannot write into
 *                                  whatever it reads, so a rotated token
 *                                  is kept in the cache and preferred
 *                                  until the command prints a new one.
 */
#include "config.h"

#include "oauth2.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "log.h"
#include "oauth2_cache.h"
#include "oauth2_token.h"
#include "secret.h"

/* A cached token must stay valid this long to be handed out. */
#define MIN_VALIDITY_S 60
/* expires_in beyond this (ten years) is treated as this. */
#define MAX_EXPIRES_IN_S (10ull * 366 * 24 * 3600)

/* The refresh token we send, and what we know about its origin. */
struct refresh {
	char *token;          /* a secret; owned */
	bool from_cache;      /* the cache's copy, not the source's */
	bool source_read;     /* the cmd or file gave source_sha */
	char source_sha[65];
};

static const char *source_key(const struct account *account)
{
	return account->oauth2.refresh_source == OAUTH2_REFRESH_CMD ?
		       "refresh_token_cmd" : "refresh_token_file";
}

static int read_source(const struct account *account, char **out,
		       struct yb_error *err)
{
	const struct oauth2_settings *o = &account->oauth2;
	if (o->refresh_source == OAUTH2_REFRESH_CMD)
		return oauth2_secret_from_cmd(account, "refresh_token_cmd",
					      o->refresh_token_cmd, out, err);
	return oauth2_secret_from_file(account, "refresh_token_file",
				       o->refresh_token_file, out, err);
}

static int take_cached(struct oauth2_cache *cache, struct refresh *refresh)
{
	refresh->token = cache->refresh_token;
	cache->refresh_token = NULL;
	refresh->from_cache = true;
	return YB_OK;
}

/*
 * With a command or file: its token, unless the cache holds one that
 * replaced exactly what it gives now (or it gives nothing now).
 */
static int choose_from_source(const struct account *account,
			      struct oauth2_cache *cache,
			      struct refresh *refresh, struct yb_error *err)
{
	char *from_source = NULL;
	struct yb_error source_err;
	int rc = read_source(account, &from_source, &source_err);
	if (rc == YB_OK) {
		refresh->source_read = true;
		oauth2_sha256_hex(from_source, refresh->source_sha);
	}
	if (cache->refresh_token) {
		bool unchanged = rc == YB_OK && cache->replaces_sha256 &&
				 strcmp(cache->replaces_sha256, refresh->source_sha) == 0;
		if (rc != YB_OK || unchanged) {
			secret_free(from_source);
			log_debug("using the refresh token kept in the token cache");
			return take_cached(cache, refresh);
		}
		log_info("%s gives a new refresh token; using it instead of the one kept in the token cache",
			 source_key(account));
		oauth2_cache_set(&cache->refresh_token, NULL);
		oauth2_cache_set(&cache->replaces_sha256, NULL);
	}
	if (rc != YB_OK) {
		if (err)
			*err = source_err;
		return rc;
	}
	refresh->token = from_source;
	return YB_OK;
}

static int choose_refresh(const struct account *account,
			  struct oauth2_cache *cache, struct refresh *refresh,
			  struct yb_error *err)
{
	memset(refresh, 0, sizeof(*refresh));
	if (account->oauth2.refresh_source != OAUTH2_REFRESH_CACHE)
		return choose_from_source(account, cache, refresh, err);
	if (!cache->refresh_token)
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s' has no OAuth2 refresh token yet (no refresh_token_cmd or refresh_token_file, and none in the token cache): run yubin --authorize %s",
			       account->name, account->name);
	return take_cached(cache, refresh);
}

static int request_refresh(const struct account *account, const char *token,
			   struct oauth2_reply *reply, struct yb_error *err)
{
	const struct oauth2_settings *o = &account->oauth2;
	struct oauth2_buf form = { 0 };
	oauth2_form_add(&form, "grant_type", "refresh_token");
	oauth2_form_add(&form, "refresh_token", token);
	if (o->scope)
		oauth2_form_add(&form, "scope", o->scope);
	int rc = oauth2_form_client(account, &form, err);
	if (rc == YB_OK) {
		log_info("refreshing the OAuth2 access token at %s", o->token_url);
		rc = oauth2_endpoint_post(account, o->token_url, &form, reply, err);
	}
	oauth2_buf_free(&form);
	if (rc == YB_OK && reply->error)
		rc = oauth2_reply_refused(account, o->token_url, reply,
					  "the refresh token", err);
	if (rc == YB_OK)
		rc = oauth2_reply_check(account, o->token_url, reply, err);
	return rc;
}

static uint64_t expiry_of(const struct oauth2_reply *reply, time_t now)
{
	/* Without expires_in we cannot know: use it this once only. */
	uint64_t lifetime = reply->expires_in.present ? reply->expires_in.value : 0;
	if (lifetime > MAX_EXPIRES_IN_S)
		lifetime = MAX_EXPIRES_IN_S;
	return (uint64_t)(now > 0 ? now : 0) + lifetime;
}

/* Put the new access token into the cache (in memory). */
static bool cache_access(struct oauth2_cache *cache,
			 const struct oauth2_reply *reply, time_t now)
{
	cache->expires_at.present = true;
	cache->expires_at.value = expiry_of(reply, now);
	return oauth2_cache_set(&cache->access_token, reply->access_token) &&
	       oauth2_cache_set(&cache->token_type, reply->token_type);
}

/* Keep new in the cache, replacing what the source gave (if anything). */
static bool keep_in_cache(struct oauth2_cache *cache, const char *new_token,
			  const struct refresh *old)
{
	if (!oauth2_cache_set(&cache->refresh_token, new_token))
		return false;
	if (old->from_cache)
		return true; /* it still replaces the same source output */
	return oauth2_cache_set(&cache->replaces_sha256,
				old->source_read ? old->source_sha : NULL);
}

/*
 * The endpoint rotated the refresh token: the old one may be dead
 * already, so the new one must be stored before anything else fails.
 * Returns whether the cache now holds a refresh token that must be
 * saved (losing it would lock the account out).
 */
static int store_rotated(const struct account *account,
			 struct oauth2_cache *cache, const char *new_token,
			 const struct refresh *old, bool *must_save,
			 struct yb_error *err)
{
	const struct oauth2_settings *o = &account->oauth2;
	*must_save = true;
	if (o->refresh_source == OAUTH2_REFRESH_FILE) {
		struct yb_error write_err;
		int rc = oauth2_write_secret_file(account, "refresh_token_file",
						  o->refresh_token_file,
						  new_token, &write_err);
		if (rc == YB_OK) {
			*must_save = false;
			oauth2_cache_set(&cache->refresh_token, NULL);
			oauth2_cache_set(&cache->replaces_sha256, NULL);
			log_info("the token endpoint issued a new refresh token; written to %s",
				 o->refresh_token_file);
			return YB_OK;
		}
		log_warn("%s; keeping the new refresh token in the token cache instead",
			 write_err.msg);
	} else if (o->refresh_source == OAUTH2_REFRESH_CMD && !old->from_cache) {
		log_info("the token endpoint issued a new refresh token; it is kept in the token cache and used instead of refresh_token_cmd's output until that changes");
	}
	if (!keep_in_cache(cache, new_token, old))
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return YB_OK;
}

/* After a successful refresh: rotation, the cache, the answer. */
static int finish_refresh(const struct account *account,
			  struct oauth2_cache *cache, struct refresh *refresh,
			  const struct oauth2_reply *reply, char **token,
			  struct yb_error *err)
{
	bool must_save = false; /* only a rotated token must reach the disk */
	int rc = YB_OK;
	if (refresh->from_cache &&
	    !oauth2_cache_set(&cache->refresh_token, refresh->token))
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (reply->refresh_token && strcmp(reply->refresh_token, refresh->token) != 0)
		rc = store_rotated(account, cache, reply->refresh_token, refresh,
				   &must_save, err);
	if (rc == YB_OK && !cache_access(cache, reply, time(NULL)))
		rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (rc != YB_OK)
		return rc;
	struct yb_error save_err;
	if (oauth2_cache_save(account, cache, &save_err) != YB_OK) {
		if (must_save && cache->refresh_token) {
			if (err)
				*err = save_err;
			return save_err.status;
		}
		log_warn("%s; the access token is not cached", save_err.msg);
	}
	*token = strdup(reply->access_token);
	return *token ? YB_OK : yb_fail(err, YB_ERR_INTERNAL, "out of memory");
}

static bool cached_token_usable(const struct oauth2_cache *cache, time_t now)
{
	return cache->access_token && cache->expires_at.present && now > 0 &&
	       cache->expires_at.value > (uint64_t)now + MIN_VALIDITY_S;
}

int oauth2_access_token(const struct account *account, bool force_refresh,
			char **token, bool *fresh, struct yb_error *err)
{
	*token = NULL;
	*fresh = false;
	if (!account->has_oauth2)
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s' has no oauth2 settings",
			       account->name);
	struct oauth2_cache cache;
	int rc = oauth2_cache_load(account, &cache, err);
	time_t now = time(NULL);
	if (rc == YB_OK && !force_refresh && cached_token_usable(&cache, now)) {
		log_debug("using the cached OAuth2 access token (valid for %llu more s)",
			  (unsigned long long)(cache.expires_at.value - (uint64_t)now));
		*token = strdup(cache.access_token);
		rc = *token ? YB_OK : yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		oauth2_cache_free(&cache);
		return rc;
	}
	struct refresh refresh = { 0 };
	struct oauth2_reply reply = { 0 };
	if (rc == YB_OK)
		rc = choose_refresh(account, &cache, &refresh, err);
	if (rc == YB_OK)
		rc = request_refresh(account, refresh.token, &reply, err);
	if (rc == YB_OK)
		rc = finish_refresh(account, &cache, &refresh, &reply, token, err);
	*fresh = rc == YB_OK;
	oauth2_reply_free(&reply);
	secret_free(refresh.token);
	oauth2_cache_free(&cache);
	return rc;
}
