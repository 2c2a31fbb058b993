/* test_sasl.c - base64, SASL PLAIN, CRAM-MD5 and APOP against known vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sasl.h"

/* RFC 4648 section 10. */
static const struct {
	const char *plain;
	const char *encoded;
} base64_vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};
#define VECTOR_COUNT (sizeof(base64_vectors) / sizeof(base64_vectors[0]))

static void test_base64_encode_rfc4648(void **state)
{
	(void)state;
	for (size_t i = 0; i < VECTOR_COUNT; i++) {
		const char *plain = base64_vectors[i].plain;
		char *encoded = sasl_base64_encode(plain, strlen(plain));
		assert_non_null(encoded);
		assert_string_equal(encoded, base64_vectors[i].encoded);
		sasl_free_secret(encoded);
	}
}

static void test_base64_decode_rfc4648(void **state)
{
	(void)state;
	for (size_t i = 0; i < VECTOR_COUNT; i++) {
		const char *encoded = base64_vectors[i].encoded;
		size_t len = 99;
		unsigned char *plain = sasl_base64_decode(encoded, strlen(encoded),
							  &len);
		assert_non_null(plain);
		assert_int_equal(len, strlen(base64_vectors[i].plain));
		assert_memory_equal(plain, base64_vectors[i].plain, len);
		assert_int_equal(plain[len], '\0');
		sasl_free_secret((char *)plain);
	}
}

static void test_base64_decode_without_padding(void **state)
{
	(void)state;
	const char *unpadded[] = { "Zg", "Zm8", "Zm9vYg", "Zm9vYmE" };
	const char *plain[] = { "f", "fo", "foob", "fooba" };
	for (size_t i = 0; i < 4; i++) {
		size_t len = 0;
		unsigned char *out = sasl_base64_decode(unpadded[i],
							strlen(unpadded[i]), &len);
		assert_non_null(out);
		assert_int_equal(len, strlen(plain[i]));
		assert_memory_equal(out, plain[i], len);
		sasl_free_secret((char *)out);
	}
}

static void test_base64_binary_round_trip(void **state)
{
	(void)state;
	unsigned char bytes[256];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(255 - i);
	for (size_t len = 0; len <= sizeof(bytes); len++) {
		char *encoded = sasl_base64_encode(bytes, len);
		assert_non_null(encoded);
		assert_int_equal(strlen(encoded), (len + 2) / 3 * 4);
		size_t decoded_len = 0;
		unsigned char *decoded = sasl_base64_decode(encoded,
							    strlen(encoded),
							    &decoded_len);
		assert_non_null(decoded);
		assert_int_equal(decoded_len, len);
		if (len > 0)
			assert_memory_equal(decoded, bytes, len);
		free(decoded);
		free(encoded);
	}
}

static void test_base64_decode_rejects_bad_characters(void **state)
{
	(void)state;
	const char *bad[] = { "Zm9v!", "Zm9v\n", "Zm 9v", "Zm9-", "Zm9_",
			      "Zm9v\r\n", " Zm9v", "Zm9\x80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len;
		assert_null(sasl_base64_decode(bad[i], strlen(bad[i]), &len));
	}
	size_t len;
	assert_null(sasl_base64_decode("Zm\0v", 4, &len));
}

static void test_base64_decode_rejects_bad_padding(void **state)
{
	(void)state;
	const char *bad[] = { "Zg=", "Z===", "====", "=", "Zg==Zg==", "Zm=v",
			      "Zm9v=", "Zm9v====", "=Zm9" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len;
		assert_null(sasl_base64_decode(bad[i], strlen(bad[i]), &len));
	}
}

static void test_base64_decode_rejects_bad_lengths(void **state)
{
	(void)state;
	/* One character left over cannot hold a byte. */
	const char *bad[] = { "Z", "Zm9vY", "Zm9vYmFyZ" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len;
		assert_null(sasl_base64_decode(bad[i], strlen(bad[i]), &len));
	}
}

static void test_base64_decode_rejects_noncanonical(void **state)
{
	(void)state;
	/* "Zh==" carries set bits after the last byte: not what any encoder
	   writes for "f". */
	size_t len;
	assert_null(sasl_base64_decode("Zh==", 4, &len));
	assert_null(sasl_base64_decode("Zm9=", 4, &len));
	assert_null(sasl_base64_decode("Zh", 2, &len));
	unsigned char *ok = sasl_base64_decode("Zg==", 4, &len);
	assert_non_null(ok);
	free(ok);
}

static void test_base64_decode_respects_length(void **state)
{
	(void)state;
	size_t len = 0;
	unsigned char *out = sasl_base64_decode("Zm9vYmFy", 4, &len);
	assert_non_null(out);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "foo", 3);
	free(out);
}

static void test_plain_response(void **state)
{
	(void)state;
	char *response = sasl_plain_response("tim", "tanstaaf");
	assert_non_null(response);
	/* base64("\0tim\0tanstaaf") */
	assert_string_equal(response, "AHRpbQB0YW5zdGFhZg==");
	sasl_free_secret(response);
}

static void test_plain_response_utf8_and_controls(void **state)
{
	(void)state;
	char *response = sasl_plain_response("alice@example.com",
					     "p\xc3\xa4ss w0rd:\001");
	assert_non_null(response);
	assert_string_equal(response,
			    "AGFsaWNlQGV4YW1wbGUuY29tAHDDpHNzIHcwcmQ6AQ==");
	size_t len;
	unsigned char *decoded = sasl_base64_decode(response, strlen(response),
						    &len);
	assert_non_null(decoded);
	assert_int_equal(len, 1 + 17 + 1 + 12);
	assert_int_equal(decoded[0], '\0');
	assert_int_equal(decoded[18], '\0');
	free(decoded);
	sasl_free_secret(response);
}

static void test_cram_md5_rfc2195(void **state)
{
	(void)state;
	/* base64("<1896.697170952@postoffice.reston.mci.net>") */
	const char *challenge =
		"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";
	char *response = sasl_cram_md5_response(challenge, strlen(challenge),
						"tim", "tanstaaftanstaaf");
	assert_non_null(response);
	size_t len;
	unsigned char *decoded = sasl_base64_decode(response, strlen(response),
						    &len);
	assert_non_null(decoded);
	assert_string_equal((char *)decoded,
			    "tim b913a602c7eda7a495b4e6e7334d3890");
	assert_string_equal(response,
			    "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	free(decoded);
	sasl_free_secret(response);
}

static void test_cram_md5_other_password_differs(void **state)
{
	(void)state;
	const char *challenge =
		"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";
	char *response = sasl_cram_md5_response(challenge, strlen(challenge),
						"tim", "tanstaaf");
	assert_non_null(response);
	assert_string_not_equal(response,
				"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	sasl_free_secret(response);
}

static void test_cram_md5_bad_challenge(void **state)
{
	(void)state;
	assert_null(sasl_cram_md5_response("not base64!", 11, "tim", "x"));
	assert_null(sasl_cram_md5_response("PDE4O", 5, "tim", "x"));
}

/* Google's documented example of an XOAUTH2 initial client response. */
static void test_xoauth2_response(void **state)
{
	(void)state;
	char *response = sasl_xoauth2_response(
		"someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
	assert_non_null(response);
	assert_string_equal(response,
		"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRm"
		"dDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
	sasl_free_secret(response);
}

/* The example of RFC 7628 section 4.1. */
static void test_oauthbearer_rfc7628(void **state)
{
	(void)state;
	char *response = sasl_oauthbearer_response(
		"user@example.com", "server.example.com", 143,
		"vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
	assert_non_null(response);
	assert_string_equal(response,
		"bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29t"
		"AXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhi"
		"SFJoZG1semRHRXVZMjl0Q2c9PQEB");
	sasl_free_secret(response);
}

/* ',' and '=' in the user name are escaped in the GS2 header. */
static void test_oauthbearer_escapes_user(void **state)
{
	(void)state;
	char *response = sasl_oauthbearer_response("a,b=c", "h", 993, "t");
	assert_non_null(response);
	assert_string_equal(response,
		"bixhPWE9MkNiPTNEYywBaG9zdD1oAXBvcnQ9OTkzAWF1dGg9QmVhcmVyIHQBAQ==");
	sasl_free_secret(response);
}

static void test_bearer_token_rules(void **state)
{
	(void)state;
	assert_true(sasl_bearer_token_ok("ya29.a0-_~+/Zz09=="));
	assert_true(sasl_bearer_token_ok("x"));
	static const char *const bad[] = {
		"", "=", "==abc", "a b", "a\001", "abc\r\n", "a=b", "t\001auth",
		"caf\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(sasl_bearer_token_ok(bad[i]));
		assert_null(sasl_xoauth2_response("u", bad[i]));
		assert_null(sasl_oauthbearer_response("u", "h", 1, bad[i]));
	}
	char *longest = malloc(8194);
	assert_non_null(longest);
	memset(longest, 'a', 8192);
	longest[8192] = '\0';
	assert_true(sasl_bearer_token_ok(longest));
	longest[8192] = 'a';
	longest[8193] = '\0';
	assert_false(sasl_bearer_token_ok(longest));
	free(longest);
	/* \001 ends a field: a user name holding it is refused. */
	assert_null(sasl_xoauth2_response("u\001auth=Bearer evil", "t"));
	assert_null(sasl_oauthbearer_response("u\001", "h", 1, "t"));
	assert_null(sasl_oauthbearer_response("u", "h", 70000, "t"));
}

static void test_account_credential(void **state)
{
	(void)state;
	struct account a = { .auth = AUTH_AUTO };
	assert_int_equal(sasl_account_credential(&a), SASL_CRED_PASSWORD);
	a.tls_cert_file = "/c.pem";
	assert_int_equal(sasl_account_credential(&a), SASL_CRED_CERT);
	a.password_source = PASSWORD_ENV;
	assert_int_equal(sasl_account_credential(&a), SASL_CRED_PASSWORD);
	a.has_oauth2 = true;
	assert_int_equal(sasl_account_credential(&a), SASL_CRED_TOKEN);
	a.auth = AUTH_PLAIN;
	assert_int_equal(sasl_account_credential(&a), SASL_CRED_PASSWORD);
	a.auth = AUTH_EXTERNAL;
	assert_int_equal(sasl_account_credential(&a), SASL_CRED_CERT);
	a.auth = AUTH_XOAUTH2;
	assert_int_equal(sasl_account_credential(&a), SASL_CRED_TOKEN);
	a.auth = AUTH_OAUTHBEARER;
	assert_int_equal(sasl_account_credential(&a), SASL_CRED_TOKEN);
}

static void test_apop_rfc1939(void **state)
{
	(void)state;
	char *digest = sasl_apop_digest("<1896.697170952@dbc.mtview.ca.us>",
					"tanstaaf");
	assert_non_null(digest);
	assert_string_equal(digest, "c4c9334bac560ecc979e58001b3e22fb");
	sasl_free_secret(digest);
}

static void test_apop_depends_on_timestamp(void **state)
{
	(void)state;
	char *digest = sasl_apop_digest("<1897.697170952@dbc.mtview.ca.us>",
					"tanstaaf");
	assert_non_null(digest);
	assert_int_equal(strlen(digest), 32);
	assert_string_not_equal(digest, "c4c9334bac560ecc979e58001b3e22fb");
	sasl_free_secret(digest);
	sasl_free_secret(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_encode_rfc4648),
		cmocka_unit_test(test_base64_decode_rfc4648),
		cmocka_unit_test(test_base64_decode_without_padding),
		cmocka_unit_test(test_base64_binary_round_trip),
		cmocka_unit_test(test_base64_decode_rejects_bad_characters),
		cmocka_unit_test(test_base64_decode_rejects_bad_padding),
		cmocka_unit_test(test_base64_decode_rejects_bad_lengths),
		cmocka_unit_test(test_base64_decode_rejects_noncanonical),
		cmocka_unit_test(test_base64_decode_respects_length),
		cmocka_unit_test(test_plain_response),
		cmocka_unit_test(test_plain_response_utf8_and_controls),
		cmocka_unit_test(test_cram_md5_rfc2195),
		cmocka_unit_test(test_cram_md5_other_password_differs),
		cmocka_unit_test(test_cram_md5_bad_challenge),
		cmocka_unit_test(test_xoauth2_response),
		cmocka_unit_test(test_oauthbearer_rfc7628),
		cmocka_unit_test(test_oauthbearer_escapes_user),
		cmocka_unit_test(test_bearer_token_rules),
		cmocka_unit_test(test_account_credential),
		cmocka_unit_test(test_apop_rfc1939),
		cmocka_unit_test(test_apop_depends_on_timestamp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
