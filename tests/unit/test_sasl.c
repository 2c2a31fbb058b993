/*
 * test_sasl.c - base64, SASL PLAIN, CRAM-MD5 and APOP against known vectors;
 * the SASL engine driven through a scripted framing, and its choices.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"
#include "sasl_engine.h"

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
	assert_int_equal(account_credential(&a), CRED_PASSWORD);
	a.tls_cert_file = "/c.pem";
	assert_int_equal(account_credential(&a), CRED_CERT);
	a.password_source = PASSWORD_ENV;
	assert_int_equal(account_credential(&a), CRED_PASSWORD);
	a.has_oauth2 = true;
	assert_int_equal(account_credential(&a), CRED_TOKEN);
	a.auth = AUTH_PLAIN;
	assert_int_equal(account_credential(&a), CRED_PASSWORD);
	a.auth = AUTH_EXTERNAL;
	assert_int_equal(account_credential(&a), CRED_CERT);
	a.auth = AUTH_XOAUTH2;
	assert_int_equal(account_credential(&a), CRED_TOKEN);
	a.auth = AUTH_OAUTHBEARER;
	assert_int_equal(account_credential(&a), CRED_TOKEN);
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

/* --- the engine, over a scripted framing --- */

/*
 * A script of one exchange: 'C' the command line the client must send
 * ("AUTH PLAIN" or "AUTH PLAIN initial"), 'R' a response line it must
 * send, 'X' its cancel, 'S' what the server answers: "+ challenge",
 * "OK text", "NO text", "LATER text" (refused for now), "BAD text".
 */
struct script_step {
	char kind;
	const char *text;
};

struct fake_server {
	const struct script_step *steps;
	size_t at;
	char line[1024];
};

static const struct script_step *next_step(struct fake_server *fake,
					   char kind)
{
	const struct script_step *step = &fake->steps[fake->at++];
	assert_int_equal(step->kind, kind);
	return step;
}

static int fake_send_command(void *session, const char *command,
			     const char *initial, struct yb_error *err)
{
	(void)err;
	struct fake_server *fake = session;
	snprintf(fake->line, sizeof(fake->line), "%s%s%s", command,
		 initial ? " " : "", initial ? initial : "");
	assert_string_equal(fake->line, next_step(fake, 'C')->text);
	return YB_OK;
}

static int fake_send_response(void *session, const char *response,
			      struct yb_error *err)
{
	(void)err;
	assert_string_equal(response, next_step(session, 'R')->text);
	return YB_OK;
}

static int fake_read_reply(void *session, const char *what, bool challenge_ok,
			   struct sasl_reply *reply, struct yb_error *err)
{
	(void)what;
	(void)challenge_ok;
	(void)err;
	static const struct {
		const char *word;
		enum sasl_answer answer;
	} words[] = {
		{ "+", SASL_ANSWER_CHALLENGE },
		{ "OK", SASL_ANSWER_OK },
		{ "NO", SASL_ANSWER_REFUSED },
		{ "LATER", SASL_ANSWER_REFUSED_FOR_NOW },
		{ "BAD", SASL_ANSWER_MALFORMED },
	};
	const char *text = next_step(session, 'S')->text;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t len = strlen(words[i].word);
		if (strncmp(text, words[i].word, len) != 0)
			continue;
		reply->answer = words[i].answer;
		reply->text = text[len] == ' ' ? text + len + 1 : text + len;
		reply->text_len = strlen(reply->text);
		return YB_OK;
	}
	fail_msg("bad script line %s", text);
	return YB_ERR_INTERNAL;
}

static int fake_cancel(void *session, struct yb_error *err)
{
	struct sasl_reply end = { 0 };
	next_step(session, 'X');
	return fake_read_reply(session, "*", false, &end, err);
}

static struct account engine_account = {
	.user = "alice", .host = "mail.example", .port = 110,
};

/* A POP3-like framing (no cancel) over fake; tests adjust it. */
static struct sasl_framing fake_framing(struct fake_server *fake)
{
	return (struct sasl_framing){
		.session = fake,
		.account = &engine_account,
		.peer = "mail.example:110",
		.user_shown = engine_account.user,
		.command = "AUTH",
		.ok_word = "+OK",
		.initial_max = 253,
		.send_command = fake_send_command,
		.send_response = fake_send_response,
		.read_reply = fake_read_reply,
	};
}

/* Run method over script; every step must be used. */
static int run_script(struct sasl_framing *framing,
		      const struct script_step *script, size_t steps,
		      enum sasl_method method, const char *secret,
		      struct yb_error *err)
{
	struct fake_server *fake = framing->session;
	fake->steps = script;
	fake->at = 0;
	yb_error_clear(err);
	int rc = sasl_run(framing, method, secret, err);
	assert_int_equal(fake->at, steps);
	return rc;
}

#define RUN(framing, script, method, secret, err) \
	run_script(framing, script, sizeof(script) / sizeof(script[0]), \
		   method, secret, err)

static void assert_error(int rc, const struct yb_error *err,
			 enum yb_status status, const char *words)
{
	assert_int_equal(rc, status);
	if (!strstr(err->msg, words))
		fail_msg("\"%s\" not in \"%s\"", words, err->msg);
}

/* base64("\0alice\0secret") */
#define PLAIN_ALICE "AGFsaWNlAHNlY3JldA=="

static void test_engine_plain_initial_and_not(void **state)
{
	(void)state;
	struct fake_server fake;
	struct sasl_framing framing = fake_framing(&fake);
	struct yb_error err;
	static const struct script_step plain[] = {
		{ 'C', "AUTH PLAIN" }, { 'S', "+ " }, { 'R', PLAIN_ALICE },
		{ 'S', "OK welcome" },
	};
	assert_int_equal(RUN(&framing, plain, SASL_METHOD_PLAIN, "secret",
			     &err), YB_OK);

	framing.initial_methods = SASL_BIT(SASL_METHOD_PLAIN);
	static const struct script_step initial[] = {
		{ 'C', "AUTH PLAIN " PLAIN_ALICE }, { 'S', "OK welcome" },
	};
	assert_int_equal(RUN(&framing, initial, SASL_METHOD_PLAIN, "secret",
			     &err), YB_OK);

	/* A server that did not take it asks again. */
	framing.repeats_initial = true;
	static const struct script_step again[] = {
		{ 'C', "AUTH PLAIN " PLAIN_ALICE }, { 'S', "+ " },
		{ 'R', PLAIN_ALICE }, { 'S', "OK welcome" },
	};
	assert_int_equal(RUN(&framing, again, SASL_METHOD_PLAIN, "secret",
			     &err), YB_OK);

	/* Too long for the command line: on its own. */
	framing.initial_max = 20;
	assert_int_equal(RUN(&framing, plain, SASL_METHOD_PLAIN, "secret",
			     &err), YB_OK);
}

/* AUTH LOGIN as alice with "secret", up to the last answer. */
#define LOGIN_ALICE \
	{ 'C', "AUTH LOGIN" }, \
	{ 'S', "+ VXNlcm5hbWU6" }, { 'R', "YWxpY2U=" }, \
	{ 'S', "+ UGFzc3dvcmQ6" }, { 'R', "c2VjcmV0" }

static void test_engine_login_two_challenges(void **state)
{
	(void)state;
	struct fake_server fake;
	struct sasl_framing framing = fake_framing(&fake);
	struct yb_error err;
	static const struct script_step script[] = {
		LOGIN_ALICE,
		{ 'S', "OK" },
	};
	assert_int_equal(RUN(&framing, script, SASL_METHOD_LOGIN, "secret",
			     &err), YB_OK);
}

/* RFC 2195's example. */
static void test_engine_cram_md5(void **state)
{
	(void)state;
	struct account tim = { .user = "tim", .host = "h", .port = 110 };
	struct fake_server fake;
	struct sasl_framing framing = fake_framing(&fake);
	framing.account = &tim;
	struct yb_error err;
	static const struct script_step script[] = {
		{ 'C', "AUTH CRAM-MD5" },
		{ 'S', "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+" },
		{ 'R', "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw" },
		{ 'S', "OK" },
	};
	assert_int_equal(RUN(&framing, script, SASL_METHOD_CRAM_MD5,
			     "tanstaaftanstaaf", &err), YB_OK);

	static const struct script_step early_ok[] = {
		{ 'C', "AUTH CRAM-MD5" }, { 'S', "OK" },
	};
	assert_int_equal(RUN(&framing, early_ok, SASL_METHOD_CRAM_MD5, "pw",
			     &err), YB_OK);
	framing.cram_md5_needs_challenge = true;
	assert_error(RUN(&framing, early_ok, SASL_METHOD_CRAM_MD5, "pw", &err),
		     &err, YB_ERR_PROTOCOL,
		     "AUTH CRAM-MD5 answered +OK without a challenge");
}

static void test_engine_cram_md5_bad_challenge(void **state)
{
	(void)state;
	struct fake_server fake;
	struct sasl_framing framing = fake_framing(&fake);
	struct yb_error err;
	static const struct script_step script[] = {
		{ 'C', "AUTH CRAM-MD5" }, { 'S', "+ not*base64" },
	};
	assert_error(RUN(&framing, script, SASL_METHOD_CRAM_MD5, "pw", &err),
		     &err, YB_ERR_PROTOCOL,
		     "AUTH CRAM-MD5: bad challenge (or MD5 unavailable): "
		     "not*base64");

	framing.cancel = fake_cancel;
	static const struct script_step cancelled[] = {
		{ 'C', "AUTH CRAM-MD5" }, { 'S', "+ not*base64" },
		{ 'X', NULL }, { 'S', "BAD cancelled" },
	};
	assert_error(RUN(&framing, cancelled, SASL_METHOD_CRAM_MD5, "pw",
			 &err), &err, YB_ERR_PROTOCOL,
		     "mail.example:110: AUTH CRAM-MD5: the challenge is not "
		     "base64 (or MD5 is unavailable); cancelled");
}

static void test_engine_bearers(void **state)
{
	(void)state;
	struct fake_server fake;
	struct sasl_framing framing = fake_framing(&fake);
	struct yb_error err;
	framing.initial_methods = SASL_BIT(SASL_METHOD_XOAUTH2);
	static const struct script_step xoauth2[] = {
		{ 'C', "AUTH XOAUTH2 "
		       "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sxMjMBAQ==" },
		{ 'S', "OK" },
	};
	assert_int_equal(RUN(&framing, xoauth2, SASL_METHOD_XOAUTH2, "tok123",
			     &err), YB_OK);

	char *response = sasl_oauthbearer_response("alice", "mail.example",
						   110, "tok123");
	assert_non_null(response);
	const struct script_step oauthbearer[] = {
		{ 'C', "AUTH OAUTHBEARER" }, { 'S', "+ " }, { 'R', response },
		{ 'S', "OK" },
	};
	assert_int_equal(RUN(&framing, oauthbearer, SASL_METHOD_OAUTHBEARER,
			     "tok123", &err), YB_OK);
	sasl_free_secret(response);

	static const struct script_step none[] = { { 'C', "unused" } };
	assert_error(run_script(&framing, none, 0, SASL_METHOD_XOAUTH2,
				"bad token", &err),
		     &err, YB_ERR_AUTH, "is not a bearer token");
}

/* base64('{"status":"401"}') */
#define REFUSAL_JSON "eyJzdGF0dXMiOiI0MDEifQ=="

static void test_engine_bearer_refusal(void **state)
{
	(void)state;
	struct fake_server fake;
	struct sasl_framing framing = fake_framing(&fake);
	framing.initial_methods = SASL_BIT(SASL_METHOD_XOAUTH2) |
				  SASL_BIT(SASL_METHOD_OAUTHBEARER);
	framing.initial_max = SIZE_MAX;
	struct yb_error err;
	char *response = sasl_oauthbearer_response("alice", "mail.example",
						   110, "tok123");
	assert_non_null(response);
	char command[512];
	snprintf(command, sizeof(command), "AUTH OAUTHBEARER %s", response);
	const struct script_step refused[] = {
		{ 'C', command }, { 'S', "+ " REFUSAL_JSON },
		{ 'R', "AQ==" }, { 'S', "NO invalid token" },
	};
	assert_error(RUN(&framing, refused, SASL_METHOD_OAUTHBEARER, "tok123",
			 &err), &err, YB_ERR_AUTH,
		     "login as alice refused: invalid token (the server "
		     "says: {\"status\":\"401\"})");

	const struct script_step then_ok[] = {
		{ 'C', command }, { 'S', "+ " REFUSAL_JSON },
		{ 'R', "AQ==" }, { 'S', "OK" },
	};
	assert_error(RUN(&framing, then_ok, SASL_METHOD_OAUTHBEARER, "tok123",
			 &err), &err, YB_ERR_PROTOCOL,
		     "AUTH OAUTHBEARER answered a challenge with +OK");
	sasl_free_secret(response);

	/* XOAUTH2 answers the reason with an empty line. */
	static const struct script_step xoauth2[] = {
		{ 'C', "AUTH XOAUTH2 "
		       "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sxMjMBAQ==" },
		{ 'S', "+ " REFUSAL_JSON }, { 'R', "" },
		{ 'S', "LATER try again" },
	};
	assert_error(RUN(&framing, xoauth2, SASL_METHOD_XOAUTH2, "tok123",
			 &err), &err, YB_ERR_TEMP,
		     "refused for now: try again (the server says: ");
}

static void test_engine_external(void **state)
{
	(void)state;
	struct fake_server fake;
	struct sasl_framing framing = fake_framing(&fake);
	struct yb_error err;
	static const struct script_step empty_line[] = {
		{ 'C', "AUTH EXTERNAL" }, { 'S', "+" }, { 'R', "" },
		{ 'S', "OK" },
	};
	assert_int_equal(RUN(&framing, empty_line, SASL_METHOD_EXTERNAL, NULL,
			     &err), YB_OK);
	/* An empty initial response is "=". */
	framing.initial_methods = SASL_BIT(SASL_METHOD_EXTERNAL);
	static const struct script_step initial[] = {
		{ 'C', "AUTH EXTERNAL =" }, { 'S', "OK" },
	};
	assert_int_equal(RUN(&framing, initial, SASL_METHOD_EXTERNAL, NULL,
			     &err), YB_OK);
}

static void test_engine_refusals(void **state)
{
	(void)state;
	struct fake_server fake;
	struct sasl_framing framing = fake_framing(&fake);
	framing.initial_methods = SASL_BIT(SASL_METHOD_PLAIN);
	struct yb_error err;
	static const struct script_step refused[] = {
		{ 'C', "AUTH PLAIN " PLAIN_ALICE }, { 'S', "NO [AUTH] bad\x01" },
	};
	assert_error(RUN(&framing, refused, SASL_METHOD_PLAIN, "secret", &err),
		     &err, YB_ERR_AUTH,
		     "mail.example:110: login as alice refused: [AUTH] bad\\x01");
	static const struct script_step later[] = {
		{ 'C', "AUTH PLAIN " PLAIN_ALICE }, { 'S', "LATER busy" },
	};
	assert_error(RUN(&framing, later, SASL_METHOD_PLAIN, "secret", &err),
		     &err, YB_ERR_TEMP, "login as alice refused for now: busy");
	static const struct script_step malformed[] = {
		{ 'C', "AUTH PLAIN " PLAIN_ALICE }, { 'S', "BAD what" },
	};
	assert_error(RUN(&framing, malformed, SASL_METHOD_PLAIN, "secret",
			 &err), &err, YB_ERR_PROTOCOL,
		     "AUTH PLAIN as alice rejected as malformed: what");
	/* Not a mechanism: the protocol's own. */
	assert_error(sasl_run(&framing, SASL_METHOD_APOP, "pw", &err), &err,
		     YB_ERR_INTERNAL, "not a SASL mechanism");
}

static void test_engine_one_challenge_too_many(void **state)
{
	(void)state;
	struct fake_server fake;
	struct sasl_framing framing = fake_framing(&fake);
	struct yb_error err;
	static const struct script_step script[] = {
		LOGIN_ALICE,
		{ 'S', "+ more?" },
	};
	assert_error(RUN(&framing, script, SASL_METHOD_LOGIN, "secret", &err),
		     &err, YB_ERR_PROTOCOL, "mail.example:110: AUTH LOGIN: the "
		     "server asked for more than the mechanism has");
	assert_null(strstr(err.msg, "cancelled"));

	framing.cancel = fake_cancel;
	static const struct script_step cancelled[] = {
		LOGIN_ALICE,
		{ 'S', "+ more?" }, { 'X', NULL }, { 'S', "BAD cancelled" },
	};
	assert_error(RUN(&framing, cancelled, SASL_METHOD_LOGIN, "secret",
			 &err), &err, YB_ERR_PROTOCOL, "the server asked for "
		     "more than the mechanism has; cancelled");
}

/* --- choosing --- */

static const enum sasl_method test_order[] = {
	SASL_METHOD_PLAIN, SASL_METHOD_LOGIN_COMMAND, SASL_METHOD_LOGIN,
};

static int choose(const struct account *account, unsigned methods, bool tls,
		  enum sasl_method *method, struct yb_error *err)
{
	struct sasl_offer offer = {
		.methods = methods, .tls = tls, .order = test_order,
		.order_len = 3, .no_bearer = "A nor B", .no_method = "(C)",
	};
	yb_error_clear(err);
	return sasl_choose(account, &offer, "h:1", method, err);
}

static void test_choose(void **state)
{
	(void)state;
	struct account a = { .auth = AUTH_AUTO };
	enum sasl_method m;
	struct yb_error err;
	unsigned all = SASL_BIT(SASL_METHOD_PLAIN) | SASL_BIT(SASL_METHOD_LOGIN) |
		       SASL_BIT(SASL_METHOD_CRAM_MD5) | SASL_BIT(SASL_METHOD_APOP) |
		       SASL_BIT(SASL_METHOD_LOGIN_COMMAND);
	/* A password in TLS: the protocol's order. */
	assert_int_equal(choose(&a, all, true, &m, &err), YB_OK);
	assert_int_equal(m, SASL_METHOD_PLAIN);
	assert_int_equal(choose(&a, SASL_BIT(SASL_METHOD_LOGIN) |
				SASL_BIT(SASL_METHOD_LOGIN_COMMAND), true, &m,
				&err), YB_OK);
	assert_int_equal(m, SASL_METHOD_LOGIN_COMMAND);
	/* Without TLS, a challenge-response first. */
	assert_int_equal(choose(&a, all, false, &m, &err), YB_OK);
	assert_int_equal(m, SASL_METHOD_CRAM_MD5);
	assert_int_equal(choose(&a, all & ~SASL_BIT(SASL_METHOD_CRAM_MD5),
				false, &m, &err), YB_OK);
	assert_int_equal(m, SASL_METHOD_APOP);
	/* ... but not in TLS, and not outside the order. */
	assert_error(choose(&a, SASL_BIT(SASL_METHOD_CRAM_MD5), true, &m, &err),
		     &err, YB_ERR_AUTH, "h:1 offers no login method yubin "
		     "supports (C)");

	a.has_oauth2 = true;
	assert_int_equal(choose(&a, SASL_BIT(SASL_METHOD_XOAUTH2) |
				SASL_BIT(SASL_METHOD_OAUTHBEARER), true, &m,
				&err), YB_OK);
	assert_int_equal(m, SASL_METHOD_OAUTHBEARER);
	assert_int_equal(choose(&a, SASL_BIT(SASL_METHOD_XOAUTH2), true, &m,
				&err), YB_OK);
	assert_int_equal(m, SASL_METHOD_XOAUTH2);
	assert_error(choose(&a, all, true, &m, &err), &err, YB_ERR_AUTH,
		     "h:1 offers neither A nor B for the account's OAuth2 token");

	a.has_oauth2 = false;
	a.tls_cert_file = "/c.pem";
	assert_int_equal(choose(&a, 0, true, &m, &err), YB_OK);
	assert_int_equal(m, SASL_METHOD_EXTERNAL);

	/* An explicit auth: is taken as it is. */
	static const struct {
		enum auth_mech auth;
		enum sasl_method method;
	} explicit[] = {
		{ AUTH_PLAIN, SASL_METHOD_PLAIN },
		{ AUTH_LOGIN, SASL_METHOD_LOGIN },
		{ AUTH_CRAM_MD5, SASL_METHOD_CRAM_MD5 },
		{ AUTH_XOAUTH2, SASL_METHOD_XOAUTH2 },
		{ AUTH_OAUTHBEARER, SASL_METHOD_OAUTHBEARER },
		{ AUTH_EXTERNAL, SASL_METHOD_EXTERNAL },
		{ AUTH_APOP, SASL_METHOD_APOP },
		{ AUTH_USER, SASL_METHOD_USER },
	};
	for (size_t i = 0; i < sizeof(explicit) / sizeof(explicit[0]); i++) {
		a.auth = explicit[i].auth;
		assert_int_equal(choose(&a, 0, false, &m, &err), YB_OK);
		assert_int_equal(m, explicit[i].method);
		assert_int_equal(sasl_method_auth(m), explicit[i].auth);
	}
}

static void test_check_secret(void **state)
{
	(void)state;
	struct account a = { .auth = AUTH_AUTO, .host = "h", .user = "u" };
	struct yb_error err;
	yb_error_clear(&err);
	assert_error(sasl_check_secret(&a, false, "h:1", "pw", &err), &err,
		     YB_ERR_CONFIG, "h:1: refusing to send a password without "
		     "TLS (set allow_plaintext: true to allow it)");
	assert_error(sasl_check_secret(&a, true, "h:1", NULL, &err), &err,
		     YB_ERR_CONFIG, "h: no password for user u (set password");
	a.has_oauth2 = true;
	assert_error(sasl_check_secret(&a, true, "h:1", NULL, &err), &err,
		     YB_ERR_CONFIG, "h: no OAuth2 access token for user u");
	a.has_oauth2 = false;
	a.tls_cert_file = "/c.pem";
	assert_int_equal(sasl_check_secret(&a, true, "h:1", NULL, &err), YB_OK);
	a.allow_plaintext = true;
	assert_int_equal(sasl_check_secret(&a, false, "h:1", NULL, &err), YB_OK);
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
		cmocka_unit_test(test_engine_plain_initial_and_not),
		cmocka_unit_test(test_engine_login_two_challenges),
		cmocka_unit_test(test_engine_cram_md5),
		cmocka_unit_test(test_engine_cram_md5_bad_challenge),
		cmocka_unit_test(test_engine_bearers),
		cmocka_unit_test(test_engine_bearer_refusal),
		cmocka_unit_test(test_engine_external),
		cmocka_unit_test(test_engine_refusals),
		cmocka_unit_test(test_engine_one_challenge_too_many),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_check_secret),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
