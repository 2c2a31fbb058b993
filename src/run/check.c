/*
 * check.c - --check: the server's steps, one at a time on a connection
 * of its own (name, TCP, TLS, certificate, greeting, capabilities), then
 * the login a fetch makes (session_run) and what the account would
 * fetch; check_local.c does the local steps.
 */
#define _GNU_SOURCE /* open_memstream, strcasestr */
#include "config.h"

#include "check.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conn.h"
#include "conn_account.h"
#include "credential.h"
#include "imap.h"
#include "list_folders.h"
#include "pop3.h"
#include "probe.h"
#include "secret.h"
#include "session.h"
#include "showcert.h"

#define DETAIL_MAX 1024

struct checker {
	const struct account *account;
	check_step_fn fn;
	void *ctx;
	struct conn *conn;     /* the probing connection, not the login's */
	bool probed;           /* a token's retry logs in only */
	bool failure_told;
	int64_t started_ms;    /* when the current step began */
};

void check_tell(const struct account *account, check_step_fn fn, void *ctx,
		const struct check_step *step, int64_t started_ms)
{
	struct check_step told = *step;
	told.account = account->name;
	told.ms = clock_now_ms() - started_ms;
	if (told.mark == CHECK_FAIL && told.status == YB_OK)
		told.status = YB_ERR_INTERNAL;
	fn(ctx, &told);
}

/* Tell a step that ends with rc (err's text when it failed); rc back. */
static int step_end(struct checker *checker, const char *name, int rc,
		    const char *detail, const char *hint, const struct yb_error *err)
{
	struct check_step step = { .name = name, .status = (enum yb_status)rc,
				   .mark = rc == YB_OK ? CHECK_OK : CHECK_FAIL,
				   .detail = rc == YB_OK ? detail : err->msg,
				   .hint = rc == YB_OK ? NULL : hint };
	check_tell(checker->account, checker->fn, checker->ctx, &step,
		   checker->started_ms);
	if (rc != YB_OK)
		checker->failure_told = true;
	checker->started_ms = clock_now_ms();
	return rc;
}

static void step_warn(struct checker *checker, const char *name,
		      const char *detail, const char *hint)
{
	struct check_step step = { .name = name, .mark = CHECK_WARN,
				   .detail = detail, .hint = hint };
	check_tell(checker->account, checker->fn, checker->ctx, &step,
		   checker->started_ms);
	checker->started_ms = clock_now_ms();
}

/* Where the secret comes from, never what it is. */
static void secret_source(const struct account *account, char *out, size_t size)
{
	static const char *const keys[] = {
		[PASSWORD_NONE] = "none", [PASSWORD_VALUE] = "password",
		[PASSWORD_CMD] = "password_cmd", [PASSWORD_ENV] = "password_env",
		[PASSWORD_FILE] = "password_file",
	};
	enum account_credential credential = account_credential(account);
	if (credential == CRED_TOKEN)
		snprintf(out, size, "an OAuth2 access token (oauth2)");
	else if (credential == CRED_CERT)
		snprintf(out, size, "none needed: the client certificate "
			 "(tls_cert_file)");
	else
		snprintf(out, size, "the password, from %s (obtained, not shown)",
			 keys[account->password_source]);
}

static int step_secret(struct checker *checker)
{
	const struct account *account = checker->account;
	char detail[DETAIL_MAX];
	secret_source(account, detail, sizeof(detail));
	if (account_credential(account) == CRED_PASSWORD &&
	    account->password_source == PASSWORD_NONE) {
		step_warn(checker, "secret", "no password source: the login "
			  "goes without a password",
			  "password_cmd, password_env, password_file or password "
			  "(or --ask-password)");
		return YB_OK;
	}
	return step_end(checker, "secret", YB_OK, detail, NULL, NULL);
}

static int step_resolve(struct checker *checker, const struct conn_params *params)
{
	struct yb_error err;
	char addresses[512], detail[DETAIL_MAX];
	int rc = conn_resolve(params, addresses, sizeof(addresses), &err);
	if (rc == YB_OK)
		snprintf(detail, sizeof(detail), "%s: %s", params->host, addresses);
	return step_end(checker, "resolve", rc, detail, "host", &err);
}

static int step_connect(struct checker *checker, const struct conn_params *params)
{
	struct yb_error err;
	struct conn_params plain = *params;
	plain.tls = TLS_NONE; /* TLS is a step of its own */
	int rc = conn_open(&plain, &checker->conn, &err);
	char detail[DETAIL_MAX] = "";
	if (rc == YB_OK)
		snprintf(detail, sizeof(detail), "%s", conn_peer(checker->conn));
	return step_end(checker, "connect", rc, detail, "host, port, tls", &err);
}

/*
 * A refused certificate, seen again without verification: the pin that
 * would trust it.  "" when it cannot be seen.
 */
static void refused_cert_hint(const struct account *account, const char *why,
			      char *hint, size_t size)
{
	hint[0] = '\0';
	struct conn *conn = NULL;
	struct yb_error err;
	char fingerprint[CONN_FINGERPRINT_MAX];
	if (strstr(why, "not valid for") || showcert_open(account, &conn, &err) != YB_OK)
		return;
	if (conn_server_fingerprint(conn, fingerprint))
		snprintf(hint, size, "tls_ca_file: the CA that issued it, or "
			 "tls_fingerprint: \"%s\" (the certificate the server "
			 "presents now; compare it out of band)", fingerprint);
	conn_close(conn);
}

static int step_tls(struct checker *checker)
{
	const struct account *account = checker->account;
	struct yb_error err;
	int rc;
	if (account->tls == TLS_IMPLICIT) {
		rc = conn_start_implicit_tls(checker->conn, &err);
	} else {
		rc = probe_starttls(checker->conn, account->protocol, &err);
		if (rc == YB_OK)
			rc = conn_start_tls(checker->conn, &err);
	}
	char detail[DETAIL_MAX], hint[DETAIL_MAX] = "port, tls";
	conn_tls_summary(checker->conn, detail, sizeof(detail));
	if (rc == YB_ERR_UNAVAILABLE && strstr(err.msg, "certificate"))
		refused_cert_hint(account, err.msg, hint, sizeof(hint));
	return step_end(checker, "tls", rc, detail, hint[0] ? hint : "tls", &err);
}

static void step_certificate(struct checker *checker)
{
	const struct account *account = checker->account;
	char *chain = NULL;
	size_t chain_len = 0;
	struct yb_error err;
	FILE *out = open_memstream(&chain, &chain_len);
	if (out) {
		if (conn_print_certificates(checker->conn, out, &err) != YB_OK)
			fprintf(out, "%s\n", err.msg);
		fclose(out);
	}
	struct check_step step = {
		.name = "certificate", .mark = CHECK_OK, .more = chain,
		.detail = account->tls_pin_count > 0 ? "matches tls_fingerprint"
			  : "trusted, and valid for the host name",
	};
	if (!account->tls_verify && account->tls_pin_count == 0) {
		step.mark = CHECK_WARN;
		step.detail = "not checked (tls_verify: false)";
		step.hint = "tls_fingerprint, or remove tls_verify: false";
	}
	check_tell(account, checker->fn, checker->ctx, &step, checker->started_ms);
	free(chain);
	checker->started_ms = clock_now_ms();
}

static int step_greeting(struct checker *checker)
{
	struct yb_error err;
	char shown[PROBE_SHOWN_MAX];
	int rc = probe_greeting(checker->conn, checker->account->protocol, shown,
				sizeof(shown), &err);
	return step_end(checker, "greeting", rc, shown, "protocol, port, tls", &err);
}

/* auth: as the server's SASL list names it, or NULL (auto, user, apop). */
static const char *sasl_name_of(enum auth_mech auth)
{
	switch (auth) {
	case AUTH_PLAIN: return "PLAIN";
	case AUTH_LOGIN: return "LOGIN";
	case AUTH_CRAM_MD5: return "CRAM-MD5";
	case AUTH_XOAUTH2: return "XOAUTH2";
	case AUTH_OAUTHBEARER: return "OAUTHBEARER";
	case AUTH_EXTERNAL: return "EXTERNAL";
	default: return NULL;
	}
}

/* Is word one of the space-separated words of list? */
static bool has_word(const char *list, const char *word)
{
	size_t len = strlen(word);
	for (const char *at = list; (at = strstr(at, word)) != NULL; at += len)
		if ((at == list || at[-1] == ' ') && (at[len] == ' ' || !at[len]))
			return true;
	return false;
}

static int step_capabilities(struct checker *checker)
{
	const struct account *account = checker->account;
	struct yb_error err;
	char shown[PROBE_SHOWN_MAX], mechanisms[PROBE_SHOWN_MAX];
	int rc = probe_capabilities(checker->conn, account->protocol, shown,
				    sizeof(shown), mechanisms, sizeof(mechanisms),
				    &err);
	if (step_end(checker, "capabilities", rc, shown[0] ? shown : "(none listed)",
		     "protocol, port", &err) != YB_OK)
		return rc;
	char detail[DETAIL_MAX];
	const char *wanted = sasl_name_of(account->auth);
	snprintf(detail, sizeof(detail), "offered: %s; auth: %s",
		 mechanisms[0] ? mechanisms : "none listed",
		 auth_mech_name(account->auth));
	if (wanted && !has_word(mechanisms, wanted))
		step_warn(checker, "mechanisms", detail,
			  "auth (the login below tells whether it is refused)");
	else
		step_end(checker, "mechanisms", YB_OK, detail, NULL, NULL);
	return YB_OK;
}

/* The steps a fetch makes before its login, on a connection of their own. */
static int probe_server(struct checker *checker)
{
	struct conn_params params;
	conn_params_for_account(checker->account, &params);
	params.account = checker->account->name;
	enum tls_mode tls = checker->account->tls;
	int rc = step_resolve(checker, &params);
	if (rc == YB_OK)
		rc = step_connect(checker, &params);
	if (rc == YB_OK && tls == TLS_STARTTLS)
		rc = step_greeting(checker);
	if (rc == YB_OK && tls != TLS_NONE)
		rc = step_tls(checker);
	if (rc == YB_OK && tls != TLS_NONE)
		step_certificate(checker);
	if (rc == YB_OK && tls != TLS_STARTTLS)
		rc = step_greeting(checker);
	if (rc == YB_OK)
		rc = step_capabilities(checker);
	conn_close(checker->conn);
	checker->conn = NULL;
	return rc;
}

/* The folders a fetch would take, "NAME -> PATH" each, into a detail. */
struct chosen {
	char detail[DETAIL_MAX];
	size_t fetched;
};

static int note_folder(void *ctx, const struct folder_choice *choice,
		       struct yb_error *err)
{
	(void)err;
	struct chosen *chosen = ctx;
	if (!choice->fetched)
		return YB_OK;
	size_t used = strlen(chosen->detail);
	snprintf(chosen->detail + used, sizeof(chosen->detail) - used, "%s%s -> %s",
		 chosen->fetched ? "; " : "", choice->name,
		 choice->path ? choice->path : "the MDA");
	chosen->fetched++;
	return YB_OK;
}

static int step_folders(struct checker *checker, struct imap *imap)
{
	struct yb_error err;
	struct chosen chosen = { .detail = "" };
	int rc = list_folder_choices(imap, checker->account, note_folder, &chosen,
				     &err);
	if (rc == YB_OK && chosen.fetched == 0) {
		step_warn(checker, "folders", "no folder on the server matches "
			  "the account's folders: a fetch takes nothing",
			  "folders (yubin --list-folders ACCOUNT shows them)");
		return YB_OK;
	}
	return step_end(checker, "folders", rc, chosen.detail, "folders", &err);
}

static int step_maildrop(struct checker *checker, struct pop3 *pop3)
{
	struct yb_error err;
	struct pop3_msg *msgs = NULL;
	size_t count = 0;
	int rc = pop3_list(pop3, &msgs, &count, &err);
	pop3_free_msgs(msgs, count);
	char detail[DETAIL_MAX];
	snprintf(detail, sizeof(detail), "%zu message%s on the server; UIDL %s",
		 count, count == 1 ? "" : "s",
		 pop3_has_uidl(pop3) ? "offered" : "NOT offered");
	if (rc == YB_OK && !pop3_has_uidl(pop3)) {
		step_warn(checker, "maildrop", detail, "a server without UIDL "
			  "cannot tell yubin which messages are new");
		return YB_OK;
	}
	return step_end(checker, "maildrop", rc, detail, NULL, &err);
}

static void login_detail(const struct account *account, char *out, size_t size)
{
	snprintf(out, size, "logged in as %s (auth: %s)",
		 account->user ? account->user : "(no user)",
		 auth_mech_name(account->auth));
}

#define LOGIN_HINT "user, password_cmd (or password_env, password_file, " \
		   "password), auth"

static int check_imap_login(struct checker *checker, char **secret,
			    struct yb_error *err)
{
	struct imap *imap = NULL;
	int rc = imap_connect(checker->account, *secret, &imap, err);
	secret_free(*secret);
	*secret = NULL;
	char detail[DETAIL_MAX];
	login_detail(checker->account, detail, sizeof(detail));
	if (step_end(checker, "login", rc, detail, LOGIN_HINT, err) == YB_OK)
		rc = step_folders(checker, imap);
	if (rc == YB_OK)
		rc = imap_logout(imap, err);
	imap_close(imap);
	return rc;
}

static int check_pop3_login(struct checker *checker, char **secret,
			    struct yb_error *err)
{
	struct pop3 *pop3 = NULL;
	int rc = pop3_connect(checker->account, *secret, &pop3, err);
	secret_free(*secret);
	*secret = NULL;
	char detail[DETAIL_MAX];
	login_detail(checker->account, detail, sizeof(detail));
	if (step_end(checker, "login", rc, detail, LOGIN_HINT, err) == YB_OK)
		rc = step_maildrop(checker, pop3);
	if (rc == YB_OK)
		rc = pop3_quit(pop3, err);
	pop3_close(pop3);
	return rc;
}

/* session_fn: the probes (once), then the login a fetch makes. */
static int check_session(void *ctx, const struct account *account,
			 char **secret, struct yb_error *err)
{
	struct checker *checker = ctx;
	int rc = YB_OK;
	if (!checker->probed) {
		checker->probed = true;
		rc = step_secret(checker);
		if (rc == YB_OK)
			rc = probe_server(checker);
		if (rc != YB_OK)
			return yb_fail(err, (enum yb_status)rc, "told");
	}
	/* A refused login told here is told again if a token is refreshed. */
	if (account->protocol == PROTOCOL_IMAP)
		return check_imap_login(checker, secret, err);
	return check_pop3_login(checker, secret, err);
}

int check_account(const struct account *account, check_step_fn fn, void *ctx)
{
	struct checker checker = { .account = account, .fn = fn, .ctx = ctx,
				   .started_ms = clock_now_ms() };
	struct yb_error err;
	yb_error_clear(&err);
	struct check_step loaded = { .name = "account", .mark = CHECK_OK,
				     .detail = "the account file is valid" };
	check_tell(account, fn, ctx, &loaded, checker.started_ms);
	bool obtained = false;
	int rc = session_run(account, check_session, &checker, &obtained, &err);
	if (rc != YB_OK && !obtained)
		return step_end(&checker, "secret", rc, NULL,
				account_credential(account) == CRED_TOKEN
				? "oauth2 (yubin --authorize ACCOUNT)"
				: "password_cmd, password_env, password_file or password",
				&err);
	if (rc != YB_OK && !checker.failure_told)
		step_end(&checker, "session", rc, NULL, NULL, &err);
	if (rc != YB_OK)
		return rc;
	return check_local(account, fn, ctx);
}
