/*
 * mbox.c - the mbox sink (mboxrd), see mbox.h for the format, the locking
 * and what a dest records.
 *
 * A message streams through the mboxrd quoting filter into the sink's
 * spool (one unlinked file for the sink's life), while the envelope
 * scanner watches its header and a SHA-256 runs over the bytes written.
 * sink_prepare takes the locks, measures the file, and gives every
 * message its range; sink_publish writes the From lines and copies the
 * spool ranges into the file (copy_file_range, so large messages never
 * pass through our memory), fsyncs, and unlocks; on any failure it
 * truncates the file back to the size it measured.
 *
 * A dest's two hashes: HEAD over the message's first bytes up to the end
 * of its From line (with the newlines that fixed up the end of the file
 * before it), BODY over the rest of its range.  Two, so that crash
 * recovery can recognise our own From line at the start of a torn write.
 */
#include "config.h"

#include "mbox.h"

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

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "clock.h"
#include "envelope.h"
#include "fileio.h"
#include "log.h"
#include "sink_batch.h"
#include "testhook.h"
#include "text.h"

/* The quoting output buffer, and the read buffer of crash recovery. */
#define IO_BUFFER_SIZE (64 * 1024)

/* The most '\n' added before a batch: the file lacked a blank line. */
#define FIXUP_MAX 2

/* The longest head: fix-up newlines and the From line. */
#define HEAD_MAX (FIXUP_MAX + MBOX_FROM_LINE_MAX)

/* Hex digits of each hash kept in a dest. */
#define HASH_HEX 16

/* "OFFSET+LENGTH+HEAD+BODY+END+PID" */
#define DEST_MAX (20 + 1 + 20 + 1 + HASH_HEX + 1 + HASH_HEX + 1 + 20 + 1 + 10 + 1)

/* A dotlock with no live owner of ours is stale after this long. */
#define STALE_DOTLOCK_SECONDS (5 * 60)

/* Sleep between lock attempts: starts here, doubles, stops growing here. */
#define LOCK_SLEEP_FIRST_MS 10
#define LOCK_SLEEP_MAX_MS 200

static const char from_prefix[] = "From ";
#define FROM_PREFIX_LEN 5

/* mboxrd quoting as a stream: where a line stands so far. */
enum quote_state {
	QUOTE_LINE_START, /* only '>' so far on this line (maybe none) */
	QUOTE_FROM,       /* then `from_matched` bytes of "From " */
	QUOTE_IN_LINE,    /* the line cannot be a From line any more */
};

struct mbox;

/* MSG_PREPARED (sink_batch.h): the file is locked and its range known. */
struct mbox_msg {
	struct batch_msg item;           /* first: in the sink's batch */
	struct mbox *mbox;               /* not owned */
	time_t date;                     /* for the From line */
	uint64_t spool_offset;           /* where its bytes start in the spool */
	uint64_t body_len;               /* its bytes in the spool */
	uint64_t input_len;              /* bytes given to msg_write */
	unsigned char body_hash[32];     /* SHA-256 of the spool bytes */
	char from_line[MBOX_FROM_LINE_MAX + 1];
	size_t from_len;
	/* Known once prepared: */
	size_t fixup_len;                /* '\n' written before the From line */
	uint64_t offset, length;         /* its range in the file */
	char dest[DEST_MAX];
};

struct mbox_lock {
	int fd;                          /* the mbox, open while locked; or -1 */
	bool dotlocked;                  /* PATH.lock is ours */
	dev_t dot_dev;                   /* ... and is this file */
	ino_t dot_ino;
	uint64_t size;                   /* the file's size when locked */
	char tail[FIXUP_MAX];            /* its last bytes (size >= 2) */
};

/*
 * Between two resolves of one batch's intents we hold no lock.  If the
 * file is the same (inode, size, mtime) when the next one locks it, nobody
 * wrote in between, and what the last one learnt still holds.
 */
struct resolve_memory {
	bool valid;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	uint64_t batch_end;             /* the batch it was about */
	pid_t pid;
	bool survived;                  /* its run's dotlock had outlived it */
};

struct mbox {
	struct sink base;                /* first: the sink interface */
	char *path;                      /* owned: as the account names it */
	char *lock_path;                 /* owned: path + ".lock" */
	char *dir_path;                  /* owned: the directory of path */
	int dir_fd;                      /* owned: that directory */
	char *name;                      /* owned: the file's name in it */
	char *lock_name;                 /* owned: name + ".lock" */
	char host[256];                  /* for the dotlock's "PID:HOST" */
	unsigned lock_timeout_ms;
	int spool_fd;                    /* owned */
	uint64_t spool_size;             /* bytes in the spool */
	struct sink_batch batch;         /* live messages */
	struct mbox_msg *writing;        /* the message being written */
	struct mbox_lock lock;
	bool batch_failed;               /* only discard is left */
	struct resolve_memory resolved;  /* what the last resolve saw */
	/* The message being written: */
	char *out;                       /* owned: IO_BUFFER_SIZE bytes */
	size_t out_len;
	EVP_MD_CTX *hash;                /* owned */
	enum quote_state quote;
	size_t from_matched;
	char last_byte;                  /* the last input byte */
	struct mbox_envelope envelope;
};

/* ---- small helpers ---------------------------------------------------- */

static void to_hex(const unsigned char *bytes, size_t count, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < count; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	out[2 * count] = '\0';
}

/* ---- the From line ------------------------------------------------------ */

static int make_from_line(struct mbox_msg *msg, const char *sender,
			  struct yb_error *err)
{
	char date[25];
	if (!mbox_envelope_date(msg->date, date)) {
		/* A date past what asctime can say: use now instead. */
		if (!mbox_envelope_date(time(NULL), date))
			return yb_fail(err, YB_ERR_INTERNAL,
				       "cannot format the date for mbox %s",
				       msg->mbox->path);
	}
	msg->from_len = mbox_envelope_from_line(sender, date, msg->from_line,
						sizeof(msg->from_line));
	if (msg->from_len == 0)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "From line too long for mbox %s", msg->mbox->path);
	return YB_OK;
}

/* ---- the spool ---------------------------------------------------------- */

static int open_spool(struct mbox *mbox, struct yb_error *err)
{
	int rc = spool_open_at(mbox->dir_fd, &mbox->spool_fd);
	if (rc)
		return yb_fail_errno(err, YB_ERR_IO, rc,
				     "cannot create a spool file in %s",
				     mbox->dir_path);
	return YB_OK;
}

/* Cut the spool back to size (an aborted message, an ended batch). */
static void shrink_spool(struct mbox *mbox, uint64_t size)
{
	if (size < mbox->spool_size && ftruncate(mbox->spool_fd, (off_t)size) == 0)
		mbox->spool_size = size;
}

/* The output buffer goes to the end of the spool, through the hash. */
static int flush_out(struct mbox *mbox, struct yb_error *err)
{
	if (mbox->out_len == 0)
		return YB_OK;
	struct mbox_msg *msg = mbox->writing;
	int rc = fd_pwrite_all(mbox->spool_fd, mbox->out, mbox->out_len,
			    mbox->spool_size);
	if (rc) {
		msg->item.failed = true;
		return yb_fail_errno(err, YB_ERR_IO, rc,
				     "cannot write the spool of mbox %s",
				     mbox->path);
	}
	if (EVP_DigestUpdate(mbox->hash, mbox->out, mbox->out_len) != 1) {
		msg->item.failed = true;
		return yb_fail(err, YB_ERR_INTERNAL,
			       "SHA-256 failed for a message to mbox %s",
			       mbox->path);
	}
	mbox->spool_size += mbox->out_len;
	msg->body_len += mbox->out_len;
	mbox->out_len = 0;
	return YB_OK;
}

static int emit(struct mbox *mbox, const char *data, size_t len,
		struct yb_error *err)
{
	while (len > 0) {
		if (mbox->out_len == IO_BUFFER_SIZE) {
			int status = flush_out(mbox, err);
			if (status)
				return status;
		}
		size_t room = IO_BUFFER_SIZE - mbox->out_len;
		size_t n = len < room ? len : room;
		memcpy(mbox->out + mbox->out_len, data, n);
		mbox->out_len += n;
		data += n;
		len -= n;
	}
	return YB_OK;
}

/* ---- mboxrd quoting ----------------------------------------------------- */

/*
 * A '>' is added to every line matching ^>*From .  Since adding it just
 * before "From " gives the same bytes as adding it at the start of the
 * line, the '>' run streams out as it comes and only a partial "From "
 * (at most 4 bytes, known from from_matched) waits for the next byte.
 */
static int quote_byte_at_start(struct mbox *mbox, char c, struct yb_error *err)
{
	if (mbox->quote == QUOTE_LINE_START) {
		if (c == '>')
			return emit(mbox, &c, 1, err);
		if (c == 'F') {
			mbox->quote = QUOTE_FROM;
			mbox->from_matched = 1;
			return YB_OK;
		}
	} else if (c == from_prefix[mbox->from_matched]) {
		if (++mbox->from_matched < FROM_PREFIX_LEN)
			return YB_OK;
		mbox->quote = QUOTE_IN_LINE;
		return emit(mbox, ">From ", 6, err);
	} else {
		/* Not a From line after all: what was held goes out first. */
		int status = emit(mbox, from_prefix, mbox->from_matched, err);
		if (status)
			return status;
	}
	mbox->quote = c == '\n' ? QUOTE_LINE_START : QUOTE_IN_LINE;
	return emit(mbox, &c, 1, err);
}

static int quote_write(struct mbox *mbox, const char *data, size_t len,
		       struct yb_error *err)
{
	size_t i = 0;
	while (i < len) {
		if (mbox->quote != QUOTE_IN_LINE) {
			int status = quote_byte_at_start(mbox, data[i++], err);
			if (status)
				return status;
			continue;
		}
		/* The rest of a line passes as it is. */
		const char *eol = memchr(data + i, '\n', len - i);
		size_t span = eol ? (size_t)(eol - (data + i)) + 1 : len - i;
		int status = emit(mbox, data + i, span, err);
		if (status)
			return status;
		i += span;
		if (eol)
			mbox->quote = QUOTE_LINE_START;
	}
	return YB_OK;
}

/* The end of a message: what was held, a missing newline, the blank line. */
static int quote_finish(struct mbox *mbox, struct yb_error *err)
{
	struct mbox_msg *msg = mbox->writing;
	int status = YB_OK;
	if (mbox->quote == QUOTE_FROM)
		status = emit(mbox, from_prefix, mbox->from_matched, err);
	if (!status && msg->input_len > 0 && mbox->last_byte != '\n')
		status = emit(mbox, "\n", 1, err);
	if (!status)
		status = emit(mbox, "\n", 1, err);
	if (!status)
		status = flush_out(mbox, err);
	return status;
}

/* ---- locking ------------------------------------------------------------ */

enum lock_busy {
	LOCK_TAKEN,     /* both locks are ours */
	LOCK_DOTLOCKED, /* another program holds PATH.lock */
	LOCK_FCNTLED,   /* another program holds an fcntl lock on the file */
	LOCK_MOVED,     /* the file was replaced or removed: try again now */
};

/*
 * What a dotlock holds, as the programs that lock mboxes write it: nothing
 * (mutt, Postfix), or a decimal pid (procmail, liblockfile's dotlockfile,
 * UUCP's space-padded "%10d"), maybe followed by ":HOST" (Dovecot, us),
 * with blanks, a newline or a NUL around it.  Anything longer is not a
 * lock, whatever its name says.
 */
#define DOTLOCK_SIZE_MAX 512

struct dotlock_content {
	bool is_lock;   /* small, and empty or a pid in one of the forms */
	pid_t pid;      /* its pid if it names this host ("PID:HOST"); or 0 */
	const char *why; /* when !is_lock: what is wrong with it */
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0';
}

/* Judge content[0..len) (len <= DOTLOCK_SIZE_MAX) by the forms above. */
static void parse_dotlock(const char *content, size_t len, const char *host,
			  struct dotlock_content *out)
{
	*out = (struct dotlock_content){ .is_lock = false,
					 .why = "it holds no process id" };
	size_t start = 0;
	while (start < len && is_blank(content[start]))
		start++;
	while (len > start && is_blank(content[len - 1]))
		len--;
	size_t digits = start;
	while (digits < len && content[digits] >= '0' && content[digits] <= '9')
		digits++;
	if (digits == start && len > start)
		return;
	size_t host_at = digits;
	if (host_at < len && content[host_at] == ':')
		host_at++;
	else if (host_at != len)
		return;
	for (size_t i = host_at; i < len; i++)
		if ((unsigned char)content[i] <= 0x20 ||
		    (unsigned char)content[i] >= 0x7f)
			return;
	out->is_lock = true;
	unsigned long long value;
	if (host_at > digits && len - host_at == strlen(host) &&
	    memcmp(content + host_at, host, len - host_at) == 0 &&
	    text_parse_u64(content + start, digits - start, INT_MAX, &value) &&
	    value > 0)
		out->pid = (pid_t)value;
}

/*
 * Read PATH.lock without following a symlink and judge it.  judged, when
 * given, is what lstat saw: a file that is no longer that one is judged
 * a lock (held: look again later).
 */
static void read_dotlock(const struct mbox *mbox, const struct stat *judged,
			 struct dotlock_content *out)
{
	*out = (struct dotlock_content){ .is_lock = false,
					 .why = "it cannot be read" };
	if (judged && !S_ISREG(judged->st_mode)) {
		out->why = "it is not a regular file";
		return;
	}
	if (judged && judged->st_size == 0) {
		/* Empty: a lock whoever wrote it (mutt's may be mode 000). */
		out->is_lock = true;
		return;
	}
	int fd = openat(mbox->dir_fd, mbox->lock_name,
			O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return;
	struct stat st;
	char content[DOTLOCK_SIZE_MAX + 1];
	ssize_t got = -1;
	bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (regular) {
		do
			got = read(fd, content, sizeof(content));
		while (got < 0 && errno == EINTR);
	}
	fd_close(&fd);
	if (!regular)
		return;
	if (judged && (st.st_dev != judged->st_dev || st.st_ino != judged->st_ino)) {
		out->is_lock = true; /* replaced meanwhile: judge it next time */
		return;
	}
	if (got < 0)
		return;
	if ((size_t)got > DOTLOCK_SIZE_MAX) {
		out->why = "it is larger than a dotlock can be";
		return;
	}
	parse_dotlock(content, (size_t)got, mbox->host, out);
}

/* The owner's pid if PATH.lock is a dotlock of a process on this host. */
static bool read_dotlock_pid(const struct mbox *mbox, pid_t *pid)
{
	struct dotlock_content content;
	read_dotlock(mbox, NULL, &content);
	*pid = content.pid;
	return content.is_lock && content.pid > 0;
}

/*
 * Is the process that wrote a dotlock gone?  One naming us is an earlier
 * process that had our pid: we only look when we do not hold the lock.
 */
static bool owner_gone(pid_t pid)
{
	if (pid == getpid())
		return true;
	return kill(pid, 0) != 0 && errno == ESRCH;
}

enum dotlock_verdict {
	DOTLOCK_HELD,    /* someone's lock: wait for it */
	DOTLOCK_STALE,   /* a lock whose owner is gone: break it */
	DOTLOCK_FOREIGN, /* old, and not a lock at all: leave it alone */
};

/*
 * Judge the PATH.lock that lstat gave st.  A lock naming a live process
 * of this host is held however old; a young file is held whatever it
 * holds (its owner may still be writing it, or use a form we do not
 * know); an old one is stale only if it looks like a lock, since a file
 * that does not may be mail (a folder an older yubin named "X.lock").
 */
static enum dotlock_verdict judge_dotlock(const struct mbox *mbox,
					  const struct stat *st,
					  struct dotlock_content *content)
{
	read_dotlock(mbox, st, content);
	if (content->is_lock && content->pid > 0)
		return owner_gone(content->pid) ? DOTLOCK_STALE : DOTLOCK_HELD;
	time_t now = time(NULL);
	if (now <= st->st_mtime || now - st->st_mtime <= STALE_DOTLOCK_SECONDS)
		return DOTLOCK_HELD;
	return content->is_lock ? DOTLOCK_STALE : DOTLOCK_FOREIGN;
}

static int refuse_foreign_dotlock(const struct mbox *mbox,
				  const struct stat *st,
				  const struct dotlock_content *content,
				  struct yb_error *err)
{
	return yb_fail(err, YB_ERR_IO,
		       "cannot lock mbox %s: %s has not changed for over %d "
		       "minutes but does not look like a dotlock (%s; %lld "
		       "bytes), so it is left alone: move it away if no "
		       "program uses it", mbox->path, mbox->lock_path,
		       STALE_DOTLOCK_SECONDS / 60, content->why,
		       (long long)st->st_size);
}

/*
 * No program that locks mboxes makes its dotlock a symbolic link; one
 * there was planted.  It is not followed (link() and every look here use
 * the name itself) and not waited for.
 */
static int refuse_linked_dotlock(const struct mbox *mbox, struct yb_error *err)
{
	return yb_fail(err, YB_ERR_IO,
		       "cannot lock mbox %s: %s is a symbolic link, not a "
		       "dotlock; yubin does not follow it: remove it",
		       mbox->path, mbox->lock_path);
}

/* Remove the stale dotlock judged from st, unless it changed meanwhile. */
static int break_dotlock(const struct mbox *mbox, const struct stat *judged,
			 struct yb_error *err)
{
	struct stat st;
	if (fstatat(mbox->dir_fd, mbox->lock_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? YB_OK :
		       yb_fail_errno(err, YB_ERR_IO, errno, "cannot stat %s",
				     mbox->lock_path);
	/* Changed since it was judged: judge it again on the next try. */
	if (st.st_dev != judged->st_dev || st.st_ino != judged->st_ino ||
	    st.st_size != judged->st_size ||
	    st.st_mtime != judged->st_mtime)
		return YB_OK;
	if (unlinkat(mbox->dir_fd, mbox->lock_name, 0) != 0 && errno != ENOENT)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot remove the stale dotlock %s",
				     mbox->lock_path);
	log_info("removed the stale dotlock %s", mbox->lock_path);
	return YB_OK;
}

/* A unique file in the mbox's directory holding "PID:HOST"; temp: its name. */
static int make_dotlock_temp(const struct mbox *mbox, char *temp, size_t size,
			     struct yb_error *err)
{
	static unsigned long temps_made;
	unsigned char random_bytes[4];
	if (RAND_bytes(random_bytes, sizeof(random_bytes)) != 1)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "cannot get random bytes for a dotlock of %s",
			       mbox->path);
	char random_hex[9];
	to_hex(random_bytes, sizeof(random_bytes), random_hex);
	if (!text_format(temp, size, ".yubin-dotlock.%ld.%lu.%s",
			 (long)getpid(), temps_made++, random_hex))
		return yb_fail(err, YB_ERR_IO, "path too long for a dotlock of %s",
			       mbox->path);
	int fd = openat(mbox->dir_fd, temp,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot create a dotlock file in %s",
				     mbox->dir_path);
	char content[300];
	int rc = text_format(content, sizeof(content), "%ld:%s", (long)getpid(),
			     mbox->host) ?
		 fd_pwrite_all(fd, content, strlen(content), 0) : ENAMETOOLONG;
	int closed = fd_close(&fd);
	if (rc || closed) {
		unlinkat(mbox->dir_fd, temp, 0);
		return yb_fail_errno(err, YB_ERR_IO, rc ? rc : closed,
				     "cannot write a dotlock file in %s",
				     mbox->dir_path);
	}
	return YB_OK;
}

/*
 * link() the temp file to PATH.lock.  Success is judged by the link
 * count, not link's answer, which NFS may lose.  *got tells.
 */
static int link_dotlock(struct mbox *mbox, const char *temp, bool *got,
			struct yb_error *err)
{
	*got = false;
	/* link() never follows a link at the new name: it fails EEXIST. */
	int link_errno = linkat(mbox->dir_fd, temp, mbox->dir_fd,
				mbox->lock_name, 0) == 0 ? 0 : errno;
	struct stat st;
	if (fstatat(mbox->dir_fd, temp, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno, "cannot stat %s/%s",
				     mbox->dir_path, temp);
	if (st.st_nlink == 2) {
		*got = true;
		mbox->lock.dotlocked = true;
		mbox->lock.dot_dev = st.st_dev;
		mbox->lock.dot_ino = st.st_ino;
		return YB_OK;
	}
	if (link_errno && link_errno != EEXIST)
		return yb_fail_errno(err, YB_ERR_IO, link_errno,
				     "cannot create the dotlock %s",
				     mbox->lock_path);
	return YB_OK;
}

/* One try at PATH.lock, breaking it once if it is stale. */
static int try_dotlock(struct mbox *mbox, bool *got, struct yb_error *err)
{
	char temp[NAME_MAX + 1];
	int status = make_dotlock_temp(mbox, temp, sizeof(temp), err);
	if (status)
		return status;
	for (int attempt = 0; attempt < 2 && !status; attempt++) {
		status = link_dotlock(mbox, temp, got, err);
		if (status || *got)
			break;
		struct stat st;
		if (fstatat(mbox->dir_fd, mbox->lock_name, &st,
			    AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue; /* just released: try again */
			status = yb_fail_errno(err, YB_ERR_IO, errno,
					       "cannot stat %s", mbox->lock_path);
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			status = refuse_linked_dotlock(mbox, err);
			break;
		}
		struct dotlock_content content;
		enum dotlock_verdict verdict = judge_dotlock(mbox, &st, &content);
		if (verdict == DOTLOCK_HELD)
			break;
		if (verdict == DOTLOCK_FOREIGN) {
			status = refuse_foreign_dotlock(mbox, &st, &content, err);
			break;
		}
		status = break_dotlock(mbox, &st, err);
	}
	unlinkat(mbox->dir_fd, temp, 0);
	return status;
}

/* Remove PATH.lock if it is still the one we made. */
static void release_dotlock(struct mbox *mbox)
{
	if (!mbox->lock.dotlocked)
		return;
	struct stat st;
	if (fstatat(mbox->dir_fd, mbox->lock_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == mbox->lock.dot_dev && st.st_ino == mbox->lock.dot_ino)
		unlinkat(mbox->dir_fd, mbox->lock_name, 0);
	mbox->lock.dotlocked = false;
}

/* Unlock in the reverse order: fcntl (by closing the file), dotlock. */
static void release_lock(struct mbox *mbox)
{
	if (mbox->lock.fd >= 0) {
		struct flock unlock = { .l_type = F_UNLCK,
					.l_whence = SEEK_SET };
		fcntl(mbox->lock.fd, F_SETLK, &unlock);
		fd_close(&mbox->lock.fd);
	}
	release_dotlock(mbox);
}

/* Open the mbox by its name in the directory held open, never through a link. */
static int open_file(const struct mbox *mbox, int flags, int *fd)
{
	*fd = openat(mbox->dir_fd, mbox->name,
		     flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	return *fd >= 0 ? 0 : errno;
}

static int fail_open(const struct mbox *mbox, int errnum, struct yb_error *err)
{
	/* The kernel's protected_symlinks may say EACCES for a link: say link. */
	struct stat st;
	if (fstatat(mbox->dir_fd, mbox->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		errnum = ELOOP;
	if (errnum == EISDIR)
		return yb_fail(err, YB_ERR_IO,
			       "mbox %s is a directory, not a file", mbox->path);
	if (errnum == ELOOP)
		return yb_fail(err, YB_ERR_IO,
			       "mbox %s is a symbolic link, which yubin does not "
			       "follow: give the real path of the file in the "
			       "account's deliver key", mbox->path);
	return yb_fail_errno(err, YB_ERR_IO, errnum, "cannot open mbox %s",
			     mbox->path);
}

/*
 * The file as opened: a regular file, and when yubin runs as root one of
 * root's with a single name (a second name may be another user's hard
 * link to a file of root's).
 */
static int check_file(const struct mbox *mbox, int fd, struct stat *st,
		      struct yb_error *err)
{
	if (fstat(fd, st) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno, "cannot stat %s",
				     mbox->path);
	if (!S_ISREG(st->st_mode))
		return yb_fail(err, YB_ERR_IO, "mbox %s is not a regular file",
			       mbox->path);
	int status = dest_check_owner(err, "mbox", mbox->path, st);
	if (status)
		return status;
	if (geteuid() == 0 && st->st_nlink > 1)
		return yb_fail(err, YB_ERR_IO,
			       "refusing to deliver as root into mbox %s: it has "
			       "%lu names (hard links), and another user may "
			       "have made one to a file of root's; give the mbox "
			       "a single name", mbox->path,
			       (unsigned long)st->st_nlink);
	return YB_OK;
}

/* Open the mbox for the lock; it is created again if it was removed. */
static int open_for_lock(struct mbox *mbox, struct yb_error *err)
{
	int rc = 0;
	for (int attempt = 0; attempt < 3; attempt++) {
		rc = open_file(mbox, O_RDWR, &mbox->lock.fd);
		if (rc != ENOENT)
			break;
		rc = open_file(mbox, O_RDWR | O_CREAT | O_EXCL, &mbox->lock.fd);
		if (rc == 0 && fsync(mbox->dir_fd) != 0)
			return yb_fail_errno(err, YB_ERR_IO, errno,
					     "cannot sync directory %s",
					     mbox->dir_path);
		if (rc != EEXIST)
			break;
	}
	if (rc)
		return fail_open(mbox, rc, err);
	struct stat st;
	return check_file(mbox, mbox->lock.fd, &st, err);
}

static int try_fcntl(struct mbox *mbox, bool *got, struct yb_error *err)
{
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	*got = fcntl(mbox->lock.fd, F_SETLK, &lock) == 0;
	if (*got || errno == EACCES || errno == EAGAIN)
		return YB_OK;
	return yb_fail_errno(err, YB_ERR_IO, errno, "cannot lock mbox %s",
			     mbox->path);
}

/* Is the open file still the one at the path? */
static bool same_file(const struct mbox *mbox)
{
	struct stat by_fd, by_path;
	return fstat(mbox->lock.fd, &by_fd) == 0 &&
	       fstatat(mbox->dir_fd, mbox->name, &by_path,
		       AT_SYMLINK_NOFOLLOW) == 0 &&
	       by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
}

/* One attempt at both locks: both are had, or neither. */
static int lock_attempt(struct mbox *mbox, enum lock_busy *busy,
			struct yb_error *err)
{
	int status = open_for_lock(mbox, err);
	bool got = false;
	if (!status)
		status = try_dotlock(mbox, &got, err);
	if (!status && !got)
		*busy = LOCK_DOTLOCKED;
	if (!status && got) {
		status = try_fcntl(mbox, &got, err);
		if (!status && !got)
			*busy = LOCK_FCNTLED;
	}
	if (!status && got) {
		*busy = same_file(mbox) ? LOCK_TAKEN : LOCK_MOVED;
		if (*busy == LOCK_TAKEN)
			return YB_OK;
	}
	release_lock(mbox);
	return status;
}

static int lock_timeout(const struct mbox *mbox, enum lock_busy busy,
			struct yb_error *err)
{
	unsigned ms = mbox->lock_timeout_ms;
	if (busy == LOCK_DOTLOCKED)
		return yb_fail(err, YB_ERR_TEMP,
			       "cannot lock mbox %s within %u.%03u s: another "
			       "program holds its dotlock %s", mbox->path,
			       ms / 1000, ms % 1000, mbox->lock_path);
	if (busy == LOCK_MOVED)
		return yb_fail(err, YB_ERR_TEMP,
			       "cannot lock mbox %s within %u.%03u s: another "
			       "program keeps replacing the file", mbox->path,
			       ms / 1000, ms % 1000);
	return yb_fail(err, YB_ERR_TEMP,
		       "cannot lock mbox %s within %u.%03u s: another program "
		       "holds an fcntl lock on it", mbox->path, ms / 1000,
		       ms % 1000);
}

/* Take both locks, retrying with growing pauses until the timeout. */
static int take_lock(struct mbox *mbox, struct yb_error *err)
{
	int64_t deadline = clock_deadline_in_ms(mbox->lock_timeout_ms, false);
	unsigned pause = LOCK_SLEEP_FIRST_MS;
	for (;;) {
		enum lock_busy busy = LOCK_MOVED;
		int status = lock_attempt(mbox, &busy, err);
		if (status || busy == LOCK_TAKEN)
			return status;
		int64_t left = clock_left_ms(deadline);
		if (left == 0)
			return lock_timeout(mbox, busy, err);
		if (busy == LOCK_MOVED)
			continue;
		/* A little jitter, so that waiters do not march in step. */
		unsigned jitter = (unsigned)(clock_now_ms() % (pause / 2 + 1));
		unsigned nap = pause + jitter;
		clock_sleep_ms(left < nap ? (uint64_t)left : nap);
		if (pause < LOCK_SLEEP_MAX_MS)
			pause = pause * 2 < LOCK_SLEEP_MAX_MS ?
				pause * 2 : LOCK_SLEEP_MAX_MS;
	}
}

/* Is the file an mbox ("From " or empty)?  fd is open on it. */
static int check_mbox_start(const char *path, int fd, uint64_t size,
			    struct yb_error *err)
{
	if (size == 0)
		return YB_OK;
	char start[FROM_PREFIX_LEN];
	if (size < FROM_PREFIX_LEN)
		return yb_fail(err, YB_ERR_IO,
			       "%s is not an mbox (it does not start with "
			       "\"From \"); refusing to append to it", path);
	int rc = fd_pread_all(fd, start, sizeof(start), 0);
	if (rc)
		return yb_fail_errno(err, YB_ERR_IO, rc, "cannot read %s", path);
	if (memcmp(start, from_prefix, FROM_PREFIX_LEN) != 0)
		return yb_fail(err, YB_ERR_IO,
			       "%s is not an mbox (it does not start with "
			       "\"From \"); refusing to append to it", path);
	return YB_OK;
}

/* Under the lock: the size, the shape, the last two bytes. */
static int measure_locked(struct mbox *mbox, struct yb_error *err)
{
	struct stat st;
	if (fstat(mbox->lock.fd, &st) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno, "cannot stat %s",
				     mbox->path);
	if (!S_ISREG(st.st_mode))
		return yb_fail(err, YB_ERR_IO, "%s is not a regular file",
			       mbox->path);
	mbox->lock.size = (uint64_t)st.st_size;
	int status = check_mbox_start(mbox->path, mbox->lock.fd,
				      mbox->lock.size, err);
	if (status || mbox->lock.size == 0)
		return status;
	int rc = fd_pread_all(mbox->lock.fd, mbox->lock.tail, FIXUP_MAX,
			   mbox->lock.size - FIXUP_MAX);
	if (rc)
		return yb_fail_errno(err, YB_ERR_IO, rc, "cannot read %s",
				     mbox->path);
	return YB_OK;
}

static int lock_and_measure(struct mbox *mbox, struct yb_error *err)
{
	int status = take_lock(mbox, err);
	if (!status)
		status = measure_locked(mbox, err);
	if (status)
		release_lock(mbox);
	return status;
}

/* Newlines the file needs before a message: it must end in "\n\n". */
static size_t fixup_needed(const struct mbox_lock *lock)
{
	if (lock->size == 0 || (lock->tail[0] == '\n' && lock->tail[1] == '\n'))
		return 0;
	return lock->tail[1] == '\n' ? 1 : 2;
}

/* ---- messages ----------------------------------------------------------- */

/* Unlist and free a message; one being written gives its spool back. */
static void drop_msg(struct batch_msg *item)
{
	struct mbox_msg *msg = (struct mbox_msg *)item;
	struct mbox *mbox = msg->mbox;
	if (mbox->writing == msg) {
		mbox->writing = NULL;
		mbox->out_len = 0;
		shrink_spool(mbox, msg->spool_offset);
	}
	sink_batch_remove(&mbox->batch, item);
	free(msg);
}

static int mbox_msg_begin(struct sink *sink, const struct msg_meta *meta,
			  struct sink_msg **out, struct yb_error *err)
{
	struct mbox *mbox = (struct mbox *)sink;
	if (mbox->writing)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "a message to mbox %s is already being written",
			       mbox->path);
	if (EVP_DigestInit_ex(mbox->hash, EVP_sha256(), NULL) != 1)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "cannot start SHA-256 for mbox %s", mbox->path);
	struct mbox_msg *msg = calloc(1, sizeof(*msg));
	if (!msg)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	msg->item.base.sink = sink;
	msg->mbox = mbox;
	msg->item.state = MSG_WRITING;
	msg->date = meta && meta->internal_date > 0 ? meta->internal_date :
		    time(NULL);
	msg->spool_offset = mbox->spool_size;
	mbox->out_len = 0;
	mbox->quote = QUOTE_LINE_START;
	mbox->from_matched = 0;
	mbox->last_byte = '\0';
	mbox_envelope_init(&mbox->envelope);
	sink_batch_add(&mbox->batch, &msg->item);
	mbox->writing = msg;
	*out = &msg->item.base;
	return YB_OK;
}

static int check_writable(const struct mbox_msg *msg, struct yb_error *err)
{
	if (msg->item.state != MSG_WRITING)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "write to a message of mbox %s after its end",
			       msg->mbox->path);
	if (msg->item.failed)
		return yb_fail(err, YB_ERR_IO,
			       "cannot write a message to mbox %s: an earlier "
			       "write failed", msg->mbox->path);
	return YB_OK;
}

static int mbox_msg_write(struct sink_msg *base, const char *data, size_t len,
			  struct yb_error *err)
{
	struct mbox_msg *msg = (struct mbox_msg *)base;
	struct mbox *mbox = msg->mbox;
	int status = check_writable(msg, err);
	if (status || len == 0)
		return status;
	/* Quoting at most doubles the bytes; the file offset is an off_t. */
	if (len > (uint64_t)INT64_MAX / 4 - msg->input_len) {
		msg->item.failed = true;
		return yb_fail_errno(err, YB_ERR_IO, EFBIG,
				     "cannot write a message to mbox %s",
				     mbox->path);
	}
	mbox_envelope_feed(&mbox->envelope, data, len);
	status = quote_write(mbox, data, len, err);
	if (status) {
		msg->item.failed = true;
		return status;
	}
	msg->input_len += len;
	mbox->last_byte = data[len - 1];
	return YB_OK;
}

static int mbox_msg_end(struct sink_msg *base, struct yb_error *err)
{
	struct mbox_msg *msg = (struct mbox_msg *)base;
	struct mbox *mbox = msg->mbox;
	int status = check_writable(msg, err);
	if (!status)
		status = quote_finish(mbox, err);
	unsigned int hash_len = 0;
	if (!status && (EVP_DigestFinal_ex(mbox->hash, msg->body_hash,
					   &hash_len) != 1 || hash_len != 32))
		status = yb_fail(err, YB_ERR_INTERNAL,
				 "SHA-256 failed for a message to mbox %s",
				 mbox->path);
	if (!status)
		status = make_from_line(msg, mbox_envelope_sender(&mbox->envelope),
					err);
	if (status) {
		msg->item.failed = true;
		return status;
	}
	msg->item.state = MSG_ENDED;
	mbox->writing = NULL;
	return YB_OK;
}

static void mbox_msg_abort(struct sink_msg *base)
{
	struct mbox_msg *msg = (struct mbox_msg *)base;
	/* Ranges already given out no longer fit: the batch is spoiled. */
	if (msg->item.state == MSG_PREPARED)
		msg->mbox->batch_failed = true;
	drop_msg(&msg->item);
}

/* ---- the batch ---------------------------------------------------------- */

static void hash_hex(const void *data1, size_t len1, const void *data2,
		     size_t len2, char out[HASH_HEX + 1])
{
	unsigned char digest[32];
	unsigned int digest_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		  EVP_DigestUpdate(ctx, data1, len1) == 1 &&
		  EVP_DigestUpdate(ctx, data2, len2) == 1 &&
		  EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		memset(digest, 0, sizeof(digest));
	to_hex(digest, HASH_HEX / 2, out);
}

static const char newlines[FIXUP_MAX] = { '\n', '\n' };

static int set_dest(struct mbox_msg *msg, uint64_t batch_end,
		    struct yb_error *err)
{
	char head_hex[HASH_HEX + 1], body_hex[HASH_HEX + 1];
	hash_hex(newlines, msg->fixup_len, msg->from_line, msg->from_len,
		 head_hex);
	to_hex(msg->body_hash, HASH_HEX / 2, body_hex);
	if (!text_format(msg->dest, sizeof(msg->dest),
			 "%" PRIu64 "+%" PRIu64 "+%s+%s+%" PRIu64 "+%ld",
			 msg->offset, msg->length, head_hex, body_hex,
			 batch_end, (long)getpid()))
		return yb_fail(err, YB_ERR_INTERNAL, "dest too long for mbox %s",
			       msg->mbox->path);
	return YB_OK;
}

/* Give every ended message its range, after those already prepared. */
static int place_batch(struct mbox *mbox, struct yb_error *err)
{
	uint64_t end = mbox->lock.size;
	bool first = true;
	for (struct batch_msg *b = mbox->batch.head; b; b = b->next) {
		struct mbox_msg *m = (struct mbox_msg *)b;
		if (b->state == MSG_PREPARED) {
			end = m->offset + m->length;
			first = false;
		}
	}
	for (struct batch_msg *b = mbox->batch.head; b; b = b->next) {
		struct mbox_msg *m = (struct mbox_msg *)b;
		if (b->state != MSG_ENDED)
			continue;
		m->fixup_len = first ? fixup_needed(&mbox->lock) : 0;
		first = false;
		uint64_t head = m->fixup_len + m->from_len;
		if (m->body_len > (uint64_t)INT64_MAX - head ||
		    head + m->body_len > (uint64_t)INT64_MAX - end)
			return yb_fail_errno(err, YB_ERR_IO, EFBIG,
					     "cannot append to mbox %s",
					     mbox->path);
		m->offset = end;
		m->length = head + m->body_len;
		end += m->length;
	}
	for (struct batch_msg *b = mbox->batch.head; b; b = b->next) {
		if (b->state != MSG_ENDED)
			continue;
		int status = set_dest((struct mbox_msg *)b, end, err);
		if (status)
			return status;
		b->state = MSG_PREPARED;
	}
	return YB_OK;
}

static int mbox_prepare(struct sink *sink, struct yb_error *err)
{
	struct mbox *mbox = (struct mbox *)sink;
	if (mbox->batch_failed)
		return yb_fail(err, YB_ERR_IO,
			       "cannot prepare a batch for mbox %s: it failed "
			       "before", mbox->path);
	if (!sink_batch_has(&mbox->batch, MSG_ENDED))
		return YB_OK;
	if (mbox->lock.fd < 0) {
		int status = lock_and_measure(mbox, err);
		if (status)
			return status;
	}
	int status = place_batch(mbox, err);
	if (status) {
		mbox->batch_failed = true;
		release_lock(mbox);
	}
	return status;
}

static const char *mbox_msg_dest(const struct sink_msg *base)
{
	const struct mbox_msg *msg = (const struct mbox_msg *)base;
	return msg->item.state == MSG_PREPARED ? msg->dest : NULL;
}

/* Free every message of the batch (not one being written), unlock. */
static void drop_batch(struct mbox *mbox)
{
	sink_batch_drop(&mbox->batch, BATCH_PAST_WRITING, drop_msg);
	if (!mbox->writing)
		shrink_spool(mbox, 0);
	release_lock(mbox);
	mbox->batch_failed = false;
}

/* Copy len spool bytes at from into the mbox at to. */
static int copy_from_spool(struct mbox *mbox, uint64_t from, uint64_t to,
			   uint64_t len)
{
	bool fallback = false;
	while (len > 0 && !fallback) {
		off_t in = (off_t)from, out = (off_t)to;
		size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t copied = copy_file_range(mbox->spool_fd, &in,
						 mbox->lock.fd, &out, chunk, 0);
		if (copied < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EXDEV && errno != ENOSYS &&
			    errno != EOPNOTSUPP && errno != EINVAL)
				return errno;
			fallback = true;
			break;
		}
		if (copied == 0)
			return EIO; /* the spool is shorter than it should be */
		from += (uint64_t)copied;
		to += (uint64_t)copied;
		len -= (uint64_t)copied;
	}
	if (len == 0)
		return 0;
	char *buffer = malloc(IO_BUFFER_SIZE);
	if (!buffer)
		return ENOMEM;
	int rc = 0;
	while (len > 0 && !rc) {
		size_t chunk = len > IO_BUFFER_SIZE ? IO_BUFFER_SIZE : (size_t)len;
		rc = fd_pread_all(mbox->spool_fd, buffer, chunk, from);
		if (!rc)
			rc = fd_pwrite_all(mbox->lock.fd, buffer, chunk, to);
		from += chunk;
		to += chunk;
		len -= chunk;
	}
	free(buffer);
	return rc;
}

static int append_msg(struct mbox *mbox, const struct mbox_msg *msg)
{
	char head[HEAD_MAX];
	memcpy(head, newlines, msg->fixup_len);
	memcpy(head + msg->fixup_len, msg->from_line, msg->from_len);
	size_t head_len = msg->fixup_len + msg->from_len;
	int rc = fd_pwrite_all(mbox->lock.fd, head, head_len, msg->offset);
	if (!rc)
		rc = copy_from_spool(mbox, msg->spool_offset,
				     msg->offset + head_len, msg->body_len);
	return rc;
}

/* After a failed append: cut the file back to what it was, and say so. */
static int roll_back(struct mbox *mbox, int errnum, struct yb_error *err)
{
	uint64_t size = mbox->lock.size;
	int rc = ftruncate(mbox->lock.fd, (off_t)size) == 0 ? 0 : errno;
	if (!rc && fsync(mbox->lock.fd) != 0)
		rc = errno;
	if (rc)
		return yb_fail(err, YB_ERR_IO,
			       "cannot append to mbox %s: %s; cutting it back "
			       "to %" PRIu64 " bytes failed too (%s): the next "
			       "run will do it", mbox->path, strerror(errnum),
			       size, strerror(rc));
	return yb_fail(err, YB_ERR_IO,
		       "cannot append to mbox %s: %s (the file was cut back to "
		       "its %" PRIu64 " bytes)", mbox->path, strerror(errnum),
		       size);
}

static int publish_batch(struct mbox *mbox, struct yb_error *err)
{
	bool any = false;
	for (struct batch_msg *b = mbox->batch.head; b; b = b->next) {
		if (b->state != MSG_PREPARED)
			continue;
		int rc = append_msg(mbox, (struct mbox_msg *)b);
		if (rc)
			return roll_back(mbox, rc, err);
		any = true;
		/* A kill here leaves the batch half appended. */
		testhook_step("publish");
	}
	if (any && fsync(mbox->lock.fd) != 0)
		return roll_back(mbox, errno, err);
	return YB_OK;
}

static int mbox_publish(struct sink *sink, struct yb_error *err)
{
	struct mbox *mbox = (struct mbox *)sink;
	int status = YB_OK;
	if (mbox->batch_failed)
		status = yb_fail(err, YB_ERR_IO,
				 "cannot publish to mbox %s: the batch failed",
				 mbox->path);
	if (!status && sink_batch_has(&mbox->batch, MSG_ENDED))
		status = yb_fail(err, YB_ERR_INTERNAL,
				 "publish before prepare in mbox %s", mbox->path);
	if (!status && mbox->lock.fd >= 0)
		status = publish_batch(mbox, err);
	drop_batch(mbox);
	return status;
}

static void mbox_discard(struct sink *sink)
{
	drop_batch((struct mbox *)sink);
}

/* ---- crash recovery ----------------------------------------------------- */

struct mbox_dest {
	uint64_t offset, length; /* the message's range */
	uint64_t end;            /* the file's size after its whole batch */
	char head_hex[HASH_HEX + 1];
	char body_hex[HASH_HEX + 1];
	pid_t pid;               /* the process that held the dotlock */
};

/* Decimal digits at *p up to the byte stop; advances past stop. */
static bool take_number(const char **p, char stop, uint64_t max,
			uint64_t *out)
{
	size_t n = 0;
	while ((*p)[n] >= '0' && (*p)[n] <= '9')
		n++;
	unsigned long long value;
	if (n == 0 || n > 20 || (*p)[n] != stop ||
	    !text_parse_u64(*p, n, max, &value))
		return false;
	*out = value;
	*p += n + (stop ? 1 : 0);
	return true;
}

static bool take_hex(const char **p, char out[HASH_HEX + 1])
{
	for (size_t i = 0; i < HASH_HEX; i++) {
		char c = (*p)[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		out[i] = c;
	}
	out[HASH_HEX] = '\0';
	if ((*p)[HASH_HEX] != '+')
		return false;
	*p += HASH_HEX + 1;
	return true;
}

/* A dest comes back from the state journal: accept only what set_dest makes. */
static bool parse_dest(const char *dest, struct mbox_dest *d)
{
	if (strnlen(dest, DEST_MAX) >= DEST_MAX)
		return false;
	const char *p = dest;
	uint64_t pid;
	if (!take_number(&p, '+', INT64_MAX, &d->offset) ||
	    !take_number(&p, '+', INT64_MAX, &d->length) ||
	    !take_hex(&p, d->head_hex) || !take_hex(&p, d->body_hex) ||
	    !take_number(&p, '+', INT64_MAX, &d->end) ||
	    !take_number(&p, '\0', INT_MAX, &pid))
		return false;
	if (d->length == 0 || pid == 0 || d->length > INT64_MAX - d->offset ||
	    d->offset + d->length > d->end)
		return false;
	d->pid = (pid_t)pid;
	return true;
}

enum head_kind {
	HEAD_NONE,    /* no From line where ours would start */
	HEAD_PARTIAL, /* the file ends inside what may be our head */
	HEAD_LINE,    /* a whole From line (after at most FIXUP_MAX '\n') */
};

/* buf holds len bytes from the start of a range; at_end: nothing follows. */
static enum head_kind parse_head(const char *buf, size_t len, bool at_end,
				 size_t *head_len)
{
	size_t i = 0;
	while (i < len && i < FIXUP_MAX && buf[i] == '\n')
		i++;
	size_t from_start = i;
	for (size_t k = 0; k < FROM_PREFIX_LEN; k++, i++) {
		if (i == len)
			return at_end ? HEAD_PARTIAL : HEAD_NONE;
		if (buf[i] != from_prefix[k])
			return HEAD_NONE;
	}
	const char *eol = memchr(buf + i, '\n', len - i);
	if (!eol)
		return at_end && len - from_start < MBOX_FROM_LINE_MAX ?
		       HEAD_PARTIAL : HEAD_NONE;
	*head_len = (size_t)(eol - buf) + 1;
	return HEAD_LINE;
}

/* Hex of the SHA-256 of the file's bytes in [from, to). */
static int hash_file_range(struct mbox *mbox, char *buffer, uint64_t from,
			   uint64_t to, char out[HASH_HEX + 1],
			   struct yb_error *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return yb_fail(err, YB_ERR_INTERNAL, "cannot start SHA-256");
	}
	int rc = 0;
	while (from < to && !rc) {
		size_t chunk = to - from > IO_BUFFER_SIZE ? IO_BUFFER_SIZE :
			       (size_t)(to - from);
		rc = fd_pread_all(mbox->lock.fd, buffer, chunk, from);
		if (!rc && EVP_DigestUpdate(ctx, buffer, chunk) != 1)
			rc = EIO;
		from += chunk;
	}
	unsigned char digest[32];
	unsigned int digest_len = 0;
	if (!rc && EVP_DigestFinal_ex(ctx, digest, &digest_len) != 1)
		rc = EIO;
	EVP_MD_CTX_free(ctx);
	if (rc)
		return yb_fail_errno(err, YB_ERR_IO, rc, "cannot read %s",
				     mbox->path);
	to_hex(digest, HASH_HEX / 2, out);
	return YB_OK;
}

/*
 * Does a line in [from, to) start with "From "?  from starts a line.  A
 * NUL counts as a line break: a power loss leaves zeros where newlines
 * were, and a wrong match here only makes resolve refuse instead of cut.
 */
static int find_from_line(struct mbox *mbox, char *buffer, uint64_t from,
			  uint64_t to, bool *found, struct yb_error *err)
{
	int matched = 0; /* bytes of "From " at a line start; -1 mid-line */
	*found = false;
	while (from < to && !*found) {
		size_t chunk = to - from > IO_BUFFER_SIZE ? IO_BUFFER_SIZE :
			       (size_t)(to - from);
		int rc = fd_pread_all(mbox->lock.fd, buffer, chunk, from);
		if (rc)
			return yb_fail_errno(err, YB_ERR_IO, rc,
					     "cannot read %s", mbox->path);
		for (size_t i = 0; i < chunk && !*found; i++) {
			char c = buffer[i];
			if (matched >= 0 && c == from_prefix[matched]) {
				*found = ++matched == FROM_PREFIX_LEN;
				continue;
			}
			matched = c == '\n' || c == '\0' ? 0 : -1;
		}
		from += chunk;
	}
	return YB_OK;
}

/* Read the start of the range and parse it as a head. */
static int read_head(struct mbox *mbox, const struct mbox_dest *d,
		     uint64_t limit, char *buffer, enum head_kind *kind,
		     size_t *head_len, struct yb_error *err)
{
	uint64_t avail = limit - d->offset;
	size_t want = avail > HEAD_MAX + 1 ? HEAD_MAX + 1 : (size_t)avail;
	int rc = fd_pread_all(mbox->lock.fd, buffer, want, d->offset);
	if (rc)
		return yb_fail_errno(err, YB_ERR_IO, rc, "cannot read %s",
				     mbox->path);
	*kind = parse_head(buffer, want, want == avail, head_len);
	return YB_OK;
}

/* Are the range's bytes exactly the message's?  The file holds them all. */
static int check_present(struct mbox *mbox, const struct mbox_dest *d,
			 char *buffer, bool *present, struct yb_error *err)
{
	uint64_t end = d->offset + d->length;
	enum head_kind kind;
	size_t head_len = 0;
	char hex[HASH_HEX + 1];
	*present = false;
	int status = read_head(mbox, d, end, buffer, &kind, &head_len, err);
	if (status || kind != HEAD_LINE)
		return status;
	hash_hex(buffer, head_len, "", 0, hex);
	if (strcmp(hex, d->head_hex) != 0)
		return YB_OK;
	status = hash_file_range(mbox, buffer, d->offset + head_len, end, hex,
				 err);
	if (!status)
		*present = strcmp(hex, d->body_hex) == 0;
	return status;
}

enum tail_verdict {
	TAIL_OURS,     /* a torn write of ours and nothing else: cut it */
	TAIL_FOREIGN,  /* someone else's message where ours would be */
	TAIL_MIXED,    /* ours, then data of someone else: leave it all */
};

/*
 * The file holds bytes after OFFSET but not our message whole.  A torn
 * write of ours holds our From line at most, at its start; every other
 * mbox writer starts what it appends with a From line.
 */
static int judge_tail(struct mbox *mbox, const struct mbox_dest *d,
		      char *buffer, enum tail_verdict *verdict,
		      struct yb_error *err)
{
	uint64_t size = mbox->lock.size;
	enum head_kind kind;
	size_t head_len = 0;
	int status = read_head(mbox, d, size, buffer, &kind, &head_len, err);
	if (status)
		return status;
	if (kind == HEAD_PARTIAL) {
		*verdict = TAIL_OURS;
		return YB_OK;
	}
	uint64_t scan_from = d->offset;
	if (kind == HEAD_LINE) {
		char hex[HASH_HEX + 1];
		hash_hex(buffer, head_len, "", 0, hex);
		if (strcmp(hex, d->head_hex) != 0) {
			*verdict = TAIL_FOREIGN;
			return YB_OK;
		}
		scan_from += head_len;
	}
	*verdict = TAIL_MIXED;
	if (size > d->end)
		return YB_OK;
	bool found;
	status = find_from_line(mbox, buffer, scan_from, size, &found, err);
	if (!status && !found)
		*verdict = TAIL_OURS;
	return status;
}

static int cut_back(struct mbox *mbox, const struct mbox_dest *d,
		    struct yb_error *err)
{
	if (ftruncate(mbox->lock.fd, (off_t)d->offset) != 0 ||
	    fsync(mbox->lock.fd) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot cut mbox %s back to %" PRIu64
				     " bytes", mbox->path, d->offset);
	log_info("mbox %s: removed an incomplete message at byte %" PRIu64
		 " left by an interrupted run", mbox->path, d->offset);
	return YB_OK;
}

static int refuse_mixed(const struct mbox *mbox, const struct mbox_dest *d,
			struct yb_error *err)
{
	return yb_fail(err, YB_ERR_IO,
		       "mbox %s: an interrupted run left a partial message at "
		       "byte %" PRIu64 ", and the file (%" PRIu64 " bytes) "
		       "holds mail after it that yubin did not write, so yubin "
		       "will not cut it; look at the file from byte %" PRIu64
		       " (tail -c +%" PRIu64 "), remove the partial message "
		       "there up to the next line starting with \"From \", "
		       "and run yubin again: it fetches the message again",
		       mbox->path, d->offset, mbox->lock.size, d->offset,
		       d->offset + 1);
}

/* Under the lock: present, absent, or absent after cutting a torn write. */
static int settle(struct mbox *mbox, const struct mbox_dest *d, bool survived,
		  bool same_batch_as_last, char *buffer, bool *present,
		  struct yb_error *err)
{
	uint64_t size = mbox->lock.size;
	*present = false;
	if (size >= d->offset + d->length) {
		int status = check_present(mbox, d, buffer, present, err);
		if (status || *present)
			return status;
	}
	if (size <= d->offset) {
		/* An earlier message of the batch ended the file here. */
		bool batch_cut = same_batch_as_last && size < d->offset;
		if (size < d->offset && !batch_cut)
			log_warn("mbox %s is shorter (%" PRIu64 " bytes) than when "
				 "a run was interrupted appending at byte %" PRIu64
				 ": another program rewrote it; the message is "
				 "fetched again, check for a duplicate",
				 mbox->path, size, d->offset);
		return YB_OK;
	}
	/* Our dotlock outlived us: nobody that honours it wrote since. */
	if (survived && size <= d->end)
		return cut_back(mbox, d, err);
	enum tail_verdict verdict;
	int status = judge_tail(mbox, d, buffer, &verdict, err);
	if (status)
		return status;
	if (verdict == TAIL_OURS)
		return cut_back(mbox, d, err);
	if (verdict == TAIL_MIXED)
		return refuse_mixed(mbox, d, err);
	log_warn("mbox %s: the message a run was appending at byte %" PRIu64
		 " when it was interrupted is not there (the file was changed "
		 "since); it is fetched again, check for a duplicate",
		 mbox->path, d->offset);
	return YB_OK;
}

/* Is PATH.lock still the one the crashed process d->pid made? */
static bool dotlock_survived(const struct mbox *mbox, const struct mbox_dest *d)
{
	pid_t pid;
	return read_dotlock_pid(mbox, &pid) && pid == d->pid && owner_gone(pid);
}

/* Under the lock: is the file as the last resolve of this batch left it? */
static bool unchanged_since_last(const struct mbox *mbox,
				 const struct mbox_dest *d)
{
	const struct resolve_memory *last = &mbox->resolved;
	struct stat st;
	return last->valid && last->batch_end == d->end && last->pid == d->pid &&
	       fstat(mbox->lock.fd, &st) == 0 && st.st_dev == last->dev &&
	       st.st_ino == last->ino && st.st_size == last->size &&
	       st.st_mtim.tv_sec == last->mtime.tv_sec &&
	       st.st_mtim.tv_nsec == last->mtime.tv_nsec;
}

static void remember_resolve(struct mbox *mbox, const struct mbox_dest *d,
			     bool survived)
{
	struct resolve_memory *last = &mbox->resolved;
	struct stat st;
	last->valid = fstat(mbox->lock.fd, &st) == 0;
	if (!last->valid)
		return;
	last->dev = st.st_dev;
	last->ino = st.st_ino;
	last->size = st.st_size;
	last->mtime = st.st_mtim;
	last->batch_end = d->end;
	last->pid = d->pid;
	last->survived = survived;
}

static int mbox_resolve(struct sink *sink, const char *dest, bool *present,
			struct yb_error *err)
{
	struct mbox *mbox = (struct mbox *)sink;
	struct mbox_dest d;
	*present = false;
	if (!dest || !parse_dest(dest, &d)) {
		char shown[128];
		text_sanitize(shown, sizeof(shown), dest ? dest : "",
			      dest ? strnlen(dest, 4096) : 0);
		return yb_fail(err, YB_ERR_INTERNAL,
			       "bad mbox intent \"%s\" for %s", shown, mbox->path);
	}
	if (mbox->lock.fd >= 0)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "resolve during a batch of mbox %s", mbox->path);
	char *buffer = malloc(IO_BUFFER_SIZE);
	if (!buffer)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	bool survived = dotlock_survived(mbox, &d);
	int status = lock_and_measure(mbox, err);
	if (!status) {
		bool same_batch = unchanged_since_last(mbox, &d);
		if (same_batch && mbox->resolved.survived)
			survived = true;
		status = settle(mbox, &d, survived, same_batch, buffer, present,
				err);
		if (!status)
			remember_resolve(mbox, &d, survived);
		else
			mbox->resolved.valid = false;
		release_lock(mbox);
	}
	free(buffer);
	return status;
}

/* ---- what the mbox holds (sink_digests) -------------------------------- */

/*
 * The file is read once, under the locks, in IO_BUFFER_SIZE slices; each
 * message (from its From line to the next unquoted one) is unquoted as
 * mboxrd says and hashed as it streams by, so memory grows with the
 * number of messages, not their size.  The blank line that ends every
 * message is not the message's; nor, maybe, the newline before it (added
 * to a message that lacked one): both digests are given, for one copy.
 */
enum scan_state {
	SCAN_LINE_START, /* nothing of this line yet */
	SCAN_GT_RUN,     /* '>'s: the first is held back */
	SCAN_FROM,       /* then `from_matched` bytes of "From " */
	SCAN_FROM_LINE,  /* a From line: not part of any message */
	SCAN_IN_LINE,    /* the rest of a line */
};

struct mbox_scan {
	struct mbox *mbox;
	EVP_MD_CTX *ctx;
	enum scan_state state;
	bool in_message;        /* a From line began the current message */
	bool held_gt;           /* the first '>' of a line, held back */
	size_t from_matched;
	uint64_t newlines;      /* '\n' not hashed yet */
	uint64_t line_offset;   /* where the current line starts */
	uint64_t msg_offset;    /* where the current message's From line starts */
	struct sink_digest *items;
	size_t count, cap;
};

static int scan_hash(struct mbox_scan *scan, const char *data, size_t len,
		     struct yb_error *err)
{
	if (!scan->in_message || len == 0)
		return YB_OK;
	if (EVP_DigestUpdate(scan->ctx, data, len) != 1)
		return yb_fail(err, YB_ERR_INTERNAL, "SHA-256 failed reading mbox %s",
			       scan->mbox->path);
	return YB_OK;
}

/* Hash n newlines, in slices of a fixed run. */
static int scan_hash_newlines(struct mbox_scan *scan, uint64_t n, struct yb_error *err)
{
	static const char run[64] = "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"
				    "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n";
	while (n > 0) {
		size_t slice = n < sizeof(run) ? (size_t)n : sizeof(run);
		int status = scan_hash(scan, run, slice, err);
		if (status)
			return status;
		n -= slice;
	}
	return YB_OK;
}

/* Bytes of a message other than '\n': the newlines held go first. */
static int scan_emit(struct mbox_scan *scan, const char *data, size_t len,
		     struct yb_error *err)
{
	if (len == 0)
		return YB_OK;
	int status = scan_hash_newlines(scan, scan->newlines, err);
	scan->newlines = 0;
	return status ? status : scan_hash(scan, data, len, err);
}

static int scan_add(struct mbox_scan *scan, EVP_MD_CTX *ctx, uint64_t end,
		    struct yb_error *err)
{
	if (scan->count == scan->cap) {
		size_t cap = scan->cap ? scan->cap * 2 : 64;
		struct sink_digest *grown = realloc(scan->items, cap * sizeof(*grown));
		if (!grown)
			return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		scan->items = grown;
		scan->cap = cap;
	}
	struct sink_digest *item = &scan->items[scan->count];
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(ctx, item->digest, &len) != 1 || len != sizeof(item->digest))
		return yb_fail(err, YB_ERR_INTERNAL, "SHA-256 failed reading mbox %s",
			       scan->mbox->path);
	/* "OFFSET+LENGTH": the copy's range in the file. */
	snprintf(item->dest, sizeof(item->dest), "%" PRIu64 "+%" PRIu64,
		 scan->msg_offset, end - scan->msg_offset);
	scan->count++;
	return YB_OK;
}

/* The message that ends at end: its digest, and the one without the
   newline the format may have added. */
static int scan_finish(struct mbox_scan *scan, uint64_t end, struct yb_error *err)
{
	if (!scan->in_message)
		return YB_OK;
	uint64_t kept = scan->newlines > 0 ? scan->newlines - 1 : 0;
	int status = scan_hash_newlines(scan, kept > 0 ? kept - 1 : 0, err);
	if (!status && kept > 0) {
		EVP_MD_CTX *without = EVP_MD_CTX_new();
		if (!without || EVP_MD_CTX_copy_ex(without, scan->ctx) != 1)
			status = yb_fail(err, YB_ERR_INTERNAL, "out of memory");
		if (!status)
			status = scan_add(scan, without, end, err);
		EVP_MD_CTX_free(without);
		if (!status)
			status = scan_hash_newlines(scan, 1, err);
	}
	if (!status)
		status = scan_add(scan, scan->ctx, end, err);
	scan->in_message = false;
	scan->newlines = 0;
	return status;
}

static int scan_start(struct mbox_scan *scan, struct yb_error *err)
{
	int status = scan_finish(scan, scan->line_offset, err);
	if (status)
		return status;
	if (EVP_DigestInit_ex(scan->ctx, EVP_sha256(), NULL) != 1)
		return yb_fail(err, YB_ERR_INTERNAL, "cannot start SHA-256");
	scan->in_message = true;
	scan->msg_offset = scan->line_offset;
	scan->state = SCAN_FROM_LINE;
	return YB_OK;
}

/* A '\n' of the message at offset: held, the next line starts after it. */
static void scan_newline(struct mbox_scan *scan, uint64_t offset)
{
	scan->newlines++;
	scan->line_offset = offset + 1;
	scan->state = SCAN_LINE_START;
}

/* What a line start held that turned out not to be a From line. */
static int scan_release(struct mbox_scan *scan, struct yb_error *err)
{
	int status = YB_OK;
	if (scan->held_gt)
		status = scan_emit(scan, ">", 1, err);
	scan->held_gt = false;
	if (!status && scan->state == SCAN_FROM)
		status = scan_emit(scan, from_prefix, scan->from_matched, err);
	scan->state = SCAN_IN_LINE;
	return status;
}

/* One byte at the start of a line (the states before SCAN_IN_LINE). */
static int scan_line_byte(struct mbox_scan *scan, char c, uint64_t offset,
			  struct yb_error *err)
{
	if (scan->state == SCAN_FROM && c == from_prefix[scan->from_matched]) {
		if (++scan->from_matched < FROM_PREFIX_LEN)
			return YB_OK;
		if (!scan->held_gt)
			return scan_start(scan, err);
		/* ">From " was a quoted "From ": one '>' less. */
		scan->held_gt = false;
		scan->state = SCAN_IN_LINE;
		return scan_emit(scan, from_prefix, FROM_PREFIX_LEN, err);
	}
	if (scan->state != SCAN_FROM && c == '>') {
		if (scan->held_gt)
			return scan_emit(scan, ">", 1, err);
		scan->held_gt = true;
		scan->state = SCAN_GT_RUN;
		return YB_OK;
	}
	if (scan->state != SCAN_FROM && c == 'F') {
		scan->state = SCAN_FROM;
		scan->from_matched = 1;
		return YB_OK;
	}
	int status = scan_release(scan, err);
	if (status)
		return status;
	if (c == '\n') {
		scan_newline(scan, offset);
		return YB_OK;
	}
	return scan_emit(scan, &c, 1, err);
}

/* A slice of the file that starts at offset. */
static int scan_feed(struct mbox_scan *scan, const char *data, size_t len,
		     uint64_t offset, struct yb_error *err)
{
	size_t i = 0;
	while (i < len) {
		if (scan->state == SCAN_IN_LINE || scan->state == SCAN_FROM_LINE) {
			const char *eol = memchr(data + i, '\n', len - i);
			size_t span = eol ? (size_t)(eol - (data + i)) : len - i;
			int status = scan->state == SCAN_IN_LINE ?
				     scan_emit(scan, data + i, span, err) : YB_OK;
			if (status)
				return status;
			i += span;
			if (eol) {
				bool ends_from_line = scan->state == SCAN_FROM_LINE;
				scan_newline(scan, offset + i++);
				if (ends_from_line)
					scan->newlines = 0; /* the From line's own */
			}
			continue;
		}
		int status = scan_line_byte(scan, data[i], offset + i, err);
		if (status)
			return status;
		i++;
	}
	return YB_OK;
}

static int scan_end(struct mbox_scan *scan, uint64_t size, struct yb_error *err)
{
	if (scan->state == SCAN_FROM_LINE) {
		scan->in_message = false; /* a From line cut short: no message */
		return YB_OK;
	}
	int status = YB_OK;
	if (scan->state == SCAN_GT_RUN || scan->state == SCAN_FROM)
		status = scan_release(scan, err);
	return status ? status : scan_finish(scan, size, err);
}

/* Under the locks: every message of the file, measured at lock.size. */
static int scan_locked(struct mbox *mbox, struct mbox_scan *scan, char *buffer,
		       struct yb_error *err)
{
	uint64_t size = mbox->lock.size;
	for (uint64_t at = 0; at < size;) {
		size_t chunk = size - at < IO_BUFFER_SIZE ? (size_t)(size - at) : IO_BUFFER_SIZE;
		int rc = fd_pread_all(mbox->lock.fd, buffer, chunk, at);
		if (rc)
			return yb_fail_errno(err, YB_ERR_IO, rc, "cannot read %s", mbox->path);
		int status = scan_feed(scan, buffer, chunk, at, err);
		if (status)
			return status;
		at += chunk;
	}
	return scan_end(scan, size, err);
}

/* The length of a dest's range, "OFFSET+LENGTH", before any details. */
static size_t range_len(const char *dest)
{
	const char *plus = strchr(dest, '+');
	const char *second = plus ? strchr(plus + 1, '+') : NULL;
	return second ? (size_t)(second - dest) : strlen(dest);
}

static int compare_ranges(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t x_len = range_len(x), y_len = range_len(y);
	int order = memcmp(x, y, x_len < y_len ? x_len : y_len);
	return order ? order : (x_len > y_len) - (x_len < y_len);
}

/*
 * The scan names a copy by its range, "OFFSET+LENGTH", but a delivered
 * message is recorded as "OFFSET+LENGTH+..." (its hashes, batch, pid):
 * name each copy as the state records it, so that a recorded message's
 * copy is known by its record's dest (and claimed for it).
 */
static int name_copies_as_recorded(struct sink_digest *items, size_t count,
				   const struct sink_recorded *recorded,
				   struct yb_error *err)
{
	if (!recorded || recorded->count == 0 || count == 0)
		return YB_OK;
	const char **sorted = malloc(recorded->count * sizeof(*sorted));
	if (!sorted)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	memcpy(sorted, recorded->dests, recorded->count * sizeof(*sorted));
	qsort(sorted, recorded->count, sizeof(*sorted), compare_ranges);
	for (size_t i = 0; i < count; i++) {
		const char *range = items[i].dest;
		const char **found = bsearch(&range, sorted, recorded->count,
					     sizeof(*sorted), compare_ranges);
		if (found && strlen(*found) < sizeof(items[i].dest))
			memcpy(items[i].dest, *found, strlen(*found) + 1);
	}
	free(sorted);
	return YB_OK;
}

static int mbox_digests(struct sink *sink, const struct sink_recorded *recorded,
			struct sink_digest **out, size_t *count, struct yb_error *err)
{
	struct mbox *mbox = (struct mbox *)sink;
	*out = NULL;
	*count = 0;
	if (mbox->lock.fd >= 0)
		return yb_fail(err, YB_ERR_INTERNAL,
			       "digests during a batch of mbox %s", mbox->path);
	struct mbox_scan scan = { .mbox = mbox, .state = SCAN_LINE_START };
	char *buffer = malloc(IO_BUFFER_SIZE);
	scan.ctx = EVP_MD_CTX_new();
	int status = buffer && scan.ctx ? YB_OK
					: yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	if (!status)
		status = lock_and_measure(mbox, err);
	if (!status) {
		status = scan_locked(mbox, &scan, buffer, err);
		release_lock(mbox);
	}
	free(buffer);
	EVP_MD_CTX_free(scan.ctx);
	if (!status)
		status = name_copies_as_recorded(scan.items, scan.count, recorded, err);
	if (status) {
		free(scan.items);
		return status;
	}
	*out = scan.items;
	*count = scan.count;
	return YB_OK;
}

/* ---- life of the sink --------------------------------------------------- */

/* The directory holding child, into parent (which holds strlen(child)+2). */
static void parent_of(const char *child, char *parent)
{
	const char *slash = strrchr(child, '/');
	if (!slash) {
		memcpy(parent, ".", 2);
		return;
	}
	while (slash > child && slash[-1] == '/')
		slash--;
	if (slash == child) {
		memcpy(parent, "/", 2);
		return;
	}
	size_t len = (size_t)(slash - child);
	memcpy(parent, child, len);
	parent[len] = '\0';
}

/*
 * Open the file, creating it if missing; it must be an mbox (or empty)
 * that check_file accepts.  *created: it is empty, so its directory entry
 * may be new and must be synced.
 */
static int create_or_check(struct mbox *mbox, bool *created,
			   struct yb_error *err)
{
	int fd;
	int rc = open_file(mbox, O_RDWR | O_CREAT, &fd);
	if (rc)
		return fail_open(mbox, rc, err);
	struct stat st;
	int status = check_file(mbox, fd, &st, err);
	if (!status)
		status = check_mbox_start(mbox->path, fd, (uint64_t)st.st_size,
					  err);
	*created = !status && st.st_size == 0;
	fd_close(&fd);
	return status;
}

/*
 * Open (creating) the directory of the mbox, where its dotlock and spool
 * live too: every later look at the file goes through it.  As root, only
 * a directory of root's.
 */
static int open_dir(struct mbox *mbox, struct yb_error *err)
{
	size_t fault_len;
	int rc = dir_open_path(mbox->dir_path, true, &mbox->dir_fd, &fault_len);
	if (rc)
		return dest_fail_path(err, "mbox", mbox->path, mbox->dir_path,
				      rc, fault_len);
	struct stat st;
	if (fstat(mbox->dir_fd, &st) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno, "cannot stat %s",
				     mbox->dir_path);
	int status = dest_check_owner(err, "the directory of mbox",
				      mbox->path, &st);
	if (status)
		return status;
	if (faccessat(mbox->dir_fd, ".", W_OK | X_OK, AT_EACCESS) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot use directory %s for the dotlock "
				     "and spool of mbox %s", mbox->dir_path,
				     mbox->path);
	return YB_OK;
}

static void free_mbox(struct mbox *mbox)
{
	sink_batch_drop(&mbox->batch, BATCH_ALL, drop_msg);
	release_lock(mbox);
	fd_close(&mbox->spool_fd);
	EVP_MD_CTX_free(mbox->hash);
	free(mbox->out);
	fd_close(&mbox->dir_fd);
	free(mbox->path);
	free(mbox->lock_path);
	free(mbox->dir_path);
	free(mbox->name);
	free(mbox->lock_name);
	free(mbox);
}

static void mbox_close(struct sink *sink)
{
	free_mbox((struct mbox *)sink);
}

static const struct sink_ops mbox_ops = {
	.msg_begin = mbox_msg_begin,
	.msg_write = mbox_msg_write,
	.msg_end = mbox_msg_end,
	.msg_abort = mbox_msg_abort,
	.prepare = mbox_prepare,
	.msg_dest = mbox_msg_dest,
	.publish = mbox_publish,
	.discard = mbox_discard,
	.resolve = mbox_resolve,
	.close = mbox_close,
	.digests = mbox_digests,
};

/* path + suffix, malloc'd. */
static char *concat(const char *path, const char *suffix)
{
	size_t len = strlen(path), suffix_len = strlen(suffix);
	char *joined = malloc(len + suffix_len + 1);
	if (joined) {
		memcpy(joined, path, len);
		memcpy(joined + len, suffix, suffix_len + 1);
	}
	return joined;
}

/* The names the sink works with: path as given, its directory, its name. */
static int set_paths(struct mbox *mbox, const char *path, struct yb_error *err)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	mbox->path = concat(path, "");
	mbox->lock_path = concat(path, ".lock");
	mbox->dir_path = malloc(strlen(path) + 2);
	mbox->name = concat(name, "");
	mbox->lock_name = concat(name, ".lock");
	if (!mbox->path || !mbox->lock_path || !mbox->dir_path ||
	    !mbox->name || !mbox->lock_name)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	parent_of(path, mbox->dir_path);
	return YB_OK;
}

static int setup(struct mbox *mbox, const char *path, struct yb_error *err)
{
	if (gethostname(mbox->host, sizeof(mbox->host)) != 0)
		return yb_fail_errno(err, YB_ERR_IO, errno,
				     "cannot get the host name for mbox %s",
				     path);
	mbox->host[sizeof(mbox->host) - 1] = '\0';
	bool created = false;
	int status = set_paths(mbox, path, err);
	if (!status)
		status = open_dir(mbox, err);
	if (!status)
		status = create_or_check(mbox, &created, err);
	if (!status && created && fsync(mbox->dir_fd) != 0)
		status = yb_fail_errno(err, YB_ERR_IO, errno,
				       "cannot sync directory %s",
				       mbox->dir_path);
	if (!status)
		status = open_spool(mbox, err);
	if (status)
		return status;
	mbox->out = malloc(IO_BUFFER_SIZE);
	mbox->hash = EVP_MD_CTX_new();
	if (!mbox->out || !mbox->hash)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	return YB_OK;
}

int mbox_open(const char *path, struct sink **out, struct yb_error *err)
{
	*out = NULL;
	if (!path || !*path)
		return yb_fail(err, YB_ERR_IO, "empty mbox path");
	if (path[strlen(path) - 1] == '/')
		return yb_fail(err, YB_ERR_IO,
			       "mbox %s ends in '/': it must name a file", path);
	struct mbox *mbox = calloc(1, sizeof(*mbox));
	if (!mbox)
		return yb_fail(err, YB_ERR_INTERNAL, "out of memory");
	mbox->base.ops = &mbox_ops;
	mbox->lock.fd = -1;
	mbox->spool_fd = -1;
	mbox->dir_fd = -1;
	mbox->lock_timeout_ms = MBOX_DEFAULT_LOCK_TIMEOUT_MS;
	int status = setup(mbox, path, err);
	if (status) {
		free_mbox(mbox);
		return status;
	}
	*out = &mbox->base;
	return YB_OK;
}

void mbox_set_lock_timeout(struct sink *sink, unsigned timeout_ms)
{
	if (sink && sink->ops == &mbox_ops)
		((struct mbox *)sink)->lock_timeout_ms = timeout_ms;
}
