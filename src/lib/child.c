/*
 * child.c - running a command in a process group of its own, with
 * posix_spawn (no code of ours runs between fork and exec).
 */
#include "config.h"

#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"

/* Polling a child's exit where there is no pidfd: from this, doubling. */
#define POLL_FIRST_MS 1
#define POLL_MAX_MS 50

/* Signals yubin may ignore or catch; the command gets their defaults. */
static const int defaulted_signals[] = {
	SIGPIPE, SIGXFSZ, SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGCHLD, SIGALRM,
	SIGUSR1, SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU,
};

static int set_attributes(posix_spawnattr_t *attr)
{
	sigset_t defaults, empty;
	sigemptyset(&defaults);
	sigemptyset(&empty);
	for (size_t i = 0; i < sizeof(defaulted_signals) / sizeof(int); i++)
		sigaddset(&defaults, defaulted_signals[i]);
	int rc = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
					  POSIX_SPAWN_SETSIGDEF |
					  POSIX_SPAWN_SETSIGMASK);
	if (!rc)
		rc = posix_spawnattr_setpgroup(attr, 0);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(attr, &defaults);
	if (!rc)
		rc = posix_spawnattr_setsigmask(attr, &empty);
	return rc;
}

/* fd onto target, or /dev/null (opened for flags) when fd is -1. */
static int put_fd(posix_spawn_file_actions_t *actions, int fd, int target,
		  int flags)
{
	if (fd < 0)
		return posix_spawn_file_actions_addopen(actions, target,
							"/dev/null", flags, 0);
	return posix_spawn_file_actions_adddup2(actions, fd, target);
}

static int set_file_actions(posix_spawn_file_actions_t *actions,
			    const struct child_spec *spec)
{
	bool have_stderr = fcntl(STDERR_FILENO, F_GETFD) >= 0;
	int out = spec->stdout_fd >= 0 ? spec->stdout_fd
				       : (have_stderr ? STDERR_FILENO : -1);
	int rc = put_fd(actions, spec->stdin_fd, STDIN_FILENO, O_RDONLY);
	if (!rc)
		rc = put_fd(actions, out, STDOUT_FILENO, O_WRONLY);
	if (!rc && !have_stderr)
		rc = put_fd(actions, -1, STDERR_FILENO, O_WRONLY);
#if defined(__GLIBC__) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	if (!rc)
		rc = posix_spawn_file_actions_addclosefrom_np(actions, 3);
#endif
	return rc;
}

int child_start(const struct child_spec *spec, pid_t *pid)
{
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	int rc = posix_spawn_file_actions_init(&actions);
	if (rc)
		return rc;
	rc = posix_spawnattr_init(&attr);
	if (rc) {
		posix_spawn_file_actions_destroy(&actions);
		return rc;
	}
	rc = set_attributes(&attr);
	if (!rc)
		rc = set_file_actions(&actions, spec);
	if (!rc && spec->search_path)
		rc = posix_spawnp(pid, spec->program, &actions, &attr,
				  spec->argv, spec->envp);
	else if (!rc)
		rc = posix_spawn(pid, spec->program, &actions, &attr,
				 spec->argv, spec->envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&actions);
	return rc;
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

static bool has_exited(pid_t pid)
{
	for (;;) {
		siginfo_t info;
		memset(&info, 0, sizeof(info));
		int rc = waitid(P_PID, (id_t)pid, &info,
				WEXITED | WNOHANG | WNOWAIT);
		if (rc == 0)
			return info.si_pid == pid;
		if (errno != EINTR)
			return true; /* nothing to wait for: it is gone */
	}
}

bool child_wait_exit(pid_t pid, uint64_t ms)
{
	int64_t deadline = clock_deadline_in_ms(ms, false);
	int pidfd = open_pidfd(pid);
	uint64_t pause = POLL_FIRST_MS;
	bool exited;
	while (!(exited = has_exited(pid)) && !clock_passed(deadline)) {
		if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
			poll(&pfd, 1, clock_poll_timeout(deadline, INT_MAX));
			continue;
		}
		uint64_t left = (uint64_t)clock_left_ms(deadline);
		clock_sleep_ms(left < pause ? left : pause);
		pause = pause * 2 > POLL_MAX_MS ? POLL_MAX_MS : pause * 2;
	}
	if (pidfd >= 0)
		close(pidfd);
	return exited;
}

bool child_reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return false;
	return true;
}

void child_stop(pid_t pid, uint64_t grace_ms)
{
	kill(-pid, SIGTERM);
	if (grace_ms > 0)
		child_wait_exit(pid, grace_ms);
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL); /* in case it left its group */
	int status;
	child_reap(pid, &status);
}
