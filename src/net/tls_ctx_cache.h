/*
 * tls_ctx_cache.h - TLS client contexts kept for the accounts that follow.
 *
 * Making a context (SSL_CTX_new, then reading tls_ca_file and a client
 * certificate) costs about a third of an account's CPU when there is
 * little mail; accounts with the same TLS settings can share one.  A
 * context holds settings and trust only: each connection makes its own
 * SSL, checks its own server name and pins, and a client context caches
 * no sessions, so nothing of one account's session reaches another.
 */
#ifndef YUBIN_TLS_CTX_CACHE_H
#define YUBIN_TLS_CTX_CACHE_H

#include <stdbool.h>

#include <openssl/ssl.h>

/* Everything a context is made from (the strings are not kept). */
struct tls_ctx_key {
	int min_version;          /* TLS1_2_VERSION or TLS1_3_VERSION */
	bool verify;
	bool pinned;              /* verify with pins: their callback */
	const char *ca_file;      /* or NULL */
	const char *cert_file;    /* or NULL */
	const char *key_file;     /* or NULL */
};

/* A context made for key before: a new reference (SSL_CTX_free it), or
   NULL if there is none. */
SSL_CTX *tls_ctx_cache_get(const struct tls_ctx_key *key);

/* Keep ctx (a reference of its own) for key.  Only an optimisation: when
   the cache is full or memory short, nothing is kept. */
void tls_ctx_cache_put(const struct tls_ctx_key *key, SSL_CTX *ctx);

/* True when no more settings can be kept. */
bool tls_ctx_cache_full(void);

/* Drop every context kept. */
void tls_ctx_cache_clear(void);

#endif
