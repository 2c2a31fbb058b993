/*
 * oauth2_cache.h - the account's token cache, STATE_DIR/ACCOUNT/oauth2.json
 * (mode 0600), and the atomic rewrite of a refresh_token_file.
 *
 * The cache holds the last access token with its absolute expiry, and
 * the refresh token when it lives there: with neither refresh_token_cmd
 * nor _file, or when the endpoint rotated the command's token (or the
 * file could not be rewritten).  It is
 * bound to a fingerprint of (token_url, client_id, user): a cache made
 * for other settings is ignored whole.  Every string in it is a secret
 * or harmless; oauth2_cache_free() wipes them all.
 */
#ifndef YUBIN_OAUTH2_CACHE_H
#define YUBIN_OAUTH2_CACHE_H

#include "account.h"
#include "error.h"
#include "oauth2_json.h"

#define OAUTH2_CACHE_NAME "oauth2.json"

struct oauth2_cache {
	struct oauth2_json_uint version;
	char *fingerprint;            /* hex sha256 of the settings */
	char *access_token;           /* NULL: none cached */
	char *token_type;
	struct oauth2_json_uint expires_at; /* unix seconds */
	char *refresh_token;          /* NULL: not kept here */
	/* With refresh_token_cmd or _file: sha256 (hex) of what that source
	   gave when refresh_token replaced it (NULL: it gave nothing).  Once
	   the source gives something else, the user has stored a new token
	   there, and it wins again. */
	char *replaces_sha256;
};

/* The fingerprint of account's settings, 64 hex digits and a NUL. */
void oauth2_cache_fingerprint(const struct account *account, char out[65]);

/* sha256 of text as 64 hex digits and a NUL. */
void oauth2_sha256_hex(const char *text, char out[65]);

/*
 * Read the cache.  A missing file, or one made for other settings, or one
 * we cannot parse (logged), gives an empty cache and YB_OK.  Errors:
 * YB_ERR_CONFIG when the file is accessible by group or others, not
 * ours or a symbolic link, or when STATE_DIR/ACCOUNT fails safedir.h's
 * checks; YB_ERR_IO when it cannot be read.  Free with oauth2_cache_free().
 */
int oauth2_cache_load(const struct account *account, struct oauth2_cache *cache,
		      struct yb_error *err);

/*
 * Write the cache atomically (a new temporary file 0600 with a random
 * name, fsync, rename, fsync of the directory, all through the checked
 * directory's descriptor), creating STATE_DIR/ACCOUNT (0700) if needed.
 * The fingerprint and version are set here.  YB_ERR_IO on failure;
 * YB_ERR_CONFIG for a directory safedir.h refuses.
 */
int oauth2_cache_save(const struct account *account, struct oauth2_cache *cache,
		      struct yb_error *err);

void oauth2_cache_free(struct oauth2_cache *cache);

/* Replace *slot (wiped) with a copy of value (NULL clears); false when
   out of memory. */
bool oauth2_cache_set(char **slot, const char *value);

/*
 * Replace the file at path with one line, text and a newline, the same
 * way: a temporary file beside it (0600), fsync, rename, directory fsync
 * (its directory is the user's choice, and not checked).
 * what names the file in messages ("refresh_token_file").  YB_ERR_IO.
 */
int oauth2_write_secret_file(const struct account *account, const char *what,
			     const char *path, const char *text,
			     struct yb_error *err);

#endif
