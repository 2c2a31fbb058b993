/*
 * mda.c - the MDA sink: one command run per message, see mda.h for the
 * rules (shell or not, expansions, outcomes, what is promised).
 *
 * Each message is spooled to an unlinked temporary file through a fixed
 * buffer, with the envelope scanner of envelope.h watching its header; the
 * file itself becomes the command's standard input, so nothing is piped
 * and no message passes through our memory twice.  The command runs as
 * child.h runs every command: its own process group, default signals.
 */
#include "config.h"

#include "mda.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "child.h"
#include "clock.h"
#include "envelope.h"
#include "fileio.h"
#include "log.h"
#include "secret.h"
#include "sink_batch.h"
#include "testhook.h"
#include "text.h"

extern char **environ;

/* Limits on the configured command. */
#define COMMAND_MAX (16 * 1024)
#define WORDS_MAX 256

/* After SIGTERM, how long the command has before SIGKILL. */
#define KILL_GRACE_MS 1000

/*
 * "mda:" SECONDS "." PID "." SEQ "." 8 hex "." 64 hex: the token, then
 * the SHA-256 of the bytes handed over.  The state keeps the dest of
 * every message it records, so what was handed to the command can be
 * recognised later (sink_digests) although the command kept nothing we
 * can see.  Dests recorded before the digest was added end after the
 * token.
 */
#define TOKEN_MAX (4 + 20 + 1 + 10 + 1 + 20 + 1 + 8)
#define DIGEST_HEX 64
#define DEST_MAX (TOKEN_MAX + 1 + DIGEST_HEX + 1)
#define DEST_PREFIX "mda:"

#define DETAIL_MAX 128

/* Characters that make a command run through /bin/sh. */
static const char shell_meta[] = "|&;<>()$`\\*?[]{}~#!\n\r";

struct mda;

/* MSG_PREPARED (sink_batch.h): has its dest; MSG_DONE: run, or not run
   for good, kept only for its outcome. */
struct mda_msg {
	struct batch_msg item;         /* first: in the sink's batch */
	struct mda *mda;               /* not owned */
	int fd;                        /* the spool file; -1 once run */
	uint64_t size;                 /* bytes accepted */
	struct write_buffer out;       /* while writing */
	EVP_MD_CTX *hash;              /* owned while writing */
	unsigned char digest[32];      /* SHA-256 of its bytes, once ended */
	struct mbox_envelope envelope; /* while writing */
	char sender[MBOX_SENDER_MAX + 1];
	char dest[DEST_MAX];
	enum mda_outcome outcome;
	char detail[DETAIL_MAX];
};

struct mda {
	struct sink base;              /* first: the sink interface */
	char shown[96];                /* the command, safe to print, short */
	bool use_shell;
	char *shell_command;           /* owned: the text given to sh -c */
	char **words;                  /* owned: argv templates (no shell) */
	size_t word_count;
	char *user, *account;          /* owned */
	unsigned timeout_sec;
	char *spool_dir;               /* owned */
	struct sink_batch batch;       /* live messages */
	char *spare_buffer;            /* owned; a write buffer for the next message */
};

/* Tokens issued in this process; part of every dest. */
static uint64_t tokens_issued;

/* ---- small helpers ---------------------------------------------------- */

static char *copy_string(const char *s)
{
	size_t len = strlen(s ? s : "");
	char *copy = malloc(len + 1);
	if (copy)
		memcpy(copy, s ? s : "", len + 1);
	return copy;
}

/* ---- the command -------------------------------------------------------- */

bool mda_needs_shell(const char *command)
{
	if (strpbrk(command, shell_meta))
		return true;
	/* VAR=value in the first word is a shell assignment. */
	const char *p = command + strspn(command, " \t");
	size_t first_len = strcspn(p, " \t");
	return memchr(p, '=', first_len) != NULL;
}

/* ---- the expansion filter ----------------------------------------------- */

/*
 * The account's value for %u or %a (expansion 'u' or 'a'; what names the
 * value in the error) as the command gets it:
 * refused when the command expands it and it fails the filter; replaced
 * by "" in YUBIN_USER or YUBIN_ACCOUNT when the command does not, so
 * those variables hold only filtered values too.  *out is owned.
 */
static int filter_account_value(const struct mda *mda, const char *command,
				char expansion, const char *what,
				const char *value, char **out,
				struct yb_error *err)
{
	*out = NULL;
	bool safe = mda_value_is_safe(value);
	if (!safe && mda_expansion_used(command, expansion))
		return yb_fail(err, YB_ERR_CONFIG,
			       "MDA command %s: %%%c would expand to %s, which "
			       "holds characters other than letters, digits "
			       "and @._+=- or starts with '-'; write the value "
			       "into the command yourself, quoted", mda->shown,
			       expansion, what);
	*out = copy_string(safe ? value : NULL);
	if (!*out)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return YB_OK;
}

static int bad_percent(const struct mda *mda, char c, struct yb_error *err)
{
	if (c == '\0')
		return yb_fail(err, YB_ERR_CONFIG,
			       "MDA command %s ends in a lone %% (write %%%% "
			       "for a %% sign)", mda->shown);
	return yb_fail(err, YB_ERR_CONFIG,
		       "MDA command %s: unknown expansion %%%c (known: %%u, "
		       "%%a, %%f, %%%%)", mda->shown,
		       c > 0x20 && c < 0x7f ? c : '?');
}

static int check_word(const struct mda *mda, const char *word,
		      struct yb_error *err)
{
	for (const char *p = word; *p; p++) {
		if (*p != '%')
			continue;
		if (!mda_expansion_known(p[1]))
			return bad_percent(mda, p[1], err);
		p++;
	}
	return YB_OK;
}

/* One word at *p (quotes join and protect spaces); advances *p. */
static int take_word(const struct mda *mda, const char **p, char *word,
		     struct yb_error *err)
{
	size_t len = 0;
	const char *s = *p;
	while (*s && *s != ' ' && *s != '\t') {
		if (*s != '\'' && *s != '"') {
			word[len++] = *s++;
			continue;
		}
		char quote = *s++;
		while (*s && *s != quote)
			word[len++] = *s++;
		if (!*s)
			return yb_fail(err, YB_ERR_CONFIG,
				       "MDA command %s: a %c quote is left open",
				       mda->shown, quote);
		s++;
	}
	word[len] = '\0';
	*p = s;
	return YB_OK;
}

static int split_words(struct mda *mda, const char *command,
		       struct yb_error *err)
{
	size_t len = strlen(command);
	mda->words = calloc(WORDS_MAX + 1, sizeof(*mda->words));
	if (!mda->words)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	const char *p = command;
	for (;;) {
		p += strspn(p, " \t");
		if (!*p)
			break;
		if (mda->word_count == WORDS_MAX)
			return yb_fail(err, YB_ERR_CONFIG,
				       "MDA command %s has more than %d words",
				       mda->shown, WORDS_MAX);
		char *word = malloc(len + 1);
		if (!word)
			return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		mda->words[mda->word_count++] = word;
		int status = take_word(mda, &p, word, err);
		if (!status)
			status = check_word(mda, word, err);
		if (status)
			return status;
		/* Give back what the word did not use. */
		char *fitted = realloc(word, strlen(word) + 1);
		if (fitted)
			mda->words[mda->word_count - 1] = fitted;
	}
	if (mda->word_count == 0 || !mda->words[0][0])
		return yb_fail(err, YB_ERR_CONFIG, "MDA command %s names no program",
			       mda->shown);
	return YB_OK;
}

enum shell_context { SH_PLAIN, SH_SINGLE, SH_DOUBLE };

/* What %c becomes in the shell text, quoted for where it stands. */
static const char *shell_reference(char c, enum shell_context context)
{
	static const char *const refs[3][3] = {
		{ "\"${YUBIN_USER}\"", "'\"${YUBIN_USER}\"'", "${YUBIN_USER}" },
		{ "\"${YUBIN_ACCOUNT}\"", "'\"${YUBIN_ACCOUNT}\"'",
		  "${YUBIN_ACCOUNT}" },
		{ "\"${YUBIN_SENDER}\"", "'\"${YUBIN_SENDER}\"'",
		  "${YUBIN_SENDER}" },
	};
	int which = c == 'u' ? 0 : c == 'a' ? 1 : 2;
	return refs[which][context];
}

/* Where the shell stands after c (escaped: c follows a backslash). */
static enum shell_context shell_step(enum shell_context context, char c,
				     bool *escape_next)
{
	*escape_next = false;
	switch (context) {
	case SH_PLAIN:
		if (c == '\\')
			*escape_next = true;
		return c == '\'' ? SH_SINGLE : c == '"' ? SH_DOUBLE : SH_PLAIN;
	case SH_SINGLE:
		return c == '\'' ? SH_PLAIN : SH_SINGLE;
	default:
		if (c == '\\')
			*escape_next = true;
		return c == '"' ? SH_PLAIN : SH_DOUBLE;
	}
}

static int build_shell_command(struct mda *mda, const char *command,
			       struct yb_error *err)
{
	/* Each "%x" (2 bytes) grows to at most 22 bytes. */
	size_t len = strlen(command);
	mda->shell_command = malloc(len * 11 + 1);
	if (!mda->shell_command)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	char *out = mda->shell_command;
	enum shell_context context = SH_PLAIN;
	bool escaped = false;
	for (const char *p = command; *p; p++) {
		if (*p == '%') {
			if (escaped)
				return yb_fail(err, YB_ERR_CONFIG,
					       "MDA command %s: a %% sequence "
					       "after a backslash cannot be "
					       "expanded safely", mda->shown);
			if (!mda_expansion_known(p[1]))
				return bad_percent(mda, p[1], err);
			const char *ref = p[1] == '%' ? "%" :
					  shell_reference(p[1], context);
			size_t ref_len = strlen(ref);
			memcpy(out, ref, ref_len);
			out += ref_len;
			p++;
			continue;
		}
		*out++ = *p;
		if (escaped)
			escaped = false;
		else
			context = shell_step(context, *p, &escaped);
	}
	*out = '\0';
	if (context != SH_PLAIN || escaped)
		return yb_fail(err, YB_ERR_CONFIG,
			       "MDA command %s: a quote is left open, or it "
			       "ends in a backslash", mda->shown);
	return YB_OK;
}

/* ---- the child's argv and environment ----------------------------------- */

static void free_strings(char **strings)
{
	if (!strings)
		return;
	for (char **s = strings; *s; s++)
		free(*s);
	free(strings);
}

/* argv for the message: owned strings, NULL-terminated. */
static char **build_argv(const struct mda *mda, const char *sender)
{
	size_t count = mda->use_shell ? 3 : mda->word_count;
	const struct mda_values values = {
		.user = mda->user, .account = mda->account, .sender = sender,
	};
	char **argv = calloc(count + 1, sizeof(*argv));
	if (!argv)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		if (mda->use_shell)
			argv[i] = copy_string(i == 0 ? "/bin/sh" : i == 1 ? "-c" :
					      mda->shell_command);
		else
			argv[i] = mda_expand(mda->words[i], &values);
		if (!argv[i]) {
			free_strings(argv);
			return NULL;
		}
	}
	return argv;
}

static char *make_assignment(const char *name, const char *value)
{
	size_t name_len = strlen(name), value_len = strlen(value);
	char *out = malloc(name_len + 1 + value_len + 1);
	if (out) {
		memcpy(out, name, name_len);
		out[name_len] = '=';
		memcpy(out + name_len + 1, value, value_len + 1);
	}
	return out;
}

static bool is_ours(const char *entry)
{
	return strncmp(entry, "YUBIN_USER=", 11) == 0 ||
	       strncmp(entry, "YUBIN_ACCOUNT=", 14) == 0 ||
	       strncmp(entry, "YUBIN_SENDER=", 13) == 0;
}

/*
 * The environment for the message: ours without the variables that hold
 * a password (secret.h), with YUBIN_USER, YUBIN_ACCOUNT and YUBIN_SENDER
 * set.  *owned gets the three new strings (NULL-ended),
 * the array itself borrows the rest from environ.
 */
static char **build_env(const struct mda *mda, const char *sender,
			char ***owned)
{
	size_t count = 0;
	for (char **e = environ; e && *e; e++)
		count++;
	char **env = calloc(count + 4, sizeof(*env));
	char **mine = calloc(4, sizeof(*mine));
	if (mine) {
		mine[0] = make_assignment("YUBIN_USER", mda->user);
		mine[1] = make_assignment("YUBIN_ACCOUNT", mda->account);
		mine[2] = make_assignment("YUBIN_SENDER", sender);
	}
	if (!env || !mine || !mine[0] || !mine[1] || !mine[2]) {
		free(env);
		free_strings(mine);
		return NULL;
	}
	size_t at = 0;
	for (char **e = environ; e && *e; e++)
		if (!is_ours(*e) && !secret_env_withheld(*e))
			env[at++] = *e;
	for (size_t i = 0; i < 3; i++)
		env[at++] = mine[i];
	*owned = mine;
	return env;
}

/* ---- running the command ------------------------------------------------ */

static int spawn_failed(const struct mda *mda, int rc, struct yb_error *err)
{
	/* A command that cannot start is the configuration's fault... */
	if (rc == ENOENT || rc == EACCES || rc == ENOEXEC || rc == ENOTDIR ||
	    rc == ELOOP || rc == ENAMETOOLONG || rc == EPERM)
		return yb_fail_errno(err, YB_ERR_CONFIG, rc,
				     "cannot run MDA command %s", mda->shown);
	/* ...no process or memory to start it is a passing shortage. */
	if (rc == EAGAIN || rc == ENOMEM)
		return yb_fail_errno(err, YB_ERR_TEMP, rc,
				     "cannot start MDA command %s", mda->shown);
	return yb_fail_errno(err, YB_ERR_IO, rc, "cannot start MDA command %s",
			     mda->shown);
}

static int spawn_command(const struct mda *mda, const struct mda_msg *msg,
			 pid_t *pid, struct yb_error *err)
{
	char **owned_env = NULL;
	char **argv = build_argv(mda, msg->sender);
	char **envp = argv ? build_env(mda, msg->sender, &owned_env) : NULL;
	if (!argv || !envp) {
		free_strings(argv);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	/* stdin is the spool, stdout goes to our stderr. */
	const struct child_spec spec = {
		.program = argv[0], .search_path = !mda->use_shell,
		.argv = argv, .envp = envp, .stdin_fd = msg->fd,
		.stdout_fd = -1,
	};
	int rc = child_start(&spec, pid);
	free_strings(argv);
	free(envp);
	free_strings(owned_env);
	return rc ? spawn_failed(mda, rc, err) : YB_OK;
}

static void judge_exit(struct mda_msg *msg, int wait_status)
{
	int written;
	if (WIFSIGNALED(wait_status)) {
		msg->outcome = MDA_DEFERRED;
		written = snprintf(msg->detail, sizeof(msg->detail),
				   "was killed by signal %d",
				   WTERMSIG(wait_status));
	} else if (!WIFEXITED(wait_status)) {
		msg->outcome = MDA_DEFERRED;
		written = snprintf(msg->detail, sizeof(msg->detail),
				   "ended in an unknown way");
	} else if (WEXITSTATUS(wait_status) == 0) {
		msg->outcome = MDA_DELIVERED;
		written = snprintf(msg->detail, sizeof(msg->detail),
				   "delivered");
	} else if (WEXITSTATUS(wait_status) == 126 ||
		   WEXITSTATUS(wait_status) == 127) {
		msg->outcome = MDA_DEFERRED;
		written = snprintf(msg->detail, sizeof(msg->detail),
				   "exited with status %d (the command was not "
				   "found or cannot be run)",
				   WEXITSTATUS(wait_status));
	} else if (WEXITSTATUS(wait_status) == 75) {
		msg->outcome = MDA_DEFERRED;
		written = snprintf(msg->detail, sizeof(msg->detail),
				   "exited with status 75 (temporary failure)");
	} else {
		msg->outcome = MDA_REFUSED;
		written = snprintf(msg->detail, sizeof(msg->detail),
				   "exited with status %d",
				   WEXITSTATUS(wait_status));
	}
	if (written < 0 || (size_t)written >= sizeof(msg->detail))
		msg->detail[0] = '\0';
}

/*
 * Run the command for one message and set its outcome; an error when it
 * could not be started or cannot run (its outcome may stay MDA_PENDING).
 */
static int run_one(struct mda *mda, struct mda_msg *msg, struct yb_error *err)
{
	if (lseek(msg->fd, 0, SEEK_SET) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot rewind the spool of a message for "
				     "MDA command %s", mda->shown);
	pid_t pid;
	int status = spawn_command(mda, msg, &pid, err);
	if (status)
		return status;
	int wait_status = 0;
	if (!child_wait_exit(pid, (uint64_t)mda->timeout_sec * 1000u)) {
		/* The whole group: a shell's children too. */
		child_stop(pid, KILL_GRACE_MS);
		msg->outcome = MDA_DEFERRED;
		if (!text_format(msg->detail, sizeof(msg->detail),
				 "did not finish within %u s and was killed",
				 mda->timeout_sec))
			msg->detail[0] = '\0';
		return YB_OK;
	}
	if (!child_reap(pid, &wait_status)) {
		/* Nobody can say how it ended: never taken for a delivery. */
		msg->outcome = MDA_DEFERRED;
		snprintf(msg->detail, sizeof(msg->detail),
			 "ended in a way that cannot be learned");
		return YB_OK;
	}
	judge_exit(msg, wait_status);
	/* What the shell, or a spawn that cannot report, says for a program
	   not found: it will fail for every message. */
	if (WIFEXITED(wait_status) && (WEXITSTATUS(wait_status) == 126 ||
				       WEXITSTATUS(wait_status) == 127))
		status = yb_fail(err, YB_ERR_CONFIG,
				 "cannot run MDA command %s: it %s",
				 mda->shown, msg->detail);
	return status;
}

/* ---- messages ----------------------------------------------------------- */

static void drop_msg(struct batch_msg *item)
{
	struct mda_msg *msg = (struct mda_msg *)item;
	EVP_MD_CTX_free(msg->hash);
	fd_close(&msg->fd);
	sink_batch_remove(&msg->mda->batch, item);
	write_buffer_release(&msg->out, &msg->mda->spare_buffer);
	free(msg);
}

/* Free the published messages kept for their outcomes. */
static void drop_done(struct mda *mda)
{
	sink_batch_drop(&mda->batch, 1u << MSG_DONE, drop_msg);
}

/* An unlinked file in the spool directory. */
static int open_spool(const struct mda *mda, int *fd, struct yb_error *err)
{
	int rc = spool_open_in(mda->spool_dir, fd);
	if (rc)
		return yb_fail_errno(err, YB_ERR_IO, rc,
				     "cannot create a spool file in %s",
				     mda->spool_dir);
	return YB_OK;
}

static int mda_msg_begin(struct sink *sink, const struct msg_meta *meta,
			 struct sink_msg **out, struct yb_error *err)
{
	struct mda *mda = (struct mda *)sink;
	(void)meta;
	drop_done(mda);
	struct mda_msg *msg = calloc(1, sizeof(*msg));
	if (!msg)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (write_buffer_start(&msg->out, &mda->spare_buffer) != 0) {
		free(msg);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	msg->fd = -1;
	msg->hash = EVP_MD_CTX_new();
	int status = msg->hash && EVP_DigestInit_ex(msg->hash, EVP_sha256(), NULL) == 1
		     ? YB_OK : yb_fail(err, YB_ERR_INTERNAL, "cannot start SHA-256");
	if (!status)
		status = open_spool(mda, &msg->fd, err);
	if (status) {
		EVP_MD_CTX_free(msg->hash);
		write_buffer_release(&msg->out, &mda->spare_buffer);
		free(msg);
		return status;
	}
	msg->item.base.sink = sink;
	msg->mda = mda;
	msg->item.state = MSG_WRITING;
	msg->outcome = MDA_PENDING;
	mbox_envelope_init(&msg->envelope);
	sink_batch_add(&mda->batch, &msg->item);
	*out = &msg->item.base;
	return YB_OK;
}

static int check_writable(const struct mda_msg *msg, struct yb_error *err)
{
	if (msg->item.state != MSG_WRITING)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "write to a message for MDA command %s after "
			       "its end", msg->mda->shown);
	if (msg->item.failed)
		return yb_fail(err, YB_ERR_IO,
			       "cannot spool a message for MDA command %s: an "
			       "earlier write failed", msg->mda->shown);
	return YB_OK;
}

static int fail_spool(struct mda_msg *msg, int errnum, struct yb_error *err)
{
	msg->item.failed = true;
	return yb_fail_errno(err, YB_ERR_IO, errnum,
			     "cannot spool a message for MDA command %s in %s",
			     msg->mda->shown, msg->mda->spool_dir);
}

static int mda_msg_write(struct sink_msg *base, const char *data, size_t len,
			 struct yb_error *err)
{
	struct mda_msg *msg = (struct mda_msg *)base;
	int status = check_writable(msg, err);
	if (status || len == 0)
		return status;
	if (len > (uint64_t)INT64_MAX - msg->size) {
		msg->item.failed = true;
		return yb_fail_errno(err, YB_ERR_IO, EFBIG,
				     "cannot spool a message for MDA command %s",
				     msg->mda->shown);
	}
	mbox_envelope_feed(&msg->envelope, data, len);
	if (EVP_DigestUpdate(msg->hash, data, len) != 1) {
		msg->item.failed = true;
		return yb_fail(err, YB_ERR_INTERNAL, "SHA-256 failed for a message "
			       "for MDA command %s", msg->mda->shown);
	}
	int rc = write_buffer_put(&msg->out, msg->fd, data, len);
	if (rc)
		return fail_spool(msg, rc, err);
	msg->size += len;
	return YB_OK;
}

/* The message's sender, through the filter (mda.h). */
static void set_sender(struct mda_msg *msg, const char *sender)
{
	const char *safe = mda_safe_sender(sender);
	if (safe != sender && log_enabled(LOG_LEVEL_INFO)) {
		char shown[MBOX_SENDER_MAX + 1];
		text_sanitize(shown, sizeof(shown), sender, strlen(sender));
		log_info("the sender %s is not one an MDA command is given "
			 "(only letters, digits and @._+=-, not starting with "
			 "'-'): MDA command %s gets " MDA_FALLBACK_SENDER,
			 shown, msg->mda->shown);
	}
	memcpy(msg->sender, safe, strlen(safe) + 1);
}

static int mda_msg_end(struct sink_msg *base, struct yb_error *err)
{
	struct mda_msg *msg = (struct mda_msg *)base;
	int status = check_writable(msg, err);
	if (!status) {
		int rc = write_buffer_flush(&msg->out, msg->fd);
		if (rc)
			status = fail_spool(msg, rc, err);
	}
	unsigned int digest_len = 0;
	if (!status && (EVP_DigestFinal_ex(msg->hash, msg->digest, &digest_len) != 1 ||
			digest_len != sizeof(msg->digest)))
		status = yb_fail(err, YB_ERR_INTERNAL, "SHA-256 failed for a message "
				 "for MDA command %s", msg->mda->shown);
	if (status)
		return status;
	EVP_MD_CTX_free(msg->hash);
	msg->hash = NULL;
	set_sender(msg, mbox_envelope_sender(&msg->envelope));
	write_buffer_release(&msg->out, &msg->mda->spare_buffer);
	msg->item.state = MSG_ENDED;
	return YB_OK;
}

static void mda_msg_abort(struct sink_msg *base)
{
	drop_msg((struct batch_msg *)base);
}

/* ---- the batch ---------------------------------------------------------- */

static int set_dest(struct mda_msg *msg, struct yb_error *err)
{
	unsigned char random_bytes[4];
	if (RAND_bytes(random_bytes, sizeof(random_bytes)) != 1)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "cannot get random bytes for an MDA token");
	uint32_t random_value = (uint32_t)random_bytes[0] << 24 |
				(uint32_t)random_bytes[1] << 16 |
				(uint32_t)random_bytes[2] << 8 |
				(uint32_t)random_bytes[3];
	time_t now = time(NULL);
	char digest_hex[DIGEST_HEX + 1];
	for (size_t i = 0; i < sizeof(msg->digest); i++)
		snprintf(digest_hex + 2 * i, 3, "%02x", msg->digest[i]);
	if (!text_format(msg->dest, sizeof(msg->dest),
			 DEST_PREFIX "%lld.%ld.%" PRIu64 ".%08" PRIx32 ".%s",
			 now < 0 ? 0LL : (long long)now, (long)getpid(),
			 ++tokens_issued, random_value, digest_hex))
		return yb_fail(err, YB_ERR_INTERNAL, "MDA token too long");
	return YB_OK;
}

static int mda_prepare(struct sink *sink, struct yb_error *err)
{
	struct mda *mda = (struct mda *)sink;
	drop_done(mda);
	for (struct batch_msg *b = mda->batch.head; b; b = b->next) {
		if (b->state != MSG_ENDED)
			continue;
		int status = set_dest((struct mda_msg *)b, err);
		if (status)
			return status;
		b->state = MSG_PREPARED;
	}
	return YB_OK;
}

static const char *mda_msg_dest(const struct sink_msg *base)
{
	const struct mda_msg *msg = (const struct mda_msg *)base;
	return msg->item.state == MSG_PREPARED || msg->item.state == MSG_DONE ?
	       msg->dest : NULL;
}

/* Mark a message not run, after the batch stopped. */
static void mark_not_run(struct mda_msg *msg)
{
	msg->outcome = MDA_DEFERRED;
	snprintf(msg->detail, sizeof(msg->detail), "%s",
		 "not run: an earlier message of the batch was not delivered "
		 "for now");
}

/* What publish answers, once every message has its outcome. */
static int batch_status(const struct mda *mda, size_t refused, size_t ran,
			const struct mda_msg *first_refused,
			const struct mda_msg *deferred, struct yb_error *err)
{
	if (deferred)
		return yb_fail(err, YB_ERR_TEMP,
			       "MDA command %s %s: the message and the rest of "
			       "its batch are left for the next run", mda->shown,
			       deferred->detail);
	if (refused)
		return yb_fail(err, YB_ERR_IO,
			       "MDA command %s failed for %zu of %zu messages "
			       "(first: %s); they are left on the server",
			       mda->shown, refused, ran, first_refused->detail);
	return YB_OK;
}

static int mda_publish(struct sink *sink, struct yb_error *err)
{
	struct mda *mda = (struct mda *)sink;
	int status = YB_OK;
	const struct mda_msg *deferred = NULL, *first_refused = NULL;
	size_t refused = 0, ran = 0;
	if (sink_batch_has(&mda->batch, MSG_ENDED))
		status = yb_fail(err, YB_ERR_INTERNAL,
				 "publish before prepare for MDA command %s",
				 mda->shown);
	for (struct batch_msg *b = mda->batch.head; b; b = b->next) {
		struct mda_msg *m = (struct mda_msg *)b;
		if (b->state != MSG_PREPARED && b->state != MSG_ENDED)
			continue;
		b->state = MSG_DONE;
		if (status || deferred) {
			mark_not_run(m);
		} else {
			status = run_one(mda, m, err);
			if (status) {
				if (m->outcome == MDA_PENDING)
					mark_not_run(m);
			} else {
				ran++;
				if (m->outcome == MDA_DEFERRED)
					deferred = m;
				if (m->outcome == MDA_REFUSED && !refused++)
					first_refused = m;
				/* A kill here leaves the batch half run. */
				testhook_step("publish");
			}
		}
		fd_close(&m->fd);
	}
	if (status)
		return status;
	return batch_status(mda, refused, ran, first_refused, deferred, err);
}

static void mda_discard(struct sink *sink)
{
	struct mda *mda = (struct mda *)sink;
	sink_batch_drop(&mda->batch, BATCH_PAST_WRITING, drop_msg);
}

enum mda_outcome mda_msg_outcome(const struct sink_msg *base,
				 const char **detail)
{
	const struct mda_msg *msg = (const struct mda_msg *)base;
	if (detail)
		*detail = "";
	if (!base || !base->sink || base->sink->ops->msg_dest != mda_msg_dest)
		return MDA_PENDING;
	if (detail)
		*detail = msg->detail;
	return msg->outcome;
}

/* ---- crash recovery ----------------------------------------------------- */

static bool hex_value(char c, unsigned *value)
{
	const char *digits = "0123456789abcdef";
	const char *at = c ? strchr(digits, c) : NULL;
	if (!at)
		return false;
	*value = (unsigned)(at - digits);
	return true;
}

/*
 * "mda:" then digits '.' digits '.' digits '.' 8 hex, as set_dest makes,
 * then '.' and 64 hex (the digest, into digest; *has_digest) or nothing
 * (a dest recorded before digests were).
 */
static bool parse_dest(const char *dest, unsigned char digest[32], bool *has_digest)
{
	*has_digest = false;
	if (strncmp(dest, DEST_PREFIX, strlen(DEST_PREFIX)) != 0 ||
	    strnlen(dest, DEST_MAX) >= DEST_MAX)
		return false;
	const char *p = dest + strlen(DEST_PREFIX);
	for (int field = 0; field < 3; field++) {
		size_t digits = strspn(p, "0123456789");
		if (digits == 0 || digits > 20 || p[digits] != '.')
			return false;
		p += digits + 1;
	}
	if (strspn(p, "0123456789abcdef") != 8)
		return false;
	p += 8;
	if (*p == '\0')
		return true;
	if (*p++ != '.' || strspn(p, "0123456789abcdef") != DIGEST_HEX ||
	    p[DIGEST_HEX] != '\0')
		return false;
	for (size_t i = 0; i < 32; i++) {
		unsigned high, low;
		if (!hex_value(p[2 * i], &high) || !hex_value(p[2 * i + 1], &low))
			return false;
		digest[i] = (unsigned char)(high << 4 | low);
	}
	*has_digest = true;
	return true;
}

static bool valid_dest(const char *dest)
{
	unsigned char digest[32];
	bool has_digest;
	return parse_dest(dest, digest, &has_digest);
}

int mda_resolve(struct sink *sink, const char *dest, enum mda_outcome *outcome,
		struct yb_error *err)
{
	const struct mda *mda = (const struct mda *)sink;
	*outcome = MDA_UNKNOWN;
	if (!sink || sink->ops->msg_dest != mda_msg_dest)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "mda_resolve on a sink that is not an MDA");
	if (dest && valid_dest(dest))
		return YB_OK;
	char shown[128];
	text_sanitize(shown, sizeof(shown), dest ? dest : "",
		      dest ? strnlen(dest, 4096) : 0);
	return yb_fail(err, YB_ERR_INTERNAL, "bad MDA intent \"%s\" for %s",
		       shown, mda->shown);
}

static int mda_sink_resolve(struct sink *sink, const char *dest, bool *present,
			    struct yb_error *err)
{
	enum mda_outcome outcome;
	*present = false;
	return mda_resolve(sink, dest, &outcome, err);
}

/* ---- what was handed over (sink_digests) -------------------------------- */

/*
 * The command keeps nothing yubin can read back, so what it was handed
 * is known from the dests the state recorded: each carries the digest of
 * the bytes handed over.  A dest that carries none (recorded before
 * digests were) or is not an MDA dest is skipped.
 */
static int mda_digests(struct sink *sink, const struct sink_recorded *recorded,
		       struct sink_digest **out, size_t *count, struct yb_error *err)
{
	(void)sink;
	*out = NULL;
	*count = 0;
	if (!recorded || recorded->count == 0)
		return YB_OK;
	struct sink_digest *items = malloc(recorded->count * sizeof(*items));
	if (!items)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	size_t used = 0;
	for (size_t i = 0; i < recorded->count; i++) {
		const char *dest = recorded->dests[i];
		bool has_digest = false;
		if (!dest || !parse_dest(dest, items[used].digest, &has_digest) || !has_digest)
			continue;
		snprintf(items[used].dest, sizeof(items[used].dest), "%s", dest);
		used++;
	}
	if (used == 0) {
		free(items);
		return YB_OK;
	}
	*out = items;
	*count = used;
	return YB_OK;
}

/* ---- life of the sink --------------------------------------------------- */

static void free_mda(struct mda *mda)
{
	sink_batch_drop(&mda->batch, BATCH_ALL, drop_msg);
	if (mda->words)
		for (size_t i = 0; i < mda->word_count; i++)
			free(mda->words[i]);
	free(mda->words);
	free(mda->shell_command);
	free(mda->user);
	free(mda->account);
	free(mda->spool_dir);
	free(mda->spare_buffer);
	free(mda);
}

static void mda_close(struct sink *sink)
{
	free_mda((struct mda *)sink);
}

static enum sink_outcome mda_sink_outcome(const struct sink_msg *msg,
					  const char **detail)
{
	switch (mda_msg_outcome(msg, detail)) {
	case MDA_DELIVERED: return SINK_DELIVERED;
	case MDA_REFUSED:   return SINK_REFUSED;
	default:            return SINK_DEFERRED;
	}
}

static const struct sink_ops mda_ops = {
	.msg_begin = mda_msg_begin,
	.msg_write = mda_msg_write,
	.msg_end = mda_msg_end,
	.msg_abort = mda_msg_abort,
	.prepare = mda_prepare,
	.msg_dest = mda_msg_dest,
	.publish = mda_publish,
	.discard = mda_discard,
	.resolve = mda_sink_resolve,
	.close = mda_close,
	.msg_outcome = mda_sink_outcome,
	.digests = mda_digests,
};

/* $TMPDIR if it is an absolute path, else /tmp. */
static char *pick_spool_dir(void)
{
	const char *tmpdir = getenv("TMPDIR");
	if (!tmpdir || tmpdir[0] != '/' || strlen(tmpdir) > PATH_MAX / 2)
		tmpdir = "/tmp";
	return copy_string(tmpdir);
}

static int setup(struct mda *mda, const char *command,
		 const struct mda_vars *vars, unsigned timeout_sec,
		 struct yb_error *err)
{
	text_sanitize(mda->shown, sizeof(mda->shown), command, strlen(command));
	mda->timeout_sec = timeout_sec ? timeout_sec : MDA_DEFAULT_TIMEOUT_SEC;
	int status = filter_account_value(mda, command, 'u', "the account's user",
					  vars ? vars->user : NULL, &mda->user,
					  err);
	if (!status)
		status = filter_account_value(mda, command, 'a',
					      "the account's name",
					      vars ? vars->account : NULL,
					      &mda->account, err);
	if (status)
		return status;
	mda->spool_dir = pick_spool_dir();
	if (!mda->spool_dir)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (command[strspn(command, " \t")] == '\0')
		return yb_fail(err, YB_ERR_CONFIG, "empty MDA command");
	if (strlen(command) > COMMAND_MAX)
		return yb_fail(err, YB_ERR_CONFIG,
			       "MDA command %s is longer than %d bytes",
			       mda->shown, COMMAND_MAX);
	mda->use_shell = mda_needs_shell(command);
	if (mda->use_shell)
		return build_shell_command(mda, command, err);
	return split_words(mda, command, err);
}

int mda_open(const char *command, const struct mda_vars *vars,
	     unsigned timeout_sec, struct sink **out, struct yb_error *err)
{
	*out = NULL;
	if (!command)
		return yb_fail(err, YB_ERR_CONFIG, "empty MDA command");
	struct mda *mda = calloc(1, sizeof(*mda));
	if (!mda)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	mda->base.ops = &mda_ops;
	int status = setup(mda, command, vars, timeout_sec, err);
	if (status) {
		free_mda(mda);
		return status;
	}
	*out = &mda->base;
	return YB_OK;
}
