/*
 * fs_sync.h - one sync of a whole filesystem in place of one per file.
 *
 * On ext4 every fsync of a file ends in a flush of the disk's write
 * cache, even when the journal commit it needed was made by the fsync
 * before it: a batch of 128 small messages costs 128 flushes.  syncfs(2)
 * writes back everything on the filesystem and flushes once.  It may
 * stand in for the fsyncs of a batch only when
 *
 *  - the kernel reports through it a failed writeback of any file on the
 *    filesystem since the descriptor was opened (Linux 5.8 and later;
 *    before, syncfs said 0 whatever was lost),
 *  - the filesystem is one whose sync is known to commit its journal and
 *    flush the cache (ext4, XFS, Btrfs, by the kernel's own name for it;
 *    not a network, FUSE or overlay filesystem, whose sync may not reach
 *    the disk or report what failed there), and
 *  - little else waits to be written, because syncfs writes all of it: a
 *    large copy elsewhere must not stall a fetch.  A caller also stops
 *    using it after one takes longer than FS_SYNC_SLOW_MS.
 *
 * Where any of that is unknown, the caller syncs file by file.
 */
#ifndef YUBIN_FS_SYNC_H
#define YUBIN_FS_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A syncfs this slow waited for others' writes: sync file by file. */
#define FS_SYNC_SLOW_MS 2000

/* Whether the filesystem holding dir_fd, on this kernel, qualifies. */
bool fs_sync_usable(int dir_fd);

/*
 * Whether the system has at most batch_bytes and a little more waiting
 * to be written (or being written): false when it cannot tell.
 */
bool fs_sync_cheap(uint64_t batch_bytes);

/* syncfs(fd), through EINTR: 0 or an errno value (ENOSYS without it). */
int fs_sync(int fd);

/* ---- the parts, for the tests ----------------------------------------- */

/* Whether a kernel release string ("6.1.0-13-amd64") is 5.8 or later. */
bool fs_sync_kernel_reports_errors(const char *release);

/*
 * The filesystem type named by one line of /proc/self/mountinfo (no
 * newline) if its device is major:minor: copied to type (NUL-ended) and
 * true; false if the line is another device's, malformed, or its type
 * does not fit in type_size.
 */
bool fs_sync_mount_type(const char *line, size_t len, unsigned major,
			unsigned minor, char *type, size_t type_size);

/* Whether a filesystem type name is one fs_sync trusts. */
bool fs_sync_trusted_type(const char *type);

/*
 * Dirty plus Writeback from the text of /proc/meminfo, in bytes: true,
 * or false when either line is missing or malformed.
 */
bool fs_sync_unwritten_bytes(const char *meminfo, size_t len,
			     uint64_t *bytes);

#endif
