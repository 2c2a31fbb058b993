/*
 * test_mbox.c - the mbox sink in throw-away directories: exact bytes and
 * mboxrd quoting (read back with Python's mailbox module), the envelope
 * scanner, locking against other processes, rollback on a full disk,
 * and crash recovery (resolve) for every byte a crash can cut at.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sinktest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include <openssl/evp.h>

#include "envelope.h"
#include "held.h"
#include "mbox.h"
#include "sink.h"

/* Short lock timeouts keep the waiting tests quick. */
#define TEST_LOCK_MS 1000u

#define DEST_SIZE 160

struct fixture {
	char root[PATH_MAX];  /* mkdtemp directory, removed in teardown */
	char mbox[PATH_MAX];  /* root/mail/box: not created by setup */
	char lock[PATH_MAX];  /* mbox + ".lock" */
	char host[256];
};

/* ---- helpers ------------------------------------------------------------ */

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	make_temp_dir(fx->root, sizeof(fx->root), "yubin-mbox-XXXXXX");
	/* realpath: a link above the mbox must not change what tests see. */
	char *real = realpath(fx->root, NULL);
	assert_non_null(real);
	snprintf(fx->root, sizeof(fx->root), "%s", real);
	free(real);
	join(fx->mbox, sizeof(fx->mbox), fx->root, "mail/box");
	int written = snprintf(fx->lock, sizeof(fx->lock), "%s.lock", fx->mbox);
	assert_true(written > 0 && (size_t)written < sizeof(fx->lock));
	assert_int_equal(gethostname(fx->host, sizeof(fx->host)), 0);
	fx->host[sizeof(fx->host) - 1] = '\0';
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

static void make_dirs(const struct fixture *fx)
{
	char dir[PATH_MAX];
	join(dir, sizeof(dir), fx->root, "mail");
	assert_true(mkdir(dir, 0700) == 0 || errno == EEXIST);
}

static struct sink *open_ok(const char *path)
{
	struct sink *sink = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	int status = mbox_open(path, &sink, &err);
	if (status != YB_OK)
		print_error("mbox_open: %s\n", err.msg);
	assert_int_equal(status, YB_OK);
	assert_non_null(sink);
	mbox_set_lock_timeout(sink, TEST_LOCK_MS);
	return sink;
}

/* The whole content of a file; *len gets its size.  Caller frees. */

static void write_file(const char *path, const char *content, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, content + done, len - done);
		assert_true(n > 0);
		done += (size_t)n;
	}
	assert_int_equal(close(fd), 0);
}

static void append_file(const char *path, const char *content, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Begin a message, write data in chunks of chunk bytes, end it. */
static struct sink_msg *deliver(struct sink *sink, time_t date,
				const char *data, size_t len, size_t chunk)
{
	struct msg_meta meta = { .internal_date = date };
	struct sink_msg *msg = NULL;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, &meta, &msg, &err), YB_OK);
	assert_non_null(msg);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		assert_int_equal(sink_msg_write(msg, data + off, n, &err), YB_OK);
	}
	assert_int_equal(sink_msg_end(msg, &err), YB_OK);
	return msg;
}

static void copy_dest(struct sink_msg *msg, char *dest)
{
	const char *value = sink_msg_dest(msg);
	assert_non_null(value);
	assert_true(strlen(value) < DEST_SIZE);
	memcpy(dest, value, strlen(value) + 1);
}

/* Deliver count messages as one batch; dests (may be NULL) get theirs. */
static void deliver_batch(struct sink *sink, const char *const *texts,
			  size_t count, time_t date, char (*dests)[DEST_SIZE])
{
	struct sink_msg *msgs[64];
	assert_true(count <= 64);
	for (size_t i = 0; i < count; i++)
		msgs[i] = deliver(sink, date, texts[i], strlen(texts[i]), 1 << 20);
	prepare_ok(sink);
	for (size_t i = 0; i < count && dests; i++)
		copy_dest(msgs[i], dests[i]);
	publish_ok(sink);
}

static int resolve(struct sink *sink, const char *dest, bool *present,
		   struct yb_error *err)
{
	yb_error_clear(err);
	return sink_resolve(sink, dest, present, err);
}

static const char *python(void)
{
	const char *value = getenv("PYTHON3");
	return value && *value ? value : "python3";
}

/*
 * Read the mbox with Python's mailbox.mbox: out.N gets message N's bytes
 * after mboxrd unquoting, out.from.N its From line (without "From "),
 * out.count how many there are.
 */
static size_t python_read(const struct fixture *fx, const char *mbox_path)
{
	char script[PATH_MAX], out[PATH_MAX], count_path[PATH_MAX];
	join(script, sizeof(script), fx->root, "read_mbox.py");
	join(out, sizeof(out), fx->root, "py");
	const char *code =
		"import mailbox, re, sys\n"
		"box = mailbox.mbox(sys.argv[1], create=False)\n"
		"keys = list(box.keys())\n"
		"for i, key in enumerate(keys):\n"
		"    raw = box.get_bytes(key)\n"
		"    plain = re.sub(rb'(?m)^>(>*From )', rb'\\1', raw)\n"
		"    open('%s.%d' % (sys.argv[2], i), 'wb').write(plain)\n"
		"    sender = box.get_message(key).get_from()\n"
		"    open('%s.from.%d' % (sys.argv[2], i), 'w').write(sender)\n"
		"open(sys.argv[2] + '.count', 'w').write(str(len(keys)))\n";
	write_file(script, code, strlen(code));
	char command[3 * PATH_MAX + 64];
	int written = snprintf(command, sizeof(command), "'%s' '%s' '%s' '%s'",
			       python(), script, mbox_path, out);
	assert_true(written > 0 && (size_t)written < sizeof(command));
	assert_int_equal(system(command), 0);
	join(count_path, sizeof(count_path), fx->root, "py.count");
	size_t len;
	char *text = slurp(count_path, &len);
	size_t count = strtoul(text, NULL, 10);
	free(text);
	return count;
}

/* Python's view of message i: its bytes, or its From line. */
static char *python_message(const struct fixture *fx, const char *kind,
			    size_t i, size_t *len)
{
	char path[PATH_MAX];
	int written = snprintf(path, sizeof(path), "%s/py.%s%zu", fx->root,
			       kind, i);
	assert_true(written > 0 && (size_t)written < sizeof(path));
	return slurp(path, len);
}

/* A message as a reader must see it: with a final newline if it had none. */
static void assert_python_body(const struct fixture *fx, size_t i,
			       const char *sent, size_t sent_len)
{
	size_t len;
	char *got = python_message(fx, "", i, &len);
	bool add_newline = sent_len > 0 && sent[sent_len - 1] != '\n';
	assert_int_equal(len, sent_len + (add_newline ? 1 : 0));
	assert_memory_equal(got, sent, sent_len);
	if (add_newline)
		assert_int_equal(got[sent_len], '\n');
	free(got);
}

/* ---- other processes holding locks -------------------------------------- */

struct holder {
	pid_t pid;
};

/* In a forked helper: die with the test, even when an assertion fails. */
static void die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(9);
}

/* A child that holds the dotlock (with its own live pid) until killed. */
static struct holder hold_dotlock(const struct fixture *fx, unsigned hold_ms)
{
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		die_with_parent(parent);
		close(ready[0]);
		int fd = open(fx->lock, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			_exit(2);
		char content[300];
		int n = snprintf(content, sizeof(content), "%ld:%s",
				 (long)getpid(), fx->host);
		if (write(fd, content, (size_t)n) != n)
			_exit(3);
		close(fd);
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		if (hold_ms == 0) {
			for (;;)
				pause();
		}
		struct timespec pause_for = { .tv_sec = hold_ms / 1000,
					      .tv_nsec = (long)(hold_ms % 1000) *
							 1000000L };
		nanosleep(&pause_for, NULL);
		unlink(fx->lock);
		_exit(0);
	}
	close(ready[1]);
	char byte;
	assert_int_equal(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	return (struct holder){ .pid = pid };
}

/* A child that holds an fcntl write lock on the mbox until killed. */
static struct holder hold_fcntl(const struct fixture *fx)
{
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		die_with_parent(parent);
		close(ready[0]);
		int fd = open(fx->mbox, O_RDWR);
		struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		if (fd < 0 || fcntl(fd, F_SETLK, &lock) != 0)
			_exit(2);
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(ready[1]);
	char byte;
	assert_int_equal(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	return (struct holder){ .pid = pid };
}

static void stop_holder(struct holder holder)
{
	kill(holder.pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(holder.pid, &status, 0), holder.pid);
}

/* Can another process take the fcntl lock right now? */
static bool fcntl_free(const char *path)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_RDWR);
		struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		_exit(fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0 ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static uint64_t elapsed_ms(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - start->tv_sec) * 1000u +
	       (uint64_t)((now.tv_nsec - start->tv_nsec) / 1000000L);
}

/* A pid that no process has: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return pid;
}

static void write_dotlock(const struct fixture *fx, long pid, const char *host)
{
	char content[300];
	int n = snprintf(content, sizeof(content), "%ld:%s", pid, host);
	assert_true(n > 0 && (size_t)n < sizeof(content));
	write_file(fx->lock, content, (size_t)n);
}

/* ---- the dest ----------------------------------------------------------- */

struct dest_parts {
	uint64_t offset, length, end;
	long pid;
};

static struct dest_parts parse_dest(const char *dest)
{
	struct dest_parts parts;
	char head[17], body[17];
	int n = 0;
	assert_int_equal(sscanf(dest, "%" SCNu64 "+%" SCNu64
				"+%16[0-9a-f]+%16[0-9a-f]+%" SCNu64 "+%ld%n",
				&parts.offset, &parts.length, head, body,
				&parts.end, &parts.pid, &n), 6);
	assert_int_equal((size_t)n, strlen(dest));
	assert_int_equal(strlen(head), 16);
	assert_int_equal(strlen(body), 16);
	return parts;
}

/* ---- opening ------------------------------------------------------------ */

static void test_open_creates_file_and_parents(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	struct stat st;
	assert_int_equal(stat(fx->mbox, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0);
	char dir[PATH_MAX];
	join(dir, sizeof(dir), fx->root, "mail");
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* Opening holds no lock. */
	assert_false(exists(fx->lock));
	sink_close(sink);
}

static void test_open_refuses_non_mbox(void **state)
{
	struct fixture *fx = *state;
	make_dirs(fx);
	const char *content = "Subject: not an mbox\n\nhello\n";
	write_file(fx->mbox, content, strlen(content));
	struct sink *sink = NULL;
	struct yb_error err;
	assert_int_equal(mbox_open(fx->mbox, &sink, &err), YB_ERR_IO);
	assert_null(sink);
	assert_non_null(strstr(err.msg, "is not an mbox"));
	assert_non_null(strstr(err.msg, fx->mbox));
	size_t len;
	char *after = slurp(fx->mbox, &len);
	assert_int_equal(len, strlen(content));
	assert_memory_equal(after, content, len);
	free(after);
	/* Shorter than "From " is not an mbox either. */
	write_file(fx->mbox, "Fro", 3);
	assert_int_equal(mbox_open(fx->mbox, &sink, &err), YB_ERR_IO);
	assert_non_null(strstr(err.msg, "is not an mbox"));
}

static void test_open_refuses_bad_paths(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = NULL;
	struct yb_error err;
	assert_int_equal(mbox_open("", &sink, &err), YB_ERR_IO);
	assert_null(sink);
	char with_slash[PATH_MAX + 2];
	snprintf(with_slash, sizeof(with_slash), "%s/", fx->mbox);
	assert_int_equal(mbox_open(with_slash, &sink, &err), YB_ERR_IO);
	assert_non_null(strstr(err.msg, "must name a file"));
	/* A directory where the file should be. */
	make_dirs(fx);
	assert_int_equal(mkdir(fx->mbox, 0700), 0);
	assert_int_equal(mbox_open(fx->mbox, &sink, &err), YB_ERR_IO);
	assert_null(sink);
	assert_non_null(strstr(err.msg, fx->mbox));
}

static void test_open_accepts_empty_and_existing(void **state)
{
	struct fixture *fx = *state;
	make_dirs(fx);
	write_file(fx->mbox, "", 0);
	struct sink *sink = open_ok(fx->mbox);
	sink_close(sink);
	const char *old = "From a@b Thu Jan  1 00:00:00 2009\nold\n\n";
	write_file(fx->mbox, old, strlen(old));
	sink = open_ok(fx->mbox);
	sink_close(sink);
	assert_int_equal(file_size(fx->mbox), (off_t)strlen(old));
}

/* ---- exact bytes and quoting -------------------------------------------- */

static void test_exact_bytes(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	const char *texts[] = {
		"Return-Path: <alice@example.org>\nSubject: hi\n\nFrom here\n"
		">From there\n>>From everywhere\nFrom\n>From\nFromage\n"
		" From indented\nend",
		"",
		"Subject: two\n\nlast line\n\n",
	};
	deliver_batch(sink, texts, 3, 1234567890, NULL);
	sink_close(sink);
	const char *expected =
		"From alice@example.org Fri Feb 13 23:31:30 2009\n"
		"Return-Path: <alice@example.org>\nSubject: hi\n\n>From here\n"
		">>From there\n>>>From everywhere\nFrom\n>From\nFromage\n"
		" From indented\nend\n\n"
		"From MAILER-DAEMON Fri Feb 13 23:31:30 2009\n\n"
		"From MAILER-DAEMON Fri Feb 13 23:31:30 2009\n"
		"Subject: two\n\nlast line\n\n\n";
	size_t len;
	char *got = slurp(fx->mbox, &len);
	assert_int_equal(len, strlen(expected));
	assert_string_equal(got, expected);
	free(got);
}

/* The dest of the digest of text among digests, or NULL. */
static const char *held_as(const struct sink_digest *digests, size_t count,
			   const char *text, size_t len)
{
	unsigned char digest[32];
	unsigned int digest_len = 0;
	assert_int_equal(EVP_Digest(text, len, digest, &digest_len, EVP_sha256(), NULL), 1);
	for (size_t i = 0; i < count; i++)
		if (memcmp(digests[i].digest, digest, 32) == 0)
			return digests[i].dest;
	return NULL;
}

static size_t digests_ok(struct sink *sink, struct sink_digest **digests)
{
	size_t count = 0;
	struct yb_error err;
	yb_error_clear(&err);
	int status = sink_digests(sink, NULL, digests, &count, &err);
	if (status != YB_OK)
		print_error("sink_digests: %s\n", err.msg);
	assert_int_equal(status, YB_OK);
	return count;
}

/*
 * What an mbox holds is read back from the file as the bytes once given
 * to sink_msg_write: unquoted, without the From line or the blank line
 * after, whichever run appended them.  A message without a final newline
 * got one from the format, so both readings are given, for one copy.
 */
static void test_digests_of_what_the_file_holds(void **state)
{
	struct fixture *fx = *state;
	const char *texts[] = {
		"Return-Path: <alice@example.org>\nSubject: hi\n\nFrom here\n"
		">From there\n>>From everywhere\nFrom\n>From\nFromage\n"
		" From indented\nend",
		"",
		"Subject: two\n\nlast line\n\n",
		"Subject: later\n\nfrom an earlier run\n",
	};
	struct sink *sink = open_ok(fx->mbox);
	assert_true(sink_can_digest(sink));
	assert_false(sink_can_apply_flags(sink));
	deliver_batch(sink, texts, 3, 1234567890, NULL);
	sink_close(sink);
	sink = open_ok(fx->mbox);
	deliver_batch(sink, texts + 3, 1, 1234567890, NULL);
	struct sink_digest *digests = NULL;
	size_t count = digests_ok(sink, &digests);
	const char *dests[4];
	for (size_t i = 0; i < 4; i++) {
		dests[i] = held_as(digests, count, texts[i], strlen(texts[i]));
		if (!dests[i])
			print_error("message %zu not found\n", i);
		assert_non_null(dests[i]);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(dests[i], dests[j]);
	}
	/* The first lacked its final newline: read with one, the same copy. */
	char *with_newline = malloc(strlen(texts[0]) + 2);
	assert_non_null(with_newline);
	snprintf(with_newline, strlen(texts[0]) + 2, "%s\n", texts[0]);
	const char *other_reading = held_as(digests, count, with_newline, strlen(with_newline));
	assert_non_null(other_reading);
	assert_string_equal(other_reading, dests[0]);
	free(with_newline);
	/* The quoting is undone: the quoted bytes are not what was given. */
	assert_null(held_as(digests, count, "Subject: two\n\nlast line\n\n\n", strlen("Subject: two\n\nlast line\n\n\n")));
	/* A dest is the copy's range in the file: its From line on. */
	size_t file_len;
	char *file = slurp(fx->mbox, &file_len);
	const char *empty = "From MAILER-DAEMON Fri Feb 13 23:31:30 2009\n\n";
	char expected[32];
	snprintf(expected, sizeof(expected), "%zu+%zu",
		 (size_t)(strstr(file, empty) - file), strlen(empty));
	assert_string_equal(dests[1], expected);
	free(file);
	free(digests);
	sink_close(sink);
}

/*
 * A delivered message is recorded as "OFFSET+LENGTH+..." and the scan
 * finds its copy by its range: given the recorded dests, the copy is
 * named as recorded, so claiming a record's dest claims its copy and an
 * equal message is matched to the other copy only.
 */
static void test_digests_name_copies_as_recorded(void **state)
{
	struct fixture *fx = *state;
	const char *texts[] = { "Subject: same\n\nbody\n", "Subject: same\n\nbody\n" };
	char dests[2][DEST_SIZE];
	struct sink *sink = open_ok(fx->mbox);
	deliver_batch(sink, texts, 2, 1234567890, dests);
	const char *recorded_dest = dests[0];
	struct sink_recorded recorded = { .dests = &recorded_dest, .count = 1 };
	struct sink_digest *digests = NULL;
	size_t count = 0;
	struct yb_error err;
	assert_int_equal(sink_digests(sink, &recorded, &digests, &count, &err), YB_OK);
	struct held *held = NULL;
	assert_int_equal(held_new(digests, count, &held, &err), YB_OK);
	held_claim_dest(held, dests[0]);
	unsigned char digest[32];
	unsigned int digest_len = 0;
	assert_int_equal(EVP_Digest(texts[0], strlen(texts[0]), digest, &digest_len,
				    EVP_sha256(), NULL), 1);
	const char *other = held_match(held, digest);
	assert_non_null(other);
	assert_string_not_equal(other, dests[0]);
	assert_int_equal(strncmp(other, dests[1], strlen(other)), 0);
	assert_null(held_match(held, digest));
	held_free(held);
	sink_close(sink);
}

/* A message the user removed from the file is not claimed. */
static void test_digests_forget_what_the_user_removed(void **state)
{
	struct fixture *fx = *state;
	const char *file =
		"From a@example.org Fri Feb 13 23:31:30 2009\n"
		"Subject: kept\n\nbody\n\n"
		"From b@example.org Fri Feb 13 23:31:30 2009\n"
		"Subject: also kept\n\n>From quoted\n\n";
	make_dirs(fx);
	write_file(fx->mbox, file, strlen(file));
	struct sink *sink = open_ok(fx->mbox);
	struct sink_digest *digests = NULL;
	size_t count = digests_ok(sink, &digests);
	assert_non_null(held_as(digests, count, "Subject: kept\n\nbody\n", strlen("Subject: kept\n\nbody\n")));
	assert_non_null(held_as(digests, count, "Subject: also kept\n\nFrom quoted\n", strlen("Subject: also kept\n\nFrom quoted\n")));
	assert_null(held_as(digests, count, "Subject: removed\n\nbody\n", strlen("Subject: removed\n\nbody\n")));
	assert_int_equal(count, 4); /* two readings of each of two copies */
	free(digests);
	sink_close(sink);
	/* An empty file holds nothing. */
	write_file(fx->mbox, "", 0);
	sink = open_ok(fx->mbox);
	count = digests_ok(sink, &digests);
	assert_int_equal(count, 0);
	free(digests);
	sink_close(sink);
}

/* The file is read in slices: a quoted From line split between two. */
static void test_digests_across_read_slices(void **state)
{
	struct fixture *fx = *state;
	for (size_t pad = 65530; pad < 65545; pad++) {
		size_t len = pad + 64;
		char *text = malloc(len + 1);
		assert_non_null(text);
		memset(text, 'x', pad);
		text[0] = 'S';
		snprintf(text + pad, len + 1 - pad, "\nFrom split\n>From two\n");
		struct sink *sink = open_ok(fx->mbox);
		deliver_batch(sink, (const char *const *)&text, 1, 1234567890, NULL);
		struct sink_digest *digests = NULL;
		size_t count = digests_ok(sink, &digests);
		assert_non_null(held_as(digests, count, text, strlen(text)));
		free(digests);
		free(text);
		sink_close(sink);
		write_file(fx->mbox, "", 0);
	}
}

static void test_python_roundtrip(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	static const char eight_bit[] =
		"Subject: =?utf-8?q?caf=C3=A9?=\n\ncaf\xc3\xa9 \xff\xfe\x80\n";
	const char *texts[] = {
		"Return-Path: <a@b.example>\nSubject: one\n\nFrom the start\n"
		">From quoted\n>>From twice\nFrom\nbody\n",
		"Subject: no final newline\n\nFrom x",
		"Subject: bare CR\n\nline\rwith CR\r\nFrom CRLF-ish\r\n",
		eight_bit,
		"",
		"Subject: blank lines at the end\n\nx\n\n\n",
		"From nobody at the very first line\n\nbody\n",
	};
	size_t count = sizeof(texts) / sizeof(texts[0]);
	deliver_batch(sink, texts, count, 1234567890, NULL);
	sink_close(sink);
	assert_int_equal(python_read(fx, fx->mbox), count);
	for (size_t i = 0; i < count; i++)
		assert_python_body(fx, i, texts[i], strlen(texts[i]));
	size_t len;
	char *from = python_message(fx, "from.", 0, &len);
	assert_string_equal(from, "a@b.example Fri Feb 13 23:31:30 2009");
	free(from);
	from = python_message(fx, "from.", 1, &len);
	assert_string_equal(from, "MAILER-DAEMON Fri Feb 13 23:31:30 2009");
	free(from);
}

/* Every split of a quoting-heavy message gives the same bytes. */
static void test_chunk_splits_everywhere(void **state)
{
	struct fixture *fx = *state;
	static const char text[] =
		"From a\n>From b\n>>>From c\n>>>Fro\nFrom\n>F\nFro\n\n>>>>"
		"From d\nx From e\nFrom ";
	size_t len = sizeof(text) - 1;
	/* The reference: the whole message in one write. */
	char reference_path[PATH_MAX];
	join(reference_path, sizeof(reference_path), fx->root, "reference");
	struct sink *sink = open_ok(reference_path);
	struct sink_msg *msg = deliver(sink, 1234567890, text, len, len);
	(void)msg;
	prepare_ok(sink);
	publish_ok(sink);
	sink_close(sink);
	size_t one_len;
	char *one = slurp(reference_path, &one_len);
	/* Two pieces split at every position, then three, then bytes. */
	sink = open_ok(fx->mbox);
	size_t delivered = 0;
	struct yb_error err;
	for (size_t cut = 0; cut <= len; cut++) {
		struct msg_meta meta = { .internal_date = 1234567890 };
		assert_int_equal(sink_msg_begin(sink, &meta, &msg, &err), YB_OK);
		assert_int_equal(sink_msg_write(msg, text, cut, &err), YB_OK);
		assert_int_equal(sink_msg_write(msg, text + cut, len - cut, &err),
				 YB_OK);
		assert_int_equal(sink_msg_end(msg, &err), YB_OK);
		delivered++;
	}
	for (size_t cut = 1; cut + 1 < len; cut += 3) {
		struct msg_meta meta = { .internal_date = 1234567890 };
		assert_int_equal(sink_msg_begin(sink, &meta, &msg, &err), YB_OK);
		assert_int_equal(sink_msg_write(msg, text, cut, &err), YB_OK);
		assert_int_equal(sink_msg_write(msg, text + cut, 1, &err), YB_OK);
		assert_int_equal(sink_msg_write(msg, text + cut + 1,
						len - cut - 1, &err), YB_OK);
		assert_int_equal(sink_msg_end(msg, &err), YB_OK);
		delivered++;
	}
	deliver(sink, 1234567890, text, len, 1);
	delivered++;
	prepare_ok(sink);
	publish_ok(sink);
	sink_close(sink);
	size_t all_len;
	char *all = slurp(fx->mbox, &all_len);
	assert_int_equal(all_len, one_len * delivered);
	for (size_t i = 0; i < delivered; i++)
		assert_memory_equal(all + i * one_len, one, one_len);
	free(all);
	/* And the reference is right. */
	const char *expected =
		"From MAILER-DAEMON Fri Feb 13 23:31:30 2009\n"
		">From a\n>>From b\n>>>>From c\n>>>Fro\nFrom\n>F\nFro\n\n>>>>>"
		"From d\nx From e\n>From \n\n";
	assert_string_equal(one, expected);
	free(one);
}

/* A run of '>' longer than any buffer is still one line prefix. */
static void test_long_gt_run(void **state)
{
	struct fixture *fx = *state;
	size_t run = 200000;
	size_t len = run + 64;
	char *text = malloc(len + 1);
	assert_non_null(text);
	memset(text, '>', run);
	int tail = snprintf(text + run, 64, "From deep\n%s", "x\n");
	len = run + (size_t)tail;
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1234567890, text, len, 4093);
	prepare_ok(sink);
	publish_ok(sink);
	sink_close(sink);
	assert_int_equal(python_read(fx, fx->mbox), 1);
	assert_python_body(fx, 0, text, len);
	size_t got_len;
	char *got = slurp(fx->mbox, &got_len);
	const char *line1 = strchr(got, '\n') + 1;
	size_t gts = strspn(line1, ">");
	assert_int_equal(gts, run + 1);
	free(got);
	free(text);
}

static void test_large_message_streams(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	struct msg_meta meta = { .internal_date = 1234567890 };
	struct sink_msg *msg;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, &meta, &msg, &err), YB_OK);
	static const char line[] = "From a line that needs quoting, and more\n";
	size_t line_len = sizeof(line) - 1, lines = 150000;
	for (size_t i = 0; i < lines; i++)
		assert_int_equal(sink_msg_write(msg, line, line_len, &err), YB_OK);
	assert_int_equal(sink_msg_end(msg, &err), YB_OK);
	prepare_ok(sink);
	publish_ok(sink);
	sink_close(sink);
	size_t from_len = strlen("From MAILER-DAEMON Fri Feb 13 23:31:30 2009\n");
	assert_int_equal(file_size(fx->mbox),
			 (off_t)(from_len + lines * (line_len + 1) + 1));
}

/* ---- the From line ------------------------------------------------------ */

static void test_from_line_dates(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	const char *texts[] = { "a\n" };
	deliver_batch(sink, texts, 1, 1699000000, NULL);
	deliver_batch(sink, texts, 1, 253402300799, NULL);
	/* Past year 9999, or unknown: the current time. */
	time_t before = time(NULL);
	deliver_batch(sink, texts, 1, 0, NULL);
	time_t after = time(NULL);
	sink_close(sink);
	size_t len;
	char *got = slurp(fx->mbox, &len);
	assert_non_null(strstr(got, "From MAILER-DAEMON Fri Nov  3 08:26:40 2023\n"));
	assert_non_null(strstr(got, "From MAILER-DAEMON Fri Dec 31 23:59:59 9999\n"));
	const char *third = got;
	for (int i = 0; i < 2; i++) {
		third = strstr(third, "\n\nFrom ");
		assert_non_null(third);
		third += 2;
	}
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *rest = strptime(third, "From MAILER-DAEMON %a %b %e %H:%M:%S %Y\n",
				    &tm);
	assert_non_null(rest);
	time_t stamped = timegm(&tm);
	assert_true(stamped >= before && stamped <= after);
	free(got);
}

/* ---- the envelope scanner ----------------------------------------------- */

static const char *scan_sender(struct mbox_envelope *envelope,
			       const char *text, size_t len, size_t chunk)
{
	mbox_envelope_init(envelope);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		mbox_envelope_feed(envelope, text + off, n);
	}
	return mbox_envelope_sender(envelope);
}

static void test_envelope_variants(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *sender;
	} cases[] = {
		{ "Return-Path: <alice@example.org>\n\n", "alice@example.org" },
		{ "return-path:<bob@x>\nSubject: y\n\n", "bob@x" },
		{ "RETURN-PATH: <c@x> (comment)\n\n", "c@x" },
		{ "Return-Path: <>\n\n", "MAILER-DAEMON" },
		{ "Subject: none\n\n", "MAILER-DAEMON" },
		{ "Return-Path: plain@x  \n\n", "plain@x" },
		{ "Return-Path:\n <folded@x>\n\n", "folded@x" },
		{ "Return-Path : <obs@x>\n\n", "obs@x" },
		{ "Return-Path: <with space@x>\n\n", "MAILER-DAEMON" },
		{ "Return-Path: <ctl\x01@x>\n\n", "MAILER-DAEMON" },
		{ "Return-Path: <8bit\xc3\xa9@x>\n\n", "MAILER-DAEMON" },
		{ "Return-Path: <unclosed@x\n\n", "MAILER-DAEMON" },
		{ "Return-Path: <first@x>\nReturn-Path: <second@x>\n\n", "first@x" },
		{ "Subject: a\n\nReturn-Path: <body@x>\n", "MAILER-DAEMON" },
		{ "Return-Pathx: <no@x>\n\n", "MAILER-DAEMON" },
		{ "X-Return-Path: <no@x>\n\n", "MAILER-DAEMON" },
		{ "Return-Path: <x';touch${IFS}pwned;'@evil>\n\n",
		  "x';touch${IFS}pwned;'@evil" },
		{ "Return-Path: <late@x>", "late@x" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mbox_envelope envelope;
		const char *text = cases[i].text;
		const char *got = scan_sender(&envelope, text, strlen(text),
					      strlen(text) + 1);
		if (strcmp(got, cases[i].sender) != 0)
			print_error("case %zu: got %s\n", i, got);
		assert_string_equal(got, cases[i].sender);
	}
}

static void test_envelope_limits(void **state)
{
	(void)state;
	struct mbox_envelope envelope;
	/* An address longer than MBOX_SENDER_MAX. */
	char text[2 * MBOX_RETURN_PATH_MAX + 64];
	memcpy(text, "Return-Path: <", 14);
	memset(text + 14, 'a', MBOX_SENDER_MAX + 1);
	memcpy(text + 14 + MBOX_SENDER_MAX + 1, ">\n\n", 4);
	assert_string_equal(scan_sender(&envelope, text, strlen(text), 7),
			    "MAILER-DAEMON");
	/* Exactly MBOX_SENDER_MAX is kept. */
	memcpy(text + 14 + MBOX_SENDER_MAX, ">\n\n", 4);
	const char *got = scan_sender(&envelope, text, strlen(text), 7);
	assert_int_equal(strlen(got), MBOX_SENDER_MAX);
	/* A value longer than MBOX_RETURN_PATH_MAX is not trusted. */
	memset(text + 14, ' ', 2 * MBOX_RETURN_PATH_MAX);
	memcpy(text + 14 + 2 * MBOX_RETURN_PATH_MAX, "a@b>\n\n", 7);
	assert_string_equal(scan_sender(&envelope, text, strlen(text), 64),
			    "MAILER-DAEMON");
	assert_true(envelope.too_long);
	/* A Return-Path past MBOX_HEADER_SCAN_MAX is not looked at. */
	size_t filler = MBOX_HEADER_SCAN_MAX;
	char *big = malloc(filler + 64);
	assert_non_null(big);
	memcpy(big, "X: ", 3);
	memset(big + 3, 'x', filler - 4);
	big[filler - 1] = '\n';
	memcpy(big + filler, "Return-Path: <late@x>\n\n", 24);
	assert_string_equal(scan_sender(&envelope, big, strlen(big), 5000),
			    "MAILER-DAEMON");
	assert_true(envelope.scanned <= MBOX_HEADER_SCAN_MAX);
	free(big);
}

static void test_envelope_split_everywhere(void **state)
{
	(void)state;
	static const char text[] =
		"Received: from x\n\tby y\nReturn-Path:\n\t<split@example.org>\n"
		"Subject: s\n\nbody\n";
	size_t len = sizeof(text) - 1;
	for (size_t cut = 0; cut <= len; cut++) {
		struct mbox_envelope envelope;
		mbox_envelope_init(&envelope);
		mbox_envelope_feed(&envelope, text, cut);
		mbox_envelope_feed(&envelope, text + cut, len - cut);
		assert_string_equal(mbox_envelope_sender(&envelope),
				    "split@example.org");
	}
	struct mbox_envelope envelope;
	assert_string_equal(scan_sender(&envelope, text, len, 1),
			    "split@example.org");
}

/* ---- appending to what is there ----------------------------------------- */

static void check_append(const struct fixture *fx, const char *old,
			 size_t fixup)
{
	make_dirs(fx);
	write_file(fx->mbox, old, strlen(old));
	struct sink *sink = open_ok(fx->mbox);
	const char *texts[] = { "Subject: new\n\nnew body\n", "second\n" };
	char dests[2][DEST_SIZE];
	deliver_batch(sink, texts, 2, 1234567890, dests);
	sink_close(sink);
	size_t len;
	char *got = slurp(fx->mbox, &len);
	size_t old_len = strlen(old);
	assert_memory_equal(got, old, old_len);
	for (size_t i = 0; i < fixup; i++)
		assert_int_equal(got[old_len + i], '\n');
	assert_memory_equal(got + old_len + fixup, "From MAILER-DAEMON ", 19);
	struct dest_parts first = parse_dest(dests[0]);
	struct dest_parts second = parse_dest(dests[1]);
	assert_int_equal(first.offset, old_len);
	assert_int_equal(second.offset, first.offset + first.length);
	assert_int_equal(first.end, len);
	assert_int_equal(second.end, len);
	assert_int_equal(second.offset + second.length, len);
	assert_int_equal(first.pid, (long)getpid());
	free(got);
	assert_int_equal(python_read(fx, fx->mbox), 3);
	assert_python_body(fx, 1, texts[0], strlen(texts[0]));
	assert_python_body(fx, 2, texts[1], strlen(texts[1]));
}

static void test_append_after_blank_line(void **state)
{
	check_append(*state, "From old@x Thu Feb 12 00:00:00 2009\nold\n\n", 0);
	struct fixture *fx = *state;
	assert_python_body(fx, 0, "old\n", 4);
}

static void test_append_after_one_newline(void **state)
{
	check_append(*state, "From old@x Thu Feb 12 00:00:00 2009\nold\n", 1);
	struct fixture *fx = *state;
	assert_python_body(fx, 0, "old\n", 4);
}

static void test_append_after_no_newline(void **state)
{
	check_append(*state, "From old@x Thu Feb 12 00:00:00 2009\nold", 2);
	struct fixture *fx = *state;
	assert_python_body(fx, 0, "old\n", 4);
}

/* ---- the batch ---------------------------------------------------------- */

static void test_locks_held_from_prepare_to_publish(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	struct sink_msg *msg = deliver(sink, 1234567890, "x\n", 2, 2);
	assert_null(sink_msg_dest(msg));
	assert_false(exists(fx->lock));
	prepare_ok(sink);
	assert_non_null(sink_msg_dest(msg));
	/* Both locks are held, the dotlock in Dovecot's "PID:HOST". */
	size_t len;
	char *content = slurp(fx->lock, &len);
	char expected[300];
	snprintf(expected, sizeof(expected), "%ld:%s", (long)getpid(), fx->host);
	assert_string_equal(content, expected);
	free(content);
	assert_false(fcntl_free(fx->mbox));
	publish_ok(sink);
	assert_false(exists(fx->lock));
	assert_true(fcntl_free(fx->mbox));
	sink_close(sink);
}

static void test_discard_after_prepare(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1234567890, "x\n", 2, 2);
	prepare_ok(sink);
	assert_true(exists(fx->lock));
	sink_discard(sink);
	assert_false(exists(fx->lock));
	assert_true(fcntl_free(fx->mbox));
	assert_int_equal(file_size(fx->mbox), 0);
	/* A batch after that works. */
	const char *texts[] = { "y\n" };
	deliver_batch(sink, texts, 1, 1234567890, NULL);
	assert_true(file_size(fx->mbox) > 0);
	sink_close(sink);
}

static void test_close_with_pending_batch(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1234567890, "x\n", 2, 2);
	prepare_ok(sink);
	struct sink_msg *msg;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	assert_int_equal(sink_msg_write(msg, "partial", 7, &err), YB_OK);
	sink_close(sink);
	assert_false(exists(fx->lock));
	assert_int_equal(file_size(fx->mbox), 0);
}

static void test_abort_while_writing(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	struct sink_msg *msg;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	char junk[100000];
	memset(junk, 'j', sizeof(junk));
	assert_int_equal(sink_msg_write(msg, junk, sizeof(junk), &err), YB_OK);
	sink_msg_abort(msg);
	const char *texts[] = { "Subject: kept\n\nkept\n" };
	deliver_batch(sink, texts, 1, 1234567890, NULL);
	sink_close(sink);
	assert_int_equal(python_read(fx, fx->mbox), 1);
	assert_python_body(fx, 0, texts[0], strlen(texts[0]));
}

static void test_misuse_refused(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	struct sink_msg *msg, *second;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	/* One message at a time. */
	assert_int_equal(sink_msg_begin(sink, NULL, &second, &err),
			 YB_ERR_INTERNAL);
	assert_int_equal(sink_msg_end(msg, &err), YB_OK);
	/* No write after the end, no publish before prepare. */
	assert_int_equal(sink_msg_write(msg, "x", 1, &err), YB_ERR_INTERNAL);
	assert_int_equal(sink_publish(sink, &err), YB_ERR_INTERNAL);
	assert_int_equal(file_size(fx->mbox), 0);
	/* Resolve in the middle of a batch is refused too. */
	msg = deliver(sink, 1, "x\n", 2, 2);
	prepare_ok(sink);
	char dest[DEST_SIZE];
	copy_dest(msg, dest);
	bool present;
	assert_int_equal(resolve(sink, dest, &present, &err), YB_ERR_INTERNAL);
	publish_ok(sink);
	sink_close(sink);
}

static size_t open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	assert_non_null(dir);
	size_t count = 0;
	while (readdir(dir))
		count++;
	closedir(dir);
	return count;
}

static void test_many_messages_few_descriptors(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	size_t before = open_fds();
	char text[64];
	for (int i = 0; i < 300; i++) {
		int n = snprintf(text, sizeof(text), "Subject: %d\n\nFrom %d\n", i, i);
		deliver(sink, 1234567890, text, (size_t)n, 5);
	}
	assert_int_equal(open_fds(), before);
	prepare_ok(sink);
	assert_true(open_fds() <= before + 1);
	publish_ok(sink);
	assert_int_equal(open_fds(), before);
	sink_close(sink);
	assert_int_equal(python_read(fx, fx->mbox), 300);
	assert_python_body(fx, 299, "Subject: 299\n\nFrom 299\n", 23);
}

static void test_two_sinks_interleaved(void **state)
{
	struct fixture *fx = *state;
	char other[PATH_MAX];
	join(other, sizeof(other), fx->root, "mail/other");
	struct sink *first = open_ok(fx->mbox);
	struct sink *second = open_ok(other);
	deliver(first, 1, "first\n", 6, 6);
	deliver(second, 1, "second\n", 7, 7);
	prepare_ok(first);
	prepare_ok(second);
	publish_ok(second);
	/* Unlocking the second file left the first one locked. */
	assert_false(fcntl_free(fx->mbox));
	publish_ok(first);
	sink_close(first);
	sink_close(second);
	assert_int_equal(python_read(fx, fx->mbox), 1);
	assert_python_body(fx, 0, "first\n", 6);
	assert_int_equal(python_read(fx, other), 1);
	assert_python_body(fx, 0, "second\n", 7);
}

static void test_file_replaced_before_prepare(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1, "x\n", 2, 2);
	const char *content = "not an mbox any more\n";
	write_file(fx->mbox, content, strlen(content));
	struct yb_error err;
	assert_int_equal(sink_prepare(sink, &err), YB_ERR_IO);
	assert_non_null(strstr(err.msg, "is not an mbox"));
	assert_false(exists(fx->lock));
	sink_discard(sink);
	sink_close(sink);
	assert_int_equal(file_size(fx->mbox), (off_t)strlen(content));
}

/* mbox_open fails with YB_ERR_IO, the message holding both needles. */
static void open_refused(const char *path, const char *needle,
			 const char *needle2)
{
	struct sink *sink = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	assert_int_equal(mbox_open(path, &sink, &err), YB_ERR_IO);
	assert_null(sink);
	if (!strstr(err.msg, needle) || !strstr(err.msg, needle2))
		print_error("message: %s\n", err.msg);
	assert_non_null(strstr(err.msg, needle));
	assert_non_null(strstr(err.msg, needle2));
}

/*
 * The mbox file is never reached through a symbolic link, dangling or
 * not: a user who may write in its directory could point it anywhere.
 */
static void test_symlinked_mbox_refused(void **state)
{
	struct fixture *fx = *state;
	char target[PATH_MAX];
	join(target, sizeof(target), fx->root, "target");
	make_dirs(fx);
	assert_int_equal(symlink(target, fx->mbox), 0);
	open_refused(fx->mbox, fx->mbox, "symbolic link");
	assert_false(exists(target));
	write_file(target, "", 0);
	open_refused(fx->mbox, fx->mbox, "symbolic link");
	assert_int_equal(file_size(target), 0);
	assert_false(exists(fx->lock));
}

/* A link of our own above the mbox is the user's choice: followed. */
static void test_own_link_above_mbox_followed(void **state)
{
	struct fixture *fx = *state;
	char real[PATH_MAX], link_path[PATH_MAX], inside[PATH_MAX];
	join(real, sizeof(real), fx->root, "real");
	assert_int_equal(mkdir(real, 0700), 0);
	join(link_path, sizeof(link_path), fx->root, "mail");
	assert_int_equal(symlink(real, link_path), 0);
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1, "x\n", 2, 2);
	prepare_ok(sink);
	join(inside, sizeof(inside), real, "box.lock");
	assert_true(exists(inside));
	publish_ok(sink);
	sink_close(sink);
	join(inside, sizeof(inside), real, "box");
	assert_true(file_size(inside) > 0);
}

/*
 * The file swapped for a link between open and lock: the lock does not
 * follow it either, and nothing is written there.
 */
static void test_mbox_swapped_for_symlink_refused(void **state)
{
	struct fixture *fx = *state;
	char target[PATH_MAX];
	join(target, sizeof(target), fx->root, "target");
	write_file(target, "", 0);
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1, "x\n", 2, 2);
	assert_int_equal(unlink(fx->mbox), 0);
	assert_int_equal(symlink(target, fx->mbox), 0);
	struct yb_error err;
	assert_int_equal(sink_prepare(sink, &err), YB_ERR_IO);
	assert_non_null(strstr(err.msg, "symbolic link"));
	sink_discard(sink);
	sink_close(sink);
	assert_int_equal(file_size(target), 0);
	assert_false(exists(fx->lock));
}

/*
 * A symbolic link planted at PATH.lock is not a dotlock: the lock is not
 * made through it, not waited for, and its target is left alone.
 */
static void test_symlink_at_dotlock_refused(void **state)
{
	struct fixture *fx = *state;
	char target[PATH_MAX];
	join(target, sizeof(target), fx->root, "target");
	struct sink *sink = open_ok(fx->mbox);
	assert_int_equal(symlink(target, fx->lock), 0);
	deliver(sink, 1, "x\n", 2, 2);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct yb_error err;
	assert_int_equal(sink_prepare(sink, &err), YB_ERR_IO);
	assert_true(elapsed_ms(&start) < TEST_LOCK_MS);
	assert_non_null(strstr(err.msg, fx->lock));
	assert_non_null(strstr(err.msg, "symbolic link"));
	sink_discard(sink);
	sink_close(sink);
	assert_false(exists(target));
	struct stat st;
	assert_int_equal(lstat(fx->lock, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(file_size(fx->mbox), 0);
}

/*
 * As root, an mbox or a directory of one that belongs to another user is
 * refused, naming the owner; so is an mbox with a second name.
 */
static void test_open_as_root_refuses_foreign_mbox(void **state)
{
	struct fixture *fx = *state;
	if (geteuid() != 0)
		skip(); /* only root is refused; CI runs as root */
	sink_close(open_ok(fx->mbox));
	assert_int_equal(chown(fx->mbox, 65534, 65534), 0);
	open_refused(fx->mbox, fx->mbox, "uid 65534");
	assert_int_equal(chown(fx->mbox, 0, 0), 0);
	char dir[PATH_MAX];
	join(dir, sizeof(dir), fx->root, "mail");
	assert_int_equal(chown(dir, 65534, 65534), 0);
	open_refused(fx->mbox, fx->mbox, "uid 65534");
	assert_int_equal(chown(dir, 0, 0), 0);
	char second[PATH_MAX];
	join(second, sizeof(second), fx->root, "second");
	assert_int_equal(link(fx->mbox, second), 0);
	open_refused(fx->mbox, fx->mbox, "hard links");
	assert_int_equal(unlink(second), 0);
	sink_close(open_ok(fx->mbox));
	assert_false(exists(fx->lock));
}

/* ---- locking against others --------------------------------------------- */

static void expect_temp_failure(const struct fixture *fx, struct sink *sink,
				const char *needle)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct yb_error err;
	assert_int_equal(sink_prepare(sink, &err), YB_ERR_TEMP);
	uint64_t waited = elapsed_ms(&start);
	assert_true(waited >= TEST_LOCK_MS);
	assert_true(waited < TEST_LOCK_MS + 1000);
	assert_non_null(strstr(err.msg, needle));
	assert_non_null(strstr(err.msg, fx->mbox));
	sink_discard(sink);
}

static void test_dotlock_held_gives_temp(void **state)
{
	struct fixture *fx = *state;
	const char *old = "From old@x Thu Feb 12 00:00:00 2009\nold\n\n";
	make_dirs(fx);
	write_file(fx->mbox, old, strlen(old));
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1, "x\n", 2, 2);
	struct holder holder = hold_dotlock(fx, 0);
	expect_temp_failure(fx, sink, "dotlock");
	/* The other's lock is still there, the file untouched. */
	size_t len;
	char *content = slurp(fx->lock, &len);
	char expected[300];
	snprintf(expected, sizeof(expected), "%ld:%s", (long)holder.pid, fx->host);
	assert_string_equal(content, expected);
	free(content);
	stop_holder(holder);
	assert_int_equal(file_size(fx->mbox), (off_t)strlen(old));
	sink_close(sink);
}

static void test_fcntl_held_gives_temp(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1, "x\n", 2, 2);
	struct holder holder = hold_fcntl(fx);
	expect_temp_failure(fx, sink, "fcntl");
	/* Our dotlock was given back each time. */
	assert_false(exists(fx->lock));
	stop_holder(holder);
	assert_int_equal(file_size(fx->mbox), 0);
	sink_close(sink);
}

static void test_lock_released_in_time(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1, "x\n", 2, 2);
	struct holder holder = hold_dotlock(fx, 300);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	prepare_ok(sink);
	uint64_t waited = elapsed_ms(&start);
	assert_true(waited >= 250 && waited < TEST_LOCK_MS);
	publish_ok(sink);
	int status;
	assert_int_equal(waitpid(holder.pid, &status, 0), holder.pid);
	sink_close(sink);
	assert_true(file_size(fx->mbox) > 0);
}

static void test_stale_dotlock_of_dead_process_broken(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	write_dotlock(fx, (long)dead_pid(), fx->host);
	deliver(sink, 1, "x\n", 2, 2);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	prepare_ok(sink);
	assert_true(elapsed_ms(&start) < 500);
	publish_ok(sink);
	assert_false(exists(fx->lock));
	sink_close(sink);
}

static void test_old_dotlock_broken_fresh_one_kept(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	/* Another host's lock: its pid cannot be judged, only its age. */
	write_dotlock(fx, 1, "another-host.example");
	deliver(sink, 1, "x\n", 2, 2);
	expect_temp_failure(fx, sink, "dotlock");
	assert_true(exists(fx->lock));
	/* Ten minutes old: stale. */
	struct timespec old[2] = { { .tv_sec = time(NULL) - 600 },
				   { .tv_sec = time(NULL) - 600 } };
	assert_int_equal(utimensat(AT_FDCWD, fx->lock, old, 0), 0);
	deliver(sink, 1, "x\n", 2, 2);
	prepare_ok(sink);
	publish_ok(sink);
	assert_false(exists(fx->lock));
	/* A live process of ours holds it however old it is. */
	struct holder holder = hold_dotlock(fx, 0);
	assert_int_equal(utimensat(AT_FDCWD, fx->lock, old, 0), 0);
	deliver(sink, 1, "x\n", 2, 2);
	expect_temp_failure(fx, sink, "dotlock");
	stop_holder(holder);
	sink_close(sink);
}

/* ---- what is not a dotlock is never removed ------------------------------ */

/* Ten minutes old: past the age at which a dotlock is stale. */
static void make_old(const char *path)
{
	struct timespec old[2] = { { .tv_sec = time(NULL) - 600 },
				   { .tv_sec = time(NULL) - 600 } };
	assert_int_equal(utimensat(AT_FDCWD, path, old, AT_SYMLINK_NOFOLLOW), 0);
}

/* PATH.lock holds content[0..len) and is old: prepare fails at once
   naming it, and leaves it and the mbox as they were. */
static void expect_left_alone(const struct fixture *fx, const char *content,
			      size_t len, const char *why)
{
	make_dirs(fx);
	write_file(fx->lock, content, len);
	make_old(fx->lock);
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1, "x\n", 2, 2);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct yb_error err;
	assert_int_equal(sink_prepare(sink, &err), YB_ERR_IO);
	assert_true(elapsed_ms(&start) < TEST_LOCK_MS);
	assert_non_null(strstr(err.msg, fx->lock));
	assert_non_null(strstr(err.msg, "does not look like a dotlock"));
	assert_non_null(strstr(err.msg, why));
	sink_discard(sink);
	sink_close(sink);
	size_t after_len;
	char *after = slurp(fx->lock, &after_len);
	assert_int_equal(after_len, len);
	assert_memory_equal(after, content, len);
	free(after);
	assert_int_equal(file_size(fx->mbox), 0);
	assert_int_equal(unlink(fx->lock), 0);
}

static void test_old_mail_named_like_a_dotlock_kept(void **state)
{
	struct fixture *fx = *state;
	/* What an older yubin wrote for a server folder "X.lock". */
	const char *mail = "From a@b Thu Feb 12 00:00:00 2009\nSubject: keep\n\n"
			   "the only copy\n\n";
	expect_left_alone(fx, mail, strlen(mail), "no process id");
	/* Small but not a pid in any form a locker writes. */
	expect_left_alone(fx, "hello\n", 6, "no process id");
	expect_left_alone(fx, "12 34\n", 6, "no process id");
	expect_left_alone(fx, "123:host name", 13, "no process id");
	expect_left_alone(fx, "0x1f", 4, "no process id");
}

static void test_old_big_file_named_like_a_dotlock_kept(void **state)
{
	struct fixture *fx = *state;
	/* Digits only, but far larger than any dotlock. */
	char big[4096];
	memset(big, '7', sizeof(big));
	expect_left_alone(fx, big, sizeof(big), "larger than a dotlock");
	memset(big, '7', 513);
	expect_left_alone(fx, big, 513, "larger than a dotlock");
}

static void test_old_directory_named_like_a_dotlock_kept(void **state)
{
	struct fixture *fx = *state;
	make_dirs(fx);
	assert_int_equal(mkdir(fx->lock, 0700), 0);
	make_old(fx->lock);
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1, "x\n", 2, 2);
	struct yb_error err;
	assert_int_equal(sink_prepare(sink, &err), YB_ERR_IO);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_non_null(strstr(err.msg, fx->lock));
	sink_discard(sink);
	sink_close(sink);
	struct stat st;
	assert_int_equal(lstat(fx->lock, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(rmdir(fx->lock), 0);
}

/* Every form other lockers write is a lock: stale when old, broken. */
static void test_old_dotlocks_of_every_form_broken(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *content;
		size_t len;
	} forms[] = {
		{ "", 0 },                      /* mutt, Postfix */
		{ "0", 1 },                     /* no pid */
		{ "4242\n", 5 },                /* dotlockfile -p */
		{ "      4242\n", 11 },         /* UUCP's "%10d\n" */
		{ "4242\0", 5 },                /* with its C string's NUL */
		{ "4242:elsewhere.example", 22 }, /* Dovecot, another host */
		{ "4242:elsewhere.example\n", 23 },
		{ "4242:", 5 },                 /* cut short */
	};
	make_dirs(fx);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		write_file(fx->lock, forms[i].content, forms[i].len);
		make_old(fx->lock);
		struct sink *sink = open_ok(fx->mbox);
		deliver(sink, 1, "x\n", 2, 2);
		prepare_ok(sink);
		publish_ok(sink);
		assert_false(exists(fx->lock));
		sink_close(sink);
	}
}

/* A young file is waited for whatever it holds: a locker may be writing
   it, or write a form not listed; only an old one is judged. */
static void test_young_non_lock_waited_for(void **state)
{
	struct fixture *fx = *state;
	const char *mail = "From a@b Thu Feb 12 00:00:00 2009\n\nx\n\n";
	make_dirs(fx);
	write_file(fx->lock, mail, strlen(mail));
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1, "x\n", 2, 2);
	expect_temp_failure(fx, sink, "dotlock");
	assert_int_equal(file_size(fx->lock), (off_t)strlen(mail));
	sink_close(sink);
	assert_int_equal(unlink(fx->lock), 0);
}

/* ---- a full disk -------------------------------------------------------- */

static void test_full_disk_rolls_back(void **state)
{
	struct fixture *fx = *state;
	/* Ends without a newline: the fix-up must be rolled back too. */
	const char *old = "From old@x Thu Feb 12 00:00:00 2009\nold";
	make_dirs(fx);
	write_file(fx->mbox, old, strlen(old));
	struct sink *sink = open_ok(fx->mbox);
	deliver(sink, 1, "first fits\n", 11, 11);
	char big[4096];
	memset(big, 'b', sizeof(big));
	deliver(sink, 1, big, sizeof(big), 1000);
	prepare_ok(sink);

	struct rlimit saved;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rlimit limit = saved;
	limit.rlim_cur = strlen(old) + 200;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
	struct yb_error err;
	int status = sink_publish(sink, &err);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, saved_handler);

	assert_int_equal(status, YB_ERR_IO);
	assert_non_null(strstr(err.msg, fx->mbox));
	assert_non_null(strstr(err.msg, strerror(EFBIG)));
	assert_non_null(strstr(err.msg, "cut back"));
	size_t len;
	char *after = slurp(fx->mbox, &len);
	assert_int_equal(len, strlen(old));
	assert_memory_equal(after, old, len);
	free(after);
	assert_false(exists(fx->lock));
	assert_true(fcntl_free(fx->mbox));
	/* With room again, the next batch goes through. */
	const char *texts[] = { "later\n" };
	deliver_batch(sink, texts, 1, 1, NULL);
	sink_close(sink);
	assert_int_equal(python_read(fx, fx->mbox), 2);
	assert_python_body(fx, 1, "later\n", 6);
}

/* ---- crash recovery ----------------------------------------------------- */

/*
 * The same batch delivered to a twin file that started with the same
 * bytes: what a run appends, byte for byte.  dests get the dests of a
 * batch prepared (then discarded) on the real file.
 */
static char *twin_batch(const struct fixture *fx, const char *old,
			const char *const *texts, size_t count,
			char (*dests)[DEST_SIZE], size_t *twin_len)
{
	char twin[PATH_MAX];
	join(twin, sizeof(twin), fx->root, "twin");
	write_file(twin, old, strlen(old));
	struct sink *sink = open_ok(twin);
	deliver_batch(sink, texts, count, 1234567890, NULL);
	sink_close(sink);
	char *bytes = slurp(twin, twin_len);
	make_dirs(fx);
	write_file(fx->mbox, old, strlen(old));
	sink = open_ok(fx->mbox);
	struct sink_msg *msgs[16];
	for (size_t i = 0; i < count; i++)
		msgs[i] = deliver(sink, 1234567890, texts[i], strlen(texts[i]),
				  7);
	prepare_ok(sink);
	for (size_t i = 0; i < count; i++)
		copy_dest(msgs[i], dests[i]);
	sink_discard(sink);
	sink_close(sink);
	return bytes;
}

static void test_resolve_present_and_absent(void **state)
{
	struct fixture *fx = *state;
	const char *texts[] = { "Subject: a\n\nFrom a\n", "b" };
	char dests[2][DEST_SIZE];
	size_t twin_len;
	char *twin = twin_batch(fx, "", texts, 2, dests, &twin_len);
	struct sink *sink = open_ok(fx->mbox);
	bool present = true;
	struct yb_error err;
	/* Nothing was appended: absent, the file untouched. */
	assert_int_equal(resolve(sink, dests[0], &present, &err), YB_OK);
	assert_false(present);
	assert_int_equal(file_size(fx->mbox), 0);
	/* All appended: both present. */
	write_file(fx->mbox, twin, twin_len);
	assert_int_equal(resolve(sink, dests[0], &present, &err), YB_OK);
	assert_true(present);
	assert_int_equal(resolve(sink, dests[1], &present, &err), YB_OK);
	assert_true(present);
	/* Mail appended after ours changes nothing. */
	const char *later = "From other@x Thu Feb 12 00:00:00 2009\nlater\n\n";
	append_file(fx->mbox, later, strlen(later));
	assert_int_equal(resolve(sink, dests[1], &present, &err), YB_OK);
	assert_true(present);
	assert_int_equal(file_size(fx->mbox), (off_t)(twin_len + strlen(later)));
	assert_false(exists(fx->lock));
	sink_close(sink);
	free(twin);
}

static void test_resolve_cuts_torn_tail(void **state)
{
	struct fixture *fx = *state;
	const char *old = "From old@x Thu Feb 12 00:00:00 2009\nold\n";
	const char *texts[] = { "Subject: a\n\nbody a\n", "Subject: b\n\nbody b\n" };
	char dests[2][DEST_SIZE];
	size_t twin_len;
	char *twin = twin_batch(fx, old, texts, 2, dests, &twin_len);
	struct dest_parts second = parse_dest(dests[1]);
	/* The first whole, the second cut in its body. */
	size_t cut = (size_t)second.offset + (size_t)second.length - 4;
	write_file(fx->mbox, twin, cut);
	struct sink *sink = open_ok(fx->mbox);
	bool present;
	struct yb_error err;
	assert_int_equal(resolve(sink, dests[0], &present, &err), YB_OK);
	assert_true(present);
	assert_int_equal(resolve(sink, dests[1], &present, &err), YB_OK);
	assert_false(present);
	assert_int_equal(file_size(fx->mbox), (off_t)second.offset);
	/* Torn inside the fix-up of the first: back to the old bytes. */
	struct dest_parts first = parse_dest(dests[0]);
	write_file(fx->mbox, twin, (size_t)first.offset + 1);
	assert_int_equal(resolve(sink, dests[0], &present, &err), YB_OK);
	assert_false(present);
	size_t len;
	char *after = slurp(fx->mbox, &len);
	assert_int_equal(len, strlen(old));
	assert_memory_equal(after, old, len);
	free(after);
	sink_close(sink);
	free(twin);
}

static void test_resolve_refuses_to_cut_others_mail(void **state)
{
	struct fixture *fx = *state;
	const char *texts[] = { "Subject: a\n\nbody a is long enough\n" };
	char dests[1][DEST_SIZE];
	size_t twin_len;
	char *twin = twin_batch(fx, "", texts, 1, dests, &twin_len);
	/* Our write torn, then another program appended a message. */
	const char *other = "\n\nFrom other@x Thu Feb 12 00:00:00 2009\nSubject: "
			    "theirs\n\ntheir mail, which must survive\n\n";
	write_file(fx->mbox, twin, twin_len - 10);
	append_file(fx->mbox, other, strlen(other));
	size_t before_len;
	char *before = slurp(fx->mbox, &before_len);
	struct sink *sink = open_ok(fx->mbox);
	bool present = true;
	struct yb_error err;
	assert_int_equal(resolve(sink, dests[0], &present, &err), YB_ERR_IO);
	assert_false(present);
	assert_non_null(strstr(err.msg, fx->mbox));
	assert_non_null(strstr(err.msg, "tail -c +1"));
	assert_non_null(strstr(err.msg, "will not cut"));
	size_t after_len;
	char *after = slurp(fx->mbox, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	assert_false(exists(fx->lock));
	free(after);
	/*
	 * The user removes our partial message as told: now another's
	 * message is where ours would be, and ours is simply absent.
	 */
	write_file(fx->mbox, other + 2, strlen(other) - 2);
	assert_int_equal(resolve(sink, dests[0], &present, &err), YB_OK);
	assert_false(present);
	assert_int_equal(file_size(fx->mbox), (off_t)strlen(other) - 2);
	sink_close(sink);
	free(before);
	free(twin);
}

static void test_resolve_refuses_longer_file_without_ours(void **state)
{
	struct fixture *fx = *state;
	const char *texts[] = { "Subject: a\n\nbody a\n" };
	char dests[1][DEST_SIZE];
	size_t twin_len;
	char *twin = twin_batch(fx, "", texts, 1, dests, &twin_len);
	/* Our From line, then other bytes running past our range. */
	char *mangled = malloc(twin_len + 200);
	assert_non_null(mangled);
	size_t head = (size_t)(strchr(twin, '\n') - twin) + 1;
	memcpy(mangled, twin, head);
	const char *rest = "Subject: x\n\nFrom someone else entirely\n"
			   "and a lot of other bytes that are not ours\n\n";
	memcpy(mangled + head, rest, strlen(rest));
	size_t mangled_len = head + strlen(rest);
	assert_true(mangled_len > twin_len);
	write_file(fx->mbox, mangled, mangled_len);
	struct sink *sink = open_ok(fx->mbox);
	bool present;
	struct yb_error err;
	assert_int_equal(resolve(sink, dests[0], &present, &err), YB_ERR_IO);
	assert_int_equal(file_size(fx->mbox), (off_t)mangled_len);
	sink_close(sink);
	free(mangled);
	free(twin);
}

static void test_resolve_shorter_file_is_absent(void **state)
{
	struct fixture *fx = *state;
	const char *old = "From old@x Thu Feb 12 00:00:00 2009\nold\n\n";
	const char *texts[] = { "Subject: a\n\nbody a\n" };
	char dests[1][DEST_SIZE];
	size_t twin_len;
	char *twin = twin_batch(fx, old, texts, 1, dests, &twin_len);
	/* A mail reader rewrote the file shorter since. */
	write_file(fx->mbox, "From x@y Thu Feb 12 00:00:00 2009\n\n", 35);
	struct sink *sink = open_ok(fx->mbox);
	bool present = true;
	struct yb_error err;
	assert_int_equal(resolve(sink, dests[0], &present, &err), YB_OK);
	assert_false(present);
	assert_int_equal(file_size(fx->mbox), 35);
	sink_close(sink);
	free(twin);
}

static void test_resolve_rejects_bad_dests(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->mbox);
	static const char *const bad[] = {
		"",
		"12",
		"new/123.M1P2Q3Y00000000.host,S=5",
		"0+10+0123456789abcdef+0123456789abcdef+10",
		"0+10+0123456789ABCDEF+0123456789abcdef+10+1",
		"0+0+0123456789abcdef+0123456789abcdef+10+1",
		"5+10+0123456789abcdef+0123456789abcdef+10+1",
		"0+10+0123456789abcdef+0123456789abcdef+10+0",
		"0+10+0123456789abcdef+0123456789abcdef+10+1+",
		"-1+10+0123456789abcdef+0123456789abcdef+10+1",
		"0+10+0123456789abcde+0123456789abcdef+10+1",
		"99999999999999999999+1+0123456789abcdef+0123456789abcdef+1+1",
		"0+10+0123456789abcdef+0123456789abcdef+10+1 ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool present = true;
		struct yb_error err;
		assert_int_equal(resolve(sink, bad[i], &present, &err),
				 YB_ERR_INTERNAL);
		assert_false(present);
		assert_non_null(strstr(err.msg, "bad mbox intent"));
	}
	bool present;
	struct yb_error err;
	assert_int_equal(resolve(sink, NULL, &present, &err), YB_ERR_INTERNAL);
	assert_false(exists(fx->lock));
	sink_close(sink);
}

/*
 * A crash cut the batch at byte X, for every X: resolving the intents in
 * order must leave exactly the whole messages, whether the crashed run's
 * dotlock is still there (nobody wrote since) or not.
 */
static void test_resolve_every_cut(void **state)
{
	struct fixture *fx = *state;
	const char *old = "From old@x Thu Feb 12 00:00:00 2009\nold";
	const char *texts[] = {
		"Return-Path: <a@x>\n\nFrom a\n",
		"",
		"Subject: c\n\nno newline",
	};
	enum { COUNT = 3 };
	char dests[COUNT][DEST_SIZE];
	size_t twin_len;
	char *twin = twin_batch(fx, old, texts, COUNT, dests, &twin_len);
	struct dest_parts parts[COUNT];
	for (size_t i = 0; i < COUNT; i++)
		parts[i] = parse_dest(dests[i]);
	struct sink *sink = open_ok(fx->mbox);
	size_t old_len = strlen(old);
	for (size_t cut = old_len; cut <= twin_len; cut++) {
		for (int survived = 0; survived < 2; survived++) {
			write_file(fx->mbox, twin, cut);
			/* The dotlock a crashed run of this pid left. */
			if (survived)
				write_dotlock(fx, (long)getpid(), fx->host);
			size_t keep = old_len;
			for (size_t i = 0; i < COUNT; i++) {
				bool present;
				struct yb_error err;
				int status = resolve(sink, dests[i], &present, &err);
				if (status != YB_OK)
					print_error("cut %zu: %s\n", cut, err.msg);
				assert_int_equal(status, YB_OK);
				uint64_t end = parts[i].offset + parts[i].length;
				assert_int_equal(present, end <= cut);
				if (present)
					keep = (size_t)end;
			}
			assert_false(exists(fx->lock));
			size_t len;
			char *after = slurp(fx->mbox, &len);
			assert_int_equal(len, keep);
			assert_memory_equal(after, twin, keep);
			free(after);
		}
	}
	sink_close(sink);
	free(twin);
}

/*
 * After a power loss, a later message may have reached the disk while an
 * earlier one did not (zeros).  With the crashed run's dotlock still
 * there, nobody else wrote: the hole and what follows are ours to cut,
 * for every intent of the batch.  Without it, yubin cannot know, and
 * leaves the file alone.
 */
static void test_resolve_power_loss_hole(void **state)
{
	struct fixture *fx = *state;
	const char *texts[] = { "Subject: a\n\nbody a\n", "Subject: b\n\nbody b\n",
				"Subject: c\n\nbody c\n" };
	char dests[3][DEST_SIZE];
	size_t twin_len;
	char *twin = twin_batch(fx, "", texts, 3, dests, &twin_len);
	struct dest_parts second = parse_dest(dests[1]);
	char *holed = malloc(twin_len);
	assert_non_null(holed);
	memcpy(holed, twin, twin_len);
	memset(holed + second.offset, 0, (size_t)second.length);
	struct sink *sink = open_ok(fx->mbox);
	for (int survived = 1; survived >= 0; survived--) {
		write_file(fx->mbox, holed, twin_len);
		if (survived)
			write_dotlock(fx, (long)getpid(), fx->host);
		bool present;
		struct yb_error err;
		assert_int_equal(resolve(sink, dests[0], &present, &err), YB_OK);
		assert_true(present);
		int status = resolve(sink, dests[1], &present, &err);
		assert_false(present);
		if (survived) {
			assert_int_equal(status, YB_OK);
			assert_int_equal(resolve(sink, dests[2], &present, &err),
					 YB_OK);
			assert_false(present);
			assert_int_equal(file_size(fx->mbox), (off_t)second.offset);
		} else {
			assert_int_equal(status, YB_ERR_IO);
			assert_int_equal(file_size(fx->mbox), (off_t)twin_len);
		}
	}
	sink_close(sink);
	free(holed);
	free(twin);
}

/* A run killed with the lock held, for real: its dotlock stays behind. */
static void test_resolve_after_killed_child(void **state)
{
	struct fixture *fx = *state;
	const char *texts[] = { "Subject: a\n\nbody a\n", "Subject: b\n\nbody b\n" };
	char twin_dests[2][DEST_SIZE];
	size_t twin_len;
	char *twin = twin_batch(fx, "", texts, 2, twin_dests, &twin_len);
	int pipe_fds[2];
	assert_int_equal(pipe(pipe_fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipe_fds[0]);
		struct sink *sink = NULL;
		struct yb_error err;
		if (mbox_open(fx->mbox, &sink, &err) != YB_OK)
			_exit(2);
		struct sink_msg *msgs[2];
		for (int i = 0; i < 2; i++) {
			struct msg_meta meta = { .internal_date = 1234567890 };
			if (sink_msg_begin(sink, &meta, &msgs[i], &err) != YB_OK ||
			    sink_msg_write(msgs[i], texts[i], strlen(texts[i]),
					   &err) != YB_OK ||
			    sink_msg_end(msgs[i], &err) != YB_OK)
				_exit(3);
		}
		if (sink_prepare(sink, &err) != YB_OK)
			_exit(4);
		for (int i = 0; i < 2; i++) {
			char line[DEST_SIZE + 1];
			int n = snprintf(line, sizeof(line), "%s\n",
					 sink_msg_dest(msgs[i]));
			if (write(pipe_fds[1], line, (size_t)n) != n)
				_exit(5);
		}
		/* The first message and half the second, then death. */
		int fd = open(fx->mbox, O_WRONLY | O_APPEND);
		const char *last_line = strstr(twin + 1, "From MAILER") ;
		size_t upto = (size_t)(last_line - twin) + 20;
		if (fd < 0 || write(fd, twin, upto) != (ssize_t)upto)
			_exit(6);
		kill(getpid(), SIGKILL);
		_exit(7);
	}
	close(pipe_fds[1]);
	FILE *from_child = fdopen(pipe_fds[0], "r");
	assert_non_null(from_child);
	char dests[2][DEST_SIZE];
	for (int i = 0; i < 2; i++) {
		assert_non_null(fgets(dests[i], DEST_SIZE, from_child));
		dests[i][strcspn(dests[i], "\n")] = '\0';
	}
	fclose(from_child);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Its dotlock outlived it. */
	assert_true(exists(fx->lock));
	struct dest_parts second = parse_dest(dests[1]);
	assert_int_equal(second.pid, (long)pid);
	assert_true(file_size(fx->mbox) > (off_t)second.offset);
	struct sink *sink = open_ok(fx->mbox);
	bool present;
	struct yb_error err;
	assert_int_equal(resolve(sink, dests[0], &present, &err), YB_OK);
	assert_true(present);
	assert_int_equal(resolve(sink, dests[1], &present, &err), YB_OK);
	assert_false(present);
	assert_int_equal(file_size(fx->mbox), (off_t)second.offset);
	assert_false(exists(fx->lock));
	/* Fetching it again gives exactly the twin. */
	const char *again[] = { texts[1] };
	deliver_batch(sink, again, 1, 1234567890, NULL);
	sink_close(sink);
	size_t len;
	char *after = slurp(fx->mbox, &len);
	assert_int_equal(len, twin_len);
	assert_memory_equal(after, twin, len);
	free(after);
	free(twin);
}

int main(void)
{
	umask(022);
	log_init(-1, false);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_file_and_parents),
		T(test_open_refuses_non_mbox),
		T(test_open_refuses_bad_paths),
		T(test_open_accepts_empty_and_existing),
		T(test_exact_bytes),
		T(test_python_roundtrip),
		T(test_digests_of_what_the_file_holds),
		T(test_digests_name_copies_as_recorded),
		T(test_digests_forget_what_the_user_removed),
		T(test_digests_across_read_slices),
		T(test_chunk_splits_everywhere),
		T(test_long_gt_run),
		T(test_large_message_streams),
		T(test_from_line_dates),
		T(test_envelope_variants),
		T(test_envelope_limits),
		T(test_envelope_split_everywhere),
		T(test_append_after_blank_line),
		T(test_append_after_one_newline),
		T(test_append_after_no_newline),
		T(test_locks_held_from_prepare_to_publish),
		T(test_discard_after_prepare),
		T(test_close_with_pending_batch),
		T(test_abort_while_writing),
		T(test_misuse_refused),
		T(test_many_messages_few_descriptors),
		T(test_two_sinks_interleaved),
		T(test_file_replaced_before_prepare),
		T(test_symlinked_mbox_refused),
		T(test_own_link_above_mbox_followed),
		T(test_mbox_swapped_for_symlink_refused),
		T(test_symlink_at_dotlock_refused),
		T(test_open_as_root_refuses_foreign_mbox),
		T(test_dotlock_held_gives_temp),
		T(test_fcntl_held_gives_temp),
		T(test_lock_released_in_time),
		T(test_stale_dotlock_of_dead_process_broken),
		T(test_old_dotlock_broken_fresh_one_kept),
		T(test_old_mail_named_like_a_dotlock_kept),
		T(test_old_big_file_named_like_a_dotlock_kept),
		T(test_old_directory_named_like_a_dotlock_kept),
		T(test_old_dotlocks_of_every_form_broken),
		T(test_young_non_lock_waited_for),
		T(test_full_disk_rolls_back),
		T(test_resolve_present_and_absent),
		T(test_resolve_cuts_torn_tail),
		T(test_resolve_refuses_to_cut_others_mail),
		T(test_resolve_refuses_longer_file_without_ours),
		T(test_resolve_shorter_file_is_absent),
		T(test_resolve_rejects_bad_dests),
		T(test_resolve_every_cut),
		T(test_resolve_power_loss_hole),
		T(test_resolve_after_killed_child),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
