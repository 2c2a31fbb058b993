/*
 * tls_settings.h - how a connection is protected, as the account file
 * says it (account.h) and as a connection is opened (conn.h).
 */
#ifndef YUBIN_TLS_SETTINGS_H
#define YUBIN_TLS_SETTINGS_H

enum tls_mode { TLS_IMPLICIT, TLS_STARTTLS, TLS_NONE };

/* tls_fingerprint: sha256 of the server's certificate or of its public key
   (DER SubjectPublicKeyInfo, which survives re-issued certificates). */
enum tls_pin_kind { PIN_CERTIFICATE, PIN_PUBLIC_KEY };

struct tls_pin {
	enum tls_pin_kind kind;
	unsigned char sha256[32];
};

/* Enough for a key rollover with room to spare. */
#define TLS_PINS_MAX 8

#endif
