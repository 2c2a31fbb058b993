/*
 * oauth2_cache.c - the token cache file and atomic secret-file writes.
 *
 * The cache is our own small JSON object, read back with the same
 * parser as the endpoints' replies.  A cache we cannot use is not an
 * error: it only costs one refresh.  A cache readable by others is,
 * because it may hold a refresh token (the password_file rule).
 */
#include "config.h"

#include "oauth2_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "fileio.h"
#include "log.h"
#include "oauth2_http.h"
#include "safedir.h"

#define CACHE_VERSION 1
/* An access and a refresh token, each at most one capped reply. */
#define CACHE_MAX_BYTES (3 * OAUTH2_JSON_MAX_BYTES)

#define C_AT(member) offsetof(struct oauth2_cache, member)

static const struct oauth2_json_field cache_fields[] = {
	{ "version", OAUTH2_JSON_UINT, C_AT(version) },
	{ "fingerprint", OAUTH2_JSON_STRING, C_AT(fingerprint) },
	{ "access_token", OAUTH2_JSON_STRING, C_AT(access_token) },
	{ "token_type", OAUTH2_JSON_STRING, C_AT(token_type) },
	{ "expires_at", OAUTH2_JSON_UINT, C_AT(expires_at) },
	{ "refresh_token", OAUTH2_JSON_STRING, C_AT(refresh_token) },
	{ "replaces_sha256", OAUTH2_JSON_STRING,
	  C_AT(replaces_sha256) },
};

#define CACHE_FIELD_COUNT (sizeof(cache_fields) / sizeof(cache_fields[0]))

/* ------------------------------------------------------------------ */
/* Fingerprints                                                        */

static void to_hex(const unsigned char *bytes, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[bytes[i] >> 4];
		out[2 * i + 1] = hex[bytes[i] & 15];
	}
	out[2 * len] = '\0';
}

/* sha256 over parts, each followed by a NUL so no two lists collide. */
static void sha256_parts(const char *const parts[], size_t count, char out[65])
{
	unsigned char digest[32];
	unsigned int digest_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	for (size_t i = 0; i < count && ok; i++) {
		const char *part = parts[i] ? parts[i] : "";
		ok = EVP_DigestUpdate(ctx, part, strlen(part) + 1) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1 &&
	     digest_len == sizeof(digest);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		memset(digest, 0, sizeof(digest)); /* never matches a real one */
	to_hex(digest, sizeof(digest), out);
}

void oauth2_cache_fingerprint(const struct account *account, char out[65])
{
	const char *parts[] = { "yubin-oauth2-cache", account->oauth2.token_url,
				account->oauth2.client_id, account->user };
	sha256_parts(parts, 4, out);
}

void oauth2_sha256_hex(const char *text, char out[65])
{
	const char *parts[] = { text };
	sha256_parts(parts, 1, out);
}

/* ------------------------------------------------------------------ */
/* Paths and directories                                               */

static char *account_dir(const struct account *account)
{
	return path_join(account->state_dir, account->name);
}

/* ------------------------------------------------------------------ */
/* Atomic writes                                                       */

static int write_temp(int fd, const char *text, size_t len)
{
	int errnum = fchmod(fd, 0600) == 0 ? 0 : errno;
	if (!errnum)
		errnum = fd_write_all(fd, text, len);
	if (!errnum && fsync(fd) != 0)
		errnum = errno;
	return errnum;
}

#define TEMP_SUFFIX_LEN 13 /* ".", 12 hex digits */

/*
 * Create a temporary file for name in dir_fd: "name.<12 random hex
 * digits>", a new file (O_EXCL, never through a link), mode 0600.  Its
 * name goes to temp (at least strlen(name) + TEMP_SUFFIX_LEN + 1 bytes).
 * A unique name, not a fixed one: two runs (a fetch and --authorize)
 * may write at once, and neither may rename the other's half-written
 * file.  0 or an errno value.
 */
static int create_temp_at(int dir_fd, const char *name, char *temp, int *fd)
{
	size_t name_len = strlen(name);
	for (int tries = 0; tries < 16; tries++) {
		unsigned char random[6];
		if (RAND_bytes(random, sizeof(random)) != 1)
			return EIO;
		memcpy(temp, name, name_len);
		temp[name_len] = '.';
		to_hex(random, sizeof(random), temp + name_len + 1);
		*fd = openat(dir_fd, temp, O_WRONLY | O_CREAT | O_EXCL |
			     O_NOFOLLOW | O_CLOEXEC, 0600);
		if (*fd >= 0 || errno != EEXIST)
			return *fd >= 0 ? 0 : errno;
	}
	return EEXIST;
}

/*
 * Replace name in dir_fd (dir_path names it in messages) with len bytes
 * of text: a temporary file beside it, fsync, rename, directory fsync,
 * all through the descriptor.
 */
static int replace_at(const struct account *account, const char *what,
		      int dir_fd, const char *dir_path, const char *name,
		      const char *text, size_t len, struct yb_error *err)
{
	char *path = path_join(dir_path, name);
	char *temp = malloc(strlen(name) + TEMP_SUFFIX_LEN + 1);
	if (!path || !temp) {
		free(path);
		free(temp);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	int fd = -1;
	int errnum = create_temp_at(dir_fd, name, temp, &fd);
	bool created = errnum == 0;
	if (created)
		errnum = write_temp(fd, text, len);
	int closed = fd_close(&fd);
	if (closed && !errnum)
		errnum = closed;
	if (!errnum && renameat(dir_fd, temp, dir_fd, name) != 0)
		errnum = errno;
	if (errnum && created)
		unlinkat(dir_fd, temp, 0);
	free(temp);
	int rc = YB_OK;
	if (errnum)
		rc = yb_fail_errno(err, YB_ERR_IO, errnum,
				   "account '%s': cannot write %s %s",
				   account->name, what, path);
	else if (fsync(dir_fd) != 0)
		rc = yb_fail_errno(err, YB_ERR_IO, errno,
				   "account '%s': cannot sync the directory of %s %s",
				   account->name, what, path);
	free(path);
	return rc;
}

/*
 * The user's own file (refresh_token_file): its directory is the user's
 * choice and is not checked, but the file is still replaced through a
 * descriptor of it.
 */
static int replace_file(const struct account *account, const char *what,
			const char *path, const char *text, size_t len,
			struct yb_error *err)
{
	char *dir = strdup(path);
	if (!dir)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	char *slash = strrchr(dir, '/');
	const char *name = slash ? path + (slash - dir) + 1 : path;
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	const char *dir_path = slash ? dir : ".";
	int rc = YB_OK;
	int dir_fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!name[0])
		rc = yb_fail(err, YB_ERR_CONFIG, "account '%s': %s %s names no file",
			     account->name, what, path);
	else if (dir_fd < 0)
		rc = yb_fail_errno(err, YB_ERR_IO, errno,
				   "account '%s': cannot open the directory of %s %s",
				   account->name, what, path);
	else
		rc = replace_at(account, what, dir_fd, dir_path, name, text,
				len, err);
	fd_close(&dir_fd);
	free(dir);
	return rc;
}

int oauth2_write_secret_file(const struct account *account, const char *what,
			     const char *path, const char *text,
			     struct yb_error *err)
{
	struct oauth2_buf line = { .limit = CACHE_MAX_BYTES };
	oauth2_buf_append(&line, text, strlen(text));
	oauth2_buf_append(&line, "\n", 1);
	int rc = line.failed ? yb_fail(err, YB_ERR_INTERNAL, "out of memory")
			     : replace_file(account, what, path, line.data,
					    line.len, err);
	oauth2_buf_free(&line);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The cache                                                           */

void oauth2_cache_free(struct oauth2_cache *cache)
{
	oauth2_json_free(cache_fields, CACHE_FIELD_COUNT, cache);
	memset(cache, 0, sizeof(*cache));
}

bool oauth2_cache_set(char **slot, const char *value)
{
	char *copy = NULL;
	if (value) {
		copy = strdup(value);
		if (!copy)
			return false;
	}
	if (*slot)
		OPENSSL_cleanse(*slot, strlen(*slot));
	free(*slot);
	*slot = copy;
	return true;
}

static int check_cache_file(const struct account *account, const char *path,
			    const struct stat *st, struct yb_error *err)
{
	if (!S_ISREG(st->st_mode))
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': token cache %s is not a regular file",
			       account->name, path);
	if (st->st_uid != geteuid())
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': token cache %s is not owned by us",
			       account->name, path);
	if (st->st_mode & 077)
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': token cache %s is accessible by group or others; run chmod 600 %s",
			       account->name, path, path);
	return YB_OK;
}

static int read_all(const struct account *account, const char *path, int fd,
		    struct oauth2_buf *buf, struct yb_error *err)
{
	char chunk[4096];
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return yb_fail_errno(err, YB_ERR_IO, errno,
					     "account '%s': cannot read token cache %s",
					     account->name, path);
		if (got == 0)
			break;
		bool ok = oauth2_buf_append(buf, chunk, (size_t)got);
		OPENSSL_cleanse(chunk, sizeof(chunk));
		if (!ok)
			break; /* too big: parsing it fails and it is ignored */
	}
	return YB_OK;
}

/* Parse what we read; anything unusable leaves the cache empty. */
static void parse_cache(const struct account *account, const char *path,
			const struct oauth2_buf *buf, struct oauth2_cache *cache)
{
	char why[128];
	char fingerprint[65];
	oauth2_cache_fingerprint(account, fingerprint);
	if (buf->failed || !oauth2_json_parse(buf->data ? buf->data : "", buf->len,
					      cache_fields, CACHE_FIELD_COUNT,
					      UINT64_MAX, cache, why, sizeof(why))) {
		log_warn("account '%s': ignoring token cache %s: %s", account->name,
			 path, buf->failed ? "too large" : why);
		oauth2_cache_free(cache);
	} else if (!cache->version.present || cache->version.value != CACHE_VERSION) {
		log_warn("account '%s': ignoring token cache %s: unknown version",
			 account->name, path);
		oauth2_cache_free(cache);
	} else if (!cache->fingerprint ||
		   strcmp(cache->fingerprint, fingerprint) != 0) {
		log_info("token cache %s was made for another token_url, client_id or user; not using it",
			 path);
		oauth2_cache_free(cache);
	}
}

/*
 * Open the account's state directory, checked (safedir.h); *dir_fd is
 * -1 when it is missing and !create.  *dir (malloc'd) names it.
 */
static int open_cache_dir(const struct account *account, bool create,
			  char **dir, int *dir_fd, struct yb_error *err)
{
	*dir_fd = -1;
	*dir = account_dir(account);
	if (!*dir)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	int rc = safedir_open(*dir, create, "state directory", dir_fd, err);
	if (rc != YB_OK)
		yb_error_prefix(err, "account '%s': token cache: ", account->name);
	return rc;
}

/* Open, check and read the cache file in dir_fd (path names it). */
static int load_from(const struct account *account, int dir_fd,
		     const char *path, struct oauth2_cache *cache,
		     struct yb_error *err)
{
	int fd = -1;
	int errnum = safedir_open_file(dir_fd, OAUTH2_CACHE_NAME,
				       O_RDONLY | O_NOCTTY | O_NONBLOCK, &fd);
	if (errnum == ENOENT)
		return YB_OK;
	if (errnum)
		return yb_fail_errno(err, errnum == ELOOP ? YB_ERR_CONFIG : YB_ERR_IO,
				     errnum, "account '%s': cannot open token cache %s",
				     account->name, path);
	struct stat st;
	struct oauth2_buf buf = { .limit = CACHE_MAX_BYTES };
	int rc = YB_OK;
	if (fstat(fd, &st) != 0)
		rc = yb_fail_errno(err, YB_ERR_IO, errno,
				   "account '%s': cannot stat token cache %s",
				   account->name, path);
	else
		rc = check_cache_file(account, path, &st, err);
	if (rc == YB_OK)
		rc = read_all(account, path, fd, &buf, err);
	if (rc == YB_OK)
		parse_cache(account, path, &buf, cache);
	close(fd);
	oauth2_buf_free(&buf);
	return rc;
}

int oauth2_cache_load(const struct account *account, struct oauth2_cache *cache,
		      struct yb_error *err)
{
	memset(cache, 0, sizeof(*cache));
	char *dir;
	int dir_fd;
	int rc = open_cache_dir(account, false, &dir, &dir_fd, err);
	char *path = rc == YB_OK && dir_fd >= 0 ? path_join(dir, OAUTH2_CACHE_NAME)
						: NULL;
	if (rc == YB_OK && dir_fd >= 0 && !path)
		rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (rc == YB_OK && path)
		rc = load_from(account, dir_fd, path, cache, err);
	fd_close(&dir_fd);
	free(path);
	free(dir);
	return rc;
}

/* Append "name":value pairs; strings quoted, NULL ones left out. */
static void put_member(struct oauth2_buf *out, const char *name,
		       const char *value)
{
	if (!value)
		return;
	char head[64];
	snprintf(head, sizeof(head), ",\"%s\":", name);
	oauth2_buf_append(out, head, strlen(head));
	/* Escaping needs room for 6 bytes per byte at worst. */
	size_t len = strlen(value);
	size_t size = len * 6 + 3;
	char *quoted = len <= CACHE_MAX_BYTES ? malloc(size) : NULL;
	size_t used = 0;
	if (!quoted || !oauth2_json_put_string(quoted, size, &used, value))
		out->failed = true;
	else
		oauth2_buf_append(out, quoted, used);
	if (quoted)
		OPENSSL_cleanse(quoted, size);
	free(quoted);
}

static void serialize(const struct oauth2_cache *cache, struct oauth2_buf *out)
{
	char number[64];
	snprintf(number, sizeof(number), "{\"version\":%d", CACHE_VERSION);
	oauth2_buf_append(out, number, strlen(number));
	put_member(out, "fingerprint", cache->fingerprint);
	put_member(out, "access_token", cache->access_token);
	put_member(out, "token_type", cache->token_type);
	if (cache->expires_at.present) {
		snprintf(number, sizeof(number), ",\"expires_at\":%llu",
			 cache->expires_at.value);
		oauth2_buf_append(out, number, strlen(number));
	}
	put_member(out, "refresh_token", cache->refresh_token);
	put_member(out, "replaces_sha256",
		   cache->replaces_sha256);
	oauth2_buf_append(out, "}\n", 2);
}

int oauth2_cache_save(const struct account *account, struct oauth2_cache *cache,
		      struct yb_error *err)
{
	char fingerprint[65];
	oauth2_cache_fingerprint(account, fingerprint);
	if (!oauth2_cache_set(&cache->fingerprint, fingerprint))
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	cache->version.present = true;
	cache->version.value = CACHE_VERSION;
	char *dir;
	int dir_fd;
	int rc = open_cache_dir(account, true, &dir, &dir_fd, err);
	struct oauth2_buf text = { .limit = CACHE_MAX_BYTES };
	if (rc == YB_OK)
		serialize(cache, &text);
	if (rc == YB_OK && text.failed)
		rc = yb_fail(err, YB_ERR_INTERNAL,
			     "account '%s': the token cache is too large",
			     account->name);
	if (rc == YB_OK)
		rc = replace_at(account, "token cache", dir_fd, dir,
				OAUTH2_CACHE_NAME, text.data, text.len, err);
	oauth2_buf_free(&text);
	fd_close(&dir_fd);
	free(dir);
	return rc;
}
