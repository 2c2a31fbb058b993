/*
 * test_sasl_fallback.c - which login methods follow a refusal, and the
 * trying: a scripted attempt stands for the server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sasl_fallback.h"

static const enum sasl_method imap_order[] = {
	SASL_METHOD_PLAIN, SASL_METHOD_LOGIN_COMMAND, SASL_METHOD_LOGIN,
	SASL_METHOD_CRAM_MD5,
};

static struct sasl_offer offer_of(unsigned methods, bool tls)
{
	struct sasl_offer offer = {
		.methods = methods, .tls = tls, .order = imap_order,
		.order_len = sizeof(imap_order) / sizeof(imap_order[0]),
	};
	return offer;
}

static const unsigned every = SASL_BIT(SASL_METHOD_PLAIN) |
			      SASL_BIT(SASL_METHOD_LOGIN) |
			      SASL_BIT(SASL_METHOD_CRAM_MD5) |
			      SASL_BIT(SASL_METHOD_APOP) |
			      SASL_BIT(SASL_METHOD_LOGIN_COMMAND);

static void test_plan(void **state)
{
	(void)state;
	struct account account = { .auth = AUTH_AUTO, .password_source = PASSWORD_VALUE };
	enum sasl_method out[SASL_TRY_MAX];
	struct sasl_offer tls = offer_of(every, true);
	/* In TLS: the preference order, then the digests, three at most. */
	assert_int_equal(sasl_fallback_plan(&account, &tls, SASL_METHOD_PLAIN, out), 3);
	assert_int_equal(out[0], SASL_METHOD_PLAIN);
	assert_int_equal(out[1], SASL_METHOD_LOGIN_COMMAND);
	assert_int_equal(out[2], SASL_METHOD_LOGIN);
	/* Only what is offered. */
	struct sasl_offer few = offer_of(SASL_BIT(SASL_METHOD_PLAIN) |
					 SASL_BIT(SASL_METHOD_CRAM_MD5), true);
	assert_int_equal(sasl_fallback_plan(&account, &few, SASL_METHOD_PLAIN, out), 2);
	assert_int_equal(out[1], SASL_METHOD_CRAM_MD5);
	/* Without TLS: digests only after a digest, nothing after a
	   password sent as it is. */
	struct sasl_offer clear = offer_of(every, false);
	assert_int_equal(sasl_fallback_plan(&account, &clear, SASL_METHOD_CRAM_MD5, out), 2);
	assert_int_equal(out[1], SASL_METHOD_APOP);
	assert_int_equal(sasl_fallback_plan(&account, &clear, SASL_METHOD_PLAIN, out), 1);
	/* An explicit auth:, a token, a certificate: that one alone. */
	account.auth = AUTH_PLAIN;
	assert_int_equal(sasl_fallback_plan(&account, &tls, SASL_METHOD_PLAIN, out), 1);
	account.auth = AUTH_AUTO;
	account.has_oauth2 = true;
	assert_int_equal(sasl_fallback_plan(&account, &tls, SASL_METHOD_XOAUTH2, out), 1);
}

/* The server, one answer per attempt. */
struct script {
	int rc[SASL_TRY_MAX];
	const char *reason[SASL_TRY_MAX];
	bool credentials[SASL_TRY_MAX];
	size_t tried;
};

static int scripted(void *session, enum sasl_method method,
		    struct sasl_refusal *refusal, struct yb_error *err)
{
	(void)method;
	struct script *script = session;
	size_t i = script->tried++;
	if (script->rc[i] == YB_OK)
		return YB_OK;
	snprintf(refusal->reason, sizeof(refusal->reason), "%s", script->reason[i]);
	refusal->credentials = script->credentials[i];
	return yb_fail(err, script->rc[i], "refused: %s (tried one)", script->reason[i]);
}

static const enum sasl_method three[] = {
	SASL_METHOD_PLAIN, SASL_METHOD_LOGIN, SASL_METHOD_USER,
};

static int run(struct script *script, size_t count, struct yb_error *err)
{
	struct account account = { .auth = AUTH_AUTO };
	yb_error_clear(err);
	return sasl_fallback_login(&account, "host:1", "alice", three, count,
				   scripted, script, err);
}

static void test_login(void **state)
{
	(void)state;
	struct yb_error err;
	struct script then_ok = { { YB_ERR_AUTH, YB_OK }, { "no PLAIN" }, { false }, 0 };
	assert_int_equal(run(&then_ok, 3, &err), YB_OK);
	assert_int_equal(then_ok.tried, 2);

	struct script all = { { YB_ERR_AUTH, YB_ERR_AUTH, YB_ERR_AUTH },
			      { "a", "b", "c" }, { false }, 0 };
	assert_int_equal(run(&all, 3, &err), YB_ERR_AUTH);
	assert_non_null(strstr(err.msg, "PLAIN (a), LOGIN (b), USER (c)"));

	/* The credentials blamed: no other method. */
	struct script blamed = { { YB_ERR_AUTH, YB_OK }, { "bad password" }, { true }, 0 };
	assert_int_equal(run(&blamed, 3, &err), YB_ERR_AUTH);
	assert_int_equal(blamed.tried, 1);
	assert_non_null(strstr(err.msg, "bad password"));

	/* Try later: no other method either. */
	struct script later = { { YB_ERR_TEMP, YB_OK }, { "busy" }, { false }, 0 };
	assert_int_equal(run(&later, 3, &err), YB_ERR_TEMP);
	assert_int_equal(later.tried, 1);

	/* The session ends after a refusal: the refusal is the answer. */
	struct script ended = { { YB_ERR_AUTH, YB_ERR_PROTOCOL }, { "no PLAIN", "gone" },
				{ false }, 0 };
	assert_int_equal(run(&ended, 3, &err), YB_ERR_AUTH);
	assert_non_null(strstr(err.msg, "no PLAIN"));
	assert_non_null(strstr(err.msg, "gone"));

	/* One method: its own error, as it was. */
	struct script one = { { YB_ERR_AUTH }, { "nope" }, { false }, 0 };
	assert_int_equal(run(&one, 1, &err), YB_ERR_AUTH);
	assert_string_equal(err.msg, "refused: nope (tried one)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_login),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
