/*
 * test_mda.c - the MDA sink, driving a script that records what it gets
 * (arguments, standard input, environment) and exits as each message
 * asks: the shell rule, expansions without injection, outcomes, the
 * timeout, streaming a large message, crash recovery answers.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sinktest.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "error.h"
#include "log.h"
#include "envelope.h"
#include "mbox.h"
#include "account.h"
#include "mda.h"
#include "secret.h"
#include "sink.h"

struct fixture {
	char root[PATH_MAX];   /* mkdtemp directory, removed in teardown */
	char script[PATH_MAX]; /* root/mda.sh, the recording MDA */
	char out[PATH_MAX];    /* root/out, where it records */
};

/*
 * The recording MDA: "mda.sh OUTDIR ARGS...".  Call n (1, 2, ...) writes
 * OUTDIR/stdin.n, arg.n.i, argc.n, env.n (the YUBIN_* variables),
 * environ.n (the whole environment, as env prints it), then
 * acts on the message's "X-Exit:" header: a number to exit with, "signal"
 * to kill itself, "hang" to start a grandchild that ignores SIGTERM and
 * sleep.
 */
static const char script_text[] =
	"#!/bin/sh\n"
	"out=$1\n"
	"shift\n"
	"n=$(cat \"$out/count\" 2>/dev/null || echo 0)\n"
	"n=$((n + 1))\n"
	"echo $n > \"$out/count\"\n"
	"cat > \"$out/stdin.$n\"\n"
	"echo $# > \"$out/argc.$n\"\n"
	"i=0\n"
	"for arg in \"$@\"; do\n"
	"    printf '%s' \"$arg\" > \"$out/arg.$n.$i\"\n"
	"    i=$((i + 1))\n"
	"done\n"
	"printf '%s|%s|%s' \"$YUBIN_USER\" \"$YUBIN_ACCOUNT\" \"$YUBIN_SENDER\""
	" > \"$out/env.$n\"\n"
	"env > \"$out/environ.$n\"\n"
	"if [ -n \"$CHECK_FD\" ]; then\n"
	"    if [ -e /proc/$$/fd/$CHECK_FD ]; then echo open; else echo closed;"
	" fi > \"$out/fd.$n\"\n"
	"fi\n"
	"if [ -n \"$SAY_HELLO\" ]; then echo \"mda says hello $n\"; fi\n"
	"action=$(sed -n 's/^X-Exit: //p' \"$out/stdin.$n\" | head -n 1)\n"
	"case \"$action\" in\n"
	"'') exit 0 ;;\n"
	"signal) kill -9 $$ ;;\n"
	"hang) (trap '' TERM; sleep 60) & echo $! > \"$out/grandchild\";"
	" sleep 60 ;;\n"
	"*) exit \"$action\" ;;\n"
	"esac\n";

/* ---- helpers ------------------------------------------------------------ */

static void write_file(const char *path, const char *content, size_t len,
		       mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	make_temp_dir(fx->root, sizeof(fx->root), "yubin-mda-XXXXXX");
	join(fx->script, sizeof(fx->script), fx->root, "mda.sh");
	join(fx->out, sizeof(fx->out), fx->root, "out");
	assert_int_equal(mkdir(fx->out, 0700), 0);
	write_file(fx->script, script_text, strlen(script_text), 0700);
	unsetenv("CHECK_FD");
	unsetenv("SAY_HELLO");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	remove_tree(fx->root);
	free(fx);
	return 0;
}

/* The whole content of a file, or NULL if it is missing.  Caller frees. */

/* A file the script wrote: out/NAME. */
static char *recorded(const struct fixture *fx, const char *name)
{
	char path[PATH_MAX];
	join(path, sizeof(path), fx->out, name);
	size_t len;
	return slurp_maybe(path, &len);
}

static void assert_recorded(const struct fixture *fx, const char *name,
			    const char *expected)
{
	char *got = recorded(fx, name);
	if (!got)
		print_error("%s was not written\n", name);
	assert_non_null(got);
	assert_string_equal(got, expected);
	free(got);
}

/* How many times the script ran. */
static int runs(const struct fixture *fx)
{
	char *count = recorded(fx, "count");
	if (!count)
		return 0;
	int value = (int)strtol(count, NULL, 10);
	free(count);
	return value;
}

/* The command "SCRIPT OUTDIR " followed by rest. */
static void command_for(const struct fixture *fx, char *out, size_t size,
			const char *rest)
{
	int written = snprintf(out, size, "%s %s %s", fx->script, fx->out, rest);
	assert_true(written > 0 && (size_t)written < size);
}

static struct sink *open_ok(const char *command, const struct mda_vars *vars,
			    unsigned timeout_sec)
{
	struct sink *sink = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	int status = mda_open(command, vars, timeout_sec, &sink, &err);
	if (status != YB_OK)
		print_error("mda_open: %s\n", err.msg);
	assert_int_equal(status, YB_OK);
	assert_non_null(sink);
	return sink;
}

static struct sink_msg *deliver(struct sink *sink, const char *data,
				size_t len, size_t chunk)
{
	struct sink_msg *msg = NULL;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		assert_int_equal(sink_msg_write(msg, data + off, n, &err), YB_OK);
	}
	assert_int_equal(sink_msg_end(msg, &err), YB_OK);
	return msg;
}

/* One message through a whole batch; publish's status is returned. */
static int deliver_one(struct sink *sink, const char *text,
		       struct yb_error *err)
{
	struct sink_msg *msg = deliver(sink, text, strlen(text), 7);
	(void)msg;
	prepare_ok(sink);
	yb_error_clear(err);
	return sink_publish(sink, err);
}

static enum mda_outcome outcome_of(const struct sink_msg *msg,
				   const char *detail_part)
{
	const char *detail = NULL;
	enum mda_outcome outcome = mda_msg_outcome(msg, &detail);
	assert_non_null(detail);
	if (detail_part && !strstr(detail, detail_part))
		print_error("detail \"%s\" lacks \"%s\"\n", detail, detail_part);
	if (detail_part)
		assert_non_null(strstr(detail, detail_part));
	return outcome;
}

/* ---- the command -------------------------------------------------------- */

static void test_shell_rule(void **state)
{
	(void)state;
	static const struct {
		const char *command;
		bool shell;
	} cases[] = {
		{ "procmail -d %u", false },
		{ "/usr/bin/maildrop 'a b' \"c d\"", false },
		{ "dovecot-lda -f %f -a %a", false },
		{ "deliver -o key=value", false },
		{ "procmail | tee log", true },
		{ "procmail > /dev/null", true },
		{ "a && b", true },
		{ "a; b", true },
		{ "echo $HOME", true },
		{ "echo `id`", true },
		{ "echo \\n", true },
		{ "ls *.txt", true },
		{ "ls file?", true },
		{ "ls ~/mail", true },
		{ "echo {a,b}", true },
		{ "a # comment", true },
		{ "! false", true },
		{ "(subshell)", true },
		{ "a\nb", true },
		{ "VAR=1 procmail", true },
		{ "  LANG=C procmail", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (mda_needs_shell(cases[i].command) != cases[i].shell)
			print_error("case %zu: %s\n", i, cases[i].command);
		assert_int_equal(mda_needs_shell(cases[i].command),
				 cases[i].shell);
	}
}

static void test_bad_commands_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"   \t ",
		"procmail 'open",
		"procmail \"open",
		"procmail %x",
		"procmail 100%",
		"procmail %",
		"procmail -f \\%f | cat",
		"procmail 'open | cat",
		"procmail \"open | cat",
		"procmail %q | cat",
		"procmail | cat \\",
		"'' -x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sink *sink = NULL;
		struct yb_error err;
		int status = mda_open(bad[i], NULL, 5, &sink, &err);
		if (status != YB_ERR_CONFIG)
			print_error("case %zu accepted: %s\n", i, bad[i]);
		assert_int_equal(status, YB_ERR_CONFIG);
		assert_null(sink);
		assert_true(strlen(err.msg) > 0);
	}
	struct sink *sink = NULL;
	struct yb_error err;
	assert_int_equal(mda_open(NULL, NULL, 5, &sink, &err), YB_ERR_CONFIG);
}

/* ---- delivering --------------------------------------------------------- */

static void test_stdin_and_words_without_shell(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command),
		    " 'two words'  \"x y\"z ''  100%% plain");
	struct sink *sink = open_ok(command, NULL, 10);
	static const char text[] = "Subject: hi\n\nline\rwith CR\n\xff\xfe 8-bit\nno newline";
	struct yb_error err;
	assert_int_equal(deliver_one(sink, text, &err), YB_OK);
	sink_close(sink);
	assert_int_equal(runs(fx), 1);
	size_t len;
	char path[PATH_MAX];
	join(path, sizeof(path), fx->out, "stdin.1");
	char *got = slurp_maybe(path, &len);
	assert_non_null(got);
	assert_int_equal(len, sizeof(text) - 1);
	assert_memory_equal(got, text, len);
	free(got);
	assert_recorded(fx, "argc.1", "5\n");
	assert_recorded(fx, "arg.1.0", "two words");
	assert_recorded(fx, "arg.1.1", "x yz");
	assert_recorded(fx, "arg.1.2", "");
	assert_recorded(fx, "arg.1.3", "100%");
	assert_recorded(fx, "arg.1.4", "plain");
}

static void test_expansions_without_shell(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "-u%u -a %a %f %%f");
	struct mda_vars vars = { .user = "alice.smith+x=y@example.org",
				 .account = "work" };
	struct sink *sink = open_ok(command, &vars, 10);
	struct yb_error err;
	assert_int_equal(deliver_one(sink, "Return-Path: <bob@example.org>\n\nx\n",
				     &err), YB_OK);
	/* No Return-Path, and "<>": MAILER-DAEMON. */
	assert_int_equal(deliver_one(sink, "Subject: none\n\nx\n", &err), YB_OK);
	assert_int_equal(deliver_one(sink, "Return-Path: <>\n\nx\n", &err),
			 YB_OK);
	sink_close(sink);
	assert_recorded(fx, "argc.1", "5\n");
	assert_recorded(fx, "arg.1.0", "-ualice.smith+x=y@example.org");
	assert_recorded(fx, "arg.1.1", "-a");
	assert_recorded(fx, "arg.1.2", "work");
	assert_recorded(fx, "arg.1.3", "bob@example.org");
	assert_recorded(fx, "arg.1.4", "%f");
	assert_recorded(fx, "env.1",
			"alice.smith+x=y@example.org|work|bob@example.org");
	assert_recorded(fx, "arg.2.3", "MAILER-DAEMON");
	assert_recorded(fx, "arg.3.3", "MAILER-DAEMON");
}

static void test_environment_replaced(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	assert_int_equal(setenv("YUBIN_SENDER", "forged@x", 1), 0);
	struct mda_vars vars = { .user = "u", .account = NULL };
	struct sink *sink = open_ok(command, &vars, 10);
	struct yb_error err;
	assert_int_equal(deliver_one(sink, "Return-Path: <real@x>\n\nx\n", &err),
			 YB_OK);
	sink_close(sink);
	unsetenv("YUBIN_SENDER");
	assert_recorded(fx, "env.1", "u||real@x");
}

static void test_expansions_with_shell(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command),
		    "%f 'in single %u' \"in double %a\" x%%y 2>&1");
	assert_true(mda_needs_shell(command));
	struct mda_vars vars = { .user = "alice_smith", .account = "work" };
	struct sink *sink = open_ok(command, &vars, 10);
	struct yb_error err;
	assert_int_equal(deliver_one(sink, "Return-Path: <bob@example.org>\n\nx\n",
				     &err), YB_OK);
	sink_close(sink);
	assert_recorded(fx, "argc.1", "4\n");
	assert_recorded(fx, "arg.1.0", "bob@example.org");
	assert_recorded(fx, "arg.1.1", "in single alice_smith");
	assert_recorded(fx, "arg.1.2", "in double work");
	assert_recorded(fx, "arg.1.3", "x%y");
}

/* Values that would break out of any quoting if pasted into the text. */
static void check_no_injection(const struct fixture *fx, const char *rest,
			       const struct mda_vars *vars, const char *message,
			       const char *pwned, const char *const *args,
			       size_t count)
{
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), rest);
	struct sink *sink = open_ok(command, vars, 10);
	struct yb_error err;
	assert_int_equal(deliver_one(sink, message, &err), YB_OK);
	sink_close(sink);
	assert_false(exists(pwned));
	char name[64], argc_text[16];
	snprintf(argc_text, sizeof(argc_text), "%zu\n", count);
	int n = runs(fx);
	snprintf(name, sizeof(name), "argc.%d", n);
	assert_recorded(fx, name, argc_text);
	for (size_t i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "arg.%d.%zu", n, i);
		assert_recorded(fx, name, args[i]);
	}
}

static void test_hostile_sender_no_injection(void **state)
{
	struct fixture *fx = *state;
	char pwned[512], sender[2048], message[3 * 2048];
	join(pwned, sizeof(pwned), fx->root, "pwned");
	/* No space in it, so it is a valid mbox sender; the filter gives the
	   command MAILER-DAEMON instead. */
	snprintf(sender, sizeof(sender),
		 "x';touch${IFS}%s;'\"$(touch${IFS}%s)\"`touch${IFS}%s`@evil",
		 pwned, pwned, pwned);
	snprintf(message, sizeof(message), "Return-Path: <%s>\n\nbody\n", sender);
	const char *args[] = { "MAILER-DAEMON", "<MAILER-DAEMON>",
			       "[MAILER-DAEMON]" };
	check_no_injection(fx, "%f '<%f>' \"[%f]\"; exit $?", NULL, message,
			   pwned, args, 3);
	assert_recorded(fx, "env.1", "||MAILER-DAEMON");
	/* The same without a shell. */
	const char *plain_args[] = { "MAILER-DAEMON", "-MAILER-DAEMON-",
				     "'+MAILER-DAEMON+'" };
	check_no_injection(fx, "%f -%f- \"'+%f+'\"", NULL, message, pwned,
			   plain_args, 3);
	/* With spaces it is not a sender at all. */
	snprintf(message, sizeof(message),
		 "Return-Path: <x'; touch %s; '>\n\nbody\n", pwned);
	const char *daemon[] = { "MAILER-DAEMON" };
	check_no_injection(fx, "%f; exit $?", NULL, message, pwned, daemon, 1);
	/* An option, however harmless its characters. */
	const char *option[] = { "MAILER-DAEMON" };
	check_no_injection(fx, "%f", NULL,
			   "Return-Path: <-oQ=x@evil.example>\n\nbody\n", pwned,
			   option, 1);
}

/*
 * The command hands %f to a second shell (as su -c "..." or ssh would),
 * which yubin's quoting does not reach: the sender's text must itself be
 * harmless.  Both forms: no shell of ours (the whole "..." is one argument
 * of sh -c), and our shell (2>&1) expanding "${YUBIN_SENDER}" into it.
 */
static void test_sender_through_nested_shell(void **state)
{
	struct fixture *fx = *state;
	char pwned[512], message[2048];
	join(pwned, sizeof(pwned), fx->root, "pwned");
	snprintf(message, sizeof(message),
		 "Return-Path: <x;touch${IFS}%s;#@evil>\n\nbody\n", pwned);
	static const char *const forms[] = { "", " 2>&1" };
	for (size_t i = 0; i < 2; i++) {
		char rest[128], command[2 * PATH_MAX + 128];
		snprintf(rest, sizeof(rest), "-f %%f\"%s", forms[i]);
		int written = snprintf(command, sizeof(command),
				       "sh -c \"%s %s %s", fx->script, fx->out,
				       rest);
		assert_true(written > 0 && (size_t)written < sizeof(command));
		assert_int_equal(mda_needs_shell(command), i == 1);
		struct sink *sink = open_ok(command, NULL, 10);
		struct yb_error err;
		assert_int_equal(deliver_one(sink, message, &err), YB_OK);
		/* A sender within the set passes through both shells. */
		assert_int_equal(deliver_one(sink, "Return-Path: "
					     "<SRS0=ab+c_d.e-f=x@example.org>"
					     "\n\nbody\n", &err), YB_OK);
		sink_close(sink);
		assert_false(exists(pwned));
	}
	assert_int_equal(runs(fx), 4);
	for (int n = 1; n <= 4; n += 2) {
		char name[32];
		snprintf(name, sizeof(name), "argc.%d", n);
		assert_recorded(fx, name, "2\n");
		snprintf(name, sizeof(name), "arg.%d.1", n);
		assert_recorded(fx, name, "MAILER-DAEMON");
		snprintf(name, sizeof(name), "env.%d", n);
		assert_recorded(fx, name, "||MAILER-DAEMON");
		snprintf(name, sizeof(name), "arg.%d.1", n + 1);
		assert_recorded(fx, name, "SRS0=ab+c_d.e-f=x@example.org");
	}
}

/* xorshift64*: the same hostile senders on every run. */
static uint64_t next_random(uint64_t *seed)
{
	*seed ^= *seed >> 12;
	*seed ^= *seed << 25;
	*seed ^= *seed >> 27;
	return *seed * UINT64_C(2685821657736338717);
}

static bool in_safe_set(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("@._+=-", c));
}

/* The filter's rule, written again independently of mda.c. */
static bool expect_safe(const char *value)
{
	if (!value[0] || value[0] == '-')
		return false;
	for (const char *p = value; *p; p++)
		if (!in_safe_set(*p))
			return false;
	return true;
}

/*
 * A sender from the seed: fragments of addresses, shell syntax, options
 * and an injection that would create pwned; now and then raw bytes.
 */
static void hostile_sender(uint64_t *seed, const char *pwned, char *out,
			   size_t size)
{
	static const char *const fragments[] = {
		"a", "Z", "9", "@", ".", "_", "+", "=", "-", "--", "x@evil.example",
		"MAILER-DAEMON", ";", "&", "|", "`", "$", "$(", ")", "${IFS}", "{",
		"}", "\\", "'", "\"", "#", "*", "?", "[", "]", "~", "!", "%", "/",
		":", ",", "^", "\n", "\t", " ", "\x7f", "\xc3\xa9", "TOUCH",
	};
	size_t count = sizeof(fragments) / sizeof(fragments[0]);
	size_t len = 0;
	out[0] = '\0';
	size_t pieces = 1 + next_random(seed) % 12;
	bool raw = next_random(seed) % 16 == 0;
	for (size_t i = 0; i < pieces; i++) {
		char piece[600];
		uint64_t pick = next_random(seed);
		if (raw) {
			piece[0] = (char)(1 + pick % 255);
			piece[1] = '\0';
		} else if (strcmp(fragments[pick % count], "TOUCH") == 0) {
			snprintf(piece, sizeof(piece), "touch${IFS}%s", pwned);
		} else {
			snprintf(piece, sizeof(piece), "%s", fragments[pick % count]);
		}
		size_t piece_len = strlen(piece);
		if (len + piece_len >= size)
			break;
		memcpy(out + len, piece, piece_len + 1);
		len += piece_len;
	}
}

/* What the filter gives is within the set, never an option, and is the
   value itself exactly when the value was safe. */
static void check_filtered(const char *value, const char *filtered)
{
	assert_non_null(filtered);
	assert_true(filtered[0] != '\0');
	assert_true(filtered[0] != '-');
	for (const char *p = filtered; *p; p++)
		assert_true(in_safe_set(*p));
	if (expect_safe(value)) {
		assert_string_equal(filtered, value);
		assert_true(mda_value_is_safe(value));
	} else {
		assert_string_equal(filtered, MDA_FALLBACK_SENDER);
		assert_false(mda_value_is_safe(value) && value[0]);
	}
}

static void test_sender_filter_generated(void **state)
{
	struct fixture *fx = *state;
	char pwned[512];
	join(pwned, sizeof(pwned), fx->root, "pwned");
	uint64_t seed = UINT64_C(0x79756269e5eed);
	size_t safe_seen = 0, refused_seen = 0;
	for (int i = 0; i < 20000; i++) {
		char sender[1024];
		hostile_sender(&seed, pwned, sender, sizeof(sender));
		check_filtered(sender, mda_safe_sender(sender));
		if (expect_safe(sender))
			safe_seen++;
		else
			refused_seen++;
		/* And as it would come out of a message's header. */
		char message[1200];
		snprintf(message, sizeof(message), "Return-Path: <%s>\n\nx\n", sender);
		struct mbox_envelope envelope;
		mbox_envelope_init(&envelope);
		mbox_envelope_feed(&envelope, message, strlen(message));
		const char *from_header = mbox_envelope_sender(&envelope);
		check_filtered(from_header, mda_safe_sender(from_header));
	}
	/* The generator is not degenerate: both kinds came up often. */
	assert_true(safe_seen > 500);
	assert_true(refused_seen > 5000);
	check_filtered("", mda_safe_sender(""));
	assert_string_equal(mda_safe_sender(NULL), MDA_FALLBACK_SENDER);

	/* Some of them through a real nested shell, one batch each. */
	char command[2 * PATH_MAX + 64];
	int written = snprintf(command, sizeof(command),
			       "sh -c \"%s %s %%f\"", fx->script, fx->out);
	assert_true(written > 0 && (size_t)written < sizeof(command));
	struct sink *sink = open_ok(command, NULL, 10);
	for (int n = 1; n <= 40; n++) {
		char sender[200], message[400];
		hostile_sender(&seed, pwned, sender, sizeof(sender));
		snprintf(message, sizeof(message), "Return-Path: <%s>\n\nx\n",
			 sender);
		struct mbox_envelope envelope;
		mbox_envelope_init(&envelope);
		mbox_envelope_feed(&envelope, message, strlen(message));
		const char *expected = mda_safe_sender(mbox_envelope_sender(&envelope));
		struct yb_error err;
		assert_int_equal(deliver_one(sink, message, &err), YB_OK);
		char name[32];
		snprintf(name, sizeof(name), "arg.%d.0", n);
		assert_recorded(fx, name, expected);
		assert_false(exists(pwned));
	}
	sink_close(sink);
}

/*
 * %u and %a come from the config; one that fails the filter is refused
 * when the command expands it, and left out of its variable when not.
 */
static void test_unsafe_user_and_account(void **state)
{
	struct fixture *fx = *state;
	char pwned[512], user[2048];
	join(pwned, sizeof(pwned), fx->root, "pwned");
	snprintf(user, sizeof(user), "'; touch %s; ' \"; touch %s; \" $(touch %s)",
		 pwned, pwned, pwned);
	static const struct {
		const char *rest;
		const char *user, *account;
		const char *message_part;
	} refused[] = {
		{ "%u 's:%u' | cat", NULL, "work", "%u would expand to the account's user" },
		{ "-d %u", "alice smith", "work", "%u would expand" },
		{ "-d %u", "-oQ", "work", "%u would expand" },
		{ "\"%a!\"", "alice", "a'b\"c", "%a would expand to the account's name" },
		{ "-a %a", "alice", "-x", "%a would expand" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char command[2 * PATH_MAX];
		command_for(fx, command, sizeof(command), refused[i].rest);
		struct mda_vars vars = {
			.user = refused[i].user ? refused[i].user : user,
			.account = refused[i].account,
		};
		struct sink *sink = NULL;
		struct yb_error err;
		yb_error_clear(&err);
		assert_int_equal(mda_open(command, &vars, 10, &sink, &err),
				 YB_ERR_CONFIG);
		assert_null(sink);
		if (!strstr(err.msg, refused[i].message_part))
			print_error("case %zu: %s\n", i, err.msg);
		assert_non_null(strstr(err.msg, refused[i].message_part));
	}
	/* Not expanded ("%%u" is a '%' and a 'u'): the variable is "". */
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "%%u %%a; exit $?");
	struct mda_vars vars = { .user = user, .account = "a'b" };
	struct sink *sink = open_ok(command, &vars, 10);
	struct yb_error err;
	assert_int_equal(deliver_one(sink, "x\n", &err), YB_OK);
	sink_close(sink);
	assert_false(exists(pwned));
	assert_recorded(fx, "arg.1.0", "%u");
	assert_recorded(fx, "arg.1.1", "%a");
	assert_recorded(fx, "env.1", "||MAILER-DAEMON");
}

/*
 * Every password_env variable of the config is kept from the command,
 * with or without a shell; the rest of the environment is passed on.
 */
static void test_password_variables_withheld(void **state)
{
	struct fixture *fx = *state;
	struct account accounts[3];
	memset(accounts, 0, sizeof(accounts));
	char name_a[] = "YUBIN_TEST_PW_A", name_b[] = "YUBIN_TEST_PW_B";
	accounts[0].password_source = PASSWORD_ENV;
	accounts[0].password = name_a;
	accounts[1].password_source = PASSWORD_ENV;
	accounts[1].password = name_b;
	accounts[2].password_source = PASSWORD_ENV;
	accounts[2].password = name_a;
	struct config config = { .accounts = accounts, .account_count = 3 };
	struct yb_error err;
	assert_int_equal(secret_withhold_variables(&config, &err), YB_OK);
	assert_int_equal(setenv("YUBIN_TEST_PW_A", "alpha", 1), 0);
	assert_int_equal(setenv("YUBIN_TEST_PW_B", "beta", 1), 0);
	assert_int_equal(setenv("YUBIN_TEST_PW_KEPT", "kept", 1), 0);
	static const char *const rests[] = { "", "2>&1" };
	for (size_t i = 0; i < 2; i++) {
		char command[2 * PATH_MAX];
		command_for(fx, command, sizeof(command), rests[i]);
		struct sink *sink = open_ok(command, NULL, 10);
		assert_int_equal(deliver_one(sink, "x\n", &err), YB_OK);
		sink_close(sink);
	}
	secret_withhold_clear();
	unsetenv("YUBIN_TEST_PW_A");
	unsetenv("YUBIN_TEST_PW_B");
	unsetenv("YUBIN_TEST_PW_KEPT");
	for (int n = 1; n <= 2; n++) {
		char name[32];
		snprintf(name, sizeof(name), "environ.%d", n);
		char *environ_text = recorded(fx, name);
		assert_non_null(environ_text);
		assert_null(strstr(environ_text, "YUBIN_TEST_PW_A="));
		assert_null(strstr(environ_text, "YUBIN_TEST_PW_B="));
		assert_non_null(strstr(environ_text, "YUBIN_TEST_PW_KEPT=kept\n"));
		assert_non_null(strstr(environ_text, "YUBIN_SENDER=MAILER-DAEMON\n"));
		free(environ_text);
	}
}

/* ---- outcomes ----------------------------------------------------------- */

static void test_exit_75_defers_the_rest(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	struct sink *sink = open_ok(command, NULL, 10);
	struct sink_msg *msgs[3];
	msgs[0] = deliver(sink, "a\n", 2, 2);
	msgs[1] = deliver(sink, "X-Exit: 75\n\nb\n", 14, 3);
	msgs[2] = deliver(sink, "c\n", 2, 2);
	prepare_ok(sink);
	struct yb_error err;
	assert_int_equal(sink_publish(sink, &err), YB_ERR_TEMP);
	assert_non_null(strstr(err.msg, "75"));
	assert_int_equal(outcome_of(msgs[0], "delivered"), MDA_DELIVERED);
	assert_int_equal(outcome_of(msgs[1], "temporary"), MDA_DEFERRED);
	assert_int_equal(outcome_of(msgs[2], "not run"), MDA_DEFERRED);
	/* The dests stay readable with the outcomes. */
	assert_non_null(sink_msg_dest(msgs[2]));
	assert_int_equal(runs(fx), 2);
	sink_close(sink);
}

static void test_signal_defers(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	struct sink *sink = open_ok(command, NULL, 10);
	struct sink_msg *msg = deliver(sink, "X-Exit: signal\n\nx\n", 18, 18);
	prepare_ok(sink);
	struct yb_error err;
	assert_int_equal(sink_publish(sink, &err), YB_ERR_TEMP);
	assert_int_equal(outcome_of(msg, "signal 9"), MDA_DEFERRED);
	sink_close(sink);
}

static void test_failure_is_per_message(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	struct sink *sink = open_ok(command, NULL, 10);
	struct sink_msg *msgs[3];
	msgs[0] = deliver(sink, "a\n", 2, 2);
	msgs[1] = deliver(sink, "X-Exit: 1\n\nb\n", 13, 13);
	msgs[2] = deliver(sink, "X-Exit: 0\n\nc\n", 13, 13);
	prepare_ok(sink);
	struct yb_error err;
	assert_int_equal(sink_publish(sink, &err), YB_ERR_IO);
	assert_non_null(strstr(err.msg, "1 of 3"));
	assert_non_null(strstr(err.msg, "status 1"));
	assert_int_equal(outcome_of(msgs[0], "delivered"), MDA_DELIVERED);
	assert_int_equal(outcome_of(msgs[1], "status 1"), MDA_REFUSED);
	assert_int_equal(outcome_of(msgs[2], "delivered"), MDA_DELIVERED);
	assert_int_equal(runs(fx), 3);
	/* A new batch frees the old one and starts clean. */
	struct yb_error err2;
	assert_int_equal(deliver_one(sink, "d\n", &err2), YB_OK);
	assert_int_equal(runs(fx), 4);
	sink_close(sink);
}

static bool process_gone(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	size_t len;
	char *stat_text = slurp_maybe(path, &len);
	if (!stat_text)
		return true;
	const char *close_paren = strrchr(stat_text, ')');
	bool zombie = close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
	free(stat_text);
	return zombie;
}

static void test_timeout_kills_process_group(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	struct sink *sink = open_ok(command, NULL, 1);
	struct sink_msg *first = deliver(sink, "X-Exit: hang\n\nx\n", 16, 16);
	struct sink_msg *second = deliver(sink, "y\n", 2, 2);
	prepare_ok(sink);
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct yb_error err;
	assert_int_equal(sink_publish(sink, &err), YB_ERR_TEMP);
	clock_gettime(CLOCK_MONOTONIC, &end);
	double took = (double)(end.tv_sec - start.tv_sec) +
		      (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	assert_true(took >= 1.0 && took < 4.0);
	assert_non_null(strstr(err.msg, "within 1 s"));
	assert_int_equal(outcome_of(first, "within 1 s"), MDA_DEFERRED);
	assert_int_equal(outcome_of(second, "not run"), MDA_DEFERRED);
	assert_int_equal(runs(fx), 1);
	/* The shell's background child, deaf to SIGTERM, went with it. */
	char *grandchild = recorded(fx, "grandchild");
	assert_non_null(grandchild);
	pid_t pid = (pid_t)strtol(grandchild, NULL, 10);
	free(grandchild);
	assert_true(pid > 0);
	bool gone = false;
	for (int i = 0; i < 200 && !gone; i++) {
		gone = process_gone(pid);
		if (!gone)
			usleep(10000);
	}
	assert_true(gone);
	sink_close(sink);
}

static void test_command_not_found(void **state)
{
	struct fixture *fx = *state;
	char command[PATH_MAX + 32];
	join(command, sizeof(command), fx->root, "no-such-mda -x");
	struct sink *sink = open_ok(command, NULL, 10);
	struct sink_msg *msg = deliver(sink, "a\n", 2, 2);
	struct sink_msg *second = deliver(sink, "b\n", 2, 2);
	prepare_ok(sink);
	struct yb_error err;
	assert_int_equal(sink_publish(sink, &err), YB_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "no-such-mda"));
	/* Told by posix_spawn, or by the child's status 127 where it cannot. */
	assert_int_equal(outcome_of(msg, NULL), MDA_DEFERRED);
	assert_int_equal(outcome_of(second, "not run"), MDA_DEFERRED);
	sink_close(sink);
	/* Through a shell: its status 127 says the same. */
	join(command, sizeof(command), fx->root, "no-such-mda 2>/dev/null");
	sink = open_ok(command, NULL, 10);
	msg = deliver(sink, "a\n", 2, 2);
	prepare_ok(sink);
	assert_int_equal(sink_publish(sink, &err), YB_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "status 127"));
	assert_int_equal(outcome_of(msg, "not found"), MDA_DEFERRED);
	sink_close(sink);
}

/* ---- streams and descriptors -------------------------------------------- */

static long max_rss_kb(void)
{
	struct rusage usage;
	assert_int_equal(getrusage(RUSAGE_SELF, &usage), 0);
	return usage.ru_maxrss;
}

static void test_large_message_streams(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	struct sink *sink = open_ok(command, NULL, 30);
	long rss_before = max_rss_kb();
	struct sink_msg *msg;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	static char chunk[65536 + 13];
	const size_t total = 10u << 20;
	size_t sent = 0;
	unsigned seed = 1;
	while (sent < total) {
		size_t n = sizeof(chunk) - (sent % 7);
		if (n > total - sent)
			n = total - sent;
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			chunk[i] = (char)(seed >> 16);
		}
		assert_int_equal(sink_msg_write(msg, chunk, n, &err), YB_OK);
		sent += n;
	}
	assert_int_equal(sink_msg_end(msg, &err), YB_OK);
	prepare_ok(sink);
	assert_int_equal(sink_publish(sink, &err), YB_OK);
	long rss_growth_kb = max_rss_kb() - rss_before;
	sink_close(sink);
	assert_true(rss_growth_kb < 6 * 1024);
	/* Byte for byte what was sent. */
	char path[PATH_MAX];
	join(path, sizeof(path), fx->out, "stdin.1");
	size_t len;
	char *got = slurp_maybe(path, &len);
	assert_non_null(got);
	assert_int_equal(len, total);
	seed = 1;
	sent = 0;
	bool same = true;
	while (sent < total && same) {
		size_t n = sizeof(chunk) - (sent % 7);
		if (n > total - sent)
			n = total - sent;
		for (size_t i = 0; i < n && same; i++) {
			seed = seed * 1103515245u + 12345u;
			same = got[sent + i] == (char)(seed >> 16);
		}
		sent += n;
	}
	assert_true(same);
	free(got);
}

static void test_output_goes_to_stderr(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX], out_path[PATH_MAX], err_path[PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	join(out_path, sizeof(out_path), fx->root, "our-stdout");
	join(err_path, sizeof(err_path), fx->root, "our-stderr");
	assert_int_equal(setenv("SAY_HELLO", "1", 1), 0);
	struct sink *sink = open_ok(command, NULL, 10);
	deliver(sink, "a\n", 2, 2);
	prepare_ok(sink);
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
	int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved_out >= 0 && saved_err >= 0 && out_fd >= 0 && err_fd >= 0);
	dup2(out_fd, STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	struct yb_error err;
	int status = sink_publish(sink, &err);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	close(out_fd);
	close(err_fd);
	assert_int_equal(status, YB_OK);
	size_t len;
	char *ours = slurp_maybe(out_path, &len);
	assert_int_equal(len, 0);
	free(ours);
	char *theirs = slurp_maybe(err_path, &len);
	assert_non_null(strstr(theirs, "mda says hello 1"));
	free(theirs);
	sink_close(sink);
	unsetenv("SAY_HELLO");
}

static void test_no_descriptor_leaks_to_mda(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX], leak_path[PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	join(leak_path, sizeof(leak_path), fx->root, "leaky");
	/* Opened without O_CLOEXEC, as a careless library might. */
	int leaky = open(leak_path, O_WRONLY | O_CREAT, 0600);
	assert_true(leaky > 2);
	char number[16];
	snprintf(number, sizeof(number), "%d", leaky);
	assert_int_equal(setenv("CHECK_FD", number, 1), 0);
	struct sink *sink = open_ok(command, NULL, 10);
	struct yb_error err;
	assert_int_equal(deliver_one(sink, "a\n", &err), YB_OK);
	sink_close(sink);
	unsetenv("CHECK_FD");
	close(leaky);
	assert_recorded(fx, "fd.1", "closed\n");
}

/* ---- the batch ---------------------------------------------------------- */

static void test_abort_and_discard_run_nothing(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	struct sink *sink = open_ok(command, NULL, 10);
	struct sink_msg *msg;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	assert_int_equal(sink_msg_write(msg, "part", 4, &err), YB_OK);
	sink_msg_abort(msg);
	deliver(sink, "a\n", 2, 2);
	prepare_ok(sink);
	sink_discard(sink);
	assert_int_equal(sink_publish(sink, &err), YB_OK);
	/* Misuse: no publish before prepare, no write after the end. */
	msg = deliver(sink, "b\n", 2, 2);
	assert_int_equal(sink_msg_write(msg, "x", 1, &err), YB_ERR_INTERNAL);
	assert_null(sink_msg_dest(msg));
	assert_int_equal(sink_publish(sink, &err), YB_ERR_INTERNAL);
	assert_int_equal(outcome_of(msg, "not run"), MDA_DEFERRED);
	sink_close(sink);
	assert_int_equal(runs(fx), 0);
}

static void test_dests_unique_and_resolve_unknown(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	struct sink *sink = open_ok(command, NULL, 10);
	enum { COUNT = 40 };
	struct sink_msg *msgs[COUNT];
	for (int i = 0; i < COUNT; i++)
		msgs[i] = deliver(sink, "a\n", 2, 2);
	prepare_ok(sink);
	char dests[COUNT][160];
	for (int i = 0; i < COUNT; i++) {
		const char *dest = sink_msg_dest(msgs[i]);
		assert_non_null(dest);
		assert_true(strlen(dest) < sizeof(dests[i]));
		assert_memory_equal(dest, "mda:", 4);
		for (const char *p = dest; *p; p++)
			assert_true(*p > 0x20 && *p < 0x7f);
		snprintf(dests[i], sizeof(dests[i]), "%s", dest);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(dests[i], dests[j]);
	}
	sink_discard(sink);
	/* A crashed run's intent: unknown, and not present. */
	enum mda_outcome outcome = MDA_PENDING;
	struct yb_error err;
	assert_int_equal(mda_resolve(sink, dests[0], &outcome, &err), YB_OK);
	assert_int_equal(outcome, MDA_UNKNOWN);
	bool present = true;
	assert_int_equal(sink_resolve(sink, dests[1], &present, &err), YB_OK);
	assert_false(present);
	static const char *const bad[] = {
		"", "mda:", "mda:1.2.3", "mda:1.2.3.0123456", "mda:1.2.3.0123456g",
		"mda:1.2.3.01234567 ", "new/1.M2P3Q4Y01234567.host,S=3",
		"mda:a.2.3.01234567", "MDA:1.2.3.01234567",
		/* the digest part: 64 lower-case hex digits or nothing */
		"mda:1.2.3.01234567.", "mda:1.2.3.01234567.0123",
		"mda:1.2.3.01234567.0123456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcdeF",
		"mda:1.2.3.01234567.0123456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcdef0",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		present = true;
		assert_int_equal(sink_resolve(sink, bad[i], &present, &err),
				 YB_ERR_INTERNAL);
		assert_false(present);
		assert_int_equal(mda_resolve(sink, bad[i], &outcome, &err),
				 YB_ERR_INTERNAL);
	}
	assert_int_equal(sink_resolve(sink, NULL, &present, &err),
			 YB_ERR_INTERNAL);
	/* An intent recorded before dests carried a digest still resolves. */
	assert_int_equal(mda_resolve(sink, "mda:1.2.3.01234567", &outcome, &err), YB_OK);
	assert_int_equal(outcome, MDA_UNKNOWN);
	sink_close(sink);
	assert_int_equal(runs(fx), 0);
}

static void sha256_of(const char *text, unsigned char out[32])
{
	unsigned int len = 0;
	assert_int_equal(EVP_Digest(text, strlen(text), out, &len, EVP_sha256(), NULL), 1);
	assert_int_equal(len, 32);
}

/*
 * What was handed over is known from the dests the state recorded: each
 * dest carries the SHA-256 of the bytes the command got; dests without
 * one (older, or not the MDA's) give nothing.
 */
static void test_digests_of_what_was_handed_over(void **state)
{
	struct fixture *fx = *state;
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	struct sink *sink = open_ok(command, NULL, 10);
	assert_true(sink_can_digest(sink));
	assert_false(sink_can_apply_flags(sink));
	static const char *const texts[] = { "Subject: one\n\nfirst\n", "" };
	char dests[2][160];
	for (size_t i = 0; i < 2; i++) {
		struct sink_msg *msg = deliver(sink, texts[i], strlen(texts[i]), 5);
		prepare_ok(sink);
		snprintf(dests[i], sizeof(dests[i]), "%s", sink_msg_dest(msg));
		publish_ok(sink);
	}
	assert_int_equal(runs(fx), 2);
	const char *recorded_dests[] = { dests[0], "mda:1.2.3.01234567", dests[1],
					 "new/1.M2P3Q4Y01234567.host,S=3", "mda:x" };
	struct sink_recorded recorded = { .dests = recorded_dests, .count = 5 };
	struct sink_digest *digests = NULL;
	size_t count = 0;
	struct yb_error err;
	assert_int_equal(sink_digests(sink, &recorded, &digests, &count, &err), YB_OK);
	assert_int_equal(count, 2);
	for (size_t i = 0; i < 2; i++) {
		unsigned char expected[32];
		sha256_of(texts[i], expected);
		assert_memory_equal(digests[i].digest, expected, 32);
		assert_string_equal(digests[i].dest, dests[i]);
	}
	free(digests);
	/* Nothing recorded: nothing held. */
	recorded.count = 0;
	assert_int_equal(sink_digests(sink, &recorded, &digests, &count, &err), YB_OK);
	assert_int_equal(count, 0);
	assert_null(digests);
	sink_close(sink);
}

static void test_outcome_of_other_sinks(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	join(path, sizeof(path), fx->root, "box");
	struct sink *mbox = NULL;
	struct yb_error err;
	assert_int_equal(mbox_open(path, &mbox, &err), YB_OK);
	struct sink_msg *msg = deliver(mbox, "a\n", 2, 2);
	const char *detail = "unset";
	assert_int_equal(mda_msg_outcome(msg, &detail), MDA_PENDING);
	assert_string_equal(detail, "");
	sink_close(mbox);
	/* Before its batch runs, an MDA message is pending. */
	char command[2 * PATH_MAX];
	command_for(fx, command, sizeof(command), "");
	struct sink *sink = open_ok(command, NULL, 10);
	msg = deliver(sink, "a\n", 2, 2);
	assert_int_equal(mda_msg_outcome(msg, NULL), MDA_PENDING);
	sink_close(sink);
}

int main(void)
{
	umask(022);
	log_init(-1, false);
	/* yubin's main ignores SIGPIPE; the MDA must not inherit that. */
	signal(SIGPIPE, SIG_IGN);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_shell_rule),
		T(test_bad_commands_refused),
		T(test_stdin_and_words_without_shell),
		T(test_expansions_without_shell),
		T(test_environment_replaced),
		T(test_expansions_with_shell),
		T(test_hostile_sender_no_injection),
		T(test_sender_through_nested_shell),
		T(test_sender_filter_generated),
		T(test_unsafe_user_and_account),
		T(test_password_variables_withheld),
		T(test_exit_75_defers_the_rest),
		T(test_signal_defers),
		T(test_failure_is_per_message),
		T(test_timeout_kills_process_group),
		T(test_command_not_found),
		T(test_large_message_streams),
		T(test_output_goes_to_stderr),
		T(test_no_descriptor_leaks_to_mda),
		T(test_abort_and_discard_run_nothing),
		T(test_dests_unique_and_resolve_unknown),
		T(test_digests_of_what_was_handed_over),
		T(test_outcome_of_other_sinks),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
