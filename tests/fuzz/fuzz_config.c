/*
 * fuzz_config.c - the account file loader.
 *
 * Input: the file, byte for byte.  It is written (mode 0600) to one
 * fixed path in a private directory made once per process, then loaded.
 * HOME is fixed and the XDG variables unset, so a result does not depend
 * on who runs it.
 *
 * Checked, beyond memory safety and no leaks after config_free:
 *   - a failure is YB_ERR_CONFIG or YB_ERR_IO, its message sanitized and,
 *     for YB_ERR_CONFIG, starting with the file's path;
 *   - a loaded config keeps the promises of account.h and DESIGN.md:
 *     names of [A-Za-z0-9._-] and unique (also ignoring case), the
 *     required keys present, a port, folders (only INBOX for pop3), no
 *     'tls: none' without allow_plaintext, no keep: false with
 *     delete_after_days, oauth2 settings where auth needs them, every
 *     account found by config_find_account;
 *   - a file that holds a secret inline (a password, an oauth2
 *     client_secret) is refused once it is readable by group or others.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "account.h"
#include "fuzz.h"

static char config_path[4200];

static const char *setup(void)
{
	if (config_path[0] != '\0')
		return config_path;
	const char *dir = fuzz_temp_dir();
	if (!dir)
		fuzz_fail("no temporary directory");
	fuzz_path(config_path, sizeof(config_path), dir, "config.yaml");
	setenv("HOME", "/home/fuzz", 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_STATE_HOME");
	return config_path;
}

static bool name_ok(const char *name)
{
	size_t len = strlen(name);
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			  c == '-';
		if (!ok)
			return false;
	}
	return true;
}

static void check_auth(const struct account *a)
{
	if (a->auth == AUTH_XOAUTH2 || a->auth == AUTH_OAUTHBEARER)
		FUZZ_CHECK(a->has_oauth2);
	if (a->auth == AUTH_APOP || a->auth == AUTH_USER)
		FUZZ_CHECK(a->protocol == PROTOCOL_POP3);
	if (a->has_oauth2) {
		const struct oauth2_settings *o = &a->oauth2;
		FUZZ_CHECK(o->token_url && o->client_id);
		FUZZ_CHECK(strncasecmp(o->token_url, "https://", 8) == 0);
		/* The refresh token's source is exactly the one key given. */
		FUZZ_CHECK((o->refresh_source == OAUTH2_REFRESH_CMD) ==
			   (o->refresh_token_cmd != NULL));
		FUZZ_CHECK((o->refresh_source == OAUTH2_REFRESH_FILE) ==
			   (o->refresh_token_file != NULL));
		FUZZ_CHECK(!(o->client_secret && o->client_secret_cmd));
	}
	if (a->auth == AUTH_EXTERNAL)
		FUZZ_CHECK(a->tls_cert_file != NULL);
	FUZZ_CHECK(a->tls_pin_count <= TLS_PINS_MAX);
	FUZZ_CHECK((a->password_source == PASSWORD_NONE) ==
		   (a->password == NULL));
}

static void check_account(const struct config *config, size_t index)
{
	const struct account *a = &config->accounts[index];
	FUZZ_CHECK(a->name && name_ok(a->name));
	FUZZ_CHECK(a->mark.file && strcmp(a->mark.file, config->path) == 0);
	FUZZ_CHECK(a->mark.line >= 1 && a->mark.column >= 1);
	FUZZ_CHECK(a->protocol == PROTOCOL_IMAP || a->protocol == PROTOCOL_POP3);
	FUZZ_CHECK(a->host && a->user);
	FUZZ_CHECK(a->port != 0);
	FUZZ_CHECK(a->tls != TLS_NONE || a->allow_plaintext);
	FUZZ_CHECK(a->folder_count >= 1 && a->folders);
	for (size_t i = 0; i < a->folder_count; i++)
		FUZZ_CHECK(a->folders[i] != NULL);
	if (a->protocol == PROTOCOL_POP3)
		FUZZ_CHECK(a->folder_count == 1 &&
			   strcmp(a->folders[0], "INBOX") == 0);
	FUZZ_CHECK(a->keep || a->delete_after_days == 0);
	FUZZ_CHECK(a->deliver == DELIVER_MAILDIR || a->deliver == DELIVER_MBOX ||
		   a->deliver == DELIVER_MDA);
	FUZZ_CHECK(a->deliver_target && a->state_dir);
	check_auth(a);
	for (size_t i = 0; i < index; i++)
		FUZZ_CHECK(strcasecmp(a->name, config->accounts[i].name) != 0);
	FUZZ_CHECK(config_find_account(config, a->name) == a);
}

static bool holds_inline_secret(const struct config *config)
{
	for (size_t i = 0; i < config->account_count; i++) {
		const struct account *a = &config->accounts[i];
		if (a->password_source == PASSWORD_VALUE ||
		    (a->has_oauth2 && a->oauth2.client_secret))
			return true;
	}
	return false;
}

static void check_error(const char *path, int rc, const struct yb_error *err)
{
	fuzz_check_error("config_load", rc, err,
			 FUZZ_STATUS(YB_ERR_CONFIG) | FUZZ_STATUS(YB_ERR_IO));
	if (rc == YB_ERR_CONFIG && strncmp(err->msg, path, strlen(path)) != 0)
		fuzz_fail("config_load: message does not start with the "
			  "file's path: %s", err->msg);
}

/* The same file, readable by others, must be refused now. */
static void check_mode_refused(const char *path)
{
	if (chmod(path, 0644) != 0)
		fuzz_fail("chmod %s failed", path);
	struct config again;
	struct yb_error err;
	int rc = config_load(path, &again, &err);
	if (rc == YB_OK) {
		config_free(&again);
		fuzz_fail("config_load took a file with an inline secret "
			  "that others can read");
	}
	check_error(path, rc, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = setup();
	fuzz_write_file(path, data, size, 0600);
	struct config config;
	memset(&config, 0xa5, sizeof(config));
	struct yb_error err;
	int rc = config_load(path, &config, &err);
	check_error(path, rc, &err);
	if (rc != YB_OK) {
		/* "On failure *out is left empty": freeing it is harmless. */
		FUZZ_CHECK(config.account_count == 0);
		config_free(&config);
		return 0;
	}
	FUZZ_CHECK(config.path && strcmp(config.path, path) == 0);
	FUZZ_CHECK(config.account_count == 0 || config.accounts);
	for (size_t i = 0; i < config.account_count; i++)
		check_account(&config, i);
	FUZZ_CHECK(config_find_account(&config, "no such account/") == NULL);
	bool refuse_shared = holds_inline_secret(&config);
	config_free(&config);
	if (refuse_shared)
		check_mode_refused(path);
	return 0;
}
