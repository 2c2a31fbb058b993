/*
 * testcert.h - certificates and keys for the TLS unit tests, made with
 * the OpenSSL API (no openssl command, no files checked in).
 *
 * Every X509 and EVP_PKEY returned belongs to the caller (X509_free,
 * EVP_PKEY_free).  Failures return NULL or false; the caller's group
 * setup turns that into a setup failure.
 */
#ifndef YUBIN_TESTCERT_H
#define YUBIN_TESTCERT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* What a certificate says about itself. */
struct testcert_spec {
	const char *cn;          /* subject CN */
	const char *san;         /* subjectAltName ("DNS:a,IP:b"); NULL: none */
	bool is_ca;
	const char *leaf_usage;  /* extended key usage of a leaf; NULL: serverAuth */
	long from_days;          /* valid from now + from_days ... */
	long until_days;         /* ... to now + until_days */
	long serial;
};

/* A certificate for key as spec says, signed by issuer with issuer_key
   (issuer NULL: signed by key itself). */
X509 *testcert_make(const struct testcert_spec *spec, EVP_PKEY *key,
		    X509 *issuer, EVP_PKEY *issuer_key);

/* The tests' CA, "yubin test CA", self-signed with key, serial 1,
   valid from yesterday for 30 days. */
X509 *testcert_make_ca(EVP_PKEY *key);

/* A fresh P-256 key. */
EVP_PKEY *testcert_new_key(void);

/* cert as PEM into a new file at path. */
bool testcert_write_pem(const char *path, X509 *cert);

/* key as unencrypted PEM into a new file at path, then chmod to mode. */
bool testcert_write_key(const char *path, EVP_PKEY *key, mode_t mode);

/* dir + "/" + name into out; false when it does not fit. */
bool testcert_path(char *out, size_t size, const char *dir, const char *name);

#endif
