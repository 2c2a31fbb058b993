/*
 * disk_floor.c - the disk's share of a fetch: the same message files
 * written into a fresh Maildir with the syncs yubin's Maildir sink makes,
 * and no network at all.  A yardstick for `make bench`, not part of yubin.
 *
 *   disk_floor [--per-file] DEST SOURCE...
 *
 * Writes a file for every file in SOURCE/new and SOURCE/cur (each SOURCE a
 * Maildir), of the same size, to DEST/tmp, in batches as yubin makes them
 * (128 messages or 16 MiB, whichever comes first): each file is written,
 * then the batch is made durable with one syncfs of the filesystem (a
 * batch of one file: its fsync and tmp/'s), as yubin does on ext4, XFS
 * and Btrfs; then the batch is renamed into new/ and new/ is fsynced.
 * With --per-file, as yubin does elsewhere: writeback is started for the
 * whole batch, then each file is fsynced, then tmp/.  yubin also syncs its
 * state journal twice a batch; that is left out, so this stays a floor.
 * The sources are only measured (fstatat), never read: yubin has each
 * message's bytes in memory, from the network, when it writes them, and
 * the server's reads of its own Maildir are the server's cost.  Reading
 * them here would put those reads (in directory order, on a cold cache
 * queued behind the floor's own syncs) into the floor, which must stay
 * below yubin.  Prints "MESSAGES BYTES".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH_MESSAGES 128
#define BATCH_BYTES (16u << 20)

struct batch {
	int fds[BATCH_MESSAGES];
	char names[BATCH_MESSAGES][64];
	size_t len;
	uint64_t bytes;
};

static int tmp_fd = -1, new_fd = -1;
static int per_file;
static unsigned long long serial, total_bytes;

static void die(const char *what, const char *name)
{
	fprintf(stderr, "disk_floor: %s %s: %s\n", what, name, strerror(errno));
	exit(1);
}

static void sync_fd(int fd, const char *name)
{
	if (fsync(fd) != 0)
		die("cannot sync", name);
}

static void flush_batch(struct batch *batch)
{
	if (!per_file && batch->len >= 2) {
		for (size_t i = 0; i < batch->len; i++)
			close(batch->fds[i]);
		if (syncfs(tmp_fd) != 0)
			die("cannot sync the filesystem of", "tmp/");
		goto publish;
	}
	for (size_t i = 0; i < batch->len; i++)
		(void)sync_file_range(batch->fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (size_t i = 0; i < batch->len; i++) {
		sync_fd(batch->fds[i], batch->names[i]);
		close(batch->fds[i]);
	}
	if (batch->len)
		sync_fd(tmp_fd, "tmp/");
publish:
	for (size_t i = 0; i < batch->len; i++)
		if (renameat(tmp_fd, batch->names[i], new_fd, batch->names[i]))
			die("cannot rename", batch->names[i]);
	if (batch->len)
		sync_fd(new_fd, "new/");
	batch->len = 0;
	batch->bytes = 0;
}

/* Write SIZE bytes from a buffer into OUT (what yubin does with what the
   network gave it). */
static void write_size(int out, uint64_t size, const char *out_name)
{
	static char buf[1 << 16];
	if (!buf[0])
		memset(buf, 'x', sizeof(buf));
	while (size > 0) {
		size_t chunk = size < sizeof(buf) ? (size_t)size : sizeof(buf);
		if (write(out, buf, chunk) != (ssize_t)chunk)
			die("cannot write", out_name);
		size -= chunk;
	}
}

/* A file as large as NAME in directory SRC_FD, made in tmp/; add it to
   BATCH. */
static void copy_one(int src_fd, const char *name, struct batch *batch)
{
	struct stat st;
	if (fstatat(src_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		die("cannot stat", name);
	if (!S_ISREG(st.st_mode))
		return;
	char *out_name = batch->names[batch->len];
	snprintf(out_name, sizeof(batch->names[0]), "%llu.floor", ++serial);
	int out = openat(tmp_fd, out_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		die("cannot create", out_name);
	write_size(out, (uint64_t)st.st_size, out_name);
	batch->bytes += (uint64_t)st.st_size;
	total_bytes += (unsigned long long)st.st_size;
	batch->fds[batch->len++] = out;
	if (batch->len == BATCH_MESSAGES || batch->bytes >= BATCH_BYTES)
		flush_batch(batch);
}

static void copy_dir(const char *maildir, const char *sub, struct batch *batch)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", maildir, sub);
	DIR *dir = opendir(path);
	if (!dir)
		die("cannot open directory", path);
	struct dirent *entry;
	while ((entry = readdir(dir)))
		if (entry->d_name[0] != '.')
			copy_one(dirfd(dir), entry->d_name, batch);
	closedir(dir);
}

static int make_sub(const char *dest, const char *sub)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dest, sub);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		die("cannot make", path);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open", path);
	return fd;
}

int main(int argc, char **argv)
{
	static struct batch batch;
	if (argc > 1 && strcmp(argv[1], "--per-file") == 0) {
		per_file = 1;
		argv++;
		argc--;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: disk_floor [--per-file] DEST SOURCE-MAILDIR...\n");
		return 2;
	}
	if (mkdir(argv[1], 0700) != 0 && errno != EEXIST)
		die("cannot make", argv[1]);
	tmp_fd = make_sub(argv[1], "tmp");
	new_fd = make_sub(argv[1], "new");
	close(make_sub(argv[1], "cur"));
	for (int i = 2; i < argc; i++) {
		copy_dir(argv[i], "new", &batch);
		copy_dir(argv[i], "cur", &batch);
	}
	flush_batch(&batch);
	printf("%llu %llu\n", serial, total_bytes);
	return 0;
}
