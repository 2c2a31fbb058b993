/*
 * tls_trust.h - the system's trust anchors, read only when needed.
 */
#ifndef YUBIN_TLS_TRUST_H
#define YUBIN_TLS_TRUST_H

#include <openssl/ssl.h>

/*
 * Trust what the system trusts (OpenSSL's default certificate directory
 * and bundle file, or SSL_CERT_DIR and SSL_CERT_FILE), as
 * SSL_CTX_set_default_verify_paths does, without parsing the whole
 * bundle up front: the hashed directory is asked first, certificate by
 * certificate, and the bundle is read whole only when a chain needs an
 * issuer that neither the directory nor a certificate already loaded
 * (tls_ca_file) has.  Returns 1 on success, 0 when OpenSSL is out of
 * memory (its error queue says more).
 */
int tls_trust_system(SSL_CTX *ctx);

#endif
