/*
 * test_maildir.c - the Maildir sink, in throw-away directories: layout,
 * exact bytes, the batch (prepare, dest, publish, discard, abort), crash
 * recovery (resolve), clean-up of tmp/ and write failures.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include <openssl/evp.h>

#include "maildir.h"
#include "maildir_flags.h"
#include "maildir_index.h"
#include "sink.h"
#include "xorshift.h"

struct fixture {
	char root[PATH_MAX];    /* mkdtemp directory, removed in teardown */
	char maildir[PATH_MAX]; /* root/Mail/box: not created by setup */
};

/* ---- helpers ------------------------------------------------------------ */

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	make_temp_dir(fx->root, sizeof(fx->root), "yubin-maildir-XXXXXX");
	join(fx->maildir, sizeof(fx->maildir), fx->root, "Mail/box");
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

static struct sink *open_ok(const char *path)
{
	struct sink *sink = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	int status = maildir_open(path, &sink, &err);
	if (status != YB_OK)
		print_error("maildir_open: %s\n", err.msg);
	assert_int_equal(status, YB_OK);
	assert_non_null(sink);
	return sink;
}

static void sub_path(char *out, size_t size, const struct fixture *fx,
		     const char *sub)
{
	join(out, size, fx->maildir, sub);
}

/* Names in maildir/sub, sorted; *count gets how many.  Caller frees. */
static char **list_names(const struct fixture *fx, const char *sub,
			 size_t *count)
{
	char dir_path[PATH_MAX];
	sub_path(dir_path, sizeof(dir_path), fx, sub);
	DIR *dir = opendir(dir_path);
	assert_non_null(dir);
	size_t used = 0, alloc = 16;
	char **names = malloc(alloc * sizeof(*names));
	assert_non_null(names);
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		if (strcmp(entry->d_name, ".") == 0 ||
		    strcmp(entry->d_name, "..") == 0)
			continue;
		if (used == alloc) {
			alloc *= 2;
			names = realloc(names, alloc * sizeof(*names));
			assert_non_null(names);
		}
		names[used] = strdup(entry->d_name);
		assert_non_null(names[used]);
		used++;
	}
	closedir(dir);
	*count = used;
	return names;
}

static void free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

static size_t count_entries(const struct fixture *fx, const char *sub)
{
	size_t count;
	char **names = list_names(fx, sub, &count);
	free_names(names, count);
	return count;
}

/* The whole content of a file; *len gets its size.  Caller frees. */

static void make_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	size_t len = strlen(content);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Begin a message, write data in chunks of chunk bytes, end it. */
static struct sink_msg *deliver(struct sink *sink, const struct msg_meta *meta,
				const char *data, size_t len, size_t chunk)
{
	struct sink_msg *msg = NULL;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, meta, &msg, &err), YB_OK);
	assert_non_null(msg);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		assert_int_equal(sink_msg_write(msg, data + off, n, &err),
				 YB_OK);
	}
	assert_int_equal(sink_msg_end(msg, &err), YB_OK);
	return msg;
}

/* Deliver one message all the way; its dest goes into dest. */
static void deliver_one(struct sink *sink, const struct msg_meta *meta,
			const char *text, char *dest, size_t dest_size)
{
	struct sink_msg *msg = deliver(sink, meta, text, strlen(text), 5);
	prepare_ok(sink);
	const char *where = sink_msg_dest(msg);
	assert_non_null(where);
	assert_true(strlen(where) < dest_size);
	memcpy(dest, where, strlen(where) + 1);
	publish_ok(sink);
}

static void assert_dest_shape(const char *dest, const char *sub, size_t size,
			      const char *flags)
{
	char tail[64];
	if (flags)
		snprintf(tail, sizeof(tail), ",S=%zu:2,%s", size, flags);
	else
		snprintf(tail, sizeof(tail), ",S=%zu", size);
	assert_true(strncmp(dest, sub, 4) == 0);
	size_t len = strlen(dest), tail_len = strlen(tail);
	assert_true(len > tail_len + 4);
	assert_string_equal(dest + len - tail_len, tail);
	assert_null(strchr(dest + 4, '/'));
	assert_null(strchr(dest, ' '));
}

/* The host part of the names this sink makes (after "Y<8 hex>."). */
static void host_part(struct sink *sink, const struct fixture *fx, char *out,
		      size_t size)
{
	struct sink_msg *msg = NULL;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	size_t count;
	char **names = list_names(fx, "tmp", &count);
	assert_int_equal(count, 1);
	const char *y = strchr(names[0], 'Y');
	assert_non_null(y);
	assert_int_equal(y[9], '.');
	assert_true(strlen(y + 10) < size);
	memcpy(out, y + 10, strlen(y + 10) + 1);
	free_names(names, count);
	sink_msg_abort(msg);
}

/* A pid that belonged to a process that has exited and been reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	int wstatus;
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	return pid;
}

/* ---- opening ------------------------------------------------------------ */

static void test_open_creates_maildir(void **state)
{
	struct fixture *fx = *state;
	assert_false(exists(fx->maildir));
	struct sink *sink = open_ok(fx->maildir);
	const char *subs[] = { "", "tmp", "new", "cur" };
	for (size_t i = 0; i < 4; i++) {
		char path[PATH_MAX];
		if (*subs[i])
			sub_path(path, sizeof(path), fx, subs[i]);
		else
			join(path, sizeof(path), fx->maildir, ".");
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0700);
	}
	sink_close(sink);
}

static void test_open_existing_with_trailing_slash(void **state)
{
	struct fixture *fx = *state;
	sink_close(open_ok(fx->maildir));
	char slashed[PATH_MAX];
	join(slashed, sizeof(slashed), fx->maildir, "/");
	struct sink *sink = open_ok(slashed);
	char dest[512];
	deliver_one(sink, NULL, "x\n", dest, sizeof(dest));
	char path[PATH_MAX];
	join(path, sizeof(path), fx->maildir, dest);
	assert_true(exists(path));
	sink_close(sink);
}

static void test_open_refuses_regular_file(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	join(path, sizeof(path), fx->root, "file");
	make_file(path, "not a maildir\n");
	struct sink *sink = (struct sink *)&sink;
	struct yb_error err;
	yb_error_clear(&err);
	assert_int_equal(maildir_open(path, &sink, &err), YB_ERR_IO);
	assert_null(sink);
	assert_non_null(strstr(err.msg, path));
	/* A file in the way of a parent is refused too. */
	char below[PATH_MAX];
	join(below, sizeof(below), path, "box");
	assert_int_equal(maildir_open(below, &sink, &err), YB_ERR_IO);
	assert_null(sink);
	assert_non_null(strstr(err.msg, path));
}

static void test_open_refuses_file_as_subdir(void **state)
{
	struct fixture *fx = *state;
	sink_close(open_ok(fx->maildir));
	char new_path[PATH_MAX];
	sub_path(new_path, sizeof(new_path), fx, "new");
	assert_int_equal(rmdir(new_path), 0);
	make_file(new_path, "");
	struct sink *sink = NULL;
	struct yb_error err;
	assert_int_equal(maildir_open(fx->maildir, &sink, &err), YB_ERR_IO);
	assert_null(sink);
	assert_non_null(strstr(err.msg, new_path));
}

/* maildir_open fails with YB_ERR_IO, the message holding both needles. */
static void open_refused(const char *path, const char *needle,
			 const char *needle2)
{
	struct sink *sink = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	assert_int_equal(maildir_open(path, &sink, &err), YB_ERR_IO);
	assert_null(sink);
	if (!strstr(err.msg, needle) || !strstr(err.msg, needle2))
		print_error("message: %s\n", err.msg);
	assert_non_null(strstr(err.msg, needle));
	assert_non_null(strstr(err.msg, needle2));
}

/*
 * tmp, new or cur a symbolic link to another directory: refused, and
 * nothing lands there (a message would be written or renamed through it).
 */
static void test_open_refuses_symlinked_subdirs(void **state)
{
	struct fixture *fx = *state;
	static const char *const subs[] = { "tmp", "new", "cur" };
	char elsewhere[PATH_MAX];
	join(elsewhere, sizeof(elsewhere), fx->root, "elsewhere");
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	sink_close(open_ok(fx->maildir));
	for (size_t i = 0; i < 3; i++) {
		char sub[PATH_MAX], aside[PATH_MAX + 8];
		sub_path(sub, sizeof(sub), fx, subs[i]);
		snprintf(aside, sizeof(aside), "%s.aside", sub);
		assert_int_equal(rename(sub, aside), 0);
		assert_int_equal(symlink(elsewhere, sub), 0);
		open_refused(fx->maildir, sub, "symbolic link");
		assert_int_equal(unlink(sub), 0);
		assert_int_equal(rename(aside, sub), 0);
	}
	DIR *dir = opendir(elsewhere);
	assert_non_null(dir);
	size_t entries = 0;
	for (struct dirent *e = readdir(dir); e; e = readdir(dir))
		entries++;
	closedir(dir);
	assert_int_equal(entries, 2); /* . and .. */
	sink_close(open_ok(fx->maildir));
}

/*
 * The Maildir named by the account may be the user's own link to where
 * the mail lives: followed, and the message lands in the real Maildir.
 */
static void test_open_follows_own_link_to_maildir(void **state)
{
	struct fixture *fx = *state;
	char real[PATH_MAX], real_new[PATH_MAX];
	join(real, sizeof(real), fx->root, "real");
	sink_close(open_ok(real));
	char parent[PATH_MAX];
	join(parent, sizeof(parent), fx->root, "Mail");
	assert_int_equal(mkdir(parent, 0700), 0);
	assert_int_equal(symlink(real, fx->maildir), 0);
	struct sink *sink = open_ok(fx->maildir);
	char dest[PATH_MAX];
	deliver_one(sink, NULL, "Subject: through the link\n\nbody\n", dest,
		    sizeof(dest));
	sink_close(sink);
	char landed[2 * PATH_MAX];
	join(real_new, sizeof(real_new), real, "new");
	snprintf(landed, sizeof(landed), "%s/%s", real_new, strrchr(dest, '/') + 1);
	assert_true(exists(landed));
}

/* A link of our own above the Maildir is the user's choice: followed. */
static void test_open_follows_own_link_above(void **state)
{
	struct fixture *fx = *state;
	char real[PATH_MAX], link_path[PATH_MAX], inside[PATH_MAX];
	join(real, sizeof(real), fx->root, "real");
	assert_int_equal(mkdir(real, 0700), 0);
	join(link_path, sizeof(link_path), fx->root, "Mail");
	assert_int_equal(symlink(real, link_path), 0);
	sink_close(open_ok(fx->maildir));
	join(inside, sizeof(inside), real, "box/new");
	assert_true(exists(inside));
}

/*
 * As root, a Maildir (or one of its directories) that belongs to another
 * user is refused, naming the owner; so is a link of another user's
 * above it.
 */
static void test_open_as_root_refuses_foreign_tree(void **state)
{
	struct fixture *fx = *state;
	if (geteuid() != 0)
		skip(); /* only root is refused; CI runs as root */
	sink_close(open_ok(fx->maildir));
	assert_int_equal(chown(fx->maildir, 65534, 65534), 0);
	open_refused(fx->maildir, fx->maildir, "uid 65534");
	assert_int_equal(chown(fx->maildir, 0, 0), 0);
	char new_path[PATH_MAX];
	sub_path(new_path, sizeof(new_path), fx, "new");
	assert_int_equal(chown(new_path, 65534, 65534), 0);
	open_refused(fx->maildir, new_path, "uid 65534");
	assert_int_equal(chown(new_path, 0, 0), 0);
	sink_close(open_ok(fx->maildir));

	char real[PATH_MAX], link_path[PATH_MAX], through[PATH_MAX];
	join(real, sizeof(real), fx->root, "real");
	assert_int_equal(mkdir(real, 0700), 0);
	join(link_path, sizeof(link_path), fx->root, "Other");
	assert_int_equal(symlink(real, link_path), 0);
	assert_int_equal(lchown(link_path, 65534, 65534), 0);
	join(through, sizeof(through), link_path, "box");
	open_refused(through, link_path, "symbolic link");
	assert_int_equal(lchown(link_path, 0, 0), 0);
	sink_close(open_ok(through));

	/* Another user's link in place of the Maildir itself: not followed. */
	char named[PATH_MAX];
	join(named, sizeof(named), fx->root, "Named");
	assert_int_equal(symlink(through, named), 0);
	assert_int_equal(lchown(named, 65534, 65534), 0);
	open_refused(named, named, "symbolic link");
}

static void test_open_refuses_empty_path(void **state)
{
	(void)state;
	struct sink *sink = NULL;
	struct yb_error err;
	assert_int_equal(maildir_open("", &sink, &err), YB_ERR_IO);
	assert_null(sink);
}

/* ---- delivering --------------------------------------------------------- */

/* Deterministic bytes of every value, CR, LF and NUL included. */
static char *make_big_message(size_t len)
{
	char *data = malloc(len);
	assert_non_null(data);
	uint32_t x = 12345;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (char)(x >> 16);
	}
	return data;
}

/* Write data in chunks of ever-changing, mostly odd sizes. */
static struct sink_msg *deliver_odd_chunks(struct sink *sink, const char *data,
					   size_t len)
{
	static const size_t chunks[] = { 1, 7, 4093, 65535, 65536, 65537,
					 131071, 3, 99999, 65534 };
	struct sink_msg *msg = NULL;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	size_t off = 0;
	for (size_t i = 0; off < len; i++) {
		size_t n = chunks[i % (sizeof(chunks) / sizeof(chunks[0]))];
		if (n > len - off)
			n = len - off;
		assert_int_equal(sink_msg_write(msg, data + off, n, &err),
				 YB_OK);
		off += n;
	}
	assert_int_equal(sink_msg_end(msg, &err), YB_OK);
	return msg;
}

static void test_roundtrip_exact_bytes(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	const char small[] = "From: a@b\nSubject: \r\x01\xff\n\nbody\r\n\0end";
	size_t small_len = sizeof(small) - 1;
	size_t big_len = 3 * 1024 * 1024 + 17;
	char *big = make_big_message(big_len);

	struct sink_msg *msgs[3];
	msgs[0] = deliver(sink, NULL, small, small_len, 3);
	msgs[1] = deliver_odd_chunks(sink, big, big_len);
	msgs[2] = deliver(sink, NULL, "", 0, 1);
	for (int i = 0; i < 3; i++)
		assert_null(sink_msg_dest(msgs[i]));
	prepare_ok(sink);

	const char *contents[3] = { small, big, "" };
	size_t lens[3] = { small_len, big_len, 0 };
	char dests[3][512];
	for (int i = 0; i < 3; i++) {
		const char *dest = sink_msg_dest(msgs[i]);
		assert_non_null(dest);
		assert_dest_shape(dest, "new/", lens[i], NULL);
		snprintf(dests[i], sizeof(dests[i]), "%s", dest);
	}
	assert_string_not_equal(dests[0], dests[1]);
	assert_string_not_equal(dests[1], dests[2]);
	publish_ok(sink);

	assert_int_equal(count_entries(fx, "new"), 3);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	assert_int_equal(count_entries(fx, "cur"), 0);
	for (int i = 0; i < 3; i++) {
		char path[PATH_MAX];
		join(path, sizeof(path), fx->maildir, dests[i]);
		size_t len;
		char *data = slurp(path, &len);
		assert_int_equal(len, lens[i]);
		assert_memory_equal(data, contents[i], len);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		free(data);
	}
	free(big);
	sink_close(sink);
}

static void test_zero_length_writes(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	struct sink_msg *msg = NULL;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	assert_int_equal(sink_msg_write(msg, NULL, 0, &err), YB_OK);
	assert_int_equal(sink_msg_write(msg, "abc", 3, &err), YB_OK);
	assert_int_equal(sink_msg_write(msg, "", 0, &err), YB_OK);
	assert_int_equal(sink_msg_end(msg, &err), YB_OK);
	prepare_ok(sink);
	char dest[512];
	snprintf(dest, sizeof(dest), "%s", sink_msg_dest(msg));
	assert_dest_shape(dest, "new/", 3, NULL);
	publish_ok(sink);
	char path[PATH_MAX];
	join(path, sizeof(path), fx->maildir, dest);
	size_t len;
	char *data = slurp(path, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(data, "abc", 3);
	free(data);
	sink_close(sink);
}

static void test_flags_publish_to_cur(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	struct msg_meta meta = { .flags = SINK_FLAG_SEEN };
	char dest[512];
	deliver_one(sink, &meta, "seen\n", dest, sizeof(dest));
	assert_dest_shape(dest, "cur/", 5, "S");
	char path[PATH_MAX];
	join(path, sizeof(path), fx->maildir, dest);
	assert_true(exists(path));
	assert_int_equal(count_entries(fx, "new"), 0);
	assert_int_equal(count_entries(fx, "cur"), 1);

	/* Several flags, in the Maildir's letters and order, and none. */
	meta.flags = SINK_FLAG_SEEN | SINK_FLAG_FLAGGED | SINK_FLAG_ANSWERED;
	deliver_one(sink, &meta, "x", dest, sizeof(dest));
	assert_dest_shape(dest, "cur/", 1, "FRS");
	meta.flags = SINK_FLAG_DRAFT | SINK_FLAG_DELETED;
	deliver_one(sink, &meta, "x", dest, sizeof(dest));
	assert_dest_shape(dest, "cur/", 1, "DT");
	meta.flags = 0;
	deliver_one(sink, &meta, "x", dest, sizeof(dest));
	assert_dest_shape(dest, "new/", 1, NULL);
	sink_close(sink);
}

/*
 * Neutral flags onto a delivered file: the Maildir's letters replace the
 * old ones, a reader's own letter stays, and the file moves to cur/.
 */
static void test_apply_neutral_flags(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	assert_true(sink_can_apply_flags(sink));
	char dest[512];
	deliver_one(sink, NULL, "flag me\n", dest, sizeof(dest));
	assert_dest_shape(dest, "new/", 8, NULL);
	char new_dest[SINK_DEST_MAX];
	struct yb_error err;
	assert_int_equal(sink_apply_flags(sink, dest, SINK_FLAG_SEEN | SINK_FLAG_DRAFT,
					  new_dest, &err), YB_OK);
	assert_dest_shape(new_dest, "cur/", 8, "DS");
	/* A reader added its own P; the server then says \Answered only. */
	char from[PATH_MAX], to[PATH_MAX], moved[SINK_DEST_MAX];
	join(from, sizeof(from), fx->maildir, new_dest);
	snprintf(moved, sizeof(moved), "%.*sDPS", (int)strlen(new_dest) - 2, new_dest);
	join(to, sizeof(to), fx->maildir, moved);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(sink_apply_flags(sink, moved, SINK_FLAG_ANSWERED, new_dest, &err),
			 YB_OK);
	assert_dest_shape(new_dest, "cur/", 8, "PR");
	/* Bits that name no flag are refused, and nothing moves. */
	char kept[SINK_DEST_MAX];
	snprintf(kept, sizeof(kept), "%s", new_dest);
	assert_int_equal(sink_apply_flags(sink, kept, 1u << 9, new_dest, &err),
			 YB_ERR_INTERNAL);
	join(to, sizeof(to), fx->maildir, kept);
	assert_true(exists(to));
	sink_close(sink);
}

/* What a Maildir holds: one digest per file of new/ and cur/. */
static void test_digests_of_files(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	assert_true(sink_can_digest(sink));
	char dest_new[512], dest_cur[512];
	deliver_one(sink, NULL, "one\n", dest_new, sizeof(dest_new));
	struct msg_meta seen = { .flags = SINK_FLAG_SEEN };
	deliver_one(sink, &seen, "two\n", dest_cur, sizeof(dest_cur));
	struct sink_digest *digests = NULL;
	size_t count = 0;
	struct yb_error err;
	assert_int_equal(sink_digests(sink, NULL, &digests, &count, &err), YB_OK);
	assert_int_equal(count, 2);
	unsigned char one[32], two[32];
	unsigned int len = 0;
	assert_int_equal(EVP_Digest("one\n", 4, one, &len, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_Digest("two\n", 4, two, &len, EVP_sha256(), NULL), 1);
	for (size_t i = 0; i < count; i++) {
		bool is_one = strcmp(digests[i].dest, dest_new) == 0;
		assert_true(is_one || strcmp(digests[i].dest, dest_cur) == 0);
		assert_memory_equal(digests[i].digest, is_one ? one : two, 32);
	}
	free(digests);
	sink_close(sink);
}

static void test_bad_flags_refused(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	/* Bits that name no flag. */
	const uint32_t bad[] = { 1u << 5, 1u << 31, SINK_FLAG_SEEN | (1u << 7) };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct msg_meta meta = { .flags = bad[i] };
		struct sink_msg *msg = NULL;
		struct yb_error err;
		assert_int_equal(sink_msg_begin(sink, &meta, &msg, &err),
				 YB_ERR_INTERNAL);
		assert_null(msg);
	}
	assert_int_equal(count_entries(fx, "tmp"), 0);
	sink_close(sink);
}

static void test_internal_date_sets_mtime(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	struct msg_meta meta = { .internal_date = 1000000000 };
	char dest[512];
	deliver_one(sink, &meta, "old mail\n", dest, sizeof(dest));
	char path[PATH_MAX];
	join(path, sizeof(path), fx->maildir, dest);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mtime, 1000000000);
	assert_int_equal(st.st_atime, 1000000000);

	/* Unknown (0): the file keeps the time it was written. */
	meta.internal_date = 0;
	time_t before = time(NULL);
	deliver_one(sink, &meta, "new mail\n", dest, sizeof(dest));
	join(path, sizeof(path), fx->maildir, dest);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_mtime >= before - 1);
	sink_close(sink);
}

static void test_msg_abort_removes_tmp(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	struct sink_msg *msg = NULL;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	assert_int_equal(sink_msg_write(msg, "partial", 7, &err), YB_OK);
	assert_int_equal(count_entries(fx, "tmp"), 1);
	sink_msg_abort(msg);
	assert_int_equal(count_entries(fx, "tmp"), 0);

	/* An ended message aborted leaves the batch: nothing is published. */
	struct sink_msg *kept = deliver(sink, NULL, "kept", 4, 4);
	struct sink_msg *dropped = deliver(sink, NULL, "dropped", 7, 7);
	sink_msg_abort(dropped);
	assert_int_equal(count_entries(fx, "tmp"), 1);
	prepare_ok(sink);
	assert_dest_shape(sink_msg_dest(kept), "new/", 4, NULL);
	publish_ok(sink);
	assert_int_equal(count_entries(fx, "new"), 1);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	sink_close(sink);
}

static void test_discard_removes_pending(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	for (int i = 0; i < 3; i++)
		deliver(sink, NULL, "pending\n", 8, 2);
	assert_int_equal(count_entries(fx, "tmp"), 3);
	sink_discard(sink);
	assert_int_equal(count_entries(fx, "tmp"), 0);

	/* Prepared (durable) but not published: discarded just the same. */
	deliver(sink, NULL, "prepared\n", 9, 9);
	prepare_ok(sink);
	sink_discard(sink);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	assert_int_equal(count_entries(fx, "new"), 0);

	/* The batch is empty now: publishing it does nothing. */
	publish_ok(sink);
	assert_int_equal(count_entries(fx, "new"), 0);
	sink_close(sink);
}

static void test_close_discards_pending(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	deliver(sink, NULL, "ended\n", 6, 6);
	struct sink_msg *msg = NULL;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	assert_int_equal(count_entries(fx, "tmp"), 2);
	sink_close(sink);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	assert_int_equal(count_entries(fx, "new"), 0);
	sink_close(NULL);
}

static void test_publish_before_prepare_refused(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	deliver(sink, NULL, "early\n", 6, 6);
	struct yb_error err;
	assert_int_equal(sink_publish(sink, &err), YB_ERR_INTERNAL);
	assert_int_equal(count_entries(fx, "new"), 0);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	sink_close(sink);
}

static void test_write_after_end_refused(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	struct sink_msg *msg = deliver(sink, NULL, "done", 4, 4);
	struct yb_error err;
	assert_int_equal(sink_msg_write(msg, "more", 4, &err), YB_ERR_INTERNAL);
	assert_int_equal(sink_msg_end(msg, &err), YB_ERR_INTERNAL);
	prepare_ok(sink);
	assert_dest_shape(sink_msg_dest(msg), "new/", 4, NULL);
	sink_close(sink);
}

/* How many descriptors this process has open. */
static int open_fds(void)
{
	int count = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			count++;
	return count;
}

static void test_large_batch_bounds_open_files(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	int before = open_fds();
	struct sink_msg *msgs[300];
	for (int i = 0; i < 300; i++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "message %d\n", i);
		msgs[i] = deliver(sink, NULL, text, (size_t)len, 4);
	}
	int during = open_fds();
	assert_true(during - before <= 256);
	assert_true(during - before >= 200);
	prepare_ok(sink);
	assert_int_equal(open_fds(), before);
	for (int i = 0; i < 300; i++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "message %d\n", i);
		assert_dest_shape(sink_msg_dest(msgs[i]), "new/", (size_t)len,
				  NULL);
	}
	publish_ok(sink);
	assert_int_equal(count_entries(fx, "new"), 300);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	sink_close(sink);
}

static void test_publish_failure_names_file_and_cleans_tmp(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	deliver(sink, NULL, "one\n", 4, 4);
	deliver(sink, NULL, "two\n", 4, 4);
	prepare_ok(sink);
	/* new/ vanishes under us: the renames cannot land. */
	char new_path[PATH_MAX];
	sub_path(new_path, sizeof(new_path), fx, "new");
	assert_int_equal(rmdir(new_path), 0);
	struct yb_error err;
	assert_int_equal(sink_publish(sink, &err), YB_ERR_IO);
	char tmp_path[PATH_MAX];
	sub_path(tmp_path, sizeof(tmp_path), fx, "tmp");
	assert_non_null(strstr(err.msg, tmp_path));
	assert_int_equal(count_entries(fx, "tmp"), 0);
	sink_close(sink);
}

/* ---- unique names ------------------------------------------------------- */

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_unique_names(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	enum { ROUNDS = 20, PER_ROUND = 500, TOTAL = ROUNDS * PER_ROUND };
	char **all = calloc(TOTAL, sizeof(*all));
	assert_non_null(all);
	char pid_mark[32];
	snprintf(pid_mark, sizeof(pid_mark), "P%ldQ", (long)getpid());
	size_t collected = 0;
	for (int round = 0; round < ROUNDS; round++) {
		struct sink_msg *msgs[PER_ROUND];
		struct yb_error err;
		for (int i = 0; i < PER_ROUND; i++)
			assert_int_equal(sink_msg_begin(sink, NULL, &msgs[i],
							&err), YB_OK);
		size_t count;
		char **names = list_names(fx, "tmp", &count);
		assert_int_equal(count, PER_ROUND);
		for (size_t i = 0; i < count; i++) {
			assert_non_null(strstr(names[i], pid_mark));
			all[collected++] = names[i];
		}
		free(names);
		for (int i = 0; i < PER_ROUND; i++)
			sink_msg_abort(msgs[i]);
	}
	assert_int_equal(collected, TOTAL);
	qsort(all, TOTAL, sizeof(*all), compare_names);
	for (size_t i = 1; i < TOTAL; i++)
		assert_string_not_equal(all[i - 1], all[i]);
	free_names(all, TOTAL);
	sink_close(sink);
}

/* ---- crash recovery ----------------------------------------------------- */

static void test_resolve_present_in_new(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	char dest[512];
	deliver_one(sink, NULL, "hello\n", dest, sizeof(dest));
	bool present = false;
	struct yb_error err;
	assert_int_equal(sink_resolve(sink, dest, &present, &err), YB_OK);
	assert_true(present);
	sink_close(sink);
}

static void test_resolve_present_after_reader_moved_it(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	char dest[512];
	deliver_one(sink, NULL, "read me\n", dest, sizeof(dest));
	/* A mail reader moves new/X to cur/X:2,S. */
	char from[PATH_MAX], to[PATH_MAX], moved[600];
	join(from, sizeof(from), fx->maildir, dest);
	snprintf(moved, sizeof(moved), "cur/%s:2,S", dest + 4);
	join(to, sizeof(to), fx->maildir, moved);
	assert_int_equal(rename(from, to), 0);
	bool present = false;
	struct yb_error err;
	assert_int_equal(sink_resolve(sink, dest, &present, &err), YB_OK);
	assert_true(present);

	/* Published with flags, then the flags were changed. */
	struct msg_meta meta = { .flags = SINK_FLAG_SEEN };
	deliver_one(sink, &meta, "flagged\n", dest, sizeof(dest));
	join(from, sizeof(from), fx->maildir, dest);
	snprintf(moved, sizeof(moved), "%.*sFRS", (int)strlen(dest) - 1, dest);
	join(to, sizeof(to), fx->maildir, moved);
	assert_int_equal(rename(from, to), 0);
	present = false;
	assert_int_equal(sink_resolve(sink, dest, &present, &err), YB_OK);
	assert_true(present);
	sink_close(sink);
}

static void test_resolve_present_when_size_field_dropped(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	char dest[512];
	deliver_one(sink, NULL, "renamed\n", dest, sizeof(dest));
	/* Some readers rebuild the name from the base alone: cur/BASE:2,S. */
	char from[PATH_MAX], to[PATH_MAX], moved[600];
	join(from, sizeof(from), fx->maildir, dest);
	const char *size_mark = strstr(dest, ",S=");
	assert_non_null(size_mark);
	snprintf(moved, sizeof(moved), "cur/%.*s:2,S",
		 (int)(size_mark - dest - 4), dest + 4);
	join(to, sizeof(to), fx->maildir, moved);
	assert_int_equal(rename(from, to), 0);
	bool present = false;
	struct yb_error err;
	assert_int_equal(sink_resolve(sink, dest, &present, &err), YB_OK);
	assert_true(present);
	sink_close(sink);
}

static void test_resolve_absent_removes_tmp(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	struct sink_msg *msg = deliver(sink, NULL, "lost\n", 5, 5);
	prepare_ok(sink);
	char dest[512];
	snprintf(dest, sizeof(dest), "%s", sink_msg_dest(msg));
	/* The run "dies" before publish: the synced tmp file stays. */
	size_t count;
	char **names = list_names(fx, "tmp", &count);
	assert_int_equal(count, 1);
	char tmp_file[PATH_MAX];
	char tmp_dir[PATH_MAX];
	sub_path(tmp_dir, sizeof(tmp_dir), fx, "tmp");
	join(tmp_file, sizeof(tmp_file), tmp_dir, names[0]);
	free_names(names, count);
	sink_close(sink);
	make_file(tmp_file, "lost\n");

	/* Reopening keeps it (our pid made that name in this process). */
	sink = open_ok(fx->maildir);
	assert_true(exists(tmp_file));
	bool present = true;
	struct yb_error err;
	assert_int_equal(sink_resolve(sink, dest, &present, &err), YB_OK);
	assert_false(present);
	assert_false(exists(tmp_file));
	/* Asking again is harmless. */
	present = true;
	assert_int_equal(sink_resolve(sink, dest, &present, &err), YB_OK);
	assert_false(present);
	sink_close(sink);
}

/* A child delivers (publishing or not) and is killed before cleaning up. */
static void crash_in_child(const struct fixture *fx, bool publish, char *dest,
			   size_t dest_size)
{
	int pipe_fds[2];
	assert_int_equal(pipe(pipe_fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sink *sink = NULL;
		struct yb_error err;
		struct sink_msg *msg = NULL;
		if (maildir_open(fx->maildir, &sink, &err) ||
		    sink_msg_begin(sink, NULL, &msg, &err) ||
		    sink_msg_write(msg, "crash\n", 6, &err) ||
		    sink_msg_end(msg, &err) || sink_prepare(sink, &err))
			_exit(1);
		char where[512];
		snprintf(where, sizeof(where), "%s", sink_msg_dest(msg));
		if (publish && sink_publish(sink, &err))
			_exit(1);
		size_t len = strlen(where) + 1;
		if (write(pipe_fds[1], where, len) != (ssize_t)len)
			_exit(1);
		kill(getpid(), SIGKILL); /* as kill -9 would: no clean-up */
		_exit(1);
	}
	close(pipe_fds[1]);
	ssize_t got = read(pipe_fds[0], dest, dest_size);
	close(pipe_fds[0]);
	int wstatus;
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
	assert_true(got > 0 && dest[got - 1] == '\0');
}

static void test_resolve_after_child_crash(void **state)
{
	struct fixture *fx = *state;
	char unpublished[512], published[512];
	/* In this order: each open cleans what the previous child left. */
	crash_in_child(fx, true, published, sizeof(published));
	crash_in_child(fx, false, unpublished, sizeof(unpublished));
	assert_int_equal(count_entries(fx, "tmp"), 1);

	struct sink *sink = open_ok(fx->maildir);
	/* The dead child's tmp file went at open. */
	assert_int_equal(count_entries(fx, "tmp"), 0);
	bool present = true;
	struct yb_error err;
	assert_int_equal(sink_resolve(sink, unpublished, &present, &err),
			 YB_OK);
	assert_false(present);
	assert_int_equal(sink_resolve(sink, published, &present, &err), YB_OK);
	assert_true(present);
	sink_close(sink);
}

static void test_resolve_rejects_hostile_dest(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	char dest[512];
	deliver_one(sink, NULL, "victim\n", dest, sizeof(dest));
	char tmp_dir[PATH_MAX], bait[PATH_MAX];
	sub_path(tmp_dir, sizeof(tmp_dir), fx, "tmp");
	join(bait, sizeof(bait), tmp_dir, "x");
	make_file(bait, "someone else's\n");

	char with_flags_in_new[600], traversal[600], nested[600], ctl[600];
	snprintf(with_flags_in_new, sizeof(with_flags_in_new), "%s:2,S", dest);
	snprintf(traversal, sizeof(traversal), "new/../%s", dest + 4);
	snprintf(nested, sizeof(nested), "new/a/%s", dest + 4);
	snprintf(ctl, sizeof(ctl), "%s\n", dest);
	char too_long[400];
	memset(too_long, 'a', sizeof(too_long) - 1);
	memcpy(too_long, "new/", 4);
	too_long[sizeof(too_long) - 1] = '\0';
	const char *hostile[] = {
		"new/../x", "/etc/passwd", "tmp/x", "new/a/b", "", "new/",
		"cur/", "new/..", "new/x", "new/x,S=1", "NEW/x,S=1",
		"cur/1.M1P1Q1Y0000000g.h,S=1:2,S",
		"new/1.M1P0Q1Y00000000.h,S=1",
		"new/1.M1P1Q1Y00000000.h,S=",
		"new/1.M1P1Q1Y00000000.h,S=1x",
		"new/1.M1P1Q1Y00000000.h,S=1 ",
		"cur/1.M1P1Q1Y00000000.h,S=1:2,/",
		with_flags_in_new, traversal, nested, ctl, too_long, NULL,
	};
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		bool present = true;
		struct yb_error err;
		yb_error_clear(&err);
		assert_int_equal(sink_resolve(sink, hostile[i], &present, &err),
				 YB_ERR_INTERNAL);
		assert_non_null(strstr(err.msg, "bad maildir intent"));
		assert_null(strchr(err.msg, '\n'));
	}
	assert_true(exists(bait));
	assert_int_equal(count_entries(fx, "new"), 1);
	sink_close(sink);
}

/* ---- cleaning tmp/ ------------------------------------------------------ */

static void make_tmp_entry(const struct fixture *fx, const char *name,
			   char *path, size_t size)
{
	char tmp_dir[PATH_MAX];
	sub_path(tmp_dir, sizeof(tmp_dir), fx, "tmp");
	join(path, size, tmp_dir, name);
	make_file(path, "leftover\n");
}

static void test_open_cleans_stale_tmp(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	char host[256];
	host_part(sink, fx, host, sizeof(host));
	sink_close(sink);

	char name[512];
	char stale[PATH_MAX], foreign[PATH_MAX], other_host[PATH_MAX];
	char live[PATH_MAX], own_unissued[PATH_MAX], other_host2[PATH_MAX];
	snprintf(name, sizeof(name), "1700000000.M123456P%ldQ3Y0123abcd.%s",
		 (long)dead_pid(), host);
	make_tmp_entry(fx, name, stale, sizeof(stale));
	make_tmp_entry(fx, "1700000000.12345_1.otherserver", foreign,
		       sizeof(foreign));
	snprintf(name, sizeof(name), "1700000000.M123456P%ldQ3Y0123abcd.%sx",
		 (long)dead_pid(), host);
	make_tmp_entry(fx, name, other_host, sizeof(other_host));
	/* Another host whose name is as long as ours. */
	char same_len_host[256];
	snprintf(same_len_host, sizeof(same_len_host), "%s", host);
	size_t last = strlen(same_len_host) - 1;
	same_len_host[last] = same_len_host[last] == 'q' ? 'r' : 'q';
	snprintf(name, sizeof(name), "1700000000.M123456P%ldQ3Y0123abcd.%s",
		 (long)dead_pid(), same_len_host);
	make_tmp_entry(fx, name, other_host2, sizeof(other_host2));
	snprintf(name, sizeof(name), "1700000000.M123456P%ldQ3Y0123abcd.%s",
		 (long)getppid(), host);
	make_tmp_entry(fx, name, live, sizeof(live));
	/* Our pid, but a seq this process never issued: an earlier process. */
	snprintf(name, sizeof(name),
		 "1700000000.M1P%ldQ%" PRIu64 "Y0123abcd.%s", (long)getpid(),
		 UINT64_MAX, host);
	make_tmp_entry(fx, name, own_unissued, sizeof(own_unissued));

	sink = open_ok(fx->maildir);
	assert_false(exists(stale));
	assert_false(exists(own_unissued));
	assert_true(exists(foreign));
	assert_true(exists(other_host));
	assert_true(exists(other_host2));
	assert_true(exists(live));
	sink_close(sink);
}

static void test_open_spares_tmp_files_in_use(void **state)
{
	struct fixture *fx = *state;
	struct sink *first = open_ok(fx->maildir);
	struct sink_msg *msg = NULL;
	struct yb_error err;
	assert_int_equal(sink_msg_begin(first, NULL, &msg, &err), YB_OK);
	assert_int_equal(sink_msg_write(msg, "in use", 6, &err), YB_OK);
	/* A second sink on the same Maildir in this process. */
	struct sink *second = open_ok(fx->maildir);
	assert_int_equal(count_entries(fx, "tmp"), 1);
	assert_int_equal(sink_msg_end(msg, &err), YB_OK);
	prepare_ok(first);
	publish_ok(first);
	assert_int_equal(count_entries(fx, "new"), 1);
	sink_close(second);
	sink_close(first);
}

/* ---- write failures ----------------------------------------------------- */

static void test_file_size_limit_is_io_error(void **state)
{
	struct fixture *fx = *state;
	struct sink *sink = open_ok(fx->maildir);
	struct rlimit saved;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	struct rlimit limited = saved;
	limited.rlim_cur = 100000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &limited), 0);

	char chunk[4096];
	memset(chunk, 'm', sizeof(chunk));
	struct sink_msg *msg = NULL;
	struct yb_error err;
	yb_error_clear(&err);
	assert_int_equal(sink_msg_begin(sink, NULL, &msg, &err), YB_OK);
	int status = YB_OK;
	for (int i = 0; i < 64 && status == YB_OK; i++)
		status = sink_msg_write(msg, chunk, sizeof(chunk), &err);
	if (status == YB_OK)
		status = sink_msg_end(msg, &err);

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, saved_handler);

	assert_int_equal(status, YB_ERR_IO);
	char tmp_dir[PATH_MAX];
	sub_path(tmp_dir, sizeof(tmp_dir), fx, "tmp");
	assert_non_null(strstr(err.msg, "cannot write"));
	assert_non_null(strstr(err.msg, tmp_dir));
	assert_non_null(strstr(err.msg, strerror(EFBIG)));
	/* The message is spoiled: it cannot be written to or ended. */
	assert_int_equal(sink_msg_write(msg, "x", 1, &err), YB_ERR_IO);
	assert_int_equal(sink_msg_end(msg, &err), YB_ERR_IO);
	assert_int_equal(count_entries(fx, "tmp"), 1);
	sink_msg_abort(msg);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	/* The sink itself still works. */
	char dest[512];
	deliver_one(sink, NULL, "after\n", dest, sizeof(dest));
	assert_int_equal(count_entries(fx, "new"), 1);
	sink_close(sink);
}

/* ---- flags: a mail reader renaming the file meanwhile ------------------- */

#define RACE_BASE "1700000000.M1P2.host"

/* Create a message file at sub/name (making new/ and cur/ as needed). */
static void put_message(const struct fixture *fx, const char *name)
{
	mkdir(fx->root, 0700);
	char mail[PATH_MAX];
	join(mail, sizeof(mail), fx->root, "Mail");
	mkdir(mail, 0700);
	mkdir(fx->maildir, 0700);
	char dir[PATH_MAX];
	sub_path(dir, sizeof(dir), fx, "new");
	mkdir(dir, 0700);
	sub_path(dir, sizeof(dir), fx, "cur");
	mkdir(dir, 0700);
	char path[PATH_MAX];
	sub_path(path, sizeof(path), fx, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("Subject: race\n\nbody\n", f);
	assert_int_equal(fclose(f), 0);
}

static bool message_at(const struct fixture *fx, const char *name)
{
	char path[PATH_MAX];
	sub_path(path, sizeof(path), fx, name);
	struct stat st;
	return lstat(path, &st) == 0;
}

static size_t files_in(const struct fixture *fx, const char *sub)
{
	char path[PATH_MAX];
	sub_path(path, sizeof(path), fx, sub);
	DIR *dir = opendir(path);
	if (!dir)
		return 0;
	size_t count = 0;
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL)
		if (entry->d_name[0] != '.')
			count++;
	closedir(dir);
	return count;
}

/* Found in new/, moved to cur/ by the reader before the rename. */
static void test_flags_after_reader_moved_to_cur(void **state)
{
	struct fixture *fx = *state;
	put_message(fx, "cur/" RACE_BASE ":2,");
	char new_dest[MAILDIR_DEST_MAX];
	struct yb_error err;
	yb_error_clear(&err);
	int rc = maildir_rename_flags(fx->maildir, "new/" RACE_BASE, "S",
				      new_dest, &err);
	if (rc != YB_OK)
		print_error("maildir_rename_flags: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
	assert_string_equal(new_dest, "cur/" RACE_BASE ":2,S");
	assert_true(message_at(fx, "cur/" RACE_BASE ":2,S"));
	assert_int_equal(files_in(fx, "cur"), 1);
	assert_int_equal(files_in(fx, "new"), 0);
}

/* Found as :2,S, renamed to :2,PS by the reader (its own P is kept). */
static void test_flags_after_reader_changed_flags(void **state)
{
	struct fixture *fx = *state;
	put_message(fx, "cur/" RACE_BASE ":2,PS");
	char new_dest[MAILDIR_DEST_MAX];
	struct yb_error err;
	yb_error_clear(&err);
	int rc = maildir_rename_flags(fx->maildir, "cur/" RACE_BASE ":2,S", "RS",
				      new_dest, &err);
	if (rc != YB_OK)
		print_error("maildir_rename_flags: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
	assert_string_equal(new_dest, "cur/" RACE_BASE ":2,PRS");
	assert_true(message_at(fx, "cur/" RACE_BASE ":2,PRS"));
	assert_int_equal(files_in(fx, "cur"), 1);
}

/* Deleted by the reader before the rename: left alone, no error. */
static void test_flags_after_reader_deleted(void **state)
{
	struct fixture *fx = *state;
	put_message(fx, "cur/other:2,S");
	char new_dest[MAILDIR_DEST_MAX] = "x";
	struct yb_error err;
	yb_error_clear(&err);
	int rc = maildir_rename_flags(fx->maildir, "cur/" RACE_BASE ":2,S", "RS",
				      new_dest, &err);
	if (rc != YB_OK)
		print_error("maildir_rename_flags: %s\n", err.msg);
	assert_int_equal(rc, YB_OK);
	assert_string_equal(new_dest, "");
	assert_true(message_at(fx, "cur/other:2,S"));
	assert_int_equal(files_in(fx, "cur"), 1);
}

/* The letters a reader left, read where the file is now: its own P
   ignored, moved from new/ to cur/, or gone. */
static void test_read_flags_after_reader(void **state)
{
	struct fixture *fx = *state;
	put_message(fx, "cur/" RACE_BASE ":2,DPST");
	char found[MAILDIR_DEST_MAX];
	uint32_t flags = 0;
	struct yb_error err;
	yb_error_clear(&err);
	assert_int_equal(maildir_read_flags(fx->maildir, NULL, "new/" RACE_BASE,
					    &flags, found, &err), YB_OK);
	assert_string_equal(found, "cur/" RACE_BASE ":2,DPST");
	assert_int_equal(flags, SINK_FLAG_DRAFT | SINK_FLAG_SEEN | SINK_FLAG_DELETED);
	assert_int_equal(maildir_read_flags(fx->maildir, NULL, "cur/" RACE_BASE ":2,S",
					    &flags, found, &err), YB_OK);
	assert_string_equal(found, "cur/" RACE_BASE ":2,DPST");
	assert_int_equal(maildir_read_flags(fx->maildir, NULL, "cur/gone:2,S", &flags,
					    found, &err), YB_OK);
	assert_string_equal(found, "");
	assert_int_equal(flags, 0);
	assert_int_equal(maildir_read_flags(fx->maildir, NULL, "tmp/x", &flags, found,
					    &err), YB_ERR_INTERNAL);
}

/* cur/'s mtime set seconds ago: as a Maildir no reader touched lately. */
static void age_cur(const struct fixture *fx, int seconds)
{
	char dir[PATH_MAX];
	sub_path(dir, sizeof(dir), fx, "cur");
	struct timespec times[2];
	clock_gettime(CLOCK_REALTIME, &times[0]);
	times[0].tv_sec -= seconds;
	times[1] = times[0];
	assert_int_equal(utimensat(AT_FDCWD, dir, times, 0), 0);
}

/*
 * With the index: 300 files a reader renamed (seeded letters) are found
 * from their stale names; ones deleted afterwards are gone (cur/ listed
 * again, its mtime changed); a file renamed again with cur/'s mtime put
 * back is still found (the index's hit is checked, the scan takes over).
 */
static void test_read_flags_indexed(void **state)
{
	struct fixture *fx = *state;
	enum { FILES = 300 };
	uint32_t want[FILES];
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < FILES; i++) {
		want[i] = (uint32_t)(xorshift_next(&rng) % (SINK_FLAGS_ALL + 1));
		char letters[MAILDIR_LETTERS_SIZE], name[96];
		assert_true(maildir_letters(want[i], letters));
		snprintf(name, sizeof(name), "cur/%d.M%dP1.host:2,%s", 1700000000 + i, i,
			 letters);
		put_message(fx, name);
	}
	age_cur(fx, 10);
	struct maildir_index index;
	maildir_index_init(&index);
	struct yb_error err;
	yb_error_clear(&err);
	char found[MAILDIR_DEST_MAX], stale[96], expect[96];
	uint32_t flags;
	for (int i = 0; i < FILES; i++) {
		snprintf(stale, sizeof(stale), "new/%d.M%dP1.host", 1700000000 + i, i);
		assert_int_equal(maildir_read_flags(fx->maildir, &index, stale, &flags,
						    found, &err), YB_OK);
		assert_int_equal(flags, want[i]);
		assert_int_equal(strncmp(found, "cur/", 4), 0);
	}
	assert_true(index.settled);
	/* A third deleted: cur/ changed, so it is listed again. */
	for (int i = 0; i < FILES; i += 3) {
		char letters[MAILDIR_LETTERS_SIZE], name[96], path[PATH_MAX];
		assert_true(maildir_letters(want[i], letters));
		snprintf(name, sizeof(name), "cur/%d.M%dP1.host:2,%s", 1700000000 + i, i,
			 letters);
		sub_path(path, sizeof(path), fx, name);
		assert_int_equal(unlink(path), 0);
	}
	age_cur(fx, 5);
	for (int i = 0; i < FILES; i++) {
		snprintf(stale, sizeof(stale), "new/%d.M%dP1.host", 1700000000 + i, i);
		assert_int_equal(maildir_read_flags(fx->maildir, &index, stale, &flags,
						    found, &err), YB_OK);
		assert_int_equal(found[0] != '\0', i % 3 != 0);
	}
	/* Renamed once more, cur/'s mtime put back as the index saw it. */
	char from[PATH_MAX], to[PATH_MAX], letters[MAILDIR_LETTERS_SIZE];
	assert_true(maildir_letters(want[1], letters));
	snprintf(stale, sizeof(stale), "cur/1700000001.M1P1.host:2,%s", letters);
	sub_path(from, sizeof(from), fx, stale);
	sub_path(to, sizeof(to), fx, "cur/1700000001.M1P1.host:2,FT");
	struct stat before;
	char cur[PATH_MAX];
	sub_path(cur, sizeof(cur), fx, "cur");
	assert_int_equal(stat(cur, &before), 0);
	assert_int_equal(rename(from, to), 0);
	struct timespec times[2] = { before.st_atim, before.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, cur, times, 0), 0);
	snprintf(expect, sizeof(expect), "new/1700000001.M1P1.host");
	assert_int_equal(maildir_read_flags(fx->maildir, &index, expect, &flags,
					    found, &err), YB_OK);
	assert_string_equal(found, "cur/1700000001.M1P1.host:2,FT");
	assert_int_equal(flags, SINK_FLAG_FLAGGED | SINK_FLAG_DELETED);
	maildir_index_free(&index);
}

/* The letters a dest names, read from the name alone: every set of
   them, in any order, with a reader's own letters mixed in. */
static void test_dest_flags(void **state)
{
	(void)state;
	assert_int_equal(maildir_dest_flags("new/1.M2P3.host"), 0);
	assert_int_equal(maildir_dest_flags("cur/1.M2P3.host:2,"), 0);
	for (uint32_t flags = 0; flags <= SINK_FLAGS_ALL; flags++) {
		char letters[MAILDIR_LETTERS_SIZE], dest[64];
		assert_true(maildir_letters(flags, letters));
		snprintf(dest, sizeof(dest), "cur/1.M2P3.host:2,a%sz", letters);
		assert_int_equal(maildir_dest_flags(dest), flags);
		/* reversed */
		size_t len = strlen(letters);
		for (size_t i = 0; i < len / 2; i++) {
			char c = letters[i];
			letters[i] = letters[len - 1 - i];
			letters[len - 1 - i] = c;
		}
		snprintf(dest, sizeof(dest), "cur/1.M2P3.host:2,%s", letters);
		assert_int_equal(maildir_dest_flags(dest), flags);
	}
}

int main(void)
{
	umask(022);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_maildir),
		T(test_dest_flags),
		T(test_read_flags_indexed),
		T(test_open_existing_with_trailing_slash),
		T(test_open_refuses_regular_file),
		T(test_open_refuses_file_as_subdir),
		T(test_open_refuses_empty_path),
		T(test_open_refuses_symlinked_subdirs),
		T(test_open_follows_own_link_to_maildir),
		T(test_open_follows_own_link_above),
		T(test_open_as_root_refuses_foreign_tree),
		T(test_roundtrip_exact_bytes),
		T(test_zero_length_writes),
		T(test_flags_publish_to_cur),
		T(test_bad_flags_refused),
		T(test_apply_neutral_flags),
		T(test_digests_of_files),
		T(test_internal_date_sets_mtime),
		T(test_msg_abort_removes_tmp),
		T(test_discard_removes_pending),
		T(test_close_discards_pending),
		T(test_publish_before_prepare_refused),
		T(test_write_after_end_refused),
		T(test_large_batch_bounds_open_files),
		T(test_publish_failure_names_file_and_cleans_tmp),
		T(test_unique_names),
		T(test_resolve_present_in_new),
		T(test_resolve_present_after_reader_moved_it),
		T(test_resolve_present_when_size_field_dropped),
		T(test_resolve_absent_removes_tmp),
		T(test_resolve_after_child_crash),
		T(test_resolve_rejects_hostile_dest),
		T(test_open_cleans_stale_tmp),
		T(test_open_spares_tmp_files_in_use),
		T(test_file_size_limit_is_io_error),
		T(test_flags_after_reader_moved_to_cur),
		T(test_flags_after_reader_changed_flags),
		T(test_flags_after_reader_deleted),
		T(test_read_flags_after_reader),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
