/*
 * check_local.c - --check's local steps: the destination, the state
 * directory and its lock.  "Can be made" is judged by the nearest
 * directory that exists, so nothing is created.
 */
#include "config.h"

#include "check.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "clock.h"
#include "folder_path.h"
#include "state.h"
#include "text.h"

#define DETAIL_MAX 1024

const char *check_fs_name(unsigned long fs_type)
{
	static const struct { unsigned long type; const char *name; } names[] = {
		{ 0xEF53, "ext2/3/4" }, { 0x58465342, "xfs" },
		{ 0x9123683E, "btrfs" }, { 0x01021994, "tmpfs" },
		{ 0x6969, "nfs" }, { 0xFF534D42, "cifs" }, { 0xFE534D42, "smb2" },
		{ 0x794C7630, "overlayfs" }, { 0x2FC12FC1, "zfs" },
		{ 0x4D44, "vfat" }, { 0x5346544E, "ntfs" }, { 0x65735546, "fuse" },
		{ 0xF2F52010, "f2fs" }, { 0x858458F6, "ramfs" },
		{ 0x01021997, "9p" }, { 0x00C36400, "ceph" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].type == fs_type)
			return names[i].name;
	return NULL;
}

/* " on ext2/3/4", or the number of a type without a name. */
static void fs_of(const char *path, char *out, size_t size)
{
	struct statfs fs;
	out[0] = '\0';
	if (statfs(path, &fs) != 0)
		return;
	const char *name = check_fs_name((unsigned long)fs.f_type);
	if (name)
		snprintf(out, size, " on %s", name);
	else
		snprintf(out, size, " on a filesystem of type 0x%lx",
			 (unsigned long)fs.f_type);
}

/*
 * The nearest existing ancestor of path, into parent; true when found.
 * A file on the way (a regular file where a directory must be) is found
 * too: the caller tells it apart.
 */
static bool nearest_existing(const char *path, char *parent, size_t size)
{
	if (snprintf(parent, size, "%s", path) >= (int)size)
		return false;
	struct stat st;
	while (lstat(parent, &st) != 0) {
		char *slash = strrchr(parent, '/');
		if (!slash)
			snprintf(parent, size, ".");
		else if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (!slash || slash == parent)
			return lstat(parent, &st) == 0;
	}
	return true;
}

/*
 * Can yubin write path (a directory when dir, else a file), or make it?
 * YB_OK with detail saying which; else YB_ERR_IO with detail saying why.
 */
static int judge_path(const char *path, bool dir, char *detail, size_t size)
{
	char existing[PATH_MAX], fs[96];
	struct stat st;
	if (!nearest_existing(path, existing, sizeof(existing)) ||
	    stat(existing, &st) != 0) {
		(void)text_format(detail, size, "%s: no part of it can be reached", path);
		return YB_ERR_IO;
	}
	fs_of(existing, fs, sizeof(fs));
	bool is_path = strcmp(existing, path) == 0;
	bool want_dir = !is_path || dir;
	if (want_dir != S_ISDIR(st.st_mode)) {
		(void)text_format(detail, size, "%s is %s", existing,
			 want_dir ? "not a directory" : "a directory, not a file");
		return YB_ERR_IO;
	}
	if (access(existing, W_OK) != 0) {
		(void)text_format(detail, size, "%s is not writable: %s", existing,
			 strerror(errno));
		return YB_ERR_IO;
	}
	if (is_path)
		(void)text_format(detail, size, "%s exists, writable%s", path, fs);
	else
		(void)text_format(detail, size, "%s can be made (%s is writable%s)", path,
			 existing, fs);
	return YB_OK;
}

/* Is the program of an MDA command (its first word) found and executable? */
static int judge_mda(const char *command, char *detail, size_t size)
{
	char program[PATH_MAX];
	size_t len = strcspn(command, " \t");
	if (len == 0 || len >= sizeof(program)) {
		(void)text_format(detail, size, "mda: no program in \"%s\"", command);
		return YB_ERR_CONFIG;
	}
	memcpy(program, command, len);
	program[len] = '\0';
	if (strchr(program, '/')) {
		bool runs = access(program, X_OK) == 0;
		(void)text_format(detail, size, "%s: %s", program,
			 runs ? "executable" : strerror(errno));
		return runs ? YB_OK : YB_ERR_CONFIG;
	}
	const char *path = getenv("PATH");
	for (const char *dir = path ? path : ""; *dir; ) {
		size_t dir_len = strcspn(dir, ":");
		char candidate[PATH_MAX];
		if (snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)dir_len, dir,
			     program) < (int)sizeof(candidate) &&
		    access(candidate, X_OK) == 0) {
			(void)text_format(detail, size, "%s is %s, executable", program, candidate);
			return YB_OK;
		}
		dir += dir_len + (dir[dir_len] == ':');
	}
	(void)text_format(detail, size, "%s: not found in PATH", program);
	return YB_ERR_CONFIG;
}

static void tell(const struct account *account, check_step_fn fn, void *ctx,
		 const char *name, int rc, const char *detail, const char *hint,
		 int64_t started_ms)
{
	struct check_step step = { .name = name, .status = (enum yb_status)rc,
				   .mark = rc == YB_OK ? CHECK_OK : CHECK_FAIL,
				   .detail = detail, .hint = rc == YB_OK ? NULL : hint };
	check_tell(account, fn, ctx, &step, started_ms);
}

static int step_destination(const struct account *account, check_step_fn fn,
			    void *ctx)
{
	int64_t started = clock_now_ms();
	char detail[DETAIL_MAX];
	int rc;
	if (account->deliver == DELIVER_MDA)
		rc = judge_mda(account->deliver_target, detail, sizeof(detail));
	else
		rc = judge_path(account->deliver_target,
				account->deliver == DELIVER_MAILDIR ||
				!folder_path_single(account),
				detail, sizeof(detail));
	tell(account, fn, ctx, "destination", rc, detail,
	     "deliver (maildir, mbox or mda)", started);
	return rc;
}

/* The state directory, then the lock a run takes (read-only: nothing made). */
static int step_state(const struct account *account, check_step_fn fn, void *ctx)
{
	int64_t started = clock_now_ms();
	char detail[DETAIL_MAX], *dir = NULL;
	size_t size = strlen(account->state_dir) + strlen(account->name) + 2;
	dir = malloc(size);
	if (!dir)
		return YB_ERR_INTERNAL;
	snprintf(dir, size, "%s/%s", account->state_dir, account->name);
	int rc = judge_path(dir, true, detail, sizeof(detail));
	free(dir);
	tell(account, fn, ctx, "state_dir", rc, detail, "state_dir", started);
	if (rc != YB_OK)
		return rc;
	started = clock_now_ms();
	struct state *state = NULL;
	struct yb_error err;
	rc = state_open(account->state_dir, account->name, true, &state, &err);
	state_free(state);
	tell(account, fn, ctx, "lock", rc,
	     rc == YB_OK ? "free: no other yubin run holds this account" : err.msg,
	     rc == YB_ERR_TEMP ? "wait for the other run to end" : "state_dir",
	     started);
	return rc;
}

int check_local(const struct account *account, check_step_fn fn, void *ctx)
{
	int rc = step_destination(account, fn, ctx);
	if (rc == YB_OK)
		rc = step_state(account, fn, ctx);
	return rc;
}
