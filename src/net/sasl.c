/*
 * sasl.c - base64, SASL PLAIN, CRAM-MD5, XOAUTH2, OAUTHBEARER and the APOP
 * digest (see sasl.h).
 *
 * Every intermediate that holds a password or something derived from it
 * is wiped with OPENSSL_cleanse before it is freed.
 */
#include "config.h"

#include "sasl.h"

#include "text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MD5_LEN 16

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Wipe n bytes and free. */
static void free_wiped(void *data, size_t n)
{
	if (!data)
		return;
	OPENSSL_cleanse(data, n);
	free(data);
}

char *sasl_base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t groups = len / 3 + (len % 3 != 0);
	if (groups > (SIZE_MAX - 1) / 4)
		return NULL;
	char *out = malloc(groups * 4 + 1);
	if (!out)
		return NULL;

	size_t o = 0;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];
		out[o++] = base64_alphabet[(v >> 18) & 0x3f];
		out[o++] = base64_alphabet[(v >> 12) & 0x3f];
		out[o++] = base64_alphabet[(v >> 6) & 0x3f];
		out[o++] = base64_alphabet[v & 0x3f];
	}
	size_t rest = len - i;
	if (rest > 0) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (rest == 2)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = base64_alphabet[(v >> 18) & 0x3f];
		out[o++] = base64_alphabet[(v >> 12) & 0x3f];
		out[o++] = rest == 2 ? base64_alphabet[(v >> 6) & 0x3f] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

/* The 6-bit value of a base64 character, or -1. */
/*
 * How many characters of text carry data: padding, if any, must make the
 * length a multiple of 4 and be one or two '=' at the very end.  Returns
 * false for any other use of '=' and for lengths no encoder produces.
 */
static bool base64_data_length(const char *text, size_t len, size_t *data_len)
{
	size_t n = len;
	if (n > 0 && text[n - 1] == '=') {
		if (len % 4 != 0)
			return false;
		n--;
		if (n > 0 && text[n - 1] == '=')
			n--;
	}
	/* A lone character in the last group cannot hold a whole byte. */
	if (n % 4 == 1)
		return false;
	*data_len = n;
	return true;
}

unsigned char *sasl_base64_decode(const char *text, size_t len, size_t *out_len)
{
	size_t data_len;
	if (!base64_data_length(text, len, &data_len))
		return NULL;
	size_t decoded_len = data_len / 4 * 3 + (data_len % 4 ? data_len % 4 - 1 : 0);
	unsigned char *out = malloc(decoded_len + 1);
	if (!out)
		return NULL;

	uint32_t bits = 0;
	unsigned bit_count = 0;
	size_t o = 0;
	for (size_t i = 0; i < data_len; i++) {
		int value = text_base64_value((unsigned char)text[i], '/');
		if (value < 0) {
			free_wiped(out, decoded_len + 1);
			return NULL;
		}
		bits = (bits << 6) | (uint32_t)value;
		bit_count += 6;
		if (bit_count >= 8) {
			bit_count -= 8;
			out[o++] = (unsigned char)(bits >> bit_count);
			bits &= (1u << bit_count) - 1;
		}
	}
	/* Strict: the unused low bits of the last character must be zero,
	   so every byte string has exactly one accepted encoding. */
	if (bits != 0) {
		free_wiped(out, decoded_len + 1);
		return NULL;
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

char *sasl_plain_response(const char *user, const char *password)
{
	size_t user_len = strlen(user);
	size_t password_len = strlen(password);
	if (user_len > SIZE_MAX / 2 - 2 || password_len > SIZE_MAX / 2 - 2)
		return NULL;
	/* authzid (empty) NUL authcid NUL passwd, RFC 4616. */
	size_t message_len = 1 + user_len + 1 + password_len;
	unsigned char *message = malloc(message_len);
	if (!message)
		return NULL;
	message[0] = '\0';
	memcpy(message + 1, user, user_len);
	message[1 + user_len] = '\0';
	memcpy(message + 2 + user_len, password, password_len);
	char *encoded = sasl_base64_encode(message, message_len);
	free_wiped(message, message_len);
	return encoded;
}

#define BEARER_TOKEN_MAX 8192

static bool is_token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~' || c == '+' || c == '/';
}

bool sasl_bearer_token_ok(const char *token)
{
	size_t len = strnlen(token, BEARER_TOKEN_MAX + 1);
	if (len == 0 || len > BEARER_TOKEN_MAX)
		return false;
	size_t i = 0;
	while (i < len && is_token_char(token[i]))
		i++;
	if (i == 0)
		return false;
	while (i < len && token[i] == '=')
		i++;
	return i == len;
}

/* Base64 of parts joined, the joined copy wiped; NULL on overflow/OOM. */
static char *encode_joined(const char *const *parts, size_t count)
{
	size_t total = 0;
	for (size_t i = 0; i < count; i++) {
		size_t len = strlen(parts[i]);
		if (len > SIZE_MAX / 2 - total)
			return NULL;
		total += len;
	}
	char *joined = malloc(total + 1);
	if (!joined)
		return NULL;
	size_t used = 0;
	for (size_t i = 0; i < count; i++) {
		size_t len = strlen(parts[i]);
		memcpy(joined + used, parts[i], len);
		used += len;
	}
	char *encoded = sasl_base64_encode(joined, total);
	free_wiped(joined, total + 1);
	return encoded;
}

char *sasl_xoauth2_response(const char *user, const char *token)
{
	if (!sasl_bearer_token_ok(token) || strchr(user, '\001'))
		return NULL;
	const char *parts[] = { "user=", user, "\001auth=Bearer ", token,
				"\001\001" };
	return encode_joined(parts, 5);
}

/* The user as a GS2 saslname (RFC 5801): ',' is =2C and '=' is =3D. */
static char *gs2_escape(const char *user)
{
	size_t len = strlen(user);
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = malloc(3 * len + 1);
	if (!out)
		return NULL;
	char *at = out;
	for (const char *c = user; *c; c++) {
		if (*c == ',' || *c == '=') {
			memcpy(at, *c == ',' ? "=2C" : "=3D", 3);
			at += 3;
		} else {
			*at++ = *c;
		}
	}
	*at = '\0';
	return out;
}

char *sasl_oauthbearer_response(const char *user, const char *host,
				unsigned port, const char *token)
{
	if (!sasl_bearer_token_ok(token) || strchr(user, '\001') ||
	    strchr(host, '\001') || port > 65535)
		return NULL;
	char *escaped = gs2_escape(user);
	if (!escaped)
		return NULL;
	char port_text[8];
	snprintf(port_text, sizeof(port_text), "%u", port);
	const char *parts[] = { "n,a=", escaped, ",\001host=", host,
				"\001port=", port_text, "\001auth=Bearer ",
				token, "\001\001" };
	char *encoded = encode_joined(parts, 9);
	free(escaped);
	return encoded;
}

int sasl_bearer_response(const struct account *account, bool oauthbearer,
			 const char *token, const char *peer, char **out,
			 struct yb_error *err)
{
	*out = NULL;
	if (!sasl_bearer_token_ok(token))
		return yb_fail(err, YB_ERR_AUTH, "%s: the OAuth2 access token "
			       "for %s is not a bearer token (empty, too long or "
			       "holding other characters)", peer, account->user);
	const char *server_name = account->tls_server_name
					  ? account->tls_server_name
					  : account->host;
	*out = oauthbearer ? sasl_oauthbearer_response(account->user,
						       server_name,
						       account->port, token)
			   : sasl_xoauth2_response(account->user, token);
	if (!*out)
		return yb_fail(err, YB_ERR_INTERNAL, "%s: out of memory, or a "
			       "user name holding \\001", peer);
	return YB_OK;
}

void sasl_describe_refusal(const char *challenge, size_t len, char *out,
			   size_t size)
{
	size_t json_len = 0;
	unsigned char *json = sasl_base64_decode(challenge, len, &json_len);
	if (json)
		text_sanitize(out, size, (const char *)json, json_len);
	else
		text_sanitize(out, size, challenge, len);
	free(json);
}

const char *sasl_refusal_answer(bool oauthbearer)
{
	return oauthbearer ? "AQ==" : "";
}

static void hex_encode(const unsigned char *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

char *sasl_cram_md5_response(const char *challenge_b64, size_t challenge_len,
			     const char *user, const char *password)
{
	size_t challenge_size;
	unsigned char *challenge = sasl_base64_decode(challenge_b64, challenge_len,
						      &challenge_size);
	if (!challenge)
		return NULL;

	size_t password_len = strlen(password);
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	unsigned char *mac = NULL;
	if (password_len <= INT32_MAX)
		mac = HMAC(EVP_md5(), password, (int)password_len, challenge,
			   challenge_size, digest, &digest_len);
	free_wiped(challenge, challenge_size + 1);
	if (!mac || digest_len != MD5_LEN) {
		OPENSSL_cleanse(digest, sizeof(digest));
		return NULL;
	}

	/* "user " hex(digest), RFC 2195. */
	size_t user_len = strlen(user);
	if (user_len > SIZE_MAX - (2 * MD5_LEN + 2)) {
		OPENSSL_cleanse(digest, sizeof(digest));
		return NULL;
	}
	size_t message_len = user_len + 1 + 2 * MD5_LEN;
	char *message = malloc(message_len + 1);
	if (!message) {
		OPENSSL_cleanse(digest, sizeof(digest));
		return NULL;
	}
	memcpy(message, user, user_len);
	message[user_len] = ' ';
	hex_encode(digest, MD5_LEN, message + user_len + 1);
	OPENSSL_cleanse(digest, sizeof(digest));

	char *encoded = sasl_base64_encode(message, message_len);
	free_wiped(message, message_len + 1);
	return encoded;
}

char *sasl_apop_digest(const char *timestamp, const char *password)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md)
		return NULL;
	/* MD5 may be unavailable (a FIPS provider): then every call fails. */
	bool hashed = EVP_DigestInit_ex(md, EVP_md5(), NULL) == 1 &&
		      EVP_DigestUpdate(md, timestamp, strlen(timestamp)) == 1 &&
		      EVP_DigestUpdate(md, password, strlen(password)) == 1 &&
		      EVP_DigestFinal_ex(md, digest, &digest_len) == 1;
	EVP_MD_CTX_free(md);
	if (!hashed || digest_len != MD5_LEN) {
		OPENSSL_cleanse(digest, sizeof(digest));
		return NULL;
	}
	char *hex = malloc(2 * MD5_LEN + 1);
	if (hex)
		hex_encode(digest, MD5_LEN, hex);
	OPENSSL_cleanse(digest, sizeof(digest));
	return hex;
}

void sasl_free_secret(char *secret)
{
	if (!secret)
		return;
	free_wiped(secret, strlen(secret));
}
