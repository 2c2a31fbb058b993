/* testcert.c - certificates and keys for the TLS unit tests. */
#include "config.h"

#include "testcert.h"

#include <stdio.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

static bool add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (!ext)
		return false;
	bool ok = X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/* Version, serial, validity, key, subject and issuer names. */
static bool set_fields(X509 *cert, const struct testcert_spec *spec,
		       EVP_PKEY *key, X509 *issuer)
{
	X509_NAME *name = X509_get_subject_name(cert);
	X509_NAME *issuer_name = issuer ? X509_get_subject_name(issuer) : name;
	return X509_set_version(cert, 2) == 1 &&
	       ASN1_INTEGER_set(X509_get_serialNumber(cert),
				spec->serial) == 1 &&
	       X509_gmtime_adj(X509_getm_notBefore(cert),
			       spec->from_days * 86400) &&
	       X509_gmtime_adj(X509_getm_notAfter(cert),
			       spec->until_days * 86400) &&
	       X509_set_pubkey(cert, key) == 1 &&
	       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					  (const unsigned char *)spec->cn, -1,
					  -1, 0) == 1 &&
	       X509_set_issuer_name(cert, issuer_name) == 1;
}

/* What a CA or a leaf may be used for, and its names. */
static bool add_extensions(X509 *cert, const struct testcert_spec *spec,
			   X509 *issuer)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	const char *usage = spec->leaf_usage ? spec->leaf_usage : "serverAuth";
	return add_ext(cert, &ctx, NID_basic_constraints,
		       spec->is_ca ? "critical,CA:TRUE" : "CA:FALSE") &&
	       add_ext(cert, &ctx, NID_key_usage,
		       spec->is_ca ? "critical,keyCertSign,cRLSign"
				   : "critical,digitalSignature") &&
	       (spec->is_ca ||
		add_ext(cert, &ctx, NID_ext_key_usage, usage)) &&
	       add_ext(cert, &ctx, NID_subject_key_identifier, "hash") &&
	       (!spec->san ||
		add_ext(cert, &ctx, NID_subject_alt_name, spec->san));
}

X509 *testcert_make(const struct testcert_spec *spec, EVP_PKEY *key,
		    X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *cert = X509_new();
	if (!cert)
		return NULL;
	if (!set_fields(cert, spec, key, issuer) ||
	    !add_extensions(cert, spec, issuer) ||
	    X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

X509 *testcert_make_ca(EVP_PKEY *key)
{
	struct testcert_spec ca = {
		.cn = "yubin test CA", .is_ca = true, .from_days = -1,
		.until_days = 30, .serial = 1,
	};
	return testcert_make(&ca, key, NULL, NULL);
}

EVP_PKEY *testcert_new_key(void)
{
	return EVP_EC_gen("P-256");
}

bool testcert_write_pem(const char *path, X509 *cert)
{
	FILE *file = fopen(path, "w");
	if (!file)
		return false;
	bool ok = PEM_write_X509(file, cert) == 1;
	return fclose(file) == 0 && ok;
}

bool testcert_write_key(const char *path, EVP_PKEY *key, mode_t mode)
{
	FILE *file = fopen(path, "w");
	if (!file)
		return false;
	bool ok = PEM_write_PrivateKey(file, key, NULL, NULL, 0, NULL,
				       NULL) == 1;
	return fclose(file) == 0 && ok && chmod(path, mode) == 0;
}

bool testcert_path(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);
	return n > 0 && (size_t)n < size;
}
