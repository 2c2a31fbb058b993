/*
 * fileio.h - the file-descriptor loops the sinks, the state and main
 * share, the write buffer and spool files of the sinks, and the checks
 * the sinks make on where they deliver.  The loops return 0 or an errno
 * value; the dest_ checks a status (error.h).  Only the write buffers
 * allocate (buffer_take, write_buffer_start).
 */
#ifndef YUBIN_FILEIO_H
#define YUBIN_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "error.h"

/* Write all of data, through EINTR and short writes. */
int fd_write_all(int fd, const void *data, size_t len);

/* Write all of data at offset (pwrite), through EINTR and short writes. */
int fd_pwrite_all(int fd, const void *data, size_t len, uint64_t offset);

/* Read exactly len bytes at offset (pread); EIO if the file is shorter. */
int fd_pread_all(int fd, void *data, size_t len, uint64_t offset);

/* fsync (fdatasync) fd, through EINTR: 0 or an errno value. */
int fd_sync(int fd);
int fd_datasync(int fd);

/* "dir/name" (one slash between), malloc'd; NULL when out of memory. */
char *path_join(const char *dir, const char *name);

/* Close *fd if it is open and set it to -1; EINTR counts as closed. */
int fd_close(int *fd);

/* fsync a directory by path (a rename in it is durable only then). */
int fsync_dir_path(const char *path);

/*
 * Write buffers reused from one message to the next: a sink keeps one
 * spare (*spare, NULL at first).  buffer_take returns it, or a new
 * buffer of size bytes (NULL when out of memory); buffer_give keeps
 * buffer as the spare, or frees it if there is one already (NULL is
 * fine).  Free the spare itself when the sink goes.
 */
char *buffer_take(char **spare, size_t size);
void buffer_give(char **spare, char *buffer);

/*
 * A message's bytes on their way to a file: small writes gather in a
 * buffer of WRITE_BUFFER_SIZE bytes, a write that would not fit goes out
 * after what is buffered, and one of at least that size goes straight to
 * the file, so memory does not grow with a message.  The buffer is taken
 * from and given back to a sink's spare (buffer_take, buffer_give).
 */
#define WRITE_BUFFER_SIZE (64 * 1024)

struct write_buffer {
	char *bytes;     /* owned; NULL before start and after release */
	size_t used;     /* bytes waiting in it */
};

/* Take a buffer from *spare (or a new one): 0, or ENOMEM. */
int write_buffer_start(struct write_buffer *buffer, char **spare);

/* Give the buffer back to *spare (what waits in it is lost). */
void write_buffer_release(struct write_buffer *buffer, char **spare);

/* Add data on its way to fd: 0 or an errno value of the write. */
int write_buffer_put(struct write_buffer *buffer, int fd, const void *data,
		     size_t len);

/* Write what waits to fd: 0 or an errno value. */
int write_buffer_flush(struct write_buffer *buffer, int fd);

/*
 * A spool file: a new file for reading and writing (mode 0600) in the
 * directory dir_fd that no name reaches, so it cannot outlive the
 * process: O_TMPFILE where the file system has it, else a random name
 * made with O_EXCL | O_NOFOLLOW and unlinked at once.  0 and the
 * descriptor in *out, or an errno value.
 */
int spool_open_at(int dir_fd, int *out);

/* The same in the directory at dir_path (a link there is followed). */
int spool_open_in(const char *dir_path, int *out);

/*
 * Open the directory name in dir_fd, never following a symbolic link
 * (O_DIRECTORY | O_NOFOLLOW).  Returns the descriptor, or -1 with errno
 * set; a symbolic link gives ELOOP whatever the system says, anything
 * else that is not a directory ENOTDIR.
 */
int dir_open_at(int dir_fd, const char *name);

/*
 * mkdir name (mode 0700) in dir_fd and sync dir_fd, so the new entry
 * survives a crash; an entry already there is fine.  0 or an errno value.
 */
int dir_make_at(int dir_fd, const char *name);

/*
 * Open the directory at path (absolute, or relative to the working
 * directory), one component at a time, creating what is missing when
 * create (mode 0700, its parent synced so the entry survives a crash).
 * A symbolic link is followed only when it belongs to root or to the
 * effective user, as the kernel's protected_symlinks does in sticky
 * directories, so a link another user planted in the path is not (the
 * user's own link to where the mail really lives is followed).  Returns 0
 * and the descriptor in *out, or an errno value (ELOOP: a link not
 * followed, ENOTDIR: not a directory) with *fault_len the length of the
 * path up to the component at fault.
 */
int dir_open_path(const char *path, bool create, int *out, size_t *fault_len);

/*
 * The error for a failure (errnum, fault_len) of dir_open_path on walked,
 * for the destination path of a sink that what names ("Maildir", "mbox").
 * walked is path itself or its directory.  YB_ERR_IO.
 */
int dest_fail_path(struct yb_error *err, const char *what, const char *path,
		   const char *walked, int errnum, size_t fault_len);

/*
 * As root (effective uid 0), refuse a destination (a directory or file
 * at path, as fstat gave st) that belongs to another user: that user
 * could turn it into a way for root to write anywhere.  The message says
 * whose it is and how to run yubin as that user.  YB_OK, or YB_ERR_IO.
 */
int dest_check_owner(struct yb_error *err, const char *what, const char *path,
		     const struct stat *st);

#endif
