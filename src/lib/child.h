/*
 * child.h - running a command yubin does not trust to behave: the
 * password_cmd, client_secret_cmd and the MDA.
 *
 * A child gets its own process group, so a timeout stops everything it
 * started (a shell's children too); the default action for every signal
 * yubin may catch or ignore, and an empty signal mask, so it behaves as
 * it would from a shell; and no descriptor of yubin's beyond 0, 1 and 2.
 */
#ifndef YUBIN_CHILD_H
#define YUBIN_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct child_spec {
	const char *program;    /* a path; with search_path, a name in PATH */
	bool search_path;
	char *const *argv;
	char *const *envp;
	int stdin_fd;           /* its stdin; -1: /dev/null */
	int stdout_fd;          /* its stdout; -1: our stderr */
};

/*
 * Start spec.  Its stderr is ours (/dev/null when ours is closed, and so
 * is stdout_fd -1 then).  Returns 0 and sets *pid, or an errno value
 * (ENOENT, EACCES... for a command that cannot run).
 */
int child_start(const struct child_spec *spec, pid_t *pid);

/* Wait up to ms for pid to exit, without reaping it: true once it has
   (or when there is nothing to wait for). */
bool child_wait_exit(pid_t pid, uint64_t ms);

/*
 * Reap pid, through EINTR, and set *status to its wait status; false
 * (errno set) when there is none to be had: then nobody can say how it
 * ended, and the caller must not guess that it succeeded.
 */
bool child_reap(pid_t pid, int *status);

/*
 * Stop pid's whole process group: SIGTERM, up to grace_ms for the leader
 * to exit, then SIGKILL, and reap the leader.  It is reaped last, so the
 * group id cannot be reused meanwhile.
 */
void child_stop(pid_t pid, uint64_t grace_ms);

#endif
