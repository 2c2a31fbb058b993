/*
 * sasl.h - pure encodings for authentication: base64, SASL PLAIN,
 * CRAM-MD5 and the APOP digest.  Every result is malloc'd, owned by the
 * caller, and should be released with sasl_free_secret() (wipes it).
 * All functions return NULL on out of memory or invalid input.
 */
#ifndef YUBIN_SASL_H
#define YUBIN_SASL_H

#include <stddef.h>

/* Standard base64 with padding, NUL-terminated. */
char *sasl_base64_encode(const void *data, size_t len);

/*
 * Decode standard base64 (padding optional, no whitespace).  *out_len
 * gets the length; the result is also NUL-terminated.
 */
unsigned char *sasl_base64_decode(const char *text, size_t len, size_t *out_len);

/* base64("\0user\0password") for AUTH PLAIN. */
char *sasl_plain_response(const char *user, const char *password);

/* base64("user " hex(HMAC-MD5(password, decoded challenge))). */
char *sasl_cram_md5_response(const char *challenge_b64, size_t challenge_len,
			     const char *user, const char *password);

/* hex(MD5(timestamp password)) for APOP. */
char *sasl_apop_digest(const char *timestamp, const char *password);

/* Wipe and free; NULL is fine. */
void sasl_free_secret(char *secret);

#endif
