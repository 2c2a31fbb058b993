/*
 * tls_trust.c - the system's trust anchors, read only when needed
 * (tls_trust.h).
 *
 * SSL_CTX_set_default_verify_paths parses every certificate of the
 * system bundle (about 140 on a usual system) for each connection: more
 * than half of the CPU of a run that finds nothing new, spent even when
 * tls_ca_file or the hashed directory already holds the one issuer the
 * server's chain needs.  The same anchors are offered here, in an order
 * that reads the least: certificates already in the store (tls_ca_file),
 * then the hashed directory (one file per name asked for), and last the
 * bundle, read whole once, the first time a name is found nowhere else.
 * What is trusted does not change, only when it is read.
 */
#include "config.h"

#include "tls_trust.h"

#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

/* Set as the lookup's method data once the bundle has been read. */
static char bundle_read_mark[] = "read";

static const char *bundle_path(void)
{
	const char *path = getenv(X509_get_default_cert_file_env());
	return path ? path : X509_get_default_cert_file();
}

/*
 * X509_LOOKUP get_by_subject: read the bundle into the store (once), then
 * answer from the store as OpenSSL's own file lookup would.  Like
 * OpenSSL's lookups, ret takes no reference of its own: the caller takes
 * one after a lookup answers.
 */
static int bundle_by_subject(X509_LOOKUP *lookup, X509_LOOKUP_TYPE type,
			     const X509_NAME *name, X509_OBJECT *ret)
{
	if (type != X509_LU_X509 || X509_LOOKUP_get_method_data(lookup))
		return 0;
	if (!X509_LOOKUP_set_method_data(lookup, bundle_read_mark))
		return 0;
	/* No bundle: only tls_ca_file, the directory or a pin can vouch. */
	if (X509_load_cert_crl_file(lookup, bundle_path(), X509_FILETYPE_PEM) <= 0)
		ERR_clear_error();
	X509_STORE *store = X509_LOOKUP_get_store(lookup);
	if (!X509_STORE_lock(store))
		return 0;
	X509_OBJECT *found = X509_OBJECT_retrieve_by_subject(
		X509_STORE_get0_objects(store), type, (X509_NAME *)name);
	X509 *cert = found ? X509_OBJECT_get0_X509(found) : NULL;
	int ok = cert && X509_OBJECT_set1_X509(ret, cert);
	X509_STORE_unlock(store);
	if (ok)
		X509_free(cert); /* the store keeps its own reference */
	return ok;
}

/* The bundle lookup's method, made once and kept for the process. */
static X509_LOOKUP_METHOD *bundle_method(void)
{
	static X509_LOOKUP_METHOD *method;
	if (method)
		return method;
	X509_LOOKUP_METHOD *made = X509_LOOKUP_meth_new("yubin lazy bundle");
	if (!made)
		return NULL;
	if (!X509_LOOKUP_meth_set_get_by_subject(made, bundle_by_subject)) {
		X509_LOOKUP_meth_free(made);
		return NULL;
	}
	method = made;
	return method;
}

int tls_trust_system(SSL_CTX *ctx)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *dir = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
	/* A missing directory is no error: the bundle may hold all. */
	if (!dir || X509_LOOKUP_add_dir(dir, NULL, X509_FILETYPE_DEFAULT) != 1)
		ERR_clear_error();
	X509_LOOKUP_METHOD *method = bundle_method();
	return method && X509_STORE_add_lookup(store, method) != NULL;
}
