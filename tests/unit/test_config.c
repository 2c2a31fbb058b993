/*
 * test_config.c - the account file (config.c) and password sources
 * (secret.c).
 *
 * Every config text is written to a file in a private temporary
 * directory, loaded, and the error compared in full, position included.
 * HOME points into that directory, so "~" expansions are predictable.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "error.h"
#include "secret.h"

static char test_dir[PATH_MAX];   /* the private temporary directory */
static char home_dir[PATH_MAX];   /* HOME for every test */
static char config_path[PATH_MAX]; /* the file the last helper wrote */
static unsigned file_counter;

/* ------------------------------------------------------------------ */
/* Fixtures and helpers                                                */

static void join(char *out, size_t size, const char *dir, const char *name)
{
	int written = snprintf(out, size, "%s/%s", dir, name);
	assert_true(written > 0 && (size_t)written < size);
}

static int group_setup(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	int written = snprintf(test_dir, sizeof(test_dir), "%s/yubin-config-XXXXXX",
			       tmp && tmp[0] ? tmp : "/tmp");
	if (written < 0 || (size_t)written >= sizeof(test_dir))
		return -1;
	if (!mkdtemp(test_dir))
		return -1;
	written = snprintf(home_dir, sizeof(home_dir), "%s/home", test_dir);
	if (written < 0 || (size_t)written >= sizeof(home_dir))
		return -1;
	return mkdir(home_dir, 0700);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Every test starts from the same environment. */
static int reset_env(void **state)
{
	(void)state;
	setenv("HOME", home_dir, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_STATE_HOME");
	unsetenv("YUBIN_TEST_PASSWORD");
	return 0;
}

static void write_bytes(const char *path, const char *text, size_t len,
			mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* Write text to a new file with the given mode; its path is config_path. */
static const char *write_config_mode(const char *text, mode_t mode)
{
	char name[64];
	snprintf(name, sizeof(name), "config-%u.yaml", ++file_counter);
	join(config_path, sizeof(config_path), test_dir, name);
	write_bytes(config_path, text, strlen(text), mode);
	return config_path;
}

static bool is_zeroed(const struct config *config)
{
	return config->path == NULL && config->accounts == NULL &&
	       config->account_count == 0;
}

/*
 * Load a file that must be refused; return the message after the
 * "PATH:" prefix (which is checked here), e.g. "3:5: unknown key ...".
 */
static const char *load_error_path(const char *path)
{
	static struct yb_error err;
	struct config config;
	memset(&config, 0xa5, sizeof(config)); /* must come back zeroed */
	int status = config_load(path, &config, &err);
	assert_int_equal(status, YB_ERR_CONFIG);
	assert_int_equal(err.status, YB_ERR_CONFIG);
	assert_true(is_zeroed(&config));
	size_t plen = strlen(path);
	assert_memory_equal(err.msg, path, plen);
	assert_int_equal(err.msg[plen], ':');
	return err.msg + plen + 1;
}

static const char *load_error(const char *text)
{
	return load_error_path(write_config_mode(text, 0600));
}

static void load_ok_mode(const char *text, mode_t mode, struct config *config)
{
	struct yb_error err;
	const char *path = write_config_mode(text, mode);
	int status = config_load(path, config, &err);
	if (status != YB_OK)
		print_error("unexpected error: %s\n", err.msg);
	assert_int_equal(status, YB_OK);
	assert_string_equal(config->path, path);
}

static void load_ok(const char *text, struct config *config)
{
	load_ok_mode(text, 0600, config);
}

static void expect_home_path(const char *actual, const char *relative)
{
	char expected[PATH_MAX];
	join(expected, sizeof(expected), home_dir, relative);
	assert_string_equal(actual, expected);
}

/* A complete, valid account; tests add one key on line 8, column 5. */
#define ACCOUNT_HEAD                       \
	"accounts:\n"                      \
	"  - name: work\n"                 \
	"    protocol: pop3\n"             \
	"    host: pop.example.com\n"      \
	"    user: alice\n"                \
	"    deliver:\n"                   \
	"      maildir: ~/Mail/work\n"

/* ------------------------------------------------------------------ */
/* The file itself                                                     */

static void test_missing_file(void **state)
{
	(void)state;
	char path[PATH_MAX];
	join(path, sizeof(path), test_dir, "no-such-file.yaml");
	const char *msg = load_error_path(path);
	assert_string_equal(msg, " cannot open: No such file or directory");
}

static void test_not_a_regular_file(void **state)
{
	(void)state;
	assert_string_equal(load_error_path(home_dir), " not a regular file");
}

static void test_empty_file(void **state)
{
	(void)state;
	assert_string_equal(load_error(""),
			    "1:1: the file holds no settings; it needs an 'accounts' list");
	assert_string_equal(load_error("# only a comment\n\n"),
			    "1:1: the file holds no settings; it needs an 'accounts' list");
}

static void test_file_too_large(void **state)
{
	(void)state;
	size_t len = 1024 * 1024 + 1;
	char *text = malloc(len);
	assert_non_null(text);
	memset(text, '#', len);
	text[len - 1] = '\n';
	char path[PATH_MAX];
	join(path, sizeof(path), test_dir, "huge.yaml");
	write_bytes(path, text, len, 0600);
	free(text);
	assert_string_equal(load_error_path(path),
			    " larger than 1048576 bytes; is this the account file?");
}

static void test_syntax_error(void **state)
{
	(void)state;
	assert_string_equal(
		load_error("accounts:\n  - name: work\n   protocol: pop3\n"),
		"3:4: YAML syntax error: did not find expected '-' indicator "
		"(while parsing a block collection at line 2, column 3)");
	assert_string_equal(load_error("accounts: [work\n"),
			    "2:1: YAML syntax error: did not find expected ',' or ']' "
			    "(while parsing a flow sequence at line 1, column 11)");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	assert_string_equal(load_error("accounts:\n  - name: w\xff" "ork\n"),
			    "2:12: YAML syntax error: invalid leading UTF-8 octet");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    host: other.example.com\n"),
			    "8:5: duplicate key 'host' (first at line 4)");
	assert_string_equal(load_error("accounts: []\naccounts: []\n"),
			    "2:1: duplicate key 'accounts' (first at line 1)");
}

static void test_aliases_and_anchors_refused(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    folders: &f [INBOX]\n"),
			    "8:14: YAML anchors (&f) are not supported; write the value out");
	assert_string_equal(load_error("accounts:\n  - *acct\n"),
			    "2:5: YAML aliases (*acct) are not supported; write the value out");
}

static void test_second_document(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "---\naccounts: []\n"),
			    "8:1: a second YAML document; the account file holds one");
}

static void test_nesting_too_deep(void **state)
{
	(void)state;
	assert_string_equal(
		load_error("accounts: [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]\n"),
		"1:26: nested more than 16 levels deep");
}

static void test_too_many_accounts(void **state)
{
	(void)state;
	size_t count = 1001;
	size_t size = 16 + count * 4;
	char *text = malloc(size);
	assert_non_null(text);
	size_t used = (size_t)snprintf(text, size, "accounts:\n");
	for (size_t i = 0; i < count; i++)
		used += (size_t)snprintf(text + used, size - used, "- x\n");
	assert_true(used < size);
	const char *msg = load_error(text);
	free(text);
	assert_string_equal(msg, "1002:3: more than 1000 accounts");
}

/* ------------------------------------------------------------------ */
/* Structure                                                           */

static void test_top_level_not_mapping(void **state)
{
	(void)state;
	assert_string_equal(load_error("- name: work\n"),
			    "1:1: the top level must be a mapping with 'accounts', not a sequence");
}

static void test_unknown_top_level_key(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "verbose: true\n"),
			    "8:1: unknown top-level key 'verbose'");
}

static void test_accounts_missing(void **state)
{
	(void)state;
	assert_string_equal(load_error("defaults:\n  timeout: 5\n"),
			    "1:1: missing required key 'accounts'");
}

static void test_accounts_empty_or_wrong_type(void **state)
{
	(void)state;
	assert_string_equal(load_error("accounts: []\n"),
			    "1:11: 'accounts' must list at least one account");
	assert_string_equal(load_error("accounts:\n  work: {}\n"),
			    "2:3: 'accounts' in the file must be a sequence of accounts, not a mapping");
	assert_string_equal(load_error("accounts:\n"),
			    "1:10: 'accounts' in the file has no value; expected a sequence of accounts");
	assert_string_equal(load_error("accounts:\n  - work\n"),
			    "2:5: account #1 must be a mapping, not a string");
}

static void test_unknown_key_in_account(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    foo: 1\n"),
			    "8:5: unknown key 'foo' in account 'work'");
}

static void test_unknown_key_in_defaults(void **state)
{
	(void)state;
	assert_string_equal(load_error("defaults:\n  timeout: 5\n  colour: red\n" ACCOUNT_HEAD),
			    "3:3: unknown key 'colour' in defaults");
}

static void test_unknown_key_in_deliver(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "      sync: true\n"),
			    "8:7: unknown key 'sync' in deliver of account 'work'");
}

static void test_unknown_key_in_oauth2(void **state)
{
	(void)state;
	assert_string_equal(
		load_error(ACCOUNT_HEAD
			   "    oauth2:\n"
			   "      token_url: https://oauth2.example.com/token\n"
			   "      client_id: abc\n"
			   "      refresh_token_cmd: pass show refresh\n"
			   "      audience: mail\n"),
		"12:7: unknown key 'audience' in oauth2 of account 'work'");
}

static void test_unknown_key_suggests_nearest(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    hostname: x\n"),
			    "8:5: unknown key 'hostname' in account 'work' (did you mean 'host'?)");
	assert_string_equal(load_error(ACCOUNT_HEAD "    passwd: x\n"),
			    "8:5: unknown key 'passwd' in account 'work' (did you mean 'password'?)");
	assert_string_equal(load_error(ACCOUNT_HEAD "    ssl: implicit\n"),
			    "8:5: unknown key 'ssl' in account 'work' (did you mean 'tls'?)");
	assert_string_equal(load_error(ACCOUNT_HEAD "    TLS_Fingerprnt: x\n"),
			    "8:5: unknown key 'TLS_Fingerprnt' in account 'work' (did you mean 'tls_fingerprint'?)");
	assert_string_equal(load_error("defaults:\n  timout: 5\n" ACCOUNT_HEAD),
			    "2:3: unknown key 'timout' in defaults (did you mean 'timeout'?)");
	assert_string_equal(load_error(ACCOUNT_HEAD "      maildirs: x\n"),
			    "8:7: unknown key 'maildirs' in deliver of account 'work' (did you mean 'maildir'?)");
	assert_string_equal(load_error("account:\n  - name: work\n"),
			    "1:1: unknown top-level key 'account' (did you mean 'accounts'?)");
}

static void test_unknown_key_far_from_all_suggests_nothing(void **state)
{
	(void)state;
	/* Nothing near: no guess (the tests above show the plain form). */
	assert_string_equal(load_error(ACCOUNT_HEAD "    xyzzy: 1\n"),
			    "8:5: unknown key 'xyzzy' in account 'work'");
	/* One letter is not a start of "host". */
	assert_string_equal(load_error(ACCOUNT_HEAD "    h: 1\n"),
			    "8:5: unknown key 'h' in account 'work'");
}

static void test_unknown_enum_value_lists_the_values(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    tls: ssl\n"),
			    "8:10: 'tls' in account 'work' must be implicit, starttls or none, not 'ssl'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    auth: md5\n"),
			    "8:11: 'auth' in account 'work' must be auto, plain, login, cram-md5, xoauth2, oauthbearer, apop, user or external, not 'md5'");
}

static void test_wrong_types(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    timeout: [1, 2]\n"),
			    "8:14: 'timeout' in account 'work' must be an integer from 1 to 3600, not a sequence");
	assert_string_equal(load_error(ACCOUNT_HEAD "    folders: INBOX\n"),
			    "8:14: 'folders' in account 'work' must be a sequence of folder names, not a string");
	assert_string_equal(load_error(ACCOUNT_HEAD "    oauth2: yes\n"),
			    "8:13: 'oauth2' in account 'work' must be a mapping, not a string");
	assert_string_equal(load_error(ACCOUNT_HEAD "    folders: [INBOX, [a]]\n"),
			    "8:22: entries of 'folders' in account 'work' must be strings, not a sequence");
	assert_string_equal(load_error("accounts:\n  - name: [work]\n"),
			    "2:11: 'name' in account #1 must be a string, not a sequence");
	assert_string_equal(load_error("accounts:\n  - name: work\n    host: {a: b}\n"
				       "    protocol: pop3\n    user: a\n    deliver: {mda: x}\n"),
			    "3:11: 'host' in account 'work' must be a string, not a mapping");
	assert_string_equal(load_error("accounts:\n  - name: work\n    deliver: ~/Mail\n"
				       "    protocol: pop3\n    user: a\n    host: h\n"),
			    "3:14: 'deliver' in account 'work' must be a mapping, not a string");
}

static void test_null_value(void **state)
{
	(void)state;
	assert_string_equal(load_error("accounts:\n  - name: work\n    protocol: pop3\n"
				       "    host:\n    user: alice\n    deliver: {mda: x}\n"),
			    "4:10: 'host' in account 'work' has no value; expected a string");
}

static void test_bad_port(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    port: 0\n"),
			    "8:11: 'port' in account 'work' must be an integer from 1 to 65535, not '0'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    port: 70000\n"),
			    "8:11: 'port' in account 'work' must be an integer from 1 to 65535, not '70000'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    port: abc\n"),
			    "8:11: 'port' in account 'work' must be an integer from 1 to 65535, not 'abc'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    port: -1\n"),
			    "8:11: 'port' in account 'work' must be an integer from 1 to 65535, not '-1'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    port: 99999999999999999999999\n"),
			    "8:11: 'port' in account 'work' must be an integer from 1 to 65535, not '99999999999999999999999'");
}

static void test_bad_integers(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    timeout: 0\n"),
			    "8:14: 'timeout' in account 'work' must be an integer from 1 to 3600, not '0'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    timeout: 3601\n"),
			    "8:14: 'timeout' in account 'work' must be an integer from 1 to 3600, not '3601'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    delete_after_days: 36501\n"),
			    "8:24: 'delete_after_days' in account 'work' must be an integer from 0 to 36500, not '36501'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    timeout: 0x10\n"),
			    "8:14: 'timeout' in account 'work' must be an integer from 1 to 3600, not '0x10'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    poll_interval: 9\n"),
			    "8:20: 'poll_interval' in account 'work' must be an integer from 10 to 86400, not '9'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    poll_interval: 86401\n"),
			    "8:20: 'poll_interval' in account 'work' must be an integer from 10 to 86400, not '86401'");
}

static void test_poll_interval(void **state)
{
	(void)state;
	struct config config;
	load_ok(ACCOUNT_HEAD, &config);
	assert_int_equal(config.accounts[0].poll_interval, 300);
	config_free(&config);
	load_ok(ACCOUNT_HEAD "    poll_interval: 10\n", &config);
	assert_int_equal(config.accounts[0].poll_interval, 10);
	config_free(&config);
	load_ok("defaults:\n  poll_interval: 86400\n" ACCOUNT_HEAD, &config);
	assert_int_equal(config.accounts[0].poll_interval, 86400);
	config_free(&config);
}

static void test_bad_enums_and_bools(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    keep: maybe\n"),
			    "8:11: 'keep' in account 'work' must be true or false, not 'maybe'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    tls: ssl\n"),
			    "8:10: 'tls' in account 'work' must be implicit, starttls or none, not 'ssl'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    auth: gssapi\n"),
			    "8:11: 'auth' in account 'work' must be auto, plain, login, cram-md5, "
			    "xoauth2, oauthbearer, apop, user or external, not 'gssapi'");
	assert_string_equal(load_error("accounts:\n  - name: work\n    protocol: smtp\n"
				       "    host: h\n    user: u\n    deliver: {mda: x}\n"),
			    "3:15: 'protocol' in account 'work' must be imap or pop3, not 'smtp'");
}

static void test_imap_folder_keys(void **state)
{
	(void)state;
	struct config config;
	load_ok(ACCOUNT_HEAD, &config);
	const struct account *a = &config.accounts[0];
	assert_int_equal(a->layout, LAYOUT_VERBATIM);
	assert_true(a->inbox_at_root);
	assert_int_equal(a->sync_flags, SYNC_FLAGS_AUTO);
	assert_false(a->expunge_all);
	config_free(&config);
	load_ok(ACCOUNT_HEAD "    layout: maildir++\n    inbox: folder\n"
		"    sync_flags: full\n    expunge: all\n", &config);
	a = &config.accounts[0];
	assert_int_equal(a->layout, LAYOUT_MAILDIRPP);
	assert_false(a->inbox_at_root);
	assert_int_equal(a->sync_flags, SYNC_FLAGS_FULL);
	assert_true(a->expunge_all);
	config_free(&config);
	load_ok(ACCOUNT_HEAD "    sync_flags: off\n    inbox: root\n    expunge: uid\n", &config);
	assert_int_equal(config.accounts[0].sync_flags, SYNC_FLAGS_OFF);
	assert_true(config.accounts[0].inbox_at_root);
	assert_false(config.accounts[0].expunge_all);
	config_free(&config);
	assert_string_equal(load_error(ACCOUNT_HEAD "    layout: mh\n"),
			    "8:13: 'layout' in account 'work' must be verbatim or maildir++, not 'mh'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    inbox: top\n"),
			    "8:12: 'inbox' in account 'work' must be root or folder, not 'top'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    sync_flags: yes\n"),
			    "8:17: 'sync_flags' in account 'work' must be auto, full, off or both, not 'yes'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    sync_flags: both\n"),
			    "8:17: 'sync_flags: both' in account 'work' needs imap: pop3 has no flags");
#define IMAP_BOTH_HEAD \
	"accounts:\n  - name: work\n    protocol: imap\n    host: h.example.com\n" \
	"    user: alice\n    sync_flags: both\n    deliver:\n"
	assert_string_equal(load_error(IMAP_BOTH_HEAD "      mbox: ~/m\n"),
			    "6:17: 'sync_flags: both' in account 'work' needs 'deliver: maildir': "
			    "an mbox keeps no flags per message to push");
	assert_string_equal(load_error(IMAP_BOTH_HEAD "      mda: procmail\n"),
			    "6:17: 'sync_flags: both' in account 'work' needs 'deliver: maildir': "
			    "an MDA keeps no flags per message to push");
	load_ok(IMAP_BOTH_HEAD "      maildir: ~/Mail/work\n", &config);
	assert_int_equal(config.accounts[0].sync_flags, SYNC_FLAGS_BOTH);
	config_free(&config);
#undef IMAP_BOTH_HEAD
	load_ok(ACCOUNT_HEAD "    tls_min_version: 1.3\n", &config);
	assert_int_equal(config.accounts[0].tls_min_version, 13);
	config_free(&config);
	load_ok(ACCOUNT_HEAD, &config);
	assert_int_equal(config.accounts[0].tls_min_version, 12);
	config_free(&config);
	assert_string_equal(load_error(ACCOUNT_HEAD "    tls_min_version: 1.1\n"),
			    "8:22: 'tls_min_version' in account 'work' must be 1.2 or 1.3, not '1.1'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    expunge: some\n"),
			    "8:14: 'expunge' in account 'work' must be uid or all, not 'some'");
}

static void test_two_password_sources(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    password_cmd: pass show mail\n"
				       "    password_env: MAIL_PASSWORD\n"),
			    "9:5: two password sources in account 'work': 'password_cmd' and "
			    "'password_env'; keep only one");
	assert_string_equal(load_error("defaults:\n  password_file: ~/pw\n  password_cmd: x\n"
				       ACCOUNT_HEAD),
			    "3:3: two password sources in defaults: 'password_file' and "
			    "'password_cmd'; keep only one");
}

static void test_duplicate_account_names(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "  - name: work\n"
				       "    protocol: imap\n"
				       "    host: imap.example.com\n"
				       "    user: alice\n"
				       "    deliver: {maildir: ~/Mail/other}\n"),
			    "8:11: duplicate account name 'work' (first defined at line 2)");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "  - name: WORK\n"
				       "    protocol: imap\n"
				       "    host: imap.example.com\n"
				       "    user: alice\n"
				       "    deliver: {maildir: ~/Mail/other}\n"),
			    "8:11: account name 'WORK' differs from 'work' (line 2) only in case");
}

static void test_bad_account_names(void **state)
{
	(void)state;
	assert_string_equal(load_error("accounts:\n  - name: my work\n"),
			    "2:11: 'name' in account #1 must be 1 to 64 of A-Z a-z 0-9 . _ - "
			    "(not '.' or '..'), not 'my work'");
	assert_string_equal(load_error("accounts:\n  - name: \"..\"\n"),
			    "2:11: 'name' in account #1 must be 1 to 64 of A-Z a-z 0-9 . _ - "
			    "(not '.' or '..'), not '..'");
	assert_string_equal(load_error("accounts:\n  - name: work/../x\n"),
			    "2:11: 'name' in account #1 must be 1 to 64 of A-Z a-z 0-9 . _ - "
			    "(not '.' or '..'), not 'work/../x'");
	assert_string_equal(
		load_error("accounts:\n  - name: "
			   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"),
		"2:11: 'name' in account #1 must be 1 to 64 of A-Z a-z 0-9 . _ - "
		"(not '.' or '..'), not 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
}

static void test_tls_none_needs_allow_plaintext(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    tls: none\n"),
			    "8:10: 'tls: none' in account 'work' needs 'allow_plaintext: true'");
	struct config config;
	load_ok(ACCOUNT_HEAD "    tls: none\n    allow_plaintext: true\n", &config);
	assert_int_equal(config.accounts[0].tls, TLS_NONE);
	assert_true(config.accounts[0].allow_plaintext);
	assert_int_equal(config.accounts[0].port, 110);
	config_free(&config);
}

static void expect_missing(const char *text, const char *expected)
{
	assert_string_equal(load_error(text), expected);
}

static void test_missing_name(void **state)
{
	(void)state;
	expect_missing("accounts:\n  - protocol: pop3\n    host: h\n    user: u\n"
		       "    deliver: {mda: x}\n",
		       "2:5: missing required key 'name' in account #1");
}

static void test_missing_protocol(void **state)
{
	(void)state;
	expect_missing("accounts:\n  - name: work\n    host: h\n    user: u\n"
		       "    deliver: {mda: x}\n",
		       "2:5: missing required key 'protocol' in account 'work'");
}

static void test_missing_host(void **state)
{
	(void)state;
	expect_missing("accounts:\n  - name: work\n    protocol: pop3\n    user: u\n"
		       "    deliver: {mda: x}\n",
		       "2:5: missing required key 'host' in account 'work'");
}

static void test_missing_user(void **state)
{
	(void)state;
	expect_missing("accounts:\n  - name: work\n    protocol: pop3\n    host: h\n"
		       "    deliver: {mda: x}\n",
		       "2:5: missing required key 'user' in account 'work'");
}

static void test_missing_deliver(void **state)
{
	(void)state;
	expect_missing("accounts:\n  - name: work\n    protocol: pop3\n    host: h\n"
		       "    user: u\n",
		       "2:5: missing required key 'deliver' in account 'work'");
	/* The second account is the one missing it: its own position. */
	expect_missing(ACCOUNT_HEAD "  - name: b\n    protocol: pop3\n    host: h\n"
		       "    user: u\n",
		       "8:5: missing required key 'deliver' in account 'b'");
}

static void test_password_file_permissions(void **state)
{
	(void)state;
	const char *text = ACCOUNT_HEAD "    password: hunter2\n";
	const char *path = write_config_mode(text, 0644);
	char expected[2 * PATH_MAX + 128];
	snprintf(expected, sizeof(expected),
		 "8:5: 'password' holds a secret and the file is readable by "
		 "group or others (mode 0644); run chmod 600 %s", path);
	assert_string_equal(load_error_path(path), expected);

	path = write_config_mode(text, 0640);
	snprintf(expected, sizeof(expected),
		 "8:5: 'password' holds a secret and the file is readable by "
		 "group or others (mode 0640); run chmod 600 %s", path);
	assert_string_equal(load_error_path(path), expected);

	struct config config;
	load_ok_mode(text, 0600, &config);
	assert_int_equal(config.accounts[0].password_source, PASSWORD_VALUE);
	assert_string_equal(config.accounts[0].password, "hunter2");
	config_free(&config);

	/* No password in the file: its mode is not our business. */
	load_ok_mode(ACCOUNT_HEAD "    password_cmd: pass show mail\n", 0644, &config);
	assert_int_equal(config.accounts[0].password_source, PASSWORD_CMD);
	config_free(&config);
}

static void test_password_in_defaults_permissions(void **state)
{
	(void)state;
	const char *path = write_config_mode("defaults:\n  password: hunter2\n" ACCOUNT_HEAD,
					     0604);
	char expected[2 * PATH_MAX + 128];
	snprintf(expected, sizeof(expected),
		 "2:3: 'password' holds a secret and the file is readable by "
		 "group or others (mode 0604); run chmod 600 %s", path);
	assert_string_equal(load_error_path(path), expected);
}

#define CLIENT_SECRET_OAUTH2                                    \
	"    oauth2:\n"                                         \
	"      token_url: https://oauth2.example.com/token\n"   \
	"      client_id: abc\n"                                \
	"      client_secret: s3cret\n"

/* An inline client_secret is a secret like a password: same rule. */
static void test_client_secret_permissions(void **state)
{
	(void)state;
	const char *text = ACCOUNT_HEAD CLIENT_SECRET_OAUTH2;
	const char *path = write_config_mode(text, 0644);
	char expected[2 * PATH_MAX + 128];
	snprintf(expected, sizeof(expected),
		 "11:7: 'client_secret' holds a secret and the file is readable "
		 "by group or others (mode 0644); run chmod 600 %s", path);
	assert_string_equal(load_error_path(path), expected);

	path = write_config_mode("defaults:\n" CLIENT_SECRET_OAUTH2 ACCOUNT_HEAD,
				 0640);
	snprintf(expected, sizeof(expected),
		 "5:7: 'client_secret' holds a secret and the file is readable "
		 "by group or others (mode 0640); run chmod 600 %s", path);
	assert_string_equal(load_error_path(path), expected);

	struct config config;
	load_ok_mode(text, 0600, &config);
	assert_string_equal(config.accounts[0].oauth2.client_secret, "s3cret");
	config_free(&config);

	/* A command that prints the secret is not the secret. */
	load_ok_mode(ACCOUNT_HEAD
		     "    oauth2:\n"
		     "      token_url: https://oauth2.example.com/token\n"
		     "      client_id: abc\n"
		     "      client_secret_cmd: pass show client\n", 0644, &config);
	assert_string_equal(config.accounts[0].oauth2.client_secret_cmd,
			    "pass show client");
	config_free(&config);
}

static void test_shared_deliver_path(void **state)
{
	(void)state;
	char text[PATH_MAX + 1024];
	/* The same Maildir written once with ~ and once spelled out. */
	snprintf(text, sizeof(text),
		 ACCOUNT_HEAD
		 "  - name: other\n"
		 "    protocol: imap\n"
		 "    host: imap.example.com\n"
		 "    user: bob\n"
		 "    deliver:\n"
		 "      maildir: %s//Mail/work/\n",
		 home_dir);
	char expected[PATH_MAX + 256];
	snprintf(expected, sizeof(expected),
		 "13:16: account 'other' delivers to '%s//Mail/work/', as account "
		 "'work' (line 2) does; two accounts never share a mailbox",
		 home_dir);
	assert_string_equal(load_error(text), expected);
}

static void test_deliver_targets(void **state)
{
	(void)state;
	assert_string_equal(load_error("accounts:\n  - name: work\n    protocol: pop3\n"
				       "    host: h\n    user: u\n    deliver:\n"
				       "      maildir: ~/Mail\n      mbox: ~/mbox\n"),
			    "8:7: two delivery targets in deliver of account 'work': "
			    "'maildir' and 'mbox'; keep only one");
	assert_string_equal(load_error("accounts:\n  - name: work\n    protocol: pop3\n"
				       "    host: h\n    user: u\n    deliver: {}\n"),
			    "6:14: 'deliver' in account 'work' needs one of maildir, mbox or mda");
	assert_string_equal(load_error("accounts:\n  - name: work\n    protocol: pop3\n"
				       "    host: h\n    user: u\n    deliver: {mda: \"\"}\n"),
			    "6:20: 'mda' in deliver of account 'work' must not be empty");
}

static void test_keep_and_delete_after_days(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    keep: false\n    delete_after_days: 7\n"),
			    "9:24: 'delete_after_days' in account 'work' conflicts with "
			    "'keep: false', which deletes mail as soon as it is delivered");
	struct config config;
	load_ok(ACCOUNT_HEAD "    keep: No\n    delete_after_days: 0\n", &config);
	assert_false(config.accounts[0].keep);
	assert_int_equal(config.accounts[0].delete_after_days, 0);
	config_free(&config);
}

/* push_deletions: false by default, and only with sync_flags: both
   (a config error: exit 78, naming both keys). */
static void test_push_deletions(void **state)
{
	(void)state;
#define IMAP_HEAD \
	"accounts:\n  - name: work\n    protocol: imap\n    host: h.example.com\n" \
	"    user: alice\n    deliver:\n      maildir: ~/Mail/work\n"
	assert_string_equal(load_error(IMAP_HEAD "    push_deletions: true\n"),
			    "8:21: 'push_deletions: true' in account 'work' needs "
			    "'sync_flags: both': deletions are pushed with the other flags");
	assert_string_equal(load_error(IMAP_HEAD "    sync_flags: full\n"
				       "    push_deletions: yes\n"),
			    "9:21: 'push_deletions: true' in account 'work' needs "
			    "'sync_flags: both': deletions are pushed with the other flags");
	assert_string_equal(load_error(IMAP_HEAD "    push_deletions: maybe\n"),
			    "8:21: 'push_deletions' in account 'work' must be true or "
			    "false, not 'maybe'");
	struct config config;
	load_ok(IMAP_HEAD "    sync_flags: both\n", &config);
	assert_false(config.accounts[0].push_deletions);
	config_free(&config);
	load_ok(IMAP_HEAD "    sync_flags: both\n    push_deletions: true\n", &config);
	assert_true(config.accounts[0].push_deletions);
	config_free(&config);
	load_ok(IMAP_HEAD "    push_deletions: false\n", &config);
	assert_false(config.accounts[0].push_deletions);
	config_free(&config);
#undef IMAP_HEAD
}

static void test_max_size(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
		{ "0", 0 },
		{ "1000", 1000 },
		{ "10k", 10240 },
		{ "2M", 2097152 },
		{ "1g", 1073741824 },
		{ "18446744073709551615", UINT64_MAX },
		{ "17179869183G", 17179869183ULL * 1073741824ULL },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), ACCOUNT_HEAD "    max_size: %s\n",
			 good[i].text);
		struct config config;
		load_ok(text, &config);
		assert_true(config.accounts[0].max_size == good[i].bytes);
		config_free(&config);
	}
	static const char *const bad[] = { "17179869184G", "18446744073709551616",
					   "10MB", "-1", "1.5M", "k", "10 M" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512], expected[256];
		snprintf(text, sizeof(text), ACCOUNT_HEAD "    max_size: %s\n", bad[i]);
		snprintf(expected, sizeof(expected),
			 "8:15: 'max_size' in account 'work' must be a number of bytes "
			 "with an optional k, m or g suffix, not '%s'",
			 bad[i]);
		assert_string_equal(load_error(text), expected);
	}
}

static void test_fingerprint(void **state)
{
	(void)state;
	unsigned char expected[32];
	for (int i = 0; i < 32; i++)
		expected[i] = (unsigned char)(i * 8 + 7);
	static const char *const spellings[] = {
		"SHA256:07:0F:17:1F:27:2F:37:3F:47:4F:57:5F:67:6F:77:7F:"
		"87:8F:97:9F:A7:AF:B7:BF:C7:CF:D7:DF:E7:EF:F7:FF",
		"sha256:070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff",
	};
	for (size_t i = 0; i < 2; i++) {
		char text[512];
		snprintf(text, sizeof(text), ACCOUNT_HEAD "    tls_fingerprint: \"%s\"\n",
			 spellings[i]);
		struct config config;
		load_ok(text, &config);
		assert_int_equal(config.accounts[0].tls_pin_count, 1);
		assert_int_equal(config.accounts[0].tls_pins[0].kind, PIN_CERTIFICATE);
		assert_memory_equal(config.accounts[0].tls_pins[0].sha256, expected, 32);
		config_free(&config);
	}
	static const char *const bad[] = {
		"sha1:070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff",
		"sha256:070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7",
		"sha256:070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff00",
		"sha256:070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7fg",
		"sha256::070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), ACCOUNT_HEAD "    tls_fingerprint: %s\n", bad[i]);
		assert_string_equal(load_error(text),
				    "8:22: 'tls_fingerprint' in account 'work' must be "
				    "\"sha256:\" (the certificate) or \"pubkey-sha256:\" "
				    "(its public key) and 32 hex bytes (colons optional)");
	}
}

#define PIN_HEX "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff"

static void test_fingerprint_kinds_and_lists(void **state)
{
	(void)state;
	struct config config;
	load_ok(ACCOUNT_HEAD "    tls_fingerprint: \"pubkey-sha256:" PIN_HEX "\"\n",
		&config);
	assert_int_equal(config.accounts[0].tls_pin_count, 1);
	assert_int_equal(config.accounts[0].tls_pins[0].kind, PIN_PUBLIC_KEY);
	assert_int_equal(config.accounts[0].tls_pins[0].sha256[31], 0xff);
	config_free(&config);

	load_ok(ACCOUNT_HEAD "    tls_fingerprint:\n"
		"      - \"sha256:" PIN_HEX "\"\n"
		"      - \"PUBKEY-SHA256:" PIN_HEX "\"\n", &config);
	assert_int_equal(config.accounts[0].tls_pin_count, 2);
	assert_int_equal(config.accounts[0].tls_pins[0].kind, PIN_CERTIFICATE);
	assert_int_equal(config.accounts[0].tls_pins[1].kind, PIN_PUBLIC_KEY);
	assert_int_equal(config.accounts[0].tls_pins[1].sha256[0], 0x07);
	config_free(&config);

	char text[2048] = ACCOUNT_HEAD "    tls_fingerprint:\n";
	for (int i = 0; i < TLS_PINS_MAX + 1; i++)
		strcat(text, "      - \"sha256:" PIN_HEX "\"\n");
	assert_string_equal(load_error(text), "9:7: 'tls_fingerprint' in "
			    "account 'work' must hold 1 to 8 fingerprints");
	assert_string_equal(load_error(ACCOUNT_HEAD "    tls_fingerprint: []\n"),
			    "8:22: 'tls_fingerprint' in account 'work' must "
			    "hold 1 to 8 fingerprints");
	assert_string_equal(load_error(ACCOUNT_HEAD "    tls_fingerprint:\n"
				       "      - {a: b}\n"),
			    "9:9: 'tls_fingerprint' in account 'work' must be "
			    "a string or a sequence of strings");
}

static void test_tls_names_and_client_certs(void **state)
{
	(void)state;
	char certs[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], open_key[PATH_MAX];
	join(certs, sizeof(certs), home_dir, "certs");
	assert_true(mkdir(certs, 0700) == 0 || errno == EEXIST);
	join(cert, sizeof(cert), certs, "me.pem");
	join(key, sizeof(key), certs, "me.key");
	join(open_key, sizeof(open_key), certs, "open.key");
	write_bytes(cert, "cert\n", 5, 0644);
	write_bytes(key, "key\n", 4, 0600);
	write_bytes(open_key, "key\n", 4, 0640);

	struct config config;
	load_ok(ACCOUNT_HEAD "    tls_server_name: mail.example.com\n"
		"    tls_cert_file: ~/certs/me.pem\n"
		"    tls_key_file: ~/certs/me.key\n"
		"    auth: external\n", &config);
	const struct account *a = &config.accounts[0];
	assert_string_equal(a->tls_server_name, "mail.example.com");
	assert_string_equal(a->tls_cert_file, cert);
	assert_string_equal(a->tls_key_file, key);
	assert_int_equal(a->auth, AUTH_EXTERNAL);
	assert_string_equal(auth_mech_name(a->auth), "external");
	config_free(&config);

	/* The key is checked with the file: a bad one fetches nothing. */
	char expected[PATH_MAX + 200];
	snprintf(expected, sizeof(expected), "9:19: 'tls_key_file' in account "
		 "'work': %s holds a private key and must be the user's own "
		 "and unreadable by group and others (chmod 600 it)", open_key);
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    tls_cert_file: ~/certs/me.pem\n"
				       "    tls_key_file: ~/certs/open.key\n"),
			    expected);
	snprintf(expected, sizeof(expected), "8:20: 'tls_cert_file' in "
		 "account 'work': %s holds a private key and must be the "
		 "user's own and unreadable by group and others (chmod 600 "
		 "it)", cert);
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    tls_cert_file: ~/certs/me.pem\n"),
			    expected);
	snprintf(expected, sizeof(expected), "9:19: 'tls_key_file' in account "
		 "'work': cannot read %s/missing.key: No such file or "
		 "directory", certs);
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    tls_cert_file: ~/certs/me.pem\n"
				       "    tls_key_file: ~/certs/missing.key\n"),
			    expected);

	assert_string_equal(load_error(ACCOUNT_HEAD "    auth: external\n"),
			    "8:11: auth 'external' in account 'work' needs a "
			    "client certificate ('tls_cert_file')");
	assert_string_equal(load_error(ACCOUNT_HEAD "    tls_key_file: /k\n"),
			    "8:19: 'tls_key_file' in account 'work' needs "
			    "'tls_cert_file'");
	assert_string_equal(load_error(ACCOUNT_HEAD "    tls_server_name: a b\n"),
			    "8:22: 'tls_server_name' in account 'work' must "
			    "not contain spaces");
}

static void test_oauth2_rules(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    auth: xoauth2\n"),
			    "8:11: auth 'xoauth2' in account 'work' needs an 'oauth2' mapping");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    oauth2:\n"
				       "      token_url: http://oauth2.example.com/token\n"
				       "      client_id: abc\n"
				       "      refresh_token_cmd: x\n"),
			    "9:18: 'token_url' in oauth2 of account 'work' must start with https://");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    oauth2:\n"
				       "      token_url: https://oauth2.example.com/token\n"),
			    "9:7: missing required key 'client_id' in oauth2 of account 'work'");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    oauth2:\n"
				       "      client_id: abc\n"),
			    "9:7: missing required key 'token_url' in oauth2 of account 'work' (or set 'provider')");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    oauth2:\n"
				       "      token_url: https://oauth2.example.com/token\n"
				       "      client_id: abc\n"
				       "      auth_url: http://oauth2.example.com/auth\n"),
			    "11:17: 'auth_url' in oauth2 of account 'work' must start with https://");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    oauth2:\n"
				       "      provider: google\n"
				       "      client_id: abc\n"
				       "      device_auth_url: https://\n"),
			    "11:24: 'device_auth_url' in oauth2 of account 'work' must start with https://");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    oauth2:\n"
				       "      provider: google\n"
				       "      client_id: abc\n"
				       "      client_secret: x\n"
				       "      client_secret_cmd: echo x\n"),
			    "12:7: two client secret sources in oauth2 of account 'work': 'client_secret' and 'client_secret_cmd'; keep only one");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    oauth2:\n"
				       "      provider: google\n"
				       "      client_id: abc\n"
				       "      refresh_token_file: ~/rt\n"
				       "      refresh_token_cmd: cat rt\n"),
			    "12:7: two refresh token sources in oauth2 of account 'work': 'refresh_token_file' and 'refresh_token_cmd'; keep only one");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    oauth2:\n"
				       "      provider: yahoo\n"
				       "      client_id: abc\n"),
			    "9:17: 'provider' in oauth2 of account 'work' must be google or microsoft, not 'yahoo'");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    oauth2:\n"
				       "      provider: google\n"
				       "      tenant: contoso\n"
				       "      client_id: abc\n"),
			    "10:15: 'tenant' in oauth2 of account 'work' is for 'provider: microsoft' only");
	assert_string_equal(load_error(ACCOUNT_HEAD
				       "    oauth2:\n"
				       "      provider: microsoft\n"
				       "      tenant: a/b\n"
				       "      client_id: abc\n"),
			    "10:15: 'tenant' in oauth2 of account 'work' must be 1 to 64 of A-Z a-z 0-9 . _ - (a tenant name or ID)");
}

static void test_oauth2_presets(void **state)
{
	(void)state;
	struct config config;
	load_ok(ACCOUNT_HEAD "    auth: xoauth2\n"
		"    oauth2:\n"
		"      provider: Google\n"
		"      client_id: id.apps.googleusercontent.com\n"
		"      client_secret: not-so-secret\n", &config);
	const struct oauth2_settings *g = &config.accounts[0].oauth2;
	assert_string_equal(g->provider, "google");
	assert_string_equal(g->token_url, "https://oauth2.googleapis.com/token");
	assert_string_equal(g->auth_url, "https://accounts.google.com/o/oauth2/auth");
	assert_null(g->device_auth_url);
	assert_string_equal(g->scope, "https://mail.google.com/");
	assert_string_equal(g->client_secret, "not-so-secret");
	assert_int_equal(g->refresh_source, OAUTH2_REFRESH_CACHE);
	config_free(&config);

	load_ok(ACCOUNT_HEAD "    oauth2:\n"
		"      provider: microsoft\n"
		"      client_id: abc\n"
		"      refresh_token_file: ~/rt\n"
		"      ca_file: ~/ca.pem\n", &config);
	const struct oauth2_settings *m = &config.accounts[0].oauth2;
	assert_string_equal(m->tenant, "common");
	assert_string_equal(m->auth_url, "https://login.microsoftonline.com/common/oauth2/v2.0/authorize");
	assert_string_equal(m->token_url, "https://login.microsoftonline.com/common/oauth2/v2.0/token");
	assert_string_equal(m->device_auth_url, "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode");
	assert_string_equal(m->scope, "https://outlook.office.com/IMAP.AccessAsUser.All "
			    "https://outlook.office.com/POP.AccessAsUser.All offline_access");
	assert_int_equal(m->refresh_source, OAUTH2_REFRESH_FILE);
	expect_home_path(m->refresh_token_file, "rt");
	expect_home_path(m->ca_file, "ca.pem");
	config_free(&config);

	/* Explicit keys win over the preset; the tenant fills the rest. */
	load_ok(ACCOUNT_HEAD "    oauth2:\n"
		"      provider: microsoft\n"
		"      tenant: contoso.onmicrosoft.com\n"
		"      client_id: abc\n"
		"      scope: offline_access\n"
		"      token_url: https://proxy.example.com/token\n", &config);
	m = &config.accounts[0].oauth2;
	assert_string_equal(m->token_url, "https://proxy.example.com/token");
	assert_string_equal(m->scope, "offline_access");
	assert_string_equal(m->device_auth_url, "https://login.microsoftonline.com/"
			    "contoso.onmicrosoft.com/oauth2/v2.0/devicecode");
	config_free(&config);
}

static void test_auth_for_protocol(void **state)
{
	(void)state;
	assert_string_equal(load_error("accounts:\n  - name: work\n    protocol: imap\n"
				       "    host: h\n    user: u\n    auth: apop\n"
				       "    deliver: {mda: x}\n"),
			    "6:11: auth 'apop' in account 'work' is for pop3 only");
}

static void test_folders_rules(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    folders: [INBOX, Sent]\n"),
			    "8:14: 'folders' in account 'work' must be [INBOX] or absent: "
			    "pop3 has only the INBOX");
	assert_string_equal(load_error(ACCOUNT_HEAD "    folders: []\n"),
			    "8:14: 'folders' in account 'work' must name at least one folder");
	assert_string_equal(load_error(ACCOUNT_HEAD "    folders: [INBOX, \"\"]\n"),
			    "8:22: entries of 'folders' in account 'work' must not be empty");
	assert_string_equal(load_error(ACCOUNT_HEAD "    folders: [\"a\\r\\nb\"]\n"),
			    "8:15: entries of 'folders' in account 'work' must not contain "
			    "control characters");
	struct config config;
	load_ok(ACCOUNT_HEAD "    folders: [inbox]\n", &config);
	assert_int_equal(config.accounts[0].folder_count, 1);
	assert_string_equal(config.accounts[0].folders[0], "INBOX");
	config_free(&config);
}

static void test_strings_rejected(void **state)
{
	(void)state;
	assert_string_equal(load_error(ACCOUNT_HEAD "    tls_ca_file: ~root/ca.pem\n"),
			    "8:18: 'tls_ca_file' in account 'work' uses ~user, which is not "
			    "supported; write the full path");
	assert_string_equal(load_error("accounts:\n  - name: work\n    protocol: pop3\n"
				       "    host: \"pop.example.com\\r\\nQUIT\"\n"
				       "    user: u\n    deliver: {mda: x}\n"),
			    "4:11: 'host' in account 'work' must not contain control characters");
	assert_string_equal(load_error("accounts:\n  - name: work\n    protocol: pop3\n"
				       "    host: pop example\n"
				       "    user: u\n    deliver: {mda: x}\n"),
			    "4:11: 'host' in account 'work' must not contain spaces");
	assert_string_equal(load_error(ACCOUNT_HEAD "    password: \"a\\0b\"\n"),
			    "8:15: 'password' in account 'work' must not contain a NUL byte");
	assert_string_equal(load_error(ACCOUNT_HEAD "    password_env: 1PASS\n"),
			    "8:19: 'password_env' in account 'work' must be an environment "
			    "variable name ([A-Za-z_][A-Za-z0-9_]*), not '1PASS'");
}

static void test_home_unset(void **state)
{
	(void)state;
	unsetenv("HOME");
	assert_string_equal(load_error(ACCOUNT_HEAD "    state_dir: /var/lib/yubin\n"),
			    "7:16: 'maildir' in deliver of account 'work' starts with ~ but "
			    "HOME is not set");
}

/* ------------------------------------------------------------------ */
/* Defaults                                                            */

static void test_name_in_defaults_refused(void **state)
{
	(void)state;
	assert_string_equal(load_error("defaults:\n  name: all\n" ACCOUNT_HEAD),
			    "2:3: 'name' cannot be set in defaults; each account has its own");
}

static void test_bad_default_reported_even_if_overridden(void **state)
{
	(void)state;
	assert_string_equal(load_error("defaults:\n  timeout: forever\n" ACCOUNT_HEAD
				       "    timeout: 10\n"),
			    "2:12: 'timeout' in defaults must be an integer from 1 to 3600, "
			    "not 'forever'");
}

static void test_password_source_overrides_defaults(void **state)
{
	(void)state;
	struct config config;
	load_ok("defaults:\n  password_cmd: pass show mail\n" ACCOUNT_HEAD
		"    password_env: WORK_PASSWORD\n"
		"  - name: b\n    protocol: pop3\n    host: h\n    user: u\n"
		"    deliver: {mbox: b.mbox}\n",
		&config);
	assert_int_equal(config.account_count, 2);
	assert_int_equal(config.accounts[0].password_source, PASSWORD_ENV);
	assert_string_equal(config.accounts[0].password, "WORK_PASSWORD");
	assert_int_equal(config.accounts[1].password_source, PASSWORD_CMD);
	assert_string_equal(config.accounts[1].password, "pass show mail");
	config_free(&config);
}

static const char full_config[] =
	"# A config with every key.\n"
	"defaults:\n"
	"  timeout: 30\n"
	"  tls_verify: no\n"
	"  keep: FALSE\n"
	"  password_cmd: \"pass show mail\"\n"
	"  state_dir: ~/state\n"
	"  max_size: 10M\n"
	"accounts:\n"
	"  - name: work\n"
	"    protocol: imap\n"
	"    host: imap.example.com\n"
	"    port: 1993\n"
	"    tls: starttls\n"
	"    tls_verify: yes\n"
	"    tls_ca_file: ~/ca.pem\n"
	"    tls_fingerprint: \"sha256:00112233445566778899aabbccddeeff"
	"00112233445566778899AABBCCDDEEFF\"\n"
	"    allow_plaintext: false\n"
	"    user: alice@example.com\n"
	"    auth: xoauth2\n"
	"    password_env: WORK_PASSWORD\n"
	"    oauth2:\n"
	"      token_url: https://oauth2.example.com/token\n"
	"      client_id: \"client-1\"\n"
	"      client_secret_cmd: \"pass show mail/secret\"\n"
	"      refresh_token_cmd: \"pass show mail/refresh\"\n"
	"    folders: [INBOX, \"Archive/*\"]\n"
	"    keep: true\n"
	"    delete_after_days: 30\n"
	"    max_size: 512k\n"
	"    deliver:\n"
	"      maildir: ~/Mail/work/\n"
	"    state_dir: /var/lib/yubin\n"
	"    timeout: 120\n"
	"    pipelining: false\n"
	"  - name: home.pop-3_x\n"
	"    protocol: POP3\n"
	"    host: pop.example.net\n"
	"    user: bob\n"
	"    auth: apop\n"
	"    deliver:\n"
	"      mbox: mail/home.mbox\n"
	"  - name: mda\n"
	"    protocol: pop3\n"
	"    host: 192.0.2.1\n"
	"    user: carol\n"
	"    auth: cram-md5\n"
	"    password: \"s3cret\"\n"
	"    deliver: {mda: \"procmail -d carol\"}\n";

static void check_full_work(const struct account *a, const char *path)
{
	static const unsigned char pin[32] = {
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
		0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
		0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	};
	assert_string_equal(a->name, "work");
	assert_ptr_equal(a->mark.file, path);
	assert_int_equal(a->mark.line, 10);
	assert_int_equal(a->mark.column, 5);
	assert_int_equal(a->protocol, PROTOCOL_IMAP);
	assert_string_equal(a->host, "imap.example.com");
	assert_int_equal(a->port, 1993);
	assert_int_equal(a->tls, TLS_STARTTLS);
	assert_true(a->tls_verify);
	expect_home_path(a->tls_ca_file, "ca.pem");
	assert_int_equal(a->tls_pin_count, 1);
	assert_memory_equal(a->tls_pins[0].sha256, pin, 32);
	assert_false(a->allow_plaintext);
	assert_string_equal(a->user, "alice@example.com");
	assert_int_equal(a->auth, AUTH_XOAUTH2);
	assert_int_equal(a->password_source, PASSWORD_ENV);
	assert_string_equal(a->password, "WORK_PASSWORD");
	assert_true(a->has_oauth2);
	assert_string_equal(a->oauth2.token_url, "https://oauth2.example.com/token");
	assert_string_equal(a->oauth2.client_id, "client-1");
	assert_string_equal(a->oauth2.client_secret_cmd, "pass show mail/secret");
	assert_string_equal(a->oauth2.refresh_token_cmd, "pass show mail/refresh");
	assert_int_equal(a->folder_count, 2);
	assert_string_equal(a->folders[0], "INBOX");
	assert_string_equal(a->folders[1], "Archive/*");
	assert_true(a->keep);
	assert_int_equal(a->delete_after_days, 30);
	assert_true(a->max_size == 512 * 1024);
	assert_int_equal(a->deliver, DELIVER_MAILDIR);
	expect_home_path(a->deliver_target, "Mail/work/");
	assert_string_equal(a->state_dir, "/var/lib/yubin");
	assert_int_equal(a->timeout, 120);
	assert_false(a->pipelining);
}

/* Everything the second account does not say comes from defaults or
   from the built-in defaults. */
static void check_full_home(const struct account *a)
{
	assert_string_equal(a->name, "home.pop-3_x");
	assert_int_equal(a->mark.line, 36);
	assert_int_equal(a->protocol, PROTOCOL_POP3);
	assert_string_equal(a->host, "pop.example.net");
	assert_int_equal(a->port, 995);
	assert_int_equal(a->tls, TLS_IMPLICIT);
	assert_false(a->tls_verify);           /* defaults */
	assert_null(a->tls_ca_file);
	assert_int_equal(a->tls_pin_count, 0);
	assert_false(a->allow_plaintext);
	assert_string_equal(a->user, "bob");
	assert_int_equal(a->auth, AUTH_APOP);
	assert_int_equal(a->password_source, PASSWORD_CMD); /* defaults */
	assert_string_equal(a->password, "pass show mail");
	assert_false(a->has_oauth2);
	assert_int_equal(a->folder_count, 1);
	assert_string_equal(a->folders[0], "INBOX");
	assert_false(a->keep);                 /* defaults */
	assert_int_equal(a->delete_after_days, 0);
	assert_true(a->max_size == 10 * 1024 * 1024); /* defaults */
	assert_int_equal(a->deliver, DELIVER_MBOX);
	assert_string_equal(a->deliver_target, "mail/home.mbox"); /* relative */
	expect_home_path(a->state_dir, "state");  /* defaults, expanded */
	assert_int_equal(a->timeout, 30);      /* defaults */
	assert_true(a->pipelining);
}

static void test_full_config(void **state)
{
	(void)state;
	struct config config;
	load_ok(full_config, &config);
	assert_int_equal(config.account_count, 3);
	check_full_work(&config.accounts[0], config.path);
	check_full_home(&config.accounts[1]);
	const struct account *mda = &config.accounts[2];
	assert_int_equal(mda->auth, AUTH_CRAM_MD5);
	assert_int_equal(mda->password_source, PASSWORD_VALUE);
	assert_string_equal(mda->password, "s3cret");
	assert_int_equal(mda->deliver, DELIVER_MDA);
	assert_string_equal(mda->deliver_target, "procmail -d carol");
	assert_string_equal(mda->host, "192.0.2.1");

	assert_ptr_equal(config_find_account(&config, "mda"), mda);
	assert_ptr_equal(config_find_account(&config, "work"), &config.accounts[0]);
	assert_null(config_find_account(&config, "Work"));
	assert_null(config_find_account(&config, "nobody"));
	config_free(&config);
	assert_true(is_zeroed(&config));
}

static void test_port_defaults(void **state)
{
	(void)state;
	static const struct {
		const char *protocol;
		const char *tls;
		uint16_t port;
	} cases[] = {
		{ "imap", "implicit", 993 },
		{ "imap", "starttls", 143 },
		{ "imap", "none", 143 },
		{ "pop3", "implicit", 995 },
		{ "pop3", "starttls", 110 },
		{ "pop3", "none", 110 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text),
			 "accounts:\n  - name: a\n    protocol: %s\n    tls: %s\n"
			 "    allow_plaintext: true\n    host: h\n    user: u\n"
			 "    deliver: {mda: x}\n",
			 cases[i].protocol, cases[i].tls);
		struct config config;
		load_ok(text, &config);
		assert_int_equal(config.accounts[0].port, cases[i].port);
		config_free(&config);
	}
}

static void test_state_dir_default(void **state)
{
	(void)state;
	struct config config;
	load_ok(ACCOUNT_HEAD, &config);
	expect_home_path(config.accounts[0].state_dir, ".local/state/yubin");
	config_free(&config);

	setenv("XDG_STATE_HOME", "/xdg/state/", 1);
	load_ok(ACCOUNT_HEAD, &config);
	assert_string_equal(config.accounts[0].state_dir, "/xdg/state/yubin");
	config_free(&config);

	/* A relative XDG value is invalid by the spec and ignored. */
	setenv("XDG_STATE_HOME", "relative", 1);
	load_ok(ACCOUNT_HEAD, &config);
	expect_home_path(config.accounts[0].state_dir, ".local/state/yubin");
	config_free(&config);
}

static void test_default_path(void **state)
{
	(void)state;
	struct yb_error err;
	char *path = config_default_path(&err);
	assert_non_null(path);
	expect_home_path(path, ".config/yubin/config.yaml");
	free(path);

	setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
	path = config_default_path(&err);
	assert_string_equal(path, "/xdg/config/yubin/config.yaml");
	free(path);

	unsetenv("XDG_CONFIG_HOME");
	unsetenv("HOME");
	path = config_default_path(&err);
	assert_null(path);
	assert_int_equal(err.status, YB_ERR_CONFIG);
	assert_string_equal(err.msg, "no account file given and neither XDG_CONFIG_HOME "
				     "nor HOME is set; use -c FILE");
}

static void test_tilde_forms(void **state)
{
	(void)state;
	struct config config;
	load_ok(ACCOUNT_HEAD "    state_dir: \"~\"\n    password_file: ~/pw\n", &config);
	assert_string_equal(config.accounts[0].state_dir, home_dir);
	expect_home_path(config.accounts[0].password, "pw");
	assert_int_equal(config.accounts[0].password_source, PASSWORD_FILE);
	expect_home_path(config.accounts[0].deliver_target, "Mail/work");
	config_free(&config);

	/* HOME with a trailing slash does not double it. */
	char home_slash[PATH_MAX + 2];
	snprintf(home_slash, sizeof(home_slash), "%s/", home_dir);
	setenv("HOME", home_slash, 1);
	load_ok(ACCOUNT_HEAD, &config);
	expect_home_path(config.accounts[0].deliver_target, "Mail/work");
	config_free(&config);
}

/* ------------------------------------------------------------------ */
/* Secrets                                                             */

static struct account secret_account(enum password_source source,
				     char *password, unsigned timeout)
{
	struct account account;
	memset(&account, 0, sizeof(account));
	account.name = (char *)"work";
	account.password_source = source;
	account.password = password;
	account.timeout = timeout;
	return account;
}

static void expect_secret(struct account *account, const char *expected)
{
	struct yb_error err;
	char *secret = NULL;
	int status = secret_get_password(account, &secret, &err);
	if (status != YB_OK)
		print_error("unexpected error: %s\n", err.msg);
	assert_int_equal(status, YB_OK);
	assert_string_equal(secret, expected);
	secret_free(secret);
}

static void expect_secret_error(struct account *account, const char *expected)
{
	struct yb_error err;
	char *secret = (char *)"not touched";
	int status = secret_get_password(account, &secret, &err);
	assert_int_equal(status, YB_ERR_CONFIG);
	assert_null(secret);
	assert_string_equal(err.msg, expected);
}

static void test_secret_value(void **state)
{
	(void)state;
	char value[] = "hunter2";
	struct account account = secret_account(PASSWORD_VALUE, value, 5);
	expect_secret(&account, "hunter2");
	secret_free(NULL);
}

static void test_secret_none(void **state)
{
	(void)state;
	struct account account = secret_account(PASSWORD_NONE, NULL, 5);
	expect_secret_error(&account,
			    "account 'work' has no password source (password, "
			    "password_cmd, password_env or password_file)");
}

static void test_secret_env(void **state)
{
	(void)state;
	char variable[] = "YUBIN_TEST_PASSWORD";
	struct account account = secret_account(PASSWORD_ENV, variable, 5);
	expect_secret_error(&account, "account 'work': password_env: variable "
				      "YUBIN_TEST_PASSWORD is not set");
	setenv("YUBIN_TEST_PASSWORD", "", 1);
	expect_secret_error(&account, "account 'work': password_env: variable "
				      "YUBIN_TEST_PASSWORD is empty");
	setenv("YUBIN_TEST_PASSWORD", "from the environment", 1);
	expect_secret(&account, "from the environment");
}

static void test_secret_cmd_first_line(void **state)
{
	(void)state;
	char command[] = "printf 'first\\r\\nsecond\\n'";
	struct account account = secret_account(PASSWORD_CMD, command, 5);
	expect_secret(&account, "first");
	char no_newline[] = "printf 'only'";
	account.password = no_newline;
	expect_secret(&account, "only");
}

static void test_secret_cmd_stdin_is_devnull(void **state)
{
	(void)state;
	/* With a terminal or a pipe as stdin, cat would wait for input. */
	char command[] = "cat; echo from-cmd";
	struct account account = secret_account(PASSWORD_CMD, command, 5);
	expect_secret(&account, "from-cmd");
}

static void test_secret_cmd_fails(void **state)
{
	(void)state;
	char command[] = "echo hunter2; exit 3";
	struct account account = secret_account(PASSWORD_CMD, command, 5);
	expect_secret_error(&account,
			    "account 'work': password_cmd failed with exit status 3");
	char killed[] = "kill -9 $$";
	account.password = killed;
	expect_secret_error(&account,
			    "account 'work': password_cmd was killed by signal 9 (Killed)");
}

/* Other secret settings go through the same code, named by their key. */
static void test_secret_other_keys_named(void **state)
{
	(void)state;
	struct account account = secret_account(PASSWORD_NONE, NULL, 5);
	struct yb_error err;
	char *secret = (char *)"not touched";
	assert_int_equal(secret_from_command(&account, "oauth2 refresh_token_cmd",
					     "exit 4", &secret, &err),
			 YB_ERR_CONFIG);
	assert_null(secret);
	assert_string_equal(err.msg, "account 'work': oauth2 refresh_token_cmd "
			    "failed with exit status 4");
	assert_int_equal(secret_from_file(&account, "oauth2 refresh_token_file",
					  "/nonexistent/token", &secret, &err),
			 YB_ERR_CONFIG);
	assert_string_equal(err.msg, "account 'work': oauth2 refresh_token_file "
			    "/nonexistent/token: cannot open: No such file or "
			    "directory");
	assert_int_equal(secret_from_command(&account, "oauth2 client_secret_cmd",
					     "printf 'cs-1\\nmore\\n'", &secret,
					     &err), YB_OK);
	assert_string_equal(secret, "cs-1");
	secret_free(secret);
}

/* A whole small file, NUL-terminated, with a '\n' put in front so that
   every line starts after one.  Caller frees. */
static char *lines_of(const char *path)
{
	FILE *file = fopen(path, "r");
	assert_non_null(file);
	char *text = calloc(1, 64 * 1024 + 2);
	assert_non_null(text);
	text[0] = '\n';
	size_t got = fread(text + 1, 1, 64 * 1024, file);
	assert_true(feof(file));
	text[1 + got] = '\0';
	fclose(file);
	return text;
}

/*
 * The variables of every account's password_env (two accounts, one
 * sharing its variable with a third) are not in a password_cmd's
 * environment; the rest is, and yubin itself still reads them.
 */
static void test_secret_cmd_env_withheld(void **state)
{
	(void)state;
	char env_path[PATH_MAX], text[2 * PATH_MAX + 512];
	join(env_path, sizeof(env_path), test_dir, "cmd-env");
	snprintf(text, sizeof(text), ACCOUNT_HEAD
		 "    password_env: YUBIN_TEST_PW_A\n"
		 "  - name: b\n    protocol: pop3\n    host: h\n    user: u\n"
		 "    password_env: YUBIN_TEST_PW_B\n"
		 "    deliver: {mbox: b.mbox}\n"
		 "  - name: c\n    protocol: pop3\n    host: h\n    user: u\n"
		 "    password_env: YUBIN_TEST_PW_A\n"
		 "    deliver: {mbox: c.mbox}\n"
		 "  - name: d\n    protocol: pop3\n    host: h\n    user: u\n"
		 "    password_cmd: env > %s; echo from-cmd\n"
		 "    deliver: {mbox: d.mbox}\n", env_path);
	setenv("YUBIN_TEST_PW_A", "alpha", 1);
	setenv("YUBIN_TEST_PW_B", "beta", 1);
	setenv("YUBIN_TEST_PW_KEPT", "kept", 1);
	struct config config;
	load_ok(text, &config);
	assert_int_equal(config.account_count, 4);
	expect_secret(&config.accounts[0], "alpha");
	expect_secret(&config.accounts[3], "from-cmd");
	expect_secret(&config.accounts[1], "beta");
	char *env = lines_of(env_path);
	assert_null(strstr(env, "\nYUBIN_TEST_PW_A="));
	assert_null(strstr(env, "\nYUBIN_TEST_PW_B="));
	assert_non_null(strstr(env, "\nYUBIN_TEST_PW_KEPT=kept\n"));
	assert_non_null(strstr(env, "\nHOME="));
	assert_true(secret_env_withheld("YUBIN_TEST_PW_A=alpha"));
	assert_true(secret_env_withheld("YUBIN_TEST_PW_B"));
	assert_false(secret_env_withheld("YUBIN_TEST_PW_AB=x"));
	assert_false(secret_env_withheld("YUBIN_TEST_PW_=x"));
	free(env);
	config_free(&config);
	secret_withhold_clear();
	assert_false(secret_env_withheld("YUBIN_TEST_PW_A=alpha"));
	unsetenv("YUBIN_TEST_PW_A");
	unsetenv("YUBIN_TEST_PW_B");
	unsetenv("YUBIN_TEST_PW_KEPT");
}

static void test_secret_cmd_no_output(void **state)
{
	(void)state;
	char command[] = "true";
	struct account account = secret_account(PASSWORD_CMD, command, 5);
	expect_secret_error(&account, "account 'work': password_cmd gave nothing "
				      "(its first line is empty)");
	char blank_first[] = "printf '\\nsecond\\n'";
	account.password = blank_first;
	expect_secret_error(&account, "account 'work': password_cmd gave nothing "
				      "(its first line is empty)");
}

static void test_secret_cmd_too_much_output(void **state)
{
	(void)state;
	char command[] = "head -c 100000 /dev/zero | tr '\\0' x";
	struct account account = secret_account(PASSWORD_CMD, command, 5);
	expect_secret_error(&account,
			    "account 'work': password_cmd printed more than 65536 bytes");
}

static double elapsed_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Dead or a zombie waiting for its new parent to reap it. */
static bool process_gone(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *stat_file = fopen(path, "r");
	if (!stat_file)
		return access("/proc/self/stat", F_OK) == 0 || kill(pid, 0) != 0;
	char line[512];
	bool gone = true;
	if (fgets(line, sizeof(line), stat_file)) {
		const char *paren = strrchr(line, ')');
		gone = paren && (paren[2] == 'Z' || paren[2] == 'X');
	}
	fclose(stat_file);
	return gone;
}

static void test_secret_cmd_timeout(void **state)
{
	(void)state;
	/* The shell starts sleep in the background and waits: a timeout must
	   kill the whole process group, not just the shell. */
	char pid_path[PATH_MAX];
	join(pid_path, sizeof(pid_path), test_dir, "sleep.pid");
	char command[PATH_MAX + 64];
	snprintf(command, sizeof(command), "sleep 5 & echo $! > '%s'; wait", pid_path);
	struct account account = secret_account(PASSWORD_CMD, command, 1);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	expect_secret_error(&account, "account 'work': password_cmd timed out after 1 s");
	double seconds = elapsed_since(&start);
	assert_true(seconds >= 0.9);
	assert_true(seconds < 2.5);

	FILE *pid_file = fopen(pid_path, "r");
	assert_non_null(pid_file);
	long sleep_pid = 0;
	assert_int_equal(fscanf(pid_file, "%ld", &sleep_pid), 1);
	fclose(pid_file);
	assert_true(sleep_pid > 1);
	bool gone = false;
	for (int i = 0; i < 100 && !gone; i++) {
		gone = process_gone((pid_t)sleep_pid);
		if (!gone) {
			struct timespec pause = { 0, 10 * 1000 * 1000 };
			nanosleep(&pause, NULL);
		}
	}
	assert_true(gone);
}

static void test_secret_cmd_timeout_after_eof(void **state)
{
	(void)state;
	/* Closes stdout at once but keeps running. */
	char command[] = "echo pw; exec >&-; sleep 5";
	struct account account = secret_account(PASSWORD_CMD, command, 1);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	expect_secret_error(&account, "account 'work': password_cmd timed out after 1 s");
	assert_true(elapsed_since(&start) < 2.5);
}

/*
 * The command behaves as from a shell whatever yubin inherited: no
 * signal ignored or blocked (before, only SIGPIPE was reset, so an
 * ignored SIGHUP or SIGTERM reached it), and no stdin of ours.
 */
static void test_secret_cmd_gets_default_signals(void **state)
{
	(void)state;
	struct sigaction ignore = { .sa_handler = SIG_IGN }, old_hup, old_term;
	sigemptyset(&ignore.sa_mask);
	sigaction(SIGHUP, &ignore, &old_hup);
	sigaction(SIGTERM, &ignore, &old_term);
	sigset_t blocked, old_mask;
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR1);
	sigprocmask(SIG_BLOCK, &blocked, &old_mask);
	/* awk reads its own status: a shell's own mask while it forks or
	   waits says nothing about what it was given. */
	char command[] = "exec awk '/^Sig(Blk|Ign):/ { printf \"%s \", $2 }' "
			 "/proc/self/status";
	struct account account = secret_account(PASSWORD_CMD, command, 5);
	struct yb_error err;
	char *secret = NULL;
	assert_int_equal(secret_get_password(&account, &secret, &err), YB_OK);
	char *end = NULL;
	unsigned long long blocked_mask = strtoull(secret, &end, 16);
	unsigned long long ignored_mask = strtoull(end, NULL, 16);
	secret_free(secret);
	assert_true(blocked_mask == 0);
	/* glibc's posix_spawn leaves only its own two signals (32 and 33)
	   ignored; a glibc program's start-up takes them back. */
	assert_true((ignored_mask & ~0x180000000ULL) == 0);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGTERM, &old_term, NULL);
}

static void write_password_file(const char *name, const char *text, mode_t mode,
				char *path, size_t size)
{
	join(path, size, test_dir, name);
	write_bytes(path, text, strlen(text), mode);
}

static void test_secret_file(void **state)
{
	(void)state;
	char path[PATH_MAX];
	write_password_file("pw-600", "file secret\nsecond line\n", 0600, path,
			    sizeof(path));
	struct account account = secret_account(PASSWORD_FILE, path, 5);
	expect_secret(&account, "file secret");

	write_password_file("pw-400-crlf", "crlf\r\n", 0400, path, sizeof(path));
	expect_secret(&account, "crlf");
}

static void test_secret_file_permissions(void **state)
{
	(void)state;
	char path[PATH_MAX];
	write_password_file("pw-644", "file secret\n", 0644, path, sizeof(path));
	struct account account = secret_account(PASSWORD_FILE, path, 5);
	char expected[3 * PATH_MAX];
	snprintf(expected, sizeof(expected),
		 "account 'work': password_file %s is accessible by group or others; "
		 "run chmod 600 %s",
		 path, path);
	expect_secret_error(&account, expected);

	write_password_file("pw-620", "file secret\n", 0620, path, sizeof(path));
	snprintf(expected, sizeof(expected),
		 "account 'work': password_file %s is accessible by group or others; "
		 "run chmod 600 %s",
		 path, path);
	expect_secret_error(&account, expected);
}

static void test_secret_file_missing_or_empty(void **state)
{
	(void)state;
	char path[PATH_MAX];
	join(path, sizeof(path), test_dir, "pw-missing");
	struct account account = secret_account(PASSWORD_FILE, path, 5);
	char expected[2 * PATH_MAX];
	snprintf(expected, sizeof(expected),
		 "account 'work': password_file %s: cannot open: No such file or directory",
		 path);
	expect_secret_error(&account, expected);

	write_password_file("pw-empty", "", 0600, path, sizeof(path));
	expect_secret_error(&account, "account 'work': password_file gave nothing "
				      "(its first line is empty)");

	account.password = home_dir; /* a directory, mode 0700 */
	snprintf(expected, sizeof(expected),
		 "account 'work': password_file %s is not a regular file", home_dir);
	expect_secret_error(&account, expected);
}

#define T(f) cmocka_unit_test_setup(f, reset_env)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_missing_file),
		T(test_not_a_regular_file),
		T(test_empty_file),
		T(test_file_too_large),
		T(test_syntax_error),
		T(test_invalid_utf8),
		T(test_duplicate_key),
		T(test_aliases_and_anchors_refused),
		T(test_second_document),
		T(test_nesting_too_deep),
		T(test_too_many_accounts),
		T(test_top_level_not_mapping),
		T(test_unknown_top_level_key),
		T(test_accounts_missing),
		T(test_accounts_empty_or_wrong_type),
		T(test_unknown_key_in_account),
		T(test_unknown_key_in_defaults),
		T(test_unknown_key_in_deliver),
		T(test_unknown_key_in_oauth2),
		T(test_unknown_key_suggests_nearest),
		T(test_unknown_key_far_from_all_suggests_nothing),
		T(test_unknown_enum_value_lists_the_values),
		T(test_wrong_types),
		T(test_null_value),
		T(test_bad_port),
		T(test_bad_integers),
		T(test_poll_interval),
		T(test_bad_enums_and_bools),
		T(test_two_password_sources),
		T(test_duplicate_account_names),
		T(test_bad_account_names),
		T(test_tls_none_needs_allow_plaintext),
		T(test_missing_name),
		T(test_missing_protocol),
		T(test_missing_host),
		T(test_missing_user),
		T(test_missing_deliver),
		T(test_password_file_permissions),
		T(test_password_in_defaults_permissions),
		T(test_client_secret_permissions),
		T(test_shared_deliver_path),
		T(test_deliver_targets),
		T(test_keep_and_delete_after_days),
		T(test_push_deletions),
		T(test_max_size),
		T(test_fingerprint),
		T(test_fingerprint_kinds_and_lists),
		T(test_tls_names_and_client_certs),
		T(test_oauth2_rules),
		T(test_oauth2_presets),
		T(test_auth_for_protocol),
		T(test_folders_rules),
		T(test_strings_rejected),
		T(test_home_unset),
		T(test_name_in_defaults_refused),
		T(test_bad_default_reported_even_if_overridden),
		T(test_password_source_overrides_defaults),
		T(test_full_config),
		T(test_imap_folder_keys),
		T(test_port_defaults),
		T(test_state_dir_default),
		T(test_default_path),
		T(test_tilde_forms),
		T(test_secret_value),
		T(test_secret_none),
		T(test_secret_env),
		T(test_secret_cmd_first_line),
		T(test_secret_cmd_stdin_is_devnull),
		T(test_secret_cmd_fails),
		T(test_secret_other_keys_named),
		T(test_secret_cmd_env_withheld),
		T(test_secret_cmd_no_output),
		T(test_secret_cmd_too_much_output),
		T(test_secret_cmd_timeout),
		T(test_secret_cmd_timeout_after_eof),
		T(test_secret_cmd_gets_default_signals),
		T(test_secret_file),
		T(test_secret_file_permissions),
		T(test_secret_file_missing_or_empty),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
