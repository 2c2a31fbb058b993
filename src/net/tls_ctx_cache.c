/*
 * tls_ctx_cache.c - TLS client contexts kept for the accounts that follow.
 *
 * A run has few distinct TLS settings (most accounts use the system's
 * trust, some one tls_ca_file), so a short list searched in order is
 * enough; settings past CACHE_MAX are not kept and each of their
 * connections makes its own context, as without a cache.
 */
#include "config.h"

#include "tls_ctx_cache.h"

#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 16

struct entry {
	struct tls_ctx_key key;   /* its strings owned */
	SSL_CTX *ctx;             /* one reference owned */
};

static struct entry entries[CACHE_MAX];
static size_t entry_count;

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_key(const struct tls_ctx_key *a, const struct tls_ctx_key *b)
{
	return a->min_version == b->min_version && a->verify == b->verify &&
	       a->pinned == b->pinned && same_text(a->ca_file, b->ca_file) &&
	       same_text(a->cert_file, b->cert_file) &&
	       same_text(a->key_file, b->key_file);
}

static struct entry *find(const struct tls_ctx_key *key)
{
	for (size_t i = 0; i < entry_count; i++)
		if (same_key(&entries[i].key, key))
			return &entries[i];
	return NULL;
}

SSL_CTX *tls_ctx_cache_get(const struct tls_ctx_key *key)
{
	struct entry *entry = find(key);
	if (!entry || SSL_CTX_up_ref(entry->ctx) != 1)
		return NULL;
	return entry->ctx;
}

/* A copy of text in *out (NULL stays NULL); false when out of memory. */
static bool copy_text(const char *text, const char **out)
{
	*out = text ? strdup(text) : NULL;
	return !text || *out;
}

static void free_key(struct tls_ctx_key *key)
{
	free((char *)key->ca_file);
	free((char *)key->cert_file);
	free((char *)key->key_file);
}

void tls_ctx_cache_put(const struct tls_ctx_key *key, SSL_CTX *ctx)
{
	if (entry_count == CACHE_MAX || find(key))
		return;
	struct entry *entry = &entries[entry_count];
	entry->key = (struct tls_ctx_key){ .min_version = key->min_version,
					   .verify = key->verify,
					   .pinned = key->pinned };
	bool copied = copy_text(key->ca_file, &entry->key.ca_file) &&
		      copy_text(key->cert_file, &entry->key.cert_file) &&
		      copy_text(key->key_file, &entry->key.key_file);
	if (!copied || SSL_CTX_up_ref(ctx) != 1) {
		free_key(&entry->key);
		return;
	}
	entry->ctx = ctx;
	entry_count++;
}

bool tls_ctx_cache_full(void)
{
	return entry_count == CACHE_MAX;
}

void tls_ctx_cache_clear(void)
{
	for (size_t i = 0; i < entry_count; i++) {
		SSL_CTX_free(entries[i].ctx);
		free_key(&entries[i].key);
	}
	entry_count = 0;
}
