/*
 * maildir.c - the Maildir sink.
 *
 * A message is written to tmp/NAME through a fixed-size buffer, so memory
 * does not grow with its size.  sink_prepare makes a whole batch durable
 * (group commit): with one sync of the filesystem where fs_sync.h allows
 * it, since each fsync would cost a flush of the disk's cache; else with
 * one pass of writeback, one fsync per file and one fsync of tmp/.
 * sink_publish renames each file into new/ or cur/ and then fsyncs those
 * directories once, because a rename is durable only once its directory
 * is synced.
 *
 * All directory work goes through descriptors of tmp/, new/ and cur/ held
 * for the sink's life (the *at() calls), so a name from outside can never
 * reach another directory.  Those directories are opened without
 * following a symbolic link and, when yubin runs as root, only if root
 * owns them (fileio.h): a user who may write in the Maildir cannot swap
 * in a link to lead root's writes elsewhere.  Error texts name the full
 * path.
 */
#include "config.h"

#include "maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "clock.h"
#include "fileio.h"
#include "fs_sync.h"
#include "log.h"
#include "maildir_flags.h"
#include "maildir_index.h"
#include "sink_batch.h"
#include "testhook.h"
#include "text.h"

/*
 * Ended messages keep their file open until prepare, so that one pass of
 * writeback covers the batch.  Past this many, a message is synced and
 * closed at msg_end so a large batch cannot run out of descriptors.
 */
#define MAX_OPEN_PENDING 256

/*
 * The escaped host name is cut to this length, so that the longest dest
 * file name ("NAME,S=SIZE:2,FLAGS") stays within NAME_MAX: the rest of
 * NAME is at most 70 bytes, ",S=SIZE:2," 26 and FLAGS 52.
 */
#define HOST_PART_MAX 96

/* Maildir flags are ASCII letters, each at most once, in ASCII order. */
#define FLAGS_MAX 52

/* Attempts at a fresh name when one is taken (a clash is near impossible). */
#define NAME_ATTEMPTS 3

struct maildir;

/* MSG_PREPARED (sink_batch.h): durable in tmp/, dest is known. */
struct maildir_msg {
	struct batch_msg item;          /* first: in the sink's batch */
	struct maildir *maildir;        /* not owned */
	int fd;                         /* tmp file; -1 once closed */
	uint64_t size;                  /* bytes accepted by msg_write */
	time_t internal_date;           /* 0: leave the file's times alone */
	char flags[FLAGS_MAX + 1];
	char name[NAME_MAX + 1];        /* file name in tmp/ */
	char dest[4 + NAME_MAX + 1];    /* "new/..." or "cur/...", prepared */
	struct write_buffer out;        /* until ended */
};

struct maildir {
	struct sink base;               /* first: the sink interface */
	char *path;                     /* owned; no trailing '/' */
	char host[HOST_PART_MAX + 1];   /* escaped host name for file names */
	int tmp_fd, new_fd, cur_fd;     /* directory descriptors, owned */
	struct sink_batch batch;        /* every live message */
	size_t open_pending;            /* ended messages whose fd is open */
	bool batch_failed;              /* prepare failed: only discard left */
	bool fs_sync_usable;            /* fs_sync_usable() of tmp/ */
	size_t fs_syncs_left;           /* batches that may still use it */
	bool look_at_unwritten;         /* fs_sync_cheap() before each */
	char *spare_buffer;             /* owned; a write buffer for the next message */
	struct maildir_index cur_index; /* owned: where renamed files went */
};

/* Issued names in this process; part of every name, so names never repeat. */
static uint64_t names_issued;

/* ---- small helpers ---------------------------------------------------- */

static const char *sub_dir_name(const struct maildir *maildir, int dir_fd)
{
	if (dir_fd == maildir->new_fd)
		return "new";
	if (dir_fd == maildir->cur_fd)
		return "cur";
	return "tmp";
}

/* ---- names -------------------------------------------------------------- */

/*
 * The host part of a name, as the Maildir convention escapes it ('/' as
 * \057, ':' as \072); ',' and '\' and anything not printable are escaped
 * too, so ",S=" and ":2," in a name are always ours, and a '.' that would
 * make "..".  Cut at HOST_PART_MAX.
 */
static void escape_host(const char *hostname, char *out, size_t out_size)
{
	size_t used = 0;
	for (const char *p = hostname; *p; p++) {
		unsigned char c = (unsigned char)*p;
		/* NAME has '.' before HOST: no ".." may appear (parse_dest). */
		bool dot_after_dot = c == '.' &&
				     (used == 0 || out[used - 1] == '.');
		bool plain = c > 0x20 && c < 0x7f && c != '/' && c != ':' &&
			     c != ',' && c != '\\' && !dot_after_dot;
		size_t need = plain ? 1 : 4;
		if (used + need + 1 > out_size)
			break;
		if (plain)
			out[used++] = (char)c;
		else {
			int written = snprintf(out + used, out_size - used,
					       "\\%03o", c);
			if (written != 4)
				break;
			used += 4;
		}
	}
	out[used] = '\0';
	if (used == 0)
		snprintf(out, out_size, "%s", "localhost");
}

static int load_host(struct maildir *maildir, struct yb_error *err)
{
	char hostname[256];
	if (gethostname(hostname, sizeof(hostname)) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot get the host name for Maildir %s",
				     maildir->path);
	hostname[sizeof(hostname) - 1] = '\0';
	escape_host(hostname, maildir->host, sizeof(maildir->host));
	return YB_OK;
}

/* SECONDS.M<usec>P<pid>Q<seq>Y<8 hex random>.HOST into name. */
static int make_name(const struct maildir *maildir, char *name, size_t size,
		     struct yb_error *err)
{
	struct timespec now;
	if (clock_gettime(CLOCK_REALTIME, &now) != 0)
		return yb_fail_errno(err, YB_ERR_INTERNAL, errno,
				     "cannot read the clock for Maildir %s",
				     maildir->path);
	unsigned char random_bytes[4];
	if (RAND_bytes(random_bytes, sizeof(random_bytes)) != 1)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "cannot get random bytes for a name in Maildir %s",
			       maildir->path);
	uint32_t random_value = (uint32_t)random_bytes[0] << 24 |
				(uint32_t)random_bytes[1] << 16 |
				(uint32_t)random_bytes[2] << 8 |
				(uint32_t)random_bytes[3];
	long long seconds = now.tv_sec < 0 ? 0 : (long long)now.tv_sec;
	int written = snprintf(name, size,
			       "%lld.M%06ldP%ldQ%" PRIu64 "Y%08" PRIx32 ".%s",
			       seconds, (long)(now.tv_nsec / 1000),
			       (long)getpid(), names_issued++, random_value,
			       maildir->host);
	if (written < 0 || (size_t)written >= size)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "file name too long for Maildir %s",
			       maildir->path);
	return YB_OK;
}

/* The length of a run of decimal digits at p (at most limit bytes). */
static size_t digit_run(const char *p, size_t limit)
{
	size_t n = 0;
	while (n < limit && p[n] >= '0' && p[n] <= '9')
		n++;
	return n;
}

/* Parse DIGITS followed by the byte end at *p; advances *p past end. */
static bool take_number(const char **p, const char *stop, char end,
			unsigned long long max, unsigned long long *value)
{
	size_t n = digit_run(*p, (size_t)(stop - *p));
	if (n == 0 || *p + n >= stop || (*p)[n] != end)
		return false;
	if (!text_parse_u64(*p, n, max, value))
		return false;
	*p += n + 1;
	return true;
}

struct name_parts {
	pid_t pid;
	uint64_t seq;
	const char *host; /* points into the parsed name */
	size_t host_len;
};

/*
 * Is name[0..len) a name this program makes (see make_name)?  Anything
 * else in a shared Maildir belongs to someone else and is left alone.
 */
static bool parse_name(const char *name, size_t len, struct name_parts *parts)
{
	const char *p = name;
	const char *stop = name + len;
	unsigned long long value;
	if (!take_number(&p, stop, '.', ULLONG_MAX, &value) ||
	    p >= stop || *p++ != 'M' ||
	    !take_number(&p, stop, 'P', 999999, &value) ||
	    !take_number(&p, stop, 'Q', INT_MAX, &value) || value == 0)
		return false;
	parts->pid = (pid_t)value;
	if (!take_number(&p, stop, 'Y', UINT64_MAX, &value))
		return false;
	parts->seq = value;
	for (int i = 0; i < 8; i++, p++) {
		if (p >= stop || !((*p >= '0' && *p <= '9') ||
				   (*p >= 'a' && *p <= 'f')))
			return false;
	}
	if (p >= stop || *p++ != '.' || p >= stop)
		return false;
	parts->host = p;
	parts->host_len = (size_t)(stop - p);
	for (; p < stop; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || c == '/' || c == ':' || c == ',')
			return false;
	}
	return true;
}

/* ---- opening ------------------------------------------------------------ */

/*
 * Open the Maildir itself, creating it and its missing parents.  Through
 * a symbolic link only of root's or the user's own (dir_open_path), and
 * as root only a Maildir of root's.
 */
static int open_root(const char *path, int *root_fd, struct yb_error *err)
{
	size_t fault_len;
	int rc = dir_open_path(path, true, root_fd, &fault_len);
	if (rc)
		return dest_fail_path(err, "Maildir", path, path, rc, fault_len);
	struct stat st;
	if (fstat(*root_fd, &st) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno, "cannot stat Maildir %s",
				     path);
	return dest_check_owner(err, "Maildir", path, &st);
}

/*
 * Open (creating if missing) one of tmp, new, cur.  Never through a
 * symbolic link: every later file operation is relative to this
 * descriptor, so once it is open nothing can redirect a message.
 */
static int open_sub_dir(struct maildir *maildir, int root_fd, const char *sub,
			bool *created, int *out, struct yb_error *err)
{
	char sub_path[PATH_MAX];
	if (!text_format(sub_path, sizeof(sub_path), "%s/%s", maildir->path,
			 sub))
		return yb_fail(err, YB_ERR_IO, "Maildir path too long: %s",
			       maildir->path);
	if (mkdirat(root_fd, sub, 0700) == 0)
		*created = true;
	else if (errno != EEXIST)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot create directory %s", sub_path);
	*out = dir_open_at(root_fd, sub);
	if (*out < 0)
		return dest_fail_path(err, "Maildir", sub_path, sub_path, errno,
				      strlen(sub_path));
	struct stat st;
	if (fstat(*out, &st) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno, "cannot stat %s",
				     sub_path);
	int status = dest_check_owner(err, "Maildir", sub_path, &st);
	if (status)
		return status;
	/* Fail now rather than after a whole message came over the wire. */
	if (faccessat(*out, ".", R_OK | W_OK | X_OK, AT_EACCESS) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno, "cannot use %s",
				     sub_path);
	return YB_OK;
}

static int open_sub_dirs(struct maildir *maildir, struct yb_error *err)
{
	int root_fd = -1;
	int status = open_root(maildir->path, &root_fd, err);
	if (status)
		return status;
	bool created = false;
	status = open_sub_dir(maildir, root_fd, "tmp", &created,
			      &maildir->tmp_fd, err);
	if (!status)
		status = open_sub_dir(maildir, root_fd, "new", &created,
				      &maildir->new_fd, err);
	if (!status)
		status = open_sub_dir(maildir, root_fd, "cur", &created,
				      &maildir->cur_fd, err);
	if (!status && created && fd_sync(root_fd) != 0)
		status = yb_fail_errno(err, YB_ERR_IO, errno,
				       "cannot sync directory %s",
				       maildir->path);
	fd_close(&root_fd);
	return status;
}

/* Open a second descriptor on dir_fd (tmp, new or cur) to list it. */
static int open_listing(const struct maildir *maildir, int dir_fd, DIR **dir,
			struct yb_error *err)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (*dir)
		return YB_OK;
	int saved = errno;
	fd_close(&fd);
	return yb_fail_errno(err, YB_ERR_IO, saved, "cannot list %s/%s",
			     maildir->path, sub_dir_name(maildir, dir_fd));
}

/* The next entry of the listing of dir_fd into *entry (NULL at its end). */
static int next_entry(const struct maildir *maildir, int dir_fd, DIR *dir,
		      struct dirent **entry, struct yb_error *err)
{
	errno = 0;
	*entry = readdir(dir);
	if (!*entry && errno != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno, "cannot list %s/%s",
				     maildir->path,
				     sub_dir_name(maildir, dir_fd));
	return YB_OK;
}

/*
 * Was the tmp/ file with these name parts left by a yubin process that is
 * gone?  Only names made on this host can be judged (a pid means nothing
 * elsewhere).  Our own pid: a file we did not make (its seq is one we have
 * not issued) is from an earlier process that had our pid.
 */
static bool is_stale(const struct maildir *maildir,
		     const struct name_parts *parts)
{
	if (parts->host_len != strlen(maildir->host) ||
	    memcmp(parts->host, maildir->host, parts->host_len) != 0)
		return false;
	if (parts->pid == getpid())
		return parts->seq >= names_issued;
	return kill(parts->pid, 0) != 0 && errno == ESRCH;
}

static int remove_if_stale(struct maildir *maildir, const char *name,
			   struct yb_error *err)
{
	struct name_parts parts;
	if (!parse_name(name, strlen(name), &parts) ||
	    !is_stale(maildir, &parts))
		return YB_OK;
	struct stat st;
	if (fstatat(maildir->tmp_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISREG(st.st_mode))
		return YB_OK;
	if (unlinkat(maildir->tmp_fd, name, 0) != 0 && errno != ENOENT)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot remove stale %s/tmp/%s",
				     maildir->path, name);
	return YB_OK;
}

/* Remove what dead yubin runs left in tmp/; other files are not ours. */
static int clean_tmp(struct maildir *maildir, struct yb_error *err)
{
	DIR *dir;
	int status = open_listing(maildir, maildir->tmp_fd, &dir, err);
	if (status)
		return status;
	struct dirent *entry;
	for (;;) {
		status = next_entry(maildir, maildir->tmp_fd, dir, &entry, err);
		if (status || !entry)
			break;
		status = remove_if_stale(maildir, entry->d_name, err);
		if (status)
			break;
	}
	closedir(dir);
	return status;
}

/* ---- messages ----------------------------------------------------------- */

/* Close, unlink the tmp file (if unlink_tmp), unlist and free a message. */
static void drop_msg(struct maildir_msg *msg, bool unlink_tmp)
{
	struct maildir *maildir = msg->maildir;
	if (msg->fd >= 0 && msg->item.state != MSG_WRITING)
		maildir->open_pending--;
	fd_close(&msg->fd);
	if (unlink_tmp)
		unlinkat(maildir->tmp_fd, msg->name, 0);
	sink_batch_remove(&maildir->batch, &msg->item);
	write_buffer_release(&msg->out, &maildir->spare_buffer);
	free(msg);
}

/* For sink_batch_drop: a message not published, its tmp file unlinked. */
static void drop_unpublished(struct batch_msg *item)
{
	drop_msg((struct maildir_msg *)item, true);
}

static int create_tmp_file(struct maildir *maildir, struct maildir_msg *msg,
			   struct yb_error *err)
{
	for (int attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
		int status = make_name(maildir, msg->name, sizeof(msg->name),
				       err);
		if (status)
			return status;
		msg->fd = openat(maildir->tmp_fd, msg->name,
				 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				 O_CLOEXEC, 0600);
		if (msg->fd >= 0)
			return YB_OK;
		if (errno != EEXIST)
			break;
	}
	return yb_fail_errno(err, YB_ERR_IO, errno, "cannot create %s/tmp/%s",
			     maildir->path, msg->name);
}

static int maildir_msg_begin(struct sink *sink, const struct msg_meta *meta,
			     struct sink_msg **out, struct yb_error *err)
{
	struct maildir *maildir = (struct maildir *)sink;
	char flags[MAILDIR_LETTERS_SIZE];
	if (!maildir_letters(meta ? meta->flags : 0, flags))
		return yb_fail(err, YB_ERR_INTERNAL,
			       "bad flags for a message to %s", maildir->path);
	struct maildir_msg *msg = calloc(1, sizeof(*msg));
	if (!msg)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (write_buffer_start(&msg->out, &maildir->spare_buffer) != 0) {
		free(msg);
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	}
	msg->item.base.sink = sink;
	msg->maildir = maildir;
	msg->item.state = MSG_WRITING;
	msg->internal_date = meta && meta->internal_date > 0 ?
			     meta->internal_date : 0;
	memcpy(msg->flags, flags, strlen(flags) + 1);
	int status = create_tmp_file(maildir, msg, err);
	if (status) {
		write_buffer_release(&msg->out, &maildir->spare_buffer);
		free(msg);
		return status;
	}
	sink_batch_add(&maildir->batch, &msg->item);
	*out = &msg->item.base;
	return YB_OK;
}

static int fail_write(struct maildir_msg *msg, int errnum, struct yb_error *err)
{
	msg->item.failed = true;
	return yb_fail_errno(err, YB_ERR_IO, errnum, "cannot write %s/tmp/%s",
			     msg->maildir->path, msg->name);
}

static int check_writable(const struct maildir_msg *msg, struct yb_error *err)
{
	if (msg->item.state != MSG_WRITING)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "write to %s/tmp/%s after its end",
			       msg->maildir->path, msg->name);
	if (msg->item.failed)
		return yb_fail(err, YB_ERR_IO,
			       "cannot write %s/tmp/%s: an earlier write failed",
			       msg->maildir->path, msg->name);
	return YB_OK;
}

static int flush_buffer(struct maildir_msg *msg, struct yb_error *err)
{
	int rc = write_buffer_flush(&msg->out, msg->fd);
	return rc ? fail_write(msg, rc, err) : YB_OK;
}

static int maildir_msg_write(struct sink_msg *base, const char *data,
			     size_t len, struct yb_error *err)
{
	struct maildir_msg *msg = (struct maildir_msg *)base;
	int status = check_writable(msg, err);
	if (status || len == 0)
		return status;
	/* A file offset is an off_t: stay within it. */
	if (len > (uint64_t)INT64_MAX - msg->size)
		return fail_write(msg, EFBIG, err);
	int rc = write_buffer_put(&msg->out, msg->fd, data, len);
	if (rc)
		return fail_write(msg, rc, err);
	msg->size += len;
	return YB_OK;
}

static int sync_and_close(struct maildir_msg *msg, struct yb_error *err)
{
	int rc = fd_sync(msg->fd);
	int closed = fd_close(&msg->fd);
	if (rc || closed)
		return yb_fail_errno(err, YB_ERR_IO, rc ? rc : closed,
				     "cannot sync %s/tmp/%s",
				     msg->maildir->path, msg->name);
	return YB_OK;
}

/* The file must hold exactly what was accepted; its times the message's. */
static int finish_file(struct maildir_msg *msg, struct yb_error *err)
{
	const char *path = msg->maildir->path;
	struct stat st;
	if (fstat(msg->fd, &st) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot stat %s/tmp/%s", path, msg->name);
	if (st.st_size < 0 || (uint64_t)st.st_size != msg->size)
		return yb_fail(err, YB_ERR_IO,
			       "%s/tmp/%s holds %lld bytes, not %" PRIu64,
			       path, msg->name, (long long)st.st_size,
			       msg->size);
	if (msg->internal_date > 0) {
		struct timespec times[2] = {
			{ .tv_sec = msg->internal_date, .tv_nsec = 0 },
			{ .tv_sec = msg->internal_date, .tv_nsec = 0 },
		};
		if (futimens(msg->fd, times) != 0)
			return yb_fail_errno(err, YB_ERR_IO, errno,
					     "cannot set the time of %s/tmp/%s",
					     path, msg->name);
	}
	return YB_OK;
}

static int maildir_msg_end(struct sink_msg *base, struct yb_error *err)
{
	struct maildir_msg *msg = (struct maildir_msg *)base;
	struct maildir *maildir = msg->maildir;
	int status = check_writable(msg, err);
	if (status)
		return status;
	status = flush_buffer(msg, err);
	if (!status)
		status = finish_file(msg, err);
	if (!status && maildir->open_pending >= MAX_OPEN_PENDING)
		status = sync_and_close(msg, err);
	if (status) {
		msg->item.failed = true;
		return status;
	}
	write_buffer_release(&msg->out, &maildir->spare_buffer);
	msg->item.state = MSG_ENDED;
	if (msg->fd >= 0)
		maildir->open_pending++;
	return YB_OK;
}

static void maildir_msg_abort(struct sink_msg *base)
{
	drop_msg((struct maildir_msg *)base, true);
}

/* ---- the batch ---------------------------------------------------------- */

/*
 * Ask the kernel to start writing a file back now, so the fsyncs that
 * follow overlap instead of each waiting in turn.  Only a hint.
 */
static int start_writeback(int fd)
{
#ifdef SYNC_FILE_RANGE_WRITE
	if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) != 0 &&
	    errno != EINVAL && errno != ENOSYS && errno != ESPIPE &&
	    errno != EOPNOTSUPP)
		return errno;
#else
	(void)fd;
#endif
	return 0;
}

static int set_dest(struct maildir_msg *msg, struct yb_error *err)
{
	int written;
	if (msg->flags[0])
		written = snprintf(msg->dest, sizeof(msg->dest),
				   "cur/%s,S=%" PRIu64 ":2,%s", msg->name,
				   msg->size, msg->flags);
	else
		written = snprintf(msg->dest, sizeof(msg->dest),
				   "new/%s,S=%" PRIu64, msg->name, msg->size);
	if (written < 0 || (size_t)written >= sizeof(msg->dest) ||
	    (size_t)written - 4 > NAME_MAX)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "name too long for %s/tmp/%s",
			       msg->maildir->path, msg->name);
	return YB_OK;
}

/*
 * Whether one sync of the filesystem should make this batch durable: it
 * must be allowed there (fs_sync.h) and have at least two open files, for
 * one fsync costs no more than one syncfs.
 */
static bool batch_wants_fs_sync(struct maildir *maildir)
{
	size_t open_files = 0;
	uint64_t bytes = 0;
	if (!maildir->fs_sync_usable || maildir->fs_syncs_left == 0)
		return false;
	for (struct batch_msg *b = maildir->batch.head; b; b = b->next) {
		const struct maildir_msg *m = (const struct maildir_msg *)b;
		if (b->state != MSG_ENDED || m->fd < 0)
			continue;
		open_files++;
		bytes += m->size; /* each below INT64_MAX; batches are small */
	}
	return open_files >= 2 &&
	       (!maildir->look_at_unwritten || fs_sync_cheap(bytes));
}

/* Close the batch's files, then one syncfs for their data and tmp/. */
static int fs_sync_batch(struct maildir *maildir, struct yb_error *err)
{
	size_t synced = 0;
	for (struct batch_msg *b = maildir->batch.head; b; b = b->next) {
		struct maildir_msg *m = (struct maildir_msg *)b;
		if (b->state != MSG_ENDED || m->fd < 0)
			continue;
		maildir->open_pending--;
		int rc = fd_close(&m->fd);
		if (rc)
			return yb_fail_errno(err, YB_ERR_IO, rc,
					     "cannot close %s/tmp/%s",
					     maildir->path, m->name);
		synced++;
	}
	maildir->fs_syncs_left--;
	int64_t started = clock_now_ms();
	int rc = fs_sync(maildir->tmp_fd);
	if (rc)
		return yb_fail_errno(err, YB_ERR_IO, rc,
				     "cannot sync the filesystem of %s",
				     maildir->path);
	log_debug("%s: %zu messages made durable by one sync of the filesystem",
		  maildir->path, synced);
	if (clock_now_ms() - started > FS_SYNC_SLOW_MS) {
		maildir->fs_sync_usable = false;
		log_debug("%s: that sync waited for other writes; "
			  "syncing file by file from now on", maildir->path);
	}
	return YB_OK;
}

/* fsync each file of the batch, then tmp/. */
static int fsync_batch(struct maildir *maildir, struct yb_error *err)
{
	bool any = false;
	for (struct batch_msg *b = maildir->batch.head; b; b = b->next) {
		struct maildir_msg *m = (struct maildir_msg *)b;
		if (b->state != MSG_ENDED || m->fd < 0)
			continue;
		int rc = start_writeback(m->fd);
		if (rc)
			return yb_fail_errno(err, YB_ERR_IO, rc,
					     "cannot sync %s/tmp/%s",
					     maildir->path, m->name);
	}
	for (struct batch_msg *b = maildir->batch.head; b; b = b->next) {
		struct maildir_msg *m = (struct maildir_msg *)b;
		if (b->state != MSG_ENDED)
			continue;
		any = true;
		if (m->fd < 0)
			continue; /* synced early at msg_end */
		maildir->open_pending--;
		int status = sync_and_close(m, err);
		if (status)
			return status;
	}
	if (any && fd_sync(maildir->tmp_fd) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot sync directory %s/tmp",
				     maildir->path);
	return YB_OK;
}

static int prepare_batch(struct maildir *maildir, struct yb_error *err)
{
	int status = batch_wants_fs_sync(maildir) ?
		     fs_sync_batch(maildir, err) : fsync_batch(maildir, err);
	if (status)
		return status;
	for (struct batch_msg *b = maildir->batch.head; b; b = b->next) {
		if (b->state != MSG_ENDED)
			continue;
		status = set_dest((struct maildir_msg *)b, err);
		if (status)
			return status;
		b->state = MSG_PREPARED;
	}
	return YB_OK;
}

static int maildir_prepare(struct sink *sink, struct yb_error *err)
{
	struct maildir *maildir = (struct maildir *)sink;
	if (maildir->batch_failed)
		return yb_fail(err, YB_ERR_IO,
			       "cannot sync to %s: an earlier sync failed",
			       maildir->path);
	int status = prepare_batch(maildir, err);
	/* After a failed fsync the page cache cannot be trusted: no retry. */
	if (status)
		maildir->batch_failed = true;
	return status;
}

static const char *maildir_msg_dest(const struct sink_msg *base)
{
	const struct maildir_msg *msg = (const struct maildir_msg *)base;
	return msg->item.state == MSG_PREPARED ? msg->dest : NULL;
}

/* Free every message of the batch, unlinking the tmp files still there. */
static void drop_batch(struct maildir *maildir)
{
	sink_batch_drop(&maildir->batch, BATCH_PAST_WRITING, drop_unpublished);
	maildir->batch_failed = false;
}

static int publish_one(struct maildir *maildir, struct maildir_msg *msg,
		       bool *used_new, bool *used_cur, struct yb_error *err)
{
	bool to_cur = msg->dest[0] == 'c';
	int dir_fd = to_cur ? maildir->cur_fd : maildir->new_fd;
	if (renameat(maildir->tmp_fd, msg->name, dir_fd, msg->dest + 4) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot move %s/tmp/%s to %s/%s",
				     maildir->path, msg->name, maildir->path,
				     msg->dest);
	if (to_cur)
		*used_cur = true;
	else
		*used_new = true;
	/* The tmp file is gone: the message must not be unlinked again. */
	drop_msg(msg, false);
	/* A kill between two renames leaves a batch half published. */
	testhook_step("publish");
	return YB_OK;
}

static int sync_sub_dir(struct maildir *maildir, int dir_fd,
			struct yb_error *err)
{
	if (fd_sync(dir_fd) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot sync directory %s/%s",
				     maildir->path,
				     sub_dir_name(maildir, dir_fd));
	return YB_OK;
}

static int maildir_publish(struct sink *sink, struct yb_error *err)
{
	struct maildir *maildir = (struct maildir *)sink;
	int status = YB_OK;
	if (maildir->batch_failed)
		status = yb_fail(err, YB_ERR_IO,
				 "cannot publish to %s: the batch failed to sync",
				 maildir->path);
	if (!status && sink_batch_has(&maildir->batch, MSG_ENDED))
		status = yb_fail(err, YB_ERR_INTERNAL,
				 "publish before prepare in %s", maildir->path);
	bool used_new = false, used_cur = false;
	struct batch_msg *b = maildir->batch.head;
	while (b && !status) {
		struct batch_msg *next = b->next;
		if (b->state == MSG_PREPARED)
			status = publish_one(maildir, (struct maildir_msg *)b,
					     &used_new, &used_cur, err);
		b = next;
	}
	/* Sync what was renamed even after a failure: less to resolve. */
	struct yb_error sync_err;
	int sync_status = YB_OK;
	if (used_new)
		sync_status = sync_sub_dir(maildir, maildir->new_fd, &sync_err);
	if (used_cur && !sync_status)
		sync_status = sync_sub_dir(maildir, maildir->cur_fd, &sync_err);
	if (!status && sync_status) {
		status = sync_status;
		if (err)
			*err = sync_err;
	}
	drop_batch(maildir);
	return status;
}

static void maildir_discard(struct sink *sink)
{
	drop_batch((struct maildir *)sink);
}

/* ---- crash recovery ----------------------------------------------------- */

/* Digits, then ":2," and flags (cur/) or the end (new/). */
static bool valid_dest_tail(const char *p, bool in_cur)
{
	size_t n = digit_run(p, SIZE_MAX);
	if (n == 0 || n > 20)
		return false;
	p += n;
	if (!in_cur)
		return *p == '\0';
	if (strncmp(p, ":2,", 3) != 0)
		return false;
	for (p += 3; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
			return false;
	return true;
}

/*
 * A dest comes back from the state journal: accept only what set_dest
 * makes, "new/NAME,S=SIZE" or "cur/NAME,S=SIZE:2,FLAGS" with NAME one of
 * ours.  base gets NAME (the tmp file name).
 */
static bool parse_dest(const char *dest, bool *in_cur, char *base,
		       size_t base_size)
{
	if (strncmp(dest, "new/", 4) == 0)
		*in_cur = false;
	else if (strncmp(dest, "cur/", 4) == 0)
		*in_cur = true;
	else
		return false;
	const char *file = dest + 4;
	size_t file_len = strnlen(file, NAME_MAX + 1);
	if (file_len == 0 || file_len > NAME_MAX || strstr(file, ".."))
		return false;
	for (const char *p = file; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || c == '/')
			return false;
	}
	const char *size_mark = strstr(file, ",S=");
	if (!size_mark || !valid_dest_tail(size_mark + 3, *in_cur))
		return false;
	size_t base_len = (size_t)(size_mark - file);
	struct name_parts parts;
	if (base_len >= base_size || !parse_name(file, base_len, &parts))
		return false;
	memcpy(base, file, base_len);
	base[base_len] = '\0';
	return true;
}

/* Does dir hold an entry named base, or base followed by ',' or ':'? */
static int dir_has_base(struct maildir *maildir, int dir_fd, const char *base,
			bool *found, struct yb_error *err)
{
	*found = false;
	DIR *dir;
	int status = open_listing(maildir, dir_fd, &dir, err);
	if (status)
		return status;
	size_t base_len = strlen(base);
	struct dirent *entry;
	for (;;) {
		status = next_entry(maildir, dir_fd, dir, &entry, err);
		if (status || !entry)
			break;
		const char *name = entry->d_name;
		if (strncmp(name, base, base_len) == 0 &&
		    (name[base_len] == '\0' || name[base_len] == ',' ||
		     name[base_len] == ':')) {
			*found = true;
			break;
		}
	}
	closedir(dir);
	return status;
}

static int entry_exists(struct maildir *maildir, int dir_fd, const char *name,
			bool *found, struct yb_error *err)
{
	struct stat st;
	*found = fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!*found && errno != ENOENT)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot stat %s/%s/%s", maildir->path,
				     sub_dir_name(maildir, dir_fd), name);
	return YB_OK;
}

/*
 * Published means: the file is where we put it, or a mail reader has
 * since moved it from new/ to cur/ or changed its flags (renamed it within
 * cur/), which keeps the unique base of the name.  The exact look-up
 * answers the common case; only a miss lists cur/ and new/.
 */
static int find_published(struct maildir *maildir, const char *dest,
			  bool in_cur, const char *base, bool *present,
			  struct yb_error *err)
{
	int dir_fd = in_cur ? maildir->cur_fd : maildir->new_fd;
	int status = entry_exists(maildir, dir_fd, dest + 4, present, err);
	if (status || *present)
		return status;
	status = dir_has_base(maildir, maildir->cur_fd, base, present, err);
	if (status || *present)
		return status;
	return dir_has_base(maildir, maildir->new_fd, base, present, err);
}

static int maildir_resolve(struct sink *sink, const char *dest, bool *present,
			   struct yb_error *err)
{
	struct maildir *maildir = (struct maildir *)sink;
	char base[NAME_MAX + 1];
	bool in_cur;
	if (!dest || !parse_dest(dest, &in_cur, base, sizeof(base))) {
		char shown[128];
		text_sanitize(shown, sizeof(shown), dest ? dest : "",
			      dest ? strlen(dest) : 0);
		return yb_fail(err, YB_ERR_INTERNAL,
			       "bad maildir intent \"%s\" for %s", shown,
			       maildir->path);
	}
	int status = find_published(maildir, dest, in_cur, base, present, err);
	if (status || *present)
		return status;
	/* Never published: drop the synced copy, or a refetch doubles it. */
	if (unlinkat(maildir->tmp_fd, base, 0) != 0 && errno != ENOENT)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot remove %s/tmp/%s", maildir->path,
				     base);
	return YB_OK;
}

/* ---- life of the sink --------------------------------------------------- */

static void free_maildir(struct maildir *maildir)
{
	sink_batch_drop(&maildir->batch, BATCH_ALL, drop_unpublished);
	fd_close(&maildir->tmp_fd);
	fd_close(&maildir->new_fd);
	fd_close(&maildir->cur_fd);
	free(maildir->spare_buffer);
	maildir_index_free(&maildir->cur_index);
	free(maildir->path);
	free(maildir);
}

static void maildir_close(struct sink *sink)
{
	free_maildir((struct maildir *)sink);
}

/* What the Maildir holds now: every file of new/ and cur/. */
static int maildir_sink_digests(struct sink *sink, const struct sink_recorded *recorded,
				struct sink_digest **out, size_t *count,
				struct yb_error *err)
{
	(void)recorded;
	return maildir_digests(((struct maildir *)sink)->path, out, count, err);
}

static int maildir_sink_apply_flags(struct sink *sink, const char *dest, uint32_t flags,
				    char new_dest[SINK_DEST_MAX], struct yb_error *err)
{
	struct maildir *maildir = (struct maildir *)sink;
	char letters[MAILDIR_LETTERS_SIZE];
	new_dest[0] = '\0';
	if (!maildir_letters(flags, letters))
		return yb_fail(err, YB_ERR_INTERNAL, "bad flags for a message in %s",
			       maildir->path);
	return maildir_apply_flags(maildir->path, dest, letters, new_dest, err);
}

static int maildir_sink_read_flags(struct sink *sink, const char *dest,
				   uint32_t *flags, char found[SINK_DEST_MAX],
				   struct yb_error *err)
{
	struct maildir *maildir = (struct maildir *)sink;
	return maildir_read_flags(maildir->path, &maildir->cur_index, dest, flags,
				  found, err);
}

static const struct sink_ops maildir_ops = {
	.msg_begin = maildir_msg_begin,
	.msg_write = maildir_msg_write,
	.msg_end = maildir_msg_end,
	.msg_abort = maildir_msg_abort,
	.prepare = maildir_prepare,
	.msg_dest = maildir_msg_dest,
	.publish = maildir_publish,
	.discard = maildir_discard,
	.resolve = maildir_resolve,
	.close = maildir_close,
	.digests = maildir_sink_digests,
	.apply_flags = maildir_sink_apply_flags,
	.read_flags = maildir_sink_read_flags,
};

/* A copy of path without trailing slashes ("/" stays "/"). */
static char *copy_path(const char *path)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	char *copy = malloc(len + 1);
	if (copy) {
		memcpy(copy, path, len);
		copy[len] = '\0';
	}
	return copy;
}

int maildir_open(const char *path, struct sink **out, struct yb_error *err)
{
	*out = NULL;
	if (!path || !*path)
		return yb_fail(err, YB_ERR_IO, "empty Maildir path");
	struct maildir *maildir = calloc(1, sizeof(*maildir));
	if (!maildir)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	maildir->base.ops = &maildir_ops;
	maildir->tmp_fd = maildir->new_fd = maildir->cur_fd = -1;
	maildir_index_init(&maildir->cur_index);
	maildir->path = copy_path(path);
	int status = maildir->path ? YB_OK :
		     yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (!status)
		status = load_host(maildir, err);
	if (!status)
		status = open_sub_dirs(maildir, err);
	if (!status)
		status = clean_tmp(maildir, err);
	if (status) {
		free_maildir(maildir);
		return status;
	}
	maildir->fs_sync_usable = fs_sync_usable(maildir->tmp_fd);
	maildir->fs_syncs_left = testhook_limit("YUBIN_TEST_FS_SYNCS", SIZE_MAX);
	/* Only for speed: a test that counts syncs may skip it. */
	maildir->look_at_unwritten =
		testhook_limit("YUBIN_TEST_FS_SYNC_LOOK", 1) != 0;
	*out = &maildir->base;
	return YB_OK;
}
