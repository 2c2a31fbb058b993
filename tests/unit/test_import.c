/*
 * test_import.c - yubin --import (import*.c): each tool's sample file
 * in tests/import/ gives exactly the YAML beside it (NAME.yaml), which
 * yubin's own loader takes with the values meant; files each tool
 * would refuse are refused with file:line; and seeded garbage (random
 * bytes, mutated samples) never crashes a parser and, when it is
 * taken, still gives YAML the loader can read.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "account.h"
#include "error.h"
#include "import.h"

#ifndef IMPORT_SAMPLES
#define IMPORT_SAMPLES "tests/import"
#endif

static char test_dir[PATH_MAX];
static char home_dir[PATH_MAX];
static unsigned file_counter;

/* ------------------------------------------------------------------ */
/* Fixtures and helpers                                                */

/* snprintf into out, failing the test if it does not fit. */
static void format_path(char *out, size_t size, const char *dir, const char *name)
{
	int written = snprintf(out, size, "%s/%s", dir, name);
	assert_true(written > 0 && (size_t)written < size);
}

static int group_setup(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	format_path(test_dir, sizeof(test_dir), tmp && tmp[0] ? tmp : "/tmp",
		    "yubin-import-XXXXXX");
	if (!mkdtemp(test_dir))
		return -1;
	format_path(home_dir, sizeof(home_dir), test_dir, "home");
	if (mkdir(home_dir, 0700) != 0)
		return -1;
	setenv("HOME", home_dir, 1);
	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_CONFIG_HOME");
	return 0;
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

/* A sample's bytes, malloc'd and NUL-terminated; its length in *len. */
static char *read_sample(const char *name, size_t *len)
{
	char path[PATH_MAX];
	format_path(path, sizeof(path), IMPORT_SAMPLES, name);
	FILE *file = fopen(path, "rb");
	assert_non_null(file);
	char *text = malloc(1024 * 1024);
	assert_non_null(text);
	*len = fread(text, 1, 1024 * 1024 - 1, file);
	text[*len] = '\0';
	fclose(file);
	return text;
}

/* The YAML for a sample, converted under the sample's own name. */
static char *convert_sample(enum import_format format, const char *name)
{
	size_t len;
	char *text = read_sample(name, &len);
	char *yaml = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	int status = import_convert(format, name, text, len, "tester", &yaml, &err);
	if (status != YB_OK)
		fail_msg("%s: %s", name, err.msg);
	free(text);
	return yaml;
}

/* Load yaml as an account file (mode 600) into *config. */
static int load_yaml(const char *yaml, struct config *config, struct yb_error *err)
{
	char path[PATH_MAX], name[32];
	snprintf(name, sizeof(name), "config-%u.yaml", ++file_counter);
	format_path(path, sizeof(path), test_dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	size_t len = strlen(yaml);
	assert_int_equal(write(fd, yaml, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	int status = config_load(path, config, err);
	unlink(path);
	return status;
}

static void load_ok(const char *yaml, struct config *config)
{
	struct yb_error err;
	yb_error_clear(&err);
	if (load_yaml(yaml, config, &err) != YB_OK)
		fail_msg("the imported YAML is refused: %s", err.msg);
}

static void assert_converts_to_expected(enum import_format format, const char *name)
{
	char expected_name[64];
	snprintf(expected_name, sizeof(expected_name), "%s.yaml", name);
	size_t len;
	char *expected = read_sample(expected_name, &len);
	char *yaml = convert_sample(format, name);
	assert_string_equal(yaml, expected);
	free(expected);
	free(yaml);
}

static const struct account *account_named(const struct config *config, const char *name)
{
	const struct account *account = config_find_account(config, name);
	if (!account)
		fail_msg("no account '%s'", name);
	return account;
}

static void assert_home_path(const char *path, const char *below_home)
{
	char expected[PATH_MAX];
	format_path(expected, sizeof(expected), home_dir, below_home);
	assert_string_equal(path, expected);
}

/* ------------------------------------------------------------------ */
/* Formats                                                             */

static void test_format_names(void **state)
{
	(void)state;
	enum import_format format;
	assert_true(import_format_from_name("fetchmailrc", &format));
	assert_int_equal(format, IMPORT_FETCHMAILRC);
	assert_true(import_format_from_name("mbsyncrc", &format));
	assert_int_equal(format, IMPORT_MBSYNCRC);
	assert_true(import_format_from_name("mpoprc", &format));
	assert_int_equal(format, IMPORT_MPOPRC);
	assert_true(import_format_from_name("getmailrc", &format));
	assert_int_equal(format, IMPORT_GETMAILRC);
	assert_false(import_format_from_name("offlineimaprc", &format));
	assert_false(import_format_from_name("", &format));
}

/* ------------------------------------------------------------------ */
/* The samples: exact YAML, and what the loader makes of it            */

static void test_fetchmail_sample(void **state)
{
	(void)state;
	assert_converts_to_expected(IMPORT_FETCHMAILRC, "fetchmailrc");
	char *yaml = convert_sample(IMPORT_FETCHMAILRC, "fetchmailrc");
	struct config config;
	load_ok(yaml, &config);
	assert_int_equal(config.account_count, 5);
	const struct account *alice = account_named(&config, "pop.example.net-alice");
	assert_int_equal(alice->protocol, PROTOCOL_POP3);
	assert_int_equal(alice->port, 995);
	assert_int_equal(alice->tls, TLS_IMPLICIT);
	assert_int_equal(alice->password_source, PASSWORD_VALUE);
	assert_string_equal(alice->password, "s3cr\"et");
	assert_true(alice->keep);
	assert_int_equal(alice->deliver, DELIVER_MDA);
	assert_string_equal(alice->deliver_target, "/usr/bin/procmail -d alice -f %f");
	const struct account *bob = account_named(&config, "pop.example.net-bob.smith");
	assert_string_equal(bob->user, "bob.smith");
	assert_false(bob->keep);
	assert_int_equal(bob->max_size, 10485760);
	assert_home_path(bob->deliver_target, "Mail/pop.example.net-bob.smith");
	const struct account *imap = account_named(&config, "imap.example.org");
	assert_int_equal(imap->protocol, PROTOCOL_IMAP);
	assert_int_equal(imap->tls, TLS_STARTTLS);
	assert_int_equal(imap->timeout, 90);
	assert_int_equal(imap->folder_count, 2);
	assert_string_equal(imap->folders[1], "Lists/yubin");
	assert_string_equal(imap->tls_ca_file, "/etc/ssl/private-ca.pem");
	const struct account *old = account_named(&config, "old.example.com");
	assert_string_equal(old->host, "mail.example.com");
	assert_false(old->tls_verify);
	assert_int_equal(old->auth, AUTH_APOP);
	const struct account *isp = account_named(&config, "pop.isp.example");
	assert_string_equal(isp->user, "tester");
	config_free(&config);
	free(yaml);
}

static void test_mbsync_sample(void **state)
{
	(void)state;
	assert_converts_to_expected(IMPORT_MBSYNCRC, "mbsyncrc");
	char *yaml = convert_sample(IMPORT_MBSYNCRC, "mbsyncrc");
	struct config config;
	load_ok(yaml, &config);
	assert_int_equal(config.account_count, 3);
	const struct account *work = account_named(&config, "work");
	assert_int_equal(work->protocol, PROTOCOL_IMAP);
	assert_int_equal(work->tls, TLS_IMPLICIT);
	assert_int_equal(work->auth, AUTH_LOGIN);
	assert_int_equal(work->password_source, PASSWORD_CMD);
	assert_string_equal(work->password, "pass show mail/work");
	assert_int_equal(work->folder_count, 2);
	assert_string_equal(work->folders[0], "*");
	assert_false(work->inbox_at_root);
	assert_home_path(work->deliver_target, "Mail/work/");
	const struct account *inbox = account_named(&config, "home-inbox");
	assert_int_equal(inbox->port, 143);
	assert_int_equal(inbox->tls, TLS_STARTTLS);
	assert_int_equal(inbox->tls_min_version, 13);
	assert_string_equal(inbox->password, "p@ss \"word\"");
	assert_int_equal(inbox->max_size, 20 * 1024 * 1024);
	assert_home_path(inbox->deliver_target, "Maildir");
	const struct account *lists = account_named(&config, "home-lists");
	assert_int_equal(lists->layout, LAYOUT_MAILDIRPP);
	assert_string_equal(lists->folders[0], "Lists");
	assert_home_path(lists->deliver_target, "Mail/home/lists");
	config_free(&config);
	free(yaml);
}

static void test_mpop_sample(void **state)
{
	(void)state;
	assert_converts_to_expected(IMPORT_MPOPRC, "mpoprc");
	char *yaml = convert_sample(IMPORT_MPOPRC, "mpoprc");
	struct config config;
	load_ok(yaml, &config);
	assert_int_equal(config.account_count, 4); /* "default" is gmx again */
	const struct account *gmx = account_named(&config, "gmx");
	assert_int_equal(gmx->tls, TLS_IMPLICIT);
	assert_int_equal(gmx->tls_pin_count, 1);
	assert_true(gmx->keep);
	assert_int_equal(gmx->password_source, PASSWORD_CMD);
	const struct account *work = account_named(&config, "gmx-work");
	assert_string_equal(work->host, "pop.gmx.net"); /* from gmx */
	assert_string_equal(work->user, "alice.work@gmx.net");
	assert_int_equal(work->auth, AUTH_PLAIN);
	assert_int_equal(work->deliver, DELIVER_MDA);
	assert_string_equal(work->deliver_target, "/usr/bin/procmail -f '%f'");
	const struct account *lan = account_named(&config, "lan");
	assert_int_equal(lan->tls, TLS_NONE);
	assert_true(lan->allow_plaintext);
	assert_false(lan->keep);
	assert_int_equal(lan->max_size, 10 * 1024 * 1024);
	assert_int_equal(lan->deliver, DELIVER_MBOX);
	assert_string_equal(lan->password, "s3cret with spaces");
	assert_null(config_find_account(&config, "default"));
	const struct account *shared = account_named(&config, "gmx-shared");
	assert_home_path(shared->deliver_target, "Mail/gmx-gmx-shared");
	config_free(&config);
	free(yaml);
}

static void test_getmail_samples(void **state)
{
	(void)state;
	assert_converts_to_expected(IMPORT_GETMAILRC, "getmailrc");
	assert_converts_to_expected(IMPORT_GETMAILRC, "getmailrc-work");
	char *yaml = convert_sample(IMPORT_GETMAILRC, "getmailrc-work");
	struct config config;
	load_ok(yaml, &config);
	const struct account *work = account_named(&config, "work");
	assert_int_equal(work->protocol, PROTOCOL_IMAP);
	assert_int_equal(work->tls, TLS_IMPLICIT);
	assert_string_equal(work->password, "/usr/bin/pass show 'mail/imap work'");
	assert_int_equal(work->folder_count, 3);
	assert_string_equal(work->folders[2], "Archive");
	assert_int_equal(work->tls_pin_count, 1);
	assert_int_equal(work->deliver, DELIVER_MDA);
	config_free(&config);
	free(yaml);
	yaml = convert_sample(IMPORT_GETMAILRC, "getmailrc");
	load_ok(yaml, &config);
	const struct account *pop = account_named(&config, "pop.example.net");
	assert_int_equal(pop->protocol, PROTOCOL_POP3);
	assert_false(pop->keep);
	assert_int_equal(pop->max_size, 5000000);
	assert_home_path(pop->deliver_target, "Mail/bob/");
	config_free(&config);
	free(yaml);
}

/* ------------------------------------------------------------------ */
/* Files a tool would refuse                                           */

static void assert_refused(enum import_format format, const char *text,
			   const char *message)
{
	char *yaml = (char *)"unset";
	struct yb_error err;
	yb_error_clear(&err);
	int status = import_convert(format, "rc", text, strlen(text), "tester", &yaml, &err);
	assert_int_equal(status, YB_ERR_CONFIG);
	assert_null(yaml);
	assert_string_equal(err.msg, message);
}

static void test_refused_files(void **state)
{
	(void)state;
	assert_refused(IMPORT_FETCHMAILRC, "poll a.example\n  frobnicate yes\n",
		       "rc:2: unknown keyword 'frobnicate'");
	assert_refused(IMPORT_FETCHMAILRC, "poll a.example user \"bob\n",
		       "rc:1: a quote is not closed");
	assert_refused(IMPORT_FETCHMAILRC, "keep\n", "rc:1: 'keep' before any 'poll'");
	assert_refused(IMPORT_FETCHMAILRC, "poll a user\n", "rc:1: 'user' needs a value");
	assert_refused(IMPORT_FETCHMAILRC, "set daemon 60\n", "rc: no account to import (fetchmailrc)");
	assert_refused(IMPORT_MBSYNCRC, "Channel c\nFar :nowhere:\nNear :x:\n",
		       "rc:2: store 'nowhere' is not defined");
	assert_refused(IMPORT_MBSYNCRC, "Channel c\nFar remote\n",
		       "rc:2: 'Far' wants :store: or :store:box");
	assert_refused(IMPORT_MBSYNCRC, "IMAPAccount a\nHost\n", "rc:2: 'Host' needs a value");
	assert_refused(IMPORT_MBSYNCRC, "IMAPStore s\nAccount gone\n\nMaildirStore m\nPath ~/M/\n\n"
		       "Channel c\nFar :s:\nNear :m:\n", "rc:2: IMAPAccount 'gone' is not defined");
	assert_refused(IMPORT_MPOPRC, "account a : b\n",
		       "rc:1: account 'b' is not defined before this line");
	assert_refused(IMPORT_MPOPRC, "account a\naccount a\n", "rc:2: account 'a' is defined twice");
	assert_refused(IMPORT_MPOPRC, "account a\npassword \"open\n", "rc:2: a quote is not closed");
	assert_refused(IMPORT_GETMAILRC, "server = x\n", "rc:1: a setting before any [section]");
	assert_refused(IMPORT_GETMAILRC, "[retriever\n", "rc:1: a section header ends in ']'");
	assert_refused(IMPORT_GETMAILRC, "[retriever]\njust words\n", "rc:2: expected 'key = value'");
}

static void test_long_line_and_nul(void **state)
{
	(void)state;
	char text[5000];
	memset(text, 'a', sizeof(text));
	memcpy(text, "account ", 8);
	char *yaml;
	struct yb_error err;
	assert_int_equal(import_convert(IMPORT_MPOPRC, "rc", text, sizeof(text), NULL, &yaml,
					&err), YB_ERR_CONFIG);
	assert_string_equal(err.msg, "rc:1: line longer than 4096 bytes");
	const char nul[] = "account a\nhost x\0y\n";
	assert_int_equal(import_convert(IMPORT_MPOPRC, "rc", nul, sizeof(nul) - 1, NULL, &yaml,
					&err), YB_ERR_CONFIG);
	assert_string_equal(err.msg, "rc: holds a NUL byte; is this a configuration file?");
}

static void test_unreadable_file(void **state)
{
	(void)state;
	char *yaml;
	struct yb_error err;
	char path[PATH_MAX];
	format_path(path, sizeof(path), test_dir, "missing");
	assert_int_equal(import_file(IMPORT_MPOPRC, path, NULL, &yaml, &err), YB_ERR_IO);
	assert_null(yaml);
	assert_non_null(strstr(err.msg, "cannot open"));
	assert_int_equal(import_file(IMPORT_MPOPRC, test_dir, NULL, &yaml, &err), YB_ERR_IO);
	assert_non_null(strstr(err.msg, "not a regular file"));
}

/* A secret is never in a comment, whatever it was written with. */
static void test_no_secret_in_notes(void **state)
{
	(void)state;
	const char *text = "poll a.example proto pop3 user bob pass sesame esmtppassword smtpsecret\n";
	char *yaml;
	struct yb_error err;
	assert_int_equal(import_convert(IMPORT_FETCHMAILRC, "rc", text, strlen(text), NULL,
					&yaml, &err), YB_OK);
	assert_null(strstr(yaml, "smtpsecret"));
	assert_non_null(strstr(yaml, "'esmtppassword ...' not carried over"));
	assert_non_null(strstr(yaml, "password: sesame\n"));
	free(yaml);
}

/* A small file cannot make a huge account file, however it inherits. */
static void test_inheritance_is_bounded(void **state)
{
	(void)state;
	size_t cap = 1024 * 1024, len = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	len += (size_t)snprintf(text + len, cap - len, "defaults\n");
	for (int i = 0; i < 3000; i++)
		len += (size_t)snprintf(text + len, cap - len, "frob%d x\n", i);
	for (int i = 0; i < 1000; i++)
		len += (size_t)snprintf(text + len, cap - len, "account a%d\nhost h\n", i);
	char *yaml;
	struct yb_error err;
	assert_int_equal(import_convert(IMPORT_MPOPRC, "rc", text, len, NULL, &yaml, &err),
			 YB_OK);
	assert_non_null(strstr(yaml, "# More than 20000 notes: the rest are left out.\n"));
	assert_true(strlen(yaml) < 16 * 1024 * 1024);
	free(yaml);
	/* Long values, inherited by every account. */
	len = (size_t)snprintf(text, cap, "defaults\n");
	static const char *const keys[] = { "host", "user", "passwordeval", "tls_trust_file",
					    "tls_cert_file", "tls_key_file", "tls_host_override" };
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		len += (size_t)snprintf(text + len, cap - len, "%s ", keys[k]);
		memset(text + len, 'v', 4000);
		len += 4000;
		text[len++] = '\n';
	}
	for (int i = 0; i < 1000; i++)
		len += (size_t)snprintf(text + len, cap - len, "account a%d\n", i);
	assert_int_equal(import_convert(IMPORT_MPOPRC, "rc", text, len, NULL, &yaml, &err),
			 YB_ERR_CONFIG);
	assert_null(yaml);
	assert_non_null(strstr(err.msg, "would be over 16777216 bytes"));
	free(text);
}

/* ------------------------------------------------------------------ */
/* Garbage                                                             */

static uint64_t rng_state;

/* Rounds per format; IMPORT_FUZZ_ROUNDS asks for more, for a long run. */
static int fuzz_rounds(void)
{
	const char *asked = getenv("IMPORT_FUZZ_ROUNDS");
	long rounds = asked ? strtol(asked, NULL, 10) : 0;
	return rounds > 0 && rounds < 10000000 ? (int)rounds : 5000;
}

static uint32_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static const char *const sample_of[] = {
	[IMPORT_FETCHMAILRC] = "fetchmailrc", [IMPORT_MBSYNCRC] = "mbsyncrc",
	[IMPORT_MPOPRC] = "mpoprc", [IMPORT_GETMAILRC] = "getmailrc-work",
};

/* Change text in place (and its length, within cap) a few times. */
static void mutate(char *text, size_t *len, size_t cap)
{
	static const char bytes[] = "\"'\\ \t\n#:;,=()[]%!*~-+0";
	unsigned edits = 1 + rng_next() % 8;
	for (unsigned i = 0; i < edits && *len > 0; i++) {
		size_t at = rng_next() % *len;
		switch (rng_next() % 4) {
		case 0: text[at] = (char)(rng_next() & 0xff); break;
		case 1: text[at] = bytes[rng_next() % (sizeof(bytes) - 1)]; break;
		case 2:
			memmove(text + at, text + at + 1, *len - at - 1);
			(*len)--;
			break;
		default:
			if (*len + 1 < cap) {
				memmove(text + at + 1, text + at, *len - at);
				text[at] = bytes[rng_next() % (sizeof(bytes) - 1)];
				(*len)++;
			}
		}
	}
}

/* Taken or refused cleanly; taken, it is YAML the loader can read. */
static void check_garbage(enum import_format format, const char *text, size_t len,
			  bool load)
{
	char *yaml = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	int status = import_convert(format, "rc", text, len, "tester", &yaml, &err);
	if (status != YB_OK) {
		assert_int_equal(status, YB_ERR_CONFIG);
		assert_null(yaml);
		assert_true(strncmp(err.msg, "rc", 2) == 0);
		return;
	}
	assert_non_null(yaml);
	assert_true(strncmp(yaml, "# yubin account file", 20) == 0);
	if (load) {
		struct config config;
		yb_error_clear(&err);
		if (load_yaml(yaml, &config, &err) == YB_OK)
			config_free(&config);
		else if (strstr(err.msg, "YAML syntax error"))
			fail_msg("unreadable YAML (%s) from:\n%.*s\n---\n%s", err.msg,
				 (int)len, text, yaml);
	}
	free(yaml);
}

static void test_random_bytes(void **state)
{
	(void)state;
	rng_state = 0x9e3779b97f4a7c15ULL;
	char text[2048];
	for (int format = 0; format <= IMPORT_GETMAILRC; format++) {
		for (int round = 0; round < fuzz_rounds(); round++) {
			size_t len = rng_next() % sizeof(text);
			bool printable = round % 2 == 0;
			for (size_t i = 0; i < len; i++)
				text[i] = printable ? (char)(0x20 + rng_next() % 0x5f)
					: (char)(rng_next() & 0xff);
			for (size_t i = 0; printable && i < len; i += 1 + rng_next() % 60)
				text[i] = '\n';
			check_garbage((enum import_format)format, text, len, false);
		}
	}
}

static void test_mutated_samples(void **state)
{
	(void)state;
	rng_state = 0x2545f4914f6cdd1dULL;
	for (int format = 0; format <= IMPORT_GETMAILRC; format++) {
		size_t sample_len;
		char *sample = read_sample(sample_of[format], &sample_len);
		size_t cap = sample_len + 64;
		char *text = malloc(cap);
		assert_non_null(text);
		for (int round = 0; round < fuzz_rounds(); round++) {
			size_t len = sample_len;
			memcpy(text, sample, len);
			mutate(text, &len, cap);
			check_garbage((enum import_format)format, text, len, round % 3 == 0);
		}
		free(text);
		free(sample);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_fetchmail_sample),
		cmocka_unit_test(test_mbsync_sample),
		cmocka_unit_test(test_mpop_sample),
		cmocka_unit_test(test_getmail_samples),
		cmocka_unit_test(test_refused_files),
		cmocka_unit_test(test_long_line_and_nul),
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_no_secret_in_notes),
		cmocka_unit_test(test_inheritance_is_bounded),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_mutated_samples),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
