/*
 * secret.c - an account's password from its configured source.
 *
 * Every buffer that held a secret is wiped before it is freed, and no
 * message ever quotes one: errors name the account and the source only.
 */
#include "config.h"

#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "child.h"
#include "clock.h"
#include "grow.h"
#include "credential.h"
#include "wipe.h"

extern char **environ;

/* A password_cmd's output and a password_file's first line are capped. */
#define SECRET_MAX_BYTES (64 * 1024)

/* A growing buffer for secret bytes; wiped whenever it moves or dies. */
struct secret_buf {
	char *data;
	size_t len;
	size_t cap;
};

static void secret_buf_free(struct secret_buf *buf)
{
	wipe_free(buf->data, buf->cap);
	memset(buf, 0, sizeof(*buf));
}

/* Make room for at least one more byte, up to SECRET_MAX_BYTES + 1. */
static bool secret_buf_reserve(struct secret_buf *buf)
{
	return wipe_grow(&buf->data, buf->len, &buf->cap, buf->len + 1, 256,
			 SECRET_MAX_BYTES + 1);
}

void secret_free(char *secret)
{
	if (!secret)
		return;
	wipe_free(secret, strlen(secret));
}

/* A secret's setting: whose, its key (for messages), its value. */
struct source {
	const struct account *account;
	const char *key;   /* "password_cmd", "oauth2 refresh_token_file", ... */
	const char *value; /* the command or the path */
};

static int secret_dup(const struct account *account, const char *text,
		      size_t len, char **out, struct yb_error *err)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "account '%s': out of memory reading the password",
			       account->name);
	memcpy(copy, text, len);
	copy[len] = '\0';
	*out = copy;
	return YB_OK;
}

/* The first line of what a command or file gave us, without its CR/LF. */
static int first_line(const struct source *src, const struct secret_buf *buf,
		      char **out, struct yb_error *err)
{
	const struct account *account = src->account;
	const char *data = buf->data ? buf->data : "";
	const char *newline = memchr(data, '\n', buf->len);
	size_t len = newline ? (size_t)(newline - data) : buf->len;
	if (len > 0 && data[len - 1] == '\r')
		len--;
	if (len == 0)
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': %s gave nothing (its first line is empty)",
			       account->name, src->key);
	/* A NUL would cut the secret short; a CR would inject a line. */
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\0' || data[i] == '\r')
			return yb_fail(err, YB_ERR_CONFIG,
				       "account '%s': what %s gave contains a NUL or CR byte",
				       account->name, src->key);
	return secret_dup(account, data, len, out, err);
}

/* ------------------------------------------------------------------ */
/* password_env                                                        */

static int password_from_env(const struct account *account, char **out,
			     struct yb_error *err)
{
	const char *variable = account->password;
	const char *value = getenv(variable);
	if (!value)
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': password_env: variable %s is not set",
			       account->name, variable);
	if (!value[0])
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': password_env: variable %s is empty",
			       account->name, variable);
	if (strpbrk(value, "\r\n"))
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': password_env: variable %s contains a line break",
			       account->name, variable);
	return secret_dup(account, value, strlen(value), out, err);
}

/* ------------------------------------------------------------------ */
/* what children are not given                                         */

/*
 * The names of the variables that hold a password, of every account of
 * every config loaded: one process may serve several accounts, and an
 * MDA or password_cmd of one must not read another's password.  Owned
 * here, for the life of the process (secret_withhold_clear frees).
 */
static char **withheld_names;
static size_t withheld_count, withheld_cap;

static bool is_withheld(const char *name, size_t len)
{
	for (size_t i = 0; i < withheld_count; i++)
		if (strlen(withheld_names[i]) == len &&
		    memcmp(withheld_names[i], name, len) == 0)
			return true;
	return false;
}

static int withhold_name(const char *name, struct yb_error *err)
{
	if (is_withheld(name, strlen(name)))
		return YB_OK;
	char **grown = grow_array(withheld_names, &withheld_cap,
				  withheld_count + 1, sizeof(*grown), 8);
	if (!grown)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	withheld_names = grown;
	char *copy = strdup(name);
	if (!copy)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	withheld_names[withheld_count++] = copy;
	return YB_OK;
}

int secret_withhold_variables(const struct config *config,
			      struct yb_error *err)
{
	for (size_t i = 0; i < config->account_count; i++) {
		const struct account *account = &config->accounts[i];
		if (account->password_source != PASSWORD_ENV || !account->password)
			continue;
		int status = withhold_name(account->password, err);
		if (status)
			return status;
	}
	return YB_OK;
}

bool secret_env_withheld(const char *entry)
{
	const char *equals = strchr(entry, '=');
	size_t len = equals ? (size_t)(equals - entry) : strlen(entry);
	return is_withheld(entry, len);
}

char **secret_child_env(void)
{
	size_t count = 0;
	for (char **e = environ; e && *e; e++)
		count++;
	char **env = calloc(count + 1, sizeof(*env));
	if (!env)
		return NULL;
	size_t at = 0;
	for (char **e = environ; e && *e; e++)
		if (!secret_env_withheld(*e))
			env[at++] = *e;
	return env;
}

void secret_withhold_clear(void)
{
	for (size_t i = 0; i < withheld_count; i++)
		free(withheld_names[i]);
	free(withheld_names);
	withheld_names = NULL;
	withheld_count = withheld_cap = 0;
}

/* ------------------------------------------------------------------ */
/* password_file                                                       */

static int check_secret_file(const struct source *src, const struct stat *st,
			     struct yb_error *err)
{
	const struct account *account = src->account;
	const char *path = src->value;
	if (!S_ISREG(st->st_mode))
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': %s %s is not a regular file",
			       account->name, src->key, path);
	if (st->st_uid != geteuid())
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': %s %s is owned by uid %lu, not by us (uid %lu)",
			       account->name, src->key, path,
			       (unsigned long)st->st_uid,
			       (unsigned long)geteuid());
	if (st->st_mode & 077)
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': %s %s is accessible by group or others; run chmod 600 %s",
			       account->name, src->key, path, path);
	return YB_OK;
}

/* Read until EOF, or until the buffer holds a newline or the cap. */
static int read_first_line(const struct source *src, int fd,
			   struct secret_buf *buf, struct yb_error *err)
{
	const struct account *account = src->account;
	while (!memchr(buf->data ? buf->data : "", '\n', buf->len)) {
		if (buf->len > SECRET_MAX_BYTES)
			return yb_fail(err, YB_ERR_CONFIG,
				       "account '%s': %s %s: first line is longer than %d bytes",
				       account->name, src->key, src->value,
				       SECRET_MAX_BYTES);
		if (!secret_buf_reserve(buf))
			return yb_fail(err, YB_ERR_INTERNAL,
				       "account '%s': out of memory reading %s",
				       account->name, src->key);
		ssize_t got = read(fd, buf->data + buf->len, buf->cap - buf->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return yb_fail_errno(err, YB_ERR_CONFIG, errno,
					     "account '%s': %s %s: cannot read",
					     account->name, src->key, src->value);
		if (got == 0)
			break;
		buf->len += (size_t)got;
	}
	return YB_OK;
}

static int secret_file(const struct source *src, char **out,
		       struct yb_error *err)
{
	const struct account *account = src->account;
	/* O_NONBLOCK: a FIFO in the file's place must not hang us. */
	int fd = open(src->value,
		      O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return yb_fail_errno(err, YB_ERR_CONFIG, errno,
				     "account '%s': %s %s: cannot open",
				     account->name, src->key, src->value);
	struct stat st;
	struct secret_buf buf = { 0 };
	int status;
	if (fstat(fd, &st) != 0)
		status = yb_fail_errno(err, YB_ERR_CONFIG, errno,
				       "account '%s': %s %s: cannot stat",
				       account->name, src->key, src->value);
	else
		status = check_secret_file(src, &st, err);
	if (status == YB_OK)
		status = read_first_line(src, fd, &buf, err);
	close(fd);
	if (status == YB_OK)
		status = first_line(src, &buf, out, err);
	secret_buf_free(&buf);
	return status;
}

/* ------------------------------------------------------------------ */
/* password_cmd                                                        */

/* A running password command: its pid (a process group leader) and the
   read end of its stdout. */
struct command {
	pid_t pid;
	int stdout_fd;
};

/* Move fd above the standard descriptors, so dup2 onto 0 or 1 in the
   child never lands on itself; the result is close-on-exec. */
static int fd_above_stdio(int fd)
{
	if (fd < 0 || fd > STDERR_FILENO)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	int saved = errno;
	close(fd);
	errno = saved;
	return moved;
}

/* A pipe for the command's stdout, close-on-exec and above 0, 1 and 2
   (so that making it the child's stdout never lands on itself). */
static int open_output_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	fds[0] = fd_above_stdio(fds[0]);
	fds[1] = fd_above_stdio(fds[1]);
	if (fds[0] >= 0 && fds[1] >= 0)
		return 0;
	int saved = errno;
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	errno = saved;
	return -1;
}

static int start_command(const struct source *src, struct command *cmd,
			 struct yb_error *err)
{
	const struct account *account = src->account;
	int fds[2];
	char **env = secret_child_env();
	if (!env)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "account '%s': %s: out of memory",
			       account->name, src->key);
	if (open_output_pipe(fds) != 0) {
		int saved = errno;
		free(env);
		return yb_fail_errno(err, YB_ERR_CONFIG, saved,
				     "account '%s': %s: cannot make a pipe",
				     account->name, src->key);
	}
	char sh[] = "sh", dash_c[] = "-c";
	char *argv[] = { sh, dash_c, (char *)src->value, NULL };
	const struct child_spec spec = {
		.program = "/bin/sh", .argv = argv, .envp = env,
		.stdin_fd = -1, .stdout_fd = fds[1],
	};
	int rc = child_start(&spec, &cmd->pid);
	free(env);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		return yb_fail_errno(err, YB_ERR_CONFIG, rc,
				     "account '%s': %s: cannot start",
				     account->name, src->key);
	}
	cmd->stdout_fd = fds[0];
	return YB_OK;
}

enum read_result { READ_EOF, READ_TIMEOUT, READ_TOO_BIG, READ_ERROR };

/* Collect the command's stdout until EOF, the deadline or the cap. */
static enum read_result read_output(struct command *cmd, int64_t deadline,
				    struct secret_buf *buf)
{
	for (;;) {
		if (clock_passed(deadline))
			return READ_TIMEOUT;
		struct pollfd pfd = { .fd = cmd->stdout_fd, .events = POLLIN };
		int ready = poll(&pfd, 1, clock_poll_timeout(deadline, 60000));
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			return READ_ERROR;
		if (ready == 0)
			continue; /* the loop head decides about the deadline */
		if (buf->len > SECRET_MAX_BYTES)
			return READ_TOO_BIG;
		if (!secret_buf_reserve(buf))
			return READ_ERROR;
		ssize_t got = read(cmd->stdout_fd, buf->data + buf->len,
				   buf->cap - buf->len);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0)
			return READ_ERROR;
		if (got == 0)
			return READ_EOF;
		buf->len += (size_t)got;
	}
}

/*
 * After EOF the command normally exits at once; give it until the
 * deadline.  1 when reaped (*wstatus set), 0 at the deadline, -1 when
 * its status cannot be had (errno set).
 */
static int reap_by_deadline(struct command *cmd, int64_t deadline,
			    int *wstatus)
{
	if (!child_wait_exit(cmd->pid, (uint64_t)clock_left_ms(deadline)))
		return 0;
	return child_reap(cmd->pid, wstatus) ? 1 : -1;
}

static int explain_exit(const struct source *src, int wstatus,
			struct yb_error *err)
{
	const struct account *account = src->account;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		return YB_OK;
	if (WIFEXITED(wstatus))
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': %s failed with exit status %d",
			       account->name, src->key, WEXITSTATUS(wstatus));
	if (WIFSIGNALED(wstatus))
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': %s was killed by signal %d (%s)",
			       account->name, src->key, WTERMSIG(wstatus),
			       strsignal(WTERMSIG(wstatus)));
	return yb_fail(err, YB_ERR_CONFIG,
		       "account '%s': %s ended abnormally (status %#x)",
		       account->name, src->key, (unsigned)wstatus);
}

static int run_command(const struct source *src, struct command *cmd,
		       struct secret_buf *buf, struct yb_error *err)
{
	const struct account *account = src->account;
	unsigned timeout = account->timeout ? account->timeout : 60;
	int64_t deadline = clock_deadline_in_ms((uint64_t)timeout * 1000, false);
	enum read_result result = read_output(cmd, deadline, buf);
	int saved = errno;
	close(cmd->stdout_fd);
	int wstatus = 0;
	if (result == READ_EOF) {
		int reaped = reap_by_deadline(cmd, deadline, &wstatus);
		if (reaped > 0)
			return explain_exit(src, wstatus, err);
		if (reaped < 0) {
			result = READ_ERROR;
			saved = errno;
		}
	}
	/* The whole group: what a shell started too. */
	child_stop(cmd->pid, 0);
	switch (result) {
	case READ_EOF:
	case READ_TIMEOUT:
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': %s timed out after %u s",
			       account->name, src->key, timeout);
	case READ_TOO_BIG:
		return yb_fail(err, YB_ERR_CONFIG,
			       "account '%s': %s printed more than %d bytes",
			       account->name, src->key, SECRET_MAX_BYTES);
	case READ_ERROR:
		break;
	}
	return yb_fail_errno(err, YB_ERR_CONFIG, saved,
			     "account '%s': %s: cannot collect its output",
			     account->name, src->key);
}

static int secret_command(const struct source *src, char **out,
			  struct yb_error *err)
{
	struct command cmd = { .pid = -1, .stdout_fd = -1 };
	int status = start_command(src, &cmd, err);
	if (status != YB_OK)
		return status;
	struct secret_buf buf = { 0 };
	status = run_command(src, &cmd, &buf, err);
	if (status == YB_OK)
		status = first_line(src, &buf, out, err);
	secret_buf_free(&buf);
	return status;
}

int secret_from_command(const struct account *account, const char *key,
			const char *command, char **out, struct yb_error *err)
{
	*out = NULL;
	const struct source src = { account, key, command };
	return secret_command(&src, out, err);
}

int secret_from_file(const struct account *account, const char *key,
		     const char *path, char **out, struct yb_error *err)
{
	*out = NULL;
	const struct source src = { account, key, path };
	return secret_file(&src, out, err);
}

/* ------------------------------------------------------------------ */

int secret_get_password(const struct account *account, char **out,
			struct yb_error *err)
{
	*out = NULL;
	switch (account->password_source) {
	case PASSWORD_VALUE:
		return secret_dup(account, account->password,
				  strlen(account->password), out, err);
	case PASSWORD_CMD:
		return secret_from_command(account, "password_cmd",
					   account->password, out, err);
	case PASSWORD_ENV:
		return password_from_env(account, out, err);
	case PASSWORD_FILE:
		return secret_from_file(account, "password_file",
					account->password, out, err);
	case PASSWORD_NONE:
		break;
	}
	return yb_fail(err, YB_ERR_CONFIG,
		       "account '%s' has no password source (password, password_cmd, password_env or password_file)",
		       account->name);
}

/* ---- asking on the terminal ---- */

/* The longest typed password we take. */
#define TYPED_MAX 1024

static const int prompt_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define PROMPT_SIGNAL_COUNT (sizeof(prompt_signals) / sizeof(prompt_signals[0]))

static volatile sig_atomic_t prompt_signal;

static void note_prompt_signal(int sig)
{
	prompt_signal = sig;
}

/* Catch the signals that would leave the terminal without echo. */
static void catch_prompt_signals(struct sigaction *saved)
{
	struct sigaction catcher;
	memset(&catcher, 0, sizeof(catcher));
	catcher.sa_handler = note_prompt_signal; /* no SA_RESTART: read stops */
	sigemptyset(&catcher.sa_mask);
	prompt_signal = 0;
	for (size_t i = 0; i < PROMPT_SIGNAL_COUNT; i++)
		sigaction(prompt_signals[i], &catcher, &saved[i]);
}

static void restore_prompt_signals(const struct sigaction *saved)
{
	for (size_t i = 0; i < PROMPT_SIGNAL_COUNT; i++)
		sigaction(prompt_signals[i], &saved[i], NULL);
	if (prompt_signal)
		raise(prompt_signal); /* the terminal is back: now it may act */
}

/* Read one line from tty into buf (NUL-terminated, without the newline). */
static int read_typed_line(const struct account *account, int tty,
			   char *buf, size_t size, struct yb_error *err)
{
	size_t len = 0;
	for (;;) {
		char c;
		ssize_t n = read(tty, &c, 1);
		if (n < 0 && errno == EINTR && !prompt_signal)
			continue;
		if (n < 0)
			return yb_fail_errno(err, YB_ERR_CONFIG, errno,
					     "account %s: reading the password "
					     "from the terminal", account->name);
		if (n == 0 || c == '\n' || c == '\r')
			break;
		if (len + 1 >= size)
			return yb_fail(err, YB_ERR_CONFIG, "account %s: the "
				       "typed password is longer than %d bytes",
				       account->name, TYPED_MAX - 1);
		buf[len++] = c;
	}
	buf[len] = '\0';
	if (len == 0)
		return yb_fail(err, YB_ERR_CONFIG, "account %s: no password "
			       "was typed", account->name);
	return YB_OK;
}

static int ask_on_tty(const struct account *account, int tty, char *buf,
		      size_t size, struct yb_error *err)
{
	struct termios saved_mode;
	if (tcgetattr(tty, &saved_mode) != 0)
		return yb_fail_errno(err, YB_ERR_CONFIG, errno, "account %s: "
				     "cannot ask for the password", account->name);
	struct termios quiet = saved_mode;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ICANON;
	struct sigaction saved_actions[PROMPT_SIGNAL_COUNT];
	catch_prompt_signals(saved_actions);
	int rc = YB_OK;
	if (tcsetattr(tty, TCSAFLUSH, &quiet) != 0)
		rc = yb_fail_errno(err, YB_ERR_CONFIG, errno, "account %s: "
				   "cannot turn off echo to ask for the password",
				   account->name);
	if (rc == YB_OK) {
		char prompt[512];
		int len = snprintf(prompt, sizeof(prompt),
				   "Password for %s on %s (account %s): ",
				   account->user ? account->user : "",
				   account->host, account->name);
		if (len > 0 && (size_t)len < sizeof(prompt))
			(void)!write(tty, prompt, (size_t)len);
		rc = read_typed_line(account, tty, buf, size, err);
		(void)!write(tty, "\n", 1);
	}
	tcsetattr(tty, TCSAFLUSH, &saved_mode);
	restore_prompt_signals(saved_actions);
	return rc;
}

int secret_ask_missing(struct account *account, struct yb_error *err)
{
	if (account_credential(account) != CRED_PASSWORD ||
	    account->password_source != PASSWORD_NONE)
		return YB_OK;
	int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0)
		return yb_fail(err, YB_ERR_CONFIG, "account %s has no password "
			       "source and there is no terminal to ask on "
			       "(--ask-password needs one; set password_cmd, "
			       "password_env or password_file for unattended "
			       "runs)", account->name);
	char *typed = malloc(TYPED_MAX);
	int rc = typed ? ask_on_tty(account, tty, typed, TYPED_MAX, err)
		       : yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	close(tty);
	if (rc == YB_OK) {
		/* The account's password is wiped by config_free. */
		account->password = strdup(typed);
		if (!account->password)
			rc = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		else
			account->password_source = PASSWORD_VALUE;
	}
	if (typed)
		OPENSSL_cleanse(typed, TYPED_MAX);
	free(typed);
	return rc;
}
